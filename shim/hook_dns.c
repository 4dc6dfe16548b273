/* DNS that a program sends itself, around libc's resolver (Net::DNS in swaks,
 * dnspython, c-ares): a query about a mapped domain's MX or an onion name must
 * not leave the process either. Unconnected UDP queries are answered in place;
 * on sockets connected to port 53 (UDP or TCP), where no answer can be slipped
 * in, such a query is refused with ECONNREFUSED (the program sees a failed
 * server and fails temporarily). Other queries pass. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "answer.h"
#include "hooks.h"
#include "log.h"
#include "real.h"
#include "state.h"

uint64_t omx_dns_fds[OMX_DNS_TRACKED_FDS / 64];

/* Whether question Q is one we answer (and so must not leave). */
static int question_is_ours(const struct omx_dns_question *q)
{
	char hosts[OMX_MAP_MAX_TARGETS][OMX_HOST_MAX];
	struct omx_dns_answer a;

	return omx_answer_current(NULL, q, &a, hosts);
}

/* Answers a DNS query that a program sends itself over UDP (Net::DNS in swaks,
 * for one) when it is ours: the reply is sent from the socket to its own local
 * address, where the program reads it; the query never leaves. Returns 1 if
 * handled. */
int omx_dns_answer_udp(int fd, const void *buf, size_t n)
{
	char hosts[OMX_MAP_MAX_TARGETS][OMX_HOST_MAX];
	struct omx_dns_question q;
	struct omx_dns_answer a;
	struct sockaddr_storage self;
	socklen_t slen = sizeof(self), tlen;
	uint8_t reply[1232];
	int type, rlen;
	uint16_t port;
	uint32_t ignored;

	tlen = sizeof(type);
	if (!buf || getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tlen) != 0 || type != SOCK_DGRAM ||
	    omx_dns_parse_query(buf, n, &q) != 0)
		return 0;
	if (!omx_answer_current(NULL, &q, &a, hosts))
		return 0;
	rlen = omx_dns_build_reply(&q, &a, reply, sizeof(reply));
	if (getsockname(fd, (struct sockaddr *)&self, &slen) != 0 ||
	    omx_sockaddr_parts((struct sockaddr *)&self, slen, &ignored, &port) < 0)
		return 1; /* swallowed: the program times out and retries, nothing leaks */
	if (port == 0) {
		/* Not bound yet: bind as sendto would have, to learn our port. */
		struct sockaddr_storage any = { .ss_family = self.ss_family };
		if (bind(fd, (struct sockaddr *)&any, slen) != 0 ||
		    getsockname(fd, (struct sockaddr *)&self, &slen) != 0)
			return 1;
	}
	if (self.ss_family == AF_INET) {
		struct sockaddr_in *in = (struct sockaddr_in *)&self;
		if (in->sin_addr.s_addr == htonl(INADDR_ANY))
			in->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	} else if (self.ss_family == AF_INET6) {
		struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&self;
		if (IN6_IS_ADDR_UNSPECIFIED(&in6->sin6_addr))
			in6->sin6_addr = in6addr_loopback;
	}
	if (rlen > 0)
		omx_real.sendto(fd, reply, (size_t)rlen, 0, (struct sockaddr *)&self, slen);
	omx_log(LOG_DEBUG, "answered a UDP DNS query for %s (type %u) in place", q.name, q.qtype);
	return 1;
}


static void set_tracked(int fd, int on)
{
	uint64_t bit;

	if ((unsigned)fd >= OMX_DNS_TRACKED_FDS)
		return;
	bit = 1ull << ((unsigned)fd % 64);
	if (on)
		__atomic_or_fetch(&omx_dns_fds[(unsigned)fd / 64], bit, __ATOMIC_RELAXED);
	else
		__atomic_and_fetch(&omx_dns_fds[(unsigned)fd / 64], ~bit, __ATOMIC_RELAXED);
}

void omx_dns_untrack(int fd)
{
	if (omx_dns_tracked(fd))
		set_tracked(fd, 0);
}

int omx_dns_connect(int fd, const struct sockaddr *sa, socklen_t len)
{
	int rc = omx_real.connect(fd, sa, len);
	int saved = errno;

	set_tracked(fd, rc == 0 || errno == EINPROGRESS || errno == EALREADY || errno == EISCONN);
	errno = saved;
	return rc;
}

/* Is FD still a socket connected to port 53 (descriptors get reused)? Returns
 * its type, or 0 after forgetting it. */
static int still_dns_socket(int fd)
{
	struct sockaddr_storage peer;
	socklen_t plen = sizeof(peer), tlen;
	uint32_t addr;
	uint16_t port;
	int type;

	tlen = sizeof(type);
	if (omx_real.getpeername(fd, (struct sockaddr *)&peer, &plen) != 0 ||
	    omx_sockaddr_parts((struct sockaddr *)&peer, plen, &addr, &port) < 0 || port != 53 ||
	    getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tlen) != 0) {
		set_tracked(fd, 0);
		return 0;
	}
	return type;
}

int omx_dns_guard(int fd, const void *buf, size_t n)
{
	const uint8_t *p = buf;
	struct omx_dns_question q;
	int saved = errno, type = still_dns_socket(fd);

	errno = saved;
	if (!type || !p)
		return 0;
	if (type == SOCK_STREAM) {
		/* TCP: a two-byte length, then the message. */
		size_t len = n >= 2 ? (size_t)(p[0] << 8 | p[1]) : 0;
		if (n < 2 || len > n - 2 || omx_dns_parse_query(p + 2, len, &q) != 0)
			return 0;
	} else if (omx_dns_parse_query(p, n, &q) != 0) {
		return 0;
	}
	if (!question_is_ours(&q))
		return 0;
	omx_log(LOG_WARNING, "refused a DNS query for %s (type %u) sent around the resolver on a %s socket to port 53",
		q.name, q.qtype, type == SOCK_STREAM ? "TCP" : "connected UDP");
	if (type == SOCK_STREAM)
		omx_real.shutdown(fd, SHUT_RDWR); /* nothing later on this connection either */
	errno = ECONNREFUSED;
	return 1;
}

int omx_dns_guard_iov(int fd, const struct iovec *iov, size_t iovcnt)
{
	uint8_t buf[4096];
	size_t n = 0;

	for (size_t i = 0; i < iovcnt; i++) {
		size_t take = iov[i].iov_len < sizeof(buf) - n ? iov[i].iov_len : sizeof(buf) - n;
		memcpy(buf + n, iov[i].iov_base, take);
		n += take;
	}
	return omx_dns_guard(fd, buf, n);
}

/* The plain write family, for sockets connected to port 53 only: everything
 * else costs one bit test. */
ssize_t write(int fd, const void *buf, size_t n)
{
	omx_ready();
	if (omx_dns_tracked(fd) && omx_dns_guard(fd, buf, n))
		return -1;
	return omx_real.write(fd, buf, n);
}

ssize_t writev(int fd, const struct iovec *iov, int iovcnt)
{
	omx_ready();
	if (omx_dns_tracked(fd) && iovcnt > 0 && omx_dns_guard_iov(fd, iov, (size_t)iovcnt))
		return -1;
	return omx_real.writev(fd, iov, iovcnt);
}

ssize_t send(int fd, const void *buf, size_t n, int flags)
{
	omx_ready();
	if (omx_dns_tracked(fd) && omx_dns_guard(fd, buf, n))
		return -1;
	return omx_real.send(fd, buf, n, flags);
}
