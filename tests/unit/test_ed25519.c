/* ed25519 key validation as Tor does it for onion addresses: published keys
 * and fresh openssl keys pass; the small-order points, every valid key plus
 * each of the eight torsion points, non-canonical y, -0 and keys with a byte
 * changed are refused for the right reason, in the proportions the curve's
 * structure predicts (half of all y have no x; of the points, 1 in 8 lies in
 * the prime-order subgroup); the fast subgroup test answers as the
 * multiplication by the group order (Tor's way) on thousands of keys. */
#include "ed25519.h"
#include "onion.h"
#include "sha3.h"
#include "tap.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

static void unhex(const char *hex, uint8_t out[32])
{
	for (int i = 0; i < 32; i++) {
		unsigned v;

		sscanf(hex + 2 * i, "%2x", &v);
		out[i] = (uint8_t)v;
	}
}

static enum omx_ed25519_key check_hex(const char *hex)
{
	uint8_t key[32];

	unhex(hex, key);
	return omx_ed25519_key_check(key);
}

/* RFC 8032 7.1 test vectors 1-3 and four keys made with
 * `openssl genpkey -algorithm ed25519` (public part, raw). */
static const char *const valid_keys[] = {
	"d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
	"3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c",
	"fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025",
	"dcaafaa5e76b9b0db83e7635076a9b52383221be53dadc6a512f26c3598558c5",
	"1ee96d49ddf69986c197d76ff1316b8e7d5ebe053081f65bd8567f55a4c51514",
	"c8b6535a0bf40f44ca0bbc2a5666972aa8ceb56ff5df12013517295dc5be21b2",
	"2d5f498db8e54921f5eac2c9178b1ab4eadbdbdcd74853c8ee9a3a79b74addf7",
};

/* Real onion addresses: the Tor Project's website, DuckDuckGo. */
static const char *const valid_onions[] = {
	"2gzyxa5ihm7nsggfxnu52rck2vv4rvmdlkiu3zzui5du4xyclen53wid",
	"duckduckgogg42xjoc72x3sjasowoarfbgcmvfimaftt6twagswzczad",
};

/* The eight points of small order (the 8-torsion), as libsodium's blocklist
 * lists them: each decodes, none is in the prime-order subgroup. */
static const char *const small_order[] = {
	"0100000000000000000000000000000000000000000000000000000000000000", /* identity */
	"ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f", /* order 2 */
	"0000000000000000000000000000000000000000000000000000000000000000", /* order 4 */
	"0000000000000000000000000000000000000000000000000000000000000080",
	"c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a", /* order 8 */
	"c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa",
	"26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05",
	"26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc85",
};

/* Four keys in the subgroup (RFC 8032 tests 1-2, [SHA3("coset/0")]B,
 * [SHA3("coset/1")]B), each plus T for every T of the 8-torsion, T = [k]T8,
 * T8 the order-8 point c7176a70...: P + [k]T8 for k = 0..7, one row per key.
 * Computed with Python's integers, independently of shim/ed25519.c
 * (tests/helpers/ed25519_model.py vectors: affine addition, [l](P+T) checked). Only k = 0 is in the subgroup; these are
 * the eight cosets the subgroup test must tell apart. */
