/* The domain -> onion map.
 *
 * Source lines: "DOMAIN TARGET [TARGET ...]", TARGET = v3 onion [":" PORT];
 * ".example.org" covers the subdomains of example.org; '#' comments.
 *
 * Compiled form (tinycdb), written by onionmx-map and only read by the library:
 *   "!onionmx"        -> "1 NET/PREFIX"   format version and synthetic range
 *   "d:" DOMAIN       -> "LABEL[:PORT] LABEL[:PORT] ..."   in the listed order
 *   "a:" 4 bytes      -> "LABEL PORT NDOMAINS FIRSTDOMAIN"   (PORT 0: the caller's)
 * An onion's address is the first address of its own probe sequence
 * (omx_addr_candidate) that holds it: the compiler gave each onion the first
 * free one, so a reader walks the same sequence and stops at the onion or at an
 * empty slot. Every process reads addresses from the map, so all agree on them
 * with no runtime state. */
#ifndef OMX_MAP_H
#define OMX_MAP_H
#include <cdb.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "onion.h"

#define OMX_MAP_MAX_TARGETS 16
#define OMX_MAP_MAX_LINE 4096
#define OMX_DEFAULT_RANGE "240.0.0.0/5" /* discovery takes 248.0.0.0/8 */
#define OMX_MAP_MAX_PROBES 4096 /* the compiler refuses a map needing more */

struct omx_target {
	char onion[OMX_ONION_LABEL_LEN + 1]; /* lower-case label, no ".onion" */
	uint16_t port;                       /* 0: whatever port the caller asked for */
};

/* --- source parsing (pure) --- */

/* Parses one source line (LEN bytes, no newline). Returns 1 with DOMAIN (lower
 * case, no trailing dot, leading '.' kept for subdomain entries) and TARGETS
 * filled, 0 for a blank or comment line, -1 with the reason in ERR. */
int omx_map_parse_line(const char *line, size_t len, char domain[256],
		       struct omx_target targets[OMX_MAP_MAX_TARGETS], int *ntargets,
		       char *err, size_t errlen);

/* Checks and normalises a mail domain in place (lower case, trailing dot removed).
 * Returns 0, or -1 with the reason in ERR. */
int omx_domain_normalise(char *domain, char *err, size_t errlen);

/* --- synthetic addresses (pure) --- */

/* Parses "A.B.C.D/PREFIX" (prefix 4..24). Host byte order. */
int omx_parse_range(const char *text, uint32_t *net, uint32_t *mask);

/* Whether ranges NET1/MASK1 and NET2/MASK2 share an address. The map's and
 * discovery's must not: connect() would take a discovered onion's address for
 * a mapped one's, and the mail would reach the wrong onion. */
int omx_ranges_overlap(uint32_t net1, uint32_t mask1, uint32_t net2, uint32_t mask2);

/* FNV-1a, 64 bits, over the lower-cased LABEL (at most 56 bytes) with SEED:
 * cheap and stable across builds and machines, which is all an address needs.
 * A probe sequence uses seed 0 for its start and OMX_LABEL_HASH_STEP (made odd)
 * for its step. */
#define OMX_LABEL_HASH_STEP 0x9e3779b97f4a7c15ull
uint64_t omx_label_hash(const char *label, uint64_t seed);

/* The ATTEMPT-th candidate address for onion LABEL in NET/MASK (host order):
 * a fixed probe sequence derived from the label alone, so an onion keeps its
 * address across rebuilds unless an earlier onion took it first. Candidates
 * whose last octet is 0 or 255 are never returned. */
uint32_t omx_addr_candidate(const char *label, uint32_t net, uint32_t mask, unsigned attempt);

/* --- compiled map (read side) --- */

struct omx_map {
	struct cdb cdb;         /* never written after open: copied per lookup */
	uint32_t net, mask;     /* synthetic range, host order */
	dev_t dev;              /* identity of the file, to notice a rebuild */
	ino_t ino;
	struct timespec mtime;
	off_t size;
};

/* Maps the cdb open on FD (the caller may close FD afterwards) and checks its
 * header. Returns 0, or -1 with the reason in ERR (NAME names the file). */
int omx_map_open_fd(struct omx_map *map, int fd, const char *name, char *err, size_t errlen);
void omx_map_close(struct omx_map *map);

/* Targets for mail DOMAIN (any case, trailing dot allowed): the exact entry, else
 * the nearest ".parent" entry. Returns the number of targets (0: not mapped). If
 * MATCHED is not NULL it receives the key that matched. */
int omx_map_domain(const struct omx_map *map, const char *domain,
		   struct omx_target targets[OMX_MAP_MAX_TARGETS], char matched[256]);

/* Address of onion LABEL (LEN bytes, any case): 1 found, 0 not in the map. */
int omx_map_onion_addr(const struct omx_map *map, const char *label, size_t len,
		       uint32_t *addr);

/* Onion behind synthetic ADDR (host order): 1 found with TARGET filled (and the
 * first domain it serves plus how many in DOMAIN/NDOMAINS if not NULL), 0 not. */
int omx_map_addr_onion(const struct omx_map *map, uint32_t addr, struct omx_target *target,
		       char domain[256], unsigned *ndomains);

/* --- compiling (used by onionmx-map and tests) --- */

/* Compiles the source file SRC into the cdb OUT atomically (temporary file in the
 * same directory, fsync, rename): on any error OUT is left untouched and -1 is
 * returned with "SRC:LINE: reason" in ERR. RANGE is "NET/PREFIX". On success fills
 * *NDOMAINS and *NONIONS. */
int omx_map_compile(const char *src, const char *out, const char *range, size_t *ndomains,
		    size_t *nonions, char *err, size_t errlen);
#endif
