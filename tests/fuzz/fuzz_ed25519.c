/* libFuzzer target: omx_ed25519_key_check, the fast subgroup test.
 *
 * Input: 32 bytes, a key as an onion carries it (shorter inputs are padded
 * with zeros, longer ones cut). With a 33rd byte whose low bit is set, the 32
 * bytes are a scalar s instead and the key is [s]B, always in the subgroup.
 * Checked, besides memory safety: the answer is one of the four statuses and
 * the same as the multiplication by the group order's (Tor's way), and every
 * [s]B passes but the identity (s a multiple of the group order). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ed25519.h"

#define CHECK(cond)                                                                   \
	do {                                                                          \
		if (!(cond)) {                                                        \
			fprintf(stderr, "fuzz_ed25519: check failed: %s (line %d)\n", #cond, \
				__LINE__);                                            \
			abort();                                                      \
		}                                                                     \
	} while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t key[32] = { 0 };
	enum omx_ed25519_key fast, slow;

	memcpy(key, data, size < 32 ? size : 32);
	if (size > 32 && data[32] & 1) {
		uint8_t scalar[32];

		memcpy(scalar, key, 32);
		omx_ed25519_base_mult(scalar, key);
	}
	fast = omx_ed25519_key_check(key);
	slow = omx_ed25519_key_check_by_order(key);
	CHECK(fast >= OMX_ED25519_KEY_OK && fast <= OMX_ED25519_KEY_TORSION);
	CHECK(fast == slow);
	if (size > 32 && data[32] & 1) {
		static const uint8_t identity[32] = { 1 };

		CHECK(fast == OMX_ED25519_KEY_OK || memcmp(key, identity, 32) == 0);
	}
	return 0;
}
