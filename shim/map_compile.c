/* Compiling a map source into the cdb the library reads (onionmx-map). */
#include "map.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "ascii.h"
#include "fnv.h"

#define MAP_MAX_SOURCE (1024L * 1024 * 1024)

/* Hash tables of indices into dense arrays: compact, so a million-domain map
 * compiles without touching hundreds of megabytes. A slot holds the entry's
 * hash's top 32 bits beside its index, so a probe past another key reads no
 * entry (each would be a cache miss: most of a 1M-domain compile's time). */
struct index_table {
	uint64_t *slots; /* 0: empty, else hash >> 32 << 32 | (index + 1) */
	size_t cap;
};

static uint64_t slot_of(uint64_t hash, size_t index)
{
	return (hash >> 32) << 32 | (uint64_t)(index + 1);
}

struct domain_entry {
	uint64_t hash;
	const char *name;       /* normalised, NUL-terminated, inside the source text */
	unsigned line;
	uint32_t targets;       /* its onions' indices: compile.targets[targets ...] */
	unsigned ntargets;
};

struct onion_entry {
	uint64_t hash;
	char label[OMX_ONION_LABEL_LEN + 1];
	uint16_t port;
	unsigned line;          /* where its port was first given */
	unsigned ndomains;
	const char *first_domain;
	uint32_t addr;          /* nonzero before assignment: kept from the old map */
	uint32_t index;         /* order of first appearance (domains name onions by it) */
};

/* An address of the map being replaced: an onion's, or a tombstone's. */
struct old_addr {
	uint32_t addr;
	int keep;               /* tombstone to write into the new map */
	char label[OMX_ONION_LABEL_LEN]; /* lower case, no NUL */
	int64_t freed;          /* 0: the onion had it until now */
};

/* The map being replaced (OUT, when it exists). */
struct old_map {
	struct cdb cdb;         /* mapped; cdb_mem NULL when there is none */
	struct omx_map map;     /* the same mapping, for lookups (format 2 and 3) */
	int vouches;            /* format 3: its onions' keys were checked (old_map_vouches) */
	uint32_t net, mask;
	unsigned nold;
	struct omx_map_old_range old[OMX_MAP_MAX_OLD_RANGES];
	struct old_addr *addrs;
	size_t n, cap;
};

struct entries {
	void *items;
	size_t count, cap, size;
	struct index_table index;
};

static uint64_t str_hash(const char *s, size_t n)
{
	uint64_t h = omx_fnv1a64(OMX_FNV64_OFFSET, s, n);

	return h ^ (h >> 29);
}

uint64_t omx_map_onion_order(const char *label)
{
	return str_hash(label, OMX_ONION_LABEL_LEN);
}

static void *entry_at(const struct entries *e, size_t i)
{
	return (char *)e->items + i * e->size;
}

/* Makes room for one more entry (array and index). Returns -1 without memory. */
static int entries_reserve(struct entries *e)
{
	if (e->count == e->cap) {
		size_t cap = e->cap ? e->cap * 2 : 1024;
		void *items = realloc(e->items, cap * e->size);
		if (!items)
			return -1;
		e->items = items;
		e->cap = cap;
	}
	if ((e->count + 1) * 10 > e->index.cap * 7) {
		size_t cap = e->index.cap ? e->index.cap * 2 : 2048;
		/* Written now, not calloc()'s zero pages: a first write to one of
		 * those after a read costs a copy and, while the precheck thread
		 * runs, a TLB shootdown of the other core. */
		uint64_t *slots = malloc(cap * sizeof(*slots));
		if (!slots)
			return -1;
		memset(slots, 0, cap * sizeof(*slots));
		for (size_t i = 0; i < e->count; i++) {
			uint64_t h = *(const uint64_t *)entry_at(e, i); /* hash comes first */
			size_t j = h & (cap - 1);
			while (slots[j])
				j = (j + 1) & (cap - 1);
			slots[j] = slot_of(h, i);
		}
		free(e->index.slots);
		e->index.slots = slots;
		e->index.cap = cap;
	}
	return 0;
}

/* Finds the entry with HASH for which SAME(entry, KEY) holds, or the empty
 * slot where it would go (*SLOT). Returns the entry or NULL. */
static void *entries_find(struct entries *e, uint64_t hash, const void *key,
			  int (*same)(const void *entry, const void *key), size_t *slot)
{
	size_t j = hash & (e->index.cap - 1);
	uint64_t tag = hash >> 32;

	for (uint64_t s; (s = e->index.slots[j]); j = (j + 1) & (e->index.cap - 1)) {
		void *entry;

		if (s >> 32 != tag)
			continue;
		entry = entry_at(e, (uint32_t)s - 1);
		if (*(uint64_t *)entry == hash && same(entry, key))
			return entry;
	}
	*slot = j;
	return NULL;
}

static void *entries_add(struct entries *e, size_t slot, uint64_t hash)
{
	e->index.slots[slot] = slot_of(hash, e->count);
	return entry_at(e, e->count++);
}

static void entries_free(struct entries *e)
{
	free(e->items);
	free(e->index.slots);
}

static int same_domain(const void *entry, const void *key)
{
	return strcmp(((const struct domain_entry *)entry)->name, key) == 0;
}

static int same_onion(const void *entry, const void *key)
{
	return memcmp(((const struct onion_entry *)entry)->label, key, OMX_ONION_LABEL_LEN) == 0;
}

/* Canonical order for address assignment: by hash, then label. */
static int cmp_onion(const void *a, const void *b)
{
	const struct onion_entry *x = a, *y = b;

	if (x->hash != y->hash)
		return x->hash < y->hash ? -1 : 1;
	return memcmp(x->label, y->label, OMX_ONION_LABEL_LEN);
}

/* Sorts the onions into cmp_onion's order: a radix sort of (hash, index)
 * pairs, 16 bits a pass, then runs of equal hashes by label, then the entries
 * moved into that order (qsort moving 1M entries was a fifth of a compile).
 * Returns -1 without memory. */
struct onion_key {
	uint64_t hash;
	size_t index;
};

