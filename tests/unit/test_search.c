/* omx_search_candidates lists the names glibc 2.36's res_nsearch tries, in its
 * order (resolv/res_query.c, __res_context_search), and omx_hosts_has reads a
 * hosts file the way NSS "files" matches names. */
#include "search.h"
#include "onion.h"
#include "tap.h"

#include <stdio.h>
#include <string.h>

#define ALL (OMX_SEARCH_DEFNAMES | OMX_SEARCH_DNSRCH) /* glibc's default options */

/* The candidates as "name/role name/role ..." (role: F first, L listed, A last). */
static const char *list(const char *name, int ndots, unsigned options, const char *const *dnsrch)
{
	static char out[4096];
	struct omx_search_cand c[OMX_SEARCH_MAX];
	int n = omx_search_candidates(name, ndots, options, dnsrch, c);
	size_t used = 0;

	out[0] = '\0';
	for (int i = 0; i < n; i++)
		used += (size_t)snprintf(out + used, sizeof(out) - used, "%s%s/%c", i ? " " : "", c[i].name,
					 c[i].role == OMX_SEARCH_AS_IS_FIRST ? 'F' :
					 c[i].role == OMX_SEARCH_LISTED ? 'L' : 'A');
	return out;
}

/* getenv for the plan: $HOSTALIASES is set; counts the look-ups. */
static int fake_env_calls;
static const char *fake_env(const char *name)
{
	fake_env_calls++;
	return strcmp(name, "HOSTALIASES") == 0 ? "/etc/host.aliases" : NULL;
}

