/*
 * SEARCH (RFC 3501 6.4.4) with ESEARCH's RETURN options (RFC 4731) and
 * CONDSTORE's MODSEQ key.  The keys become a tree, evaluated once per
 * message of the view.  Text keys (TEXT, BODY, SUBJECT, FROM, TO, CC, BCC,
 * and HEADER on those fields) are answered by the store (its FTS5 index
 * picks candidates, each then matched exactly), once
 * per key, never by reading messages; only SENT* (the Date header, from the
 * stored ENVELOPE) and HEADER on other fields look at per-message data.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "array.h"
#include "imapd.h"
#include "searchkey.h"
#include "imapdate.h"
#include "log.h"
#include "seqset.h"
#include "store.h"
#include "store_deliver.h"
#include "store_imap.h"
#include "store_mailbox.h"
#include "strnum.h"

struct sentry {
	uint32_t uid;
	unsigned flags;
	char *keywords;
	uint64_t size, modseq;
	int64_t internaldate, message_id, savedate;
	unsigned mflags;
	/* RFC822.SIZE for this session (imap_shown_size), once asked for */
	uint64_t shown;
	int have_shown;
};

struct sctx {
	struct session *s;
	struct sentry *e;
	size_t n, cap;
	int used_modseq;
	const char *err;
	int badcharset;
	struct store_raw *raw; /* for shown_size, made on first use */
};

static int uid_add(void *arg, uint32_t uid)
{
	struct skey *k = arg;

	if (ARRAY_GROW(k->uids, k->capuids, k->nuids + 1, 64) < 0)
		bug("out of memory");
	k->uids[k->nuids++] = uid;
	return 0;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? -1 : x > y;
}

static int text_key(struct sctx *x, struct skey *k, const char *field, const char *query)
{
	k->op = K_TEXT;
	if (store_search_text(x->s->srv->st, x->s->mbox_id, field, query, uid_add, k) < 0) {
		x->err = "search failed";
		return -1;
	}
	/* has_uid() searches by halves: make sure of the order (no hits:
	 * uids is NULL, which qsort must not get) */
	if (k->nuids > 1)
		qsort(k->uids, k->nuids, sizeof(k->uids[0]), cmp_u32);
	return 0;
}

/* Makes a parsed tree ready to evaluate against this session: text keys
 * run through the store's search index, sequence and UID sets are
 * resolved against the view ("*").  Returns 0, or -1 with x->err set. */
static int resolve(struct sctx *x, struct skey *k)
{
	struct session *s = x->s;

	for (; k; k = k->next) {
		if (k->op == K_TEXT && text_key(x, k, k->field, k->str) < 0)
			return -1;
		if (k->op == K_SAVED) {
			/* "$" (RFC 5182): the UIDs the last SEARCH ... SAVE kept,
			 * sorted as saved */
			for (size_t i = 0; i < s->nsaved; i++)
				uid_add(k, s->saved[i]);
		}
		if (k->op == K_UID)
			seqset_resolve(&k->set, s->nmsgs ? s->msgs[s->nmsgs - 1].uid : 0);
		if (k->op == K_SEQ)
			seqset_resolve(&k->set, (uint32_t)s->nmsgs);
		if ((k->a && resolve(x, k->a) < 0) || (k->b && resolve(x, k->b) < 0))
			return -1;
	}
	return 0;
}

static int has_uid(const struct skey *k, uint32_t uid)
{
	size_t lo = 0, hi = k->nuids;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (k->uids[mid] < uid)
			lo = mid + 1;
		else if (k->uids[mid] > uid)
			hi = mid;
		else
			return 1;
	}
	return 0;
}

static int has_keyword(const char *list, const char *kw)
{
	size_t n = strlen(kw);

	for (const char *p = list; p && *p;) {
		const char *sp = strchr(p, ' ');
		size_t len = sp ? (size_t)(sp - p) : strlen(p);
		if (len == n && strncasecmp(p, kw, n) == 0)
			return 1;
		p = sp ? sp + 1 : NULL;
	}
	return 0;
}

/* The Date: header's day, from the stored ENVELOPE ("(\"date\" ...").
 * Returns 0 or -1 when there is none. */
