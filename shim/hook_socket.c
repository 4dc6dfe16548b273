/* Interposers for the socket calls that reach a synthetic address: connect()
 * (through Tor), sendto/sendmsg (TCP Fast Open, and DNS queries that bypass
 * libc's resolver), getpeername (report the onion's address, not Tor's),
 * shutdown (keep Tor streams whole). The passthrough path reads a few words of
 * memory and calls the real function. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "answer.h"
#include "hooks.h"
#include "log.h"
#include "real.h"
#include "state.h"
#include "stats.h"
#include "tor.h"

static int is_smtp_port(uint16_t port)
{
	return port == 25 || port == 465 || port == 587;
}

/* Without a usable configuration and map we cannot tell mapped mail from the
 * rest, so no SMTP connection leaves at all: the MTA defers, nothing is lost. */
static int smtp_must_be_refused(void)
{
	int refuse = !omx_config_ok;

	if (!refuse) {
		refuse = omx_map_acquire() == NULL; /* also notices a map that appeared */
		omx_map_release();
	}
	if (refuse)
		omx_log(LOG_WARNING, "refusing SMTP connection: onionmx has no usable configuration or map");
	return refuse;
}

/* Fallback relays and hosts (Postfix smtp_fallback_relay, Exim fallback_hosts):
 * when the onion cannot be reached the MTA hands mapped mail to them, in clear.
 * In an MTA (omx_mta), an SMTP connection to any address but an onion's is
 * refused (EPERM: "Operation not permitted" in the MTA's log) while, in the
 * current delivery,
 *   - the only domains routed were mapped ones (MX, or with Postfix's DNS
 *     lookups disabled A/AAAA, answered here, and no MX lookup passed to DNS):
 *     such a delivery has nowhere to go but onions - this catches Exim going
 *     straight to its fallback hosts when its retry data skips the onion;
 *   - or an onion connection failed, less than FALLBACK_WINDOW_NS ago, and none
 *     succeeded since (the fallback try follows at once): this catches Postfix's
 *     unbracketed fallback relay, whose own MX lookup passes to DNS.
 * A delivery starts at exec and at accept() (Postfix's smtp accepts each
 * delivery request from its queue manager); fork children inherit it (Exim
 * routes a message, then forks its transports). Exim tries the fallback hosts in
 * a child forked after the first ones ended: a page shared with the children
 * (MAP_SHARED, made at start-up in an MTA, gone at exec) holds the family's last
 * failure, which a process forked after it obeys and a sibling forked before it
 * (Exim's parallel deliveries to other domains) does not.
 *
 * Times are CLOCK_MONOTONIC nanoseconds (+1), 0 for none: the passthrough path
 * reads three words. */
#define FALLBACK_WINDOW_NS (60LL * 1000000000)
static long long onion_failed_at;          /* this process's last failure */
static long long *family_failed_at;        /* the shared page, or NULL */
static long long born_at;                  /* when this process was forked */
enum { ROUTED_MAPPED = 1, ROUTED_OTHER = 2 };
static int routed;                         /* this delivery's domains, ROUTED_* bits */

void omx_socket_routed(int mapped)
{
	int bit = mapped ? ROUTED_MAPPED : ROUTED_OTHER;

	if (!(__atomic_load_n(&routed, __ATOMIC_RELAXED) & bit))
		__atomic_fetch_or(&routed, bit, __ATOMIC_RELAXED);
}

static long long monotonic_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts); /* the vDSO: no system call */
	return (long long)ts.tv_sec * 1000000000 + ts.tv_nsec + 1;
}

