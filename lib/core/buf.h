#ifndef LOFT_BUF_H
#define LOFT_BUF_H
/*
 * A growable byte buffer with a hard maximum.  Appends that would pass the
 * maximum fail and leave the buffer unchanged, so a peer can never make it
 * grow without bound.  data is always NUL-terminated (the NUL is not
 * counted in len), so text can be used as a C string.
 */
#include <stdarg.h>
#include <stddef.h>

struct buf {
	char *data;
	size_t len;
	size_t cap;
	size_t max;
};

/* max is the largest len the buffer may reach. */
void buf_init(struct buf *b, size_t max);
/* Frees the storage; the buffer may be used again after buf_init. */
void buf_free(struct buf *b);
/* Empties the buffer, keeping its storage. */
void buf_reset(struct buf *b);
/* Returns 0, or -1 if the maximum would be passed or memory ran out. */
int buf_append(struct buf *b, const void *p, size_t n);
int buf_puts(struct buf *b, const char *s);
int buf_putc(struct buf *b, char c);
int buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int buf_vprintf(struct buf *b, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));
/* Drops the first n bytes. */
void buf_consume(struct buf *b, size_t n);
/* Hands the storage to the caller (free() it); the buffer is left empty. */
char *buf_steal(struct buf *b, size_t *len);
/* The content as a C string ("" when empty, never NULL). */
const char *buf_cstr(const struct buf *b);

#endif
