#ifndef LOFT_STORE_MAILBOX_H
#define LOFT_STORE_MAILBOX_H
/*
 * The mailstore as IMAP sees it: mailboxes, the entries in them (UID,
 * flags, keywords, modseq), flag changes with CONDSTORE modseqs, copy,
 * move and expunge with the VANISHED record, and full-text search.
 * Conventions in store.h.
 */
#include <stddef.h>
#include <stdint.h>

#include "store.h"

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
/* (Un)subscribes name.  A name without a mailbox may be subscribed too
 * (and stays subscribed when its mailbox is deleted; a mailbox created or
 * renamed onto it is subscribed).  Returns 0, STORE_NOTFOUND (unsubscribe
 * of a name not subscribed, or an invalid name) or -1. */
int store_mailbox_subscribe(struct store *st, int64_t user_id, const char *name, int on);
/* Renames every mailbox whose name is not in Unicode Normalization Form C
 * (stored before names were normalised) to its NFC form, unless a mailbox
 * of that name exists (then it keeps its name).  loft-imapd runs it at
 * start.  Returns how many were renamed, or -1. */
int store_mailbox_nfc_names(struct store *st);
/* Calls cb with each subscribed name that has no mailbox, sorted.
 * Returns how many, or -1. */
int store_subscriptions_gone(struct store *st, int64_t user_id,
			     int (*cb)(void *arg, const char *name), void *arg);

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
/* Sets *size to the octets of every message in the mailbox (IMAP STATUS
 * SIZE, RFC 8438).  Returns 0 or -1. */
int store_mailbox_size(struct store *st, int64_t mailbox_id, uint64_t *size);
/* Sets *n to the entries of the mailbox with \Deleted (IMAP STATUS
 * DELETED, RFC 9051).  Returns 0 or -1. */
int store_mailbox_deleted(struct store *st, int64_t mailbox_id, uint32_t *n);
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
	int64_t savedate;     /* RFC 8514, unix time; 0: not known */
	unsigned mime_flags;  /* MIME_F_* as stored (lib/mail/mime.h) */
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
 * decoded text.  The messages whose index holds every trigram of the
 * folded query (all of them for a query under 3 bytes), and those whose
 * index rows are still pending (store_set_defer_index), are read and
 * matched exactly, all in one read transaction, so none is missed and no
 * message is found that does not hold the text.  An empty query matches every entry.  Returns the
 * number of matches or -1. */
int store_search_text(struct store *st, int64_t mailbox_id, const char *field, const char *query,
		      store_uid_cb cb, void *arg);

#endif
