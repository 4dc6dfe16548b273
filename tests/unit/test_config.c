/* onionmx.conf: defaults, every key and its accepted values, the line syntax
 * (comments, blanks, spaces, CRLF), every error with its FILE:LINE: prefix, and
 * the loader (missing file, directory, secure-mode ownership checks). */
#include "config.h"
#include "map.h"
#include "tap.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

/* Parses TEXT over fresh defaults into *CFG; returns the parser's result. */
static int parse(struct omx_config *cfg, const char *text, char *err, size_t errlen)
{
	omx_config_defaults(cfg);
	err[0] = '\0';
	return omx_config_parse(cfg, text, strlen(text), "test.conf", err, errlen);
}

/* True if CFG->socks is the IPv4 address ADDR on PORT. */
static int socks_is_v4(const struct omx_config *cfg, const char *addr, unsigned port)
{
	const struct sockaddr_in *sin = (const struct sockaddr_in *)&cfg->socks;
	struct in_addr want;

	if (inet_pton(AF_INET, addr, &want) != 1)
		return 0;
	return cfg->socks_len == sizeof(struct sockaddr_in) && sin->sin_family == AF_INET &&
	       sin->sin_addr.s_addr == want.s_addr && ntohs(sin->sin_port) == port;
}

static int socks_is_v6(const struct omx_config *cfg, const char *addr, unsigned port)
{
	const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)&cfg->socks;
	struct in6_addr want;

	if (inet_pton(AF_INET6, addr, &want) != 1)
		return 0;
	return cfg->socks_len == sizeof(struct sockaddr_in6) && sin6->sin6_family == AF_INET6 &&
	       memcmp(&sin6->sin6_addr, &want, sizeof(want)) == 0 && ntohs(sin6->sin6_port) == port;
}

/* TEXT must fail with "test.conf:LINE:" in the message and NEEDLE (if any) in it. */
static void check_error(const char *text, unsigned line, const char *needle, const char *what)
{
	struct omx_config cfg;
	char err[512], prefix[64];
	int rc = parse(&cfg, text, err, sizeof(err));

	snprintf(prefix, sizeof(prefix), "test.conf:%u:", line);
	is_int(rc, -1, "%s: rejected", what);
	if (!ok(strstr(err, prefix) == err, "%s: message starts with \"%s\"", what, prefix))
		printf("#   message: %s\n", err);
	if (needle && !ok(strstr(err, needle) != NULL, "%s: message mentions \"%s\"", what, needle))
		printf("#   message: %s\n", err);
}

static void test_defaults(void)
{
	struct omx_config cfg;
	char err[256];

	memset(&cfg, 0xa5, sizeof(cfg));
	omx_config_defaults(&cfg);
	ok(socks_is_v4(&cfg, "127.0.0.1", 9050), "default socks is 127.0.0.1:9050");
	is_str(cfg.socks_text, "127.0.0.1:9050", "default socks_text");
	is_str(cfg.map_path, "/etc/onionmx/domains.cdb", "default map");
	is_int(cfg.timeout, 120, "default timeout");
	is_int(cfg.log, OMX_LOG_SYSLOG, "default log is syslog");
	is_int(cfg.log_level, LOG_INFO, "default log_level is info");
	is_int(cfg.isolate, 1, "default isolate is on");

	/* The defaults set at start-up over static (zero) storage, without
	 * parsing: the same as the text they stand for. */
	{
		static struct omx_config zeroed;
		struct sockaddr_storage ss;
		socklen_t len = 0;
		uint32_t net = 0, mask = 0;

		omx_config_set_defaults(&zeroed);
		ok(memcmp(&zeroed, &cfg, sizeof(cfg)) == 0,
		   "defaults over zeroed storage (start-up) = omx_config_defaults over garbage");
		ok(omx_parse_hostport(OMX_DEFAULT_SOCKS, &ss, &len) == 0 && len == cfg.socks_len &&
			   memcmp(&ss, &cfg.socks, sizeof(ss)) == 0 &&
			   memcmp(&ss, &cfg.tors[0].ss, sizeof(ss)) == 0 && cfg.tors[0].len == len,
		   "the default socks address is OMX_DEFAULT_SOCKS parsed (%s)", OMX_DEFAULT_SOCKS);
		ok(omx_parse_range(OMX_DEFAULT_RANGE, &net, &mask) == 0 && net == OMX_DEFAULT_RANGE_NET &&
			   mask == OMX_DEFAULT_RANGE_MASK,
		   "OMX_DEFAULT_RANGE_NET/MASK are OMX_DEFAULT_RANGE (%s)", OMX_DEFAULT_RANGE);
	}

	/* An empty text, only blanks, only comments: all leave the defaults. */
	is_int(parse(&cfg, "", err, sizeof(err)), 0, "empty text parses");
	is_int(cfg.timeout, 120, "empty text keeps the defaults");
	is_int(parse(&cfg, "\n\n   \n\t\n# just a comment\n   # indented comment\n", err,
		     sizeof(err)), 0, "blank and comment lines parse");
	ok(socks_is_v4(&cfg, "127.0.0.1", 9050) && cfg.timeout == 120 && cfg.isolate == 1,
	   "blank and comment lines keep the defaults");
}

