/* The domain -> onion map: source-line parsing, synthetic address candidates,
 * and lookups in the compiled cdb. */
#include "map.h"
#include "layout.h"

#include <arpa/inet.h>
#include <endian.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include "ascii.h"
#include "fnv.h"

static int is_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\r';
}

/* The first blank at or after POS in LINE (before END), or END: eight bytes a
 * step (a million-line source's parse scans 80 MB). */
static size_t token_end(const char *line, size_t pos, size_t end)
{
	const uint64_t ones = 0x0101010101010101ull, highs = 0x8080808080808080ull;

	for (; pos + 8 <= end; pos += 8) {
		uint64_t w, m = 0;

		memcpy(&w, line + pos, 8);
		w = le64toh(w);
		/* A byte of W equal to C: (x - ones) & ~x & highs with x = W ^ C
		 * marks it (and perhaps bytes after it, never before). */
		for (int k = 0; k < 3; k++) {
			uint64_t x = w ^ (ones * (uint64_t)(unsigned char)" \t\r"[k]);

			m |= (x - ones) & ~x & highs;
		}
		if (m)
			return pos + (size_t)(__builtin_ctzll(m) >> 3);
	}
	while (pos < end && !is_blank(line[pos]))
		pos++;
	return pos;
}

/* Characters of a domain's labels (ASCII: the locale's isalnum() is not
 * every process's). */
static const uint8_t domain_char[256] = {
	['-'] = 1, ['_'] = 1,
	['0'] = 1, ['1'] = 1, ['2'] = 1, ['3'] = 1, ['4'] = 1, ['5'] = 1, ['6'] = 1, ['7'] = 1,
	['8'] = 1, ['9'] = 1,
	['a'] = 1, ['b'] = 1, ['c'] = 1, ['d'] = 1, ['e'] = 1, ['f'] = 1, ['g'] = 1, ['h'] = 1,
	['i'] = 1, ['j'] = 1, ['k'] = 1, ['l'] = 1, ['m'] = 1, ['n'] = 1, ['o'] = 1, ['p'] = 1,
	['q'] = 1, ['r'] = 1, ['s'] = 1, ['t'] = 1, ['u'] = 1, ['v'] = 1, ['w'] = 1, ['x'] = 1,
	['y'] = 1, ['z'] = 1,
	['A'] = 1, ['B'] = 1, ['C'] = 1, ['D'] = 1, ['E'] = 1, ['F'] = 1, ['G'] = 1, ['H'] = 1,
	['I'] = 1, ['J'] = 1, ['K'] = 1, ['L'] = 1, ['M'] = 1, ['N'] = 1, ['O'] = 1, ['P'] = 1,
	['Q'] = 1, ['R'] = 1, ['S'] = 1, ['T'] = 1, ['U'] = 1, ['V'] = 1, ['W'] = 1, ['X'] = 1,
	['Y'] = 1, ['Z'] = 1,
};

int omx_domain_normalise(char *domain, char *err, size_t errlen)
{
	size_t len = strlen(domain);
	const char *name = domain;
	size_t label = 0;
	size_t onion_len;

	if (len && domain[len - 1] == '.')
		domain[--len] = '\0';
	if (domain[0] == '.')
		name++; /* ".example.org": subdomains of example.org */
	if (*name == '\0') {
		snprintf(err, errlen, "empty domain");
		return -1;
	}
	if (strlen(name) > 253) {
		snprintf(err, errlen, "domain longer than 253 characters");
		return -1;
	}
	for (char *p = domain; *p; p++)
		*p = omx_ascii_lower(*p);
	for (const char *p = name;; p++) {
		if (*p == '.' || *p == '\0') {
			if (label == 0) {
				snprintf(err, errlen, "domain \"%s\" has an empty label", domain);
				return -1;
			}
			if (label > 63) {
				snprintf(err, errlen, "domain \"%s\" has a label longer than 63 characters",
					 domain);
				return -1;
			}
			if (*p == '\0')
				break;
			label = 0;
			continue;
		}
		if (!domain_char[(unsigned char)*p]) {
			snprintf(err, errlen, "domain \"%s\" contains '%c'", domain, *p);
			return -1;
		}
		label++;
	}
	if (omx_onion_label(name, strlen(name), &onion_len)) {
		snprintf(err, errlen, "\"%s\" is an onion name, not a mail domain to map", domain);
		return -1;
	}
	return 0;
}

/* Whether PRE says the LEN-byte label at LABEL is valid. */
static int prechecked(const struct omx_map_prechecked *pre, const char *label, size_t len)
{
	size_t off;

	if (!pre || !pre->bits || len != OMX_ONION_LABEL_LEN || label < pre->text ||
	    label >= pre->text + pre->len)
		return 0;
	off = (size_t)(label - pre->text);
	return pre->bits[off / 8] >> (off % 8) & 1;
}

/* Parses "LABEL.onion[:PORT]" into T. */
static int parse_target(const char *text, size_t len, struct omx_target *t, char *err,
			size_t errlen, const struct omx_map_prechecked *pre,
			struct omx_onion_memo *memo)
{
	const char *colon = memchr(text, ':', len);
	size_t name_len = colon ? (size_t)(colon - text) : len;
	const char *label;
	size_t label_len;
	enum omx_onion_status st;

