#ifndef LOFT_POP3_H
#define LOFT_POP3_H
/*
 * The POP3 server of loft-imapd (RFC 1939, 2449 CAPA, 2595 STLS, 5034 SASL
 * AUTH PLAIN), serving each user's INBOX from the mailstore.  It runs on
 * the daemon's event loop beside IMAP and shares the process's store
 * handle.  One module-wide server: pop3_listen may be called once per
 * listening socket (110 and 995).
 *
 * Settings read from loft.conf at pop3_listen:
 *   pop3.plaintext_auth = no   allow USER/PASS/AUTH without TLS
 *   pop3.idle_timeout   = 600  seconds without input before the session ends
 *   pop3.max_sessions   = 200  sessions at once (all addresses)
 *   pop3.max_per_ip     = 20   sessions at once from one address
 *
 * Ownership: POP3 keeps the store, tls_ctx and listening fds it is given
 * without taking references; the caller keeps them alive.  On a reload the
 * caller must call pop3_set_tls(new) BEFORE tls_ctx_free(old), or the next
 * STLS/pop3s handshake uses a freed context.  pop3_stop() stops watching
 * the listening fds but does not close them.
 */
#include <stdint.h>

struct daemon;
struct store;
struct tls_ctx;
struct authlimit;
struct authcheck;

/* Serves POP3 on listen_fd on d's event loop; implicit_tls=1 for 995. st is
 * the process's store handle. Returns 0 or -1. */
int pop3_listen(struct daemon *d, struct store *st, struct tls_ctx *tls, int listen_fd,
		int implicit_tls);
/* Stop accepting (graceful stop); existing sessions finish. */
void pop3_stop(void);
/* Number of live POP3 sessions (the daemon exits when 0 after stop). */
int pop3_sessions(void);
/* New TLS context after reload. */
void pop3_set_tls(struct tls_ctx *tls);

/* Optional: shares the process's AUTH failure throttle with IMAP (the
 * caller keeps ownership; call before pop3_listen).  Without it POP3 makes
 * its own with authlimit_conf_default(). */
void pop3_set_authlimit(struct authlimit *al);

/* Optional: the process's password-check pool (lib/authcheck.h; the
 * caller keeps ownership and frees it after the last session; call before
 * pop3_listen).  Without it pop3_listen starts its own, on the database of
 * the daemon it is given. */
void pop3_set_authcheck(struct authcheck *ac);

/* Optional: fn(arg, mailbox_id) runs after a POP3 QUIT changed a mailbox
 * (expunged DELE'd messages, set \Seen on retrieved ones), so IMAP sessions
 * of this process, which share the store handle and therefore do not see
 * the change through PRAGMA data_version, can report it. */
void pop3_set_change_hook(void (*fn)(void *arg, int64_t mailbox_id), void *arg);

#endif
