/* Interposers for host lookups (getaddrinfo, gethostbyname*): an onion name gets
 * its synthetic address from the map and never reaches NSS or DNS (RFC 7686); in
 * an MTA so does a mapped mail domain (its onions' addresses); every other name
 * passes through untouched. */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "answer.h"
#include "hooks.h"
#include "real.h"
#include "state.h"

/* What a host lookup of a name is to us. */
enum host_kind { HOST_PASS = 0, HOST_OK, HOST_NONAME, HOST_AGAIN };

/* Decides host NAME: an onion name (RFC 7686: never NSS or DNS) gets its synthetic
 * address; in an MTA (omx_mta) a mapped mail domain gets its onions' addresses,
 * as its MX lookup would (Postfix with DNS lookups disabled calls
 * getaddrinfo(domain); answering the name itself here also keeps glibc from
 * trying it with the search list's suffixes). Fills ADDRS and *N for HOST_OK. */
static enum host_kind host_lookup(const char *name, uint32_t addrs[OMX_MAP_MAX_TARGETS], int *n)
{
	const struct omx_map *map;
	struct in6_addr ignored;
	size_t len;
	int got;

	if (!name || !*name)
		return HOST_PASS;
	if (omx_onion_label(name, strlen(name), &len)) {
		if (!omx_enabled())
			return HOST_PASS;
		map = omx_map_acquire();
		enum omx_name_status st = omx_resolve_onion(map, omx_discovery, name, &addrs[0]);
		omx_map_release();
		*n = 1;
		return st == OMX_NAME_OK ? HOST_OK : st == OMX_NAME_INVALID ? HOST_NONAME : HOST_AGAIN;
	}
	if (!omx_enabled() || !omx_mta || inet_pton(AF_INET, name, &ignored) == 1 ||
	    inet_pton(AF_INET6, name, &ignored) == 1)
		return HOST_PASS;
	map = omx_map_acquire();
	got = omx_resolve_domain(map, name, addrs);
	omx_map_release();
	if (got == 0)
		return HOST_PASS;
	if (got > 0)
		omx_socket_routed(1);
	*n = got;
	return got < 0 ? HOST_AGAIN : HOST_OK;
}

/* ADDR (host order) as "A.B.C.D" into TEXT (16 bytes): inet_ntop goes through
 * sprintf, a tenth of an onion connect's instructions. */
static void dotted_quad(uint32_t addr, char *text)
{
	for (int shift = 24; shift >= 0; shift -= 8) {
		unsigned octet = (addr >> shift) & 255;

		if (octet >= 100)
			*text++ = (char)('0' + octet / 100);
		if (octet >= 10)
			*text++ = (char)('0' + octet / 10 % 10);
		*text++ = (char)('0' + octet % 10);
		*text++ = shift ? '.' : '\0';
	}
}

/* Our answer is AF_INET or, asked for AF_INET6, the same addresses IPv4-mapped
 * (::ffff:240.x.y.z: what connect() on an IPv6 socket also recognises), so an
 * IPv6-only MTA gets addresses it can use. AF_UNSPEC gives IPv4 only: the mapped
 * form is the same endpoint, and listing both would make the MTA try each onion
 * twice. */
int getaddrinfo(const char *node, const char *service, const struct addrinfo *hints,
		struct addrinfo **res)
{
	struct addrinfo h = { .ai_family = AF_UNSPEC, .ai_flags = AI_V4MAPPED | AI_ADDRCONFIG };
	struct addrinfo *head = NULL, **tail = &head;
	uint32_t addrs[OMX_MAP_MAX_TARGETS];
	int n = 0, rc = 0;

