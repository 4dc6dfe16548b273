/* DNS that a program sends itself, around libc's resolver (Net::DNS in swaks,
 * dnspython, c-ares, libasr, BIND's dig): a query about a mapped domain's MX or
 * an onion name must not leave the process.
 *
 * UDP: answered in place. The reply is sent from the socket to itself; a
 * connected socket is connected to its own address for that one datagram and
 * then back to its server (the queued reply stays readable, the local port is
 * unchanged). recvfrom/recvmsg/recvmmsg then report the server's address as the
 * reply's source, because clients (dnspython, kdig, dig) drop a reply from
 * anyone else.
 * TCP: no reply can be slipped into the kernel's stream, so the query is
 * refused (ECONNREFUSED, the connection shut down): the client reports a failed
 * server at once. The stream is followed message by message (a length prefix
 * written apart from its body, several queries in one write).
 * Fail closed: a query (QR clear, opcode QUERY) to port 53 that we cannot read
 * (QDCOUNT other than 1, a compression pointer or '.', '\\' or NUL in the
 * question name), corked (MSG_MORE, UDP_CORK) or over 4 KiB is refused.
 * Other ports: a datagram sent with an explicit address that reads as a query
 * we answer is answered in place whatever the port (a UDP DNS server elsewhere).
 *
 * Which descriptors: sockets connect()ed to port 53 are marked in a bitmap (one
 * bit test on every write); dup/dup2/dup3/fcntl(F_DUPFD*) copy the mark,
 * descriptors received over SCM_RIGHTS are examined once, those inherited across
 * exec once at the process's first send or chroot(), and descriptors above the
 * bitmap at each send. */
#include <arpa/inet.h>
#include <stdint.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include "answer.h"
#include "hooks.h"
#include "log.h"
#include "once.h"
#include "real.h"
#include "state.h"

#define DNS_PORT 53
#define QUERY_MAX 4096          /* the largest query we read; larger ones to port 53 are refused */
#define PENDING_MAX 64          /* in-place replies not yet read, process-wide */
#define STREAMS_MAX 32          /* TCP streams to port 53 in the middle of a message */
#define HELD_MAX 300            /* prefix + header + the longest question */

OMX_COLD_TABLE uint64_t omx_dns_fds[OMX_DNS_TRACKED_FDS / 64];
int omx_dns_unexamined;         /* hooks.h */
static int inherited_once;      /* the examination of inherited descriptors (once.h) */
OMX_COLD_TABLE uint64_t omx_dns_pending_fds[OMX_DNS_TRACKED_FDS / 64];
int omx_dns_pending_high;       /* pending replies on descriptors beyond the bitmap */

static void set_bit(uint64_t *bits, int fd, int on)
{
	uint64_t bit;

	if ((unsigned)fd >= OMX_DNS_TRACKED_FDS)
		return;
	bit = 1ull << ((unsigned)fd % 64);
	if (on)
		__atomic_or_fetch(&bits[(unsigned)fd / 64], bit, __ATOMIC_RELAXED);
	else
		__atomic_and_fetch(&bits[(unsigned)fd / 64], ~bit, __ATOMIC_RELAXED);
}

static int get_bit(const uint64_t *bits, int fd)
{
	return (unsigned)fd < OMX_DNS_TRACKED_FDS &&
	       (__atomic_load_n(&bits[(unsigned)fd / 64], __ATOMIC_RELAXED) >> ((unsigned)fd % 64)) & 1;
}

/* ---- in-place replies waiting to be read, and the source they must show ---- */

/* A slot holds its descriptor + 1, so that 0 is free and the tables start
 * free as static storage (zero) does: no start-up loop writing -1 over their
 * 28 KB, which cost a page fault per 4 KB in every process. */
static struct pending {
	int fd1;                /* the descriptor + 1; 0: free */
	uint16_t id;            /* the reply's DNS ID */
	struct sockaddr_storage self, server;
	socklen_t self_len, server_len;
} pending[PENDING_MAX] OMX_COLD_TABLE;
static pthread_mutex_t pending_lock = PTHREAD_MUTEX_INITIALIZER;

/* TCP streams to port 53: bytes held back (a prefix without its question yet)
 * and how much of an approved message is still to come. */
static struct stream {
	int fd1;                /* the descriptor + 1; 0: free */
	size_t approved_left;
	size_t held_len;
	uint8_t held[HELD_MAX];
} streams[STREAMS_MAX] OMX_COLD_TABLE;
static pthread_mutex_t streams_lock = PTHREAD_MUTEX_INITIALIZER;

/* In a fork() child: another thread of the parent may have held the locks. */
static void dns_after_fork(void)
{
	omx_once_after_fork(&inherited_once);
	pthread_mutex_init(&pending_lock, NULL);
	pthread_mutex_init(&streams_lock, NULL);
}

__attribute__((constructor)) static void init_tables(void)
{
	omx_atfork(NULL, NULL, dns_after_fork);
}

static int same_address(const struct sockaddr_storage *a, socklen_t alen, const void *b, socklen_t blen)
{
	const struct sockaddr *sb = b;

	if (!b || blen < (socklen_t)sizeof(sa_family_t) || a->ss_family != sb->sa_family)
		return 0;
	if (a->ss_family == AF_INET && blen >= (socklen_t)sizeof(struct sockaddr_in)) {
		const struct sockaddr_in *x = (const void *)a, *y = b;
		return x->sin_port == y->sin_port && x->sin_addr.s_addr == y->sin_addr.s_addr;
	}
	if (a->ss_family == AF_INET6 && blen >= (socklen_t)sizeof(struct sockaddr_in6)) {
		const struct sockaddr_in6 *x = (const void *)a, *y = b;
		return x->sin6_port == y->sin6_port &&
		       memcmp(&x->sin6_addr, &y->sin6_addr, sizeof(x->sin6_addr)) == 0;
	}
	(void)alen;
	return 0;
}

