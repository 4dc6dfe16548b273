/* The domain -> onion map: source-line parsing, synthetic address ranges and
 * candidates, compiling to cdb and reading it back (exact and ".parent" lookups,
 * onion <-> address both ways), address uniqueness on a large map, atomic
 * compile errors, line-order independence, and refusing files that are not
 * onionmx maps. */
#include "map.h"
#include "onion.h"
#include "sha3.h"
#include "ed25519.h"
#include "tap.h"

#include <cdb.h>
#include <ctype.h>
#include <endian.h>
#include <dirent.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static char dir[] = "/tmp/omx-test-map.XXXXXX";

/* The I-th test onion: [hash]B as the public key, a key Tor accepts. */
static void onion(const char *seed, unsigned i, char out[OMX_ONION_LABEL_LEN + 1])
{
	char in[128];
	uint8_t hash[32], key[32];

	snprintf(in, sizeof(in), "%s/%u", seed, i);
	omx_sha3_256(in, strlen(in), hash);
	omx_ed25519_base_mult(hash, key); /* a key Tor accepts, as onionmx-map wants */
	omx_onion_from_pubkey(key, out);
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* DIR/NAME into BUF. */
static const char *path_of(char *buf, size_t size, const char *name)
{
	snprintf(buf, size, "%s/%s", dir, name);
	return buf;
}

static int write_bytes(const char *path, const void *data, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	int rc = 0;

	if (fd < 0)
		return -1;
	if (write(fd, data, len) != (ssize_t)len)
		rc = -1;
	if (close(fd) != 0)
		rc = -1;
	return rc;
}

/* Reads a whole file into a malloc'd buffer (NULL on error). */
static char *read_bytes(const char *path, size_t *len)
{
	struct stat st;
	char *buf;
	int fd = open(path, O_RDONLY);

	if (fd < 0)
		return NULL;
	if (fstat(fd, &st) != 0 || !(buf = malloc((size_t)st.st_size + 1))) {
		close(fd);
		return NULL;
	}
	if (read(fd, buf, (size_t)st.st_size) != st.st_size) {
		free(buf);
		close(fd);
		return NULL;
	}
	close(fd);
	*len = (size_t)st.st_size;
	return buf;
}

/* Writes TEXT to DIR/NAME.src and compiles it to DIR/NAME.cdb (OUT receives that
 * path) as if at time WHEN. Returns omx_map_compile_at's result. */
static int compile_text_at(const char *name, const char *text, const char *range, int64_t when,
			   char *out, size_t outlen, size_t *nd, size_t *no, char *err, size_t errlen)
{
	char src[4096], file[256];
	size_t d, o;

	snprintf(file, sizeof(file), "%s.src", name);
	path_of(src, sizeof(src), file);
	snprintf(file, sizeof(file), "%s.cdb", name);
	path_of(out, outlen, file);
	if (write_bytes(src, text, strlen(text)) != 0)
		return -2;
	err[0] = '\0';
	return omx_map_compile_at(src, out, range, when, nd ? nd : &d, no ? no : &o, err, errlen);
}

/* The same at the present time. */
static int compile_text(const char *name, const char *text, const char *range, char *out,
			size_t outlen, size_t *nd, size_t *no, char *err, size_t errlen)
{
	return compile_text_at(name, text, range, (int64_t)time(NULL), out, outlen, nd, no, err,
			       errlen);
}

/* Opens a compiled map at PATH; the descriptor is closed at once, as the contract
 * allows. */
static int open_map(const char *path, struct omx_map *map, char *err, size_t errlen)
{
	int fd = open(path, O_RDONLY), rc;

	if (fd < 0) {
		snprintf(err, errlen, "%s: cannot open", path);
		return -1;
	}
	rc = omx_map_open_fd(map, fd, path, err, errlen);
	close(fd);
	return rc;
}

/* --- omx_map_parse_line --- */

static int parse(const char *line, char domain[256], struct omx_target t[OMX_MAP_MAX_TARGETS],
		 int *n, char *err, size_t errlen)
{
	err[0] = '\0';
	return omx_map_parse_line(line, strlen(line), domain, t, n, err, errlen);
}

/* LINE must be rejected with NEEDLE (if any) in the message. */
static void parse_fails(const char *line, const char *needle, const char *what)
{
	char domain[256], err[512];
	struct omx_target t[OMX_MAP_MAX_TARGETS];
	int n;

	is_int(parse(line, domain, t, &n, err, sizeof(err)), -1, "parse_line rejects %s", what);
	if (!ok(err[0] != '\0', "%s: has a message", what))
		return;
	if (needle && !ok(strstr(err, needle) != NULL, "%s: message mentions \"%s\"", what, needle))
		printf("#   message: %s\n", err);
}

static void test_parse_line(void)
{
	char o1[57], o2[57], o3[57], up[57], bad[57];
	char line[8192], domain[256], err[512];
	struct omx_target t[OMX_MAP_MAX_TARGETS];
	int n;

	onion("parse", 1, o1);
	onion("parse", 2, o2);
	onion("parse", 3, o3);

	snprintf(line, sizeof(line), "example.org %s.onion", o1);
	is_int(parse(line, domain, t, &n, err, sizeof(err)), 1, "one target");
	is_str(domain, "example.org", "domain");
	is_int(n, 1, "one target counted");
	is_str(t[0].onion, o1, "target label without .onion");
	is_int(t[0].port, 0, "no port: 0");

	snprintf(line, sizeof(line), "  mail.example.net\t%s.onion:2525   %s.onion \t%s.onion:25\r",
		 o1, o2, o3);
	is_int(parse(line, domain, t, &n, err, sizeof(err)), 1, "three targets, tabs, CR");
	is_str(domain, "mail.example.net", "domain with leading blanks");
	is_int(n, 3, "three targets counted");
	ok(strcmp(t[0].onion, o1) == 0 && strcmp(t[1].onion, o2) == 0 &&
	   strcmp(t[2].onion, o3) == 0, "targets in the listed order");
	ok(t[0].port == 2525 && t[1].port == 0 && t[2].port == 25, "ports 2525, none, 25");

	snprintf(line, sizeof(line), "example.org %s.onion:65535", o1);
	is_int(parse(line, domain, t, &n, err, sizeof(err)), 1, "port 65535");
	is_int(t[0].port, 65535, "port 65535 stored");
	snprintf(line, sizeof(line), "example.org %s.onion:1", o1);
	is_int(parse(line, domain, t, &n, err, sizeof(err)), 1, "port 1");
	is_int(t[0].port, 1, "port 1 stored");

	snprintf(line, sizeof(line), ".example.org %s.onion", o2);
	is_int(parse(line, domain, t, &n, err, sizeof(err)), 1, "wildcard entry");
	is_str(domain, ".example.org", "wildcard keeps its leading dot");

	for (int i = 0; i < 57; i++)
		up[i] = (char)(o3[i] >= 'a' && o3[i] <= 'z' ? o3[i] - 'a' + 'A' : o3[i]);
	snprintf(line, sizeof(line), "Mail.EXAMPLE.Org. %s.ONION", up);
	is_int(parse(line, domain, t, &n, err, sizeof(err)), 1, "upper case and trailing dot");
	is_str(domain, "mail.example.org", "domain lower-cased, trailing dot removed");
	is_str(t[0].onion, o3, "upper-case onion lower-cased");

	snprintf(line, sizeof(line), ".Example.ORG. %s.onion", o1);
	is_int(parse(line, domain, t, &n, err, sizeof(err)), 1, "wildcard, upper case, dot");
	is_str(domain, ".example.org", "wildcard normalised");

	snprintf(line, sizeof(line), "my_host-1.example.org %s.onion # the MX", o1);
	is_int(parse(line, domain, t, &n, err, sizeof(err)), 1, "'_' and '-', trailing comment");
	is_str(domain, "my_host-1.example.org", "domain with '_' and '-'");
	is_int(n, 1, "comment not taken as a target");

	is_int(parse("# example.org nothing", domain, t, &n, err, sizeof(err)), 0, "comment line");
	is_int(parse("   # indented comment", domain, t, &n, err, sizeof(err)), 0, "indented comment");
	is_int(parse("", domain, t, &n, err, sizeof(err)), 0, "empty line");
	is_int(parse(" \t \r", domain, t, &n, err, sizeof(err)), 0, "blank line");

	/* 16 targets: the maximum. */
	{
		size_t len = (size_t)snprintf(line, sizeof(line), "many.example.org");
		char o[57];

		for (unsigned i = 0; i < OMX_MAP_MAX_TARGETS; i++) {
			onion("many", i, o);
			len += (size_t)snprintf(line + len, sizeof(line) - len, " %s.onion", o);
		}
		is_int(parse(line, domain, t, &n, err, sizeof(err)), 1, "16 targets accepted");
		is_int(n, 16, "16 targets counted");
		onion("many", 15, o);
		is_str(t[15].onion, o, "16th target");
		onion("many", 16, o);
		snprintf(line + len, sizeof(line) - len, " %s.onion", o);
		parse_fails(line, "16", "17 targets");
	}

	/* Length limits: 63-character labels and 253-character names are fine. */
	{
		char name[300];

		memset(name, 'a', 63);
		snprintf(name + 63, sizeof(name) - 63, ".example.org");
		snprintf(line, sizeof(line), "%s %s.onion", name, o1);
		is_int(parse(line, domain, t, &n, err, sizeof(err)), 1, "63-character label");
		memset(name, 'a', 64);
		snprintf(name + 64, sizeof(name) - 64, ".example.org");
		snprintf(line, sizeof(line), "%s %s.onion", name, o1);
		parse_fails(line, "63", "64-character label");

		/* 63+1+63+1+63+1+61 = 253 */
		memset(name, 'b', 253);
		name[63] = name[127] = name[191] = '.';
		name[253] = '\0';
		snprintf(line, sizeof(line), "%s %s.onion", name, o1);
		is_int(parse(line, domain, t, &n, err, sizeof(err)), 1, "253-character domain");
		is_int(strlen(domain), 253, "253-character domain kept whole");
		snprintf(line, sizeof(line), "%s. %s.onion", name, o1);
		is_int(parse(line, domain, t, &n, err, sizeof(err)), 1, "253 characters + trailing dot");
		snprintf(line, sizeof(line), ".%s %s.onion", name, o1);
		is_int(parse(line, domain, t, &n, err, sizeof(err)), 1, "wildcard of a 253-character domain");
		name[253] = 'b';
		name[254] = '\0';
		snprintf(line, sizeof(line), "%s %s.onion", name, o1);
		parse_fails(line, "253", "254-character domain");
		memset(name, 'c', 299);
		name[299] = '\0';
		for (int i = 50; i < 299; i += 50)
			name[i] = '.';
		snprintf(line, sizeof(line), "%s %s.onion", name, o1);
		parse_fails(line, "253", "299-character domain");
	}

	/* Errors. */
	memcpy(bad, o1, sizeof(bad));
	bad[0] = bad[0] == 'a' ? 'b' : 'a'; /* changes the key: checksum no longer matches */
	snprintf(line, sizeof(line), "example.org %s.onion", bad);
	parse_fails(line, "checksum", "a bad onion checksum");
	/* A typo of the Tor Project's onion that keeps the checksum: its key is no
	 * ed25519 point, Tor would answer 0xF6. */
	parse_fails("example.org 23zyxa5ihm7nsggfxnu52rck2vv4rvmdlkiu3zzui5du4xyclen53wid.onion",
		    "not a valid ed25519 point: Tor would refuse it", "a key that is not a point");
	parse_fails("example.org expyuzz4wqqyqhjn.onion", "0.4.6", "a v2 onion");
	snprintf(line, sizeof(line), "example.org %s.onion:0", o1);
	parse_fails(line, NULL, "port 0");
	snprintf(line, sizeof(line), "example.org %s.onion:65536", o1);
	parse_fails(line, NULL, "port 65536");
	snprintf(line, sizeof(line), "example.org %s.onion:abc", o1);
	parse_fails(line, "abc", "port abc");
	snprintf(line, sizeof(line), "example.org %s.onion:", o1);
	parse_fails(line, NULL, "empty port");
	snprintf(line, sizeof(line), "example.org %s.onion:123456", o1);
	parse_fails(line, NULL, "six-digit port");
	snprintf(line, sizeof(line), "exa$mple.org %s.onion", o1);
	parse_fails(line, "exa$mple.org", "a domain with '$'");
	snprintf(line, sizeof(line), "exa/mple.org %s.onion", o1);
	parse_fails(line, NULL, "a domain with '/'");
	snprintf(line, sizeof(line), "a..example.org %s.onion", o1);
	parse_fails(line, NULL, "a domain with an empty label");
	snprintf(line, sizeof(line), ". %s.onion", o1);
	parse_fails(line, NULL, "the root as a domain");
	snprintf(line, sizeof(line), "%s.onion %s.onion", o2, o1);
	parse_fails(line, "onion", "a domain that is itself an onion");
	snprintf(line, sizeof(line), "mail.%s.onion %s.onion", o2, o1);
	parse_fails(line, "onion", "a subdomain of an onion as domain");
	snprintf(line, sizeof(line), "example.org %s.onion %s.onion %s.onion:25", o1, o2, o1);
	parse_fails(line, o1, "the same onion twice on a line");
	/* UP is O3 in upper case. */
	snprintf(line, sizeof(line), "example.org %s.onion %s.onion %s.onion", o3, o1, up);
	parse_fails(line, NULL, "the same onion twice in different case");
	parse_fails("example.org", "example.org", "a domain with no target");
	parse_fails("example.org   # mx.onion", "example.org", "a domain with only a comment");
	parse_fails("example.org mail.example.net", NULL, "a target that is not an onion");
	snprintf(line, sizeof(line), "example.org www.%s.onion", o1);
	parse_fails(line, NULL, "a target that is a subdomain of an onion");
	snprintf(line, sizeof(line), "example.org %s", o1);
	parse_fails(line, NULL, "a target without .onion");
	snprintf(line, sizeof(line), "example.org %.55s.onion", o1);
	parse_fails(line, NULL, "a 55-character onion");

	/* A NUL byte within LEN. */
	{
		char nul[200];
		int len = snprintf(nul, sizeof(nul), "exam#ple.org %s.onion", o1);

		nul[4] = '\0';
		is_int(omx_map_parse_line(nul, (size_t)len, domain, t, &n, err, sizeof(err)), -1,
		       "NUL byte inside the line rejected");
	}
}

/* --- ranges and candidates --- */

static void test_range(void)
{
	uint32_t net = 1, mask = 1;

	is_int(omx_parse_range("240.0.0.0/4", &net, &mask), 0, "240.0.0.0/4 accepted");
	ok(net == 0xf0000000u && mask == 0xf0000000u, "240.0.0.0/4: net and mask");
	is_int(omx_parse_range(OMX_DEFAULT_RANGE, &net, &mask), 0, "default range accepted");
	is_int(omx_parse_range("10.0.0.0/8", &net, &mask), 0, "10.0.0.0/8 accepted");
	ok(net == 0x0a000000u && mask == 0xff000000u, "10.0.0.0/8: net and mask");
	is_int(omx_parse_range("192.168.7.0/24", &net, &mask), 0, "/24 accepted");
	ok(net == 0xc0a80700u && mask == 0xffffff00u, "/24: net and mask");
	{
		uint32_t n1, m1, n2, m2;
		omx_parse_range(OMX_DEFAULT_RANGE, &n1, &m1);
		omx_parse_range("248.0.0.0/8", &n2, &m2);
		ok(!omx_ranges_overlap(n1, m1, n2, m2), "default map range and discovery range are apart");
		omx_parse_range("240.0.0.0/4", &n1, &m1);
		ok(omx_ranges_overlap(n1, m1, n2, m2), "240.0.0.0/4 contains 248.0.0.0/8");
		ok(omx_ranges_overlap(n2, m2, n1, m1), "overlap is symmetric");
		omx_parse_range("248.128.0.0/9", &n1, &m1);
		ok(omx_ranges_overlap(n1, m1, n2, m2), "a /9 inside the /8 overlaps");
		omx_parse_range("249.0.0.0/8", &n1, &m1);
		ok(!omx_ranges_overlap(n1, m1, n2, m2), "neighbouring /8s do not");
	}
	is_int(omx_parse_range("240.0.0.1/4", &net, &mask), -1, "host bits set rejected");
	is_int(omx_parse_range("10.0.0.0/3", &net, &mask), -1, "/3 rejected");
	is_int(omx_parse_range("0.0.0.0/3", &net, &mask), -1, "0.0.0.0/3 rejected");
	is_int(omx_parse_range("10.0.0.0/25", &net, &mask), -1, "/25 rejected");
	is_int(omx_parse_range("10.0.0.0/32", &net, &mask), -1, "/32 rejected");
	is_int(omx_parse_range("10.0.0.0", &net, &mask), -1, "no prefix rejected");
	is_int(omx_parse_range("10.0.0.0/", &net, &mask), -1, "empty prefix rejected");
	is_int(omx_parse_range("10.0.0.0/8x", &net, &mask), -1, "prefix with junk rejected");
	is_int(omx_parse_range("10.0.0/8", &net, &mask), -1, "three-octet address rejected");
	is_int(omx_parse_range("example/8", &net, &mask), -1, "name rejected");
	is_int(omx_parse_range("/8", &net, &mask), -1, "no address rejected");
	is_int(omx_parse_range("255.255.255.255.255/8", &net, &mask), -1, "long address rejected");
}

static void test_candidates(void)
{
	static const char *const ranges[] = { "240.0.0.0/4", "10.0.0.0/8", "172.16.0.0/12",
					      "192.168.7.0/24", "100.64.0.0/23" };
	int outside = 0, edge = 0, nondet = 0, same_next = 0, tried = 0;

	for (size_t r = 0; r < sizeof(ranges) / sizeof(ranges[0]); r++) {
		uint32_t net, mask;

		if (!ok(omx_parse_range(ranges[r], &net, &mask) == 0, "range %s", ranges[r]))
			continue;
		for (unsigned i = 0; i < 300; i++) {
			char label[57];
			uint32_t prev = 0;

			onion("cand", i, label);
			for (unsigned attempt = 0; attempt < 40; attempt++) {
				uint32_t a = omx_addr_candidate(label, net, mask, attempt);

				tried++;
				if ((a & mask) != net)
					outside++;
				if ((a & 0xff) == 0 || (a & 0xff) == 255)
					edge++;
				if (omx_addr_candidate(label, net, mask, attempt) != a)
					nondet++;
				if (attempt > 0 && a == prev)
					same_next++;
				prev = a;
			}
		}
	}
	is_int(outside, 0, "%d candidates: all inside their range", tried);
	is_int(edge, 0, "%d candidates: none ends in .0 or .255", tried);
	is_int(nondet, 0, "candidates are deterministic");
	is_int(same_next, 0, "consecutive attempts give different addresses");

	/* Different attempts differ overall: attempts 0..7 of one label are mostly distinct. */
	{
		uint32_t net, mask, a[8];
		char label[57];
		int distinct = 0;

		omx_parse_range("240.0.0.0/4", &net, &mask);
		onion("cand", 7, label);
		for (unsigned i = 0; i < 8; i++) {
			int seen = 0;

			a[i] = omx_addr_candidate(label, net, mask, i);
			for (unsigned j = 0; j < i; j++)
				seen |= a[j] == a[i];
			distinct += !seen;
		}
		is_int(distinct, 8, "attempts 0..7 in /4 give 8 different addresses");
	}

	/* Case does not matter; the label does. */
	{
		uint32_t net, mask;
		char label[57], up[57], other[57];

		omx_parse_range("240.0.0.0/4", &net, &mask);
		onion("cand", 1, label);
		onion("cand", 2, other);
		for (int i = 0; i < 57; i++)
			up[i] = (char)(label[i] >= 'a' && label[i] <= 'z' ? label[i] - 32 : label[i]);
		is_int(omx_addr_candidate(up, net, mask, 0), omx_addr_candidate(label, net, mask, 0),
		       "candidate ignores case");
		ok(omx_addr_candidate(other, net, mask, 0) != omx_addr_candidate(label, net, mask, 0),
		   "different labels, different first candidates");
	}
}

/* --- compile and look up --- */

static void check_domain(const struct omx_map *map, const char *query, int want_n,
			 const char *want_key, const char *want_first, unsigned want_port)
{
	struct omx_target t[OMX_MAP_MAX_TARGETS];
	char matched[256] = "(unset)";
	int n = omx_map_domain(map, query, t, matched);

	is_int(n, want_n, "omx_map_domain(\"%s\") -> %d targets", query, want_n);
	if (want_n > 0 && n > 0) {
		is_str(matched, want_key, "\"%s\" matched key \"%s\"", query, want_key);
		is_str(t[0].onion, want_first, "\"%s\": first target", query);
		is_int(t[0].port, want_port, "\"%s\": first target port %u", query, want_port);
	}
}

static void test_compile_lookup(void)
{
	char o[8][57], text[8192], out[4096], err[512];
	struct omx_target t[OMX_MAP_MAX_TARGETS];
	struct omx_map map;
	size_t nd = 0, no = 0;
	uint32_t addr[8], net, mask;

	for (unsigned i = 0; i < 8; i++)
		onion("lookup", i, o[i]);
	snprintf(text, sizeof(text),
		 "# test map\n"
		 "example.org %s.onion %s.onion:2525\n"
		 "\n"
		 ".example.org %s.onion   # every subdomain\n"
		 "a.b.example.org %s.onion\n"
		 "EXAMPLE.NET. %s.onion\r\n"
		 ".sub.example.com %s.onion:25\n"
		 ".deep.example.com %s.onion\n"
		 "x.deep.example.com %s.onion\n"
		 "lonely.example %s.onion:2525",   /* last line without newline */
		 o[0], o[1], o[2], o[3], o[0], o[4], o[5], o[6], o[7]);
	is_int(compile_text("lookup", text, OMX_DEFAULT_RANGE, out, sizeof(out), &nd, &no, err,
			    sizeof(err)), 0, "compile a small map");
	if (err[0])
		printf("#   message: %s\n", err);
	is_int(nd, 8, "8 domains");
	is_int(no, 8, "8 onions");
	if (!ok(open_map(out, &map, err, sizeof(err)) == 0, "open the compiled map")) {
		printf("#   message: %s\n", err);
		return;
	}
	omx_parse_range(OMX_DEFAULT_RANGE, &net, &mask);
	ok(map.net == net && map.mask == mask, "map carries the range");

	check_domain(&map, "example.org", 2, "example.org", o[0], 0);
	is_int(omx_map_domain(&map, "example.org", t, NULL), 2, "matched may be NULL");
	ok(strcmp(t[1].onion, o[1]) == 0 && t[1].port == 2525, "second target and its port");
	check_domain(&map, "EXAMPLE.ORG.", 2, "example.org", o[0], 0);
	check_domain(&map, "Example.Org", 2, "example.org", o[0], 0);
	check_domain(&map, "x.example.org", 1, ".example.org", o[2], 0);
	check_domain(&map, "X.Example.ORG.", 1, ".example.org", o[2], 0);
	check_domain(&map, "b.example.org", 1, ".example.org", o[2], 0);
	check_domain(&map, "a.b.example.org", 1, "a.b.example.org", o[3], 0);
	check_domain(&map, "c.b.example.org", 1, ".example.org", o[2], 0);
	check_domain(&map, "z.a.b.example.org", 1, ".example.org", o[2], 0);
	check_domain(&map, "notexample.org", 0, "", "", 0);
	check_domain(&map, "org", 0, "", "", 0);
	check_domain(&map, "example.net", 1, "example.net", o[0], 0);
	check_domain(&map, "mail.example.net", 0, "", "", 0);
	check_domain(&map, "sub.example.com", 0, "", "", 0);
	check_domain(&map, "x.sub.example.com", 1, ".sub.example.com", o[4], 25);
	check_domain(&map, "y.x.sub.example.com", 1, ".sub.example.com", o[4], 25);
	check_domain(&map, "example.com", 0, "", "", 0);
	check_domain(&map, "x.deep.example.com", 1, "x.deep.example.com", o[6], 0);
	check_domain(&map, "y.x.deep.example.com", 1, ".deep.example.com", o[5], 0);
	check_domain(&map, "lonely.example", 1, "lonely.example", o[7], 2525);
	check_domain(&map, "", 0, "", "", 0);
	check_domain(&map, ".", 0, "", "", 0);
	check_domain(&map, "unmapped.test", 0, "", "", 0);
	check_domain(&map, ".example.org", 1, ".example.org", o[2], 0);

	/* onion <-> address */
	{
		int distinct = 1;

		for (unsigned i = 0; i < 8; i++) {
			struct omx_target tg;
			char first[256];
			unsigned nds = 99;

			if (!ok(omx_map_onion_addr(&map, o[i], 56, &addr[i]) == 1, "address of onion %u", i))
				continue;
			ok((addr[i] & mask) == net && (addr[i] & 0xff) != 0 && (addr[i] & 0xff) != 255,
			   "onion %u: address inside the range, not .0/.255", i);
			ok(omx_map_addr_onion(&map, addr[i], &tg, first, &nds) == 1 &&
			   strcmp(tg.onion, o[i]) == 0, "onion %u: address maps back to it", i);
			for (unsigned j = 0; j < i; j++)
				distinct &= addr[i] != addr[j];
		}
		ok(distinct, "the 8 onions have 8 different addresses");
	}
	{
		static const struct { unsigned idx, port, nd; const char *first; } want[] = {
			{ 0, 0, 2, "example.org" },    { 1, 2525, 1, "example.org" },
			{ 2, 0, 1, ".example.org" },   { 3, 0, 1, "a.b.example.org" },
			{ 4, 25, 1, ".sub.example.com" }, { 5, 0, 1, ".deep.example.com" },
			{ 6, 0, 1, "x.deep.example.com" }, { 7, 2525, 1, "lonely.example" },
		};
		for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
			struct omx_target tg;
			char first[256] = "";
			unsigned nds = 99;

			if (omx_map_addr_onion(&map, addr[want[i].idx], &tg, first, &nds) != 1) {
				ok(0, "addr_onion for onion %u", want[i].idx);
				continue;
			}
			is_int(tg.port, want[i].port, "onion %u: port %u", want[i].idx, want[i].port);
			is_int(nds, want[i].nd, "onion %u: serves %u domains", want[i].idx, want[i].nd);
			is_str(first, want[i].first, "onion %u: first domain", want[i].idx);
		}
		/* NULL domain and ndomains are allowed. */
		{
			struct omx_target tg;

			is_int(omx_map_addr_onion(&map, addr[1], &tg, NULL, NULL), 1,
			       "addr_onion with NULL domain/ndomains");
			is_int(tg.port, 2525, "addr_onion with NULLs: port");
		}
	}
	{
		char up[57];
		uint32_t a = 0;
		struct omx_target tg;

		for (int i = 0; i < 57; i++)
			up[i] = (char)(o[2][i] >= 'a' && o[2][i] <= 'z' ? o[2][i] - 32 : o[2][i]);
		is_int(omx_map_onion_addr(&map, up, 56, &a), 1, "upper-case label found");
		is_int(a, addr[2], "upper-case label: same address");
		onion("lookup", 100, up);
		is_int(omx_map_onion_addr(&map, up, 56, &a), 0, "onion not in the map: 0");
		is_int(omx_map_onion_addr(&map, o[0], 55, &a), 0, "55-character label: 0");
		is_int(omx_map_onion_addr(&map, "", 0, &a), 0, "empty label: 0");
		is_int(omx_map_addr_onion(&map, net + 0x0fffff00u, &tg, NULL, NULL) +
		       omx_map_addr_onion(&map, 0x7f000001u, &tg, NULL, NULL), 0,
		       "addresses not in the map: 0");
	}
	omx_map_close(&map);

	/* An empty source compiles to a valid, empty map. */
	is_int(compile_text("empty", "# nothing yet\n\n", OMX_DEFAULT_RANGE, out, sizeof(out),
			    &nd, &no, err, sizeof(err)), 0, "compile an empty source");
	ok(nd == 0 && no == 0, "empty source: 0 domains, 0 onions");
	if (ok(open_map(out, &map, err, sizeof(err)) == 0, "open the empty map")) {
		is_int(omx_map_domain(&map, "example.org", t, NULL), 0, "empty map: nothing mapped");
		omx_map_close(&map);
	}

	/* Another range is recorded in the map. */
	snprintf(text, sizeof(text), "example.org %s.onion\n", o[0]);
	is_int(compile_text("range", text, "10.20.0.0/16", out, sizeof(out), &nd, &no, err,
			    sizeof(err)), 0, "compile with range 10.20.0.0/16");
	if (ok(open_map(out, &map, err, sizeof(err)) == 0, "open it")) {
		uint32_t a = 0;

		ok(map.net == 0x0a140000u && map.mask == 0xffff0000u, "range 10.20.0.0/16 recorded");
		ok(omx_map_onion_addr(&map, o[0], 56, &a) == 1 && (a & 0xffff0000u) == 0x0a140000u,
		   "address inside 10.20.0.0/16");
		omx_map_close(&map);
	}
	is_int(compile_text("range", text, "10.20.0.1/16", out, sizeof(out), &nd, &no, err,
			    sizeof(err)), -1, "compile with a bad range fails");
	ok(strstr(err, "10.20.0.1/16") != NULL, "bad range named in the message");
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

/* 100,000 domains, each with its own onion: every address unique and in range. */
static void test_large(void)
{
	const unsigned count = 100000;
	size_t cap = (size_t)count * 100, len = 0, nd = 0, no = 0;
	char *text = malloc(cap), (*labels)[57] = malloc((size_t)count * 57);
	uint32_t *addrs = malloc((size_t)count * sizeof(uint32_t));
	char out[4096], err[512];
	struct omx_map map;
	uint32_t net, mask;
	double t0, t1, t2, t3;
	int missing = 0, outside = 0, edge = 0, dup = 0, back = 0;

	if (!ok(text && labels && addrs, "memory for the large map")) {
		free(text);
		free(labels);
		free(addrs);
		return;
	}
	t0 = now();
	for (unsigned i = 0; i < count; i++) {
		onion("large", i, labels[i]);
		len += (size_t)snprintf(text + len, cap - len, "d%u.example.org %s.onion\n", i,
					labels[i]);
	}
	t1 = now();
	is_int(compile_text("large", text, OMX_DEFAULT_RANGE, out, sizeof(out), &nd, &no, err,
			    sizeof(err)), 0, "compile 100000 domains");
	if (err[0])
		printf("#   message: %s\n", err);
	t2 = now();
	ok(nd == count && no == count, "100000 domains and 100000 onions counted");
	if (!ok(open_map(out, &map, err, sizeof(err)) == 0, "open the large map")) {
		free(text);
		free(labels);
		free(addrs);
		return;
	}
	omx_parse_range(OMX_DEFAULT_RANGE, &net, &mask);
	for (unsigned i = 0; i < count; i++) {
		struct omx_target tg;

		if (!omx_map_onion_addr(&map, labels[i], 56, &addrs[i])) {
			missing++;
			addrs[i] = 0;
			continue;
		}
		if ((addrs[i] & mask) != net)
			outside++;
		if ((addrs[i] & 0xff) == 0 || (addrs[i] & 0xff) == 255)
			edge++;
		if (omx_map_addr_onion(&map, addrs[i], &tg, NULL, NULL) != 1 ||
		    strcmp(tg.onion, labels[i]) != 0)
			back++;
	}
	{
		/* Sort and look for neighbours that are equal. */
		qsort(addrs, count, sizeof(uint32_t), cmp_u32);
		for (unsigned i = 1; i < count; i++)
			dup += addrs[i] == addrs[i - 1];
	}
	t3 = now();
	is_int(missing, 0, "every onion has an address");
	is_int(outside, 0, "every address inside 240.0.0.0/4");
	is_int(edge, 0, "no address ends in .0 or .255");
	is_int(dup, 0, "all 100000 addresses are distinct");
	is_int(back, 0, "every address maps back to its own onion");
	{
		struct omx_target t[OMX_MAP_MAX_TARGETS];

		is_int(omx_map_domain(&map, "d99999.example.org", t, NULL), 1, "last domain found");
		is_str(t[0].onion, labels[99999], "last domain's onion");
	}
	printf("# 100000 domains: generate %.3f s, compile %.3f s, check %.3f s\n", t1 - t0,
	       t2 - t1, t3 - t2);
	omx_map_close(&map);
	free(text);
	free(labels);
	free(addrs);
}

/* A small range filled to the limit (half of the usable addresses): compiles,
 * all distinct; one more onion is refused. */
static void test_small_range(void)
{
	char text[200 * 80], out[4096], err[512], label[57];
	size_t len = 0, nd, no;
	struct omx_map map;

	for (unsigned i = 0; i < 127; i++) {
		onion("small", i, label);
		len += (size_t)snprintf(text + len, sizeof(text) - len, "s%u.example %s.onion\n", i,
					label);
	}
	is_int(compile_text("small", text, "192.168.50.0/24", out, sizeof(out), &nd, &no, err,
			    sizeof(err)), 0, "127 onions in a /24 compile");
	if (err[0])
		printf("#   message: %s\n", err);
	if (ok(open_map(out, &map, err, sizeof(err)) == 0, "open the /24 map")) {
		uint32_t a[127];
		int bad = 0, dup = 0;

		for (unsigned i = 0; i < 127; i++) {
			onion("small", i, label);
			if (!omx_map_onion_addr(&map, label, 56, &a[i]) ||
			    (a[i] & 0xffffff00u) != 0xc0a83200u || (a[i] & 0xff) == 0 ||
			    (a[i] & 0xff) == 255)
				bad++;
			for (unsigned j = 0; j < i; j++)
				dup += a[i] == a[j];
		}
		is_int(bad, 0, "/24: every address inside 192.168.50.1-254");
		is_int(dup, 0, "/24: all 127 addresses distinct");
		omx_map_close(&map);
	}
	onion("small", 127, label);
	snprintf(text + len, sizeof(text) - len, "s127.example %s.onion\n", label);
	is_int(compile_text("small2", text, "192.168.50.0/24", out, sizeof(out), &nd, &no, err,
			    sizeof(err)), -1, "128 onions in a /24 refused");
	ok(strstr(err, "range") != NULL, "too many onions: message mentions the range");
}

/* Compile errors carry SRC:LINE: and leave the output untouched. */
static void compile_fails(const char *name, const char *text, unsigned line, const char *needle,
			  const char *what)
{
	char out[4096], src[4096], prefix[4200], err[512], file[256];

	snprintf(file, sizeof(file), "%s.src", name);
	path_of(src, sizeof(src), file);
	snprintf(prefix, sizeof(prefix), "%s:%u:", src, line);
	is_int(compile_text(name, text, OMX_DEFAULT_RANGE, out, sizeof(out), NULL, NULL, err,
			    sizeof(err)), -1, "compile fails: %s", what);
	if (!ok(strstr(err, prefix) == err, "%s: message starts with SRC:%u:", what, line))
		printf("#   message: %s\n", err);
	if (needle && !ok(strstr(err, needle) != NULL, "%s: message mentions \"%s\"", what, needle))
		printf("#   message: %s\n", err);
	ok(access(out, F_OK) != 0, "%s: no output file created", what);
}

/* A source of COUNT lines ("dI.example ONION"), over the size where the
 * compiler checks onions on a second thread, with line BAD's onion damaged
 * (and, if TAIL, TAIL appended to that line). */
static char *large_source(unsigned count, unsigned bad, const char *tail)
{
	size_t cap = (size_t)count * 100 + 256, len = 0;
	char *text = malloc(cap);

	for (unsigned i = 1; text && i <= count; i++) {
		char o[OMX_ONION_LABEL_LEN + 1];

		onion("threaded", i, o);
		if (i == bad)
			o[3] = o[3] == 'a' ? 'b' : 'a'; /* its checksum no longer matches */
		len += (size_t)snprintf(text + len, cap - len, "d%u.example %s.onion%s\n", i, o,
					i == bad && tail ? tail : "");
	}
	return text;
}

/* Errors in a source large enough for the second thread: the first error in
 * line order is reported, as the sequential compile would, wherever the bad
 * onion lies (the parse's part of the source or the helper's). */
static void test_compile_errors_threaded(void)
{
	static const struct {
		unsigned bad;
		const char *tail, *needle, *what;
	} cases[] = {
		{ 2, NULL, "checksum", "large source: a bad onion near the start" },
		{ 11000, NULL, "checksum", "large source: a bad onion in the middle" },
		{ 19999, NULL, "checksum", "large source: a bad onion on the last line but one" },
		{ 19000, " bad-target", "checksum", "large source: a bad onion before a bad target on its line" },
	};
	char *text;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		if (!(text = large_source(20000, cases[i].bad, cases[i].tail))) {
			ok(0, "memory");
			return;
		}
		ok(strlen(text) > (1u << 20), "%s: the source is over 1 MB", cases[i].what);
		compile_fails("threaded", text, cases[i].bad, cases[i].needle, cases[i].what);
		free(text);
	}
	/* A syntax error before a bad onion: the syntax error, at its line. */
	if ((text = large_source(20000, 19500, NULL))) {
		char *l = strstr(text, "\nd300.example ");
		if (ok(l != NULL, "large source: line 300 found")) {
			l[1] = '%'; /* "%300.example": not a domain */
			compile_fails("threaded", text, 300, "contains", "large source: a bad domain before a bad onion");
		}
		free(text);
	}
}

