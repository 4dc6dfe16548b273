/* Unit tests for shim/dns.c. Every synthesized reply is read back with libresolv's
 * own parser (ns_initparse/ns_parserr/dn_expand), which is what Postfix and Exim
 * rely on, and queries come from glibc's res_mkquery rather than hand-made bytes
 * wherever glibc can make them. */
#include "dns.h"
#include "tap.h"

#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <netinet/in.h>
#include <resolv.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define REPLY_CAP 4096

/* An exact-size heap copy, so that ASan and valgrind catch any read past LEN. */
static uint8_t *exact_copy(const uint8_t *bytes, size_t len)
{
	uint8_t *copy = malloc(len ? len : 1);

	if (!copy)
		abort();
	memcpy(copy, bytes, len);
	return copy;
}

/* Parses MSG with omx_dns_parse_query from an exact-size buffer. */
static int parse_exact(const uint8_t *msg, size_t len, struct omx_dns_question *q)
{
	uint8_t *copy = exact_copy(msg, len);
	int rc = omx_dns_parse_query(copy, len, q);

	free(copy);
	return rc;
}

/* A query for NAME made by glibc itself, through the global resolver state. */
static int glibc_query(const char *name, int type, uint8_t *buf, size_t cap)
{
	return res_mkquery(ns_o_query, name, ns_c_in, type, NULL, 0, NULL, buf, (int)cap);
}

/* Reads the expanded name of an rdata field at RDATA in MSG, returning its wire length. */
static int expand_name(ns_msg *msg, const uint8_t *rdata, char *out, size_t out_len)
{
	return dn_expand(ns_msg_base(*msg), ns_msg_end(*msg), rdata, out, (int)out_len);
}

/* The header bits every reply must carry, whatever its rcode; RD and CD as queried. */
static void check_reply_header(ns_msg *msg, const char *what, int rd, int cd, int rcode)
{
	is_int(ns_msg_getflag(*msg, ns_f_qr), 1, "%s: QR set", what);
	is_int(ns_msg_getflag(*msg, ns_f_opcode), ns_o_query, "%s: opcode QUERY", what);
	is_int(ns_msg_getflag(*msg, ns_f_aa), 1, "%s: AA set", what);
	is_int(ns_msg_getflag(*msg, ns_f_tc), 0, "%s: TC clear", what);
	is_int(ns_msg_getflag(*msg, ns_f_rd), rd, "%s: RD echoed", what);
	is_int(ns_msg_getflag(*msg, ns_f_ra), 1, "%s: RA set", what);
	is_int(ns_msg_getflag(*msg, ns_f_z), 0, "%s: Z clear", what);
	is_int(ns_msg_getflag(*msg, ns_f_ad), 0, "%s: AD clear", what);
	is_int(ns_msg_getflag(*msg, ns_f_cd), cd, "%s: CD echoed", what);
	is_int(ns_msg_getflag(*msg, ns_f_rcode), rcode, "%s: rcode", what);
}

/* The echoed question: one entry, name as asked (case kept), type and class. */
static void check_question(ns_msg *msg, const char *what, const char *name, int type)
{
	ns_rr rr;

	is_int(ns_msg_count(*msg, ns_s_qd), 1, "%s: QDCOUNT 1", what);
	if (!ok(ns_parserr(msg, ns_s_qd, 0, &rr) == 0, "%s: question parses", what))
		return;
	is_str(ns_rr_name(rr), name, "%s: question name echoed in its case", what);
	is_int(ns_rr_type(rr), type, "%s: question type", what);
	is_int(ns_rr_class(rr), ns_c_in, "%s: question class", what);
}

/* The SOA of NXDOMAIN/NODATA: owner ZONE, fixed names and timers, minimum = TTL. */
static void check_soa(ns_msg *msg, const char *what, const char *zone, uint32_t ttl)
{
	char mname[NS_MAXDNAME], rname[NS_MAXDNAME];
	const uint8_t *rdata;
	int mname_len, rname_len;
	ns_rr rr;

	is_int(ns_msg_count(*msg, ns_s_an), 0, "%s: no answers", what);
	is_int(ns_msg_count(*msg, ns_s_ns), 1, "%s: NSCOUNT 1", what);
	is_int(ns_msg_count(*msg, ns_s_ar), 0, "%s: no additional records", what);
	if (!ok(ns_parserr(msg, ns_s_ns, 0, &rr) == 0, "%s: SOA parses", what))
		return;
	is_str(ns_rr_name(rr), zone, "%s: SOA owner is the zone", what);
	is_int(ns_rr_type(rr), ns_t_soa, "%s: SOA type", what);
	is_int(ns_rr_class(rr), ns_c_in, "%s: SOA class IN", what);
	is_int(ns_rr_ttl(rr), ttl, "%s: SOA TTL", what);
	rdata = ns_rr_rdata(rr);
	mname_len = expand_name(msg, rdata, mname, sizeof mname);
	if (!ok(mname_len > 0, "%s: SOA MNAME expands", what))
		return;
	is_str(mname, "localhost", "%s: SOA MNAME", what);
	rname_len = expand_name(msg, rdata + mname_len, rname, sizeof rname);
	if (!ok(rname_len > 0, "%s: SOA RNAME expands", what))
		return;
	is_str(rname, "nobody.invalid", "%s: SOA RNAME", what);
	is_int(ns_rr_rdlen(rr), mname_len + rname_len + 20, "%s: SOA RDLENGTH", what);
	rdata += mname_len + rname_len;
	is_int(ns_get32(rdata), 1, "%s: SOA serial", what);
	is_int(ns_get32(rdata + 4), 3600, "%s: SOA refresh", what);
	is_int(ns_get32(rdata + 8), 600, "%s: SOA retry", what);
	is_int(ns_get32(rdata + 12), 86400, "%s: SOA expire", what);
	is_int(ns_get32(rdata + 16), ttl, "%s: SOA minimum is the TTL", what);
}

