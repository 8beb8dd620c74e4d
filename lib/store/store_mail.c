/*
 * Messages and mailboxes: delivery, APPEND, mailbox management, entries,
 * flags with CONDSTORE modseqs, copy/move/expunge with the VANISHED record,
 * and full-text search.
 *
 * A message row holds the raw bytes once plus everything IMAP needs that
 * comes from parsing (computed here, at delivery, by lib/mime); an entry
 * row puts it in one mailbox with a UID, flags, keywords and a modseq.
 * Triggers (store.c) delete a message once no entry and no queue row refer
 * to it.
 *
 * UIDs and modseqs come from the mailbox row (uidnext, highestmodseq),
 * updated in the same transaction as the entry, so they are strictly
 * increasing per mailbox whichever process writes.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "buf.h"
#include "mime.h"
#include "store_internal.h"

#define STRUCT_MAX   (16u << 20) /* envelope / bodystructure / sections */
#define TEXT_MAX     (4u << 20)	 /* search text of one message */
#define HDRFIELD_MAX (64u << 10) /* one header field for the index */
#define HDRSCAN_MAX  (1u << 20)	 /* header bytes scanned for index fields */
#define KEYWORDS_N   64		 /* keywords per entry */

/* --- names and keywords ------------------------------------------------- */

/* Copies a valid mailbox name into out ("INBOX" in any case becomes
 * "INBOX").  Returns 0 or -1. */
static int mbox_norm(const char *name, char *out, size_t outlen)
{
	size_t n = name ? strlen(name) : 0;

	if (n == 0 || n > STORE_MBOX_MAX || n + 1 > outlen)
		return -1;
	if (strcasecmp(name, "INBOX") == 0) {
		memcpy(out, "INBOX", 6);
		return 0;
	}
	if (name[0] == STORE_MBOX_SEP || name[n - 1] == STORE_MBOX_SEP)
		return -1;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)name[i];

		if (c < ' ' || c == 0x7f || c == '*' || c == '%')
			return -1;
		if (c == STORE_MBOX_SEP && name[i + 1] == STORE_MBOX_SEP)
			return -1;
	}
	memcpy(out, name, n + 1);
	return 0;
}

static int kw_char_ok(unsigned char c)
{
	/* IMAP atom-char minus resp-specials; no '\' (system flags) */
	return c > ' ' && c < 0x7f && !strchr("(){%*\"\\]", c);
}

struct kwset {
	size_t n;
	char *kw[KEYWORDS_N];
	char store[STORE_KEYWORDS_MAX + 1];
	size_t used;
};

static int kw_has(const struct kwset *k, const char *w)
{
	for (size_t i = 0; i < k->n; i++)
		if (strcasecmp(k->kw[i], w) == 0)
			return 1;
	return 0;
}

/* Adds the space-separated keywords of s (may be NULL) to k, skipping
 * duplicates.  Returns 0, or -1 for an invalid keyword or too many. */
static int kw_parse(struct kwset *k, const char *s)
{
	while (s && *s) {
		const char *e;
		char w[STORE_KEYWORDS_MAX + 1];
		size_t n;

		while (*s == ' ')
			s++;
		if (!*s)
			break;
		for (e = s; *e && *e != ' '; e++)
			if (!kw_char_ok((unsigned char)*e))
				return -1;
		n = (size_t)(e - s);
		if (n > STORE_KEYWORDS_MAX)
			return -1;
		memcpy(w, s, n);
		w[n] = '\0';
		s = e;
		if (kw_has(k, w))
			continue;
		if (k->n == KEYWORDS_N || k->used + n + 1 > sizeof(k->store))
			return -1;
		k->kw[k->n] = k->store + k->used;
		memcpy(k->kw[k->n++], w, n + 1);
		k->used += n + 1;
	}
	return 0;
}

static void kw_remove(struct kwset *k, const struct kwset *rm)
{
	size_t j = 0;

	for (size_t i = 0; i < k->n; i++)
		if (!kw_has(rm, k->kw[i]))
			k->kw[j++] = k->kw[i];
	k->n = j;
}

/* Joins k into out (space separated).  Returns 0 or -1 when too long. */
static int kw_join(const struct kwset *k, char *out, size_t outlen)
{
	size_t o = 0;

	out[0] = '\0';
	for (size_t i = 0; i < k->n; i++) {
		size_t n = strlen(k->kw[i]);

		if (o + n + (i > 0) + 1 > outlen || o + n + (i > 0) > STORE_KEYWORDS_MAX)
			return -1;
		if (i > 0)
			out[o++] = ' ';
		memcpy(out + o, k->kw[i], n + 1);
		o += n;
	}
	return 0;
}

/* Normalises a keywords argument: validated, duplicates removed. */
static int kw_norm(const char *in, char *out, size_t outlen)
{
	struct kwset *k = calloc(1, sizeof(*k));
	int rc;

	if (!k)
		return -1;
	rc = kw_parse(k, in) == 0 ? kw_join(k, out, outlen) : -1;
	free(k);
	return rc;
}

/* --- parsing at delivery ------------------------------------------------ */

struct parsed {
	struct buf env, bs, body, sect, text, hdr[5];
	size_t header_size;
	uint64_t lines;
	unsigned mflags;
};

static const char *const index_fields[5] = {"subject", "from", "to", "cc", "bcc"};

static void parsed_free(struct parsed *p)
{
	buf_free(&p->env);
	buf_free(&p->bs);
	buf_free(&p->body);
	buf_free(&p->sect);
	buf_free(&p->text);
	for (int i = 0; i < 5; i++)
		buf_free(&p->hdr[i]);
}