static void test_compile_errors(void)
{
	char o[4][57], text[8192], out[4096], out2[4096], err[512];
	char *before, *after;
	size_t blen = 0, alen = 0;

	for (unsigned i = 0; i < 4; i++)
		onion("errors", i, o[i]);

	/* Good map first, then a bad source compiled onto the same output. */
	snprintf(text, sizeof(text), "example.org %s.onion\nexample.net %s.onion\n", o[0], o[1]);
	is_int(compile_text("keep", text, OMX_DEFAULT_RANGE, out, sizeof(out), NULL, NULL, err,
			    sizeof(err)), 0, "compile a good map");
	before = read_bytes(out, &blen);
	ok(before != NULL && blen >= 2048, "read the good map (%zu bytes)", blen);
	snprintf(text, sizeof(text), "example.org %s.onion\nexample.com %s.onion\nbroken.example\n",
		 o[0], o[2]);
	{
		char src[4096], prefix[4200];

		path_of(src, sizeof(src), "keep.src");
		snprintf(prefix, sizeof(prefix), "%s:3:", src);
		is_int(compile_text("keep", text, OMX_DEFAULT_RANGE, out2, sizeof(out2), NULL, NULL, err,
				    sizeof(err)), -1, "compile a bad source onto the same output");
		if (!ok(strstr(err, prefix) == err, "bad source: message starts with SRC:3:"))
			printf("#   message: %s\n", err);
	}
	after = read_bytes(out, &alen);
	ok(before && after && blen == alen && memcmp(before, after, blen) == 0,
	   "the existing map is byte-for-byte unchanged");
	free(before);
	free(after);
	{
		struct omx_map map;
		struct omx_target t[OMX_MAP_MAX_TARGETS];

		if (ok(open_map(out, &map, err, sizeof(err)) == 0, "the kept map still opens")) {
			is_int(omx_map_domain(&map, "example.net", t, NULL), 1, "and still has its entries");
			is_int(omx_map_domain(&map, "example.com", t, NULL), 0,
			       "and none of the failed source");
			omx_map_close(&map);
		}
	}

	/* Duplicate domain: both lines named. */
	snprintf(text, sizeof(text),
		 "example.org %s.onion\n"
		 "# comment\n"
		 "example.net %s.onion\n"
		 "Example.ORG. %s.onion\n", o[0], o[1], o[2]);
	compile_fails("dup", text, 4, "line 1", "duplicate domain");
	{
		compile_text("dup", text, OMX_DEFAULT_RANGE, out, sizeof(out), NULL, NULL, err,
			     sizeof(err));
		ok(strstr(err, "example.org") != NULL, "duplicate domain: the domain is named");
	}
	/* A wildcard and the exact name are different entries, but two wildcards are not. */
	snprintf(text, sizeof(text), ".example.org %s.onion\nexample.org %s.onion\n", o[0], o[1]);
	is_int(compile_text("wild", text, OMX_DEFAULT_RANGE, out, sizeof(out), NULL, NULL, err,
			    sizeof(err)), 0, "\".example.org\" and \"example.org\" both allowed");
	snprintf(text, sizeof(text), ".example.org %s.onion\n.EXAMPLE.org %s.onion\n", o[0], o[1]);
	compile_fails("wild2", text, 2, "line 1", "duplicate wildcard");

	/* The same onion with two ports. */
	snprintf(text, sizeof(text), "example.org %s.onion:25\nexample.net %s.onion\n"
		 "example.com %s.onion:2525\n", o[0], o[1], o[0]);
	compile_fails("ports", text, 3, o[0], "same onion, two ports");
	{
		compile_text("ports", text, OMX_DEFAULT_RANGE, out, sizeof(out), NULL, NULL, err,
			     sizeof(err));
		if (!ok(strstr(err, "line 1") != NULL, "two ports: the first line is named"))
			printf("#   message: %s\n", err);
	}
	snprintf(text, sizeof(text), "example.org %s.onion\nexample.net %s.onion:25\n", o[0], o[0]);
	compile_fails("ports2", text, 2, NULL, "same onion, no port then a port");
	/* The same onion with the same port on two lines is fine. */
	snprintf(text, sizeof(text), "example.org %s.onion:25\nexample.net %s.onion:25\n", o[0], o[0]);
	is_int(compile_text("ports3", text, OMX_DEFAULT_RANGE, out, sizeof(out), NULL, NULL, err,
			    sizeof(err)), 0, "same onion and port on two lines compiles");

	/* Line errors are reported with their line number. */
	snprintf(text, sizeof(text), "example.org %s.onion\n\n# c\nexample.net expyuzz4wqqyqhjn.onion\n",
		 o[0]);
	compile_fails("v2", text, 4, "0.4.6", "v2 onion on line 4");
	{
		char *big = malloc(10000);
		int len = snprintf(big, 10000, "example.org %s.onion\nlong.example", o[0]);

		memset(big + len, ' ', 5000);
		snprintf(big + len + 5000, 10000 - (size_t)len - 5000, "%s.onion\n", o[1]);
		compile_fails("long", big, 2, "longer", "a 5000-byte line");
		free(big);
	}

	/* A NUL byte in the source. */
	{
		static const char head[] = "# nul\nexa";
		char nul[400];
		int len = snprintf(nul, sizeof(nul), "%sXmple.org %s.onion\n", head, o[0]);
		char src[4096], prefix[4200];

		nul[sizeof(head) - 1] = '\0';
		path_of(src, sizeof(src), "nul.src");
		path_of(out, sizeof(out), "nul.cdb");
		write_bytes(src, nul, (size_t)len);
		snprintf(prefix, sizeof(prefix), "%s:2:", src);
		{
			size_t nd, no;

			is_int(omx_map_compile(src, out, OMX_DEFAULT_RANGE, &nd, &no, err, sizeof(err)),
			       -1, "a NUL byte in the source fails");
		}
		if (!ok(strstr(err, prefix) == err, "NUL byte: message starts with SRC:2:"))
			printf("#   message: %s\n", err);
		ok(access(out, F_OK) != 0, "NUL byte: no output");
	}

	/* An output in a directory that does not exist. */
	{
		size_t nd, no;
		char src[4096];

		snprintf(text, sizeof(text), "example.org %s.onion\n", o[0]);
		path_of(src, sizeof(src), "nodir.src");
		write_bytes(src, text, strlen(text));
		path_of(out, sizeof(out), "no/such/dir/map.cdb");
		is_int(omx_map_compile(src, out, OMX_DEFAULT_RANGE, &nd, &no, err, sizeof(err)), -1,
		       "output in a missing directory fails");
		ok(strstr(err, "no/such/dir/map.cdb") != NULL, "missing directory: output path named");
	}

	/* A missing source is named. */
	{
		size_t nd, no;
		char src[4096];

		path_of(src, sizeof(src), "does-not-exist.src");
		path_of(out, sizeof(out), "does-not-exist.cdb");
		is_int(omx_map_compile(src, out, OMX_DEFAULT_RANGE, &nd, &no, err, sizeof(err)), -1,
		       "missing source fails");
		ok(strstr(err, src) != NULL, "missing source: path named");
		ok(access(out, F_OK) != 0, "missing source: no output");
	}
}

