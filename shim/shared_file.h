/* Creating a file that processes share by mapping it (the discovery cache,
 * the delivery statistics): made whole under a temporary name, then linked
 * into place, so that no process ever maps a half-made file. */
#ifndef OMX_SHARED_FILE_H
#define OMX_SHARED_FILE_H
#include <stddef.h>
#include <sys/types.h>

struct omx_shared_init {
	/* Fills the new file's SIZE bytes at MEM: NULL, or what failed (errno
	 * set), e.g. "no random key". */
	const char *(*fill)(void *mem, void *ctx);
	void *ctx;
	void (*created)(void); /* called once the temporary file exists (tests), or NULL */
	int sync;              /* fsync before linking it into place */
};

/* Creates PATH of SIZE bytes and MODE, filled by INIT. 0 when PATH exists
 * afterwards (made here or by a process that won the race), -1 with ERR. A
 * write past RLIMIT_FSIZE must not kill the host with SIGXFSZ nor leave the
 * temporary file: the signal is blocked meanwhile, and the one this raised is
 * taken back (never one that was already pending). */
int omx_shared_file_create(const char *path, size_t size, mode_t mode, const struct omx_shared_init *init,
			   char *err, size_t errlen);
#endif
