#include "evloop.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include "array.h"
#include "log.h"

struct ev_io {
	ev_io_fn fn;
	void *arg;
	uint32_t gen;
	int events;
};

struct ev_timer {
	struct evloop *ev;
	ev_timer_fn fn;
	void *arg;
	uint64_t when;
	size_t idx; /* position in the heap, SIZE_MAX when disarmed */
};

struct ev_sig {
	int signo;
	ev_signal_fn fn;
	void *arg;
};

struct evloop {
	int epfd;
	int running;
	uint64_t now;
	struct ev_io *ios;
	size_t nios;
	uint32_t gen;
	struct ev_timer **heap;
	size_t nheap, capheap;
	int sigfd;
	sigset_t sigmask;
	struct ev_sig sigs[16];
	int nsigs;
};

uint64_t ev_clock_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

struct evloop *ev_new(void)
{
	struct evloop *ev = calloc(1, sizeof(*ev));

	if (!ev)
		return NULL;
	ev->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (ev->epfd < 0) {
		free(ev);
		return NULL;
	}
	ev->sigfd = -1;
	sigemptyset(&ev->sigmask);
	ev->now = ev_clock_ms();
	return ev;
}

void ev_free(struct evloop *ev)
{
	if (!ev)
		return;
	for (size_t i = 0; i < ev->nheap; i++)
		ev->heap[i]->idx = SIZE_MAX;
	free(ev->heap);
	free(ev->ios);
	if (ev->sigfd >= 0)
		close(ev->sigfd);
	close(ev->epfd);
	free(ev);
}

static uint32_t ev_mask(int events)
{
	uint32_t m = 0;

	if (events & EV_READ)
		m |= EPOLLIN | EPOLLRDHUP;
	if (events & EV_HANGUP)
		m |= EPOLLRDHUP;
	if (events & EV_WRITE)
		m |= EPOLLOUT;
	return m;
}

static int ev_io_ctl(struct evloop *ev, int op, int fd, int events)
{
	struct epoll_event ee;

	memset(&ee, 0, sizeof(ee));
	ee.events = ev_mask(events);
	ee.data.u64 = ((uint64_t)ev->ios[fd].gen << 32) | (uint32_t)fd;
	return epoll_ctl(ev->epfd, op, fd, &ee);
}

int ev_io_add(struct evloop *ev, int fd, int events, ev_io_fn fn, void *arg)
{
	if (fd < 0) {
		errno = EBADF;
		return -1;
	}
	if ((size_t)fd >= ev->nios) {
		size_t old = ev->nios;

		if (ARRAY_GROW(ev->ios, ev->nios, (size_t)fd + 1, 64) < 0)
			return -1;
		memset(ev->ios + old, 0, (ev->nios - old) * sizeof(*ev->ios));
	}
	ev->ios[fd].fn = fn;
	ev->ios[fd].arg = arg;
	ev->ios[fd].gen = ++ev->gen;
	ev->ios[fd].events = events;
	if (ev_io_ctl(ev, EPOLL_CTL_ADD, fd, events) < 0) {
		ev->ios[fd].fn = NULL;
		return -1;
	}
	return 0;
}

int ev_io_set(struct evloop *ev, int fd, int events)
{
	if (fd < 0 || (size_t)fd >= ev->nios || !ev->ios[fd].fn) {
		errno = EBADF;
		return -1;
	}
	if (ev->ios[fd].events == events)
		return 0;
	ev->ios[fd].events = events;
	return ev_io_ctl(ev, EPOLL_CTL_MOD, fd, events);
}

void ev_io_del(struct evloop *ev, int fd)
{
	if (fd < 0 || (size_t)fd >= ev->nios || !ev->ios[fd].fn)
		return;
	epoll_ctl(ev->epfd, EPOLL_CTL_DEL, fd, NULL);
	ev->ios[fd].fn = NULL;
	ev->ios[fd].gen = ++ev->gen;
}

/* --- timers: a binary min-heap on `when` --- */

static void heap_swap(struct evloop *ev, size_t a, size_t b)
{
	struct ev_timer *t = ev->heap[a];

	ev->heap[a] = ev->heap[b];
	ev->heap[b] = t;
	ev->heap[a]->idx = a;
	ev->heap[b]->idx = b;
}

static void heap_up(struct evloop *ev, size_t i)
{
	while (i > 0) {
		size_t p = (i - 1) / 2;
		if (ev->heap[p]->when <= ev->heap[i]->when)
			break;
		heap_swap(ev, p, i);
		i = p;
	}
}

static void heap_down(struct evloop *ev, size_t i)
{
	for (;;) {
		size_t l = 2 * i + 1, r = l + 1, m = i;
		if (l < ev->nheap && ev->heap[l]->when < ev->heap[m]->when)
			m = l;
		if (r < ev->nheap && ev->heap[r]->when < ev->heap[m]->when)
			m = r;
		if (m == i)
			break;
		heap_swap(ev, i, m);
		i = m;
	}
}

struct ev_timer *ev_timer_new(struct evloop *ev, ev_timer_fn fn, void *arg)
{
	struct ev_timer *t = calloc(1, sizeof(*t));

