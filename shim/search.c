/* The search-list expansion glibc's resolver applies, written out (search.h). */
#include "search.h"

#include <string.h>

#include "onion.h"

#define DNAME_MAX 1025 /* MAXDNAME: glibc refuses NAME.DOMAIN at this length or more */

static int lower(int c)
{
	return c >= 'A' && c <= 'Z' ? c + 32 : c;
}

static int is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r';
}

/* CAND = NAME (NAME_LEN bytes) [+ "." DOMAIN]; 0, or -1 if it is too long
 * (glibc then fails it with NO_RECOVERY, sending nothing). */
static int form(struct omx_search_cand *cand, const char *name, size_t name_len, const char *domain,
		enum omx_search_role role)
{
	size_t d = domain ? strlen(domain) : 0;

	if (domain && name_len + d + 1 >= DNAME_MAX)
		return -1;
	if (name_len + (d ? d + 1 : 0) >= OMX_SEARCH_NAME_MAX)
		return -1;
	memcpy(cand->name, name, name_len);
	if (d) {
		cand->name[name_len] = '.';
		memcpy(cand->name + name_len + 1, domain, d);
		name_len += d + 1;
	}
	cand->name[name_len] = '\0';
	cand->role = role;
	return 0;
}

void omx_search_begin(struct omx_search_iter *it, const char *name, int ndots, unsigned options,
		      const char *const *dnsrch)
{
	memset(it, 0, sizeof(*it));
	it->name = name;
	it->len = strlen(name);
	it->ndots = ndots;
	it->options = options;
	it->dnsrch = dnsrch;
	for (size_t i = 0; i < it->len; i++)
		it->dots += name[i] == '.';
	it->trailing_dot = it->len > 0 && name[it->len - 1] == '.';
}

int omx_search_next(struct omx_search_iter *it, struct omx_search_cand *cand)
{
	for (;;) {
		switch (it->stage) {
		case 0: /* the name alone, first */
			it->stage = 1;
			if (it->trailing_dot) {
				it->stage = 3;
				if (form(cand, it->name, it->len - 1, NULL, OMX_SEARCH_AS_IS_FIRST) == 0)
					return 1;
				continue;
			}
			if (it->dots >= it->ndots) {
				it->tried_as_is = 1;
				if (form(cand, it->name, it->len, NULL, OMX_SEARCH_AS_IS_FIRST) == 0)
					return 1;
			}
			continue;
		case 1: { /* each search domain */
			const char *d, *dname;

			if (!((!it->dots && (it->options & OMX_SEARCH_DEFNAMES)) ||
			      (it->dots && (it->options & OMX_SEARCH_DNSRCH))) ||
			    !it->dnsrch || !(d = it->dnsrch[it->index]) ||
			    /* Without RES_DNSRCH (a dotless name under RES_DEFNAMES)
			     * only the first domain is tried. */
			    (it->index > 0 && !(it->options & OMX_SEARCH_DNSRCH))) {
				it->stage = 2;
				continue;
			}
			it->index++;
			dname = d[0] == '.' ? d + 1 : d;
			it->searched = 1;
			if (!*dname)
				it->root_on_list = 1;
			if (form(cand, it->name, it->len, dname, OMX_SEARCH_LISTED) == 0)
				return 1;
			continue;
		}
		case 2: /* the name alone, last */
			it->stage = 3;
			if ((it->dots || !it->searched || !(it->options & OMX_SEARCH_NOTLDQUERY)) &&
			    !(it->tried_as_is || it->root_on_list) &&
			    form(cand, it->name, it->len, NULL, OMX_SEARCH_AS_IS_LAST) == 0)
				return 1;
			continue;
		default:
			return 0;
		}
	}
}

int omx_search_candidates(const char *name, int ndots, unsigned options, const char *const *dnsrch,
			  struct omx_search_cand *cand)
{
	struct omx_search_iter it;
	int n = 0;

	omx_search_begin(&it, name, ndots, options, dnsrch);
	while (n < OMX_SEARCH_MAX && omx_search_next(&it, &cand[n]))
		n++;
	return n;
}

