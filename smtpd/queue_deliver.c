/*
 * Destinations and connections: resolving where a destination's mail goes
 * (MX hosts by preference with equal preferences shuffled, the domain's
 * own A/AAAA without MX, null MX refused; or the smarthost's addresses),
 * connecting to the first address that answers, and carrying the
 * destination's jobs one after the other over each connection (reuse).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon.h"
#include "dns.h"
#include "evloop.h"
#include "log.h"
#include "queue.h"
#include "store.h"

struct qconn {
	struct qconn *next, *prev; /* q->conns */
	struct queue *q;
	struct dest *d;
	struct smtp_client *cl;
	struct job *job;
	size_t target;
	int ready;     /* the session got as far as a transaction */
	int delivered; /* jobs carried */
	int notls;     /* opportunistic TLS failed here: plaintext this time */
	int answered;  /* some address answered: its error says most */
	/* a finished transaction waiting for the group commit */
	int waiting, gone;
	int signing; /* its job waits for a signing thread */
	struct job *done_job;
	struct smtpc_status *done_st;
	struct queue_attempt_info done_ai;
	char done_addr[64], done_tls[16];
	struct qconn *commit_next;
	struct smtpc_status last;
};

static const struct smtpc_cbs qconn_cbs;

struct dest *queue_dest_get(struct queue *q, const char *key, int smarthost)
{
	struct dest *d;

	for (d = q->dests; d; d = d->next)
		if (d->smarthost == smarthost && strcmp(d->key, key) == 0)
			return d;
	d = calloc(1, sizeof(*d));
	if (!d || !(d->key = strdup(key)))
		bug("out of memory");
	d->q = q;
	d->smarthost = smarthost;
	queue_slowstart_init(&d->ss, q->conf.initial_per_dest, q->conf.max_per_dest);
	d->next = q->dests;
	q->dests = d;
	return d;
}

static void dest_free_if_idle(struct dest *d)
{
	struct queue *q = d->q;
	struct dest **pp;

	if (d->pending || d->nconn || d->resolving)
		return;
	for (pp = &q->dests; *pp; pp = &(*pp)->next)
		if (*pp == d) {
			*pp = d->next;
			break;
		}
	free(d->key);
	free(d);
}

static struct job *dest_take(struct dest *d)
{
	struct job *j = d->pending;

	if (j) {
		d->pending = j->next;
		if (!d->pending)
			d->pending_tail = NULL;
		d->npending--;
		j->next = NULL;
	}
	return j;
}

/* Every waiting job of d gets st (a resolution or connection failure). */
static void dest_fail_all(struct dest *d, const struct smtpc_status *st, const char *mx,
			  const char *addr)
{
	struct queue_attempt_info ai = {
	    .route = d->smarthost ? "smarthost" : "direct", .mx = mx, .addr = addr, .tls = ""};
	struct job *j;

	while ((j = dest_take(d)) != NULL) {
		queue_job_fail(d->q, j, st, &ai);
		queue_job_free(j);
	}
}

/* --- connections ---------------------------------------------------------- */

static void qconn_connect(struct qconn *qc)
{
	struct queue *q = qc->q;
	struct dest *d = qc->d;
	struct target *t = &d->t[qc->target];
	struct smtpc_config cfg = {
	    .helo = q->conf.helo,
	    .servername = t->host,
	    .timeout_ms = q->conf.timeout_ms,
	    .connect_timeout_ms = q->conf.connect_timeout_ms,
	};

	if (d->smarthost) {
		cfg.tls_mode = q->route.sh.tls;
		cfg.tls = queue_tls(q, q->route.sh.verify);
		cfg.user = q->route.sh.user[0] ? q->route.sh.user : NULL;
		cfg.password = q->route.sh.password;
	} else {
		cfg.tls_mode = qc->notls ? SMTPC_TLS_NONE : SMTPC_TLS_OPPORTUNISTIC;
		cfg.tls = qc->notls ? NULL : queue_tls(q, 0);
	}
	if (!cfg.tls && cfg.tls_mode == SMTPC_TLS_IMPLICIT)
		cfg.tls_mode = SMTPC_TLS_STARTTLS; /* fails clearly: no TLS context */
	qc->cl =
	    smtp_client_connect(q->ev, (struct sockaddr *)&t->sa, t->salen, &cfg, &qconn_cbs, qc);
}

