#ifndef LOFT_DAEMON_H
#define LOFT_DAEMON_H
/*
 * The child side of loftd's supervision, shared by every daemon.
 *
 * loftd starts a daemon as "NAME -d DATADIR [--dev]" with its listening
 * sockets already bound and named in LOFT_LISTEN ("mx=3,submission=4"),
 * and a SOCK_SEQPACKET control socket in LOFT_CONTROL.  Control messages
 * are short text datagrams:
 *   loftd -> daemon:  "reload", "stop", "notify TOPIC",
 *                     "serve" (to a standby: take over the sockets)
 *   daemon -> loftd:  "ready" (set-up done, serving: sent by daemon_run),
 *                     "serving" (a standby did what "serve" asked),
 *                     "notify TOPIC"  (loftd passes it to every other daemon)
 * A daemon with a serve hook may be started with --standby: loftd keeps
 * it as the next instance.  It does all its start-up, sends "ready" (start-up
 * done) but leaves the listening sockets alone until "serve" (its hook),
 * which loftd sends when the serving instance dies; clients then wait two
 * wake-ups, not a whole start.
 * TOPIC is a word such as "mail" (new mail stored) or "queue" (outbound
 * work queued); it lets IMAP IDLE and the queue runner wake at once.
 * SIGTERM/SIGINT act as "stop", SIGHUP as "reload".
 */
#include <stddef.h>

#include "config.h"
#include "evloop.h"

struct tls_ctx;

struct daemon;

struct daemon_hooks {
	/* Re-read settings, certificates.  May be NULL. */
	void (*reload)(struct daemon *d, void *arg);
	/* Stop accepting; exit the loop when sessions are done.  NULL: the
	 * loop stops at once. */
	void (*stop)(struct daemon *d, void *arg);
	/* Another daemon announced TOPIC.  May be NULL. */
	void (*notify)(struct daemon *d, const char *topic, void *arg);
	/* A standby is told to serve: start taking the listening sockets.
	 * NULL: the daemon has no standby (loftd never starts one). */
	void (*serve)(struct daemon *d, void *arg);
	void *arg;
};

/* Parses argv (-d DATADIR, --dev, -v), sets up logging, loads
 * DATADIR/loft.conf, makes the event loop and wires signals and the control
 * socket into it.  Exits with a message on a bad command line or config. */
struct daemon *daemon_init(int argc, char **argv, const char *name);
void daemon_set_hooks(struct daemon *d, const struct daemon_hooks *hooks);
struct evloop *daemon_loop(struct daemon *d);
struct config *daemon_config(struct daemon *d);
const char *daemon_datadir(const struct daemon *d);
/* "DATADIR/loft.db" (owned by d). */
const char *daemon_db_path(const struct daemon *d);
int daemon_dev(const struct daemon *d);
/* Returns 1 while this is a standby (--standby) not yet told to serve:
 * it must not accept on its listeners (daemon_listener) until the serve
 * hook runs. */
int daemon_standby(const struct daemon *d);
/* Returns 1 once a stop was asked for. */
int daemon_stopping(const struct daemon *d);
/* The listening socket named name, or -1 if loftd passed none. */
int daemon_listener(const struct daemon *d, const char *name);
/* Tells loftd (and through it every other daemon) about topic. */
void daemon_notify(struct daemon *d, const char *topic);
/* The certificate and key files: tls_cert / tls_key from the config, else
 * DATADIR/tls/cert.pem and key.pem (made by loftd on first start).
 * Returns 0, or -1 when a path does not fit. */
int daemon_tls_paths(const struct config *cfg, const char *datadir, char *cert, size_t certlen,
		     char *key, size_t keylen);
struct dns;
/* The daemon's resolver, from the dns_servers setting (dns_new_config):
 * owned by the caller (dns_free).  A bad setting is a bad environment:
 * exits with event=config-error naming the key. */
struct dns *daemon_dns(struct daemon *d);
/* Loads the server TLS context from those files.  Returns it, or NULL with
 * a warning logged (the daemon then serves without TLS). */
struct tls_ctx *daemon_tls_server(struct daemon *d);
struct store;
/*
 * The name this box gives itself in SMTP (banner, EHLO/HELO, Received,
 * Message-ID): loft.conf's hostname when set (the operator's override),
 * else the mail.hostname setting that loft-admin's wizard writes (st may
 * be NULL to skip it; a value that is not a plain host name is ignored
 * with a warning), else the system's host name.  Writes it to out and
 * returns where it came from: "config", "setting" or "system".  Daemons
 * read it again on "reload" and on "notify settings" (loft-admin sends
 * that after a change).
 */
const char *daemon_mail_hostname(struct daemon *d, struct store *st, char *out, size_t n);
/* Tells loftd "ready", then runs the loop; returns the process exit status. */
int daemon_run(struct daemon *d);
void daemon_free(struct daemon *d);

#endif