/* Remembers that the datagram from SELF with ID on FD is our reply for SERVER. */
static void remember_pending(int fd, uint16_t id, const struct sockaddr_storage *self, socklen_t self_len,
			     const struct sockaddr *server, socklen_t server_len)
{
	struct pending *slot = NULL;

	pthread_mutex_lock(&pending_lock);
	for (size_t i = 0; i < PENDING_MAX && !slot; i++)
		if (pending[i].fd1 == 0)
			slot = &pending[i];
	if (!slot)
		slot = &pending[(size_t)id % PENDING_MAX]; /* full: the oldest reply read shows our own address */
	else if (fd >= OMX_DNS_TRACKED_FDS)
		__atomic_add_fetch(&omx_dns_pending_high, 1, __ATOMIC_RELAXED);
	slot->fd1 = fd + 1;
	slot->id = id;
	slot->self = *self;
	slot->self_len = self_len;
	memset(&slot->server, 0, sizeof(slot->server));
	memcpy(&slot->server, server, server_len < sizeof(slot->server) ? server_len : sizeof(slot->server));
	slot->server_len = server_len;
	if (slot->server.ss_family == AF_UNSPEC)
		slot->server.ss_family = AF_INET; /* as the kernel read it */
	set_bit(omx_dns_pending_fds, fd, 1);
	pthread_mutex_unlock(&pending_lock);
}

/* After a receive on FD of BUF (N bytes) from NAME (*NAMELEN, of CAP bytes):
 * if it is one of our in-place replies, report the server as its source. */
static void fix_source(int fd, const void *buf, size_t n, void *name, socklen_t *namelen, socklen_t cap,
		       int consume)
{
	const uint8_t *p = buf;
	int left = 0, done = 0;

	if (n < 2)
		return;
	pthread_mutex_lock(&pending_lock);
	for (size_t i = 0; i < PENDING_MAX; i++) {
		struct pending *e = &pending[i];
		if (e->fd1 != fd + 1)
			continue;
		/* Without a NAME to fill (recv-style), the entry is only used up. */
		if (!done && e->id == (uint16_t)(p[0] << 8 | p[1]) &&
		    (!name || !namelen || same_address(&e->self, e->self_len, name, *namelen))) {
			if (name && namelen) {
				memcpy(name, &e->server, e->server_len < cap ? e->server_len : cap);
				*namelen = e->server_len;
			}
			if (!consume) {
				left = 1;
				break;
			}
			e->fd1 = 0;
			if (fd >= OMX_DNS_TRACKED_FDS)
				__atomic_sub_fetch(&omx_dns_pending_high, 1, __ATOMIC_RELAXED);
			done = 1; /* one reply, one entry */
			continue;
		}
		left = 1;
	}
	set_bit(omx_dns_pending_fds, fd, left);
	pthread_mutex_unlock(&pending_lock);
}

static int pending_maybe(int fd)
{
	return get_bit(omx_dns_pending_fds, fd) ||
	       (fd >= OMX_DNS_TRACKED_FDS && __atomic_load_n(&omx_dns_pending_high, __ATOMIC_RELAXED));
}

/* ---- descriptor tracking ---- */

/* Forgets the in-place replies recorded for FD (a new connection on it). */
static void drop_pending(int fd)
{
	if (!pending_maybe(fd))
		return;
	pthread_mutex_lock(&pending_lock);
	for (size_t i = 0; i < PENDING_MAX; i++)
		if (pending[i].fd1 == fd + 1) {
			pending[i].fd1 = 0;
			if (fd >= OMX_DNS_TRACKED_FDS)
				__atomic_sub_fetch(&omx_dns_pending_high, 1, __ATOMIC_RELAXED);
		}
	set_bit(omx_dns_pending_fds, fd, 0);
	pthread_mutex_unlock(&pending_lock);
}

void omx_dns_untrack(int fd)
{
	if (get_bit(omx_dns_fds, fd))
		set_bit(omx_dns_fds, fd, 0);
	drop_pending(fd);
}

static void forget_stream(int fd);

/* The kernel's struct linux_dirent64 (glibc declares none for getdents64 before 2.30). */
struct omx_dirent64 {
	uint64_t d_ino;
	int64_t d_off;
	unsigned short d_reclen;
	unsigned char d_type;
	char d_name[];
};

int omx_dns_connect(int fd, const struct sockaddr *sa, socklen_t len)
{
	int rc = omx_real.connect(fd, sa, len);
	int saved = errno;

	set_bit(omx_dns_fds, fd, rc == 0 || errno == EINPROGRESS || errno == EALREADY || errno == EISCONN);
	forget_stream(fd);
	drop_pending(fd);
	errno = saved;
	return rc;
}

/* Port 53 at SA (AF_UNSPEC read as AF_INET, as udp_sendmsg does)? */
int omx_dns_dest_port(const struct sockaddr *sa, socklen_t len)
{
	uint32_t addr;
	uint16_t port;

	if (!sa || len < (socklen_t)sizeof(sa_family_t))
		return -1;
	if (sa->sa_family == AF_UNSPEC && len >= (socklen_t)sizeof(struct sockaddr_in))
		return ntohs(((const struct sockaddr_in *)sa)->sin_port);
	if (omx_sockaddr_parts(sa, len, &addr, &port) < 0)
		return -1;
	return port;
}