static void qconn_start(struct dest *d)
{
	struct qconn *qc = calloc(1, sizeof(*qc));

	if (!qc)
		bug("out of memory");
	qc->q = d->q;
	qc->d = d;
	qc->next = d->q->conns;
	if (qc->next)
		qc->next->prev = qc;
	d->q->conns = qc;
	d->nconn++;
	d->nconnecting++;
	d->q->nconns++;
	qconn_connect(qc);
}

static void qconn_gone(struct qconn *qc);

static void send_job(struct qconn *qc, struct smtp_client *cl)
{
	struct job *j = qc->job;
	struct smtpc_status st;

	if (smtp_client_send(cl, &j->msg) < 0) {
		/* cannot happen in ready/done; treat as a lost session */
		struct queue_attempt_info ai = {.route = "", .mx = "", .addr = "", .tls = ""};
		qc->job = NULL;
		smtpc_status_set(&st, 0, NULL, "session not ready");
		queue_job_fail(qc->q, j, &st, &ai);
		queue_job_free(j);
		smtp_client_abort(cl, "session not ready");
	}
}

/* Takes the next job and sends it, or says QUIT. */
static void qconn_next(struct qconn *qc, struct smtp_client *cl)
{
	struct queue *q = qc->q;
	struct smtpc_status st;

	for (;;) {
		struct job *j = q->stopping ? NULL : dest_take(qc->d);
		if (!j) {
			smtp_client_quit(cl);
			return;
		}
		int r = queue_job_prepare(q, j, &st);
		if (r < 0) {
			struct queue_attempt_info ai = {.route = qc->d->smarthost ? "smarthost"
										  : "direct",
							.mx = qc->d->t[qc->target].host,
							.addr = smtp_client_peer(cl),
							.tls = ""};
			queue_job_fail(q, j, &st, &ai);
			queue_job_free(j);
			continue;
		}
		qc->job = j;
		j->qc = qc;
		if (r == 1) {
			qc->signing = 1; /* queue_job_ready() goes on */
			return;
		}
		send_job(qc, cl);
		return;
	}
}

void queue_job_ready(struct job *j)
{
	struct qconn *qc = j->qc;

	qc->signing = 0;
	if (qc->gone) {
		/* the session ended meanwhile: the job waits for another */
		struct dest *d = qc->d;
		qc->job = NULL;
		j->next = d->pending;
		d->pending = j;
		if (!d->pending_tail)
			d->pending_tail = j;
		d->npending++;
		qconn_gone(qc);
		return;
	}
	send_job(qc, qc->cl);
}

static void on_ready(struct smtp_client *cl, void *arg)
{
	struct qconn *qc = arg;

	if (!qc->ready) {
		qc->ready = 1;
		qc->d->nconnecting--;
	}
	log_info(smtp_client_sid(cl),
		 "event=session-ready dest=%s mx=%s addr=%s tls=%s verified=%d banner=\"%.80s\"",
		 qc->d->key, qc->d->t[qc->target].host, smtp_client_peer(cl),
		 smtp_client_tls_version(cl)[0] ? smtp_client_tls_version(cl) : "none",
		 smtp_client_tls_verified(cl), smtp_client_banner(cl));
	qconn_next(qc, cl);
}

static void qconn_gone(struct qconn *qc);

/* Sessions whose outcomes are committed go on: each frees its finished
 * job and takes the next (or ends, if its connection went meanwhile). */
static void batch_proceed(struct qconn *list)
{
	struct qconn *qc, *next;

	for (qc = list; qc; qc = next) {
		next = qc->commit_next;
		qc->commit_next = NULL;
		queue_job_free(qc->done_job);
		free(qc->done_st);
		qc->done_job = NULL;
		qc->done_st = NULL;
		qc->waiting = 0;
		qc->delivered++;
		if (qc->gone) {
			qconn_gone(qc);
		} else {
			struct dest *d = qc->d;
			queue_slowstart_success(&d->ss);
			qconn_next(qc, qc->cl);
			/* the larger allowance: more sessions if jobs wait */
			queue_dest_kick(d);
		}
	}
}

/* A committed batch waiting for its fsync (queue_sync.c). */
struct qbatch {
	uint64_t seq;
	struct qconn *list;
	struct qbatch *next;
};

