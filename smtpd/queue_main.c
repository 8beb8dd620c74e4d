/*
 * loft-queue: outbound delivery.  Picks due rows of the queue table
 * (written by loft-smtpd in the same transaction as its 250), groups them
 * by message and destination, and delivers them directly to the
 * recipient domain's MX or through the smarthost, as the route settings
 * say (queue_route.c).
 *
 * SECURITY: runs as the unprivileged user loft, with no listening socket.
 * It talks to servers on the Internet that it does not trust: every reply
 * goes through lib/net/smtp_reply's bounded parser, every wait has a
 * timeout, and a server's text only ever reaches logs quoted and bounce
 * reports cleaned of control bytes.  It reads the smarthost password from
 * the store and sends it only over TLS, never logging it.  It touches only
 * DATADIR/loft.db (through lib/store).  Durability: a row is marked done
 * only after the peer's 250 to the end of data, in a committed
 * transaction (synchronous=FULL); a kill at any moment means a message is
 * sent at least once and never lost.
 */
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "array.h"
#include "config.h"
#include "daemon.h"
#include "dns.h"
#include "evloop.h"
#include "log.h"
#include "queue.h"
#include "store.h"
#include "store_imap.h"
#include "store_outbound.h"
#include "store_settings.h"
#include "tls.h"

static struct queue Q;

static void tls_drop(struct queue *q);

/* --- sets of queue ids --------------------------------------------------- */

static size_t slot(size_t cap, int64_t id)
{
	uint64_t h = (uint64_t)id * 0x9E3779B97F4A7C15ull;
	return (size_t)(h >> 17) & (cap - 1);
}

int idset_has(const struct idset *s, int64_t id)
{
	if (!s->cap)
		return 0;
	for (size_t i = slot(s->cap, id);; i = (i + 1) & (s->cap - 1)) {
		if (s->v[i] == 0)
			return 0;
		if (s->v[i] == id)
			return 1;
	}
}

static void idset_grow(struct idset *s)
{
	size_t ncap = s->cap ? s->cap * 2 : 1024, ocap = s->cap;
	int64_t *old = s->v;

	s->v = calloc(ncap, sizeof(int64_t));
	if (!s->v)
		bug("out of memory");
	s->cap = ncap;
	s->n = 0;
	for (size_t i = 0; i < ocap; i++)
		if (old[i] > 0)
			idset_add(s, old[i]);
	free(old);
}

void idset_add(struct idset *s, int64_t id)
{
	if ((s->n + 1) * 2 > s->cap)
		idset_grow(s);
	for (size_t i = slot(s->cap, id);; i = (i + 1) & (s->cap - 1)) {
		if (s->v[i] == id)
			return;
		if (s->v[i] == 0) {
			s->v[i] = id;
			s->n++;
			return;
		}
	}
}

void idset_del(struct idset *s, int64_t id)
{
	size_t i, cap = s->cap;

	if (!cap)
		return;
	for (i = slot(cap, id);; i = (i + 1) & (cap - 1)) {
		if (s->v[i] == 0)
			return;
		if (s->v[i] == id)
			break;
	}
	/* take out the rest of the probe chain and put it back, so every
	 * chain stays unbroken */
	s->v[i] = 0;
	s->n--;
	for (size_t k = (i + 1) & (cap - 1); s->v[k] != 0; k = (k + 1) & (cap - 1)) {
		int64_t v = s->v[k];
		s->v[k] = 0;
		s->n--;
		idset_add(s, v);
	}
}

int queue_inflight_has(struct queue *q, int64_t id)
{
	return idset_has(&q->inflight, id);
}

void queue_inflight_add(struct queue *q, int64_t id)
{
	idset_add(&q->inflight, id);
}

/* Rows held in memory at once: enough for every session to have a few
 * messages waiting, few enough that a long queue costs no memory (each
 * row is a job of a few hundred bytes).  A scan refills below half. */
#define SCAN_ROWS_PER_CONN 4

static size_t scan_limit(const struct queue *q)
{
	return (size_t)q->conf.max_conns * SCAN_ROWS_PER_CONN;
}

