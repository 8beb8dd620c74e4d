/*
 * Messages in and out: delivery (one message, or a batch in one
 * transaction), APPEND, and reading a message back.
 *
 * A message row holds the raw bytes once plus everything IMAP needs that
 * comes from parsing (computed here, at delivery, by lib/mail/mime); an
 * entry row (store_flags.c) puts it in one mailbox with a UID, flags,
 * keywords and a modseq.  Triggers (store.c) delete a message once no
 * entry and no queue row refer to it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "array.h"
#include "buf.h"
#include "mime.h"
#include "store_deliver.h"
#include "store_internal.h"
#include "utf8.h"

static int parse_what(struct store *st, const char *data, size_t len, enum parse_what what,
		      struct parsed *p)
{
	const char *why = store_parse_core(data, len, what, p);

	return why ? store_err(st, "%s", why) : 0;
}

static int parse_message(struct store *st, const char *data, size_t len, struct parsed *p)
{
	return parse_what(st, data, len, PARSE_ALL, p);
}

static void bind_buf(sqlite3_stmt *s, int i, const struct buf *b)
{
	sqlite3_bind_text(s, i, buf_cstr(b), (int)b->len, SQLITE_STATIC);
}

/* Inserts the message row.  Call inside a transaction. */
static int message_row_insert(struct store *st, const char *data, size_t len, int64_t internaldate,
			      const struct parsed *p, int64_t *id)
{
	sqlite3_stmt *s;

	if (len > 1000000000u)
		return store_err(st, "message too large");
	s = store_stmt(st, "INSERT INTO messages(raw, size, internaldate, envelope, bodystructure,"
			   " body, sections, header_size, lines, mime_flags)"
			   " VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)");
	if (!s)
		return -1;
	sqlite3_bind_blob64(s, 1, data, len, SQLITE_STATIC);
	sqlite3_bind_int64(s, 2, (int64_t)len);
	sqlite3_bind_int64(s, 3, internaldate);
	bind_buf(s, 4, &p->env);
	bind_buf(s, 5, &p->bs);
	bind_buf(s, 6, &p->body);
	sqlite3_bind_blob(s, 7, p->sect.data ? p->sect.data : "", (int)p->sect.len, SQLITE_STATIC);
	sqlite3_bind_int64(s, 8, (int64_t)p->header_size);
	sqlite3_bind_int64(s, 9, (int64_t)p->lines);
	sqlite3_bind_int64(s, 10, p->mflags);
	if (store_step_done(st, s, "message insert") < 0)
		return -1;
	*id = sqlite3_last_insert_rowid(st->db);
	return 0;
}

/* Inserts the search index row of message id, whose raw bytes are
 * data[0..len): the FTS5 table's tokenizer (store_fts.c) reads them, and
 * takes the texts already parsed in p (may be NULL) instead of parsing
 * them again.  Call inside a transaction. */
static int index_insert(struct store *st, int64_t id, const char *data, size_t len,
			const struct parsed *p)
{
	sqlite3_stmt *s;
	int rc;

	/* the id may be a deleted message's, whose rows wait in fts_deleted
	 * (a rowid is reused once the greatest row is gone): those first */
	if (store_fts_deleted(st, id, 0) < 0)
		return -1;
	s = store_stmt(st, "INSERT INTO fts(rowid, raw) VALUES(?1, ?2)");
	if (!s)
		return -1;
	if (len > (size_t)INT32_MAX)
		return store_err(st, "message too large to index");
	sqlite3_bind_int64(s, 1, id);
	sqlite3_bind_blob(s, 2, data ? data : "", (int)len, SQLITE_STATIC);
	st->index_hint = p;
	st->index_hint_data = data ? data : "";
	st->index_hint_len = len;
	rc = store_step_done(st, s, "index insert");
	st->index_hint = NULL;
	return rc;
}

/* Inserts the message row, and its index row when it goes into a mailbox
 * (n_users > 0).  A message only queued for remote recipients is in no
 * mailbox, so no search ever reads its index row: writing it cost
 * loft-smtpd a trigram index of the whole text, and loft-queue, once the
 * message was sent, the same text read and tokenized again to delete it
 * (FTS5 deletes by content) -- a tenth of loft-queue's CPU per message.
 * Call inside a transaction. */
