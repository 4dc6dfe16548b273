/* Interposers for the socket calls that reach a synthetic address: connect()
 * (through Tor), sendto/sendmsg (TCP Fast Open, and DNS queries that bypass
 * libc's resolver), getpeername (report the onion's address, not Tor's),
 * shutdown (keep Tor streams whole). The passthrough path reads a few words of
 * memory and calls the real function. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include "answer.h"
#include "hooks.h"
#include "log.h"
#include "real.h"
#include "state.h"
#include "tor.h"

int omx_sockaddr_parts(const struct sockaddr *sa, socklen_t len, uint32_t *addr,
			  uint16_t *port)
{
	if (!sa || len < (socklen_t)sizeof(sa_family_t))
		return -1;
	if (sa->sa_family == AF_INET && len >= (socklen_t)sizeof(struct sockaddr_in)) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
		*addr = ntohl(in->sin_addr.s_addr);
		*port = ntohs(in->sin_port);
		return 1;
	}
	if (sa->sa_family == AF_INET6 && len >= (socklen_t)sizeof(struct sockaddr_in6)) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
		*port = ntohs(in6->sin6_port);
		if (!IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr))
			return 0;
		memcpy(addr, &in6->sin6_addr.s6_addr[12], 4);
		*addr = ntohl(*addr);
		return 1;
	}
	return -1;
}

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

/* Sockets we connected through Tor, with the synthetic address the caller
 * asked for (getpeername() reports it) and the local port, so that a reused
 * descriptor is not mistaken for one of ours. Keyed by fd: an MTA process has
 * one or a few such sockets at a time. */
#define PEER_SLOTS 256
static struct {
	int fd;                 /* read without the lock for a first, cheap check */
	uint16_t local_port;
	struct sockaddr_in6 addr;
	socklen_t len;          /* 0: empty */
} peers[PEER_SLOTS];
static pthread_mutex_t peers_lock = PTHREAD_MUTEX_INITIALIZER;

void omx_socket_after_fork(void)
{
	/* Another thread of the parent may have held it at fork(). */
	pthread_mutex_init(&peers_lock, NULL);
}

static uint16_t local_port(int fd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);

	if (getsockname(fd, (struct sockaddr *)&ss, &len) != 0)
		return 0;
	if (ss.ss_family == AF_INET)
		return ntohs(((struct sockaddr_in *)&ss)->sin_port);
	if (ss.ss_family == AF_INET6)
		return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
	return 0;
}

static void remember_peer(int fd, const struct sockaddr *sa, socklen_t len)
{
	uint16_t port = local_port(fd);
	unsigned slot = (unsigned)fd % PEER_SLOTS;

	if (len > (socklen_t)sizeof(peers[0].addr))
		return;
	pthread_mutex_lock(&peers_lock);
	__atomic_store_n(&peers[slot].len, 0, __ATOMIC_RELAXED);
	__atomic_store_n(&peers[slot].fd, fd, __ATOMIC_RELAXED);
	peers[slot].local_port = port;
	memcpy(&peers[slot].addr, sa, len);
	__atomic_store_n(&peers[slot].len, len, __ATOMIC_RELAXED);
	pthread_mutex_unlock(&peers_lock);
}

/* Whether FD is a socket we connected through Tor; if so and SA is given,
 * copies the synthetic address into SA/LEN as getpeername() would. Other
 * descriptors cost one memory read; only candidates cost a system call. */
