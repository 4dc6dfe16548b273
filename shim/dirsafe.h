/* The one check of a file's directory, for the discovery cache (cache.c) and
 * the statistics file (stats.c): whoever can write the directory can replace
 * the file. */
#ifndef OMX_DIRSAFE_H
#define OMX_DIRSAFE_H
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* 0 if DIR (PATH's directory) is a directory owned by root (or, without
 * REQUIRE_ROOT, this user) and not writable by group or others; else -1, errno
 * set and ERR naming PATH and DIR. */
static inline int omx_dir_safe(const char *path, const char *dir, int require_root, char *err,
			       size_t errlen)
{
	struct stat st;

	if (stat(dir, &st) != 0) {
		int e = errno;

		snprintf(err, errlen, "%s: %s: %s", path, dir, strerror(e));
		errno = e;
		return -1;
	}
	if (!S_ISDIR(st.st_mode) || (st.st_uid != 0 && (require_root || st.st_uid != geteuid())) ||
	    (st.st_mode & (S_IWGRP | S_IWOTH))) {
		snprintf(err, errlen, "%s: refused: its directory %s is not owned by %s, or is writable by group or others",
			 path, dir, require_root ? "root" : "root or this user");
		errno = EPERM;
		return -1;
	}
	return 0;
}
#endif
