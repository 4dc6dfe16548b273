/* resolv_probe FUNC NAME TYPE [BUFSIZE]: calls one resolver entry point the way
 * an MTA does and prints what came back, parsed with libresolv's ns_initparse.
 * FUNC: nsearch nquery nquerydomain nsend search query querydomain send
 * (nsend/send build the query with res_nmkquery/res_mkquery, as Postfix does).
 * TYPE: MX A AAAA TXT PTR SOA or a number. Built twice: resolv_probe_old calls
 * the GLIBC_2.2.5 __res_* names as a program linked before glibc 2.34 would. */
#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <errno.h>
#include <netdb.h>
#include <resolv.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef OLD_NAMES
#define OLD(fn, ret, args) \
	__asm__(".symver old_" #fn ", __" #fn "@GLIBC_2.2.5"); \
	extern ret old_##fn args;
OLD(res_nsearch, int, (res_state, const char *, int, int, unsigned char *, int))
OLD(res_nquery, int, (res_state, const char *, int, int, unsigned char *, int))
OLD(res_nquerydomain, int, (res_state, const char *, const char *, int, int, unsigned char *, int))
OLD(res_nsend, int, (res_state, const unsigned char *, int, unsigned char *, int))
OLD(res_search, int, (const char *, int, int, unsigned char *, int))
OLD(res_query, int, (const char *, int, int, unsigned char *, int))
OLD(res_querydomain, int, (const char *, const char *, int, int, unsigned char *, int))
OLD(res_send, int, (const unsigned char *, int, unsigned char *, int))
#define res_nsearch old_res_nsearch
#define res_nquery old_res_nquery
#define res_nquerydomain old_res_nquerydomain
#define res_nsend old_res_nsend
#define res_search old_res_search
#define res_query old_res_query
#define res_querydomain old_res_querydomain
#define res_send old_res_send
#endif

static int type_number(const char *t)
{
	static const struct { const char *name; int type; } types[] = {
		{ "A", ns_t_a }, { "AAAA", ns_t_aaaa }, { "MX", ns_t_mx }, { "TXT", ns_t_txt },
		{ "PTR", ns_t_ptr }, { "SOA", ns_t_soa }, { "TLSA", 52 }, { "SRV", ns_t_srv },
	};
	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
		if (strcmp(t, types[i].name) == 0)
			return types[i].type;
	return atoi(t);
}

/* Length of the message in BUF (at most CAP) by walking its sections, for the
 * -1 returns that leave a reply in the buffer without saying how long it is. */
static int message_length(const unsigned char *buf, int cap)
{
	const unsigned char *p = buf + 12, *end = buf + cap;
	int counts[4];

	if (cap < 12)
		return -1;
	for (int i = 0; i < 4; i++)
		counts[i] = buf[4 + 2 * i] << 8 | buf[5 + 2 * i];
	for (int q = 0; q < counts[0]; q++) {
		int n = dn_skipname(p, end);
		if (n < 0 || p + n + 4 > end)
			return -1;
		p += n + 4;
	}
	for (int s = 1; s < 4; s++)
		for (int r = 0; r < counts[s]; r++) {
			int n = dn_skipname(p, end);
			if (n < 0 || p + n + 10 > end)
				return -1;
			p += n + 8;
			n = p[0] << 8 | p[1];
			p += 2 + n;
			if (p > end)
				return -1;
		}
	return (int)(p - buf);
}

static void print_reply(const unsigned char *buf, int len)
{
	ns_msg msg;
	ns_rr rr;
	char text[NS_MAXDNAME];

	if (ns_initparse(buf, len, &msg) != 0) {
		printf("parse: failed (%s)\n", strerror(errno));
		return;
	}
	printf("id=%u rcode=%d qr=%d aa=%d tc=%d rd=%d ra=%d qd=%d an=%d ns=%d ar=%d\n",
	       ns_msg_id(msg), ns_msg_getflag(msg, ns_f_rcode), ns_msg_getflag(msg, ns_f_qr),
	       ns_msg_getflag(msg, ns_f_aa), ns_msg_getflag(msg, ns_f_tc),
	       ns_msg_getflag(msg, ns_f_rd), ns_msg_getflag(msg, ns_f_ra),
	       ns_msg_count(msg, ns_s_qd), ns_msg_count(msg, ns_s_an), ns_msg_count(msg, ns_s_ns),
	       ns_msg_count(msg, ns_s_ar));
	if (ns_msg_count(msg, ns_s_qd) == 1 && ns_parserr(&msg, ns_s_qd, 0, &rr) == 0)
		printf("question %s %d\n", ns_rr_name(rr), ns_rr_type(rr));
	for (int s = ns_s_an; s <= ns_s_ns; s++)
		for (int i = 0; i < ns_msg_count(msg, s); i++) {
			if (ns_parserr(&msg, s, i, &rr) != 0) {
				printf("parse rr: failed\n");
				return;
			}
			const unsigned char *rd = ns_rr_rdata(rr);
			switch (ns_rr_type(rr)) {
			case ns_t_mx:
				dn_expand(ns_msg_base(msg), ns_msg_end(msg), rd + 2, text, sizeof(text));
				printf("%s MX %d %s ttl=%u\n", s == ns_s_an ? "answer" : "authority",
				       rd[0] << 8 | rd[1], text, ns_rr_ttl(rr));
				break;
			case ns_t_a:
				inet_ntop(AF_INET, rd, text, sizeof(text));
				printf("%s A %s ttl=%u\n", s == ns_s_an ? "answer" : "authority", text,
				       ns_rr_ttl(rr));
				break;
			case ns_t_aaaa:
				inet_ntop(AF_INET6, rd, text, sizeof(text));
				printf("%s AAAA %s ttl=%u\n", s == ns_s_an ? "answer" : "authority", text,
				       ns_rr_ttl(rr));
				break;
			case ns_t_ptr:
				dn_expand(ns_msg_base(msg), ns_msg_end(msg), rd, text, sizeof(text));
				printf("%s PTR %s ttl=%u\n", s == ns_s_an ? "answer" : "authority", text,
				       ns_rr_ttl(rr));
				break;
			case ns_t_soa:
				printf("%s SOA %s\n", s == ns_s_an ? "answer" : "authority", ns_rr_name(rr));
				break;
			default:
				printf("%s type %d\n", s == ns_s_an ? "answer" : "authority", ns_rr_type(rr));
			}
		}
}

int main(int argc, char **argv)
{
	struct __res_state state;
	unsigned char query[NS_PACKETSZ], *answer;
	const char *func, *name, *domain = NULL;
	int type, bufsize, rc, qlen;
	char *dot;

	if (argc < 4) {
		fprintf(stderr, "usage: resolv_probe FUNC NAME TYPE [BUFSIZE]\n");
		return 2;
	}
	func = argv[1];
	name = argv[2];
	type = type_number(argv[3]);
	bufsize = argc > 4 ? atoi(argv[4]) : 4096;
	answer = malloc((size_t)bufsize);
	memset(answer, 0, (size_t)bufsize);
	memset(&state, 0, sizeof(state));
	res_ninit(&state);
	res_init();
	h_errno = 0;
	state.res_h_errno = 0;
	_res.res_h_errno = 0;
	/* querydomain: split NAME at its first dot into name and domain */
	char namebuf[NS_MAXDNAME];
	snprintf(namebuf, sizeof(namebuf), "%s", name);
	if (strstr(func, "querydomain") && (dot = strchr(namebuf, '.'))) {
		*dot = '\0';
		domain = dot + 1;
	}
	if (strcmp(func, "nsearch") == 0)
		rc = res_nsearch(&state, name, ns_c_in, type, answer, bufsize);
	else if (strcmp(func, "nquery") == 0)
		rc = res_nquery(&state, name, ns_c_in, type, answer, bufsize);
	else if (strcmp(func, "nquerydomain") == 0)
		rc = res_nquerydomain(&state, namebuf, domain, ns_c_in, type, answer, bufsize);
	else if (strcmp(func, "search") == 0)
		rc = res_search(name, ns_c_in, type, answer, bufsize);
	else if (strcmp(func, "query") == 0)
		rc = res_query(name, ns_c_in, type, answer, bufsize);
	else if (strcmp(func, "querydomain") == 0)
		rc = res_querydomain(namebuf, domain, ns_c_in, type, answer, bufsize);
	else if (strcmp(func, "nsend") == 0 || strcmp(func, "send") == 0) {
		qlen = strcmp(func, "nsend") == 0
			       ? res_nmkquery(&state, ns_o_query, name, ns_c_in, type, NULL, 0, NULL, query, sizeof(query))
			       : res_mkquery(ns_o_query, name, ns_c_in, type, NULL, 0, NULL, query, sizeof(query));
		if (qlen < 0) {
			printf("mkquery failed\n");
			return 1;
		}
		rc = strcmp(func, "nsend") == 0 ? res_nsend(&state, query, qlen, answer, bufsize)
						: res_send(query, qlen, answer, bufsize);
		if (rc > 0)
			printf("id_echoed=%s\n", answer[0] == query[0] && answer[1] == query[1] ? "yes" : "no");
	} else {
		fprintf(stderr, "unknown FUNC %s\n", func);
		return 2;
	}
	printf("rc=%d h_errno=%d res_h_errno=%d\n", rc, h_errno,
	       func[0] == 'n' ? state.res_h_errno : _res.res_h_errno);
	if (rc > 0)
		print_reply(answer, rc);
	else if (rc < 0 && (answer[2] & 0x80)) {
		int len = message_length(answer, bufsize);
		printf("reply left in buffer: %s\n", len > 0 ? "yes" : "unparseable");
		if (len > 0)
			print_reply(answer, len);
	}
	free(answer);
	res_nclose(&state);
	return 0;
}