/* Whether FD is a socket connected to port 53 now (with its peer in PEER). */
static int connected_to_dns(int fd, struct sockaddr_storage *peer, socklen_t *plen)
{
	*plen = sizeof(*peer);
	return omx_real.getpeername(fd, (struct sockaddr *)peer, plen) == 0 &&
	       omx_dns_dest_port((struct sockaddr *)peer, *plen) == DNS_PORT;
}

/* A descriptor that appeared without our connect(): mark it if it is a socket
 * connected to port 53 (one system call, only on such events). */
static void examine(int fd)
{
	struct sockaddr_storage peer;
	socklen_t plen;
	int saved = errno, dns = connected_to_dns(fd, &peer, &plen);

	/* Only a change is written: clearing a bit already clear would still
	 * write its page (a page fault at start-up for nothing). */
	if (dns != get_bit(omx_dns_fds, fd))
		set_bit(omx_dns_fds, fd, dns);
	errno = saved;
}

/* Whether the inherited descriptor FD needs a look: not the library's own map
 * descriptor (opened by the constructor), nor stderr when the log already
 * stat'ed it and found no socket. */
static int needs_examining(int fd)
{
	return fd != omx_map_fd() && (fd != STDERR_FILENO || omx_log_stderr_is_socket() != 0);
}

/* Marks FD if it is a socket connected to port 53. Only sets: a bit our
 * connect() set since start-up stays (a connection still in progress has no
 * peer yet). */
static void examine_inherited_fd(int fd)
{
	struct sockaddr_storage peer;
	socklen_t plen;

	if (needs_examining(fd) && !get_bit(omx_dns_fds, fd) && connected_to_dns(fd, &peer, &plen))
		set_bit(omx_dns_fds, fd, 1);
}

/* Descriptors inherited across exec (the bitmap starts empty): the names in
 * /proc/self/fd read with getdents64 into a stack buffer rather than through
 * opendir (which adds an fstat and a 32 KiB heap buffer). Read until the end
 * (0): a read that left room can still be short (the kernel stops early when
 * a signal is pending), and a missed descriptor is a leak. Without /proc (a
 * chroot done around our chroot() hook), the first 1024 are asked one by one. */
static void scan_inherited(void)
{
	char buf[4096] __attribute__((aligned(8)));
	int saved = errno, dir;
	long n;

	dir = open("/proc/self/fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dir < 0) {
		for (int fd = 0; fd < 1024; fd++)
			examine_inherited_fd(fd);
	} else {
		do {
			n = getdents64(dir, buf, sizeof(buf)); /* glibc's, not syscall(): that is our own hook */
			for (long off = 0; off < n;) {
				const struct omx_dirent64 *e = (const struct omx_dirent64 *)(buf + off);
				const char *p = e->d_name;
				long fd = 0;

				/* A decimal number ("." and ".." are not), read without strtol. */
				while (*p >= '0' && *p <= '9' && fd < OMX_DNS_TRACKED_FDS)
					fd = fd * 10 + (*p++ - '0');
				if (*p == '\0' && p != e->d_name && fd != dir && fd < OMX_DNS_TRACKED_FDS)
					examine_inherited_fd((int)fd);
				off += e->d_reclen;
			}
		} while (n > 0);
		close(dir);
	}
	__atomic_store_n(&omx_dns_unexamined, 0, __ATOMIC_RELEASE);
	errno = saved;
}

/* The inherited descriptors are examined when they could first matter, not
 * at every process start: a process that sends nothing (most of those an
 * MTA starts, /bin/true) never pays for the scan. The first send of any kind
 * (every sending hook tests omx_dns_unexamined first), or chroot(), after
 * which /proc is usually out of reach; a fork() child inherits the result.
 * Signals are blocked around it: a handler that sends would otherwise wait
 * for the scan it interrupted. */
static __attribute__((noinline, cold)) void examine_inherited(void)
{
	sigset_t all, old;

	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	omx_once(&inherited_once, scan_inherited);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
}

/* In a process where the hooks act (elsewhere nothing reads the marks). */
__attribute__((constructor)) static void note_inherited(void)
{
	omx_ready();
	if (omx_enabled())
		__atomic_store_n(&omx_dns_unexamined, 1, __ATOMIC_RELEASE);
}

int chroot(const char *path)
{
	omx_ready();
	if (__atomic_load_n(&omx_dns_unexamined, __ATOMIC_ACQUIRE))
		examine_inherited();
	return omx_real.chroot(path);
}
extern __typeof(chroot) omx_chroot __attribute__((alias("chroot"), copy(chroot), visibility("hidden")));

/* NEW is a copy of OLD: it inherits OLD's mark. */
static void copy_mark(int old, int new)
{
	if (new < 0 || new == old)
		return;
	set_bit(omx_dns_fds, new, get_bit(omx_dns_fds, old));
	forget_stream(new);
}

int dup(int fd)
{
	int new;

	omx_ready();
	new = omx_real.dup(fd);
	copy_mark(fd, new);
	return new;
}

int dup2(int fd, int new)
{
	int rc;

	omx_ready();
	rc = omx_real.dup2(fd, new);
	copy_mark(fd, rc);
	return rc;
}

int dup3(int fd, int new, int flags)
{
	int rc;

	omx_ready();
	rc = omx_real.dup3(fd, new, flags);
	copy_mark(fd, rc);
	return rc;
}

static int fcntl_common(int (*real)(int, int, ...), int fd, int cmd, va_list ap)
{
	void *arg = va_arg(ap, void *); /* every command's argument fits a pointer */
	int rc = real(fd, cmd, arg);

	if (cmd == F_DUPFD || cmd == F_DUPFD_CLOEXEC)
		copy_mark(fd, rc);
	return rc;
}