static int message_insert(struct store *st, const char *data, size_t len, int64_t internaldate,
			  const struct parsed *p, size_t n_users, int64_t *id)
{
	if (message_row_insert(st, data, len, internaldate, p, id) < 0)
		return -1;
	return n_users > 0 ? index_insert(st, *id, data, len, p) : 0;
}

/* --- delivery ----------------------------------------------------------- */

static int queue_insert(struct store *st, int64_t message_id, const char *from, const char *rcpt,
			int64_t now)
{
	return store_do(st, "queue insert",
			"INSERT INTO queue(message_id, mail_from, rcpt, created, next_attempt)"
			" VALUES(?1, ?2, ?3, ?4, ?4)",
			SA_INT(message_id), SA_TEXT(from), SA_TEXT(rcpt), SA_INT(now)) < 0
		   ? -1
		   : 0;
}

/* The checks store_deliver makes before any work.  Returns 0 or -1. */
static int deliver_check(struct store *st, const char *data, size_t len, size_t n_users,
			 const char *const *remote_rcpts, size_t n_remote)
{
	if (n_users + n_remote == 0)
		return store_err(st, "no recipients");
	if (!data && len > 0)
		return store_err(st, "no data");
	for (size_t i = 0; i < n_remote; i++)
		if (!remote_rcpts[i] || !remote_rcpts[i][0] ||
		    strlen(remote_rcpts[i]) > STORE_ADDR_MAX)
			return store_err(st, "invalid remote recipient");
	return 0;
}

/* Files message mid in each distinct user's INBOX and queues it for each
 * remote recipient.  Call inside a transaction.  Returns 0 or -1. */
static int deliver_targets(struct store *st, int64_t mid, const char *mail_from,
			   const int64_t *user_ids, size_t n_users, const char *const *remote_rcpts,
			   size_t n_remote, int64_t now)
{
	for (size_t i = 0; i < n_users; i++) {
		int64_t inbox;
		size_t j;
		int rc;

		for (j = 0; j < i; j++)
			if (user_ids[j] == user_ids[i])
				break;
		if (j < i)
			continue; /* delivered once per user */
		rc = store_mailbox_id(st, user_ids[i], "INBOX", &inbox);
		if (rc < 0) {
			if (rc == STORE_NOTFOUND)
				store_err(st, "no INBOX for user id %lld", (long long)user_ids[i]);
			return -1;
		}
		if (store_entry_add(st, inbox, mid, 0, "", NULL, NULL) < 0)
			return -1;
	}
	for (size_t i = 0; i < n_remote; i++)
		if (queue_insert(st, mid, mail_from, remote_rcpts[i], now) < 0)
			return -1;
	return 0;
}

int store_deliver(struct store *st, const char *data, size_t len, const char *mail_from,
		  const int64_t *user_ids, size_t n_users, const char *const *remote_rcpts,
		  size_t n_remote, int64_t *message_id_out)
{
	struct parsed p;
	int64_t mid, now = store_now();

	if (deliver_check(st, data, len, n_users, remote_rcpts, n_remote) < 0)
		return -1;
	if (!mail_from)
		mail_from = "";
	/* Parse before taking the write lock. */
	if (parse_message(st, data ? data : "", len, &p) < 0) {
		store_parse_free(&p);
		return -1;
	}
	if (store_begin(st) < 0) {
		store_parse_free(&p);
		return -1;
	}
	if (message_insert(st, data ? data : "", len, now, &p, n_users, &mid) < 0 ||
	    deliver_targets(st, mid, mail_from, user_ids, n_users, remote_rcpts, n_remote, now) < 0)
		goto fail;
	store_parse_free(&p);
	if (store_commit(st) < 0)
		return -1;
	if (message_id_out)
		*message_id_out = mid;
	return 0;
fail:
	store_parse_free(&p);
	store_rollback(st);
	return -1;
}

/* --- batch delivery ----------------------------------------------------- */

struct store_parsed {
	struct parsed p;
	size_t len; /* of the bytes it was made from, a cross-check */
};

