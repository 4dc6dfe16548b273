/* The routing decision: map -> SRV discovery -> MX (route.h). */
#include "route.h"

#include <stdio.h>
#include <string.h>
#include <syslog.h>

#include "srv_lookup.h"

const char *omx_route_why_str(enum omx_route_why why)
{
	switch (why) {
	case OMX_WHY_FOUND:
		return "found";
	case OMX_WHY_NO_CONFIG:
		return "no usable configuration";
	case OMX_WHY_MAP_DAMAGED:
		return "map damaged";
	case OMX_WHY_DISCOVERY_BROKEN:
		return "discovery cannot run";
	case OMX_WHY_SRV_FAILED:
		return "SRV lookup failed";
	case OMX_WHY_CACHE_BUSY:
		return "discovery cache busy";
	case OMX_WHY_CACHE_QUOTA:
		return "discovery cache quota";
	case OMX_WHY_CACHE_FULL:
		return "discovery cache full";
	case OMX_WHY_DISCOVERY_OFF:
		return "not mapped, discovery off";
	case OMX_WHY_NO_SRV:
		return "no SRV records";
	case OMX_WHY_SRV_UNUSABLE:
		return "no usable onion in the SRV records";
	}
	return "?";
}

/* Logs what a fresh answer for DOMAIN holds that an operator must know. */
static void log_result(const struct omx_route_env *env, const char *domain,
		       const struct omx_srv_result *r)
{
	const struct omx_host *h = env->host;

	for (int i = 0; i < r->nignored && i < OMX_SRV_MAX_IGNORED; i++)
		h->log(LOG_WARNING, "_onion-mx._tcp.%s: ignoring target %s: %s", domain,
		       r->ignored[i].name, r->ignored[i].why);
	if (r->nignored > OMX_SRV_MAX_IGNORED)
		h->log(LOG_WARNING, "_onion-mx._tcp.%s: %d more targets ignored", domain,
		       r->nignored - OMX_SRV_MAX_IGNORED);
	switch (r->status) {
	case OMX_SRV_ONION:
		h->log(LOG_INFO, "discovered onion MX for %s: %s.onion%s (%s)", domain,
		       r->rec[0].onion, r->n > 1 ? " ..." : "", r->detail);
		break;
	case OMX_SRV_UNUSABLE:
		h->log(LOG_WARNING, "_onion-mx._tcp.%s: %s; using its MX", domain, r->detail);
		break;
	case OMX_SRV_TEMPFAIL:
		h->log(LOG_WARNING, "_onion-mx._tcp.%s SRV lookup failed: %s; %s", domain, r->detail,
		       env->cfg->srv_failure_mx ? "using its MX (srv_failure = mx)"
						: "deferring its MX lookup");
		break;
	case OMX_SRV_NONE:
		h->log(LOG_DEBUG, "_onion-mx._tcp.%s: %s", domain, r->detail);
		break;
	}
}

/* Asks the resolver, with the caller's state if it is usable. */
static void lookup(const struct omx_route_env *env, const char *domain, struct omx_srv_result *r)
{
	enum omx_dnssec_policy policy = (enum omx_dnssec_policy)env->cfg->srv_dnssec;
	struct __res_state own;

	if (env->statp && (env->statp->options & RES_INIT)) {
		omx_srv_lookup(env->statp, env->host->res_nquery, domain, policy, r);
		return;
	}
	memset(&own, 0, sizeof(own));
	if (res_ninit(&own) != 0) {
		memset(r, 0, sizeof(*r));
		r->status = OMX_SRV_TEMPFAIL;
		snprintf(r->detail, sizeof(r->detail), "cannot initialise the resolver");
		return;
	}
	omx_srv_lookup(&own, env->host->res_nquery, domain, policy, r);
	res_nclose(&own);
}

/* The discovery result for DOMAIN: cached, or looked up, logged and cached.
 * Returns OMX_WHY_FOUND, or why a cache that cannot be used now defers the
 * lookup: never an answer without the onion. */
static enum omx_route_why discover(const struct omx_route_env *env, const char *domain,
				   struct omx_route *rt)
{
	const struct omx_host *h = env->host;
	int rc = env->cache ? omx_cache_get(env->cache, domain, env->now, &rt->srv) : 0;

