/* onionmx-stats: the delivery statistics the library keeps (shim/stats.h), as
 * a table for people, JSON for scripts, or Prometheus's text format for
 * node_exporter's textfile collector (written atomically). */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "stats.h"

#define EXIT_USAGE 64

static const char usage_text[] =
	"usage: onionmx-stats [-c CONF] [-f FILE] [--json | --prometheus PATH]\n"
	"Shows the delivery statistics the onionmx library keeps: per onion the\n"
	"connections tried, succeeded and failed by cause, the SOCKS handshake time,\n"
	"the last success and failure and the Tor that carried them; per mail domain\n"
	"the routes its MX lookups took (map, srv, mx, deferred).\n"
	"  -c, --config CONF    configuration (default $ONIONMX_CONF, else " OMX_DEFAULT_CONF ")\n"
	"  -f, --file FILE      the statistics file (default: the configuration's \"stats\")\n"
	"      --json           JSON on standard output\n"
	"      --prometheus PATH  Prometheus text format, for node_exporter's textfile\n"
	"                       collector: written to PATH.tmp and renamed (\"-\": stdout)\n"
	"  -h, --help           this text\n"
	"exit status: 0 shown, 1 no statistics file or a damaged one, 64 usage error\n";

/* An entry shown: a valid onion or the "other" bucket (name NULL). */
struct row {
	const char *onion;
	const struct omx_stats_counts *c;
};

struct view {
	const struct omx_stats_file *f;
	const char *path;
	struct row rows[OMX_STATS_ONIONS + 1];
	unsigned nrows;
	const struct omx_stats_domain *domains[OMX_STATS_DOMAINS];
	unsigned ndomains;
	unsigned damaged;
	char tors[OMX_STATS_TORS][80];
};

static int by_tried(const void *a, const void *b)
{
	const struct row *x = a, *y = b;

	if (!x->onion != !y->onion)
		return x->onion ? -1 : 1; /* the other bucket last */
	if (x->c->tried != y->c->tried)
		return x->c->tried > y->c->tried ? -1 : 1;
	return x->onion ? memcmp(x->onion, y->onion, OMX_ONION_LABEL_LEN) : 0;
}

static int by_name(const void *a, const void *b)
{
	return strcmp((*(const struct omx_stats_domain *const *)a)->domain,
		      (*(const struct omx_stats_domain *const *)b)->domain);
}

static void build(struct view *v, const struct omx_config *cfg)
{
	const struct omx_stats_file *f = v->f;

	for (unsigned i = 0; i < OMX_STATS_ONIONS; i++) {
		int ok = omx_stats_onion_valid(f, i);

		if (ok < 0)
			v->damaged++;
		if (ok == 1)
			v->rows[v->nrows++] = (struct row){ f->onions[i].onion, &f->onions[i].c };
	}
	if (f->other_onions.tried)
		v->rows[v->nrows++] = (struct row){ NULL, &f->other_onions };
	qsort(v->rows, v->nrows, sizeof(v->rows[0]), by_tried);
	for (unsigned i = 0; i < OMX_STATS_DOMAINS; i++) {
		int ok = omx_stats_domain_valid(f, i);

		if (ok < 0)
			v->damaged++;
		if (ok == 1)
			v->domains[v->ndomains++] = &f->domains[i];
	}
	qsort(v->domains, v->ndomains, sizeof(v->domains[0]), by_name);
	/* The Tor of index I: the I-th address of the configuration's "socks"
	 * (the library counts by that position); "torI" beyond the list. */
	for (unsigned i = 0; i < OMX_STATS_TORS; i++) {
		if (cfg && (int)i < cfg->ntors && i < OMX_TORS_MAX)
			snprintf(v->tors[i], sizeof(v->tors[i]), "%s", cfg->tors[i].text);
		else if (cfg && i == 0)
			snprintf(v->tors[i], sizeof(v->tors[i]), "%s", cfg->socks_text);
		else
			snprintf(v->tors[i], sizeof(v->tors[i]), "tor%u", i);
	}
}

