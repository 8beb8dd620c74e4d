/*
 * Entries: filing a message in a mailbox with the next UID and modseq,
 * flags and keywords with CONDSTORE modseqs, copy and move, expunge and
 * the record of expunged UIDs that QRESYNC's VANISHED reads.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "array.h"
#include "store_internal.h"
#include "store_mailbox.h"

#define KEYWORDS_N 64 /* keywords per entry */

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
int store_keywords_norm(const char *in, char *out, size_t outlen)
{
	struct kwset *k = calloc(1, sizeof(*k));
	int rc;

	if (!k)
		return -1;
	rc = kw_parse(k, in) == 0 ? kw_join(k, out, outlen) : -1;
	free(k);
	return rc;
}

/* Puts message_id in mailbox_id with the next UID and modseq.  Call inside
 * a transaction.  Returns 0 or -1. */
int store_entry_add(struct store *st, int64_t mailbox_id, int64_t message_id, unsigned flags,
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
		       "INSERT INTO entries(mailbox_id, uid, message_id, flags, keywords, modseq,"
		       " savedate) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7)");
	if (!s)
		return -1;
	sqlite3_bind_int64(s, 1, mailbox_id);
	sqlite3_bind_int64(s, 2, uid);
	sqlite3_bind_int64(s, 3, message_id);
	sqlite3_bind_int64(s, 4, flags & STORE_F_ALL);
	sqlite3_bind_text(s, 5, keywords ? keywords : "", -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 6, modseq);
	sqlite3_bind_int64(s, 7, store_now()); /* SAVEDATE, RFC 8514 */
	if (store_step_done(st, s, "entry insert") < 0)
		return -1;
	if (uid_out)
		*uid_out = (uint32_t)uid;
	if (uidvalidity_out)
		*uidvalidity_out = uidvalidity;
	return 0;
}

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

/* Removes one entry, remembering its UID with a new modseq. */
static int expunge_one(struct store *st, int64_t mailbox_id, uint32_t uid)
{
	int64_t modseq;

	if (modseq_bump(st, mailbox_id, &modseq) < 0 ||
	    store_do(st, "expunge record",
		     "INSERT OR REPLACE INTO expunged(mailbox_id, uid, modseq) VALUES(?1, ?2, ?3)",
		     SA_INT(mailbox_id), SA_INT(uid), SA_INT(modseq)) < 0 ||
	    store_do(st, "expunge", "DELETE FROM entries WHERE mailbox_id = ?1 AND uid = ?2",
		     SA_INT(mailbox_id), SA_INT(uid)) < 0)
		return -1;
	return 0;
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
		if (store_entry_add(st, dst, mid, fl, kw, &new_uids[i], NULL) < 0)
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
		if (ARRAY_GROW(gone, cap, ngone + 1, 64) < 0) {
			store_stmt_done(s);
			store_err(st, "out of memory");
			goto fail;
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
