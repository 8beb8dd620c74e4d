/*
 * The SMTP client.  Every reply comes from a peer we do not control: it
 * goes through smtp_reply's bounded parser, a malformed or over-long line
 * ends the session with a temporary error, and every wait has a timeout.
 * Credentials are only ever sent over TLS and never logged.
 */
#include "smtp_client.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conn.h"
#include "evloop.h"
#include "log.h"
#include "net.h"
#include "smtp_reply.h"

#define SMTPC_MAXOUT	 (256 * 1024)
#define SMTPC_BODY_CHUNK 16384
#define SMTPC_LOWMARK	 (16 * 1024) /* refill the output below this */

enum smtpc_state {
	S_CONNECTING,
	S_GREETING,
	S_EHLO,
	S_HELO,
	S_STARTTLS,
	S_HANDSHAKE,
	S_AUTH_PLAIN,
	S_AUTH_LOGIN,
	S_AUTH_USER,
	S_AUTH_PASS,
	S_READY,
	S_TXN,
	S_BODY,
	S_DATA_END,
	S_RSET,
	S_QUIT,
	S_CLOSED,
};

static const char *const state_names[] = {
    "connecting", "greeting",	"ehlo",	     "helo",	  "starttls", "handshake",
    "auth-plain", "auth-login", "auth-user", "auth-pass", "ready",    "transaction",
    "body",	  "data-end",	"rset",	     "quit",	  "closed",
};

struct smtp_client {
	struct evloop *ev;
	int fd; /* while connecting */
	struct ev_timer *ctimer;
	struct conn *c;
	struct smtpc_cbs cbs;
	void *arg;
	enum smtpc_state state;
	char *helo, *servername, *user, *password;
	enum smtpc_tls tls_mode;
	struct tls_ctx *tls;
	uint64_t timeout_ms, connect_timeout_ms;
	struct smtp_reply reply;
	unsigned ext;
	uint64_t size_max;
	int tls_done;  /* EHLO after STARTTLS sent */
	int connected; /* the TCP connection was made */
	char peer[64];
	char banner[128];
	char tls_version[16];
	int tls_verified;
	struct sockaddr_storage sa;
	socklen_t salen;
	/* the transaction */
	const struct smtpc_message *m;
	struct smtpc_status *st;
	int *have; /* st[i] is final */
	size_t ncmds, nsent, nreplied;
	size_t accepted;
	int mail_failed;
	struct smtpc_status mail_st;
	uint64_t body_off;
	int body_eof;
	int bol;     /* the body's last byte written ended a line */
	int last_cr; /* the last byte read was a CR */
	/* closing */
	int closed_sent;
	int quitting;
	struct smtpc_status why;
	struct ev_timer *soon;
	struct ev_timer *refuse; /* a transaction refused before sending */
};

void smtpc_status_set(struct smtpc_status *st, int code, const char *enh, const char *fmt, ...)
{
	va_list ap;

	st->code = code;
	st->temp = code == 0 || code / 100 != 5;
	snprintf(st->enh, sizeof(st->enh), "%s", enh ? enh : "");
	va_start(ap, fmt);
	vsnprintf(st->text, sizeof(st->text), fmt, ap);
	va_end(ap);
}

static void set_state(struct smtp_client *cl, enum smtpc_state s)
{
	log_debug(cl->c ? conn_sid(cl->c) : NULL, "event=smtp-client-state from=%s to=%s",
		  state_names[cl->state], state_names[s]);
	cl->state = s;
}

/* The reply as a status: "550 5.1.1 text", its lines joined by spaces
 * (big receivers explain a block over several lines), bounded. */
static void status_from_reply(struct smtpc_status *st, const struct smtp_reply *r)
{
	char t[SMTPC_TEXT_MAX];
	size_t n = r->textlen < sizeof(t) - 1 ? r->textlen : sizeof(t) - 1;

	memcpy(t, r->text, n);
	t[n] = '\0';
	for (size_t i = 0; i < n; i++)
		if (t[i] == '\n')
			t[i] = ' ';
	smtpc_status_set(st, r->code, r->enh, "%d %.380s", r->code, t);
}

