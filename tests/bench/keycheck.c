/* keycheck [N]: the cost of the ed25519 key check onionmx-map runs on every
 * distinct onion (shim/ed25519.c: four field exponentiations, the decoding's
 * two square roots, one more for a half of the point and a quartic character
 * for the subgroup test), of the reference it replaced (Tor's way: decoding,
 * then a multiplication by the group order), and of deriving a key ([k]B,
 * what onion_gen does per onion). Prints "check US derive US decode US
 * by_order US" per key: the median of 5 passes over N (default 2000) keys, CPU
 * time of this thread; "decode" is the check of 32 bytes that are no curve
 * point, which stops after the decoding's two exponentiations. */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "ed25519.h"
#include "sha3.h"

static double cpu_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static int by_value(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
	long n = argc > 1 ? atol(argv[1]) : 2000;
	uint8_t (*keys)[32] = malloc((size_t)(n > 0 ? n : 1) * 32);
	uint8_t (*off)[32] = malloc((size_t)(n > 0 ? n : 1) * 32);
	double check[5], by_order[5], decode[5], derive, t;
	volatile int bad = 0;

	if (!keys || !off || n <= 0)
		return 2;
	t = cpu_us();
	for (long i = 0; i < n; i++) {
		uint8_t scalar[32];

		omx_sha3_256(&i, sizeof(i), scalar);
		omx_ed25519_base_mult(scalar, keys[i]);
	}
	derive = (cpu_us() - t) / n;
	for (int pass = 0; pass < 5; pass++) {
		t = cpu_us();
		for (long i = 0; i < n; i++)
			bad += omx_ed25519_key_check(keys[i]) != OMX_ED25519_KEY_OK;
		check[pass] = (cpu_us() - t) / n;
	}
	for (int pass = 0; pass < 5; pass++) {
		t = cpu_us();
		for (long i = 0; i < n; i++)
			bad += omx_ed25519_key_check_by_order(keys[i]) != OMX_ED25519_KEY_OK;
		by_order[pass] = (cpu_us() - t) / n;
	}
	for (long i = 0, j = 0; i < n; j++) { /* about half of all hashes are off the curve */
		omx_sha3_256(&j, sizeof(j), off[i]);
		i += omx_ed25519_key_check(off[i]) == OMX_ED25519_KEY_NOT_ON_CURVE;
	}
	for (int pass = 0; pass < 5; pass++) {
		t = cpu_us();
		for (long i = 0; i < n; i++)
			bad += omx_ed25519_key_check(off[i]) != OMX_ED25519_KEY_NOT_ON_CURVE;
		decode[pass] = (cpu_us() - t) / n;
	}
	qsort(check, 5, sizeof(check[0]), by_value);
	qsort(by_order, 5, sizeof(by_order[0]), by_value);
	qsort(decode, 5, sizeof(decode[0]), by_value);
	printf("check %.1f derive %.1f decode %.1f by_order %.1f%s\n", check[2], derive, decode[2], by_order[2],
	       bad ? " (unexpected results!)" : "");
	free(keys);
	free(off);
	return bad != 0;
}
