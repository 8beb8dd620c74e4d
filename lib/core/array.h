#ifndef LOFT_ARRAY_H
#define LOFT_ARRAY_H
/*
 * The one growable array: a heap array of elements, its allocated count
 * in a size_t, grown by doubling.  Instead of a realloc-doubling block at
 * every site:
 *
 *	if (ARRAY_GROW(s->msgs, s->capmsgs, s->nmsgs + 1, 256) < 0)
 *		bug("out of memory");
 *	s->msgs[s->nmsgs++] = m;
 */
#include <stddef.h>

/* Makes room for at least need elements of elsize bytes in the array
 * *arrp (a pointer to the array pointer), of which *cap are allocated:
 * the capacity doubles, starting at min, until it holds need.  Returns 0
 * (*arrp and *cap updated, new elements uninitialised), or -1 when the
 * size would overflow or memory ran out (the array is left as it was). */
int array_grow(void *arrp, size_t *cap, size_t need, size_t elsize, size_t min);
#define ARRAY_GROW(arr, cap, need, min) array_grow(&(arr), &(cap), (need), sizeof(*(arr)), (min))

#endif