	t->port = 0;
	if (colon) {
		unsigned long port = 0;
		size_t digits = len - name_len - 1;

		if (digits == 0 || digits > 5) {
			snprintf(err, errlen, "bad port in \"%.*s\"", (int)len, text);
			return -1;
		}
		for (size_t i = 0; i < digits; i++) {
			char c = colon[1 + i];
			if (c < '0' || c > '9') {
				snprintf(err, errlen, "bad port in \"%.*s\"", (int)len, text);
				return -1;
			}
			port = port * 10 + (unsigned long)(c - '0');
		}
		if (port == 0 || port > 65535) {
			snprintf(err, errlen, "port out of range in \"%.*s\"", (int)len, text);
			return -1;
		}
		t->port = (uint16_t)port;
	}
	label = omx_onion_label(text, name_len, &label_len);
	if (!label || label != text) {
		/* Subdomains of an onion are pointless as an MX: insist on the bare onion. */
		snprintf(err, errlen, "\"%.*s\" is not an onion address (LABEL.onion[:PORT])",
			 (int)len, text);
		return -1;
	}
	t->onion[OMX_ONION_LABEL_LEN] = '\0';
	if (label_len == OMX_ONION_LABEL_LEN && pre && pre->recent &&
	    memcmp(pre->recent + OMX_ONION_LABEL_LEN, label, OMX_ONION_LABEL_LEN) == 0) {
		/* The same onion, written the same, as the last one found valid. */
		memcpy(t->onion, pre->recent, OMX_ONION_LABEL_LEN);
		return 0;
	}
	if (label_len == OMX_ONION_LABEL_LEN)
		for (size_t i = 0; i < OMX_ONION_LABEL_LEN; i++)
			t->onion[i] = omx_ascii_lower(label[i]);
	st = prechecked(pre, label, label_len) ||
			     (label_len == OMX_ONION_LABEL_LEN && pre && pre->known &&
			      pre->known(pre->known_ctx, t->onion))
		     ? OMX_ONION_OK
		     : omx_onion_check_key_memo(label, label_len, memo);
	if (st != OMX_ONION_OK) {
		snprintf(err, errlen, "\"%.*s\": %s", (int)name_len, text, omx_onion_strerror(st));
		return -1;
	}
	if (pre && pre->recent) {
		memcpy(pre->recent, t->onion, OMX_ONION_LABEL_LEN);
		memcpy(pre->recent + OMX_ONION_LABEL_LEN, label, OMX_ONION_LABEL_LEN);
	}
	return 0;
}

int omx_map_parse_line(const char *line, size_t len, char domain[256],
		       struct omx_target targets[OMX_MAP_MAX_TARGETS], int *ntargets,
		       char *err, size_t errlen)
{
	return omx_map_parse_line_pre(line, len, domain, targets, ntargets, err, errlen, NULL, NULL);
}

int omx_map_parse_line_pre(const char *line, size_t len, char domain[256],
			   struct omx_target targets[OMX_MAP_MAX_TARGETS], int *ntargets,
			   char *err, size_t errlen, const struct omx_map_prechecked *pre,
			   struct omx_onion_memo *memo)
{
	const char *hash = memchr(line, '#', len);
	size_t pos = 0, end = hash ? (size_t)(hash - line) : len;
	int field = 0;

	if (memchr(line, '\0', len)) {
		snprintf(err, errlen, "NUL byte in line");
		return -1;
	}
	*ntargets = 0;
	while (pos < end) {
		size_t start;

		while (pos < end && is_blank(line[pos]))
			pos++;
		if (pos == end)
			break;
		start = pos;
		pos = token_end(line, pos, end);
		if (field == 0) {
			if (pos - start > 254) {
				snprintf(err, errlen, "domain longer than 253 characters");
				return -1;
			}
			memcpy(domain, line + start, pos - start);
			domain[pos - start] = '\0';
			if (omx_domain_normalise(domain, err, errlen) != 0)
				return -1;
		} else {
			if (*ntargets == OMX_MAP_MAX_TARGETS) {
				snprintf(err, errlen, "more than %d targets", OMX_MAP_MAX_TARGETS);
				return -1;
			}
			if (parse_target(line + start, pos - start, &targets[*ntargets], err,
					 errlen, pre, memo) != 0)
				return -1;
			for (int i = 0; i < *ntargets; i++)
				if (strcmp(targets[i].onion, targets[*ntargets].onion) == 0) {
					snprintf(err, errlen, "%s.onion listed twice",
						 targets[i].onion);
					return -1;
				}
			(*ntargets)++;
		}
		field++;
	}
	if (field == 0)
		return 0;
	if (*ntargets == 0) {
		snprintf(err, errlen, "domain \"%s\" has no onion target", domain);
		return -1;
	}
	return 1;
}

OMX_STARTUP
int omx_parse_range(const char *text, uint32_t *net, uint32_t *mask)
{
	char addr[INET_ADDRSTRLEN];
	const char *slash = strchr(text, '/');
	struct in_addr in;
	char *end;
	long prefix;

	if (!slash || (size_t)(slash - text) >= sizeof(addr))
		return -1;
	memcpy(addr, text, (size_t)(slash - text));
	addr[slash - text] = '\0';
	if (inet_pton(AF_INET, addr, &in) != 1)
		return -1;
	errno = 0;
	prefix = strtol(slash + 1, &end, 10);
	if (errno || *end || end == slash + 1 || prefix < 4 || prefix > 24)
		return -1;
	*mask = 0xffffffffu << (32 - prefix);
	*net = ntohl(in.s_addr) & *mask;
	if (*net != ntohl(in.s_addr))
		return -1; /* host bits set: almost certainly a typo */
	return 0;
}

int omx_ranges_overlap(uint32_t net1, uint32_t mask1, uint32_t net2, uint32_t mask2)
{
	uint32_t wider = mask1 & mask2; /* the shorter prefix */

	return (net1 & wider) == (net2 & wider);
}

/* ASCII only (omx_ascii_lower), not the locale's tolower(): every process and
 * the compiler must hash a label alike, and valid labels are ASCII. */
uint64_t omx_label_hash(const char *label, uint64_t seed)
{
	uint64_t h = OMX_FNV64_OFFSET ^ seed;

	for (size_t i = 0; i < OMX_ONION_LABEL_LEN && label[i]; i++)
		h = omx_fnv1a64_step(h, (unsigned char)omx_ascii_lower(label[i]));
	return h;
}

/* Both hashes of a probe sequence (omx_label_hash with seeds 0 and
 * OMX_LABEL_HASH_STEP) in one pass over LABEL: a walk computes them once. */
static void probe_hashes(const char *label, uint64_t *h1, uint64_t *h2)
{
	uint64_t a = OMX_FNV64_OFFSET, b = OMX_FNV64_OFFSET ^ OMX_LABEL_HASH_STEP;

	for (size_t i = 0; i < OMX_ONION_LABEL_LEN && label[i]; i++) {
		unsigned char c = (unsigned char)omx_ascii_lower(label[i]);

		a = omx_fnv1a64_step(a, c);
		b = omx_fnv1a64_step(b, c);
	}
	*h1 = a;
	*h2 = b | 1;
}

static uint32_t probe_addr(uint64_t h1, uint64_t h2, uint32_t net, uint32_t mask, unsigned attempt)
{
	/* Index the usable addresses only: 254 per /24 (.1 to .254). */
	uint64_t usable = (uint64_t)(~mask + 1u) / 256 * 254;
	uint64_t i = (h1 + (uint64_t)attempt * h2) % usable;

	return net + (uint32_t)(i / 254 * 256 + i % 254 + 1);
}

