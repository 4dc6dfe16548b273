/* onion_collide RANGE LABEL SEED: prints an onion label derived from SEED (as
 * onion_gen derives them) whose first synthetic address candidate in RANGE is
 * LABEL's and which onionmx-map sorts before LABEL: built afresh, such an onion
 * would take LABEL's address. Exit 1 if none among a million. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "ed25519.h"
#include "map.h"
#include "onion.h"
#include "sha3.h"


int main(int argc, char **argv)
{
	uint32_t net, mask, want;

	if (argc != 4 || omx_parse_range(argv[1], &net, &mask) != 0 ||
	    strlen(argv[2]) != OMX_ONION_LABEL_LEN) {
		fprintf(stderr, "usage: onion_collide RANGE LABEL SEED\n");
		return 2;
	}
	want = omx_addr_candidate(argv[2], net, mask, 0);
	for (long i = 0; i < 1000000; i++) {
		char in[256], label[OMX_ONION_LABEL_LEN + 1];
		uint8_t hash[32], key[32];

		snprintf(in, sizeof(in), "%s/%ld", argv[3], i);
		omx_sha3_256(in, strlen(in), hash);
		omx_ed25519_base_mult(hash, key);
		omx_onion_from_pubkey(key, label);
		if (omx_addr_candidate(label, net, mask, 0) == want &&
		    omx_map_onion_order(label) < omx_map_onion_order(argv[2])) {
			printf("%s\n", label);
			return 0;
		}
	}
	return 1;
}
