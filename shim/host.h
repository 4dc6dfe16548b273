/* The seam between the core and whoever hosts it: the I/O, clock, randomness
 * and log sink the core's SOCKS client and routing decision use, passed in as
 * one structure instead of reached through globals or omx_real. The library
 * fills it from the real libc symbols it bound once (real.c: omx_real_host),
 * the tools from plain libc (omx_libc_host), the unit tests from fakes with a
 * fake clock. Every function keeps libc's contract (-1 and errno). */
#ifndef OMX_HOST_H
#define OMX_HOST_H
#include <poll.h>
#include <resolv.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

struct omx_host {
	int (*socket)(int domain, int type, int protocol);
	int (*connect)(int fd, const struct sockaddr *sa, socklen_t len);
	ssize_t (*send)(int fd, const void *buf, size_t len, int flags);
	/* NULL: the SOCKS client connects to Tor with connect() alone (tor.c). */
	ssize_t (*sendto)(int fd, const void *buf, size_t len, int flags, const struct sockaddr *sa,
			  socklen_t salen);
	ssize_t (*recv)(int fd, void *buf, size_t len, int flags);
	int (*poll)(struct pollfd *fds, nfds_t n, int timeout_ms);
	int (*shutdown)(int fd, int how);
	int (*close)(int fd);
	int (*fcntl)(int fd, int cmd, ...);
	int (*dup3)(int from, int to, int flags);
	int (*getsockopt)(int fd, int level, int name, void *val, socklen_t *len);
	int (*setsockopt)(int fd, int level, int name, const void *val, socklen_t len);
	/* Whether a signal that interrupted a wait (poll() failing with EINTR)
	 * would have interrupted the kernel's own blocking connect(). */
	int (*signal_interrupts)(void);
	/* Monotonic time in seconds. */
	double (*now)(void);
	/* 32 random bits; load spreading only, no secrecy. */
	uint32_t (*random)(void *ctx);
	/* One log line at a syslog priority; errno is preserved. */
	void (*log)(int prio, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
	/* Whether log() would emit a line at PRIO, so a caller can skip building
	 * its text; NULL: it would. */
	int (*log_enabled)(int prio);
	/* The resolver's query function (res_nquery's contract). */
	int (*res_nquery)(struct __res_state *statp, const char *dname, int cls, int type,
			  unsigned char *answer, int anslen);
};

/* Plain libc, for the tools; its log sink writes nothing (a tool reports
 * results itself). */
extern const struct omx_host omx_libc_host;

/* libc's answer to signal_interrupts (see tor.c): a handler installed without
 * SA_RESTART for a signal that can arrive during a wait. */
int omx_libc_signal_interrupts(void);

/* Monotonic seconds from clock_gettime (the vDSO: no system call). */
double omx_libc_now(void);

/* Non-blocking I/O under a deadline (H->now() seconds), whatever the socket's
 * flags: MSG_DONTWAIT on every call, poll() with the time left in between.
 * omx_io_wait: 0 when FD is ready for EVENTS (or has an error the next call
 * reports), -ETIMEDOUT, -EINTR when a handler without SA_RESTART ran (see
 * signal_interrupts), or -errno. omx_io_send_all: 0 once all of BUF is sent,
 * or -errno. omx_io_recv: the bytes read (at most CAP), 0 at end of stream, or
 * -errno. */
int omx_io_wait(const struct omx_host *h, int fd, short events, double deadline);
/* The same with NOW, the clock read since the last wait (the calls in between
 * never block): one clock read fewer. */
int omx_io_wait_at(const struct omx_host *h, int fd, short events, double deadline, double now);
int omx_io_send_all(const struct omx_host *h, int fd, const void *buf, size_t len, double deadline);
ssize_t omx_io_recv(const struct omx_host *h, int fd, void *buf, size_t cap, double deadline);
#endif
