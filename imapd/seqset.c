/* IMAP sequence sets. */
#include "seqset.h"

#include "array.h"

#include <stdlib.h>
#include <string.h>

#include "strnum.h"

static int num(const char *s, size_t len, uint32_t *out, unsigned char *star)
{
	uint64_t v;

	*star = 0;
	if (len == 1 && s[0] == '*') {
		*out = 0;
		*star = 1;
		return 0;
	}
	if (strnum_u64n(s, len, UINT32_MAX, &v) < 0 || v == 0)
		return -1;
	*out = (uint32_t)v;
	return 0;
}

int seqset_parse(const char *s, struct seqset *out)
{
	size_t cap = 0;

	out->r = NULL;
	out->n = 0;
	if (!*s)
		return -1;
	for (;;) {
		const char *comma = strchr(s, ',');
		size_t len = comma ? (size_t)(comma - s) : strlen(s);
		const char *colon = memchr(s, ':', len);
		struct seqset_range r;

		if (colon) {
			if (num(s, (size_t)(colon - s), &r.lo, &r.lo_star) < 0 ||
			    num(colon + 1, len - (size_t)(colon - s) - 1, &r.hi, &r.hi_star) < 0)
				goto bad;
		} else {
			if (num(s, len, &r.lo, &r.lo_star) < 0)
				goto bad;
			r.hi = r.lo;
			r.hi_star = r.lo_star;
		}
		if (out->n >= SEQSET_MAX_RANGES)
			goto bad;
		if (ARRAY_GROW(out->r, cap, out->n + 1, 4) < 0)
			goto bad;
		out->r[out->n++] = r;
		if (!comma)
			return 0;
		s = comma + 1;
	}
bad:
	seqset_free(out);
	return -1;
}

void seqset_free(struct seqset *set)
{
	free(set->r);
	set->r = NULL;
	set->n = 0;
}

static int cmp(const void *a, const void *b)
{
	const struct seqset_range *x = a, *y = b;
	return x->lo < y->lo ? -1 : x->lo > y->lo;
}

void seqset_resolve(struct seqset *set, uint32_t star)
{
	size_t w = 0;

	for (size_t i = 0; i < set->n; i++) {
		struct seqset_range *r = &set->r[i];
		if (r->lo_star)
			r->lo = star;
		if (r->hi_star)
			r->hi = star;
		r->lo_star = r->hi_star = 0;
		if (r->lo > r->hi) {
			uint32_t t = r->lo;
			r->lo = r->hi;
			r->hi = t;
		}
	}
	if (set->n == 0)
		return;
	qsort(set->r, set->n, sizeof(set->r[0]), cmp);
	for (size_t i = 1; i < set->n; i++) {
		if (set->r[w].hi == UINT32_MAX || set->r[i].lo <= set->r[w].hi + 1) {
			if (set->r[i].hi > set->r[w].hi)
				set->r[w].hi = set->r[i].hi;
		} else {
			set->r[++w] = set->r[i];
		}
	}
	set->n = w + 1;
}

int seqset_contains(const struct seqset *set, uint32_t n)
{
	size_t lo = 0, hi = set->n;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (n < set->r[mid].lo)
			hi = mid;
		else if (n > set->r[mid].hi)
			lo = mid + 1;
		else
			return 1;
	}
	return 0;
}
