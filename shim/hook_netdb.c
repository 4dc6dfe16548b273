/* Interposers for host lookups (getaddrinfo, gethostbyname*): an onion name gets
 * its synthetic address from the map and never reaches NSS or DNS (RFC 7686); in
 * an MTA so does a mapped mail domain (its onions' addresses); every other name
 * passes through untouched. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <pthread.h>
#include <resolv.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "addrinfo.h"
#include "answer.h"
#include "hooks.h"
#include "real.h"
#include "state.h"

/* What a host lookup of a name is to us. */
enum host_kind { HOST_PASS = 0, HOST_OK, HOST_NONAME, HOST_AGAIN };

/* Decides host NAME: an onion name (RFC 7686: never NSS or DNS) gets its synthetic
 * address; in an MTA (omx_mta) a mapped mail domain gets its onions' addresses,
 * as its MX lookup would (Postfix with DNS lookups disabled calls
 * getaddrinfo(domain); answering the name itself here also keeps glibc from
 * trying it with the search list's suffixes). Fills ADDRS and *N for HOST_OK. */
static enum host_kind host_lookup(const char *name, uint32_t addrs[OMX_MAP_MAX_TARGETS], int *n)
{
	const struct omx_map *map;
	struct in6_addr ignored;
	const char *label;
	size_t len;
	int got;

	if (!name || !*name)
		return HOST_PASS;
	if ((label = omx_onion_label(name, strlen(name), &len))) {
		if (!omx_enabled())
			return HOST_PASS;
		map = omx_map_acquire();
		enum omx_name_status st = omx_resolve_onion_label(map, omx_discovery, name, label, len,
								  &addrs[0]);
		omx_map_release();
		*n = 1;
		return st == OMX_NAME_OK ? HOST_OK : st == OMX_NAME_INVALID ? HOST_NONAME : HOST_AGAIN;
	}
	if (!omx_enabled() || !omx_mta || inet_pton(AF_INET, name, &ignored) == 1 ||
	    inet_pton(AF_INET6, name, &ignored) == 1)
		return HOST_PASS;
	map = omx_map_acquire();
	got = omx_resolve_domain(map, name, addrs);
	omx_map_release();
	if (got == 0)
		return HOST_PASS;
	if (got > 0)
		omx_socket_routed(1);
	*n = got;
	return got < 0 ? HOST_AGAIN : HOST_OK;
}

/* ADDR (host order) as "A.B.C.D" into TEXT (16 bytes): inet_ntop goes through
 * sprintf, a tenth of an onion connect's instructions. */
static void dotted_quad(uint32_t addr, char *text)
{
	for (int shift = 24; shift >= 0; shift -= 8) {
		unsigned octet = (addr >> shift) & 255;

		if (octet >= 100)
			*text++ = (char)('0' + octet / 100);
		if (octet >= 10)
			*text++ = (char)('0' + octet / 10 % 10);
		*text++ = (char)('0' + octet % 10);
		*text++ = shift ? '.' : '\0';
	}
}

static const char *env_get(const char *name)
{
	return getenv(name);
}

/* Whether a host lookup of NAME is glibc's alone, decided without the map:
 * outside an MTA only onion names are ours, and neither NAME (its last label)
 * nor the search list (as glibc left it in _res, as host_walk_needed reads it)
 * can make one. The common case, and no system call, no map, no copy. */
static inline int host_pass_fast(const char *name)
{
	res_state statp;

	if (omx_mta || !name || !*name || !((statp = &_res)->options & RES_INIT))
		return 0;
	return omx_search_plan(name, 0, statp->ndots, (const char *const *)statp->dnsrch,
			       statp->dnsrch[MAXDNSRCH - 1] != NULL, env_get) == OMX_PLAN_PASS;
}

/* ---- names the search list expands (search.h) ---- */

/* The candidates of a host name glibc would try, and what each is to us. */
struct host_walk {
	struct omx_search_ctx c;
	struct omx_search_cand which; /* the candidate answered in-process */
	int onion;
};

