/* Interposers for the res_* resolver API (and the pre-2.34 __res_* names): MX
 * questions for mapped domains and every question for an onion name are answered
 * here, the rest goes to the real resolver untouched. */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <resolv.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "answer.h"
#include "hooks.h"
#include "log.h"
#include "onion.h"
#include "real.h"
#include "state.h"

#define QUERY_ID 0x6f6d /* glibc picks a random one; ours is never matched against */

/* Sets h_errno the way glibc's RES_SET_H_ERRNO does: the thread's and STATP's. */
static void set_h_errno(res_state statp, int value)
{
	statp->res_h_errno = value;
	h_errno = value;
}

/* Decides question Q; if ours, writes the reply into ANSWER and stores what the
 * res_n* query functions return in *RET (SEARCH_STYLE) or what res_nsend returns.
 * Returns 0 to pass the call through. */
static int answer_question(res_state statp, struct omx_dns_question *q, unsigned char *answer,
			   int anslen, int search_style, int *ret)
{
	char hosts[OMX_MAP_MAX_TARGETS][OMX_HOST_MAX];
	struct omx_dns_answer a;
	int len;

	if (!answer || anslen < 0 || !omx_enabled())
		return 0;
	if (!omx_answer_current(statp, q, &a, hosts)) {
		if (q->qtype == OMX_DNS_T_MX)
			omx_socket_routed(0);
		return 0;
	}
	if (q->qtype != OMX_DNS_T_SRV && q->qtype != OMX_DNS_T_PTR && a.type != OMX_DNS_T_PTR &&
	    !omx_onion_label(q->name, strlen(q->name), &(size_t){ 0 }))
		omx_socket_routed(1); /* a mapped domain's MX, A or AAAA */
	len = omx_dns_build_reply(q, &a, answer, (size_t)anslen);
	if (!search_style) {
		*ret = len;
		if (len < 0)
			errno = EMSGSIZE;
		return 1;
	}
	if (len < 0) {
		set_h_errno(statp, NO_RECOVERY);
		errno = EMSGSIZE;
		*ret = -1;
	} else if (a.rcode == 3) {
		set_h_errno(statp, HOST_NOT_FOUND);
		*ret = -1;
	} else if (a.rcode != 0) {
		set_h_errno(statp, TRY_AGAIN);
		*ret = -1;
	} else if (a.n == 0) {
		set_h_errno(statp, NO_DATA);
		*ret = -1;
	} else {
		*ret = len; /* like glibc, h_errno is left as it was */
	}
	return 1;
}

/* The common body of res_nsearch/res_nquery: NAME as a question. */
__attribute__((noinline)) static int answer_name(res_state statp, const char *name, int class, int type,
						 unsigned char *answer, int anslen, int *ret)
{
	struct omx_dns_question q;
	uint16_t flags = 0;
	size_t label_len;

	/* Only MX, _smtp._tcp SRV and PTR questions, onion names and, in an MTA,
	 * A/AAAA questions can be ours (and names with escapes, which are read
	 * before they are judged): everything else leaves at once, without
	 * building a question or looking at the map. */
	int rc;

	if (!name || (type != OMX_DNS_T_MX && type != OMX_DNS_T_SRV && type != OMX_DNS_T_PTR &&
		      !((type == OMX_DNS_T_A || type == OMX_DNS_T_AAAA) && omx_mta) &&
		      !strchr(name, '\\') && !omx_onion_label(name, strlen(name), &label_len)))
		return 0;
	rc = omx_dns_question_from_name(&q, name, class, type, QUERY_ID);
	if (rc == OMX_DNS_NAME_UNREADABLE && answer && anslen >= 0 && omx_enabled() &&
	    (type == OMX_DNS_T_MX || omx_onion_label(q.name, strlen(q.name), &label_len) ||
	     strstr(q.name, "onion"))) {
		/* Escaped '.', '\\' or NUL in a label: we cannot tell whether the
		 * server would read it as ours, so it does not go (fail closed). */
		set_h_errno(statp ? statp : &_res, TRY_AGAIN);
		*ret = -1;
		return 1;
	}
	if (rc != 0)
		return 0;
	if (!statp || (statp->options & RES_RECURSE))
		flags |= 0x0100; /* RD, as res_nmkquery would have set it */
	q.flags = flags;
	return answer_question(statp, &q, answer, anslen, 1, ret);
}

