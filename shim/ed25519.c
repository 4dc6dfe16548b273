/* ed25519 public-key validation for onion addresses: the keys Tor accepts
 * (RFC 8032 5.1.3 decoding, then no torsion component: Tor multiplies by the
 * group order l and wants the identity). Here the subgroup test is done with
 * four field exponentiations instead of ~250 point doublings (see
 * omx_ed25519_key_check); the multiplication by l is kept as the reference
 * the tests compare against (omx_ed25519_key_check_by_order).
 *
 * Field elements mod p = 2^255 - 19 are five 51-bit limbs (donna's layout),
 * products in 128 bits. Points are extended twisted Edwards coordinates
 * (X:Y:Z:T), x = X/Z, y = Y/Z, xy = T/Z, on -x^2 + y^2 = 1 + d x^2 y^2, with
 * RFC 8032's complete formulas (5.1.4). Nothing here is secret (public keys):
 * variable time throughout. */
#include "ed25519.h"

#include <string.h>

#ifndef __SIZEOF_INT128__
#error "ed25519.c needs a compiler with unsigned __int128 (64-bit targets)"
#endif

typedef unsigned __int128 u128;
typedef uint64_t fe[5];

#define MASK51 ((UINT64_C(1) << 51) - 1)

static const fe fe_d = { 0x34dca135978a3, 0x1a8283b156ebd, 0x5e7a26001c029, 0x739c663a03cbb,
			 0x52036cee2b6ff };
static const fe fe_2d = { 0x69b9426b2f159, 0x35050762add7a, 0x3cf44c0038052, 0x6738cc7407977,
			  0x2406d9dc56dff };
static const fe fe_sqrtm1 = { 0x61b274a0ea0b0, 0xd5a5fc8f189d, 0x7ef5e9cbd0c60, 0x78595a6804c9e,
			      0x2b8324804fc1d };
/* For the subgroup test (omx_ed25519_key_check): sqrt(1 + d); sqrt(486664) and
 * sqrt(-486664) (486662 is the Montgomery form's A); sqrt(-i/d) and sqrt(i/d),
 * i = sqrt(-1). Computed with Python's pow; any of the two roots will do. */
static const fe fe_sqrt_1pd = { 0x5af1b54e05ec2, 0x4a70a80afc8bd, 0x6cc5c60682a3c, 0x77747fd932ef6,
				0x3f6b154250175 };
static const fe fe_v4 = { 0x248ef9c884415, 0xe509526c7d34, 0x7d29bbd8d6847, 0x157e10fd3bd6b,
			  0x6be4f497f9a9c };
static const fe fe_c = { 0x604aaff457e06, 0x2296fa350598d, 0x7f13dfb16874f, 0x35de93d846e01,
			 0xf26edf460a00 };
static const fe fe_sqrt_mi_d = { 0x75abf60aecffe, 0x45fd53926199e, 0x7045c1c2aa5c4, 0x1a1b551f5d93e,
				 0xd998df37290d };
static const fe fe_sqrt_i_d = { 0x2c7e4c56a2540, 0x40a2daf80bec7, 0x52aad890c33e4, 0x6acb2e1ad80ec,
				0xc4ba48a0ac8 };
/* l = 2^252 + 27742317777372353535851937790883648493, little-endian. */
static const uint8_t group_order[32] = {
	0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x10,
};
/* The base point's encoding: y = 4/5, x even. */
static const uint8_t base_point[32] = {
	0x58, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66,
	0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66,
};

struct point {
	fe X, Y, Z, T;
};

static void fe_set(fe h, uint64_t v)
{
	h[0] = v;
	h[1] = h[2] = h[3] = h[4] = 0;
}

/* Brings every limb below 2^51 (plus a little in limb 0); the value mod p is unchanged. */
static void fe_carry(fe h)
{
	for (int i = 0; i < 4; i++) {
		h[i + 1] += h[i] >> 51;
		h[i] &= MASK51;
	}
	h[0] += 19 * (h[4] >> 51);
	h[4] &= MASK51;
}

static void fe_add(fe h, const fe f, const fe g)
{
	for (int i = 0; i < 5; i++)
		h[i] = f[i] + g[i];
	fe_carry(h);
}

