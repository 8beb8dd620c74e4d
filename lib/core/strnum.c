#include "strnum.h"

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
