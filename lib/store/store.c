/*
 * The mailstore's core: opening the database, the numbered migrations, the
 * prepared-statement cache, transactions and error reporting.  The other
 * lib/store_*.c files hold the SQL of each concern.
 *
 * Durability: WAL with synchronous=FULL, so COMMIT returns only after the
 * WAL is fsync'ed; store_deliver and store_append return 0 only after their
 * COMMIT succeeded.  Write transactions start with BEGIN IMMEDIATE so that
 * the busy timeout applies to taking the write lock (a deferred
 * transaction upgrading from read to write would fail at once instead).
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "store_internal.h"

#define STORE_BUSY_MS 5000

/*
 * Migrations: each entry brings the schema from version i to i+1.  Never
 * edit one that has shipped; append a new one.
 */
static const char *const migrations[] = {
    /* 1: the first schema */
    "CREATE TABLE counters(name TEXT PRIMARY KEY, value INTEGER NOT NULL);"
    "CREATE TABLE domains(id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);"
    "CREATE TABLE users(id INTEGER PRIMARY KEY,"
    " domain_id INTEGER NOT NULL REFERENCES domains(id),"
    " address TEXT NOT NULL UNIQUE, password TEXT NOT NULL, created INTEGER NOT NULL);"
    "CREATE INDEX users_domain ON users(domain_id);"
    "CREATE TABLE aliases(id INTEGER PRIMARY KEY,"
    " domain_id INTEGER NOT NULL REFERENCES domains(id) ON DELETE CASCADE,"
    " source TEXT NOT NULL, target TEXT NOT NULL, UNIQUE(source, target));"
    "CREATE INDEX aliases_domain ON aliases(domain_id);"
    "CREATE INDEX aliases_target ON aliases(target);"
    "CREATE TABLE mailboxes(id INTEGER PRIMARY KEY,"
    " user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
    " name TEXT NOT NULL, special_use TEXT NOT NULL DEFAULT '',"
    " uidvalidity INTEGER NOT NULL, uidnext INTEGER NOT NULL DEFAULT 1,"
    " highestmodseq INTEGER NOT NULL DEFAULT 1, recent_uid INTEGER NOT NULL DEFAULT 0,"
    " subscribed INTEGER NOT NULL DEFAULT 0, UNIQUE(user_id, name));"
    /* raw goes last: SQLite reaches a column only by walking the ones
     * before it, so the metadata a phone's sync reads never touches the
     * overflow pages of the message bytes */
    "CREATE TABLE messages(id INTEGER PRIMARY KEY,"
    " size INTEGER NOT NULL, internaldate INTEGER NOT NULL, header_size INTEGER NOT NULL,"
    " lines INTEGER NOT NULL, mime_flags INTEGER NOT NULL, envelope TEXT NOT NULL,"
    " bodystructure TEXT NOT NULL, body TEXT NOT NULL, sections BLOB NOT NULL,"
    " raw BLOB NOT NULL);"
    "CREATE TABLE entries(mailbox_id INTEGER NOT NULL REFERENCES mailboxes(id) ON DELETE CASCADE,"
    " uid INTEGER NOT NULL, message_id INTEGER NOT NULL REFERENCES messages(id),"
    " flags INTEGER NOT NULL DEFAULT 0, keywords TEXT NOT NULL DEFAULT '',"
    " modseq INTEGER NOT NULL, PRIMARY KEY(mailbox_id, uid)) WITHOUT ROWID;"
    "CREATE INDEX entries_message ON entries(message_id);"
    "CREATE INDEX entries_modseq ON entries(mailbox_id, modseq);"
    "CREATE TABLE expunged(mailbox_id INTEGER NOT NULL REFERENCES mailboxes(id) ON DELETE CASCADE,"
    " uid INTEGER NOT NULL, modseq INTEGER NOT NULL, PRIMARY KEY(mailbox_id, uid)) WITHOUT ROWID;"
    "CREATE TABLE queue(id INTEGER PRIMARY KEY, message_id INTEGER REFERENCES messages(id),"
    " mail_from TEXT NOT NULL, rcpt TEXT NOT NULL, created INTEGER NOT NULL,"
    " next_attempt INTEGER NOT NULL, attempts INTEGER NOT NULL DEFAULT 0,"
    " status TEXT NOT NULL DEFAULT 'queued', last_error TEXT NOT NULL DEFAULT '',"
    " finished INTEGER);"
    "CREATE INDEX queue_due ON queue(status, next_attempt);"
    "CREATE INDEX queue_message ON queue(message_id);"
    /* trigram: case-insensitive substring matching, as IMAP SEARCH wants */
    "CREATE VIRTUAL TABLE fts USING fts5(subject, hfrom, hto, hcc, hbcc, body,"
    " tokenize='trigram');"
    /* A message lives while an entry or a queue row refers to it. */
    "CREATE TRIGGER entries_unref AFTER DELETE ON entries BEGIN"
    " DELETE FROM messages WHERE id = OLD.message_id"
    "  AND NOT EXISTS(SELECT 1 FROM entries WHERE message_id = OLD.message_id)"
    "  AND NOT EXISTS(SELECT 1 FROM queue WHERE message_id = OLD.message_id); END;"
    "CREATE TRIGGER queue_unref_del AFTER DELETE ON queue WHEN OLD.message_id IS NOT NULL BEGIN"
    " DELETE FROM messages WHERE id = OLD.message_id"
    "  AND NOT EXISTS(SELECT 1 FROM entries WHERE message_id = OLD.message_id)"
    "  AND NOT EXISTS(SELECT 1 FROM queue WHERE message_id = OLD.message_id); END;"
    "CREATE TRIGGER queue_unref_upd AFTER UPDATE OF message_id ON queue"
    " WHEN OLD.message_id IS NOT NULL BEGIN"
    " DELETE FROM messages WHERE id = OLD.message_id"
    "  AND NOT EXISTS(SELECT 1 FROM entries WHERE message_id = OLD.message_id)"
    "  AND NOT EXISTS(SELECT 1 FROM queue WHERE message_id = OLD.message_id); END;"
    "CREATE TRIGGER messages_fts_del AFTER DELETE ON messages BEGIN"
    " DELETE FROM fts WHERE rowid = OLD.id; END;"
    "CREATE TABLE settings(key TEXT PRIMARY KEY, value TEXT NOT NULL);"
    "CREATE TABLE events(id INTEGER PRIMARY KEY, time INTEGER NOT NULL,"
    " kind TEXT NOT NULL, text TEXT NOT NULL);",
    /* 2: netwatch (store_netwatch.c): checks, their evidence, verdict
     * changes, router port mappings */
    "CREATE TABLE netwatch_checks(id INTEGER PRIMARY KEY, started INTEGER NOT NULL,"
    " finished INTEGER NOT NULL, trigger TEXT NOT NULL, address TEXT NOT NULL,"
    " verdict TEXT NOT NULL, reason TEXT NOT NULL);"
    "CREATE TABLE netwatch_evidence(check_id INTEGER NOT NULL, seq INTEGER NOT NULL,"
    " probe TEXT NOT NULL, result TEXT NOT NULL, detail TEXT NOT NULL,"
    " PRIMARY KEY(check_id, seq));"
    "CREATE TABLE netwatch_changes(id INTEGER PRIMARY KEY, time INTEGER NOT NULL,"
    " verdict_from TEXT NOT NULL, verdict_to TEXT NOT NULL, check_id INTEGER NOT NULL,"
    " reason TEXT NOT NULL);"
    "CREATE TABLE netwatch_mappings(proto TEXT NOT NULL, port INTEGER NOT NULL,"
    " method TEXT NOT NULL, ok INTEGER NOT NULL, detail TEXT NOT NULL,"
    " updated INTEGER NOT NULL, expires INTEGER NOT NULL, PRIMARY KEY(proto, port));",
    /* 3: imap (issue 9).  SEARCH TEXT covers every header field: the
     * whole header block, unfolded and decoded, in a trigram index of its
     * own (messages stored before this get their raw header).  SAVEDATE
     * (RFC 8514): when an entry was saved in its mailbox; NULL (NIL) for
     * entries older than this. */
    ("CREATE VIRTUAL TABLE fts_hdr USING fts5(header, tokenize='trigram');"
     "INSERT INTO fts_hdr(rowid, header)"
     " SELECT id, CAST(substr(raw, 1, header_size) AS TEXT) FROM messages;"
     "CREATE TRIGGER messages_fts_hdr_del AFTER DELETE ON messages BEGIN"
     " DELETE FROM fts_hdr WHERE rowid = OLD.id; END;"
     "ALTER TABLE entries ADD COLUMN savedate INTEGER;"),
    /* 4: outbound (loft-queue): per-recipient attempt history, the delay
     * notice flag, hold, and the DKIM keys */
    "ALTER TABLE queue ADD COLUMN delay_notified INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE queue ADD COLUMN held INTEGER NOT NULL DEFAULT 0;"
    "CREATE TABLE queue_attempts(id INTEGER PRIMARY KEY,"
    " queue_id INTEGER NOT NULL REFERENCES queue(id) ON DELETE CASCADE,"
    " time INTEGER NOT NULL, route TEXT NOT NULL, mx TEXT NOT NULL, addr TEXT NOT NULL,"
    " tls TEXT NOT NULL, verified INTEGER NOT NULL, reply TEXT NOT NULL,"
    " next_attempt INTEGER NOT NULL);"
    "CREATE INDEX queue_attempts_queue ON queue_attempts(queue_id);"
    "CREATE TABLE dkim_keys(domain TEXT PRIMARY KEY, selector TEXT NOT NULL,"
    " key_pem TEXT NOT NULL, created INTEGER NOT NULL);",
    /* 5: admin (loft-admin's login sessions; the token is kept only as its
     * SHA-256, so a copy of the database opens no session) */
    /* (two statements in one entry: the parentheses tell clang's
     * -Wstring-concatenation that no comma is missing) */
    ("CREATE TABLE admin_sessions(token_hash TEXT PRIMARY KEY, csrf TEXT NOT NULL,"
     " authed INTEGER NOT NULL DEFAULT 0, ip TEXT NOT NULL DEFAULT '',"
     " created INTEGER NOT NULL, last_seen INTEGER NOT NULL, expires INTEGER NOT NULL);"
     "CREATE INDEX admin_sessions_expires ON admin_sessions(expires);"),
    /* 6: admin (the dashboard's count and sum of message sizes read this
     * small index instead of every message row: 10,000 messages, 220 ms ->
     * 6 ms; migration 5 had landed without it) */
    "CREATE INDEX messages_size ON messages(size);",
    /* 7: netwatch rejections: a remote MX refusing direct mail for the
     * address's reputation (loft-queue records it, netwatch weighs it) */
    /* (in parentheses: clang reads two literals in a row as a missing comma) */
    ("CREATE TABLE netwatch_rejections(id INTEGER PRIMARY KEY, time INTEGER NOT NULL,"
     " host TEXT NOT NULL, kind TEXT NOT NULL, reply TEXT NOT NULL);"),
    /* 8: smtpmem (loft-smtpd's early-talker passes, postscreen's cache:
     * a client address and when it last waited for the greeting) */
    ("CREATE TABLE smtp_greet_passes(addr TEXT PRIMARY KEY, passed INTEGER NOT NULL)"
     " WITHOUT ROWID;"),
    /* 9: imap subscriptions (RFC 3501 6.3.6, RFC 5258): a name stays
     * subscribed when its mailbox is deleted or was never there; the
     * mailbox row's flag holds the others, this table these */
    ("CREATE TABLE subscriptions_gone(user_id INTEGER NOT NULL"
     " REFERENCES users(id) ON DELETE CASCADE, name TEXT NOT NULL,"
     " PRIMARY KEY(user_id, name)) WITHOUT ROWID;"),
    /* 10: imap (issue 9, APPEND load): FTS5 merges segments once 16, not
     * 4, wait at a level, so a pipelined load rewrites each trigram
     * fewer times (loft-imapd CPU loading 1,500 messages of the bench
     * corpus, mean of 4-5 runs on a busy machine: 4.51 s -> 4.09 s);
     * a search reads a few more segments and stays far inside its target */
    ("INSERT INTO fts(fts, rank) VALUES('automerge', 16);"
     "INSERT INTO fts_hdr(fts_hdr, rank) VALUES('automerge', 16);"),
    /* 11: quota (issue 12): a user's mailbox limit in bytes, 0 = none */
    ("ALTER TABLE users ADD COLUMN quota_bytes INTEGER NOT NULL DEFAULT 0;"),
    /* 12: smtp rejections (issue 12): loft-smtpd's counts per UTC day and
     * kind for the dashboard chart, added every few seconds from memory
     * (store_smtpstats.h), never a row per rejection */
    ("CREATE TABLE smtp_daily(day INTEGER NOT NULL, kind TEXT NOT NULL,"
     " n INTEGER NOT NULL, PRIMARY KEY(day, kind)) WITHOUT ROWID;"),
    /* 13: imap (issue 9, APPEND load): messages stored without their
     * search index rows yet (store_set_defer_index); store_index_pending
     * writes them, and a text search reads those of its mailbox.  A mark
     * goes with its message. */
    ("CREATE TABLE fts_pending(message_id INTEGER PRIMARY KEY);"
     "CREATE TRIGGER messages_fts_pending_del AFTER DELETE ON messages BEGIN"
     " DELETE FROM fts_pending WHERE message_id = OLD.id; END;"),
    /* 14: killbench (issue 16): FTS5 merges a level all at once, inside
     * the writing transaction, when it holds crisismerge (16) segments;
     * with automerge also 16 (migration 10) no incremental merge ran
     * before that, so now and then a commit merged most of the index:
     * seconds under load, and loft-smtpd killed every second died inside
     * that commit every time, acknowledging nothing more (the kill
     * bench stalled for good after 50-70 s, 8,000 messages).  Crisis at
     * 64, four times automerge as in SQLite's defaults (4, 16): the
     * merges of 16 run a little in every commit, and their progress
     * survives a kill */
    ("INSERT INTO fts(fts, rank) VALUES('crisismerge', 64);"
     "INSERT INTO fts_hdr(fts_hdr, rank) VALUES('crisismerge', 64);"),
    /* 15: imapsearch (issue 9): the search index made again, as a candidate
     * filter: FTS5 with detail=none and the loft_trigram tokenizer
     * (store_fts.c: each distinct folded byte trigram of a message's
     * header texts and body text once, not every occurrence with its
     * position), its content the messages table itself (nothing copied:
     * the tokenizer reads a message's raw bytes); store_search_text
     * matches each candidate exactly.  A deleted message that has index
     * rows (a message only queued has none) leaves its raw bytes in
     * fts_deleted, and a Loft handle later has FTS5 delete the rows by the
     * terms the tokenizer gives again for them (store_fts_deleted): the
     * trigger itself touches no FTS5 table, so a connection without the
     * tokenizer (the sqlite3 shell) can still delete messages.  Merges as
     * migrations 10 and 14 set them.  Every message in a mailbox is
     * marked for loft-imapd's index thread; until it has its rows a
     * search reads it. */
    ("DROP TRIGGER IF EXISTS messages_fts_del;"
     "DROP TRIGGER IF EXISTS messages_fts_hdr_del;"
     "DROP TABLE IF EXISTS fts;"
     "DROP TABLE IF EXISTS fts_hdr;"
     "CREATE VIRTUAL TABLE fts USING fts5(raw, content='messages', content_rowid='id',"
     " tokenize='loft_trigram', detail=none);"
     "INSERT INTO fts(fts, rank) VALUES('automerge', 16);"
     "INSERT INTO fts(fts, rank) VALUES('crisismerge', 64);"
     "CREATE TABLE fts_deleted(id INTEGER PRIMARY KEY, raw BLOB NOT NULL);"
     "CREATE TRIGGER messages_fts_del AFTER DELETE ON messages"
     " WHEN EXISTS(SELECT 1 FROM fts_docsize WHERE id = OLD.id) BEGIN"
     " INSERT OR REPLACE INTO fts_deleted(id, raw) VALUES(OLD.id, OLD.raw); END;"
     "INSERT OR IGNORE INTO fts_pending(message_id) SELECT DISTINCT message_id FROM entries;"),
};

