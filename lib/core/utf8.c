/*
 * UTF-8 (see utf8.h).
 */
#include "utf8.h"

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
