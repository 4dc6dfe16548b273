/* libFuzzer target: omx_config_parse, the onionmx.conf parser.
 *
 * Input: byte 0 picks the error buffer's size (1..256), the rest is the file.
 * Checked, besides memory safety: the error message stays inside its buffer and
 * is NUL-terminated; on success every field is in its documented range and the
 * socks address round-trips through omx_parse_hostport; on failure the message
 * names the file and a line that exists; parsing is deterministic. */
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include "config.h"

#define CHECK(cond)                                                                   \
	do {                                                                          \
		if (!(cond)) {                                                        \
			fprintf(stderr, "fuzz_config: check failed: %s (line %d)\n", #cond, \
				__LINE__);                                            \
			abort();                                                      \
		}                                                                     \
	} while (0)

/* Points C's texts that are in C's strings at the same places in TO's. */
static void rebase(struct omx_config *c, const struct omx_config *to)
{
	const char **texts[] = { &c->socks_text, &c->tor_health, &c->map_path, &c->programs,
				 &c->cache_path, &c->discover_range, &c->stats_path,
				 &c->tors[0].text, &c->tors[1].text, &c->tors[2].text,
				 &c->tors[3].text };

	for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++)
		if ((uintptr_t)*texts[i] - (uintptr_t)c->strings < sizeof(c->strings))
			*texts[i] = to->strings + ((uintptr_t)*texts[i] - (uintptr_t)c->strings);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct omx_config cfg, cfg2;
	char err[512], err2[512];
	size_t errlen, lines = 1;
	const char *text;
	int rc, rc2;

	if (size < 1 || size > OMX_CONFIG_MAX_SIZE)
		return 0;
	errlen = (size_t)data[0] + 1;
	text = (const char *)data + 1;
	size--;
	for (size_t i = 0; i < size; i++)
		lines += text[i] == '\n';

	memset(err, 0x5a, sizeof(err));
	omx_config_defaults(&cfg);
	rc = omx_config_parse(&cfg, text, size, "f.conf", err, errlen);
	CHECK(rc == 0 || rc == -1);
	for (size_t i = errlen; i < sizeof(err); i++)
		CHECK((unsigned char)err[i] == 0x5a);
	if (rc == 0) {
		struct sockaddr_storage ss;
		socklen_t len;

		CHECK(cfg.timeout >= 1 && cfg.timeout <= 3600);
		CHECK(strlen(cfg.map_path) < OMX_CONFIG_PATH_MAX && cfg.map_path[0] == '/');
		CHECK(strlen(cfg.socks_text) < OMX_CONFIG_TOR_TEXT_MAX);
		CHECK(cfg.strings_used <= sizeof(cfg.strings));
		CHECK(cfg.log == OMX_LOG_SYSLOG || cfg.log == OMX_LOG_STDERR);
		CHECK(cfg.log_level >= LOG_ERR && cfg.log_level <= LOG_DEBUG);
		CHECK(cfg.isolate == 0 || cfg.isolate == 1);
		CHECK(omx_parse_hostport(cfg.socks_text, &ss, &len) == 0);
		CHECK(len == cfg.socks_len && memcmp(&ss, &cfg.socks, len) == 0);
		CHECK((cfg.socks.ss_family == AF_INET && cfg.socks_len == sizeof(struct sockaddr_in)) ||
		      (cfg.socks.ss_family == AF_INET6 && cfg.socks_len == sizeof(struct sockaddr_in6)));
	} else {
		unsigned long line;

		CHECK(memchr(err, '\0', errlen));
		if (errlen > 40 && strncmp(err, "f.conf:", 7) == 0) {
			line = strtoul(err + 7, NULL, 10);
			CHECK(line >= 1 && line <= lines);
		} else if (errlen > 40) {
			CHECK(!"error message does not start with FILE:");
		}
	}
	omx_config_defaults(&cfg2);
	rc2 = omx_config_parse(&cfg2, text, size, "f.conf", err2, errlen);
	CHECK(rc2 == rc);
	if (rc == 0) {
		/* The same parse: cfg2's texts where cfg's are in its own strings. */
		rebase(&cfg2, &cfg);
		CHECK(memcmp(&cfg, &cfg2, sizeof(cfg)) == 0);
	}
	else
		CHECK(strcmp(err, err2) == 0);
	return 0;
}