/* Whether the hosts file names NAME (NSS "files" answers it before any search). */
static int in_hosts_file(const char *name)
{
	enum { HOSTS_MAX = 1 << 20 };
	char *text;
	ssize_t got;
	size_t len = 0;
	int fd = open("/etc/hosts", O_RDONLY | O_CLOEXEC), found;

	if (fd < 0)
		return 0;
	text = malloc(HOSTS_MAX);
	if (!text) {
		close(fd);
		return 0; /* cannot tell: walk, so that nothing of ours is sent */
	}
	while (len < HOSTS_MAX && (got = read(fd, text + len, HOSTS_MAX - len)) > 0)
		len += (size_t)got;
	close(fd);
	found = omx_hosts_has(text, len, name);
	free(text);
	return found;
}

/* Fills W with NAME's search-list candidates when one of them is ours (a
 * mapped domain in an MTA, an onion anywhere); 0 leaves NAME to glibc. Names
 * in /etc/hosts are left to glibc, which finds them there before any search. */
static int host_walk_needed(const char *name, struct host_walk *w)
{
	struct in6_addr ignored;
	size_t len;
	int ours = 0, n = 0, same = 0;

	if (!name || !*name || name[(len = strlen(name)) - 1] == '.' || !omx_enabled())
		return 0;
	if (!omx_mta) {
		/* Outside an MTA only onion names are ours: only a search domain
		 * under .onion (or a $HOSTALIASES alias) can make one, which is the
		 * quick test, on the state as glibc left it (no system call on
		 * this path: an onion search domain added to resolv.conf is seen
		 * once glibc has reloaded it, after at most one lookup). */
		if (!omx_search_may_onion(&_res, name))
			return 0;
	}
	if (inet_pton(AF_INET, name, &ignored) == 1 || inet_pton(AF_INET6, name, &ignored) == 1 ||
	    omx_res_current(&_res) != 0)
		return 0;
	omx_search_start(&w->c, &_res, name);
	w->onion = 0;
	if (!omx_search_onion_label(w->c.name) && !omx_search_list_onion(w->c.dnsrch)) {
		/* Only the map can make a candidate ours, and host_lookup found
		 * NAME not mapped: NAME alone, the only candidate, is glibc's. */
		while (n < 2 && omx_search_step(&w->c, &w->which))
			if (n++ == 0)
				same = strcmp(w->which.name, name) == 0;
		if (n == 0 || (n == 1 && same))
			return 0;
		omx_search_rewind(&w->c);
	}
	while (omx_search_step(&w->c, &w->which)) {
		enum omx_cand_kind kind = omx_search_kind(w->which.name, C_IN, T_A, omx_mta);

		ours |= kind != OMX_CAND_PASS;
		w->onion |= kind == OMX_CAND_ONION;
	}
	return ours && !in_hosts_file(name);
}

/* Looks up candidate name FQDN (with its trailing dot: no further search)
 * with the real function: 1 found (the result kept in CTX), 0 not found, -1 a
 * temporary failure. */
typedef int (*real_lookup_fn)(void *ctx, const char *fqdn);

/* Walks W as glibc would: a candidate that is ours is answered in-process
 * (addresses in ADDRS and *N, the candidate in W->which); one that is not goes
 * to the real lookup REAL (HOST_PASS returned: its result is in CTX); an
 * onion's other forms are not sent. */
static enum host_kind host_walk(struct host_walk *w, uint32_t addrs[OMX_MAP_MAX_TARGETS], int *n,
				real_lookup_fn real, void *ctx)
{
	struct omx_search_cand cand;
	int again = 0;

	omx_search_rewind(&w->c);
	while (omx_search_step(&w->c, &cand)) {
		enum omx_cand_kind kind = omx_search_kind(cand.name, C_IN, T_A, omx_mta);
		char fqdn[OMX_SEARCH_NAME_MAX + 1];

		if (w->onion && kind != OMX_CAND_ONION)
			continue; /* carries the onion's label: never sent (RFC 7686) */
		if (kind != OMX_CAND_PASS) {
			switch (host_lookup(cand.name, addrs, n)) {
			case HOST_OK:
				w->which = cand;
				return HOST_OK;
			case HOST_AGAIN:
				return HOST_AGAIN; /* ours and not answerable now: defer */
			default:
				continue; /* does not exist: the next candidate, as glibc */
			}
		}
		snprintf(fqdn, sizeof(fqdn), "%s.", cand.name);
		switch (real(ctx, fqdn)) {
		case 1:
			return HOST_PASS;
		case -1:
			again = 1;
			break;
		default:
			break;
		}
	}
	return again ? HOST_AGAIN : HOST_NONAME;
}

