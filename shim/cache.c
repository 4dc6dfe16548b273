/* The discovery cache file: layout, creation, and lookups under its lock. */
#include "ascii.h"
#include "dirsafe.h"
#include "cache.h"
#include "shared_file.h"

#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#define CACHE_MAGIC "onionmx cache 3"  /* 15 characters and the NUL; 3: reasons kept */
#define DOMAIN_PROBES 8
#define FUTEX_OWNER_DIED_BIT 0x40000000u /* the kernel's robust-futex ABI */
#define FUTEX_WAITERS_BIT 0x80000000u
#define FUTEX_TID_BITS 0x3fffffffu

void (*omx_cache_test_step)(const char *step);

struct cached_record {
	char onion[OMX_ONION_LABEL_LEN];
	uint16_t priority, weight, port;
};

/* Published by its last store (expires, release): a writer that dies before
 * leaves expires 0 (it was cleared first), and the checksum catches the rest. */
struct domain_entry {
	char domain[254];                /* "" = free */
	uint8_t status, secure;
	int64_t expires;                 /* CLOCK_REALTIME seconds; 0 = not published */
	uint32_t n;
	uint32_t pad;
	uint64_t sum;                    /* keyed hash of all the above that is used */
	struct cached_record rec[OMX_SRV_MAX_TARGETS];
	char detail[sizeof(((struct omx_srv_result *)0)->detail)]; /* why (onionmx-check
					  * shows it), NUL-terminated, in the sum */
};

struct addr_entry {
	char onion[OMX_ONION_LABEL_LEN]; /* all zero = free */
	uint16_t port;
	uint32_t owner;                  /* tag of the domain whose answer took the slot */
	int64_t last_used;
};

struct omx_cache_file {
	char magic[16];
	uint32_t domain_slots, addr_slots, domain_size, addr_size;
	uint32_t net, mask;
	uint8_t key[16];                 /* per-install secret of the slot hashes
					  * (getrandom at creation; never sent out) */
	pthread_mutex_t lock;            /* process-shared, robust, error-checking */
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

/* --- SipHash-2-4: the slot hashes and entry checksums, keyed with the file's
 * secret. Unkeyed, anyone who can make the MTA look up a domain (a local user
 * with setuid exim4 -bt) could grind onions onto another onion's slots. --- */

#define ROTL(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))
#define SIPROUND                                                                           \
	do {                                                                               \
		v0 += v1; v1 = ROTL(v1, 13); v1 ^= v0; v0 = ROTL(v0, 32);                  \
		v2 += v3; v3 = ROTL(v3, 16); v3 ^= v2;                                     \
		v0 += v3; v3 = ROTL(v3, 21); v3 ^= v0;                                     \
		v2 += v1; v1 = ROTL(v1, 17); v1 ^= v2; v2 = ROTL(v2, 32);                  \
	} while (0)

struct sip {
	uint64_t v0, v1, v2, v3, tail;
	size_t len;
};

static void sip_init(struct sip *s, const uint64_t key[2])
{
	s->v0 = 0x736f6d6570736575ull ^ key[0];
	s->v1 = 0x646f72616e646f6dull ^ key[1];
	s->v2 = 0x6c7967656e657261ull ^ key[0];
	s->v3 = 0x7465646279746573ull ^ key[1];
	s->tail = 0;
	s->len = 0;
}

static void sip_word(struct sip *s, uint64_t m)
{
	uint64_t v0 = s->v0, v1 = s->v1, v2 = s->v2, v3 = s->v3;

	v3 ^= m;
	SIPROUND;
	SIPROUND;
	v0 ^= m;
	s->v0 = v0, s->v1 = v1, s->v2 = v2, s->v3 = v3;
}

static void sip_byte(struct sip *s, uint8_t b)
{
	s->tail |= (uint64_t)b << (8 * (s->len % 8));
	if (++s->len % 8 == 0) {
		sip_word(s, s->tail);
		s->tail = 0;
	}
}

static void sip_update(struct sip *s, const void *data, size_t n)
{
	const uint8_t *p = data;
	size_t i = 0;

	for (; i < n && s->len % 8 != 0; i++)
		sip_byte(s, p[i]);
	/* Whole words a word at a time (the same hash: bytes little-endian). */
	for (; i + 8 <= n; i += 8) {
		uint64_t m;

		memcpy(&m, p + i, sizeof(m));
		sip_word(s, le64toh(m));
		s->len += 8;
	}
	for (; i < n; i++)
		sip_byte(s, p[i]);
}

static uint64_t sip_final(struct sip *s)
{
	uint64_t v0, v1, v2, v3;

	sip_word(s, s->tail | (uint64_t)(s->len & 0xff) << 56);
	v0 = s->v0, v1 = s->v1, v2 = s->v2 ^ 0xff, v3 = s->v3;
	SIPROUND;
	SIPROUND;
	SIPROUND;
	SIPROUND;
	return v0 ^ v1 ^ v2 ^ v3;
}

static uint64_t sip_hash(const uint64_t key[2], const void *data, size_t n)
{
	struct sip s;

	sip_init(&s, key);
	sip_update(&s, data, n);
	return sip_final(&s);
}

static void load_key(struct omx_cache *c)
{
	/* Read once: any 16 bytes are a usable key, and every process reads the same. */
	memcpy(c->key, c->file->key, sizeof(c->key));
}

static int init_file(struct omx_cache_file *f, uint32_t net, uint32_t mask)
{
	pthread_mutexattr_t attr;

	memset(f, 0, sizeof(*f));
	if (getrandom(f->key, sizeof(f->key), 0) != (ssize_t)sizeof(f->key))
		return -1;
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
	/* A thread that would take it twice gets EDEADLK instead of hanging. */
	pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_ERRORCHECK);
	pthread_mutex_init(&f->lock, &attr);
	pthread_mutexattr_destroy(&attr);
	return 0;
}

