/*
 * UTF-8 (see utf8.h).
 */
#include "utf8.h"

#include <stdlib.h>

size_t utf8_decode(const unsigned char *s, size_t n, uint32_t *cp)
{
	uint32_t c;
	size_t len;

	if (s[0] < 0x80) {
		*cp = s[0];
		return 1;
	}
	if (s[0] >= 0xc2 && s[0] <= 0xdf) {
		len = 2;
		c = s[0] & 0x1f;
	} else if (s[0] >= 0xe0 && s[0] <= 0xef) {
		len = 3;
		c = s[0] & 0x0f;
	} else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		len = 4;
		c = s[0] & 0x07;
	} else {
		return 0;
	}
	if (n < len)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		c = (c << 6) | (s[i] & 0x3f);
	}
	if ((len == 3 && c < 0x800) || (len == 4 && (c < 0x10000 || c > 0x10ffff)) ||
	    (c >= 0xd800 && c <= 0xdfff))
		return 0;
	*cp = c;
	return len;
}

int utf8_valid(const char *s, size_t len)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t i = 0;
	uint32_t cp;

	while (i < len) {
		size_t k = utf8_decode(u + i, len - i, &cp);

		if (k == 0)
			return 0;
		i += k;
	}
	return 1;
}

int utf8_put(struct buf *out, uint32_t c)
{
	char t[4];
	size_t n;

	if (c < 0x80) {
		t[0] = (char)c;
		n = 1;
	} else if (c < 0x800) {
		t[0] = (char)(0xc0 | (c >> 6));
		t[1] = (char)(0x80 | (c & 0x3f));
		n = 2;
	} else if (c < 0x10000) {
		t[0] = (char)(0xe0 | (c >> 12));
		t[1] = (char)(0x80 | ((c >> 6) & 0x3f));
		t[2] = (char)(0x80 | (c & 0x3f));
		n = 3;
	} else {
		t[0] = (char)(0xf0 | (c >> 18));
		t[1] = (char)(0x80 | ((c >> 12) & 0x3f));
		t[2] = (char)(0x80 | ((c >> 6) & 0x3f));
		t[3] = (char)(0x80 | (c & 0x3f));
		n = 4;
	}
	return buf_append(out, t, n);
}

size_t utf8_chars(const char *s)
{
	size_t n = 0;

	for (; *s; s++)
		if (((unsigned char)*s & 0xc0) != 0x80)
			n++;
	return n;
}

/* --- case folding ---------------------------------------------------------- */

#include "utf8_fold_table.h"

uint32_t utf8_fold_cp(uint32_t cp)
{
	size_t lo = 0, hi = sizeof(fold_table) / sizeof(fold_table[0]);

	if (cp < 0x80)
		return cp >= 'A' && cp <= 'Z' ? cp + 32 : cp;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (fold_table[mid][0] < cp)
			lo = mid + 1;
		else if (fold_table[mid][0] > cp)
			hi = mid;
		else
			return fold_table[mid][1];
	}
	return cp;
}

int utf8_fold(const char *s, size_t n, struct buf *out)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0;

	while (i < n) {
		uint32_t cp;
		size_t k;

		/* ASCII runs go whole */
		if (p[i] < 0x80) {
			size_t j = i;
			char tmp[256];
			size_t t = 0;

			while (j < n && p[j] < 0x80 && t < sizeof(tmp)) {
				tmp[t++] = (char)(p[j] >= 'A' && p[j] <= 'Z' ? p[j] + 32 : p[j]);
				j++;
			}
			if (buf_append(out, tmp, t) < 0)
				return -1;
			i = j;
			continue;
		}
		k = utf8_decode(p + i, n - i, &cp);
		if (k == 0) {
			/* not UTF-8: the byte as it is */
			if (buf_putc(out, (char)p[i]) < 0)
				return -1;
			i++;
			continue;
		}
		if (utf8_put(out, utf8_fold_cp(cp)) < 0)
			return -1;
		i += k;
	}
	return 0;
}

/* --- Normalization Form C (UAX #15) ------------------------------------------ */

#include "utf8_nfc_table.h"

/* Hangul syllables (Unicode 3.12): S = SBASE + (L * VCOUNT + V) * TCOUNT + T */
#define SBASE  0xAC00u
#define LBASE  0x1100u
#define VBASE  0x1161u
#define TBASE  0x11A7u
#define LCOUNT 19u
#define VCOUNT 21u
#define TCOUNT 28u
#define SCOUNT (LCOUNT * VCOUNT * TCOUNT)

/* Index of cp in a table sorted by its first column, or -1. */
static long nfc_find(const uint32_t (*t)[3], size_t n, uint32_t cp)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (t[mid][0] < cp)
			lo = mid + 1;
		else if (t[mid][0] > cp)
			hi = mid;
		else
			return (long)mid;
	}
	return -1;
}

