/* DNS wire format for onionmx's synthesized replies: turning a name or a query
 * packet into a question, and building the reply the way glibc's resolver and the
 * MTAs' parsers expect to see it. Pure: no I/O, no allocation, no globals. */
#include "ascii.h"
#include "dns.h"

#include <string.h>

#define DNS_POINTER_TO_QUESTION 0xc00c /* the question name sits right after the header */

/* SOA timers for NXDOMAIN/NODATA; the minimum (negative-caching TTL) is the answer's. */
#define SOA_SERIAL 1
#define SOA_REFRESH 3600
#define SOA_RETRY 600
#define SOA_EXPIRE 86400

/* Big-endian read; callers have checked that both bytes are inside the packet. */
static uint16_t read_u16(const uint8_t *p)
{
	return (uint16_t)((p[0] << 8) | p[1]);
}

/* Converts a dotted presentation NAME to wire form (case kept) in WIRE and, if
 * LOWER is not NULL, to the lower-cased dotted form without the trailing dot.
 * Escapes are decoded as the resolver encodes them (\DDD a byte in decimal, \X
 * the character X), so the name is compared as the server will read it.
 * Returns -1 for what is no name (empty labels, labels over 63 bytes, names over
 * 255 wire bytes, a bad escape), and OMX_DNS_NAME_UNREADABLE for a name whose
 * labels hold '.', '\\' or NUL, which the dotted form cannot express. */
/* encode_dotted_name for a NAME of LEN bytes without escapes (the resolver
 * entry points' usual case): each label found with memchr and copied whole. */
static int encode_plain_name(const char *name, size_t len, uint8_t wire[OMX_DNS_MAX_NAME_WIRE + 1],
			     size_t *wire_len, char *lower)
{
	if (len > 0 && name[len - 1] == '.')
		len--; /* the trailing dot, or "." alone: the root */
	if (len + 2 > OMX_DNS_MAX_NAME_WIRE)
		return -1;
	for (size_t at = 0; at < len;) {
		const char *dot = memchr(name + at, '.', len - at);
		size_t label_len = dot ? (size_t)(dot - (name + at)) : len - at;

		if (label_len == 0 || label_len > OMX_DNS_MAX_LABEL || (dot && at + label_len + 1 == len))
			return -1; /* empty (leading, doubled, two trailing dots) or too long */
		wire[at] = (uint8_t)label_len;
		memcpy(wire + at + 1, name + at, label_len);
		at += label_len + 1;
	}
	wire[len ? len + 1 : 0] = 0;
	*wire_len = len ? len + 2 : 1;
	if (lower)
		omx_ascii_lower_copy(lower, name, len);
	return 0;
}

static int encode_dotted_name(const char *name, uint8_t wire[OMX_DNS_MAX_NAME_WIRE + 1],
			      size_t *wire_len, char *lower)
{
	const char *p = name, *end = strchrnul(name, '\\');

	if (!*end)
		return encode_plain_name(name, (size_t)(end - name), wire, wire_len, lower);
	size_t length_byte_at = 0; /* where the current label's length goes */
	size_t wire_at = 1;        /* next free byte in WIRE */
	size_t label_len = 0;
	size_t lower_at = 0;
	int unreadable = 0;

	if (p[0] == '.' && p[1] == '\0')
		p++;
	for (;; p++) {
		char c = *p;
		int escaped = 0;

		if (c == '\\') {
			/* \DDD (a byte, 000-255) or \X (X itself). */
			if (p[1] >= '0' && p[1] <= '9') {
				int v;
				if (!(p[2] >= '0' && p[2] <= '9' && p[3] >= '0' && p[3] <= '9'))
					return -1;
				v = (p[1] - '0') * 100 + (p[2] - '0') * 10 + (p[3] - '0');
				if (v > 255)
					return -1;
				c = (char)v;
				p += 3;
			} else if (p[1] != '\0') {
				c = *++p;
			} else {
				return -1;
			}
			if (c == '.' || c == '\\' || c == '\0')
				unreadable = 1;
			escaped = 1;
		}
		if (!escaped && (c == '.' || c == '\0')) {
			if (label_len == 0) {
				/* At '\0' this is the end after a trailing dot, or the root;
				 * at '.' it is a leading or doubled dot. */
				if (c == '.')
					return -1;
				break;
			}
			wire[length_byte_at] = (uint8_t)label_len;
			length_byte_at = wire_at++;
			label_len = 0;
			if (c == '\0')
				break;
			continue;
		}
		/* Room for this byte and at least the root label after it. */
		if (label_len == OMX_DNS_MAX_LABEL || wire_at + 2 > OMX_DNS_MAX_NAME_WIRE)
			return -1;
		if (lower) {
			if (label_len == 0 && lower_at > 0)
				lower[lower_at++] = '.';
			lower[lower_at++] = omx_ascii_lower(c);
		}
		wire[wire_at++] = (uint8_t)c;
		label_len++;
	}
	wire[length_byte_at] = 0;
	*wire_len = length_byte_at + 1;
	if (lower)
		lower[lower_at] = '\0';
	return unreadable ? OMX_DNS_NAME_UNREADABLE : 0;
}