/* --- the lock --- */

/* The lock word names a thread that no longer exists, and the kernel did not
 * mark it (a file copied while locked, a holder in a namespace that is gone):
 * mark it as the kernel marks a dead holder's, so the next locker recovers it. */
static int recover_orphan(struct omx_cache *c)
{
	int *word = &c->file->lock.__data.__lock;
	unsigned v = (unsigned)__atomic_load_n(word, __ATOMIC_ACQUIRE);
	pid_t tid = (pid_t)(v & FUTEX_TID_BITS);

	if (tid == 0 || (v & FUTEX_OWNER_DIED_BIT) || kill(tid, 0) == 0 || errno != ESRCH)
		return 0;
	return __atomic_compare_exchange_n(word, (int *)&v,
					   (int)(FUTEX_OWNER_DIED_BIT | (v & FUTEX_WAITERS_BIT)), 0,
					   __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE);
}

/* Waits for the lock until DEADLINE (CLOCK_MONOTONIC). pthread_mutex_timedlock
 * takes CLOCK_REALTIME (and, unlike pthread_mutex_clocklock, is known to the
 * thread sanitizer): short slices of it, so that a step of the wall clock
 * stretches the wait by one slice at most. */
static int wait_lock(struct omx_cache *c, const struct timespec *deadline)
{
	for (;;) {
		struct timespec mono, wall;
		long long left;
		int rc;

		clock_gettime(CLOCK_MONOTONIC, &mono);
		left = (long long)(deadline->tv_sec - mono.tv_sec) * 1000000000LL +
		       (deadline->tv_nsec - mono.tv_nsec);
		if (left <= 0)
			return ETIMEDOUT;
		if (left > 100000000LL)
			left = 100000000LL;
		clock_gettime(CLOCK_REALTIME, &wall);
		wall.tv_nsec += (long)left;
		if (wall.tv_nsec >= 1000000000L) {
			wall.tv_sec++;
			wall.tv_nsec -= 1000000000L;
		}
		rc = pthread_mutex_timedlock(&c->file->lock, &wall);
		if (rc != ETIMEDOUT)
			return rc;
	}
}