/* Appends the unfolded value of every header field called name in the top
 * header block of data to out, decoded (RFC 2047), fields separated by a
 * space.  Bounded by HDRSCAN_MAX and HDRFIELD_MAX; returns 0 or -1. */
static int header_field(const char *data, size_t len, const char *name, struct buf *out)
{
	size_t nlen = strlen(name), i = 0;
	struct buf raw;
	int rc = 0;

	if (len > HDRSCAN_MAX)
		len = HDRSCAN_MAX;
	buf_init(&raw, HDRFIELD_MAX);
	while (i < len) {
		size_t eol = i;
		int match;

		while (eol < len && data[eol] != '\n')
			eol++;
		/* a blank line ends the header block */
		if (eol == i || (eol == i + 1 && data[i] == '\r'))
			break;
		match = eol - i > nlen && strncasecmp(data + i, name, nlen) == 0 &&
			data[i + nlen] == ':';
		if (match) {
			size_t v = i + nlen + 1;

			buf_reset(&raw);
			for (;;) {
				size_t e = eol;

				if (e > v && data[e - 1] == '\r')
					e--;
				if (raw.len == 0 && out->len > 0)
					buf_putc(&raw, ' ');
				/* over-long: keep what fits */
				buf_append(&raw, data + v, e - v);
				if (eol + 1 >= len ||
				    (data[eol + 1] != ' ' && data[eol + 1] != '\t'))
					break;
				v = eol + 1;
				eol = v;
				while (eol < len && data[eol] != '\n')
					eol++;
			}
			/* folding whitespace searches as a space */
			for (size_t k = 0; k < raw.len; k++)
				if (raw.data[k] == '\t')
					raw.data[k] = ' ';
			if (mime_decode_header(raw.data ? raw.data : "", raw.len, out) < 0)
				rc = -1;
		}
		i = eol + 1;
	}
	buf_free(&raw);
	return rc;
}

/* Fills *p (free with parsed_free, also on failure).  Touches no handle,
 * so any thread may call it.  Returns NULL, or the reason it failed. */
static const char *parse_core(const char *data, size_t len, struct parsed *p)
{
	struct mime_msg *m = NULL;

	memset(p, 0, sizeof(*p));
	buf_init(&p->env, STRUCT_MAX);
	buf_init(&p->bs, STRUCT_MAX);
	buf_init(&p->body, STRUCT_MAX);
	buf_init(&p->sect, STRUCT_MAX);
	buf_init(&p->text, TEXT_MAX);
	for (int i = 0; i < 5; i++)
		buf_init(&p->hdr[i], HDRFIELD_MAX);
	if (mime_parse(data, len, NULL, &m) < 0)
		return "out of memory parsing the message";
	if (mime_envelope(m, &p->env) < 0 || mime_bodystructure(m, 1, &p->bs) < 0 ||
	    mime_bodystructure(m, 0, &p->body) < 0 || mime_sections_encode(m, &p->sect) < 0) {
		mime_free(m);
		return "message structure too large";
	}
	/* The index text is best effort: a truncated index is better than a
	 * refused message. */
	mime_search_text(m, &p->text);
	p->header_size = mime_header_size(m);
	p->mflags = mime_flags(m);
	mime_free(m);
	for (int i = 0; i < 5; i++)
		header_field(data, len, index_fields[i], &p->hdr[i]);
	for (size_t i = 0; i < len; i++)
		if (data[i] == '\n')
			p->lines++;
	if (len > 0 && data[len - 1] != '\n')
		p->lines++;
	return NULL;
}

