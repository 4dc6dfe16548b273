/* onionmx-check --mta: names the MTA settings that would send mapped mail in
 * clear or bounce it, and how the library is (or is not) loaded into the MTA.
 * The rules (omx_mta_*_rules) read the MTA's own report of its configuration
 * as text; the rest runs the MTA's commands and looks at the system. */
#include "check_mta.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <poll.h>
#include <signal.h>
#include <time.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "map.h"

/* ------------------------------------------------------------ the rules (pure) */

void omx_mta_add(struct mta_report *r, enum mta_level level, const char *setting,
		 const char *value, const char *fix, const char *why_fmt, ...)
{
	struct mta_finding *f;
	va_list ap;

	if (r->n >= MTA_MAX_FINDINGS) {
		r->truncated = 1;
		return;
	}
	f = &r->f[r->n++];
	f->level = level;
	snprintf(f->setting, sizeof(f->setting), "%s", setting);
	snprintf(f->value, sizeof(f->value), "%s", value ? value : "");
	snprintf(f->fix, sizeof(f->fix), "%s", fix ? fix : "");
	va_start(ap, why_fmt);
	vsnprintf(f->why, sizeof(f->why), why_fmt, ap);
	va_end(ap);
}

/* The next line of *TEXT (without its newline) into LINE; 0 at the end. */
static int next_line(const char **text, char *line, size_t cap)
{
	const char *p = *text, *nl;
	size_t n;

	if (!p || !*p)
		return 0;
	nl = strchr(p, '\n');
	n = nl ? (size_t)(nl - p) : strlen(p);
	*text = nl ? nl + 1 : p + n;
	if (n >= cap)
		n = cap - 1;
	memcpy(line, p, n);
	line[n] = '\0';
	return 1;
}

static const char *skip_blanks(const char *p)
{
	while (*p == ' ' || *p == '\t')
		p++;
	return p;
}

int omx_mta_option(const char *text, const char *name, char *out, size_t outlen)
{
	char line[4096];
	size_t n = strlen(name);

	while (next_line(&text, line, sizeof(line))) {
		if (strncmp(line, name, n) == 0 && strncmp(line + n, " = ", 3) == 0) {
			snprintf(out, outlen, "%s", line + n + 3);
			return 1;
		}
		if (strncmp(line, name, n) == 0 && (line[n] == '\0' || strcmp(line + n, " =") == 0)) {
			snprintf(out, outlen, "%s", line[n] ? "" : "true");
			return 1;
		}
		if (strncmp(line, "no_", 3) == 0 && strcmp(line + 3, name) == 0) {
			snprintf(out, outlen, "false");
			return 1;
		}
	}
	return 0;
}

static int empty_value(const char *v)
{
	return *skip_blanks(v) == '\0';
}

/* --- Postfix --- */

/* The main.cf parameters that matter, and why. */
static void postfix_param(struct mta_report *r, const char *where, const char *name,
			  const char *value)
{
	char setting[128];

	snprintf(setting, sizeof(setting), "%s%s", where, name);
	if ((!strcmp(name, "smtp_fallback_relay") || !strcmp(name, "fallback_relay")) &&
	    !empty_value(value))
		omx_mta_add(r, MTA_UNSAFE, setting, value,
			    "empty it (postconf -e 'smtp_fallback_relay =') on a host that sends to onions",
			    "when the onion cannot be reached (Tor down), Postfix hands mapped mail to "
			    "this relay instead; the library refuses that connection, but not a "
			    "cached one Postfix reuses, nor one after an MX lookup of an unbracketed "
			    "relay name: mapped mail may leave in clear, logged as sent");
	else if (!strcmp(name, "relayhost") && !empty_value(value))
		omx_mta_add(r, MTA_UNSAFE, setting, value,
			    "empty relayhost, or run onionmx on the relay host itself",
			    "all mail, mapped domains' included, goes to the relay host: onion routing "
			    "is off on this host");
	else if ((!strcmp(name, "smtp_dns_support_level") && !strcmp(value, "disabled")) ||
		 (!strcmp(name, "disable_dns_lookups") && !strcmp(value, "yes")))
		/* Handled by the library: in smtp a mapped domain's own address is its
		 * onion's. Not for domains only discovery knows: postfix_report makes
		 * this unsafe when discovery is on. (inet_protocols = ipv6 is handled
		 * too: an onion's AAAA is its address IPv4-mapped.) */
		omx_mta_add(r, MTA_NOTE, setting, value,
			    "with discover = srv, leave DNS lookups enabled",
			    "Postfix looks up the domain's own address (getaddrinfo) instead of its MX: "
			    "the library answers it with the onion's address for mapped domains; a "
			    "domain known only by discovery gets no MX lookup, so no onion");
	else if ((!strcmp(name, "default_transport") || !strcmp(name, "relay_transport")) &&
		 strchr(value, ':') && !empty_value(strchr(value, ':') + 1))
		omx_mta_add(r, MTA_UNSAFE, setting, value, "remove the next-hop part (after ':')",
			    "the transport names a fixed next hop: mail it carries goes there, not to "
			    "the onion MX of a mapped domain");
	else if ((!strcmp(name, "transport_maps") || !strcmp(name, "sender_dependent_relayhost_maps") ||
		  !strcmp(name, "sender_dependent_default_transport_maps")) &&
		 !empty_value(value))
		omx_mta_add(r, MTA_NOTE, setting, value,
			    "make sure no entry matches a mapped domain (onionmx-map -q lists the map)",
			    "an entry that matches a mapped domain sends its mail to the host it names, "
			    "not to the onion MX (onionmx-check cannot read the table's entries)");
}

