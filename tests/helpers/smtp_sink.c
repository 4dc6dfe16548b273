/* smtp_sink: a tiny SMTP server for the integration tests, standing in for the
 * onion MX behind fake_socks. It accepts every message and stores each one as
 * MAILDIR/<n>.eml with its envelope in X- headers, so a test can check what went
 * through. One process per connection.
 *
 * usage: smtp_sink -l HOST:PORT -d MAILDIR [-n NAME] [-p PIDFILE] [-L LOGFILE]
 *   -l   listen address: 127.0.0.1:PORT or [::1]:PORT
 *   -n   name in the banner and the X-Sink header (default "sink")
 *   -p   daemonize; the pid file is written once the socket listens, and the
 *        command returns only after that
 *   -L   log "CONNECT from=ADDR", one line per connection */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* accept4, pipe2 */
#endif
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#define LINE_MAX_LEN 65536

struct options {
	const char *listen_spec;
	const char *maildir;
	const char *name;
	const char *pid_path;
	const char *log_path;
};

/* Buffered line reader over a socket: commands may arrive pipelined, several in
 * one segment, and DATA lines may be longer than any fixed buffer. */
struct line_reader {
	int fd;
	size_t start, end;
	char buf[LINE_MAX_LEN];
};

/* The current transaction's envelope, kept as the header text it becomes. */
struct envelope {
	int has_from;
	size_t rcpt_count;
	char *headers;       /* "X-Envelope-From: ...\r\nX-Envelope-To: ...\r\n..." */
	size_t len, cap;
};

static int log_fd = -1;
static const char *pid_path;
static pid_t daemon_pid;
static unsigned *message_counter; /* shared by all connection processes */

/* Prints a usage message and exits: the tests call us with fixed arguments. */
static void usage(void)
{
	fprintf(stderr, "usage: smtp_sink -l HOST:PORT -d MAILDIR [-n NAME] [-p PIDFILE] "
		"[-L LOGFILE]\n");
	exit(2);
}

/* Reports a fatal start-up error; once daemonized stderr is /dev/null. */
static void die(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "smtp_sink: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
	exit(1);
}

/* SIGTERM/SIGINT: leave no stale pid file; connection children die with us
 * through PR_SET_PDEATHSIG. Only async-signal-safe calls here. */
static void on_terminate(int sig)
{
	(void)sig;
	if (pid_path && daemon_pid == getpid())
		unlink(pid_path);
	_exit(0);
}

/* Splits "HOST:PORT" or "[V6]:PORT" into its parts. */
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

