/*
 * loft-imapd: IMAP4rev1 (143 STARTTLS, 993 implicit TLS) and, through
 * pop3.c, POP3 (110 STLS, 995 implicit TLS) for the phone and desktop mail
 * apps of Loft's users.
 *
 * Security role: spawned by loftd with its listening sockets already bound;
 * runs as the unprivileged user "loft" (loftd drops privileges before any
 * network byte is read).  It trusts nothing that comes from the network:
 * every command goes through the bounded parser in parser.c, and every
 * limit (line, literal, nesting, arguments, sessions per user and address,
 * idle time, authentication failures) answers with an error, never with
 * unbounded memory.  It touches only DATADIR/loft.db (through lib/store)
 * and reads the TLS certificate and key (DATADIR/tls/ unless configured).
 */
#include <errno.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "authcheck.h"
#include "authlimit.h"
#include "config.h"
#include "daemon.h"
#include "evloop.h"
#include "imapd.h"
#include "listener.h"
#include "log.h"
#include "pop3/pop3.h"
#include "store.h"
#include "store_mailbox.h"
#include "store_deliver.h"
#include "tls.h"

#define POLL_MS 500

static void poll_tick(struct evloop *ev, struct ev_timer *t, void *arg)
{
	struct imapd *srv = arg;
	int64_t v;

	(void)ev;
	/* commits by other processes (smtpd deliveries, loftctl) bump
	 * data_version; ours are announced in-process by imapd_changed() */
	if (store_data_version(srv->st, &v) == 0 && v != srv->data_version)
		srv->data_version = v;
	/* POP3 in this process shares the store handle, so its changes do not
	 * move data_version: idle sessions check their mailbox each tick (a
	 * cheap look at HIGHESTMODSEQ and UIDNEXT when nothing changed) */
	imapd_changed(srv, 0);
	ev_timer_arm(t, POLL_MS);
}

static void on_notify(struct daemon *d, const char *topic, void *arg)
{
	struct imapd *srv = arg;

	(void)d;
	if (strcmp(topic, "mail") == 0)
		imapd_changed(srv, 0);
}

static void on_stop_check(struct evloop *ev, struct ev_timer *t, void *arg)
{
	struct imapd *srv = arg;

	if (listener_sessions(srv->lsn) == 0 && pop3d_sessions(srv->pop3) == 0) {
		ev_stop(ev);
		return;
	}
	ev_timer_arm(t, 200);
}

static void on_stop(struct daemon *d, void *arg)
{
	struct imapd *srv = arg;

	(void)d;
	srv->stopping = 1;
	listener_stop(srv->lsn);
	pop3d_stop(srv->pop3);
	imapd_stop_sessions(srv);
	if (!srv->stop_timer)
		srv->stop_timer = ev_timer_new(srv->ev, on_stop_check, srv);
	ev_timer_arm(srv->stop_timer, 0);
}

static void pop3_changed(void *arg, int64_t mailbox_id)
{
	imapd_changed(arg, mailbox_id);
}

static void on_reload(struct daemon *d, void *arg)
{
	struct imapd *srv = arg;
	struct tls_ctx *ctx = daemon_tls_server(d);

	if (ctx) {
		/* POP3 must drop its pointer before the old context goes */
		pop3d_set_tls(srv->pop3, ctx);
		tls_ctx_free(srv->tls);
		srv->tls = ctx;
	}
}

static uint64_t conf_u64(struct config *cfg, const char *key, uint64_t def, uint64_t max)
{
	uint64_t v;

	if (config_get_u64(cfg, key, def, max, &v) < 0)
		fatal("bad value for %s in loft.conf", key);
	return v;
}

/* Memory: one process serves every session on a 512 MB board, so what it
 * frees should go back to the system.  One malloc arena (the password
 * checker threads allocate little and rarely; an arena per thread would
 * keep its own free memory), and buffers of 64 KiB or more come from mmap
 * so freeing them returns them at once. */
static void malloc_setup(void)
{
	mallopt(M_ARENA_MAX, 1);
	mallopt(M_MMAP_THRESHOLD, 64 * 1024);
	mallopt(M_TRIM_THRESHOLD, 128 * 1024);
}

