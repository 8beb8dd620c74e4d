/*
 * Full-text search within a mailbox: FTS5 with the trigram tokenizer for
 * queries of 3 characters or more, LIKE over the indexed text below that.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "array.h"
#include "buf.h"
#include "store_internal.h"
#include "store_mailbox.h"
#include "utf8.h"

struct uids {
	uint32_t *v;
	size_t n, cap;
};

static int uids_add(struct store *st, struct uids *u, uint32_t uid)
{
	if (ARRAY_GROW(u->v, u->cap, u->n + 1, 256) < 0)
		return store_err(st, "out of memory");
	u->v[u->n++] = uid;
	return 0;
}

static int search_run(struct store *st, sqlite3_stmt *s, struct uids *u)
{
	int rc, n = 0;

	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		n++;
		if (uids_add(st, u, (uint32_t)sqlite3_column_int64(s, 0)) < 0)
			return -1;
	}
	if (rc != SQLITE_DONE)
		n = store_sqlerr(st, "search");
	return n;
}

/* The messages of the mailbox whose index rows are still pending
 * (store_set_defer_index): matched by reading them, as their index rows
 * would match.  Returns 0 or -1. */
static int search_pending(struct store *st, int64_t mailbox_id, const char *field,
			  const char *query, struct uids *u)
{
	sqlite3_stmt *s;
	struct buf needle;
	int rc;

	buf_init(&needle, 4 * 4096 + 16);
	if (utf8_fold(query, strlen(query), &needle) < 0) {
		buf_free(&needle);
		return store_err(st, "search query too long");
	}
	s = store_q(
	    st,
	    "SELECT e.uid, m.raw FROM fts_pending p JOIN entries e ON e.message_id = p.message_id"
	    " JOIN messages m ON m.id = p.message_id WHERE e.mailbox_id = ?1",
	    SA_INT(mailbox_id));
	if (!s) {
		buf_free(&needle);
		return -1;
	}
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		const void *raw = sqlite3_column_blob(s, 1);
		size_t len = (size_t)sqlite3_column_bytes(s, 1);

		if (store_scan_match(raw ? raw : "", len, field, buf_cstr(&needle), needle.len) &&
		    uids_add(st, u, (uint32_t)sqlite3_column_int64(s, 0)) < 0) {
			store_stmt_done(s);
			buf_free(&needle);
			return -1;
		}
	}
	buf_free(&needle);
	return store_rows_done(st, s, rc, 0, "search pending");
}

