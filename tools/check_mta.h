/* onionmx-check --mta: the MTA settings that would send mapped mail somewhere
 * other than its onion, or bounce it.
 *
 * The rules read the MTA's own report of its effective configuration (Postfix's
 * "postconf" and "postconf -P", Exim's "-bP routers"/"-bP transports" and main
 * options, OpenSMTPD's smtpd.conf) as text, so they are pure and unit-tested
 * with captured output; check_mta.c runs the commands and looks at how the
 * library is loaded. */
#ifndef OMX_CHECK_MTA_H
#define OMX_CHECK_MTA_H
#include <stddef.h>
#include <stdint.h>

#include "config.h"

#define MTA_MAX_FINDINGS 48

enum mta_level {
	MTA_UNSAFE = 1, /* mapped mail would go in clear, or bounce: exit 1 */
	MTA_NOTE = 0,   /* worth knowing; onionmx-check cannot tell if it matters */
};

struct mta_finding {
	enum mta_level level;
	char setting[128]; /* as the MTA names it, e.g. smtp_fallback_relay */
	char value[256];
	char why[384];
	char fix[384];
};

struct mta_report {
	int n;
	int truncated; /* more findings than MTA_MAX_FINDINGS */
	struct mta_finding f[MTA_MAX_FINDINGS];
};

/* The synthetic ranges an MTA must not filter (host order); mask 0: unused. */
struct mta_ranges {
	uint32_t map_net, map_mask;
	uint32_t disc_net, disc_mask;
};

/* Postfix. MAIN: "name = value" lines as "postconf NAME..." prints them;
 * OVERRIDES: "service/type/name = value" lines as "postconf -P" prints them. */
void omx_mta_postfix_rules(const char *main_cf, const char *overrides, struct mta_report *r);

/* Exim. ROUTERS and TRANSPORTS: "exim -bP routers" / "exim -bP transports";
 * MAIN: "name = value" lines of the main options asked for. */
void omx_mta_exim_rules(const char *routers, const char *transports, const char *main_opts,
			const struct mta_ranges *ranges, struct mta_report *r);

/* OpenSMTPD. CONF: smtpd.conf's text. */
void omx_mta_opensmtpd_rules(const char *conf, struct mta_report *r);

/* Whether Exim address list LIST (as -bP prints it, "<;" separator changes
 * included) holds an IPv4 entry covering any address of NET/MASK. Returns 1
 * and the entry in HIT, 0 if none, -1 if an entry cannot be judged (a named
 * list or a lookup) with it in HIT. */
int omx_mta_exim_list_covers(const char *list, uint32_t net, uint32_t mask, char *hit,
			     size_t hitlen);

/* Adds a finding (formatted WHY; VALUE and FIX as given). */
void omx_mta_add(struct mta_report *r, enum mta_level level, const char *setting,
		 const char *value, const char *fix, const char *why_fmt, ...)
	__attribute__((format(printf, 6, 7)));

/* Value of option NAME in "name = value" lines of TEXT (first match), copied to
 * OUT. Returns 1 found, 0 not (a "no_NAME"/"NAME" boolean line gives "false" /
 * "true"). */
int omx_mta_option(const char *text, const char *name, char *out, size_t outlen);

/* Runs onionmx-check --mta: WHICH is "postfix", "exim", "opensmtpd" or NULL
 * (detect). Prints the report (one line with TERSE) and returns 0 (nothing
 * unsafe), 1 (unsafe settings named) or 2 (the MTA's configuration could not
 * be read). CFG may be NULL when the onionmx configuration is broken. */
int omx_check_mta(const char *which, const struct omx_config *cfg, const struct mta_ranges *ranges,
		  int terse);
#endif
