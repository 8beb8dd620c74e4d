/*
 * The search index, written behind APPEND.
 *
 * Two thirds of loft-imapd's CPU in a pipelined APPEND load went into the
 * FTS5 trigram rows of the messages (bench corpus, 2,000 messages: 5.8 s
 * with them, 1.9 s without; the loft_trigram rows of migration 15 cost
 * a third of those, most of it decoding the text again).  So the main
 * store handle stores a message,
 * its entry and a pending mark in the APPEND's durable commit
 * (store_set_defer_index), the tagged OK follows that commit as before,
 * and this thread writes the index rows afterwards on a handle of its own:
 * on the other core of the board, off the event loop, in transactions of
 * about 4 MiB of text (store_index_pending).  The loop thread's commits
 * come first: while it waits for the write lock (imap_indexer_hold), the
 * worker commits after the message it is indexing, so an APPEND waits for
 * one message's index rows, not a batch's.
 *
 * Nothing is lost: a mark is committed with its message and removed with
 * the index rows in one transaction, so after a crash the marks of
 * messages not yet indexed are still there, and this thread starts by
 * indexing them.  A SEARCH does not wait for the thread: store_search_text
 * matches a pending message by reading it.  After migration 15 every
 * message is marked, and this thread indexes them all again.  The thread's handle
 * commits without fsync (the marks make its work redoable).
 *
 * Threading: imap_indexer_new, _kick and _free are called from the loop
 * thread; the worker touches only its own store handle and the shared
 * flags under the mutex.
 */
#include <malloc.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "imapd.h"
#include "log.h"
#include "store.h"
#include "store_deliver.h"

/* Messages per call of store_index_pending (it also stops at ~4 MiB of
 * text): small enough that an APPEND commit waits little for the write
 * lock, big enough for few FTS5 segments */
#define INDEXER_BATCH 64
/* The worker's page cache while it indexes, and after (KiB): index rows
 * touch many b-tree pages (see IMAPD_COMMIT_CACHE_KIB); given back when
 * the queue is empty */
#define INDEXER_CACHE_KIB 4096
#define INDEXER_IDLE_KIB  64

struct imap_indexer {
	pthread_t tid;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int work, stop;
	struct store *st;
	/* the loop thread wants the write lock (imap_indexer_hold): the
	 * worker's transaction ends after the message it is indexing */
	atomic_int yield;
};

static void lock(struct imap_indexer *ix)
{
	if (pthread_mutex_lock(&ix->mu) != 0)
		bug("indexer: mutex lock failed");
}

static void unlock(struct imap_indexer *ix)
{
	if (pthread_mutex_unlock(&ix->mu) != 0)
		bug("indexer: mutex unlock failed");
}

static int stopping(struct imap_indexer *ix)
{
	int r;

	lock(ix);
	r = ix->stop;
	unlock(ix);
	return r;
}

/* Indexes until nothing is pending or stop; returns -1 after an error. */
static int drain(struct imap_indexer *ix)
{
	size_t total = 0;
	int n = 0;

	store_set_cache_kib(ix->st, INDEXER_CACHE_KIB);
	for (;;) {
		/* while the loop thread writes (an APPEND commit, a SEARCH
		 * indexing its mailbox), no new transaction: queuing for the
		 * lock would only make it wait longer for the next */
		while (atomic_load(&ix->yield) && !stopping(ix))
			nanosleep(&(struct timespec){.tv_nsec = 2000000}, NULL);
		/* the rows of deleted messages go first (they free space,
		 * and an id may come back), then the new messages' */
		if (stopping(ix))
			break;
		n = store_index_purge(ix->st, INDEXER_BATCH);
		if (n == 0)
			n = store_index_pending(ix->st, 0, INDEXER_BATCH, &ix->yield);
		if (n <= 0)
			break;
		total += (size_t)n;
	}
	store_set_cache_kib(ix->st, INDEXER_IDLE_KIB);
	if (total) {
		/* a big message's decoded text and the index pages just freed
		 * go back to the system, as after a big FETCH */
		malloc_trim(0);
		log_debug(NULL, "event=index-written messages=%zu", total);
	}
	if (n < 0) {
		log_err(NULL, "event=index-failed error=\"%s\"", store_errmsg(ix->st));
		return -1;
	}
	return 0;
}

static void *worker(void *arg)
{
	struct imap_indexer *ix = arg;

	lock(ix);
	for (;;) {
		while (!ix->stop && !ix->work)
			if (pthread_cond_wait(&ix->cv, &ix->mu) != 0)
				bug("indexer: cond wait failed");
		if (ix->stop)
			break;
		ix->work = 0;
		unlock(ix);
		if (drain(ix) < 0) {
			/* the store failed (disk full, locked for long): try
			 * again in a while; a SEARCH indexes what it needs */
			struct timespec t;

			clock_gettime(CLOCK_REALTIME, &t);
			t.tv_sec += 5;
			lock(ix);
			ix->work = 1;
			while (!ix->stop)
				if (pthread_cond_timedwait(&ix->cv, &ix->mu, &t) != 0)
					break;
			continue;
		}
		lock(ix);
	}
	unlock(ix);
	return NULL;
}

struct imap_indexer *imap_indexer_new(const char *db_path, char *err, size_t errlen)
{
	struct imap_indexer *ix = calloc(1, sizeof(*ix));

	if (!ix)
		bug("out of memory");
	if (store_open(db_path, &ix->st, err, errlen) < 0) {
		free(ix);
		return NULL;
	}
	if (store_set_relaxed_sync(ix->st) < 0 ||
	    store_set_cache_kib(ix->st, INDEXER_IDLE_KIB) < 0) {
		snprintf(err, errlen, "%s", store_errmsg(ix->st));
		store_close(ix->st);
		free(ix);
		return NULL;
	}
	if (pthread_mutex_init(&ix->mu, NULL) != 0 || pthread_cond_init(&ix->cv, NULL) != 0)
		bug("indexer: mutex init failed");
	/* marks left by a crash or an older run are indexed first */
	ix->work = 1;
	if (pthread_create(&ix->tid, NULL, worker, ix) != 0) {
		snprintf(err, errlen, "cannot start the index thread");
		pthread_cond_destroy(&ix->cv);
		pthread_mutex_destroy(&ix->mu);
		store_close(ix->st);
		free(ix);
		return NULL;
	}
	return ix;
}

void imap_indexer_kick(struct imap_indexer *ix)
{
	if (!ix)
		return;
	lock(ix);
	ix->work = 1;
	pthread_cond_signal(&ix->cv);
	unlock(ix);
}

void imap_indexer_hold(struct imap_indexer *ix, int on)
{
	if (ix)
		atomic_store(&ix->yield, on);
}

void imap_indexer_free(struct imap_indexer *ix)
{
	if (!ix)
		return;
	lock(ix);
	ix->stop = 1;
	pthread_cond_signal(&ix->cv);
	unlock(ix);
	if (pthread_join(ix->tid, NULL) != 0)
		bug("indexer: join failed");
	pthread_cond_destroy(&ix->cv);
	pthread_mutex_destroy(&ix->mu);
	store_close(ix->st);
	free(ix);
}