uint32_t omx_addr_candidate(const char *label, uint32_t net, uint32_t mask, unsigned attempt)
{
	uint64_t h1, h2;

	probe_hashes(label, &h1, &h2);
	return probe_addr(h1, h2, net, mask, attempt);
}

static uint64_t rotl64(uint64_t x, int r)
{
	return (x << r) | (x >> (64 - r));
}

static uint64_t load64(const unsigned char *p)
{
	uint64_t w;

	memcpy(&w, p, sizeof(w)); /* one load */
	return le64toh(w); /* little-endian whatever the host, like cdb itself */
}

#define H_P1 0x9e3779b185ebca87ull
#define H_P2 0xc2b2ae3d27d4eb4full

OMX_STARTUP
uint64_t omx_map_hash(const void *data, size_t len, uint64_t seed)
{
	const unsigned char *p = data;
	uint64_t h = seed ^ ((uint64_t)len * H_P1);

	if (len >= 32) {
		/* Four independent lanes: the multiplies overlap. */
		uint64_t v0 = seed + H_P1 + H_P2, v1 = seed + H_P2, v2 = seed, v3 = seed - H_P1;

		for (; len >= 32; p += 32, len -= 32) {
			v0 = rotl64(v0 + load64(p) * H_P2, 31) * H_P1;
			v1 = rotl64(v1 + load64(p + 8) * H_P2, 31) * H_P1;
			v2 = rotl64(v2 + load64(p + 16) * H_P2, 31) * H_P1;
			v3 = rotl64(v3 + load64(p + 24) * H_P2, 31) * H_P1;
		}
		h ^= rotl64(v0, 1) + rotl64(v1, 7) + rotl64(v2, 12) + rotl64(v3, 18);
	}
	for (; len >= 8; p += 8, len -= 8)
		h = rotl64(h ^ (load64(p) * H_P2), 27) * H_P1;
	if (len) {
		unsigned char tail[8] = { 0 };

		memcpy(tail, p, len);
		h = rotl64(h ^ (load64(tail) * H_P2), 27) * H_P1;
	}
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdull;
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53ull;
	return h ^ (h >> 33);
}

uint32_t omx_map_record_check(const void *key, size_t klen, const void *value, size_t vlen)
{
	return (uint32_t)omx_map_hash(value, vlen, omx_map_hash(key, klen, 0x6f6e696f6e6d78ull));
}

static const char base32[] = "abcdefghijklmnopqrstuvwxyz234567";

/* Each base32 character's value + 1, either case; 0: not base32. */
#define B32(c, v) [c] = (v) + 1
static const uint8_t base32_value[256] = {
	B32('a', 0), B32('b', 1), B32('c', 2), B32('d', 3), B32('e', 4), B32('f', 5), B32('g', 6),
	B32('h', 7), B32('i', 8), B32('j', 9), B32('k', 10), B32('l', 11), B32('m', 12),
	B32('n', 13), B32('o', 14), B32('p', 15), B32('q', 16), B32('r', 17), B32('s', 18),
	B32('t', 19), B32('u', 20), B32('v', 21), B32('w', 22), B32('x', 23), B32('y', 24),
	B32('z', 25), B32('A', 0), B32('B', 1), B32('C', 2), B32('D', 3), B32('E', 4), B32('F', 5),
	B32('G', 6), B32('H', 7), B32('I', 8), B32('J', 9), B32('K', 10), B32('L', 11),
	B32('M', 12), B32('N', 13), B32('O', 14), B32('P', 15), B32('Q', 16), B32('R', 17),
	B32('S', 18), B32('T', 19), B32('U', 20), B32('V', 21), B32('W', 22), B32('X', 23),
	B32('Y', 24), B32('Z', 25), B32('2', 26), B32('3', 27), B32('4', 28), B32('5', 29),
	B32('6', 30), B32('7', 31),
};
#undef B32

/* 56 characters are 7 groups of 8, each 5 bytes. Table-driven and unrolled:
 * every onion connect decodes a label and encodes one (~0.2k instructions). */
int omx_map_onion_raw(const char *label, uint8_t raw[OMX_MAP_ONION_RAW])
{
	const unsigned char *p = (const unsigned char *)label;
	unsigned bad = 0;

	for (int g = 0; g < 7; g++, p += 8, raw += 5) {
		uint64_t bits = 0;

#pragma GCC unroll 8
		for (int i = 0; i < 8; i++) {
			unsigned v = (unsigned)base32_value[p[i]] - 1; /* not base32: ~0 */

			bad |= v;
			bits = bits << 5 | (v & 31);
		}
		raw[0] = (uint8_t)(bits >> 32);
		raw[1] = (uint8_t)(bits >> 24);
		raw[2] = (uint8_t)(bits >> 16);
		raw[3] = (uint8_t)(bits >> 8);
		raw[4] = (uint8_t)bits;
	}
	return (bad & ~31u) || raw[-1] != 3 ? -1 : 0;
}

/* Every 10-bit value as its two base32 characters: a connect encodes an
 * onion (omx_map_onion_text), 4 look-ups per 5 bytes instead of 8. */
#define C32(v) ((v) < 26 ? 'a' + (v) : '2' + (v) - 26)
#define PAIR(i) { (char)C32((i) >> 5), (char)C32((i) & 31) }
#define PAIRS4(i) PAIR(i), PAIR((i) + 1), PAIR((i) + 2), PAIR((i) + 3)
#define PAIRS16(i) PAIRS4(i), PAIRS4((i) + 4), PAIRS4((i) + 8), PAIRS4((i) + 12)
#define PAIRS64(i) PAIRS16(i), PAIRS16((i) + 16), PAIRS16((i) + 32), PAIRS16((i) + 48)
#define PAIRS256(i) PAIRS64(i), PAIRS64((i) + 64), PAIRS64((i) + 128), PAIRS64((i) + 192)
static const char base32_pair[1024][2] = {
	PAIRS256(0), PAIRS256(256), PAIRS256(512), PAIRS256(768),
};
#undef PAIRS256
#undef PAIRS64
#undef PAIRS16
#undef PAIRS4
#undef PAIR
#undef C32