static const char *const torsion_cosets[][8] = {
	{ "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
	  "9158312a9a8d6e3b34c891d6d61444f8b8211c5117ebad15bdb0bd68b07e0245",
	  "ad38a8f0b22ab7ca46ecee7bbef12b5f336c182652fac34392f859dbd9666a7d",
	  "3b5b475c4b82dd1572799fc546f4c6c03e478c6654aa4c7f945b347ea32af60d",
	  "16a567fe7d4ef5482ab4012c369bf8c5f11e8d0c2559dcda50fde59708f8aee5",
	  "5ca7ced5657291c4cb376e2929ebbb0747dee3aee81452ea424f42974f81fdba",
	  "40c7570f4dd54835b9131184410ed4a0cc93e7d9ad053cbc6d07a62426999582",
	  "b2a4b8a3b47d22ea8d86603ab90b393fc1b87399ab55b3806ba4cb815cd509f2" },
	{ "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c",
	  "0169d3c02f3edd121cafbe1dfd45c4cf4aac216a79e36e6326419f2a654d2d46",
	  "e16c0bbb8a9aed2119dd3057675579fca6a881f5b5ab6f09fad362f705ac11b3",
	  "2ad7189ff2c500908ea7f468279fccdfdcb78ae4164feed7c5535bdc99531ca6",
	  "b0bfe83c17bc76a56d48f558b2e481436367d330d13b69733f32aa0ed50b99f3",
	  "ec962c3fd0c122ede35041e202ba3b30b553de95861c919cd9be60d59ab2d2b9",
	  "0c93f444756512dee622cfa898aa860359577e0a4a5490f6052c9d08fa53ee4c",
	  "c328e7600d3aff6f71580b97d86033202348751be9b011283aaca42366ace359" },
	{ "287c1495605622e679deb4a6401385bf3ca8368f82468bd63845b0aef4ab7f59",
	  "8f7baa9f66024536b2ff517f3614aabadfec2f057afb50e0f8355d3308e54e98",
	  "5f3cffeab186b5b8d95454a7ce0096227a392be9e7d66c5bb816a63eec404a5d",
	  "715ac6463bf288de0585e0703c46d4de7b7abc717ca32b7251eec603408b2817",
	  "c583eb6a9fa9dd1986214b59bfec7a40c357c9707db97429c7ba4f510b5480a6",
	  "5e84556099fdbac94d00ae80c9eb55452013d0fa8504af1f07caa2ccf71ab167",
	  "8ec300154e794a4726abab5831ff69dd85c6d416182993a447e959c113bfb5a2",
	  "7ca539b9c40d7721fa7a1f8fc3b92b218485438e835cd48dae1139fcbf74d7e8" },
	{ "26976caea45f2bd882b3028bc5a5d4e20d1dd8940eca90cf51f3706a3e04493d",
	  "f3d3f9ee935b6549aac169a784e61d3f6d30f1876d2c625be7e2e4b634bd8522",
	  "b91379bfeff5e67f69b170c45cec86717f0a9ee3fd04fd0b83b32f89b81b05bc",
	  "b432f55eb3bd2046dcb6eb46219d7aca65b68b886e19d58fc26ef08ef359eb2c",
	  "c76893515ba0d4277d4cfd743a5a2b1df2e2276bf1356f30ae0c8f95c1fbb6c2",
	  "fa2b06116ca49ab6553e96587b19e2c092cf0e7892d39da4181d1b49cb427add",
	  "34ec8640100a1980964e8f3ba313798e80f5611c02fb02f47c4cd07647e4fa43",
	  "39cd0aa14c42dfb9234914b9de6285359a49747791e62a703d910f710ca614d3" },
};

static void test_torsion_cosets(void)
{
	int wrong = 0, wrong_ref = 0, wrong_neg = 0;

	for (size_t row = 0; row < sizeof(torsion_cosets) / sizeof(torsion_cosets[0]); row++)
		for (int k = 0; k < 8; k++) {
			uint8_t key[32];
			enum omx_ed25519_key want = k == 0 ? OMX_ED25519_KEY_OK : OMX_ED25519_KEY_TORSION;

			unhex(torsion_cosets[row][k], key);
			if (omx_ed25519_key_check(key) != want) {
				printf("# key %zu + [%d]T8: %d\n", row, k, omx_ed25519_key_check(key));
				wrong++;
			}
			wrong_ref += omx_ed25519_key_check_by_order(key) != want;
			/* The sign bit flipped: -(P + T) = -P + (-T), the same coset's mirror. */
			key[31] ^= 0x80;
			wrong_neg += omx_ed25519_key_check(key) != want;
		}
	is_int(wrong, 0, "each valid key + each of the 8 torsion points: only + identity accepted");
	is_int(wrong_neg, 0, "the same with the sign bit flipped (-P - T)");
	is_int(wrong_ref, 0, "the multiplication by l agrees on all 32");
}

/* The fast test against the multiplication by l on keys of every kind:
 * onion_gen's valid keys ([SHA3(seed/i)]B), and raw hashes as onion_gen
 * --not-a-point uses them (half not on the curve, of the points 7 in 8 with
 * a torsion component, spread over the 8 cosets), with either sign bit. */