/* Dotted names to questions: case, root, and everything we refuse to represent. */
static void test_question_from_name(void)
{
	static const uint8_t mixed_wire[] = "\x04Mail\x07\x45xample\x03\x43OM";
	struct omx_dns_question q;
	char label63[64], label64[65], name255[300], name256[300];

	ok(omx_dns_question_from_name(&q, "Mail.Example.COM.", ns_c_in, ns_t_mx, 0x1234) == 0,
	   "from_name: mixed case with trailing dot");
	is_str(q.name, "mail.example.com", "from_name: dotted form lower-cased, no trailing dot");
	is_int(q.qname_len, sizeof mixed_wire, "from_name: wire length");
	ok(memcmp(q.qname, mixed_wire, sizeof mixed_wire) == 0, "from_name: wire form keeps the case");
	is_int(q.id, 0x1234, "from_name: id");
	is_int(q.qtype, ns_t_mx, "from_name: qtype");
	is_int(q.qclass, ns_c_in, "from_name: qclass");
	is_int(q.flags, 0x0100, "from_name: flags are RD, as res_mkquery sets");

	ok(omx_dns_question_from_name(&q, "mail.example.com", ns_c_in, ns_t_a, 1) == 0 &&
	   strcmp(q.name, "mail.example.com") == 0 && q.qname_len == sizeof mixed_wire,
	   "from_name: trailing dot optional");
	ok(omx_dns_question_from_name(&q, ".", ns_c_in, ns_t_mx, 1) == 0 &&
	   q.qname_len == 1 && q.qname[0] == 0 && q.name[0] == '\0', "from_name: \".\" is the root");
	ok(omx_dns_question_from_name(&q, "", ns_c_in, ns_t_mx, 1) == 0 &&
	   q.qname_len == 1 && q.qname[0] == 0 && q.name[0] == '\0', "from_name: \"\" is the root");

	ok(omx_dns_question_from_name(&q, "a..b", ns_c_in, ns_t_mx, 1) == -1, "from_name: rejects empty label");
	ok(omx_dns_question_from_name(&q, ".a", ns_c_in, ns_t_mx, 1) == -1, "from_name: rejects leading dot");
	ok(omx_dns_question_from_name(&q, "a..", ns_c_in, ns_t_mx, 1) == -1, "from_name: rejects double trailing dot");
	ok(omx_dns_question_from_name(&q, "..", ns_c_in, ns_t_mx, 1) == -1, "from_name: rejects \"..\"");
	/* Escapes are read as the server will read them (dn_comp decodes them). */
	ok(omx_dns_question_from_name(&q, "\\109apped.ex\\097mple", ns_c_in, ns_t_mx, 1) == 0 &&
	   strcmp(q.name, "mapped.example") == 0 && memcmp(q.qname, "\x06mapped\x07" "example\x00", 16) == 0,
	   "from_name: \\DDD decoded");
	ok(omx_dns_question_from_name(&q, "\\M\\APPED.example.", ns_c_in, ns_t_mx, 1) == 0 &&
	   strcmp(q.name, "mapped.example") == 0 && q.qname[1] == 'M', "from_name: \\X decoded, case kept on the wire");
	{
		uint8_t glibc[512];
		int n = res_mkquery(ns_o_query, "\\109apped.ex\\097mple", ns_c_in, ns_t_mx, NULL, 0, NULL, glibc, sizeof(glibc));
		ok(n > 12 && omx_dns_question_from_name(&q, "\\109apped.ex\\097mple", ns_c_in, ns_t_mx, 1) == 0 &&
		   memcmp(glibc + 12, q.qname, q.qname_len) == 0, "from_name: the same wire name as glibc's res_mkquery");
	}
	is_int(omx_dns_question_from_name(&q, "a\\.b.onion", ns_c_in, ns_t_mx, 1), OMX_DNS_NAME_UNREADABLE,
	       "from_name: an escaped '.' inside a label is unreadable (fail closed)");
	is_int(omx_dns_question_from_name(&q, "a\\000b.onion", ns_c_in, ns_t_a, 1), OMX_DNS_NAME_UNREADABLE,
	       "from_name: an escaped NUL is unreadable");
	is_int(omx_dns_question_from_name(&q, "a\\\\b.onion", ns_c_in, ns_t_a, 1), OMX_DNS_NAME_UNREADABLE,
	       "from_name: an escaped backslash is unreadable");
	ok(omx_dns_question_from_name(&q, "a\\", ns_c_in, ns_t_mx, 1) == -1, "from_name: rejects trailing backslash");
	ok(omx_dns_question_from_name(&q, "a\\25", ns_c_in, ns_t_mx, 1) == -1, "from_name: rejects a short \\DDD");
	ok(omx_dns_question_from_name(&q, "a\\256", ns_c_in, ns_t_mx, 1) == -1, "from_name: rejects \\DDD over 255");
	ok(omx_dns_question_from_name(&q, "a.b", ns_c_in, 0x10000, 1) == -1, "from_name: rejects qtype > 65535");
	ok(omx_dns_question_from_name(&q, "a.b", -1, ns_t_mx, 1) == -1, "from_name: rejects negative qclass");

	memset(label63, 'x', 63);
	label63[63] = '\0';
	memset(label64, 'x', 64);
	label64[64] = '\0';
	ok(omx_dns_question_from_name(&q, label63, ns_c_in, ns_t_mx, 1) == 0 && q.qname_len == 65,
	   "from_name: 63-byte label accepted");
	ok(omx_dns_question_from_name(&q, label64, ns_c_in, ns_t_mx, 1) == -1, "from_name: 64-byte label rejected");

	/* 3 x 63-byte labels + one of 61: 3*64 + 62 + 1 = 255 wire bytes; one more is 256. */
	snprintf(name255, sizeof name255, "%s.%s.%s.%.61s", label63, label63, label63, label63);
	snprintf(name256, sizeof name256, "%s.%s.%s.%.62s.", label63, label63, label63, label63);
	ok(omx_dns_question_from_name(&q, name255, ns_c_in, ns_t_mx, 1) == 0 && q.qname_len == 255 &&
	   strcmp(q.name, name255) == 0, "from_name: 255-byte wire name accepted");
	ok(omx_dns_question_from_name(&q, name256, ns_c_in, ns_t_mx, 1) == -1,
	   "from_name: 256-byte wire name rejected");

	/* A name without escapes takes a label-at-a-time path; the same name with
	 * one letter written \DDD takes the byte-at-a-time one: both must read
	 * it alike (result, wire form, dotted form), for every shape of name. */
	{
		static const char alphabet[] = "aZ-.0.x.";
		uint32_t seed = 12345;
		int differ = 0, tried = 0;

		for (int i = 0; i < 20000; i++) {
			char plain[300], escaped[310];
			struct omx_dns_question qp, qe;
			size_t len, at, e = 0;
			int rp, re;

			seed = seed * 1103515245u + 12345u;
			len = (seed >> 16) % 280;
			for (size_t j = 0; j < len; j++) {
				seed = seed * 1103515245u + 12345u;
				/* mostly letters, so labels grow past 63 now and then */
				plain[j] = (seed >> 16) % 8 ? 'a' + (char)((seed >> 20) % 26) : alphabet[(seed >> 24) % 8];
			}
			plain[len] = '\0';
			for (at = 0; at < len && plain[at] == '.'; at++)
				;
			if (at == len)
				continue; /* no letter to escape */
			memcpy(escaped, plain, at);
			e = at + (size_t)sprintf(escaped + at, "\\%03d", (unsigned char)plain[at]);
			memcpy(escaped + e, plain + at + 1, len - at);
			tried++;
			rp = omx_dns_question_from_name(&qp, plain, ns_c_in, ns_t_mx, 1);
			re = omx_dns_question_from_name(&qe, escaped, ns_c_in, ns_t_mx, 1);
			if (rp != re || (rp == 0 && (qp.qname_len != qe.qname_len ||
						     memcmp(qp.qname, qe.qname, qp.qname_len) != 0 ||
						     strcmp(qp.name, qe.name) != 0))) {
				if (differ++ < 3)
					printf("# differ: \"%s\" -> %d, escaped -> %d\n", plain, rp, re);
			}
		}
		ok(tried > 10000 && differ == 0, "from_name: %d names read alike with and without an escape", tried);
	}
}

