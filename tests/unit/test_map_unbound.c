/* The compiled map as an unbound include (onionmx-map -u): the addresses are the
 * ones the library's lookups give, exact entries are typetransparent MX data,
 * ".P" entries redirect zones, tombstones and damage are never written, a
 * conflict unbound cannot express is an error, and the file is replaced
 * atomically. */
#include "map.h"
#include "map_unbound.h"
#include "ed25519.h"
#include "onion.h"
#include "sha3.h"
#include "tap.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static char dir[] = "/tmp/omx-test-unbound.XXXXXX";

static void onion(const char *seed, char out[OMX_ONION_LABEL_LEN + 1])
{
	uint8_t hash[32], key[32];

	omx_sha3_256(seed, strlen(seed), hash);
	omx_ed25519_base_mult(hash, key); /* a key Tor accepts, as onionmx-map wants */
	omx_onion_from_pubkey(key, out);
}

/* Compiles TEXT as DIR/NAME into DIR/NAME.cdb at time WHEN and opens it into MAP. */
static int build(const char *name, const char *text, int64_t when, struct omx_map *map)
{
	char src[512], out[512], err[512];
	size_t nd, no;
	FILE *f;
	int fd, rc;

	snprintf(src, sizeof(src), "%s/%s", dir, name);
	snprintf(out, sizeof(out), "%s/%s.cdb", dir, name);
	if (!(f = fopen(src, "w")) || fputs(text, f) < 0 || fclose(f) != 0)
		return -1;
	if (omx_map_compile_at(src, out, NULL, when, &nd, &no, err, sizeof(err)) != 0) {
		printf("# compile: %s\n", err);
		return -1;
	}
	if ((fd = open(out, O_RDONLY)) < 0)
		return -1;
	rc = omx_map_open_fd(map, fd, out, err, sizeof(err));
	close(fd);
	return rc;
}

/* The include for MAP in a malloc'd string (NULL on failure, with ERR); warnings
 * into *WARNINGS (malloc'd). */
static char *render(const struct omx_map *map, char **warnings, char *err, size_t errlen)
{
	char *text = NULL, *wtext = NULL;
	size_t len = 0, wlen = 0;
	FILE *out = open_memstream(&text, &len), *warn = open_memstream(&wtext, &wlen);
	int rc = omx_map_write_unbound(map, "test.cdb", out, warn, err, errlen);

	fclose(out);
	fclose(warn);
	if (warnings)
		*warnings = wtext;
	else
		free(wtext);
	if (rc != 0) {
		free(text);
		return NULL;
	}
	return text;
}

static unsigned count(const char *text, const char *needle)
{
	unsigned n = 0;

	for (const char *p = text; p && (p = strstr(p, needle)); p += strlen(needle))
		n++;
	return n;
}

/* The two lines the include must carry for onion LABEL: its synthetic address
 * as the library finds it. */
static void check_onion(const struct omx_map *map, const char *text, const char *label,
			const char *what)
{
	uint32_t addr = 0;
	struct in_addr in;
	char a[INET_ADDRSTRLEN], line[256];

	ok(omx_map_onion_addr(map, label, OMX_ONION_LABEL_LEN, &addr) == 1, "%s: in the map", what);
	in.s_addr = htonl(addr);
	inet_ntop(AF_INET, &in, a, sizeof(a));
	snprintf(line, sizeof(line), "\tlocal-zone: \"%s.onion.\" redirect\n", label);
	is_int(count(text, line), 1, "%s: one redirect zone (the onion and names below it)", what);
	snprintf(line, sizeof(line), "\tlocal-data: \"%s.onion. 60 IN A %s\"\n", label, a);
	is_int(count(text, line), 1, "%s: A is the library's synthetic address %s", what, a);
	snprintf(line, sizeof(line), "\tlocal-data: \"%s.onion. 60 IN AAAA ::ffff:%s\"\n", label, a);
	is_int(count(text, line), 1, "%s: AAAA is the same, v4-mapped, as the library answers", what);
}

