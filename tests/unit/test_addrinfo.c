/* omx_addrinfo_build must give exactly glibc's list: for every family, socket
 * type, protocol, flag combination and service below, glibc's own getaddrinfo()
 * is asked for each address's literal (the dotted quad, or ::ffff: and the
 * dotted quad for AF_INET6, as hook_netdb.c asked it before) and the lists,
 * chained address after address, are compared field by field. A call the
 * builder does not cover must be declined (OMX_AI_NOT_FAST), never answered
 * differently; the calls it is meant to cover must not be declined. */
#include "addrinfo.h"
#include "tap.h"

#include <arpa/inet.h>
#include <malloc.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#ifndef IPPROTO_UDPLITE
#define IPPROTO_UDPLITE 136
#endif

#define DEPRECATED_AI_IDN 0x300 /* glibc still accepts it (ignored) */
#define KNOWN_FLAGS                                                                            \
	(AI_PASSIVE | AI_CANONNAME | AI_NUMERICHOST | AI_V4MAPPED | AI_ALL | AI_ADDRCONFIG |   \
	 AI_IDN | AI_CANONIDN | DEPRECATED_AI_IDN | AI_NUMERICSERV)

static const uint32_t addrs[] = { 0xf0000001, 0xf08007c8, 0xf7fffffe, 0xffffffff, 0xf0000000 };
#define NADDRS ((int)(sizeof(addrs) / sizeof(addrs[0])))

static const int families[] = { AF_UNSPEC, AF_INET, AF_INET6, AF_UNIX, AF_PACKET };
static const int socktypes[] = { 0, SOCK_STREAM, SOCK_DGRAM, SOCK_RAW, SOCK_SEQPACKET, SOCK_DCCP,
				 SOCK_STREAM | SOCK_NONBLOCK, SOCK_RDM, 99 };
static const int protocols[] = { 0, IPPROTO_TCP, IPPROTO_UDP, IPPROTO_SCTP, IPPROTO_UDPLITE,
				 IPPROTO_DCCP, IPPROTO_ICMP, IPPROTO_RAW, 255 };
/* The numeric services the builder takes, then forms it must leave to glibc. */
static const char *const fast_services[] = { NULL, "0", "25", "65535", "00025", "587", "9" };
static const char *const slow_services[] = {
	"smtp", "+25", " 25", "25 ", "-25", "070000", "65536", "99999", "", "*", "0x19", "2a",
	"4294967321", "000000", "domain", "25\n"
};

/* The literal glibc was asked for ADDR (host order) before: what we emulate. */
static void literal(uint32_t addr, int family, char *text)
{
	struct in_addr in = { htonl(addr) };
	char quad[INET_ADDRSTRLEN];

	inet_ntop(AF_INET, &in, quad, sizeof(quad));
	snprintf(text, INET6_ADDRSTRLEN, "%s%s", family == AF_INET6 ? "::ffff:" : "", quad);
}

/* glibc's list for the N addresses, chained in order; its error otherwise. */
static int glibc_list(const uint32_t *list, int n, const struct addrinfo *hints, const char *service,
		      struct addrinfo **res)
{
	struct addrinfo *head = NULL, **tail = &head;

	for (int i = 0; i < n; i++) {
		char text[INET6_ADDRSTRLEN];
		struct addrinfo *one = NULL;
		int rc;

		literal(list[i], hints->ai_family, text);
		rc = getaddrinfo(text, service, hints, &one);
		if (rc != 0) {
			freeaddrinfo(head);
			return rc;
		}
		*tail = one;
		while (*tail)
			tail = &(*tail)->ai_next;
	}
	*res = head;
	return 0;
}

static char why[512];