/* Three MX targets come back in order, owners pointing at the question, exchanges
 * readable with dn_expand. */
static void test_mx_reply(void)
{
	static const char *const hosts[] = { "aaaa.onion", "Mx2.Example.Onion", "x.y.z.onion" };
	static const uint16_t prefs[] = { 10, 20, 0 };
	struct omx_dns_question q;
	struct omx_dns_answer a;
	uint8_t reply[REPLY_CAP];
	ns_msg msg;
	int len, i;

	omx_dns_question_from_name(&q, "Example.ORG", ns_c_in, ns_t_mx, 0xbeef);
	memset(&a, 0, sizeof a);
	a.rcode = OMX_DNS_NOERROR;
	a.type = OMX_DNS_T_MX;
	a.ttl = 300;
	a.n = 3;
	for (i = 0; i < 3; i++) {
		a.mx[i].pref = prefs[i];
		a.mx[i].host = hosts[i];
	}
	len = omx_dns_build_reply(&q, &a, reply, sizeof reply);
	ok(len > 12, "mx: reply built (%d bytes)", len);
	if (!ok(ns_initparse(reply, len, &msg) == 0, "mx: ns_initparse accepts the reply"))
		return;
	is_int(ns_msg_id(msg), 0xbeef, "mx: id echoed");
	check_reply_header(&msg, "mx", 1, 0, ns_r_noerror);
	check_question(&msg, "mx", "Example.ORG", ns_t_mx);
	is_int(ns_msg_count(msg, ns_s_an), 3, "mx: ANCOUNT 3");
	is_int(ns_msg_count(msg, ns_s_ns), 0, "mx: NSCOUNT 0");
	is_int(ns_msg_count(msg, ns_s_ar), 0, "mx: ARCOUNT 0");
	ok(reply[12 + q.qname_len + 4] == 0xc0 && reply[12 + q.qname_len + 5] == 0x0c,
	   "mx: first owner is the pointer 0xC00C");
	for (i = 0; i < 3; i++) {
		char exchange[NS_MAXDNAME];
		ns_rr rr;
		int name_len;

		if (!ok(ns_parserr(&msg, ns_s_an, i, &rr) == 0, "mx[%d]: parses", i))
			continue;
		is_str(ns_rr_name(rr), "Example.ORG", "mx[%d]: owner is the question name", i);
		is_int(ns_rr_type(rr), ns_t_mx, "mx[%d]: type MX", i);
		is_int(ns_rr_class(rr), ns_c_in, "mx[%d]: class IN", i);
		is_int(ns_rr_ttl(rr), 300, "mx[%d]: TTL", i);
		is_int(ns_get16(ns_rr_rdata(rr)), prefs[i], "mx[%d]: preference in order", i);
		name_len = expand_name(&msg, ns_rr_rdata(rr) + 2, exchange, sizeof exchange);
		ok(name_len > 0, "mx[%d]: exchange expands", i);
		is_str(exchange, hosts[i], "mx[%d]: exchange", i);
		is_int(ns_rr_rdlen(rr), 2 + name_len, "mx[%d]: RDLENGTH covers preference + name", i);
	}
}

/* A question built by hand, for replies that do not need a query packet. */
static struct omx_dns_question question_for(const char *name, int type, uint16_t id)
{
	struct omx_dns_question q;

	if (omx_dns_question_from_name(&q, name, ns_c_in, type, id) != 0)
		abort();
	return q;
}

