/* responder: the servers `make bench` talks to, in one single-threaded epoll loop
 * so that every client variant meets exactly the same, immediate peer:
 *
 *   -s HOST:PORT   a SOCKS5 server that answers at once: method (0x02 if offered,
 *                  else 0x00), RFC 1929 status 0, CONNECT succeeded (IPv4 bound
 *                  address). Whatever has arrived is answered in one write, so a
 *                  pipelined client gets all its replies in one segment.
 *   -t HOST:PORT   a TCP listener that accepts and closes (passthrough connect).
 *   -d HOST:PORT   a UDP DNS server: every A question gets 127.0.0.30, every MX
 *                  question the name itself as its MX (preference 10), the SRV
 *                  question _onion-mx._tcp.srv.* the onion given with -o (0 5 25),
 *                  every other question an empty NOERROR answer.
 *   -o LABEL       the onion (56 characters, no ".onion") for those SRV answers.
 *   -p PIDFILE     daemonize; written once every socket listens.
 *
 * Loopback only, never anything else: the bench runs it in a private network
 * namespace. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "addr.h"

#define MAX_FDS 65536

enum { K_NONE, K_SOCKS_LISTEN, K_SINK_LISTEN, K_DNS, K_SOCKS };
enum { S_GREETING, S_AUTH, S_REQUEST, S_DONE };

struct conn {
	uint8_t kind, state;
	uint16_t have;
	uint8_t buf[1024];
};

static struct conn *conns[MAX_FDS];
static uint8_t kinds[MAX_FDS];
static int ep;

static void die(const char *what)
{
	fprintf(stderr, "responder: %s: %s\n", what, strerror(errno));
	exit(1);
}

static void watch(int fd, int kind)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.fd = fd };

	if (fd >= MAX_FDS) {
		close(fd);
		return;
	}
	kinds[fd] = (uint8_t)kind;
	if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) != 0)
		die("epoll_ctl");
}

static int listen_on(const char *spec, int type)
{
	struct sockaddr_in sin;
	int one = 1, fd;

	if (parse_addr(spec, &sin) != 0) {
		fprintf(stderr, "responder: bad address %s\n", spec);
		exit(2);
	}
	fd = socket(AF_INET, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		die("socket");
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&sin, sizeof(sin)) != 0)
		die(spec);
	if (type == SOCK_STREAM && listen(fd, 4096) != 0)
		die("listen");
	return fd;
}

static void drop(int fd)
{
	free(conns[fd]);
	conns[fd] = NULL;
	kinds[fd] = K_NONE;
	close(fd); /* also removes it from the epoll set */
}

/* Consumes every complete SOCKS message in C's buffer, appending the replies to
 * OUT. Returns the reply length, or -1 to drop a garbled client. */
static int socks_step(struct conn *c, uint8_t *out)
{
	size_t pos = 0, n = 0;

	for (;;) {
		const uint8_t *p = c->buf + pos;
		size_t left = c->have - pos;

		if (c->state == S_GREETING) {
			int none = 0, userpass = 0;

			if (left < 2 || left < 2u + p[1])
				break;
			if (p[0] != 5)
				return -1;
			for (size_t i = 0; i < p[1]; i++) {
				none |= p[2 + i] == 0x00;
				userpass |= p[2 + i] == 0x02;
			}
			out[n++] = 5;
			out[n++] = userpass ? 0x02 : none ? 0x00 : 0xff;
			if (!userpass && !none)
				return (int)n;
			c->state = userpass ? S_AUTH : S_REQUEST;
			pos += 2u + p[1];
		} else if (c->state == S_AUTH) {
			size_t ulen, plen;

			if (left < 2)
				break;
			ulen = p[1];
			if (left < 3 + ulen)
				break;
			plen = p[2 + ulen];
			if (left < 3 + ulen + plen)
				break;
			out[n++] = 1;
			out[n++] = 0;
			c->state = S_REQUEST;
			pos += 3 + ulen + plen;
		} else if (c->state == S_REQUEST) {
			size_t alen;

			if (left < 5)
				break;
			if (p[0] != 5)
				return -1;
			alen = p[3] == 1 ? 4 : p[3] == 4 ? 16 : p[3] == 3 ? 1u + p[4] : 0;
			if (!alen)
				return -1;
			if (left < 4 + alen + 2)
				break;
			static const uint8_t ok[10] = { 5, 0, 0, 1, 0, 0, 0, 0, 0, 0 };
			memcpy(out + n, ok, sizeof(ok));
			n += sizeof(ok);
			c->state = S_DONE;
			pos += 4 + alen + 2;
		} else {
			pos = c->have; /* after the handshake: discard */
			break;
		}
	}
	memmove(c->buf, c->buf + pos, c->have - pos);
	c->have = (uint16_t)(c->have - pos);
	return (int)n;
}

static void socks_readable(int fd)
{
	struct conn *c = conns[fd];
	uint8_t out[64];
	ssize_t r;
	int n;

	r = read(fd, c->buf + c->have, sizeof(c->buf) - c->have);
	if (r <= 0) {
		if (r < 0 && errno == EAGAIN)
			return;
		drop(fd);
		return;
	}
	c->have = (uint16_t)(c->have + r);
	n = socks_step(c, out);
	if (n < 0 || (n > 0 && write(fd, out, (size_t)n) != n) || c->have == sizeof(c->buf))
		drop(fd);
}