static uint64_t failures(const struct omx_stats_counts *c)
{
	uint64_t n = 0;

	for (int k = 0; k < OMX_CAUSES; k++)
		n += c->failed[k];
	return n;
}

/* T: seconds, or with MS milliseconds. */
static void when_t(int64_t t, int ms, char *out, size_t cap)
{
	time_t tt = (time_t)(ms ? t / 1000 : t);
	struct tm tm;

	if (t <= 0 || !gmtime_r(&tt, &tm))
		snprintf(out, cap, "-");
	else
		strftime(out, cap, "%Y-%m-%d %H:%M:%S", &tm);
}

#define when(t, out, cap) when_t((t), 1, (out), (cap))

/* --- the table --- */

static void print_table(const struct view *v)
{
	const struct omx_stats_file *f = v->f;
	char created[32], ok_at[32], fail_at[32];

	when_t(f->created, 0, created, sizeof(created));
	printf("onionmx statistics %s, since %s UTC\n\n", v->path, created);
	printf("%-62s %8s %8s %8s  %-19s  %s\n", "ONION", "TRIED", "OK", "FAILED", "LAST SUCCESS (UTC)",
	       "LAST FAILURE (UTC), CAUSE");
	for (unsigned i = 0; i < v->nrows; i++) {
		const struct omx_stats_counts *c = v->rows[i].c;
		char name[64];

		if (v->rows[i].onion)
			snprintf(name, sizeof(name), "%.56s.onion", v->rows[i].onion);
		else
			snprintf(name, sizeof(name), "(other onions)");
		when(c->last_success, ok_at, sizeof(ok_at));
		when(c->last_failure, fail_at, sizeof(fail_at));
		printf("%-62s %8llu %8llu %8llu  %-19s  %s%s%s\n", name, (unsigned long long)c->tried,
		       (unsigned long long)c->succeeded, (unsigned long long)failures(c), ok_at, fail_at,
		       c->last_failure ? ", " : "",
		       c->last_failure ? omx_stats_cause_name((int)c->last_cause) : "");
	}
	when(f->total.last_success, ok_at, sizeof(ok_at));
	when(f->total.last_failure, fail_at, sizeof(fail_at));
	printf("%-62s %8llu %8llu %8llu  %-19s  %s\n", "(total)", (unsigned long long)f->total.tried,
	       (unsigned long long)f->total.succeeded, (unsigned long long)failures(&f->total), ok_at,
	       fail_at);

	printf("\nFailures by cause:");
	int any = 0;
	for (int k = 0; k < OMX_CAUSES; k++)
		if (f->total.failed[k]) {
			printf("%s %s %llu", any ? "," : "", omx_stats_cause_name(k),
			       (unsigned long long)f->total.failed[k]);
			any = 1;
		}
	printf("%s\n", any ? "" : " none");

	printf("SOCKS handshake time of successes:");
	for (int b = 0; b < OMX_STATS_BUCKETS; b++) {
		if (b < OMX_STATS_BUCKETS - 1)
			printf(" <=%gs %llu", omx_stats_bucket_le[b], (unsigned long long)f->total.handshake[b]);
		else
			printf(" more %llu", (unsigned long long)f->total.handshake[b]);
	}
	if (f->total.succeeded)
		printf("; mean %.3fs", (double)f->total.handshake_us / 1e6 / (double)f->total.succeeded);
	printf("\nTors:");
	any = 0;
	for (unsigned t = 0; t < OMX_STATS_TORS; t++)
		if (f->total.tor_succeeded[t] || f->total.tor_failed[t]) {
			printf("%s %s %llu succeeded %llu failed", any ? "," : "", v->tors[t],
			       (unsigned long long)f->total.tor_succeeded[t],
			       (unsigned long long)f->total.tor_failed[t]);
			any = 1;
		}
	printf("%s\n", any ? "" : " none used yet");

	printf("\n%-40s %8s %8s %8s %8s  %s\n", "DOMAIN (MX lookups by route)", "MAP", "SRV", "MX",
	       "DEFERRED", "LAST ROUTE");
	for (unsigned i = 0; i < v->ndomains; i++) {
		const struct omx_stats_domain *d = v->domains[i];

		printf("%-40s %8llu %8llu %8llu %8llu  %s\n", d->domain,
		       (unsigned long long)d->route[OMX_STATS_ROUTE_MAP], (unsigned long long)d->route[OMX_STATS_ROUTE_SRV],
		       (unsigned long long)d->route[OMX_STATS_ROUTE_MX],
		       (unsigned long long)d->route[OMX_STATS_ROUTE_DEFERRED],
		       omx_stats_route_name((int)d->last_route));
	}
	const uint64_t *o = f->other_domains;
	if (o[0] || o[1] || o[2] || o[3])
		printf("%-40s %8llu %8llu %8llu %8llu\n", "(other domains)", (unsigned long long)o[0],
		       (unsigned long long)o[1], (unsigned long long)o[2], (unsigned long long)o[3]);
	if (v->damaged)
		printf("\n%u damaged entries left out: the file was changed by something other than onionmx\n",
		       v->damaged);
}

