/* libFuzzer target: onionmx-check's reading of an MX reply (tools/check_mx.c),
 * the reply as a DNS server (or anyone on the path) sends it.
 *
 * Input: byte 0 decides which valid onions count as mapped (and their port);
 * the rest is the reply. Checked, besides memory safety: the hosts are sorted
 * by preference then answer order, NUL-terminated, and counted by kind; at most
 * OMX_MX_ONIONS_MAX onion routes, each a valid lower-case v3 onion of a mapped
 * MX host with a port, in host order, and the rest counted as left out; the
 * route follows from the kinds; the failure text is a NUL-terminated string. */
#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check_mx.h"

#define CHECK(cond)                                                                   \
	do {                                                                          \
		if (!(cond)) {                                                        \
			fprintf(stderr, "fuzz_mx_reply: check failed: %s (line %d)\n", #cond, \
				__LINE__);                                            \
			abort();                                                      \
		}                                                                     \
	} while (0)

/* Key bit 0 set: every onion is mapped; else those whose first character's low
 * bit equals key bit 1. The key's high bits give the port (0: the default, 25). */
static int mapped(void *ctx, const char *label, size_t len, uint16_t *port)
{
	uint8_t key = *(const uint8_t *)ctx;

	CHECK(len == OMX_ONION_LABEL_LEN && strlen(label) == len);
	CHECK(omx_onion_check(label, len) == OMX_ONION_OK);
	for (size_t i = 0; i < len; i++)
		CHECK(!isupper((unsigned char)label[i]));
	if (!(key & 1) && (((uint8_t)label[0] ^ (key >> 1)) & 1))
		return 0;
	*port = (uint16_t)((key >> 2) * 1031);
	return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct omx_mx_result r;
	char text[64];
	int count[OMX_MX_KINDS] = { 0 }, kept = 0;

	if (size < 1)
		return 0;
	omx_mx_failure_text(data + 1, size - 1, text, sizeof(text));
	CHECK(memchr(text, '\0', sizeof(text)) && text[0]);
	if (omx_mx_decide(data + 1, size - 1, mapped, (void *)data, &r) != 0)
		return 0;
	CHECK(r.route >= OMX_MX_ROUTE_NULL && r.route <= OMX_MX_ROUTE_BOUNCE);
	CHECK(r.n >= 0 && (r.n == 0 || r.host));
	CHECK(r.nonion >= 0 && r.nonion <= OMX_MX_ONIONS_MAX && r.onions_left_out >= 0);
	for (int i = 0; i < r.n; i++) {
		CHECK(memchr(r.host[i].host, '\0', sizeof(r.host[i].host)));
		CHECK(r.host[i].pref <= 65535);
		CHECK(i == 0 || r.host[i - 1].pref < r.host[i].pref ||
		      (r.host[i - 1].pref == r.host[i].pref && r.host[i - 1].seq < r.host[i].seq));
	}
	if (r.route == OMX_MX_ROUTE_IMPLICIT || r.route == OMX_MX_ROUTE_NULL) {
		CHECK(r.route == OMX_MX_ROUTE_IMPLICIT ? r.n == 0 : r.n == 1);
		CHECK(r.nonion == 0 && r.onions_left_out == 0);
		omx_mx_free(&r);
		return 0;
	}
	CHECK(r.n > 0);
	for (int i = 0; i < r.n; i++) {
		const struct omx_mx_host *h = &r.host[i];

		CHECK(h->kind >= OMX_MX_CLEAR && h->kind < OMX_MX_KINDS);
		count[h->kind]++;
		CHECK(h->kind != OMX_MX_ONION_INVALID || (h->why && h->why[0]));
		if (h->kind == OMX_MX_CLEAR) {
			size_t ll;
			CHECK(!omx_onion_label(h->host, strlen(h->host), &ll));
		}
		if (h->kind == OMX_MX_ONION_MAPPED && kept < r.nonion) {
			/* The kept routes are the mapped hosts, in order. */
			CHECK(strncasecmp(h->host, r.onion[kept].onion, OMX_ONION_LABEL_LEN) == 0);
			kept++;
		}
	}
	for (int k = 0; k < OMX_MX_KINDS; k++)
		CHECK(count[k] == r.count[k]);
	CHECK(kept == r.nonion);
	CHECK(r.nonion + r.onions_left_out == r.count[OMX_MX_ONION_MAPPED]);
	CHECK(r.onions_left_out == 0 || r.nonion == OMX_MX_ONIONS_MAX);
	for (int i = 0; i < r.nonion; i++) {
		CHECK(strlen(r.onion[i].onion) == OMX_ONION_LABEL_LEN);
		CHECK(omx_onion_check(r.onion[i].onion, OMX_ONION_LABEL_LEN) == OMX_ONION_OK);
		CHECK(r.onion[i].port != 0);
	}
	CHECK((r.route == OMX_MX_ROUTE_CLEARNET) == (r.count[OMX_MX_CLEAR] > 0));
	CHECK((r.route == OMX_MX_ROUTE_ONION) ==
	      (r.count[OMX_MX_CLEAR] == 0 && r.count[OMX_MX_ONION_MAPPED] > 0));
	CHECK((r.route == OMX_MX_ROUTE_DEFERRED) ==
	      (r.count[OMX_MX_CLEAR] == 0 && r.count[OMX_MX_ONION_MAPPED] == 0 &&
	       r.count[OMX_MX_ONION_UNMAPPED] > 0));
	omx_mx_free(&r);
	return 0;
}
