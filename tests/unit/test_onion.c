/* Onion labels: real v3 addresses validate, generated ones round-trip, every
 * single-character typo is caught, and each kind of bad label gets its own
 * status. The test has its own base32 codec so it does not only check onion.c
 * against itself. */
#include "onion.h"
#include "sha3.h"
#include "tap.h"

#include <stdint.h>
#include <string.h>

/* The Tor Project's website. */
#define TORPROJECT_ONION "2gzyxa5ihm7nsggfxnu52rck2vv4rvmdlkiu3zzui5du4xyclen53wid"
/* DuckDuckGo. */
#define DUCKDUCKGO_ONION "duckduckgogg42xjoc72x3sjasowoarfbgcmvfimaftt6twagswzczad"

static const char b32[] = "abcdefghijklmnopqrstuvwxyz234567";

/* Test-side base32 encoder: 35 bytes -> 56 lower-case characters + NUL. */
static void encode35(const uint8_t raw[35], char out[57])
{
	for (int i = 0; i < 56; i++) {
		int v = 0;

		for (int b = 0; b < 5; b++) {
			int bit = i * 5 + b;

			v = (v << 1) | ((raw[bit / 8] >> (7 - bit % 8)) & 1);
		}
		out[i] = b32[v];
	}
	out[56] = '\0';
}

/* Test-side base32 decoder for 56 lower-case characters; -1 if one is not base32. */
static int decode56(const char *label, uint8_t raw[35])
{
	memset(raw, 0, 35);
	for (int i = 0; i < 56; i++) {
		const char *p = label[i] ? strchr(b32, label[i]) : NULL;

		if (!p)
			return -1;
		for (int b = 0; b < 5; b++) {
			int bit = i * 5 + b;

			if (((p - b32) >> (4 - b)) & 1)
				raw[bit / 8] |= (uint8_t)(0x80 >> (bit % 8));
		}
	}
	return 0;
}

/* Builds a label for PUBKEY with an arbitrary VERSION and the checksum the spec
 * would give it, independently of omx_onion_from_pubkey. */
static void make_label(const uint8_t pubkey[32], uint8_t version, char out[57])
{
	uint8_t raw[35], digest[32];
	uint8_t input[15 + 32 + 1];

	memcpy(input, ".onion checksum", 15);
	memcpy(input + 15, pubkey, 32);
	input[47] = version;
	omx_sha3_256(input, sizeof(input), digest);
	memcpy(raw, pubkey, 32);
	raw[32] = digest[0];
	raw[33] = digest[1];
	raw[34] = version;
	encode35(raw, out);
}

/* Fills a 32-byte key from a seed with xorshift64, for varied test keys. */
static void make_key(uint64_t seed, uint8_t key[32])
{
	uint64_t x = seed * 0x9e3779b97f4a7c15ULL + 1;

	for (int i = 0; i < 32; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		key[i] = (uint8_t)(x >> 24);
	}
}

/* Calls omx_onion_check on a NUL-terminated string. */
static enum omx_onion_status check(const char *label)
{
	return omx_onion_check(label, strlen(label));
}

/* Published v3 addresses validate, and rebuilding them from their key gives the
 * same text. */
static void test_real_addresses(void)
{
	static const char *const real[] = { TORPROJECT_ONION, DUCKDUCKGO_ONION };

	for (size_t i = 0; i < sizeof(real) / sizeof(real[0]); i++) {
		uint8_t raw[35];
		char rebuilt[OMX_ONION_LABEL_LEN + 1];

		is_int(strlen(real[i]), OMX_ONION_LABEL_LEN, "%s has 56 characters", real[i]);
		is_int(check(real[i]), OMX_ONION_OK, "%s is valid", real[i]);
		if (!ok(decode56(real[i], raw) == 0, "%s decodes", real[i]))
			continue;
		is_int(raw[34], 3, "%s has version byte 3", real[i]);
		omx_onion_from_pubkey(raw, rebuilt);
		is_str(rebuilt, real[i], "%s rebuilt from its public key", real[i]);
	}

	/* A circulating mis-copy of DuckDuckGo's address: 57 characters. */
	is_int(check("duckduckgogg42xjoibyb5jq4lxezvkaqotfvvc4aeeqvf3urbzjsa3qd"),
	       OMX_ONION_BAD_LENGTH, "57-character look-alike of DuckDuckGo's address");
}

