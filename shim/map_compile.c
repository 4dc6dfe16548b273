/* Compiling a map source into the cdb the library reads (onionmx-map). */
#include "map.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"

#define MAP_MAX_SOURCE (1024L * 1024 * 1024)

/* Hash tables of indices into dense arrays: compact, so a million-domain map
 * compiles without touching hundreds of megabytes. */
struct index_table {
	uint32_t *slots; /* 0: empty, else index + 1 */
	size_t cap;
};

struct domain_entry {
	uint64_t hash;
	const char *name;       /* normalised, NUL-terminated, inside the source text */
	unsigned line;
};

struct onion_entry {
	uint64_t hash;
	char label[OMX_ONION_LABEL_LEN + 1];
	uint16_t port;
	unsigned line;          /* where its port was first given */
	unsigned ndomains;
	const char *first_domain;
	uint32_t addr;
};

struct entries {
	void *items;
	size_t count, cap, size;
	struct index_table index;
};

static uint64_t str_hash(const char *s, size_t n)
{
	uint64_t h = 0xcbf29ce484222325ull;

	for (size_t i = 0; i < n; i++) {
		h ^= (unsigned char)s[i];
		h *= 0x100000001b3ull;
	}
	return h ^ (h >> 29);
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
		uint32_t *slots = calloc(cap, sizeof(*slots));
		if (!slots)
			return -1;
		for (size_t i = 0; i < e->count; i++) {
			uint64_t h = *(const uint64_t *)entry_at(e, i); /* hash comes first */
			size_t j = h & (cap - 1);
			while (slots[j])
				j = (j + 1) & (cap - 1);
			slots[j] = (uint32_t)i + 1;
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

	for (; e->index.slots[j]; j = (j + 1) & (e->index.cap - 1)) {
		void *entry = entry_at(e, e->index.slots[j] - 1);
		if (*(uint64_t *)entry == hash && same(entry, key))
			return entry;
	}
	*slot = j;
	return NULL;
}

static void *entries_add(struct entries *e, size_t slot)
{
	e->index.slots[slot] = (uint32_t)e->count + 1;
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

__attribute__((format(printf, 3, 4)))
static int fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return -1;
}

/* Gives each onion (sorted, so the result does not depend on line order) the
 * first free address of its own probe sequence. */
static int assign_addresses(struct onion_entry *onions, size_t n, uint32_t net, uint32_t mask,
			    char *err, size_t errlen)
{
	uint64_t span = (uint64_t)(~mask) + 1;
	uint8_t *used = calloc((size_t)(span / 8), 1);

	if (!used)
		return fail(err, errlen, "out of memory for the address table");
	if (n > span / 256 * 254 / 2) {
		free(used);
		return fail(err, errlen, "%zu onions do not fit comfortably in the address range "
			    "(use a larger range with -r)", n);
	}
	for (size_t i = 0; i < n; i++) {
		unsigned attempt;

		for (attempt = 0; attempt < OMX_MAP_MAX_PROBES; attempt++) {
			uint32_t a = omx_addr_candidate(onions[i].label, net, mask, attempt);
			uint32_t off = a - net;

			if (!(used[off / 8] & (1u << (off % 8)))) {
				used[off / 8] |= (uint8_t)(1u << (off % 8));
				onions[i].addr = a;
				break;
			}
		}
		if (attempt == OMX_MAP_MAX_PROBES) {
			free(used);
			return fail(err, errlen, "no free address for %s.onion (use a larger range with -r)",
				    onions[i].label);
		}
	}
	free(used);
	return 0;
}

static int write_onions(struct cdb_make *cm, const struct onion_entry *onions, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		const struct onion_entry *o = &onions[i];
		char akey[6] = { 'a', ':', (char)(o->addr >> 24), (char)(o->addr >> 16),
				 (char)(o->addr >> 8), (char)o->addr };
		char val[OMX_ONION_LABEL_LEN + 32 + 256];
		int vlen = snprintf(val, sizeof(val), "%s %u %u %s", o->label, o->port, o->ndomains,
				    o->first_domain);

		if (cdb_make_add(cm, akey, sizeof(akey), val, (unsigned)vlen) != 0)
			return -1;
	}
	return 0;
}

