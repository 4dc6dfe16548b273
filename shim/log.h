/* Logging for the library and tools: syslog (facility mail, under the host
 * program's own ident, so lines land in the MTA's log) or stderr. Never stdout. */
#ifndef OMX_LOG_H
#define OMX_LOG_H
#include <syslog.h>

/* TO_STDERR: write to stderr instead of syslog; LEVEL: the least urgent priority logged.
 * With TO_STDERR, records what fd 2 is now: lines go there only while it stays that file. */
void omx_log_setup(int to_stderr, int level);

/* Whether fd 2 was a socket when it was recorded: 1, 0, or -1 not recorded. */
int omx_log_stderr_is_socket(void);

/* Exim's delivery processes are started for one message (exim4 -Mc ID, -M ID,
 * -MC ... ID): from then on the syslog lines end with " [message ID]", the ID
 * Exim's mainlog shows for the delivery. Other programs: nothing added. */
void omx_log_context_from_argv(int argc, char **argv);

/* Logs one line "onionmx: ..." at PRIO (LOG_ERR, LOG_INFO, ...). errno is preserved. */
void omx_log(int prio, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Whether omx_log would emit a line at PRIO (the setup's level). */
int omx_log_enabled(int prio);

/* Logs to both stderr and syslog regardless of the setup: for a configuration
 * that cannot be read, which must not go unseen. */
void omx_log_alert(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
#endif
