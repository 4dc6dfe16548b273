/* Stronger policies an unsigned _onion-mx._tcp answer must not override
 * (srv_dnssec = prefer): the readers of the _mta-sts TXT, MX and TLSA replies,
 * and the decision omx_srv_lookup makes with them, driven by a stand-in
 * resolver that answers each (name, type) from replies built here. */
#include "ed25519.h"
#include "onion.h"
#include "sha3.h"
#include "srv.h"
#include "srv_lookup.h"
#include "tap.h"
#include "dns_pkt.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#define AD 0x20
#define T_TLSA_ 52

/* Header (QR|RD|RA plus FLAGS: AD, TC, rcode) and the question QNAME TYPE. */
static void start(struct pkt *p, unsigned flags, unsigned an, const char *qname, unsigned type)
{
	p->len = 0;
	put16(p, 0x1234);
	put16(p, 0x8180 | flags);
	put16(p, 1);
	put16(p, an);
	put16(p, 0);
	put16(p, 0);
	put_name(p, qname);
	put16(p, type);
	put16(p, 1);
}

/* A record owned by the question name (pointer), RDATA of RDLEN bytes follows. */
static void rr(struct pkt *p, unsigned type, unsigned rdlen)
{
	put16(p, 0xc00c);
	put16(p, type);
	put16(p, 1);
	put32(p, 300);
	put16(p, rdlen);
}

static void txt(struct pkt *p, const char *a, const char *b)
{
	size_t la = strlen(a), lb = b ? strlen(b) : 0;

	rr(p, 16, (unsigned)(1 + la + (b ? 1 + lb : 0)));
	put8(p, (unsigned)la);
	memcpy(p->b + p->len, a, la);
	p->len += la;
	if (b) {
		put8(p, (unsigned)lb);
		memcpy(p->b + p->len, b, lb);
		p->len += lb;
	}
}

static void mx(struct pkt *p, unsigned pref, const char *host)
{
	size_t at;

	rr(p, 15, 0);
	at = p->len - 2;
	put16(p, pref);
	put_name(p, host);
	p->b[at] = (uint8_t)((p->len - at - 2) >> 8);
	p->b[at + 1] = (uint8_t)(p->len - at - 2);
}

static void tlsa(struct pkt *p)
{
	rr(p, T_TLSA_, 3 + 32);
	put8(p, 3);
	put8(p, 1);
	put8(p, 1);
	for (int i = 0; i < 32; i++)
		put8(p, (unsigned)i);
}

static char onion[OMX_ONION_LABEL_LEN + 1];

static void srv_reply(struct pkt *p, const char *domain, unsigned flags)
{
	char qname[300], target[80];
	size_t at;

	snprintf(qname, sizeof(qname), "_onion-mx._tcp.%s", domain);
	snprintf(target, sizeof(target), "%s.onion", onion);
	start(p, flags, 1, qname, 33);
	rr(p, 33, 0);
	at = p->len - 2;
	put16(p, 0);
	put16(p, 0);
	put16(p, 25);
	put_name(p, target);
	p->b[at] = (uint8_t)((p->len - at - 2) >> 8);
	p->b[at + 1] = (uint8_t)(p->len - at - 2);
}

/* ---- the stand-in resolver: up to 8 (name, type) -> reply ---- */
static struct zone_entry {
	char name[300];
	int type;
	struct pkt reply;
	int no_reply;
} zone[8];
static int nzone, asked;
static char asked_log[2048];

static struct pkt *answer_for(const char *name, int type)
{
	struct zone_entry *e = &zone[nzone++];

	snprintf(e->name, sizeof(e->name), "%s", name);
	e->type = type;
	e->no_reply = 0;
	return &e->reply;
}