/* Builds a question for the name-based resolver entry points (res_query, res_search,
 * getaddrinfo), where no query packet exists; FLAGS gets RD, as res_mkquery sets it. */
int omx_dns_question_from_name(struct omx_dns_question *q, const char *name,
			       int qclass, int qtype, uint16_t id)
{
	int rc;

	if (!q || !name || qclass < 0 || qclass > 0xffff || qtype < 0 || qtype > 0xffff)
		return -1;
	if ((rc = encode_dotted_name(name, q->qname, &q->qname_len, q->name)) != 0)
		return rc;
	q->id = id;
	q->flags = OMX_DNS_FLAG_RD;
	q->qtype = (uint16_t)qtype;
	q->qclass = (uint16_t)qclass;
	return 0;
}

/* Reads the uncompressed question name at MSG[*OFF], bounded by LEN, into Q's wire
 * and lower-cased dotted forms. Rejects pointers and extended label types, and
 * label bytes ('\0', '.', '\\') that the unescaped dotted form could not express. */
static int decode_question_name(const uint8_t *msg, size_t len, size_t *off,
				struct omx_dns_question *q)
{
	size_t at = *off;
	size_t wire_len = 0;
	size_t lower_at = 0;

	for (;;) {
		size_t label_len, i;

		if (at >= len)
			return -1;
		label_len = msg[at];
		if (label_len & 0xc0)
			return -1;
		if (label_len == 0)
			break;
		/* This label, its length byte and the root label must fit in 255. */
		if (wire_len + 1 + label_len + 1 > OMX_DNS_MAX_NAME_WIRE)
			return -1;
		if (label_len > len - at - 1)
			return -1;
		if (lower_at > 0)
			q->name[lower_at++] = '.';
		q->qname[wire_len++] = (uint8_t)label_len;
		for (i = 0; i < label_len; i++) {
			uint8_t byte = msg[at + 1 + i];

			if (byte == '\0' || byte == '.' || byte == '\\')
				return -1;
			q->qname[wire_len++] = byte;
			q->name[lower_at++] = omx_ascii_lower((char)byte);
		}
		at += 1 + label_len;
	}
	q->qname[wire_len++] = 0;
	q->qname_len = wire_len;
	q->name[lower_at] = '\0';
	*off = at + 1;
	return 0;
}

/* Accepts only the plain single-question queries we may answer ourselves; anything
 * else (updates, notifies, responses, odd packets) is left to the real resolver. */
