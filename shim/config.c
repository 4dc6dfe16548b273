/* Parser and loader for onionmx.conf. */
#include "config.h"
#include "layout.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

#include "ascii.h"

static char *read_file_into(const char *path, size_t max, int require_root, char *buf_in,
			    size_t cap, size_t *len, char *err, size_t errlen);

void omx_config_defaults(struct omx_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	omx_config_set_defaults(cfg);
}

/* Runs at every process start: plain stores, no parsing and no printf (each
 * libc function called for the first time also costs ld.so a symbol lookup);
 * the texts point at constants. */
OMX_STARTUP
void omx_config_set_defaults(struct omx_config *cfg)
{
	struct sockaddr_in *sin = (struct sockaddr_in *)&cfg->socks;

	sin->sin_family = AF_INET;
	sin->sin_port = htons(OMX_DEFAULT_SOCKS_PORT);
	sin->sin_addr.s_addr = htonl(OMX_DEFAULT_SOCKS_ADDR);
	cfg->socks_len = sizeof(*sin);
	cfg->socks_text = OMX_DEFAULT_SOCKS;
	memcpy(&cfg->tors[0].ss, sin, sizeof(*sin));
	cfg->tors[0].len = cfg->socks_len;
	cfg->tors[0].text = OMX_DEFAULT_SOCKS;
	cfg->ntors = 1;
	cfg->tor_health = OMX_DEFAULT_TOR_HEALTH;
	cfg->tor_retry = OMX_DEFAULT_TOR_RETRY;
	cfg->tor_answer = OMX_DEFAULT_TOR_ANSWER;
	cfg->map_path = OMX_DEFAULT_MAP;
	cfg->timeout = OMX_DEFAULT_TIMEOUT;
	cfg->log = OMX_LOG_SYSLOG;
	cfg->log_level = LOG_INFO;
	cfg->isolate = 1;
	cfg->programs = "";
	cfg->srv_dnssec = OMX_DNSSEC_PREFER;
	cfg->cache_path = OMX_DEFAULT_CACHE;
	cfg->discover_range = OMX_DEFAULT_DISCOVER_RANGE;
	cfg->stats_path = OMX_DEFAULT_STATS;
}

OMX_STARTUP
char *omx_config_reserve(struct omx_config *cfg, size_t size)
{
	char *dst = cfg->strings + cfg->strings_used;

	if (size > sizeof(cfg->strings) - cfg->strings_used)
		return NULL;
	cfg->strings_used += size;
	return dst;
}

OMX_STARTUP
const char *omx_config_keep(struct omx_config *cfg, const char *text, size_t len)
{
	char *dst = len < SIZE_MAX ? omx_config_reserve(cfg, len + 1) : NULL;

	if (dst) {
		memcpy(dst, text, len);
		dst[len] = '\0';
	}
	return dst;
}

OMX_STARTUP
int omx_parse_hostport(const char *text, struct sockaddr_storage *ss, socklen_t *len)
{
	char host[INET6_ADDRSTRLEN + 2];
	const char *colon, *end;
	unsigned long port;
	size_t hlen;

	if (text[0] == '[') {
		const char *close = strchr(text, ']');
		if (!close || close[1] != ':')
			return -1;
		hlen = (size_t)(close - text - 1);
		if (hlen == 0 || hlen >= sizeof(host))
			return -1;
		memcpy(host, text + 1, hlen);
		colon = close + 1;
	} else {
		colon = strrchr(text, ':');
		if (!colon)
			return -1;
		hlen = (size_t)(colon - text);
		if (hlen == 0 || hlen >= sizeof(host))
			return -1;
		memcpy(host, text, hlen);
	}
	host[hlen] = '\0';
	/* Decimal digits only (no sign, no blanks), read without strtoul. */
	for (end = colon + 1, port = 0; *end >= '0' && *end <= '9' && port <= 65535; end++)
		port = port * 10 + (unsigned long)(*end - '0');
	if (end == colon + 1 || *end || port == 0 || port > 65535)
		return -1;

	memset(ss, 0, sizeof(*ss));
	if (text[0] != '[') {
		struct sockaddr_in *sin = (struct sockaddr_in *)ss;
		if (inet_pton(AF_INET, host, &sin->sin_addr) != 1)
			return -1;
		sin->sin_family = AF_INET;
		sin->sin_port = htons((uint16_t)port);
		*len = sizeof(*sin);
	} else {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;
		if (inet_pton(AF_INET6, host, &sin6->sin6_addr) != 1)
			return -1;
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons((uint16_t)port);
		*len = sizeof(*sin6);
	}
	return 0;
}