#define N_MIGRATIONS ((int)(sizeof(migrations) / sizeof(migrations[0])))

int store_schema_version(void)
{
	return N_MIGRATIONS;
}

int64_t store_now(void)
{
	return (int64_t)time(NULL);
}

int store_err(struct store *st, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(st->errmsg, sizeof(st->errmsg), fmt, ap);
	va_end(ap);
	return -1;
}

int store_errc(struct store *st, int rc, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(st->errmsg, sizeof(st->errmsg), fmt, ap);
	va_end(ap);
	return rc;
}

int store_sqlerr(struct store *st, const char *what)
{
	return store_err(st, "%s: %s", what, sqlite3_errmsg(st->db));
}

int store_rows_done(struct store *st, sqlite3_stmt *s, int rc, int n, const char *what)
{
	/* the message first: finishing s may replace it */
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		n = store_sqlerr(st, what);
	store_stmt_done(s);
	return n;
}

const char *store_errmsg(struct store *st)
{
	return st ? st->errmsg : "no store";
}

sqlite3_stmt *store_stmt(struct store *st, const char *sql)
{
	size_t h = ((uintptr_t)sql >> 3) % STORE_STMT_CACHE;
	sqlite3_stmt *s = NULL;

	for (size_t i = 0; i < STORE_STMT_CACHE; i++) {
		struct store_stmt_slot *slot = &st->cache[(h + i) % STORE_STMT_CACHE];

		if (slot->sql == sql)
			return slot->stmt;
		if (slot->sql)
			continue;
		if (sqlite3_prepare_v3(st->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &s, NULL) !=
		    SQLITE_OK) {
			store_sqlerr(st, "prepare");
			return NULL;
		}
		slot->sql = sql;
		slot->stmt = s;
		return s;
	}
	/* More distinct statements than slots is a bug in this module. */
	store_err(st, "statement cache full");
	return NULL;
}

