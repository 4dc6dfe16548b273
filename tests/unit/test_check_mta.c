/* The rules of onionmx-check --mta (tools/check_mta.c), fed with the MTAs' own
 * output as Postfix 3.7 and Exim 4.96 on Debian 12 print it. Each rule is
 * checked both ways: the setting named when it is unsafe, nothing named for the
 * stock value. */
#include "check_mta.h"

#include <stdio.h>
#include <string.h>

#include "map.h"
#include "tap.h"

static struct mta_report r;

/* The finding for SETTING, or NULL. */
static const struct mta_finding *finding(const char *setting)
{
	for (int i = 0; i < r.n; i++)
		if (!strcmp(r.f[i].setting, setting))
			return &r.f[i];
	return NULL;
}

static int unsafe_count(void)
{
	int n = 0;

	for (int i = 0; i < r.n; i++)
		n += r.f[i].level == MTA_UNSAFE;
	return n;
}

/* Debian 12's stock postconf values for the parameters the rules read. */
static const char postfix_stock[] =
	"relayhost = \n"
	"smtp_fallback_relay = \n"
	"smtp_dns_support_level = \n"
	"disable_dns_lookups = no\n"
	"inet_protocols = all\n"
	"default_transport = smtp\n"
	"relay_transport = relay\n"
	"transport_maps = \n"
	"sender_dependent_relayhost_maps = \n"
	"sender_dependent_default_transport_maps = \n";

/* postfix_stock with NAME's value replaced by VALUE. */
static void postfix_with(char *out, size_t cap, const char *name, const char *value)
{
	const char *p = postfix_stock;
	size_t n = strlen(name), used = 0;

	out[0] = '\0';
	while (*p) {
		const char *nl = strchr(p, '\n');
		size_t len = (size_t)(nl - p) + 1;

		if (!strncmp(p, name, n) && !strncmp(p + n, " = ", 3))
			used += (size_t)snprintf(out + used, cap - used, "%s = %s\n", name, value);
		else
			used += (size_t)snprintf(out + used, cap - used, "%.*s", (int)len, p);
		p += len;
	}
}

static void test_postfix(void)
{
	static const struct {
		const char *name, *value;
		int unsafe;
	} cases[] = {
		{ "smtp_fallback_relay", "[fallback.example]:25", 1 },
		{ "relayhost", "[relay.example]", 1 },
		/* Handled by the library (an MTA's address lookups of mapped domains,
		 * IPv4-mapped AAAA of onions): a note at most. */
		{ "smtp_dns_support_level", "disabled", 0 },
		{ "smtp_dns_support_level", "dnssec", 0 },
		{ "disable_dns_lookups", "yes", 0 },
		{ "inet_protocols", "ipv6", 0 },
		{ "inet_protocols", "ipv4", 0 },
		{ "default_transport", "smtp:[relay.example]", 1 },
		{ "default_transport", "smtp:", 0 },
		{ "relay_transport", "relay:[relay.example]", 1 },
		{ "transport_maps", "hash:/etc/postfix/transport", 0 },
	};
	char text[2048];

	memset(&r, 0, sizeof(r));
	omx_mta_postfix_rules(postfix_stock, "", &r);
	is_int(r.n, 0, "postfix, Debian's stock values: nothing named");

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct mta_finding *f;

		postfix_with(text, sizeof(text), cases[i].name, cases[i].value);
		memset(&r, 0, sizeof(r));
		omx_mta_postfix_rules(text, "", &r);
		f = finding(cases[i].name);
		if (cases[i].unsafe) {
			ok(f && f->level == MTA_UNSAFE && !strcmp(f->value, cases[i].value) && f->why[0] &&
				   f->fix[0],
			   "postfix %s = %s: named unsafe, with why and fix", cases[i].name, cases[i].value);
		} else if (!strcmp(cases[i].value, "disabled") || !strcmp(cases[i].name, "disable_dns_lookups")) {
			ok(f && f->level == MTA_NOTE && unsafe_count() == 0 && strstr(f->fix, "discover"),
			   "postfix %s = %s: a note (unsafe only with discovery), not unsafe", cases[i].name,
			   cases[i].value);
		} else if (!strcmp(cases[i].name, "transport_maps")) {
			ok(f && f->level == MTA_NOTE && unsafe_count() == 0,
			   "postfix transport_maps set: a note (its entries cannot be read), not unsafe");
		} else {
			is_int(r.n, 0, "postfix %s = %s: nothing named", cases[i].name, cases[i].value);
		}
	}

	/* master.cf overrides, as "postconf -P" prints them. */
	memset(&r, 0, sizeof(r));
	omx_mta_postfix_rules(postfix_stock,
			      "smtp/unix/smtp_fallback_relay = [fb.example]\n"
			      "submission/inet/syslog_name = postfix/submission\n",
			      &r);
	ok(finding("master.cf smtp/unix: -o smtp_fallback_relay") != NULL && r.n == 1,
	   "postfix: a master.cf -o smtp_fallback_relay override is named with its service");
}