int store_parse(const char *data, size_t len, struct store_parsed **out, char *err, size_t errlen)
{
	struct store_parsed *sp = malloc(sizeof(*sp));
	const char *why;

	*out = NULL;
	if (!sp) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	why = store_parse_core(data ? data : "", data ? len : 0, PARSE_ALL, &sp->p);
	if (why) {
		snprintf(err, errlen, "%s", why);
		store_parsed_free(sp);
		return -1;
	}
	sp->len = data ? len : 0;
	*out = sp;
	return 0;
}

void store_parsed_free(struct store_parsed *sp)
{
	if (!sp)
		return;
	store_parse_free(&sp->p);
	free(sp);
}

/*
 * FTS5 (SQLite 3.40) writes its pending index data out as a new segment at
 * every savepoint, and merges segments as they pile up.  n store_deliver
 * calls inside one transaction open n savepoints, so the index of a batch
 * was written (and merged, and statement-journalled) message by message.
 * Here the whole batch is one savepoint-free transaction: the rows go in
 * first, the index rows last, and FTS5 writes one segment at the commit.
 */
int store_deliver_many(struct store *st, struct store_delivery *d, size_t n)
{
	struct parsed *own = NULL;
	int64_t now = store_now();
	size_t i;

	if (n == 0)
		return store_err(st, "no messages");
	for (i = 0; i < n; i++) {
		if (deliver_check(st, d[i].data, d[i].len, d[i].n_users, d[i].remote_rcpts,
				  d[i].n_remote) < 0)
			return -1;
		if (d[i].parsed && d[i].parsed->len != (d[i].data ? d[i].len : 0))
			return store_err(st, "parsed result does not match the message");
	}
	/* the structure of what the caller did not parse, before taking the
	 * write lock (a bad message fails the batch before it begins) */
	own = calloc(n, sizeof(*own));
	if (!own)
		return store_err(st, "out of memory");
	for (i = 0; i < n; i++)
		if (!d[i].parsed &&
		    parse_what(st, d[i].data ? d[i].data : "", d[i].len, PARSE_STRUCT, &own[i]) < 0)
			goto fail_parse;
	if (store_begin(st) < 0)
		goto fail_parse;
	for (i = 0; i < n; i++) {
		const struct parsed *p = d[i].parsed ? &d[i].parsed->p : &own[i];

		if (message_row_insert(st, d[i].data ? d[i].data : "", d[i].len, now, p,
				       &d[i].message_id) < 0 ||
		    deliver_targets(st, d[i].message_id, d[i].mail_from ? d[i].mail_from : "",
				    d[i].user_ids, d[i].n_users, d[i].remote_rcpts, d[i].n_remote,
				    now) < 0)
			goto fail;
		store_parse_free(&own[i]);
	}
	/* The index text one message at a time, each freed before the next
	 * is made: the whole batch's text held at once was the store
	 * thread's largest buffer (issue 14: 10 sessions' messages in one
	 * transaction held 160 KiB of text beside FTS5's pending terms).
	 * The MIME parse runs again for it; the text is most of its cost. */
	for (i = 0; i < n; i++) {
		struct parsed tx;
		int rc;

		if (d[i].n_users == 0) /* see message_insert */
			continue;
		if (d[i].parsed) {
			rc =
			    index_insert(st, d[i].message_id, d[i].data, d[i].len, &d[i].parsed->p);
		} else {
			rc = parse_what(st, d[i].data ? d[i].data : "", d[i].len, PARSE_INDEX, &tx);
			if (rc == 0)
				rc = index_insert(st, d[i].message_id, d[i].data, d[i].len, &tx);
			store_parse_free(&tx);
		}
		if (rc < 0)
			goto fail;
	}
	free(own);
	if (store_commit(st) < 0)
		goto fail_ids;
	return 0;
fail:
	store_rollback(st);
fail_parse:
	/* own[] is zeroed where nothing was parsed; parsed_free copes */
	for (i = 0; i < n; i++)
		store_parse_free(&own[i]);
	free(own);
fail_ids:
	for (i = 0; i < n; i++)
		d[i].message_id = 0;
	return -1;
}

