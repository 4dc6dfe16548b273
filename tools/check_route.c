/* onionmx-check's route report: the library's decision (route.c) for each
 * domain, said in words, and with --probe its onions tried through Tor with
 * the library's SOCKS client (tor.c). */
#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <ctype.h>
#include <errno.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "host.h"
#include "onion.h"
#include "route.h"
#include "socks5.h"
#include "srv_lookup.h"
#include "tor.h"

/* ------------------------------------------------------------------ output */


/* A "  key:   text" line of the verbose report. */
__attribute__((format(printf, 3, 4))) static void say(struct ctx *c, const char *key,
						      const char *fmt, ...)
{
	va_list ap;
	char label[16];

	if (c->terse)
		return;
	snprintf(label, sizeof(label), "%s:", key);
	printf("  %-9s", label);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
}

/* Appends " WORD" (formatted) to the terse line; overflow truncates. */
__attribute__((format(printf, 2, 3))) static void terse_add(struct ctx *c, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (c->terse_len >= sizeof(c->terse_line) - 1)
		return;
	va_start(ap, fmt);
	n = vsnprintf(c->terse_line + c->terse_len, sizeof(c->terse_line) - c->terse_len, fmt, ap);
	va_end(ap);
	if (n > 0)
		c->terse_len += (size_t)n;
	if (c->terse_len >= sizeof(c->terse_line))
		c->terse_len = sizeof(c->terse_line) - 1;
}

/* Copies untrusted text (a banner) for printing: control and 8-bit bytes as '?'. */
void check_printable(char *out, size_t cap, const char *in, size_t len)
{
	size_t o = 0;

	for (size_t i = 0; i < len && o + 1 < cap; i++)
		out[o++] = (in[i] >= ' ' && in[i] <= '~') ? in[i] : '?';
	out[o] = '\0';
}

/* ------------------------------------------------------------------ probe */

struct onion_route {
	char onion[OMX_ONION_LABEL_LEN + 1];
	uint16_t port; /* as Tor is asked for it (a map target's 0 becomes 25) */
};

struct probe_result {
	int ok;
	double t_socks, t_total;
	char text[600];
};

/* Finds the end of the SMTP greeting in BUF (LEN bytes): 1 complete (*CODE its
 * reply code, *FIRST_LEN the length of its first line without CRLF), 0 more is
 * needed, -1 not SMTP. */
static int smtp_greeting(const char *buf, size_t len, int *code, size_t *first_len)
{
	size_t at = 0;

	while (at < len) {
		const char *nl = memchr(buf + at, '\n', len - at);
		size_t ll;

		if (!nl)
			return 0;
		ll = (size_t)(nl - (buf + at));
		if (ll && buf[at + ll - 1] == '\r')
			ll--;
		if (at == 0)
			*first_len = ll;
		if (ll < 3 || !isdigit((unsigned char)buf[at]) || !isdigit((unsigned char)buf[at + 1]) ||
		    !isdigit((unsigned char)buf[at + 2]) || (ll > 3 && buf[at + 3] != ' ' && buf[at + 3] != '-'))
			return -1;
		if (ll == 3 || buf[at + 3] == ' ') {
			*code = (buf[at] - '0') * 100 + (buf[at + 1] - '0') * 10 + (buf[at + 2] - '0');
			return 1;
		}
		at = (size_t)(nl - buf) + 1;
	}
	return 0;
}

