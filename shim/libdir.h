/* Where ld.so loads a bare LD_PRELOAD name from in secure mode (setuid programs
 * such as Exim's re-executed exim4): only its system search directories, and
 * only files mode 4755 there. Glibc 2.36 on Debian searches /lib/TRIPLET,
 * /usr/lib/TRIPLET, /lib and /usr/lib (TRIPLET: x86_64-linux-gnu,
 * aarch64-linux-gnu, ...); other distributions /lib64 and /usr/lib64. Pure. */
#ifndef OMX_LIBDIR_H
#define OMX_LIBDIR_H
#include <stddef.h>

/* Whether DIR (LEN bytes, no trailing slash) has the name of such a directory:
 * /lib, /usr/lib, /lib64, /usr/lib64, or /lib or /usr/lib followed by one
 * component that is MULTIARCH (the build's triplet; "" for none) or looks like
 * a GNU triplet (ARCH-linux-ABI). Whether this ld.so searches it is the
 * caller's question (state.c asks ld.so). */
int omx_system_lib_dir(const char *dir, size_t len, const char *multiarch);
#endif
