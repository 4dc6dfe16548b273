/* The SOCKS5 dialogue with Tor on the caller's own socket, through the host's
 * I/O (host.h): the library's real libc, a tool's libc, a test's fakes. */
#include "tor.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>

#include "health.h"
#include "socks5.h"

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

/* One handshake: the host, the socket, its deadline, how it reaches Tor. */
struct dial {
	const struct omx_host *h;
	int fd;
	double deadline;
	/* The clock as last read, and whether it is still "now": no wait since
	 * (the calls in between never block), so the next wait's time left or
	 * the next deadline needs no read of its own. */
	double now;
	int now_fresh;
	/* Connect with sendto(MSG_FASTOPEN | MSG_DONTWAIT): see dial_fastopen. */
	int fastopen;
	/* TCP by the host's word (rq->known_tcp), not by asking the socket. */
	int unasked;
	/* The caller's file status flags to put back, or -1: O_NONBLOCK was
	 * not set here (the socket had it, or the dial did not need it). */
	int restore_flags;
	/* The SOCKS request (greeting, credentials, CONNECT) and how much of it
	 * goes before Tor's first answer. */
	const uint8_t *request;
	size_t request_len, greeting;
};

/* The clock, read only if a wait came since it was last read. */
static double dial_now(struct dial *d)
{
	if (!d->now_fresh) {
		d->now = d->h->now();
		d->now_fresh = 1;
	}
	return d->now;
}

static int wait_for(struct dial *d, short events)
{
	int rc = omx_io_wait_at(d->h, d->fd, events, d->deadline, dial_now(d));

	d->now_fresh = 0;
	return rc;
}

/* Points *SOCKS/LEN at Tor's address as a socket of FAMILY reaches it (TOR
 * itself, or MAPPED filled), making the socket one that can: an AF_INET6
 * socket reaches an IPv4 SOCKS port through a v4-mapped address; an AF_INET
 * socket cannot reach an IPv6 one, so it is replaced in place (same fd number;
 * the status flags are set later) by an AF_INET6 socket. */
static int prepare_socket(struct dial *d, int family, const struct sockaddr_storage *tor,
			  socklen_t tor_len, struct sockaddr_in6 *mapped,
			  const struct sockaddr **socks, socklen_t *len)
{
	const struct omx_host *h = d->h;

	*socks = (const struct sockaddr *)tor;
	*len = tor_len;
	if (!family) {
		socklen_t flen = sizeof(family);

		if (h->getsockopt(d->fd, SOL_SOCKET, SO_DOMAIN, &family, &flen) != 0)
			return -errno;
	}
	if (family == tor->ss_family)
		return 0;
	if (family == AF_INET6 && tor->ss_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)tor;
		struct sockaddr_in6 *in6 = mapped;

		memset(in6, 0, sizeof(*in6));
		in6->sin6_family = AF_INET6;
		in6->sin6_port = in->sin_port;
		in6->sin6_addr.s6_addr[10] = 0xff;
		in6->sin6_addr.s6_addr[11] = 0xff;
		memcpy(&in6->sin6_addr.s6_addr[12], &in->sin_addr, 4);
		*socks = (const struct sockaddr *)in6;
		*len = sizeof(*in6);
		return 0;
	}
	if (family == AF_INET && tor->ss_family == AF_INET6) {
		int fdflags = h->fcntl(d->fd, F_GETFD), flags = h->fcntl(d->fd, F_GETFL);
		int s = h->socket(AF_INET6, SOCK_STREAM, 0);

		if (s < 0)
			return -errno;
		/* The status flags as they are now (O_NONBLOCK the caller's, or
		 * ours until the end restores the caller's). */
		if ((flags >= 0 && h->fcntl(s, F_SETFL, flags) != 0) ||
		    h->dup3(s, d->fd, (fdflags > 0 && (fdflags & FD_CLOEXEC)) ? O_CLOEXEC : 0) < 0) {
			int e = errno;
			h->close(s);
			return -e;
		}
		h->close(s);
		return 0;
	}
	return -EAFNOSUPPORT;
}