/* Line order does not change any onion's address, even with many collisions. */
static void test_order(void)
{
	enum { N = 120 };
	char o[N][57], *fwd = malloc(N * 100), *rev = malloc(N * 100);
	char out1[4096], out2[4096], err[512];
	size_t l1 = 0, l2 = 0;
	struct omx_map m1, m2;
	int differ = 0, found = 0;

	for (unsigned i = 0; i < N; i++)
		onion("order", i, o[i]);
	/* Forward, and a shuffled order (i*7 mod N, 7 coprime with 120). */
	for (unsigned i = 0; i < N; i++) {
		unsigned j = (i * 7) % N;

		l1 += (size_t)snprintf(fwd + l1, N * 100 - l1, "o%u.example %s.onion\n", i, o[i]);
		l2 += (size_t)snprintf(rev + l2, N * 100 - l2, "o%u.example %s.onion\n", j, o[j]);
	}
	/* A /24 with 120 onions: plenty of probe collisions to resolve. */
	is_int(compile_text("order1", fwd, "10.9.8.0/24", out1, sizeof(out1), NULL, NULL, err,
			    sizeof(err)), 0, "compile in one order");
	is_int(compile_text("order2", rev, "10.9.8.0/24", out2, sizeof(out2), NULL, NULL, err,
			    sizeof(err)), 0, "compile in another order");
	if (ok(open_map(out1, &m1, err, sizeof(err)) == 0 && open_map(out2, &m2, err, sizeof(err)) == 0,
	       "open both")) {
		for (unsigned i = 0; i < N; i++) {
			uint32_t a1, a2;

			if (omx_map_onion_addr(&m1, o[i], 56, &a1) && omx_map_onion_addr(&m2, o[i], 56, &a2)) {
				found++;
				differ += a1 != a2;
			}
		}
		is_int(found, N, "every onion in both maps");
		is_int(differ, 0, "every onion has the same address in both");
		omx_map_close(&m1);
		omx_map_close(&m2);
	}
	free(fwd);
	free(rev);
}

