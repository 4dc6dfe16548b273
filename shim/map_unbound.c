/* The compiled map as an unbound include (onionmx-map -u). Everything comes
 * from the compiled map, through the same lookups the library makes, so unbound
 * hands out exactly the addresses the library does. */
#include "map_unbound.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "answer.h"

struct writer {
	const struct omx_map *map;
	FILE *out, *warn;
	char *err;
	size_t errlen;
	size_t ndomains, nonions;
};

static int fail(struct writer *w, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(w->err, w->errlen, fmt, ap);
	va_end(ap);
	return -1;
}

static int same_onions(const struct omx_target *a, int na, const struct omx_target *b, int nb)
{
	if (na != nb)
		return 0;
	for (int i = 0; i < na; i++)
		if (strcmp(a[i].onion, b[i].onion) != 0)
			return 0;
	return 1;
}

static void write_mx(struct writer *w, const char *zone, const char *kind,
		     const struct omx_target *t, int n)
{
	fprintf(w->out, "\tlocal-zone: \"%s.\" %s\n", zone, kind);
	for (int i = 0; i < n; i++)
		fprintf(w->out, "\tlocal-data: \"%s. %d IN MX %d %s.onion.\"\n", zone, OMX_ANSWER_TTL,
			10 * (i + 1), t[i].onion);
}

/* A "d:" record: DOMAIN (exact) or ".P" (the subdomains of P). */
static int write_domain(struct writer *w, const char *name, size_t len)
{
	struct omx_target t[OMX_MAP_MAX_TARGETS], other[OMX_MAP_MAX_TARGETS];
	char domain[256], probe[258], matched[256];
	int n, no;

	if (len == 0 || len > 254)
		return fail(w, "damaged: a domain record of length %zu", len);
	memcpy(domain, name, len);
	domain[len] = '\0';
	n = omx_map_domain(w->map, domain, t, matched);
	if (n <= 0 || strcmp(matched, domain) != 0)
		return fail(w, "damaged: the entry for %s cannot be read back", domain);
	w->ndomains++;
	if (domain[0] == '.') {
		/* unbound has no wildcard data: a redirect zone answers P and every
		 * name below it from P's own data (and NODATA for other types). */
		no = omx_map_domain(w->map, domain + 1, other, matched);
		if (no < 0)
			return fail(w, "damaged: the entry for %s cannot be read", domain + 1);
		if (no == 0 || strcmp(matched, domain + 1) != 0) {
			if (w->warn)
				fprintf(w->warn, "onionmx-map: warning: %s: unbound answers %s's own MX with the onion too, and A/AAAA of %s and of every name below it with no data (list %s itself to make that explicit)\n",
					domain, domain + 1, domain + 1, domain + 1);
		}
		write_mx(w, domain + 1, "redirect", t, n);
		return 0;
	}
	/* An exact entry. The same name with a subdomain entry is one redirect
	 * zone, written for ".P": the two must name the same onions. */
	snprintf(probe, sizeof(probe), ".%s", domain);
	no = omx_map_domain(w->map, probe, other, matched);
	if (no < 0)
		return fail(w, "damaged: the entry for %s cannot be read", probe);
	if (no > 0 && strcmp(matched, probe) == 0) {
		if (!same_onions(t, n, other, no))
			return fail(w, "%s and .%s list different onions: unbound answers a name and the names below it from one zone (give both the same onions)",
				    domain, domain);
		return 0;
	}
	if (no > 0 && w->warn)
		fprintf(w->warn, "onionmx-map: warning: %s: names below it are covered by %s in the map, but unbound resolves them normally (their MX is asked upstream; add .%s to the map)\n",
			domain, matched, domain);
	write_mx(w, domain, "typetransparent", t, n);
	return 0;
}

/* An "a:" record: an onion's address, or a tombstone (nothing to answer). */
static int write_onion(struct writer *w, const char *key)
{
	uint32_t addr = omx_map_key_addr(key), looked_up;
	char text[INET_ADDRSTRLEN];
	const char *label;
	struct omx_target t;
	struct in_addr in;
	int r;

	/* Read as the library reads it, whatever the map's format. */
	r = omx_map_addr_onion(w->map, addr, &t, NULL, NULL);
	if (r == OMX_MAP_RETIRED)
		return 0;
	if (r != 1)
		return fail(w, "damaged: an address record");
	label = t.onion;
	/* The address the library finds by walking the onion's probe sequence,
	 * which must be the record's own. */
	if (omx_map_onion_addr(w->map, label, OMX_ONION_LABEL_LEN, &looked_up) != 1 || looked_up != addr)
		return fail(w, "damaged: %s.onion's address cannot be read back", label);
	in.s_addr = htonl(addr);
	inet_ntop(AF_INET, &in, text, sizeof(text));
	/* redirect: LABEL.onion and every name below it (the library answers
	 * those with the onion's address too); other types get no data. */
	fprintf(w->out, "\tlocal-zone: \"%s.onion.\" redirect\n", label);
	fprintf(w->out, "\tlocal-data: \"%s.onion. %d IN A %s\"\n", label, OMX_ANSWER_TTL, text);
	fprintf(w->out, "\tlocal-data: \"%s.onion. %d IN AAAA ::ffff:%s\"\n", label, OMX_ANSWER_TTL, text);
	w->nonions++;
	return 0;
}