static int fake_nquery(res_state statp, const char *name, int class, int type, unsigned char *answer,
		       int anslen)
{
	(void)statp;
	(void)class;
	asked++;
	snprintf(asked_log + strlen(asked_log), sizeof(asked_log) - strlen(asked_log), "%s/%d ", name, type);
	for (int i = 0; i < nzone; i++)
		if (strcmp(zone[i].name, name) == 0 && zone[i].type == type) {
			unsigned rcode;
			if (zone[i].no_reply || zone[i].reply.len > (size_t)anslen)
				return -1;
			memcpy(answer, zone[i].reply.b, zone[i].reply.len);
			rcode = zone[i].reply.b[3] & 0x0f;
			return rcode == 0 && (zone[i].reply.b[6] | zone[i].reply.b[7]) ? (int)zone[i].reply.len : -1;
		}
	/* Not in the zone: NXDOMAIN, left in the buffer as glibc does. */
	{
		struct pkt p;
		start(&p, 3, 0, name, (unsigned)type);
		memcpy(answer, p.b, p.len);
	}
	return -1;
}

static void reset(void)
{
	nzone = 0;
	asked = 0;
	asked_log[0] = '\0';
}

static void test_readers(void)
{
	struct pkt p;
	char hosts[OMX_POLICY_HOSTS_MAX][256];
	int secure = -1;

	start(&p, 0, 1, "_mta-sts.example.org", 16);
	txt(&p, "v=STSv1; id=20240101", NULL);
	is_int(omx_policy_sts_reply((int)p.len, p.b, sizeof(p.b)), 1, "TXT v=STSv1: MTA-STS published");
	start(&p, 0, 2, "_mta-sts.example.org", 16);
	txt(&p, "v=spf1 -all", NULL);
	txt(&p, "v=ST", "Sv1; id=2");
	is_int(omx_policy_sts_reply((int)p.len, p.b, sizeof(p.b)), 1, "the tag split over two strings, after another TXT");
	start(&p, 0, 1, "_mta-sts.example.org", 16);
	txt(&p, "v=STSv", NULL);
	is_int(omx_policy_sts_reply((int)p.len, p.b, sizeof(p.b)), 0, "a shorter text is no policy");
	start(&p, 0, 0, "_mta-sts.example.org", 16);
	is_int(omx_policy_sts_reply(-1, p.b, sizeof(p.b)), 0, "NODATA: none");
	start(&p, 3, 0, "_mta-sts.example.org", 16);
	is_int(omx_policy_sts_reply(-1, p.b, sizeof(p.b)), 0, "NXDOMAIN: none");
	start(&p, 2, 0, "_mta-sts.example.org", 16);
	is_int(omx_policy_sts_reply(-1, p.b, sizeof(p.b)), -1, "SERVFAIL: cannot tell");
	start(&p, 5, 0, "_mta-sts.example.org", 16);
	is_int(omx_policy_sts_reply(-1, p.b, sizeof(p.b)), -1, "REFUSED: cannot tell");
	memset(p.b, 0, 12);
	is_int(omx_policy_sts_reply(-1, p.b, sizeof(p.b)), -1, "no reply at all: cannot tell");
	start(&p, 0x200, 1, "_mta-sts.example.org", 16);
	txt(&p, "v=STSv1;", NULL);
	is_int(omx_policy_sts_reply((int)p.len, p.b, sizeof(p.b)), -1, "truncated (TC): cannot tell");
	start(&p, 0, 1, "_mta-sts.example.org", 16);
	rr(&p, 16, 4);
	put8(&p, 9); /* a string longer than its record */
	put8(&p, 'v');
	put8(&p, '=');
	put8(&p, 'S');
	is_int(omx_policy_sts_reply((int)p.len, p.b, sizeof(p.b)), -1, "a string past its record: malformed");
	start(&p, 0, 3, "_mta-sts.example.org", 16);
	txt(&p, "x", NULL);
	is_int(omx_policy_sts_reply((int)p.len, p.b, (size_t)p.len), -1, "records missing from a short packet: malformed");

	start(&p, AD, 2, "example.org", 15);
	mx(&p, 10, "MX1.Example.org");
	mx(&p, 20, "mx2.example.org");
	is_int(omx_policy_mx_reply((int)p.len, p.b, sizeof(p.b), hosts, &secure), 2, "two MX hosts");
	is_str(hosts[0], "mx1.example.org", "lower case");
	is_int(secure, 1, "with AD: secure");
	start(&p, 0, 1, "example.org", 15);
	mx(&p, 0, "");
	is_int(omx_policy_mx_reply((int)p.len, p.b, sizeof(p.b), hosts, &secure), 0, "the null MX: no host");
	is_int(secure, 0, "without AD: not secure");
	start(&p, 0, 6, "example.org", 15);
	for (int i = 0; i < 6; i++)
		mx(&p, 10, "mx.example.org");
	is_int(omx_policy_mx_reply((int)p.len, p.b, sizeof(p.b), hosts, &secure), OMX_POLICY_HOSTS_MAX,
	       "at most OMX_POLICY_HOSTS_MAX hosts kept");
	start(&p, 2, 0, "example.org", 15);
	is_int(omx_policy_mx_reply(-1, p.b, sizeof(p.b), hosts, &secure), -1, "MX SERVFAIL: cannot tell");

	start(&p, AD, 1, "_25._tcp.mx1.example.org", T_TLSA_);
	tlsa(&p);
	is_int(omx_policy_tlsa_reply((int)p.len, p.b, sizeof(p.b)), 1, "TLSA with AD: DANE");
	start(&p, 0, 1, "_25._tcp.mx1.example.org", T_TLSA_);
	tlsa(&p);
	is_int(omx_policy_tlsa_reply((int)p.len, p.b, sizeof(p.b)), 0, "TLSA without AD: no DANE (RFC 7672 needs it validated)");
	start(&p, AD, 0, "_25._tcp.mx1.example.org", T_TLSA_);
	is_int(omx_policy_tlsa_reply(-1, p.b, sizeof(p.b)), 0, "no TLSA: no DANE");
}