static int parse_message(struct store *st, const char *data, size_t len, struct parsed *p)
{
	const char *why = parse_core(data, len, p);

	return why ? store_err(st, "%s", why) : 0;
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

/* Inserts the search index row of message id.  Call inside a transaction. */
static int index_insert(struct store *st, int64_t id, const struct parsed *p)
{
	sqlite3_stmt *s = store_stmt(st, "INSERT INTO fts(rowid, subject, hfrom, hto, hcc, hbcc,"
					 " body) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7)");

	if (!s)
		return -1;
	sqlite3_bind_int64(s, 1, id);
	for (int i = 0; i < 5; i++)
		bind_buf(s, 2 + i, &p->hdr[i]);
	bind_buf(s, 7, &p->text);
	return store_step_done(st, s, "index insert");
}

/* Inserts the message row and its index row.  Call inside a transaction. */
static int message_insert(struct store *st, const char *data, size_t len, int64_t internaldate,
			  const struct parsed *p, int64_t *id)
{
	if (message_row_insert(st, data, len, internaldate, p, id) < 0)
		return -1;
	return index_insert(st, *id, p);
}

/* Puts message_id in mailbox_id with the next UID and modseq.  Call inside
 * a transaction.  Returns 0 or -1. */
static int entry_add(struct store *st, int64_t mailbox_id, int64_t message_id, unsigned flags,
		     const char *keywords, uint32_t *uid_out, uint32_t *uidvalidity_out)
{
	sqlite3_stmt *s;
	int64_t uid, modseq;
	uint32_t uidvalidity;
	int rc;

	s = store_stmt(st, "UPDATE mailboxes SET uidnext = uidnext + 1,"
			   " highestmodseq = highestmodseq + 1 WHERE id = ?1"
			   " RETURNING uidnext - 1, highestmodseq, uidvalidity");
	if (!s)
		return -1;
	sqlite3_bind_int64(s, 1, mailbox_id);
	rc = sqlite3_step(s);
	if (rc != SQLITE_ROW) {
		if (rc == SQLITE_DONE)
			store_err(st, "no such mailbox id %lld", (long long)mailbox_id);
		else
			store_sqlerr(st, "uid allocation");
		store_stmt_done(s);
		return -1;
	}
	uid = sqlite3_column_int64(s, 0);
	modseq = sqlite3_column_int64(s, 1);
	uidvalidity = (uint32_t)sqlite3_column_int64(s, 2);
	/* RETURNING statements must run to completion */
	while (sqlite3_step(s) == SQLITE_ROW)
		;
	store_stmt_done(s);
	if (uid < 1 || uid > 0xffffffffLL)
		return store_err(st, "mailbox UIDs exhausted");
	s = store_stmt(st,
		       "INSERT INTO entries(mailbox_id, uid, message_id, flags, keywords, modseq)"
		       " VALUES(?1, ?2, ?3, ?4, ?5, ?6)");
	if (!s)
		return -1;
	sqlite3_bind_int64(s, 1, mailbox_id);
	sqlite3_bind_int64(s, 2, uid);
	sqlite3_bind_int64(s, 3, message_id);
	sqlite3_bind_int64(s, 4, flags & STORE_F_ALL);
	sqlite3_bind_text(s, 5, keywords ? keywords : "", -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 6, modseq);
	if (store_step_done(st, s, "entry insert") < 0)
		return -1;
	if (uid_out)
		*uid_out = (uint32_t)uid;
	if (uidvalidity_out)
		*uidvalidity_out = uidvalidity;
	return 0;
}

static int mailbox_id(struct store *st, int64_t user_id, const char *name, int64_t *id)
{
	char n[STORE_MBOX_MAX + 1];
	sqlite3_stmt *s;
	int rc;

	if (mbox_norm(name, n, sizeof(n)) < 0)
		return store_errc(st, STORE_NOTFOUND, "invalid mailbox name");
	s = store_stmt(st, "SELECT id FROM mailboxes WHERE user_id = ?1 AND name = ?2");
	if (!s)
		return -1;
	sqlite3_bind_int64(s, 1, user_id);
	sqlite3_bind_text(s, 2, n, -1, SQLITE_STATIC);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW)
		*id = sqlite3_column_int64(s, 0);
	store_stmt_done(s);
	if (rc == SQLITE_ROW)
		return 0;
	if (rc == SQLITE_DONE)
		return store_errc(st, STORE_NOTFOUND, "no such mailbox: %s", n);
	return store_sqlerr(st, "mailbox lookup");
}

/* --- delivery ----------------------------------------------------------- */

static int queue_insert(struct store *st, int64_t message_id, const char *from, const char *rcpt,
			int64_t now)
{
	sqlite3_stmt *s = store_stmt(st, "INSERT INTO queue(message_id, mail_from, rcpt, created,"
					 " next_attempt) VALUES(?1, ?2, ?3, ?4, ?4)");

	if (!s)
		return -1;
	sqlite3_bind_int64(s, 1, message_id);
	sqlite3_bind_text(s, 2, from, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 3, rcpt, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 4, now);
	return store_step_done(st, s, "queue insert");
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
		rc = mailbox_id(st, user_ids[i], "INBOX", &inbox);
		if (rc < 0) {
			if (rc == STORE_NOTFOUND)
				store_err(st, "no INBOX for user id %lld", (long long)user_ids[i]);
			return -1;
		}
		if (entry_add(st, inbox, mid, 0, "", NULL, NULL) < 0)
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
		parsed_free(&p);
		return -1;
	}
	if (store_begin(st) < 0) {
		parsed_free(&p);
		return -1;
	}
	if (message_insert(st, data ? data : "", len, now, &p, &mid) < 0 ||
	    deliver_targets(st, mid, mail_from, user_ids, n_users, remote_rcpts, n_remote, now) < 0)
		goto fail;
	parsed_free(&p);
	if (store_commit(st) < 0)
		return -1;
	if (message_id_out)
		*message_id_out = mid;
	return 0;
fail:
	parsed_free(&p);
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
	why = parse_core(data ? data : "", data ? len : 0, &sp->p);
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
	parsed_free(&sp->p);
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
	/* parse what the caller did not, before taking the write lock */
	own = calloc(n, sizeof(*own));
	if (!own)
		return store_err(st, "out of memory");
	for (i = 0; i < n; i++)
		if (!d[i].parsed &&
		    parse_message(st, d[i].data ? d[i].data : "", d[i].len, &own[i]) < 0)
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
	}
	for (i = 0; i < n; i++)
		if (index_insert(st, d[i].message_id, d[i].parsed ? &d[i].parsed->p : &own[i]) < 0)
			goto fail;
	for (i = 0; i < n; i++)
		parsed_free(&own[i]);
	free(own);
	if (store_commit(st) < 0)
		goto fail_ids;
	return 0;
fail:
	store_rollback(st);
fail_parse:
	/* own[] is zeroed where nothing was parsed; parsed_free copes */
	for (i = 0; i < n; i++)
		parsed_free(&own[i]);
	free(own);
fail_ids:
	for (i = 0; i < n; i++)
		d[i].message_id = 0;
	return -1;
}

int store_append(struct store *st, int64_t user_id, const char *mailbox_name, const char *data,
		 size_t len, unsigned flags, const char *keywords, int64_t internaldate,
		 uint32_t *uidvalidity, uint32_t *uid)
{
	char kw[STORE_KEYWORDS_MAX + 1];
	struct parsed p;
	int64_t mbox, mid;
	int rc;

	if (flags & ~STORE_F_ALL)
		return store_err(st, "invalid flags");
	if (kw_norm(keywords, kw, sizeof(kw)) < 0)
		return store_err(st, "invalid keywords");
	if (!data && len > 0)
		return store_err(st, "no data");
	if (internaldate == 0)
		internaldate = store_now();
	if (parse_message(st, data ? data : "", len, &p) < 0) {
		parsed_free(&p);
		return -1;
	}
	if (store_begin(st) < 0) {
		parsed_free(&p);
		return -1;
	}
	rc = mailbox_id(st, user_id, mailbox_name, &mbox);
	if (rc < 0) {
		parsed_free(&p);
		store_rollback(st);
		return rc;
	}
	if (message_insert(st, data ? data : "", len, internaldate, &p, &mid) < 0 ||
	    entry_add(st, mbox, mid, flags, kw, uid, uidvalidity) < 0) {
		parsed_free(&p);
		store_rollback(st);
		return -1;
	}
	parsed_free(&p);
	return store_commit(st);
}

