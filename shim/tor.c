/* The SOCKS5 dialogue with Tor on the caller's own socket. */
#include "tor.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "real.h"
#include "socks5.h"
#include "stats.h"

uint16_t omx_tor_port(const struct omx_target *target, uint16_t caller_port)
{
	return target->port && caller_port == 25 ? target->port : caller_port;
}

/* "MX of example.org" or "MX of example.org and 3 other domains": connect()
 * knows the onion, not the domain being delivered, so name what the map says
 * the onion serves. */
static void describe_domains(char *out, size_t cap, const char *domain, unsigned ndomains)
{
	if (ndomains > 1)
		snprintf(out, cap, "MX of %s and %u other domain%s", domain ? domain : "?",
			 ndomains - 1, ndomains > 2 ? "s" : "");
	else
		snprintf(out, cap, "MX of %s", domain ? domain : "?");
}

static double now_seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Whether a signal that interrupted one of our waits would have interrupted
 * the kernel's own blocking connect(): that connect() is restarted after a
 * handler installed with SA_RESTART and fails with EINTR after one without
 * (Exim's alarm() around connect()). poll() itself is never restarted, and
 * does not say which signal ran: we answer EINTR if a handler is installed
 * without SA_RESTART for a signal that can arrive while we wait - not for the
 * faults a thread raises itself (crash handlers, ASan's), which cannot occur
 * inside poll(). Costs a sigaction() per signal, only after an EINTR. */
static int signal_interrupts(void)
{
	for (int sig = 1; sig < NSIG; sig++) {
		struct sigaction sa;

		if (sig == SIGSEGV || sig == SIGBUS || sig == SIGILL || sig == SIGFPE ||
		    sig == SIGTRAP || sig == SIGSYS || sig == SIGABRT)
			continue;
		if (sigaction(sig, NULL, &sa) == 0 && sa.sa_handler != SIG_DFL &&
		    sa.sa_handler != SIG_IGN && !(sa.sa_flags & SA_RESTART))
			return 1;
	}
	return 0;
}

/* Waits for EVENTS on FD until DEADLINE. Returns 0 (ready, or an error the
 * next read or write reports), -ETIMEDOUT, or -EINTR when a caller's signal
 * handler ran that would have interrupted connect() (see above). */
static int wait_for(int fd, short events, double deadline)
{
	for (;;) {
		struct pollfd p = { .fd = fd, .events = events };
		double left = deadline - now_seconds();
		int r;

		if (left <= 0)
			return -ETIMEDOUT;
		r = poll(&p, 1, (int)(left * 1000) + 1);
		if (r > 0)
			return 0;
		if (r < 0 && errno == EINTR) {
			if (signal_interrupts())
				return -EINTR;
		} else if (r < 0) {
			return -errno;
		}
	}
}

/* Makes FD a socket that can reach Tor's address family. A caller's AF_INET6
 * socket reaches an IPv4 SOCKS port through a v4-mapped address; a caller's
 * AF_INET socket cannot reach an IPv6 one, so it is replaced in place (same fd
 * number and flags) by an AF_INET6 socket. Fills SOCKS/LEN with what to dial. */
static int prepare_socket(int fd, const struct omx_config *cfg, struct sockaddr_storage *socks,
			  socklen_t *len)
{
	int domain;
	socklen_t dlen = sizeof(domain);

	memcpy(socks, &cfg->socks, sizeof(*socks));
	*len = cfg->socks_len;
	if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &dlen) != 0)
		return -errno;
	if (domain == cfg->socks.ss_family)
		return 0;
	if (domain == AF_INET6 && cfg->socks.ss_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)&cfg->socks;
		struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)socks;

		memset(in6, 0, sizeof(*in6));
		in6->sin6_family = AF_INET6;
		in6->sin6_port = in->sin_port;
		in6->sin6_addr.s6_addr[10] = 0xff;
		in6->sin6_addr.s6_addr[11] = 0xff;
		memcpy(&in6->sin6_addr.s6_addr[12], &in->sin_addr, 4);
		*len = sizeof(*in6);
		return 0;
	}
	if (domain == AF_INET && cfg->socks.ss_family == AF_INET6) {
		int fdflags = omx_real.fcntl(fd, F_GETFD);
		int s = socket(AF_INET6, SOCK_STREAM, 0);

		if (s < 0)
			return -errno;
		if (omx_real.dup3(s, fd, (fdflags & FD_CLOEXEC) ? O_CLOEXEC : 0) < 0) {
			int e = errno;
			close(s);
			return -e;
		}
		close(s);
		return 0;
	}
	return -EAFNOSUPPORT;
}

