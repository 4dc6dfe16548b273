/* Whether 32 bytes are an ed25519 public key Tor accepts for an onion address:
 * the encoding of a curve point (RFC 8032 5.1.3) that lies in the prime-order
 * subgroup (rend-spec-v3 "client-side validation": no torsion component; Tor's
 * ed25519_validate_pubkey multiplies by the group order and wants the identity).
 * Tor answers a CONNECT to any other key with 0xF6, "invalid onion address".
 * Variable time: public keys only. Pure, thread-safe, no allocation. */
#ifndef OMX_ED25519_H
#define OMX_ED25519_H
#include <stdint.h>

enum omx_ed25519_key {
	OMX_ED25519_KEY_OK = 0,
	OMX_ED25519_KEY_NOT_CANONICAL, /* y >= p = 2^255 - 19 */
	OMX_ED25519_KEY_NOT_ON_CURVE,  /* no x with x^2 = (y^2-1)/(d y^2+1), or x = 0 signed negative */
	OMX_ED25519_KEY_TORSION,       /* a point, but not in the subgroup of order l (or the identity) */
};

/* Classifies KEY (y little-endian, the top bit the sign of x). */
enum omx_ed25519_key omx_ed25519_key_check(const uint8_t key[32]);

/* The same, the way Tor computes it: [l]P == identity, ~10 times slower. The
 * reference the tests compare omx_ed25519_key_check with. */
enum omx_ed25519_key omx_ed25519_key_check_by_order(const uint8_t key[32]);

/* Writes the encoding of [SCALAR]B, B the base point, SCALAR 32 bytes little-endian:
 * a public key Tor accepts (tests derive valid onions from seeds with it). */
void omx_ed25519_base_mult(const uint8_t scalar[32], uint8_t key[32]);
#endif
