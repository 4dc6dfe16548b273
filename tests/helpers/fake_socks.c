/* fake_socks: a scriptable SOCKS5 server that stands in for Tor in integration
 * tests. One thread per connection; each CONNECT request is logged as one line
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
#include <pthread.h>
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

#include "server_common.h"

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
	struct server_options server; /* -l, -L, -p */
	const char *relay_spec;
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


/* Prints a usage message and exits: the tests call us with fixed arguments, so
 * any mistake is a bug in the test. */
static void usage(void)
{
	fprintf(stderr, "usage: fake_socks -l HOST:PORT -m MODE [-6] [-r HOST:PORT] "
		"[-L LOGFILE] [-p PIDFILE] [-c CODE]\n"
		"modes: relay refuse extended noauth authfail garble close hang slow badatyp\n");
	exit(2);
}

/* Every byte the client sent before the CONNECT reply, as the log's RAW line
 * shows it: escaped, with " | " where the client's next message had not
 * arrived yet when the previous one was read (a write of its own). */
static __thread char raw_text[8192];
static __thread size_t raw_len;

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

struct stream {
	int client_fd, target_fd;
};

/* Ends the whole stream: both sockets shut down, so that the other direction's
 * read() returns at once. */
static void end_stream(const struct stream *st)
{
	shutdown(st->client_fd, SHUT_RDWR);
	shutdown(st->target_fd, SHUT_RDWR);
}

/* The server's bytes to the client, until the server's EOF (passed on as a
 * half-close) or an error (which ends it all). */
static void *target_to_client(void *arg)
{
	const struct stream *st = arg;
	char buf[16384];

	for (;;) {
		ssize_t n = read(st->target_fd, buf, sizeof(buf));

		if (n < 0 && errno == EINTR)
			continue;
		if (n == 0) {
			shutdown(st->client_fd, SHUT_WR);
			return NULL;
		}
		if (n < 0 || write_all(st->client_fd, buf, (size_t)n) < 0) {
			end_stream(st);
			return NULL;
		}
	}
}

/* Copies bytes both ways until both directions are finished, each in a
 * thread of its own blocked in read() (a system call fewer per chunk than a
 * poll() loop). Like Tor, which has no half-closed streams, an EOF from the
 * client ends the whole stream at once (what the server still sends is lost);
 * an EOF from the server is passed on as a half-close. An error on either
 * side ends it all. */
static void splice_both_ways(int client_fd, int target_fd)
{
	struct stream st = { client_fd, target_fd };
	char buf[16384];
	pthread_t back;
	int both = pthread_create(&back, NULL, target_to_client, &st) == 0;

	if (!both) {
		close(client_fd);
		close(target_fd);
		return;
	}
	for (;;) {
		ssize_t n = read(client_fd, buf, sizeof(buf));

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0 || write_all(target_fd, buf, (size_t)n) < 0)
			break; /* the client's FIN (Tor ends the stream), or an error */
	}
	end_stream(&st);
	pthread_join(back, NULL);
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
	int method, refusal, target_fd, code, one = 1;

	log_line("ACCEPT"); /* every connection, answered or not */
	/* Tor's answers come far apart (the CONNECT reply a circuit build after
	 * the status, the onion's bytes a round trip over the circuit later), so
	 * each leaves at once, the client's delayed ACK long sent. Here they
	 * follow within microseconds: with Nagle on, the CONNECT reply and then
	 * the onion's banner would each wait for that ACK (40 ms), a cost of the
	 * stand-in, not of the client (tests/bench/mta.sh). */
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));

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
	setsockopt(target_fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)); /* each relayed write goes on at once */
	reply_len = build_reply(reply, 0x00, opt->bound_ipv6);
	if (opt->mode == MODE_SLOW ? write_slowly(fd, reply, reply_len) < 0
				   : write_all(fd, reply, reply_len) < 0) {
		close(fd);
		close(target_fd);
		return;
	}
	splice_both_ways(fd, target_fd);
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
		case '6': opt->bound_ipv6 = 1; break;
		case 'r': opt->relay_spec = optarg; break;
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
			if (!server_option(c, optarg, &opt->server))
				usage();
		}
	}
	if (optind != argc || !opt->server.listen_spec || !found)
		usage();
	if ((opt->mode == MODE_RELAY || opt->mode == MODE_SLOW) && !opt->relay_spec)
		die("mode %s needs -r HOST:PORT", mode_names[opt->mode]);
}

/* Serves one connection, in its own thread (no fork() and exit a connection:
 * Tor serves its SOCKS clients in one process too). */
static void serve_connection(int fd, const void *opt)
{
	serve_client(fd, opt);
}

int main(int argc, char **argv)
{
	struct options opt;

	server_name = "fake_socks";
	parse_options(argc, argv, &opt);
	server_run_threads(server_start(&opt.server), serve_connection, &opt);
}