/* Connects FD to Tor. Returns 0 or -errno. */
static int dial_tor(int fd, const struct sockaddr_storage *socks, socklen_t len, double deadline)
{
	int err = 0;
	socklen_t elen = sizeof(err);

	if (omx_real.connect(fd, (const struct sockaddr *)socks, len) == 0)
		return 0;
	/* EINTR: another thread made the socket blocking and a signal came. */
	if (errno == EINTR && signal_interrupts())
		return -EINTR;
	if (errno != EINPROGRESS && errno != EINTR)
		return -errno;
	if ((err = wait_for(fd, POLLOUT, deadline)) != 0)
		return err;
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen) != 0)
		return -errno;
	if (err)
		return -err;
	/* Let the kernel see the connection complete, as a caller's second connect()
	 * would: until then it answers a later connect() with 0, not EISCONN. */
	if (omx_real.connect(fd, (const struct sockaddr *)socks, len) != 0 && errno != EISCONN)
		return -errno;
	return 0;
}

/* The handshake's I/O never blocks, whatever the socket's flags (another
 * thread of the caller may clear O_NONBLOCK at any time): MSG_DONTWAIT on every
 * call, poll() with the time left in between, the deadline checked at every
 * step. And it goes to libc itself, not to our own send() hook. */
static int send_all(int fd, const uint8_t *buf, size_t len, double deadline)
{
	while (len) {
		ssize_t w;

		if (now_seconds() >= deadline)
			return -ETIMEDOUT;
		w = omx_real.send(fd, buf, len, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (w > 0) {
			buf += w;
			len -= (size_t)w;
		} else if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
			int r = wait_for(fd, POLLOUT, deadline);
			if (r)
				return r;
		} else {
			return -errno;
		}
	}
	return 0;
}

/* Tor's replies as they arrive: method choice, authentication status, CONNECT
 * reply, one after another. */
struct reply_reader {
	uint8_t buf[2 + 2 + 4 + 1 + 255 + 2];
	size_t have, need;
};

/* Maps a finished (non-NEED_MORE) parse result to 0 or -errno with CAUSE. */
static int reply_result(enum omx_socks5_result r, int code, const char **cause)
{
	switch (r) {
	case OMX_SOCKS5_DONE:
		return 0;
	case OMX_SOCKS5_REFUSED:
		*cause = omx_socks5_code_str(code);
		return -omx_socks5_code_errno(code);
	case OMX_SOCKS5_NO_METHOD:
		*cause = "SOCKS server accepts none of our authentication methods";
		return -ECONNREFUSED;
	case OMX_SOCKS5_AUTH_FAILED:
		*cause = "SOCKS server rejected the isolation username/password";
		return -EACCES;
	default:
		*cause = "SOCKS server sent a malformed reply (is it Tor?)";
		return -EPROTO;
	}
}

/* Reads Tor's replies, exactly as many bytes as they take (what follows belongs
 * to the caller: the SMTP banner), until they are complete or, with UPTO, until
 * the first UPTO bytes are in and acceptable. Returns 0, or -errno with CAUSE. */
static int read_replies(int fd, struct reply_reader *rd, int with_auth, size_t upto,
			double deadline, const char **cause, int *code)
{
	for (;;) {
		enum omx_socks5_result r;

		while (rd->have < rd->need) {
			ssize_t n;

			if (now_seconds() >= deadline) {
				*cause = "timed out waiting for Tor's SOCKS reply";
				return -ETIMEDOUT;
			}
			n = recv(fd, rd->buf + rd->have, rd->need - rd->have, MSG_DONTWAIT);

			if (n > 0) {
				rd->have += (size_t)n;
			} else if (n == 0) {
				/* A server may refuse with a bare header and hang up. */
				r = omx_socks5_parse(rd->buf, rd->have, with_auth, &rd->need, code);
				if (r != OMX_SOCKS5_NEED_MORE)
					return reply_result(r, *code, cause);
				*cause = "Tor closed the connection during the SOCKS handshake";
				return -ECONNRESET;
			} else if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
				int w = wait_for(fd, POLLIN, deadline);
				if (w) {
					*cause = w == -EINTR ? "interrupted by a signal while waiting for Tor's SOCKS reply"
							     : "timed out waiting for Tor's SOCKS reply";
					return w;
				}
			} else {
				int e = errno;
				*cause = "reading Tor's SOCKS reply failed";
				return -e;
			}
		}
		r = omx_socks5_parse(rd->buf, rd->have, with_auth, &rd->need, code);
		if (r != OMX_SOCKS5_NEED_MORE)
			return reply_result(r, *code, cause);
		if (rd->need > sizeof(rd->buf)) {
			*cause = "SOCKS reply too long";
			return -EPROTO;
		}
		if (upto && rd->have >= upto)
			return 0;
		/* Tor writes each reply as it is ready: acknowledge at once, or the
		 * next small reply waits for our delayed ACK (40 ms, measured). */
		setsockopt(fd, IPPROTO_TCP, TCP_QUICKACK, &(int){ 1 }, sizeof(int));
	}
}

