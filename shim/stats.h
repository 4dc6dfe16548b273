/* Delivery statistics: one fixed-size file that every process of the MTA maps
 * shared, counting each onion connection (tried, succeeded, failed by cause,
 * SOCKS handshake time, which Tor) and each mail domain's route (map, SRV,
 * clearnet MX, deferred).
 *
 * Writers update it with atomic additions only: no lock, no system call, no
 * allocation (a delivery never waits for the statistics). It is opened in the
 * library's constructor, before the MTA chroots and drops privileges (Postfix's
 * smtp), and in each setuid re-exec of Exim as in any process; the mapping is
 * kept and inherited across fork(). The file never grows: OMX_STATS_ONIONS
 * onions and OMX_STATS_DOMAINS domains, each found by a short probe sequence;
 * an entry unused for OMX_STATS_IDLE seconds gives way to a new one, and when
 * none can, the counts go to an "other" bucket (the totals always count).
 *
 * Readers (onionmx-stats, onionmx-check --health) take a copy with read(), not
 * a mapping (a truncated file cannot fault them), and trust nothing in it: the
 * header must match this layout exactly, and an entry whose name is not valid
 * or does not hash to its key is reported as damaged and left out. */
#ifndef OMX_STATS_H
#define OMX_STATS_H
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "dns.h"

#define OMX_DEFAULT_STATS "/var/lib/onionmx/stats"
#define OMX_STATS_ONIONS 1024
#define OMX_STATS_DOMAINS 2048
#define OMX_STATS_TORS 4           /* Tors told apart; a higher index counts as the last */
#define OMX_STATS_PROBES 16
#define OMX_STATS_IDLE (7 * 86400) /* seconds unused before an entry may be replaced */
#define OMX_STATS_BUCKETS 12       /* handshake-time histogram, the last is +Inf */

/* Why a connection failed. The SOCKS reply codes first, in their order. */
enum omx_stats_cause {
	OMX_CAUSE_GENERAL = 0,     /* 0x01 general SOCKS server failure */
	OMX_CAUSE_NOT_ALLOWED,     /* 0x02 */
	OMX_CAUSE_NET_UNREACH,     /* 0x03 */
	OMX_CAUSE_HOST_UNREACH,    /* 0x04 */
	OMX_CAUSE_CONN_REFUSED,    /* 0x05 refused by the onion service's port */
	OMX_CAUSE_TTL_EXPIRED,     /* 0x06 (Tor: a circuit failed) */
	OMX_CAUSE_CMD_UNSUPPORTED, /* 0x07 */
	OMX_CAUSE_ATYP_UNSUPPORTED,/* 0x08 */
	OMX_CAUSE_DESC_NOT_FOUND,  /* 0xF0 .. */
	OMX_CAUSE_DESC_INVALID,
	OMX_CAUSE_INTRO_FAILED,
	OMX_CAUSE_REND_FAILED,
	OMX_CAUSE_AUTH_MISSING,
	OMX_CAUSE_AUTH_WRONG,
	OMX_CAUSE_BAD_ADDRESS,
	OMX_CAUSE_INTRO_TIMEOUT,   /* .. 0xF7 */
	OMX_CAUSE_SOCKS_OTHER,     /* any other reply code */
	OMX_CAUSE_TIMEOUT,         /* no answer within the timeout */
	OMX_CAUSE_TOR_REFUSED,     /* Tor's SOCKS port refused the connection */
	OMX_CAUSE_ERROR,           /* anything else: malformed reply, closed, ... */
	OMX_CAUSES
};

enum omx_stats_route { OMX_STATS_ROUTE_MAP, OMX_STATS_ROUTE_SRV, OMX_STATS_ROUTE_MX, OMX_STATS_ROUTE_DEFERRED, OMX_STATS_ROUTES };

/* Upper bounds of the histogram's buckets, in seconds (the last is +Inf). */
extern const double omx_stats_bucket_le[OMX_STATS_BUCKETS];

struct omx_stats_counts {
	uint64_t tried, succeeded;
	uint64_t failed[OMX_CAUSES];
	uint64_t tor_succeeded[OMX_STATS_TORS], tor_failed[OMX_STATS_TORS];
	uint64_t handshake[OMX_STATS_BUCKETS]; /* successes per bucket, not cumulative */
	uint64_t handshake_us;                 /* their sum, microseconds */
	int64_t last_success, last_failure;    /* CLOCK_REALTIME milliseconds, 0 never */
	uint32_t last_cause;                   /* of the last failure */
	uint32_t pad;
};

struct omx_stats_onion {
	uint64_t key;                  /* hash of the label; 0 free */
	int64_t last_used;             /* CLOCK_REALTIME seconds */
	char onion[56];                /* label, no ".onion", not NUL-terminated */
	struct omx_stats_counts c;
};

struct omx_stats_domain {
	uint64_t key;                  /* hash of the name; 0 free */
	int64_t last_used;             /* CLOCK_REALTIME seconds */
	char domain[256];              /* lower case, NUL-terminated */
	uint64_t route[OMX_STATS_ROUTES];
	uint32_t last_route;
	uint32_t pad;
};