static void test_contents(void)
{
	char o1[57], o2[57], o3[57], text[2048], line[256], err[512], *inc, *warn = NULL;
	struct omx_map map;

	onion("one", o1);
	onion("two", o2);
	onion("three", o3);
	snprintf(text, sizeof(text),
		 "mapped.example %s.onion %s.onion:2525\n"
		 ".wild.example %s.onion\n"
		 "both.example %s.onion\n"
		 ".both.example %s.onion\n"
		 "inner.wild.example %s.onion:2525\n",
		 o1, o2, o3, o1, o1, o2);
	if (!ok(build("contents", text, time(NULL), &map) == 0, "map compiled and opened"))
		return;
	inc = render(&map, &warn, err, sizeof(err));
	if (!ok(inc != NULL, "include written")) {
		printf("# %s\n", err);
		return;
	}
	ok(strstr(inc, "\nserver:\n") != NULL, "a server: clause (a conf.d file of its own)");
	is_int(count(inc, "\tlocal-zone: \"onion.\" static\n"), 1,
	       "the rest of .onion: a static zone (NXDOMAIN, nothing sent upstream)");
	ok(strstr(inc, "\tlocal-data: \"onion. 10800 IN SOA "), "with an SOA for negative answers");
	check_onion(&map, inc, o1, "onion 1");
	check_onion(&map, inc, o2, "onion 2");
	check_onion(&map, inc, o3, "onion 3");
	is_int(count(inc, "IN A 2"), 3, "one A per onion, nothing else");

	is_int(count(inc, "\tlocal-zone: \"mapped.example.\" typetransparent\n"), 1,
	       "an exact entry: typetransparent (its A, TXT ... resolve normally)");
	snprintf(line, sizeof(line), "\tlocal-data: \"mapped.example. 60 IN MX 10 %s.onion.\"\n"
		 "\tlocal-data: \"mapped.example. 60 IN MX 20 %s.onion.\"\n", o1, o2);
	ok(strstr(inc, line) != NULL, "its MX: the onions in map order, preferences 10, 20 (no port)");
	is_int(count(inc, "\tlocal-zone: \"wild.example.\" redirect\n"), 1,
	       ".wild.example: a redirect zone (every name below answers with its MX)");
	snprintf(line, sizeof(line), "\tlocal-data: \"wild.example. 60 IN MX 10 %s.onion.\"\n", o3);
	is_int(count(inc, line), 1, ".wild.example: its onion's MX at the zone's apex");
	is_int(count(inc, "\"both.example."), 2, "both.example and .both.example: one zone, one MX");
	is_int(count(inc, "\tlocal-zone: \"both.example.\" redirect\n"), 1, "... a redirect zone");
	is_int(count(inc, "\tlocal-zone: \"inner.wild.example.\" typetransparent\n"), 1,
	       "an exact entry under a subdomain entry: its own zone, more specific");
	ok(warn && strstr(warn, ".wild.example: unbound answers wild.example's own MX"),
	   "warned: .wild.example without wild.example also covers wild.example in unbound");
	ok(warn && strstr(warn, "inner.wild.example: names below it are covered by .wild.example"),
	   "warned: names below inner.wild.example resolve normally in unbound");
	ok(warn && !strstr(warn, "both.example"), "no warning for both.example listed both ways");
	free(inc);
	free(warn);
	omx_map_close(&map);
}

static void test_tombstone(void)
{
	char o1[57], o2[57], text[512], err[512], *inc;
	struct omx_map map;
	int64_t t0 = time(NULL);

	onion("keep", o1);
	onion("gone", o2);
	snprintf(text, sizeof(text), "a.example %s.onion\nb.example %s.onion\n", o1, o2);
	if (!ok(build("tomb", text, t0, &map) == 0, "tombstone: first map"))
		return;
	omx_map_close(&map);
	snprintf(text, sizeof(text), "a.example %s.onion\n", o1);
	if (!ok(build("tomb", text, t0 + 60, &map) == 0, "tombstone: rebuilt without b.example"))
		return;
	inc = render(&map, NULL, err, sizeof(err));
	ok(inc && strstr(inc, o1), "tombstone: the onion kept is answered");
	ok(inc && !strstr(inc, o2), "tombstone: the removed onion is not (NXDOMAIN in .onion)");
	ok(inc && !strstr(inc, "b.example"), "tombstone: nor its domain");
	free(inc);
	omx_map_close(&map);
}

static int file_count(void)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;

	while (d && (e = readdir(d)))
		n += e->d_name[0] != '.';
	if (d)
		closedir(d);
	return n;
}