/* glibc's own list for each address's literal (the dotted quad, or ::ffff: and
 * the dotted quad for AF_INET6) under H, chained into *HEAD; its error
 * otherwise (the part already chained is the caller's to free). */
static int gai_literals(const uint32_t *addrs, int n, const struct addrinfo *h, const char *service,
			struct addrinfo **head)
{
	struct addrinfo **tail = head;
	int rc = 0;

	for (int i = 0; i < n && rc == 0; i++) {
		char literal[INET6_ADDRSTRLEN];
		struct addrinfo *one = NULL;

		if (h->ai_family == AF_INET6) {
			strcpy(literal, "::ffff:");
			dotted_quad(addrs[i], literal + 7);
		} else {
			dotted_quad(addrs[i], literal);
		}
		rc = omx_real.getaddrinfo(literal, service, h, &one);
		if (rc == 0) {
			*tail = one;
			while (*tail)
				tail = &(*tail)->ai_next;
		}
	}
	return rc;
}

/* Our answer is AF_INET or, asked for AF_INET6, the same addresses IPv4-mapped
 * (::ffff:240.x.y.z: what connect() on an IPv6 socket also recognises), so an
 * IPv6-only MTA gets addresses it can use. AF_UNSPEC gives IPv4 only: the mapped
 * form is the same endpoint, and listing both would make the MTA try each onion
 * twice. */
/* getaddrinfo's result for NAME (the canonical name) from our addresses. */
static int gai_build(const char *name, const char *service, const struct addrinfo *hints,
		     const uint32_t *addrs, int n, struct addrinfo **res)
{
	struct addrinfo h = { .ai_family = AF_UNSPEC, .ai_flags = AI_V4MAPPED | AI_ADDRCONFIG };
	struct addrinfo *head = NULL;
	int rc;

	if (hints)
		h = *hints;
	if (h.ai_family != AF_UNSPEC && h.ai_family != AF_INET && h.ai_family != AF_INET6)
		return EAI_FAMILY;
	/* The list glibc gives for the literal: services, socket types and the
	 * allocation freeaddrinfo expects all come out exactly as for any name (its
	 * freeaddrinfo frees entry by entry, so lists can be chained). The synthetic
	 * address is reachable through the library whatever the interfaces, so
	 * AI_ADDRCONFIG does not apply. The common calls are built here as glibc
	 * builds them (addrinfo.h: no literal written and parsed back); any other
	 * goes to glibc itself and gets its list or its error. */
	h.ai_flags = (h.ai_flags & ~(AI_ADDRCONFIG | AI_CANONNAME | AI_V4MAPPED | AI_ALL)) |
		     AI_NUMERICHOST;
	rc = omx_addrinfo_build(addrs, n, &h, service, &head);
	if (rc == OMX_AI_NOT_FAST)
		rc = gai_literals(addrs, n, &h, service, &head);
	if (rc == 0 && head && hints && (hints->ai_flags & AI_CANONNAME)) {
		size_t len = strlen(name);
		char *canon = malloc(len + 1);

		if (!canon) {
			rc = EAI_MEMORY;
		} else {
			memcpy(canon, name, len + 1);
			if (len > 1 && canon[len - 1] == '.')
				canon[len - 1] = '\0';
			free(head->ai_canonname);
			head->ai_canonname = canon;
		}
	}
	if (rc != 0) {
		if (head)
			freeaddrinfo(head);
		return rc;
	}
	*res = head;
	return 0;
}

