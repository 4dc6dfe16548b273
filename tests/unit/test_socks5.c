/* Unit tests for the SOCKS5 codec: request bytes, field limits, every prefix of
 * the replies Tor sends, every failure path and the reply-code table. */
#include "socks5.h"
#include "tap.h"

#include <errno.h>
#include <stdint.h>
#include <string.h>

#define ONION "pg6mmjiyjmcrsslvykfwnntlaru7p5svn6y2ymmju6nubxndf4pscryd.onion"

/* Compares a built request with the bytes it must be. */
static void check_bytes(const uint8_t *got, ssize_t got_len, const uint8_t *want,
			size_t want_len, const char *what)
{
	is_int(got_len, (ssize_t)want_len, "%s: length", what);
	ok(got_len == (ssize_t)want_len && memcmp(got, want, want_len) == 0, "%s: bytes", what);
}

/* The flight without credentials: greeting offering 00, then CONNECT by name. */
static void test_request_plain(void)
{
	uint8_t buf[600];
	const uint8_t want[] = { 0x05, 0x01, 0x00,
				 0x05, 0x01, 0x00, 0x03, 0x0b, 'm', 'x', '.', 'e', 'x', 'a',
				 'm', 'p', 'l', 'e', '.', 0x00, 0x19 };
	ssize_t n = omx_socks5_request(buf, sizeof(buf), "mx.example.", 25, NULL, NULL);

	check_bytes(buf, n, want, sizeof(want), "request without user");

	/* Port bytes are big-endian. */
	n = omx_socks5_request(buf, sizeof(buf), "a", 0xABCD, NULL, NULL);
	is_int(n, 3 + 5 + 1 + 2, "one-byte host: length");
	ok(n == 11 && buf[9] == 0xAB && buf[10] == 0xCD, "port is big-endian");

	/* PASS is ignored when USER is NULL. */
	n = omx_socks5_request(buf, sizeof(buf), "a", 25, NULL, "secret");
	is_int(n, 11, "pass without user is ignored");
	is_int(buf[2], 0x00, "pass without user still offers method 00");
}

/* The flight with credentials: greeting offering 02, RFC 1929, then CONNECT. */
static void test_request_auth(void)
{
	uint8_t buf[600];
	const uint8_t want[] = { 0x05, 0x01, 0x02,
				 0x01, 0x03, 'b', 'o', 'b', 0x02, 'p', 'w',
				 0x05, 0x01, 0x00, 0x03, 0x04, 'h', '.', 'i', 'o', 0x01, 0xbb };
	ssize_t n = omx_socks5_request(buf, sizeof(buf), "h.io", 443, "bob", "pw");

	check_bytes(buf, n, want, sizeof(want), "request with user");

	n = omx_socks5_request(buf, sizeof(buf), ONION, 25, "isolation-7", "x");
	is_int(n, 3 + 3 + 11 + 1 + 5 + 62 + 2, "onion host with user: length");
	ok(n > 0 && memcmp(buf + 3 + 3 + 11 + 1 + 5, ONION, 62) == 0, "onion host copied");
}