static void test_file(void)
{
	char o1[57], o2[57], text[512], err[512], conf[512], *inc, *got;
	struct omx_map map;
	struct stat st;
	size_t len = 0;
	FILE *f;
	int before;

	onion("file-1", o1);
	onion("file-2", o2);
	snprintf(conf, sizeof(conf), "%s/onionmx.conf", dir);
	snprintf(text, sizeof(text), "f.example %s.onion\n", o1);
	if (!ok(build("file", text, time(NULL), &map) == 0, "file: map"))
		return;
	is_int(omx_map_unbound_file(&map, "test.cdb", conf, NULL, err, sizeof(err)), 0,
	       "file: written");
	inc = render(&map, NULL, err, sizeof(err));
	f = fopen(conf, "r");
	got = malloc(65536);
	len = f && got ? fread(got, 1, 65535, f) : 0;
	if (got)
		got[len] = '\0';
	if (f)
		fclose(f);
	ok(inc && got && strcmp(inc, got) == 0, "file: holds the include");
	ok(stat(conf, &st) == 0 && (st.st_mode & 07777) == 0644, "file: mode 0644 (unbound reads it)");
	free(inc);
	omx_map_close(&map);

	/* A map unbound cannot express: the file stays as it was, no temporary left. */
	snprintf(text, sizeof(text), "f.example %s.onion\n.f.example %s.onion\n", o1, o2);
	if (!ok(build("file", text, time(NULL), &map) == 0, "conflict: map (the library takes it)"))
		return;
	before = file_count();
	is_int(omx_map_unbound_file(&map, "test.cdb", conf, NULL, err, sizeof(err)), -1,
	       "conflict: f.example and .f.example with different onions refused");
	ok(strstr(err, "f.example and .f.example list different onions") != NULL,
	   "conflict: the error names both entries");
	f = fopen(conf, "r");
	inc = malloc(65536);
	len = f && inc ? fread(inc, 1, 65535, f) : 0;
	if (inc)
		inc[len] = '\0';
	if (f)
		fclose(f);
	ok(inc && got && strcmp(inc, got) == 0, "conflict: the previous include is left unchanged");
	is_int(file_count(), before, "conflict: no temporary file left behind");
	free(inc);
	free(got);
	omx_map_close(&map);
}

/* A record damaged after the map was opened: the walk's check refuses it. */
static void test_damage(void)
{
	char o1[57], text[512], err[512], path[512], *inc;
	struct omx_map map;
	size_t size, at;
	unsigned char *mem;
	FILE *f;

	onion("damage", o1);
	snprintf(text, sizeof(text), "d.example %s.onion\n", o1);
	if (!ok(build("damage", text, time(NULL), &map) == 0, "damage: map"))
		return;
	omx_map_close(&map);
	snprintf(path, sizeof(path), "%s/damage.cdb", dir);
	f = fopen(path, "r+b");
	mem = malloc(1 << 20);
	size = f && mem ? fread(mem, 1, 1 << 20, f) : 0;
	/* Change one letter of the domain inside its record. */
	for (at = 2048; at + 9 < size && memcmp(mem + at, "d:d.example", 11) != 0; at++)
		;
	if (!ok(f && at + 9 < size, "damage: record found")) {
		free(mem);
		if (f)
			fclose(f);
		return;
	}
	fseek(f, (long)(at + 2), SEEK_SET);
	fputc('e', f);
	fclose(f);
	free(mem);
	{
		int fd = open(path, O_RDONLY);
		ok(fd >= 0 && omx_map_open_fd(&map, fd, path, err, sizeof(err)) == 0,
		   "damage: still opens (open checks only the header and table of contents)");
		if (fd >= 0)
			close(fd);
	}
	inc = render(&map, NULL, err, sizeof(err));
	ok(inc == NULL, "damage: nothing written");
	ok(strstr(err, "damaged") != NULL, "damage: the error says damaged (%s)", err);
	free(inc);
	omx_map_close(&map);
}

static int cleanup(void)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char path[512];

	while (d && (e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		unlink(path);
	}
	if (d)
		closedir(d);
	return rmdir(dir);
}

int main(void)
{
	if (!mkdtemp(dir)) {
		ok(0, "mkdtemp");
		return done_testing();
	}
	test_contents();
	test_tombstone();
	test_file();
	test_damage();
	ok(cleanup() == 0, "temporary directory removed");
	return done_testing();
}