static int sort_onions(struct entries *e)
{
	size_t n = e->count, *count = calloc(65536, sizeof(*count));
	struct onion_key *a = malloc(n * sizeof(*a)), *b = malloc(n * sizeof(*b)), *t;
	struct onion_entry *items = e->items, *sorted = malloc(n * sizeof(*sorted));
	int rc = -1;

	if (!count || !a || !b || !sorted)
		goto out;
	for (size_t i = 0; i < n; i++) {
		a[i].hash = items[i].hash;
		a[i].index = i;
	}
	for (int shift = 0; shift < 64; shift += 16) {
		size_t sum = 0;

		memset(count, 0, 65536 * sizeof(*count));
		for (size_t i = 0; i < n; i++)
			count[(a[i].hash >> shift) & 0xffff]++;
		for (size_t d = 0; d < 65536; d++) {
			size_t c = count[d];

			count[d] = sum;
			sum += c;
		}
		for (size_t i = 0; i < n; i++)
			b[count[(a[i].hash >> shift) & 0xffff]++] = a[i];
		t = a;
		a = b;
		b = t;
	}
	/* Equal hashes (rare): insertion sort of each run by label. */
	for (size_t i = 1; i < n; i++) {
		struct onion_key k = a[i];
		size_t j = i;

		while (j > 0 && a[j - 1].hash == k.hash &&
		       cmp_onion(&items[a[j - 1].index], &items[k.index]) > 0) {
			a[j] = a[j - 1];
			j--;
		}
		a[j] = k;
	}
	for (size_t i = 0; i < n; i++)
		sorted[i] = items[a[i].index];
	free(e->items);
	e->items = sorted;
	e->cap = n;
	sorted = NULL;
	rc = 0;
out:
	free(count);
	free(a);
	free(b);
	free(sorted);
	return rc;
}

__attribute__((format(printf, 3, 4)))
static int fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return -1;
}

static int bit_get(const uint8_t *bits, uint32_t off)
{
	return bits[off / 8] & (1u << (off % 8));
}

static void bit_set(uint8_t *bits, uint32_t off)
{
	bits[off / 8] |= (uint8_t)(1u << (off % 8));
}

static int cmp_old_addr(const void *a, const void *b)
{
	const struct old_addr *x = a, *y = b;

	return x->addr < y->addr ? -1 : x->addr > y->addr;
}

/* Sorts the old map's addresses into cmp_old_addr's order: a radix sort, 16
 * bits a pass (addresses are distinct). Returns -1 without memory. */
static int sort_old_addrs(struct old_map *om)
{
	size_t n = om->n, *count = calloc(65536, sizeof(*count));
	struct old_addr *a = om->addrs, *b = malloc(n * sizeof(*b)), *t;

	if (!count || !b) {
		free(count);
		free(b);
		return -1;
	}
	for (int shift = 0; shift < 32; shift += 16) {
		size_t sum = 0;

		memset(count, 0, 65536 * sizeof(*count));
		for (size_t i = 0; i < n; i++)
			count[(a[i].addr >> shift) & 0xffff]++;
		for (size_t d = 0; d < 65536; d++) {
			size_t c = count[d];

			count[d] = sum;
			sum += c;
		}
		for (size_t i = 0; i < n; i++)
			b[count[(a[i].addr >> shift) & 0xffff]++] = a[i];
		t = a;
		a = b;
		b = t;
	}
	/* An even number of passes: the sorted entries are back in om->addrs. */
	free(b);
	free(count);
	return 0;
}

/* The range being assigned: which addresses are taken, which hold a tombstone. */
struct addr_table {
	uint8_t *used, *tomb;
	uint32_t net, mask;
};

/* Marks the old map's tombstones, taken while unexpired; then the addresses
 * kept onions bring from it. Returns the number of tombstones, or -1. */
static long mark_old_addresses(struct addr_table *t, const struct onion_entry *onions, size_t n,
			       const struct old_map *om, int64_t now, char *err, size_t errlen)
{
	long ntombs = 0;

	for (size_t i = 0; i < om->n; i++) {
		const struct old_addr *o = &om->addrs[i];

		if (!o->keep)
			continue;
		bit_set(t->tomb, o->addr - t->net);
		ntombs++;
		if (o->freed + OMX_MAP_RETIRE_SECONDS > now)
			bit_set(t->used, o->addr - t->net);
	}
	for (size_t i = 0; i < n; i++)
		if (onions[i].addr) {
			if (bit_get(t->used, onions[i].addr - t->net))
				return fail(err, errlen, "the existing map gives two onions one address: move it away and rebuild");
			bit_set(t->used, onions[i].addr - t->net);
		}
	return ntombs;
}

/* A reader finds a kept onion by walking its probe sequence: every address
 * before its own must stay taken (an expired tombstone there is kept as a
 * bridge). */
static int keep_probe_path(struct addr_table *t, const struct onion_entry *o,
			   const struct old_map *om, char *err, size_t errlen)
{
	for (unsigned attempt = 0; attempt < OMX_MAP_MAX_PROBES; attempt++) {
		uint32_t a = omx_addr_candidate(o->label, t->net, t->mask, attempt);
		struct old_addr probe = { .addr = a };

		if (a == o->addr)
			return 0;
		if (bit_get(t->used, a - t->net))
			continue;
		if (!bit_get(t->tomb, a - t->net) ||
		    !bsearch(&probe, om->addrs, om->n, sizeof(*om->addrs), cmp_old_addr))
			break;
		bit_set(t->used, a - t->net);
	}
	return fail(err, errlen, "the existing map's address for %s.onion is not on its probe path: move the map away and rebuild",
		    o->label);
}

/* Each new onion gets the first free address of its own probe sequence. Each
 * onion's first candidate is a cache miss in the bitmap: computed AHEAD onions
 * in advance, and asked for then. */
static int place_new_onions(struct addr_table *t, struct onion_entry *onions, size_t n, char *err,
			    size_t errlen)
{
	enum { AHEAD = 8 };
	uint32_t first[AHEAD];

	for (size_t i = 0; i < n && i < AHEAD; i++)
		first[i] = omx_addr_candidate(onions[i].label, t->net, t->mask, 0);
	for (size_t i = 0; i < n; i++) {
		unsigned attempt;
		uint32_t a0 = first[i % AHEAD];

		if (i + AHEAD < n) {
			first[i % AHEAD] = omx_addr_candidate(onions[i + AHEAD].label, t->net, t->mask, 0);
			__builtin_prefetch(t->used + (first[i % AHEAD] - t->net) / 8);
		}
		if (onions[i].addr)
			continue;
		for (attempt = 0; attempt < OMX_MAP_MAX_PROBES; attempt++) {
			uint32_t a = attempt ? omx_addr_candidate(onions[i].label, t->net, t->mask, attempt) : a0;

			if (!bit_get(t->used, a - t->net)) {
				bit_set(t->used, a - t->net);
				onions[i].addr = a;
				break;
			}
		}
		if (attempt == OMX_MAP_MAX_PROBES)
			return fail(err, errlen, "no free address for %s.onion (use a larger range with -r)",
				    onions[i].label);
	}
	return 0;
}

