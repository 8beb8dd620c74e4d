#ifndef LOFT_DOWNGRADE_H
#define LOFT_DOWNGRADE_H
/*
 * Post-delivery downgrade of an internationalized message header (RFC
 * 6857 section 3, for IMAP clients that did not enable UTF8=ACCEPT, RFC
 * 6855 section 5): every header field that carries UTF-8 is rewritten to
 * 7-bit; fields that are already ASCII stay byte for byte.
 *
 * - address fields (From, Sender, Reply-To, To, Cc, Bcc and their
 *   Resent- forms, Disposition-Notification-To): a UTF-8 display name
 *   becomes RFC 2047 encoded-words; a mailbox whose address is UTF-8
 *   becomes an empty group whose name is the encoded display name and
 *   the encoded address, "=?UTF-8?B?...?= =?UTF-8?B?...?= :;" (RFC 6857
 *   3.1.10), so the user still sees who wrote and nothing can reply to an
 *   address the client cannot use;
 * - Message-ID, In-Reply-To, References, Return-Path, Resent-Message-ID
 *   with UTF-8 are renamed "Downgraded-<name>" (RFC 6857 3.1.5-3.1.8)
 *   and their value encoded as text;
 * - Content-Type and Content-Disposition: a UTF-8 parameter value becomes
 *   an RFC 2231 extended parameter, name*=utf-8''%XX;
 * - every other field is treated as unstructured text: each run of words
 *   with UTF-8 becomes encoded-words (RFC 2047 5(1)).
 * Encoded-words hold at most 45 octets of text each (75 characters, RFC
 * 2047 2) and are folded onto lines of their own.
 *
 * Only valid UTF-8 is downgraded: a header whose 8-bit bytes are not UTF-8
 * (legacy mail in a local charset) is not an internationalized header, and
 * downgrade_needed says no.
 */
#include <stddef.h>

#include "buf.h"

/* 1 when hdr[0..len) (a header block) has 8-bit bytes and all of it is
 * valid UTF-8, else 0. */
int downgrade_needed(const char *hdr, size_t len);

/* Length of the header block at the start of h[0..n): through the empty
 * line that ends it, or all of it (the bytes a caller read may stop inside
 * the header). */
size_t downgrade_header_len(const char *h, size_t n);

/* Appends the downgraded header block hdr[0..len) (blank line included
 * when it is there) to out; line ends are kept as they are (CRLF or LF).
 * Returns 0, or -1 when out is full. */
int downgrade_header(const char *hdr, size_t len, struct buf *out);

#endif
