/* onionmx.conf: "key = value" lines, '#' comments. Pure parser (no globals); the
 * loader reads a file and can insist that it is owned by root (secure mode). */
#ifndef OMX_CONFIG_H
#define OMX_CONFIG_H
#include <limits.h>
#include <stddef.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include "cache.h"
#include "stats.h"

#define OMX_DEFAULT_CONF "/etc/onionmx/onionmx.conf"
#define OMX_DEFAULT_MAP "/etc/onionmx/domains.cdb"
#define OMX_DEFAULT_SOCKS "127.0.0.1:9050"
#define OMX_DEFAULT_TIMEOUT 120
#define OMX_TORS_MAX 4                 /* Tor clients in "socks" */
#define OMX_DEFAULT_TOR_HEALTH "/var/lib/onionmx/tor.health"
#define OMX_DEFAULT_TOR_RETRY 60       /* seconds a Tor found down is skipped */
#define OMX_DEFAULT_TOR_ANSWER 5       /* seconds for a Tor to accept and answer the greeting */
#define OMX_CONFIG_MAX_SIZE (1024 * 1024)
#define OMX_CONFIG_MAX_LINE 4096

enum omx_log_target { OMX_LOG_SYSLOG, OMX_LOG_STDERR };

/* One Tor client's SOCKS5 port. */
struct omx_tor_addr {
	struct sockaddr_storage ss;
	socklen_t len;
	const char *text;               /* as written, for messages */
};

/* The longest path the config takes, NUL included (a limit kept from when
 * each path had a buffer of its own). */
#define OMX_CONFIG_PATH_MAX 1024
#define OMX_CONFIG_PROGRAMS_MAX 1024   /* the "programs" list, NUL included */
#define OMX_CONFIG_TOR_TEXT_MAX 64     /* one "socks" HOST:PORT, NUL included */
#define OMX_CONFIG_RANGE_MAX 48        /* "discover_range", NUL included */
/* Room for the config's texts together: every path and the program list at
 * their longest, and what the library keeps beside them (state.c: the
 * ONIONMX_CONF entry and its own LD_PRELOAD entry, PATH_MAX each). */
#define OMX_CONFIG_STRINGS (16 * 1024)

struct omx_config {
	struct sockaddr_storage socks;  /* the first Tor's SOCKS5 port (tors[0]) */
	socklen_t socks_len;
	const char *socks_text;         /* as written, for messages */
	/* "socks = A B C": several Tor clients, tried in an order that depends
	 * on the onion, the next when one is down (see tor.h). */
	struct omx_tor_addr tors[OMX_TORS_MAX];
	int ntors;
	const char *tor_health;         /* the shared file saying which Tor is down */
	int tor_retry;                  /* seconds a Tor found down is skipped */
	int tor_answer;                 /* seconds for a Tor to answer the greeting */
	const char *map_path;
	int timeout;                    /* seconds for the whole SOCKS connect */
	enum omx_log_target log;
	int log_level;                  /* syslog priority: LOG_ERR .. LOG_DEBUG */
	int isolate;                    /* one set of Tor circuits per destination onion */
	/* Programs the library acts in: "" for all; else space-separated absolute
	 * paths, an entry ending in '/' standing for everything under it. */
	const char *programs;
	/* Onion MX discovery from _onion-mx._tcp SRV records (see srv.h, cache.h). */
	int discover;                   /* 0: off (default); 1: srv */
	int srv_dnssec;                 /* enum omx_dnssec_policy */
	int srv_failure_mx;             /* 1: a failed SRV lookup falls back to the MX */
	const char *cache_path;
	const char *discover_range;
	const char *stats_path;         /* delivery statistics (stats.h); "" = none */
	/* The texts above point at constants (the defaults) or into strings[],
	 * where the parser stores what the file says, one after another: a
	 * process start writes the few bytes they take, next to the rest of the
	 * config, and not the beginnings of five 1 KiB buffers (each a page of
	 * memory in every process). Last, so that the part no start writes lies
	 * after everything it does. A copy of the struct points into the
	 * original's strings. */
	size_t strings_used;
	char strings[OMX_CONFIG_STRINGS];
};

/* SIZE bytes among CFG's strings, for the caller to fill; NULL when there is
 * no room left. */
char *omx_config_reserve(struct omx_config *cfg, size_t size);

/* Stores LEN bytes of TEXT and a NUL among CFG's strings and returns where;
 * NULL when there is no room left. */
const char *omx_config_keep(struct omx_config *cfg, const char *text, size_t len);

void omx_config_defaults(struct omx_config *cfg);

/* The defaults set over a CFG that is already all zero (static storage, never
 * written): omx_config_defaults without its memset. */
void omx_config_set_defaults(struct omx_config *cfg);

/* OMX_DEFAULT_SOCKS's address and port, which the defaults store without
 * parsing the text (test_config checks they agree). */
#define OMX_DEFAULT_SOCKS_ADDR 0x7f000001u /* 127.0.0.1 */
#define OMX_DEFAULT_SOCKS_PORT 9050

/* OMX_DEFAULT_RANGE (map.h, 240.0.0.0/5) as numbers, host order: the range in
 * force from start-up until a map sets its own (test_config checks they agree). */
#define OMX_DEFAULT_RANGE_NET 0xf0000000u
#define OMX_DEFAULT_RANGE_MASK 0xf8000000u

/* Parses LEN bytes of TEXT over the defaults already in CFG. On error returns -1
 * with "FILE:LINE: what is wrong" in ERR. */
int omx_config_parse(struct omx_config *cfg, const char *text, size_t len, const char *file,
		     char *err, size_t errlen);

/* Reads and parses PATH. With REQUIRE_ROOT the file must be owned by root and not
 * writable by group or others (used under AT_SECURE). */
int omx_config_load(struct omx_config *cfg, const char *path, int require_root, char *err,
		    size_t errlen);

/* Whether the library acts in the program at EXE (its resolved path). */
int omx_config_program_matches(const struct omx_config *cfg, const char *exe);

/* Whether the program at PATH is a known delivering MTA binary (Postfix's smtp,
 * Exim's exim4 or exim), judged by its name: where no "programs" key says which
 * programs deliver mail, these are the ones whose address lookups of mapped
 * domains are answered with onion routes (see omx_mta). */
int omx_is_mta_program(const char *path);

/* Parses "A.B.C.D:PORT" or "[IPV6]:PORT" into SS/LEN. Returns 0 or -1. */
int omx_parse_hostport(const char *text, struct sockaddr_storage *ss, socklen_t *len);

/* Whether ST is a file only root can change: owned by root, not writable by
 * group or others (what secure mode demands of the config and the map). */
int omx_root_only(const struct stat *st);

/* snprintf(DST, SIZE, "%s", SRC) without printf (nor the fortified
 * __memcpy_chk), for the short copies made at every process start
 * (configuration values, paths): each libc function a process calls for the
 * first time costs ld.so a symbol lookup. */
static inline void omx_copy_text(char *dst, size_t size, const char *src)
{
	size_t n = 0;

	for (; n + 1 < size && src[n]; n++)
		dst[n] = src[n];
	dst[n] = '\0';
}

/* Reads a whole file of at most MAX bytes into a malloc'd NUL-terminated buffer,
 * checking ownership when REQUIRE_ROOT (shared by config and tools). */
char *omx_read_file(const char *path, size_t max, int require_root, size_t *len, char *err,
		    size_t errlen);
#endif