	if (rc == 1) {
		rt->srv_cached = 1;
		return OMX_WHY_FOUND;
	}
	if (rc == 0) {
		lookup(env, domain, &rt->srv);
		log_result(env, domain, &rt->srv);
		rc = env->cache ? omx_cache_put(env->cache, domain, env->now, &rt->srv) : 0;
		if (rc == 0)
			return OMX_WHY_FOUND;
	}
	if (rc == OMX_CACHE_BUSY) {
		h->log(LOG_ERR, "discovery cache %s: lock not obtained within %d s (a stopped or stuck process holds it?); deferring the MX lookup of %s",
		       env->cfg->cache_path, OMX_CACHE_LOCK_WAIT, domain);
		return OMX_WHY_CACHE_BUSY;
	}
	if (rc == OMX_CACHE_QUOTA) {
		h->log(LOG_ERR, "discovery cache %s: the answers of %s already hold %d onion addresses in use (a zone rotating onions?); deferring",
		       env->cfg->cache_path, domain, OMX_CACHE_DOMAIN_ONIONS);
		return OMX_WHY_CACHE_QUOTA;
	}
	h->log(LOG_ERR, "discovery cache %s: no free address for an onion of %s; deferring",
	       env->cfg->cache_path, domain);
	return OMX_WHY_CACHE_FULL;
}

static void route_set(struct omx_route *rt, enum omx_route_kind kind, enum omx_route_why why)
{
	rt->kind = kind;
	rt->why = why;
}

static void discover_step(const struct omx_route_env *env, const char *domain, struct omx_route *rt)
{
	const struct omx_config *cfg = env->cfg;
	enum omx_route_why why;

	if (!cfg->discover) {
		route_set(rt, OMX_ROUTE_MX, OMX_WHY_DISCOVERY_OFF);
		return;
	}
	rt->srv_asked = 1;
	if (env->discovery_broken) {
		rt->srv.status = OMX_SRV_TEMPFAIL;
		snprintf(rt->srv.detail, sizeof(rt->srv.detail), "discovery cannot run");
		env->host->log(LOG_WARNING, "%s MX lookup of %s: discovery cannot run (see the error above)",
			       cfg->srv_failure_mx ? "passing on the" : "deferring the", domain);
		route_set(rt, cfg->srv_failure_mx ? OMX_ROUTE_MX : OMX_ROUTE_DEFER,
			  OMX_WHY_DISCOVERY_BROKEN);
		return;
	}
	why = discover(env, domain, rt);
	if (why != OMX_WHY_FOUND) {
		/* A failure like the lookup's own: srv_failure decides. */
		rt->srv.status = OMX_SRV_TEMPFAIL;
		rt->srv.n = 0;
		route_set(rt, cfg->srv_failure_mx ? OMX_ROUTE_MX : OMX_ROUTE_DEFER, why);
		return;
	}
	switch (rt->srv.status) {
	case OMX_SRV_ONION:
		if (rt->srv.n > 0) {
			omx_srv_order(&rt->srv, env->host->random, NULL, rt->order);
			rt->n = rt->srv.n;
			for (int i = 0; i < rt->n; i++) {
				memcpy(rt->targets[i].onion, rt->srv.rec[rt->order[i]].onion,
				       sizeof(rt->targets[i].onion));
				rt->targets[i].port = rt->srv.rec[rt->order[i]].port;
			}
			route_set(rt, OMX_ROUTE_SRV, OMX_WHY_FOUND);
			return;
		}
		route_set(rt, OMX_ROUTE_MX, OMX_WHY_SRV_UNUSABLE);
		return;
	case OMX_SRV_TEMPFAIL:
		route_set(rt, cfg->srv_failure_mx ? OMX_ROUTE_MX : OMX_ROUTE_DEFER, OMX_WHY_SRV_FAILED);
		return;
	case OMX_SRV_UNUSABLE:
		route_set(rt, OMX_ROUTE_MX, OMX_WHY_SRV_UNUSABLE);
		return;
	case OMX_SRV_NONE:
		break;
	}
	route_set(rt, OMX_ROUTE_MX, OMX_WHY_NO_SRV);
}

void omx_route_discover(const struct omx_route_env *env, const char *domain, struct omx_route *rt)
{
	memset(rt, 0, sizeof(*rt));
	discover_step(env, domain, rt);
}

void omx_route_decide(const struct omx_route_env *env, const char *domain, struct omx_route *rt)
{
	struct omx_target targets[OMX_MAP_MAX_TARGETS];
	int n;

	memset(rt, 0, sizeof(*rt));
	if (!env->map) {
		route_set(rt, OMX_ROUTE_DEFER, OMX_WHY_NO_CONFIG);
		return;
	}
	/* 1. The static map: answered from it, with no DNS query. */
	n = omx_map_domain(env->map, domain, targets, rt->matched);
	if (n < 0) {
		route_set(rt, OMX_ROUTE_DEFER, OMX_WHY_MAP_DAMAGED);
		return;
	}
	if (n > 0) {
		rt->n = n;
		memcpy(rt->targets, targets, (size_t)n * sizeof(targets[0]));
		route_set(rt, OMX_ROUTE_MAP, OMX_WHY_FOUND);
		return;
	}
	rt->matched[0] = '\0';
	/* 2. SRV discovery; 3. else the MX. */
	discover_step(env, domain, rt);
}
