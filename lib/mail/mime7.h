#ifndef LOFT_MIME7_H
#define LOFT_MIME7_H
/*
 * 8-bit to 7-bit for a MIME body with parts (RFC 6152 3, RFC 1652 the
 * same): loft-queue sends through it a multipart message whose peer has
 * no 8BITMIME.  Streaming and line by line: each leaf part whose
 * transfer encoding is 7bit, 8bit, binary or absent gets its body encoded
 * as quoted-printable and its header a new Content-Transfer-Encoding;
 * parts already in base64 or quoted-printable pass as they are; nested
 * multiparts and attached messages (message/rfc822, message/global) are
 * followed down; stray 8-bit bytes in a preamble or epilogue (never shown)
 * become '?'.  Boundary lines and everything 7-bit keep their bytes.
 *
 *	struct mime7 *m = mime7_new("b1");    // the top-level boundary
 *	mime7_feed(m, chunk, n, &out) ...;    // the body after the header
 *	mime7_finish(m, &out);
 *
 * What cannot be made 7-bit fails (-1, mime7_error says why): 8-bit bytes
 * in a part's header (that needs SMTPUTF8), in a base64 or
 * quoted-printable part, nesting deeper than MIME7_MAX_DEPTH, a part
 * header over MIME7_HEADER_MAX.
 */
#include <stddef.h>

#include "buf.h"

#define MIME7_MAX_DEPTH	   16
#define MIME7_BOUNDARY_MAX 200 /* RFC 2046 says 70 */
#define MIME7_HEADER_MAX   (64 * 1024)

struct mime7;

/* A converter for the body of a multipart whose boundary is boundary, or
 * for an attached message (its header first) when boundary is NULL.
 * Returns NULL when out of memory or the boundary is too long. */
struct mime7 *mime7_new(const char *boundary);
/* Starts again from the beginning (the same boundary). */
void mime7_reset(struct mime7 *m);
/* Converts in[0..n) (any chunking), appending to out.  Returns 0, or -1
 * when the body cannot be made 7-bit or out is full (then it stays -1). */
int mime7_feed(struct mime7 *m, const char *in, size_t n, struct buf *out);
/* The end of the body: what was held back.  Returns 0 or -1. */
int mime7_finish(struct mime7 *m, struct buf *out);
/* Why it failed ("" if it did not). */
const char *mime7_error(const struct mime7 *m);
/* NULL is fine. */
void mime7_free(struct mime7 *m);

/* A Content-Type field's value (after the colon, folded or not): the
 * type/subtype lowercased into type ("text/plain" when it cannot be read)
 * and the boundary parameter into boundary ("" when none or too long).
 * Returns 0, or -1 when type is too small. */
int mime7_content_type(const char *value, size_t len, char *type, size_t typelen, char *boundary,
		       size_t boundarylen);

#endif
