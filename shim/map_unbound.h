/* The compiled map as an unbound include: the host-wide layer (README, "The
 * host-wide layer") for programs the library cannot reach. Tools only. */
#ifndef OMX_MAP_UNBOUND_H
#define OMX_MAP_UNBOUND_H
#include <stdio.h>

#include "map.h"

/* Writes to OUT a "server:" clause that answers, as the library does, every
 * mapped domain's MX with its onions (local-zone typetransparent: its other
 * types resolve normally), each subdomain entry ".P" with a redirect zone P
 * (unbound has no wildcard data), every onion of the map (and names below it)
 * with its synthetic A and v4-mapped AAAA, and the rest of .onion with NXDOMAIN
 * (RFC 7686). NAME names the map in the header comment. What unbound answers
 * differently from the library (a ".P" entry also covers P; names below an
 * exact entry under a ".P" entry resolve normally) is written to WARN, one line
 * each, if WARN is not NULL. Returns 0, or -1 with the reason in ERR (the map
 * is damaged, or P and ".P" name different onions, which one redirect zone
 * cannot answer). */
int omx_map_write_unbound(const struct omx_map *map, const char *name, FILE *out, FILE *warn,
			  char *err, size_t errlen);

/* The same into PATH, atomically (temporary file beside it, fsync, rename,
 * mode 0644): on any error PATH is left as it was. */
int omx_map_unbound_file(const struct omx_map *map, const char *name, const char *path,
			 FILE *warn, char *err, size_t errlen);
#endif