int fcntl(int fd, int cmd, ...)
{
	va_list ap;
	int rc;

	omx_ready();
	va_start(ap, cmd);
	rc = fcntl_common(omx_real.fcntl, fd, cmd, ap);
	va_end(ap);
	return rc;
}

int fcntl64(int fd, int cmd, ...)
{
	va_list ap;
	int rc;

	omx_ready();
	va_start(ap, cmd);
	rc = fcntl_common(omx_real.fcntl64 ? omx_real.fcntl64 : omx_real.fcntl, fd, cmd, ap);
	va_end(ap);
	return rc;
}

/* ---- the decision for one outgoing message ---- */

/* Whether question Q is one we answer (and so must not leave). */
static int question_is_ours(const struct omx_dns_question *q, struct omx_dns_answer *a,
			    char hosts[][OMX_HOST_MAX])
{
	return omx_answer_current(NULL, q, a, hosts);
}

/* Reads MSG as a DNS message to a DNS port: 1 a query we answer (Q, A filled),
 * 0 something to pass (a query of someone else's, a response, another opcode),
 * -1 a query we cannot read, refused. */
static int classify(const uint8_t *msg, size_t n, struct omx_dns_question *q, struct omx_dns_answer *a,
		    char hosts[][OMX_HOST_MAX])
{
	if (n < 12)
		return -1;
	if ((msg[2] & 0x80) || (msg[2] & 0x78))
		return 0; /* a response, or NOTIFY/UPDATE: not a question about a name */
	if (omx_dns_parse_query(msg, n, q) != 0)
		return -1;
	return question_is_ours(q, a, hosts) ? 1 : 0;
}

static void loopback_if_any(struct sockaddr_storage *ss)
{
	if (ss->ss_family == AF_INET) {
		struct sockaddr_in *in = (struct sockaddr_in *)ss;
		if (in->sin_addr.s_addr == htonl(INADDR_ANY))
			in->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	} else if (ss->ss_family == AF_INET6) {
		struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
		/* Not libc's in6addr_loopback: a symbol ld.so would look up at every start. */
		if (IN6_IS_ADDR_UNSPECIFIED(&in6->sin6_addr))
			in6->sin6_addr = (struct in6_addr)IN6ADDR_LOOPBACK_INIT;
	}
}

/* Sends the reply to Q on UDP socket FD to itself, as if from SERVER; PEER (not
 * NULL): FD is connected to PEER and is connected back to it afterwards. 0, or
 * -1 (nothing sent; if the socket could not be connected back it is shut down). */
static int reply_in_place(int fd, const struct omx_dns_question *q, const struct omx_dns_answer *a,
			  const struct sockaddr *server, socklen_t server_len, const struct sockaddr *peer,
			  socklen_t peer_len)
{
	struct sockaddr_storage self;
	socklen_t slen = sizeof(self);
	uint8_t reply[1232];
	int rlen = omx_dns_build_reply(q, a, reply, sizeof(reply));

	if (rlen < 0 || getsockname(fd, (struct sockaddr *)&self, &slen) != 0)
		return -1;
	if (omx_dns_dest_port((struct sockaddr *)&self, slen) == 0) {
		/* Not bound yet: bind as sendto would have, to learn our port. */
		struct sockaddr_storage any = { .ss_family = self.ss_family };
		if (bind(fd, (struct sockaddr *)&any, slen) != 0 ||
		    getsockname(fd, (struct sockaddr *)&self, &slen) != 0)
			return -1;
	}
	loopback_if_any(&self);
	remember_pending(fd, q->id, &self, slen, server, server_len);
	if (!peer)
		return omx_real.sendto(fd, reply, (size_t)rlen, 0, (struct sockaddr *)&self, slen) < 0 ? -1 : 0;
	if (omx_real.connect(fd, (struct sockaddr *)&self, slen) != 0)
		return -1;
	omx_real.sendto(fd, reply, (size_t)rlen, 0, NULL, 0);
	if (omx_real.connect(fd, peer, peer_len) != 0) {
		/* Connected to itself: nothing it sends would reach anyone. */
		omx_log(LOG_WARNING, "could not reconnect a DNS socket to its server after an in-place answer: %s",
			strerror(errno));
		omx_real.shutdown(fd, SHUT_RDWR);
		return -1;
	}
	return 0;
}

static void log_refusal(const char *why, const struct omx_dns_question *q, const char *how)
{
	if (q)
		omx_log(LOG_WARNING, "refused a DNS query for %s (type %u) sent around the resolver %s to port 53", q->name,
			q->qtype, how);
	else
		omx_log(LOG_WARNING, "refused a DNS message to port 53 sent around the resolver %s: %s", how, why);
}

/* Gathers IOV into BUF (CAP bytes); returns the total length (which may exceed CAP). */
static size_t gather(const struct iovec *iov, size_t iovcnt, uint8_t *buf, size_t cap)
{
	size_t n = 0;

	for (size_t i = 0; iov && i < iovcnt; i++) {
		if (iov[i].iov_len > SIZE_MAX / 2 || n > SIZE_MAX / 2)
			return SIZE_MAX; /* the kernel refuses it; we do not read it */
		if (n < cap)
			memcpy(buf + n, iov[i].iov_base, iov[i].iov_len < cap - n ? iov[i].iov_len : cap - n);
		n += iov[i].iov_len;
	}
	return n;
}

