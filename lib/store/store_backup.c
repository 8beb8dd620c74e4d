/*
 * Backup and restore through SQLite's online backup API: a backup is a
 * consistent snapshot taken while others write; a restore replaces the
 * live database in one write transaction that open handles see as any
 * other commit.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "store_backup.h"
#include "store_internal.h"

/* Copies all of src into dst with the online backup API, retrying while
 * another connection holds a lock.  Returns SQLITE_OK or an error code. */
static int backup_copy(sqlite3 *dst, sqlite3 *src)
{
	sqlite3_backup *b = sqlite3_backup_init(dst, "main", src, "main");
	int rc, tries = 0;

	if (!b)
		return sqlite3_errcode(dst);
	/* One step copies everything under one read transaction of src,
	 * so the copy is a consistent snapshot. */
	while ((rc = sqlite3_backup_step(b, -1)) == SQLITE_BUSY || rc == SQLITE_LOCKED) {
		struct timespec ts = {0, 20 * 1000 * 1000};

		if (++tries > 500)
			break;
		nanosleep(&ts, NULL);
	}
	sqlite3_backup_finish(b);
	return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

int store_backup(struct store *st, const char *dest_path)
{
	sqlite3 *dst = NULL;
	int rc;

	if (!dest_path || !*dest_path)
		return store_err(st, "no backup path");
	if (access(dest_path, F_OK) == 0)
		return store_err(st, "%s exists", dest_path);
	if (sqlite3_open_v2(dest_path, &dst, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) !=
	    SQLITE_OK) {
		store_err(st, "%s: %s", dest_path, dst ? sqlite3_errmsg(dst) : "cannot open");
		sqlite3_close(dst);
		return -1;
	}
	sqlite3_busy_timeout(dst, 5000);
	rc = backup_copy(dst, st->db);
	if (rc != SQLITE_OK) {
		store_err(st, "backup to %s: %s", dest_path, sqlite3_errstr(rc));
		sqlite3_close(dst);
		unlink(dest_path);
		return -1;
	}
	/* A backup is one self-contained file: fold its WAL in. */
	sqlite3_exec(dst, "PRAGMA wal_checkpoint(TRUNCATE)", NULL, NULL, NULL);
	if (sqlite3_close(dst) != SQLITE_OK)
		return store_err(st, "closing %s failed", dest_path);
	return 0;
}

/* Checks a database to restore from.  Returns 0 or -1 with err set. */
static int restore_check(sqlite3 *src, const char *path, char *err, size_t errlen)
{
	sqlite3_stmt *s = NULL;
	int rc, ok = 0;
	int64_t ver = -1;

	if (sqlite3_prepare_v2(src, "PRAGMA integrity_check", -1, &s, NULL) == SQLITE_OK) {
		rc = sqlite3_step(s);
		ok = rc == SQLITE_ROW && strcmp((const char *)sqlite3_column_text(s, 0), "ok") == 0;
	}
	sqlite3_finalize(s);
	if (!ok) {
		snprintf(err, errlen, "%s: not a sound database (integrity_check failed)", path);
		return -1;
	}
	if (sqlite3_prepare_v2(src, "PRAGMA user_version", -1, &s, NULL) == SQLITE_OK &&
	    sqlite3_step(s) == SQLITE_ROW)
		ver = sqlite3_column_int64(s, 0);
	sqlite3_finalize(s);
	if (ver < 1 || ver > store_schema_version()) {
		snprintf(err, errlen,
			 "%s: schema version %lld is not one this program knows (1..%d)", path,
			 (long long)ver, store_schema_version());
		return -1;
	}
	/* a Loft database, not any SQLite file with a user_version */
	if (sqlite3_prepare_v2(src, "SELECT count(*) FROM messages, domains LIMIT 1", -1, &s,
			       NULL) != SQLITE_OK) {
		sqlite3_finalize(s);
		snprintf(err, errlen, "%s: not a Loft database", path);
		return -1;
	}
	sqlite3_finalize(s);
	return 0;
}

int store_restore(const char *src_path, const char *db_path, char *err, size_t errlen)
{
	sqlite3 *src = NULL, *dst = NULL;
	struct store *st;
	int rc;

	if (sqlite3_open_v2(src_path, &src, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
		snprintf(err, errlen, "%s: %s", src_path,
			 src ? sqlite3_errmsg(src) : "cannot open");
		sqlite3_close(src);
		return -1;
	}
	if (restore_check(src, src_path, err, errlen) < 0) {
		sqlite3_close(src);
		return -1;
	}
	/* Opening through store_open makes sure the target exists in WAL
	 * mode; the backup then replaces its content in one write
	 * transaction, which other processes see as any other commit. */
	if (store_open(db_path, &st, err, errlen) < 0) {
		sqlite3_close(src);
		return -1;
	}
	store_close(st);
	if (sqlite3_open_v2(db_path, &dst, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK) {
		snprintf(err, errlen, "%s: %s", db_path, dst ? sqlite3_errmsg(dst) : "cannot open");
		goto fail;
	}
	sqlite3_busy_timeout(dst, 5000);
	sqlite3_exec(dst, "PRAGMA synchronous = FULL", NULL, NULL, NULL);
	rc = backup_copy(dst, src);
	if (rc != SQLITE_OK) {
		snprintf(err, errlen, "restore into %s: %s", db_path, sqlite3_errstr(rc));
		goto fail;
	}
	sqlite3_close(dst);
	sqlite3_close(src);
	/* an older backup: bring it to the current schema */
	if (store_open(db_path, &st, err, errlen) < 0)
		return -1;
	store_close(st);
	return 0;
fail:
	sqlite3_close(dst);
	sqlite3_close(src);
	return -1;
}
