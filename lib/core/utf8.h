#ifndef LOFT_UTF8_H
#define LOFT_UTF8_H
/*
 * The one UTF-8 validator (RFC 3629): no overlong forms, no surrogates,
 * nothing above U+10FFFF, no sequence cut short; case folding and NFC.  SMTPUTF8 addresses,
 * IMAP mailbox names and the MIME decoder's output all agree on it.
 */
#include <stddef.h>
#include <stdint.h>

#include "buf.h"

/* Decodes the sequence at s (n > 0 bytes left).  Returns its length (1 to
 * 4) with *cp set, or 0 when it is not valid UTF-8. */
size_t utf8_decode(const unsigned char *s, size_t n, uint32_t *cp);
/* Returns 1 when s[0..len) is valid UTF-8 (NUL and controls included),
 * else 0. */
int utf8_valid(const char *s, size_t len);
/* Appends code point cp (at most U+10FFFF, not a surrogate) as UTF-8.
 * Returns 0, or -1 when out is full. */
int utf8_put(struct buf *out, uint32_t cp);
/* The number of characters in the NUL-terminated string s (bytes that are
 * not continuation bytes; s need not be valid). */
size_t utf8_chars(const char *s);
/* Simple Unicode case folding (CaseFolding.txt C and S, one code point to
 * one: "A" and "Ä" to "a" and "ä", "Σ" and "ς" to "σ"; utf8_fold_table.h,
 * made by utf8_fold_gen.py): what SEARCH matching and SORT's
 * i;unicode-casemap comparison fold with. */
uint32_t utf8_fold_cp(uint32_t cp);
/* Appends s[0..n) case-folded to out; bytes that are not UTF-8 are copied
 * as they are.  Returns 0, or -1 when out is full. */
int utf8_fold(const char *s, size_t n, struct buf *out);
/* Appends s[0..n) in Unicode Normalization Form C (UAX #15: canonical
 * decomposition, canonical order, canonical composition; tables in
 * utf8_nfc_table.h, made by utf8_nfc_gen.py), as RFC 5198 wants text and
 * RFC 9051 5.1 mailbox names.  ASCII is copied as it is.  Returns 0, or
 * -1 when s is not valid UTF-8 (nothing appended) or out is full. */
int utf8_nfc(const char *s, size_t n, struct buf *out);

#endif