int store_append_many(struct store *st, struct store_append_job *jobs, size_t n)
{
	struct parsed *p;
	int64_t *mids;
	size_t total = 0, k, i, j;
	char kw[STORE_KEYWORDS_MAX + 1];
	int64_t now = store_now();

	for (i = 0; i < n; i++) {
		jobs[i].rc = 0;
		jobs[i].uidvalidity = 0;
		total += jobs[i].n;
		if (jobs[i].n == 0 || !jobs[i].mailbox)
			jobs[i].rc = -1;
		for (j = 0; j < jobs[i].n; j++) {
			const struct store_append_msg *m = &jobs[i].msgs[j];
			if ((m->flags & ~STORE_F_ALL) ||
			    store_keywords_norm(m->keywords, kw, sizeof(kw)) < 0 ||
			    (!m->data && m->len > 0))
				jobs[i].rc = -1;
		}
	}
	if (total == 0)
		return 0;
	/* parse everything before taking the write lock */
	p = calloc(total, sizeof(*p));
	mids = calloc(total, sizeof(*mids));
	if (!p || !mids) {
		free(p);
		free(mids);
		return store_err(st, "out of memory");
	}
	for (i = 0, k = 0; i < n; k += jobs[i].n, i++) {
		if (jobs[i].rc)
			continue;
		for (j = 0; j < jobs[i].n; j++) {
			const struct store_append_msg *m = &jobs[i].msgs[j];
			const char *why =
			    store_parse_core(m->data ? m->data : "", m->len,
					     st->defer_index ? PARSE_STRUCT : PARSE_ALL, &p[k + j]);
			if (why) {
				store_err(st, "%s", why);
				goto fail_parse;
			}
		}
	}
	if (store_begin(st) < 0)
		goto fail_parse;
	for (i = 0, k = 0; i < n; k += jobs[i].n, i++) {
		struct store_append_job *jb = &jobs[i];
		int64_t mbox;
		int rc;

		if (jb->rc)
			continue;
		rc = store_mailbox_id(st, jb->user_id, jb->mailbox, &mbox);
		if (rc == STORE_NOTFOUND) {
			jb->rc = rc;
			continue;
		}
		if (rc < 0)
			goto fail;
		for (j = 0; j < jb->n; j++) {
			struct store_append_msg *m = &jb->msgs[j];
			store_keywords_norm(m->keywords, kw, sizeof(kw));
			if (message_row_insert(st, m->data ? m->data : "", m->len,
					       m->internaldate ? m->internaldate : now, &p[k + j],
					       &mids[k + j]) < 0 ||
			    store_entry_add(st, mbox, mids[k + j], m->flags, kw, &m->uid,
					    &jb->uidvalidity) < 0)
				goto fail;
		}
	}
	/* the index rows last: FTS5 writes one segment at the commit (see
	 * store_deliver_many); or only their pending marks */
	for (i = 0, k = 0; i < n; k += jobs[i].n, i++)
		for (j = 0; jobs[i].rc == 0 && j < jobs[i].n; j++)
			if (st->defer_index
				? store_do(st, "index pending",
					   "INSERT INTO fts_pending(message_id) VALUES(?1)",
					   SA_INT(mids[k + j])) < 0
				: index_insert(st, mids[k + j], jobs[i].msgs[j].data,
					       jobs[i].msgs[j].len, &p[k + j]) < 0)
				goto fail;
	for (i = 0; i < total; i++)
		store_parse_free(&p[i]);
	free(p);
	free(mids);
	return store_commit(st) < 0 ? -1 : 0;
fail:
	store_rollback(st);
fail_parse:
	/* p[] is zeroed where nothing was parsed; parsed_free copes */
	for (i = 0; i < total; i++)
		store_parse_free(&p[i]);
	free(p);
	free(mids);
	return -1;
}

int store_append(struct store *st, int64_t user_id, const char *mailbox_name, const char *data,
		 size_t len, unsigned flags, const char *keywords, int64_t internaldate,
		 uint32_t *uidvalidity, uint32_t *uid)
{
	struct store_append_msg m = {data, len, flags, keywords, internaldate, 0};
	struct store_append_job jb = {user_id, mailbox_name, &m, 1, 0, 0};
	char kw[STORE_KEYWORDS_MAX + 1];

	if (flags & ~STORE_F_ALL)
		return store_err(st, "invalid flags");
	if (store_keywords_norm(keywords, kw, sizeof(kw)) < 0)
		return store_err(st, "invalid keywords");
	if (!data && len > 0)
		return store_err(st, "no data");
	if (store_append_many(st, &jb, 1) < 0)
		return -1;
	if (jb.rc == STORE_NOTFOUND)
		return store_errc(st, STORE_NOTFOUND, "no such mailbox");
	if (jb.rc < 0)
		return store_err(st, "invalid message");
	if (uidvalidity)
		*uidvalidity = jb.uidvalidity;
	if (uid)
		*uid = m.uid;
	return 0;
}