	omx_ready();
	if (hints && (hints->ai_flags & AI_NUMERICHOST)) {
		/* An onion or mail domain is not a literal (Postfix asks this first). */
		size_t len;

		if (node && omx_onion_label(node, strlen(node), &len) && omx_enabled())
			return EAI_NONAME;
		return omx_real.getaddrinfo(node, service, hints, res);
	}
	switch (host_lookup(node, addrs, &n)) {
	case HOST_PASS:
		return omx_real.getaddrinfo(node, service, hints, res);
	case HOST_OK:
		break;
	case HOST_NONAME:
		return EAI_NONAME;
	default:
		return EAI_AGAIN;
	}
	if (hints)
		h = *hints;
	if (h.ai_family != AF_UNSPEC && h.ai_family != AF_INET && h.ai_family != AF_INET6)
		return EAI_FAMILY;
	/* Let glibc build each entry from the literal: services, socket types and the
	 * allocation freeaddrinfo expects all come out exactly as for any name (its
	 * freeaddrinfo frees entry by entry, so lists can be chained). The synthetic
	 * address is reachable through the library whatever the interfaces, so
	 * AI_ADDRCONFIG does not apply. */
	h.ai_flags = (h.ai_flags & ~(AI_ADDRCONFIG | AI_CANONNAME | AI_V4MAPPED | AI_ALL)) |
		     AI_NUMERICHOST;
	for (int i = 0; i < n && rc == 0; i++) {
		char literal[INET6_ADDRSTRLEN];
		struct addrinfo *one = NULL;

		if (h.ai_family == AF_INET6) {
			strcpy(literal, "::ffff:");
			dotted_quad(addrs[i], literal + 7);
		} else {
			dotted_quad(addrs[i], literal);
		}
		rc = omx_real.getaddrinfo(literal, service, &h, &one);
		if (rc == 0) {
			*tail = one;
			while (*tail)
				tail = &(*tail)->ai_next;
		}
	}
	if (rc == 0 && head && hints && (hints->ai_flags & AI_CANONNAME)) {
		size_t len = strlen(node);
		char *canon = malloc(len + 1);

		if (!canon) {
			rc = EAI_MEMORY;
		} else {
			memcpy(canon, node, len + 1);
			if (len > 1 && canon[len - 1] == '.')
				canon[len - 1] = '\0';
			free(head->ai_canonname);
			head->ai_canonname = canon;
		}
	}
	if (rc != 0) {
		if (head)
			freeaddrinfo(head);
		return rc;
	}
	*res = head;
	return 0;
}

/* Where gethostbyname's result lives: one per thread (glibc's is one per process). */
static __thread struct hostent tls_host;
static __thread union {
	char buf[1024]; /* 18 pointers, 16 IPv6 addresses and a name fit */
	void *align;
} tls_host_buf;

/* Fills ENT for NAME with the N addresses ADDRS (host order) in FAMILY (AF_INET6:
 * IPv4-mapped) using BUF; returns 0 or ERANGE. */
static int fill_hostent(struct hostent *ent, const char *name, int family, const uint32_t *addrs,
			int n, char *buf, size_t buflen)
{
	size_t len = strlen(name), alen = family == AF_INET6 ? 16 : 4;
	uintptr_t p = (uintptr_t)buf, align = sizeof(char *);
	char **ptrs;
	char *addrp, *namep;
	size_t pad = (align - (p % align)) % align;

	if (len > 1 && name[len - 1] == '.')
		len--;
	if (buflen < pad + ((size_t)n + 2) * sizeof(char *) + (size_t)n * alen + len + 1)
		return ERANGE;
	ptrs = (char **)(buf + pad);
	addrp = (char *)(ptrs + n + 2);
	namep = addrp + (size_t)n * alen;
	for (int i = 0; i < n; i++) {
		uint32_t be = htonl(addrs[i]);
		char *at = addrp + (size_t)i * alen;

		if (alen == 16) {
			memset(at, 0, 10);
			memset(at + 10, 0xff, 2);
			at += 12;
		}
		memcpy(at, &be, 4);
		ptrs[i] = addrp + (size_t)i * alen; /* h_addr_list */
	}
	ptrs[n] = NULL;
	ptrs[n + 1] = NULL; /* h_aliases */
	memcpy(namep, name, len);
	namep[len] = '\0';
	ent->h_name = namep;
	ent->h_aliases = &ptrs[n + 1];
	ent->h_addrtype = alen == 16 ? AF_INET6 : AF_INET;
	ent->h_length = (int)alen;
	ent->h_addr_list = ptrs;
	return 0;
}

