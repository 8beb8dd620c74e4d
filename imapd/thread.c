/*
 * THREAD and UID THREAD (RFC 5256 3): ORDEREDSUBJECT and REFERENCES.  The
 * search keys go through search.c; each match's header block is read once
 * for its base subject, sent date, Message-ID, References and In-Reply-To.
 * Containers live in one array and are found by msg-id through a chained
 * hash table; every link made checks for loops first, so hostile
 * References cannot make a cycle.  Per message at most THREAD_MAX_REFS
 * references (the last ones: the nearest ancestors) are used.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "imapd.h"
#include "log.h"
#include "sortkey.h"
#include "store.h"
#include "store_imap.h"

#define THREAD_MAX_REFS 128

struct tnode {
	struct tnode *parent, *child, *next; /* first child, next sibling */
	struct tnode *hnext, *snext;	     /* id and subject hash chains */
	const struct imap_hit *msg;	     /* NULL: a dummy */
	char *id, *subject;		     /* id NULL: not in the id table */
	int reply;
	int64_t date;
	size_t root; /* index in the root set */
};

struct tctx {
	struct tnode **all;
	size_t nall, capall;
	struct tnode **tab, **stab;
	size_t tabsize;
	/* the msg-ids of one header value */
	char *ids[THREAD_MAX_REFS];
	size_t nids;
};

static uint32_t hash(const char *s)
{
	uint32_t h = 2166136261u;

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 16777619u;
	return h;
}

static struct tnode *node_new(struct tctx *x)
{
	struct tnode *n = calloc(1, sizeof(*n));

	if (!n)
		bug("out of memory");
	if (x->nall == x->capall) {
		x->capall = x->capall ? 2 * x->capall : 256;
		x->all = realloc(x->all, x->capall * sizeof(*x->all));
		if (!x->all)
			bug("out of memory");
	}
	x->all[x->nall++] = n;
	return n;
}

/* The container of id, made (a dummy) when there is none. */
static struct tnode *by_id(struct tctx *x, const char *id)
{
	uint32_t b = hash(id) % x->tabsize;

	for (struct tnode *n = x->tab[b]; n; n = n->hnext)
		if (strcmp(n->id, id) == 0)
			return n;
	struct tnode *n = node_new(x);
	n->id = strdup(id);
	if (!n->id)
		bug("out of memory");
	n->hnext = x->tab[b];
	x->tab[b] = n;
	return n;
}

static void collect(void *arg, const char *id, size_t len)
{
	struct tctx *x = arg;
	char *c = strndup(id, len);

	if (!c)
		bug("out of memory");
	if (x->nids == THREAD_MAX_REFS) {
		/* keep the last ones: the nearest ancestors */
		free(x->ids[0]);
		memmove(x->ids, x->ids + 1, (THREAD_MAX_REFS - 1) * sizeof(x->ids[0]));
		x->nids--;
	}
	x->ids[x->nids++] = c;
}

static void ids_free(struct tctx *x)
{
	for (size_t i = 0; i < x->nids; i++)
		free(x->ids[i]);
	x->nids = 0;
}

static void header_ids(struct tctx *x, const char *h, size_t hl, const char *field)
{
	struct buf v;

	buf_init(&v, 256u * 1024);
	if (imap_header_value(h, hl, field, &v) == 1 && v.len)
		imap_msgids(v.data, v.len, collect, x);
	buf_free(&v);
}

/* 1 when a is b or below b: making b a child of a would close a loop. */
static int is_below(const struct tnode *a, const struct tnode *b)
{
	for (; a; a = a->parent)
		if (a == b)
			return 1;
	return 0;
}

static void unlink_node(struct tnode *c)
{
	if (!c->parent)
		return;
	for (struct tnode **pp = &c->parent->child; *pp; pp = &(*pp)->next)
		if (*pp == c) {
			*pp = c->next;
			break;
		}
	c->parent = NULL;
	c->next = NULL;
}

static void link_node(struct tnode *p, struct tnode *c)
{
	unlink_node(c);
	c->parent = p;
	c->next = p->child;
	p->child = c;
}

/* Step 1 of REFERENCES for one message. */
static void add_message(struct tctx *x, struct tnode *m, const char *h, size_t hl)
{
	struct tnode *c = NULL, *prev = NULL;

	header_ids(x, h, hl, "Message-ID");
	if (x->nids) {
		c = by_id(x, x->ids[0]);
		if (c->msg)
			c = NULL; /* a duplicate Message-ID: a container of its own */
	}
	ids_free(x);
	if (c) {
		/* the container stands for the message from now on */
		c->msg = m->msg;
		c->date = m->date;
		c->subject = m->subject;
		c->reply = m->reply;
		m->subject = NULL;
		m->msg = NULL; /* m stays an empty dummy, pruned later */
		m = c;
	}
	header_ids(x, h, hl, "References");
	if (!x->nids)
		header_ids(x, h, hl, "In-Reply-To");
	for (size_t i = 0; i < x->nids; i++) {
		struct tnode *r = by_id(x, x->ids[i]);
		if (prev && !r->parent && !is_below(prev, r) && r != m)
			link_node(prev, r);
		prev = r;
	}
	ids_free(x);
	if (prev && prev != m && !is_below(prev, m))
		link_node(prev, m);
	else if (!prev)
		unlink_node(m);
}

