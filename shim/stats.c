/* Delivery statistics: counting (lock-free), the file, reading it as untrusted
 * data, and the health verdict. See stats.h. */
#include "stats.h"

#include <errno.h>
#include <stddef.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "dirsafe.h"
#include "fnv.h"
#include "onion.h"
#include "shared_file.h"

#define STATS_MAGIC "onionmx stats 1" /* 15 characters and the NUL */

/* find_slot() relies on every entry beginning with its key and last_used. */
_Static_assert(offsetof(struct omx_stats_onion, last_used) == 8, "onion entry layout");
_Static_assert(offsetof(struct omx_stats_domain, last_used) == 8, "domain entry layout");

const double omx_stats_bucket_le[OMX_STATS_BUCKETS] = {
	0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 0 /* +Inf */
};

static const char *const cause_names[OMX_CAUSES] = {
	"general_failure", "not_allowed", "network_unreachable", "host_unreachable",
	"connection_refused", "ttl_expired", "command_unsupported", "address_type_unsupported",
	"descriptor_not_found", "descriptor_invalid", "introduction_failed", "rendezvous_failed",
	"client_auth_missing", "client_auth_wrong", "invalid_onion_address", "introduction_timeout",
	"socks_other", "timeout", "tor_refused", "error",
};

static const char *const route_names[OMX_STATS_ROUTES] = { "map", "srv", "mx", "deferred" };

const char *omx_stats_cause_name(int cause)
{
	return cause >= 0 && cause < OMX_CAUSES ? cause_names[cause] : "unknown";
}

const char *omx_stats_route_name(int route)
{
	return route >= 0 && route < OMX_STATS_ROUTES ? route_names[route] : "unknown";
}

int omx_stats_cause_local(int cause)
{
	switch (cause) {
	case OMX_CAUSE_CONN_REFUSED: /* the service answered: its port is closed */
	case OMX_CAUSE_HOST_UNREACH: /* Tor without ExtendedErrors: no descriptor */
		return 0;
	default:
		return !(cause >= OMX_CAUSE_DESC_NOT_FOUND && cause <= OMX_CAUSE_INTRO_TIMEOUT);
	}
}

int omx_stats_cause_of(int rc, int socks_code)
{
	if (socks_code >= 0x01 && socks_code <= 0x08)
		return OMX_CAUSE_GENERAL + socks_code - 0x01;
	if (socks_code >= 0xf0 && socks_code <= 0xf7)
		return OMX_CAUSE_DESC_NOT_FOUND + socks_code - 0xf0;
	if (socks_code)
		return OMX_CAUSE_SOCKS_OTHER;
	if (rc == -ETIMEDOUT || rc == -EINTR) /* EINTR: the caller's alarm() (Exim's timeout) */
		return OMX_CAUSE_TIMEOUT;
	if (rc == -ENETDOWN || rc == -ECONNREFUSED)
		return OMX_CAUSE_TOR_REFUSED;
	return OMX_CAUSE_ERROR;
}

/* FNV-1a, then a final mix; never 0 (a free slot). Damage detection only:
 * whoever could choose colliding names only blurs the statistics. */
static uint64_t name_hash(const char *s, size_t n)
{
	uint64_t h = omx_fnv1a64(OMX_FNV64_OFFSET, s, n);

	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdull;
	h ^= h >> 33;
	return h ? h : 1;
}

void omx_stats_init(struct omx_stats_file *f, time_t now)
{
	memset(f, 0, sizeof(*f));
	memcpy(f->magic, STATS_MAGIC, sizeof(STATS_MAGIC));
	f->onion_slots = OMX_STATS_ONIONS;
	f->domain_slots = OMX_STATS_DOMAINS;
	f->causes = OMX_CAUSES;
	f->buckets = OMX_STATS_BUCKETS;
	f->tors = OMX_STATS_TORS;
	f->onion_size = sizeof(struct omx_stats_onion);
	f->domain_size = sizeof(struct omx_stats_domain);
	f->created = (int64_t)now;
}

