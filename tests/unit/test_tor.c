/* tor.c, the SOCKS client, on a scripted host (host.h): a fake socket whose
 * server side replies once the client has sent enough, in chunks of a chosen
 * size, a fake clock that poll() advances, and recorded calls. Every SOCKS and
 * Tor reply path, the deadlines, partial reads and writes, isolation on/off. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <syslog.h>

#include "config.h"
#include "health.h"
#include "host.h"
#include "socks5.h"
#include "tap.h"
#include "tor.h"

#define FD 7
#define ONION "abcdefghijklmnopqrstuvwxyz234567abcdefghijklmnopqrstuvwx"

/* What the server sends once the client has sent AFTER bytes (and the clock
 * has reached AT). */
struct chunk {
	const uint8_t *bytes;
	size_t len;
	size_t after;
	double at;
};

enum connect_mode { C_NOW, C_PENDING_OK, C_PENDING_REFUSED, C_REFUSED, C_HANG };

/* With several Tors: how the one on port 9050 + I behaves. */
struct server {
	enum connect_mode connect_mode;
	struct chunk chunks[4];
	int nchunks;
	int close_after_chunks;
};

static struct fake {
	/* set up by each test */
	enum connect_mode connect_mode;
	int type, flags;
	struct chunk chunks[4];
	int nchunks;
	int close_after_chunks;    /* EOF once every chunk is read */
	size_t send_max, recv_max; /* bytes per call, 0: unlimited */
	int send_eagain_every;     /* every other send() fails with EAGAIN */
	int eintr_polls;           /* this many polls fail with EINTR */
	int signal_interrupts;
	/* observed */
	double now;
	uint8_t sent[1024];
	size_t nsent;
	size_t send_calls, recv_calls, poll_calls, setsockopt_calls, connect_calls;
	size_t wire_read;          /* bytes of the server's stream consumed */
	int connected, shutdown_how, setfl_calls, last_setfl, getsockopt_domain;
	/* the host with sendto (TCP Fast Open dial): the socket's protocol, TCP
	 * Fast Open off (EOPNOTSUPP), and what was seen */
	int protocol, tfo_off;
	size_t sendto_calls, getfl_calls, getsockopt_type;
	/* a datagram socket behind the number (sendto sends, connects nothing),
	 * the SO_PROTOCOL questions, and the first sendto's length (-1: none) */
	int datagram;
	size_t getsockopt_protocol, now_calls;
	ssize_t first_sendto_len;
	int newsock_setfl; /* F_SETFL on a replacement socket (-1: none) */
	struct sockaddr_storage dialed;
	socklen_t dialed_len;
	char log[1200];
	int log_prio;
	/* several Tors: the servers, and which were dialled in order */
	int multi;
	struct server servers[4];
	int dials[16], ndials;
} fk;

/* The server's stream as it stands: chunks released so far. */
static size_t released(uint8_t *out, size_t cap)
{
	size_t n = 0;

	for (int i = 0; i < fk.nchunks; i++) {
		if (fk.nsent < fk.chunks[i].after || fk.now < fk.chunks[i].at)
			break;
		for (size_t j = 0; j < fk.chunks[i].len && n < cap; j++)
			out[n++] = fk.chunks[i].bytes[j];
	}
	return n;
}

static int all_released(void)
{
	uint8_t tmp[2048];
	size_t total = 0;

	for (int i = 0; i < fk.nchunks; i++)
		total += fk.chunks[i].len;
	return released(tmp, sizeof(tmp)) == total;
}

static int f_socket(int d, int t, int p)
{
	(void)d, (void)t, (void)p;
	return 9;
}

/* With several Tors, the first dial of a socket picks the server by port. */
static void pick_server(const struct sockaddr *sa)
{
	if (fk.multi && fk.connect_calls == 0) {
		int i = ntohs(((const struct sockaddr_in *)sa)->sin_port) - 9050;
		const struct server *sv = &fk.servers[i & 3];

		fk.connect_mode = sv->connect_mode;
		memcpy(fk.chunks, sv->chunks, sizeof(fk.chunks));
		fk.nchunks = sv->nchunks;
		fk.close_after_chunks = sv->close_after_chunks;
		fk.nsent = fk.wire_read = 0;
		if (fk.ndials < 16)
			fk.dials[fk.ndials++] = i;
	}
}

static int f_connect(int fd, const struct sockaddr *sa, socklen_t len)
{
	if (fd != FD)
		return errno = EBADF, -1;
	if (sa->sa_family == AF_UNSPEC) { /* dissolve: a new connect() may follow */
		fk.connected = 0;
		fk.connect_calls = 0;
		return 0;
	}
	pick_server(sa);
	fk.connect_calls++;
	memcpy(&fk.dialed, sa, len);
	fk.dialed_len = len;
	switch (fk.connect_mode) {
	case C_NOW:
		fk.connected = 1;
		return 0;
	case C_REFUSED:
		return errno = ECONNREFUSED, -1;
	case C_PENDING_OK:
		if (fk.connect_calls == 1)
			return errno = EINPROGRESS, -1;
		fk.connected = 1;
		return 0;
	case C_PENDING_REFUSED:
		return errno = fk.connect_calls == 1 ? EINPROGRESS : ECONNREFUSED, -1;
	case C_HANG:
		return errno = fk.connect_calls == 1 ? EINPROGRESS : EALREADY, -1;
	}
	return -1;
}

static ssize_t f_send(int fd, const void *buf, size_t len, int flags)
{
	fk.send_calls++;
	if (fd != FD || !(flags & MSG_DONTWAIT) || !(flags & MSG_NOSIGNAL))
		return errno = EINVAL, -1;
	if (fk.send_eagain_every && fk.send_calls % 2 == 0)
		return errno = EAGAIN, -1;
	if (fk.send_max && len > fk.send_max)
		len = fk.send_max;
	if (fk.nsent + len > sizeof(fk.sent))
		return errno = ENOBUFS, -1;
	memcpy(fk.sent + fk.nsent, buf, len);
	fk.nsent += len;
	return (ssize_t)len;
}

/* sendto(MSG_FASTOPEN | MSG_DONTWAIT) as the kernel answers it on a TCP
 * socket: a non-blocking connect whose later calls report the outcome and,
 * once connected, send. C_NOW: the first call's data goes in the SYN (a
 * cookie known), the connection still pending until the next call. Counts
 * in connect_calls as a dial. */
static ssize_t f_sendto(int fd, const void *buf, size_t len, int flags, const struct sockaddr *sa,
			socklen_t salen)
{
	int first = fk.connect_calls == 0;

	fk.sendto_calls++;
	if (fd != FD || flags != (MSG_FASTOPEN | MSG_DONTWAIT | MSG_NOSIGNAL) || !sa)
		return errno = EINVAL, -1;
	if (fk.first_sendto_len < 0)
		fk.first_sendto_len = (ssize_t)len;
	if (fk.datagram) { /* UDP: MSG_FASTOPEN ignored, the datagram goes */
		if (fk.nsent + len > sizeof(fk.sent))
			return errno = EMSGSIZE, -1;
		memcpy(fk.sent + fk.nsent, buf, len);
		fk.nsent += len;
		return (ssize_t)len;
	}
	if (fk.tfo_off)
		return errno = EOPNOTSUPP, -1;
	if (fk.connected && first)
		return errno = EISCONN, -1;
	pick_server(sa);
	fk.connect_calls++;
	memcpy(&fk.dialed, sa, salen);
	fk.dialed_len = salen;
	switch (fk.connect_mode) {
	case C_NOW:
		if (!first)
			fk.connected = 1;
		break;
	case C_REFUSED:
		return errno = ECONNREFUSED, -1;
	case C_PENDING_OK:
		if (first)
			return errno = EINPROGRESS, -1;
		fk.connected = 1;
		break;
	case C_PENDING_REFUSED:
		return errno = first ? EINPROGRESS : ECONNREFUSED, -1;
	case C_HANG:
		return errno = first ? EINPROGRESS : EALREADY, -1;
	}
	if (fk.nsent + len > sizeof(fk.sent))
		return errno = ENOBUFS, -1;
	memcpy(fk.sent + fk.nsent, buf, len);
	fk.nsent += len;
	return (ssize_t)len;
}

