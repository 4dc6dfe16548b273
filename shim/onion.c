/* Tor v3 onion addresses (rend-spec-v3, "Encoding onion addresses"):
 *
 *   label    = base32(pubkey | checksum | version), 35 bytes -> 56 characters
 *   checksum = SHA3-256(".onion checksum" | pubkey | version)[:2]
 *   version  = 3
 *
 * base32 is RFC 4648's alphabet (a-z, 2-7) without padding; 35 bytes are exactly
 * 280 bits, so no bits are left over. Everything here is pure and thread-safe. */
#include "ascii.h"
#include "onion.h"
#include "ed25519.h"
#include "fnv.h"
#include "sha3.h"

#include <stdlib.h>
#include <string.h>

#define ONION_PUBKEY_LEN 32
#define ONION_CHECKSUM_LEN 2
#define ONION_DECODED_LEN 35	/* pubkey | checksum | version */
#define ONION_VERSION 3
#define ONION_V2_LABEL_LEN 16

static const char onion_checksum_prefix[] = ".onion checksum";
static const char base32_alphabet[] = "abcdefghijklmnopqrstuvwxyz234567";

/* Value of one base32 character, accepting either case, or -1 if it is not one. */
static int base32_value(unsigned char c)
{
	if (c >= 'a' && c <= 'z')
		return c - 'a';
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= '2' && c <= '7')
		return c - '2' + 26;
	return -1;
}

/* The two checksum bytes the spec requires for PUBKEY with VERSION. */
static void onion_checksum(const uint8_t pubkey[ONION_PUBKEY_LEN], uint8_t version,
			   uint8_t checksum[ONION_CHECKSUM_LEN])
{
	struct omx_sha3 ctx;
	uint8_t digest[32];

	omx_sha3_256_init(&ctx);
	omx_sha3_256_update(&ctx, onion_checksum_prefix, sizeof(onion_checksum_prefix) - 1);
	omx_sha3_256_update(&ctx, pubkey, ONION_PUBKEY_LEN);
	omx_sha3_256_update(&ctx, &version, 1);
	omx_sha3_256_final(&ctx, digest);
	memcpy(checksum, digest, ONION_CHECKSUM_LEN);
}

/* Decodes the 56 characters at LABEL into 35 bytes; -1 on a non-base32 character. */
static int base32_decode_label(const char *label, uint8_t out[ONION_DECODED_LEN])
{
	uint32_t bits = 0;
	unsigned int nbits = 0;
	size_t n = 0;

	for (size_t i = 0; i < OMX_ONION_LABEL_LEN; i++) {
		int v = base32_value((unsigned char)label[i]);

		if (v < 0)
			return -1;
		bits = (bits << 5) | (uint32_t)v;
		nbits += 5;
		if (nbits >= 8) {
			nbits -= 8;
			out[n++] = (uint8_t)(bits >> nbits);
		}
	}
	return 0;
}

/* Validates a label: length first (so v2 gets its own message), then the
 * alphabet, then the checksum, and the version last. Checking the checksum before
 * the version means a typo in the final characters (which carry the version
 * byte) is reported as what it most likely is, a bad checksum; only a label
 * whose checksum is right for a version other than 3 is BAD_VERSION. */
enum omx_onion_status omx_onion_check(const char *label, size_t len)
{
	uint8_t decoded[ONION_DECODED_LEN];
	uint8_t checksum[ONION_CHECKSUM_LEN];
	const uint8_t *pubkey = decoded;
	uint8_t version;

	if (len == ONION_V2_LABEL_LEN) {
		/* Only call it v2 if it could be one; "foo-bar..." is just bad. */
		for (size_t i = 0; i < len; i++)
			if (base32_value((unsigned char)label[i]) < 0)
				return OMX_ONION_BAD_CHAR;
		return OMX_ONION_V2;
	}
	if (len != OMX_ONION_LABEL_LEN)
		return OMX_ONION_BAD_LENGTH;
	if (base32_decode_label(label, decoded) < 0)
		return OMX_ONION_BAD_CHAR;

	version = decoded[ONION_PUBKEY_LEN + ONION_CHECKSUM_LEN];
	onion_checksum(pubkey, version, checksum);
	if (memcmp(checksum, decoded + ONION_PUBKEY_LEN, ONION_CHECKSUM_LEN) != 0)
		return OMX_ONION_BAD_CHECKSUM;
	if (version != ONION_VERSION)
		return OMX_ONION_BAD_VERSION;
	return OMX_ONION_OK;
}

/* The full check: form first (cheap, and its errors say more), then the key. */
enum omx_onion_status omx_onion_check_key(const char *label, size_t len)
{
	uint8_t decoded[ONION_DECODED_LEN];
	enum omx_onion_status st = omx_onion_check(label, len);

	if (st != OMX_ONION_OK)
		return st;
	base32_decode_label(label, decoded);
	if (omx_ed25519_key_check(decoded) != OMX_ED25519_KEY_OK)
		return OMX_ONION_BAD_KEY;
	return OMX_ONION_OK;
}