/* Makes the socket non-blocking for connect(), keeping the caller's flags in
 * D->restore_flags. Returns 0 or -errno. */
static int make_nonblocking(struct dial *d)
{
	int flags = d->h->fcntl(d->fd, F_GETFL);

	if (flags < 0)
		return -errno;
	if (!(flags & O_NONBLOCK)) {
		if (d->h->fcntl(d->fd, F_SETFL, flags | O_NONBLOCK) != 0)
			return -errno;
		d->restore_flags = flags;
	}
	return 0;
}

/* Connects a TCP socket to Tor by sendto(MSG_FASTOPEN | MSG_DONTWAIT): the
 * kernel then connects as a non-blocking connect() would (Tor's listener does
 * not take TCP Fast Open: the SYN asks for a cookie and carries no data)
 * without the caller's O_NONBLOCK being set and restored, three fcntl()s
 * saved. Each later call reports the outcome as a second connect() would, and
 * once the connection is up it moves the socket to connected (a later
 * connect() gets EISCONN) and sends the greeting in the same system call.
 * Returns the bytes of the greeting sent (some may have gone in the SYN, with a
 * cookie), or -errno: -EOPNOTSUPP when TCP Fast Open is off on this host
 * (net.ipv4.tcp_fastopen without bit 1), -EISCONN or -EALREADY for a socket
 * already connected or connecting (the kernel's answer to the caller).
 *
 * A socket not asked its protocol (D->unasked: the host saw it made as TCP,
 * but the number may since have been reused unseen) starts with no data: on
 * TCP that call only starts the connection (EINPROGRESS, never a count), any
 * other descriptor fails it (ENOTSOCK, EINVAL, EISCONN ...) but a datagram
 * socket, which sends an empty datagram to Tor's address (on loopback) and
 * returns 0: -EPROTOTYPE then, and nothing more is sent. */
static ssize_t dial_fastopen(struct dial *d, const struct sockaddr *sa, socklen_t len)
{
	const int flags = MSG_FASTOPEN | MSG_DONTWAIT | MSG_NOSIGNAL;
	ssize_t n = d->h->sendto(d->fd, d->request, d->unasked ? 0 : d->greeting, flags, sa, len);
	size_t sent = 0;
	int rc;

	if (n >= 0 && d->unasked)
		return -EPROTOTYPE; /* not TCP */
	if (n >= 0)
		sent = (size_t)n; /* in the SYN */
	else if (errno != EINPROGRESS && errno != EINTR) /* (EINTR: the next call tells) */
		return -errno;
	for (;;) {
		n = d->h->sendto(d->fd, d->request + sent, d->greeting - sent, flags, sa, len);
		if (n >= 0)
			return (ssize_t)sent + n;
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			return (ssize_t)sent; /* connected; the rest goes when there is room */
		if (errno != EALREADY && errno != EINPROGRESS && errno != EINTR)
			return -errno;
		if ((rc = wait_for(d, POLLOUT)) != 0)
			return rc;
	}
}

/* Whether SA is a loopback address. TCP Fast Open is used only with a Tor on
 * this host: on the way to another host a middlebox may drop a SYN that
 * carries its option, and the kernel's retransmission without it comes about a
 * second later. */
static int on_loopback(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET)
		return ((const uint8_t *)&((const struct sockaddr_in *)sa)->sin_addr)[0] == 127;
	if (sa->sa_family == AF_INET6) {
		const struct in6_addr *a = &((const struct sockaddr_in6 *)sa)->sin6_addr;

		return IN6_IS_ADDR_LOOPBACK(a) || (IN6_IS_ADDR_V4MAPPED(a) && a->s6_addr[12] == 127);
	}
	return 0;
}

