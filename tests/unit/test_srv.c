/* Onion MX discovery, pure part: reading SRV replies (well-formed, hostile and
 * everything between), the DNSSEC policy, RFC 2782 ordering, and the MX answer
 * made from a result. Replies are built here byte by byte. */
#include "answer.h"
#include "onion.h"
#include "sha3.h"
#include "srv.h"
#include "srv_lookup.h"
#include "ed25519.h"
#include "tap.h"
#include "dns_pkt.h"

#include <arpa/inet.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define QNAME "_onion-mx._tcp.example.org"

static void onion(unsigned i, char out[OMX_ONION_LABEL_LEN + 1])
{
	char in[64];
	uint8_t hash[32], key[32];

	snprintf(in, sizeof(in), "srv-test/%u", i);
	omx_sha3_256(in, strlen(in), hash);
	omx_ed25519_base_mult(hash, key); /* a key Tor accepts, as discovery wants */
	omx_onion_from_pubkey(key, out);
}

/* --- a small reply builder --- */

/* Header and question; FLAGS beyond QR|RD|RA (e.g. AD 0x20, TC 0x200, rcode). */
static void start(struct pkt *p, unsigned flags, unsigned an, unsigned ns)
{
	p->len = 0;
	put16(p, 0x1234);
	put16(p, 0x8180 | flags);
	put16(p, 1);
	put16(p, an);
	put16(p, ns);
	put16(p, 0);
	put_name(p, QNAME);
	put16(p, 33);
	put16(p, 1);
}

/* A record's owner (NULL: a pointer to the question name), type, class IN, TTL
 * and RDLENGTH; the caller writes the rdata. */
static void rr_head(struct pkt *p, const char *owner, unsigned type, uint32_t ttl, unsigned rdlen)
{
	if (owner)
		put_name(p, owner);
	else
		put16(p, 0xc00c);
	put16(p, type);
	put16(p, 1);
	put32(p, ttl);
	put16(p, rdlen);
}

/* SRV rdata up to the target: priority, weight, port. */
static void srv_fixed(struct pkt *p, unsigned prio, unsigned weight, unsigned port)
{
	put16(p, prio);
	put16(p, weight);
	put16(p, port);
}

/* An SRV record at OWNER (NULL: the question name) with TARGET written out and
 * the right RDLENGTH. */
static void srv_at(struct pkt *p, const char *owner, uint32_t ttl, unsigned prio,
		   unsigned weight, unsigned port, const char *target)
{
	size_t rdlen_at;

	rr_head(p, owner, 33, ttl, 0);
	rdlen_at = p->len - 2;
	srv_fixed(p, prio, weight, port);
	put_name(p, target);
	p->b[rdlen_at] = (uint8_t)((p->len - rdlen_at - 2) >> 8);
	p->b[rdlen_at + 1] = (uint8_t)(p->len - rdlen_at - 2);
}

static void srv(struct pkt *p, uint32_t ttl, unsigned prio, unsigned weight, unsigned port,
		const char *target)
{
	srv_at(p, NULL, ttl, prio, weight, port, target);
}

static void soa(struct pkt *p, uint32_t ttl, uint32_t minimum)
{
	put_name(p, "example.org");
	put16(p, 6);
	put16(p, 1);
	put32(p, ttl);
	put16(p, 3 + 3 + 20);
	put_name(p, "a");
	put_name(p, "b");
	put32(p, 1);
	put32(p, 2);
	put32(p, 3);
	put32(p, 4);
	put32(p, minimum);
}

static char *onion_name(unsigned i, char buf[80])
{
	char label[OMX_ONION_LABEL_LEN + 1];

	onion(i, label);
	snprintf(buf, 80, "%s.onion", label);
	return buf;
}

static void parse(const struct pkt *p, enum omx_dnssec_policy policy, struct omx_srv_result *r)
{
	omx_srv_parse_reply(p->b, p->len, QNAME, policy, r);
}

