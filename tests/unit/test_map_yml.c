/* map.yml (the ehloonion/onionmx community list) translated into the native
 * map syntax line for line: the accepted YAML subset, merging of a domain
 * listed under several onions, invalid entries failing or skipped with -k
 * (FILE:LINE named), and everything outside the subset refused at its line. */
#include "map_yml.h"
#include "tap.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define A "jlcnr7pk5an7357hzo3d32jxr6ytyk62f2txo7xxhc6r24sqnyzeurad"
#define B "gfjol6tfchzdo3dfmd7b4g7l3u7qlr3hjbqxtolzbuxiblgyvmobjtid"
/* A typo of the Tor Project's onion that keeps the checksum: no ed25519 point. */
#define NOPOINT "23zyxa5ihm7nsggfxnu52rck2vv4rvmdlkiu3zzui5du4xyclen53wid"

static char reported[4096];

static void report(void *ctx, const char *msg)
{
	(void)ctx;
	snprintf(reported + strlen(reported), sizeof(reported) - strlen(reported), "%s\n", msg);
}

/* Translates TEXT; returns the translation (static) or NULL with ERR filled. */
static const char *tr(const char *text, int keep_going, unsigned *skipped, char *err, size_t errlen)
{
	static char copy[8192];
	char *out;
	size_t len;
	unsigned n = 0;

	reported[0] = '\0';
	err[0] = '\0';
	if (omx_map_yml_translate(text, strlen(text), "map.yml", keep_going, report, NULL, &out, &len,
				  &n, err, errlen) != 0)
		return NULL;
	snprintf(copy, sizeof(copy), "%.*s", (int)len, out);
	free(out);
	if (skipped)
		*skipped = n;
	return copy;
}

static void refused(const char *text, const char *want, const char *what)
{
	char err[1024];
	const char *got = tr(text, 1, NULL, err, sizeof(err));

	ok(got == NULL, "%s: refused even with -k", what);
	ok(strstr(err, want) != NULL, "%s: \"%s\" in: %s", what, want, err);
}

static void test_translation(void)
{
	char err[1024];
	unsigned skipped = 9;
	const char *got = tr("# comment\n"
			     "---\n"
			     "'" A ".onion':\n"
			     "  - 'example.org'\n"
			     "  - Example.NET   # a comment\n"
			     "\"" B ".onion\":\n"
			     "- \"example.org\"\n"
			     "  - 'o''brien.example'\n"
			     "'" A ".onion.':\n", 0, &skipped, err, sizeof(err));

	ok(got == NULL && strstr(err, "map.yml:8:") && strstr(err, "\"o'brien.example\""),
	   "'' in a quoted string is a quote (and o'brien no domain): %s", err);
	got = tr("# comment\r\n"
		 "---\r\n"
		 "'" A ".onion':\r\n"
		 "  - 'example.org'\r\n"
		 "  - Example.NET   # a comment\r\n"
		 "\"" B ".onion\":\r\n"
		 "- \"example.org\"\r\n"
		 "  - 'sub.example'\r\n"
		 B "x.onion: []\r\n", 1, &skipped, err, sizeof(err));
	ok(got != NULL && strstr(reported, "map.yml:9:") != NULL, "CRLF lines; a key of the wrong length skipped at its line: %s",
	   reported);
	got = tr("# comment\n"
		 "---\n"
		 "'" A ".onion':\n"
		 "  - 'example.org'\n"
		 "  - Example.NET   # a comment\n"
		 "\"" B ".onion\":\n"
		 "- \"example.org\"\n"
		 "  - 'sub.example'\n"
		 "'" NOPOINT ".onion': ~\n"
		 "\n", 0, &skipped, err, sizeof(err));
	ok(got == NULL && strstr(err, "map.yml:9:") && strstr(err, "ed25519"),
	   "a key Tor refuses fails at its line: %s", err);
	got = tr("# comment\n"
		 "---\n"
		 "'" A ".onion':\n"
		 "  - 'example.org'\n"
		 "  - Example.NET   # a comment\n"
		 "\"" B ".onion\":\n"
		 "- \"example.org\"\n"
		 "  - 'sub.example'\n"
		 "emptyxxxxxxxxxxx.onion: []\n", 1, &skipped, err, sizeof(err));
	is_str(got, "\n\n\nexample.org " A ".onion " B ".onion\nexample.net " A ".onion\n\n\n"
		    "sub.example " B ".onion\n",
	       "translated line for line; a domain under two onions gets both, in order");
	is_int(skipped, 1, "one invalid entry skipped (the v2 key)");
	ok(strstr(reported, "map.yml:9: \"emptyxxxxxxxxxxx.onion\": v2") != NULL, "reported: %s",
	   reported);
}