/* Field limits: 1..255 bytes for HOST, USER and PASS; CAP must hold it all. */
static void test_request_limits(void)
{
	uint8_t buf[1024];
	char s255[256], s256[257];
	ssize_t n;
	size_t plain_len, auth_len;

	memset(s255, 'a', 255);
	s255[255] = '\0';
	memset(s256, 'b', 256);
	s256[256] = '\0';

	n = omx_socks5_request(buf, sizeof(buf), s255, 25, NULL, NULL);
	is_int(n, 3 + 5 + 255 + 2, "255-byte host is accepted");
	is_int(buf[7], 255, "255-byte host: length byte");
	is_int(omx_socks5_request(buf, sizeof(buf), s256, 25, NULL, NULL), -1,
	       "256-byte host is rejected");
	is_int(omx_socks5_request(buf, sizeof(buf), "", 25, NULL, NULL), -1,
	       "empty host is rejected");
	is_int(omx_socks5_request(buf, sizeof(buf), NULL, 25, NULL, NULL), -1,
	       "NULL host is rejected");

	n = omx_socks5_request(buf, sizeof(buf), "h", 25, s255, s255);
	is_int(n, 3 + 3 + 255 + 255 + 5 + 1 + 2, "255-byte user and pass are accepted");
	is_int(omx_socks5_request(buf, sizeof(buf), "h", 25, s256, "p"), -1,
	       "256-byte user is rejected");
	is_int(omx_socks5_request(buf, sizeof(buf), "h", 25, "u", s256), -1,
	       "256-byte pass is rejected");
	is_int(omx_socks5_request(buf, sizeof(buf), "h", 25, "", "p"), -1,
	       "empty user is rejected");
	is_int(omx_socks5_request(buf, sizeof(buf), "h", 25, "u", ""), -1,
	       "empty pass is rejected");
	is_int(omx_socks5_request(buf, sizeof(buf), "h", 25, "u", NULL), -1,
	       "user without pass is rejected");

	/* The exact size fits; one byte less does not, and nothing is written. */
	plain_len = 3 + 5 + 255 + 2;
	is_int(omx_socks5_request(buf, plain_len, s255, 25, NULL, NULL), (ssize_t)plain_len,
	       "cap equal to the flight is enough");
	memset(buf, 0xEE, sizeof(buf));
	is_int(omx_socks5_request(buf, plain_len - 1, s255, 25, NULL, NULL), -1,
	       "cap one byte short is rejected");
	ok(buf[0] == 0xEE, "a rejected request writes nothing");
	auth_len = 3 + 3 + 1 + 1 + 5 + 1 + 2;
	is_int(omx_socks5_request(buf, auth_len, "h", 25, "u", "p"), (ssize_t)auth_len,
	       "cap equal to the flight with user is enough");
	is_int(omx_socks5_request(buf, auth_len - 1, "h", 25, "u", "p"), -1,
	       "cap one byte short with user is rejected");
	is_int(omx_socks5_request(buf, 0, "h", 25, NULL, NULL), -1, "cap 0 is rejected");
}

/* A reply the server may send: its bytes and whether it was after auth. */
struct reply_case {
	const char *name;
	const uint8_t *bytes;
	size_t len;
	int with_auth;
};

/* The needs a caller reading exactly *NEED bytes each time goes through must
 * all be NEED_MORE, grow, never exceed the reply, and end in DONE. */
static void check_prefixes_done(const struct reply_case *rc)
{
	size_t len, need, last_need = 0;
	int all_need_more = 1, need_in_range = 1, need_grows = 1;
	int code = -1;
	enum omx_socks5_result r;

	for (len = 0; len < rc->len; len++) {
		need = 0;
		r = omx_socks5_parse(rc->bytes, len, rc->with_auth, &need, &code);
		if (r != OMX_SOCKS5_NEED_MORE) {
			all_need_more = 0;
			printf("#   %s: prefix %zu gave %d\n", rc->name, len, (int)r);
			continue;
		}
		if (need <= len || need > rc->len) {
			need_in_range = 0;
			printf("#   %s: prefix %zu needs %zu of %zu\n", rc->name, len, need, rc->len);
		}
		if (need < last_need)
			need_grows = 0;
		last_need = need;
	}
	ok(all_need_more, "%s: every proper prefix gives NEED_MORE", rc->name);
	ok(need_in_range, "%s: need is past the prefix and never past the reply", rc->name);
	ok(need_grows, "%s: need never shrinks", rc->name);
	is_int(omx_socks5_parse(rc->bytes, rc->len, rc->with_auth, &need, &code),
	       OMX_SOCKS5_DONE, "%s: whole reply gives DONE", rc->name);
}

/* Follows the needs a caller would: start at 0 bytes, read up to *NEED, repeat;
 * returns the sequence of needs so a test can check it exactly. */
static size_t walk_needs(const uint8_t *bytes, size_t len, int with_auth, size_t *needs,
			 size_t max_needs, enum omx_socks5_result *final)
{
	size_t have = 0, count = 0, need = 0;
	int code = -1;
	enum omx_socks5_result r;

	for (;;) {
		r = omx_socks5_parse(bytes, have, with_auth, &need, &code);
		if (r != OMX_SOCKS5_NEED_MORE || count == max_needs || need > len) {
			*final = r;
			return count;
		}
		needs[count++] = need;
		have = need;
	}
}

/* Checks the exact sequence of needs for a reply. */
static void check_needs(const char *name, const uint8_t *bytes, size_t len, int with_auth,
			const size_t *want, size_t want_count)
{
	size_t needs[16], count;
	enum omx_socks5_result final;
	int same;

	count = walk_needs(bytes, len, with_auth, needs, 16, &final);
	same = count == want_count && memcmp(needs, want, count * sizeof(needs[0])) == 0;
	if (!ok(same && final == OMX_SOCKS5_DONE, "%s: reads go %s", name,
		want_count == 3 ? "2, header+5, full" : "2, 4, header+5, full")) {
		size_t i;
		printf("#   got");
		for (i = 0; i < count; i++)
			printf(" %zu", needs[i]);
		printf(", final %d\n", (int)final);
	}
}

