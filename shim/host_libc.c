/* The host made of plain libc, for the tools and the unit tests. Not in the
 * library: taking the address of connect(), send() ... there would bind to the
 * library's own hooks (tests/integ/selfbind.sh). */
#include "host.h"

#include <fcntl.h>
#include <stdlib.h>
#include <sys/random.h>
#include <unistd.h>

static uint32_t libc_random(void *ctx)
{
	uint32_t v;

	(void)ctx;
	if (getrandom(&v, sizeof(v), GRND_NONBLOCK) != sizeof(v))
		v = (uint32_t)random();
	return v;
}

static void no_log(int prio, const char *fmt, ...)
{
	(void)prio;
	(void)fmt;
}

static int no_log_enabled(int prio)
{
	(void)prio;
	return 0;
}

const struct omx_host omx_libc_host = {
	.socket = socket,
	.connect = connect,
	.send = send,
	.sendto = sendto,
	.recv = recv,
	.poll = poll,
	.shutdown = shutdown,
	.close = close,
	.fcntl = fcntl,
	.dup3 = dup3,
	.getsockopt = getsockopt,
	.setsockopt = setsockopt,
	.signal_interrupts = omx_libc_signal_interrupts,
	.now = omx_libc_now,
	.random = libc_random,
	.log = no_log,
	.log_enabled = no_log_enabled,
	.res_nquery = res_nquery,
};