/* f - g + 4p, so that no limb goes negative (inputs carried: limbs < 2^52). */
static void fe_sub(fe h, const fe f, const fe g)
{
	h[0] = f[0] + 0x1fffffffffffb4 - g[0];
	for (int i = 1; i < 5; i++)
		h[i] = f[i] + 0x1ffffffffffffc - g[i];
	fe_carry(h);
}

static void fe_neg(fe h, const fe f)
{
	fe zero;

	fe_set(zero, 0);
	fe_sub(h, zero, f);
}

/* H = the 128-bit column sums R0..R4 carried down to 51-bit limbs (limb 0 may
 * exceed 2^51 by a little), the carry out of R4 folded in times 19. Scalars,
 * not arrays: everything stays in registers. */
#define FE_CARRY_OUT(h, r0, r1, r2, r3, r4) do { \
		uint64_t c_; \
		r1 += (uint64_t)(r0 >> 51); \
		r2 += (uint64_t)(r1 >> 51); \
		r3 += (uint64_t)(r2 >> 51); \
		r4 += (uint64_t)(r3 >> 51); \
		c_ = (uint64_t)(r4 >> 51); \
		h[0] = ((uint64_t)r0 & MASK51) + 19 * c_; \
		h[1] = ((uint64_t)r1 & MASK51) + (h[0] >> 51); \
		h[0] &= MASK51; \
		h[2] = (uint64_t)r2 & MASK51; \
		h[3] = (uint64_t)r3 & MASK51; \
		h[4] = (uint64_t)r4 & MASK51; \
	} while (0)

static void fe_mul(fe h, const fe f, const fe g)
{
	uint64_t f0 = f[0], f1 = f[1], f2 = f[2], f3 = f[3], f4 = f[4];
	uint64_t g0 = g[0], g1 = g[1], g2 = g[2], g3 = g[3], g4 = g[4];
	uint64_t g1_19 = 19 * g1, g2_19 = 19 * g2, g3_19 = 19 * g3, g4_19 = 19 * g4;
	u128 r0, r1, r2, r3, r4;

	r0 = (u128)f0 * g0 + (u128)f1 * g4_19 + (u128)f2 * g3_19 + (u128)f3 * g2_19 + (u128)f4 * g1_19;
	r1 = (u128)f0 * g1 + (u128)f1 * g0 + (u128)f2 * g4_19 + (u128)f3 * g3_19 + (u128)f4 * g2_19;
	r2 = (u128)f0 * g2 + (u128)f1 * g1 + (u128)f2 * g0 + (u128)f3 * g4_19 + (u128)f4 * g3_19;
	r3 = (u128)f0 * g3 + (u128)f1 * g2 + (u128)f2 * g1 + (u128)f3 * g0 + (u128)f4 * g4_19;
	r4 = (u128)f0 * g4 + (u128)f1 * g3 + (u128)f2 * g2 + (u128)f3 * g1 + (u128)f4 * g0;
	FE_CARRY_OUT(h, r0, r1, r2, r3, r4);
}

/* fe_mul(h, f, f) with the symmetric products computed once. */
static void fe_sq(fe h, const fe f)
{
	uint64_t f0 = f[0], f1 = f[1], f2 = f[2], f3 = f[3], f4 = f[4];
	uint64_t f0_2 = 2 * f0, f1_2 = 2 * f1, f1_38 = 38 * f1, f2_38 = 38 * f2;
	uint64_t f3_38 = 38 * f3, f3_19 = 19 * f3, f4_19 = 19 * f4;
	u128 r0, r1, r2, r3, r4;

	r0 = (u128)f0 * f0 + (u128)f1_38 * f4 + (u128)f2_38 * f3;
	r1 = (u128)f0_2 * f1 + (u128)f2_38 * f4 + (u128)f3_19 * f3;
	r2 = (u128)f0_2 * f2 + (u128)f1 * f1 + (u128)f3_38 * f4;
	r3 = (u128)f0_2 * f3 + (u128)f1_2 * f2 + (u128)f4_19 * f4;
	r4 = (u128)f0_2 * f4 + (u128)f1_2 * f3 + (u128)f2 * f2;
	FE_CARRY_OUT(h, r0, r1, r2, r3, r4);
}

/* H = F^(2^N). */
static void fe_sq_n(fe h, const fe f, int n)
{
	fe_sq(h, f);
	while (--n > 0)
		fe_sq(h, h);
}