void omx_map_onion_text(const uint8_t raw[OMX_MAP_ONION_RAW], char label[OMX_ONION_LABEL_LEN + 1])
{
	for (int g = 0; g < 7; g++, raw += 5, label += 8) {
		uint64_t bits;

		if (g < 6) { /* 8 bytes in one load, within the 35 */
			memcpy(&bits, raw, sizeof(bits));
			bits = be64toh(bits) >> 24;
		} else {
			bits = (uint64_t)raw[0] << 32 | (uint64_t)raw[1] << 24 | (uint64_t)raw[2] << 16 |
			       (uint64_t)raw[3] << 8 | raw[4];
		}
		memcpy(label, base32_pair[bits >> 30], 2);
		memcpy(label + 2, base32_pair[(bits >> 20) & 1023], 2);
		memcpy(label + 4, base32_pair[(bits >> 10) & 1023], 2);
		memcpy(label + 6, base32_pair[bits & 1023], 2);
	}
	*label = '\0';
}

/* murmur3's finaliser and its inverse: a bijection of 32-bit values. */
static uint32_t mix32(uint32_t h)
{
	h ^= h >> 16;
	h *= 0x85ebca6bu;
	h ^= h >> 13;
	h *= 0xc2b2ae35u;
	return h ^ (h >> 16);
}

static uint32_t unmix32(uint32_t h)
{
	h ^= h >> 16;
	h *= 0x7ed1b41du;
	h ^= (h >> 13) ^ (h >> 26);
	h *= 0xa5cb9243u;
	return h ^ (h >> 16);
}

void omx_map_addr_key(uint32_t addr, char key[6])
{
	uint32_t m = mix32(addr);

	key[0] = 'a';
	key[1] = ':';
	key[2] = (char)(m >> 24);
	key[3] = (char)(m >> 16);
	key[4] = (char)(m >> 8);
	key[5] = (char)m;
}

uint32_t omx_map_key_addr(const char key[6])
{
	return unmix32((uint32_t)(unsigned char)key[2] << 24 | (uint32_t)(unsigned char)key[3] << 16 |
		       (uint32_t)(unsigned char)key[4] << 8 | (unsigned char)key[5]);
}

uint32_t omx_map_empty_slot(unsigned table, unsigned slot)
{
	uint64_t where = (uint64_t)table << 32 | slot;

	return (uint32_t)omx_map_hash(&where, sizeof(where), 0x656d707479ull) | 1u;
}

OMX_STARTUP
uint64_t omx_map_toc_sum(const unsigned char *mem, const char *header, size_t len)
{
	return omx_map_hash(mem, 2048, omx_map_hash(header, len, 0));
}

uint64_t omx_map_file_sum(const unsigned char *mem, size_t size, size_t sum_off)
{
	uint64_t h = omx_map_hash(mem, sum_off, 1);

	h = omx_map_hash("0000000000000000", 16, h);
	return omx_map_hash(mem + sum_off + 16, size - sum_off - 16, h);
}

static int parse_hex64(const char *p, uint64_t *out)
{
	uint64_t v = 0;

	for (int i = 0; i < 16; i++) {
		int c = p[i];
		if (c >= '0' && c <= '9')
			v = v << 4 | (uint64_t)(c - '0');
		else if (c >= 'a' && c <= 'f')
			v = v << 4 | (uint64_t)(c - 'a' + 10);
		else
			return -1;
	}
	*out = v;
	return 0;
}

/* Parses the header value V (LEN bytes) into MAP; returns the offset of " toc="
 * in V, or -1. */
static int parse_header(struct omx_map *map, const char *v, unsigned len)
{
	char text[512], *save = NULL, *tok;
	const char *toc = NULL;
	int field = 0;

	if (len >= sizeof(text) || len < 2 + 41)
		return -1;
	memcpy(text, v, len);
	text[len] = '\0';
	if (memcmp(text + len - 41, "toc=", 4) != 0 || text[len - 42] != ' ' ||
	    memcmp(text + len - 21, " sum=", 5) != 0)
		return -1;
	toc = v + len - 41;
	text[len - 42] = '\0';
	for (tok = strtok_r(text, " ", &save); tok; tok = strtok_r(NULL, " ", &save), field++) {
		if (field == 0) {
			if (strcmp(tok, "2") != 0 && strcmp(tok, "3") != 0)
				return -1;
			map->version = (unsigned)(tok[0] - '0');
		} else if (field == 1) {
			if (omx_parse_range(tok, &map->net, &map->mask) != 0)
				return -1;
		} else {
			char *at = strchr(tok, '@'), *end;
			struct omx_map_old_range *o = &map->old[map->nold];
			long long left;

			if (strncmp(tok, "old=", 4) != 0 || !at || map->nold == OMX_MAP_MAX_OLD_RANGES)
				return -1;
			*at = '\0';
			left = strtoll(at + 1, &end, 10);
			if (*end || end == at + 1 || omx_parse_range(tok + 4, &o->net, &o->mask) != 0)
				return -1;
			o->left = left;
			map->nold++;
		}
	}
	if (field < 2)
		return -1;
	return (int)(toc - v) - 1;
}

/* tinycdb's cdb_unpack(): the little-endian 32-bit number at P. Here rather
 * than called in libcdb, whose code lies at the far end of the library's
 * text: a page fault and 64 KiB more of text mapped at every start (layout.h). */
static inline unsigned le32_at(const unsigned char *p)
{
	uint32_t v;

	memcpy(&v, p, sizeof(v));
	return le32toh(v);
}

/* tinycdb's cdb_init() on a file of FSIZE bytes already fstat'ed: the same
 * struct cdb, without cdb_init's own second fstat() (a system call at every
 * process start). cdb_free() unmaps it. */
static int cdb_map(struct cdb *cdb, int fd, unsigned fsize)
{
	const unsigned char *mem = mmap(NULL, fsize, PROT_READ, MAP_SHARED, fd, 0);
	unsigned dend;

	if (mem == MAP_FAILED)
		return -1;
	memset(cdb, 0, sizeof(*cdb));
	cdb->cdb_fd = fd;
	cdb->cdb_fsize = fsize;
	cdb->cdb_mem = mem;
	dend = le32_at(mem);
	cdb->cdb_dend = dend < 2048 ? 2048 : dend >= fsize ? fsize : dend;
	return 0;
}