/* --- JSON --- */

static void json_counts(FILE *out, const struct view *v, const struct omx_stats_counts *c)
{
	fprintf(out, "\"tried\": %llu, \"succeeded\": %llu, \"failed\": %llu, \"failed_by_cause\": {",
		(unsigned long long)c->tried, (unsigned long long)c->succeeded,
		(unsigned long long)failures(c));
	for (int k = 0, first = 1; k < OMX_CAUSES; k++)
		if (c->failed[k]) {
			fprintf(out, "%s\"%s\": %llu", first ? "" : ", ", omx_stats_cause_name(k),
				(unsigned long long)c->failed[k]);
			first = 0;
		}
	fprintf(out, "}, \"tors\": [");
	for (unsigned t = 0, first = 1; t < OMX_STATS_TORS; t++)
		if (c->tor_succeeded[t] || c->tor_failed[t]) {
			fprintf(out, "%s{\"tor\": \"%s\", \"succeeded\": %llu, \"failed\": %llu}",
				first ? "" : ", ", v->tors[t], (unsigned long long)c->tor_succeeded[t],
				(unsigned long long)c->tor_failed[t]);
			first = 0;
		}
	fprintf(out, "], \"handshake_seconds\": {\"buckets\": [");
	for (int b = 0; b < OMX_STATS_BUCKETS; b++) {
		if (b < OMX_STATS_BUCKETS - 1)
			fprintf(out, "%s{\"le\": %g, \"count\": %llu}", b ? ", " : "", omx_stats_bucket_le[b],
				(unsigned long long)c->handshake[b]);
		else
			fprintf(out, ", {\"le\": null, \"count\": %llu}", (unsigned long long)c->handshake[b]);
	}
	fprintf(out, "], \"sum\": %.6f, \"count\": %llu}, \"last_success\": %.3f, \"last_failure\": %.3f, \"last_cause\": ",
		(double)c->handshake_us / 1e6, (unsigned long long)c->succeeded,
		(double)c->last_success / 1e3, (double)c->last_failure / 1e3);
	if (c->last_failure)
		fprintf(out, "\"%s\"", omx_stats_cause_name((int)c->last_cause));
	else
		fprintf(out, "null");
}

