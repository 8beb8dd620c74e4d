/*
 * APPEND and MULTIAPPEND (RFC 3502) with group commit.
 *
 * Storing a message costs a MIME parse, its index rows and, above all, an
 * fsync at the commit.  A client loading a mailbox pipelines its APPENDs,
 * and several clients may append at once, so an APPEND is not stored
 * when it is read: it is queued, the session reads on, and the queue is
 * stored in one transaction (store_append_many: one fsync, one search
 * index segment) when
 *   - the loop comes round (a 0 ms timer: whatever every session sent in
 *     this turn goes into one commit),
 *   - a session with APPENDs queued sends any other command (its effects
 *     must follow the APPENDs, and its replies come after theirs),
 *   - the queue holds APPEND_BATCH_MSGS messages or APPEND_BATCH_BYTES.
 * Each APPEND gets its tagged OK only after that commit (durability: the
 * OK means the message is on disk), in the order the session sent them.
 * If the batch fails, each APPEND is stored alone, so one bad message
 * cannot fail another client's.  A MULTIAPPEND's messages are stored
 * together or not at all.
 *
 * A queued APPEND owns a copy of its messages (the parser's buffer is
 * reused for the next command).  A session that goes away with APPENDs
 * queued leaves them behind without a session: they are stored (the
 * client may have sent them long before) and nobody is told.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "array.h"
#include "evloop.h"
#include "imapd.h"
#include "imapdate.h"
#include "log.h"
#include "store.h"
#include "store_deliver.h"
#include "store_mailbox.h"
#include "store_users.h"

/* What one commit takes at most: enough for a pipelining client to fill
 * a transaction, little enough that one commit stays short. */
#define APPEND_BATCH_MSGS  256
#define APPEND_BATCH_BYTES (32u * 1024 * 1024)
/* Messages one MULTIAPPEND may carry (its bytes are bounded by the
 * parser: APPENDLIMIT for the whole command). */
#define APPEND_MULTI_MAX 1000

struct append_job {
	struct append_job *next;
	struct session *s; /* NULL once its session is gone */
	char tag[72];
	char mbox[STORE_MBOX_MAX + 1];
	struct store_append_job sj;
	struct store_append_msg *msgs; /* data and keywords are copies */
	size_t bytes;
};

static void job_free(struct append_job *j)
{
	if (!j)
		return;
	for (size_t i = 0; i < j->sj.n; i++) {
		free((char *)j->msgs[i].data);
		free((char *)j->msgs[i].keywords);
	}
	free(j->msgs);
	free(j);
}

static void fire(struct evloop *ev, struct ev_timer *t, void *arg)
{
	(void)ev;
	(void)t;
	imap_append_flush(arg);
}

/* Tells the session how its APPEND went. */
static void job_reply(struct imapd *srv, struct append_job *j, int batch_rc)
{
	struct session *s = j->s;
	struct buf uids;

	if (!s)
		return;
	s->appends--;
	if (!s->c || s->dead)
		return;
	s->cmd_flags = 0;
	if (batch_rc < 0) {
		log_err(s->sid, "event=append-failed error=\"%s\"", store_errmsg(srv->st));
		imap_tagged(s, j->tag, "NO", "[SERVERBUG] Could not store the message");
		return;
	}
	if (j->sj.rc == STORE_NOTFOUND) {
		imap_tagged(s, j->tag, "NO", "[TRYCREATE] No such mailbox");
		return;
	}
	if (j->sj.rc < 0) {
		imap_tagged(s, j->tag, "NO", "Invalid message");
		return;
	}
	buf_init(&uids, 16u * 1024);
	/* one transaction: a MULTIAPPEND's UIDs are consecutive */
	if (j->sj.n == 1 || j->msgs[j->sj.n - 1].uid - j->msgs[0].uid == j->sj.n - 1) {
		if (j->sj.n == 1)
			buf_printf(&uids, "%u", j->msgs[0].uid);
		else
			buf_printf(&uids, "%u:%u", j->msgs[0].uid, j->msgs[j->sj.n - 1].uid);
	} else {
		for (size_t i = 0; i < j->sj.n; i++)
			buf_printf(&uids, "%s%u", i ? "," : "", j->msgs[i].uid);
	}
	log_info(s->sid, "event=append user=%s messages=%zu size=%zu uid=%s", s->user, j->sj.n,
		 j->bytes, buf_cstr(&uids));
	imap_tagged(s, j->tag, "OK", "[APPENDUID %u %s] APPEND completed", j->sj.uidvalidity,
		    buf_cstr(&uids));
	buf_free(&uids);
}

