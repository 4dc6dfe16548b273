/* Parser and loader for onionmx.conf. */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

static char *read_file_into(const char *path, size_t max, int require_root, char *buf_in,
			    size_t cap, size_t *len, char *err, size_t errlen);

void omx_config_defaults(struct omx_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	omx_parse_hostport(OMX_DEFAULT_SOCKS, &cfg->socks, &cfg->socks_len);
	snprintf(cfg->socks_text, sizeof(cfg->socks_text), "%s", OMX_DEFAULT_SOCKS);
	cfg->tors[0].ss = cfg->socks;
	cfg->tors[0].len = cfg->socks_len;
	snprintf(cfg->tors[0].text, sizeof(cfg->tors[0].text), "%s", OMX_DEFAULT_SOCKS);
	cfg->ntors = 1;
	snprintf(cfg->tor_health, sizeof(cfg->tor_health), "%s", OMX_DEFAULT_TOR_HEALTH);
	cfg->tor_retry = OMX_DEFAULT_TOR_RETRY;
	cfg->tor_answer = OMX_DEFAULT_TOR_ANSWER;
	snprintf(cfg->map_path, sizeof(cfg->map_path), "%s", OMX_DEFAULT_MAP);
	cfg->timeout = OMX_DEFAULT_TIMEOUT;
	cfg->log = OMX_LOG_SYSLOG;
	cfg->log_level = LOG_INFO;
	cfg->isolate = 1;
	cfg->srv_dnssec = OMX_DNSSEC_PREFER;
	snprintf(cfg->cache_path, sizeof(cfg->cache_path), "%s", OMX_DEFAULT_CACHE);
	snprintf(cfg->discover_range, sizeof(cfg->discover_range), "%s", OMX_DEFAULT_DISCOVER_RANGE);
	snprintf(cfg->stats_path, sizeof(cfg->stats_path), "%s", OMX_DEFAULT_STATS);
}

int omx_parse_hostport(const char *text, struct sockaddr_storage *ss, socklen_t *len)
{
	char host[INET6_ADDRSTRLEN + 2];
	const char *colon;
	char *end;
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
	if (colon[1] < '0' || colon[1] > '9')
		return -1;
	errno = 0;
	port = strtoul(colon + 1, &end, 10);
	if (errno || *end || port == 0 || port > 65535)
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

/* Accepts the usual spellings of a boolean; returns 0/1, or -1 if VALUE is none. */
static int parse_bool(const char *value)
{
	static const char *const yes[] = { "yes", "true", "on", "1" };
	static const char *const no[] = { "no", "false", "off", "0" };

	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		if (strcasecmp(value, yes[i]) == 0)
			return 1;
		if (strcasecmp(value, no[i]) == 0)
			return 0;
	}
	return -1;
}

static int parse_level(const char *value)
{
	static const struct { const char *name; int level; } levels[] = {
		{ "error", LOG_ERR }, { "warning", LOG_WARNING }, { "notice", LOG_NOTICE },
		{ "info", LOG_INFO }, { "debug", LOG_DEBUG },
	};

	for (size_t i = 0; i < sizeof(levels) / sizeof(levels[0]); i++)
		if (strcasecmp(value, levels[i].name) == 0)
			return levels[i].level;
	return -1;
}

/* "socks = HOST:PORT [HOST:PORT ...]": one to OMX_TORS_MAX Tor clients. */
static int parse_socks_list(struct omx_config *cfg, const char *value, const char *file,
			    unsigned line, char *err, size_t errlen)
{
	struct omx_tor_addr tors[OMX_TORS_MAX];
	int n = 0;

	while (*value) {
		size_t len = strcspn(value, " \t");
		char word[sizeof(tors[0].text)];

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
		snprintf(tors[n].text, sizeof(tors[n].text), "%s", word);
		for (int i = 0; i < n; i++)
			if (strcmp(tors[i].text, word) == 0)
				return config_error(err, errlen, file, line,
						    "socks: %s is listed twice", word);
		n++;
		value += len;
	}
	if (n == 0)
		return config_error(err, errlen, file, line, "socks: no HOST:PORT given");
	memcpy(cfg->tors, tors, sizeof(tors));
	cfg->ntors = n;
	cfg->socks = tors[0].ss;
	cfg->socks_len = tors[0].len;
	snprintf(cfg->socks_text, sizeof(cfg->socks_text), "%s", tors[0].text);
	return 0;
}