/* An answer with rcode RCODE and no records, as the negative cases use. */
static struct omx_dns_answer empty_answer(int rcode, uint32_t ttl, const char *soa_zone)
{
	struct omx_dns_answer a;

	memset(&a, 0, sizeof a);
	a.rcode = rcode;
	a.type = OMX_DNS_T_A;
	a.ttl = ttl;
	a.soa_zone = soa_zone;
	return a;
}

/* Two A records, 4 bytes each, in the order given. */
static void test_a_reply(void)
{
	struct omx_dns_question q = question_for("Relay.Onion", ns_t_a, 7);
	struct omx_dns_answer a = empty_answer(OMX_DNS_NOERROR, 60, NULL);
	static const uint8_t addrs[2][4] = { { 127, 0, 0, 1 }, { 10, 1, 2, 3 } };
	uint8_t reply[REPLY_CAP];
	ns_msg msg;
	int len, i;

	a.n = 2;
	memcpy(a.a, addrs, sizeof addrs);
	len = omx_dns_build_reply(&q, &a, reply, sizeof reply);
	is_int(len, 12 + q.qname_len + 4 + 2 * (12 + 4), "a: reply length");
	if (!ok(ns_initparse(reply, len, &msg) == 0, "a: ns_initparse accepts the reply"))
		return;
	is_int(ns_msg_id(msg), 7, "a: id echoed");
	check_reply_header(&msg, "a", 1, 0, ns_r_noerror);
	check_question(&msg, "a", "Relay.Onion", ns_t_a);
	is_int(ns_msg_count(msg, ns_s_an), 2, "a: ANCOUNT 2");
	is_int(ns_msg_count(msg, ns_s_ns), 0, "a: NSCOUNT 0");
	for (i = 0; i < 2; i++) {
		ns_rr rr;

		if (!ok(ns_parserr(&msg, ns_s_an, i, &rr) == 0, "a[%d]: parses", i))
			continue;
		is_str(ns_rr_name(rr), "Relay.Onion", "a[%d]: owner is the question name", i);
		is_int(ns_rr_type(rr), ns_t_a, "a[%d]: type A", i);
		is_int(ns_rr_class(rr), ns_c_in, "a[%d]: class IN", i);
		is_int(ns_rr_ttl(rr), 60, "a[%d]: TTL", i);
		is_int(ns_rr_rdlen(rr), 4, "a[%d]: RDLENGTH 4", i);
		ok(memcmp(ns_rr_rdata(rr), addrs[i], 4) == 0, "a[%d]: address in order", i);
	}
}

/* NODATA (NOERROR, no records) and NXDOMAIN carry one SOA for negative caching. */
static void test_negative_replies(void)
{
	struct omx_dns_question q = question_for("Example.org", ns_t_a, 0x0102);
	struct omx_dns_answer a = empty_answer(OMX_DNS_NOERROR, 900, "example.org");
	uint8_t reply[REPLY_CAP];
	ns_msg msg;
	int len;

	len = omx_dns_build_reply(&q, &a, reply, sizeof reply);
	if (ok(len > 0 && ns_initparse(reply, len, &msg) == 0, "nodata: ns_initparse accepts the reply")) {
		check_reply_header(&msg, "nodata", 1, 0, ns_r_noerror);
		check_question(&msg, "nodata", "Example.org", ns_t_a);
		check_soa(&msg, "nodata", "example.org", 900);
	}

	q = question_for("NoSuch.onion", ns_t_mx, 0x0304);
	a = empty_answer(OMX_DNS_NXDOMAIN, 30, "onion");
	len = omx_dns_build_reply(&q, &a, reply, sizeof reply);
	if (ok(len > 0 && ns_initparse(reply, len, &msg) == 0, "nxdomain: ns_initparse accepts the reply")) {
		is_int(ns_msg_id(msg), 0x0304, "nxdomain: id echoed");
		check_reply_header(&msg, "nxdomain", 1, 0, ns_r_nxdomain);
		check_question(&msg, "nxdomain", "NoSuch.onion", ns_t_mx);
		check_soa(&msg, "nxdomain", "onion", 30);
	}

	/* NXDOMAIN ignores any records the caller left in the answer. */
	a.n = 1;
	a.a[0][0] = 1;
	len = omx_dns_build_reply(&q, &a, reply, sizeof reply);
	ok(len > 0 && ns_initparse(reply, len, &msg) == 0 && ns_msg_count(msg, ns_s_an) == 0 &&
	   ns_msg_count(msg, ns_s_ns) == 1, "nxdomain: records in the answer are not emitted");

	a = empty_answer(OMX_DNS_NXDOMAIN, 30, NULL);
	len = omx_dns_build_reply(&q, &a, reply, sizeof reply);
	if (ok(len > 0 && ns_initparse(reply, len, &msg) == 0, "nxdomain, no zone: parses"))
		check_soa(&msg, "nxdomain, no zone", ".", 30);
}

/* SERVFAIL and REFUSED are the header and the question, nothing else. */
static void test_header_only_replies(void)
{
	static const int rcodes[] = { OMX_DNS_SERVFAIL, OMX_DNS_REFUSED };
	struct omx_dns_question q = question_for("Mail.Example.Net", ns_t_mx, 99);
	uint8_t reply[REPLY_CAP];
	size_t i;

	for (i = 0; i < sizeof rcodes / sizeof rcodes[0]; i++) {
		struct omx_dns_answer a = empty_answer(rcodes[i], 60, "example.net");
		const char *what = rcodes[i] == OMX_DNS_SERVFAIL ? "servfail" : "refused";
		ns_msg msg;
		int len;

		a.n = 2; /* ignored for anything but NOERROR */
		len = omx_dns_build_reply(&q, &a, reply, sizeof reply);
		is_int(len, 12 + q.qname_len + 4, "%s: header + question only", what);
		if (!ok(len > 0 && ns_initparse(reply, len, &msg) == 0, "%s: ns_initparse accepts the reply", what))
			continue;
		check_reply_header(&msg, what, 1, 0, rcodes[i]);
		check_question(&msg, what, "Mail.Example.Net", ns_t_mx);
		ok(ns_msg_count(msg, ns_s_an) == 0 && ns_msg_count(msg, ns_s_ns) == 0 &&
		   ns_msg_count(msg, ns_s_ar) == 0, "%s: no records in any section", what);
	}
}

