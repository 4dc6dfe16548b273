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
 * Lane (x, y) lives in the local aXY while we work, so the compiler can keep
 * lanes in registers instead of going through memory (about 1.5x faster than
 * indexing the state array). bXY holds the lanes after rho and pi.
 */
static void keccak_f1600(uint64_t state[25])
{
	uint64_t a00, a10, a20, a30, a40,
		 a01, a11, a21, a31, a41,
		 a02, a12, a22, a32, a42,
		 a03, a13, a23, a33, a43,
		 a04, a14, a24, a34, a44;
	uint64_t b00, b10, b20, b30, b40,
		 b01, b11, b21, b31, b41,
		 b02, b12, b22, b32, b42,
		 b03, b13, b23, b33, b43,
		 b04, b14, b24, b34, b44;
	uint64_t c0, c1, c2, c3, c4; /* column parities */
	uint64_t d0, d1, d2, d3, d4; /* theta's per-column correction */

	a00 = state[0]; a10 = state[1]; a20 = state[2]; a30 = state[3]; a40 = state[4];
	a01 = state[5]; a11 = state[6]; a21 = state[7]; a31 = state[8]; a41 = state[9];
	a02 = state[10]; a12 = state[11]; a22 = state[12]; a32 = state[13]; a42 = state[14];
	a03 = state[15]; a13 = state[16]; a23 = state[17]; a33 = state[18]; a43 = state[19];
	a04 = state[20]; a14 = state[21]; a24 = state[22]; a34 = state[23]; a44 = state[24];

	for (int round = 0; round < KECCAK_ROUNDS; round++) {
		/* theta: XOR each lane with the parities of the columns on either side. */
		c0 = a00 ^ a01 ^ a02 ^ a03 ^ a04;
		c1 = a10 ^ a11 ^ a12 ^ a13 ^ a14;
		c2 = a20 ^ a21 ^ a22 ^ a23 ^ a24;
		c3 = a30 ^ a31 ^ a32 ^ a33 ^ a34;
		c4 = a40 ^ a41 ^ a42 ^ a43 ^ a44;
		d0 = c4 ^ rol64(c1, 1);
		d1 = c0 ^ rol64(c2, 1);
		d2 = c1 ^ rol64(c3, 1);
		d3 = c2 ^ rol64(c4, 1);
		d4 = c3 ^ rol64(c0, 1);

		/* rho (rotate lane (x, y) by its table 2 offset) and pi (move it to
		 * (y, 2x + 3y mod 5)), with theta's correction applied on the way. */
		b00 = rol64(a00 ^ d0, 0);
		b02 = rol64(a10 ^ d1, 1);
		b04 = rol64(a20 ^ d2, 62);
		b01 = rol64(a30 ^ d3, 28);
		b03 = rol64(a40 ^ d4, 27);
		b13 = rol64(a01 ^ d0, 36);
		b10 = rol64(a11 ^ d1, 44);
		b12 = rol64(a21 ^ d2, 6);
		b14 = rol64(a31 ^ d3, 55);
		b11 = rol64(a41 ^ d4, 20);
		b21 = rol64(a02 ^ d0, 3);
		b23 = rol64(a12 ^ d1, 10);
		b20 = rol64(a22 ^ d2, 43);
		b22 = rol64(a32 ^ d3, 25);
		b24 = rol64(a42 ^ d4, 39);
		b34 = rol64(a03 ^ d0, 41);
		b31 = rol64(a13 ^ d1, 45);
		b33 = rol64(a23 ^ d2, 15);
		b30 = rol64(a33 ^ d3, 21);
		b32 = rol64(a43 ^ d4, 8);
		b42 = rol64(a04 ^ d0, 18);
		b44 = rol64(a14 ^ d1, 2);
		b41 = rol64(a24 ^ d2, 61);
		b43 = rol64(a34 ^ d3, 56);
		b40 = rol64(a44 ^ d4, 14);

		/* chi: the only non-linear step, along each row. */
		a00 = b00 ^ (~b10 & b20);
		a10 = b10 ^ (~b20 & b30);
		a20 = b20 ^ (~b30 & b40);
		a30 = b30 ^ (~b40 & b00);
		a40 = b40 ^ (~b00 & b10);
		a01 = b01 ^ (~b11 & b21);
		a11 = b11 ^ (~b21 & b31);
		a21 = b21 ^ (~b31 & b41);
		a31 = b31 ^ (~b41 & b01);
		a41 = b41 ^ (~b01 & b11);
		a02 = b02 ^ (~b12 & b22);
		a12 = b12 ^ (~b22 & b32);
		a22 = b22 ^ (~b32 & b42);
		a32 = b32 ^ (~b42 & b02);
		a42 = b42 ^ (~b02 & b12);
		a03 = b03 ^ (~b13 & b23);
		a13 = b13 ^ (~b23 & b33);
		a23 = b23 ^ (~b33 & b43);
		a33 = b33 ^ (~b43 & b03);
		a43 = b43 ^ (~b03 & b13);
		a04 = b04 ^ (~b14 & b24);
		a14 = b14 ^ (~b24 & b34);
		a24 = b24 ^ (~b34 & b44);
		a34 = b34 ^ (~b44 & b04);
		a44 = b44 ^ (~b04 & b14);

		/* iota: make the rounds differ. */
		a00 ^= keccak_round_constants[round];
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