OMX_STARTUP
int omx_map_open_fd(struct omx_map *map, int fd, const char *name, char *err, size_t errlen)
{
	struct stat st;
	const unsigned char *mem;
	unsigned fsize, expect, vlen;
	uint64_t toc_sum;
	int toc_at;

	memset(map, 0, sizeof(*map));
	if (fstat(fd, &st) != 0) {
		snprintf(err, errlen, "%s: %s", name, strerror(errno));
		return -1;
	}
	if (!S_ISREG(st.st_mode) || st.st_size < 2048 + 16) {
		snprintf(err, errlen, "%s: not a compiled map (run onionmx-map on its source)", name);
		return -1;
	}
	if (st.st_size > 0xffffffffll) {
		snprintf(err, errlen, "%s: larger than a cdb can be: damaged", name);
		return -1;
	}
	if (cdb_map(&map->cdb, fd, (unsigned)st.st_size) != 0) {
		snprintf(err, errlen, "%s: cannot map: %s", name, strerror(errno));
		return -1;
	}
	map->cdb.cdb_fd = -1; /* the caller may close it: everything is in the mmap */
	mem = map->cdb.cdb_mem;
	fsize = map->cdb.cdb_fsize;
	/* The header is the first record, right after the table of contents. */
	if (le32_at(mem + 2048) != 8 || memcmp(mem + 2056, "!onionmx", 8) != 0) {
		snprintf(err, errlen, "%s: not an onionmx map (run onionmx-map on its source)", name);
		goto fail;
	}
	vlen = le32_at(mem + 2052);
	if (vlen > 511 || 2064 + vlen > fsize || (toc_at = parse_header(map, (const char *)mem + 2064, vlen)) < 0) {
		char shown[64];
		unsigned n = vlen < sizeof(shown) - 1 ? vlen : sizeof(shown) - 1;

		for (unsigned i = 0; i < n && 2064 + i < fsize; i++)
			shown[i] = mem[2064 + i] >= ' ' && mem[2064 + i] < 127 ? (char)mem[2064 + i] : '?';
		shown[n] = '\0';
		snprintf(err, errlen, "%s: unsupported map format \"%s\" (rebuild it with this onionmx-map)",
			 name, shown);
		goto fail;
	}
	/* cdb_make writes the 256 tables one after another, in order, up to the
	 * end of the file: anything else is damage, and a shorter file was cut. */
	expect = le32_at(mem);
	for (unsigned t = 0; t < 256; t++) {
		unsigned pos = le32_at(mem + 8 * t), n = le32_at(mem + 8 * t + 4);

		if (pos != expect || pos < 2064 + vlen || n > (0xffffffffu - pos) / 8) {
			snprintf(err, errlen, "%s: damaged (table of contents entry %u)", name, t);
			goto fail;
		}
		expect = pos + 8 * n;
	}
	if (expect != fsize) {
		snprintf(err, errlen, "%s: %s: the map is %u bytes, its table of contents says %u",
			 name, expect > fsize ? "truncated" : "damaged", fsize, expect);
		goto fail;
	}
	if (parse_hex64((const char *)mem + 2064 + toc_at + 5, &toc_sum) != 0 ||
	    parse_hex64((const char *)mem + 2064 + toc_at + 26, &map->sum) != 0 ||
	    omx_map_toc_sum(mem, (const char *)mem + 2064, (size_t)toc_at) != toc_sum) {
		snprintf(err, errlen, "%s: damaged (header or table of contents fails its checksum)", name);
		goto fail;
	}
	map->tables_start = 2064 + vlen;
	map->stamp_off = 2064 + (unsigned)toc_at + 1;
	memcpy(map->stamp, mem + map->stamp_off, sizeof(map->stamp));
	map->dev = st.st_dev;
	map->ino = st.st_ino;
	map->mtime = st.st_mtim;
	map->size = st.st_size;
	return 0;
fail:
	cdb_free(&map->cdb);
	memset(map, 0, sizeof(*map));
	return -1;
}

void omx_map_close(struct omx_map *map)
{
	if (map->cdb.cdb_mem)
		cdb_free(&map->cdb);
	memset(map, 0, sizeof(*map));
}

int omx_map_verify(const struct omx_map *map, const char *name, char *err, size_t errlen)
{
	if (!map->cdb.cdb_mem) {
		snprintf(err, errlen, "%s: not open", name);
		return -1;
	}
	if (omx_map_file_sum(map->cdb.cdb_mem, map->cdb.cdb_fsize, map->stamp_off + 25) != map->sum) {
		snprintf(err, errlen, "%s: damaged: its contents fail the checksum in its header (rebuild it with onionmx-map)",
			 name);
		return -1;
	}
	return 0;
}

int omx_map_damaged(const struct omx_map *map)
{
	return __atomic_load_n(&map->damaged, __ATOMIC_RELAXED);
}

const struct omx_map_old_range *omx_map_old_range(const struct omx_map *map, uint32_t addr)
{
	for (unsigned i = 0; i < map->nold; i++)
		if ((addr & map->old[i].mask) == map->old[i].net)
			return &map->old[i];
	return NULL;
}

/* The length of a record's CHECK in format VERSION. */
static unsigned check_len(unsigned version)
{
	return version == 3 ? 4 : 9;
}

static uint32_t be32(const char *p)
{
	const unsigned char *u = (const unsigned char *)p;

	return (uint32_t)u[0] << 24 | (uint32_t)u[1] << 16 | (uint32_t)u[2] << 8 | u[3];
}

/* Whether VALUE (VLEN bytes, with its CHECK) belongs to KEY. */
static int record_ok(unsigned version, const char *key, unsigned klen, const char *v, unsigned vlen)
{
	uint32_t want = 0;

	if (version == 3) {
		if (vlen < 4)
			return 0;
		memcpy(&want, v + vlen - 4, 4);
		return omx_map_record_check(key, klen, v, vlen - 4) == le32toh(want);
	}
	if (vlen < 9 || v[vlen - 9] != ' ')
		return 0;
	for (unsigned i = vlen - 8; i < vlen; i++) {
		char c = v[i];
		if (c >= '0' && c <= '9')
			want = want << 4 | (uint32_t)(c - '0');
		else if (c >= 'a' && c <= 'f')
			want = want << 4 | (uint32_t)(c - 'a' + 10);
		else
			return 0;
	}
	return omx_map_record_check(key, klen, v, vlen - 9) == want;
}

/* Whether an occupied slot J with hash H, in the table TAB of N slots, is where
 * cdb_make could have put it: it places a record at the first free slot from
 * its home, so every slot from the home to J is occupied. The walk from S0 to J
 * saw occupied slots only; a home before S0 is followed for a few slots (an
 * empty one on the way is damage). 0: not shown (the caller checks the record). */
