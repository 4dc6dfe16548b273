/* shim/once.h, the library's run-once (in place of pthread_once, whose glibc
 * version makes a futex system call at every process start): the function
 * runs exactly once however many threads race for it, none returns before it
 * has finished, and a fork() child whose parent was in it runs it again. */
#include "once.h"
#include "tap.h"

#include <pthread.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define THREADS 16

static int state;
static int runs;          /* atomic */
static int finished;      /* atomic: set by the function at its end */
static int saw_unfinished; /* atomic: a caller returned before the end */
static pthread_barrier_t start;

static void slow_init(void)
{
	struct timespec pause = { 0, 20 * 1000 * 1000 };

	__atomic_add_fetch(&runs, 1, __ATOMIC_SEQ_CST);
	nanosleep(&pause, NULL); /* long enough for every racer to arrive */
	__atomic_store_n(&finished, 1, __ATOMIC_SEQ_CST);
}

static void *racer(void *arg)
{
	(void)arg;
	pthread_barrier_wait(&start);
	omx_once(&state, slow_init);
	if (!__atomic_load_n(&finished, __ATOMIC_SEQ_CST))
		__atomic_store_n(&saw_unfinished, 1, __ATOMIC_SEQ_CST);
	return NULL;
}

static int child_state;
static int child_runs;

static void count_child_run(void)
{
	child_runs++;
}

int main(void)
{
	pthread_t t[THREADS];
	int status = -1;
	pid_t pid;

	ok(!omx_once_done(&state), "a new once is not done");
	pthread_barrier_init(&start, NULL, THREADS);
	for (int i = 0; i < THREADS; i++)
		pthread_create(&t[i], NULL, racer, NULL);
	for (int i = 0; i < THREADS; i++)
		pthread_join(t[i], NULL);
	is_int(runs, 1, "%d threads racing: the function ran once", THREADS);
	is_int(saw_unfinished, 0, "no thread returned before it had finished");
	ok(omx_once_done(&state), "then the once is done");
	omx_once(&state, slow_init);
	is_int(runs, 1, "a later call does not run it again");

	/* A fork() child of a parent thread that was inside the function. */
	child_state = OMX_ONCE_RUNNING;
	pid = fork();
	if (pid == 0) {
		alarm(5); /* a child left waiting dies of SIGALRM: the test fails, not hangs */
		omx_once_after_fork(&child_state);
		omx_once(&child_state, count_child_run);
		_exit(child_runs == 1 && omx_once_done(&child_state) ? 0 : 1);
	}
	ok(pid > 0 && waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0,
	   "a fork() child of a parent inside the function runs it again (and does not wait forever)");
	child_state = OMX_ONCE_DONE;
	omx_once_after_fork(&child_state);
	ok(omx_once_done(&child_state), "after fork(), a finished once stays finished");
	return done_testing();
}
