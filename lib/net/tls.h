#ifndef LOFT_TLS_H
#define LOFT_TLS_H
/*
 * TLS for Loft's daemons on mbedTLS 2.28, shaped for a non-blocking event
 * loop: every call returns at once and says which direction it waits for.
 *
 * TLS 1.2 is the floor (1.0/1.1 refused) and, with Debian's mbedTLS build,
 * also the ceiling: TLS 1.3 is used only if the library was built with its
 * experimental support.  Only ECDHE suites with AEAD or SHA-2 MACs are
 * offered, so every session has forward secrecy.
 *
 * STARTTLS: before calling tls_conn_new() on a connection that was talking
 * plaintext, the caller MUST discard every plaintext byte it has buffered
 * but not yet processed (a pipelined "STARTTLS\r\nRCPT TO:..." would
 * otherwise be executed as if it came over TLS: CVE-2011-0411).  It must
 * also forget what it learned before the upgrade (EHLO, AUTH state).  This
 * module only starts a fresh handshake on the fd; it cannot see the
 * caller's buffers.
 *
 * Random numbers come from one mbedTLS CTR-DRBG per process, seeded from
 * the kernel on first use and reseeded after a fork.
 */
#include <stddef.h>
#include <sys/types.h>

struct tls_ctx;
struct tls_conn;

/* Client verification modes. */
enum tls_verify {
	/* The handshake fails unless the chain verifies and the name matches. */
	TLS_VERIFY_REQUIRED = 0,
	/* Opportunistic (STARTTLS to an MX): the handshake succeeds whatever the
	 * certificate; tls_peer_verified() tells whether it would have passed. */
	TLS_VERIFY_NONE = 1,
};

/*
 * A server context from a PEM certificate chain (leaf first) and a PEM
 * private key that must match the leaf.  Returns the context, or NULL with
 * a message in err.  To reload (SIGHUP), build a new context and free the
 * old one: connections already open keep the old one alive until they end.
 */
struct tls_ctx *tls_server_new(const char *cert, const char *key, char *err, size_t errlen);

/*
 * A client context.  cafile is a PEM bundle of trusted roots, or NULL for
 * the system store (/etc/ssl/certs/ca-certificates.crt).  With
 * TLS_VERIFY_NONE a missing/unreadable store is not an error.  Returns the
 * context, or NULL with a message in err.
 */
struct tls_ctx *tls_client_new(const char *cafile, enum tls_verify verify, char *err,
			       size_t errlen);

/* Drops the caller's reference; the context is freed when the last
 * connection using it is freed too.  NULL is allowed. */
void tls_ctx_free(struct tls_ctx *ctx);

/*
 * Makes sure certpath and keypath exist.  When either is missing, generates
 * an EC P-256 key and a self-signed certificate for hostname (CN and
 * subjectAltName DNS, valid 10 years, random serial) and writes both
 * atomically (temp file, fsync, rename); the key with mode 0600.  hostname
 * must be a plain DNS name (letters, digits, '-', '.').  Returns 0 (files
 * present or made), or -1 with a message in err.
 */
int tls_selfsigned_ensure(const char *certpath, const char *keypath, const char *hostname,
			  char *err, size_t errlen);

/*
 * A TLS connection on fd, which must be non-blocking (a socket).  For a
 * client, servername is sent as SNI and checked against the certificate;
 * it is required with TLS_VERIFY_REQUIRED, and may be NULL otherwise.  For
 * a server it is ignored.  The connection holds a reference on ctx.
 * Returns the connection, or NULL (errno EINVAL: required name missing).
 */
struct tls_conn *tls_conn_new(struct tls_ctx *ctx, int fd, const char *servername);

/* A session id (copied) for this connection's log lines. */
void tls_conn_set_sid(struct tls_conn *c, const char *sid);

/*
 * Advances the handshake.  Returns 1 when done, 0 when it must wait (then
 * tls_want() says for what), -1 on failure (tls_error() says why).
 */
int tls_handshake(struct tls_conn *c);

/* After a 0 from tls_handshake or an EAGAIN: EV_READ or EV_WRITE (evloop.h). */
int tls_want(const struct tls_conn *c);

/*
 * Reads decrypted bytes.  Returns >0 bytes, 0 when the peer closed (with
 * close_notify, or -- common among mail clients -- without: tls_error()
 * then says "eof without close_notify"), -1 with errno EAGAIN when it must
 * wait (tls_want() says for what), -1 with another errno on failure.
 * After a read, call tls_pending(): bytes already decrypted do not make
 * the fd readable again.
 */
ssize_t tls_read(struct tls_conn *c, void *buf, size_t n);

/*
 * Encrypts and sends up to n bytes (n > 0).  Returns the number accepted
 * (at most one record, 16 KB), or -1 with errno EAGAIN when it must wait:
 * then call it again with the same bytes (at least as many) once tls_want()
 * is satisfied -- part of them is already encrypted and queued.  -1 with
 * another errno on failure.
 */
ssize_t tls_write(struct tls_conn *c, const void *buf, size_t n);

/* Bytes decrypted and buffered, readable by tls_read() without waiting for
 * the fd; also nonzero while a received record awaits decryption. */
size_t tls_pending(const struct tls_conn *c);

/* Sends close_notify.  Returns 0 when sent, -1 with errno EAGAIN to be
 * retried, -1 otherwise.  The fd stays open. */
int tls_close_notify(struct tls_conn *c);

/* Frees the connection (not the fd).  NULL is allowed. */
void tls_conn_free(struct tls_conn *c);

/* The last error as text; the string belongs to the connection. */
const char *tls_error(const struct tls_conn *c);
/* "TLSv1.2" etc., "" before the handshake; static strings. */
const char *tls_version(const struct tls_conn *c);
/* IANA-style suite name ("TLS-ECDHE-RSA-WITH-AES-256-GCM-SHA384"), "" before
 * the handshake; static strings. */
const char *tls_cipher(const struct tls_conn *c);
/* Client side: 1 if the peer's chain verified and matched servername, else 0. */
int tls_peer_verified(const struct tls_conn *c);

#endif
