#include "linereader.h"

#include <string.h>

void lr_init(struct linereader *lr, size_t maxline)
{
	buf_init(&lr->in, maxline * 2);
	lr->start = 0;
	lr->scanned = 0;
	lr->maxline = maxline;
	lr->discarding = 0;
}

void lr_free(struct linereader *lr)
{
	buf_free(&lr->in);
}

void lr_set_max(struct linereader *lr, size_t maxline)
{
	lr->maxline = maxline;
	if (lr->in.max < maxline * 2)
		lr->in.max = maxline * 2;
}

static void lr_compact(struct linereader *lr)
{
	if (lr->start == 0)
		return;
	buf_consume(&lr->in, lr->start);
	lr->start = 0;
}

size_t lr_feed(struct linereader *lr, const void *data, size_t n)
{
	const char *p = data;
	size_t space, take = 0;

	if (lr->discarding) {
		const char *lf = memchr(p, '\n', n);
		if (!lf)
			return n;
		lr->discarding = 0;
		take = (size_t)(lf - p) + 1;
		p += take;
		n -= take;
	}
	lr_compact(lr);
	space = lr->in.max - lr->in.len;
	if (n > space)
		n = space;
	if (n && buf_append(&lr->in, p, n) < 0)
		return take; /* out of memory: take nothing more, caller retries */
	return take + n;
}

int lr_next(struct linereader *lr, struct lr_line *line)
{
	const char *base = lr->in.data + lr->start;
	size_t avail = lr->in.len - lr->start;
	const char *lf;

	if (lr->discarding || avail == 0)
		return LR_NEED;
	lf = memchr(base + lr->scanned, '\n', avail - lr->scanned);
	if (!lf) {
		lr->scanned = avail;
		if (avail >= lr->maxline) {
			/* no terminator can fit any more: drop it now */
			lr->start = lr->in.len;
			lr->scanned = 0;
			lr->discarding = 1;
			return LR_TOOLONG;
		}
		return LR_NEED;
	}
	size_t total = (size_t)(lf - base) + 1;
	lr->start += total;
	lr->scanned = 0;
	if (total > lr->maxline)
		return LR_TOOLONG;
	line->data = base;
	line->len = total - 1;
	line->crlf = 0;
	if (line->len > 0 && base[line->len - 1] == '\r') {
		line->len--;
		line->crlf = 1;
	}
	return LR_LINE;
}

size_t lr_pending(const struct linereader *lr, const char **p)
{
	*p = lr->in.data ? lr->in.data + lr->start : "";
	return lr->in.len - lr->start;
}

void lr_consume(struct linereader *lr, size_t n)
{
	size_t avail = lr->in.len - lr->start;

	if (n > avail)
		n = avail;
	lr->start += n;
	lr->scanned = 0;
}

int lr_release(struct linereader *lr, size_t keep)
{
	if (lr->in.cap <= keep || lr->start < lr->in.len)
		return 0;
	size_t max = lr->in.max;
	buf_free(&lr->in);
	buf_init(&lr->in, max);
	lr->start = 0;
	lr->scanned = 0;
	return 1;
}