static const uint8_t reply_ipv4[] = { 0x05, 0x00, 0x05, 0x00, 0x00, 0x01,
				      127, 0, 0, 1, 0x00, 0x19 };
static const uint8_t reply_ipv4_auth[] = { 0x05, 0x02, 0x01, 0x00, 0x05, 0x00, 0x00, 0x01,
					   0, 0, 0, 0, 0x00, 0x00 };
/* Tor answers an onion CONNECT with an IPv6 bound address: 22 bytes. */
static const uint8_t reply_ipv6[] = { 0x05, 0x00, 0x05, 0x00, 0x00, 0x04,
				      0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1,
				      0x12, 0x34 };
static const uint8_t reply_ipv6_auth[] = { 0x05, 0x02, 0x01, 0x00, 0x05, 0x00, 0x00, 0x04,
					   0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1,
					   0x00, 0x19 };
static const uint8_t reply_domain[] = { 0x05, 0x00, 0x05, 0x00, 0x00, 0x03,
					0x07, 'e', 'x', '.', 'o', 'n', 'i', 'o', 0x00, 0x19 };
/* What Tor 0.4.9 sends for greeting, credentials and CONNECT in one write:
 * the authentication status and the CONNECT reply, no method choice
 * (tests/integ/tor.sh). */
static const uint8_t reply_ipv4_tor[] = { 0x01, 0x00, 0x05, 0x00, 0x00, 0x01, 0, 0, 0, 0, 0x00, 0x00 };
static const uint8_t reply_ipv6_tor[] = { 0x01, 0x00, 0x05, 0x00, 0x00, 0x04,
					  0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1,
					  0x00, 0x19 };
/* The shortest domain-name reply accepted: as long as an IPv4 one. */
static const uint8_t reply_domain_auth[] = { 0x05, 0x02, 0x01, 0x00, 0x05, 0x00, 0x00, 0x03,
					     0x03, 'x', '.', 'y', 0x00, 0x19 };
/* Shorter domain-name replies are refused as malformed: the parser asks for
 * an IPv4 reply's length at once, which such a reply does not fill. */
static const uint8_t reply_domain_empty[] = { 0x05, 0x00, 0x05, 0x00, 0x00, 0x03, 0x00,
					      0x00, 0x19 };
static const uint8_t reply_domain_short[] = { 0x05, 0x00, 0x05, 0x00, 0x00, 0x03, 0x02,
					      'x', 'y', 0x00, 0x19 };

