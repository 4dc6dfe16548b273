/* client: the measured loops of `make bench`. Each run does one kind of call N
 * times in one process and prints the mean wall time per call in nanoseconds
 * ("ns_per_op N") and the process's CPU time (user + system) per call
 * ("cpu_ns_per_op N"), timing only the loop (not process start-up). Any failed call
 * aborts with exit status 1, so a variant that does not work cannot look fast.
 *
 *   client onion NAME PORT N       getaddrinfo(NAME) + socket + connect + close:
 *                                  through whatever library is preloaded
 *   client bound HOST:PORT N [USER PASS] NAME
 *                                  the lower bound for that: socket, connect to
 *                                  the SOCKS server, greeting (+ RFC 1929) +
 *                                  CONNECT for NAME:25 in ONE write, read exactly
 *                                  the replies, close
 *   client bound2 HOST:PORT N USER PASS NAME
 *                                  the same with the greeting sent alone first and
 *                                  RFC 1929 + CONNECT once the method reply is in
 *                                  (what a client must do for Tor 0.4.9 to answer
 *                                  with username/password isolation)
 *   client connect HOST:PORT N     socket + connect + close (passthrough)
 *   client res NAME N              res_search(NAME, IN, A) (passthrough)
 *   client write KIND N            write/send/sendmsg/sendmmsg/sendto on no DNS socket (passthrough)
 *   client mx NAME N               res_search(NAME, IN, MX): DNS, the map or
 *                                  discovery answers (res and mx: the server in
 *                                  $BENCH_NS, an IPv4 address, if set)
 *   client rss                     prints Private_Clean+Private_Dirty (KiB) of
 *                                  this process from /proc/self/smaps_rollup,
 *                                  and Anonymous (the memory only it holds:
 *                                  its copied-on-write and anonymous pages;
 *                                  the others are page cache, dirty too when
 *                                  the file was just written, as a library
 *                                  just built is), and VmPTE from
 *                                  /proc/self/status (its page tables: kernel
 *                                  memory of this process alone, a page for
 *                                  each 2 MiB range it maps pages in)
 *                                  after one onion lookup (NAME in $BENCH_ONION)
 *   client idle                    the same lookup, then sleeps until killed (a
 *                                  sibling that keeps the shared pages shared)
 *
 * No shim code is linked in: the client is what an unmodified program does. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <resolv.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "addr.h"

static double now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static void fail(const char *what, int i)
{
	fprintf(stderr, "client: %s failed at call %d: %s\n", what, i, strerror(errno));
	exit(1);
}

static double cpu_ns(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return ((double)ru.ru_utime.tv_sec + (double)ru.ru_stime.tv_sec) * 1e9 +
	       ((double)ru.ru_utime.tv_usec + (double)ru.ru_stime.tv_usec) * 1e3;
}

static double cpu0;

/* Marks the start of the timed loop; returns the wall clock. */
static double start(void)
{
	cpu0 = cpu_ns();
	return now_ns();
}

static void report(double t0, long n)
{
	double wall = now_ns() - t0, cpu = cpu_ns() - cpu0;

	if (n > 0)
		printf("ns_per_op %.1f\ncpu_ns_per_op %.1f\n", wall / (double)n, cpu / (double)n);
}

static int do_onion(const char *name, const char *port, long n)
{
	struct addrinfo hints = { .ai_family = AF_INET, .ai_socktype = SOCK_STREAM };
	double t0 = start();

	for (long i = 0; i < n; i++) {
		struct addrinfo *ai;
		int fd, rc = getaddrinfo(name, port, &hints, &ai);

		if (rc != 0) {
			fprintf(stderr, "client: getaddrinfo %s: %s\n", name, gai_strerror(rc));
			return 1;
		}
		fd = socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol);
		if (fd < 0)
			fail("socket", (int)i);
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) != 0)
			fail("connect", (int)i);
		freeaddrinfo(ai);
		close(fd);
	}
	report(t0, n);
	return 0;
}

/* Greeting, optional RFC 1929 and CONNECT (address type 3) in one buffer. */
static size_t flight(uint8_t *b, const char *user, const char *pass, const char *host)
{
	size_t n = 0, l;

	b[n++] = 5;
	b[n++] = 1;
	b[n++] = user ? 2 : 0;
	if (user) {
		b[n++] = 1;
		b[n++] = (uint8_t)(l = strlen(user));
		memcpy(b + n, user, l);
		n += l;
		b[n++] = (uint8_t)(l = strlen(pass));
		memcpy(b + n, pass, l);
		n += l;
	}
	b[n++] = 5;
	b[n++] = 1;
	b[n++] = 0;
	b[n++] = 3;
	b[n++] = (uint8_t)(l = strlen(host));
	memcpy(b + n, host, l);
	n += l;
	b[n++] = 0;
	b[n++] = 25;
	return n;
}