/* Connects the socket to Tor. Returns the bytes of the greeting already sent
 * (dial_fastopen), or -errno (*CAUSE set when it is not the connection's). */
static ssize_t dial_tor(struct dial *d, const struct sockaddr *sa, socklen_t len, const char **cause)
{
	int rc;

	if (d->fastopen) {
		ssize_t n = on_loopback(sa) ? dial_fastopen(d, sa, len) : -EOPNOTSUPP;

		if (n != -EOPNOTSUPP)
			return n;
		d->fastopen = 0; /* Fast Open off here, or Tor elsewhere: connect(), non-blocking */
		if ((rc = make_nonblocking(d)) != 0) {
			*cause = "cannot make the socket non-blocking";
			return rc;
		}
	}

	/* (connect() blocks if another thread cleared O_NONBLOCK meanwhile: the
	 * clock is read again before the next wait.) */
	d->now_fresh = 0;
	if (d->h->connect(d->fd, sa, len) == 0)
		return 0;
	rc = errno;
	/* EINTR: another thread made the socket blocking and a signal came. */
	if (rc == EINTR && d->h->signal_interrupts())
		return -EINTR;
	if (rc != EINPROGRESS && rc != EINTR)
		return -rc;
	/* Each later connect() both reports the outcome (the pending error, as
	 * SO_ERROR would, with one system call fewer) and lets the kernel see the
	 * connection complete, as a caller's second connect() would: until then
	 * it answers a later connect() with 0, not EISCONN.
	 * Tor listens on this host: the kernel has mostly completed the
	 * connection by the time connect() returns, so the first check comes
	 * before any wait (a poll() saved; one connect() more when it had not). */
	for (;;) {
		if (d->h->connect(d->fd, sa, len) == 0 || errno == EISCONN)
			return 0;
		if (errno != EALREADY && errno != EINPROGRESS && errno != EINTR)
			return -errno;
		if ((rc = wait_for(d, POLLOUT)) != 0)
			return rc;
	}
}

/* The handshake's I/O never blocks, whatever the socket's flags (another
 * thread of the caller may clear O_NONBLOCK at any time): MSG_DONTWAIT, and
 * the deadline kept by the wait when there is no room (omx_io_send_all's
 * way, without a clock read before each send). */
static int send_all(struct dial *d, const uint8_t *buf, size_t len)
{
	while (len) {
		ssize_t w = d->h->send(d->fd, buf, len, MSG_NOSIGNAL | MSG_DONTWAIT);
		int rc;

		if (w > 0) {
			buf += w;
			len -= (size_t)w;
		} else if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
			if ((rc = wait_for(d, POLLOUT)) != 0)
				return rc;
		} else {
			return w == 0 ? -EPIPE : -errno;
		}
	}
	return 0;
}

/* Tor's replies as they arrive: method choice, authentication status, CONNECT
 * reply, one after another. */
