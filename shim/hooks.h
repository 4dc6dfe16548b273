/* What the hook files share: they are the thin LD_PRELOAD shell around the core. */
#ifndef OMX_HOOKS_H
#define OMX_HOOKS_H
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <resolv.h>

#include "answer.h"
#include "sockaddr.h"


/* omx_answer_question() on the current map (acquired and released here), then,
 * for an MX question the map leaves open and with discovery on, the domain's
 * _onion-mx._tcp SRV records (discover.c): from the shared cache, else asked of
 * the real resolver with STATP (NULL: a private resolver state). */
int omx_answer_current(res_state statp, const struct omx_dns_question *q,
		       struct omx_dns_answer *a, char hosts[][OMX_HOST_MAX]);

/* The current delivery routed a domain: a mapped one (MAPPED, its MX or address
 * answered here) or another (an MX lookup passed to DNS). An MTA delivery that
 * routed mapped domains only may connect to onions only (hook_socket.c). */
void omx_socket_routed(int mapped);

/* In a fork() child: re-initialises the locks of hook_socket.c. */
void omx_socket_after_fork(void);

/* DNS sent around libc's resolver (hook_dns.c). */

/* An unconnected UDP query to port 53: if ours, answered in place (returns 1). */
int omx_dns_answer_udp(int fd, const void *buf, size_t n);

/* connect() to port 53: connects and remembers FD, so what it sends is examined. */
int omx_dns_connect(int fd, const struct sockaddr *sa, socklen_t len);
void omx_dns_untrack(int fd);

/* Sockets connected to port 53: one bit per descriptor, read without a lock. */
#define OMX_DNS_TRACKED_FDS 65536
extern uint64_t omx_dns_fds[OMX_DNS_TRACKED_FDS / 64];

static inline int omx_dns_tracked(int fd)
{
	return (unsigned)fd < OMX_DNS_TRACKED_FDS &&
	       (__atomic_load_n(&omx_dns_fds[(unsigned)fd / 64], __ATOMIC_RELAXED) >>
		((unsigned)fd % 64)) & 1;
}

/* For a tracked FD about to send BUF: returns 1 (errno set, nothing sent) if it
 * is a DNS query that is ours (a mapped domain's MX, an onion name), else 0. */
int omx_dns_guard(int fd, const void *buf, size_t n);
int omx_dns_guard_iov(int fd, const struct iovec *iov, size_t iovcnt);
#endif
