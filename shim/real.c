/* Binding the real libc functions. */
#include "real.h"
#include "layout.h"

#include <unistd.h>

#include <dlfcn.h>
#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "once.h"

struct omx_real_fns omx_real;
struct omx_host omx_real_host;
static int bind_state; /* omx_once() */

/* This library's own extent in memory, from the linker (hidden: no relocation). */
extern const char __ehdr_start[] __attribute__((visibility("hidden")));
extern const char _end[] __attribute__((visibility("hidden")));

/* The next definition of NAME after ours, or NULL if there is none or it is
 * one of our own hooks (which would recurse forever). A comparison with our
 * own extent: a dladdr() per symbol cost more than the rest of start-up
 * together, and taking the address of our exported hooks here would make the
 * library refer to its own symbols through the GOT (tests/integ/selfbind.sh). */
static void *next_symbol(const char *name)
{
	void *p = dlsym(RTLD_NEXT, name);

	return (const char *)p >= __ehdr_start && (const char *)p < _end ? NULL : p;
}

/* What a hook calls when its real function is missing (dlsym found none, or
 * found our own hook): it fails as a missing function would, with ENOSYS, the
 * same way in every hook and without a test on the hot path. Lookups fail
 * temporarily (the MTA defers), never "no such host". */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-parameter"
#define ENOSYS_STUB(name, type, fail, params) \
	static type missing_##name params        \
	{                                        \
		errno = ENOSYS;                  \
		return fail;                     \
	}
ENOSYS_STUB(connect, int, -1, (int fd, const struct sockaddr *sa, socklen_t len))
ENOSYS_STUB(socket, int, -1, (int domain, int type, int protocol))
ENOSYS_STUB(accept, int, -1, (int fd, struct sockaddr *sa, socklen_t *len))
ENOSYS_STUB(accept4, int, -1, (int fd, struct sockaddr *sa, socklen_t *len, int fl))
ENOSYS_STUB(sendto, ssize_t, -1, (int fd, const void *b, size_t n, int fl, const struct sockaddr *sa, socklen_t len))
ENOSYS_STUB(sendmsg, ssize_t, -1, (int fd, const struct msghdr *m, int fl))
ENOSYS_STUB(send, ssize_t, -1, (int fd, const void *b, size_t n, int fl))
ENOSYS_STUB(write, ssize_t, -1, (int fd, const void *b, size_t n))
ENOSYS_STUB(writev, ssize_t, -1, (int fd, const struct iovec *v, int n))
ENOSYS_STUB(getpeername, int, -1, (int fd, struct sockaddr *sa, socklen_t *len))
ENOSYS_STUB(shutdown, int, -1, (int fd, int how))
ENOSYS_STUB(getaddrinfo, int, EAI_SYSTEM, (const char *n, const char *s, const struct addrinfo *h, struct addrinfo **r))
ENOSYS_STUB(getaddrinfo_a, int, EAI_SYSTEM, (int m, struct gaicb **l, int n, struct sigevent *sv))
ENOSYS_STUB(sendmmsg, int, -1, (int fd, struct mmsghdr *m, unsigned int n, int fl))
ENOSYS_STUB(recvfrom, ssize_t, -1, (int fd, void *b, size_t n, int fl, struct sockaddr *sa, socklen_t *len))
ENOSYS_STUB(recvmsg, ssize_t, -1, (int fd, struct msghdr *m, int fl))
ENOSYS_STUB(recvmmsg, int, -1, (int fd, struct mmsghdr *m, unsigned int n, int fl, struct timespec *t))
ENOSYS_STUB(syscall, long, -1, (long nr, ...))
ENOSYS_STUB(dup, int, -1, (int fd))
ENOSYS_STUB(dup2, int, -1, (int fd, int to))
ENOSYS_STUB(dup3, int, -1, (int fd, int to, int fl))
ENOSYS_STUB(fcntl, int, -1, (int fd, int cmd, ...))
ENOSYS_STUB(fcntl64, int, -1, (int fd, int cmd, ...))
ENOSYS_STUB(sendfile, ssize_t, -1, (int out, int in, off_t *off, size_t n))
ENOSYS_STUB(sendfile64, ssize_t, -1, (int out, int in, off64_t *off, size_t n))
ENOSYS_STUB(splice, ssize_t, -1, (int in, off64_t *io, int out, off64_t *oo, size_t n, unsigned int fl))
ENOSYS_STUB(chroot, int, -1, (const char *path))
ENOSYS_STUB(execve, int, -1, (const char *p, char *const a[], char *const e[]))
ENOSYS_STUB(execvpe, int, -1, (const char *p, char *const a[], char *const e[]))
ENOSYS_STUB(fexecve, int, -1, (int fd, char *const a[], char *const e[]))
ENOSYS_STUB(execveat, int, -1, (int d, const char *p, char *const a[], char *const e[], int fl))
ENOSYS_STUB(posix_spawn, int, ENOSYS, (pid_t *pid, const char *p, const posix_spawn_file_actions_t *fa,
				       const posix_spawnattr_t *at, char *const a[], char *const e[]))