void queue_synced(struct queue *q, uint64_t seq)
{
	while (q->sync_wait && q->sync_wait->seq <= seq) {
		struct qbatch *b = q->sync_wait;
		q->sync_wait = b->next;
		if (!q->sync_wait)
			q->sync_wait_tail = NULL;
		batch_proceed(b->list);
		free(b);
	}
}

/* The group commit: the outcomes of every transaction that finished in
 * one turn of the loop are written in one transaction, and only once it
 * is durable does each of those sessions go on to its next message -- so
 * an outcome is durable before the next step.  The fsync runs on
 * queue_sync.c's thread: the loop goes on meanwhile, and one fsync
 * covers the batches of several turns. */
static void commit_batch(struct queue *q)
{
	struct qconn *list = q->commit_list, *qc;
	int outer;

	q->commit_list = NULL;
	if (!list)
		return;
	outer = store_tx_begin(q->st) == 0;
	q->in_commit = 1;
	for (qc = list; qc; qc = qc->commit_next)
		queue_job_result(q, qc->done_job, qc->done_st, &qc->done_ai);
	q->in_commit = 0;
	if (outer && store_tx_commit(q->st) < 0) {
		log_err(NULL, "event=result-not-saved error=\"%s\" effect=\"sent again later\"",
			store_errmsg(q->st));
		store_tx_rollback(q->st);
	}
	if (q->notify_mail) {
		q->notify_mail = 0;
		queue_notify_mail(q);
	}
	if (queue_sync_async(q) && !q->stopping) {
		struct qbatch *b = calloc(1, sizeof(*b));
		if (!b)
			bug("out of memory");
		b->list = list;
		b->seq = queue_sync_request(q);
		if (q->sync_wait_tail)
			q->sync_wait_tail->next = b;
		else
			q->sync_wait = b;
		q->sync_wait_tail = b;
		return;
	}
	/* stopping (or no thread): durable here, before anything goes on */
	if (queue_sync_async(q) && store_wal_sync(daemon_db_path(q->d)) < 0)
		log_err(NULL, "event=outcome-sync-failed error=\"%s\"", strerror(errno));
	batch_proceed(list);
}

void queue_commit_now(struct queue *q)
{
	commit_batch(q);
}

void queue_commit_timer(struct evloop *ev, struct ev_timer *t, void *arg)
{
	(void)ev;
	(void)t;
	commit_batch(arg);
}

static void on_done(struct smtp_client *cl, void *arg, const struct smtpc_status *st, size_t n)
{
	struct qconn *qc = arg;
	struct queue *q = qc->q;
	struct job *j = qc->job;

	qc->job = NULL;
	if (!j)
		bug("transaction done without a job");
	if (n != j->n)
		bug("transaction results do not match the job");
	snprintf(qc->done_addr, sizeof(qc->done_addr), "%s", smtp_client_peer(cl));
	snprintf(qc->done_tls, sizeof(qc->done_tls), "%s", smtp_client_tls_version(cl));
	qc->done_ai = (struct queue_attempt_info){
	    .route = qc->d->smarthost ? "smarthost" : "direct",
	    .mx = qc->d->t[qc->target].host,
	    .addr = qc->done_addr,
	    .tls = qc->done_tls,
	    .verified = smtp_client_tls_verified(cl),
	};
	qc->done_st = malloc(n * sizeof(*st));
	if (!qc->done_st)
		bug("out of memory");
	memcpy(qc->done_st, st, n * sizeof(*st));
	qc->done_job = j;
	qc->waiting = 1;
	qc->commit_next = q->commit_list;
	q->commit_list = qc;
	if (q->stopping)
		commit_batch(q);
	else
		ev_timer_arm(q->commit_timer, 0);
}

