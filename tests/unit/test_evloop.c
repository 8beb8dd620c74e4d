/* lib/evloop and lib/authlimit. */
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "authlimit.h"
#include "buf.h"
#include "evloop.h"
#include "log.h"
#include "tap.h"

static struct buf order;

static void on_timer(struct evloop *ev, struct ev_timer *t, void *arg)
{
	(void)ev;
	(void)t;
	buf_puts(&order, arg);
}

static void on_stop(struct evloop *ev, struct ev_timer *t, void *arg)
{
	(void)t;
	(void)arg;
	ev_stop(ev);
}

static struct ev_timer *victim;

static void on_cancel_other(struct evloop *ev, struct ev_timer *t, void *arg)
{
	(void)ev;
	(void)t;
	(void)arg;
	buf_puts(&order, "C");
	ev_timer_disarm(victim);
}

/* which of the 200 timers fired, in firing order */
static int fire_order[200], nfired;

static void on_count(struct evloop *ev, struct ev_timer *t, void *arg)
{
	(void)ev;
	(void)t;
	if (nfired < 200)
		fire_order[nfired] = (int)(intptr_t)arg;
	nfired++;
}

static int io_reads;
static int hup_calls, hup_events;

static void on_hup(struct evloop *ev, int fd, int events, void *arg)
{
	(void)arg;
	hup_calls++;
	hup_events = events;
	ev_io_del(ev, fd);
	ev_stop(ev);
}

static void on_io(struct evloop *ev, int fd, int events, void *arg)
{
	char tmp[16];

	(void)arg;
	if (events & EV_READ) {
		if (read(fd, tmp, sizeof(tmp)) > 0)
			io_reads++;
		ev_io_del(ev, fd);
	}
}

static int got_signal;

static void on_sig(struct evloop *ev, int signo, void *arg)
{
	(void)arg;
	got_signal = signo;
	ev_stop(ev);
}

static void test_timers(void)
{
	struct evloop *ev = ev_new();
	struct ev_timer *t[6];
	static const char *const names[] = {"a", "b", "c", "d", "e", "f"};
	/* deadlines are taken when each timer is armed: 100 ms steps keep
	 * their order even when a loaded machine stalls the arming for tens
	 * of milliseconds (10 ms steps failed about 1 run in 30) */
	static const int delays[] = {300, 100, 200, 100, 500, 400};

	buf_init(&order, 256);
	for (int i = 0; i < 6; i++) {
		t[i] = ev_timer_new(ev, on_timer, (void *)names[i]);
		ev_timer_arm(t[i], (uint64_t)delays[i]);
	}
	ev_timer_disarm(t[5]);
	ok(!ev_timer_armed(t[5]) && ev_timer_armed(t[0]), "timers: armed state");
	ev_timer_arm(t[4], 50); /* re-arming moves it */
	struct ev_timer *stop = ev_timer_new(ev, on_stop, NULL);
	ev_timer_arm(stop, 800);
	uint64_t t0 = ev_clock_ms();
	ev_run(ev);
	uint64_t el = ev_clock_ms() - t0;
	/* b and d share a deadline: either order is right */
	ok(strcmp(buf_cstr(&order), "ebdca") == 0 || strcmp(buf_cstr(&order), "edbca") == 0,
	   "timers: fire in deadline order, disarmed one never");
	/* the lower bound is the behaviour (the loop waited for the stop
	 * timer); the upper one only catches a loop that hangs, generous
	 * because a loaded machine can delay the wake-up by seconds */
	ok(el >= 795 && el < 60000, "timers: ran at least as long as the stop timer");

	/* a callback that disarms a timer due in the same iteration */
	buf_reset(&order);
	struct ev_timer *canceller = ev_timer_new(ev, on_cancel_other, NULL);
	victim = t[0];
	ev_timer_arm(canceller, 1);
	ev_timer_arm(victim, 2);
	usleep(5000);
	ev_timer_arm(stop, 20);
	ev_run(ev);
	is_str(buf_cstr(&order), "C", "timers: disarmed from a callback does not fire");

	/* many timers keep the heap in order */
	buf_reset(&order);
	/* 200 timers (delays a permutation of 2, 4, ..., 400 ms: 7919 is prime to
	 * 200), every other one freed while armed: exactly the other 100
	 * fire, in the order of their deadlines (arming time + delay: a
	 * stall while arming on a loaded machine shifts them) */
	struct ev_timer *many[200];
	uint64_t due[200]; /* each deadline, read from the clock as it is armed */
	for (int i = 0; i < 200; i++) {
		many[i] = ev_timer_new(ev, on_count, (void *)(intptr_t)i);
		/* 2 ms apart, so the 1 ms slack below cannot hide a swap */
		due[i] = ev_clock_ms() + (uint64_t)(2 + 2 * ((i * 7919) % 200));
		ev_timer_arm(many[i], (uint64_t)(2 + 2 * ((i * 7919) % 200)));
	}
	for (int i = 0; i < 200; i += 2)
		ev_timer_free(many[i]);
	ev_timer_arm(stop, 460);
	ev_run(ev);
	int odd = 1, sorted = 1;
	for (int k = 0; k < nfired && k < 200; k++) {
		odd &= fire_order[k] % 2 == 1;
		/* the clock may tick between reading it and arming: 1 ms slack */
		if (k > 0)
			sorted &= due[fire_order[k]] + 1 >= due[fire_order[k - 1]];
	}
	is_int(nfired, 100, "timers: the 100 still armed fired, none of the freed");
	ok(odd && sorted, "timers: only armed ones, in deadline order");
	for (int i = 1; i < 200; i += 2)
		ev_timer_free(many[i]);

	for (int i = 0; i < 6; i++)
		ev_timer_free(t[i]);
	ev_timer_free(stop);
	ev_timer_free(canceller);

	/* descriptors and signals */
	int p[2];
	if (pipe(p) == 0) {
		ev_io_add(ev, p[0], EV_READ, on_io, NULL);
		if (write(p[1], "x", 1) != 1)
			ok(0, "pipe write");
		struct ev_timer *st2 = ev_timer_new(ev, on_stop, NULL);
		ev_timer_arm(st2, 50);
		ev_run(ev);
		is_int(io_reads, 1, "io: read callback ran once, then removed itself");
		ev_timer_free(st2);
		close(p[0]);
		close(p[1]);
	}
	/* EV_HANGUP alone: input does not wake the watcher, the peer's
	 * shutdown does, as a hang-up and not as input */
	int sp[2];
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sp) == 0) {
		ev_io_add(ev, sp[0], EV_HANGUP, on_hup, NULL);
		if (write(sp[1], "data", 4) != 4)
			ok(0, "socketpair write");
		struct ev_timer *st3 = ev_timer_new(ev, on_stop, NULL);
		ev_timer_arm(st3, 50);
		ev_run(ev);
		is_int(hup_calls, 0, "io: EV_HANGUP alone is not woken by input");
		shutdown(sp[1], SHUT_WR);
		ev_run(ev); /* on_hup stops the loop */
		is_int(hup_calls, 1, "io: EV_HANGUP reports the peer's shutdown once");
		is_int(hup_events, EV_HANGUP, "io: ... as a hang-up only, not as input");
		ev_timer_free(st3);
		close(sp[0]);
		close(sp[1]);
	}
	ev_signal_add(ev, SIGUSR1, on_sig, NULL);
	kill(getpid(), SIGUSR1);
	ev_run(ev);
	is_int(got_signal, SIGUSR1, "signals: delivered through the loop");
	ev_free(ev);
	buf_free(&order);
}

