#ifndef LOFT_CONN_H
#define LOFT_CONN_H
/*
 * A client connection on the event loop, shared by every protocol daemon:
 * plain or TLS (implicit, or STARTTLS upgrade), line input through a
 * bounded line reader, raw input for literals and BDAT chunks, buffered
 * output with a hard maximum, an idle timeout, and one "closed" callback
 * however the connection ends.
 *
 * Life cycle: conn_new() takes the accepted fd.  The owner's input()
 * callback runs whenever new input is buffered and input is not paused; it
 * should take lines with conn_line() (and/or raw bytes with conn_pending()/
 * conn_consume()) until it has what it can use.  closed() runs exactly once,
 * whatever the cause (peer closed, I/O or TLS error, timeout, the owner's
 * conn_close()); the conn is freed right after closed() returns, so the
 * owner must drop its pointer there.  closed() always runs from the event
 * loop, never from inside a conn_* call or another callback of the same
 * conn, so an owner may call conn_close() and go on using its own state
 * until closed() arrives.  Callbacks may call any conn function on their
 * own conn.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "evloop.h"
#include "linereader.h"

struct conn;
struct tls_ctx;

struct conn_cbs {
	void (*input)(struct conn *c, void *arg);
	void (*closed)(struct conn *c, void *arg, const char *reason);
	/* Optional: output fell below conn_set_lowmark() bytes (for
	 * streaming large responses without buffering them whole). */
	void (*writable)(struct conn *c, void *arg);
	/* Optional: a TLS handshake (implicit or STARTTLS) completed. */
	void (*tls_ready)(struct conn *c, void *arg);
	/* Optional: no input for the conn_set_timeout() time.  The owner may
	 * write a last reply ("421 4.4.2 timeout", "* BYE") and must call
	 * conn_close().  Without it the conn closes with reason "timeout". */
	void (*timeout)(struct conn *c, void *arg);
};

/* Wraps the accepted, connected socket fd (made non-blocking here).
 * maxline bounds one input line (terminator included); maxout bounds the
 * output buffer.  The conn owns fd.  Never returns NULL (aborts on out of
 * memory). */
struct conn *conn_new(struct evloop *ev, int fd, const struct sockaddr *peer,
		      const struct conn_cbs *cbs, void *arg, size_t maxline, size_t maxout);

/* Starts TLS at once (implicit TLS: 465, 993, 995).  Input is not delivered
 * before the handshake completes.  Returns 0 or -1. */
int conn_tls_server(struct conn *c, struct tls_ctx *ctx);
/* STARTTLS/STLS: throws away any input buffered so far (a client must not
 * pipeline plaintext past STARTTLS: CVE-2011-0411), then, once the pending
 * output (the "go ahead" reply) is flushed, starts the server handshake.
 * Returns 0 or -1 (already TLS, or compression is on). */
int conn_starttls(struct conn *c, struct tls_ctx *ctx);

/* The client side (loft-queue's SMTP client): conn_tls_client starts
 * the handshake at once (implicit TLS, port 465); conn_starttls_client
 * does what conn_starttls does (drops buffered input: the server's
 * plaintext after its 220 must not count as TLS input) and then runs a
 * client handshake.  servername goes out as SNI and is checked against
 * the certificate (required when ctx verifies).  Return 0 or -1. */
int conn_tls_client(struct conn *c, struct tls_ctx *ctx, const char *servername);
int conn_starttls_client(struct conn *c, struct tls_ctx *ctx, const char *servername);
/* 1 when TLS is up and the peer's certificate verified for the name. */
int conn_tls_verified(const struct conn *c);

/* COMPRESS=DEFLATE (RFC 4978).  Call right after queuing the reply that
 * must still go out uncompressed ("OK DEFLATE active"): every later
 * write is raw-deflated (zlib level, window 2^15) with a sync flush at
 * each flush point, before TLS; all later input, including bytes already
 * buffered but not yet taken (a client may pipeline), is inflated after
 * TLS and before the line reader.  Compressed input waits in a fixed
 * buffer and is inflated only into the line reader's free room, so
 * memory stays bounded whatever the ratio.  A bad compressed stream
 * closes the conn (reason "compression error", logged).  Costs about
 * 300 KB of zlib state.  Returns 0, or -1 (already on, STARTTLS pending,
 * mid-handshake, closing, or out of memory).  STARTTLS is refused after
 * it. */
int conn_set_deflate(struct conn *c, int level);
/* 1 once conn_set_deflate() succeeded. */
int conn_is_deflate(const struct conn *c);

/* Input.  conn_line returns LR_LINE / LR_NEED / LR_TOOLONG as
 * lr_next() does; the line is valid until the next conn call. */
int conn_line(struct conn *c, struct lr_line *line);
size_t conn_pending(struct conn *c, const char **p);
void conn_consume(struct conn *c, size_t n);
void conn_set_maxline(struct conn *c, size_t maxline);
/* Stops (1) or resumes (0) reading and input() calls; on resume, input()
 * runs again soon if input is buffered.  A paused conn still watches for
 * the peer's hang-up: a reset, or a FIN with no command left unread,
 * closes it ("peer closed") without waiting for the resume, so the owner's
 * closed() may come while it waits for something (a password check, a
 * commit) and must cancel or orphan that work there.  Commands sent before
 * a FIN run at the resume, then the conn closes, as unpaused. */
void conn_pause(struct conn *c, int paused);

/* Output, buffered; sent as the socket allows.  Return 0, or -1 when the
 * output buffer would pass maxout (nothing is queued then). */
int conn_write(struct conn *c, const void *data, size_t n);
int conn_puts(struct conn *c, const char *s);
int conn_printf(struct conn *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Bytes queued and not yet sent (under COMPRESS, staged plaintext plus
 * compressed bytes). */
size_t conn_outlen(const struct conn *c);
/* writable() fires when output drops to at most n bytes. */
void conn_set_lowmark(struct conn *c, size_t n);

/* Closes after ms without input (0: no timeout); re-armed by every input.
 * closed() gets reason "timeout". */
void conn_set_timeout(struct conn *c, uint64_t ms);
/* Ends the connection: flush != 0 sends the queued output first (bounded
 * by a short timeout), then closes.  closed() then runs with reason. */
void conn_close(struct conn *c, int flush, const char *reason);

/* The peer's address as text ("192.0.2.1", "2001:db8::1"). */
const char *conn_peer(const struct conn *c);
/* A random session id for log lines. */
const char *conn_sid(const struct conn *c);
int conn_is_tls(const struct conn *c);
/* "TLSv1.3" and the cipher suite name, or NULL before TLS. */
const char *conn_tls_version(const struct conn *c);
const char *conn_tls_cipher(const struct conn *c);
struct evloop *conn_loop(const struct conn *c);

#endif