static void test_bom(void)
{
	char err[1024];
	unsigned skipped = 9;
	const char *got = tr("\xef\xbb\xbf'" A ".onion':\n  - a.example\n", 1, &skipped, err, sizeof(err));

	is_str(got, "\na.example " A ".onion\n", "a UTF-8 byte order mark is skipped");
	is_int(skipped, 0, "and costs no entry");
}

static void test_invalid_entries(void)
{
	static const char text[] = "---\n"
				   "'abcdefghijklmnop.onion':\n"              /* 2: v2 */
				   "  - 'old.example'\n"
				   "'" A ".onion':\n"                         /* 4 */
				   "  - 'good.example'\n"
				   "  - 'bad domain.example'\n"               /* 6 */
				   "'" NOPOINT ".onion':\n"                   /* 7: not a point */
				   "  - 'typo.example'\n"
				   "'" B "aa.onion':\n";                       /* 9: length */
	char err[1024], badsum[] = "'" A ".onion':\n  - x.example\n";
	unsigned skipped;
	const char *got;

	got = tr(text, 0, NULL, err, sizeof(err));
	ok(got == NULL && strstr(err, "map.yml:2:") && strstr(err, "v2"), "without -k: fails at the v2 key: %s", err);
	got = tr(text, 1, &skipped, err, sizeof(err));
	is_str(got, "\n\n\n\ngood.example " A ".onion\n", "with -k: the rest compiled");
	is_int(skipped, 4, "four invalid entries skipped");
	ok(strstr(reported, "map.yml:2:") && strstr(reported, "map.yml:6:") &&
	   strstr(reported, "map.yml:7:") && strstr(reported, "map.yml:9:"),
	   "each named by its line:\n%s", reported);
	ok(strstr(reported, "not a valid ed25519 point") != NULL, "the key's reason named");
	/* A changed character: the checksum catches it. */
	badsum[3] = badsum[3] == 'a' ? 'b' : 'a';
	got = tr(badsum, 0, NULL, err, sizeof(err));
	ok(got == NULL && strstr(err, "map.yml:1:") && strstr(err, "checksum"), "bad checksum: %s", err);
}

static void test_outside_subset(void)
{
	refused("'" A ".onion':\n\t- a.example\n", "map.yml:2: tab", "tab indentation");
	refused("'" A ".onion':\n  - a.example: 1\n", "map.yml:2:", "a mapping in the list");
	refused("'" A ".onion': [a.example]\n", "map.yml:1:", "a flow list with items");
	refused("'" A ".onion':\n  - &x a.example\n", "map.yml:2:", "an anchor");
	refused("- a.example\n", "map.yml:1: a list item before", "a list before any key");
	refused("'" A ".onion':\n  - 'a.example\n", "map.yml:2: unterminated", "an open quote");
	refused("---\n'" A ".onion':\n---\n", "map.yml:3: a second YAML document", "two documents");
	refused("'" A ".onion':\n  other: x\n", "map.yml:2: an indented line", "a nested mapping");
	refused("'" A ".onion':\n  - \"a\\x.example\"\n", "map.yml:2: escape", "an escape");
	refused("'" A ".onion' 'x':\n", "map.yml:1:", "junk after a key");
	refused("'" A ".onion':\n'" A ".onion':\n", "map.yml:2: duplicate key", "a duplicate key");
	refused("'" A ".onion':\n  -\n", "map.yml:2: an empty list item", "an empty item");
	{
		char err[256];
		const char nul[] = "'" A ".onion':\n  - a\0.example\n";
		char *out;
		size_t len;

		ok(omx_map_yml_translate(nul, sizeof(nul) - 1, "map.yml", 1, NULL, NULL, &out, &len,
					 NULL, err, sizeof(err)) != 0 && strstr(err, "map.yml:2: NUL"),
		   "a NUL byte: %s", err);
	}
}

int main(void)
{
	test_translation();
	test_bom();
	test_invalid_entries();
	test_outside_subset();
	ok(omx_map_yml_path("map.yml") && omx_map_yml_path("x/list.yaml") &&
	   !omx_map_yml_path("domains") && !omx_map_yml_path(".yml"), "names by extension");
	return done_testing();
}
