/* connect_probe [-n] [-f] [-2] [-6] [-i] [-q] HOST PORT: resolves HOST with getaddrinfo and
 * connects like an MTA: -n non-blocking then poll and SO_ERROR (Postfix), -f TCP
 * Fast Open sendto first (Exim), -2 a second connect() on the connected socket,
 * -6 an AF_INET6 socket with a v4-mapped address, -i a SIGALRM every 50 ms
 * with a handler installed without SA_RESTART (Exim's style), -q QUIT then
 * shutdown(SHUT_WR) before reading the reply (Exim's end of session). Prints the result, whether errno
 * survived a successful connect, getpeername, and the server's first line. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

static volatile sig_atomic_t alarms;

static void on_alarm(int sig)
{
	(void)sig;
	alarms++;
}

static const char *errno_name(int e)
{
	static const struct { int e; const char *name; } names[] = {
		{ ECONNREFUSED, "ECONNREFUSED" }, { ETIMEDOUT, "ETIMEDOUT" },
		{ EHOSTUNREACH, "EHOSTUNREACH" }, { ENETUNREACH, "ENETUNREACH" },
		{ EACCES, "EACCES" }, { EPROTO, "EPROTO" }, { ECONNRESET, "ECONNRESET" },
		{ EISCONN, "EISCONN" }, { EOPNOTSUPP, "EOPNOTSUPP" }, { EINPROGRESS, "EINPROGRESS" },
		{ EAFNOSUPPORT, "EAFNOSUPPORT" }, { EALREADY, "EALREADY" }, { EPIPE, "EPIPE" },
	};
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (names[i].e == e)
			return names[i].name;
	return strerror(e);
}

int main(int argc, char **argv)
{
	int nonblock = 0, fastopen = 0, twice = 0, inet6 = 0, interrupt = 0, halfclose = 0, opt, fd, rc;
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *res;
	struct sockaddr_storage peer;
	socklen_t plen = sizeof(peer);
	char line[512], text[INET6_ADDRSTRLEN];
	ssize_t n;

	while ((opt = getopt(argc, argv, "nf26iq")) != -1) {
		if (opt == 'n') nonblock = 1;
		else if (opt == 'f') fastopen = 1;
		else if (opt == '2') twice = 1;
		else if (opt == '6') inet6 = 1;
		else if (opt == 'i') interrupt = 1;
		else if (opt == 'q') halfclose = 1;
		else return 2;
	}
	if (optind + 2 != argc) {
		fprintf(stderr, "usage: connect_probe [-n] [-f] [-2] [-6] HOST PORT\n");
		return 2;
	}
	hints.ai_family = inet6 ? AF_INET6 : AF_INET;
	hints.ai_flags = inet6 ? AI_V4MAPPED : 0;
	rc = getaddrinfo(argv[optind], argv[optind + 1], &hints, &res);
	if (rc) {
		printf("resolve: %s\n", gai_strerror(rc));
		return 1;
	}
	fd = socket(res->ai_family, SOCK_STREAM, 0);
	if (fastopen) {
		errno = 0;
		rc = (int)sendto(fd, NULL, 0, MSG_FASTOPEN | MSG_DONTWAIT, res->ai_addr, res->ai_addrlen);
		printf("fastopen: %s\n", rc == 0 ? "ok" : errno_name(errno));
	}
	if (nonblock)
		fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	if (interrupt) {
		struct sigaction sa = { .sa_handler = on_alarm }; /* no SA_RESTART */
		struct itimerval every = { { 0, 50000 }, { 0, 50000 } };
		sigaction(SIGALRM, &sa, NULL);
		setitimer(ITIMER_REAL, &every, NULL);
	}
	errno = 4242;
	rc = connect(fd, res->ai_addr, res->ai_addrlen);
	if (interrupt) {
		struct itimerval off = { { 0, 0 }, { 0, 0 } };
		setitimer(ITIMER_REAL, &off, NULL);
		printf("signals during connect: %s\n", alarms > 10 ? "many" : "few");
	}
	if (rc == 0 && nonblock)
		printf("connect: returned 0 at once\n");
	if (rc < 0 && nonblock && errno == EINPROGRESS) {
		struct pollfd p = { .fd = fd, .events = POLLOUT };
		int err = 0;
		socklen_t elen = sizeof(err);

		poll(&p, 1, 30000);
		getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen);
		rc = err ? -1 : 0;
		errno = err;
		printf("connect: in progress\n");
	}
	if (rc < 0) {
		printf("connect: %s\n", errno_name(errno));
		close(fd);
		freeaddrinfo(res);
		return 1;
	}
	printf("connect: ok\n");
	if (!nonblock)
		printf("errno preserved: %s\n", errno == 4242 ? "yes" : "no");
	if (nonblock)
		fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
	if (twice) {
		rc = connect(fd, res->ai_addr, res->ai_addrlen);
		printf("second connect: %s\n", rc == 0 ? "ok" : errno_name(errno));
	}
	printf("flags nonblock: %s\n", fcntl(fd, F_GETFL) & O_NONBLOCK ? "yes" : "no");
	if (getpeername(fd, (struct sockaddr *)&peer, &plen) == 0) {
		if (peer.ss_family == AF_INET)
			inet_ntop(AF_INET, &((struct sockaddr_in *)&peer)->sin_addr, text, sizeof(text));
		else
			inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&peer)->sin6_addr, text, sizeof(text));
		printf("peer: %s port %d\n", text, ntohs(((struct sockaddr_in *)&peer)->sin_port));
	}
	n = read(fd, line, sizeof(line) - 1);
	if (n > 0) {
		line[n] = '\0';
		line[strcspn(line, "\r\n")] = '\0';
		printf("banner: %s\n", line);
	}
	if (write(fd, "QUIT\r\n", 6) == 6 && halfclose) {
		size_t got = 0;
		shutdown(fd, SHUT_WR);
		while (got < sizeof(line) - 1 && (n = read(fd, line + got, sizeof(line) - 1 - got)) > 0)
			got += (size_t)n;
		line[got] = '\0';
		line[strcspn(line, "\r\n")] = '\0';
		printf("after shutdown: %s\n", got ? line : "(connection closed, no reply)");
	}
	close(fd);
	freeaddrinfo(res);
	return 0;
}
