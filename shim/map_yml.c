/* map.yml (the community's onion -> domains list) into onionmx-map's own
 * syntax, line for line. See map_yml.h for the subset of YAML accepted. */
#include "map_yml.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "map.h"
#include "onion.h"

struct yml_onion {
	char label[OMX_ONION_LABEL_LEN + 1]; /* lower case; empty if invalid (skipped) */
	unsigned line;
};

struct yml_domain {
	char name[256];
	unsigned line;
	unsigned onion; /* index into the onions */
};

struct yml {
	const char *src;
	int keep_going;
	omx_yml_report_fn report;
	void *ctx;
	unsigned nskipped;
	struct yml_onion *onions;
	size_t nonions, capo;
	struct yml_domain *domains;
	size_t ndomains, capd;
	char *err;
	size_t errlen;
};

static int yml_fail(struct yml *y, unsigned line, const char *fmt, ...)
{
	int n = snprintf(y->err, y->errlen, "%s:%u: ", y->src, line);
	va_list ap;

	if (n < 0 || (size_t)n >= y->errlen)
		return -1;
	va_start(ap, fmt);
	vsnprintf(y->err + n, y->errlen - (size_t)n, fmt, ap);
	va_end(ap);
	return -1;
}

/* An invalid entry: fatal, or reported and skipped under keep_going (returns 1). */
static int yml_invalid(struct yml *y, unsigned line, const char *fmt, ...)
{
	char msg[600], full[700];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (!y->keep_going)
		return yml_fail(y, line, "%s", msg);
	snprintf(full, sizeof(full), "%s:%u: %s; skipped", y->src, line, msg);
	if (y->report)
		y->report(y->ctx, full);
	y->nskipped++;
	return 1;
}

/* Reads one scalar at P (END excluded) into OUT: 'quoted' ('' is a quote),
 * "quoted" (no escapes), or plain (up to STOP, a ": " for keys, " #" or the
 * end). *NEXT is set past it. Returns 0, or -1 with the reason in WHY. */
static int scalar(const char *p, const char *end, int key, char *out, size_t outsz,
		  const char **next, const char **why)
{
	size_t n = 0;

	if (p < end && (*p == '\'' || *p == '"')) {
		char q = *p++;

		for (;;) {
			if (p == end) {
				*why = "unterminated quoted string (multi-line scalars are not supported)";
				return -1;
			}
			if (*p == q) {
				if (q == '\'' && p + 1 < end && p[1] == '\'') {
					p++;
				} else {
					p++;
					break;
				}
			} else if (q == '"' && *p == '\\') {
				*why = "escape sequences in \"...\" are not supported";
				return -1;
			}
			if (n + 1 >= outsz) {
				*why = "value too long";
				return -1;
			}
			out[n++] = *p++;
		}
	} else {
		const char *s = p;

		if (p == end || strchr("-?:,[]{}#&*!|>%@`", *p)) {
			*why = "not a plain scalar, 'quoted' or \"quoted\" string (YAML beyond the map.yml subset)";
			return -1;
		}
		while (p < end) {
			if (key && *p == ':' && (p + 1 == end || p[1] == ' '))
				break;
			if (*p == '#' && p > s && p[-1] == ' ')
				break;
			if (!key && *p == ':' && (p + 1 == end || p[1] == ' ')) {
				*why = "a mapping inside the list (YAML beyond the map.yml subset)";
				return -1;
			}
			p++;
		}
		while (p > s && p[-1] == ' ')
			p--;
		if ((size_t)(p - s) + 1 > outsz) {
			*why = "value too long";
			return -1;
		}
		memcpy(out, s, (size_t)(p - s));
		n = (size_t)(p - s);
	}
	out[n] = '\0';
	if (memchr(out, '\0', n)) {
		*why = "NUL byte";
		return -1;
	}
	*next = p;
	return 0;
}

/* Only spaces and an optional comment from P to END. */
static int rest_empty(const char *p, const char *end)
{
	while (p < end && *p == ' ')
		p++;
	return p == end || *p == '#';
}

static int add_onion(struct yml *y, const char *name, unsigned line)
{
	struct yml_onion *o;
	size_t llen;
	const char *label = omx_onion_label(name, strlen(name), &llen);
	enum omx_onion_status st;

	if (y->nonions == y->capo) {
		size_t cap = y->capo ? 2 * y->capo : 64;
		void *p = realloc(y->onions, cap * sizeof(*y->onions));

		if (!p)
			return yml_fail(y, line, "out of memory");
		y->onions = p;
		y->capo = cap;
	}
	o = &y->onions[y->nonions++];
	o->line = line;
	o->label[0] = '\0';
	if (!label || label != name || name[strlen(name) - 1] == '.')
		return yml_invalid(y, line, "\"%s\" is not an onion address (LABEL.onion)", name) < 0 ? -1 : 0;
	st = omx_onion_check_key(label, llen);
	if (st != OMX_ONION_OK)
		return yml_invalid(y, line, "\"%s\": %s", name, omx_onion_strerror(st)) < 0 ? -1 : 0;
	for (size_t i = 0; i < llen; i++)
		o->label[i] = (char)tolower((unsigned char)label[i]);
	o->label[llen] = '\0';
	for (size_t i = 0; i + 1 < y->nonions; i++)
		if (strcmp(y->onions[i].label, o->label) == 0)
			return yml_fail(y, line, "duplicate key %s.onion (first at line %u)", o->label,
					y->onions[i].line);
	return 0;
}

