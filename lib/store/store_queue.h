#ifndef LOFT_STORE_QUEUE_H
#define LOFT_STORE_QUEUE_H
/*
 * The outbound queue: one row per (message, remote recipient), written by
 * delivery (store_deliver.h) and worked by the queue runner.
 * Conventions in store.h.
 */
#include <stddef.h>
#include <stdint.h>

#include "store.h"

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

#endif