/* An Exim -bP routers/transports output in Debian's layout (internet site). */
static const char exim_routers_fmt[] =
	"dnslookup_relay_to_domains router:\n"
	"check_srv = %s\n"
	"driver = dnslookup\n"
	"fallback_hosts = \n"
	"ignore_target_hosts = %s\n"
	"transport = remote_smtp\n"
	"\n"
	"dnslookup router:\n"
	"driver = dnslookup\n"
	"fallback_hosts = %s\n"
	"ignore_target_hosts = <; 0.0.0.0 ; 127.0.0.0/8 ; 192.168.0.0/16 ; 172.16.0.0/12 ; "
	"10.0.0.0/8 ; 169.254.0.0/16 ; 255.255.255.255 ; ::/128 ; ::1/128 ; fc00::/7 ; fe80::/10 ; "
	"100::/64\n"
	"transport = remote_smtp\n"
	"\n"
	"%s";

static const char exim_transports_fmt[] =
	"remote_smtp transport:\n"
	"driver = smtp\n"
	"fallback_hosts = %s\n"
	"hosts = %s\n"
	"%s\n"
	"\n"
	"address_pipe transport:\n"
	"driver = pipe\n";

static const char debian_ignore[] =
	"<; 0.0.0.0 ; 127.0.0.0/8 ; 192.168.0.0/16 ; 172.16.0.0/12 ; 10.0.0.0/8 ; 169.254.0.0/16 ; "
	"255.255.255.255 ; ::/128 ; ::1/128 ; fc00::/7 ; fe80::/10 ; 100::/64";

static void exim(const char *check_srv, const char *ignore, const char *router_fallback,
		 const char *extra_router, const char *transport_fallback, const char *hosts,
		 const char *override, const char *main_opts, const struct mta_ranges *rg)
{
	static char routers[4096], transports[2048];

	snprintf(routers, sizeof(routers), exim_routers_fmt, check_srv, ignore, router_fallback,
		 extra_router);
	snprintf(transports, sizeof(transports), exim_transports_fmt, transport_fallback, hosts,
		 override);
	memset(&r, 0, sizeof(r));
	omx_mta_exim_rules(routers, transports, main_opts, rg, &r);
}

static void test_exim(void)
{
	struct mta_ranges rg = { 0 };
	const struct mta_finding *f;
	char bogons[512];

	omx_parse_range(OMX_DEFAULT_RANGE, &rg.map_net, &rg.map_mask);
	exim("", debian_ignore, "", "", "", "", "no_hosts_override", "dns_again_means_nonexist = \n",
	     &rg);
	is_int(r.n, 0, "exim, Debian's internet-site routers and transports: nothing named");

	exim("smtp", debian_ignore, "", "", "", "", "no_hosts_override", "", &rg);
	is_int(r.n, 0, "exim check_srv = smtp: nothing named (the library answers _smtp._tcp of mapped domains)");
	exim("xmpp", debian_ignore, "", "", "", "", "no_hosts_override", "", &rg);
	f = finding("router dnslookup_relay_to_domains: check_srv");
	ok(f && f->level == MTA_UNSAFE && strstr(f->why, "_xmpp._tcp"), "exim check_srv = xmpp: unsafe, names the SRV name");
	{
		struct mta_ranges disc = rg;

		omx_parse_range("248.0.0.0/8", &disc.disc_net, &disc.disc_mask);
		exim("smtp", debian_ignore, "", "", "", "", "no_hosts_override", "", &disc);
		f = finding("router dnslookup_relay_to_domains: check_srv");
		ok(f && f->level == MTA_UNSAFE && strstr(f->why, "discovery"),
		   "exim check_srv = smtp with discovery on: unsafe (discovered domains' SRV goes to DNS)");
	}

	exim("", debian_ignore, "fb.example", "", "", "", "no_hosts_override", "", &rg);
	ok(finding("router dnslookup: fallback_hosts") && unsafe_count() == 1,
	   "exim router fallback_hosts: unsafe");
	exim("", debian_ignore, "", "", "fb.example : fb2.example", "", "no_hosts_override", "", &rg);
	f = finding("transport remote_smtp: fallback_hosts");
	ok(f && !strcmp(f->value, "fb.example : fb2.example"), "exim transport fallback_hosts: unsafe, value shown");
	exim("", debian_ignore, "", "", "", "relay.example", "hosts_override", "", &rg);
	ok(finding("transport remote_smtp: hosts_override") != NULL, "exim hosts_override with hosts: unsafe");
	exim("", debian_ignore, "", "", "", "relay.example", "no_hosts_override", "", &rg);
	is_int(r.n, 0, "exim hosts without hosts_override: nothing named");

	/* A bogon list covering 240.0.0.0/4 (the map's default range is 240.0.0.0/5). */
	snprintf(bogons, sizeof(bogons), "%s ; 100.64.0.0/10 ; 240.0.0.0/4", debian_ignore);
	exim("", bogons, "", "", "", "", "no_hosts_override", "", &rg);
	f = finding("router dnslookup_relay_to_domains: ignore_target_hosts");
	ok(f && f->level == MTA_UNSAFE && strstr(f->why, "\"240.0.0.0/4\"") &&
		   strstr(f->fix, "onionmx-map -r 198.18.0.0/15"),
	   "exim ignore_target_hosts with 240.0.0.0/4: unsafe; the fix names a range the list leaves free");
	if (f)
		printf("#   fix: %s\n", f->fix);
	/* Only discovery's range covered. */
	omx_parse_range("248.0.0.0/8", &rg.disc_net, &rg.disc_mask);
	exim("", "<; 127.0.0.0/8 ; 248.1.0.0/16", "", "", "", "", "no_hosts_override", "", &rg);
	f = finding("router dnslookup_relay_to_domains: ignore_target_hosts");
	ok(f && strstr(f->why, "discover_range"), "exim ignore_target_hosts covering discovery's range: named");
	rg.disc_mask = 0;
	exim("", "<; 127.0.0.0/8 ; 248.1.0.0/16", "", "", "", "", "no_hosts_override", "", &rg);
	is_int(r.n, 0, "the same list with discovery off: nothing named");

	/* A smarthost (Debian's "smarthost" config type). */
	exim("", debian_ignore, "", "smarthost router:\ndriver = manualroute\nroute_list = * relay.example byname\n\n",
	     "", "", "no_hosts_override", "", &rg);
	f = finding("router smarthost: route_list");
	ok(f && f->level == MTA_UNSAFE, "exim smarthost route_list \"* HOST\": unsafe (onion routing off)");
	exim("", debian_ignore, "", "hubbed router:\ndriver = manualroute\nroute_list = partner.example mx.partner.example\n\n",
	     "", "", "no_hosts_override", "", &rg);
	f = finding("router hubbed: route_list");
	ok(f && f->level == MTA_NOTE && unsafe_count() == 0, "exim route_list for named domains: a note");

	exim("", debian_ignore, "", "", "", "", "no_hosts_override", "dns_again_means_nonexist = *\n", &rg);
	ok(finding("dns_again_means_nonexist") && unsafe_count() == 1,
	   "exim dns_again_means_nonexist = *: unsafe (a deferral becomes a bounce)");
}

