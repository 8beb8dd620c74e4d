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
void store_tx_rollback(struct store *st);

/* --- domains ------------------------------------------------------------ */

/* Returns 0, STORE_EXISTS, or -1 (bad name). */
int store_domain_add(struct store *st, const char *domain);
/* Removes a domain and the aliases whose source is in it.  Returns 0,
 * STORE_NOTFOUND, or -1 (e.g. the domain still has users). */
int store_domain_del(struct store *st, const char *domain);
typedef int (*store_name_cb)(void *arg, const char *name);
/* Calls cb for every domain, sorted. */
int store_domain_list(struct store *st, store_name_cb cb, void *arg);
/* Returns 1 if domain is one of ours, 0 if not, -1 on error. */
int store_domain_is_local(struct store *st, const char *domain);

/* --- users -------------------------------------------------------------- */

/* Adds a user (its domain must exist) with the mailboxes INBOX, Drafts,
 * Sent, Junk, Trash and Archive.  id_out may be NULL.  Returns 0,
 * STORE_EXISTS, STORE_NOTFOUND (no such domain) or -1 (bad address or
 * password, see passwd.h). */
int store_user_add(struct store *st, const char *address, const char *password, int64_t *id_out);
/* Deletes a user, its mailboxes and entries, and alias rows that target
 * it.  Returns 0, STORE_NOTFOUND or -1. */
int store_user_del(struct store *st, const char *address);
/* Returns 0, STORE_NOTFOUND or -1. */
int store_user_passwd(struct store *st, const char *address, const char *password);
typedef int (*store_user_cb)(void *arg, int64_t user_id, const char *address);
int store_user_list(struct store *st, store_user_cb cb, void *arg);
/* Returns 1 and sets *user_id when the password is right, 0 when the
 * address is unknown or the password wrong (same work either way), -1 on
 * error.  user_id may be NULL. */
int store_user_auth(struct store *st, const char *address, const char *password, int64_t *user_id);
/* Returns 0 with *user_id set, STORE_NOTFOUND, or -1. */
int store_user_find(struct store *st, const char *address, int64_t *user_id);
/* Copies the user's address into buf.  Returns 0, STORE_NOTFOUND or -1. */
int store_user_address(struct store *st, int64_t user_id, char *buf, size_t buflen);

/* --- aliases ------------------------------------------------------------ */

/* source is "local@domain" or a catch-all "@domain" (the domain must be
 * local); target is a local user or any remote address.  A source may have
 * several targets.  Returns 0, STORE_EXISTS (that pair exists),
 * STORE_NOTFOUND (source domain not local) or -1. */
int store_alias_add(struct store *st, const char *source, const char *target);
/* Removes source->target, or every target of source when target is NULL.
 * Returns 0, STORE_NOTFOUND or -1. */
int store_alias_del(struct store *st, const char *source, const char *target);
typedef int (*store_alias_cb)(void *arg, const char *source, const char *target);
/* Sorted by source, then target. */
int store_alias_list(struct store *st, store_alias_cb cb, void *arg);

/* --- recipients --------------------------------------------------------- */

struct store_rcpt {
	size_t n_users;
	int64_t user_ids[STORE_RCPT_MAX];
	size_t n_remote;
	char remote[STORE_RCPT_MAX][STORE_ADDR_MAX + 1];
	int truncated; /* more targets than STORE_RCPT_MAX: the rest dropped */
};

/* Resolves a recipient: an exact user wins, then exact alias rows, then the
 * domain's catch-all; alias targets in local domains are resolved again up
 * to STORE_ALIAS_DEPTH deep, each address at most once (loops end there).
 * Returns 1 with *out filled (at least one target, duplicates removed), 0
 * when nobody takes mail for address, -1 on error. */
int store_resolve_rcpt(struct store *st, const char *address, struct store_rcpt *out);
/* For the submission sender check: returns 1 when user_id may send as
 * address (its own address, or address resolves to a set that includes the
 * user, e.g. an alias or catch-all pointing at it), 0 if not, -1 on
 * error. */
int store_address_owned_by(struct store *st, int64_t user_id, const char *address);

/* --- delivery ----------------------------------------------------------- */

/* Stores one message in one transaction: the raw bytes once, its parsed
 * structure and search text, an INBOX entry for each distinct local user,
 * and an outbound queue row per remote recipient.  Returns 0 once durably
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

/* IMAP APPEND to the user's mailbox: flags (STORE_F_*), keywords (space
 * separated, may be NULL), internaldate (unix time, 0 = now).  Sets
 * *uidvalidity and *uid (either may be NULL).  Returns 0 once durable,
 * STORE_NOTFOUND (no such mailbox) or -1. */
int store_append(struct store *st, int64_t user_id, const char *mailbox_name, const char *data,
		 size_t len, unsigned flags, const char *keywords, int64_t internaldate,
		 uint32_t *uidvalidity, uint32_t *uid);

/* --- mailboxes ---------------------------------------------------------- */

/* Mailbox names are UTF-8 (imapd converts modified UTF-7), hierarchy
 * delimiter STORE_MBOX_SEP.  "INBOX" matches in any case and is stored as
 * "INBOX"; other names are case-sensitive. */

