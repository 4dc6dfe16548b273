/* The names glibc's resolver tries for one name given to res_search or to a
 * host lookup (getaddrinfo, gethostbyname*): the search list of resolv.conf
 * ("search", "domain", or $LOCALDOMAIN) and "options ndots:N" expand it inside
 * glibc, below every entry point we interpose. The hooks walk the same list
 * themselves so that each candidate that is ours is answered in-process and
 * never sent (hook_resolv.c, hook_netdb.c). Pure: no resolver state here. */
#ifndef OMX_SEARCH_H
#define OMX_SEARCH_H
#include <stddef.h>

#define OMX_SEARCH_NAME_MAX 1025 /* NS_MAXDNAME + 1 */
#define OMX_SEARCH_MAX 8         /* glibc keeps at most 6 search domains (MAXDNSRCH) + as-is */

/* The resolver options that decide the expansion (res_state's options). */
#define OMX_SEARCH_DEFNAMES 1    /* RES_DEFNAMES: a name without dots gets the list */
#define OMX_SEARCH_DNSRCH 2      /* RES_DNSRCH: a name with dots gets the list */
#define OMX_SEARCH_NOTLDQUERY 4  /* RES_NOTLDQUERY: a name without dots is never tried alone */

enum omx_search_role {
	OMX_SEARCH_AS_IS_FIRST, /* the name alone, tried first (dots >= ndots) */
	OMX_SEARCH_LISTED,      /* NAME.DOMAIN for one search domain */
	OMX_SEARCH_AS_IS_LAST,  /* the name alone, tried last */
};

struct omx_search_cand {
	char name[OMX_SEARCH_NAME_MAX]; /* without a trailing dot */
	enum omx_search_role role;
};

/* The same, one candidate at a time, for a search list of any length (glibc
 * 2.26 and later walks every domain of resolv.conf's list, not only the
 * MAXDNSRCH (6) that res_state's dnsrch holds). NAME and DNSRCH must stay
 * valid while the iterator is used. */
struct omx_search_iter {
	const char *name;
	const char *const *dnsrch;
	size_t len;
	int dots, trailing_dot, ndots, stage, index, tried_as_is, root_on_list, searched;
	unsigned options;
};
void omx_search_begin(struct omx_search_iter *it, const char *name, int ndots, unsigned options,
		      const char *const *dnsrch);
/* The next candidate into CAND: 1, or 0 when there is none left. */
int omx_search_next(struct omx_search_iter *it, struct omx_search_cand *cand);

/* Whether NAME has a label "onion" (in any case, anywhere: "x.onion",
 * "x.onion.corp.example", "onion."), or a backslash (an escape, which is read
 * before the name is judged). A search candidate can be an onion name, or a
 * search-list form of one, only if its name or its search domain has such a
 * label: without one, only the map can make a candidate ours. */
int omx_search_onion_label(const char *name);

/* The same for any domain of the search list DNSRCH (NULL-terminated, may be NULL). */
int omx_search_list_onion(const char *const *dnsrch);

/* How res_nsearch of NAME is handled, decided from the name and the search
 * settings alone (no map, no copy of a name, no system call): MAP_TYPE, the
 * question is one the map answers (MX, SRV, and A/AAAA in an MTA); NDOTS and
 * DNSRCH as in res_state; LIST_FULL, res_state's six domains are taken (the
 * list may go on in resolv.conf); ENV, getenv (asked for $HOSTALIASES only
 * for a dotless name, which an alias may replace; NULL: no aliases). A
 * candidate can be an onion name only if NAME is one (its last label "onion")
 * or a search domain has an "onion" label; a name with a backslash (an escape)
 * is read before it is judged: these take the whole walk. */
enum omx_search_plan {
	OMX_PLAN_PASS,        /* no name glibc tries can be ours: glibc's own lookup */
	OMX_PLAN_AS_IS_FIRST, /* only the map can make a candidate ours, and glibc
			       * asks NAME first: NAME is judged and asked, the list
			       * only if NAME is not found, one candidate at a time */
	OMX_PLAN_WALK,        /* an onion, an escape, an alias, or the list before
			       * NAME: the whole walk */
};
enum omx_search_plan omx_search_plan(const char *name, int map_type, int ndots, const char *const *dnsrch,
				     int list_full, const char *(*env)(const char *));

/* The search list in TEXT (LEN bytes): with IS_ENV, $LOCALDOMAIN (domains
 * separated by blanks); else a resolv.conf, whose last "search" or "domain"
 * line is the list. Copies the domains into BUF (CAP bytes) and points LIST
 * (room for MAX, NULL-terminated) at them. Returns how many, or -1 if they do
 * not fit. */
int omx_search_list_parse(const char *text, size_t len, int is_env, char *buf, size_t cap, const char **list,
			  int max);

/* Fills CAND (room for OMX_SEARCH_MAX) with the names res_nsearch (glibc 2.36,
 * __res_context_search) tries for NAME, in its order, given NDOTS, OPTIONS
 * (OMX_SEARCH_*) and the search list DNSRCH (NULL-terminated, may be NULL).
 * A name with a trailing dot is tried alone. A candidate too long for a DNS
 * name is left out (glibc fails it without sending it). Returns how many. */
int omx_search_candidates(const char *name, int ndots, unsigned options, const char *const *dnsrch,
			  struct omx_search_cand *cand);

/* The alias file TEXT (LEN bytes, $HOSTALIASES: "alias name" lines) maps a
 * name without dots, NAME, to another: glibc then asks for that name alone,
 * instead of the search. Copies it into OUT (CAP bytes) and returns 1, or 0
 * (no such alias, or it does not fit). Matched as glibc does: the first word
 * of a line, case-insensitively. */
int omx_hostalias(const char *text, size_t len, const char *name, char *out, size_t cap);

/* Whether NAME is a search-list form of an onion name: a valid v3 onion
 * label, then "onion", then more labels ("X.onion.corp.example", what a
 * client's own search list makes of "X.onion"). Such a name carries the
 * onion's address and exists nowhere: it is answered NXDOMAIN, never sent. */
int omx_search_names_onion(const char *name);

/* Whether the hosts file TEXT (LEN bytes, /etc/hosts syntax) names host NAME
 * (case-insensitive, a trailing dot ignored) as a name or an alias: such a name
 * is found by NSS "files" before any DNS search. */
int omx_hosts_has(const char *text, size_t len, const char *name);
#endif