/* Whether lists A and B are the same, field by field; WHY says where not. */
static int same_list(const struct addrinfo *a, const struct addrinfo *b)
{
	for (int i = 0;; i++, a = a->ai_next, b = b->ai_next) {
		if (!a || !b) {
			if (a || b)
				snprintf(why, sizeof(why), "entry %d: %s list ends first", i, a ? "glibc's" : "our");
			return !a && !b;
		}
#define FIELD(f)                                                                               \
	if (a->f != b->f) {                                                                    \
		snprintf(why, sizeof(why), "entry %d: " #f " %lld, glibc %lld", i, (long long)a->f, \
			 (long long)b->f);                                                     \
		return 0;                                                                      \
	}
		FIELD(ai_flags)
		FIELD(ai_family)
		FIELD(ai_socktype)
		FIELD(ai_protocol)
		FIELD(ai_addrlen)
#undef FIELD
		if (memcmp(a->ai_addr, b->ai_addr, a->ai_addrlen) != 0) {
			snprintf(why, sizeof(why), "entry %d: address bytes differ", i);
			return 0;
		}
		if ((a->ai_canonname || b->ai_canonname) &&
		    (!a->ai_canonname || !b->ai_canonname || strcmp(a->ai_canonname, b->ai_canonname))) {
			snprintf(why, sizeof(why), "entry %d: canonname %s, glibc %s", i,
				 a->ai_canonname ? a->ai_canonname : "NULL",
				 b->ai_canonname ? b->ai_canonname : "NULL");
			return 0;
		}
		/* One allocation per entry, its address right after it: what
		 * glibc's freeaddrinfo (one free per entry) relies on. */
		if ((const void *)a->ai_addr != (const void *)(a + 1)) {
			snprintf(why, sizeof(why), "entry %d: ai_addr is not inside the entry", i);
			return 0;
		}
	}
}

/* What the builder is meant to cover (addrinfo.h), written out apart from it. */
static int meant_fast(const struct addrinfo *h, const char *service)
{
	int st = h->ai_socktype, pr = h->ai_protocol;
	int kinds_ok = (st == 0 && pr == 0) ||
		       ((st == 0 || st == SOCK_STREAM) && (pr == 0 || pr == IPPROTO_TCP)) ||
		       ((st == 0 || st == SOCK_DGRAM) && (pr == 0 || pr == IPPROTO_UDP)) ||
		       (st == SOCK_RAW && pr == 0 && !service);
	int service_ok = 1;

	for (size_t i = 0; i < sizeof(slow_services) / sizeof(slow_services[0]); i++)
		if (service && strcmp(service, slow_services[i]) == 0)
			service_ok = 0;
	return kinds_ok && service_ok &&
	       (h->ai_family == AF_UNSPEC || h->ai_family == AF_INET || h->ai_family == AF_INET6) &&
	       !(h->ai_flags & ~KNOWN_FLAGS) && !(h->ai_flags & (AI_CANONNAME | AI_ADDRCONFIG));
}

struct tally {
	long cases, built, declined, differ, refused, memory, built_glibc_failed;
};

/* One call: builder against glibc over the first N addresses (glibc is asked
 * when the builder answers: a declined call is glibc's anyway). */
static void one_case(struct tally *t, const struct addrinfo *h, const char *service, int n)
{
	struct addrinfo *ours = NULL, *theirs = NULL;
	int rc = omx_addrinfo_build(addrs, n, h, service, &ours), grc = -1;
	int want_fast = meant_fast(h, service);

	t->cases++;
	if (rc == OMX_AI_NOT_FAST) {
		t->declined++;
		if (want_fast && t->refused++ < 5)
			printf("# declined a covered call: family %d socktype %d protocol %d flags %#x "
			       "service %s\n",
			       h->ai_family, h->ai_socktype, h->ai_protocol, (unsigned)h->ai_flags,
			       service ? service : "NULL");
	} else if (rc != 0) {
		t->memory++;
	} else {
		t->built++;
		if (!want_fast && t->differ++ < 5)
			printf("# built a call it should leave to glibc: family %d socktype %d protocol "
			       "%d flags %#x service %s\n",
			       h->ai_family, h->ai_socktype, h->ai_protocol, (unsigned)h->ai_flags,
			       service ? service : "NULL");
		grc = glibc_list(addrs, n, h, service, &theirs);
		if (grc != 0) {
			if (t->built_glibc_failed++ < 5)
				printf("# built, glibc says %s: family %d socktype %d protocol %d flags %#x "
				       "service %s\n",
				       gai_strerror(grc), h->ai_family, h->ai_socktype, h->ai_protocol,
				       (unsigned)h->ai_flags, service ? service : "NULL");
		} else if (!same_list(ours, theirs)) {
			if (t->differ++ < 5)
				printf("# differs (%s): family %d socktype %d protocol %d flags %#x service "
				       "%s, %d addresses\n",
				       why, h->ai_family, h->ai_socktype, h->ai_protocol,
				       (unsigned)h->ai_flags, service ? service : "NULL", n);
		}
		freeaddrinfo(ours);
	}
	if (grc == 0)
		freeaddrinfo(theirs);
}

