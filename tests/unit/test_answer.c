/* The resolver policy: which names and DNS questions onionmx answers, and how,
 * with a compiled map and with none (broken configuration). */
#include "answer.h"
#include "dns.h"
#include "log.h"
#include "map.h"
#include "onion.h"
#include "sha3.h"
#include "ed25519.h"
#include "tap.h"

#include <arpa/nameser.h>
#include <fcntl.h>
#include <resolv.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define QT_TXT 16
#define QT_ANY 255

static char dir[] = "/tmp/omx-test-answer.XXXXXX";
static int mta; /* what ask() passes as omx_answer_question's MTA argument */

static void onion(const char *seed, unsigned i, char out[OMX_ONION_LABEL_LEN + 1])
{
	char in[128];
	uint8_t hash[32], key[32];

	snprintf(in, sizeof(in), "%s/%u", seed, i);
	omx_sha3_256(in, strlen(in), hash);
	omx_ed25519_base_mult(hash, key); /* a key Tor accepts, as onionmx-map wants */
	omx_onion_from_pubkey(key, out);
}

static void upper(char *dst, const char *src)
{
	do
		*dst++ = (char)(*src >= 'a' && *src <= 'z' ? *src - 32 : *src);
	while (*src++);
}

/* Asks NAME/QTYPE; returns omx_answer_question's result (-2 if NAME is refused by
 * omx_dns_question_from_name). */
static int ask(const struct omx_map *map, const char *name, int qtype, struct omx_dns_answer *a,
	       char hosts[][OMX_HOST_MAX])
{
	struct omx_dns_question q;

	if (omx_dns_question_from_name(&q, name, OMX_DNS_C_IN, qtype, 0x1234) != 0)
		return -2;
	memset(a, 0x5a, sizeof(*a));
	return omx_answer_question(map, NULL, &q, mta, a, hosts);
}

/* A question passed through. */
static void passes(const struct omx_map *map, const char *name, int qtype, const char *what)
{
	struct omx_dns_answer a;
	char hosts[OMX_DNS_MAX_ANSWERS][OMX_HOST_MAX];

	is_int(ask(map, name, qtype, &a, hosts), 0, "%s: passed through", what);
}

/* A negative answer: RCODE, no records, SOA owner ZONE (NULL: not checked). */
static void negative(const struct omx_map *map, const char *name, int qtype, int rcode,
		     const char *zone, const char *what)
{
	struct omx_dns_answer a;
	char hosts[OMX_DNS_MAX_ANSWERS][OMX_HOST_MAX];

	is_int(ask(map, name, qtype, &a, hosts), 1, "%s: answered", what);
	is_int(a.rcode, rcode, "%s: rcode %d", what, rcode);
	is_int(a.n, 0, "%s: no records", what);
	if (zone)
		is_str(a.soa_zone, zone, "%s: SOA zone \"%s\"", what, zone);
}

/* An A answer with ADDR (host order). */
static void a_record(const struct omx_map *map, const char *name, int qtype, uint32_t addr,
		     const char *what)
{
	struct omx_dns_answer a;
	char hosts[OMX_DNS_MAX_ANSWERS][OMX_HOST_MAX];

	is_int(ask(map, name, qtype, &a, hosts), 1, "%s: answered", what);
	is_int(a.rcode, OMX_DNS_NOERROR, "%s: NOERROR", what);
	is_int(a.type, OMX_DNS_T_A, "%s: type A", what);
	is_int(a.n, 1, "%s: one record", what);
	ok(a.a[0][0] == (uint8_t)(addr >> 24) && a.a[0][1] == (uint8_t)(addr >> 16) &&
	   a.a[0][2] == (uint8_t)(addr >> 8) && a.a[0][3] == (uint8_t)addr,
	   "%s: the map's address %u.%u.%u.%u", what, addr >> 24, (addr >> 16) & 255,
	   (addr >> 8) & 255, addr & 255);
	is_int(a.ttl, OMX_ANSWER_TTL, "%s: TTL", what);
}

/* An answer of N records of type WANT_TYPE (A, or AAAA in IPv4-mapped form) with
 * ADDRS (host order) in order. */
