/* ASCII case folding, the one way names are lower-cased: the DNS and onion
 * addresses compare case-insensitively in ASCII, and tolower() would depend
 * on the locale. */
#ifndef OMX_ASCII_H
#define OMX_ASCII_H
#include <stddef.h>

static inline char omx_ascii_lower(char c)
{
	return (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
}

/* Copies N bytes of SRC, lower-cased, to DST and ends it with a NUL. */
static inline void omx_ascii_lower_copy(char *dst, const char *src, size_t n)
{
	for (size_t i = 0; i < n; i++)
		dst[i] = omx_ascii_lower(src[i]);
	dst[n] = '\0';
}
#endif