/* omx_map_open_fd refuses what is not an onionmx map. */
static void open_fails(const char *path, const char *what, const char *needle)
{
	struct omx_map map;
	char err[512] = "";
	int fd = open(path, O_RDONLY);

	if (!ok(fd >= 0, "%s: open", what))
		return;
	is_int(omx_map_open_fd(&map, fd, path, err, sizeof(err)), -1, "%s: refused", what);
	close(fd);
	ok(err[0] != '\0' && strstr(err, path) != NULL, "%s: message names the file", what);
	if (needle && !ok(strstr(err, needle) != NULL, "%s: message mentions \"%s\"", what, needle))
		printf("#   message: %s\n", err);
}

static void make_cdb(const char *path, const char *meta)
{
	struct cdb_make cm;
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);

	if (fd < 0)
		return;
	cdb_make_start(&cm, fd);
	if (meta)
		cdb_make_add(&cm, "!onionmx", 8, meta, (unsigned)strlen(meta));
	cdb_make_add(&cm, "d:example.org", 13, "x", 1);
	cdb_make_finish(&cm);
	close(fd);
}

static void test_open(void)
{
	char path[4096];
	char *junk = malloc(5000);

	path_of(path, sizeof(path), "empty.cdb");
	write_bytes(path, "", 0);
	open_fails(path, "an empty file", NULL);

	path_of(path, sizeof(path), "text.cdb");
	for (int i = 0; i < 5000; i++)
		junk[i] = "example.org xyz.onion\n"[i % 22];
	write_bytes(path, junk, 5000);
	open_fails(path, "a text file", NULL);

	path_of(path, sizeof(path), "binary.cdb");
	for (int i = 0; i < 5000; i++)
		junk[i] = (char)(i * 37 + (i >> 3));
	write_bytes(path, junk, 5000);
	open_fails(path, "a binary file", NULL);
	free(junk);

	path_of(path, sizeof(path), "short.cdb");
	write_bytes(path, "!onionmx", 8);
	open_fails(path, "a short file", NULL);

	path_of(path, sizeof(path), "nometa.cdb");
	make_cdb(path, NULL);
	open_fails(path, "a cdb without \"!onionmx\"", "onionmx");

	path_of(path, sizeof(path), "v4.cdb");
	make_cdb(path, "4 240.0.0.0/4 toc=0000000000000000 sum=0000000000000000");
	open_fails(path, "a cdb of format 4 (a later onionmx's)", "4 240.0.0.0/4");

	/* Format 1 had no checksums: a lookup could not tell damage from absence. */
	path_of(path, sizeof(path), "v1.cdb");
	make_cdb(path, "1 10.0.0.0/8");
	open_fails(path, "a map of format 1", "rebuild it");

	path_of(path, sizeof(path), "badrange.cdb");
	make_cdb(path, "2 240.0.0.1/4 toc=0000000000000000 sum=0000000000000000");
	open_fails(path, "a cdb with a bad range", NULL);

	path_of(path, sizeof(path), "badsums.cdb");
	make_cdb(path, "2 10.0.0.0/8 toc=0000000000000000 sum=0000000000000000");
	open_fails(path, "a hand-made map without its checksums", "checksum");

	path_of(path, sizeof(path), "longmeta.cdb");
	make_cdb(path, "2 240.0.0.0/4 and a great deal of text after it, far more than fits toc=0000000000000000 sum=0000000000000000");
	open_fails(path, "a cdb with an overlong header", NULL);

	open_fails(dir, "a directory", NULL);
}


/* --- damage: every lookup that reads something damaged defers --- */

/* The record position and length of KEY in the map bytes MEM (tinycdb's own
 * lookup, which still works on our files). */
static int locate(const char *path, const char *key, unsigned *rpos, unsigned *vpos, unsigned *vlen)
{
	struct cdb c;
	int fd = open(path, O_RDONLY), rc = -1;

	if (fd < 0)
		return -1;
	if (cdb_init(&c, fd) == 0) {
		if (cdb_find(&c, key, (unsigned)strlen(key)) > 0) {
			*rpos = cdb_keypos(&c) - 8;
			*vpos = cdb_datapos(&c);
			*vlen = cdb_datalen(&c);
			rc = 0;
		}
		cdb_free(&c);
	}
	close(fd);
	return rc;
}

