/* lookup_repeat KIND NAME N: the same lookup N times in one process, as an MTA
 * makes them, so that a tracer can count what one more lookup costs (the
 * process's start and end cancel out between two values of N). KIND:
 *   search-a, search-mx    res_search(NAME, IN, A or MX)
 *   nsearch-mx             res_nsearch on a private res_state (Postfix)
 *   gai                    getaddrinfo(NAME, "25", AF_INET, SOCK_STREAM)
 *   socket                 socket(AF_INET, SOCK_STREAM, 0) and close() (NAME unused)
 * Prints "ok N" when every lookup gave an answer, else the first failure. */
#include <arpa/nameser.h>
#include <netdb.h>
#include <resolv.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	struct __res_state state;
	unsigned char answer[4096];
	long n;

	if (argc != 4 || (n = atol(argv[3])) <= 0) {
		fprintf(stderr, "usage: lookup_repeat search-a|search-mx|nsearch-mx|gai|socket NAME N\n");
		return 2;
	}
	memset(&state, 0, sizeof(state));
	if (res_ninit(&state) != 0 || res_init() != 0) {
		fprintf(stderr, "lookup_repeat: res_init failed\n");
		return 1;
	}
	for (long i = 0; i < n; i++) {
		int rc;

		if (strcmp(argv[1], "search-a") == 0) {
			rc = res_search(argv[2], ns_c_in, ns_t_a, answer, sizeof(answer)) > 0 ? 0 : -1;
		} else if (strcmp(argv[1], "search-mx") == 0) {
			rc = res_search(argv[2], ns_c_in, ns_t_mx, answer, sizeof(answer)) > 0 ? 0 : -1;
		} else if (strcmp(argv[1], "nsearch-mx") == 0) {
			rc = res_nsearch(&state, argv[2], ns_c_in, ns_t_mx, answer, sizeof(answer)) > 0 ? 0 : -1;
		} else if (strcmp(argv[1], "gai") == 0) {
			struct addrinfo hints = { .ai_family = AF_INET, .ai_socktype = SOCK_STREAM }, *ai;

			rc = getaddrinfo(argv[2], "25", &hints, &ai);
			if (rc == 0)
				freeaddrinfo(ai);
		} else if (strcmp(argv[1], "socket") == 0) {
			int fd = socket(AF_INET, SOCK_STREAM, 0);

			rc = fd >= 0 && close(fd) == 0 ? 0 : -1;
		} else {
			fprintf(stderr, "lookup_repeat: unknown kind %s\n", argv[1]);
			return 2;
		}
		if (rc != 0) {
			printf("failed at %ld\n", i);
			return 1;
		}
	}
	printf("ok %ld\n", n);
	return 0;
}
