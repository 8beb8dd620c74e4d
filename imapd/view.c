/*
 * The session's view of its selected mailbox: the sequence number <-> UID
 * map with each message's flags and modseq, kept in step with the store
 * by imap_view_sync(), which also tells the client what other sessions and
 * processes changed (EXISTS, EXPUNGE or VANISHED, FETCH FLAGS).  The
 * commands (mailbox.c, fetch.c, search.c) read sequence sets and flags
 * through it, and a tagged OK syncs it first.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "array.h"
#include "conn.h"
#include "imapd.h"
#include "log.h"
#include "seqset.h"
#include "store.h"
#include "store_mailbox.h"

struct sync_ctx {
	struct session *s;
	struct buf out;
	uint32_t *uids;
	size_t n, cap;
	size_t added;
};

void imap_flags_format(struct buf *b, unsigned flags, const char *keywords)
{
	static const struct {
		unsigned bit;
		const char *name;
	} names[] = {{STORE_F_SEEN, "\\Seen"},	     {STORE_F_ANSWERED, "\\Answered"},
		     {STORE_F_FLAGGED, "\\Flagged"}, {STORE_F_DELETED, "\\Deleted"},
		     {STORE_F_DRAFT, "\\Draft"},     {VIEW_RECENT, "\\Recent"}};
	int first = 1;

	buf_putc(b, '(');
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (flags & names[i].bit) {
			if (!first)
				buf_putc(b, ' ');
			buf_puts(b, names[i].name);
			first = 0;
		}
	}
	if (keywords && *keywords) {
		if (!first)
			buf_putc(b, ' ');
		buf_puts(b, keywords);
	}
	buf_putc(b, ')');
}

/* Appends uids[0..n) (sorted) as a compact set "1:3,7". */
void imap_uidset_format(struct buf *b, const uint32_t *uids, size_t n)
{
	for (size_t i = 0; i < n;) {
		size_t j = i;
		while (j + 1 < n && uids[j + 1] == uids[j] + 1)
			j++;
		if (i)
			buf_putc(b, ',');
		if (j > i)
			buf_printf(b, "%u:%u", uids[i], uids[j]);
		else
			buf_printf(b, "%u", uids[i]);
		i = j + 1;
	}
}

/* --- keywords announced in FLAGS ------------------------------------------ */

/* The keywords every mailbox lists (clients set these without asking). */
#define KW_DEFAULT " $Forwarded $Junk $NotJunk $MDNSent"
/* Bound on the announced set: STORE takes at most 64 keywords per entry,
 * but a mailbox may collect many more over time. */
#define KW_MAX (256u * 1024)

static int kw_known(const struct session *s, const char *kw, size_t n)
{
	const char *p = buf_cstr(&s->kw);

	while ((p = strchr(p, ' ')) != NULL) {
		p++;
		size_t len = strcspn(p, " ");
		if (len == n && strncasecmp(p, kw, n) == 0)
			return 1;
		p += len;
	}
	return 0;
}

void imap_view_kw_reset(struct session *s)
{
	buf_free(&s->kw);
	buf_init(&s->kw, KW_MAX);
	buf_puts(&s->kw, KW_DEFAULT);
}

int imap_view_kw_add(struct session *s, const char *keywords)
{
	int added = 0;

	for (const char *p = keywords; p && *p;) {
		size_t n = strcspn(p, " ");
		if (n && !kw_known(s, p, n) &&
		    (buf_putc(&s->kw, ' ') == 0 && buf_append(&s->kw, p, n) == 0))
			added++;
		p += n;
		while (*p == ' ')
			p++;
	}
	return added;
}

void imap_view_kw_lines(struct session *s, struct buf *out)
{
	buf_printf(out, "* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft%s)\r\n",
		   buf_cstr(&s->kw));
	if (s->readonly)
		buf_puts(out, "* OK [PERMANENTFLAGS ()] Read-only mailbox\r\n");
	else
		buf_printf(out,
			   "* OK [PERMANENTFLAGS (\\Answered \\Flagged \\Deleted \\Seen "
			   "\\Draft%s \\*)] Flags permitted\r\n",
			   buf_cstr(&s->kw));
}

