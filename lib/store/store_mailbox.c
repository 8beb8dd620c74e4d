/*
 * Mailboxes and the entries in them as IMAP lists them.  UIDs and modseqs
 * come from the mailbox row (uidnext, highestmodseq), updated in the same
 * transaction as the entry (store_entry_add, store_flags.c), so they are
 * strictly increasing per mailbox whichever process writes.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "store_internal.h"
#include "store_mailbox.h"

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
#include "utf8.h"

#define STRUCT_MAX   (16u << 20) /* envelope / bodystructure / sections */
#define TEXT_MAX     (4u << 20)	 /* search text of one message */
#define HDRFIELD_MAX (64u << 10) /* one header field for the index */
#define HDRSCAN_MAX  (1u << 20)	 /* header bytes scanned for index fields */
#define KEYWORDS_N   64		 /* keywords per entry */

/* Puts the name in out (outlen bytes) into Unicode Normalization Form C
 * (RFC 9051 5.1, RFC 5198), so a name typed decomposed and precomposed is
 * one mailbox whoever looks it up.  ASCII, and bytes that are not UTF-8
 * (names stored before names were checked), stay as they are.  Returns 0,
 * or -1 when the normalised name is too long. */
static int mbox_nfc(char *out, size_t outlen)
{
	struct buf b;
	size_t n = strlen(out);
	int r = 0;

	for (size_t i = 0; i < n; i++) {
		if ((unsigned char)out[i] < 0x80)
			continue;
		buf_init(&b, STORE_MBOX_MAX);
		if (utf8_nfc(out, n, &b) == 0) {
			if (b.len + 1 > outlen || b.len == 0)
				r = -1;
			else
				memcpy(out, b.data, b.len + 1);
		} else if (utf8_valid(out, n)) {
			r = -1; /* valid, but its NFC is over STORE_MBOX_MAX */
		}
		buf_free(&b);
		break;
	}
	return r;
}

/* Copies a valid mailbox name into out ("INBOX" in any case becomes
 * "INBOX"), in NFC.  Returns 0 or -1. */
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
	return mbox_nfc(out, outlen);
}

int store_mailbox_id(struct store *st, int64_t user_id, const char *name, int64_t *id)
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

/* Mailboxes that now carry a subscribed name (created, or renamed onto
 * it) take the subscription over from subscriptions_gone.  Call inside a
 * transaction.  Returns 0 or -1. */
static int subscriptions_take(struct store *st, int64_t user_id)
{
	if (store_do(st, "subscriptions",
		     "UPDATE mailboxes SET subscribed = 1 WHERE user_id = ?1 AND name IN"
		     " (SELECT name FROM subscriptions_gone WHERE user_id = ?1)",
		     SA_INT(user_id)) < 0 ||
	    store_do(st, "subscriptions",
		     "DELETE FROM subscriptions_gone WHERE user_id = ?1 AND name IN"
		     " (SELECT name FROM mailboxes WHERE user_id = ?1)",
		     SA_INT(user_id)) < 0)
		return -1;
	return 0;
}

int store_mailbox_nfc_names(struct store *st)
{
	struct name {
		int64_t id;
		char old[STORE_MBOX_MAX + 1], nfc[STORE_MBOX_MAX + 1];
	} *v = NULL;
	size_t n = 0, cap = 0;
	sqlite3_stmt *s;
	int rc, done = 0;

	s = store_stmt(st, "SELECT id, name FROM mailboxes WHERE name GLOB '*[^ -~]*'");
	if (!s)
		return -1;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		const char *name = (const char *)sqlite3_column_text(s, 1);
		struct name x;
		if (!name || strlen(name) > STORE_MBOX_MAX)
			continue;
		x.id = sqlite3_column_int64(s, 0);
		snprintf(x.old, sizeof(x.old), "%s", name);
		memcpy(x.nfc, x.old, sizeof(x.nfc));
		if (mbox_nfc(x.nfc, sizeof(x.nfc)) < 0 || strcmp(x.nfc, x.old) == 0)
			continue;
		if (n == cap) {
			struct name *nv = realloc(v, (cap = cap ? cap * 2 : 8) * sizeof(*v));
			if (!nv) {
				store_stmt_done(s);
				free(v);
				return store_err(st, "out of memory");
			}
			v = nv;
		}
		v[n++] = x;
	}
	store_stmt_done(s);
	if (rc != SQLITE_DONE) {
		free(v);
		return store_sqlerr(st, "mailbox names");
	}
	/* each row on its own: a child's full name is its parent's NFC, "/",
	 * and its own part's NFC, so renaming rows one by one is enough */
	for (size_t i = 0; i < n; i++) {
		rc = store_w(st, "mailbox nfc", "UPDATE mailboxes SET name = ?2 WHERE id = ?1",
			     SA_INT(v[i].id), SA_TEXT(v[i].nfc));
		if (rc == 0)
			done++;
		else if (rc == -1) {
			free(v);
			return -1;
		}
		/* STORE_EXISTS: the NFC name is taken; this one stays */
	}
	free(v);
	return done;
}

