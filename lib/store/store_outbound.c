/*
 * loft-queue's tables beyond the queue rows: attempts, delay notices,
 * hold, DKIM keys.
 */
#include <stdlib.h>
#include <string.h>

#include "dkim.h"
#include "store_internal.h"
#include "store_outbound.h"

/* the columns of store_queue.c's QUEUE_COLS, then ours */
#define OUT_COLS                                                                                   \
	"SELECT id, coalesce(message_id, 0), mail_from, rcpt, created, next_attempt, attempts,"    \
	" status, last_error, delay_notified FROM queue "

static int out_rows(struct store *st, sqlite3_stmt *s, store_outbound_cb cb, void *arg)
{
	struct store_outbound_item it;
	int rc, n = 0;

	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		store_queue_item_read(s, &it.q);
		it.delay_notified = sqlite3_column_int(s, 9);
		n++;
		if (cb(arg, &it))
			break;
	}
	return store_rows_done(st, s, rc, n, "outbound list");
}

int store_outbound_due(struct store *st, int64_t now, int limit, store_outbound_cb cb, void *arg)
{
	sqlite3_stmt *s =
	    store_q(st,
		    OUT_COLS "WHERE status IN ('queued', 'deferred') AND held = 0"
			     " AND next_attempt <= ?1 ORDER BY next_attempt, id LIMIT ?2",
		    SA_INT(now), SA_INT(limit > 0 ? limit : 0));

	if (!s)
		return -1;
	return out_rows(st, s, cb, arg);
}

int store_outbound_get(struct store *st, int64_t queue_id, store_outbound_cb cb, void *arg)
{
	sqlite3_stmt *s = store_q(st, OUT_COLS "WHERE id = ?1", SA_INT(queue_id));

	if (!s)
		return -1;
	return out_rows(st, s, cb, arg);
}

int store_attempt_add(struct store *st, int64_t queue_id, const struct store_attempt *a)
{
	return store_w(st, "attempt add",
		       "INSERT INTO queue_attempts(queue_id, time, route, mx, addr, tls, verified,"
		       " reply, next_attempt) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
		       SA_INT(queue_id), SA_INT(store_now()), SA_TEXT(a->route ? a->route : ""),
		       SA_TEXT(a->mx ? a->mx : ""), SA_TEXT(a->addr ? a->addr : ""),
		       SA_TEXT(a->tls ? a->tls : ""), SA_INT(a->verified),
		       SA_TEXT(a->reply ? a->reply : ""), SA_INT(a->next_attempt));
}

int store_attempt_list(struct store *st, int64_t queue_id, store_attempt_cb cb, void *arg)
{
	sqlite3_stmt *s = store_q(st,
				  "SELECT time, route, mx, addr, tls, verified, reply, next_attempt"
				  " FROM queue_attempts WHERE queue_id = ?1 ORDER BY id",
				  SA_INT(queue_id));
	struct store_attempt a;
	int rc, n = 0;

	if (!s)
		return -1;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		int64_t when = sqlite3_column_int64(s, 0);
		a.route = (const char *)sqlite3_column_text(s, 1);
		a.mx = (const char *)sqlite3_column_text(s, 2);
		a.addr = (const char *)sqlite3_column_text(s, 3);
		a.tls = (const char *)sqlite3_column_text(s, 4);
		a.verified = sqlite3_column_int(s, 5);
		a.reply = (const char *)sqlite3_column_text(s, 6);
		a.next_attempt = sqlite3_column_int64(s, 7);
		n++;
		if (cb(arg, when, &a))
			break;
	}
	return store_rows_done(st, s, rc, n, "attempt list");
}

static int notfound(struct store *st, int rc, int64_t id)
{
	return rc == STORE_NOTFOUND ? store_errc(st, rc, "no queue row %lld", (long long)id) : rc;
}

int store_outbound_delay_mark(struct store *st, int64_t queue_id)
{
	return notfound(st,
			store_w(st, "delay mark",
				"UPDATE queue SET delay_notified = 1 WHERE id = ?1",
				SA_INT(queue_id)),
			queue_id);
}

int store_outbound_hold(struct store *st, int64_t queue_id, int held)
{
	return notfound(st,
			store_w(st, "queue hold",
				"UPDATE queue SET held = ?2 WHERE id = ?1"
				" AND status IN ('queued', 'deferred')",
				SA_INT(queue_id), SA_INT(held ? 1 : 0)),
			queue_id);
}

int store_outbound_flush(struct store *st, int64_t queue_id)
{
	int rc;

	if (store_begin(st) < 0)
		return -1;
	rc = store_do(st, "queue flush",
		      "UPDATE queue SET next_attempt = 0, held = 0 WHERE (?1 = 0 OR id = ?1)"
		      " AND status IN ('queued', 'deferred')",
		      SA_INT(queue_id));
	return store_end(st, rc);
}