static void test_against_order(void)
{
	enum { N_DERIVED = 500, N_HASHES = 3000 };
	int disagree = 0, count[4] = { 0 };

	for (int i = 0; i < N_DERIVED + N_HASHES; i++) {
		char in[64];
		uint8_t hash[32], key[32];
		enum omx_ed25519_key fast, slow;

		snprintf(in, sizeof(in), "order/%d", i);
		omx_sha3_256(in, strlen(in), hash);
		if (i < N_DERIVED)
			omx_ed25519_base_mult(hash, key);
		else
			memcpy(key, hash, sizeof(key));
		fast = omx_ed25519_key_check(key);
		slow = omx_ed25519_key_check_by_order(key);
		count[fast]++;
		if (fast != slow) {
			printf("# %s: fast %d, by order %d\n", in, fast, slow);
			disagree++;
		}
	}
	is_int(disagree, 0, "%d keys: the fast check answers as the multiplication by l "
	       "(%d valid, %d not on the curve, %d torsion)", N_DERIVED + N_HASHES,
	       count[OMX_ED25519_KEY_OK], count[OMX_ED25519_KEY_NOT_ON_CURVE], count[OMX_ED25519_KEY_TORSION]);
	ok(count[OMX_ED25519_KEY_OK] > N_DERIVED && count[OMX_ED25519_KEY_TORSION] > N_HASHES / 4 &&
	   count[OMX_ED25519_KEY_NOT_ON_CURVE] > N_HASHES / 4, "every outcome is exercised");
}

static void test_valid(void)
{
	for (size_t i = 0; i < sizeof(valid_keys) / sizeof(valid_keys[0]); i++)
		is_int(check_hex(valid_keys[i]), OMX_ED25519_KEY_OK, "valid key %.16s...",
		       valid_keys[i]);
	for (size_t i = 0; i < sizeof(valid_onions) / sizeof(valid_onions[0]); i++)
		is_int(omx_onion_check_key(valid_onions[i], 56), OMX_ONION_OK,
		       "real onion %.16s... has a key Tor accepts", valid_onions[i]);
}

static void test_small_order(void)
{
	for (size_t i = 0; i < sizeof(small_order) / sizeof(small_order[0]); i++)
		is_int(check_hex(small_order[i]), OMX_ED25519_KEY_TORSION,
		       "small-order point %.16s...%s refused as torsion", small_order[i],
		       small_order[i] + 62);
}

static void test_encodings(void)
{
	/* y = p, p + 1, 2^255 - 1: not canonical (y must be below p). */
	is_int(check_hex("edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f"),
	       OMX_ED25519_KEY_NOT_CANONICAL, "y = p");
	is_int(check_hex("eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff"),
	       OMX_ED25519_KEY_NOT_CANONICAL, "y = p + 1, sign set");
	is_int(check_hex("ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f"),
	       OMX_ED25519_KEY_NOT_CANONICAL, "y = 2^255 - 1");
	is_int(check_hex("eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f"),
	       OMX_ED25519_KEY_NOT_CANONICAL, "y = p + 1");
	/* A y of p..2^255-1 means y - p = 0..18 to a decoder that reduces it (Tor's
	 * donna and ref10 do), and only y = 1, the identity, is in the subgroup.
	 * Tor's ed25519_validate_pubkey compares the key's bytes with 01 00..00 for
	 * the identity, and its decoders take y >= p and x = 0 with the sign bit
	 * set (crypto_ed25519.c, donna's ge25519_unpack_negative_vartime): Tor
	 * 0.4.9 accepts three other encodings of the identity, eeff..7f, eeff..ff
	 * and 01 00..80 (0xF0, not 0xF6: tests/integ/tor.sh shows it). onionmx
	 * refuses them, as every other encoding of a small-order point: refusing
	 * defers the mail, and the identity's "secret" is 0. */
	{
		int accepted = 0;

		for (int sign = 0; sign < 2; sign++)
			for (int y = 0; y < 19; y++) {
				uint8_t key[32] = { 0 };

				key[0] = (uint8_t)y;
				key[31] = (uint8_t)(sign << 7);
				accepted += omx_ed25519_key_check(key) == OMX_ED25519_KEY_OK;
			}
		is_int(accepted, 0, "no y in 0..18 (either sign) is accepted");
	}
	/* y = 1 has x = 0 only: with the sign bit set it is "-0", no encoding. */
	is_int(check_hex("0100000000000000000000000000000000000000000000000000000000000080"),
	       OMX_ED25519_KEY_NOT_ON_CURVE, "x = 0 with the sign bit set");
	/* y = 2: (y^2 - 1)/(d y^2 + 1) is not a square (checked with Python's pow). */
	is_int(check_hex("0200000000000000000000000000000000000000000000000000000000000000"),
	       OMX_ED25519_KEY_NOT_ON_CURVE, "y = 2 is not on the curve");
	/* The sign bit of a valid key flipped: -P, also in the subgroup. */
	{
		uint8_t key[32];

		unhex(valid_keys[0], key);
		key[31] ^= 0x80;
		is_int(omx_ed25519_key_check(key), OMX_ED25519_KEY_OK, "-P of a valid key is valid");
	}
}