#define ADD(p, v) __atomic_add_fetch((p), (v), __ATOMIC_RELAXED)
#define STORE(p, v) __atomic_store_n((p), (v), __ATOMIC_RELAXED)
#define LOAD(p) __atomic_load_n((p), __ATOMIC_RELAXED)

/* Raises *P to V (a timestamp) unless it is already later. */
static void store_max(int64_t *p, int64_t v)
{
	int64_t old = LOAD(p);

	while (old < v && !__atomic_compare_exchange_n(p, &old, v, 1, __ATOMIC_RELAXED,
						       __ATOMIC_RELAXED))
		;
}

static void count(struct omx_stats_counts *c, unsigned tor, int cause, double seconds, int64_t now_ms)
{
	if (tor >= OMX_STATS_TORS)
		tor = OMX_STATS_TORS - 1;
	ADD(&c->tried, 1);
	if (cause < 0) {
		int b = 0;
		double us = seconds > 0 ? seconds * 1e6 : 0;

		while (b < OMX_STATS_BUCKETS - 1 && seconds > omx_stats_bucket_le[b])
			b++;
		ADD(&c->succeeded, 1);
		ADD(&c->tor_succeeded[tor], 1);
		ADD(&c->handshake[b], 1);
		ADD(&c->handshake_us, us < 1e15 ? (uint64_t)us : (uint64_t)1e15);
		store_max(&c->last_success, now_ms);
	} else {
		if (cause >= OMX_CAUSES)
			cause = OMX_CAUSE_ERROR;
		ADD(&c->failed[cause], 1);
		ADD(&c->tor_failed[tor], 1);
		STORE(&c->last_cause, (uint32_t)cause);
		store_max(&c->last_failure, now_ms);
	}
}

/* Finds KEY's slot in a table of N entries of SIZE bytes at BASE (each
 * beginning with its key and last_used), or claims one for it: the first free
 * slot of its probe sequence (so two processes claiming the same name at once
 * meet at the same slot), else the one there idle the longest, if idle for
 * OMX_STATS_IDLE. Returns the slot with *FRESH set if it was just claimed, or
 * NULL (the "other" bucket). */
static void *find_slot(void *base, size_t size, unsigned n, uint64_t key, time_t now, int *fresh)
{
	void *oldest = NULL;
	int64_t oldest_used = (int64_t)now - OMX_STATS_IDLE;

	*fresh = 0;
	for (unsigned p = 0; p < OMX_STATS_PROBES; p++) {
		char *e = (char *)base + (size_t)((key + p) % n) * size;
		uint64_t *keyp = (uint64_t *)e, k = __atomic_load_n(keyp, __ATOMIC_ACQUIRE);
		int64_t used = LOAD((int64_t *)(e + 8));

		if (k == 0) {
			if (__atomic_compare_exchange_n(keyp, &k, key, 0, __ATOMIC_ACQ_REL,
							__ATOMIC_ACQUIRE)) {
				*fresh = 1;
				return e;
			}
			/* k now holds the winner's key */
		}
		if (k == key)
			return e;
		if (used < oldest_used) {
			oldest = e;
			oldest_used = used;
		}
	}
	if (oldest) {
		uint64_t k = LOAD((uint64_t *)oldest);

		if (k != 0 && __atomic_compare_exchange_n((uint64_t *)oldest, &k, key, 0,
							  __ATOMIC_ACQ_REL, __ATOMIC_RELAXED)) {
			/* Replaced: counts of the old name still racing in may land here. */
			memset((char *)oldest + 16, 0, size - 16);
			*fresh = 1;
			return oldest;
		}
	}
	return NULL;
}

/* The onion's entry, found or made; NULL: the "other" bucket. */
static struct omx_stats_onion *onion_entry(struct omx_stats_file *f, const char *onion, time_t now)
{
	int fresh;
	struct omx_stats_onion *e = find_slot(f->onions, sizeof(*e), OMX_STATS_ONIONS,
					      name_hash(onion, OMX_ONION_LABEL_LEN), now, &fresh);

