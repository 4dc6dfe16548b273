/* Interposers for the exec family, posix_spawn, system() and popen(): the
 * library keeps itself loaded in every program the process runs. Postfix
 * truncates its environment before starting master and Exim empties it, so what
 * is carried over (the LD_PRELOAD entry, ONIONMX_CONF) comes from the library
 * itself, not from the environment. The exec hooks run on the stack and call
 * nothing but what is async-signal-safe (the real functions were bound at
 * start-up, see real.c): an exec may happen in a vfork child. */
#include <errno.h>
#include <pthread.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "layout.h"
#include "real.h"
#include "state.h"

extern char **environ;


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
 * ONIONMX_CONF. Entries ENVP already has are kept, in order (the same pointers,
 * so a caller can tell whether anything changed). A library that started in
 * secure mode (a setuid program) passes on none of the ONIONMX_* variables it was
 * given: they are the caller's, and what it runs may be root's and not in secure
 * mode (after setuid(0)); that program then reads the built-in config. */
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
		if (omx_started_secure && strncmp(envp[i], "ONIONMX_", 8) == 0)
			continue;
		if (strncmp(envp[i], "ONIONMX_CONF=", 13) == 0 && omx_conf_env[0]) {
			if (have_conf)
				continue;
			have_conf = 1;
			out[n++] = strcmp(envp[i], omx_conf_env) == 0 ? envp[i] : (char *)omx_conf_env;
			continue;
		}
		out[n++] = envp[i];
	}
	if (!have_preload) {
		snprintf(preload, preload_size, "LD_PRELOAD=%s", omx_self_preload);
		out[n++] = preload;
	}
	if (!have_conf && omx_conf_env[0])
		out[n++] = (char *)omx_conf_env;
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
	omx_ready(); /* a missing real function is an ENOSYS stub (real.c) */
	STICKY_ENV(newenv, envp);
	return omx_real.execve(path, argv, newenv);
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
	omx_ready();
	STICKY_ENV(newenv, envp);
	return omx_real.execvpe(file, argv, newenv);
}

extern __typeof(execvpe) omx_execvpe __attribute__((alias("execvpe"), copy(execvpe), visibility("hidden")));

int execvp(const char *file, char *const argv[])
{
	return omx_execvpe(file, argv, environ);
}

int fexecve(int fd, char *const argv[], char *const envp[])
{
	omx_ready();
	STICKY_ENV(newenv, envp);
	return omx_real.fexecve(fd, argv, newenv);
}

int execveat(int dirfd, const char *path, char *const argv[], char *const envp[], int flags)
{
	omx_ready();
	STICKY_ENV(newenv, envp);
	return omx_real.execveat(dirfd, path, argv, newenv, flags);
}

/* posix_spawn returns its error; errno is set too, as in the other hooks. */
int posix_spawn(pid_t *pid, const char *path, const posix_spawn_file_actions_t *actions,
		const posix_spawnattr_t *attr, char *const argv[], char *const envp[])
{
	omx_ready();
	STICKY_ENV(newenv, envp);
	return omx_real.posix_spawn(pid, path, actions, attr, argv, newenv);
}

int posix_spawnp(pid_t *pid, const char *file, const posix_spawn_file_actions_t *actions,
		 const posix_spawnattr_t *attr, char *const argv[], char *const envp[])
{
	omx_ready();
	STICKY_ENV(newenv, envp);
	return omx_real.posix_spawnp(pid, file, actions, attr, argv, newenv);
}

/* system() and popen() start their shell through glibc's internal posix_spawn,
 * with environ, which no exec hook sees: after clearenv() their child would run
 * without the library. Reimplementing them would lose what only glibc can do
 * (system()'s shared SIGINT/SIGQUIT handling across threads, popen()'s list of
 * streams to close in its children), so the real ones are called, with environ
 * pointing for the duration at a copy that keeps the library (sticky_env), and
 * put back afterwards.
 *
 * Thread safety. The copy is swapped in and out with one pointer store under
 * env_lock; a concurrent system()/popen() that finds the copy in place shares it
 * (its users count) instead of building another, so nobody puts the old
 * environment back while another call may still be spawning with it. A thread
 * reading environ meanwhile (getenv) sees either array, each whole and
 * NULL-terminated. The LD_PRELOAD entries built are never freed (one per
 * distinct value, env_strings): what getenv() returned, or what a setenv()
 * copied into a new environ, stays valid. The arrays are kept on env_kept and
 * reused when the same environment comes again; only the oldest unused ones
 * beyond ENV_KEPT_MAX are freed. A thread changing the environment meanwhile
 * (setenv) races with system() itself, which POSIX already forbids; if it
 * replaced environ, that is left as it is. Nothing is swapped when environ
 * already carries what sticky_env would add: then these hooks only call the
 * real function. */
struct kept_str {
	struct kept_str *next;
	char s[];
};

struct kept_env {
	struct kept_env *next;
	unsigned users; /* calls running with this copy */
	char *vec[];    /* the copy, NULL-terminated */
};

#define ENV_KEPT_MAX 8

static pthread_mutex_t env_lock = PTHREAD_MUTEX_INITIALIZER;
static struct kept_str *env_strings; /* LD_PRELOAD entries built; never freed */
static struct kept_env *env_kept;    /* the copies built, newest first */
static struct kept_env *env_published; /* the copy in environ, or NULL */
static char **env_saved;             /* what it replaced */