static const char *const postfix_params[] = {
	"relayhost", "smtp_fallback_relay", "fallback_relay", "smtp_dns_support_level",
	"disable_dns_lookups", "inet_protocols", "default_transport", "relay_transport",
	"transport_maps", "sender_dependent_relayhost_maps",
	"sender_dependent_default_transport_maps",
};

void omx_mta_postfix_rules(const char *main_cf, const char *overrides, struct mta_report *r)
{
	char value[1024], line[4096];

	for (size_t i = 0; i < sizeof(postfix_params) / sizeof(postfix_params[0]); i++)
		if (omx_mta_option(main_cf, postfix_params[i], value, sizeof(value)))
			postfix_param(r, "", postfix_params[i], value);
	/* master.cf "-o" overrides: "service/type/name = value". */
	while (overrides && next_line(&overrides, line, sizeof(line))) {
		char *eq = strstr(line, " = "), *slash1, *slash2, where[160];

		if (!eq)
			continue;
		*eq = '\0';
		slash1 = strchr(line, '/');
		slash2 = slash1 ? strchr(slash1 + 1, '/') : NULL;
		if (!slash2)
			continue;
		*slash2 = '\0';
		snprintf(where, sizeof(where), "master.cf %.100s: -o ", line);
		postfix_param(r, where, slash2 + 1, eq + 3);
	}
}

/* --- Exim --- */

/* Parses an IPv4 address or CIDR item; 1 with NET/MASK, 0 for anything else. */
static int ipv4_item(const char *item, uint32_t *net, uint32_t *mask)
{
	char text[64];
	const char *slash = strchr(item, '/');
	struct in_addr in;
	unsigned long prefix = 32;
	size_t n = slash ? (size_t)(slash - item) : strlen(item);

	if (n >= sizeof(text))
		return 0;
	memcpy(text, item, n);
	text[n] = '\0';
	if (inet_pton(AF_INET, text, &in) != 1)
		return 0;
	if (slash) {
		char *end;

		prefix = strtoul(slash + 1, &end, 10);
		if (end == slash + 1 || *end || prefix > 32)
			return 0;
	}
	*mask = prefix ? 0xffffffffu << (32 - prefix) : 0;
	*net = ntohl(in.s_addr) & *mask;
	return 1;
}