static ssize_t f_recv(int fd, void *buf, size_t len, int flags)
{
	uint8_t stream[2048];
	size_t avail = released(stream, sizeof(stream)), n;

	fk.recv_calls++;
	if (fd != FD || !(flags & MSG_DONTWAIT))
		return errno = EINVAL, -1;
	if (avail <= fk.wire_read) {
		if (fk.close_after_chunks && all_released())
			return 0;
		return errno = EAGAIN, -1;
	}
	n = avail - fk.wire_read;
	if (n > len)
		n = len;
	if (fk.recv_max && n > fk.recv_max)
		n = fk.recv_max;
	memcpy(buf, stream + fk.wire_read, n);
	fk.wire_read += n;
	return (ssize_t)n;
}

/* Ready at once if the event can happen now; else the clock jumps to the
 * next chunk's time, or by the whole timeout (nothing ready). */
static int f_poll(struct pollfd *p, nfds_t n, int timeout_ms)
{
	uint8_t stream[2048];

	fk.poll_calls++;
	if (n != 1 || p->fd != FD)
		return errno = EINVAL, -1;
	if (fk.eintr_polls > 0) {
		fk.eintr_polls--;
		fk.now += 0.001;
		return errno = EINTR, -1;
	}
	if (p->events & POLLOUT) {
		if (fk.connect_mode != C_HANG)
			return p->revents = POLLOUT, 1;
	} else if (released(stream, sizeof(stream)) > fk.wire_read ||
		   (fk.close_after_chunks && all_released())) {
		return p->revents = POLLIN, 1;
	} else {
		for (int i = 0; i < fk.nchunks; i++)
			if (fk.nsent >= fk.chunks[i].after && fk.chunks[i].at > fk.now &&
			    fk.chunks[i].at <= fk.now + timeout_ms / 1000.0) {
				fk.now = fk.chunks[i].at;
				return p->revents = POLLIN, 1;
			}
	}
	fk.now += timeout_ms / 1000.0;
	return 0;
}

static int f_shutdown(int fd, int how)
{
	(void)fd;
	fk.shutdown_how = how;
	return 0;
}

static int f_close(int fd)
{
	(void)fd;
	return 0;
}

static int f_fcntl(int fd, int cmd, ...)
{
	va_list ap;
	int arg;

	if (fd == 9 && cmd == F_SETFL) { /* the replacement socket (f_socket) */
		va_start(ap, cmd);
		fk.newsock_setfl = va_arg(ap, int);
		va_end(ap);
		return 0;
	}
	if (fd != FD)
		return errno = EBADF, -1;
	if (cmd == F_GETFL)
		return fk.getfl_calls++, fk.flags;
	if (cmd == F_GETFD)
		return 0;
	va_start(ap, cmd);
	arg = va_arg(ap, int);
	va_end(ap);
	if (cmd == F_SETFL) {
		fk.setfl_calls++;
		fk.last_setfl = arg;
		return 0;
	}
	return errno = EINVAL, -1;
}

static int f_dup3(int a, int b, int flags)
{
	(void)a, (void)flags;
	return b;
}

static int f_getsockopt(int fd, int level, int name, void *val, socklen_t *len)
{
	if (fd != FD || level != SOL_SOCKET || *len < sizeof(int))
		return errno = EINVAL, -1;
	if (name == SO_TYPE) {
		fk.getsockopt_type++;
		*(int *)val = fk.type;
		return 0;
	}
	if (name == SO_PROTOCOL) {
		fk.getsockopt_protocol++;
		*(int *)val = fk.protocol;
		return 0;
	}
	if (name == SO_DOMAIN) {
		fk.getsockopt_domain++;
		*(int *)val = AF_INET;
		return 0;
	}
	return errno = ENOPROTOOPT, -1;
}

static int f_setsockopt(int fd, int level, int name, const void *val, socklen_t len)
{
	(void)fd, (void)val, (void)len;
	if (level == IPPROTO_TCP && name == TCP_QUICKACK)
		fk.setsockopt_calls++;
	return 0;
}

static int f_signal_interrupts(void)
{
	return fk.signal_interrupts;
}

static double f_now(void)
{
	fk.now_calls++;
	return fk.now;
}

static uint32_t f_random(void *ctx)
{
	(void)ctx;
	return 4;
}

static void f_log(int prio, const char *fmt, ...)
{
	va_list ap;

	fk.log_prio = prio;
	va_start(ap, fmt);
	vsnprintf(fk.log, sizeof(fk.log), fmt, ap);
	va_end(ap);
}

static const struct omx_host fake_host = {
	.socket = f_socket, .connect = f_connect, .send = f_send, .recv = f_recv,
	.poll = f_poll, .shutdown = f_shutdown, .close = f_close, .fcntl = f_fcntl,
	.dup3 = f_dup3, .getsockopt = f_getsockopt, .setsockopt = f_setsockopt,
	.signal_interrupts = f_signal_interrupts, .now = f_now, .random = f_random,
	.log = f_log, .res_nquery = NULL,
};

static struct omx_config cfg;
static struct omx_target target = { ONION, 0 };

static void reset(int isolate)
{
	memset(&fk, 0, sizeof(fk));
	fk.type = SOCK_STREAM;
	fk.connect_mode = C_PENDING_OK;
	fk.now = 1000.0;
	fk.shutdown_how = -1;
	fk.protocol = IPPROTO_TCP;
	fk.newsock_setfl = -1;
	fk.first_sendto_len = -1;
	omx_config_defaults(&cfg);
	cfg.isolate = isolate;
	cfg.timeout = 30;
}

static void script(const uint8_t *bytes, size_t len, size_t after, double delay)
{
	fk.chunks[fk.nchunks++] = (struct chunk){ bytes, len, after, fk.now + delay };
}

static int dial(struct omx_tor_result *res)
{
	struct omx_tor_request rq = { .target = &target, .caller_port = 25, .family = AF_INET,
				      .domain = "example.org", .ndomains = 1 };

	return omx_tor_connect(&fake_host, FD, &cfg, &rq, res);
}

static const uint8_t method_none[] = { 5, 0 }, method_userpass[] = { 5, 2 }, method_ff[] = { 5, 0xff };
static const uint8_t auth_ok[] = { 1, 0 }, auth_bad[] = { 1, 1 };
static const uint8_t reply_ok[] = { 5, 0, 0, 1, 0, 0, 0, 0, 0, 0 };
static const uint8_t reply_ok6[] = { 5, 0, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0 };
static const uint8_t banner[] = "220 onion ESMTP\r\n";

/* The flight the client must send: greeting, credentials, CONNECT. */
static size_t expected_request(uint8_t *buf, size_t cap, int isolate, uint16_t port)
{
	ssize_t n = omx_socks5_request(buf, cap, ONION ".onion", port, isolate ? ONION ".onion" : NULL,
				       isolate ? "onionmx" : NULL);
	return n < 0 ? 0 : (size_t)n;
}

static void test_success_plain(void)
{
	struct omx_tor_result res;
	uint8_t want[600];
	size_t wlen = expected_request(want, sizeof(want), 0, 25);

	reset(0);
	script(method_none, 2, wlen, 0);
	script(reply_ok, sizeof(reply_ok), wlen, 0);
	script(banner, sizeof(banner) - 1, wlen, 0);
	is_int(dial(&res), 0, "no isolation: connected");
	is_int(res.error, 0, "no isolation: result has no error");
	ok(res.cause == NULL, "no isolation: no cause");
	is_int(fk.nsent, wlen, "no isolation: the whole request was sent");
	ok(memcmp(fk.sent, want, wlen) == 0, "no isolation: greeting (method 00 only) and CONNECT by name");
	is_int(fk.send_calls, 1, "no isolation: greeting and CONNECT in one write");
	is_int(fk.wire_read, sizeof(method_none) + sizeof(reply_ok), "the SMTP banner is left unread");
	is_int(fk.recv_calls, 1, "replies that arrived together: one recv()");
	is_int(fk.setsockopt_calls, 0, "no TCP_QUICKACK when the replies arrived together");
	is_int(fk.getsockopt_domain, 0, "the caller's family given: no getsockopt(SO_DOMAIN)");
	is_int(fk.shutdown_how, -1, "success: the socket is not shut down");
	is_int(fk.setfl_calls, 2, "blocking socket: made non-blocking and restored");
	is_int(fk.last_setfl, 0, "blocking socket: its flags restored");
	ok(strstr(fk.log, "connected to " ONION ".onion port 25 (MX of example.org)") != NULL,
	   "success logged with onion, port, domain");
	is_int(fk.log_prio, LOG_INFO, "success logged at info");
	is_int(res.port, 25, "result: port 25");
}