void store_stmt_done(sqlite3_stmt *s)
{
	if (s) {
		sqlite3_reset(s);
		sqlite3_clear_bindings(s);
	}
}

int store_exec(struct store *st, const char *sql)
{
	char *msg = NULL;

	if (sqlite3_exec(st->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
		store_err(st, "%s", msg ? msg : sqlite3_errmsg(st->db));
		sqlite3_free(msg);
		return -1;
	}
	return 0;
}

/* Runs sql, a string literal of one statement without result rows, from
 * the statement cache.  For the transaction statements every write runs:
 * sqlite3_exec parsed "BEGIN IMMEDIATE" and "COMMIT" again each time (a
 * parse per transaction, and the parser's code and tables mapped in
 * loft-smtpd's store thread under load; issue 14).  The error message is
 * store_exec's. */
static int store_exec_cached(struct store *st, const char *sql)
{
	sqlite3_stmt *s = store_stmt(st, sql);

	if (!s)
		return -1;
	int rc = sqlite3_step(s);
	if (rc != SQLITE_DONE && rc != SQLITE_ROW)
		store_err(st, "%s", sqlite3_errmsg(st->db));
	store_stmt_done(s);
	return rc == SQLITE_DONE || rc == SQLITE_ROW ? 0 : -1;
}

int store_step_done(struct store *st, sqlite3_stmt *s, const char *what)
{
	int rc = sqlite3_step(s);

	if (rc != SQLITE_DONE && rc != SQLITE_ROW) {
		store_sqlerr(st, what);
		store_stmt_done(s);
		return -1;
	}
	store_stmt_done(s);
	return 0;
}

sqlite3_stmt *store_query(struct store *st, const char *sql, const struct store_arg *a, size_t n)
{
	sqlite3_stmt *s = store_stmt(st, sql);

	if (!s)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		int k = (int)i + 1, rc;

		switch (a[i].type) {
		case STORE_ARG_INT:
			rc = sqlite3_bind_int64(s, k, a[i].i);
			break;
		case STORE_ARG_TEXT:
			rc = sqlite3_bind_text(s, k, a[i].p, -1, SQLITE_STATIC);
			break;
		default:
			rc = sqlite3_bind_blob64(s, k, a[i].p ? a[i].p : "", a[i].n, SQLITE_STATIC);
			break;
		}
		if (rc != SQLITE_OK) {
			store_sqlerr(st, "bind");
			store_stmt_done(s);
			return NULL;
		}
	}
	return s;
}