static void b64(const void *in, size_t len, char *out, size_t outlen)
{
	static const char tab[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	const unsigned char *p = in;
	size_t o = 0;

	if (outlen < ((len + 2) / 3) * 4 + 1)
		bug("base64 output too small");
	for (size_t i = 0; i < len; i += 3) {
		unsigned v = (unsigned)p[i] << 16;
		if (i + 1 < len)
			v |= (unsigned)p[i + 1] << 8;
		if (i + 2 < len)
			v |= p[i + 2];
		out[o++] = tab[(v >> 18) & 63];
		out[o++] = tab[(v >> 12) & 63];
		out[o++] = i + 1 < len ? tab[(v >> 6) & 63] : '=';
		out[o++] = i + 2 < len ? tab[v & 63] : '=';
	}
	out[o] = '\0';
}

/* --- ending -------------------------------------------------------------- */

static void finish_txn(struct smtp_client *cl, const struct smtpc_status *rest);

static void fail(struct smtp_client *cl, const struct smtpc_status *why)
{
	if (cl->state == S_CLOSED)
		return;
	if (!cl->closed_sent && cl->why.text[0] == '\0')
		cl->why = *why;
	if (cl->c)
		conn_close(cl->c, 0, "smtp client failed");
	else
		ev_timer_arm(cl->soon, 0);
	set_state(cl, S_CLOSED);
}

static void failf(struct smtp_client *cl, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void failf(struct smtp_client *cl, int code, const char *fmt, ...)
{
	struct smtpc_status st;
	va_list ap;

	st.code = code;
	st.temp = code == 0 || code / 100 != 5;
	st.enh[0] = '\0';
	va_start(ap, fmt);
	vsnprintf(st.text, sizeof(st.text), fmt, ap);
	va_end(ap);
	fail(cl, &st);
}

static void client_free(struct smtp_client *cl)
{
	ev_timer_free(cl->ctimer);
	ev_timer_free(cl->soon);
	ev_timer_free(cl->refuse);
	free(cl->helo);
	free(cl->servername);
	if (cl->password)
		explicit_bzero(cl->password, strlen(cl->password));
	free(cl->user);
	free(cl->password);
	free(cl->st);
	free(cl->have);
	free(cl);
}

/* Tells the owner the session ended, once, then frees. */
static void deliver_closed(struct smtp_client *cl, const char *reason)
{
	struct smtpc_status why = cl->why;

	if (why.text[0] == '\0') {
		if (cl->quitting)
			smtpc_status_set(&why, 221, NULL, "closed after QUIT");
		else
			smtpc_status_set(&why, 0, NULL, "connection lost: %s (while %s)",
					 reason ? reason : "closed", state_names[cl->state]);
	}
	if (cl->m)
		finish_txn(cl, &why);
	cl->closed_sent = 1;
	cl->state = S_CLOSED;
	if (cl->cbs.closed)
		cl->cbs.closed(cl, cl->arg, &why);
	client_free(cl);
}

static void on_soon(struct evloop *ev, struct ev_timer *t, void *arg)
{
	(void)ev;
	(void)t;
	deliver_closed(arg, NULL);
}

/* --- writing commands --------------------------------------------------- */

static int put(struct smtp_client *cl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int put(struct smtp_client *cl, const char *fmt, ...)
{
	char line[1100];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(line) - 2) {
		failf(cl, 0, "command too long");
		return -1;
	}
	memcpy(line + n, "\r\n", 2);
	if (conn_write(cl->c, line, (size_t)n + 2) < 0) {
		failf(cl, 0, "output buffer full");
		return -1;
	}
	return 0;
}

static void send_ehlo(struct smtp_client *cl)
{
	set_state(cl, S_EHLO);
	put(cl, "EHLO %s", cl->helo);
}

/* --- the transaction ---------------------------------------------------- */

static void finish_txn(struct smtp_client *cl, const struct smtpc_status *rest)
{
	const struct smtpc_message *m = cl->m;

	for (size_t i = 0; i < m->nrcpts; i++)
		if (!cl->have[i])
			cl->st[i] = cl->mail_failed ? cl->mail_st : *rest;
	cl->m = NULL;
	if (cl->cbs.done)
		cl->cbs.done(cl, cl->arg, cl->st, m->nrcpts);
}

/* Every recipient gets st without anything being sent; done() runs from
 * the loop, never inside smtp_client_send(). */
static void refuse_txn(struct smtp_client *cl, const struct smtpc_status *st)
{
	cl->mail_failed = 1;
	cl->mail_st = *st;
	ev_timer_arm(cl->refuse, 0);
}

static void on_refuse(struct evloop *ev, struct ev_timer *t, void *arg)
{
	struct smtp_client *cl = arg;

	(void)ev;
	(void)t;
	if (cl->state != S_READY || !cl->m)
		return;
	finish_txn(cl, &cl->mail_st);
}

static void send_cmd(struct smtp_client *cl, size_t i)
{
	const struct smtpc_message *m = cl->m;

	if (i == 0) {
		char params[96];
		int n = snprintf(params, sizeof(params), "%s", "");
		if (cl->ext & SMTP_EXT_SIZE)
			n += snprintf(params + n, sizeof(params) - (size_t)n, " SIZE=%llu",
				      (unsigned long long)m->size);
		if (m->eightbit)
			n += snprintf(params + n, sizeof(params) - (size_t)n, " BODY=8BITMIME");
		if (m->smtputf8)
			snprintf(params + n, sizeof(params) - (size_t)n, " SMTPUTF8");
		put(cl, "MAIL FROM:<%s>%s", m->mail_from, params);
	} else if (i <= m->nrcpts) {
		put(cl, "RCPT TO:<%s>", m->rcpts[i - 1]);
	} else {
		put(cl, "DATA");
	}
}

/* Sends what may go out now: everything at once with PIPELINING, else one
 * command per reply.  Without PIPELINING it stops early when the
 * transaction cannot succeed any more. */
static void txn_pump(struct smtp_client *cl)
{
	int pipe = (cl->ext & SMTP_EXT_PIPELINING) != 0;

	if (!pipe && cl->nsent == cl->nreplied &&
	    (cl->mail_failed || (cl->nsent == cl->ncmds - 1 && cl->accepted == 0))) {
		/* nothing more to send: reset and report */
		set_state(cl, S_RSET);
		put(cl, "RSET");
		return;
	}
	while (cl->nsent < cl->ncmds && (pipe || cl->nsent == cl->nreplied))
		send_cmd(cl, cl->nsent++);
}

int smtp_client_send(struct smtp_client *cl, const struct smtpc_message *m)
{
	struct smtpc_status st;

	if (cl->state != S_READY || cl->m || m->nrcpts == 0)
		return -1;
	free(cl->st);
	free(cl->have);
	cl->st = calloc(m->nrcpts, sizeof(*cl->st));
	cl->have = calloc(m->nrcpts, sizeof(*cl->have));
	if (!cl->st || !cl->have)
		bug("out of memory");
	cl->m = m;
	cl->ncmds = m->nrcpts + 2;
	cl->nsent = cl->nreplied = cl->accepted = 0;
	cl->mail_failed = 0;
	cl->body_off = 0;
	cl->body_eof = 0;
	cl->bol = 1;
	cl->last_cr = 0;
	/* refusals we can tell before sending anything */
	/* an address the peer cannot take says more than the body */
	if (m->smtputf8 && !(cl->ext & SMTP_EXT_SMTPUTF8)) {
		smtpc_status_set(&st, 553, "5.6.7",
				 "the receiving server does not accept internationalized "
				 "addresses (no SMTPUTF8)");
		refuse_txn(cl, &st);
		return 0;
	}
	if (m->eightbit && !(cl->ext & SMTP_EXT_8BITMIME) && m->downgrade &&
	    m->downgrade(m->read_arg) == 0)
		log_info(conn_sid(cl->c), "event=downgraded peer=%s reason=\"no 8BITMIME\"",
			 cl->peer);
	if (m->eightbit && !(cl->ext & SMTP_EXT_8BITMIME)) {
		smtpc_status_set(&st, 554, "5.6.3",
				 "the receiving server does not accept 8-bit message bodies "
				 "(no 8BITMIME) and this message could not be converted to "
				 "7-bit");
		refuse_txn(cl, &st);
		return 0;
	}
	if ((cl->ext & SMTP_EXT_SIZE) && cl->size_max > 0 && m->size > cl->size_max) {
		smtpc_status_set(&st, 552, "5.3.4",
				 "message of %llu bytes is larger than the receiving server's "
				 "limit of %llu",
				 (unsigned long long)m->size, (unsigned long long)cl->size_max);
		refuse_txn(cl, &st);
		return 0;
	}
	set_state(cl, S_TXN);
	txn_pump(cl);
	return 0;
}

/* Copies the body out with dot-stuffing and CRLF line ends, as long as the
 * output buffer stays below the low mark's multiple. */
static void body_pump(struct smtp_client *cl)
{
	const struct smtpc_message *m = cl->m;
	char in[SMTPC_BODY_CHUNK], out[SMTPC_BODY_CHUNK * 2 + 8];

	while (cl->state == S_BODY && conn_outlen(cl->c) < SMTPC_LOWMARK * 2) {
		long n;
		size_t o = 0;

		if (cl->body_eof) {
			if (!cl->bol)
				conn_write(cl->c, "\r\n", 2);
			conn_write(cl->c, ".\r\n", 3);
			set_state(cl, S_DATA_END);
			return;
		}
		n = m->read(m->read_arg, in, sizeof(in), cl->body_off);
		if (n < 0) {
			failf(cl, 0, "could not read the message from the store");
			return;
		}
		if (n == 0) {
			cl->body_eof = 1;
			continue;
		}
		cl->body_off += (uint64_t)n;
		for (long i = 0; i < n; i++) {
			char ch = in[i];
			if (ch == '\n' && !cl->last_cr)
				out[o++] = '\r';
			else if (cl->bol && ch == '.')
				out[o++] = '.';
			out[o++] = ch;
			cl->last_cr = ch == '\r';
			cl->bol = ch == '\n';
		}
		if (conn_write(cl->c, out, o) < 0) {
			failf(cl, 0, "output buffer full");
			return;
		}
	}
}

static void start_body(struct smtp_client *cl)
{
	const struct smtpc_message *m = cl->m;

	set_state(cl, S_BODY);
	if (m->prefix_len > 0 && conn_write(cl->c, m->prefix, m->prefix_len) < 0) {
		failf(cl, 0, "output buffer full");
		return;
	}
	body_pump(cl);
}

static void on_txn_reply(struct smtp_client *cl, const struct smtp_reply *r)
{
	const struct smtpc_message *m = cl->m;
	size_t i = cl->nreplied++;
	int ok = smtp_reply_class(r) == 2;

	if (i == 0) {
		if (!ok) {
			cl->mail_failed = 1;
			status_from_reply(&cl->mail_st, r);
		}
	} else if (i <= m->nrcpts) {
		if (ok)
			cl->accepted++;
		else {
			status_from_reply(&cl->st[i - 1], r);
			cl->have[i - 1] = 1;
		}
	} else {
		/* DATA */
		if (r->code == 354) {
			if (cl->accepted == 0 || cl->mail_failed) {
				/* an empty message must not go out: drop the session */
				failf(cl, 0, "server said 354 to DATA with no accepted recipient");
				return;
			}
			start_body(cl);
			return;
		}
		struct smtpc_status dst;
		status_from_reply(&dst, r);
		for (size_t k = 0; k < m->nrcpts; k++)
			if (!cl->have[k]) {
				cl->st[k] = cl->mail_failed ? cl->mail_st : dst;
				cl->have[k] = 1;
			}
		set_state(cl, S_RSET);
		put(cl, "RSET");
		return;
	}
	txn_pump(cl);
}

static void on_data_end(struct smtp_client *cl, const struct smtp_reply *r)
{
	struct smtpc_status st;

	status_from_reply(&st, r);
	set_state(cl, S_READY);
	finish_txn(cl, &st);
}

/* --- session set-up ----------------------------------------------------- */

static void session_ready(struct smtp_client *cl)
{
	set_state(cl, S_READY);
	if (cl->cbs.ready)
		cl->cbs.ready(cl, cl->arg);
}

static void start_auth(struct smtp_client *cl)
{
	char msg[1024], enc[1400];
	size_t ul, pl;

	if (!conn_is_tls(cl->c)) {
		failf(cl, 0, "refusing to send the password without TLS");
		return;
	}
	ul = strlen(cl->user);
	pl = strlen(cl->password);
	if (cl->ext & SMTP_EXT_AUTH_PLAIN) {
		if (ul + pl + 2 > sizeof(msg)) {
			failf(cl, 0, "user name or password too long");
			return;
		}
		msg[0] = '\0';
		memcpy(msg + 1, cl->user, ul);
		msg[1 + ul] = '\0';
		memcpy(msg + 2 + ul, cl->password, pl);
		b64(msg, ul + pl + 2, enc, sizeof(enc));
		explicit_bzero(msg, sizeof(msg));
		set_state(cl, S_AUTH_PLAIN);
		put(cl, "AUTH PLAIN %s", enc);
		explicit_bzero(enc, sizeof(enc));
	} else if (cl->ext & SMTP_EXT_AUTH_LOGIN) {
		set_state(cl, S_AUTH_LOGIN);
		put(cl, "AUTH LOGIN");
	} else {
		failf(cl, 0, "the server offers no AUTH PLAIN or LOGIN");
	}
}

static void after_ehlo(struct smtp_client *cl)
{
	int want_tls = !conn_is_tls(cl->c) && cl->tls &&
		       (cl->tls_mode == SMTPC_TLS_STARTTLS ||
			(cl->tls_mode == SMTPC_TLS_OPPORTUNISTIC && (cl->ext & SMTP_EXT_STARTTLS)));

	if (cl->tls_mode == SMTPC_TLS_STARTTLS && !conn_is_tls(cl->c) && !cl->tls) {
		failf(cl, 0, "STARTTLS is required but no TLS client context could be made");
		return;
	}
	if (cl->tls_mode == SMTPC_TLS_STARTTLS && !conn_is_tls(cl->c) &&
	    !(cl->ext & SMTP_EXT_STARTTLS)) {
		failf(cl, 0, "the server does not offer STARTTLS, which is required");
		return;
	}
	if (want_tls) {
		set_state(cl, S_STARTTLS);
		put(cl, "STARTTLS");
		return;
	}
	if (cl->user) {
		start_auth(cl);
		return;
	}
	session_ready(cl);
}

static void on_reply(struct smtp_client *cl, const struct smtp_reply *r)
{
	int cls = smtp_reply_class(r);
	char enc[1400];

	/* 421: the server is going away, whatever we asked */
	if (r->code == 421 && cl->state != S_QUIT) {
		struct smtpc_status st;
		status_from_reply(&st, r);
		fail(cl, &st);
		return;
	}
	switch (cl->state) {
	case S_GREETING: {
		size_t n = strcspn(r->text, "\n");
		snprintf(cl->banner, sizeof(cl->banner), "%.*s", (int)n, r->text);
		if (cls != 2) {
			struct smtpc_status st;
			status_from_reply(&st, r);
			fail(cl, &st);
			return;
		}
		send_ehlo(cl);
		return;
	}
	case S_EHLO:
		if (cls != 2) {
			/* an old server: HELO, without extensions */
			set_state(cl, S_HELO);
			put(cl, "HELO %s", cl->helo);
			return;
		}
		cl->ext = smtp_reply_ehlo(r, &cl->size_max);
		after_ehlo(cl);
		return;
	case S_HELO:
		if (cls != 2) {
			struct smtpc_status st;
			status_from_reply(&st, r);
			fail(cl, &st);
			return;
		}
		cl->ext = 0;
		after_ehlo(cl);
		return;
	case S_STARTTLS:
		if (r->code != 220) {
			if (cl->tls_mode == SMTPC_TLS_STARTTLS) {
				failf(cl, 0, "STARTTLS refused: %d %s", r->code, r->text);
				return;
			}
			/* opportunistic: go on in the clear */
			cl->ext &= ~(unsigned)SMTP_EXT_STARTTLS;
			if (cl->user)
				start_auth(cl);
			else
				session_ready(cl);
			return;
		}
		set_state(cl, S_HANDSHAKE);
		if (conn_starttls_client(cl->c, cl->tls, cl->servername) < 0)
			failf(cl, 0, "could not start TLS");
		return;
	case S_AUTH_PLAIN:
	case S_AUTH_PASS:
		if (r->code != 235) {
			/* always temporary: a password fixed by the admin
			 * must not have bounced the mail meanwhile */
			failf(cl, 0, "authentication failed: %d %s", r->code, r->text);
			return;
		}
		session_ready(cl);
		return;
	case S_AUTH_LOGIN:
		if (r->code != 334) {
			failf(cl, 0, "AUTH LOGIN refused: %d %s", r->code, r->text);
			return;
		}
		b64(cl->user, strlen(cl->user), enc, sizeof(enc));
		set_state(cl, S_AUTH_USER);
		put(cl, "%s", enc);
		return;
	case S_AUTH_USER:
		if (r->code != 334) {
			failf(cl, 0, "AUTH LOGIN refused the user name: %d %s", r->code, r->text);
			return;
		}
		b64(cl->password, strlen(cl->password), enc, sizeof(enc));
		set_state(cl, S_AUTH_PASS);
		put(cl, "%s", enc);
		explicit_bzero(enc, sizeof(enc));
		return;
	case S_TXN:
		on_txn_reply(cl, r);
		return;
	case S_DATA_END:
		on_data_end(cl, r);
		return;
	case S_RSET:
		if (cls != 2) {
			struct smtpc_status st;
			status_from_reply(&st, r);
			fail(cl, &st);
			return;
		}
		set_state(cl, S_READY);
		{
			struct smtpc_status st;
			smtpc_status_set(&st, 0, NULL, "transaction failed");
			finish_txn(cl, &st);
		}
		return;
	case S_QUIT:
		conn_close(cl->c, 0, "quit");
		return;
	default:
		failf(cl, 0, "unexpected reply %d while %s", r->code, state_names[cl->state]);
		return;
	}
}

/* --- the conn ------------------------------------------------------------ */

static void on_input(struct conn *c, void *arg)
{
	struct smtp_client *cl = arg;
	struct lr_line line;
	int r;

	while (cl->state != S_CLOSED && (r = conn_line(c, &line)) != LR_NEED) {
		if (r == LR_TOOLONG) {
			failf(cl, 0, "reply line longer than %d bytes", SMTP_REPLY_MAXLINE);
			return;
		}
		if (cl->state == S_READY || cl->state == S_HANDSHAKE || cl->state == S_BODY) {
			/* nothing asked: a server talking out of turn */
			failf(cl, 0, "unexpected input while %s", state_names[cl->state]);
			return;
		}
		r = smtp_reply_line(&cl->reply, line.data, line.len);
		if (r == SMTP_REPLY_BAD) {
			char q[120];
			failf(cl, 0, "malformed reply: %s",
			      log_quote(q, sizeof(q), line.data, line.len > 60 ? 60 : line.len));
			return;
		}
		if (r == SMTP_REPLY_DONE) {
			struct smtp_reply rep = cl->reply;
			smtp_reply_reset(&cl->reply);
			log_debug(conn_sid(c), "event=smtp-reply code=%d state=%s", rep.code,
				  state_names[cl->state]);
			on_reply(cl, &rep);
		}
	}
}

static void on_writable(struct conn *c, void *arg)
{
	struct smtp_client *cl = arg;

	/* a long upload is not idleness: the peer takes our bytes */
	conn_set_timeout(c, cl->timeout_ms);
	if (cl->state == S_BODY)
		body_pump(cl);
}

static void on_tls_ready(struct conn *c, void *arg)
{
	struct smtp_client *cl = arg;

	snprintf(cl->tls_version, sizeof(cl->tls_version), "%s",
		 conn_tls_version(c) ? conn_tls_version(c) : "");
	cl->tls_verified = conn_tls_verified(c);
	log_debug(conn_sid(c), "event=smtp-client-tls version=%s verified=%d", cl->tls_version,
		  cl->tls_verified);
	if (cl->state == S_HANDSHAKE) {
		/* RFC 3207: forget what was learned in the clear */
		cl->ext = 0;
		send_ehlo(cl);
	}
}

static void on_timeout(struct conn *c, void *arg)
{
	struct smtp_client *cl = arg;

	(void)c;
	failf(cl, 0, "timeout waiting for the server (while %s)", state_names[cl->state]);
}

static void on_closed(struct conn *c, void *arg, const char *reason)
{
	struct smtp_client *cl = arg;

	(void)c;
	cl->c = NULL;
	if (cl->state == S_HANDSHAKE && cl->why.text[0] == '\0')
		smtpc_status_set(&cl->why, 0, NULL, "TLS handshake failed");
	deliver_closed(cl, reason);
}

static const struct conn_cbs client_cbs = {
    .input = on_input,
    .closed = on_closed,
    .writable = on_writable,
    .tls_ready = on_tls_ready,
    .timeout = on_timeout,
};

static void start_conn(struct smtp_client *cl)
{
	int fd = cl->fd;

	cl->fd = -1;
	cl->connected = 1;
	cl->c = conn_new(cl->ev, fd, (struct sockaddr *)&cl->sa, &client_cbs, cl,
			 SMTP_REPLY_MAXLINE, SMTPC_MAXOUT);
	conn_set_lowmark(cl->c, SMTPC_LOWMARK);
	conn_set_timeout(cl->c, cl->timeout_ms);
	set_state(cl, S_GREETING);
	if (cl->tls_mode == SMTPC_TLS_IMPLICIT) {
		if (!cl->tls || conn_tls_client(cl->c, cl->tls, cl->servername) < 0) {
			failf(cl, 0, "could not start TLS");
			return;
		}
		/* the greeting comes after the handshake; tls_ready then
		 * finds state GREETING and waits for it */
	}
}

static void connect_done(struct smtp_client *cl, int err)
{
	ev_timer_disarm(cl->ctimer);
	ev_io_del(cl->ev, cl->fd);
	if (err) {
		close(cl->fd);
		cl->fd = -1;
		failf(cl, 0, "connect to %s failed: %s", cl->peer, strerror(err));
		return;
	}
	start_conn(cl);
}

static void on_connect_io(struct evloop *ev, int fd, int events, void *arg)
{
	struct smtp_client *cl = arg;
	int err = 0;
	socklen_t len = sizeof(err);

	(void)ev;
	(void)events;
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
		err = errno;
	connect_done(cl, err);
}

static void on_connect_timeout(struct evloop *ev, struct ev_timer *t, void *arg)
{
	(void)ev;
	(void)t;
	connect_done(arg, ETIMEDOUT);
}

static char *dup_or_null(const char *s)
{
	char *d;

	if (!s)
		return NULL;
	d = strdup(s);
	if (!d)
		bug("out of memory");
	return d;
}

struct smtp_client *smtp_client_connect(struct evloop *ev, const struct sockaddr *sa,
					socklen_t salen, const struct smtpc_config *cfg,
					const struct smtpc_cbs *cbs, void *arg)
{
	struct smtp_client *cl = calloc(1, sizeof(*cl));

	if (!cl)
		bug("out of memory");
	cl->ev = ev;
	cl->fd = -1;
	cl->cbs = *cbs;
	cl->arg = arg;
	cl->state = S_CONNECTING;
	cl->helo = dup_or_null(cfg->helo ? cfg->helo : "localhost");
	cl->servername = dup_or_null(cfg->servername);
	cl->user = cfg->user && cfg->user[0] ? dup_or_null(cfg->user) : NULL;
	cl->password = dup_or_null(cfg->password ? cfg->password : "");
	cl->tls_mode = cfg->tls_mode;
	cl->tls = cfg->tls;
	cl->timeout_ms = cfg->timeout_ms ? cfg->timeout_ms : 300000;
	cl->connect_timeout_ms = cfg->connect_timeout_ms ? cfg->connect_timeout_ms : 30000;
	cl->soon = ev_timer_new(ev, on_soon, cl);
	cl->refuse = ev_timer_new(ev, on_refuse, cl);
	cl->ctimer = ev_timer_new(ev, on_connect_timeout, cl);
	smtp_reply_reset(&cl->reply);
	if (salen > sizeof(cl->sa))
		salen = sizeof(cl->sa);
	memcpy(&cl->sa, sa, salen);
	cl->salen = salen;
	net_addr_str(sa, cl->peer, sizeof(cl->peer));

	cl->fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (cl->fd < 0) {
		failf(cl, 0, "socket: %s", strerror(errno));
		return cl;
	}
	if (connect(cl->fd, sa, salen) == 0) {
		/* loopback may connect at once; still report from the loop */
		ev_io_add(ev, cl->fd, EV_WRITE, on_connect_io, cl);
		return cl;
	}
	if (errno != EINPROGRESS) {
		int e = errno;
		close(cl->fd);
		cl->fd = -1;
		failf(cl, 0, "connect to %s failed: %s", cl->peer, strerror(e));
		return cl;
	}
	if (ev_io_add(ev, cl->fd, EV_WRITE, on_connect_io, cl) < 0) {
		close(cl->fd);
		cl->fd = -1;
		failf(cl, 0, "epoll: %s", strerror(errno));
		return cl;
	}
	ev_timer_arm(cl->ctimer, cl->connect_timeout_ms);
	return cl;
}

void smtp_client_quit(struct smtp_client *cl)
{
	if (cl->state == S_CLOSED || cl->quitting)
		return;
	cl->quitting = 1;
	if (!cl->c || cl->state == S_CONNECTING) {
		smtp_client_abort(cl, "quit before connected");
		return;
	}
	set_state(cl, S_QUIT);
	put(cl, "QUIT");
	/* do not wait long for a polite 221 */
	conn_set_timeout(cl->c, 10000);
}

void smtp_client_abort(struct smtp_client *cl, const char *why)
{
	if (cl->state == S_CLOSED)
		return;
	if (cl->fd >= 0) {
		ev_timer_disarm(cl->ctimer);
		ev_io_del(cl->ev, cl->fd);
		close(cl->fd);
		cl->fd = -1;
	}
	failf(cl, 0, "%s", why);
}

unsigned smtp_client_ext(const struct smtp_client *cl)
{
	return cl->ext;
}

const char *smtp_client_tls_version(const struct smtp_client *cl)
{
	return cl->tls_version;
}

int smtp_client_tls_verified(const struct smtp_client *cl)
{
	return cl->tls_verified;
}

const char *smtp_client_peer(const struct smtp_client *cl)
{
	return cl->peer;
}

const char *smtp_client_sid(const struct smtp_client *cl)
{
	return cl->c ? conn_sid(cl->c) : "-";
}

int smtp_client_connected(const struct smtp_client *cl)
{
	return cl->connected;
}

const char *smtp_client_banner(const struct smtp_client *cl)
{
	return cl->banner;
}