static int add_domain(struct yml *y, const char *name, unsigned line)
{
	struct yml_domain *d;
	char msg[300];
	size_t cur = y->nonions - 1;

	if (!y->onions[cur].label[0])
		return 0; /* under a skipped onion: reported there */
	if (y->ndomains == y->capd) {
		size_t cap = y->capd ? 2 * y->capd : 256;
		void *p = realloc(y->domains, cap * sizeof(*y->domains));

		if (!p)
			return yml_fail(y, line, "out of memory");
		y->domains = p;
		y->capd = cap;
	}
	d = &y->domains[y->ndomains];
	if (strlen(name) > 254 || name[0] == '.') /* ".x": no wildcards in this format */
		return yml_invalid(y, line, "\"%.60s\" is not a mail domain", name) < 0 ? -1 : 0;
	snprintf(d->name, sizeof(d->name), "%s", name);
	if (omx_domain_normalise(d->name, msg, sizeof(msg)) != 0)
		return yml_invalid(y, line, "%s", msg) < 0 ? -1 : 0;
	d->line = line;
	d->onion = (unsigned)cur;
	y->ndomains++;
	return 0;
}

static int cmp_domain(const void *a, const void *b)
{
	const struct yml_domain *x = a, *y = b;
	int c = strcmp(x->name, y->name);

	return c ? c : (x->line > y->line) - (x->line < y->line);
}

/* Parses every line; fills the onion and domain lists. */
static int parse(struct yml *y, const char *text, size_t len)
{
	size_t pos = 0;
	unsigned line = 0;
	int content = 0, have_key = 0;

	if (len >= 3 && memcmp(text, "\xef\xbb\xbf", 3) == 0)
		pos = 3; /* a UTF-8 byte order mark, as some editors write */

	while (pos < len) {
		const char *nl = memchr(text + pos, '\n', len - pos);
		const char *linestart = text + pos, *p = linestart, *end = nl ? nl : text + len;
		char value[300];
		const char *why = NULL, *next;

		size_t linelen = (size_t)(end - linestart);

		pos += linelen + 1;
		line++;
		if (memchr(linestart, '\0', linelen))
			return yml_fail(y, line, "NUL byte");
		if (linelen && end[-1] == '\r')
			end--;
		while (p < end && *p == ' ')
			p++;
		if (p < end && *p == '\t')
			return yml_fail(y, line, "tab in indentation (YAML forbids it)");
		if (p == end || *p == '#')
			continue;
		/* "---" at column 0: the document's start, only before any content. */
		if (p == linestart && end - p >= 3 && memcmp(p, "---", 3) == 0 &&
		    rest_empty(p + 3, end)) {
			if (content)
				return yml_fail(y, line, "a second YAML document (only one is read)");
			content = 1;
			continue;
		}
		if (*p == '-' && (p + 1 == end || p[1] == ' ')) {
			/* A list item, under the last key (at any indentation). */
			if (!have_key)
				return yml_fail(y, line, "a list item before any onion key");
			p++;
			while (p < end && *p == ' ')
				p++;
			if (p == end || *p == '#')
				return yml_fail(y, line, "an empty list item");
			if (scalar(p, end, 0, value, sizeof(value), &next, &why) != 0)
				return yml_fail(y, line, "%s", why);
			if (!rest_empty(next, end))
				return yml_fail(y, line, "text after the list item (YAML beyond the map.yml subset)");
			content = 1;
			if (add_domain(y, value, line) != 0)
				return -1;
			continue;
		}
		if (p != linestart)
			return yml_fail(y, line, "an indented line that is not a list item (YAML beyond the map.yml subset)");
		/* A top-level key: ONION.onion: and nothing, [], ~ or null after it. */
		if (scalar(p, end, 1, value, sizeof(value), &next, &why) != 0)
			return yml_fail(y, line, "%s", why);
		while (next < end && *next == ' ')
			next++;
		if (next == end || *next != ':')
			return yml_fail(y, line, "expected \"ONION.onion:\" (a key and a colon)");
		next++;
		while (next < end && *next == ' ')
			next++;
		if (next + 2 <= end && memcmp(next, "[]", 2) == 0)
			next += 2;
		else if (next + 1 <= end && *next == '~')
			next += 1;
		else if (next + 4 <= end && memcmp(next, "null", 4) == 0)
			next += 4;
		if (!rest_empty(next, end))
			return yml_fail(y, line, "a key's value must be a list of domains on '- ' lines below it");
		content = 1;
		have_key = 1;
		if (add_onion(y, value, line) != 0)
			return -1;
	}
	return 0;
}

