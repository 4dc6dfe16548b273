/* netdb_probe: calls the host-lookup functions and prints what they return.
 *   netdb_probe gai NAME [SERVICE|-] [unspec|inet|inet6] [FLAG,...] [stream|dgram|any]
 *       FLAG: canon numerichost addrconfig v4mapped all numericserv
 *   netdb_probe gai-null NAME [SERVICE]      hints == NULL
 *   netdb_probe ghbn NAME | ghbn2 NAME inet|inet6
 *   netdb_probe ghbn_r NAME BUFLEN | ghbn2_r NAME inet|inet6 BUFLEN */
#include <arpa/inet.h>
#include <errno.h>
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

int main(int argc, char **argv)
{
	const char *cmd = argc > 1 ? argv[1] : "";

	if (argc < 3) {
		fprintf(stderr, "usage: see the source\n");
		return 2;
	}
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