/* Step 4: dummies without children go, dummies with children give them
 * to their parent (at the root only when there is one child). */
static void prune(struct tnode **list, struct tnode *parent)
{
	for (struct tnode **pp = list; *pp;) {
		struct tnode *n = *pp;
		prune(&n->child, n);
		if (!n->msg && !n->child) {
			*pp = n->next;
			continue;
		}
		if (!n->msg && (parent || !n->child->next)) {
			struct tnode *c = n->child, *last = NULL;
			for (struct tnode *k = c; k; k = k->next) {
				k->parent = parent;
				last = k;
			}
			last->next = n->next;
			*pp = c;
			n->child = NULL;
			pp = &last->next;
			continue;
		}
		pp = &n->next;
	}
}

/* The message a node stands for: itself, or a dummy's first child's
 * (dummies always have children once pruned). */
static const struct tnode *lead(const struct tnode *n)
{
	while (!n->msg)
		n = n->child;
	return n;
}

static int cmp_nodes(const void *pa, const void *pb)
{
	const struct tnode *a = lead(*(struct tnode *const *)pa),
			   *b = lead(*(struct tnode *const *)pb);

	if (a->date != b->date)
		return a->date < b->date ? -1 : 1;
	return a->msg->seq < b->msg->seq ? -1 : a->msg->seq > b->msg->seq;
}

static int cmp_subject(const void *pa, const void *pb)
{
	const struct tnode *a = *(struct tnode *const *)pa, *b = *(struct tnode *const *)pb;
	int r = strcmp(a->subject, b->subject);

	return r ? r : cmp_nodes(pa, pb);
}

/* Sorts a sibling list by sent date (the first child's for a dummy). */
static void sort_list(struct tnode **list, int deep)
{
	size_t n = 0, i = 0;

	for (struct tnode *k = *list; k; k = k->next) {
		if (deep)
			sort_list(&k->child, 1);
		n++;
	}
	if (n < 2)
		return;
	struct tnode **v = malloc(n * sizeof(*v));
	if (!v)
		bug("out of memory");
	for (struct tnode *k = *list; k; k = k->next)
		v[i++] = k;
	qsort(v, n, sizeof(*v), cmp_nodes);
	for (i = 0; i + 1 < n; i++)
		v[i]->next = v[i + 1];
	v[n - 1]->next = NULL;
	*list = v[0];
	free(v);
}

static void chain(struct buf *out, const struct tnode *n, int first, int uid)
{
	for (;;) {
		if (n->msg) {
			buf_printf(out, first ? "%u" : " %u", uid ? n->msg->uid : n->msg->seq);
			first = 0;
		}
		if (!n->child)
			return;
		if (!n->child->next) {
			n = n->child;
			continue;
		}
		if (!first)
			buf_putc(out, ' ');
		for (const struct tnode *c = n->child; c; c = c->next) {
			buf_putc(out, '(');
			chain(out, c, 1, uid);
			buf_putc(out, ')');
		}
		return;
	}
}

/* Step 6: threads whose roots share a base subject are merged. */
static void by_subject(struct tctx *x, struct tnode **roots, size_t nr)
{
	memset(x->stab, 0, x->tabsize * sizeof(*x->stab));
	for (size_t i = 0; i < nr; i++) {
		struct tnode *r = roots[i];
		const struct tnode *l = lead(r);
		if (!l->subject[0])
			continue;
		uint32_t b = hash(l->subject) % x->tabsize;
		struct tnode **pp = &x->stab[b];
		while (*pp && strcmp(lead(*pp)->subject, l->subject) != 0)
			pp = &(*pp)->snext;
		if (!*pp) {
			r->snext = NULL;
			*pp = r;
		} else if ((!r->msg && (*pp)->msg) ||
			   (r->msg && (*pp)->msg && lead(*pp)->reply && !l->reply)) {
			r->snext = (*pp)->snext;
			*pp = r;
		}
	}
	for (size_t i = 0; i < nr; i++) {
		struct tnode *r = roots[i];
		if (!r)
			continue;
		const struct tnode *l = lead(r);
		if (!l->subject[0])
			continue;
		struct tnode **pp = &x->stab[hash(l->subject) % x->tabsize];
		while (strcmp(lead(*pp)->subject, l->subject) != 0)
			pp = &(*pp)->snext;
		struct tnode *t = *pp;
		if (t == r)
			continue;
		roots[i] = NULL;
		if (!t->msg && !r->msg) {
			while (r->child)
				link_node(t, r->child);
		} else if (!t->msg || (l->reply && !lead(t)->reply)) {
			link_node(t, r);
		} else {
			struct tnode *d = node_new(x);
			d->subject = NULL;
			roots[t->root] = d;
			d->root = t->root;
			d->snext = t->snext;
			*pp = d;
			link_node(d, t);
			link_node(d, r);
		}
	}
}