int omx_mta_exim_list_covers(const char *list, uint32_t net, uint32_t mask, char *hit,
			     size_t hitlen)
{
	char sep = ':', item[256];
	const char *p = skip_blanks(list);
	int unknown = 0;

	if (p[0] == '<' && p[1] && !isspace((unsigned char)p[1])) {
		sep = p[1];
		p += 2;
	}
	while (*p) {
		size_t n = 0;
		uint32_t inet, imask;

		p = skip_blanks(p);
		/* With ':' as separator "::" stands for a literal ':' (IPv6). */
		while (*p && n < sizeof(item) - 1) {
			if (*p == sep && !(sep == ':' && p[1] == ':'))
				break;
			if (sep == ':' && p[0] == ':' && p[1] == ':')
				p++;
			item[n++] = *p++;
		}
		while (n && (item[n - 1] == ' ' || item[n - 1] == '\t'))
			n--;
		item[n] = '\0';
		if (*p == sep)
			p++;
		if (!n || item[0] == '!')
			continue; /* a negated entry excludes rather than covers */
		if (ipv4_item(item, &inet, &imask)) {
			if (omx_ranges_overlap(inet, imask, net, mask)) {
				snprintf(hit, hitlen, "%s", item);
				return 1;
			}
		} else if (item[0] == '+' || item[0] == '$' || item[0] == '/' || strchr(item, ';') ||
			   strstr(item, "lsearch") || strstr(item, "cdb") || strstr(item, "dbm")) {
			if (!unknown)
				snprintf(hit, hitlen, "%s", item);
			unknown = 1; /* a named list or a lookup: cannot tell */
		}
	}
	return unknown ? -1 : 0;
}

/* One "NAME router:" or "NAME transport:" block of -bP output: its name and the
 * text of its options. */
struct exim_block {
	char name[128];
	const char *start, *end;
};

/* The next block of TEXT whose header ends in KIND (" router:"); 0 at the end. */
static int next_block(const char **text, const char *kind, struct exim_block *b)
{
	const char *p = *text;
	size_t klen = strlen(kind);

	while (p && *p) {
		const char *nl = strchr(p, '\n');
		size_t n = nl ? (size_t)(nl - p) : strlen(p);

		if (n > klen && memcmp(p + n - klen, kind, klen) == 0 && !memchr(p, '=', n)) {
			size_t name_len = n - klen < sizeof(b->name) - 1 ? n - klen : sizeof(b->name) - 1;

			memcpy(b->name, p, name_len);
			b->name[name_len] = '\0';
			b->start = nl ? nl + 1 : p + n;
			/* The block ends at the next blank line. */
			b->end = strstr(b->start, "\n\n");
			if (!b->end)
				b->end = b->start + strlen(b->start);
			*text = b->end;
			return 1;
		}
		p = nl ? nl + 1 : p + n;
	}
	*text = p;
	return 0;
}

static int block_option(const struct exim_block *b, const char *name, char *out, size_t outlen)
{
	size_t n = (size_t)(b->end - b->start);
	char *copy = malloc(n + 1);
	int found;

	if (!copy)
		return 0;
	memcpy(copy, b->start, n);
	copy[n] = '\0';
	found = omx_mta_option(copy, name, out, outlen);
	free(copy);
	return found;
}

static const char *const spare_ranges[] = { "240.0.0.0/5", "100.64.0.0/10", "198.18.0.0/15" };

/* A range for onionmx-map -r that LIST does not cover and that does not meet
 * discovery's, or "" if none of the usual ones fits. */
static void free_range(const char *list, const struct mta_ranges *rg, char *out, size_t cap)
{
	char hit[256];

	out[0] = '\0';
	for (size_t i = 0; i < sizeof(spare_ranges) / sizeof(spare_ranges[0]); i++) {
		uint32_t net, mask;

		if (omx_parse_range(spare_ranges[i], &net, &mask) != 0)
			continue;
		if (rg->disc_mask && omx_ranges_overlap(net, mask, rg->disc_net, rg->disc_mask))
			continue;
		if (omx_mta_exim_list_covers(list, net, mask, hit, sizeof(hit)) == 0) {
			snprintf(out, cap, "%s", spare_ranges[i]);
			return;
		}
	}
}

/* fallback_hosts on a router or smtp transport (KIND): unsafe. */
static void fallback_hosts_rule(struct mta_report *r, const struct exim_block *b, const char *kind)
{
	char v[1024], setting[192], fix[64];

	if (!block_option(b, "fallback_hosts", v, sizeof(v)) || empty_value(v))
		return;
	snprintf(setting, sizeof(setting), "%s %s: fallback_hosts", kind, b->name);
	snprintf(fix, sizeof(fix), "remove fallback_hosts from this %s", kind);
	omx_mta_add(r, MTA_UNSAFE, setting, v, fix,
		    "when the onion cannot be reached (Tor down), Exim delivers mapped mail to "
		    "these hosts; the library refuses that connection, but not a message Exim "
		    "sends down an open one it continues (-MC): mapped mail may leave in clear");
}

