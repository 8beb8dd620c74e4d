/*
 * The passed-address table (greetpass.h): open addressing on the 16 bytes
 * of the address (IPv4 as ::ffff:a.b.c.d), linear probing, grown by
 * doubling while below max, so a board that sees ten MX peers holds ten
 * entries, not a preallocated table.  Nothing is deleted one by one (that
 * would break probe chains); expired and evicted entries go when the table
 * is rebuilt, which happens when it is full.
 */
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#include "greetpass.h"
#include "log.h"

struct gp_entry {
	uint8_t addr[16];
	uint64_t at; /* ms of the last pass, plus 1: 0 is an empty slot */
};

struct greetpass {
	uint64_t ttl;
	size_t max; /* addresses held at most */
	size_t cap; /* slots, a power of two, 0 until the first add */
	size_t n;   /* slots in use */
	struct gp_entry *slot;
};

struct greetpass *greetpass_new(uint64_t ttl_ms, size_t max)
{
	struct greetpass *g = calloc(1, sizeof(*g));

	if (!g)
		bug("out of memory");
	g->ttl = ttl_ms;
	g->max = max ? max : 1;
	return g;
}

void greetpass_free(struct greetpass *g)
{
	if (!g)
		return;
	free(g->slot);
	free(g);
}

size_t greetpass_count(const struct greetpass *g)
{
	return g->n;
}

static int key(const char *ip, uint8_t out[16])
{
	struct in_addr a4;

	if (inet_pton(AF_INET6, ip, out) == 1)
		return 0;
	if (inet_pton(AF_INET, ip, &a4) != 1)
		return -1;
	memset(out, 0, 10);
	out[10] = out[11] = 0xff;
	memcpy(out + 12, &a4, 4);
	return 0;
}

static size_t hash(const uint8_t a[16])
{
	uint64_t h = 1469598103934665603ull; /* FNV-1a */

	for (int i = 0; i < 16; i++)
		h = (h ^ a[i]) * 1099511628211ull;
	return (size_t)(h ^ (h >> 32));
}

/* The slot holding addr, or the empty slot where it would go. */
static struct gp_entry *find(struct greetpass *g, const uint8_t addr[16])
{
	size_t i = hash(addr) & (g->cap - 1);

	while (g->slot[i].at && memcmp(g->slot[i].addr, addr, 16) != 0)
		i = (i + 1) & (g->cap - 1);
	return &g->slot[i];
}

int greetpass_known(struct greetpass *g, const char *ip, uint64_t now_ms)
{
	uint8_t a[16];
	struct gp_entry *e;

	if (g->ttl == 0 || g->cap == 0 || key(ip, a) < 0)
		return 0;
	e = find(g, a);
	return e->at && now_ms - (e->at - 1) < g->ttl;
}

static int by_age(const void *a, const void *b)
{
	const struct gp_entry *x = a, *y = b;

	return x->at < y->at ? 1 : x->at > y->at ? -1 : 0; /* newest first */
}

/* Rebuilds into cap slots with the entries still fresh at now, newest
 * first, at most keep of them. */
static void rebuild(struct greetpass *g, size_t cap, size_t keep, uint64_t now)
{
	struct gp_entry *old = g->slot;
	size_t oldcap = g->cap, m = 0;

	for (size_t i = 0; i < oldcap; i++)
		if (old[i].at && now - (old[i].at - 1) < g->ttl)
			old[m++] = old[i];
	if (m > keep) {
		qsort(old, m, sizeof(*old), by_age);
		m = keep;
	}
	g->slot = calloc(cap, sizeof(*g->slot));
	if (!g->slot)
		bug("out of memory");
	g->cap = cap;
	g->n = m;
	for (size_t i = 0; i < m; i++)
		*find(g, old[i].addr) = old[i];
	free(old);
}

int greetpass_add(struct greetpass *g, const char *ip, uint64_t now_ms)
{
	uint8_t a[16];
	struct gp_entry *e;
	int fresh;

	if (g->ttl == 0 || key(ip, a) < 0)
		return 0;
	if (g->cap == 0)
		rebuild(g, 16, 0, now_ms);
	e = find(g, a);
	if (!e->at) {
		if (g->n >= g->max) {
			/* full: forget the expired, and if that is not enough
			 * the older half */
			size_t cap = g->cap;
			rebuild(g, cap, g->max / 2, now_ms);
		} else if ((g->n + 1) * 4 > g->cap * 3) {
			rebuild(g, g->cap * 2, g->n, now_ms); /* keep load <= 3/4 */
		}
		e = find(g, a);
		g->n++;
		fresh = 1;
	} else {
		fresh = now_ms - (e->at - 1) >= g->ttl / 2;
	}
	memcpy(e->addr, a, 16);
	e->at = now_ms + 1;
	return fresh;
}