static void test_qname(void)
{
	char out[256];
	char longname[300];

	is_int(omx_srv_qname("example.org", out, sizeof(out)), 0, "qname built");
	is_str(out, "_onion-mx._tcp.example.org", "qname is _onion-mx._tcp.DOMAIN");
	omx_srv_qname("example.org.", out, sizeof(out));
	is_str(out, "_onion-mx._tcp.example.org", "trailing dot dropped");
	is_int(omx_srv_qname("", out, sizeof(out)), -1, "empty domain refused");
	memset(longname, 'a', 240);
	longname[240] = '\0';
	is_int(omx_srv_qname(longname, out, sizeof(out)), -1, "name over 253 characters refused");
	is_int(omx_srv_qname("example.org", out, 20), -1, "small buffer refused");
}

static void test_good(void)
{
	static struct pkt p;
	struct omx_srv_result r;
	char n1[80], n2[80], n3[80], l1[57], l2[57], l3[57];

	onion(1, l1);
	onion(2, l2);
	onion(3, l3);
	start(&p, 0, 3, 0);
	srv(&p, 900, 10, 0, 25, onion_name(1, n1));
	srv(&p, 300, 0, 5, 2525, onion_name(2, n2));
	srv(&p, 600, 0, 5, 25, onion_name(3, n3));
	parse(&p, OMX_DNSSEC_PREFER, &r);
	is_int(r.status, OMX_SRV_ONION, "three valid onions: ONION");
	is_int(r.n, 3, "all three kept");
	is_str(r.rec[0].onion, l2, "sorted by priority: first priority-0 record first");
	is_str(r.rec[1].onion, l3, "second priority-0 record second (stable)");
	is_str(r.rec[2].onion, l1, "priority 10 last");
	is_int(r.rec[0].port, 2525, "SRV port kept");
	is_int(r.rec[2].port, 25, "port 25 kept");
	is_int(r.rec[0].weight, 5, "weight kept");
	is_int(r.ttl, 300, "TTL is the smallest record TTL");
	is_int(r.secure, 0, "no AD bit: not secure");
	is_int(r.nignored, 0, "nothing ignored");

	parse(&p, OMX_DNSSEC_REQUIRE, &r);
	is_int(r.status, OMX_SRV_UNUSABLE, "require: unsigned answer unusable");
	ok(strstr(r.detail, "require") != NULL, "require: the detail says why (%s)", r.detail);
	parse(&p, OMX_DNSSEC_OFF, &r);
	is_int(r.status, OMX_SRV_ONION, "off: unsigned answer used");

	p.b[3] |= 0x20; /* AD */
	parse(&p, OMX_DNSSEC_REQUIRE, &r);
	is_int(r.status, OMX_SRV_ONION, "require: AD answer used");
	is_int(r.secure, 1, "AD bit: secure");

	/* Upper-case target, TTL with the top bit set. */
	start(&p, 0, 1, 0);
	for (char *c = onion_name(4, n1); *c; c++)
		*c = (char)(*c >= 'a' && *c <= 'z' ? *c - 32 : *c);
	srv(&p, 0x80000001u, 0, 0, 25, n1);
	parse(&p, OMX_DNSSEC_PREFER, &r);
	is_int(r.status, OMX_SRV_ONION, "upper-case onion accepted");
	onion(4, l1);
	is_str(r.rec[0].onion, l1, "and lower-cased");
	is_int(r.ttl, 0, "TTL with the top bit set counts as 0 (RFC 2181)");

	/* A huge TTL is capped. */
	start(&p, 0, 1, 0);
	srv(&p, 999999, 0, 0, 25, onion_name(4, n1));
	parse(&p, OMX_DNSSEC_PREFER, &r);
	is_int(r.ttl, OMX_SRV_TTL_MAX, "TTL capped at a day");
}