static void addr_records(const struct omx_map *map, const char *name, int qtype, int want_type,
			 int n, const uint32_t *addrs, const char *what)
{
	struct omx_dns_answer a;
	char hosts[OMX_DNS_MAX_ANSWERS][OMX_HOST_MAX];
	int bad = 0;

	is_int(ask(map, name, qtype, &a, hosts), 1, "%s: answered", what);
	is_int(a.rcode, OMX_DNS_NOERROR, "%s: NOERROR", what);
	is_int(a.type, want_type, "%s: type %d", what, want_type);
	is_int(a.n, n, "%s: %d records", what, n);
	for (int i = 0; i < n && i < a.n; i++)
		if (a.a[i][0] != (uint8_t)(addrs[i] >> 24) || a.a[i][1] != (uint8_t)(addrs[i] >> 16) ||
		    a.a[i][2] != (uint8_t)(addrs[i] >> 8) || a.a[i][3] != (uint8_t)addrs[i])
			bad++;
	is_int(bad, 0, "%s: the onions' addresses in the map's order", what);
	is_int(a.ttl, OMX_ANSWER_TTL, "%s: TTL", what);
}

/* The AAAA reply for NAME on the wire: one record, ::ffff: and ADDR (host order). */
static void test_wire_aaaa(const struct omx_map *map, const char *name, uint32_t addr, int use_mta)
{
	static const uint8_t prefix[12] = { [10] = 0xff, [11] = 0xff };
	struct omx_dns_question q;
	struct omx_dns_answer a;
	char hosts[OMX_DNS_MAX_ANSWERS][OMX_HOST_MAX];
	uint8_t buf[4096], want[16];
	ns_msg msg;
	ns_rr rr;
	int len;

	memcpy(want, prefix, 12);
	want[12] = (uint8_t)(addr >> 24);
	want[13] = (uint8_t)(addr >> 16);
	want[14] = (uint8_t)(addr >> 8);
	want[15] = (uint8_t)addr;
	omx_dns_question_from_name(&q, name, OMX_DNS_C_IN, OMX_DNS_T_AAAA, 0x4321);
	if (!ok(omx_answer_question(map, NULL, &q, use_mta, &a, hosts) == 1, "wire AAAA: %s answered", name))
		return;
	len = omx_dns_build_reply(&q, &a, buf, sizeof(buf));
	if (!ok(len > 12 && ns_initparse(buf, len, &msg) == 0, "wire AAAA: reply parses"))
		return;
	is_int(ns_msg_count(msg, ns_s_an), 1, "wire AAAA: one answer");
	ok(ns_parserr(&msg, ns_s_an, 0, &rr) == 0 && ns_rr_type(rr) == ns_t_aaaa &&
	   ns_rr_rdlen(rr) == 16 && memcmp(ns_rr_rdata(rr), want, 16) == 0,
	   "wire AAAA: ::ffff: and the synthetic IPv4 address");
}

/* An MX answer with the N labels LABELS in order. */
static void mx_records(const struct omx_map *map, const char *name, int n,
		       char labels[][OMX_ONION_LABEL_LEN + 1], const char *what)
{
	struct omx_dns_answer a;
	char hosts[OMX_DNS_MAX_ANSWERS][OMX_HOST_MAX];
	int bad_host = 0, bad_pref = 0;

	is_int(ask(map, name, OMX_DNS_T_MX, &a, hosts), 1, "%s: answered", what);
	is_int(a.rcode, OMX_DNS_NOERROR, "%s: NOERROR", what);
	is_int(a.type, OMX_DNS_T_MX, "%s: type MX", what);
	is_int(a.ttl, OMX_ANSWER_TTL, "%s: TTL", what);
	is_int(a.n, n, "%s: %d records", what, n);
	if (a.n != n)
		return;
	for (int i = 0; i < n; i++) {
		char want[OMX_HOST_MAX + 8];

		snprintf(want, sizeof(want), "%s.onion", labels[i]);
		if (!a.mx[i].host || strcmp(a.mx[i].host, want) != 0) {
			bad_host++;
			printf("#   mx[%d] = %s, want %s\n", i, a.mx[i].host ? a.mx[i].host : "(null)",
			       want);
		}
		if (a.mx[i].pref != 10 * (i + 1)) {
			bad_pref++;
			printf("#   mx[%d].pref = %u\n", i, a.mx[i].pref);
		}
	}
	is_int(bad_host, 0, "%s: hosts are \"<label>.onion\" in order", what);
	is_int(bad_pref, 0, "%s: preferences 10, 20, ...", what);
}

static int write_text(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	size_t len = strlen(text);
	int rc = 0;

	if (fd < 0)
		return -1;
	if (write(fd, text, len) != (ssize_t)len)
		rc = -1;
	close(fd);
	return rc;
}