/* Answers the builder must refuse rather than emit something malformed. */
static void test_bad_answers(void)
{
	struct omx_dns_question q = question_for("example.org", ns_t_mx, 1);
	struct omx_dns_answer a = empty_answer(OMX_DNS_NOERROR, 60, "example.org");
	uint8_t reply[REPLY_CAP];

	a.type = OMX_DNS_T_MX;
	a.n = OMX_DNS_MAX_ANSWERS + 1;
	is_int(omx_dns_build_reply(&q, &a, reply, sizeof reply), -1, "bad answer: n > OMX_DNS_MAX_ANSWERS");
	a.n = -1;
	is_int(omx_dns_build_reply(&q, &a, reply, sizeof reply), -1, "bad answer: n < 0");
	a.n = 1;
	a.mx[0].host = "a..b.onion";
	is_int(omx_dns_build_reply(&q, &a, reply, sizeof reply), -1, "bad answer: empty label in MX host");
	a.mx[0].host = NULL;
	is_int(omx_dns_build_reply(&q, &a, reply, sizeof reply), -1, "bad answer: NULL MX host");
	a.mx[0].host = "mx.onion";
	a.type = OMX_DNS_T_SRV;
	is_int(omx_dns_build_reply(&q, &a, reply, sizeof reply), -1, "bad answer: records of an unsupported type");
	a.type = OMX_DNS_T_MX;
	a.rcode = 16;
	is_int(omx_dns_build_reply(&q, &a, reply, sizeof reply), -1, "bad answer: rcode does not fit 4 bits");
}

/* The largest reply the interface allows: 16 MX hosts of 255 wire bytes each. */
static void test_largest_reply(void)
{
	struct omx_dns_question q;
	struct omx_dns_answer a = empty_answer(OMX_DNS_NOERROR, 60, NULL);
	char label63[64], longest[300], exchange[NS_MAXDNAME];
	uint8_t reply[REPLY_CAP * 2];
	int len, i, bad = 0;
	ns_msg msg;

	memset(label63, 'm', 63);
	label63[63] = '\0';
	snprintf(longest, sizeof longest, "%s.%s.%s.%.61s", label63, label63, label63, label63);
	q = question_for(longest, ns_t_mx, 2);
	a.type = OMX_DNS_T_MX;
	a.n = OMX_DNS_MAX_ANSWERS;
	for (i = 0; i < a.n; i++) {
		a.mx[i].pref = (uint16_t)i;
		a.mx[i].host = longest;
	}
	len = omx_dns_build_reply(&q, &a, reply, sizeof reply);
	is_int(len, 12 + 255 + 4 + OMX_DNS_MAX_ANSWERS * (12 + 2 + 255), "largest: reply length");
	if (!ok(len > 0 && ns_initparse(reply, len, &msg) == 0, "largest: ns_initparse accepts the reply"))
		return;
	for (i = 0; i < OMX_DNS_MAX_ANSWERS; i++) {
		ns_rr rr;

		if (ns_parserr(&msg, ns_s_an, i, &rr) != 0 || ns_get16(ns_rr_rdata(rr)) != (unsigned)i ||
		    expand_name(&msg, ns_rr_rdata(rr) + 2, exchange, sizeof exchange) != 255 ||
		    strcmp(exchange, longest) != 0)
			bad++;
	}
	is_int(bad, 0, "largest: all 16 exchanges parse and expand");
}

/* Cutting a reply at every capacity: returns CAP, writes exactly CAP bytes (exact
 * heap buffers catch overruns), sets TC and leaves the rest of the header intact. */
static void check_truncation(const char *what, const struct omx_dns_question *q,
			     const struct omx_dns_answer *a)
{
	uint8_t full[REPLY_CAP];
	int full_len = omx_dns_build_reply(q, a, full, sizeof full);
	int bad_return = 0, bad_tc = 0, bad_bytes = 0, cap;
	uint8_t *buf;

	ok(full_len > 12 && !(full[2] & 0x02), "%s: full reply without TC", what);
	for (cap = 12; cap < full_len; cap++) {
		buf = malloc((size_t)cap);
		if (!buf)
			abort();
		if (omx_dns_build_reply(q, a, buf, (size_t)cap) != cap)
			bad_return++;
		if (buf[2] != (full[2] | 0x02))
			bad_tc++;
		if (memcmp(buf, full, 2) != 0 || memcmp(buf + 3, full + 3, (size_t)cap - 3) != 0)
			bad_bytes++;
		free(buf);
	}
	is_int(bad_return, 0, "%s: returns cap for every cap in 12..%d", what, full_len - 1);
	is_int(bad_tc, 0, "%s: TC set, other flags kept, for every short cap", what);
	is_int(bad_bytes, 0, "%s: header counts and every written byte match the full reply", what);

	buf = malloc((size_t)full_len);
	if (!buf)
		abort();
	is_int(omx_dns_build_reply(q, a, buf, (size_t)full_len), full_len, "%s: cap == length fits", what);
	ok(memcmp(buf, full, (size_t)full_len) == 0, "%s: and is not truncated", what);
	free(buf);

	for (cap = 0, bad_return = 0; cap < 12; cap++) {
		buf = malloc(cap ? (size_t)cap : 1);
		if (!buf)
			abort();
		if (omx_dns_build_reply(q, a, buf, (size_t)cap) != -1)
			bad_return++;
		free(buf);
	}
	is_int(bad_return, 0, "%s: cap < 12 returns -1", what);
}

