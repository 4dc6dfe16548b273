/* popen_threads THREADS ITERATIONS [noreader]: clearenv(), then THREADS threads each run
 * ITERATIONS popen() and system() calls at once (the library swaps environ for
 * each and shares the swap between concurrent calls), while one more thread
 * reads the environment with getenv(). Every child must see the library's
 * LD_PRELOAD entry; every getenv() must see none or that entry; afterwards the
 * program's own (empty) environment must be back. Prints
 * "children=N missed=N bad_reads=N environ_back=yes|no". "noreader" leaves the
 * reader out (for ThreadSanitizer: getenv() in an uninstrumented libc gives it
 * no way to see that environ was published with a release store). */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

extern char **environ;

static int iterations;
static int children, missed, bad_reads;
static volatile int done;
static pthread_mutex_t count_lock = PTHREAD_MUTEX_INITIALIZER;

static void count(int *what)
{
	pthread_mutex_lock(&count_lock);
	(*what)++;
	pthread_mutex_unlock(&count_lock);
}

static void *caller(void *arg)
{
	(void)arg;
	for (int i = 0; i < iterations; i++) {
		char buf[4096] = "";
		FILE *f = popen("printf '%s' \"$LD_PRELOAD\"", "r");
		if (f) {
			size_t n = fread(buf, 1, sizeof(buf) - 1, f);
			buf[n] = '\0';
			pclose(f);
		}
		count(&children);
		if (!strstr(buf, "libonionmx"))
			count(&missed);
		int status = system("case \"$LD_PRELOAD\" in *libonionmx*) exit 0 ;; *) exit 1 ;; esac");
		count(&children);
		if (status == -1 || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
			count(&missed);
	}
	return NULL;
}

static void *reader(void *arg)
{
	(void)arg;
	while (!__atomic_load_n(&done, __ATOMIC_RELAXED)) {
		const char *v = getenv("LD_PRELOAD");
		if (v && !strstr(v, "libonionmx"))
			count(&bad_reads);
	}
	return NULL;
}

int main(int argc, char **argv)
{
	int threads = argc > 1 ? atoi(argv[1]) : 4;
	pthread_t t[64], r;

	iterations = argc > 2 ? atoi(argv[2]) : 10;
	if (threads < 1 || threads > 64)
		return 2;
	clearenv();
	int with_reader = !(argc > 3 && strcmp(argv[3], "noreader") == 0);

	if (with_reader)
		pthread_create(&r, NULL, reader, NULL);
	for (int i = 0; i < threads; i++)
		pthread_create(&t[i], NULL, caller, NULL);
	for (int i = 0; i < threads; i++)
		pthread_join(t[i], NULL);
	__atomic_store_n(&done, 1, __ATOMIC_RELAXED);
	if (with_reader)
		pthread_join(r, NULL);
	printf("children=%d missed=%d bad_reads=%d environ_back=%s\n", children, missed, bad_reads,
	       environ == NULL || environ[0] == NULL ? "yes" : "no");
	return 0;
}