/* Writes the LEN bytes of BUF as DIR/NAME.cdb and checks that the map is refused
 * at open (NEEDLE in the message) or that looking mapped.example up defers, and
 * that omx_map_verify (onionmx -t, onionmx-map -q) finds the damage. */
static void damaged(const char *what, const void *buf, size_t len, const char *needle)
{
	char path[4096], file[256], err[512] = "";
	struct omx_map map;
	struct omx_target t[OMX_MAP_MAX_TARGETS];
	uint32_t addr;

	snprintf(file, sizeof(file), "damaged-%u.cdb", (unsigned)(len * 31 + strlen(what)));
	path_of(path, sizeof(path), file);
	write_bytes(path, buf, len);
	if (open_map(path, &map, err, sizeof(err)) != 0) {
		ok(needle != NULL, "%s: refused at open", what);
		if (needle && !ok(strstr(err, needle) != NULL, "%s: the message says \"%s\"", what, needle))
			printf("#   message: %s\n", err);
		unlink(path);
		return;
	}
	ok(needle == NULL, "%s: opens (constant-time checks pass)", what);
	is_int(omx_map_domain(&map, "mapped.example", t, NULL), OMX_MAP_DAMAGED,
	       "%s: the mapped domain's lookup defers (not \"not mapped\")", what);
	ok(omx_map_damaged(&map), "%s: the map is marked damaged", what);
	is_int(omx_map_domain(&map, "unmapped.example", t, NULL), OMX_MAP_DAMAGED,
	       "%s: every later lookup defers too", what);
	is_int(omx_map_onion_addr(&map, "aaaa", 4, &addr), 0, "%s: (a name that is no onion is still no onion)", what);
	err[0] = '\0';
	is_int(omx_map_verify(&map, path, err, sizeof(err)), -1, "%s: the whole-map check fails", what);
	ok(strstr(err, "damaged") && strstr(err, path), "%s: naming the file: %s", what, err);
	omx_map_close(&map);
	unlink(path);
}

static void test_damage(void)
{
	char out[4096], err[512], src[1 << 16], a[OMX_ONION_LABEL_LEN + 1], b[OMX_ONION_LABEL_LEN + 1];
	size_t len = 0, n;
	unsigned char *orig, *buf;
	unsigned rpos, vpos, vlen, rpos2, vpos2, vlen2;
	struct omx_map map;
	struct omx_target t[OMX_MAP_MAX_TARGETS];

	onion("damage", 0, a);
	onion("damage", 1, b);
	len += (size_t)snprintf(src + len, sizeof(src) - len, "mapped.example %s.onion\nother.example %s.onion\n", a, b);
	for (unsigned i = 0; i < 300; i++) {
		char o[OMX_ONION_LABEL_LEN + 1];
		onion("damage-filler", i, o);
		len += (size_t)snprintf(src + len, sizeof(src) - len, "filler%u.example %s.onion\n", i, o);
	}
	if (!ok(compile_text("dmg", src, OMX_DEFAULT_RANGE, out, sizeof(out), NULL, NULL, err, sizeof(err)) == 0,
		"damage: the map compiles") || !(orig = (unsigned char *)read_bytes(out, &n)))
		return;
	buf = malloc(n);
	if (ok(open_map(out, &map, err, sizeof(err)) == 0, "damage: the intact map opens")) {
		is_int(omx_map_domain(&map, "mapped.example", t, NULL), 1, "damage: intact: mapped");
		is_int(omx_map_domain(&map, "unmapped.example", t, NULL), 0, "damage: intact: not mapped");
		is_int(omx_map_verify(&map, out, err, sizeof(err)), 0, "damage: intact: whole-map check passes");
		omx_map_close(&map);
	}
	/* The table of contents is read in place at each lookup: one rewritten
	 * under an open map (the stamp left as it was) must not lead a lookup
	 * outside the file. */
	if (ok(open_map(out, &map, err, sizeof(err)) == 0, "damage: the map opens again")) {
		unsigned bucket = cdb_hash("d:mapped.example", 16) & 255;
		unsigned char entry[2][8] = { { 0 } };
		int fd = open(out, O_WRONLY);

		cdb_pack((unsigned)n, entry[0]); /* at the file's end, one slot */
		cdb_pack(1, entry[0] + 4);
		cdb_pack(cdb_unpack(orig + 8 * bucket), entry[1]); /* in place, 2^28 slots */
		cdb_pack(1u << 28, entry[1] + 4);
		for (int k = 0; k < 2; k++) {
			struct omx_map again;

			if (!ok(open_map(out, &again, err, sizeof(err)) == 0, "damage: toc rewrite %d: a fresh open first", k))
				break;
			omx_map_close(&again);
			ok(fd >= 0 && pwrite(fd, entry[k], 8, 8 * bucket) == 8, "damage: toc entry rewritten in place (%d)", k);
			is_int(omx_map_domain(&map, "mapped.example", t, NULL), OMX_MAP_DAMAGED,
			       "damage: a table-of-contents entry pointing %s: the lookup says damaged",
			       k ? "past the file's end by its count" : "at the file's end");
			ok(fd >= 0 && pwrite(fd, orig + 8 * bucket, 8, 8 * bucket) == 8, "damage: entry restored");
			omx_map_close(&map);
			if (!ok(open_map(out, &map, err, sizeof(err)) == 0, "damage: the restored map opens"))
				break;
		}
		if (fd >= 0)
			close(fd);
		is_int(omx_map_domain(&map, "mapped.example", t, NULL), 1, "damage: restored: mapped (control)");
		omx_map_close(&map);
	}
	if (locate(out, "d:mapped.example", &rpos, &vpos, &vlen) != 0 ||
	    locate(out, "d:other.example", &rpos2, &vpos2, &vlen2) != 0) {
		ok(0, "damage: records found by tinycdb");
		goto out;
	}

	/* The table-of-contents entry the domain's lookup starts from, zeroed. */
	{
		unsigned bucket = cdb_hash("d:mapped.example", 16) & 255;
		memcpy(buf, orig, n);
		memset(buf + 8 * bucket, 0, 8);
		damaged("zeroed table-of-contents entry", buf, n, "damaged");
	}
	/* The hash-table slot pointing at the domain's record, zeroed. */
	{
		unsigned hval = cdb_hash("d:mapped.example", 16), bucket = hval & 255;
		unsigned pos = cdb_unpack(orig + 8 * bucket), cnt = cdb_unpack(orig + 8 * bucket + 4);
		int done = 0;

		memcpy(buf, orig, n);
		for (unsigned i = 0; i < cnt; i++)
			if (cdb_unpack(buf + pos + 8 * i + 4) == rpos) {
				memset(buf + pos + 8 * i, 0, 8);
				done = 1;
			}
		ok(done, "damage: found the domain's hash-table slot");
		damaged("zeroed hash-table slot", buf, n, NULL);
		/* Its hash changed instead: the slot is skipped, the walk must notice. */
		memcpy(buf, orig, n);
		for (unsigned i = 0; i < cnt; i++)
			if (cdb_unpack(buf + pos + 8 * i + 4) == rpos)
				buf[pos + 8 * i + 3] ^= 0x40;
		damaged("hash-table slot with another hash", buf, n, NULL);
	}
	/* Truncated: the end of the hash tables is missing. */
	damaged("truncated file", orig, n - 100, "truncated");
	damaged("file cut in the records", orig, vpos + 10, "truncated");
	/* A bad record: one character of the onion changed (its checksum fails). */
	memcpy(buf, orig, n);
	buf[vpos + 5] = buf[vpos + 5] == 'a' ? 'b' : 'a';
	damaged("record whose onion fails its checksum", buf, n, NULL);
	memcpy(buf, orig, n);
	buf[vpos + vlen - 1] ^= 1;
	damaged("record with a bad check", buf, n, NULL);
	memcpy(buf, orig, n);
	memset(buf + vpos, 0, vlen);
	damaged("record zeroed", buf, n, NULL);
	/* Two records' values swapped: each value no longer belongs to its key. */
	if (ok(vlen == vlen2, "damage: the two values have one length")) {
		memcpy(buf, orig, n);
		memcpy(buf + vpos, orig + vpos2, vlen);
		memcpy(buf + vpos2, orig + vpos, vlen);
		damaged("records swapped between keys", buf, n, NULL);
	}
	/* The header's range changed: the table-of-contents checksum covers it. */
	memcpy(buf, orig, n);
	{
		char *slash = memchr(buf + 2064, '/', 40);
		if (ok(slash && slash[1] == '5', "damage: header has /5")) {
			slash[1] = '6';
			damaged("header with another range", buf, n, "checksum");
		}
	}
	/* One byte of a record the lookups do not read: only the whole-map check sees it. */
	memcpy(buf, orig, n);
	buf[vpos2 + 3] ^= 1;
	{
		char path[4096];
		path_of(path, sizeof(path), "far.cdb");
		write_bytes(path, buf, n);
		if (ok(open_map(path, &map, err, sizeof(err)) == 0, "damage elsewhere: opens")) {
			is_int(omx_map_domain(&map, "mapped.example", t, NULL), 1,
			       "damage elsewhere: an intact entry still answers");
			is_int(omx_map_domain(&map, "other.example", t, NULL), OMX_MAP_DAMAGED,
			       "damage elsewhere: the damaged entry defers");
			is_int(omx_map_verify(&map, path, err, sizeof(err)), -1,
			       "damage elsewhere: the whole-map check fails");
			omx_map_close(&map);
		}
		unlink(path);
	}

	/* Written in place under a mapping (cp new.cdb map.cdb keeps the inode):
	 * lookups through the old mapping see the new bytes and must defer. */
	{
		char path[4096], out2[4096], c[OMX_ONION_LABEL_LEN + 1];
		size_t n2;
		unsigned char *other;

		onion("damage", 2, c);
		snprintf(src, sizeof(src), "mapped.example %s.onion\n", c);
		len = strlen(src);
		for (unsigned i = 0; i < 400; i++) {
			char o[OMX_ONION_LABEL_LEN + 1];
			onion("damage-other", i, o);
			len += (size_t)snprintf(src + len, sizeof(src) - len, "x%u.example %s.onion\n", i, o);
		}
		path_of(path, sizeof(path), "inplace.cdb");
		write_bytes(path, orig, n);
		if (compile_text("dmg2", src, OMX_DEFAULT_RANGE, out2, sizeof(out2), NULL, NULL, err,
				 sizeof(err)) == 0 && (other = (unsigned char *)read_bytes(out2, &n2))) {
			if (ok(n2 >= n, "in place: the new map is at least as long (no SIGBUS)") &&
			    ok(open_map(path, &map, err, sizeof(err)) == 0, "in place: the old map opens")) {
				is_int(omx_map_domain(&map, "mapped.example", t, NULL), 1, "in place: mapped before");
				write_bytes(path, other, n2); /* O_TRUNC, same inode */
				is_int(omx_map_domain(&map, "unmapped.example", t, NULL), OMX_MAP_DAMAGED,
				       "in place: a miss through the old mapping defers");
				is_int(omx_map_domain(&map, "mapped.example", t, NULL), OMX_MAP_DAMAGED,
				       "in place: the mapped domain defers");
				omx_map_close(&map);
			}
			free(other);
		}
		unlink(path);
	}
out:
	free(buf);
	free(orig);
}

/* The "a:" record of ADDR in the map at PATH rewritten to the BLEN bytes of
 * BODY (the record keeps its length: BLEN must be it, CHECK excluded) with a
 * CHECK that fits: what a writer other than onionmx-map could leave. Returns
 * the lookup's result (-98: BLEN is not the record's length). */
static int addr_record_as(const char *path, uint32_t addr, const void *body, size_t blen,
			  struct omx_target *t)
{
	char key[6], tmp[4096], err[512];
	struct omx_map map;
	struct cdb c;
	unsigned char *mem;
	size_t n;
	unsigned vpos = 0, vlen = 0;
	uint32_t check;
	int fd, rc = -99;

	omx_map_addr_key(addr, key);
	if (!(mem = (unsigned char *)read_bytes(path, &n)) || (fd = open(path, O_RDONLY)) < 0)
		return rc;
	if (cdb_init(&c, fd) == 0) {
		if (cdb_find(&c, key, sizeof(key)) > 0) {
			vpos = cdb_datapos(&c);
			vlen = cdb_datalen(&c);
		}
		cdb_free(&c);
	}
	close(fd);
	if (vlen != blen + 4) {
		free(mem);
		return vlen ? -98 : rc;
	}
	check = htole32(omx_map_record_check(key, sizeof(key), body, blen));
	memcpy(mem + vpos, body, blen);
	memcpy(mem + vpos + blen, &check, 4);
	path_of(tmp, sizeof(tmp), "arecord.cdb");
	write_bytes(tmp, mem, n);
	free(mem);
	if (open_map(tmp, &map, err, sizeof(err)) == 0) {
		rc = omx_map_addr_onion(&map, addr, t, NULL, NULL);
		omx_map_close(&map);
	}
	unlink(tmp);
	return rc;
}

