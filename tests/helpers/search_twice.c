/* search_twice NAME1 NAME2 READYFILE GOFILE: res_search(NAME1, MX), then creates
 * READYFILE and waits (up to 20 s) for GOFILE, then res_search(NAME2, MX) in
 * the same process, so that resolv.conf can change in between (glibc reloads
 * it into _res before the next lookup). Prints "1 rc=N first-MX-host" and
 * "2 rc=N first-MX-host". */
#include <arpa/nameser.h>
#include <fcntl.h>
#include <netdb.h>
#include <resolv.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static void lookup(int which, const char *name)
{
	unsigned char answer[4096];
	char host[NS_MAXDNAME] = "-";
	ns_msg msg;
	ns_rr rr;
	int rc = res_search(name, ns_c_in, ns_t_mx, answer, sizeof(answer));

	if (rc > 0 && ns_initparse(answer, rc, &msg) == 0 && ns_msg_count(msg, ns_s_an) > 0 &&
	    ns_parserr(&msg, ns_s_an, 0, &rr) == 0 && ns_rr_type(rr) == ns_t_mx)
		dn_expand(ns_msg_base(msg), ns_msg_end(msg), ns_rr_rdata(rr) + 2, host, sizeof(host));
	printf("%d rc=%d %s\n", which, rc, host);
	fflush(stdout);
}

int main(int argc, char **argv)
{
	int fd;

	if (argc != 5) {
		fprintf(stderr, "usage: search_twice NAME1 NAME2 READYFILE GOFILE\n");
		return 2;
	}
	lookup(1, argv[1]);
	fd = open(argv[3], O_WRONLY | O_CREAT, 0600);
	if (fd >= 0)
		close(fd);
	for (int i = 0; i < 2000 && access(argv[4], F_OK) != 0; i++)
		usleep(10000);
	lookup(2, argv[2]);
	return 0;
}
