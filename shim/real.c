/* Binding the real libc functions. */
#include "real.h"

#include <unistd.h>

#include <dlfcn.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"

struct omx_real_fns omx_real;
struct omx_host omx_real_host;
static pthread_once_t bind_once = PTHREAD_ONCE_INIT;

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

/* The host of the core: what the library hooks from omx_real, the rest (not
 * hooked, so no self-reference) from libc. */
static void fill_host(int (*real_connect)(int, const struct sockaddr *, socklen_t))
{
	struct omx_host *h = &omx_real_host;

	h->socket = socket;
	h->connect = real_connect;
	h->send = omx_real.send;
	h->recv = recv;
	h->poll = poll;
	h->shutdown = omx_real.shutdown;
	h->close = close;
	h->fcntl = omx_real.fcntl;
	h->dup3 = omx_real.dup3;
	h->getsockopt = getsockopt;
	h->setsockopt = setsockopt;
	h->signal_interrupts = omx_libc_signal_interrupts;
	h->now = omx_libc_now;
	h->random = next_random;
	h->log = omx_log;
	h->res_nquery = omx_real.res_nquery;
}

#define BIND(field) (*(void **)&omx_real.field = next_symbol(#field))

static void bind_all(void)
{
	struct omx_real_fns r;

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
	BIND(gethostbyname);
	BIND(gethostbyname2);
	BIND(gethostbyname_r);
	BIND(gethostbyname2_r);
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
	/* connect last: omx_ready() tests it to know the whole table is bound. */
	memcpy(&r, &omx_real, sizeof(r));
	*(void **)&r.connect = next_symbol("connect");
	fill_host(r.connect);
	__atomic_store_n((uintptr_t *)&omx_real.connect, (uintptr_t)r.connect, __ATOMIC_RELEASE);
}

void omx_bind_real(void)
{
	pthread_once(&bind_once, bind_all);
}