static void print_json(FILE *out, const struct view *v)
{
	const struct omx_stats_file *f = v->f;

	fprintf(out, "{\"file\": \"");
	for (const char *p = v->path; *p; p++) /* a path is the one free text here */
		if (*p == '"' || *p == '\\')
			fprintf(out, "\\%c", *p);
		else if ((unsigned char)*p < 0x20)
			fprintf(out, "\\u%04x", (unsigned char)*p);
		else
			fputc(*p, out);
	fprintf(out, "\", \"created\": %lld, \"damaged_entries\": %u,\n \"total\": {",
		(long long)f->created, v->damaged);
	json_counts(out, v, &f->total);
	fprintf(out, "},\n \"onions\": [");
	for (unsigned i = 0, first = 1; i < v->nrows; i++) {
		if (!v->rows[i].onion)
			continue;
		fprintf(out, "%s\n  {\"onion\": \"%.56s.onion\", ", first ? "" : ",", v->rows[i].onion);
		json_counts(out, v, v->rows[i].c);
		fprintf(out, "}");
		first = 0;
	}
	fprintf(out, "],\n \"other_onions\": {");
	json_counts(out, v, &f->other_onions);
	fprintf(out, "},\n \"domains\": [");
	for (unsigned i = 0; i < v->ndomains; i++) {
		const struct omx_stats_domain *d = v->domains[i];

		fprintf(out, "%s\n  {\"domain\": \"%s\", \"routes\": {", i ? "," : "", d->domain);
		for (int r = 0; r < OMX_STATS_ROUTES; r++)
			fprintf(out, "%s\"%s\": %llu", r ? ", " : "", omx_stats_route_name(r),
				(unsigned long long)d->route[r]);
		fprintf(out, "}, \"last_route\": \"%s\", \"last_used\": %lld}",
			omx_stats_route_name((int)d->last_route), (long long)d->last_used);
	}
	fprintf(out, "],\n \"other_domains\": {");
	for (int r = 0; r < OMX_STATS_ROUTES; r++)
		fprintf(out, "%s\"%s\": %llu", r ? ", " : "", omx_stats_route_name(r),
			(unsigned long long)f->other_domains[r]);
	fprintf(out, "}}\n");
}

/* --- Prometheus (text exposition format 0.0.4) --- */

static void label(char *out, size_t cap, const struct row *r)
{
	if (r->onion)
		snprintf(out, cap, "%.56s.onion", r->onion);
	else
		snprintf(out, cap, "(other)");
}

/* Prometheus metrics, one function a family. */
static void prom_connections(FILE *out, const struct view *v)
{
	char o[64];

	fprintf(out, "# HELP onionmx_connections_total Connections to onions through Tor, by result: success or the failure's cause.\n"
		     "# TYPE onionmx_connections_total counter\n");
	for (unsigned i = 0; i < v->nrows; i++) {
		const struct omx_stats_counts *c = v->rows[i].c;

		label(o, sizeof(o), &v->rows[i]);
		fprintf(out, "onionmx_connections_total{onion=\"%s\",result=\"success\"} %llu\n", o,
			(unsigned long long)c->succeeded);
		for (int k = 0; k < OMX_CAUSES; k++)
			if (c->failed[k])
				fprintf(out, "onionmx_connections_total{onion=\"%s\",result=\"%s\"} %llu\n", o,
					omx_stats_cause_name(k), (unsigned long long)c->failed[k]);
	}
	fprintf(out, "# HELP onionmx_tor_connections_total Connections to onions by the Tor SOCKS port that carried them.\n"
		     "# TYPE onionmx_tor_connections_total counter\n");
	for (unsigned i = 0; i < v->nrows; i++) {
		const struct omx_stats_counts *c = v->rows[i].c;

		label(o, sizeof(o), &v->rows[i]);
		for (unsigned t = 0; t < OMX_STATS_TORS; t++) {
			if (c->tor_succeeded[t])
				fprintf(out, "onionmx_tor_connections_total{onion=\"%s\",tor=\"%s\",result=\"success\"} %llu\n",
					o, v->tors[t], (unsigned long long)c->tor_succeeded[t]);
			if (c->tor_failed[t])
				fprintf(out, "onionmx_tor_connections_total{onion=\"%s\",tor=\"%s\",result=\"failure\"} %llu\n",
					o, v->tors[t], (unsigned long long)c->tor_failed[t]);
		}
	}
}