/* The gethostbyname*_r result for NAME in FAMILY, once host_lookup said KIND. */
static int hostent_r(enum host_kind kind, const char *name, int family, const uint32_t *addrs,
		     int n, struct hostent *ret, char *buf, size_t buflen, struct hostent **result,
		     int *h_errnop)
{
	*result = NULL;
	switch (kind) {
	case HOST_OK:
		break;
	case HOST_NONAME:
		*h_errnop = HOST_NOT_FOUND;
		return 0;
	default:
		*h_errnop = TRY_AGAIN;
		return EAGAIN;
	}
	if (family != AF_INET && family != AF_INET6) {
		*h_errnop = NO_DATA;
		return 0;
	}
	if (fill_hostent(ret, name, family, addrs, n, buf, buflen)) {
		*h_errnop = NETDB_INTERNAL;
		errno = ERANGE;
		return ERANGE;
	}
	*h_errnop = NETDB_SUCCESS;
	*result = ret;
	return 0;
}

int gethostbyname2_r(const char *name, int family, struct hostent *ret, char *buf,
		     size_t buflen, struct hostent **result, int *h_errnop)
{
	uint32_t addrs[OMX_MAP_MAX_TARGETS];
	int n = 0;
	enum host_kind kind;

	omx_ready();
	kind = host_lookup(name, addrs, &n);
	if (kind == HOST_PASS)
		return omx_real.gethostbyname2_r(name, family, ret, buf, buflen, result, h_errnop);
	return hostent_r(kind, name, family, addrs, n, ret, buf, buflen, result, h_errnop);
}

int gethostbyname_r(const char *name, struct hostent *ret, char *buf, size_t buflen,
		    struct hostent **result, int *h_errnop)
{
	uint32_t addrs[OMX_MAP_MAX_TARGETS];
	int n = 0;
	enum host_kind kind;

	omx_ready();
	kind = host_lookup(name, addrs, &n);
	if (kind == HOST_PASS)
		return omx_real.gethostbyname_r(name, ret, buf, buflen, result, h_errnop);
	return hostent_r(kind, name, AF_INET, addrs, n, ret, buf, buflen, result, h_errnop);
}

/* gethostbyname2 for a name host_lookup took as ours (KIND). */
static struct hostent *hostent_static(enum host_kind kind, const char *name, int family,
				      const uint32_t *addrs, int n)
{
	struct hostent *result;
	int herr = 0;

	hostent_r(kind, name, family, addrs, n, &tls_host, tls_host_buf.buf, sizeof(tls_host_buf.buf),
		  &result, &herr);
	if (!result)
		h_errno = herr;
	return result;
}

struct hostent *gethostbyname2(const char *name, int family)
{
	uint32_t addrs[OMX_MAP_MAX_TARGETS];
	int n = 0;
	enum host_kind kind;

	omx_ready();
	kind = host_lookup(name, addrs, &n);
	if (kind == HOST_PASS)
		return omx_real.gethostbyname2(name, family);
	return hostent_static(kind, name, family, addrs, n);
}

struct hostent *gethostbyname(const char *name)
{
	uint32_t addrs[OMX_MAP_MAX_TARGETS];
	int n = 0;
	enum host_kind kind;

	omx_ready();
	kind = host_lookup(name, addrs, &n);
	if (kind == HOST_PASS)
		return omx_real.gethostbyname(name);
	return hostent_static(kind, name, AF_INET, addrs, n);
}
