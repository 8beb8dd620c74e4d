/*
 * Full-text search within a mailbox: the FTS5 index (table fts, tokenizer
 * loft_trigram, store_fts.c) picks the candidates, and each candidate's
 * decoded text is then matched exactly (store_scan_match).
 *
 * If a folded needle is a substring of a folded text, each of the
 * needle's byte trigrams is a trigram of that text: the candidates are
 * the messages whose index holds them all (an AND of terms, in the header
 * texts or in the body) and those whose index rows are still pending
 * (store_set_defer_index), so none is missed.  A message with all the
 * trigrams need not hold the needle; the exact match decides.  A needle
 * under 3 bytes has no trigram: every message of the mailbox is matched.
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

/* At most this many of a needle's trigrams go into the query: the
 * candidates of a subset are a superset, and a long needle's first 32
 * trigrams already leave few */
#define QUERY_TERMS 32

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

struct cand {
	uint32_t uid;
	int64_t message_id;
};

static int cmp_uid(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

static int cmp_mid(const void *a, const void *b)
{
	const struct cand *x = a, *y = b;

	return x->message_id < y->message_id ? -1 : x->message_id > y->message_id;
}

/* Appends to q the FTS5 query for the needle's trigrams in the header
 * texts (body 0) or the body (1): quoted terms, an implicit AND. */
static void query_terms(struct buf *q, const char *needle, size_t nlen, int body)
{
	size_t n = nlen - 2, step = n > QUERY_TERMS ? n / QUERY_TERMS + 1 : 1, k = 0;

	buf_putc(q, '(');
	for (size_t i = 0; i < n && k < QUERY_TERMS; i += step, k++) {
		char term[STORE_FTS_TERM];

		store_fts_term((const unsigned char *)needle + i, body, term);
		buf_puts(q, k ? " \"" : "\"");
		buf_append(q, term, sizeof(term));
		buf_putc(q, '"');
	}
	buf_putc(q, ')');
}

/* The entries of the mailbox that may hold the needle (folded, nlen
 * bytes) in which texts (1 the header's, 2 the body, 3 either), sorted by
 * message id.  Returns their number, in *out (free it), or -1. */
static int candidates(struct store *st, int64_t mailbox_id, int which, const char *needle,
		      size_t nlen, struct cand **out)
{
	struct cand *c = NULL;
	size_t n = 0, cap = 0;
	struct buf q;
	sqlite3_stmt *s;
	int rc;

	*out = NULL;
	buf_init(&q, 4096);
	if (nlen < 3) {
		s = store_q(st, "SELECT uid, message_id FROM entries WHERE mailbox_id = ?1",
			    SA_INT(mailbox_id));
	} else {
		if (which & 1)
			query_terms(&q, needle, nlen, 0);
		if (which == 3)
			buf_puts(&q, " OR ");
		if (which & 2)
			query_terms(&q, needle, nlen, 1);
		s = store_q(st,
			    "SELECT uid, message_id FROM entries WHERE mailbox_id = ?1 AND"
			    " (message_id IN (SELECT rowid FROM fts WHERE fts MATCH ?2)"
			    " OR message_id IN (SELECT message_id FROM fts_pending))",
			    SA_INT(mailbox_id), SA_TEXT(buf_cstr(&q)));
	}
	if (!s) {
		buf_free(&q);
		return -1;
	}
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		if (ARRAY_GROW(c, cap, n + 1, 256) < 0) {
			store_stmt_done(s);
			buf_free(&q);
			free(c);
			return store_err(st, "out of memory");
		}
		c[n].uid = (uint32_t)sqlite3_column_int64(s, 0);
		c[n++].message_id = sqlite3_column_int64(s, 1);
	}
	rc = store_rows_done(st, s, rc, 0, "search candidates");
	buf_free(&q); /* bound to s until it is done */
	if (rc < 0) {
		free(c);
		return -1;
	}
	if (n > (size_t)INT32_MAX) {
		free(c);
		return store_err(st, "too many candidates");
	}
	if (n > 1)
		qsort(c, n, sizeof(*c), cmp_mid);
	*out = c;
	return (int)n;
}

struct bytes {
	char *p;
	size_t len, cap;
};