__attribute__((format(printf, 5, 6)))
static int config_error(char *err, size_t errlen, const char *file, unsigned line,
			const char *fmt, ...)
{
	va_list ap;
	int n = snprintf(err, errlen, "%s:%u: ", file, line);

	if (n >= 0 && (size_t)n < errlen) {
		va_start(ap, fmt);
		vsnprintf(err + n, errlen - (size_t)n, fmt, ap);
		va_end(ap);
	}
	return -1;
}

/* strcasecmp() in ASCII, without the locale (and without one more libc symbol
 * for ld.so to look up at every process start). */
OMX_STARTUP
static int same_word(const char *a, const char *b)
{
	while (*a && omx_ascii_lower(*a) == omx_ascii_lower(*b))
		a++, b++;
	return omx_ascii_lower(*a) == omx_ascii_lower(*b);
}

/* Accepts the usual spellings of a boolean; returns 0/1, or -1 if VALUE is none. */
static int parse_bool(const char *value)
{
	static const char *const yes[] = { "yes", "true", "on", "1" };
	static const char *const no[] = { "no", "false", "off", "0" };

	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		if (same_word(value, yes[i]))
			return 1;
		if (same_word(value, no[i]))
			return 0;
	}
	return -1;
}

OMX_STARTUP
static int parse_level(const char *value)
{
	static const struct { const char *name; int level; } levels[] = {
		{ "error", LOG_ERR }, { "warning", LOG_WARNING }, { "notice", LOG_NOTICE },
		{ "info", LOG_INFO }, { "debug", LOG_DEBUG },
	};

	for (size_t i = 0; i < sizeof(levels) / sizeof(levels[0]); i++)
		if (same_word(value, levels[i].name))
			return levels[i].level;
	return -1;
}

static int strings_full(char *err, size_t errlen, const char *file, unsigned line)
{
	return config_error(err, errlen, file, line,
			    "the paths, programs and Tor addresses take more than %d bytes together (is a key given many times?)",
			    OMX_CONFIG_STRINGS);
}

/* "socks = HOST:PORT [HOST:PORT ...]": one to OMX_TORS_MAX Tor clients. */
OMX_STARTUP
static int parse_socks_list(struct omx_config *cfg, const char *value, const char *file,
			    unsigned line, char *err, size_t errlen)
{
	struct omx_tor_addr tors[OMX_TORS_MAX];
	int n = 0;

	while (*value) {
		size_t len = strcspn(value, " \t");
		char word[OMX_CONFIG_TOR_TEXT_MAX];

		if (len == 0) {
			value++;
			continue;
		}
		if (n == OMX_TORS_MAX)
			return config_error(err, errlen, file, line, "socks: more than %d Tor clients",
					    OMX_TORS_MAX);
		if (len >= sizeof(word) || (memcpy(word, value, len), word[len] = '\0',
					    omx_parse_hostport(word, &tors[n].ss, &tors[n].len) != 0))
			return config_error(err, errlen, file, line,
					    "socks: \"%.*s\" is not HOST:PORT with an IPv4 or [IPv6] literal",
					    (int)(len < 100 ? len : 100), value);
		for (int i = 0; i < n; i++)
			if (strcmp(tors[i].text, word) == 0)
				return config_error(err, errlen, file, line,
						    "socks: %s is listed twice", word);
		if (!(tors[n].text = omx_config_keep(cfg, word, len)))
			return strings_full(err, errlen, file, line);
		n++;
		value += len;
	}
	if (n == 0)
		return config_error(err, errlen, file, line, "socks: no HOST:PORT given");
	memset(cfg->tors, 0, sizeof(cfg->tors));
	memcpy(cfg->tors, tors, (size_t)n * sizeof(tors[0]));
	cfg->ntors = n;
	cfg->socks = tors[0].ss;
	cfg->socks_len = tors[0].len;
	cfg->socks_text = tors[0].text;
	return 0;
}

/* Applies one "key = value" setting; returns 0 or -1 with ERR filled. */
/* One "key value" line being applied: what each key's setter needs. */
struct key_line {
	struct omx_config *cfg;
	const char *key, *value, *file;
	unsigned line;
	char *err;
	size_t errlen;
};

