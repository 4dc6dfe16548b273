/* onionmx-map: compile a domain -> onion map source into the cdb the library
 * reads (like postmap), and query a compiled map. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ascii.h"
#include "map.h"

static const char usage_text[] =
	"usage: onionmx-map [-r NET/PREFIX] FILE     compile FILE into FILE.cdb\n"
	"       onionmx-map -q KEY FILE.cdb           where KEY (a domain, an onion name or\n"
	"                                             a synthetic address) goes\n"
	"\n"
	"FILE lines: DOMAIN TARGET [TARGET ...]; TARGET is a v3 onion address with an\n"
	"optional :PORT; .example.org covers the subdomains of example.org; # comments.\n"
	"-r: the range synthetic addresses are taken from (default: the existing map's,\n"
	"    else " OMX_DEFAULT_RANGE "). Rebuilding over an existing map keeps every onion's\n"
	"    address; a removed onion's address, and a range left with -r, stay refused\n"
	"    (never reused) for at least 7 days.\n"
	"-q also checks the whole map against the checksum in its header.\n"
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

/* Prints where KEY goes; returns the exit status. */
static int query(const char *key, const char *file)
{
	struct omx_map map;
	struct omx_target targets[OMX_MAP_MAX_TARGETS], t;
	char err[512], matched[256], domain[256];
	struct in_addr in;
	unsigned ndomains;
	size_t llen;
	const char *label;
	int fd = open(file, O_RDONLY | O_CLOEXEC), n, rc = 1;

	if (fd < 0) {
		fprintf(stderr, "onionmx-map: %s: %s\n", file, strerror(errno));
		return 3;
	}
	if (omx_map_open_fd(&map, fd, file, err, sizeof(err)) != 0) {
		fprintf(stderr, "onionmx-map: %s\n", err);
		close(fd);
		return 3;
	}
	close(fd);
	if (omx_map_verify(&map, file, err, sizeof(err)) != 0) {
		fprintf(stderr, "onionmx-map: %s\n", err);
		omx_map_close(&map);
		return 3;
	}
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

int main(int argc, char **argv)
{
	const char *range = NULL, *key = NULL;
	char err[1024], *out;
	size_t ndomains, nonions;
	int opt;

	while ((opt = getopt(argc, argv, "q:r:h")) != -1) {
		switch (opt) {
		case 'q':
			key = optarg;
			break;
		case 'r':
			range = optarg;
			break;
		case 'h':
			fputs(usage_text, stdout);
			return 0;
		default:
			fputs(usage_text, stderr);
			return 2;
		}
	}
	if (optind != argc - 1) {
		fputs(usage_text, stderr);
		return 2;
	}
	if (key)
		return query(key, argv[optind]);
	if (asprintf(&out, "%s.cdb", argv[optind]) < 0)
		return 3;
	if (omx_map_compile(argv[optind], out, range, &ndomains, &nonions, err, sizeof(err)) != 0) {
		fprintf(stderr, "onionmx-map: %s (%s left unchanged)\n", err, out);
		free(out);
		return 3;
	}
	printf("onionmx-map: %s: %zu domains, %zu onions\n", out, ndomains, nonions);
	free(out);
	return 0;
}