/* --- deferred search index ---------------------------------------------- */

/* Case-insensitive substring test of needle (folded, utf8_fold) in the
 * n bytes at hay; tmp is scratch. */
static int fold_contains(const struct buf *hay, const char *needle, size_t nlen, struct buf *tmp)
{
	buf_reset(tmp);
	if (utf8_fold(hay->data ? hay->data : "", hay->len, tmp) < 0)
		return 0; /* the folded text is as long as the text: cannot be */
	return nlen == 0 || (tmp->len >= nlen && memmem(tmp->data, tmp->len, needle, nlen) != NULL);
}

/* The header texts of the index (parse_core) that field covers: -1 for
 * "text" (the block and the five fields), else the store_index_fields[] entry;
 * -2 for "body" (none).  -3: unknown. */
static int field_index(const char *field)
{
	if (strcmp(field, "text") == 0)
		return -1;
	if (strcmp(field, "body") == 0)
		return -2;
	for (int i = 0; i < 5; i++)
		if (strcmp(field, store_index_fields[i]) == 0)
			return i;
	return -3;
}

static int scan_header(const char *data, size_t n, int fi, const char *needle, size_t nlen)
{
	struct buf f, tmp;
	int hit = 0;

	/* the same calls, with the same bounds, as parse_core's */
	buf_init(&tmp, 4 * HDRSCAN_MAX);
	if (fi == -1) {
		buf_init(&f, HDRSCAN_MAX);
		store_header_text(data, store_header_extent(data, n), &f);
		hit = fold_contains(&f, needle, nlen, &tmp);
		buf_free(&f);
	}
	for (int i = 0; i < 5 && !hit; i++) {
		if (fi != -1 && fi != i)
			continue;
		buf_init(&f, HDRFIELD_MAX);
		store_header_field(data, n, store_index_fields[i], i > 0, &f);
		hit = fold_contains(&f, needle, nlen, &tmp);
		buf_free(&f);
	}
	buf_free(&tmp);
	return hit;
}

int store_scan_header(const char *data, size_t n, const char *field, const char *needle,
		      size_t nlen)
{
	int fi = field_index(field);

	return fi >= 0 ? scan_header(data, n, fi, needle, nlen) : 0;
}

int store_scan_match(const char *data, size_t len, const char *field, const char *needle,
		     size_t nlen)
{
	int fi = field_index(field), hit = 0;
	struct parsed p;
	struct buf tmp;

	if (fi == -3)
		return 0;
	/* the header first: no MIME parse */
	if (fi != -2) {
		hit = scan_header(data, len, fi, needle, nlen);
		if (hit || fi >= 0)
			return hit;
	}
	if (store_parse_core(data, len, PARSE_TEXT, &p)) {
		store_parse_free(&p);
		return 0; /* as a message the index could not take */
	}
	buf_init(&tmp, 4 * (TEXT_MAX + HDRSCAN_MAX));
	hit = fold_contains(&p.text, needle, nlen, &tmp);
	buf_free(&tmp);
	store_parse_free(&p);
	return hit;
}

#define PENDING_TEXT_MAX (4u << 20) /* index text per transaction */

void store_set_defer_index(struct store *st, int on)
{
	st->defer_index = on != 0;
}

int store_index_pending_count(struct store *st, int64_t mailbox_id, int64_t *n)
{
	sqlite3_stmt *s;
	int rc;

	if (mailbox_id > 0)
		s = store_q(
		    st,
		    "SELECT count(DISTINCT p.message_id) FROM fts_pending p"
		    " JOIN entries e ON e.message_id = p.message_id WHERE e.mailbox_id = ?1",
		    SA_INT(mailbox_id));
	else
		s = store_stmt(st, "SELECT count(*) FROM fts_pending");
	if (!s)
		return -1;
	rc = store_row(st, s, "index pending count");
	if (rc <= 0)
		return rc < 0 ? -1 : store_err(st, "index pending count: no row");
	*n = sqlite3_column_int64(s, 0);
	store_stmt_done(s);
	return 0;
}

