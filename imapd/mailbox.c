/*
 * Mailbox commands: SELECT, EXAMINE, CREATE, DELETE, RENAME, SUBSCRIBE,
 * LIST, LSUB, STATUS, APPEND, EXPUNGE, CLOSE, UNSELECT, COPY, MOVE.  The
 * selected mailbox's view (sequence numbers, flags) is view.c.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "array.h"
#include "conn.h"
#include "imapd.h"
#include "imapdate.h"
#include "log.h"
#include "mutf7.h"
#include "seqset.h"
#include "store.h"
#include "store_deliver.h"
#include "store_mailbox.h"
#include "strnum.h"
#include "utf8.h"

/* --- names ---------------------------------------------------------------- */

/* Puts the UTF-8 name in b into Normalization Form C (RFC 9051 5.1 and
 * RFC 5198: a name typed with a decomposed "u" + U+0308 and one with the
 * precomposed U+00FC are one mailbox).  Names are stored in NFC, so every
 * name a client sends is normalised before it is looked up.  Returns 0,
 * or -1 when b is not UTF-8 or the result does not fit. */
static int mbox_nfc(struct buf *b)
{
	struct buf n;
	int r = 0;

	for (size_t i = 0; i < b->len; i++) {
		if ((unsigned char)b->data[i] >= 0x80) {
			buf_init(&n, STORE_MBOX_MAX);
			r = utf8_nfc(b->data, b->len, &n);
			if (r == 0) {
				buf_reset(b);
				r = buf_append(b, n.data, n.len) < 0 ? -1 : 0;
			}
			buf_free(&n);
			break;
		}
	}
	return r;
}

int imap_mbox_from_wire(const struct session *s, const struct imap_arg *a, char *out, size_t outlen)
{
	struct buf b;
	int r = -1;

	if (!imap_arg_astring(a) || a->len == 0)
		return -1;
	if (strcasecmp(a->str, "INBOX") == 0) {
		snprintf(out, outlen, "INBOX");
		return 0;
	}
	buf_init(&b, STORE_MBOX_MAX);
	/* IMAP4rev2 and UTF8=ACCEPT name mailboxes in UTF-8: "&" is itself
	 * then (RFC 9051 5.1, RFC 6855 3) */
	if ((s->utf8 ? buf_append(&b, a->str, a->len) : mutf7_decode(a->str, a->len, &b)) == 0 &&
	    mbox_nfc(&b) == 0 && b.len < outlen && mutf7_name_valid(b.data, b.len)) {
		/* a trailing delimiter names the same mailbox (RFC 3501 6.3.3) */
		while (b.len > 1 && b.data[b.len - 1] == STORE_MBOX_SEP)
			b.data[--b.len] = '\0';
		memcpy(out, b.data, b.len + 1);
		if (strncasecmp(out, "INBOX", 5) == 0 &&
		    (out[5] == '\0' || out[5] == STORE_MBOX_SEP))
			memcpy(out, "INBOX", 5);
		r = 0;
	}
	buf_free(&b);
	return r;
}

int imap_mbox_given(const struct session *s, const struct imap_arg *a, const char *name,
		    char *given, size_t len)
{
	struct buf b;
	int r = 0;

	if (!imap_arg_astring(a))
		return 0;
	buf_init(&b, STORE_MBOX_MAX * 2);
	if ((s->utf8 ? buf_append(&b, a->str, a->len) : mutf7_decode(a->str, a->len, &b)) == 0 &&
	    b.len > 0 && b.len < len) {
		memcpy(given, b.data, b.len + 1);
		/* INBOX in another case is INBOX, not a new spelling */
		if (strncasecmp(given, "INBOX", 5) == 0 &&
		    (given[5] == '\0' || given[5] == STORE_MBOX_SEP))
			memcpy(b.data, "INBOX", 5);
		r = strcmp(b.data, name) != 0;
	}
	buf_free(&b);
	return r;
}

void imap_mbox_to_wire(const struct session *s, struct buf *out, const char *name)
{
	struct buf b;

	if (s->utf8) {
		imap_buf_string_utf8(out, name, strlen(name));
		return;
	}
	buf_init(&b, 4 * STORE_MBOX_MAX);
	if (mutf7_encode(name, strlen(name), &b) < 0) {
		buf_reset(&b);
		buf_puts(&b, name); /* cannot happen: the store holds UTF-8 */
	}
	imap_buf_string(out, b.data, b.len);
	buf_free(&b);
}

struct select_list_ctx {
	const char *name;
	char attrs[64];
};

static int select_list_cb(void *arg, const struct store_mailbox_info *mi)
{
	struct select_list_ctx *x = arg;

	if (strcmp(mi->name, x->name) == 0)
		snprintf(x->attrs, sizeof(x->attrs), "%s%s%s", mi->attributes,
			 mi->attributes[0] && mi->special_use[0] ? " " : "", mi->special_use);
	return 0;
}

/* IMAP4rev2's SELECT names the mailbox in a LIST response with its
 * attributes (RFC 9051 6.3.2); CREATE and RENAME do when the name was
 * normalised.  given: the name as the client spelled it when the server
 * changed it (NFC, a trailing delimiter), sent as OLDNAME (RFC 9051
 * 6.3.4, 7.3.1; Dovecot does the same for a name NFC changed), else NULL. */