int store_run(struct store *st, const char *what, const char *sql, const struct store_arg *a,
	      size_t n)
{
	sqlite3_stmt *s = store_query(st, sql, a, n);
	int rc;

	if (!s)
		return -1;
	/* RETURNING statements must run to completion */
	while ((rc = sqlite3_step(s)) == SQLITE_ROW)
		;
	if (rc == SQLITE_CONSTRAINT_UNIQUE)
		rc = store_errc(st, STORE_EXISTS, "%s: %s", what, sqlite3_errmsg(st->db));
	else if (rc != SQLITE_DONE)
		rc = store_sqlerr(st, what);
	else
		rc = sqlite3_changes(st->db);
	store_stmt_done(s);
	return rc;
}

int store_write(struct store *st, const char *what, const char *sql, const struct store_arg *a,
		size_t n)
{
	int rc;

	if (store_begin(st) < 0)
		return -1;
	rc = store_run(st, what, sql, a, n);
	return store_end(st, rc == 0 ? STORE_NOTFOUND : rc < 0 ? rc : 0);
}

int store_row(struct store *st, sqlite3_stmt *s, const char *what)
{
	int rc = sqlite3_step(s);

	if (rc == SQLITE_ROW)
		return 1;
	if (rc != SQLITE_DONE)
		store_sqlerr(st, what);
	store_stmt_done(s);
	return rc == SQLITE_DONE ? 0 : -1;
}