int omx_search_list_parse(const char *text, size_t len, int is_env, char *buf, size_t cap, const char **list,
			  int max)
{
	const char *end = text + len, *line = text, *from = NULL, *from_end = NULL;
	size_t used = 0;
	int n = 0;

	if (is_env) {
		from = text;
		from_end = end;
	}
	for (const char *next; !is_env && line < end; line = next) {
		const char *eol = memchr(line, '\n', (size_t)(end - line)), *p = line;

		if (!eol)
			eol = end;
		next = eol < end ? eol + 1 : end;
		/* The last "search" or "domain" line is the list (glibc's res_init). */
		if ((size_t)(eol - p) > 6 && memcmp(p, "search", 6) == 0 && is_space(p[6])) {
			from = p + 7;
			from_end = eol;
		} else if ((size_t)(eol - p) > 6 && memcmp(p, "domain", 6) == 0 && is_space(p[6])) {
			from = p + 7;
			from_end = eol;
			/* "domain" names one domain: only its first word counts. */
			while (from < from_end && is_space(*from))
				from++;
			for (const char *q = from; q < from_end; q++)
				if (is_space(*q) || *q == '#' || *q == ';') {
					from_end = q;
					break;
				}
		}
	}
	for (const char *p = from; p && p < from_end;) {
		const char *word;

		while (p < from_end && is_space(*p))
			p++;
		if (!is_env && p < from_end && (*p == '#' || *p == ';'))
			break;
		word = p;
		while (p < from_end && !is_space(*p) && *p)
			p++;
		if (p == word)
			break;
		if (n >= max - 1 || used + (size_t)(p - word) + 1 > cap)
			return -1; /* longer than we can hold: the caller decides */
		memcpy(buf + used, word, (size_t)(p - word));
		buf[used + (size_t)(p - word)] = '\0';
		list[n++] = buf + used;
		used += (size_t)(p - word) + 1;
	}
	list[n] = NULL;
	return n;
}


int omx_hosts_has(const char *text, size_t len, const char *name)
{
	size_t name_len = strlen(name);
	const char *end = text + len;

	if (name_len > 0 && name[name_len - 1] == '.')
		name_len--;
	if (!name_len)
		return 0;
	for (const char *line = text, *next; line < end; line = next) {
		const char *eol = memchr(line, '\n', (size_t)(end - line));
		const char *hash, *p = line;
		int field = 0;

		if (!eol)
			eol = end;
		next = eol < end ? eol + 1 : end;
		hash = memchr(line, '#', (size_t)(eol - line));
		if (hash)
			eol = hash;
		while (p < eol) {
			const char *word;

			while (p < eol && is_space(*p))
				p++;
			word = p;
			while (p < eol && !is_space(*p))
				p++;
			if (p == word)
				break;
			/* The first field is the address; the rest are names. */
			if (field++ > 0 && (size_t)(p - word) == name_len) {
				size_t i = 0;

				while (i < name_len && lower((unsigned char)word[i]) == lower((unsigned char)name[i]))
					i++;
				if (i == name_len)
					return 1;
			}
		}
	}
	return 0;
}

int omx_hostalias(const char *text, size_t len, const char *name, char *out, size_t cap)
{
	size_t name_len = strlen(name);
	const char *end = text + len;

	for (const char *line = text, *next; line < end; line = next) {
		const char *eol = memchr(line, '\n', (size_t)(end - line)), *p = line, *word;
		size_t i = 0;

		if (!eol)
			eol = end;
		next = eol < end ? eol + 1 : end;
		while (p < eol && is_space(*p))
			p++;
		word = p;
		while (p < eol && !is_space(*p))
			p++;
		if ((size_t)(p - word) != name_len || !name_len)
			continue;
		while (i < name_len && lower((unsigned char)word[i]) == lower((unsigned char)name[i]))
			i++;
		if (i != name_len)
			continue;
		while (p < eol && is_space(*p))
			p++;
		word = p;
		while (p < eol && !is_space(*p))
			p++;
		if (p == word || (size_t)(p - word) >= cap || memchr(word, '\0', (size_t)(p - word)))
			return 0; /* none, too long, or a NUL (glibc's line ends there) */
		memcpy(out, word, (size_t)(p - word));
		out[p - word] = '\0';
		return 1;
	}
	return 0;
}

