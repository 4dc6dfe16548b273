/* The policy at the heart of the resolver hooks: given the map (NULL when the
 * configuration is broken), is a name or DNS question ours, and what is the answer?
 * No LD_PRELOAD knowledge here: the hooks call this and build what they return. */
#ifndef OMX_ANSWER_H
#define OMX_ANSWER_H
#include <stdint.h>

#include "cache.h"
#include "dns.h"
#include "map.h"
#include "srv.h"

#define OMX_ANSWER_TTL 60
#define OMX_HOST_MAX (OMX_ONION_LABEL_LEN + sizeof(".onion"))

enum omx_name_status {
	OMX_NAME_NOT_OURS = 0,  /* not an onion name: pass through */
	OMX_NAME_OK,            /* an onion in the map or the discovery cache: *ADDR set */
	OMX_NAME_INVALID,       /* not a valid v3 onion: does not exist */
	OMX_NAME_UNAVAILABLE,   /* valid onion we cannot route (not in the map, or no map) */
	OMX_NAME_DAMAGED,       /* the map failed its checks during the lookup: defer */
};

/* Resolves host NAME if it is an onion name (RFC 7686: never sent to DNS): the
 * map's address first, else the one discovery gave it in CACHE (NULL: discovery
 * off). */
enum omx_name_status omx_resolve_onion(const struct omx_map *map, struct omx_cache *cache,
				       const char *name, uint32_t *addr);

/* The same for onion name NAME whose LABEL (LABEL_LEN bytes) the caller has
 * already found with omx_onion_label (a host lookup does, to decide it is ours
 * before taking the map). */
enum omx_name_status omx_resolve_onion_label(const struct omx_map *map, struct omx_cache *cache,
					     const char *name, const char *label, size_t label_len,
					     uint32_t *addr);

/* Synthetic addresses of the onions mail DOMAIN is mapped to (exact or ".parent"
 * entry), in the map's order. Returns how many (0: not mapped), or -1 when the
 * lookup must be deferred (no map, or the map is damaged). */
int omx_resolve_domain(const struct omx_map *map, const char *domain,
		       uint32_t addrs[OMX_MAP_MAX_TARGETS]);

/* Decides a DNS question. Returns 0 to pass it through to the real resolver, or 1
 * with A filled (MX host names stored in HOSTS). Ours are: every question for an
 * onion name (A, and AAAA as the same address IPv4-mapped; other types NODATA),
 * MX questions for mapped domains and "_smtp._tcp.DOMAIN" SRV questions for
 * them (NODATA, so the MX decides); PTR questions about synthetic addresses
 * (in-addr.arpa, or ip6.arpa of ::ffff:A.B.C.D: the onion's name); and with
 * MTA (the process delivers mail, see omx_mta) A/AAAA questions for mapped
 * domains, answered with their onions' addresses. With no map (broken
 * configuration) every such question fails temporarily (in an MTA every A/AAAA
 * question; PTR questions about 240.0.0.0/4), so no mail leaves in clear; so
 * does any question whose lookup finds the map damaged. A may point into Q. */
int omx_answer_question(const struct omx_map *map, struct omx_cache *cache,
			const struct omx_dns_question *q, int mta, struct omx_dns_answer *a,
			char hosts[][OMX_HOST_MAX]);

/* The MX answer for a domain the map does not know, from its discovery result R
 * (ORDER: omx_srv_order's): the onions in that order for OMX_SRV_ONION; for
 * OMX_SRV_TEMPFAIL a SERVFAIL (the MTA defers) unless FAILURE_MX lets the MX
 * lookup go on. Returns 1 with A filled, or 0 to pass the question through. */
int omx_answer_discovered(const struct omx_srv_result *r, const int order[OMX_SRV_MAX_TARGETS],
			  int failure_mx, struct omx_dns_answer *a, char hosts[][OMX_HOST_MAX]);
#endif