static int f_log_warnings_only(int prio)
{
	return prio <= LOG_WARNING;
}

/* At log_level = warning the success line is not built (its text and the
 * domains cost ~0.7k instructions per connect); the result is the same. */
static void test_success_unlogged(void)
{
	struct omx_host quiet = fake_host;
	struct omx_tor_request rq = { .target = &target, .caller_port = 25, .family = AF_INET,
				      .domain = "example.org", .ndomains = 1 };
	struct omx_tor_result res;
	uint8_t want[600];
	size_t wlen = expected_request(want, sizeof(want), 0, 25);
	quiet.log_enabled = f_log_warnings_only;
	reset(0);
	script(method_none, 2, wlen, 0);
	script(reply_ok, sizeof(reply_ok), wlen, 0.25);
	is_int(omx_tor_connect(&quiet, FD, &cfg, &rq, &res), 0, "info filtered: connected");
	is_int(fk.log[0], 0, "info filtered: no success line handed to the log sink");
	ok(res.seconds > 0.24 && res.seconds < 0.26, "info filtered: the time is still measured (statistics)");
	is_int(res.port, 25, "info filtered: result: port 25");
	is_int(fk.setfl_calls, 2, "info filtered: the socket's flags restored");
}

static void test_success_isolated(void)
{
	struct omx_tor_result res;
	uint8_t want[600];
	size_t wlen = expected_request(want, sizeof(want), 1, 25);

	reset(1);
	fk.flags = O_NONBLOCK | O_APPEND;
	script(method_userpass, 2, 3, 0);
	script(auth_ok, 2, wlen, 0);
	script(reply_ok6, sizeof(reply_ok6), wlen, 0.5);
	script(banner, sizeof(banner) - 1, wlen, 0.5);
	is_int(dial(&res), 0, "isolation: connected");
	is_int(fk.nsent, wlen, "isolation: the whole request was sent");
	ok(memcmp(fk.sent, want, wlen) == 0,
	   "isolation: method 02 only, username the onion, password onionmx, CONNECT by name");
	ok(fk.sent[0] == 5 && fk.sent[1] == 1 && fk.sent[2] == 2, "isolation: greeting offers 02 alone");
	is_int(fk.send_calls, 1, "isolation: greeting, credentials and CONNECT in one send()");
	is_int(fk.wire_read, 2 + 2 + sizeof(reply_ok6), "IPv6 bound address read whole, banner left");
	is_int(fk.setsockopt_calls, 1, "TCP_QUICKACK once, when the status was in but not the reply");
	is_int(fk.setfl_calls, 0, "non-blocking socket: flags untouched");
	ok(res.seconds > 0.49 && res.seconds < 0.51, "result: handshake time from the fake clock");
}

/* Greeting, credentials and CONNECT in one write: Tor 0.4.9 answers the
 * authentication and the CONNECT, not the greeting (tests/integ/tor.sh). */
static void test_isolated_tor_replies(void)
{
	struct omx_tor_result res;
	uint8_t want[600];
	size_t wlen = expected_request(want, sizeof(want), 1, 25);

	/* The status at once, the CONNECT reply once the circuit is up. */
	reset(1);
	fk.flags = O_NONBLOCK;
	script(auth_ok, 2, wlen, 0);
	script(reply_ok, sizeof(reply_ok), wlen, 0.5);
	script(banner, sizeof(banner) - 1, wlen, 0.5);
	is_int(dial(&res), 0, "no method choice (Tor): connected");
	ok(fk.nsent == wlen && memcmp(fk.sent, want, wlen) == 0, "no method choice: the whole request sent");
	is_int(fk.send_calls, 1, "no method choice: in one send()");
	is_int(fk.wire_read, 2 + sizeof(reply_ok), "no method choice: status and reply read, the banner left");
	is_int(fk.setsockopt_calls, 1, "no method choice: TCP_QUICKACK once, the status in but not the reply");
	is_int(fk.recv_calls, 2, "no method choice: two reads, the status and the reply as they came");

	/* Everything at once, the banner behind it: one read, exactly the replies. */
	reset(1);
	fk.flags = O_NONBLOCK;
	script(auth_ok, 2, wlen, 0);
	script(reply_ok, sizeof(reply_ok), wlen, 0);
	script(banner, sizeof(banner) - 1, wlen, 0);
	is_int(dial(&res), 0, "no method choice, all at once: connected");
	is_int(fk.wire_read, 2 + sizeof(reply_ok), "all at once: the banner left unread");
	is_int(fk.recv_calls, 1, "all at once: one read");
	is_int(fk.poll_calls, 1, "all at once: one wait");
	is_int(fk.setsockopt_calls, 0, "all at once: no TCP_QUICKACK");

	/* A server that answers the greeting too, all at once: the first read
	 * asked for the shorter form, the rest is read without waiting again. */
	reset(1);
	fk.flags = O_NONBLOCK;
	script(method_userpass, 2, 3, 0);
	script(auth_ok, 2, wlen, 0);
	script(reply_ok, sizeof(reply_ok), wlen, 0);
	script(banner, sizeof(banner) - 1, wlen, 0);
	is_int(dial(&res), 0, "method choice too, all at once: connected");
	is_int(fk.wire_read, 2 + 2 + sizeof(reply_ok), "method choice too: the banner left unread");
	is_int(fk.recv_calls, 2, "method choice too: two reads");
	is_int(fk.poll_calls, 1, "method choice too: one wait (the second read follows a full one)");

	/* Credentials refused, no method choice: EACCES. */
	reset(1);
	script(auth_bad, 2, wlen, 0);
	is_int(dial(&res), -EACCES, "no method choice, status 1: EACCES");
	is_int(fk.shutdown_how, SHUT_RDWR, "credentials refused: shut down");
}

static void test_partial_io(void)
{
	struct omx_tor_result res;
	uint8_t want[600];
	size_t wlen = expected_request(want, sizeof(want), 1, 25);

	reset(1);
	fk.send_max = 1;
	fk.send_eagain_every = 1;
	fk.recv_max = 1;
	script(method_userpass, 2, 3, 0);
	script(auth_ok, 2, wlen, 0);
	script(reply_ok, sizeof(reply_ok), wlen, 0);
	script(banner, sizeof(banner) - 1, wlen, 0);
	is_int(dial(&res), 0, "one byte per send (EAGAIN between) and per recv: connected");
	ok(fk.nsent == wlen && memcmp(fk.sent, want, wlen) == 0, "partial writes: the same bytes in order");
	is_int(fk.wire_read, 2 + 2 + sizeof(reply_ok), "partial reads: not a byte of the banner read");
}

/* A CONNECT refusal with CODE: errno, code and cause. */
static void check_refusal(int code, int want_errno, int isolate)
{
	struct omx_tor_result res;
	uint8_t want[600], reply[10] = { 5, (uint8_t)code, 0, 1, 0, 0, 0, 0, 0, 0 };
	size_t wlen = expected_request(want, sizeof(want), isolate, 25);
	int rc;

	reset(isolate);
	script(isolate ? method_userpass : method_none, 2, isolate ? 3 : wlen, 0);
	if (isolate)
		script(auth_ok, 2, wlen, 0);
	script(reply, sizeof(reply), wlen, 0);
	rc = dial(&res);
	is_int(rc, -want_errno, "reply 0x%02X%s: connect fails with %s", code, isolate ? " (isolated)" : "",
	       strerror(want_errno));
	is_int(res.socks_code, code, "reply 0x%02X: code in the result", code);
	is_str(res.cause, omx_socks5_code_str(code), "reply 0x%02X: cause \"%s\"", code,
	       omx_socks5_code_str(code));
	is_int(fk.shutdown_how, SHUT_RDWR, "reply 0x%02X: the socket is shut down", code);
	ok(strstr(fk.log, "SOCKS reply 0x") != NULL && fk.log_prio == LOG_WARNING,
	   "reply 0x%02X: logged as a warning with the code", code);
}

