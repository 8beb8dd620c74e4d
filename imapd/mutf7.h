#ifndef LOFT_IMAP_MUTF7_H
#define LOFT_IMAP_MUTF7_H
/*
 * Mailbox names on the wire are modified UTF-7 (RFC 3501 5.1.3); the
 * mailstore keeps UTF-8.  Both directions validate strictly: a name that
 * does not round-trip is refused rather than guessed at.
 */
#include <stddef.h>

#include "buf.h"

/* Appends the UTF-8 form of the mUTF-7 name in[0..len).  Returns 0, or -1
 * when the input is not valid modified UTF-7 (8-bit bytes, bad base64,
 * unterminated shift, bad UTF-16, or out full). */
int mutf7_decode(const char *in, size_t len, struct buf *out);
/* Appends the mUTF-7 form of UTF-8 in[0..len).  Returns 0, or -1 when the
 * input is not valid UTF-8 (or out is full). */
int mutf7_encode(const char *in, size_t len, struct buf *out);
/* Returns 1 if s[0..len) is a mailbox name the store takes: valid UTF-8
 * (lib/core/utf8) without control characters. */
int mutf7_name_valid(const char *s, size_t len);

#endif
