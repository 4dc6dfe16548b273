/* SHA3-256 (FIPS 202): the Keccak-f[1600] sponge with a 1088-bit rate, a 512-bit
 * capacity and the SHA-3 domain padding 0x06 ... 0x80.
 *
 * The state is 25 64-bit lanes, lane (x, y) at index x + 5 * y. FIPS 202 maps
 * message bytes into lanes little-endian; we do that with shifts so the code does
 * not depend on the host's byte order. */
#include "sha3.h"

#include <string.h>

#define SHA3_256_RATE 136	/* bytes absorbed per permutation: (1600 - 2 * 256) / 8 */
#define SHA3_256_OUT 32
#define KECCAK_ROUNDS 24

/* Round constants for iota: RC[i] is built from bits rc(j + 7 * i) of the
 * degree-8 LFSR of FIPS 202 section 3.2.5, placed at bit positions 2^j - 1. */
static const uint64_t keccak_round_constants[KECCAK_ROUNDS] = {
	0x0000000000000001ULL, 0x0000000000008082ULL, 0x800000000000808aULL,
	0x8000000080008000ULL, 0x000000000000808bULL, 0x0000000080000001ULL,
	0x8000000080008081ULL, 0x8000000000008009ULL, 0x000000000000008aULL,
	0x0000000000000088ULL, 0x0000000080008009ULL, 0x000000008000000aULL,
	0x000000008000808bULL, 0x800000000000008bULL, 0x8000000000008089ULL,
	0x8000000000008003ULL, 0x8000000000008002ULL, 0x8000000000000080ULL,
	0x000000000000800aULL, 0x800000008000000aULL, 0x8000000080008081ULL,
	0x8000000000008080ULL, 0x0000000080000001ULL, 0x8000000080008008ULL,
};

/* Rotate left; N is 0..63 (the mask keeps N == 0 free of undefined shifts). */
static inline uint64_t rol64(uint64_t v, unsigned int n)
{
	return (v << n) | (v >> ((64 - n) & 63));
}

/* Reads 8 bytes as a little-endian lane, whatever the host byte order. */
static inline uint64_t load_lane_le(const uint8_t *p)
{
	return (uint64_t)p[0] | (uint64_t)p[1] << 8 | (uint64_t)p[2] << 16 |
	       (uint64_t)p[3] << 24 | (uint64_t)p[4] << 32 | (uint64_t)p[5] << 40 |
	       (uint64_t)p[6] << 48 | (uint64_t)p[7] << 56;
}

