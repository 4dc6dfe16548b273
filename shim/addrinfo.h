/* getaddrinfo()'s result list for synthetic IPv4 addresses, built without
 * glibc's getaddrinfo (pure core: no interposition; tests/unit/test_addrinfo.c
 * compares it with glibc's own list, field by field). */
#ifndef OMX_ADDRINFO_H
#define OMX_ADDRINFO_H
#include <netdb.h>
#include <stdint.h>

/* Not an EAI_* code: the call is not one whose list is certain here; the
 * caller asks glibc (its errors, EAI_SERVICE, EAI_SOCKTYPE, EAI_BADFLAGS, ...,
 * come from there). */
#define OMX_AI_NOT_FAST 1

/* Into *RES the list glibc 2.36's getaddrinfo(LITERAL, SERVICE, HINTS) returns
 * for each of the N addresses ADDRS (host order) in turn, chained in that
 * order, LITERAL being the address's dotted quad, or "::ffff:" and the dotted
 * quad when HINTS asks for AF_INET6. Each entry is one malloc holding the
 * struct addrinfo and then its address (ai_canonname NULL), as glibc's
 * freeaddrinfo expects. Returns 0, EAI_MEMORY (nothing left allocated), or
 * OMX_AI_NOT_FAST unless all of these hold: HINTS given; family AF_UNSPEC,
 * AF_INET or AF_INET6; flags only known AI_* bits and neither AI_CANONNAME nor
 * AI_ADDRCONFIG (glibc reads the interfaces for it); socket type and protocol
 * 0/0, SOCK_STREAM or 0 with 0 or IPPROTO_TCP, SOCK_DGRAM or 0 with 0 or
 * IPPROTO_UDP, SOCK_RAW/0 without a service; SERVICE NULL or 1 to 5 ASCII
 * digits worth at most 65535; N at least 1. */
int omx_addrinfo_build(const uint32_t *addrs, int n, const struct addrinfo *hints,
		       const char *service, struct addrinfo **res);
#endif
