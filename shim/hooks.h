/* What the hook files share: they are the thin LD_PRELOAD shell around the core. */
#ifndef OMX_HOOKS_H
#define OMX_HOOKS_H
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <resolv.h>

#include "answer.h"
#include "layout.h"
#include "search.h"
#include "sockaddr.h"


/* omx_answer_question() on the current map (acquired and released here), then,
 * for an MX question the map leaves open and with discovery on, the domain's
 * _onion-mx._tcp SRV records (discover.c): from the shared cache, else asked of
 * the real resolver with STATP (NULL: a private resolver state). */
int omx_answer_current(res_state statp, const struct omx_dns_question *q,
		       struct omx_dns_answer *a, char hosts[][OMX_HOST_MAX]);

/* The search list (search.h): the candidates glibc tries for NAME with resolver
 * state STATP (its options, ndots and search list, $LOCALDOMAIN included, the
 * whole list even beyond the 6 that STATP holds, and a $HOSTALIASES alias).
 * omx_search_start fills C; omx_search_step gives the candidates one by one;
 * omx_search_start again (or omx_search_rewind) starts over. */
#define OMX_SEARCH_LIST_MAX 64
struct omx_search_ctx {
	struct omx_search_iter it;
	const char *name;
	int ndots;
	unsigned options;
	const char *const *dnsrch;
	char alias[OMX_SEARCH_NAME_MAX + 1];
	const char *list[OMX_SEARCH_LIST_MAX + 1];
	char buf[4096];
};
void omx_search_start(struct omx_search_ctx *c, res_state statp, const char *name);
void omx_search_rewind(struct omx_search_ctx *c);
int omx_search_step(struct omx_search_ctx *c, struct omx_search_cand *cand);

/* Whether a search-list candidate of NAME can be an onion name at all: a
 * search domain under .onion in STATP (as glibc left it: no system call), or
 * a $HOSTALIASES alias of a dotless name. Initialises _res if glibc has not. */
int omx_search_may_onion(res_state statp, const char *name);

/* Makes STATP what glibc's next lookup would use: initialised, and for _res
 * reloaded if resolv.conf changed. 0, or -1 (an uninitialised private state:
 * glibc fails the lookup). */
int omx_res_current(res_state statp);

/* What a search candidate is to us, for a question of TYPE (hook_resolv.c). */
enum omx_cand_kind {
	OMX_CAND_PASS = 0,  /* not ours: glibc may send it */
	OMX_CAND_OURS,      /* a mapped domain (by the map alone) or an onion name */
	OMX_CAND_ONION,     /* a valid v3 onion name: every other candidate of the
			     * same name carries its label, so none is sent */
};
enum omx_cand_kind omx_search_kind(const char *cand, int class, int type, int mta);

/* The current delivery routed a domain: a mapped one (MAPPED, its MX or address
 * answered here) or another (an MX lookup passed to DNS). An MTA delivery that
 * routed mapped domains only may connect to onions only (hook_socket.c). */
void omx_socket_routed(int mapped);

/* DNS sent around libc's resolver (hook_dns.c). */

/* connect() to port 53: connects and remembers FD, so what it sends is examined. */
int omx_dns_connect(int fd, const struct sockaddr *sa, socklen_t len);
void omx_dns_untrack(int fd);

/* The port of a send's destination SA (AF_UNSPEC read as AF_INET, as UDP
 * does), or -1. */
int omx_dns_dest_port(const struct sockaddr *sa, socklen_t len);

/* Sockets connected to port 53: one bit per descriptor, read without a lock;
 * descriptors beyond the bitmap are examined at each send. */
#define OMX_DNS_TRACKED_FDS 65536
extern uint64_t omx_dns_fds[OMX_DNS_TRACKED_FDS / 64];
/* 1 until the descriptors the process inherited have been examined (at its
 * first send or chroot(), hook_dns.c): until then every send is looked at. */
extern int omx_dns_unexamined;

/* In-place replies not read yet: one bit per descriptor, and a count of those
 * beyond the bitmap (hook_dns.c). */
extern uint64_t omx_dns_pending_fds[OMX_DNS_TRACKED_FDS / 64];
extern int omx_dns_pending_high;

/* omx_dns_untrack(FD) when FD has a mark or a reply to forget: a connect()
 * elsewhere costs two bit tests, not a call. */
static inline void omx_dns_untrack_maybe(int fd)
{
	if ((unsigned)fd >= OMX_DNS_TRACKED_FDS
		    ? __atomic_load_n(&omx_dns_pending_high, __ATOMIC_RELAXED) != 0
		    : ((__atomic_load_n(&omx_dns_fds[(unsigned)fd / 64], __ATOMIC_RELAXED) |
			__atomic_load_n(&omx_dns_pending_fds[(unsigned)fd / 64], __ATOMIC_RELAXED)) >>
		       ((unsigned)fd % 64)) & 1)
		omx_dns_untrack(fd);
}

/* Whether a send on FD to SA must go through omx_dns_send (no system call). */
static inline int omx_dns_send_maybe(int fd, const struct sockaddr *sa)
{
	return sa || (unsigned)fd >= OMX_DNS_TRACKED_FDS ||
	       __builtin_expect(__atomic_load_n(&omx_dns_unexamined, __ATOMIC_RELAXED), 0) ||
	       (__atomic_load_n(&omx_dns_fds[(unsigned)fd / 64], __ATOMIC_RELAXED) >>
		((unsigned)fd % 64)) & 1;
}

/* A send of IOV on FD to DEST (NULL: its peer) with FLAGS: if it is a DNS
 * query that must not leave, answers it in place or refuses it and returns 1
 * with *RET (and errno) set as the call returns; else 0: send it. */
int omx_dns_send(int fd, const struct iovec *iov, size_t iovcnt, int flags, const struct sockaddr *dest,
		 socklen_t dlen, ssize_t *ret);

/* Our hooks by their hidden names (never through the GOT). */
extern int omx_connect(int, const struct sockaddr *, socklen_t);
extern ssize_t omx_sendto(int, const void *, size_t, int, const struct sockaddr *, socklen_t);
extern ssize_t omx_sendmsg(int, const struct msghdr *, int);
#endif
