/* lookup_loop NAME STOPFILE: a long-lived process looking NAME's MX up with
 * res_nsearch in a loop (as an MTA does) until STOPFILE exists, then prints how
 * often each answer came: "mx HOST COUNT", "tempfail COUNT" (TRY_AGAIN),
 * "other COUNT", and "sigbus COUNT": a map truncated under the process's
 * mapping raises SIGBUS (counted here so the run can go on; an MTA process
 * would die of it, which delivers nothing). */
#include <arpa/nameser.h>
#include <netdb.h>
#include <resolv.h>
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_HOSTS 8

static sigjmp_buf jump;

static void on_sigbus(int sig)
{
	(void)sig;
	siglongjmp(jump, 1);
}

int main(int argc, char **argv)
{
	struct __res_state state;
	unsigned char answer[4096];
	char hosts[MAX_HOSTS][NS_MAXDNAME];
	static unsigned long counts[MAX_HOSTS], tempfail, other, nhosts;
	volatile unsigned long sigbus = 0;
	struct sigaction sa;

	if (argc != 3) {
		fprintf(stderr, "usage: lookup_loop NAME STOPFILE\n");
		return 2;
	}
	memset(&state, 0, sizeof(state));
	res_ninit(&state);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_sigbus;
	sa.sa_flags = SA_NODEFER;
	sigaction(SIGBUS, &sa, NULL);
	while (access(argv[2], F_OK) != 0) {
		ns_msg msg;
		ns_rr rr;
		char host[NS_MAXDNAME];
		int len;
		unsigned long i;

		if (sigsetjmp(jump, 1)) {
			sigbus++;
			continue;
		}
		h_errno = 0;
		len = res_nsearch(&state, argv[1], ns_c_in, ns_t_mx, answer, sizeof(answer));
		if (len > 0 && ns_initparse(answer, len, &msg) == 0 && ns_msg_count(msg, ns_s_an) > 0 &&
		    ns_parserr(&msg, ns_s_an, 0, &rr) == 0 &&
		    dn_expand(ns_msg_base(msg), ns_msg_end(msg), ns_rr_rdata(rr) + 2, host, sizeof(host)) > 0) {
			for (i = 0; i < nhosts && strcmp(hosts[i], host) != 0; i++)
				;
			if (i == nhosts && nhosts < MAX_HOSTS)
				strcpy(hosts[nhosts++], host);
			if (i < nhosts)
				counts[i]++;
			else
				other++;
		} else if (len < 0 && h_errno == TRY_AGAIN) {
			tempfail++;
		} else {
			other++;
		}
	}
	for (unsigned long i = 0; i < nhosts; i++)
		printf("mx %s %lu\n", hosts[i], counts[i]);
	printf("tempfail %lu\nother %lu\nsigbus %lu\n", tempfail, other, sigbus);
	return 0;
}