static void test_keys(void)
{
	struct omx_config cfg;
	char err[256];

	/* socks */
	is_int(parse(&cfg, "socks = 10.1.2.3:9150\n", err, sizeof(err)), 0, "socks IPv4");
	ok(socks_is_v4(&cfg, "10.1.2.3", 9150), "socks IPv4 address and port");
	is_str(cfg.socks_text, "10.1.2.3:9150", "socks_text as written");
	is_int(parse(&cfg, "socks = [::1]:9050\n", err, sizeof(err)), 0, "socks [::1]:9050");
	ok(socks_is_v6(&cfg, "::1", 9050), "socks IPv6 address and port");
	is_str(cfg.socks_text, "[::1]:9050", "socks_text keeps the brackets");
	is_int(parse(&cfg, "socks = [2001:db8::5]:65535\n", err, sizeof(err)), 0,
	       "socks [2001:db8::5]:65535");
	ok(socks_is_v6(&cfg, "2001:db8::5", 65535), "socks IPv6 with port 65535");
	is_int(parse(&cfg, "socks = 127.0.0.1:09050\n", err, sizeof(err)), 0, "socks port with a leading zero");
	ok(socks_is_v4(&cfg, "127.0.0.1", 9050), "socks port 09050 stored as 9050 (as strtoul read it)");
	is_int(parse(&cfg, "socks = 127.0.0.1:1\n", err, sizeof(err)), 0, "socks port 1");
	ok(socks_is_v4(&cfg, "127.0.0.1", 1), "socks port 1 stored");

	/* map */
	is_int(parse(&cfg, "map = /var/lib/onionmx/map.cdb\n", err, sizeof(err)), 0, "map path");
	is_str(cfg.map_path, "/var/lib/onionmx/map.cdb", "map path stored");

	/* timeout */
	is_int(parse(&cfg, "timeout = 1\n", err, sizeof(err)), 0, "timeout 1");
	is_int(cfg.timeout, 1, "timeout 1 stored");
	is_int(parse(&cfg, "timeout = 3600\n", err, sizeof(err)), 0, "timeout 3600");
	is_int(cfg.timeout, 3600, "timeout 3600 stored");
	is_int(parse(&cfg, "timeout = 45\n", err, sizeof(err)), 0, "timeout 45");
	is_int(cfg.timeout, 45, "timeout 45 stored");

	/* log */
	is_int(parse(&cfg, "log = stderr\n", err, sizeof(err)), 0, "log stderr");
	is_int(cfg.log, OMX_LOG_STDERR, "log stderr stored");
	is_int(parse(&cfg, "log = stderr\nlog = syslog\n", err, sizeof(err)), 0, "log syslog");
	is_int(cfg.log, OMX_LOG_SYSLOG, "log syslog stored (last setting wins)");

	/* log_level */
	{
		static const struct { const char *name; int level; } levels[] = {
			{ "error", LOG_ERR }, { "warning", LOG_WARNING }, { "notice", LOG_NOTICE },
			{ "info", LOG_INFO }, { "debug", LOG_DEBUG },
		};
		for (size_t i = 0; i < sizeof(levels) / sizeof(levels[0]); i++) {
			char text[64];

			snprintf(text, sizeof(text), "log_level = %s\n", levels[i].name);
			is_int(parse(&cfg, text, err, sizeof(err)), 0, "log_level %s", levels[i].name);
			is_int(cfg.log_level, levels[i].level, "log_level %s stored", levels[i].name);
		}
	}

	/* isolate */
	{
		static const struct { const char *word; int value; } bools[] = {
			{ "yes", 1 }, { "no", 0 }, { "true", 1 }, { "false", 0 },
			{ "on", 1 }, { "off", 0 }, { "1", 1 }, { "0", 0 },
		};
		for (size_t i = 0; i < sizeof(bools) / sizeof(bools[0]); i++) {
			char text[64];

			/* Start from the opposite so the assignment is visible. */
			snprintf(text, sizeof(text), "isolate = %s\nisolate = %s\n",
				 bools[i].value ? "no" : "yes", bools[i].word);
			is_int(parse(&cfg, text, err, sizeof(err)), 0, "isolate %s", bools[i].word);
			is_int(cfg.isolate, bools[i].value, "isolate %s stored", bools[i].word);
		}
	}

	/* All keys at once, with the untouched ones keeping their defaults. */
	is_int(parse(&cfg, "timeout = 30\nisolate = off\n", err, sizeof(err)), 0, "two keys");
	ok(cfg.timeout == 30 && cfg.isolate == 0 && socks_is_v4(&cfg, "127.0.0.1", 9050) &&
	   strcmp(cfg.map_path, OMX_DEFAULT_MAP) == 0 && cfg.log == OMX_LOG_SYSLOG &&
	   cfg.log_level == LOG_INFO, "keys not given keep their defaults");
}