static void test_truncation(void)
{
	struct omx_dns_question q = question_for("Example.ORG", ns_t_mx, 0x4242);
	struct omx_dns_answer a = empty_answer(OMX_DNS_NOERROR, 300, NULL);
	uint8_t head[12];
	int i;

	a.type = OMX_DNS_T_MX;
	a.n = 3;
	for (i = 0; i < 3; i++) {
		a.mx[i].pref = (uint16_t)(10 * i);
		a.mx[i].host = i == 1 ? "second.example.onion" : "mx.onion";
	}
	check_truncation("truncated mx", &q, &a);
	a = empty_answer(OMX_DNS_NXDOMAIN, 30, "onion");
	check_truncation("truncated nxdomain", &q, &a);

	/* What a caller parses from a truncated header: the id and flags, with TC. */
	is_int(omx_dns_build_reply(&q, &a, head, 12), 12, "truncated header: returns 12");
	ok(ns_get16(head) == 0x4242 && (head[2] & 0x82) == 0x82 && (head[3] & 0x0f) == ns_r_nxdomain,
	   "truncated header: id, QR, TC, rcode");
}

/* Parsing glibc's own queries: id, flags, type, class and the name round-trip. */
static void check_glibc_query(const char *what, const uint8_t *packet, int len,
			      const char *lower_name, int type)
{
	struct omx_dns_question q;

	if (!ok(len > 12 && parse_exact(packet, (size_t)len, &q) == 0, "%s: parses", what))
		return;
	is_int(q.id, ns_get16(packet), "%s: id", what);
	is_int(q.flags, ns_get16(packet + 2), "%s: flags as sent", what);
	ok(q.flags & 0x0100, "%s: RD set by res_mkquery", what);
	is_int(q.qtype, type, "%s: qtype", what);
	is_int(q.qclass, ns_c_in, "%s: qclass", what);
	is_str(q.name, lower_name, "%s: name lower-cased", what);
	ok(q.qname_len <= (size_t)len - 16 && memcmp(q.qname, packet + 12, q.qname_len) == 0,
	   "%s: wire name is the packet's, case kept", what);
}

/* Adds an EDNS OPT record the way glibc's __res_nopt does (root owner, type 41,
 * class = UDP payload size, TTL 0, no options) if the packet does not have one. */
static int add_opt_record(uint8_t *packet, int len, size_t cap)
{
	static const uint8_t opt[] = { 0, 0, 41, 0x04, 0xd0, 0, 0, 0, 0, 0, 0 };

	if (ns_get16(packet + 10) != 0)
		return len;
	if ((size_t)len + sizeof opt > cap)
		abort();
	memcpy(packet + len, opt, sizeof opt);
	ns_put16(1, packet + 10);
	return len + (int)sizeof opt;
}

/* Captures the query glibc's res_nquery sends with RES_USE_EDNS0, by pointing it at
 * a loopback socket that never answers (costs one 1-second timeout). Returns the
 * packet length, or -1 if no loopback socket could be had. */
static int capture_edns_query(const char *name, int type, uint8_t *buf, size_t cap)
{
	struct sockaddr_in server = { .sin_family = AF_INET };
	socklen_t server_len = sizeof server;
	struct __res_state state;
	uint8_t answer[512];
	ssize_t got;
	int sock;

	sock = socket(AF_INET, SOCK_DGRAM, 0);
	if (sock < 0)
		return -1;
	server.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(sock, (struct sockaddr *)&server, sizeof server) != 0 ||
	    getsockname(sock, (struct sockaddr *)&server, &server_len) != 0) {
		close(sock);
		return -1;
	}
	memset(&state, 0, sizeof state);
	if (res_ninit(&state) != 0) {
		close(sock);
		return -1;
	}
	state.nsaddr_list[0] = server;
	state.nscount = 1;
	state.retrans = 1;
	state.retry = 1;
	state.options |= RES_USE_EDNS0;
	res_nquery(&state, name, ns_c_in, type, answer, sizeof answer); /* times out */
	res_nclose(&state);
	got = recv(sock, buf, cap, MSG_DONTWAIT);
	close(sock);
	return got > 0 ? (int)got : -1;
}

static void test_parse_glibc_queries(void)
{
	struct __res_state state;
	uint8_t packet[512];
	int len;

	len = glibc_query("Mail.Example.COM", ns_t_mx, packet, sizeof packet);
	check_glibc_query("res_mkquery MX", packet, len, "mail.example.com", ns_t_mx);
	len = glibc_query("relay.onion.", ns_t_a, packet, sizeof packet);
	check_glibc_query("res_mkquery A", packet, len, "relay.onion", ns_t_a);
	len = glibc_query(".", ns_t_mx, packet, sizeof packet);
	check_glibc_query("res_mkquery root", packet, len, "", ns_t_mx);

	memset(&state, 0, sizeof state);
	if (!ok(res_ninit(&state) == 0, "res_ninit"))
		return;
	state.options |= RES_USE_EDNS0;
	len = res_nmkquery(&state, ns_o_query, "Mx.Example.Onion", ns_c_in, ns_t_mx, NULL, 0, NULL,
			   packet, sizeof packet);
	/* glibc adds the OPT record in res_nquery, not res_nmkquery; add it likewise. */
	len = add_opt_record(packet, len, sizeof packet);
	is_int(ns_get16(packet + 10), 1, "res_nmkquery EDNS0: ARCOUNT 1");
	check_glibc_query("res_nmkquery EDNS0 MX", packet, len, "mx.example.onion", ns_t_mx);
	len = res_nmkquery(&state, ns_o_query, "Relay.Onion", ns_c_in, ns_t_a, NULL, 0, NULL,
			   packet, sizeof packet);
	len = add_opt_record(packet, len, sizeof packet);
	check_glibc_query("res_nmkquery EDNS0 A", packet, len, "relay.onion", ns_t_a);
	res_nclose(&state);

	len = capture_edns_query("Sent.Example.Onion.", ns_t_mx, packet, sizeof packet);
	if (len < 0) {
		ok(1, "# SKIP no loopback socket to capture res_nquery's EDNS query");
		return;
	}
	is_int(ns_get16(packet + 10), 1, "res_nquery EDNS0 as sent: ARCOUNT 1 (OPT)");
	check_glibc_query("res_nquery EDNS0 as sent", packet, len, "sent.example.onion", ns_t_mx);
}