int store_end(struct store *st, int rc)
{
	if (rc < 0) {
		store_rollback(st);
		return rc;
	}
	return store_commit(st) < 0 ? -1 : rc;
}

/*
 * The outermost level is a real transaction; inner levels are savepoints,
 * so a function that fails inside a caller's transaction undoes exactly its
 * own work and the caller may still commit the rest.
 */
int store_begin(struct store *st)
{
	if (st->tx_depth > 0) {
		if (store_exec_cached(st, "SAVEPOINT store_nest") < 0)
			return -1;
		st->tx_depth++;
		return 0;
	}
	if (store_exec_cached(st, "BEGIN IMMEDIATE") < 0)
		return -1;
	st->tx_depth = 1;
	return 0;
}

int store_commit(struct store *st)
{
	char saved[sizeof(st->errmsg)];

	if (st->tx_depth <= 0)
		return store_err(st, "commit without begin");
	if (st->tx_depth > 1) {
		if (store_exec_cached(st, "RELEASE store_nest") < 0)
			return -1;
		st->tx_depth--;
		return 0;
	}
	st->tx_depth = 0;
	if (store_exec_cached(st, "COMMIT") < 0) {
		/* A failed COMMIT may leave the transaction open (SQLITE_BUSY);
		 * undo it so nothing is half-kept. */
		memcpy(saved, st->errmsg, sizeof(saved));
		if (!sqlite3_get_autocommit(st->db))
			sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
		memcpy(st->errmsg, saved, sizeof(saved));
		return -1;
	}
	return 0;
}

