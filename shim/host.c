/* The parts of a host that the library's and the tools' hosts share. */
#include "host.h"

#include <errno.h>

#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

double omx_libc_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The kernel's blocking connect() is restarted after a handler installed with
 * SA_RESTART and fails with EINTR after one without (Exim's alarm() around
 * connect()). poll() itself is never restarted, and does not say which signal
 * ran: a handler installed without SA_RESTART for a signal that can arrive
 * while we wait counts - not the faults a thread raises itself (crash
 * handlers, ASan's), which cannot occur inside poll(). Costs a sigaction() per
 * signal, only after an EINTR. */
int omx_libc_signal_interrupts(void)
{
	for (int sig = 1; sig < NSIG; sig++) {
		struct sigaction sa;

		if (sig == SIGSEGV || sig == SIGBUS || sig == SIGILL || sig == SIGFPE ||
		    sig == SIGTRAP || sig == SIGSYS || sig == SIGABRT)
			continue;
		if (sigaction(sig, NULL, &sa) == 0 && sa.sa_handler != SIG_DFL &&
		    sa.sa_handler != SIG_IGN && !(sa.sa_flags & SA_RESTART))
			return 1;
	}
	return 0;
}

int omx_io_wait(const struct omx_host *h, int fd, short events, double deadline)
{
	return omx_io_wait_at(h, fd, events, deadline, h->now());
}

int omx_io_wait_at(const struct omx_host *h, int fd, short events, double deadline, double now)
{
	for (;; now = h->now()) {
		struct pollfd p = { .fd = fd, .events = events };
		double left = deadline - now;
		int r;

		if (left <= 0)
			return -ETIMEDOUT;
		r = h->poll(&p, 1, (int)(left * 1000) + 1);
		if (r > 0)
			return 0;
		if (r < 0 && errno == EINTR) {
			if (h->signal_interrupts())
				return -EINTR;
		} else if (r < 0) {
			return -errno;
		}
	}
}

int omx_io_send_all(const struct omx_host *h, int fd, const void *buf, size_t len, double deadline)
{
	const uint8_t *p = buf;

	while (len) {
		ssize_t w;

		if (h->now() >= deadline)
			return -ETIMEDOUT;
		w = h->send(fd, p, len, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (w > 0) {
			p += w;
			len -= (size_t)w;
		} else if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
			int r = omx_io_wait(h, fd, POLLOUT, deadline);
			if (r)
				return r;
		} else {
			return w == 0 ? -EPIPE : -errno;
		}
	}
	return 0;
}

ssize_t omx_io_recv(const struct omx_host *h, int fd, void *buf, size_t cap, double deadline)
{
	for (;;) {
		ssize_t n;
		int r;

		if (h->now() >= deadline)
			return -ETIMEDOUT;
		n = h->recv(fd, buf, cap, MSG_DONTWAIT);
		if (n >= 0)
			return n;
		if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
			return -errno;
		if ((r = omx_io_wait(h, fd, POLLIN, deadline)) != 0)
			return r;
	}
}
