/* The discovery cache: SRV results per domain and the synthetic addresses of
 * discovered onions, in one file that every process of the MTA maps shared.
 *
 * Why a file: a busy Postfix runs many smtp processes, and Exim re-executes
 * itself; they must share the answers (one DNS query per TTL, not per process)
 * and agree on the address of a discovered onion, which the compiled map cannot
 * give. The file is opened before the MTA chroots and drops privileges, and
 * kept mapped. A process-shared robust mutex inside the file serialises
 * writers across threads and processes (no system call when uncontended; a
 * holder that dies does not wedge the others).
 *
 * Addresses: slot I of the address table stands for a fixed address of the
 * discovery range (the I-th usable one: .0 and .255 skipped); an onion takes
 * the first free slot of its own probe sequence (derived from the label, like
 * the map's), so it keeps its address in every process and across restarts.
 * A slot is only reused for another onion after OMX_CACHE_ADDR_IDLE seconds
 * without use, and only when its sequence has no free slot left.
 *
 * Under attack: the probe sequences and domain slots are keyed hashes
 * (SipHash-2-4 with a secret made by getrandom when the file is created, kept
 * in its header), so nobody who cannot read the file (mode 0600, root's) can
 * grind onions onto another onion's slots. The lock is waited for at most
 * OMX_CACHE_LOCK_WAIT seconds (a stopped holder, or a copy of a file taken
 * while locked), then the caller defers; it is held with signals blocked. An
 * entry is published by its last store, under a keyed checksum, so a writer
 * killed half way leaves nothing usable. */
#ifndef OMX_CACHE_H
#define OMX_CACHE_H
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "map.h"
#include "srv.h"

#define OMX_CACHE_DOMAIN_SLOTS 4096
#define OMX_CACHE_ADDR_SLOTS 16384   /* needs a discovery range of /17 or larger */
#define OMX_CACHE_PROBES 64
#define OMX_CACHE_ADDR_IDLE (30 * 86400)
#define OMX_CACHE_DOMAIN_ONIONS 32   /* slots in use one domain's answers may hold */
#define OMX_DEFAULT_DISCOVER_RANGE "248.0.0.0/8"
#define OMX_DEFAULT_CACHE "/var/lib/onionmx/discovery.cache"
#define OMX_CACHE_LOCK_WAIT 2        /* seconds: then the lookup defers */

/* What the functions below return beside their documented values. */
#define OMX_CACHE_BUSY (-2)          /* the lock was not obtained in time: defer */
#define OMX_CACHE_FULL (-1)          /* an onion could get no address: defer */
#define OMX_CACHE_QUOTA (-3)         /* the domain's answers hold too many slots: defer */

/* Tests only: called with the name of each step of a write, under the lock. */
extern void (*omx_cache_test_step)(const char *step);

struct omx_cache_file; /* the mapped layout, private to cache.c */

struct omx_cache {
	struct omx_cache_file *file; /* NULL: not open */
	size_t size;
	uint32_t net, mask;          /* discovery range, host order */
	uint64_t key[2];             /* the file's secret, read once at open */
	int shared;                  /* 1: a file; 0: an anonymous mapping (this process
				      * and its fork() children only) */
};

/* Opens (creating it if missing, mode 0600) the cache file PATH for the
 * discovery range NET/MASK and maps it shared. The file and its directory must
 * be owned by root or by the effective user, not writable by group or others
 * (with REQUIRE_ROOT: owned by root), the file a regular one; a file written
 * for another range or layout is refused. Returns 0, or -1 with the reason (naming PATH) in ERR and
 * errno EACCES when the process may not open the file for writing. */
int omx_cache_open(struct omx_cache *c, const char *path, uint32_t net, uint32_t mask,
		   int require_root, char *err, size_t errlen);

/* The same cache in anonymous shared memory, for a process that cannot open the
 * file: answers are still cached, but only this process and its children see
 * them (and the addresses of discovered onions). */
int omx_cache_open_anonymous(struct omx_cache *c, uint32_t net, uint32_t mask, char *err,
			     size_t errlen);
void omx_cache_close(struct omx_cache *c);

/* Whether NET/MASK can hold the address table (/17 or larger). */
int omx_cache_range_ok(uint32_t net, uint32_t mask);

/* The SRV result cached for DOMAIN (lower case, no trailing dot) if it has not
 * expired at NOW (seconds, CLOCK_REALTIME): returns 1 with R filled (R->ttl the
 * seconds left, the ignored list empty), else 0; OMX_CACHE_BUSY, or
 * OMX_CACHE_FULL if an onion of the entry could not keep an address. Using an
 * entry marks its onions' addresses as in use (they are given one again if
 * they lost it). A negative answer is read without the lock (no system call). */
int omx_cache_get(struct omx_cache *c, const char *domain, time_t now,
		  struct omx_srv_result *r);

/* Stores R for DOMAIN until NOW + R->ttl (nothing if R->ttl is 0), and gives
 * each onion of an OMX_SRV_ONION result its address (port R->rec[i].port).
 * Returns 0, or for an OMX_SRV_ONION result OMX_CACHE_FULL (an onion could get
 * no address), OMX_CACHE_QUOTA (the domain's answers already hold
 * OMX_CACHE_DOMAIN_ONIONS slots in use) or OMX_CACHE_BUSY: the caller defers. TTLs are capped at
 * OMX_SRV_TTL_MAX. An entry evicts the one expiring first among its probe slots. */
int omx_cache_put(struct omx_cache *c, const char *domain, time_t now,
		  const struct omx_srv_result *r);

/* Finds or assigns the address of discovered onion LABEL with PORT (the port of
 * the most recent answer naming it wins). Returns 1 with *ADDR, 0 table full
 * (or LABEL invalid), OMX_CACHE_BUSY. */
int omx_cache_assign(struct omx_cache *c, const char *label, uint16_t port, time_t now,
		     uint32_t *addr);

/* The address already assigned to LABEL (any case, LEN bytes): 1 found, 0 not
 * (or the lock not obtained in time). */
int omx_cache_onion_addr(struct omx_cache *c, const char *label, size_t len, uint32_t *addr);

/* The onion behind ADDR (host order, inside the discovery range): 1 found with
 * T filled (T->port the SRV port), 0 not (or the lock not obtained in time). */
int omx_cache_addr_onion(struct omx_cache *c, uint32_t addr, struct omx_target *t);
#endif