#define KEY_ERROR(k, ...) config_error((k)->err, (k)->errlen, (k)->file, (k)->line, __VA_ARGS__)

/* A word a key accepts and the value it stands for. */
struct key_word {
	const char *word;
	int value;
};

/* Stores the value, of at most MAX - 1 bytes, in *DST (among the config's strings). */
OMX_STARTUP
static int set_text(const struct key_line *k, const char **dst, size_t max, const char *what)
{
	size_t len = strlen(k->value);
	const char *kept;

	if (len >= max)
		return KEY_ERROR(k, "%s: %s longer than %zu bytes", k->key, what, max - 1);
	if (!(kept = omx_config_keep(k->cfg, k->value, len)))
		return strings_full(k->err, k->errlen, k->file, k->line);
	*dst = kept;
	return 0;
}

OMX_STARTUP
static int set_path(const struct key_line *k, const char **dst)
{
	if (k->value[0] != '/')
		return KEY_ERROR(k, "%s: \"%s\" is not an absolute path", k->key, k->value);
	return set_text(k, dst, OMX_CONFIG_PATH_MAX, "path");
}

OMX_STARTUP
static int set_seconds(const struct key_line *k, int *dst)
{
	char *end;
	long t;

	errno = 0;
	t = strtol(k->value, &end, 10);
	if (errno || *end || end == k->value || t < 1 || t > 3600)
		return KEY_ERROR(k, "%s: \"%s\" is not a number of seconds from 1 to 3600", k->key,
				 k->value);
	*dst = (int)t;
	return 0;
}

/* WORDS ends with a NULL word; EXPECTED completes the error ("is neither a nor b"). */
OMX_STARTUP
static int set_word(const struct key_line *k, int *dst, const struct key_word *words,
		    const char *expected)
{
	for (; words->word; words++)
		if (strcmp(k->value, words->word) == 0) {
			*dst = words->value;
			return 0;
		}
	return KEY_ERROR(k, "%s: \"%s\" %s", k->key, k->value, expected);
}

OMX_STARTUP
static int set_socks(const struct key_line *k)
{
	return parse_socks_list(k->cfg, k->value, k->file, k->line, k->err, k->errlen);
}

static int set_tor_health(const struct key_line *k)
{
	return set_path(k, &k->cfg->tor_health);
}

OMX_STARTUP
static int set_map(const struct key_line *k)
{
	return set_path(k, &k->cfg->map_path);
}

static int set_cache(const struct key_line *k)
{
	return set_path(k, &k->cfg->cache_path);
}

static int set_tor_retry(const struct key_line *k)
{
	return set_seconds(k, &k->cfg->tor_retry);
}

static int set_tor_answer(const struct key_line *k)
{
	return set_seconds(k, &k->cfg->tor_answer);
}

OMX_STARTUP
static int set_timeout(const struct key_line *k)
{
	return set_seconds(k, &k->cfg->timeout);
}

OMX_STARTUP
static int set_log(const struct key_line *k)
{
	static const struct key_word words[] = {
		{ "syslog", OMX_LOG_SYSLOG }, { "stderr", OMX_LOG_STDERR }, { NULL, 0 }
	};
	int target;

	if (set_word(k, &target, words, "is neither syslog nor stderr") != 0)
		return -1;
	k->cfg->log = (enum omx_log_target)target;
	return 0;
}

OMX_STARTUP
static int set_log_level(const struct key_line *k)
{
	int level = parse_level(k->value);

	if (level < 0)
		return KEY_ERROR(k, "log_level: \"%s\" is not one of error, warning, notice, info, debug",
				 k->value);
	k->cfg->log_level = level;
	return 0;
}

static int set_isolate(const struct key_line *k)
{
	int b = parse_bool(k->value);

	if (b < 0)
		return KEY_ERROR(k, "isolate: \"%s\" is neither yes nor no", k->value);
	k->cfg->isolate = b;
	return 0;
}

static int set_programs(const struct key_line *k)
{
	struct omx_config *cfg = k->cfg;

	if (strcmp(k->value, "all") == 0) {
		cfg->programs = "";
		return 0;
	}
	for (const char *p = k->value; *p;) {
		size_t n = strcspn(p, " \t");
		if (p[0] != '/')
			return KEY_ERROR(k, "programs: \"%.*s\" is not an absolute path (or use \"all\")",
					 (int)n, p);
		p += n;
		p += strspn(p, " \t");
	}
	return set_text(k, &cfg->programs, OMX_CONFIG_PROGRAMS_MAX, "list");
}