struct gai_ctx {
	const char *service;
	const struct addrinfo *hints;
	struct addrinfo **res;
	int rc;
};

static int gai_real(void *p, const char *fqdn)
{
	struct gai_ctx *c = p;

	c->rc = omx_real.getaddrinfo(fqdn, c->service, c->hints, c->res);
	return c->rc == 0 ? 1 : c->rc == EAI_AGAIN ? -1 : 0;
}

#define GAI_PASS 1 /* not an EAI_* code: the lookup is glibc's */

/* getaddrinfo when NODE is ours, or reached by the search list: its result,
 * or GAI_PASS to leave the call to glibc. */
__attribute__((noinline)) static int gai_ours(const char *node, const char *service,
					      const struct addrinfo *hints, struct addrinfo **res)
{
	uint32_t addrs[OMX_MAP_MAX_TARGETS];
	int n = 0;
	struct host_walk w;
	struct gai_ctx c = { service, hints, res, 0 };

	if (hints && (hints->ai_flags & AI_NUMERICHOST)) {
		/* An onion or mail domain is not a literal (Postfix asks this first). */
		size_t len;

		if (node && omx_onion_label(node, strlen(node), &len) && omx_enabled())
			return EAI_NONAME;
		return GAI_PASS;
	}
	switch (host_lookup(node, addrs, &n)) {
	case HOST_PASS:
		break;
	case HOST_OK:
		return gai_build(node, service, hints, addrs, n, res);
	case HOST_NONAME:
		return EAI_NONAME;
	default:
		return EAI_AGAIN;
	}
	if (!host_walk_needed(node, &w))
		return GAI_PASS;
	switch (host_walk(&w, addrs, &n, gai_real, &c)) {
	case HOST_PASS:
		return c.rc;
	case HOST_OK:
		return gai_build(w.which.name, service, hints, addrs, n, res);
	case HOST_NONAME:
		return EAI_NONAME;
	default:
		return EAI_AGAIN;
	}
}

/* Our answer is AF_INET or, asked for AF_INET6, the same addresses IPv4-mapped
 * (::ffff:240.x.y.z: what connect() on an IPv6 socket also recognises), so an
 * IPv6-only MTA gets addresses it can use. AF_UNSPEC gives IPv4 only: the mapped
 * form is the same endpoint, and listing both would make the MTA try each onion
 * twice. */
int getaddrinfo(const char *node, const char *service, const struct addrinfo *hints,
		struct addrinfo **res)
{
	int rc;

	omx_ready();
	if (host_pass_fast(node))
		return omx_real.getaddrinfo(node, service, hints, res);
	rc = gai_ours(node, service, hints, res);
	return rc == GAI_PASS ? omx_real.getaddrinfo(node, service, hints, res) : rc;
}

/* getaddrinfo_a (in libc since glibc 2.34): its worker threads call glibc's
 * getaddrinfo from inside libc, past our interposer, so each request is
 * decided here first. Ours are answered at once (synchronously); the rest go
 * to the real getaddrinfo_a together, with the caller's notification, which
 * is then sent once they are done, as glibc would. */
struct gai_notify {
	void (*fn)(union sigval);
	union sigval value;
};

static void *gai_notify_thread(void *p)
{
	struct gai_notify n = *(struct gai_notify *)p;

	free(p);
	n.fn(n.value);
	return NULL;
}

/* The notification SIG asks for, when every request was answered here. */
static void gai_notify(const struct sigevent *sig)
{
	if (sig->sigev_notify == SIGEV_SIGNAL) {
		sigqueue(getpid(), sig->sigev_signo, sig->sigev_value);
	} else if (sig->sigev_notify == SIGEV_THREAD && sig->sigev_notify_function) {
		struct gai_notify *n = malloc(sizeof(*n));
		pthread_attr_t attr, *ap = sig->sigev_notify_attributes;
		pthread_t tid;

		if (!n)
			return;
		n->fn = sig->sigev_notify_function;
		n->value = sig->sigev_value;
		if (!ap) {
			pthread_attr_init(&attr);
			pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
			ap = &attr;
		}
		if (pthread_create(&tid, ap, gai_notify_thread, n) != 0)
			free(n);
		if (ap == &attr)
			pthread_attr_destroy(&attr);
	}
}

