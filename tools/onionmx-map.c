/* onionmx-map: compile a domain -> onion map source into the cdb the library
 * reads (like postmap), and query a compiled map. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "ascii.h"
#include "map.h"
#include "map_unbound.h"
#include "map_yml.h"

static const char usage_text[] =
	"usage: onionmx-map [-r NET/PREFIX] [-y] [-k] FILE   compile FILE into FILE.cdb\n"
	"       onionmx-map -q KEY FILE.cdb           where KEY (a domain, an onion name or\n"
	"                                             a synthetic address) goes\n"
	"       onionmx-map -u CONF FILE[.cdb]        also write CONF, an unbound include that\n"
	"                                             answers for the map host-wide (from\n"
	"                                             FILE.cdb as compiled, or as it is)\n"
	"\n"
	"FILE lines: DOMAIN TARGET [TARGET ...]; TARGET is a v3 onion address with an\n"
	"optional :PORT; .example.org covers the subdomains of example.org; # comments.\n"
	"-r: the range synthetic addresses are taken from (default: the existing map's,\n"
	"    else " OMX_DEFAULT_RANGE "). Rebuilding over an existing map keeps every onion's\n"
	"    address; a removed onion's address, and a range left with -r, stay refused\n"
	"    (never reused) for at least 7 days.\n"
	"-q and -u also check the whole map against the checksum in its header.\n"
	"-u: mapped domains' MX, the map's onions' A and AAAA (their synthetic\n"
	"    addresses), NXDOMAIN for the rest of .onion; written atomically. FILE\n"
	"    ending in .cdb is read, not compiled. Reload unbound afterwards.\n"
	"-y: FILE is the community's map.yml format (ONION.onion: then '- DOMAIN' lines);\n"
	"    implied by a name ending in .yml or .yaml.\n"
	"-k: (map.yml) report invalid entries (v2 onions, bad checksums, keys Tor\n"
	"    refuses, bad domains) with FILE:LINE and skip them; without -k they fail.\n"
	"Exit status: 0 ok (found), 1 KEY not in the map, 2 usage, 3 error.\n";

static void print_target(const struct omx_map *map, const char *label, const char *prefix)
{
	struct omx_target t;
	uint32_t addr;
	struct in_addr in;
	char text[INET_ADDRSTRLEN] = "?";

	if (omx_map_onion_addr(map, label, strlen(label), &addr) > 0) {
		in.s_addr = htonl(addr);
		inet_ntop(AF_INET, &in, text, sizeof(text));
		if (omx_map_addr_onion(map, addr, &t, NULL, NULL) == 1 && t.port)
			printf("%s%s.onion port %u (address %s)\n", prefix, label, t.port, text);
		else
			printf("%s%s.onion (address %s)\n", prefix, label, text);
	}
}

/* Opens the compiled map FILE and checks all of it; returns 0 or the exit status. */
static int open_checked(struct omx_map *map, const char *file)
{
	char err[512];
	int fd = open(file, O_RDONLY | O_CLOEXEC);

	if (fd < 0) {
		fprintf(stderr, "onionmx-map: %s: %s\n", file, strerror(errno));
		return 3;
	}
	if (omx_map_open_fd(map, fd, file, err, sizeof(err)) != 0) {
		fprintf(stderr, "onionmx-map: %s\n", err);
		close(fd);
		return 3;
	}
	close(fd);
	if (omx_map_verify(map, file, err, sizeof(err)) != 0) {
		fprintf(stderr, "onionmx-map: %s\n", err);
		omx_map_close(map);
		return 3;
	}
	return 0;
}

/* Writes the unbound include CONF from the compiled map FILE; returns the exit status. */
static int write_unbound(const char *conf, const char *file)
{
	struct omx_map map;
	char err[1024];
	int rc = open_checked(&map, file);

	if (rc)
		return rc;
	if (omx_map_unbound_file(&map, file, conf, stderr, err, sizeof(err)) != 0) {
		fprintf(stderr, "onionmx-map: %s (%s left unchanged)\n", err, conf);
		rc = 3;
	} else {
		printf("onionmx-map: %s: written from %s (reload unbound)\n", conf, file);
	}
	omx_map_close(&map);
	return rc;
}

/* Prints where KEY goes; returns the exit status. */
static int query(const char *key, const char *file)
{
	struct omx_map map;
	struct omx_target targets[OMX_MAP_MAX_TARGETS], t;
	char matched[256], domain[256];
	struct in_addr in;
	unsigned ndomains;
	size_t llen;
	const char *label;
	int n, rc = open_checked(&map, file);

	if (rc)
		return rc;
	rc = 1;
	if (inet_pton(AF_INET, key, &in) == 1) {
		const struct omx_map_old_range *old = omx_map_old_range(&map, ntohl(in.s_addr));

		n = omx_map_addr_onion(&map, ntohl(in.s_addr), &t, domain, &ndomains);
		if (n == 1) {
			printf("%s is %s.onion", key, t.onion);
			if (t.port)
				printf(" port %u", t.port);
			printf(" (serves %s%s)\n", domain, ndomains > 1 ? " and others" : "");
			rc = 0;
		} else if (n == OMX_MAP_RETIRED) {
			printf("%s was %s.onion's, which is no longer in the map: connections to it are refused\n",
			       key, t.onion);
			rc = 0;
		} else if (old) {
			printf("%s is in a previous range of the map, left at unix time %lld: connections to it are refused\n",
			       key, (long long)old->left);
			rc = 0;
		}
	} else if ((label = omx_onion_label(key, strlen(key), &llen))) {
		char lower[OMX_ONION_LABEL_LEN + 1];
		if (llen == OMX_ONION_LABEL_LEN) {
			omx_ascii_lower_copy(lower, label, llen);
			if ((n = omx_map_onion_addr(&map, lower, llen, &(uint32_t){ 0 })) > 0) {
				print_target(&map, lower, "");
				rc = 0;
			}
		}
	} else if ((n = omx_map_domain(&map, key, targets, matched)) > 0) {
		printf("%s: mail goes over Tor to%s%s%s\n", key, strcmp(matched, key) ? " (entry " : "",
		       strcmp(matched, key) ? matched : "", strcmp(matched, key) ? ")" : "");
		for (int i = 0; i < n; i++) {
			char prefix[32];
			snprintf(prefix, sizeof(prefix), "  MX %d ", 10 * (i + 1));
			print_target(&map, targets[i].onion, prefix);
		}
		rc = 0;
	}
	if (omx_map_damaged(&map)) {
		fprintf(stderr, "onionmx-map: %s: damaged (a lookup failed its checks)\n", file);
		rc = 3;
	} else if (rc) {
		fprintf(stderr, "onionmx-map: %s: not in %s\n", key, file);
	}
	omx_map_close(&map);
	return rc;
}