static void select_list(struct session *s, const char *name, const char *given)
{
	struct select_list_ctx x = {.name = name};
	struct buf out;

	store_mailbox_list(s->srv->st, s->user_id, select_list_cb, &x);
	buf_init(&out, 64 * 1024);
	buf_printf(&out, "* LIST (%s) \"/\" ", x.attrs);
	imap_mbox_to_wire(s, &out, name);
	if (given) {
		buf_puts(&out, " (\"OLDNAME\" (");
		imap_mbox_to_wire(s, &out, given);
		buf_puts(&out, "))");
	}
	buf_puts(&out, "\r\n");
	imap_write(s, out.data, out.len);
	buf_free(&out);
}

int imap_cmd_select(struct session *s, const struct imap_cmd *c, int examine)
{
	struct store *st = s->srv->st;
	struct store_mailbox mb;
	char name[STORE_MBOX_MAX + 1];
	const struct imap_arg *params = c->args ? c->args->next : NULL;
	uint64_t qr_uidvalidity = 0, qr_modseq = 0;
	int want_qresync = 0;
	int r;

	if (c->nargs < 1 || c->nargs > 2 || (params && params->type != IMAP_ARG_LIST))
		return imap_tagged(s, c->tag, "BAD", "%s mailbox [(parameters)]", c->name), 0;
	if (imap_mbox_from_wire(s, c->args, name, sizeof(name)) < 0)
		return imap_tagged(s, c->tag, "NO", "[CANNOT] Invalid mailbox name"), 0;
	for (const struct imap_arg *p = params ? params->child : NULL; p; p = p->next) {
		if (imap_arg_is(p, "CONDSTORE")) {
			s->condstore = 1;
		} else if (imap_arg_is(p, "QRESYNC") && p->next && p->next->type == IMAP_ARG_LIST) {
			const struct imap_arg *q = p->next->child;
			uint64_t v;
			if (!s->qresync)
				return imap_tagged(s, c->tag, "BAD", "ENABLE QRESYNC first"), 0;
			if (!q || !q->next || strnum_u64(q->str, UINT32_MAX, &v) < 0)
				return imap_tagged(s, c->tag, "BAD", "Bad QRESYNC parameters"), 0;
			qr_uidvalidity = v;
			if (strnum_u64(q->next->str, UINT64_MAX, &qr_modseq) < 0)
				return imap_tagged(s, c->tag, "BAD", "Bad QRESYNC parameters"), 0;
			want_qresync = 1;
			p = p->next;
		} else {
			return imap_tagged(s, c->tag, "BAD", "Unknown SELECT parameter"), 0;
		}
	}
	if (s->state == ST_SELECTED) {
		imap_view_clear(s);
		imap_set_state(s, ST_AUTH);
		/* RFC 7162 3.2.11; in IMAP4rev2 always (RFC 9051 7.1) */
		if (s->condstore || s->rev2)
			imap_printf(s, "* OK [CLOSED] Previous mailbox closed\r\n");
	}
	r = store_mailbox_get(st, s->user_id, name, &mb);
	if (r == STORE_NOTFOUND)
		return imap_tagged(s, c->tag, "NO", "[NONEXISTENT] No such mailbox"), 0;
	if (r < 0)
		return imap_tagged(s, c->tag, "NO", "[SERVERBUG] %s", store_errmsg(st)), 0;
	s->mbox_id = mb.id;
	s->readonly = examine;
	s->uidvalidity = mb.uidvalidity;
	s->uidnext = mb.uidnext;
	s->modseq = mb.highestmodseq;
	snprintf(s->mbox_name, sizeof(s->mbox_name), "%s", mb.name);
	if (imap_view_load(s) < 0) {
		imap_view_clear(s);
		return imap_tagged(s, c->tag, "NO", "[SERVERBUG] %s", store_errmsg(st)), 0;
	}
	uint32_t mark = mb.recent_uid;
	/* IMAP4rev2 has no \Recent: such a session claims none, so the
	 * IMAP4rev1 sessions still see new messages as recent */
	int claim = !examine && !s->rev2;
	if (claim)
		store_mailbox_claim_recent(st, mb.id, &mark);
	unsigned recent = 0;
	uint32_t first_unseen = 0;
	for (size_t i = 0; i < s->nmsgs; i++) {
		if (s->msgs[i].uid > mark && claim) {
			s->msgs[i].flags |= VIEW_RECENT;
			recent++;
		}
		if (!first_unseen && !(s->msgs[i].flags & STORE_F_SEEN))
			first_unseen = (uint32_t)i + 1;
	}
	if (examine)
		recent = mb.recent;
	imap_set_state(s, ST_SELECTED);
	{
		/* the keywords in use are listed too (RFC 3501 7.2.6) */
		struct buf fl;
		buf_init(&fl, 1u << 20);
		imap_view_kw_lines(s, &fl);
		imap_write(s, fl.data, fl.len);
		buf_free(&fl);
	}
	if (s->rev2) {
		/* RFC 9051 6.3.2: EXISTS and a LIST of the mailbox; RECENT and
		 * UNSEEN are gone */
		char given[STORE_MBOX_MAX * 2 + 1];
		imap_printf(s, "* %zu EXISTS\r\n", s->nmsgs);
		select_list(s, mb.name,
			    imap_mbox_given(s, c->args, mb.name, given, sizeof(given)) ? given
										       : NULL);
	} else {
		imap_printf(s, "* %zu EXISTS\r\n* %u RECENT\r\n", s->nmsgs, recent);
		if (first_unseen)
			imap_printf(s, "* OK [UNSEEN %u] First unseen\r\n", first_unseen);
	}
	imap_printf(s,
		    "* OK [UIDVALIDITY %u] UIDs valid\r\n* OK [UIDNEXT %u] Predicted next UID\r\n"
		    "* OK [HIGHESTMODSEQ %llu] Highest\r\n",
		    mb.uidvalidity, mb.uidnext, (unsigned long long)mb.highestmodseq);
	{
		char id[64];
		imap_mailboxid(mb.id, mb.uidvalidity, id, sizeof(id));
		imap_printf(s, "* OK [MAILBOXID (%s)] Ok\r\n", id);
	}
	if (want_qresync && qr_uidvalidity == mb.uidvalidity)
		imap_view_qresync(s, qr_modseq);
	s->cmd_flags = 0;
	imap_tagged(s, c->tag, "OK", "[%s] %s completed", examine ? "READ-ONLY" : "READ-WRITE",
		    c->name);
	return 0;
}

