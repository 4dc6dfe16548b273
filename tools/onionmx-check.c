/* onionmx-check: how mail for a domain would travel under onionmx, and why (the
 * static map, SRV discovery, or the clearnet MX), decided in the library's order
 * from the same configuration; with --probe, whether its onions answer through
 * Tor; with --publish, the SRV record that announces an onion MX. */
#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netdb.h>
#include <poll.h>
#include <resolv.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "check_mta.h"
#include "check_mx.h"
#include "check_health.h"
#include "config.h"
#include "map.h"
#include "onion.h"
#include "socks5.h"
#include "srv.h"
#include "route.h"
#include "srv_lookup.h"
#include "tor.h"

static const char usage_text[] =
	"usage: onionmx-check [-c CONF] [-t] [-p] DOMAIN...\n"
	"       onionmx-check --publish [--domain DOMAIN] [--port N] [--priority N]\n"
	"                     [--weight N] [--ttl N] HIDDENSERVICEDIR|HOSTNAMEFILE|ONION\n"
	"       onionmx-check [-c CONF] [-t] --mta [postfix|exim|opensmtpd]\n"
	"\n"
	"Shows how mail for each DOMAIN would travel under onionmx and why, deciding in\n"
	"the library's order: the static map, then SRV discovery (_onion-mx._tcp, if\n"
	"discover = srv), then the domain's clearnet MX.\n"
	"  -c, --config CONF  configuration (default $ONIONMX_CONF, else " OMX_DEFAULT_CONF ")\n"
	"  -t, --terse        one line per domain: DOMAIN ROUTE SOURCE [PROBE] DETAIL...\n"
	"                     ROUTE: onion, clearnet or deferred; SOURCE: map,\n"
	"                     srv(signed), srv(unsigned), srv, mx or config; PROBE (only\n"
	"                     with -p): ok, partial, failed, or - without an onion route;\n"
	"                     DETAIL: the onions as LABEL.onion:PORT (MX records: the\n"
	"                     first 32, then +N for N more), the MX hosts, or why\n"
	"  -p, --probe        connect to each onion through Tor's SOCKS port and read its\n"
	"                     SMTP banner (within the configured timeout per onion)\n"
	"  --publish          print the SRV record announcing an onion MX: ARG is Tor's\n"
	"                     HiddenServiceDir (its hostname file is read), a hostname\n"
	"                     file, or the onion name; --domain (else the owner is written\n"
	"                     relative to the zone's origin), --port (25), --priority (0),\n"
	"                     --weight (5), --ttl (3600)\n"
	"  --mta              name the MTA settings that would send mapped mail in clear\n"
	"                     or bounce it (fallback relays, relay hosts, DNS lookups\n"
	"                     off, IPv6 only, check_srv, ignore_target_hosts covering the\n"
	"                     synthetic ranges ...), and whether the MTA loads the library;\n"
	"                     reads postconf, exim -bP or smtpd.conf (the MTA is detected\n"
	"                     when not named). Exit 0 nothing unsafe, 1 unsafe settings\n"
	"                     named, 2 the MTA's configuration could not be read\n"
	"  -h, --help         this text\n"
	"\n"
	"Exit status (with several domains the most severe, in this order):\n"
	"  78 configuration or map broken: the library defers all mail\n"
	"   2 mail for a domain would be deferred (SRV or MX lookup failed temporarily)\n"
	"   3 --probe: no onion of a domain answered with a 220 banner\n"
	"   1 a domain has no onion route: its mail goes over the clearnet\n"
	"   0 every domain has an onion route (and with -p, one of its onions answered)\n"
	"  64 usage error; --publish: 65 not a valid v3 onion, 66 file unreadable\n";

/* Severity: a broken configuration (all mail waits), then a deferred domain (its
 * mail waits), then an onion route that did not answer (mail waits, Tor may
 * recover), then a clearnet route (mail flows, but not through Tor). */