/* Takes the lock within OMX_CACHE_LOCK_WAIT seconds, with every asynchronous
 * signal blocked until unlock(): a handler that looked up or connected while
 * this thread held it would wait for itself, and one that jumped out would
 * leave it held. Returns 0, or OMX_CACHE_BUSY (a stopped or stuck holder, or
 * this thread already holds it) with the signal mask restored. A holder that
 * died leaves entries that are checked on every read anyway, so the lock is
 * simply made consistent again. */
static int lock(struct omx_cache *c, sigset_t *saved)
{
	sigset_t all;
	struct timespec deadline;
	int rc, e = errno;

	sigfillset(&all);
	/* Faults cannot be deferred; blocked, they would kill the process. */
	sigdelset(&all, SIGSEGV);
	sigdelset(&all, SIGBUS);
	sigdelset(&all, SIGFPE);
	sigdelset(&all, SIGILL);
	sigdelset(&all, SIGTRAP);
	pthread_sigmask(SIG_BLOCK, &all, saved);
	rc = pthread_mutex_trylock(&c->file->lock);
	if (rc == EBUSY) {
		clock_gettime(CLOCK_MONOTONIC, &deadline);
		deadline.tv_sec += OMX_CACHE_LOCK_WAIT;
		rc = wait_lock(c, &deadline);
		if (rc == ETIMEDOUT && recover_orphan(c))
			rc = pthread_mutex_trylock(&c->file->lock);
	}
	if (rc == EOWNERDEAD) {
		pthread_mutex_consistent(&c->file->lock);
		rc = 0;
	}
	if (rc != 0)
		pthread_sigmask(SIG_SETMASK, saved, NULL);
	errno = e;
	return rc == 0 ? 0 : OMX_CACHE_BUSY;
}

static void unlock(struct omx_cache *c, const sigset_t *saved)
{
	int e = errno;

	pthread_mutex_unlock(&c->file->lock);
	pthread_sigmask(SIG_SETMASK, saved, NULL);
	errno = e;
}

static void test_step(const char *step)
{
	void (*hook)(const char *) = __atomic_load_n(&omx_cache_test_step, __ATOMIC_RELAXED);

	if (hook)
		hook(step);
}

/* --- the file --- */

/* Whether the directory of PATH is one only root (or, outside secure mode,
 * this user) can write: whoever can write there can replace the cache. */
static int dir_ok(const char *path, int require_root, char *err, size_t errlen)
{
	char dir[PATH_MAX];
	const char *slash = strrchr(path, '/');
	size_t len = slash ? (size_t)(slash - path) : 1;

	if (len >= sizeof(dir)) {
		snprintf(err, errlen, "%s: path too long", path);
		return -1;
	}
	if (!slash)
		memcpy(dir, ".", 2);
	else if (len == 0)
		memcpy(dir, "/", 2);
	else {
		memcpy(dir, path, len);
		dir[len] = '\0';
	}
	return omx_dir_safe(path, dir, require_root, err, errlen);
}

/* The new cache file: its header, range and secret key. */
struct cache_init {
	uint32_t net, mask;
};

static const char *fill_cache(void *mem, void *ctx)
{
	const struct cache_init *ci = ctx;

	return init_file(mem, ci->net, ci->mask) != 0 ? "no random key" : NULL;
}

static void created_step(void)
{
	test_step("create");
}

/* Creates PATH with an initialised cache, mode 0600 (shared_file.h: made
 * whole, then linked into place; EEXIST, another process won the race, counts
 * as success). */
static int create_file(const char *path, uint32_t net, uint32_t mask, char *err, size_t errlen)
{
	struct cache_init ci = { .net = net, .mask = mask };
	const struct omx_shared_init init = { .fill = fill_cache, .ctx = &ci, .created = created_step,
					      .sync = 1 };

	return omx_shared_file_create(path, sizeof(struct omx_cache_file), 0600, &init, err, errlen);
}

static void range_text(uint32_t net, uint32_t mask, char *out, size_t cap)
{
	int prefix = 0;

	while (prefix < 32 && (mask & (0x80000000u >> prefix)))
		prefix++;
	snprintf(out, cap, "%u.%u.%u.%u/%d", net >> 24, (net >> 16) & 255, (net >> 8) & 255,
		 net & 255, prefix);
}