/* The fully reduced value (0 <= h < p), limb by limb. */
static void fe_canonical(fe h, const fe f)
{
	uint64_t q;

	memcpy(h, f, sizeof(fe));
	/* Three passes leave every limb below 2^51: h < 2^255. */
	fe_carry(h);
	fe_carry(h);
	fe_carry(h);
	/* q = 1 exactly when h >= p: h + 19 then reaches 2^255. */
	q = (h[0] + 19) >> 51;
	for (int i = 1; i < 5; i++)
		q = (h[i] + q) >> 51;
	h[0] += 19 * q;
	for (int i = 0; i < 4; i++) {
		h[i + 1] += h[i] >> 51;
		h[i] &= MASK51;
	}
	h[4] &= MASK51;
}

static int fe_iszero(const fe f)
{
	fe c;

	fe_canonical(c, f);
	return (c[0] | c[1] | c[2] | c[3] | c[4]) == 0;
}

static int fe_equal(const fe f, const fe g)
{
	fe d;

	fe_sub(d, f, g);
	return fe_iszero(d);
}

static int fe_isodd(const fe f)
{
	fe c;

	fe_canonical(c, f);
	return (int)(c[0] & 1);
}

static void fe_frombytes(fe h, const uint8_t s[32])
{
	uint64_t w[4];

	for (int i = 0; i < 4; i++) {
		w[i] = 0;
		for (int b = 7; b >= 0; b--)
			w[i] = (w[i] << 8) | s[8 * i + b];
	}
	h[0] = w[0] & MASK51;
	h[1] = ((w[0] >> 51) | (w[1] << 13)) & MASK51;
	h[2] = ((w[1] >> 38) | (w[2] << 26)) & MASK51;
	h[3] = ((w[2] >> 25) | (w[3] << 39)) & MASK51;
	h[4] = (w[3] >> 12) & MASK51; /* the top bit (x's sign) dropped */
}

static void fe_tobytes(uint8_t s[32], const fe f)
{
	fe c;
	uint64_t w[4];

	fe_canonical(c, f);
	w[0] = c[0] | (c[1] << 51);
	w[1] = (c[1] >> 13) | (c[2] << 38);
	w[2] = (c[2] >> 26) | (c[3] << 25);
	w[3] = (c[3] >> 39) | (c[4] << 12);
	for (int i = 0; i < 4; i++)
		for (int b = 0; b < 8; b++)
			s[8 * i + b] = (uint8_t)(w[i] >> (8 * b));
}

/* z^(2^250 - 1) into T250 and z^11 into Z11: the common start of z^((p-5)/8)
 * and z^(p-2) (ref10's addition chain). */
static void fe_pow_2_250(fe t250, fe z11, const fe z)
{
	fe t0, t1, t2, z9;

	fe_sq(t0, z);           /* z^2 */
	fe_sq_n(t1, t0, 2);     /* z^8 */
	fe_mul(z9, z, t1);      /* z^9 */
	fe_mul(z11, t0, z9);    /* z^11 */
	fe_sq(t0, z11);         /* z^22 */
	fe_mul(t0, t0, z9);     /* z^(2^5 - 1) */
	fe_sq_n(t1, t0, 5);
	fe_mul(t0, t1, t0);     /* 2^10 - 1 */
	fe_sq_n(t1, t0, 10);
	fe_mul(t1, t1, t0);     /* 2^20 - 1 */
	fe_sq_n(t2, t1, 20);
	fe_mul(t1, t2, t1);     /* 2^40 - 1 */
	fe_sq_n(t1, t1, 10);
	fe_mul(t0, t1, t0);     /* 2^50 - 1 */
	fe_sq_n(t1, t0, 50);
	fe_mul(t1, t1, t0);     /* 2^100 - 1 */
	fe_sq_n(t2, t1, 100);
	fe_mul(t1, t2, t1);     /* 2^200 - 1 */
	fe_sq_n(t1, t1, 50);
	fe_mul(t250, t1, t0);   /* 2^250 - 1 */
}

/* z^((p-5)/8) = z^(2^252 - 3). */
static void fe_pow22523(fe h, const fe z)
{
	fe t, z11;

	fe_pow_2_250(t, z11, z);
	fe_sq_n(t, t, 2);
	fe_mul(h, t, z);
}

/* 1/z = z^(p-2) = z^(2^255 - 21). */
static void fe_invert(fe h, const fe z)
{
	fe t, z11;

	fe_pow_2_250(t, z11, z);
	fe_sq_n(t, t, 5);
	fe_mul(h, t, z11);
}

