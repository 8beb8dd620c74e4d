/*
 * Work off the event loop (work.h): one detached thread per job, the
 * finished job's pointer written to a pipe whose read end the loop
 * watches (a pointer is far below PIPE_BUF, so each write is whole).
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon.h"
#include "evloop.h"
#include "http.h"
#include "log.h"
#include "passwd.h"
#include "store.h"
#include "store_backup.h"
#include "work.h"

struct admin_work {
	struct admin *a;
	struct req *q; /* NULL once the request is gone */
	void (*fn)(struct admin_work *w);
	int result;
	/* password check */
	char pw[PASSWD_MAX + 1];
	char hash[PASSWD_HASH_MAX];
	/* backup */
	char db[4200], path[4200], err[256];
};

static int done_pipe[2] = {-1, -1};
static void do_backup(struct admin_work *w);
static int in_flight;

static void *work_thread(void *arg)
{
	struct admin_work *w = arg;
	ssize_t n;

	w->fn(w);
	while ((n = write(done_pipe[1], &w, sizeof(w))) < 0 && errno == EINTR)
		;
	if (n != (ssize_t)sizeof(w))
		bug("event=work-pipe-write-failed");
	return NULL;
}

/* On the loop: the finished jobs come back. */
static void on_done(struct evloop *ev, int fd, int events, void *arg)
{
	struct admin_work *w;

	(void)ev;
	(void)events;
	(void)arg;
	while (read(fd, &w, sizeof(w)) == (ssize_t)sizeof(w)) {
		struct req *q = w->q;

		in_flight--;
		if (w->fn == do_backup && w->result < 0)
			log_err(NULL, "event=backup-failed error=\"%s\"", w->err);
		/* nobody will download it: leave nothing behind */
		if (w->fn == do_backup && !q)
			unlink(w->path);
		if (q) {
			q->work = NULL;
			q->work_state = 2;
			q->work_result = w->result;
			/* at a stop admin_http_free has woken it already */
			if (!w->a->stopping)
				admin_http_resume(q);
		}
		explicit_bzero(w->pw, sizeof(w->pw));
		free(w);
	}
}

static int work_start(struct admin *a, struct req *q, struct admin_work *w)
{
	pthread_t t;
	pthread_attr_t at;
	int rc;

	if (done_pipe[0] < 0) {
		if (pipe2(done_pipe, O_CLOEXEC) < 0 ||
		    fcntl(done_pipe[0], F_SETFL, O_NONBLOCK) < 0 ||
		    ev_io_add(a->ev, done_pipe[0], EV_READ, on_done, NULL) < 0)
			fatal("event=work-pipe-failed error=\"%s\"", strerror(errno));
	}
	if (in_flight >= ADMIN_WORK_MAX) {
		log_warn(NULL, "event=work-refused reason=busy jobs=%d", in_flight);
		return -1;
	}
	w->a = a;
	w->q = q;
	pthread_attr_init(&at);
	pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
	/* yescrypt runs in a child process: the thread itself needs little */
	pthread_attr_setstacksize(&at, 256 * 1024);
	rc = pthread_create(&t, &at, work_thread, w);
	pthread_attr_destroy(&at);
	if (rc != 0) {
		log_err(NULL, "event=work-thread-failed error=\"%s\"", strerror(rc));
		return -1;
	}
	in_flight++;
	q->work = w;
	q->work_state = 1;
	return 0;
}

static void do_pwcheck(struct admin_work *w)
{
	w->result = passwd_verify(w->pw, w->hash);
	explicit_bzero(w->pw, sizeof(w->pw));
}

int admin_work_pwcheck(struct admin *a, struct req *q, const char *pw, const char *hash)
{
	struct admin_work *w = calloc(1, sizeof(*w));

	if (!w)
		return -1;
	w->fn = do_pwcheck;
	/* passwd_verify refuses what is too long; so does a cut copy */
	if (strlen(pw) > PASSWD_MAX || strlen(hash) >= sizeof(w->hash)) {
		free(w);
		return -1;
	}
	memcpy(w->pw, pw, strlen(pw) + 1);
	memcpy(w->hash, hash, strlen(hash) + 1);
	if (work_start(a, q, w) < 0) {
		explicit_bzero(w->pw, sizeof(w->pw));
		free(w);
		return -1;
	}
	return 0;
}

/* Its own handle: the loop's belongs to the loop thread. */
static void do_backup(struct admin_work *w)
{
	struct store *st = NULL;

	w->result = -1;
	if (store_open(w->db, &st, w->err, sizeof(w->err)) < 0)
		return;
	if (store_backup(st, w->path) == 0)
		w->result = 0;
	else
		snprintf(w->err, sizeof(w->err), "%s", store_errmsg(st));
	store_close(st);
}

int admin_work_backup(struct admin *a, struct req *q, const char *path)
{
	struct admin_work *w = calloc(1, sizeof(*w));

	if (!w)
		return -1;
	w->fn = do_backup;
	if ((size_t)snprintf(w->db, sizeof(w->db), "%s", daemon_db_path(a->d)) >= sizeof(w->db) ||
	    (size_t)snprintf(w->path, sizeof(w->path), "%s", path) >= sizeof(w->path) ||
	    work_start(a, q, w) < 0) {
		free(w);
		return -1;
	}
	return 0;
}

void admin_work_forget(struct req *q)
{
	if (q->work)
		q->work->q = NULL;
	q->work = NULL;
}
