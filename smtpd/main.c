/*
 * loft-smtpd: inbound MX (25) and authenticated submission (587 STARTTLS,
 * 465 implicit TLS).
 *
 * SECURITY: runs as the unprivileged user loft (loftd drops privileges
 * before exec and hands over the already-bound sockets).  It trusts
 * nothing that comes from the network: every command line, address and
 * message byte goes through the bounded parsers in parser.c and data.c,
 * and every limit (line length, size, recipients, commands, connections,
 * time) has a setting and a default.  It touches only DATADIR/loft.db
 * (through lib/store) and reads the TLS certificate and key.  It never
 * relays for an unauthenticated client, never offers AUTH in the clear,
 * and never logs a password.  Threads: the event loop (all network
 * input), the store thread (commit.c), which sees only messages the loop
 * has already checked and does nothing but write them to the store, and
 * lib/authcheck's workers, which only verify passwords.
 */
#include <errno.h>
#include <malloc.h>
#include <stddef.h>
#include <stdint.h>
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
#include "greetpass.h"
#include "listener.h"
#include "log.h"
#include "net.h"
#include "smtpd.h"
#include "store.h"
#include "store_greet.h"
#include "tls.h"

static const char *const port_names[PORT_COUNT] = {"mx", "submission", "submissions"};

static struct smtpd srv;
/* a standby's start (unix seconds): on_serve loads the passes since then */
static int64_t standby_since;

static const struct {
	const char *key;
	size_t off;
	uint64_t def, min, max;
} limit_keys[] = {
#define L(k, f, d, lo, hi)                                                                         \
	{                                                                                          \
		"smtpd." k, offsetof(struct smtpd_limits, f), d, lo, hi                            \
	}
    L("max_line", max_line, 512, 512, 65536),
    L("max_data_line", max_data_line, 1000, 1000, 1 << 20),
    L("max_message_size", max_message_size, 50u << 20, 1024, 1u << 30),
    L("max_recipients", max_recipients, 100, 1, 100000),
    L("max_commands", max_commands, 10000, 10, 1000000),
    L("max_bad_commands", max_bad_commands, 10, 1, 1000),
    L("max_connections", max_connections, 100, 1, 100000),
    L("max_connections_per_ip", max_per_ip, 10, 1, 100000),
    L("timeout_command", timeout_command_s, 300, 1, 3600),
    L("timeout_data", timeout_data_s, 180, 1, 3600),
    L("timeout_data_total", timeout_data_total_s, 600, 1, 86400),
    L("timeout_envelope", timeout_envelope_s, 600, 1, 86400),
    /* a client sending one small message every few minutes would hold a
     * session slot for ever: after this the session ends at the next
     * message boundary */
    L("max_session_time", max_session_s, 1800, 1, 86400),
    /* a TLS handshake that has not ended after this is dropped (the
     * same policy as IMAP and POP3, lib/service/listener) */
    L("handshake_timeout", handshake_timeout_s, 60, 1, 3600),
    /* 64 MB: one message of the largest default size (50 MB) always fits,
     * several ordinary ones at once too, and loft-smtpd stays far below
     * what a 512 MB board can give it next to imapd and SQLite */
    L("max_body_bytes_in_flight", max_body_in_flight, 64u << 20, 1u << 20, (uint64_t)1 << 34),
    L("greeting_delay_ms", greeting_delay_ms, 1000, 0, 60000),
    /* postscreen's default: a day; 0 makes every MX client wait */
    L("greeting_pass_ttl", greeting_pass_ttl_s, 86400, 0, 30 * 86400),
    /* 24 bytes each, grown on demand: at most about 200 KiB */
    L("greeting_pass_max", greeting_pass_max, 4096, 1, 1000000),
    /* the chart's counts go to the store at most this often: one small
     * write for any number of rejections */
    L("stats_interval_ms", stats_interval_ms, 10000, 10, 3600000),
#undef L
};