static int sent_day(struct sctx *x, const struct sentry *e, int64_t *day)
{
	struct store_message m;
	int r = -1;

	if (store_message_meta(x->s->srv->st, e->message_id, &m) != 0)
		return -1;
	if (m.envelope && m.envelope[0] == '(' && m.envelope[1] == '"') {
		const char *end = strchr(m.envelope + 2, '"');
		if (end)
			r = imapdate_parse_rfc5322_day(m.envelope + 2,
						       (size_t)(end - m.envelope - 2), day);
	}
	store_message_free(&m);
	return r;
}

/* Case-insensitive substring search in hay[0..n). */
static int contains_ci(const char *hay, size_t n, const char *needle)
{
	size_t k = strlen(needle);

	if (k == 0)
		return 1;
	for (size_t i = 0; i + k <= n; i++)
		if (strncasecmp(hay + i, needle, k) == 0)
			return 1;
	return 0;
}

static int header_match(struct sctx *x, const struct sentry *e, const char *field, const char *val)
{
	struct store_message m;
	int found = 0;
	size_t fl = strlen(field);

	if (store_message_get(x->s->srv->st, e->message_id, &m) != 0)
		return 0;
	size_t hs = m.header_size <= m.size ? m.header_size : m.size;
	for (size_t i = 0; i < hs && !found;) {
		const char *line = m.data + i;
		const char *lf = memchr(line, '\n', hs - i);
		size_t ll = lf ? (size_t)(lf - line) + 1 : hs - i;
		if (ll > fl && line[fl] == ':' && strncasecmp(line, field, fl) == 0) {
			/* the value with its continuation lines */
			size_t end = i + ll;
			while (end < hs && (m.data[end] == ' ' || m.data[end] == '\t')) {
				const char *l2 = memchr(m.data + end, '\n', hs - end);
				end = l2 ? (size_t)(l2 - m.data) + 1 : hs;
			}
			found = contains_ci(line + fl + 1, end - i - fl - 1, val);
		}
		i += ll;
	}
	store_message_free(&m);
	return found;
}

/* The size FETCH shows as RFC822.SIZE (a downgraded message's for a
 * session without UTF8=ACCEPT), worked out once per entry and search. */
static uint64_t shown_size(struct sctx *x, size_t i)
{
	struct sentry *e = &x->e[i];

	if (!e->have_shown) {
		if (!x->raw)
			x->raw = store_raw_new(x->s->srv->st);
		e->shown = imap_shown_size(x->s, x->raw, e->message_id, e->mflags, e->size);
		e->have_shown = 1;
	}
	return e->shown;
}

static int eval(struct sctx *x, const struct skey *k, size_t i)
{
	const struct sentry *e = &x->e[i];
	struct session *s = x->s;
	long vi = imap_view_find(s, e->uid);
	unsigned vflags = vi >= 0 ? s->msgs[vi].flags : e->flags;
	int64_t d;

	switch (k->op) {
	case K_ALL:
		return 1;
	case K_AND:
		for (const struct skey *c = k->a; c; c = c->next)
			if (!eval(x, c, i))
				return 0;
		return 1;
	case K_OR:
		return eval(x, k->a, i) || eval(x, k->b, i);
	case K_NOT:
		return !eval(x, k->a, i);
	case K_FLAG:
		return (e->flags & k->flag) != 0;
	case K_UNFLAG:
		return (e->flags & k->flag) == 0;
	case K_KEYWORD:
		return has_keyword(e->keywords, k->str);
	case K_UNKEYWORD:
		return !has_keyword(e->keywords, k->str);
	case K_NEW:
		return (vflags & VIEW_RECENT) && !(e->flags & STORE_F_SEEN);
	case K_OLD:
		return !(vflags & VIEW_RECENT);
	case K_RECENT:
		return (vflags & VIEW_RECENT) != 0;
	case K_LARGER:
		return shown_size(x, i) > k->num;
	case K_SMALLER:
		return shown_size(x, i) < k->num;
	case K_BEFORE:
		return (e->internaldate >= 0 ? e->internaldate / 86400 : -1) < k->day;
	case K_ON:
		return e->internaldate / 86400 == k->day;
	case K_SINCE:
		return e->internaldate / 86400 >= k->day;
	case K_SENTBEFORE:
		return sent_day(x, e, &d) == 0 && d < k->day;
	case K_SENTON:
		return sent_day(x, e, &d) == 0 && d == k->day;
	case K_SENTSINCE:
		return sent_day(x, e, &d) == 0 && d >= k->day;
	case K_SEQ:
		return vi >= 0 && seqset_contains(&k->set, (uint32_t)vi + 1);
	case K_UID:
		return seqset_contains(&k->set, e->uid);
	case K_TEXT:
		return has_uid(k, e->uid);
	case K_HEADER:
		return header_match(x, e, k->hdr, k->str);
	case K_MODSEQ:
		return e->modseq >= k->num;
	/* RFC 8514: an entry without a save date matches none of these but
	 * SAVEDATESUPPORTED, which says whether the mailbox keeps them (it
	 * does, for entries saved since migration 3) */
	case K_SAVEDBEFORE:
		return e->savedate > 0 && e->savedate / 86400 < k->day;
	case K_SAVEDON:
		return e->savedate > 0 && e->savedate / 86400 == k->day;
	case K_SAVEDSINCE:
		return e->savedate > 0 && e->savedate / 86400 >= k->day;
	case K_SAVEDATESUPPORTED:
		return 1;
	case K_EMAILID: {
		char id[80];
		imap_emailid(e->message_id, e->size, e->internaldate, id, sizeof(id));
		return strcmp(id, k->str) == 0;
	}
	case K_THREADID:
		return 0; /* no THREADIDs (NIL) */
	case K_SAVED:
		return has_uid(k, e->uid);
	}
	return 0;
}