static void test_exim_lists(void)
{
	uint32_t net, mask;
	char hit[256];

	omx_parse_range("240.0.0.0/5", &net, &mask);
	is_int(omx_mta_exim_list_covers("127.0.0.0/8 : 10.0.0.0/8", net, mask, hit, sizeof(hit)), 0,
	       "colon list without the range: 0");
	is_int(omx_mta_exim_list_covers("127.0.0.0/8 : 244.1.2.3", net, mask, hit, sizeof(hit)), 1,
	       "a single address inside the range: 1");
	is_str(hit, "244.1.2.3", "and it is the entry named");
	is_int(omx_mta_exim_list_covers("::1 : fe80::/10 : 0.0.0.0/0", net, mask, hit, sizeof(hit)), 1,
	       "colon list with doubled colons (IPv6) and 0.0.0.0/0: covered");
	is_int(omx_mta_exim_list_covers("<, 127.0.0.0/8, 224.0.0.0/3", net, mask, hit, sizeof(hit)), 1,
	       "\"<,\" separator: 224.0.0.0/3 covers 240.0.0.0/5");
	is_int(omx_mta_exim_list_covers("! 240.0.0.0/4 : 127.0.0.0/8", net, mask, hit, sizeof(hit)), 0,
	       "a negated entry does not cover");
	is_int(omx_mta_exim_list_covers("+bogons : 127.0.0.0/8", net, mask, hit, sizeof(hit)), -1,
	       "a named list: cannot be judged (-1)");
	is_int(omx_mta_exim_list_covers("net-iplsearch;/etc/exim4/bogons", net, mask, hit, sizeof(hit)), -1,
	       "a lookup: cannot be judged (-1)");
	is_int(omx_mta_exim_list_covers("", net, mask, hit, sizeof(hit)), 0, "empty list: 0");
}

static void test_opensmtpd(void)
{
	memset(&r, 0, sizeof(r));
	omx_mta_opensmtpd_rules("listen on localhost\naction \"relay\" relay\nmatch from local for any action \"relay\"\n", &r);
	is_int(r.n, 0, "opensmtpd, Debian's stock relay by MX: nothing named");
	memset(&r, 0, sizeof(r));
	omx_mta_opensmtpd_rules("# action \"x\" relay host smtp://a\naction \"out\" relay host smtp+tls://relay.example\n", &r);
	ok(finding("smtpd.conf line 2") && r.n == 1, "opensmtpd relay host: unsafe, with its line (comments skipped)");
}

static void test_option(void)
{
	char v[64];

	ok(omx_mta_option("a = 1\nhosts_override\nno_b\n", "hosts_override", v, sizeof(v)) && !strcmp(v, "true"),
	   "a bare boolean option reads as true");
	ok(omx_mta_option("a = 1\nno_b\n", "b", v, sizeof(v)) && !strcmp(v, "false"), "no_NAME reads as false");
	ok(!omx_mta_option("ab = 1\n", "a", v, sizeof(v)), "a longer name does not match a prefix");
}

int main(void)
{
	test_option();
	test_postfix();
	test_exim_lists();
	test_exim();
	test_opensmtpd();
	return done_testing();
}