static unsigned nfc_ccc(uint32_t cp)
{
	size_t lo = 0, hi = sizeof(nfc_ccc_table) / sizeof(nfc_ccc_table[0]);

	if (cp < 0x300)
		return 0;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (nfc_ccc_table[mid][1] < cp)
			lo = mid + 1;
		else if (nfc_ccc_table[mid][0] > cp)
			hi = mid;
		else
			return nfc_ccc_table[mid][2];
	}
	return 0;
}

/* The primary composite of a and b, or 0. */
static uint32_t nfc_compose(uint32_t a, uint32_t b)
{
	size_t lo = 0, hi = sizeof(nfc_comp_table) / sizeof(nfc_comp_table[0]);

	if (a - LBASE < LCOUNT && b - VBASE < VCOUNT)
		return SBASE + ((a - LBASE) * VCOUNT + (b - VBASE)) * TCOUNT;
	if (a - SBASE < SCOUNT && (a - SBASE) % TCOUNT == 0 && b - TBASE - 1 < TCOUNT - 1)
		return a + (b - TBASE);
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (nfc_comp_table[mid][0] < a ||
		    (nfc_comp_table[mid][0] == a && nfc_comp_table[mid][1] < b))
			lo = mid + 1;
		else if (nfc_comp_table[mid][0] > a || nfc_comp_table[mid][1] > b)
			hi = mid;
		else
			return nfc_comp_table[mid][2];
	}
	return 0;
}

/* Writes the full canonical decomposition of cp to v (at most 4 code
 * points: the longest in Unicode 14 is 4, Hangul's 3) and returns how
 * many. */
static size_t nfc_decompose(uint32_t cp, uint32_t *v)
{
	long k;

	if (cp - SBASE < SCOUNT) {
		uint32_t s = cp - SBASE, t = s % TCOUNT;
		v[0] = LBASE + s / (VCOUNT * TCOUNT);
		v[1] = VBASE + (s % (VCOUNT * TCOUNT)) / TCOUNT;
		if (!t)
			return 2;
		v[2] = TBASE + t;
		return 3;
	}
	k = cp < 0xC0 ? -1
		      : nfc_find(nfc_decomp_table,
				 sizeof(nfc_decomp_table) / sizeof(nfc_decomp_table[0]), cp);
	if (k < 0) {
		v[0] = cp;
		return 1;
	}
	for (uint32_t i = 0; i < nfc_decomp_table[k][2]; i++)
		v[i] = nfc_decomp_pool[nfc_decomp_table[k][1] + i];
	return nfc_decomp_table[k][2];
}

int utf8_nfc(const char *s, size_t n, struct buf *out)
{
	const unsigned char *p = (const unsigned char *)s;
	uint32_t *v;
	size_t nv = 0, i, k, comp;
	size_t starter = 0;
	unsigned last;
	int have_starter, r = 0;

	for (i = 0; i < n && p[i] < 0x80; i++)
		;
	if (i == n) /* ASCII is its own NFC: the usual mailbox name */
		return buf_append(out, s, n) < 0 ? -1 : 0;
	if (!utf8_valid(s, n))
		return -1;
	/* a code point decomposes to at most 4 (n bytes hold at most n) */
	v = malloc((n * 4 + 4) * sizeof(*v));
	if (!v)
		return -1;
	for (i = 0; i < n; i += k) {
		uint32_t cp;
		k = utf8_decode(p + i, n - i, &cp);
		nv += nfc_decompose(cp, v + nv);
	}
	/* canonical order: a stable sort of each run of non-starters by class */
	for (i = 1; i < nv; i++) {
		unsigned c = nfc_ccc(v[i]);
		size_t j = i;
		if (!c)
			continue;
		while (j > 0 && nfc_ccc(v[j - 1]) > c) {
			uint32_t t = v[j];
			v[j] = v[j - 1];
			v[j - 1] = t;
			j--;
		}
	}
	/* canonical composition: each character joins the last starter unless
	 * a character of the same or a higher class (or a starter) stands
	 * between them */
	have_starter = nv && nfc_ccc(v[0]) == 0;
	for (i = 1, comp = 1, last = 0; i < nv; i++) {
		unsigned c = nfc_ccc(v[i]);
		uint32_t x = have_starter ? nfc_compose(v[starter], v[i]) : 0;
		if (x && (last < c || last == 0)) {
			v[starter] = x;
			continue;
		}
		if (!c) {
			starter = comp;
			have_starter = 1;
		}
		last = c;
		v[comp++] = v[i];
	}
	if (nv)
		nv = comp;
	for (i = 0; i < nv && r == 0; i++)
		r = utf8_put(out, v[i]);
	free(v);
	return r;
}
