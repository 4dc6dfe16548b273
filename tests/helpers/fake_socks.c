/* fake_socks: a scriptable SOCKS5 server that stands in for Tor in integration
 * tests. One process per connection; each CONNECT request is logged as one line
 * before the scripted answer is sent (and an ACCEPT line for every connection
 * as it is accepted), then a RAW line: every byte the client
 * sent until then, escaped, with " | " between its separate writes.
 *
 * usage: fake_socks -l HOST:PORT -m MODE [-6] [-r RELAY_HOST:PORT] [-L LOGFILE]
 *                   [-p PIDFILE] [-c CODE]
 *   -l   listen address: 127.0.0.1:PORT or [::1]:PORT
 *   -6   answer a successful CONNECT with an IPv6 bound address (22-byte reply)
 *   -p   daemonize; the pid file is written once the socket listens, and the
 *        command returns only after that, so a test can go on at once
 *   -c   reply code for refuse and extended (0x01 and 0xF0 by default)
 * MODE: relay refuse extended noauth authfail garble close hang slow badatyp */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* accept4, pipe2 */
#endif
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

enum mode {
	MODE_RELAY, MODE_REFUSE, MODE_EXTENDED, MODE_NOAUTH, MODE_AUTHFAIL, MODE_GARBLE,
	MODE_CLOSE, MODE_HANG, MODE_SLOW, MODE_BADATYP,
};

static const char *const mode_names[] = {
	[MODE_RELAY] = "relay", [MODE_REFUSE] = "refuse", [MODE_EXTENDED] = "extended",
	[MODE_NOAUTH] = "noauth", [MODE_AUTHFAIL] = "authfail", [MODE_GARBLE] = "garble",
	[MODE_CLOSE] = "close", [MODE_HANG] = "hang", [MODE_SLOW] = "slow",
	[MODE_BADATYP] = "badatyp",
};

struct options {
	const char *listen_spec;
	const char *relay_spec;
	const char *log_path;
	const char *pid_path;
	enum mode mode;
	int code;            /* reply code for refuse/extended, -1 = mode default */
	int bound_ipv6;      /* -6: success replies carry an IPv6 bound address */
};

/* What the client asked for, as text ready for the log line. */
struct socks_request {
	int authenticated;
	char user[4 * 255 + 1];
	char pass[4 * 255 + 1];
	int atyp;
	char host[4 * 255 + 1];
	unsigned port;
	int command;
};

static int log_fd = -1;
static const char *pid_path;
static pid_t daemon_pid;

/* Prints a usage message and exits: the tests call us with fixed arguments, so
 * any mistake is a bug in the test. */
static void usage(void)
{
	fprintf(stderr, "usage: fake_socks -l HOST:PORT -m MODE [-6] [-r HOST:PORT] "
		"[-L LOGFILE] [-p PIDFILE] [-c CODE]\n"
		"modes: relay refuse extended noauth authfail garble close hang slow badatyp\n");
	exit(2);
}

/* Reports a fatal start-up error; once daemonized stderr is /dev/null. */
static void die(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "fake_socks: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
	exit(1);
}

/* SIGTERM/SIGINT: leave no stale pid file behind; connection children die with
 * us through PR_SET_PDEATHSIG. Only async-signal-safe calls here. */
static void on_terminate(int sig)
{
	(void)sig;
	if (pid_path && daemon_pid == getpid())
		unlink(pid_path);
	_exit(0);
}

/* Splits "HOST:PORT" or "[V6]:PORT" into its parts; HOST must hold the host. */
static int split_hostport(const char *spec, char *host, size_t host_cap, const char **port)
{
	const char *colon, *host_start = spec, *host_end;

	if (spec[0] == '[') {
		host_start = spec + 1;
		host_end = strchr(host_start, ']');
		if (!host_end || host_end[1] != ':')
			return -1;
		colon = host_end + 1;
	} else {
		colon = strrchr(spec, ':');
		if (!colon || memchr(spec, ':', (size_t)(colon - spec)))
			return -1; /* an IPv6 address needs brackets */
		host_end = colon;
	}
	if ((size_t)(host_end - host_start) >= host_cap || colon[1] == '\0')
		return -1;
	memcpy(host, host_start, (size_t)(host_end - host_start));
	host[host_end - host_start] = '\0';
	*port = colon + 1;
	return 0;
}

