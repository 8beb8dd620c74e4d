/*
 * The POP3 maildrop: the snapshot of INBOX a session takes at login, and
 * the UPDATE state that writes DELE and RETR back through the mailstore
 * at QUIT, in one transaction.
 */
#include <stdlib.h>
#include <string.h>

#include "array.h"
#include "log.h"
#include "pop3d.h"
#include "store_mailbox.h"

#define MAX_MSGS 1000000 /* messages one maildrop lists */

static int collect_entry(void *arg, const struct store_entry *e)
{
	struct pop3_session *s = arg;

	if (s->nmsgs == MAX_MSGS)
		return 1;
	if (ARRAY_GROW(s->msgs, s->msgs_cap, s->nmsgs + 1, 64) < 0)
		bug("out of memory");
	struct pop3_msg *m = &s->msgs[s->nmsgs++];
	memset(m, 0, sizeof(*m));
	m->uid = e->uid;
	m->size = e->size;
	m->message_id = e->message_id;
	return 0;
}

int pop3_maildrop_open(struct pop3_session *s)
{
	struct pop3d *srv = s->srv;
	struct store_mailbox mb;

	if (store_mailbox_get(srv->st, s->user_id, "INBOX", &mb) != 0)
		return -1;
	s->mailbox_id = mb.id;
	s->uidvalidity = mb.uidvalidity;
	s->nmsgs = 0;
	if (store_entries(srv->st, mb.id, 1, 0, collect_entry, s) < 0)
		return -1;
	return 0;
}

void pop3_maildrop_stat(const struct pop3_session *s, size_t *count, uint64_t *octets)
{
	*count = 0;
	*octets = 0;
	for (size_t i = 0; i < s->nmsgs; i++) {
		if (!s->msgs[i].deleted) {
			(*count)++;
			*octets += s->msgs[i].size;
		}
	}
}

int pop3_maildrop_held(const struct pop3d *srv, int64_t user_id, const struct pop3_session *except)
{
	for (struct pop3_session *o = srv->sessions; o; o = o->next)
		if (o != except && o->state == P3_TRANSACTION && o->user_id == user_id)
			return 1;
	return 0;
}

long pop3_maildrop_update(struct pop3_session *s)
{
	struct pop3d *srv = s->srv;
	uint32_t *uids;
	size_t ndel = 0, nseen = 0;
	long n = 0;

	uids = malloc((s->nmsgs ? s->nmsgs : 1) * sizeof(*uids));
	if (!uids)
		bug("out of memory");
	for (size_t i = 0; i < s->nmsgs; i++) {
		if (s->msgs[i].deleted)
			uids[ndel++] = s->msgs[i].uid;
		else if (s->msgs[i].retrieved)
			nseen++;
	}
	if (ndel == 0 && nseen == 0) {
		free(uids);
		return 0;
	}
	if (store_tx_begin(srv->st) < 0)
		goto fail;
	for (size_t i = 0; i < s->nmsgs; i++) {
		const struct pop3_msg *m = &s->msgs[i];
		unsigned f = m->deleted ? STORE_F_DELETED : m->retrieved ? STORE_F_SEEN : 0;
		if (!f)
			continue;
		/* an IMAP session may have expunged it meanwhile: fine */
		int r =
		    store_flags(srv->st, s->mailbox_id, m->uid, STORE_FLAGS_ADD, f, NULL, 0, NULL);
		if (r < 0 && r != STORE_NOTFOUND)
			goto rollback;
	}
	if (ndel) {
		n = store_expunge(srv->st, s->mailbox_id, uids, ndel, NULL, NULL);
		if (n < 0)
			goto rollback;
	}
	if (store_tx_commit(srv->st) < 0)
		goto rollback;
	free(uids);
	if (srv->change_fn)
		srv->change_fn(srv->change_arg, s->mailbox_id);
	return n;
rollback:
	store_tx_rollback(srv->st);
fail:
	log_err(s->sid, "event=update-failed user=%s error=\"%s\"", s->user, store_errmsg(srv->st));
	free(uids);
	return -1;
}
