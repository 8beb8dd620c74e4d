/*
 * One blocking job off the loop: libminiupnpc and libnatpmp's blocking
 * calls (SSDP discovery, SOAP over HTTP) run on a thread, and the loop
 * hears of the end through a pipe.  The job touches only its own memory;
 * the loop reads the results after the thread is joined.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "evloop.h"
#include "log.h"
#include "netwatch.h"

struct nw_worker {
	struct evloop *ev;
	pthread_t thread;
	int pipe[2];
	nw_work_fn work, done;
	void *arg;
};

static void *worker_main(void *arg)
{
	struct nw_worker *w = arg;
	char one = 1;

	w->work(w->arg);
	if (write(w->pipe[1], &one, 1) < 0)
		log_err(NULL, "event=worker-pipe error=\"%s\"", strerror(errno));
	return NULL;
}

static void worker_free(struct nw_worker *w)
{
	pthread_join(w->thread, NULL);
	ev_io_del(w->ev, w->pipe[0]);
	close(w->pipe[0]);
	close(w->pipe[1]);
	free(w);
}

static void worker_on_pipe(struct evloop *ev, int fd, int events, void *arg)
{
	struct nw_worker *w = arg;
	nw_work_fn done = w->done;
	void *darg = w->arg;
	char c;

	(void)ev;
	(void)events;
	if (read(fd, &c, 1) != 1)
		return;
	/* gone before done() runs: done() may free what arg points to */
	worker_free(w);
	done(darg);
}

struct nw_worker *nw_worker_start(struct evloop *ev, nw_work_fn work, nw_work_fn done, void *arg)
{
	struct nw_worker *w = calloc(1, sizeof(*w));

	if (!w)
		bug("out of memory");
	w->ev = ev;
	w->work = work;
	w->done = done;
	w->arg = arg;
	if (pipe2(w->pipe, O_CLOEXEC) < 0)
		bug("pipe: %s", strerror(errno));
	if (ev_io_add(ev, w->pipe[0], EV_READ, worker_on_pipe, w) < 0)
		bug("ev_io_add: %s", strerror(errno));
	if (pthread_create(&w->thread, NULL, worker_main, w) != 0)
		bug("pthread_create failed");
	return w;
}

void nw_worker_join(struct nw_worker *w)
{
	if (w)
		worker_free(w);
}