/* A datagram on FD. Returns 1 (*RET set) if handled. */
static int udp_send(int fd, const struct iovec *iov, size_t iovcnt, int flags, const struct sockaddr *dest,
		    socklen_t dlen, int dest_is_dns, ssize_t *ret)
{
	char hosts[OMX_MAP_MAX_TARGETS][OMX_HOST_MAX];
	struct omx_dns_question q;
	struct omx_dns_answer a;
	struct sockaddr_storage peer;
	socklen_t plen = sizeof(peer);
	uint8_t buf[QUERY_MAX];
	size_t n = gather(iov, iovcnt, buf, sizeof(buf));
	int cork = 0, kind, connected;
	socklen_t clen = sizeof(cork);
	const char *why = NULL;

	if (n == SIZE_MAX)
		return 0; /* lengths that overflow: the kernel refuses the call (EINVAL) */
	/* Connected (sendto with an address on a connected socket included): the
	 * reply can only come in from the address it is connected to. */
	connected = omx_real.getpeername(fd, (struct sockaddr *)&peer, &plen) == 0;
	if (!dest) {
		if (!connected || omx_dns_dest_port((struct sockaddr *)&peer, plen) != DNS_PORT) {
			omx_dns_untrack(fd);
			return 0;
		}
		dest = (struct sockaddr *)&peer;
		dlen = plen;
		dest_is_dns = 1;
	}
	if (!dest_is_dns) {
		/* Another port: only what reads as a query we answer is ours. */
		if (n > sizeof(buf) || classify(buf, n, &q, &a, hosts) != 1 || (flags & MSG_MORE))
			return 0;
	} else if ((flags & MSG_MORE) || (getsockopt(fd, IPPROTO_UDP, UDP_CORK, &cork, &clen) == 0 && cork)) {
		why = "corked (MSG_MORE or UDP_CORK): the datagram it joins is not known yet";
	} else if (n > sizeof(buf)) {
		why = "over 4 KiB";
	} else if ((kind = classify(buf, n, &q, &a, hosts)) == 0) {
		return 0;
	} else if (kind < 0) {
		why = "a query we cannot read (QDCOUNT other than 1, a compression pointer or '.', '\\\\' or NUL in the name)";
	}
	if (why) {
		log_refusal(why, NULL, "over UDP");
		*ret = -1;
		errno = n > sizeof(buf) ? EMSGSIZE : ECONNREFUSED;
		return 1;
	}
	if (reply_in_place(fd, &q, &a, dest, dlen, connected ? (struct sockaddr *)&peer : NULL, plen) != 0) {
		*ret = -1;
		errno = ECONNREFUSED;
		return 1;
	}
	omx_log(LOG_DEBUG, "answered a UDP DNS query for %s (type %u) in place", q.name, q.qtype);
	*ret = (ssize_t)n;
	return 1;
}

/* ---- TCP streams ---- */

static struct stream *find_stream(int fd, int create)
{
	struct stream *free_slot = NULL;

	if (fd < 0)
		return NULL;
	for (size_t i = 0; i < STREAMS_MAX; i++) {
		if (streams[i].fd1 == fd + 1)
			return &streams[i];
		if (!free_slot && streams[i].fd1 == 0)
			free_slot = &streams[i];
	}
	if (free_slot && create) {
		free_slot->fd1 = fd + 1;
		free_slot->approved_left = 0;
		free_slot->held_len = 0;
		return free_slot;
	}
	return NULL;
}

static void forget_stream(int fd)
{
	pthread_mutex_lock(&streams_lock);
	struct stream *s = find_stream(fd, 0);
	if (s)
		s->fd1 = 0;
	pthread_mutex_unlock(&streams_lock);
}

/* Refuses a TCP DNS write for WHY (Q: the question, when it is ours) and shuts
 * the connection: nothing later on it goes out either. Returns 1, *RET -1. */
static int refuse_tcp(int fd, const char *why, const struct omx_dns_question *q, ssize_t *ret)
{
	log_refusal(why, strcmp(why, "ours") == 0 ? q : NULL, "over TCP");
	omx_real.shutdown(fd, SHUT_RDWR);
	*ret = -1;
	errno = ECONNREFUSED;
	return 1;
}

/* Sends what was held back (PREFIX) in front of this write (DATA, N bytes);
 * *RET counts this write's bytes only. Returns 1. */
static int send_behind_prefix(int fd, const uint8_t *prefix, size_t prefix_len, const uint8_t *data,
			      size_t n, int flags, ssize_t *ret)
{
	struct iovec v[2] = { { (void *)prefix, prefix_len }, { (void *)data, n } };
	struct msghdr m = { .msg_iov = v, .msg_iovlen = 2 };
	ssize_t r = omx_real.sendmsg(fd, &m, flags & ~MSG_FASTOPEN);

	if (r >= 0 && (size_t)r < prefix_len) {
		omx_log(LOG_WARNING, "a DNS query over TCP could not be sent whole: connection shut down");
		omx_real.shutdown(fd, SHUT_RDWR);
		r = -1;
		errno = EIO;
	}
	*ret = r < 0 ? -1 : r - (ssize_t)prefix_len;
	return 1;
}

/* A write of DATA (N bytes gathered; TOTAL is the real length, which may be
 * larger) to a TCP socket connected to port 53. Each message in it is
 * examined; a prefix or a question not yet complete at the start of a write is
 * held back (the write reports it sent) and goes out in front of the next
 * write. Returns 1 (*RET set) if handled, 0 to send the write as it is. */