/* Resolves SPEC for a listening (PASSIVE) or connecting socket. */
static struct addrinfo *resolve(const char *spec, int passive)
{
	struct addrinfo hints, *res = NULL;
	char host[256];
	const char *port;
	int err;

	if (split_hostport(spec, host, sizeof(host), &port) < 0)
		return NULL;
	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV | (passive ? AI_PASSIVE : 0);
	err = getaddrinfo(host, port, &hints, &res);
	if (err != 0) {
		fprintf(stderr, "fake_socks: %s: %s\n", spec, gai_strerror(err));
		return NULL;
	}
	return res;
}

/* Binds and listens on SPEC; the backlog is large because tests open many
 * connections at once. */
static int open_listener(const char *spec)
{
	struct addrinfo *res = resolve(spec, 1), *ai;
	int fd = -1, one = 1;

	for (ai = res; ai; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
		if (fd < 0)
			continue;
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (ai->ai_family == AF_INET6)
			setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
		if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && listen(fd, SOMAXCONN) == 0)
			break;
		close(fd);
		fd = -1;
	}
	if (res)
		freeaddrinfo(res);
	return fd;
}

/* Connects to the relay target (the SMTP sink standing in for the onion MX). */
static int connect_to(const char *spec)
{
	struct addrinfo *res = resolve(spec, 0), *ai;
	int fd = -1;

	for (ai = res; ai; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
		if (fd < 0)
			continue;
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
			break;
		close(fd);
		fd = -1;
	}
	if (res)
		freeaddrinfo(res);
	return fd;
}

/* Every byte the client sent before the CONNECT reply, as the log's RAW line
 * shows it: escaped, with " | " where the client's next message had not
 * arrived yet when the previous one was read (a write of its own). */
static char raw_text[8192];
static size_t raw_len;

static void raw_append(const uint8_t *buf, size_t len);
static int bytes_waiting(int fd);

/* Marks a message boundary that is also a boundary between the client's
 * writes: called where nothing more can have come unless the client sent it
 * with what was read (before our answer, or between the messages of one
 * flight), so that the mark does not depend on timing. */
static void raw_boundary(int fd)
{
	if (raw_len && !bytes_waiting(fd) && raw_len + 4 < sizeof(raw_text)) {
		memcpy(raw_text + raw_len, " | ", 3);
		raw_len += 3;
		raw_text[raw_len] = '\0';
	}
}

/* Reads exactly LEN bytes: taking no more than each message needs is what lets
 * a client pipeline greeting, auth and request in one write. */
static int read_exact(int fd, void *buf, size_t len)
{
	size_t got = 0;
	ssize_t n;

	while (got < len) {
		n = read(fd, (char *)buf + got, len - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		raw_append((const uint8_t *)buf + got, (size_t)n);
		got += (size_t)n;
	}
	return 0;
}

/* Whether the client has already sent more than we have read. */
static int bytes_waiting(int fd)
{
	char c;

	return recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT) > 0;
}