int getaddrinfo_a(int mode, struct gaicb *list[], int ent, struct sigevent *sig)
{
	struct gaicb **rest;
	int left = 0, ours = 0, rc;

	omx_ready();
	if (!omx_real.getaddrinfo_a) {
		errno = ENOSYS;
		return EAI_SYSTEM;
	}
	if (ent <= 0 || !list)
		return omx_real.getaddrinfo_a(mode, list, ent, sig);
	rest = malloc((size_t)ent * sizeof(*rest));
	if (!rest)
		return EAI_AGAIN; /* as glibc when it has no memory for the requests */
	for (int i = 0; i < ent; i++) {
		if (!list[i])
			continue;
		rc = gai_ours(list[i]->ar_name, list[i]->ar_service, list[i]->ar_request, &list[i]->ar_result);
		if (rc == GAI_PASS) {
			rest[left++] = list[i];
		} else {
			list[i]->__return = rc; /* what gai_error reads */
			ours++;
		}
	}
	if (!ours)
		rc = omx_real.getaddrinfo_a(mode, list, ent, sig);
	else if (left)
		rc = omx_real.getaddrinfo_a(mode, rest, left, sig);
	else {
		rc = 0;
		if (mode == GAI_NOWAIT && sig)
			gai_notify(sig);
	}
	free(rest);
	return rc;
}

/* Where gethostbyname's result lives: one per thread (glibc's is one per process). */
static __thread struct hostent tls_host;
static __thread union {
	char buf[1024]; /* 18 pointers, 16 IPv6 addresses and a name fit */
	void *align;
} tls_host_buf;

/* Fills ENT for NAME with the N addresses ADDRS (host order) in FAMILY (AF_INET6:
 * IPv4-mapped) using BUF; returns 0 or ERANGE. */
static int fill_hostent(struct hostent *ent, const char *name, int family, const uint32_t *addrs,
			int n, char *buf, size_t buflen)
{
	size_t len = strlen(name), alen = family == AF_INET6 ? 16 : 4;
	uintptr_t p = (uintptr_t)buf, align = sizeof(char *);
	char **ptrs;
	char *addrp, *namep;
	size_t pad = (align - (p % align)) % align;

	if (len > 1 && name[len - 1] == '.')
		len--;
	if (buflen < pad + ((size_t)n + 2) * sizeof(char *) + (size_t)n * alen + len + 1)
		return ERANGE;
	ptrs = (char **)(buf + pad);
	addrp = (char *)(ptrs + n + 2);
	namep = addrp + (size_t)n * alen;
	for (int i = 0; i < n; i++) {
		uint32_t be = htonl(addrs[i]);
		char *at = addrp + (size_t)i * alen;

		if (alen == 16) {
			memset(at, 0, 10);
			memset(at + 10, 0xff, 2);
			at += 12;
		}
		memcpy(at, &be, 4);
		ptrs[i] = addrp + (size_t)i * alen; /* h_addr_list */
	}
	ptrs[n] = NULL;
	ptrs[n + 1] = NULL; /* h_aliases */
	memcpy(namep, name, len);
	namep[len] = '\0';
	ent->h_name = namep;
	ent->h_aliases = &ptrs[n + 1];
	ent->h_addrtype = alen == 16 ? AF_INET6 : AF_INET;
	ent->h_length = (int)alen;
	ent->h_addr_list = ptrs;
	return 0;
}