static void test_invalid_targets(void)
{
	static struct pkt p;
	struct omx_srv_result r;
	char n1[80], bad[80], sub[120], v[80];

	onion_name(5, n1);
	snprintf(bad, sizeof(bad), "%s", n1);
	bad[10] = bad[10] == 'a' ? 'b' : 'a'; /* checksum broken */
	snprintf(sub, sizeof(sub), "mail.%s", n1);
	start(&p, 0, 7, 0);
	srv(&p, 300, 0, 0, 25, "mx.example.org");
	srv(&p, 300, 0, 0, 25, "expyuzz4wqqyqhjn.onion");
	srv(&p, 300, 0, 0, 25, bad);
	srv(&p, 300, 0, 0, 25, sub);
	srv(&p, 300, 0, 0, 0, onion_name(6, v));
	srv(&p, 300, 5, 0, 25, n1);
	srv(&p, 300, 1, 0, 2525, n1); /* the same onion again, lower priority */
	parse(&p, OMX_DNSSEC_PREFER, &r);
	is_int(r.status, OMX_SRV_ONION, "one valid onion among bad targets: ONION");
	is_int(r.n, 1, "only the valid onion kept");
	is_int(r.rec[0].priority, 1, "a duplicate keeps its lower priority");
	is_int(r.rec[0].port, 2525, "with that record's port");
	is_int(r.nignored, 6, "six targets ignored");
	is_str(r.ignored[0].name, "mx.example.org", "clearnet name named");
	ok(strstr(r.ignored[0].why, "not an onion") != NULL, "clearnet: %s", r.ignored[0].why);
	ok(strstr(r.ignored[1].why, "v2") != NULL, "v2 onion: %s", r.ignored[1].why);
	ok(strstr(r.ignored[2].why, "checksum") != NULL, "bad checksum: %s", r.ignored[2].why);
	ok(strstr(r.ignored[3].why, "bare") != NULL, "subdomain of an onion: %s", r.ignored[3].why);

	/* Checksum right, key no point (a typo of the Tor Project's onion): Tor
	 * would answer 0xF6, so it is not a target. */
	start(&p, 0, 2, 0);
	srv(&p, 300, 0, 0, 25, "23zyxa5ihm7nsggfxnu52rck2vv4rvmdlkiu3zzui5du4xyclen53wid.onion");
	srv(&p, 300, 1, 0, 25, n1);
	parse(&p, OMX_DNSSEC_PREFER, &r);
	is_int(r.n, 1, "a key that is not a point is not kept");
	is_int(r.nignored, 1, "it is ignored");
	ok(strstr(r.ignored[0].why, "not a valid ed25519 point: Tor would refuse it") != NULL,
	   "key not a point: %s", r.ignored[0].why);

	start(&p, 0, 2, 0);
	srv(&p, 300, 0, 0, 25, "mx.example.org");
	srv(&p, 300, 0, 0, 25, bad);
	parse(&p, OMX_DNSSEC_PREFER, &r);
	is_int(r.status, OMX_SRV_UNUSABLE, "only invalid targets: UNUSABLE");
	is_int(r.n, 0, "no record kept");
	is_int(r.ttl, 300, "UNUSABLE is cached for the records' TTL");

	start(&p, 0, 1, 0);
	srv(&p, 300, 0, 0, 0, "");
	parse(&p, OMX_DNSSEC_PREFER, &r);
	is_int(r.status, OMX_SRV_NONE, "target \".\" alone: no onion MX (NONE)");

	/* Nine valid onions: the eight lowest priorities stay. */
	start(&p, 0, 9, 0);
	for (unsigned i = 0; i < 9; i++)
		srv(&p, 300, 9 - i, 0, 25, onion_name(20 + i, v));
	parse(&p, OMX_DNSSEC_PREFER, &r);
	is_int(r.n, OMX_SRV_MAX_TARGETS, "at most 8 onions kept");
	is_int(r.rec[0].priority, 1, "lowest priority first");
	is_int(r.rec[7].priority, 8, "priority 9 dropped");
	is_int(r.nignored, 1, "and reported as ignored");
}

