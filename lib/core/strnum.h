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

#endif