/* The gethostbyname*_r result for NAME in FAMILY, once host_lookup said KIND. */
static int hostent_r(enum host_kind kind, const char *name, int family, const uint32_t *addrs,
		     int n, struct hostent *ret, char *buf, size_t buflen, struct hostent **result,
		     int *h_errnop)
{
	*result = NULL;
	switch (kind) {
	case HOST_OK:
		break;
	case HOST_NONAME:
		/* h_errno too, as glibc's: Python reads it, not *H_ERRNOP. */
		*h_errnop = h_errno = HOST_NOT_FOUND;
		return 0;
	default:
		*h_errnop = h_errno = TRY_AGAIN;
		return EAGAIN;
	}
	if (family != AF_INET && family != AF_INET6) {
		*h_errnop = NO_DATA;
		return 0;
	}
	if (fill_hostent(ret, name, family, addrs, n, buf, buflen)) {
		*h_errnop = NETDB_INTERNAL;
		errno = ERANGE;
		return ERANGE;
	}
	*h_errnop = NETDB_SUCCESS;
	*result = ret;
	return 0;
}

/* A gethostbyname* call: its arguments, for the real lookup of a candidate. */
struct ghbn_ctx {
	int family, two, reentrant;
	struct hostent *ret, **result, *static_result;
	char *buf;
	size_t buflen;
	int *h_errnop, rc;
};

static int ghbn_real(void *p, const char *fqdn)
{
	struct ghbn_ctx *c = p;
	int herr;

	if (!c->reentrant) {
		c->static_result = c->two ? omx_real.gethostbyname2(fqdn, c->family) : omx_real.gethostbyname(fqdn);
		herr = h_errno;
		return c->static_result ? 1 : herr == TRY_AGAIN ? -1 : 0;
	}
	c->rc = c->two ? omx_real.gethostbyname2_r(fqdn, c->family, c->ret, c->buf, c->buflen, c->result, c->h_errnop)
		       : omx_real.gethostbyname_r(fqdn, c->ret, c->buf, c->buflen, c->result, c->h_errnop);
	if (c->rc == ERANGE || *c->result)
		return 1; /* found, or the caller's buffer is too small: its answer */
	return *c->h_errnop == TRY_AGAIN ? -1 : 0;
}

/* host_lookup, then the search list: HOST_PASS with *WALKED set means the real
 * lookup of a candidate answered (its result is in C); *NAME_OUT is the name
 * our answer is for. */
static enum host_kind host_decide(const char *name, uint32_t addrs[OMX_MAP_MAX_TARGETS], int *n,
				  const char **name_out, struct host_walk *w, struct ghbn_ctx *c, int *walked)
{
	enum host_kind kind;

	*walked = 0;
	*name_out = name;
	if (host_pass_fast(name))
		return HOST_PASS;
	kind = host_lookup(name, addrs, n);
	if (kind != HOST_PASS || !host_walk_needed(name, w))
		return kind;
	kind = host_walk(w, addrs, n, ghbn_real, c);
	if (kind == HOST_OK)
		*name_out = w->which.name;
	*walked = kind == HOST_PASS;
	return kind;
}

int gethostbyname2_r(const char *name, int family, struct hostent *ret, char *buf,
		     size_t buflen, struct hostent **result, int *h_errnop)
{
	uint32_t addrs[OMX_MAP_MAX_TARGETS];
	struct ghbn_ctx c = { family, 1, 1, ret, result, NULL, buf, buflen, h_errnop, 0 };
	struct host_walk w;
	const char *as;
	int n = 0, walked;
	enum host_kind kind;

	omx_ready();
	kind = host_decide(name, addrs, &n, &as, &w, &c, &walked);
	if (walked)
		return c.rc;
	if (kind == HOST_PASS)
		return omx_real.gethostbyname2_r(name, family, ret, buf, buflen, result, h_errnop);
	return hostent_r(kind, as, family, addrs, n, ret, buf, buflen, result, h_errnop);
}

int gethostbyname_r(const char *name, struct hostent *ret, char *buf, size_t buflen,
		    struct hostent **result, int *h_errnop)
{
	uint32_t addrs[OMX_MAP_MAX_TARGETS];
	struct ghbn_ctx c = { AF_INET, 0, 1, ret, result, NULL, buf, buflen, h_errnop, 0 };
	struct host_walk w;
	const char *as;
	int n = 0, walked;
	enum host_kind kind;