void queue_inflight_del(struct queue *q, int64_t id)
{
	size_t before = q->inflight.n;

	idset_del(&q->inflight, id);
	if (!q->stopping && before == scan_limit(q) / 2 && q->inflight.n < before) {
		q->scan_wanted = 1;
		ev_timer_arm(q->scan_timer, 0);
	}
}

/* --- picking work ------------------------------------------------------- */

static struct job *job_new(struct dest *d, const struct store_outbound_item *it)
{
	struct job *j = calloc(1, sizeof(*j));

	if (!j || !(j->mail_from = strdup(it->q.mail_from)))
		bug("out of memory");
	j->d = d;
	j->message_id = it->q.message_id;
	if (d->pending_tail)
		d->pending_tail->next = j;
	else
		d->pending = j;
	d->pending_tail = j;
	d->npending++;
	return j;
}

static void job_add_rcpt(struct job *j, const struct store_outbound_item *it)
{
	struct queue_rcpt *r;

	if (ARRAY_GROW(j->r, j->cap, j->n + 1, 4) < 0)
		bug("out of memory");
	r = &j->r[j->n++];
	r->id = it->q.id;
	r->addr = strdup(it->q.rcpt);
	if (!r->addr)
		bug("out of memory");
	r->created = it->q.created;
	r->attempts = it->q.attempts;
	r->delay_notified = it->delay_notified;
}

static int scan_row(void *arg, const struct store_outbound_item *it)
{
	struct queue *q = arg;
	struct dest *d;
	struct job *j;
	char key[256];
	const char *at;
	int sh = q->route.kind == ROUTE_SMARTHOST;

	if (queue_inflight_has(q, it->q.id))
		return 0;
	if (q->inflight.n >= scan_limit(q))
		return 1; /* enough in memory */
	/* refused by a direct MX for the sending address's reputation: this
	 * one goes through the smarthost (DESIGN.md, outbound route choice) */
	if (!sh && q->route.have_smarthost && idset_has(&q->via_smarthost, it->q.id))
		sh = 1;
	if (sh) {
		snprintf(key, sizeof(key), "[smarthost]");
	} else {
		at = strrchr(it->q.rcpt, '@');
		snprintf(key, sizeof(key), "%s", at ? at + 1 : "");
	}
	d = queue_dest_get(q, key, sh);
	/* rows of one message come together: add to the newest job of this
	 * destination when it is the same message and sender */
	j = d->pending_tail;
	if (!j || j->message_id != it->q.message_id || strcmp(j->mail_from, it->q.mail_from) != 0 ||
	    j->n >= q->conf.max_rcpts)
		j = job_new(d, it);
	job_add_rcpt(j, it);
	queue_inflight_add(q, it->q.id);
	return 0;
}

/* A bounce the admin asked for (loftctl queue bounce): collected while
 * listing (no writes inside a listing), failed at once afterwards with a
 * report to the sender. */
static int admin_bounce_row(void *arg, const struct store_outbound_item *it)
{
	struct dest *tmp = arg;

	if (queue_inflight_has(tmp->q, it->q.id))
		return 0;
	job_add_rcpt(job_new(tmp, it), it);
	queue_inflight_add(tmp->q, it->q.id);
	return 0;
}

static void admin_bounces(struct queue *q)
{
	struct dest tmp;
	struct job *j;
	struct smtpc_status st;
	struct queue_attempt_info ai = {.route = "admin", .mx = "", .addr = "", .tls = ""};

	memset(&tmp, 0, sizeof(tmp));
	tmp.q = q;
	if (store_outbound_bounce_requests(q->st, 100, admin_bounce_row, &tmp) < 0)
		log_err(NULL, "event=store-failed error=\"%s\"", store_errmsg(q->st));
	while ((j = tmp.pending) != NULL) {
		tmp.pending = j->next;
		smtpc_status_set(&st, 550, "5.0.0", "returned to the sender by the administrator");
		queue_job_fail(q, j, &st, &ai);
		queue_job_free(j);
	}
}