int store_fts_deleted(struct store *st, int64_t id, size_t max)
{
	sqlite3_stmt *s;
	int rc, n = 0;

	for (;;) {
		int64_t did;

		if (id > 0)
			s = store_q(st, "SELECT id, raw FROM fts_deleted WHERE id = ?1",
				    SA_INT(id));
		else
			s = store_stmt(st, "SELECT id, raw FROM fts_deleted LIMIT 1");
		if (!s)
			return -1;
		rc = store_row(st, s, "index deleted");
		if (rc <= 0)
			return rc < 0 ? -1 : n;
		did = sqlite3_column_int64(s, 0);
		/* the raw bytes bound straight from the row being read */
		rc = store_do(st, "index delete",
			      "INSERT INTO fts(fts, rowid, raw) VALUES('delete', ?1, ?2)",
			      SA_INT(did),
			      SA_BLOB(sqlite3_column_blob(s, 1) ? sqlite3_column_blob(s, 1) : "",
				      (size_t)sqlite3_column_bytes(s, 1)));
		store_stmt_done(s);
		if (rc < 0 || store_do(st, "index deleted done",
				       "DELETE FROM fts_deleted WHERE id = ?1", SA_INT(did)) < 0)
			return -1;
		n++;
		if (id > 0 || (size_t)n >= max)
			return n;
	}
}

int store_index_purge(struct store *st, size_t max)
{
	int n;

	if (max == 0)
		return 0;
	if (store_begin(st) < 0)
		return -1;
	n = store_fts_deleted(st, 0, max);
	if (n <= 0) {
		store_rollback(st);
		return n;
	}
	return store_commit(st) < 0 ? -1 : n;
}

int store_index_pending(struct store *st, int64_t mailbox_id, size_t max, const atomic_int *yield)
{
	int64_t *ids = NULL;
	size_t n = 0, cap = 0, text = 0, i;
	sqlite3_stmt *s;
	int rc, done = 0;

	if (max == 0)
		return 0;
	if (mailbox_id > 0)
		s = store_q(st,
			    "SELECT DISTINCT p.message_id FROM fts_pending p"
			    " JOIN entries e ON e.message_id = p.message_id"
			    " WHERE e.mailbox_id = ?1 ORDER BY p.message_id LIMIT ?2",
			    SA_INT(mailbox_id), SA_INT(max > INT64_MAX ? INT64_MAX : (int64_t)max));
	else
		s = store_q(st, "SELECT message_id FROM fts_pending ORDER BY message_id LIMIT ?2",
			    SA_INT(0), SA_INT(max > INT64_MAX ? INT64_MAX : (int64_t)max));
	if (!s)
		return -1;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		if (ARRAY_GROW(ids, cap, n + 1, 64) < 0) {
			store_stmt_done(s);
			free(ids);
			return store_err(st, "out of memory");
		}
		ids[n++] = sqlite3_column_int64(s, 0);
	}
	if (store_rows_done(st, s, rc, 0, "index pending") < 0 || n == 0) {
		free(ids);
		return n == 0 ? 0 : -1;
	}
	/* A message is read and parsed inside the transaction, one at a
	 * time: the transaction may end early (yield), and the parse costs a
	 * tenth of the index rows. */
	if (store_begin(st) < 0) {
		free(ids);
		return -1;
	}
	for (i = 0; i < n && text < PENDING_TEXT_MAX; i++) {
		struct parsed p;
		const char *why, *raw;
		size_t rawlen;

		/* another handle may have indexed it, or it was expunged */
		rc = store_do(st, "index pending done",
			      "DELETE FROM fts_pending WHERE message_id = ?1", SA_INT(ids[i]));
		if (rc < 0)
			goto fail;
		if (rc == 0)
			continue;
		s = store_q(st, "SELECT raw FROM messages WHERE id = ?1", SA_INT(ids[i]));
		if (!s)
			goto fail;
		rc = store_row(st, s, "index pending read");
		if (rc < 0)
			goto fail;
		if (rc == 0)
			continue; /* cannot be: its mark went with it */
		raw = sqlite3_column_blob(s, 0) ? sqlite3_column_blob(s, 0) : "";
		rawlen = (size_t)sqlite3_column_bytes(s, 0);
		why = store_parse_core(raw, rawlen, PARSE_INDEX, &p);
		/* the row, read while the message's row is still at hand; a
		 * message that cannot be parsed has no text (the tokenizer
		 * finds none either) */
		text += p.text.len + p.header.len;
		rc = index_insert(st, ids[i], raw, rawlen, why ? NULL : &p);
		store_parse_free(&p);
		store_stmt_done(s);
		if (rc < 0)
			goto fail;
		done++;
		/* an APPEND waits for the lock: its commit first; what is left
		 * is still pending */
		if (yield && atomic_load(yield))
			break;
	}
	free(ids);
	return store_commit(st) < 0 ? -1 : done;
