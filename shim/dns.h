/* DNS wire format for the replies onionmx synthesizes, following glibc's resolver
 * conventions: ID, opcode, RD/CD and the question echoed; QR, AA, RA set; an SOA
 * in the authority section for NXDOMAIN and NODATA; TC when the caller's buffer is
 * too small. Pure: no I/O, no allocation. */
#ifndef OMX_DNS_H
#define OMX_DNS_H
#include <stddef.h>
#include <stdint.h>

#define OMX_DNS_MAX_ANSWERS 16

/* The wire format's constants, shared by the answer builder (dns.c) and the
 * SRV reader (srv.c). */
#define OMX_DNS_HEADER_LEN 12
#define OMX_DNS_MAX_NAME_WIRE 255 /* RFC 1035 2.3.4, including the root label */
#define OMX_DNS_MAX_LABEL 63
#define OMX_DNS_FLAG_QR 0x8000
#define OMX_DNS_FLAG_OPCODE_MASK 0x7800
#define OMX_DNS_FLAG_AA 0x0400
#define OMX_DNS_FLAG_TC 0x0200
#define OMX_DNS_FLAG_RD 0x0100
#define OMX_DNS_FLAG_RA 0x0080
#define OMX_DNS_FLAG_AD 0x0020
#define OMX_DNS_FLAG_CD 0x0010
#define OMX_DNS_RCODE_MASK 0x000f

enum { OMX_DNS_T_A = 1, OMX_DNS_T_CNAME = 5, OMX_DNS_T_SOA = 6, OMX_DNS_T_PTR = 12, OMX_DNS_T_MX = 15,
       OMX_DNS_T_AAAA = 28, OMX_DNS_T_TXT = 16, OMX_DNS_T_SRV = 33, OMX_DNS_T_TLSA = 52,
       OMX_DNS_C_IN = 1 };
enum { OMX_DNS_NOERROR = 0, OMX_DNS_FORMERR = 1, OMX_DNS_SERVFAIL = 2, OMX_DNS_NXDOMAIN = 3,
       OMX_DNS_REFUSED = 5 };

struct omx_dns_question {
	uint16_t id;
	uint16_t flags;          /* header flags of the query, as sent */
	uint16_t qtype, qclass;
	uint8_t qname[256];      /* wire form, case preserved, ends with the root label */
	size_t qname_len;
	char name[256];          /* dotted, lower-cased, no trailing dot ("" = root) */
};

/* Fills Q from a presentation-form NAME (trailing dot optional; \DDD and \X
 * escapes decoded as the resolver does). Returns 0; -1 for no valid name; or
 * OMX_DNS_NAME_UNREADABLE for a name whose labels hold '.', '\\' or NUL (the
 * caller fails closed if such a name could be ours). */
#define OMX_DNS_NAME_UNREADABLE (-2)
int omx_dns_question_from_name(struct omx_dns_question *q, const char *name,
			       int qclass, int qtype, uint16_t id);

/* Parses a query packet (what res_send receives): exactly one question, no
 * compression in it, opcode QUERY, QR clear. Returns 0, or -1 if MSG is not such a
 * query (the caller then passes it through untouched). Trailing sections (EDNS OPT)
 * are allowed and ignored. */
int omx_dns_parse_query(const uint8_t *msg, size_t len, struct omx_dns_question *q);

struct omx_dns_answer {
	int rcode;          /* OMX_DNS_NOERROR with n == 0 means NODATA */
	int n;              /* answer records, at most OMX_DNS_MAX_ANSWERS */
	uint16_t type;      /* OMX_DNS_T_MX, OMX_DNS_T_A, OMX_DNS_T_AAAA (from a[]
			     * as IPv4-mapped ::ffff:A.B.C.D), or OMX_DNS_T_PTR (the
			     * names in mx[].host, pref unused) */
	uint32_t ttl;
	struct {
		uint16_t pref;      /* MX preference */
		const char *host;   /* MX exchange (PTR target), dotted, no trailing dot needed */
	} mx[OMX_DNS_MAX_ANSWERS];
	uint8_t a[OMX_DNS_MAX_ANSWERS][4]; /* A rdata, network order */
	const char *soa_zone; /* owner of the SOA for NXDOMAIN/NODATA, e.g. "onion" */
};

/* Builds the reply to Q into BUF. Returns the reply length. If CAP is too small
 * for the whole reply, BUF holds the first CAP bytes with TC set in the header
 * and CAP is returned; if CAP < 12 (no room for a header) returns -1. */
int omx_dns_build_reply(const struct omx_dns_question *q, const struct omx_dns_answer *a,
			uint8_t *buf, size_t cap);
#endif
