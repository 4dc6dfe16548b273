/* SHA3-256 (FIPS 202), written in-tree so the library needs nothing beyond libc. */
#ifndef OMX_SHA3_H
#define OMX_SHA3_H
#include <stddef.h>
#include <stdint.h>

struct omx_sha3 {
	uint64_t state[25];
	size_t pos; /* bytes absorbed into the current block */
};

void omx_sha3_256_init(struct omx_sha3 *ctx);
void omx_sha3_256_update(struct omx_sha3 *ctx, const void *data, size_t len);
void omx_sha3_256_final(struct omx_sha3 *ctx, uint8_t out[32]);
/* One-shot convenience. */
void omx_sha3_256(const void *data, size_t len, uint8_t out[32]);
#endif
