#ifndef LOFT_STORE_INTERNAL_H
#define LOFT_STORE_INTERNAL_H
/*
 * The inside of the mailstore, shared by lib/store*.c only.  Nothing outside
 * lib/store*.c may include this header.
 */
#include <sqlite3.h>
#include <stdint.h>

#include "buf.h"
#include "store.h"

/* slots per handle; the transaction statements (store.c) take four */
#define STORE_STMT_CACHE 128

struct store_stmt_slot {
	const char *sql; /* the literal's address is the key */
	sqlite3_stmt *stmt;
};

struct store {
	sqlite3 *db;
	int tx_depth;	 /* store_begin nesting: 1 = transaction, more = savepoints */
	int defer_index; /* store_set_defer_index: APPEND leaves index rows pending */
	/* the texts of the message being indexed, already parsed (a struct
	 * parsed of store_deliver.c), for the tokenizer: store_index_texts */
	const void *index_hint;
	const char *index_hint_data;
	size_t index_hint_len;
	char errmsg[512];
	char dummy_hash[256]; /* for store_user_auth of unknown users */
	struct store_stmt_slot cache[STORE_STMT_CACHE];
	int wal_frames; /* after the last commit, with store_wal_manual */
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

/* Whether needle (nlen bytes, case-folded with utf8_fold) is in the text
 * that search field ("text", "body", "subject", "from", "to", "cc",
 * "bcc") covers in message data: the text its index rows are made from,
 * compared case-folded.  A SEARCH matches its candidates with it
 * (store_deliver.c). */
int store_scan_match(const char *data, size_t len, const char *field, const char *needle,
		     size_t nlen);
/* The same for a header field ("subject", "from", "to", "cc", "bcc";
 * else 0) from the message's first n bytes, which must reach past the
 * empty line that ends its header block (store_header_extent < n), or be
 * the whole message or HDRSCAN_MAX (1 MiB) bytes of it. */
int store_scan_header(const char *data, size_t n, const char *field, const char *needle,
		      size_t nlen);
/* Where the header block of data[0..n) ends: just past its empty line,
 * or min(n, 1 MiB) when there is none in those bytes. */
size_t store_header_extent(const char *data, size_t n);
/* Calls fn with each text a search reads in the message data[0..len):
 * the header block, the five header fields (body 0), the body text (body
 * 1); the parsed texts of st->index_hint when they are of these bytes,
 * else parsed now.  Returns 0, or -1 when the message cannot be parsed
 * (fn not called). */
int store_index_texts(struct store *st, const char *data, size_t len,
		      void (*fn)(void *arg, const char *s, size_t n, int body), void *arg);

/* Has FTS5 delete the index rows of deleted messages that wait in
 * fts_deleted (migration 15): message id's only when id > 0, else up to
 * max of them.  Call inside a transaction.  Returns how many, or -1. */
int store_fts_deleted(struct store *st, int64_t id, size_t max);

/* The FTS5 tokenizer "loft_trigram" (store_fts.c), registered on every
 * handle before its migrations run.  Returns 0 or -1. */
int store_fts_register(struct store *st);
/* The index term of a byte trigram (folded text), in a header text (body
 * 0) or the body (1): STORE_FTS_TERM bytes, not NUL-terminated. */
#define STORE_FTS_TERM 5
void store_fts_term(const unsigned char *tri, int body, char *out);

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

/*
 * Statements with their arguments, so "prepare, bind, step, finish" is
 * written once.  Arguments bind to ?1, ?2, ... in order; text and blobs
 * are bound without a copy, so they must live until the statement is
 * stepped (and, for store_q, until store_stmt_done).
 *
 *	rc = store_do(st, "alias del", "DELETE FROM aliases WHERE source = ?1",
 *		      SA_TEXT(src));
 *	s = store_q(st, "SELECT id FROM domains WHERE name = ?1", SA_TEXT(d));
 */
enum store_arg_type { STORE_ARG_INT, STORE_ARG_TEXT, STORE_ARG_BLOB };
struct store_arg {
	enum store_arg_type type;
	int64_t i;
	const void *p; /* text (NULL binds SQL NULL) or blob */
	size_t n;      /* blob length */
};
#define SA_INT(v)     ((struct store_arg){STORE_ARG_INT, (int64_t)(v), NULL, 0})
#define SA_TEXT(v)    ((struct store_arg){STORE_ARG_TEXT, 0, (v), 0})
#define SA_BLOB(v, n) ((struct store_arg){STORE_ARG_BLOB, 0, (v), (n)})
#define STORE_ARGS(...)                                                                            \
	((const struct store_arg[]){__VA_ARGS__}),                                                 \
	    (sizeof((const struct store_arg[]){__VA_ARGS__}) / sizeof(struct store_arg))

/* The cached statement for sql (a literal) with the n arguments bound,
 * ready to step; the caller finishes it (store_row, store_rows_done or
 * store_stmt_done).  NULL on error (errmsg set). */
sqlite3_stmt *store_query(struct store *st, const char *sql, const struct store_arg *a, size_t n);
#define store_q(st, sql, ...) store_query(st, sql, STORE_ARGS(__VA_ARGS__))
/* Runs sql with the n arguments to its end and finishes it.  Returns the
 * number of rows it changed (>= 0), STORE_EXISTS when a UNIQUE constraint
 * refused it (errmsg says "what: ..."), or -1. */
int store_run(struct store *st, const char *what, const char *sql, const struct store_arg *a,
	      size_t n);
#define store_do(st, what, sql, ...) store_run(st, what, sql, STORE_ARGS(__VA_ARGS__))
/* One write in its own transaction (a savepoint inside store_tx_begin):
 * runs sql with the n arguments.  Returns 0, STORE_NOTFOUND when it
 * changed no row (the caller says what was not found), STORE_EXISTS, or
 * -1; what it did is committed only on 0. */
int store_write(struct store *st, const char *what, const char *sql, const struct store_arg *a,
		size_t n);
#define store_w(st, what, sql, ...) store_write(st, what, sql, STORE_ARGS(__VA_ARGS__))
/* Steps s once for a single-row lookup.  Returns 1 with the row there (the
 * caller reads its columns, then calls store_stmt_done), or 0 (no row) and
 * -1 (error recorded under what), both with s finished. */
int store_row(struct store *st, sqlite3_stmt *s, const char *what);
/* Ends what store_begin began: commits when rc >= 0 and returns rc (-1 if
 * the commit failed), else rolls back and returns rc (a STORE_* code or
 * -1 stays as it is). */
int store_end(struct store *st, int rc);
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
/* store_queue.c: a queue row's columns 0-8 as store_queue.c's QUEUE_COLS
 * select them (store_outbound.c selects the same first), into q. */
struct store_queue_item;
void store_queue_item_read(sqlite3_stmt *s, struct store_queue_item *q);
/* store_mailbox.c: creates a mailbox inside the caller's transaction. */
int store_mailbox_create_tx(struct store *st, int64_t user_id, const char *name,
			    const char *special, int subscribed, int64_t *id_out);
/* store_mailbox.c: the id of the user's mailbox name (any case for INBOX).
 * Returns 0, STORE_NOTFOUND (errmsg set) or -1. */
int store_mailbox_id(struct store *st, int64_t user_id, const char *name, int64_t *id);
/* store_users.c: 1 when the user exists, 0 when not, -1 on error. */
int store_user_exists(struct store *st, int64_t user_id);
/* store_flags.c: puts message_id in mailbox_id with the next UID and
 * modseq.  Call inside a transaction.  Returns 0 or -1. */
int store_entry_add(struct store *st, int64_t mailbox_id, int64_t message_id, unsigned flags,
		    const char *keywords, uint32_t *uid_out, uint32_t *uidvalidity_out);
/* store_flags.c: normalises a keywords argument (validated, duplicates
 * removed) into out.  Returns 0 or -1. */
int store_keywords_norm(const char *in, char *out, size_t outlen);

/* --- parsing (store_parse.c: no store handle, any thread) --------------- */

#define STRUCT_MAX   (16u << 20) /* envelope / bodystructure / sections */
#define TEXT_MAX     (4u << 20)	 /* search text of one message */
#define HDRFIELD_MAX (64u << 10) /* one header field for the index */
#define HDRSCAN_MAX  (1u << 20)	 /* header bytes scanned for index fields */

struct parsed {
	struct buf env, bs, body, sect, text, hdr[5];
	struct buf header; /* the whole header block for TEXT, decoded */
	size_t header_size;
	uint64_t lines;
	unsigned mflags;
};

/* What store_parse_core computes: the structure IMAP's FETCH reads, the text of
 * the search index rows, or both. */
enum parse_what { PARSE_STRUCT = 1, PARSE_INDEX = 2, PARSE_ALL = 3, PARSE_TEXT = 4 };

extern const char *const store_index_fields[5]; /* subject from to cc bcc */
void store_parse_free(struct parsed *p);
/* Appends the unfolded, decoded value of every header field called name in
 * the top header block of data to out (addr: each address once more as
 * "name mailbox@host").  Returns 0 or -1. */
int store_header_field(const char *data, size_t len, const char *name, int addr, struct buf *out);
/* The header block data[0..hs) decoded, for TEXT. */
void store_header_text(const char *data, size_t hs, struct buf *out);
/* Fills *p (free with store_parse_free, also on failure) with what asks
 * for.  Touches no handle.  Returns NULL, or the reason it failed. */
const char *store_parse_core(const char *data, size_t len, enum parse_what what, struct parsed *p);

#endif
