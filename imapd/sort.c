/*
 * SORT and UID SORT (RFC 5256) with SORT=DISPLAY (RFC 5957).  The search
 * keys go through search.c; then each match gets the keys the criteria
 * need, from its stored header block (read once per message, never the
 * body), and the matches are ordered by the criteria with the sequence
 * number last, as RFC 5256 3 asks for ties.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "addr.h"
#include "imapd.h"
#include "log.h"
#include "mime.h"
#include "searchkey.h"
#include "sortkey.h"
#include "store.h"
#include "store_deliver.h"
#include "store_imap.h"
#include "utf8.h"

#define SORT_MAX_HEADER (256u * 1024) /* header bytes read per message */
#define SORT_MAX_VALUE	(16u * 1024)  /* bytes of one field kept to compare */

struct sitem {
	struct imap_hit h;
	int64_t date;
	uint64_t size; /* RFC822.SIZE as this session sees it (imap_shown_size) */
	/* case-folded keys (lowered()); "" when absent */
	char *subject, *from, *to, *cc, *dfrom, *dto;
};

struct first_addr {
	struct buf *out;
	int display;
	int found;
};

static int first_mailbox(void *arg, const struct addr_item *it)
{
	struct first_addr *f = arg;

	if (it->kind != ADDR_MAILBOX)
		return 0;
	f->found = 1;
	if (f->display && it->name && it->name_len) {
		/* RFC 5957: the display name, decoded */
		mime_decode_header(it->name, it->name_len, f->out);
	} else if (f->display) {
		/* no name: the addr-spec */
		buf_append(f->out, it->local, it->local_len);
		if (it->domain) {
			buf_putc(f->out, '@');
			buf_append(f->out, it->domain, it->domain_len);
		}
	} else {
		/* RFC 5256: the addr-mailbox (local part) */
		buf_append(f->out, it->local, it->local_len);
	}
	return 1;
}

/* The comparison key of a string: case-folded with the Unicode table
 * (utf8_fold: "Émile" and "émile", "ΣΟΦΊΑ" and "σοφία" compare equal;
 * i;unicode-casemap's case mapping, RFC 5051, without its decomposition
 * step), then compared as bytes, i.e. by code point. */
static char *lowered(struct buf *b)
{
	struct buf f;
	char *r;

	buf_init(&f, 4 * SORT_MAX_VALUE + 16);
	if (b->len && utf8_fold(b->data, b->len, &f) < 0)
		bug("sort key fold: out of room"); /* 4 bytes per byte at most */
	r = strdup(f.len ? buf_cstr(&f) : "");
	if (!r)
		bug("out of memory");
	buf_free(&f);
	return r;
}

static char *address_key(const char *hdr, size_t hl, const char *field, int display)
{
	struct buf v, out;
	struct first_addr f = {.out = &out, .display = display};

	buf_init(&v, SORT_MAX_VALUE);
	buf_init(&out, SORT_MAX_VALUE);
	if (imap_header_value(hdr, hl, field, &v) != 0 && v.len)
		addr_list_parse(v.data, v.len, first_mailbox, &f);
	char *r = lowered(&out);
	buf_free(&v);
	buf_free(&out);
	return r;
}

char *imap_subject_key(const char *hdr, size_t hl, int *reply)
{
	struct buf v, d, out;
	int r = 0;

	buf_init(&v, SORT_MAX_VALUE);
	buf_init(&d, SORT_MAX_VALUE);
	buf_init(&out, SORT_MAX_VALUE);
	if (imap_header_value(hdr, hl, "Subject", &v) != 0 && v.len &&
	    mime_decode_header(v.data, v.len, &d) == 0 && d.len)
		r = imap_base_subject(d.data, d.len, &out);
	if (reply)
		*reply = r > 0;
	char *k = lowered(&out);
	buf_free(&v);
	buf_free(&d);
	buf_free(&out);
	return k;
}

