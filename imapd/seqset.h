#ifndef LOFT_IMAP_SEQSET_H
#define LOFT_IMAP_SEQSET_H
/* IMAP sequence sets ("1:*,3,5:7"), for message numbers and UIDs. */
#include <stddef.h>
#include <stdint.h>

#define SEQSET_MAX_RANGES 10000

struct seqset_range {
	uint32_t lo, hi; /* lo <= hi after resolving "*" */
	/* "*" until seqset_resolve: a flag of its own, since 4294967295 is a
	 * legal UID (RFC 3501 nz-number) and cannot stand for it */
	unsigned char lo_star, hi_star;
};
struct seqset {
	struct seqset_range *r;
	size_t n;
};

/* Parses s (no spaces); numbers 1..4294967295, "*" kept as a flag until
 * seqset_resolve.
 * Returns 0 (free with seqset_free) or -1 (syntax, zero, too many ranges). */
int seqset_parse(const char *s, struct seqset *out);
void seqset_free(struct seqset *set);
/* Replaces "*" by star (the largest number in use; 0 if none), orders each
 * range's ends, then sorts and merges the ranges. */
void seqset_resolve(struct seqset *set, uint32_t star);
/* 1 if n is in the (resolved) set. */
int seqset_contains(const struct seqset *set, uint32_t n);

#endif
