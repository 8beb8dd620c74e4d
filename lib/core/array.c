/*
 * The growable array (see array.h).
 */
#include "array.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int array_grow(void *arrp, size_t *cap, size_t need, size_t elsize, size_t min)
{
	size_t n = *cap ? *cap : (min ? min : 1);
	void *old, *p;

	if (need <= *cap)
		return 0;
	while (n < need) {
		if (n > SIZE_MAX / 2)
			return -1;
		n *= 2;
	}
	if (elsize && n > SIZE_MAX / elsize)
		return -1;
	/* arrp points at a T*: its bytes are copied, not read as a void * */
	memcpy(&old, arrp, sizeof(old));
	p = realloc(old, n * elsize);
	if (!p)
		return -1;
	memcpy(arrp, &p, sizeof(p));
	*cap = n;
	return 0;
}