/* --- CREATE / DELETE / RENAME / SUBSCRIBE --------------------------------- */

static int one_name(struct session *s, const struct imap_cmd *c, char *name, size_t len)
{
	if (c->nargs != 1) {
		imap_tagged(s, c->tag, "BAD", "%s mailbox", c->name);
		return -1;
	}
	if (imap_mbox_from_wire(s, c->args, name, len) < 0) {
		imap_tagged(s, c->tag, "NO", "[CANNOT] Invalid mailbox name");
		return -1;
	}
	return 0;
}

int imap_cmd_create(struct session *s, const struct imap_cmd *c)
{
	char name[STORE_MBOX_MAX + 1];
	int r;

	if (c->nargs == 2 && c->args->next->type == IMAP_ARG_LIST) {
		/* CREATE-SPECIAL-USE parameters are not offered; refuse them */
		return imap_tagged(s, c->tag, "NO", "[CANNOT] Parameters not supported"), 0;
	}
	if (one_name(s, c, name, sizeof(name)) < 0)
		return 0;
	r = store_mailbox_create(s->srv->st, s->user_id, name, NULL);
	if (r == STORE_EXISTS)
		return imap_tagged(s, c->tag, "NO", "[ALREADYEXISTS] Mailbox exists"), 0;
	if (r < 0)
		return imap_tagged(s, c->tag, "NO", "[CANNOT] %s", store_errmsg(s->srv->st)), 0;
	struct store_mailbox mb;
	char given[STORE_MBOX_MAX * 2 + 1];
	if (s->rev2 && imap_mbox_given(s, c->args, name, given, sizeof(given)))
		select_list(s, name, given); /* the name was normalised */
	if (store_mailbox_get(s->srv->st, s->user_id, name, &mb) == 0) {
		/* OBJECTID (RFC 8474 4.1) */
		char id[64];
		imap_mailboxid(mb.id, mb.uidvalidity, id, sizeof(id));
		imap_tagged(s, c->tag, "OK", "[MAILBOXID (%s)] CREATE completed", id);
	} else {
		imap_tagged(s, c->tag, "OK", "CREATE completed");
	}
	return 0;
}

int imap_cmd_delete(struct session *s, const struct imap_cmd *c)
{
	char name[STORE_MBOX_MAX + 1];
	int r;

	if (one_name(s, c, name, sizeof(name)) < 0)
		return 0;
	if (strcmp(name, "INBOX") == 0)
		return imap_tagged(s, c->tag, "NO", "[CANNOT] INBOX cannot be deleted"), 0;
	if (s->state == ST_SELECTED && strcmp(name, s->mbox_name) == 0) {
		imap_view_clear(s);
		imap_set_state(s, ST_AUTH);
	}
	r = store_mailbox_delete(s->srv->st, s->user_id, name);
	if (r == STORE_NOTFOUND)
		return imap_tagged(s, c->tag, "NO", "[NONEXISTENT] No such mailbox"), 0;
	if (r < 0)
		return imap_tagged(s, c->tag, "NO", "[CANNOT] %s", store_errmsg(s->srv->st)), 0;
	imap_tagged(s, c->tag, "OK", "DELETE completed");
	return 0;
}

struct uid_list {
	uint32_t *v;
	size_t n, cap;
};

static int uid_list_cb(void *arg, const struct store_entry *e)
{
	struct uid_list *l = arg;

	if (ARRAY_GROW(l->v, l->cap, l->n + 1, 256) < 0)
		bug("out of memory");
	l->v[l->n++] = e->uid;
	return 0;
}