static int write_record(void *ctx, const char *key, unsigned klen, const char *val, unsigned vlen)
{
	struct writer *w = ctx;

	(void)val; /* read through the lookups, as the library reads them */
	(void)vlen;
	if (klen >= 2 && key[0] == 'd' && key[1] == ':')
		return write_domain(w, key + 2, klen - 2);
	if (klen == 6 && key[0] == 'a' && key[1] == ':')
		return write_onion(w, key);
	return fail(w, "damaged: a record with an unknown key");
}

int omx_map_write_unbound(const struct omx_map *map, const char *name, FILE *out, FILE *warn,
			  char *err, size_t errlen)
{
	struct writer w = { .map = map, .out = out, .warn = warn, .err = err, .errlen = errlen };
	char net[INET_ADDRSTRLEN];
	struct in_addr in;
	int r;

	err[0] = '\0';
	in.s_addr = htonl(map->net);
	inet_ntop(AF_INET, &in, net, sizeof(net));
	fprintf(out, "# Written by onionmx-map -u from %s (synthetic range %s/%d): do not edit,\n"
		     "# rebuild the map. The host-wide layer of onionmx: mapped domains' MX and\n"
		     "# the map's onions answered here, the rest of .onion NXDOMAIN (RFC 7686).\n"
		     "server:\n"
		     "\tlocal-zone: \"onion.\" static\n"
		     "\tlocal-data: \"onion. 10800 IN NS localhost.\"\n"
		     "\tlocal-data: \"onion. 10800 IN SOA localhost. nobody.invalid. 1 3600 1200 604800 10800\"\n",
		name, net, map->mask ? 32 - __builtin_ctz(map->mask) : 0);
	r = omx_map_walk(map, write_record, &w);
	if (r == OMX_MAP_DAMAGED && !err[0])
		snprintf(err, errlen, "damaged (a record fails its check)");
	if (r != 0) {
		size_t len = strlen(err);
		char msg[512];

		snprintf(msg, sizeof(msg), "%s: %.*s", name, (int)len, err);
		snprintf(err, errlen, "%s", msg);
		return -1;
	}
	fprintf(out, "# %zu domain entries, %zu onions\n", w.ndomains, w.nonions);
	if (ferror(out))
		return snprintf(err, errlen, "write error"), -1;
	return 0;
}

int omx_map_unbound_file(const struct omx_map *map, const char *name, const char *path,
			 FILE *warn, char *err, size_t errlen)
{
	char *tmp = NULL, *dir = NULL;
	FILE *f = NULL;
	int fd = -1, rc = -1, dfd;

	err[0] = '\0';
	if (asprintf(&tmp, "%s.tmpXXXXXX", path) < 0) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	if ((fd = mkstemp(tmp)) < 0) {
		snprintf(err, errlen, "%s: cannot create: %s", tmp, strerror(errno));
		goto out;
	}
	if (fchmod(fd, 0644) != 0 || !(f = fdopen(fd, "w"))) {
		snprintf(err, errlen, "%s: %s", tmp, strerror(errno));
		goto out;
	}
	fd = -1;
	if (omx_map_write_unbound(map, name, f, warn, err, errlen) != 0)
		goto out;
	if (fflush(f) != 0 || fsync(fileno(f)) != 0) {
		snprintf(err, errlen, "%s: %s", tmp, strerror(errno));
		goto out;
	}
	if (fclose(f) != 0) {
		f = NULL;
		snprintf(err, errlen, "%s: %s", tmp, strerror(errno));
		goto out;
	}
	f = NULL;
	if (rename(tmp, path) != 0) {
		snprintf(err, errlen, "%s: cannot rename to %s: %s", tmp, path, strerror(errno));
		goto out;
	}
	free(tmp);
	tmp = NULL;
	/* Make the rename itself durable. */
	if ((dir = strdup(path)) && (dfd = open(dirname(dir), O_RDONLY | O_DIRECTORY | O_CLOEXEC)) >= 0) {
		fsync(dfd);
		close(dfd);
	}
	rc = 0;
out:
	if (f)
		fclose(f);
	if (fd >= 0)
		close(fd);
	if (tmp) {
		unlink(tmp);
		free(tmp);
	}
	free(dir);
	return rc;
}
