/* libFuzzer target: omx_map_yml_translate, a whole map.yml.
 *
 * Checked, besides memory safety and leaks: errors name "fuzz.yml:LINE: " and
 * stay inside the buffer; a translation has no more lines than the input, and
 * every non-blank line of it parses as a native map line (domain and 1..16
 * valid onions), with the same result with and without -k when nothing was
 * skipped. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "map.h"
#include "map_yml.h"

#define CHECK(cond)                                                                   \
	do {                                                                          \
		if (!(cond)) {                                                        \
			fprintf(stderr, "fuzz_map_yml: check failed: %s (line %d)\n", #cond, \
				__LINE__);                                            \
			abort();                                                      \
		}                                                                     \
	} while (0)

static size_t count_lines(const char *p, size_t n)
{
	size_t lines = 0;

	for (size_t i = 0; i < n; i++)
		lines += p[i] == '\n';
	return lines + (n && p[n - 1] != '\n');
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[512], *out = NULL, *strict = NULL;
	size_t len = 0, slen = 0;
	unsigned skipped = 0, s2 = 0;
	int rc = omx_map_yml_translate((const char *)data, size, "fuzz.yml", 1, NULL, NULL, &out,
				       &len, &skipped, err, sizeof(err));

	if (rc != 0) {
		CHECK(strncmp(err, "fuzz.yml:", 9) == 0);
		CHECK(memchr(err, '\0', sizeof(err)) != NULL);
		CHECK(out == NULL);
		return 0;
	}
	CHECK(out != NULL && strlen(out) == len);
	CHECK(count_lines(out, len) <= count_lines((const char *)data, size));
	for (size_t pos = 0; pos < len;) {
		const char *nl = memchr(out + pos, '\n', len - pos);
		size_t end = nl ? (size_t)(nl - out) : len;
		char domain[256], msg[256];
		struct omx_target t[OMX_MAP_MAX_TARGETS];
		int nt;

		if (end > pos)
			CHECK(omx_map_parse_line(out + pos, end - pos, domain, t, &nt, msg, sizeof(msg)) == 1);
		pos = end + 1;
	}
	if (skipped == 0) {
		CHECK(omx_map_yml_translate((const char *)data, size, "fuzz.yml", 0, NULL, NULL, &strict,
					    &slen, &s2, err, sizeof(err)) == 0);
		CHECK(slen == len && memcmp(strict, out, len) == 0);
		free(strict);
	}
	free(out);
	return 0;
}