int imap_cmd_rename(struct session *s, const struct imap_cmd *c)
{
	struct store *st = s->srv->st;
	char from[STORE_MBOX_MAX + 1], to[STORE_MBOX_MAX + 1];
	int r;

	if (c->nargs != 2)
		return imap_tagged(s, c->tag, "BAD", "RENAME from to"), 0;
	if (imap_mbox_from_wire(s, c->args, from, sizeof(from)) < 0 ||
	    imap_mbox_from_wire(s, c->args->next, to, sizeof(to)) < 0)
		return imap_tagged(s, c->tag, "NO", "[CANNOT] Invalid mailbox name"), 0;
	if (strcmp(from, "INBOX") == 0) {
		/* RFC 3501 6.3.5: move INBOX's messages to the new mailbox */
		struct store_mailbox src, dst;
		struct uid_list l = {0};
		int64_t dst_id;
		if (store_mailbox_get(st, s->user_id, "INBOX", &src) != 0)
			return imap_tagged(s, c->tag, "NO", "[SERVERBUG] No INBOX"), 0;
		r = store_mailbox_create(st, s->user_id, to, &dst_id);
		if (r == STORE_EXISTS)
			return imap_tagged(s, c->tag, "NO", "[ALREADYEXISTS] Target exists"), 0;
		if (r < 0 || store_mailbox_get_id(st, dst_id, &dst) != 0)
			return imap_tagged(s, c->tag, "NO", "[CANNOT] %s", store_errmsg(st)), 0;
		store_entries(st, src.id, 1, 0, uid_list_cb, &l);
		if (l.n) {
			uint32_t *nu = calloc(l.n, sizeof(*nu));
			if (!nu)
				bug("out of memory");
			r = store_move(st, src.id, l.v, l.n, dst_id, nu, NULL);
			free(nu);
		}
		free(l.v);
		if (r < 0)
			return imap_tagged(s, c->tag, "NO", "[SERVERBUG] %s", store_errmsg(st)), 0;
		imapd_changed(s->srv, 0);
		imap_tagged(s, c->tag, "OK", "RENAME completed");
		return 0;
	}
	r = store_mailbox_rename(st, s->user_id, from, to);
	if (r == STORE_NOTFOUND)
		return imap_tagged(s, c->tag, "NO", "[NONEXISTENT] No such mailbox"), 0;
	if (r == STORE_EXISTS)
		return imap_tagged(s, c->tag, "NO", "[ALREADYEXISTS] Target exists"), 0;
	if (r < 0)
		return imap_tagged(s, c->tag, "NO", "[CANNOT] %s", store_errmsg(st)), 0;
	if (s->state == ST_SELECTED && strcmp(s->mbox_name, from) == 0)
		snprintf(s->mbox_name, sizeof(s->mbox_name), "%s", to);
	char given[STORE_MBOX_MAX * 2 + 1];
	if (s->rev2 && imap_mbox_given(s, c->args->next, to, given, sizeof(given)))
		select_list(s, to, given); /* the new name was normalised */
	imap_tagged(s, c->tag, "OK", "RENAME completed");
	return 0;
}

int imap_cmd_subscribe(struct session *s, const struct imap_cmd *c, int on)
{
	char name[STORE_MBOX_MAX + 1];
	int r;

	if (one_name(s, c, name, sizeof(name)) < 0)
		return 0;
	r = store_mailbox_subscribe(s->srv->st, s->user_id, name, on);
	/* a name without a mailbox may be subscribed; only UNSUBSCRIBE of a
	 * name not subscribed finds nothing */
	if (r == STORE_NOTFOUND)
		return imap_tagged(s, c->tag, "NO", "[NONEXISTENT] Not subscribed"), 0;
	if (r < 0)
		return imap_tagged(s, c->tag, "NO", "[SERVERBUG] %s", store_errmsg(s->srv->st)), 0;
	imap_tagged(s, c->tag, "OK", "%s completed", c->name);
	return 0;
}

/* --- STATUS ----------------------------------------------------------------- */

/* Appends "(MESSAGES n ...)" for the items list.  Returns 0 or -1 (bad
 * item). */
static int status_items(struct session *s, const struct store_mailbox *mb,
			const struct imap_arg *items, struct buf *out)
{
	int first = 1;

	buf_putc(out, '(');
	for (const struct imap_arg *a = items; a; a = a->next) {
		if (!first)
			buf_putc(out, ' ');
		first = 0;
		if (imap_arg_is(a, "MESSAGES"))
			buf_printf(out, "MESSAGES %u", mb->messages);
		else if (imap_arg_is(a, "RECENT") && !s->rev2)
			/* not in IMAP4rev2 (RFC 9051 Appendix E) */
			buf_printf(out, "RECENT %u", mb->recent);
		else if (imap_arg_is(a, "DELETED")) {
			/* IMAP4rev2 (RFC 9051 6.3.11): messages with \Deleted */
			uint32_t n = 0;
			if (store_mailbox_deleted(s->srv->st, mb->id, &n) < 0)
				return -1;
			buf_printf(out, "DELETED %u", n);
		} else if (imap_arg_is(a, "UIDNEXT"))
			buf_printf(out, "UIDNEXT %u", mb->uidnext);
		else if (imap_arg_is(a, "UIDVALIDITY"))
			buf_printf(out, "UIDVALIDITY %u", mb->uidvalidity);
		else if (imap_arg_is(a, "UNSEEN"))
			buf_printf(out, "UNSEEN %u", mb->unseen);
		else if (imap_arg_is(a, "HIGHESTMODSEQ")) {
			imap_condstore_enable(s);
			buf_printf(out, "HIGHESTMODSEQ %llu",
				   (unsigned long long)mb->highestmodseq);
		} else if (imap_arg_is(a, "APPENDLIMIT")) {
			buf_printf(out, "APPENDLIMIT %llu",
				   (unsigned long long)s->srv->appendlimit);
		} else if (imap_arg_is(a, "MAILBOXID")) {
			char id[64];
			imap_mailboxid(mb->id, mb->uidvalidity, id, sizeof(id));
			buf_printf(out, "MAILBOXID (%s)", id);
		} else if (imap_arg_is(a, "SIZE")) {
			/* STATUS=SIZE (RFC 8438) */
			uint64_t size = 0;
			if (store_mailbox_size(s->srv->st, mb->id, &size) < 0)
				return -1;
			buf_printf(out, "SIZE %llu", (unsigned long long)size);
		} else {
			return -1;
		}
	}
	buf_putc(out, ')');
	return 0;
}