	if (!e)
		return NULL;
	/* Only the claimer writes the name (a name still empty: it is doing so). */
	if (!fresh && e->onion[0] && memcmp(e->onion, onion, OMX_ONION_LABEL_LEN) != 0)
		return NULL; /* another onion with the same hash */
	if (fresh)
		memcpy(e->onion, onion, OMX_ONION_LABEL_LEN);
	STORE(&e->last_used, (int64_t)now);
	return e;
}

void omx_stats_count_connect(struct omx_stats_file *f, const char *onion, unsigned tor,
			     int cause, double seconds, int64_t now_ms)
{
	time_t now = (time_t)(now_ms / 1000);
	struct omx_stats_onion *e = NULL;

	if (!f)
		return;
	if (onion && strnlen(onion, OMX_ONION_LABEL_LEN + 1) == OMX_ONION_LABEL_LEN)
		e = onion_entry(f, onion, now);
	count(&f->total, tor, cause, seconds, now_ms);
	count(e ? &e->c : &f->other_onions, tor, cause, seconds, now_ms);
}

/* Lower-cases DOMAIN into OUT; 0 if it is not a plain host name we can show
 * (as a Prometheus label, in a table) without escaping. */
static int clean_domain(const char *domain, char out[256], size_t *len)
{
	size_t n = strnlen(domain, 256);

	if (n == 0 || n > 253)
		return 0;
	if (domain[n - 1] == '.')
		n--;
	for (size_t i = 0; i < n; i++) {
		char ch = domain[i];

		if (ch >= 'A' && ch <= 'Z')
			ch = (char)(ch - 'A' + 'a');
		if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '-' || ch == '.' ||
		      ch == '_'))
			return 0;
		out[i] = ch;
	}
	memset(out + n, 0, 256 - n);
	*len = n;
	return n > 0;
}

void omx_stats_count_route(struct omx_stats_file *f, const char *domain, int route,
			   int64_t now_ms)
{
	time_t now = (time_t)(now_ms / 1000);
	struct omx_stats_domain *e;
	char name[256];
	size_t len;
	int fresh;

	if (!f || route < 0 || route >= OMX_STATS_ROUTES)
		return;
	if (!domain || !clean_domain(domain, name, &len))
		goto other;
	e = find_slot(f->domains, sizeof(*e), OMX_STATS_DOMAINS, name_hash(name, len), now, &fresh);
	if (!e || (!fresh && e->domain[0] && memcmp(e->domain, name, len + 1) != 0))
		goto other;
	if (fresh)
		memcpy(e->domain, name, len + 1);
	ADD(&e->route[route], 1);
	STORE(&e->last_route, (uint32_t)route);
	STORE(&e->last_used, (int64_t)now);
	return;
other:
	ADD(&f->other_domains[route], 1);
}

/* --- reading --- */

int omx_stats_check(const void *buf, size_t len, char *err, size_t errlen)
{
	const struct omx_stats_file *f = buf;

	if (len != sizeof(*f) || memcmp(f->magic, STATS_MAGIC, sizeof(STATS_MAGIC)) != 0 ||
	    f->onion_slots != OMX_STATS_ONIONS || f->domain_slots != OMX_STATS_DOMAINS ||
	    f->causes != OMX_CAUSES || f->buckets != OMX_STATS_BUCKETS || f->tors != OMX_STATS_TORS ||
	    f->onion_size != sizeof(struct omx_stats_onion) ||
	    f->domain_size != sizeof(struct omx_stats_domain)) {
		snprintf(err, errlen, "not an onionmx statistics file of this version (%zu bytes; damaged, or from another version: remove it and it is made again)",
			 len);
		return -1;
	}
	return 0;
}

/* 56 base32 characters, the last the version's ('d': 3). Only the shape: the
 * writer counted what the map or discovery gave it. */
static int label_shape(const char *s)
{
	for (int i = 0; i < OMX_ONION_LABEL_LEN; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '2' && s[i] <= '7')))
			return 0;
	return s[OMX_ONION_LABEL_LEN - 1] == 'd';
}