int omx_res_current(res_state statp)
{
	if (!(statp->options & RES_INIT))
		return statp == &_res ? res_init() : -1;
	if (statp == &_res) {
		/* glibc reloads a changed resolv.conf into _res before each lookup;
		 * res_mkquery (which sends nothing) does the same, so the list read
		 * afterwards is the one glibc would use. */
		unsigned char scratch[NS_PACKETSZ];
		res_mkquery(QUERY, ".", C_IN, T_A, NULL, 0, NULL, scratch, sizeof(scratch));
	}
	return 0;
}

/* glibc's __res_context_hostalias: a name without dots that $HOSTALIASES maps
 * (outside secure mode, without RES_NOALIASES) is asked for as that name alone. */
static int host_alias(res_state statp, const char *name, char *out, size_t cap)
{
	const char *file;
	char text[8192];
	ssize_t got;
	size_t len = 0;
	int fd;

	if (strchr(name, '.') || (statp->options & RES_NOALIASES) || !(file = secure_getenv("HOSTALIASES")) ||
	    (fd = open(file, O_RDONLY | O_CLOEXEC)) < 0)
		return 0;
	while (len < sizeof(text) && (got = read(fd, text + len, sizeof(text) - len)) > 0)
		len += (size_t)got;
	close(fd);
	return omx_hostalias(text, len, name, out, cap);
}

int omx_search_may_onion(res_state statp, const char *name)
{
	if (!(statp->options & RES_INIT) && (statp != &_res || res_init() != 0))
		return 0;
	/* A full res_state list may go on in resolv.conf: the walk reads it. */
	return omx_search_list_onion((const char *const *)statp->dnsrch) || statp->dnsrch[MAXDNSRCH - 1] ||
	       (!strchr(name, '.') && getenv("HOSTALIASES"));
}

/* The search list glibc walks for STATP. res_state holds at most MAXDNSRCH (6)
 * domains, but glibc (2.26 and later) walks its whole configured list: when
 * STATP's is full, the list is read again from $LOCALDOMAIN or resolv.conf,
 * and used if it starts with the same domains (else STATP's own, set by the
 * program, is what glibc uses too). */
static const char *const *search_domains(struct omx_search_ctx *c, res_state statp)
{
	const char *env = getenv("LOCALDOMAIN");
	char text[16384];
	ssize_t got;
	size_t len = 0;
	int fd, n;

	if (!statp->dnsrch[MAXDNSRCH - 1])
		return (const char *const *)statp->dnsrch;
	if (env) {
		n = omx_search_list_parse(env, strlen(env), 1, c->buf, sizeof(c->buf), c->list, OMX_SEARCH_LIST_MAX + 1);
	} else {
		if ((fd = open(_PATH_RESCONF, O_RDONLY | O_CLOEXEC)) < 0)
			return (const char *const *)statp->dnsrch;
		while (len < sizeof(text) && (got = read(fd, text + len, sizeof(text) - len)) > 0)
			len += (size_t)got;
		close(fd);
		n = omx_search_list_parse(text, len, 0, c->buf, sizeof(c->buf), c->list, OMX_SEARCH_LIST_MAX + 1);
	}
	if (n < 0) {
		omx_log(LOG_WARNING, "the search list is longer than %d domains or %zu bytes: only its first %d are walked",
			OMX_SEARCH_LIST_MAX, sizeof(c->buf), MAXDNSRCH);
		return (const char *const *)statp->dnsrch;
	}
	for (int i = 0; i < MAXDNSRCH; i++)
		if (i >= n || strcmp(c->list[i], statp->dnsrch[i]) != 0)
			return (const char *const *)statp->dnsrch;
	return c->list;
}

