/* libFuzzer target: omx_socks5_parse, the SOCKS5 reply parser that reads what
 * Tor (or anything listening on its port) sends.
 *
 * Input: byte 0 bit 0 = WITH_AUTH, the rest = the bytes the server sent.
 * Checked, besides memory safety (ASan/UBSan):
 *  - NEED_MORE asks for more than is in (need > len: never shrinks below what
 *    has arrived) and never more than the longest possible reply
 *    (2 + [2] + 4 + 1 + 255 + 2);
 *  - fed exactly as the library reads (start with 2 bytes, then exactly *need),
 *    the parser reaches the same verdict as on the whole input (a complete reply
 *    in the input is always reached), and on DONE it has consumed exactly the reply: not one byte of
 *    what follows (the SMTP banner);
 *  - REFUSED carries a non-zero code; the verdict is a known value. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "socks5.h"

#define CHECK(cond)                                                                   \
	do {                                                                          \
		if (!(cond)) {                                                        \
			fprintf(stderr, "fuzz_socks5: check failed: %s (line %d)\n", #cond, \
				__LINE__);                                            \
			abort();                                                      \
		}                                                                     \
	} while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int with_auth, code = 0, code2 = 0;
	size_t len, need = 0, max, have = 0, want = 2;
	const uint8_t *buf;
	enum omx_socks5_result r, r2;

	if (size < 1)
		return 0;
	with_auth = data[0] & 1;
	buf = data + 1;
	len = size - 1;
	max = 2 + (with_auth ? 2 : 0) + 4 + 1 + 255 + 2;

	r = omx_socks5_parse(buf, len, with_auth, &need, &code);
	CHECK(r >= OMX_SOCKS5_DONE && r <= OMX_SOCKS5_BAD_REPLY);
	if (r == OMX_SOCKS5_NEED_MORE) {
		CHECK(need > len);
		CHECK(need <= max);
	}
	if (r == OMX_SOCKS5_REFUSED)
		CHECK(code > 0 && code <= 255);
	/* NULL out-parameters are allowed. */
	CHECK(omx_socks5_parse(buf, len, with_auth, NULL, NULL) == r);

	/* The library's read loop: read up to WANT, parse, repeat. */
	for (;;) {
		size_t prev = want;

		have = want < len ? want : len;
		r2 = omx_socks5_parse(buf, have, with_auth, &need, &code2);
		if (r2 != OMX_SOCKS5_NEED_MORE)
			break;
		CHECK(need > have);
		CHECK(need <= max);
		if (need > len)
			break; /* the server has not sent that much: the library would wait */
		want = need;
		CHECK(want > prev || have < prev);
	}
	if (r2 == OMX_SOCKS5_NEED_MORE) {
		/* The stream ended before *need bytes. The parser may still reach a
		 * verdict on the whole input (a refusal or a malformed header is seen
		 * before the byte the reader asks for next), but never DONE: a complete
		 * reply in the input is always reached by reading exactly *need. */
		CHECK(r != OMX_SOCKS5_DONE);
	} else {
		/* A verdict reached on a prefix is the verdict on the whole input. */
		CHECK(r2 == r);
		if (r2 == OMX_SOCKS5_REFUSED)
			CHECK(code2 == code);
		if (r2 == OMX_SOCKS5_DONE) {
			/* Exactly the reply: one byte less is not a complete reply. */
			size_t n2 = 0;
			CHECK(have >= 2);
			CHECK(omx_socks5_parse(buf, have - 1, with_auth, &n2, NULL) ==
			      OMX_SOCKS5_NEED_MORE);
			CHECK(n2 == have);
		}
	}
	return 0;
}
