/*
 * Writing back what happened to each recipient: delivered (only after the
 * peer's 250 to the end of data), deferred with backoff, or bounced
 * (permanent refusal, or too old) with an RFC 3464 report to the sender,
 * never to the null sender.  Each job's outcome -- rows, attempt records,
 * the bounce or delay notice -- is one durable transaction, committed
 * before the runner goes on, so a kill at any moment leaves every row
 * either still waiting (sent again: at least once) or finished.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "buf.h"
#include "daemon.h"
#include "dsn.h"
#include "log.h"
#include "netverdict.h"
#include "queue.h"
#include "store.h"
#include "store_deliver.h"
#include "store_imap.h"
#include "store_netwatch.h"
#include "store_outbound.h"
#include "store_queue.h"
#include "store_settings.h"
#include "store_users.h"

#define DSN_HEADER_MAX (64 * 1024)
#define DSN_MAX	       (DSN_HEADER_MAX + 256 * 1024)

void queue_job_free(struct job *j)
{
	if (!j)
		return;
	queue_msig_unref(j);
	for (size_t i = 0; i < j->n; i++)
		free(j->r[i].addr);
	free(j->r);
	free(j->mail_from);
	free(j->prefix);
	free(j->unsigned_field);
	queue_qp_free(j->qp);
	free(j->addrs);
	free(j);
}

/* Seconds to wait after the attempts-th failure: retry_min doubling up
 * to retry_max (5, 10, 20, 40 min, ... 4 h with the defaults). */
static int64_t backoff(const struct queue_conf *c, int attempts)
{
	int64_t d = c->retry_min;

	for (int i = 1; i < attempts && d < c->retry_max; i++)
		d *= 2;
	return d < c->retry_max ? d : c->retry_max;
}

/* The original header block of a message (up to the empty line, with its
 * last CRLF), bounded; NULL when unreadable. */
static char *orig_header(struct queue *q, int64_t message_id, size_t *len)
{
	size_t size, n;
	char *p, *end;

	if (store_raw_open(q->raw, message_id, &size) != 0) {
		store_raw_close(q->raw);
		return NULL;
	}
	n = size < DSN_HEADER_MAX ? size : DSN_HEADER_MAX;
	p = malloc(n + 1);
	if (!p || store_raw_read(q->raw, p, n, 0) < 0) {
		free(p);
		store_raw_close(q->raw);
		return NULL;
	}
	store_raw_close(q->raw);
	p[n] = '\0';
	end = strstr(p, "\r\n\r\n");
	*len = end ? (size_t)(end - p) + 2 : n;
	return p;
}

/* Sends a notification for rcpts idx[0..k) of j inside the caller's
 * transaction.  Returns 0 or -1. */
static int send_dsn(struct queue *q, struct job *j, const size_t *idx, size_t k,
		    const struct smtpc_status *st, const char *mx, int delayed, const char *hdr,
		    size_t hlen)
{
	struct dsn_rcpt *dr = calloc(k, sizeof(*dr));
	struct store_rcpt rc;
	struct buf out;
	char salt[32];
	int r = -1, found;

	if (!dr)
		bug("out of memory");
	for (size_t i = 0; i < k; i++) {
		dr[i].addr = j->r[idx[i]].addr;
		dr[i].status = st[idx[i]].enh[0] ? st[idx[i]].enh : NULL;
		dr[i].diag = st[idx[i]].text;
		dr[i].remote_mta = st[idx[i]].code ? mx : "";
	}
	snprintf(salt, sizeof(salt), "%lld", (long long)j->r[idx[0]].id);
	struct dsn d = {
	    .reporting_mta = q->conf.helo,
	    .to = j->mail_from,
	    .delayed = delayed,
	    .arrival = j->r[idx[0]].created,
	    .retry_until = j->r[idx[0]].created + q->conf.max_age,
	    .now = (int64_t)time(NULL),
	    .orig_header = hdr,
	    .orig_header_len = hlen,
	    .boundary_salt = salt,
	};
	buf_init(&out, DSN_MAX);
	if (dsn_build(&d, dr, k, &out) < 0)
		goto done;
	found = store_resolve_rcpt(q->st, j->mail_from, &rc);
	if (found < 0)
		goto done;
	if (found == 0) {
		/* a sender nobody here owns: the report goes out, from <> */
		rc.n_users = 0;
		rc.n_remote = 1;
		snprintf(rc.remote[0], sizeof(rc.remote[0]), "%s", j->mail_from);
	}
	const char *remote[STORE_RCPT_MAX];
	for (size_t i = 0; i < rc.n_remote; i++)
		remote[i] = rc.remote[i];
	r = store_deliver(q->st, out.data, out.len, "", rc.user_ids, rc.n_users, remote,
			  rc.n_remote, NULL);
done:
	if (r < 0)
		log_err(NULL, "event=dsn-failed to=%s error=\"%s\"", j->mail_from,
			store_errmsg(q->st));
	else
		log_info(NULL, "event=%s to=%s recipients=%zu",
			 delayed ? "delay-notice" : "bounce-sent", j->mail_from, k);
	buf_free(&out);
	free(dr);
	return r;
}