static int set_discover(const struct key_line *k)
{
	static const struct key_word words[] = { { "off", 0 }, { "srv", 1 }, { NULL, 0 } };

	return set_word(k, &k->cfg->discover, words, "is neither off nor srv");
}

static int set_srv_dnssec(const struct key_line *k)
{
	static const struct key_word words[] = { { "require", OMX_DNSSEC_REQUIRE },
						  { "prefer", OMX_DNSSEC_PREFER },
						  { "off", OMX_DNSSEC_OFF },
						  { NULL, 0 } };

	return set_word(k, &k->cfg->srv_dnssec, words, "is not one of require, prefer, off");
}

static int set_srv_failure(const struct key_line *k)
{
	static const struct key_word words[] = { { "defer", 0 }, { "mx", 1 }, { NULL, 0 } };

	return set_word(k, &k->cfg->srv_failure_mx, words, "is neither defer nor mx");
}

static int set_stats(const struct key_line *k)
{
	struct omx_config *cfg = k->cfg;

	if (strcmp(k->value, "none") == 0) {
		cfg->stats_path = "";
		return 0;
	}
	if (k->value[0] != '/')
		return KEY_ERROR(k, "stats: \"%s\" is neither an absolute path nor none", k->value);
	return set_text(k, &cfg->stats_path, OMX_CONFIG_PATH_MAX, "path");
}

static int set_discover_range(const struct key_line *k)
{
	struct omx_config *cfg = k->cfg;
	uint32_t net, mask;

	if (strlen(k->value) >= OMX_CONFIG_RANGE_MAX ||
	    omx_parse_range(k->value, &net, &mask) != 0 || !omx_cache_range_ok(net, mask))
		return KEY_ERROR(k, "discover_range: \"%s\" is not NET/PREFIX with a prefix from 4 to 17",
				 k->value);
	return set_text(k, &cfg->discover_range, OMX_CONFIG_RANGE_MAX, "range");
}

static const struct config_key {
	const char *name;
	int (*set)(const struct key_line *k);
} config_keys[] = {
	{ "socks", set_socks },
	{ "tor_health", set_tor_health },
	{ "tor_retry", set_tor_retry },
	{ "tor_answer", set_tor_answer },
	{ "map", set_map },
	{ "timeout", set_timeout },
	{ "log", set_log },
	{ "log_level", set_log_level },
	{ "isolate", set_isolate },
	{ "programs", set_programs },
	{ "discover", set_discover },
	{ "srv_dnssec", set_srv_dnssec },
	{ "srv_failure", set_srv_failure },
	{ "cache", set_cache },
	{ "stats", set_stats },
	{ "discover_range", set_discover_range },
};

OMX_STARTUP
static int config_set(struct omx_config *cfg, const char *key, const char *value,
		      const char *file, unsigned line, char *err, size_t errlen)
{
	const struct key_line k = { cfg, key, value, file, line, err, errlen };

	for (size_t i = 0; i < sizeof(config_keys) / sizeof(config_keys[0]); i++)
		if (strcmp(key, config_keys[i].name) == 0)
			return config_keys[i].set(&k);
	return config_error(err, errlen, file, line, "unknown key \"%s\"", key);
}

OMX_STARTUP
int omx_config_program_matches(const struct omx_config *cfg, const char *exe)
{
	const char *p = cfg->programs;

	if (!*p)
		return 1;
	while (*p) {
		size_t n = strcspn(p, " \t");

		if (n && (p[n - 1] == '/' ? strncmp(exe, p, n) == 0
					  : strlen(exe) == n && strncmp(exe, p, n) == 0))
			return 1;
		p += n;
		p += strspn(p, " \t");
	}
	return 0;
}

OMX_STARTUP
int omx_is_mta_program(const char *path)
{
	static const char *const names[] = { "smtp", "exim4", "exim" };
	const char *base = path ? strrchr(path, '/') : NULL;

	base = base ? base + 1 : path;
	for (size_t i = 0; base && i < sizeof(names) / sizeof(names[0]); i++)
		if (strcmp(base, names[i]) == 0)
			return 1;
	return 0;
}

OMX_STARTUP
static int is_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\r';
}