/* The kept string equal to S, made if there is none yet; NULL if out of memory. */
static char *intern(const char *s)
{
	struct kept_str *k;
	size_t n = strlen(s) + 1;

	for (k = env_strings; k; k = k->next)
		if (strcmp(k->s, s) == 0)
			return k->s;
	k = malloc(sizeof(*k) + n);
	if (!k)
		return NULL;
	memcpy(k->s, s, n);
	k->next = env_strings;
	env_strings = k;
	return k->s;
}

/* Whether two environments are the same array contents. */
static int same_env(char **a, char **b)
{
	size_t i;

	if (!a || !b) /* clearenv() leaves environ NULL */
		return a == b;
	for (i = 0; a[i] && b[i]; i++)
		if (a[i] != b[i])
			return 0;
	return a[i] == b[i];
}

/* Replaces *EP by an equal copy built before, if there is one, or else keeps it,
 * freeing the oldest copy no call uses beyond ENV_KEPT_MAX. */
static void keep_env(struct kept_env **ep)
{
	struct kept_env **k, *e = *ep;
	unsigned n = 0;

	for (k = &env_kept; *k; k = &(*k)->next)
		if (same_env(e->vec, (*k)->vec)) {
			free(e);
			*ep = *k;
			return;
		}
	e->next = env_kept;
	env_kept = e;
	for (k = &env_kept; *k;) {
		struct kept_env *old = *k;
		if (++n > ENV_KEPT_MAX && old->users == 0 && old != env_published) {
			*k = old->next;
			free(old);
			break;
		}
		k = &old->next;
	}
}

/* Puts in environ a copy that keeps the library, for one system()/popen().
 * Returns the copy to give back to env_leave(), NULL if environ needed none,
 * or (struct kept_env *)-1 if none could be made (out of memory). */
static struct kept_env *env_enter(void)
{
	struct kept_env *e = NULL;
	char **cur;

	pthread_mutex_lock(&env_lock);
	cur = environ;
	if (env_published && cur == env_published->vec) {
		e = env_published;
		e->users++;
		goto out;
	}
	{
		size_t count = env_count(cur), psize = preload_size(cur);
		char preload[psize];

		e = malloc(sizeof(*e) + (count + 3) * sizeof(char *));
		if (!e) {
			e = (struct kept_env *)-1;
			goto out;
		}
		e->users = 0;
		sticky_env(cur, e->vec, preload, psize);
		for (size_t i = 0; e->vec[i]; i++)
			if (e->vec[i] == preload && !(e->vec[i] = intern(preload))) {
				free(e);
				e = (struct kept_env *)-1;
				goto out;
			}
	}
	if (same_env(e->vec, cur)) {
		free(e);
		e = NULL; /* environ already keeps the library */
		goto out;
	}
	keep_env(&e);
	e->users++;
	env_saved = cur;
	env_published = e;
	/* Release: a reader that finds the copy finds it filled in (readers
	 * load environ plainly, by data dependency, as glibc's setenv expects). */
	__atomic_store_n(&environ, e->vec, __ATOMIC_RELEASE);
out:
	pthread_mutex_unlock(&env_lock);
	return e;
}

/* Ends one call begun by env_enter(); the last one out puts the program's
 * environment back, unless the program replaced environ meanwhile. */
static void env_leave(void *arg)
{
	struct kept_env *e = arg;
	int saved = errno;

	if (!e)
		return;
	pthread_mutex_lock(&env_lock);
	if (--e->users == 0 && e == env_published) {
		if (environ == e->vec)
			__atomic_store_n(&environ, env_saved, __ATOMIC_RELEASE);
		env_published = NULL;
	}
	pthread_mutex_unlock(&env_lock);
	errno = saved;
}

/* fork() in another thread while env_lock is held would leave the child's lock
 * taken: hold it across fork, and let the child start with no call running. */
static void env_prepare(void)
{
	pthread_mutex_lock(&env_lock);
}

static void env_parent(void)
{
	pthread_mutex_unlock(&env_lock);
}

static void env_child(void)
{
	/* The calls of other threads are not in the child: their copies are
	 * unused there (environ stays on the copy, if it was, for good). */
	for (struct kept_env *k = env_kept; k; k = k->next)
		k->users = 0;
	env_published = NULL;
	pthread_mutex_unlock(&env_lock);
}

__attribute__((constructor)) static void env_atfork(void)
{
	omx_atfork(env_prepare, env_parent, env_child);
}

int system(const char *command)
{
	struct kept_env *token;
	int rc;

	omx_ready();
	token = env_enter();
	if (token == (struct kept_env *)-1)
		return -1; /* errno ENOMEM from malloc */
	/* system() is a cancellation point: put environ back if cancelled. */
	pthread_cleanup_push(env_leave, token);
	rc = omx_real.system(command);
	pthread_cleanup_pop(1);
	return rc;
}

FILE *popen(const char *command, const char *mode)
{
	struct kept_env *token;
	FILE *f;

	omx_ready();
	token = env_enter();
	if (token == (struct kept_env *)-1)
		return NULL;
	pthread_cleanup_push(env_leave, token);
	f = omx_real.popen(command, mode);
	pthread_cleanup_pop(1);
	return f;
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