int omx_onion_memo_init(struct omx_onion_memo *memo, size_t want)
{
	size_t slots = 256;

	while (slots < 2 * want && slots < ((size_t)1 << 20))
		slots *= 2;
	memo->label = calloc(slots, sizeof(*memo->label));
	memo->slots = memo->label ? slots : 0;
	return memo->label ? 0 : -1;
}

void omx_onion_memo_free(struct omx_onion_memo *memo)
{
	free(memo->label);
	memo->label = NULL;
	memo->slots = 0;
}

enum omx_onion_status omx_onion_check_key_memo(const char *label, size_t len,
					       struct omx_onion_memo *memo)
{
	char lower[OMX_ONION_LABEL_LEN];
	uint64_t h = OMX_FNV64_OFFSET;
	uint32_t hash;
	char *slot;
	enum omx_onion_status st;

	if (!memo || !memo->slots || len != OMX_ONION_LABEL_LEN)
		return omx_onion_check_key(label, len);
	for (size_t i = 0; i < len; i++)
		lower[i] = omx_ascii_lower(label[i]);
	h = omx_fnv1a64(h, lower, len);
	hash = (uint32_t)(h ^ (h >> 32));
	/* Four slots from the hash's: a few onions sharing a slot do not evict
	 * each other; past that, the hash's own slot is overwritten. */
	slot = memo->label[hash & (memo->slots - 1)];
	for (unsigned i = 0; i < 4; i++) {
		char *probe = memo->label[(hash + i) & (memo->slots - 1)];

		if (memcmp(probe, lower, sizeof(lower)) == 0)
			return OMX_ONION_OK;
		if (probe[0] == '\0') {
			slot = probe;
			break;
		}
	}
	st = omx_onion_check_key(label, len);
	if (st == OMX_ONION_OK)
		memcpy(slot, lower, sizeof(lower));
	return st;
}

/* Fixed English text for each status, for log and error messages. */
const char *omx_onion_strerror(enum omx_onion_status status)
{
	switch (status) {
	case OMX_ONION_OK:
		return "valid v3 onion address";
	case OMX_ONION_V2:
		return "v2 onion address: Tor removed v2 onion addresses in 0.4.6";
	case OMX_ONION_BAD_LENGTH:
		return "bad length: a v3 onion label has 56 characters";
	case OMX_ONION_BAD_CHAR:
		return "bad character: onion labels use base32 (a-z, 2-7)";
	case OMX_ONION_BAD_VERSION:
		return "unsupported onion address version (only v3 is supported)";
	case OMX_ONION_BAD_CHECKSUM:
		return "bad checksum (mistyped onion address?)";
	case OMX_ONION_BAD_KEY:
		return "not a valid ed25519 point: Tor would refuse it (mistyped onion address?)";
	}
	return "unknown onion address status";
}

/* Finds the label just left of a final ".onion" (case-insensitive, one optional
 * trailing dot). "onion" must be a whole label: "xonion" is not an onion name. */
const char *omx_onion_label(const char *name, size_t len, size_t *label_len)
{
	static const char tld[] = "onion";
	const size_t tld_len = sizeof(tld) - 1;
	const char *dot;
	size_t end, start;

	if (label_len)
		*label_len = 0;
	if (len > 0 && name[len - 1] == '.')
		len--;
	if (len < tld_len)
		return NULL;
	for (size_t i = 0; i < tld_len; i++)
		if (omx_ascii_lower(name[len - tld_len + i]) != tld[i])
			return NULL;
	if (len == tld_len)
		return name; /* "onion" alone: empty label */
	if (name[len - tld_len - 1] != '.')
		return NULL;

	end = len - tld_len - 1;
	dot = memrchr(name, '.', end); /* vectorised: this runs several times per connect */
	start = dot ? (size_t)(dot - name) + 1 : 0;
	if (label_len)
		*label_len = end - start;
	return name + start;
}

/* Encodes pubkey | checksum | 3 as 56 lower-case base32 characters. */
void omx_onion_from_pubkey(const uint8_t pubkey[32], char out[OMX_ONION_LABEL_LEN + 1])
{
	uint8_t raw[ONION_DECODED_LEN];
	uint32_t bits = 0;
	unsigned int nbits = 0;
	size_t n = 0;

	memcpy(raw, pubkey, ONION_PUBKEY_LEN);
	onion_checksum(pubkey, ONION_VERSION, raw + ONION_PUBKEY_LEN);
	raw[ONION_PUBKEY_LEN + ONION_CHECKSUM_LEN] = ONION_VERSION;

	for (size_t i = 0; i < ONION_DECODED_LEN; i++) {
		bits = (bits << 8) | raw[i];
		nbits += 8;
		while (nbits >= 5) {
			nbits -= 5;
			out[n++] = base32_alphabet[(bits >> nbits) & 31];
		}
	}
	/* 35 * 8 = 56 * 5: nothing is left in BITS. */
	out[n] = '\0';
}