static void accept_all(int lfd, int kind)
{
	int one = 1;

	for (;;) {
		int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd < 0)
			return;
		if (kind == K_SINK_LISTEN) {
			close(fd);
			continue;
		}
		if (fd >= MAX_FDS || !(conns[fd] = calloc(1, sizeof(struct conn)))) {
			close(fd);
			continue;
		}
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		watch(fd, K_SOCKS);
	}
}

static const char *srv_onion; /* -o */

/* Appends an answer record at the question name: TYPE, TTL 3600, RDATA. */
static size_t answer_rr(uint8_t *r, size_t len, uint16_t type, const uint8_t *rdata,
			size_t rdlen)
{
	const uint8_t head[] = { 0xc0, 0x0c, 0, (uint8_t)type, 0, 1, 0, 0, 0x0e, 0x10,
				 (uint8_t)(rdlen >> 8), (uint8_t)rdlen };

	memcpy(r + len, head, sizeof(head));
	memcpy(r + len + sizeof(head), rdata, rdlen);
	r[7] = 1; /* one answer */
	return len + sizeof(head) + rdlen;
}

/* Answers one DNS query: see the top of the file. */
static void dns_readable(int fd)
{
	static const uint8_t srv_name[] = "\x09_onion-mx\x04_tcp\x03srv";
	uint8_t q[512], r[700];
	struct sockaddr_storage from;
	socklen_t flen = sizeof(from);
	ssize_t n = recvfrom(fd, q, sizeof(q), 0, (struct sockaddr *)&from, &flen);
	size_t at = 12, len;
	uint16_t qtype;

	if (n < 12)
		return;
	while (at < (size_t)n && q[at] && !(q[at] & 0xc0))
		at += 1u + q[at];
	if (at + 5 > (size_t)n)
		return;
	qtype = (uint16_t)(q[at + 1] << 8 | q[at + 2]);
	len = at + 5; /* header + question */
	memcpy(r, q, len);
	r[2] = 0x80 | (q[2] & 0x01) | 0x04; /* QR, AA, RD echoed */
	r[3] = 0x80;                        /* RA, NOERROR */
	r[6] = r[7] = r[8] = r[9] = r[10] = r[11] = 0;
	if (qtype == 1) {
		static const uint8_t a[] = { 127, 0, 0, 30 };
		len = answer_rr(r, len, 1, a, sizeof(a));
	} else if (qtype == 15) {
		static const uint8_t mx[] = { 0, 10, 0xc0, 0x0c };
		len = answer_rr(r, len, 15, mx, sizeof(mx));
	} else if (qtype == 33 && srv_onion && memcmp(q + 12, srv_name, sizeof(srv_name) - 1) == 0) {
		uint8_t rd[6 + 1 + 56 + 1 + 5 + 1] = { 0, 0, 0, 5, 0, 25, 56 };
		memcpy(rd + 7, srv_onion, 56);
		memcpy(rd + 63, "\x05onion", 7); /* and the root label, already 0 */
		len = answer_rr(r, len, 33, rd, sizeof(rd));
	}
	sendto(fd, r, len, 0, (struct sockaddr *)&from, flen);
}

static void on_term(int sig)
{
	(void)sig;
	_exit(0);
}

int main(int argc, char **argv)
{
	const char *pidfile = NULL;
	struct epoll_event evs[256];
	int opt, dfd = -1;

	ep = epoll_create1(EPOLL_CLOEXEC);
	if (ep < 0)
		die("epoll_create1");
	while ((opt = getopt(argc, argv, "s:t:d:p:o:")) != -1) {
		switch (opt) {
		case 's':
			watch(listen_on(optarg, SOCK_STREAM), K_SOCKS_LISTEN);
			break;
		case 't':
			watch(listen_on(optarg, SOCK_STREAM), K_SINK_LISTEN);
			break;
		case 'd':
			dfd = listen_on(optarg, SOCK_DGRAM);
			watch(dfd, K_DNS);
			break;
		case 'p':
			pidfile = optarg;
			break;
		case 'o':
			if (strlen(optarg) != 56)
				die("-o: a 56-character onion label");
			srv_onion = optarg;
			break;
		default:
			fprintf(stderr, "usage: responder [-s SOCKS] [-t SINK] [-d DNS] [-o ONION] [-p PIDFILE]\n");
			return 2;
		}
	}
	signal(SIGTERM, on_term);
	signal(SIGPIPE, SIG_IGN);
	if (pidfile) {
		FILE *f;
		pid_t pid = fork();

		if (pid < 0)
			die("fork");
		if (pid > 0)
			return 0;
		setsid();
		if (!freopen("/dev/null", "r", stdin) || !freopen("/dev/null", "w", stdout))
			die("freopen");
		f = fopen(pidfile, "w");
		if (!f)
			die(pidfile);
		fprintf(f, "%d\n", (int)getpid());
		fclose(f);
	}
	for (;;) {
		int n = epoll_wait(ep, evs, 256, -1);

		for (int i = 0; i < n; i++) {
			int fd = evs[i].data.fd;

			switch (kinds[fd]) {
			case K_SOCKS_LISTEN:
			case K_SINK_LISTEN:
				accept_all(fd, kinds[fd]);
				break;
			case K_DNS:
				dns_readable(fd);
				break;
			case K_SOCKS:
				socks_readable(fd);
				break;
			}
		}
	}
}