int imap_cmd_thread(struct session *s, const struct imap_cmd *c, const struct imap_arg *a, int uid)
{
	const char *err = NULL;
	struct imap_hit *hits;
	size_t nh;
	int refs, r;

	if (imap_arg_is(a, "REFERENCES"))
		refs = 1;
	else if (imap_arg_is(a, "ORDEREDSUBJECT"))
		refs = 0;
	else
		return imap_tagged(s, c->tag, "BAD", "THREAD REFERENCES or ORDEREDSUBJECT"), 0;
	a = a->next;
	if (!imap_arg_astring(a))
		return imap_tagged(s, c->tag, "BAD", "THREAD needs a charset"), 0;
	if (strcasecmp(a->str, "UTF-8") != 0 && strcasecmp(a->str, "US-ASCII") != 0)
		return imap_tagged(s, c->tag, "NO",
				   "[BADCHARSET (UTF-8 US-ASCII)] Unsupported charset"),
		       0;
	r = imap_search_match(s, a->next, &hits, &nh, &err);
	if (r == -1)
		return imap_tagged(s, c->tag, "BAD", "%s", err), 0;
	if (r < 0)
		return imap_tagged(s, c->tag, "NO", "[SERVERBUG] %s", err), 0;

	struct tctx x = {.tabsize = 2 * nh + 17};
	x.tab = calloc(x.tabsize, sizeof(*x.tab));
	x.stab = calloc(x.tabsize, sizeof(*x.stab));
	if (!x.tab || !x.stab)
		bug("out of memory");
	struct store_raw *raw = store_raw_new(s->srv->st);
	int opened = store_imap_read_begin(s->srv->st);
	struct tnode **msgs = malloc((nh ? nh : 1) * sizeof(*msgs));
	if (!msgs)
		bug("out of memory");
	for (size_t i = 0; i < nh; i++) {
		size_t hl;
		char *hdr = imap_hit_header(s, raw, &hits[i], &hl);
		const char *h = hdr ? hdr : "";
		struct tnode *m = node_new(&x);
		m->msg = &hits[i];
		m->date = imap_hit_date(h, hl, &hits[i]);
		m->subject = imap_subject_key(h, hl, &m->reply);
		msgs[i] = m;
		if (refs)
			add_message(&x, m, h, hl);
		free(hdr);
	}
	store_imap_read_end(s->srv->st, opened);
	store_raw_free(raw);

	/* the root set as one sibling list */
	struct tnode *list = NULL, **tail = &list;
	if (refs) {
		for (size_t i = 0; i < x.nall; i++)
			if (!x.all[i]->parent) {
				*tail = x.all[i];
				tail = &x.all[i]->next;
			}
		*tail = NULL;
		prune(&list, NULL);
		sort_list(&list, 0);
		size_t nr = 0;
		for (struct tnode *k = list; k; k = k->next)
			k->root = nr++;
		struct tnode **roots = malloc((nr ? nr : 1) * sizeof(*roots));
		if (!roots)
			bug("out of memory");
		nr = 0;
		for (struct tnode *k = list; k; k = k->next)
			roots[nr++] = k;
		by_subject(&x, roots, nr);
		tail = &list;
		for (size_t i = 0; i < nr; i++)
			if (roots[i]) {
				roots[i]->parent = NULL;
				*tail = roots[i];
				tail = &roots[i]->next;
			}
		*tail = NULL;
		free(roots);
		for (struct tnode *k = list; k; k = k->next)
			sort_list(&k->child, 1);
	} else {
		/* ORDEREDSUBJECT: by base subject, then date; each run of one
		 * subject is a thread, its first message the parent of the rest,
		 * and the threads by the date of their first message */
		if (nh > 1)
			qsort(msgs, nh, sizeof(*msgs), cmp_subject);
		struct tnode *prevroot = NULL, **cp = NULL;
		for (size_t i = 0; i < nh; i++) {
			struct tnode *k = msgs[i];
			if (prevroot && strcmp(prevroot->subject, k->subject) == 0) {
				*cp = k;
				cp = &k->next;
				k->parent = prevroot;
			} else {
				*tail = k;
				tail = &k->next;
				prevroot = k;
				cp = &k->child;
			}
		}
		*tail = NULL;
		sort_list(&list, 0);
	}

	struct buf out;
	buf_init(&out, 64u * 1024 * 1024);
	buf_puts(&out, "* THREAD");
	if (list)
		buf_putc(&out, ' ');
	for (struct tnode *k = list; k; k = k->next) {
		buf_putc(&out, '(');
		chain(&out, k, 1, uid);
		buf_putc(&out, ')');
	}
	buf_puts(&out, "\r\n");
	imap_write(s, out.data, out.len);
	buf_free(&out);
	for (size_t i = 0; i < x.nall; i++) {
		free(x.all[i]->id);
		free(x.all[i]->subject);
		free(x.all[i]);
	}
	free(x.all);
	free(x.tab);
	free(x.stab);
	free(msgs);
	free(hits);
	imap_tagged(s, c->tag, "OK", "THREAD completed");
	return 0;
}