static void read_exactly(int fd, uint8_t *buf, size_t want, int i)
{
	size_t have = 0;

	while (have < want) {
		ssize_t r = read(fd, buf + have, want - have);
		if (r <= 0)
			fail("read", i);
		have += (size_t)r;
	}
}

/* GREETING_FIRST: send the 3-byte greeting alone, wait for the method reply,
 * then the rest of the flight. */
static int do_bound(const char *spec, long n, const char *user, const char *pass,
		    const char *host, int greeting_first)
{
	struct sockaddr_in sin;
	uint8_t req[1024], rep[64];
	size_t len, want = 2 + (user ? 2 : 0) + 10;
	double t0;

	if (parse_addr(spec, &sin) != 0)
		return 2;
	len = flight(req, user, pass, host);
	t0 = start();
	for (long i = 0; i < n; i++) {
		size_t have = 0;
		int fd = socket(AF_INET, SOCK_STREAM, 0);

		if (fd < 0)
			fail("socket", (int)i);
		if (connect(fd, (struct sockaddr *)&sin, sizeof(sin)) != 0)
			fail("connect", (int)i);
		if (greeting_first) {
			if (write(fd, req, 3) != 3)
				fail("write", (int)i);
			read_exactly(fd, rep, 2, (int)i);
			if (write(fd, req + 3, len - 3) != (ssize_t)(len - 3))
				fail("write", (int)i);
			have = 2;
		} else if (write(fd, req, len) != (ssize_t)len) {
			fail("write", (int)i);
		}
		while (have < want) {
			ssize_t r = read(fd, rep + have, want - have);
			if (r <= 0)
				fail("read", (int)i);
			have += (size_t)r;
		}
		if (rep[0] != 5 || rep[want - 9] != 0)
			fail("SOCKS reply", (int)i);
		close(fd);
	}
	report(t0, n);
	return 0;
}

static int do_connect(const char *spec, long n)
{
	struct sockaddr_in sin;
	double t0;

	if (parse_addr(spec, &sin) != 0)
		return 2;
	t0 = start();
	for (long i = 0; i < n; i++) {
		int fd = socket(AF_INET, SOCK_STREAM, 0);

		if (fd < 0)
			fail("socket", (int)i);
		if (connect(fd, (struct sockaddr *)&sin, sizeof(sin)) != 0)
			fail("connect", (int)i);
		close(fd);
	}
	report(t0, n);
	return 0;
}

/* KIND N times on a descriptor that is no DNS socket: "file" write() to a
 * regular file (an MTA's queue files); "write", "send", "sendmsg", "sendmmsg",
 * "sendto" on a UDP socket connected to (sendto: addressed to) the discard
 * port. Nothing is read back: only the hooks' passthrough cost matters. */
static int do_write(const char *kind, long n)
{
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons(9),
				   .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	char buf[32] = "not a DNS query";
	struct iovec v = { buf, sizeof(buf) };
	struct mmsghdr mm = { .msg_hdr = { .msg_iov = &v, .msg_iovlen = 1 } };
	int fd;
	double t0;

	if (strcmp(kind, "file") == 0) {
		char path[] = "/tmp/onionmx-bench-XXXXXX";
		fd = mkstemp(path);
		if (fd >= 0)
			unlink(path);
	} else {
		fd = socket(AF_INET, SOCK_DGRAM, 0);
		if (fd >= 0 && strcmp(kind, "sendto") != 0 && connect(fd, (struct sockaddr *)&sin, sizeof(sin)) != 0)
			fail("connect", 0);
	}
	if (fd < 0)
		fail("open", 0);
	t0 = start();
	for (long i = 0; i < n; i++) {
		ssize_t r = 0;
		if (strcmp(kind, "file") == 0 || strcmp(kind, "write") == 0)
			r = write(fd, buf, sizeof(buf));
		else if (strcmp(kind, "send") == 0)
			r = send(fd, buf, sizeof(buf), 0);
		else if (strcmp(kind, "sendmsg") == 0)
			r = sendmsg(fd, &mm.msg_hdr, 0);
		else if (strcmp(kind, "sendmmsg") == 0)
			r = sendmmsg(fd, &mm, 1, 0);
		else
			r = sendto(fd, buf, sizeof(buf), 0, (struct sockaddr *)&sin, sizeof(sin));
		(void)r; /* ECONNREFUSED from the discard port is as cheap a return as any */
	}
	report(t0, n);
	close(fd);
	return 0;
}

/* res_search(NAME, IN, TYPE) N times; each must bring an answer (from DNS, the
 * map or discovery). */
