/* connect_probe [-n] [-f] [-2] [-6] [-i] [-q] [-a SECS] [-b] [-c] [-l LEN] [-d FD] [-D FD]
 *               HOST PORT
 * Resolves HOST with getaddrinfo and connects like an MTA: -n non-blocking then
 * poll and SO_ERROR (Postfix), -f TCP Fast Open sendto first (Exim), -2 a second
 * connect() on the connected socket, -6 an AF_INET6 socket with a v4-mapped
 * address, -i a SIGALRM every 50 ms with a handler installed with SA_RESTART,
 * -q QUIT then shutdown(SHUT_WR) before reading the reply (Exim's end of
 * session), -a alarm(SECS) with a handler without SA_RESTART (Exim's style
 * around connect; after EINTR the connect is retried on the same socket and a
 * write is tried), -b a thread clearing O_NONBLOCK on the socket all through
 * the connect, -c close fd 2 first so that the socket takes its number, -l pass
 * LEN as the address length (an AF_INET6 address of 24 bytes, without
 * sin6_scope_id), -d move the socket to descriptor FD first, -D connect a
 * second socket at descriptor FD to the same place after the first (and keep
 * it open), -N connect COUNT more sockets to the same place after the first
 * (kept open), then close them and connect one more. Prints the result, whether errno survived a successful connect,
 * getpeername, and the server's first line. -k installs a SIGSEGV handler
 * without SA_RESTART first, as crash reporters do.
 * -R after a failed connect, one more on a new socket ("retry: RESULT").
 * After a successful connect, whether the socket's status flags are what they
 * were before it ("flags unchanged").
 * connect_probe -S: a sendmsg whose iovec lengths add up past SIZE_MAX. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

static volatile sig_atomic_t alarms;
static volatile int connecting = 1;

/* -b: another thread of the program makes the socket blocking, again and again. */
static void *clear_nonblock(void *arg)
{
	int fd = *(int *)arg;

	while (__atomic_load_n(&connecting, __ATOMIC_RELAXED)) {
		int fl = fcntl(fd, F_GETFL);
		if (fl >= 0 && (fl & O_NONBLOCK))
			fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
		usleep(200);
	}
	return NULL;
}

/* -S: the kernel answers EINVAL to iovec lengths that overflow; so must we. */
static int sendmsg_overflow(void)
{
	struct sockaddr_in to = { .sin_family = AF_INET, .sin_port = htons(53),
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	char byte = 0;
	struct iovec iov[2] = { { &byte, 1 }, { &byte, SIZE_MAX } };
	struct msghdr msg = { .msg_name = &to, .msg_namelen = sizeof(to), .msg_iov = iov,
			      .msg_iovlen = 2 };
	int fd = socket(AF_INET, SOCK_DGRAM, 0);
	ssize_t rc = sendmsg(fd, &msg, 0);

	printf("sendmsg overflow: %s\n", rc < 0 ? strerror(errno) : "sent");
	return 0;
}

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
		{ EINTR, "EINTR" }, { EINVAL, "EINVAL" }, { ECONNABORTED, "ECONNABORTED" },
		{ ENOTCONN, "ENOTCONN" }, { ENOBUFS, "ENOBUFS" }, { EAGAIN, "EAGAIN" },
		{ ENETDOWN, "ENETDOWN" }, { EPERM, "EPERM" },
	};
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (names[i].e == e)
			return names[i].name;
	return strerror(e);
}

