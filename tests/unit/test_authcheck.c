/*
 * Tests for lib/authcheck.c: password checks on worker threads with their
 * results handed back to the event loop.  A real mailstore in a temporary
 * directory, real yescrypt hashes, a real loop.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "authcheck.h"
#include "evloop.h"
#include "log.h"
#include "store.h"
#include "store_users.h"
#include "tap.h"

#define NRES 512

static struct evloop *ev;
static struct ev_timer *guard;
static int timed_out;
static pthread_t loop_thread;
static int in_submit;
static int64_t alice_id, bob_id;

/* One expected answer per job; the callback fills it. */
struct res {
	int calls;
	int result;
	int64_t user_id;
	int wrong_thread; /* done() ran off the loop thread or inside submit */
};
static struct res res[NRES];
static int ndone, want_done;

static void on_done(void *arg, int result, int64_t user_id)
{
	struct res *r = arg;

	if (!pthread_equal(pthread_self(), loop_thread) || in_submit)
		r->wrong_thread = 1;
	r->calls++;
	r->result = result;
	r->user_id = user_id;
	ndone++;
	if (want_done && ndone >= want_done)
		ev_stop(ev);
}

static void on_guard(struct evloop *e, struct ev_timer *t, void *arg)
{
	(void)t;
	(void)arg;
	timed_out = 1;
	ev_stop(e);
}

/* Runs the loop until want callbacks have run in all (0: just for ms). */
static void run_until(int want, uint64_t ms)
{
	timed_out = 0;
	want_done = want;
	if (want && ndone >= want)
		return;
	ev_timer_arm(guard, ms);
	ev_run(ev);
	ev_timer_disarm(guard);
	want_done = 0;
}

static struct authcheck_job *submit(struct authcheck *ac, const char *a, const char *p, int i)
{
	struct authcheck_job *j;

	in_submit = 1;
	j = authcheck_submit(ac, a, p, on_done, &res[i]);
	in_submit = 0;
	return j;
}

static void reset(void)
{
	memset(res, 0, sizeof(res));
	ndone = 0;
}

static void sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}

/* Waits (without running the loop) until the pool's counts satisfy f. */
static int wait_stats(struct authcheck *ac, int (*f)(const struct authcheck_stats *), long ms)
{
	struct authcheck_stats s;

	for (long t = 0; t < ms; t++) {
		authcheck_stats(ac, &s);
		if (f(&s))
			return 1;
		sleep_ms(1);
	}
	return 0;
}

static int one_running(const struct authcheck_stats *s)
{
	return s->running == 1;
}
static int one_finished(const struct authcheck_stats *s)
{
	return s->finished == 1 && s->running == 0;
}
static int idle(const struct authcheck_stats *s)
{
	return s->queued == 0 && s->running == 0 && s->finished == 0;
}

static void test_results(struct authcheck *ac)
{
	char addr[64], pw[64];

	reset();
	/* the strings are copied: scribble over ours right after submit */
	snprintf(addr, sizeof(addr), "alice@example.org");
	snprintf(pw, sizeof(pw), "secret pw");
	ok(submit(ac, addr, pw, 0) != NULL, "submit right password");
	memset(addr, 'x', sizeof(addr) - 1);
	memset(pw, 'y', sizeof(pw) - 1);
	ok(submit(ac, "alice@example.org", "secret pX", 1) != NULL, "submit wrong password");
	ok(submit(ac, "nobody@example.org", "secret pw", 2) != NULL, "submit unknown user");
	ok(submit(ac, "ALICE@Example.ORG", "secret pw", 3) != NULL, "submit other case");
	ok(submit(ac, "no address at all", "secret pw", 4) != NULL, "submit malformed address");
	ok(submit(ac, "bob@example.org", "", 5) != NULL, "submit empty password");
	is_int(ndone, 0, "no callback inside submit");
	run_until(6, 10000);
	ok(!timed_out, "six answers arrived");
	is_int(res[0].result, 1, "right password: 1");
	ok(res[0].user_id == alice_id, "right password: alice's id");
	is_int(res[1].result, 0, "wrong password: 0");
	ok(res[1].user_id == 0, "wrong password: no id");
	is_int(res[2].result, 0, "unknown user: 0");
	is_int(res[3].result, 1, "address case ignored");
	is_int(res[4].result, 0, "malformed address: 0");
	is_int(res[5].result, 0, "empty password: 0");
	int calls_ok = 1, thread_ok = 1;
	for (int i = 0; i < 6; i++) {
		calls_ok &= res[i].calls == 1;
		thread_ok &= !res[i].wrong_thread;
	}
	ok(calls_ok, "each callback ran once");
	ok(thread_ok, "callbacks ran on the loop thread, outside submit");
	ok(authcheck_submit(ac, NULL, "x", on_done, NULL) == NULL, "NULL address refused");
	ok(authcheck_submit(ac, "a@b", NULL, on_done, NULL) == NULL, "NULL password refused");
	ok(authcheck_submit(ac, "a@b", "x", NULL, NULL) == NULL, "NULL callback refused");
}