/* Every valid reply shape, with and without auth, byte by byte. */
static void test_parse_valid(void)
{
	static const struct reply_case cases[] = {
		{ "ipv4", reply_ipv4, sizeof(reply_ipv4), 0 },
		{ "ipv4 auth", reply_ipv4_auth, sizeof(reply_ipv4_auth), 1 },
		{ "ipv6", reply_ipv6, sizeof(reply_ipv6), 0 },
		{ "ipv6 auth", reply_ipv6_auth, sizeof(reply_ipv6_auth), 1 },
		{ "domain", reply_domain, sizeof(reply_domain), 0 },
		{ "domain auth", reply_domain_auth, sizeof(reply_domain_auth), 1 },
		{ "ipv4 auth, no method choice", reply_ipv4_tor, sizeof(reply_ipv4_tor), 1 },
		{ "ipv6 auth, no method choice", reply_ipv6_tor, sizeof(reply_ipv6_tor), 1 },
	};
	size_t i, need;
	int code;

	is_int(sizeof(reply_ipv6) - 2, 22, "the IPv6 CONNECT reply is 22 bytes");
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		check_prefixes_done(&cases[i]);

	{
		/* One read for the replies Tor sends with an IPv4 address (all
		 * of them at once when they arrive together), two with IPv6. With
		 * credentials the first read asks for the replies without a method
		 * choice (what Tor sends), and a server that sends one is read
		 * once more. */
		static const size_t ipv4[] = { 12 };
		static const size_t ipv4_auth[] = { 12, 14 };
		static const size_t ipv6[] = { 12, 24 };
		static const size_t ipv6_auth[] = { 12, 26 };
		static const size_t domain[] = { 12, 16 };
		static const size_t domain_auth[] = { 12, 14 };
		static const size_t ipv4_tor[] = { 12 };
		static const size_t ipv6_tor[] = { 12, 24 };

		check_needs("ipv4", reply_ipv4, sizeof(reply_ipv4), 0, ipv4, 1);
		check_needs("ipv4 auth", reply_ipv4_auth, sizeof(reply_ipv4_auth), 1, ipv4_auth, 2);
		check_needs("ipv6", reply_ipv6, sizeof(reply_ipv6), 0, ipv6, 2);
		check_needs("ipv6 auth", reply_ipv6_auth, sizeof(reply_ipv6_auth), 1, ipv6_auth, 2);
		check_needs("domain", reply_domain, sizeof(reply_domain), 0, domain, 2);
		check_needs("domain auth", reply_domain_auth, sizeof(reply_domain_auth), 1,
			    domain_auth, 2);
		check_needs("ipv4 auth, no method choice", reply_ipv4_tor, sizeof(reply_ipv4_tor), 1,
			    ipv4_tor, 1);
		check_needs("ipv6 auth, no method choice", reply_ipv6_tor, sizeof(reply_ipv6_tor), 1,
			    ipv6_tor, 2);
	}
	is_int(omx_socks5_parse(reply_domain_empty, sizeof(reply_domain_empty), 0, &need, &code),
	       OMX_SOCKS5_BAD_REPLY, "a bound name of length 0 (shorter than an IPv4 reply) is BAD_REPLY");
	is_int(omx_socks5_parse(reply_domain_short, sizeof(reply_domain_short), 0, &need, &code),
	       OMX_SOCKS5_BAD_REPLY, "a bound name of length 2 (one byte short of an IPv4 reply) is BAD_REPLY");

	/* Once the address type is in, the need jumps to the full length. */
	omx_socks5_parse(reply_ipv6, 6, 0, &need, &code);
	is_int(need, 24, "ipv6: header in -> full length needed");
	omx_socks5_parse(reply_domain, 6, 0, &need, &code);
	is_int(need, 12, "domain: header in -> the shortest reply's length needed");
	omx_socks5_parse(reply_domain, 7, 0, &need, &code);
	is_int(need, 16, "domain: length byte in -> full length needed");

	/* NULL out-pointers are tolerated. */
	is_int(omx_socks5_parse(reply_ipv4, 3, 0, NULL, NULL), OMX_SOCKS5_NEED_MORE,
	       "NULL need is tolerated");
	is_int(omx_socks5_parse(NULL, 0, 0, &need, NULL), OMX_SOCKS5_NEED_MORE,
	       "empty buffer needs 2");
	is_int(need, 12, "empty buffer: need is the method choice and an IPv4 CONNECT reply");
	omx_socks5_parse(NULL, 0, 1, &need, NULL);
	is_int(need, 12, "empty buffer with auth: need is the status and an IPv4 CONNECT reply (no more: Tor may leave out its method choice, and the banner may follow)");
	is_int(omx_socks5_parse((const uint8_t[]){ 0x05 }, 1, 1, &need, NULL), OMX_SOCKS5_NEED_MORE,
	       "with auth, first byte 5: a method choice");
	is_int(need, 14, "then the method choice, status and an IPv4 CONNECT reply");
	is_int(omx_socks5_parse((const uint8_t[]){ 0x01 }, 1, 1, &need, NULL), OMX_SOCKS5_NEED_MORE,
	       "with auth, first byte 1: the status, no method choice");
	is_int(need, 12, "then the status and an IPv4 CONNECT reply");
	is_int(omx_socks5_parse((const uint8_t[]){ 0x01, 0x01 }, 2, 1, &need, NULL), OMX_SOCKS5_AUTH_FAILED,
	       "no method choice, status 1: authentication failed");
	is_int(omx_socks5_parse((const uint8_t[]){ 0x01, 0x00 }, 2, 0, &need, NULL), OMX_SOCKS5_BAD_VERSION,
	       "without credentials, a reply starting with 1 is no method choice: bad version");
	is_int(omx_socks5_parse((const uint8_t[]){ 0x04, 0x00 }, 2, 1, &need, NULL), OMX_SOCKS5_BAD_VERSION,
	       "with auth, a first byte neither 1 nor 5: bad version");
	is_int(omx_socks5_status_end(0x01), 2, "status end, no method choice: after 2 bytes");
	is_int(omx_socks5_status_end(0x05), 4, "status end, a method choice first: after 4 bytes");
}