/* The built reply for an MX answer is a well-formed DNS message whose exchanges
 * are the onion host names (answer.c and dns.c agree). */
static void test_wire(const struct omx_map *map, const char *name, int n,
		      char labels[][OMX_ONION_LABEL_LEN + 1])
{
	struct omx_dns_question q;
	struct omx_dns_answer a;
	char hosts[OMX_DNS_MAX_ANSWERS][OMX_HOST_MAX];
	uint8_t buf[4096];
	ns_msg msg;
	int len, bad = 0;

	omx_dns_question_from_name(&q, name, OMX_DNS_C_IN, OMX_DNS_T_MX, 0x4321);
	if (!ok(omx_answer_question(map, NULL, &q, 0, &a, hosts) == 1, "wire: %s answered", name))
		return;
	len = omx_dns_build_reply(&q, &a, buf, sizeof(buf));
	ok(len > 12, "wire: reply built (%d bytes)", len);
	if (!ok(len > 12 && ns_initparse(buf, len, &msg) == 0, "wire: reply parses"))
		return;
	is_int(ns_msg_id(msg), 0x4321, "wire: id echoed");
	is_int(ns_msg_getflag(msg, ns_f_rcode), 0, "wire: NOERROR");
	is_int(ns_msg_count(msg, ns_s_an), n, "wire: %d answers", n);
	for (int i = 0; i < n && i < ns_msg_count(msg, ns_s_an); i++) {
		ns_rr rr;
		char exch[NS_MAXDNAME], want[OMX_HOST_MAX + 8];

		snprintf(want, sizeof(want), "%s.onion", labels[i]);
		if (ns_parserr(&msg, ns_s_an, i, &rr) != 0 || ns_rr_type(rr) != ns_t_mx ||
		    ns_rr_rdlen(rr) < 3 ||
		    ns_name_uncompress(ns_msg_base(msg), ns_msg_end(msg), ns_rr_rdata(rr) + 2, exch,
				       sizeof(exch)) < 0 ||
		    strcmp(exch, want) != 0 || ns_get16(ns_rr_rdata(rr)) != (unsigned)(10 * (i + 1)))
			bad++;
	}
	is_int(bad, 0, "wire: MX records carry the onion exchanges and preferences");
}

/* The reverse names of ADDR (host order): in-addr.arpa, and ip6.arpa of ::ffff:ADDR. */
static void reverse_names(uint32_t addr, char v4[64], char v6[128])
{
	int n = 0;

	snprintf(v4, 64, "%u.%u.%u.%u.in-addr.arpa", addr & 255, (addr >> 8) & 255,
		 (addr >> 16) & 255, addr >> 24);
	for (int i = 0; i < 8; i++)
		n += snprintf(v6 + n, (size_t)(128 - n), "%x.", (addr >> (4 * i)) & 15);
	snprintf(v6 + n, (size_t)(128 - n), "f.f.f.f.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.ip6.arpa");
}

/* PTR NAME answered with "LABEL.onion", and the reply on the wire read back by
 * libresolv's parser. */
static void ptr_record(const struct omx_map *map, const char *name, const char *label, const char *what)
{
	struct omx_dns_question q;
	struct omx_dns_answer a;
	char hosts[OMX_DNS_MAX_ANSWERS][OMX_HOST_MAX], want[OMX_HOST_MAX + 8], got[NS_MAXDNAME] = "";
	uint8_t buf[512];
	ns_msg msg;
	ns_rr rr;
	int len;

	snprintf(want, sizeof(want), "%s.onion", label);
	omx_dns_question_from_name(&q, name, OMX_DNS_C_IN, OMX_DNS_T_PTR, 0x2468);
	if (!ok(omx_answer_question(map, NULL, &q, mta, &a, hosts) == 1, "%s: answered", what))
		return;
	ok(a.rcode == OMX_DNS_NOERROR && a.type == OMX_DNS_T_PTR && a.n == 1, "%s: one PTR record", what);
	len = omx_dns_build_reply(&q, &a, buf, sizeof(buf));
	if (!ok(len > 12 && ns_initparse(buf, len, &msg) == 0 && ns_msg_count(msg, ns_s_an) == 1 &&
		ns_parserr(&msg, ns_s_an, 0, &rr) == 0 && ns_rr_type(rr) == ns_t_ptr,
		"%s: the reply parses, one PTR record", what))
		return;
	ns_name_uncompress(ns_msg_base(msg), ns_msg_end(msg), ns_rr_rdata(rr), got, sizeof(got));
	is_str(got, want, "%s: it names the onion", what);
	is_int(ns_msg_id(msg), 0x2468, "%s: id echoed", what);
}

