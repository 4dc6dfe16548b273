/* A small DNS reply builder for the unit tests' stand-in resolvers
 * (test_srv, test_policy, test_route). */
#ifndef OMX_TEST_DNS_PKT_H
#define OMX_TEST_DNS_PKT_H
#include <stdint.h>
#include <string.h>

struct pkt {
	uint8_t b[70000]; /* room for replies past 64 KiB (test_srv) */
	size_t len;
	size_t an_at; /* where the answer count is patched (test_srv) */
};

static inline void put8(struct pkt *p, unsigned v)
{
	p->b[p->len++] = (uint8_t)v;
}

static inline void put16(struct pkt *p, unsigned v)
{
	put8(p, v >> 8);
	put8(p, v);
}

static inline void put32(struct pkt *p, uint32_t v)
{
	put16(p, v >> 16);
	put16(p, v & 0xffff);
}

/* NAME ("a.b.c", no trailing dot) as uncompressed labels. */
static inline void put_name(struct pkt *p, const char *name)
{
	while (*name) {
		const char *dot = strchr(name, '.');
		size_t n = dot ? (size_t)(dot - name) : strlen(name);

		put8(p, (unsigned)n);
		memcpy(p->b + p->len, name, n);
		p->len += n;
		name += n;
		if (*name == '.')
			name++;
	}
	put8(p, 0);
}
#endif