static void exim_router(struct mta_report *r, const struct exim_block *b,
			const struct mta_ranges *rg)
{
	char driver[64] = "", v[1024], setting[192], hit[256], fix[384];

	block_option(b, "driver", driver, sizeof(driver));
	fallback_hosts_rule(r, b, "router");
	if (!strcmp(driver, "dnslookup")) {
		/* _smtp._tcp.DOMAIN of a mapped domain is answered NODATA by the
		 * library (the MX decides); a discovered domain's or another
		 * service's SRV name goes to DNS. */
		if (block_option(b, "check_srv", v, sizeof(v)) && !empty_value(v) &&
		    (strcmp(v, "smtp") != 0 || rg->disc_mask)) {
			snprintf(setting, sizeof(setting), "router %s: check_srv", b->name);
			omx_mta_add(r, MTA_UNSAFE, setting, v, "remove check_srv from this router",
				    "Exim asks DNS for _%s._tcp.DOMAIN SRV of %s, and uses its clearnet "
				    "target hosts when the domain publishes one", v,
				    strcmp(v, "smtp") ? "mapped domains too" : "domains discovery finds");
		}
		if (block_option(b, "ignore_target_hosts", v, sizeof(v))) {
			const char *what[2] = { "the map's synthetic range", "discover_range" };
			uint32_t nets[2] = { rg->map_net, rg->disc_net }, masks[2] = { rg->map_mask, rg->disc_mask };

			for (int i = 0; i < 2; i++) {
				int covers;
				char range[32];

				if (!masks[i])
					continue;
				covers = omx_mta_exim_list_covers(v, nets[i], masks[i], hit, sizeof(hit));
				if (covers == 0)
					continue;
				snprintf(setting, sizeof(setting), "router %s: ignore_target_hosts", b->name);
				if (covers < 0) {
					omx_mta_add(r, MTA_NOTE, setting, v,
						    "make sure the list leaves the synthetic ranges out",
						    "the entry \"%s\" cannot be judged here; if it covers %s, "
						    "mapped mail bounces (\"all relevant MX records point to "
						    "non-existent hosts\")", hit, what[i]);
					continue;
				}
				free_range(v, rg, range, sizeof(range));
				if (i == 0 && range[0])
					snprintf(fix, sizeof(fix), "drop \"%s\" from the list, or move the "
						 "map's range: onionmx-map -r %s", hit, range);
				else
					snprintf(fix, sizeof(fix), "drop \"%s\" from the list%s", hit,
						 i == 1 ? ", or set discover_range outside it" : "");
				omx_mta_add(r, MTA_UNSAFE, setting, v, fix,
					    "the entry \"%s\" covers %s: Exim takes the onions' addresses for "
					    "non-existent hosts and bounces mapped mail", hit, what[i]);
			}
		}
	} else if (!strcmp(driver, "manualroute") && block_option(b, "route_list", v, sizeof(v)) &&
		   !empty_value(v)) {
		snprintf(setting, sizeof(setting), "router %s: route_list", b->name);
		if (*skip_blanks(v) == '*')
			omx_mta_add(r, MTA_UNSAFE, setting, v,
				    "send through a smarthost only from a host without onion routing, or run "
				    "onionmx on the smarthost",
				    "every remote domain, mapped ones included, goes to the smarthost: onion "
				    "routing is off on this host");
		else
			omx_mta_add(r, MTA_NOTE, setting, v,
				    "make sure no mapped domain is routed here",
				    "the domains this router lists go to fixed hosts, not to their onion MX");
	}
}

static void exim_transport(struct mta_report *r, const struct exim_block *b)
{
	char driver[64] = "", v[1024], hosts[1024], setting[192];

	block_option(b, "driver", driver, sizeof(driver));
	if (strcmp(driver, "smtp") != 0)
		return;
	fallback_hosts_rule(r, b, "transport");
	if (block_option(b, "hosts_override", v, sizeof(v)) && !strcmp(v, "true") &&
	    block_option(b, "hosts", hosts, sizeof(hosts)) && !empty_value(hosts)) {
		snprintf(setting, sizeof(setting), "transport %s: hosts_override", b->name);
		omx_mta_add(r, MTA_UNSAFE, setting, hosts, "remove hosts_override (or hosts)",
			    "the transport sends every message it carries to these hosts, whatever the "
			    "router found: mapped mail included");
	}
}

