/* The search-list expansion glibc's resolver applies, written out (search.h). */
#include "search.h"

#include <string.h>

#define DNAME_MAX 1025 /* MAXDNAME: glibc refuses NAME.DOMAIN at this length or more */

static int add(struct omx_search_cand *cand, int n, const char *name, size_t name_len, const char *domain,
	       enum omx_search_role role)
{
	size_t d = domain ? strlen(domain) : 0;

	if (n >= OMX_SEARCH_MAX)
		return n;
	if (domain && name_len + d + 1 >= DNAME_MAX)
		return n; /* glibc: NO_RECOVERY, nothing sent */
	if (!domain || !*domain)
		d = 0;
	if (name_len + (d ? d + 1 : 0) >= OMX_SEARCH_NAME_MAX)
		return n;
	memcpy(cand[n].name, name, name_len);
	if (d) {
		cand[n].name[name_len] = '.';
		memcpy(cand[n].name + name_len + 1, domain, d);
		name_len += d + 1;
	}
	cand[n].name[name_len] = '\0';
	cand[n].role = role;
	return n + 1;
}

int omx_search_candidates(const char *name, int ndots, unsigned options, const char *const *dnsrch,
			  struct omx_search_cand *cand)
{
	size_t len = strlen(name);
	int dots = 0, trailing_dot = len > 0 && name[len - 1] == '.';
	int n = 0, tried_as_is = 0, root_on_list = 0, searched = 0;

	for (size_t i = 0; i < len; i++)
		dots += name[i] == '.';
	if (trailing_dot)
		return add(cand, 0, name, len - 1, NULL, OMX_SEARCH_AS_IS_FIRST);
	if (dots >= ndots) {
		n = add(cand, n, name, len, NULL, OMX_SEARCH_AS_IS_FIRST);
		tried_as_is = 1;
	}
	if ((!dots && (options & OMX_SEARCH_DEFNAMES)) || (dots && (options & OMX_SEARCH_DNSRCH))) {
		for (const char *const *d = dnsrch; d && *d; d++) {
			const char *dname = *d[0] == '.' ? *d + 1 : *d;

			searched = 1;
			if (!*dname)
				root_on_list = 1;
			n = add(cand, n, name, len, dname, OMX_SEARCH_LISTED);
			/* Without RES_DNSRCH (a name without dots under RES_DEFNAMES)
			 * only the first domain is tried. */
			if (!(options & OMX_SEARCH_DNSRCH))
				break;
		}
	}
	if ((dots || !searched || !(options & OMX_SEARCH_NOTLDQUERY)) && !(tried_as_is || root_on_list))
		n = add(cand, n, name, len, NULL, OMX_SEARCH_AS_IS_LAST);
	return n;
}

static int lower(int c)
{
	return c >= 'A' && c <= 'Z' ? c + 32 : c;
}

static int is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r';
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
