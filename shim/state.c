/* Process-wide state: configuration, the current map and its replacement. */
#include "state.h"
#include "layout.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <link.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <time.h>
#include <unistd.h>
#include <linux/magic.h>

#include "health.h"
#include "libdir.h"
#include "log.h"
#include "once.h"
#include "real.h"

/* Last among what a start writes (shim/libonionmx.ld): its strings[], of
 * which a start writes a few dozen bytes, end it. */
struct omx_config omx_cfg __attribute__((section(".omx_warm")));
int omx_config_ok;
int omx_active = 1;
int omx_mta;
/* Kept among omx_cfg's strings (read_config), next to the config's own texts. */
const char *omx_conf_env = "";
const char *omx_self_preload = "";
int omx_started_secure;
/* 240.0.0.0/4 until the map says otherwise, so no address is ever taken for
 * synthetic by a hook that runs before the constructor. */
uint32_t omx_range_net = 0xf0000000u, omx_range_mask = 0xf0000000u;
struct omx_cache *omx_discovery;
struct omx_health *omx_tor_health;
int omx_discovery_broken;
uint32_t omx_discover_net = 0xf0000000u, omx_discover_mask = 0xf0000000u;
uint32_t omx_old_net[OMX_MAP_MAX_OLD_RANGES] = { 0xf0000000u, 0xf0000000u, 0xf0000000u, 0xf0000000u };
uint32_t omx_old_mask[OMX_MAP_MAX_OLD_RANGES] = { 0xf0000000u, 0xf0000000u, 0xf0000000u, 0xf0000000u };
static const struct omx_map *damage_reported; /* atomic: the map last said to be damaged */
static struct omx_cache discovery_cache;
static int discovery_cache_failed;      /* not even a private cache could be made */
static int init_state;                  /* omx_once() */
static int init_runs;                   /* 2 and more: run again in a fork() child (once.h) */

static int secure_mode;
static struct omx_map *current_map;     /* atomic pointer */
static unsigned map_readers;            /* atomic: threads between acquire and release */
static long next_check;                 /* atomic: CLOCK_MONOTONIC_COARSE second */
static pthread_mutex_t reload_lock = PTHREAD_MUTEX_INITIALIZER;

/* The map is opened by its path, and no handle on its directory is kept: a
 * chrooted process (Postfix's smtp) must hold nothing that reaches outside its
 * chroot (openat() on a directory opened before the chroot reads any file of
 * the host). What is kept is the current map file's own descriptor, a regular
 * file (openat() and fchdir() refuse it): where the path no longer leads to the
 * map (chrooted), its link count still shows that onionmx-map has replaced it
 * (rename() over it drops st_nlink to 0), and the old map then answers nothing. */
static const char *map_path;            /* NULL until the map is configured */
static int map_fd = -1;                 /* the current map's file */
/* Whether its filesystem shows a replacement in st_nlink: 1, 0, or -1 not
 * asked yet (only a process whose path no longer leads to the map needs to
 * know: asked then, with the same answer, and no fstatfs at every start). */
static int map_nlink_trusted = -1;
/* The map loaded at start-up lives here rather than in malloc'd memory: a
 * process's first malloc costs system calls (glibc seeds its heap: getrandom,
 * brk), which a program that allocates nothing would pay for the library. */
static struct omx_map first_map;
static dev_t root_dev;                  /* "/" when the map was first opened: a chroot */
static ino_t root_ino;                  /* since then changes it */
static int map_stale;                   /* atomic: the map may be outdated and cannot be reloaded */
static int map_inherited;               /* the current map was loaded before a fork() */
static ino_t failed_ino;                /* last map file that failed to load */
static struct timespec failed_mtime;

/* The start-up's error text (read_config, open_files and what they call, in
 * turn, under omx_once): static and laid out with the cold tables, so that it
 * costs a page only when written; on the stack it made the constructor's
 * frames deeper by pages, each a page fault at every start (the stack-clash
 * probes touch every page of a frame). */
static char init_err[PATH_MAX + 256] __attribute__((section(".omx_cold")));