/* Bytes after a complete reply (the SMTP banner) change nothing. */
static void test_parse_trailing(void)
{
	uint8_t buf[128];
	const char banner[] = "220 mx.example ESMTP\r\n";
	size_t need = 0;
	int code = -1;

	memcpy(buf, reply_ipv4, sizeof(reply_ipv4));
	memcpy(buf + sizeof(reply_ipv4), banner, sizeof(banner) - 1);
	is_int(omx_socks5_parse(buf, sizeof(reply_ipv4) + sizeof(banner) - 1, 0, &need, &code),
	       OMX_SOCKS5_DONE, "ipv4 reply followed by a banner is DONE");

	memcpy(buf, reply_ipv6_auth, sizeof(reply_ipv6_auth));
	memcpy(buf + sizeof(reply_ipv6_auth), banner, sizeof(banner) - 1);
	is_int(omx_socks5_parse(buf, sizeof(reply_ipv6_auth) + sizeof(banner) - 1, 1, &need,
				&code), OMX_SOCKS5_DONE, "ipv6 auth reply followed by a banner is DONE");

	/* A refused reply with its bound address and more is still REFUSED. */
	memcpy(buf, reply_ipv4, sizeof(reply_ipv4));
	buf[3] = 0xF2;
	memcpy(buf + sizeof(reply_ipv4), banner, sizeof(banner) - 1);
	is_int(omx_socks5_parse(buf, sizeof(reply_ipv4) + sizeof(banner) - 1, 0, &need, &code),
	       OMX_SOCKS5_REFUSED, "refused reply followed by bytes is REFUSED");
	is_int(code, 0xF2, "refused reply followed by bytes: code");

	/* A failed auth followed by junk is still AUTH_FAILED. */
	{
		const uint8_t failed[] = { 0x05, 0x02, 0x01, 0x01, 0x05, 0x00, 0x00, 0x09 };
		is_int(omx_socks5_parse(failed, sizeof(failed), 1, &need, &code),
		       OMX_SOCKS5_AUTH_FAILED, "auth failure followed by junk is AUTH_FAILED");
	}
}

/* Each code in the table: REFUSED with the code, its errno and its cause. */
static void test_codes(void)
{
	static const struct {
		int code, err;
		const char *cause;
	} table[] = {
		{ 0x01, ECONNREFUSED, "general SOCKS server failure" },
		{ 0x02, EACCES, "connection not allowed by ruleset" },
		{ 0x03, ENETUNREACH, "network unreachable" },
		{ 0x04, EHOSTUNREACH, "host unreachable" },
		{ 0x05, ECONNREFUSED, "connection refused by the onion service" },
		{ 0x06, ETIMEDOUT, "TTL expired" },
		{ 0x07, EPROTO, "command not supported" },
		{ 0x08, EAFNOSUPPORT, "address type not supported" },
		{ 0xF0, EHOSTUNREACH, "onion service descriptor not found" },
		{ 0xF1, EHOSTUNREACH, "onion service descriptor invalid" },
		{ 0xF2, EHOSTUNREACH, "onion service introduction failed" },
		{ 0xF3, EHOSTUNREACH, "onion service rendezvous failed" },
		{ 0xF4, EACCES, "onion service client authorization missing" },
		{ 0xF5, EACCES, "onion service client authorization wrong" },
		{ 0xF6, EHOSTUNREACH, "invalid onion address" },
		{ 0xF7, ETIMEDOUT, "onion service introduction timed out" },
	};
	static const int unknown[] = { 0x09, 0x42, 0xEF, 0xF8, 0xFF, -1, 256 };
	uint8_t reply[sizeof(reply_ipv4_auth)];
	size_t i, need;
	int code;
	enum omx_socks5_result r;

	for (i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
		is_int(omx_socks5_code_errno(table[i].code), table[i].err,
		       "code 0x%02X: errno", table[i].code);
		is_str(omx_socks5_code_str(table[i].code), table[i].cause,
		       "code 0x%02X: cause", table[i].code);

		/* Without auth, the whole reply. */
		memcpy(reply, reply_ipv4, sizeof(reply_ipv4));
		reply[3] = (uint8_t)table[i].code;
		code = -1;
		r = omx_socks5_parse(reply, sizeof(reply_ipv4), 0, &need, &code);
		ok(r == OMX_SOCKS5_REFUSED && code == table[i].code,
		   "code 0x%02X: whole reply is REFUSED with the code", table[i].code);

		/* With auth, only the 4-byte header: reported at once. */
		memcpy(reply, reply_ipv4_auth, sizeof(reply_ipv4_auth));
		reply[5] = (uint8_t)table[i].code;
		code = -1;
		r = omx_socks5_parse(reply, 4 + 4, 1, &need, &code);
		ok(r == OMX_SOCKS5_REFUSED && code == table[i].code,
		   "code 0x%02X: header alone after auth is REFUSED", table[i].code);
	}

	for (i = 0; i < sizeof(unknown) / sizeof(unknown[0]); i++) {
		is_int(omx_socks5_code_errno(unknown[i]), ECONNREFUSED,
		       "unknown code %d: ECONNREFUSED", unknown[i]);
		is_str(omx_socks5_code_str(unknown[i]), "unknown SOCKS reply code",
		       "unknown code %d: cause", unknown[i]);
	}
	is_int(omx_socks5_code_errno(0), 0, "code 0: no errno");
	is_str(omx_socks5_code_str(0), "succeeded", "code 0: succeeded");

	/* An unknown code still parses as REFUSED with that code. */
	memcpy(reply, reply_ipv4, sizeof(reply_ipv4));
	reply[3] = 0x42;
	is_int(omx_socks5_parse(reply, 6, 0, &need, &code), OMX_SOCKS5_REFUSED,
	       "unknown code is REFUSED");
	is_int(code, 0x42, "unknown code is reported");

	/* A refusal with a bad reserved byte or address type is still a refusal:
	 * the code is what the user needs to see. */
	reply[3] = 0x05;
	reply[4] = 0x01;
	reply[5] = 0x09;
	is_int(omx_socks5_parse(reply, 6, 0, &need, &code), OMX_SOCKS5_REFUSED,
	       "refusal with junk after the code is REFUSED");
	is_int(code, 0x05, "refusal with junk: code");

	/* A refusal is reported as soon as its code is in, not before. */
	code = 0;
	is_int(omx_socks5_parse(reply, 4, 0, &need, &code), OMX_SOCKS5_REFUSED,
	       "refusal with 2 header bytes is REFUSED");
	is_int(code, 0x05, "refusal with 2 header bytes: code");
	is_int(omx_socks5_parse(reply, 3, 0, &need, &code), OMX_SOCKS5_NEED_MORE,
	       "refusal with 1 header byte needs more");
	is_int(need, 12, "refusal with 1 header byte: need an IPv4 reply's length");
}

