#ifndef LOFT_SMTP_REPLY_H
#define LOFT_SMTP_REPLY_H
/*
 * The SMTP client's reply parser (RFC 5321 4.2): "NNN-text" continuation
 * lines and a final "NNN text" (or a bare "NNN"), the same code on every
 * line.  The enhanced status code (RFC 3463) of the first line is kept
 * apart; EHLO keywords are read from a complete reply.
 *
 * The input comes from a peer we do not control (an MX on the Internet):
 * lines are fed one at a time, already bounded by the conn's line reader
 * (SMTP_REPLY_MAXLINE); a reply may have at most SMTP_REPLY_MAXLINES lines,
 * and at most SMTP_REPLY_MAXTEXT bytes of its text are kept (the rest is
 * dropped, the reply stays valid).  A line that is not a reply line, or a
 * code that changes inside one reply, makes the reply invalid.
 */
#include <stddef.h>
#include <stdint.h>

#define SMTP_REPLY_MAXLINE  2048 /* one line with CRLF; RFC 5321 says 512 */
#define SMTP_REPLY_MAXLINES 100
#define SMTP_REPLY_MAXTEXT  1024

struct smtp_reply {
	int code;		       /* 200..599 once complete */
	char enh[16];		       /* "5.1.1" or "" */
	char text[SMTP_REPLY_MAXTEXT]; /* the lines' texts joined by '\n', NUL-terminated */
	size_t textlen;
	int nlines;
	int partial; /* internal: continuation lines seen */
};

enum { SMTP_REPLY_BAD = -1, SMTP_REPLY_MORE = 0, SMTP_REPLY_DONE = 1 };

/* Empties r for the next reply. */
void smtp_reply_reset(struct smtp_reply *r);
/* Feeds one line without its CRLF.  Returns SMTP_REPLY_DONE when r holds a
 * complete reply (reset it before the next), SMTP_REPLY_MORE, or
 * SMTP_REPLY_BAD (not a reply line, code changed, too many lines, a NUL or
 * control byte): the connection should be dropped. */
int smtp_reply_line(struct smtp_reply *r, const char *line, size_t len);

/* EHLO extensions (RFC 5321 4.1.1.1 and the RFCs of each keyword). */
enum {
	SMTP_EXT_STARTTLS = 1 << 0,
	SMTP_EXT_PIPELINING = 1 << 1,
	SMTP_EXT_SIZE = 1 << 2,
	SMTP_EXT_8BITMIME = 1 << 3,
	SMTP_EXT_SMTPUTF8 = 1 << 4,
	SMTP_EXT_AUTH_PLAIN = 1 << 5,
	SMTP_EXT_AUTH_LOGIN = 1 << 6,
	SMTP_EXT_ENHANCED = 1 << 7,
	SMTP_EXT_DSN = 1 << 8,
};
/* The extensions a complete 250 EHLO reply announces (the first line is the
 * greeting, not a keyword); *size gets SIZE's value (0 when absent or
 * without a number).  Unknown keywords are ignored. */
unsigned smtp_reply_ehlo(const struct smtp_reply *r, uint64_t *size);

/* The reply's class: 2, 3, 4 or 5. */
static inline int smtp_reply_class(const struct smtp_reply *r)
{
	return r->code / 100;
}

#endif