/* What failed, in words, from the SOCKS client's result. */
static void probe_failure(const struct omx_config *cfg, const struct omx_tor_result *res,
			  char *out, size_t cap)
{
	if (res->socks_code)
		snprintf(out, cap, "Tor: %s (SOCKS reply 0x%02X)", omx_socks5_code_str(res->socks_code),
			 (unsigned)res->socks_code);
	else if (res->sys_error == ETIMEDOUT && strncmp(res->cause, "timed out connecting", 20) != 0)
		snprintf(out, cap, "no answer from Tor within %d s (timeout; Tor may still be building "
			 "circuits to the onion)", cfg->timeout);
	else if (strncmp(res->cause, "cannot connect to Tor's SOCKS port", 34) == 0 ||
		 strncmp(res->cause, "timed out connecting", 20) == 0)
		snprintf(out, cap, "cannot connect to Tor's SOCKS port %s: %s%s", cfg->tors[res->tor].text,
			 strerror(res->sys_error), res->sys_error == ECONNREFUSED ? " (is Tor running?)" : "");
	else
		snprintf(out, cap, "%s (Tor %s): %s", res->cause, cfg->tors[res->tor].text, strerror(res->sys_error));
}

/* Connects to TARGET through Tor with the library's own SOCKS client (tor.c:
 * the same greeting, credentials and writes as an MTA's connect() under the
 * library), reads the SMTP greeting, says QUIT. */
static void probe_onion(const struct omx_config *cfg, const struct omx_target *target,
			struct probe_result *pr)
{
	const struct omx_host *h = &omx_libc_host;
	struct omx_tor_request rq = { .target = target, .caller_port = 25, .family = AF_INET,
				      .domain = NULL, .ndomains = 0 };
	struct omx_tor_result res;
	char banner[BANNER_MAX + 1], shown[300];
	double start = h->now(), deadline = start + cfg->timeout;
	size_t blen = 0, first_len = 0;
	ssize_t n = 0;
	int fd, smtp_code = 0, g = 0;

	memset(pr, 0, sizeof(*pr));
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		snprintf(pr->text, sizeof(pr->text), "socket: %s", strerror(errno));
		return;
	}
	if (omx_tor_connect(h, fd, cfg, &rq, &res) != 0) {
		probe_failure(cfg, &res, pr->text, sizeof(pr->text));
		goto out;
	}
	pr->t_socks = res.seconds;
	while ((g = smtp_greeting(banner, blen, &smtp_code, &first_len)) == 0) {
		if (blen == BANNER_MAX) {
			g = -1;
			break;
		}
		n = omx_io_recv(h, fd, banner + blen, BANNER_MAX - blen, deadline);
		if (n <= 0)
			break;
		blen += (size_t)n;
	}
	pr->t_total = h->now() - start;
	check_printable(shown, sizeof(shown), banner, (g > 0 ? first_len : blen) < 200 ? (g > 0 ? first_len : blen) : 200);
	if (g == 0 && n == -ETIMEDOUT)
		snprintf(pr->text, sizeof(pr->text), "connected in %.3f s, but no SMTP banner within %d s",
			 pr->t_socks, cfg->timeout);
	else if (g == 0)
		snprintf(pr->text, sizeof(pr->text),
			 "connected in %.3f s, then the connection was closed%s%s%s%s%s%s", pr->t_socks,
			 n < 0 ? " (" : "", n < 0 ? strerror((int)-n) : "", n < 0 ? ")" : "",
			 blen ? " after \"" : " before the SMTP banner", blen ? shown : "", blen ? "\"" : "");
	else if (g < 0)
		snprintf(pr->text, sizeof(pr->text), "connected in %.3f s, but not an SMTP banner: \"%s\"",
			 pr->t_socks, shown);
	else if (smtp_code != 220)
		snprintf(pr->text, sizeof(pr->text), "connected in %.3f s, but the server refuses mail: \"%s\"",
			 pr->t_socks, shown);
	else
		pr->ok = 1, snprintf(pr->text, sizeof(pr->text), "\"%s\" in %.3f s (Tor connected in %.3f s)",
				     shown, pr->t_total, pr->t_socks);
	/* Say goodbye; the answer is waited for briefly and never required. */
	if (g != 0 && omx_io_send_all(h, fd, "QUIT\r\n", 6, deadline) == 0) {
		double bye = h->now() + 2;
		omx_io_recv(h, fd, banner, BANNER_MAX, bye < deadline ? bye : deadline);
	}