int imap_cmd_status(struct session *s, const struct imap_cmd *c)
{
	struct store_mailbox mb;
	char name[STORE_MBOX_MAX + 1];
	struct buf out;
	int r;

	if (c->nargs != 2 || c->args->next->type != IMAP_ARG_LIST || !c->args->next->child)
		return imap_tagged(s, c->tag, "BAD", "STATUS mailbox (items)"), 0;
	if (imap_mbox_from_wire(s, c->args, name, sizeof(name)) < 0)
		return imap_tagged(s, c->tag, "NO", "[CANNOT] Invalid mailbox name"), 0;
	r = store_mailbox_get(s->srv->st, s->user_id, name, &mb);
	if (r == STORE_NOTFOUND)
		return imap_tagged(s, c->tag, "NO", "[NONEXISTENT] No such mailbox"), 0;
	if (r < 0)
		return imap_tagged(s, c->tag, "NO", "[SERVERBUG] %s", store_errmsg(s->srv->st)), 0;
	buf_init(&out, 64 * 1024);
	buf_puts(&out, "* STATUS ");
	imap_mbox_to_wire(s, &out, mb.name);
	buf_putc(&out, ' ');
	if (status_items(s, &mb, c->args->next->child, &out) < 0) {
		buf_free(&out);
		return imap_tagged(s, c->tag, "BAD", "Unknown STATUS item"), 0;
	}
	buf_puts(&out, "\r\n");
	imap_write(s, out.data, out.len);
	buf_free(&out);
	imap_tagged(s, c->tag, "OK", "STATUS completed");
	return 0;
}

/* --- LIST / LSUB ------------------------------------------------------------ */

/* Matches name against an IMAP LIST pattern ('*' anything, '%' anything but
 * the delimiter) by simulating the pattern's NFA: O(len(name)*len(pat)),
 * so no pattern can make it exponential. */
static int list_match(const char *pat, const char *name)
{
	size_t m = strlen(pat);
	unsigned char stackbuf[2][1100];
	unsigned char *cur = stackbuf[0], *nxt = stackbuf[1];
	int r = 0;

	if (m + 1 > sizeof(stackbuf[0]))
		return 0;
	memset(cur, 0, m + 1);
	cur[0] = 1;
	for (;;) {
		/* epsilon closure: a wildcard may match nothing */
		for (size_t i = 0; i < m; i++)
			if (cur[i] && (pat[i] == '*' || pat[i] == '%'))
				cur[i + 1] = 1;
		if (!*name) {
			r = cur[m];
			break;
		}
		memset(nxt, 0, m + 1);
		int any = 0;
		for (size_t i = 0; i < m; i++) {
			if (!cur[i])
				continue;
			if (pat[i] == '*' || (pat[i] == '%' && *name != STORE_MBOX_SEP))
				nxt[i] = any = 1;
			else if (pat[i] == *name ||
				 (i < 5 && strncasecmp(pat, "INBOX", 5) == 0 && pat[i] != '*' &&
				  pat[i] != '%' && (pat[i] | 32) == (*name | 32)))
				nxt[i + 1] = any = 1;
		}
		if (!any)
			break;
		unsigned char *t = cur;
		cur = nxt;
		nxt = t;
		name++;
	}
	return r;
}

struct mbox_item {
	char *name;
	char special[24];
	char attrs[32];
	int subscribed;
	int phantom; /* a missing parent of existing mailboxes */
	int gone;    /* a subscribed name without a mailbox */
};

struct mbox_items {
	struct mbox_item *v;
	size_t n, cap;
};

static struct mbox_item *items_add(struct mbox_items *l);
static int item_cmp(const void *a, const void *b);

struct gone_ctx {
	struct mbox_items *l;
	int extended;
};

/* A subscribed name whose mailbox does not exist (RFC 5258 \NonExistent,
 * RFC 3501 LSUB \Noselect). */
static int gone_cb(void *arg, const char *name)
{
	struct gone_ctx *g = arg;
	struct mbox_item *it = items_add(g->l);

	it->name = strdup(name);
	if (!it->name)
		bug("out of memory");
	it->subscribed = it->gone = it->phantom = 1;
	snprintf(it->attrs, sizeof(it->attrs), "%s", g->extended ? "\\NonExistent" : "\\Noselect");
	return 0;
}

static int list_cb(void *arg, const struct store_mailbox_info *mi)
{
	struct mbox_item *it = items_add(arg);

	it->name = strdup(mi->name);
	if (!it->name)
		bug("out of memory");
	snprintf(it->special, sizeof(it->special), "%s", mi->special_use);
	snprintf(it->attrs, sizeof(it->attrs), "%s", mi->attributes);
	it->subscribed = mi->subscribed;
	return 0;
}