/* Method selection failures: 0xFF, or a method we did not offer. */
static void test_methods(void)
{
	size_t need;
	int code;
	const uint8_t none[] = { 0x05, 0xFF };
	const uint8_t userpass[] = { 0x05, 0x02 };
	const uint8_t noauth[] = { 0x05, 0x00 };
	const uint8_t gssapi[] = { 0x05, 0x01 };

	is_int(omx_socks5_parse(none, 2, 0, &need, &code), OMX_SOCKS5_NO_METHOD,
	       "method 0xFF without auth is NO_METHOD");
	is_int(omx_socks5_parse(none, 2, 1, &need, &code), OMX_SOCKS5_NO_METHOD,
	       "method 0xFF with auth is NO_METHOD");
	is_int(omx_socks5_parse(userpass, 2, 0, &need, &code), OMX_SOCKS5_NO_METHOD,
	       "method 02 when 00 was offered is NO_METHOD");
	is_int(omx_socks5_parse(noauth, 2, 1, &need, &code), OMX_SOCKS5_NO_METHOD,
	       "method 00 when 02 was offered is NO_METHOD");
	is_int(omx_socks5_parse(gssapi, 2, 0, &need, &code), OMX_SOCKS5_NO_METHOD,
	       "method 01 is NO_METHOD");
}

/* RFC 1929 failures: non-zero status, wrong sub-negotiation version. */
static void test_auth(void)
{
	size_t need;
	int code;
	const uint8_t failed[] = { 0x05, 0x02, 0x01, 0x01 };
	const uint8_t failed_ff[] = { 0x05, 0x02, 0x01, 0xFF };
	const uint8_t bad_version[] = { 0x05, 0x02, 0x05, 0x00 };
	const uint8_t zero_version[] = { 0x05, 0x02, 0x00, 0x00 };

	is_int(omx_socks5_parse(failed, 4, 1, &need, &code), OMX_SOCKS5_AUTH_FAILED,
	       "auth status 01 is AUTH_FAILED");
	is_int(omx_socks5_parse(failed_ff, 4, 1, &need, &code), OMX_SOCKS5_AUTH_FAILED,
	       "auth status FF is AUTH_FAILED");
	is_int(omx_socks5_parse(failed, 3, 1, &need, &code), OMX_SOCKS5_NEED_MORE,
	       "auth reply of 1 byte needs more");
	is_int(need, 14, "auth reply of 1 byte: need the status and an IPv4 CONNECT reply");
	is_int(omx_socks5_parse(bad_version, 4, 1, &need, &code), OMX_SOCKS5_BAD_VERSION,
	       "auth reply version 05 is BAD_VERSION");
	is_int(omx_socks5_parse(zero_version, 4, 1, &need, &code), OMX_SOCKS5_BAD_VERSION,
	       "auth reply version 00 is BAD_VERSION");
}