static void on_closed(struct smtp_client *cl, void *arg, const struct smtpc_status *why)
{
	struct qconn *qc = arg;
	struct dest *d = qc->d;
	struct queue *q = qc->q;

	(void)cl;
	qc->cl = NULL;
	if (!qc->ready) {
		log_info(NULL, "event=connect-failed dest=%s mx=%s addr=%s error=\"%s\"", d->key,
			 d->t[qc->target].host, smtp_client_peer(cl), why->text);
		/* what a server said beats "connection refused" elsewhere */
		if (smtp_client_connected(cl) || !qc->answered)
			qc->last = *why;
		qc->answered |= smtp_client_connected(cl);
		/* opportunistic TLS that breaks is no reason to keep mail back:
		 * the same address again in plaintext, as Postfix does */
		if (!q->stopping && !d->smarthost && !qc->notls &&
		    strstr(why->text, "TLS handshake failed")) {
			qc->notls = 1;
			qconn_connect(qc);
			return;
		}
		qc->notls = 0;
		/* the next address, as RFC 5321 5.1 says, unless stopping */
		if (!q->stopping && qc->target + 1 < d->nt) {
			qc->target++;
			qconn_connect(qc);
			return;
		}
		d->nconnecting--;
	}
	if (qc->waiting || qc->signing) {
		/* its last outcome waits for the group commit, or its job for
		 * a signature: that ends it */
		qc->gone = 1;
		return;
	}
	qconn_gone(qc);
}

/* The end of a connection: counts, the destination's next step. */
static void qconn_gone(struct qconn *qc)
{
	struct dest *d = qc->d;
	struct queue *q = qc->q;

	d->nconn--;
	q->nconns--;
	if (qc->prev)
		qc->prev->next = qc->next;
	else
		q->conns = qc->next;
	if (qc->next)
		qc->next->prev = qc->prev;
	if (!qc->ready && !q->stopping) {
		queue_slowstart_failure(&d->ss);
		log_info(NULL, "event=slow-start dest=%s sessions=%u reason=\"session failed\"",
			 d->key, d->ss.window);
	}
	if (!qc->ready && d->nconn == 0 && !q->stopping) {
		/* no address took the mail: every job waits for the next try */
		struct smtpc_status st = qc->last;
		st.temp = 1;
		dest_fail_all(d, &st, d->t[qc->target].host, "");
	}
	free(qc);
	if (!q->stopping)
		queue_dest_kick(d);
	dest_free_if_idle(d);
	if (q->stopping && q->nconns == 0)
		ev_stop(q->ev);
}

static const struct smtpc_cbs qconn_cbs = {
    .ready = on_ready,
    .done = on_done,
    .closed = on_closed,
};

/* --- resolution ----------------------------------------------------------- */

static void add_target(struct dest *d, const char *host, const struct dns_addr *a, int port)
{
	struct target *t;

	if (d->nt >= QUEUE_MAX_TARGETS)
		return;
	t = &d->t[d->nt++];
	memset(t, 0, sizeof(*t));
	snprintf(t->host, sizeof(t->host), "%s", host);
	if (a->family == AF_INET6) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&t->sa;
		s6->sin6_family = AF_INET6;
		s6->sin6_addr = a->a.v6;
		s6->sin6_port = htons((uint16_t)port);
		t->salen = sizeof(*s6);
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&t->sa;
		s4->sin_family = AF_INET;
		s4->sin_addr = a->a.v4;
		s4->sin_port = htons((uint16_t)port);
		t->salen = sizeof(*s4);
	}
}

static void resolved(struct dest *d)
{
	d->resolving = 0;
	d->resolved = 1;
	d->req = NULL;
	if (d->nt == 0) {
		struct smtpc_status st;
		smtpc_status_set(&st, 0, NULL, "no address to deliver to for %s", d->key);
		dest_fail_all(d, &st, "", "");
		dest_free_if_idle(d);
		return;
	}
	queue_dest_kick(d);
	dest_free_if_idle(d);
}