void imap_append_flush(struct imapd *srv)
{
	struct append_job *list = srv->aq, *j;
	struct store_append_job *v;
	size_t n = 0, i, msgs = srv->aq_msgs, bytes = srv->aq_bytes;
	int rc;

	if (!list)
		return;
	srv->aq = NULL;
	srv->aq_tail = &srv->aq;
	srv->aq_msgs = srv->aq_bytes = 0;
	if (srv->aq_timer)
		ev_timer_disarm(srv->aq_timer);
	for (j = list; j; j = j->next)
		n++;
	v = malloc(n * sizeof(*v));
	if (!v)
		bug("out of memory");
	for (i = 0, j = list; j; j = j->next, i++)
		v[i] = j->sj;
	/* A batch's index rows (FTS5 trigrams: thousands per message) touch
	 * many b-tree pages; with the 128 KiB cache reads and SQLite's page
	 * work repeat for every row.  4 MiB for the commit cut loft-imapd's
	 * CPU during a pipelined load by 12% (bench corpus, 1,500 messages:
	 * 5.30 s -> 4.65 s; 16 MiB: 4.60 s); it is given back after. */
	store_set_cache_kib(srv->st, IMAPD_COMMIT_CACHE_KIB);
	imap_indexer_hold(srv->ix, 1);
	rc = store_append_many(srv->st, v, n);
	store_set_cache_kib(srv->st, srv->cache_kib ? srv->cache_kib : IMAPD_CACHE_KIB);
	log_info(NULL, "event=append-commit appends=%zu messages=%zu bytes=%zu ok=%d", n, msgs,
		 bytes, rc == 0);
	if (rc < 0 && n > 1) {
		/* one at a time, so one bad APPEND fails alone */
		log_err(NULL, "event=append-batch-failed appends=%zu error=\"%s\"", n,
			store_errmsg(srv->st));
		for (i = 0, j = list; j; j = j->next, i++) {
			int r1 = store_append_many(srv->st, &v[i], 1);
			j->sj = v[i];
			job_reply(srv, j, r1);
		}
	} else {
		for (i = 0, j = list; j; j = j->next, i++) {
			j->sj = v[i];
			job_reply(srv, j, rc);
		}
	}
	imap_indexer_hold(srv->ix, 0);
	free(v);
	/* the index rows of what was stored (store_set_defer_index) */
	imap_indexer_kick(srv->ix);
	while (list) {
		j = list->next;
		job_free(list);
		list = j;
	}
	imapd_changed(srv, 0);
}

void imap_append_forget(struct session *s)
{
	for (struct append_job *j = s->srv->aq; j; j = j->next)
		if (j->s == s)
			j->s = NULL;
	s->appends = 0;
}

void imap_append_stop(struct imapd *srv)
{
	imap_append_flush(srv);
	ev_timer_free(srv->aq_timer);
	srv->aq_timer = NULL;
}

static void enqueue(struct session *s, struct append_job *j)
{
	struct imapd *srv = s->srv;

	if (!srv->aq_tail)
		srv->aq_tail = &srv->aq;
	*srv->aq_tail = j;
	srv->aq_tail = &j->next;
	srv->aq_msgs += j->sj.n;
	srv->aq_bytes += j->bytes;
	s->appends++;
	if (srv->aq_msgs >= APPEND_BATCH_MSGS || srv->aq_bytes >= APPEND_BATCH_BYTES) {
		imap_append_flush(srv);
		return;
	}
	if (!srv->aq_timer)
		srv->aq_timer = ev_timer_new(srv->ev, fire, srv);
	if (!ev_timer_armed(srv->aq_timer))
		ev_timer_arm(srv->aq_timer, 0);
}

static char *dupmem(const char *p, size_t n)
{
	char *d = malloc(n + 1);

	if (!d)
		bug("out of memory");
	memcpy(d, p, n);
	d[n] = '\0';
	return d;
}

/* APPEND mailbox 1*([SP flag-list] [SP date-time] SP literal): RFC 3501
 * 6.3.11, more than one message being MULTIAPPEND (RFC 3502). */
