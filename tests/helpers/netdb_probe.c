/* netdb_probe: calls the host-lookup functions and prints what they return.
 *   netdb_probe gai NAME [SERVICE|-] [unspec|inet|inet6] [FLAG,...] [stream|dgram|any]
 *       FLAG: canon numerichost addrconfig v4mapped all numericserv
 *   netdb_probe gai-null NAME [SERVICE]      hints == NULL
 *   netdb_probe ghbn NAME | ghbn2 NAME inet|inet6
 *   netdb_probe ghbn_r NAME BUFLEN | ghbn2_r NAME inet|inet6 BUFLEN
 *   netdb_probe gai_a MODE NAME...   getaddrinfo_a, IPv4 stream; MODE: wait
 *       (GAI_WAIT), suspend (GAI_NOWAIT + gai_suspend), signal (SIGEV_SIGNAL),
 *       thread (SIGEV_THREAD): one "req NAME rc=... addr" line per name
 *   netdb_probe gni ADDR [FLAG,...]   getnameinfo of ADDR (IPv4 or IPv6 literal)
 *       port 25; FLAG: namereqd numerichost numericserv nofqdn
 *   netdb_probe ghba ADDR | ghba_r ADDR BUFLEN   gethostbyaddr(_r) of ADDR */
#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int family(const char *f)
{
	return strcmp(f, "inet") == 0 ? AF_INET : strcmp(f, "inet6") == 0 ? AF_INET6 : AF_UNSPEC;
}

static void print_ai(struct addrinfo *res)
{
	for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
		char host[INET6_ADDRSTRLEN] = "?";
		int port = 0;

		if (ai->ai_family == AF_INET) {
			struct sockaddr_in *in = (struct sockaddr_in *)ai->ai_addr;
			inet_ntop(AF_INET, &in->sin_addr, host, sizeof(host));
			port = ntohs(in->sin_port);
		} else if (ai->ai_family == AF_INET6) {
			struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ai->ai_addr;
			inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof(host));
			port = ntohs(in6->sin6_port);
		}
		printf("ai family=%s socktype=%d addr=%s port=%d canon=%s\n",
		       ai->ai_family == AF_INET ? "inet" : "inet6", ai->ai_socktype, host, port,
		       ai->ai_canonname ? ai->ai_canonname : "-");
	}
}

static void print_hostent(const struct hostent *h)
{
	char addr[INET6_ADDRSTRLEN];

	printf("hostent name=%s addrtype=%s length=%d aliases=%s\n", h->h_name,
	       h->h_addrtype == AF_INET ? "inet" : "inet6", h->h_length,
	       h->h_aliases && h->h_aliases[0] ? h->h_aliases[0] : "-");
	for (char **a = h->h_addr_list; *a; a++) {
		inet_ntop(h->h_addrtype, *a, addr, sizeof(addr));
		printf("addr %s\n", addr);
	}
}

static const char *gai_name(int rc)
{
	switch (rc) {
	case 0: return "0";
	case EAI_NONAME: return "EAI_NONAME";
	case EAI_AGAIN: return "EAI_AGAIN";
	case EAI_FAMILY: return "EAI_FAMILY";
	case EAI_NODATA: return "EAI_NODATA";
	case EAI_SERVICE: return "EAI_SERVICE";
	case EAI_ADDRFAMILY: return "EAI_ADDRFAMILY";
	case EAI_FAIL: return "EAI_FAIL";
	case EAI_OVERFLOW: return "EAI_OVERFLOW";
	case EAI_SYSTEM: return "EAI_SYSTEM";
	default: return "other";
	}
}

static const char *herr_name(int h)
{
	switch (h) {
	case 0: return "0";
	case HOST_NOT_FOUND: return "HOST_NOT_FOUND";
	case TRY_AGAIN: return "TRY_AGAIN";
	case NO_RECOVERY: return "NO_RECOVERY";
	case NO_DATA: return "NO_DATA";
	case NETDB_INTERNAL: return "NETDB_INTERNAL";
	default: return "other";
	}
}

static pthread_mutex_t notified_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t notified_cond = PTHREAD_COND_INITIALIZER;
static int notified;

static void notify_thread(union sigval v)
{
	(void)v;
	pthread_mutex_lock(&notified_lock);
	notified = 1;
	pthread_cond_signal(&notified_cond);
	pthread_mutex_unlock(&notified_lock);
}