void omx_search_start(struct omx_search_ctx *c, res_state statp, const char *name)
{
	c->name = name;
	c->ndots = statp->ndots;
	c->options = 0;
	c->dnsrch = NULL;
	if (host_alias(statp, name, c->alias, sizeof(c->alias) - 1)) {
		/* Asked for as it is, alone: the iterator's trailing-dot case. */
		strcat(c->alias, ".");
		c->name = c->alias;
	} else {
		if (statp->options & RES_DEFNAMES)
			c->options |= OMX_SEARCH_DEFNAMES;
		if (statp->options & RES_DNSRCH)
			c->options |= OMX_SEARCH_DNSRCH;
		if (statp->options & RES_NOTLDQUERY)
			c->options |= OMX_SEARCH_NOTLDQUERY;
		c->dnsrch = search_domains(c, statp);
	}
	omx_search_rewind(c);
}

void omx_search_rewind(struct omx_search_ctx *c)
{
	omx_search_begin(&c->it, c->name, c->ndots, c->options, c->dnsrch);
}

int omx_search_step(struct omx_search_ctx *c, struct omx_search_cand *cand)
{
	return omx_search_next(&c->it, cand);
}

enum omx_cand_kind omx_search_kind(const char *cand, int class, int type, int mta)
{
	char hosts[OMX_MAP_MAX_TARGETS][OMX_HOST_MAX];
	struct omx_dns_question q;
	struct omx_dns_answer a;
	const char *label;
	size_t label_len;
	int ours;

	if ((label = omx_onion_label(cand, strlen(cand), &label_len)))
		return omx_onion_check(label, label_len) == OMX_ONION_OK ? OMX_CAND_ONION : OMX_CAND_OURS;
	if (type != OMX_DNS_T_MX && type != OMX_DNS_T_SRV &&
	    !((type == OMX_DNS_T_A || type == OMX_DNS_T_AAAA) && mta))
		return OMX_CAND_PASS;
	if (omx_dns_question_from_name(&q, cand, class, type, QUERY_ID) != 0)
		return OMX_CAND_OURS; /* unreadable: answer_name decides (fails closed) */
	/* The map alone (discovery, which asks DNS, runs when the candidate's turn comes). */
	ours = omx_answer_question(omx_map_acquire(), NULL, &q, mta, &a, hosts);
	omx_map_release();
	return ours ? OMX_CAND_OURS : OMX_CAND_PASS;
}

/* res_nsearch's walk over the search list (glibc 2.36 __res_context_search), done
 * here when a candidate is ours (or, for a question the map answers, always:
 * each candidate is judged at its turn, by the map and, for an MX question
 * with discovery on, by discovery): each candidate that is ours is answered
 * in-process, the others go to DNS one by one with the real res_nquery; when
 * a candidate is a valid onion name, the others are not sent at all (they
 * carry its label). AS_IS_ASKED: NAME alone was asked already and not found
 * (h_errno as it left it), so the walk goes on with the list. Returns 0 to
 * leave NAME to glibc (never once AS_IS_ASKED). */