static int tcp_send(int fd, const uint8_t *data, size_t n, size_t total, int flags, ssize_t *ret)
{
	char hosts[OMX_MAP_MAX_TARGETS][OMX_HOST_MAX];
	struct omx_dns_question q;
	struct omx_dns_answer a;
	uint8_t msg[HELD_MAX], prefix[HELD_MAX];
	size_t pos = 0, prefix_len = 0;
	struct stream *s;
	const char *why = NULL;

	pthread_mutex_lock(&streams_lock);
	s = find_stream(fd, 0);
	if (s && s->held_len) {
		prefix_len = s->held_len;
		memcpy(prefix, s->held, prefix_len);
	}
	for (;;) {
		size_t have, len, take;
		int kind;

		if (s && s->approved_left) {
			take = total - pos < s->approved_left ? total - pos : s->approved_left;
			s->approved_left -= take;
			pos += take;
		}
		if (pos == total)
			break;
		if (pos >= n) {
			why = "a write too large to follow";
			break;
		}
		/* A message starts at DATA + POS, behind what is held. */
		have = s ? s->held_len : 0;
		if (have)
			memcpy(msg, s->held, have);
		take = n - pos < sizeof(msg) - have ? n - pos : sizeof(msg) - have;
		memcpy(msg + have, data + pos, take);
		have += take;
		len = have >= 2 ? (size_t)(msg[0] << 8 | msg[1]) : 0;
		kind = have >= 2 ? classify(msg + 2, have - 2 < len ? have - 2 : len, &q, &a, hosts) : -1;
		if (kind == 1) {
			why = "ours";
			break;
		}
		if (kind < 0 && (have < 2 || have - 2 < len) && have < sizeof(msg)) {
			/* Not complete yet: hold it back if it is all this write holds. */
			if (pos != 0 || n != total) {
				why = "a query split across writes behind another";
				break;
			}
			if (!s && !(s = find_stream(fd, 1))) {
				why = "too many TCP DNS streams in the middle of a message";
				break;
			}
			memcpy(s->held, msg, have);
			s->held_len = have;
			pthread_mutex_unlock(&streams_lock);
			*ret = (ssize_t)n;
			return 1;
		}
		if (kind < 0) {
			why = "a query we cannot read";
			break;
		}
		if (!s && !(s = find_stream(fd, 1))) {
			why = "too many TCP DNS streams in the middle of a message";
			break;
		}
		/* Approved: the whole message, of which HELD_LEN bytes were held back. */
		s->approved_left = len + 2 - s->held_len;
		s->held_len = 0;
	}
	if (why) {
		if (s)
			s->fd1 = 0;
		pthread_mutex_unlock(&streams_lock);
		return refuse_tcp(fd, why, &q, ret);
	}
	if (s && s->approved_left == 0 && s->held_len == 0)
		s->fd1 = 0;
	pthread_mutex_unlock(&streams_lock);
	if (prefix_len)
		return send_behind_prefix(fd, prefix, prefix_len, data, n, flags, ret);
	return 0;
}

/* Whether FD must be examined when it sends (a cheap test, no system call
 * once the inherited descriptors have been examined). */
static inline int dns_maybe(int fd)
{
	if (__builtin_expect(__atomic_load_n(&omx_dns_unexamined, __ATOMIC_ACQUIRE), 0))
		examine_inherited();
	return get_bit(omx_dns_fds, fd) || fd >= OMX_DNS_TRACKED_FDS;
}

/* The header of a datagram, read in place: a query has QR and the opcode
 * clear, one question and no answer or authority records. */
static int looks_like_query(const struct iovec *iov, size_t iovcnt)
{
	uint8_t copy[12];
	const uint8_t *h = copy;

	if (!iov || iovcnt == 0)
		return 0;
	if (iov[0].iov_len >= sizeof(copy))
		h = iov[0].iov_base;
	else if (gather(iov, iovcnt, copy, sizeof(copy)) < sizeof(copy))
		return 0;
	return !(h[2] & 0xf8) && h[4] == 0 && h[5] == 1 && !(h[6] | h[7] | h[8] | h[9]);
}

/* The content rule for datagrams with an explicit address to another port. */
static int other_port_send(int fd, const struct iovec *iov, size_t iovcnt, int flags,
			   const struct sockaddr *dest, socklen_t dlen, ssize_t *ret)
{
	char hosts[OMX_MAP_MAX_TARGETS][OMX_HOST_MAX];
	struct omx_dns_question q;
	struct omx_dns_answer a;
	uint8_t buf[QUERY_MAX];
	size_t n;
	int type;
	socklen_t tlen = sizeof(type);

	n = gather(iov, iovcnt, buf, sizeof(buf));
	if (n > sizeof(buf) || classify(buf, n, &q, &a, hosts) != 1 ||
	    getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tlen) != 0 || type != SOCK_DGRAM)
		return 0;
	return udp_send(fd, iov, iovcnt, flags, dest, dlen, 0, ret);
}

/* omx_dns_send past the cheap tests (its stack frame is large). */
static __attribute__((noinline)) int dns_send(int fd, const struct iovec *iov, size_t iovcnt, int flags,
					      const struct sockaddr *dest, socklen_t dlen, int dport, ssize_t *ret)
{
	int saved = errno, type, handled = 0;
	socklen_t tlen = sizeof(type);
	struct sockaddr_storage peer;
	socklen_t plen;

	if (!dns_maybe(fd) && dport != DNS_PORT) {
		if (!omx_enabled())
			return 0;
		handled = other_port_send(fd, iov, iovcnt, flags, dest, dlen, ret);
		goto out;
	}
	if (!omx_enabled() || getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tlen) != 0) {
		omx_dns_untrack(fd); /* not a socket (a file above the bitmap) */
		errno = saved;
		return 0;
	}
	if (type == SOCK_STREAM) {
		uint8_t buf[QUERY_MAX];
		size_t n;
		int tfo = (flags & MSG_FASTOPEN) && dport == DNS_PORT && !connected_to_dns(fd, &peer, &plen);

		if (!tfo && !connected_to_dns(fd, &peer, &plen)) {
			omx_dns_untrack(fd);
			errno = saved;
			return 0;
		}
		n = gather(iov, iovcnt, buf, sizeof(buf));
		if (n == SIZE_MAX) {
			errno = saved;
			return 0; /* the kernel refuses the call (EINVAL) */
		}
		handled = tcp_send(fd, buf, n < sizeof(buf) ? n : sizeof(buf), n, flags, ret);
		if (tfo && !(handled && *ret < 0))
			set_bit(omx_dns_fds, fd, 1); /* Fast Open connects it */
	} else if (type == SOCK_DGRAM) {
		if (dest && dport != DNS_PORT)
			handled = other_port_send(fd, iov, iovcnt, flags, dest, dlen, ret);
		else
			handled = udp_send(fd, iov, iovcnt, flags, dport == DNS_PORT ? dest : NULL, dlen,
					   dport == DNS_PORT, ret);
	}
