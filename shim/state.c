/* Process-wide state: configuration, the current map and its replacement. */
#include "state.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "hooks.h"
#include "log.h"
#include "real.h"

struct omx_config omx_cfg;
int omx_config_ok;
int omx_active = 1;
int omx_mta;
char omx_self_preload[PATH_MAX];
char omx_conf_env[PATH_MAX + sizeof("ONIONMX_CONF=")];
/* 240.0.0.0/4 until the map says otherwise, so no address is ever taken for
 * synthetic by a hook that runs before the constructor. */
uint32_t omx_range_net = 0xf0000000u, omx_range_mask = 0xf0000000u;
struct omx_cache *omx_discovery;
int omx_discovery_broken;
uint32_t omx_discover_net = 0xf0000000u, omx_discover_mask = 0xf0000000u;
uint32_t omx_old_net[OMX_MAP_MAX_OLD_RANGES] = { 0xf0000000u, 0xf0000000u, 0xf0000000u, 0xf0000000u };
uint32_t omx_old_mask[OMX_MAP_MAX_OLD_RANGES] = { 0xf0000000u, 0xf0000000u, 0xf0000000u, 0xf0000000u };
static const struct omx_map *damage_reported; /* atomic: the map last said to be damaged */
static struct omx_cache discovery_cache;
static int discovery_cache_failed;      /* not even a private cache could be made */
static int initialized;                 /* atomic */

static int secure_mode;
static struct omx_map *current_map;     /* atomic pointer */
static unsigned map_readers;            /* atomic: threads between acquire and release */
static long next_check;                 /* atomic: CLOCK_MONOTONIC_COARSE second */
static pthread_mutex_t reload_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t init_once = PTHREAD_ONCE_INIT;

/* Where the map lives: a directory handle opened before any chroot, so a rebuilt
 * map can be opened by name from inside one. */
static int map_dirfd = -1;
static struct stat map_dir_stat;
static char map_dir[PATH_MAX];
static const char *map_base;
static int map_inherited;               /* the current map was loaded before a fork() */
static ino_t failed_ino;                /* last map file that failed to load */
static struct timespec failed_mtime;

static void set_range(uint32_t net, uint32_t mask)
{
	int overlap;

	__atomic_store_n(&omx_range_net, net, __ATOMIC_RELAXED);
	__atomic_store_n(&omx_range_mask, mask, __ATOMIC_RELAXED);
	if (!omx_discovery) {
		__atomic_store_n(&omx_discover_net, net, __ATOMIC_RELAXED);
		__atomic_store_n(&omx_discover_mask, mask, __ATOMIC_RELAXED);
		return;
	}
	overlap = omx_ranges_overlap(net, mask, omx_discover_net, omx_discover_mask);
	if (overlap && !__atomic_load_n(&omx_discovery_broken, __ATOMIC_RELAXED))
		omx_log(LOG_ERR, "the map's synthetic range overlaps discover_range %s: deferring MX lookups that discovery would answer (rebuild the map with onionmx-map -r, or change discover_range)",
			omx_cfg.discover_range);
	__atomic_store_n(&omx_discovery_broken, overlap || discovery_cache_failed, __ATOMIC_RELAXED);
}

/* Opens the discovery cache (before any chroot or privilege drop, like the
 * map). A process that cannot open the shared file keeps a private cache and
 * says so: lookups still work, but another process cannot find the addresses
 * it hands out (a connect() from there is refused, and the MTA defers). */
static void open_discovery(void)
{
	char err[PATH_MAX + 256];
	uint32_t net = 0, mask = 0;

	if (!omx_cfg.discover)
		return;
	/* The config parser checked the range; a failure here still fails closed. */
	if (omx_parse_range(omx_cfg.discover_range, &net, &mask) != 0)
		discovery_cache_failed = 1;
	else if (omx_cache_open(&discovery_cache, omx_cfg.cache_path, net, mask, secure_mode, err,
			   sizeof(err)) != 0) {
		/* An ordinary user's program (sendmail, postdrop, swaks) cannot write
		 * root's cache and delivers nothing itself as a rule: no warning in
		 * the mail log at every local submission. */
		int quiet = errno == EACCES && geteuid() != 0;

		omx_log(quiet ? LOG_DEBUG : LOG_WARNING, "%s; using a cache private to this process",
			err);
		if (omx_cache_open_anonymous(&discovery_cache, net, mask, err, sizeof(err)) != 0) {
			omx_log(LOG_ERR, "%s: deferring MX lookups that discovery would answer", err);
			discovery_cache_failed = 1;
		}
	}
	if (mask) {
		__atomic_store_n(&omx_discover_net, net, __ATOMIC_RELAXED);
		__atomic_store_n(&omx_discover_mask, mask, __ATOMIC_RELAXED);
	}
	omx_discovery = &discovery_cache;
	set_range(omx_range_net, omx_range_mask);
}

