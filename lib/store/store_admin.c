/*
 * loft-admin's tables and reads: login sessions, dashboard figures, queue
 * actions.  The session token never reaches this file, only its hash.
 */
#include <string.h>

#include "store_admin.h"
#include "store_internal.h"

int store_admin_session_add(struct store *st, const char *token_hash, const char *csrf, int authed,
			    const char *ip, int64_t now, int64_t expires)
{
	return store_w(
	    st, "admin session add",
	    "INSERT INTO admin_sessions(token_hash, csrf, authed, ip, created, last_seen,"
	    " expires) VALUES(?1, ?2, ?3, ?4, ?5, ?5, ?6)",
	    SA_TEXT(token_hash), SA_TEXT(csrf), SA_INT(authed ? 1 : 0), SA_TEXT(ip ? ip : ""),
	    SA_INT(now), SA_INT(expires));
}

int store_admin_session_get(struct store *st, const char *token_hash, int64_t now,
			    struct store_admin_session *out)
{
	sqlite3_stmt *s =
	    store_q(st,
		    "SELECT csrf, authed, created, last_seen, expires FROM admin_sessions"
		    " WHERE token_hash = ?1 AND expires > ?2",
		    SA_TEXT(token_hash), SA_INT(now));
	int rc;

	if (!s)
		return -1;
	rc = store_row(st, s, "admin session get");
	if (rc <= 0)
		return rc == 0 ? store_errc(st, STORE_NOTFOUND, "no such session") : -1;
	memset(out, 0, sizeof(*out));
	const char *c = (const char *)sqlite3_column_text(s, 0);
	if (c && strlen(c) <= STORE_ADMIN_CSRF_MAX)
		memcpy(out->csrf, c, strlen(c) + 1);
	out->authed = sqlite3_column_int(s, 1);
	out->created = sqlite3_column_int64(s, 2);
	out->last_seen = sqlite3_column_int64(s, 3);
	out->expires = sqlite3_column_int64(s, 4);
	store_stmt_done(s);
	return 0;
}

int store_admin_session_touch(struct store *st, const char *token_hash, int64_t now,
			      int64_t expires)
{
	int rc =
	    store_w(st, "admin session touch",
		    "UPDATE admin_sessions SET last_seen = ?2, expires = ?3 WHERE token_hash = ?1",
		    SA_TEXT(token_hash), SA_INT(now), SA_INT(expires));

	return rc == STORE_NOTFOUND ? store_errc(st, rc, "no such session") : rc;
}

int store_admin_session_del(struct store *st, const char *token_hash)
{
	int rc = store_w(st, "admin session del",
			 "DELETE FROM admin_sessions WHERE token_hash = ?1", SA_TEXT(token_hash));

	return rc == STORE_NOTFOUND ? store_errc(st, rc, "no such session") : rc;
}

int store_admin_session_del_authed(struct store *st)
{
	int rc;

	if (store_begin(st) < 0)
		return -1;
	rc = store_do(st, "admin session del",
		      "DELETE FROM admin_sessions WHERE authed = 1 OR expires <= ?1",
		      SA_INT(store_now()));
	return store_end(st, rc);
}

int store_admin_session_purge(struct store *st, int64_t now, int keep_anon)
{
	int rc, rc2;

	if (store_begin(st) < 0)
		return -1;
	rc = store_do(st, "admin session purge", "DELETE FROM admin_sessions WHERE expires <= ?1",
		      SA_INT(now));
	if (rc >= 0) {
		rc2 = store_do(st, "admin session purge",
			       "DELETE FROM admin_sessions WHERE authed = 0 AND token_hash IN"
			       " (SELECT token_hash FROM admin_sessions WHERE authed = 0"
			       "  ORDER BY created DESC, token_hash LIMIT -1 OFFSET ?1)",
			       SA_INT(keep_anon < 0 ? 0 : keep_anon));
		rc = rc2 < 0 ? rc2 : rc + rc2;
	}
	return store_end(st, rc);
}

/* One integer from a one-row query; -1 on error. */
static int count_one(struct store *st, sqlite3_stmt *s, const char *what, int64_t *out)
{
	int rc;

	if (!s)
		return -1;
	rc = store_row(st, s, what);
	if (rc < 0)
		return -1;
	*out = rc ? sqlite3_column_int64(s, 0) : 0;
	if (rc)
		store_stmt_done(s);
	return 0;
}

int store_admin_session_count(struct store *st, int64_t now)
{
	int64_t n;

	if (count_one(
		st,
		store_q(st, "SELECT count(*) FROM admin_sessions WHERE expires > ?1", SA_INT(now)),
		"admin session count", &n) < 0)
		return -1;
	return (int)n;
}