/* --- mailboxes ---------------------------------------------------------- */

static int next_uidvalidity(struct store *st, int64_t *v)
{
	/* Unique per database and increasing, so a mailbox deleted and
	 * created again never reuses a UIDVALIDITY. */
	sqlite3_stmt *s =
	    store_stmt(st, "INSERT INTO counters(name, value) VALUES('uidvalidity', ?1)"
			   " ON CONFLICT(name) DO UPDATE SET value = max(value + 1, ?1)"
			   " RETURNING value");
	int rc;

	if (!s)
		return -1;
	sqlite3_bind_int64(s, 1, store_now() & 0xffffffffLL);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW)
		*v = sqlite3_column_int64(s, 0);
	while (rc == SQLITE_ROW && sqlite3_step(s) == SQLITE_ROW)
		;
	store_stmt_done(s);
	if (rc != SQLITE_ROW)
		return store_sqlerr(st, "uidvalidity");
	if (*v < 1 || *v > 0xffffffffLL)
		return store_err(st, "UIDVALIDITY space exhausted");
	return 0;
}

int store_mailbox_create_tx(struct store *st, int64_t user_id, const char *name,
			    const char *special, int subscribed, int64_t *id_out)
{
	char n[STORE_MBOX_MAX + 1];
	int64_t uv = 0;
	sqlite3_stmt *s;
	int rc;

	if (mbox_norm(name, n, sizeof(n)) < 0)
		return store_err(st, "invalid mailbox name");
	if (next_uidvalidity(st, &uv) < 0)
		return -1;
	s = store_stmt(st,
		       "INSERT INTO mailboxes(user_id, name, special_use, uidvalidity, subscribed)"
		       " VALUES(?1, ?2, ?3, ?4, ?5)");
	if (!s)
		return -1;
	sqlite3_bind_int64(s, 1, user_id);
	sqlite3_bind_text(s, 2, n, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 3, special ? special : "", -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 4, uv);
	sqlite3_bind_int(s, 5, subscribed != 0);
	rc = sqlite3_step(s);
	store_stmt_done(s);
	if (rc == SQLITE_CONSTRAINT_UNIQUE)
		return store_errc(st, STORE_EXISTS, "mailbox exists: %s", n);
	if (rc == SQLITE_CONSTRAINT_FOREIGNKEY)
		return store_err(st, "no such user id %lld", (long long)user_id);
	if (rc != SQLITE_DONE)
		return store_sqlerr(st, "mailbox create");
	if (id_out)
		*id_out = sqlite3_last_insert_rowid(st->db);
	return 0;
}

int store_mailbox_create(struct store *st, int64_t user_id, const char *name, int64_t *id_out)
{
	int rc;

	if (store_begin(st) < 0)
		return -1;
	rc = store_mailbox_create_tx(st, user_id, name, "", 0, id_out);
	if (rc < 0) {
		store_rollback(st);
		return rc;
	}
	return store_commit(st);
}

int store_mailbox_list(struct store *st, int64_t user_id, store_mailbox_cb cb, void *arg)
{
	sqlite3_stmt *s = store_stmt(
	    st, "SELECT m.id, m.name, m.special_use, m.subscribed,"
		" EXISTS(SELECT 1 FROM mailboxes c WHERE c.user_id = m.user_id"
		"  AND substr(c.name, 1, length(m.name) + 1) = m.name || '/')"
		" FROM mailboxes m WHERE m.user_id = ?1 ORDER BY m.name <> 'INBOX', m.name");
	struct store_mailbox_info mi;
	int rc, n = 0;

	if (!s)
		return -1;
	sqlite3_bind_int64(s, 1, user_id);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		mi.id = sqlite3_column_int64(s, 0);
		mi.name = (const char *)sqlite3_column_text(s, 1);
		mi.special_use = (const char *)sqlite3_column_text(s, 2);
		mi.subscribed = sqlite3_column_int(s, 3);
		mi.attributes = sqlite3_column_int(s, 4) ? "\\HasChildren" : "\\HasNoChildren";
		n++;
		if (cb(arg, &mi))
			break;
	}
	return store_rows_done(st, s, rc, n, "mailbox list");
}

int store_mailbox_delete(struct store *st, int64_t user_id, const char *name)
{
	int64_t id;
	sqlite3_stmt *s;
	int rc;

	if (name && strcasecmp(name, "INBOX") == 0)
		return store_err(st, "INBOX cannot be deleted");
	if (store_begin(st) < 0)
		return -1;
	rc = mailbox_id(st, user_id, name, &id);
	if (rc < 0) {
		store_rollback(st);
		return rc;
	}
	s = store_stmt(st, "DELETE FROM mailboxes WHERE id = ?1");
	if (!s || (sqlite3_bind_int64(s, 1, id), store_step_done(st, s, "mailbox delete")) < 0) {
		store_rollback(st);
		return -1;
	}
	return store_commit(st);
}

