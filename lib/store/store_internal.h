#ifndef LOFT_STORE_INTERNAL_H
#define LOFT_STORE_INTERNAL_H
/*
 * The inside of the mailstore, shared by lib/store*.c only.  Nothing outside
 * lib/store*.c may include this header.
 */
#include <sqlite3.h>
#include <stdint.h>

#include "store.h"

#define STORE_STMT_CACHE 96

struct store_stmt_slot {
	const char *sql; /* the literal's address is the key */
	sqlite3_stmt *stmt;
};

struct store {
	sqlite3 *db;
	int tx_depth; /* store_begin nesting: 1 = transaction, more = savepoints */
	char errmsg[512];
	char dummy_hash[256]; /* for store_user_auth of unknown users */
	struct store_stmt_slot cache[STORE_STMT_CACHE];
};

/* Returns a prepared, reset statement for sql, which must be a string
 * literal (cached by address).  The caller binds, steps and then calls
 * store_stmt_done.  Returns NULL on error (errmsg set). */
sqlite3_stmt *store_stmt(struct store *st, const char *sql);
/* Resets the statement and clears its bindings (releases read locks). */
void store_stmt_done(sqlite3_stmt *s);

/* Write transactions: BEGIN IMMEDIATE at the outermost level, savepoints
 * inside.  store_commit at the outermost level commits durably;
 * store_rollback undoes the current level only. */
int store_begin(struct store *st);
int store_commit(struct store *st);
void store_rollback(struct store *st);

/* Set st->errmsg and return -1 (store_err) or rc (store_errc). */
int store_err(struct store *st, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int store_errc(struct store *st, int rc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Records sqlite's message for what failed and returns -1. */
int store_sqlerr(struct store *st, const char *what);
/* Ends a row loop whose last sqlite3_step returned rc: finishes s and
 * returns n, or -1 with the error recorded when rc was not ROW/DONE. */
int store_rows_done(struct store *st, sqlite3_stmt *s, int rc, int n, const char *what);

/* Runs one statement with no result rows: returns 0 or -1. */
int store_exec(struct store *st, const char *sql);
/* Steps s once expecting SQLITE_DONE, then resets it.  Returns 0 or -1. */
int store_step_done(struct store *st, sqlite3_stmt *s, const char *what);

/* Address normalisation: copies addr lowercased into out.  Returns 0, or -1
 * when it is not a valid "local@domain" (allow_catchall: "@domain" too). */
int store_addr_norm(const char *addr, int allow_catchall, char *out, size_t outlen);
/* Domain normalisation and check; returns 0 or -1. */
int store_domain_norm(const char *dom, char *out, size_t outlen);

/* Current unix time. */
int64_t store_now(void);

/* Internal pieces shared between files. */
int store_mailbox_create_tx(struct store *st, int64_t user_id, const char *name,
			    const char *special, int subscribed, int64_t *id_out);
int store_user_exists(struct store *st, int64_t user_id);

#endif
