/* onionmx-check's reading of a domain's MX reply: see check_mx.h. */
#include <ctype.h>
#include <resolv.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ascii.h"
#include "check_mx.h"

/* By preference, then answer order (qsort alone is not stable). */
static int host_cmp(const void *a, const void *b)
{
	const struct omx_mx_host *x = a, *y = b;

	if (x->pref != y->pref)
		return x->pref < y->pref ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* What the library does with MX host H: an onion in the map also gets a route
 * in R (the first OMX_MX_ONIONS_MAX of them; the rest are counted). */
static void classify(struct omx_mx_host *h, omx_mx_mapped_fn mapped, void *ctx,
		     struct omx_mx_result *r)
{
	size_t llen;
	const char *label = omx_onion_label(h->host, strlen(h->host), &llen);
	enum omx_onion_status st;
	char lower[OMX_ONION_LABEL_LEN + 1];
	uint16_t port = 0;

	h->kind = OMX_MX_CLEAR;
	if (!label)
		return;
	st = omx_onion_check_key(label, llen);
	if (st != OMX_ONION_OK || label != h->host) {
		h->kind = OMX_MX_ONION_INVALID;
		h->why = st != OMX_ONION_OK ? omx_onion_strerror(st) : "not a bare LABEL.onion";
		return;
	}
	omx_ascii_lower_copy(lower, label, llen);
	if (!mapped(ctx, lower, llen, &port)) {
		h->kind = OMX_MX_ONION_UNMAPPED;
		return;
	}
	h->kind = OMX_MX_ONION_MAPPED;
	if (r->nonion == OMX_MX_ONIONS_MAX) {
		r->onions_left_out++;
		return;
	}
	memcpy(r->onion[r->nonion].onion, lower, llen + 1);
	r->onion[r->nonion].port = port ? port : 25;
	r->nonion++;
}

int omx_mx_decide(const uint8_t *msg, size_t len, omx_mx_mapped_fn mapped, void *ctx,
		  struct omx_mx_result *r)
{
	ns_msg m;
	ns_rr rr;
	int count;

	memset(r, 0, sizeof(*r));
	if (ns_initparse(msg, (int)len, &m) != 0 || (count = ns_msg_count(m, ns_s_an)) == 0) {
		r->route = OMX_MX_ROUTE_IMPLICIT;
		return 0;
	}
	/* ns_initparse walked every record, so COUNT is bounded by LEN. */
	r->host = calloc((size_t)count, sizeof(*r->host));
	if (!r->host)
		return -1;
	for (int i = 0; i < count; i++) {
		struct omx_mx_host *h = &r->host[r->n];

		if (ns_parserr(&m, ns_s_an, i, &rr) != 0)
			break;
		if (ns_rr_type(rr) != ns_t_mx || ns_rr_rdlen(rr) < 3)
			continue;
		h->pref = ns_get16(ns_rr_rdata(rr));
		h->seq = i;
		if (ns_name_uncompress(ns_msg_base(m), ns_msg_end(m), ns_rr_rdata(rr) + 2, h->host,
				       sizeof(h->host)) < 0)
			continue;
		r->n++;
	}
	qsort(r->host, (size_t)r->n, sizeof(r->host[0]), host_cmp);
	if (r->n == 0) {
		r->route = OMX_MX_ROUTE_IMPLICIT;
		return 0;
	}
	if (r->n == 1 && (!r->host[0].host[0] || strcmp(r->host[0].host, ".") == 0)) {
		r->route = OMX_MX_ROUTE_NULL;
		return 0;
	}
	for (int i = 0; i < r->n; i++) {
		classify(&r->host[i], mapped, ctx, r);
		r->count[r->host[i].kind]++;
	}
	if (r->count[OMX_MX_CLEAR])
		r->route = OMX_MX_ROUTE_CLEARNET;
	else if (r->count[OMX_MX_ONION_MAPPED])
		r->route = OMX_MX_ROUTE_ONION; /* the library resolves the mapped ones */
	else if (r->count[OMX_MX_ONION_UNMAPPED])
		r->route = OMX_MX_ROUTE_DEFERRED;
	else
		r->route = OMX_MX_ROUTE_BOUNCE;
	return 0;
}

void omx_mx_free(struct omx_mx_result *r)
{
	free(r->host);
	r->host = NULL;
	r->n = 0;
}

void omx_mx_failure_text(const uint8_t *msg, size_t len, char *out, size_t cap)
{
	static const char *const rcodes[] = { "NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN",
					      "NOTIMP", "REFUSED" };
	unsigned rcode;

	if (len < NS_HFIXEDSZ || !(msg[2] & 0x80)) {
		snprintf(out, cap, "no reply (timeout, or no nameserver reachable)");
		return;
	}
	rcode = msg[3] & 0x0f;
	if (rcode < sizeof(rcodes) / sizeof(rcodes[0]))
		snprintf(out, cap, "%s", rcodes[rcode]);
	else
		snprintf(out, cap, "rcode %u", rcode);
}
