/* libFuzzer target: omx_map_parse_line, one line of the map source.
 *
 * Input: the line (no newline is special here: the compiler splits lines).
 * Checked, besides memory safety: the verdict is -1, 0 or 1; with 1 the domain
 * is normalised (normalising it again changes nothing, and it is at most 254
 * bytes with a leading dot), there are 1..16 targets, each a valid lower-case v3
 * onion, no two alike; writing the entry back out as a canonical line and
 * parsing that gives the same entry; errors are NUL-terminated, non-empty and
 * stay inside the buffer. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "map.h"
#include "onion.h"

#define CHECK(cond)                                                                   \
	do {                                                                          \
		if (!(cond)) {                                                        \
			fprintf(stderr, "fuzz_map_line: check failed: %s (line %d)\n", #cond, \
				__LINE__);                                            \
			abort();                                                      \
		}                                                                     \
	} while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char domain[256], domain2[256], copy[256], err[256], err2[256];
	struct omx_target t[OMX_MAP_MAX_TARGETS], t2[OMX_MAP_MAX_TARGETS];
	char line[OMX_MAP_MAX_TARGETS * 80 + 300];
	int n = -7, n2 = -7, r, r2;
	size_t pos;

	if (size > OMX_MAP_MAX_LINE)
		return 0;
	memset(err, 0x5a, sizeof(err));
	r = omx_map_parse_line((const char *)data, size, domain, t, &n, err, 200);
	CHECK(r == -1 || r == 0 || r == 1);
	for (size_t i = 200; i < sizeof(err); i++)
		CHECK((unsigned char)err[i] == 0x5a);
	if (r < 0) {
		CHECK(memchr(err, '\0', 200) && err[0] != '\0');
		return 0;
	}
	if (r == 0)
		return 0;
	CHECK(n >= 1 && n <= OMX_MAP_MAX_TARGETS);
	CHECK(memchr(domain, '\0', sizeof(domain)));
	CHECK(strlen(domain) <= 254);
	CHECK(strlen(domain) <= 253 || domain[0] == '.');
	snprintf(copy, sizeof(copy), "%s", domain);
	CHECK(omx_domain_normalise(copy, err2, sizeof(err2)) == 0);
	CHECK(strcmp(copy, domain) == 0);
	for (int i = 0; i < n; i++) {
		CHECK(strlen(t[i].onion) == OMX_ONION_LABEL_LEN);
		CHECK(omx_onion_check(t[i].onion, OMX_ONION_LABEL_LEN) == OMX_ONION_OK);
		for (int k = 0; k < OMX_ONION_LABEL_LEN; k++)
			CHECK(t[i].onion[k] < 'A' || t[i].onion[k] > 'Z');
		for (int j = 0; j < i; j++)
			CHECK(strcmp(t[i].onion, t[j].onion) != 0);
	}

	/* Canonical form round trip. */
	pos = (size_t)snprintf(line, sizeof(line), "%s", domain);
	for (int i = 0; i < n; i++) {
		pos += (size_t)snprintf(line + pos, sizeof(line) - pos, " %s.onion", t[i].onion);
		if (t[i].port)
			pos += (size_t)snprintf(line + pos, sizeof(line) - pos, ":%u", t[i].port);
	}
	CHECK(pos < sizeof(line));
	r2 = omx_map_parse_line(line, pos, domain2, t2, &n2, err2, sizeof(err2));
	CHECK(r2 == 1 && n2 == n && strcmp(domain2, domain) == 0);
	for (int i = 0; i < n; i++)
		CHECK(strcmp(t[i].onion, t2[i].onion) == 0 && t[i].port == t2[i].port);
	return 0;
}