char *imap_hit_header(struct session *s, struct store_raw *raw, const struct imap_hit *h,
		      size_t *hl)
{
	struct store_message m;
	char *hdr;
	size_t size;

	*hl = 0;
	if (store_message_meta(s->srv->st, h->message_id, &m) != 0)
		return NULL;
	*hl = m.header_size <= m.size ? m.header_size : m.size;
	if (*hl > SORT_MAX_HEADER)
		*hl = SORT_MAX_HEADER;
	store_message_free(&m);
	hdr = malloc(*hl + 1);
	if (!hdr)
		bug("out of memory");
	if (store_raw_open(raw, h->message_id, &size) != 0 ||
	    store_raw_read(raw, hdr, *hl <= size ? *hl : size, 0) != 0)
		*hl = 0;
	store_raw_close(raw);
	return hdr;
}

int64_t imap_hit_date(const char *hdr, size_t hl, const struct imap_hit *h)
{
	struct buf v;
	int64_t t, r = h->internaldate;

	buf_init(&v, SORT_MAX_VALUE);
	if (imap_header_value(hdr, hl, "Date", &v) == 1 && v.len &&
	    imap_sent_time(v.data, v.len, &t) == 0)
		r = t;
	buf_free(&v);
	return r;
}

static int needs(const struct sort_crit *c, int n, enum sort_key k)
{
	for (int i = 0; i < n; i++)
		if (c[i].key == k)
			return 1;
	return 0;
}

/* Fills the keys of one item from its message's header. */
static void fill(struct session *s, struct store_raw *raw, struct sitem *it,
		 const struct sort_crit *c, int n)
{
	size_t hl;
	char *hdr = imap_hit_header(s, raw, &it->h, &hl);
	const char *h = hdr ? hdr : "";

	it->date = needs(c, n, SK_DATE) ? imap_hit_date(h, hl, &it->h) : it->h.internaldate;
	it->subject = needs(c, n, SK_SUBJECT) ? imap_subject_key(h, hl, NULL) : NULL;
	it->from = needs(c, n, SK_FROM) ? address_key(h, hl, "From", 0) : NULL;
	it->to = needs(c, n, SK_TO) ? address_key(h, hl, "To", 0) : NULL;
	it->cc = needs(c, n, SK_CC) ? address_key(h, hl, "Cc", 0) : NULL;
	it->dfrom = needs(c, n, SK_DISPLAYFROM) ? address_key(h, hl, "From", 1) : NULL;
	it->dto = needs(c, n, SK_DISPLAYTO) ? address_key(h, hl, "To", 1) : NULL;
	free(hdr);
	/* SORT SIZE orders by what FETCH RFC822.SIZE shows (RFC 5256 3) */
	it->size = needs(c, n, SK_SIZE)
		       ? imap_shown_size(s, raw, it->h.message_id, it->h.mime_flags, it->h.size)
		       : it->h.size;
}

/* qsort has no context argument in C11: the criteria of the SORT being
 * run (one command at a time per process) */
static const struct sort_crit *cur_crit;
static int cur_n;

static int cmp_i64(int64_t a, int64_t b)
{
	return a < b ? -1 : a > b;
}

static int cmp_items(const void *pa, const void *pb)
{
	const struct sitem *a = pa, *b = pb;

	for (int i = 0; i < cur_n; i++) {
		int r = 0;
		switch (cur_crit[i].key) {
		case SK_ARRIVAL:
			r = cmp_i64(a->h.internaldate, b->h.internaldate);
			break;
		case SK_DATE:
			r = cmp_i64(a->date, b->date);
			break;
		case SK_SIZE:
			r = a->size < b->size ? -1 : a->size > b->size;
			break;
		case SK_SUBJECT:
			r = strcmp(a->subject, b->subject);
			break;
		case SK_FROM:
			r = strcmp(a->from, b->from);
			break;
		case SK_TO:
			r = strcmp(a->to, b->to);
			break;
		case SK_CC:
			r = strcmp(a->cc, b->cc);
			break;
		case SK_DISPLAYFROM:
			r = strcmp(a->dfrom, b->dfrom);
			break;
		case SK_DISPLAYTO:
			r = strcmp(a->dto, b->dto);
			break;
		}
		if (r)
			return cur_crit[i].reverse ? -r : r;
	}
	return a->h.seq < b->h.seq ? -1 : a->h.seq > b->h.seq;
}

/* The hits with their sort keys, in sort order (malloc'ed; free with
 * sort_items_free). */
