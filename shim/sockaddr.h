/* Port and address of a caller's socket address, read as the kernel reads it. */
#ifndef OMX_SOCKADDR_H
#define OMX_SOCKADDR_H
#include <stdint.h>
#include <sys/socket.h>

/* Port and (for IPv4 and v4-mapped IPv6) address of SA, host order. Returns 1 if
 * ADDR was set, 0 if only PORT was (other IPv6), -1 if SA is no IP address the
 * kernel would accept (AF_INET under 16 bytes, AF_INET6 under 24, anything over
 * a sockaddr_storage): the kernel answers such a call with EINVAL itself. */
int omx_sockaddr_parts(const struct sockaddr *sa, socklen_t len, uint32_t *addr,
		       uint16_t *port);
#endif