static void test_refusals(void)
{
	static const struct { int code, err; } codes[] = {
		{ 0x01, ECONNREFUSED }, { 0x02, EACCES }, { 0x03, ENETUNREACH }, { 0x04, EHOSTUNREACH },
		{ 0x05, ECONNREFUSED }, { 0x06, ETIMEDOUT }, { 0x07, EPROTO }, { 0x08, EAFNOSUPPORT },
		{ 0xF0, EHOSTUNREACH }, { 0xF1, EHOSTUNREACH }, { 0xF2, EHOSTUNREACH },
		{ 0xF3, EHOSTUNREACH }, { 0xF4, EACCES }, { 0xF5, EACCES }, { 0xF6, EHOSTUNREACH },
		{ 0xF7, ETIMEDOUT }, { 0x42, ECONNREFUSED },
	};

	for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++)
		check_refusal(codes[i].code, codes[i].err, (int)(i % 2));
	/* A refusal with the bare header, then the connection closed. */
	{
		static const uint8_t bare[] = { 5, 0xF2 };
		struct omx_tor_result res;
		uint8_t want[600];
		size_t wlen = expected_request(want, sizeof(want), 0, 25);

		reset(0);
		fk.close_after_chunks = 1;
		script(method_none, 2, wlen, 0);
		script(bare, 2, wlen, 0);
		is_int(dial(&res), -EHOSTUNREACH, "bare refusal header then EOF: the code counts");
		is_int(res.socks_code, 0xF2, "bare refusal header: code 0xF2");
	}
}

static void test_method_and_auth(void)
{
	struct omx_tor_result res;
	uint8_t want[600];
	size_t wlen;

	size_t wlen1 = expected_request(want, sizeof(want), 1, 25);

	reset(1);
	fk.close_after_chunks = 1;
	script(method_ff, 2, 3, 0);
	is_int(dial(&res), -ECONNREFUSED, "isolation, method 0xFF: refused");
	is_str(res.cause, "SOCKS server accepts none of our authentication methods", "method 0xFF: cause");
	is_int(fk.nsent, wlen1, "method 0xFF: the request went in one write (nothing after the refusal)");
	is_int(fk.shutdown_how, SHUT_RDWR, "method 0xFF: shut down");

	reset(1);
	script(method_none, 2, 3, 0);
	is_int(dial(&res), -ECONNREFUSED, "isolation, server picks 00 (not offered): refused");
	is_int(fk.nsent, wlen1, "a method not offered: nothing sent after the request");

	wlen = expected_request(want, sizeof(want), 0, 25);
	reset(0);
	script(method_ff, 2, wlen, 0);
	is_int(dial(&res), -ECONNREFUSED, "no isolation, method 0xFF: refused");

	wlen = expected_request(want, sizeof(want), 1, 25);
	reset(1);
	fk.close_after_chunks = 1;
	script(method_userpass, 2, 3, 0);
	script(auth_bad, 2, wlen, 0);
	is_int(dial(&res), -EACCES, "isolation credentials rejected: EACCES");
	is_str(res.cause, "SOCKS server rejected the isolation username/password", "credentials rejected: cause");
	is_int(res.socks_code, 0, "credentials rejected: no CONNECT code");

	reset(1);
	script(method_userpass, 2, 3, 0);
	script(auth_bad, 2, wlen, 0);
	is_int(dial(&res), -EACCES, "credentials rejected, connection left open: EACCES at once");
	is_int(fk.now, 1000.0, "credentials rejected: no wait");
}

static void test_malformed_and_closed(void)
{
	static const uint8_t http[] = "HTTP/1.0 400 Bad Request\r\n\r\n";
	static const uint8_t short_domain[] = { 5, 0, 0, 3, 0, 0, 25 };
	struct omx_tor_result res;
	uint8_t want[600];
	size_t wlen = expected_request(want, sizeof(want), 0, 25);

	reset(0);
	script(http, sizeof(http) - 1, wlen, 0);
	is_int(dial(&res), -EPROTO, "an HTTP answer: EPROTO");
	is_str(res.cause, "SOCKS server sent a malformed reply (is it Tor?)", "HTTP answer: cause");

	reset(0);
	script(method_none, 2, wlen, 0);
	script(short_domain, sizeof(short_domain), wlen, 0);
	script(banner, sizeof(banner) - 1, wlen, 0);
	is_int(dial(&res), -EPROTO, "a bound name of length 0 (shorter than Tor's replies): EPROTO");
	is_int(fk.shutdown_how, SHUT_RDWR, "malformed: the stream is shut down (banner bytes read are dropped with it)");

	reset(0);
	fk.close_after_chunks = 1;
	script(method_none, 2, wlen, 0);
	is_int(dial(&res), -ECONNRESET, "closed after the method choice: ECONNRESET");
	is_str(res.cause, "Tor closed the connection during the SOCKS handshake", "closed: cause");
}

static void test_connect_paths(void)
{
	struct omx_tor_result res;
	uint8_t want[600];
	size_t wlen = expected_request(want, sizeof(want), 0, 25);

	reset(0);
	fk.connect_mode = C_REFUSED;
	is_int(dial(&res), -ENETDOWN, "Tor's port refuses at once: ENETDOWN (Network is down)");
	is_int(res.error, ENETDOWN, "refused: ENETDOWN in the result");
	is_str(res.cause, "cannot connect to Tor's SOCKS port (is Tor running?)", "refused: cause");
	is_int(fk.nsent, 0, "refused: nothing sent");

	reset(0);
	fk.connect_mode = C_PENDING_REFUSED;
	is_int(dial(&res), -ENETDOWN, "Tor's port refuses after EINPROGRESS: ENETDOWN");
	is_int(fk.connect_calls, 2, "the second connect() reports the refusal (no SO_ERROR)");

	reset(0);
	fk.connect_mode = C_NOW;
	script(method_none, 2, wlen, 0);
	script(reply_ok, sizeof(reply_ok), wlen, 0);
	is_int(dial(&res), 0, "connect() done at once: connected");
	is_int(fk.connect_calls, 1, "connect() done at once: no second connect()");

	reset(0);
	fk.connect_mode = C_HANG;
	is_int(dial(&res), -ETIMEDOUT, "Tor's port never accepts: ETIMEDOUT");
	ok(fk.now >= 1030.0 && fk.now < 1030.1, "the connect wait ends at the deadline (fake clock %.3f)", fk.now);
	is_str(res.cause, "timed out connecting to Tor's SOCKS port", "hang: cause");

	reset(0);
	fk.type = SOCK_DGRAM;
	is_int(dial(&res), -ENETUNREACH, "a datagram socket: ENETUNREACH");
	is_int(fk.connect_calls + fk.nsent, 0, "a datagram socket: nothing dialled or sent");
}

static void test_deadlines(void)
{
	struct omx_tor_result res;
	uint8_t want[600];
	size_t wlen = expected_request(want, sizeof(want), 0, 25);

	reset(0);
	script(method_none, 2, wlen, 0);
	script(reply_ok, sizeof(reply_ok), wlen, 29.5);
	is_int(dial(&res), 0, "a reply 29.5 s later, within the 30 s timeout: connected");

	reset(0);
	script(method_none, 2, wlen, 0);
	script(reply_ok, sizeof(reply_ok), wlen, 30.5);
	is_int(dial(&res), -ETIMEDOUT, "a reply 30.5 s later: ETIMEDOUT");
	is_str(res.cause, "timed out waiting for Tor's SOCKS reply", "late reply: cause");
	ok(fk.now >= 1030.0 && fk.now < 1030.1, "gave up at the deadline (fake clock %.3f)", fk.now);
	ok(res.seconds >= 30.0 && res.seconds < 30.1, "result: the time taken");
	is_int(fk.shutdown_how, SHUT_RDWR, "late reply: shut down");

	reset(1);
	script(method_userpass, 2, 3, 40);
	is_int(dial(&res), -ETIMEDOUT, "isolation, no method choice in time: ETIMEDOUT");
	is_int(fk.nsent, expected_request((uint8_t[600]){ 0 }, 600, 1, 25), "no method choice: nothing sent after the request");
}

