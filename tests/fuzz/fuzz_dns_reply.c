/* libFuzzer target: omx_dns_build_reply round trip.
 *
 * Input: 4 control bytes, then a query packet. The query is parsed with
 * omx_dns_parse_query (inputs it rejects are done with). Then replies of every
 * kind are built for it: MX (1..16 hosts, names cut from the input, some
 * invalid), A (1..16 addresses), NXDOMAIN and NODATA (with an SOA whose zone
 * comes from the input), SERVFAIL, REFUSED, and the library's own answer with no
 * map (omx_answer_question). Each reply is built with a large buffer and with
 * the capacities the control bytes pick (plus every capacity around the full
 * length and the header). Checked:
 *  - an invalid name fails with -1 and leaves the buffer untouched;
 *  - a complete reply parses with libresolv's ns_initparse/ns_parserr (an
 *    independent parser): counts, ID, flags (QR AA RA, RD/CD/opcode echoed),
 *    rcode, the question, every answer's type, TTL and data, the SOA;
 *  - a reply cut by the capacity is exactly the first CAP bytes of the complete
 *    one with TC set, and CAP < 12 gives -1. */
#include <arpa/nameser.h>
#include <resolv.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <syslog.h>

#include "answer.h"
#include "dns.h"
#include "log.h"

#define CHECK(cond)                                                                   \
	do {                                                                          \
		if (!(cond)) {                                                        \
			fprintf(stderr, "fuzz_dns_reply: check failed: %s (line %d)\n", #cond, \
				__LINE__);                                            \
			abort();                                                      \
		}                                                                     \
	} while (0)

#define BIG 8192

static int name_eq(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);

	if (la && a[la - 1] == '.')
		la--;
	if (lb && b[lb - 1] == '.')
		lb--;
	if (la == 1 && a[0] == '.')
		la = 0;
	if (lb == 1 && b[0] == '.')
		lb = 0;
	return la == lb && strncasecmp(a, b, la) == 0;
}

/* A presentation name usable as-is by libresolv's dn_expand comparison: only
 * letters, digits and '-' make it through the check below. */
static int plain_name(const char *s)
{
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		      (*s >= '0' && *s <= '9') || *s == '-' || *s == '.'))
			return 0;
	return 1;
}

static void check_reply(const struct omx_dns_question *q, const struct omx_dns_answer *a,
			const uint8_t *caps, size_t ncaps)
{
	static uint8_t full[BIG], cut[BIG];
	int len, with_soa, answers;
	ns_msg msg;
	ns_rr rr;
	char name[NS_MAXDNAME];

	memset(full, 0xa5, sizeof(full));
	len = omx_dns_build_reply(q, a, full, sizeof(full));
	if (len < 0) {
		for (size_t i = 0; i < sizeof(full); i++)
			CHECK(full[i] == 0xa5);
		return;
	}
	CHECK(full[len] == 0xa5);
	CHECK(len >= 12 && len < BIG);
	with_soa = a->rcode == OMX_DNS_NXDOMAIN || (a->rcode == OMX_DNS_NOERROR && a->n == 0);
	answers = a->rcode == OMX_DNS_NOERROR ? a->n : 0;

	/* The independent parser. */
	CHECK(ns_initparse(full, len, &msg) == 0);
	CHECK(ns_msg_id(msg) == q->id);
	CHECK(ns_msg_getflag(msg, ns_f_qr) == 1 && ns_msg_getflag(msg, ns_f_aa) == 1 &&
	      ns_msg_getflag(msg, ns_f_ra) == 1 && ns_msg_getflag(msg, ns_f_tc) == 0);
	CHECK(ns_msg_getflag(msg, ns_f_rd) == ((q->flags >> 8) & 1));
	CHECK(ns_msg_getflag(msg, ns_f_cd) == ((q->flags >> 4) & 1));
	CHECK(ns_msg_getflag(msg, ns_f_opcode) == ((q->flags >> 11) & 0xf));
	CHECK(ns_msg_getflag(msg, ns_f_rcode) == a->rcode);
	CHECK(ns_msg_count(msg, ns_s_qd) == 1);
	CHECK(ns_msg_count(msg, ns_s_an) == answers);
	CHECK(ns_msg_count(msg, ns_s_ns) == with_soa);
	CHECK(ns_msg_count(msg, ns_s_ar) == 0);
	CHECK(ns_parserr(&msg, ns_s_qd, 0, &rr) == 0);
	CHECK(ns_rr_type(rr) == q->qtype && ns_rr_class(rr) == q->qclass);
	if (plain_name(q->name))
		CHECK(name_eq(ns_rr_name(rr), q->name));
	for (int i = 0; i < answers; i++) {
		CHECK(ns_parserr(&msg, ns_s_an, i, &rr) == 0);
		CHECK(ns_rr_type(rr) == a->type && ns_rr_class(rr) == ns_c_in);
		CHECK(ns_rr_ttl(rr) == a->ttl);
		if (plain_name(q->name))
			CHECK(name_eq(ns_rr_name(rr), q->name));
		if (a->type == OMX_DNS_T_MX) {
			CHECK(ns_rr_rdlen(rr) >= 3);
			CHECK(ns_get16(ns_rr_rdata(rr)) == a->mx[i].pref);
			CHECK(dn_expand(ns_msg_base(msg), ns_msg_end(msg), ns_rr_rdata(rr) + 2, name,
					sizeof(name)) == ns_rr_rdlen(rr) - 2);
			if (plain_name(a->mx[i].host))
				CHECK(name_eq(name, a->mx[i].host));
		} else {
			CHECK(ns_rr_rdlen(rr) == 4 && memcmp(ns_rr_rdata(rr), a->a[i], 4) == 0);
		}
	}
	if (with_soa) {
		CHECK(ns_parserr(&msg, ns_s_ns, 0, &rr) == 0);
		CHECK(ns_rr_type(rr) == ns_t_soa && ns_rr_ttl(rr) == a->ttl);
		if (plain_name(a->soa_zone ? a->soa_zone : ""))
			CHECK(name_eq(ns_rr_name(rr), a->soa_zone ? a->soa_zone : ""));
		CHECK(ns_rr_rdlen(rr) >= 22);
		CHECK(ns_get32(ns_rr_rdata(rr) + ns_rr_rdlen(rr) - 4) == a->ttl);
	}

	/* Every capacity: the ones the input picks, and around the edges. */
	for (size_t k = 0; k < ncaps + 8; k++) {
		size_t cap;
		int r;

		if (k < ncaps)
			cap = caps[k] % (size_t)(len + 2);
		else
			cap = k - ncaps < 4 ? (size_t)len - 2 + (k - ncaps) : 10 + (k - ncaps - 4);
		memset(cut, 0xa5, (size_t)len + 64);
		r = omx_dns_build_reply(q, a, cut, cap);
		if (cap < 12) {
			CHECK(r == -1);
			continue;
		}
		for (size_t i = cap; i < (size_t)len + 64; i++)
			CHECK(cut[i] == 0xa5);
		if (cap >= (size_t)len) {
			CHECK(r == len && memcmp(cut, full, (size_t)len) == 0);
		} else {
			CHECK(r == (int)cap);
			CHECK(cut[2] == (full[2] | 0x02));
			CHECK(memcmp(cut, full, 2) == 0 && memcmp(cut + 3, full + 3, cap - 3) == 0);
		}
	}
}