ENOSYS_STUB(posix_spawnp, int, ENOSYS, (pid_t *pid, const char *p, const posix_spawn_file_actions_t *fa,
					const posix_spawnattr_t *at, char *const a[], char *const e[]))
ENOSYS_STUB(system, int, -1, (const char *c))
ENOSYS_STUB(popen, FILE *, NULL, (const char *c, const char *m))

/* The resolver's: a temporary failure, so that the MTA defers. */
#define LOOKUP_STUB(name, type, params, statp) \
	static type missing_##name params       \
	{                                       \
		res_state st_ = (statp);        \
		if (st_)                        \
			st_->res_h_errno = TRY_AGAIN; \
		h_errno = TRY_AGAIN;            \
		errno = ENOSYS;                 \
		return -1;                      \
	}
LOOKUP_STUB(res_nsearch, int, (res_state s, const char *n, int c, int t, unsigned char *a, int l), s)
LOOKUP_STUB(res_nquery, int, (res_state s, const char *n, int c, int t, unsigned char *a, int l), s)
LOOKUP_STUB(res_nquerydomain, int, (res_state s, const char *n, const char *d, int c, int t, unsigned char *a, int l), s)
LOOKUP_STUB(res_nsend, int, (res_state s, const unsigned char *m, int ml, unsigned char *a, int l), s)
LOOKUP_STUB(res_search, int, (const char *n, int c, int t, unsigned char *a, int l), NULL)
LOOKUP_STUB(res_query, int, (const char *n, int c, int t, unsigned char *a, int l), NULL)
LOOKUP_STUB(res_querydomain, int, (const char *n, const char *d, int c, int t, unsigned char *a, int l), NULL)
LOOKUP_STUB(res_send, int, (const unsigned char *m, int ml, unsigned char *a, int l), NULL)

static struct hostent *missing_gethostbyname(const char *n)
{
	h_errno = TRY_AGAIN;
	errno = ENOSYS;
	return NULL;
}

static struct hostent *missing_gethostbyname2(const char *n, int af)
{
	return missing_gethostbyname(n);
}

static int missing_gethostbyname2_r(const char *n, int af, struct hostent *h, char *b, size_t l,
				    struct hostent **r, int *e)
{
	*r = NULL;
	*e = TRY_AGAIN;
	return ENOSYS;
}

static int missing_gethostbyname_r(const char *n, struct hostent *h, char *b, size_t l,
				   struct hostent **r, int *e)
{
	return missing_gethostbyname2_r(n, AF_INET, h, b, l, r, e);
}
/* Reverse lookups: a temporary failure too (the address may be ours). */
static int missing_getnameinfo(const struct sockaddr *sa, socklen_t sl, char *h, socklen_t hl, char *s,
			       socklen_t svl, int fl)
{
	errno = ENOSYS;
	return EAI_AGAIN;
}

static struct hostent *missing_gethostbyaddr(const void *a, socklen_t l, int t)
{
	return missing_gethostbyname(NULL);
}

static int missing_gethostbyaddr_r(const void *a, socklen_t al, int t, struct hostent *h, char *b, size_t l,
				   struct hostent **r, int *e)
{
	return missing_gethostbyname2_r(NULL, t, h, b, l, r, e);
}
#pragma GCC diagnostic pop

/* A cheap per-thread generator (splitmix64) for load spreading: no secrecy
 * needed, and the hot path must not pay for a system call. */