out:
	if (!pr->t_total)
		pr->t_total = h->now() - start;
	close(fd);
}

/* Probes each onion in order (all of them, to show which work); returns
 * EXIT_ONION if one answered, else EXIT_PROBE. */
static int probe_all(struct ctx *c, const struct onion_route *on, int n)
{
	struct probe_result pr;
	int good = 0;
	char failed[MAX_ONIONS * (OMX_ONION_LABEL_LEN + 16)] = "";
	size_t flen = 0;

	for (int i = 0; i < n; i++) {
		struct omx_target t;

		memcpy(t.onion, on[i].onion, sizeof(t.onion));
		t.port = on[i].port;
		probe_onion(&c->cfg, &t, &pr);
		if (pr.ok)
			good++;
		else if (flen < sizeof(failed))
			flen += (size_t)snprintf(failed + flen, sizeof(failed) - flen, "%s%s.onion:%u",
						 flen ? ", " : "", on[i].onion, on[i].port);
		if (flen >= sizeof(failed))
			flen = sizeof(failed) - 1;
		say(c, "probe", "%s.onion:%u %s%s", on[i].onion, on[i].port,
		    pr.ok ? "answered " : "failed: ", pr.text);
	}
	if (good == n)
		say(c, "result", "onion route ok: %s", n > 1 ? "every onion answered" : "the onion answered");
	else if (good)
		say(c, "result", "onion route ok: %d of %d onions answered (failed: %s)", good, n, failed);
	else
		say(c, "result", "onion route FAILED: no onion answered through Tor (the MTA would defer "
			       "and retry)");
	terse_add(c, " %s", good == n ? "ok" : good ? "partial" : "failed");
	return good ? EXIT_ONION : EXIT_PROBE;
}

/* The onion route found: prints the terse targets and probes if asked. */
static int onion_route(struct ctx *c, const struct onion_route *on, int n)
{
	int rc = EXIT_ONION;

	if (c->probe)
		rc = probe_all(c, on, n);
	for (int i = 0; i < n; i++)
		terse_add(c, " %s.onion:%u", on[i].onion, on[i].port);
	return rc;
}

/* ------------------------------------------------------------------ DNS */

const char *check_policy_name(int p)
{
	return p == OMX_DNSSEC_REQUIRE ? "require" : p == OMX_DNSSEC_OFF ? "off" : "prefer";
}

/* Describes DOMAIN's SRV answer R (CACHED: from the shared cache). */
static void srv_describe(struct ctx *c, const char *domain, const struct omx_srv_result *r, int cached)
{
	char qname[300];
	int trusted = omx_resolver_trusted(&c->res);

	if (cached)
		say(c, "cache", "the answer below comes from the shared discovery cache %s (%u s left)",
		    c->cfg.cache_path, r->ttl);
	if (omx_srv_qname(domain, qname, sizeof(qname)) != 0)
		snprintf(qname, sizeof(qname), "%s%s", OMX_SRV_PREFIX, domain);
	say(c, "srv", "%s SRV: %s: %s", qname, omx_srv_status_name(r->status), r->detail);
	if (r->status == OMX_SRV_ONION || r->status == OMX_SRV_UNUSABLE || r->n)
		say(c, "dnssec", "%s; srv_dnssec = %s", r->secure ? "signed (AD)" : "unsigned (no AD bit)",
		    check_policy_name(c->cfg.srv_dnssec));
	if (c->cfg.srv_dnssec != OMX_DNSSEC_OFF && !trusted)
		say(c, "dnssec", "the AD bit cannot be trusted from this resolver (a nameserver in "
			       "/etc/resolv.conf is not on this host and there is no \"options trust-ad\"), "
			       "so every answer counts as unsigned%s; fix: run a local validating "
			       "resolver (e.g. unbound) and use nameserver 127.0.0.1, or add "
			       "\"options trust-ad\" to /etc/resolv.conf if the path to your resolver is "
			       "secure", c->cfg.srv_dnssec == OMX_DNSSEC_REQUIRE ? " and none is used" : "");
	for (int i = 0; i < r->n; i++)
		say(c, "SRV", "priority %u weight %u port %u %s.onion", r->rec[i].priority,
		    r->rec[i].weight, r->rec[i].port, r->rec[i].onion);
	for (int i = 0; i < r->nignored && i < OMX_SRV_MAX_IGNORED; i++)
		say(c, "ignored", "%s: %s", r->ignored[i].name, r->ignored[i].why);
	if (r->nignored > OMX_SRV_MAX_IGNORED)
		say(c, "ignored", "%d more target%s", r->nignored - OMX_SRV_MAX_IGNORED,
		    r->nignored - OMX_SRV_MAX_IGNORED > 1 ? "s" : "");
	if (r->status == OMX_SRV_ONION)
		say(c, "ttl", "%u s (the library caches the answer this long)", r->ttl);
}