static void test_signals(void)
{
	struct omx_tor_result res;
	uint8_t want[600];
	size_t wlen = expected_request(want, sizeof(want), 0, 25);

	reset(0);
	fk.eintr_polls = 2;
	fk.signal_interrupts = 0;
	script(method_none, 2, wlen, 0);
	script(reply_ok, sizeof(reply_ok), wlen, 1);
	is_int(dial(&res), 0, "EINTR from an SA_RESTART handler: the wait goes on");

	reset(0);
	fk.eintr_polls = 1;
	fk.signal_interrupts = 1;
	script(method_none, 2, wlen, 0);
	script(reply_ok, sizeof(reply_ok), wlen, 1);
	is_int(dial(&res), -EINTR, "EINTR from a handler without SA_RESTART: EINTR, as connect() would");
	is_int(fk.shutdown_how, SHUT_RDWR, "interrupted: the half-done stream is shut down");
}

static void test_addresses(void)
{
	struct omx_tor_result res;
	struct omx_target with_port = { ONION, 2525 };
	struct omx_tor_request rq = { .target = &with_port, .caller_port = 25, .family = AF_INET6 };
	uint8_t want[600];
	size_t wlen = expected_request(want, sizeof(want), 0, 2525);
	const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)&fk.dialed;

	reset(0);
	script(method_none, 2, wlen, 0);
	script(reply_ok, sizeof(reply_ok), wlen, 0);
	is_int(omx_tor_connect(&fake_host, FD, &cfg, &rq, &res), 0, "IPv6 caller, map port 2525: connected");
	ok(fk.nsent == wlen && memcmp(fk.sent, want, wlen) == 0, "the map's port is asked of Tor for port 25");
	is_int(res.port, 2525, "result: port 2525");
	ok(fk.dialed.ss_family == AF_INET6 && IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr) &&
	   ntohs(in6->sin6_port) == 9050, "an AF_INET6 socket dials Tor's IPv4 port v4-mapped");
	is_int(omx_tor_port(&with_port, 587), 587, "another port than 25 is kept");

	reset(0);
	rq.family = 0;
	script(method_none, 2, wlen, 0);
	script(reply_ok, sizeof(reply_ok), wlen, 0);
	is_int(omx_tor_connect(&fake_host, FD, &cfg, &rq, NULL), 0, "family unknown, NULL result: connected");
	is_int(fk.getsockopt_domain, 1, "family unknown: the socket is asked");
}

/* --- the dial by sendto(MSG_FASTOPEN | MSG_DONTWAIT) (issue 15) --- */

static const struct omx_host fastopen_host = {
	.socket = f_socket, .connect = f_connect, .send = f_send, .sendto = f_sendto, .recv = f_recv,
	.poll = f_poll, .shutdown = f_shutdown, .close = f_close, .fcntl = f_fcntl,
	.dup3 = f_dup3, .getsockopt = f_getsockopt, .setsockopt = f_setsockopt,
	.signal_interrupts = f_signal_interrupts, .now = f_now, .random = f_random,
	.log = f_log, .res_nquery = NULL,
};

static int dial_fastopen(struct omx_tor_result *res, int family)
{
	struct omx_tor_request rq = { .target = &target, .caller_port = 25, .family = family,
				      .domain = "example.org", .ndomains = 1 };

	return omx_tor_connect(&fastopen_host, FD, &cfg, &rq, res);
}

