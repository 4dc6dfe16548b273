/* dlsym_spy.so: preloaded before libonionmx.so, it stands between the library
 * and dlsym() to show when the library binds its real functions and what it does
 * when a binding is missing or is its own hook.
 *   DLSYM_SPY_LOG=1        writes "dlsym_spy: NAME" to stderr for every lookup
 *   DLSYM_SPY_MISSING=A,B  RTLD_NEXT lookups of A, B answer NULL (no such symbol)
 *   DLSYM_SPY_SELF=A,B     RTLD_NEXT lookups of A, B answer the first definition
 *                          in the global scope: the library's own hook
 * Other RTLD_NEXT lookups answer libc's definition (what they would get without
 * the spy: every real function the library binds is libc's). The settings are
 * read when it is loaded, and the environment it hands on is the program's. */
#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

/* glibc's internal __write: write() and syscall() are both hooks of the
 * library, and calling one from inside the library's binding would wait on
 * that binding. */
extern ssize_t __write(int, const void *, size_t);

static void say(const char *s)
{
	if (__write(2, s, strlen(s)) < 0)
		return; /* nowhere to report it */
}

static int listed(const char *list, const char *name)
{
	size_t n = strlen(name);

	for (const char *p = list; p && *p;) {
		size_t len = strcspn(p, ",");
		if (len == n && strncmp(p, name, n) == 0)
			return 1;
		p += len;
		p += strspn(p, ",");
	}
	return 0;
}

/* Read at load: the probes empty their environment before they exec. */
static const char *spy_log, *spy_missing, *spy_self;
static int spy_ready;

/* At load, or at the first lookup if that comes first (another library's
 * constructor): either way before main() can empty the environment. */
__attribute__((constructor)) static void read_settings(void)
{
	if (spy_ready)
		return;
	spy_ready = 1;
	spy_log = getenv("DLSYM_SPY_LOG");
	spy_missing = getenv("DLSYM_SPY_MISSING");
	spy_self = getenv("DLSYM_SPY_SELF");
}

void *dlsym(void *handle, const char *name)
{
	static void *(*real)(void *, const char *);
	static void *libc;

	read_settings();
	if (!real)
		real = (void *(*)(void *, const char *))dlvsym(RTLD_NEXT, "dlsym", "GLIBC_2.34");
	if (spy_log) {
		say("dlsym_spy: ");
		say(name);
		say("\n");
	}
	if (handle != RTLD_NEXT)
		return real(handle, name);
	if (listed(spy_missing, name))
		return NULL;
	if (listed(spy_self, name))
		return real(RTLD_DEFAULT, name);
	if (!libc)
		libc = dlopen("libc.so.6", RTLD_NOW | RTLD_NOLOAD);
	return real(libc, name);
}