int omx_map_compile(const char *src, const char *out, const char *range, size_t *ndomains,
		    size_t *nonions, char *err, size_t errlen)
{
	struct entries domains = { .size = sizeof(struct domain_entry) };
	struct entries onions = { .size = sizeof(struct onion_entry) };
	struct cdb_make cm;
	char *text = NULL, *tmp = NULL, *dir = NULL;
	size_t len, pos = 0, n = 0;
	unsigned line = 0;
	uint32_t net, mask;
	char meta[64];
	int fd = -1, rc = -1, making = 0;

	if (omx_parse_range(range, &net, &mask) != 0)
		return fail(err, errlen, "range \"%s\" is not NET/PREFIX with a prefix from 4 to 24",
			    range);
	text = omx_read_file(src, MAP_MAX_SOURCE, 0, &len, err, errlen);
	if (!text)
		return -1;
	if (asprintf(&tmp, "%s.tmpXXXXXX", out) < 0) {
		tmp = NULL;
		fail(err, errlen, "out of memory");
		goto out;
	}
	fd = mkstemp(tmp);
	if (fd < 0) {
		fail(err, errlen, "%s: cannot create: %s", tmp, strerror(errno));
		goto out;
	}
	if (fchmod(fd, 0644) != 0 || cdb_make_start(&cm, fd) != 0) {
		fail(err, errlen, "%s: %s", tmp, strerror(errno));
		goto out;
	}
	making = 1;
	snprintf(meta, sizeof(meta), "1 %s", range);
	if (cdb_make_add(&cm, "!onionmx", 8, meta, (unsigned)strlen(meta)) != 0)
		goto write_error;

	while (pos < len) {
		const char *nl = memchr(text + pos, '\n', len - pos);
		size_t end = nl ? (size_t)(nl - text) : len;
		char domain[256], value[OMX_MAP_MAX_TARGETS * (OMX_ONION_LABEL_LEN + 8)];
		struct omx_target targets[OMX_MAP_MAX_TARGETS];
		char msg[512], dkey[2 + 256], *stored;
		struct domain_entry *d;
		size_t vlen = 0, slot, dlen;
		uint64_t hash;
		int nt, r;

		line++;
		if (end - pos > OMX_MAP_MAX_LINE) {
			fail(err, errlen, "%s:%u: line longer than %d bytes", src, line, OMX_MAP_MAX_LINE);
			goto out;
		}
		r = omx_map_parse_line(text + pos, end - pos, domain, targets, &nt, msg, sizeof(msg));
		if (r < 0) {
			fail(err, errlen, "%s:%u: %s", src, line, msg);
			goto out;
		}
		if (r == 0) {
			pos = end + 1;
			continue;
		}
		/* Keep the normalised domain in the text itself, over the line just
		 * parsed: it is never longer than what it replaces. */
		dlen = strlen(domain);
		stored = text + pos;
		memcpy(stored, domain, dlen + 1);
		pos = end + 1;
		hash = str_hash(stored, dlen);
		if (entries_reserve(&domains) != 0) {
			fail(err, errlen, "out of memory");
			goto out;
		}
		if ((d = entries_find(&domains, hash, stored, same_domain, &slot))) {
			fail(err, errlen, "%s:%u: duplicate entry for \"%s\" (first at line %u)", src,
			     line, domain, d->line);
			goto out;
		}
		d = entries_add(&domains, slot);
		d->hash = hash;
		d->name = stored;
		d->line = line;
		for (int i = 0; i < nt; i++) {
			uint64_t oh = str_hash(targets[i].onion, OMX_ONION_LABEL_LEN);
			struct onion_entry *o;

			if (entries_reserve(&onions) != 0) {
				fail(err, errlen, "out of memory");
				goto out;
			}
			o = entries_find(&onions, oh, targets[i].onion, same_onion, &slot);
			if (!o) {
				o = entries_add(&onions, slot);
				memset(o, 0, sizeof(*o));
				o->hash = oh;
				memcpy(o->label, targets[i].onion, sizeof(o->label));
			}
			if (o->ndomains == 0) {
				o->port = targets[i].port;
				o->line = line;
				o->first_domain = stored;
			} else if (o->port != targets[i].port) {
				/* An MX record cannot carry a port: the port belongs to the onion. */
				char here[16] = "no port", there[16] = "no port";

				if (targets[i].port)
					snprintf(here, sizeof(here), "port %u", targets[i].port);
				if (o->port)
					snprintf(there, sizeof(there), "port %u", o->port);
				fail(err, errlen,
				     "%s:%u: %s.onion has %s here but %s at line %u (an MX record cannot carry a port, so each onion has one)",
				     src, line, o->label, here, there, o->line);
				goto out;
			}
			o->ndomains++;
			vlen += (size_t)sprintf(value + vlen, "%s%s", i ? " " : "", targets[i].onion);
			if (targets[i].port)
				vlen += (size_t)sprintf(value + vlen, ":%u", targets[i].port);
		}
		memcpy(dkey, "d:", 2);
		memcpy(dkey + 2, domain, strlen(domain));
		if (cdb_make_add(&cm, dkey, (unsigned)(2 + strlen(domain)), value, (unsigned)vlen) != 0)
			goto write_error;
	}

	/* The index is no longer needed; sorting the entries themselves is fine. */
	n = onions.count;
	if (n)
		qsort(onions.items, n, onions.size, cmp_onion);
	if (assign_addresses(onions.items, n, net, mask, err, errlen) != 0)
		goto out;
	if (write_onions(&cm, onions.items, n) != 0)
		goto write_error;
	making = 0;
	if (cdb_make_finish(&cm) != 0)
		goto write_error;
	if (fsync(fd) != 0)
		goto write_error;
	if (close(fd) != 0) {
		fd = -1;
		goto write_error;
	}
	fd = -1;
	if (rename(tmp, out) != 0) {
		fail(err, errlen, "%s: cannot replace: %s", out, strerror(errno));
		goto out;
	}
	free(tmp);
	tmp = NULL;
	/* Make the rename itself durable. */
	if ((dir = strdup(out))) {
		int dfd = open(dirname(dir), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (dfd >= 0) {
			fsync(dfd);
			close(dfd);
		}
	}
	*ndomains = domains.count;
	*nonions = n;
	rc = 0;
	goto out;

write_error:
	fail(err, errlen, "%s: write failed: %s", tmp, strerror(errno));
out:
	if (making)
		cdb_make_finish(&cm); /* only to free its tables: the file is discarded */
	if (fd >= 0)
		close(fd);
	if (tmp) {
		unlink(tmp);
		free(tmp);
	}
	free(dir);
	entries_free(&onions);
	entries_free(&domains);
	free(text);
	return rc;
}
