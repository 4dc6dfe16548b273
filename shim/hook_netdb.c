/* Interposers for host lookups (getaddrinfo, gethostbyname*): an onion name gets
 * its synthetic address from the map and never reaches NSS or DNS (RFC 7686);
 * every other name passes through untouched. */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "answer.h"
#include "real.h"
#include "state.h"

static int is_onion(const char *name);

/* Looks NAME up if it is an onion name; returns the status (NOT_OURS: pass). */
static enum omx_name_status onion_lookup(const char *name, uint32_t *addr)
{
	const struct omx_map *map;
	enum omx_name_status st;
	size_t len;

	if (!name || !omx_onion_label(name, strlen(name), &len))
		return OMX_NAME_NOT_OURS;
	map = omx_map_acquire();
	st = omx_resolve_onion(map, omx_discovery, name, addr);
	omx_map_release();
	return st;
}

int getaddrinfo(const char *node, const char *service, const struct addrinfo *hints,
		struct addrinfo **res)
{
	struct addrinfo h = { .ai_family = AF_UNSPEC, .ai_flags = AI_V4MAPPED | AI_ADDRCONFIG };
	char literal[INET6_ADDRSTRLEN];
	struct in_addr in;
	uint32_t addr;
	int rc;

	omx_ready();
	if (!is_onion(node))
		return omx_real.getaddrinfo(node, service, hints, res);
	if (hints)
		h = *hints;
	if (h.ai_flags & AI_NUMERICHOST)
		return EAI_NONAME; /* an onion name is not a literal (Postfix asks this first) */
	if (h.ai_family != AF_UNSPEC && h.ai_family != AF_INET && h.ai_family != AF_INET6)
		return EAI_FAMILY;
	switch (onion_lookup(node, &addr)) {
	case OMX_NAME_OK:
		break;
	case OMX_NAME_INVALID:
		return EAI_NONAME;
	default:
		return EAI_AGAIN;
	}
	in.s_addr = htonl(addr);
	if (h.ai_family == AF_INET6) {
		if (!(h.ai_flags & AI_V4MAPPED))
			return EAI_NODATA; /* the onion has an A record only */
		strcpy(literal, "::ffff:");
		inet_ntop(AF_INET, &in, literal + 7, sizeof(literal) - 7);
	} else {
		inet_ntop(AF_INET, &in, literal, sizeof(literal));
	}
	/* Let glibc build the list from the literal: services, socket types and the
	 * allocation freeaddrinfo expects all come out exactly as for any name. The
	 * synthetic address is reachable through the shim whatever the interfaces,
	 * so AI_ADDRCONFIG does not apply. */
	h.ai_flags = (h.ai_flags & ~(AI_ADDRCONFIG | AI_CANONNAME | AI_V4MAPPED | AI_ALL)) |
		     AI_NUMERICHOST;
	rc = omx_real.getaddrinfo(literal, service, &h, res);
	if (rc == 0 && hints && (hints->ai_flags & AI_CANONNAME)) {
		size_t len = strlen(node);
		char *canon = malloc(len + 1);

		if (!canon) {
			freeaddrinfo(*res);
			*res = NULL;
			return EAI_MEMORY;
		}
		memcpy(canon, node, len + 1);
		if (len > 1 && canon[len - 1] == '.')
			canon[len - 1] = '\0';
		free((*res)->ai_canonname);
		(*res)->ai_canonname = canon;
	}
	return rc;
}

/* Where gethostbyname's result lives: one per thread (glibc's is one per process). */
struct hostent_storage {
	struct hostent ent;
	char *aliases[1];
	char *addrs[2];
	uint32_t addr;
	char name[256];
};
static __thread struct hostent_storage tls_host;