static void test_many(struct authcheck *ac)
{
	int good = 1, once = 1;

	reset();
	for (int i = 0; i < 40; i++) {
		const char *a = i % 2 ? "bob@example.org" : "alice@example.org";
		const char *p = i % 3 ? (i % 2 ? "bob pw" : "secret pw") : "wrong";
		if (!submit(ac, a, p, i))
			good = 0;
	}
	ok(good, "40 jobs accepted");
	run_until(40, 30000);
	ok(!timed_out, "40 answers arrived");
	for (int i = 0; i < 40; i++) {
		int want = i % 3 ? 1 : 0;
		int64_t id = want ? (i % 2 ? bob_id : alice_id) : 0;
		if (res[i].result != want || res[i].user_id != id)
			good = 0;
		if (res[i].calls != 1 || res[i].wrong_thread)
			once = 0;
	}
	ok(good, "every concurrent answer matches its job");
	ok(once, "every callback once, on the loop thread");
}

static void test_cancel(struct authcheck *ac)
{
	struct authcheck_job *j[8];

	/* queued jobs: cancelled before any worker takes them */
	reset();
	for (int i = 0; i < 8; i++)
		j[i] = submit(ac, "alice@example.org", "secret pw", i);
	for (int i = 2; i < 8; i += 2)
		authcheck_cancel(j[i]);
	authcheck_cancel(NULL);
	run_until(5, 10000);
	run_until(0, 150); /* room for a stray callback */
	is_int(ndone, 5, "five of eight callbacks");
	ok(res[2].calls == 0 && res[4].calls == 0 && res[6].calls == 0,
	   "cancelled jobs never call back");
	ok(res[0].result == 1 && res[7].result == 1, "the others answered");

	/* a job cancelled while a worker checks it */
	reset();
	j[0] = submit(ac, "alice@example.org", "secret pw", 0);
	ok(wait_stats(ac, one_running, 5000), "job is running");
	authcheck_cancel(j[0]);
	ok(wait_stats(ac, idle, 5000), "the worker freed the cancelled job");
	run_until(0, 100);
	is_int(res[0].calls, 0, "cancelled while running: no callback");

	/* a job cancelled after the check, before the loop dispatched it */
	reset();
	j[0] = submit(ac, "alice@example.org", "secret pw", 0);
	ok(wait_stats(ac, one_finished, 5000), "job finished, not dispatched");
	authcheck_cancel(j[0]);
	run_until(0, 100);
	is_int(res[0].calls, 0, "cancelled after completion: no callback");
	ok(wait_stats(ac, idle, 100), "dispatcher freed it");
}

static struct authcheck_job *victim;
static void on_done_cancel(void *arg, int result, int64_t user_id)
{
	on_done(arg, result, user_id);
	authcheck_cancel(victim);
	victim = NULL;
}

