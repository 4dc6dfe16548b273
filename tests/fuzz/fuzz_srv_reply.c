/* libFuzzer target: omx_srv_parse_reply, the reply to an _onion-mx._tcp SRV
 * question as a DNS server (or anyone on the path) sends it.
 *
 * Input: byte 0 picks the DNSSEC policy; the rest is the reply.
 * Checked, besides memory safety: the status is one of the four; usable records
 * are only for ONION, at most 8, each a valid lower-case v3 onion with a port,
 * sorted by priority, no onion twice; TEMPFAIL is never cached; under require an
 * ONION answer carried the AD bit; the strings are NUL-terminated; the RFC 2782
 * order is a permutation sorted by priority. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "srv.h"

#define CHECK(cond)                                                                   \
	do {                                                                          \
		if (!(cond)) {                                                        \
			fprintf(stderr, "fuzz_srv_reply: check failed: %s (line %d)\n", #cond, \
				__LINE__);                                            \
			abort();                                                      \
		}                                                                     \
	} while (0)

static uint32_t counter(void *ctx)
{
	uint32_t *c = ctx;

	return *c = *c * 1103515245u + 12345u;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct omx_srv_result r;
	enum omx_dnssec_policy policy;
	int order[OMX_SRV_MAX_TARGETS], seen[OMX_SRV_MAX_TARGETS] = { 0 };
	uint32_t c = 1;

	if (size < 1)
		return 0;
	policy = (enum omx_dnssec_policy)(data[0] % 3);
	omx_srv_parse_reply(data + 1, size - 1, "_onion-mx._tcp.example.org", policy, &r);
	CHECK(r.status >= OMX_SRV_ONION && r.status <= OMX_SRV_TEMPFAIL);
	CHECK(r.n >= 0 && r.n <= OMX_SRV_MAX_TARGETS);
	CHECK(r.status == OMX_SRV_ONION ? r.n > 0 : r.n == 0);
	CHECK(r.status != OMX_SRV_TEMPFAIL || r.ttl == 0);
	CHECK(r.ttl <= OMX_SRV_TTL_MAX);
	CHECK(!(r.status == OMX_SRV_ONION && policy == OMX_DNSSEC_REQUIRE) || r.secure);
	CHECK(memchr(r.detail, '\0', sizeof(r.detail)) != NULL);
	for (int i = 0; i < r.n; i++) {
		CHECK(strlen(r.rec[i].onion) == OMX_ONION_LABEL_LEN);
		CHECK(omx_onion_check(r.rec[i].onion, OMX_ONION_LABEL_LEN) == OMX_ONION_OK);
		for (int k = 0; k < OMX_ONION_LABEL_LEN; k++)
			CHECK(r.rec[i].onion[k] < 'A' || r.rec[i].onion[k] > 'Z');
		CHECK(r.rec[i].port != 0);
		CHECK(i == 0 || r.rec[i - 1].priority <= r.rec[i].priority);
		for (int j = 0; j < i; j++)
			CHECK(strcmp(r.rec[i].onion, r.rec[j].onion) != 0);
	}
	for (int i = 0; i < r.nignored && i < OMX_SRV_MAX_IGNORED; i++) {
		CHECK(memchr(r.ignored[i].name, '\0', sizeof(r.ignored[i].name)) != NULL);
		CHECK(r.ignored[i].why[0] != '\0');
	}
	omx_srv_order(&r, counter, &c, order);
	for (int i = 0; i < r.n; i++) {
		CHECK(order[i] >= 0 && order[i] < r.n && !seen[order[i]]++);
		CHECK(i == 0 || r.rec[order[i - 1]].priority <= r.rec[order[i]].priority);
	}
	return 0;
}