struct reply_reader {
	uint8_t buf[2 + 2 + 4 + 1 + 255 + 2];
	size_t have;
	/* The parser's verdict on the HAVE bytes, kept from one call of
	 * read_replies to the next: each byte parsed once it is in. */
	enum omx_socks5_result r;
	size_t need;
	/* The last recv() got all it asked for: more may be in already (a
	 * method choice the first read did not count on), so the next read
	 * does not wait first. */
	int filled;
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

/* Reads Tor's replies, never past their end (what follows belongs to the
 * caller: the SMTP banner), until they are complete or, with UPTO, until the
 * first UPTO bytes are in and acceptable. Every recv() asks for all the parser
 * allows, so replies that arrive together take one poll() and one recv().
 * (EAGAIN, EINTR: the wait again.) Returns 0, or
 * -errno with CAUSE (and CODE for a refusal). */
static int read_replies(struct dial *d, struct reply_reader *rd, int with_auth, size_t upto,
			const char **cause, int *code)
{
	for (;;) {
		size_t need = rd->need;
		ssize_t n;
		int w;

		if (rd->r != OMX_SOCKS5_NEED_MORE)
			return reply_result(rd->r, *code, cause);
		if (upto && rd->have >= upto)
			return 0;
		if (need > sizeof(rd->buf) || need <= rd->have) {
			*cause = "SOCKS reply too long";
			return -EPROTO;
		}
		/* The wait comes first: right after our request Tor's answer is
		 * not in yet (Tor has to be scheduled; the CONNECT reply waits for
		 * a circuit), and a recv() failing EAGAIN before the poll() would
		 * be a system call for nothing. It also keeps the deadline. Not
		 * after a recv() that filled what it asked for (rd->filled). */
		if (!rd->filled && (w = wait_for(d, POLLIN)) != 0) {
			*cause = w == -EINTR ? "interrupted by a signal while waiting for Tor's SOCKS reply"
			       : w == -ETIMEDOUT ? "timed out waiting for Tor's SOCKS reply"
						 : "waiting for Tor's SOCKS reply failed";
			return w;
		}
		n = d->h->recv(d->fd, rd->buf + rd->have, need - rd->have, MSG_DONTWAIT);
		rd->filled = n > 0 && (size_t)n == need - rd->have;
		if (n > 0) {
			rd->have += (size_t)n;
			rd->r = omx_socks5_parse(rd->buf, rd->have, with_auth, &rd->need, code);
			/* Tor writes each reply as it is ready: when one is in but not
			 * the next, acknowledge at once, or the next small reply waits
			 * for our delayed ACK (40 ms, measured). With credentials that
			 * is the authentication status (its method choice before it,
			 * when Tor sends one: the first byte tells); without, a reply
			 * cut short (the method choice alone is followed by nothing
			 * of ours, and by the CONNECT reply once a circuit is up). */
			if (rd->have < need && rd->r == OMX_SOCKS5_NEED_MORE &&
			    (with_auth ? rd->have >= omx_socks5_status_end(rd->buf[0]) : !(upto && rd->have >= upto)))
				d->h->setsockopt(d->fd, IPPROTO_TCP, TCP_QUICKACK, &(int){ 1 }, sizeof(int));
		} else if (n == 0) {
			/* (A server that refused with a bare header and hung up was
			 * answered above: the parser judges each header as it comes.) */
			*cause = "Tor closed the connection during the SOCKS handshake";
			return -ECONNRESET;
		} else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
			int e = errno;
			*cause = "reading Tor's SOCKS reply failed";
			return -e;
		}
	}
}

/* Sends the rest of the request (SENT bytes of the greeting are out) and
 * reads the replies: the first answer (the method choice, or with credentials
 * the authentication status when Tor leaves the choice out) by ANSWER_BY, the
 * rest by the dial's deadline. *DOWN is set when Tor did not answer at all:
 * hung, or closed. */
static int handshake(struct dial *d, const struct omx_config *cfg, size_t sent, double answer_by,
		     const char **cause, int *code, int *down)
{
	struct reply_reader reader;
	double deadline = d->deadline;
	int rc = 0;

	reader.have = 0; /* (the buffer is written before it is read: not zeroed) */
	reader.filled = 0;
	reader.r = omx_socks5_parse(reader.buf, 0, cfg->isolate, &reader.need, code);
	/* Tor answers the greeting at once: no answer by ANSWER_BY, or the
	 * connection closed before one, means this Tor is down. */
	d->deadline = answer_by;
	if (sent < d->greeting)
		rc = send_all(d, d->request + sent, d->greeting - sent);
	if (rc == 0) {
		rc = read_replies(d, &reader, cfg->isolate, 2, cause, code);
		*down = reader.have < 2 && (rc == -ETIMEDOUT || rc == -ECONNRESET);
		if (*down && rc == -ETIMEDOUT)
			*cause = "no answer to the SOCKS greeting in time (Tor hung?)";
	}
	d->deadline = deadline;
	if (rc == 0 && d->greeting < d->request_len)
		rc = send_all(d, d->request + d->greeting, d->request_len - d->greeting);
	if (rc) {
		if (!*cause)
			*cause = rc == -EINTR ? "interrupted by a signal while sending the SOCKS request"
			       : rc == -ETIMEDOUT ? "timed out sending the SOCKS request"
						  : "sending the SOCKS request failed";
		return rc;
	}
	return read_replies(d, &reader, cfg->isolate, 0, cause, code);
}