/* The question in the reply is byte-for-byte the one in the query, case and all. */
static void test_question_echo(void)
{
	struct omx_dns_question q;
	struct omx_dns_answer a = empty_answer(OMX_DNS_NOERROR, 60, NULL);
	uint8_t query[512], reply[REPLY_CAP];
	int query_len, reply_len;
	ns_msg msg;

	query_len = glibc_query("WwW.ExAmPlE.CoM", ns_t_a, query, sizeof query);
	query[2] &= (uint8_t)~0x01; /* RD off */
	query[3] |= 0x10;           /* CD on */
	if (!ok(parse_exact(query, (size_t)query_len, &q) == 0, "echo: query parses"))
		return;
	is_str(q.name, "www.example.com", "echo: lower-cased dotted name");
	a.n = 1;
	reply_len = omx_dns_build_reply(&q, &a, reply, sizeof reply);
	ok(reply_len > 0 && memcmp(reply, query, 2) == 0, "echo: id");
	ok(memcmp(reply + 12, query + 12, (size_t)query_len - 12) == 0, "echo: question bytes identical");
	if (!ok(ns_initparse(reply, reply_len, &msg) == 0, "echo: reply parses"))
		return;
	check_reply_header(&msg, "echo", 0, 1, ns_r_noerror);
	check_question(&msg, "echo", "WwW.ExAmPlE.CoM", ns_t_a);

	/* The opcode is echoed too, though parse_query only lets QUERY through. */
	q.flags = (uint16_t)(q.flags | (ns_o_notify << 11));
	reply_len = omx_dns_build_reply(&q, &a, reply, sizeof reply);
	ok(reply_len > 0 && ns_initparse(reply, reply_len, &msg) == 0 &&
	   ns_msg_getflag(msg, ns_f_opcode) == ns_o_notify, "echo: opcode");
}

/* Writes a header with the given counts and flags into PACKET. */
static void put_header(uint8_t *packet, uint16_t flags, int qd, int an, int ns, int ar)
{
	ns_put16(0xabcd, packet);
	ns_put16(flags, packet + 2);
	ns_put16((uint16_t)qd, packet + 4);
	ns_put16((uint16_t)an, packet + 6);
	ns_put16((uint16_t)ns, packet + 8);
	ns_put16((uint16_t)ar, packet + 10);
}

/* A query whose name is LABELS labels of LABEL_LEN bytes plus one of LAST_LEN
 * (0: none), with LABEL_LEN written as given even if it is not a valid length. */
static size_t handmade_query(uint8_t *packet, int labels, int label_len, int last_len)
{
	size_t at = 12;
	int i;

	put_header(packet, 0x0100, 1, 0, 0, 0);
	for (i = 0; i < labels + (last_len > 0); i++) {
		int len = i < labels ? label_len : last_len;

		packet[at++] = (uint8_t)len;
		memset(packet + at, 'q', (size_t)len);
		at += (size_t)len;
	}
	packet[at++] = 0;
	ns_put16(ns_t_mx, packet + at);
	ns_put16(ns_c_in, packet + at + 2);
	return at + 4;
}

