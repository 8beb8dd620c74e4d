/*
 * Outcomes made durable off the event loop.  loft-queue commits its
 * outcomes without waiting for the disk (store_set_deferred_sync: the
 * commit is written to SQLite's WAL, atomic, but not fsynced); a thread
 * here fsyncs the WAL (store_wal_sync) and tells the loop through an
 * eventfd which requests are durable.  Sessions whose outcomes wait for
 * it go on to their next message only then (queue_deliver.c), so the
 * order "outcome durable, then the next step" holds as before, while the
 * loop keeps serving every other session, DNS answer and signature
 * during the fsync -- and one fsync covers every request made before it
 * began (group commit across loop turns).
 */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "evloop.h"
#include "log.h"
#include "queue.h"
#include "store.h"

struct qsync {
	pthread_mutex_t mu;
	pthread_cond_t cv, done_cv;
	uint64_t want; /* the last sequence number handed out */
	uint64_t done; /* every request up to this one is durable */
	uint64_t seen; /* the loop has acted on requests up to this one */
	int err;       /* errno of a failed fsync, for the loop's log */
	int stop;
	int efd;
	char *path;
	pthread_t th;
};

static void *worker(void *arg)
{
	struct qsync *s = arg;

	pthread_mutex_lock(&s->mu);
	for (;;) {
		while (s->done == s->want && !s->stop)
			pthread_cond_wait(&s->cv, &s->mu);
		if (s->done == s->want && s->stop)
			break;
		uint64_t target = s->want;
		pthread_mutex_unlock(&s->mu);
		int rc = store_wal_sync(s->path), e = errno;
		pthread_mutex_lock(&s->mu);
		if (rc < 0)
			s->err = e;
		s->done = target;
		pthread_cond_broadcast(&s->done_cv);
		uint64_t one = 1;
		if (write(s->efd, &one, sizeof(one)) < 0 && errno != EAGAIN)
			bug("eventfd write failed");
	}
	pthread_mutex_unlock(&s->mu);
	return NULL;
}

/* Acts on what became durable: the sessions waiting for it go on. */
static void hand_back(struct queue *q)
{
	struct qsync *s = q->sync;
	uint64_t done;
	int err;

	pthread_mutex_lock(&s->mu);
	done = s->done;
	err = s->err;
	s->err = 0;
	pthread_mutex_unlock(&s->mu);
	if (err)
		log_err(NULL,
			"event=outcome-sync-failed error=\"%s\" effect=\"a power loss now "
			"could send those messages again\"",
			strerror(err));
	if (done != s->seen) {
		s->seen = done;
		queue_synced(q, done);
	}
}

static void on_done(struct evloop *ev, int fd, int events, void *arg)
{
	uint64_t v;

	(void)ev;
	(void)events;
	if (read(fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		bug("eventfd read failed");
	hand_back(arg);
}

int queue_sync_start(struct queue *q, const char *db_path)
{
	struct qsync *s = calloc(1, sizeof(*s));
	pthread_attr_t a;

	if (!s || !(s->path = strdup(db_path))) {
		free(s);
		return -1;
	}
	pthread_mutex_init(&s->mu, NULL);
	pthread_cond_init(&s->cv, NULL);
	pthread_cond_init(&s->done_cv, NULL);
	s->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (s->efd < 0 || ev_io_add(q->ev, s->efd, EV_READ, on_done, q) < 0)
		goto fail;
	pthread_attr_init(&a);
	pthread_attr_setstacksize(&a, 64 * 1024); /* it only calls fsync */
	if (pthread_create(&s->th, &a, worker, s) != 0) {
		pthread_attr_destroy(&a);
		ev_io_del(q->ev, s->efd);
		goto fail;
	}
	pthread_attr_destroy(&a);
	q->sync = s;
	return 0;
fail:
	if (s->efd >= 0)
		close(s->efd);
	free(s->path);
	free(s);
	return -1;
}

int queue_sync_async(struct queue *q)
{
	return q->sync != NULL;
}

uint64_t queue_sync_request(struct queue *q)
{
	struct qsync *s = q->sync;
	uint64_t seq;

	pthread_mutex_lock(&s->mu);
	seq = ++s->want;
	pthread_cond_signal(&s->cv);
	pthread_mutex_unlock(&s->mu);
	return seq;
}

void queue_sync_drain(struct queue *q)
{
	struct qsync *s = q->sync;

	if (!s)
		return;
	pthread_mutex_lock(&s->mu);
	while (s->done != s->want)
		pthread_cond_wait(&s->done_cv, &s->mu);
	pthread_mutex_unlock(&s->mu);
	hand_back(q);
}

void queue_sync_stop(struct queue *q)
{
	struct qsync *s = q->sync;

	if (!s)
		return;
	pthread_mutex_lock(&s->mu);
	s->stop = 1;
	pthread_cond_signal(&s->cv);
	pthread_mutex_unlock(&s->mu);
	pthread_join(s->th, NULL);
	ev_io_del(q->ev, s->efd);
	close(s->efd);
	pthread_mutex_destroy(&s->mu);
	pthread_cond_destroy(&s->cv);
	pthread_cond_destroy(&s->done_cv);
	free(s->path);
	free(s);
	q->sync = NULL;
}