/* Writes all of BUF, across short writes. */
static int write_all(int fd, const void *buf, size_t len)
{
	size_t done = 0;
	ssize_t n;

	while (done < len) {
		n = write(fd, (const char *)buf + done, len - done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		done += (size_t)n;
	}
	return 0;
}

/* Closes after our last answer without losing it: closing a socket with unread
 * input (a pipelined request we never read) sends a RST, which may destroy the
 * answer before the client reads it. So send FIN, drain for a while, then close. */
static void close_gently(int fd)
{
	char sink[4096];
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	int waited_ms = 0;

	shutdown(fd, SHUT_WR);
	while (waited_ms < 3000) {
		int r = poll(&pfd, 1, 100);
		if (r < 0 && errno != EINTR)
			break;
		if (r <= 0) {
			waited_ms += 100;
			continue;
		}
		if (read(fd, sink, sizeof(sink)) <= 0)
			break;
	}
	close(fd);
}

/* Waits for the client to go away, answering nothing (hang mode). */
static void drain_until_eof(int fd)
{
	char sink[4096];
	ssize_t n;

	for (;;) {
		n = read(fd, sink, sizeof(sink));
		if (n == 0 || (n < 0 && errno != EINTR))
			break;
	}
	close(fd);
}

/* Copies LEN raw bytes into OUT as one log-safe word: printable ASCII as is,
 * anything else (space, '\', control, 8-bit) as \xNN. */
static void escape_field(char *out, size_t cap, const uint8_t *in, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	size_t i, o = 0;

	for (i = 0; i < len && o + 4 < cap; i++) {
		if (in[i] > 0x20 && in[i] < 0x7f && in[i] != '\\') {
			out[o++] = (char)in[i];
		} else {
			out[o++] = '\\';
			out[o++] = 'x';
			out[o++] = hex[in[i] >> 4];
			out[o++] = hex[in[i] & 15];
		}
	}
	out[o] = '\0';
}

static void raw_append(const uint8_t *buf, size_t len)
{
	if (raw_len + 4 * len + 1 < sizeof(raw_text)) {
		escape_field(raw_text + raw_len, sizeof(raw_text) - raw_len, buf, len);
		raw_len += strlen(raw_text + raw_len);
	}
}

/* Appends one line to the log with a single write on an O_APPEND descriptor,
 * so lines from concurrent connections never interleave. */
static void log_line(const char *fmt, ...)
{
	char line[4096];
	va_list ap;
	int len;

	if (log_fd < 0)
		return;
	va_start(ap, fmt);
	len = vsnprintf(line, sizeof(line) - 1, fmt, ap);
	va_end(ap);
	if (len < 0)
		return;
	if ((size_t)len > sizeof(line) - 2)
		len = (int)sizeof(line) - 2;
	line[len++] = '\n';
	if (write(log_fd, line, (size_t)len) < 0)
		perror("fake_socks: log");
}

/* Builds a CONNECT reply with CODE and a zero bound address and port, IPv4
 * (10 bytes) or IPv6 (22 bytes, as Tor sends for onion services). */
static size_t build_reply(uint8_t *out, int code, int bound_ipv6)
{
	size_t addr_len = bound_ipv6 ? 16 : 4;

	out[0] = 0x05;
	out[1] = (uint8_t)code;
	out[2] = 0x00;
	out[3] = bound_ipv6 ? 0x04 : 0x01;
	memset(out + 4, 0, addr_len + 2);
	return 4 + addr_len + 2;
}

/* Reads the greeting; returns the methods offered as a 256-entry set. */
static int read_greeting(int fd, uint8_t offered[256])
{
	uint8_t head[2], methods[255];
	int i;

	if (read_exact(fd, head, 2) < 0 || head[0] != 0x05)
		return -1;
	if (head[1] && read_exact(fd, methods, head[1]) < 0)
		return -1;
	memset(offered, 0, 256);
	for (i = 0; i < head[1]; i++)
		offered[methods[i]] = 1;
	return 0;
}

/* Reads the RFC 1929 sub-negotiation into REQ (any user/pass is fine). */
static int read_userpass(int fd, struct socks_request *req)
{
	uint8_t head[2], field[255], plen;

	if (read_exact(fd, head, 2) < 0 || head[0] != 0x01)
		return -1;
	if (read_exact(fd, field, head[1]) < 0)
		return -1;
	escape_field(req->user, sizeof(req->user), field, head[1]);
	if (read_exact(fd, &plen, 1) < 0 || read_exact(fd, field, plen) < 0)
		return -1;
	escape_field(req->pass, sizeof(req->pass), field, plen);
	req->authenticated = 1;
	return 0;
}

/* Reads the request (VER CMD RSV ATYP ADDR PORT); returns -1 on a broken
 * stream, 0 when parsed, or a SOCKS reply code to refuse it with. */
static int read_request(int fd, struct socks_request *req)
{
	uint8_t head[4], addr[255], port[2], len;
	int family;

	if (req->authenticated)
		raw_boundary(fd); /* credentials and CONNECT: one write or two */
	if (read_exact(fd, head, 4) < 0 || head[0] != 0x05)
		return -1;
	req->command = head[1];
	req->atyp = head[3];
	switch (head[3]) {
	case 0x01:
	case 0x04:
		family = head[3] == 0x01 ? AF_INET : AF_INET6;
		if (read_exact(fd, addr, family == AF_INET ? 4 : 16) < 0)
			return -1;
		inet_ntop(family, addr, req->host, sizeof(req->host));
		break;
	case 0x03:
		if (read_exact(fd, &len, 1) < 0 || read_exact(fd, addr, len) < 0)
			return -1;
		escape_field(req->host, sizeof(req->host), addr, len);
		break;
	default:
		return 0x08; /* address type not supported: length unknown, stop here */
	}
	if (read_exact(fd, port, 2) < 0)
		return -1;
	req->port = (unsigned)port[0] << 8 | port[1];
	return head[1] == 0x01 ? 0 : 0x07;
}

/* Sends BUF one byte per second (slow mode), to exercise partial reads. */
static int write_slowly(int fd, const uint8_t *buf, size_t len)
{
	struct timespec second = { .tv_sec = 1 };
	int one = 1;
	size_t i;

	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	for (i = 0; i < len; i++) {
		if (i > 0)
			nanosleep(&second, NULL);
		if (write_all(fd, buf + i, 1) < 0)
			return -1;
	}
	return 0;
}

/* Copies bytes both ways until both directions are finished. Like Tor, which
 * has no half-closed streams, an EOF from the client ends the whole stream at
 * once (what the server still sends is lost); an EOF from the server is passed
 * on as a half-close. An error on either side ends it all. */
static void splice_both_ways(int client_fd, int target_fd)
{
	int fds[2] = { client_fd, target_fd };
	int reading[2] = { 1, 1 };
	struct pollfd pfd[2];
	char buf[16384];
	ssize_t n;
	int i;

	while (reading[0] || reading[1]) {
		for (i = 0; i < 2; i++) {
			pfd[i].fd = reading[i] ? fds[i] : -1;
			pfd[i].events = POLLIN;
			pfd[i].revents = 0;
		}
		if (poll(pfd, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		for (i = 0; i < 2; i++) {
			if (!(pfd[i].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			n = read(fds[i], buf, sizeof(buf));
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0)
				goto done;
			if (n == 0) {
				if (i == 0)
					goto done; /* the client's FIN: Tor ends the stream */
				reading[i] = 0;
				shutdown(fds[1 - i], SHUT_WR);
				continue;
			}
			if (write_all(fds[1 - i], buf, (size_t)n) < 0)
				goto done;
		}
	}
done:
	close(client_fd);
	close(target_fd);
}

/* Serves one client connection according to the mode; runs in its own process. */
static void serve_client(int fd, const struct options *opt)
{
	static const char garbage[] = "HTTP/1.0 400\r\n";
	struct socks_request req;
	uint8_t offered[256], answer[2], reply[22];
	size_t reply_len;
	int method, refusal, target_fd, code;

	log_line("ACCEPT"); /* every connection, answered or not */

	memset(&req, 0, sizeof(req));
	if (read_greeting(fd, offered) < 0) {
		close_gently(fd);
		return;
	}
	switch (opt->mode) {
	case MODE_HANG:
		drain_until_eof(fd);
		return;
	case MODE_CLOSE:
		close_gently(fd);
		return;
	case MODE_NOAUTH:
		write_all(fd, "\x05\xff", 2);
		close_gently(fd);
		return;
	case MODE_GARBLE:
		write_all(fd, garbage, sizeof(garbage) - 1);
		close_gently(fd);
		return;
	default:
		break;
	}

	if (offered[0x02])
		method = 0x02;
	else if (offered[0x00] && opt->mode != MODE_AUTHFAIL)
		method = 0x00;
	else
		method = 0xff;
	answer[0] = 0x05;
	answer[1] = (uint8_t)method;
	/* Like Tor 0.4.9, which parses every message in its buffer before it
	 * answers: when the authentication arrived with the greeting, the method
	 * choice is never sent, only the authentication status. */
	/* Before our answer: whether the client waits for it (a write ends here). */
	raw_boundary(fd);
	if (method == 0x02 && bytes_waiting(fd)) {
		log_line("NOTE greeting and authentication arrived together: method reply dropped, as Tor does");
	} else if (write_all(fd, answer, 2) < 0 || method == 0xff) {
		close_gently(fd);
		return;
	}
	if (method == 0x02) {
		if (read_userpass(fd, &req) < 0) {
			close_gently(fd);
			return;
		}
		if (opt->mode == MODE_AUTHFAIL) {
			write_all(fd, "\x01\x01", 2);
			close_gently(fd);
			return;
		}
		if (write_all(fd, "\x01\x00", 2) < 0) {
			close(fd);
			return;
		}
	}

	refusal = read_request(fd, &req);
	if (refusal < 0) {
		close_gently(fd);
		return;
	}
	if (refusal > 0) {
		reply_len = build_reply(reply, refusal, 0);
		write_all(fd, reply, reply_len);
		close_gently(fd);
		return;
	}
	log_line("CONNECT host=%s port=%u atyp=%d user=%s pass=%s", req.host, req.port,
		 req.atyp, req.authenticated ? req.user : "-",
		 req.authenticated ? req.pass : "-");
	log_line("RAW %s", raw_text);

	switch (opt->mode) {
	case MODE_REFUSE:
	case MODE_EXTENDED:
		code = opt->code >= 0 ? opt->code : opt->mode == MODE_REFUSE ? 0x01 : 0xF0;
		reply_len = build_reply(reply, code, 0);
		write_all(fd, reply, reply_len);
		close_gently(fd);
		return;
	case MODE_BADATYP:
		reply_len = build_reply(reply, 0x00, 0);
		reply[3] = 0x09;
		write_all(fd, reply, reply_len);
		close_gently(fd);
		return;
	default:
		break;
	}

	/* relay and slow */
	target_fd = connect_to(opt->relay_spec);
	if (target_fd < 0) {
		reply_len = build_reply(reply, 0x05, 0);
		write_all(fd, reply, reply_len);
		close_gently(fd);
		return;
	}
	reply_len = build_reply(reply, 0x00, opt->bound_ipv6);
	if (opt->mode == MODE_SLOW ? write_slowly(fd, reply, reply_len) < 0
				   : write_all(fd, reply, reply_len) < 0) {
		close(fd);
		close(target_fd);
		return;
	}
	splice_both_ways(fd, target_fd);
}

/* Writes the pid file under a temporary name and renames it, so a test polling
 * for it never reads it half-written. */
static int write_pidfile(const char *path, pid_t pid)
{
	char tmp[4096], text[32];
	int fd, len, ok;

	snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)pid);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return -1;
	len = snprintf(text, sizeof(text), "%ld\n", (long)pid);
	ok = write_all(fd, text, (size_t)len) == 0;
	ok = close(fd) == 0 && ok;
	if (!ok || rename(tmp, path) < 0) {
		unlink(tmp);
		return -1;
	}
	return 0;
}

/* Detaches from the caller (new session, stdio on /dev/null so no test harness
 * waits on our pipes) and returns in the daemon. The caller's process exits
 * only once the pid file exists, so its exit status says whether we started. */
static void daemonize(const char *path)
{
	int ready[2], null_fd;
	char byte;
	pid_t pid;

	if (pipe2(ready, O_CLOEXEC) < 0)
		die("pipe: %s", strerror(errno));
	pid = fork();
	if (pid < 0)
		die("fork: %s", strerror(errno));
	if (pid > 0) {
		close(ready[1]);
		_exit(read(ready[0], &byte, 1) == 1 ? 0 : 1);
	}
	close(ready[0]);
	setsid();
	daemon_pid = getpid();
	if (write_pidfile(path, daemon_pid) < 0)
		die("%s: %s", path, strerror(errno));
	null_fd = open("/dev/null", O_RDWR);
	if (null_fd >= 0) {
		dup2(null_fd, 0);
		dup2(null_fd, 1);
		dup2(null_fd, 2);
		if (null_fd > 2)
			close(null_fd);
	}
	if (write(ready[1], "1", 1) != 1)
		_exit(1);
	close(ready[1]);
}

/* Sets up a freshly forked connection process: default signals, and death
 * with the server so that hang and relay children never outlive a test. */
static void become_connection_child(pid_t server_pid)
{
	signal(SIGTERM, SIG_DFL);
	signal(SIGINT, SIG_DFL);
	signal(SIGCHLD, SIG_DFL);
	prctl(PR_SET_PDEATHSIG, SIGTERM);
	if (getppid() != server_pid)
		_exit(0); /* the server died before prctl took effect */
}

/* Parses the command line into OPT, exiting with usage on any mistake. */
static void parse_options(int argc, char **argv, struct options *opt)
{
	char *end;
	size_t i;
	int c, found;

	memset(opt, 0, sizeof(*opt));
	opt->code = -1;
	opt->mode = MODE_RELAY;
	found = 0;
	while ((c = getopt(argc, argv, "l:6m:r:L:p:c:")) != -1) {
		switch (c) {
		case 'l': opt->listen_spec = optarg; break;
		case '6': opt->bound_ipv6 = 1; break;
		case 'r': opt->relay_spec = optarg; break;
		case 'L': opt->log_path = optarg; break;
		case 'p': opt->pid_path = optarg; break;
		case 'c':
			errno = 0;
			opt->code = (int)strtol(optarg, &end, 0);
			if (errno || *end || end == optarg || opt->code < 0 || opt->code > 255)
				usage();
			break;
		case 'm':
			for (i = 0; i < sizeof(mode_names) / sizeof(mode_names[0]); i++) {
				if (strcmp(optarg, mode_names[i]) == 0) {
					opt->mode = (enum mode)i;
					found = 1;
				}
			}
			if (!found)
				usage();
			break;
		default:
			usage();
		}
	}
	if (optind != argc || !opt->listen_spec || !found)
		usage();
	if ((opt->mode == MODE_RELAY || opt->mode == MODE_SLOW) && !opt->relay_spec)
		die("mode %s needs -r HOST:PORT", mode_names[opt->mode]);
}

int main(int argc, char **argv)
{
	struct options opt;
	struct sigaction sa;
	int listen_fd, client_fd;
	pid_t server_pid, child;

	parse_options(argc, argv, &opt);

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_terminate;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);

	if (opt.log_path) {
		log_fd = open(opt.log_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
		if (log_fd < 0)
			die("%s: %s", opt.log_path, strerror(errno));
	}
	listen_fd = open_listener(opt.listen_spec);
	if (listen_fd < 0)
		die("cannot listen on %s: %s", opt.listen_spec, strerror(errno));
	if (opt.pid_path) {
		pid_path = opt.pid_path;
		daemonize(opt.pid_path);
	}

	/* Reap connection children automatically. */
	sa.sa_handler = SIG_IGN;
	sa.sa_flags = SA_NOCLDWAIT;
	sigaction(SIGCHLD, &sa, NULL);

	server_pid = getpid();
	for (;;) {
		client_fd = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC);
		if (client_fd < 0) {
			if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
			    errno == ENOMEM)
				usleep(10000);
			continue;
		}
		child = fork();
		if (child == 0) {
			close(listen_fd);
			become_connection_child(server_pid);
			serve_client(client_fd, &opt);
			_exit(0);
		}
		close(client_fd);
	}
}
