/* onionmx-check --health: is onion delivery working, and if not, is it our
 * Tor or their onion? The statistics the library keeps (shim/stats.h) judged
 * by omx_stats_verdict(), plus a probe of each Tor's SOCKS port: a SOCKS5
 * greeting answered within a few seconds. */
#include "check_health.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "stats.h"

#define PROBE_SECONDS 3

static const char usage_text[] =
	"usage: onionmx-check --health [-c CONF] [-t] [-f FILE] [--window SECONDS]\n"
	"                              [--min-onions N] [--no-probe]\n"
	"A monitoring plugin (Nagios, Icinga): judges onion delivery from the library's\n"
	"statistics and a probe of each Tor's SOCKS port.\n"
	"  CRITICAL  our Tor is broken: no Tor's SOCKS port answers, or N or more\n"
	"            distinct onions failed with local-looking causes (refused by Tor,\n"
	"            timeout, general failure, TTL expired) and nothing succeeded since\n"
	"  WARNING   a destination is down: onions failing for their own reasons\n"
	"            (descriptor, introduction, rendezvous: SOCKS replies 0xF0-0xF7), or\n"
	"            too few failing to blame our Tor; or damaged statistics entries;\n"
	"            or one of several Tors does not answer\n"
	"  OK        connections succeed, or idle: nothing tried in the window\n"
	"  UNKNOWN   no statistics (file missing or damaged), or a usage error\n"
	"  -c, --config CONF    configuration (default $ONIONMX_CONF, else " OMX_DEFAULT_CONF ")\n"
	"  -t, --terse          the status line only\n"
	"  -f, --file FILE      the statistics file (default: the configuration's \"stats\")\n"
	"      --window SECONDS only attempts this recent count (default 3600)\n"
	"      --min-onions N   distinct onions failing before blaming our Tor (default 2)\n"
	"      --no-probe       do not probe the Tors' SOCKS ports\n";

int omx_health_requested(int argc, char **argv)
{
	for (int i = 1; i < argc && strcmp(argv[i], "--") != 0; i++)
		if (strcmp(argv[i], "--health") == 0)
			return 1;
	return 0;
}

/* 1 if the Tor SOCKS port TOR answers a SOCKS5 greeting with a SOCKS5 method
 * choice within PROBE_SECONDS, else 0 with WHY. */
static int probe_socks(const struct omx_tor_addr *tor, char *why, size_t cap)
{
	static const unsigned char greeting[3] = { 5, 1, 0 };
	unsigned char reply[2];
	size_t have = 0;
	struct timespec start, now;
	int fd = socket(tor->ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	int err = 0;
	socklen_t elen = sizeof(err);

	if (fd < 0) {
		snprintf(why, cap, "socket: %s", strerror(errno));
		return 0;
	}
	clock_gettime(CLOCK_MONOTONIC, &start);
	if (connect(fd, (const struct sockaddr *)&tor->ss, tor->len) != 0 &&
	    errno != EINPROGRESS) {
		snprintf(why, cap, "%s", strerror(errno));
		goto fail;
	}
	for (int stage = 0; stage < 2;) {
		struct pollfd p = { .fd = fd, .events = stage == 0 ? POLLOUT : POLLIN };
		long left;

		clock_gettime(CLOCK_MONOTONIC, &now);
		left = PROBE_SECONDS * 1000L - ((now.tv_sec - start.tv_sec) * 1000L +
						(now.tv_nsec - start.tv_nsec) / 1000000L);
		if (left <= 0) {
			snprintf(why, cap, "no answer within %d s", PROBE_SECONDS);
			goto fail;
		}
		if (poll(&p, 1, (int)left) <= 0)
			continue;
		if (stage == 0) {
			if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen) != 0 || err) {
				snprintf(why, cap, "%s", strerror(err ? err : errno));
				goto fail;
			}
			if (send(fd, greeting, sizeof(greeting), MSG_NOSIGNAL) != (ssize_t)sizeof(greeting)) {
				snprintf(why, cap, "%s", strerror(errno));
				goto fail;
			}
			stage = 1;
		} else {
			ssize_t n = recv(fd, reply + have, sizeof(reply) - have, 0);

			if (n <= 0 && !(n < 0 && (errno == EAGAIN || errno == EINTR))) {
				snprintf(why, cap, "%s", n == 0 ? "closed without a SOCKS answer" : strerror(errno));
				goto fail;
			}
			if (n > 0 && (have += (size_t)n) == sizeof(reply))
				stage = 2;
		}
	}
	close(fd);
	if (reply[0] != 5) {
		snprintf(why, cap, "answered, but not SOCKS5 (is it Tor?)");
		return 0;
	}
	return 1;
fail:
	close(fd);
	return 0;
}