void imap_view_kw_announce(struct session *s, struct buf *out, const char *keywords)
{
	if (!keywords || !*keywords || s->state != ST_SELECTED)
		return;
	if (imap_view_kw_add(s, keywords) == 0)
		return;
	if (out) {
		imap_view_kw_lines(s, out);
	} else {
		struct buf b;
		buf_init(&b, 2 * KW_MAX);
		imap_view_kw_lines(s, &b);
		imap_write(s, b.data, b.len);
		buf_free(&b);
	}
}

void imap_emailid(int64_t message_id, uint64_t size, int64_t internaldate, char *out, size_t outlen)
{
	snprintf(out, outlen, "M%llx_%llx_%llx", (unsigned long long)message_id,
		 (unsigned long long)size, (unsigned long long)internaldate);
}

void imap_mailboxid(int64_t mailbox_id, uint32_t uidvalidity, char *out, size_t outlen)
{
	snprintf(out, outlen, "F%llx_%x", (unsigned long long)mailbox_id, uidvalidity);
}

void imap_condstore_enable(struct session *s)
{
	if (s->condstore)
		return;
	s->condstore = 1;
	if (s->state == ST_SELECTED)
		imap_printf(s, "* OK [HIGHESTMODSEQ %llu] Highest\r\n",
			    (unsigned long long)s->modseq);
}

/* --- the view ------------------------------------------------------------- */

void imap_view_clear(struct session *s)
{
	imap_view_save_result(s, NULL, 0);
	imap_search_updates_free(s);
	buf_free(&s->kw);
	free(s->msgs);
	s->msgs = NULL;
	s->nmsgs = s->capmsgs = 0;
	s->mbox_id = 0;
}

long imap_view_find(const struct session *s, uint32_t uid)
{
	size_t lo = 0, hi = s->nmsgs;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (s->msgs[mid].uid < uid)
			lo = mid + 1;
		else if (s->msgs[mid].uid > uid)
			hi = mid;
		else
			return (long)mid;
	}
	return -1;
}

static void view_push(struct session *s, uint32_t uid, unsigned flags, uint64_t modseq)
{
	if (ARRAY_GROW(s->msgs, s->capmsgs, s->nmsgs + 1, 256) < 0)
		bug("out of memory");
	s->msgs[s->nmsgs].uid = uid;
	s->msgs[s->nmsgs].flags = flags;
	s->msgs[s->nmsgs].modseq = modseq;
	s->nmsgs++;
}

static int load_cb(void *arg, const struct store_entry *e)
{
	struct session *s = arg;

	imap_view_kw_add(s, e->keywords);
	view_push(s, e->uid, e->flags, e->modseq);
	return 0;
}

int imap_view_load(struct session *s)
{
	imap_view_kw_reset(s);
	return store_entries(s->srv->st, s->mbox_id, 1, 0, load_cb, s) < 0 ? -1 : 0;
}

static int collect_uid(void *arg, uint32_t uid)
{
	struct sync_ctx *x = arg;

	if (ARRAY_GROW(x->uids, x->cap, x->n + 1, 64) < 0)
		bug("out of memory");
	x->uids[x->n++] = uid;
	return 0;
}

