/*
 * The password-check pool.  One mutex guards the job queue, the list of
 * finished jobs and every job's state; workers sleep on a condition
 * variable and wake the loop by writing to an eventfd.
 *
 * A job is in exactly one place: the queue (QUEUED), a worker's hands
 * (RUNNING), or the finished list or the dispatcher's batch (FINISHED).
 * Whoever holds it last frees it: cancel frees a queued job at once, marks
 * a running or finished one; a worker frees a running job marked
 * cancelled when it is done with it; the dispatcher frees every finished
 * job, calling done() only for unmarked ones.  Cancel and dispatch both
 * run on the loop thread, so a job cannot be freed under a running done().
 */
#include "authcheck.h"

#include <errno.h>
#include <stdatomic.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "log.h"
#include "passwd.h"
#include "store.h"
#include "store_users.h"

enum job_state { J_QUEUED, J_RUNNING, J_FINISHED };

struct authcheck_job {
	struct authcheck *ac;
	struct authcheck_job *next;
	char *address;
	char *password;
	size_t passlen;
	authcheck_fn done;
	void *arg;
	enum job_state state;
	int cancelled;
	int result;
	int64_t user_id;
};

struct worker {
	struct authcheck *ac;
	struct store *st;
	pthread_t tid;
	int started;
};

struct authcheck {
	struct evloop *ev;
	int efd;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct authcheck_job *qhead, *qtail; /* FIFO of QUEUED jobs */
	struct authcheck_job *fhead, *ftail; /* FIFO of FINISHED jobs */
	unsigned nqueued, nrunning, nfinished;
	int stopping;
	char *db_path;
	unsigned nworkers;
	struct worker *w;
};

static void lock(struct authcheck *ac)
{
	if (pthread_mutex_lock(&ac->mu) != 0)
		bug("authcheck: mutex lock failed");
}

static void unlock(struct authcheck *ac)
{
	if (pthread_mutex_unlock(&ac->mu) != 0)
		bug("authcheck: mutex unlock failed");
}

static void wipe_password(struct authcheck_job *job)
{
	if (job->password) {
		explicit_bzero(job->password, job->passlen);
		free(job->password);
		job->password = NULL;
	}
}

static void job_free(struct authcheck_job *job)
{
	wipe_password(job);
	free(job->address);
	free(job);
}

/* The worker's own handle, opened at its first job; NULL (logged) when
 * the database cannot be opened, and the next job tries again. */
static struct store *worker_store(struct worker *w)
{
	char err[256];

	if (!w->st) {
		if (store_open(w->ac->db_path, &w->st, err, sizeof(err)) < 0) {
			log_err(NULL, "event=authcheck-error error=\"%s\"", err);
			return NULL;
		}
		/* a login reads a handful of pages */
		store_set_cache_kib(w->st, AUTHCHECK_CACHE_KIB);
	}
	return w->st;
}

/* Checks run by every pool of the process (authcheck_checks_total). */
static atomic_ulong checks_total;