static void test_authlimit(void)
{
	struct authlimit_conf conf;
	struct authlimit *al;
	uint64_t now = 1000000;

	authlimit_conf_default(&conf);
	conf.max_failures = 6;
	conf.max_entries = 64;
	al = authlimit_new(&conf);
	is_int(authlimit_check(al, "192.0.2.1", "a@x", now), 0, "authlimit: clean start");
	authlimit_fail(al, "192.0.2.1", "a@x", now);
	authlimit_fail(al, "192.0.2.1", "a@x", now);
	is_int(authlimit_check(al, "192.0.2.1", "a@x", now), 0, "authlimit: free failures");
	authlimit_fail(al, "192.0.2.1", "a@x", now);
	int64_t d1 = authlimit_check(al, "192.0.2.1", NULL, now);
	authlimit_fail(al, "192.0.2.1", "a@x", now);
	int64_t d2 = authlimit_check(al, "192.0.2.1", NULL, now);
	ok(d1 > 0 && d2 > d1, "authlimit: delay grows");
	ok(authlimit_check(al, "198.51.100.7", "A@X", now) > 0,
	   "authlimit: the account is slowed from another address too (case-insensitive)");
	is_int(authlimit_check(al, "198.51.100.7", "b@x", now), 0,
	       "authlimit: other accounts from other addresses unaffected");
	authlimit_fail(al, "192.0.2.1", NULL, now);
	authlimit_fail(al, "192.0.2.1", NULL, now);
	is_int(authlimit_check(al, "192.0.2.1", NULL, now), -1,
	       "authlimit: refused past the limit");
	is_int(authlimit_check(al, "192.0.2.1", NULL, now + conf.refuse_ms + 1), 0,
	       "authlimit: refusal ends");
	authlimit_fail(al, "203.0.113.9", "c@x", now);
	authlimit_fail(al, "203.0.113.9", "c@x", now);
	authlimit_fail(al, "203.0.113.9", "c@x", now);
	authlimit_success(al, "203.0.113.9", "c@x");
	is_int(authlimit_check(al, "203.0.113.9", "c@x", now), 0, "authlimit: success forgets");
	/* a flood of addresses stays within the table: the oldest are
	 * forgotten, the newest still slowed */
	char ip[32];
	for (int i = 0; i < 10000; i++) {
		snprintf(ip, sizeof(ip), "10.%d.%d.%d", i >> 16, (i >> 8) & 255, i & 255);
		for (int k = 0; k < 3; k++)
			authlimit_fail(al, ip, NULL, now + (uint64_t)i);
	}
	is_int(authlimit_check(al, "10.0.0.0", NULL, now + 10000), 0,
	       "authlimit: 10000 addresses in a 64-entry table: the first is forgotten");
	snprintf(ip, sizeof(ip), "10.0.%d.%d", 9999 >> 8, 9999 & 255);
	ok(authlimit_check(al, ip, NULL, now + 10000) > 0, "authlimit: the last is still slowed");
	authlimit_free(al);
}

int main(void)
{
	log_init("test_evloop", LOG_LVL_ERR);
	test_timers();
	test_authlimit();
	return tap_done();
}