static void test_negative_and_errors(void)
{
	static struct pkt p;
	struct omx_srv_result r;

	start(&p, 3, 0, 1);
	soa(&p, 300, 120);
	parse(&p, OMX_DNSSEC_PREFER, &r);
	is_int(r.status, OMX_SRV_NONE, "NXDOMAIN: NONE");
	is_int(r.ttl, 120, "negative TTL = min(SOA TTL, MINIMUM)");
	start(&p, 0, 0, 1);
	soa(&p, 30, 86400);
	parse(&p, OMX_DNSSEC_PREFER, &r);
	is_int(r.status, OMX_SRV_NONE, "NODATA: NONE");
	is_int(r.ttl, 30, "NODATA TTL from the SOA");
	start(&p, 0, 0, 1);
	soa(&p, 99999, 99999);
	parse(&p, OMX_DNSSEC_PREFER, &r);
	is_int(r.ttl, OMX_SRV_NEG_TTL_MAX, "negative TTL capped at an hour");
	start(&p, 3, 0, 0);
	parse(&p, OMX_DNSSEC_PREFER, &r);
	is_int(r.ttl, OMX_SRV_NEG_TTL_NO_SOA, "no SOA: a short negative TTL");

	start(&p, 2, 0, 0);
	parse(&p, OMX_DNSSEC_PREFER, &r);
	is_int(r.status, OMX_SRV_TEMPFAIL, "SERVFAIL: TEMPFAIL");
	ok(strstr(r.detail, "DNSSEC") != NULL, "SERVFAIL detail mentions validation (%s)", r.detail);
	is_int(r.ttl, 0, "TEMPFAIL never cached");
	start(&p, 5, 0, 0);
	parse(&p, OMX_DNSSEC_PREFER, &r);
	is_int(r.status, OMX_SRV_TEMPFAIL, "REFUSED: TEMPFAIL");
	ok(strstr(r.detail, "REFUSED") != NULL, "REFUSED named (%s)", r.detail);
	start(&p, 1, 0, 0);
	parse(&p, OMX_DNSSEC_PREFER, &r);
	is_int(r.status, OMX_SRV_TEMPFAIL, "FORMERR: TEMPFAIL");
	start(&p, 0x200, 0, 0);
	parse(&p, OMX_DNSSEC_PREFER, &r);
	is_int(r.status, OMX_SRV_TEMPFAIL, "TC: TEMPFAIL");
	start(&p, 0, 0, 0);
	p.b[2] &= 0x7f; /* QR clear: not a reply */
	parse(&p, OMX_DNSSEC_PREFER, &r);
	is_int(r.status, OMX_SRV_TEMPFAIL, "no QR bit: TEMPFAIL");
	omx_srv_parse_reply(p.b, 5, QNAME, OMX_DNSSEC_PREFER, &r);
	is_int(r.status, OMX_SRV_TEMPFAIL, "shorter than a header: TEMPFAIL");
	omx_srv_parse_reply(NULL, 0, QNAME, OMX_DNSSEC_PREFER, &r);
	is_int(r.status, OMX_SRV_TEMPFAIL, "NULL: TEMPFAIL");
}

