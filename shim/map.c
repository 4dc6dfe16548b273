/* The domain -> onion map: source-line parsing, synthetic address candidates,
 * and lookups in the compiled cdb. */
#include "map.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static int is_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\r';
}

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
		*p = (char)tolower((unsigned char)*p);
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
		if (!isalnum((unsigned char)*p) && *p != '-' && *p != '_') {
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

/* Parses "LABEL.onion[:PORT]" into T. */
static int parse_target(const char *text, size_t len, struct omx_target *t, char *err,
			size_t errlen)
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
	st = omx_onion_check(label, label_len);
	if (st != OMX_ONION_OK) {
		snprintf(err, errlen, "\"%.*s\": %s", (int)name_len, text, omx_onion_strerror(st));
		return -1;
	}
	for (size_t i = 0; i < OMX_ONION_LABEL_LEN; i++)
		t->onion[i] = (char)tolower((unsigned char)label[i]);
	t->onion[OMX_ONION_LABEL_LEN] = '\0';
	return 0;
}

int omx_map_parse_line(const char *line, size_t len, char domain[256],
		       struct omx_target targets[OMX_MAP_MAX_TARGETS], int *ntargets,
		       char *err, size_t errlen)
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
		while (pos < end && !is_blank(line[pos]))
			pos++;
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
					 errlen) != 0)
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

uint64_t omx_label_hash(const char *label, uint64_t seed)
{
	uint64_t h = 0xcbf29ce484222325ull ^ seed;

	for (size_t i = 0; i < OMX_ONION_LABEL_LEN && label[i]; i++) {
		h ^= (uint64_t)tolower((unsigned char)label[i]);
		h *= 0x100000001b3ull;
	}
	return h;
}

uint32_t omx_addr_candidate(const char *label, uint32_t net, uint32_t mask, unsigned attempt)
{
	/* Index the usable addresses only: 254 per /24 (.1 to .254). */
	uint64_t usable = (uint64_t)(~mask + 1u) / 256 * 254;
	uint64_t h1 = omx_label_hash(label, 0), h2 = omx_label_hash(label, OMX_LABEL_HASH_STEP) | 1;
	uint64_t i = (h1 + (uint64_t)attempt * h2) % usable;

	return net + (uint32_t)(i / 254 * 256 + i % 254 + 1);
}

int omx_map_open_fd(struct omx_map *map, int fd, const char *name, char *err, size_t errlen)
{
	struct stat st;
	char meta[64];
	unsigned vlen;
	int version;
	char range[48];

	memset(map, 0, sizeof(*map));
	if (fstat(fd, &st) != 0) {
		snprintf(err, errlen, "%s: %s", name, strerror(errno));
		return -1;
	}
	if (!S_ISREG(st.st_mode) || st.st_size < 2048) {
		snprintf(err, errlen, "%s: not a compiled map (run onionmx-map on its source)", name);
		return -1;
	}
	if (cdb_init(&map->cdb, fd) != 0) {
		snprintf(err, errlen, "%s: cannot map: %s", name, strerror(errno));
		return -1;
	}
	map->cdb.cdb_fd = -1; /* the caller may close it: everything is in the mmap */
	if (cdb_find(&map->cdb, "!onionmx", 8) <= 0 || (vlen = cdb_datalen(&map->cdb)) >= sizeof(meta)) {
		snprintf(err, errlen, "%s: not an onionmx map (run onionmx-map on its source)", name);
		goto fail;
	}
	memcpy(meta, cdb_getdata(&map->cdb), vlen);
	meta[vlen] = '\0';
	if (sscanf(meta, "%d %47s", &version, range) != 2 || version != 1 ||
	    omx_parse_range(range, &map->net, &map->mask) != 0) {
		snprintf(err, errlen, "%s: unsupported map format \"%s\" (rebuild it with this onionmx-map)",
			 name, meta);
		goto fail;
	}
	map->dev = st.st_dev;
	map->ino = st.st_ino;
	map->mtime = st.st_mtim;
	map->size = st.st_size;
	return 0;
fail:
	cdb_free(&map->cdb);
	return -1;
}

void omx_map_close(struct omx_map *map)
{
	if (map->cdb.cdb_mem)
		cdb_free(&map->cdb);
	memset(map, 0, sizeof(*map));
}

/* Looks KEY up in a private copy of the cdb handle (cdb_find writes into it, and
 * several threads share MAP). Returns the value and its length, or NULL. */
static const char *map_get(const struct omx_map *map, const char *key, size_t klen,
			   unsigned *vlen)
{
	struct cdb c = map->cdb;

	if (!c.cdb_mem || cdb_find(&c, key, (unsigned)klen) <= 0)
		return NULL;
	*vlen = cdb_datalen(&c);
	return cdb_getdata(&c);
}