/* Applies one "key = value" setting; returns 0 or -1 with ERR filled. */
static int config_set(struct omx_config *cfg, const char *key, const char *value,
		      const char *file, unsigned line, char *err, size_t errlen)
{
	if (strcmp(key, "socks") == 0) {
		return parse_socks_list(cfg, value, file, line, err, errlen);
	} else if (strcmp(key, "tor_health") == 0) {
		if (value[0] != '/' || strlen(value) >= sizeof(cfg->tor_health))
			return config_error(err, errlen, file, line,
					    "tor_health: \"%s\" is not an absolute path", value);
		snprintf(cfg->tor_health, sizeof(cfg->tor_health), "%s", value);
	} else if (strcmp(key, "tor_retry") == 0 || strcmp(key, "tor_answer") == 0) {
		char *end;
		long t;

		errno = 0;
		t = strtol(value, &end, 10);
		if (errno || *end || end == value || t < 1 || t > 3600)
			return config_error(err, errlen, file, line,
					    "%s: \"%s\" is not a number of seconds from 1 to 3600", key,
					    value);
		*(key[4] == 'r' ? &cfg->tor_retry : &cfg->tor_answer) = (int)t;
	} else if (strcmp(key, "map") == 0) {
		if (value[0] != '/' || strlen(value) >= sizeof(cfg->map_path))
			return config_error(err, errlen, file, line,
					    "map: \"%s\" is not an absolute path", value);
		snprintf(cfg->map_path, sizeof(cfg->map_path), "%s", value);
	} else if (strcmp(key, "timeout") == 0) {
		char *end;
		long t;

		errno = 0;
		t = strtol(value, &end, 10);
		if (errno || *end || end == value || t < 1 || t > 3600)
			return config_error(err, errlen, file, line,
					    "timeout: \"%s\" is not a number of seconds from 1 to 3600",
					    value);
		cfg->timeout = (int)t;
	} else if (strcmp(key, "log") == 0) {
		if (strcmp(value, "syslog") == 0)
			cfg->log = OMX_LOG_SYSLOG;
		else if (strcmp(value, "stderr") == 0)
			cfg->log = OMX_LOG_STDERR;
		else
			return config_error(err, errlen, file, line,
					    "log: \"%s\" is neither syslog nor stderr", value);
	} else if (strcmp(key, "log_level") == 0) {
		int level = parse_level(value);
		if (level < 0)
			return config_error(err, errlen, file, line,
					    "log_level: \"%s\" is not one of error, warning, notice, info, debug",
					    value);
		cfg->log_level = level;
	} else if (strcmp(key, "isolate") == 0) {
		int b = parse_bool(value);
		if (b < 0)
			return config_error(err, errlen, file, line,
					    "isolate: \"%s\" is neither yes nor no", value);
		cfg->isolate = b;
	} else if (strcmp(key, "programs") == 0) {
		if (strcmp(value, "all") == 0) {
			cfg->programs[0] = '\0';
			return 0;
		}
		if (strlen(value) >= sizeof(cfg->programs))
			return config_error(err, errlen, file, line, "programs: list longer than %zu bytes",
					    sizeof(cfg->programs) - 1);
		for (const char *p = value; *p;) {
			size_t n = strcspn(p, " \t");
			if (p[0] != '/')
				return config_error(err, errlen, file, line,
						    "programs: \"%.*s\" is not an absolute path (or use \"all\")",
						    (int)n, p);
			p += n;
			p += strspn(p, " \t");
		}
		snprintf(cfg->programs, sizeof(cfg->programs), "%s", value);
	} else if (strcmp(key, "discover") == 0) {
		if (strcmp(value, "off") == 0)
			cfg->discover = 0;
		else if (strcmp(value, "srv") == 0)
			cfg->discover = 1;
		else
			return config_error(err, errlen, file, line,
					    "discover: \"%s\" is neither off nor srv", value);
	} else if (strcmp(key, "srv_dnssec") == 0) {
		if (strcmp(value, "require") == 0)
			cfg->srv_dnssec = OMX_DNSSEC_REQUIRE;
		else if (strcmp(value, "prefer") == 0)
			cfg->srv_dnssec = OMX_DNSSEC_PREFER;
		else if (strcmp(value, "off") == 0)
			cfg->srv_dnssec = OMX_DNSSEC_OFF;
		else
			return config_error(err, errlen, file, line,
					    "srv_dnssec: \"%s\" is not one of require, prefer, off", value);
	} else if (strcmp(key, "srv_failure") == 0) {
		if (strcmp(value, "defer") == 0)
			cfg->srv_failure_mx = 0;
		else if (strcmp(value, "mx") == 0)
			cfg->srv_failure_mx = 1;
		else
			return config_error(err, errlen, file, line,
					    "srv_failure: \"%s\" is neither defer nor mx", value);
	} else if (strcmp(key, "cache") == 0) {
		if (value[0] != '/' || strlen(value) >= sizeof(cfg->cache_path))
			return config_error(err, errlen, file, line,
					    "cache: \"%s\" is not an absolute path", value);
		snprintf(cfg->cache_path, sizeof(cfg->cache_path), "%s", value);
	} else if (strcmp(key, "stats") == 0) {
		if (strcmp(value, "none") == 0)
			cfg->stats_path[0] = '\0';
		else if (value[0] != '/' || strlen(value) >= sizeof(cfg->stats_path))
			return config_error(err, errlen, file, line,
					    "stats: \"%s\" is neither an absolute path nor none", value);
		else
			snprintf(cfg->stats_path, sizeof(cfg->stats_path), "%s", value);
	} else if (strcmp(key, "discover_range") == 0) {
		uint32_t net, mask;

		if (strlen(value) >= sizeof(cfg->discover_range) ||
		    omx_parse_range(value, &net, &mask) != 0 || !omx_cache_range_ok(net, mask))
			return config_error(err, errlen, file, line,
					    "discover_range: \"%s\" is not NET/PREFIX with a prefix from 4 to 17",
					    value);
		snprintf(cfg->discover_range, sizeof(cfg->discover_range), "%s", value);
	} else {
		return config_error(err, errlen, file, line, "unknown key \"%s\"", key);
	}
	return 0;
}

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

static int is_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\r';
}

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
