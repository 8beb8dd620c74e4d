#ifndef LOFT_STORE_ADMIN_H
#define LOFT_STORE_ADMIN_H
/*
 * What loft-admin keeps: its login sessions (table admin_sessions), the
 * figures its dashboard shows, and the queue actions of its queue page.
 * Conventions in store.h.
 *
 * A session row is keyed by the SHA-256 (hex) of the cookie's token, which
 * the caller computes: the token itself is never stored.  A row is either
 * anonymous (authed 0: it only carries the CSRF token of the login and
 * first wizard forms) or logged in (authed 1).
 */
#include <stddef.h>
#include <stdint.h>

#include "store.h"

#define STORE_ADMIN_HASH_MAX 64 /* hex SHA-256 */
#define STORE_ADMIN_CSRF_MAX 64

struct store_admin_session {
	char csrf[STORE_ADMIN_CSRF_MAX + 1];
	int authed;
	int64_t created, last_seen, expires;
};

/* Adds a session.  Returns 0, STORE_EXISTS or -1. */
int store_admin_session_add(struct store *st, const char *token_hash, const char *csrf, int authed,
			    const char *ip, int64_t now, int64_t expires);
/* Looks up a live session (expires > now).  Returns 0 with *out filled,
 * STORE_NOTFOUND (absent or expired), or -1. */
int store_admin_session_get(struct store *st, const char *token_hash, int64_t now,
			    struct store_admin_session *out);
/* Moves a session's expiry (sliding idle timeout).  Returns 0,
 * STORE_NOTFOUND or -1. */
int store_admin_session_touch(struct store *st, const char *token_hash, int64_t now,
			      int64_t expires);
/* Returns 0, STORE_NOTFOUND or -1. */
int store_admin_session_del(struct store *st, const char *token_hash);
/* Removes every logged-in session (after the admin password changed) and
 * every expired one.  Returns the number removed or -1. */
int store_admin_session_del_authed(struct store *st);
/* Removes expired sessions, then the oldest anonymous ones beyond
 * keep_anon (a flood of first visits must not grow the file without
 * bound).  Returns the number removed or -1. */
int store_admin_session_purge(struct store *st, int64_t now, int keep_anon);
/* Sessions alive (for tests).  Returns the count or -1. */
int store_admin_session_count(struct store *st, int64_t now);

/* --- dashboard ---------------------------------------------------------- */

struct store_admin_stats {
	int64_t domains, users, aliases, messages, message_bytes;
	int64_t queue_waiting;	/* queued + deferred */
	int64_t queue_deferred; /* attempted at least once, not given up */
	int64_t queue_done, queue_bounced;
	int64_t db_bytes; /* page_count * page_size */
};
/* Fills *out.  Returns 0 or -1. */
int store_admin_stats(struct store *st, struct store_admin_stats *out);

/* Per day (UTC, day = unix time / 86400) for the last ndays days ending
 * with today: deliveries done and bounces, from the queue rows' finish
 * time.  done[0] and bounced[0] are the oldest day.  Returns 0 or -1. */
int store_admin_daily(struct store *st, int64_t now, int ndays, int64_t *done, int64_t *bounced);

/* Every user with the number of messages in its mailboxes, their total
 * size (a message filed twice counts twice) and its quota in bytes (0 =
 * none), by address.  Returns the count or -1. */
typedef int (*store_admin_usage_cb)(void *arg, const char *address, int64_t messages, int64_t bytes,
				    int64_t quota);
int store_admin_usage(struct store *st, store_admin_usage_cb cb, void *arg);

/* --- queue actions ------------------------------------------------------ */

/* Makes a waiting queue row due now.  Returns 0, STORE_NOTFOUND (absent or
 * finished) or -1. */
int store_admin_queue_retry(struct store *st, int64_t queue_id);
/* Makes every waiting row due now.  Returns the number or -1. */
int store_admin_queue_retry_all(struct store *st);
/* Removes a queue row (its message goes too when nothing else refers to
 * it).  Returns 0, STORE_NOTFOUND or -1. */
int store_admin_queue_delete(struct store *st, int64_t queue_id);

#endif