void omx_mta_exim_rules(const char *routers, const char *transports, const char *main_opts,
			const struct mta_ranges *ranges, struct mta_report *r)
{
	struct exim_block b;
	const char *p;
	char v[1024];

	for (p = routers; next_block(&p, " router:", &b);)
		exim_router(r, &b, ranges);
	for (p = transports; next_block(&p, " transport:", &b);)
		exim_transport(r, &b);
	if (main_opts && omx_mta_option(main_opts, "dns_again_means_nonexist", v, sizeof(v)) &&
	    !empty_value(v))
		omx_mta_add(r, strchr(v, '*') ? MTA_UNSAFE : MTA_NOTE, "dns_again_means_nonexist", v,
			    "leave mapped domains out of it",
			    "Exim turns a temporary lookup failure into \"no such domain\" for these "
			    "domains: where onionmx defers a mapped domain (damaged map, failed "
			    "discovery), the mail bounces instead of waiting");
}

/* --- OpenSMTPD --- */

void omx_mta_opensmtpd_rules(const char *conf, struct mta_report *r)
{
	char line[4096];
	int lineno = 0;

	while (next_line(&conf, line, sizeof(line))) {
		char *hash = strchr(line, '#'), setting[64];
		const char *p;

		lineno++;
		if (hash)
			*hash = '\0';
		p = skip_blanks(line);
		if (strncmp(p, "action", 6) != 0 || !strstr(p, " relay"))
			continue;
		snprintf(setting, sizeof(setting), "smtpd.conf line %d", lineno);
		if (strstr(p, " host "))
			omx_mta_add(r, MTA_UNSAFE, setting, p,
				    "relay by MX (\"relay\" alone) on a host that sends to onions",
				    "this action relays through a fixed host: mail it matches, mapped "
				    "domains' included, goes there instead of to the onion MX");
		else if (strstr(p, " backup"))
			omx_mta_add(r, MTA_NOTE, setting, p, "check the backup MX setting",
				    "\"relay backup\" skips MX hosts preferred below this host's");
	}
}

/* ------------------------------------------------------------ the MTA's commands */

/* How long one of the MTA's commands may take: a report must not hang. */
#define MTA_COMMAND_SECONDS 30

/* Runs ARGV (stdout captured into BUF, stderr discarded), without any preloaded
 * library (ours, or a sanitizer runtime, has no business in postconf or a
 * setuid exim4 -bP), for at most MTA_COMMAND_SECONDS. Returns its exit status,
 * or -1 if it could not run or was killed for taking too long. */