static void lookup(struct __res_state *st, enum omx_dnssec_policy policy, struct omx_srv_result *r)
{
	asked = 0;
	asked_log[0] = '\0';
	omx_srv_lookup(st, fake_nquery, "example.org", policy, r);
}

static void test_decision(void)
{
	struct __res_state st;
	struct omx_srv_result r;
	struct pkt *p;

	memset(&st, 0, sizeof(st));
	st.nsaddr_list[0].sin_family = AF_INET;
	inet_pton(AF_INET, "127.0.0.1", &st.nsaddr_list[0].sin_addr);
	st.nscount = 1;
	st.options = RES_INIT;

	/* The control: an unsigned SRV answer, no stronger policy: used. */
	reset();
	srv_reply(answer_for("_onion-mx._tcp.example.org", 33), "example.org", 0);
	lookup(&st, OMX_DNSSEC_PREFER, &r);
	is_int(r.status, OMX_SRV_ONION, "prefer, unsigned SRV, no MTA-STS, no DANE: the onion is used");
	ok(strstr(asked_log, "_mta-sts.example.org/16") != NULL, "and the _mta-sts TXT was asked");

	/* MTA-STS published: the unsigned answer is not used, and says why. */
	reset();
	srv_reply(answer_for("_onion-mx._tcp.example.org", 33), "example.org", 0);
	p = answer_for("_mta-sts.example.org", 16);
	start(p, 0, 1, "_mta-sts.example.org", 16);
	txt(p, "v=STSv1; id=1", NULL);
	lookup(&st, OMX_DNSSEC_PREFER, &r);
	is_int(r.status, OMX_SRV_UNUSABLE, "prefer, unsigned SRV, MTA-STS published: not used (the MX is)");
	is_int(r.n, 0, "no onion left in the result");
	ok(strstr(r.detail, "MTA-STS") != NULL, "the detail names MTA-STS: %s", r.detail);
	is_int(r.nignored, 1, "the onion is among the ignored targets");
	ok(strncmp(r.ignored[0].name, onion, OMX_ONION_LABEL_LEN) == 0 &&
		   strstr(r.ignored[0].why, "unsigned, and the domain publishes MTA-STS"),
	   "with the reason: %s: %s", r.ignored[0].name, r.ignored[0].why);
	is_int(st.options, RES_INIT, "the caller's options restored");

	/* A validated SRV answer counts even then. */
	reset();
	srv_reply(answer_for("_onion-mx._tcp.example.org", 33), "example.org", AD);
	p = answer_for("_mta-sts.example.org", 16);
	start(p, 0, 1, "_mta-sts.example.org", 16);
	txt(p, "v=STSv1; id=1", NULL);
	lookup(&st, OMX_DNSSEC_PREFER, &r);
	is_int(r.status, OMX_SRV_ONION, "prefer, validated SRV, MTA-STS published: the onion is used");
	is_int(asked, 1, "and nothing else is asked");
	lookup(&st, OMX_DNSSEC_OFF, &r);
	zone[0].reply.b[3] &= (uint8_t)~AD;
	lookup(&st, OMX_DNSSEC_OFF, &r);
	is_int(r.status, OMX_SRV_ONION, "off: any answer is used, as documented");
	lookup(&st, OMX_DNSSEC_REQUIRE, &r);
	is_int(r.status, OMX_SRV_UNUSABLE, "require: unsigned is never used anyway");

	/* The MTA-STS lookup fails: cannot tell, so defer. */
	reset();
	srv_reply(answer_for("_onion-mx._tcp.example.org", 33), "example.org", 0);
	p = answer_for("_mta-sts.example.org", 16);
	start(p, 2, 0, "_mta-sts.example.org", 16);
	lookup(&st, OMX_DNSSEC_PREFER, &r);
	is_int(r.status, OMX_SRV_TEMPFAIL, "the _mta-sts lookup fails (SERVFAIL): TEMPFAIL, not the onion");
	is_int(r.ttl, 0, "and it is not cached");

	/* DANE: a validated MX with validated TLSA on one host. */
	reset();
	srv_reply(answer_for("_onion-mx._tcp.example.org", 33), "example.org", 0);
	p = answer_for("example.org", 15);
	start(p, AD, 2, "example.org", 15);
	mx(p, 10, "mx1.example.org");
	mx(p, 20, "mx2.example.org");
	p = answer_for("_25._tcp.mx2.example.org", T_TLSA_);
	start(p, AD, 1, "_25._tcp.mx2.example.org", T_TLSA_);
	tlsa(p);
	lookup(&st, OMX_DNSSEC_PREFER, &r);
	is_int(r.status, OMX_SRV_UNUSABLE, "prefer, unsigned SRV, DANE on the second MX host: not used");
	ok(strstr(r.detail, "DANE") != NULL, "the detail names DANE: %s", r.detail);
	/* The same TLSA unvalidated, or the MX unvalidated: no DANE. */
	zone[2].reply.b[3] &= (uint8_t)~AD;
	lookup(&st, OMX_DNSSEC_PREFER, &r);
	is_int(r.status, OMX_SRV_ONION, "TLSA without AD: no DANE, the onion is used");
	zone[2].reply.b[3] |= AD;
	zone[1].reply.b[3] &= (uint8_t)~AD;
	lookup(&st, OMX_DNSSEC_PREFER, &r);
	is_int(r.status, OMX_SRV_ONION, "MX without AD: no DANE, the onion is used");
	ok(strstr(asked_log, "_25._tcp") == NULL, "and no TLSA is asked");
	/* A resolver whose AD bit means nothing: DANE not looked for. */
	zone[1].reply.b[3] |= AD;
	inet_pton(AF_INET, "192.0.2.1", &st.nsaddr_list[0].sin_addr);
	lookup(&st, OMX_DNSSEC_PREFER, &r);
	is_int(r.status, OMX_SRV_ONION, "untrusted resolver: DANE cannot be seen, the onion is used");
	ok(strstr(asked_log, "example.org/15") == NULL, "and the MX is not asked");
	ok(strstr(asked_log, "_mta-sts.example.org/16") != NULL, "but MTA-STS still is");
	inet_pton(AF_INET, "127.0.0.1", &st.nsaddr_list[0].sin_addr);
	/* The TLSA lookup fails: cannot tell. */
	zone[2].reply.b[3] = (uint8_t)((zone[2].reply.b[3] & 0xf0) | 2);
	zone[2].reply.b[7] = 0;
	zone[2].reply.len = 12;
	lookup(&st, OMX_DNSSEC_PREFER, &r);
	is_int(r.status, OMX_SRV_TEMPFAIL, "a TLSA lookup that fails: TEMPFAIL");
}

int main(void)
{
	uint8_t hash[32], key[32];

	omx_sha3_256("policy-test", 11, hash);
	omx_ed25519_base_mult(hash, key); /* a key Tor accepts, as discovery wants */
	omx_onion_from_pubkey(key, onion);
	test_readers();
	test_decision();
	return done_testing();
}
