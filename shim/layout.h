/* Where the library's code and data lie, for what a process start costs. */
#ifndef OMX_LAYOUT_H
#define OMX_LAYOUT_H

/* A function every process start runs (the constructor's path: reading the
 * config, opening the map, binding libc). The kernel maps a library's text
 * in 64 KiB windows around each page fault; spread over 150 KiB of text, the
 * start-up code had every page of it mapped (and unmapped at exit) in every
 * process. Together in .text.startup, which the linker lays out with the
 * constructors right after the PLT every start calls through, it is one or
 * two such windows. */
#define OMX_STARTUP __attribute__((section(".text.startup.omx")))

/* The large tables the hooks keep (bitmaps, SOCKS and DNS state), untouched
 * by most processes: laid out after the variables a process start writes
 * (shim/libonionmx.ld), so that the few pages start-up dirties hold no table. */
#define OMX_COLD_TABLE __attribute__((section(".omx_cold")))

/* pthread_atfork() as the call libc_nonshared.a's stub makes: the stub is
 * linked in at the far end of the text, a page fault and another 64 KiB
 * window mapped at every start for the four registrations the constructors
 * make. __dso_handle (crtbegin) unregisters them if the library is unloaded. */
extern void *__dso_handle __attribute__((visibility("hidden")));
int __register_atfork(void (*prepare)(void), void (*parent)(void), void (*child)(void), void *dso);

static inline int omx_atfork(void (*prepare)(void), void (*parent)(void), void (*child)(void))
{
	return __register_atfork(prepare, parent, child, __dso_handle);
}

#endif
