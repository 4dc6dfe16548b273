/* self_report: prints whether libonionmx is mapped into this process and what
 * LD_PRELOAD and ONIONMX_CONF it was given, then resolves NAME's MX if given. */
#include <arpa/nameser.h>
#include <resolv.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv)
{
	char line[4096];
	int loaded = 0;
	FILE *maps = fopen("/proc/self/maps", "r");

	while (maps && fgets(line, sizeof(line), maps))
		if (strstr(line, "libonionmx"))
			loaded = 1;
	if (maps)
		fclose(maps);
	printf("loaded=%s\n", loaded ? "yes" : "no");
	printf("LD_PRELOAD=%s\n", getenv("LD_PRELOAD") ? getenv("LD_PRELOAD") : "");
	printf("ONIONMX_CONF=%s\n", getenv("ONIONMX_CONF") ? getenv("ONIONMX_CONF") : "");
	if (argc > 1) {
		unsigned char answer[4096];
		ns_msg msg;
		ns_rr rr;
		char host[NS_MAXDNAME];
		int len = res_search(argv[1], ns_c_in, ns_t_mx, answer, sizeof(answer));

		if (len > 0 && ns_initparse(answer, len, &msg) == 0 && ns_parserr(&msg, ns_s_an, 0, &rr) == 0 &&
		    dn_expand(ns_msg_base(msg), ns_msg_end(msg), ns_rr_rdata(rr) + 2, host, sizeof(host)) > 0)
			printf("mx=%s\n", host);
		else
			printf("mx=none\n");
	}
	return 0;
}