static struct mbox_item *items_add(struct mbox_items *l)
{
	if (ARRAY_GROW(l->v, l->cap, l->n + 1, 32) < 0)
		bug("out of memory");
	memset(&l->v[l->n], 0, sizeof(l->v[0]));
	return &l->v[l->n++];
}

static int item_cmp(const void *a, const void *b)
{
	const struct mbox_item *x = a, *y = b;
	int xi = strcmp(x->name, "INBOX") == 0, yi = strcmp(y->name, "INBOX") == 0;

	if (xi != yi)
		return yi - xi;
	return strcmp(x->name, y->name);
}

/* Whether name is among the n sorted items or the phantoms after them. */
static int item_find(const struct mbox_items *l, size_t n, const char *name)
{
	struct mbox_item key = {.name = (char *)name};

	if (bsearch(&key, l->v, n, sizeof(l->v[0]), item_cmp))
		return 1;
	for (size_t i = n; i < l->n; i++)
		if (strcmp(l->v[i].name, name) == 0)
			return 1;
	return 0;
}

/* Whether a mailbox below name (at any depth) is subscribed. */
static int subscribed_below(const struct mbox_items *l, const char *name)
{
	size_t n = strlen(name);

	for (size_t i = 0; i < l->n; i++)
		if (l->v[i].subscribed && strncmp(l->v[i].name, name, n) == 0 &&
		    l->v[i].name[n] == STORE_MBOX_SEP)
			return 1;
	return 0;
}

/* Adds the hierarchy levels that do not exist but have mailboxes below
 * them ("a" and "a/b" when only "a/b/c" exists, e.g. after DELETE "a"),
 * so a client can still draw the tree: RFC 3501 6.3.8 lists them as
 * \Noselect, RFC 5258 as \NonExistent.  Leaves items sorted. */
static void items_add_gaps(struct mbox_items *l, int extended)
{
	size_t n = l->n;

	qsort(l->v, n, sizeof(l->v[0]), item_cmp);
	for (size_t i = 0; i < n; i++) {
		char name[STORE_MBOX_MAX + 1];
		snprintf(name, sizeof(name), "%s", l->v[i].name);
		for (char *sep = strchr(name, STORE_MBOX_SEP); sep;
		     sep = strchr(sep + 1, STORE_MBOX_SEP)) {
			*sep = '\0';
			if (name[0] && !item_find(l, n, name)) {
				struct mbox_item *it = items_add(l);
				it->name = strdup(name);
				if (!it->name)
					bug("out of memory");
				it->phantom = 1;
				snprintf(it->attrs, sizeof(it->attrs), "%s",
					 extended ? "\\NonExistent \\HasChildren"
						  : "\\Noselect \\HasChildren");
			}
			*sep = STORE_MBOX_SEP;
		}
	}
	qsort(l->v, l->n, sizeof(l->v[0]), item_cmp);
}