static void test_hostile(void)
{
	static struct pkt p, good;
	struct omx_srv_result r;
	char n1[80];
	size_t rd;

	/* Compressed target pointing back at an earlier name: fine. */
	start(&p, 0, 2, 0);
	srv(&p, 300, 0, 0, 25, onion_name(7, n1));
	rr_head(&p, NULL, 33, 300, 8);
	srv_fixed(&p, 1, 0, 2525);
	put16(&p, 0xc000 | (12 + 28 + 4 + 12 + 6)); /* the first record's target */
	parse(&p, OMX_DNSSEC_PREFER, &r);
	is_int(r.status, OMX_SRV_ONION, "compressed target: ONION");
	is_int(r.nignored, 1, "the compressed copy is the same onion (a duplicate)");

	/* Pointer loops and forward pointers in the target. */
	start(&p, 0, 1, 0);
	rr_head(&p, NULL, 33, 300, 8);
	srv_fixed(&p, 0, 0, 25);
	rd = p.len;
	put16(&p, 0xc000 | (unsigned)rd); /* points at itself */
	parse(&p, OMX_DNSSEC_PREFER, &r);
	is_int(r.status, OMX_SRV_TEMPFAIL, "pointer to itself: TEMPFAIL");
	p.b[rd + 1] = (uint8_t)(rd + 4);
	parse(&p, OMX_DNSSEC_PREFER, &r);
	is_int(r.status, OMX_SRV_TEMPFAIL, "forward pointer: TEMPFAIL");
	p.b[rd] = 0x40;
	parse(&p, OMX_DNSSEC_PREFER, &r);
	is_int(r.status, OMX_SRV_TEMPFAIL, "extended label type 0x40: TEMPFAIL");
	p.b[rd] = 0x80;
	parse(&p, OMX_DNSSEC_PREFER, &r);
	is_int(r.status, OMX_SRV_TEMPFAIL, "reserved label type 0x80: TEMPFAIL");

	/* A label, then a pointer back to it: a loop that grows the name. */
	start(&p, 0, 1, 0);
	rr_head(&p, NULL, 33, 300, 11);
	srv_fixed(&p, 0, 0, 25);
	rd = p.len;
	put8(&p, 1);
	put8(&p, 'a');
	put16(&p, 0xc000 | (unsigned)rd);
	put8(&p, 0);
	parse(&p, OMX_DNSSEC_PREFER, &r);
	is_int(r.status, OMX_SRV_TEMPFAIL, "label + pointer loop: TEMPFAIL");

	/* Counts and lengths that do not add up. */
	start(&good, 0, 1, 0);
	srv(&good, 300, 0, 0, 25, onion_name(8, n1));
	p = good;
	p.b[7] = 0xff;
	p.b[6] = 0xff;
	parse(&p, OMX_DNSSEC_PREFER, &r);
	is_int(r.status, OMX_SRV_TEMPFAIL, "ancount 65535 with one record: TEMPFAIL");
	p = good;
	p.b[4] = 0;
	p.b[5] = 2;
	parse(&p, OMX_DNSSEC_PREFER, &r);
	is_int(r.status, OMX_SRV_TEMPFAIL, "two questions: TEMPFAIL");
	p = good;
	p.b[12 + 28 + 4 + 10] = 0xea; /* rdlength 60000+ */
	parse(&p, OMX_DNSSEC_PREFER, &r);
	is_int(r.status, OMX_SRV_TEMPFAIL, "rdlength past the end: TEMPFAIL");
	p = good;
	p.b[12 + 28 + 4 + 11] -= 1; /* rdata shorter than the name in it */
	parse(&p, OMX_DNSSEC_PREFER, &r);
	is_int(r.status, OMX_SRV_TEMPFAIL, "rdlength shorter than the target: TEMPFAIL");

	/* Huge rdata: a valid target followed by 60000 bytes of junk. */
	start(&p, 0, 1, 0);
	rr_head(&p, NULL, 33, 300, 6 + 64 + 60000);
	srv_fixed(&p, 0, 0, 25);
	put_name(&p, onion_name(9, n1));
	memset(p.b + p.len, 'x', 60000);
	p.len += 60000;
	parse(&p, OMX_DNSSEC_PREFER, &r);
	is_int(r.status, OMX_SRV_TEMPFAIL, "SRV rdata with 60000 trailing bytes: TEMPFAIL");

	/* Every truncation of a good reply fails temporarily, never half-answers. */
	{
		int all = 1;
		for (size_t n = 0; n < good.len; n++) {
			omx_srv_parse_reply(good.b, n, QNAME, OMX_DNSSEC_PREFER, &r);
			if (r.status != OMX_SRV_TEMPFAIL) {
				all = 0;
				printf("#   prefix %zu: status %d\n", n, r.status);
			}
		}
		ok(all, "each of the %zu truncations of a good reply is TEMPFAIL", good.len);
		parse(&good, OMX_DNSSEC_PREFER, &r);
		is_int(r.status, OMX_SRV_ONION, "and the whole of it is ONION");
	}

	/* Random corruption: never a crash; any ONION result holds only valid onions. */
	{
		int consistent = 1;
		srand(7);
		for (int round = 0; round < 20000; round++) {
			p = good;
			for (int k = 0; k < 1 + rand() % 4; k++)
				p.b[rand() % p.len] = (uint8_t)rand();
			parse(&p, OMX_DNSSEC_PREFER, &r);
			for (int i = 0; r.status == OMX_SRV_ONION && i < r.n; i++)
				if (omx_onion_check(r.rec[i].onion, OMX_ONION_LABEL_LEN) != OMX_ONION_OK ||
				    r.rec[i].port == 0)
					consistent = 0;
			if (r.status < OMX_SRV_ONION || r.status > OMX_SRV_TEMPFAIL)
				consistent = 0;
		}
		ok(consistent, "20000 corrupted replies: no crash, only valid onions ever returned");
	}

	/* Records for another owner are not ours. */
	start(&p, 0, 1, 0);
	rr_head(&p, "_onion-mx._tcp.evil.example", 33, 300, 6 + 64);
	srv_fixed(&p, 0, 0, 25);
	put_name(&p, onion_name(10, n1));
	parse(&p, OMX_DNSSEC_PREFER, &r);
	is_int(r.status, OMX_SRV_NONE, "SRV for another name: ignored (NONE)");

	/* A CNAME from the question to another name, with the SRV there. */
	start(&p, 0, 2, 0);
	rr_head(&p, NULL, 5, 200, 17);
	put_name(&p, "srv.example.net");
	rr_head(&p, "srv.example.net", 33, 300, 6 + 64);
	srv_fixed(&p, 0, 0, 25);
	put_name(&p, onion_name(11, n1));
	parse(&p, OMX_DNSSEC_PREFER, &r);
	is_int(r.status, OMX_SRV_ONION, "CNAME followed to the SRV records");
	is_int(r.ttl, 200, "the CNAME's smaller TTL counts");
}