static int rank(int code)
{
	switch (code) {
	case EXIT_ONION:
		return 0;
	case EXIT_CLEARNET:
		return 1;
	case EXIT_PROBE:
		return 2;
	case EXIT_DEFERRED:
		return 3;
	default:
		return 4; /* EXIT_CONFIG */
	}
}

/* ------------------------------------------------------------------ config */

static void load_config(struct ctx *c)
{
	char err[sizeof(c->config_err)];
	uint32_t net, mask;
	int fd;

	omx_config_defaults(&c->cfg);
	if (omx_config_load(&c->cfg, c->conf, 0, err, sizeof(err)) != 0) {
		snprintf(c->config_err, sizeof(c->config_err), "%s", err);
		return;
	}
	fd = open(c->cfg.map_path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		snprintf(c->config_err, sizeof(c->config_err), "%s: %s%s", c->cfg.map_path,
			 strerror(errno), errno == ENOENT ? " (compile the map with onionmx-map)" : "");
		return;
	}
	if (omx_map_open_fd(&c->map, fd, c->cfg.map_path, err, sizeof(err)) != 0) {
		snprintf(c->config_err, sizeof(c->config_err), "%s", err);
		close(fd);
		return;
	}
	close(fd);
	c->map_open = 1;
	c->config_ok = 1;
	/* As the library: a discovered onion's address must never be a mapped
	 * one's, so overlapping ranges stop discovery (its lookups fail). */
	if (c->cfg.discover && omx_parse_range(c->cfg.discover_range, &net, &mask) == 0 &&
	    omx_ranges_overlap(c->map.net, c->map.mask, net, mask)) {
		struct in_addr in = { .s_addr = htonl(c->map.net) };
		char text[INET_ADDRSTRLEN] = "?";
		int prefix = __builtin_popcount(c->map.mask);

		inet_ntop(AF_INET, &in, text, sizeof(text));
		snprintf(c->discovery_broken, sizeof(c->discovery_broken),
			 "the map's synthetic range %s/%d overlaps discover_range %s (rebuild the map "
			 "with onionmx-map -r, or change discover_range)", text, prefix,
			 c->cfg.discover_range);
	}
	/* The route comes from the library's shared cache where the library would
	 * take it from there: the same answers, the same onion addresses. */
	if (c->cfg.discover && omx_parse_range(c->cfg.discover_range, &net, &mask) == 0) {
		if (omx_cache_open(&c->cache, c->cfg.cache_path, net, mask, 0, err, sizeof(err)) == 0) {
			c->cache_open = 1;
		} else {
			snprintf(c->cache_note, sizeof(c->cache_note), "%s", err);
			c->cache_open = omx_cache_open_anonymous(&c->cache, net, mask, err, sizeof(err)) == 0;
		}
	}
}

/* ------------------------------------------------------------------ main */

static int parse_number(const char *opt, const char *arg, unsigned long min, unsigned long max,
			unsigned long *out)
{
	char *end;

	errno = 0;
	*out = strtoul(arg, &end, 10);
	if (errno || end == arg || *end || !isdigit((unsigned char)arg[0]) || *out < min || *out > max) {
		fprintf(stderr, "onionmx-check: %s %s: expected a number from %lu to %lu\n", opt, arg,
			min, max);
		return -1;
	}
	return 0;
}

enum { OPT_PUBLISH = 256, OPT_DOMAIN, OPT_PORT, OPT_PRIORITY, OPT_WEIGHT, OPT_TTL, OPT_MTA };

/* --mta [WHICH]: the MTA's settings, against this configuration's ranges. */
static int check_mta(struct ctx *c, const char *which)
{
	struct mta_ranges rg = { 0 };

	load_config(c);
	if (!c->config_ok)
		fprintf(stderr, "onionmx-check: %s (the MTA's settings are checked all the same)\n",
			c->config_err);
	if (c->map_open) {
		rg.map_net = c->map.net;
		rg.map_mask = c->map.mask;
	} else {
		omx_parse_range(OMX_DEFAULT_RANGE, &rg.map_net, &rg.map_mask);
	}
	if (c->config_ok && c->cfg.discover)
		omx_parse_range(c->cfg.discover_range, &rg.disc_net, &rg.disc_mask);
	return omx_check_mta(which, c->config_ok ? &c->cfg : NULL, &rg, c->terse);
}