static void test_fastopen(void)
{
	struct omx_tor_result res;
	uint8_t want[600], want0[600];
	size_t wlen = expected_request(want, sizeof(want), 1, 25);
	size_t wlen0 = expected_request(want0, sizeof(want0), 0, 25);

	/* A blocking socket, isolation: what bench's bound2 client does, with the
	 * connection made by the kernel's non-blocking connect all the same. */
	reset(1);
	script(method_userpass, 2, 3, 0);
	script(auth_ok, 2, wlen, 0);
	script(reply_ok, sizeof(reply_ok), wlen, 0);
	script(banner, sizeof(banner) - 1, wlen, 0);
	is_int(dial_fastopen(&res, AF_INET), 0, "fastopen dial, blocking socket: connected");
	is_int(fk.getfl_calls + fk.setfl_calls, 0, "fastopen dial: the socket's flags neither read nor changed");
	is_int(fk.sendto_calls, 2, "fastopen dial: EINPROGRESS, then the call that completes it");
	is_int(fk.connect_calls, 2, "fastopen dial: no connect() besides");
	is_int(fk.getsockopt_type, 0, "a TCP socket (SO_PROTOCOL): no SO_TYPE asked");
	ok(fk.nsent == wlen && memcmp(fk.sent, want, wlen) == 0,
	   "fastopen dial: the same request, byte for byte");
	is_int(fk.send_calls, 0, "the whole request went with the completing call (no send() after it)");
	is_int(fk.wire_read, 2 + 2 + sizeof(reply_ok), "fastopen dial: the banner left unread");
	is_int(fk.shutdown_how, -1, "fastopen dial: not shut down");

	reset(0);
	fk.flags = O_NONBLOCK | O_APPEND;
	script(method_none, 2, wlen0, 0);
	script(reply_ok, sizeof(reply_ok), wlen0, 0);
	is_int(dial_fastopen(&res, AF_INET), 0, "fastopen dial, non-blocking socket, no isolation: connected");
	ok(fk.nsent == wlen0 && memcmp(fk.sent, want0, wlen0) == 0 && fk.send_calls == 0,
	   "no isolation: the whole request with the completing call");
	is_int(fk.getfl_calls + fk.setfl_calls, 0, "non-blocking socket: flags untouched");

	/* Replies not in yet when asked for (Tor has to be scheduled): each is
	 * waited for, then read - no recv() failing EAGAIN first. */
	reset(1);
	script(method_userpass, 2, 3, 0.001);
	script(auth_ok, 2, wlen, 0.002);
	script(reply_ok, sizeof(reply_ok), wlen, 0.002);
	is_int(dial_fastopen(&res, AF_INET), 0, "replies that come a moment later: connected");
	is_int(fk.recv_calls, 2, "one recv() for the method choice, one for status and reply");
	is_int(fk.poll_calls, 2, "a poll() before each (the connection needed none)");

	/* With a cookie the greeting goes in the SYN: the next call only completes. */
	reset(1);
	fk.connect_mode = C_NOW;
	script(method_userpass, 2, 3, 0);
	script(auth_ok, 2, wlen, 0);
	script(reply_ok, sizeof(reply_ok), wlen, 0);
	is_int(dial_fastopen(&res, AF_INET), 0, "greeting sent in the SYN: connected");
	ok(fk.nsent == wlen && memcmp(fk.sent, want, wlen) == 0, "greeting in the SYN: sent once, in order");
	is_int(fk.sendto_calls, 2, "greeting in the SYN: one more call to complete the connection");

	reset(1);
	fk.connect_mode = C_PENDING_REFUSED;
	is_int(dial_fastopen(&res, AF_INET), -ENETDOWN, "fastopen dial, Tor's port refuses: ENETDOWN");
	is_str(res.cause, "cannot connect to Tor's SOCKS port (is Tor running?)", "refused: cause");
	is_int(fk.nsent, 0, "refused: nothing sent");
	is_int(fk.shutdown_how, SHUT_RDWR, "refused: shut down");

	reset(1);
	fk.connect_mode = C_REFUSED;
	is_int(dial_fastopen(&res, AF_INET), -ENETDOWN, "fastopen dial refused at once: ENETDOWN");

	reset(1);
	fk.connect_mode = C_HANG;
	is_int(dial_fastopen(&res, AF_INET), -ETIMEDOUT, "fastopen dial, Tor's port never accepts: ETIMEDOUT");
	ok(fk.now >= 1030.0 && fk.now < 1030.1, "fastopen dial: the wait ends at the deadline (fake clock %.3f)", fk.now);
	is_str(res.cause, "timed out connecting to Tor's SOCKS port", "fastopen hang: cause");
	is_int(fk.getfl_calls + fk.setfl_calls, 0, "fastopen hang: flags untouched");

	/* TCP Fast Open off on the host: connect(), the socket non-blocking meanwhile. */
	reset(1);
	fk.tfo_off = 1;
	script(method_userpass, 2, 3, 0);
	script(auth_ok, 2, wlen, 0);
	script(reply_ok, sizeof(reply_ok), wlen, 0);
	is_int(dial_fastopen(&res, AF_INET), 0, "TCP Fast Open off: connected by connect()");
	is_int(fk.sendto_calls, 1, "TCP Fast Open off: one sendto (EOPNOTSUPP), then connect()");
	is_int(fk.connect_calls, 2, "TCP Fast Open off: connect() twice (EINPROGRESS, done)");
	is_int(fk.setfl_calls, 2, "TCP Fast Open off, blocking socket: made non-blocking and restored");
	is_int(fk.last_setfl, 0, "TCP Fast Open off: its flags restored");
	ok(fk.nsent == wlen && memcmp(fk.sent, want, wlen) == 0, "TCP Fast Open off: the same request");

	reset(1);
	fk.tfo_off = 1;
	fk.flags = O_NONBLOCK;
	fk.connect_mode = C_PENDING_REFUSED;
	is_int(dial_fastopen(&res, AF_INET), -ENETDOWN, "TCP Fast Open off, refused: ENETDOWN");
	is_int(fk.setfl_calls, 0, "TCP Fast Open off, non-blocking socket: flags untouched");

	/* Not TCP: asked its type as before; a datagram socket gets nothing. */
	reset(1);
	fk.protocol = IPPROTO_UDP;
	fk.type = SOCK_DGRAM;
	is_int(dial_fastopen(&res, AF_INET), -ENETUNREACH, "a UDP socket: ENETUNREACH");
	is_int(fk.sendto_calls + fk.connect_calls + fk.nsent, 0, "a UDP socket: nothing dialled or sent");
	is_int(fk.getsockopt_type, 1, "a socket that is not TCP: its type asked");

	reset(1);
	fk.protocol = 132; /* IPPROTO_SCTP, SOCK_STREAM: connect() as before */
	script(method_userpass, 2, 3, 0);
	script(auth_ok, 2, wlen, 0);
	script(reply_ok, sizeof(reply_ok), wlen, 0);
	is_int(dial_fastopen(&res, AF_INET), 0, "a stream socket not TCP: connected by connect()");
	ok(fk.sendto_calls == 0 && fk.setfl_calls == 2 && fk.last_setfl == 0,
	   "not TCP: no sendto, made non-blocking and restored");

	/* A socket already connected: the kernel's EISCONN, the stream left alone. */
	reset(1);
	fk.connected = 1;
	is_int(dial_fastopen(&res, AF_INET), -EISCONN, "fastopen dial on a connected socket: EISCONN");
	is_int(fk.shutdown_how, -1, "EISCONN: the stream is not shut down");

	/* An AF_INET socket replaced for an IPv6 Tor keeps the caller's flags. */
	reset(1);
	fk.flags = O_NONBLOCK | O_APPEND;
	omx_parse_hostport("[::1]:9050", &cfg.socks, &cfg.socks_len);
	script(method_userpass, 2, 3, 0);
	script(auth_ok, 2, wlen, 0);
	script(reply_ok6, sizeof(reply_ok6), wlen, 0);
	is_int(dial_fastopen(&res, AF_INET), 0, "IPv6 Tor, AF_INET socket: connected");
	is_int(fk.newsock_setfl, O_NONBLOCK | O_APPEND, "the replacement socket gets the caller's status flags");
	is_int(fk.dialed.ss_family, AF_INET6, "the replacement dials Tor over IPv6");

	/* A Tor on another host is dialled by connect(): a middlebox may drop a
	 * SYN with the Fast Open option (the fake host sends nothing anywhere). */
	reset(1);
	omx_parse_hostport("192.0.2.7:9050", &cfg.socks, &cfg.socks_len);
	script(method_userpass, 2, 3, 0);
	script(auth_ok, 2, wlen, 0);
	script(reply_ok, sizeof(reply_ok), wlen, 0);
	is_int(dial_fastopen(&res, AF_INET), 0, "Tor on another host: connected");
	is_int(fk.sendto_calls, 0, "Tor on another host: no sendto(MSG_FASTOPEN)");
	is_int(fk.setfl_calls, 2, "Tor on another host, blocking socket: made non-blocking and restored");
	is_int(fk.last_setfl, 0, "Tor on another host: its flags restored");
	ok(fk.nsent == wlen && memcmp(fk.sent, want, wlen) == 0, "Tor on another host: the same request");
	reset(1);
	omx_parse_hostport("[::ffff:127.0.0.1]:9050", &cfg.socks, &cfg.socks_len);
	script(method_userpass, 2, 3, 0);
	script(auth_ok, 2, wlen, 0);
	script(reply_ok, sizeof(reply_ok), wlen, 0);
	dial_fastopen(&res, AF_INET);
	ok(fk.sendto_calls > 0, "Tor at a v4-mapped loopback address: the Fast Open dial");
}

/* --- several Tors (issue 14): failover, stickiness, shared health --- */

enum behaviour { GOOD, B_REFUSED, HANG, SILENT, CLOSES, CODE };

static void serve(int i, enum behaviour b, int code)
{
	static uint8_t replies[4][10];
	struct server *sv = &fk.servers[i];
	uint8_t want[600];
	size_t wlen = expected_request(want, sizeof(want), 0, 25);

	memset(sv, 0, sizeof(*sv));
	sv->connect_mode = b == B_REFUSED ? C_REFUSED : b == HANG ? C_HANG : C_PENDING_OK;
	if (b == CLOSES)
		sv->close_after_chunks = 1;
	if (b == GOOD || b == CODE) {
		memcpy(replies[i], reply_ok, sizeof(reply_ok));
		replies[i][1] = (uint8_t)(b == CODE ? code : 0);
		sv->chunks[0] = (struct chunk){ method_none, 2, wlen, 0 };
		sv->chunks[1] = (struct chunk){ replies[i], 10, wlen, 0 };
		sv->nchunks = 2;
		sv->close_after_chunks = b == CODE;
	}
}

static struct omx_health health;

static void reset_multi(int ntors)
{
	reset(0);
	fk.multi = 1;
	cfg.ntors = ntors;
	for (int i = 0; i < ntors; i++) {
		static char texts[OMX_TORS_MAX][OMX_CONFIG_TOR_TEXT_MAX];

		snprintf(texts[i], sizeof(texts[i]), "127.0.0.1:%d", 9050 + i);
		cfg.tors[i].text = texts[i];
		omx_parse_hostport(cfg.tors[i].text, &cfg.tors[i].ss, &cfg.tors[i].len);
	}
	cfg.tor_answer = 5;
	cfg.tor_retry = 60;
}

static const struct omx_host *multi_host = &fake_host;

/* Dials ONION; returns the result code, with the Tors dialled in fk.dials. */
static int dial_onion(const char *onion, struct omx_tor_result *res)
{
	struct omx_target t;
	struct omx_tor_request rq = { .target = &t, .caller_port = 25, .family = AF_INET,
				      .domain = "example.org", .ndomains = 1, .health = &health };

	snprintf(t.onion, sizeof(t.onion), "%s", onion);
	t.port = 0;
	fk.ndials = 0;
	fk.connect_calls = 0;
	return omx_tor_connect(multi_host, FD, &cfg, &rq, res);
}

static char *dials_text(void)
{
	static char out[64];
	size_t o = 0;

	out[0] = '\0';
	for (int i = 0; i < fk.ndials && o + 4 < sizeof(out); i++)
		o += (size_t)snprintf(out + o, sizeof(out) - o, "%s%d", i ? " " : "", fk.dials[i]);
	return out;
}

static void fresh_health(void)
{
	char err[200];

	omx_health_close(&health);
	if (omx_health_open_anonymous(&health, &cfg, err, sizeof(err)) != 0)
		ok(0, "health table: %s", err);
}

