/* Reading an IP socket address the way the kernel does (pure core: the
 * hooks decide from it whether a call is ours, unit tests check its bounds). */
#include "sockaddr.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

/* The kernel reads an AF_INET address of at least sizeof(struct sockaddr_in)
 * (16) bytes and an AF_INET6 one of at least SIN6_LEN_RFC2133 (24: RFC 2133's
 * sockaddr_in6, without sin6_scope_id), and no address longer than a
 * sockaddr_storage; anything else it answers with EINVAL (tcp_v4_connect,
 * tcp_v6_connect, udp(v6)_sendmsg, move_addr_to_kernel). We read exactly what
 * it accepts: what we leave is an address the kernel refuses. */
#define OMX_SIN6_LEN_RFC2133 24

int omx_sockaddr_parts(const struct sockaddr *sa, socklen_t len, uint32_t *addr,
			  uint16_t *port)
{
	if (!sa || len < (socklen_t)sizeof(sa_family_t) || len > (socklen_t)sizeof(struct sockaddr_storage))
		return -1;
	if (sa->sa_family == AF_INET && len >= (socklen_t)sizeof(struct sockaddr_in)) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
		*addr = ntohl(in->sin_addr.s_addr);
		*port = ntohs(in->sin_port);
		return 1;
	}
	if (sa->sa_family == AF_INET6 && len >= (socklen_t)OMX_SIN6_LEN_RFC2133) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
		*port = ntohs(in6->sin6_port);
		if (!IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr))
			return 0;
		memcpy(addr, &in6->sin6_addr.s6_addr[12], 4);
		*addr = ntohl(*addr);
		return 1;
	}
	return -1;
}
