/* The community's map format (ehloonion/onionmx, sources/map.yml): YAML mapping
 * each onion to the list of mail domains it receives for,
 *
 *   ---
 *   'abcd...xyzd.onion':
 *     - 'example.org'
 *     - 'example.net'
 *
 * read as a small subset of YAML: one document ('---' optional), comments,
 * top-level keys (plain, 'single' or "double" quoted, no escapes) each with a
 * block list of scalars ("- item", indented or not), an empty list as nothing,
 * '[]', '~' or 'null'. Anything else is refused with FILE:LINE.
 *
 * It is translated into onionmx-map's own source syntax line for line: a
 * domain's line in the translation is the line of its first mention in the
 * YAML ("DOMAIN ONION.onion [ONION.onion ...]", every onion listing it, in file
 * order); other lines are blank. So the compiler's own errors still name the
 * YAML's line numbers. Pure: no I/O. */
#ifndef OMX_MAP_YML_H
#define OMX_MAP_YML_H
#include <stddef.h>

/* Called with "SRC:LINE: what; skipped" for each invalid entry skipped under
 * KEEP_GOING. */
typedef void (*omx_yml_report_fn)(void *ctx, const char *msg);

/* Translates the LEN bytes of TEXT (read from SRC, named in messages). Invalid
 * entries (an onion that is v2, has a bad checksum or a key Tor refuses, or is
 * not an onion; a domain that is not one; a domain under more onions than a map
 * line takes) fail the translation, or with KEEP_GOING are reported through
 * REPORT and left out (an onion with all its domains). Syntax outside the subset
 * always fails. Returns 0 with *OUT (malloc'd, *OUTLEN bytes) and *NSKIPPED, or
 * -1 with "SRC:LINE: reason" in ERR. */
int omx_map_yml_translate(const char *text, size_t len, const char *src, int keep_going,
			  omx_yml_report_fn report, void *ctx, char **out, size_t *outlen,
			  unsigned *nskipped, char *err, size_t errlen);

/* Whether PATH names a map.yml by its extension (.yml or .yaml). */
int omx_map_yml_path(const char *path);
#endif
