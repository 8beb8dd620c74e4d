/*
 * libFuzzer target for imapd/seqset.c.  The first four bytes are the
 * largest number in use ("*"), the rest a sequence set.  What parses is
 * resolved and checked against the ranges as written: the result is
 * sorted, disjoint and not adjacent, and it holds exactly the numbers the
 * written ranges hold (probed at every range end and its neighbours).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../imapd/seqset.h"

static void check(int cond)
{
	if (!cond)
		abort();
}

/* Membership by the ranges as parsed, before resolve sorted and merged. */
static int written_contains(const struct seqset_range *r, size_t n, uint32_t star, uint32_t v)
{
	for (size_t i = 0; i < n; i++) {
		uint32_t lo = r[i].lo_star ? star : r[i].lo;
		uint32_t hi = r[i].hi_star ? star : r[i].hi;
		if (lo > hi) {
			uint32_t t = lo;
			lo = hi;
			hi = t;
		}
		if (v >= lo && v <= hi)
			return 1;
	}
	return 0;
}

static void probe(const struct seqset *set, const struct seqset_range *w, size_t n, uint32_t star,
		  uint32_t v)
{
	check(seqset_contains(set, v) == written_contains(w, n, star, v));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct seqset set;
	struct seqset_range *written;
	uint32_t star;
	char *s;

	if (size < 4 || size > 65536)
		return 0;
	memcpy(&star, data, 4);
	/* a mailbox never holds UINT32_MAX messages; keep "*" small or not */
	if (star & 1)
		star >>= 16;
	s = malloc(size - 4 + 1);
	if (!s)
		return 0;
	memcpy(s, data + 4, size - 4);
	s[size - 4] = '\0';
	if (seqset_parse(s, &set) < 0) {
		check(set.r == NULL && set.n == 0);
		free(s);
		return 0;
	}
	check(set.n >= 1 && set.n <= SEQSET_MAX_RANGES);
	for (size_t i = 0; i < set.n; i++)
		check((set.r[i].lo != 0 || set.r[i].lo_star) &&
		      (set.r[i].hi != 0 || set.r[i].hi_star));
	written = malloc(set.n * sizeof(*written));
	if (!written) {
		seqset_free(&set);
		free(s);
		return 0;
	}
	memcpy(written, set.r, set.n * sizeof(*written));
	size_t n = set.n;
	seqset_resolve(&set, star);
	check(set.n >= 1 && set.n <= n);
	for (size_t i = 0; i < set.n; i++) {
		check(set.r[i].lo <= set.r[i].hi && !set.r[i].lo_star && !set.r[i].hi_star);
		/* merged: a gap of at least one number between neighbours */
		if (i > 0)
			check(set.r[i - 1].hi < UINT32_MAX && set.r[i].lo > set.r[i - 1].hi + 1);
	}
	for (size_t i = 0; i < n && i < 512; i++) {
		uint32_t ends[2] = {written[i].lo_star ? star : written[i].lo,
				    written[i].hi_star ? star : written[i].hi};
		for (int e = 0; e < 2; e++) {
			probe(&set, written, n, star, ends[e]);
			if (ends[e] > 0)
				probe(&set, written, n, star, ends[e] - 1);
			if (ends[e] < UINT32_MAX)
				probe(&set, written, n, star, ends[e] + 1);
		}
	}
	probe(&set, written, n, star, 0);
	probe(&set, written, n, star, UINT32_MAX);
	free(written);
	seqset_free(&set);
	free(s);
	return 0;
}
