/*
 * The POP3 maildrop: the snapshot of INBOX a session takes at login, and
 * the UPDATE state that writes DELE and RETR back through the mailstore
 * at QUIT, in one transaction.
 */
#include <stdlib.h>
#include <string.h>

#include "array.h"
#include "downgrade.h"
#include "log.h"
#include "mime.h"
#include "pop3d.h"
#include "store_imap.h"
#include "store_mailbox.h"

#define MAX_MSGS 1000000 /* messages one maildrop lists */
/* header bytes read to check a row stored before MIME_F_HEADER_CHECKED */
#define DG_HEADER_MAX (1u << 20)

enum { DG_NO, DG_YES, DG_UNCHECKED };

static int collect_row(void *arg, const struct store_imap_row *e)
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
	m->not_crlf = (e->mime_flags & MIME_F_NOT_CRLF) != 0;
	if (!s->utf8) {
		if (!(e->mime_flags & MIME_F_HEADER_CHECKED))
			m->downgrade = DG_UNCHECKED;
		else if (e->mime_flags & MIME_F_UTF8_HEADER)
			m->downgrade = DG_YES;
	}
	return 0;
}

/* The downgraded message data[0..len) in out (RFC 6857 3: every UTF-8
 * header block rewritten, the rest byte for byte). */
static void downgrade_into(const char *data, size_t len, struct buf *out)
{
	struct mime_msg *mm;

	buf_init(out, (size_t)1 << 30);
	if (mime_parse(data, len, NULL, &mm) < 0 || mime_downgrade(mm, out) < 0)
		bug("out of memory");
	mime_free(mm);
}

void pop3_downgrade(struct store_message *m)
{
	struct buf nb;

	downgrade_into(m->data ? m->data : "", m->size, &nb);
	if (buf_putc(&nb, '\0') < 0) /* keep data NUL-terminated */
		bug("out of memory");
	free(m->data);
	m->size = nb.len - 1;
	m->data = buf_steal(&nb, NULL);
}

/* Settles which messages go out downgraded and their sizes as sent: a row
 * stored before the UTF-8 flag existed has its top-level header read (as
 * loft-imapd does); a downgraded message is read and converted once, and
 * one whose line ends are not all CRLF (MIME_F_NOT_CRLF) is read, so STAT
 * and LIST give the octets RETR sends.  Only such messages are read. */
static int settle_downgrades(struct pop3_session *s)
{
	struct store_raw *r = NULL;
	int rc = 0;

	for (size_t i = 0; i < s->nmsgs; i++) {
		struct pop3_msg *m = &s->msgs[i];
		size_t size;

		if (m->downgrade == DG_NO && !m->not_crlf)
			continue;
		if (!r)
			r = store_raw_new(s->srv->st);
		int o = store_raw_open(r, m->message_id, &size);
		if (o == STORE_NOTFOUND) {
			/* expunged meanwhile: RETR will say so */
			m->downgrade = DG_NO;
			continue;
		}
		if (o < 0) {
			rc = -1;
			break;
		}
		if (m->downgrade == DG_UNCHECKED) {
			size_t hs = size < DG_HEADER_MAX ? size : DG_HEADER_MAX;
			char *h = malloc(hs + 1);
			if (!h)
				bug("out of memory");
			/* only the header block counts: 8-bit bytes in a
			 * body are not an internationalized header */
			m->downgrade = hs && store_raw_read(r, h, hs, 0) == 0 &&
					       downgrade_needed(h, downgrade_header_len(h, hs))
					   ? DG_YES
					   : DG_NO;
			free(h);
			if (m->downgrade == DG_NO && !m->not_crlf)
				continue;
		}
		char *data = store_raw_read_all(r, size);
		if (!data) {
			rc = -1;
			break;
		}
		if (m->downgrade == DG_NO) {
			m->size = pop3_wire_size(data, size);
			free(data);
			continue;
		}
		struct buf nb;
		downgrade_into(data, size, &nb);
		free(data);
		m->size = pop3_wire_size(nb.data ? nb.data : "", nb.len);
		buf_free(&nb);
	}
	store_raw_free(r);
	return rc;
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
	if (store_imap_rows(srv->st, mb.id, 1, 0, 0, STORE_IMAP_SIZE, collect_row, s) < 0)
		return -1;
	return settle_downgrades(s);
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