/* C now works on the mapped file F (SHARED: a file of its own, not anonymous). */
static void attach(struct omx_cache *c, struct omx_cache_file *f, uint32_t net, uint32_t mask,
		   int shared)
{
	c->file = f;
	c->size = sizeof(*f);
	c->net = net;
	c->mask = mask;
	c->shared = shared;
	load_key(c);
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
	if (dir_ok(path, require_root, err, errlen) != 0)
		return -1;
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
	attach(c, f, net, mask, 1);
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
	if (init_file(f, net, mask) != 0) {
		snprintf(err, errlen, "no random key for a private cache: %s", strerror(errno));
		munmap(f, sizeof(*f));
		return -1;
	}
	attach(c, f, net, mask, 0);
	return 0;
}

void omx_cache_close(struct omx_cache *c)
{
	if (c->file)
		munmap(c->file, c->size);
	memset(c, 0, sizeof(*c));
}

/* --- onion addresses --- */

/* An onion's probe sequence: START, START + STEP, ... (mod the table size). */
struct probe {
	uint32_t start, step;
};

static struct probe probe_of(const struct omx_cache *c, const char *label)
{
	uint64_t h = sip_hash(c->key, label, OMX_ONION_LABEL_LEN);
	struct probe p = {(uint32_t)h % OMX_CACHE_ADDR_SLOTS, (uint32_t)(h >> 32) | 1};

	return p;
}

static uint32_t probe_slot(struct probe p, unsigned attempt)
{
	/* The table size is a power of two and the step odd: a full cycle. */
	return (uint32_t)((p.start + (uint64_t)attempt * p.step) % OMX_CACHE_ADDR_SLOTS);
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
	omx_ascii_lower_copy(out, label, OMX_ONION_LABEL_LEN);
}

/* Slot holding LABEL (lower case), or -1; the lock is held. An onion sits no
 * later than the first free slot of its sequence (slots are never freed, only
 * reused), so the walk stops there. */
static long find_onion(struct omx_cache *c, const char *label, struct probe p)
{
	for (unsigned attempt = 0; attempt < OMX_CACHE_PROBES; attempt++) {
		uint32_t i = probe_slot(p, attempt);
		struct addr_entry *e = &c->file->addrs[i];

		if (slot_free(e))
			return -1;
		if (memcmp(e->onion, label, OMX_ONION_LABEL_LEN) == 0)
			return i;
	}
	return -1;
}

/* Finds or assigns LABEL's slot (a new one tagged OWNER): 1 with *ADDR, 0 table
 * full; the lock is held. */
