/* Tor v3 onion addresses: finding the onion label in a host name, validating it
 * (length, base32, version byte, SHA3 checksum per rend-spec-v3) and building one
 * from a public key. Pure: no I/O, no allocation. */
#ifndef OMX_ONION_H
#define OMX_ONION_H
#include <stddef.h>
#include <stdint.h>

#define OMX_ONION_LABEL_LEN 56 /* base32 characters, without ".onion" */

enum omx_onion_status {
	OMX_ONION_OK = 0,
	OMX_ONION_V2,           /* 16 characters: Tor removed v2 in 0.4.6 */
	OMX_ONION_BAD_LENGTH,   /* neither 56 nor 16 characters */
	OMX_ONION_BAD_CHAR,     /* not base32 (a-z, 2-7; case-insensitive) */
	OMX_ONION_BAD_VERSION,  /* version byte is not 3 */
	OMX_ONION_BAD_CHECKSUM, /* checksum does not match the key */
	OMX_ONION_BAD_KEY,      /* omx_onion_check_key: the key is not one Tor accepts */
};

/* Checks the LEN characters at LABEL (the part before ".onion", no dots): the
 * form, not the key. Cheap (one SHA3): for names at lookup time, which come
 * from the map or the discovery cache, both checked with omx_onion_check_key. */
enum omx_onion_status omx_onion_check(const char *label, size_t len);

/* omx_onion_check, then whether the key is an ed25519 point of the prime-order
 * subgroup (ed25519.h), as Tor checks before it connects: OMX_ONION_BAD_KEY if
 * not (Tor would answer 0xF6). About 50 us: for targets entering the map
 * (onionmx-map) or the discovery cache (SRV answers), not per lookup. */
enum omx_onion_status omx_onion_check_key(const char *label, size_t len);

/* Labels omx_onion_check_key found valid, kept by a caller that checks many
 * (onionmx-map: a map lists one onion for many domains, and the key check
 * costs ~40 us). One per thread. SLOTS (a power of two) labels are held: the
 * compiler sizes it to the source, so that every distinct onion of a large
 * map is checked once however its lines are ordered. */
struct omx_onion_memo {
	char (*label)[OMX_ONION_LABEL_LEN]; /* lower case; "" if empty */
	size_t slots;
};

/* Allocates MEMO for about WANT labels (at least 256, at most 2^20 slots);
 * 0, or -1 without memory (MEMO then holds nothing and checks everything). */
int omx_onion_memo_init(struct omx_onion_memo *memo, size_t want);
void omx_onion_memo_free(struct omx_onion_memo *memo);

/* omx_onion_check_key, answered from MEMO (if not NULL) for a label it holds. */
enum omx_onion_status omx_onion_check_key_memo(const char *label, size_t len,
					       struct omx_onion_memo *memo);

/* A short English description of STATUS, e.g. "bad checksum", for error messages.
 * OMX_ONION_V2 says that Tor removed v2 onion addresses in 0.4.6. */
const char *omx_onion_strerror(enum omx_onion_status status);

/* If NAME (LEN bytes, an optional trailing dot allowed, any case) ends in
 * ".onion", returns a pointer to the label just before ".onion" and stores its
 * length in *LABEL_LEN ("sub.xyz.onion" -> "xyz"). Otherwise returns NULL.
 * "onion" alone or ".onion" yield a label of length 0. */
const char *omx_onion_label(const char *name, size_t len, size_t *label_len);

/* Writes the 56-character lower-case v3 label for PUBKEY into OUT, NUL-terminated. */
void omx_onion_from_pubkey(const uint8_t pubkey[32], char out[OMX_ONION_LABEL_LEN + 1]);
#endif
