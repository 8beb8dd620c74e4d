#ifndef LOFT_AUTHCHECK_H
#define LOFT_AUTHCHECK_H
/*
 * Password checks off the event loop.  A yescrypt verification costs tens
 * of milliseconds of CPU; done on the loop it would stall every other
 * session of the daemon.  authcheck runs them on a small pool of worker
 * threads, each with its own store handle on the same database (a SQLite
 * handle belongs to one thread), and hands each result back to the loop
 * thread through an eventfd the loop watches.  A worker opens its handle
 * at its first job.
 *
 * Threading rules: every function here is called from the loop thread
 * only; workers call nothing but store_open() and store_user_auth() on
 * their own handle.
 * Callbacks run on the loop thread, from the loop, never inside
 * authcheck_submit().
 */
#include <stddef.h>
#include <stdint.h>

#include "evloop.h"

#define AUTHCHECK_MAX_JOBS	  256 /* jobs alive at once (queued to dispatched) */
#define AUTHCHECK_MAX_THREADS	  16
#define AUTHCHECK_DEFAULT_THREADS 2
#define AUTHCHECK_CACHE_KIB	  64 /* page cache of each worker's store handle */

struct authcheck;
struct authcheck_job;

/* result: 1 right password (user_id set), 0 wrong password or unknown
 * address (user_id 0), -1 store error (logged by the worker). */
typedef void (*authcheck_fn)(void *arg, int result, int64_t user_id);

/* Starts threads workers (0: AUTHCHECK_DEFAULT_THREADS), each opening
 * db_path with store_open(), and watches the wake-up descriptor on ev.
 * Returns the pool (free with authcheck_free), or NULL with a reason in
 * err (bad thread count, the database cannot be opened, no threads). */
struct authcheck *authcheck_new(struct evloop *ev, const char *db_path, unsigned threads, char *err,
				size_t errlen);

/* Stops the workers (each finishes the check it is running) and joins
 * them.  Jobs not dispatched yet are dropped without their callback; their
 * handles become invalid, so callers must forget them first (a daemon
 * frees the pool after its last session).  NULL is fine.  Must not be
 * called from a callback. */
void authcheck_free(struct authcheck *ac);

/* Queues a check of password for address.  Both strings are copied; the
 * password copy is wiped (explicit_bzero) as soon as it has been checked,
 * or when the job is dropped.  done(arg, ...) runs once, later, on the loop
 * thread -- unless the job is cancelled.  Returns the job handle, valid
 * until done() returns or authcheck_cancel(); or NULL when
 * AUTHCHECK_MAX_JOBS are alive, on out of memory, or with a NULL argument
 * (the caller answers with a temporary failure). */
struct authcheck_job *authcheck_submit(struct authcheck *ac, const char *address,
				       const char *password, authcheck_fn done, void *arg);

/* The caller no longer wants the answer (its session went away): done()
 * will not run, whatever state the job is in.  The job's memory is freed
 * now if no worker holds it, else by the worker when it finishes.  NULL
 * is fine; the handle is invalid afterwards.  Must not be called after
 * done() has returned for this job. */
void authcheck_cancel(struct authcheck_job *job);

/* Jobs in each stage, for tests and status lines: waiting for a worker,
 * being checked, checked and waiting for the loop to run done(). */
struct authcheck_stats {
	unsigned queued, running, finished;
};
void authcheck_stats(struct authcheck *ac, struct authcheck_stats *out);
/* Password checks run so far by the workers of every pool of this process
 * (a check counts once it has run, whether its answer was wanted or not):
 * for tests, which can then say what ran without timing it. */
unsigned long authcheck_checks_total(void);

#endif