static void test_classify(void)
{
	static struct pkt p;
	uint8_t buf[512];
	struct omx_srv_result r;

	memset(buf, 0, sizeof(buf));
	omx_srv_classify(-1, buf, sizeof(buf), QNAME, OMX_DNSSEC_PREFER, &r);
	is_int(r.status, OMX_SRV_TEMPFAIL, "-1 and no reply in the buffer: TEMPFAIL (timeout)");
	ok(strstr(r.detail, "no reply") != NULL, "says no reply came (%s)", r.detail);
	start(&p, 3, 0, 1);
	soa(&p, 300, 100);
	memcpy(buf, p.b, p.len);
	omx_srv_classify(-1, buf, sizeof(buf), QNAME, OMX_DNSSEC_PREFER, &r);
	is_int(r.status, OMX_SRV_NONE, "-1 with NXDOMAIN left in the buffer: NONE");
	is_int(r.ttl, 100, "with the SOA's TTL");
	memset(buf, 0, sizeof(buf));
	start(&p, 2, 0, 0);
	memcpy(buf, p.b, p.len);
	omx_srv_classify(-1, buf, sizeof(buf), QNAME, OMX_DNSSEC_PREFER, &r);
	is_int(r.status, OMX_SRV_TEMPFAIL, "-1 with SERVFAIL in the buffer: TEMPFAIL");
}

static uint32_t lcg(void *ctx)
{
	uint64_t *s = ctx;

	*s = *s * 6364136223846793005ull + 1442695040888963407ull;
	return (uint32_t)(*s >> 32);
}

static uint32_t always(void *ctx)
{
	return *(uint32_t *)ctx;
}

