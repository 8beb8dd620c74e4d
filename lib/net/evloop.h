#ifndef LOFT_EVLOOP_H
#define LOFT_EVLOOP_H
/*
 * The event loop every daemon runs: epoll for descriptors, a binary heap of
 * timers, signalfd for signals.  Single-threaded; callbacks may add and
 * remove descriptors and timers freely, including their own.
 */
#include <stdint.h>

struct evloop;
struct ev_timer;

/* EV_HANGUP alone watches for the peer's end without reading: a conn
 * that has paused its input still learns that its client went away. */
enum { EV_READ = 1, EV_WRITE = 2, EV_HANGUP = 4 };

typedef void (*ev_io_fn)(struct evloop *ev, int fd, int events, void *arg);
typedef void (*ev_timer_fn)(struct evloop *ev, struct ev_timer *t, void *arg);
typedef void (*ev_signal_fn)(struct evloop *ev, int signo, void *arg);

/* Returns a new loop, or NULL with errno set. */
struct evloop *ev_new(void);
/* Frees the loop; descriptors are not closed, timers are freed. */
void ev_free(struct evloop *ev);

/* Watches fd for events (EV_READ|EV_WRITE|EV_HANGUP, may be 0).  Errors
 * and hang-ups are always reported, as EV_READ|EV_WRITE|EV_HANGUP; the
 * peer's shutdown of its sending side (FIN) is reported as EV_HANGUP when
 * EV_HANGUP or EV_READ is watched (with EV_READ too when EV_READ is).
 * Returns 0 or -1 with errno set. */
int ev_io_add(struct evloop *ev, int fd, int events, ev_io_fn fn, void *arg);
/* Changes what fd is watched for.  Returns 0 or -1. */
int ev_io_set(struct evloop *ev, int fd, int events);
/* Stops watching fd (call before closing it). */
void ev_io_del(struct evloop *ev, int fd);

/* A disarmed timer; fires once per arming.  Aborts on out of memory. */
struct ev_timer *ev_timer_new(struct evloop *ev, ev_timer_fn fn, void *arg);
/* (Re)arms t to fire ms milliseconds from now. */
void ev_timer_arm(struct ev_timer *t, uint64_t ms);
void ev_timer_disarm(struct ev_timer *t);
int ev_timer_armed(const struct ev_timer *t);
/* Disarms and frees; NULL is allowed. */
void ev_timer_free(struct ev_timer *t);

/* Delivers signo through the loop (it is blocked for normal delivery).
 * Returns 0 or -1. */
int ev_signal_add(struct evloop *ev, int signo, ev_signal_fn fn, void *arg);

/* Runs until ev_stop.  Returns 0, or -1 if epoll failed. */
int ev_run(struct evloop *ev);
void ev_stop(struct evloop *ev);
/* Monotonic clock in milliseconds, read at the start of this iteration. */
uint64_t ev_now(struct evloop *ev);
/* Monotonic clock in milliseconds, read now. */
uint64_t ev_clock_ms(void);

#endif
