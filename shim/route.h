/* The routing decision for a mail domain, in the library's order: the static
 * map, then SRV discovery (the shared cache, else the resolver), then the
 * domain's own MX. One function for the library's MX answers and for
 * onionmx-check's route report; its I/O (resolver, log) comes from the host. */
#ifndef OMX_ROUTE_H
#define OMX_ROUTE_H
#include <resolv.h>
#include <time.h>

#include "cache.h"
#include "config.h"
#include "host.h"
#include "map.h"
#include "srv.h"

#define OMX_ROUTE_MAX_TARGETS \
	(OMX_MAP_MAX_TARGETS > OMX_SRV_MAX_TARGETS ? OMX_MAP_MAX_TARGETS : OMX_SRV_MAX_TARGETS)

enum omx_route_kind {
	OMX_ROUTE_MAP = 1,  /* onions from the static map (no DNS query) */
	OMX_ROUTE_SRV,      /* onions from SRV discovery */
	OMX_ROUTE_MX,       /* not ours: the domain's MX decides (see why) */
	OMX_ROUTE_DEFER,    /* the MTA must defer (see why): never the MX */
};

enum omx_route_why {
	OMX_WHY_FOUND = 0,          /* MAP, SRV */
	OMX_WHY_NO_CONFIG,          /* DEFER: no usable configuration or map */
	OMX_WHY_MAP_DAMAGED,        /* DEFER: the map failed its checks */
	OMX_WHY_DISCOVERY_BROKEN,   /* DEFER (or MX with srv_failure = mx): discovery cannot run */
	OMX_WHY_SRV_FAILED,         /* DEFER (or MX with srv_failure = mx): no SRV answer */
	/* DEFER (or MX with srv_failure = mx), the shared cache unusable now: */
	OMX_WHY_CACHE_BUSY,         /* its lock not obtained in time */
	OMX_WHY_CACHE_QUOTA,        /* the domain's answers hold too many addresses */
	OMX_WHY_CACHE_FULL,         /* no free address for a discovered onion */
	OMX_WHY_DISCOVERY_OFF,      /* MX: not in the map, discovery off */
	OMX_WHY_NO_SRV,             /* MX: no _onion-mx._tcp records */
	OMX_WHY_SRV_UNUSABLE,       /* MX: records, but no usable onion among them */
};

struct omx_route {
	enum omx_route_kind kind;
	enum omx_route_why why;
	int n;                                         /* onions, in the order to try */
	struct omx_target targets[OMX_ROUTE_MAX_TARGETS];
	char matched[256];                             /* MAP: the entry that matched */
	int srv_asked;                                 /* discovery was consulted: srv holds its answer */
	int srv_cached;                                /* ... from the shared cache */
	struct omx_srv_result srv;
	int order[OMX_SRV_MAX_TARGETS];                /* SRV: omx_srv_order's order of srv.rec */
};

struct omx_route_env {
	const struct omx_host *host;   /* res_nquery, random, log */
	const struct omx_map *map;     /* NULL: the configuration or map is unusable */
	const struct omx_config *cfg;  /* discover, srv_dnssec, srv_failure_mx, cache_path */
	struct omx_cache *cache;       /* the shared discovery cache; NULL: ask every time */
	int discovery_broken;          /* discovery cannot run (its cause was logged) */
	res_state statp;               /* resolver state to ask with; NULL or uninitialised: a fresh one */
	time_t now;                    /* wall-clock seconds, for the cache */
};

/* Decides DOMAIN's route (lower case, no trailing dot): map, SRV, MX or defer.
 * Logs what an operator must know through the host (ignored SRV targets, a
 * failed lookup, a cache that cannot be used). */
void omx_route_decide(const struct omx_route_env *env, const char *domain, struct omx_route *rt);

/* The second step alone, for a domain the map does not know (the library's
 * MX answers have looked at the map already): SRV, MX or defer. */
void omx_route_discover(const struct omx_route_env *env, const char *domain, struct omx_route *rt);

/* A short name for RT's kind and why, for logs and reports. */
const char *omx_route_why_str(enum omx_route_why why);
#endif