static int search_walk(res_state statp, const char *name, int class, int type, unsigned char *answer,
		       int anslen, int as_is_asked, int *ret)
{
	struct omx_search_ctx c;
	struct omx_search_cand cand;
	int map_type = type == OMX_DNS_T_MX || type == OMX_DNS_T_SRV ||
		       ((type == OMX_DNS_T_A || type == OMX_DNS_T_AAAA) && omx_mta);
	int n = 0, same = 0, ours = 0, onion = 0, saved_herrno = -1, got_nodata = 0, got_servfail = 0, done = 0;

	if (!name || !answer || anslen < 0 || !statp)
		return 0;
	if (as_is_asked) {
		saved_herrno = statp->res_h_errno;
	} else {
		if (!omx_enabled())
			return 0;
		if (!map_type && !omx_search_may_onion(statp, name))
			return 0; /* only an onion could be ours here, and none can be formed */
		if (omx_res_current(statp) != 0)
			return 0; /* glibc fails it the same way, sending nothing */
	}
	omx_search_start(&c, statp, name);
	if (!map_type || omx_search_onion_label(c.name) || omx_search_list_onion(c.dnsrch)) {
		/* An onion may be among the candidates: look at every one first. */
		while (omx_search_step(&c, &cand)) {
			enum omx_cand_kind kind;

			if (n++ == 0)
				same = strcmp(cand.name, name) == 0;
			if (!omx_enabled())
				return 0;
			kind = omx_search_kind(cand.name, class, type, omx_mta);
			ours |= kind != OMX_CAND_PASS;
			onion |= kind == OMX_CAND_ONION;
		}
		omx_search_rewind(&c);
	} else {
		/* Only the map can make one ours: each is judged at its turn. */
		while (n < 2 && omx_search_step(&c, &cand))
			if (n++ == 0)
				same = strcmp(cand.name, name) == 0;
		omx_search_rewind(&c);
		ours = 1;
	}
	if (!as_is_asked && (n == 0 || (n == 1 && same)))
		return 0; /* nothing expanded: glibc asks for NAME, which answer_name judges */
	if (!as_is_asked && !ours)
		return 0;
	if (!as_is_asked) {
		/* As glibc's search starts: h_errno stays HOST_NOT_FOUND through a success. */
		errno = 0;
		set_h_errno(statp, HOST_NOT_FOUND);
	}
	while (omx_search_step(&c, &cand)) {
		int r, herr, sent = 0;

		if (cand.role == OMX_SEARCH_LISTED && done)
			continue;
		if (as_is_asked && cand.role != OMX_SEARCH_LISTED)
			continue; /* NAME alone: asked already */
		if (onion && omx_search_kind(cand.name, class, type, omx_mta) != OMX_CAND_ONION) {
			omx_log(LOG_DEBUG, "not sending %s to DNS: a search-list form of an onion name", cand.name);
			r = -1;
			set_h_errno(statp, HOST_NOT_FOUND);
		} else if (!answer_name(statp, cand.name, class, type, answer, anslen, &r)) {
			r = omx_real.res_nquery(statp, cand.name, class, type, answer, anslen);
			sent = 1;
		} else if (r < 0 && statp->res_h_errno == TRY_AGAIN) {
			/* Ours, and it cannot be answered now (no map, damaged map,
			 * an onion we cannot route): defer, do not try further names. */
			*ret = -1;
			return 1;
		}
		if (r > 0) {
			*ret = r;
			return 1;
		}
		herr = statp->res_h_errno;
		if (cand.role == OMX_SEARCH_AS_IS_FIRST) {
			saved_herrno = herr;
		} else if (cand.role == OMX_SEARCH_LISTED) {
			if (sent && errno == ECONNREFUSED) {
				/* No server: glibc gives up at once. */
				set_h_errno(statp, TRY_AGAIN);
				*ret = -1;
				return 1;
			}
			if (herr == NO_DATA)
				got_nodata = 1;
			else if (herr == TRY_AGAIN && anslen >= 4 && (answer[3] & 0x0f) == 2 /* SERVFAIL */)
				got_servfail = 1;
			else if (herr != HOST_NOT_FOUND)
				done = 1;
		}
	}
	if (saved_herrno != -1)
		set_h_errno(statp, saved_herrno);
	else if (got_nodata)
		set_h_errno(statp, NO_DATA);
	else if (got_servfail)
		set_h_errno(statp, TRY_AGAIN);
	*ret = -1;
	return 1;
}

/* NAME alone first, for a question the map answers, when no candidate can be
 * an onion: NAME is judged (the map, discovery), then asked of DNS as glibc
 * would (RELOADS, for res_search: with res_query, which reloads a changed
 * resolv.conf as res_search does); only if it is not found is the search list
 * walked, with the settings glibc has then. */