out:
	if (!handled || *ret >= 0)
		errno = saved;
	return handled;
}

int omx_dns_send(int fd, const struct iovec *iov, size_t iovcnt, int flags, const struct sockaddr *dest,
		 socklen_t dlen, ssize_t *ret)
{
	int dport = dest ? omx_dns_dest_port(dest, dlen) : -1;

	if (!dns_maybe(fd) && dport != DNS_PORT && (!dest || !looks_like_query(iov, iovcnt)))
		return 0; /* not a DNS socket, not to port 53, not a query */
	return dns_send(fd, iov, iovcnt, flags, dest, dlen, dport, ret);
}

/* ---- the sending calls not in hook_socket.c ---- */

ssize_t write(int fd, const void *buf, size_t n)
{
	ssize_t ret;

	omx_ready();
	if (__builtin_expect(dns_maybe(fd), 0)) {
		struct iovec v = { (void *)buf, n };
		if (omx_dns_send(fd, &v, 1, 0, NULL, 0, &ret))
			return ret;
	}
	return omx_real.write(fd, buf, n);
}
extern __typeof(write) omx_write __attribute__((alias("write"), copy(write), visibility("hidden")));

ssize_t writev(int fd, const struct iovec *iov, int iovcnt)
{
	ssize_t ret;

	omx_ready();
	if (__builtin_expect(dns_maybe(fd), 0) && iovcnt > 0 &&
	    omx_dns_send(fd, iov, (size_t)iovcnt, 0, NULL, 0, &ret))
		return ret;
	return omx_real.writev(fd, iov, iovcnt);
}
extern __typeof(writev) omx_writev __attribute__((alias("writev"), copy(writev), visibility("hidden")));

ssize_t send(int fd, const void *buf, size_t n, int flags)
{
	ssize_t ret;

	omx_ready();
	if (__builtin_expect(dns_maybe(fd), 0)) {
		struct iovec v = { (void *)buf, n };
		if (omx_dns_send(fd, &v, 1, flags, NULL, 0, &ret))
			return ret;
	}
	return omx_real.send(fd, buf, n, flags);
}

/* BIND's dig (through libuv), glibc's resolver for A+AAAA: each message on its
 * own, so each is decided alone; none of them a DNS socket's costs nothing. */
int sendmmsg(int fd, struct mmsghdr *vec, unsigned int vlen, int flags)
{
	unsigned int i;
	int any = dns_maybe(fd);

	omx_ready();
	for (i = 0; !any && vec && i < vlen; i++)
		any = vec[i].msg_hdr.msg_name != NULL;
	if (!any)
		return omx_real.sendmmsg(fd, vec, vlen, flags);
	for (i = 0; i < vlen; i++) {
		struct msghdr *m = &vec[i].msg_hdr;
		ssize_t r;

		if (!omx_dns_send(fd, m->msg_iov, m->msg_iovlen, flags, m->msg_name, m->msg_namelen, &r))
			r = omx_sendmsg(fd, m, flags);
		if (r < 0)
			return i ? (int)i : -1;
		vec[i].msg_len = (unsigned int)r;
	}
	return (int)i;
}
extern __typeof(sendmmsg) omx_sendmmsg __attribute__((alias("sendmmsg"), copy(sendmmsg), visibility("hidden")));

/* sendfile/splice into a socket connected to port 53: the bytes are not ours
 * to read, so a DNS socket gets none of them (fail closed). */
static int refuse_blind(int fd)
{
	struct sockaddr_storage peer;
	socklen_t plen;
	int saved = errno;

	if (!dns_maybe(fd) || !omx_enabled() || !connected_to_dns(fd, &peer, &plen)) {
		errno = saved;
		return 0;
	}
	log_refusal("sent with sendfile() or splice(), unread", NULL, "to a DNS socket");
	errno = EINVAL;
	return 1;
}

ssize_t sendfile(int out, int in, off_t *offset, size_t n)
{
	omx_ready();
	return refuse_blind(out) ? -1 : omx_real.sendfile(out, in, offset, n);
}

ssize_t sendfile64(int out, int in, off64_t *offset, size_t n)
{
	omx_ready();
	return refuse_blind(out) ? -1 : omx_real.sendfile64(out, in, offset, n);
}

ssize_t splice(int in, off64_t *in_off, int out, off64_t *out_off, size_t n, unsigned int flags)
{
	omx_ready();
	return refuse_blind(out) ? -1 : omx_real.splice(in, in_off, out, out_off, n, flags);
}

/* ---- receiving: the source of an in-place reply, descriptors passed over SCM_RIGHTS ---- */

ssize_t recvfrom(int fd, void *buf, size_t n, int flags, struct sockaddr *sa, socklen_t *len)
{
	socklen_t cap = len ? *len : 0;
	ssize_t r;

	omx_ready();
	r = omx_real.recvfrom(fd, buf, n, flags, sa, len);
	if (r >= 2 && n >= 2 && __builtin_expect(pending_maybe(fd), 0)) {
		int saved = errno;
		fix_source(fd, buf, 2, sa, len, cap, !(flags & MSG_PEEK));
		errno = saved;
	}
	return r;
}
/* Spelled out, not __typeof/copy(recvfrom): with _FORTIFY_SOURCE glibc's
 * recvfrom is an inline wrapper whose attributes an alias cannot take. */