int store_subscriptions_gone(struct store *st, int64_t user_id,
			     int (*cb)(void *arg, const char *name), void *arg)
{
	sqlite3_stmt *s = store_stmt(st, "SELECT name FROM subscriptions_gone WHERE user_id = ?1"
					 " ORDER BY name");
	int rc, n = 0;

	if (!s)
		return -1;
	sqlite3_bind_int64(s, 1, user_id);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		n++;
		if (cb(arg, (const char *)sqlite3_column_text(s, 0)))
			break;
	}
	return store_rows_done(st, s, rc, n, "subscriptions");
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
	int64_t id = sqlite3_last_insert_rowid(st->db);
	if (id_out)
		*id_out = id;
	return subscriptions_take(st, user_id) < 0 ? -1 : 0;
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
	int rc;

	if (name && strcasecmp(name, "INBOX") == 0)
		return store_err(st, "INBOX cannot be deleted");
	if (store_begin(st) < 0)
		return -1;
	rc = store_mailbox_id(st, user_id, name, &id);
	/* a subscription outlives its mailbox (RFC 3501 6.3.4) */
	if (rc == 0)
		rc = store_do(
		    st, "mailbox delete",
		    "INSERT OR IGNORE INTO subscriptions_gone(user_id, name)"
		    " SELECT user_id, name FROM mailboxes WHERE id = ?1 AND subscribed = 1",
		    SA_INT(id));
	if (rc >= 0 && rc != STORE_NOTFOUND)
		rc = store_do(st, "mailbox delete", "DELETE FROM mailboxes WHERE id = ?1",
			      SA_INT(id));
	return store_end(st, rc < 0 ? rc : 0);
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
	rc = store_mailbox_id(st, user_id, o, &id);
	if (rc < 0) {
		store_rollback(st);
		return rc;
	}
	rc = store_mailbox_id(st, user_id, n, &id);
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
	if (subscriptions_take(st, user_id) < 0) {
		store_rollback(st);
		return -1;
	}
	return store_commit(st);
}

int store_mailbox_subscribe(struct store *st, int64_t user_id, const char *name, int on)
{
	char n[STORE_MBOX_MAX + 1];
	int rc;

	if (mbox_norm(name, n, sizeof(n)) < 0)
		return store_errc(st, STORE_NOTFOUND, "invalid mailbox name");
	if (store_begin(st) < 0)
		return -1;
	rc = store_do(st, "subscribe",
		      "UPDATE mailboxes SET subscribed = ?3 WHERE user_id = ?1 AND name = ?2",
		      SA_INT(user_id), SA_TEXT(n), SA_INT(on != 0));
	/* no such mailbox: the name alone is (un)subscribed */
	if (rc == 0 && on)
		rc = store_do(st, "subscribe",
			      "INSERT OR IGNORE INTO subscriptions_gone(user_id, name)"
			      " VALUES(?1, ?2)",
			      SA_INT(user_id), SA_TEXT(n)) < 0
			 ? -1
			 : 1;
	else if (rc == 0)
		rc = store_do(st, "unsubscribe",
			      "DELETE FROM subscriptions_gone WHERE user_id = ?1 AND name = ?2",
			      SA_INT(user_id), SA_TEXT(n));
	if (rc == 0)
		return store_end(st, store_errc(st, STORE_NOTFOUND, "not subscribed: %s", n));
	return store_end(st, rc < 0 ? -1 : 0);
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

int store_mailbox_size(struct store *st, int64_t mailbox_id, uint64_t *size)
{
	sqlite3_stmt *s;
	int rc;

	s = store_q(st,
		    "SELECT coalesce(sum(m.size), 0) FROM entries e JOIN messages m"
		    " ON m.id = e.message_id WHERE e.mailbox_id = ?1",
		    SA_INT(mailbox_id));
	if (!s || (rc = store_row(st, s, "mailbox size")) < 0)
		return -1;
	*size = rc ? (uint64_t)sqlite3_column_int64(s, 0) : 0;
	store_stmt_done(s);
	return 0;
}

int store_mailbox_deleted(struct store *st, int64_t mailbox_id, uint32_t *n)
{
	sqlite3_stmt *s;
	int rc;

	s = store_q(st, "SELECT count(*) FROM entries WHERE mailbox_id = ?1 AND (flags & ?2) != 0",
		    SA_INT(mailbox_id), SA_INT(STORE_F_DELETED));
	if (!s || (rc = store_row(st, s, "mailbox deleted")) < 0)
		return -1;
	*n = rc ? (uint32_t)sqlite3_column_int64(s, 0) : 0;
	store_stmt_done(s);
	return 0;
}

int store_mailbox_claim_recent(struct store *st, int64_t mailbox_id, uint32_t *old_mark)
{
	sqlite3_stmt *s;
	int rc;

	if (store_begin(st) < 0)
		return -1;
	s = store_q(st, "SELECT recent_uid FROM mailboxes WHERE id = ?1", SA_INT(mailbox_id));
	if (!s || (rc = store_row(st, s, "claim recent")) < 0)
		return store_end(st, -1);
	if (rc == 0)
		return store_end(st, store_errc(st, STORE_NOTFOUND, "no such mailbox"));
	*old_mark = (uint32_t)sqlite3_column_int64(s, 0);
	store_stmt_done(s);
	rc = store_do(st, "claim recent",
		      "UPDATE mailboxes SET recent_uid = uidnext - 1 WHERE id = ?1",
		      SA_INT(mailbox_id));
	return store_end(st, rc < 0 ? -1 : 0);
}

int store_entries_changed(struct store *st, int64_t mailbox_id, uint32_t uid_from, uint32_t uid_to,
			  uint64_t changedsince, store_entry_cb cb, void *arg)
{
	sqlite3_stmt *s =
	    store_stmt(st, "SELECT e.uid, e.flags, e.keywords, e.modseq, e.message_id,"
			   " m.size, m.internaldate, e.savedate, m.mime_flags FROM entries e"
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
		e.savedate = sqlite3_column_int64(s, 7); /* NULL reads 0 */
		e.mime_flags = (unsigned)sqlite3_column_int(s, 8);
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
