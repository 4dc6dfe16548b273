/* threads: many threads resolve and connect through the library at once, with
 * fork() in between, each checking every answer. Built with -fsanitize=thread
 * and run against the TSan build of the library by tests/stress/run.sh.
 *
 * usage: threads [-t THREADS] [-i ITERATIONS] [-f FORK_EVERY] [-g HAMMERS] [-c CHILD_DOMAIN] ONION ADDR
 *                DOMAIN PLAIN_HOST PLAIN_ADDR PLAIN_DOMAIN PLAIN_MX BANNER
 *
 *   ONION        a mapped onion name, ADDR its synthetic address (from the map)
 *   DOMAIN       a mail domain whose first MX is ONION (mapped or discovered)
 *   CHILD_DOMAIN the same for forked children, answered without DNS (mapped)
 *   PLAIN_HOST   a clearnet host name (DNS) with the address PLAIN_ADDR
 *   PLAIN_DOMAIN a clearnet mail domain (DNS) whose MX is PLAIN_MX
 *   BANNER       what the SMTP banner behind ONION starts with ("220 onion")
 *
 * Each iteration of each thread: getaddrinfo and gethostbyname_r of ONION and of
 * PLAIN_HOST, res_nsearch MX of DOMAIN and of PLAIN_DOMAIN (own res_state per
 * thread), connect() to ONION's address through the SOCKS server, getpeername()
 * and the banner. Every FORK_EVERY iterations a thread forks; the child (one thread of a
 * multi-threaded parent) resolves onion names and connects once more, then
 * _exits with its verdict. -g adds HAMMERS threads that call getpeername() on a
 * socket connected through Tor in a loop the whole time. Prints one summary line; exits 1 if any check failed. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <resolv.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

static const char *onion, *plain_host, *domain, *plain_domain, *plain_mx, *banner;
static const char *child_domain; /* -c, else DOMAIN */
static struct in_addr onion_addr, plain_addr;
static int iterations = 50, fork_every = 10;
static int stop_hammer; /* atomic */

static long failures, checks, forks, connects; /* atomic */

static void failf(const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	fprintf(stderr, "threads[%d]: FAIL %s\n", (int)getpid(), msg);
	__atomic_add_fetch(&failures, 1, __ATOMIC_RELAXED);
}

static int check(int ok, const char *what, const char *name)
{
	__atomic_add_fetch(&checks, 1, __ATOMIC_RELAXED);
	if (!ok)
		failf("%s %s", what, name);
	return ok;
}

static int gai_is(const char *name, struct in_addr want)
{
	struct addrinfo hints = { .ai_family = AF_INET, .ai_socktype = SOCK_STREAM }, *ai;
	int rc = getaddrinfo(name, "25", &hints, &ai), ok;

	if (rc != 0) {
		failf("getaddrinfo %s: %s", name, gai_strerror(rc));
		return 0;
	}
	ok = ai->ai_family == AF_INET &&
	     ((struct sockaddr_in *)ai->ai_addr)->sin_addr.s_addr == want.s_addr &&
	     ntohs(((struct sockaddr_in *)ai->ai_addr)->sin_port) == 25 && !ai->ai_next;
	freeaddrinfo(ai);
	return check(ok, "getaddrinfo answer for", name);
}

static int ghbn_is(const char *name, struct in_addr want)
{
	struct hostent he, *res = NULL;
	char buf[2048];
	int herr = 0, rc = gethostbyname_r(name, &he, buf, sizeof(buf), &res, &herr);

	return check(rc == 0 && res && res->h_addrtype == AF_INET && res->h_addr_list[0] &&
			     memcmp(res->h_addr_list[0], &want, 4) == 0,
		     "gethostbyname_r answer for", name);
}