int store_mailbox_rename(struct store *st, int64_t user_id, const char *oldname,
			 const char *newname)
{
	char o[STORE_MBOX_MAX + 1], n[STORE_MBOX_MAX + 1];
	int64_t id;
	sqlite3_stmt *s;
	size_t ol;
	int rc;

	if (mbox_norm(oldname, o, sizeof(o)) < 0)
		return store_errc(st, STORE_NOTFOUND, "invalid mailbox name");
	if (mbox_norm(newname, n, sizeof(n)) < 0)
		return store_err(st, "invalid new mailbox name");
	if (strcmp(o, "INBOX") == 0)
		return store_err(st, "INBOX is renamed by moving its messages");
	ol = strlen(o);
	if (strncmp(n, o, ol) == 0 && (n[ol] == '\0' || n[ol] == STORE_MBOX_SEP))
		return store_errc(st, STORE_EXISTS, "cannot rename a mailbox into itself");
	if (store_begin(st) < 0)
		return -1;
	rc = mailbox_id(st, user_id, o, &id);
	if (rc < 0) {
		store_rollback(st);
		return rc;
	}
	rc = mailbox_id(st, user_id, n, &id);
	if (rc != STORE_NOTFOUND) {
		store_rollback(st);
		return rc < 0 ? rc : store_errc(st, STORE_EXISTS, "mailbox exists: %s", n);
	}
	/* the mailbox and all its children, "old/x" -> "new/x" */
	s = store_stmt(
	    st,
	    "UPDATE mailboxes SET name = ?3 || substr(name, length(?2) + 1)"
	    " WHERE user_id = ?1 AND (name = ?2 OR substr(name, 1, length(?2) + 1) = ?2 || '/')");
	if (!s) {
		store_rollback(st);
		return -1;
	}
	sqlite3_bind_int64(s, 1, user_id);
	sqlite3_bind_text(s, 2, o, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 3, n, -1, SQLITE_STATIC);
	rc = sqlite3_step(s);
	store_stmt_done(s);
	if (rc == SQLITE_CONSTRAINT_UNIQUE) {
		store_rollback(st);
		return store_errc(st, STORE_EXISTS, "a child's new name exists");
	}
	if (rc != SQLITE_DONE) {
		store_sqlerr(st, "mailbox rename");
		store_rollback(st);
		return -1;
	}
	return store_commit(st);
}

int store_mailbox_subscribe(struct store *st, int64_t user_id, const char *name, int on)
{
	char n[STORE_MBOX_MAX + 1];
	sqlite3_stmt *s;

	if (mbox_norm(name, n, sizeof(n)) < 0)
		return store_errc(st, STORE_NOTFOUND, "invalid mailbox name");
	if (store_begin(st) < 0)
		return -1;
	s = store_stmt(st, "UPDATE mailboxes SET subscribed = ?3 WHERE user_id = ?1 AND name = ?2");
	if (!s)
		goto fail;
	sqlite3_bind_int64(s, 1, user_id);
	sqlite3_bind_text(s, 2, n, -1, SQLITE_STATIC);
	sqlite3_bind_int(s, 3, on != 0);
	if (store_step_done(st, s, "subscribe") < 0)
		goto fail;
	if (sqlite3_changes(st->db) == 0) {
		store_rollback(st);
		return store_errc(st, STORE_NOTFOUND, "no such mailbox: %s", n);
	}
	return store_commit(st);
fail:
	store_rollback(st);
	return -1;
}

#define MAILBOX_COLS                                                                               \
	"SELECT m.id, m.user_id, m.uidvalidity, m.uidnext, m.highestmodseq, m.recent_uid,"         \
	" m.subscribed, m.special_use, m.name,"                                                    \
	" (SELECT count(*) FROM entries e WHERE e.mailbox_id = m.id),"                             \
	" (SELECT count(*) FROM entries e WHERE e.mailbox_id = m.id AND (e.flags & 1) = 0),"       \
	" (SELECT min(uid) FROM entries e WHERE e.mailbox_id = m.id AND (e.flags & 1) = 0),"       \
	" (SELECT count(*) FROM entries e WHERE e.mailbox_id = m.id AND e.uid > m.recent_uid)"     \
	" FROM mailboxes m "

static int mailbox_read(struct store *st, sqlite3_stmt *s, struct store_mailbox *out)
{
	int rc = sqlite3_step(s);

	memset(out, 0, sizeof(*out));
	if (rc == SQLITE_ROW) {
		const char *su = (const char *)sqlite3_column_text(s, 7);
		const char *nm = (const char *)sqlite3_column_text(s, 8);

		out->id = sqlite3_column_int64(s, 0);
		out->user_id = sqlite3_column_int64(s, 1);
		out->uidvalidity = (uint32_t)sqlite3_column_int64(s, 2);
		out->uidnext = (uint32_t)sqlite3_column_int64(s, 3);
		out->highestmodseq = (uint64_t)sqlite3_column_int64(s, 4);
		out->recent_uid = (uint32_t)sqlite3_column_int64(s, 5);
		out->subscribed = sqlite3_column_int(s, 6);
		snprintf(out->special_use, sizeof(out->special_use), "%s", su ? su : "");
		snprintf(out->name, sizeof(out->name), "%s", nm ? nm : "");
		out->messages = (uint32_t)sqlite3_column_int64(s, 9);
		out->unseen = (uint32_t)sqlite3_column_int64(s, 10);
		out->first_unseen = (uint32_t)sqlite3_column_int64(s, 11);
		out->recent = (uint32_t)sqlite3_column_int64(s, 12);
	}
	store_stmt_done(s);
	if (rc == SQLITE_ROW)
		return 0;
	if (rc == SQLITE_DONE)
		return store_errc(st, STORE_NOTFOUND, "no such mailbox");
	return store_sqlerr(st, "mailbox get");
}

