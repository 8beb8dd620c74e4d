/*
 * The MIME part tree's own helpers, under the parser (mime.c), the IMAP
 * output (mime_imap.c) and the decoders (mime_decode.c): the arena that
 * owns every string of a parsed message, unfolding of header values, and
 * the one pre-order walk of the tree.
 */
#include "mime.h"
#include "mime_int.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---- arena ---- */

struct mime_arena_chunk {
	struct mime_arena_chunk *next;
	size_t used, size;
	max_align_t data[];
};

void *mime_arena_alloc(struct mime_msg *m, size_t n)
{
	struct mime_arena_chunk *c = m->arena;
	size_t al = (n + sizeof(max_align_t) - 1) / sizeof(max_align_t) * sizeof(max_align_t);
	void *p;

	if (al < n)
		return NULL;
	if (!c || c->size - c->used < al) {
		size_t sz = al > 16384 ? al : 16384;

		if (sz > SIZE_MAX - sizeof(*c))
			return NULL;
		c = malloc(sizeof(*c) + sz);
		if (!c)
			return NULL;
		c->next = m->arena;
		c->used = 0;
		c->size = sz;
		m->arena = c;
	}
	p = (char *)c->data + c->used;
	c->used += al;
	memset(p, 0, n);
	return p;
}

void mime_arena_free(struct mime_msg *m)
{
	struct mime_arena_chunk *c, *n;

	for (c = m->arena; c; c = n) {
		n = c->next;
		free(c);
	}
	m->arena = NULL;
}

static int is_wsp(char c)
{
	return c == ' ' || c == '\t';
}

int mime_unfold(struct mime_msg *m, struct mstr s, struct mstr *out)
{
	char *d;
	size_t i, n = 0;

	if (!s.p) {
		*out = s;
		return 0;
	}
	d = mime_arena_alloc(m, s.n + 1);
	if (!d)
		return -1;
	for (i = 0; i < s.n; i++) {
		char c = s.p[i];

		if (c == '\0')
			continue;
		if (c == '\r' && i + 1 < s.n && s.p[i + 1] == '\n')
			continue;
		if (c == '\n')
			continue; /* a fold (or a bare LF in a value): drop it, keep the WSP */
		d[n++] = c;
	}
	while (n > 0 && (is_wsp(d[n - 1]) || d[n - 1] == '\r'))
		n--;
	i = 0;
	while (i < n && is_wsp(d[i]))
		i++;
	d[n] = '\0';
	out->p = d + i;
	out->n = n - i;
	return 0;
}

int mime_strcaseeq(struct mstr s, const char *lit)
{
	size_t n = strlen(lit);

	return s.p && s.n == n && strncasecmp(s.p, lit, n) == 0;
}

const struct mime_part *mime_part_next(const struct mime_part *q, const struct mime_part *top)
{
	if (q->child)
		return q->child;
	while (q != top && !q->next)
		q = q->parent;
	return q == top ? NULL : q->next;
}
