#ifndef LOFT_SMTP_CLIENT_H
#define LOFT_SMTP_CLIENT_H
/*
 * An SMTP client session on the event loop (RFC 5321), for loft-queue and
 * `loftctl smarthost test`: connect, greeting, EHLO (HELO when EHLO is
 * refused), STARTTLS (opportunistic, required, or implicit TLS), AUTH
 * PLAIN/LOGIN, then any number of transactions on the one connection
 * (PIPELINING when offered; SIZE, 8BITMIME, SMTPUTF8 honoured), QUIT.
 *
 * The message body is pulled from the owner in chunks as the socket
 * drains, dot-stuffed and with bare LF made CRLF on the way, so a message
 * is never held whole in memory.
 *
 * Callbacks: ready() once the session can carry a transaction; done()
 * once per smtp_client_send(), with one status per recipient (the peer's
 * RCPT refusal, or the reply to the end of data, or the connection error
 * that cut the transaction); closed() exactly once at the end, whatever the
 * cause, after which the client is freed.  Inside ready() and done() the
 * owner may call smtp_client_send() or smtp_client_quit().  No callback
 * runs inside a smtp_client_* call.
 */
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

struct evloop;
struct tls_ctx;
struct smtp_client;

enum smtpc_tls {
	SMTPC_TLS_OPPORTUNISTIC, /* STARTTLS when offered, any certificate */
	SMTPC_TLS_STARTTLS,	 /* STARTTLS required */
	SMTPC_TLS_IMPLICIT,	 /* TLS from the first byte (port 465) */
	SMTPC_TLS_NONE,		 /* never (tests, a relay on the LAN) */
};

struct smtpc_config {
	const char *helo;	/* our host name for EHLO */
	const char *servername; /* SNI and the name the certificate must match */
	enum smtpc_tls tls_mode;
	struct tls_ctx *tls; /* client context; NULL: no TLS at all */
	const char *user;    /* AUTH when not NULL (only ever over TLS) */
	const char *password;
	uint64_t timeout_ms;	     /* waiting for one reply; 0: 300 s */
	uint64_t connect_timeout_ms; /* 0: 30 s */
};

#define SMTPC_TEXT_MAX 400

struct smtpc_status {
	int code;     /* the reply code, or 0: no reply (connection error) */
	int temp;     /* 1: try again later; 0: permanent */
	char enh[16]; /* enhanced status code or "" */
	char text[SMTPC_TEXT_MAX];
};

/* Reads up to n bytes of the body at off into buf.  Returns the count
 * (0 at the end), or -1 on error (the transaction then fails, temporary). */
typedef long (*smtpc_read_fn)(void *arg, char *buf, size_t n, uint64_t off);

struct smtpc_message {
	const char *mail_from; /* "" for the null reverse-path */
	const char *const *rcpts;
	size_t nrcpts;
	uint64_t size;	    /* bytes of prefix + body, for SIZE= */
	int eightbit;	    /* the body holds 8-bit bytes: BODY=8BITMIME */
	int smtputf8;	    /* the envelope needs SMTPUTF8 */
	const char *prefix; /* sent before the body (a DKIM-Signature field), may be NULL */
	size_t prefix_len;
	smtpc_read_fn read;
	void *read_arg;
	/* Optional: the body is 8-bit and the server has no 8BITMIME.  May
	 * turn the message into 7-bit (RFC 6152 3: quoted-printable),
	 * changing this struct's eightbit, prefix, size and read, and return
	 * 0; -1 when it cannot (the transaction is then refused, 5.6.3). */
	int (*downgrade)(void *read_arg);
};

struct smtpc_cbs {
	void (*ready)(struct smtp_client *cl, void *arg);
	void (*done)(struct smtp_client *cl, void *arg, const struct smtpc_status *st, size_t n);
	void (*closed)(struct smtp_client *cl, void *arg, const struct smtpc_status *why);
};

/* Connects to sa (non-blocking); cfg's strings are copied.  Never returns
 * NULL: a failure to even start is reported through closed(). */
struct smtp_client *smtp_client_connect(struct evloop *ev, const struct sockaddr *sa,
					socklen_t salen, const struct smtpc_config *cfg,
					const struct smtpc_cbs *cbs, void *arg);
/* Starts a transaction (only when ready).  m and what it points to must
 * stay valid until done().  Returns 0, or -1 when not ready. */
int smtp_client_send(struct smtp_client *cl, const struct smtpc_message *m);
/* Says QUIT and closes; closed() follows. */
void smtp_client_quit(struct smtp_client *cl);
/* Closes at once; closed() follows with a temporary status naming why. */
void smtp_client_abort(struct smtp_client *cl, const char *why);

/* What the session learned, for logs and the queue's records. */
unsigned smtp_client_ext(const struct smtp_client *cl);		   /* SMTP_EXT_* */
const char *smtp_client_tls_version(const struct smtp_client *cl); /* "" without TLS */
int smtp_client_tls_verified(const struct smtp_client *cl);
const char *smtp_client_peer(const struct smtp_client *cl); /* address text */
const char *smtp_client_sid(const struct smtp_client *cl);
/* 1 once the TCP connection was made (a server answered). */
int smtp_client_connected(const struct smtp_client *cl);
/* The server's greeting line (first line of it), "" before. */
const char *smtp_client_banner(const struct smtp_client *cl);

/* Fills st from a code and text; temp from the code's class (0: temp). */
void smtpc_status_set(struct smtpc_status *st, int code, const char *enh, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#endif