	if (!t)
		bug("out of memory");
	t->ev = ev;
	t->fn = fn;
	t->arg = arg;
	t->idx = SIZE_MAX;
	return t;
}

void ev_timer_disarm(struct ev_timer *t)
{
	struct evloop *ev = t->ev;
	size_t i = t->idx;

	if (i == SIZE_MAX)
		return;
	t->idx = SIZE_MAX;
	ev->nheap--;
	if (i == ev->nheap)
		return;
	ev->heap[i] = ev->heap[ev->nheap];
	ev->heap[i]->idx = i;
	heap_down(ev, i);
	heap_up(ev, i);
}

void ev_timer_arm(struct ev_timer *t, uint64_t ms)
{
	struct evloop *ev = t->ev;

	ev_timer_disarm(t);
	if (ARRAY_GROW(ev->heap, ev->capheap, ev->nheap + 1, 32) < 0)
		bug("out of memory");
	t->when = ev_clock_ms() + ms;
	t->idx = ev->nheap;
	ev->heap[ev->nheap++] = t;
	heap_up(ev, t->idx);
}

int ev_timer_armed(const struct ev_timer *t)
{
	return t->idx != SIZE_MAX;
}

void ev_timer_free(struct ev_timer *t)
{
	if (!t)
		return;
	ev_timer_disarm(t);
	free(t);
}

/* --- signals --- */

int ev_signal_add(struct evloop *ev, int signo, ev_signal_fn fn, void *arg)
{
	if (ev->nsigs == (int)(sizeof(ev->sigs) / sizeof(ev->sigs[0]))) {
		errno = ENOSPC;
		return -1;
	}
	sigaddset(&ev->sigmask, signo);
	if (sigprocmask(SIG_BLOCK, &ev->sigmask, NULL) < 0)
		return -1;
	int fd = signalfd(ev->sigfd, &ev->sigmask, SFD_NONBLOCK | SFD_CLOEXEC);
	if (fd < 0)
		return -1;
	ev->sigs[ev->nsigs].signo = signo;
	ev->sigs[ev->nsigs].fn = fn;
	ev->sigs[ev->nsigs].arg = arg;
	ev->nsigs++;
	if (ev->sigfd < 0) {
		ev->sigfd = fd;
		struct epoll_event ee = {.events = EPOLLIN, .data.u64 = UINT64_MAX};
		if (epoll_ctl(ev->epfd, EPOLL_CTL_ADD, fd, &ee) < 0)
			return -1;
	}
	return 0;
}

static void ev_signals(struct evloop *ev)
{
	struct signalfd_siginfo si;

	while (read(ev->sigfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
		for (int i = 0; i < ev->nsigs; i++)
			if (ev->sigs[i].signo == (int)si.ssi_signo)
				ev->sigs[i].fn(ev, (int)si.ssi_signo, ev->sigs[i].arg);
	}
}

/* --- the loop --- */

void ev_stop(struct evloop *ev)
{
	ev->running = 0;
}

uint64_t ev_now(struct evloop *ev)
{
	return ev->now;
}

int ev_run(struct evloop *ev)
{
	struct epoll_event evs[64];

	ev->running = 1;
	while (ev->running) {
		int timeout = -1, n;

		ev->now = ev_clock_ms();
		while (ev->nheap > 0 && ev->heap[0]->when <= ev->now) {
			struct ev_timer *t = ev->heap[0];
			ev_timer_disarm(t);
			t->fn(ev, t, t->arg);
			if (!ev->running)
				return 0;
		}
		if (ev->nheap > 0) {
			uint64_t d = ev->heap[0]->when - ev->now;
			timeout = d > 60000 ? 60000 : (int)d;
		}
		n = epoll_wait(ev->epfd, evs, 64, timeout);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		ev->now = ev_clock_ms();
		for (int i = 0; i < n && ev->running; i++) {
			uint64_t d = evs[i].data.u64;
			if (d == UINT64_MAX) {
				ev_signals(ev);
				continue;
			}
			int fd = (int)(uint32_t)d;
			uint32_t gen = (uint32_t)(d >> 32);
			/* a callback earlier in this batch may have removed it */
			if ((size_t)fd >= ev->nios || !ev->ios[fd].fn || ev->ios[fd].gen != gen)
				continue;
			int e = 0, want = ev->ios[fd].events;
			/* EPOLLRDHUP is on for EV_HANGUP alone: it is input only
			 * for a caller that reads */
			if ((evs[i].events & EPOLLIN) ||
			    ((evs[i].events & EPOLLRDHUP) && (want & EV_READ)))
				e |= EV_READ;
			if (evs[i].events & EPOLLRDHUP)
				e |= EV_HANGUP;
			if (evs[i].events & EPOLLOUT)
				e |= EV_WRITE;
			if (evs[i].events & (EPOLLERR | EPOLLHUP))
				e |= EV_READ | EV_WRITE | EV_HANGUP;
			ev->ios[fd].fn(ev, fd, e, ev->ios[fd].arg);
		}
	}
	return 0;
}
