/* Logging: one write per line, errno preserved, nothing on stdout. */
#include "log.h"
#include "layout.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

static int log_to_stderr;
static int log_level = LOG_INFO;
static char log_context[64]; /* " [message ID]" for an Exim delivery, else "" */

/* Whether ARG is an Exim message ID: 6-6-2 base-62 characters (4.96), or
 * 6-11-4 (4.97 and later). */
static int is_exim_id(const char *arg)
{
	static const int shapes[2][3] = { { 6, 6, 2 }, { 6, 11, 4 } };

	for (int k = 0; k < 2; k++) {
		const char *p = arg;
		int good = 1;

		for (int i = 0; i < 3 && good; i++) {
			for (int n = 0; n < shapes[k][i] && good; n++, p++)
				good = (*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'z') ||
				       (*p >= 'A' && *p <= 'Z');
			if (good && i < 2)
				good = *p++ == '-';
		}
		if (good && *p == '\0')
			return 1;
	}
	return 0;
}

OMX_STARTUP
void omx_log_context_from_argv(int argc, char **argv)
{
	const char *base;

	log_context[0] = '\0';
	if (argc < 2 || !argv || !argv[0])
		return;
	base = strrchr(argv[0], '/');
	base = base ? base + 1 : argv[0];
	if (strcmp(base, "exim4") != 0 && strcmp(base, "exim") != 0)
		return;
	for (int i = 1; i < argc && argv[i]; i++)
		if (is_exim_id(argv[i])) {
			snprintf(log_context, sizeof(log_context), " [message %s]", argv[i]);
			return;
		}
}

/* What fd 2 was when the library started (recorded by omx_log_setup() when
 * lines are to go there, before the host program's own code runs; else at the
 * first line written there, an alert at start-up): a daemon may close its stderr, and
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
	int recorded;           /* atomic: the fields below are set */
	int usable;
	dev_t dev, rdev;
	ino_t ino;
	mode_t type;
} stderr_at_start;

/* Records fd 2 (once: a second recording, by a thread racing the first, stores
 * the same). No pthread_once: glibc's wakes futex waiters after the initialiser,
 * waiting or not (a system call at every process start). */
OMX_STARTUP
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
	__atomic_store_n(&stderr_at_start.recorded, 1, __ATOMIC_RELEASE);
	errno = saved;
}

int omx_log_stderr_is_socket(void)
{
	if (!__atomic_load_n(&stderr_at_start.recorded, __ATOMIC_ACQUIRE))
		return -1;
	return stderr_at_start.type == S_IFSOCK;
}

static int stderr_unchanged(void)
{
	struct stat st;

	if (!__atomic_load_n(&stderr_at_start.recorded, __ATOMIC_ACQUIRE))
		record_stderr();
	return stderr_at_start.usable && fstat(STDERR_FILENO, &st) == 0 &&
	       st.st_dev == stderr_at_start.dev && st.st_ino == stderr_at_start.ino &&
	       st.st_rdev == stderr_at_start.rdev && (st.st_mode & S_IFMT) == stderr_at_start.type;
}

OMX_STARTUP
void omx_log_setup(int to_stderr, int level)
{
	if (to_stderr && !__atomic_load_n(&stderr_at_start.recorded, __ATOMIC_ACQUIRE))
		record_stderr();
	log_level = level;
	log_to_stderr = to_stderr;
}

/* Writes "onionmx: MSG\n" to stderr in one write so lines from several
 * processes do not interleave. Returns 0, or -1 if fd 2 is not the stderr the
 * process started with. The write system call itself: never the library's
 * own write() hook, and this file is shared with the tools. */
/* libc's write() under its other exported name: the library hooks write() and
 * syscall() (hook_dns.c), and its log lines must not go through its own hooks. */
extern ssize_t __write(int fd, const void *buf, size_t n);

/* The prefix every stderr line starts with; a message is formatted right
 * after it, so the line is written without a second printf pass (that pass
 * was most of an onion connect's log line). */
#define LINE_PREFIX "onionmx: "
#define LINE_PREFIX_LEN (sizeof(LINE_PREFIX) - 1)
#define MSG_MAX 1024

struct log_line {
	char text[LINE_PREFIX_LEN + MSG_MAX + 1]; /* prefix, message, newline */
	size_t len;                               /* of the message */
};

/* Formats FMT into LINE's message part (cut at MSG_MAX - 1 bytes); returns it. */
static const char *format_line(struct log_line *line, const char *fmt, va_list ap)
{
	int n;

	memcpy(line->text, LINE_PREFIX, LINE_PREFIX_LEN);
	n = vsnprintf(line->text + LINE_PREFIX_LEN, MSG_MAX, fmt, ap);
	line->len = n < 0 ? 0 : n > MSG_MAX - 1 ? MSG_MAX - 1 : (size_t)n;
	line->text[LINE_PREFIX_LEN + line->len] = '\0';
	return line->text + LINE_PREFIX_LEN;
}

static int write_stderr(struct log_line *line)
{
	size_t n = LINE_PREFIX_LEN + line->len + 1;

	if (!stderr_unchanged())
		return -1;
	line->text[n - 1] = '\n';
	while (__write(STDERR_FILENO, line->text, n) < 0 && errno == EINTR)
		;
	line->text[n - 1] = '\0';
	return 0;
}

int omx_log_enabled(int prio)
{
	return prio <= log_level;
}

void omx_log(int prio, const char *fmt, ...)
{
	int saved = errno;
	struct log_line line;
	const char *msg;
	va_list ap;

	if (prio > log_level)
		return;
	va_start(ap, fmt);
	msg = format_line(&line, fmt, ap);
	va_end(ap);
	if (!log_to_stderr || write_stderr(&line) != 0)
		syslog(LOG_MAIL | prio, "onionmx: %s%s", msg, log_context);
	errno = saved;
}

void omx_log_alert(const char *fmt, ...)
{
	int saved = errno;
	struct log_line line;
	const char *msg;
	va_list ap;

	va_start(ap, fmt);
	msg = format_line(&line, fmt, ap);
	va_end(ap);
	write_stderr(&line);
	syslog(LOG_MAIL | LOG_ERR, "onionmx: %s", msg);
	errno = saved;
}
