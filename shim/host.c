/* The parts of a host that the library's and the tools' hosts share. */
#include "host.h"

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
