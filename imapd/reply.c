/*
 * An IMAP session's output: every byte a command writes goes through here
 * (an output overflow closes the connection, so callers need not check),
 * strings go out quoted or as literals, and a command that finished while
 * input was paused lets the session read again.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conn.h"
#include "imapd.h"
#include "log.h"
#include "utf8.h"

void imap_write(struct session *s, const void *p, size_t n)
{
	if (!s->c || s->dead)
		return;
	if (conn_write(s->c, p, n) < 0) {
		log_info(s->sid, "event=output-overflow");
		s->dead = 1;
		conn_close(s->c, 0, "output overflow");
	}
}

void imap_printf(struct session *s, const char *fmt, ...)
{
	struct buf b;
	va_list ap;

	buf_init(&b, IMAPD_MAXOUT);
	va_start(ap, fmt);
	buf_vprintf(&b, fmt, ap);
	va_end(ap);
	imap_write(s, b.data, b.len);
	buf_free(&b);
}

size_t imap_outlen(struct session *s)
{
	return s->c ? conn_outlen(s->c) : 0;
}

/* Quoted when short and free of CR, LF and NUL; 8-bit only when utf8
 * (IMAP4rev2 and UTF8=ACCEPT allow UTF-8 in quoted strings) and valid. */
static void buf_string(struct buf *b, const char *str, size_t len, int utf8)
{
	int quote = len < 1024;

	for (size_t i = 0; i < len && quote; i++) {
		unsigned char ch = (unsigned char)str[i];
		if (ch == '\r' || ch == '\n' || ch == 0 || (ch >= 0x80 && !utf8))
			quote = 0;
	}
	if (quote && utf8 && !utf8_valid(str, len))
		quote = 0;
	if (!quote) {
		buf_printf(b, "{%zu}\r\n", len);
		buf_append(b, str, len);
		return;
	}
	buf_putc(b, '"');
	for (size_t i = 0; i < len; i++) {
		if (str[i] == '"' || str[i] == '\\')
			buf_putc(b, '\\');
		buf_putc(b, str[i]);
	}
	buf_putc(b, '"');
}

void imap_buf_string(struct buf *b, const char *str, size_t len)
{
	buf_string(b, str, len, 0);
}

void imap_buf_string_utf8(struct buf *b, const char *str, size_t len)
{
	buf_string(b, str, len, 1);
}

void imap_astring(struct session *s, const char *str, size_t len)
{
	struct buf b;

	buf_init(&b, IMAPD_MAXOUT);
	imap_buf_string(&b, str, len);
	imap_write(s, b.data, b.len);
	buf_free(&b);
}

void imap_resume(struct session *s)
{
	if (!s->c)
		return;
	if (s->mode == MODE_BLOCKED)
		s->mode = MODE_CMD;
	conn_pause(s->c, 0);
}
