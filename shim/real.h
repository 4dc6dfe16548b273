/* The real libc functions behind our hooks, bound once with dlsym(RTLD_NEXT). */
#ifndef OMX_REAL_H
#define OMX_REAL_H
#include <netdb.h>
#include <resolv.h>
#include <spawn.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include "host.h"

struct omx_real_fns {
	int (*connect)(int, const struct sockaddr *, socklen_t);
	int (*socket)(int, int, int);
	int (*accept)(int, struct sockaddr *, socklen_t *);
	int (*accept4)(int, struct sockaddr *, socklen_t *, int);
	ssize_t (*sendto)(int, const void *, size_t, int, const struct sockaddr *, socklen_t);
	ssize_t (*sendmsg)(int, const struct msghdr *, int);
	ssize_t (*send)(int, const void *, size_t, int);
	ssize_t (*write)(int, const void *, size_t);
	ssize_t (*writev)(int, const struct iovec *, int);
	int (*getpeername)(int, struct sockaddr *, socklen_t *);
	int (*shutdown)(int, int);
	int (*getaddrinfo)(const char *, const char *, const struct addrinfo *,
			   struct addrinfo **);
	int (*getaddrinfo_a)(int, struct gaicb **, int, struct sigevent *);
	struct hostent *(*gethostbyname)(const char *);
	struct hostent *(*gethostbyname2)(const char *, int);
	int (*gethostbyname_r)(const char *, struct hostent *, char *, size_t,
			       struct hostent **, int *);
	int (*gethostbyname2_r)(const char *, int, struct hostent *, char *, size_t,
				struct hostent **, int *);
	int (*getnameinfo)(const struct sockaddr *, socklen_t, char *, socklen_t, char *, socklen_t, int);
	struct hostent *(*gethostbyaddr)(const void *, socklen_t, int);
	int (*gethostbyaddr_r)(const void *, socklen_t, int, struct hostent *, char *, size_t,
			       struct hostent **, int *);
	int (*res_nsearch)(res_state, const char *, int, int, unsigned char *, int);
	int (*res_nquery)(res_state, const char *, int, int, unsigned char *, int);
	int (*res_nquerydomain)(res_state, const char *, const char *, int, int,
				unsigned char *, int);
	int (*res_nsend)(res_state, const unsigned char *, int, unsigned char *, int);
	int (*res_search)(const char *, int, int, unsigned char *, int);
	int (*res_query)(const char *, int, int, unsigned char *, int);
	int (*res_querydomain)(const char *, const char *, int, int, unsigned char *, int);
	int (*res_send)(const unsigned char *, int, unsigned char *, int);
	/* The exec family (hook_exec.c): bound here too, so that an exec, which may
	 * run in a vfork child, never calls dlsym. */
	int (*execve)(const char *, char *const[], char *const[]);
	int (*execvpe)(const char *, char *const[], char *const[]);
	int (*fexecve)(int, char *const[], char *const[]);
	int (*execveat)(int, const char *, char *const[], char *const[], int);
	int (*posix_spawn)(pid_t *, const char *, const posix_spawn_file_actions_t *,
			   const posix_spawnattr_t *, char *const[], char *const[]);
	int (*posix_spawnp)(pid_t *, const char *, const posix_spawn_file_actions_t *,
			    const posix_spawnattr_t *, char *const[], char *const[]);
	int (*system)(const char *);
	FILE *(*popen)(const char *, const char *);
	/* hook_dns.c: every path a DNS query or its reply travels, and descriptor copies */
	int (*sendmmsg)(int, struct mmsghdr *, unsigned int, int);
	ssize_t (*recvfrom)(int, void *, size_t, int, struct sockaddr *, socklen_t *);
	ssize_t (*recvmsg)(int, struct msghdr *, int);
	int (*recvmmsg)(int, struct mmsghdr *, unsigned int, int, struct timespec *);
	long (*syscall)(long, ...);
	int (*dup)(int);
	int (*dup2)(int, int);
	int (*dup3)(int, int, int);
	int (*fcntl)(int, int, ...);
	int (*fcntl64)(int, int, ...);
	ssize_t (*sendfile)(int, int, off_t *, size_t);
	ssize_t (*sendfile64)(int, int, off64_t *, size_t);
	ssize_t (*splice)(int, off64_t *, int, off64_t *, size_t, unsigned int);
	int (*chroot)(const char *);
};

extern struct omx_real_fns omx_real;

/* The core's host (host.h) in the library: the real functions above for what
 * the library hooks, libc for the rest, omx_log as the sink. Filled with
 * omx_real, so valid once omx_ready() has run. */
extern struct omx_host omx_real_host;

/* Binds every pointer (once, thread-safe); a function with no next
 * definition (or whose next definition is our own hook) gets a stub that
 * fails with ENOSYS (-1; posix_spawn's ENOSYS; NULL for popen; TRY_AGAIN for
 * lookups), so that every hook fails closed the same way. Hooks call it
 * through omx_ready() so that a hook running before our constructor still
 * finds the real function. */
void omx_bind_real(void);

static inline void omx_ready(void)
{
	if (__builtin_expect(__atomic_load_n((void **)&omx_real.connect, __ATOMIC_ACQUIRE) == NULL, 0))
		omx_bind_real();
}
#endif