void store_rollback(struct store *st)
{
	if (st->tx_depth <= 0)
		return;
	if (st->tx_depth > 1) {
		sqlite3_exec(st->db, "ROLLBACK TO store_nest; RELEASE store_nest", NULL, NULL,
			     NULL);
		st->tx_depth--;
		return;
	}
	st->tx_depth = 0;
	if (!sqlite3_get_autocommit(st->db))
		sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
}

int store_tx_begin(struct store *st)
{
	return store_begin(st);
}

int store_tx_commit(struct store *st)
{
	return store_commit(st);
}

void store_tx_rollback(struct store *st)
{
	store_rollback(st);
}

int store_set_deferred_sync(struct store *st, int on)
{
	return store_exec(st, on ? "PRAGMA synchronous = NORMAL" : "PRAGMA synchronous = FULL");
}

int store_wal_sync(const char *db_path)
{
	char wal[4096];
	int fd, rc, e;

	if ((size_t)snprintf(wal, sizeof(wal), "%s-wal", db_path) >= sizeof(wal)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	/* any descriptor of the file flushes its dirty pages; the WAL of
	 * a database with an open connection is never deleted under us */
	fd = open(wal, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	rc = fsync(fd);
	e = errno;
	close(fd);
	errno = e;
	return rc;
}

static int pragma_int(struct store *st, const char *sql, int64_t *v)
{
	sqlite3_stmt *s;
	int rc;

	if (sqlite3_prepare_v2(st->db, sql, -1, &s, NULL) != SQLITE_OK)
		return store_sqlerr(st, sql);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW)
		*v = sqlite3_column_int64(s, 0);
	sqlite3_finalize(s);
	if (rc != SQLITE_ROW)
		return store_sqlerr(st, sql);
	return 0;
}

int store_data_version(struct store *st, int64_t *v)
{
	return pragma_int(st, "PRAGMA data_version", v);
}

static int migrate(struct store *st)
{
	int64_t ver;
	char sql[64];

	/* Usually there is nothing to do, and a daemon restarting while
	 * another commits must not queue for the write lock (busy waits of up
	 * to a second were seen) just to learn that: a plain read first. */
	if (pragma_int(st, "PRAGMA user_version", &ver) == 0 && ver == N_MIGRATIONS)
		return 0;
	/* The version is read again inside the write transaction so that two
	 * processes starting together do not both migrate. */
	if (store_begin(st) < 0)
		return -1;
	if (pragma_int(st, "PRAGMA user_version", &ver) < 0)
		goto fail;
	if (ver > N_MIGRATIONS) {
		store_err(st, "database schema version %lld is newer than this program knows (%d)",
			  (long long)ver, N_MIGRATIONS);
		goto fail;
	}
	if (ver < 0) {
		store_err(st, "database schema version %lld is invalid", (long long)ver);
		goto fail;
	}
	for (int i = (int)ver; i < N_MIGRATIONS; i++) {
		if (store_exec(st, migrations[i]) < 0) {
			char m[sizeof(st->errmsg)];

			memcpy(m, st->errmsg, sizeof(m));
			store_err(st, "migration %d: %.400s", i + 1, m);
			goto fail;
		}
	}
	if (ver != N_MIGRATIONS) {
		snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", N_MIGRATIONS);
		if (store_exec(st, sql) < 0)
			goto fail;
	}
	return store_commit(st);
fail:
	store_rollback(st);
	return -1;
}

/* Before SQLite initialises (its first open): no bulk page-cache block
 * per handle.  Without this each handle's page cache starts with one
 * block for 20 pages (about 87 KiB) at its first page read, whatever its
 * cache_size; loft-smtpd's loop and checkpoint handles use 5 of them.
 * Pages are then allocated one at a time, up to cache_size (issue 14). */
static void store_global_config(void)
{
	sqlite3_config(SQLITE_CONFIG_PAGECACHE, (void *)0, 0, 0);
}

int store_open(const char *path, struct store **out, char *err, size_t errlen)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	struct store *st = calloc(1, sizeof(*st));

	pthread_once(&once, store_global_config);
	*out = NULL;
	if (!st) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	if (sqlite3_open_v2(path, &st->db,
			    SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
			    NULL) != SQLITE_OK) {
		snprintf(err, errlen, "%s: %s", path,
			 st->db ? sqlite3_errmsg(st->db) : "cannot open");
		goto fail;
	}
	sqlite3_extended_result_codes(st->db, 1);
	sqlite3_busy_timeout(st->db, STORE_BUSY_MS);
	if (store_exec(st, "PRAGMA journal_mode = WAL") < 0 ||
	    store_exec(st, "PRAGMA synchronous = FULL") < 0 ||
	    store_exec(st, "PRAGMA foreign_keys = ON") < 0) {
		snprintf(err, errlen, "%s: %s", path, st->errmsg);
		goto fail;
	}
	if (store_fts_register(st) < 0 || migrate(st) < 0) {
		snprintf(err, errlen, "%s: %s", path, st->errmsg);
		goto fail;
	}
	*out = st;
	return 0;
fail:
	store_close(st);
	return -1;
}

