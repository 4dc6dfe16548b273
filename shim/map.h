/* The domain -> onion map.
 *
 * Source lines: "DOMAIN TARGET [TARGET ...]", TARGET = v3 onion [":" PORT];
 * ".example.org" covers the subdomains of example.org; '#' comments.
 *
 * Compiled form (tinycdb), written by onionmx-map and only read by the library:
 *   "!onionmx"  -> "3 NET/PREFIX[ old=NET/PREFIX@UNIXTIME ...] toc=HEX16 sum=HEX16"
 *                  format version, synthetic range, previous ranges still refused
 *                  and when they were left, checksums of the cdb's table of
 *                  contents (seeded with the text before " toc=") and of the
 *                  whole file (with the digits after "sum=" read as 16 zeros)
 *   "d:" DOMAIN -> ADDR4 [ADDR4 ...] CHECK   the addresses of its onions (4 bytes,
 *                  big-endian), in the listed order: each names an "a:" record
 *   "a:" 4 bytes -> "o" ONION35 PORT2 NDOMAINS4 FIRSTDOMAIN CHECK   (PORT 0: the
 *                  caller's); ONION35 is the onion address decoded from base32
 *                  (ed25519 key, checksum, version 3), checked when compiled
 *   "a:" 4 bytes -> "t" ONION35 FREED8 CHECK   a retired address (a tombstone): the
 *                  onion had it until the map built at unix time FREED
 *                  Numbers are big-endian. The 4 key bytes are the address put
 *                  through a bijective mix (omx_map_addr_key): cdb's hash spreads
 *                  raw addresses so badly that its tables formed runs of
 *                  hundreds of slots.
 * Format 2 (still read, and rebuilt over keeping its addresses and tombstones)
 * held text: "d:" DOMAIN -> "LABEL[:PORT] ... CHECK", "a:" -> "LABEL PORT
 * NDOMAINS FIRSTDOMAIN CHECK" or "- LABEL FREED CHECK", CHECK " " and 8 hex
 * digits; format 3 stores each onion once, in binary (half the size).
 * In the hash tables, an empty slot is (omx_map_empty_slot(TABLE, SLOT), 1) rather
 * than cdb's (0, 0), so that a zeroed slot is seen as damage, not as the end of
 * a probe (tinycdb's cdb_find still works, walking whole tables on a miss).
 * CHECK is 4 bytes, little-endian: omx_map_record_check of the key and the rest
 * of the value, so a lookup never trusts a record torn, damaged or moved to another
 * key. The "!onionmx" record is the first one (offset 2048): it and the table of
 * contents are checked when the map is opened (constant time, whatever the map's
 * size); the whole-file sum only by onionmx -t, onionmx-map -q and by onionmx-map
 * itself before it renames a new map into place.
 *
 * An onion's address is the first address of its own probe sequence
 * (omx_addr_candidate) that holds it. A new onion gets the first free one; an
 * onion already in the map being rebuilt keeps its address; a removed onion's
 * address stays a tombstone for OMX_MAP_RETIRE_SECONDS (a reader walking a probe
 * sequence steps over it like any taken address; connect() to it is refused),
 * and longer while it lies on another onion's probe path. A reader walks an
 * onion's sequence and stops at the onion or at an empty slot. Every process
 * reads addresses from the map, so all agree on them with no runtime state. */
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
#define OMX_MAP_VERSION 3 /* written; 2 is still read */
/* How long a process may hold a synthetic address it was given: Exim passes
 * them across exec for a delivery, Postfix's connection cache keeps them for
 * seconds; a week bounds any delivery attempt with a wide margin. A removed
 * onion's address and a range left with -r stay refused at least this long. */
#define OMX_MAP_RETIRE_SECONDS (7 * 86400)
#define OMX_MAP_MAX_OLD_RANGES 4

/* Lookup results beside 0 (not in the map) and the positive ones. */
#define OMX_MAP_DAMAGED (-1) /* the map cannot be trusted: defer, never "not mapped" */
#define OMX_MAP_RETIRED 2    /* omx_map_addr_onion: a tombstone (removed onion's address) */

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
/* Onion labels of a source TEXT (LEN bytes) already found valid, checksum and
 * ed25519 key and all: the bit of each such label's offset is set in BITS. The compiler's
 * second thread fills it from the end of the source while the first parses
 * from the start; a label without its bit is checked as usual. */
