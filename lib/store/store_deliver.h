#ifndef LOFT_STORE_DELIVER_H
#define LOFT_STORE_DELIVER_H
/*
 * Messages in and out of the mailstore: delivery from SMTP (one message, or
 * a batch in one transaction), IMAP APPEND, and reading a stored message
 * with what was parsed from it at delivery.  Conventions in store.h.
 */
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "store.h"
#include "store_mailbox.h"

/* --- delivery ----------------------------------------------------------- */

/* Stores one message in one transaction: the raw bytes once, its parsed
 * structure and search text (only when a local user gets it: a message
 * only queued for remote recipients is in no mailbox, so nothing searches
 * it), an INBOX entry for each distinct local user, and an outbound queue
 * row per remote recipient.  Returns 0 once durably
 * committed with *message_id_out set (may be NULL), or -1 (nothing kept).
 * At least one recipient is required; a user id that does not exist is an
 * error.  mail_from may be "" (null reverse-path). */
int store_deliver(struct store *st, const char *data, size_t len, const char *mail_from,
		  const int64_t *user_ids, size_t n_users, const char *const *remote_rcpts,
		  size_t n_remote, int64_t *message_id_out);

/* Group delivery (loft-smtpd's store thread).  store_parse does the
 * parsing store_deliver does (MIME structure, IMAP envelope, search text)
 * without a handle, so it can run on another thread before the write
 * lock is taken.  Returns 0 with *out set (the caller owns it: free with
 * store_parsed_free), or -1 with a reason in err. */
struct store_parsed;
int store_parse(const char *data, size_t len, struct store_parsed **out, char *err, size_t errlen);
/* NULL is fine. */
void store_parsed_free(struct store_parsed *p);

struct store_delivery {
	const char *data; /* the message, len bytes; not copied */
	size_t len;
	const char *mail_from; /* "" or NULL: null reverse-path */
	const int64_t *user_ids;
	size_t n_users;
	const char *const *remote_rcpts;
	size_t n_remote;
	const struct store_parsed *parsed; /* store_parse of data, or NULL */
	int64_t message_id;		   /* set on success */
};
/* Stores d[0..n) in one transaction, each exactly as store_deliver would
 * (same checks, rows and search index), with the search index of all of
 * them written once at the commit instead of once per message.  Returns 0
 * once durably committed (inside store_tx_begin: once part of that
 * transaction) with every d[i].message_id set, or -1 with nothing of any
 * of them kept (the caller may retry them one by one). */
int store_deliver_many(struct store *st, struct store_delivery *d, size_t n);

/* One message of an APPEND (MULTIAPPEND: several). */
struct store_append_msg {
	const char *data;
	size_t len;
	unsigned flags;	      /* STORE_F_* */
	const char *keywords; /* space separated, may be NULL */
	int64_t internaldate; /* unix time, 0 = now */
	uint32_t uid;	      /* out */
};
/* One APPEND command: its messages go to one mailbox, all or none. */
struct store_append_job {
	int64_t user_id;
	const char *mailbox;
	struct store_append_msg *msgs;
	size_t n;
	int rc;		      /* out: 0 stored, STORE_NOTFOUND, -1 invalid */
	uint32_t uidvalidity; /* out */
};
/* Stores the messages of jobs[0..n) in one transaction: one fsync and one
 * search-index segment for all (IMAP APPEND group commit), or their
 * pending marks (store_set_defer_index).  A job whose
 * mailbox does not exist (rc STORE_NOTFOUND) or whose flags, keywords or
 * data are invalid (rc -1) stores nothing and does not stop the others.
 * Returns 0 once durably committed, every job's rc and uids set; -1 when
 * the transaction failed, with nothing of any job kept (the caller may
 * retry them one by one). */
int store_append_many(struct store *st, struct store_append_job *jobs, size_t n);

/* IMAP APPEND to the user's mailbox: flags (STORE_F_*), keywords (space
 * separated, may be NULL), internaldate (unix time, 0 = now).  Sets
 * *uidvalidity and *uid (either may be NULL).  Returns 0 once durable,
 * STORE_NOTFOUND (no such mailbox) or -1. */
int store_append(struct store *st, int64_t user_id, const char *mailbox_name, const char *data,
		 size_t len, unsigned flags, const char *keywords, int64_t internaldate,
		 uint32_t *uidvalidity, uint32_t *uid);

/* --- deferred search index ---------------------------------------------- */

/* Writing a message's search index rows means decoding its text again
 * (and a few thousand FTS5 terms).  With on set,
 * store_append_many and store_append on this handle store the message
 * and its entry durably and leave a pending mark (table fts_pending) in
 * the same transaction instead of the index rows; store_index_pending
 * writes them later, on any handle, and after a crash the marks are still
 * there.  store_search_text matches a pending message by reading it, so
 * no search misses one.  Deliveries are not deferred. */
void store_set_defer_index(struct store *st, int on);
/* Writes the index rows of up to max pending messages (mailbox_id > 0:
 * only those with an entry in that mailbox), about 4 MiB of text per
 * transaction; the messages are read and parsed before the write lock is
 * taken.  yield (may be NULL): when another thread of the process sets
 * it (it wants the write lock), the transaction commits after the message
 * being indexed, however few are done.  Returns how many were indexed
 * (0: none pending) or -1. */
int store_index_pending(struct store *st, int64_t mailbox_id, size_t max, const atomic_int *yield);
/* Deletes the index rows of up to max deleted messages (their raw bytes
 * wait in table fts_deleted: the delete trigger touches no FTS5 table,
 * whose tokenizer only Loft's handles have), in one transaction.  A
 * search never needs it done (a deleted message is in no mailbox); it
 * gives the space back.  Returns how many (0: none left) or -1. */
int store_index_purge(struct store *st, size_t max);
/* How many messages wait for their index rows (mailbox_id > 0: with an
 * entry in that mailbox).  Returns 0 with *n, or -1. */
int store_index_pending_count(struct store *st, int64_t mailbox_id, int64_t *n);

/* --- messages ------------------------------------------------------------ */

struct store_message {
	int64_t id;
	char *data; /* raw bytes, NUL-terminated (NUL not in size); NULL
		       from store_message_meta */
	size_t size;
	char *envelope;	     /* IMAP ENVELOPE */
	char *bodystructure; /* BODYSTRUCTURE without keyword */
	char *body;	     /* BODY (non-extended) */
	void *sections;	     /* mime_sections_encode table */
	size_t sections_len;
	size_t header_size;
	uint64_t lines;
	int64_t internaldate;
	unsigned mime_flags;
};
/* Fills *out (free with store_message_free).  Returns 0, STORE_NOTFOUND or
 * -1. */
int store_message_get(struct store *st, int64_t message_id, struct store_message *out);
/* The same without the raw bytes (data NULL). */
int store_message_meta(struct store *st, int64_t message_id, struct store_message *out);
/* Frees what store_message_get put in *m; NULL fields are fine. */
void store_message_free(struct store_message *m);

#endif