/* glibc hands a library's constructors the program's arguments. */
__attribute__((constructor)) static void fallback_state_init(int argc, char **argv)
{
	void *page;

	omx_log_context_from_argv(argc, argv);
	if (!omx_enabled() || !omx_mta)
		return; /* born_at is read only with the shared page */
	born_at = monotonic_ns();
	page = mmap(NULL, sizeof(long long), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (page != MAP_FAILED)
		family_failed_at = page;
}

static void onion_failed(void)
{
	long long now = monotonic_ns();

	__atomic_store_n(&onion_failed_at, now, __ATOMIC_RELAXED);
	if (family_failed_at)
		__atomic_store_n(family_failed_at, now, __ATOMIC_RELAXED);
}

static long long recent_failure_at; /* a copy of recent_failure.at, read without the lock */
static void forget_recent_failure(void);

static void not_made_by_socket(int fd);

static void new_delivery(void)
{
	if (__builtin_expect(__atomic_load_n(&recent_failure_at, __ATOMIC_RELAXED) != 0, 0))
		forget_recent_failure();
	if (__builtin_expect(__atomic_load_n(&routed, __ATOMIC_RELAXED) != 0, 0))
		__atomic_store_n(&routed, 0, __ATOMIC_RELAXED);
	if (__builtin_expect(__atomic_load_n(&onion_failed_at, __ATOMIC_RELAXED) != 0, 0))
		__atomic_store_n(&onion_failed_at, 0, __ATOMIC_RELAXED);
	if (family_failed_at && __atomic_load_n(family_failed_at, __ATOMIC_RELAXED))
		__atomic_store_n(family_failed_at, 0, __ATOMIC_RELAXED);
}

int accept(int fd, struct sockaddr *sa, socklen_t *len)
{
	int rc;

	omx_ready();
	rc = omx_real.accept(fd, sa, len);
	if (rc >= 0) {
		not_made_by_socket(rc);
		new_delivery();
	}
	return rc;
}

int accept4(int fd, struct sockaddr *sa, socklen_t *len, int flags)
{
	int rc;

	omx_ready();
	rc = omx_real.accept4(fd, sa, len, flags);
	if (rc >= 0) {
		not_made_by_socket(rc);
		new_delivery();
	}
	return rc;
}

/* Whether an SMTP connection to SA (not an onion's) must be refused: see above. */
static int fallback_must_be_refused(const struct sockaddr *sa, uint16_t port)
{
	long long own = __atomic_load_n(&onion_failed_at, __ATOMIC_RELAXED), family = 0, at, now = 0;
	int only_mapped = __atomic_load_n(&routed, __ATOMIC_RELAXED) == ROUTED_MAPPED;
	char text[INET6_ADDRSTRLEN] = "?";

	if (family_failed_at) {
		family = __atomic_load_n(family_failed_at, __ATOMIC_RELAXED);
		if (family >= born_at)
			family = 0; /* a sibling's: another delivery */
	}
	if (__builtin_expect(!own && !family && !only_mapped, 1))
		return 0;
	at = own > family ? own : family;
	if (at) {
		now = monotonic_ns();
		if (now - at > FALLBACK_WINDOW_NS) {
			__atomic_store_n(&onion_failed_at, 0, __ATOMIC_RELAXED);
			at = 0;
		}
	}
	if (!at && !only_mapped)
		return 0;
	if (!omx_mta)
		return 0;
	if (sa->sa_family == AF_INET)
		inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, text, sizeof(text));
	else if (sa->sa_family == AF_INET6)
		inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, text, sizeof(text));
	if (at)
		omx_log(LOG_WARNING, "refusing SMTP connection to %s port %u: an onion connection of this delivery failed %.1fs ago, and a fallback relay or host must not carry mapped mail in clear (the MTA defers it)",
			text, port, (double)(now - at) / 1e9);
	else
		omx_log(LOG_WARNING, "refusing SMTP connection to %s port %u: this delivery is for mapped domains only, whose mail goes to onions, never to a fallback relay or host in clear (the MTA defers it)",
			text, port);
	return 1;
}

/* Sockets we connected (or tried to connect) through Tor, with the synthetic
 * address the caller asked for (getpeername() reports it). A bitmap by
 * descriptor number says, without a lock or a system call, whether a descriptor
 * may be one of ours; only then is the table below consulted, under a lock,
 * and the socket's inode compared, so that a reused descriptor is not mistaken
 * for one of ours. The table is bounded: when it is full of live Tor sockets
 * (or the descriptor is beyond the bitmap), a new Tor connection is refused
 * rather than another forgotten (an MTA process has one or a few at a time). */