OMX_STARTUP
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
OMX_STARTUP
static void open_discovery(void)
{
	uint32_t net = 0, mask = 0;

	if (!omx_cfg.discover)
		return;
	/* The config parser checked the range; a failure here still fails closed. */
	if (omx_parse_range(omx_cfg.discover_range, &net, &mask) != 0)
		discovery_cache_failed = 1;
	else if (omx_cache_open(&discovery_cache, omx_cfg.cache_path, net, mask, secure_mode, init_err,
			   sizeof(init_err)) != 0) {
		/* An ordinary user's program (sendmail, postdrop, swaks) cannot write
		 * root's cache and delivers nothing itself as a rule: no warning in
		 * the mail log at every local submission. */
		int quiet = errno == EACCES && geteuid() != 0;

		omx_log(quiet ? LOG_DEBUG : LOG_WARNING, "%s; using a cache private to this process",
			init_err);
		if (omx_cache_open_anonymous(&discovery_cache, net, mask, init_err, sizeof(init_err)) != 0) {
			omx_log(LOG_ERR, "%s: deferring MX lookups that discovery would answer", init_err);
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

/* With several Tor clients: the shared file saying which is down (before any
 * chroot or privilege drop, like the cache); else a table private to this
 * process and its children, and failing that none (every Tor is tried). */
OMX_STARTUP
static void open_tor_health(void)
{
	static struct omx_health health;

	if (omx_cfg.ntors < 2)
		return;
	if (omx_health_open(&health, &omx_cfg, secure_mode, init_err, sizeof(init_err)) != 0) {
		omx_log(errno == EACCES && geteuid() != 0 ? LOG_DEBUG : LOG_WARNING,
			"%s; Tor health private to this process", init_err);
		if (omx_health_open_anonymous(&health, &omx_cfg, init_err, sizeof(init_err)) != 0) {
			omx_log(LOG_WARNING, "%s: every Tor is tried at every connection", init_err);
			return;
		}
	}
	omx_tor_health = &health;
}

/* Whether the file open on FD is one whose replacement its link count shows:
 * filesystems measured to drop st_nlink to 0 when rename() replaces an open
 * file. Not overlayfs (a file of a lower layer keeps its count: measured), nor
 * network filesystems (NFS renames an open file aside instead of unlinking it);
 * others unmeasured. */
static int nlink_shows_replacement(int fd)
{
	struct statfs fs;

	if (fstatfs(fd, &fs) != 0)
		return 0;
	switch ((unsigned long)fs.f_type) {
	case EXT4_SUPER_MAGIC: /* also ext2 and ext3 */
	case XFS_SUPER_MAGIC:
	case BTRFS_SUPER_MAGIC:
	case TMPFS_MAGIC:
		return 1;
	default:
		return 0;
	}
}

/* Opens the map file by its path into INTO (NULL: malloc'd). Returns the map,
 * with *FD the descriptor to keep (see map_fd), or NULL with ERR. */
OMX_STARTUP
static struct omx_map *load_map(struct omx_map *into, int *fdp, char *err, size_t errlen)
{
	struct omx_map *map;
	struct stat st;
	int fd;

	fd = open(map_path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		snprintf(err, errlen, "%s: %s", map_path, strerror(errno));
		return NULL;
	}
	if (secure_mode && (fstat(fd, &st) != 0 || !omx_root_only(&st))) {
		snprintf(err, errlen, "%s: refused in secure mode: not owned by root or writable by others",
			 map_path);
		close(fd);
		return NULL;
	}
	map = into ? into : malloc(sizeof(*map));
	if (!map) {
		snprintf(err, errlen, "out of memory");
		close(fd);
		return NULL;
	}
	if (omx_map_open_fd(map, fd, map_path, err, errlen) != 0) {
		if (map != into)
			free(map);
		close(fd);
		return NULL;
	}
	*fdp = fd;
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

/* Whether FD is still the descriptor of MAP's file (the host program may have
 * closed it, and the number may now be one of its own files). */
static int is_map_fd(int fd, const struct omx_map *map, struct stat *st)
{
	return fd >= 0 && map && fstat(fd, st) == 0 && st->st_dev == map->dev &&
	       st->st_ino == map->ino;
}

/* Keeps FD as the descriptor of NEW, the map being published in place of OLD. */
OMX_STARTUP
static void keep_map_fd(int fd, const struct omx_map *old)
{
	struct stat st;

	if (is_map_fd(map_fd, old, &st))
		close(map_fd);
	map_fd = fd;
	map_nlink_trusted = -1;
	__atomic_store_n(&map_stale, 0, __ATOMIC_SEQ_CST);
}

/* nlink_shows_replacement() of the kept map descriptor, asked once per descriptor. */
static int map_nlink_shows_replacement(void)
{
	if (map_nlink_trusted < 0)
		map_nlink_trusted = nlink_shows_replacement(map_fd);
	return map_nlink_trusted;
}

/* Whether this process has changed its root directory since the map was first
 * opened: its path then names nothing, or another file (a copy inside the
 * chroot, which nothing keeps current), never the map onionmx-map replaces. */
static int chrooted(void)
{
	struct stat st;

	return stat("/", &st) != 0 || st.st_dev != root_dev || st.st_ino != root_ino;
}

/* The map's path cannot lead to the map (WHY): only the kept descriptor can
 * tell whether CUR is still the map onionmx-map last installed. When it is not,
 * or that cannot be told, nothing is answered from it any more (every MX lookup
 * and onion connection defers): a domain the new map added would otherwise go
 * to DNS and its clearnet MX. A new process (Postfix recycles its smtp
 * processes; "postfix reload" replaces them) opens the new map. */
static void check_unreachable_map(const struct omx_map *cur, const char *why)
{
	struct stat st;
	const char *what;

	if (!cur || __atomic_load_n(&map_stale, __ATOMIC_RELAXED))
		return; /* no map, or already outdated: failing closed */
	if (!is_map_fd(map_fd, cur, &st))
		what = "cannot tell whether it has been replaced (the program closed this library's descriptor of it)";
	else if (!map_nlink_shows_replacement())
		what = "cannot tell whether it has been replaced (its filesystem does not show it)";
	else if (st.st_nlink == 0)
		what = "finds it has been replaced";
	else
		return;
	__atomic_store_n(&map_stale, 1, __ATOMIC_SEQ_CST);
	omx_log(LOG_ERR, "%s: this process %s, and cannot open the map again (%s): deferring every MX lookup until it restarts (Postfix: postfix reload)",
		map_path, what, why);
}

/* Publishes NEW as the current map and frees the old one once no thread can be
 * reading it. A reader counted after the exchange can only see NEW, so one
 * moment with no readers is enough; if that moment does not come soon, the old
 * mapping is left in place rather than risk pulling it from under a reader. */
OMX_STARTUP
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
			if (old != &first_map)
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
	int fd;

	if (map_path == NULL || pthread_mutex_trylock(&reload_lock) != 0)
		return;
	if (chrooted()) {
		check_unreachable_map(cur, "it has chrooted, and keeps no handle outside");
		goto out;
	}
	if (stat(map_path, &st) != 0) {
		check_unreachable_map(cur, strerror(errno));
		goto out;
	}
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
	fresh = load_map(NULL, &fd, err, sizeof(err));
	if (!fresh) {
		failed_ino = st.st_ino;
		failed_mtime = st.st_mtim;
		omx_log(LOG_ERR, "%s; %s", err, cur ? "keeping the previous map" : "still no map");
		goto out;
	}
	keep_map_fd(fd, cur);
	publish_map(fresh);
	/* A child that inherited the old map across fork() reloads it too; only the
	 * first process to notice says so at info level. */
	omx_log(map_inherited ? LOG_DEBUG : LOG_INFO, "loaded rebuilt map %s", map_path);
	map_inherited = 0;
out:
	pthread_mutex_unlock(&reload_lock);
}

const struct omx_map *omx_map_acquire(void)
{
	const struct omx_map *map;
	struct timespec now;
	long due;

	if (__builtin_expect(!omx_once_done(&init_state), 0))
		omx_init();
	due = __atomic_load_n(&next_check, __ATOMIC_RELAXED);

	/* CLOCK_MONOTONIC_COARSE is answered by the vDSO: no system call. */
	if (omx_config_ok && clock_gettime(CLOCK_MONOTONIC_COARSE, &now) == 0 &&
	    now.tv_sec >= due &&
	    __atomic_compare_exchange_n(&next_check, &due, (long)now.tv_sec + 1, 0,
					__ATOMIC_RELAXED, __ATOMIC_RELAXED))
		check_map();
	__atomic_add_fetch(&map_readers, 1, __ATOMIC_SEQ_CST);
	if (__atomic_load_n(&map_stale, __ATOMIC_SEQ_CST))
		return NULL; /* replaced, and the new one out of reach: fail closed */
	map = __atomic_load_n(&current_map, __ATOMIC_SEQ_CST);
	if (__builtin_expect(map && omx_map_damaged(map), 0)) {
		if (__atomic_exchange_n(&damage_reported, map, __ATOMIC_RELAXED) != map)
			omx_log(LOG_ERR, "%s: damaged, or written in place instead of renamed: refusing SMTP connections and deferring MX lookups until a good map replaces it (onionmx-map -q names the damage)",
				omx_cfg.map_path);
		return NULL;
	}
	return map;
}

int omx_map_fd(void)
{
	return map_fd;
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
	omx_once_after_fork(&init_state);
	map_inherited = 1;
}

/* The build's multiarch triplet (x86_64-linux-gnu, aarch64-linux-gnu), from the
 * compiler: see libdir.h for what it is used for. */
#ifndef OMX_MULTIARCH
#define OMX_MULTIARCH ""
#endif

/* Whether ld.so itself searches DIR (LEN bytes) for libraries (RTLD_DI_SERINFO
 * on our own link map: the system directories, after any LD_LIBRARY_PATH or
 * RPATH entries): 1 yes, 0 no, -1 ld.so cannot tell. */
OMX_STARTUP
static int ld_searches(struct link_map *self, const char *dir, size_t len)
{
	union {
		Dl_serinfo si;
		char bytes[4096];
	} buf;
	Dl_serinfo size;

	if (!self || dlinfo(self, RTLD_DI_SERINFOSIZE, &size) != 0 || size.dls_size > sizeof(buf) ||
	    size.dls_cnt == 0)
		return -1;
	buf.si.dls_size = size.dls_size;
	buf.si.dls_cnt = size.dls_cnt;
	if (dlinfo(self, RTLD_DI_SERINFO, &buf.si) != 0)
		return -1;
	for (unsigned i = 0; i < buf.si.dls_cnt; i++) {
		const char *name = buf.si.dls_serpath[i].dls_name;
		if (name && strlen(name) == len && memcmp(name, dir, len) == 0)
			return 1;
	}
	return 0;
}

/* NAME made absolute (realpath), in static storage written only then: or NAME
 * itself if that fails. Not thread-safe: the constructor's alone. */
OMX_STARTUP
static __attribute__((noinline)) const char *absolute_name(const char *name)
{
	static char path[PATH_MAX] __attribute__((section(".omx_cold")));

	return realpath(name, path) ? path : name;
}

/* Sets omx_self_preload to NAME (at most PATH_MAX - 1 bytes of it). */
OMX_STARTUP
static void keep_self(const char *name)
{
	size_t len = strnlen(name, PATH_MAX - 1);
	const char *kept = omx_config_keep(&omx_cfg, name, len);

	omx_self_preload = kept ? kept : "libonionmx.so";
}

/* Works out omx_self_preload from where this library was loaded from: the bare
 * name if a child in secure mode can load it by that name, else the path. */
OMX_STARTUP
static void find_self(void)
{
	Dl_info info;
	struct link_map *self = NULL;
	const char *path, *base;

	if (!dladdr1((void *)&find_self, &info, (void **)&self, RTLD_DL_LINKMAP) || !info.dli_fname) {
		omx_self_preload = "libonionmx.so";
		return;
	}
	/* ld.so has the name as preloaded: absolute is good as it is (and saves a
	 * readlink per path component at every start); a relative one would not
	 * survive a change of directory. No buffer on the stack for it: a large
	 * frame is a page fault at every start (the stack-clash probes touch it). */
	path = info.dli_fname[0] == '/' ? info.dli_fname : absolute_name(info.dli_fname);
	base = strrchr(path, '/');
	if (!base) {
		keep_self(path); /* as ld.so was given it */
		return;
	}
	base++;
	/* A system directory by its name, and (where ld.so can tell) one this
	 * ld.so searches: /usr/lib64 is not one on Debian. */
	if (omx_system_lib_dir(path, (size_t)(base - 1 - path), OMX_MULTIARCH) &&
	    ld_searches(self, path, (size_t)(base - 1 - path)) != 0) {
		keep_self(base);
		return;
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
			char *entry;
			if (n + strlen(path) < PATH_MAX &&
			    (entry = omx_config_reserve(&omx_cfg, n + strlen(path) + 1))) {
				memcpy(entry, env, n);
				strcpy(entry + n, path);
				omx_self_preload = entry;
				return;
			}
		}
	}
#endif
	keep_self(path);
}

/* Was the library named in this process's LD_PRELOAD (not /etc/ld.so.preload)?
 * Only then may a broken configuration be reported on the program's stderr:
 * loaded into every program on the system, it must not print in all of them. */
OMX_STARTUP
static int preloaded_by_environment(void)
{
	const char *env = getenv("LD_PRELOAD");

	return env && strstr(env, "libonionmx");
}

/* Reads the configuration (ONIONMX_CONF outside secure mode); 0, or -1 with
 * the failure logged: the library then fails closed everywhere. */
OMX_STARTUP
static int read_config(void)
{
	const char *path = OMX_DEFAULT_CONF;
	int require_root;

	const char *env = secure_mode ? NULL : getenv("ONIONMX_CONF");

	/* omx_cfg is static storage, still all zero the first time: the
	 * defaults need no memset then (it would write all its pages). */
	if (++init_runs == 1)
		omx_config_set_defaults(&omx_cfg);
	else
		omx_config_defaults(&omx_cfg);
	omx_conf_env = omx_self_preload = "";
	if (env && *env) {
		/* The entry handed on to children, as ONIONMX_CONF says it (up to
		 * PATH_MAX bytes: a longer path opens nothing anyway). */
		size_t len = strnlen(env, PATH_MAX);
		char *entry = omx_config_reserve(&omx_cfg, sizeof("ONIONMX_CONF=") + len);

		path = env;
		if (entry) {
			memcpy(entry, "ONIONMX_CONF=", sizeof("ONIONMX_CONF=") - 1);
			memcpy(entry + sizeof("ONIONMX_CONF=") - 1, env, len);
			entry[sizeof("ONIONMX_CONF=") - 1 + len] = '\0';
			omx_conf_env = entry;
		}
	}
	/* Root given a config by the environment (su -p, sudo's env_keep, a child
	 * of a setuid program that made itself root) reads it only if it is root's
	 * and nobody else can write it; the map and cache such a config names are
	 * then root's own choice. Started as root (AT_EUID, no system call): the
	 * file must be root's even if the euid was given up before this runs
	 * (before main: the stricter answer); else geteuid() tells whether the
	 * process has become root since (a capability to do so, without AT_SECURE). */
	require_root = secure_mode || (omx_conf_env[0] && (getauxval(AT_EUID) == 0 || geteuid() == 0));
	find_self();
	omx_mta = omx_is_mta_program((const char *)getauxval(AT_EXECFN));

	omx_range_net = OMX_DEFAULT_RANGE_NET;
	omx_range_mask = OMX_DEFAULT_RANGE_MASK;
	if (omx_config_load(&omx_cfg, path, require_root, init_err, sizeof(init_err)) != 0) {
		/* Unknown which programs are ours: fail closed everywhere. */
		if (preloaded_by_environment())
			omx_log_alert("%s; refusing SMTP connections (ports 25, 465, 587) and deferring MX lookups",
				      init_err);
		else
			omx_log(LOG_ERR, "%s; refusing SMTP connections (ports 25, 465, 587) and deferring MX lookups",
				init_err);
		return -1;
	}
	omx_config_ok = 1;
	omx_log_setup(omx_cfg.log == OMX_LOG_STDERR, omx_cfg.log_level);
	return 0;
}

/* Whether this program is one "programs" lists (or the onionmx wrapper runs). */
OMX_STARTUP
static int program_is_ours(void)
{
	char exe[PATH_MAX];
	ssize_t n;
	int identified = 1;

	/* The program is told by /proc/self/exe (the file the kernel exec'd,
	 * symbolic links resolved; argv[0] and AT_EXECFN are the caller's words).
	 * When that cannot be read (no /proc, a tmpfs over it, a hardened
	 * container) or is cut short, the library acts as if the program were
	 * listed: going inert could be the MTA passing a mapped domain to DNS,
	 * while acting in another program only routes that program's mail for
	 * mapped domains over Tor, as "programs = all" does. */
	exe[0] = '\0';
	if (omx_cfg.programs[0]) {
		n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
		if (n > 0 && n < (ssize_t)sizeof(exe) - 1) {
			exe[n] = '\0';
		} else {
			identified = 0;
			omx_log(LOG_DEBUG, "programs: cannot tell which program this is (readlink /proc/self/exe: %s): acting as if it were listed",
				n < 0 ? strerror(errno) : "name too long");
		}
	}
	return !identified || omx_config_program_matches(&omx_cfg, exe) ||
	       (!secure_mode && getenv("ONIONMX_ACTIVE") && strcmp(getenv("ONIONMX_ACTIVE"), "1") == 0);
}

/* Opens what an active process works with: the discovery cache, the delivery
 * statistics (before any chroot), the Tors' health file, the map. */
OMX_STARTUP
static void open_files(void)
{
	struct omx_map *map;
	struct stat root;
	int fd;

	open_discovery();
	if (omx_mta && omx_cfg.stats_path[0] &&
	    omx_stats_open(omx_cfg.stats_path, secure_mode, init_err, sizeof(init_err)) != 0)
		omx_log(errno == EACCES || errno == ENOENT ? LOG_DEBUG : LOG_WARNING,
			"%s; no delivery statistics from this process", init_err);
	open_tor_health();
	if (stat("/", &root) == 0) { /* else chrooted() is always true: fail closed */
		root_dev = root.st_dev;
		root_ino = root.st_ino;
	}
	map_path = omx_cfg.map_path;
	map = load_map(__atomic_load_n(&current_map, __ATOMIC_SEQ_CST) ? NULL : &first_map, &fd, init_err,
		       sizeof(init_err));
	if (!map) {
		omx_log_alert("%s; refusing SMTP connections (ports 25, 465, 587) and deferring MX lookups",
			      init_err);
		return;
	}
	keep_map_fd(fd, NULL);
	publish_map(map);
}

OMX_STARTUP
static void init_once_body(void)
{
	omx_bind_real();
	omx_atfork(before_fork, NULL, after_fork_child);
	secure_mode = getauxval(AT_SECURE) != 0;
	omx_started_secure = secure_mode;
	if (read_config() != 0)
		return;
	if (!program_is_ours()) {
		omx_active = 0; /* not one of the configured programs: pass everything through */
		return;
	}
	if (omx_cfg.programs[0] ||
	    (!secure_mode && getenv("ONIONMX_ACTIVE") && strcmp(getenv("ONIONMX_ACTIVE"), "1") == 0))
		omx_mta = 1; /* a configured program, or one run by the onionmx wrapper */
	open_files();
}

/* Initialises once; the state is ready afterwards whether or not the
 * configuration was usable. */
OMX_STARTUP
void omx_init(void)
{
	int saved;

	if (omx_once_done(&init_state))
		return;
	saved = errno;
	omx_once(&init_state, init_once_body);
	errno = saved;
}

OMX_STARTUP
int omx_enabled(void)
{
	if (__builtin_expect(!omx_once_done(&init_state), 0))
		omx_init();
	return omx_active;
}

__attribute__((constructor)) static void omx_constructor(void)
{
	omx_init();
}
