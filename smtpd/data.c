/*
 * DATA / BDAT body reader.  The state names the position in the
 * <CRLF>.<CRLF> end marker; see data.h for the policy on bare CR/LF.
 */
#include "data.h"

#include <string.h>

enum {
	D_BOL,	 /* at the start of a line (after a real CRLF) */
	D_MID,	 /* inside a line */
	D_CR,	 /* saw CR inside a line */
	D_DOT,	 /* saw "." at the start of a line */
	D_DOTCR, /* saw ".\r" at the start of a line */
};

void smtp_data_init(struct smtp_data *d, struct buf *out, size_t max_line, int raw)
{
	memset(d, 0, sizeof(*d));
	d->state = D_BOL;
	d->raw = raw;
	d->max_line = max_line;
	d->out = out;
}

static void emit(struct smtp_data *d, const char *p, size_t n)
{
	d->total += n;
	if (d->flags & (SMTP_DATA_TOOBIG | SMTP_DATA_NOROOM))
		return;
	if (buf_append(d->out, p, n) == 0)
		return;
	/* Keep what byte-by-byte input would have kept, the body up to the
	 * maximum, so the result does not depend on how the input was split
	 * (fuzz_smtp_data found a run refused whole where single bytes
	 * filled the buffer first). */
	size_t room = d->out->max > d->out->len ? d->out->max - d->out->len : 0;
	if (room < n)
		buf_append(d->out, p, room);
	d->flags |= SMTP_DATA_TOOBIG;
}

/* Counts wire bytes of the current line; the CRLF is counted too. */
static void line_byte(struct smtp_data *d)
{
	if (++d->linelen > d->max_line)
		d->flags |= SMTP_DATA_LONGLINE;
}

/* An ordinary body byte c (not CR) inside a line. */
static void mid_byte(struct smtp_data *d, char c)
{
	if (c == '\n')
		d->flags |= SMTP_DATA_BARE;
	else if (c == '\0')
		d->flags |= SMTP_DATA_NUL;
	emit(d, &c, 1);
	d->state = c == '\r' ? D_CR : D_MID;
}

int smtp_data_feed(struct smtp_data *d, const char *p, size_t n, size_t *used)
{
	/* fast path: copy runs of plain bytes inside a line in one go */
	for (size_t i = 0; i < n; i++) {
		char c = p[i];

		if (d->state == D_MID) {
			size_t j = i;
			while (j < n && p[j] != '\r' && p[j] != '\n' && p[j] != '\0')
				j++;
			if (j > i) {
				d->linelen += j - i;
				if (d->linelen > d->max_line)
					d->flags |= SMTP_DATA_LONGLINE;
				emit(d, p + i, j - i);
				i = j - 1;
				continue;
			}
		}
		line_byte(d);
		switch (d->state) {
		case D_BOL:
			if (c == '.' && !d->raw) {
				d->state = D_DOT;
			} else if (c == '\r') {
				emit(d, &c, 1);
				d->state = D_CR;
			} else {
				mid_byte(d, c);
			}
			break;
		case D_MID:
			mid_byte(d, c);
			break;
		case D_CR:
			if (c == '\n') {
				emit(d, &c, 1);
				d->state = D_BOL;
				d->linelen = 0;
			} else {
				/* the CR already stored was bare */
				d->flags |= SMTP_DATA_BARE;
				mid_byte(d, c);
			}
			break;
		case D_DOT:
			if (c == '\r') {
				d->state = D_DOTCR;
			} else {
				/* dot-unstuffing: the leading dot is dropped */
				mid_byte(d, c);
			}
			break;
		case D_DOTCR:
			if (c == '\n') {
				*used = i + 1;
				d->state = D_BOL;
				d->linelen = 0;
				return 1;
			}
			/* ".\r" then something else: the dot goes, the CR was bare */
			d->flags |= SMTP_DATA_BARE;
			emit(d, "\r", 1);
			if (c == '\r') {
				d->state = D_CR;
				emit(d, &c, 1);
			} else {
				mid_byte(d, c);
			}
			break;
		}
	}
	*used = n;
	return 0;
}

unsigned smtp_data_finish(struct smtp_data *d)
{
	if (d->state == D_CR || d->state == D_DOTCR)
		d->flags |= SMTP_DATA_BARE;
	return d->flags;
}

void smtp_data_discard(struct smtp_data *d)
{
	d->flags |= SMTP_DATA_NOROOM;
}

unsigned smtp_data_flags(const struct smtp_data *d)
{
	return d->flags;
}
