/* onion_gen SEED [COUNT]: prints COUNT valid v3 onion labels derived from SEED,
 * deterministic, for test maps. (Their keys are hashes, not ed25519 points, so
 * real Tor refuses them as invalid addresses: fine for a fake SOCKS server.) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "onion.h"
#include "sha3.h"

int main(int argc, char **argv)
{
	long count = argc > 2 ? atol(argv[2]) : 1;

	if (argc < 2) {
		fprintf(stderr, "usage: onion_gen SEED [COUNT]\n");
		return 2;
	}
	for (long i = 0; i < count; i++) {
		char in[256], label[OMX_ONION_LABEL_LEN + 1];
		uint8_t key[32];

		snprintf(in, sizeof(in), "%s/%ld", argv[1], i);
		omx_sha3_256(in, strlen(in), key);
		omx_onion_from_pubkey(key, label);
		printf("%s\n", label);
	}
	return 0;
}
