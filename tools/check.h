/* onionmx-check's parts: the command line (onionmx-check.c), the route
 * report and the probe (check_route.c), --publish (check_publish.c). */
#ifndef OMX_CHECK_H
#define OMX_CHECK_H
#include <limits.h>
#include <resolv.h>
#include <stddef.h>

#include "cache.h"
#include "check_mx.h"
#include "config.h"
#include "map.h"
#include "srv.h"

/* Exit codes. With several domains the most severe wins (see rank()). */
#define EXIT_ONION 0     /* every domain has a working onion route */
#define EXIT_CLEARNET 1  /* a domain goes over the clearnet (no onion route) */
#define EXIT_DEFERRED 2  /* a domain's mail would be deferred */
#define EXIT_PROBE 3     /* --probe: no onion of a domain answered with 220 */
#define EXIT_USAGE 64    /* usage error (sysexits.h's EX_USAGE) */
#define EXIT_DATAERR 65  /* --publish: not a valid v3 onion address (EX_DATAERR) */
#define EXIT_NOINPUT 66  /* --publish: the hostname file cannot be read (EX_NOINPUT) */
#define EXIT_CONFIG 78   /* the configuration or the map is broken (EX_CONFIG, as the
			  * onionmx wrapper): the library defers everything */

#define BANNER_MAX 2048
#define MAX2(a, b) ((a) > (b) ? (a) : (b))
#define MAX_ONIONS MAX2(MAX2(OMX_MAP_MAX_TARGETS, OMX_SRV_MAX_TARGETS), OMX_MX_ONIONS_MAX)

struct ctx {
	struct omx_config cfg;
	const char *conf;
	int config_ok;
	char config_err[PATH_MAX + 512];
	struct omx_map map;
	int map_open;
	struct __res_state res;
	int res_ok;
	int terse, probe;
	char discovery_broken[256]; /* why the library cannot discover, if it cannot */
	struct omx_cache cache;     /* the library's shared discovery cache (or a private one) */
	int cache_open;
	char cache_note[PATH_MAX + 512]; /* why the shared one is not used, if it is not */
	char terse_line[4096];
	size_t terse_len;
};

/* Reports DOMAIN's route (and probes its onions with C->probe); returns its
 * exit code. */
int check_domain(struct ctx *c, const char *domain);

/* "require", "prefer" or "off". */
const char *check_policy_name(int policy);

/* Copies untrusted text for printing: control and 8-bit bytes as '?'. */
void check_printable(char *out, size_t cap, const char *in, size_t len);

struct publish_opts {
	const char *domain;
	unsigned long port, priority, weight, ttl;
};

/* --publish: the SRV record announcing the onion ARG (a name, a hostname file
 * or a hidden service directory); returns the exit code. */
int check_publish(const struct publish_opts *po, const char *arg);
#endif