static void test_order(void)
{
	struct omx_srv_result r;
	int order[OMX_SRV_MAX_TARGETS], first[3] = { 0 };
	uint64_t seed = 1;
	uint32_t fixed;
	const int rounds = 40000;

	memset(&r, 0, sizeof(r));
	r.status = OMX_SRV_ONION;
	r.n = 3;
	r.rec[0] = (struct omx_srv_record){ .priority = 0, .weight = 1 };
	r.rec[1] = (struct omx_srv_record){ .priority = 0, .weight = 3 };
	r.rec[2] = (struct omx_srv_record){ .priority = 7, .weight = 100 };
	for (int i = 0; i < rounds; i++) {
		omx_srv_order(&r, lcg, &seed, order);
		first[order[0]]++;
		if (order[2] != 2)
			first[2] = -rounds;
	}
	ok(first[2] == 0, "the higher priority never comes before the lower ones");
	printf("# weight 1 first %d, weight 3 first %d of %d\n", first[0], first[1], rounds);
	ok(first[0] > rounds * 22 / 100 && first[0] < rounds * 28 / 100,
	   "weight 1 against 3: first about a quarter of the time");

	r.rec[0].weight = 0;
	r.rec[1].weight = 100;
	first[0] = first[1] = 0;
	for (int i = 0; i < rounds; i++) {
		omx_srv_order(&r, lcg, &seed, order);
		first[order[0]]++;
	}
	ok(first[0] > 0 && first[0] < rounds * 2 / 100,
	   "weight 0 against 100: first only rarely (%d of %d)", first[0], rounds);

	r.rec[1].weight = 0;
	fixed = 12345;
	omx_srv_order(&r, always, &fixed, order);
	ok(order[0] == 0 && order[1] == 1 && order[2] == 2, "all weights 0: published order");

	/* Every index exactly once, whatever the draws. */
	{
		int perm_ok = 1;
		r.n = OMX_SRV_MAX_TARGETS;
		for (int i = 0; i < r.n; i++)
			r.rec[i] = (struct omx_srv_record){ .priority = (uint16_t)(i % 3),
							    .weight = (uint16_t)(i * 7 % 5) };
		for (int round = 0; round < 1000; round++) {
			int seen[OMX_SRV_MAX_TARGETS] = { 0 };
			omx_srv_order(&r, lcg, &seed, order);
			for (int i = 0; i < r.n; i++) {
				if (order[i] < 0 || order[i] >= r.n || seen[order[i]]++)
					perm_ok = 0;
				if (i && r.rec[order[i]].priority < r.rec[order[i - 1]].priority)
					perm_ok = 0;
			}
		}
		ok(perm_ok, "order is a permutation sorted by priority");
	}
}

static void test_answer(void)
{
	struct omx_srv_result r;
	struct omx_dns_answer a;
	char hosts[OMX_MAP_MAX_TARGETS][OMX_HOST_MAX], l1[57], l2[57], want[80];
	int order[OMX_SRV_MAX_TARGETS] = { 1, 0 };

	onion(31, l1);
	onion(32, l2);
	memset(&r, 0, sizeof(r));
	r.status = OMX_SRV_ONION;
	r.n = 2;
	r.ttl = 30;
	memcpy(r.rec[0].onion, l1, sizeof(l1));
	memcpy(r.rec[1].onion, l2, sizeof(l2));
	is_int(omx_answer_discovered(&r, order, 0, &a, hosts), 1, "ONION: answered");
	is_int(a.type, OMX_DNS_T_MX, "with MX records");
	is_int(a.n, 2, "one per onion");
	snprintf(want, sizeof(want), "%s.onion", l2);
	is_str(a.mx[0].host, want, "in the given order");
	ok(a.mx[0].pref < a.mx[1].pref, "with increasing preferences");
	is_int(a.ttl, 30, "TTL no longer than the cached answer's");
	r.status = OMX_SRV_TEMPFAIL;
	is_int(omx_answer_discovered(&r, order, 0, &a, hosts), 1, "TEMPFAIL: answered");
	is_int(a.rcode, OMX_DNS_SERVFAIL, "with SERVFAIL (the MTA defers)");
	is_int(omx_answer_discovered(&r, order, 1, &a, hosts), 0,
	       "TEMPFAIL with srv_failure = mx: passed to the real MX lookup");
	r.status = OMX_SRV_NONE;
	is_int(omx_answer_discovered(&r, order, 0, &a, hosts), 0, "NONE: the real MX lookup");
	r.status = OMX_SRV_UNUSABLE;
	is_int(omx_answer_discovered(&r, order, 0, &a, hosts), 0, "UNUSABLE: the real MX lookup");
}

