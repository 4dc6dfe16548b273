/* Onion MX discovery: reading the _onion-mx._tcp SRV reply and ordering what it
 * offers. Everything here treats the packet as hostile: every read is bounded
 * by the packet, compression pointers only go backwards, names stay within 255
 * bytes, and anything that does not add up makes the lookup fail temporarily
 * (the MTA defers) rather than guess. */
#include "ascii.h"
#include "srv.h"
#include "dns.h"

#include <stdio.h>
#include <string.h>

#define NAME_MAX_HOPS 64       /* compression pointers followed in one name */
#define CNAME_MAX_CHAIN 8
#define CANDIDATES_MAX 32      /* records considered before keeping the best */

/* A name read from the packet: dotted, lower case. WEIRD marks bytes the dotted
 * form cannot carry faithfully (dots, control bytes, non-ASCII): such a name
 * never equals a question name and is never a usable target. */
struct name {
	char text[OMX_DNS_MAX_NAME_WIRE + 1];
	int weird;
};

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)((p[0] << 8) | p[1]);
}

static uint32_t get32(const uint8_t *p)
{
	return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

/* Reads the name at *OFF in MSG (LEN bytes). Afterwards *OFF is just past the
 * name where it sits (past its first pointer if compressed). Returns 0, or -1
 * for a malformed name. */
static int read_name(const uint8_t *msg, size_t len, size_t *off, struct name *out)
{
	size_t at = *off, end = 0, wire = 0, o = 0;
	int hops = 0;

	out->weird = 0;
	for (;;) {
		uint8_t b;

		if (at >= len)
			return -1;
		b = msg[at];
		if ((b & 0xc0) == 0xc0) {
			size_t target;

			if (at + 1 >= len)
				return -1;
			target = ((size_t)(b & 0x3f) << 8) | msg[at + 1];
			if (!hops)
				end = at + 2;
			/* Backwards only and a bounded number of hops: no loops. */
			if (target >= at || ++hops > NAME_MAX_HOPS)
				return -1;
			at = target;
			continue;
		}
		if (b & 0xc0)
			return -1; /* extended or reserved label types */
		if (b == 0) {
			at++;
			break;
		}
		if (b > len - at - 1)
			return -1;
		wire += 1u + b;
		if (wire + 1 > OMX_DNS_MAX_NAME_WIRE)
			return -1;
		if (o)
			out->text[o++] = '.';
		for (size_t i = 0; i < b; i++) {
			char c = omx_ascii_lower((char)msg[at + 1 + i]);

			if (c <= ' ' || c > '~' || c == '.' || c == '\\') {
				out->weird = 1;
				c = '?';
			}
			out->text[o++] = c;
		}
		at += 1u + b;
	}
	out->text[o] = '\0';
	*off = hops ? end : at;
	return 0;
}

/* One resource record's fixed fields, with its rdata's place in the packet. */
struct rr {
	struct name owner;
	uint16_t type, class;
	uint32_t ttl;
	size_t rdata, rdlength;
};

static int read_rr(const uint8_t *msg, size_t len, size_t *off, struct rr *rr)
{
	if (read_name(msg, len, off, &rr->owner) != 0 || len - *off < 10)
		return -1;
	rr->type = get16(msg + *off);
	rr->class = get16(msg + *off + 2);
	rr->ttl = get32(msg + *off + 4);
	if (rr->ttl > 0x7fffffffu)
		rr->ttl = 0; /* RFC 2181 8: a TTL with the top bit set means zero */
	rr->rdlength = get16(msg + *off + 8);
	rr->rdata = *off + 10;
	if (rr->rdlength > len - rr->rdata)
		return -1;
	*off = rr->rdata + rr->rdlength;
	return 0;
}

/* Where the answer section starts (past the echoed question), or 0 if malformed. */
static size_t answer_start(const uint8_t *msg, size_t len)
{
	size_t at = OMX_DNS_HEADER_LEN;
	unsigned qd = get16(msg + 4);
	struct name ignored;

	if (qd > 1)
		return 0;
	if (qd == 1 && (read_name(msg, len, &at, &ignored) != 0 || len - at < 4))
		return 0;
	return qd ? at + 4 : at;
}

static void set_detail(struct omx_srv_result *r, const char *text)
{
	snprintf(r->detail, sizeof(r->detail), "%s", text);
}

static void tempfail(struct omx_srv_result *r, const char *why)
{
	r->status = OMX_SRV_TEMPFAIL;
	r->ttl = 0;
	r->n = 0;
	set_detail(r, why);
}

static void ignore_target(struct omx_srv_result *r, const char *name, const char *why)
{
	if (r->nignored < OMX_SRV_MAX_IGNORED) {
		snprintf(r->ignored[r->nignored].name, sizeof(r->ignored[0].name), "%s",
			 *name ? name : ".");
		snprintf(r->ignored[r->nignored].why, sizeof(r->ignored[0].why), "%s", why);
	}
	r->nignored++;
}

/* The negative-caching TTL of a reply: min(SOA TTL, SOA MINIMUM) of the SOA in
 * the authority section (RFC 2308 5), bounded. */
static uint32_t negative_ttl(const uint8_t *msg, size_t len, size_t at, unsigned an, unsigned ns)
{
	struct rr rr;

	for (unsigned i = 0; i < an; i++)
		if (read_rr(msg, len, &at, &rr) != 0)
			return OMX_SRV_NEG_TTL_NO_SOA;
	for (unsigned i = 0; i < ns; i++) {
		if (read_rr(msg, len, &at, &rr) != 0)
			break;
		if (rr.type == OMX_DNS_T_SOA && rr.rdlength >= 22) {
			uint32_t minimum = get32(msg + rr.rdata + rr.rdlength - 4);
			uint32_t ttl = rr.ttl < minimum ? rr.ttl : minimum;

			if (minimum > 0x7fffffffu)
				ttl = 0;
			return ttl < OMX_SRV_NEG_TTL_MAX ? ttl : OMX_SRV_NEG_TTL_MAX;
		}
	}
	return OMX_SRV_NEG_TTL_NO_SOA;
}

/* Checks one SRV target; returns NULL if usable, else why not. */
static const char *target_problem(const struct name *target, uint16_t port,
				  struct omx_srv_record *rec)
{
	size_t len = strlen(target->text), label_len;
	const char *label;
	enum omx_onion_status st;

	if (target->weird)
		return "not a host name";
	label = omx_onion_label(target->text, len, &label_len);
	if (!label)
		return "not an onion name (a clearnet host is never used from this record)";
	if (label != target->text)
		return "not a bare onion name (LABEL.onion)";
	st = omx_onion_check_key(label, label_len);
	if (st != OMX_ONION_OK)
		return omx_onion_strerror(st);
	if (port == 0)
		return "port 0";
	memcpy(rec->onion, label, OMX_ONION_LABEL_LEN);
	rec->onion[OMX_ONION_LABEL_LEN] = '\0';
	rec->port = port;
	return NULL;
}

/* Follows CNAMEs in the answer section from QNAME; OWNER receives the name the
 * SRV records must be at. Returns 0, or -1 if the section is malformed. */
static int follow_cnames(const uint8_t *msg, size_t len, size_t start, unsigned an,
			 const char *qname, char owner[OMX_DNS_MAX_NAME_WIRE + 1], uint32_t *ttl)
{
	snprintf(owner, OMX_DNS_MAX_NAME_WIRE + 1, "%s", qname);
	for (int hop = 0; hop < CNAME_MAX_CHAIN; hop++) {
		size_t at = start;
		int moved = 0;

		for (unsigned i = 0; i < an && !moved; i++) {
			struct rr rr;
			struct name target;
			size_t rd;

			if (read_rr(msg, len, &at, &rr) != 0)
				return -1;
			if (rr.type != OMX_DNS_T_CNAME || rr.owner.weird || strcmp(rr.owner.text, owner) != 0)
				continue;
			rd = rr.rdata;
			if (read_name(msg, rr.rdata + rr.rdlength, &rd, &target) != 0 ||
			    rd != rr.rdata + rr.rdlength || target.weird)
				return -1;
			snprintf(owner, OMX_DNS_MAX_NAME_WIRE + 1, "%s", target.text);
			if (rr.ttl < *ttl)
				*ttl = rr.ttl;
			moved = 1;
		}
		if (!moved)
			return 0;
	}
	return 0;
}

/* Stable insertion by priority into the candidate list. */
static void insert_candidate(struct omx_srv_record *list, int *n, const struct omx_srv_record *rec)
{
	int i = *n;

	while (i > 0 && list[i - 1].priority > rec->priority) {
		list[i] = list[i - 1];
		i--;
	}
	list[i] = *rec;
	(*n)++;
}

/* What the answer section holds for the owner: the usable targets by priority. */
struct srv_scan {
	struct omx_srv_record cand[CANDIDATES_MAX];
	int ncand, nsrv;
	int dot;                /* a "." target: the service is decidedly not available */
	uint32_t ttl;
};

/* The header's verdict: 0 to read on (RCODE set: NOERROR or NXDOMAIN), or -1
 * with R a temporary failure saying why. */
static int header_verdict(const uint8_t *msg, size_t len, enum omx_dnssec_policy policy,
			  struct omx_srv_result *r, unsigned *rcode)
{
	uint16_t flags;

	if (!msg || len < OMX_DNS_HEADER_LEN)
		return tempfail(r, "malformed reply: shorter than a DNS header"), -1;
	flags = get16(msg + 2);
	if (!(flags & OMX_DNS_FLAG_QR))
		return tempfail(r, "no reply (timeout, or no nameserver reachable)"), -1;
	*rcode = flags & 0x0f;
	r->secure = (flags & OMX_DNS_FLAG_AD) != 0;
	if (*rcode == 2)
		return tempfail(r, policy != OMX_DNSSEC_OFF
					   ? "SERVFAIL (server failure, or the answer failed DNSSEC validation)"
					   : "SERVFAIL (server failure)"), -1;
	if (*rcode != 0 && *rcode != 3) {
		char why[64];

		snprintf(why, sizeof(why), "%s (rcode %u)",
			 *rcode == 1 ? "FORMERR" : *rcode == 4 ? "NOTIMP" : *rcode == 5 ? "REFUSED" : "error",
			 *rcode);
		return tempfail(r, why), -1;
	}
	if (flags & OMX_DNS_FLAG_TC)
		return tempfail(r, "truncated reply (TC) even after glibc's retry over TCP"), -1;
	return 0;
}

/* Adds REC (target TARGET) to the candidates, or lists it in R as ignored: a
 * target that is no onion, an onion listed twice (the lower priority is kept),
 * one too many. */
static void add_target(struct srv_scan *sc, struct omx_srv_record *rec, const struct name *target,
		       uint16_t port, struct omx_srv_result *r)
{
	const char *problem = target_problem(target, port, rec);

	for (int j = 0; !problem && j < sc->ncand; j++) {
		if (strcmp(sc->cand[j].onion, rec->onion) != 0)
			continue;
		problem = "listed twice (the lower priority is kept)";
		if (rec->priority < sc->cand[j].priority) {
			memmove(sc->cand + j, sc->cand + j + 1, (size_t)(sc->ncand - j - 1) * sizeof(sc->cand[0]));
			sc->ncand--;
			insert_candidate(sc->cand, &sc->ncand, rec);
		}
	}
	if (!problem && sc->ncand == CANDIDATES_MAX)
		problem = "too many records";
	if (problem) {
		ignore_target(r, target->text, problem);
		return;
	}
	insert_candidate(sc->cand, &sc->ncand, rec);
}

/* Reads the AN answers from AT for OWNER's SRV records into SC; -1 with R a
 * temporary failure when the section is malformed. */
static int scan_answers(const uint8_t *msg, size_t len, size_t at, unsigned an, const char *owner,
			struct srv_scan *sc, struct omx_srv_result *r)
{
	for (unsigned i = 0; i < an; i++) {
		struct omx_srv_record rec;
		struct name target;
		struct rr rr;
		size_t rd;

		if (read_rr(msg, len, &at, &rr) != 0)
			return tempfail(r, "malformed reply: bad answer section"), -1;
		if (rr.type != OMX_DNS_T_SRV || rr.class != OMX_DNS_C_IN || rr.owner.weird ||
		    strcmp(rr.owner.text, owner) != 0)
			continue;
		rd = rr.rdata + 6;
		if (rr.rdlength < 7 || read_name(msg, rr.rdata + rr.rdlength, &rd, &target) != 0 ||
		    rd != rr.rdata + rr.rdlength)
			return tempfail(r, "malformed reply: bad SRV record"), -1;
		sc->nsrv++;
		if (rr.ttl < sc->ttl)
			sc->ttl = rr.ttl;
		memset(&rec, 0, sizeof(rec));
		rec.priority = get16(msg + rr.rdata);
		rec.weight = get16(msg + rr.rdata + 2);
		if (target.text[0] == '\0' && !target.weird) {
			sc->dot = 1; /* RFC 2782: "." says the service is decidedly not available */
			continue;
		}
		add_target(sc, &rec, &target, get16(msg + rr.rdata + 4), r);
	}
	return 0;
}

/* R from the SRV records found (at least one): onions, ".", or none usable. */
static void scan_verdict(const struct srv_scan *sc, enum omx_dnssec_policy policy,
			 struct omx_srv_result *r)
{
	r->ttl = sc->ttl;
	if (sc->ncand == 0) {
		r->status = sc->dot && r->nignored == 0 ? OMX_SRV_NONE : OMX_SRV_UNUSABLE;
		set_detail(r, sc->dot && r->nignored == 0
				      ? "the domain publishes \".\": no onion MX"
				      : "no usable onion target");
		return;
	}
	if (policy == OMX_DNSSEC_REQUIRE && !r->secure) {
		r->status = OMX_SRV_UNUSABLE;
		set_detail(r, "unsigned answer: srv_dnssec = require accepts only DNSSEC-validated ones (AD bit)");
		return;
	}
	for (int i = 0; i < sc->ncand && r->n < OMX_SRV_MAX_TARGETS; i++)
		r->rec[r->n++] = sc->cand[i];
	for (int i = OMX_SRV_MAX_TARGETS; i < sc->ncand; i++)
		ignore_target(r, sc->cand[i].onion, "beyond the 8 lowest priorities kept");
	r->status = OMX_SRV_ONION;
	snprintf(r->detail, sizeof(r->detail), "%d onion%s%s", r->n, r->n > 1 ? "s" : "",
		 r->secure ? ", DNSSEC-validated" : ", not DNSSEC-validated");
}

void omx_srv_parse_reply(const uint8_t *msg, size_t len, const char *qname,
			 enum omx_dnssec_policy policy, struct omx_srv_result *r)
{
	struct srv_scan sc = { .ttl = OMX_SRV_TTL_MAX };
	char owner[OMX_DNS_MAX_NAME_WIRE + 1];
	unsigned an, ns, rcode;
	size_t start;

	memset(r, 0, sizeof(*r));
	if (header_verdict(msg, len, policy, r, &rcode) != 0)
		return;
	an = get16(msg + 6);
	ns = get16(msg + 8);
	start = answer_start(msg, len);
	if (!start)
		return tempfail(r, "malformed reply: bad question section");
	if (rcode == 3) {
		r->status = OMX_SRV_NONE;
		r->ttl = negative_ttl(msg, len, start, an, ns);
		set_detail(r, "no _onion-mx._tcp record (NXDOMAIN)");
		return;
	}
	if (follow_cnames(msg, len, start, an, qname, owner, &sc.ttl) != 0)
		return tempfail(r, "malformed reply: bad answer section");
	if (scan_answers(msg, len, start, an, owner, &sc, r) != 0)
		return;
	if (sc.nsrv == 0) {
		r->status = OMX_SRV_NONE;
		r->ttl = negative_ttl(msg, len, start, an, ns);
		set_detail(r, "no _onion-mx._tcp record (NODATA)");
		return;
	}
	scan_verdict(&sc, policy, r);
}

void omx_srv_classify(int rc, const uint8_t *msg, size_t cap, const char *qname,
		      enum omx_dnssec_policy policy, struct omx_srv_result *r)
{
	if (rc > 0)
		return omx_srv_parse_reply(msg, (size_t)rc < cap ? (size_t)rc : cap, qname, policy, r);
	/* glibc returns -1 for negative and failed replies and leaves the reply in
	 * the buffer (zeroed by the caller, so no QR bit means none came). */
	omx_srv_parse_reply(msg, cap, qname, policy, r);
	if (r->status == OMX_SRV_ONION || r->status == OMX_SRV_UNUSABLE)
		tempfail(r, "resolver failed although the reply holds records");
}

int omx_srv_qname(const char *domain, char *out, size_t cap)
{
	size_t len = domain ? strlen(domain) : 0;

	if (len && domain[len - 1] == '.')
		len--;
	if (len == 0 || sizeof(OMX_SRV_PREFIX) - 1 + len > 253 ||
	    sizeof(OMX_SRV_PREFIX) + len > cap)
		return -1;
	snprintf(out, cap, "%s%.*s", OMX_SRV_PREFIX, (int)len, domain);
	return 0;
}

void omx_srv_order(const struct omx_srv_result *r, uint32_t (*rand32)(void *), void *ctx,
		   int order[OMX_SRV_MAX_TARGETS])
{
	int done = 0, n = r->n < OMX_SRV_MAX_TARGETS ? r->n : OMX_SRV_MAX_TARGETS;
	long prev = -1;

	while (done < n) {
		int group[OMX_SRV_MAX_TARGETS], ng = 0, zeros = 0;
		long prio = 0x10000;

		/* The next priority up, and its records: weight-0 ones first, as RFC
		 * 2782 lays out the running sum. */
		for (int i = 0; i < n; i++)
			if (r->rec[i].priority > prev && r->rec[i].priority < prio)
				prio = r->rec[i].priority;
		for (int pass = 0; pass < 2; pass++)
			for (int i = 0; i < n; i++)
				if (r->rec[i].priority == prio && (r->rec[i].weight == 0) == (pass == 0)) {
					group[ng++] = i;
					zeros += pass == 0;
				}
		prev = prio;
		while (ng > 0) {
			uint32_t total = 0, pick, sum = 0, lo;
			int k;

			for (int i = 0; i < ng; i++)
				total += r->rec[group[i]].weight;
			/* RFC 2782 draws from 0 to the sum inclusive; the 0 goes to a
			 * weight-0 record (its "very small chance"). Without one, drawing
			 * from 1 keeps the shares exactly proportional to the weights. */
			lo = zeros ? 0 : 1;
			pick = total ? lo + rand32(ctx) % (total + 1 - lo) : 0;
			for (k = 0; k < ng - 1; k++) {
				sum += r->rec[group[k]].weight;
				if (sum >= pick)
					break;
			}
			if (r->rec[group[k]].weight == 0)
				zeros--;
			order[done++] = group[k];
			memmove(group + k, group + k + 1, (size_t)(ng - k - 1) * sizeof(group[0]));
			ng--;
		}
	}
}

const char *omx_srv_status_name(enum omx_srv_status st)
{
	switch (st) {
	case OMX_SRV_ONION:
		return "onion";
	case OMX_SRV_NONE:
		return "none";
	case OMX_SRV_UNUSABLE:
		return "unusable";
	case OMX_SRV_TEMPFAIL:
		return "tempfail";
	}
	return "?";
}

/* ---- stronger policies (srv.h) ---- */

/* Checks the header of reply MSG for the policy readers: the answer section's
 * start and count, and the AD bit; 0, 1 for NXDOMAIN (no records), or -1. */
static int policy_header(int rc, const uint8_t *msg, size_t cap, size_t *len, size_t *start, unsigned *an,
			 int *secure)
{
	uint16_t flags;

	*len = rc > 0 && (size_t)rc < cap ? (size_t)rc : cap;
	if (!msg || *len < OMX_DNS_HEADER_LEN)
		return -1;
	flags = get16(msg + 2);
	if (!(flags & OMX_DNS_FLAG_QR) || (flags & OMX_DNS_FLAG_TC))
		return -1;
	if ((flags & 0x0f) == 3)
		return 1;
	if ((flags & 0x0f) != 0)
		return -1;
	*secure = (flags & OMX_DNS_FLAG_AD) != 0;
	*an = get16(msg + 6);
	*start = answer_start(msg, *len);
	return *start ? 0 : -1;
}

int omx_policy_sts_reply(int rc, const uint8_t *msg, size_t cap)
{
	static const char tag[] = "v=STSv1";
	size_t len, at;
	unsigned an;
	int secure, h = policy_header(rc, msg, cap, &len, &at, &an, &secure);
	struct rr rr;

	if (h)
		return h > 0 ? 0 : -1;
	for (unsigned i = 0; i < an; i++) {
		char text[sizeof(tag)];
		size_t got = 0;

		if (read_rr(msg, len, &at, &rr) != 0)
			return -1;
		if (rr.type != OMX_DNS_T_TXT || rr.class != OMX_DNS_C_IN)
			continue;
		/* The record's character-strings, joined, up to the tag's length. */
		for (size_t p = rr.rdata; p < rr.rdata + rr.rdlength && got < sizeof(tag) - 1;) {
			size_t n = msg[p++];

			if (n > rr.rdata + rr.rdlength - p)
				return -1;
			for (size_t k = 0; k < n && got < sizeof(tag) - 1; k++)
				text[got++] = (char)msg[p + k];
			p += n;
		}
		if (got == sizeof(tag) - 1 && memcmp(text, tag, got) == 0)
			return 1;
	}
	return 0;
}

int omx_policy_mx_reply(int rc, const uint8_t *msg, size_t cap, char hosts[][256], int *secure)
{
	size_t len, at;
	unsigned an;
	int n = 0, h;
	struct rr rr;

	*secure = 0;
	h = policy_header(rc, msg, cap, &len, &at, &an, secure);
	if (h)
		return h > 0 ? 0 : -1;
	for (unsigned i = 0; i < an; i++) {
		struct name host;
		size_t off;

		if (read_rr(msg, len, &at, &rr) != 0)
			return -1;
		if (rr.type != OMX_DNS_T_MX || rr.class != OMX_DNS_C_IN)
			continue;
		off = rr.rdata + 2;
		if (rr.rdlength < 3 || read_name(msg, len, &off, &host) != 0 || off > rr.rdata + rr.rdlength)
			return -1;
		if (host.weird || !host.text[0] || n >= OMX_POLICY_HOSTS_MAX)
			continue; /* the null MX (RFC 7505), or beyond the hosts looked at */
		snprintf(hosts[n++], 256, "%s", host.text);
	}
	return n;
}

int omx_policy_tlsa_reply(int rc, const uint8_t *msg, size_t cap)
{
	size_t len, at;
	unsigned an;
	int secure = 0, h = policy_header(rc, msg, cap, &len, &at, &an, &secure);
	struct rr rr;

	if (h)
		return h > 0 ? 0 : -1;
	for (unsigned i = 0; i < an; i++) {
		if (read_rr(msg, len, &at, &rr) != 0)
			return -1;
		if (rr.type == OMX_DNS_T_TLSA && rr.class == OMX_DNS_C_IN)
			return secure;
	}
	return 0;
}

void omx_srv_overridden(struct omx_srv_result *r, const char *policy)
{
	char why[80];

	snprintf(why, sizeof(why), "unsigned, and the domain publishes %s", policy);
	for (int i = 0; i < r->n; i++) {
		char onion[OMX_ONION_LABEL_LEN + sizeof(".onion")];

		snprintf(onion, sizeof(onion), "%s.onion", r->rec[i].onion);
		ignore_target(r, onion, why);
	}
	r->n = 0;
	r->status = OMX_SRV_UNUSABLE;
	snprintf(r->detail, sizeof(r->detail),
		 "unsigned answer not used: the domain publishes %s, which only a DNSSEC-validated SRV answer may override",
		 policy);
}
