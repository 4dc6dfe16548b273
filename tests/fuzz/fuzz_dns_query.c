/* libFuzzer target: omx_dns_parse_query, the parser for query packets that
 * res_send/res_nsend and the sendto/sendmsg hooks receive from the program.
 *
 * Input: the packet. Checked, besides memory safety: on success the question's
 * wire name is well formed (labels 1..63, ends with the root label, at most 255
 * bytes) and its dotted form is the wire name lower-cased; ID, flags, type and
 * class are the packet's; building the same question from the dotted name
 * (omx_dns_question_from_name) gives the lower-cased wire name; rejected packets
 * are rejected again (deterministic). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dns.h"

#define CHECK(cond)                                                                   \
	do {                                                                          \
		if (!(cond)) {                                                        \
			fprintf(stderr, "fuzz_dns_query: check failed: %s (line %d)\n", #cond, \
				__LINE__);                                            \
			abort();                                                      \
		}                                                                     \
	} while (0)

static uint8_t lower(uint8_t c)
{
	return c >= 'A' && c <= 'Z' ? (uint8_t)(c + 32) : c;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct omx_dns_question q, q2;
	char dotted[256];
	size_t at = 0, d = 0;

	if (omx_dns_parse_query(data, size, &q) != 0) {
		CHECK(omx_dns_parse_query(data, size, &q2) != 0);
		return 0;
	}
	CHECK(size >= 12 + 1 + 4);
	CHECK(q.id == (data[0] << 8 | data[1]));
	CHECK(q.flags == (data[2] << 8 | data[3]));
	CHECK(!(q.flags & 0x8000) && !(q.flags & 0x7800));
	CHECK(q.qname_len >= 1 && q.qname_len <= 255);
	CHECK(memcmp(q.qname, data + 12, q.qname_len) == 0);
	CHECK(q.qtype == (data[12 + q.qname_len] << 8 | data[13 + q.qname_len]));
	CHECK(q.qclass == (data[14 + q.qname_len] << 8 | data[15 + q.qname_len]));

	/* Walk the wire name and rebuild the dotted, lower-cased form. */
	while (q.qname[at]) {
		uint8_t l = q.qname[at];

		CHECK(l <= 63);
		CHECK(at + 1 + l < q.qname_len);
		if (d)
			dotted[d++] = '.';
		for (uint8_t i = 0; i < l; i++) {
			uint8_t c = q.qname[at + 1 + i];
			CHECK(c != '\0' && c != '.' && c != '\\');
			dotted[d++] = (char)lower(c);
		}
		at += 1u + l;
	}
	CHECK(at + 1 == q.qname_len);
	dotted[d] = '\0';
	CHECK(strcmp(dotted, q.name) == 0);

	CHECK(omx_dns_question_from_name(&q2, q.name, q.qclass, q.qtype, q.id) == 0);
	CHECK(q2.qname_len == q.qname_len);
	for (size_t i = 0; i < q.qname_len; i++)
		CHECK(q2.qname[i] == lower(q.qname[i]));
	CHECK(strcmp(q2.name, q.name) == 0);
	CHECK(q2.qtype == q.qtype && q2.qclass == q.qclass && q2.id == q.id);
	return 0;
}