int imap_cmd_list(struct session *s, const struct imap_cmd *c, int lsub)
{
	const struct imap_arg *a = c->args, *ref, *pats, *status_items_arg = NULL;
	int sel_subscribed = lsub, sel_special = 0, ret_subscribed = 0, ret_special = 1;
	/* IMAP4rev2's LIST is RFC 5258's: a missing level is \NonExistent
	 * there too (RFC 9051 6.3.9); LSUB keeps \Noselect */
	int extended = s->rev2 && !lsub, recursive = 0;
	char pattern[STORE_MBOX_MAX * 2 + 2];
	struct mbox_items items = {0};
	struct buf out;
	const char *cmdname = lsub ? "LSUB" : "LIST";

	if (!lsub && a && a->type == IMAP_ARG_LIST) {
		extended = 1;
		for (const struct imap_arg *o = a->child; o; o = o->next) {
			if (imap_arg_is(o, "SUBSCRIBED"))
				sel_subscribed = ret_subscribed = 1;
			else if (imap_arg_is(o, "SPECIAL-USE"))
				sel_special = 1;
			else if (imap_arg_is(o, "RECURSIVEMATCH"))
				recursive = 1;
			else if (!imap_arg_is(o, "REMOTE")) /* no remote mailboxes */
				return imap_tagged(s, c->tag, "BAD", "Unknown selection option"), 0;
		}
		/* RFC 5258 3: RECURSIVEMATCH needs a selection option that is
		 * not REMOTE to recurse on (here: SUBSCRIBED) */
		if (recursive && !sel_subscribed)
			return imap_tagged(s, c->tag, "BAD", "RECURSIVEMATCH without SUBSCRIBED"),
			       0;
		a = a->next;
	}
	ref = a;
	pats = ref ? ref->next : NULL;
	if (!imap_arg_astring(ref) || !pats)
		return imap_tagged(s, c->tag, "BAD", "%s reference pattern", cmdname), 0;
	if (pats->next) {
		const struct imap_arg *r = pats->next;
		if (lsub || !imap_arg_is(r, "RETURN") || !r->next ||
		    r->next->type != IMAP_ARG_LIST || r->next->next)
			return imap_tagged(s, c->tag, "BAD", "Junk after pattern"), 0;
		extended = 1;
		for (const struct imap_arg *o = r->next->child; o; o = o->next) {
			if (imap_arg_is(o, "SUBSCRIBED"))
				ret_subscribed = 1;
			else if (imap_arg_is(o, "SPECIAL-USE"))
				ret_special = 1;
			else if (imap_arg_is(o, "CHILDREN"))
				;
			else if (imap_arg_is(o, "STATUS") && o->next &&
				 o->next->type == IMAP_ARG_LIST) {
				status_items_arg = o->next->child;
				o = o->next;
			} else
				return imap_tagged(s, c->tag, "BAD", "Unknown return option"), 0;
		}
	}
	/* the empty pattern asks for the delimiter */
	if (pats->type != IMAP_ARG_LIST && pats->len == 0) {
		imap_printf(s, "* %s (\\Noselect) \"/\" \"\"\r\n", cmdname);
		imap_tagged(s, c->tag, "OK", "%s completed", cmdname);
		return 0;
	}
	if (store_mailbox_list(s->srv->st, s->user_id, list_cb, &items) < 0)
		return imap_tagged(s, c->tag, "NO", "[SERVERBUG] %s", store_errmsg(s->srv->st)), 0;
	if (lsub || sel_subscribed) {
		struct gone_ctx g = {&items, extended};
		store_subscriptions_gone(s->srv->st, s->user_id, gone_cb, &g);
		if (items.n > 1)
			qsort(items.v, items.n, sizeof(items.v[0]), item_cmp);
	}
	/* a missing level satisfies no SUBSCRIBED or SPECIAL-USE selection,
	 * but RECURSIVEMATCH lists it when something below is subscribed */
	if (!lsub && ((!sel_subscribed && !sel_special) || recursive))
		items_add_gaps(&items, extended);
	buf_init(&out, 16u * 1024 * 1024);
	const struct imap_arg *plist = pats->type == IMAP_ARG_LIST ? pats->child : pats;
	int multi = pats->type == IMAP_ARG_LIST;
	int bad = 0;
	for (size_t i = 0; i < items.n && !bad; i++) {
		struct mbox_item *it = &items.v[i];
		int match = 0;
		for (const struct imap_arg *p = plist; p && !match; p = multi ? p->next : NULL) {
			char both[sizeof(pattern)];
			if (!imap_arg_astring(p)) {
				bad = 1;
				break;
			}
			snprintf(both, sizeof(both), "%s%s", ref->str, p->str);
			/* decode the pattern like a name; wildcards are ASCII */
			struct buf pb;
			buf_init(&pb, sizeof(pattern) - 1);
			if (strcasecmp(both, "INBOX") == 0)
				buf_puts(&pb, "INBOX");
			else if ((s->utf8 ? buf_puts(&pb, both) < 0
					  : mutf7_decode(both, strlen(both), &pb) < 0) ||
				 mbox_nfc(&pb) < 0) {
				buf_free(&pb);
				continue;
			}
			match = list_match(pb.data, it->name);
			buf_free(&pb);
		}
		/* RECURSIVEMATCH (RFC 5258 3, 4): a mailbox below this one is
		 * subscribed: CHILDINFO, and listed even if not subscribed */
		int childinfo = recursive && match && subscribed_below(&items, it->name);
		if (!match || (sel_subscribed && !it->subscribed && !childinfo) ||
		    (sel_special && !it->special[0]))
			continue;
		buf_printf(&out, "* %s (", cmdname);
		int sp = 0;
		if ((!lsub || it->gone) && it->attrs[0]) {
			buf_puts(&out, it->attrs);
			sp = 1;
		}
		if ((ret_subscribed || sel_subscribed) && it->subscribed && !lsub) {
			buf_puts(&out, sp ? " \\Subscribed" : "\\Subscribed");
			sp = 1;
		}
		if (ret_special && it->special[0]) {
			if (sp)
				buf_putc(&out, ' ');
			buf_puts(&out, it->special);
		}
		buf_puts(&out, ") \"/\" ");
		imap_mbox_to_wire(s, &out, it->name);
		if (childinfo && !it->subscribed)
			buf_puts(&out, " (\"CHILDINFO\" (\"SUBSCRIBED\"))");
		buf_puts(&out, "\r\n");
		if (status_items_arg && !it->phantom) {
			struct store_mailbox mb;
			if (store_mailbox_get(s->srv->st, s->user_id, it->name, &mb) == 0) {
				buf_puts(&out, "* STATUS ");
				imap_mbox_to_wire(s, &out, it->name);
				buf_putc(&out, ' ');
				if (status_items(s, &mb, status_items_arg, &out) < 0)
					bad = 2;
				buf_puts(&out, "\r\n");
			}
		}
	}
	for (size_t i = 0; i < items.n; i++)
		free(items.v[i].name);
	free(items.v);
	if (bad) {
		buf_free(&out);
		return imap_tagged(s, c->tag, "BAD",
				   bad == 2 ? "Unknown STATUS item" : "Bad pattern"),
		       0;
	}
	imap_write(s, out.data, out.len);
	buf_free(&out);
	imap_tagged(s, c->tag, "OK", "%s completed", cmdname);
	return 0;
}

/* --- EXPUNGE / CLOSE / UNSELECT ------------------------------------------- */