static void test_syntax(void)
{
	struct omx_config cfg;
	char err[256];
	const char *full =
		"# onionmx.conf\n"
		"\n"
		"socks=127.0.0.2:9150\n"
		"  map   =   /srv/map.cdb   \n"
		"\ttimeout\t=\t77\t# trailing comment\n"
		"log = stderr # another\n"
		"\n"
		"   # indented comment\n"
		"log_level = debug\n"
		"isolate = no";                     /* no final newline */
	const char *crlf =
		"# crlf\r\n"
		"socks = [::1]:9051\r\n"
		"\r\n"
		"map = /x/y.cdb\r\n"
		"timeout = 9\r\n"
		"log = stderr\r\n"
		"log_level = warning\r\n"
		"isolate = off\r\n";

	is_int(parse(&cfg, full, err, sizeof(err)), 0, "comments, blanks, spacing parse");
	ok(socks_is_v4(&cfg, "127.0.0.2", 9150), "socks without spaces around '='");
	is_str(cfg.map_path, "/srv/map.cdb", "map with extra spaces trimmed");
	is_int(cfg.timeout, 77, "tabs around '=' and trailing comment");
	is_int(cfg.log, OMX_LOG_STDERR, "log with trailing comment");
	is_int(cfg.log_level, LOG_DEBUG, "log_level debug");
	is_int(cfg.isolate, 0, "last line without newline");

	is_int(parse(&cfg, crlf, err, sizeof(err)), 0, "CRLF line endings parse");
	if (err[0])
		printf("#   message: %s\n", err);
	ok(socks_is_v6(&cfg, "::1", 9051), "CRLF: socks");
	is_str(cfg.map_path, "/x/y.cdb", "CRLF: map has no trailing CR");
	is_int(cfg.timeout, 9, "CRLF: timeout");
	is_int(cfg.log, OMX_LOG_STDERR, "CRLF: log");
	is_int(cfg.log_level, LOG_WARNING, "CRLF: log_level");
	is_int(cfg.isolate, 0, "CRLF: isolate");
}

