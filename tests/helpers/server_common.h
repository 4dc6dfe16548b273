/* server_common: the plumbing fake_socks and smtp_sink share. Each is a small
 * forking TCP server started by the integration tests: options -l HOST:PORT,
 * -L LOGFILE and -p PIDFILE, a log of one line per event, a pid file written
 * once the socket listens, one child process (or thread) per connection that
 * dies with the server. Only their protocol differs. */
#ifndef ONIONMX_TESTS_SERVER_COMMON_H
#define ONIONMX_TESTS_SERVER_COMMON_H

#include <netdb.h>
#include <stddef.h>
#include <sys/types.h>

/* What every server takes on its command line (-l, -L, -p). */
struct server_options {
	const char *listen_spec;
	const char *log_path;
	const char *pid_path;
	int reuse_port;  /* SO_REUSEPORT: several servers share the address (smtp_sink -R) */
};

/* The program's name, for error and log messages; set it first in main. */
extern const char *server_name;

/* Takes option C (with OPTARG) if it is one of -l, -L, -p: returns 1 if taken. */
int server_option(int c, const char *optarg, struct server_options *opt);

/* Reports a fatal start-up error and exits 1; once daemonized stderr is /dev/null. */
void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

/* Splits "HOST:PORT" or "[V6]:PORT" into its parts; HOST must hold the host. */
int split_hostport(const char *spec, char *host, size_t host_cap, const char **port);

/* Resolves SPEC for a listening (PASSIVE) or connecting socket; NULL on error. */
struct addrinfo *resolve(const char *spec, int passive);

/* Connects to SPEC (HOST:PORT); -1 on failure. */
int connect_to(const char *spec);

/* Writes all of BUF, across short writes. */
int write_all(int fd, const void *buf, size_t len);

/* Whether -L named a log. */
int logging(void);

/* Appends one line to the log with a single write on an O_APPEND descriptor,
 * so lines from concurrent connections never interleave. */
void log_line(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Signals (TERM/INT remove the pid file, PIPE ignored), the log, the listening
 * socket, then (with -p) the daemon: returns the listening descriptor in the
 * process that serves. Exits on any failure. */
int server_start(const struct server_options *opt);

/* Accepts forever, each connection served by SERVE(fd, ARG) in a child of its
 * own that dies with the server. */
void server_run(int listen_fd, void (*serve)(int fd, const void *arg), const void *arg)
	__attribute__((noreturn));

/* The same with a thread per connection, which SERVE must end by closing FD:
 * no fork() and exit per connection (fake_socks, whose cost tests/bench/mta.sh
 * must not count as the client's). */
void server_run_threads(int listen_fd, void (*serve)(int fd, const void *arg), const void *arg)
	__attribute__((noreturn));

#endif