/* ONION with its first letters changed to put its first Tor elsewhere. */
static void onion_variant(char out[OMX_ONION_LABEL_LEN + 1], unsigned n)
{
	static const char b32[] = "abcdefghijklmnopqrstuvwxyz234567";

	memcpy(out, ONION, OMX_ONION_LABEL_LEN + 1);
	out[2] = b32[n / 32 % 32];
	out[3] = b32[n % 32];
}

/* The first Tor of ONION among NTORS (all good). */
static int first_of(int ntors)
{
	struct omx_tor_result res;

	reset_multi(ntors);
	fresh_health();
	for (int i = 0; i < ntors; i++)
		serve(i, GOOD, 0);
	dial_onion(ONION, &res);
	return fk.dials[0];
}

static void test_failover(void)
{
	struct omx_tor_result res;
	char o[OMX_ONION_LABEL_LEN + 1], want[16];
	int first, first2, seen[3] = { 0 }, stable = 1;

	reset_multi(3);
	fresh_health();
	for (int i = 0; i < 3; i++)
		serve(i, GOOD, 0);
	is_int(dial_onion(ONION, &res), 0, "three good Tors: connected");
	is_int(fk.ndials, 1, "three good Tors: one asked");
	first = fk.dials[0];
	is_int(res.tor, first, "result: the Tor that carried it");
	ok(strstr(fk.log, cfg.tors[first].text) != NULL, "the log line names the Tor");
	for (unsigned n = 0; n < 30; n++) {
		int a, b;

		onion_variant(o, n);
		dial_onion(o, &res);
		a = fk.dials[0];
		dial_onion(o, &res);
		b = fk.dials[0];
		stable &= a == b && fk.ndials == 1;
		seen[a % 3] = 1;
	}
	ok(stable, "per-onion stickiness: an onion's connections go to the same Tor every time");
	ok(seen[0] && seen[1] && seen[2], "30 onions spread over all three Tors");

	/* Down Tors: refused, hanging, silent, closing; each moves on to the next. */
	{
		static const struct { enum behaviour b; const char *what; double max_s; } down[] = {
			{ B_REFUSED, "refuses the connection", 0.1 },
			{ HANG, "never accepts", 5.1 },
			{ SILENT, "accepts but never answers the greeting", 5.1 },
			{ CLOSES, "closes without answering", 0.1 },
		};

		for (size_t k = 0; k < sizeof(down) / sizeof(down[0]); k++) {
			reset_multi(3);
			fresh_health();
			serve(first, down[k].b, 0);
			serve((first + 1) % 3, GOOD, 0);
			serve((first + 2) % 3, GOOD, 0);
			snprintf(want, sizeof(want), "%d %d", first, (first + 1) % 3);
			is_int(dial_onion(ONION, &res), 0, "first Tor %s: connected through the next", down[k].what);
			is_str(dials_text(), want, "first Tor %s: the next in order was asked", down[k].what);
			ok(res.seconds < down[k].max_s, "first Tor %s: moved on after %.1f s (short deadline %d s, timeout %d s)",
			   down[k].what, res.seconds, cfg.tor_answer, cfg.timeout);
			is_int(res.tor, (first + 1) % 3, "result: the second Tor carried it");
			dial_onion(ONION, &res);
			snprintf(want, sizeof(want), "%d", (first + 1) % 3);
			is_str(dials_text(), want, "first Tor %s: marked down, the next connection skips it", down[k].what);
		}
	}

	/* A dead Tor is tried again once per interval, by one caller. */
	first2 = first_of(2);
	reset_multi(2);
	fresh_health();
	serve(first2, B_REFUSED, 0);
	serve(1 - first2, GOOD, 0);
	{
		int dead_tries = 0, skipped = 0;

		for (int n = 0; n < 20; n++) { /* 20 deliveries within the interval */
			dial_onion(ONION, &res);
			for (int i = 0; i < fk.ndials; i++)
				dead_tries += fk.dials[i] == first2;
			fk.now += 1;
		}
		is_int(dead_tries, 1, "20 connections in 20 s: the dead Tor was asked once");
		fk.now += 60;
		dial_onion(ONION, &res);
		ok(fk.ndials == 2 && fk.dials[0] == first2, "its retry time come: the next connection tries it first");
		dial_onion(ONION, &res);
		skipped = fk.ndials == 1 && fk.dials[0] != first2;
		ok(skipped, "and the one after skips it again (still down)");
		serve(first2, GOOD, 0);
		fk.now += 61;
		dial_onion(ONION, &res);
		ok(fk.ndials == 1 && fk.dials[0] == first2 && res.error == 0, "back up: tried once, used");
		dial_onion(ONION, &res);
		ok(fk.ndials == 1 && fk.dials[0] == first2, "and marked healthy again");
	}

	/* Answers about the onion never move on. */
	{
		static const int codes[] = { 0x02, 0x04, 0x05, 0x06, 0xF0, 0xF1, 0xF2, 0xF3, 0xF4, 0xF6, 0xF7 };

		for (size_t k = 0; k < sizeof(codes) / sizeof(codes[0]); k++) {
			reset_multi(3);
			fresh_health();
			serve(first, CODE, codes[k]);
			serve((first + 1) % 3, GOOD, 0);
			serve((first + 2) % 3, GOOD, 0);
			ok(dial_onion(ONION, &res) != 0 && fk.ndials == 1 && res.socks_code == codes[k],
			   "reply 0x%02X (about the onion): no other Tor asked", codes[k]);
			dial_onion(ONION, &res);
			ok(fk.ndials == 1 && fk.dials[0] == first, "reply 0x%02X: the Tor is not marked down", codes[k]);
		}
	}
	/* A general failure (0x01) moves on, but does not mark the Tor down. */
	reset_multi(3);
	fresh_health();
	serve(first, CODE, 0x01);
	serve((first + 1) % 3, GOOD, 0);
	serve((first + 2) % 3, GOOD, 0);
	is_int(dial_onion(ONION, &res), 0, "reply 0x01 (general failure): connected through the next Tor");
	is_int(fk.ndials, 2, "reply 0x01: two Tors asked");
	dial_onion(ONION, &res);
	is_int(fk.dials[0], first, "reply 0x01: the first Tor is not marked down (it may be the onion)");

	/* Every Tor marked down: each is tried all the same; all dead: ENETDOWN. */
	reset_multi(2);
	fresh_health();
	serve(0, B_REFUSED, 0);
	serve(1, B_REFUSED, 0);
	is_int(dial_onion(ONION, &res), -ENETDOWN, "both Tors refuse: ENETDOWN");
	is_int(fk.ndials, 2, "both Tors refuse: both asked");
	serve(first2, GOOD, 0);
	is_int(dial_onion(ONION, &res), 0, "both marked down: tried anyway, one is back: connected");

	/* The health table is read as untrusted. */
	reset_multi(2);
	fresh_health();
	serve(0, GOOD, 0);
	serve(1, GOOD, 0);
	health.slot[first2] = 0x123456789abcdef0ull;
	dial_onion(ONION, &res);
	ok(fk.ndials == 1 && fk.dials[0] == first2, "a garbled health word counts as healthy");
	omx_health_down(&health, first2, fk.now + 100000, 60);
	dial_onion(ONION, &res);
	ok(fk.ndials == 1 && fk.dials[0] == first2, "a down time implausibly far ahead counts as healthy");

	/* The fastopen dial moves on the same way: the socket dissolved between Tors. */
	multi_host = &fastopen_host;
	for (int k = 0; k < 2; k++) {
		reset_multi(3);
		fresh_health();
		serve(first, k ? HANG : B_REFUSED, 0);
		serve((first + 1) % 3, GOOD, 0);
		serve((first + 2) % 3, GOOD, 0);
		snprintf(want, sizeof(want), "%d %d", first, (first + 1) % 3);
		is_int(dial_onion(ONION, &res), 0, "fastopen dial, first Tor %s: connected through the next",
		       k ? "never accepts" : "refuses");
		is_str(dials_text(), want, "fastopen dial, first Tor %s: the next in order was asked",
		       k ? "never accepts" : "refuses");
		is_int(fk.setfl_calls + fk.getfl_calls, 0, "fastopen dial with failover: flags untouched");
	}
	multi_host = &fake_host;
	omx_health_close(&health);
}

/* host.c's I/O on a real socketpair with plain libc: what tor.c and the
 * probe's banner reading rest on. */