static void load_limits(struct config *cfg, struct smtpd_limits *lim)
{
	for (size_t i = 0; i < sizeof(limit_keys) / sizeof(limit_keys[0]); i++) {
		uint64_t v;
		if (config_get_u64(cfg, limit_keys[i].key, limit_keys[i].def, limit_keys[i].max,
				   &v) < 0 ||
		    v < limit_keys[i].min)
			fatal("event=config-error key=%s error=\"must be a number from %llu to "
			      "%llu\"",
			      limit_keys[i].key, (unsigned long long)limit_keys[i].min,
			      (unsigned long long)limit_keys[i].max);
		*(uint64_t *)((char *)lim + limit_keys[i].off) = v;
	}
	/* a message of the advertised SIZE must be able to get through alone,
	 * or its sender would get 452 for ever */
	if (lim->max_body_in_flight < lim->max_message_size + DELIVER_GAP) {
		log_warn(NULL,
			 "event=config-adjusted key=smtpd.max_body_bytes_in_flight from=%llu "
			 "to=%llu reason=\"must hold one message of max_message_size\"",
			 (unsigned long long)lim->max_body_in_flight,
			 (unsigned long long)(lim->max_message_size + DELIVER_GAP));
		lim->max_body_in_flight = lim->max_message_size + DELIVER_GAP;
	}
}

static void load_authlimit(struct config *cfg)
{
	struct authlimit_conf ac;
	char err[256];

	if (authlimit_conf_load(&ac, cfg, "smtpd", err, sizeof(err)) < 0)
		fatal("event=config-error error=\"%s\"", err);
	srv.al = authlimit_new(&ac);
}

/* Returns a new server TLS context from the configured or default paths,
 * or NULL (logged). */
static struct tls_ctx *load_tls(void)
{
	char cert[4200], key[4200], err[512];
	struct config *cfg = daemon_config(srv.d);
	const char *dir = daemon_datadir(srv.d);
	struct tls_ctx *t;

	if (daemon_tls_paths(cfg, dir, cert, sizeof(cert), key, sizeof(key)) < 0) {
		log_err(NULL, "event=tls-load-failed error=\"certificate path too long\"");
		return NULL;
	}
	t = tls_server_new(cert, key, err, sizeof(err));
	if (!t)
		log_err(NULL, "event=tls-load-failed cert=%s error=\"%s\"", cert, err);
	return t;
}

static int greet_pass_loaded(void *arg, const char *addr, int64_t passed)
{
	(void)arg;
	if (passed > 0)
		greetpass_add(srv.passed, addr, (uint64_t)passed * 1000);
	return 0;
}

/* The early-talker passes of earlier runs (session.c writes them), so a
 * restart does not make every known client wait for the greeting again:
 * those of the last ttl, or (a standby about to serve) those written or
 * renewed since after (unix seconds), which the start-up's load missed. */
static void load_greet_passes(int64_t after)
{
	int64_t since = (int64_t)(smtp_wall_ms() / 1000) - (int64_t)srv.lim.greeting_pass_ttl_s;
	int n;

	if (!srv.lim.greeting_pass_ttl_s || !srv.lim.greeting_delay_ms)
		return;
	if (after > since)
		since = after;
	n = store_greet_pass_list(srv.st, since, greet_pass_loaded, NULL);
	if (n < 0)
		log_warn(NULL, "event=greet-pass-load-failed error=\"%s\"", store_errmsg(srv.st));
	else
		log_info(NULL, "event=greet-passes-loaded count=%d", n);
}

/* The listener refused a connection over the limits. */
static void on_refused(void *arg, enum listener_refusal why)
{
	(void)why;
	smtp_stat_count(arg, SMTP_STAT_CONN);
}

/* The banner and EHLO name (daemon_mail_hostname: loft.conf, else the
 * wizard's mail.hostname); sessions already open keep the old one in
 * nothing but the lines already sent. */
static void load_hostname(void)
{
	char host[256];
	const char *from = daemon_mail_hostname(srv.d, srv.st, host, sizeof(host));

	if (strcmp(host, srv.hostname) != 0)
		log_info(NULL, "event=hostname name=%s from=%s", host, from);
	snprintf(srv.hostname, sizeof(srv.hostname), "%s", host);
}

/* The gateway port's settings: loft.conf, else the store (gateway.h).
 * Returns 0, or -1 when they would leave the port open to no one or to
 * everyone (logged). */
