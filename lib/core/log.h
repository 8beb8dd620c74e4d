#ifndef LOFT_LOG_H
#define LOFT_LOG_H
/*
 * One line per event on stderr, "key=value" fields.  Under systemd
 * (JOURNAL_STREAM set) each line starts with a <N> syslog priority so
 * journald files it at the right level; on a terminal it starts with a
 * timestamp instead.  Callers must never pass a secret: use LOG_SECRET.
 */
#include <stdarg.h>
#include <stddef.h>

enum log_level { LOG_LVL_ERR = 0, LOG_LVL_WARN, LOG_LVL_INFO, LOG_LVL_DEBUG };

#define LOG_SECRET "********"

/* prog is kept by pointer: pass a string literal or argv[0]. */
void log_init(const char *prog, int level);
void log_set_level(int level);
int log_get_level(void);
/* Returns the level for "err|warn|info|debug", -1 if unknown. */
int log_level_parse(const char *name);

/* sid may be NULL (no session).  fmt holds the key=value fields. */
void log_msg(int level, const char *sid, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void log_vmsg(int level, const char *sid, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));

#define log_err(sid, ...)   log_msg(LOG_LVL_ERR, sid, __VA_ARGS__)
#define log_warn(sid, ...)  log_msg(LOG_LVL_WARN, sid, __VA_ARGS__)
#define log_info(sid, ...)  log_msg(LOG_LVL_INFO, sid, __VA_ARGS__)
#define log_debug(sid, ...) log_msg(LOG_LVL_DEBUG, sid, __VA_ARGS__)

/* A bad environment: logs at err and exits with status 1. */
void fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
/* A bug in Loft: logs and aborts. */
void bug(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

/*
 * Writes into out a copy of s fit for a log value: quoted when it holds
 * spaces, quotes or '=', control and 8-bit bytes as \xNN, cut at outlen.
 * Returns out.
 */
char *log_quote(char *out, size_t outlen, const char *s, size_t len);

/* Fills out (at least 13 bytes) with a fresh random session id. */
void log_new_sid(char *out, size_t outlen);

#endif