struct store_mailbox_info {
	int64_t id;
	const char *name;
	const char *special_use; /* "\\Sent" etc., "" for none */
	const char *attributes;	 /* "\\HasChildren" or "\\HasNoChildren" */
	int subscribed;
};
typedef int (*store_mailbox_cb)(void *arg, const struct store_mailbox_info *mi);
/* Every mailbox of the user, sorted by name (INBOX first). */
int store_mailbox_list(struct store *st, int64_t user_id, store_mailbox_cb cb, void *arg);
/* Returns 0, STORE_EXISTS or -1 (bad name). id_out may be NULL. */
int store_mailbox_create(struct store *st, int64_t user_id, const char *name, int64_t *id_out);
/* Deletes the mailbox and its entries (children keep their names).
 * Returns 0, STORE_NOTFOUND or -1 (INBOX cannot be deleted). */
int store_mailbox_delete(struct store *st, int64_t user_id, const char *name);
/* Renames a mailbox and every child "old/..." to "new/...".  New
 * UIDVALIDITY is not needed (UIDs stay).  Returns 0, STORE_NOTFOUND,
 * STORE_EXISTS or -1 (INBOX cannot be renamed here: imapd moves its
 * messages instead, RFC 3501 6.3.5). */
int store_mailbox_rename(struct store *st, int64_t user_id, const char *oldname,
			 const char *newname);
/* Returns 0, STORE_NOTFOUND or -1. */
int store_mailbox_subscribe(struct store *st, int64_t user_id, const char *name, int on);

struct store_mailbox {
	int64_t id;
	int64_t user_id;
	uint32_t uidvalidity;
	uint32_t uidnext;
	uint64_t highestmodseq;
	uint32_t messages;
	uint32_t unseen;       /* entries without \Seen */
	uint32_t first_unseen; /* UID of the first one, 0 if none */
	uint32_t recent;       /* UIDs above the recent mark, see below */
	uint32_t recent_uid;   /* the recent mark */
	int subscribed;
	char special_use[16];
	char name[STORE_MBOX_MAX + 1];
};
/* Returns 0 with *out filled, STORE_NOTFOUND or -1. */
int store_mailbox_get(struct store *st, int64_t user_id, const char *name,
		      struct store_mailbox *out);
/* The same by mailbox id. */
int store_mailbox_get_id(struct store *st, int64_t mailbox_id, struct store_mailbox *out);
/* \Recent support: atomically moves the mailbox's recent mark to
 * uidnext-1 and sets *old_mark to its previous value, so exactly one
 * session sees each new message as \Recent (UID > *old_mark).  Returns 0
 * or -1. */
int store_mailbox_claim_recent(struct store *st, int64_t mailbox_id, uint32_t *old_mark);

/* --- entries and messages ----------------------------------------------- */

#define STORE_F_SEEN	 1u
#define STORE_F_ANSWERED 2u
#define STORE_F_FLAGGED	 4u
#define STORE_F_DELETED	 8u
#define STORE_F_DRAFT	 16u
#define STORE_F_ALL	 31u

struct store_entry {
	uint32_t uid;
	unsigned flags;	      /* STORE_F_* */
	const char *keywords; /* space separated, "" for none */
	uint64_t modseq;
	int64_t message_id;
	uint64_t size;
	int64_t internaldate; /* unix time */
};
typedef int (*store_entry_cb)(void *arg, const struct store_entry *e);
/* Entries with uid_from <= UID <= uid_to (uid_to 0 = no upper end), in UID
 * order. */
int store_entries(struct store *st, int64_t mailbox_id, uint32_t uid_from, uint32_t uid_to,
		  store_entry_cb cb, void *arg);
/* The same, limited to entries whose modseq > changedsince (CONDSTORE
 * CHANGEDSINCE, QRESYNC). */
int store_entries_changed(struct store *st, int64_t mailbox_id, uint32_t uid_from, uint32_t uid_to,
			  uint64_t changedsince, store_entry_cb cb, void *arg);

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

/* --- flags -------------------------------------------------------------- */

enum store_flags_mode { STORE_FLAGS_SET, STORE_FLAGS_ADD, STORE_FLAGS_REMOVE };

/* Changes an entry's flags and keywords (space-separated atoms, matched
 * case-insensitively; NULL = none).  unchangedsince != 0: refuse when the
 * entry's modseq is above it.  A change gives the entry a new modseq (the
 * mailbox's HIGHESTMODSEQ + 1), reported in *new_modseq (else its current
 * modseq).  Returns 1 changed, 0 nothing to change, STORE_MODIFIED,
 * STORE_NOTFOUND (no such UID) or -1. */
int store_flags(struct store *st, int64_t mailbox_id, uint32_t uid, int mode, unsigned flags,
		const char *keywords, uint64_t unchangedsince, uint64_t *new_modseq);

/* --- copy, move, expunge ------------------------------------------------ */

/* Copies the entries uids[0..n) (flags and keywords kept) into dst, in one
 * transaction.  new_uids[i] gets the new UID or 0 when uids[i] does not
 * exist; *dst_uidvalidity is set (may be NULL).  Returns the number copied
 * or -1. */