int omx_dns_parse_query(const uint8_t *msg, size_t len, struct omx_dns_question *q)
{
	size_t at = OMX_DNS_HEADER_LEN;
	uint16_t flags;

	if (!msg || !q || len < OMX_DNS_HEADER_LEN)
		return -1;
	flags = read_u16(msg + 2);
	if ((flags & OMX_DNS_FLAG_QR) || (flags & OMX_DNS_FLAG_OPCODE_MASK))
		return -1;
	if (read_u16(msg + 4) != 1 || read_u16(msg + 6) != 0 || read_u16(msg + 8) != 0)
		return -1;
	if (decode_question_name(msg, len, &at, q) != 0)
		return -1;
	if (len - at < 4)
		return -1;
	q->id = read_u16(msg);
	q->flags = flags;
	q->qtype = read_u16(msg + at);
	q->qclass = read_u16(msg + at + 2);
	return 0;
}

/* Output cursor that keeps counting past the end of the buffer, so the reply is laid
 * out once and truncation falls out of comparing the count with the capacity. */
struct reply_writer {
	uint8_t *buf;
	size_t cap;
	size_t len;
};

/* The one place that stores into BUF, so the CAP bound is checked in one place. */
static void put_bytes(struct reply_writer *w, const void *data, size_t n)
{
	const uint8_t *bytes = data;
	size_t i;

	for (i = 0; i < n; i++, w->len++)
		if (w->len < w->cap)
			w->buf[w->len] = bytes[i];
}

/* DNS integers are big-endian, whatever the host's byte order. */
static void put_u16(struct reply_writer *w, uint16_t v)
{
	uint8_t be[2] = { (uint8_t)(v >> 8), (uint8_t)v };

	put_bytes(w, be, sizeof be);
}