static int cmp_uid(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

int store_search_text(struct store *st, int64_t mailbox_id, const char *field, const char *query,
		      store_uid_cb cb, void *arg)
{
	static const struct {
		const char *field, *column, *like_sql;
	} fields[] = {
	    /* TEXT: the body and every header field (fts_hdr) */
	    {"text", NULL,
	     "SELECT e.uid FROM entries e JOIN fts f ON f.rowid = e.message_id"
	     " LEFT JOIN fts_hdr h ON h.rowid = e.message_id"
	     " WHERE e.mailbox_id = ?1 AND (f.subject LIKE ?2 ESCAPE '\\' OR f.hfrom LIKE ?2"
	     " ESCAPE '\\' OR f.hto LIKE ?2 ESCAPE '\\' OR f.hcc LIKE ?2 ESCAPE '\\'"
	     " OR f.hbcc LIKE ?2 ESCAPE '\\' OR f.body LIKE ?2 ESCAPE '\\'"
	     " OR h.header LIKE ?2 ESCAPE '\\') ORDER BY e.uid"},
	    {"body", "body",
	     "SELECT e.uid FROM entries e JOIN fts f ON f.rowid = e.message_id"
	     " WHERE e.mailbox_id = ?1 AND f.body LIKE ?2 ESCAPE '\\' ORDER BY e.uid"},
	    {"subject", "subject",
	     "SELECT e.uid FROM entries e JOIN fts f ON f.rowid = e.message_id"
	     " WHERE e.mailbox_id = ?1 AND f.subject LIKE ?2 ESCAPE '\\' ORDER BY e.uid"},
	    {"from", "hfrom",
	     "SELECT e.uid FROM entries e JOIN fts f ON f.rowid = e.message_id"
	     " WHERE e.mailbox_id = ?1 AND f.hfrom LIKE ?2 ESCAPE '\\' ORDER BY e.uid"},
	    {"to", "hto",
	     "SELECT e.uid FROM entries e JOIN fts f ON f.rowid = e.message_id"
	     " WHERE e.mailbox_id = ?1 AND f.hto LIKE ?2 ESCAPE '\\' ORDER BY e.uid"},
	    {"cc", "hcc",
	     "SELECT e.uid FROM entries e JOIN fts f ON f.rowid = e.message_id"
	     " WHERE e.mailbox_id = ?1 AND f.hcc LIKE ?2 ESCAPE '\\' ORDER BY e.uid"},
	    {"bcc", "hbcc",
	     "SELECT e.uid FROM entries e JOIN fts f ON f.rowid = e.message_id"
	     " WHERE e.mailbox_id = ?1 AND f.hbcc LIKE ?2 ESCAPE '\\' ORDER BY e.uid"},
	};
	struct buf q;
	struct uids u = {0};
	sqlite3_stmt *s;
	size_t fi;
	int n, opened;

	for (fi = 0; fi < sizeof(fields) / sizeof(fields[0]); fi++)
		if (field && strcasecmp(field, fields[fi].field) == 0)
			break;
	if (fi == sizeof(fields) / sizeof(fields[0]))
		return store_err(st, "unknown search field");
	if (!query)
		query = "";
	if (strlen(query) > 4096)
		return store_err(st, "search query too long");
	/* one read transaction for the index and the pending messages */
	opened = sqlite3_get_autocommit(st->db) ? 1 : 0;
	if (opened && store_exec(st, "BEGIN") < 0)
		return -1;
	if (!*query) {
		s = store_stmt(st, "SELECT uid FROM entries WHERE mailbox_id = ?1 ORDER BY uid");
		if (!s) {
			n = -1;
			goto out;
		}
		sqlite3_bind_int64(s, 1, mailbox_id);
		n = search_run(st, s, &u);
		store_stmt_done(s);
		goto out;
	}
	buf_init(&q, 16384);
	if (utf8_chars(query) >= 3) {
		/* An FTS5 string: the trigram tokenizer turns a phrase into a
		 * substring match.  Quotes are doubled inside it. */
		if (fields[fi].column)
			buf_printf(&q, "%s : ", fields[fi].column);
		buf_putc(&q, '"');
		for (const char *p = query; *p; p++) {
			if (*p == '"')
				buf_putc(&q, '"');
			buf_putc(&q, *p);
		}
		if (buf_putc(&q, '"') < 0) {
			buf_free(&q);
			n = store_err(st, "search query too long");
			goto out;
		}
		if (fields[fi].column)
			s = store_stmt(st,
				       "SELECT uid FROM entries WHERE mailbox_id = ?1 AND"
				       " message_id IN (SELECT rowid FROM fts WHERE fts MATCH ?2)"
				       " ORDER BY uid");
		else
			s = store_stmt(st,
				       "SELECT uid FROM entries WHERE mailbox_id = ?1 AND"
				       " message_id IN (SELECT rowid FROM fts WHERE fts MATCH ?2"
				       " UNION SELECT rowid FROM fts_hdr WHERE fts_hdr MATCH ?2)"
				       " ORDER BY uid");
	} else {
		/* The trigram index cannot serve fewer than 3 characters:
		 * LIKE scans the mailbox's stored text (ASCII case folding
		 * only, as SQLite's LIKE does). */
		buf_putc(&q, '%');
		for (const char *p = query; *p; p++) {
			if (*p == '%' || *p == '_' || *p == '\\')
				buf_putc(&q, '\\');
			buf_putc(&q, *p);
		}
		buf_putc(&q, '%');
		s = store_stmt(st, fields[fi].like_sql);
	}
	if (!s) {
		buf_free(&q);
		n = -1;
		goto out;
	}
	sqlite3_bind_int64(s, 1, mailbox_id);
	sqlite3_bind_text(s, 2, buf_cstr(&q), (int)q.len, SQLITE_STATIC);
	n = search_run(st, s, &u);
	store_stmt_done(s);
	buf_free(&q);
	/* the index and the pending marks from one snapshot: a message the
	 * index thread writes meanwhile is seen once, in one or the other */
	if (n >= 0)
		n = search_pending(st, mailbox_id, fields[fi].field, query, &u);
out:
	if (opened == 1 && store_exec(st, n < 0 ? "ROLLBACK" : "COMMIT") < 0 && n >= 0)
		n = -1;
	if (n >= 0) {
		size_t k = 0;

		if (u.n > 1)
			qsort(u.v, u.n, sizeof(u.v[0]), cmp_uid);
		for (size_t i = 0; i < u.n; i++)
			if (i == 0 || u.v[i] != u.v[i - 1])
				u.v[k++] = u.v[i];
		n = (int)k;
		for (size_t i = 0; i < k; i++)
			if (cb(arg, u.v[i]))
				break;
	}
	free(u.v);
	return n;
}