static int entry_cb(void *arg, const struct store_entry *e)
{
	struct sctx *x = arg;

	if (ARRAY_GROW(x->e, x->cap, x->n + 1, 256) < 0)
		bug("out of memory");
	struct sentry *d = &x->e[x->n++];
	d->uid = e->uid;
	d->flags = e->flags;
	d->keywords = strdup(e->keywords ? e->keywords : "");
	if (!d->keywords)
		bug("out of memory");
	d->size = e->size;
	d->modseq = e->modseq;
	d->internaldate = e->internaldate;
	d->message_id = e->message_id;
	d->savedate = e->savedate;
	d->mflags = e->mime_flags;
	d->have_shown = 0;
	return 0;
}

/* Whether evaluating k needs more of an entry than its UID (flags,
 * sizes, dates, modseq, the message): SEARCH TEXT and its like need only
 * the UIDs of the mailbox. */
static int needs_entries(const struct skey *k)
{
	for (; k; k = k->next) {
		switch (k->op) {
		case K_ALL:
		case K_AND:
		case K_OR:
		case K_NOT:
		case K_TEXT:
		case K_UID:
		case K_SEQ:
		case K_SAVED:
			break;
		default:
			return 1;
		}
		if ((k->a && needs_entries(k->a)) || (k->b && needs_entries(k->b)))
			return 1;
	}
	return 0;
}

static int uid_entry_cb(void *arg, uint32_t uid)
{
	struct store_entry e = {0};

	e.uid = uid;
	return entry_cb(arg, &e);
}

/* The mailbox's entries for evaluating prog into x->e: only their UIDs
 * when prog needs no more (10,000 entries: a third of the CPU of a
 * SEARCH TEXT went into reading them whole).  Returns 0 or -1. */
static int load_entries(struct sctx *x, const struct skey *prog)
{
	struct session *s = x->s;

	if (needs_entries(prog))
		return store_entries(s->srv->st, s->mbox_id, 1, 0, entry_cb, x) < 0 ? -1 : 0;
	/* an empty query matches every entry of the mailbox */
	return store_search_text(s->srv->st, s->mbox_id, "text", "", uid_entry_cb, x) < 0 ? -1 : 0;
}

