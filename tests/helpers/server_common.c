/* server_common: the plumbing fake_socks and smtp_sink share (server_common.h). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* accept4, pipe2 */
#endif
#include "server_common.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

const char *server_name = "server";

static int log_fd = -1;
static int reuse_port;
static int listening_fd = -1;
static const char *pid_path;
static pid_t daemon_pid;

int server_option(int c, const char *optarg, struct server_options *opt)
{
	switch (c) {
	case 'l': opt->listen_spec = optarg; return 1;
	case 'L': opt->log_path = optarg; return 1;
	case 'p': opt->pid_path = optarg; return 1;
	default: return 0;
	}
}

void die(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", server_name);
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
	/* Stop listening now: a thread blocked in accept() keeps the socket
	 * listening until it leaves, and the process looks dead (its main
	 * thread a zombie) before the last thread has - a connection made
	 * meanwhile would be accepted by the kernel, then reset, instead of
	 * refused as a test that stopped us expects. */
	if (listening_fd >= 0)
		shutdown(listening_fd, SHUT_RDWR);
	_exit(0);
}

int split_hostport(const char *spec, char *host, size_t host_cap, const char **port)
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

struct addrinfo *resolve(const char *spec, int passive)
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
		fprintf(stderr, "%s: %s: %s\n", server_name, spec, gai_strerror(err));
		return NULL;
	}
	return res;
}

/* Binds FD to AI and listens; the backlog is large because tests open many
 * connections at once. */
static int bind_listen(int fd, const struct addrinfo *ai)
{
	int one = 1;

	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (reuse_port)
		setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
	if (ai->ai_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	return bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && listen(fd, SOMAXCONN) == 0 ? 0 : -1;
}

static int connect_ai(int fd, const struct addrinfo *ai)
{
	return connect(fd, ai->ai_addr, ai->ai_addrlen);
}

/* A socket for the first of SPEC's addresses that USE accepts, or -1. */
static int first_socket(const char *spec, int passive,
			int (*use)(int fd, const struct addrinfo *ai))
{
	struct addrinfo *res = resolve(spec, passive), *ai;
	int fd = -1;

	for (ai = res; ai; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
		if (fd < 0)
			continue;
		if (use(fd, ai) == 0)
			break;
		close(fd);
		fd = -1;
	}
	if (res)
		freeaddrinfo(res);
	return fd;
}

static int open_listener(const char *spec)
{
	return first_socket(spec, 1, bind_listen);
}

int connect_to(const char *spec)
{
	return first_socket(spec, 0, connect_ai);
}

int write_all(int fd, const void *buf, size_t len)
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

int logging(void)
{
	return log_fd >= 0;
}

void log_line(const char *fmt, ...)
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
		fprintf(stderr, "%s: log: %s\n", server_name, strerror(errno));
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

int server_start(const struct server_options *opt)
{
	struct sigaction sa;
	int listen_fd;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_terminate;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);

	if (opt->log_path) {
		log_fd = open(opt->log_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
		if (log_fd < 0)
			die("%s: %s", opt->log_path, strerror(errno));
	}
	reuse_port = opt->reuse_port;
	listen_fd = open_listener(opt->listen_spec);
	if (listen_fd < 0)
		die("cannot listen on %s: %s", opt->listen_spec, strerror(errno));
	listening_fd = listen_fd;
	if (opt->pid_path) {
		pid_path = opt->pid_path;
		daemonize(opt->pid_path);
	}

	/* Reap connection children automatically. */
	sa.sa_handler = SIG_IGN;
	sa.sa_flags = SA_NOCLDWAIT;
	sigaction(SIGCHLD, &sa, NULL);
	return listen_fd;
}

/* Sets up a freshly forked connection process: default signals, and death
 * with the server so that no connection (a hanging or relaying one included)
 * outlives a test. */
static void become_connection_child(pid_t server_pid)
{
	signal(SIGTERM, SIG_DFL);
	signal(SIGINT, SIG_DFL);
	signal(SIGCHLD, SIG_DFL);
	prctl(PR_SET_PDEATHSIG, SIGTERM);
	if (getppid() != server_pid)
		_exit(0); /* the server died before prctl took effect */
}

void server_run(int listen_fd, void (*serve)(int fd, const void *arg), const void *arg)
{
	pid_t server_pid = getpid();
	int client_fd;

	for (;;) {
		client_fd = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC);
		if (client_fd < 0) {
			if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
			    errno == ENOMEM)
				usleep(10000);
			continue;
		}
		if (fork() == 0) {
			close(listen_fd);
			become_connection_child(server_pid);
			serve(client_fd, arg);
			_exit(0);
		}
		close(client_fd);
	}
}

struct connection {
	int fd;
	void (*serve)(int fd, const void *arg);
	const void *arg;
};

static void *connection_thread(void *p)
{
	struct connection c = *(struct connection *)p;

	free(p);
	c.serve(c.fd, c.arg);
	return NULL;
}

void server_run_threads(int listen_fd, void (*serve)(int fd, const void *arg), const void *arg)
{
	pthread_attr_t attr;

	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&attr, 256 * 1024);
	for (;;) {
		struct connection *c;
		pthread_t t;
		int client_fd = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC);

		if (client_fd < 0) {
			if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
			    errno == ENOMEM)
				usleep(10000);
			continue;
		}
		c = malloc(sizeof(*c));
		if (!c) {
			close(client_fd);
			continue;
		}
		*c = (struct connection){ client_fd, serve, arg };
		if (pthread_create(&t, &attr, connection_thread, c) != 0) {
			free(c);
			close(client_fd);
		}
	}
}
