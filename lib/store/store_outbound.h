#ifndef LOFT_STORE_OUTBOUND_H
#define LOFT_STORE_OUTBOUND_H
/*
 * What loft-queue keeps beyond the queue rows of store_queue.h: each
 * delivery attempt per recipient (route, MX host and address, TLS, the
 * peer's reply), the delay-notice flag, holding a row, and the DKIM keys
 * of the local domains.  Conventions in store.h.
 */
#include <stddef.h>
#include <stdint.h>

#include "store.h"
#include "store_queue.h"

/* Waiting rows that are due and not held, earliest first (at most
 * limit).  q->status is "queued" or "deferred". */
struct store_outbound_item {
	struct store_queue_item q;
	int delay_notified;
};
typedef int (*store_outbound_cb)(void *arg, const struct store_outbound_item *it);
int store_outbound_due(struct store *st, int64_t now, int limit, store_outbound_cb cb, void *arg);

/* One attempt's facts, recorded with its outcome. */
struct store_attempt {
	const char *route; /* "direct", "smarthost" */
	const char *mx;	   /* host name tried, "" if none */
	const char *addr;  /* address text, "" if none */
	const char *tls;   /* "TLSv1.2" or "" */
	int verified;	   /* certificate verified */
	const char *reply; /* the peer's reply or the error */
	int64_t next_attempt;
};
/* Adds an attempt row for queue_id.  Returns 0 or -1. */
int store_attempt_add(struct store *st, int64_t queue_id, const struct store_attempt *a);
typedef int (*store_attempt_cb)(void *arg, int64_t when, const struct store_attempt *a);
/* The attempts of a row, oldest first. */
int store_attempt_list(struct store *st, int64_t queue_id, store_attempt_cb cb, void *arg);

/* One row (any status).  Returns 1 found (cb ran), 0 not found, -1. */
int store_outbound_get(struct store *st, int64_t queue_id, store_outbound_cb cb, void *arg);
/* The delay notice for the row went out.  Returns 0, STORE_NOTFOUND, -1. */
int store_outbound_delay_mark(struct store *st, int64_t queue_id);
/* Holds (1) or releases (0) a waiting row.  Returns 0, STORE_NOTFOUND, -1. */
int store_outbound_hold(struct store *st, int64_t queue_id, int held);
/* Makes every waiting row (queue_id 0) or one row due now, released from
 * hold.  Returns the number of rows, or -1. */
int store_outbound_flush(struct store *st, int64_t queue_id);
/* Asks loft-queue to bounce a waiting row (with a report to its sender)
 * at its next scan.  Returns 0, STORE_NOTFOUND, -1. */
int store_outbound_request_bounce(struct store *st, int64_t queue_id);
/* Waiting rows whose bounce the admin asked for. */
int store_outbound_bounce_requests(struct store *st, int limit, store_outbound_cb cb, void *arg);
/* Removes a row whatever its state (admin).  Returns 0, STORE_NOTFOUND, -1. */
int store_outbound_delete(struct store *st, int64_t queue_id);
/* The message id of a row (0 once finished).  Returns 0, STORE_NOTFOUND, -1. */
int store_outbound_message(struct store *st, int64_t queue_id, int64_t *message_id);

/* --- DKIM keys ----------------------------------------------------------- */

/* Copies the selector into sel and returns the PEM private key in a
 * malloc'd string (*pem, caller frees).  Returns 0, STORE_NOTFOUND, -1. */
int store_dkim_get(struct store *st, const char *domain, char *sel, size_t sellen, char **pem);
/* Stores the key of domain (replacing one).  Returns 0 or -1. */
int store_dkim_set(struct store *st, const char *domain, const char *selector, const char *pem);
/* Makes a 2048-bit key (selector "loft") for domain unless it has one;
 * sets *made to 1 when it made one (may be NULL).  Returns 0 or -1. */
int store_dkim_ensure(struct store *st, const char *domain, int *made);
/* Returns 0, STORE_NOTFOUND, -1. */
int store_dkim_del(struct store *st, const char *domain);

#endif