int imap_search_match(struct session *s, const struct imap_arg *a, struct imap_hit **out,
		      size_t *nout, const char **err)
{
	struct sctx x = {.s = s};
	struct skey_parse kp;
	struct skey *prog;
	int r = 0;

	*out = NULL;
	*nout = 0;
	if (!a) {
		*err = "Search keys needed";
		return -1;
	}
	prog = imap_skey_parse(a, &kp);
	if (!prog) {
		*err = kp.err ? kp.err : "Invalid search";
		return -1;
	}
	if (kp.used_modseq)
		imap_condstore_enable(s);
	if (resolve(&x, prog) < 0) {
		*err = x.err ? x.err : "Invalid search";
		r = -1;
	} else if (store_entries(s->srv->st, s->mbox_id, 1, 0, entry_cb, &x) < 0) {
		*err = store_errmsg(s->srv->st);
		r = -2;
	} else {
		struct imap_hit *h = malloc((x.n ? x.n : 1) * sizeof(*h));
		size_t nh = 0;
		if (!h)
			bug("out of memory");
		for (size_t i = 0; i < x.n; i++) {
			long vi = imap_view_find(s, x.e[i].uid);
			if (vi < 0 || !eval(&x, prog, i))
				continue;
			h[nh].uid = x.e[i].uid;
			h[nh].seq = (uint32_t)vi + 1;
			h[nh].message_id = x.e[i].message_id;
			h[nh].size = x.e[i].size;
			h[nh].mime_flags = x.e[i].mflags;
			h[nh++].internaldate = x.e[i].internaldate;
		}
		*out = h;
		*nout = nh;
	}
	for (size_t i = 0; i < x.n; i++)
		free(x.e[i].keywords);
	free(x.e);
	store_raw_free(x.raw);
	imap_skey_free(prog);
	return r;
}

int imap_search_hits(struct session *s, const struct imap_cmd *c, const struct imap_arg *a,
		     struct imap_hit **out, size_t *nout)
{
	const char *err = NULL;
	int r;

	if (!imap_arg_astring(a))
		return imap_tagged(s, c->tag, "BAD", "A charset is needed"), -1;
	/* after ENABLE UTF8=ACCEPT only UTF-8 (RFC 6855 3, erratum 4029) */
	if (s->utf8accept && strcasecmp(a->str, "UTF-8") != 0)
		return imap_tagged(s, c->tag, "BAD", "Only UTF-8 after ENABLE UTF8=ACCEPT"), -1;
	if (strcasecmp(a->str, "UTF-8") != 0 && strcasecmp(a->str, "US-ASCII") != 0)
		return imap_tagged(s, c->tag, "NO",
				   "[BADCHARSET (UTF-8 US-ASCII)] Unsupported charset"),
		       -1;
	r = imap_search_match(s, a->next, out, nout, &err);
	if (r == -1)
		imap_tagged(s, c->tag, "BAD", "%s", err);
	else if (r < 0)
		imap_tagged(s, c->tag, "NO", "[SERVERBUG] %s", err);
	return r < 0 ? -1 : 0;
}

/* --- CONTEXT=SEARCH updates (RFC 5267 4) ------------------------------- */

/* A SEARCH ... RETURN (UPDATE) stays with the session while the mailbox
 * is selected: its keys (a copy of the command's arguments), and the
 * UIDs it matched when last reported.  At each full sync of the view
 * (imap_view_sync with expunges: a tagged OK, IDLE news) the keys are
 * evaluated again and the difference is sent as
 *   * ESEARCH (TAG "tag") [UID] REMOVEFROM (0 set) ADDTO (0 set)
 * (position 0: an unsorted SEARCH).  A message that left the view
 * (EXPUNGE/VANISHED told the client) is dropped silently. */
struct search_update {
	struct search_update *next;
	char tag[72];
	int uid;
	struct imap_arg *keys;
	struct imap_arg *crit; /* SORT's criteria (CONTEXT=SORT), else NULL */
	uint32_t *uids;	       /* sorted by UID, or for SORT in sort order */
	size_t n;
	uint64_t modseq;  /* the mailbox's HIGHESTMODSEQ and UIDNEXT when */
	uint32_t uidnext; /* last evaluated */
};

static void args_free(struct imap_arg *a)
{
	while (a) {
		struct imap_arg *n = a->next;
		args_free(a->child);
		free((char *)a->str);
		free(a);
		a = n;
	}
}

/* A deep copy of the argument list from a on (strings and lists). */
static struct imap_arg *args_copy(const struct imap_arg *a)
{
	struct imap_arg *head = NULL, **tail = &head;

	for (; a; a = a->next) {
		struct imap_arg *d = calloc(1, sizeof(*d));
		char *str = malloc(a->len + 1);

		if (!d || !str)
			bug("out of memory");
		d->type = a->type;
		d->literal8 = a->literal8;
		d->len = a->len;
		if (a->type != IMAP_ARG_LIST && a->str)
			memcpy(str, a->str, a->len);
		str[a->type != IMAP_ARG_LIST && a->str ? a->len : 0] = '\0';
		d->str = str;
		if (a->type == IMAP_ARG_LIST)
			d->child = args_copy(a->child);
		*tail = d;
		tail = &d->next;
	}
	return head;
}