static int tor_socket(int fd, struct sockaddr *sa, socklen_t *len)
{
	unsigned slot = (unsigned)fd % PEER_SLOTS;
	uint16_t lport;
	int ours;

	if (__atomic_load_n(&peers[slot].fd, __ATOMIC_RELAXED) != fd ||
	    !__atomic_load_n(&peers[slot].len, __ATOMIC_RELAXED))
		return 0;
	lport = local_port(fd);
	pthread_mutex_lock(&peers_lock);
	ours = lport && peers[slot].fd == fd && peers[slot].len && peers[slot].local_port == lport;
	if (ours && sa && len) {
		socklen_t want = peers[slot].len;
		memcpy(sa, &peers[slot].addr, want < *len ? want : *len);
		*len = want;
	}
	pthread_mutex_unlock(&peers_lock);
	return ours;
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
		struct in_addr in = { htonl(addr) };
		char text[INET_ADDRSTRLEN];

		inet_ntop(AF_INET, &in, text, sizeof(text));
		omx_log(LOG_WARNING, "refusing connection to %s%s%s%s: %s", text,
			r == OMX_MAP_RETIRED ? ", formerly " : "", r == OMX_MAP_RETIRED ? target.onion : "",
			r == OMX_MAP_RETIRED ? ".onion" : "",
			!map ? "no usable configuration or map"
			: r == OMX_MAP_RETIRED ? "the onion was removed from the map (its address goes to no other onion for at least 7 days)"
			: r == OMX_MAP_DAMAGED ? "the map is damaged"
			: omx_in_map_range(addr) ? "no onion has this address in the current map"
			: omx_in_old_range(addr) ? "an address of the map's previous range (onionmx-map -r moved it)"
						 : "no discovered onion has this address (discovery cache)");
		errno = map && r != OMX_MAP_DAMAGED ? EHOSTUNREACH : ECONNREFUSED;
		return -1;
	}
	rc = omx_tor_connect(fd, &omx_cfg, &target, port, domain, ndomains);
	if (rc) {
		errno = -rc;
		return -1;
	}
	remember_peer(fd, sa, len);
	errno = saved;
	return 0;
}

int connect(int fd, const struct sockaddr *sa, socklen_t len)
{
	uint32_t addr;
	uint16_t port;
	int kind;

	omx_ready();
	if (!omx_real.connect) {
		errno = ENOSYS;
		return -1;
	}
	kind = omx_sockaddr_parts(sa, len, &addr, &port);
	if (kind == 1 && omx_is_synthetic(addr) && omx_enabled())
		return connect_onion(fd, sa, len, addr, port);
	if (kind >= 0 && is_smtp_port(port) && omx_enabled() && smtp_must_be_refused()) {
		errno = ECONNREFUSED;
		return -1;
	}
	if (kind >= 0 && port == 53 && omx_enabled())
		return omx_dns_connect(fd, sa, len);
	omx_dns_untrack(fd);
	return omx_real.connect(fd, sa, len);
}

/* The shared policy of sendto and sendmsg for a datagram or TCP Fast Open send
 * to SA. Returns 1 to pass through, or 0 with *RET (and errno) set. */
static int send_policy(int fd, const void *buf, size_t n, int flags, const struct sockaddr *sa,
		       socklen_t len, ssize_t *ret)
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
	if (port == 53 && omx_dns_answer_udp(fd, buf, n)) {
		*ret = (ssize_t)n;
		return 0;
	}
	return 1;
}

ssize_t sendto(int fd, const void *buf, size_t n, int flags, const struct sockaddr *sa,
	       socklen_t len)
{
	ssize_t ret;

	omx_ready();
	if (sa && !send_policy(fd, buf, n, flags, sa, len, &ret))
		return ret;
	if (!sa && omx_dns_tracked(fd) && omx_dns_guard(fd, buf, n))
		return -1;
	return omx_real.sendto(fd, buf, n, flags, sa, len);
}

ssize_t sendmsg(int fd, const struct msghdr *msg, int flags)
{
	uint8_t query[4096];
	const void *buf = NULL;
	size_t n = 0;
	ssize_t ret;

	omx_ready();
	if (msg && msg->msg_name) {
		/* Gather the payload only when it could be a DNS query worth reading. */
		for (size_t i = 0; i < msg->msg_iovlen; i++) {
			if (n + msg->msg_iov[i].iov_len > sizeof(query)) {
				n = 0;
				break;
			}
			memcpy(query + n, msg->msg_iov[i].iov_base, msg->msg_iov[i].iov_len);
			n += msg->msg_iov[i].iov_len;
			buf = query;
		}
		if (!send_policy(fd, n ? buf : NULL, n, flags, msg->msg_name, msg->msg_namelen, &ret))
			return ret;
	} else if (msg && omx_dns_tracked(fd) && omx_dns_guard_iov(fd, msg->msg_iov, msg->msg_iovlen)) {
		return -1;
	}
	return omx_real.sendmsg(fd, msg, flags);
}

int getpeername(int fd, struct sockaddr *sa, socklen_t *len)
{
	int rc, saved;

	omx_ready();
	rc = omx_real.getpeername(fd, sa, len);
	if (rc != 0 || !sa || !len)
		return rc;
	saved = errno;
	tor_socket(fd, sa, len); /* ours: the address the caller connected to, not Tor's */
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
