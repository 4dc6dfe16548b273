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

/* Asks NAME TYPE with NQUERY on STATP into REPLY (header zeroed first). */
static int ask(res_state statp, omx_nquery_fn nquery, const char *name, int type, unsigned char *reply,
	       size_t cap)
{
	memset(reply, 0, 12);
	return nquery(statp, name, C_IN, type, reply, (int)cap);
}

/* Which stronger policy DOMAIN publishes: "MTA-STS", "DANE", NULL for none,
 * or "" when that cannot be told now (a lookup failed). */
static const char *stronger_policy(res_state statp, omx_nquery_fn nquery, const char *domain,
				   unsigned char *reply, size_t cap)
{
	char name[1100], hosts[OMX_POLICY_HOSTS_MAX][256];
	int rc, n, secure = 0;

	snprintf(name, sizeof(name), "_mta-sts.%s", domain);
	rc = ask(statp, nquery, name, T_TXT, reply, cap);
	switch (omx_policy_sts_reply(rc, reply, cap)) {
	case 1:
		return "MTA-STS";
	case -1:
		return "";
	}
	/* DANE (RFC 7672): a validated MX RRset and validated TLSA records for
	 * one of its hosts. The AD bit means something only from a trusted
	 * resolver; without one nothing is validated and no DANE is seen. */
	if (!(statp->options & RES_TRUSTAD))
		return NULL;
	rc = ask(statp, nquery, domain, T_MX, reply, cap);
	n = omx_policy_mx_reply(rc, reply, cap, hosts, &secure);
	if (n < 0)
		return "";
	if (!secure)
		return NULL;
	for (int i = 0; i < n; i++) {
		snprintf(name, sizeof(name), "_25._tcp.%s", hosts[i]);
		rc = ask(statp, nquery, name, 52 /* TLSA */, reply, cap);
		switch (omx_policy_tlsa_reply(rc, reply, cap)) {
		case 1:
			return "DANE";
		case -1:
			return "";
		}
	}
	return NULL;
}

void omx_srv_lookup(res_state statp, omx_nquery_fn nquery, const char *domain,
		    enum omx_dnssec_policy policy, struct omx_srv_result *r)
{
	const char *stronger;
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
	omx_srv_classify(rc, reply, sizeof(reply), qname, policy, r);
	if (policy == OMX_DNSSEC_PREFER && r->status == OMX_SRV_ONION && !r->secure) {
		stronger = stronger_policy(statp, nquery, domain, reply, sizeof(reply));
		if (stronger && !*stronger) {
			r->status = OMX_SRV_TEMPFAIL;
			r->n = 0;
			r->ttl = 0;
			snprintf(r->detail, sizeof(r->detail),
				 "unsigned answer, and whether the domain publishes MTA-STS or DANE cannot be told now (lookup failed)");
		} else if (stronger) {
			omx_srv_overridden(r, stronger);
		}
	}
	statp->options = saved;
}