/* Gives each onion an address: those of the old map keep theirs; tombstones not
 * yet expired, and expired ones still on a kept onion's probe path, stay taken;
 * then each new onion (sorted, so the result does not depend on line order)
 * gets the first free address of its own probe sequence. */
static int assign_addresses(struct onion_entry *onions, size_t n, struct old_map *om,
			    uint32_t net, uint32_t mask, int64_t now, char *err, size_t errlen)
{
	uint64_t span = (uint64_t)(~mask) + 1;
	struct addr_table t = { calloc((size_t)(span / 8), 1), calloc((size_t)(span / 8), 1), net, mask };
	long ntombs;
	int rc = -1;

	if (!t.used || !t.tomb) {
		fail(err, errlen, "out of memory for the address table");
		goto out;
	}
	if (om->n && sort_old_addrs(om) != 0) {
		fail(err, errlen, "out of memory");
		goto out;
	}
	if ((ntombs = mark_old_addresses(&t, onions, n, om, now, err, errlen)) < 0)
		goto out;
	for (size_t i = 0; i < n; i++)
		if (onions[i].addr && keep_probe_path(&t, &onions[i], om, err, errlen) != 0)
			goto out;
	/* Tombstones kept: unexpired, or on a path. An expired one's address is
	 * free from here on. */
	for (size_t i = 0; i < om->n; i++)
		om->addrs[i].keep = om->addrs[i].keep && bit_get(t.used, om->addrs[i].addr - net);
	if (n + (size_t)ntombs > span / 256 * 254 / 2) {
		fail(err, errlen, "%zu onions and %zu retired addresses do not fit comfortably in the address range "
		     "(use a larger range with -r)", n, (size_t)ntombs);
		goto out;
	}
	rc = place_new_onions(&t, onions, n, err, errlen);
out:
	free(t.used);
	free(t.tomb);
	return rc;
}

/* Adds KEY -> BODY followed by its CHECK (4 bytes, little-endian; BODY has
 * room for it). */
static int add_checked(struct cdb_make *cm, const char *key, unsigned klen, char *body,
		       size_t blen)
{
	uint32_t check = htole32(omx_map_record_check(key, klen, body, blen));

	memcpy(body + blen, &check, 4);
	return cdb_make_add(cm, key, klen, body, (unsigned)blen + 4);
}

static void put_be(char *p, uint64_t v, int bytes)
{
	for (int i = bytes - 1; i >= 0; i--, v >>= 8)
		p[i] = (char)(v & 0xff);
}

static int write_onions(struct cdb_make *cm, const struct onion_entry *onions, size_t n,
			const struct old_map *om)
{
	for (size_t i = 0; i < n; i++) {
		const struct onion_entry *o = &onions[i];
		char akey[6];
		char val[1 + OMX_MAP_ONION_RAW + 6 + 256 + 4];
		size_t vlen = 1 + OMX_MAP_ONION_RAW, dlen;

		/* The onions are in hash order, their first domains all over the
		 * source text: ask for one a few entries ahead (a cache miss each). */
		if (i + 8 < n)
			__builtin_prefetch(onions[i + 8].first_domain);
		dlen = strlen(o->first_domain);
		/* "o" ONION35 PORT2 NDOMAINS4 FIRSTDOMAIN (the label was checked: it decodes) */
		val[0] = 'o';
		if (omx_map_onion_raw(o->label, (uint8_t *)val + 1) != 0)
			return -1;
		put_be(val + vlen, o->port, 2);
		put_be(val + vlen + 2, o->ndomains, 4);
		vlen += 6;
		memcpy(val + vlen, o->first_domain, dlen);
		vlen += dlen;
		omx_map_addr_key(o->addr, akey);
		if (add_checked(cm, akey, sizeof(akey), val, vlen) != 0)
			return -1;
	}
	for (size_t i = 0; i < om->n; i++) {
		const struct old_addr *t = &om->addrs[i];
		char akey[6];
		char val[1 + OMX_MAP_ONION_RAW + 8 + 4];

		if (!t->keep)
			continue;
		omx_map_addr_key(t->addr, akey);
		/* "t" ONION35 FREED8 */
		val[0] = 't';
		if (omx_map_onion_raw(t->label, (uint8_t *)val + 1) != 0)
			return -1;
		put_be(val + 1 + OMX_MAP_ONION_RAW, (uint64_t)t->freed, 8);
		if (add_checked(cm, akey, sizeof(akey), val, 1 + OMX_MAP_ONION_RAW + 8) != 0)
			return -1;
	}
	return 0;
}

static void old_map_free(struct old_map *om)
{
	if (om->cdb.cdb_mem)
		cdb_free(&om->cdb);
	free(om->addrs);
}

/* Whether the map being replaced vouches for onion LABEL (lower case, 56
 * characters) being valid, checksum and ed25519 key, so that a rebuild need
 * not check its key again (40 us an onion: most of a rebuild of a map of
 * distinct onions). It does when it is of format 3 and holds LABEL as an
 * onion's record (not a tombstone): format 3 is written only by an
 * onionmx-map that checks every onion's checksum and key before it writes its
 * record; the map was verified whole against its sum (open_old_v2) and is
 * the one installed at OUT (root's, replaced only by rename); the record's 35
 * bytes equal LABEL's decoded bytes exactly. A format-2 map may come from an
 * onionmx-map without the key check, and a tombstone may have been carried
 * from one: neither vouches. Thread-safe (lookups only read). */
static int old_map_vouches(const struct old_map *om, const char *label)
{
	uint32_t addr;

	return om && om->vouches &&
	       omx_map_onion_addr(&om->map, label, OMX_ONION_LABEL_LEN, &addr) == 1;
}

/* Reads the map OUT is about to replace, if any: its range, previous ranges and
 * every address it gives out (onions' and tombstones'). A map of format 1 (no
 * checksums) is read as it is; a damaged one of format 2 is an error. */
#define OLD_MAP_DAMAGED "%s: the existing map is damaged: move it away to build afresh"