static struct sitem *sort_items(struct session *s, const struct imap_hit *hits, size_t nh,
				const struct sort_crit *crit, int n)
{
	struct sitem *items = calloc(nh ? nh : 1, sizeof(*items));
	struct store_raw *raw = store_raw_new(s->srv->st);
	int opened = store_imap_read_begin(s->srv->st);

	if (!items)
		bug("out of memory");
	for (size_t i = 0; i < nh; i++) {
		items[i].h = hits[i];
		fill(s, raw, &items[i], crit, n);
	}
	store_imap_read_end(s->srv->st, opened);
	store_raw_free(raw);
	cur_crit = crit;
	cur_n = n;
	if (nh > 1)
		qsort(items, nh, sizeof(*items), cmp_items);
	return items;
}

static void sort_items_free(struct sitem *items, size_t nh)
{
	for (size_t i = 0; i < nh; i++) {
		free(items[i].subject);
		free(items[i].from);
		free(items[i].to);
		free(items[i].cc);
		free(items[i].dfrom);
		free(items[i].dto);
	}
	free(items);
}

int imap_sort_uids(struct session *s, const struct imap_arg *crit_args, const struct imap_arg *keys,
		   uint32_t **out, size_t *nout)
{
	struct sort_crit crit[SORT_MAX_CRITERIA];
	const char *err = NULL;
	struct imap_hit *hits;
	struct sitem *items;
	size_t nh;
	int n = imap_sort_criteria(crit_args, crit, &err);

	if (n < 0 || imap_search_match(s, keys, &hits, &nh, &err) < 0)
		return -1;
	items = sort_items(s, hits, nh, crit, n);
	*out = malloc((nh ? nh : 1) * sizeof(**out));
	if (!*out)
		bug("out of memory");
	for (size_t i = 0; i < nh; i++)
		(*out)[i] = items[i].h.uid;
	*nout = nh;
	sort_items_free(items, nh);
	free(hits);
	return 0;
}

/* The ESEARCH response of an ESORT: MIN and MAX are the first and last
 * in sort order; ALL keeps the sort order, so only runs ascending by one
 * become "a:b" (RFC 5267 3.2). */
/* Appends it[from..to) (numbers in sort order) as a set: only runs
 * ascending by one become "a:b". */
static void sort_set(struct buf *out, const struct sitem *it, size_t from, size_t to, int uid)
{
#define NUM(i) (uid ? it[i].h.uid : it[i].h.seq)
	for (size_t i = from; i < to;) {
		size_t j = i;
		while (j + 1 < to && NUM(j + 1) == NUM(j) + 1)
			j++;
		buf_printf(out, i > from ? ",%u" : "%u", NUM(i));
		if (j > i)
			buf_printf(out, ":%u", NUM(j));
		i = j + 1;
	}
#undef NUM
}

static void esort_reply(struct buf *out, const char *tag, const struct sitem *it, size_t n, int uid,
			const struct search_ret *ret)
{
	unsigned opts = ret->opts;
	int r_min = (opts & RET_MIN) != 0, r_max = (opts & RET_MAX) != 0;
	int r_count = (opts & RET_COUNT) != 0, r_all = (opts & RET_ALL) != 0;

#define NUM(i) (uid ? it[i].h.uid : it[i].h.seq)
	buf_puts(out, "* ESEARCH (TAG ");
	imap_buf_string(out, tag, strlen(tag));
	buf_putc(out, ')');
	if (uid)
		buf_puts(out, " UID");
	if (n && r_min)
		buf_printf(out, " MIN %u", NUM(0));
	if (n && r_max)
		buf_printf(out, " MAX %u", NUM(n - 1));
	if (r_count)
		buf_printf(out, " COUNT %zu", n);
	if (n && r_all) {
		buf_puts(out, " ALL ");
		sort_set(out, it, 0, n, uid);
	}
	if (opts & RET_PARTIAL) {
		/* RFC 5267 4.4: positions lo..hi in sort order */
		buf_printf(out, " PARTIAL (%u:%u ", ret->lo, ret->hi);
		if (ret->lo <= n)
			sort_set(out, it, ret->lo - 1, ret->hi < n ? ret->hi : n, uid);
		else
			buf_puts(out, "NIL");
		buf_putc(out, ')');
	}
#undef NUM
}

static int cmp_uid(const void *pa, const void *pb)
{
	uint32_t x = *(const uint32_t *)pa, y = *(const uint32_t *)pb;

	return x < y ? -1 : x > y;
}

