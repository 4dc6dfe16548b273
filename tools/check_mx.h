/* onionmx-check's reading of a domain's MX reply, kept pure (bytes in, a
 * decision out, no I/O) so that tests/fuzz/fuzz_mx_reply.c can feed it raw
 * replies: every MX host, sorted by preference, classified as the library
 * treats it (clearnet name, onion in the map, onion not in the map, invalid
 * onion name), and the route the MTA would take. */
#ifndef OMX_CHECK_MX_H
#define OMX_CHECK_MX_H
#include <arpa/nameser.h>
#include <stddef.h>
#include <stdint.h>

#include "onion.h"

/* Onion routes kept (listed in the terse line and probed with -p); the mapped
 * onions past these, in preference order, are only counted. */
#define OMX_MX_ONIONS_MAX 32

enum omx_mx_kind {
	OMX_MX_CLEAR,          /* a clearnet name: the MTA connects to it directly */
	OMX_MX_ONION_MAPPED,   /* an onion in the map: reached over Tor */
	OMX_MX_ONION_UNMAPPED, /* a valid onion not in the map: its address lookup defers */
	OMX_MX_ONION_INVALID,  /* an onion name the library answers NXDOMAIN for */
	OMX_MX_KINDS
};

enum omx_mx_route {
	OMX_MX_ROUTE_NULL,     /* null MX (RFC 7505): the domain takes no mail */
	OMX_MX_ROUTE_IMPLICIT, /* no usable MX record: the domain's own address */
	OMX_MX_ROUTE_ONION,    /* every MX host an onion, some in the map */
	OMX_MX_ROUTE_DEFERRED, /* every MX host an onion, none in the map, some valid */
	OMX_MX_ROUTE_CLEARNET, /* some MX host is a clearnet name */
	OMX_MX_ROUTE_BOUNCE,   /* every MX host an invalid onion name */
};

struct omx_mx_host {
	unsigned pref;
	int seq; /* place in the answer section */
	enum omx_mx_kind kind;
	const char *why; /* OMX_MX_ONION_INVALID: what is wrong with the name */
	char host[NS_MAXDNAME];
};

struct omx_mx_onion {
	char onion[OMX_ONION_LABEL_LEN + 1]; /* lower case */
	uint16_t port;                        /* as Tor is asked for it (never 0) */
};

struct omx_mx_result {
	enum omx_mx_route route;
	int n;                    /* MX records read (every one in the answer) */
	struct omx_mx_host *host; /* N of them, by preference (then answer order) */
	int count[OMX_MX_KINDS];  /* hosts of each kind */
	int nonion;               /* onion routes kept, by preference */
	struct omx_mx_onion onion[OMX_MX_ONIONS_MAX];
	int onions_left_out;      /* mapped onion MX hosts past OMX_MX_ONIONS_MAX */
};

/* Whether onion LABEL (LEN lower-case characters) is in the map: 1 with *PORT
 * the port Tor is to be asked for (0 meaning 25), else 0. */
typedef int (*omx_mx_mapped_fn)(void *ctx, const char *label, size_t len, uint16_t *port);

/* Reads the MX reply MSG (LEN bytes, as res_nquery returned it) and decides the
 * route, asking MAPPED (with CTX) about each onion. 0, or -1 out of memory (R
 * then holds nothing). R's host list is allocated: omx_mx_free() it. */
int omx_mx_decide(const uint8_t *msg, size_t len, omx_mx_mapped_fn mapped, void *ctx,
		  struct omx_mx_result *r);
void omx_mx_free(struct omx_mx_result *r);

/* Names what came back for a failed query in OUT: the rcode of the reply in
 * MSG (LEN bytes, zeroed before the query), or that there was no reply. */
void omx_mx_failure_text(const uint8_t *msg, size_t len, char *out, size_t cap);
#endif