static int do_query(const char *name, int type, long n)
{
	unsigned char ans[1024];
	double t0;

	res_init();
	if (getenv("BENCH_NS")) {
		/* Another server than resolv.conf's (the bench's dnsmasq). */
		struct sockaddr_in *ns = &_res.nsaddr_list[0];

		memset(ns, 0, sizeof(*ns));
		ns->sin_family = AF_INET;
		ns->sin_port = htons(53);
		if (inet_pton(AF_INET, getenv("BENCH_NS"), &ns->sin_addr) != 1)
			fail("BENCH_NS", 0);
		_res.nscount = 1;
	}
	t0 = start();
	for (long i = 0; i < n; i++)
		if (res_search(name, C_IN, type, ans, sizeof(ans)) <= 0)
			fail("res_search", (int)i);
	report(t0, n);
	return 0;
}

static void lookup_onion(void)
{
	struct addrinfo hints = { .ai_family = AF_INET, .ai_socktype = SOCK_STREAM }, *ai;
	const char *onion = getenv("BENCH_ONION");

	if (onion && getaddrinfo(onion, "25", &hints, &ai) == 0)
		freeaddrinfo(ai);
}

static int do_rss(void)
{
	char line[256];
	long kib = 0, anon_kib = 0, v;
	FILE *f;

	lookup_onion();
	f = fopen("/proc/self/smaps_rollup", "r");
	if (!f)
		return 1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "Private_Clean: %ld kB", &v) == 1 ||
		    sscanf(line, "Private_Dirty: %ld kB", &v) == 1)
			kib += v;
		else if (sscanf(line, "Anonymous: %ld kB", &v) == 1)
			anon_kib = v;
	fclose(f);
	printf("private_kib %ld\nanonymous_kib %ld\n", kib, anon_kib);
	f = fopen("/proc/self/status", "r");
	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "VmPTE: %ld kB", &v) == 1)
			printf("pte_kib %ld\n", v);
	if (f)
		fclose(f);
	if (getenv("BENCH_SMAPS")) {
		/* Every mapping's private KiB, to see where an increase comes from. */
		char name[512] = "";
		long clean = 0, dirty = 0;

		f = fopen("/proc/self/smaps", "r");
		while (f && fgets(line, sizeof(line), f)) {
			char path[400];
			unsigned long lo, hi;

			if (sscanf(line, "%lx-%lx", &lo, &hi) == 2 && strchr(line, ' ')) {
				if (clean + dirty)
					printf("map %ld %s\n", clean + dirty, name);
				clean = dirty = 0;
				path[0] = '\0';
				sscanf(line, "%*s %*s %*s %*s %*s %399s", path);
				snprintf(name, sizeof(name), "%s", path[0] ? path : "[anon]");
			} else if (sscanf(line, "Private_Clean: %ld kB", &v) == 1) {
				clean = v;
			} else if (sscanf(line, "Private_Dirty: %ld kB", &v) == 1) {
				dirty = v;
			}
		}
		if (clean + dirty)
			printf("map %ld %s\n", clean + dirty, name);
		if (f)
			fclose(f);
	}
	return 0;
}

int main(int argc, char **argv)
{
	if (argc >= 5 && strcmp(argv[1], "onion") == 0)
		return do_onion(argv[2], argv[3], atol(argv[4]));
	if (argc == 5 && strcmp(argv[1], "bound") == 0)
		return do_bound(argv[2], atol(argv[3]), NULL, NULL, argv[4], 0);
	if (argc == 7 && strcmp(argv[1], "bound") == 0)
		return do_bound(argv[2], atol(argv[3]), argv[4], argv[5], argv[6], 0);
	if (argc == 7 && strcmp(argv[1], "bound2") == 0)
		return do_bound(argv[2], atol(argv[3]), argv[4], argv[5], argv[6], 1);
	if (argc == 4 && strcmp(argv[1], "connect") == 0)
		return do_connect(argv[2], atol(argv[3]));
	if (argc == 4 && strcmp(argv[1], "write") == 0)
		return do_write(argv[2], atol(argv[3]));
	if (argc == 4 && strcmp(argv[1], "res") == 0)
		return do_query(argv[2], T_A, atol(argv[3]));
	if (argc == 4 && strcmp(argv[1], "mx") == 0)
		return do_query(argv[2], T_MX, atol(argv[3]));
	if (argc == 2 && strcmp(argv[1], "rss") == 0)
		return do_rss();
	if (argc == 2 && strcmp(argv[1], "idle") == 0) {
		lookup_onion();
		pause();
		return 0;
	}
	fprintf(stderr, "usage: see the comment at the top of tests/bench/client.c\n");
	return 2;
}
