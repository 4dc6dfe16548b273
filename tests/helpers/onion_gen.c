/* onion_gen [--not-a-point] SEED [COUNT]: prints COUNT v3 onion labels derived
 * from SEED, deterministic, for test maps. Their keys are [SHA3(SEED/i)]B, real
 * ed25519 public keys that Tor accepts (and cannot find: nobody holds the
 * secret). With --not-a-point, keys that are hashes and not keys Tor accepts
 * (the checksum is right all the same): Tor answers 0xF6, onionmx-map refuses. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ed25519.h"
#include "onion.h"
#include "sha3.h"

int main(int argc, char **argv)
{
	int not_a_point = argc > 1 && strcmp(argv[1], "--not-a-point") == 0;
	long count;

	argv += not_a_point;
	argc -= not_a_point;
	if (argc < 2) {
		fprintf(stderr, "usage: onion_gen [--not-a-point] SEED [COUNT]\n");
		return 2;
	}
	count = argc > 2 ? atol(argv[2]) : 1;
	for (long i = 0; i < count; i++) {
		char in[256], label[OMX_ONION_LABEL_LEN + 1];
		uint8_t hash[32], key[32];

		snprintf(in, sizeof(in), "%s/%ld", argv[1], i);
		omx_sha3_256(in, strlen(in), hash);
		if (not_a_point) {
			/* About 15 in 16 hashes are not keys Tor accepts: take the first. */
			for (int n = 0; omx_ed25519_key_check(hash) == OMX_ED25519_KEY_OK; n++) {
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