static void test_errors(void)
{
	check_error("socks = 127.0.0.1:9050\nbogus = 1\n", 2, "bogus", "unknown key");
	check_error("\n\n\nsocks 127.0.0.1:9050\n", 4, "=", "missing '='");
	/* The message should say which line text lacks the '=' (its key). */
	check_error("timeout = 5\nsocks 127.0.0.1:9050\n", 2, "socks", "missing '=' names the key");
	check_error("timeout =\n", 1, "timeout", "missing value");
	check_error("timeout =   # only a comment\n", 1, "timeout", "missing value before comment");
	check_error("= 5\n", 1, NULL, "missing key");

	check_error("socks = localhost:9050\n", 1, "localhost:9050", "socks hostname");
	check_error("socks = 127.0.0.1\n", 1, "127.0.0.1", "socks without port");
	check_error("socks = 127.0.0.1:0\n", 1, "127.0.0.1:0", "socks port 0");
	check_error("socks = 127.0.0.1:70000\n", 1, "127.0.0.1:70000", "socks port 70000");
	check_error("socks = [::1]9050\n", 1, "[::1]9050", "socks [::1]9050");
	check_error("socks = ::1:9050\n", 1, "::1:9050", "socks IPv6 without brackets");
	check_error("socks = 127.0.0.1:\n", 1, "127.0.0.1:", "socks empty port");
	check_error("socks = 127.0.0.1:90x\n", 1, "127.0.0.1:90x", "socks port with letters");
	check_error("socks = 127.0.0.1:+9050\n", 1, "127.0.0.1:+9050", "socks port with a sign");
	check_error("socks = 127.0.0.1:-9050\n", 1, "127.0.0.1:-9050", "socks port negative");
	check_error("socks = 127.0.0.1:18446744073709560666\n", 1, "127.0.0.1:18446744073709560666",
		    "socks port past 2^64 (wraps to 9050 in 64 bits)");
	check_error("socks = 127.0.0.1:009050x\n", 1, "009050x", "socks port with leading zeros and a letter");

	check_error("# a\nmap = etc/onionmx/domains.cdb\n", 2, "etc/onionmx/domains.cdb",
		    "relative map path");
	check_error("timeout = 0\n", 1, "\"0\"", "timeout 0");
	check_error("timeout = abc\n", 1, "abc", "timeout abc");
	check_error("timeout = 99999\n", 1, "99999", "timeout 99999");
	check_error("timeout = 3601\n", 1, "3601", "timeout 3601");
	check_error("timeout = -5\n", 1, "-5", "timeout -5");
	check_error("timeout = 10s\n", 1, "10s", "timeout 10s");
	check_error("log = file\n", 1, "file", "bad log");
	check_error("log_level = verbose\n", 1, "verbose", "bad log_level");
	check_error("isolate = maybe\n", 1, "maybe", "bad isolate");
	check_error("\r\n\r\nisolate = 2\r\n", 3, "\"2\"", "bad isolate after CRLF lines");

	/* A 10 MB line: an error, not a crash or an overflow. */
	{
		size_t big = 10 * 1024 * 1024;
		char *text = malloc(big + 32);
		struct omx_config cfg;
		char err[256];

		if (!text) {
			ok(0, "malloc 10 MB");
			return;
		}
		memcpy(text, "# first\n", 8);
		memcpy(text + 8, "map = /", 7);
		memset(text + 15, 'a', big);
		memcpy(text + 15 + big, "\ntimeout = 5\n", 14);
		omx_config_defaults(&cfg);
		is_int(omx_config_parse(&cfg, text, strlen(text), "test.conf", err, sizeof(err)), -1,
		       "10 MB line rejected");
		ok(strstr(err, "test.conf:2:") == err, "10 MB line: message starts test.conf:2:");
		if (!ok(strstr(err, "longer than") != NULL, "10 MB line: message says \"longer than\""))
			printf("#   message: %s\n", err);
		is_str(cfg.map_path, OMX_DEFAULT_MAP, "10 MB line: map not changed");
		free(text);
	}

	/* A NUL byte inside a line (LEN covers it). */
	{
		static const char text[] = "timeout = 5\nlog = std\0err\n";
		struct omx_config cfg;
		char err[256];

		omx_config_defaults(&cfg);
		is_int(omx_config_parse(&cfg, text, sizeof(text) - 1, "test.conf", err, sizeof(err)),
		       -1, "NUL byte in a line rejected");
		if (!ok(strstr(err, "test.conf:2:") == err, "NUL byte: message starts test.conf:2:"))
			printf("#   message: %s\n", err);
		ok(strstr(err, "NUL") != NULL, "NUL byte: message says NUL");
	}

	/* A message truncated to a small buffer is still terminated. */
	{
		struct omx_config cfg;
		char err[8];

		memset(err, 'x', sizeof(err));
		omx_config_defaults(&cfg);
		is_int(omx_config_parse(&cfg, "bogus = 1\n", 10, "a-long-file-name.conf", err,
					sizeof(err)), -1, "error with a tiny message buffer");
		ok(memchr(err, '\0', sizeof(err)) != NULL, "tiny message buffer is NUL-terminated");
	}
}

static int write_file(const char *path, const char *text, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	size_t len = strlen(text);
	int rc = 0;

	if (fd < 0)
		return -1;
	if (write(fd, text, len) != (ssize_t)len)
		rc = -1;
	if (fchmod(fd, mode) != 0)
		rc = -1;
	close(fd);
	return rc;
}

