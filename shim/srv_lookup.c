/* The SRV lookup through glibc's resolver, with the AD bit handled as glibc
 * wants it: believed only from a resolver the host trusts. */
#include "srv_lookup.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#define SRV_REPLY_MAX 4096 /* glibc retries over TCP for anything larger than UDP */

static int loopback(const struct sockaddr *sa)
{
	if (!sa)
		return 0;
	if (sa->sa_family == AF_INET)
		return (ntohl(((const struct sockaddr_in *)sa)->sin_addr.s_addr) >> 24) == 127;
	if (sa->sa_family == AF_INET6) {
		const struct in6_addr *a = &((const struct sockaddr_in6 *)sa)->sin6_addr;
		return IN6_IS_ADDR_LOOPBACK(a) ||
		       (IN6_IS_ADDR_V4MAPPED(a) && a->s6_addr[12] == 127);
	}
	return 0;
}

int omx_resolver_trusted(const struct __res_state *statp)
{
	if (!statp)
		return 0;
	if (statp->options & RES_TRUSTAD)
		return 1;
	if (statp->nscount <= 0)
		return 0;
	for (int i = 0; i < statp->nscount && i < MAXNS; i++) {
		/* glibc keeps IPv6 nameservers in _u._ext.nsaddrs, IPv4 ones in
		 * nsaddr_list (where an IPv6 entry leaves family 0). */
		const struct sockaddr *sa = (const struct sockaddr *)&statp->nsaddr_list[i];

		if (statp->nsaddr_list[i].sin_family != AF_INET && statp->_u._ext.nsaddrs[i])
			sa = (const struct sockaddr *)statp->_u._ext.nsaddrs[i];
		if (!loopback(sa))
			return 0;
	}
	return 1;
}

void omx_srv_lookup(res_state statp, omx_nquery_fn nquery, const char *domain,
		    enum omx_dnssec_policy policy, struct omx_srv_result *r)
{
	unsigned char reply[SRV_REPLY_MAX];
	char qname[256];
	unsigned long saved = statp->options;
	int rc;

	if (omx_srv_qname(domain, qname, sizeof(qname)) != 0) {
		memset(r, 0, sizeof(*r));
		r->status = OMX_SRV_NONE;
		snprintf(r->detail, sizeof(r->detail), "domain too long for an _onion-mx._tcp name");
		return;
	}
	memset(reply, 0, sizeof(reply));
	if (policy != OMX_DNSSEC_OFF && omx_resolver_trusted(statp))
		statp->options |= RES_TRUSTAD;
	rc = nquery(statp, qname, C_IN, T_SRV, reply, sizeof(reply));
	statp->options = saved;
	omx_srv_classify(rc, reply, sizeof(reply), qname, policy, r);
}