/* The first Tor to ask for ONION: from the onion itself (base32 of a public
 * key: evenly spread), so that one onion's streams keep to one Tor's
 * circuits while the onions spread over all of them. */
static int first_tor(const char *onion, int ntors)
{
	unsigned v = 0;

	for (int i = 0; i < 4 && onion[i]; i++)
		v = v * 32 + (unsigned)(onion[i] >= 'a' ? onion[i] - 'a' : onion[i] - '2' + 26);
	return ntors > 1 ? (int)(v % (unsigned)ntors) : 0;
}

static const char tor_not_running[] = "cannot connect to Tor's SOCKS port (is Tor running?)";

/* One attempt through the Tor at TOR/TOR_LEN: dial, handshake. Returns 0 or
 * -errno with CAUSE, CODE; *DOWN when the failure says this Tor is down
 * (refused, no answer by the short deadline, closed before answering). */
static int attempt(struct dial *d, int *family, const struct omx_config *cfg,
		   const struct sockaddr_storage *tor, socklen_t tor_len, const char **cause, int *code,
		   int *down)
{
	double answer_by = dial_now(d) + (cfg->ntors > 1 ? cfg->tor_answer : cfg->timeout);
	double deadline = d->deadline;
	const struct sockaddr *socks;
	struct sockaddr_in6 mapped;
	socklen_t socks_len;
	ssize_t sent;
	int rc;

	*down = 0;
	if (answer_by > deadline)
		answer_by = deadline;
	rc = prepare_socket(d, *family, tor, tor_len, &mapped, &socks, &socks_len);
	if (rc) {
		*cause = "cannot make a socket for Tor's SOCKS port";
		return rc;
	}
	if (*family == AF_INET && tor->ss_family == AF_INET6)
		*family = AF_INET6; /* replaced */
	d->deadline = answer_by;
	sent = dial_tor(d, socks, socks_len, cause);
	d->deadline = deadline;
	rc = sent < 0 ? (int)sent : 0;
	if (rc == -EISCONN || rc == -EALREADY)
		return rc;
	if (rc == -EPROTOTYPE) {
		*cause = "not a TCP socket (no datagrams to an onion)";
		return -ENETUNREACH;
	}
	if (rc) {
		*down = rc == -ECONNREFUSED || rc == -ETIMEDOUT || rc == -ENETUNREACH || rc == -EHOSTUNREACH;
		if (!*cause)
			*cause = rc == -ETIMEDOUT ? "timed out connecting to Tor's SOCKS port"
			       : rc == -EINTR	  ? "interrupted by a signal while connecting to Tor's SOCKS port"
			       : rc == -ECONNREFUSED ? tor_not_running
						  : "cannot connect to Tor's SOCKS port";
		return rc;
	}
	return handshake(d, cfg, (size_t)sent, answer_by, cause, code, down);
}

/* Makes the socket ready for another Tor: AF_UNSPEC dissolves its
 * association (the kernel resets a TCP connection and keeps the caller's
 * socket options), so it can connect again. */
static void disconnect(const struct dial *d)
{
	struct sockaddr unspec = { .sa_family = AF_UNSPEC };

	d->h->connect(d->fd, &unspec, sizeof(unspec));
}

/* Whether a failure with CODE/DOWN lets the next Tor try: a Tor that is down,
 * or a general failure (0x01, which says nothing about the onion). Never for
 * answers about the onion itself (0x04, 0xF0-0xF7 ...): another Tor would
 * fail the same way. */
