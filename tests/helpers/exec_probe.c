/* exec_probe HOW PROGRAM [ARGS...]: empties its environment the way the MTAs do
 * (Postfix truncates environ, Exim sets *environ = NULL), then runs PROGRAM with
 * one exec-family function: execve execv execvp execvpe execl execle execlp
 * fexecve execveat posix_spawn posix_spawnp. PROGRAM should report whether
 * libonionmx is loaded in it. */
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

int main(int argc, char **argv)
{
	char *empty[] = { NULL };
	const char *how;
	int rc = -1;

	if (argc < 3) {
		fprintf(stderr, "usage: exec_probe HOW PROGRAM [ARGS...]\n");
		return 2;
	}
	how = argv[1];
	*environ = NULL; /* what Exim does with keep_environment = */
	if (!strcmp(how, "execve"))
		rc = execve(argv[2], argv + 2, empty);
	else if (!strcmp(how, "execv"))
		rc = execv(argv[2], argv + 2);
	else if (!strcmp(how, "execvp"))
		rc = execvp(argv[2], argv + 2);
	else if (!strcmp(how, "execvpe"))
		rc = execvpe(argv[2], argv + 2, empty);
	else if (!strcmp(how, "execl"))
		rc = execl(argv[2], argv[2], argc > 3 ? argv[3] : NULL, (char *)NULL);
	else if (!strcmp(how, "execle"))
		rc = execle(argv[2], argv[2], argc > 3 ? argv[3] : NULL, (char *)NULL, empty);
	else if (!strcmp(how, "execlp"))
		rc = execlp(argv[2], argv[2], argc > 3 ? argv[3] : NULL, (char *)NULL);
	else if (!strcmp(how, "fexecve")) {
		int fd = open(argv[2], O_RDONLY | O_CLOEXEC);
		rc = fexecve(fd, argv + 2, empty);
	} else if (!strcmp(how, "execveat"))
		rc = execveat(AT_FDCWD, argv[2], argv + 2, empty, 0);
	else if (!strcmp(how, "posix_spawn") || !strcmp(how, "posix_spawnp")) {
		pid_t pid;
		int status;
		rc = !strcmp(how, "posix_spawn") ? posix_spawn(&pid, argv[2], NULL, NULL, argv + 2, empty)
						: posix_spawnp(&pid, argv[2], NULL, NULL, argv + 2, empty);
		if (rc == 0 && waitpid(pid, &status, 0) == pid)
			return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
	}
	perror(how);
	return rc == -1 ? 127 : 1;
}
