/* onionmx-check --health: a verdict for Nagios/Icinga from the delivery
 * statistics and a probe of Tor's SOCKS port (see shim/stats.h). */
#ifndef OMX_HEALTH_H
#define OMX_HEALTH_H

/* Whether ARGV asks for --health (onionmx-check then hands it all to
 * omx_health_main, which returns the plugin's exit status: 0 OK, 1 WARNING,
 * 2 CRITICAL, 3 UNKNOWN). */
int omx_health_requested(int argc, char **argv);
int omx_health_main(int argc, char **argv);
#endif