/* The probe of every Tor in "socks", in its order: whether each answers and
 * why not; DOWN lists those that do not answer, ALL every address. */
struct tor_probe {
	int n, answering, answers[OMX_TORS_MAX];
	char why[OMX_TORS_MAX][256];
	char down[OMX_TORS_MAX * 72], all[OMX_TORS_MAX * 72];
};

static const struct omx_tor_addr *tor_at(const struct omx_config *cfg, int i, struct omx_tor_addr *one)
{
	if (cfg->ntors > 0)
		return &cfg->tors[i];
	/* No list (cannot happen with a loaded configuration): the one port. */
	memcpy(&one->ss, &cfg->socks, sizeof(one->ss));
	one->len = cfg->socks_len;
	one->text = cfg->socks_text;
	return one;
}

struct probe_job {
	const struct omx_tor_addr *tor;
	int *answers;
	char *why;
	size_t cap;
};

static void *probe_job(void *p)
{
	struct probe_job *j = p;

	*j->answers = probe_socks(j->tor, j->why, j->cap);
	return NULL;
}

/* The Tors are probed at once: a plugin's time limit (often 10 s) must not
 * run out on several hung ones. */
static void probe_tors(const struct omx_config *cfg, struct tor_probe *t)
{
	struct omx_tor_addr one;
	struct probe_job jobs[OMX_TORS_MAX];
	pthread_t tid[OMX_TORS_MAX];
	int started[OMX_TORS_MAX] = { 0 };
	size_t dlen = 0, alen = 0;

	memset(t, 0, sizeof(*t));
	t->n = cfg->ntors > 0 ? (cfg->ntors < OMX_TORS_MAX ? cfg->ntors : OMX_TORS_MAX) : 1;
	for (int i = 0; i < t->n; i++) {
		jobs[i] = (struct probe_job){ tor_at(cfg, i, &one), &t->answers[i], t->why[i], sizeof(t->why[i]) };
		started[i] = cfg->ntors > 0 && pthread_create(&tid[i], NULL, probe_job, &jobs[i]) == 0;
		if (!started[i])
			probe_job(&jobs[i]);
	}
	for (int i = 0; i < t->n; i++) {
		const struct omx_tor_addr *tor = jobs[i].tor;

		if (started[i])
			pthread_join(tid[i], NULL);
		t->answering += t->answers[i];
		alen += (size_t)snprintf(t->all + alen, sizeof(t->all) - alen, "%s%s", alen ? ", " : "", tor->text);
		if (!t->answers[i])
			dlen += (size_t)snprintf(t->down + dlen, sizeof(t->down) - dlen, "%s%s", dlen ? ", " : "",
						 tor->text);
	}
}

static int parse_int(const char *opt, const char *s, int min, int max, int *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < min || v > max) {
		fprintf(stderr, "onionmx-check: %s: \"%s\" is not a number from %d to %d\n", opt, s, min, max);
		return -1;
	}
	*out = (int)v;
	return 0;
}

static const char *const status_names[] = { "OK", "WARNING", "CRITICAL", "UNKNOWN" };

/* What the command line asks for. */
struct health_opts {
	const char *conf, *file;
	int terse, probe;
	struct omx_health_params p;
};