int omx_stats_onion_valid(const struct omx_stats_file *f, unsigned i)
{
	const struct omx_stats_onion *e = &f->onions[i];

	if (e->key == 0)
		return 0;
	if (e->onion[0] == 0)
		return 0; /* being claimed right now */
	if (!label_shape(e->onion) || name_hash(e->onion, OMX_ONION_LABEL_LEN) != e->key || e->c.last_cause >= OMX_CAUSES)
		return -1;
	return 1;
}

int omx_stats_domain_valid(const struct omx_stats_file *f, unsigned i)
{
	const struct omx_stats_domain *e = &f->domains[i];
	char name[256];
	size_t len, n = strnlen(e->domain, sizeof(e->domain));

	if (e->key == 0 || e->domain[0] == 0)
		return 0;
	if (n == sizeof(e->domain) || !clean_domain(e->domain, name, &len) || len != n ||
	    memcmp(name, e->domain, n) != 0 || name_hash(name, len) != e->key ||
	    e->last_route >= OMX_STATS_ROUTES)
		return -1;
	return 1;
}

struct omx_stats_file *omx_stats_read(const char *path, char *err, size_t errlen)
{
	struct omx_stats_file *f;
	struct stat st;
	size_t have = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);

	if (fd < 0) {
		int e = errno;

		snprintf(err, errlen, "%s: %s", path, strerror(e));
		errno = e;
		return NULL;
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "%s: not a regular file", path);
		close(fd);
		errno = EINVAL;
		return NULL;
	}
	f = malloc(sizeof(*f));
	if (!f) {
		snprintf(err, errlen, "%s: out of memory", path);
		close(fd);
		return NULL;
	}
	/* One byte more than the layout's size is asked for: a longer file is not ours. */
	for (;;) {
		char extra;
		ssize_t n = have < sizeof(*f) ? read(fd, (char *)f + have, sizeof(*f) - have)
					      : read(fd, &extra, 1);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			snprintf(err, errlen, "%s: %s", path, strerror(errno));
			goto fail;
		}
		if (n == 0)
			break;
		have += (size_t)n;
		if (have > sizeof(*f))
			break;
	}
	char why[256];
	if (omx_stats_check(f, have, why, sizeof(why)) != 0) {
		snprintf(err, errlen, "%s: %s", path, why);
		goto fail;
	}
	close(fd);
	return f;
fail:
	close(fd);
	free(f);
	errno = EINVAL;
	return NULL;
}

/* --- the verdict --- */

static void utc(int64_t t_ms, char *out, size_t cap)
{
	time_t tt = (time_t)(t_ms / 1000);
	struct tm tm;

	if (t_ms <= 0 || !gmtime_r(&tt, &tm))
		snprintf(out, cap, "never");
	else
		strftime(out, cap, "%Y-%m-%d %H:%M:%S UTC", &tm);
}

