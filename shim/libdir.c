/* Where ld.so loads a bare LD_PRELOAD name from: see libdir.h. */
#include <string.h>

#include "libdir.h"
#include "layout.h"

OMX_STARTUP
int omx_system_lib_dir(const char *dir, size_t len, const char *multiarch)
{
	static const char *const generic[] = { "/lib", "/usr/lib", "/lib64", "/usr/lib64" };
	const char *rest = NULL;
	size_t rlen;

	for (size_t i = 0; i < sizeof(generic) / sizeof(generic[0]); i++)
		if (len == strlen(generic[i]) && memcmp(dir, generic[i], len) == 0)
			return 1;
	if (len > 5 && memcmp(dir, "/lib/", 5) == 0)
		rest = dir + 5;
	else if (len > 9 && memcmp(dir, "/usr/lib/", 9) == 0)
		rest = dir + 9;
	if (!rest)
		return 0;
	rlen = len - (size_t)(rest - dir);
	if (memchr(rest, '/', rlen) || (rlen <= 2 && rest[0] == '.'))
		return 0;
	if (multiarch && *multiarch && rlen == strlen(multiarch) && memcmp(rest, multiarch, rlen) == 0)
		return 1;
	return rlen > 7 && memmem(rest, rlen, "-linux-", 7) != NULL && rest[0] != '-';
}
