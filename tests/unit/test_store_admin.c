/*
 * lib/store/store_admin.c: admin sessions (expiry, purge of anonymous
 * ones, logout of every logged-in session), dashboard figures, queue
 * retry and delete.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "store.h"
#include "store_admin.h"
#include "store_smtpstats.h"
#include "store_deliver.h"
#include "store_queue.h"
#include "store_users.h"
#include "tap.h"

static const char msg[] = "From: a@loft.test\r\nTo: x@remote.test\r\nSubject: hi\r\n\r\nbody\r\n";

struct qids {
	int n;
	int64_t id[8];
	char status[8][16];
};

static int qcb(void *arg, const struct store_queue_item *q)
{
	struct qids *o = arg;

	if (o->n < 8) {
		o->id[o->n] = q->id;
		snprintf(o->status[o->n], sizeof(o->status[0]), "%s", q->status);
		o->n++;
	}
	return 0;
}

struct usage {
	int n;
	char addr[4][64];
	int64_t msgs[4], bytes[4], quota[4];
};

static int usage_cb(void *arg, const char *address, int64_t messages, int64_t bytes, int64_t quota)
{
	struct usage *u = arg;

	if (u->n < 4) {
		snprintf(u->addr[u->n], sizeof(u->addr[0]), "%s", address);
		u->msgs[u->n] = messages;
		u->bytes[u->n] = bytes;
		u->quota[u->n] = quota;
		u->n++;
	}
	return 0;
}

int main(void)
{
	char dir[] = "/tmp/test_store_admin.XXXXXX", path[300], err[256];
	struct store *st;
	struct store_admin_session s;
	struct store_admin_stats stats;
	int64_t uid, mid, done[3], bounced[3];
	const char *remote[] = {"x@remote.test", "y@remote.test"};
	struct qids q = {0};

	if (!mkdtemp(dir))
		return 1;
	snprintf(path, sizeof(path), "%s/loft.db", dir);
	if (store_open(path, &st, err, sizeof(err)) < 0) {
		printf("not ok - open: %s\n", err);
		return 1;
	}
	is_int(store_admin_session_add(st, "h1", "c1", 0, "127.0.0.1", 1000, 2000), 0, "add anon");
	ok(store_admin_session_add(st, "h1", "c1", 0, "127.0.0.1", 1000, 2000) < 0,
	   "same hash twice refused");
	is_int(store_admin_session_get(st, "h1", 1500, &s), 0, "get live session");
	is_str(s.csrf, "c1", "csrf kept");
	is_int(s.authed, 0, "anonymous");
	is_int(store_admin_session_get(st, "h1", 2000, &s), STORE_NOTFOUND, "expired is gone");
	is_int(store_admin_session_get(st, "nope", 1500, &s), STORE_NOTFOUND, "unknown hash");
	is_int(store_admin_session_touch(st, "h1", 1900, 4000000000LL), 0, "touch");
	is_int(store_admin_session_get(st, "h1", 4000, &s), 0, "alive after touch");
	is_int(s.last_seen, 1900, "last seen moved");
	is_int(store_admin_session_touch(st, "nope", 1, 2), STORE_NOTFOUND, "touch unknown");
	is_int(store_admin_session_add(st, "h2", "c2", 1, "::1", 1000, 4000000000LL), 0,
	       "add authed");
	is_int(store_admin_session_count(st, 1500), 2, "two alive");
	is_int(store_admin_session_del_authed(st), 1, "logged-in sessions removed");
	is_int(store_admin_session_get(st, "h2", 1500, &s), STORE_NOTFOUND, "h2 gone");
	is_int(store_admin_session_del(st, "h1"), 0, "del");
	is_int(store_admin_session_del(st, "h1"), STORE_NOTFOUND, "del twice");

	/* anonymous sessions beyond keep are purged oldest first; logged-in
	 * ones are never purged before they expire */
	for (int i = 0; i < 10; i++) {
		char h[16];
		snprintf(h, sizeof(h), "a%d", i);
		store_admin_session_add(st, h, "c", 0, "", 100 + i, 1000000);
	}
	store_admin_session_add(st, "old-authed", "c", 1, "", 1, 1000000);
	store_admin_session_add(st, "expired", "c", 1, "", 1, 50);
	is_int(store_admin_session_purge(st, 60, 3), 8, "1 expired + 7 anonymous purged");
	is_int(store_admin_session_count(st, 60), 4, "3 anonymous + 1 logged in left");
	is_int(store_admin_session_get(st, "a9", 60, &s), 0, "newest anonymous kept");
	is_int(store_admin_session_get(st, "a0", 60, &s), STORE_NOTFOUND, "oldest purged");
	is_int(store_admin_session_get(st, "old-authed", 60, &s), 0, "logged-in kept");

	/* figures */
	store_domain_add(st, "loft.test");
	store_user_add(st, "a@loft.test", "pw-pw-pw-pw", &uid);
	store_alias_add(st, "b@loft.test", "a@loft.test");
	is_int(store_deliver(st, msg, strlen(msg), "a@loft.test", &uid, 1, remote, 2, &mid), 0,
	       "deliver with 2 remote rcpts");
	is_int(store_admin_stats(st, &stats), 0, "stats");
	is_int(stats.domains, 1, "1 domain");
	is_int(stats.users, 1, "1 user");
	is_int(stats.aliases, 1, "1 alias");
	is_int(stats.messages, 1, "1 message");
	is_int(stats.message_bytes, (int64_t)strlen(msg), "its size");
	is_int(stats.queue_waiting, 2, "2 queued");
	ok(stats.db_bytes > 0, "database size");

	store_queue_list(st, qcb, &q);
	is_int(q.n, 2, "two queue rows");
	is_int(store_queue_defer(st, q.id[0], 4000000000LL, "451 later"), 0, "defer one far ahead");
	is_int(store_admin_queue_retry(st, q.id[0]), 0, "retry makes it due");
	{
		struct qids due = {0};
		store_queue_due(st, (int64_t)time(NULL) + 1, 10, qcb, &due);
		is_int(due.n, 2, "both due now");
	}
	is_int(store_queue_done(st, q.id[1]), 0, "second delivered");
	is_int(store_admin_queue_retry(st, q.id[1]), STORE_NOTFOUND,
	       "a finished row is not retried");
	store_admin_stats(st, &stats);
	is_int(stats.queue_waiting, 1, "1 waiting");
	is_int(stats.queue_deferred, 1, "deferred counted");
	is_int(stats.queue_done, 1, "1 done");
	is_int(store_admin_daily(st, (int64_t)time(NULL), 3, done, bounced), 0, "daily");
	is_int(done[2], 1, "delivered today");
	is_int(done[0] + done[1] + bounced[0] + bounced[1] + bounced[2], 0, "nothing else");
	is_int(store_admin_queue_retry_all(st), 0, "nothing left to hurry");
	is_int(store_admin_queue_delete(st, q.id[0]), 0, "delete a waiting row");
	is_int(store_admin_queue_delete(st, q.id[0]), STORE_NOTFOUND, "delete twice");
	store_admin_stats(st, &stats);
	is_int(stats.queue_waiting, 0, "queue empty");
	is_int(stats.messages, 1, "message kept: the local entry still refers to it");

	{
		struct usage u = {0};
		store_user_add(st, "b@loft.test", "pw-pw-pw-pw", NULL);
		store_user_quota_set(st, "b@loft.test", 500LL << 20);
		is_int(store_admin_usage(st, usage_cb, &u), 2, "usage: two users");
		is_str(u.addr[0], "a@loft.test", "by address");
		is_int(u.msgs[0], 1, "a has the message");
		is_int(u.bytes[0], (int64_t)strlen(msg), "its size");
		is_int(u.msgs[1], 0, "b has none");
		is_int(u.bytes[1], 0, "nothing");
		is_int(u.quota[0], 0, "a has no quota");
		is_int(u.quota[1], 500LL << 20, "b's quota listed");
	}
	{
		/* loft-smtpd's daily counts (store_smtpstats.h) */
		static const char *const kinds[] = {STORE_SMTP_RECEIVED, STORE_SMTP_RCPT,
						    STORE_SMTP_CONN};
		uint64_t c1[] = {2, 5, 0}, c2[] = {1, 1, 3};
		int64_t now = 20000 * 86400LL + 3600, got, rec[3], rej[3];

		is_int(store_smtp_daily_add(st, 20000, kinds, c1, 3), 0, "smtp daily: add");
		is_int(store_smtp_daily_add(st, 20000, kinds, c2, 3), 0, "smtp daily: add again");
		is_int(store_smtp_daily_add(st, 19998, kinds, c1, 3), 0,
		       "smtp daily: two days ago");
		is_int(store_smtp_daily_add(st, 19990, kinds, c1, 3), 0, "smtp daily: long ago");
		store_smtp_daily_get(st, 20000, STORE_SMTP_RCPT, &got);
		is_int(got, 6, "smtp daily: counts summed per day and kind");
		store_smtp_daily_get(st, 19998, STORE_SMTP_CONN, &got);
		is_int(got, 0, "smtp daily: a zero count writes no row");
		is_int(store_smtp_daily(st, now, 3, rec, rej), 0, "smtp daily: read 3 days");
		ok(rec[0] == 2 && rec[1] == 0 && rec[2] == 3, "smtp daily: received by day");
		ok(rej[0] == 5 && rej[1] == 0 && rej[2] == 9, "smtp daily: rejections summed");
	}
	store_close(st);
	snprintf(path, sizeof(path), "rm -rf %s", dir);
	if (system(path) != 0)
		return 1;
	return tap_done();
}
