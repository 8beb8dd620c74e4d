#ifndef LOFT_POP3_H
#define LOFT_POP3_H
/*
 * The POP3 server of loft-imapd (RFC 1939, 2449 CAPA, 2595 STLS, 5034 SASL
 * AUTH PLAIN, 6856 UTF8 with the RFC 6857 downgrade for the others), serving each user's INBOX from
 * the mailstore.  It runs on the daemon's event loop beside IMAP and shares the process's store
 * handle, authentication throttle and password-check pool.  One struct
 * pop3d per process, with its own listener (lib/service/listener) for the
 * pop3 (110, STLS) and pop3s (995) sockets.
 *
 * Settings (loft.conf, read by pop3d_conf_load):
 *   pop3.plaintext_auth = no   allow USER/PASS/AUTH without TLS
 *   pop3.idle_timeout   = 600  seconds without input before the session ends
 *   pop3.login_deadline = 120  seconds in AUTHORIZATION in all
 *   pop3.max_sessions   = 200  sessions at once (all addresses)
 *   pop3.max_per_ip     = 20   sessions at once from one address
 *
 * Ownership: the server keeps the store, tls_ctx, authlimit and authcheck
 * it is given without taking references; the caller keeps them alive
 * until pop3d_free.  On a reload the caller calls pop3d_set_tls(new)
 * BEFORE tls_ctx_free(old).
 */
#include <stdint.h>

#include "listener.h"

struct config;
struct evloop;
struct store;
struct tls_ctx;
struct authlimit;
struct authcheck;
struct pop3d;

struct pop3d_conf {
	int plaintext_auth;
	/* handshake, login deadline, idle time (RFC 1939 3: at least 10 min) */
	struct listener_deadlines dl;
	unsigned max_sessions, max_per_ip;
};

/* Reads the pop3.* settings.  Returns 0, or -1 (logged) on a bad value. */
int pop3d_conf_load(const struct config *cfg, struct pop3d_conf *out);
/* Never returns NULL (aborts on out of memory).  tls may be NULL (no STLS,
 * no pop3s). */
struct pop3d *pop3d_new(struct evloop *ev, struct store *st, struct tls_ctx *tls,
			struct authlimit *al, struct authcheck *ac, const struct pop3d_conf *conf);
/* Serves POP3 on listen_fd (the server owns it from here); implicit_tls
 * for 995.  Returns 0, or -1 (logged: implicit TLS without a context, too
 * many sockets). */
int pop3d_listen(struct pop3d *p, int listen_fd, int implicit_tls);
/* Stops accepting (graceful stop); sessions finish. */
void pop3d_stop(struct pop3d *p);
/* Live sessions (the daemon exits when 0 after a stop). */
unsigned pop3d_sessions(const struct pop3d *p);
/* A new TLS context after a reload. */
void pop3d_set_tls(struct pop3d *p, struct tls_ctx *tls);
/* fn(arg, mailbox_id) runs after a QUIT changed a mailbox (expunged
 * DELE'd messages, \Seen on retrieved ones), so IMAP sessions of this
 * process, which share the store handle and so do not see the change
 * through PRAGMA data_version, can report it. */
void pop3d_set_change_hook(struct pop3d *p, void (*fn)(void *arg, int64_t mailbox_id), void *arg);
/* Frees the server once its sessions are gone; NULL is fine. */
void pop3d_free(struct pop3d *p);

#endif