/* A version 1 map (before the header had checksums): its range from the header. */
static int open_old_v1(struct old_map *om, int fd, const char *out, char *err, size_t errlen)
{
	char meta[64], range[48];
	unsigned vlen;

	if (cdb_init(&om->cdb, fd) != 0 || cdb_find(&om->cdb, "!onionmx", 8) <= 0 ||
	    (vlen = cdb_datalen(&om->cdb)) >= sizeof(meta))
		return fail(err, errlen, OLD_MAP_DAMAGED, out);
	memcpy(meta, cdb_getdata(&om->cdb), vlen);
	meta[vlen] = '\0';
	if (sscanf(meta, "1 %47s", range) != 1 || omx_parse_range(range, &om->net, &om->mask) != 0)
		return fail(err, errlen, OLD_MAP_DAMAGED, out);
	return 0;
}

/* A current map: opened and verified as a reader would, its ranges kept. */
static int open_old_v2(struct old_map *om, int fd, const char *out, char *err, size_t errlen)
{
	struct omx_map m;
	char msg[512];

	if (omx_map_open_fd(&m, fd, out, msg, sizeof(msg)) != 0 ||
	    omx_map_verify(&m, out, msg, sizeof(msg)) != 0) {
		if (m.cdb.cdb_mem)
			omx_map_close(&m);
		return fail(err, errlen, "%s; its onions' addresses cannot be kept: move it away to build afresh",
			    msg);
	}
	om->map = m;
	om->cdb = m.cdb;
	om->vouches = m.version == 3;
	om->net = m.net;
	om->mask = m.mask;
	om->nold = m.nold;
	memcpy(om->old, m.old, sizeof(m.old));
	return 0;
}

/* Records the address record K (6 bytes, "a:" and the address) with value V
 * (VL bytes, CHECK included): an onion's, or a tombstone ("- LABEL FREED" in
 * version 2, "t" ONION35 FREED8 in version 3). */
static int add_old_addr(struct old_map *om, unsigned version, const char *k, const char *v,
			unsigned vl, const char *out, char *err, size_t errlen)
{
	struct old_addr *a;

	if (om->n == om->cap) {
		size_t cap = om->cap ? om->cap * 2 : 1024;
		struct old_addr *grown = realloc(om->addrs, cap * sizeof(*grown));
		if (!grown)
			return fail(err, errlen, "out of memory");
		om->addrs = grown;
		om->cap = cap;
	}
	a = &om->addrs[om->n];
	if (version == 1)
		a->addr = (uint32_t)(unsigned char)k[2] << 24 | (uint32_t)(unsigned char)k[3] << 16 |
			  (uint32_t)(unsigned char)k[4] << 8 | (unsigned char)k[5];
	else
		a->addr = omx_map_key_addr(k);
	a->keep = 1;
	a->freed = 0;
	if (version == 3) {
		char label[OMX_ONION_LABEL_LEN + 1];

		if (vl == 1 + OMX_MAP_ONION_RAW + 8 + 4 && v[0] == 't') {
			uint64_t freed = 0;

			for (int i = 0; i < 8; i++)
				freed = freed << 8 | (unsigned char)v[1 + OMX_MAP_ONION_RAW + i];
			a->freed = freed > 0 && freed < (1ull << 62) ? (int64_t)freed : 1;
		} else if (vl < 1 + OMX_MAP_ONION_RAW + 7 + 4 || v[0] != 'o') {
			return fail(err, errlen, OLD_MAP_DAMAGED, out);
		}
		omx_map_onion_text((const uint8_t *)v + 1, label);
		memcpy(a->label, label, OMX_ONION_LABEL_LEN);
	} else if (vl > 2 + OMX_ONION_LABEL_LEN && v[0] == '-' && version == 2) {
		memcpy(a->label, v + 2, OMX_ONION_LABEL_LEN);
		a->freed = strtoll(v + 3 + OMX_ONION_LABEL_LEN, NULL, 10);
		if (a->freed <= 0)
			a->freed = 1;
	} else if (vl > OMX_ONION_LABEL_LEN) {
		memcpy(a->label, v, OMX_ONION_LABEL_LEN);
	} else {
		return fail(err, errlen, OLD_MAP_DAMAGED, out);
	}
	/* Written into the new map in binary: it must decode (the old compiler
	 * checked it; a map damaged past its sum is refused here). */
	{
		uint8_t raw[OMX_MAP_ONION_RAW];

		for (int i = 0; i < OMX_ONION_LABEL_LEN; i++)
			if (a->label[i] >= 'A' && a->label[i] <= 'Z')
				return fail(err, errlen, OLD_MAP_DAMAGED, out);
		if (omx_map_onion_raw(a->label, raw) != 0)
			return fail(err, errlen, OLD_MAP_DAMAGED, out);
	}
	if ((a->addr & om->mask) != om->net)
		return fail(err, errlen, OLD_MAP_DAMAGED, out);
	om->n++;
	return 0;
}

static int read_old_map(const char *out, struct old_map *om, char *err, size_t errlen)
{
	int fd = open(out, O_RDONLY | O_CLOEXEC);
	const unsigned char *mem;
	unsigned pos, dend, version;
	char head[28];
	int rc;

	if (fd < 0) {
		if (errno == ENOENT)
			return 0;
		return fail(err, errlen, "%s: cannot read the existing map: %s", out, strerror(errno));
	}
	/* Not an onionmx map at all (garbage put in its place): no address to keep. */
	if (lseek(fd, 0, SEEK_END) < 2048 + 16 + 12 || pread(fd, head, 28, 2048) != 28 ||
	    memcmp(head, "\010\0\0\0", 4) != 0 || memcmp(head + 8, "!onionmx", 8) != 0) {
		close(fd);
		return 0;
	}
	version = memcmp(head + 16, "1 ", 2) == 0 ? 1 : memcmp(head + 16, "2 ", 2) == 0 ? 2 : 3;
	rc = version == 1 ? open_old_v1(om, fd, out, err, errlen) : open_old_v2(om, fd, out, err, errlen);
	close(fd);
	if (rc != 0)
		return -1;
	mem = om->cdb.cdb_mem;
	dend = om->cdb.cdb_dend;
	for (pos = 2048; pos + 8 <= dend;) {
		unsigned kl = cdb_unpack(mem + pos), vl = cdb_unpack(mem + pos + 4);
		const char *k = (const char *)mem + pos + 8, *v = k + kl;

		if (kl > dend - pos - 8 || vl > dend - pos - 8 - kl)
			return fail(err, errlen, OLD_MAP_DAMAGED, out);
		pos += 8 + kl + vl;
		if (kl == 6 && k[0] == 'a' && k[1] == ':' &&
		    add_old_addr(om, version, k, v, vl, out, err, errlen) != 0)
			return -1;
	}
	return 0;
}

/* Decides the new map's range and previous ranges from RANGE (NULL: keep) and the
 * old map. Fills TEXT with the header's "NET/PREFIX[ old=...]" part. */
