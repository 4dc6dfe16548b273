/* onion_gen [--not-a-point | --torsion | --off-curve] SEED [COUNT]: prints COUNT
 * v3 onion labels derived from SEED, deterministic, for test maps. Their keys
 * are [SHA3(SEED/i)]B, real ed25519 public keys that Tor accepts (and cannot
 * find: nobody holds the secret). The options give keys Tor refuses (0xF6),
 * their checksums right all the same: --not-a-point a hash that is not a key
 * Tor accepts, --torsion a curve point outside the prime-order subgroup,
 * --off-curve 32 bytes that are no curve point at all. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ed25519.h"
#include "onion.h"
#include "sha3.h"

/* Whether a hash key has the status MODE asks for. */
static int wanted(const char *mode, const uint8_t key[32])
{
	enum omx_ed25519_key st = omx_ed25519_key_check(key);

	if (strcmp(mode, "--torsion") == 0)
		return st == OMX_ED25519_KEY_TORSION;
	if (strcmp(mode, "--off-curve") == 0)
		return st == OMX_ED25519_KEY_NOT_ON_CURVE;
	return st != OMX_ED25519_KEY_OK;
}

int main(int argc, char **argv)
{
	const char *mode = argc > 1 && strncmp(argv[1], "--", 2) == 0 ? argv[1] : NULL;
	long count;

	if (mode && strcmp(mode, "--not-a-point") != 0 && strcmp(mode, "--torsion") != 0 &&
	    strcmp(mode, "--off-curve") != 0)
		argc = 0;
	argv += mode != NULL;
	argc -= mode != NULL;
	if (argc < 2) {
		fprintf(stderr, "usage: onion_gen [--not-a-point | --torsion | --off-curve] SEED [COUNT]\n");
		return 2;
	}
	count = argc > 2 ? atol(argv[2]) : 1;
	for (long i = 0; i < count; i++) {
		char in[256], label[OMX_ONION_LABEL_LEN + 1];
		uint8_t hash[32], key[32];

		snprintf(in, sizeof(in), "%s/%ld", argv[1], i);
		omx_sha3_256(in, strlen(in), hash);
		if (mode) {
			/* Half of all hashes are off the curve, 7 in 16 torsion points. */
			for (int n = 0; !wanted(mode, hash); n++) {
				snprintf(in, sizeof(in), "%s/%ld/%d", argv[1], i, n);
				omx_sha3_256(in, strlen(in), hash);
			}
			memcpy(key, hash, sizeof(key));
		} else {
			omx_ed25519_base_mult(hash, key);
		}
		omx_onion_from_pubkey(key, label);
		printf("%s\n", label);
	}
	return 0;
}