/* The library logs a deferred MX lookup: keep it off syslog, errors only. */
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	omx_log_setup(1, LOG_ERR);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct omx_dns_question q;
	struct omx_dns_answer a;
	char hosts[OMX_MAP_MAX_TARGETS][OMX_HOST_MAX];
	char names[OMX_DNS_MAX_ANSWERS][300], zone[300];
	const uint8_t *caps = data;
	int n;

	if (size < 4 || omx_dns_parse_query(data + 4, size - 4, &q) != 0)
		return 0;
	n = 1 + (data[1] % OMX_DNS_MAX_ANSWERS);

	/* Names cut from the question and the control bytes: mostly valid, some
	 * not (empty labels, over-long labels or names). */
	for (int i = 0; i < n; i++) {
		size_t l = (size_t)(data[2] + 7 * i) % 80;
		const char *src = q.name[0] ? q.name : "x";
		size_t sl = strlen(src), p = 0;

		for (size_t k = 0; k < l && p < sizeof(names[i]) - 1; k++)
			names[i][p++] = src[(k + (size_t)i) % sl];
		if (data[3] & 1)
			p += (size_t)snprintf(names[i] + p, sizeof(names[i]) - p, ".onion");
		names[i][p] = '\0';
	}
	snprintf(zone, sizeof(zone), "%s", (data[3] & 2) ? q.name : "onion");

	memset(&a, 0, sizeof(a));
	a.ttl = (uint32_t)data[0] * 0x01010101u;
	a.rcode = OMX_DNS_NOERROR;
	a.type = OMX_DNS_T_MX;
	a.n = n;
	for (int i = 0; i < n; i++) {
		a.mx[i].pref = (uint16_t)(10 * (i + 1));
		a.mx[i].host = names[i];
	}
	check_reply(&q, &a, caps, 4);

	a.type = OMX_DNS_T_A;
	for (int i = 0; i < n; i++) {
		a.a[i][0] = 240;
		a.a[i][1] = data[0];
		a.a[i][2] = data[1];
		a.a[i][3] = (uint8_t)(i + 1);
	}
	check_reply(&q, &a, caps, 4);

	a.n = 0;
	a.soa_zone = zone;
	check_reply(&q, &a, caps, 4); /* NODATA */
	a.rcode = OMX_DNS_NXDOMAIN;
	check_reply(&q, &a, caps, 4);
	a.soa_zone = NULL;
	check_reply(&q, &a, caps, 4); /* the root as the SOA's zone */
	a.rcode = OMX_DNS_SERVFAIL;
	check_reply(&q, &a, caps, 4);
	a.rcode = OMX_DNS_REFUSED;
	check_reply(&q, &a, caps, 4);

	/* The library's own decision with no map (broken configuration). */
	if (omx_answer_question(NULL, NULL, &q, 1, &a, hosts))
		check_reply(&q, &a, caps, 4);
	return 0;
}
