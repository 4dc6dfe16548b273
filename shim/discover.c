/* Answering a DNS question with the map and, for MX questions it leaves open,
 * with onion MX discovery: the shared cache first, else the domain's
 * _onion-mx._tcp SRV records asked of glibc's real resolver. Every way a lookup
 * can fail ends in a SERVFAIL answer (the MTA defers) unless the operator chose
 * srv_failure = mx: never a silent fall back to the clearnet MX. */
#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "answer.h"
#include "cache.h"
#include "hooks.h"
#include "log.h"
#include "real.h"
#include "srv_lookup.h"
#include "state.h"
#include "stats.h"

/* A cheap per-thread generator for RFC 2782's weighted choice: load spreading
 * needs no secrecy, and the hot path must not pay for a system call. */
static uint32_t next_random(void *ctx)
{
	uint64_t *s = ctx;
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return (uint32_t)((z ^ (z >> 31)) >> 32);
}

static __thread uint64_t random_state;

/* Logs what a fresh answer for DOMAIN holds that an operator must know. */
static void log_result(const char *domain, const struct omx_srv_result *r)
{
	for (int i = 0; i < r->nignored && i < OMX_SRV_MAX_IGNORED; i++)
		omx_log(LOG_WARNING, "_onion-mx._tcp.%s: ignoring target %s: %s", domain,
			r->ignored[i].name, r->ignored[i].why);
	if (r->nignored > OMX_SRV_MAX_IGNORED)
		omx_log(LOG_WARNING, "_onion-mx._tcp.%s: %d more targets ignored", domain,
			r->nignored - OMX_SRV_MAX_IGNORED);
	switch (r->status) {
	case OMX_SRV_ONION:
		omx_log(LOG_INFO, "discovered onion MX for %s: %s.onion%s (%s)", domain,
			r->rec[0].onion, r->n > 1 ? " ..." : "", r->detail);
		break;
	case OMX_SRV_UNUSABLE:
		omx_log(LOG_WARNING, "_onion-mx._tcp.%s: %s; using its MX", domain, r->detail);
		break;
	case OMX_SRV_TEMPFAIL:
		omx_log(LOG_WARNING, "_onion-mx._tcp.%s SRV lookup failed: %s; %s", domain, r->detail,
			omx_cfg.srv_failure_mx ? "using its MX (srv_failure = mx)"
					       : "deferring its MX lookup");
		break;
	case OMX_SRV_NONE:
		omx_log(LOG_DEBUG, "_onion-mx._tcp.%s: %s", domain, r->detail);
		break;
	}
}

/* Asks the real resolver, with the caller's state if it is usable. */
static void lookup(res_state statp, const char *domain, struct omx_srv_result *r)
{
	struct __res_state own;

	if (statp && (statp->options & RES_INIT)) {
		omx_srv_lookup(statp, omx_real.res_nquery, domain, omx_cfg.srv_dnssec, r);
		return;
	}
	memset(&own, 0, sizeof(own));
	if (res_ninit(&own) != 0) {
		memset(r, 0, sizeof(*r));
		r->status = OMX_SRV_TEMPFAIL;
		snprintf(r->detail, sizeof(r->detail), "cannot initialise the resolver");
		return;
	}
	omx_srv_lookup(&own, omx_real.res_nquery, domain, omx_cfg.srv_dnssec, r);
	res_nclose(&own);
}

/* The discovery result for DOMAIN: cached, or looked up, logged and cached.
 * A cache that cannot be used now (its lock not obtained in time, no address
 * for an onion) defers the lookup: never an answer without the onion. */
static void discover(res_state statp, const char *domain, struct omx_srv_result *r)
{
	time_t now = time(NULL);
	int rc = omx_cache_get(omx_discovery, domain, now, r);

	if (rc == 1)
		return;
	if (rc == 0) {
		lookup(statp, domain, r);
		log_result(domain, r);
		rc = omx_cache_put(omx_discovery, domain, now, r);
		if (rc == 0)
			return;
	}
	if (rc == OMX_CACHE_BUSY)
		omx_log(LOG_ERR, "discovery cache %s: lock not obtained within %d s (a stopped or stuck process holds it?); deferring the MX lookup of %s",
			omx_cfg.cache_path, OMX_CACHE_LOCK_WAIT, domain);
	else if (rc == OMX_CACHE_QUOTA)
		omx_log(LOG_ERR, "discovery cache %s: the answers of %s already hold %d onion addresses in use (a zone rotating onions?); deferring",
			omx_cfg.cache_path, domain, OMX_CACHE_DOMAIN_ONIONS);
	else
		omx_log(LOG_ERR, "discovery cache %s: no free address for an onion of %s; deferring",
			omx_cfg.cache_path, domain);
	r->status = OMX_SRV_TEMPFAIL;
	r->n = 0;
}

int omx_answer_current(res_state statp, const struct omx_dns_question *q,
		       struct omx_dns_answer *a, char hosts[][OMX_HOST_MAX])
{
	const struct omx_map *map = omx_map_acquire();
	int ours = omx_answer_question(map, omx_discovery, q, omx_mta, a, hosts), mapped = map != NULL;
	struct omx_srv_result r;
	int order[OMX_SRV_MAX_TARGETS];

	omx_map_release();
	if (ours || !mapped || !omx_discovery || q->qtype != OMX_DNS_T_MX || q->qclass != OMX_DNS_C_IN)
		return omx_stats_mx_route(q, a, ours, OMX_ROUTE_MAP);
	if (__atomic_load_n(&omx_discovery_broken, __ATOMIC_RELAXED)) {
		memset(&r, 0, sizeof(r));
		r.status = OMX_SRV_TEMPFAIL;
		omx_log(LOG_WARNING, "%s MX lookup of %s: discovery cannot run (see the error above)",
			omx_cfg.srv_failure_mx ? "passing on the" : "deferring the", q->name);
	} else {
		discover(statp, q->name, &r);
	}
	if (!random_state) {
		struct timespec ts;

		clock_gettime(CLOCK_MONOTONIC, &ts); /* the vDSO: no system call */
		random_state = ((uint64_t)ts.tv_sec << 32) ^ (uint64_t)ts.tv_nsec ^
			       ((uint64_t)getpid() << 40) ^ (uint64_t)(uintptr_t)&r;
	}
	omx_srv_order(&r, next_random, &random_state, order);
	return omx_stats_mx_route(q, a, omx_answer_discovered(&r, order, omx_cfg.srv_failure_mx, a, hosts),
				  OMX_ROUTE_SRV);
}