/* Malformed replies: wrong versions, reserved byte, address type. */
static void test_malformed(void)
{
	size_t need;
	int code;
	uint8_t reply[sizeof(reply_ipv4_auth)];
	const uint8_t http[] = "HTTP/1.0 400\r\n";
	const uint8_t socks4[] = { 0x00, 0x5A, 0, 0, 0, 0, 0, 0 };
	static const uint8_t bad_atyps[] = { 0x00, 0x02, 0x05, 0x09, 0xFF };
	size_t i;

	is_int(omx_socks5_parse(http, sizeof(http) - 1, 0, &need, &code),
	       OMX_SOCKS5_BAD_VERSION, "an HTTP answer is BAD_VERSION");
	is_int(omx_socks5_parse(http, 2, 1, &need, &code), OMX_SOCKS5_BAD_VERSION,
	       "an HTTP answer with auth is BAD_VERSION");
	is_int(omx_socks5_parse(socks4, sizeof(socks4), 0, &need, &code),
	       OMX_SOCKS5_BAD_VERSION, "a SOCKS4 answer is BAD_VERSION");

	memcpy(reply, reply_ipv4, sizeof(reply_ipv4));
	reply[2] = 0x04;
	is_int(omx_socks5_parse(reply, sizeof(reply_ipv4), 0, &need, &code),
	       OMX_SOCKS5_BAD_VERSION, "CONNECT reply version 04 is BAD_VERSION");

	memcpy(reply, reply_ipv4_auth, sizeof(reply_ipv4_auth));
	reply[4] = 0x01;
	is_int(omx_socks5_parse(reply, sizeof(reply_ipv4_auth), 1, &need, &code),
	       OMX_SOCKS5_BAD_VERSION, "CONNECT reply version 01 after auth is BAD_VERSION");

	memcpy(reply, reply_ipv4, sizeof(reply_ipv4));
	reply[4] = 0x01;
	is_int(omx_socks5_parse(reply, sizeof(reply_ipv4), 0, &need, &code),
	       OMX_SOCKS5_BAD_REPLY, "reserved byte 01 is BAD_REPLY");
	is_int(omx_socks5_parse(reply, 6, 0, &need, &code), OMX_SOCKS5_BAD_REPLY,
	       "reserved byte 01 is caught with the header alone");

	for (i = 0; i < sizeof(bad_atyps); i++) {
		memcpy(reply, reply_ipv4, sizeof(reply_ipv4));
		reply[5] = bad_atyps[i];
		is_int(omx_socks5_parse(reply, sizeof(reply_ipv4), 0, &need, &code),
		       OMX_SOCKS5_BAD_REPLY, "address type 0x%02X is BAD_REPLY", bad_atyps[i]);
	}
	memcpy(reply, reply_ipv4_auth, sizeof(reply_ipv4_auth));
	reply[7] = 0x09;
	is_int(omx_socks5_parse(reply, 8, 1, &need, &code), OMX_SOCKS5_BAD_REPLY,
	       "address type 9 after auth is BAD_REPLY with the header alone");
}

/* A deterministic random walk over replies (valid prefixes, then random bytes,
 * at random lengths): whatever comes in, the parser must never ask for fewer
 * bytes than it has or for more than the longest possible reply, and must give
 * the same answer with junk appended once it is no longer NEED_MORE. */