static void test_io_socketpair(void)
{
	const struct omx_host *h = &omx_libc_host;
	int sv[2];
	char buf[16];
	static uint8_t big[1 << 20];

	if (!ok(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0, "socketpair"))
		return;
	is_int(omx_io_recv(h, sv[0], buf, sizeof(buf), h->now() + 0.05), -ETIMEDOUT,
	       "recv with nothing sent: ETIMEDOUT at the deadline");
	is_int(omx_io_send_all(h, sv[1], "220", 3, h->now() + 1), 0, "send_all: 3 bytes");
	is_int(omx_io_recv(h, sv[0], buf, sizeof(buf), h->now() + 1), 3, "recv: what is there, not CAP");
	memset(big, 'x', sizeof(big));
	is_int(omx_io_send_all(h, sv[1], big, sizeof(big), h->now() + 0.05), -ETIMEDOUT,
	       "send_all of 1 MiB nobody reads: ETIMEDOUT, never blocks");
	close(sv[0]);
	is_int(omx_io_send_all(h, sv[1], "x", 1, h->now() + 1), -EPIPE,
	       "send_all to a closed peer: EPIPE (and no SIGPIPE)");
	close(sv[1]);
}

/* A socket the host knows as TCP (rq->known_tcp: the library saw socket()
 * make it) is not asked its protocol; its dial's first sendto(MSG_FASTOPEN)
 * carries nothing, so that a datagram socket that took the number unseen sends
 * no more than an empty datagram to Tor, and fails at once. */
static int dial_known_tcp(struct omx_tor_result *res)
{
	struct omx_tor_request rq = { .target = &target, .caller_port = 25, .family = AF_INET,
				      .domain = "example.org", .ndomains = 1, .known_tcp = 1 };

	return omx_tor_connect(&fastopen_host, FD, &cfg, &rq, res);
}

static void test_known_tcp(void)
{
	struct omx_tor_result res;

	for (int isolate = 1; isolate >= 0; isolate--) {
		uint8_t want[600];
		size_t wlen = expected_request(want, sizeof(want), isolate, 25);
		const char *what = isolate ? "isolation" : "no isolation";

		reset(isolate);
		script(isolate ? method_userpass : method_none, 2, isolate ? 3 : wlen, 0);
		if (isolate)
			script(auth_ok, 2, wlen, 0);
		script(reply_ok, sizeof(reply_ok), wlen, 0);
		is_int(dial_known_tcp(&res), 0, "known TCP, %s: connected", what);
		is_int(fk.getsockopt_protocol + fk.getsockopt_type + fk.getsockopt_domain, 0,
		       "known TCP, %s: the socket not asked its protocol, type or family", what);
		is_int(fk.first_sendto_len, 0, "known TCP, %s: the first sendto(MSG_FASTOPEN) carries no data", what);
		is_int(fk.sendto_calls, 2, "known TCP, %s: EINPROGRESS, then the call that completes it", what);
		ok(fk.nsent == wlen && memcmp(fk.sent, want, wlen) == 0,
		   "known TCP, %s: the same request, byte for byte", what);
		is_int(fk.getfl_calls + fk.setfl_calls, 0, "known TCP, %s: flags untouched", what);
	}

	/* Control: a socket the host did not see made is asked, as before. */
	reset(1);
	script(method_userpass, 2, 3, 0);
	script(auth_ok, 2, expected_request((uint8_t[600]){ 0 }, 600, 1, 25), 0);
	script(reply_ok, sizeof(reply_ok), expected_request((uint8_t[600]){ 0 }, 600, 1, 25), 0);
	is_int(dial_fastopen(&res, AF_INET), 0, "(control) socket not known: connected");
	is_int(fk.getsockopt_protocol, 1, "(control) socket not known: asked its protocol once");
	is_int(fk.first_sendto_len, expected_request((uint8_t[600]){ 0 }, 600, 1, 25),
	       "(control) socket not known: the whole request in the first sendto");

	/* A stale mark: a UDP socket took the number unseen. No isolation: the
	 * greeting would carry the CONNECT, the onion's name. */
	reset(0);
	fk.datagram = 1;
	is_int(dial_known_tcp(&res), -ENETUNREACH, "stale known TCP, a datagram socket: ENETUNREACH");
	is_int(fk.sendto_calls, 1, "stale: one sendto()");
	is_int(fk.nsent, 0, "stale: nothing sent but an empty datagram (to Tor's loopback address)");
	is_int(fk.send_calls + fk.poll_calls + fk.recv_calls, 0, "stale: no send, wait or read");
	is_int(fk.now, 1000.0, "stale: failed at once, no timeout waited");
	is_str(res.cause, "not a TCP socket (no datagrams to an onion)", "stale: cause");
	/* Control: the same socket not known as TCP is asked, and refused the same way. */
	reset(0);
	fk.datagram = 1;
	fk.protocol = IPPROTO_UDP;
	fk.type = SOCK_DGRAM;
	is_int(dial_fastopen(&res, AF_INET), -ENETUNREACH, "(control) a datagram socket asked: ENETUNREACH");
	is_int(fk.sendto_calls, 0, "(control) asked: no sendto() at all");
}

/* The clock is read where a deadline needs it or after a wait, not before
 * every step: at the start (the deadlines), once after each wait that another
 * wait follows, and at the end only for a time someone uses (the log line, or
 * a host that keeps it: the statistics). Every deadline still holds
 * (test_deadlines, test_fastopen); the fake clock moves only in poll(). */
static void test_clock_reads(void)
{
	struct omx_host quiet = fastopen_host;
	struct omx_tor_result res;

	quiet.log_enabled = f_log_warnings_only;
	for (int isolate = 0; isolate <= 1; isolate++) {
		for (int untimed = 1; untimed >= 0; untimed--) {
			struct omx_tor_request rq = { .target = &target, .caller_port = 25, .family = AF_INET,
						      .domain = "example.org", .ndomains = 1, .known_tcp = 1,
						      .untimed = untimed };
			uint8_t want[600];
			size_t wlen = expected_request(want, sizeof(want), isolate, 25);
			size_t reads = (size_t)(1 + isolate + !untimed);

			/* Replies together, as a Tor sends them when it is quick;
			 * with isolation the method choice comes first, alone. */
			reset(isolate);
			script(isolate ? method_userpass : method_none, 2, isolate ? 3 : wlen,
			       isolate ? 0.001 : 0.25);
			if (isolate)
				script(auth_ok, 2, wlen, 0.25);
			script(reply_ok, sizeof(reply_ok), wlen, 0.25);
			is_int(omx_tor_connect(&quiet, FD, &cfg, &rq, &res), 0, "clock: %s, %s: connected",
			       isolate ? "isolation" : "no isolation", untimed ? "untimed" : "timed");
			is_int(fk.now_calls, reads, "clock: %s, %s: %zu reads (start%s%s)",
			       isolate ? "isolation" : "no isolation", untimed ? "untimed" : "timed", reads,
			       isolate ? ", after the first wait" : "", untimed ? "" : ", end");
			if (!untimed)
				ok(res.seconds > 0.24 && res.seconds < 0.26, "clock: timed: the time measured (%.3f)",
				   res.seconds);
		}
	}
	/* Failures read the end too: their log line gives the time. */
	reset(1);
	fk.connect_mode = C_HANG;
	is_int(dial_fastopen(&res, AF_INET), -ETIMEDOUT, "clock: Tor's port never accepts: ETIMEDOUT");
	ok(fk.now >= 1030.0 && fk.now < 1030.1, "clock: the wait ends at the deadline (fake clock %.3f)", fk.now);
	ok(res.seconds >= 30.0 && res.seconds < 30.1, "clock: the failure's time measured (%.3f)", res.seconds);
}

int main(void)
{
	test_success_plain();
	test_success_unlogged();
	test_success_isolated();
	test_isolated_tor_replies();
	test_partial_io();
	test_refusals();
	test_method_and_auth();
	test_malformed_and_closed();
	test_connect_paths();
	test_deadlines();
	test_signals();
	test_addresses();
	test_failover();
	test_fastopen();
	test_known_tcp();
	test_clock_reads();
	test_io_socketpair();
	return done_testing();
}