/* getaddrinfo_a of NAMES (N) in MODE; waits for every request, then prints them. */
static int gai_a(const char *mode, char **names, int n)
{
	struct addrinfo hints = { .ai_family = AF_INET, .ai_socktype = SOCK_STREAM };
	struct gaicb reqs[16], *list[16];
	struct sigevent sev = { .sigev_notify = SIGEV_NONE };
	sigset_t set;
	int rc, sig = 0;

	if (n > 16)
		n = 16;
	for (int i = 0; i < n; i++) {
		memset(&reqs[i], 0, sizeof(reqs[i]));
		reqs[i].ar_name = names[i];
		reqs[i].ar_request = &hints;
		list[i] = &reqs[i];
	}
	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	sigprocmask(SIG_BLOCK, &set, NULL);
	if (strcmp(mode, "signal") == 0) {
		sev.sigev_notify = SIGEV_SIGNAL;
		sev.sigev_signo = SIGUSR1;
	} else if (strcmp(mode, "thread") == 0) {
		sev.sigev_notify = SIGEV_THREAD;
		sev.sigev_notify_function = notify_thread;
	}
	rc = getaddrinfo_a(strcmp(mode, "wait") == 0 ? GAI_WAIT : GAI_NOWAIT, list, n, &sev);
	printf("getaddrinfo_a=%s\n", gai_name(rc));
	if (rc != 0)
		return 1;
	if (strcmp(mode, "signal") == 0) {
		sigwait(&set, &sig);
		printf("notified=signal\n");
	} else if (strcmp(mode, "thread") == 0) {
		pthread_mutex_lock(&notified_lock);
		while (!notified)
			pthread_cond_wait(&notified_cond, &notified_lock);
		pthread_mutex_unlock(&notified_lock);
		printf("notified=thread\n");
	}
	for (int left = 1; left;) {
		left = 0;
		for (int i = 0; i < n; i++)
			left |= gai_error(&reqs[i]) == EAI_INPROGRESS;
		if (left)
			gai_suspend((const struct gaicb *const *)list, n, NULL);
	}
	for (int i = 0; i < n; i++) {
		char host[INET_ADDRSTRLEN] = "-";
		rc = gai_error(&reqs[i]);
		if (rc == 0 && reqs[i].ar_result)
			inet_ntop(AF_INET, &((struct sockaddr_in *)reqs[i].ar_result->ai_addr)->sin_addr, host,
				  sizeof(host));
		printf("req %s rc=%s addr=%s\n", names[i], gai_name(rc), host);
		if (rc == 0)
			freeaddrinfo(reqs[i].ar_result);
	}
	return 0;
}

/* ADDR as a binary address for gethostbyaddr: its family, *LEN; 0 if not a literal. */
static int parse_addr(const char *text, unsigned char addr[16], socklen_t *len)
{
	if (inet_pton(AF_INET, text, addr) == 1) {
		*len = 4;
		return AF_INET;
	}
	if (inet_pton(AF_INET6, text, addr) == 1) {
		*len = 16;
		return AF_INET6;
	}
	return 0;
}