static int run_capture(char *const argv[], char *buf, size_t cap)
{
	int pipefd[2], status, timed_out = 0;
	size_t got = 0;
	struct timespec start, now;
	pid_t pid;

	buf[0] = '\0';
	if (pipe2(pipefd, O_CLOEXEC) != 0)
		return -1;
	pid = fork();
	if (pid < 0) {
		close(pipefd[0]);
		close(pipefd[1]);
		return -1;
	}
	if (pid == 0) {
		int null = open("/dev/null", O_RDWR);

		dup2(pipefd[1], 1);
		if (null >= 0) {
			dup2(null, 0);
			dup2(null, 2);
		}
		unsetenv("LD_PRELOAD");
		execvp(argv[0], argv);
		_exit(127);
	}
	close(pipefd[1]);
	clock_gettime(CLOCK_MONOTONIC, &start);
	for (;;) {
		struct pollfd p = { .fd = pipefd[0], .events = POLLIN };
		long left;
		ssize_t n;

		clock_gettime(CLOCK_MONOTONIC, &now);
		left = MTA_COMMAND_SECONDS * 1000L - ((now.tv_sec - start.tv_sec) * 1000L +
						      (now.tv_nsec - start.tv_nsec) / 1000000L);
		if (left <= 0 || (poll(&p, 1, (int)left) == 0)) {
			timed_out = 1;
			kill(pid, SIGKILL);
			break;
		}
		n = read(pipefd[0], buf + got, cap - 1 - got);
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
		if (got == cap - 1)
			break; /* the rest does not fit: the command gets EPIPE */
	}
	buf[got] = '\0';
	close(pipefd[0]);
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return -1;
	if (timed_out) {
		fprintf(stderr, "onionmx-check: %s took longer than %d s: killed\n", argv[0],
			MTA_COMMAND_SECONDS);
		return -1;
	}
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static char *read_text(const char *path)
{
	FILE *f = fopen(path, "re");
	char *buf;
	size_t n;

	if (!f)
		return NULL;
	buf = malloc(1 << 20);
	if (!buf) {
		fclose(f);
		return NULL;
	}
	n = fread(buf, 1, (1 << 20) - 1, f);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

/* Whether process PID has libonionmx mapped: 1 yes, 0 no, -1 no such process. */
static int pid_has_library(long pid)
{
	char path[64], *maps;
	int has;

	snprintf(path, sizeof(path), "/proc/%ld/maps", pid);
	maps = read_text(path);
	if (!maps)
		return -1;
	has = strstr(maps, "libonionmx") != NULL;
	free(maps);
	return has;
}

static long pid_from_file(const char *path)
{
	char *text = read_text(path);
	long pid;

	if (!text)
		return 0;
	pid = strtol(skip_blanks(text), NULL, 10);
	free(text);
	return pid > 0 ? pid : 0;
}

/* Whether a file in DIR (a systemd drop-in directory) sets LD_PRELOAD to the library. */
static int dropin_loads_library(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int found = 0;

	if (!d)
		return 0;
	while (!found && (e = readdir(d))) {
		char path[PATH_MAX], *text;

		if (!strstr(e->d_name, ".conf"))
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		text = read_text(path);
		if (text) {
			char *ld = strstr(text, "LD_PRELOAD=");
			found = ld && strstr(ld, "libonionmx");
			free(text);
		}
	}
	closedir(d);
	return found;
}

static int preload_file_has_library(void)
{
	char *text = read_text("/etc/ld.so.preload");
	int has = text && strstr(text, "libonionmx");

	free(text);
	return has;
}

struct mta_kind {
	const char *name, *unit, *dropin_dirs[2];
	const char *binary;  /* the delivering program, for "programs" */
};

/* How the library reaches the MTA: the running one's maps, else the drop-in
 * or /etc/ld.so.preload that would load it at the next start. */
static void loading_rules(struct mta_report *r, const struct mta_kind *k, long pid,
			  const struct omx_config *cfg)
{
	int preload = preload_file_has_library(), dropin = 0, has;
	char setting[128], value[PATH_MAX + 64], fix[256];

	for (int i = 0; i < 2 && k->dropin_dirs[i]; i++)
		dropin |= dropin_loads_library(k->dropin_dirs[i]);
	has = pid ? pid_has_library(pid) : -1;
	snprintf(setting, sizeof(setting), "%s: the library", k->name);
	if (has == 0) {
		snprintf(value, sizeof(value), "running pid %ld without libonionmx.so", pid);
		snprintf(fix, sizeof(fix), "%s, then restart %s (systemctl restart %s)",
			 dropin || preload ? "the drop-in is in place" : "install the drop-in (make install)",
			 k->name, k->unit);
		omx_mta_add(r, MTA_UNSAFE, setting, value, fix,
			    "the running %s was started without the library: it routes mapped domains "
			    "by their clearnet MX", k->name);
	} else if (has < 0 && !dropin && !preload) {
		snprintf(fix, sizeof(fix), "install the drop-in (make install puts it in %s), then "
			 "systemctl daemon-reload and restart %s", k->dropin_dirs[0], k->unit);
		omx_mta_add(r, MTA_UNSAFE, setting, "not running; no drop-in, no /etc/ld.so.preload entry",
			    fix, "nothing loads libonionmx.so into %s when it starts", k->name);
	}
	if (cfg && cfg->programs[0] && k->binary && !omx_config_program_matches(cfg, k->binary)) {
		char real[PATH_MAX];

		if (!realpath(k->binary, real) || !omx_config_program_matches(cfg, real)) {
			snprintf(fix, sizeof(fix), "add %s to programs", k->binary);
			omx_mta_add(r, MTA_UNSAFE, "onionmx.conf: programs", cfg->programs, fix,
				    "%s, which delivers %s's mail, is not listed: the library stays inert "
				    "in it", k->binary, k->name);
		}
	}
}

enum { CAP = 1 << 20 };

/* With discovery on, Postfix without DNS lookups never asks the MX that finds
 * a discovered domain's onion: its mail goes to the domain's clearnet address. */
static void postfix_discovery(struct mta_report *r, const struct omx_config *cfg)
{
	for (int i = 0; cfg && cfg->discover && i < r->n; i++)
		if (!strcmp(r->f[i].setting, "smtp_dns_support_level") ||
		    !strcmp(r->f[i].setting, "disable_dns_lookups"))
			r->f[i].level = MTA_UNSAFE;
}

static int postfix_report(struct mta_report *r, const struct omx_config *cfg, char *buf, char *buf2)
{
	/* -x: values with $name expanded, as Postfix uses them. */
	char *argv[32] = { "postconf", "-x" }, qdir[PATH_MAX] = "", ddir[PATH_MAX] = "", pidf[PATH_MAX + 32];
	char smtp[PATH_MAX + 8];
	int n = 2;
	struct mta_kind k = { "postfix", "postfix@-", { "/etc/systemd/system/postfix@.service.d",
							"/etc/systemd/system/postfix.service.d" }, smtp };

	for (size_t i = 0; i < sizeof(postfix_params) / sizeof(postfix_params[0]); i++)
		if (strcmp(postfix_params[i], "fallback_relay") != 0)
			argv[n++] = (char *)postfix_params[i];
	argv[n++] = "queue_directory";
	argv[n++] = "daemon_directory";
	argv[n] = NULL;
	if (run_capture(argv, buf, CAP) != 0)
		return -1;
	omx_mta_option(buf, "queue_directory", qdir, sizeof(qdir));
	omx_mta_option(buf, "daemon_directory", ddir, sizeof(ddir));
	if (run_capture((char *[]){ "postconf", "-P", "-x", NULL }, buf2, CAP) != 0)
		buf2[0] = '\0';
	omx_mta_postfix_rules(buf, buf2, r);
	postfix_discovery(r, cfg);
	snprintf(smtp, sizeof(smtp), "%s/smtp", ddir[0] ? ddir : "/usr/lib/postfix/sbin");
	snprintf(pidf, sizeof(pidf), "%s/pid/master.pid", qdir[0] ? qdir : "/var/spool/postfix");
	loading_rules(r, &k, pid_from_file(pidf), cfg);
	return 0;
}

static int exim_report(struct mta_report *r, const struct omx_config *cfg,
		       const struct mta_ranges *rg, char *buf, char *buf2)
{
	char *mainbuf = malloc(CAP);
	const char *exim = access("/usr/sbin/exim4", X_OK) == 0 ? "exim4" : "exim";
	struct mta_kind k = { "exim", "exim4", { "/etc/systemd/system/exim4.service.d", NULL },
			      "/usr/sbin/exim4" };

	if (!mainbuf)
		return -1;
	if (run_capture((char *[]){ (char *)exim, "-bP", "routers", NULL }, buf, CAP) != 0 ||
	    run_capture((char *[]){ (char *)exim, "-bP", "transports", NULL }, buf2, CAP) != 0) {
		free(mainbuf);
		return -1;
	}
	if (run_capture((char *[]){ (char *)exim, "-bP", "dns_again_means_nonexist", NULL }, mainbuf,
			CAP) != 0)
		mainbuf[0] = '\0';
	omx_mta_exim_rules(buf, buf2, mainbuf, rg, r);
	free(mainbuf);
	if (!strcmp(exim, "exim"))
		k.binary = "/usr/sbin/exim";
	loading_rules(r, &k, pid_from_file("/run/exim4/exim.pid"), cfg);
	if (!preload_file_has_library())
		omx_mta_add(r, MTA_NOTE, "exim4 run by hand", "exim4 -bt / -bv / -qff / -M from a shell",
			    "run them as \"onionmx exim4 ...\", or install through /etc/ld.so.preload "
			    "with programs (README, Setup)",
			    "started from a shell, exim4 does not have the library: it routes mapped "
			    "domains by their clearnet MX and asks DNS about them");
	return 0;
}

static int opensmtpd_report(struct mta_report *r, const struct omx_config *cfg)
{
	char *conf = read_text("/etc/smtpd.conf");
	struct mta_kind k = { "opensmtpd", "opensmtpd", { "/etc/systemd/system/opensmtpd.service.d", NULL },
			      "/usr/sbin/smtpd" };

	if (!conf)
		return -1;
	omx_mta_opensmtpd_rules(conf, r);
	free(conf);
	loading_rules(r, &k, pid_from_file("/run/smtpd.pid"), cfg);
	return 0;
}

static const char *detect(char *buf)
{
	if (run_capture((char *[]){ "postconf", "-h", "mail_version", NULL }, buf, CAP) == 0)
		return "postfix";
	if (run_capture((char *[]){ "exim4", "-bV", NULL }, buf, CAP) == 0 ||
	    run_capture((char *[]){ "exim", "-bV", NULL }, buf, CAP) == 0)
		return "exim";
	if (access("/usr/sbin/smtpd", X_OK) == 0 && access("/etc/smtpd.conf", R_OK) == 0)
		return "opensmtpd";
	return NULL;
}

static void print_report(const char *mta, const struct mta_report *r, int terse)
{
	int unsafe = 0, notes = 0;

	for (int i = 0; i < r->n; i++)
		r->f[i].level == MTA_UNSAFE ? unsafe++ : notes++;
	if (terse) {
		printf("mta %s %s", mta, unsafe ? "unsafe" : "ok");
		for (int i = 0; i < r->n; i++)
			if (r->f[i].level == MTA_UNSAFE)
				printf(" \"%s\"", r->f[i].setting);
		putchar('\n');
		return;
	}
	printf("mta %s: %d unsafe setting%s, %d note%s\n", mta, unsafe, unsafe == 1 ? "" : "s",
	       notes, notes == 1 ? "" : "s");
	for (int pass = 0; pass < 2; pass++)
		for (int i = 0; i < r->n; i++) {
			const struct mta_finding *f = &r->f[i];

			if ((pass == 0) != (f->level == MTA_UNSAFE))
				continue;
			printf("  %-7s %s = %s\n", f->level == MTA_UNSAFE ? "unsafe:" : "note:",
			       f->setting, f->value);
			printf("          why: %s\n", f->why);
			printf("          fix: %s\n", f->fix);
		}
	if (r->truncated)
		printf("  (more findings than %d: fix these and run again)\n", MTA_MAX_FINDINGS);
}

int omx_check_mta(const char *which, const struct omx_config *cfg, const struct mta_ranges *ranges,
		  int terse)
{
	static struct mta_report r;
	char *buf = malloc(CAP), *buf2 = malloc(CAP);
	int rc = -1;

	if (!buf || !buf2) {
		fprintf(stderr, "onionmx-check: out of memory\n");
		free(buf);
		free(buf2);
		return 2;
	}
	memset(&r, 0, sizeof(r));
	if (!which)
		which = detect(buf);
	if (!which)
		fprintf(stderr, "onionmx-check: --mta: no Postfix, Exim or OpenSMTPD found (name one)\n");
	else if (!strcmp(which, "postfix"))
		rc = postfix_report(&r, cfg, buf, buf2);
	else if (!strcmp(which, "exim") || !strcmp(which, "exim4"))
		rc = exim_report(&r, cfg, ranges, buf, buf2), which = "exim";
	else if (!strcmp(which, "opensmtpd") || !strcmp(which, "smtpd"))
		rc = opensmtpd_report(&r, cfg), which = "opensmtpd";
	else
		fprintf(stderr, "onionmx-check: --mta %s: expected postfix, exim or opensmtpd\n", which);
	free(buf);
	free(buf2);
	if (rc != 0) {
		if (which && (!strcmp(which, "postfix") || !strcmp(which, "exim") ||
			      !strcmp(which, "opensmtpd")))
			fprintf(stderr, "onionmx-check: --mta %s: cannot read its configuration (%s)\n",
				which, !strcmp(which, "postfix") ? "postconf failed" :
				!strcmp(which, "exim") ? "exim -bP failed" : "/etc/smtpd.conf unreadable");
		return 2;
	}
	print_report(which, &r, terse);
	for (int i = 0; i < r.n; i++)
		if (r.f[i].level == MTA_UNSAFE)
			return 1;
	return 0;
}
