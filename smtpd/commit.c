/*
 * Group commit on a store thread.
 *
 * Storing a message (MIME parse, index, WAL write, fsync) costs far more
 * than speaking SMTP, and SQLite serialises writers anyway.  So one thread
 * with its own store handle does every write: it takes all the messages
 * that finished since its last commit, stores them in one transaction (one
 * fsync for all), and hands them back to the event loop through an
 * eventfd.  Meanwhile the loop goes on reading other clients, so network
 * work and store work overlap on two cores.  The loop replies 250 only
 * when a job comes back with ok set, i.e. after the durable commit.
 *
 * Ownership: a submitted job, its deliver_req and the message buffer it
 * points to belong to the store thread until the loop gets the job back;
 * the session neither reads nor frees them meanwhile (session.c keeps a
 * session whose client vanished until its job is back).  The thread calls
 * nothing but the store and smtp_deliver_items (no logging, no evloop).
 *
 * Checkpoints: the store thread's commits never copy the WAL back into the
 * database (store_wal_manual); when a commit leaves CKPT_FRAMES or more in
 * the WAL, a third thread with its own handle does it (a PASSIVE
 * checkpoint runs beside the writer).  So no 250 waits for a checkpoint,
 * and a loft-smtpd killed during one (the kill benchmark kills every
 * second; a long WAL took longer than that to copy under load, and every
 * instance died before its first commit returned) only leaves the WAL
 * longer: the next instance keeps acknowledging mail.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "daemon.h"
#include "evloop.h"
#include "log.h"
#include "smtpd.h"
#include "store.h"
#include "store_deliver.h"

struct commit {
	struct smtpd *srv;
	struct store *st; /* the store thread's own handle */
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct commit_job *todo, **todo_tail; /* loop -> thread */
	struct commit_job *done, **done_tail; /* thread -> loop */
	int quit;
	int efd;
	unsigned inflight; /* submitted and not yet back */
	/* the checkpoint thread, its handle; ckpt_due under mu */
	struct store *ck;
	pthread_t ck_thread;
	pthread_cond_t ck_cv;
	pthread_cond_t ck_done; /* a checkpoint pass ended (ck_passes) */
	unsigned ck_passes;	/* passes ended */
	unsigned ck_begun;	/* passes begun (they end in that order) */
	int ckpt_due;
	int ck_started;
};

#define BATCH_MAX 256 /* messages per transaction */
/* SQLite's own automatic checkpoint mark (4 MB of 4 KiB pages) */
#define CKPT_FRAMES 1000
/* Past this the store thread waits for a checkpoint pass before its next
 * transaction.  A writer that never pauses keeps a checkpoint beside it
 * from ever finishing, and the WAL only starts over after one has: at
 * 600 msg/s the WAL grew by 20,000 frames a second (80 MB/s on the card)
 * and its index, mapped into loft-smtpd, by 1.6 MB in a 10 s bench. */
#define CKPT_HARD_FRAMES 7000
/* Why 7000, not 8000: the WAL index (loft.db-shm, mapped into this
 * process) grows by a 32 KiB region per 4096 frames, and two regions hold
 * 8158.  The WAL passes the mark by the batch that crossed it: 10 messages
 * are 100-200 frames, up to 650 with an FTS5 segment merge (8,049 frames
 * from a mark at 7400).  From 8000, and with a wait that did not always
 * start the WAL over, it reached a third region: 32 KiB more of
 * loft-smtpd's RSS (issue 14). */

/* Stores jobs v[0..n) in one transaction (store_deliver_many: one search
 * index write for the whole batch).  Returns 0 once committed. */
static int store_batch(struct commit *cm, struct commit_job **v, size_t n)
{
	struct store_delivery items[2 * BATCH_MAX];
	size_t first[BATCH_MAX], k = 0;

	for (size_t i = 0; i < n; i++) {
		first[i] = k;
		k += smtp_deliver_items(v[i]->req, v[i]->ready, items + k);
	}
	if (store_deliver_many(cm->st, items, k) < 0)
		return -1;
	/* the local copy's id when there is one: smtp_deliver_items lists it
	 * first */
	for (size_t i = 0; i < n; i++)
		v[i]->ready->message_id = items[first[i]].message_id;
	return 0;
}