static int changed_cb(void *arg, const struct store_entry *e)
{
	struct sync_ctx *x = arg;
	struct session *s = x->s;
	long i = imap_view_find(s, e->uid);

	if (i >= 0) {
		struct view_msg *m = &s->msgs[i];
		if (m->modseq == e->modseq && (m->flags & STORE_F_ALL) == e->flags)
			return 0;
		m->modseq = e->modseq;
		m->flags = (m->flags & VIEW_RECENT) | e->flags;
		imap_view_kw_announce(s, &x->out, e->keywords);
		buf_printf(&x->out, "* %ld FETCH (", i + 1);
		if (s->qresync)
			buf_printf(&x->out, "UID %u ", e->uid);
		buf_puts(&x->out, "FLAGS ");
		imap_flags_format(&x->out, m->flags, e->keywords);
		if (s->condstore)
			buf_printf(&x->out, " MODSEQ (%llu)", (unsigned long long)e->modseq);
		buf_puts(&x->out, ")\r\n");
	} else if (s->nmsgs == 0 || e->uid > s->msgs[s->nmsgs - 1].uid) {
		/* new mail with a new keyword: FLAGS goes before its EXISTS */
		imap_view_kw_announce(s, &x->out, e->keywords);
		view_push(s, e->uid, e->flags, e->modseq);
		x->added++;
	}
	return 0;
}

void imap_view_sync(struct session *s, int expunges)
{
	struct store *st = s->srv->st;
	struct store_mailbox mb;
	struct sync_ctx x = {.s = s};

	if (s->state != ST_SELECTED || !s->c || s->dead)
		return;
	if (store_mailbox_get_id(st, s->mbox_id, &mb) != 0) {
		/* deleted under us: nothing sensible is left to show */
		imap_printf(s, "* BYE Mailbox was deleted\r\n");
		s->dead = 1;
		conn_close(s->c, 1, "mailbox deleted");
		return;
	}
	if (mb.highestmodseq == s->modseq && mb.uidnext == s->uidnext) {
		/* the session's own STORE moved s->modseq along */
		if (expunges && s->updates)
			imap_search_updates_run(s, mb.highestmodseq, mb.uidnext);
		return;
	}
	buf_init(&x.out, 64u * 1024 * 1024);
	if (expunges) {
		store_vanished(st, s->mbox_id, s->modseq, collect_uid, &x);
		size_t w = 0, gone = 0;
		struct buf vb;
		buf_init(&vb, 16u * 1024 * 1024);
		for (size_t r = 0; r < s->nmsgs; r++) {
			uint32_t uid = s->msgs[r].uid;
			/* x.uids is sorted: walk both lists together */
			while (gone < x.n && x.uids[gone] < uid)
				gone++;
			if (gone < x.n && x.uids[gone] == uid) {
				if (s->qresync) {
					if (vb.len)
						buf_putc(&vb, ',');
					buf_printf(&vb, "%u", uid);
				} else {
					buf_printf(&x.out, "* %zu EXPUNGE\r\n", w + 1);
				}
				continue;
			}
			s->msgs[w++] = s->msgs[r];
		}
		s->nmsgs = w;
		if (vb.len)
			buf_printf(&x.out, "* VANISHED %s\r\n", vb.data);
		buf_free(&vb);
	}
	size_t before = s->nmsgs;
	store_entries_changed(st, s->mbox_id, 1, 0, s->modseq, changed_cb, &x);
	if (x.added) {
		uint32_t mark = 0;
		unsigned recent = 0;
		if (s->rev2) {
			/* IMAP4rev2: no \Recent, no RECENT (RFC 9051 7.4.1) */
			buf_printf(&x.out, "* %zu EXISTS\r\n", s->nmsgs);
		} else {
			if (!s->readonly &&
			    store_mailbox_claim_recent(st, s->mbox_id, &mark) == 0) {
				for (size_t i = before; i < s->nmsgs; i++)
					if (s->msgs[i].uid > mark)
						s->msgs[i].flags |= VIEW_RECENT;
			}
			for (size_t i = 0; i < s->nmsgs; i++)
				recent += !!(s->msgs[i].flags & VIEW_RECENT);
			buf_printf(&x.out, "* %zu EXISTS\r\n* %u RECENT\r\n", s->nmsgs, recent);
		}
	}
	if (expunges)
		s->modseq = mb.highestmodseq;
	s->uidnext = mb.uidnext;
	imap_write(s, x.out.data, x.out.len);
	buf_free(&x.out);
	free(x.uids);
	/* CONTEXT=SEARCH: after EXPUNGE/EXISTS, so the positions and the
	 * messages named are those the client knows */
	if (expunges && s->updates)
		imap_search_updates_run(s, mb.highestmodseq, mb.uidnext);
}