static void update_free(struct search_update *u)
{
	args_free(u->keys);
	args_free(u->crit);
	free(u->uids);
	free(u);
}

void imap_search_update_add(struct session *s, const char *tag, int uid,
			    const struct imap_arg *keys, const struct imap_arg *crit,
			    const uint32_t *uids, size_t n)
{
	struct search_update *u;
	unsigned count = 0;

	for (u = s->updates; u; u = u->next) {
		count++;
		if (strcmp(u->tag, tag) == 0)
			break;
	}
	/* a tag already in use, or too many: no updates for this one, the
	 * search itself goes on (RFC 5267 4.2) */
	if (u || count >= SEARCH_MAX_UPDATES || strlen(tag) >= sizeof(u->tag)) {
		struct buf b;

		buf_init(&b, 256);
		buf_puts(&b, "* NO [NOUPDATE ");
		imap_buf_string(&b, tag, strlen(tag));
		buf_puts(&b, "] Too many or duplicate search updates\r\n");
		imap_write(s, b.data, b.len);
		buf_free(&b);
		return;
	}
	u = calloc(1, sizeof(*u));
	if (!u)
		bug("out of memory");
	snprintf(u->tag, sizeof(u->tag), "%s", tag);
	u->uid = uid;
	u->keys = args_copy(keys);
	u->crit = crit ? args_copy(crit) : NULL;
	u->uids = malloc((n ? n : 1) * sizeof(*u->uids));
	if (!u->uids)
		bug("out of memory");
	memcpy(u->uids, uids, n * sizeof(*uids));
	u->n = n;
	u->modseq = s->modseq;
	u->uidnext = s->uidnext;
	u->next = s->updates;
	s->updates = u;
}

void imap_search_updates_free(struct session *s)
{
	while (s->updates) {
		struct search_update *n = s->updates->next;
		update_free(s->updates);
		s->updates = n;
	}
}

/* Appends the view position (sequence number) or UID of uids[0..n) as a
 * set. */
static void put_set(struct session *s, struct buf *out, const uint32_t *uids, size_t n, int uid)
{
	uint32_t *v = malloc((n ? n : 1) * sizeof(*v));

	if (!v)
		bug("out of memory");
	for (size_t i = 0; i < n; i++)
		v[i] = uid ? uids[i] : (uint32_t)imap_view_find(s, uids[i]) + 1;
	imap_uidset_format(out, v, n);
	free(v);
}

static int in_sorted(const uint32_t *v, size_t n, uint32_t x)
{
	return n && bsearch(&x, v, n, sizeof(*v), cmp_u32) != NULL;
}

/* Appends " pos num" for one message: its UID, or its sequence number. */
static void put_pos(struct session *s, struct buf *out, size_t pos, uint32_t uid, int by_uid)
{
	buf_printf(out, "%s%zu %u", out->data[out->len - 1] == '(' ? "" : " ", pos,
		   by_uid ? uid : (uint32_t)imap_view_find(s, uid) + 1);
}

/* CONTEXT=SORT (RFC 5267 4.3): the new matches in sort order against the
 * ones last reported.  Sort keys never change (the criteria read the
 * message, not its flags), so the messages that stay keep their order and
 * only come and go:
 *   REMOVEFROM (pos num ...): each at its position in the list as the
 *     removals before it in the response left it;
 *   ADDTO (pos num ...): each at the position it has in the new list,
 *     added in that order after the removals.
 * A message gone from the view is dropped without a word (EXPUNGE told
 * the client). */