static void prom_handshakes(FILE *out, const struct view *v)
{
	char o[64];

	fprintf(out, "# HELP onionmx_socks_handshake_seconds Time from connect() to Tor's SOCKS success reply.\n"
		     "# TYPE onionmx_socks_handshake_seconds histogram\n");
	for (unsigned i = 0; i < v->nrows; i++) {
		const struct omx_stats_counts *c = v->rows[i].c;
		unsigned long long cum = 0;

		label(o, sizeof(o), &v->rows[i]);
		for (int b = 0; b < OMX_STATS_BUCKETS; b++) {
			cum += c->handshake[b];
			if (b < OMX_STATS_BUCKETS - 1)
				fprintf(out, "onionmx_socks_handshake_seconds_bucket{onion=\"%s\",le=\"%g\"} %llu\n",
					o, omx_stats_bucket_le[b], cum);
			else
				fprintf(out, "onionmx_socks_handshake_seconds_bucket{onion=\"%s\",le=\"+Inf\"} %llu\n",
					o, cum);
		}
		fprintf(out, "onionmx_socks_handshake_seconds_sum{onion=\"%s\"} %.6f\n", o,
			(double)c->handshake_us / 1e6);
		fprintf(out, "onionmx_socks_handshake_seconds_count{onion=\"%s\"} %llu\n", o, cum);
	}
}

static void prom_last_times(FILE *out, const struct view *v)
{
	char o[64];

	fprintf(out, "# HELP onionmx_last_success_timestamp_seconds When a connection to the onion last succeeded (0: never).\n"
		     "# TYPE onionmx_last_success_timestamp_seconds gauge\n");
	for (unsigned i = 0; i < v->nrows; i++) {
		label(o, sizeof(o), &v->rows[i]);
		fprintf(out, "onionmx_last_success_timestamp_seconds{onion=\"%s\"} %.3f\n", o,
			(double)v->rows[i].c->last_success / 1e3);
	}
	fprintf(out, "# HELP onionmx_last_failure_timestamp_seconds When a connection to the onion last failed (0: never).\n"
		     "# TYPE onionmx_last_failure_timestamp_seconds gauge\n");
	for (unsigned i = 0; i < v->nrows; i++) {
		label(o, sizeof(o), &v->rows[i]);
		fprintf(out, "onionmx_last_failure_timestamp_seconds{onion=\"%s\"} %.3f\n", o,
			(double)v->rows[i].c->last_failure / 1e3);
	}
}

static void prom_lookups_and_file(FILE *out, const struct view *v)
{
	fprintf(out, "# HELP onionmx_mx_lookups_total MX lookups by mail domain and the route they gave: map, srv (discovery), mx (clearnet), deferred.\n"
		     "# TYPE onionmx_mx_lookups_total counter\n");
	for (unsigned i = 0; i < v->ndomains; i++)
		for (int r = 0; r < OMX_STATS_ROUTES; r++)
			fprintf(out, "onionmx_mx_lookups_total{domain=\"%s\",route=\"%s\"} %llu\n",
				v->domains[i]->domain, omx_stats_route_name(r),
				(unsigned long long)v->domains[i]->route[r]);
	for (int r = 0; r < OMX_STATS_ROUTES; r++)
		if (v->f->other_domains[r])
			fprintf(out, "onionmx_mx_lookups_total{domain=\"(other)\",route=\"%s\"} %llu\n",
				omx_stats_route_name(r), (unsigned long long)v->f->other_domains[r]);
	fprintf(out, "# HELP onionmx_stats_damaged_entries Entries of the statistics file left out as damaged.\n"
		     "# TYPE onionmx_stats_damaged_entries gauge\n"
		     "onionmx_stats_damaged_entries %u\n", v->damaged);
	fprintf(out, "# HELP onionmx_stats_created_timestamp_seconds When the statistics file was made.\n"
		     "# TYPE onionmx_stats_created_timestamp_seconds gauge\n"
		     "onionmx_stats_created_timestamp_seconds %lld\n", (long long)v->f->created);
}

