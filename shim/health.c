/* The shared Tor health (health.h). */
#include "health.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sha3.h"

/* Ties a slot's time to one Tor's address (murmur3's finaliser). */
static uint32_t check_of(uint32_t until, uint32_t key)
{
	uint32_t h = until ^ key;

	h ^= h >> 16;
	h *= 0x85ebca6b;
	h ^= h >> 13;
	h *= 0xc2b2ae35;
	h ^= h >> 16;
	return h | 1; /* never 0: a zero word is "healthy" */
}

static void derive_keys(struct omx_health *hl, const struct omx_config *cfg)
{
	for (int i = 0; i < cfg->ntors && i < OMX_TORS_MAX; i++) {
		char text[96];
		uint8_t digest[32];
		int n = snprintf(text, sizeof(text), "onionmx tor health %d %s", i, cfg->tors[i].text);

		omx_sha3_256(text, (size_t)n, digest);
		memcpy(&hl->key[i], digest, sizeof(hl->key[i]));
	}
}

int omx_health_open(struct omx_health *hl, const struct omx_config *cfg, int require_root,
		    char *err, size_t errlen)
{
	struct stat st;
	void *p;
	int fd;

	memset(hl, 0, sizeof(*hl));
	fd = open(cfg->tor_health, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY, 0600);
	if (fd < 0) {
		snprintf(err, errlen, "%s: %s", cfg->tor_health, strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) ||
	    (st.st_uid != 0 && (require_root || st.st_uid != geteuid())) ||
	    (st.st_mode & (S_IWGRP | S_IWOTH))) {
		snprintf(err, errlen, "%s: refused: not a regular file owned by %s and writable by it alone",
			 cfg->tor_health, require_root ? "root" : "root or this user");
		close(fd);
		return -1;
	}
	/* A fresh (or just created) file is sized: all zero, every Tor healthy. */
	if (st.st_size == 0 && ftruncate(fd, OMX_HEALTH_SIZE) != 0) {
		snprintf(err, errlen, "%s: %s", cfg->tor_health, strerror(errno));
		close(fd);
		return -1;
	}
	if (st.st_size != 0 && st.st_size != OMX_HEALTH_SIZE) {
		snprintf(err, errlen, "%s: refused: %lld bytes, not %d", cfg->tor_health,
			 (long long)st.st_size, OMX_HEALTH_SIZE);
		close(fd);
		return -1;
	}
	p = mmap(NULL, OMX_HEALTH_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	if (p == MAP_FAILED) {
		snprintf(err, errlen, "%s: %s", cfg->tor_health, strerror(errno));
		return -1;
	}
	hl->slot = p;
	hl->shared = 1;
	derive_keys(hl, cfg);
	return 0;
}

int omx_health_open_anonymous(struct omx_health *hl, const struct omx_config *cfg, char *err,
			      size_t errlen)
{
	void *p;

	memset(hl, 0, sizeof(*hl));
	p = mmap(NULL, OMX_HEALTH_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED) {
		snprintf(err, errlen, "cannot map a private Tor health table: %s", strerror(errno));
		return -1;
	}
	hl->slot = p;
	derive_keys(hl, cfg);
	return 0;
}

void omx_health_close(struct omx_health *hl)
{
	if (hl->slot)
		munmap(hl->slot, OMX_HEALTH_SIZE);
	memset(hl, 0, sizeof(*hl));
}

/* The time until which Tor I is down, or 0 (healthy, or a word that does not
 * check out: untrusted). */
static uint32_t down_until(const struct omx_health *hl, int i, uint64_t word, uint32_t now, int retry)
{
	uint32_t until = (uint32_t)(word >> 32);

	if (!word || (uint32_t)word != check_of(until, hl->key[i]))
		return 0;
	if (until > now + (uint32_t)retry)
		return 0; /* implausible: a reboot reset the clock, or a forged file */
	return until;
}

static uint64_t word_of(const struct omx_health *hl, int i, uint32_t until)
{
	return (uint64_t)until << 32 | check_of(until, hl->key[i]);
}

int omx_health_try(struct omx_health *hl, int i, double now, int retry)
{
	uint32_t t = (uint32_t)now, until;
	uint64_t word;

	if (!hl || !hl->slot || i < 0 || i >= OMX_TORS_MAX)
		return 1;
	word = __atomic_load_n(&hl->slot[i], __ATOMIC_ACQUIRE);
	until = down_until(hl, i, word, t, retry);
	if (!until)
		return 1;
	if (until > t)
		return 0;
	/* Its retry time has come: one caller takes the retry (and keeps the
	 * others away for another interval while it tries). */
	return __atomic_compare_exchange_n(&hl->slot[i], &word, word_of(hl, i, t + (uint32_t)retry), 0,
					   __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE);
}

void omx_health_down(struct omx_health *hl, int i, double now, int retry)
{
	if (hl && hl->slot && i >= 0 && i < OMX_TORS_MAX)
		__atomic_store_n(&hl->slot[i], word_of(hl, i, (uint32_t)now + (uint32_t)retry),
				 __ATOMIC_RELEASE);
}

void omx_health_up(struct omx_health *hl, int i)
{
	if (hl && hl->slot && i >= 0 && i < OMX_TORS_MAX &&
	    __atomic_load_n(&hl->slot[i], __ATOMIC_RELAXED) != 0)
		__atomic_store_n(&hl->slot[i], 0, __ATOMIC_RELEASE);
}