int main(int argc, char **argv)
{
	malloc_setup();
	struct daemon *d = daemon_init(argc, argv, "loft-imapd");
	struct config *cfg = daemon_config(d);
	struct imapd srv;
	struct authlimit_conf alc;
	char err[512];
	int nl = 0, rc;

	memset(&srv, 0, sizeof(srv));
	srv.d = d;
	srv.ev = daemon_loop(d);
	if (store_open(daemon_db_path(d), &srv.st, err, sizeof(err)) < 0)
		fatal("cannot open the mailstore: %s", err);
	/* FETCH and SEARCH read through message rows larger than any cache;
	 * what is worth caching (the entries and the tables' inner pages) is
	 * small */
	srv.cache_kib = (unsigned)conf_u64(cfg, "imapd.cache_kib", IMAPD_CACHE_KIB, 1u << 20);
	if (store_set_cache_kib(srv.st, srv.cache_kib) < 0)
		fatal("cannot set the page cache: %s", store_errmsg(srv.st));
	/* names are looked up in NFC: bring older names to it (RFC 9051 5.1) */
	int nfc = store_mailbox_nfc_names(srv.st);
	if (nfc < 0)
		log_warn(NULL, "event=mailbox-nfc-failed error=\"%s\"", store_errmsg(srv.st));
	else if (nfc > 0)
		log_info(NULL, "event=mailbox-nfc renamed=%d", nfc);
	srv.tls = daemon_tls_server(d);
	/* yescrypt checks run on worker threads so a login never stalls the
	 * other sessions of this process */
	srv.ac = authcheck_new(srv.ev, daemon_db_path(d),
			       (unsigned)conf_u64(cfg, "imapd.auth_threads",
						  AUTHCHECK_DEFAULT_THREADS, AUTHCHECK_MAX_THREADS),
			       err, sizeof(err));
	if (!srv.ac)
		fatal("cannot start the password checkers: %s", err);
	/* the search index rows of APPENDed messages are written by a thread
	 * of their own after the commit (indexer.c); imapd.deferred_index = 0
	 * writes them in the APPEND's commit */
	if (conf_u64(cfg, "imapd.deferred_index", 1, 1)) {
		srv.ix = imap_indexer_new(daemon_db_path(d), err, sizeof(err));
		if (!srv.ix)
			fatal("cannot start the index thread: %s", err);
		store_set_defer_index(srv.st, 1);
	}
	/* IMAP and POP3 logins share one throttle */
	if (authlimit_conf_load(&alc, cfg, "imapd", err, sizeof(err)) < 0)
		fatal("bad value in loft.conf: %s", err);
	srv.al = authlimit_new(&alc);
	srv.max_sessions = (unsigned)conf_u64(cfg, "imapd.max_sessions", 1000, 100000);
	srv.max_per_ip = (unsigned)conf_u64(cfg, "imapd.max_sessions_per_ip", 50, 100000);
	srv.max_per_user = (unsigned)conf_u64(cfg, "imapd.max_sessions_per_user", 30, 100000);
	srv.appendlimit = conf_u64(cfg, "imapd.appendlimit", 50u * 1024 * 1024, 1u << 30);
	/* idle 30 min once logged in (RFC 3501 5.4: at least 30), 2 min
	 * before and 2 min to log in at all; a TLS handshake gets 1 min */
	srv.dl = (struct listener_deadlines){.handshake_ms = 60000,
					     .login_ms = 120000,
					     .idle_ms = 120000,
					     .idle_authed_ms = 30 * 60000};
	if (listener_deadlines_load(cfg, "imapd", &srv.dl, err, sizeof(err)) < 0)
		fatal("bad value in loft.conf: %s", err);
	store_data_version(srv.st, &srv.data_version);

	struct daemon_hooks hooks = {
	    .reload = on_reload, .stop = on_stop, .notify = on_notify, .arg = &srv};
	daemon_set_hooks(d, &hooks);

	struct listener_conf lc = {
	    .proto = "imap",
	    .max_sessions = srv.max_sessions,
	    .max_per_ip = srv.max_per_ip,
	    .refusal = {"* BYE Too many connections, try again later\r\n",
			"* BYE Too many connections, try again later\r\n"},
	};
	static const struct {
		const char *name;
		int implicit_tls;
	} names[] = {{"imap", 0}, {"imaps", 1}};
	srv.lsn = listener_new(srv.ev, &lc, imap_session_start, &srv);
	for (size_t i = 0; i < 2; i++) {
		int fd = daemon_listener(d, names[i].name);
		if (fd < 0)
			continue;
		if (listener_add(srv.lsn, fd, (int)i, names[i].implicit_tls) < 0)
			fatal("cannot watch the %s socket", names[i].name);
		nl++;
	}
	/* one throttle and one password-check pool for IMAP and POP3 logins,
	 * and POP3's expunges wake IDLE */
	struct pop3d_conf pc;
	if (pop3d_conf_load(cfg, &pc) < 0)
		fatal("bad pop3.* setting in loft.conf");
	srv.pop3 = pop3d_new(srv.ev, srv.st, srv.tls, srv.al, srv.ac, &pc);
	pop3d_set_change_hook(srv.pop3, pop3_changed, &srv);
	int fd = daemon_listener(d, "pop3");
	if (fd >= 0 && pop3d_listen(srv.pop3, fd, 0) < 0)
		fatal("cannot start POP3");
	fd = daemon_listener(d, "pop3s");
	if (fd >= 0 && pop3d_listen(srv.pop3, fd, 1) < 0)
		fatal("cannot start POP3S");

	srv.poll = ev_timer_new(srv.ev, poll_tick, &srv);
	ev_timer_arm(srv.poll, POLL_MS);
	log_info(NULL, "event=ready imap_listeners=%d appendlimit=%llu", nl,
		 (unsigned long long)srv.appendlimit);
	rc = daemon_run(d);
	imap_append_stop(&srv);
	imap_indexer_free(srv.ix);
	ev_timer_free(srv.poll);
	ev_timer_free(srv.stop_timer);
	listener_free(srv.lsn);
	pop3d_free(srv.pop3);
	authcheck_free(srv.ac);
	authlimit_free(srv.al);
	tls_ctx_free(srv.tls);
	store_close(srv.st);
	daemon_free(d);
	return rc;
}