/* What the command line asks for besides the domains. */
struct cmdline {
	int do_publish, do_mta, publish_args;
	struct publish_opts po;
};

/* A --publish option's number; -1 on a bad one (said on stderr). */
static int publish_number(struct cmdline *cl, int opt, const char *arg)
{
	switch (opt) {
	case OPT_PORT:
		return parse_number("--port", arg, 1, 65535, &cl->po.port);
	case OPT_PRIORITY:
		return parse_number("--priority", arg, 0, 65535, &cl->po.priority);
	case OPT_WEIGHT:
		return parse_number("--weight", arg, 0, 65535, &cl->po.weight);
	default:
		return parse_number("--ttl", arg, 0, 2147483647, &cl->po.ttl);
	}
}

/* Reads the options into C and CL; returns -1 to go on, or the exit status. */
static int parse_options(int argc, char **argv, struct ctx *c, struct cmdline *cl)
{
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "terse", no_argument, NULL, 't' },
		{ "probe", no_argument, NULL, 'p' },
		{ "help", no_argument, NULL, 'h' },
		{ "publish", no_argument, NULL, OPT_PUBLISH },
		{ "domain", required_argument, NULL, OPT_DOMAIN },
		{ "port", required_argument, NULL, OPT_PORT },
		{ "priority", required_argument, NULL, OPT_PRIORITY },
		{ "weight", required_argument, NULL, OPT_WEIGHT },
		{ "ttl", required_argument, NULL, OPT_TTL },
		{ "mta", no_argument, NULL, OPT_MTA },
		{ NULL, 0, NULL, 0 },
	};
	int opt;

	while ((opt = getopt_long(argc, argv, "c:tph", longopts, NULL)) != -1) {
		switch (opt) {
		case 'c':
			c->conf = optarg;
			break;
		case 't':
			c->terse = 1;
			break;
		case 'p':
			c->probe = 1;
			break;
		case 'h':
			fputs(usage_text, stdout);
			return 0;
		case OPT_PUBLISH:
			cl->do_publish = 1;
			break;
		case OPT_MTA:
			cl->do_mta = 1;
			break;
		case OPT_DOMAIN:
			cl->po.domain = optarg;
			cl->publish_args = 1;
			break;
		case OPT_PORT:
		case OPT_PRIORITY:
		case OPT_WEIGHT:
		case OPT_TTL:
			if (publish_number(cl, opt, optarg) != 0)
				return EXIT_USAGE;
			cl->publish_args = 1;
			break;
		default:
			fputs(usage_text, stderr);
			return EXIT_USAGE;
		}
	}
	return -1;
}

/* The domains of the command line, each checked and normalised before anything
 * is looked up; NULL with *STATUS the exit status on a bad one. */
static char **read_domains(int n, char **args, int *status)
{
	char **domains = calloc((size_t)n, sizeof(*domains));
	char err[256];

	if (!domains) {
		fprintf(stderr, "onionmx-check: out of memory\n");
		*status = EXIT_DEFERRED;
		return NULL;
	}
	*status = EXIT_USAGE;
	for (int i = 0; i < n; i++) {
		char *d = malloc(256);

		if (!d || strlen(args[i]) >= 256) {
			fprintf(stderr, "onionmx-check: %.80s...: %s\n", args[i],
				d ? "not a domain (too long)" : "out of memory");
			return NULL;
		}
		strcpy(d, args[i]);
		if (omx_domain_normalise(d, err, sizeof(err)) != 0) {
			fprintf(stderr, "onionmx-check: %s: %s\n", args[i], err);
			return NULL;
		}
		if (omx_onion_label(d, strlen(d), &(size_t){ 0 })) {
			fprintf(stderr, "onionmx-check: %s: an onion name, not a mail domain\n", args[i]);
			return NULL;
		}
		domains[i] = d;
	}
	return domains;
}

