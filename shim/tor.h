/* Connecting a caller's socket to an onion through Tor's SOCKS5 port. */
#ifndef OMX_TOR_H
#define OMX_TOR_H
#include <stdint.h>

#include "config.h"
#include "map.h"

/* Connects FD (the caller's TCP socket) to Tor at CFG->socks and asks for
 * TARGET's onion by name, on TARGET's port if the map gives one for the SMTP
 * port, else on CALLER_PORT. Works on blocking and non-blocking sockets alike:
 * the whole handshake happens here, within CFG->timeout whatever happens to the
 * socket's flags meanwhile (no call blocks), and the socket's flags are
 * restored. Returns 0, or -errno (the socket is then shut down): -ENETDOWN when
 * Tor's SOCKS port refuses the connection (Tor not running), -EINTR when a
 * signal whose handler lacks SA_RESTART interrupted a wait, as it would have
 * interrupted the kernel's connect(). Logs one line: onion, port, result and
 * time taken; DOMAIN/NDOMAINS name whom it serves. */
int omx_tor_connect(int fd, const struct omx_config *cfg, const struct omx_target *target,
		    uint16_t caller_port, const char *domain, unsigned ndomains);

/* The port actually asked of Tor (see above). */
uint16_t omx_tor_port(const struct omx_target *target, uint16_t caller_port);
#endif