static int next_tor_may_help(int code, int down)
{
	return down || code == 0x01;
}

/* Asks the Tors in the onion's order: Tors known to be down are skipped,
 * unless all are (then each is tried: the last resort). Returns 0, or -errno
 * with *CAUSE and *CODE of the last attempt; RES->tor is the Tor last asked. */
static int try_tors(struct dial *d, const struct omx_config *cfg, const struct omx_tor_request *rq,
		    const char *host, struct omx_tor_result *res, const char **cause, int *code)
{
	const struct omx_host *h = d->h;
	int ntors = cfg->ntors > 0 ? cfg->ntors : 1;
	int first = ntors > 1 ? first_tor(rq->target->onion, ntors) : 0;
	int family = rq->family, tried = 0, rc = -ENETDOWN, down = 0;

	res->tor = first;
	*cause = "no Tor to ask";
	for (int pass = 0; pass < 2 && !tried; pass++) {
		for (int k = 0; k < ntors; k++) {
			int i = (first + k) % ntors;

			if (pass == 0 && ntors > 1 && !omx_health_try(rq->health, i, dial_now(d), cfg->tor_retry))
				continue;
			if (tried++)
				disconnect(d);
			*cause = NULL;
			*code = 0;
			res->tor = i;
			/* One Tor: "socks" as the config's first Tor. */
			rc = ntors == 1 ? attempt(d, &family, cfg, &cfg->socks, cfg->socks_len, cause, code, &down)
					: attempt(d, &family, cfg, &cfg->tors[i].ss, cfg->tors[i].len, cause, code, &down);
			if (rc == 0 && ntors > 1)
				omx_health_up(rq->health, i);
			if (rc == 0 || rc == -EISCONN || rc == -EALREADY)
				return rc;
			if (ntors > 1 && down)
				omx_health_down(rq->health, i, dial_now(d), cfg->tor_retry);
			if (ntors == 1 || !next_tor_may_help(*code, down) || rc == -EINTR ||
			    dial_now(d) >= d->deadline)
				return rc;
			h->log(LOG_WARNING, "Tor %s: %s%s; trying the next Tor for %s", cfg->tors[i].text,
			       *cause ? *cause : "error", *code == 0x01 ? " (SOCKS reply 0x01)" : "", host);
			d->now_fresh = 0; /* (a log sink may block) */
		}
	}
	return rc;
}