int store_admin_stats(struct store *st, struct store_admin_stats *o)
{
	sqlite3_stmt *s;
	int64_t pages = 0, psize = 0;
	int rc;

	memset(o, 0, sizeof(*o));
	if (count_one(st, store_stmt(st, "SELECT count(*) FROM domains"), "stats", &o->domains) <
		0 ||
	    count_one(st, store_stmt(st, "SELECT count(*) FROM users"), "stats", &o->users) < 0 ||
	    count_one(st, store_stmt(st, "SELECT count(*) FROM aliases"), "stats", &o->aliases) <
		0 ||
	    count_one(st, store_stmt(st, "SELECT count(*) FROM messages"), "stats", &o->messages) <
		0 ||
	    count_one(st, store_stmt(st, "SELECT coalesce(sum(size), 0) FROM messages"), "stats",
		      &o->message_bytes) < 0 ||
	    count_one(st, store_stmt(st, "PRAGMA page_count"), "stats", &pages) < 0 ||
	    count_one(st, store_stmt(st, "PRAGMA page_size"), "stats", &psize) < 0)
		return -1;
	o->db_bytes = pages * psize;
	s = store_stmt(st, "SELECT status, attempts > 0, count(*) FROM queue GROUP BY 1, 2");
	if (!s)
		return -1;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		const char *status = (const char *)sqlite3_column_text(s, 0);
		int tried = sqlite3_column_int(s, 1);
		int64_t n = sqlite3_column_int64(s, 2);

		if (!status)
			continue;
		if (!strcmp(status, "queued") || !strcmp(status, "deferred")) {
			o->queue_waiting += n;
			if (tried)
				o->queue_deferred += n;
		} else if (!strcmp(status, "done")) {
			o->queue_done += n;
		} else if (!strcmp(status, "bounced")) {
			o->queue_bounced += n;
		}
	}
	return store_rows_done(st, s, rc, 0, "stats queue") < 0 ? -1 : 0;
}

int store_admin_daily(struct store *st, int64_t now, int ndays, int64_t *done, int64_t *bounced)
{
	int64_t today = now / 86400, first = today - ndays + 1;
	sqlite3_stmt *s;
	int rc;

	for (int i = 0; i < ndays; i++)
		done[i] = bounced[i] = 0;
	s = store_q(st,
		    "SELECT finished / 86400, status, count(*) FROM queue"
		    " WHERE finished >= ?1 AND status IN ('done', 'bounced') GROUP BY 1, 2",
		    SA_INT(first * 86400));
	if (!s)
		return -1;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		int64_t day = sqlite3_column_int64(s, 0) - first;
		const char *status = (const char *)sqlite3_column_text(s, 1);

		if (day < 0 || day >= ndays || !status)
			continue;
		if (!strcmp(status, "done"))
			done[day] += sqlite3_column_int64(s, 2);
		else
			bounced[day] += sqlite3_column_int64(s, 2);
	}
	return store_rows_done(st, s, rc, 0, "daily") < 0 ? -1 : 0;
}

int store_admin_queue_retry(struct store *st, int64_t queue_id)
{
	int rc = store_w(st, "queue retry",
			 "UPDATE queue SET next_attempt = ?2"
			 " WHERE id = ?1 AND status IN ('queued', 'deferred')",
			 SA_INT(queue_id), SA_INT(store_now()));

	return rc == STORE_NOTFOUND
		   ? store_errc(st, rc, "no waiting queue entry %lld", (long long)queue_id)
		   : rc;
}

int store_admin_queue_retry_all(struct store *st)
{
	int rc;

	if (store_begin(st) < 0)
		return -1;
	rc = store_do(st, "queue retry all",
		      "UPDATE queue SET next_attempt = ?1"
		      " WHERE status IN ('queued', 'deferred') AND next_attempt > ?1",
		      SA_INT(store_now()));
	return store_end(st, rc);
}

int store_admin_queue_delete(struct store *st, int64_t queue_id)
{
	int rc = store_w(st, "queue delete", "DELETE FROM queue WHERE id = ?1", SA_INT(queue_id));

	return rc == STORE_NOTFOUND ? store_errc(st, rc, "no queue entry %lld", (long long)queue_id)
				    : rc;
}

int store_admin_usage(struct store *st, store_admin_usage_cb cb, void *arg)
{
	sqlite3_stmt *s = store_stmt(st, "SELECT u.address, count(m.id), coalesce(sum(m.size), 0),"
					 " u.quota_bytes"
					 " FROM users u"
					 " LEFT JOIN mailboxes b ON b.user_id = u.id"
					 " LEFT JOIN entries e ON e.mailbox_id = b.id"
					 " LEFT JOIN messages m ON m.id = e.message_id"
					 " GROUP BY u.id ORDER BY u.address");
	int rc, n = 0;

	if (!s)
		return -1;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		n++;
		if (cb(arg, (const char *)sqlite3_column_text(s, 0), sqlite3_column_int64(s, 1),
		       sqlite3_column_int64(s, 2), sqlite3_column_int64(s, 3)))
			break;
	}
	return store_rows_done(st, s, rc, n, "usage");
}