#define TOR_FDS_TRACKED 65536
#define TOR_SOCKETS_MAX 256

enum tor_state { TOR_FREE, TOR_CONNECTED, TOR_INTERRUPTED, TOR_FAILED };

OMX_COLD_TABLE static uint64_t tor_fds[TOR_FDS_TRACKED / 64];
/* The subset whose handshake was interrupted or failed: what connect() checks,
 * so that a later connect() on a reused descriptor number costs a bit test. */
OMX_COLD_TABLE static uint64_t tor_failed_fds[TOR_FDS_TRACKED / 64];
static struct tor_socket {
	int fd;
	enum tor_state state;
	int error;              /* TOR_FAILED: what connect() answered */
	dev_t dev;
	ino_t ino;
	struct sockaddr_in6 addr;
	socklen_t len;
} tor_sockets[TOR_SOCKETS_MAX] OMX_COLD_TABLE;
static pthread_mutex_t tor_sockets_lock = PTHREAD_MUTEX_INITIALIZER;

/* In a fork() child; registered by this file (register_fork_handler), so the
 * state layer knows nothing of the hooks. */
static void socket_after_fork(void)
{
	if (family_failed_at)
		born_at = monotonic_ns();
	/* Another thread of the parent may have held it at fork(). */
	pthread_mutex_init(&tor_sockets_lock, NULL);
}

__attribute__((constructor)) static void register_fork_handler(void)
{
	omx_atfork(NULL, NULL, socket_after_fork);
}

static int bit_set(const uint64_t *bits, int fd)
{
	return (unsigned)fd < TOR_FDS_TRACKED &&
	       (__atomic_load_n(&bits[(unsigned)fd / 64], __ATOMIC_RELAXED) >> ((unsigned)fd % 64)) & 1;
}

static void set_bit(uint64_t *bits, int fd, int on)
{
	uint64_t bit = 1ull << ((unsigned)fd % 64);

	if (on)
		__atomic_or_fetch(&bits[(unsigned)fd / 64], bit, __ATOMIC_RELAXED);
	else
		__atomic_and_fetch(&bits[(unsigned)fd / 64], ~bit, __ATOMIC_RELAXED);
}

/* Descriptors whose last socket() call made a TCP socket (AF_INET or AF_INET6,
 * SOCK_STREAM, protocol 0 or IPPROTO_TCP): connect() to an onion then skips
 * asking the socket its protocol (a getsockopt(); tor.c: rq->known_tcp). Set
 * or cleared at every socket() call on the number, cleared by accept(); not
 * seen: close(), dup2() and descriptors made by other paths (syscall(),
 * SCM_RIGHTS, socketpair() ...). So a bit can be stale: the number closed and
 * reused for a socket of another kind. Nothing worse than asking follows:
 * tor.c dials a socket known this way with an empty first sendto(MSG_FASTOPEN),
 * which starts a connection on TCP (EINPROGRESS) and fails on every other
 * kind of descriptor (ENOTSOCK, EINVAL, EISCONN ...) but a datagram socket,
 * where it sends an empty datagram to the configured Tor on loopback and
 * returns 0: the connect() then fails with ENETUNREACH as for a datagram
 * socket today, nothing more sent (tests/integ/known_tcp.sh). */
OMX_COLD_TABLE static uint64_t made_tcp_fds[TOR_FDS_TRACKED / 64];

static void not_made_by_socket(int fd)
{
	if (bit_set(made_tcp_fds, fd))
		set_bit(made_tcp_fds, fd, 0);
}

/* The passthrough costs a few instructions: no system call, no lock; the
 * word is written only when the bit changes. */