int store_copy(struct store *st, int64_t src_mailbox_id, const uint32_t *uids, size_t n,
	       int64_t dst_mailbox_id, uint32_t *new_uids, uint32_t *dst_uidvalidity);
/* Copy then expunge from the source, in one transaction. */
int store_move(struct store *st, int64_t src_mailbox_id, const uint32_t *uids, size_t n,
	       int64_t dst_mailbox_id, uint32_t *new_uids, uint32_t *dst_uidvalidity);

typedef int (*store_uid_cb)(void *arg, uint32_t uid);
/* Expunges every \Deleted entry (uids NULL) or those of uids[0..n) that are
 * \Deleted (UID EXPUNGE), calling cb (may be NULL; its return value is
 * ignored) for each in UID order after commit.  Each expunged UID is
 * remembered with a new modseq for store_vanished.  Returns the number
 * expunged or -1. */
int store_expunge(struct store *st, int64_t mailbox_id, const uint32_t *uids, size_t n,
		  store_uid_cb cb, void *arg);
/* UIDs expunged with modseq > since_modseq, in UID order (QRESYNC
 * VANISHED). */
int store_vanished(struct store *st, int64_t mailbox_id, uint64_t since_modseq, store_uid_cb cb,
		   void *arg);

/* --- search ------------------------------------------------------------- */

/* Full-text search within a mailbox, calling cb with matching UIDs in
 * order.  field: "text" (headers and body), "body", "subject", "from",
 * "to", "cc", "bcc".  Matching is case-insensitive substring matching on
 * decoded text (FTS5 trigram index for queries of 3+ characters; shorter
 * queries scan the stored text of the mailbox).  An empty query matches
 * every entry.  Returns the number of matches or -1. */
int store_search_text(struct store *st, int64_t mailbox_id, const char *field, const char *query,
		      store_uid_cb cb, void *arg);

/* --- outbound queue ----------------------------------------------------- */

struct store_queue_item {
	int64_t id;
	int64_t message_id; /* 0 once done or bounced */
	const char *mail_from;
	const char *rcpt;
	int64_t created;
	int64_t next_attempt;
	int attempts;
	const char *status; /* "queued", "deferred", "done", "bounced" */
	const char *last_error;
};
typedef int (*store_queue_cb)(void *arg, const struct store_queue_item *q);
/* Every queue row, oldest first (including done and bounced ones until
 * store_queue_purge removes them). */
int store_queue_list(struct store *st, store_queue_cb cb, void *arg);
/* At most limit rows still to send with next_attempt <= now, earliest
 * first. */
int store_queue_due(struct store *st, int64_t now, int limit, store_queue_cb cb, void *arg);
/* Marks a row delivered / failed for good (releasing its message).
 * Returns 0, STORE_NOTFOUND or -1. */
int store_queue_done(struct store *st, int64_t queue_id);
int store_queue_bounce(struct store *st, int64_t queue_id, const char *error);
/* Counts an attempt and schedules the next one.  Returns 0,
 * STORE_NOTFOUND or -1. */
int store_queue_defer(struct store *st, int64_t queue_id, int64_t next_attempt, const char *error);
/* Removes done/bounced rows finished before the given time.  Returns the
 * number removed or -1. */
int store_queue_purge(struct store *st, int64_t before);

/* --- settings ----------------------------------------------------------- */

/* Copies the value into buf.  Returns 0, STORE_NOTFOUND, or -1 (also when
 * buf is too small). */
int store_setting_get(struct store *st, const char *key, char *buf, size_t buflen);
/* The value in a malloc'd string the caller frees.  Returns 0,
 * STORE_NOTFOUND or -1. */
int store_setting_dup(struct store *st, const char *key, char **out);
/* Returns 0 or -1. */
int store_setting_set(struct store *st, const char *key, const char *value);
/* Returns 0 or STORE_NOTFOUND or -1. */
int store_setting_del(struct store *st, const char *key);
typedef int (*store_setting_cb)(void *arg, const char *key, const char *value);
int store_setting_list(struct store *st, store_setting_cb cb, void *arg);

/* --- event log ---------------------------------------------------------- */

/* Appends an event (kind: short word such as "route", "auth", "queue").
 * Returns 0 or -1. */
int store_event_add(struct store *st, const char *kind, const char *text);
typedef int (*store_event_cb)(void *arg, int64_t id, int64_t when, const char *kind,
			      const char *text);
/* The newest limit events, newest first. */
int store_event_list(struct store *st, int limit, store_event_cb cb, void *arg);

/* --- backup ------------------------------------------------------------- */

/* Writes a consistent copy of the database to dest_path (which must not
 * exist) while other processes keep writing.  Returns 0 or -1. */
int store_backup(struct store *st, const char *dest_path);
/* Checks src_path (integrity_check, a schema version this program knows)
 * and replaces the database at db_path with it through the online backup
 * API, so processes that have it open see the restored content.  Returns 0
 * or -1 with a reason in err. */
int store_restore(const char *src_path, const char *db_path, char *err, size_t errlen);

#endif