static void print_prometheus(FILE *out, const struct view *v)
{
	prom_connections(out, v);
	prom_handshakes(out, v);
	prom_last_times(out, v);
	prom_lookups_and_file(out, v);
}

/* Writes to PATH.tmp.PID and renames it over PATH: the collector never reads
 * half a file. */
static int write_prometheus(const char *path, const struct view *v)
{
	char tmp[4200];
	FILE *out;

	if (strcmp(path, "-") == 0) {
		print_prometheus(stdout, v);
		return fflush(stdout) == 0 ? 0 : 1;
	}
	snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)getpid());
	out = fopen(tmp, "w");
	if (!out) {
		fprintf(stderr, "onionmx-stats: %s: %s\n", tmp, strerror(errno));
		return 1;
	}
	print_prometheus(out, v);
	if (fflush(out) != 0 || fsync(fileno(out)) != 0 || ferror(out)) {
		fprintf(stderr, "onionmx-stats: %s: %s\n", tmp, strerror(errno));
		fclose(out);
		unlink(tmp);
		return 1;
	}
	fclose(out);
	if (rename(tmp, path) != 0) {
		fprintf(stderr, "onionmx-stats: %s: %s\n", path, strerror(errno));
		unlink(tmp);
		return 1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	enum { OPT_JSON = 256, OPT_PROM };
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "file", required_argument, NULL, 'f' },
		{ "json", no_argument, NULL, OPT_JSON },
		{ "prometheus", required_argument, NULL, OPT_PROM },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	static struct omx_config cfg;
	static struct view v;
	const char *conf = getenv("ONIONMX_CONF"), *file = NULL, *prom = NULL;
	char err[4400];
	int opt, json = 0, have_cfg;
	struct omx_stats_file *f;

	if (!conf || !*conf)
		conf = OMX_DEFAULT_CONF;
	while ((opt = getopt_long(argc, argv, "c:f:h", longopts, NULL)) != -1) {
		switch (opt) {
		case 'c':
			conf = optarg;
			break;
		case 'f':
			file = optarg;
			break;
		case OPT_JSON:
			json = 1;
			break;
		case OPT_PROM:
			prom = optarg;
			break;
		case 'h':
			fputs(usage_text, stdout);
			return 0;
		default:
			fputs(usage_text, stderr);
			return EXIT_USAGE;
		}
	}
	if (optind != argc || (json && prom)) {
		fputs(usage_text, stderr);
		return EXIT_USAGE;
	}
	omx_config_defaults(&cfg);
	have_cfg = omx_config_load(&cfg, conf, 0, err, sizeof(err)) == 0;
	if (!have_cfg && !file) {
		fprintf(stderr, "onionmx-stats: %s\n", err);
		return 1;
	}
	if (!file) {
		if (!cfg.stats_path[0]) {
			fprintf(stderr, "onionmx-stats: %s: stats = none: no statistics are kept\n", conf);
			return 1;
		}
		file = cfg.stats_path;
	}
	f = omx_stats_read(file, err, sizeof(err));
	if (!f) {
		fprintf(stderr, "onionmx-stats: %s%s\n", err,
			errno == ENOENT ? " (the library makes it in the first MTA process it starts in)" : "");
		return 1;
	}
	v.f = f;
	v.path = file;
	build(&v, have_cfg ? &cfg : NULL);
	if (prom) {
		int rc = write_prometheus(prom, &v);

		free(f);
		return rc;
	}
	if (json)
		print_json(stdout, &v);
	else
		print_table(&v);
	free(f);
	return fflush(stdout) == 0 ? 0 : 1;
}