/* Binds and listens on SPEC with a large backlog for concurrent test clients. */
static int open_listener(const char *spec)
{
	struct addrinfo hints, *res = NULL, *ai;
	char host[256];
	const char *port;
	int fd = -1, one = 1, err;

	if (split_hostport(spec, host, sizeof(host), &port) < 0)
		return -1;
	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV | AI_PASSIVE;
	err = getaddrinfo(host, port, &hints, &res);
	if (err != 0) {
		fprintf(stderr, "smtp_sink: %s: %s\n", spec, gai_strerror(err));
		return -1;
	}
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
	freeaddrinfo(res);
	return fd;
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

/* Sends one SMTP reply (the text already carries its CRLFs). */
static int reply(int fd, const char *fmt, ...)
{
	char text[1024];
	va_list ap;
	int len;

	va_start(ap, fmt);
	len = vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	if (len < 0 || (size_t)len >= sizeof(text))
		return -1;
	return write_all(fd, text, (size_t)len);
}

/* Appends one line to the log with a single write on an O_APPEND descriptor,
 * so lines from concurrent connections never interleave. */
static void log_line(const char *fmt, ...)
{
	char line[1024];
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
		perror("smtp_sink: log");
}

/* Returns the next line (with its LF) or, for a line longer than the buffer, the
 * next piece of it; *COMPLETE says which. Returns NULL at EOF or on error. The
 * pointer is valid until the next call. */
static char *read_line(struct line_reader *r, size_t *len, int *complete)
{
	char *line, *newline;
	ssize_t n;

	for (;;) {
		newline = memchr(r->buf + r->start, '\n', r->end - r->start);
		if (newline) {
			line = r->buf + r->start;
			*len = (size_t)(newline + 1 - line);
			*complete = 1;
			r->start += *len;
			return line;
		}
		if (r->end - r->start == sizeof(r->buf)) {
			line = r->buf + r->start;
			*len = sizeof(r->buf);
			*complete = 0;
			r->start = r->end = 0;
			return line;
		}
		if (r->start > 0) {
			memmove(r->buf, r->buf + r->start, r->end - r->start);
			r->end -= r->start;
			r->start = 0;
		}
		if (r->end >= sizeof(r->buf)) /* not reached (a full buffer returned above); */
			return NULL;         /* says so to GCC's _FORTIFY_SOURCE=3 checks under ASan */
		n = read(r->fd, r->buf + r->end, sizeof(r->buf) - r->end);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return NULL;
		r->end += (size_t)n;
	}
}

/* Appends formatted text to the envelope's header block. */
static int envelope_add(struct envelope *env, const char *field, const char *value,
			size_t value_len)
{
	size_t need = env->len + strlen(field) + value_len + 3;
	char *grown;

	if (need > env->cap) {
		size_t cap = env->cap ? env->cap * 2 : 1024;
		while (cap < need)
			cap *= 2;
		grown = realloc(env->headers, cap);
		if (!grown)
			return -1;
		env->headers = grown;
		env->cap = cap;
	}
	env->len += (size_t)sprintf(env->headers + env->len, "%s", field);
	memcpy(env->headers + env->len, value, value_len);
	env->len += value_len;
	memcpy(env->headers + env->len, "\r\n", 3);
	env->len += 2;
	return 0;
}

/* Forgets the transaction (RSET, HELO, after DATA). */
static void envelope_reset(struct envelope *env)
{
	env->has_from = 0;
	env->rcpt_count = 0;
	env->len = 0;
}

/* Finds the address in a MAIL FROM:/RCPT TO: argument: between angle brackets
 * if present (so "<>" is the empty null sender), else the first word. ESMTP
 * parameters after it are ignored. */
static int parse_path(const char *arg, size_t arg_len, const char **addr, size_t *addr_len)
{
	const char *end = arg + arg_len, *p = arg, *close;

	while (p < end && (*p == ' ' || *p == '\t'))
		p++;
	if (p < end && *p == '<') {
		close = memchr(p, '>', (size_t)(end - p));
		if (!close)
			return -1;
		*addr = p + 1;
		*addr_len = (size_t)(close - p - 1);
		return 0;
	}
	*addr = p;
	while (p < end && *p != ' ' && *p != '\t')
		p++;
	*addr_len = (size_t)(p - *addr);
	return *addr_len ? 0 : -1;
}

/* Takes the next number for a file name: the counter is shared between the
 * connection processes, and link() below never replaces an existing file. */
static unsigned next_message_number(void)
{
	return __atomic_add_fetch(message_counter, 1, __ATOMIC_SEQ_CST);
}

/* Receives the DATA section into a temporary file (headers first, dot-unstuffed
 * body after), then gives it its final name with link(), which fails rather than
 * replace a message from an earlier run. Returns the message number, 0 if the
 * message could not be stored, -1 if the connection broke. */
static long receive_message(struct line_reader *r, const struct options *opt,
			    const struct envelope *env)
{
	char tmp_path[4096], final_path[4096], *line;
	static unsigned tmp_seq;
	int at_line_start = 1, complete, write_failed = 0;
	size_t len;
	unsigned number;
	FILE *out;

	snprintf(tmp_path, sizeof(tmp_path), "%s/.tmp.%ld.%u", opt->maildir, (long)getpid(),
		 ++tmp_seq);
	out = fopen(tmp_path, "we");
	if (!out)
		write_failed = 1;
	else if (fprintf(out, "X-Sink: %s\r\n", opt->name) < 0 ||
		 fwrite(env->headers, 1, env->len, out) != env->len)
		write_failed = 1;

	for (;;) {
		line = read_line(r, &len, &complete);
		if (!line) {
			if (out)
				fclose(out);
			unlink(tmp_path);
			return -1;
		}
		if (at_line_start && complete && line[0] == '.' &&
		    ((len == 3 && line[1] == '\r') || len == 2))
			break;
		if (at_line_start && line[0] == '.') {
			line++;
			len--;
		}
		if (out && !write_failed && fwrite(line, 1, len, out) != len)
			write_failed = 1;
		at_line_start = complete;
	}
	if (!out)
		return 0;
	if (fclose(out) != 0 || write_failed) {
		unlink(tmp_path);
		return 0;
	}
	for (;;) {
		number = next_message_number();
		snprintf(final_path, sizeof(final_path), "%s/%u.eml", opt->maildir, number);
		if (link(tmp_path, final_path) == 0)
			break;
		if (errno != EEXIST) {
			unlink(tmp_path);
			return 0;
		}
	}
	unlink(tmp_path);
	return number;
}

/* Skips the rest of an over-long command line. */
static int skip_rest_of_line(struct line_reader *r)
{
	size_t len;
	int complete = 0;

	while (!complete)
		if (!read_line(r, &len, &complete))
			return -1;
	return 0;
}

/* Whether LINE starts with the command WORD (case-insensitive); *ARG is what
 * follows it. */
static int is_command(const char *line, size_t len, const char *word, const char **arg)
{
	size_t word_len = strlen(word);

	if (len < word_len || strncasecmp(line, word, word_len) != 0)
		return 0;
	if (len > word_len && line[word_len] != ' ' && word[word_len - 1] != ':')
		return 0;
	*arg = line + word_len;
	return 1;
}

/* Runs one SMTP session; runs in its own process. */
static void serve_client(int fd, const struct options *opt)
{
	static struct line_reader reader;
	struct envelope env = { 0 };
	char *line;
	const char *arg, *addr;
	size_t len, addr_len;
	int complete;
	long number;

	reader.fd = fd;
	if (reply(fd, "220 %s ESMTP sink\r\n", opt->name) < 0)
		goto out;
	for (;;) {
		line = read_line(&reader, &len, &complete);
		if (!line)
			break;
		if (!complete) {
			if (skip_rest_of_line(&reader) < 0 ||
			    reply(fd, "500 5.5.2 Line too long\r\n") < 0)
				break;
			continue;
		}
		/* Strip the line ending: CRLF, or a bare LF from sloppy clients. */
		while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
			len--;
		line[len] = '\0';

		if (is_command(line, len, "EHLO", &arg)) {
			envelope_reset(&env);
			if (reply(fd, "250-%s\r\n250-PIPELINING\r\n250 8BITMIME\r\n", opt->name) < 0)
				break;
		} else if (is_command(line, len, "HELO", &arg)) {
			envelope_reset(&env);
			if (reply(fd, "250 %s\r\n", opt->name) < 0)
				break;
		} else if (is_command(line, len, "MAIL FROM:", &arg)) {
			if (env.has_from) {
				if (reply(fd, "503 5.5.1 Nested MAIL command\r\n") < 0)
					break;
			} else if (parse_path(arg, (size_t)(line + len - arg), &addr, &addr_len) < 0) {
				if (reply(fd, "501 5.1.7 Bad sender address syntax\r\n") < 0)
					break;
			} else {
				if (envelope_add(&env, "X-Envelope-From: ", addr, addr_len) < 0)
					break;
				env.has_from = 1;
				if (reply(fd, "250 2.1.0 Ok\r\n") < 0)
					break;
			}
		} else if (is_command(line, len, "RCPT TO:", &arg)) {
			if (!env.has_from) {
				if (reply(fd, "503 5.5.1 Need MAIL command\r\n") < 0)
					break;
			} else if (parse_path(arg, (size_t)(line + len - arg), &addr, &addr_len) < 0 ||
				   addr_len == 0) {
				if (reply(fd, "501 5.1.3 Bad recipient address syntax\r\n") < 0)
					break;
			} else {
				if (envelope_add(&env, "X-Envelope-To: ", addr, addr_len) < 0)
					break;
				env.rcpt_count++;
				if (reply(fd, "250 2.1.5 Ok\r\n") < 0)
					break;
			}
		} else if (is_command(line, len, "DATA", &arg)) {
			if (!env.has_from || env.rcpt_count == 0) {
				if (reply(fd, "503 5.5.1 Need RCPT command\r\n") < 0)
					break;
				continue;
			}
			if (reply(fd, "354 End data with <CR><LF>.<CR><LF>\r\n") < 0)
				break;
			number = receive_message(&reader, opt, &env);
			if (number < 0)
				break;
			envelope_reset(&env);
			if (number == 0 ? reply(fd, "451 4.3.0 Could not store the message\r\n") < 0
					: reply(fd, "250 2.0.0 Ok: queued as %ld\r\n", number) < 0)
				break;
		} else if (is_command(line, len, "RSET", &arg)) {
			envelope_reset(&env);
			if (reply(fd, "250 2.0.0 Ok\r\n") < 0)
				break;
		} else if (is_command(line, len, "NOOP", &arg)) {
			if (reply(fd, "250 2.0.0 Ok\r\n") < 0)
				break;
		} else if (is_command(line, len, "QUIT", &arg)) {
			reply(fd, "221 2.0.0 Bye\r\n");
			break;
		} else {
			if (reply(fd, "502 5.5.2 Command not recognized\r\n") < 0)
				break;
		}
	}
out:
	free(env.headers);
	close(fd);
}

/* Logs the peer address of a new connection. */
static void log_connection(int fd)
{
	struct sockaddr_storage peer;
	socklen_t peer_len = sizeof(peer);
	char text[INET6_ADDRSTRLEN] = "?";

	if (log_fd < 0 || getpeername(fd, (struct sockaddr *)&peer, &peer_len) < 0)
		return;
	if (peer.ss_family == AF_INET)
		inet_ntop(AF_INET, &((struct sockaddr_in *)&peer)->sin_addr, text, sizeof(text));
	else if (peer.ss_family == AF_INET6)
		inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&peer)->sin6_addr, text,
			  sizeof(text));
	log_line("CONNECT from=%s", text);
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
 * with the server so that no session outlives a test. */
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
	int c;

	memset(opt, 0, sizeof(*opt));
	opt->name = "sink";
	while ((c = getopt(argc, argv, "l:d:n:p:L:")) != -1) {
		switch (c) {
		case 'l': opt->listen_spec = optarg; break;
		case 'd': opt->maildir = optarg; break;
		case 'n': opt->name = optarg; break;
		case 'p': opt->pid_path = optarg; break;
		case 'L': opt->log_path = optarg; break;
		default: usage();
		}
	}
	if (optind != argc || !opt->listen_spec || !opt->maildir || !*opt->name ||
	    strpbrk(opt->name, "\r\n"))
		usage();
}

int main(int argc, char **argv)
{
	struct options opt;
	struct sigaction sa;
	struct stat st;
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

	if (mkdir(opt.maildir, 0755) < 0 && errno != EEXIST)
		die("%s: %s", opt.maildir, strerror(errno));
	if (stat(opt.maildir, &st) < 0 || !S_ISDIR(st.st_mode))
		die("%s: not a directory", opt.maildir);
	message_counter = mmap(NULL, sizeof(*message_counter), PROT_READ | PROT_WRITE,
			       MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (message_counter == MAP_FAILED)
		die("mmap: %s", strerror(errno));
	*message_counter = 0;

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
			log_connection(client_fd);
			serve_client(client_fd, &opt);
			_exit(0);
		}
		close(client_fd);
	}
}
