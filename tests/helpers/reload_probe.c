/* reload_probe NAME COUNT [CHROOT]: a long-lived process (like Postfix's smtp):
 * optionally chroots right after start-up (the library is loaded by then), then
 * once per line read on stdin looks up an MX with res_nsearch (NAME's for a line
 * "go", else the line's own name) and prints the first exchange (or "none
 * h_errno=N"). Lets a test change the map in between. Two more lines: "closefds"
 * closes every descriptor above 2, as some daemons do, then makes a pipe (which
 * takes the lowest numbers again) and prints "pipe R W"; "pipeok" prints whether
 * that pipe is still open. */
#include <arpa/nameser.h>
#include <fcntl.h>
#include <netdb.h>
#include <resolv.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	struct __res_state state;
	unsigned char answer[4096];
	char line[64];
	int count, pipefd[2] = { -1, -1 };

	if (argc < 3)
		return 2;
	count = atoi(argv[2]);
	memset(&state, 0, sizeof(state));
	res_ninit(&state);
	if (argc > 3 && (chroot(argv[3]) != 0 || chdir("/") != 0)) {
		perror("chroot");
		return 1;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	for (int i = 0; i < count && fgets(line, sizeof(line), stdin); i++) {
		const char *name = argv[1];
		int len;

		line[strcspn(line, "\n")] = '\0';
		if (strcmp(line, "closefds") == 0) {
			res_nclose(&state); /* its socket first, then everything else */
			for (int fd = 3; fd < 1024; fd++)
				if (fd != fileno(stdin) && fd != fileno(stdout))
					close(fd);
			if (pipe(pipefd) != 0)
				pipefd[0] = pipefd[1] = -1;
			printf("pipe %d %d\n", pipefd[0], pipefd[1]);
			continue;
		}
		if (strcmp(line, "pipeok") == 0) {
			printf("pipe %s\n", fcntl(pipefd[0], F_GETFD) != -1 && fcntl(pipefd[1], F_GETFD) != -1
						     ? "open" : "closed");
			continue;
		}
		if (strcmp(line, "go") != 0)
			name = line;
		len = res_nsearch(&state, name, ns_c_in, ns_t_mx, answer, sizeof(answer));
		ns_msg msg;
		ns_rr rr;
		char host[NS_MAXDNAME];

		if (len > 0 && ns_initparse(answer, len, &msg) == 0 && ns_msg_count(msg, ns_s_an) > 0 &&
		    ns_parserr(&msg, ns_s_an, 0, &rr) == 0 &&
		    dn_expand(ns_msg_base(msg), ns_msg_end(msg), ns_rr_rdata(rr) + 2, host, sizeof(host)) > 0)
			printf("mx %s\n", host);
		else
			printf("none h_errno=%d\n", state.res_h_errno);
	}
	return 0;
}
