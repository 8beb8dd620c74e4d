#ifndef LOFT_ADMIN_HTML_H
#define LOFT_ADMIN_HTML_H
/*
 * Writing HTML into a response.  Every value that did not come from this
 * program's own literals goes through admin_h_esc (or a helper that calls it),
 * so user data is never markup.
 */
#include "admin.h"

/* A literal of this program, written as is. */
void admin_h_raw(struct resp *r, const char *s);
/* Text escaped for element content and quoted attribute values
 * (& < > " ' become entities). */
void admin_h_esc(struct resp *r, const char *s);
/* A format for numbers and literals only (never a %s of user data). */
void admin_h_fmt(struct resp *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* <!doctype> up to <main>, with the navigation (and the logout form with
 * nav's CSRF token) for a logged-in admin when nav is not NULL. */
void admin_h_begin(struct resp *r, const char *title, const struct req *nav);
void admin_h_end(struct resp *r);
/* A whole page that says msg with status. */
void admin_h_error(struct resp *r, int status, const char *title, const char *msg);
/* The hidden CSRF field of the request's session. */
void admin_h_csrf(struct resp *r, const struct req *q);
/* A labelled input; value (may be NULL) is escaped.  type "password"
 * never gets a value. */
void admin_h_input(struct resp *r, const char *label, const char *name, const char *type,
		   const char *value, const char *extra);
/* A notice box: kind "ok" or "err"; msg escaped. */
void admin_h_note(struct resp *r, const char *kind, const char *msg);

/* The stylesheet and the one small script, built in. */
extern const char admin_css[];
extern const char admin_js[];

#endif