static int gateway_load(struct gateway_conf *gw)
{
	struct gateway_conf g;
	char err[256];
	const char *why;

	if (gateway_conf_load(&g, srv.st, daemon_config(srv.d), err, sizeof(err)) < 0) {
		log_err(NULL, "event=config-error error=\"%s\"", err);
		return -1;
	}
	/* loftd opened the port, so it is on whatever the store says now */
	if (!g.port)
		g.port = GATEWAY_PORT_MIN;
	why = gateway_conf_check(&g);
	if (why) {
		log_err(NULL, "event=config-error key=inbound.gateway_from error=\"%s\"", why);
		return -1;
	}
	*gw = g;
	return 0;
}

/* Takes the listening sockets loftd handed over into the loop: at start,
 * or when a standby is told to serve. */
static void start_listening(void)
{
	int any = 0;

	for (int i = 0; i < PORT_COUNT; i++) {
		int fd = daemon_listener(srv.d, port_names[i]);

		if (fd < 0)
			continue;
		if (i == PORT_SUBMISSIONS && !srv.tls) {
			log_err(NULL, "event=listener-off name=submissions reason=\"no TLS\"");
			close(fd);
			continue;
		}
		if (listener_add(srv.lsn, fd, i, i == PORT_SUBMISSIONS) < 0)
			fatal("event=epoll-failed error=\"%s\"", strerror(errno));
		any = 1;
		log_info(NULL, "event=listening name=%s", port_names[i]);
	}
	int gfd = daemon_listener(srv.d, "gateway");
	if (gfd >= 0) {
		/* loftd checked the list before it opened the port; checked again
		 * here so a bad list never opens the port to everyone.  A bad
		 * one (the store changed since) refuses everyone at connect
		 * rather than stopping loft-smtpd, whose other ports stay up */
		if (gateway_load(&srv.gw) < 0) {
			memset(&srv.gw, 0, sizeof(srv.gw));
			log_err(NULL,
				"event=gateway-closed reason=\"the gateway settings are not "
				"valid: every client is refused\" hint=\"loftctl inbound gateway "
				"show\"");
		}
		if (listener_add(srv.lsn, gfd, PORT_GATEWAY, 0) < 0)
			fatal("event=epoll-failed error=\"%s\"", strerror(errno));
		any = 1;
		log_info(NULL, "event=listening name=gateway from=\"%s\"", srv.gw.from);
	}
	if (!any)
		fatal("event=no-listeners hint=\"loft-smtpd is started by loftd\"");
}

/* loftd promotes this standby (its serving instance died): the passes
 * written since this one started, then the sockets. */
static void on_serve(struct daemon *d, void *arg)
{
	(void)d;
	(void)arg;
	/* a pass is written within a moment of being earned: 5 s of overlap
	 * covers one earned before the start-up's load and written after it */
	load_greet_passes(standby_since - 5);
	load_hostname();
	start_listening();
}

static void on_stop(struct daemon *d, void *arg)
{
	(void)d;
	(void)arg;
	srv.stopping = 1;
	listener_stop(srv.lsn);
	smtp_session_stop_all(&srv);
	if (listener_sessions(srv.lsn) == 0)
		ev_stop(srv.ev);
}

static void on_reload(struct daemon *d, void *arg)
{
	struct tls_ctx *t;

	(void)d;
	(void)arg;
	/* new sessions use the new certificate; open ones keep theirs */
	t = load_tls();
	if (t) {
		tls_ctx_free(srv.tls);
		srv.tls = t;
	}
	/* who may use the gateway port (its number needs a restart of loftd) */
	if (daemon_listener(srv.d, "gateway") >= 0 && gateway_load(&srv.gw) < 0)
		log_warn(NULL, "event=gateway-kept reason=\"the new settings are not valid\"");
	load_hostname();
	log_info(NULL, "event=reloaded tls=%s", t ? "new" : "kept");
}

static void on_notify(struct daemon *d, const char *topic, void *arg)
{
	(void)arg;
	/* "settings": the wizard's mail.hostname may have changed */
	if (strcmp(topic, "settings") == 0)
		load_hostname();
	/* "gateway": the admin changed who may use the gateway port */
	if (strcmp(topic, "gateway") == 0 && daemon_listener(d, "gateway") >= 0 &&
	    gateway_load(&srv.gw) < 0)
		log_warn(NULL, "event=gateway-kept reason=\"the new settings are not valid\"");
}