static void test_load(const char *dir)
{
	struct omx_config cfg;
	char path[4096], missing[4096], err[512];

	/* A good file. */
	snprintf(path, sizeof(path), "%s/good.conf", dir);
	ok(write_file(path, "timeout = 33\nisolate = no\nbad_on_line_3\n", 0644) == 0,
	   "write a conf file");
	omx_config_defaults(&cfg);
	is_int(omx_config_load(&cfg, path, 0, err, sizeof(err)), -1,
	       "load: error in the file is reported");
	{
		char prefix[4200];

		snprintf(prefix, sizeof(prefix), "%s:3:", path);
		if (!ok(strstr(err, prefix) == err, "load: message starts with PATH:3:"))
			printf("#   message: %s\n", err);
	}
	ok(write_file(path, "timeout = 33\nisolate = no\n", 0644) == 0, "rewrite the conf file");
	omx_config_defaults(&cfg);
	is_int(omx_config_load(&cfg, path, 0, err, sizeof(err)), 0, "load a good file");
	is_int(cfg.timeout, 33, "load: timeout");
	is_int(cfg.isolate, 0, "load: isolate");

	/* Missing file. */
	snprintf(missing, sizeof(missing), "%s/nonexistent.conf", dir);
	omx_config_defaults(&cfg);
	is_int(omx_config_load(&cfg, missing, 0, err, sizeof(err)), -1, "load a missing file");
	if (!ok(strstr(err, missing) != NULL, "missing file: message names the path"))
		printf("#   message: %s\n", err);

	/* A directory. */
	omx_config_defaults(&cfg);
	is_int(omx_config_load(&cfg, dir, 0, err, sizeof(err)), -1, "load a directory");
	if (!ok(strstr(err, dir) != NULL, "directory: message names the path"))
		printf("#   message: %s\n", err);

	/* Secure mode: a file owned by someone else. */
	if (geteuid() == 0) {
		char other[4096];

		snprintf(other, sizeof(other), "%s/other.conf", dir);
		ok(write_file(other, "timeout = 5\n", 0644) == 0 && chown(other, 65534, 65534) == 0,
		   "write a conf file owned by 65534");
		omx_config_defaults(&cfg);
		is_int(omx_config_load(&cfg, other, 1, err, sizeof(err)), -1,
		       "secure mode refuses a file not owned by root");
		if (!ok(strstr(err, "secure mode") != NULL, "non-root owner: mentions secure mode"))
			printf("#   message: %s\n", err);
		is_int(cfg.timeout, 120, "non-root owner: nothing applied");
		omx_config_defaults(&cfg);
		is_int(omx_config_load(&cfg, other, 0, err, sizeof(err)), 0,
		       "the same file loads outside secure mode");
		unlink(other);
	} else {
		ok(1, "# SKIP not root: cannot chown a file to another user");
		ok(1, "# SKIP not root");
		ok(1, "# SKIP not root");
		ok(1, "# SKIP not root");
		ok(1, "# SKIP not root");
	}

	/* Secure mode: root-owned (when we are root) but writable by others. */
	if (geteuid() == 0) {
		char wr[4096];

		snprintf(wr, sizeof(wr), "%s/writable.conf", dir);
		ok(write_file(wr, "timeout = 5\n", 0666) == 0, "write a mode 0666 conf file");
		omx_config_defaults(&cfg);
		is_int(omx_config_load(&cfg, wr, 1, err, sizeof(err)), -1,
		       "secure mode refuses a world-writable file");
		if (!ok(strstr(err, "secure mode") != NULL, "mode 0666: mentions secure mode"))
			printf("#   message: %s\n", err);
		ok(write_file(wr, "timeout = 5\n", 0664) == 0, "make it mode 0664");
		is_int(omx_config_load(&cfg, wr, 1, err, sizeof(err)), -1,
		       "secure mode refuses a group-writable file");
		ok(write_file(wr, "timeout = 5\n", 0644) == 0, "make it mode 0644");
		omx_config_defaults(&cfg);
		is_int(omx_config_load(&cfg, wr, 1, err, sizeof(err)), 0,
		       "secure mode accepts a root-owned 0644 file");
		is_int(cfg.timeout, 5, "secure mode: file applied");
		unlink(wr);
	} else {
		for (int i = 0; i < 8; i++)
			ok(1, "# SKIP not root: cannot make a root-owned file");
	}

	/* A file larger than OMX_CONFIG_MAX_SIZE is refused, not read. */
	{
		char bigpath[4096];
		int fd;

		snprintf(bigpath, sizeof(bigpath), "%s/big.conf", dir);
		fd = open(bigpath, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		ok(fd >= 0 && ftruncate(fd, OMX_CONFIG_MAX_SIZE + 1) == 0, "make a 1 MB + 1 file");
		if (fd >= 0)
			close(fd);
		omx_config_defaults(&cfg);
		is_int(omx_config_load(&cfg, bigpath, 0, err, sizeof(err)), -1,
		       "a file over the size limit is refused");
		ok(strstr(err, bigpath) != NULL, "oversized file: message names the path");
		unlink(bigpath);
	}
	unlink(path);
}

/* The discovery keys: values, defaults, and errors naming file and line. */
static void test_discovery_keys(void)
{
	struct omx_config cfg;
	char err[512];

	omx_config_defaults(&cfg);
	is_int(cfg.discover, 0, "discovery off by default");
	is_int(cfg.srv_dnssec, OMX_DNSSEC_PREFER, "srv_dnssec prefer by default");
	is_int(cfg.srv_failure_mx, 0, "srv_failure defer by default");
	is_str(cfg.cache_path, "/var/lib/onionmx/discovery.cache", "default cache path");
	is_str(cfg.discover_range, "248.0.0.0/8", "default discover_range");
	is_int(parse(&cfg, "discover = srv\nsrv_dnssec = require\nsrv_failure = mx\n"
			   "cache = /tmp/c\ndiscover_range = 100.64.0.0/10\n", err, sizeof(err)),
	       0, "every discovery key parses");
	ok(cfg.discover == 1 && cfg.srv_dnssec == OMX_DNSSEC_REQUIRE && cfg.srv_failure_mx == 1,
	   "discover, srv_dnssec, srv_failure stored");
	is_str(cfg.cache_path, "/tmp/c", "cache stored");
	is_str(cfg.discover_range, "100.64.0.0/10", "discover_range stored");
	is_int(parse(&cfg, "discover = off\nsrv_dnssec = off\nsrv_failure = defer\n", err,
		     sizeof(err)), 0, "the other values parse");
	ok(cfg.discover == 0 && cfg.srv_dnssec == OMX_DNSSEC_OFF && cfg.srv_failure_mx == 0,
	   "and are stored");
	check_error("discover = yes\n", 1, "neither off nor srv", "discover = yes");
	check_error("# x\nsrv_dnssec = strict\n", 2, "require, prefer, off", "srv_dnssec = strict");
	check_error("srv_failure = clearnet\n", 1, "neither defer nor mx", "srv_failure = clearnet");
	check_error("cache = relative/path\n", 1, "absolute path", "cache relative");
	{
		/* Paths up to OMX_CONFIG_PATH_MAX - 1 bytes; longer ones named as such. */
		char text[2 * OMX_CONFIG_PATH_MAX], *p;
		const char *keys[] = { "map", "cache", "tor_health", "stats" };

		for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
			for (size_t len = OMX_CONFIG_PATH_MAX - 1; len <= OMX_CONFIG_PATH_MAX; len++) {
				p = text + sprintf(text, "%s = /", keys[i]);
				memset(p, 'x', len - 1);
				strcpy(p + len - 1, "\n");
				if (len < OMX_CONFIG_PATH_MAX) {
					is_int(parse(&cfg, text, err, sizeof(err)), 0, "%s: a path of %zu bytes is taken",
					       keys[i], len);
				} else {
					char what[64];
					snprintf(what, sizeof(what), "%s: a path of %zu bytes", keys[i], len);
					check_error(text, 1, "path longer than 1023 bytes", what);
				}
			}
		}
	}
	check_error("discover_range = 248.0.0.0/20\n", 1, "prefix from 4 to 17", "discover_range too small");
	check_error("discover_range = 248.0.0.1/8\n", 1, "248.0.0.1/8", "discover_range host bits");
	check_error("discover_range = nonsense\n", 1, "nonsense", "discover_range nonsense");
}

