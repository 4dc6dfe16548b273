/* exec_probe [-r] [-k] [-c DIR] HOW PROGRAM [ARGS...]: empties its environment the way
 * the MTAs do (Postfix truncates environ, Exim sets *environ = NULL), then runs
 * PROGRAM with one exec-family function: execve execv execvp execvpe execl
 * execle execlp fexecve execveat posix_spawn posix_spawnp, or vfork (then
 * execve in the child). PROGRAM should report whether libonionmx is loaded in it.
 *
 * exec_probe [-r] [-k] system|popen COMMAND: clearenv(), then runs the shell
 * COMMAND with system() or popen(..., "r") (its output copied to ours), and
 * prints "status=N exit=N" (the raw value system()/pclose() returned and the
 * exit code in it) on stderr.
 *
 *   -c DIR  change to DIR first (a library preloaded by a relative name)
 *   -r  become root entirely first, real and effective (setresgid/setresuid to 0,
 *       for a copy installed setuid root), as su or a daemon that drops its
 *       setuid origin does: what it runs then is not in secure mode
 *   -k  keep the environment instead of emptying it
 * Before running, it writes "exec_probe: calling HOW" on stderr. */
#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

/* vfork + execve, in a function of its own (no variable of main's to clobber). */
static int run_vfork(char *path, char **argv, char **envp)
{
	int status;
	pid_t pid = vfork();

	if (pid == 0) {
		execve(path, argv, envp);
		const char *why = strerror(errno);
		/* A failed report changes nothing: the exit status says it all. */
		if (write(2, "vfork: ", 7) < 0 || write(2, why, strlen(why)) < 0 || write(2, "\n", 1) < 0)
			_exit(126);
		_exit(127);
	}
	if (pid > 0 && waitpid(pid, &status, 0) == pid)
		return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
	return 1;
}

static int report(int status)
{
	fprintf(stderr, "status=%d exit=%d\n", status,
		status != -1 && WIFEXITED(status) ? WEXITSTATUS(status) : -1);
	return status != -1 && WIFEXITED(status) ? WEXITSTATUS(status) : 1;
}

int main(int argc, char **argv)
{
	char *empty[] = { NULL };
	const char *how;
	int rc = -1, opt, become_root = 0, keep_env = 0;

	while ((opt = getopt(argc, argv, "+rkc:")) != -1) {
		if (opt == 'c') {
			if (chdir(optarg) != 0) {
				perror("exec_probe: chdir");
				return 2;
			}
		} else if (opt == 'r')
			become_root = 1;
		else if (opt == 'k')
			keep_env = 1;
		else
			return 2;
	}
	argc -= optind - 1;
	argv += optind - 1;
	if (argc < 3) {
		fprintf(stderr, "usage: exec_probe [-r] [-k] [-c DIR] HOW PROGRAM [ARGS...]\n");
		return 2;
	}
	how = argv[1];
	if (become_root && (setresgid(0, 0, 0) != 0 || setresuid(0, 0, 0) != 0)) {
		perror("exec_probe: setresuid(0, 0, 0)");
		return 2;
	}
	if (!strcmp(how, "system") || !strcmp(how, "popen")) {
		if (!keep_env)
			clearenv();
		fprintf(stderr, "exec_probe: calling %s\n", how);
		fflush(stdout);
		if (!strcmp(how, "system"))
			return report(system(argv[2]));
		FILE *child = popen(argv[2], "r");
		char buf[4096];
		size_t n;
		if (!child) {
			perror("popen");
			return 127;
		}
		while ((n = fread(buf, 1, sizeof(buf), child)) > 0)
			fwrite(buf, 1, n, stdout);
		fflush(stdout);
		return report(pclose(child));
	}
	if (!keep_env)
		*environ = NULL; /* what Exim does with keep_environment = */
	fprintf(stderr, "exec_probe: calling %s\n", how);
	if (!strcmp(how, "execve"))
		rc = execve(argv[2], argv + 2, keep_env ? environ : empty);
	else if (!strcmp(how, "execv"))
		rc = execv(argv[2], argv + 2);
	else if (!strcmp(how, "execvp"))
		rc = execvp(argv[2], argv + 2);
	else if (!strcmp(how, "execvpe"))
		rc = execvpe(argv[2], argv + 2, keep_env ? environ : empty);
	else if (!strcmp(how, "execl"))
		rc = execl(argv[2], argv[2], argc > 3 ? argv[3] : NULL, (char *)NULL);
	else if (!strcmp(how, "execle"))
		rc = execle(argv[2], argv[2], argc > 3 ? argv[3] : NULL, (char *)NULL,
			    keep_env ? environ : empty);
	else if (!strcmp(how, "execlp"))
		rc = execlp(argv[2], argv[2], argc > 3 ? argv[3] : NULL, (char *)NULL);
	else if (!strcmp(how, "fexecve")) {
		int fd = open(argv[2], O_RDONLY | O_CLOEXEC);
		rc = fexecve(fd, argv + 2, keep_env ? environ : empty);
	} else if (!strcmp(how, "execveat"))
		rc = execveat(AT_FDCWD, argv[2], argv + 2, keep_env ? environ : empty, 0);
	else if (!strcmp(how, "vfork"))
		return run_vfork(argv[2], argv + 2, keep_env ? environ : empty);
	else if (!strcmp(how, "posix_spawn") || !strcmp(how, "posix_spawnp")) {
		pid_t pid;
		int status;
		char **env = keep_env ? environ : empty;
		rc = !strcmp(how, "posix_spawn") ? posix_spawn(&pid, argv[2], NULL, NULL, argv + 2, env)
						: posix_spawnp(&pid, argv[2], NULL, NULL, argv + 2, env);
		if (rc == 0 && waitpid(pid, &status, 0) == pid)
			return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
		errno = rc; /* posix_spawn returns its error instead of setting errno */
	}
	perror(how);
	return rc == -1 ? 127 : 1;
}