/* res_nsearch MX of NAME: the first MX exchange must be WANT (any case). */
static int mx_is(res_state st, const char *name, const char *want)
{
	unsigned char ans[4096];
	char host[NS_MAXDNAME];
	int len = res_nsearch(st, name, ns_c_in, ns_t_mx, ans, sizeof(ans));
	ns_msg msg;
	ns_rr rr;

	if (len <= 0) {
		failf("res_nsearch MX %s: %d (h_errno %d)", name, len, st->res_h_errno);
		return 0;
	}
	if (ns_initparse(ans, len, &msg) != 0 || ns_msg_count(msg, ns_s_an) < 1 ||
	    ns_parserr(&msg, ns_s_an, 0, &rr) != 0 || ns_rr_type(rr) != ns_t_mx ||
	    dn_expand(ns_msg_base(msg), ns_msg_end(msg), ns_rr_rdata(rr) + 2, host, sizeof(host)) < 0)
		return check(0, "res_nsearch reply parse for", name);
	return check(strcasecmp(host, want) == 0, "res_nsearch MX answer for", name);
}

/* connect() to ONION's synthetic address and read the banner through Tor's
 * stand-in. */
static int connect_onion(void)
{
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons(25), .sin_addr = onion_addr };
	struct timeval tv = { .tv_sec = 10 };
	char buf[256];
	size_t have = 0;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), ok;

	if (fd < 0) {
		failf("socket: %s", strerror(errno));
		return 0;
	}
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&sin, sizeof(sin)) != 0) {
		failf("connect %s: %s", onion, strerror(errno));
		close(fd);
		return 0;
	}
	{
		struct sockaddr_in peer;
		socklen_t plen = sizeof(peer);

		check(getpeername(fd, (struct sockaddr *)&peer, &plen) == 0 && plen == sizeof(peer) &&
			      peer.sin_addr.s_addr == onion_addr.s_addr && peer.sin_port == htons(25),
		      "getpeername (the synthetic address) after connect to", onion);
	}
	while (have < sizeof(buf) - 1 && !memchr(buf, '\n', have)) {
		ssize_t n = read(fd, buf + have, sizeof(buf) - 1 - have);
		if (n <= 0)
			break;
		have += (size_t)n;
	}
	buf[have] = '\0';
	ok = strncmp(buf, banner, strlen(banner)) == 0;
	if (ok && write(fd, "QUIT\r\n", 6) != 6)
		ok = 0;
	close(fd);
	__atomic_add_fetch(&connects, 1, __ATOMIC_RELAXED);
	if (!ok)
		failf("banner through %s: \"%.60s\"", onion, buf);
	return check(ok, "banner through", onion);
}

/* What a child of fork() does: its own lookups and a connection, then _exit.
 * A child of a multi-threaded process may only rely on async-signal-safe calls
 * (POSIX): glibc's own resolver is not one (its resolv.conf lock can be inherited
 * held, and the child then blocks forever), so the child asks only what the
 * library answers by itself, with the res_state its thread already had, and
 * calls connect(), which POSIX lists as async-signal-safe. */
/* A child of a multi-threaded parent may only rely on what the library answers
 * itself: glibc's resolver keeps resolv.conf under a lock that another thread
 * of the parent may hold at fork() (it deadlocks without the library too).
 * Hence CHILD_DOMAIN: a mapped domain, where DOMAIN may need DNS (discovery). */
static void child(res_state st)
{
	int ok = gai_is(onion, onion_addr) & ghbn_is(onion, onion_addr) &
		 mx_is(st, child_domain, onion) & connect_onion();

	_exit(ok && __atomic_load_n(&failures, __ATOMIC_RELAXED) == 0 ? 0 : 1);
}

/* -g: keeps calling getpeername() on one socket connected through Tor, so the
 * library's bookkeeping for such sockets is busy whenever another thread forks. */
static void *hammer(void *arg)
{
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons(25), .sin_addr = onion_addr };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	(void)arg;
	if (fd < 0 || connect(fd, (struct sockaddr *)&sin, sizeof(sin)) != 0) {
		failf("hammer connect %s: %s", onion, strerror(errno));
		if (fd >= 0)
			close(fd);
		return NULL;
	}
	__atomic_add_fetch(&connects, 1, __ATOMIC_RELAXED);
	while (!__atomic_load_n(&stop_hammer, __ATOMIC_RELAXED)) {
		struct sockaddr_in peer;
		socklen_t plen = sizeof(peer);

		getpeername(fd, (struct sockaddr *)&peer, &plen);
	}
	close(fd);
	return NULL;
}

