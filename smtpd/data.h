#ifndef LOFT_SMTP_DATA_H
#define LOFT_SMTP_DATA_H
/*
 * The message-body reader for DATA and BDAT: a byte-at-a-time state
 * machine, so input split anywhere (one byte per packet) gives the same
 * result as input in one piece.
 *
 * DATA (dot mode): dot-unstuffing (RFC 5321 4.5.2), and the only end of
 * data is <CR><LF>.<CR><LF> -- the CRLF before the dot being either the
 * one that ended the DATA command line or the end of a body line.  A bare
 * LF or bare CR never ends a line for this purpose, so "\n.\n", "\n.\r\n",
 * "\r.\r\n", "\r\n.\n", "\r\n.\r" and friends are body bytes, never an end
 * (SMTP smuggling, CVE-2023-51764/51765/51766).
 *
 * Policy, the same for DATA and BDAT: a message holding any bare CR or bare
 * LF is refused as a whole (flag SMTP_DATA_BARE) after its real end, never
 * normalised; we would rather bounce a broken sender than store bytes that
 * another MTA downstream may read as a different message.  A line longer
 * than max_line bytes (CRLF included) sets SMTP_DATA_LONGLINE; a message
 * longer than the output buffer's maximum sets SMTP_DATA_TOOBIG (the rest
 * is read and dropped so the session stays in step).
 *
 * BDAT (raw mode): no unstuffing and no end marker; the caller feeds each
 * chunk and calls smtp_data_finish() after the LAST one.
 */
#include <stddef.h>

#include "buf.h"

#define SMTP_DATA_BARE	   1u  /* bare CR or LF seen */
#define SMTP_DATA_LONGLINE 2u  /* a line longer than max_line */
#define SMTP_DATA_TOOBIG   4u  /* the message passed out->max */
#define SMTP_DATA_NUL	   8u  /* a NUL byte (refused too: RFC 5321 2.3.8) */
#define SMTP_DATA_NOROOM   16u /* smtp_data_discard(): no memory budget left */

struct smtp_data {
	int state;
	int raw;
	unsigned flags;
	size_t max_line;
	size_t linelen;
	size_t total; /* bytes after unstuffing, stored or not */
	struct buf *out;
};

/* Prepares d for one message; out (not owned) receives the body, its max
 * bounding the size.  raw: BDAT mode. */
void smtp_data_init(struct smtp_data *d, struct buf *out, size_t max_line, int raw);
/* Feeds n bytes.  Returns 1 when the end-of-data marker was consumed (dot
 * mode only) with *used set to the bytes taken, the marker included (the
 * rest belongs to the next command); 0 when all n bytes were taken and more
 * are needed (*used = n). */
int smtp_data_feed(struct smtp_data *d, const char *p, size_t n, size_t *used);
/* Raw mode: the LAST chunk is in; a CR left hanging at the end counts as
 * bare.  Returns the flags. */
unsigned smtp_data_finish(struct smtp_data *d);
/* From now on the body is read and dropped (the caller is out of memory
 * budget and frees out itself); sets SMTP_DATA_NOROOM.  The reader keeps
 * finding the end of data so the session stays in step. */
void smtp_data_discard(struct smtp_data *d);
/* The SMTP_DATA_* flags so far. */
unsigned smtp_data_flags(const struct smtp_data *d);

#endif
