/* Answering a DNS question with the map and, for MX questions it leaves open,
 * with onion MX discovery (route.c: the shared cache first, else the domain's
 * _onion-mx._tcp SRV records asked of glibc's real resolver). Every way a
 * lookup can fail ends in a SERVFAIL answer (the MTA defers) unless the
 * operator chose srv_failure = mx: never a silent fall back to the clearnet MX. */
#include <string.h>
#include <time.h>

#include "answer.h"
#include "hooks.h"
#include "real.h"
#include "route.h"
#include "state.h"
#include "stats.h"

int omx_answer_current(res_state statp, const struct omx_dns_question *q,
		       struct omx_dns_answer *a, char hosts[][OMX_HOST_MAX])
{
	const struct omx_map *map = omx_map_acquire();
	int ours = omx_answer_question(map, omx_discovery, q, omx_mta, a, hosts), mapped = map != NULL;
	struct omx_route_env env = {
		.host = &omx_real_host, .map = map, .cfg = &omx_cfg, .cache = omx_discovery,
		.discovery_broken = __atomic_load_n(&omx_discovery_broken, __ATOMIC_RELAXED),
		.statp = statp, .now = time(NULL),
	};
	struct omx_route rt;

	omx_map_release();
	if (ours || !mapped || !omx_discovery || q->qtype != OMX_DNS_T_MX || q->qclass != OMX_DNS_C_IN)
		return omx_stats_mx_route(q, a, ours, OMX_STATS_ROUTE_MAP);
	omx_route_discover(&env, q->name, &rt);
	/* SRV: the onions; DEFER: SERVFAIL; MX: the question goes on. */
	return omx_stats_mx_route(q, a,
				  omx_answer_discovered(&rt.srv, rt.order, rt.kind != OMX_ROUTE_DEFER, a, hosts),
				  OMX_STATS_ROUTE_SRV);
}
