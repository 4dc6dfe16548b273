/* cache_hold: takes the discovery cache's lock as a writer would and stops
 * itself holding it (SIGSTOP), for tests of what other processes do then.
 * Usage: cache_hold PATH [RANGE]; exits 0 once continued, having stored
 * hold.example. */
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "cache.h"

static void stop_once(const char *step)
{
	(void)step;
	omx_cache_test_step = NULL;
	raise(SIGSTOP);
}

int main(int argc, char **argv)
{
	struct omx_cache c;
	struct omx_srv_result r;
	uint32_t net, mask;
	char err[512];

	if (argc < 2 || omx_parse_range(argc > 2 ? argv[2] : OMX_DEFAULT_DISCOVER_RANGE, &net, &mask) != 0) {
		fprintf(stderr, "usage: cache_hold PATH [RANGE]\n");
		return 2;
	}
	if (omx_cache_open(&c, argv[1], net, mask, 0, err, sizeof(err)) != 0) {
		fprintf(stderr, "cache_hold: %s\n", err);
		return 1;
	}
	memset(&r, 0, sizeof(r));
	r.status = OMX_SRV_NONE;
	r.ttl = 60;
	omx_cache_test_step = stop_once;
	omx_cache_put(&c, "hold.example", time(NULL), &r);
	omx_cache_close(&c);
	return 0;
}
