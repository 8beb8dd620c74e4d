/*
 * loftd's ring of its children's log lines (logring.h).
 */
#include "logring.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "evloop.h"
#include "log.h"

/* A line longer than this is cut in pieces (log.c writes at most 2 KiB
 * per line, so only a foreign writer gets there). */
#define PIPE_LINE_MAX 4096

struct logpipe {
	int fd;
	size_t len;
	char buf[PIPE_LINE_MAX];
	struct logpipe *next;
};

static struct evloop *lr_ev;
static char lr_path[4200];
static struct ev_timer *lr_timer;
static char lr_ring[LOGRING_LINES][LOGRING_LINE_MAX];
static unsigned long lr_total; /* lines kept so far; the next goes at % LINES */
static struct logpipe *lr_pipes;

static void ring_save(void)
{
	char tmp[4300];
	unsigned long first = lr_total > LOGRING_LINES ? lr_total - LOGRING_LINES : 0;
	FILE *f;
	int fd;

	if (!lr_path[0])
		return;
	snprintf(tmp, sizeof(tmp), "%s.tmp", lr_path);
	unlink(tmp);
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (fd < 0 || !(f = fdopen(fd, "w"))) {
		if (fd >= 0)
			close(fd);
		return;
	}
	for (unsigned long i = first; i < lr_total; i++)
		fprintf(f, "%s\n", lr_ring[i % LOGRING_LINES]);
	if (fclose(f) != 0 || rename(tmp, lr_path) < 0)
		unlink(tmp);
}

static void on_save(struct evloop *ev, struct ev_timer *t, void *arg)
{
	(void)ev;
	(void)t;
	(void)arg;
	ring_save();
}

/* One line (without its newline) from a child. */
static void one_line(const char *s, size_t n)
{
	char *slot;

	/* journald's "<N>" priority prefix (log.c writes it under systemd) */
	if (n >= 3 && s[0] == '<' && s[2] == '>') {
		s += 3;
		n -= 3;
	}
	if (memmem(s, n, "level=debug ", 12))
		return;
	slot = lr_ring[lr_total++ % LOGRING_LINES];
	if (n < LOGRING_LINE_MAX) {
		memcpy(slot, s, n);
		slot[n] = '\0';
	} else {
		memcpy(slot, s, LOGRING_LINE_MAX - 4);
		memcpy(slot + LOGRING_LINE_MAX - 4, "...", 4);
	}
	/* no control characters into the file (a line is one line) */
	for (char *p = slot; *p; p++)
		if ((unsigned char)*p < ' ')
			*p = ' ';
	if (lr_timer && !ev_timer_armed(lr_timer))
		ev_timer_arm(lr_timer, 500);
}

static void pipe_close(struct logpipe *p)
{
	struct logpipe **pp;

	if (p->len)
		one_line(p->buf, p->len);
	ev_io_del(lr_ev, p->fd);
	close(p->fd);
	for (pp = &lr_pipes; *pp && *pp != p; pp = &(*pp)->next)
		;
	if (*pp)
		*pp = p->next;
	free(p);
}

static void pipe_drain(struct logpipe *p)
{
	for (;;) {
		ssize_t r = read(p->fd, p->buf + p->len, sizeof(p->buf) - p->len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (r <= 0) {
			pipe_close(p);
			return;
		}
		p->len += (size_t)r;
		char *start = p->buf, *nl;
		while ((nl = memchr(start, '\n', p->len - (size_t)(start - p->buf)))) {
			one_line(start, (size_t)(nl - start));
			start = nl + 1;
		}
		p->len -= (size_t)(start - p->buf);
		memmove(p->buf, start, p->len);
		if (p->len == sizeof(p->buf)) {
			one_line(p->buf, p->len);
			p->len = 0;
		}
	}
}

static void on_readable(struct evloop *ev, int fd, int events, void *arg)
{
	(void)ev;
	(void)fd;
	(void)events;
	pipe_drain(arg);
}

void logring_drain_all(void)
{
	for (struct logpipe *p = lr_pipes, *next; p; p = next) {
		next = p->next;
		pipe_drain(p);
	}
}

void logring_init(struct evloop *ev, const char *path)
{
	lr_ev = ev;
	snprintf(lr_path, sizeof(lr_path), "%s", path);
	lr_timer = ev_timer_new(ev, on_save, NULL);
}

int logring_watch(int fd)
{
	struct logpipe *p = calloc(1, sizeof(*p));

	if (!p)
		bug("out of memory");
	p->fd = fd;
	fcntl(fd, F_SETFL, O_NONBLOCK);
	if (ev_io_add(lr_ev, fd, EV_READ, on_readable, p) < 0) {
		log_err(NULL, "event=log-pipe-failed error=\"%s\"", strerror(errno));
		close(fd);
		free(p);
		return -1;
	}
	p->next = lr_pipes;
	lr_pipes = p;
	return 0;
}

void logring_finish(void)
{
	while (lr_pipes) {
		struct logpipe *p = lr_pipes;
		pipe_drain(p);
		/* still open (a grandchild holds it): stop watching */
		if (lr_pipes == p)
			pipe_close(p);
	}
	ring_save();
	ev_timer_free(lr_timer);
	lr_timer = NULL;
}
