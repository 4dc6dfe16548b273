/* Binding the real libc functions. */
#include "real.h"

#include <unistd.h>

#include <dlfcn.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct omx_real_fns omx_real;
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
	BIND(getaddrinfo_a);
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
	__atomic_store_n((uintptr_t *)&omx_real.connect, (uintptr_t)r.connect, __ATOMIC_RELEASE);
}

void omx_bind_real(void)
{
	pthread_once(&bind_once, bind_all);
}
