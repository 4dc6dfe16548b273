/* libFuzzer target: the search-list expansion and the hosts/alias file readers
 * (search.c), on names and files a local user or a broken resolv.conf gives.
 *
 * Input: byte 0 ndots, byte 1 options; then NAME, a NUL, and the search
 * domains one a line (at most 6, as glibc keeps); the same bytes after the
 * NUL are also read as a hosts file and as an alias file.
 * Checked, besides memory safety: at most OMX_SEARCH_MAX candidates, each
 * NUL-terminated and shorter than OMX_SEARCH_NAME_MAX, without a trailing dot
 * unless glibc would send it so; the name alone appears at most once. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "search.h"

#define CHECK(cond)                                                                   \
	do {                                                                          \
		if (!(cond)) {                                                        \
			fprintf(stderr, "fuzz_search: check failed: %s (line %d)\n", #cond, \
				__LINE__);                                            \
			abort();                                                      \
		}                                                                     \
	} while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct omx_search_cand cand[OMX_SEARCH_MAX];
	char *buf, *name, *rest, *domains[7] = { 0 }, out[64];
	size_t nd = 0, rest_len;
	int n, as_is = 0;

	if (size < 3 || size > 4096)
		return 0;
	buf = malloc(size - 1);
	if (!buf)
		return 0;
	memcpy(buf, data + 2, size - 2);
	buf[size - 2] = '\0';
	name = buf;
	rest = buf + strlen(buf) + (strlen(buf) < size - 2 ? 1 : 0);
	rest_len = (size_t)(buf + size - 2 - rest);
	CHECK(omx_hosts_has(rest, rest_len, name) <= 1);
	{
		char lbuf[512];
		const char *list[9];
		int ln = omx_search_list_parse(rest, rest_len, data[1] & 8, lbuf, sizeof(lbuf), list, 9);

		CHECK(ln >= -1 && ln <= 8);
		for (int i = 0; i < ln; i++)
			CHECK(list[i] >= lbuf && list[i] < lbuf + sizeof(lbuf) && *list[i]);
		if (ln >= 0)
			CHECK(list[ln] == NULL);
	}
	if (omx_hostalias(rest, rest_len, name, out, sizeof(out)))
		CHECK(strlen(out) < sizeof(out) && out[0]);
	for (char *p = rest, *save = NULL, *tok; nd < 6 && (tok = strtok_r(p, "\n", &save)); p = NULL)
		domains[nd++] = tok;
	n = omx_search_candidates(name, data[0] % 16, data[1] & 7, (const char *const *)domains, cand);
	CHECK(n >= 0 && n <= OMX_SEARCH_MAX);
	for (int i = 0; i < n; i++) {
		size_t len = strnlen(cand[i].name, sizeof(cand[i].name));
		CHECK(len < sizeof(cand[i].name));
		as_is += cand[i].role != OMX_SEARCH_LISTED;
	}
	CHECK(as_is <= 1);
	free(buf);
	return 0;
}