static int reverse(const char *cmd, int argc, char **argv)
{
	unsigned char addr[16];
	socklen_t len;
	int af = parse_addr(argv[2], addr, &len);

	if (!af) {
		fprintf(stderr, "not an address: %s\n", argv[2]);
		return 2;
	}
	if (strcmp(cmd, "gni") == 0) {
		struct sockaddr_storage ss = { 0 };
		struct sockaddr_in *in = (struct sockaddr_in *)&ss;
		struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
		char host[NI_MAXHOST] = "", serv[NI_MAXSERV] = "", flags[256], *tok, *save;
		int fl = 0, rc;

		snprintf(flags, sizeof(flags), "%s", argc > 3 ? argv[3] : "");
		for (tok = strtok_r(flags, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
			if (!strcmp(tok, "namereqd")) fl |= NI_NAMEREQD;
			if (!strcmp(tok, "numerichost")) fl |= NI_NUMERICHOST;
			if (!strcmp(tok, "numericserv")) fl |= NI_NUMERICSERV;
			if (!strcmp(tok, "nofqdn")) fl |= NI_NOFQDN;
		}
		if (af == AF_INET) {
			in->sin_family = AF_INET;
			in->sin_port = htons(25);
			memcpy(&in->sin_addr, addr, 4);
		} else {
			in6->sin6_family = AF_INET6;
			in6->sin6_port = htons(25);
			memcpy(&in6->sin6_addr, addr, 16);
		}
		rc = getnameinfo((struct sockaddr *)&ss, af == AF_INET ? sizeof(*in) : sizeof(*in6), host,
				 sizeof(host), serv, sizeof(serv), fl);
		printf("rc=%s host=%s serv=%s\n", gai_name(rc), rc ? "-" : host, rc ? "-" : serv);
		return 0;
	}
	if (strcmp(cmd, "ghba") == 0) {
		struct hostent *h;

		h_errno = 0;
		h = gethostbyaddr(addr, len, af);
		printf("result=%s h_errno=%s\n", h ? "ok" : "null", h ? "-" : herr_name(h_errno));
		if (h)
			print_hostent(h);
		return 0;
	}
	{
		size_t buflen = argc > 3 ? (size_t)atol(argv[3]) : 1024;
		char *buf = malloc(buflen ? buflen : 1);
		struct hostent ent, *result = (struct hostent *)1;
		int herr = -1, rc = gethostbyaddr_r(addr, len, af, &ent, buf, buflen, &result, &herr);

		printf("rc=%s result=%s h_errno=%s\n",
		       rc == 0 ? "0" : rc == ERANGE ? "ERANGE" : rc == EAGAIN ? "EAGAIN" : strerror(rc),
		       result ? "ok" : "null", herr_name(herr));
		if (rc == 0 && result)
			print_hostent(result);
		free(buf);
		return 0;
	}
}

int main(int argc, char **argv)
{
	const char *cmd = argc > 1 ? argv[1] : "";

	if (argc < 3) {
		fprintf(stderr, "usage: see the source\n");
		return 2;
	}
	if (strcmp(cmd, "gni") == 0 || strcmp(cmd, "ghba") == 0 || strcmp(cmd, "ghba_r") == 0)
		return reverse(cmd, argc, argv);
	if (strcmp(cmd, "gai_a") == 0)
		return argc > 3 ? gai_a(argv[2], argv + 3, argc - 3) : 2;
	if (strcmp(cmd, "gai") == 0 || strcmp(cmd, "gai-null") == 0) {
		struct addrinfo hints = { 0 }, *res = NULL;
		const char *service = argc > 3 && strcmp(argv[3], "-") ? argv[3] : NULL;
		int rc;

		hints.ai_family = argc > 4 ? family(argv[4]) : AF_UNSPEC;
		if (argc > 5) {
			char flags[256], *tok, *save;
			snprintf(flags, sizeof(flags), "%s", argv[5]);
			for (tok = strtok_r(flags, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
				if (!strcmp(tok, "canon")) hints.ai_flags |= AI_CANONNAME;
				if (!strcmp(tok, "numerichost")) hints.ai_flags |= AI_NUMERICHOST;
				if (!strcmp(tok, "addrconfig")) hints.ai_flags |= AI_ADDRCONFIG;
				if (!strcmp(tok, "v4mapped")) hints.ai_flags |= AI_V4MAPPED;
				if (!strcmp(tok, "all")) hints.ai_flags |= AI_ALL;
				if (!strcmp(tok, "numericserv")) hints.ai_flags |= AI_NUMERICSERV;
			}
		}
		hints.ai_socktype = argc > 6 ? (!strcmp(argv[6], "stream") ? SOCK_STREAM :
						!strcmp(argv[6], "dgram") ? SOCK_DGRAM : 0) : SOCK_STREAM;
		rc = getaddrinfo(argv[2], service, strcmp(cmd, "gai-null") ? &hints : NULL, &res);
		printf("rc=%s\n", gai_name(rc));
		if (rc == 0) {
			print_ai(res);
			freeaddrinfo(res);
		}
		return 0;
	}
	if (strcmp(cmd, "ghbn") == 0 || strcmp(cmd, "ghbn2") == 0) {
		struct hostent *h;
		h_errno = 0;
		h = strcmp(cmd, "ghbn") == 0 ? gethostbyname(argv[2])
					    : gethostbyname2(argv[2], family(argc > 3 ? argv[3] : "inet"));
		printf("result=%s h_errno=%s\n", h ? "ok" : "null", herr_name(h_errno));
		if (h)
			print_hostent(h);
		return 0;
	}
	if (strcmp(cmd, "ghbn_r") == 0 || strcmp(cmd, "ghbn2_r") == 0) {
		int two = strcmp(cmd, "ghbn2_r") == 0;
		size_t buflen = (size_t)atol(argv[two ? 4 : 3]);
		char *buf = malloc(buflen ? buflen : 1);
		struct hostent ent, *result = (struct hostent *)1;
		int herr = -1, rc;

		rc = two ? gethostbyname2_r(argv[2], family(argv[3]), &ent, buf, buflen, &result, &herr)
			 : gethostbyname_r(argv[2], &ent, buf, buflen, &result, &herr);
		printf("rc=%s result=%s h_errno=%s\n",
		       rc == 0 ? "0" : rc == ERANGE ? "ERANGE" : rc == EAGAIN ? "EAGAIN" : strerror(rc),
		       result ? "ok" : "null", herr_name(herr));
		if (rc == 0 && result)
			print_hostent(result);
		free(buf);
		return 0;
	}
	fprintf(stderr, "unknown command %s\n", cmd);
	return 2;
}
