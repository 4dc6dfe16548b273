/* getaddrinfo()'s list for our synthetic addresses, built the way glibc 2.36
 * builds it for the numeric literal (sysdeps/posix/getaddrinfo.c: getaddrinfo,
 * get_servtuples, text_to_binary_address, generate_addrinfo): asking glibc
 * itself cost a resolve+connect 1.2k instructions (the literal written, then
 * parsed back, and the NSS-ready machinery around it). Only calls whose list
 * is certain are built here; the rest go to glibc as before. */
#include "addrinfo.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

/* The flags glibc 2.36 accepts (any other bit: EAI_BADFLAGS); 0x300 is its
 * DEPRECATED_AI_IDN, the former AI_IDN_ALLOW_UNASSIGNED|AI_IDN_USE_STD3_ASCII_RULES. */
#define AI_KNOWN                                                                               \
	(AI_PASSIVE | AI_CANONNAME | AI_NUMERICHOST | AI_V4MAPPED | AI_ALL | AI_ADDRCONFIG |   \
	 AI_IDN | AI_CANONIDN | 0x300 | AI_NUMERICSERV)

/* One socket type and protocol of the list, per address. */
struct sock_kind {
	int socktype, protocol;
};

/* glibc's gaih_inet_typeproto for the hints covered here: with neither type
 * nor protocol, every "default" row (TCP, UDP, raw, in that order); otherwise
 * the first row that matches, with SOCK_RAW's protocol (GAI_PROTO_PROTOANY) the
 * caller's. Returns how many kinds, 0 when not covered. */
static int sock_kinds(int socktype, int protocol, int has_service, struct sock_kind kinds[3])
{
	if (socktype == 0 && protocol == 0) {
		kinds[0] = (struct sock_kind){ SOCK_STREAM, IPPROTO_TCP };
		kinds[1] = (struct sock_kind){ SOCK_DGRAM, IPPROTO_UDP };
		kinds[2] = (struct sock_kind){ SOCK_RAW, 0 };
		return 3;
	}
	if ((socktype == SOCK_STREAM || socktype == 0) && (protocol == IPPROTO_TCP || protocol == 0)) {
		kinds[0] = (struct sock_kind){ SOCK_STREAM, IPPROTO_TCP };
		return 1;
	}
	if ((socktype == SOCK_DGRAM || socktype == 0) && (protocol == IPPROTO_UDP || protocol == 0)) {
		kinds[0] = (struct sock_kind){ SOCK_DGRAM, IPPROTO_UDP };
		return 1;
	}
	if (socktype == SOCK_RAW && protocol == 0 && !has_service) {
		/* glibc: a service with SOCK_RAW (GAI_PROTO_NOSERVICE) is EAI_SERVICE. */
		kinds[0] = (struct sock_kind){ SOCK_RAW, 0 };
		return 1;
	}
	return 0;
}

/* SERVICE as glibc reads a numeric one (strtoul, base 10, then htons), for the
 * forms where that is plainly its value: 1 to 5 ASCII digits, at most 65535
 * (no sign, space, or wrap-around). -1 for anything else. */
static int service_port(const char *service)
{
	unsigned value = 0;
	int len = 0;

	if (!service)
		return 0;
	for (; service[len]; len++) {
		if (len == 5 || service[len] < '0' || service[len] > '9')
			return -1;
		value = value * 10 + (unsigned)(service[len] - '0');
	}
	return len == 0 || value > 65535 ? -1 : (int)value;
}

int omx_addrinfo_build(const uint32_t *addrs, int n, const struct addrinfo *hints,
		       const char *service, struct addrinfo **res)
{
	struct sock_kind kinds[3];
	struct addrinfo *head = NULL, **tail = &head;
	int nkinds, port, family, v6;
	socklen_t socklen;

	if (!hints || n < 1 || (hints->ai_flags & ~AI_KNOWN) ||
	    (hints->ai_flags & (AI_CANONNAME | AI_ADDRCONFIG)))
		return OMX_AI_NOT_FAST;
	if (hints->ai_family != AF_UNSPEC && hints->ai_family != AF_INET && hints->ai_family != AF_INET6)
		return OMX_AI_NOT_FAST;
	if ((port = service_port(service)) < 0)
		return OMX_AI_NOT_FAST;
	if (!(nkinds = sock_kinds(hints->ai_socktype, hints->ai_protocol, service != NULL, kinds)))
		return OMX_AI_NOT_FAST;
	/* The dotted quad is AF_INET for AF_UNSPEC and AF_INET; the ::ffff: literal
	 * AF_INET6 is the same address IPv4-mapped, scope and flow label 0. */
	v6 = hints->ai_family == AF_INET6;
	family = v6 ? AF_INET6 : AF_INET;
	socklen = v6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
	for (int i = 0; i < n; i++) {
		uint32_t addr = htonl(addrs[i]);

		for (int k = 0; k < nkinds; k++) {
			struct addrinfo *ai = malloc(sizeof(*ai) + socklen);

			if (!ai) {
				freeaddrinfo(head);
				return EAI_MEMORY;
			}
			/* Every entry carries the caller's flags, as glibc's do. */
			ai->ai_flags = hints->ai_flags;
			ai->ai_family = family;
			ai->ai_socktype = kinds[k].socktype;
			ai->ai_protocol = kinds[k].protocol;
			ai->ai_addrlen = socklen;
			ai->ai_addr = (struct sockaddr *)(ai + 1);
			ai->ai_canonname = NULL;
			ai->ai_next = NULL;
			memset(ai->ai_addr, 0, socklen);
			if (v6) {
				struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ai->ai_addr;

				sin6->sin6_family = AF_INET6;
				sin6->sin6_port = htons((uint16_t)port);
				sin6->sin6_addr.s6_addr[10] = 0xff;
				sin6->sin6_addr.s6_addr[11] = 0xff;
				memcpy(&sin6->sin6_addr.s6_addr[12], &addr, 4);
			} else {
				struct sockaddr_in *sin = (struct sockaddr_in *)ai->ai_addr;

				sin->sin_family = AF_INET;
				sin->sin_port = htons((uint16_t)port);
				sin->sin_addr.s_addr = addr;
			}
			*tail = ai;
			tail = &ai->ai_next;
		}
	}
	*res = head;
	return 0;
}
