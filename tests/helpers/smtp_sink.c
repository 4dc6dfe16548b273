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
 *   -L   log "CONNECT from=ADDR", one line per connection
 *   -R   SO_REUSEPORT: several sinks share the address, the kernel spreading
 *        the connections over them (tests/bench/mta.sh) */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* accept4, pipe2 */
#endif
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
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

#include "server_common.h"

#define LINE_MAX_LEN 65536

struct options {
	struct server_options server; /* -l, -L, -p */
	const char *maildir;
	const char *name;
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

static unsigned *message_counter; /* shared by all connection processes */

/* Prints a usage message and exits: the tests call us with fixed arguments. */
static void usage(void)
{
	fprintf(stderr, "usage: smtp_sink -l HOST:PORT -d MAILDIR [-n NAME] [-p PIDFILE] "
		"[-L LOGFILE] [-R]\n");
	exit(2);
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
	int one = 1;

	/* A real MTA writes its replies to pipelined commands at once; written
	 * one by one as here, Nagle would hold all but the first until the
	 * client's delayed ACK (40 ms a message, tests/bench/mta.sh). */
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
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

	if (!logging() || getpeername(fd, (struct sockaddr *)&peer, &peer_len) < 0)
		return;
	if (peer.ss_family == AF_INET)
		inet_ntop(AF_INET, &((struct sockaddr_in *)&peer)->sin_addr, text, sizeof(text));
	else if (peer.ss_family == AF_INET6)
		inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&peer)->sin6_addr, text,
			  sizeof(text));
	log_line("CONNECT from=%s", text);
}

/* Parses the command line into OPT, exiting with usage on any mistake. */
static void parse_options(int argc, char **argv, struct options *opt)
{
	int c;

	memset(opt, 0, sizeof(*opt));
	opt->name = "sink";
	while ((c = getopt(argc, argv, "l:d:n:p:L:R")) != -1) {
		switch (c) {
		case 'd': opt->maildir = optarg; break;
		case 'R': opt->server.reuse_port = 1; break;
		case 'n': opt->name = optarg; break;
		default:
			if (!server_option(c, optarg, &opt->server))
				usage();
		}
	}
	if (optind != argc || !opt->server.listen_spec || !opt->maildir || !*opt->name ||
	    strpbrk(opt->name, "\r\n"))
		usage();
}

/* Serves one connection, in its own process. */
static void serve_connection(int fd, const void *opt)
{
	log_connection(fd);
	serve_client(fd, opt);
}

int main(int argc, char **argv)
{
	struct options opt;
	struct stat st;

	server_name = "smtp_sink";
	parse_options(argc, argv, &opt);
	if (mkdir(opt.maildir, 0755) < 0 && errno != EEXIST)
		die("%s: %s", opt.maildir, strerror(errno));
	if (stat(opt.maildir, &st) < 0 || !S_ISDIR(st.st_mode))
		die("%s: not a directory", opt.maildir);
	message_counter = mmap(NULL, sizeof(*message_counter), PROT_READ | PROT_WRITE,
			       MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (message_counter == MAP_FAILED)
		die("mmap: %s", strerror(errno));
	*message_counter = 0;

	server_run(server_start(&opt.server), serve_connection, &opt);
}