/* [s]B for RFC 8032 test 1's clamped secret scalar is its public key (the
 * scalar computed independently with Python's hashlib.sha512). */
static void test_base_mult(void)
{
	uint8_t scalar[32], key[32], want[32];
	int bad = 0;

	unhex("307c83864f2833cb427a2ef1c00a013cfdff2768d980c0a3a520f006904de94f", scalar);
	unhex(valid_keys[0], want);
	omx_ed25519_base_mult(scalar, key);
	ok(memcmp(key, want, 32) == 0, "[s]B gives RFC 8032 test 1's public key");
	for (int i = 0; i < 50; i++) {
		char seed[32];

		snprintf(seed, sizeof(seed), "base/%d", i);
		omx_sha3_256(seed, strlen(seed), scalar);
		omx_ed25519_base_mult(scalar, key);
		bad += omx_ed25519_key_check(key) != OMX_ED25519_KEY_OK;
	}
	is_int(bad, 0, "50 keys [hash]B all pass the check");
}

/* Keys with one byte changed, checksums recomputed (onion.c's encoder): the
 * checksum no longer catches them; the key check refuses ~15 in 16. */
static void test_changed_bytes(void)
{
	enum { N = 2000 };
	int count[4] = { 0 }, onion_ok = 0, onion_bad_key = 0;
	uint64_t x = 88172645463325252ull;
	struct timespec t0, t1;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (int i = 0; i < N; i++) {
		uint8_t key[32];
		char label[OMX_ONION_LABEL_LEN + 1];
		enum omx_ed25519_key st;
		int pos;
		uint8_t flip;

		unhex(valid_keys[i % 7], key);
		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		pos = (int)(x % 31); /* y's bytes; byte 31 carries the sign too */
		flip = (uint8_t)(x >> 32);
		key[pos] ^= flip ? flip : 1;
		st = omx_ed25519_key_check(key);
		count[st]++;
		omx_onion_from_pubkey(key, label);
		onion_ok += omx_onion_check(label, 56) == OMX_ONION_OK;
		onion_bad_key += omx_onion_check_key(label, 56) == OMX_ONION_BAD_KEY;
		if ((omx_onion_check_key(label, 56) == OMX_ONION_OK) != (st == OMX_ED25519_KEY_OK)) {
			printf("# %s: onion check and key check disagree\n", label);
			count[0] = -N;
		}
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	printf("# %d changed keys: %d valid, %d not on the curve, %d torsion; %.1f us per key (both checks)\n",
	       N, count[OMX_ED25519_KEY_OK], count[OMX_ED25519_KEY_NOT_ON_CURVE],
	       count[OMX_ED25519_KEY_TORSION],
	       ((double)(t1.tv_sec - t0.tv_sec) * 1e9 + (double)(t1.tv_nsec - t0.tv_nsec)) / 1e3 / N / 2);
	ok(count[OMX_ED25519_KEY_NOT_ON_CURVE] > N * 4 / 10 &&
	   count[OMX_ED25519_KEY_NOT_ON_CURVE] < N * 6 / 10,
	   "about half the changed keys are not points (%d of %d)",
	   count[OMX_ED25519_KEY_NOT_ON_CURVE], N);
	ok(count[OMX_ED25519_KEY_OK] >= 0 && count[OMX_ED25519_KEY_OK] < N / 8,
	   "about 1 in 16 is in the subgroup (%d of %d)", count[OMX_ED25519_KEY_OK], N);
	ok(count[OMX_ED25519_KEY_TORSION] > N * 3 / 10,
	   "about 7 in 16 are points with a torsion component (%d of %d)",
	   count[OMX_ED25519_KEY_TORSION], N);
	is_int(onion_ok, N, "every changed key's onion passes the checksum check");
	is_int(onion_bad_key, N - count[OMX_ED25519_KEY_OK],
	       "omx_onion_check_key refuses the rest as BAD_KEY");
}

/* Fixed invalid onions with right checksums. */
static void test_known_invalid(void)
{
	/* A one-character typo of the Tor Project's onion that keeps the checksum. */
	is_int(omx_onion_check("23zyxa5ihm7nsggfxnu52rck2vv4rvmdlkiu3zzui5du4xyclen53wid", 56),
	       OMX_ONION_OK, "typo 23zyxa5i... passes the checksum");
	is_int(omx_onion_check_key("23zyxa5ihm7nsggfxnu52rck2vv4rvmdlkiu3zzui5du4xyclen53wid", 56),
	       OMX_ONION_BAD_KEY, "typo 23zyxa5i... is refused: not a valid point");
	ok(strstr(omx_onion_strerror(OMX_ONION_BAD_KEY),
		  "not a valid ed25519 point: Tor would refuse it") != NULL,
	   "message: %s", omx_onion_strerror(OMX_ONION_BAD_KEY));
	/* Form errors keep their own status. */
	is_int(omx_onion_check_key("expyuzz4wqqyqhjn", 16), OMX_ONION_V2, "v2 stays V2");
	is_int(omx_onion_check_key("33zyxa5ihm7nsggfxnu52rck2vv4rvmdlkiu3zzui5du4xyclen53wid", 56),
	       OMX_ONION_BAD_CHECKSUM, "bad checksum stays BAD_CHECKSUM");
}

/* The memo answers for labels it saw valid, never for an invalid one, in
 * either case; a full memo still checks every label. */
static void test_memo(void)
{
	struct omx_onion_memo memo;
	char upper[57], label[OMX_ONION_LABEL_LEN + 1];
	int wrong = 0;

	ok(omx_onion_memo_init(&memo, 0) == 0 && memo.slots == 256, "memo: the smallest holds 256 labels");
	for (int round = 0; round < 2; round++) {
		is_int(omx_onion_check_key_memo(valid_onions[0], 56, &memo), OMX_ONION_OK,
		       "memo, round %d: a valid onion", round);
		is_int(omx_onion_check_key_memo("23zyxa5ihm7nsggfxnu52rck2vv4rvmdlkiu3zzui5du4xyclen53wid", 56,
						&memo), OMX_ONION_BAD_KEY, "memo, round %d: an invalid key", round);
	}
	for (int i = 0; i < 57; i++)
		upper[i] = (char)(valid_onions[0][i] >= 'a' && valid_onions[0][i] <= 'z' ?
				  valid_onions[0][i] - 32 : valid_onions[0][i]);
	is_int(omx_onion_check_key_memo(upper, 56, &memo), OMX_ONION_OK, "memo: upper case of a valid one");
	/* 600 keys, a sixth of them refused: more than the memo holds. */
	for (int i = 0; i < 600; i++) {
		uint8_t key[32], scalar[32] = { 0 };
		enum omx_onion_status want = OMX_ONION_OK;

		scalar[0] = (uint8_t)i;
		scalar[1] = (uint8_t)(i >> 8);
		scalar[2] = 1;
		omx_ed25519_base_mult(scalar, key);
		if (i % 6 == 0) {
			key[0] ^= 1;
			want = omx_ed25519_key_check(key) == OMX_ED25519_KEY_OK ? OMX_ONION_OK : OMX_ONION_BAD_KEY;
		}
		omx_onion_from_pubkey(key, label);
		for (int pass = 0; pass < 2; pass++)
			wrong += omx_onion_check_key_memo(label, 56, &memo) != want;
	}
	is_int(wrong, 0, "memo: 600 keys twice each, every answer as the full check's");
	omx_onion_memo_free(&memo);
	ok(omx_onion_memo_init(&memo, 10000) == 0 && memo.slots == 32768, "memo: sized for 10000 labels");
	omx_onion_memo_free(&memo);
	ok(omx_onion_memo_init(&memo, (size_t)1 << 30) == 0 && memo.slots == (size_t)1 << 20,
	   "memo: at most 2^20 slots");
	omx_onion_memo_free(&memo);
}

int main(void)
{
	test_memo();
	test_valid();
	test_small_order();
	test_torsion_cosets();
	test_against_order();
	test_encodings();
	test_base_mult();
	test_changed_bytes();
	test_known_invalid();
	return done_testing();
}