__attribute__((noinline)) static int search_as_is_first(res_state statp, const char *name, int class, int type,
							unsigned char *answer, int anslen, int reloads, int *ret)
{
	size_t len;

	if (answer_name(statp, name, class, type, answer, anslen, ret))
		return 1;
	/* As glibc's search starts: h_errno stays HOST_NOT_FOUND through a success. */
	errno = 0;
	set_h_errno(statp, HOST_NOT_FOUND);
	*ret = reloads ? omx_real.res_query(name, class, type, answer, anslen)
		       : omx_real.res_nquery(statp, name, class, type, answer, anslen);
	len = strlen(name);
	if (*ret > 0 || (len && name[len - 1] == '.'))
		return 1;
	/* Not found: the list, if glibc's settings (reloaded) have one for NAME. */
	if (!statp->dnsrch[0] || !(statp->options & (strchr(name, '.') ? RES_DNSRCH : RES_DEFNAMES)))
		return 1; /* h_errno is what NAME alone left, as glibc's */
	return search_walk(statp, name, class, type, answer, anslen, 1, ret);
}

/* res_search/res_nsearch when a candidate may be an onion, or the list comes
 * before NAME: NAME as it is when it is ours by the map or an onion (never
 * expanded); else the search list walked when it can reach one of ours; else
 * NAME as answer_name judges it. */
__attribute__((noinline)) static int search_slow(res_state statp, const char *name, int class, int type,
						 unsigned char *answer, int anslen, int map_type, int *ret)
{
	if (name && (map_type || omx_onion_label(name, strlen(name), &(size_t){ 0 })) && omx_enabled() &&
	    omx_search_kind(name, class, type, omx_mta) != OMX_CAND_PASS)
		return answer_name(statp, name, class, type, answer, anslen, ret);
	return search_walk(statp, name, class, type, answer, anslen, 0, ret) ||
	       answer_name(statp, name, class, type, answer, anslen, ret);
}

static const char *env_get(const char *name)
{
	return getenv(name);
}

/* res_search/res_nsearch (RELOADS: res_search). A question no candidate can
 * make ours leaves at once: only onion names and, for the questions the map
 * answers, mapped domains are ours, so NAME's last label and the search
 * domains' labels are looked at, and nothing else is read (no map, no copy
 * of a name, no system call). */
__attribute__((always_inline)) static inline int search_name(res_state statp, const char *name, int class,
							      int type, unsigned char *answer, int anslen, int reloads,
							      int *ret)
{
	int map_type = type == OMX_DNS_T_MX || type == OMX_DNS_T_SRV ||
		       ((type == OMX_DNS_T_A || type == OMX_DNS_T_AAAA) && omx_mta);

	if (name && statp && answer && anslen >= 0 && (statp->options & RES_INIT)) {
		switch (omx_search_plan(name, map_type, statp->ndots, (const char *const *)statp->dnsrch,
					statp->dnsrch[MAXDNSRCH - 1] != NULL, env_get)) {
		case OMX_PLAN_PASS:
			/* Not even NAME alone is ours, unless it is a reverse name. */
			return type == OMX_DNS_T_PTR && answer_name(statp, name, class, type, answer, anslen, ret);
		case OMX_PLAN_AS_IS_FIRST:
			return omx_enabled() &&
			       search_as_is_first(statp, name, class, type, answer, anslen, reloads, ret);
		default:
			break;
		}
	}
	return search_slow(statp, name, class, type, answer, anslen, map_type, ret);
}

int res_nsearch(res_state statp, const char *name, int class, int type, unsigned char *answer,
		int anslen)
{
	int ret;

	omx_ready();
	if (search_name(statp, name, class, type, answer, anslen, 0, &ret))
		return ret;
	return omx_real.res_nsearch(statp, name, class, type, answer, anslen);
}

int res_nquery(res_state statp, const char *name, int class, int type, unsigned char *answer,
	       int anslen)
{
	int ret;

	omx_ready();
	if (answer_name(statp, name, class, type, answer, anslen, &ret))
		return ret;
	return omx_real.res_nquery(statp, name, class, type, answer, anslen);
}