static void test_parse_random(void)
{
	uint8_t buf[300], longer[600];
	uint32_t seed = 12345;
	size_t len, need, max_reply, i;
	int code, with_auth, sane = 1, stable = 1, rounds;
	enum omx_socks5_result r, r2;

	for (rounds = 0; rounds < 200000; rounds++) {
		for (i = 0; i < sizeof(buf); i++) {
			seed = seed * 1103515245u + 12345u;
			buf[i] = (uint8_t)(seed >> 16);
		}
		with_auth = rounds & 1;
		/* Mostly keep the fixed bytes right so the walk gets deep. */
		if (rounds % 8 != 0) {
			size_t at = 0;
			buf[at++] = 0x05;
			buf[at++] = with_auth ? 0x02 : 0x00;
			if (with_auth) {
				buf[at++] = 0x01;
				buf[at++] = 0x00;
			}
			buf[at++] = 0x05;
			if (rounds % 4 != 0)
				buf[at] = 0x00;
			at++;
			buf[at++] = 0x00;
			buf[at] = (uint8_t)(rounds % 3 == 0 ? 1 : rounds % 3 == 1 ? 3 : 4);
		}
		seed = seed * 1103515245u + 12345u;
		len = (seed >> 16) % (sizeof(buf) + 1);
		max_reply = (with_auth ? 4u : 2u) + 4 + 1 + 255 + 2;
		need = 0;
		code = -1;
		r = omx_socks5_parse(buf, len, with_auth, &need, &code);
		if (r == OMX_SOCKS5_NEED_MORE && (need <= len || need > max_reply))
			sane = 0;
		if (r != OMX_SOCKS5_NEED_MORE) {
			memcpy(longer, buf, len);
			memset(longer + len, 0xA5, sizeof(longer) - len);
			r2 = omx_socks5_parse(longer, sizeof(longer), with_auth, &need, &code);
			if (r2 != r)
				stable = 0;
		}
	}
	ok(sane, "random replies: need is past what is in and within the longest reply");
	ok(stable, "random replies: appending bytes to a finished reply changes nothing");
}

/* omx_socks5_request_n, given the lengths, writes what omx_socks5_request
 * does, and refuses the same fields (empty, over 255 bytes, a user without a
 * password). */
static void test_request_n(void)
{
	char long_field[300];
	uint8_t a[800], b[800];
	ssize_t na, nb;

	memset(long_field, 'x', sizeof(long_field) - 1);
	long_field[sizeof(long_field) - 1] = '\0';
	na = omx_socks5_request(a, sizeof(a), "abc.onion", 25, "abc.onion", "onionmx");
	nb = omx_socks5_request_n(b, sizeof(b), "abc.onion", 9, 25, "abc.onion", 9, "onionmx", 7);
	ok(na > 0 && na == nb && memcmp(a, b, (size_t)na) == 0, "request_n with credentials: the same bytes");
	na = omx_socks5_request(a, sizeof(a), "abc.onion", 2525, NULL, NULL);
	nb = omx_socks5_request_n(b, sizeof(b), "abc.onion", 9, 2525, NULL, 9, "ignored", 7);
	ok(na > 0 && na == nb && memcmp(a, b, (size_t)na) == 0, "request_n without: the same bytes, PASS unused");
	long_field[255] = '\0';
	na = omx_socks5_request(a, sizeof(a), long_field, 25, long_field, long_field);
	nb = omx_socks5_request_n(b, sizeof(b), long_field, 255, 25, long_field, 255, long_field, 255);
	ok(na > 0 && na == nb && memcmp(a, b, (size_t)na) == 0, "request_n, 255-byte fields: the same bytes");
	is_int(omx_socks5_request_n(b, sizeof(b), long_field, 256, 25, NULL, 0, NULL, 0), -1, "request_n: a 256-byte host refused");
	is_int(omx_socks5_request_n(b, sizeof(b), "h", 0, 25, NULL, 0, NULL, 0), -1, "request_n: an empty host refused");
	is_int(omx_socks5_request_n(b, sizeof(b), NULL, 1, 25, NULL, 0, NULL, 0), -1, "request_n: no host refused");
	is_int(omx_socks5_request_n(b, sizeof(b), "h", 1, 25, "u", 1, NULL, 0), -1, "request_n: a user without a password refused");
	is_int(omx_socks5_request_n(b, sizeof(b), "h", 1, 25, "u", 0, "p", 1), -1, "request_n: an empty user refused");
	is_int(omx_socks5_request_n(b, sizeof(b), "h", 1, 25, "u", 1, "p", 256), -1, "request_n: a 256-byte password refused");
	is_int(omx_socks5_request_n(b, 10, "abc.onion", 9, 25, NULL, 0, NULL, 0), -1, "request_n: too small a buffer refused");
}

int main(void)
{
	test_request_plain();
	test_request_auth();
	test_request_limits();
	test_request_n();
	test_parse_valid();
	test_parse_trailing();
	test_codes();
	test_methods();
	test_auth();
	test_malformed();
	test_parse_random();
	return done_testing();
}
