/* Asking the resolver for a domain's _onion-mx._tcp SRV records: shared by the
 * library (which passes glibc's real res_nquery) and onionmx-check (which
 * calls it directly), so both see the same answer the same way. */
#ifndef OMX_SRV_LOOKUP_H
#define OMX_SRV_LOOKUP_H
#include <resolv.h>

#include "srv.h"

typedef int (*omx_nquery_fn)(res_state statp, const char *name, int class, int type,
			     unsigned char *answer, int anslen);

/* Whether the AD bit from STATP's nameservers can be believed: resolv.conf has
 * "options trust-ad" (RES_TRUSTAD), or every nameserver is a loopback address
 * (a validating resolver on this host, such as unbound). glibc clears AD in
 * replies unless RES_TRUSTAD is set, so the lookup sets it for its own query
 * in that case only. */
int omx_resolver_trusted(const struct __res_state *statp);

/* Looks up _onion-mx._tcp.DOMAIN SRV with NQUERY on STATP (initialised) and
 * fills R as omx_srv_classify() does. Under srv_dnssec prefer/require the query
 * carries RES_TRUSTAD when the resolver is trusted; STATP's options are restored
 * afterwards. */
void omx_srv_lookup(res_state statp, omx_nquery_fn nquery, const char *domain,
		    enum omx_dnssec_policy policy, struct omx_srv_result *r);
#endif