static int slot_in_place(const unsigned char *tab, unsigned n, unsigned s0, unsigned j, unsigned h)
{
	unsigned home = (h >> 8) % n, k = home;

	if ((j + n - home) % n <= (j + n - s0) % n)
		return 1;
	for (unsigned steps = 0; k != s0; k = k + 1 == n ? 0 : k + 1)
		if (++steps > 64 || le32_at(tab + 8 * k + 4) == 1)
			return 0;
	return 1;
}

/* Looks KEY up, checking everything the walk reads: the table slots (each in
 * the right table, pointing into the data), the record (its lengths, and its
 * CHECK binding the value to the key), and afterwards that the file was not
 * rewritten under the mapping. Returns 1 with the value (CHECK cut off), 0 when
 * absent, OMX_MAP_DAMAGED (and marks the map). */
static int map_get(const struct omx_map *map, const char *key, unsigned klen, const char **val,
		   unsigned *vlen)
{
	const unsigned char *mem = map->cdb.cdb_mem;
	unsigned dend = map->cdb.cdb_dend, hval, bucket, pos, n, slot;
	int rc = OMX_MAP_DAMAGED;

	if (!mem || __atomic_load_n(&map->damaged, __ATOMIC_RELAXED))
		return OMX_MAP_DAMAGED;
	hval = cdb_hash(key, klen);
	bucket = hval & 255;
	/* The table of contents, checked whole at open, is read in place (no 2
	 * KiB copy written at every start): each entry read is kept inside the
	 * file, whatever the file became since. */
	pos = le32_at(mem + 8 * bucket);
	n = le32_at(mem + 8 * bucket + 4);
	if (pos < map->tables_start || pos > map->cdb.cdb_fsize || n > (map->cdb.cdb_fsize - pos) / 8)
		n = 0; /* damaged: rc stays so */
	else if (n == 0)
		rc = 0;
	for (unsigned i = 0, slot0 = n ? (hval >> 8) % n : 0; i < n; i++) {
		const unsigned char *s;
		unsigned h, rpos, kl, vl;

		slot = slot0 + i < n ? slot0 + i : slot0 + i - n;
		s = mem + pos + 8 * slot;
		h = le32_at(s);
		rpos = le32_at(s + 4);
		if (rpos == 1) { /* an empty slot, as the compiler marks them */
			rc = h == omx_map_empty_slot(bucket, slot) ? 0 : OMX_MAP_DAMAGED;
			break;
		}
		if ((h & 255) != bucket || rpos < 2048 || rpos > dend - 8)
			break; /* also a zeroed slot: cdb's empty (0, 0) is never left in */
		kl = le32_at(mem + rpos);
		vl = le32_at(mem + rpos + 4);
		if (kl > dend - rpos - 8 || vl > dend - rpos - 8 - kl)
			break;
		if (h != hval) {
			/* Another key's slot: make sure it is one, or a damaged hash or
			 * position could hide ours behind the next empty slot. Cheap
			 * when its hash puts it where cdb_make would have; else its
			 * record's key must hash to it. */
			if (!slot_in_place(mem + pos, n, slot0, slot, h) &&
			    cdb_hash(mem + rpos + 8, kl) != h)
				break;
			continue;
		}
		if (kl != klen || memcmp(mem + rpos + 8, key, klen) != 0)
			continue;
		*val = (const char *)mem + rpos + 8 + kl;
		if (!record_ok(map->version, key, klen, *val, vl))
			break;
		*vlen = vl - check_len(map->version);
		rc = 1;
		break;
	}
	/* (A table with no empty slot is damage too: cdb leaves half of each empty.) */
	if (memcmp(mem + map->stamp_off, map->stamp, sizeof(map->stamp)) != 0)
		rc = OMX_MAP_DAMAGED;
	if (rc == OMX_MAP_DAMAGED)
		__atomic_store_n((int *)&map->damaged, 1, __ATOMIC_RELAXED);
	return rc;
}

/* Whether the LEN bytes at P are a lower-case v3 onion label by their shape
 * (base32, version 'd'). The checksum itself costs a SHA3: the record's CHECK
 * already covers these bytes, and the compiler checked the onion. */
static int onion_shaped(const char *p, size_t len)
{
	if (len != OMX_ONION_LABEL_LEN || p[OMX_ONION_LABEL_LEN - 1] != 'd')
		return 0;
	for (size_t i = 0; i < len; i++)
		if (!((p[i] >= 'a' && p[i] <= 'z') || (p[i] >= '2' && p[i] <= '7')))
			return 0;
	return 1;
}

/* Parses a "d:" value into TARGETS; returns how many, or OMX_MAP_DAMAGED. */
static int parse_targets_value(const char *v, unsigned vlen,
			       struct omx_target targets[OMX_MAP_MAX_TARGETS])
{
	int n = 0;
	unsigned pos = 0;

	while (pos < vlen) {
		unsigned start = pos, port = 0;

		while (pos < vlen && v[pos] != ' ')
			pos++;
		if (n == OMX_MAP_MAX_TARGETS || !onion_shaped(v + start, OMX_ONION_LABEL_LEN > pos - start ? pos - start : OMX_ONION_LABEL_LEN))
			return OMX_MAP_DAMAGED;
		memcpy(targets[n].onion, v + start, OMX_ONION_LABEL_LEN);
		targets[n].onion[OMX_ONION_LABEL_LEN] = '\0';
		if (pos - start > OMX_ONION_LABEL_LEN) {
			if (v[start + OMX_ONION_LABEL_LEN] != ':' || pos - start > OMX_ONION_LABEL_LEN + 6 ||
			    pos - start == OMX_ONION_LABEL_LEN + 1)
				return OMX_MAP_DAMAGED;
			for (unsigned i = start + OMX_ONION_LABEL_LEN + 1; i < pos; i++) {
				if (v[i] < '0' || v[i] > '9')
					return OMX_MAP_DAMAGED;
				port = port * 10 + (unsigned)(v[i] - '0');
			}
			if (port == 0 || port > 65535)
				return OMX_MAP_DAMAGED;
		}
		targets[n].port = (uint16_t)port;
		n++;
		pos++;
	}
	return n ? n : OMX_MAP_DAMAGED;
}

/* Reads a format-3 "a:" value V (VLEN bytes, CHECK cut off): 1 an onion's
 * (TARGET, and DOMAIN/NDOMAINS if not NULL, filled), OMX_MAP_RETIRED a
 * tombstone's (TARGET->onion names it), OMX_MAP_DAMAGED anything else. */