int main(void)
{
	const char *corp[] = { "corp.example", "example", NULL };
	const char *dotted[] = { ".example", NULL };
	const char *root[] = { "corp.example", ".", NULL };
	const char *none[] = { NULL };
	char longname[300];
	static const char hosts[] = "# comment mapped\n127.0.0.1\tlocalhost\n"
				    "::1 localhost ip6-localhost  # mapped.example\n"
				    "192.0.2.7 Host.Example alias1 alias2\r\n10.0.0.1 last";

	/* ndots:1 (the default): a name without dots gets the list first. */
	is_str(list("mapped", 1, ALL, corp), "mapped.corp.example/L mapped.example/L mapped/A",
	       "no dots, ndots 1: each search domain, then the name alone");
	is_str(list("mapped.example", 1, ALL, corp),
	       "mapped.example/F mapped.example.corp.example/L mapped.example.example/L",
	       "one dot, ndots 1: the name alone first, then the list");
	is_str(list("mapped.example", 2, ALL, corp),
	       "mapped.example.corp.example/L mapped.example.example/L mapped.example/A",
	       "one dot, ndots 2: the list first, the name alone last");
	is_str(list("x.onion", 3, ALL, corp), "x.onion.corp.example/L x.onion.example/L x.onion/A",
	       "an onion name with ndots above its dots: glibc tries it under each domain first");
	is_str(list("mapped.example.", 5, ALL, corp), "mapped.example/F", "trailing dot: the name alone, only");
	is_str(list("mapped", 1, ALL, NULL), "mapped/A", "no search list: the name alone");
	is_str(list("mapped", 1, ALL, none), "mapped/A", "empty search list: the name alone");
	is_str(list("mapped", 1, OMX_SEARCH_DEFNAMES, corp), "mapped.corp.example/L mapped/A",
	       "RES_DEFNAMES without RES_DNSRCH: the first domain only");
	is_str(list("a.b", 1, OMX_SEARCH_DEFNAMES, corp), "a.b/F", "a dotted name without RES_DNSRCH: alone");
	is_str(list("mapped", 1, 0, corp), "mapped/A", "neither option: the name alone");
	is_str(list("mapped", 1, ALL | OMX_SEARCH_NOTLDQUERY, corp), "mapped.corp.example/L mapped.example/L",
	       "RES_NOTLDQUERY: a dotless name is never tried alone");
	is_str(list("a.b", 2, ALL | OMX_SEARCH_NOTLDQUERY, corp), "a.b.corp.example/L a.b.example/L a.b/A",
	       "RES_NOTLDQUERY does not apply to a dotted name");
	is_str(list("mapped", 1, ALL, dotted), "mapped.example/L mapped/A",
	       "a search domain's leading dot is dropped");
	is_str(list("mapped", 1, ALL, root), "mapped.corp.example/L mapped/L",
	       "the root on the list stands for the name alone, not tried again");
	is_str(list("mapped", 0, ALL, corp), "mapped/F mapped.corp.example/L mapped.example/L",
	       "ndots 0: the name alone first");
	memset(longname, 'a', sizeof(longname));
	longname[sizeof(longname) - 1] = '\0';
	for (int i = 63; i < (int)sizeof(longname) - 1; i += 64)
		longname[i] = '.';
	{
		const char *big[] = { longname, "example", NULL };
		char want[1100];
		snprintf(want, sizeof(want), "a.%s/L a.example/L a/A", longname);
		is_str(list("a", 1, ALL, big), want, "a long search domain still fits");
		char name[1010];
		memset(name, 'b', sizeof(name));
		name[sizeof(name) - 1] = '\0';
		for (int i = 63; i < (int)sizeof(name) - 1; i += 64)
			name[i] = '.';
		struct omx_search_cand c[OMX_SEARCH_MAX];
		int n = omx_search_candidates(name, 1, ALL, big, c);
		is_int(n, 2, "NAME.DOMAIN at MAXDNAME or longer is left out (glibc never sends it)");
		ok(n == 2 && c[0].role == OMX_SEARCH_AS_IS_FIRST && strcmp(c[1].name, name) != 0 &&
			   c[1].role == OMX_SEARCH_LISTED,
		   "and the shorter expansion stays");
	}
	{
		const char *seven[] = { "d1", "d2", "d3", "d4", "d5", "d6", "d7", "d8", NULL };
		struct omx_search_cand c[OMX_SEARCH_MAX];
		is_int(omx_search_candidates("x", 1, ALL, seven, c), OMX_SEARCH_MAX,
		       "never more candidates than the array holds");
	}

	ok(omx_hosts_has(hosts, strlen(hosts), "localhost"), "hosts: a name");
	ok(omx_hosts_has(hosts, strlen(hosts), "ip6-localhost"), "hosts: a second name on a line");
	ok(omx_hosts_has(hosts, strlen(hosts), "host.example."), "hosts: case and trailing dot ignored");
	ok(omx_hosts_has(hosts, strlen(hosts), "alias2"), "hosts: the last alias before CRLF");
	ok(omx_hosts_has(hosts, strlen(hosts), "last"), "hosts: a last line without a newline");
	ok(!omx_hosts_has(hosts, strlen(hosts), "mapped"), "hosts: a word in a comment is no name");
	ok(!omx_hosts_has(hosts, strlen(hosts), "mapped.example"), "hosts: nor after a name");
	ok(!omx_hosts_has(hosts, strlen(hosts), "127.0.0.1"), "hosts: the address is no name");
	ok(!omx_hosts_has(hosts, strlen(hosts), "local"), "hosts: a prefix is no match");
	ok(!omx_hosts_has(hosts, strlen(hosts), ""), "hosts: the empty name");
	ok(!omx_hosts_has("", 0, "x"), "hosts: an empty file");
	{
		static const char aliases[] = "mail mapped.example\n  Other\tplain.example extra\nlonely\n";
		char out[64];

		ok(omx_hostalias(aliases, strlen(aliases), "mail", out, sizeof(out)) && strcmp(out, "mapped.example") == 0,
		   "HOSTALIASES: an alias gives its name");
		ok(omx_hostalias(aliases, strlen(aliases), "OTHER", out, sizeof(out)) && strcmp(out, "plain.example") == 0,
		   "HOSTALIASES: case-insensitive, leading blanks, extra words ignored");
		ok(!omx_hostalias(aliases, strlen(aliases), "lonely", out, sizeof(out)), "HOSTALIASES: an alias without a name");
		ok(!omx_hostalias(aliases, strlen(aliases), "mapped.example", out, sizeof(out)), "HOSTALIASES: a name is no alias");
		ok(!omx_hostalias(aliases, strlen(aliases), "mai", out, sizeof(out)), "HOSTALIASES: a prefix is no alias");
		ok(!omx_hostalias(aliases, strlen(aliases), "mail", out, 5), "HOSTALIASES: a name that does not fit");
	}
	{
		const char *many[] = { "d1", "d2", "d3", "d4", "d5", "d6", "d7", "d8", "d9", "d10", NULL };
		struct omx_search_iter it;
		struct omx_search_cand c;
		int n = 0, last_ok = 0;

		omx_search_begin(&it, "x", 1, ALL, many);
		while (omx_search_next(&it, &c)) {
			n++;
			last_ok = strcmp(c.name, "x") == 0 && c.role == OMX_SEARCH_AS_IS_LAST;
		}
		is_int(n, 11, "the iterator: every one of 10 search domains, then the name alone");
		ok(last_ok, "the name alone comes last");
	}
	{
		static const char conf[] = "nameserver 127.0.0.1\nsearch a.example b.example\n"
					   "options ndots:2\nsearch  c.example\td.example ; comment\n";
		static const char dom[] = "search a.example\ndomain z.example y.example\n";
		char buf[256];
		const char *list[8];

		is_int(omx_search_list_parse(conf, strlen(conf), 0, buf, sizeof(buf), list, 8), 2,
		       "resolv.conf: the last search line is the list");
		ok(strcmp(list[0], "c.example") == 0 && strcmp(list[1], "d.example") == 0 && !list[2],
		   "its domains, blanks and a comment handled");
		is_int(omx_search_list_parse(dom, strlen(dom), 0, buf, sizeof(buf), list, 8), 1,
		       "a later domain line replaces it, with one domain");
		is_str(list[0], "z.example", "the domain line's first word");
		is_int(omx_search_list_parse("e1 e2\te3", 8, 1, buf, sizeof(buf), list, 8), 3, "LOCALDOMAIN: blank-separated");
		is_int(omx_search_list_parse("e1 e2 e3", 8, 1, buf, sizeof(buf), list, 3), -1,
		       "more domains than there is room for: -1");
		is_int(omx_search_list_parse("e1 e2 e3", 8, 1, buf, 5, list, 8), -1, "more bytes than there is room for: -1");
		is_int(omx_search_list_parse("nameserver 1\n", 13, 0, buf, sizeof(buf), list, 8), 0, "no search line: none");
		ok(list[0] == NULL, "and the list is empty");
	}
	{
		/* A valid v3 label (the Tor Project's), and the same with one letter changed. */
		static const char good[] = "2gzyxa5ihm7nsggfxnu52rck2vv4rvmdlkiu3zzui5du4xyclen53wid";
		char name[160];

		snprintf(name, sizeof(name), "%s.onion.corp.example", good);
		ok(omx_search_names_onion(name), "X.onion.corp.example names an onion");
		snprintf(name, sizeof(name), "www.%s.ONION.example", good);
		ok(omx_search_names_onion(name), "under a subdomain and in upper case too");
		snprintf(name, sizeof(name), "%s.onion", good);
		ok(!omx_search_names_onion(name), "X.onion itself is an onion name, not a form of one");
		snprintf(name, sizeof(name), "%s.onion.", good);
		ok(!omx_search_names_onion(name), "nor X.onion. with its root dot");
		snprintf(name, sizeof(name), "%.55sa.onion.corp.example", good);
		ok(!omx_search_names_onion(name), "an invalid onion label (bad checksum): an ordinary name");
		ok(!omx_search_names_onion("www.onion.example"), "a short label before onion: an ordinary name");
		ok(!omx_search_names_onion("onion.example"), "onion as the first label: an ordinary name");
		snprintf(name, sizeof(name), "%s.onion.a", good);
		ok(omx_search_names_onion(name), "the shortest form, X.onion.a (64 characters), names an onion");
	}
	{
		/* omx_search_plan: which res_nsearch calls leave at once (PASS), which
		 * judge the name first and the list lazily (F: AS_IS_FIRST), which
		 * take the whole walk (W). Each "W" below must NOT leave at once: a
		 * candidate of it may be an onion (or a form of one), or the list
		 * comes before the name, or an alias may replace it. */
		const char *onion_dom[] = { "onion", NULL };
		const char *onion_dom_dot[] = { "corp.example", "ONION.", NULL };
		const char *onion_mid[] = { "onion.corp.example", NULL };
		const char *onion_sub[] = { "hidden.onion", NULL };
		const char *onionish[] = { "onions.example", "xonion", "oniony.example", NULL };
		const char *localdomain[4];
		char ldbuf[64];
		int ok_all = 1;

		is_int(omx_search_plan("plain.example", 0, 1, none, 0, NULL), OMX_PLAN_PASS,
		       "plan: A of a plain name, no search list: glibc's own lookup");
		is_int(omx_search_plan("plain.example", 0, 1, corp, 0, NULL), OMX_PLAN_PASS,
		       "plan: with a search list without onions too");
		is_int(omx_search_plan("plain", 0, 1, onionish, 0, NULL), OMX_PLAN_PASS,
		       "plan: 'onions', 'xonion', 'oniony' are no onion labels");
		is_int(omx_search_plan("x.onionx", 0, 1, NULL, 0, NULL), OMX_PLAN_PASS, "plan: nor is 'onionx'");
		is_int(omx_search_plan("x", 0, 1, onion_dom, 0, NULL), OMX_PLAN_WALK,
		       "plan: x with 'search onion' becomes x.onion: walked");
		is_int(omx_search_plan("x", 0, 1, onion_dom_dot, 0, NULL), OMX_PLAN_WALK,
		       "plan: a second search domain 'ONION.' (case, trailing dot): walked");
		is_int(omx_search_plan("x", 0, 1, onion_mid, 0, NULL), OMX_PLAN_WALK,
		       "plan: a search domain onion.corp.example (X.onion.corp.example forms): walked");
		is_int(omx_search_plan("x", 0, 1, onion_sub, 0, NULL), OMX_PLAN_WALK,
		       "plan: a search domain under .onion: walked");
		is_int(omx_search_plan("x.onion", 0, 1, none, 0, NULL), OMX_PLAN_WALK, "plan: an onion name: walked");
		is_int(omx_search_plan("x.ONION.", 0, 1, none, 0, NULL), OMX_PLAN_WALK,
		       "plan: an onion name in upper case with its trailing dot: walked");
		is_int(omx_search_plan("onion", 0, 1, none, 0, NULL), OMX_PLAN_WALK, "plan: 'onion' alone: walked");
		is_int(omx_search_plan("onion.", 0, 1, none, 0, NULL), OMX_PLAN_WALK, "plan: 'onion.': walked");
		is_int(omx_search_plan("x.onion", 1, 3, corp, 0, NULL), OMX_PLAN_WALK,
		       "plan: MX of an onion name with ndots 3 (its list forms come first): walked");
		is_int(omx_search_plan("x\\.y.example", 0, 1, none, 0, NULL), OMX_PLAN_WALK,
		       "plan: a name with an escape is read first: walked");
		is_int(omx_search_plan("plain.example", 0, 1, corp, 1, NULL), OMX_PLAN_WALK,
		       "plan: res_state's list full (it may go on in resolv.conf): walked");
		is_int(omx_search_plan("mail", 0, 1, none, 0, fake_env), OMX_PLAN_WALK,
		       "plan: A of a dotless name with $HOSTALIASES set (its alias may be an onion): walked");
		is_int(omx_search_plan("mail", 1, 0, none, 0, fake_env), OMX_PLAN_WALK,
		       "plan: MX of a dotless name with $HOSTALIASES set, even with ndots 0: walked");
		is_int(omx_search_plan("mail", 1, 0, none, 0, NULL), OMX_PLAN_AS_IS_FIRST,
		       "plan: (without $HOSTALIASES: the name first)");
		is_int(omx_search_plan("mail.example", 1, 1, none, 0, fake_env), OMX_PLAN_AS_IS_FIRST,
		       "plan: $HOSTALIASES does not apply to a dotted name");
		is_int(fake_env_calls, 2, "plan: $HOSTALIASES looked up for dotless names only");
		is_int(omx_search_list_parse("corp.example onion", 18, 1, ldbuf, sizeof(ldbuf), localdomain, 4), 2,
		       "LOCALDOMAIN='corp.example onion' parsed");
		is_int(omx_search_plan("x", 0, 1, localdomain, 0, NULL), OMX_PLAN_WALK,
		       "plan: LOCALDOMAIN with onion: walked");
		/* Questions the map answers (MX, SRV, A/AAAA in an MTA). */
		is_int(omx_search_plan("plain.example", 1, 1, none, 0, NULL), OMX_PLAN_AS_IS_FIRST,
		       "plan: MX of a dotted name, ndots 1: the name first");
		is_int(omx_search_plan("plain.example", 1, 1, corp, 0, NULL), OMX_PLAN_AS_IS_FIRST,
		       "plan: with a search list too (the list only if the name is not found)");
		is_int(omx_search_plan("mapped", 1, 1, corp, 0, NULL), OMX_PLAN_WALK,
		       "plan: MX of a dotless name: its search-list forms come first (a mapped domain through the list): walked");
		is_int(omx_search_plan("mapped", 1, 1, none, 0, NULL), OMX_PLAN_WALK,
		       "plan: and without a list too (glibc may reload one first)");
		is_int(omx_search_plan("mapped", 1, 0, corp, 0, NULL), OMX_PLAN_AS_IS_FIRST, "plan: ndots 0: the name first");
		is_int(omx_search_plan("a.b", 1, 2, corp, 0, NULL), OMX_PLAN_WALK, "plan: ndots 2 above the name's dots: walked");
		is_int(omx_search_plan("a.b.c", 1, 2, corp, 0, NULL), OMX_PLAN_AS_IS_FIRST, "plan: ndots 2, two dots: the name first");
		is_int(omx_search_plan("a.b.", 1, 3, corp, 0, NULL), OMX_PLAN_AS_IS_FIRST,
		       "plan: a trailing dot: the name alone, whatever ndots");
		is_int(omx_search_plan("a.", 1, 5, corp, 0, NULL), OMX_PLAN_AS_IS_FIRST, "plan: 'a.' too");
		is_int(omx_search_plan("x.onion.corp.example", 1, 1, corp, 0, NULL), OMX_PLAN_AS_IS_FIRST,
		       "plan: MX of a search-list form of an onion: judged first (answer_name makes it NXDOMAIN)");
		/* The plan against the candidates: AS_IS_FIRST only when glibc asks the
		 * name first; PASS only when no candidate is an onion name. */
		{
			char v3[80], v3_onion[90], v3_form[100];
			const char *names[] = { "a", "a.b", "a.b.c", "a.", "x.onion", "onion", "a.onion.b", "ONION",
						v3, v3_onion, v3_form, NULL };

			/* A valid v3 label: with 'search onion.corp.example' a form of an onion. */
			snprintf(v3, sizeof(v3), "%s", "2gzyxa5ihm7nsggfxnu52rck2vv4rvmdlkiu3zzui5du4xyclen53wid");
			snprintf(v3_onion, sizeof(v3_onion), "%s.onion", v3);
			snprintf(v3_form, sizeof(v3_form), "%s.onion.b", v3);
			const char *const *lists[] = { none, corp, onion_dom, onion_dom_dot, onion_mid, root, dotted, NULL };
			const unsigned opts[] = { ALL, OMX_SEARCH_DEFNAMES, 0, ALL | OMX_SEARCH_NOTLDQUERY };

			for (int ni = 0; names[ni]; ni++)
				for (int li = 0; lists[li]; li++)
					for (int nd = 0; nd <= 3; nd++)
						for (int oi = 0; oi < 4; oi++)
							for (int mt = 0; mt <= 1; mt++) {
								struct omx_search_cand c[OMX_SEARCH_MAX];
								int n = omx_search_candidates(names[ni], nd, opts[oi], lists[li], c);
								enum omx_search_plan p =
									omx_search_plan(names[ni], mt, nd, lists[li], 0, NULL);

								if (p == OMX_PLAN_AS_IS_FIRST && n > 0 &&
								    c[0].role != OMX_SEARCH_AS_IS_FIRST) {
									ok_all = 0;
									printf("# AS_IS_FIRST but %s, ndots %d: %s first\n",
									       names[ni], nd, c[0].name);
								}
								for (int i = 0; p == OMX_PLAN_PASS && i < n; i++)
									if (omx_onion_label(c[i].name, strlen(c[i].name), NULL) ||
									    (omx_search_names_onion(c[i].name) &&
									     !omx_search_names_onion(names[ni]))) {
										ok_all = 0;
										printf("# PASS but candidate %s\n", c[i].name);
									}
							}
			ok(ok_all, "plan: AS_IS_FIRST only when glibc asks the name first; PASS only when no candidate "
				   "is an onion name or (unless the name itself is) a search-list form of one");
		}
	}
	return done_testing();
}