int store_mailbox_get(struct store *st, int64_t user_id, const char *name,
		      struct store_mailbox *out)
{
	char n[STORE_MBOX_MAX + 1];
	sqlite3_stmt *s;

	if (mbox_norm(name, n, sizeof(n)) < 0)
		return store_errc(st, STORE_NOTFOUND, "invalid mailbox name");
	s = store_stmt(st, MAILBOX_COLS "WHERE m.user_id = ?1 AND m.name = ?2");
	if (!s)
		return -1;
	sqlite3_bind_int64(s, 1, user_id);
	sqlite3_bind_text(s, 2, n, -1, SQLITE_TRANSIENT);
	return mailbox_read(st, s, out);
}

int store_mailbox_get_id(struct store *st, int64_t mailbox_id, struct store_mailbox *out)
{
	sqlite3_stmt *s = store_stmt(st, MAILBOX_COLS "WHERE m.id = ?1");

	if (!s)
		return -1;
	sqlite3_bind_int64(s, 1, mailbox_id);
	return mailbox_read(st, s, out);
}

int store_mailbox_claim_recent(struct store *st, int64_t mailbox_id, uint32_t *old_mark)
{
	sqlite3_stmt *s;
	int rc;

	if (store_begin(st) < 0)
		return -1;
	s = store_stmt(st, "SELECT recent_uid FROM mailboxes WHERE id = ?1");
	if (!s)
		goto fail;
	sqlite3_bind_int64(s, 1, mailbox_id);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW)
		*old_mark = (uint32_t)sqlite3_column_int64(s, 0);
	store_stmt_done(s);
	if (rc != SQLITE_ROW) {
		store_rollback(st);
		if (rc == SQLITE_DONE)
			return store_errc(st, STORE_NOTFOUND, "no such mailbox");
		return store_sqlerr(st, "claim recent");
	}
	s = store_stmt(st, "UPDATE mailboxes SET recent_uid = uidnext - 1 WHERE id = ?1");
	if (!s)
		goto fail;
	sqlite3_bind_int64(s, 1, mailbox_id);
	if (store_step_done(st, s, "claim recent") < 0)
		goto fail;
	return store_commit(st);
fail:
	store_rollback(st);
	return -1;
}

/* --- entries and messages ----------------------------------------------- */

int store_entries_changed(struct store *st, int64_t mailbox_id, uint32_t uid_from, uint32_t uid_to,
			  uint64_t changedsince, store_entry_cb cb, void *arg)
{
	sqlite3_stmt *s =
	    store_stmt(st, "SELECT e.uid, e.flags, e.keywords, e.modseq, e.message_id,"
			   " m.size, m.internaldate FROM entries e"
			   " JOIN messages m ON m.id = e.message_id"
			   " WHERE e.mailbox_id = ?1 AND e.uid >= ?2 AND e.uid <= ?3"
			   " AND e.modseq > ?4 ORDER BY e.uid");
	struct store_entry e;
	int rc, n = 0;

	if (!s)
		return -1;
	sqlite3_bind_int64(s, 1, mailbox_id);
	sqlite3_bind_int64(s, 2, uid_from);
	sqlite3_bind_int64(s, 3, uid_to ? uid_to : 0xffffffffLL);
	sqlite3_bind_int64(s, 4, (int64_t)changedsince);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		e.uid = (uint32_t)sqlite3_column_int64(s, 0);
		e.flags = (unsigned)sqlite3_column_int(s, 1);
		e.keywords = (const char *)sqlite3_column_text(s, 2);
		e.modseq = (uint64_t)sqlite3_column_int64(s, 3);
		e.message_id = sqlite3_column_int64(s, 4);
		e.size = (uint64_t)sqlite3_column_int64(s, 5);
		e.internaldate = sqlite3_column_int64(s, 6);
		if (!e.keywords)
			e.keywords = "";
		n++;
		if (cb(arg, &e))
			break;
	}
	return store_rows_done(st, s, rc, n, "entries");
}

int store_entries(struct store *st, int64_t mailbox_id, uint32_t uid_from, uint32_t uid_to,
		  store_entry_cb cb, void *arg)
{
	return store_entries_changed(st, mailbox_id, uid_from, uid_to, 0, cb, arg);
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

/* --- flags -------------------------------------------------------------- */

/* Gives the mailbox a new highest modseq and returns it in *modseq. */
static int modseq_bump(struct store *st, int64_t mailbox_id, int64_t *modseq)
{
	sqlite3_stmt *s = store_stmt(st, "UPDATE mailboxes SET highestmodseq = highestmodseq + 1"
					 " WHERE id = ?1 RETURNING highestmodseq");
	int rc;

	if (!s)
		return -1;
	sqlite3_bind_int64(s, 1, mailbox_id);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW)
		*modseq = sqlite3_column_int64(s, 0);
	while (rc == SQLITE_ROW && sqlite3_step(s) == SQLITE_ROW)
		;
	store_stmt_done(s);
	if (rc == SQLITE_ROW)
		return 0;
	if (rc == SQLITE_DONE)
		return store_err(st, "no such mailbox id %lld", (long long)mailbox_id);
	return store_sqlerr(st, "modseq");
}

