/* The discovery cache file: layout, creation, and lookups under its lock. */
#include "cache.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define CACHE_MAGIC "onionmx cache 1"  /* 15 characters and the NUL */
#define DOMAIN_PROBES 8

struct cached_record {
	char onion[OMX_ONION_LABEL_LEN];
	uint16_t priority, weight, port;
};

struct domain_entry {
	char domain[254];                /* "" = free */
	uint8_t status, secure;
	int64_t expires;                 /* CLOCK_REALTIME seconds */
	uint32_t n;
	struct cached_record rec[OMX_SRV_MAX_TARGETS];
};

struct addr_entry {
	char onion[OMX_ONION_LABEL_LEN]; /* all zero = free */
	uint16_t port;
	int64_t last_used;
};

struct omx_cache_file {
	char magic[16];
	uint32_t domain_slots, addr_slots, domain_size, addr_size;
	uint32_t net, mask;
	pthread_mutex_t lock;            /* process-shared and robust */
	struct domain_entry domains[OMX_CACHE_DOMAIN_SLOTS];
	struct addr_entry addrs[OMX_CACHE_ADDR_SLOTS];
};

int omx_cache_range_ok(uint32_t net, uint32_t mask)
{
	uint64_t usable = (uint64_t)(~mask + 1u) / 256 * 254;

	(void)net;
	return mask != 0 && usable >= OMX_CACHE_ADDR_SLOTS;
}

/* Address of slot I: the I-th usable address of the range (.0 and .255 skipped). */
static uint32_t slot_addr(const struct omx_cache *c, uint32_t i)
{
	return c->net + i / 254 * 256 + i % 254 + 1;
}

/* Slot of ADDR, or -1 if ADDR is not one of the table's addresses. */
static long addr_slot(const struct omx_cache *c, uint32_t addr)
{
	uint32_t off, i;

	if ((addr & c->mask) != c->net)
		return -1;
	off = addr - c->net;
	if ((off & 0xff) == 0 || (off & 0xff) == 255)
		return -1;
	i = (off >> 8) * 254 + (off & 0xff) - 1;
	return i < OMX_CACHE_ADDR_SLOTS ? (long)i : -1;
}

static void init_file(struct omx_cache_file *f, uint32_t net, uint32_t mask)
{
	pthread_mutexattr_t attr;

	memset(f, 0, sizeof(*f));
	memcpy(f->magic, CACHE_MAGIC, sizeof(CACHE_MAGIC));
	f->domain_slots = OMX_CACHE_DOMAIN_SLOTS;
	f->addr_slots = OMX_CACHE_ADDR_SLOTS;
	f->domain_size = sizeof(struct domain_entry);
	f->addr_size = sizeof(struct addr_entry);
	f->net = net;
	f->mask = mask;
	pthread_mutexattr_init(&attr);
	pthread_mutexattr_setpshared(&attr, PTHREAD_PROCESS_SHARED);
	pthread_mutexattr_setrobust(&attr, PTHREAD_MUTEX_ROBUST);
	pthread_mutex_init(&f->lock, &attr);
	pthread_mutexattr_destroy(&attr);
}

/* Takes the lock; a holder that died leaves entries that are checked on every
 * read anyway, so the lock is simply made consistent again. */
static int lock(struct omx_cache *c)
{
	int rc = pthread_mutex_lock(&c->file->lock);

	if (rc == EOWNERDEAD) {
		pthread_mutex_consistent(&c->file->lock);
		rc = 0;
	}
	return rc;
}

static void unlock(struct omx_cache *c)
{
	pthread_mutex_unlock(&c->file->lock);
}

/* Creates PATH with an initialised cache: written under a temporary name and
 * linked into place, so no process ever maps a half-initialised file. EEXIST
 * (another process won the race) counts as success. */