static int two_finished(const struct authcheck_stats *s)
{
	return s->finished == 2;
}

static void test_cancel_from_callback(struct authcheck *ac)
{
	reset();
	in_submit = 1;
	struct authcheck_job *a =
	    authcheck_submit(ac, "alice@example.org", "secret pw", on_done_cancel, &res[0]);
	in_submit = 0;
	/* wait until the first is done before queueing the second, so the
	 * order of the finished list is known */
	ok(a && wait_stats(ac, one_finished, 5000), "first job finished");
	victim = submit(ac, "bob@example.org", "bob pw", 1);
	ok(wait_stats(ac, two_finished, 5000), "both finished, one batch");
	run_until(0, 100);
	ok(res[0].calls == 1 && res[1].calls == 0, "done() may cancel a job of its own batch");
	ok(wait_stats(ac, idle, 100), "both freed");
}

static void test_full(struct authcheck *ac)
{
	static struct authcheck_job *j[AUTHCHECK_MAX_JOBS];
	int all = 1;

	reset();
	for (int i = 0; i < AUTHCHECK_MAX_JOBS; i++)
		if (!(j[i] = submit(ac, "nobody@example.org", "pw", i)))
			all = 0;
	ok(all, "AUTHCHECK_MAX_JOBS jobs accepted");
	ok(submit(ac, "nobody@example.org", "pw", NRES - 1) == NULL, "one more: NULL (full)");
	authcheck_cancel(j[AUTHCHECK_MAX_JOBS - 1]);
	j[AUTHCHECK_MAX_JOBS - 1] = submit(ac, "nobody@example.org", "pw", NRES - 1);
	ok(j[AUTHCHECK_MAX_JOBS - 1] != NULL, "room again after a cancel");
	for (int i = 0; i < AUTHCHECK_MAX_JOBS; i++)
		authcheck_cancel(j[i]);
	ok(wait_stats(ac, idle, 5000), "every job gone after cancelling");
	run_until(0, 50);
	int calls = 0;
	for (int i = 0; i < NRES; i++)
		calls += res[i].calls;
	is_int(calls, 0, "no callback for any cancelled job");
}

/* The point of it all: the loop keeps running while checks run.  Said
 * without timing (the machine may be loaded): a 10 ms timer fires again
 * and again while a worker is in the middle of a check.  The gaps are
 * printed as figures, not asserted. */