int socket(int domain, int type, int protocol)
{
	int fd, tcp;

	omx_ready();
	fd = omx_real.socket(domain, type, protocol);
	if ((unsigned)fd < TOR_FDS_TRACKED) {
		type &= ~(SOCK_NONBLOCK | SOCK_CLOEXEC);
		tcp = (domain == AF_INET || domain == AF_INET6) && type == SOCK_STREAM &&
		      (protocol == 0 || protocol == IPPROTO_TCP);
		if (bit_set(made_tcp_fds, fd) != tcp)
			set_bit(made_tcp_fds, fd, tcp);
	}
	return fd;
}

static int tor_fd_marked(int fd)
{
	return bit_set(tor_fds, fd);
}

/* Under the lock: FD's entry is now in STATE (TOR_FREE: gone). */
static void tor_fd_mark(int fd, enum tor_state state)
{
	int ours = state != TOR_FREE, failed = state == TOR_INTERRUPTED || state == TOR_FAILED;

	/* (A locked write only for a bit that changes: a reused number mostly
	 * stays as it was.) */
	if (bit_set(tor_fds, fd) != ours)
		set_bit(tor_fds, fd, ours);
	if (bit_set(tor_failed_fds, fd) != failed)
		set_bit(tor_failed_fds, fd, failed);
}

/* Whether entry E still describes the socket open at its descriptor. */
static int entry_live(const struct tor_socket *e)
{
	struct stat st;

	return fstat(e->fd, &st) == 0 && S_ISSOCK(st.st_mode) && st.st_dev == e->dev &&
	       st.st_ino == e->ino;
}

/* Records FD in STATE (with ERROR, and the caller's address SA/LEN). Returns 0,
 * or -1 if there is no room: the caller then fails closed. */
static int remember_tor_socket(int fd, enum tor_state state, int error, const struct sockaddr *sa,
			       socklen_t len)
{
	struct tor_socket *slot = NULL;
	struct stat st;
	int rc = 0;

	if ((unsigned)fd >= TOR_FDS_TRACKED || fstat(fd, &st) != 0)
		return -1;
	if (len > (socklen_t)sizeof(slot->addr))
		len = sizeof(slot->addr);
	pthread_mutex_lock(&tor_sockets_lock);
	for (int pass = 0; pass < 2 && !slot; pass++) {
		for (size_t i = 0; i < TOR_SOCKETS_MAX; i++) {
			struct tor_socket *e = &tor_sockets[i];
			if (e->state != TOR_FREE && e->fd == fd) {
				slot = e; /* the same descriptor again: a new socket replaces it */
				break;
			}
			if (!slot && e->state == TOR_FREE)
				slot = e;
		}
		if (!slot) {
			/* Full: reclaim entries whose socket was closed (we do not hook close). */
			for (size_t i = 0; i < TOR_SOCKETS_MAX; i++) {
				struct tor_socket *e = &tor_sockets[i];
				if (e->state != TOR_FREE && !entry_live(e)) {
					tor_fd_mark(e->fd, TOR_FREE); /* one entry per descriptor */
					e->state = TOR_FREE;
				}
			}
		}
	}
	if (slot) {
		slot->fd = fd;
		slot->state = state;
		slot->error = error;
		slot->dev = st.st_dev;
		slot->ino = st.st_ino;
		memset(&slot->addr, 0, sizeof(slot->addr));
		memcpy(&slot->addr, sa, len);
		slot->len = len;
		tor_fd_mark(fd, state);
	} else {
		rc = -1;
	}
	pthread_mutex_unlock(&tor_sockets_lock);
	return rc;
}

/* The state of FD in the table (TOR_FREE: not one of ours); for a connected one,
 * copies the synthetic address into SA/LEN as getpeername() would, and for a
 * failed one the error into *ERROR. Other descriptors cost one bit test. */
static enum tor_state tor_socket_state(int fd, struct sockaddr *sa, socklen_t *len, int *error)
{
	enum tor_state state = TOR_FREE;
	struct stat st;
	int saved = errno;