/* SORT ... RETURN (SAVE) (RFC 5267 3.3 with RFC 5182): "$" becomes the
 * matched messages -- a set, kept in UID order; with MIN and/or MAX and
 * neither ALL nor COUNT, only the first and/or last in sort order. */
static void sort_save(struct session *s, const struct sitem *it, size_t n, unsigned opts)
{
	uint32_t *u;
	size_t k = 0;

	if (n && (opts & (RET_MIN | RET_MAX)) && !(opts & (RET_ALL | RET_COUNT))) {
		uint32_t mm[2];

		if (opts & RET_MIN)
			mm[k++] = it[0].h.uid;
		if ((opts & RET_MAX) && (!(opts & RET_MIN) || n > 1))
			mm[k++] = it[n - 1].h.uid;
		if (k == 2 && mm[0] > mm[1]) {
			uint32_t t = mm[0];
			mm[0] = mm[1];
			mm[1] = t;
		}
		imap_view_save_result(s, mm, k);
		return;
	}
	u = malloc((n ? n : 1) * sizeof(*u));
	if (!u)
		bug("out of memory");
	for (size_t i = 0; i < n; i++)
		u[i] = it[i].h.uid;
	if (n > 1)
		qsort(u, n, sizeof(*u), cmp_uid);
	imap_view_save_result(s, u, n);
	free(u);
}

static void sort_fail(struct session *s, int save)
{
	if (save)
		imap_view_save_result(s, NULL, 0);
}

int imap_cmd_sort(struct session *s, const struct imap_cmd *c, const struct imap_arg *a, int uid)
{
	struct sort_crit crit[SORT_MAX_CRITERIA];
	const char *err = NULL;
	struct imap_hit *hits;
	size_t nh;
	struct search_ret ret;
	int n, esort, save;

	/* ESORT (RFC 5267): SORT RETURN (options) answers with ESEARCH */
	if (imap_return_parse(&a, &ret, &err) < 0)
		return imap_tagged(s, c->tag, "BAD", "%s", err), 0;
	esort = ret.given;
	save = (ret.opts & RET_SAVE) != 0;
	/* a failing SORT ... RETURN (SAVE) leaves "$" empty (RFC 5182 2.1) */
	if (!a || a->type != IMAP_ARG_LIST)
		return sort_fail(s, save),
		       imap_tagged(s, c->tag, "BAD", "SORT (criteria) charset keys"), 0;
	n = imap_sort_criteria(a->child, crit, &err);
	if (n < 0)
		return sort_fail(s, save), imap_tagged(s, c->tag, "BAD", "%s", err), 0;
	const struct imap_arg *crit_arg = a->child;
	a = a->next;
	if (imap_search_hits(s, c, a, &hits, &nh) < 0)
		return sort_fail(s, save), 0;

	struct sitem *items = sort_items(s, hits, nh, crit, n);

	if (save)
		sort_save(s, items, nh, ret.opts);
	if (ret.opts & RET_UPDATE) {
		/* CONTEXT=SORT (RFC 5267 4): kept with the matches in sort
		 * order; updates say where each message goes */
		uint32_t *u = malloc((nh ? nh : 1) * sizeof(*u));
		if (!u)
			bug("out of memory");
		for (size_t i = 0; i < nh; i++)
			u[i] = items[i].h.uid;
		imap_search_update_add(s, c->tag, uid, a->next, crit_arg, u, nh);
		free(u);
	}
	struct buf out;
	buf_init(&out, 64u * 1024 * 1024);
	if (imap_return_silent(&ret)) {
		/* SAVE alone: no ESEARCH response (RFC 5182 2.1) */
	} else if (esort)
		esort_reply(&out, c->tag, items, nh, uid, &ret);
	else {
		buf_puts(&out, "* SORT");
		for (size_t i = 0; i < nh; i++)
			buf_printf(&out, " %u", uid ? items[i].h.uid : items[i].h.seq);
	}
	if (out.len)
		buf_puts(&out, "\r\n");
	imap_write(s, out.data, out.len);
	buf_free(&out);
	sort_items_free(items, nh);
	free(hits);
	imap_tagged(s, c->tag, "OK", "SORT completed");
	return 0;
}