struct omx_map_prechecked {
	const char *text;
	size_t len;
	const uint8_t *bits;    /* NULL: none yet */
	char *recent;           /* NULL, or the caller's buffer of 112 bytes: the last
				 * label found valid, lower case then as written (a
				 * source lists an onion's domains together: no memo
				 * lookup and no lower-casing for them) */
	/* NULL, or whether the lower-case LABEL (56 characters) is known valid
	 * without a check (the compiler: an onion it already took in, or one the
	 * map being rebuilt vouches for); called from the parsing thread only */
	int (*known)(void *ctx, const char *label);
	void *known_ctx;
};

/* omx_map_parse_line, taking PRE's verdicts (PRE may be NULL) and remembering
 * onion keys found valid in MEMO (may be NULL). */
int omx_map_parse_line_pre(const char *line, size_t len, char domain[256],
			   struct omx_target targets[OMX_MAP_MAX_TARGETS], int *ntargets,
			   char *err, size_t errlen, const struct omx_map_prechecked *pre,
			   struct omx_onion_memo *memo);

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

struct omx_map_old_range {
	uint32_t net, mask;     /* host order */
	int64_t left;           /* unix time of the build that moved away from it */
};

struct omx_map {
	struct cdb cdb;         /* never written after open: copied per lookup */
	uint32_t net, mask;     /* synthetic range, host order */
	unsigned nold;          /* previous ranges: connects to them are refused */
	struct omx_map_old_range old[OMX_MAP_MAX_OLD_RANGES];
	unsigned version;       /* 2 (text records) or 3 (binary ones) */
	uint64_t sum;           /* whole-file sum from the header (omx_map_verify) */
	unsigned stamp_off;     /* where "toc=... sum=..." sits in the file */
	char stamp[41];         /* its text at open (no NUL): a file rewritten in place differs */
	int damaged;            /* atomic: a lookup found damage; every later one defers */
	unsigned tables_start;  /* where the hash tables begin (after the header) */
	dev_t dev;              /* identity of the file, to notice a rebuild */
	ino_t ino;
	struct timespec mtime;
	off_t size;
};

/* 64-bit hash of LEN bytes with SEED, 8 bytes at a time (about 1 ns per 8 bytes
 * on 32-byte blocks): damage detection, not a defence against whoever can write
 * the map (root). */
uint64_t omx_map_hash(const void *data, size_t len, uint64_t seed);

/* The header's checksums (see the format above): of the table of contents MEM[0..2048)
 * after HEADER (the text before " toc=", LEN bytes), and of the SIZE-byte file
 * MEM whose sum digits sit at SUM_OFF. */
uint32_t omx_map_empty_slot(unsigned table, unsigned slot);
/* The "a:" key of synthetic address ADDR, and back. */
void omx_map_addr_key(uint32_t addr, char key[6]);
uint32_t omx_map_key_addr(const char key[6]);
uint64_t omx_map_toc_sum(const unsigned char *mem, const char *header, size_t len);
uint64_t omx_map_file_sum(const unsigned char *mem, size_t size, size_t sum_off);

/* An onion label (56 base32 characters, any case) as format 3 stores it: the
 * 35 bytes it encodes (key, checksum, version), and back (lower case). The
 * decode returns -1 for a character outside base32 or a version other than 3. */
#define OMX_MAP_ONION_RAW 35
int omx_map_onion_raw(const char *label, uint8_t raw[OMX_MAP_ONION_RAW]);
void omx_map_onion_text(const uint8_t raw[OMX_MAP_ONION_RAW], char label[OMX_ONION_LABEL_LEN + 1]);

/* The CHECK of a record (see the format above): binds KEY to VALUE's text. */
uint32_t omx_map_record_check(const void *key, size_t klen, const void *value, size_t vlen);

