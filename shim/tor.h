/* Connecting a caller's socket to an onion through Tor's SOCKS5 port: the one
 * SOCKS client of the library and of onionmx-check --probe. Core: its I/O,
 * clock and log come from the host (host.h), never from globals. */
#ifndef OMX_TOR_H
#define OMX_TOR_H
#include <stdint.h>

#include "config.h"
#include "health.h"
#include "host.h"
#include "map.h"

struct omx_tor_request {
	const struct omx_target *target;
	uint16_t caller_port;   /* the port the caller connects to */
	int family;             /* the family of the caller's address (AF_INET or
				 * AF_INET6), which its socket has; 0: ask the socket */
	const char *domain;     /* whom the onion serves, for the log line */
	unsigned ndomains;
	struct omx_health *health; /* with several Tors: which are down (NULL: unknown) */
	int known_tcp;          /* the host knows the socket was made TCP (it saw the
				 * socket() call): it is not asked its protocol, and
				 * its dial starts with an empty sendto(MSG_FASTOPEN),
				 * so that a socket of another kind that took the
				 * number unseen sends nothing (see dial_fastopen) */
	int untimed;            /* the host needs no RES->seconds for a success that
				 * is not logged: the clock is not read for it */
};

/* What happened, for the caller's statistics and reports. */
struct omx_tor_result {
	int error;              /* 0, or the errno connect() fails with */
	int sys_error;          /* the error underneath (ECONNREFUSED where error is
				 * ENETDOWN: Tor's port refused) */
	int socks_code;         /* Tor's non-zero CONNECT reply code, else 0 */
	int tor;                /* which Tor (index into the config's socks list) */
	const char *cause;      /* why it failed (a constant string), NULL on success */
	double seconds;         /* from the start to the reply or the failure (0 for
				 * an unlogged success with RQ->untimed) */
	uint16_t port;          /* the port asked of Tor */
};

/* Connects FD (the caller's TCP socket) to Tor at CFG->socks and asks for the
 * target's onion by name, on the target's port if the map gives one for the
 * SMTP port, else on the caller's port. Works on blocking and non-blocking
 * sockets alike: the whole handshake happens here, within CFG->timeout
 * whatever happens to the socket's flags meanwhile (no call blocks), and the
 * socket's flags are restored. With CFG->isolate the greeting offers only
 * username/password (username: the onion, password "onionmx"), so that Tor
 * gives each onion its own circuits; the greeting then goes alone (Tor drops
 * the method choice of a greeting sent with the authentication), else
 * greeting and CONNECT go in one write. Returns 0, or -errno (the socket is
 * then shut down): -ENETDOWN when Tor's SOCKS port refuses the connection
 * (Tor not running), -EINTR when a signal whose handler lacks SA_RESTART
 * interrupted a wait, as it would have interrupted the kernel's connect().
 * Logs one line through the host: onion, port, result and time taken. RES
 * (may be NULL) receives the details.
 *
 * With several Tors (CFG->ntors > 1) they are tried in an order that starts
 * at one chosen by the onion (its streams keep to one Tor's circuits), the
 * next when one is down - refused, not accepting or not answering the
 * greeting within CFG->tor_answer seconds, closing before answering - or
 * answers a general failure (0x01); never after an answer about the onion
 * itself (0x02-0x08, Tor's 0xF0-0xF7), which another Tor would give too. A
 * Tor found down is marked in RQ->health and skipped by every process for
 * CFG->tor_retry seconds; then one caller tries it again. When all are
 * marked down, each is tried all the same. */
int omx_tor_connect(const struct omx_host *h, int fd, const struct omx_config *cfg,
		    const struct omx_tor_request *rq, struct omx_tor_result *res);

/* The port actually asked of Tor (see above). */
uint16_t omx_tor_port(const struct omx_target *target, uint16_t caller_port);
#endif
