/* onion_from_key: reads a 32-byte raw ed25519 public key on standard input and
 * prints its v3 onion label (56 characters, no ".onion"). With openssl:
 *   openssl genpkey -algorithm ed25519 -out k.pem
 *   openssl pkey -in k.pem -pubout -outform DER | tail -c 32 | onion_from_key
 * A real key that no service uses makes an onion Tor accepts but cannot find. */
#include <stdio.h>

#include "onion.h"

int main(void)
{
	uint8_t key[32];
	char label[OMX_ONION_LABEL_LEN + 1];

	if (fread(key, 1, sizeof(key), stdin) != sizeof(key) || getchar() != EOF) {
		fprintf(stderr, "onion_from_key: want exactly 32 bytes (a raw ed25519 public key) on stdin\n");
		return 2;
	}
	omx_onion_from_pubkey(key, label);
	printf("%s\n", label);
	return 0;
}
