/*
 * The outbound queue table: one row per (message, remote recipient).  The
 * queue runner (smtpd/) picks due rows and reports back with done, defer
 * or bounce.  A finished row keeps its history (status, attempts, last
 * error) for the admin but lets go of its message, so the message is
 * deleted once nothing else refers to it (trigger queue_unref_upd).
 */
#include <string.h>

#include "store_internal.h"
#include "store_queue.h"

#define QUEUE_COLS                                                                                 \
	"SELECT id, coalesce(message_id, 0), mail_from, rcpt, created, next_attempt, attempts,"    \
	" status, last_error FROM queue "

void store_queue_item_read(sqlite3_stmt *s, struct store_queue_item *q)
{
	q->id = sqlite3_column_int64(s, 0);
	q->message_id = sqlite3_column_int64(s, 1);
	q->mail_from = (const char *)sqlite3_column_text(s, 2);
	q->rcpt = (const char *)sqlite3_column_text(s, 3);
	q->created = sqlite3_column_int64(s, 4);
	q->next_attempt = sqlite3_column_int64(s, 5);
	q->attempts = sqlite3_column_int(s, 6);
	q->status = (const char *)sqlite3_column_text(s, 7);
	q->last_error = (const char *)sqlite3_column_text(s, 8);
}

static int queue_rows(struct store *st, sqlite3_stmt *s, store_queue_cb cb, void *arg)
{
	struct store_queue_item q;
	int rc, n = 0;

	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		store_queue_item_read(s, &q);
		n++;
		if (cb(arg, &q))
			break;
	}
	return store_rows_done(st, s, rc, n, "queue list");
}

int store_queue_list(struct store *st, store_queue_cb cb, void *arg)
{
	sqlite3_stmt *s = store_stmt(st, QUEUE_COLS "ORDER BY id");

	if (!s)
		return -1;
	return queue_rows(st, s, cb, arg);
}

int store_queue_due(struct store *st, int64_t now, int limit, store_queue_cb cb, void *arg)
{
	sqlite3_stmt *s = store_stmt(st, QUEUE_COLS "WHERE status IN ('queued', 'deferred')"
						    " AND next_attempt <= ?1"
						    " ORDER BY next_attempt, id LIMIT ?2");

	if (!s)
		return -1;
	sqlite3_bind_int64(s, 1, now);
	sqlite3_bind_int(s, 2, limit > 0 ? limit : 0);
	return queue_rows(st, s, cb, arg);
}

/* Sets the outcome of a row still waiting; final != 0 releases its
 * message. */
static int queue_update(struct store *st, int64_t id, const char *status, int64_t next,
			const char *error, int final)
{
	int rc;

	if (final)
		rc = store_w(st, "queue update",
			     "UPDATE queue SET status = ?2, last_error = ?3, message_id = NULL,"
			     " attempts = attempts + 1, finished = ?4"
			     " WHERE id = ?1 AND status IN ('queued', 'deferred')",
			     SA_INT(id), SA_TEXT(status), SA_TEXT(error ? error : ""),
			     SA_INT(store_now()));
	else
		rc =
		    store_w(st, "queue update",
			    "UPDATE queue SET status = ?2, last_error = ?3, next_attempt = ?4,"
			    " attempts = attempts + 1"
			    " WHERE id = ?1 AND status IN ('queued', 'deferred')",
			    SA_INT(id), SA_TEXT(status), SA_TEXT(error ? error : ""), SA_INT(next));
	return rc == STORE_NOTFOUND ? store_errc(st, rc, "no waiting queue row %lld", (long long)id)
				    : rc;
}

int store_queue_done(struct store *st, int64_t queue_id)
{
	return queue_update(st, queue_id, "done", 0, "", 1);
}

int store_queue_bounce(struct store *st, int64_t queue_id, const char *error)
{
	return queue_update(st, queue_id, "bounced", 0, error, 1);
}

int store_queue_defer(struct store *st, int64_t queue_id, int64_t next_attempt, const char *error)
{
	return queue_update(st, queue_id, "deferred", next_attempt, error, 0);
}

int store_queue_purge(struct store *st, int64_t before)
{
	if (store_begin(st) < 0)
		return -1;
	return store_end(st, store_do(st, "queue purge",
				      "DELETE FROM queue WHERE status IN ('done', 'bounced')"
				      " AND finished < ?1",
				      SA_INT(before)));
}