static void on_mx(void *arg, enum dns_status s, const struct dns_mx_host *h, size_t n)
{
	struct dest *d = arg;
	struct smtpc_status st;
	size_t order[DNS_MAX_MXHOSTS];

	if (s == DNS_CANCELLED)
		return;
	d->req = NULL;
	if (s != DNS_OK) {
		d->resolving = 0;
		switch (s) {
		case DNS_NULLMX:
			smtpc_status_set(&st, 556, "5.1.10",
					 "%s does not accept mail (null MX, RFC 7505)", d->key);
			break;
		case DNS_NXDOMAIN:
			smtpc_status_set(&st, 550, "5.1.2", "domain %s does not exist", d->key);
			break;
		case DNS_NODATA:
		case DNS_ERROR:
			smtpc_status_set(&st, 550, "5.1.2",
					 "domain %s has no usable MX, A or AAAA record", d->key);
			break;
		default:
			smtpc_status_set(&st, 0, "4.4.3", "DNS lookup for %s failed (%s)", d->key,
					 dns_status_str(s));
			break;
		}
		log_info(NULL, "event=dns-failed dest=%s status=%s", d->key, dns_status_str(s));
		dest_fail_all(d, &st, "", "");
		dest_free_if_idle(d);
		return;
	}
	if (n > DNS_MAX_MXHOSTS)
		n = DNS_MAX_MXHOSTS;
	/* equal preferences in random order (RFC 5321 5.1) */
	for (size_t i = 0; i < n; i++)
		order[i] = i;
	for (size_t i = 0; i < n;) {
		size_t k = i;
		while (k < n && h[order[k]].pref == h[order[i]].pref)
			k++;
		for (size_t m = k - 1; m > i; m--) {
			size_t r = i + (size_t)random() % (m - i + 1), tmp = order[m];
			order[m] = order[r];
			order[r] = tmp;
		}
		i = k;
	}
	for (size_t i = 0; i < n; i++) {
		const struct dns_mx_host *mh = &h[order[i]];
		for (size_t a = 0; a < mh->naddrs; a++)
			add_target(d, mh->host, &mh->addrs[a], d->q->conf.mx_port);
	}
	resolved(d);
}

static void on_sh_addr(void *arg, enum dns_status s, const struct dns_addr *a, size_t n)
{
	struct dest *d = arg;

	if (s == DNS_CANCELLED)
		return;
	if (s == DNS_OK)
		for (size_t i = 0; i < n; i++)
			add_target(d, d->q->route.sh.host, &a[i], d->q->route.sh.port);
	if (--d->naddr_queries > 0)
		return;
	if (d->nt == 0) {
		struct smtpc_status st;
		d->resolving = 0;
		smtpc_status_set(&st, 0, "4.4.3", "smarthost %s has no address (%s)",
				 d->q->route.sh.host, dns_status_str(s));
		dest_fail_all(d, &st, d->q->route.sh.host, "");
		dest_free_if_idle(d);
		return;
	}
	resolved(d);
}

static void dest_resolve(struct dest *d)
{
	struct queue *q = d->q;

	d->resolving = 1;
	d->nt = 0;
	if (!d->smarthost) {
		d->req = dns_resolve_mx_hosts(q->dns, d->key, on_mx, d);
		if (!d->req) {
			struct smtpc_status st;
			d->resolving = 0;
			smtpc_status_set(&st, 550, "5.1.2", "bad domain name %s", d->key);
			dest_fail_all(d, &st, "", "");
		}
		return;
	}
	/* a smarthost given as an address needs no lookup */
	struct dns_addr a;
	memset(&a, 0, sizeof(a));
	if (inet_pton(AF_INET, q->route.sh.host, &a.a.v4) == 1) {
		a.family = AF_INET;
		add_target(d, q->route.sh.host, &a, q->route.sh.port);
		resolved(d);
		return;
	}
	if (inet_pton(AF_INET6, q->route.sh.host, &a.a.v6) == 1) {
		a.family = AF_INET6;
		add_target(d, q->route.sh.host, &a, q->route.sh.port);
		resolved(d);
		return;
	}
	d->naddr_queries = 2;
	if (!dns_query_a(q->dns, q->route.sh.host, on_sh_addr, d))
		d->naddr_queries--;
	if (!dns_query_aaaa(q->dns, q->route.sh.host, on_sh_addr, d))
		d->naddr_queries--;
	if (d->naddr_queries == 0) {
		struct smtpc_status st;
		d->resolving = 0;
		smtpc_status_set(&st, 0, "4.4.3", "bad smarthost name %s", q->route.sh.host);
		dest_fail_all(d, &st, "", "");
	}
}

void queue_dest_kick(struct dest *d)
{
	struct queue *q = d->q;

	if (q->stopping || !d->pending)
		return;
	if (!d->resolved) {
		if (!d->resolving)
			dest_resolve(d);
		return;
	}
	while (d->pending && d->nconn < q->conf.max_per_dest && d->nconn < d->ss.window &&
	       q->nconns < q->conf.max_conns && d->npending > d->nconnecting)
		qconn_start(d);
}

void queue_abort_all(struct queue *q)
{
	/* a transaction cut short is sent again after the restart (at least
	 * once, never lost); each closed() comes from the loop */
	for (struct qconn *qc = q->conns; qc; qc = qc->next)
		if (qc->cl)
			smtp_client_abort(qc->cl, "loft-queue stopping");
}
