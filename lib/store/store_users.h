#ifndef LOFT_STORE_USERS_H
#define LOFT_STORE_USERS_H
/*
 * The mailstore's domains, users (with their password hashes, see
 * passwd.h), aliases, and the resolution of a recipient address to local
 * users and remote targets.  Conventions in store.h.
 */
#include <stddef.h>
#include <stdint.h>

#include "store.h"

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

/* --- quota (issue 12) ---------------------------------------------------- */

/* Sets the user's limit on the sum of its messages' sizes; 0 = unlimited.
 * Returns 0, STORE_NOTFOUND, or -1 (bad address or negative bytes). */
int store_user_quota_set(struct store *st, const char *address, int64_t bytes);
/* Sets *quota (0 = unlimited) and *usage (sum of the sizes of the user's
 * entries, a message in two mailboxes counted twice, as the admin's usage
 * page counts it); either may be NULL.  Returns 0, STORE_NOTFOUND or -1. */
int store_user_quota_get(struct store *st, int64_t user_id, int64_t *quota, int64_t *usage);
/* Returns 1 when adding `adding` bytes would take the user over its quota
 * (for adding == 0: when it is already at or over it), 0 if not (or no
 * quota), -1 on error. */
int store_user_over_quota(struct store *st, int64_t user_id, int64_t adding);

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

#endif