static int assign_locked(struct omx_cache *c, const char *label, uint16_t port, time_t now,
			 uint32_t owner, uint32_t *addr)
{
	struct probe p = probe_of(c, label);
	long found = find_onion(c, label, p), oldest = -1;
	struct addr_entry *e;

	if (found >= 0) {
		e = &c->file->addrs[found];
		e->port = port;
		e->last_used = now;
		*addr = slot_addr(c, (uint32_t)found);
		return 1;
	}
	for (unsigned attempt = 0; found < 0 && attempt < OMX_CACHE_PROBES; attempt++) {
		uint32_t i = probe_slot(p, attempt);

		e = &c->file->addrs[i];
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
	/* Published by the onion's first character, stored last: a writer that
	 * dies on the way leaves a free slot, never an onion with another's port. */
	e = &c->file->addrs[found];
	__atomic_store_n(&e->onion[0], '\0', __ATOMIC_RELEASE);
	test_step("addr cleared");
	e->port = port;
	e->owner = owner;
	e->last_used = now;
	memcpy(e->onion + 1, label + 1, OMX_ONION_LABEL_LEN - 1);
	test_step("addr written");
	__atomic_store_n(&e->onion[0], label[0], __ATOMIC_RELEASE);
	*addr = slot_addr(c, (uint32_t)found);
	return 1;
}

int omx_cache_assign(struct omx_cache *c, const char *label, uint16_t port, time_t now,
		     uint32_t *addr)
{
	char lower[OMX_ONION_LABEL_LEN + 1];
	sigset_t saved;
	int ok;

	if (!c->file || omx_onion_check(label, OMX_ONION_LABEL_LEN) != OMX_ONION_OK)
		return 0;
	if (lock(c, &saved) != 0)
		return OMX_CACHE_BUSY;
	lower_label(label, lower);
	ok = assign_locked(c, lower, port, now, 0, addr);
	unlock(c, &saved);
	return ok;
}

int omx_cache_onion_addr(struct omx_cache *c, const char *label, size_t len, uint32_t *addr)
{
	char lower[OMX_ONION_LABEL_LEN + 1];
	sigset_t saved;
	long i;

	if (!c->file || len != OMX_ONION_LABEL_LEN || lock(c, &saved) != 0)
		return 0;
	lower_label(label, lower);
	i = find_onion(c, lower, probe_of(c, lower));
	unlock(c, &saved);
	if (i < 0)
		return 0;
	*addr = slot_addr(c, (uint32_t)i);
	return 1;
}

int omx_cache_addr_onion(struct omx_cache *c, uint32_t addr, struct omx_target *t)
{
	long i = c->file ? addr_slot(c, addr) : -1;
	sigset_t saved;
	int found = 0;

	if (i < 0 || lock(c, &saved) != 0)
		return 0;
	if (!slot_free(&c->file->addrs[i]) && slot_valid(&c->file->addrs[i])) {
		memcpy(t->onion, c->file->addrs[i].onion, OMX_ONION_LABEL_LEN);
		t->onion[OMX_ONION_LABEL_LEN] = '\0';
		t->port = c->file->addrs[i].port;
		found = 1;
	}
	unlock(c, &saved);
	return found;
}

/* --- domain results --- */

static uint32_t domain_slot(uint64_t h, unsigned attempt)
{
	return (uint32_t)((h + attempt) % OMX_CACHE_DOMAIN_SLOTS);
}

static uint64_t domain_hash(const struct omx_cache *c, const char *domain)
{
	return sip_hash(c->key, domain, strlen(domain));
}

/* The tag of a domain in the slots its answers took (never 0: no owner). */
static uint32_t owner_tag(uint64_t h)
{
	return (uint32_t)(h >> 32) | 1;
}

/* Whether the answer R of the domain tagged OWNER may take the slots it still
 * needs: a domain may hold at most OMX_CACHE_DOMAIN_ONIONS slots in use, so
 * one whose answers keep naming new onions (a hostile zone rotating them at
 * every TTL) cannot fill the table for everyone. The lock is held. */
static int within_quota(struct omx_cache *c, uint32_t owner, time_t now,
			const struct omx_srv_result *r)
{
	unsigned needed = 0, held = 0;

	for (int i = 0; i < r->n; i++)
		if (find_onion(c, r->rec[i].onion, probe_of(c, r->rec[i].onion)) < 0)
			needed++;
	if (needed == 0)
		return 1;
	for (uint32_t i = 0; i < OMX_CACHE_ADDR_SLOTS; i++) {
		const struct addr_entry *e = &c->file->addrs[i];

		if (e->owner == owner && !slot_free(e) && now - e->last_used < OMX_CACHE_ADDR_IDLE)
			held++;
	}
	return held + needed <= OMX_CACHE_DOMAIN_ONIONS;
}

/* The keyed checksum of entry E: every field a reader uses. */
static uint64_t entry_sum(const struct omx_cache *c, const struct domain_entry *e)
{
	struct sip s;
	uint32_t n = e->n <= OMX_SRV_MAX_TARGETS ? e->n : 0;
	size_t len = strnlen(e->domain, sizeof(e->domain));

	sip_init(&s, c->key);
	sip_update(&s, e->domain, len);
	sip_update(&s, &e->status, 1);
	sip_update(&s, &e->secure, 1);
	sip_update(&s, &e->expires, sizeof(e->expires));
	sip_update(&s, &e->n, sizeof(e->n));
	for (uint32_t i = 0; i < n; i++) {
		const struct cached_record *rec = &e->rec[i];

		sip_update(&s, rec->onion, OMX_ONION_LABEL_LEN);
		sip_update(&s, &rec->priority, sizeof(rec->priority));
		sip_update(&s, &rec->weight, sizeof(rec->weight));
		sip_update(&s, &rec->port, sizeof(rec->port));
	}
	sip_update(&s, e->detail, strnlen(e->detail, sizeof(e->detail)));
	return sip_final(&s);
}

/* Whether entry E (published, unexpired at NOW) is intact: a writer killed half
 * way or a damaged file must not give an answer, least of all an onion answer
 * with no onion (the clearnet MX) or one that lasts for years. */
static int entry_valid(const struct omx_cache *c, const struct domain_entry *e, time_t now)
{
	if (memchr(e->domain, '\0', sizeof(e->domain)) == NULL ||
	    memchr(e->detail, '\0', sizeof(e->detail)) == NULL || e->n > OMX_SRV_MAX_TARGETS ||
	    e->status < OMX_SRV_ONION || e->status > OMX_SRV_UNUSABLE ||
	    (e->status == OMX_SRV_ONION && e->n == 0) || e->expires - now > OMX_SRV_TTL_MAX)
		return 0;
	for (uint32_t i = 0; i < e->n; i++)
		if (omx_onion_check(e->rec[i].onion, OMX_ONION_LABEL_LEN) != OMX_ONION_OK)
			return 0;
	return e->sum == entry_sum(c, e);
}

/* Copies the words of entry E covering bytes [FROM, TO) into COPY; with
 * STRING, only up to the first word holding a NUL byte (the copy of a string
 * field is then terminated, and the rest is never read: a name or reason is
 * a few words, the fields are 254 and 128 bytes). The loads race with a
 * writer by design (the caller throws a torn copy away): relaxed atomic
 * 8-byte loads, so the compiler neither tears nor merges them into a memcpy
 * call, and out of ThreadSanitizer's sight, which would report the writer's
 * plain stores racing with them (and intercepts memcpy). Nothing else is done
 * here. Entries are 8-byte aligned (they hold an int64). */
__attribute__((no_sanitize("thread"))) static void
copy_words(struct domain_entry *copy, const struct domain_entry *e, size_t from, size_t to,
	   int string)
{
	const uint64_t *src = (const uint64_t *)(const void *)e;
	uint64_t *dst = (uint64_t *)(void *)copy;

	for (size_t i = from / 8; i < (to + 7) / 8; i++) {
		uint64_t w = __atomic_load_n(&src[i], __ATOMIC_RELAXED);

		dst[i] = w;
		/* A zero byte in W (the classic test: exact for "any", the case here). */
		if (string && ((w - 0x0101010101010101ull) & ~w & 0x8080808080808080ull))
			break;
	}
}

_Static_assert(offsetof(struct domain_entry, domain) == 0 &&
		       offsetof(struct domain_entry, detail) % 8 == 0,
	       "the string fields start on a word: copy_words stops at their NUL");

/* A seqlock writer's fence: stores after it are not seen before stores ahead
 * of it. Out of ThreadSanitizer's sight, which (GCC's) refuses fences: its
 * readers (snapshot) are too. */
__attribute__((no_sanitize("thread"), noinline)) static void fence_release(void)
{
	__atomic_thread_fence(__ATOMIC_RELEASE);
}

/* A snapshot of what a negative answer uses of entry E (domain, status,
 * secure, expires, n, sum, detail; not the records), read without the lock as
 * a seqlock reader does: the writer clears expires first and publishes it
 * last, so a copy taken between two equal loads of it, not 0, is one
 * published entry, or a mix (two writes of the same expiry) the caller's
 * checksum rejects. Returns the expiry seen, or 0: not published, or changed
 * during the copy. */
__attribute__((no_sanitize("thread"), noinline)) static int64_t
snapshot(const struct domain_entry *e, struct domain_entry *copy)
{
	const size_t tail = sizeof(e->domain) / 8 * 8; /* the domain's last word on */
	int64_t before = __atomic_load_n(&e->expires, __ATOMIC_ACQUIRE), after;

	copy_words(copy, e, 0, tail, 1);
	copy_words(copy, e, tail, offsetof(struct domain_entry, rec), 0);
	copy_words(copy, e, offsetof(struct domain_entry, detail),
		   offsetof(struct domain_entry, detail) + sizeof(e->detail), 1);
	__atomic_thread_fence(__ATOMIC_ACQUIRE);
	after = __atomic_load_n(&e->expires, __ATOMIC_RELAXED);
	return before == after ? before : 0;
}

/* A cached negative answer for DOMAIN (hash H), without the lock and without
 * a system call: it is read at every MX lookup of an unmapped domain, and
 * needs no write (an onion answer refreshes its addresses: under the lock).
 * Returns 1 with R filled, or 0: not found this way, torn, an onion answer,
 * expired, damaged: the caller asks again under the lock, never "not ours". */
static int get_negative(struct omx_cache *c, const char *domain, uint64_t h, time_t now,
			struct omx_srv_result *r)
{
	struct domain_entry copy;

	memset(copy.rec, 0, sizeof(copy.rec)); /* not copied; n == 0 does not use them */
	for (unsigned attempt = 0; attempt < DOMAIN_PROBES; attempt++) {
		const struct domain_entry *e = &c->file->domains[domain_slot(h, attempt)];
		int64_t expires = snapshot(e, &copy);

		/* The checks on the copy only: the file may change under us. */
		if (memchr(copy.domain, '\0', sizeof(copy.domain)) == NULL)
			return 0;
		if (strcmp(copy.domain, domain) != 0) {
			if (expires == 0 && copy.domain[0] != '\0')
				return 0; /* being written (or a writer died): maybe ours */
			continue;
		}
		if (expires <= now || copy.expires != expires || copy.status == OMX_SRV_ONION ||
		    copy.n != 0 || !entry_valid(c, &copy, now))
			return 0;
		r->status = (enum omx_srv_status)copy.status;
		r->secure = copy.secure;
		r->ttl = (uint32_t)(expires - now);
		r->n = 0;
		r->nignored = 0;
		memcpy(r->detail, copy.detail, strlen(copy.detail) + 1); /* terminated: entry_valid */
		return 1;
	}
	return 0;
}

int omx_cache_get(struct omx_cache *c, const char *domain, time_t now, struct omx_srv_result *r)
{
	uint64_t h;
	sigset_t saved;
	int hit = 0;

	if (!c->file || strlen(domain) >= sizeof(c->file->domains[0].domain))
		return 0;
	h = domain_hash(c, domain);
	if (get_negative(c, domain, h, now, r))
		return 1;
	if (lock(c, &saved) != 0)
		return OMX_CACHE_BUSY;
	for (unsigned attempt = 0; attempt < DOMAIN_PROBES && !hit; attempt++) {
		struct domain_entry *e = &c->file->domains[domain_slot(h, attempt)];
		int64_t expires = __atomic_load_n(&e->expires, __ATOMIC_ACQUIRE);

		if (strncmp(e->domain, domain, sizeof(e->domain)) != 0)
			continue;
		if (expires <= now || !entry_valid(c, e, now))
			break;
		/* Field by field: the result is kilobytes (the ignored list), and this
		 * runs at every MX lookup of an unmapped domain. */
		r->status = (enum omx_srv_status)e->status;
		r->secure = e->secure;
		r->ttl = (uint32_t)(expires - now);
		r->n = (int)e->n;
		r->nignored = 0;
		memcpy(r->detail, e->detail, strlen(e->detail) + 1); /* terminated: entry_valid */
		for (int i = 0; i < r->n; i++) {
			memcpy(r->rec[i].onion, e->rec[i].onion, OMX_ONION_LABEL_LEN);
			r->rec[i].onion[OMX_ONION_LABEL_LEN] = '\0';
			r->rec[i].priority = e->rec[i].priority;
			r->rec[i].weight = e->rec[i].weight;
			r->rec[i].port = e->rec[i].port;
		}
		hit = 1;
	}
	/* The onions of a live answer are in use: keep (or give back) their
	 * addresses, under the same lock. */
	for (int i = 0; hit && i < r->n; i++) {
		uint32_t addr;

		if (!assign_locked(c, r->rec[i].onion, r->rec[i].port, now, owner_tag(h), &addr))
			hit = OMX_CACHE_FULL;
	}
	unlock(c, &saved);
	return hit;
}

int omx_cache_put(struct omx_cache *c, const char *domain, time_t now,
		  const struct omx_srv_result *r)
{
	struct domain_entry *slot = NULL;
	uint32_t ttl = r->ttl < OMX_SRV_TTL_MAX ? r->ttl : OMX_SRV_TTL_MAX;
	int rc = 0, onion = r->status == OMX_SRV_ONION;
	sigset_t saved;
	uint64_t h;

	if (!c->file || strlen(domain) >= sizeof(c->file->domains[0].domain) ||
	    r->status == OMX_SRV_TEMPFAIL || r->n > OMX_SRV_MAX_TARGETS || (onion && r->n <= 0))
		return onion ? OMX_CACHE_FULL : 0;
	h = domain_hash(c, domain);
	if (lock(c, &saved) != 0)
		return onion ? OMX_CACHE_BUSY : 0;
	/* Addresses first: an answer is only stored once its onions can be reached. */
	if (onion && !within_quota(c, owner_tag(h), now, r))
		rc = OMX_CACHE_QUOTA;
	for (int i = 0; rc == 0 && onion && i < r->n; i++) {
		uint32_t addr;
		if (!assign_locked(c, r->rec[i].onion, r->rec[i].port, now, owner_tag(h), &addr))
			rc = OMX_CACHE_FULL;
	}
	if (rc == 0 && ttl > 0) {
		for (unsigned attempt = 0; attempt < DOMAIN_PROBES; attempt++) {
			struct domain_entry *e = &c->file->domains[domain_slot(h, attempt)];

			if (strncmp(e->domain, domain, sizeof(e->domain)) == 0 || e->domain[0] == '\0') {
				slot = e;
				break;
			}
			if (!slot || e->expires < slot->expires)
				slot = e;
		}
		/* Unpublished first, published last (expires, with the checksum
		 * written before it): a writer killed anywhere in between leaves an
		 * entry no reader takes. */
		__atomic_store_n(&slot->expires, 0, __ATOMIC_RELEASE);
		/* Readers without the lock (get_negative) must not see the stores
		 * below before this one (a seqlock writer's fence). */
		fence_release();
		test_step("entry cleared");
		memset(slot->domain, 0, sizeof(slot->domain));
		snprintf(slot->domain, sizeof(slot->domain), "%s", domain);
		slot->status = (uint8_t)r->status;
		slot->secure = (uint8_t)(r->secure != 0);
		test_step("entry named");
		memset(slot->detail, 0, sizeof(slot->detail));
		memcpy(slot->detail, r->detail, strnlen(r->detail, sizeof(slot->detail) - 1));
		slot->n = onion ? (uint32_t)r->n : 0;
		memset(slot->rec, 0, sizeof(slot->rec));
		for (uint32_t i = 0; i < slot->n; i++) {
			memcpy(slot->rec[i].onion, r->rec[i].onion, OMX_ONION_LABEL_LEN);
			slot->rec[i].priority = r->rec[i].priority;
			slot->rec[i].weight = r->rec[i].weight;
			slot->rec[i].port = r->rec[i].port;
			test_step("entry record");
		}
		{
			/* The checksum covers the expiry it is about to get. */
			struct domain_entry published = *slot;

			published.expires = now + (int64_t)ttl;
			slot->sum = entry_sum(c, &published);
		}
		test_step("entry summed");
		__atomic_store_n(&slot->expires, now + (int64_t)ttl, __ATOMIC_RELEASE);
		test_step("entry published");
	}
	unlock(c, &saved);
	return rc;
}
