/* Logging: one write per line, errno preserved, nothing on stdout. */
#include "log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static int log_to_stderr;
static int log_level = LOG_INFO;

void omx_log_setup(int to_stderr, int level)
{
	log_to_stderr = to_stderr;
	log_level = level;
}

/* Writes "onionmx: MSG\n" to stderr in one write so lines from several processes
 * do not interleave. */
static void write_stderr(const char *msg)
{
	char line[1100];
	int n = snprintf(line, sizeof(line), "onionmx: %s\n", msg);

	if (n > (int)sizeof(line) - 1)
		n = (int)sizeof(line) - 1;
	while (write(STDERR_FILENO, line, (size_t)n) < 0 && errno == EINTR)
		;
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
	if (log_to_stderr)
		write_stderr(msg);
	else
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
