/*
 * Settings and the event log.
 */
#include <stdlib.h>
#include <string.h>

#include "store_internal.h"
#include "store_settings.h"

#define EVENTS_KEEP 10000 /* the event log keeps this many newest rows */

/*
 * Settings, the event log, and backup/restore.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "store_internal.h"

#define EVENTS_KEEP 10000 /* the event log keeps this many newest rows */

static int setting_read(struct store *st, const char *key, char *buf, size_t buflen, char **dup)
{
	sqlite3_stmt *s = store_stmt(st, "SELECT value FROM settings WHERE key = ?1");
	int rc;

	if (!s)
		return -1;
	sqlite3_bind_text(s, 1, key, -1, SQLITE_STATIC);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		const char *v = (const char *)sqlite3_column_text(s, 0);
		size_t n = (size_t)sqlite3_column_bytes(s, 0);

		rc = 0;
		if (dup) {
			*dup = malloc(n + 1);
			if (*dup) {
				memcpy(*dup, v ? v : "", n);
				(*dup)[n] = '\0';
			} else {
				rc = store_err(st, "out of memory");
			}
		} else if (n >= buflen) {
			rc = store_err(st, "setting %s longer than the buffer", key);
		} else {
			memcpy(buf, v ? v : "", n);
			buf[n] = '\0';
		}
		store_stmt_done(s);
		return rc;
	}
	store_stmt_done(s);
	if (rc == SQLITE_DONE)
		return store_errc(st, STORE_NOTFOUND, "no setting %s", key);
	return store_sqlerr(st, "setting get");
}

int store_setting_get(struct store *st, const char *key, char *buf, size_t buflen)
{
	return setting_read(st, key, buf, buflen, NULL);
}

int store_setting_dup(struct store *st, const char *key, char **out)
{
	*out = NULL;
	return setting_read(st, key, NULL, 0, out);
}

int store_setting_set(struct store *st, const char *key, const char *value)
{
	int rc;

	if (!key || !*key || !value)
		return store_err(st, "setting needs a key and a value");
	if (store_begin(st) < 0)
		return -1;
	rc = store_do(st, "setting set",
		      "INSERT INTO settings(key, value) VALUES(?1, ?2)"
		      " ON CONFLICT(key) DO UPDATE SET value = excluded.value",
		      SA_TEXT(key), SA_TEXT(value));
	return store_end(st, rc < 0 ? -1 : 0);
}

int store_setting_del(struct store *st, const char *key)
{
	int rc;

	rc = store_w(st, "setting del", "DELETE FROM settings WHERE key = ?1", SA_TEXT(key));
	return rc == STORE_NOTFOUND ? store_errc(st, rc, "no setting %s", key) : rc;
}

int store_setting_list(struct store *st, store_setting_cb cb, void *arg)
{
	sqlite3_stmt *s = store_stmt(st, "SELECT key, value FROM settings ORDER BY key");
	int rc, n = 0;

	if (!s)
		return -1;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		n++;
		if (cb(arg, (const char *)sqlite3_column_text(s, 0),
		       (const char *)sqlite3_column_text(s, 1)))
			break;
	}
	return store_rows_done(st, s, rc, n, "setting list");
}

/* --- events ------------------------------------------------------------- */

int store_event_add(struct store *st, const char *kind, const char *text)
{
	int64_t id;
	int rc;

	if (!kind || !*kind || !text)
		return store_err(st, "event needs a kind and a text");
	if (store_begin(st) < 0)
		return -1;
	rc = store_do(st, "event add", "INSERT INTO events(time, kind, text) VALUES(?1, ?2, ?3)",
		      SA_INT(store_now()), SA_TEXT(kind), SA_TEXT(text));
	id = sqlite3_last_insert_rowid(st->db);
	/* prune now and then so the log stays bounded */
	if (rc >= 0 && id % 256 == 0)
		rc = store_do(st, "event prune", "DELETE FROM events WHERE id <= ?1",
			      SA_INT(id - EVENTS_KEEP));
	return store_end(st, rc < 0 ? -1 : 0);
}

int store_event_list(struct store *st, int limit, store_event_cb cb, void *arg)
{
	sqlite3_stmt *s =
	    store_stmt(st, "SELECT id, time, kind, text FROM events ORDER BY id DESC LIMIT ?1");
	int rc, n = 0;

	if (!s)
		return -1;
	sqlite3_bind_int(s, 1, limit > 0 ? limit : 0);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		n++;
		if (cb(arg, sqlite3_column_int64(s, 0), sqlite3_column_int64(s, 1),
		       (const char *)sqlite3_column_text(s, 2),
		       (const char *)sqlite3_column_text(s, 3)))
			break;
	}
	return store_rows_done(st, s, rc, n, "event list");
}
