/* onionmx-check --publish: the _onion-mx._tcp SRV record that announces an
 * onion MX, from the onion's name, its hostname file or its directory. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "ascii.h"
#include "check.h"
#include "onion.h"
#include "srv.h"

/* ------------------------------------------------------------------ --publish */


/* Whether ARG names an onion (LABEL.onion, optional trailing dot) rather than a file. */
static int looks_like_name(const char *arg)
{
	size_t len = strlen(arg);

	if (strchr(arg, '/'))
		return 0;
	if (len && arg[len - 1] == '.')
		len--;
	return len >= 6 && strncasecmp(arg + len - 6, ".onion", 6) == 0;
}

/* --domain: normalised into DOMAIN (one domain, not a wildcard); 0, or the
 * exit status. */
static int publish_domain(const char *arg, char *domain, size_t cap)
{
	char err[PATH_MAX + 256], qname[PATH_MAX + 16];

	snprintf(err, sizeof(err), "too long");
	snprintf(domain, cap, "%s", arg);
	if (strlen(arg) >= cap || omx_domain_normalise(domain, err, sizeof(err)) != 0 ||
	    omx_srv_qname(domain, qname, sizeof(qname)) != 0) {
		fprintf(stderr, "onionmx-check: --domain %s: %s\n", arg, err);
		return EXIT_USAGE;
	}
	if (domain[0] == '.') {
		fprintf(stderr, "onionmx-check: --domain %s: one domain, not a wildcard\n", arg);
		return EXIT_USAGE;
	}
	return 0;
}

/* Reads Tor's hostname file ARG (or ARG/hostname for a directory): *TEXT its
 * one line, *LEN its length without the line end, WHERE "PATH: " for the
 * messages. 0, or the exit status (*TEXT to free all the same). */
static int read_hostname_file(const char *arg, char **text, size_t *len, char *where, size_t cap)
{
	char path[PATH_MAX + 16], err[PATH_MAX + 256];
	struct stat sb;

	snprintf(path, sizeof(path), "%s", arg);
	if (stat(arg, &sb) == 0 && S_ISDIR(sb.st_mode))
		snprintf(path, sizeof(path), "%s%shostname", arg, arg[strlen(arg) - 1] == '/' ? "" : "/");
	*text = omx_read_file(path, 4096, 0, len, err, sizeof(err));
	if (!*text) {
		fprintf(stderr, "onionmx-check: %s%s\n", err,
			strstr(err, strerror(EACCES)) ? " (Tor's HiddenServiceDir is usually "
							"readable only by root and Tor's user)" : "");
		return EXIT_NOINPUT;
	}
	snprintf(where, cap, "%s: ", path);
	/* Tor writes "LABEL.onion\n". */
	if (*len && (*text)[*len - 1] == '\n')
		(*len)--;
	if (*len && (*text)[*len - 1] == '\r')
		(*len)--;
	for (size_t i = 0; i < *len; i++) {
		if (isspace((unsigned char)(*text)[i]) || !isprint((unsigned char)(*text)[i])) {
			fprintf(stderr, "onionmx-check: %snot a Tor hostname file (expected one line "
					"\"LABEL.onion\")\n", where);
			return EXIT_DATAERR;
		}
	}
	if (*len == 0) {
		fprintf(stderr, "onionmx-check: %sempty (expected one line \"LABEL.onion\")\n", where);
		return EXIT_DATAERR;
	}
	return 0;
}

/* NAME (LEN bytes) as a bare v3 onion address, its label lower-cased into
 * LABEL_LC; 0, or EXIT_DATAERR said on stderr. */
static int bare_onion(const char *name, size_t len, const char *where, char *label_lc)
{
	char shown[200];
	const char *label;
	size_t llen;
	enum omx_onion_status st;

	check_printable(shown, sizeof(shown), name, len < 150 ? len : 150);
	label = omx_onion_label(name, len, &llen);
	if (!label) {
		fprintf(stderr, "onionmx-check: %s%s: not an onion address (LABEL.onion)\n", where, shown);
		return EXIT_DATAERR;
	}
	if (label != name) {
		fprintf(stderr, "onionmx-check: %s%s: not a bare onion address: publish LABEL.onion "
				"without subdomains\n", where, shown);
		return EXIT_DATAERR;
	}
	st = omx_onion_check_key(label, llen);
	if (st != OMX_ONION_OK) {
		fprintf(stderr, "onionmx-check: %s%s: %s\n", where, shown, omx_onion_strerror(st));
		return EXIT_DATAERR;
	}
	omx_ascii_lower_copy(label_lc, label, llen);
	return 0;
}

/* The SRV record to publish for the onion LABEL_LC, and what else it needs. */
static void print_srv_record(const struct publish_opts *po, const char *domain, const char *label_lc)
{
	if (po->domain)
		printf("%s%s. %lu IN SRV %lu %lu %lu %s.onion.\n", OMX_SRV_PREFIX, domain, po->ttl,
		       po->priority, po->weight, po->port, label_lc);
	else
		printf("%.*s %lu IN SRV %lu %lu %lu %s.onion.\n", (int)strlen(OMX_SRV_PREFIX) - 1,
		       OMX_SRV_PREFIX, po->ttl, po->priority, po->weight, po->port, label_lc);
	if (!po->domain)
		printf("; the owner is relative: put the line in your mail domain's own zone file\n");
	/* Not 127.0.0.1:25: an MTA trusts connections from localhost (Postfix's
	 * mynetworks, Exim's relay_from_hosts), and every onion client would
	 * arrive from there: an open relay. */
	printf("; Tor must serve the port: HiddenServicePort %lu 127.0.0.1:2526, a listener of\n"
	       ";   its own where the MTA does not relay for localhost (never 127.0.0.1:25: an\n"
	       ";   open relay); see README, \"Receiving mail over Tor\"\n",
	       po->port);
	printf("; once published, verify: onionmx-check --probe %s\n",
	       po->domain ? domain : "YOUR-DOMAIN");
}

int check_publish(const struct publish_opts *po, const char *arg)
{
	char where[PATH_MAX + 32] = "", domain[256] = "", label_lc[OMX_ONION_LABEL_LEN + 1];
	char *text = NULL;
	const char *name = arg;
	size_t len = strlen(arg);
	int rc = 0;

	if (po->domain && (rc = publish_domain(po->domain, domain, sizeof(domain))) != 0)
		return rc;
	if (!looks_like_name(arg)) {
		rc = read_hostname_file(arg, &text, &len, where, sizeof(where));
		name = text;
	}
	if (rc == 0 && (rc = bare_onion(name, len, where, label_lc)) == 0)
		print_srv_record(po, domain, label_lc);
	free(text);
	return rc;
}
