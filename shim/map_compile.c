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

/* Open-addressing set of domains (for duplicates) with the line each came from. */
struct domain_set {
	char **names;
	unsigned *lines;
	size_t cap, count;
};

struct onion_entry {
	char label[OMX_ONION_LABEL_LEN + 1];
	uint16_t port;
	unsigned line;          /* where its port was first given */
	unsigned ndomains;
	char *first_domain;
	uint32_t addr;
};

struct onion_table {
	struct onion_entry *slots; /* label[0] == 0: empty */
	size_t cap, count;
};

static uint64_t str_hash(const char *s)
{
	uint64_t h = 0xcbf29ce484222325ull;

	while (*s) {
		h ^= (unsigned char)*s++;
		h *= 0x100000001b3ull;
	}
	return h;
}

static int grow_domains(struct domain_set *set)
{
	size_t cap = set->cap ? set->cap * 2 : 1024;
	char **names = calloc(cap, sizeof(*names));
	unsigned *lines = calloc(cap, sizeof(*lines));

	if (!names || !lines) {
		free(names);
		free(lines);
		return -1;
	}
	for (size_t i = 0; i < set->cap; i++) {
		size_t j;
		if (!set->names[i])
			continue;
		for (j = str_hash(set->names[i]) & (cap - 1); names[j]; j = (j + 1) & (cap - 1))
			;
		names[j] = set->names[i];
		lines[j] = set->lines[i];
	}
	free(set->names);
	free(set->lines);
	set->names = names;
	set->lines = lines;
	set->cap = cap;
	return 0;
}

/* Adds NAME; returns 0, the line of an earlier entry (>0), or -1 without memory. */
static long add_domain(struct domain_set *set, const char *name, unsigned line, char **stored)
{
	size_t j;

	if ((set->count + 1) * 2 > set->cap && grow_domains(set) != 0)
		return -1;
	for (j = str_hash(name) & (set->cap - 1); set->names[j]; j = (j + 1) & (set->cap - 1))
		if (strcmp(set->names[j], name) == 0)
			return set->lines[j];
	if (!(set->names[j] = strdup(name)))
		return -1;
	set->lines[j] = line;
	set->count++;
	*stored = set->names[j];
	return 0;
}

static void free_domains(struct domain_set *set)
{
	for (size_t i = 0; i < set->cap; i++)
		free(set->names[i]);
	free(set->names);
	free(set->lines);
}

static int grow_onions(struct onion_table *t)
{
	size_t cap = t->cap ? t->cap * 2 : 1024;
	struct onion_entry *slots = calloc(cap, sizeof(*slots));

	if (!slots)
		return -1;
	for (size_t i = 0; i < t->cap; i++) {
		size_t j;
		if (!t->slots[i].label[0])
			continue;
		for (j = str_hash(t->slots[i].label) & (cap - 1); slots[j].label[0];
		     j = (j + 1) & (cap - 1))
			;
		slots[j] = t->slots[i];
	}
	free(t->slots);
	t->slots = slots;
	t->cap = cap;
	return 0;
}

/* Finds or inserts LABEL. Returns NULL only without memory. */
static struct onion_entry *onion_slot(struct onion_table *t, const char *label)
{
	size_t j;

	if ((t->count + 1) * 2 > t->cap && grow_onions(t) != 0)
		return NULL;
	for (j = str_hash(label) & (t->cap - 1); t->slots[j].label[0]; j = (j + 1) & (t->cap - 1))
		if (strcmp(t->slots[j].label, label) == 0)
			return &t->slots[j];
	memcpy(t->slots[j].label, label, sizeof(t->slots[j].label));
	t->count++;
	return &t->slots[j];
}

static int cmp_onion(const void *a, const void *b)
{
	return strcmp(((const struct onion_entry *)a)->label, ((const struct onion_entry *)b)->label);
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
		for (unsigned attempt = 0;; attempt++) {
			uint32_t a = omx_addr_candidate(onions[i].label, net, mask, attempt);
			uint32_t off = a - net;

			if (!(used[off / 8] & (1u << (off % 8)))) {
				used[off / 8] |= (uint8_t)(1u << (off % 8));
				onions[i].addr = a;
				break;
			}
		}
	}
	free(used);
	return 0;
}

static int write_onions(struct cdb_make *cm, const struct onion_entry *onions, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		const struct onion_entry *o = &onions[i];
		char okey[2 + OMX_ONION_LABEL_LEN];
		unsigned char addr[4] = { (unsigned char)(o->addr >> 24), (unsigned char)(o->addr >> 16),
					  (unsigned char)(o->addr >> 8), (unsigned char)o->addr };
		char akey[6] = { 'a', ':', (char)addr[0], (char)addr[1], (char)addr[2], (char)addr[3] };
		char val[OMX_ONION_LABEL_LEN + 32 + 256];
		int vlen = snprintf(val, sizeof(val), "%s %u %u %s", o->label, o->port, o->ndomains,
				    o->first_domain);

		memcpy(okey, "o:", 2);
		memcpy(okey + 2, o->label, OMX_ONION_LABEL_LEN);
		if (cdb_make_add(cm, okey, sizeof(okey), addr, 4) != 0 ||
		    cdb_make_add(cm, akey, sizeof(akey), val, (unsigned)vlen) != 0)
			return -1;
	}
	return 0;
}

int omx_map_compile(const char *src, const char *out, const char *range, size_t *ndomains,
		    size_t *nonions, char *err, size_t errlen)
{
	struct domain_set domains = { 0 };
	struct onion_table table = { 0 };
	struct onion_entry *onions = NULL;
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
		char msg[512], dkey[2 + 256], *stored = NULL;
		int nt, r;
		size_t vlen = 0;
		long earlier;

		line++;
		if (end - pos > OMX_MAP_MAX_LINE) {
			fail(err, errlen, "%s:%u: line longer than %d bytes", src, line, OMX_MAP_MAX_LINE);
			goto out;
		}
		r = omx_map_parse_line(text + pos, end - pos, domain, targets, &nt, msg, sizeof(msg));
		pos = end + 1;
		if (r < 0) {
			fail(err, errlen, "%s:%u: %s", src, line, msg);
			goto out;
		}
		if (r == 0)
			continue;
		earlier = add_domain(&domains, domain, line, &stored);
		if (earlier < 0) {
			fail(err, errlen, "out of memory");
			goto out;
		}
		if (earlier > 0) {
			fail(err, errlen, "%s:%u: duplicate entry for \"%s\" (first at line %ld)", src,
			     line, domain, earlier);
			goto out;
		}
		for (int i = 0; i < nt; i++) {
			struct onion_entry *o = onion_slot(&table, targets[i].onion);

			if (!o) {
				fail(err, errlen, "out of memory");
				goto out;
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

	onions = malloc((table.count ? table.count : 1) * sizeof(*onions));
	if (!onions) {
		fail(err, errlen, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < table.cap; i++)
		if (table.slots[i].label[0])
			onions[n++] = table.slots[i];
	qsort(onions, n, sizeof(*onions), cmp_onion);
	if (assign_addresses(onions, n, net, mask, err, errlen) != 0)
		goto out;
	if (write_onions(&cm, onions, n) != 0)
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
	free(onions);
	free(table.slots);
	free_domains(&domains);
	free(text);
	return rc;
}