OMX_STARTUP
int omx_config_parse(struct omx_config *cfg, const char *text, size_t len, const char *file,
		     char *err, size_t errlen)
{
	unsigned line = 0;
	size_t pos = 0;

	while (pos < len) {
		char buf[OMX_CONFIG_MAX_LINE];
		const char *nl = memchr(text + pos, '\n', len - pos);
		size_t end = nl ? (size_t)(nl - text) : len;
		size_t n = end - pos;
		char *key, *eq, *value, *p;

		line++;
		if (n >= sizeof(buf))
			return config_error(err, errlen, file, line, "line longer than %d bytes",
					    OMX_CONFIG_MAX_LINE - 1);
		memcpy(buf, text + pos, n);
		buf[n] = '\0';
		pos = end + 1;
		if (memchr(buf, '\0', n))
			return config_error(err, errlen, file, line, "NUL byte in line");

		if ((p = strchr(buf, '#')))
			*p = '\0';
		key = buf;
		while (is_blank(*key))
			key++;
		for (p = key + strlen(key); p > key && is_blank(p[-1]); p--)
			p[-1] = '\0';
		if (*key == '\0')
			continue;
		eq = strchr(key, '=');
		if (!eq)
			return config_error(err, errlen, file, line, "expected \"key = value\", got \"%s\"",
					    key);
		value = eq + 1;
		for (p = eq; p > key && is_blank(p[-1]); p--)
			;
		*p = '\0';
		while (is_blank(*value))
			value++;
		if (*key == '\0')
			return config_error(err, errlen, file, line, "missing key before \"=\"");
		if (*value == '\0')
			return config_error(err, errlen, file, line, "%s: missing value", key);
		if (config_set(cfg, key, value, file, line, err, errlen) != 0)
			return -1;
	}
	return 0;
}

OMX_STARTUP
int omx_root_only(const struct stat *st)
{
	return st->st_uid == 0 && !(st->st_mode & (S_IWGRP | S_IWOTH));
}

char *omx_read_file(const char *path, size_t max, int require_root, size_t *len, char *err,
		    size_t errlen)
{
	return read_file_into(path, max, require_root, NULL, 0, len, err, errlen);
}

/* Reads PATH into BUF (CAP bytes) if it fits with its NUL, else into a malloc'd
 * buffer; returns which, or NULL with ERR. */
OMX_STARTUP
static char *read_file_into(const char *path, size_t max, int require_root, char *buf_in,
			    size_t cap, size_t *len, char *err, size_t errlen)
{
	struct stat st;
	char *buf;
	size_t have = 0;
	/* O_NONBLOCK: a FIFO in place of the file must not hang the host program
	 * in open() (it is refused below as not a regular file; the flag does
	 * nothing to the reads of a regular file). */
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);

	if (fd < 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return NULL;
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "%s: not a regular file", path);
		close(fd);
		return NULL;
	}
	if (require_root && !omx_root_only(&st)) {
		snprintf(err, errlen, "%s: refused: not owned by root or writable by others (required in secure mode, and as root of a config named by ONIONMX_CONF)",
			 path);
		close(fd);
		return NULL;
	}
	if ((size_t)st.st_size > max) {
		snprintf(err, errlen, "%s: larger than %zu bytes", path, max);
		close(fd);
		return NULL;
	}
	buf = (size_t)st.st_size < cap ? buf_in : malloc((size_t)st.st_size + 1);
	if (!buf) {
		snprintf(err, errlen, "%s: out of memory", path);
		close(fd);
		return NULL;
	}
	while (have < (size_t)st.st_size) {
		ssize_t r = read(fd, buf + have, (size_t)st.st_size - have);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			snprintf(err, errlen, "%s: %s", path, r < 0 ? strerror(errno) : "short read");
			if (buf != buf_in)
				free(buf);
			close(fd);
			return NULL;
		}
		have += (size_t)r;
	}
	close(fd);
	buf[have] = '\0';
	*len = have;
	return buf;
}

OMX_STARTUP
int omx_config_load(struct omx_config *cfg, const char *path, int require_root, char *err,
		    size_t errlen)
{
	char small[4096];
	size_t len;
	char *text;
	int rc;

	/* A usual config fits on the stack: no malloc in the host program's
	 * start-up for it (it may not even have initialised malloc yet). */
	text = read_file_into(path, OMX_CONFIG_MAX_SIZE, require_root, small, sizeof(small), &len,
			      err, errlen);
	if (!text)
		return -1;
	rc = omx_config_parse(cfg, text, len, path, err, errlen);
	if (text != small)
		free(text);
	return rc;
}
