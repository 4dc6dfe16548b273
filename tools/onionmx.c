/* onionmx: run a command with the onionmx library preloaded (like torsocks),
 * after checking that the configuration and the map it names are usable. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "config.h"
#include "cache.h"
#include "map.h"

/* The installed library: $(LIBDIR)/libonionmx.so, the multiarch directory the
 * Makefile takes from the compiler. */
#ifndef ONIONMX_LIBRARY
#error "ONIONMX_LIBRARY (the installed library's path) is set by the Makefile"
#endif

static const char usage_text[] =
	"usage: onionmx [-c CONF] COMMAND [ARGS...]   run COMMAND with onionmx preloaded\n"
	"       onionmx [-c CONF] -t                   only check CONF and its map (and the\n"
	"                                              MTA's settings, onionmx-check --mta -t)\n"
	"\n"
	"CONF defaults to $ONIONMX_CONF, else " OMX_DEFAULT_CONF ".\n"
	"The library is $ONIONMX_LIBRARY, else the one in this build tree, else\n"
	ONIONMX_LIBRARY ".\n"
	"Exit status: COMMAND's, or 78 if the configuration or map is unusable, 2 usage.\n";

/* The library to preload: the environment's choice, else the one built beside
 * this program (a build tree), else the installed one. */
static int find_library(char *out, size_t cap)
{
	const char *env = getenv("ONIONMX_LIBRARY");
	char exe[PATH_MAX];
	ssize_t n;

	if (env && *env) {
		snprintf(out, cap, "%s", env);
		return 0;
	}
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n > 0) {
		char *slash;
		exe[n] = '\0';
		slash = strrchr(exe, '/');
		if (slash) {
			*slash = '\0';
			if ((size_t)snprintf(out, cap, "%s/../shim/libonionmx.so", exe) < cap &&
			    access(out, R_OK) == 0)
				return realpath(out, exe) ? (snprintf(out, cap, "%s", exe), 0) : 0;
		}
	}
	snprintf(out, cap, "%s", ONIONMX_LIBRARY);
	return access(out, R_OK);
}

/* Setuid programs (Exim's deliveries) only accept a config and map owned by
 * root and not writable by others: say so before a delivery finds out. */
static void secure_mode_warnings(const char *conf, const char *map)
{
	const char *files[] = { conf, map };

	for (size_t i = 0; i < 2; i++) {
		struct stat st;
		if (stat(files[i], &st) == 0 && !omx_root_only(&st))
			fprintf(stderr, "onionmx: warning: %s is not owned by root or is writable by others: "
				"setuid programs (such as Exim's deliveries) will refuse it, and so will "
				"programs running as root when ONIONMX_CONF names it\n", files[i]);
	}
	if (strcmp(conf, OMX_DEFAULT_CONF) != 0)
		fprintf(stderr, "onionmx: note: setuid programs read only %s, not %s\n", OMX_DEFAULT_CONF, conf);
}

/* With discover = srv: the map's range must stay clear of discovery's (the
 * library would defer every lookup discovery answers), and VERBOSE (onionmx -t)
 * tries the shared cache as the MTA's processes will open it. */
static int check_discovery(const struct omx_config *cfg, const struct omx_map *map, int verbose)
{
	struct omx_cache cache;
	char err[PATH_MAX + 256];
	uint32_t net, mask;

	if (omx_parse_range(cfg->discover_range, &net, &mask) != 0)
		return -1; /* the config parser already refused it */
	if (omx_ranges_overlap(map->net, map->mask, net, mask)) {
		fprintf(stderr, "onionmx: %s: its synthetic range overlaps discover_range %s "
			"(rebuild it with onionmx-map -r, or change discover_range)\n",
			cfg->map_path, cfg->discover_range);
		return -1;
	}
	if (!verbose)
		return 0;
	if (omx_cache_open(&cache, cfg->cache_path, net, mask, 0, err, sizeof(err)) != 0) {
		fprintf(stderr, "onionmx: warning: %s; processes that cannot open it discover with a "
			"cache of their own (not shared)\n", err);
		return 0;
	}
	omx_cache_close(&cache);
	return 0;
}

/* Checks the configuration and its map as the library will read them; VERBOSE
 * (onionmx -t) adds what setuid programs will think of them. REQUIRE_ROOT: the
 * file must be root's and writable by nobody else, as the library requires of
 * a config it is given by ONIONMX_CONF when it runs as root. */