struct omx_stats_file {
	char magic[16];
	uint32_t onion_slots, domain_slots, causes, buckets, tors, onion_size, domain_size, pad;
	int64_t created;
	struct omx_stats_counts total, other_onions;
	uint64_t other_domains[OMX_STATS_ROUTES];
	struct omx_stats_onion onions[OMX_STATS_ONIONS];
	struct omx_stats_domain domains[OMX_STATS_DOMAINS];
};

/* Names for people and for metric labels. */
const char *omx_stats_cause_name(int cause);
const char *omx_stats_route_name(int route);

/* Whether CAUSE points at our own side (our Tor, its circuits, the local
 * network) rather than at the destination onion (descriptor, introduction,
 * rendezvous, the service's port). */
int omx_stats_cause_local(int cause);

/* The cause of a failed connection: RC is the -errno omx_tor_connect returns
 * (-ENETDOWN: Tor's port refused), SOCKS_CODE Tor's reply code (0: none). */
int omx_stats_cause_of(int rc, int socks_code);

/* --- the pure core: counting into F (a mapped file or any memory) --- */

void omx_stats_init(struct omx_stats_file *f, time_t now);

/* Counts one connection to ONION (56-character label) through Tor number TOR
 * at NOW_MS (CLOCK_REALTIME milliseconds: two attempts in one second stay in
 * order): CAUSE -1 for success (SECONDS: the SOCKS handshake's time), else an
 * omx_stats_cause. */
void omx_stats_count_connect(struct omx_stats_file *f, const char *onion, unsigned tor,
			     int cause, double seconds, int64_t now_ms);

/* Counts one route taken by mail for DOMAIN. */
void omx_stats_count_route(struct omx_stats_file *f, const char *domain, int route,
			   int64_t now_ms);

/* Checks a copy of a statistics file (LEN bytes at BUF): 0 if its header is
 * this layout's, else -1 with the reason in ERR. */
int omx_stats_check(const void *buf, size_t len, char *err, size_t errlen);

/* Whether entry I of a checked copy is in use (1), free (0) or damaged (-1). */
int omx_stats_onion_valid(const struct omx_stats_file *f, unsigned i);
int omx_stats_domain_valid(const struct omx_stats_file *f, unsigned i);

/* Reads PATH into a malloc'd checked copy: NULL with ERR on failure (errno
 * ENOENT when there is no file). */
struct omx_stats_file *omx_stats_read(const char *path, char *err, size_t errlen);

/* --- the health verdict (onionmx-check --health) --- */

enum omx_health_verdict { OMX_HEALTH_OK = 0, OMX_HEALTH_WARNING = 1, OMX_HEALTH_CRITICAL = 2,
		  OMX_HEALTH_UNKNOWN = 3 };

struct omx_health_params {
	time_t now;
	int window;        /* seconds: only attempts this recent count */
	int min_onions;    /* distinct onions failing locally before "our Tor" (2) */
	int socks_answers; /* 1 Tor's SOCKS port answered a probe, 0 not, -1 not probed */
	const char *socks; /* its address, for the text ("A, B": several, none answers) */
};

/* Judges F: "our Tor is broken" (CRITICAL: its SOCKS port does not answer, or
 * MIN_ONIONS distinct onions whose last attempt failed with a local-looking
 * cause and no success since the first of those failures), "destination
 * down" (WARNING: onions failing for their own reasons, or too few to blame
 * our Tor), idle (OK: nothing tried in the window) or OK. One line in TEXT. */
enum omx_health_verdict omx_stats_verdict(const struct omx_stats_file *f,
				  const struct omx_health_params *p, char *text, size_t cap);

/* --- the library's own file (shim/state.c opens it) --- */

/* Opens (creating it, mode 0640, if missing) and maps PATH, under the same
 * ownership rules as the discovery cache. 0, or -1 with ERR (errno EACCES when
 * this process may not write it). */
int omx_stats_open(const char *path, int require_root, char *err, size_t errlen);

/* The route an answer to an MX question gives its domain: OURS 0 (passed to
 * DNS: the clearnet MX), a SERVFAIL (deferred), MX records (SOURCE: map or
 * srv); -1 for anything else (not an MX question, NODATA, NXDOMAIN). */
int omx_stats_route_of(const struct omx_dns_question *q, const struct omx_dns_answer *a,
		       int ours, int source);

/* What the hooks call: nothing happens when no file is open (the library opens
 * it only in processes that deliver mail). omx_stats_mx_route counts the
 * route of an answer (omx_stats_route_of) and returns OURS. */
void omx_stats_connect(const char *onion, unsigned tor, int rc, int socks_code, double seconds);
/* Whether connections are counted (a statistics file is open). */
int omx_stats_counting(void);
void omx_stats_route(const char *domain, int route);
int omx_stats_mx_route(const struct omx_dns_question *q, const struct omx_dns_answer *a,
		       int ours, int source);
#endif
