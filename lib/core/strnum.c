#include "strnum.h"

#include <stdio.h>
#include <string.h>

int strnum_u64n(const char *s, size_t len, uint64_t max, uint64_t *out)
{
	uint64_t v = 0;

	if (len == 0)
		return -1;
	for (size_t i = 0; i < len; i++) {
		unsigned d;

		if (s[i] < '0' || s[i] > '9')
			return -1;
		d = (unsigned)(s[i] - '0');
		if (v > (max - d) / 10)
			return -1;
		v = v * 10 + d;
	}
	*out = v;
	return 0;
}

int strnum_u64(const char *s, uint64_t max, uint64_t *out)
{
	return strnum_u64n(s, strlen(s), max, out);
}

int strnum_uint(const char *s, unsigned int max, unsigned int *out)
{
	uint64_t v;

	if (strnum_u64(s, max, &v) < 0)
		return -1;
	*out = (unsigned int)v;
	return 0;
}

static const char size_units[] = "KMGT";

int strnum_size(const char *s, uint64_t max, uint64_t *out)
{
	size_t i = 0, ndig, nfrac = 0;
	uint64_t whole, frac = 0, mult = 1, fdiv = 1;
	const char *u;

	while (s[i] >= '0' && s[i] <= '9')
		i++;
	ndig = i;
	if (strnum_u64n(s, ndig, UINT64_MAX, &whole) < 0)
		return -1;
	if (s[i] == '.') {
		size_t f0 = ++i;
		while (s[i] >= '0' && s[i] <= '9')
			i++;
		nfrac = i - f0;
		if (nfrac == 0 || nfrac > 3 || strnum_u64n(s + f0, nfrac, 999, &frac) < 0)
			return -1;
		for (size_t k = 0; k < nfrac; k++)
			fdiv *= 10;
	}
	while (s[i] == ' ')
		i++;
	if (s[i] && (u = strchr(size_units, s[i] & ~0x20)) != NULL) {
		for (const char *p = size_units; p <= u; p++)
			mult *= 1024;
		i++;
		if ((s[i] == 'i' || s[i] == 'I') && (s[i + 1] == 'b' || s[i + 1] == 'B'))
			i += 2;
		else if (s[i] == 'b' || s[i] == 'B')
			i++;
	} else if (s[i] == 'b' || s[i] == 'B') {
		i++;
	}
	if (s[i] != '\0')
		return -1;
	/* a fraction of bytes is no size */
	if (nfrac && mult == 1)
		return -1;
	if (whole > UINT64_MAX / mult)
		return -1;
	whole *= mult;
	/* frac < 1000 and mult <= 2^40: no overflow */
	frac = frac * mult / fdiv;
	if (whole > UINT64_MAX - frac || whole + frac > max)
		return -1;
	*out = whole + frac;
	return 0;
}

void strnum_size_human(char *out, size_t n, uint64_t v)
{
	static const char *const names[] = {"B", "KB", "MB", "GB", "TB"};
	int i = 0;
	uint64_t unit = 1;

	while (i < 4 && v >= unit * 1024) {
		unit *= 1024;
		i++;
	}
	if (i == 0) {
		snprintf(out, n, "%llu B", (unsigned long long)v);
		return;
	}
	/* tenths, rounded down so a quota never reads larger than it is */
	uint64_t tenths = v / unit * 10 + v % unit * 10 / unit;
	if (tenths % 10)
		snprintf(out, n, "%llu.%llu %s", (unsigned long long)(tenths / 10),
			 (unsigned long long)(tenths % 10), names[i]);
	else
		snprintf(out, n, "%llu %s", (unsigned long long)(tenths / 10), names[i]);
}

void strnum_size_exact(char *out, size_t n, uint64_t v)
{
	int i = 0;

	while (i < 4 && v != 0 && v % 1024 == 0) {
		v /= 1024;
		i++;
	}
	if (i == 0)
		snprintf(out, n, "%llu", (unsigned long long)v);
	else
		snprintf(out, n, "%llu%c", (unsigned long long)v, size_units[i - 1]);
}
