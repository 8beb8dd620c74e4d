#ifndef LOFT_ADMIN_SESSION_H
#define LOFT_ADMIN_SESSION_H
/*
 * Admin sessions: a random 256-bit token in a cookie (HttpOnly,
 * SameSite=Strict, Secure over HTTPS), only its SHA-256 in the database;
 * a CSRF token per session that every POST must carry; a new token at
 * login (no session fixation); the admin password (yescrypt, setting
 * admin.password_hash); failed logins throttled per client address.
 */
#include "admin.h"

#define SESSION_COOKIE "loft_session"

/* Reads the request's cookie and its live session into q. */
void admin_session_load(struct admin *a, struct req *q);
/* Makes sure q has a session (a new anonymous one, cookie set on r).
 * Returns 0 or -1 (r is then an error page). */
int admin_session_ensure(struct admin *a, struct req *q, struct resp *r);
/* Replaces q's session by a fresh logged-in one (cookie set on r).
 * Returns 0 or -1. */
int admin_session_login(struct admin *a, struct req *q, struct resp *r);
/* Ends q's session and clears the cookie. */
void admin_session_logout(struct admin *a, struct req *q, struct resp *r);
/* 1 when the form's csrf field matches q's session. */
int admin_session_csrf_ok(const struct req *q);
/* 1 when an admin password has been set. */
int admin_session_have_password(struct admin *a);
/* Sets the admin password (hashing it) and logs every other session out.
 * Returns 0 or -1. */
int admin_session_set_password(struct admin *a, const char *pw);
/*
 * A login attempt with pw from q's address.  Returns 1 right, 0 wrong (or
 * refused: *msg says what to show), 2 when the request was suspended for
 * the throttle's delay (the caller sets r->suspend and returns; the
 * handler runs again afterwards and then calls this again).
 */
int admin_session_check_login(struct admin *a, struct req *q, const char *pw, const char **msg);

#endif
