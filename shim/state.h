/* The library's process-wide state: the configuration read in the constructor,
 * and the current map, which a rebuild with onionmx-map replaces while the
 * process runs (chrooted or not). */
#ifndef OMX_STATE_H
#define OMX_STATE_H
#include <stdint.h>

#include "config.h"
#include "map.h"

extern struct omx_config omx_cfg;
extern int omx_config_ok;            /* 0: config unreadable; fail closed */
extern int omx_active;               /* 0: a program the config leaves alone */
/* 1: this process delivers mail, so a mapped domain's own A/AAAA lead to its
 * onions: a program the "programs" key names or the onionmx wrapper runs, else
 * (no "programs" key) Postfix's smtp or Exim by name. Elsewhere those lookups
 * pass, so the domain's web site stays reachable from the host. */
extern int omx_mta;

/* What an exec must carry so the library stays loaded (hook_exec.c): the
 * LD_PRELOAD entry naming this library (the bare name when it sits in a
 * directory ld.so trusts in secure mode, else its absolute path), and the
 * "ONIONMX_CONF=..." entry ("" when the built-in path is in use). */
extern const char *omx_self_preload;
extern const char *omx_conf_env;

/* Whether the library started in secure mode (AT_SECURE: a set-id program). */
extern int omx_started_secure;

/* Synthetic range of the current map (host order), read without locks by connect(). */
extern uint32_t omx_range_net, omx_range_mask;

/* Discovery ("discover = srv"): the cache of SRV answers and discovered onions'
 * addresses (NULL when discovery is off), whether discovery cannot run safely
 * (its range overlaps the map's: MX lookups it would answer then defer), and
 * its synthetic range (equal to the map's when off, so it adds no match). */
extern struct omx_cache *omx_discovery;
/* Which Tor client is down (health.h), with several; else NULL. */
extern struct omx_health *omx_tor_health;
extern int omx_discovery_broken;
extern uint32_t omx_discover_net, omx_discover_mask;

/* Reads the configuration and opens the map (once; the constructor calls it). */
void omx_init(void);

/* Whether the hooks act in this process (initialising first if a hook runs
 * before the constructor). Called only once a call looks like ours. */
int omx_enabled(void);

/* The current map, or NULL when there is no usable one (fail closed): none
 * loaded, or a lookup found it damaged, or its file was written in place. Holds off its
 * release until omx_map_release(): every acquire needs exactly one release. Checks
 * for a rebuilt map at most once a second. No lock, no allocation; a system call
 * only on that once-a-second check. */
const struct omx_map *omx_map_acquire(void);
void omx_map_release(void);

/* The descriptor the library keeps of its current map's file, or -1. */
int omx_map_fd(void);

static inline int omx_in_map_range(uint32_t addr)
{
	return (addr & __atomic_load_n(&omx_range_mask, __ATOMIC_RELAXED)) ==
	       __atomic_load_n(&omx_range_net, __ATOMIC_RELAXED);
}

/* The map's previous ranges (onionmx-map -r), still refused: a process may hold
 * their addresses. Unused entries repeat the current range, so add no match. */
extern uint32_t omx_old_net[OMX_MAP_MAX_OLD_RANGES], omx_old_mask[OMX_MAP_MAX_OLD_RANGES];

static inline int omx_in_old_range(uint32_t addr)
{
	for (int i = 0; i < OMX_MAP_MAX_OLD_RANGES; i++)
		if ((addr & __atomic_load_n(&omx_old_mask[i], __ATOMIC_RELAXED)) ==
		    __atomic_load_n(&omx_old_net[i], __ATOMIC_RELAXED))
			return 1;
	return 0;
}

static inline int omx_is_synthetic(uint32_t addr)
{
	return omx_in_map_range(addr) || omx_in_old_range(addr) ||
	       (addr & __atomic_load_n(&omx_discover_mask, __ATOMIC_RELAXED)) ==
		       __atomic_load_n(&omx_discover_net, __ATOMIC_RELAXED);
}
#endif