int main(void)
{
	char o[20][OMX_ONION_LABEL_LEN + 1], badsum[OMX_ONION_LABEL_LEN + 1];
	char text[8192], src[4096], out[4096], err[512], name[512];
	struct omx_map map;
	uint32_t addr[20];
	size_t nd, no, len = 0;
	int have_map = 0;

	omx_log_setup(1, LOG_ERR);
	for (unsigned i = 0; i < 20; i++)
		onion("answer", i, o[i]);
	memcpy(badsum, o[0], sizeof(badsum));
	badsum[0] = badsum[0] == 'a' ? 'b' : 'a';

	if (!mkdtemp(dir)) {
		ok(0, "mkdtemp");
		return done_testing();
	}
	snprintf(src, sizeof(src), "%s/map.src", dir);
	snprintf(out, sizeof(out), "%s/map.cdb", dir);
	len += (size_t)snprintf(text + len, sizeof(text) - len,
				"example.org %s.onion %s.onion:2525 %s.onion\n"
				".example.net %s.onion\n"
				"big.example", o[0], o[1], o[2], o[3]);
	/* o[4..19]: sixteen targets for big.example */
	for (unsigned i = 4; i < 20; i++)
		len += (size_t)snprintf(text + len, sizeof(text) - len, " %s.onion", o[i]);
	snprintf(text + len, sizeof(text) - len, "\n");
	if (ok(write_text(src, text) == 0, "write the map source") &&
	    ok(omx_map_compile(src, out, OMX_DEFAULT_RANGE, &nd, &no, err, sizeof(err)) == 0,
	       "compile the map")) {
		int fd = open(out, O_RDONLY);

		have_map = fd >= 0 && omx_map_open_fd(&map, fd, out, err, sizeof(err)) == 0;
		if (fd >= 0)
			close(fd);
	}
	if (!ok(have_map, "open the map")) {
		printf("#   message: %s\n", err);
		unlink(src);
		unlink(out);
		rmdir(dir);
		return done_testing();
	}
	for (unsigned i = 0; i < 20; i++)
		if (!omx_map_onion_addr(&map, o[i], OMX_ONION_LABEL_LEN, &addr[i]))
			ok(0, "onion %u has an address", i);

	/* --- with a map --- */
	{
		char lab[3][OMX_ONION_LABEL_LEN + 1], one[1][OMX_ONION_LABEL_LEN + 1];

		memcpy(lab[0], o[0], sizeof(lab[0]));
		memcpy(lab[1], o[1], sizeof(lab[1]));
		memcpy(lab[2], o[2], sizeof(lab[2]));
		memcpy(one[0], o[3], sizeof(one[0]));
		mx_records(&map, "example.org", 3, lab, "MX example.org");
		mx_records(&map, "EXAMPLE.Org.", 3, lab, "MX EXAMPLE.Org.");
		mx_records(&map, "mail.example.net", 1, one, "MX mail.example.net (wildcard)");
		mx_records(&map, "a.b.example.net", 1, one, "MX a.b.example.net (wildcard)");
		mx_records(&map, "big.example", 16, o + 4, "MX big.example (16 targets)");
		test_wire(&map, "example.org", 3, lab);
		test_wire(&map, "big.example", 16, o + 4);
	}
	passes(&map, "example.com", OMX_DNS_T_MX, "MX for an unmapped domain");
	passes(&map, "example.net", OMX_DNS_T_MX, "MX for the parent of a wildcard");
	passes(&map, "mail.example.org", OMX_DNS_T_MX, "MX for a subdomain of an exact entry");
	passes(&map, "example.org", OMX_DNS_T_A, "A for a mapped domain");
	passes(&map, "example.org", OMX_DNS_T_AAAA, "AAAA for a mapped domain");
	passes(&map, "example.org", QT_TXT, "TXT for a mapped domain");
	passes(&map, "www.example.com", OMX_DNS_T_A, "A for an ordinary name");

	snprintf(name, sizeof(name), "%s.onion", o[0]);
	a_record(&map, name, OMX_DNS_T_A, addr[0], "A for a mapped onion");
	a_record(&map, name, QT_ANY, addr[0], "ANY for a mapped onion");
	snprintf(name, sizeof(name), "%s.onion", o[19]);
	a_record(&map, name, OMX_DNS_T_A, addr[19], "A for the 16th target's onion");
	{
		char up[OMX_ONION_LABEL_LEN + 1];

		upper(up, o[1]);
		snprintf(name, sizeof(name), "%s.ONION.", up);
		a_record(&map, name, OMX_DNS_T_A, addr[1], "A for a mapped onion in upper case");
	}
	snprintf(name, sizeof(name), "www.%s.onion", o[2]);
	a_record(&map, name, OMX_DNS_T_A, addr[2], "A for a subdomain of a mapped onion");

	{
		char stranger[OMX_ONION_LABEL_LEN + 1];

		onion("stranger", 0, stranger);
		snprintf(name, sizeof(name), "%s.onion", stranger);
		negative(&map, name, OMX_DNS_T_A, OMX_DNS_SERVFAIL, NULL,
			 "A for a valid onion not in the map");
	}
	snprintf(name, sizeof(name), "%s.onion", badsum);
	negative(&map, name, OMX_DNS_T_A, OMX_DNS_NXDOMAIN, "onion", "A for a bad-checksum onion");
	negative(&map, name, OMX_DNS_T_AAAA, OMX_DNS_NXDOMAIN, "onion",
		 "AAAA for a bad-checksum onion");
	negative(&map, "expyuzz4wqqyqhjn.onion", OMX_DNS_T_A, OMX_DNS_NXDOMAIN, "onion",
		 "A for a v2 onion");
	negative(&map, "onion", OMX_DNS_T_A, OMX_DNS_NXDOMAIN, "onion", "A for \"onion\" itself");

	snprintf(name, sizeof(name), "%s.onion", o[0]);
	addr_records(&map, name, OMX_DNS_T_AAAA, OMX_DNS_T_AAAA, 1, &addr[0],
		     "AAAA for a mapped onion: its address IPv4-mapped (IPv6-only MTAs)");
	test_wire_aaaa(&map, name, addr[0], 0);
	negative(&map, name, QT_TXT, OMX_DNS_NOERROR, "onion", "TXT for a mapped onion");
	negative(&map, name, OMX_DNS_T_MX, OMX_DNS_NOERROR, "onion", "MX for a mapped onion");

	/* --- PTR of synthetic addresses (OpenSMTPD asks it of the MX address) --- */
	{
		char v4[64], v6[128];
		uint32_t unused = map.net + 1;

		reverse_names(addr[0], v4, v6);
		ptr_record(&map, v4, o[0], "PTR of a mapped onion's address (in-addr.arpa)");
		ptr_record(&map, v6, o[0], "PTR of a mapped onion's address (ip6.arpa, ::ffff:)");
		passes(&map, v4, QT_TXT, "TXT of a synthetic address's reverse name");
		reverse_names(addr[19], v4, v6);
		ptr_record(&map, v4, o[19], "PTR of the 16th target's address");
		for (unsigned i = 0; i < 20; i++)
			if (addr[i] == unused) {
				unused++;
				i = (unsigned)-1; /* check the new one against all of them */
			}
		reverse_names(unused, v4, v6);
		negative(&map, v4, OMX_DNS_T_PTR, OMX_DNS_NXDOMAIN, "in-addr.arpa",
			 "PTR of an address in the map's range that stands for no onion");
		negative(&map, v6, OMX_DNS_T_PTR, OMX_DNS_NXDOMAIN, "ip6.arpa",
			 "PTR of the same as ::ffff: under ip6.arpa");
		passes(&map, "1.0.0.127.in-addr.arpa", OMX_DNS_T_PTR, "PTR of 127.0.0.1");
		passes(&map, "30.0.18.198.in-addr.arpa", OMX_DNS_T_PTR, "PTR of an ordinary address");
		passes(&map, "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.ip6.arpa",
		       OMX_DNS_T_PTR, "PTR of ::1");
		passes(&map, "in-addr.arpa", OMX_DNS_T_PTR, "PTR of in-addr.arpa itself");
		passes(&map, "0.0.240.in-addr.arpa", OMX_DNS_T_PTR, "PTR of a three-label reverse name");
		passes(&map, "1.0.0.0.240.in-addr.arpa", OMX_DNS_T_PTR, "PTR of a five-label reverse name");
		passes(&map, "1.0.0.256.in-addr.arpa", OMX_DNS_T_PTR, "PTR with an octet over 255");
		negative(NULL, "1.0.0.240.in-addr.arpa", OMX_DNS_T_PTR, OMX_DNS_SERVFAIL, NULL,
			 "no map: PTR of an address in 240.0.0.0/4 defers");
		passes(NULL, "1.0.0.127.in-addr.arpa", OMX_DNS_T_PTR, "no map: PTR of 127.0.0.1 passes");
	}

	/* --- in an MTA: a mapped domain's own addresses, _smtp._tcp SRV --- */
	mta = 1;
	addr_records(&map, "example.org", OMX_DNS_T_A, OMX_DNS_T_A, 3, addr,
		     "MTA: A for a mapped domain: its onions' addresses");
	addr_records(&map, "Example.ORG.", OMX_DNS_T_AAAA, OMX_DNS_T_AAAA, 3, addr,
		     "MTA: AAAA for a mapped domain: the same, IPv4-mapped");
	addr_records(&map, "mail.example.net", OMX_DNS_T_A, OMX_DNS_T_A, 1, &addr[3],
		     "MTA: A for a name under a wildcard entry");
	addr_records(&map, "big.example", OMX_DNS_T_A, OMX_DNS_T_A, 16, addr + 4,
		     "MTA: A for a domain with 16 onions");
	test_wire_aaaa(&map, "mail.example.net", addr[3], 1);
	passes(&map, "example.com", OMX_DNS_T_A, "MTA: A for an unmapped domain");
	passes(&map, "example.net", OMX_DNS_T_AAAA, "MTA: AAAA for the parent of a wildcard");
	passes(&map, "example.org.search.test", OMX_DNS_T_A,
	       "MTA: A for a mapped domain plus a search-list suffix");
	passes(&map, "example.org", QT_TXT, "MTA: TXT for a mapped domain (SPF, DMARC)");
	passes(&map, "_25._tcp.example.org", 52 /* TLSA */, "MTA: TLSA for a mapped domain");
	passes(&map, "mta-sts.example.org", OMX_DNS_T_A, "MTA: A of mta-sts.DOMAIN (exact entry)");
	mta = 0;
	negative(&map, "_smtp._tcp.example.org", OMX_DNS_T_SRV, OMX_DNS_NOERROR, NULL,
		 "SRV _smtp._tcp of a mapped domain: NODATA (the MX decides)");
	negative(&map, "_smtp._tcp.a.example.net", OMX_DNS_T_SRV, OMX_DNS_NOERROR, NULL,
		 "SRV _smtp._tcp of a name under a wildcard entry: NODATA");
	{
		struct omx_dns_question q;
		struct omx_dns_answer a;
		char hosts[OMX_DNS_MAX_ANSWERS][OMX_HOST_MAX];

		omx_dns_question_from_name(&q, "_smtp._tcp.Example.org", OMX_DNS_C_IN, OMX_DNS_T_SRV, 1);
		omx_answer_question(&map, NULL, &q, 0, &a, hosts);
		is_str(a.soa_zone, "example.org", "SRV _smtp._tcp NODATA: SOA of the mail domain");
	}
	passes(&map, "_smtp._tcp.example.com", OMX_DNS_T_SRV, "SRV _smtp._tcp of an unmapped domain");
	passes(&map, "_xmpp-server._tcp.example.org", OMX_DNS_T_SRV, "SRV of another service");
	passes(&map, "_smtp._tcp.example.org", QT_TXT, "TXT of _smtp._tcp.DOMAIN");
	{
		uint32_t got[OMX_MAP_MAX_TARGETS];

		is_int(omx_resolve_domain(&map, "example.org", got), 3, "resolve_domain: 3 onions");
		ok(got[0] == addr[0] && got[1] == addr[1] && got[2] == addr[2],
		   "resolve_domain: their addresses in order");
		is_int(omx_resolve_domain(&map, "example.com", got), 0, "resolve_domain: unmapped");
		is_int(omx_resolve_domain(NULL, "example.com", got), -1, "resolve_domain: no map defers");
	}

	/* --- omx_resolve_onion with a map --- */
	{
		uint32_t a = 0;
		char stranger[OMX_ONION_LABEL_LEN + 1], up[OMX_ONION_LABEL_LEN + 1];

		is_int(omx_resolve_onion(&map, NULL, "example.org", &a), OMX_NAME_NOT_OURS,
		       "resolve example.org: not ours");
		is_int(omx_resolve_onion(&map, NULL, "onion.example.org", &a), OMX_NAME_NOT_OURS,
		       "resolve onion.example.org: not ours");
		snprintf(name, sizeof(name), "%s.onion.example.org", o[0]);
		is_int(omx_resolve_onion(&map, NULL, name, &a), OMX_NAME_NOT_OURS,
		       "resolve LABEL.onion.example.org: not ours");
		snprintf(name, sizeof(name), "%s.onion", o[3]);
		a = 0;
		is_int(omx_resolve_onion(&map, NULL, name, &a), OMX_NAME_OK, "resolve a mapped onion");
		is_int(a, addr[3], "resolve: the map's address");
		upper(up, o[3]);
		snprintf(name, sizeof(name), "%s.Onion.", up);
		a = 0;
		is_int(omx_resolve_onion(&map, NULL, name, &a), OMX_NAME_OK,
		       "resolve a mapped onion, upper case, trailing dot");
		is_int(a, addr[3], "resolve upper case: same address");
		snprintf(name, sizeof(name), "smtp.%s.onion", o[3]);
		a = 0;
		is_int(omx_resolve_onion(&map, NULL, name, &a), OMX_NAME_OK, "resolve a subdomain of an onion");
		is_int(a, addr[3], "resolve subdomain: the onion's address");
		onion("stranger", 1, stranger);
		snprintf(name, sizeof(name), "%s.onion", stranger);
		is_int(omx_resolve_onion(&map, NULL, name, &a), OMX_NAME_UNAVAILABLE,
		       "resolve a valid onion not in the map: unavailable");
		snprintf(name, sizeof(name), "%s.onion", badsum);
		is_int(omx_resolve_onion(&map, NULL, name, &a), OMX_NAME_INVALID,
		       "resolve a bad-checksum onion: invalid");
		is_int(omx_resolve_onion(&map, NULL, "expyuzz4wqqyqhjn.onion", &a), OMX_NAME_INVALID,
		       "resolve a v2 onion: invalid");
		is_int(omx_resolve_onion(&map, NULL, "onion", &a), OMX_NAME_INVALID,
		       "resolve \"onion\": invalid");
		is_int(omx_resolve_onion(&map, NULL, "short.onion", &a), OMX_NAME_INVALID,
		       "resolve short.onion: invalid");
	}

	/* --- no map (broken configuration) --- */
	passes(NULL, "www.example.com", OMX_DNS_T_A, "no map: A for an ordinary name");
	passes(NULL, "example.org", OMX_DNS_T_A, "no map: A for a (would-be) mapped domain");
	passes(NULL, "example.org", OMX_DNS_T_AAAA, "no map: AAAA for an ordinary name");
	negative(NULL, "example.org", OMX_DNS_T_MX, OMX_DNS_SERVFAIL, NULL,
		 "no map: MX for a would-be mapped domain");
	negative(NULL, "gmail.com", OMX_DNS_T_MX, OMX_DNS_SERVFAIL, NULL,
		 "no map: MX for any domain");
	snprintf(name, sizeof(name), "%s.onion", o[0]);
	negative(NULL, name, OMX_DNS_T_A, OMX_DNS_SERVFAIL, NULL, "no map: A for an onion");
	negative(NULL, name, OMX_DNS_T_AAAA, OMX_DNS_SERVFAIL, NULL, "no map: AAAA for an onion");
	negative(NULL, "_smtp._tcp.example.org", OMX_DNS_T_SRV, OMX_DNS_SERVFAIL, NULL,
		 "no map: SRV _smtp._tcp defers");
	mta = 1;
	negative(NULL, "example.org", OMX_DNS_T_A, OMX_DNS_SERVFAIL, NULL,
		 "no map, MTA: A for any name defers (it may be mapped)");
	negative(NULL, "www.example.com", OMX_DNS_T_AAAA, OMX_DNS_SERVFAIL, NULL,
		 "no map, MTA: AAAA for any name defers");
	mta = 0;
	/* The header: "with no map (broken configuration) every MX question fails
	 * temporarily". */
	negative(NULL, name, OMX_DNS_T_MX, OMX_DNS_SERVFAIL, NULL, "no map: MX for a valid onion");
	snprintf(name, sizeof(name), "%s.onion", badsum);
	negative(NULL, name, OMX_DNS_T_A, OMX_DNS_NXDOMAIN, "onion",
		 "no map: A for a bad-checksum onion");
	{
		uint32_t a = 0;

		snprintf(name, sizeof(name), "%s.onion", o[0]);
		is_int(omx_resolve_onion(NULL, NULL, name, &a), OMX_NAME_UNAVAILABLE,
		       "no map: resolve a valid onion: unavailable");
		snprintf(name, sizeof(name), "%s.onion", badsum);
		is_int(omx_resolve_onion(NULL, NULL, name, &a), OMX_NAME_INVALID,
		       "no map: resolve a bad-checksum onion: invalid");
		is_int(omx_resolve_onion(NULL, NULL, "example.org", &a), OMX_NAME_NOT_OURS,
		       "no map: resolve example.org: not ours");
	}

	/* --- a damaged map: whatever the lookup finds damaged defers --- */
	{
		char bad[4096], key[6];
		struct omx_map dmg;
		struct cdb c = map.cdb;
		uint32_t a = 0;
		size_t n = (size_t)map.cdb.cdb_fsize;
		unsigned char *copy = malloc(n);
		int fd;

		snprintf(bad, sizeof(bad), "%s/bad.cdb", dir);
		/* The value of d:example.org, one byte changed. */
		if (copy && cdb_find(&c, "d:example.org", 13) > 0) {
			memcpy(copy, map.cdb.cdb_mem, n);
			copy[cdb_datapos(&c) + 3] ^= 1;
			write_text(bad, "");
			fd = open(bad, O_WRONLY | O_TRUNC);
			if (fd >= 0 && write(fd, copy, n) == (ssize_t)n && close(fd) == 0 &&
			    (fd = open(bad, O_RDONLY)) >= 0 && omx_map_open_fd(&dmg, fd, bad, err, sizeof(err)) == 0) {
				close(fd);
				negative(&dmg, "example.org", OMX_DNS_T_MX, OMX_DNS_SERVFAIL, NULL,
					 "damaged entry: MX for the mapped domain defers");
				mta = 1;
				negative(&dmg, "example.org", OMX_DNS_T_A, OMX_DNS_SERVFAIL, NULL,
					 "damaged entry, MTA: A for the mapped domain defers");
				mta = 0;
				negative(&dmg, "gmail.com", OMX_DNS_T_MX, OMX_DNS_SERVFAIL, NULL,
					 "damaged map: then MX for any domain defers");
				snprintf(name, sizeof(name), "%s.onion", o[0]);
				negative(&dmg, name, OMX_DNS_T_A, OMX_DNS_SERVFAIL, NULL, "damaged map: A for an onion");
				negative(&dmg, name, OMX_DNS_T_AAAA, OMX_DNS_SERVFAIL, NULL,
					 "damaged map: AAAA for an onion (not NODATA)");
				is_int(omx_resolve_onion(&dmg, NULL, name, &a), OMX_NAME_DAMAGED,
				       "damaged map: resolve a valid onion: damaged");
				omx_map_close(&dmg);
			} else {
				ok(0, "damaged copy opens: %s", err);
			}
			/* The a: record of o[0], one byte changed: its A lookup defers. */
			c = map.cdb;
			omx_map_addr_key(addr[0], key);
			memcpy(copy, map.cdb.cdb_mem, n);
			if (cdb_find(&c, key, 6) > 0) {
				copy[cdb_datapos(&c) + 10] ^= 1;
				fd = open(bad, O_WRONLY | O_TRUNC);
				if (fd >= 0 && write(fd, copy, n) == (ssize_t)n && close(fd) == 0 &&
				    (fd = open(bad, O_RDONLY)) >= 0 &&
				    omx_map_open_fd(&dmg, fd, bad, err, sizeof(err)) == 0) {
					close(fd);
					negative(&dmg, name, OMX_DNS_T_AAAA, OMX_DNS_SERVFAIL, NULL,
						 "damaged address record: AAAA for its onion");
					omx_map_close(&dmg);
					/* Reopened: the PTR lookup is the one that finds the damage. */
					fd = open(bad, O_RDONLY);
					if (fd >= 0 && omx_map_open_fd(&dmg, fd, bad, err, sizeof(err)) == 0) {
						char v4[64], v6[128];

						reverse_names(addr[0], v4, v6);
						negative(&dmg, v4, OMX_DNS_T_PTR, OMX_DNS_SERVFAIL, NULL,
							 "damaged address record: PTR of its address defers");
						omx_map_close(&dmg);
					}
					if (fd >= 0)
						close(fd);
				}
			}
			unlink(bad);
		} else {
			ok(0, "d:example.org found");
		}
		free(copy);
	}

	omx_map_close(&map);
	ok(unlink(src) == 0 && unlink(out) == 0 && rmdir(dir) == 0, "temporary files removed");
	return done_testing();
}
