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

/* Synthetic range of the current map (host order), read without locks by connect(). */
extern uint32_t omx_range_net, omx_range_mask;

/* Reads the configuration and opens the map (once; the constructor calls it). */
void omx_init(void);

/* The current map, or NULL when there is no usable one (fail closed). Holds off its
 * release until omx_map_release(): every acquire needs exactly one release. Checks
 * for a rebuilt map at most once a second. No lock, no allocation; a system call
 * only on that once-a-second check. */
const struct omx_map *omx_map_acquire(void);
void omx_map_release(void);

static inline int omx_is_synthetic(uint32_t addr)
{
	return (addr & __atomic_load_n(&omx_range_mask, __ATOMIC_RELAXED)) ==
	       __atomic_load_n(&omx_range_net, __ATOMIC_RELAXED);
}
#endif
