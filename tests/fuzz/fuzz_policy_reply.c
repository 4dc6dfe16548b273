/* libFuzzer target: the readers of the replies discovery asks when an unsigned
 * SRV answer would be used (omx_policy_sts_reply, omx_policy_mx_reply,
 * omx_policy_tlsa_reply): replies from a DNS server or anyone on the path.
 *
 * Input: byte 0 picks the return value passed (the reply's length, or -1 as
 * for a negative answer left in the buffer); the rest is the reply.
 * Checked, besides memory safety: each result is in its range; MX host names
 * are NUL-terminated, lower case and never empty. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "srv.h"

#define CHECK(cond)                                                                        \
	do {                                                                               \
		if (!(cond)) {                                                             \
			fprintf(stderr, "fuzz_policy_reply: check failed: %s (line %d)\n", #cond, \
				__LINE__);                                                 \
			abort();                                                           \
		}                                                                          \
	} while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char hosts[OMX_POLICY_HOSTS_MAX][256];
	uint8_t *msg;
	size_t len;
	int rc, n, secure = -1, r;

	if (size < 1)
		return 0;
	len = size - 1;
	msg = malloc(len ? len : 1); /* its own allocation: ASan sees every overread */
	if (!msg)
		return 0;
	memcpy(msg, data + 1, len);
	rc = data[0] & 1 ? -1 : (int)len;
	r = omx_policy_sts_reply(rc, msg, len);
	CHECK(r >= -1 && r <= 1);
	r = omx_policy_tlsa_reply(rc, msg, len);
	CHECK(r >= -1 && r <= 1);
	memset(hosts, 'x', sizeof(hosts));
	n = omx_policy_mx_reply(rc, msg, len, hosts, &secure);
	CHECK(n >= -1 && n <= OMX_POLICY_HOSTS_MAX);
	for (int i = 0; i < n; i++) {
		CHECK(memchr(hosts[i], '\0', sizeof(hosts[i])) != NULL);
		CHECK(hosts[i][0] != '\0');
		for (const char *p = hosts[i]; *p; p++)
			CHECK(!(*p >= 'A' && *p <= 'Z'));
	}
	if (n >= 0)
		CHECK(secure == 0 || secure == 1);
	free(msg);
	return 0;
}