int omx_tor_connect(const struct omx_host *h, int fd, const struct omx_config *cfg,
		    const struct omx_tor_request *rq, struct omx_tor_result *res)
{
	double start = h->now();
	struct dial d = { .h = h, .fd = fd, .deadline = start + cfg->timeout, .now = start,
			  .now_fresh = 1, .restore_flags = -1 };
	uint16_t port = omx_tor_port(rq->target, rq->caller_port);
	char host[OMX_ONION_LABEL_LEN + sizeof(".onion")], serves[320];
	uint8_t request[3 + 3 + 255 + 255 + 7 + 255];
	const char *cause = NULL, *via;
	struct omx_tor_result own;
	socklen_t tlen = sizeof(int);
	size_t onion_len = strnlen(rq->target->onion, OMX_ONION_LABEL_LEN);
	ssize_t reqlen;
	int type, flags, code = 0, nonblock_error = 0, rc;

	if (!res)
		res = &own;
	memset(res, 0, sizeof(*res));
	res->port = port;
	memcpy(host, rq->target->onion, onion_len);
	memcpy(host + onion_len, ".onion", sizeof(".onion"));
	/* A TCP socket connects by sendto(MSG_FASTOPEN) (dial_fastopen); any other
	 * is asked its type: no datagrams to an onion, never send them anywhere.
	 * One the host knows as TCP is not asked (dial_fastopen makes sure). */
	if (h->sendto && rq->known_tcp) {
		d.fastopen = d.unasked = 1;
	} else if (h->sendto) {
		if (h->getsockopt(fd, SOL_SOCKET, SO_PROTOCOL, &type, &tlen) != 0)
			return res->error = errno, -res->error;
		d.fastopen = type == IPPROTO_TCP;
	}
	if (!d.fastopen) {
		tlen = sizeof(int);
		if (h->getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tlen) != 0)
			return res->error = errno, -res->error;
		if (type != SOCK_STREAM)
			return res->error = ENETUNREACH, -ENETUNREACH;
		flags = h->fcntl(fd, F_GETFL);
		if (flags < 0)
			return res->error = errno, -res->error;
		if (!(flags & O_NONBLOCK)) {
			if (h->fcntl(fd, F_SETFL, flags | O_NONBLOCK) == 0)
				d.restore_flags = flags;
			else
				nonblock_error = -errno;
		}
	}
	/* The whole request in one write, one round trip to Tor. With isolation
	 * only method 0x02 is offered: the server cannot pick one that would make
	 * it misread what follows. Tor parses every message in its buffer before
	 * answering: given greeting and authentication together it sends the
	 * authentication status but not its method choice (seen with 0.4.9), and
	 * the parser takes the replies with or without it (socks5.c). */
	reqlen = omx_socks5_request_n(request, sizeof(request), host, onion_len + 6, port,
				      cfg->isolate ? host : NULL, onion_len + 6, "onionmx", 7);
	d.request = request;
	d.request_len = reqlen > 0 ? (size_t)reqlen : 0;
	d.greeting = d.request_len;
	if (nonblock_error) {
		rc = nonblock_error;
		cause = "cannot make the socket non-blocking";
	} else if (reqlen < 0) {
		rc = -EINVAL;
		cause = "cannot encode the SOCKS request";
	} else {
		rc = try_tors(&d, cfg, rq, host, res, &cause, &code);
	}
	if (rc && rc != -EISCONN && rc != -EALREADY)
		/* Whatever the SOCKS stream got to, it must carry nothing more: a
		 * retry on this socket is refused by the connect() hook. */
		h->shutdown(fd, SHUT_RDWR);
	if (d.restore_flags >= 0)
		h->fcntl(fd, F_SETFL, d.restore_flags);
	if (rc == -EISCONN || rc == -EALREADY) /* a second connect() on one of ours: the kernel's answer */
		return res->error = -rc, rc;
	via = cfg->ntors > 1 ? cfg->tors[res->tor].text : cfg->socks_text;
	if (rc == 0 && h->log_enabled && !h->log_enabled(LOG_INFO)) {
		/* The usual case at log_level = warning: no text to build, and
		 * the clock read only for a host that keeps the time. */
		if (!rq->untimed)
			res->seconds = dial_now(&d) - start;
		return 0;
	}
	res->seconds = dial_now(&d) - start;
	describe_domains(serves, sizeof(serves), rq->domain, rq->ndomains);
	if (rc == 0) {
		h->log(LOG_INFO, "connected to %s port %u (%s) via Tor %s in %.3fs", host, port, serves, via,
		       res->seconds);
		return 0;
	}
	res->cause = cause ? cause : "error";
	res->socks_code = code;
	if (code)
		h->log(LOG_WARNING, "cannot connect to %s port %u (%s) via Tor %s: %s (SOCKS reply 0x%02x) after %.3fs",
		       host, port, serves, via, res->cause, code, res->seconds);
	else
		h->log(LOG_WARNING, "cannot connect to %s port %u (%s) via Tor %s: %s: %s after %.3fs",
		       host, port, serves, via, res->cause, strerror(-rc), res->seconds);
	/* The MTA logs strerror(errno): "Network is down" (Tor's), not "Connection
	 * refused", which reads as the onion's mail server refusing. */
	res->sys_error = -rc;
	res->error = cause == tor_not_running ? ENETDOWN : -rc;
	return -res->error;
}