enum omx_health_verdict omx_stats_verdict(const struct omx_stats_file *f,
				  const struct omx_health_params *p, char *text, size_t cap)
{
	int64_t since = ((int64_t)p->now - p->window) * 1000, last_ok = f->total.last_success;
	unsigned active = 0, local = 0, remote = 0, damaged = 0, failing = 0;
	char when[40], names[400] = "";
	size_t nlen = 0;
	enum omx_health_verdict h;

	for (unsigned i = 0; i < OMX_STATS_ONIONS; i++) {
		const struct omx_stats_onion *e = &f->onions[i];
		int v = omx_stats_onion_valid(f, i);

		if (v < 0)
			damaged++;
		if (v <= 0 || (e->c.last_success < since && e->c.last_failure < since))
			continue;
		active++;
		if (e->c.last_failure <= e->c.last_success)
			continue; /* its last attempt succeeded */
		failing++;
		if (omx_stats_cause_local((int)e->c.last_cause) && e->c.last_failure > last_ok) {
			local++;
		} else {
			remote++;
		}
		if (nlen < sizeof(names) - 100) {
			int n = snprintf(names + nlen, sizeof(names) - nlen, "%s%.56s.onion (%s)",
					 nlen ? ", " : "", e->onion,
					 omx_stats_cause_name((int)e->c.last_cause));
			if (n > 0)
				nlen += (size_t)n;
		}
	}
	/* The "other" bucket counts as one more onion when it is failing. */
	if (f->other_onions.last_failure >= since && f->other_onions.last_failure > f->other_onions.last_success) {
		active++;
		failing++;
		if (omx_stats_cause_local((int)f->other_onions.last_cause) &&
		    f->other_onions.last_failure > last_ok)
			local++;
		else
			remote++;
	} else if (f->other_onions.last_success >= since) {
		active++;
	}
	utc(last_ok, when, sizeof(when));
	if (p->socks_answers == 0) {
		h = OMX_HEALTH_CRITICAL;
		int several = p->socks && strchr(p->socks, ','); /* "A, B": every Tor is down */

		snprintf(text, cap, "our Tor is broken: %s %s %s; %u onion%s failing, last success %s",
			 several ? "none of its SOCKS ports" : "its SOCKS port", p->socks ? p->socks : "?",
			 several ? "answers" : "does not answer", failing, failing == 1 ? "" : "s", when);
	} else if (local >= (unsigned)p->min_onions) {
		h = OMX_HEALTH_CRITICAL;
		snprintf(text, cap, "our Tor is broken: %u onions failing with local causes, no success since %s (%s)%s",
			 local, when, names,
			 p->socks_answers > 0 ? "; its SOCKS port answers" : "");
	} else if (failing) {
		h = OMX_HEALTH_WARNING;
		if (remote && !local)
			snprintf(text, cap, "destination down: %s; %u of %u onions failing, last success %s",
				 names, failing, active, when);
		else
			snprintf(text, cap, "destination down or slow: %s; %u of %u onions failing (too few to blame our Tor), last success %s",
				 names, failing, active, when);
	} else if (!active) {
		h = OMX_HEALTH_OK;
		snprintf(text, cap, "idle: no onion connection in the last %d s (last success %s)%s",
			 p->window, when, p->socks_answers > 0 ? "; Tor's SOCKS port answers" : "");
	} else {
		h = OMX_HEALTH_OK;
		snprintf(text, cap, "%u onion%s reached in the last %d s, last success %s", active,
			 active == 1 ? "" : "s", p->window, when);
	}
	if (damaged) {
		size_t n = strlen(text);

		snprintf(text + n, cap - n, " (%u damaged statistics entr%s ignored)", damaged,
			 damaged == 1 ? "y" : "ies");
		if (h == OMX_HEALTH_OK)
			h = OMX_HEALTH_WARNING;
	}
	return h;
}

/* --- the library's file --- */

static struct omx_stats_file *stats_file; /* atomic pointer; NULL: not counting */

/* The file's directory: owned by root (or, without REQUIRE_ROOT, this user),
 * not writable by group or others, as the discovery cache's. */
static int dir_ok(const char *path, int require_root, char *err, size_t errlen)
{
	char dir[4096];
	const char *slash = strrchr(path, '/');

	if (!slash || (size_t)(slash - path) >= sizeof(dir)) {
		snprintf(err, errlen, "%s: not an absolute path", path);
		errno = EINVAL;
		return -1;
	}
	memcpy(dir, path, (size_t)(slash - path));
	dir[slash - path] = '\0';
	if (!dir[0])
		memcpy(dir, "/", 2);
	return omx_dir_safe(path, dir, require_root, err, errlen);
}

static const char *fill_stats(void *mem, void *ctx)
{
	(void)ctx;
	omx_stats_init(mem, time(NULL));
	return NULL;
}

/* Creates PATH, a new statistics file, mode 0640 (shared_file.h: made whole,
 * then linked into place; another process winning the race is fine). */
static int create_file(const char *path, char *err, size_t errlen)
{
	const struct omx_shared_init init = { .fill = fill_stats };

	return omx_shared_file_create(path, sizeof(struct omx_stats_file), 0640, &init, err, errlen);
}

