/* SHA3-256: the FIPS 202 / NIST example vectors, lengths around the 136-byte block
 * boundary (checked against an independent implementation, Python's hashlib), and
 * incremental hashing split at every offset agreeing with one-shot hashing. */
#include "sha3.h"
#include "tap.h"

#include <stdint.h>
#include <stdlib.h>

#define RATE 136

/* Formats a 32-byte digest as 64 lower-case hex characters. */
static const char *hex32(const uint8_t digest[32], char buf[65])
{
	static const char digits[] = "0123456789abcdef";

	for (int i = 0; i < 32; i++) {
		buf[2 * i] = digits[digest[i] >> 4];
		buf[2 * i + 1] = digits[digest[i] & 15];
	}
	buf[64] = '\0';
	return buf;
}

/* One-shot SHA3-256 of DATA, as hex. */
static const char *sha3_hex(const void *data, size_t len, char buf[65])
{
	uint8_t digest[32];

	omx_sha3_256(data, len, digest);
	return hex32(digest, buf);
}

/* Fills BUF with the byte pattern 0, 1, 2, ... (mod 256). */
static void fill_counting(uint8_t *buf, size_t len)
{
	for (size_t i = 0; i < len; i++)
		buf[i] = (uint8_t)i;
}

/* The standard short-message vectors. */
static void test_nist_vectors(void)
{
	char hex[65];
	const char *abc448 = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";

	is_str(sha3_hex("", 0, hex),
	       "a7ffc6f8bf1ed76651c14756a061d662f580ff4de43b49fa82d80a4b80f8434a",
	       "SHA3-256(\"\")");
	is_str(sha3_hex("abc", 3, hex),
	       "3a985da74fe225b2045c172d6bd390bd855f086e3e9d525b46bfe24511431532",
	       "SHA3-256(\"abc\")");
	is_str(sha3_hex(abc448, strlen(abc448), hex),
	       "41c0dba2a9d6240849100376a8235e2c82e1b9998a999e21db32dd97496d3376",
	       "SHA3-256 of the 448-bit message");
}

/* One million 'a', both in one call and fed in uneven pieces. */
static void test_million_a(void)
{
	const char *want = "5c8875ae474a3634ba4fd55ec85bffd661f32aca75c6d699d0cdcb6c115891c1";
	const size_t total = 1000000;
	char *buf = malloc(total);
	struct omx_sha3 ctx;
	uint8_t digest[32];
	char hex[65];
	size_t done, piece;

	if (!ok(buf != NULL, "allocate 1,000,000 bytes"))
		return;
	memset(buf, 'a', total);
	is_str(sha3_hex(buf, total, hex), want, "SHA3-256 of 1,000,000 'a', one call");

	/* Pieces of 1, 2, ..., 1000 bytes, then again, to hit every alignment. */
	omx_sha3_256_init(&ctx);
	for (done = 0, piece = 1; done < total; done += piece, piece = piece % 1000 + 1) {
		if (piece > total - done)
			piece = total - done;
		omx_sha3_256_update(&ctx, buf + done, piece);
	}
	omx_sha3_256_final(&ctx, digest);
	is_str(hex32(digest, hex), want, "SHA3-256 of 1,000,000 'a', in varying pieces");
	free(buf);
}

/* Messages 0, 1, 2, ... of lengths at and around lane and block boundaries, where
 * the padding bytes 0x06 and 0x80 fall in the same byte (135) or a new block
 * (136). Expected values from Python's hashlib.sha3_256. */