/* omx_onion_from_pubkey output is accepted, lower case, and matches the
 * test's own encoding. */
static void test_round_trip(void)
{
	uint8_t key[32];
	char label[OMX_ONION_LABEL_LEN + 1], want[57];

	for (uint64_t seed = 0; seed < 8; seed++) {
		if (seed == 0)
			memset(key, 0, sizeof(key));
		else if (seed == 1)
			memset(key, 0xff, sizeof(key));
		else
			make_key(seed, key);
		memset(label, 'X', sizeof(label));
		omx_onion_from_pubkey(key, label);
		make_label(key, 3, want);
		is_str(label, want, "key %llu: label matches independent encoding",
		       (unsigned long long)seed);
		is_int(check(label), OMX_ONION_OK, "key %llu: label %s is valid",
		       (unsigned long long)seed, label);
	}
}

/*
 * A single-character typo the 16-bit checksum cannot catch: position 1 of the
 * Tor Project's label, 'g' -> '3', happens to keep the checksum (ddd9) right.
 * Expected: each label has 56 * 31 typos, so about 1 in 38 labels has one.
 * (Independently confirmed with Python's hashlib. Its key is not a valid
 * ed25519 point, which Tor itself also checks: omx_onion_check_key refuses it,
 * test_ed25519.c.)
 */
#define TORPROJECT_TYPO_COLLISION "23zyxa5ihm7nsggfxnu52rck2vv4rvmdlkiu3zzui5du4xyclen53wid"

/* Replacing any one character of a valid label by any other base32 character
 * gives BAD_CHECKSUM (except the one known collision above); by a non-base32
 * character, BAD_CHAR. */
static void test_single_char_typos(void)
{
	static const char *const labels[] = { TORPROJECT_ONION, DUCKDUCKGO_ONION };

	for (size_t l = 0; l < sizeof(labels) / sizeof(labels[0]); l++) {
		int wrong = 0, tried = 0, collisions = 0;
		char typo[57];

		for (int pos = 0; pos < 56; pos++) {
			for (int c = 0; c < 32; c++) {
				enum omx_onion_status st;

				if (b32[c] == labels[l][pos])
					continue;
				memcpy(typo, labels[l], sizeof(typo));
				typo[pos] = b32[c];
				st = check(typo);
				tried++;
				if (st == OMX_ONION_OK &&
				    strcmp(typo, TORPROJECT_TYPO_COLLISION) == 0) {
					collisions++;
				} else if (st != OMX_ONION_BAD_CHECKSUM) {
					wrong++;
					printf("# %s -> %s\n", typo, omx_onion_strerror(st));
				}
			}
			memcpy(typo, labels[l], sizeof(typo));
			typo[pos] = '1';
			tried++;
			if (check(typo) != OMX_ONION_BAD_CHAR) {
				wrong++;
				printf("# %s not BAD_CHAR\n", typo);
			}
		}
		is_int(wrong, 0, "%d single-character typos of %.8s... rejected (%d known collision)",
		       tried, labels[l], collisions);
	}
	is_int(check(TORPROJECT_TYPO_COLLISION), OMX_ONION_OK,
	       "known checksum collision %.8s... is accepted (2-byte checksum limit)",
	       TORPROJECT_TYPO_COLLISION);
}

/* A correct checksum over version byte 4 is still refused, as BAD_VERSION; and
 * version 3 built the same way is accepted (so the builder is right). */