int main(int argc, char **argv)
{
	char err[512];
	struct daemon_hooks hooks = {
	    .stop = on_stop, .reload = on_reload, .notify = on_notify, .serve = on_serve};

	/* One malloc arena for all threads: glibc would give the store thread
	 * and each auth worker their own (64 MB reserved each, and memory
	 * freed in one is never reused by another).  They take the lock rarely
	 * next to the time they spend in SQLite. */
	mallopt(M_ARENA_MAX, 1);
	/* Message bodies (up to max_message_size each) must go back to the
	 * system when freed.  glibc's dynamic mmap threshold would rise to
	 * 32 MB after the first big free and later bodies would come from the
	 * heap, where a freed block in the middle stays in RSS.  A fixed
	 * threshold keeps every buffer above 256 KiB in its own mapping. */
	mallopt(M_MMAP_THRESHOLD, 256 * 1024);
	srv.d = daemon_init(argc, argv, "loft-smtpd");
	srv.ev = daemon_loop(srv.d);
	daemon_set_hooks(srv.d, &hooks);
	load_limits(daemon_config(srv.d), &srv.lim);
	load_authlimit(daemon_config(srv.d));
	srv.passed = greetpass_new(srv.lim.greeting_pass_ttl_s * 1000, srv.lim.greeting_pass_max);

	if (store_open(daemon_db_path(srv.d), &srv.st, err, sizeof(err)) < 0)
		fatal("event=db-open-failed error=\"%s\"", err);
	/* the loop's handle only looks up domains, users and aliases */
	if (store_set_cache_kib(srv.st, SMTPD_LOOP_CACHE_KIB) < 0)
		fatal("event=db-open-failed error=\"%s\"", store_errmsg(srv.st));
	load_greet_passes(0);
	load_hostname();
	srv.tls = load_tls();
	/* submission logins are rare next to IMAP's: one worker is enough */
	uint64_t athreads;
	if (config_get_u64(daemon_config(srv.d), "smtpd.auth_threads", 1, AUTHCHECK_MAX_THREADS,
			   &athreads) < 0 ||
	    athreads == 0)
		fatal("event=config-error key=smtpd.auth_threads error=\"must be 1 to %d\"",
		      AUTHCHECK_MAX_THREADS);
	srv.ac = authcheck_new(srv.ev, daemon_db_path(srv.d), (unsigned)athreads, err, sizeof(err));
	if (!srv.ac)
		fatal("event=authcheck-failed error=\"%s\"", err);
	if (smtp_commit_start(&srv, daemon_db_path(srv.d), err, sizeof(err)) < 0)
		fatal("event=store-thread-failed error=\"%s\"", err);

	struct listener_conf lc = {
	    .proto = "smtp",
	    .max_sessions = (unsigned)srv.lim.max_connections,
	    .max_per_ip = (unsigned)srv.lim.max_per_ip,
	    .refusal = {"421 4.7.0 Too many connections, try again later\r\n",
			"421 4.7.0 Too many connections from your address\r\n"},
	    .refused = on_refused,
	};
	srv.lsn = listener_new(srv.ev, &lc, smtp_session_accept, &srv);
	if (daemon_standby(srv.d)) {
		/* a standby: everything is ready, the sockets wait for "serve" */
		standby_since = (int64_t)(smtp_wall_ms() / 1000);
		log_info(NULL, "event=standby");
	} else {
		start_listening();
	}

	int rc = daemon_run(srv.d);
	smtp_commit_stop(&srv);
	smtp_greet_pass_flush(&srv);
	smtp_stat_flush(&srv);
	authcheck_free(srv.ac);
	store_close(srv.st);
	tls_ctx_free(srv.tls);
	authlimit_free(srv.al);
	greetpass_free(srv.passed);
	ev_timer_free(srv.trim);
	ev_timer_free(srv.greet_save);
	ev_timer_free(srv.stat_save);
	listener_free(srv.lsn);
	daemon_free(srv.d);
	return rc;
}