static void update_run_sorted(struct session *s, struct search_update *u)
{
	uint32_t *now, *old_s, *now_s;
	size_t nn, no = 0, pos, nr = 0, na = 0;
	struct buf rem, add;

	if (imap_sort_uids(s, u->crit, u->keys, &now, &nn) < 0)
		return; /* the store failed: next time */
	/* the old list without what left the view */
	for (size_t i = 0; i < u->n; i++)
		if (imap_view_find(s, u->uids[i]) >= 0)
			u->uids[no++] = u->uids[i];
	old_s = malloc((no ? no : 1) * sizeof(*old_s));
	now_s = malloc((nn ? nn : 1) * sizeof(*now_s));
	if (!old_s || !now_s)
		bug("out of memory");
	memcpy(old_s, u->uids, no * sizeof(*old_s));
	memcpy(now_s, now, nn * sizeof(*now_s));
	qsort(old_s, no, sizeof(*old_s), cmp_u32);
	qsort(now_s, nn, sizeof(*now_s), cmp_u32);
	buf_init(&rem, 64u * 1024 * 1024);
	buf_init(&add, 64u * 1024 * 1024);
	buf_puts(&rem, " REMOVEFROM (");
	buf_puts(&add, " ADDTO (");
	pos = 1;
	for (size_t i = 0; i < no; i++) {
		if (!in_sorted(now_s, nn, u->uids[i])) {
			put_pos(s, &rem, pos, u->uids[i], u->uid);
			nr++;
		} else {
			pos++;
		}
	}
	for (size_t i = 0; i < nn; i++) {
		if (!in_sorted(old_s, no, now[i])) {
			put_pos(s, &add, i + 1, now[i], u->uid);
			na++;
		}
	}
	if (nr || na) {
		struct buf out;
		buf_init(&out, 200u * 1024 * 1024);
		buf_puts(&out, "* ESEARCH (TAG ");
		imap_buf_string(&out, u->tag, strlen(u->tag));
		buf_putc(&out, ')');
		if (u->uid)
			buf_puts(&out, " UID");
		if (nr) {
			buf_append(&out, rem.data, rem.len);
			buf_putc(&out, ')');
		}
		if (na) {
			buf_append(&out, add.data, add.len);
			buf_putc(&out, ')');
		}
		buf_puts(&out, "\r\n");
		imap_write(s, out.data, out.len);
		buf_free(&out);
	}
	buf_free(&rem);
	buf_free(&add);
	free(old_s);
	free(now_s);
	free(u->uids);
	u->uids = now;
	u->n = nn;
}

static void update_run(struct session *s, struct search_update *u, uint64_t modseq,
		       uint32_t uidnext)
{
	struct imap_hit *hits;
	size_t nh, i = 0, j = 0, na = 0, nr = 0;
	const char *err = NULL;
	uint32_t *add, *rem, *now;
	struct buf out;

	if (u->modseq == modseq && u->uidnext == uidnext)
		return;
	if (u->crit) {
		u->modseq = modseq;
		u->uidnext = uidnext;
		update_run_sorted(s, u);
		return;
	}
	if (imap_search_match(s, u->keys, &hits, &nh, &err) < 0)
		return; /* the store failed: next time */
	u->modseq = modseq;
	u->uidnext = uidnext;
	add = malloc((nh ? nh : 1) * sizeof(*add));
	rem = malloc((u->n ? u->n : 1) * sizeof(*rem));
	now = malloc((nh ? nh : 1) * sizeof(*now));
	if (!add || !rem || !now)
		bug("out of memory");
	for (size_t k = 0; k < nh; k++)
		now[k] = hits[k].uid;
	free(hits);
	/* both sorted by UID: walk them together */
	while (i < u->n || j < nh) {
		if (j == nh || (i < u->n && u->uids[i] < now[j])) {
			/* gone from the result; reported unless gone from the
			 * view (the client was told of the expunge) */
			if (imap_view_find(s, u->uids[i]) >= 0)
				rem[nr++] = u->uids[i];
			i++;
		} else if (i == u->n || now[j] < u->uids[i]) {
			add[na++] = now[j++];
		} else {
			i++;
			j++;
		}
	}
	free(u->uids);
	u->uids = now;
	u->n = nh;
	if (na || nr) {
		buf_init(&out, 64u * 1024 * 1024);
		buf_puts(&out, "* ESEARCH (TAG ");
		imap_buf_string(&out, u->tag, strlen(u->tag));
		buf_putc(&out, ')');
		if (u->uid)
			buf_puts(&out, " UID");
		if (nr) {
			buf_puts(&out, " REMOVEFROM (0 ");
			put_set(s, &out, rem, nr, u->uid);
			buf_putc(&out, ')');
		}
		if (na) {
			buf_puts(&out, " ADDTO (0 ");
			put_set(s, &out, add, na, u->uid);
			buf_putc(&out, ')');
		}
		buf_puts(&out, "\r\n");
		imap_write(s, out.data, out.len);
		buf_free(&out);
	}
	free(add);
	free(rem);
}