/* Looks up and describes DOMAIN's SRV records, for information only (discovery off). */
static void srv_report(struct ctx *c, const char *domain, struct omx_srv_result *r)
{
	omx_srv_lookup(&c->res, res_nquery, domain, (enum omx_dnssec_policy)c->cfg.srv_dnssec, r);
	srv_describe(c, domain, r, 0);
}

/* check_mx.c's question: is this MX host's onion in the map, on which port? */
static int mx_mapped(void *ctx, const char *label, size_t len, uint16_t *port)
{
	struct ctx *c = ctx;
	struct omx_target t;
	uint32_t addr;

	if (!c->map_open || omx_map_onion_addr(&c->map, label, len, &addr) <= 0)
		return 0;
	*port = omx_map_addr_onion(&c->map, addr, &t, NULL, NULL) == 1 ? t.port : 0;
	return 1;
}

/* A failed MX lookup: NXDOMAIN, NODATA (implicit MX) or a DNS failure. */
static int mx_lookup_failed(struct ctx *c, const char *domain, const uint8_t *msg, size_t len)
{
	int herr = c->res.res_h_errno;
	char why[128];

	if (herr == HOST_NOT_FOUND) {
		say(c, "mx", "%s does not exist (NXDOMAIN): the MTA bounces its mail", domain);
		say(c, "route", "none over Tor; the domain does not exist");
		terse_add(c, " clearnet mx%s (NXDOMAIN)", c->probe ? " -" : "");
		return EXIT_CLEARNET;
	}
	if (herr == NO_DATA) {
		say(c, "mx", "no MX records: the MTA delivers to %s's own address (implicit MX)", domain);
		say(c, "route", "clearnet, to %s directly, not through Tor", domain);
		terse_add(c, " clearnet mx%s %s", c->probe ? " -" : "", domain);
		return EXIT_CLEARNET;
	}
	omx_mx_failure_text(msg, len, why, sizeof(why));
	say(c, "mx", "the MX lookup failed: %s", why);
	say(c, "route", "deferred: the MTA retries later (a DNS failure, not onionmx's doing)");
	terse_add(c, " deferred mx%s %s", c->probe ? " -" : "", why);
	return EXIT_DEFERRED;
}

/* A note for each MX host that is an onion name: what the library does with it. */
static void note_onion_hosts(struct ctx *c, const struct omx_mx_result *r)
{
	for (int i = 0; i < r->n; i++) {
		const char *host = r->host[i].host;

		switch (r->host[i].kind) {
		case OMX_MX_ONION_INVALID:
			say(c, "note", "MX host %s is an onion name, but %s: the library answers NXDOMAIN "
				       "for it", host, r->host[i].why);
			break;
		case OMX_MX_ONION_MAPPED:
			say(c, "note", "MX host %s is an onion name in the map: the library gives it its "
				       "synthetic address and the MTA reaches it over Tor", host);
			break;
		case OMX_MX_ONION_UNMAPPED:
			say(c, "note", "MX host %s is an onion name not in the map: the library answers its "
				       "address lookup with a temporary failure%s (the MTA defers for this "
				       "host); map the domain or publish _onion-mx._tcp SRV records", host,
			    c->cfg.discover ? " unless discovery gave it an address" : "");
			break;
		default:
			break;
		}
	}
}