int imap_cmd_expunge(struct session *s, const struct imap_cmd *c, const struct imap_arg *uidset)
{
	struct store *st = s->srv->st;
	uint32_t *uids = NULL;
	size_t n = 0;
	int r;

	if (s->readonly)
		return imap_tagged(s, c->tag, "NO", "[READ-ONLY] Mailbox is read-only"), 0;
	if (uidset) {
		size_t *idx;
		if (imap_view_select_set(s, uidset->str, 1, &idx, &n) < 0)
			return imap_tagged(s, c->tag, "BAD", "Invalid UID set"), 0;
		uids = malloc((n ? n : 1) * sizeof(*uids));
		if (!uids)
			bug("out of memory");
		for (size_t i = 0; i < n; i++)
			uids[i] = s->msgs[idx[i]].uid;
		free(idx);
		if (n == 0) {
			free(uids);
			imap_tagged(s, c->tag, "OK", "EXPUNGE completed");
			return 0;
		}
	}
	r = store_expunge(st, s->mbox_id, uids, n, NULL, NULL);
	free(uids);
	if (r < 0)
		return imap_tagged(s, c->tag, "NO", "[SERVERBUG] %s", store_errmsg(st)), 0;
	if (r > 0)
		imapd_changed(s->srv, s->mbox_id);
	s->cmd_flags = 0;
	imap_tagged(s, c->tag, "OK", "EXPUNGE completed");
	return 0;
}

int imap_cmd_close(struct session *s, const struct imap_cmd *c, int expunge)
{
	if (c->nargs)
		return imap_tagged(s, c->tag, "BAD", "%s takes no arguments", c->name), 0;
	if (expunge && !s->readonly) {
		if (store_expunge(s->srv->st, s->mbox_id, NULL, 0, NULL, NULL) > 0)
			imapd_changed(s->srv, s->mbox_id);
	}
	imap_view_clear(s);
	imap_set_state(s, ST_AUTH);
	imap_tagged(s, c->tag, "OK", "%s completed", c->name);
	return 0;
}

/* --- COPY / MOVE ------------------------------------------------------------ */

int imap_cmd_copy(struct session *s, const struct imap_cmd *c, const struct imap_arg *a, int uid,
		  int move)
{
	struct store *st = s->srv->st;
	struct store_mailbox dst;
	char name[STORE_MBOX_MAX + 1];
	size_t *idx, n;
	uint32_t *uids, *nu, validity = 0;
	const char *what = move ? "MOVE" : "COPY";
	int r;

	if (!a || !a->next || a->next->next || a->type != IMAP_ARG_ATOM)
		return imap_tagged(s, c->tag, "BAD", "%s set mailbox", what), 0;
	if (move && s->readonly)
		return imap_tagged(s, c->tag, "NO", "[READ-ONLY] Mailbox is read-only"), 0;
	if (imap_mbox_from_wire(s, a->next, name, sizeof(name)) < 0)
		return imap_tagged(s, c->tag, "NO", "[CANNOT] Invalid mailbox name"), 0;
	if (imap_view_select_set(s, a->str, uid, &idx, &n) < 0)
		return imap_tagged(s, c->tag, "BAD", "Invalid sequence set"), 0;
	r = store_mailbox_get(st, s->user_id, name, &dst);
	if (r != 0) {
		free(idx);
		if (r == STORE_NOTFOUND)
			return imap_tagged(s, c->tag, "NO", "[TRYCREATE] No such mailbox"), 0;
		return imap_tagged(s, c->tag, "NO", "[SERVERBUG] %s", store_errmsg(st)), 0;
	}
	if (n == 0) {
		free(idx);
		imap_tagged(s, c->tag, "OK", "%s completed", what);
		return 0;
	}
	uids = malloc(n * sizeof(*uids));
	nu = calloc(n, sizeof(*nu));
	if (!uids || !nu)
		bug("out of memory");
	for (size_t i = 0; i < n; i++)
		uids[i] = s->msgs[idx[i]].uid;
	free(idx);
	if (move)
		r = store_move(st, s->mbox_id, uids, n, dst.id, nu, &validity);
	else
		r = store_copy(st, s->mbox_id, uids, n, dst.id, nu, &validity);
	if (r < 0) {
		free(uids);
		free(nu);
		return imap_tagged(s, c->tag, "NO", "[SERVERBUG] %s", store_errmsg(st)), 0;
	}
	struct buf code;
	size_t k = 0;
	buf_init(&code, 16u * 1024 * 1024);
	for (size_t i = 0; i < n; i++) {
		if (nu[i]) {
			uids[k] = uids[i];
			nu[k++] = nu[i];
		}
	}
	if (k) {
		buf_printf(&code, "[COPYUID %u ", validity);
		imap_uidset_format(&code, uids, k);
		buf_putc(&code, ' ');
		imap_uidset_format(&code, nu, k);
		buf_puts(&code, "] ");
	}
	free(uids);
	free(nu);
	imapd_changed(s->srv, 0);
	if (move) {
		if (k)
			imap_printf(s, "* OK %sMoved\r\n", code.data);
		s->cmd_flags = 0;
		imap_tagged(s, c->tag, "OK", "MOVE completed");
	} else {
		imap_tagged(s, c->tag, "OK", "%sCOPY completed", code.data);
	}
	buf_free(&code);
	return 0;
}