static uint32_t next_random(void *ctx)
{
	static __thread uint64_t state;
	uint64_t z;

	(void)ctx;
	if (!state) {
		struct timespec ts;

		clock_gettime(CLOCK_MONOTONIC, &ts); /* the vDSO: no system call */
		state = ((uint64_t)ts.tv_sec << 32) ^ (uint64_t)ts.tv_nsec ^ ((uint64_t)getpid() << 40) ^
			(uint64_t)(uintptr_t)&z;
	}
	z = (state += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return (uint32_t)((z ^ (z >> 31)) >> 32);
}

/* libc's functions the core calls that the library does not hook, called
 * rather than taken by address: an address taken is a symbol ld.so looks up
 * when it loads the library, in every process (about 600 instructions each);
 * a call is looked up at its first use, in the processes that use it. Each
 * compiles to a jump. */
static ssize_t host_recv(int fd, void *buf, size_t len, int flags)
{
	return recv(fd, buf, len, flags);
}

static int host_poll(struct pollfd *fds, nfds_t n, int timeout_ms)
{
	return poll(fds, n, timeout_ms);
}

static int host_close(int fd)
{
	return close(fd);
}

static int host_getsockopt(int fd, int level, int name, void *val, socklen_t *len)
{
	return getsockopt(fd, level, name, val, len);
}

static int host_setsockopt(int fd, int level, int name, const void *val, socklen_t len)
{
	return setsockopt(fd, level, name, val, len);
}

/* The host of the core: what the library hooks from omx_real, the rest (not
 * hooked, so no self-reference) from libc. */
static void fill_host(int (*real_connect)(int, const struct sockaddr *, socklen_t))
{
	struct omx_host *h = &omx_real_host;

	h->socket = omx_real.socket;
	h->connect = real_connect;
	h->send = omx_real.send;
	h->sendto = omx_real.sendto;
	h->recv = host_recv;
	h->poll = host_poll;
	h->shutdown = omx_real.shutdown;
	h->close = host_close;
	h->fcntl = omx_real.fcntl;
	h->dup3 = omx_real.dup3;
	h->getsockopt = host_getsockopt;
	h->setsockopt = host_setsockopt;
	h->signal_interrupts = omx_libc_signal_interrupts;
	h->now = omx_libc_now;
	h->random = next_random;
	h->log = omx_log;
	h->log_enabled = omx_log_enabled;
	h->res_nquery = omx_real.res_nquery;
}

/* Binds FIELD to the next definition, or to its ENOSYS stub. */
#define BIND(field)                                                     \
	do {                                                            \
		void *p_ = next_symbol(#field);                         \
		if (p_)                                                 \
			*(void **)&omx_real.field = p_;                 \
		else                                                    \
			omx_real.field = missing_##field;               \
	} while (0)

OMX_STARTUP
static void bind_all(void)
{
	struct omx_real_fns r;

	BIND(socket);
	BIND(accept);
	BIND(accept4);
	BIND(sendto);
	BIND(sendmsg);
	BIND(send);
	BIND(write);
	BIND(writev);
	BIND(getpeername);
	BIND(shutdown);
	BIND(getaddrinfo);
	BIND(getaddrinfo_a);
	BIND(gethostbyname);
	BIND(gethostbyname2);
	BIND(gethostbyname_r);
	BIND(gethostbyname2_r);
	BIND(getnameinfo);
	BIND(gethostbyaddr);
	BIND(gethostbyaddr_r);
	BIND(res_nsearch);
	BIND(res_nquery);
	BIND(res_nquerydomain);
	BIND(res_nsend);
	BIND(res_search);
	BIND(res_query);
	BIND(res_querydomain);
	BIND(res_send);
	BIND(execve);
	BIND(execvpe);
	BIND(fexecve);
	BIND(execveat);
	BIND(posix_spawn);
	BIND(posix_spawnp);
	BIND(system);
	BIND(popen);
	BIND(sendmmsg);
	BIND(recvfrom);
	BIND(recvmsg);
	BIND(recvmmsg);
	BIND(syscall);
	BIND(dup);
	BIND(dup2);
	BIND(dup3);
	BIND(fcntl);
	BIND(fcntl64);
	BIND(sendfile);
	BIND(sendfile64);
	BIND(splice);
	BIND(chroot);
	/* connect last: omx_ready() tests it to know the whole table is bound. */
	memcpy(&r, &omx_real, sizeof(r));
	*(void **)&r.connect = next_symbol("connect");
	if (!r.connect)
		r.connect = missing_connect;
	fill_host(r.connect);
	__atomic_store_n((uintptr_t *)&omx_real.connect, (uintptr_t)r.connect, __ATOMIC_RELEASE);
}

OMX_STARTUP
void omx_bind_real(void)
{
	omx_once(&bind_state, bind_all);
}