fail:
	store_rollback(st);
	free(ids);
	return -1;
}

static char *dup_text(sqlite3_stmt *s, int col)
{
	const char *t = (const char *)sqlite3_column_text(s, col);
	size_t n = (size_t)sqlite3_column_bytes(s, col);
	char *p = malloc(n + 1);

	if (p) {
		memcpy(p, t ? t : "", n);
		p[n] = '\0';
	}
	return p;
}

static int message_read(struct store *st, int64_t message_id, int with_data,
			struct store_message *out)
{
	sqlite3_stmt *s;
	int rc;

	memset(out, 0, sizeof(*out));
	if (with_data)
		s = store_stmt(st,
			       "SELECT size, envelope, bodystructure, body, sections, header_size,"
			       " lines, internaldate, mime_flags, raw FROM messages WHERE id = ?1");
	else
		s = store_stmt(st,
			       "SELECT size, envelope, bodystructure, body, sections, header_size,"
			       " lines, internaldate, mime_flags FROM messages WHERE id = ?1");
	if (!s)
		return -1;
	sqlite3_bind_int64(s, 1, message_id);
	rc = sqlite3_step(s);
	if (rc != SQLITE_ROW) {
		store_stmt_done(s);
		if (rc == SQLITE_DONE)
			return store_errc(st, STORE_NOTFOUND, "no such message %lld",
					  (long long)message_id);
		return store_sqlerr(st, "message get");
	}
	out->id = message_id;
	out->size = (size_t)sqlite3_column_int64(s, 0);
	out->envelope = dup_text(s, 1);
	out->bodystructure = dup_text(s, 2);
	out->body = dup_text(s, 3);
	out->sections_len = (size_t)sqlite3_column_bytes(s, 4);
	out->sections = malloc(out->sections_len + 1);
	if (out->sections && out->sections_len)
		memcpy(out->sections, sqlite3_column_blob(s, 4), out->sections_len);
	out->header_size = (size_t)sqlite3_column_int64(s, 5);
	out->lines = (uint64_t)sqlite3_column_int64(s, 6);
	out->internaldate = sqlite3_column_int64(s, 7);
	out->mime_flags = (unsigned)sqlite3_column_int(s, 8);
	rc = 0;
	if (with_data) {
		size_t n = (size_t)sqlite3_column_bytes(s, 9);
		const void *b = sqlite3_column_blob(s, 9);

		out->data = malloc(n + 1);
		if (out->data) {
			if (n)
				memcpy(out->data, b, n);
			out->data[n] = '\0';
			out->size = n;
		} else {
			rc = -1;
		}
	}
	store_stmt_done(s);
	if (rc < 0 || !out->envelope || !out->bodystructure || !out->body || !out->sections) {
		store_message_free(out);
		return store_err(st, "out of memory");
	}
	return 0;
}

int store_message_get(struct store *st, int64_t message_id, struct store_message *out)
{
	return message_read(st, message_id, 1, out);
}

int store_message_meta(struct store *st, int64_t message_id, struct store_message *out)
{
	return message_read(st, message_id, 0, out);
}

void store_message_free(struct store_message *m)
{
	if (!m)
		return;
	free(m->data);
	free(m->envelope);
	free(m->bodystructure);
	free(m->body);
	free(m->sections);
	memset(m, 0, sizeof(*m));
}