void imap_search_updates_run(struct session *s, uint64_t modseq, uint32_t uidnext)
{
	for (struct search_update *u = s->updates; u; u = u->next)
		update_run(s, u, modseq, uidnext);
}

/* CANCELUPDATE tag... (RFC 5267 4.3): every tag must name an update. */
int imap_cmd_cancelupdate(struct session *s, const struct imap_cmd *c)
{
	const struct imap_arg *a;

	if (!c->args)
		return imap_tagged(s, c->tag, "BAD", "CANCELUPDATE \"tag\" ..."), 0;
	for (a = c->args; a; a = a->next) {
		struct search_update *u;

		if (a->type != IMAP_ARG_QUOTED && a->type != IMAP_ARG_LITERAL)
			return imap_tagged(s, c->tag, "BAD", "CANCELUPDATE takes quoted tags"), 0;
		for (u = s->updates; u; u = u->next)
			if (strcmp(u->tag, a->str) == 0)
				break;
		if (!u)
			return imap_tagged(s, c->tag, "NO", "Unknown search update tag"), 0;
	}
	for (a = c->args; a; a = a->next) {
		struct search_update **pu = &s->updates;

		while (*pu && strcmp((*pu)->tag, a->str) != 0)
			pu = &(*pu)->next;
		if (*pu) {
			struct search_update *u = *pu;
			*pu = u->next;
			update_free(u);
		}
	}
	imap_tagged(s, c->tag, "OK", "Updates cancelled");
	return 0;
}

/* A SEARCH ... RETURN (SAVE) that fails leaves "$" empty (RFC 5182 2.1). */
static void search_fail(struct session *s, int save)
{
	if (save)
		imap_view_save_result(s, NULL, 0);
}