int store_set_relaxed_sync(struct store *st)
{
	/* WAL with NORMAL: a commit is atomic and never corrupts, but the
	 * last ones may be undone by a power cut (the WAL is synced at
	 * checkpoints) */
	return store_exec(st, "PRAGMA synchronous = NORMAL");
}

int store_set_cache_kib(struct store *st, unsigned kib)
{
	char sql[64];

	/* negative cache_size is in KiB, whatever the page size */
	snprintf(sql, sizeof(sql), "PRAGMA cache_size = -%u", kib ? kib : 1);
	return store_exec(st, sql);
}

int store_set_temp_memory(struct store *st)
{
	return store_exec(st, "PRAGMA temp_store = MEMORY");
}

static int wal_hook(void *arg, sqlite3 *db, const char *name, int frames)
{
	(void)db;
	(void)name;
	((struct store *)arg)->wal_frames = frames;
	return SQLITE_OK;
}

void store_wal_manual(struct store *st)
{
	/* replaces sqlite3_wal_autocheckpoint's own hook */
	sqlite3_wal_hook(st->db, wal_hook, st);
}

int store_wal_frames(const struct store *st)
{
	return st->wal_frames;
}

int store_checkpoint(struct store *st)
{
	int log = 0, done = 0;

	if (sqlite3_wal_checkpoint_v2(st->db, NULL, SQLITE_CHECKPOINT_PASSIVE, &log, &done) !=
	    SQLITE_OK) {
		store_err(st, "checkpoint: %s", sqlite3_errmsg(st->db));
		return -1;
	}
	return log > done ? log - done : 0;
}