/* Every MX host is an onion: the library resolves the mapped ones. */
static int onion_mx_route(struct ctx *c, const struct omx_mx_result *r)
{
	struct onion_route on[MAX_ONIONS];
	int rc;

	say(c, "route", "onion, from MX records naming onions in the map (no clearnet MX host)");
	if (r->onions_left_out)
		say(c, "note", "%d onion MX host%s in the map after the first %d %s not listed%s",
		    r->onions_left_out, r->onions_left_out > 1 ? "s" : "", OMX_MX_ONIONS_MAX,
		    r->onions_left_out > 1 ? "are" : "is", c->probe ? " or probed" : "");
	for (int i = 0; i < r->nonion; i++) {
		memcpy(on[i].onion, r->onion[i].onion, sizeof(on[i].onion));
		on[i].port = r->onion[i].port;
	}
	terse_add(c, " onion mx");
	rc = onion_route(c, on, r->nonion);
	if (r->onions_left_out)
		terse_add(c, " +%d", r->onions_left_out);
	return rc;
}

/* The route the MX records R give DOMAIN. */
static int mx_route_decided(struct ctx *c, const char *domain, const struct omx_mx_result *r)
{
	switch (r->route) {
	case OMX_MX_ROUTE_NULL:
		say(c, "mx", "null MX (RFC 7505): the domain accepts no mail");
		say(c, "route", "none: the MTA bounces mail for %s", domain);
		terse_add(c, " clearnet mx%s (null MX)", c->probe ? " -" : "");
		return EXIT_CLEARNET;
	case OMX_MX_ROUTE_IMPLICIT:
		say(c, "mx", "the reply holds no usable MX record");
		say(c, "route", "clearnet, to %s directly (implicit MX), not through Tor", domain);
		terse_add(c, " clearnet mx%s %s", c->probe ? " -" : "", domain);
		return EXIT_CLEARNET;
	default:
		break;
	}
	for (int i = 0; i < r->n; i++)
		say(c, "mx", "%u %s", r->host[i].pref, r->host[i].host);
	note_onion_hosts(c, r);
	if (r->route == OMX_MX_ROUTE_ONION)
		return onion_mx_route(c, r);
	if (r->route == OMX_MX_ROUTE_DEFERRED) {
		say(c, "route", "deferred: no MX host can be resolved (onions not in the map)");
		terse_add(c, " deferred mx%s MX hosts are onions not in the map", c->probe ? " -" : "");
		return EXIT_DEFERRED;
	}
	terse_add(c, " clearnet mx%s", c->probe ? " -" : "");
	for (int i = 0; i < r->n; i++)
		terse_add(c, " %s", r->host[i].host);
	if (r->route == OMX_MX_ROUTE_BOUNCE)
		say(c, "route", "none: every MX host is an invalid onion name, the MTA bounces the mail");
	else
		say(c, "route", "clearnet: the MTA connects to %s directly, not through Tor",
		    r->count[OMX_MX_CLEAR] < r->n ? "the clearnet MX hosts above (and may choose them over the onions)"
		    : r->n > 1 ? "the MX hosts above" : "the MX host above");
	return EXIT_CLEARNET;
}

/* The clearnet MX of DOMAIN, as the MTA would see it. */
static int mx_route(struct ctx *c, const char *domain)
{
	static uint8_t msg[65536];
	struct omx_mx_result r;
	int rc;

	memset(msg, 0, NS_HFIXEDSZ);
	rc = res_nquery(&c->res, domain, ns_c_in, ns_t_mx, msg, sizeof(msg));
	if (rc < 0)
		return mx_lookup_failed(c, domain, msg, sizeof(msg));
	if (omx_mx_decide(msg, (size_t)rc, mx_mapped, c, &r) != 0) {
		say(c, "route", "deferred: out of memory reading the MX records");
		terse_add(c, " deferred mx%s out of memory", c->probe ? " -" : "");
		return EXIT_DEFERRED;
	}
	rc = mx_route_decided(c, domain, &r);
	omx_mx_free(&r);
	return rc;
}