unsigned long authcheck_checks_total(void)
{
	return atomic_load(&checks_total);
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct authcheck *ac = w->ac;
	struct authcheck_job *job;

	lock(ac);
	for (;;) {
		while (!ac->stopping && !ac->qhead)
			if (pthread_cond_wait(&ac->cv, &ac->mu) != 0)
				bug("authcheck: cond wait failed");
		if (ac->stopping)
			break;
		job = ac->qhead;
		ac->qhead = job->next;
		if (!ac->qhead)
			ac->qtail = NULL;
		job->next = NULL;
		job->state = J_RUNNING;
		ac->nqueued--;
		ac->nrunning++;
		unlock(ac);

		/* the slow part, with nothing locked; job's strings are this
		 * thread's alone while it is RUNNING */
		int64_t uid = 0;
		int r = -1;
		struct store *st = worker_store(w);
		if (st) {
			uint64_t t0 = ev_clock_ms();
			r = store_user_auth(st, job->address, job->password, &uid);
			atomic_fetch_add(&checks_total, 1);
			if (r < 0)
				log_err(NULL, "event=authcheck-error error=\"%s\"",
					store_errmsg(st));
			else
				log_info(NULL, "event=password-checked ms=%llu hash_child_kib=%ld",
					 (unsigned long long)(ev_clock_ms() - t0),
					 passwd_last_child_kib());
		}
		wipe_password(job);

		lock(ac);
		ac->nrunning--;
		if (job->cancelled) {
			job_free(job);
			continue;
		}
		job->result = r < 0 ? -1 : r;
		job->user_id = r == 1 ? uid : 0;
		job->state = J_FINISHED;
		if (ac->ftail)
			ac->ftail->next = job;
		else
			ac->fhead = job;
		ac->ftail = job;
		ac->nfinished++;
		/* an eventfd counter write cannot block short of 2^64-1
		 * wake-ups; the loop drains it on every read */
		uint64_t one = 1;
		if (write(ac->efd, &one, sizeof(one)) != (ssize_t)sizeof(one))
			bug("authcheck: eventfd write failed: %s", strerror(errno));
	}
	unlock(ac);
	return NULL;
}

/* The loop side: runs done() for every finished job. */
static void on_wake(struct evloop *ev, int fd, int events, void *arg)
{
	struct authcheck *ac = arg;
	struct authcheck_job *batch, *job;
	uint64_t n;

	(void)ev;
	(void)events;
	if (read(fd, &n, sizeof(n)) < 0 && errno != EAGAIN && errno != EINTR)
		bug("authcheck: eventfd read failed: %s", strerror(errno));
	lock(ac);
	batch = ac->fhead;
	ac->fhead = ac->ftail = NULL;
	unlock(ac);
	while ((job = batch) != NULL) {
		batch = job->next;
		/* a done() earlier in this batch may have cancelled this job;
		 * cancel runs on this thread, so the flag is current */
		if (!job->cancelled)
			job->done(job->arg, job->result, job->user_id);
		lock(ac);
		ac->nfinished--;
		unlock(ac);
		job_free(job);
	}
}