	if (!tor_fd_marked(fd))
		return TOR_FREE;
	if (fstat(fd, &st) != 0) {
		errno = saved;
		return TOR_FREE;
	}
	pthread_mutex_lock(&tor_sockets_lock);
	for (size_t i = 0; i < TOR_SOCKETS_MAX; i++) {
		struct tor_socket *e = &tor_sockets[i];
		if (e->state == TOR_FREE || e->fd != fd)
			continue;
		if (e->dev != st.st_dev || e->ino != st.st_ino) {
			e->state = TOR_FREE; /* closed and the number reused: forget it */
			tor_fd_mark(fd, TOR_FREE);
			break;
		}
		state = e->state;
		if (state == TOR_CONNECTED && sa && len) {
			socklen_t want = e->len;
			memcpy(sa, &e->addr, want < *len ? want : *len);
			*len = want;
		}
		if (error)
			*error = e->error;
		break;
	}
	pthread_mutex_unlock(&tor_sockets_lock);
	errno = saved;
	return state;
}

static int tor_socket(int fd, struct sockaddr *sa, socklen_t *len)
{
	return tor_socket_state(fd, sa, len, NULL) == TOR_CONNECTED;
}

/* Puts a fresh, unconnected socket of the same family in FD's place (same
 * descriptor, status and descriptor flags): the last resort for a socket whose
 * failed Tor handshake cannot be remembered (table full), so that a retry
 * starts over through Tor instead of finding the old one connected to Tor's
 * SOCKS port (EISCONN) and speaking SMTP into it. */
static void replace_with_fresh_socket(int fd)
{
	int saved = errno, domain, fl = omx_real.fcntl(fd, F_GETFL), fdfl = omx_real.fcntl(fd, F_GETFD), s;
	socklen_t dlen = sizeof(domain);

	if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &dlen) == 0 &&
	    (s = omx_real.socket(domain, SOCK_STREAM, 0)) >= 0) {
		if (fl >= 0)
			omx_real.fcntl(s, F_SETFL, fl);
		omx_real.dup3(s, fd, fdfl >= 0 && (fdfl & FD_CLOEXEC) ? O_CLOEXEC : 0);
		close(s);
	}
	errno = saved;
}

/* The last onion connection that failed in this delivery, so that the MTA's
 * next try of the same onion right after - the same onion under its IPv4 and
 * its IPv4-mapped address, both of which Exim and Postfix list - fails at
 * once with the same error instead of waiting for Tor once more (a hung Tor
 * would cost the timeout twice). Under tor_sockets_lock. */
#define RECENT_FAILURE_NS (5LL * 1000000000)
static struct {
	char onion[OMX_ONION_LABEL_LEN + 1];
	uint16_t port;
	int error;
	long long at;
} recent_failure;

/* 0, or the error the same onion and port failed with just now. */
static int failed_just_now(const struct omx_target *target, uint16_t port, double *ago)
{
	int error = 0;
	long long now;

	if (!__atomic_load_n(&recent_failure_at, __ATOMIC_RELAXED))
		return 0; /* the usual case: no lock taken */
	now = monotonic_ns();
	pthread_mutex_lock(&tor_sockets_lock);
	if (recent_failure.at && now - recent_failure.at < RECENT_FAILURE_NS &&
	    recent_failure.port == port && strcmp(recent_failure.onion, target->onion) == 0) {
		error = recent_failure.error;
		*ago = (double)(now - recent_failure.at) / 1e9;
	}
	pthread_mutex_unlock(&tor_sockets_lock);
	return error;
}

static void remember_failure(const struct omx_target *target, uint16_t port, int error)
{
	if (!error && !__atomic_load_n(&recent_failure_at, __ATOMIC_RELAXED))
		return; /* a success with no failure to forget: no lock taken */
	pthread_mutex_lock(&tor_sockets_lock);
	memcpy(recent_failure.onion, target->onion, sizeof(recent_failure.onion));
	recent_failure.port = port;
	recent_failure.error = error;
	recent_failure.at = error ? monotonic_ns() : 0;
	__atomic_store_n(&recent_failure_at, recent_failure.at, __ATOMIC_RELAXED);
	pthread_mutex_unlock(&tor_sockets_lock);
}