/* ------------------------------------------------------------------ one domain */

/* The map's route: its entry, the onions with their synthetic addresses. */
static int map_route(struct ctx *c, const struct omx_route *rt)
{
	struct onion_route on[MAX_ONIONS];
	const char *matched = rt->matched;

	if (matched[0] == '.')
		say(c, "map", "entry %s (covers the subdomains of %s) in %s", matched, matched + 1,
		    c->cfg.map_path);
	else
		say(c, "map", "entry %s in %s", matched, c->cfg.map_path);
	for (int i = 0; i < rt->n; i++) {
		uint32_t addr;
		char text[INET_ADDRSTRLEN] = "?";

		if (omx_map_onion_addr(&c->map, rt->targets[i].onion, strlen(rt->targets[i].onion), &addr) > 0) {
			struct in_addr in = { .s_addr = htonl(addr) };
			inet_ntop(AF_INET, &in, text, sizeof(text));
		}
		snprintf(on[i].onion, sizeof(on[i].onion), "%s", rt->targets[i].onion);
		on[i].port = rt->targets[i].port ? rt->targets[i].port : 25;
		say(c, "MX", "%d %s.onion port %u (synthetic address %s)", 10 * (i + 1),
		    rt->targets[i].onion, on[i].port, text);
	}
	say(c, "route", "onion, from the static map (no DNS query about the domain is sent)");
	terse_add(c, " onion map");
	return onion_route(c, on, rt->n);
}

/* Discovery's onions, in the order the library gives them to the MTA. */
static int srv_route(struct ctx *c, const struct omx_route *rt)
{
	struct onion_route on[MAX_ONIONS];
	char list[OMX_SRV_MAX_TARGETS * (OMX_ONION_LABEL_LEN + 16)];
	size_t ll = 0;

	for (int i = 0; i < rt->n; i++) {
		snprintf(on[i].onion, sizeof(on[i].onion), "%s", rt->targets[i].onion);
		on[i].port = rt->targets[i].port;
		ll += (size_t)snprintf(list + ll, sizeof(list) - ll, "%s%s.onion:%u", i ? ", " : "",
				       on[i].onion, on[i].port);
		if (ll >= sizeof(list))
			ll = sizeof(list) - 1;
	}
	say(c, "order", "%s%s", list, rt->n > 1 ? " (RFC 2782: by priority, weighted random within one)" : "");
	say(c, "route", "onion, from SRV discovery (%s)", rt->srv.secure ? "DNSSEC-signed" : "unsigned");
	terse_add(c, " onion srv(%s)", rt->srv.secure ? "signed" : "unsigned");
	return onion_route(c, on, rt->n);
}

/* Why discovery defers (or, with srv_failure = mx, lets the MX decide). */
static int discovery_failed(struct ctx *c, const struct omx_route *rt)
{
	const char *why = rt->why == OMX_WHY_SRV_FAILED ? rt->srv.detail : omx_route_why_str(rt->why);

	if (rt->why == OMX_WHY_CACHE_BUSY || rt->why == OMX_WHY_CACHE_QUOTA || rt->why == OMX_WHY_CACHE_FULL)
		say(c, "cache", "%s: %s", c->cfg.cache_path, omx_route_why_str(rt->why));
	if (rt->kind == OMX_ROUTE_DEFER) {
		say(c, "route", "deferred: no SRV answer and srv_failure = defer, so the library "
				"fails the MX lookup and the MTA retries later");
		terse_add(c, " deferred srv%s %s", c->probe ? " -" : "", why);
		return EXIT_DEFERRED;
	}
	say(c, "note", "srv_failure = mx: after a failed SRV lookup the library uses the MX");
	return -1;
}