void store_close(struct store *st)
{
	if (!st)
		return;
	for (size_t i = 0; i < STORE_STMT_CACHE; i++)
		sqlite3_finalize(st->cache[i].stmt);
	sqlite3_close(st->db);
	free(st);
}

/* --- names -------------------------------------------------------------- */

int store_domain_norm(const char *dom, char *out, size_t outlen)
{
	size_t n = dom ? strlen(dom) : 0;

	if (n == 0 || n > 253 || n + 1 > outlen)
		return -1;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)dom[i];

		if (c <= ' ' || c == 0x7f || c == '@' || c == '<' || c == '>' || c == '"' ||
		    c == '\\' || c == ',' || c == ';' || c == ':' || c == '(' || c == ')' ||
		    c == '[' || c == ']')
			return -1;
		out[i] = (c >= 'A' && c <= 'Z') ? (char)(c + 32) : (char)c;
	}
	if (dom[0] == '.' || dom[n - 1] == '.' || strstr(dom, ".."))
		return -1;
	out[n] = '\0';
	return 0;
}

int store_addr_norm(const char *addr, int allow_catchall, char *out, size_t outlen)
{
	const char *at;
	size_t n, local;

	if (!addr)
		return -1;
	n = strlen(addr);
	at = strrchr(addr, '@');
	if (!at || n > STORE_ADDR_MAX || n + 1 > outlen)
		return -1;
	local = (size_t)(at - addr);
	if ((local == 0 && !allow_catchall) || local > 64)
		return -1;
	for (size_t i = 0; i < local; i++) {
		unsigned char c = (unsigned char)addr[i];

		if (c <= ' ' || c == 0x7f || c == '<' || c == '>' || c == ',' || c == '@')
			return -1;
		out[i] = (c >= 'A' && c <= 'Z') ? (char)(c + 32) : (char)c;
	}
	out[local] = '@';
	if (store_domain_norm(at + 1, out + local + 1, outlen - local - 1) < 0)
		return -1;
	return 0;
}