struct authcheck *authcheck_new(struct evloop *ev, const char *db_path, unsigned threads, char *err,
				size_t errlen)
{
	struct authcheck *ac;
	sigset_t all, old;
	char serr[256];

	if (threads == 0)
		threads = AUTHCHECK_DEFAULT_THREADS;
	if (threads > AUTHCHECK_MAX_THREADS) {
		snprintf(err, errlen, "at most %d password-check threads", AUTHCHECK_MAX_THREADS);
		return NULL;
	}
	ac = calloc(1, sizeof(*ac));
	if (!ac || !(ac->w = calloc(threads, sizeof(*ac->w)))) {
		free(ac);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	ac->ev = ev;
	ac->nworkers = threads;
	ac->efd = -1;
	if (pthread_mutex_init(&ac->mu, NULL) != 0 || pthread_cond_init(&ac->cv, NULL) != 0) {
		free(ac->w);
		free(ac);
		snprintf(err, errlen, "cannot create the pool's lock");
		return NULL;
	}
	/* Each worker opens its own handle at its first job (SQLite allows a
	 * handle to change threads, never to be shared): a daemon that never
	 * sees a login, like an MX-only loft-smtpd, then never holds their
	 * schema and caches.  One handle opened and closed here still makes a
	 * database that cannot be opened an error at start-up. */
	struct store *probe;
	if (!(ac->db_path = strdup(db_path))) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	if (store_open(db_path, &probe, serr, sizeof(serr)) < 0) {
		snprintf(err, errlen, "cannot open the mailstore: %s", serr);
		goto fail;
	}
	store_close(probe);
	for (unsigned i = 0; i < threads; i++)
		ac->w[i].ac = ac;
	ac->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (ac->efd < 0 || ev_io_add(ev, ac->efd, EV_READ, on_wake, ac) < 0) {
		snprintf(err, errlen, "cannot make the wake-up descriptor: %s", strerror(errno));
		if (ac->efd >= 0)
			close(ac->efd);
		ac->efd = -1;
		goto fail;
	}
	/* Workers must never take a signal: the loop receives them through
	 * signalfd, and an unblocked SIGTERM landing on a worker would kill
	 * the process.  Threads inherit the creator's mask. */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	for (unsigned i = 0; i < threads; i++) {
		int e = pthread_create(&ac->w[i].tid, NULL, worker_main, &ac->w[i]);
		if (e != 0) {
			pthread_sigmask(SIG_SETMASK, &old, NULL);
			snprintf(err, errlen, "cannot start a password-check thread: %s",
				 strerror(e));
			goto fail;
		}
		ac->w[i].started = 1;
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return ac;
fail:
	authcheck_free(ac);
	return NULL;
}

void authcheck_free(struct authcheck *ac)
{
	struct authcheck_job *job;

	if (!ac)
		return;
	lock(ac);
	ac->stopping = 1;
	pthread_cond_broadcast(&ac->cv);
	unlock(ac);
	for (unsigned i = 0; i < ac->nworkers; i++)
		if (ac->w[i].started && pthread_join(ac->w[i].tid, NULL) != 0)
			bug("authcheck: cannot join a worker");
	/* no other thread is left: no locking needed below */
	if (ac->efd >= 0) {
		ev_io_del(ac->ev, ac->efd);
		close(ac->efd);
	}
	while ((job = ac->qhead) != NULL) {
		ac->qhead = job->next;
		job_free(job);
	}
	while ((job = ac->fhead) != NULL) {
		ac->fhead = job->next;
		job_free(job);
	}
	for (unsigned i = 0; i < ac->nworkers; i++)
		store_close(ac->w[i].st);
	pthread_cond_destroy(&ac->cv);
	pthread_mutex_destroy(&ac->mu);
	free(ac->w);
	free(ac->db_path);
	free(ac);
}

struct authcheck_job *authcheck_submit(struct authcheck *ac, const char *address,
				       const char *password, authcheck_fn done, void *arg)
{
	struct authcheck_job *job;

	if (!ac || !address || !password || !done)
		return NULL;
	job = calloc(1, sizeof(*job));
	if (!job)
		return NULL;
	job->ac = ac;
	job->done = done;
	job->arg = arg;
	job->passlen = strlen(password);
	job->address = strdup(address);
	job->password = malloc(job->passlen + 1);
	if (!job->address || !job->password) {
		job_free(job);
		return NULL;
	}
	memcpy(job->password, password, job->passlen + 1);
	job->state = J_QUEUED;

	lock(ac);
	if (ac->stopping || ac->nqueued + ac->nrunning + ac->nfinished >= AUTHCHECK_MAX_JOBS) {
		unlock(ac);
		job_free(job);
		return NULL;
	}
	if (ac->qtail)
		ac->qtail->next = job;
	else
		ac->qhead = job;
	ac->qtail = job;
	ac->nqueued++;
	pthread_cond_signal(&ac->cv);
	unlock(ac);
	return job;
}

void authcheck_cancel(struct authcheck_job *job)
{
	struct authcheck *ac;

	if (!job)
		return;
	ac = job->ac;
	lock(ac);
	if (job->state != J_QUEUED) {
		/* a worker or the dispatcher holds it and frees it */
		job->cancelled = 1;
		unlock(ac);
		return;
	}
	struct authcheck_job **pp = &ac->qhead, *prev = NULL;
	while (*pp && *pp != job) {
		prev = *pp;
		pp = &(*pp)->next;
	}
	if (!*pp)
		bug("authcheck: cancelled job is not in the queue");
	*pp = job->next;
	if (ac->qtail == job)
		ac->qtail = prev;
	ac->nqueued--;
	unlock(ac);
	job_free(job);
}

void authcheck_stats(struct authcheck *ac, struct authcheck_stats *out)
{
	lock(ac);
	out->queued = ac->nqueued;
	out->running = ac->nrunning;
	out->finished = ac->nfinished;
	unlock(ac);
}