static void *commit_main(void *arg)
{
	struct commit *cm = arg;
	struct commit_job *v[BATCH_MAX];

	for (;;) {
		size_t n = 0;

		pthread_mutex_lock(&cm->mu);
		while (!cm->todo && !cm->quit)
			pthread_cond_wait(&cm->cv, &cm->mu);
		if (!cm->todo && cm->quit) {
			pthread_mutex_unlock(&cm->mu);
			return NULL;
		}
		while (cm->todo && n < sizeof(v) / sizeof(v[0])) {
			v[n++] = cm->todo;
			cm->todo = cm->todo->next;
		}
		if (!cm->todo)
			cm->todo_tail = &cm->todo;
		pthread_mutex_unlock(&cm->mu);

		int ok = store_batch(cm, v, n) == 0;
		for (size_t i = 0; i < n; i++) {
			/* a failed batch is retried one message at a time, so one
			 * message the store refuses does not fail the others */
			v[i]->ok = ok || (n > 1 && store_batch(cm, &v[i], 1) == 0);
			if (!v[i]->ok)
				snprintf(v[i]->err, sizeof(v[i]->err), "%s", store_errmsg(cm->st));
			v[i]->batch = n;
		}

		pthread_mutex_lock(&cm->mu);
		for (size_t i = 0; i < n; i++) {
			v[i]->next = NULL;
			*cm->done_tail = v[i];
			cm->done_tail = &v[i]->next;
		}
		pthread_mutex_unlock(&cm->mu);
		uint64_t one = 1;
		if (write(cm->efd, &one, sizeof(one)) != sizeof(one))
			bug("eventfd write: %s", strerror(errno));
		int frames = store_wal_frames(cm->st);
		if (frames >= CKPT_FRAMES) {
			pthread_mutex_lock(&cm->mu);
			cm->ckpt_due = 1;
			pthread_cond_signal(&cm->ck_cv);
			/* the replies above are already on their way: only the
			 * next batch waits */
			if (frames >= CKPT_HARD_FRAMES) {
				/* Wait for a pass that begins after this point:
				 * with nothing written meanwhile it copies the
				 * whole WAL, and the next transaction starts the
				 * WAL over.  The end of the pass running now was
				 * not enough: it began before this batch, left
				 * it uncopied, the WAL went on growing a batch
				 * per wait, and past 8158 frames its index maps
				 * a third region (see CKPT_HARD_FRAMES). */
				unsigned want = cm->ck_begun + 1;
				while (cm->ck_passes < want && !cm->quit)
					pthread_cond_wait(&cm->ck_done, &cm->mu);
			}
			pthread_mutex_unlock(&cm->mu);
		}
	}
}

/* The checkpoint thread: copies the WAL back whenever the store thread
 * asks.  A failure (a busy database) is tried again at the next ask. */
static void *ckpt_main(void *arg)
{
	struct commit *cm = arg;

	for (;;) {
		pthread_mutex_lock(&cm->mu);
		while (!cm->ckpt_due && !cm->quit)
			pthread_cond_wait(&cm->ck_cv, &cm->mu);
		if (cm->quit) {
			pthread_cond_broadcast(&cm->ck_done);
			pthread_mutex_unlock(&cm->mu);
			return NULL;
		}
		cm->ckpt_due = 0;
		cm->ck_begun++;
		pthread_mutex_unlock(&cm->mu);
		store_checkpoint(cm->ck);
		pthread_mutex_lock(&cm->mu);
		cm->ck_passes++;
		pthread_cond_broadcast(&cm->ck_done);
		pthread_mutex_unlock(&cm->mu);
	}
}

/* The loop side: jobs came back. */
static void commit_ready(struct evloop *ev, int fd, int events, void *arg)
{
	struct commit *cm = arg;
	struct commit_job *list;
	uint64_t cnt;
	int mail = 0, queue = 0;

	(void)ev;
	(void)events;
	if (read(fd, &cnt, sizeof(cnt)) < 0 && errno != EAGAIN)
		bug("eventfd read: %s", strerror(errno));
	pthread_mutex_lock(&cm->mu);
	list = cm->done;
	cm->done = NULL;
	cm->done_tail = &cm->done;
	pthread_mutex_unlock(&cm->mu);
	while (list) {
		struct commit_job *j = list;
		list = j->next;
		cm->inflight--;
		if (j->ok) {
			mail |= j->req->n_users > 0;
			queue |= j->req->n_remote > 0;
		}
		j->done(j);
	}
	if (mail && cm->srv->d)
		daemon_notify(cm->srv->d, "mail");
	if (queue && cm->srv->d)
		daemon_notify(cm->srv->d, "queue");
}

