/*
 * Full-text search within a mailbox: FTS5 with the trigram tokenizer for
 * queries of 3 characters or more, LIKE over the indexed text below that.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "buf.h"
#include "store_internal.h"
#include "store_mailbox.h"
#include "utf8.h"

static int search_run(struct store *st, sqlite3_stmt *s, store_uid_cb cb, void *arg)
{
	int rc, n = 0;

	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		n++;
		if (cb(arg, (uint32_t)sqlite3_column_int64(s, 0)))
			break;
	}
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		n = store_sqlerr(st, "search");
	return n;
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
	sqlite3_stmt *s;
	size_t fi;
	int n;

	for (fi = 0; fi < sizeof(fields) / sizeof(fields[0]); fi++)
		if (field && strcasecmp(field, fields[fi].field) == 0)
			break;
	if (fi == sizeof(fields) / sizeof(fields[0]))
		return store_err(st, "unknown search field");
	if (!query)
		query = "";
	if (strlen(query) > 4096)
		return store_err(st, "search query too long");
	if (!*query) {
		s = store_stmt(st, "SELECT uid FROM entries WHERE mailbox_id = ?1 ORDER BY uid");
		if (!s)
			return -1;
		sqlite3_bind_int64(s, 1, mailbox_id);
		n = search_run(st, s, cb, arg);
		store_stmt_done(s);
		return n;
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
			return store_err(st, "search query too long");
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
		return -1;
	}
	sqlite3_bind_int64(s, 1, mailbox_id);
	sqlite3_bind_text(s, 2, buf_cstr(&q), (int)q.len, SQLITE_STATIC);
	n = search_run(st, s, cb, arg);
	store_stmt_done(s);
	buf_free(&q);
	return n;
}
