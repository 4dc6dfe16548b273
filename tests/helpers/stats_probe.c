/* stats_probe [-j JAIL] [-F FORKS] [-m DOMAIN] HOST PORT: resolves HOST (with the
 * library loaded, an onion name gets its synthetic address), optionally chroots
 * into JAIL (as Postfix's smtp does, after the library opened its files), then
 * looks up DOMAIN's MX if asked, and connects to HOST:PORT: once itself, or
 * from each of FORKS children made by fork() without exec (they share the
 * parent's mapping of the statistics). Prints one "connect: ok|ERRNO" line per
 * connection. */
#include <arpa/nameser.h>
#include <errno.h>
#include <netdb.h>
#include <resolv.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

static void connect_once(const struct addrinfo *ai)
{
	int fd = socket(ai->ai_family, SOCK_STREAM, 0);

	if (fd < 0 || connect(fd, ai->ai_addr, ai->ai_addrlen) != 0)
		printf("connect: %s\n", strerrorname_np(errno));
	else
		printf("connect: ok\n");
	fflush(stdout);
	if (fd >= 0)
		close(fd);
}

int main(int argc, char **argv)
{
	struct addrinfo hints = { .ai_family = AF_INET, .ai_socktype = SOCK_STREAM }, *ai;
	const char *jail = NULL, *mx = NULL;
	int forks = 0, opt, rc;

	while ((opt = getopt(argc, argv, "j:F:m:")) != -1) {
		if (opt == 'j')
			jail = optarg;
		else if (opt == 'F')
			forks = atoi(optarg);
		else if (opt == 'm')
			mx = optarg;
		else
			return 2;
	}
	if (optind + 2 != argc)
		return 2;
	rc = getaddrinfo(argv[optind], argv[optind + 1], &hints, &ai);
	if (rc != 0) {
		printf("resolve: %s\n", gai_strerror(rc));
		return 1;
	}
	res_init();
	if (jail && (chroot(jail) != 0 || chdir("/") != 0)) {
		perror("chroot");
		return 1;
	}
	if (mx) {
		unsigned char answer[4096];

		printf("mx: %d\n", res_search(mx, C_IN, T_MX, answer, sizeof(answer)));
	}
	if (forks == 0) {
		connect_once(ai);
		return 0;
	}
	fflush(stdout);
	for (int i = 0; i < forks; i++)
		if (fork() == 0) {
			connect_once(ai);
			_exit(0);
		}
	while (wait(NULL) > 0)
		;
	return 0;
}