/* Parses a "d:" value into TARGETS; returns how many. */
static int parse_targets_value(const char *v, unsigned vlen,
			       struct omx_target targets[OMX_MAP_MAX_TARGETS])
{
	int n = 0;
	unsigned pos = 0;

	while (pos < vlen && n < OMX_MAP_MAX_TARGETS) {
		unsigned start = pos, port = 0;

		while (pos < vlen && v[pos] != ' ')
			pos++;
		if (pos - start < OMX_ONION_LABEL_LEN)
			break; /* the compiler never writes this: treat as the end */
		memcpy(targets[n].onion, v + start, OMX_ONION_LABEL_LEN);
		targets[n].onion[OMX_ONION_LABEL_LEN] = '\0';
		if (pos - start > OMX_ONION_LABEL_LEN + 1 && v[start + OMX_ONION_LABEL_LEN] == ':')
			for (unsigned i = start + OMX_ONION_LABEL_LEN + 1; i < pos; i++)
				port = port * 10 + (unsigned)(v[i] - '0');
		targets[n].port = (uint16_t)port;
		n++;
		pos++;
	}
	return n;
}

int omx_map_domain(const struct omx_map *map, const char *domain,
		   struct omx_target targets[OMX_MAP_MAX_TARGETS], char matched[256])
{
	char key[2 + 256];
	size_t len = strlen(domain);
	const char *v;
	unsigned vlen;

	if (len && domain[len - 1] == '.')
		len--;
	if (len == 0 || len > 253)
		return 0;
	key[0] = 'd';
	key[1] = ':';
	for (size_t i = 0; i < len; i++)
		key[2 + i] = (char)tolower((unsigned char)domain[i]);
	key[2 + len] = '\0';

	/* Exact name first, then ".parent" for each parent: a.b.c -> .b.c -> .c */
	v = map_get(map, key, 2 + len, &vlen);
	for (size_t dot = 0; !v && dot < len; dot++) {
		if (key[2 + dot] != '.')
			continue;
		/* "d:" + ".parent", written over the labels already passed */
		key[dot] = 'd';
		key[dot + 1] = ':';
		v = map_get(map, key + dot, 2 + len - dot, &vlen);
		if (v)
			memmove(key, key + dot, 2 + len - dot + 1);
	}
	if (!v)
		return 0;
	if (matched)
		snprintf(matched, 256, "%s", key + 2);
	return parse_targets_value(v, vlen, targets);
}

int omx_map_onion_addr(const struct omx_map *map, const char *label, size_t len,
		       uint32_t *addr)
{
	char lower[OMX_ONION_LABEL_LEN + 1];

	if (len != OMX_ONION_LABEL_LEN || !map->cdb.cdb_mem)
		return 0;
	for (size_t i = 0; i < len; i++)
		lower[i] = (char)tolower((unsigned char)label[i]);
	lower[len] = '\0';
	/* The compiler placed each onion at the first free address of its probe
	 * sequence: follow it until the onion or a free address turns up. */
	for (unsigned attempt = 0; attempt < OMX_MAP_MAX_PROBES; attempt++) {
		uint32_t a = omx_addr_candidate(lower, map->net, map->mask, attempt);
		char key[6] = { 'a', ':', (char)(a >> 24), (char)(a >> 16), (char)(a >> 8), (char)a };
		const char *v;
		unsigned vlen;

		v = map_get(map, key, sizeof(key), &vlen);
		if (!v)
			return 0;
		if (vlen > OMX_ONION_LABEL_LEN && memcmp(v, lower, OMX_ONION_LABEL_LEN) == 0 &&
		    v[OMX_ONION_LABEL_LEN] == ' ') {
			*addr = a;
			return 1;
		}
	}
	return 0;
}

int omx_map_addr_onion(const struct omx_map *map, uint32_t addr, struct omx_target *target,
		       char domain[256], unsigned *ndomains)
{
	char key[6] = { 'a', ':', (char)(addr >> 24), (char)(addr >> 16), (char)(addr >> 8),
			(char)addr };
	char val[OMX_ONION_LABEL_LEN + 1 + 6 + 1 + 11 + 1 + 256];
	const char *v;
	unsigned vlen, port, n;
	char first[256];

	v = map_get(map, key, sizeof(key), &vlen);
	if (!v || vlen >= sizeof(val))
		return 0;
	memcpy(val, v, vlen);
	val[vlen] = '\0';
	if (sscanf(val, "%56s %u %u %255s", target->onion, &port, &n, first) != 4 || port > 65535)
		return 0;
	target->port = (uint16_t)port;
	if (domain)
		snprintf(domain, 256, "%s", first);
	if (ndomains)
		*ndomains = n;
	return 1;
}