/* A new delivery (Postfix's next request) asks Tor afresh. */
static void forget_recent_failure(void)
{
	pthread_mutex_lock(&tor_sockets_lock);
	recent_failure.at = 0;
	__atomic_store_n(&recent_failure_at, 0, __ATOMIC_RELAXED);
	pthread_mutex_unlock(&tor_sockets_lock);
}

/* Logs why synthetic ADDR leads to no onion (R: the map's answer, TARGET the
 * removed onion when R is OMX_MAP_RETIRED); returns the errno to fail with. */
static int refuse_unroutable(uint32_t addr, int r, const struct omx_map *map,
			     const struct omx_target *target)
{
	struct in_addr in = { htonl(addr) };
	char text[INET_ADDRSTRLEN];

	inet_ntop(AF_INET, &in, text, sizeof(text));
	omx_log(LOG_WARNING, "refusing connection to %s%s%s%s: %s", text,
		r == OMX_MAP_RETIRED ? ", formerly " : "", r == OMX_MAP_RETIRED ? target->onion : "",
		r == OMX_MAP_RETIRED ? ".onion" : "",
		!map ? "no usable configuration or map"
		: r == OMX_MAP_RETIRED ? "the onion was removed from the map (its address goes to no other onion for at least 7 days)"
		: r == OMX_MAP_DAMAGED ? "the map is damaged"
		: omx_in_map_range(addr) ? "no onion has this address in the current map"
		: omx_in_old_range(addr) ? "an address of the map's previous range (onionmx-map -r moved it)"
					 : "no discovered onion has this address (discovery cache)");
	return map && r != OMX_MAP_DAMAGED ? EHOSTUNREACH : ECONNREFUSED;
}

/* connect() to synthetic ADDR:PORT: look the onion up and go through Tor. */
static int connect_onion(int fd, const struct sockaddr *sa, socklen_t len, uint32_t addr,
			 uint16_t port)
{
	struct omx_target target;
	char domain[256];
	unsigned ndomains = 0;
	const struct omx_map *map = omx_map_acquire();
	int found, saved = errno, rc, r = 0;

	if (omx_in_map_range(addr)) {
		r = map ? omx_map_addr_onion(map, addr, &target, domain, &ndomains) : 0;
		found = r == 1; /* not a tombstone (OMX_MAP_RETIRED) nor damage */
	} else {
		/* Discovery's range: the onion behind it comes from the shared cache. */
		found = map && !omx_in_old_range(addr) && omx_discovery &&
			omx_cache_addr_onion(omx_discovery, addr, &target);
		snprintf(domain, sizeof(domain), "a domain that publishes it by SRV");
		ndomains = 1;
	}
	omx_map_release();
	if (!found) {
		int error = refuse_unroutable(addr, r, map, &target);

		onion_failed();
		errno = error;
		return -1;
	}
	{
		double ago = 0;
		int error = failed_just_now(&target, port, &ago);

		if (error) {
			omx_log(LOG_WARNING, "cannot connect to %s.onion port %u: it failed %.1fs ago (%s), not asked of Tor again so soon",
				target.onion, port, ago, strerror(error));
			onion_failed();
			errno = error;
			return -1;
		}
	}
	{
		/* The caller's address family is its socket's (the kernel refuses
		 * other pairs), which spares tor.c a getsockopt(SO_DOMAIN). */
		struct omx_tor_request rq = { .target = &target, .caller_port = port,
					      .family = sa->sa_family, .domain = domain,
					      .ndomains = ndomains, .health = omx_tor_health,
					      .known_tcp = bit_set(made_tcp_fds, fd),
					      .untimed = !omx_stats_counting() };
		struct omx_tor_result res;

		rc = omx_tor_connect(&omx_real_host, fd, &omx_cfg, &rq, &res);
		if (rc != -EISCONN && rc != -EALREADY) /* delivery statistics (stats.h) */
			omx_stats_connect(target.onion, (unsigned)res.tor, rc, res.socks_code, res.seconds);
	}
	if (rc == -EISCONN || rc == -EALREADY)
		goto out; /* a second connect() on one of ours: the kernel's answer */
	if (rc != -EINTR && rc != -ENOBUFS)
		remember_failure(&target, port, -rc);
	if (rc)
		onion_failed();
	else
		__atomic_store_n(&onion_failed_at, 0, __ATOMIC_RELAXED);
	if (rc == 0 && remember_tor_socket(fd, TOR_CONNECTED, 0, sa, len) != 0) {
		/* Unremembered, getpeername() would show Tor and SHUT_WR would end
		 * the stream: refuse rather than half-serve. */
		omx_real.shutdown(fd, SHUT_RDWR);
		omx_log(LOG_WARNING, "refusing connection to %s.onion: too many Tor sockets open at once in this process (or descriptor %d too high)",
			target.onion, fd);
		rc = -ENOBUFS;
	}
	if (rc) {
		/* Interrupted (the stream is shut down half-way through the SOCKS
		 * dialogue) or failed: a retry on this socket must not find it
		 * "connected" to Tor. */
		if (remember_tor_socket(fd, rc == -EINTR ? TOR_INTERRUPTED : TOR_FAILED, -rc, sa, len) != 0)
			replace_with_fresh_socket(fd);
	}
out:
	if (rc) {
		errno = -rc;
		return -1;
	}
	errno = saved;
	return 0;
}

