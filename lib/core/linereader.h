#ifndef LOFT_LINEREADER_H
#define LOFT_LINEREADER_H
/*
 * A line reader with a hard limit, for protocol input.  Lines end at LF;
 * the reader says whether the LF came after a CR (so callers can refuse
 * bare LF, as SMTP must against smuggling).  A line longer than maxline
 * bytes (terminator included) is reported once as LR_TOOLONG as soon as it
 * is known to be too long, also while no newline has come yet, and the rest
 * of it up to the next LF is dropped unseen.  Memory stays below 2*maxline.
 *
 * Use:
 *	while (n > 0) {
 *		size_t k = lr_feed(lr, p, n);
 *		p += k, n -= k;
 *		while ((r = lr_next(lr, &line)) != LR_NEED)
 *			...;
 *	}
 */
#include <stddef.h>

#include "buf.h"

enum lr_result { LR_TOOLONG = -1, LR_NEED = 0, LR_LINE = 1 };

struct lr_line {
	const char *data; /* valid until the next lr_feed / lr_consume */
	size_t len;	  /* without the terminator */
	int crlf;	  /* 1: ended in CRLF; 0: bare LF */
};

struct linereader {
	struct buf in;
	size_t start;	/* first byte not yet handed out */
	size_t scanned; /* bytes after start known to hold no LF */
	size_t maxline;
	int discarding;
};

void lr_init(struct linereader *lr, size_t maxline);
void lr_free(struct linereader *lr);
/* Changes the limit (e.g. SMTP command lines vs. DATA text lines). */
void lr_set_max(struct linereader *lr, size_t maxline);
/* Takes up to n bytes; returns how many it took (0 only when it must be
 * drained with lr_next first). */
size_t lr_feed(struct linereader *lr, const void *data, size_t n);
/* Returns LR_LINE with *line set, LR_TOOLONG once per over-long line, or
 * LR_NEED when no whole line is buffered. */
int lr_next(struct linereader *lr, struct lr_line *line);
/* Buffered bytes not yet handed out as lines (for BDAT chunks, or to
 * detect a client talking too early).  Returns the count, sets *p. */
size_t lr_pending(const struct linereader *lr, const char **p);
/* Drops n of the pending bytes. */
void lr_consume(struct linereader *lr, size_t n);
/* Gives the buffer's memory back when nothing is pending and it holds more
 * than keep bytes (the next lr_feed allocates again).  Returns 1 if it
 * did. */
int lr_release(struct linereader *lr, size_t keep);

#endif