/* The configuration's line heading the report. */
static void print_config(const struct ctx *c)
{
	char tors[OMX_TORS_MAX * 66] = "";
	size_t tl = 0;

	for (int i = 0; i < c->cfg.ntors && tl < sizeof(tors); i++)
		tl += (size_t)snprintf(tors + tl, sizeof(tors) - tl, "%s%s", i ? " " : "",
				       c->cfg.tors[i].text);
	printf("config %s: socks %s, map %s, discover %s, srv_dnssec %s, srv_failure %s, "
	       "timeout %d s%s%s\n\n",
	       c->conf, tors, c->cfg.map_path, c->cfg.discover ? "srv" : "off",
	       check_policy_name(c->cfg.srv_dnssec), c->cfg.srv_failure_mx ? "mx" : "defer",
	       c->cfg.timeout, c->cfg.programs[0] ? "; the library acts only in: " : "",
	       c->cfg.programs);
}

/* --mta or --publish, checked against the rest of the command line; -1 when
 * neither was asked for (and no --publish option was given without it). */
static int run_other_job(struct ctx *c, const struct cmdline *cl, int argc, char **argv)
{
	if (cl->do_mta) {
		if (cl->do_publish || c->probe || cl->publish_args || argc - optind > 1) {
			fprintf(stderr, "onionmx-check: --mta takes at most one MTA name (postfix, exim "
					"or opensmtpd), and no --publish or -p\n");
			return EXIT_USAGE;
		}
		setvbuf(stdout, NULL, _IOLBF, 0);
		return check_mta(c, optind < argc ? argv[optind] : NULL);
	}
	if (cl->do_publish) {
		if (optind != argc - 1 || c->terse || c->probe) {
			fprintf(stderr, "onionmx-check: --publish takes one HIDDENSERVICEDIR, hostname file "
					"or ONION, and no -t or -p\n");
			fputs(usage_text, stderr);
			return EXIT_USAGE;
		}
		return check_publish(&cl->po, argv[optind]);
	}
	if (cl->publish_args) {
		fprintf(stderr, "onionmx-check: --domain, --port, --priority, --weight and --ttl go with "
				"--publish\n");
		return EXIT_USAGE;
	}
	return -1;
}

int main(int argc, char **argv)
{
	static struct ctx c; /* large: not on the stack */
	struct cmdline cl = { .po = { .port = 25, .priority = 0, .weight = 5, .ttl = 3600 } };
	int rc, ndomains, worst = EXIT_ONION;
	char **domains;

	if (omx_health_requested(argc, argv)) /* tools/health.c */
		return omx_health_main(argc, argv);
	c.conf = getenv("ONIONMX_CONF");
	if (!c.conf || !*c.conf)
		c.conf = OMX_DEFAULT_CONF;
	if ((rc = parse_options(argc, argv, &c, &cl)) >= 0 ||
	    (rc = run_other_job(&c, &cl, argc, argv)) >= 0)
		return rc;
	if (optind >= argc) {
		fputs(usage_text, stderr);
		return EXIT_USAGE;
	}
	ndomains = argc - optind;
	if (!(domains = read_domains(ndomains, argv + optind, &rc)))
		return rc;

	setvbuf(stdout, NULL, _IOLBF, 0);
	load_config(&c);
	if (!c.config_ok)
		fprintf(stderr, "onionmx-check: %s\n", c.config_err);
	else if (!c.terse)
		print_config(&c);
	c.res_ok = res_ninit(&c.res) == 0;

	for (int i = 0; i < ndomains; i++) {
		rc = check_domain(&c, domains[i]);
		if (c.terse)
			printf("%s\n", c.terse_line);
		else if (i < ndomains - 1)
			putchar('\n');
		if (rank(rc) > rank(worst))
			worst = rc;
		free(domains[i]);
	}
	free(domains);
	if (c.res_ok)
		res_nclose(&c.res);
	if (c.map_open)
		omx_map_close(&c.map);
	return worst;
}