/* A connect() on a socket whose Tor handshake was interrupted or failed. The
 * kernel would continue an interrupted connect (EALREADY, then the result);
 * our SOCKS stream was shut down half-way, so nothing can complete it: every
 * later connect() on the socket fails closed, with ECONNABORTED after an
 * interruption and the first error after a failure - never EISCONN, which
 * would let the caller speak SMTP into a dead SOCKS stream. */
static int connect_after_tor_failure(int fd, enum tor_state state, int error)
{
	if (state == TOR_INTERRUPTED) {
		omx_log(LOG_WARNING, "connect() again on a socket whose Tor handshake was interrupted by a signal: refused (use a new socket)");
		errno = ECONNABORTED;
	} else {
		errno = error ? error : ECONNABORTED;
	}
	(void)fd;
	return -1;
}

int connect(int fd, const struct sockaddr *sa, socklen_t len)
{
	uint32_t addr;
	uint16_t port;
	int kind;

	omx_ready();
	if (__builtin_expect(bit_set(tor_failed_fds, fd), 0)) {
		int error = 0;
		enum tor_state state = tor_socket_state(fd, NULL, NULL, &error);
		if (state == TOR_INTERRUPTED || state == TOR_FAILED)
			return connect_after_tor_failure(fd, state, error);
	}
	kind = omx_sockaddr_parts(sa, len, &addr, &port);
	if (kind == 1 && omx_is_synthetic(addr) && omx_enabled())
		return connect_onion(fd, sa, len, addr, port);
	if (kind >= 0 && is_smtp_port(port) && omx_enabled() && smtp_must_be_refused()) {
		errno = ECONNREFUSED;
		return -1;
	}
	if (kind >= 0 && is_smtp_port(port) && fallback_must_be_refused(sa, port)) {
		errno = EPERM;
		return -1;
	}
	if (kind >= 0 && port == 53 && omx_enabled())
		return omx_dns_connect(fd, sa, len);
	omx_dns_untrack_maybe(fd);
	return omx_real.connect(fd, sa, len);
}
extern __typeof(connect) omx_connect __attribute__((alias("connect"), copy(connect), visibility("hidden")));

/* The shared policy of sendto and sendmsg for a datagram or TCP Fast Open send
 * to SA. Returns 1 to pass through, or 0 with *RET (and errno) set. */
