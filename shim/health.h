/* Which Tor client is down, shared by every process on the host (with
 * "socks" listing several): a small fixed-size file mapped shared, like the
 * discovery cache, so that a dead Tor costs one failed attempt per retry
 * interval, not one per delivery. One 64-bit word per Tor, written with one
 * atomic store (a crash cannot leave half of one), holding the time until
 * which the Tor is skipped and a check tying it to that Tor's address: the
 * file is read as untrusted, and a word that does not check out, or names a
 * time implausibly far ahead (a reboot, a forged file), means "healthy".
 * Wrong health only costs time (a Tor tried or skipped): which Tors exist
 * comes from the configuration alone. */
#ifndef OMX_HEALTH_H
#define OMX_HEALTH_H
#include <stdint.h>

#include "config.h"

#define OMX_HEALTH_SIZE 4096

struct omx_health {
	uint64_t *slot;                 /* OMX_TORS_MAX words in a shared mapping */
	uint32_t key[OMX_TORS_MAX];     /* from each Tor's address */
	int shared;                     /* 1: the file; 0: this process and its children */
};

/* Opens (creating it, mode 0600) the health file CFG->tor_health: a regular
 * file owned by root or the effective user (REQUIRE_ROOT: root), not writable
 * by group or others, of OMX_HEALTH_SIZE bytes (an empty one is sized).
 * Returns 0, or -1 with the reason naming the file in ERR. */
int omx_health_open(struct omx_health *hl, const struct omx_config *cfg, int require_root,
		    char *err, size_t errlen);

/* The same in anonymous shared memory (this process and its children). */
int omx_health_open_anonymous(struct omx_health *hl, const struct omx_config *cfg, char *err,
			      size_t errlen);

void omx_health_close(struct omx_health *hl);

/* Whether Tor I is to be tried at NOW (monotonic seconds): 1 when it is not
 * known to be down, or when it was down and its retry time has come and this
 * caller won the retry (others skip it for RETRY seconds more); else 0. */
int omx_health_try(struct omx_health *hl, int i, double now, int retry);

/* Tor I failed as a down Tor does: skipped until NOW + RETRY. */
void omx_health_down(struct omx_health *hl, int i, double now, int retry);

/* Tor I answered: healthy. */
void omx_health_up(struct omx_health *hl, int i);
#endif