#define A3_ONION_MIN (1 + OMX_MAP_ONION_RAW + 2 + 4 + 1)
#define A3_TOMB_LEN (1 + OMX_MAP_ONION_RAW + 8)
static int addr_value_v3(const char *v, unsigned vlen, struct omx_target *target,
			 char domain[256], unsigned *ndomains)
{
	const uint8_t *raw = (const uint8_t *)v + 1;

	if (vlen < A3_ONION_MIN || raw[OMX_MAP_ONION_RAW - 1] != 3)
		return OMX_MAP_DAMAGED;
	if (v[0] == 't' && vlen == A3_TOMB_LEN && (unsigned char)v[1 + OMX_MAP_ONION_RAW] < 0x80) {
		omx_map_onion_text(raw, target->onion);
		target->port = 0;
		if (domain)
			domain[0] = '\0';
		if (ndomains)
			*ndomains = 0;
		return OMX_MAP_RETIRED;
	}
	if (v[0] != 'o' || vlen < A3_ONION_MIN || vlen > A3_ONION_MIN + 252)
		return OMX_MAP_DAMAGED;
	{
		const char *d = v + A3_ONION_MIN - 1;
		size_t dlen = (size_t)(v + vlen - d);

		if (memchr(d, ' ', dlen) || memchr(d, '\0', dlen))
			return OMX_MAP_DAMAGED;
		omx_map_onion_text(raw, target->onion);
		target->port = (uint16_t)((unsigned char)v[36] << 8 | (unsigned char)v[37]);
		if (domain) {
			memcpy(domain, d, dlen);
			domain[dlen] = '\0';
		}
		if (ndomains)
			*ndomains = be32(v + 38);
	}
	return 1;
}

/* Parses a format-3 "d:" value (addresses) into TARGETS, reading each
 * address's record; returns how many, or OMX_MAP_DAMAGED. */
static int targets_v3(const struct omx_map *map, const char *v, unsigned vlen,
		      struct omx_target targets[OMX_MAP_MAX_TARGETS])
{
	unsigned n = vlen / 4;

	if (vlen == 0 || vlen % 4 || n > OMX_MAP_MAX_TARGETS)
		return OMX_MAP_DAMAGED;
	for (unsigned i = 0; i < n; i++) {
		uint32_t addr = be32(v + 4 * i);
		const char *av;
		unsigned alen;
		char key[6];

		if ((addr & map->mask) != map->net)
			return OMX_MAP_DAMAGED;
		omx_map_addr_key(addr, key);
		/* The compiler wrote an onion's record at each: anything else is damage. */
		if (map_get(map, key, sizeof(key), &av, &alen) != 1 ||
		    addr_value_v3(av, alen, &targets[i], NULL, NULL) != 1)
			return OMX_MAP_DAMAGED;
	}
	return (int)n;
}

int omx_map_domain(const struct omx_map *map, const char *domain,
		   struct omx_target targets[OMX_MAP_MAX_TARGETS], char matched[256])
{
	char key[2 + 256];
	size_t len = strlen(domain);
	const char *v = NULL;
	unsigned vlen = 0;
	int r, n;

	if (len && domain[len - 1] == '.')
		len--;
	if (len == 0 || len > 253)
		return 0;
	key[0] = 'd';
	key[1] = ':';
	for (size_t i = 0; i < len; i++)
		key[2 + i] = omx_ascii_lower(domain[i]);
	key[2 + len] = '\0';

	/* Exact name first, then ".parent" for each parent: a.b.c -> .b.c -> .c */
	r = map_get(map, key, (unsigned)(2 + len), &v, &vlen);
	for (size_t dot = 0; r == 0 && dot < len; dot++) {
		if (key[2 + dot] != '.')
			continue;
		/* "d:" + ".parent", written over the labels already passed */
		key[dot] = 'd';
		key[dot + 1] = ':';
		r = map_get(map, key + dot, (unsigned)(2 + len - dot), &v, &vlen);
		if (r > 0)
			memmove(key, key + dot, 2 + len - dot + 1);
	}
	if (r <= 0)
		return r;
	n = map->version == 3 ? targets_v3(map, v, vlen, targets) : parse_targets_value(v, vlen, targets);
	if (n < 0) {
		__atomic_store_n((int *)&map->damaged, 1, __ATOMIC_RELAXED);
		return OMX_MAP_DAMAGED;
	}
	if (matched)
		snprintf(matched, 256, "%s", key + 2);
	return n;
}

/* Format 3: the 56-character LABEL (any case) decoded into RAW, and both hashes
 * of its probe sequence (probe_hashes of its lower-case form), in one pass
 * (a third of the instructions of the three passes). -1: no v3 onion label. */
static int decode_probe(const char *label, uint8_t raw[OMX_MAP_ONION_RAW], uint64_t *h1,
			uint64_t *h2)
{
	const unsigned char *p = (const unsigned char *)label;
	uint64_t a = OMX_FNV64_OFFSET, b = OMX_FNV64_OFFSET ^ OMX_LABEL_HASH_STEP;
	unsigned bad = 0;

	for (int g = 0; g < 7; g++, p += 8, raw += 5) {
		uint64_t bits = 0;

#pragma GCC unroll 8
		for (int i = 0; i < 8; i++) {
			unsigned v = (unsigned)base32_value[p[i]] - 1; /* not base32: ~0 */
			unsigned char lower = (unsigned char)base32[v & 31];

			bad |= v;
			bits = bits << 5 | (v & 31);
			a = omx_fnv1a64_step(a, lower);
			b = omx_fnv1a64_step(b, lower);
		}
		raw[0] = (uint8_t)(bits >> 32);
		raw[1] = (uint8_t)(bits >> 24);
		raw[2] = (uint8_t)(bits >> 16);
		raw[3] = (uint8_t)(bits >> 8);
		raw[4] = (uint8_t)bits;
	}
	*h1 = a;
	*h2 = b | 1;
	return (bad & ~31u) || raw[-1] != 3 ? -1 : 0;
}