/* onionmx.conf.example documents every key: it must parse, and hold the defaults. */
/* Several Tor clients: socks = A B C, and the keys of their health. */
static void test_tors(void)
{
	struct omx_config cfg;
	char err[256];

	omx_config_defaults(&cfg);
	is_int(cfg.ntors, 1, "default: one Tor");
	is_str(cfg.tors[0].text, "127.0.0.1:9050", "default: the Tor at 127.0.0.1:9050");
	is_int(cfg.tor_answer, 5, "default tor_answer 5 s");
	is_int(cfg.tor_retry, 60, "default tor_retry 60 s");
	is_str(cfg.tor_health, "/var/lib/onionmx/tor.health", "default tor_health");
	is_int(parse(&cfg, "socks = 127.0.0.1:9050  127.0.0.1:9052\t[::1]:9054\n", err, sizeof(err)), 0,
	       "socks: three Tors, spaces and a tab between");
	is_int(cfg.ntors, 3, "three Tors");
	ok(strcmp(cfg.tors[0].text, "127.0.0.1:9050") == 0 && strcmp(cfg.tors[1].text, "127.0.0.1:9052") == 0 &&
	   strcmp(cfg.tors[2].text, "[::1]:9054") == 0, "in the order written");
	ok(cfg.tors[2].ss.ss_family == AF_INET6 && cfg.tors[2].len == sizeof(struct sockaddr_in6),
	   "the IPv6 one parsed");
	ok(socks_is_v4(&cfg, "127.0.0.1", 9050) && strcmp(cfg.socks_text, "127.0.0.1:9050") == 0,
	   "socks/socks_text: the first Tor");
	is_int(parse(&cfg, "socks = 127.0.0.1:9050\n", err, sizeof(err)), 0, "socks: one Tor again");
	is_int(cfg.ntors, 1, "one Tor");
	check_error("socks = 127.0.0.1:9050 127.0.0.1:9050\n", 1, "listed twice", "a Tor listed twice");
	check_error("socks = 127.0.0.1:1 127.0.0.1:2 127.0.0.1:3 127.0.0.1:4 127.0.0.1:5\n", 1,
		    "more than 4", "five Tors");
	check_error("socks = 127.0.0.1:9050 localhost:9052\n", 1, "\"localhost:9052\" is not HOST:PORT",
		    "a bad second Tor, named");
	is_int(parse(&cfg, "tor_answer = 2\ntor_retry = 600\ntor_health = /run/onionmx/health\n", err,
		     sizeof(err)), 0, "tor_answer, tor_retry, tor_health");
	ok(cfg.tor_answer == 2 && cfg.tor_retry == 600 && strcmp(cfg.tor_health, "/run/onionmx/health") == 0,
	   "their values");
	check_error("tor_answer = 0\n", 1, "tor_answer", "tor_answer 0");
	check_error("tor_retry = 3601\n", 1, "tor_retry", "tor_retry 3601");
	check_error("tor_health = relative\n", 1, "not an absolute path", "a relative tor_health");
}