static int send_policy(int fd, int flags, const struct sockaddr *sa, socklen_t len, ssize_t *ret)
{
	uint32_t addr;
	uint16_t port;
	int kind = omx_sockaddr_parts(sa, len, &addr, &port);

	if (kind < 0 || !omx_enabled())
		return 1;
	if (kind == 1 && omx_is_synthetic(addr)) {
		int type;
		socklen_t tlen = sizeof(type);

		if (flags & MSG_FASTOPEN) {
			/* Exim then falls back to connect(), which goes through Tor. */
			errno = EOPNOTSUPP;
			*ret = -1;
			return 0;
		}
		if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tlen) == 0 && type != SOCK_STREAM) {
			errno = ENETUNREACH; /* no datagram goes towards an onion's address */
			*ret = -1;
			return 0;
		}
		return 1;
	}
	if ((flags & MSG_FASTOPEN) && is_smtp_port(port) && smtp_must_be_refused()) {
		errno = ECONNREFUSED;
		*ret = -1;
		return 0;
	}
	if ((flags & MSG_FASTOPEN) && is_smtp_port(port) && fallback_must_be_refused(sa, port)) {
		errno = EPERM; /* Exim's default TFO send to its fallback host */
		*ret = -1;
		return 0;
	}
	return 1;
}

ssize_t sendto(int fd, const void *buf, size_t n, int flags, const struct sockaddr *sa,
	       socklen_t len)
{
	ssize_t ret;

	omx_ready();
	if (sa && !send_policy(fd, flags, sa, len, &ret))
		return ret;
	if (__builtin_expect(omx_dns_send_maybe(fd, sa), 0)) {
		struct iovec v = { (void *)buf, n };
		if (omx_dns_send(fd, &v, 1, flags, sa, len, &ret))
			return ret;
	}
	return omx_real.sendto(fd, buf, n, flags, sa, len);
}
extern __typeof(sendto) omx_sendto __attribute__((alias("sendto"), copy(sendto), visibility("hidden")));

ssize_t sendmsg(int fd, const struct msghdr *msg, int flags)
{
	ssize_t ret;

	omx_ready();
	if (msg && msg->msg_name && !send_policy(fd, flags, msg->msg_name, msg->msg_namelen, &ret))
		return ret;
	if (msg && __builtin_expect(omx_dns_send_maybe(fd, msg->msg_name), 0) &&
	    omx_dns_send(fd, msg->msg_iov, msg->msg_iovlen, flags, msg->msg_name, msg->msg_namelen, &ret))
		return ret;
	return omx_real.sendmsg(fd, msg, flags);
}
extern __typeof(sendmsg) omx_sendmsg __attribute__((alias("sendmsg"), copy(sendmsg), visibility("hidden")));

int getpeername(int fd, struct sockaddr *sa, socklen_t *len)
{
	int rc, saved;

	omx_ready();
	rc = omx_real.getpeername(fd, sa, len);
	if (rc != 0 || !sa || !len)
		return rc;
	/* Ours: the address the caller connected to, not Tor's; a socket whose
	 * handshake did not complete is connected to nothing the caller asked for. */
	saved = errno;
	switch (tor_socket_state(fd, sa, len, NULL)) {
	case TOR_INTERRUPTED:
	case TOR_FAILED:
		errno = ENOTCONN;
		return -1;
	default:
		break;
	}
	errno = saved;
	return 0;
}

/* Tor has no half-closed streams: the SOCKS client's FIN ends the stream, and
 * what the onion still sends is lost. Exim pipelines QUIT after the message's
 * final dot and shuts its writing side before reading the reply to the data:
 * over Tor it never saw the 250 and deferred (later re-sent) a delivered
 * message. On our sockets shutdown(SHUT_WR) is therefore not passed on; the
 * close() that follows ends the stream as the MTA meant. */
int shutdown(int fd, int how)
{
	omx_ready();
	if (how == SHUT_WR && tor_socket(fd, NULL, NULL)) {
		omx_log(LOG_DEBUG, "shutdown(SHUT_WR) of a Tor stream not passed on (Tor has no half-close)");
		return 0;
	}
	return omx_real.shutdown(fd, how);
}