static void report(const char *what, const struct tally *t)
{
	printf("# %s: %ld calls, %ld built, %ld declined\n", what, t->cases, t->built, t->declined);
	ok(t->differ == 0 && t->built_glibc_failed == 0,
	   "%s: every list built is glibc's, field by field (%ld differ, %ld where glibc fails)", what,
	   t->differ, t->built_glibc_failed);
	ok(t->refused == 0, "%s: every covered call is built (%ld declined)", what, t->refused);
	ok(t->memory == 0, "%s: no allocation failed", what);
}

int main(void)
{
	struct tally whole = { 0 }, flags = { 0 };
	struct addrinfo h;

	/* The whole matrix: families x socket types x protocols x services x a
	 * set of flags (none, each known bit alone, unknown bits, the flags
	 * hook_netdb.c passes), over one address and over several. */
	int flag_sets[40], nflags = 0;

	flag_sets[nflags++] = 0;
	for (int bit = 0; bit < 12; bit++)
		flag_sets[nflags++] = 1 << bit; /* 0x800: not a glibc flag */
	flag_sets[nflags++] = 0x10000;
	flag_sets[nflags++] = AI_NUMERICHOST;
	flag_sets[nflags++] = AI_NUMERICHOST | AI_PASSIVE | AI_NUMERICSERV;
	flag_sets[nflags++] = AI_NUMERICHOST | AI_IDN | AI_CANONIDN;
	flag_sets[nflags++] = AI_NUMERICHOST | 0x800;
	flag_sets[nflags++] = KNOWN_FLAGS & ~(AI_CANONNAME | AI_ADDRCONFIG);
	flag_sets[nflags++] = KNOWN_FLAGS;
	for (size_t f = 0; f < sizeof(families) / sizeof(families[0]); f++)
		for (size_t s = 0; s < sizeof(socktypes) / sizeof(socktypes[0]); s++)
			for (size_t p = 0; p < sizeof(protocols) / sizeof(protocols[0]); p++)
				for (int fl = 0; fl < nflags; fl++) {
					memset(&h, 0, sizeof(h));
					h.ai_family = families[f];
					h.ai_socktype = socktypes[s];
					h.ai_protocol = protocols[p];
					h.ai_flags = flag_sets[fl];
					for (size_t v = 0; v < sizeof(fast_services) / sizeof(fast_services[0]); v++) {
						one_case(&whole, &h, fast_services[v], 1);
						one_case(&whole, &h, fast_services[v], NADDRS);
					}
					for (size_t v = 0; v < sizeof(slow_services) / sizeof(slow_services[0]); v++)
						one_case(&whole, &h, slow_services[v], 2);
				}
	report("families x socket types x protocols x flags x services", &whole);

	/* Every combination of the known flag bits, on the covered kinds. */
	static const int kinds[][2] = { { 0, 0 },
					{ SOCK_STREAM, 0 },
					{ SOCK_STREAM, IPPROTO_TCP },
					{ 0, IPPROTO_TCP },
					{ SOCK_DGRAM, 0 },
					{ SOCK_DGRAM, IPPROTO_UDP },
					{ 0, IPPROTO_UDP },
					{ SOCK_RAW, 0 } };
	for (int fl = 0; fl <= KNOWN_FLAGS; fl++) {
		if (fl & ~KNOWN_FLAGS)
			continue;
		for (int f = 0; f < 3; f++)
			for (size_t k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++) {
				memset(&h, 0, sizeof(h));
				h.ai_family = families[f];
				h.ai_socktype = kinds[k][0];
				h.ai_protocol = kinds[k][1];
				h.ai_flags = fl;
				one_case(&flags, &h, NULL, 3);
				one_case(&flags, &h, "25", 3);
			}
	}
	report("every combination of the known flags", &flags);

	/* Named cases, spelled out. */
	{
		struct addrinfo *r = NULL;
		const struct sockaddr_in *in;
		const struct sockaddr_in6 *in6;

		memset(&h, 0, sizeof(h));
		h.ai_family = AF_INET;
		h.ai_socktype = SOCK_STREAM;
		h.ai_flags = AI_NUMERICHOST;
		is_int(omx_addrinfo_build(addrs, 1, &h, "25", &r), 0, "AF_INET, SOCK_STREAM, \"25\": built");
		in = (const struct sockaddr_in *)r->ai_addr;
		ok(r->ai_next == NULL && r->ai_protocol == IPPROTO_TCP && in->sin_family == AF_INET &&
			   ntohs(in->sin_port) == 25 && ntohl(in->sin_addr.s_addr) == addrs[0] &&
			   r->ai_flags == AI_NUMERICHOST && r->ai_canonname == NULL,
		   "... one entry: TCP, 240.0.0.1 port 25, the caller's flags, no canonical name");
		freeaddrinfo(r);

		h.ai_family = AF_INET6;
		h.ai_socktype = 0;
		is_int(omx_addrinfo_build(addrs + 1, 1, &h, NULL, &r), 0, "AF_INET6, 0/0, no service: built");
		in6 = (const struct sockaddr_in6 *)r->ai_addr;
		ok(IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr) && in6->sin6_addr.s6_addr[12] == 240 &&
			   in6->sin6_addr.s6_addr[15] == 200 && in6->sin6_port == 0 && r->ai_next &&
			   r->ai_next->ai_socktype == SOCK_DGRAM && r->ai_next->ai_next &&
			   r->ai_next->ai_next->ai_socktype == SOCK_RAW && !r->ai_next->ai_next->ai_next,
		   "... ::ffff:240.128.7.200, TCP then UDP then raw");
		freeaddrinfo(r);

		h.ai_family = AF_INET;
		h.ai_socktype = SOCK_STREAM;
		is_int(omx_addrinfo_build(addrs, 1, &h, "smtp", &r), OMX_AI_NOT_FAST,
		       "a service name is left to glibc (services database)");
		h.ai_flags = AI_NUMERICHOST | 0x800;
		is_int(omx_addrinfo_build(addrs, 1, &h, "25", &r), OMX_AI_NOT_FAST,
		       "an unknown flag bit is left to glibc (EAI_BADFLAGS)");
		h.ai_flags = 0;
		h.ai_socktype = SOCK_RAW;
		is_int(omx_addrinfo_build(addrs, 1, &h, "25", &r), OMX_AI_NOT_FAST,
		       "SOCK_RAW with a service is left to glibc (EAI_SERVICE)");
		h.ai_socktype = SOCK_STREAM;
		h.ai_protocol = IPPROTO_UDP;
		is_int(omx_addrinfo_build(addrs, 1, &h, "25", &r), OMX_AI_NOT_FAST,
		       "SOCK_STREAM with IPPROTO_UDP is left to glibc (EAI_SOCKTYPE)");
		is_int(omx_addrinfo_build(addrs, 1, NULL, "25", &r), OMX_AI_NOT_FAST,
		       "no hints (glibc's default has AI_ADDRCONFIG) is left to glibc");
		h.ai_protocol = 0;
		is_int(omx_addrinfo_build(addrs, 0, &h, "25", &r), OMX_AI_NOT_FAST,
		       "no address is left to the caller's own path");
	}

	/* freeaddrinfo gives back every byte of a built list (the sanitizer
	 * build checks the frees themselves, and leaks at exit). */
	{
		struct addrinfo *r = NULL;
		struct mallinfo2 before, after;
		int rc;

		memset(&h, 0, sizeof(h));
		h.ai_family = AF_INET6;
		before = mallinfo2();
		rc = omx_addrinfo_build(addrs, NADDRS, &h, "65535", &r);
		freeaddrinfo(r);
		after = mallinfo2();
		ok(rc == 0 && before.uordblks == after.uordblks,
		   "freeaddrinfo frees a built list of %d entries whole (%zu bytes in use before, %zu after)",
		   NADDRS * 3, before.uordblks, after.uordblks);
	}
	return done_testing();
}