/* A format-3 onion record: "o" ONION35 PORT2 NDOMAINS4 DOMAIN; returns its length. */
static size_t onion_record(unsigned char *v, const char *label, unsigned port, uint32_t ndomains,
			   const char *domain)
{
	size_t dlen = strlen(domain);

	v[0] = 'o';
	omx_map_onion_raw(label, v + 1);
	v[36] = (unsigned char)(port >> 8);
	v[37] = (unsigned char)port;
	for (int i = 0; i < 4; i++)
		v[38 + i] = (unsigned char)(ndomains >> (24 - 8 * i));
	memcpy(v + 42, domain, dlen);
	return 42 + dlen;
}

/* A format-3 tombstone: "t" ONION35 FREED8. */
static size_t tomb_record(unsigned char *v, const char *label, uint64_t freed)
{
	v[0] = 't';
	omx_map_onion_raw(label, v + 1);
	for (int i = 0; i < 8; i++)
		v[36 + i] = (unsigned char)(freed >> (56 - 8 * i));
	return 44;
}

/* Compiles "DOMAIN ONION" as NAME; fills OUT and the onion's address. */
static int one_pair_map(const char *name, const char *domain, const char *label, char out[4096],
			uint32_t *addr)
{
	char err[512], src[512];
	struct omx_map map;
	int rc = -1;

	snprintf(src, sizeof(src), "%s %s.onion\n", domain, label);
	if (compile_text(name, src, OMX_DEFAULT_RANGE, out, 4096, NULL, NULL, err, sizeof(err)) == 0 &&
	    open_map(out, &map, err, sizeof(err)) == 0) {
		if (omx_map_onion_addr(&map, label, OMX_ONION_LABEL_LEN, addr) == 1)
			rc = 0;
		omx_map_close(&map);
	}
	return rc;
}

/* connect() reads an "a:" record by hand: every field in its place, nothing
 * more; a record that is not what the compiler writes defers, even when its
 * CHECK fits. */
static void test_addr_record(void)
{
	char out[4096], a[OMX_ONION_LABEL_LEN + 1];
	unsigned char body[512];
	struct omx_target t;
	uint32_t addr = 0;
	size_t blen;
	const char *dom = "mapped.example";

	onion("arecord", 0, a);
	if (!ok(one_pair_map("arec", dom, a, out, &addr) == 0, "a: record: the map compiles, the onion has an address"))
		return;
	/* Controls: rewritten as the compiler writes them, with a fitting CHECK, they read. */
	blen = onion_record(body, a, 2525, 3, "ab.example.org");
	is_int(addr_record_as(out, addr, body, blen, &t), 1, "a: record rewritten with a fitting CHECK reads (control)");
	is_int(t.port, 2525, "a: record: its port");
	is_str(t.onion, a, "a: record: its onion");
	/* Not what the compiler writes: each defers. */
	blen = onion_record(body, a, 25, 1, "ab example.org");
	is_int(addr_record_as(out, addr, body, blen, &t), OMX_MAP_DAMAGED, "a: record with a space in its domain defers");
	blen = onion_record(body, a, 25, 1, "abcd.example.o");
	body[44] = '\0';
	is_int(addr_record_as(out, addr, body, blen, &t), OMX_MAP_DAMAGED, "a: record with a NUL in its domain defers");
	blen = onion_record(body, a, 25, 1, "abcd.example.o");
	body[0] = 'x';
	is_int(addr_record_as(out, addr, body, blen, &t), OMX_MAP_DAMAGED, "a: record of an unknown kind defers");
	blen = onion_record(body, a, 25, 1, "abcd.example.o");
	body[35] = 4;
	is_int(addr_record_as(out, addr, body, blen, &t), OMX_MAP_DAMAGED, "a: record whose onion is not version 3 defers");
	blen = onion_record(body, a, 25, 1, "abcd.example.o");
	body[0] = 't';
	is_int(addr_record_as(out, addr, body, blen, &t), OMX_MAP_DAMAGED, "a: a tombstone of an onion record's length defers");
	/* Tombstones: written over an onion record as long as one (44 bytes). */
	{
		char tmp[4096];
		uint32_t a2 = 0;
		char b[OMX_ONION_LABEL_LEN + 1];

		onion("arecord", 1, b);
		if (ok(one_pair_map("atomb", "ab", b, tmp, &a2) == 0, "a: record: a map with a 44-byte onion record")) {
			blen = tomb_record(body, b, 17000000000ull);
			is_int(addr_record_as(tmp, a2, body, blen, &t), OMX_MAP_RETIRED,
			       "a: tombstone with a fitting CHECK reads (control)");
			is_str(t.onion, b, "a: tombstone: its onion");
			body[36] = 0x80;
			is_int(addr_record_as(tmp, a2, body, blen, &t), OMX_MAP_DAMAGED, "a: tombstone with a negative time defers");
			blen = tomb_record(body, b, 17000000000ull);
			body[0] = 'o';
			is_int(addr_record_as(tmp, a2, body, blen, &t), OMX_MAP_DAMAGED, "a: an onion record of a tombstone's length (no domain) defers");
		}
	}
}

/* Format 3's records, for one domain with one onion: the onion stored once, in
 * binary, in its address record; the domain's record names the address. */
static void test_record_sizes(void)
{
	char out[4096], a[OMX_ONION_LABEL_LEN + 1], key[6], head[64];
	unsigned rpos, vpos, vlen;
	uint32_t addr = 0;
	unsigned char *mem;
	size_t n;

	onion("sizes", 0, a);
	if (!ok(one_pair_map("sizes", "d0000001.example", a, out, &addr) == 0, "sizes: the map compiles"))
		return;
	ok(locate(out, "d:d0000001.example", &rpos, &vpos, &vlen) == 0, "sizes: the domain's record is there");
	is_int(vlen, 4 + 4, "sizes: d: value = its onion's address (4 bytes) + CHECK (4 bytes)");
	if ((mem = (unsigned char *)read_bytes(out, &n))) {
		uint32_t named = (uint32_t)mem[vpos] << 24 | (uint32_t)mem[vpos + 1] << 16 |
				 (uint32_t)mem[vpos + 2] << 8 | mem[vpos + 3];
		uint8_t raw[OMX_MAP_ONION_RAW];
		struct cdb c;
		int fd = open(out, O_RDONLY);

		is_int(named, addr, "sizes: the d: value names the onion's address, big-endian");
		memcpy(head, mem + 2064, 2);
		head[2] = '\0';
		is_str(head, "3 ", "sizes: the header says format 3");
		omx_map_addr_key(addr, key);
		vlen = 0;
		if (fd >= 0 && cdb_init(&c, fd) == 0) {
			if (cdb_find(&c, key, sizeof(key)) > 0) {
				vpos = cdb_datapos(&c);
				vlen = cdb_datalen(&c);
			}
			cdb_free(&c);
		}
		if (fd >= 0)
			close(fd);
		is_int(vlen, 1 + 35 + 2 + 4 + 16 + 4,
		       "sizes: a: value = kind + onion (35 bytes) + port + domains + first domain + CHECK");
		ok(vlen && mem[vpos] == 'o' && omx_map_onion_raw(a, raw) == 0 && memcmp(mem + vpos + 1, raw, 35) == 0,
		   "sizes: the a: value holds the onion's 35 bytes");
		ok(vlen && memcmp(mem + vpos + 42, "d0000001.example", 16) == 0, "sizes: and its first domain");
		free(mem);
	}
}

/* The shortest onion record: a one-letter first domain (43 bytes, one less
 * than a tombstone). */
static void test_short_domain(void)
{
	char out[4096], a[OMX_ONION_LABEL_LEN + 1], domain[256];
	struct omx_map map;
	struct omx_target t[OMX_MAP_MAX_TARGETS], one;
	uint32_t addr = 0;
	char err[512];

	onion("short", 0, a);
	if (!ok(one_pair_map("short", "x", a, out, &addr) == 0, "short: \"x\" maps to an onion") ||
	    !ok(open_map(out, &map, err, sizeof(err)) == 0, "short: opens"))
		return;
	is_int(omx_map_domain(&map, "x", t, NULL), 1, "short: the domain answers");
	is_int(omx_map_addr_onion(&map, addr, &one, domain, NULL), 1, "short: its address answers");
	is_str(domain, "x", "short: naming its first domain");
	omx_map_close(&map);
}

/* The base32 codec of format 3's onions: every valid label round-trips. */
static void test_onion_raw(void)
{
	char a[OMX_ONION_LABEL_LEN + 1], back[OMX_ONION_LABEL_LEN + 1], upper[OMX_ONION_LABEL_LEN + 1];
	uint8_t raw[OMX_MAP_ONION_RAW];
	int bad = 0;

	for (unsigned i = 0; i < 200; i++) {
		onion("raw", i, a);
		bad += omx_map_onion_raw(a, raw) != 0;
		omx_map_onion_text(raw, back);
		bad += strcmp(a, back) != 0;
		for (int k = 0; k < OMX_ONION_LABEL_LEN; k++)
			upper[k] = (char)toupper((unsigned char)a[k]);
		upper[OMX_ONION_LABEL_LEN] = '\0';
		bad += omx_map_onion_raw(upper, raw) != 0 || (omx_map_onion_text(raw, back), strcmp(a, back) != 0);
	}
	is_int(bad, 0, "onion codec: 200 labels round-trip, either case");
	onion("raw", 0, a);
	a[3] = '1';
	is_int(omx_map_onion_raw(a, raw), -1, "onion codec: '1' is not base32");
	onion("raw", 0, a);
	a[3] = '\x12'; /* '2' with bit 5 cleared */
	is_int(omx_map_onion_raw(a, raw), -1, "onion codec: a control character is not base32");
	onion("raw", 0, a);
	a[55] = 'e';
	is_int(omx_map_onion_raw(a, raw), -1, "onion codec: version 4 refused");
}

/* --- format 2: still read, and rebuilt over --- */

static int compile_at(const char *name, const char *text, const char *range, int64_t when,
		      char *out, size_t outlen, char *err, size_t errlen);
static uint32_t addr_in(const char *path, const char *label);

/* tests/unit/map2/: small.cdb maps example.org to GOK and N6T:2525,
 * .example.net to LUH, mapped.example to GOK; tombstones.cdb is small.cdb
 * rebuilt with example.org -> GOK only; oldrange.cdb moved to 10.1.0.0/16. */
#define GOK "5drnklav7rmepoy5besnii735qjzftfs67tzqttnnfk5eeew7osnhryd"
#define N6T "rwa6gx4witaedkl3i6qtlsvyytlculnjrco5xk5piruzgt2dbe65ysad"
#define LUH "xldzjxge6sbitqwlj5xlxxuqing6eiikdsm4xrdj7dcsbng4uu2slxqd"
#define MAP2_LEFT 1796587104 /* when tombstones.cdb's onions and oldrange.cdb's range were retired */

/* The address records of a map, read through omx_map_addr_onion. */
struct addr_list {
	const struct omx_map *map;
	unsigned n;
	uint32_t addr[16];
	int kind[16];           /* 1 onion, OMX_MAP_RETIRED */
	char label[16][OMX_ONION_LABEL_LEN + 1];
};

static int collect_addr(void *ctx, const char *key, unsigned klen, const char *val, unsigned vlen)
{
	struct addr_list *l = ctx;
	struct omx_target t;

	(void)val;
	(void)vlen;
	if (klen != 6 || key[0] != 'a' || l->n == 16)
		return 0;
	l->addr[l->n] = omx_map_key_addr(key);
	l->kind[l->n] = omx_map_addr_onion(l->map, l->addr[l->n], &t, NULL, NULL);
	memcpy(l->label[l->n], t.onion, sizeof(t.onion));
	l->n++;
	return 0;
}

static int list_addrs(const char *path, struct addr_list *l)
{
	struct omx_map map;
	char err[512];
	int rc;

	memset(l, 0, sizeof(*l));
	if (open_map(path, &map, err, sizeof(err)) != 0)
		return -1;
	l->map = &map;
	rc = omx_map_walk(&map, collect_addr, l);
	omx_map_close(&map);
	return rc;
}

/* Where LABEL is in L as KIND: its address, or 0. */
static uint32_t addr_of(const struct addr_list *l, const char *label, int kind)
{
	for (unsigned i = 0; i < l->n; i++)
		if (l->kind[i] == kind && strcmp(l->label[i], label) == 0)
			return l->addr[i];
	return 0;
}

/* A map of format 2 (tests/unit/map2/, written by onionmx-map before format
 * 3) answers as it did: installing a new onionmx over one defers no mail. */