/* fe_pow22523 of two elements at once: H1 = Z1^((p-5)/8), H2 = Z2^((p-5)/8).
 * The two chains are independent, so the processor overlaps them: the
 * decoding's two square roots cost about 1.65 of one (2.5 and 4.2 us here). */
static void fe_pow22523_x2(fe h1, const fe z1, fe h2, const fe z2)
{
	fe a0, a1, a2, a9, b0, b1, b2, b9;

#define SQ_N(x, y, n) do { fe_sq(a##x, a##y); fe_sq(b##x, b##y); \
		for (int i_ = 1; i_ < (n); i_++) { fe_sq(a##x, a##x); fe_sq(b##x, b##x); } } while (0)
	fe_sq(a0, z1);
	fe_sq(b0, z2);                          /* z^2 */
	SQ_N(1, 0, 2);                          /* z^8 */
	fe_mul(a9, z1, a1);
	fe_mul(b9, z2, b1);                     /* z^9 */
	fe_mul(a0, a0, a9);
	fe_mul(b0, b0, b9);                     /* z^11 */
	fe_sq(a0, a0);
	fe_sq(b0, b0);                          /* z^22 */
	fe_mul(a0, a0, a9);
	fe_mul(b0, b0, b9);                     /* 2^5 - 1 */
	SQ_N(1, 0, 5);
	fe_mul(a0, a1, a0);
	fe_mul(b0, b1, b0);                     /* 2^10 - 1 */
	SQ_N(1, 0, 10);
	fe_mul(a1, a1, a0);
	fe_mul(b1, b1, b0);                     /* 2^20 - 1 */
	SQ_N(2, 1, 20);
	fe_mul(a1, a2, a1);
	fe_mul(b1, b2, b1);                     /* 2^40 - 1 */
	SQ_N(1, 1, 10);
	fe_mul(a0, a1, a0);
	fe_mul(b0, b1, b0);                     /* 2^50 - 1 */
	SQ_N(1, 0, 50);
	fe_mul(a1, a1, a0);
	fe_mul(b1, b1, b0);                     /* 2^100 - 1 */
	SQ_N(2, 1, 100);
	fe_mul(a1, a2, a1);
	fe_mul(b1, b2, b1);                     /* 2^200 - 1 */
	SQ_N(1, 1, 50);
	fe_mul(a1, a1, a0);
	fe_mul(b1, b1, b0);                     /* 2^250 - 1 */
	SQ_N(1, 1, 2);
	fe_mul(h1, a1, z1);
	fe_mul(h2, b1, z2);                     /* 2^252 - 3 */
#undef SQ_N
}

/* K with b R^2 = i^k a, i = sqrt(-1), for R = a b^3 (a b^7)^((p-5)/8): then
 * (a/b)^((p-1)/4) = i^k, the quartic character. For k = 0, R is a square root
 * of a/b; k = 2, i R is; k odd, a/b is not a square. B must not be 0; a = 0
 * gives k = 0 (R = 0). */
static int fe_sqrt_class(const fe r, const fe a, const fe b)
{
	fe check, t;

	fe_sq(check, r);
	fe_mul(check, check, b);
	if (fe_equal(check, a))
		return 0;
	fe_mul(t, a, fe_sqrtm1);
	if (fe_equal(check, t))
		return 1;
	fe_neg(t, a);
	if (fe_equal(check, t))
		return 2;
	return 3; /* check = -i a: nothing else is left for b != 0 */
}

/* R = a b^3 (a b^7)^((p-5)/8), returning fe_sqrt_class. */
static int fe_sqrt_ratio(fe r, const fe a, const fe b)
{
	fe b3, t;

	fe_sq(b3, b);
	fe_mul(b3, b3, b);
	fe_sq(t, b3);
	fe_mul(t, t, b);
	fe_mul(t, t, a);
	fe_pow22523(t, t);
	fe_mul(t, t, b3);
	fe_mul(r, t, a);
	return fe_sqrt_class(r, a, b);
}

/* fe_sqrt_ratio(r1, a1, 1) and fe_sqrt_ratio(r2, a2, 1) side by side. */
static void fe_sqrt_x2(fe r1, int *k1, const fe a1, fe r2, int *k2, const fe a2)
{
	fe one;

	fe_set(one, 1);
	fe_pow22523_x2(r1, a1, r2, a2);
	fe_mul(r1, r1, a1);
	fe_mul(r2, r2, a2);
	*k1 = fe_sqrt_class(r1, a1, one);
	*k2 = fe_sqrt_class(r2, a2, one);
}

/* Whether F is a nonzero fourth power: F^((p-1)/4) = 1, (p-1)/4 = 2 (p-5)/8 + 1. */
static int fe_is_fourth_power(const fe f)
{
	fe t, one;

	fe_pow22523(t, f);
	fe_sq(t, t);
	fe_mul(t, t, f);
	fe_set(one, 1);
	return fe_equal(t, one);
}

/* Whether y (the key's low 255 bits) is below p. y >= p: 2^255-19 .. 2^255-1,
 * i.e. 0xed..0xff, then all ones. */
static int canonical_y(const uint8_t s[32])
{
	int high = 1;

	for (int i = 1; i < 31; i++)
		high &= s[i] == 0xff;
	return !(high && s[0] >= 0xed && (s[31] & 0x7f) == 0x7f);
}

/* RFC 8032 5.1.3: x from y and the sign bit, if the point exists. */
static enum omx_ed25519_key point_decode(struct point *P, const uint8_t s[32])
{
	fe y2, u, v, v3, x, vx2, t;
	int sign = s[31] >> 7;

	if (!canonical_y(s))
		return OMX_ED25519_KEY_NOT_CANONICAL;

	fe_frombytes(P->Y, s);
	fe_set(P->Z, 1);
	fe_sq(y2, P->Y);
	fe_sub(u, y2, P->Z);         /* u = y^2 - 1 */
	fe_mul(v, y2, fe_d);
	fe_add(v, v, P->Z);          /* v = d y^2 + 1, never 0: d is not a square */

	/* x = u v^3 (u v^7)^((p-5)/8) */
	fe_sq(v3, v);
	fe_mul(v3, v3, v);
	fe_sq(t, v3);
	fe_mul(t, t, v);             /* v^7 */
	fe_mul(t, t, u);
	fe_pow22523(t, t);
	fe_mul(x, t, v3);
	fe_mul(x, x, u);

	fe_sq(vx2, x);
	fe_mul(vx2, vx2, v);
	if (!fe_equal(vx2, u)) {
		fe_neg(t, u);
		if (!fe_equal(vx2, t))
			return OMX_ED25519_KEY_NOT_ON_CURVE; /* u/v is not a square */
		fe_mul(x, x, fe_sqrtm1);
	}
	if (fe_iszero(x) && sign)
		return OMX_ED25519_KEY_NOT_ON_CURVE; /* -0: not an encoding RFC 8032 allows */
	if (fe_isodd(x) != sign)
		fe_neg(x, x);
	memcpy(P->X, x, sizeof(fe));
	fe_mul(P->T, x, P->Y);
	return OMX_ED25519_KEY_OK;
}

static void point_identity(struct point *P)
{
	fe_set(P->X, 0);
	fe_set(P->Y, 1);
	fe_set(P->Z, 1);
	fe_set(P->T, 0);
}

static int point_is_identity(const struct point *P)
{
	return fe_iszero(P->X) && fe_equal(P->Y, P->Z);
}

/* R = P + Q (RFC 8032 5.1.4; complete: P = Q and the identity are fine). */
static void point_add(struct point *R, const struct point *P, const struct point *Q)
{
	fe a, b, c, d, e, f, g, h, t;

	fe_sub(a, P->Y, P->X);
	fe_sub(t, Q->Y, Q->X);
	fe_mul(a, a, t);
	fe_add(b, P->Y, P->X);
	fe_add(t, Q->Y, Q->X);
	fe_mul(b, b, t);
	fe_mul(c, P->T, fe_2d);
	fe_mul(c, c, Q->T);
	fe_mul(d, P->Z, Q->Z);
	fe_add(d, d, d);
	fe_sub(e, b, a);
	fe_sub(f, d, c);
	fe_add(g, d, c);
	fe_add(h, b, a);
	fe_mul(R->X, e, f);
	fe_mul(R->Y, g, h);
	fe_mul(R->T, e, h);
	fe_mul(R->Z, f, g);
}

/* R = 2P (RFC 8032 5.1.4). T is computed only WITH_T: a doubling followed by
 * another doubling never reads it. */
static void point_double(struct point *R, const struct point *P, int with_t)
{
	fe a, b, c, e, f, g, h, t;

	fe_sq(a, P->X);
	fe_sq(b, P->Y);
	fe_sq(c, P->Z);
	fe_add(c, c, c);
	fe_add(h, a, b);
	fe_add(t, P->X, P->Y);
	fe_sq(t, t);
	fe_sub(e, h, t);
	fe_sub(g, a, b);
	fe_add(f, c, g);
	fe_mul(R->X, e, f);
	fe_mul(R->Y, g, h);
	if (with_t)
		fe_mul(R->T, e, h);
	fe_mul(R->Z, f, g);
}

static int scalar_bit(const uint8_t n[32], int bit)
{
	return (n[bit / 8] >> (bit % 8)) & 1;
}

/* R = [n]P, n 32 bytes little-endian: left to right with a sliding window of
 * up to 4 bits over the odd multiples P, 3P, ..., 15P (the doublings are
 * most of the cost; the window cuts the additions to about one per 5 bits). */
static void point_mult(struct point *R, const struct point *P, const uint8_t n[32])
{
	struct point odd[8], twice, acc;
	int bit = 255;

	odd[0] = *P;
	point_double(&twice, P, 1);
	for (int i = 1; i < 8; i++)
		point_add(&odd[i], &odd[i - 1], &twice);
	point_identity(&acc);
	while (bit >= 0 && !scalar_bit(n, bit))
		bit--;
	while (bit >= 0) {
		int low, value = 0;

		if (!scalar_bit(n, bit)) {
			point_double(&acc, &acc, 0);
			bit--;
			continue;
		}
		/* The longest window bit..low (at most 4 bits) ending in a 1. */
		low = bit - 3 < 0 ? 0 : bit - 3;
		while (!scalar_bit(n, low))
			low++;
		for (int i = bit; i >= low; i--) {
			value = (value << 1) | scalar_bit(n, i);
			point_double(&acc, &acc, i == low);
		}
		point_add(&acc, &acc, &odd[value >> 1]);
		bit = low - 1;
	}
	*R = acc;
}

enum omx_ed25519_key omx_ed25519_key_check_by_order(const uint8_t key[32])
{
	struct point P, lP;
	enum omx_ed25519_key st = point_decode(&P, key);

	if (st != OMX_ED25519_KEY_OK)
		return st;
	if (point_is_identity(&P))
		return OMX_ED25519_KEY_TORSION;
	point_mult(&lP, &P, group_order);
	return point_is_identity(&lP) ? OMX_ED25519_KEY_OK : OMX_ED25519_KEY_TORSION;
}

/* The same answer as omx_ed25519_key_check_by_order, from four exponentiations.
 * E(F_p) is cyclic of order 8l (it has points of order 8), so P lies in the
 * subgroup of order l exactly when P is in 8E: when P is in 2E and a half Q of P
 * (2Q = P; the two halves differ by (0,-1), which is in 4E) is in 4E.
 * 1. Decoding: x^2 = u/v, u = y^2 - 1, v = d y^2 + 1 (never 0: d is not a
 *    square). For x != 0, P is in 2E iff v is a square: on the Montgomery form
 *    (U = (1+y)/(1-y)), U modulo squares is a homomorphism with kernel 2E
 *    (2-descent, Silverman X.4.9, with the 2-isogeny whose kernel is (0,0), and
 *    E cyclic), and U ~ 1 - y^2 = -x^2 v, -1 being a square. So with a = sqrt(u)
 *    and b = sqrt(v) both attempted: P is a point iff both or neither exist, and
 *    in 2E iff both do.
 * 2. Halving: Q = (m/t, t) with t^2 = (b + k y)/(b + k), m = a/(b + k),
 *    k = sqrt(1 + d), doubles to (a/b, y), which is P or -P (the doubling
 *    formula solved for Q, for either root b; proved with sympy by
 *    tests/helpers/ed25519_model.py check). Of the two roots b, exactly one
 *    makes t^2 a square (Q rational): the two values of t^2 multiply to -1/d,
 *    not a square; -b gives m = a/(k - b).
 * 3. Q is in 4E iff f(Q) is a fourth power, f = (V - v4 U)^2 / U on the
 *    Montgomery form V^2 = U^3 + 486662 U^2 + U, v4 = sqrt(486664): div f =
 *    4(T4) - 4(O), T4 = (1, v4) of order 4, so f(Q)^((p-1)/4) is the reduced
 *    Tate pairing of T4 with Q, a homomorphism E/4E -> {1, i, -1, -i} that is
 *    injective because 4 divides p - 1 and E[4] = <T4> (Frey-Rück). With U =
 *    (1+t)/(1-t) and V = c U/x, c = sqrt(-486664), f(Q) is, up to a fourth power,
 *    (1+t)(1-t)^3 (c t den - v4 a)^2 a^2 with den = b + k (k - b for the other
 *    root; multiplied through by z^4 when t = T/z is a fraction).
 * The formulas divide by zero only for points of small order: x = 0 (the
 * identity, (0,-1)) and y = 0 (order 4) are refused first. tests/unit/
 * test_ed25519.c checks every torsion coset against the multiplication by l,
 * and tests/helpers/ed25519_model.py these steps in Python integers. */
enum omx_ed25519_key omx_ed25519_key_check(const uint8_t key[32])
{
	fe y, y2, u, v, a, b, n, den, t, z, w, f, one;
	int ka, kb, kt;

	if (!canonical_y(key))
		return OMX_ED25519_KEY_NOT_CANONICAL;
	fe_frombytes(y, key);
	fe_set(one, 1);
	fe_sq(y2, y);
	fe_sub(u, y2, one);
	fe_mul(v, y2, fe_d);
	fe_add(v, v, one);
	if (fe_iszero(u)) /* x = 0: the identity, (0,-1), or "-0" with the sign bit */
		return key[31] >> 7 ? OMX_ED25519_KEY_NOT_ON_CURVE : OMX_ED25519_KEY_TORSION;
	fe_sqrt_x2(a, &ka, u, b, &kb, v);
	if ((ka ^ kb) & 1)
		return OMX_ED25519_KEY_NOT_ON_CURVE; /* u/v is not a square */
	if (ka & 1 || fe_iszero(y))
		return OMX_ED25519_KEY_TORSION; /* not in 2E, or of order 4 */
	if (ka == 2)
		fe_mul(a, a, fe_sqrtm1);
	if (kb == 2)
		fe_mul(b, b, fe_sqrtm1);

	/* t^2 = n/den. If that is not a square, -b: its t^2 is -1/(d n/den), and
	 * with den R^2 = +-i n (k = 1 or 3) a root is sqrt(-+i/d) / R, kept as the
	 * fraction t/z. */
	fe_add(den, b, fe_sqrt_1pd);
	fe_mul(n, fe_sqrt_1pd, y);
	fe_add(n, n, b);
	kt = fe_sqrt_ratio(t, n, den);
	if (kt & 1) {
		memcpy(z, t, sizeof(fe));
		memcpy(t, kt == 1 ? fe_sqrt_mi_d : fe_sqrt_i_d, sizeof(fe));
		fe_sub(den, fe_sqrt_1pd, b);
	} else {
		if (kt == 2)
			fe_mul(t, t, fe_sqrtm1);
		fe_set(z, 1);
	}

	/* f = (z+t) (z-t)^3 (c t den - v4 a z)^2 a^2 z^2 */
	fe_add(f, z, t);
	fe_sub(w, z, t);
	fe_sq(n, w);
	fe_mul(n, n, w);
	fe_mul(f, f, n);
	fe_mul(w, t, den);
	fe_mul(w, w, fe_c);
	fe_mul(n, a, z);
	fe_mul(n, n, fe_v4);
	fe_sub(w, w, n);
	fe_mul(w, w, a);
	fe_mul(w, w, z);
	fe_sq(w, w);
	fe_mul(f, f, w);
	return fe_is_fourth_power(f) ? OMX_ED25519_KEY_OK : OMX_ED25519_KEY_TORSION;
}

void omx_ed25519_base_mult(const uint8_t scalar[32], uint8_t key[32])
{
	struct point B, R;
	fe zinv, x, y;

	point_decode(&B, base_point);
	point_mult(&R, &B, scalar);
	fe_invert(zinv, R.Z);
	fe_mul(x, R.X, zinv);
	fe_mul(y, R.Y, zinv);
	fe_tobytes(key, y);
	key[31] |= (uint8_t)(fe_isodd(x) << 7);
}