static void test_example(void)
{
	struct omx_config cfg, defaults;
	char err[512];

	omx_config_defaults(&defaults);
	omx_config_defaults(&cfg);
	is_int(omx_config_load(&cfg, "onionmx.conf.example", 0, err, sizeof(err)), 0,
	       "onionmx.conf.example parses");
	if (cfg.timeout != defaults.timeout || strcmp(cfg.map_path, defaults.map_path) != 0 ||
	    cfg.discover != defaults.discover || cfg.srv_dnssec != defaults.srv_dnssec ||
	    cfg.srv_failure_mx != defaults.srv_failure_mx ||
	    strcmp(cfg.cache_path, defaults.cache_path) != 0 ||
	    strcmp(cfg.discover_range, defaults.discover_range) != 0 || cfg.isolate != defaults.isolate)
		ok(0, "onionmx.conf.example states the defaults (%s)", err);
	else
		ok(1, "onionmx.conf.example states the defaults");
}

/* stats: the delivery statistics file, or none. */
static void test_stats_key(void)
{
	struct omx_config cfg;
	char err[512];

	omx_config_defaults(&cfg);
	is_str(cfg.stats_path, "/var/lib/onionmx/stats", "statistics kept by default in /var/lib/onionmx/stats");
	is_int(parse(&cfg, "stats = /srv/s\n", err, sizeof(err)), 0, "stats = PATH parses");
	is_str(cfg.stats_path, "/srv/s", "stats stored");
	is_int(parse(&cfg, "stats = none\n", err, sizeof(err)), 0, "stats = none parses");
	is_str(cfg.stats_path, "", "stats = none: no file");
	is_int(parse(&cfg, "stats = relative\n", err, sizeof(err)), -1, "a relative stats path is refused");
	ok(strstr(err, "stats: \"relative\" is neither an absolute path nor none") != NULL, "named: %s", err);
}