void imap_view_save_result(struct session *s, const uint32_t *uids, size_t n)
{
	free(s->saved);
	s->saved = NULL;
	s->nsaved = 0;
	if (!n)
		return;
	s->saved = malloc(n * sizeof(*s->saved));
	if (!s->saved)
		bug("out of memory");
	memcpy(s->saved, uids, n * sizeof(*uids));
	s->nsaved = n;
}

int imap_view_select_set(struct session *s, const char *set, int uid, size_t **idx, size_t *n)
{
	struct seqset ss;
	size_t *out, k = 0;

	*idx = NULL;
	*n = 0;
	if (strcmp(set, "$") == 0) {
		/* RFC 5182: the messages of the saved result still here */
		out = malloc((s->nsaved ? s->nsaved : 1) * sizeof(*out));
		if (!out)
			bug("out of memory");
		for (size_t i = 0; i < s->nsaved; i++) {
			long vi = imap_view_find(s, s->saved[i]);
			if (vi >= 0)
				out[k++] = (size_t)vi;
		}
		*idx = out;
		*n = k;
		return 0;
	}
	if (seqset_parse(set, &ss) < 0)
		return -1;
	if (uid)
		seqset_resolve(&ss, s->nmsgs ? s->msgs[s->nmsgs - 1].uid : 0);
	else
		seqset_resolve(&ss, (uint32_t)s->nmsgs);
	if (!uid) {
		/* message numbers must exist (RFC 3501 6.4.8) */
		for (size_t i = 0; i < ss.n; i++) {
			if (ss.r[i].hi > s->nmsgs || ss.r[i].lo == 0) {
				seqset_free(&ss);
				return -1;
			}
		}
	}
	out = malloc((s->nmsgs ? s->nmsgs : 1) * sizeof(*out));
	if (!out)
		bug("out of memory");
	for (size_t i = 0; i < s->nmsgs; i++)
		if (seqset_contains(&ss, uid ? s->msgs[i].uid : (uint32_t)(i + 1)))
			out[k++] = i;
	seqset_free(&ss);
	*idx = out;
	*n = k;
	return 0;
}

/* --- APPEND ----------------------------------------------------------------- */

int imap_flags_parse(const struct imap_arg *a, unsigned *flags, struct buf *kw)
{
	const struct imap_arg *l = a->type == IMAP_ARG_LIST ? a->child : a;

	*flags = 0;
	for (; l; l = a->type == IMAP_ARG_LIST ? l->next : NULL) {
		if (l->type != IMAP_ARG_ATOM)
			return -1;
		if (l->str[0] == '\\') {
			if (strcasecmp(l->str, "\\Seen") == 0)
				*flags |= STORE_F_SEEN;
			else if (strcasecmp(l->str, "\\Answered") == 0)
				*flags |= STORE_F_ANSWERED;
			else if (strcasecmp(l->str, "\\Flagged") == 0)
				*flags |= STORE_F_FLAGGED;
			else if (strcasecmp(l->str, "\\Deleted") == 0)
				*flags |= STORE_F_DELETED;
			else if (strcasecmp(l->str, "\\Draft") == 0)
				*flags |= STORE_F_DRAFT;
			else if (strcasecmp(l->str, "\\Recent") != 0)
				return -1;
			continue;
		}
		for (const char *p = l->str; *p; p++)
			if (strchr("[]*%\\", *p) || (unsigned char)*p >= 0x80)
				return -1;
		if (kw->len)
			buf_putc(kw, ' ');
		if (buf_puts(kw, l->str) < 0)
			return -1;
	}
	return 0;
}