	omx_ready();
	kind = host_decide(name, addrs, &n, &as, &w, &c, &walked);
	if (walked)
		return c.rc;
	if (kind == HOST_PASS)
		return omx_real.gethostbyname_r(name, ret, buf, buflen, result, h_errnop);
	return hostent_r(kind, as, AF_INET, addrs, n, ret, buf, buflen, result, h_errnop);
}

/* gethostbyname2 for a name host_lookup took as ours (KIND). */
static struct hostent *hostent_static(enum host_kind kind, const char *name, int family,
				      const uint32_t *addrs, int n)
{
	struct hostent *result;
	int herr = 0;

	hostent_r(kind, name, family, addrs, n, &tls_host, tls_host_buf.buf, sizeof(tls_host_buf.buf),
		  &result, &herr);
	if (!result)
		h_errno = herr;
	return result;
}

struct hostent *gethostbyname2(const char *name, int family)
{
	uint32_t addrs[OMX_MAP_MAX_TARGETS];
	struct ghbn_ctx c = { .family = family, .two = 1 };
	struct host_walk w;
	const char *as;
	int n = 0, walked;
	enum host_kind kind;

	omx_ready();
	kind = host_decide(name, addrs, &n, &as, &w, &c, &walked);
	if (walked)
		return c.static_result;
	if (kind == HOST_PASS)
		return omx_real.gethostbyname2(name, family);
	return hostent_static(kind, as, family, addrs, n);
}

struct hostent *gethostbyname(const char *name)
{
	uint32_t addrs[OMX_MAP_MAX_TARGETS];
	struct ghbn_ctx c = { .family = AF_INET };
	struct host_walk w;
	const char *as;
	int n = 0, walked;
	enum host_kind kind;

	omx_ready();
	kind = host_decide(name, addrs, &n, &as, &w, &c, &walked);
	if (walked)
		return c.static_result;
	if (kind == HOST_PASS)
		return omx_real.gethostbyname(name);
	return hostent_static(kind, as, AF_INET, addrs, n);
}

/* ---- reverse lookups (getnameinfo, gethostbyaddr*) ---- */

/* glibc's NSS would ask DNS the PTR question about a synthetic address, and so
 * tell the server which onion this host mails: answered here as res_query's
 * (answer.c): the onion's name in NAME; HOST_NONAME for an address that stands
 * for none; HOST_AGAIN when the map is missing or damaged. HOST_PASS for any
 * other address, after a range check only. */
static enum host_kind ptr_lookup(uint32_t addr, char name[OMX_HOST_MAX])
{
	struct omx_dns_question q;
	struct omx_dns_answer a;
	char hosts[OMX_MAP_MAX_TARGETS][OMX_HOST_MAX], rev[sizeof("255.255.255.255.in-addr.arpa")];

	if ((addr & 0xf0000000u) != 0xf0000000u && !omx_is_synthetic(addr))
		return HOST_PASS;
	if (!omx_enabled())
		return HOST_PASS;
	dotted_quad((addr & 255) << 24 | (addr >> 8 & 255) << 16 | (addr >> 16 & 255) << 8 | addr >> 24, rev);
	strcat(rev, ".in-addr.arpa");
	if (omx_dns_question_from_name(&q, rev, OMX_DNS_C_IN, OMX_DNS_T_PTR, 0) != 0)
		return HOST_AGAIN;
	if (!omx_answer_current(NULL, &q, &a, hosts))
		return HOST_PASS; /* 240.0.0.0/4 outside every range of ours */
	if (a.rcode == OMX_DNS_NXDOMAIN)
		return HOST_NONAME;
	if (a.rcode != OMX_DNS_NOERROR || a.n < 1 || a.type != OMX_DNS_T_PTR)
		return HOST_AGAIN;
	memcpy(name, hosts[0], OMX_HOST_MAX);
	name[OMX_HOST_MAX - 1] = '\0';
	return HOST_OK;
}

/* The IPv4 address (host order) in ADDR of LEN bytes in FAMILY: AF_INET, or
 * AF_INET6 ::ffff:A.B.C.D. 0 for anything else. */
