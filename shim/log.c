/* Logging: one write per line, errno preserved, nothing on stdout. */
#include "log.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

static int log_to_stderr;
static int log_level = LOG_INFO;

/* What fd 2 was when the library started: a daemon may close its stderr, and
 * the next socket it opens - an SMTP session to an onion - takes number 2.
 * Lines go to fd 2 only while it is still the same file (device, inode, rdev,
 * type); otherwise to syslog, so they are not lost. Checking the identity at
 * each line (one fstat) rather than writing to a dup made at start-up: a dup
 * takes a descriptor the host does not know about, which a daemon closing
 * "all other descriptors" closes, and whose number is then reused in the same
 * way; and an MTA that redirects its stderr on purpose (to /dev/null, a log
 * file) expects its processes to stop writing to the old one. A TCP or UDP
 * socket as stderr at start-up (inetd-style servers) is never written to. */
static struct {
	int usable;
	dev_t dev, rdev;
	ino_t ino;
	mode_t type;
} stderr_at_start;
static pthread_once_t stderr_once = PTHREAD_ONCE_INIT;

static void record_stderr(void)
{
	struct stat st;
	int saved = errno;

	if (fstat(STDERR_FILENO, &st) == 0) {
		int domain = AF_UNSPEC;
		socklen_t len = sizeof(domain);

		stderr_at_start.usable = 1;
		if (S_ISSOCK(st.st_mode) &&
		    (getsockopt(STDERR_FILENO, SOL_SOCKET, SO_DOMAIN, &domain, &len) != 0 ||
		     domain == AF_INET || domain == AF_INET6))
			stderr_at_start.usable = 0;
		stderr_at_start.dev = st.st_dev;
		stderr_at_start.rdev = st.st_rdev;
		stderr_at_start.ino = st.st_ino;
		stderr_at_start.type = st.st_mode & S_IFMT;
	}
	errno = saved;
}

/* Early, before the host's own code runs (hooks reached before it still find
 * the identity recorded, through the once). */
__attribute__((constructor(101))) static void record_stderr_at_start(void)
{
	pthread_once(&stderr_once, record_stderr);
}

static int stderr_unchanged(void)
{
	struct stat st;

	pthread_once(&stderr_once, record_stderr);
	return stderr_at_start.usable && fstat(STDERR_FILENO, &st) == 0 &&
	       st.st_dev == stderr_at_start.dev && st.st_ino == stderr_at_start.ino &&
	       st.st_rdev == stderr_at_start.rdev && (st.st_mode & S_IFMT) == stderr_at_start.type;
}

void omx_log_setup(int to_stderr, int level)
{
	log_to_stderr = to_stderr;
	log_level = level;
	pthread_once(&stderr_once, record_stderr);
}

/* Writes "onionmx: MSG\n" to stderr in one write so lines from several
 * processes do not interleave. Returns 0, or -1 if fd 2 is not the stderr the
 * process started with. The write system call itself: never the library's
 * own write() hook, and this file is shared with the tools. */
/* libc's write() under its other exported name: the library hooks write() and
 * syscall() (hook_dns.c), and its log lines must not go through its own hooks. */
extern ssize_t __write(int fd, const void *buf, size_t n);

static int write_stderr(const char *msg)
{
	char line[1100];
	int n = snprintf(line, sizeof(line), "onionmx: %s\n", msg);

	if (!stderr_unchanged())
		return -1;
	if (n > (int)sizeof(line) - 1)
		n = (int)sizeof(line) - 1;
	while (__write(STDERR_FILENO, line, (size_t)n) < 0 && errno == EINTR)
		;
	return 0;
}

void omx_log(int prio, const char *fmt, ...)
{
	int saved = errno;
	char msg[1024];
	va_list ap;

	if (prio > log_level)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (!log_to_stderr || write_stderr(msg) != 0)
		syslog(LOG_MAIL | prio, "onionmx: %s", msg);
	errno = saved;
}

void omx_log_alert(const char *fmt, ...)
{
	int saved = errno;
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	write_stderr(msg);
	syslog(LOG_MAIL | LOG_ERR, "onionmx: %s", msg);
	errno = saved;
}