int store_outbound_request_bounce(struct store *st, int64_t queue_id)
{
	return notfound(st,
			store_w(st, "queue bounce",
				"UPDATE queue SET held = 2 WHERE id = ?1"
				" AND status IN ('queued', 'deferred')",
				SA_INT(queue_id)),
			queue_id);
}

int store_outbound_bounce_requests(struct store *st, int limit, store_outbound_cb cb, void *arg)
{
	sqlite3_stmt *s = store_q(st,
				  OUT_COLS "WHERE status IN ('queued', 'deferred') AND held = 2"
					   " ORDER BY id LIMIT ?1",
				  SA_INT(limit));

	if (!s)
		return -1;
	return out_rows(st, s, cb, arg);
}

int store_outbound_delete(struct store *st, int64_t queue_id)
{
	return notfound(
	    st, store_w(st, "queue delete", "DELETE FROM queue WHERE id = ?1", SA_INT(queue_id)),
	    queue_id);
}

int store_outbound_message(struct store *st, int64_t queue_id, int64_t *message_id)
{
	sqlite3_stmt *s = store_q(st, "SELECT coalesce(message_id, 0) FROM queue WHERE id = ?1",
				  SA_INT(queue_id));
	int rc;

	if (!s)
		return -1;
	rc = store_row(st, s, "queue message");
	if (rc <= 0)
		return rc == 0 ? notfound(st, STORE_NOTFOUND, queue_id) : -1;
	*message_id = sqlite3_column_int64(s, 0);
	store_stmt_done(s);
	return 0;
}

int store_dkim_get(struct store *st, const char *domain, char *sel, size_t sellen, char **pem)
{
	char dom[256];
	sqlite3_stmt *s;
	int rc;

	if (store_domain_norm(domain, dom, sizeof(dom)) < 0)
		return store_errc(st, STORE_NOTFOUND, "bad domain");
	s = store_q(st, "SELECT selector, key_pem FROM dkim_keys WHERE domain = ?1", SA_TEXT(dom));
	if (!s)
		return -1;
	rc = store_row(st, s, "dkim get");
	if (rc <= 0)
		return rc == 0 ? store_errc(st, STORE_NOTFOUND, "no DKIM key for %s", dom) : -1;
	const char *se = (const char *)sqlite3_column_text(s, 0);
	const char *k = (const char *)sqlite3_column_text(s, 1);
	if (strlen(se) >= sellen || !(*pem = strdup(k))) {
		store_stmt_done(s);
		return store_err(st, "dkim get: no room");
	}
	memcpy(sel, se, strlen(se) + 1);
	store_stmt_done(s);
	return 0;
}

int store_dkim_set(struct store *st, const char *domain, const char *selector, const char *pem)
{
	char dom[256];

	if (store_domain_norm(domain, dom, sizeof(dom)) < 0)
		return store_err(st, "bad domain \"%s\"", domain);
	return store_w(
	    st, "dkim set",
	    "INSERT INTO dkim_keys(domain, selector, key_pem, created) VALUES(?1, ?2, ?3, ?4)"
	    " ON CONFLICT(domain) DO UPDATE SET selector = ?2, key_pem = ?3, created = ?4",
	    SA_TEXT(dom), SA_TEXT(selector), SA_TEXT(pem), SA_INT(store_now()));
}

int store_dkim_del(struct store *st, const char *domain)
{
	char dom[256];

	if (store_domain_norm(domain, dom, sizeof(dom)) < 0)
		return store_errc(st, STORE_NOTFOUND, "bad domain");
	return store_w(st, "dkim del", "DELETE FROM dkim_keys WHERE domain = ?1", SA_TEXT(dom));
}

int store_dkim_ensure(struct store *st, const char *domain, int *made)
{
	char sel[64], err[256], *pem = NULL, *pub = NULL;
	int rc;

	if (made)
		*made = 0;
	rc = store_dkim_get(st, domain, sel, sizeof(sel), &pem);
	free(pem);
	if (rc != STORE_NOTFOUND)
		return rc;
	/* RFC 8301: at least 1024 bits; 2048 is what receivers expect today */
	if (dkim_keygen(2048, &pem, &pub, err, sizeof(err)) < 0)
		return store_err(st, "dkim key: %s", err);
	rc = store_dkim_set(st, domain, "loft", pem);
	explicit_bzero(pem, strlen(pem));
	free(pem);
	free(pub);
	if (rc == 0 && made)
		*made = 1;
	return rc;
}