static int plan_ranges(const char *range, struct old_map *om, int64_t now, uint32_t *net,
		       uint32_t *mask, char *text, size_t textlen, char *err, size_t errlen)
{
	struct omx_map_old_range keep[OMX_MAP_MAX_OLD_RANGES + 1];
	unsigned nkeep = 0;
	struct in_addr in;
	char a[INET_ADDRSTRLEN];
	size_t len;
	int moving;

	if (!range)
		range = om->cdb.cdb_mem ? NULL : OMX_DEFAULT_RANGE;
	if (range && omx_parse_range(range, net, mask) != 0)
		return fail(err, errlen, "range \"%s\" is not NET/PREFIX with a prefix from 4 to 24",
			    range);
	if (!range) {
		*net = om->net;
		*mask = om->mask;
	}
	moving = om->cdb.cdb_mem && (*net != om->net || *mask != om->mask);
	for (unsigned i = 0; i < om->nold; i++) {
		if (om->old[i].left + OMX_MAP_RETIRE_SECONDS <= now)
			continue; /* nobody can hold its addresses any more */
		if (omx_ranges_overlap(*net, *mask, om->old[i].net, om->old[i].mask)) {
			in.s_addr = htonl(om->old[i].net);
			inet_ntop(AF_INET, &in, a, sizeof(a));
			return fail(err, errlen, "range %s overlaps %s/%d, which the map left %lld s ago: processes may still hold its addresses for %d s after that; choose another range",
				    range ? range : "", a, 32 - __builtin_ctz(om->old[i].mask),
				    (long long)(now - om->old[i].left), OMX_MAP_RETIRE_SECONDS);
		}
		keep[nkeep++] = om->old[i];
	}
	if (moving) {
		if (omx_ranges_overlap(*net, *mask, om->net, om->mask))
			return fail(err, errlen, "range %s overlaps the existing map's: processes hold addresses of that one; choose a range that does not",
				    range);
		keep[nkeep].net = om->net;
		keep[nkeep].mask = om->mask;
		keep[nkeep++].left = now;
		om->n = 0; /* a new range: every onion gets a new address, the old ones stay refused */
	}
	if (nkeep > OMX_MAP_MAX_OLD_RANGES)
		return fail(err, errlen, "the map already keeps %d previous ranges refused for %d s after they were left: cannot move again yet",
			    OMX_MAP_MAX_OLD_RANGES, OMX_MAP_RETIRE_SECONDS);
	in.s_addr = htonl(*net);
	inet_ntop(AF_INET, &in, a, sizeof(a));
	len = (size_t)snprintf(text, textlen, "%s/%d", a, 32 - __builtin_ctz(*mask));
	for (unsigned i = 0; i < nkeep; i++) {
		in.s_addr = htonl(keep[i].net);
		inet_ntop(AF_INET, &in, a, sizeof(a));
		len += (size_t)snprintf(text + len, textlen - len, " old=%s/%d@%lld", a,
					32 - __builtin_ctz(keep[i].mask), (long long)keep[i].left);
	}
	return 0;
}

/* Onions of the new map that the old one had keep their address (a removed
 * onion coming back gets its tombstone's); every other old address becomes or
 * stays a tombstone. Runs while the onions' index is valid (before sorting). */
static void carry_addresses(struct entries *onions, struct old_map *om, int64_t now)
{
	for (int pass = 0; pass < 2; pass++)
		for (size_t i = 0; i < om->n; i++) {
			struct old_addr *a = &om->addrs[i];
			struct onion_entry *o;
			char label[OMX_ONION_LABEL_LEN + 1];
			size_t slot;

			if ((a->freed != 0) != pass || !onions->index.cap)
				continue;
			memcpy(label, a->label, OMX_ONION_LABEL_LEN);
			label[OMX_ONION_LABEL_LEN] = '\0';
			o = entries_find(onions, str_hash(label, OMX_ONION_LABEL_LEN), label, same_onion,
					 &slot);
			if (o && !o->addr) {
				o->addr = a->addr;
				a->keep = 0;
			}
		}
	for (size_t i = 0; i < om->n; i++)
		if (om->addrs[i].keep && om->addrs[i].freed == 0)
			om->addrs[i].freed = now;
}

int omx_map_compile(const char *src, const char *out, const char *range, size_t *ndomains,
		    size_t *nonions, char *err, size_t errlen)
{
	return omx_map_compile_at(src, out, range, (int64_t)time(NULL), ndomains, nonions, err,
				  errlen);
}

/* The onions' checksums (SHA3: a fifth of a large compile) on the second core.
 * The source is cut into chunks at line starts; the parse claims chunks from
 * the front, a helper thread from the back, one at a time. The helper marks
 * the valid labels of its chunks (omx_map_prechecked); when the parse finds no
 * chunk left to claim it waits for the helper, then takes its verdicts for the
 * rest. Each side reads and writes only the chunks it claimed until then; the
 * parse still checks everything else on every line, in the same order, so
 * errors and messages are the same as without the helper. */
#define PRECHECK_MIN (1u << 20)   /* smaller sources: not worth a thread */
#define PRECHECK_CHUNK (256u << 10)

struct precheck {
	struct omx_map_prechecked pre;
	struct omx_onion_memo *memo; /* the helper's own (one per thread) */
	uint8_t *bits;
	size_t *starts;         /* chunk I is [starts[I], starts[I + 1]) */
	uint32_t nchunks;
	uint64_t claims;        /* atomic: claimed from the front << 32 | from the back */
	int stop;               /* atomic: the parse failed */
	char recent[OMX_ONION_LABEL_LEN]; /* the last label found valid, as written */
	const struct old_map *om; /* the map being replaced (old_map_vouches) */
	int running;
	pthread_t thread;
};

/* Claims the next chunk from the front or the back; returns its index, or -1
 * when every chunk is taken. */
static long claim_chunk(struct precheck *pc, int front)
{
	uint64_t c = __atomic_load_n(&pc->claims, __ATOMIC_ACQUIRE), next;

	do {
		if ((c >> 32) + (uint32_t)c >= pc->nchunks)
			return -1;
		next = front ? c + (1ull << 32) : c + 1;
	} while (!__atomic_compare_exchange_n(&pc->claims, &c, next, 0, __ATOMIC_ACQ_REL,
					      __ATOMIC_ACQUIRE));
	return front ? (long)(c >> 32) : (long)(pc->nchunks - 1 - (uint32_t)c);
}

static int blank(char c)
{
	return c == ' ' || c == '\t' || c == '\r';
}

