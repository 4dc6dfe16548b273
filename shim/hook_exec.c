/* Interposers for the exec family and posix_spawn: the library keeps itself
 * loaded in every program the process runs. Postfix truncates its environment
 * before starting master and Exim empties it, so what is carried over (the
 * LD_PRELOAD entry, ONIONMX_CONF) comes from the library itself, not from the
 * environment. Everything here runs on the stack: an exec may happen in a vfork
 * child, where malloc is not safe. */
#include <dlfcn.h>
#include <errno.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "real.h"
#include "state.h"

extern char **environ;

/* Real functions: bound on first use (exec is never a hot path). */
#define REAL(name) ((__typeof__(&name))real_symbol(#name))

static void *real_symbol(const char *name)
{
	void *p = dlsym(RTLD_NEXT, name);

	if (!p)
		errno = ENOSYS;
	return p;
}

static size_t env_count(char *const envp[])
{
	size_t n = 0;

	while (envp && envp[n])
		n++;
	return n;
}

/* Whether the LD_PRELOAD value LIST already names ENTRY (':' or ' ' separated). */
static int list_has(const char *list, const char *entry)
{
	size_t n = strlen(entry);

	for (const char *p = list; *p;) {
		size_t len = strcspn(p, ": ");
		if (len == n && strncmp(p, entry, n) == 0)
			return 1;
		p += len;
		p += strspn(p, ": ");
	}
	return 0;
}

/* Our own entry: the last word of omx_self_preload (a sanitizer build puts
 * its runtime before it). */
static const char *self_entry(void)
{
	const char *last = strrchr(omx_self_preload, ' ');

	return last ? last + 1 : omx_self_preload;
}

/* Bytes needed for the new LD_PRELOAD entry given ENVP. */
static size_t preload_size(char *const envp[])
{
	size_t size = sizeof("LD_PRELOAD=") + strlen(omx_self_preload) + 2;

	for (size_t i = 0; envp && envp[i]; i++)
		if (strncmp(envp[i], "LD_PRELOAD=", 11) == 0)
			size += strlen(envp[i]);
	return size;
}

/* Fills OUT (room for count + 3 pointers) with ENVP plus what keeps the library
 * loaded: our entry in LD_PRELOAD (written into PRELOAD, PRELOAD_SIZE bytes) and
 * ONIONMX_CONF. Entries ENVP already has are kept, in order. */
static char **sticky_env(char *const envp[], char **out, char *preload, size_t preload_size)
{
	size_t n = 0;
	int have_preload = 0, have_conf = 0;

	omx_init();
	for (size_t i = 0; envp && envp[i]; i++) {
		if (strncmp(envp[i], "LD_PRELOAD=", 11) == 0 && !have_preload) {
			const char *list = envp[i] + 11;
			have_preload = 1;
			if (list_has(list, self_entry())) {
				out[n++] = envp[i];
			} else {
				snprintf(preload, preload_size, "LD_PRELOAD=%s%s%s", list, *list ? " " : "",
					 omx_self_preload);
				out[n++] = preload;
			}
			continue;
		}
		if (strncmp(envp[i], "ONIONMX_CONF=", 13) == 0 && omx_conf_env[0]) {
			if (have_conf)
				continue;
			have_conf = 1;
			out[n++] = omx_conf_env;
			continue;
		}
		out[n++] = envp[i];
	}
	if (!have_preload) {
		snprintf(preload, preload_size, "LD_PRELOAD=%s", omx_self_preload);
		out[n++] = preload;
	}
	if (!have_conf && omx_conf_env[0])
		out[n++] = omx_conf_env;
	out[n] = NULL;
	return out;
}

