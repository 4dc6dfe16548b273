/* known_tcp_probe MODE HOST PORT: resolves HOST (AF_INET), connects to it on a
 * socket made as MODE says, and prints "fd N" and "connect: ok" or
 * "connect: ERRNO-NAME after S.SSSs":
 *   socket    socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), as MTAs make them
 *   syscall   syscall(SYS_socket, ...): made where an LD_PRELOAD library cannot see
 *   stale     socket() makes a TCP socket, close() frees its number, and
 *             syscall(SYS_socket) takes the number for a UDP socket ("same
 *             number: yes"): the library saw a TCP socket made there last
 *   stale-dup the same with dup2() of a UDP socket onto the number
 *   accept    socket() makes a TCP socket, close() frees its number, and accept()
 *             takes it for a connection from a socket on 127.0.0.1 ("same number:
 *             yes"; the connect() then answers EISCONN: it is connected)
 * (tests/integ/known_tcp.sh). */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	struct addrinfo hints = { .ai_family = AF_INET, .ai_socktype = SOCK_STREAM }, *res;
	const char *mode;
	double start;
	int fd, rc;

	if (argc != 4) {
		fprintf(stderr, "usage: known_tcp_probe socket|syscall|stale|stale-dup|accept HOST PORT\n");
		return 2;
	}
	mode = argv[1];
	if ((rc = getaddrinfo(argv[2], argv[3], &hints, &res)) != 0) {
		printf("resolve: %s\n", gai_strerror(rc));
		return 1;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (strcmp(mode, "socket") == 0) {
		fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	} else if (strcmp(mode, "syscall") == 0) {
		fd = (int)syscall(SYS_socket, AF_INET, SOCK_STREAM, 0);
	} else if (strcmp(mode, "stale") == 0 || strcmp(mode, "stale-dup") == 0) {
		int tcp = socket(AF_INET, SOCK_STREAM, 0), udp = -1;

		if (strcmp(mode, "stale-dup") == 0)
			udp = (int)syscall(SYS_socket, AF_INET, SOCK_DGRAM, 0);
		close(tcp);
		if (udp < 0) {
			fd = (int)syscall(SYS_socket, AF_INET, SOCK_DGRAM, 0);
		} else {
			fd = dup2(udp, tcp);
			close(udp);
		}
		printf("same number: %s\n", fd == tcp ? "yes" : "no");
	} else if (strcmp(mode, "accept") == 0) {
		struct sockaddr_in at = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
		socklen_t alen = sizeof(at);
		int l = socket(AF_INET, SOCK_STREAM, 0), c, tcp;

		if (bind(l, (struct sockaddr *)&at, sizeof(at)) != 0 || listen(l, 1) != 0 ||
		    getsockname(l, (struct sockaddr *)&at, &alen) != 0) {
			printf("listen: %s\n", strerror(errno));
			return 1;
		}
		c = (int)syscall(SYS_socket, AF_INET, SOCK_STREAM, 0);
		if (c < 0 || connect(c, (struct sockaddr *)&at, sizeof(at)) != 0) {
			printf("client: %s\n", strerror(errno));
			return 1;
		}
		tcp = socket(AF_INET, SOCK_STREAM, 0);
		close(tcp);
		fd = accept(l, NULL, NULL);
		printf("same number: %s\n", fd == tcp ? "yes" : "no");
	} else {
		fprintf(stderr, "known_tcp_probe: unknown mode %s\n", mode);
		return 2;
	}
	if (fd < 0) {
		printf("socket: %s\n", strerror(errno));
		return 1;
	}
	printf("fd %d\n", fd);
	start = now();
	rc = connect(fd, res->ai_addr, res->ai_addrlen);
	if (rc == 0)
		printf("connect: ok\n");
	else
		printf("connect: %s after %.3fs\n", errno == ENETUNREACH ? "ENETUNREACH"
					: errno == ETIMEDOUT ? "ETIMEDOUT" : errno == EISCONN ? "EISCONN"
					: strerror(errno), now() - start);
	freeaddrinfo(res);
	return rc == 0 ? 0 : 1;
}