extern ssize_t omx_recvfrom(int, void *__restrict, size_t, int, struct sockaddr *__restrict,
			    socklen_t *__restrict) __attribute__((alias("recvfrom"), visibility("hidden")));

/* A program built with _FORTIFY_SOURCE (as Debian builds its packages) calls
 * __recvfrom_chk wherever the compiler knows the buffer's size but not the
 * length asked for: glibc's goes to its internal recvfrom, past the hook
 * above, and the reply's source would show the socket's own address. */
extern void __chk_fail(void) __attribute__((noreturn));

ssize_t __recvfrom_chk(int fd, void *buf, size_t n, size_t buflen, int flags,
		       struct sockaddr *__restrict sa, socklen_t *__restrict len)
{
	if (n > buflen)
		__chk_fail(); /* what glibc's own does */
	return omx_recvfrom(fd, buf, n, flags, sa, len);
}

static void after_recvmsg(int fd, struct msghdr *m, size_t got, socklen_t cap, int flags)
{
	int saved = errno;

	if (got >= 2 && pending_maybe(fd)) {
		uint8_t head[2];
		if (gather(m->msg_iov, m->msg_iovlen, head, 2) >= 2)
			fix_source(fd, head, 2, m->msg_name, &m->msg_namelen, cap, !(flags & MSG_PEEK));
	}
	if (m->msg_control && m->msg_controllen) {
		for (struct cmsghdr *c = CMSG_FIRSTHDR(m); c; c = CMSG_NXTHDR(m, c)) {
			if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
				continue;
			size_t k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
			for (size_t j = 0; j < k; j++) {
				int passed;
				memcpy(&passed, CMSG_DATA(c) + j * sizeof(int), sizeof(int));
				examine(passed);
				forget_stream(passed);
			}
		}
	}
	errno = saved;
}

ssize_t recvmsg(int fd, struct msghdr *m, int flags)
{
	socklen_t cap = m ? m->msg_namelen : 0;
	ssize_t r;

	omx_ready();
	r = omx_real.recvmsg(fd, m, flags);
	if (r >= 0 && m && (m->msg_controllen || pending_maybe(fd)))
		after_recvmsg(fd, m, (size_t)r, cap, flags);
	return r;
}
extern __typeof(recvmsg) omx_recvmsg __attribute__((alias("recvmsg"), copy(recvmsg), visibility("hidden")));

int recvmmsg(int fd, struct mmsghdr *vec, unsigned int vlen, int flags, struct timespec *timeout)
{
	socklen_t caps[64];
	int r;

	omx_ready();
	for (unsigned int i = 0; vec && i < vlen && i < 64; i++)
		caps[i] = vec[i].msg_hdr.msg_namelen;
	r = omx_real.recvmmsg(fd, vec, vlen, flags, timeout);
	for (int i = 0; i < r && i < 64; i++)
		if (vec[i].msg_hdr.msg_controllen || pending_maybe(fd))
			after_recvmsg(fd, &vec[i].msg_hdr, vec[i].msg_len, caps[i], flags);
	return r;
}
extern __typeof(recvmmsg) omx_recvmmsg __attribute__((alias("recvmmsg"), copy(recvmmsg), visibility("hidden")));

/* syscall(): libuv (BIND's dig) sends and receives with syscall(SYS_sendmmsg)
 * and syscall(SYS_recvmmsg); the calls that matter to us go to our hooks, the
 * rest straight on. Six words are read as the kernel's calling convention has
 * them, whatever the caller passed. */
long syscall(long nr, ...)
{
	va_list ap;
	long a[6];

	omx_ready();
	va_start(ap, nr);
	for (int i = 0; i < 6; i++)
		a[i] = va_arg(ap, long);
	va_end(ap);
	switch (nr) {
	case SYS_write:
		return omx_write((int)a[0], (const void *)a[1], (size_t)a[2]);
	case SYS_writev:
		return omx_writev((int)a[0], (const struct iovec *)a[1], (int)a[2]);
	case SYS_sendto:
		return omx_sendto((int)a[0], (const void *)a[1], (size_t)a[2], (int)a[3],
				  (const struct sockaddr *)a[4], (socklen_t)a[5]);
	case SYS_sendmsg:
		return omx_sendmsg((int)a[0], (const struct msghdr *)a[1], (int)a[2]);
	case SYS_sendmmsg:
		return omx_sendmmsg((int)a[0], (struct mmsghdr *)a[1], (unsigned int)a[2], (int)a[3]);
	case SYS_connect:
		return omx_connect((int)a[0], (const struct sockaddr *)a[1], (socklen_t)a[2]);
	case SYS_chroot:
		return omx_chroot((const char *)a[0]);
	case SYS_recvfrom:
		return omx_recvfrom((int)a[0], (void *)a[1], (size_t)a[2], (int)a[3], (struct sockaddr *)a[4],
				    (socklen_t *)a[5]);
	case SYS_recvmsg:
		return omx_recvmsg((int)a[0], (struct msghdr *)a[1], (int)a[2]);
	case SYS_recvmmsg:
		return omx_recvmmsg((int)a[0], (struct mmsghdr *)a[1], (unsigned int)a[2], (int)a[3],
				    (struct timespec *)a[4]);
	default:
		return omx_real.syscall(nr, a[0], a[1], a[2], a[3], a[4], a[5]);
	}
}