/* Writes a lane as 8 little-endian bytes. */
static inline void store_lane_le(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

/*
 * Keccak-f[1600]: 24 rounds of theta, rho, pi, chi and iota (FIPS 202 3.3).
 *
 * Lane (x, y) lives in the local aXY (or eXY: the rounds alternate between the
 * two sets), so the compiler can keep lanes in registers. Each output row is
 * made as soon as its five inputs are: rho and pi bring lane (X, Y), theta's
 * correction applied and rotated by its table 2 offset, to (Y, 2X + 3Y mod 5),
 * and chi combines the row at once. Fewer values are alive at a time than when
 * all 25 rotated lanes are made first, which spilled most of them (an onion's
 * checksum cost 6.9k instructions a permutation that way).
 */
#define KECCAK_CHI_ROW(E, y, b0, b1, b2, b3, b4)                                       \
	do {                                                                            \
		E##0##y = (b0) ^ (~(b1) & (b2));                                        \
		E##1##y = (b1) ^ (~(b2) & (b3));                                        \
		E##2##y = (b2) ^ (~(b3) & (b4));                                        \
		E##3##y = (b3) ^ (~(b4) & (b0));                                        \
		E##4##y = (b4) ^ (~(b0) & (b1));                                        \
	} while (0)

#define KECCAK_ROUND(A, E, rc)                                                          \
	do {                                                                            \
		uint64_t c0 = A##00 ^ A##01 ^ A##02 ^ A##03 ^ A##04;                    \
		uint64_t c1 = A##10 ^ A##11 ^ A##12 ^ A##13 ^ A##14;                    \
		uint64_t c2 = A##20 ^ A##21 ^ A##22 ^ A##23 ^ A##24;                    \
		uint64_t c3 = A##30 ^ A##31 ^ A##32 ^ A##33 ^ A##34;                    \
		uint64_t c4 = A##40 ^ A##41 ^ A##42 ^ A##43 ^ A##44;                    \
		uint64_t d0 = c4 ^ rol64(c1, 1), d1 = c0 ^ rol64(c2, 1);               \
		uint64_t d2 = c1 ^ rol64(c3, 1), d3 = c2 ^ rol64(c4, 1);               \
		uint64_t d4 = c3 ^ rol64(c0, 1);                                        \
		uint64_t b0, b1, b2, b3, b4;                                            \
                                                                                        \
		b0 = A##00 ^ d0;                                                        \
		b1 = rol64(A##11 ^ d1, 44);                                             \
		b2 = rol64(A##22 ^ d2, 43);                                             \
		b3 = rol64(A##33 ^ d3, 21);                                             \
		b4 = rol64(A##44 ^ d4, 14);                                             \
		KECCAK_CHI_ROW(E, 0, b0, b1, b2, b3, b4);                               \
		E##00 ^= (rc); /* iota */                                               \
		b0 = rol64(A##30 ^ d3, 28);                                             \
		b1 = rol64(A##41 ^ d4, 20);                                             \
		b2 = rol64(A##02 ^ d0, 3);                                              \
		b3 = rol64(A##13 ^ d1, 45);                                             \
		b4 = rol64(A##24 ^ d2, 61);                                             \
		KECCAK_CHI_ROW(E, 1, b0, b1, b2, b3, b4);                               \
		b0 = rol64(A##10 ^ d1, 1);                                              \
		b1 = rol64(A##21 ^ d2, 6);                                              \
		b2 = rol64(A##32 ^ d3, 25);                                             \
		b3 = rol64(A##43 ^ d4, 8);                                              \
		b4 = rol64(A##04 ^ d0, 18);                                             \
		KECCAK_CHI_ROW(E, 2, b0, b1, b2, b3, b4);                               \
		b0 = rol64(A##40 ^ d4, 27);                                             \
		b1 = rol64(A##01 ^ d0, 36);                                             \
		b2 = rol64(A##12 ^ d1, 10);                                             \
		b3 = rol64(A##23 ^ d2, 15);                                             \
		b4 = rol64(A##34 ^ d3, 56);                                             \
		KECCAK_CHI_ROW(E, 3, b0, b1, b2, b3, b4);                               \
		b0 = rol64(A##20 ^ d2, 62);                                             \
		b1 = rol64(A##31 ^ d3, 55);                                             \
		b2 = rol64(A##42 ^ d4, 39);                                             \
		b3 = rol64(A##03 ^ d0, 41);                                             \
		b4 = rol64(A##14 ^ d1, 2);                                              \
		KECCAK_CHI_ROW(E, 4, b0, b1, b2, b3, b4);                               \
	} while (0)

static void keccak_f1600(uint64_t state[25])
{
	uint64_t a00, a10, a20, a30, a40,
		 a01, a11, a21, a31, a41,
		 a02, a12, a22, a32, a42,
		 a03, a13, a23, a33, a43,
		 a04, a14, a24, a34, a44;
	uint64_t e00, e10, e20, e30, e40,
		 e01, e11, e21, e31, e41,
		 e02, e12, e22, e32, e42,
		 e03, e13, e23, e33, e43,
		 e04, e14, e24, e34, e44;

	a00 = state[0]; a10 = state[1]; a20 = state[2]; a30 = state[3]; a40 = state[4];
	a01 = state[5]; a11 = state[6]; a21 = state[7]; a31 = state[8]; a41 = state[9];
	a02 = state[10]; a12 = state[11]; a22 = state[12]; a32 = state[13]; a42 = state[14];
	a03 = state[15]; a13 = state[16]; a23 = state[17]; a33 = state[18]; a43 = state[19];
	a04 = state[20]; a14 = state[21]; a24 = state[22]; a34 = state[23]; a44 = state[24];

	for (int round = 0; round < KECCAK_ROUNDS; round += 2) {
		KECCAK_ROUND(a, e, keccak_round_constants[round]);
		KECCAK_ROUND(e, a, keccak_round_constants[round + 1]);
	}

	state[0] = a00; state[1] = a10; state[2] = a20; state[3] = a30; state[4] = a40;
	state[5] = a01; state[6] = a11; state[7] = a21; state[8] = a31; state[9] = a41;
	state[10] = a02; state[11] = a12; state[12] = a22; state[13] = a32; state[14] = a42;
	state[15] = a03; state[16] = a13; state[17] = a23; state[18] = a33; state[19] = a43;
	state[20] = a04; state[21] = a14; state[22] = a24; state[23] = a34; state[24] = a44;
}

/* Starts a new hash: the sponge state is all zero. */
void omx_sha3_256_init(struct omx_sha3 *ctx)
{
	memset(ctx->state, 0, sizeof(ctx->state));
	ctx->pos = 0;
}

/* Absorbs LEN bytes: whole lanes at a time when aligned to a lane boundary,
 * byte by byte otherwise; permutes each time a 136-byte block is full. */
void omx_sha3_256_update(struct omx_sha3 *ctx, const void *data, size_t len)
{
	const uint8_t *in = data;
	size_t pos = ctx->pos;

	/* Finish a partial lane byte by byte. */
	while (len > 0 && (pos & 7) != 0) {
		ctx->state[pos / 8] ^= (uint64_t)*in++ << (8 * (pos & 7));
		len--;
		if (++pos == SHA3_256_RATE) {
			keccak_f1600(ctx->state);
			pos = 0;
		}
	}

	/* Whole lanes. */
	while (len >= 8) {
		ctx->state[pos / 8] ^= load_lane_le(in);
		in += 8;
		len -= 8;
		pos += 8;
		if (pos == SHA3_256_RATE) {
			keccak_f1600(ctx->state);
			pos = 0;
		}
	}

	/* Tail, shorter than a lane. */
	while (len > 0) {
		ctx->state[pos / 8] ^= (uint64_t)*in++ << (8 * (pos & 7));
		len--;
		pos++;	/* cannot reach the rate: the rate is a multiple of 8 */
	}

	ctx->pos = pos;
}

/* Pads (0x06 after the message, 0x80 on the last byte of the block; both in one
 * byte if they coincide), permutes and squeezes 32 bytes. One output block is
 * plenty: 32 < 136. CTX must be re-initialized before it is used again. */
void omx_sha3_256_final(struct omx_sha3 *ctx, uint8_t out[32])
{
	size_t last = SHA3_256_RATE - 1;

	ctx->state[ctx->pos / 8] ^= (uint64_t)0x06 << (8 * (ctx->pos & 7));
	ctx->state[last / 8] ^= (uint64_t)0x80 << (8 * (last & 7));
	keccak_f1600(ctx->state);

	for (size_t i = 0; i < SHA3_256_OUT / 8; i++)
		store_lane_le(out + 8 * i, ctx->state[i]);
}

/* Hashes one buffer in one call. */
void omx_sha3_256(const void *data, size_t len, uint8_t out[32])
{
	struct omx_sha3 ctx;

	omx_sha3_256_init(&ctx);
	omx_sha3_256_update(&ctx, data, len);
	omx_sha3_256_final(&ctx, out);
}
