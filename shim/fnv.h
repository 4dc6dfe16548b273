/* FNV-1a, 64 bits: the one hash of names in the map (omx_label_hash, the
 * compiler's tables), the statistics file and the onion-key memo. Its values
 * are stored in compiled maps and statistics files: they must not change. */
#ifndef OMX_FNV_H
#define OMX_FNV_H
#include <stddef.h>
#include <stdint.h>

#define OMX_FNV64_OFFSET 0xcbf29ce484222325ull
#define OMX_FNV64_PRIME 0x100000001b3ull

static inline uint64_t omx_fnv1a64_step(uint64_t h, unsigned char c)
{
	return (h ^ c) * OMX_FNV64_PRIME;
}

/* H continued over the N bytes at S (start with OMX_FNV64_OFFSET). */
static inline uint64_t omx_fnv1a64(uint64_t h, const void *s, size_t n)
{
	const unsigned char *p = s;

	for (size_t i = 0; i < n; i++)
		h = omx_fnv1a64_step(h, p[i]);
	return h;
}
#endif