static int create_file(const char *path, uint32_t net, uint32_t mask, char *err, size_t errlen)
{
	char tmp[PATH_MAX];
	struct omx_cache_file *f;
	int fd, rc = -1;

	if (snprintf(tmp, sizeof(tmp), "%s.new.%ld", path, (long)getpid()) >= (int)sizeof(tmp)) {
		snprintf(err, errlen, "%s: path too long", path);
		return -1;
	}
	unlink(tmp);
	fd = open(tmp, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (fd < 0) {
		snprintf(err, errlen, "%s: cannot create: %s", path, strerror(errno));
		return -1;
	}
	if (fchmod(fd, 0644) != 0 || ftruncate(fd, sizeof(*f)) != 0) {
		snprintf(err, errlen, "%s: cannot create: %s", path, strerror(errno));
		goto out;
	}
	f = mmap(NULL, sizeof(*f), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (f == MAP_FAILED) {
		snprintf(err, errlen, "%s: cannot map: %s", path, strerror(errno));
		goto out;
	}
	init_file(f, net, mask);
	munmap(f, sizeof(*f));
	if (link(tmp, path) != 0 && errno != EEXIST) {
		snprintf(err, errlen, "%s: cannot create: %s", path, strerror(errno));
		goto out;
	}
	rc = 0;
out:
	close(fd);
	unlink(tmp);
	return rc;
}

static void range_text(uint32_t net, uint32_t mask, char *out, size_t cap)
{
	int prefix = 0;

	while (prefix < 32 && (mask & (0x80000000u >> prefix)))
		prefix++;
	snprintf(out, cap, "%u.%u.%u.%u/%d", net >> 24, (net >> 16) & 255, (net >> 8) & 255,
		 net & 255, prefix);
}

int omx_cache_open(struct omx_cache *c, const char *path, uint32_t net, uint32_t mask,
		   int require_root, char *err, size_t errlen)
{
	struct omx_cache_file *f;
	struct stat st;
	int fd;

	memset(c, 0, sizeof(*c));
	if (!omx_cache_range_ok(net, mask)) {
		snprintf(err, errlen, "%s: discovery range too small (needs a /17 or larger)", path);
		return -1;
	}
	fd = open(path, O_RDWR | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY);
	if (fd < 0 && errno == ENOENT) {
		if (create_file(path, net, mask, err, errlen) != 0)
			return -1;
		fd = open(path, O_RDWR | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY);
	}
	if (fd < 0) {
		int e = errno; /* the caller tells EACCES apart */

		snprintf(err, errlen, "%s: %s", path, strerror(e));
		errno = e;
		return -1;
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "%s: not a regular file", path);
		close(fd);
		return -1;
	}
	if ((st.st_uid != 0 && (require_root || st.st_uid != geteuid())) ||
	    (st.st_mode & (S_IWGRP | S_IWOTH))) {
		/* Whoever can write the cache decides where mail goes. */
		snprintf(err, errlen, "%s: refused: not owned by %s, or writable by group or others",
			 path, require_root ? "root" : "root or this user");
		close(fd);
		errno = EPERM;
		return -1;
	}
	if ((size_t)st.st_size != sizeof(*f)) {
		snprintf(err, errlen, "%s: not an onionmx cache of this version (remove it: it is rebuilt)",
			 path);
		close(fd);
		return -1;
	}
	f = mmap(NULL, sizeof(*f), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	if (f == MAP_FAILED) {
		snprintf(err, errlen, "%s: cannot map: %s", path, strerror(errno));
		return -1;
	}
	if (memcmp(f->magic, CACHE_MAGIC, sizeof(CACHE_MAGIC)) != 0 ||
	    f->domain_slots != OMX_CACHE_DOMAIN_SLOTS || f->addr_slots != OMX_CACHE_ADDR_SLOTS ||
	    f->domain_size != sizeof(struct domain_entry) || f->addr_size != sizeof(struct addr_entry)) {
		snprintf(err, errlen, "%s: not an onionmx cache of this version (remove it: it is rebuilt)",
			 path);
		munmap(f, sizeof(*f));
		return -1;
	}
	if (f->net != net || f->mask != mask) {
		char have[32], want[32];

		range_text(f->net, f->mask, have, sizeof(have));
		range_text(net, mask, want, sizeof(want));
		/* Its addresses may still be in use: never reinterpret them. */
		snprintf(err, errlen, "%s: made for discover_range %s, not %s (remove it once no MTA process runs)",
			 path, have, want);
		munmap(f, sizeof(*f));
		return -1;
	}
	c->file = f;
	c->size = sizeof(*f);
	c->net = net;
	c->mask = mask;
	c->shared = 1;
	return 0;
}

int omx_cache_open_anonymous(struct omx_cache *c, uint32_t net, uint32_t mask, char *err,
			     size_t errlen)
{
	struct omx_cache_file *f;

	memset(c, 0, sizeof(*c));
	if (!omx_cache_range_ok(net, mask)) {
		snprintf(err, errlen, "discovery range too small (needs a /17 or larger)");
		return -1;
	}
	f = mmap(NULL, sizeof(*f), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (f == MAP_FAILED) {
		snprintf(err, errlen, "cannot map a private cache: %s", strerror(errno));
		return -1;
	}
	init_file(f, net, mask);
	c->file = f;
	c->size = sizeof(*f);
	c->net = net;
	c->mask = mask;
	return 0;
}

void omx_cache_close(struct omx_cache *c)
{
	if (c->file)
		munmap(c->file, c->size);
	memset(c, 0, sizeof(*c));
}

/* --- onion addresses --- */

static uint32_t probe_slot(const char *label, unsigned attempt)
{
	uint64_t h1 = omx_label_hash(label, 0), h2 = omx_label_hash(label, OMX_LABEL_HASH_STEP) | 1;

	/* The table size is a power of two and the step odd: a full cycle. */
	return (uint32_t)((h1 + attempt * h2) % OMX_CACHE_ADDR_SLOTS);
}

static int slot_free(const struct addr_entry *e)
{
	return e->onion[0] == '\0';
}

static int slot_valid(const struct addr_entry *e)
{
	return omx_onion_check(e->onion, OMX_ONION_LABEL_LEN) == OMX_ONION_OK;
}

static void lower_label(const char *label, char out[OMX_ONION_LABEL_LEN + 1])
{
	for (size_t i = 0; i < OMX_ONION_LABEL_LEN; i++) {
		char ch = label[i];
		out[i] = (ch >= 'A' && ch <= 'Z') ? (char)(ch - 'A' + 'a') : ch;
	}
	out[OMX_ONION_LABEL_LEN] = '\0';
}

/* Slot holding LABEL (lower case), or -1; the lock is held. An onion sits no
 * later than the first free slot of its sequence (slots are never freed, only
 * reused), so the walk stops there. */
static long find_onion(struct omx_cache *c, const char *label)
{
	for (unsigned attempt = 0; attempt < OMX_CACHE_PROBES; attempt++) {
		uint32_t i = probe_slot(label, attempt);
		struct addr_entry *e = &c->file->addrs[i];

		if (slot_free(e))
			return -1;
		if (memcmp(e->onion, label, OMX_ONION_LABEL_LEN) == 0)
			return i;
	}
	return -1;
}

static int assign_locked(struct omx_cache *c, const char *label, uint16_t port, time_t now,
			 uint32_t *addr)
{
	long found = find_onion(c, label), oldest = -1;

	for (unsigned attempt = 0; found < 0 && attempt < OMX_CACHE_PROBES; attempt++) {
		uint32_t i = probe_slot(label, attempt);
		struct addr_entry *e = &c->file->addrs[i];

		if (slot_free(e) || !slot_valid(e)) {
			found = i;
			break;
		}
		if (oldest < 0 || e->last_used < c->file->addrs[oldest].last_used)
			oldest = i;
	}
	if (found < 0) {
		/* Every slot of the sequence is taken: reuse the one idle longest,
		 * if nobody can still be holding its address. */
		if (oldest < 0 || now - c->file->addrs[oldest].last_used < OMX_CACHE_ADDR_IDLE)
			return 0;
		found = oldest;
	}
	memcpy(c->file->addrs[found].onion, label, OMX_ONION_LABEL_LEN);
	c->file->addrs[found].port = port;
	c->file->addrs[found].last_used = now;
	*addr = slot_addr(c, (uint32_t)found);
	return 1;
}

int omx_cache_assign(struct omx_cache *c, const char *label, uint16_t port, time_t now,
		     uint32_t *addr)
{
	char lower[OMX_ONION_LABEL_LEN + 1];
	int ok;

	if (!c->file || omx_onion_check(label, OMX_ONION_LABEL_LEN) != OMX_ONION_OK || lock(c) != 0)
		return 0;
	lower_label(label, lower);
	ok = assign_locked(c, lower, port, now, addr);
	unlock(c);
	return ok;
}

int omx_cache_onion_addr(struct omx_cache *c, const char *label, size_t len, uint32_t *addr)
{
	char lower[OMX_ONION_LABEL_LEN + 1];
	long i;

	if (!c->file || len != OMX_ONION_LABEL_LEN || lock(c) != 0)
		return 0;
	lower_label(label, lower);
	i = find_onion(c, lower);
	unlock(c);
	if (i < 0)
		return 0;
	*addr = slot_addr(c, (uint32_t)i);
	return 1;
}

int omx_cache_addr_onion(struct omx_cache *c, uint32_t addr, struct omx_target *t)
{
	long i = c->file ? addr_slot(c, addr) : -1;
	int found = 0;

	if (i < 0 || lock(c) != 0)
		return 0;
	if (!slot_free(&c->file->addrs[i]) && slot_valid(&c->file->addrs[i])) {
		memcpy(t->onion, c->file->addrs[i].onion, OMX_ONION_LABEL_LEN);
		t->onion[OMX_ONION_LABEL_LEN] = '\0';
		t->port = c->file->addrs[i].port;
		found = 1;
	}
	unlock(c);
	return found;
}

/* --- domain results --- */

static uint32_t domain_slot(const char *domain, unsigned attempt)
{
	uint64_t h = 0xcbf29ce484222325ull;

	for (const char *p = domain; *p; p++) {
		h ^= (uint8_t)*p;
		h *= 0x100000001b3ull;
	}
	return (uint32_t)((h + attempt) % OMX_CACHE_DOMAIN_SLOTS);
}

/* Whether entry E is intact: a crash while writing must not give a wrong answer. */
static int entry_valid(const struct domain_entry *e)
{
	if (memchr(e->domain, '\0', sizeof(e->domain)) == NULL || e->n > OMX_SRV_MAX_TARGETS ||
	    e->status < OMX_SRV_ONION || e->status > OMX_SRV_UNUSABLE)
		return 0;
	for (uint32_t i = 0; i < e->n; i++)
		if (omx_onion_check(e->rec[i].onion, OMX_ONION_LABEL_LEN) != OMX_ONION_OK)
			return 0;
	return 1;
}

int omx_cache_get(struct omx_cache *c, const char *domain, time_t now, struct omx_srv_result *r)
{
	int hit = 0;

	if (!c->file || strlen(domain) >= sizeof(c->file->domains[0].domain) || lock(c) != 0)
		return 0;
	for (unsigned attempt = 0; attempt < DOMAIN_PROBES && !hit; attempt++) {
		struct domain_entry *e = &c->file->domains[domain_slot(domain, attempt)];

		if (strncmp(e->domain, domain, sizeof(e->domain)) != 0)
			continue;
		if (e->expires <= now || !entry_valid(e))
			break;
		/* Field by field: the result is kilobytes (the ignored list), and this
		 * runs at every MX lookup of an unmapped domain. */
		r->status = (enum omx_srv_status)e->status;
		r->secure = e->secure;
		r->ttl = (uint32_t)(e->expires - now);
		r->n = (int)e->n;
		r->nignored = 0;
		memcpy(r->detail, "cached", sizeof("cached"));
		for (int i = 0; i < r->n; i++) {
			memcpy(r->rec[i].onion, e->rec[i].onion, OMX_ONION_LABEL_LEN);
			r->rec[i].onion[OMX_ONION_LABEL_LEN] = '\0';
			r->rec[i].priority = e->rec[i].priority;
			r->rec[i].weight = e->rec[i].weight;
			r->rec[i].port = e->rec[i].port;
		}
		hit = 1;
	}
	/* The onions of a live answer are in use: keep their addresses from reuse. */
	for (int i = 0; hit && i < r->n; i++) {
		long slot = find_onion(c, r->rec[i].onion);
		if (slot >= 0)
			c->file->addrs[slot].last_used = now;
	}
	unlock(c);
	return hit;
}

int omx_cache_put(struct omx_cache *c, const char *domain, time_t now,
		  const struct omx_srv_result *r)
{
	struct domain_entry *slot = NULL;
	int rc = 0;

	if (!c->file || strlen(domain) >= sizeof(c->file->domains[0].domain) ||
	    r->status == OMX_SRV_TEMPFAIL || r->n > OMX_SRV_MAX_TARGETS || lock(c) != 0)
		return r->status == OMX_SRV_ONION ? -1 : 0;
	/* Addresses first: an answer is only stored once its onions can be reached. */
	for (int i = 0; r->status == OMX_SRV_ONION && i < r->n; i++) {
		uint32_t addr;
		if (!assign_locked(c, r->rec[i].onion, r->rec[i].port, now, &addr))
			rc = -1;
	}
	if (rc == 0 && r->ttl > 0) {
		for (unsigned attempt = 0; attempt < DOMAIN_PROBES; attempt++) {
			struct domain_entry *e = &c->file->domains[domain_slot(domain, attempt)];

			if (strncmp(e->domain, domain, sizeof(e->domain)) == 0 || e->domain[0] == '\0') {
				slot = e;
				break;
			}
			if (!slot || e->expires < slot->expires)
				slot = e;
		}
		memset(slot, 0, sizeof(*slot));
		snprintf(slot->domain, sizeof(slot->domain), "%s", domain);
		slot->status = (uint8_t)r->status;
		slot->secure = (uint8_t)(r->secure != 0);
		slot->expires = now + (int64_t)r->ttl;
		slot->n = (uint32_t)r->n;
		for (int i = 0; i < r->n; i++) {
			memcpy(slot->rec[i].onion, r->rec[i].onion, OMX_ONION_LABEL_LEN);
			slot->rec[i].priority = r->rec[i].priority;
			slot->rec[i].weight = r->rec[i].weight;
			slot->rec[i].port = r->rec[i].port;
		}
	}
	unlock(c);
	return rc;
}