static void route_changed(struct queue *q)
{
	if (strcmp(q->last_route_why, q->route.why) == 0)
		return;
	snprintf(q->last_route_why, sizeof(q->last_route_why), "%s", q->route.why);
	log_msg(q->route.warn ? LOG_LVL_WARN : LOG_LVL_INFO, NULL,
		"event=route route=%s why=\"%s\"", queue_route_name(q->route.kind), q->route.why);
	if (store_event_add(q->st, "route", q->route.why) < 0)
		log_err(NULL, "event=store-failed error=\"%s\"", store_errmsg(q->st));
	if (q->route.have_smarthost && !q->route.sh.verify)
		log_warn(NULL,
			 "event=smarthost-unverified host=%s reason=\"smarthost.verify=0: "
			 "its certificate is not checked\"",
			 q->route.sh.host);
}

static void scan(struct queue *q)
{
	int64_t now = (int64_t)time(NULL);
	int limit;
	struct queue_route prev = q->route;

	if (q->stopping)
		return;
	if (q->tls_reload)
		tls_drop(q);
	if (queue_route_load(q->st, &q->route) < 0)
		return;
	/* a route change reaches only rows picked from now on; connections
	 * open to the old route finish what they carry */
	if (prev.kind != q->route.kind || strcmp(prev.sh.host, q->route.sh.host) != 0 ||
	    prev.sh.port != q->route.sh.port)
		for (struct dest *d = q->dests; d; d = d->next)
			if (d->smarthost && !d->nconn)
				d->resolved = 0;
	route_changed(q);
	explicit_bzero(&prev, sizeof(prev));
	admin_bounces(q);
	if (q->route.kind == ROUTE_HOLD)
		return;
	limit = (int)scan_limit(q);
	if (q->inflight.n >= (size_t)limit)
		return;
	/* The rows in flight are still waiting in the table, and they come
	 * first (the oldest): asking for limit - inflight rows returned just
	 * those, so the refill at half (queue_inflight_del) took nothing and
	 * the sessions ran dry until a periodic scan.  Up to limit rows are
	 * read; scan_row skips those in flight and stops at the limit. */
	size_t before = q->inflight.n;
	if (store_outbound_due(q->st, now, limit, scan_row, q) < 0) {
		log_err(NULL, "event=store-failed error=\"%s\"", store_errmsg(q->st));
		return;
	}
	if (q->inflight.n > before)
		log_debug(NULL, "event=scan taken=%zu in_memory=%zu", q->inflight.n - before,
			  q->inflight.n);
	for (struct dest *d = q->dests, *next; d; d = next) {
		next = d->next;
		queue_dest_kick(d);
	}
}

static void on_scan_timer(struct evloop *ev, struct ev_timer *t, void *arg)
{
	struct queue *q = arg;
	int64_t v;

	(void)ev;
	if (store_data_version(q->st, &v) == 0 && v != q->data_version) {
		q->data_version = v;
		q->scan_wanted = 1;
	}
	/* due retries need a look now and then even when nothing changed */
	static unsigned ticks;
	if (q->scan_wanted || ++ticks % 5 == 0) {
		q->scan_wanted = 0;
		scan(q);
	}
	ev_timer_arm(t, q->conf.scan_ms);
}

static void load_helo(struct queue *q);

static void on_notify(struct daemon *d, const char *topic, void *arg)
{
	struct queue *q = arg;

	(void)d;
	if (strcmp(topic, "queue") == 0) {
		q->scan_wanted = 1;
		ev_timer_arm(q->scan_timer, 0);
	} else if (strcmp(topic, "settings") == 0) {
		load_helo(q);
	}
}

void queue_notify_mail(struct queue *q)
{
	daemon_notify(q->d, "mail");
}

static void on_stop_timer(struct evloop *ev, struct ev_timer *t, void *arg)
{
	(void)t;
	(void)arg;
	ev_stop(ev);
}

static void on_stop(struct daemon *d, void *arg)
{
	struct queue *q = arg;

	(void)d;
	q->stopping = 1;
	queue_sign_drain(q);
	queue_sync_drain(q);
	queue_commit_now(q);
	if (q->nconns == 0) {
		ev_stop(q->ev);
		return;
	}
	queue_abort_all(q);
	/* closes come from the loop at once; this is only a backstop */
	q->stop_timer = ev_timer_new(q->ev, on_stop_timer, q);
	ev_timer_arm(q->stop_timer, 3000);
}

