/* libFuzzer target: the compiled map as the library reads it (omx_map_open_fd,
 * lookups, omx_map_verify) on arbitrary bytes.
 *
 * Input: a map file. If it has a header, its table-of-contents checksum is
 * recomputed first, so that mutations of the tables and records get past the
 * open-time check and reach the lookups. Checked, besides memory safety (the
 * lookups must stay inside the file whatever it says): results are in their
 * documented sets; a found onion is 56 base32 characters; once a lookup
 * reports damage, every later lookup does; a map that verifies gives no damage
 * on these lookups unless its records are bad. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "map.h"

#define CHECK(cond)                                                                   \
	do {                                                                          \
		if (!(cond)) {                                                        \
			fprintf(stderr, "fuzz_map_file: check failed: %s (line %d)\n", #cond, \
				__LINE__);                                            \
			abort();                                                      \
		}                                                                     \
	} while (0)

static void check_onion(const char *label)
{
	CHECK(strlen(label) == OMX_ONION_LABEL_LEN);
	for (size_t i = 0; i < OMX_ONION_LABEL_LEN; i++)
		CHECK((label[i] >= 'a' && label[i] <= 'z') || (label[i] >= '2' && label[i] <= '7'));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const domains[] = { "example.org", "a.example.net", "mapped.example",
					       "d0000001.example", "x.y.z.example.com" };
	unsigned char *copy;
	struct omx_map map;
	char err[512];
	int fd, damaged = 0;

	if (size < 2064 || size > (1 << 20))
		return 0;
	copy = malloc(size);
	memcpy(copy, data, size);
	if (memcmp(copy + 2056, "!onionmx", 8) == 0) {
		unsigned vlen = (unsigned)copy[2052] | (unsigned)copy[2053] << 8 |
				(unsigned)copy[2054] << 16 | (unsigned)copy[2055] << 24;
		if (vlen >= 43 && vlen < 512 && 2064 + vlen <= size &&
		    memcmp(copy + 2064 + vlen - 41, "toc=", 4) == 0) {
			char hex[17];
			snprintf(hex, sizeof(hex), "%016llx",
				 (unsigned long long)omx_map_toc_sum(copy, (const char *)copy + 2064, vlen - 42));
			memcpy(copy + 2064 + vlen - 37, hex, 16);
		}
	}
	fd = memfd_create("fuzz-map", MFD_CLOEXEC);
	if (fd < 0 || write(fd, copy, size) != (ssize_t)size) {
		if (fd >= 0)
			close(fd);
		free(copy);
		return 0;
	}
	if (omx_map_open_fd(&map, fd, "fuzz.cdb", err, sizeof(err)) == 0) {
		struct omx_target t[OMX_MAP_MAX_TARGETS], one;
		char domain[256], matched[256];
		unsigned nd;
		uint32_t addr;

		for (size_t i = 0; i < sizeof(domains) / sizeof(domains[0]); i++) {
			int n = omx_map_domain(&map, domains[i], t, matched);
			CHECK(n >= OMX_MAP_DAMAGED && n <= OMX_MAP_MAX_TARGETS);
			CHECK(!damaged || n == OMX_MAP_DAMAGED);
			damaged |= n == OMX_MAP_DAMAGED;
			for (int j = 0; j < n; j++) {
				check_onion(t[j].onion);
				int r = omx_map_onion_addr(&map, t[j].onion, OMX_ONION_LABEL_LEN, &addr);
				CHECK(r >= OMX_MAP_DAMAGED && r <= 1);
				damaged |= r == OMX_MAP_DAMAGED;
				if (r == 1)
					CHECK((addr & map.mask) == map.net);
			}
		}
		/* Addresses in the range: some from the input's own bytes. */
		for (size_t i = 0; i < 8; i++) {
			uint32_t off = 0;
			int r;

			memcpy(&off, data + (i * 977) % (size - 4), 4);
			addr = map.net + (off & ~map.mask);
			r = omx_map_addr_onion(&map, addr, &one, domain, &nd);
			CHECK(r >= OMX_MAP_DAMAGED && r <= OMX_MAP_RETIRED);
			CHECK(!damaged || r == OMX_MAP_DAMAGED);
			damaged |= r == OMX_MAP_DAMAGED;
			if (r == 1 || r == OMX_MAP_RETIRED)
				check_onion(one.onion);
		}
		CHECK(omx_map_damaged(&map) == damaged);
		omx_map_verify(&map, "fuzz.cdb", err, sizeof(err));
		for (unsigned i = 0; i < map.nold; i++)
			CHECK((map.old[i].net & map.old[i].mask) == map.old[i].net);
		omx_map_close(&map);
	}
	close(fd);
	free(copy);
	return 0;
}