/* Parses ARGV into O: -1 to go on, else the exit status (usage, --help). */
static int health_options(int argc, char **argv, struct health_opts *o)
{
	enum { OPT_HEALTH = 256, OPT_WINDOW, OPT_MIN, OPT_NOPROBE };
	static const struct option longopts[] = {
		{ "health", no_argument, NULL, OPT_HEALTH },
		{ "config", required_argument, NULL, 'c' },
		{ "terse", no_argument, NULL, 't' },
		{ "file", required_argument, NULL, 'f' },
		{ "window", required_argument, NULL, OPT_WINDOW },
		{ "min-onions", required_argument, NULL, OPT_MIN },
		{ "no-probe", no_argument, NULL, OPT_NOPROBE },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int opt;

	optind = 1;
	while ((opt = getopt_long(argc, argv, "c:tf:h", longopts, NULL)) != -1) {
		switch (opt) {
		case OPT_HEALTH:
			break;
		case 'c':
			o->conf = optarg;
			break;
		case 't':
			o->terse = 1;
			break;
		case 'f':
			o->file = optarg;
			break;
		case OPT_WINDOW:
			if (parse_int("--window", optarg, 1, 365 * 86400, &o->p.window) != 0)
				return OMX_HEALTH_UNKNOWN;
			break;
		case OPT_MIN:
			if (parse_int("--min-onions", optarg, 1, 1000, &o->p.min_onions) != 0)
				return OMX_HEALTH_UNKNOWN;
			break;
		case OPT_NOPROBE:
			o->probe = 0;
			break;
		case 'h':
			fputs(usage_text, stdout);
			return OMX_HEALTH_OK;
		default:
			fputs(usage_text, stderr);
			return OMX_HEALTH_UNKNOWN;
		}
	}
	if (optind != argc) {
		fputs(usage_text, stderr);
		return OMX_HEALTH_UNKNOWN;
	}
	return -1;
}

/* The verdict on statistics F (NULL: unreadable, ERR says why) and the probe
 * of the Tors TP (WHY: the first failure); TEXT says it. */
static enum omx_health_verdict health_verdict(const struct omx_stats_file *f, const char *err,
					      struct health_opts *o, const struct tor_probe *tp,
					      const char *why, char *text, size_t cap)
{
	enum omx_health_verdict h;

	if (!f) {
		h = o->p.socks_answers == 0 ? OMX_HEALTH_CRITICAL : OMX_HEALTH_UNKNOWN;
		if (o->p.socks_answers == 0)
			snprintf(text, cap, "our Tor is broken: %s %s %s (%s); and no statistics: %s",
				 tp->n > 1 ? "none of its SOCKS ports" : "its SOCKS port", tp->down,
				 tp->n > 1 ? "answers" : "does not answer", why, err);
		else
			snprintf(text, cap, "no statistics: %s", err);
	} else {
		h = omx_stats_verdict(f, &o->p, text, cap);
		if (o->p.socks_answers == 0) {
			size_t n = strlen(text);

			snprintf(text + n, cap - n, " (%s)", why);
		}
	}
	/* One of several Tors down: a warning (the library moves on to the next). */
	if (o->probe && tp->answering > 0 && tp->answering < tp->n) {
		size_t n = strlen(text);

		snprintf(text + n, cap - n, "; Tor %s does not answer (%s): %d of %d Tors down", tp->down, why,
			 tp->n - tp->answering, tp->n);
		if (h == OMX_HEALTH_OK)
			h = OMX_HEALTH_WARNING;
	}
	return h;
}

/* The lines after the verdict, without -t. */
static void health_details(const struct health_opts *o, const struct omx_config *cfg,
			   const char *file, const struct tor_probe *tp)
{
	printf("statistics: %s\n", file);
	for (int i = 0; o->probe && i < tp->n; i++)
		printf("Tor's SOCKS port %s: %s%s%s\n", tor_at(cfg, i, &(struct omx_tor_addr){ 0 })->text,
		       tp->answers[i] ? "answers" : "does not answer", tp->why[i][0] ? ": " : "", tp->why[i]);
	printf("window: %d s; our Tor is blamed when %d or more onions fail with local causes\n",
	       o->p.window, o->p.min_onions);
	printf("details: onionmx-stats%s%s\n", o->conf ? " -c " : "", o->conf ? o->conf : "");
}

int omx_health_main(int argc, char **argv)
{
	static struct omx_config cfg;
	static struct tor_probe tp;
	struct health_opts o = { .conf = getenv("ONIONMX_CONF"), .probe = 1,
				 .p = { .window = 3600, .min_onions = 2, .socks_answers = -1 } };
	const char *file;
	char err[4400], text[8192], why[256] = "";
	enum omx_health_verdict h;
	struct omx_stats_file *f;
	int rc;

	if (!o.conf || !*o.conf)
		o.conf = OMX_DEFAULT_CONF;
	if ((rc = health_options(argc, argv, &o)) >= 0)
		return rc;
	omx_config_defaults(&cfg);
	if (omx_config_load(&cfg, o.conf, 0, err, sizeof(err)) != 0) {
		printf("ONIONMX UNKNOWN - %s\n", err);
		return OMX_HEALTH_UNKNOWN;
	}
	file = o.file ? o.file : cfg.stats_path;
	if (!file[0]) {
		printf("ONIONMX UNKNOWN - %s: stats = none: no statistics to judge\n", o.conf);
		return OMX_HEALTH_UNKNOWN;
	}
	if (o.probe) {
		/* Our Tor is broken only when none answers. */
		probe_tors(&cfg, &tp);
		o.p.socks_answers = tp.answering > 0;
		o.p.socks = tp.answering ? tp.all : tp.down;
		for (int i = 0; i < tp.n && !why[0]; i++)
			if (!tp.answers[i])
				snprintf(why, sizeof(why), "%s", tp.why[i]);
	}
	o.p.now = time(NULL);
	f = omx_stats_read(file, err, sizeof(err));
	h = health_verdict(f, err, &o, &tp, why, text, sizeof(text));
	printf("ONIONMX %s - %s", status_names[h], text);
	if (f)
		printf(" | tried=%lluc succeeded=%lluc", (unsigned long long)f->total.tried,
		       (unsigned long long)f->total.succeeded);
	printf("\n");
	if (!o.terse)
		health_details(&o, &cfg, file, &tp);
	free(f);
	return h;
}