static void *worker(void *arg)
{
	static pthread_mutex_t init_lock = PTHREAD_MUTEX_INITIALIZER;
	long id = (long)arg;
	struct __res_state st;
	int rc;

	/* res_ninit shares glibc's parsed resolv.conf between threads under a lock
	 * ThreadSanitizer cannot see (it then reports glibc's own allocations as a
	 * race): the test's own lock makes that hand-over visible. */
	memset(&st, 0, sizeof(st));
	pthread_mutex_lock(&init_lock);
	rc = res_ninit(&st);
	pthread_mutex_unlock(&init_lock);
	if (rc != 0) {
		failf("res_ninit");
		return NULL;
	}
	for (int i = 0; i < iterations; i++) {
		gai_is(onion, onion_addr);
		mx_is(&st, domain, onion);
		gai_is(plain_host, plain_addr);
		ghbn_is(onion, onion_addr);
		mx_is(&st, plain_domain, plain_mx);
		connect_onion();
		if (fork_every > 0 && (i + id) % fork_every == 0) {
			pid_t pid = fork();
			int status;

			if (pid == 0)
				child(&st);
			if (pid < 0) {
				failf("fork: %s", strerror(errno));
				continue;
			}
			__atomic_add_fetch(&forks, 1, __ATOMIC_RELAXED);
			if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
				failf("child %d of thread %ld: status 0x%x", (int)pid, id, status);
		}
	}
	res_nclose(&st);
	return NULL;
}

int main(int argc, char **argv)
{
	int nthreads = 16, nhammers = 0, opt;
	pthread_t *tids, hammers[64];

	while ((opt = getopt(argc, argv, "t:i:f:g:c:")) != -1) {
		switch (opt) {
		case 'c':
			child_domain = optarg;
			break;
		case 'g':
			nhammers = atoi(optarg) > 64 ? 64 : atoi(optarg);
			break;
		case 't':
			nthreads = atoi(optarg);
			break;
		case 'i':
			iterations = atoi(optarg);
			break;
		case 'f':
			fork_every = atoi(optarg);
			break;
		default:
			goto usage;
		}
	}
	if (argc - optind != 8)
		goto usage;
	onion = argv[optind];
	domain = argv[optind + 2];
	if (!child_domain)
		child_domain = domain;
	plain_host = argv[optind + 3];
	plain_domain = argv[optind + 5];
	plain_mx = argv[optind + 6];
	banner = argv[optind + 7];
	if (inet_pton(AF_INET, argv[optind + 1], &onion_addr) != 1 ||
	    inet_pton(AF_INET, argv[optind + 4], &plain_addr) != 1)
		goto usage;

	for (int g = 0; g < nhammers; g++)
		if (pthread_create(&hammers[g], NULL, hammer, NULL) != 0)
			nhammers = g;
	tids = calloc((size_t)nthreads, sizeof(*tids));
	for (long t = 0; t < nthreads; t++)
		if (pthread_create(&tids[t], NULL, worker, (void *)t) != 0) {
			failf("pthread_create: %s", strerror(errno));
			nthreads = (int)t;
			break;
		}
	for (int t = 0; t < nthreads; t++)
		pthread_join(tids[t], NULL);
	free(tids);
	__atomic_store_n(&stop_hammer, 1, __ATOMIC_RELAXED);
	for (int g = 0; g < nhammers; g++)
		pthread_join(hammers[g], NULL);
	printf("threads %d iterations %d checks %ld connects %ld forks %ld failures %ld\n", nthreads,
	       iterations, checks, connects, forks, failures);
	return failures ? 1 : 0;
usage:
	fprintf(stderr, "usage: threads [-t THREADS] [-i ITERATIONS] [-f FORK_EVERY] [-g HAMMERS] ONION ADDR DOMAIN "
			"PLAIN_HOST PLAIN_ADDR PLAIN_DOMAIN PLAIN_MX BANNER\n");
	return 2;
}