static int check(const char *conf, int verbose, int require_root)
{
	struct omx_config cfg;
	struct omx_map map;
	char err[PATH_MAX + 256];
	int fd;

	omx_config_defaults(&cfg);
	if (omx_config_load(&cfg, conf, require_root, err, sizeof(err)) != 0) {
		fprintf(stderr, "onionmx: %s\n", err);
		return -1;
	}
	fd = open(cfg.map_path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		fprintf(stderr, "onionmx: %s: %s (compile the map with onionmx-map)\n", cfg.map_path,
			strerror(errno));
		return -1;
	}
	if (omx_map_open_fd(&map, fd, cfg.map_path, err, sizeof(err)) != 0) {
		fprintf(stderr, "onionmx: %s\n", err);
		close(fd);
		return -1;
	}
	close(fd);
	if (omx_map_verify(&map, cfg.map_path, err, sizeof(err)) != 0) {
		fprintf(stderr, "onionmx: %s\n", err);
		omx_map_close(&map);
		return -1;
	}
	if (cfg.discover && check_discovery(&cfg, &map, verbose) != 0) {
		omx_map_close(&map);
		return -1;
	}
	omx_map_close(&map);
	if (verbose)
		secure_mode_warnings(conf, cfg.map_path);
	return 0;
}

/* onionmx -t: when an MTA is installed, the one-line report of onionmx-check
 * --mta -t on CONF (beside this program, in ../sbin, else on PATH). Advisory:
 * the exit status stays this check's; "onionmx-check --mta" is the monitor. */
static void check_mta(const char *conf)
{
	char exe[PATH_MAX], path[2][PATH_MAX + 32];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	char *slash;
	pid_t pid;

	fflush(stdout);
	path[0][0] = path[1][0] = '\0';
	if (n > 0) {
		exe[n] = '\0';
		if ((slash = strrchr(exe, '/'))) {
			*slash = '\0';
			snprintf(path[0], sizeof(path[0]), "%s/onionmx-check", exe);
			snprintf(path[1], sizeof(path[1]), "%s/../sbin/onionmx-check", exe);
		}
	}
	pid = fork();
	if (pid == 0) {
		char *args[] = { "onionmx-check", "-c", (char *)conf, "-t", "--mta", NULL };
		int null = open("/dev/null", O_WRONLY);

		if (null >= 0)
			dup2(null, STDERR_FILENO); /* "no MTA found" is not news here */
		for (int i = 0; i < 2; i++)
			if (path[i][0] && access(path[i], X_OK) == 0)
				execv(path[i], args);
		execvp("onionmx-check", args);
		_exit(127);
	}
	if (pid > 0)
		while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
			;
}

int main(int argc, char **argv)
{
	const char *conf = getenv("ONIONMX_CONF");
	char lib[PATH_MAX], abs_conf[PATH_MAX], *preload;
	const char *old;
	int opt, only_check = 0;

	if (!conf || !*conf)
		conf = OMX_DEFAULT_CONF;
	while ((opt = getopt(argc, argv, "+c:th")) != -1) {
		switch (opt) {
		case 'c':
			conf = optarg;
			break;
		case 't':
			only_check = 1;
			break;
		case 'h':
			fputs(usage_text, stdout);
			return 0;
		default:
			fputs(usage_text, stderr);
			return 2;
		}
	}
	if (!only_check && optind >= argc) {
		fputs(usage_text, stderr);
		return 2;
	}
	/* The wrapper names the config in ONIONMX_CONF: as root, the library in
	 * the command reads it only if it is root's, so refuse it here already. */
	if (check(conf, only_check, !only_check && geteuid() == 0) != 0) {
		fprintf(stderr, "onionmx: refusing to run %s with a broken configuration\n",
			only_check ? "anything" : argv[optind]);
		return 78;
	}
	if (only_check) {
		printf("onionmx: %s: ok\n", conf);
		check_mta(conf);
		return 0;
	}
	if (find_library(lib, sizeof(lib)) != 0) {
		fprintf(stderr, "onionmx: %s: %s\n", lib, strerror(errno));
		return 78;
	}
	/* The library reads the same file we checked, wherever the command runs. */
	if (!realpath(conf, abs_conf) || setenv("ONIONMX_CONF", abs_conf, 1) != 0) {
		fprintf(stderr, "onionmx: %s: %s\n", conf, strerror(errno));
		return 78;
	}
	/* Programs the config leaves alone still act when run through the wrapper. */
	setenv("ONIONMX_ACTIVE", "1", 1);
	/* Appended, so a sanitizer runtime that must come first stays first. */
	old = getenv("LD_PRELOAD");
	if (asprintf(&preload, "%s%s%s", old && *old ? old : "", old && *old ? " " : "", lib) < 0)
		return 78;
	setenv("LD_PRELOAD", preload, 1);
	free(preload);
	execvp(argv[optind], argv + optind);
	fprintf(stderr, "onionmx: %s: %s\n", argv[optind], strerror(errno));
	return errno == ENOENT ? 127 : 126;
}