/* The client TLS contexts are made on first use: each holds the parsed
 * system CA store (about 1 MB), and a queue that only ever talks to a
 * smarthost needs one, an idle queue none. */
static struct tls_ctx *tls_make(struct queue *q, enum tls_verify v)
{
	char err[512];
	const char *ca = config_get(daemon_config(q->d), "queue.ca_file", NULL);
	struct tls_ctx *t = tls_client_new(ca, v, err, sizeof(err));

	if (!t)
		log_err(NULL, "event=tls-client-failed mode=%s error=\"%s\"",
			v == TLS_VERIFY_REQUIRED ? "verify" : "opportunistic", err);
	return t;
}

struct tls_ctx *queue_tls(struct queue *q, int verify)
{
	if (verify) {
		if (!q->tls_sh)
			q->tls_sh = tls_make(q, TLS_VERIFY_REQUIRED);
		return q->tls_sh;
	}
	if (!q->tls_opp)
		q->tls_opp = tls_make(q, TLS_VERIFY_NONE);
	return q->tls_opp;
}

/* Drops the contexts (reload: a new CA file or store); sessions in flight
 * keep theirs, so this waits until none is open. */
static void tls_drop(struct queue *q)
{
	if (q->nconns > 0) {
		q->tls_reload = 1;
		return;
	}
	tls_ctx_free(q->tls_opp);
	tls_ctx_free(q->tls_sh);
	q->tls_opp = q->tls_sh = NULL;
	q->tls_reload = 0;
}

/* The EHLO/HELO name (daemon_mail_hostname: loft.conf's hostname, else
 * the wizard's mail.hostname); sessions already past EHLO keep what they
 * said. */
static void load_helo(struct queue *q)
{
	char host[256];
	const char *from = daemon_mail_hostname(q->d, q->st, host, sizeof(host));

	if (strcmp(host, q->conf.helo) != 0)
		log_info(NULL, "event=helo-name name=%s from=%s", host, from);
	snprintf(q->conf.helo, sizeof(q->conf.helo), "%s", host);
}

static void on_reload(struct daemon *d, void *arg)
{
	(void)d;
	tls_drop(arg);
	load_helo(arg);
	log_info(NULL, "event=reloaded");
}

static uint64_t conf_u64(struct config *cfg, const char *key, uint64_t def, uint64_t min,
			 uint64_t max)
{
	uint64_t v;

	if (config_get_u64(cfg, key, def, max, &v) < 0 || v < min)
		fatal("event=config-error key=%s error=\"must be a number from %llu to %llu\"", key,
		      (unsigned long long)min, (unsigned long long)max);
	return v;
}

static void load_conf(struct queue *q)
{
	struct config *cfg = daemon_config(q->d);
	struct queue_conf *c = &q->conf;
	c->mx_port = (int)conf_u64(cfg, "queue.mx_port", 25, 1, 65535);
	c->timeout_ms = conf_u64(cfg, "queue.timeout", 300, 1, 3600) * 1000;
	c->connect_timeout_ms = conf_u64(cfg, "queue.connect_timeout", 30, 1, 600) * 1000;
	c->retry_min = (int64_t)conf_u64(cfg, "queue.retry_min", 300, 1, 86400);
	c->retry_max = (int64_t)conf_u64(cfg, "queue.retry_max", 4 * 3600, 1, 7 * 86400);
	c->max_age = (int64_t)conf_u64(cfg, "queue.max_age", 5 * 86400, 1, 60 * 86400);
	c->delay_warning = (int64_t)conf_u64(cfg, "queue.delay_warning", 4 * 3600, 1, 60 * 86400);
	/* Postfix's limits (smtp_destination_concurrency_limit,
	 * default_process_limit); make bench: 4 per destination delivered at
	 * a third of the rate of 20 on a loaded machine */
	c->max_per_dest = (unsigned)conf_u64(cfg, "queue.max_per_destination", 20, 1, 100);
	c->max_conns = (unsigned)conf_u64(cfg, "queue.max_connections", 100, 1, 1000);
	/* slow start (queue_slowstart.c): sessions per destination begin here */
	c->initial_per_dest = (unsigned)conf_u64(cfg, "queue.initial_per_destination", 2, 1, 100);
	c->max_rcpts = (unsigned)conf_u64(cfg, "queue.max_recipients", 50, 1, 1000);
	c->scan_ms = (unsigned)conf_u64(cfg, "queue.scan_ms", 1000, 10, 60000);
	/* DKIM's RSA takes milliseconds: threads for it, one per online core
	 * by default (a board's RSA-2048 signature takes several times a
	 * PC's, so every core signs), 0 signs on the loop */
	long cores = sysconf(_SC_NPROCESSORS_ONLN);
	cores = cores < 1 ? 1 : cores > 8 ? 8 : cores;
	c->sign_threads = (unsigned)conf_u64(cfg, "queue.sign_threads", (uint64_t)cores, 0, 8);
	if (c->retry_max < c->retry_min)
		c->retry_max = c->retry_min;
}

