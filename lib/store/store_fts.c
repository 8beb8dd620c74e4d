/*
 * The search index's FTS5 tokenizer, "loft_trigram" (migration 15).
 *
 * The index (table fts, detail=none, its content the messages table's raw
 * column) only picks candidates; store_search_text matches each one
 * exactly.  So a message's terms are the distinct byte trigrams of its
 * case-folded (utf8_fold) search texts, each given ONCE: SQLite's trigram
 * tokenizer gives every occurrence of every trigram (with detail=full,
 * its position too), and for the bench's 10,000 messages (135 MB of
 * decoded text) that fed FTS5 about 135 million terms: 21-30 s of CPU and
 * 500 MB of index with detail=full, 13 s with detail=none.  A 10 KB text
 * has about 3,000 distinct trigrams.
 *
 * A document is a message's raw bytes: the tokenizer finds its texts
 * (store_index_texts: the header block and fields, "h" terms, and the
 * body text, "b" terms) the way a search reads them, so the same bytes
 * always give the same terms -- also when FTS5 asks again to delete them
 * (the delete trigger passes the raw bytes back).  A term is 5 ASCII
 * bytes: "h" or "b", then the trigram's 24 bits in 4 characters of 6
 * bits, so a query is plain quoted strings whatever bytes the text holds.
 * A query string is taken as one term, as store_search_text wrote it.
 *
 * Every handle registers the tokenizer (store_open): a connection without
 * it (the sqlite3 shell) cannot write the fts table, so it cannot delete
 * a message that has index rows either.  Changing what is indexed (the
 * texts, the folding, the terms) needs a migration that rebuilds the
 * index: FTS5 deletes a message's rows by the terms it gets again.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "store_internal.h"
#include "utf8.h"

static const char term_chars[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

void store_fts_term(const unsigned char *tri, int body, char *out)
{
	uint32_t v = (uint32_t)tri[0] | (uint32_t)tri[1] << 8 | (uint32_t)tri[2] << 16;

	out[0] = body ? 'b' : 'h';
	for (int i = 0; i < 4; i++)
		out[1 + i] = term_chars[(v >> (6 * i)) & 63];
}

/* A set of (trigram, body) keys, open addressing; 0 is empty. */
struct triset {
	uint32_t *v;
	size_t cap, n;
	int oom;
};

static uint32_t mix(uint32_t h)
{
	h ^= h >> 16;
	h *= 0x85ebca6bu;
	h ^= h >> 13;
	h *= 0xc2b2ae35u;
	h ^= h >> 16;
	return h;
}

static void triset_put(uint32_t *v, size_t cap, uint32_t key)
{
	size_t i = mix(key) & (cap - 1);

	while (v[i] && v[i] != key)
		i = (i + 1) & (cap - 1);
	v[i] = key;
}

static void triset_add(struct triset *s, uint32_t key)
{
	size_t i;

	if (s->oom)
		return;
	if ((s->n + 1) * 2 > s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 4096;
		uint32_t *v = calloc(cap, sizeof(*v));

		if (!v) {
			s->oom = 1;
			return;
		}
		for (i = 0; i < s->cap; i++)
			if (s->v[i])
				triset_put(v, cap, s->v[i]);
		free(s->v);
		s->v = v;
		s->cap = cap;
	}
	i = mix(key) & (s->cap - 1);
	while (s->v[i] && s->v[i] != key)
		i = (i + 1) & (s->cap - 1);
	if (!s->v[i]) {
		s->v[i] = key;
		s->n++;
	}
}

struct tok {
	struct triset set;
	struct buf fold;
};

/* store_index_texts' callback: the text's folded trigrams into the set */
static void add_text(void *arg, const char *s, size_t n, int body)
{
	struct tok *t = arg;
	const unsigned char *f;

	buf_reset(&t->fold);
	if (utf8_fold(s, n, &t->fold) < 0) {
		t->set.oom = 1;
		return;
	}
	f = (const unsigned char *)t->fold.data;
	for (size_t k = 0; k + 3 <= t->fold.len; k++)
		triset_add(&t->set, ((uint32_t)f[k] | (uint32_t)f[k + 1] << 8 |
				     (uint32_t)f[k + 2] << 16 | (body ? 1u << 24 : 0)) +
					1);
}

static int lt_create(void *ctx, const char **argv, int argc, Fts5Tokenizer **out)
{
	(void)argv;
	if (argc != 0)
		return SQLITE_ERROR;
	*out = ctx; /* the store handle */
	return SQLITE_OK;
}

static void lt_delete(Fts5Tokenizer *t)
{
	(void)t;
}

static int lt_tokenize(Fts5Tokenizer *self, void *ctx, int flags, const char *text, int n,
		       int (*emit)(void *, int, const char *, int, int, int))
{
	struct store *st = (struct store *)self;
	struct tok t = {0};
	int rc = SQLITE_OK;

	if (n < 0)
		return SQLITE_ERROR;
	if (flags & FTS5_TOKENIZE_QUERY) /* a term store_search_text wrote */
		return n > 0 ? emit(ctx, 0, text, n, 0, n) : SQLITE_OK;
	/* folding maps a code point to one, which may take a byte more */
	buf_init(&t.fold, 2 * (size_t)n + 16);
	if (store_index_texts(st, text ? text : "", (size_t)n, add_text, &t) == 0) {
		if (t.set.oom)
			rc = SQLITE_NOMEM;
		for (size_t i = 0; rc == SQLITE_OK && i < t.set.cap; i++) {
			uint32_t key = t.set.v[i] - 1;
			unsigned char tri[3] = {(unsigned char)key, (unsigned char)(key >> 8),
						(unsigned char)(key >> 16)};
			char term[STORE_FTS_TERM];

			if (!t.set.v[i])
				continue;
			store_fts_term(tri, (key >> 24) & 1, term);
			rc = emit(ctx, 0, term, STORE_FTS_TERM, 0, 0);
		}
	}
	buf_free(&t.fold);
	free(t.set.v);
	return rc;
}

/* The error said here, not by store_err: store.c calls this file, so this
 * file calls nothing in store.c (tests/layers.py: no loops in a room). */
static int fts_fail(struct store *st, const char *what, const char *why)
{
	snprintf(st->errmsg, sizeof(st->errmsg), "%s%s%s", what, why ? ": " : "", why ? why : "");
	return -1;
}

int store_fts_register(struct store *st)
{
	fts5_tokenizer tk = {lt_create, lt_delete, lt_tokenize};
	fts5_api *api = NULL;
	sqlite3_stmt *s = NULL;

	if (sqlite3_prepare_v2(st->db, "SELECT fts5(?1)", -1, &s, NULL) != SQLITE_OK)
		return fts_fail(st, "fts5 api", sqlite3_errmsg(st->db));
	sqlite3_bind_pointer(s, 1, (void *)&api, "fts5_api_ptr", NULL);
	sqlite3_step(s);
	sqlite3_finalize(s);
	if (!api || api->iVersion < 2)
		return fts_fail(st, "SQLite has no FTS5", NULL);
	if (api->xCreateTokenizer(api, "loft_trigram", st, &tk, NULL) != SQLITE_OK)
		return fts_fail(st, "fts5 tokenizer", sqlite3_errmsg(st->db));
	return 0;
}
