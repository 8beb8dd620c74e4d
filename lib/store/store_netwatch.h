#ifndef LOFT_STORE_NETWATCH_H
#define LOFT_STORE_NETWATCH_H
/*
 * loft-netwatch's tables: every check with its evidence (one row per
 * probe), the history of verdict changes, and the router port mappings.
 * Saving a check is also what writes the route.verdict setting (COMMON.md:
 * only netwatch writes it).  Conventions in store.h.
 */
#include <stddef.h>
#include <stdint.h>

#include "store.h"

#define STORE_NW_KEEP_CHECKS 2000 /* checks kept; older ones (and their evidence) go */

/* One piece of evidence: probe "ptr", result "generic", detail "name
 * dsl-1.example.net: residential line word \"dsl\"". */
struct store_nw_item {
	const char *probe;
	const char *result;
	const char *detail;
};

struct store_nw_check {
	int64_t id;		   /* set by store_nw_check_save; listings fill it */
	int64_t started, finished; /* unix seconds */
	const char *trigger;	   /* "start", "timer", "address-change", "loftctl", ... */
	const char *address;	   /* the public address found, "" when none */
	const char *verdict;	   /* "direct", "relay" or "unknown" */
	const char *reason;	   /* one line: why that verdict */
	const struct store_nw_item *items;
	size_t nitems;
};

/*
 * Saves c with its evidence and, in the same transaction, writes the
 * route.verdict setting; when that changes (an absent setting counts as
 * "unknown"), records the change in the history and adds a "route" event
 * naming the old and new verdict and the reason.  Every check also adds a
 * "netwatch" event.  Sets c->id.  Returns 1 when the verdict changed, 0
 * when not, -1 on error.
 */
int store_nw_check_save(struct store *st, struct store_nw_check *c);

/* The callbacks see c with its items (valid only during the call). */
typedef int (*store_nw_check_cb)(void *arg, const struct store_nw_check *c);
/* The newest limit checks, newest first, each with its evidence.
 * Returns how many were handed to cb, or -1. */
int store_nw_check_list(struct store *st, int limit, store_nw_check_cb cb, void *arg);

struct store_nw_change {
	int64_t time;
	const char *from, *to, *reason;
	int64_t check_id;
};
typedef int (*store_nw_change_cb)(void *arg, const struct store_nw_change *ch);
/* The newest limit verdict changes, newest first.  Returns the count or -1. */
int store_nw_change_list(struct store *st, int limit, store_nw_change_cb cb, void *arg);

/* --- reputation rejections ------------------------------------------- */

#define STORE_NW_KEEP_REJECTIONS 1000
#define STORE_NW_REPLY_MAX	 1000 /* bytes of a reply kept */

/*
 * Records that host (the remote MX) refused a direct delivery with reply,
 * read as kind ("reputation" or "authentication": netv_reply_str() of
 * netv_reply_kind()).  loft-queue calls it when it sends the message again
 * through the smarthost (reputation) or tells the admin (authentication);
 * loft-netwatch counts recent reputation rejections as evidence, and a
 * "route" event names it.  The reply is cut to STORE_NW_REPLY_MAX bytes.
 * Returns 0 or -1.
 */
int store_nw_rejection_add(struct store *st, const char *host, const char *kind, const char *reply);
/* How many rejections of kind came at or after since, and the newest
 * one's host and reply (copied into the buffers, which may be NULL).
 * Returns the count or -1. */
int store_nw_rejection_count(struct store *st, const char *kind, int64_t since, char *host,
			     size_t hostlen, char *reply, size_t replylen);

/* --- router port mappings --------------------------------------------- */

struct store_nw_mapping {
	const char *proto;  /* "tcp" */
	int port;	    /* external = internal port */
	const char *method; /* "upnp", "natpmp", "none" */
	int ok;		    /* 1 mapped, 0 refused/failed */
	const char *detail;
	int64_t updated, expires; /* expires 0: no lease time */
};
/* Records the outcome of mapping proto/port (replacing the last one).
 * Returns 0 or -1. */
int store_nw_mapping_set(struct store *st, const struct store_nw_mapping *m);
/* Forgets proto/port (a forward removed on purpose: the ACME window is
 * over).  Returns 0, STORE_NOTFOUND or -1. */
int store_nw_mapping_del(struct store *st, const char *proto, int port);
typedef int (*store_nw_mapping_cb)(void *arg, const struct store_nw_mapping *m);
/* Every mapping by port.  Returns the count or -1. */
int store_nw_mapping_list(struct store *st, store_nw_mapping_cb cb, void *arg);

#endif