/* Maps the cdb open on FD (the caller may close FD afterwards) and checks, in
 * time independent of its size, its header, its table of contents against the
 * header's checksum and that the file is as long as the table says (a
 * truncated map is refused). Returns 0, or -1 with the reason in ERR (NAME
 * names the file). */
int omx_map_open_fd(struct omx_map *map, int fd, const char *name, char *err, size_t errlen);
void omx_map_close(struct omx_map *map);

/* Reads the whole map and checks it against the header's sum (onionmx -t,
 * onionmx-map -q, and onionmx-map before it installs a map). Returns 0, or -1
 * with what is wrong in ERR. */
int omx_map_verify(const struct omx_map *map, const char *name, char *err, size_t errlen);

/* Targets for mail DOMAIN (any case, trailing dot allowed): the exact entry, else
 * the nearest ".parent" entry. Returns the number of targets (0: not mapped;
 * OMX_MAP_DAMAGED: the map is damaged, the caller defers). If MATCHED is not
 * NULL it receives the key that matched. Every lookup checks the records and
 * table slots it reads and that the file was not rewritten under the mapping;
 * on damage the map is marked (omx_map_damaged) and every later lookup fails. */
int omx_map_domain(const struct omx_map *map, const char *domain,
		   struct omx_target targets[OMX_MAP_MAX_TARGETS], char matched[256]);

/* Address of onion LABEL (LEN bytes, any case): 1 found, 0 not in the map,
 * OMX_MAP_DAMAGED. */
int omx_map_onion_addr(const struct omx_map *map, const char *label, size_t len,
		       uint32_t *addr);

/* Onion behind synthetic ADDR (host order): 1 found with TARGET filled (and the
 * first domain it serves plus how many in DOMAIN/NDOMAINS if not NULL), 0 not,
 * OMX_MAP_RETIRED (a removed onion's address: TARGET->onion names it; connect
 * must be refused), or OMX_MAP_DAMAGED. */
int omx_map_addr_onion(const struct omx_map *map, uint32_t addr, struct omx_target *target,
		       char domain[256], unsigned *ndomains);

/* Whether a lookup found MAP damaged (then every lookup fails). */
int omx_map_damaged(const struct omx_map *map);

/* The previous range of MAP that holds ADDR, or NULL. */
const struct omx_map_old_range *omx_map_old_range(const struct omx_map *map, uint32_t addr);

/* Calls FN(CTX, KEY, KLEN, VALUE, VLEN) for every record after the header, in
 * file order, with the value's CHECK cut off; each record's lengths and CHECK
 * are checked first. Returns 0, the first non-zero FN return, or
 * OMX_MAP_DAMAGED (and marks the map). For tools (onionmx-map -u): check the
 * whole map with omx_map_verify first. */
int omx_map_walk(const struct omx_map *map,
		 int (*fn)(void *ctx, const char *key, unsigned klen, const char *val, unsigned vlen),
		 void *ctx);

/* --- compiling (used by onionmx-map and tests) --- */

/* Compiles the source file SRC into the cdb OUT atomically (temporary file in the
 * same directory, fsync, verify, rename): on any error OUT is left untouched and
 * -1 is returned with "SRC:LINE: reason" in ERR. RANGE is "NET/PREFIX", or NULL
 * for the existing map's (else OMX_DEFAULT_RANGE). When OUT is an existing map,
 * its onions keep their addresses, removed onions' addresses become tombstones,
 * and a range moved away from is kept as a refused previous range (see above);
 * an onionmx map at OUT that fails its checks is an error (move it away to start
 * afresh; a file that is no onionmx map at all is simply replaced). On success fills
 * *NDOMAINS and *NONIONS. omx_map_compile_at takes the time as NOW (tests). */
int omx_map_compile(const char *src, const char *out, const char *range, size_t *ndomains,
		    size_t *nonions, char *err, size_t errlen);
int omx_map_compile_at(const char *src, const char *out, const char *range, int64_t now,
		       size_t *ndomains, size_t *nonions, char *err, size_t errlen);

/* The order in which the compiler places new onions (the first placed takes a
 * contested slot): ascending by this hash of the label. Tests use it to build
 * an onion that sorts before another. */
uint64_t omx_map_onion_order(const char *label);
#endif
