#include "shared_file.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* Maps FD's SIZE bytes and fills them: NULL, or what failed. */
static const char *fill_file(int fd, size_t size, const struct omx_shared_init *init)
{
	void *mem = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	const char *failed;

	if (mem == MAP_FAILED)
		return "cannot map";
	failed = init->fill(mem, init->ctx);
	munmap(mem, size);
	if (!failed && init->sync && fsync(fd) != 0)
		failed = "cannot write";
	return failed;
}

int omx_shared_file_create(const char *path, size_t size, mode_t mode, const struct omx_shared_init *init,
			   char *err, size_t errlen)
{
	char tmp[PATH_MAX];
	const char *failed;
	sigset_t xfsz, saved, pending;
	int fd, rc = -1, was_pending;

	if (snprintf(tmp, sizeof(tmp), "%s.new.%ld", path, (long)getpid()) >= (int)sizeof(tmp)) {
		snprintf(err, errlen, "%s: path too long", path);
		return -1;
	}
	sigemptyset(&xfsz);
	sigaddset(&xfsz, SIGXFSZ);
	pthread_sigmask(SIG_BLOCK, &xfsz, &saved);
	sigpending(&pending);
	was_pending = sigismember(&pending, SIGXFSZ);
	unlink(tmp);
	fd = open(tmp, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode);
	if (fd < 0) {
		snprintf(err, errlen, "%s: cannot create: %s", path, strerror(errno));
		goto restore;
	}
	if (init->created)
		init->created();
	if (fchmod(fd, mode) != 0 || ftruncate(fd, (off_t)size) != 0) {
		snprintf(err, errlen, "%s: cannot create: %s", path, strerror(errno));
		goto out;
	}
	if ((failed = fill_file(fd, size, init)) != NULL) {
		snprintf(err, errlen, "%s: %s: %s", path, failed, strerror(errno));
		goto out;
	}
	if (link(tmp, path) != 0 && errno != EEXIST) {
		snprintf(err, errlen, "%s: cannot create: %s", path, strerror(errno));
		goto out;
	}
	rc = 0;
out:
	close(fd);
	unlink(tmp);
restore:
	sigpending(&pending);
	if (!was_pending && sigismember(&pending, SIGXFSZ)) {
		struct timespec zero = { 0, 0 };

		sigtimedwait(&xfsz, NULL, &zero); /* ours: a write above was refused */
	}
	pthread_sigmask(SIG_SETMASK, &saved, NULL);
	return rc;
}
