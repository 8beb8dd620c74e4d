/*
 * DKIM's RSA operation off the event loop: a few worker threads take
 * sign requests (a PEM key and a 32-byte hash), sign, and hand the result
 * back through an eventfd the loop watches.  The loop hashes the message
 * itself (it reads the store); a thread touches nothing but its request,
 * so a slow signature never holds up the other sessions, and a board's
 * other cores do the signing.
 */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "dkim.h"
#include "evloop.h"
#include "log.h"
#include "queue.h"

#define SIGN_MAX_THREADS 8

struct signer {
	pthread_mutex_t mu;
	pthread_cond_t cv, done_cv;
	struct sign_req *todo, *todo_tail, *done;
	unsigned inflight; /* submitted, not yet handed back (loop only) */
	int efd;
	int stop;
	unsigned n;
	pthread_t th[SIGN_MAX_THREADS];
};

static void *worker(void *arg)
{
	struct signer *s = arg;

	for (;;) {
		struct sign_req *r;
		uint64_t one = 1;

		pthread_mutex_lock(&s->mu);
		while (!s->todo && !s->stop)
			pthread_cond_wait(&s->cv, &s->mu);
		if (s->stop) {
			pthread_mutex_unlock(&s->mu);
			dkim_thread_done(); /* its kept keys, wiped */
			return NULL;
		}
		r = s->todo;
		s->todo = r->next;
		if (!s->todo)
			s->todo_tail = NULL;
		pthread_mutex_unlock(&s->mu);

		if (dkim_sign_rsa(r->pem, r->hash, &r->sig, r->err, sizeof(r->err)) < 0)
			r->sig = NULL;

		pthread_mutex_lock(&s->mu);
		r->next = s->done;
		s->done = r;
		pthread_cond_signal(&s->done_cv);
		pthread_mutex_unlock(&s->mu);
		if (write(s->efd, &one, sizeof(one)) < 0 && errno != EAGAIN)
			bug("eventfd write failed");
	}
}

/* Hands the finished requests back, oldest first. */
static void hand_back(struct signer *s)
{
	struct sign_req *list, *r, *next, *rev = NULL;

	pthread_mutex_lock(&s->mu);
	list = s->done;
	s->done = NULL;
	pthread_mutex_unlock(&s->mu);
	for (r = list; r; r = next) {
		next = r->next;
		r->next = rev;
		rev = r;
	}
	for (r = rev; r; r = next) {
		next = r->next;
		s->inflight--;
		r->done(r);
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

void queue_sign_drain(struct queue *q)
{
	struct signer *s = q->signer;

	while (s && s->inflight > 0) {
		pthread_mutex_lock(&s->mu);
		while (!s->done)
			pthread_cond_wait(&s->done_cv, &s->mu);
		pthread_mutex_unlock(&s->mu);
		hand_back(s);
	}
}

int queue_sign_start(struct queue *q, unsigned n)
{
	struct signer *s;

	if (n == 0)
		return 0;
	if (n > SIGN_MAX_THREADS)
		n = SIGN_MAX_THREADS;
	s = calloc(1, sizeof(*s));
	if (!s)
		return -1;
	pthread_mutex_init(&s->mu, NULL);
	pthread_cond_init(&s->cv, NULL);
	pthread_cond_init(&s->done_cv, NULL);
	s->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (s->efd < 0 || ev_io_add(q->ev, s->efd, EV_READ, on_done, s) < 0) {
		free(s);
		return -1;
	}
	for (unsigned i = 0; i < n; i++) {
		pthread_attr_t a;
		pthread_attr_init(&a);
		/* RSA needs little stack; the default 8 MB would only be address space */
		pthread_attr_setstacksize(&a, 256 * 1024);
		if (pthread_create(&s->th[i], &a, worker, s) != 0) {
			pthread_attr_destroy(&a);
			break;
		}
		pthread_attr_destroy(&a);
		s->n++;
	}
	if (s->n == 0) {
		ev_io_del(q->ev, s->efd);
		close(s->efd);
		free(s);
		return -1;
	}
	q->signer = s;
	return 0;
}

int queue_sign_async(struct queue *q)
{
	return q->signer != NULL;
}

void queue_sign_submit(struct queue *q, struct sign_req *r)
{
	struct signer *s = q->signer;

	r->next = NULL;
	s->inflight++;
	pthread_mutex_lock(&s->mu);
	if (s->todo_tail)
		s->todo_tail->next = r;
	else
		s->todo = r;
	s->todo_tail = r;
	pthread_cond_signal(&s->cv);
	pthread_mutex_unlock(&s->mu);
}

void queue_sign_stop(struct queue *q)
{
	struct signer *s = q->signer;
	struct sign_req *r, *next;

	if (!s)
		return;
	pthread_mutex_lock(&s->mu);
	s->stop = 1;
	pthread_cond_broadcast(&s->cv);
	pthread_mutex_unlock(&s->mu);
	for (unsigned i = 0; i < s->n; i++)
		pthread_join(s->th[i], NULL);
	/* requests never answered: their jobs end with the process */
	for (r = s->todo; r; r = next) {
		next = r->next;
		queue_sign_req_free(r);
	}
	for (r = s->done; r; r = next) {
		next = r->next;
		queue_sign_req_free(r);
	}
	ev_io_del(q->ev, s->efd);
	close(s->efd);
	pthread_mutex_destroy(&s->mu);
	pthread_cond_destroy(&s->cv);
	pthread_cond_destroy(&s->done_cv);
	free(s);
	q->signer = NULL;
}

void queue_sign_req_free(struct sign_req *r)
{
	if (!r)
		return;
	if (r->pem) {
		explicit_bzero(r->pem, strlen(r->pem));
		free(r->pem);
	}
	free(r->sig);
	free(r);
}