/* NAME.DOMAIN as res_nquerydomain forms it; 0, or -1 if too long (left to glibc). */
static int join_domain(char *out, size_t cap, const char *name, const char *domain)
{
	int n;

	if (!name)
		return -1;
	n = domain ? snprintf(out, cap, "%s.%s", name, domain) : snprintf(out, cap, "%s", name);
	return n < 0 || (size_t)n >= cap ? -1 : 0;
}

int res_nquerydomain(res_state statp, const char *name, const char *domain, int class, int type,
		     unsigned char *answer, int anslen)
{
	char full[NS_MAXDNAME + 2];
	int ret;

	omx_ready();
	if (join_domain(full, sizeof(full), name, domain) == 0 &&
	    answer_name(statp, full, class, type, answer, anslen, &ret))
		return ret;
	return omx_real.res_nquerydomain(statp, name, domain, class, type, answer, anslen);
}

/* A query (QR and opcode clear) whose question we cannot read (QDCOUNT other
 * than 1, a compression pointer, '.', '\\' or NUL in a label): it may be about
 * ours, so it is not sent (fail closed). */
static int unreadable_query(const unsigned char *msg, int msglen)
{
	struct omx_dns_question q;

	if (!msg || msglen < 12 || (msg[2] & 0xf8) || !omx_enabled() ||
	    omx_dns_parse_query(msg, (size_t)msglen, &q) == 0)
		return 0;
	omx_log(LOG_WARNING, "refused a DNS query passed to res_send whose question cannot be read");
	errno = ECONNREFUSED;
	return 1;
}

int res_nsend(res_state statp, const unsigned char *msg, int msglen, unsigned char *answer,
	      int anslen)
{
	struct omx_dns_question q;
	int ret;

	omx_ready();
	if (msg && msglen > 0 && omx_dns_parse_query(msg, (size_t)msglen, &q) == 0 &&
	    answer_question(statp, &q, answer, anslen, 0, &ret))
		return ret;
	if (unreadable_query(msg, msglen))
		return -1;
	return omx_real.res_nsend(statp, msg, msglen, answer, anslen);
}

int res_search(const char *name, int class, int type, unsigned char *answer, int anslen)
{
	int ret;

	omx_ready();
	if (search_name(&_res, name, class, type, answer, anslen, 1, &ret))
		return ret;
	return omx_real.res_search(name, class, type, answer, anslen);
}

int res_query(const char *name, int class, int type, unsigned char *answer, int anslen)
{
	int ret;

	omx_ready();
	if (answer_name(&_res, name, class, type, answer, anslen, &ret))
		return ret;
	return omx_real.res_query(name, class, type, answer, anslen);
}

int res_querydomain(const char *name, const char *domain, int class, int type,
		    unsigned char *answer, int anslen)
{
	char full[NS_MAXDNAME + 2];
	int ret;

	omx_ready();
	if (join_domain(full, sizeof(full), name, domain) == 0 &&
	    answer_name(&_res, full, class, type, answer, anslen, &ret))
		return ret;
	return omx_real.res_querydomain(name, domain, class, type, answer, anslen);
}

int res_send(const unsigned char *msg, int msglen, unsigned char *answer, int anslen)
{
	struct omx_dns_question q;
	int ret;

	omx_ready();
	if (msg && msglen > 0 && omx_dns_parse_query(msg, (size_t)msglen, &q) == 0 &&
	    answer_question(&_res, &q, answer, anslen, 0, &ret))
		return ret;
	if (unreadable_query(msg, msglen))
		return -1;
	return omx_real.res_send(msg, msglen, answer, anslen);
}

/* Programs built against glibc before 2.34 call these names (GLIBC_2.2.5): the
 * same functions under a second name, set at the assembler level because the
 * declarations in <resolv.h> carry attributes an alias would have to repeat. */
#define OLD_NAME(name) __asm__(".globl __" #name "\n.type __" #name ", @function\n.set __" #name ", " #name)
OLD_NAME(res_nsearch);
OLD_NAME(res_nquery);
OLD_NAME(res_nquerydomain);
OLD_NAME(res_nsend);
OLD_NAME(res_search);
OLD_NAME(res_query);
OLD_NAME(res_querydomain);
OLD_NAME(res_send);
