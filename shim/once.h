/* Run-once initialisation for the library's start-up. Not pthread_once:
 * glibc's wakes futex waiters after every initialiser, waiting or not (a
 * system call in every process start); not a mutex either (two more libc
 * symbols for ld.so to look up in every process start). Callers racing the
 * first wait for it, yielding; a call from inside FN itself would wait
 * forever, as it would deadlock in pthread_once. */
#ifndef OMX_ONCE_H
#define OMX_ONCE_H
#include <sched.h>

enum { OMX_ONCE_NEW, OMX_ONCE_RUNNING, OMX_ONCE_DONE };

static inline int omx_once_done(const int *state)
{
	return __atomic_load_n(state, __ATOMIC_ACQUIRE) == OMX_ONCE_DONE;
}

/* Runs FN once for STATE (an int, OMX_ONCE_NEW at first); returns when it has run. */
static inline void omx_once(int *state, void (*fn)(void))
{
	int expected = OMX_ONCE_NEW;

	if (omx_once_done(state))
		return;
	if (__atomic_compare_exchange_n(state, &expected, OMX_ONCE_RUNNING, 0, __ATOMIC_ACQUIRE,
					__ATOMIC_ACQUIRE)) {
		fn();
		__atomic_store_n(state, OMX_ONCE_DONE, __ATOMIC_RELEASE);
		return;
	}
	while (!omx_once_done(state))
		sched_yield();
}

/* In a fork() child: a once another thread of the parent was running will
 * never finish there; the child runs it again, as pthread_once does. */
static inline void omx_once_after_fork(int *state)
{
	if (__atomic_load_n(state, __ATOMIC_RELAXED) == OMX_ONCE_RUNNING)
		__atomic_store_n(state, OMX_ONCE_NEW, __ATOMIC_RELAXED);
}
#endif