int omx_search_names_onion(const char *name)
{
	const char *prev = NULL, *label = name;
	size_t prev_len = 0;

	/* The shortest such name is a 56-character label, ".onion." and one more
	 * character: every question is asked this, most names are shorter. */
	if (strnlen(name, OMX_ONION_LABEL_LEN + 8) < OMX_ONION_LABEL_LEN + 8)
		return 0;
	for (;;) {
		const char *dot = strchr(label, '.');
		size_t len = dot ? (size_t)(dot - label) : strlen(label);

		if (!dot || !dot[1])
			return 0; /* "onion" as the last label: an onion name, not a form of one */
		if (len == 5 && prev && lower(label[0]) == 'o' && lower(label[1]) == 'n' && lower(label[2]) == 'i' &&
		    lower(label[3]) == 'o' && lower(label[4]) == 'n' && omx_onion_check(prev, prev_len) == OMX_ONION_OK)
			return 1;
		prev = label;
		prev_len = len;
		label = dot + 1;
	}
}

int omx_search_onion_label(const char *name)
{
	const char *label = name, *end;

	if (strchr(name, '\\'))
		return 1;
	for (;; label = end + 1) {
		end = strchrnul(label, '.'); /* vectorised, as strchr: most names have few labels */
		/* c | 0x20 folds only 'O', 'N' and 'I' onto these letters. */
		if (end - label == 5 && (label[0] | 0x20) == 'o' && (label[1] | 0x20) == 'n' &&
		    (label[2] | 0x20) == 'i' && (label[3] | 0x20) == 'o' && (label[4] | 0x20) == 'n')
			return 1;
		if (!*end)
			return 0;
	}
}

int omx_search_list_onion(const char *const *dnsrch)
{
	for (; dnsrch && *dnsrch; dnsrch++)
		if (omx_search_onion_label(*dnsrch))
			return 1;
	return 0;
}

enum omx_search_plan omx_search_plan(const char *name, int map_type, int ndots, const char *const *dnsrch,
				     int list_full, const char *(*env)(const char *))
{
	const char *end = strchrnul(name, '\\'), *dot, *last;
	size_t len = (size_t)(end - name), last_len;
	int dots;

	if (*end || list_full || (dnsrch && *dnsrch && omx_search_list_onion(dnsrch)))
		return OMX_PLAN_WALK; /* an escape, or a list that may make an onion */
	/* NAME's last label (one trailing dot aside): "onion", an onion name. */
	dot = memrchr(name, '.', len);
	if (!dot && env && env("HOSTALIASES"))
		return OMX_PLAN_WALK; /* glibc may ask a dotless name's alias instead */
	if (dot && dot == name + len - 1) {
		last = memrchr(name, '.', len - 1);
		last = last ? last + 1 : name;
		last_len = (size_t)(dot - last);
	} else {
		last = dot ? dot + 1 : name;
		last_len = (size_t)(name + len - last);
	}
	/* c | 0x20 folds only 'O', 'N' and 'I' onto these letters. */
	if (last_len == 5 && (last[0] | 0x20) == 'o' && (last[1] | 0x20) == 'n' && (last[2] | 0x20) == 'i' &&
	    (last[3] | 0x20) == 'o' && (last[4] | 0x20) == 'n')
		return OMX_PLAN_WALK;
	if (!map_type)
		return OMX_PLAN_PASS;
	/* glibc asks NAME first when it has NDOTS dots (a trailing one counts), or a trailing dot. */
	if (!dot)
		return ndots <= 0 ? OMX_PLAN_AS_IS_FIRST : OMX_PLAN_WALK;
	if (dot == name + len - 1 || ndots <= 1)
		return OMX_PLAN_AS_IS_FIRST;
	dots = 0;
	for (const char *p = name; (p = memchr(p, '.', (size_t)(name + len - p))); p++)
		dots++;
	return dots >= ndots ? OMX_PLAN_AS_IS_FIRST : OMX_PLAN_WALK;
}