/* Reads the first n bytes of the open blob into *b (grown as needed). */
static int blob_read(struct store *st, sqlite3_blob *bl, int n, struct bytes *b)
{
	if ((size_t)n + 1 > b->cap) {
		char *p = realloc(b->p, (size_t)n + 1);

		if (!p)
			return store_err(st, "out of memory");
		b->p = p;
		b->cap = (size_t)n + 1;
	}
	if (n > 0 && sqlite3_blob_read(bl, b->p, n, 0) != SQLITE_OK)
		return store_sqlerr(st, "search read");
	b->len = (size_t)n;
	b->p[n] = '\0';
	return 0;
}

/* Adds to u the candidates (sorted by message id) whose text holds the
 * needle (folded, nlen bytes).  A header field needs only the message's
 * first bytes (the blob API reads no more pages than those); the body,
 * the whole message.  Returns 0 or -1. */
static int verify(struct store *st, const struct cand *c, size_t n, const char *field,
		  int header_only, const char *needle, size_t nlen, struct uids *u)
{
	sqlite3_blob *bl = NULL;
	struct bytes b = {0};
	int rc = 0, hit = 0;

	for (size_t i = 0; i < n && rc == 0; i++) {
		int r, len;

		if (i > 0 && c[i].message_id == c[i - 1].message_id) {
			/* the same message in the mailbox again: same answer */
			if (hit)
				rc = uids_add(st, u, c[i].uid);
			continue;
		}
		hit = 0;
		r = bl ? sqlite3_blob_reopen(bl, c[i].message_id)
		       : sqlite3_blob_open(st->db, "main", "messages", "raw", c[i].message_id, 0,
					   &bl);
		if (r != SQLITE_OK) {
			/* cannot be: an entry holds its message */
			rc = store_sqlerr(st, "search open");
			break;
		}
		len = sqlite3_blob_bytes(bl);
		if (header_only) {
			int want = len < (1 << 20) ? len : (1 << 20),
			    k = want < 16384 ? want : 16384;

			rc = blob_read(st, bl, k, &b);
			if (rc == 0 && k < want && store_header_extent(b.p, b.len) >= b.len)
				rc = blob_read(st, bl, want, &b);
			hit = rc == 0 && store_scan_header(b.p, b.len, field, needle, nlen);
		} else {
			rc = blob_read(st, bl, len, &b);
			hit = rc == 0 && store_scan_match(b.p, b.len, field, needle, nlen);
		}
		if (hit)
			rc = uids_add(st, u, c[i].uid);
	}
	if (bl)
		sqlite3_blob_close(bl);
	free(b.p);
	return rc;
}

int store_search_text(struct store *st, int64_t mailbox_id, const char *field, const char *query,
		      store_uid_cb cb, void *arg)
{
	/* the texts a field is in: 1 the header's, 2 the body */
	static const struct {
		const char *field;
		int which;
	} fields[] = {{"text", 3}, {"body", 2}, {"subject", 1}, {"from", 1},
		      {"to", 1},   {"cc", 1},	{"bcc", 1}};
	struct buf needle;
	struct uids u = {0};
	struct cand *c = NULL;
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
	buf_init(&needle, 2 * 4096 + 16);
	if (utf8_fold(query, strlen(query), &needle) < 0) {
		buf_free(&needle);
		return store_err(st, "search query too long");
	}
	/* the index, the pending marks and the messages from one snapshot */
	opened = sqlite3_get_autocommit(st->db) ? 1 : 0;
	if (opened && store_exec(st, "BEGIN") < 0) {
		buf_free(&needle);
		return -1;
	}
	if (!*query) {
		sqlite3_stmt *s = store_q(st, "SELECT uid FROM entries WHERE mailbox_id = ?1",
					  SA_INT(mailbox_id));
		int rc = SQLITE_DONE;

		n = s ? 0 : -1;
		while (n == 0 && (rc = sqlite3_step(s)) == SQLITE_ROW)
			if (uids_add(st, &u, (uint32_t)sqlite3_column_int64(s, 0)) < 0) {
				store_stmt_done(s);
				n = -1;
			}
		if (n == 0)
			n = store_rows_done(st, s, rc, 0, "search all");
	} else {
		n = candidates(st, mailbox_id, fields[fi].which, buf_cstr(&needle), needle.len, &c);
		if (n >= 0)
			n = verify(st, c, (size_t)n, fields[fi].field, fields[fi].which == 1,
				   buf_cstr(&needle), needle.len, &u);
	}
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
	free(c);
	free(u.v);
	buf_free(&needle);
	return n;
}