/* As put_u16, for TTLs and the SOA timers. */
static void put_u32(struct reply_writer *w, uint32_t v)
{
	uint8_t be[4] = { (uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v };

	put_bytes(w, be, sizeof be);
}

/* Every answer record's owner is the question name, so it is a pointer to it. */
static void put_rr_head_at_question(struct reply_writer *w, uint16_t type, uint32_t ttl,
				    uint16_t rdlength)
{
	put_u16(w, DNS_POINTER_TO_QUESTION);
	put_u16(w, type);
	put_u16(w, OMX_DNS_C_IN);
	put_u32(w, ttl);
	put_u16(w, rdlength);
}

/* The SOA for NXDOMAIN/NODATA, with placeholder MNAME/RNAME; its minimum field
 * is the negative-caching TTL, so it carries the answer's TTL like the record itself. */
static void put_soa(struct reply_writer *w, const uint8_t *zone, size_t zone_len, uint32_t ttl)
{
	static const uint8_t mname[] = "\x09localhost";
	static const uint8_t rname[] = "\x06nobody\x07invalid";
	/* sizeof includes the '\0', which is the root label. */
	size_t rdlength = sizeof mname + sizeof rname + 5 * 4;

	put_bytes(w, zone, zone_len);
	put_u16(w, OMX_DNS_T_SOA);
	put_u16(w, OMX_DNS_C_IN);
	put_u32(w, ttl);
	put_u16(w, (uint16_t)rdlength);
	put_bytes(w, mname, sizeof mname);
	put_bytes(w, rname, sizeof rname);
	put_u32(w, SOA_SERIAL);
	put_u32(w, SOA_REFRESH);
	put_u32(w, SOA_RETRY);
	put_u32(w, SOA_EXPIRE);
	put_u32(w, ttl);
}

/* Lays out header, question, and answers or SOA as glibc's resolver and the MTAs
 * expect; writes at most CAP bytes and marks the reply truncated if that cut it. */
int omx_dns_build_reply(const struct omx_dns_question *q, const struct omx_dns_answer *a,
			uint8_t *buf, size_t cap)
{
	uint8_t mx_host[OMX_DNS_MAX_NAME_WIRE + 1];
	size_t mx_host_len;
	uint8_t soa_zone[OMX_DNS_MAX_NAME_WIRE + 1];
	size_t soa_zone_len = 0;
	struct reply_writer w = { buf, cap, 0 };
	int answers = 0, with_soa = 0, i;
	uint16_t flags;

	if (!q || !a || !buf || cap < OMX_DNS_HEADER_LEN)
		return -1;
	if (q->qname_len < 1 || q->qname_len > OMX_DNS_MAX_NAME_WIRE)
		return -1;
	if (a->rcode < 0 || a->rcode > OMX_DNS_RCODE_MASK || a->n < 0 || a->n > OMX_DNS_MAX_ANSWERS)
		return -1;

	/* Check every name first, so a bad one fails before BUF is touched; the MX hosts
	 * are encoded again while writing, to keep one name-sized buffer on the stack. */
	if (a->rcode == OMX_DNS_NOERROR && a->n > 0) {
		answers = a->n;
		if (a->type == OMX_DNS_T_MX || a->type == OMX_DNS_T_PTR) {
			for (i = 0; i < answers; i++)
				if (!a->mx[i].host ||
				    encode_dotted_name(a->mx[i].host, mx_host, &mx_host_len, NULL) != 0)
					return -1;
		} else if (a->type != OMX_DNS_T_A && a->type != OMX_DNS_T_AAAA) {
			return -1;
		}
	} else if (a->rcode == OMX_DNS_NOERROR || a->rcode == OMX_DNS_NXDOMAIN) {
		with_soa = 1;
		if (encode_dotted_name(a->soa_zone ? a->soa_zone : "", soa_zone, &soa_zone_len, NULL) != 0)
			return -1;
	}

	flags = OMX_DNS_FLAG_QR | (q->flags & OMX_DNS_FLAG_OPCODE_MASK) | OMX_DNS_FLAG_AA |
		(q->flags & (OMX_DNS_FLAG_RD | OMX_DNS_FLAG_CD)) | OMX_DNS_FLAG_RA | (uint16_t)a->rcode;
	put_u16(&w, q->id);
	put_u16(&w, flags);
	put_u16(&w, 1);
	put_u16(&w, (uint16_t)answers);
	put_u16(&w, (uint16_t)with_soa);
	put_u16(&w, 0);

	put_bytes(&w, q->qname, q->qname_len);
	put_u16(&w, q->qtype);
	put_u16(&w, q->qclass);

	for (i = 0; i < answers; i++) {
		if (a->type == OMX_DNS_T_MX) {
			encode_dotted_name(a->mx[i].host, mx_host, &mx_host_len, NULL);
			put_rr_head_at_question(&w, OMX_DNS_T_MX, a->ttl, (uint16_t)(2 + mx_host_len));
			put_u16(&w, a->mx[i].pref);
			put_bytes(&w, mx_host, mx_host_len);
		} else if (a->type == OMX_DNS_T_PTR) {
			encode_dotted_name(a->mx[i].host, mx_host, &mx_host_len, NULL);
			put_rr_head_at_question(&w, OMX_DNS_T_PTR, a->ttl, (uint16_t)mx_host_len);
			put_bytes(&w, mx_host, mx_host_len);
		} else if (a->type == OMX_DNS_T_AAAA) {
			/* The IPv4 address in its IPv4-mapped IPv6 form, ::ffff:A.B.C.D. */
			static const uint8_t v4mapped[12] = { [10] = 0xff, [11] = 0xff };

			put_rr_head_at_question(&w, OMX_DNS_T_AAAA, a->ttl, 16);
			put_bytes(&w, v4mapped, sizeof v4mapped);
			put_bytes(&w, a->a[i], sizeof a->a[i]);
		} else {
			put_rr_head_at_question(&w, OMX_DNS_T_A, a->ttl, sizeof a->a[i]);
			put_bytes(&w, a->a[i], sizeof a->a[i]);
		}
	}
	if (with_soa)
		put_soa(&w, soa_zone, soa_zone_len, a->ttl);

	if (w.len > cap) {
		buf[2] |= OMX_DNS_FLAG_TC >> 8;
		return (int)cap; /* below w.len, which is a few kilobytes at most */
	}
	return (int)w.len;
}