int smtp_commit_start(struct smtpd *srv, const char *db_path, char *err, size_t errlen)
{
	struct commit *cm = calloc(1, sizeof(*cm));

	if (!cm)
		bug("out of memory");
	cm->srv = srv;
	cm->todo_tail = &cm->todo;
	cm->done_tail = &cm->done;
	if (store_open(db_path, &cm->st, err, errlen) < 0) {
		free(cm);
		return -1;
	}
	if (store_set_cache_kib(cm->st, SMTPD_STORE_CACHE_KIB) < 0) {
		snprintf(err, errlen, "%s", store_errmsg(cm->st));
		store_close(cm->st);
		free(cm);
		return -1;
	}
	store_wal_manual(cm->st);
	/* the checkpoint handle reads and writes pages in bulk: the smallest
	 * cache will do */
	if (store_open(db_path, &cm->ck, err, errlen) < 0 || store_set_cache_kib(cm->ck, 64) < 0) {
		if (cm->ck)
			snprintf(err, errlen, "%s", store_errmsg(cm->ck));
		store_close(cm->ck);
		store_close(cm->st);
		free(cm);
		return -1;
	}
	pthread_mutex_init(&cm->mu, NULL);
	pthread_cond_init(&cm->cv, NULL);
	pthread_cond_init(&cm->ck_cv, NULL);
	pthread_cond_init(&cm->ck_done, NULL);
	cm->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (cm->efd < 0 || ev_io_add(srv->ev, cm->efd, EV_READ, commit_ready, cm) < 0) {
		snprintf(err, errlen, "eventfd: %s", strerror(errno));
		goto fail;
	}
	int e = pthread_create(&cm->ck_thread, NULL, ckpt_main, cm);
	if (e == 0) {
		cm->ck_started = 1;
		e = pthread_create(&cm->thread, NULL, commit_main, cm);
	}
	if (e != 0) {
		snprintf(err, errlen, "pthread_create: %s", strerror(e));
		ev_io_del(srv->ev, cm->efd);
		goto fail;
	}
	srv->commit = cm;
	return 0;
fail:
	if (cm->ck_started) {
		pthread_mutex_lock(&cm->mu);
		cm->quit = 1;
		pthread_cond_signal(&cm->ck_cv);
		pthread_mutex_unlock(&cm->mu);
		pthread_join(cm->ck_thread, NULL);
	}
	if (cm->efd >= 0)
		close(cm->efd);
	store_close(cm->ck);
	store_close(cm->st);
	free(cm);
	return -1;
}

void smtp_commit_submit(struct smtpd *srv, struct commit_job *job)
{
	struct commit *cm = srv->commit;

	job->next = NULL;
	job->ok = 0;
	job->err[0] = '\0';
	cm->inflight++;
	pthread_mutex_lock(&cm->mu);
	*cm->todo_tail = job;
	cm->todo_tail = &job->next;
	pthread_cond_signal(&cm->cv);
	pthread_mutex_unlock(&cm->mu);
}

unsigned smtp_commit_inflight(const struct smtpd *srv)
{
	return srv->commit ? srv->commit->inflight : 0;
}

void smtp_commit_stop(struct smtpd *srv)
{
	struct commit *cm = srv->commit;

	if (!cm)
		return;
	pthread_mutex_lock(&cm->mu);
	cm->quit = 1;
	pthread_cond_signal(&cm->cv);
	pthread_cond_signal(&cm->ck_cv);
	pthread_cond_broadcast(&cm->ck_done);
	pthread_mutex_unlock(&cm->mu);
	pthread_join(cm->thread, NULL);
	pthread_join(cm->ck_thread, NULL);
	/* jobs finished after the loop stopped: hand them back so their
	 * sessions are freed (their replies go nowhere now) */
	commit_ready(srv->ev, cm->efd, EV_READ, cm);
	ev_io_del(srv->ev, cm->efd);
	close(cm->efd);
	store_close(cm->st);
	/* what is left in the WAL: SQLite copies it back when the last
	 * handle closes */
	store_close(cm->ck);
	pthread_mutex_destroy(&cm->mu);
	pthread_cond_destroy(&cm->cv);
	pthread_cond_destroy(&cm->ck_cv);
	pthread_cond_destroy(&cm->ck_done);
	free(cm);
	srv->commit = NULL;
}