/* Fills ENT for NAME and ADDR (host order) using BUF; returns 0 or ERANGE. */
static int fill_hostent(struct hostent *ent, const char *name, uint32_t addr, char *buf,
			size_t buflen)
{
	size_t len = strlen(name);
	uintptr_t p = (uintptr_t)buf, align = sizeof(char *);
	char **ptrs;
	char *addrp, *namep;
	size_t pad = (align - (p % align)) % align;

	if (len > 1 && name[len - 1] == '.')
		len--;
	if (buflen < pad + 3 * sizeof(char *) + 4 + len + 1)
		return ERANGE;
	ptrs = (char **)(buf + pad);
	addrp = (char *)(ptrs + 3);
	namep = addrp + 4;
	addr = htonl(addr);
	memcpy(addrp, &addr, 4);
	memcpy(namep, name, len);
	namep[len] = '\0';
	ptrs[0] = addrp; /* h_addr_list */
	ptrs[1] = NULL;
	ptrs[2] = NULL;  /* h_aliases */
	ent->h_name = namep;
	ent->h_aliases = &ptrs[2];
	ent->h_addrtype = AF_INET;
	ent->h_length = 4;
	ent->h_addr_list = ptrs;
	return 0;
}

/* The gethostbyname*_r result for an onion NAME in FAMILY. */
static int onion_hostent_r(const char *name, int family, struct hostent *ret, char *buf,
			   size_t buflen, struct hostent **result, int *h_errnop)
{
	uint32_t addr;
	int rc;

	*result = NULL;
	switch (onion_lookup(name, &addr)) {
	case OMX_NAME_OK:
		break;
	case OMX_NAME_INVALID:
		*h_errnop = HOST_NOT_FOUND;
		return 0;
	default:
		*h_errnop = TRY_AGAIN;
		return EAGAIN;
	}
	if (family != AF_INET) {
		*h_errnop = NO_DATA;
		return 0;
	}
	rc = fill_hostent(ret, name, addr, buf, buflen);
	if (rc) {
		*h_errnop = NETDB_INTERNAL;
		errno = ERANGE;
		return ERANGE;
	}
	*h_errnop = NETDB_SUCCESS;
	*result = ret;
	return 0;
}

/* Whether NAME is an onion name and the library acts in this program. */
static int is_onion(const char *name)
{
	size_t len;

	return name && omx_onion_label(name, strlen(name), &len) != NULL && omx_enabled();
}

int gethostbyname2_r(const char *name, int family, struct hostent *ret, char *buf,
		     size_t buflen, struct hostent **result, int *h_errnop)
{
	omx_ready();
	if (!is_onion(name))
		return omx_real.gethostbyname2_r(name, family, ret, buf, buflen, result, h_errnop);
	return onion_hostent_r(name, family, ret, buf, buflen, result, h_errnop);
}

int gethostbyname_r(const char *name, struct hostent *ret, char *buf, size_t buflen,
		    struct hostent **result, int *h_errnop)
{
	omx_ready();
	if (!is_onion(name))
		return omx_real.gethostbyname_r(name, ret, buf, buflen, result, h_errnop);
	return onion_hostent_r(name, AF_INET, ret, buf, buflen, result, h_errnop);
}

struct hostent *gethostbyname2(const char *name, int family)
{
	struct hostent *result;
	int herr = 0;

	omx_ready();
	if (!is_onion(name))
		return omx_real.gethostbyname2(name, family);
	onion_hostent_r(name, family, &tls_host.ent, (char *)tls_host.aliases,
			sizeof(tls_host) - offsetof(struct hostent_storage, aliases), &result, &herr);
	if (!result)
		h_errno = herr;
	return result;
}

/* Called by its hidden name: never our own export through the GOT. */
extern __typeof(gethostbyname2) omx_gethostbyname2
	__attribute__((alias("gethostbyname2"), copy(gethostbyname2), visibility("hidden")));

struct hostent *gethostbyname(const char *name)
{
	omx_ready();
	if (!is_onion(name))
		return omx_real.gethostbyname(name);
	return omx_gethostbyname2(name, AF_INET);
}