static void test_format2_read(void)
{
	char err[512], domain[256], matched[256];
	struct omx_map map;
	struct omx_target t[OMX_MAP_MAX_TARGETS], one;
	uint32_t a_gok = 0, a_n6t = 0, a_luh = 0;
	unsigned nd = 0;
	struct addr_list l;

	if (!ok(open_map("tests/unit/map2/small.cdb", &map, err, sizeof(err)) == 0, "format 2: small.cdb opens: %s", err))
		return;
	is_int(map.version, 2, "format 2: seen as format 2");
	is_int(omx_map_verify(&map, "small.cdb", err, sizeof(err)), 0, "format 2: its whole-file sum verifies");
	is_int(omx_map_domain(&map, "Example.org.", t, matched), 2, "format 2: example.org has two onions");
	{
		is_str(t[0].onion, GOK, "format 2: the first, in the listed order");
		is_str(t[1].onion, N6T, "format 2: the second");
		is_int(t[1].port, 2525, "format 2: the second's port");
		is_str(matched, "example.org", "format 2: matched the exact entry");
	}
	is_int(omx_map_domain(&map, "mx.a.example.net", t, matched), 1, "format 2: a subdomain entry covers a.example.net's subdomain");
	is_str(t[0].onion, LUH, "format 2: with its onion");
	is_int(omx_map_domain(&map, "unmapped.example", t, NULL), 0, "format 2: an unmapped domain is not mapped");
	is_int(omx_map_onion_addr(&map, GOK, OMX_ONION_LABEL_LEN, &a_gok), 1, "format 2: an onion's address");
	is_int(omx_map_onion_addr(&map, N6T, OMX_ONION_LABEL_LEN, &a_n6t), 1, "format 2: another's");
	is_int(omx_map_onion_addr(&map, LUH, OMX_ONION_LABEL_LEN, &a_luh), 1, "format 2: the third's");
	ok((a_gok & map.mask) == map.net && a_gok != a_n6t && a_n6t != a_luh, "format 2: three addresses in the range");
	is_int(omx_map_addr_onion(&map, a_n6t, &one, domain, &nd), 1, "format 2: the onion behind an address");
	{
		is_str(one.onion, N6T, "format 2: the right onion");
		is_int(one.port, 2525, "format 2: its port");
		is_str(domain, "example.org", "format 2: its first domain");
		is_int(nd, 1, "format 2: how many domains it serves");
	}
	is_int(omx_map_addr_onion(&map, a_gok ^ 0x100, &one, NULL, NULL), 0, "format 2: another address is no onion's");
	ok(!omx_map_damaged(&map), "format 2: nothing read was seen as damage");
	omx_map_close(&map);

	if (ok(list_addrs("tests/unit/map2/tombstones.cdb", &l) == 0, "format 2: tombstones.cdb walks")) {
		ok(addr_of(&l, GOK, 1) != 0, "format 2: its onion");
		ok(addr_of(&l, N6T, OMX_MAP_RETIRED) != 0 && addr_of(&l, LUH, OMX_MAP_RETIRED) != 0,
		   "format 2: its two tombstones read as retired addresses");
	}
	if (ok(open_map("tests/unit/map2/oldrange.cdb", &map, err, sizeof(err)) == 0, "format 2: oldrange.cdb opens")) {
		ok(omx_map_old_range(&map, 0xf0000001u) != NULL, "format 2: its previous range is refused");
		is_int(omx_map_domain(&map, "example.org", t, NULL), 1, "format 2: and it answers");
		omx_map_close(&map);
	}
}

/* Rebuilding over a format-2 map writes format 3, keeping every onion's
 * address, the tombstones and the previous ranges. */
static void test_format2_rebuild(void)
{
	char out[4096], err[512], text[512], head[4], fresh[OMX_ONION_LABEL_LEN + 1];
	struct addr_list before, after;
	struct omx_map map;
	unsigned char *mem;
	size_t n;
	int64_t when = MAP2_LEFT + 3600;

	/* small.cdb, with N6T dropped: GOK and LUH keep their addresses, N6T's becomes a tombstone. */
	if (list_addrs("tests/unit/map2/small.cdb", &before) != 0 ||
	    !(mem = (unsigned char *)read_bytes("tests/unit/map2/small.cdb", &n))) {
		ok(0, "format 2 rebuild: small.cdb read");
		return;
	}
	path_of(out, sizeof(out), "v2re.cdb");
	write_bytes(out, mem, n);
	free(mem);
	onion("v2re", 0, fresh);
	snprintf(text, sizeof(text), "example.org %s.onion\n.example.net %s.onion\nnew.example %s.onion\n", GOK, LUH,
		 fresh);
	if (!ok(compile_at("v2re", text, NULL, when, out, sizeof(out), err, sizeof(err)) == 0,
		"format 2 rebuild: compiles over small.cdb: %s", err))
		return;
	if ((mem = (unsigned char *)read_bytes(out, &n))) {
		memcpy(head, mem + 2064, 2);
		head[2] = '\0';
		is_str(head, "3 ", "format 2 rebuild: the new map is format 3");
		free(mem);
	}
	if (ok(list_addrs(out, &after) == 0, "format 2 rebuild: the new map walks")) {
		is_int(addr_of(&after, GOK, 1), addr_of(&before, GOK, 1), "format 2 rebuild: an onion keeps its address");
		is_int(addr_of(&after, LUH, 1), addr_of(&before, LUH, 1), "format 2 rebuild: another keeps its address");
		is_int(addr_of(&after, N6T, OMX_MAP_RETIRED), addr_of(&before, N6T, 1),
		       "format 2 rebuild: a removed onion's address is its tombstone");
		ok(addr_of(&before, GOK, 1) != 0, "(the addresses were read)");
	}

	/* tombstones.cdb: its tombstones stay (not expired yet). */
	if (list_addrs("tests/unit/map2/tombstones.cdb", &before) == 0 &&
	    (mem = (unsigned char *)read_bytes("tests/unit/map2/tombstones.cdb", &n))) {
		write_bytes(out, mem, n);
		free(mem);
		snprintf(text, sizeof(text), "example.org %s.onion\n", GOK);
		if (ok(compile_at("v2re", text, NULL, when, out, sizeof(out), err, sizeof(err)) == 0,
		       "format 2 rebuild: compiles over tombstones.cdb: %s", err) &&
		    ok(list_addrs(out, &after) == 0, "format 2 rebuild: walks")) {
			is_int(addr_of(&after, GOK, 1), addr_of(&before, GOK, 1), "format 2 rebuild: the onion keeps its address");
			ok(addr_of(&before, N6T, OMX_MAP_RETIRED) != 0 &&
			   addr_of(&after, N6T, OMX_MAP_RETIRED) == addr_of(&before, N6T, OMX_MAP_RETIRED) &&
			   addr_of(&after, LUH, OMX_MAP_RETIRED) == addr_of(&before, LUH, OMX_MAP_RETIRED),
			   "format 2 rebuild: both tombstones kept at their addresses");
		}
		/* Until they expire. */
		if (ok(compile_at("v2re", text, NULL, MAP2_LEFT + OMX_MAP_RETIRE_SECONDS + 60, out, sizeof(out), err,
				  sizeof(err)) == 0, "format 2 rebuild: rebuilt again a week later") &&
		    list_addrs(out, &after) == 0)
			is_int(addr_of(&after, N6T, OMX_MAP_RETIRED), 0, "format 2 rebuild: then the tombstones expire");
	}

	/* oldrange.cdb: the previous range stays refused. */
	if ((mem = (unsigned char *)read_bytes("tests/unit/map2/oldrange.cdb", &n))) {
		write_bytes(out, mem, n);
		free(mem);
		snprintf(text, sizeof(text), "example.org %s.onion\n", GOK);
		if (ok(compile_at("v2re", text, NULL, when, out, sizeof(out), err, sizeof(err)) == 0,
		       "format 2 rebuild: compiles over oldrange.cdb: %s", err) &&
		    ok(open_map(out, &map, err, sizeof(err)) == 0, "format 2 rebuild: opens")) {
			is_int(map.net, 0x0a010000u, "format 2 rebuild: the range kept");
			ok(omx_map_old_range(&map, 0xf0000001u) != NULL, "format 2 rebuild: the previous range still refused");
			omx_map_close(&map);
		}
	}
}

/* ERR starts with "SRC:LINE:" and mentions NEEDLE. */
static void like_err(const char *err, const char *needle, const char *src, unsigned line, const char *what)
{
	char prefix[4200];

	snprintf(prefix, sizeof(prefix), "%s:%u:", src, line);
	if (!ok(strstr(err, prefix) == err && strstr(err, needle), "%s: \"%s\" at line %u", what, needle, line))
		printf("#   message: %s\n", err);
}

/* A rebuild over a format-3 map takes its onions' keys as checked (they were,
 * before it was written); a format-2 map's are checked again: an onionmx-map
 * before the key check wrote tests/unit/map2/badkey.cdb, whose GOKBAD has a
 * valid checksum and a key Tor refuses. */
#define GOKBAD "gok3g276q3y5hbpruzxozi7jim7km2vn4z3djh247ijrr45zeelwwgqd"
static void test_rebuild_vouches(void)
{
	char out[4096], err[512], src[4096], *text, *big;
	unsigned char *mem;
	size_t n, nd = 0, no = 0, len;
	uint32_t before = 0, after = 0;
	char o[OMX_ONION_LABEL_LEN + 1];

	/* Format 3 over format 3, a source large enough for the second thread. */
	if (!(text = large_source(20000, 0, NULL)))
		return;
	len = strlen(text);
	ok(compile_text("vouch", text, NULL, out, sizeof(out), NULL, NULL, err, sizeof(err)) == 0,
	   "vouch: a 20,000-domain map compiles: %s", err);
	onion("threaded", 19999, o);
	before = addr_in(out, o);
	big = malloc(len + 200);
	memcpy(big, text, len);
	onion("vouch-new", 0, o);
	snprintf(big + len, 200, "new.example %s.onion\n", o);
	ok(compile_text("vouch", big, NULL, out, sizeof(out), &nd, &no, err, sizeof(err)) == 0,
	   "vouch: rebuilt over itself with one onion more: %s", err);
	is_int(nd, 20001, "vouch: every domain");
	is_int(no, 20001, "vouch: every onion");
	onion("threaded", 19999, o);
	after = addr_in(out, o);
	ok(before && after == before, "vouch: an onion keeps its address");
	free(big);
	free(text);

	/* Format 2 does not vouch: its onion's key is checked, and refused. */
	path_of(out, sizeof(out), "vouch2.cdb");
	path_of(src, sizeof(src), "vouch2.src");
	if (!(mem = (unsigned char *)read_bytes("tests/unit/map2/badkey.cdb", &n))) {
		ok(0, "vouch: badkey.cdb read");
		return;
	}
	write_bytes(out, mem, n);
	{
		struct omx_map map;
		uint32_t a = 0;

		if (ok(open_map(out, &map, err, sizeof(err)) == 0, "vouch: the format-2 map opens")) {
			is_int(omx_map_onion_addr(&map, GOKBAD, OMX_ONION_LABEL_LEN, &a), 1,
			       "vouch: it holds the onion whose key Tor refuses");
			omx_map_close(&map);
		}
	}
	text = malloc(128);
	snprintf(text, 128, "example.org %s.onion\n", GOKBAD);
	is_int(compile_text("vouch2", text, NULL, out, sizeof(out), NULL, NULL, err, sizeof(err)), -1,
	       "vouch: rebuilding over a format-2 map checks its onions' keys");
	like_err(err, "not a valid ed25519 point", src, 1, "vouch: format 2, small source");
	free(text);
	/* The same on the second thread's side of a large source. */
	if ((text = large_source(20000, 0, NULL))) {
		len = strlen(text);
		big = malloc(len + 200);
		memcpy(big, text, len);
		snprintf(big + len, 200, "example.org %s.onion\n", GOKBAD);
		write_bytes(out, mem, n);
		is_int(compile_text("vouch2", big, NULL, out, sizeof(out), NULL, NULL, err, sizeof(err)), -1,
		       "vouch: and in a large source (the precheck thread's part)");
		like_err(err, "not a valid ed25519 point", src, 20001, "vouch: format 2, large source");
		free(big);
		free(text);
	}
	free(mem);
}

/* --- addresses across rebuilds (tombstones, previous ranges) --- */


static int compile_at(const char *name, const char *text, const char *range, int64_t when,
		      char *out, size_t outlen, char *err, size_t errlen)
{
	return compile_text_at(name, text, range, when, out, outlen, NULL, NULL, err, errlen);
}

/* Address of LABEL in the map at PATH (0: none). */
static uint32_t addr_in(const char *path, const char *label)
{
	struct omx_map map;
	char err[512];
	uint32_t a = 0;

	if (open_map(path, &map, err, sizeof(err)) != 0)
		return 0;
	if (omx_map_onion_addr(&map, label, OMX_ONION_LABEL_LEN, &a) != 1)
		a = 0;
	omx_map_close(&map);
	return a;
}