static void test_boundary_lengths(void)
{
	static const struct {
		size_t len;
		const char *hex;
	} cases[] = {
		{ 1, "5d53469f20fef4f8eab52b88044ede69c77a6a68a60728609fc4a65ff531e7d0" },
		{ 7, "59b1add388b7d625d2797894a4d88c7554a796a5a3d8ae232bf5f86bd72d5756" },
		{ 8, "eb4d0f2add0f6d0b26f0c65dbe71fe617cc6b43fb403649e82cc8bab41195f4e" },
		{ 9, "5257e34d7bb964f59ae4a46b3ba5921e04a550c2b1e04f268b297e358eab1362" },
		{ 48, "8e7a856365f79e42004aa1a47a3b83e8e6d0ebdbb602f62793e574139b9f2a17" },
		{ 71, "881ad9ffbd7f090efa51cbdfe93da23a0401f4446f7adf150d1c226851cbfff2" },
		{ 134, "644e15224f5597351aef5c4bdd22b27ca0c19db2244431534c2a4a0bebfdf39c" },
		{ 135, "fded8fd9d6551c601eeb3b7c6bc5e5cfd8aad1d015b7e9aaa9c9b9475231d5e2" },
		{ 136, "cf3ccff92480a29160c2d38317c430e14749bfee1788106957dfe73f8c4930e5" },
		{ 137, "ce9d7dc90913ee5d92745019479a5352c6d6279bef18ed07dc0a83ee8084daca" },
		{ 271, "d409bcbb54825556454a757a1f629135ba49c0467dcf6b4e0aa69e9718dd31e6" },
		{ 272, "0b21ec4a8eff6d179e09ba9fe0ab08515b24e0923fbf419f5c30a38e64577db5" },
		{ 273, "6e7f5de2677213044468ef21d3c8c57bb10cc5957e4f99d038db65ac3151e9c1" },
		{ 1000, "14e5de35911194ddad95ac1572e2b6ce054ed2146cd0562280fcab04ccfecbd8" },
	};
	uint8_t msg[1000];
	char hex[65];

	fill_counting(msg, sizeof(msg));
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		is_str(sha3_hex(msg, cases[i].len, hex), cases[i].hex,
		       "SHA3-256 of bytes 0..%zu (length %zu)", cases[i].len - 1, cases[i].len);
}

/*
 * For every message length from 0 to 3 blocks + 1, and for every split point,
 * update(first part) + update(rest) must give the one-shot digest; so must a
 * three-way split around the block boundary and byte-at-a-time feeding. One TAP
 * line per length keeps the output readable.
 */
static void test_incremental_splits(void)
{
	uint8_t msg[3 * RATE + 1];
	uint8_t want[32], got[32];
	struct omx_sha3 ctx;

	fill_counting(msg, sizeof(msg));
	for (size_t len = 0; len <= sizeof(msg); len++) {
		int mismatches = 0;

		omx_sha3_256(msg, len, want);

		for (size_t split = 0; split <= len; split++) {
			omx_sha3_256_init(&ctx);
			omx_sha3_256_update(&ctx, msg, split);
			omx_sha3_256_update(&ctx, msg + split, len - split);
			omx_sha3_256_final(&ctx, got);
			mismatches += memcmp(got, want, 32) != 0;
		}

		/* Three parts: [0, s1) [s1, s2) [s2, len) for s1, s2 near the boundary. */
		for (size_t s1 = RATE - 9; s1 <= RATE + 9 && s1 <= len; s1++) {
			for (size_t s2 = s1; s2 <= len && s2 <= s1 + 17; s2++) {
				omx_sha3_256_init(&ctx);
				omx_sha3_256_update(&ctx, msg, s1);
				omx_sha3_256_update(&ctx, msg + s1, s2 - s1);
				omx_sha3_256_update(&ctx, msg + s2, len - s2);
				omx_sha3_256_final(&ctx, got);
				mismatches += memcmp(got, want, 32) != 0;
			}
		}

		omx_sha3_256_init(&ctx);
		for (size_t i = 0; i < len; i++)
			omx_sha3_256_update(&ctx, msg + i, 1);
		omx_sha3_256_final(&ctx, got);
		mismatches += memcmp(got, want, 32) != 0;

		is_int(mismatches, 0, "length %zu: every split agrees with one-shot", len);
	}
}

/* Zero-length updates anywhere must not change the result. */
static void test_empty_updates(void)
{
	uint8_t msg[RATE + 5], want[32], got[32];
	struct omx_sha3 ctx;

	fill_counting(msg, sizeof(msg));
	omx_sha3_256(msg, sizeof(msg), want);
	omx_sha3_256_init(&ctx);
	omx_sha3_256_update(&ctx, NULL, 0);
	omx_sha3_256_update(&ctx, msg, 3);
	omx_sha3_256_update(&ctx, msg + 3, 0);
	omx_sha3_256_update(&ctx, msg + 3, RATE - 3);
	omx_sha3_256_update(&ctx, msg + RATE, 0);
	omx_sha3_256_update(&ctx, msg + RATE, 5);
	omx_sha3_256_final(&ctx, got);
	ok(memcmp(got, want, 32) == 0, "zero-length updates are no-ops");
}

int main(void)
{
	test_nist_vectors();
	test_million_a();
	test_boundary_lengths();
	test_incremental_splits();
	test_empty_updates();
	return done_testing();
}
