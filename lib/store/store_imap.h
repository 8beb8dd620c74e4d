#ifndef LOFT_STORE_IMAP_H
#define LOFT_STORE_IMAP_H
/*
 * Mailstore reads shaped for IMAP FETCH.  A message row keeps its raw bytes
 * first and its size, date and parsed structure after them, so SQLite
 * reaches those columns only by walking the raw bytes' overflow pages.
 * These calls read each row once for all it needs (one walk), skip the
 * messages table entirely when nothing of it is wanted, and read the raw
 * bytes in pieces through SQLite's incremental blob I/O so a FETCH never
 * has to hold a whole message.
 */
#include <stddef.h>
#include <stdint.h>

#include "store.h"

/* What store_imap_rows() should read besides the entry itself. */
#define STORE_IMAP_SIZE 1u /* size, internaldate, header_size, mime_flags */
#define STORE_IMAP_META 2u /* also envelope, bodystructure, body, sections */

/* One mailbox entry with the message columns asked for.  Pointers are
 * valid only during the callback; unread columns are 0/NULL. */
struct store_imap_row {
	uint32_t uid;
	unsigned flags;
	const char *keywords; /* never NULL */
	uint64_t modseq;
	int64_t message_id;
	int64_t savedate; /* RFC 8514; 0: not known (stored before it was kept) */
	uint64_t size;
	int64_t internaldate;
	const char *envelope, *bodystructure, *body;
	const void *sections;
	size_t sections_len;
	size_t header_size;  /* with STORE_IMAP_SIZE or _META */
	unsigned mime_flags; /* MIME_F_* as stored, with STORE_IMAP_SIZE or _META */
};

/* Returns 0 to go on, non-zero to stop. */
typedef int (*store_imap_row_cb)(void *arg, const struct store_imap_row *r);

/* Calls cb for the entries of the mailbox with uid_from <= UID <= uid_to
 * (uid_to 0: no upper bound) and MODSEQ > changedsince, in UID order, with
 * the columns named by what (STORE_IMAP_*).  Returns the number of rows
 * passed to cb, or -1 (store_errmsg). */
int store_imap_rows(struct store *st, int64_t mailbox_id, uint32_t uid_from, uint32_t uid_to,
		    uint64_t changedsince, unsigned what, store_imap_row_cb cb, void *arg);

/* Opens a read transaction when none is open, so a batch of reads takes
 * the database's read lock once.  Returns 1 if it opened one (pass that to
 * store_imap_read_end), 0 if a transaction was already open, -1 on error.
 * Never hold one across waiting for the network. */
int store_imap_read_begin(struct store *st);
/* Ends what store_imap_read_begin returned 1 for; 0 is a no-op. */
void store_imap_read_end(struct store *st, int opened);

/* A reader of messages' raw bytes, reused from message to message. */
struct store_raw;

/* Returns a reader on st (free with store_raw_free).  Never NULL (aborts
 * on out of memory). */
struct store_raw *store_raw_new(struct store *st);
/* Points the reader at a message and sets *size to its length.  Returns
 * 0, STORE_NOTFOUND, or -1 (store_errmsg). */
int store_raw_open(struct store_raw *r, int64_t message_id, size_t *size);
/* Copies n bytes at off of the open message into p.  Returns 0, or -1
 * (past the end, no message open, or an I/O error). */
int store_raw_read(struct store_raw *r, void *p, size_t n, size_t off);
/* Reads the whole open message into a malloc'ed, NUL-terminated buffer
 * (the caller frees it).  Returns NULL on error. */
char *store_raw_read_all(struct store_raw *r, size_t size);
/* Lets go of the open message (and of the read lock it holds); the
 * reader stays usable.  Call before waiting for the network. */
void store_raw_close(struct store_raw *r);
/* Closes and frees; NULL is fine. */
void store_raw_free(struct store_raw *r);

#endif