static int lookup_addr(const char *path, uint32_t a, struct omx_target *t)
{
	struct omx_map map;
	char err[512];
	int r;

	if (open_map(path, &map, err, sizeof(err)) != 0)
		return -9;
	r = omx_map_addr_onion(&map, a, t, NULL, NULL);
	omx_map_close(&map);
	return r;
}

/* The "a:" key mix is a bijection: the compiler reads old addresses back from keys. */
static void test_addr_key(void)
{
	uint32_t bad = 0, samples[] = { 0, 1, 0xf0000001u, 0xf7fffffeu, 0x0a090001u, 0xffffffffu };
	char key[6];

	for (size_t i = 0; i < sizeof(samples) / sizeof(samples[0]); i++) {
		omx_map_addr_key(samples[i], key);
		bad += omx_map_key_addr(key) != samples[i];
	}
	for (uint32_t a = 0xf0000000u; a < 0xf0000000u + 100000; a++) {
		omx_map_addr_key(a, key);
		bad += omx_map_key_addr(key) != a || key[0] != 'a' || key[1] != ':';
	}
	is_int((int)bad, 0, "a: keys: address -> key -> address round-trips");
}

static void test_rebuild(void)
{
	const char *range = "10.9.0.0/24";
	char y[OMX_ONION_LABEL_LEN + 1], x[OMX_ONION_LABEL_LEN + 1], z[OMX_ONION_LABEL_LEN + 1];
	char text[1024], out[4096], fresh[4096], err[512];
	uint32_t net, mask, ay, ax, az;
	struct omx_target t;
	int64_t t0 = 1700000000;
	unsigned i;

	omx_parse_range(range, &net, &mask);
	onion("rebuild-y", 0, y);
	onion("rebuild-z", 0, z);
	snprintf(text, sizeof(text), "y.example %s.onion\nz.example %s.onion\n", y, z);
	if (!ok(compile_at("rb", text, range, t0, out, sizeof(out), err, sizeof(err)) == 0,
		"rebuild: first map: %s", err))
		return;
	ay = addr_in(out, y);
	az = addr_in(out, z);
	/* X: a new onion that sorts before Y and whose first candidate is Y's address. */
	for (i = 0; i < 200000; i++) {
		onion("rebuild-x", i, x);
		if (omx_addr_candidate(x, net, mask, 0) == ay && omx_map_onion_order(x) < omx_map_onion_order(y))
			break;
	}
	if (!ok(i < 200000, "rebuild: found an onion that would take Y's address"))
		return;
	/* Built afresh, X takes Y's address: the case a rebuild must not repeat. */
	snprintf(text, sizeof(text), "x.example %s.onion\ny.example %s.onion\nz.example %s.onion\n", x, y, z);
	compile_at("rbfresh", text, range, t0, fresh, sizeof(fresh), err, sizeof(err));
	is_int((int)(addr_in(fresh, x) == ay), 1, "rebuild: (afresh, X would get Y's old address)");
	/* Over the existing map: Y keeps its address, X gets another. */
	ok(compile_at("rb", text, range, t0 + 60, out, sizeof(out), err, sizeof(err)) == 0,
	   "rebuild: X added over the existing map: %s", err);
	is_int((int)addr_in(out, y), (int)ay, "rebuild: Y keeps its address");
	is_int((int)addr_in(out, z), (int)az, "rebuild: Z keeps its address");
	ax = addr_in(out, x);
	ok(ax && ax != ay && ax != az, "rebuild: X gets an address of its own");
	is_int(lookup_addr(out, ay, &t), 1, "rebuild: Y's address still leads to...");
	is_str(t.onion, y, "rebuild: ...Y");

	/* Y removed: its address becomes a tombstone, refused and not reused. */
	snprintf(text, sizeof(text), "x.example %s.onion\nz.example %s.onion\n", x, z);
	ok(compile_at("rb", text, range, t0 + 120, out, sizeof(out), err, sizeof(err)) == 0,
	   "rebuild: Y removed: %s", err);
	is_int(lookup_addr(out, ay, &t), OMX_MAP_RETIRED, "rebuild: Y's address is retired");
	is_str(t.onion, y, "rebuild: the tombstone names Y");
	is_int((int)addr_in(out, y), 0, "rebuild: Y is no longer in the map");
	is_int((int)addr_in(out, x), (int)ax, "rebuild: X still found (walks over the tombstone)");
	/* A new map built from X alone, afresh, would give X Y's address; over the
	 * tombstone it keeps its own. */
	snprintf(text, sizeof(text), "x.example %s.onion\n", x);
	ok(compile_at("rb", text, range, t0 + 180, out, sizeof(out), err, sizeof(err)) == 0,
	   "rebuild: Z removed too: %s", err);
	is_int((int)addr_in(out, x), (int)ax, "rebuild: X keeps its address");
	is_int(lookup_addr(out, ay, &t), OMX_MAP_RETIRED, "rebuild: Y's address still retired");
	/* A week later, Y's tombstone has expired but lies on X's probe path: kept. */
	ok(compile_at("rb", text, range, t0 + OMX_MAP_RETIRE_SECONDS + 200, out, sizeof(out), err,
		      sizeof(err)) == 0, "rebuild: a week later: %s", err);
	is_int((int)addr_in(out, x), (int)ax, "rebuild: a week later, X still found");
	is_int(lookup_addr(out, ay, &t), OMX_MAP_RETIRED, "rebuild: Y's tombstone kept as X's bridge");
	is_int(lookup_addr(out, az, &t), 0, "rebuild: Z's expired tombstone is dropped");
	/* An address whose tombstone expires in the very build where a new onion
	 * wants it: the onion gets it, and the tombstone goes. */
	{
		int64_t t1 = t0 + OMX_MAP_RETIRE_SECONDS + 240, t2 = t1 + 10;
		char v[OMX_ONION_LABEL_LEN + 1];
		uint32_t az2;

		snprintf(text, sizeof(text), "x.example %s.onion\nz.example %s.onion\n", x, z);
		compile_at("rb", text, range, t1, out, sizeof(out), err, sizeof(err));
		az2 = addr_in(out, z);
		snprintf(text, sizeof(text), "x.example %s.onion\n", x);
		compile_at("rb", text, range, t2, out, sizeof(out), err, sizeof(err));
		is_int(lookup_addr(out, az2, &t), OMX_MAP_RETIRED, "rebuild: Z back then removed: retired again");
		for (i = 0; i < 200000; i++) {
			onion("rebuild-v", i, v);
			if (omx_addr_candidate(v, net, mask, 0) == az2)
				break;
		}
		if (ok(i < 200000, "rebuild: found an onion wanting Z's address")) {
			struct omx_map map;

			snprintf(text, sizeof(text), "x.example %s.onion\nv.example %s.onion\n", x, v);
			ok(compile_at("rb", text, range, t2 + OMX_MAP_RETIRE_SECONDS + 1, out, sizeof(out),
				      err, sizeof(err)) == 0, "rebuild: V added as Z's tombstone expires: %s", err);
			is_int((int)addr_in(out, v), (int)az2, "rebuild: V gets Z's expired address");
			is_int(lookup_addr(out, az2, &t), 1, "rebuild: which now leads to V");
			if (open_map(out, &map, err, sizeof(err)) == 0) {
				struct cdb_find cf;
				struct cdb c = map.cdb;
				char key[6];
				int records = 0;

				omx_map_addr_key(az2, key);
				if (cdb_findinit(&cf, &c, key, sizeof(key)) > 0)
					while (cdb_findnext(&cf) > 0)
						records++;
				is_int(records, 1, "rebuild: one record for that address (no tombstone beside V)");
				omx_map_close(&map);
			}
		}
	}
	/* Y back: it gets its old address again. */
	snprintf(text, sizeof(text), "x.example %s.onion\ny.example %s.onion\n", x, y);
	ok(compile_at("rb", text, range, t0 + OMX_MAP_RETIRE_SECONDS + 300, out, sizeof(out), err,
		      sizeof(err)) == 0, "rebuild: Y back: %s", err);
	is_int((int)addr_in(out, y), (int)ay, "rebuild: Y gets its old address back");
	is_int((int)addr_in(out, x), (int)ax, "rebuild: X unchanged");

	/* A map of format 1 (before checksums, raw addresses in its keys) being
	 * replaced: its addresses are kept, as from a format-2 one. */
	{
		char v1[4096], val[256];
		char key[6] = { 'a', ':', (char)(ay >> 24), (char)(ay >> 16), (char)(ay >> 8), (char)ay };
		struct cdb_make cm;
		int fd;

		path_of(v1, sizeof(v1), "v1.cdb");
		fd = open(v1, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		cdb_make_start(&cm, fd);
		cdb_make_add(&cm, "!onionmx", 8, "1 10.9.0.0/24", 13);
		cdb_make_add(&cm, "d:y.example", 11, y, OMX_ONION_LABEL_LEN);
		snprintf(val, sizeof(val), "%s 0 1 y.example", y);
		cdb_make_add(&cm, key, sizeof(key), val, (unsigned)strlen(val));
		cdb_make_finish(&cm);
		close(fd);
		snprintf(text, sizeof(text), "x.example %s.onion\ny.example %s.onion\n", x, y);
		ok(compile_at("v1", text, NULL, t0, out, sizeof(out), err, sizeof(err)) == 0,
		   "format 1 map rebuilt: %s", err);
		is_int((int)addr_in(out, y), (int)ay, "format 1 map rebuilt: Y keeps its address");
		ok(addr_in(out, x) && addr_in(out, x) != ay, "format 1 map rebuilt: X gets another");
	}

	/* -r: the old range is kept as a refused previous range. */
	{
		struct omx_map map;
		int64_t t1 = t0 + OMX_MAP_RETIRE_SECONDS + 400;

		ok(compile_at("rb", text, "10.10.0.0/24", t1, out, sizeof(out), err, sizeof(err)) == 0,
		   "range moved: %s", err);
		if (ok(open_map(out, &map, err, sizeof(err)) == 0, "range moved: opens")) {
			is_int((int)map.nold, 1, "range moved: one previous range");
			ok(omx_map_old_range(&map, ay) && omx_map_old_range(&map, ay)->left == t1,
			   "range moved: Y's old address is in it, left now");
			ok(omx_map_old_range(&map, 0x0a0a0001u) == NULL, "range moved: the new range is not");
			omx_map_close(&map);
		}
		ok(addr_in(out, y) >> 8 == 0x0a0a00u, "range moved: Y has an address in the new range");
		ok(compile_at("rb", text, NULL, t1 + 10, out, sizeof(out), err, sizeof(err)) == 0,
		   "range moved: rebuilt without -r: %s", err);
		ok(addr_in(out, y) >> 8 == 0x0a0a00u, "range moved: without -r the range stays");
		if (open_map(out, &map, err, sizeof(err)) == 0) {
			ok(map.nold == 1 && omx_map_old_range(&map, ay), "range moved: the previous range is carried");
			omx_map_close(&map);
		}
		is_int(compile_at("rb", text, "10.9.0.0/24", t1 + 20, out, sizeof(out), err, sizeof(err)), -1,
		       "range moved: moving back into the previous range within the period is refused");
		ok(strstr(err, "overlaps") != NULL, "range moved: saying why: %s", err);
		is_int(compile_at("rb", text, "10.10.0.0/16", t1 + 20, out, sizeof(out), err, sizeof(err)), -1,
		       "range moved: a range overlapping the current one is refused");
		ok(compile_at("rb", text, "10.9.0.0/24", t1 + OMX_MAP_RETIRE_SECONDS + 30, out, sizeof(out),
			      err, sizeof(err)) == 0, "range moved: back after the period: %s", err);
	}
}

/* Removes everything in DIR, then DIR; returns 0 if all went. */
static int cleanup(void)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char path[4096];
	int rc = 0, tmp = 0;

	if (!d)
		return -1;
	while ((e = readdir(d))) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		if (strstr(e->d_name, ".tmp"))
			tmp++;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		rc |= unlink(path);
	}
	closedir(d);
	is_int(tmp, 0, "no temporary files left behind by the compiler");
	return rc | rmdir(dir);
}

int main(void)
{
	test_parse_line();
	test_range();
	test_candidates();
	if (!mkdtemp(dir)) {
		ok(0, "mkdtemp");
		return done_testing();
	}
	test_compile_lookup();
	test_large();
	test_small_range();
	test_compile_errors();
	test_compile_errors_threaded();
	test_order();
	test_open();
	test_damage();
	test_addr_key();
	test_addr_record();
	test_record_sizes();
	test_short_domain();
	test_format2_read();
	test_onion_raw();
	test_rebuild();
	test_format2_rebuild();
	test_rebuild_vouches();
	ok(cleanup() == 0, "temporary directory removed");
	return done_testing();
}