void queue_job_result(struct queue *q, struct job *j, const struct smtpc_status *st,
		      const struct queue_attempt_info *ai)
{
	int64_t now = (int64_t)time(NULL);
	size_t *bounced = calloc(j->n, sizeof(size_t)), *delayed = calloc(j->n, sizeof(size_t));
	size_t nb = 0, nd = 0, nrep = 0, nrep_nosh = 0;
	enum netv_reply rej_kind = NETV_REPLY_OTHER;
	const char *rej_reply = NULL;
	int64_t *next = calloc(j->n, sizeof(int64_t));
	struct smtpc_status *fst = malloc(j->n * sizeof(*fst));
	int ok = 1;
	char *hdr = NULL;
	size_t hlen = 0;

	if (!bounced || !delayed || !next || !fst)
		bug("out of memory");
	memcpy(fst, st, j->n * sizeof(*fst));
	/* what each recipient's outcome is */
	for (size_t i = 0; i < j->n; i++) {
		struct queue_rcpt *r = &j->r[i];
		if (st[i].code / 100 == 2)
			continue;
		/* a big receiver refusing our address, not the message: with
		 * a smarthost this message goes again through it at once */
		enum netv_reply kind = st[i].code && strcmp(ai->route, "direct") == 0
					   ? netv_reply_kind(st[i].text)
					   : NETV_REPLY_OTHER;
		if (kind != NETV_REPLY_OTHER && !rej_reply) {
			/* loft-netwatch weighs these (one per job is enough) */
			rej_kind = kind;
			rej_reply = st[i].text;
		}
		if (kind == NETV_REPLY_REPUTATION) {
			if (q->route.have_smarthost) {
				idset_add(&q->via_smarthost, r->id);
				next[i] = now;
				snprintf(fst[i].text, sizeof(fst[i].text),
					 "refused for the sending address, sent again through the "
					 "smarthost: %.300s",
					 st[i].text);
				nrep++;
				continue;
			}
			nrep_nosh++;
		}
		if (!st[i].temp) {
			bounced[nb++] = i;
			continue;
		}
		if (now - r->created >= q->conf.max_age) {
			snprintf(fst[i].text, sizeof(fst[i].text),
				 "gave up after %d attempts over %lld s: %.300s", r->attempts + 1,
				 (long long)(now - r->created), st[i].text);
			snprintf(fst[i].enh, sizeof(fst[i].enh), "%s", "4.4.7");
			bounced[nb++] = i;
			continue;
		}
		next[i] = now + backoff(&q->conf, r->attempts + 1);
		if (!r->delay_notified && now - r->created >= q->conf.delay_warning)
			delayed[nd++] = i;
	}
	if (q->stopping) {
		/* a transaction cut short by our own stop: the rows stay as
		 * they were and go out again after the restart */
		int any_final = 0;
		for (size_t i = 0; i < j->n; i++)
			any_final |= st[i].code / 100 == 2 || !st[i].temp;
		if (!any_final)
			goto out;
	}
	/* the report quotes the original header: read it while the
	 * message is still there (the last final row releases it) */
	if ((nb > 0 || nd > 0) && j->mail_from[0])
		hdr = orig_header(q, j->message_id, &hlen);
	if (store_tx_begin(q->st) < 0) {
		ok = 0;
		goto out;
	}
	for (size_t i = 0; i < j->n && ok; i++) {
		struct queue_rcpt *r = &j->r[i];
		int rc;
		struct store_attempt a = {
		    .route = ai->route,
		    .mx = ai->mx,
		    .addr = ai->addr,
		    .tls = ai->tls,
		    .verified = ai->verified,
		    .reply = fst[i].text,
		    .next_attempt = next[i],
		};
		if (st[i].code / 100 == 2)
			rc = store_queue_done(q->st, r->id);
		else if (next[i] == 0)
			rc = store_queue_bounce(q->st, r->id, fst[i].text);
		else
			rc = store_queue_defer(q->st, r->id, next[i], fst[i].text);
		if (rc == STORE_NOTFOUND) /* deleted or finished by the admin meanwhile */
			continue;
		if (rc < 0 || store_attempt_add(q->st, r->id, &a) < 0)
			ok = 0;
	}
	if (ok && rej_reply) {
		if (store_nw_rejection_add(q->st, ai->mx && ai->mx[0] ? ai->mx : "?",
					   netv_reply_str(rej_kind), rej_reply) < 0)
			ok = 0;
		if (rej_kind == NETV_REPLY_AUTH) {
			char ev[300];
			snprintf(ev, sizeof(ev),
				 "%.100s refused mail for SPF/DKIM/DMARC: check the records "
				 "`loftctl dns` prints",
				 ai->mx);
			if (store_event_add(q->st, "dkim", ev) < 0)
				ok = 0;
		}
	}
	if (ok && (nrep || nrep_nosh)) {
		char ev[300];
		snprintf(ev, sizeof(ev),
			 nrep ? "%s refused %zu recipient(s) for the sending address's reputation: "
				"relayed through the smarthost"
			      : "%s refused %zu recipient(s) for the sending address's reputation: "
				"set a smarthost (loftctl smarthost) to get such mail through",
			 ai->mx, nrep ? nrep : nrep_nosh);
		if (store_event_add(q->st, "route", ev) < 0)
			ok = 0;
	}
	/* never a report to the null sender (RFC 5321 4.5.5) */
	if (ok && nb > 0 && j->mail_from[0] &&
	    send_dsn(q, j, bounced, nb, fst, ai->mx, 0, hdr, hlen) < 0)
		ok = 0;
	if (ok && nd > 0 && j->mail_from[0]) {
		if (send_dsn(q, j, delayed, nd, fst, ai->mx, 1, hdr, hlen) < 0)
			ok = 0;
		for (size_t i = 0; i < nd && ok; i++)
			if (store_outbound_delay_mark(q->st, j->r[delayed[i]].id) < 0)
				ok = 0;
	}
	if (ok && store_tx_commit(q->st) < 0)
		ok = 0;
	/* outside the group commit: made durable soon, nobody waits */
	if (ok && !q->in_commit && queue_sync_async(q))
		queue_sync_request(q);
	if (!ok) {
		log_err(NULL, "event=result-not-saved message=%lld error=\"%s\"",
			(long long)j->message_id, store_errmsg(q->st));
		store_tx_rollback(q->st);
	}
out:
	for (size_t i = 0; i < j->n; i++) {
		struct queue_rcpt *r = &j->r[i];
		char when[32] = "-";
		const char *what = st[i].code / 100 == 2 ? "delivered"
				   : next[i] == 0	 ? "bounced"
							 : "deferred";
		if (next[i]) {
			time_t t = (time_t)next[i];
			struct tm tm;
			gmtime_r(&t, &tm);
			strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
		}
		char qr[SMTPC_TEXT_MAX * 2];
		log_info(NULL,
			 "event=%s id=%lld from=<%s> to=<%s> route=%s mx=%s addr=%s tls=%s "
			 "verified=%d reply=%s next=%s saved=%d",
			 what, (long long)r->id, j->mail_from, r->addr, ai->route,
			 ai->mx && ai->mx[0] ? ai->mx : "-",
			 ai->addr && ai->addr[0] ? ai->addr : "-",
			 ai->tls && ai->tls[0] ? ai->tls : "none", ai->verified,
			 log_quote(qr, sizeof(qr), fst[i].text, strlen(fst[i].text)), when, ok);
		queue_inflight_del(q, r->id);
		if (next[i] == 0)
			idset_del(&q->via_smarthost, r->id);
	}
	if ((nb > 0 || nd > 0) && ok) {
		/* a report may sit in an INBOX now; inside the group commit
		 * the news waits for its commit */
		if (q->in_commit)
			q->notify_mail = 1;
		else
			queue_notify_mail(q);
	}
	free(hdr);
	free(bounced);
	free(delayed);
	free(next);
	free(fst);
}

void queue_job_fail(struct queue *q, struct job *j, const struct smtpc_status *st,
		    const struct queue_attempt_info *ai)
{
	struct smtpc_status *all = malloc(j->n * sizeof(*all));

	if (!all)
		bug("out of memory");
	for (size_t i = 0; i < j->n; i++)
		all[i] = *st;
	queue_job_result(q, j, all, ai);
	free(all);
}