static void report_skipped(void *ctx, const char *msg)
{
	(void)ctx;
	fprintf(stderr, "onionmx-map: %s\n", msg);
}

/* ERR names the translation's temporary file: name the map.yml instead. */
static void rename_in_error(char *err, size_t errlen, const char *tmp, const char *yml)
{
	char *at = strstr(err, tmp);
	char rest[1024];

	if (!at)
		return;
	snprintf(rest, sizeof(rest), "%s", at + strlen(tmp));
	snprintf(at, errlen - (size_t)(at - err), "%s%s", yml, rest);
}

/* Compiles a map.yml: translated line for line into the native syntax (a
 * temporary file beside OUT), which the ordinary compiler then reads. */
static int compile_yml(const char *src, const char *out, const char *range, int keep_going)
{
	char err[1024], *text, *native = NULL, *tmp = NULL;
	size_t len, nlen, ndomains, nonions;
	unsigned nskipped = 0;
	int fd = -1, rc = 3;

	text = omx_read_file(src, 1024L * 1024 * 1024, 0, &len, err, sizeof(err));
	if (!text) {
		fprintf(stderr, "onionmx-map: %s (%s left unchanged)\n", err, out);
		return 3;
	}
	if (omx_map_yml_translate(text, len, src, keep_going, report_skipped, NULL, &native, &nlen,
				  &nskipped, err, sizeof(err)) != 0) {
		fprintf(stderr, "onionmx-map: %s (%s left unchanged)\n", err, out);
		goto done;
	}
	if (asprintf(&tmp, "%s.ymlXXXXXX", out) < 0) {
		tmp = NULL;
		goto done;
	}
	fd = mkstemp(tmp);
	if (fd < 0 || write(fd, native, nlen) != (ssize_t)nlen || close(fd) != 0) {
		fprintf(stderr, "onionmx-map: %s: %s (%s left unchanged)\n", tmp, strerror(errno), out);
		if (fd >= 0)
			unlink(tmp);
		goto done;
	}
	if (omx_map_compile(tmp, out, range, &ndomains, &nonions, err, sizeof(err)) != 0) {
		rename_in_error(err, sizeof(err), tmp, src);
		fprintf(stderr, "onionmx-map: %s (%s left unchanged)\n", err, out);
	} else {
		printf("onionmx-map: %s: %zu domains, %zu onions", out, ndomains, nonions);
		if (nskipped)
			printf(" (%u invalid entries skipped)", nskipped);
		printf("\n");
		rc = 0;
	}
	unlink(tmp);
done:
	free(tmp);
	free(native);
	free(text);
	return rc;
}

int main(int argc, char **argv)
{
	const char *range = NULL, *key = NULL, *unbound = NULL;
	char err[1024], *out;
	size_t ndomains, nonions, len;
	int opt, rc, yml = 0, keep_going = 0;

	while ((opt = getopt(argc, argv, "q:r:u:ykh")) != -1) {
		switch (opt) {
		case 'y':
			yml = 1;
			break;
		case 'k':
			keep_going = 1;
			break;
		case 'q':
			key = optarg;
			break;
		case 'r':
			range = optarg;
			break;
		case 'u':
			unbound = optarg;
			break;
		case 'h':
			fputs(usage_text, stdout);
			return 0;
		default:
			fputs(usage_text, stderr);
			return 2;
		}
	}
	if (optind != argc - 1 || (key && (unbound || range))) {
		fputs(usage_text, stderr);
		return 2;
	}
	if (key)
		return query(key, argv[optind]);
	len = strlen(argv[optind]);
	if (unbound && len > 4 && strcmp(argv[optind] + len - 4, ".cdb") == 0) {
		if (range) {
			fputs(usage_text, stderr);
			return 2;
		}
		return write_unbound(unbound, argv[optind]);
	}
	if (asprintf(&out, "%s.cdb", argv[optind]) < 0)
		return 3;
	if (yml || omx_map_yml_path(argv[optind])) {
		rc = compile_yml(argv[optind], out, range, keep_going);
		if (rc == 0 && unbound)
			rc = write_unbound(unbound, out);
		free(out);
		return rc;
	}
	if (keep_going) {
		fputs("onionmx-map: -k applies to map.yml sources only (-y)\n", stderr);
		free(out);
		return 2;
	}
	if (omx_map_compile(argv[optind], out, range, &ndomains, &nonions, err, sizeof(err)) != 0) {
		fprintf(stderr, "onionmx-map: %s (%s left unchanged)\n", err, out);
		free(out);
		return 3;
	}
	printf("onionmx-map: %s: %zu domains, %zu onions\n", out, ndomains, nonions);
	rc = unbound ? write_unbound(unbound, out) : 0;
	free(out);
	return rc;
}