static uint64_t last_tick, max_gap, gaps[4096];
static unsigned ticks, ngaps, ticks_checking;
static void on_tick(struct evloop *e, struct ev_timer *t, void *arg)
{
	uint64_t now = ev_clock_ms();
	struct authcheck_stats st;

	(void)e;
	authcheck_stats(arg, &st);
	if (st.running > 0)
		ticks_checking++;
	if (last_tick && now - last_tick > max_gap)
		max_gap = now - last_tick;
	if (last_tick && ngaps < sizeof(gaps) / sizeof(gaps[0]))
		gaps[ngaps++] = now - last_tick;
	last_tick = now;
	ticks++;
	ev_timer_arm(t, 10);
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static void test_responsive(struct authcheck *ac)
{
	struct ev_timer *tick = ev_timer_new(ev, on_tick, ac);
	uint64_t t0;
	int all = 1;

	reset();
	ev_timer_arm(tick, 10);
	t0 = ev_clock_ms();
	for (int i = 0; i < 20; i++)
		if (!submit(ac, "alice@example.org", i % 2 ? "secret pw" : "nope", i))
			all = 0;
	ok(all, "20 checks queued");
	run_until(20, 30000);
	uint64_t elapsed = ev_clock_ms() - t0;
	ok(!timed_out, "20 checks answered");
	qsort(gaps, ngaps, sizeof(gaps[0]), cmp_u64);
	uint64_t median = ngaps ? gaps[ngaps / 2] : 0;
	printf("# 20 checks in %llu ms, %u ticks, median gap %llu ms, largest %llu ms\n",
	       (unsigned long long)elapsed, ticks, (unsigned long long)median,
	       (unsigned long long)max_gap);
	printf("# %u ticks while a worker was checking\n", ticks_checking);
	ok(ticks_checking >= 3, "the loop's timer kept firing while workers ran checks");
	ev_timer_free(tick);
}

static int three_running(const struct authcheck_stats *s)
{
	return s->running == 3 && s->queued == 7;
}

static void test_free_in_flight(const char *db)
{
	char err[256];
	struct authcheck *ac = authcheck_new(ev, db, 3, err, sizeof(err));

	ok(ac != NULL, "second pool");
	if (!ac)
		return;
	reset();
	unsigned long base = authcheck_checks_total();
	for (int i = 0; i < 10; i++)
		submit(ac, "alice@example.org", "secret pw", i);
	ok(wait_stats(ac, three_running, 5000), "three checks under way, seven queued");
	uint64_t t0 = ev_clock_ms();
	authcheck_free(ac);
	uint64_t took = ev_clock_ms() - t0;
	unsigned long ran = authcheck_checks_total() - base;
	printf("# free with jobs in flight took %llu ms, %lu checks ran\n",
	       (unsigned long long)took, ran);
	/* counted, not timed (the machine may be loaded): the three under
	 * way finished before free returned, the seven queued were dropped
	 * (a worker could start one in the instant before free, never all) */
	ok(ran >= 3, "free waits for the running checks");
	ok(ran < 10, "free does not run the queued checks");
	run_until(0, 100);
	is_int(ndone, 0, "no callback after free");
}

static void test_new_errors(const char *db)
{
	char err[256];
	struct authcheck *ac;

	err[0] = 0;
	ok(authcheck_new(ev, db, AUTHCHECK_MAX_THREADS + 1, err, sizeof(err)) == NULL && err[0],
	   "too many threads refused");
	err[0] = 0;
	ok(authcheck_new(ev, "/nonexistent-dir/x/loft.db", 1, err, sizeof(err)) == NULL &&
	       strstr(err, "mailstore"),
	   "unopenable database refused");
	ac = authcheck_new(ev, db, 0, err, sizeof(err));
	ok(ac != NULL, "0 threads: the default");
	reset();
	submit(ac, "bob@example.org", "bob pw", 0);
	run_until(1, 10000);
	is_int(res[0].result, 1, "default pool answers");
	authcheck_free(ac);
	authcheck_free(NULL);
}

int main(void)
{
	char dir[] = "/tmp/test_authcheck_XXXXXX", db[256], err[256];
	struct store *st;
	struct authcheck *ac;

	log_init("test_authcheck", LOG_LVL_WARN);
	if (!mkdtemp(dir))
		bug("mkdtemp");
	snprintf(db, sizeof(db), "%s/loft.db", dir);
	if (store_open(db, &st, err, sizeof(err)) < 0)
		bug("store_open: %s", err);
	if (store_domain_add(st, "example.org") < 0 ||
	    store_user_add(st, "alice@example.org", "secret pw", &alice_id) < 0 ||
	    store_user_add(st, "bob@example.org", "bob pw", &bob_id) < 0)
		bug("setup: %s", store_errmsg(st));
	ev = ev_new();
	guard = ev_timer_new(ev, on_guard, NULL);
	loop_thread = pthread_self();

	ac = authcheck_new(ev, db, 2, err, sizeof(err));
	ok(ac != NULL, "pool of two");
	if (!ac)
		bug("authcheck_new: %s", err);
	test_results(ac);
	test_many(ac);
	test_cancel(ac);
	test_cancel_from_callback(ac);
	test_full(ac);
	test_responsive(ac);
	authcheck_free(ac);
	test_free_in_flight(db);
	test_new_errors(db);

	ev_timer_free(guard);
	ev_free(ev);
	store_close(st);
	char cmd[300];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd) != 0)
		printf("# could not remove %s\n", dir);
	return tap_done();
}