int omx_map_onion_addr(const struct omx_map *map, const char *label, size_t len,
		       uint32_t *addr)
{
	char lower[OMX_ONION_LABEL_LEN + 1];
	uint8_t raw[OMX_MAP_ONION_RAW];
	uint64_t h1, h2;

	if (len != OMX_ONION_LABEL_LEN)
		return 0;
	if (!map->cdb.cdb_mem)
		return OMX_MAP_DAMAGED;
	if (map->version == 3) {
		/* Compared decoded; no v3 onion's label fails to decode. */
		if (decode_probe(label, raw, &h1, &h2) != 0)
			return 0;
	} else {
		omx_ascii_lower_copy(lower, label, len);
		probe_hashes(lower, &h1, &h2);
	}
	/* The compiler placed each onion at the first free address of its probe
	 * sequence (or kept the one it had): follow it until the onion or a free
	 * address turns up. Tombstones are taken addresses like any other. */
	for (unsigned attempt = 0; attempt < OMX_MAP_MAX_PROBES; attempt++) {
		uint32_t a = probe_addr(h1, h2, map->net, map->mask, attempt);
		char key[6];
		const char *v;
		unsigned vlen;
		int r;

		omx_map_addr_key(a, key);
		r = map_get(map, key, sizeof(key), &v, &vlen);
		if (r <= 0)
			return r;
		if (map->version == 3) {
			/* An onion's record or a tombstone (a taken address): nothing else. */
			if (vlen < A3_ONION_MIN || (v[0] != 'o' && v[0] != 't')) {
				__atomic_store_n((int *)&map->damaged, 1, __ATOMIC_RELAXED);
				return OMX_MAP_DAMAGED;
			}
			if (v[0] == 'o' && memcmp(v + 1, raw, OMX_MAP_ONION_RAW) == 0) {
				*addr = a;
				return 1;
			}
			continue;
		}
		if (vlen > OMX_ONION_LABEL_LEN && memcmp(v, lower, OMX_ONION_LABEL_LEN) == 0 &&
		    v[OMX_ONION_LABEL_LEN] == ' ') {
			*addr = a;
			return 1;
		}
	}
	return 0;
}

/* Reads the decimal number at *P (before END, at most MAXDIGITS digits, at most
 * MAX) and moves *P past it. Returns 0, or -1 if there is none or it is larger. */
static int read_number(const char **p, const char *end, unsigned maxdigits,
		       unsigned long long max, unsigned long long *out)
{
	const char *q = *p;
	unsigned long long v = 0;

	while (q < end && *q >= '0' && *q <= '9' && (unsigned)(q - *p) < maxdigits)
		v = v * 10 + (unsigned)(*q++ - '0');
	if (q == *p || (q < end && *q >= '0' && *q <= '9') || v > max)
		return -1;
	*p = q;
	*out = v;
	return 0;
}

int omx_map_addr_onion(const struct omx_map *map, uint32_t addr, struct omx_target *target,
		       char domain[256], unsigned *ndomains)
{
	char key[6];
	const char *v, *p, *end;
	unsigned vlen;
	unsigned long long port, n, freed;
	int r;

	omx_map_addr_key(addr, key);
	r = map_get(map, key, sizeof(key), &v, &vlen);
	if (r <= 0)
		return r;
	if (map->version == 3) {
		r = addr_value_v3(v, vlen, target, domain, ndomains);
		if (r == OMX_MAP_DAMAGED)
			goto damaged;
		return r;
	}
	/* Parsed by hand, every byte accounted for (sscanf cost more than the
	 * lookup): "- LABEL FREED" or "LABEL PORT NDOMAINS FIRSTDOMAIN". */
	end = v + vlen;
	if (vlen > 2 && v[0] == '-' && v[1] == ' ') {
		p = v + 2 + OMX_ONION_LABEL_LEN;
		if (vlen < 2 + OMX_ONION_LABEL_LEN + 2 || !onion_shaped(v + 2, OMX_ONION_LABEL_LEN) ||
		    *p++ != ' ' || read_number(&p, end, 19, 0x7fffffffffffffffull, &freed) != 0 ||
		    p != end)
			goto damaged;
		memcpy(target->onion, v + 2, OMX_ONION_LABEL_LEN);
		target->onion[OMX_ONION_LABEL_LEN] = '\0';
		target->port = 0;
		if (domain)
			domain[0] = '\0';
		if (ndomains)
			*ndomains = 0;
		return OMX_MAP_RETIRED;
	}
	p = v + OMX_ONION_LABEL_LEN;
	if (vlen < OMX_ONION_LABEL_LEN + 6 || !onion_shaped(v, OMX_ONION_LABEL_LEN) || *p++ != ' ' ||
	    read_number(&p, end, 5, 65535, &port) != 0 || p == end || *p++ != ' ' ||
	    read_number(&p, end, 10, 0xffffffffu, &n) != 0 || p == end || *p++ != ' ' ||
	    p == end || end - p > 255 || memchr(p, ' ', (size_t)(end - p)) || memchr(p, '\0', (size_t)(end - p)))
		goto damaged;
	memcpy(target->onion, v, OMX_ONION_LABEL_LEN);
	target->onion[OMX_ONION_LABEL_LEN] = '\0';
	target->port = (uint16_t)port;
	if (domain) {
		memcpy(domain, p, (size_t)(end - p));
		domain[end - p] = '\0';
	}
	if (ndomains)
		*ndomains = (unsigned)n;
	return 1;
damaged:
	__atomic_store_n((int *)&map->damaged, 1, __ATOMIC_RELAXED);
	return OMX_MAP_DAMAGED;
}

int omx_map_walk(const struct omx_map *map,
		 int (*fn)(void *ctx, const char *key, unsigned klen, const char *val, unsigned vlen),
		 void *ctx)
{
	const unsigned char *mem = map->cdb.cdb_mem;
	unsigned dend = map->cdb.cdb_dend, pos = 2048, first = 1;

	if (!mem || omx_map_damaged(map))
		return OMX_MAP_DAMAGED;
	while (pos < dend) {
		unsigned kl, vl;
		const char *key, *val;
		int r;

		if (dend - pos < 8)
			goto damaged;
		kl = le32_at(mem + pos);
		vl = le32_at(mem + pos + 4);
		if (kl > dend - pos - 8 || vl > dend - pos - 8 - kl)
			goto damaged;
		key = (const char *)mem + pos + 8;
		val = key + kl;
		pos += 8 + kl + vl;
		if (first) { /* "!onionmx": checked at open, carries no CHECK */
			first = 0;
			if (kl != 8 || memcmp(key, "!onionmx", 8) != 0)
				goto damaged;
			continue;
		}
		if (!record_ok(map->version, key, kl, val, vl))
			goto damaged;
		if ((r = fn(ctx, key, kl, val, vl - check_len(map->version))) != 0)
			return r;
	}
	return 0;
damaged:
	__atomic_store_n((int *)&map->damaged, 1, __ATOMIC_RELAXED);
	return OMX_MAP_DAMAGED;
}