int store_flags(struct store *st, int64_t mailbox_id, uint32_t uid, int mode, unsigned flags,
		const char *keywords, uint64_t unchangedsince, uint64_t *new_modseq)
{
	struct kwset *cur = NULL, *arg = NULL;
	char newkw[STORE_KEYWORDS_MAX + 1], oldkw[STORE_KEYWORDS_MAX + 1];
	unsigned oldflags, nf;
	int64_t modseq;
	sqlite3_stmt *s;
	int rc, ret = -1;

	if (flags & ~STORE_F_ALL)
		return store_err(st, "invalid flags");
	if (mode != STORE_FLAGS_SET && mode != STORE_FLAGS_ADD && mode != STORE_FLAGS_REMOVE)
		return store_err(st, "invalid flags mode");
	cur = calloc(1, sizeof(*cur));
	arg = calloc(1, sizeof(*arg));
	if (!cur || !arg) {
		free(cur);
		free(arg);
		return store_err(st, "out of memory");
	}
	if (kw_parse(arg, keywords) < 0) {
		store_err(st, "invalid keywords");
		goto out;
	}
	if (store_begin(st) < 0)
		goto out;
	s = store_stmt(st, "SELECT flags, keywords, modseq FROM entries"
			   " WHERE mailbox_id = ?1 AND uid = ?2");
	if (!s)
		goto fail;
	sqlite3_bind_int64(s, 1, mailbox_id);
	sqlite3_bind_int64(s, 2, uid);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		const char *k = (const char *)sqlite3_column_text(s, 1);

		oldflags = (unsigned)sqlite3_column_int(s, 0);
		snprintf(oldkw, sizeof(oldkw), "%s", k ? k : "");
		modseq = sqlite3_column_int64(s, 2);
	}
	store_stmt_done(s);
	if (rc != SQLITE_ROW) {
		if (rc == SQLITE_DONE) {
			store_rollback(st);
			ret = store_errc(st, STORE_NOTFOUND, "no such UID %u", uid);
			goto out;
		}
		store_sqlerr(st, "flags read");
		goto fail;
	}
	if (unchangedsince && (uint64_t)modseq > unchangedsince) {
		store_rollback(st);
		if (new_modseq)
			*new_modseq = (uint64_t)modseq;
		ret = STORE_MODIFIED;
		goto out;
	}
	/* stored keywords were validated on the way in */
	kw_parse(cur, oldkw);
	switch (mode) {
	case STORE_FLAGS_SET:
		nf = flags;
		cur->n = 0;
		cur->used = 0;
		kw_parse(cur, keywords);
		break;
	case STORE_FLAGS_ADD:
		nf = oldflags | flags;
		if (kw_parse(cur, keywords) < 0) {
			store_err(st, "too many keywords");
			goto fail;
		}
		break;
	default:
		nf = oldflags & ~flags;
		kw_remove(cur, arg);
		break;
	}
	if (kw_join(cur, newkw, sizeof(newkw)) < 0) {
		store_err(st, "too many keywords");
		goto fail;
	}
	if (nf == oldflags && strcmp(newkw, oldkw) == 0) {
		store_rollback(st);
		if (new_modseq)
			*new_modseq = (uint64_t)modseq;
		ret = 0;
		goto out;
	}
	if (modseq_bump(st, mailbox_id, &modseq) < 0)
		goto fail;
	s = store_stmt(st, "UPDATE entries SET flags = ?3, keywords = ?4, modseq = ?5"
			   " WHERE mailbox_id = ?1 AND uid = ?2");
	if (!s)
		goto fail;
	sqlite3_bind_int64(s, 1, mailbox_id);
	sqlite3_bind_int64(s, 2, uid);
	sqlite3_bind_int64(s, 3, nf);
	sqlite3_bind_text(s, 4, newkw, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 5, modseq);
	if (store_step_done(st, s, "flags write") < 0)
		goto fail;
	if (store_commit(st) < 0)
		goto out;
	if (new_modseq)
		*new_modseq = (uint64_t)modseq;
	ret = 1;
	goto out;
fail:
	store_rollback(st);
out:
	free(cur);
	free(arg);
	return ret;
}

/* --- copy, move, expunge ------------------------------------------------ */

/* Removes one entry, remembering its UID with a new modseq. */
static int expunge_one(struct store *st, int64_t mailbox_id, uint32_t uid)
{
	int64_t modseq;
	sqlite3_stmt *s;

	if (modseq_bump(st, mailbox_id, &modseq) < 0)
		return -1;
	s = store_stmt(
	    st, "INSERT OR REPLACE INTO expunged(mailbox_id, uid, modseq) VALUES(?1, ?2, ?3)");
	if (!s)
		return -1;
	sqlite3_bind_int64(s, 1, mailbox_id);
	sqlite3_bind_int64(s, 2, uid);
	sqlite3_bind_int64(s, 3, modseq);
	if (store_step_done(st, s, "expunge record") < 0)
		return -1;
	s = store_stmt(st, "DELETE FROM entries WHERE mailbox_id = ?1 AND uid = ?2");
	if (!s)
		return -1;
	sqlite3_bind_int64(s, 1, mailbox_id);
	sqlite3_bind_int64(s, 2, uid);
	return store_step_done(st, s, "expunge");
}