int check_domain(struct ctx *c, const char *domain)
{
	struct omx_route_env env = { .host = &omx_libc_host, .map = c->map_open ? &c->map : NULL,
				     .cfg = &c->cfg, .cache = c->cache_open ? &c->cache : NULL,
				     .discovery_broken = c->discovery_broken[0] != '\0',
				     .statp = c->res_ok ? &c->res : NULL, .now = time(NULL) };
	struct omx_route rt;
	int rc;

	c->terse_len = 0;
	c->terse_line[0] = '\0';
	terse_add(c, "%s", domain);
	if (!c->terse)
		printf("%s\n", domain);

	if (!c->config_ok) {
		say(c, "route", "deferred: configuration broken (%s); the library defers every MX lookup "
				"and refuses SMTP connections, so the MTA keeps the mail queued", c->config_err);
		terse_add(c, " deferred config%s configuration broken", c->probe ? " -" : "");
		return EXIT_CONFIG;
	}
	{
		struct omx_config nodisc; /* no resolver: no lookup (reported below) */

		if (!c->res_ok) {
			nodisc = c->cfg;
			nodisc.discover = 0;
			env.cfg = &nodisc;
		}
		omx_route_decide(&env, domain, &rt);
	}
	if (rt.kind == OMX_ROUTE_DEFER && rt.why == OMX_WHY_MAP_DAMAGED) {
		say(c, "route", "deferred: %s is damaged (onionmx-map -q names the damage); the library defers every MX lookup and refuses SMTP connections until it is rebuilt",
		    c->cfg.map_path);
		terse_add(c, " deferred map%s map damaged", c->probe ? " -" : "");
		return EXIT_CONFIG;
	}
	if (rt.kind == OMX_ROUTE_MAP)
		return map_route(c, &rt);
	say(c, "map", "not in %s", c->cfg.map_path);
	if (!c->res_ok) {
		say(c, "route", "deferred: the resolver could not be initialised");
		terse_add(c, " deferred mx%s resolver unavailable", c->probe ? " -" : "");
		return EXIT_DEFERRED;
	}
	if (c->cfg.discover && c->cache_note[0])
		say(c, "cache", "%s; the library's answers are not shared with this check", c->cache_note);
	if (rt.why == OMX_WHY_DISCOVERY_BROKEN)
		say(c, "srv", "discovery cannot run: %s", c->discovery_broken);
	else if (rt.srv_asked)
		srv_describe(c, domain, &rt.srv, rt.srv_cached);
	if (rt.kind == OMX_ROUTE_SRV)
		return srv_route(c, &rt);
	if (rt.why == OMX_WHY_DISCOVERY_BROKEN || rt.why == OMX_WHY_SRV_FAILED ||
	    rt.why == OMX_WHY_CACHE_BUSY || rt.why == OMX_WHY_CACHE_QUOTA || rt.why == OMX_WHY_CACHE_FULL) {
		if ((rc = discovery_failed(c, &rt)) >= 0)
			return rc;
	} else if (rt.why == OMX_WHY_SRV_UNUSABLE) {
		say(c, "note", "no usable onion in the SRV records: the library uses the MX");
	} else if (rt.why == OMX_WHY_DISCOVERY_OFF && !c->terse) {
		/* Informational only: the library does not look. */
		struct omx_srv_result r;

		srv_report(c, domain, &r);
		if (r.status == OMX_SRV_ONION || r.status == OMX_SRV_UNUSABLE)
			say(c, "note", "the domain publishes _onion-mx._tcp records, but discovery is off "
				       "(add \"discover = srv\" to %s to use them)", c->conf);
		else
			say(c, "note", "discovery is off (discover = off): the library does not look "
				       "for SRV records");
	}
	/* 3. The clearnet MX. */
	return mx_route(c, domain);
}