/* Opens the directory of the map, or re-opens it if the handle we had was closed
 * or replaced by the host program. Returns 0 when map_dirfd is usable. */
static int open_map_dir(void)
{
	struct stat st;

	if (map_dirfd >= 0 && fstat(map_dirfd, &st) == 0 && st.st_dev == map_dir_stat.st_dev &&
	    st.st_ino == map_dir_stat.st_ino)
		return 0;
	map_dirfd = open(map_dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (map_dirfd < 0 || fstat(map_dirfd, &map_dir_stat) != 0) {
		map_dirfd = -1;
		return -1;
	}
	return 0;
}

/* Opens the map file; ST receives its identity. Returns a new map or NULL with ERR. */
static struct omx_map *load_map(char *err, size_t errlen)
{
	struct omx_map *map;
	struct stat st;
	int fd;

	if (open_map_dir() != 0) {
		snprintf(err, errlen, "%s: cannot open directory: %s", map_dir, strerror(errno));
		return NULL;
	}
	fd = openat(map_dirfd, map_base, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		snprintf(err, errlen, "%s: %s", omx_cfg.map_path, strerror(errno));
		return NULL;
	}
	if (secure_mode && (fstat(fd, &st) != 0 || st.st_uid != 0 ||
			    (st.st_mode & (S_IWGRP | S_IWOTH)))) {
		snprintf(err, errlen, "%s: refused in secure mode: not owned by root or writable by others",
			 omx_cfg.map_path);
		close(fd);
		return NULL;
	}
	map = malloc(sizeof(*map));
	if (!map) {
		snprintf(err, errlen, "out of memory");
		close(fd);
		return NULL;
	}
	if (omx_map_open_fd(map, fd, omx_cfg.map_path, err, errlen) != 0) {
		free(map);
		map = NULL;
	}
	close(fd);
	return map;
}

/* Connects to the previous ranges NEW lists stay refused (omx_is_synthetic). */
static void set_old_ranges(const struct omx_map *new)
{
	for (unsigned i = 0; i < OMX_MAP_MAX_OLD_RANGES; i++) {
		int used = i < new->nold;

		__atomic_store_n(&omx_old_net[i], used ? new->old[i].net : new->net, __ATOMIC_RELAXED);
		__atomic_store_n(&omx_old_mask[i], used ? new->old[i].mask : new->mask, __ATOMIC_RELAXED);
	}
}

/* Publishes NEW as the current map and frees the old one once no thread can be
 * reading it. A reader counted after the exchange can only see NEW, so one
 * moment with no readers is enough; if that moment does not come soon, the old
 * mapping is left in place rather than risk pulling it from under a reader. */
static void publish_map(struct omx_map *new)
{
	struct omx_map *old = __atomic_exchange_n(&current_map, new, __ATOMIC_SEQ_CST);

	set_range(new->net, new->mask);
	set_old_ranges(new);
	if (!old)
		return;
	for (int i = 0; i < 1000; i++) {
		if (__atomic_load_n(&map_readers, __ATOMIC_SEQ_CST) == 0) {
			omx_map_close(old);
			free(old);
			return;
		}
		sched_yield();
	}
	omx_log(LOG_DEBUG, "old map still in use: left mapped");
}

/* Loads the map again if the file under its name is not the one we have. */
static void check_map(void)
{
	struct omx_map *cur = __atomic_load_n(&current_map, __ATOMIC_SEQ_CST);
	struct omx_map *fresh;
	struct stat st;
	char err[512];

	if (map_base == NULL || pthread_mutex_trylock(&reload_lock) != 0)
		return;
	if (open_map_dir() != 0 || fstatat(map_dirfd, map_base, &st, 0) != 0)
		goto out; /* keep what we have: a missing file is mid-rebuild or a mistake */
	/* The same file changed under our mapping (written in place, not renamed):
	 * what we read from it can no longer be trusted. */
	if (cur && st.st_ino == cur->ino && st.st_dev == cur->dev &&
	    (st.st_size != cur->size || st.st_mtim.tv_sec != cur->mtime.tv_sec ||
	     st.st_mtim.tv_nsec != cur->mtime.tv_nsec))
		__atomic_store_n(&cur->damaged, 1, __ATOMIC_RELAXED);
	if (cur && st.st_ino == cur->ino && st.st_dev == cur->dev && st.st_size == cur->size &&
	    st.st_mtim.tv_sec == cur->mtime.tv_sec && st.st_mtim.tv_nsec == cur->mtime.tv_nsec)
		goto out;
	if (st.st_ino == failed_ino && st.st_mtim.tv_sec == failed_mtime.tv_sec &&
	    st.st_mtim.tv_nsec == failed_mtime.tv_nsec)
		goto out; /* already reported */
	fresh = load_map(err, sizeof(err));
	if (!fresh) {
		failed_ino = st.st_ino;
		failed_mtime = st.st_mtim;
		omx_log(LOG_ERR, "%s; %s", err, cur ? "keeping the previous map" : "still no map");
		goto out;
	}
	publish_map(fresh);
	/* A child that inherited the old map across fork() reloads it too; only the
	 * first process to notice says so at info level. */
	omx_log(map_inherited ? LOG_DEBUG : LOG_INFO, "loaded rebuilt map %s", omx_cfg.map_path);
	map_inherited = 0;
out:
	pthread_mutex_unlock(&reload_lock);
}

const struct omx_map *omx_map_acquire(void)
{
	const struct omx_map *map;
	struct timespec now;
	long due;

	if (__builtin_expect(!__atomic_load_n(&initialized, __ATOMIC_ACQUIRE), 0))
		omx_init();
	due = __atomic_load_n(&next_check, __ATOMIC_RELAXED);

	/* CLOCK_MONOTONIC_COARSE is answered by the vDSO: no system call. */
	if (omx_config_ok && clock_gettime(CLOCK_MONOTONIC_COARSE, &now) == 0 &&
	    now.tv_sec >= due &&
	    __atomic_compare_exchange_n(&next_check, &due, (long)now.tv_sec + 1, 0,
					__ATOMIC_RELAXED, __ATOMIC_RELAXED))
		check_map();
	__atomic_add_fetch(&map_readers, 1, __ATOMIC_SEQ_CST);
	map = __atomic_load_n(&current_map, __ATOMIC_SEQ_CST);
	if (__builtin_expect(map && omx_map_damaged(map), 0)) {
		if (__atomic_exchange_n(&damage_reported, map, __ATOMIC_RELAXED) != map)
			omx_log(LOG_ERR, "%s: damaged, or written in place instead of renamed: refusing SMTP connections and deferring MX lookups until a good map replaces it (onionmx-map -q names the damage)",
				omx_cfg.map_path);
		return NULL;
	}
	return map;
}

void omx_map_release(void)
{
	__atomic_sub_fetch(&map_readers, 1, __ATOMIC_SEQ_CST);
}

/* Before fork(): refresh the map (at most once a second, as on lookups), so a
 * server that forks a child per connection hands it the current map instead of
 * every child reloading it. */
static void before_fork(void)
{
	if (omx_config_ok && omx_active) {
		omx_map_acquire();
		omx_map_release();
	}
}

/* In a child of fork() only the forking thread exists: readers counted by other
 * threads of the parent will never release, and the lock may be held by one. */
static void after_fork_child(void)
{
	__atomic_store_n(&map_readers, 0, __ATOMIC_SEQ_CST);
	pthread_mutex_init(&reload_lock, NULL);
	omx_socket_after_fork();
	map_inherited = 1;
}

/* Directories ld.so loads a bare LD_PRELOAD name from in secure mode (setuid
 * programs such as Exim's re-executed exim4). */
static const char *const trusted_dirs[] = {
	"/usr/lib/x86_64-linux-gnu", "/lib/x86_64-linux-gnu", "/usr/lib64", "/lib64",
	"/usr/lib", "/lib",
};

/* Works out omx_self_preload from where this library was loaded from. */
static void find_self(void)
{
	Dl_info info;
	char path[PATH_MAX];
	const char *base;

	if (!dladdr((void *)&find_self, &info) || !info.dli_fname) {
		snprintf(omx_self_preload, PATH_MAX, "libonionmx.so");
		return;
	}
	/* ld.so has the name as preloaded: absolute is good as it is (and saves a
	 * readlink per path component at every start); a relative one would not
	 * survive a change of directory. */
	if (info.dli_fname[0] == '/')
		snprintf(path, sizeof(path), "%s", info.dli_fname);
	else if (!realpath(info.dli_fname, path))
		snprintf(path, sizeof(path), "%s", info.dli_fname);
	base = strrchr(path, '/') + 1;
	for (size_t i = 0; i < sizeof(trusted_dirs) / sizeof(trusted_dirs[0]); i++) {
		size_t n = strlen(trusted_dirs[i]);
		if (strncmp(path, trusted_dirs[i], n) == 0 && path + n + 1 == base) {
			snprintf(omx_self_preload, PATH_MAX, "%s", base);
			return;
		}
	}
#if defined(__SANITIZE_ADDRESS__)
	/* A sanitizer build (make check SAN=1) only loads after the ASan runtime:
	 * carry the entries that came before ours along with it. */
	{
		const char *env = getenv("LD_PRELOAD"), *ours = env ? strstr(env, base) : NULL;
		while (ours && ours > env && ours[-1] != ' ' && ours[-1] != ':' && ours[-1] != '/')
			ours = strstr(ours + 1, base);
		if (ours) {
			while (ours > env && ours[-1] != ' ' && ours[-1] != ':')
				ours--;
			size_t n = (size_t)(ours - env);
			if (n + strlen(path) < PATH_MAX) {
				memcpy(omx_self_preload, env, n);
				strcpy(omx_self_preload + n, path);
				return;
			}
		}
	}
#endif
	snprintf(omx_self_preload, PATH_MAX, "%s", path);
}

/* Was the library named in this process's LD_PRELOAD (not /etc/ld.so.preload)?
 * Only then may a broken configuration be reported on the program's stderr:
 * loaded into every program on the system, it must not print in all of them. */
static int preloaded_by_environment(void)
{
	const char *env = getenv("LD_PRELOAD");

	return env && strstr(env, "libonionmx");
}

static void init_once_body(void)
{
	const char *path = OMX_DEFAULT_CONF;
	char err[PATH_MAX + 256];
	struct omx_map *map;
	char *slash;

	char exe[PATH_MAX];
	ssize_t n;

	omx_bind_real();
	pthread_atfork(before_fork, NULL, after_fork_child);
	secure_mode = getauxval(AT_SECURE) != 0;
	if (!secure_mode && getenv("ONIONMX_CONF") && *getenv("ONIONMX_CONF")) {
		path = getenv("ONIONMX_CONF");
		snprintf(omx_conf_env, sizeof(omx_conf_env), "ONIONMX_CONF=%s", path);
	}
	find_self();
	omx_mta = omx_is_mta_program((const char *)getauxval(AT_EXECFN));

	omx_config_defaults(&omx_cfg);
	omx_parse_range(OMX_DEFAULT_RANGE, &omx_range_net, &omx_range_mask);
	if (omx_config_load(&omx_cfg, path, secure_mode, err, sizeof(err)) != 0) {
		/* Unknown which programs are ours: fail closed everywhere. */
		if (preloaded_by_environment())
			omx_log_alert("%s; refusing SMTP connections (ports 25, 465, 587) and deferring MX lookups",
				      err);
		else
			omx_log(LOG_ERR, "%s; refusing SMTP connections (ports 25, 465, 587) and deferring MX lookups",
				err);
		return;
	}
	omx_config_ok = 1;
	omx_log_setup(omx_cfg.log == OMX_LOG_STDERR, omx_cfg.log_level);

	exe[0] = '\0';
	if (omx_cfg.programs[0] && (n = readlink("/proc/self/exe", exe, sizeof(exe) - 1)) > 0)
		exe[n] = '\0';
	if (!omx_config_program_matches(&omx_cfg, exe) &&
	    (secure_mode || !getenv("ONIONMX_ACTIVE") || strcmp(getenv("ONIONMX_ACTIVE"), "1") != 0)) {
		omx_active = 0; /* not one of the configured programs: pass everything through */
		return;
	}
	if (omx_cfg.programs[0] ||
	    (!secure_mode && getenv("ONIONMX_ACTIVE") && strcmp(getenv("ONIONMX_ACTIVE"), "1") == 0))
		omx_mta = 1; /* a configured program, or one run by the onionmx wrapper */

	open_discovery();
	snprintf(map_dir, sizeof(map_dir), "%s", omx_cfg.map_path);
	slash = strrchr(map_dir, '/');
	map_base = omx_cfg.map_path + (slash - map_dir) + 1;
	if (slash == map_dir)
		slash[1] = '\0';
	else
		*slash = '\0';
	map = load_map(err, sizeof(err));
	if (!map) {
		omx_log_alert("%s; refusing SMTP connections (ports 25, 465, 587) and deferring MX lookups",
			      err);
		return;
	}
	publish_map(map);
}

/* Marks the state ready whether or not the configuration was usable. */
static void init_everything(void)
{
	init_once_body();
	__atomic_store_n(&initialized, 1, __ATOMIC_RELEASE);
}

void omx_init(void)
{
	int saved = errno;

	pthread_once(&init_once, init_everything);
	errno = saved;
}

int omx_enabled(void)
{
	if (__builtin_expect(!__atomic_load_n(&initialized, __ATOMIC_ACQUIRE), 0))
		omx_init();
	return omx_active;
}

__attribute__((constructor)) static void omx_constructor(void)
{
	omx_init();
}
