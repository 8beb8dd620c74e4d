#ifndef LOFT_STORE_H
#define LOFT_STORE_H
/*
 * The mailstore: every byte of Loft's state lives in one SQLite file,
 * DATADIR/loft.db (WAL mode, foreign keys on, busy timeout 5 s,
 * synchronous=FULL).  This module holds every SQL statement of Loft; the
 * daemons, loftctl and the admin call these functions and write no SQL.
 *
 * One struct store per process or thread: each daemon opens its own handle.
 * Changes made by other processes become visible at the next call;
 * store_data_version() tells a poller (IMAP IDLE, the queue runner) that
 * something changed.
 *
 * Return convention: >= 0 on success, -1 on error (store_errmsg() says
 * why), STORE_EXISTS / STORE_NOTFOUND where the difference matters to the
 * caller.  Every function that writes runs in its own transaction (or joins
 * the one opened with store_tx_begin()); a function that returns 0 after a
 * write has committed durably.
 *
 * The door has one header per table family, each with its own file(s):
 * store_users.h (domains, users, aliases, recipients), store_deliver.h
 * (messages in and out: delivery, APPEND), store_mailbox.h (IMAP's view:
 * mailboxes, entries, flags, copy/move/expunge, search), store_imap.h
 * (FETCH's batch reads and raw bytes), store_queue.h (the outbound queue),
 * store_settings.h (settings and the event log), store_backup.h.  This
 * header is the core they share: opening, migrations, transactions,
 * errors.
 *
 * Strings are UTF-8.  Addresses are normalised to lowercase as a whole
 * (ASCII letters only; bytes >= 0x80 untouched), so lookups of local parts
 * are case-insensitive; callers may pass any case.  An address is
 * "local@domain" (at most STORE_ADDR_MAX bytes, local part at most 64, no
 * spaces or control characters).
 *
 * Callbacks return 0 to go on, non-zero to stop early; the listing
 * functions return how many items were handed to the callback.  Pointers a
 * callback receives are valid only during that call.  A callback may call
 * other reading functions of this module, but must not write through the
 * same handle nor re-enter the listing function that called it.
 */
#include <stddef.h>
#include <stdint.h>

#define STORE_EXISTS   (-2) /* the thing to create is already there */
#define STORE_NOTFOUND (-3) /* the thing named does not exist */
#define STORE_MODIFIED 2    /* store_flags: UNCHANGEDSINCE test failed */

#define STORE_ADDR_MAX	   254	/* longest address, without the NUL */
#define STORE_MBOX_MAX	   512	/* longest mailbox name in bytes */
#define STORE_KEYWORDS_MAX 1024 /* longest keywords string of an entry */
#define STORE_RCPT_MAX	   32	/* targets one recipient may expand to */
#define STORE_ALIAS_DEPTH  8	/* alias chains followed this deep */
#define STORE_PASSWORD_MAX 511	/* see passwd.h */
#define STORE_MBOX_SEP	   '/'	/* mailbox hierarchy delimiter */

struct store;

/* --- opening ------------------------------------------------------------ */

/* Opens (creating if needed) the database at path and applies pending
 * migrations.  Returns 0 with *out set (close with store_close), or -1 with
 * a reason in err (a database newer than this program is refused). */
int store_open(const char *path, struct store **out, char *err, size_t errlen);
/* Closes the handle; NULL is fine. */
void store_close(struct store *st);
/* Bounds this handle's page cache to kib KiB (SQLite's default is 2000).
 * Daemons on a 512 MB board keep it small.  Returns 0 or -1. */
int store_set_cache_kib(struct store *st, unsigned kib);
/* This handle's temporary data -- statement journals (the pages a
 * statement or savepoint inside a transaction changes, kept to undo it),
 * sorts -- in memory, never in a file (temp_store=MEMORY).  SQLite keeps
 * a statement journal in memory up to 64 KiB and then moves it to a file
 * in /var/tmp for the rest of the transaction: two write() per page from
 * then on.  Returns 0 or -1. */
int store_set_temp_memory(struct store *st);
/* This handle's commits are not fsync'ed (synchronous=NORMAL): still
 * atomic, but a power cut may undo the last ones.  Only for work that is
 * redone after a crash, such as store_index_pending.  Returns 0 or -1. */
int store_set_relaxed_sync(struct store *st);
/* Checkpoints off a writer's path.  SQLite copies the WAL back into the
 * database (a checkpoint: page writes and an fsync, long for a long WAL)
 * inside the COMMIT that crosses 1000 WAL pages, so that commit returns,
 * and its mail is acknowledged, only after the copy; a writer killed
 * during it loses the copy and the next one starts it over.  After
 * store_wal_manual(st), commits on st never checkpoint; store_wal_frames
 * then says how many frames the WAL held after st's last commit (0 before
 * one), and store_checkpoint, on another handle in another thread, copies
 * it back beside the writer (a PASSIVE checkpoint waits for no one). */
void store_wal_manual(struct store *st);
int store_wal_frames(const struct store *st);
/* Copies what it can of the WAL into the database without waiting for
 * readers or writers.  Returns the WAL frames not yet copied (0: all), or
 * -1 (errmsg set). */
int store_checkpoint(struct store *st);
/* The reason for the last failure on this handle (never NULL). */
const char *store_errmsg(struct store *st);
/* The schema version this program writes (PRAGMA user_version). */
int store_schema_version(void);
/* Sets *v to PRAGMA data_version: it changes whenever another connection
 * commits a change.  Returns 0 or -1. */
int store_data_version(struct store *st, int64_t *v);

/* Groups several writes into one transaction (one fsync).  Calls nest; only
 * the outermost commit commits.  After an error inside, call
 * store_tx_rollback.  Return 0 or -1.  Never hold a transaction across a
 * network round trip. */
int store_tx_begin(struct store *st);
int store_tx_commit(struct store *st);
/* Commits on st stop waiting for the disk (on: PRAGMA synchronous =
 * NORMAL in WAL mode: a commit is written to the WAL, not fsynced; still
 * atomic, and a killed process loses nothing) or wait again (off: FULL).
 * For a process that waits for durability off its event loop with
 * store_wal_sync (loft-queue).  Returns 0 or -1. */
int store_set_deferred_sync(struct store *st, int on);
/* fsync()s the WAL of the database at db_path, so every commit written
 * before the call is durable when it returns 0 (a checkpoint syncs the
 * database itself first).  Uses no SQLite state: safe on any thread.
 * Returns 0, or -1 with errno set. */
int store_wal_sync(const char *db_path);
void store_tx_rollback(struct store *st);

#endif