static int addr_v4(const void *addr, size_t len, int family, uint32_t *out)
{
	const unsigned char *b = addr;

	if (!addr)
		return 0;
	if (family == AF_INET && len >= 4) {
		*out = (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
		return 1;
	}
	if (family == AF_INET6 && len >= 16 && IN6_IS_ADDR_V4MAPPED((const struct in6_addr *)addr)) {
		*out = (uint32_t)b[12] << 24 | (uint32_t)b[13] << 16 | (uint32_t)b[14] << 8 | b[15];
		return 1;
	}
	return 0;
}

/* The IPv4 address in socket address SA, as addr_v4. */
static int sockaddr_v4(const struct sockaddr *sa, socklen_t len, uint32_t *out)
{
	if (!sa || len < sizeof(sa_family_t))
		return 0;
	if (sa->sa_family == AF_INET && len >= sizeof(struct sockaddr_in))
		return addr_v4(&((const struct sockaddr_in *)sa)->sin_addr, 4, AF_INET, out);
	if (sa->sa_family == AF_INET6 && len >= sizeof(struct sockaddr_in6))
		return addr_v4(&((const struct sockaddr_in6 *)sa)->sin6_addr, 16, AF_INET6, out);
	return 0;
}

int getnameinfo(const struct sockaddr *sa, socklen_t salen, char *host, socklen_t hostlen, char *serv,
		socklen_t servlen, int flags)
{
	char name[OMX_HOST_MAX];
	uint32_t addr;
	size_t len;
	int rc;

	omx_ready();
	if (!host || !hostlen || (flags & NI_NUMERICHOST) || !sockaddr_v4(sa, salen, &addr))
		return omx_real.getnameinfo(sa, salen, host, hostlen, serv, servlen, flags);
	switch (ptr_lookup(addr, name)) {
	case HOST_PASS:
		return omx_real.getnameinfo(sa, salen, host, hostlen, serv, servlen, flags);
	case HOST_AGAIN:
		return EAI_AGAIN;
	case HOST_NONAME:
		/* As glibc for an address without a name: its numeric form, unless
		 * a name is required. */
		if (flags & NI_NAMEREQD)
			return EAI_NONAME;
		return omx_real.getnameinfo(sa, salen, host, hostlen, serv, servlen, flags | NI_NUMERICHOST);
	default:
		break;
	}
	/* The service (and the checks of SA) as glibc does them; no name lookup
	 * (glibc fails NI_NAMEREQD with NI_NUMERICHOST). */
	rc = omx_real.getnameinfo(sa, salen, host, hostlen, serv, servlen, (flags & ~NI_NAMEREQD) | NI_NUMERICHOST);
	if (rc != 0)
		return rc;
	len = strlen(name);
	if (len >= hostlen)
		return EAI_OVERFLOW;
	memcpy(host, name, len + 1);
	return 0;
}

int gethostbyaddr_r(const void *addr, socklen_t len, int type, struct hostent *ret, char *buf, size_t buflen,
		    struct hostent **result, int *h_errnop)
{
	char name[OMX_HOST_MAX];
	uint32_t v4;
	enum host_kind kind;

	omx_ready();
	if (!addr_v4(addr, len, type, &v4) || (kind = ptr_lookup(v4, name)) == HOST_PASS)
		return omx_real.gethostbyaddr_r(addr, len, type, ret, buf, buflen, result, h_errnop);
	return hostent_r(kind, name, type, &v4, 1, ret, buf, buflen, result, h_errnop);
}

struct hostent *gethostbyaddr(const void *addr, socklen_t len, int type)
{
	char name[OMX_HOST_MAX];
	uint32_t v4;
	enum host_kind kind;

	omx_ready();
	if (!addr_v4(addr, len, type, &v4) || (kind = ptr_lookup(v4, name)) == HOST_PASS)
		return omx_real.gethostbyaddr(addr, len, type);
	return hostent_static(kind, name, type, &v4, 1);
}