/* A stand-in for res_nquery: records the options it saw, answers as told. */
static unsigned long seen_options;
static int fake_rc;
static struct pkt fake_reply;

static int fake_nquery(res_state statp, const char *name, int class, int type,
		       unsigned char *answer, int anslen)
{
	seen_options = statp->options;
	(void)class;
	(void)type;
	if (strcmp(name, QNAME) != 0)
		return -1;
	if (fake_reply.len && fake_reply.len <= (size_t)anslen)
		memcpy(answer, fake_reply.b, fake_reply.len);
	return fake_rc;
}

static void nameserver(struct __res_state *st, int i, const char *ip)
{
	st->nsaddr_list[i].sin_family = AF_INET;
	inet_pton(AF_INET, ip, &st->nsaddr_list[i].sin_addr);
	st->nscount = i + 1;
}

static void test_lookup(void)
{
	struct __res_state st;
	struct omx_srv_result r;
	char n1[80];

	memset(&st, 0, sizeof(st));
	nameserver(&st, 0, "127.0.0.1");
	ok(omx_resolver_trusted(&st), "a loopback nameserver is trusted for AD");
	nameserver(&st, 1, "127.0.0.53");
	ok(omx_resolver_trusted(&st), "two loopback nameservers: trusted");
	nameserver(&st, 2, "192.0.2.1");
	ok(!omx_resolver_trusted(&st), "one remote nameserver: not trusted");
	st.options |= RES_TRUSTAD;
	ok(omx_resolver_trusted(&st), "options trust-ad: trusted whatever the servers");
	memset(&st, 0, sizeof(st));
	ok(!omx_resolver_trusted(&st), "no nameserver: not trusted");
	ok(!omx_resolver_trusted(NULL), "NULL: not trusted");

	/* The query carries RES_TRUSTAD only when the policy looks at AD and the
	 * resolver is trusted; the caller's options come back unchanged. */
	memset(&st, 0, sizeof(st));
	nameserver(&st, 0, "127.0.0.1");
	st.options = RES_INIT | RES_RECURSE;
	start(&fake_reply, 0x20, 1, 0);
	srv(&fake_reply, 300, 0, 0, 25, onion_name(40, n1));
	fake_rc = (int)fake_reply.len;
	omx_srv_lookup(&st, fake_nquery, "example.org", OMX_DNSSEC_REQUIRE, &r);
	ok(seen_options & RES_TRUSTAD, "require + loopback resolver: RES_TRUSTAD on the query");
	is_int(st.options, RES_INIT | RES_RECURSE, "and the caller's options restored");
	is_int(r.status, OMX_SRV_ONION, "the AD answer is used");
	omx_srv_lookup(&st, fake_nquery, "example.org", OMX_DNSSEC_OFF, &r);
	ok(!(seen_options & RES_TRUSTAD), "off: RES_TRUSTAD not set");
	nameserver(&st, 1, "192.0.2.1");
	omx_srv_lookup(&st, fake_nquery, "example.org", OMX_DNSSEC_PREFER, &r);
	ok(!(seen_options & RES_TRUSTAD), "remote resolver: RES_TRUSTAD not set (glibc then clears AD)");

	/* No reply at all: the buffer was zeroed, so it is a timeout. */
	fake_reply.len = 0;
	fake_rc = -1;
	omx_srv_lookup(&st, fake_nquery, "example.org", OMX_DNSSEC_PREFER, &r);
	is_int(r.status, OMX_SRV_TEMPFAIL, "resolver returned -1 and wrote nothing: TEMPFAIL");
	omx_srv_lookup(&st, fake_nquery, "", OMX_DNSSEC_PREFER, &r);
	is_int(r.status, OMX_SRV_NONE, "an empty domain is not looked up");
}

int main(void)
{
	test_qname();
	test_good();
	test_invalid_targets();
	test_negative_and_errors();
	test_hostile();
	test_classify();
	test_order();
	test_answer();
	test_lookup();
	return done_testing();
}