/* Marks the valid onion labels among the targets of one source line. */
static void precheck_line(struct precheck *pc, const char *line, size_t len)
{
	const char *hash = memchr(line, '#', len);
	size_t pos = 0, end = hash ? (size_t)(hash - line) : len;
	int field = 0;

	while (pos < end) {
		const char *tok, *colon, *label;
		size_t name_len, label_len, off;

		while (pos < end && blank(line[pos]))
			pos++;
		if (pos == end)
			break;
		tok = line + pos;
		while (pos < end && !blank(line[pos]))
			pos++;
		if (field++ == 0)
			continue; /* the domain */
		colon = memchr(tok, ':', (size_t)(line + pos - tok));
		name_len = colon ? (size_t)(colon - tok) : (size_t)(line + pos - tok);
		label = omx_onion_label(tok, name_len, &label_len);
		if (label != tok || label_len != OMX_ONION_LABEL_LEN)
			continue;
		if (memcmp(label, pc->recent, OMX_ONION_LABEL_LEN) != 0) {
			char lower[OMX_ONION_LABEL_LEN + 1];

			omx_ascii_lower_copy(lower, label, OMX_ONION_LABEL_LEN);
			if (!old_map_vouches(pc->om, lower) &&
			    omx_onion_check_key_memo(label, label_len, pc->memo) != OMX_ONION_OK)
				continue;
			memcpy(pc->recent, label, OMX_ONION_LABEL_LEN);
		}
		off = (size_t)(label - pc->pre.text);
		pc->bits[off / 8] |= (uint8_t)(1u << (off % 8));
	}
}

static void *precheck_run(void *arg)
{
	struct precheck *pc = arg;
	long c;

	while (!__atomic_load_n(&pc->stop, __ATOMIC_RELAXED) && (c = claim_chunk(pc, 0)) >= 0) {
		const char *text = pc->pre.text;
		size_t pos = pc->starts[c], end = pc->starts[c + 1];

		while (pos < end) {
			const char *nl = memchr(text + pos, '\n', end - pos);
			size_t e = nl ? (size_t)(nl - text) : end;

			precheck_line(pc, text + pos, e - pos);
			pos = e + 1;
		}
	}
	return NULL;
}

/* Starts the helper on TEXT (LEN bytes) when it is worth it; without memory or
 * a thread the parse simply checks everything itself. */
static void precheck_start(struct precheck *pc, const char *text, size_t len,
			   const struct old_map *om)
{
	memset(pc, 0, sizeof(*pc));
	pc->om = om;
	if (len < PRECHECK_MIN)
		return;
	pc->nchunks = (uint32_t)((len + PRECHECK_CHUNK - 1) / PRECHECK_CHUNK);
	pc->bits = malloc(len / 8 + 1); /* written now: see entries_reserve */
	if (pc->bits)
		memset(pc->bits, 0, len / 8 + 1);
	pc->memo = calloc(1, sizeof(*pc->memo));
	pc->starts = malloc((pc->nchunks + 1) * sizeof(*pc->starts));
	if (!pc->bits || !pc->memo || !pc->starts || omx_onion_memo_init(pc->memo, len / 64) != 0)
		return;
	pc->starts[0] = 0;
	for (uint32_t i = 1; i < pc->nchunks; i++) {
		size_t from = (size_t)i * PRECHECK_CHUNK;
		const char *nl;

		if (from < pc->starts[i - 1])
			from = pc->starts[i - 1];
		nl = from ? memchr(text + from - 1, '\n', len - from + 1) : NULL;
		pc->starts[i] = nl ? (size_t)(nl - text) + 1 : len;
	}
	pc->starts[pc->nchunks] = len;
	pc->pre.text = text;
	pc->pre.len = len;
	pc->pre.bits = pc->bits;
	pc->running = pthread_create(&pc->thread, NULL, precheck_run, pc) == 0;
}

/* Waits for the helper (telling it to stop first if STOP). */
static void precheck_join(struct precheck *pc, int stop)
{
	if (!pc->running)
		return;
	if (stop)
		__atomic_store_n(&pc->stop, 1, __ATOMIC_RELAXED);
	pthread_join(pc->thread, NULL);
	pc->running = 0;
}

static void precheck_free(struct precheck *pc)
{
	precheck_join(pc, 1);
	free(pc->bits);
	free(pc->starts);
	if (pc->memo)
		omx_onion_memo_free(pc->memo);
	free(pc->memo);
	pc->bits = NULL;
	pc->starts = NULL;
	pc->memo = NULL;
}

