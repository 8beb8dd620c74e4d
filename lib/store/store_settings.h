#ifndef LOFT_STORE_SETTINGS_H
#define LOFT_STORE_SETTINGS_H
/*
 * Settings (what the setup wizard and the admin set) and the event log
 * shown on the dashboard.  Conventions in store.h.
 */
#include <stddef.h>
#include <stdint.h>

#include "store.h"

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

#endif