/* The map line of the domain listed at Y->domains[I..J) (sorted by name):
 * "DOMAIN LABEL.onion ...", each onion once, into *LINE (NULL: left out, as
 * listed under too many onions, with keep_going). -1 on failure. */
static int domain_line(struct yml *y, size_t i, size_t j, char **line)
{
	const struct yml_domain *first = &y->domains[i];
	unsigned seen[OMX_MAP_MAX_TARGETS];
	size_t n = 0, at;
	char *l;

	*line = NULL;
	for (size_t k = i; k < j; k++) {
		int dup = 0;

		for (size_t m = 0; m < n; m++)
			dup |= seen[m] == y->domains[k].onion;
		if (dup)
			continue;
		if (n == OMX_MAP_MAX_TARGETS)
			return yml_invalid(y, first->line,
					   "\"%s\" is listed under more than %d onions (a map line takes %d)",
					   first->name, OMX_MAP_MAX_TARGETS, OMX_MAP_MAX_TARGETS) < 0 ? -1 : 0;
		seen[n++] = y->domains[k].onion;
	}
	l = malloc(strlen(first->name) + n * (OMX_ONION_LABEL_LEN + 7) + 1);
	if (!l)
		return yml_fail(y, first->line, "out of memory");
	at = (size_t)sprintf(l, "%s", first->name);
	for (size_t m = 0; m < n; m++)
		at += (size_t)sprintf(l + at, " %s.onion", y->onions[seen[m]].label);
	*line = l;
	return 0;
}

/* LINES[1..MAXLINE] (NULL: an empty line) joined, each ended by a newline. */
static int join_lines(struct yml *y, char **lines, unsigned maxline, size_t total, char **out,
		      size_t *outlen)
{
	char *buf = malloc(total + maxline + 1);
	size_t at = 0;

	if (!buf)
		return yml_fail(y, 0, "out of memory");
	for (unsigned ln = 1; ln <= maxline; ln++) {
		if (lines[ln]) {
			size_t n = strlen(lines[ln]);

			memcpy(buf + at, lines[ln], n);
			at += n;
		}
		buf[at++] = '\n';
	}
	buf[at] = '\0';
	*out = buf;
	*outlen = at;
	return 0;
}

/* Writes the translation: each domain's line at its first mention. */
static int emit(struct yml *y, char **out, size_t *outlen)
{
	unsigned maxline = 0;
	char **lines;
	size_t total = 0;
	int rc = -1;

	for (size_t i = 0; i < y->ndomains; i++)
		if (y->domains[i].line > maxline)
			maxline = y->domains[i].line;
	lines = calloc((size_t)maxline + 1, sizeof(*lines));
	if (!lines)
		return yml_fail(y, 0, "out of memory");
	if (y->ndomains)
		qsort(y->domains, y->ndomains, sizeof(*y->domains), cmp_domain);
	for (size_t i = 0, j; i < y->ndomains; i = j) {
		unsigned line = y->domains[i].line;

		for (j = i; j < y->ndomains && strcmp(y->domains[j].name, y->domains[i].name) == 0; j++)
			;
		if (domain_line(y, i, j, &lines[line]) != 0)
			goto out;
		if (lines[line])
			total += strlen(lines[line]);
	}
	rc = join_lines(y, lines, maxline, total, out, outlen);
out:
	for (unsigned ln = 0; ln <= maxline; ln++)
		free(lines[ln]);
	free(lines);
	return rc;
}

int omx_map_yml_translate(const char *text, size_t len, const char *src, int keep_going,
			  omx_yml_report_fn report, void *ctx, char **out, size_t *outlen,
			  unsigned *nskipped, char *err, size_t errlen)
{
	struct yml y = { .src = src, .keep_going = keep_going, .report = report, .ctx = ctx,
			 .err = err, .errlen = errlen };
	int rc;

	*out = NULL;
	*outlen = 0;
	rc = parse(&y, text, len);
	if (rc == 0)
		rc = emit(&y, out, outlen);
	if (nskipped)
		*nskipped = y.nskipped;
	free(y.onions);
	free(y.domains);
	return rc;
}

int omx_map_yml_path(const char *path)
{
	size_t n = strlen(path);

	return (n > 4 && strcmp(path + n - 4, ".yml") == 0) ||
	       (n > 5 && strcmp(path + n - 5, ".yaml") == 0);
}
