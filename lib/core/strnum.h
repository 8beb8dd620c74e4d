#ifndef LOFT_STRNUM_H
#define LOFT_STRNUM_H
/*
 * Strict number parsing for anything a peer or a config file sent: decimal
 * digits only (no sign, no spaces, no "0x"), no overflow, no trailing junk.
 */
#include <stddef.h>
#include <stdint.h>

/* Parses s[0..len).  Returns 0 and sets *out, or -1 if not a number or
 * larger than max. */
int strnum_u64n(const char *s, size_t len, uint64_t max, uint64_t *out);
/* The same for a NUL-terminated string. */
int strnum_u64(const char *s, uint64_t max, uint64_t *out);
/* Convenience for values that fit an unsigned int. */
int strnum_uint(const char *s, unsigned int max, unsigned int *out);

/*
 * A size as a person writes it: digits, an optional fraction of at most
 * three digits, optional spaces, and an optional unit K, M, G or T
 * (case-insensitive, optionally followed by "B" or "iB"), or "B".  The
 * units are binary (1K = 1024), as in Dovecot's and Postfix's quotas and
 * the admin's displays.  "500M", "2G", "1.5 GB", "1048576" all parse; a
 * fraction is rounded down to a whole byte.  Returns 0 and sets *out, or
 * -1 for anything else or a size above max.
 */
int strnum_size(const char *s, uint64_t max, uint64_t *out);

/*
 * Formats v for a person: "0 B", "512 B", "1.5 KB", "500 MB", "2 GB"
 * (one decimal, dropped when it is 0; KB/MB/GB are the binary units that
 * strnum_size reads).  Always NUL-terminates (n > 0).
 */
void strnum_size_human(char *out, size_t n, uint64_t v);

/*
 * Formats v exactly in the largest unit that divides it: "2G", "500M",
 * "1536K", "1000" -- what strnum_size reads back to the same value, for a
 * form's value attribute.  Always NUL-terminates (n > 0).
 */
void strnum_size_exact(char *out, size_t n, uint64_t v);

#endif