static void test_version(void)
{
	uint8_t key[32];
	char label[57];

	make_key(42, key);
	make_label(key, 3, label);
	is_int(check(label), OMX_ONION_OK, "version 3 built by the test is valid");
	make_label(key, 4, label);
	is_int(check(label), OMX_ONION_BAD_VERSION, "version 4 with matching checksum: %s", label);
	make_label(key, 0, label);
	is_int(check(label), OMX_ONION_BAD_VERSION, "version 0 with matching checksum");
	make_label(key, 0xff, label);
	is_int(check(label), OMX_ONION_BAD_VERSION, "version 255 with matching checksum");
	memcpy(label, TORPROJECT_ONION, 57);
	label[55] = 'e'; /* low bits of the version byte: 3 -> 4, checksum now wrong */
	is_int(check(label), OMX_ONION_BAD_CHECKSUM, "version 4 with the v3 checksum");
}

/* Lengths other than 56: 16 is v2, everything else BAD_LENGTH. */
static void test_lengths(void)
{
	char buf[101];

	is_int(check("expyuzz4wqqyqhjn"), OMX_ONION_V2, "16-character v2 label");
	is_int(check("EXPYUZZ4WQQYQHJN"), OMX_ONION_V2, "16-character v2 label, upper case");
	is_int(check("expyuzz4-qqyqhjn"), OMX_ONION_BAD_CHAR, "16 characters, not base32");
	ok(strstr(omx_onion_strerror(OMX_ONION_V2), "0.4.6") != NULL,
	   "v2 message mentions Tor 0.4.6: %s", omx_onion_strerror(OMX_ONION_V2));

	is_int(omx_onion_check(TORPROJECT_ONION, 55), OMX_ONION_BAD_LENGTH, "55 characters");
	memcpy(buf, TORPROJECT_ONION, 56);
	buf[56] = 'a';
	is_int(omx_onion_check(buf, 57), OMX_ONION_BAD_LENGTH, "57 characters");
	is_int(omx_onion_check("", 0), OMX_ONION_BAD_LENGTH, "empty label");
	is_int(check("a"), OMX_ONION_BAD_LENGTH, "1 character");
	is_int(check("expyuzz4wqqyqhj"), OMX_ONION_BAD_LENGTH, "15 characters");
	is_int(check("expyuzz4wqqyqhjna"), OMX_ONION_BAD_LENGTH, "17 characters");
	memset(buf, 'a', 100);
	buf[100] = '\0';
	is_int(check(buf), OMX_ONION_BAD_LENGTH, "100 characters");
	/* LEN is what counts, not the NUL. */
	is_int(omx_onion_check(TORPROJECT_ONION ".onion", 56), OMX_ONION_OK,
	       "only LEN characters are read");
}

/* Characters outside a-z, A-Z, 2-7 are BAD_CHAR wherever they are. */
static void test_bad_chars(void)
{
	static const char bad[] = { '1', '8', '0', '9', '-', '=', '.', '_', ' ', '@',
				    '[', '`', '{', '\x12', '\x7f', '\0' };
	static const unsigned char high[] = { 0x80, 0xc3, 0xe1, 0xff };
	char label[57];

	for (size_t i = 0; i < sizeof(bad); i++) {
		for (int pos = 0; pos < 56; pos += 55) {
			memcpy(label, TORPROJECT_ONION, 57);
			label[pos] = bad[i];
			is_int(omx_onion_check(label, 56), OMX_ONION_BAD_CHAR,
			       "byte 0x%02x at position %d", (unsigned char)bad[i], pos);
		}
	}
	for (size_t i = 0; i < sizeof(high); i++) {
		memcpy(label, TORPROJECT_ONION, 57);
		label[20] = (char)high[i];
		is_int(check(label), OMX_ONION_BAD_CHAR, "byte 0x%02x (non-ASCII)", high[i]);
	}
}