/* Declares NEWENV: ENVP with the library kept, all on the stack. */
#define STICKY_ENV(newenv, envp)                                                   \
	size_t newenv##_count = env_count(envp);                                   \
	size_t newenv##_psize = preload_size(envp);                                \
	char *newenv##_slots[newenv##_count + 3];                                  \
	char newenv##_preload[newenv##_psize];                                     \
	char **newenv = sticky_env(envp, newenv##_slots, newenv##_preload, newenv##_psize)

int execve(const char *path, char *const argv[], char *const envp[])
{
	int (*real)(const char *, char *const[], char *const[]) = REAL(execve);
	STICKY_ENV(newenv, envp);

	return real ? real(path, argv, newenv) : -1;
}

/* The exec families call our execve/execvpe by these hidden names: the library
 * never calls its own exported hooks through the GOT (tests/integ/selfbind.sh). */
extern __typeof(execve) omx_execve __attribute__((alias("execve"), copy(execve), visibility("hidden")));

int execv(const char *path, char *const argv[])
{
	return omx_execve(path, argv, environ);
}

int execvpe(const char *file, char *const argv[], char *const envp[])
{
	int (*real)(const char *, char *const[], char *const[]) = REAL(execvpe);
	STICKY_ENV(newenv, envp);

	return real ? real(file, argv, newenv) : -1;
}

extern __typeof(execvpe) omx_execvpe __attribute__((alias("execvpe"), copy(execvpe), visibility("hidden")));

int execvp(const char *file, char *const argv[])
{
	return omx_execvpe(file, argv, environ);
}

int fexecve(int fd, char *const argv[], char *const envp[])
{
	int (*real)(int, char *const[], char *const[]) = REAL(fexecve);
	STICKY_ENV(newenv, envp);

	return real ? real(fd, argv, newenv) : -1;
}

int execveat(int dirfd, const char *path, char *const argv[], char *const envp[], int flags)
{
	int (*real)(int, const char *, char *const[], char *const[], int) = REAL(execveat);
	STICKY_ENV(newenv, envp);

	return real ? real(dirfd, path, argv, newenv, flags) : -1;
}

int posix_spawn(pid_t *pid, const char *path, const posix_spawn_file_actions_t *actions,
		const posix_spawnattr_t *attr, char *const argv[], char *const envp[])
{
	int (*real)(pid_t *, const char *, const posix_spawn_file_actions_t *,
		    const posix_spawnattr_t *, char *const[], char *const[]) = REAL(posix_spawn);
	STICKY_ENV(newenv, envp);

	return real ? real(pid, path, actions, attr, argv, newenv) : ENOSYS;
}

int posix_spawnp(pid_t *pid, const char *file, const posix_spawn_file_actions_t *actions,
		 const posix_spawnattr_t *attr, char *const argv[], char *const envp[])
{
	int (*real)(pid_t *, const char *, const posix_spawn_file_actions_t *,
		    const posix_spawnattr_t *, char *const[], char *const[]) = REAL(posix_spawnp);
	STICKY_ENV(newenv, envp);

	return real ? real(pid, file, actions, attr, argv, newenv) : ENOSYS;
}

/* The execl family: argv from the variable arguments, on the stack. */
#define COLLECT_ARGS(argv, first, ap_last)                                         \
	size_t argv##_n = 1;                                                       \
	va_list argv##_ap;                                                         \
	va_start(argv##_ap, ap_last);                                              \
	while (va_arg(argv##_ap, char *))                                          \
		argv##_n++;                                                        \
	va_end(argv##_ap);                                                         \
	char *argv[argv##_n + 1];                                                  \
	argv[0] = (char *)(first);                                                 \
	va_start(argv##_ap, ap_last);                                              \
	for (size_t i_ = 1; i_ <= argv##_n; i_++)                                  \
		argv[i_] = va_arg(argv##_ap, char *)

int execl(const char *path, const char *arg, ...)
{
	COLLECT_ARGS(argv, arg, arg);
	va_end(argv_ap);
	return omx_execve(path, argv, environ);
}

int execlp(const char *file, const char *arg, ...)
{
	COLLECT_ARGS(argv, arg, arg);
	va_end(argv_ap);
	return omx_execvpe(file, argv, environ);
}

int execle(const char *path, const char *arg, ...)
{
	char *const *envp;

	COLLECT_ARGS(argv, arg, arg);
	envp = va_arg(argv_ap, char *const *);
	va_end(argv_ap);
	return omx_execve(path, argv, envp);
}