int main(int argc, char **argv)
{
	int nonblock = 0, fastopen = 0, twice = 0, inet6 = 0, interrupt = 0, halfclose = 0, opt, fd, rc;
	int flags_before;
	int alarm_secs = 0, unblocker = 0, close_stderr = 0, move_to = -1, second_at = -1, more = 0;
	int retry = 0;
	int crash_handler = 0;
	long addrlen = -1;
	pthread_t thread;
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *res;
	struct sockaddr_storage peer;
	socklen_t plen = sizeof(peer);
	char line[512], text[INET6_ADDRSTRLEN];
	ssize_t n;

	setvbuf(stdout, NULL, _IOLBF, 0); /* lines survive a kill by a hang guard */
	while ((opt = getopt(argc, argv, "nf26iqa:bcl:d:D:N:SkR")) != -1) {
		if (opt == 'n') nonblock = 1;
		else if (opt == 'f') fastopen = 1;
		else if (opt == '2') twice = 1;
		else if (opt == '6') inet6 = 1;
		else if (opt == 'i') interrupt = 1;
		else if (opt == 'q') halfclose = 1;
		else if (opt == 'a') alarm_secs = atoi(optarg);
		else if (opt == 'b') unblocker = 1;
		else if (opt == 'c') close_stderr = 1;
		else if (opt == 'l') addrlen = atol(optarg);
		else if (opt == 'd') move_to = atoi(optarg);
		else if (opt == 'D') second_at = atoi(optarg);
		else if (opt == 'N') more = atoi(optarg);
		else if (opt == 'k') crash_handler = 1;
		else if (opt == 'R') retry = 1;
		else if (opt == 'S') return sendmsg_overflow();
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
	if (addrlen >= 0)
		res->ai_addrlen = (socklen_t)addrlen;
	if (close_stderr)
		close(2); /* the socket takes fd 2, as in a daemon that closed its stderr */
	fd = socket(res->ai_family, SOCK_STREAM, 0);
	if (move_to >= 0 && dup2(fd, move_to) == move_to) {
		close(fd);
		fd = move_to;
	}
	if (fastopen) {
		errno = 0;
		rc = (int)sendto(fd, NULL, 0, MSG_FASTOPEN | MSG_DONTWAIT, res->ai_addr, res->ai_addrlen);
		printf("fastopen: %s\n", rc == 0 ? "ok" : errno_name(errno));
	}
	if (nonblock)
		fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	flags_before = fcntl(fd, F_GETFL);
	if (crash_handler) {
		struct sigaction sa = { .sa_handler = on_alarm }; /* never called: no fault here */
		sigaction(SIGSEGV, &sa, NULL);
	}
	if (interrupt) {
		struct sigaction sa = { .sa_handler = on_alarm, .sa_flags = SA_RESTART };
		struct itimerval every = { { 0, 50000 }, { 0, 50000 } };
		sigaction(SIGALRM, &sa, NULL);
		setitimer(ITIMER_REAL, &every, NULL);
	}
	if (alarm_secs) {
		struct sigaction sa = { .sa_handler = on_alarm }; /* no SA_RESTART: Exim's way */
		sigaction(SIGALRM, &sa, NULL);
		alarm((unsigned)alarm_secs);
	}
	if (unblocker)
		pthread_create(&thread, NULL, clear_nonblock, &fd);
	errno = 4242;
	rc = connect(fd, res->ai_addr, res->ai_addrlen);
	if (unblocker) {
		int e = errno;
		__atomic_store_n(&connecting, 0, __ATOMIC_RELAXED);
		pthread_join(thread, NULL);
		errno = e;
	}
	if (alarm_secs) {
		int e = errno;
		printf("alarm handler ran: %s\n", alarms ? "yes" : "no");
		if (rc < 0 && e == EINTR) {
			printf("connect: EINTR\n");
			alarm((unsigned)alarm_secs); /* the kernel's retry waits on: bound it too */
			rc = connect(fd, res->ai_addr, res->ai_addrlen);
			printf("retry connect: %s\n", rc == 0 ? "ok" : errno_name(errno));
			signal(SIGPIPE, SIG_IGN);
			rc = (int)send(fd, "EHLO probe\r\n", 12, MSG_DONTWAIT | MSG_NOSIGNAL);
			printf("write after retry: %s\n", rc >= 0 ? "sent" : errno_name(errno));
			printf("getpeername after retry: %s\n",
			       getpeername(fd, (struct sockaddr *)&peer, &plen) == 0 ? "ok" : errno_name(errno));
			return 1;
		}
		errno = e;
	}
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
		if (retry) { /* as an MTA tries the next address of the same host */
			int fd2 = socket(res->ai_family, SOCK_STREAM, 0);
			printf("retry: %s\n", connect(fd2, res->ai_addr, res->ai_addrlen) == 0 ? "ok" : errno_name(errno));
			close(fd2);
		}
		freeaddrinfo(res);
		return 1;
	}
	printf("connect: ok\n");
	printf("flags unchanged: %s\n", fcntl(fd, F_GETFL) == flags_before ? "yes" : "no");
	if (second_at >= 0) {
		int fd2 = socket(res->ai_family, SOCK_STREAM, 0);
		if (dup2(fd2, second_at) == second_at && second_at != fd2)
			close(fd2);
		printf("second socket: %s\n",
		       connect(second_at, res->ai_addr, res->ai_addrlen) == 0 ? "ok" : errno_name(errno));
	}
	if (more > 0) {
		int *fds = calloc((size_t)more, sizeof(int)), good = 0, failure = 0, failed_fd = -1, last;

		for (int i = 0; i < more; i++) {
			fds[i] = socket(res->ai_family, SOCK_STREAM, 0);
			if (connect(fds[i], res->ai_addr, res->ai_addrlen) == 0) {
				good++;
			} else if (!failure) {
				failure = errno;
				failed_fd = fds[i];
			}
		}
		printf("more sockets: %d ok, first failure: %s\n", good,
		       failure ? errno_name(failure) : "none");
		if (failed_fd >= 0)
			printf("retry on the refused socket: %s\n",
			       connect(failed_fd, res->ai_addr, res->ai_addrlen) == 0 ? "ok"
										: errno_name(errno));
		for (int i = 0; i < more; i++)
			close(fds[i]);
		last = socket(res->ai_family, SOCK_STREAM, 0);
		printf("after closing them: %s\n",
		       connect(last, res->ai_addr, res->ai_addrlen) == 0 ? "ok" : errno_name(errno));
		close(last);
		free(fds);
	}
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
		char *more;

		line[n] = '\0';
		more = strstr(line, "\r\n");
		if (more && more[2])
			printf("banner extra: %s", more + 2); /* more than the banner came */
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