/* Labels are case-insensitive. */
static void test_case(void)
{
	char label[57];

	for (int i = 0; i < 57; i++)
		label[i] = (char)(TORPROJECT_ONION[i] >= 'a' && TORPROJECT_ONION[i] <= 'z' ?
				  TORPROJECT_ONION[i] - 'a' + 'A' : TORPROJECT_ONION[i]);
	is_int(check(label), OMX_ONION_OK, "upper case %s", label);
	for (int i = 0; i < 56; i += 2)
		label[i] = TORPROJECT_ONION[i];
	is_int(check(label), OMX_ONION_OK, "mixed case %s", label);
}

/* Each status has its own message. */
static void test_strerror(void)
{
	enum omx_onion_status all[] = { OMX_ONION_OK, OMX_ONION_V2, OMX_ONION_BAD_LENGTH,
					OMX_ONION_BAD_CHAR, OMX_ONION_BAD_VERSION,
					OMX_ONION_BAD_CHECKSUM };
	int distinct = 1;

	for (size_t i = 0; i < 6; i++)
		for (size_t j = 0; j < i; j++)
			if (strcmp(omx_onion_strerror(all[i]), omx_onion_strerror(all[j])) == 0)
				distinct = 0;
	ok(distinct, "every status has a distinct message");
	ok(strstr(omx_onion_strerror(OMX_ONION_BAD_CHECKSUM), "checksum") != NULL,
	   "checksum message: %s", omx_onion_strerror(OMX_ONION_BAD_CHECKSUM));
	ok(omx_onion_strerror((enum omx_onion_status)99) != NULL, "unknown status has a message");
}

/* Runs omx_onion_label on NAME and compares with the expected label (NULL: none).
 * The returned pointer must point into NAME. */
static void label_is(const char *name, const char *want)
{
	size_t len = 12345;
	const char *got = omx_onion_label(name, strlen(name), &len);

	if (!want) {
		ok(got == NULL, "\"%s\" is not an onion name", name);
		return;
	}
	if (!ok(got != NULL && got >= name && got + len <= name + strlen(name),
		"\"%s\" is an onion name", name))
		return;
	is_int(len, strlen(want), "\"%s\": label length", name);
	ok(strncmp(got, want, len) == 0, "\"%s\": label \"%.*s\", want \"%s\"",
	   name, (int)len, got, want);
}

/* Finding the label left of ".onion". */
static void test_label(void)
{
	size_t len;
	const char *name;

	label_is("foo.onion", "foo");
	label_is("foo.onion.", "foo");
	label_is("sub.xyz.onion", "xyz");
	label_is("a.b.sub.xyz.onion.", "xyz");
	label_is("X.ONION.", "X");
	label_is("foo.OnIoN", "foo");
	label_is("onion", "");
	label_is("onion.", "");
	label_is(".onion", "");
	label_is(".onion.", "");
	label_is("x..onion", "");
	label_is("x.onionx", NULL);
	label_is("fooonion", NULL);
	label_is("xonion", NULL);
	label_is("foo.onion..", NULL);
	label_is("foo.onion.com", NULL);
	label_is("onion.com", NULL);
	label_is("nion", NULL);
	label_is("", NULL);
	label_is(".", NULL);
	label_is("mx." TORPROJECT_ONION ".onion.", TORPROJECT_ONION);

	/* Only LEN bytes count: no NUL needed, nothing after LEN read. */
	name = "foo.onionXYZ";
	ok(omx_onion_label(name, 9, &len) == name && len == 3,
	   "LEN limits the name (\"foo.onion\" out of \"foo.onionXYZ\")");
	ok(omx_onion_label(name, 0, &len) == NULL, "LEN 0 is not an onion name");

	/* Found label goes straight into the checker. */
	name = "Mail." TORPROJECT_ONION ".Onion";
	name = omx_onion_label(name, strlen(name), &len);
	ok(name && omx_onion_check(name, len) == OMX_ONION_OK, "label then check");
}

int main(void)
{
	test_real_addresses();
	test_round_trip();
	test_single_char_typos();
	test_version();
	test_lengths();
	test_bad_chars();
	test_case();
	test_strerror();
	test_label();
	return done_testing();
}