int omx_tor_connect(int fd, const struct omx_config *cfg, const struct omx_target *target,
		    uint16_t caller_port, const char *domain, unsigned ndomains)
{
	double start = now_seconds(), deadline = start + cfg->timeout;
	uint16_t port = omx_tor_port(target, caller_port);
	char host[OMX_ONION_LABEL_LEN + sizeof(".onion")], serves[320];
	uint8_t request[3 + 3 + 255 + 255 + 7 + 255];
	struct reply_reader reader = { .have = 0, .need = 2 };
	struct sockaddr_storage socks;
	socklen_t socks_len;
	size_t greeting;
	const char *cause = NULL;
	int type, flags, code = 0, rc, tor_refused = 0;
	socklen_t tlen = sizeof(type);
	ssize_t reqlen;

	snprintf(host, sizeof(host), "%s.onion", target->onion);
	if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tlen) != 0)
		return -errno;
	if (type != SOCK_STREAM)
		return -ENETUNREACH; /* no datagrams to an onion: never send them anywhere */
	flags = omx_real.fcntl(fd, F_GETFL);
	if (flags < 0)
		return -errno;
	rc = prepare_socket(fd, cfg, &socks, &socks_len);
	if (rc) {
		cause = "cannot make a socket for Tor's SOCKS port";
		goto fail;
	}
	if (!(flags & O_NONBLOCK) && omx_real.fcntl(fd, F_SETFL, flags | O_NONBLOCK) != 0) {
		rc = -errno;
		goto fail;
	}
	rc = dial_tor(fd, &socks, socks_len, deadline);
	tor_refused = rc == -ECONNREFUSED;
	if (rc == -EISCONN || rc == -EALREADY) {
		/* A second connect() on a socket we already connected: answer as the kernel. */
		omx_real.fcntl(fd, F_SETFL, flags);
		return rc;
	}
	if (rc) {
		cause = rc == -ETIMEDOUT ? "timed out connecting to Tor's SOCKS port"
			: rc == -EINTR	 ? "interrupted by a signal while connecting to Tor's SOCKS port"
					 : "cannot connect to Tor's SOCKS port (is Tor running?)";
		goto fail;
	}
	/* With isolation only method 0x02 is offered: the server cannot pick one
	 * that would make it misread what follows. */
	reqlen = omx_socks5_request(request, sizeof(request), host, port,
				    cfg->isolate ? host : NULL, cfg->isolate ? "onionmx" : NULL);
	if (reqlen < 0) {
		rc = -EINVAL;
		cause = "cannot encode the SOCKS request";
		goto fail;
	}
	/* Tor parses every message in its buffer before answering: given greeting
	 * and authentication together it sends the authentication status but
	 * never its method choice (seen with 0.4.9). So with credentials the
	 * greeting goes alone; without, greeting and CONNECT go in one write. */
	greeting = cfg->isolate ? 3 : (size_t)reqlen;
	rc = send_all(fd, request, greeting, deadline);
	if (rc == 0 && greeting < (size_t)reqlen) {
		rc = read_replies(fd, &reader, cfg->isolate, 2, deadline, &cause, &code);
		if (rc)
			goto fail;
		rc = send_all(fd, request + greeting, (size_t)reqlen - greeting, deadline);
	}
	if (rc) {
		if (!cause)
			cause = rc == -EINTR ? "interrupted by a signal while sending the SOCKS request"
			      : rc == -ETIMEDOUT ? "timed out sending the SOCKS request"
						 : "sending the SOCKS request failed";
		goto fail;
	}
	rc = read_replies(fd, &reader, cfg->isolate, 0, deadline, &cause, &code);
	if (rc)
		goto fail;
	omx_real.fcntl(fd, F_SETFL, flags);
	omx_stats_connect(target->onion, 0, 0, 0, now_seconds() - start);
	describe_domains(serves, sizeof(serves), domain, ndomains);
	omx_log(LOG_INFO, "connected to %s port %u (%s) via Tor %s in %.3fs", host, port, serves,
		cfg->socks_text, now_seconds() - start);
	return 0;
fail:
	/* Whatever the SOCKS stream got to, it must carry nothing more: a retry
	 * on this socket is refused by the connect() hook (see hook_socket.c). */
	omx_real.shutdown(fd, SHUT_RDWR);
	omx_real.fcntl(fd, F_SETFL, flags);
	describe_domains(serves, sizeof(serves), domain, ndomains);
	if (code)
		omx_log(LOG_WARNING, "cannot connect to %s port %u (%s) via Tor %s: %s (SOCKS reply 0x%02x) after %.3fs",
			host, port, serves, cfg->socks_text, cause, code, now_seconds() - start);
	else
		omx_log(LOG_WARNING, "cannot connect to %s port %u (%s) via Tor %s: %s: %s after %.3fs",
			host, port, serves, cfg->socks_text, cause ? cause : "error", strerror(-rc),
			now_seconds() - start);
	omx_stats_connect(target->onion, 0, tor_refused ? -ENETDOWN : rc, code, now_seconds() - start);
	/* The MTA logs strerror(errno): "Network is down" (Tor's), not "Connection
	 * refused", which reads as the onion's mail server refusing. */
	return tor_refused ? -ENETDOWN : rc;
}