int omx_stats_open(const char *path, int require_root, char *err, size_t errlen)
{
	struct omx_stats_file *f;
	struct stat st;
	int fd, e;

	if (dir_ok(path, require_root, err, errlen) != 0)
		return -1;
	fd = open(path, O_RDWR | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY | O_NONBLOCK);
	if (fd < 0 && errno == ENOENT) {
		if (create_file(path, err, errlen) != 0)
			return -1;
		fd = open(path, O_RDWR | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY | O_NONBLOCK);
	}
	if (fd < 0) {
		e = errno;
		snprintf(err, errlen, "%s: %s", path, strerror(e));
		errno = e;
		return -1;
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) ||
	    (st.st_uid != 0 && (require_root || st.st_uid != geteuid())) ||
	    (st.st_mode & (S_IWGRP | S_IWOTH)) || (size_t)st.st_size != sizeof(*f)) {
		snprintf(err, errlen, "%s: refused: not a regular file of %zu bytes owned by %s and writable only by its owner (remove it: it is made again)",
			 path, sizeof(*f), require_root ? "root" : "root or this user");
		close(fd);
		errno = EPERM;
		return -1;
	}
	f = mmap(NULL, sizeof(*f), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	if (f == MAP_FAILED) {
		e = errno;
		snprintf(err, errlen, "%s: cannot map: %s", path, strerror(e));
		errno = e;
		return -1;
	}
	/* The header is checked once here; the entries are never trusted: a
	 * damaged one only miscounts. */
	if (omx_stats_check(f, sizeof(*f), err, errlen) != 0) {
		char why[256];

		snprintf(why, sizeof(why), "%s", err);
		snprintf(err, errlen, "%s: %s", path, why);
		munmap(f, sizeof(*f));
		errno = EINVAL;
		return -1;
	}
	f = __atomic_exchange_n(&stats_file, f, __ATOMIC_ACQ_REL);
	if (f)
		munmap(f, sizeof(*f));
	return 0;
}

/* CLOCK_REALTIME in milliseconds, from the vDSO (no system call). COARSE (a
 * few ms) for routes, counted on the MX lookups of every domain. */
static int64_t now_ms(clockid_t clock)
{
	struct timespec ts;

	clock_gettime(clock, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void omx_stats_connect(const char *onion, unsigned tor, int rc, int socks_code, double seconds)
{
	struct omx_stats_file *f = __atomic_load_n(&stats_file, __ATOMIC_ACQUIRE);

	if (f)
		omx_stats_count_connect(f, onion, tor, rc ? omx_stats_cause_of(rc, socks_code) : -1,
					seconds, now_ms(CLOCK_REALTIME));
}

int omx_stats_counting(void)
{
	return __atomic_load_n(&stats_file, __ATOMIC_ACQUIRE) != NULL;
}

void omx_stats_route(const char *domain, int route)
{
	struct omx_stats_file *f = __atomic_load_n(&stats_file, __ATOMIC_ACQUIRE);

	if (f)
		omx_stats_count_route(f, domain, route, now_ms(CLOCK_REALTIME_COARSE));
}

int omx_stats_route_of(const struct omx_dns_question *q, const struct omx_dns_answer *a,
		       int ours, int source)
{
	if (q->qtype != OMX_DNS_T_MX || q->qclass != OMX_DNS_C_IN)
		return -1;
	if (!ours)
		return OMX_STATS_ROUTE_MX;
	if (a->rcode == OMX_DNS_SERVFAIL)
		return OMX_STATS_ROUTE_DEFERRED;
	return a->rcode == OMX_DNS_NOERROR && a->n > 0 ? source : -1;
}

int omx_stats_mx_route(const struct omx_dns_question *q, const struct omx_dns_answer *a,
		       int ours, int source)
{
	int route;

	if (__atomic_load_n(&stats_file, __ATOMIC_RELAXED) &&
	    (route = omx_stats_route_of(q, a, ours, source)) >= 0)
		omx_stats_route(q->name, route);
	return ours;
}
