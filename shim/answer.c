/* Which names and questions are ours, and their answers. */
#include "answer.h"

#include <string.h>

#include "log.h"

enum omx_name_status omx_resolve_onion(const struct omx_map *map, struct omx_cache *cache,
				       const char *name, uint32_t *addr)
{
	size_t label_len;
	const char *label = omx_onion_label(name, strlen(name), &label_len);

	if (!label)
		return OMX_NAME_NOT_OURS;
	if (omx_onion_check(label, label_len) != OMX_ONION_OK)
		return OMX_NAME_INVALID;
	if (!map) {
		omx_log(LOG_WARNING, "cannot resolve %s: no usable configuration", name);
		return OMX_NAME_UNAVAILABLE;
	}
	switch (omx_map_onion_addr(map, label, label_len, addr)) {
	case 1:
		return OMX_NAME_OK;
	case 0:
		break;
	default:
		omx_log(LOG_ERR, "cannot resolve %s: the map is damaged", name);
		return OMX_NAME_DAMAGED;
	}
	if (!(cache && omx_cache_onion_addr(cache, label, label_len, addr))) {
		/* Without an address in the map no other process could find this onion
		 * again: defer rather than invent one. */
		omx_log(LOG_WARNING, cache ? "cannot resolve %s: onion neither in the map nor discovered"
				    : "cannot resolve %s: onion not in the map (add it with onionmx-map)",
			name);
		return OMX_NAME_UNAVAILABLE;
	}
	return OMX_NAME_OK;
}

/* "LABEL.onion" into HOST. */
static void onion_host(char host[OMX_HOST_MAX], const char *label)
{
	memcpy(host, label, OMX_ONION_LABEL_LEN);
	memcpy(host + OMX_ONION_LABEL_LEN, ".onion", sizeof(".onion"));
}

/* Fills A for an NXDOMAIN, NODATA or SERVFAIL answer. */
static void negative(struct omx_dns_answer *a, int rcode, const char *zone)
{
	a->rcode = rcode;
	a->n = 0;
	a->soa_zone = zone;
}

int omx_answer_question(const struct omx_map *map, struct omx_cache *cache,
			const struct omx_dns_question *q, struct omx_dns_answer *a,
			char hosts[][OMX_HOST_MAX])
{
	struct omx_target targets[OMX_MAP_MAX_TARGETS];
	uint32_t addr;
	int n;

	memset(a, 0, sizeof(*a));
	a->ttl = OMX_ANSWER_TTL;
	if (omx_onion_label(q->name, strlen(q->name), &(size_t){ 0 })) {
		if (q->qtype != OMX_DNS_T_A && q->qtype != 255 /* ANY */) {
			/* AAAA, TLSA, MX, ...: the name exists, with an A record only. */
			enum omx_name_status st = omx_resolve_onion(map, cache, q->name, &addr);
			negative(a, st == OMX_NAME_INVALID ? OMX_DNS_NXDOMAIN :
				    !map || st == OMX_NAME_DAMAGED ? OMX_DNS_SERVFAIL : OMX_DNS_NOERROR, "onion");
			return 1;
		}
		switch (omx_resolve_onion(map, cache, q->name, &addr)) {
		case OMX_NAME_OK:
			a->type = OMX_DNS_T_A;
			a->n = 1;
			a->a[0][0] = (uint8_t)(addr >> 24);
			a->a[0][1] = (uint8_t)(addr >> 16);
			a->a[0][2] = (uint8_t)(addr >> 8);
			a->a[0][3] = (uint8_t)addr;
			break;
		case OMX_NAME_INVALID:
			negative(a, OMX_DNS_NXDOMAIN, "onion");
			break;
		default:
			negative(a, OMX_DNS_SERVFAIL, "onion");
			break;
		}
		return 1;
	}
	if (q->qtype != OMX_DNS_T_MX)
		return 0;
	if (!map) {
		omx_log(LOG_WARNING, "deferring MX lookup of %s: no usable configuration", q->name);
		negative(a, OMX_DNS_SERVFAIL, NULL);
		return 1;
	}
	n = omx_map_domain(map, q->name, targets, NULL);
	if (n == 0)
		return 0;
	if (n < 0) {
		/* Perhaps the domain is mapped and its entry is what is damaged. */
		omx_log(LOG_ERR, "deferring MX lookup of %s: the map is damaged", q->name);
		negative(a, OMX_DNS_SERVFAIL, NULL);
		return 1;
	}
	a->type = OMX_DNS_T_MX;
	a->n = n;
	for (int i = 0; i < n; i++) {
		onion_host(hosts[i], targets[i].onion);
		a->mx[i].pref = (uint16_t)(10 * (i + 1));
		a->mx[i].host = hosts[i];
	}
	omx_log(LOG_DEBUG, "MX %s -> %s%s", q->name, hosts[0], n > 1 ? " ..." : "");
	return 1;
}

int omx_answer_discovered(const struct omx_srv_result *r, const int order[OMX_SRV_MAX_TARGETS],
			  int failure_mx, struct omx_dns_answer *a, char hosts[][OMX_HOST_MAX])
{
	memset(a, 0, sizeof(*a));
	a->ttl = OMX_ANSWER_TTL;
	if (r->status == OMX_SRV_TEMPFAIL && !failure_mx) {
		negative(a, OMX_DNS_SERVFAIL, NULL);
		return 1;
	}
	if (r->status != OMX_SRV_ONION || r->n <= 0)
		return 0;
	a->type = OMX_DNS_T_MX;
	a->n = r->n;
	/* The MX preferences carry our RFC 2782 order, distinct so the MTA keeps it. */
	for (int i = 0; i < r->n; i++) {
		onion_host(hosts[i], r->rec[order[i]].onion);
		a->mx[i].pref = (uint16_t)(10 * (i + 1));
		a->mx[i].host = hosts[i];
	}
	if (r->ttl < a->ttl)
		a->ttl = r->ttl;
	return 1;
}