static int copy_entries(struct store *st, int64_t src, const uint32_t *uids, size_t n, int64_t dst,
			uint32_t *new_uids, uint32_t *dst_uidvalidity, int expunge)
{
	struct store_mailbox mb;
	int copied = 0;

	if (store_mailbox_get_id(st, src, &mb) < 0 || store_mailbox_get_id(st, dst, &mb) < 0)
		return -1;
	/* UIDVALIDITY never changes for a mailbox id */
	if (dst_uidvalidity)
		*dst_uidvalidity = mb.uidvalidity;
	if (store_begin(st) < 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		sqlite3_stmt *s = store_stmt(st, "SELECT message_id, flags, keywords FROM entries"
						 " WHERE mailbox_id = ?1 AND uid = ?2");
		char kw[STORE_KEYWORDS_MAX + 1];
		int64_t mid = 0;
		unsigned fl = 0;
		int rc;

		if (!s)
			goto fail;
		new_uids[i] = 0;
		sqlite3_bind_int64(s, 1, src);
		sqlite3_bind_int64(s, 2, uids[i]);
		rc = sqlite3_step(s);
		if (rc == SQLITE_ROW) {
			const char *k = (const char *)sqlite3_column_text(s, 2);

			mid = sqlite3_column_int64(s, 0);
			fl = (unsigned)sqlite3_column_int(s, 1);
			snprintf(kw, sizeof(kw), "%s", k ? k : "");
		}
		store_stmt_done(s);
		if (rc == SQLITE_DONE)
			continue;
		if (rc != SQLITE_ROW) {
			store_sqlerr(st, "copy read");
			goto fail;
		}
		if (entry_add(st, dst, mid, fl, kw, &new_uids[i], NULL) < 0)
			goto fail;
		if (expunge && expunge_one(st, src, uids[i]) < 0)
			goto fail;
		copied++;
	}
	if (store_commit(st) < 0)
		return -1;
	return copied;
fail:
	store_rollback(st);
	return -1;
}

int store_copy(struct store *st, int64_t src_mailbox_id, const uint32_t *uids, size_t n,
	       int64_t dst_mailbox_id, uint32_t *new_uids, uint32_t *dst_uidvalidity)
{
	return copy_entries(st, src_mailbox_id, uids, n, dst_mailbox_id, new_uids, dst_uidvalidity,
			    0);
}

int store_move(struct store *st, int64_t src_mailbox_id, const uint32_t *uids, size_t n,
	       int64_t dst_mailbox_id, uint32_t *new_uids, uint32_t *dst_uidvalidity)
{
	return copy_entries(st, src_mailbox_id, uids, n, dst_mailbox_id, new_uids, dst_uidvalidity,
			    1);
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

int store_expunge(struct store *st, int64_t mailbox_id, const uint32_t *uids, size_t n,
		  store_uid_cb cb, void *arg)
{
	uint32_t *gone = NULL, *want = NULL;
	size_t ngone = 0, cap = 0;
	sqlite3_stmt *s;
	int rc;

	if (uids) {
		/* sorted copy for bsearch: UID EXPUNGE 1:* may be large */
		want = malloc((n ? n : 1) * sizeof(*want));
		if (!want)
			return store_err(st, "out of memory");
		memcpy(want, uids, n * sizeof(*want));
		qsort(want, n, sizeof(*want), cmp_u32);
	}
	if (store_begin(st) < 0) {
		free(want);
		return -1;
	}
	s = store_stmt(st, "SELECT uid FROM entries WHERE mailbox_id = ?1 AND (flags & 8) <> 0"
			   " ORDER BY uid");
	if (!s)
		goto fail;
	sqlite3_bind_int64(s, 1, mailbox_id);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		uint32_t u = (uint32_t)sqlite3_column_int64(s, 0);

		if (want && !bsearch(&u, want, n, sizeof(*want), cmp_u32))
			continue;
		if (ngone == cap) {
			uint32_t *g = realloc(gone, (cap ? cap * 2 : 64) * sizeof(*g));

			if (!g) {
				store_stmt_done(s);
				store_err(st, "out of memory");
				goto fail;
			}
			gone = g;
			cap = cap ? cap * 2 : 64;
		}
		gone[ngone++] = u;
	}
	store_stmt_done(s);
	if (rc != SQLITE_DONE) {
		store_sqlerr(st, "expunge list");
		goto fail;
	}
	for (size_t i = 0; i < ngone; i++)
		if (expunge_one(st, mailbox_id, gone[i]) < 0)
			goto fail;
	free(want);
	want = NULL;
	if (store_commit(st) < 0) {
		free(gone);
		return -1;
	}
	for (size_t i = 0; cb && i < ngone; i++)
		cb(arg, gone[i]);
	free(gone);
	return (int)ngone;
fail:
	free(gone);
	free(want);
	store_rollback(st);
	return -1;
}

int store_vanished(struct store *st, int64_t mailbox_id, uint64_t since_modseq, store_uid_cb cb,
		   void *arg)
{
	sqlite3_stmt *s = store_stmt(st, "SELECT uid FROM expunged WHERE mailbox_id = ?1"
					 " AND modseq > ?2 ORDER BY uid");
	int rc, n = 0;

	if (!s)
		return -1;
	sqlite3_bind_int64(s, 1, mailbox_id);
	sqlite3_bind_int64(s, 2, (int64_t)since_modseq);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		n++;
		if (cb(arg, (uint32_t)sqlite3_column_int64(s, 0)))
			break;
	}
	return store_rows_done(st, s, rc, n, "vanished");
}

/* --- search ------------------------------------------------------------- */

static size_t utf8_chars(const char *s)
{
	size_t n = 0;

	for (; *s; s++)
		if (((unsigned char)*s & 0xc0) != 0x80)
			n++;
	return n;
}

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
	    {"text", NULL,
	     "SELECT e.uid FROM entries e JOIN fts f ON f.rowid = e.message_id"
	     " WHERE e.mailbox_id = ?1 AND (f.subject LIKE ?2 ESCAPE '\\' OR f.hfrom LIKE ?2"
	     " ESCAPE '\\' OR f.hto LIKE ?2 ESCAPE '\\' OR f.hcc LIKE ?2 ESCAPE '\\'"
	     " OR f.hbcc LIKE ?2 ESCAPE '\\' OR f.body LIKE ?2 ESCAPE '\\') ORDER BY e.uid"},
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
		s = store_stmt(st, "SELECT uid FROM entries WHERE mailbox_id = ?1 AND message_id IN"
				   " (SELECT rowid FROM fts WHERE fts MATCH ?2) ORDER BY uid");
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