int imap_view_vanished_in_set(struct session *s, const char *set, uint64_t since, struct buf *out)
{
	struct sync_ctx x = {.s = s};
	struct seqset ss;
	size_t k = 0;

	if (seqset_parse(set, &ss) < 0)
		return 0;
	seqset_resolve(&ss, s->uidnext ? s->uidnext - 1 : 0);
	store_vanished(s->srv->st, s->mbox_id, since, collect_uid, &x);
	for (size_t i = 0; i < x.n; i++)
		if (seqset_contains(&ss, x.uids[i]))
			x.uids[k++] = x.uids[i];
	imap_uidset_format(out, x.uids, k);
	seqset_free(&ss);
	free(x.uids);
	return (int)k;
}

void imap_tagged(struct session *s, const char *tag, const char *status, const char *fmt, ...)
{
	struct buf text;
	va_list ap;

	buf_init(&text, IMAPD_MAXOUT);
	va_start(ap, fmt);
	buf_vprintf(&text, fmt, ap);
	va_end(ap);
	/* untagged news about the mailbox goes before the tagged OK */
	if (strcmp(status, "OK") == 0 && s->state == ST_SELECTED && !(s->cmd_flags & F_NOSYNC))
		imap_view_sync(s, !(s->cmd_flags & F_NOEXPUNGE));
	imap_printf(s, "%s %s %s\r\n", tag, status, text.data);
	buf_free(&text);
}

void imapd_changed(struct imapd *srv, int64_t mailbox_id)
{
	for (struct session *s = srv->sessions; s; s = s->next) {
		if (s->mode == MODE_IDLE && s->state == ST_SELECTED &&
		    (mailbox_id == 0 || s->mbox_id == mailbox_id))
			imap_view_sync(s, 1);
	}
}

struct qr_ctx {
	struct session *s;
	struct buf out;
};

static int qr_fetch_cb(void *arg, const struct store_entry *e)
{
	struct qr_ctx *q = arg;
	long i = imap_view_find(q->s, e->uid);

	if (i < 0)
		return 0;
	imap_view_kw_announce(q->s, &q->out, e->keywords);
	buf_printf(&q->out, "* %ld FETCH (UID %u FLAGS ", i + 1, e->uid);
	imap_flags_format(&q->out, e->flags | (q->s->msgs[i].flags & VIEW_RECENT), e->keywords);
	buf_printf(&q->out, " MODSEQ (%llu))\r\n", (unsigned long long)e->modseq);
	return 0;
}

int imap_view_qresync(struct session *s, uint64_t since)
{
	struct sync_ctx x = {.s = s};
	struct qr_ctx q = {.s = s};

	store_vanished(s->srv->st, s->mbox_id, since, collect_uid, &x);
	buf_init(&q.out, 64u * 1024 * 1024);
	if (x.n) {
		buf_puts(&q.out, "* VANISHED (EARLIER) ");
		imap_uidset_format(&q.out, x.uids, x.n);
		buf_puts(&q.out, "\r\n");
	}
	store_entries_changed(s->srv->st, s->mbox_id, 1, 0, since, qr_fetch_cb, &q);
	imap_write(s, q.out.data, q.out.len);
	buf_free(&q.out);
	free(x.uids);
	return 0;
}

static const char *state_name(enum imap_state st)
{
	switch (st) {
	case ST_NOTAUTH:
		return "not-authenticated";
	case ST_AUTH:
		return "authenticated";
	case ST_SELECTED:
		return "selected";
	case ST_LOGOUT:
		return "logout";
	}
	return "?";
}

/* Every state change goes through here, logged by name. */
void imap_set_state(struct session *s, enum imap_state st)
{
	if (s->state != st)
		log_debug(s->sid, "event=state from=%s to=%s", state_name(s->state),
			  state_name(st));
	s->state = st;
}