int main(int argc, char **argv)
{
	struct queue *q = &Q;
	struct daemon_hooks hooks = {
	    .stop = on_stop, .reload = on_reload, .notify = on_notify, .arg = q};
	char err[512];

	/* one thread: one arena; big buffers back to the system when freed */
	mallopt(M_ARENA_MAX, 1);
	mallopt(M_MMAP_THRESHOLD, 128 * 1024);
	q->d = daemon_init(argc, argv, "loft-queue");
	q->ev = daemon_loop(q->d);
	daemon_set_hooks(q->d, &hooks);
	load_conf(q);
	srandom((unsigned)time(NULL) ^ (unsigned)getpid());
	if (store_open(daemon_db_path(q->d), &q->st, err, sizeof(err)) < 0)
		fatal("event=db-open-failed error=\"%s\"", err);
	/* an outcome's savepoint inside the group commit journals a dozen
	 * pages: in a file, once past 64 KiB, that was 25 write() per message */
	if (store_set_cache_kib(q->st, 128) < 0 || store_set_temp_memory(q->st) < 0)
		fatal("event=db-open-failed error=\"%s\"", store_errmsg(q->st));
	load_helo(q);
	q->raw = store_raw_new(q->st);
	/* outcome commits: fsynced on a thread, the loop never waits for
	 * the disk (queue_sync.c); without the thread, synchronous */
	if (queue_sync_start(q, daemon_db_path(q->d)) < 0 ||
	    store_set_deferred_sync(q->st, 1) < 0) {
		queue_sync_stop(q);
		log_warn(NULL, "event=sync-thread-failed effect=\"outcomes fsynced on the loop\"");
	}
	q->dns = daemon_dns(q->d);
	q->scan_timer = ev_timer_new(q->ev, on_scan_timer, q);
	q->commit_timer = ev_timer_new(q->ev, queue_commit_timer, q);
	if (queue_sign_start(q, q->conf.sign_threads) < 0)
		log_warn(NULL, "event=sign-threads-failed effect=\"signing on the loop\"");
	q->scan_wanted = 1;
	ev_timer_arm(q->scan_timer, 0);
	log_info(NULL,
		 "event=queue-start helo=%s mx_port=%d retry_min=%lld max_age=%lld "
		 "sign_threads=%u",
		 q->conf.helo, q->conf.mx_port, (long long)q->conf.retry_min,
		 (long long)q->conf.max_age, q->conf.sign_threads);

	int rc = daemon_run(q->d);
	queue_sign_stop(q);
	queue_sync_stop(q); /* finishes the fsyncs asked for first */
	ev_timer_free(q->scan_timer);
	ev_timer_free(q->stop_timer);
	ev_timer_free(q->commit_timer);
	dns_free(q->dns);
	store_raw_free(q->raw);
	store_close(q->st);
	tls_ctx_free(q->tls_opp);
	tls_ctx_free(q->tls_sh);
	free(q->inflight.v);
	free(q->via_smarthost.v);
	daemon_free(q->d);
	return rc;
}
