/* Onion MX discovery: the records a mail domain publishes as
 *   _onion-mx._tcp.DOMAIN. IN SRV PRIORITY WEIGHT PORT XXX.onion.
 * Reading the reply to that SRV question (robust against any bytes), deciding
 * what it means under the DNSSEC policy, and ordering the onions as RFC 2782
 * says. Pure: no I/O, no allocation, no globals. */
#ifndef OMX_SRV_H
#define OMX_SRV_H
#include <stddef.h>
#include <stdint.h>

#include "onion.h"

#define OMX_SRV_PREFIX "_onion-mx._tcp."
#define OMX_SRV_MAX_TARGETS 8  /* onions kept per domain (the lowest priorities) */
#define OMX_SRV_MAX_IGNORED 4  /* ignored targets described per answer */
#define OMX_SRV_TTL_MAX 86400  /* a positive answer is kept at most a day */
#define OMX_SRV_NEG_TTL_MAX 3600 /* a negative one at most an hour (RFC 2308 5) */
#define OMX_SRV_NEG_TTL_NO_SOA 60 /* a negative answer without an SOA */

enum omx_dnssec_policy {
	OMX_DNSSEC_OFF,      /* any answer is used; the AD bit is not looked at */
	OMX_DNSSEC_PREFER,   /* signed or unsigned; a failed validation (SERVFAIL) defers */
	OMX_DNSSEC_REQUIRE,  /* only answers with the AD bit of a trusted validating resolver */
};

enum omx_srv_status {
	OMX_SRV_ONION = 1,   /* usable onion targets: the MX answer is made of them */
	OMX_SRV_NONE,        /* no record (NXDOMAIN, NODATA, or the "." target): normal MX */
	OMX_SRV_UNUSABLE,    /* records, but none usable (all targets invalid, or unsigned
			      * under require): normal MX, and the reason is logged */
	OMX_SRV_TEMPFAIL,    /* SERVFAIL, timeout, refused, malformed: try again later */
};

struct omx_srv_record {
	char onion[OMX_ONION_LABEL_LEN + 1]; /* lower-case label, no ".onion" */
	uint16_t priority, weight, port;
};

struct omx_srv_result {
	enum omx_srv_status status;
	int secure;                 /* the answer carried the AD bit */
	uint32_t ttl;               /* seconds it may be cached (0: not at all) */
	int n;                      /* usable records, sorted by priority */
	struct omx_srv_record rec[OMX_SRV_MAX_TARGETS];
	int nignored;               /* targets ignored (only the first few described) */
	struct {
		char name[256];     /* the target as published, dotted */
		char why[80];
	} ignored[OMX_SRV_MAX_IGNORED];
	char detail[128];           /* what happened, for logs and onionmx-check */
};

/* Writes "_onion-mx._tcp.DOMAIN" (no trailing dot) into OUT. Returns 0, or -1 if
 * DOMAIN is empty or the name would exceed 253 characters. */
int omx_srv_qname(const char *domain, char *out, size_t cap);

/* Reads the reply MSG (LEN bytes) to the SRV question QNAME into R, under POLICY.
 * Every record is bounds-checked; compression pointers must point backwards
 * (no loops); CNAMEs in the answer are followed from QNAME. Sets R->status:
 * rcode NXDOMAIN or NOERROR without SRV records -> NONE (TTL from the SOA);
 * SERVFAIL, REFUSED, any other rcode, TC, a malformed packet -> TEMPFAIL;
 * records -> ONION with the usable ones, or UNUSABLE. */
void omx_srv_parse_reply(const uint8_t *msg, size_t len, const char *qname,
			 enum omx_dnssec_policy policy, struct omx_srv_result *r);

/* Classifies what res_nquery(QNAME, C_IN, T_SRV, MSG, CAP) did: RC its return
 * value. The caller zeroes MSG's first 12 bytes before the call, so that "no
 * reply at all" (timeout, no server: RC -1 and still no QR bit) is told apart
 * from a negative reply glibc left in the buffer. */
void omx_srv_classify(int rc, const uint8_t *msg, size_t cap, const char *qname,
		      enum omx_dnssec_policy policy, struct omx_srv_result *r);

/* RFC 2782 order of R's records: ascending priority; among equal priorities a
 * weighted random draw, each record's chance proportional to its weight, and a
 * weight-0 record chosen first only rarely (1 in sum+1) while others weigh
 * more. RAND32(CTX) returns uniform 32-bit values. Fills ORDER with R->n
 * indexes into R->rec (R->rec need not be sorted). */
void omx_srv_order(const struct omx_srv_result *r, uint32_t (*rand32)(void *), void *ctx,
		   int order[OMX_SRV_MAX_TARGETS]);

const char *omx_srv_status_name(enum omx_srv_status st);

/* ---- stronger policies an unsigned SRV answer must not override ----
 * Under srv_dnssec = prefer an unsigned _onion-mx._tcp answer could be forged;
 * a domain that publishes MTA-STS (RFC 8461) or DANE for its MX (RFC 7672)
 * has asked for authenticated TLS to its MX, which a forged onion route would
 * bypass: for such a domain only a DNSSEC-validated SRV answer counts.
 * The readers below take the reply res_nquery left in MSG (RC its return
 * value; MSG's header zeroed before the call) and return -1 when there is no
 * usable reply (none, SERVFAIL, REFUSED, truncated, malformed). */

#define OMX_POLICY_HOSTS_MAX 4 /* MX hosts whose TLSA records are looked at */

/* An _mta-sts.DOMAIN TXT reply: 1 if a TXT record starts "v=STSv1" (RFC 8461
 * 3.1), 0 if none (NXDOMAIN, NODATA, other TXT records). */
int omx_policy_sts_reply(int rc, const uint8_t *msg, size_t cap);

/* An MX reply: the MX host names (up to OMX_POLICY_HOSTS_MAX, lower case, into
 * HOSTS) and, in *SECURE, whether it carried the AD bit. Returns how many
 * hosts (0: no MX records, or only the null MX "."). */
int omx_policy_mx_reply(int rc, const uint8_t *msg, size_t cap, char hosts[][256], int *secure);

/* A TLSA reply: 1 if it holds TLSA records and carried the AD bit, 0 if not. */
int omx_policy_tlsa_reply(int rc, const uint8_t *msg, size_t cap);

/* Marks R (an unsigned OMX_SRV_ONION result for DOMAIN) as not used because
 * DOMAIN publishes POLICY ("MTA-STS" or "DANE"): OMX_SRV_UNUSABLE, each onion
 * among the ignored targets with the reason, and the detail says why. */
void omx_srv_overridden(struct omx_srv_result *r, const char *policy);
#endif