int imap_cmd_append(struct session *s, const struct imap_cmd *c)
{
	const struct imap_arg *a = c->args;
	struct append_job *j;
	size_t cap = 0;

	if (c->nargs < 2)
		return imap_tagged(s, c->tag, "BAD", "APPEND mailbox [(flags)] [date] message"), 0;
	j = calloc(1, sizeof(*j));
	if (!j)
		bug("out of memory");
	if (imap_mbox_from_wire(s, a, j->mbox, sizeof(j->mbox)) < 0) {
		job_free(j);
		return imap_tagged(s, c->tag, "NO", "[CANNOT] Invalid mailbox name"), 0;
	}
	for (a = a->next; a;) {
		struct store_append_msg m = {0};
		struct buf kw;

		buf_init(&kw, STORE_KEYWORDS_MAX);
		if (a->type == IMAP_ARG_LIST) {
			if (imap_flags_parse(a, &m.flags, &kw) < 0) {
				buf_free(&kw);
				job_free(j);
				return imap_tagged(s, c->tag, "BAD", "Invalid flags"), 0;
			}
			a = a->next;
		}
		if (a && a->next && a->type == IMAP_ARG_QUOTED) {
			if (imapdate_parse_datetime(a->str, &m.internaldate) < 0) {
				buf_free(&kw);
				job_free(j);
				return imap_tagged(s, c->tag, "BAD", "Invalid date-time"), 0;
			}
			a = a->next;
		}
		/* RFC 6855 4: UTF8 (~{n} message), a message that may have
		 * UTF-8 header fields, once UTF8=ACCEPT (or IMAP4rev2) is on */
		const struct imap_arg *data = a, *after = a ? a->next : NULL;
		if (a && imap_arg_is(a, "UTF8")) {
			const struct imap_arg *l = a->next;
			const char *why = NULL;
			if (!s->utf8)
				why = "APPEND UTF8 needs ENABLE UTF8=ACCEPT";
			else if (!l || l->type != IMAP_ARG_LIST || !l->child || l->child->next ||
				 l->child->type != IMAP_ARG_LITERAL || !l->child->literal8)
				why = "APPEND UTF8 takes (~{n} message)";
			if (why) {
				buf_free(&kw);
				job_free(j);
				return imap_tagged(s, c->tag, "BAD", "%s", why), 0;
			}
			data = l->child;
			after = l->next;
		}
		a = data;
		if (!a || a->type != IMAP_ARG_LITERAL) {
			buf_free(&kw);
			job_free(j);
			return imap_tagged(s, c->tag, "BAD",
					   "APPEND needs the message as a literal"),
			       0;
		}
		if (a->len == 0 || a->len > s->srv->appendlimit) {
			buf_free(&kw);
			job_free(j);
			return imap_tagged(s, c->tag, "NO",
					   a->len ? "[TOOBIG] Message too large" : "Empty message"),
			       0;
		}
		if (j->sj.n == APPEND_MULTI_MAX) {
			buf_free(&kw);
			job_free(j);
			return imap_tagged(s, c->tag, "NO",
					   "[LIMIT] Too many messages in one APPEND"),
			       0;
		}
		if (ARRAY_GROW(j->msgs, cap, j->sj.n + 1, 1) < 0)
			bug("out of memory");
		m.data = dupmem(a->str, a->len);
		m.len = a->len;
		m.keywords = kw.len ? dupmem(kw.data, kw.len) : NULL;
		buf_free(&kw);
		j->msgs[j->sj.n++] = m;
		j->bytes += a->len;
		a = after;
	}
	/* RFC 9208 7.1: refuse what would take the mailbox over its quota.
	 * Appends still waiting for the group commit are not counted, so a
	 * burst may end a batch over the limit; the next APPEND sees it. */
	switch (store_user_over_quota(s->srv->st, s->user_id, (int64_t)j->bytes)) {
	case 0:
		break;
	case 1:
		job_free(j);
		return imap_tagged(s, c->tag, "NO", "[OVERQUOTA] Mailbox quota exceeded"), 0;
	default:
		log_err(s->sid, "event=quota-failed error=\"%s\"", store_errmsg(s->srv->st));
		job_free(j);
		return imap_tagged(s, c->tag, "NO", "[UNAVAILABLE] Try again later"), 0;
	}
	j->s = s;
	snprintf(j->tag, sizeof(j->tag), "%s", c->tag);
	j->sj.user_id = s->user_id;
	j->sj.mailbox = j->mbox;
	j->sj.msgs = j->msgs;
	enqueue(s, j);
	return 0;
}