/* The texts a config holds: the defaults are constants (a start writes none
 * of them); what the file says is stored one text after another in the
 * config's strings, so that a start writes the bytes they take, and no more
 * pages. Room runs out only when keys are repeated, with a clear error. */
static void test_strings(void)
{
	static struct omx_config cfg;
	char err[512], *text, *p;
	size_t path_len = OMX_CONFIG_PATH_MAX - 1, lines = 0;

	omx_config_defaults(&cfg);
	is_int((int)cfg.strings_used, 0, "the defaults store no text");
	is_int(parse(&cfg, "map = /m\ncache = /cc\nsocks = 127.0.0.1:1 [::1]:2\nprograms = /p/\n"
			   "stats = /s\ntor_health = /t\ndiscover_range = 248.0.0.0/8\n",
		     err, sizeof(err)), 0, "a config giving every text parses");
	ok(cfg.map_path == cfg.strings && cfg.cache_path == cfg.strings + 3 &&
		   cfg.tors[0].text == cfg.strings + 7 && cfg.socks_text == cfg.tors[0].text &&
		   cfg.tors[1].text == cfg.strings + 19 && cfg.programs == cfg.strings + 27 &&
		   cfg.stats_path == cfg.strings + 31 && cfg.tor_health == cfg.strings + 34 &&
		   cfg.discover_range == cfg.strings + 37,
	   "its texts lie one after another at the start of the config's strings");
	is_int((int)cfg.strings_used, 49, "and take their lengths and NULs, no more");
	is_str(cfg.tors[1].text, "[::1]:2", "the second Tor as written");

	is_int(parse(&cfg, "programs = all\nstats = none\n", err, sizeof(err)), 0,
	       "programs = all, stats = none");
	ok(cfg.programs[0] == '\0' && cfg.stats_path[0] == '\0' && cfg.strings_used == 0,
	   "empty, with nothing stored");

	/* Every key at its longest fits; the same key given again and again
	 * runs out of room: refused at the line where it does. */
	text = malloc(32 * (OMX_CONFIG_PATH_MAX + 16));
	if (!ok(text != NULL, "memory for a long config"))
		return;
	p = text;
	while ((size_t)(p - text) < OMX_CONFIG_STRINGS + 2 * OMX_CONFIG_PATH_MAX) {
		p += sprintf(p, "map = /");
		memset(p, 'm', path_len - 1);
		p += path_len - 1;
		*p++ = '\n';
		*p = '\0';
		lines++;
	}
	omx_config_defaults(&cfg);
	is_int(omx_config_parse(&cfg, text, strlen(text), "test.conf", err, sizeof(err)), -1,
	       "map given %zu times at 1023 bytes: refused", lines);
	{
		char want[64];

		snprintf(want, sizeof(want), "test.conf:%d:", OMX_CONFIG_STRINGS / OMX_CONFIG_PATH_MAX + 1);
		ok(strncmp(err, want, strlen(want)) == 0 &&
			   strstr(err, "take more than 16384 bytes together") != NULL,
		   "at the line whose text no longer fits, saying why (%s)", err);
	}
	free(text);

	omx_config_defaults(&cfg);
	ok(omx_config_reserve(&cfg, OMX_CONFIG_STRINGS) == cfg.strings &&
		   omx_config_reserve(&cfg, 1) == NULL && omx_config_keep(&cfg, "", 0) == NULL,
	   "reserve: the whole room, then nothing more");
	omx_config_defaults(&cfg);
	ok(omx_config_keep(&cfg, "abc", 3) == cfg.strings && strcmp(cfg.strings, "abc") == 0 &&
		   omx_config_keep(&cfg, "de", 1) == cfg.strings + 4 && strcmp(cfg.strings + 4, "d") == 0,
	   "keep: LEN bytes and a NUL, one after another");
}

int main(void)
{
	char dir[] = "/tmp/omx-test-config.XXXXXX";

	test_defaults();
	test_keys();
	test_syntax();
	test_errors();
	test_discovery_keys();
	test_stats_key();
	test_tors();
	test_strings();
	test_example();
	if (!mkdtemp(dir)) {
		ok(0, "mkdtemp");
		return done_testing();
	}
	test_load(dir);
	ok(rmdir(dir) == 0, "temporary directory removed (empty)");
	return done_testing();
}