/* Fills in the header's checksums of the finished cdb on FD (SIZE bytes). */
static int seal(int fd, off_t size)
{
	unsigned char *mem;
	unsigned vlen;
	char hex[17];
	const char *toc;

	if (size < 2064 + 43 || size > 0xffffffffll)
		return -1;
	mem = mmap(NULL, (size_t)size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (mem == MAP_FAILED)
		return -1;
	/* Mark the empty slots (see map.h). */
	for (unsigned t = 0; t < 256; t++) {
		unsigned pos = cdb_unpack(mem + 8 * t), n = cdb_unpack(mem + 8 * t + 4);

		if (pos > size || n > ((size_t)size - pos) / 8)
			goto fail;
		for (unsigned i = 0; i < n; i++) {
			unsigned char *slot = mem + pos + 8 * i;

			if (cdb_unpack(slot + 4) == 0) {
				cdb_pack(omx_map_empty_slot(t, i), slot);
				cdb_pack(1, slot + 4);
			}
		}
	}
	vlen = cdb_unpack(mem + 2052);
	toc = (const char *)mem + 2064 + vlen - 41;
	snprintf(hex, sizeof(hex), "%016llx",
		 (unsigned long long)omx_map_toc_sum(mem, (const char *)mem + 2064, (size_t)(toc - 1 - (const char *)mem - 2064)));
	memcpy((char *)toc + 4, hex, 16);
	snprintf(hex, sizeof(hex), "%016llx",
		 (unsigned long long)omx_map_file_sum(mem, (size_t)size, (size_t)(toc + 25 - (const char *)mem)));
	memcpy((char *)toc + 25, hex, 16);
	if (msync(mem, (size_t)size, MS_SYNC) != 0)
		goto fail;
	return munmap(mem, (size_t)size);
fail:
	munmap(mem, (size_t)size);
	return -1;
}

/* One compile: the source, the file being written and what was read so far. */
struct compile {
	const char *src;
	char *err;
	size_t errlen;
	char *text;             /* the source; parsed domains are kept in it */
	size_t len, pos;
	unsigned line;
	char *tmp;              /* the file being written, renamed to OUT at the end */
	int fd, making;
	struct cdb_make cm;
	struct entries domains, onions;
	uint32_t *targets;      /* the domains' onions, by index (domain_entry.targets) */
	size_t ntargets, targets_cap;
	const struct old_map *om; /* the map being replaced */
	struct precheck pc;
	struct omx_map_prechecked pre; /* the helper's verdicts once joined; recent */
	char recent[2 * OMX_ONION_LABEL_LEN];
	size_t last;            /* 1 + index of the onion added last; 0: none */
	size_t chunk_end;
};

/* Says the write of the temporary file failed, from errno; returns -1. */
static int write_failed(struct compile *c)
{
	return fail(c->err, c->errlen, "%s: write failed: %s", c->tmp, strerror(errno));
}

/* Creates the temporary file beside OUT and writes its first record (the
 * checksums are filled in once the file is complete). */
static int open_output(struct compile *c, const char *out, const char *ranges)
{
	char meta[512];

	if (asprintf(&c->tmp, "%s.tmpXXXXXX", out) < 0) {
		c->tmp = NULL;
		return fail(c->err, c->errlen, "out of memory");
	}
	c->fd = mkstemp(c->tmp);
	if (c->fd < 0)
		return fail(c->err, c->errlen, "%s: cannot create: %s", c->tmp, strerror(errno));
	if (fchmod(c->fd, 0644) != 0 || cdb_make_start(&c->cm, c->fd) != 0)
		return fail(c->err, c->errlen, "%s: %s", c->tmp, strerror(errno));
	c->making = 1;
	snprintf(meta, sizeof(meta), "%d %s toc=0000000000000000 sum=0000000000000000",
		 OMX_MAP_VERSION, ranges);
	if (cdb_make_add(&c->cm, "!onionmx", 8, meta, (unsigned)strlen(meta)) != 0)
		return write_failed(c);
	return 0;
}

/* Entering a chunk: claim it, or take the helper's verdicts from here on. */
static void claim_or_join(struct compile *c)
{
	while (c->pc.running && c->pos >= c->chunk_end) {
		long k = claim_chunk(&c->pc, 1);

		if (k >= 0) {
			c->chunk_end = c->pc.starts[k + 1];
		} else {
			precheck_join(&c->pc, 0);
			c->pre.text = c->pc.pre.text;
			c->pre.len = c->pc.pre.len;
			c->pre.bits = c->pc.pre.bits;
		}
	}
}

/* omx_map_prechecked's known() for the parse: LABEL (lower case) is valid if
 * a line before took it in (the onions' table serves as the parse's memo of
 * checked keys) or the map being rebuilt vouches for it. */
static int known_onion(void *ctx, const char *label)
{
	struct compile *c = ctx;
	size_t slot;

	return (c->onions.index.cap &&
		entries_find(&c->onions, str_hash(label, OMX_ONION_LABEL_LEN), label, same_onion, &slot)) ||
	       old_map_vouches(c->om, label);
}

/* Records DOMAIN (normalised, kept at STORED) from the current line; a
 * duplicate is an error naming both lines. Its onions follow (add_onion). */
static int add_domain(struct compile *c, const char *stored, size_t dlen)
{
	uint64_t hash = str_hash(stored, dlen);
	struct domain_entry *d;
	size_t slot;

	if (entries_reserve(&c->domains) != 0)
		return fail(c->err, c->errlen, "out of memory");
	if ((d = entries_find(&c->domains, hash, stored, same_domain, &slot)))
		return fail(c->err, c->errlen, "%s:%u: duplicate entry for \"%s\" (first at line %u)",
			    c->src, c->line, stored, d->line);
	d = entries_add(&c->domains, slot, hash);
	d->hash = hash;
	d->name = stored;
	d->line = c->line;
	d->targets = (uint32_t)c->ntargets;
	d->ntargets = 0;
	return 0;
}

/* Records the onion of target T for the domain at STORED: an onion keeps the
 * port it was first given (an MX record cannot carry a port). */
static int add_onion(struct compile *c, const struct omx_target *t, const char *stored)
{
	struct onion_entry *o;
	size_t slot;

	if (entries_reserve(&c->onions) != 0)
		return fail(c->err, c->errlen, "out of memory");
	if (c->ntargets == c->targets_cap) {
		size_t cap = c->targets_cap ? c->targets_cap * 2 : 4096;
		uint32_t *grown = realloc(c->targets, cap * sizeof(*grown));

		if (!grown)
			return fail(c->err, c->errlen, "out of memory");
		c->targets = grown;
		c->targets_cap = cap;
	}
	/* A source lists an onion's domains together: the onion added last
	 * again needs no hash and no hash-table probe. */
	o = c->last ? entry_at(&c->onions, c->last - 1) : NULL;
	if (!o || !same_onion(o, t->onion)) {
		uint64_t oh = str_hash(t->onion, OMX_ONION_LABEL_LEN);

		o = entries_find(&c->onions, oh, t->onion, same_onion, &slot);
		if (!o) {
			o = entries_add(&c->onions, slot, oh);
			memset(o, 0, sizeof(*o));
			o->hash = oh;
			o->index = (uint32_t)(c->onions.count - 1);
			memcpy(o->label, t->onion, sizeof(o->label));
		}
	}
	c->last = (size_t)o->index + 1;
	c->targets[c->ntargets++] = o->index;
	((struct domain_entry *)entry_at(&c->domains, c->domains.count - 1))->ntargets++;
	if (o->ndomains == 0) {
		o->port = t->port;
		o->line = c->line;
		o->first_domain = stored;
	} else if (o->port != t->port) {
		char here[16] = "no port", there[16] = "no port";

		if (t->port)
			snprintf(here, sizeof(here), "port %u", t->port);
		if (o->port)
			snprintf(there, sizeof(there), "port %u", o->port);
		return fail(c->err, c->errlen,
			    "%s:%u: %s.onion has %s here but %s at line %u (an MX record cannot carry a port, so each onion has one)",
			    c->src, c->line, o->label, here, there, o->line);
	}
	o->ndomains++;
	return 0;
}

/* Parses the line at c->pos and records its domain and onions (the domain's
 * record names their addresses: written once they are assigned); moves c->pos
 * past it. */
static int compile_line(struct compile *c)
{
	const char *nl = memchr(c->text + c->pos, '\n', c->len - c->pos);
	size_t end = nl ? (size_t)(nl - c->text) : c->len;
	char domain[256];
	struct omx_target targets[OMX_MAP_MAX_TARGETS];
	char msg[512], *stored;
	size_t dlen;
	int nt, r;

	c->line++;
	if (end - c->pos > OMX_MAP_MAX_LINE)
		return fail(c->err, c->errlen, "%s:%u: line longer than %d bytes", c->src, c->line,
			    OMX_MAP_MAX_LINE);
	r = omx_map_parse_line_pre(c->text + c->pos, end - c->pos, domain, targets, &nt, msg,
				   sizeof(msg), &c->pre, NULL);
	if (r < 0)
		return fail(c->err, c->errlen, "%s:%u: %s", c->src, c->line, msg);
	if (r == 0) {
		c->pos = end + 1;
		return 0;
	}
	/* Keep the normalised domain in the text itself, over the line just
	 * parsed: it is never longer than what it replaces. */
	dlen = strlen(domain);
	stored = c->text + c->pos;
	memcpy(stored, domain, dlen + 1);
	c->pos = end + 1;
	if (add_domain(c, stored, dlen) != 0)
		return -1;
	for (int i = 0; i < nt; i++)
		if (add_onion(c, &targets[i], stored) != 0)
			return -1;
	return 0;
}

/* Writes each domain's record, in source order: "d:" DOMAIN -> its onions'
 * addresses (the onions are sorted and placed by now). */
static int write_domains(struct compile *c)
{
	const struct onion_entry *onions = c->onions.items;
	size_t n = c->onions.count;
	uint32_t *addr_of = malloc((n ? n : 1) * sizeof(*addr_of));
	char dkey[2 + 256], value[4 * OMX_MAP_MAX_TARGETS + 4];

	if (!addr_of)
		return fail(c->err, c->errlen, "out of memory");
	for (size_t i = 0; i < n; i++)
		addr_of[onions[i].index] = onions[i].addr;
	memcpy(dkey, "d:", 2);
	for (size_t i = 0; i < c->domains.count; i++) {
		const struct domain_entry *d = entry_at(&c->domains, i);
		size_t dlen = strlen(d->name);

		memcpy(dkey + 2, d->name, dlen);
		for (unsigned t = 0; t < d->ntargets; t++)
			put_be(value + 4 * t, addr_of[c->targets[d->targets + t]], 4);
		if (add_checked(&c->cm, dkey, (unsigned)(2 + dlen), value, 4 * d->ntargets) != 0) {
			free(addr_of);
			return write_failed(c);
		}
	}
	free(addr_of);
	return 0;
}

/* Ends the cdb, seals and syncs it, reads it back as onionmx -t would and
 * renames it to OUT, durably. */
static int install_output(struct compile *c, const char *out)
{
	struct omx_map check;
	off_t size;
	char *dir;

	c->making = 0;
	if (cdb_make_finish(&c->cm) != 0)
		return write_failed(c);
	if ((size = lseek(c->fd, 0, SEEK_END)) < 0 || seal(c->fd, size) != 0 || fsync(c->fd) != 0)
		return write_failed(c);
	if (omx_map_open_fd(&check, c->fd, c->tmp, c->err, c->errlen) != 0)
		return -1;
	if (omx_map_verify(&check, c->tmp, c->err, c->errlen) != 0) {
		omx_map_close(&check);
		return -1;
	}
	omx_map_close(&check);
	if (close(c->fd) != 0) {
		c->fd = -1;
		return write_failed(c);
	}
	c->fd = -1;
	if (rename(c->tmp, out) != 0)
		return fail(c->err, c->errlen, "%s: cannot replace: %s", out, strerror(errno));
	free(c->tmp);
	c->tmp = NULL;
	/* Make the rename itself durable. */
	if ((dir = strdup(out))) {
		int dfd = open(dirname(dir), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (dfd >= 0) {
			fsync(dfd);
			close(dfd);
		}
		free(dir);
	}
	return 0;
}

/* Frees what C holds; a file not installed is removed. */
static void compile_free(struct compile *c)
{
	if (c->making)
		cdb_make_finish(&c->cm); /* only to free its tables: the file is discarded */
	if (c->fd >= 0)
		close(c->fd);
	if (c->tmp) {
		unlink(c->tmp);
		free(c->tmp);
	}
	precheck_free(&c->pc);
	entries_free(&c->onions);
	entries_free(&c->domains);
	free(c->targets);
	free(c->text);
}

int omx_map_compile_at(const char *src, const char *out, const char *range, int64_t now,
		       size_t *ndomains, size_t *nonions, char *err, size_t errlen)
{
	struct compile cs = {
		.src = src, .err = err, .errlen = errlen, .fd = -1,
		.domains = { .size = sizeof(struct domain_entry) },
		.onions = { .size = sizeof(struct onion_entry) },
	};
	struct compile *c = &cs;
	struct old_map om = { 0 };

	c->pre.recent = c->recent;
	char ranges[300];
	uint32_t net, mask;
	size_t n;
	int rc = -1;

	if (read_old_map(out, &om, err, errlen) != 0 ||
	    plan_ranges(range, &om, now, &net, &mask, ranges, sizeof(ranges), err, errlen) != 0) {
		old_map_free(&om);
		return -1;
	}
	c->text = omx_read_file(src, MAP_MAX_SOURCE, 0, &c->len, err, errlen);
	if (!c->text || open_output(c, out, ranges) != 0)
		goto out;
	/* Room for every distinct onion (a line is over 64 bytes); without
	 * memory every line's key is checked. */
	precheck_start(&c->pc, c->text, c->len, &om);
	c->om = &om;
	c->pre.known = known_onion;
	c->pre.known_ctx = c;
	while (c->pos < c->len) {
		claim_or_join(c);
		if (compile_line(c) != 0)
			goto out;
	}
	precheck_free(&c->pc);
	carry_addresses(&c->onions, &om, now);
	/* The index is no longer needed; sorting the entries themselves is fine. */
	n = c->onions.count;
	if (n && sort_onions(&c->onions) != 0) {
		fail(err, errlen, "out of memory");
		goto out;
	}
	if (assign_addresses(c->onions.items, n, &om, net, mask, now, err, errlen) != 0)
		goto out;
	if (write_domains(c) != 0 || write_onions(&c->cm, c->onions.items, n, &om) != 0) {
		write_failed(c);
		goto out;
	}
	if (install_output(c, out) != 0)
		goto out;
	*ndomains = c->domains.count;
	*nonions = n;
	rc = 0;
out:
	compile_free(c);
	old_map_free(&om);
	return rc;
}
