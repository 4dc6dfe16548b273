/* Which names and questions are ours, and their answers. */
#include "answer.h"

#include <string.h>

#include "log.h"
#include "search.h"

enum omx_name_status omx_resolve_onion(const struct omx_map *map, struct omx_cache *cache,
				       const char *name, uint32_t *addr)
{
	size_t label_len;
	const char *label = omx_onion_label(name, strlen(name), &label_len);

	if (!label)
		return OMX_NAME_NOT_OURS;
	return omx_resolve_onion_label(map, cache, name, label, label_len, addr);
}

enum omx_name_status omx_resolve_onion_label(const struct omx_map *map, struct omx_cache *cache,
					     const char *name, const char *label, size_t label_len,
					     uint32_t *addr)
{
	int found;

	/* An onion found in the map is valid: the compiler checked it, and the
	 * record's CHECK binds its bytes. The SHA3 checksum (half of an onion
	 * connect's instructions) is left for the others, before any answer. */
	found = map ? omx_map_onion_addr(map, label, label_len, addr) : 0;
	if (found != 1 && omx_onion_check(label, label_len) != OMX_ONION_OK)
		return OMX_NAME_INVALID;
	if (!map) {
		omx_log(LOG_WARNING, "cannot resolve %s: no usable configuration", name);
		return OMX_NAME_UNAVAILABLE;
	}
	switch (found) {
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

int omx_resolve_domain(const struct omx_map *map, const char *name,
		       uint32_t addrs[OMX_MAP_MAX_TARGETS])
{
	struct omx_target targets[OMX_MAP_MAX_TARGETS];
	int n;

	if (!map) {
		omx_log(LOG_WARNING, "deferring the address lookup of %s: no usable configuration", name);
		return -1;
	}
	n = omx_map_domain(map, name, targets, NULL);
	if (n < 0) {
		omx_log(LOG_ERR, "deferring the address lookup of %s: the map is damaged", name);
		return -1;
	}
	for (int i = 0; i < n; i++)
		if (omx_map_onion_addr(map, targets[i].onion, OMX_ONION_LABEL_LEN, &addrs[i]) != 1) {
			/* Every onion of a compiled map has an address: this one's is unreadable. */
			omx_log(LOG_ERR, "deferring the address lookup of %s: the map is damaged", name);
			return -1;
		}
	if (n > 0)
		omx_log(LOG_DEBUG, "address of mail domain %s -> its onion %s.onion%s", name,
			targets[0].onion, n > 1 ? " ..." : "");
	return n;
}

/* Fills A with N synthetic addresses as records of TYPE (A, or AAAA in IPv4-mapped form). */
static void addresses(struct omx_dns_answer *a, uint16_t type, const uint32_t *addrs, int n)
{
	a->type = type;
	a->n = n;
	for (int i = 0; i < n; i++) {
		a->a[i][0] = (uint8_t)(addrs[i] >> 24);
		a->a[i][1] = (uint8_t)(addrs[i] >> 16);
		a->a[i][2] = (uint8_t)(addrs[i] >> 8);
		a->a[i][3] = (uint8_t)addrs[i];
	}
}

/* The mail domain an "_smtp._tcp.DOMAIN" SRV name is about, or NULL. */
static const char *smtp_srv_domain(const char *name)
{
	static const char prefix[] = "_smtp._tcp.";

	return strncmp(name, prefix, sizeof(prefix) - 1) == 0 && name[sizeof(prefix) - 1]
		       ? name + sizeof(prefix) - 1 : NULL;
}

/* The IPv4 address (host order) whose reverse name NAME is: "D.C.B.A.in-addr.arpa",
 * or the 32 nibbles of ::ffff:A.B.C.D under "ip6.arpa" (NAME lower-cased, as in
 * a question). 1, with *ZONE the reverse zone; 0 for any other name. */
static int reverse_v4(const char *name, uint32_t *addr, const char **zone)
{
	static const char v4[] = ".in-addr.arpa", v6[] = ".ip6.arpa";
	size_t len = strlen(name);

	if (len > sizeof(v4) - 1 && !strcmp(name + len - (sizeof(v4) - 1), v4)) {
		const char *p = name;
		uint32_t a = 0;

		for (int i = 0; i < 4; i++, p++) {
			unsigned v = 0, digits = 0;

			for (; *p >= '0' && *p <= '9' && digits < 4; p++, digits++)
				v = v * 10 + (unsigned)(*p - '0');
			if (digits == 0 || digits > 3 || v > 255 || *p != '.')
				return 0;
			a |= v << (8 * i);
		}
		if (p != name + len - (sizeof(v4) - 2))
			return 0;
		*addr = a;
		*zone = v4 + 1;
		return 1;
	}
	if (len == 64 + sizeof(v6) - 2 && !strcmp(name + 63, v6)) {
		uint8_t b[16] = { 0 };
		static const uint8_t mapped[12] = { [10] = 0xff, [11] = 0xff };

		for (int i = 0; i < 32; i++) {
			char c = name[2 * i];
			unsigned v = c >= '0' && c <= '9' ? (unsigned)(c - '0') :
				     c >= 'a' && c <= 'f' ? (unsigned)(c - 'a' + 10) : 16;

			if (v > 15 || name[2 * i + 1] != '.')
				return 0;
			b[15 - i / 2] |= (uint8_t)(v << (4 * (i % 2)));
		}
		if (memcmp(b, mapped, sizeof(mapped)) != 0)
			return 0;
		*addr = (uint32_t)b[12] << 24 | (uint32_t)b[13] << 16 | (uint32_t)b[14] << 8 | b[15];
		*zone = v6 + 1;
		return 1;
	}
	return 0;
}

/* Whether ADDR (host order) may be one we hand out: the map's range, its
 * previous ones, discovery's; with no map, anything in 240.0.0.0/4 (the ranges
 * are unknown then: fail closed). */
static int maybe_synthetic(const struct omx_map *map, const struct omx_cache *cache, uint32_t addr)
{
	if (cache && (addr & cache->mask) == cache->net)
		return 1;
	if (!map)
		return (addr & 0xf0000000u) == 0xf0000000u;
	if ((addr & map->mask) == map->net)
		return 1;
	for (unsigned i = 0; i < map->nold && i < OMX_MAP_MAX_OLD_RANGES; i++)
		if ((addr & map->old[i].mask) == map->old[i].net)
			return 1;
	return 0;
}

/* A PTR question about ADDR (host order) in reverse ZONE: for a synthetic
 * address, the onion it stands for (OpenSMTPD asks it of the MX address it
 * connects to, and logs the name), NXDOMAIN for one that stands for none,
 * SERVFAIL when the map is missing or damaged; never sent to DNS (it would
 * tell the server which onion this host mails). 0 for other addresses. */
static int answer_ptr(const struct omx_map *map, struct omx_cache *cache, uint32_t addr,
		      const char *zone, struct omx_dns_answer *a, char hosts[][OMX_HOST_MAX])
{
	struct omx_target t;
	int r;

	if (!maybe_synthetic(map, cache, addr))
		return 0;
	r = map ? omx_map_addr_onion(map, addr, &t, NULL, NULL) : OMX_MAP_DAMAGED;
	if (r == OMX_MAP_DAMAGED) {
		omx_log(LOG_WARNING, "deferring the reverse lookup of %u.%u.%u.%u: %s", addr >> 24,
			(addr >> 16) & 255, (addr >> 8) & 255, addr & 255,
			map ? "the map is damaged" : "no usable configuration");
		negative(a, OMX_DNS_SERVFAIL, NULL);
		return 1;
	}
	if (r != 1 && (r == OMX_MAP_RETIRED || !cache || omx_cache_addr_onion(cache, addr, &t) != 1)) {
		negative(a, OMX_DNS_NXDOMAIN, zone);
		return 1;
	}
	onion_host(hosts[0], t.onion);
	a->type = OMX_DNS_T_PTR;
	a->n = 1;
	a->mx[0].host = hosts[0];
	return 1;
}

/* A question about an onion name: its synthetic address, or for other types
 * an answer with no records (the name exists with an address only). */
static int answer_onion(const struct omx_map *map, struct omx_cache *cache,
			const struct omx_dns_question *q, struct omx_dns_answer *a)
{
	uint32_t addr;

	if (q->qtype != OMX_DNS_T_A && q->qtype != OMX_DNS_T_AAAA && q->qtype != 255 /* ANY */) {
		/* TLSA, MX, ...: the name exists, with an address only. */
		enum omx_name_status st = omx_resolve_onion(map, cache, q->name, &addr);
		negative(a, st == OMX_NAME_INVALID ? OMX_DNS_NXDOMAIN :
			    !map || st == OMX_NAME_DAMAGED ? OMX_DNS_SERVFAIL : OMX_DNS_NOERROR, "onion");
		return 1;
	}
	switch (omx_resolve_onion(map, cache, q->name, &addr)) {
	case OMX_NAME_OK:
		/* AAAA: the same address IPv4-mapped, so that an IPv6-only MTA
		 * (Postfix inet_protocols = ipv6) gets an address connect() knows. */
		addresses(a, q->qtype == OMX_DNS_T_AAAA ? OMX_DNS_T_AAAA : OMX_DNS_T_A, &addr, 1);
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

/* _smtp._tcp.DOMAIN's SRV for a mapped DOMAIN: Exim's check_srv gets no
 * record (NODATA), so the MX lookup that follows, ours, decides the route. */
static int answer_smtp_srv(const struct omx_map *map, const struct omx_dns_question *q,
			   const char *srv_domain, struct omx_dns_answer *a)
{
	struct omx_target targets[OMX_MAP_MAX_TARGETS];
	int n;

	if (!map) {
		omx_log(LOG_WARNING, "deferring SRV lookup of %s: no usable configuration", q->name);
		negative(a, OMX_DNS_SERVFAIL, NULL);
		return 1;
	}
	n = omx_map_domain(map, srv_domain, targets, NULL);
	if (n == 0)
		return 0;
	if (n < 0)
		omx_log(LOG_ERR, "deferring SRV lookup of %s: the map is damaged", q->name);
	negative(a, n < 0 ? OMX_DNS_SERVFAIL : OMX_DNS_NOERROR, n < 0 ? NULL : srv_domain);
	return 1;
}

/* A mapped domain's MX: its onions, in the map's order. */
static int answer_mx(const struct omx_map *map, const struct omx_dns_question *q,
		     struct omx_dns_answer *a, char hosts[][OMX_HOST_MAX])
{
	struct omx_target targets[OMX_MAP_MAX_TARGETS];
	int n;

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

int omx_answer_question(const struct omx_map *map, struct omx_cache *cache,
			const struct omx_dns_question *q, int mta, struct omx_dns_answer *a,
			char hosts[][OMX_HOST_MAX])
{
	uint32_t addr, addrs[OMX_MAP_MAX_TARGETS];
	const char *srv_domain, *zone;
	int n;

	memset(a, 0, sizeof(*a));
	a->ttl = OMX_ANSWER_TTL;
	if ((q->qtype == OMX_DNS_T_PTR || q->qtype == 255 /* ANY */) && q->qclass == OMX_DNS_C_IN &&
	    reverse_v4(q->name, &addr, &zone))
		return answer_ptr(map, cache, addr, zone, a, hosts);
	if (omx_search_names_onion(q->name)) {
		/* "X.onion.corp.example": a client's search list applied to an
		 * onion name; it exists nowhere and must not carry X to DNS. */
		negative(a, OMX_DNS_NXDOMAIN, NULL);
		return 1;
	}
	if (omx_onion_label(q->name, strlen(q->name), &(size_t){ 0 }))
		return answer_onion(map, cache, q, a);
	if (mta && (q->qtype == OMX_DNS_T_A || q->qtype == OMX_DNS_T_AAAA) && q->qclass == OMX_DNS_C_IN) {
		/* A mapped domain's own address (RFC 5321's implicit MX; Postfix with
		 * DNS lookups disabled) leads to its onion MX as well. */
		n = omx_resolve_domain(map, q->name, addrs);
		if (n == 0)
			return 0;
		if (n < 0)
			negative(a, OMX_DNS_SERVFAIL, NULL);
		else
			addresses(a, q->qtype, addrs, n);
		return 1;
	}
	if (q->qtype == OMX_DNS_T_SRV && (srv_domain = smtp_srv_domain(q->name)))
		return answer_smtp_srv(map, q, srv_domain, a);
	if (q->qtype != OMX_DNS_T_MX)
		return 0;
	return answer_mx(map, q, a, hosts);
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