static void test_parse_rejects(void)
{
	struct omx_dns_question q;
	uint8_t base[512], edns[512], packet[1024];
	int base_len, edns_len, len, cut, bad, opcode;
	size_t question_end, handmade_len;

	base_len = glibc_query("mx.example.org", ns_t_mx, base, sizeof base);
	question_end = (size_t)base_len;
	for (cut = 0, bad = 0; cut < base_len; cut++)
		if (parse_exact(base, (size_t)cut, &q) != -1)
			bad++;
	is_int(bad, 0, "reject: truncated at every length 0..%d", base_len - 1);
	ok(parse_exact(base, (size_t)base_len, &q) == 0, "accept: the untruncated query");

	memcpy(edns, base, (size_t)base_len);
	edns_len = add_opt_record(edns, base_len, sizeof edns);
	for (cut = 0, bad = 0; cut <= edns_len; cut++)
		if ((parse_exact(edns, (size_t)cut, &q) == 0) != ((size_t)cut >= question_end))
			bad++;
	is_int(bad, 0, "EDNS query cut at every length: rejected inside the question, not after");

	memcpy(packet, base, (size_t)base_len);
	packet[2] |= 0x80;
	is_int(parse_exact(packet, (size_t)base_len, &q), -1, "reject: QR set");
	for (opcode = 1, bad = 0; opcode < 16; opcode++) {
		memcpy(packet, base, (size_t)base_len);
		packet[2] = (uint8_t)((packet[2] & 0x87) | (opcode << 3));
		if (parse_exact(packet, (size_t)base_len, &q) != -1)
			bad++;
	}
	is_int(bad, 0, "reject: every opcode other than QUERY");

	memcpy(packet, base, (size_t)base_len);
	ns_put16(0, packet + 4);
	is_int(parse_exact(packet, (size_t)base_len, &q), -1, "reject: QDCOUNT 0");
	ns_put16(2, packet + 4);
	is_int(parse_exact(packet, (size_t)base_len, &q), -1, "reject: QDCOUNT 2");
	memcpy(packet, base, (size_t)base_len);
	ns_put16(1, packet + 6);
	is_int(parse_exact(packet, (size_t)base_len, &q), -1, "reject: ANCOUNT 1");
	memcpy(packet, base, (size_t)base_len);
	ns_put16(1, packet + 8);
	is_int(parse_exact(packet, (size_t)base_len, &q), -1, "reject: NSCOUNT 1");
	memcpy(packet, base, (size_t)base_len);
	ns_put16(3, packet + 10);
	is_int(parse_exact(packet, (size_t)base_len, &q), 0, "accept: ARCOUNT without records is ignored");

	/* Compression: a bare pointer, and a pointer after a label. */
	put_header(packet, 0x0100, 1, 0, 0, 0);
	memcpy(packet + 12, "\xc0\x0c\x00\x0f\x00\x01", 6);
	is_int(parse_exact(packet, 18, &q), -1, "reject: qname is a compression pointer");
	memcpy(packet + 12, "\x03mx1\xc0\x0c\x00\x0f\x00\x01", 10);
	is_int(parse_exact(packet, 22, &q), -1, "reject: compression pointer after a label");
	memcpy(packet + 12, "\x03mx1\x80\x00\x0f\x00\x01", 9);
	is_int(parse_exact(packet, 21, &q), -1, "reject: reserved label type 0x80");

	/* Label bytes the unescaped dotted form cannot carry. */
	memcpy(packet + 12, "\x03m.x\x05onion\x00\x00\x0f\x00\x01", 16);
	is_int(parse_exact(packet, 28, &q), -1, "reject: '.' inside a label");
	memcpy(packet + 12, "\x03m\\x\x05onion\x00\x00\x0f\x00\x01", 16);
	is_int(parse_exact(packet, 28, &q), -1, "reject: '\\' inside a label");
	memcpy(packet + 12, "\x03m\x00x\x05onion\x00\x00\x0f\x00\x01", 16);
	is_int(parse_exact(packet, 28, &q), -1, "reject: NUL inside a label");

	handmade_len = handmade_query(packet, 1, 63, 0);
	ok(parse_exact(packet, handmade_len, &q) == 0 && q.qname_len == 65 && strlen(q.name) == 63,
	   "accept: 63-byte label");
	handmade_len = handmade_query(packet, 1, 64, 0);
	is_int(parse_exact(packet, handmade_len, &q), -1, "reject: label length 64");
	handmade_len = handmade_query(packet, 3, 63, 61);
	ok(parse_exact(packet, handmade_len, &q) == 0 && q.qname_len == 255 && strlen(q.name) == 253,
	   "accept: name of 255 wire bytes");
	handmade_len = handmade_query(packet, 3, 63, 62);
	is_int(parse_exact(packet, handmade_len, &q), -1, "reject: name of 256 wire bytes");
	handmade_len = handmade_query(packet, 4, 63, 0);
	is_int(parse_exact(packet, handmade_len, &q), -1, "reject: name of 257 wire bytes");
	handmade_len = handmade_query(packet, 130, 1, 0);
	is_int(parse_exact(packet, handmade_len, &q), -1, "reject: 261 wire bytes of one-byte labels");

	len = glibc_query("ok.example", ns_t_a, packet, sizeof packet);
	is_int(parse_exact(packet, (size_t)len, &q), 0, "accept: after all that, a plain query");
}

/* xorshift32: a fixed-seed generator so the mutation test is reproducible. */
static uint32_t next_random(uint32_t *state)
{
	uint32_t x = *state;

	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	return *state = x;
}

/* Mutated and random packets: the parser must never read out of bounds (the exact
 * buffers let ASan/valgrind see that), and whatever it accepts must be a question
 * our builder turns into a reply libresolv can parse. */
static void test_parse_mutations(void)
{
	uint8_t base[512], packet[600], reply[REPLY_CAP];
	struct omx_dns_answer a = empty_answer(OMX_DNS_NXDOMAIN, 30, "onion");
	uint32_t seed = 0x2545f491;
	int base_len, i, accepted = 0, bad = 0;

	base_len = glibc_query("Mutate.Me.Example.Onion", ns_t_mx, base, sizeof base);
	base_len = add_opt_record(base, base_len, sizeof base);
	for (i = 0; i < 20000; i++) {
		struct omx_dns_question q;
		size_t len = (size_t)base_len, flips, f;
		ns_msg msg;
		int reply_len;

		memcpy(packet, base, (size_t)base_len);
		if (i % 4 == 3) {
			len = next_random(&seed) % sizeof packet;
			for (f = 0; f < len; f++)
				packet[f] = (uint8_t)next_random(&seed);
			if (len >= 12) /* give random packets a fair chance of looking like a query */
				put_header(packet, 0, 1, 0, 0, 0);
		} else {
			flips = 1 + next_random(&seed) % 4;
			for (f = 0; f < flips; f++)
				packet[4 + next_random(&seed) % ((uint32_t)base_len - 4)] = (uint8_t)next_random(&seed);
			len = (size_t)base_len - next_random(&seed) % 3;
		}
		if (parse_exact(packet, len, &q) != 0)
			continue;
		accepted++;
		if (q.qname_len < 1 || q.qname_len > 255 || q.qname[q.qname_len - 1] != 0 ||
		    strlen(q.name) > 253) {
			bad++;
			continue;
		}
		reply_len = omx_dns_build_reply(&q, &a, reply, sizeof reply);
		if (reply_len <= 0 || ns_initparse(reply, reply_len, &msg) != 0)
			bad++;
	}
	ok(accepted > 0, "mutations: some packets still parse (%d of 20000)", accepted);
	is_int(bad, 0, "mutations: every accepted question is sane and yields a parseable reply");
}

int main(void)
{
	test_question_from_name();
	test_mx_reply();
	test_a_reply();
	test_negative_replies();
	test_header_only_replies();
	test_bad_answers();
	test_largest_reply();
	test_truncation();
	test_parse_glibc_queries();
	test_question_echo();
	test_parse_rejects();
	test_parse_mutations();
	return done_testing();
}