int imap_cmd_search(struct session *s, const struct imap_cmd *c, const struct imap_arg *a, int uid)
{
	struct sctx x = {.s = s};
	struct skey_parse kp;
	int esearch, r_min, r_max, r_count, r_all, r_save;
	struct search_ret ret;
	const char *rerr = NULL;
	struct skey *prog;

	if (imap_return_parse(&a, &ret, &rerr) < 0)
		return imap_tagged(s, c->tag, "BAD", "%s", rerr), 0;
	esearch = ret.given;
	r_min = (ret.opts & RET_MIN) != 0;
	r_max = (ret.opts & RET_MAX) != 0;
	r_count = (ret.opts & RET_COUNT) != 0;
	r_all = (ret.opts & RET_ALL) != 0;
	r_save = (ret.opts & RET_SAVE) != 0;
	/* IMAP4rev2 answers every SEARCH with ESEARCH, and no RETURN means
	 * ALL (RFC 9051 6.4.4) */
	if (!esearch && s->rev2)
		esearch = r_all = 1;
	if (a && imap_arg_is(a, "CHARSET")) {
		/* RFC 6855 3: no CHARSET once UTF8=ACCEPT is on */
		if (s->utf8accept)
			return search_fail(s, r_save),
			       imap_tagged(s, c->tag, "BAD", "No CHARSET after ENABLE UTF8=ACCEPT"),
			       0;
		if (!imap_arg_astring(a->next))
			return search_fail(s, r_save),
			       imap_tagged(s, c->tag, "BAD", "CHARSET name"), 0;
		if (strcasecmp(a->next->str, "UTF-8") != 0 &&
		    strcasecmp(a->next->str, "US-ASCII") != 0)
			return search_fail(s, r_save),
			       imap_tagged(s, c->tag, "NO",
					   "[BADCHARSET (UTF-8 US-ASCII)] Unsupported charset"),
			       0;
		a = a->next->next;
	}
	if (!a)
		return search_fail(s, r_save), imap_tagged(s, c->tag, "BAD", "SEARCH needs keys"),
		       0;
	prog = imap_skey_parse(a, &kp);
	if (!prog)
		return search_fail(s, r_save),
		       imap_tagged(s, c->tag, "BAD", "%s", kp.err ? kp.err : "Invalid search"), 0;
	if (kp.used_modseq) {
		x.used_modseq = 1;
		imap_condstore_enable(s);
	}
	if (resolve(&x, prog) < 0) {
		imap_skey_free(prog);
		return search_fail(s, r_save),
		       imap_tagged(s, c->tag, "BAD", "%s", x.err ? x.err : "Invalid search"), 0;
	}
	if (load_entries(&x, prog) < 0) {
		imap_skey_free(prog);
		return search_fail(s, r_save),
		       imap_tagged(s, c->tag, "NO", "[SERVERBUG] %s", store_errmsg(s->srv->st)), 0;
	}
	uint32_t *hits = malloc((x.n ? x.n : 1) * sizeof(*hits));
	uint32_t *huids = malloc((x.n ? x.n : 1) * sizeof(*huids));
	size_t nh = 0;
	uint64_t maxmod = 0, firstmod = 0, lastmod = 0;
	if (!hits || !huids)
		bug("out of memory");
	for (size_t i = 0; i < x.n; i++) {
		long vi = imap_view_find(s, x.e[i].uid);
		if (vi < 0)
			continue; /* not in this session's view yet */
		if (eval(&x, prog, i)) {
			huids[nh] = x.e[i].uid;
			hits[nh++] = uid ? x.e[i].uid : (uint32_t)vi + 1;
			if (x.e[i].modseq > maxmod)
				maxmod = x.e[i].modseq;
			if (nh == 1)
				firstmod = x.e[i].modseq;
			lastmod = x.e[i].modseq;
		}
	}
	if (r_save) {
		/* with MIN and/or MAX alone only those are kept (RFC 5182 2.1) */
		if (nh && (r_min || r_max) && !r_all && !r_count) {
			uint32_t mm[2];
			size_t k = 0;
			if (r_min)
				mm[k++] = huids[0];
			if (r_max && (!r_min || nh > 1))
				mm[k++] = huids[nh - 1];
			imap_view_save_result(s, mm, k);
		} else {
			imap_view_save_result(s, huids, nh);
		}
	}
	if (ret.opts & RET_UPDATE)
		imap_search_update_add(s, c->tag, uid, a, NULL, huids, nh);
	free(huids);
	struct buf out;
	buf_init(&out, 64u * 1024 * 1024);
	if (imap_return_silent(&ret)) {
		/* SAVE alone: no ESEARCH response */
	} else if (esearch) {
		buf_puts(&out, "* ESEARCH (TAG ");
		imap_buf_string(&out, c->tag, strlen(c->tag));
		buf_putc(&out, ')');
		if (uid)
			buf_puts(&out, " UID");
		if (nh && r_min)
			buf_printf(&out, " MIN %u", hits[0]);
		if (nh && r_max)
			buf_printf(&out, " MAX %u", hits[nh - 1]);
		if (r_count)
			buf_printf(&out, " COUNT %zu", nh);
		if (nh && r_all) {
			buf_puts(&out, " ALL ");
			imap_uidset_format(&out, hits, nh);
		}
		if (ret.opts & RET_PARTIAL) {
			/* RFC 5267 4.4: the matches at positions lo..hi */
			buf_printf(&out, " PARTIAL (%u:%u ", ret.lo, ret.hi);
			if (ret.lo <= nh)
				imap_uidset_format(&out, hits + ret.lo - 1,
						   (ret.hi < nh ? ret.hi : nh) - ret.lo + 1);
			else
				buf_puts(&out, "NIL");
			buf_putc(&out, ')');
		}
		if (nh && x.used_modseq) {
			/* RFC 7162 3.1.5: the mod-sequence of what is returned:
			 * MIN and/or MAX alone, their message(s); else all */
			uint64_t ms = maxmod;
			if (!r_all && !r_count && (r_min || r_max))
				ms = r_min && r_max ? (firstmod > lastmod ? firstmod : lastmod)
				     : r_min	    ? firstmod
						    : lastmod;
			buf_printf(&out, " MODSEQ %llu", (unsigned long long)ms);
		}
	} else {
		buf_puts(&out, "* SEARCH");
		for (size_t i = 0; i < nh; i++)
			buf_printf(&out, " %u", hits[i]);
		if (nh && x.used_modseq)
			buf_printf(&out, " (MODSEQ %llu)", (unsigned long long)maxmod);
	}
	if (out.len)
		buf_puts(&out, "\r\n");
	imap_write(s, out.data, out.len);
	buf_free(&out);
	free(hits);
	for (size_t i = 0; i < x.n; i++)
		free(x.e[i].keywords);
	free(x.e);
	store_raw_free(x.raw);
	imap_skey_free(prog);
	imap_tagged(s, c->tag, "OK", "SEARCH completed");
	return 0;
}
