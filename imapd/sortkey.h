#ifndef LOFT_IMAPD_SORTKEY_H
#define LOFT_IMAPD_SORTKEY_H
/*
 * SORT (RFC 5256, RFC 5957) without the session: the sort criteria list,
 * the base subject (RFC 5256 2.1), a header field's unfolded value and the
 * sent date of a Date: header.  sort.c uses them per message; they are
 * apart so unit tests and the fuzz target reach them without a store.
 */
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "parser.h"

#define SORT_MAX_CRITERIA 16 /* keys in one SORT list (REVERSE not counted) */

enum sort_key {
	SK_ARRIVAL,
	SK_CC,
	SK_DATE,
	SK_FROM,
	SK_SIZE,
	SK_SUBJECT,
	SK_TO,
	SK_DISPLAYFROM, /* RFC 5957 */
	SK_DISPLAYTO,
};

struct sort_crit {
	enum sort_key key;
	int reverse;
};

/* Parses the criteria list's children (list->child).  Returns the number
 * of criteria (1..SORT_MAX_CRITERIA) in out, or -1 with *err set: an empty
 * list, an unknown key, REVERSE not followed by a key, too many keys. */
int imap_sort_criteria(const struct imap_arg *list, struct sort_crit *out, const char **err);

/* Appends the base subject (RFC 5256 2.1) of a decoded (UTF-8) Subject
 * value s[0..len) to out.  Returns 1 when a reply or forward mark came
 * off (subj-refwd or "[fwd:"; THREAD wants to know), 0 when not, or -1
 * when out is full. */
int imap_base_subject(const char *s, size_t len, struct buf *out);

/* Appends the value of the first header field called name in the header
 * block h[0..len), unfolded (line breaks of continuation lines dropped).
 * Returns 1 when found, 0 when not, -1 when out is full. */
int imap_header_value(const char *h, size_t len, const char *name, struct buf *out);

/* The instant of an RFC 5322 date-time ("Tue, 1 Jul 2003 10:52:37 +0200")
 * in seconds since the epoch, UTC.  A missing time is midnight, an
 * unknown zone +0000.  Returns 0, or -1 when no date can be made out. */
int imap_sent_time(const char *s, size_t len, int64_t *t);

#define THREAD_MAX_ID 998 /* bytes of one msg-id (an RFC 5322 line) */

typedef void (*imap_msgid_fn)(void *arg, const char *id, size_t len);
/* Calls fn for each msg-id "<...>" in a Message-ID, References or
 * In-Reply-To value s[0..len), brackets off, in order; comments are
 * skipped, and so are "<...>" with white space inside, empty or longer
 * than THREAD_MAX_ID.  Returns the number of ids. */
int imap_msgids(const char *s, size_t len, imap_msgid_fn fn, void *arg);

#endif
