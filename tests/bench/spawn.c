/* spawn: start-up cost of a process. Runs PROG N times (posix_spawn + waitpid,
 * one at a time) with this process's environment plus the VAR=VALUE entries
 * given with -e, and prints the mean wall time per run in nanoseconds
 * ("ns_per_op N") and the children's mean CPU time, user + system
 * ("cpu_ns_per_op N") and minor page faults ("minflt_per_op N"). Exits 1 if any
 * run fails.
 *
 *   spawn N [-e VAR=VALUE]... PROG [ARGS...] */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

int main(int argc, char **argv)
{
	char *env[512];
	size_t ne = 0;
	struct timespec a, b;
	struct rusage ru;
	long n;
	int i = 2;

	if (argc < 3)
		goto usage;
	n = atol(argv[1]);
	for (; i + 1 < argc && strcmp(argv[i], "-e") == 0; i += 2)
		if (ne < 256)
			env[ne++] = argv[i + 1];
	if (i >= argc)
		goto usage;
	for (char **e = environ; *e && ne < sizeof(env) / sizeof(env[0]) - 1; e++) {
		size_t k = strcspn(*e, "=");
		int overridden = 0;

		for (size_t j = 0; j < ne && !overridden; j++)
			overridden = strncmp(env[j], *e, k + 1) == 0;
		if (!overridden)
			env[ne++] = *e;
	}
	env[ne] = NULL;
	clock_gettime(CLOCK_MONOTONIC, &a);
	for (long r = 0; r < n; r++) {
		pid_t pid;
		int st;

		if (posix_spawn(&pid, argv[i], NULL, NULL, argv + i, env) != 0 ||
		    waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
			fprintf(stderr, "spawn: %s failed\n", argv[i]);
			return 1;
		}
	}
	clock_gettime(CLOCK_MONOTONIC, &b);
	getrusage(RUSAGE_CHILDREN, &ru);
	printf("ns_per_op %.1f\ncpu_ns_per_op %.1f\nminflt_per_op %.1f\n",
	       ((double)(b.tv_sec - a.tv_sec) * 1e9 + (double)(b.tv_nsec - a.tv_nsec)) / (double)n,
	       (((double)ru.ru_utime.tv_sec + (double)ru.ru_stime.tv_sec) * 1e9 +
		((double)ru.ru_utime.tv_usec + (double)ru.ru_stime.tv_usec) * 1e3) / (double)n,
	       (double)ru.ru_minflt / (double)n);
	return 0;
usage:
	fprintf(stderr, "usage: spawn N [-e VAR=VALUE]... PROG [ARGS...]\n");
	return 2;
}
