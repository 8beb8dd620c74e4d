/*
 * The POP3 server of loft-imapd: RFC 1939 with CAPA and response codes
 * (RFC 2449), STLS (RFC 2595) and SASL PLAIN (RFC 5034, 4616).
 *
 * SECURITY: everything a client sends is hostile.  Lines are bounded
 * (255 octets, RFC 2449; 4 KiB for a SASL response), every command is
 * checked against a table of states before it runs, message numbers are
 * parsed strictly, and a session that sends too many bad commands or
 * failed logins is closed.  No credential leaves this file: USER/PASS and
 * AUTH PLAIN need TLS unless pop3.plaintext_auth allows them, failures go
 * through the shared authlimit throttle, passwords are wiped after use and
 * never logged.  A session sees only its own user's INBOX, through the
 * store; it changes the store only at QUIT (the UPDATE state).
 *
 * The maildrop is a snapshot of INBOX taken at login: messages that arrive
 * later show up in the next session.  One POP3 session per user holds the
 * maildrop at a time ([IN-USE] for the others); IMAP sessions are not
 * locked out.  UIDL is "UIDVALIDITY.UID", so it stays stable for as long
 * as the IMAP view does.
 */
#include "pop3.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "authcheck.h"
#include "authlimit.h"
#include "buf.h"
#include "config.h"
#include "conn.h"
#include "daemon.h"
#include "evloop.h"
#include "log.h"
#include "net.h"
#include "pop3_parse.h"
#include "sasl.h"
#include "store.h"
#include "store_users.h"
#include "store_deliver.h"
#include "store_mailbox.h"

#define MAX_LISTENERS  4
#define OUT_MAX	       (1024 * 1024) /* conn output buffer bound */
#define OUT_HIGH       (256 * 1024)  /* stop producing / reading above this */
#define OUT_LOW	       (64 * 1024)   /* resume below this */
#define CHUNK	       (64 * 1024)   /* one slice of a long response */
#define MAX_BAD_CMDS   10
#define MAX_AUTH_FAILS 3
#define MAX_MSGS       1000000 /* messages one maildrop lists */
#define IMPLEMENTATION "Loft"

enum pop3_state { ST_AUTHORIZATION, ST_TRANSACTION };

/* What a multi-line response still has to send. */
enum producer { PR_NONE, PR_LIST, PR_UIDL, PR_MSG };

struct pop3_msg {
	uint32_t uid;
	uint64_t size;
	int64_t message_id;
	unsigned char deleted;	 /* DELE'd in this session */
	unsigned char retrieved; /* RETR'd: gets \Seen at QUIT */
};

struct pop3_session {
	struct pop3_session *prev, *next;
	struct conn *c;
	const char *sid;
	char ip[64];
	int implicit;
	int greeted;
	int closing;
	int paused;
	enum pop3_state state;

	char user[STORE_ADDR_MAX + 1];
	int have_user;
	int in_sasl;
	unsigned bad_cmds, auth_fails;
	const char *auth_method;

	/* a login held back by the authlimit delay */
	struct ev_timer *auth_timer;
	/* AUTHORIZATION may last this long in all, however busy the client
	 * keeps it (the idle timeout only limits silence) */
	struct ev_timer *login_timer;
	char *pend_user, *pend_pass;
	struct authcheck_job *auth_job; /* the password check under way */

	int64_t user_id, mailbox_id;
	uint32_t uidvalidity;
	struct pop3_msg *msgs;
	size_t nmsgs, msgs_cap;

	enum producer pr;
	size_t pr_idx;
	uint64_t pr_slices, pr_slices_seen; /* progress, for the idle timeout */
	struct store_message msg;
	int have_msg;
	struct pop3_stuffer stuff;
	struct buf obuf;
};

static struct {
	struct daemon *d;
	struct store *st;
	struct tls_ctx *tls;
	struct evloop *ev;
	struct authlimit *al;
	int own_al;
	struct authcheck *ac;
	int own_ac;
	struct {
		int fd;
		int implicit;
	} lst[MAX_LISTENERS];
	int nlst;
	int stopping;
	struct pop3_session *sessions;
	int nsessions;
	int plaintext_auth;
	uint64_t idle_ms;
	uint64_t login_deadline_ms;
	uint64_t max_sessions, max_per_ip;
	void (*change_fn)(void *arg, int64_t mailbox_id);
	void *change_arg;
} srv;

/* --- small helpers ------------------------------------------------------ */

static void wipe_free(char *s)
{
	if (s) {
		explicit_bzero(s, strlen(s));
		free(s);
	}
}

static char *xstrndup(const char *s, size_t n)
{
	char *p = strndup(s, n);
	if (!p)
		bug("out of memory");
	return p;
}

/* Queues a reply line.  Output is bounded and drained before each command
 * (OUT_HIGH < OUT_MAX), so a failure here means the peer stopped reading
 * long ago: the session ends. */
static int reply(struct pop3_session *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static int reply(struct pop3_session *s, const char *fmt, ...)
{
	char line[512];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line) - 2, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(line) - 2)
		bug("pop3 reply too long");
	memcpy(line + n, "\r\n", 2);
	if (conn_write(s->c, line, (size_t)n + 2) < 0) {
		s->closing = 1;
		conn_close(s->c, 0, "output-overflow");
		return -1;
	}
	return 0;
}

/* Ends the session after the queued output (and msg, if any) is sent.
 * Returns -1 so callers can "return end_session(...)"; s must not be used
 * afterwards. */
static int end_session(struct pop3_session *s, const char *msg, const char *reason)
{
	if (msg)
		conn_printf(s->c, "%s\r\n", msg);
	s->closing = 1;
	conn_close(s->c, 1, reason);
	return -1;
}

static int tls_ok_for_auth(const struct pop3_session *s)
{
	return conn_is_tls(s->c) || srv.plaintext_auth;
}

static void set_paused(struct pop3_session *s, int on)
{
	if (s->paused != on) {
		s->paused = on;
		conn_pause(s->c, on);
	}
}

/* Counts a refused command.  Returns -1 when the session was closed for
 * it. */
static int bad_command(struct pop3_session *s, const char *text)
{
	s->bad_cmds++;
	if (s->bad_cmds >= MAX_BAD_CMDS) {
		log_info(s->sid, "event=too-many-bad-commands ip=%s", s->ip);
		char msg[128];
		snprintf(msg, sizeof(msg), "%s; too many bad commands, closing", text);
		return end_session(s, msg, "bad-commands");
	}
	return reply(s, "%s", text);
}

/* --- maildrop ----------------------------------------------------------- */

static int collect_entry(void *arg, const struct store_entry *e)
{
	struct pop3_session *s = arg;

	if (s->nmsgs == MAX_MSGS)
		return 1;
	if (s->nmsgs == s->msgs_cap) {
		size_t ncap = s->msgs_cap ? s->msgs_cap * 2 : 64;
		struct pop3_msg *n = realloc(s->msgs, ncap * sizeof(*n));
		if (!n)
			bug("out of memory");
		s->msgs = n;
		s->msgs_cap = ncap;
	}
	struct pop3_msg *m = &s->msgs[s->nmsgs++];
	memset(m, 0, sizeof(*m));
	m->uid = e->uid;
	m->size = e->size;
	m->message_id = e->message_id;
	return 0;
}

/* Takes the INBOX snapshot.  Returns 0 or -1 (store error). */
static int maildrop_open(struct pop3_session *s)
{
	struct store_mailbox mb;

	if (store_mailbox_get(srv.st, s->user_id, "INBOX", &mb) != 0)
		return -1;
	s->mailbox_id = mb.id;
	s->uidvalidity = mb.uidvalidity;
	s->nmsgs = 0;
	if (store_entries(srv.st, mb.id, 1, 0, collect_entry, s) < 0)
		return -1;
	return 0;
}

static void maildrop_stat(const struct pop3_session *s, size_t *count, uint64_t *octets)
{
	*count = 0;
	*octets = 0;
	for (size_t i = 0; i < s->nmsgs; i++) {
		if (!s->msgs[i].deleted) {
			(*count)++;
			*octets += s->msgs[i].size;
		}
	}
}

static int holds_maildrop(int64_t user_id, const struct pop3_session *except)
{
	for (struct pop3_session *o = srv.sessions; o; o = o->next)
		if (o != except && o->state == ST_TRANSACTION && o->user_id == user_id)
			return 1;
	return 0;
}

/* The UPDATE state: DELE'd messages are flagged \Deleted and expunged,
 * retrieved ones get \Seen, all in one transaction.  Returns the number
 * expunged, or -1 (nothing changed). */
static long maildrop_update(struct pop3_session *s)
{
	uint32_t *uids;
	size_t ndel = 0, nseen = 0;
	long n = 0;

	uids = malloc((s->nmsgs ? s->nmsgs : 1) * sizeof(*uids));
	if (!uids)
		bug("out of memory");
	for (size_t i = 0; i < s->nmsgs; i++) {
		if (s->msgs[i].deleted)
			uids[ndel++] = s->msgs[i].uid;
		else if (s->msgs[i].retrieved)
			nseen++;
	}
	if (ndel == 0 && nseen == 0) {
		free(uids);
		return 0;
	}
	if (store_tx_begin(srv.st) < 0)
		goto fail;
	for (size_t i = 0; i < s->nmsgs; i++) {
		const struct pop3_msg *m = &s->msgs[i];
		unsigned f = m->deleted ? STORE_F_DELETED : m->retrieved ? STORE_F_SEEN : 0;
		if (!f)
			continue;
		/* an IMAP session may have expunged it meanwhile: fine */
		int r =
		    store_flags(srv.st, s->mailbox_id, m->uid, STORE_FLAGS_ADD, f, NULL, 0, NULL);
		if (r < 0 && r != STORE_NOTFOUND)
			goto rollback;
	}
	if (ndel) {
		n = store_expunge(srv.st, s->mailbox_id, uids, ndel, NULL, NULL);
		if (n < 0)
			goto rollback;
	}
	if (store_tx_commit(srv.st) < 0)
		goto rollback;
	free(uids);
	if (srv.change_fn)
		srv.change_fn(srv.change_arg, s->mailbox_id);
	return n;
rollback:
	store_tx_rollback(srv.st);
fail:
	log_err(s->sid, "event=update-failed user=%s error=\"%s\"", s->user, store_errmsg(srv.st));
	free(uids);
	return -1;
}

/* Finds message number arg; replies -ERR and returns -1 if there is none
 * (or it is deleted). */
static int msg_lookup(struct pop3_session *s, const char *arg, size_t len, size_t *idx)
{
	uint64_t n;

	if (pop3_parse_num(arg, len, UINT32_MAX, &n) < 0 || n == 0 || n > s->nmsgs) {
		reply(s, "-ERR no such message");
		return -1;
	}
	if (s->msgs[n - 1].deleted) {
		reply(s, "-ERR message %llu already deleted", (unsigned long long)n);
		return -1;
	}
	*idx = (size_t)(n - 1);
	return 0;
}

/* --- multi-line responses, streamed ------------------------------------- */

static void producer_end(struct pop3_session *s)
{
	if (s->have_msg) {
		store_message_free(&s->msg);
		s->have_msg = 0;
	}
	s->pr = PR_NONE;
	/* an idle session keeps no 64 KiB slice buffer */
	buf_free(&s->obuf);
	buf_init(&s->obuf, CHUNK + 64);
}

/* Fills obuf with the next slice.  Returns 1 when the response is complete
 * (terminator included), 0 when more remains, -1 on a bug-level failure. */
static int produce(struct pop3_session *s)
{
	struct buf *b = &s->obuf;

	switch (s->pr) {
	case PR_LIST:
	case PR_UIDL:
		while (s->pr_idx < s->nmsgs && b->len < CHUNK) {
			const struct pop3_msg *m = &s->msgs[s->pr_idx++];
			if (m->deleted)
				continue;
			int r = s->pr == PR_LIST
				    ? buf_printf(b, "%zu %llu\r\n", s->pr_idx,
						 (unsigned long long)m->size)
				    : buf_printf(b, "%zu %u.%u\r\n", s->pr_idx,
						 (unsigned)s->uidvalidity, (unsigned)m->uid);
			if (r < 0)
				return -1;
		}
		if (s->pr_idx < s->nmsgs)
			return 0;
		return buf_append(b, ".\r\n", 3) < 0 ? -1 : 1;
	case PR_MSG: {
		int r = pop3_stuffer_run(&s->stuff, s->msg.data, s->msg.size, b, CHUNK);
		if (r <= 0)
			return r;
		return buf_append(b, ".\r\n", 3) < 0 ? -1 : 1;
	}
	case PR_NONE:
		break;
	}
	return 1;
}

/* Moves slices of the current response to the conn while its output is
 * below OUT_HIGH; waits for writable() otherwise.  Input stays paused
 * until the response is complete, so pipelined commands are answered in
 * order. */
static void pump(struct pop3_session *s)
{
	while (s->pr != PR_NONE) {
		if (conn_outlen(s->c) >= OUT_HIGH) {
			set_paused(s, 1);
			return;
		}
		int r = produce(s);
		if (r < 0)
			bug("pop3 response buffer overflow");
		if (conn_write(s->c, s->obuf.data, s->obuf.len) < 0)
			bug("pop3 output over its bound");
		buf_reset(&s->obuf);
		s->pr_slices++;
		if (r == 1)
			producer_end(s);
	}
}

static void start_producer(struct pop3_session *s, enum producer pr)
{
	s->pr = pr;
	s->pr_idx = 0;
	pump(s);
}

/* --- authentication ----------------------------------------------------- */

static int auth_finish(struct pop3_session *s);

static void auth_delay_done(struct evloop *ev, struct ev_timer *t, void *arg)
{
	struct pop3_session *s = arg;
	(void)ev;
	(void)t;
	/* unpause only if answered at once; else auth_done does it */
	if (auth_finish(s) == 0 && s->pr == PR_NONE && !s->pend_user)
		set_paused(s, 0);
}

/* Starts a login with user and pass (copied; the caller wipes its own
 * copies).  Returns -1 if the session was closed. */
static int auth_start(struct pop3_session *s, const char *user, size_t ulen, const char *pass,
		      size_t plen, const char *method)
{
	char quser[STORE_ADDR_MAX * 4 + 8];

	if (ulen > STORE_ADDR_MAX) {
		s->auth_fails++;
		return reply(s, "-ERR [AUTH] invalid user name or password");
	}
	s->pend_user = xstrndup(user, ulen);
	s->pend_pass = xstrndup(pass, plen);
	s->auth_method = method;
	int64_t delay = authlimit_check(srv.al, s->ip, s->pend_user, ev_now(srv.ev));
	if (delay < 0) {
		log_quote(quser, sizeof(quser), s->pend_user, strlen(s->pend_user));
		log_warn(s->sid, "event=auth-refused ip=%s user=%s reason=throttled", s->ip, quser);
		wipe_free(s->pend_user);
		wipe_free(s->pend_pass);
		s->pend_user = s->pend_pass = NULL;
		return end_session(s, "-ERR [SYS/TEMP] too many failed logins, try again later",
				   "auth-throttled");
	}
	if (delay > 0) {
		set_paused(s, 1);
		ev_timer_arm(s->auth_timer, (uint64_t)delay);
		return 0;
	}
	return auth_finish(s);
}

static void auth_done(void *arg, int r, int64_t uid);

/* Hands the pending credentials to the password-check pool (off the
 * loop); input stays paused, pend_user set, until auth_done.  Returns -1
 * if the session was closed. */
static int auth_finish(struct pop3_session *s)
{
	char quser[STORE_ADDR_MAX * 4 + 8];

	s->auth_job = authcheck_submit(srv.ac, s->pend_user, s->pend_pass, auth_done, s);
	wipe_free(s->pend_pass);
	s->pend_pass = NULL;
	if (!s->auth_job) {
		log_quote(quser, sizeof(quser), s->pend_user, strlen(s->pend_user));
		log_warn(s->sid, "event=auth-busy ip=%s user=%s", s->ip, quser);
		free(s->pend_user);
		s->pend_user = NULL;
		return reply(s, "-ERR [SYS/TEMP] server busy, try again later");
	}
	set_paused(s, 1);
	return 0;
}

/* The check's answer r (authcheck_fn): opens the maildrop.  Returns -1 if
 * the session was closed. */
static int auth_answer(struct pop3_session *s, int r, int64_t uid)
{
	char quser[STORE_ADDR_MAX * 4 + 8];

	log_quote(quser, sizeof(quser), s->pend_user, strlen(s->pend_user));
	if (r < 0) {
		log_err(s->sid, "event=auth-error user=%s error=\"password check failed\"", quser);
		free(s->pend_user);
		s->pend_user = NULL;
		return reply(s, "-ERR [SYS/TEMP] internal error, try again later");
	}
	if (r == 0) {
		authlimit_fail(srv.al, s->ip, s->pend_user, ev_now(srv.ev));
		log_info(s->sid, "event=auth-failed ip=%s user=%s method=%s password=%s", s->ip,
			 quser, s->auth_method, LOG_SECRET);
		free(s->pend_user);
		s->pend_user = NULL;
		s->have_user = 0;
		if (++s->auth_fails >= MAX_AUTH_FAILS)
			return end_session(s, "-ERR [AUTH] invalid user name or password; closing",
					   "auth-failures");
		return reply(s, "-ERR [AUTH] invalid user name or password");
	}
	authlimit_success(srv.al, s->ip, s->pend_user);
	if (store_user_address(srv.st, uid, s->user, sizeof(s->user)) < 0)
		snprintf(s->user, sizeof(s->user), "%.*s", STORE_ADDR_MAX, s->pend_user);
	free(s->pend_user);
	s->pend_user = NULL;
	s->have_user = 0;
	if (holds_maildrop(uid, s)) {
		log_info(s->sid, "event=in-use user=%s", s->user);
		return reply(s, "-ERR [IN-USE] maildrop in use by another POP3 session");
	}
	s->user_id = uid;
	if (maildrop_open(s) < 0) {
		log_err(s->sid, "event=maildrop-failed user=%s error=\"%s\"", s->user,
			store_errmsg(srv.st));
		return reply(s, "-ERR [SYS/TEMP] cannot open the maildrop, try again later");
	}
	s->state = ST_TRANSACTION;
	ev_timer_disarm(s->login_timer);
	size_t count;
	uint64_t octets;
	maildrop_stat(s, &count, &octets);
	log_info(s->sid, "event=login user=%s ip=%s method=%s tls=%d messages=%zu", s->user, s->ip,
		 s->auth_method, conn_is_tls(s->c), count);
	log_debug(s->sid, "event=state state=TRANSACTION");
	return reply(s, "+OK maildrop has %zu messages (%llu octets)", count,
		     (unsigned long long)octets);
}

static void auth_done(void *arg, int r, int64_t uid)
{
	struct pop3_session *s = arg;

	s->auth_job = NULL;
	if (auth_answer(s, r, uid) == 0 && s->pr == PR_NONE)
		set_paused(s, 0);
}

/* A SASL PLAIN response (base64, "=" for empty).  Returns -1 if closed. */
static int sasl_plain(struct pop3_session *s, const char *b64, size_t len)
{
	unsigned char dec[POP3_SASL_MAX + 1];
	const char *user, *pass;
	long n = -1;

	if (len == 1 && b64[0] == '=')
		n = 0;
	else
		n = sasl_b64_decode(b64, len, dec, POP3_SASL_MAX);
	if (n < 0)
		return bad_command(s, "-ERR [AUTH] malformed SASL response");
	if (sasl_plain_split((char *)dec, (size_t)n, &user, &pass) < 0) {
		explicit_bzero(dec, sizeof(dec));
		s->auth_fails++;
		return reply(s, "-ERR [AUTH] invalid SASL PLAIN message");
	}
	int r = auth_start(s, user, strlen(user), pass, strlen(pass), "plain");
	explicit_bzero(dec, sizeof(dec));
	return r;
}

/* --- commands ------------------------------------------------------------ */

static int cmd_capa(struct pop3_session *s)
{
	struct buf b;
	int r;

	buf_init(&b, 1024);
	buf_puts(&b, "+OK capability list follows\r\nTOP\r\nUIDL\r\nRESP-CODES\r\n"
		     "AUTH-RESP-CODE\r\nPIPELINING\r\n");
	if (s->state == ST_AUTHORIZATION && tls_ok_for_auth(s))
		buf_puts(&b, "USER\r\nSASL PLAIN\r\n");
	if (s->state == ST_AUTHORIZATION && !conn_is_tls(s->c) && srv.tls)
		buf_puts(&b, "STLS\r\n");
	buf_puts(&b, "IMPLEMENTATION " IMPLEMENTATION "\r\n.\r\n");
	r = conn_write(s->c, b.data, b.len);
	buf_free(&b);
	if (r < 0)
		return end_session(s, NULL, "output-overflow");
	return 0;
}

static int cmd_auth(struct pop3_session *s, const struct pop3_cmd *cmd)
{
	if (cmd->nargs == 0) /* RFC 1734 style: list the mechanisms */
		return reply(s, "+OK\r\nPLAIN\r\n.");
	if (cmd->arglen[0] != 5 || strncasecmp(cmd->arg[0], "PLAIN", 5) != 0)
		return bad_command(s, "-ERR unsupported authentication mechanism");
	if (!tls_ok_for_auth(s))
		return bad_command(s, "-ERR [AUTH] plaintext authentication disallowed on "
				      "non-secure connections, use STLS");
	if (cmd->nargs == 2)
		return sasl_plain(s, cmd->arg[1], cmd->arglen[1]);
	s->in_sasl = 1;
	conn_set_maxline(s->c, POP3_SASL_LINE_MAX);
	return reply(s, "+ ");
}

static int cmd_list_uidl(struct pop3_session *s, const struct pop3_cmd *cmd)
{
	size_t i;

	if (cmd->nargs == 1) {
		if (msg_lookup(s, cmd->arg[0], cmd->arglen[0], &i) < 0)
			return 0;
		if (cmd->id == POP3_LIST)
			return reply(s, "+OK %zu %llu", i + 1, (unsigned long long)s->msgs[i].size);
		return reply(s, "+OK %zu %u.%u", i + 1, (unsigned)s->uidvalidity,
			     (unsigned)s->msgs[i].uid);
	}
	size_t count;
	uint64_t octets;
	maildrop_stat(s, &count, &octets);
	if (cmd->id == POP3_LIST) {
		if (reply(s, "+OK %zu messages (%llu octets)", count, (unsigned long long)octets) <
		    0)
			return -1;
		start_producer(s, PR_LIST);
	} else {
		if (reply(s, "+OK unique-id listing follows") < 0)
			return -1;
		start_producer(s, PR_UIDL);
	}
	return 0;
}

static int cmd_retr_top(struct pop3_session *s, const struct pop3_cmd *cmd)
{
	size_t i;
	uint64_t lines = 0;

	if (cmd->id == POP3_TOP &&
	    pop3_parse_num(cmd->arg[1], cmd->arglen[1], UINT64_MAX / 2, &lines) < 0)
		return bad_command(s, "-ERR invalid line count");
	if (msg_lookup(s, cmd->arg[0], cmd->arglen[0], &i) < 0)
		return 0;
	int r = store_message_get(srv.st, s->msgs[i].message_id, &s->msg);
	if (r == STORE_NOTFOUND)
		return reply(s, "-ERR message %zu is no longer available", i + 1);
	if (r < 0) {
		log_err(s->sid, "event=message-read-failed uid=%u error=\"%s\"",
			(unsigned)s->msgs[i].uid, store_errmsg(srv.st));
		return reply(s, "-ERR [SYS/TEMP] cannot read the message, try again later");
	}
	s->have_msg = 1;
	if (cmd->id == POP3_RETR) {
		s->msgs[i].retrieved = 1;
		r = reply(s, "+OK %llu octets",
			  (unsigned long long)pop3_wire_size(s->msg.data, s->msg.size));
		pop3_stuffer_init(&s->stuff, 0, 0);
	} else {
		r = reply(s, "+OK top of message follows");
		pop3_stuffer_init(&s->stuff, 1, lines);
	}
	if (r < 0)
		return -1;
	start_producer(s, PR_MSG);
	return 0;
}

static int cmd_quit(struct pop3_session *s)
{
	if (s->state == ST_AUTHORIZATION)
		return end_session(s, "+OK bye", "quit");
	long n = maildrop_update(s);
	if (n < 0)
		return end_session(s, "-ERR [SYS/TEMP] some deleted messages not removed",
				   "quit-update-failed");
	log_info(s->sid, "event=quit user=%s expunged=%ld", s->user, n);
	/* the maildrop is already updated: let a new session take it at
	 * once, without waiting for this close */
	s->state = ST_AUTHORIZATION;
	char msg[96];
	snprintf(msg, sizeof(msg), "+OK bye, %ld messages deleted", n);
	return end_session(s, msg, "quit");
}

/* Allowed states per command: bit 0 AUTHORIZATION, bit 1 TRANSACTION. */
#define IN_AUTH	 1
#define IN_TRANS 2
static const unsigned char cmd_states[POP3_NCMDS] = {
    [POP3_USER] = IN_AUTH,
    [POP3_PASS] = IN_AUTH,
    [POP3_AUTH] = IN_AUTH,
    [POP3_STLS] = IN_AUTH,
    [POP3_CAPA] = IN_AUTH | IN_TRANS,
    [POP3_STAT] = IN_TRANS,
    [POP3_LIST] = IN_TRANS,
    [POP3_RETR] = IN_TRANS,
    [POP3_DELE] = IN_TRANS,
    [POP3_TOP] = IN_TRANS,
    [POP3_UIDL] = IN_TRANS,
    [POP3_RSET] = IN_TRANS,
    [POP3_NOOP] = IN_TRANS,
    [POP3_QUIT] = IN_AUTH | IN_TRANS,
};

static int run_command(struct pop3_session *s, const struct pop3_cmd *cmd)
{
	size_t i, count;
	uint64_t octets;

	switch (cmd->id) {
	case POP3_CAPA:
		return cmd_capa(s);
	case POP3_USER:
		if (!tls_ok_for_auth(s))
			return bad_command(s, "-ERR [AUTH] plaintext authentication disallowed on "
					      "non-secure connections, use STLS");
		if (cmd->arglen[0] > STORE_ADDR_MAX)
			return bad_command(s, "-ERR user name too long");
		memcpy(s->user, cmd->arg[0], cmd->arglen[0]);
		s->user[cmd->arglen[0]] = '\0';
		s->have_user = 1;
		return reply(s, "+OK send PASS");
	case POP3_PASS:
		if (!s->have_user)
			return bad_command(s, "-ERR USER first");
		return auth_start(s, s->user, strlen(s->user), cmd->arg[0], cmd->arglen[0], "user");
	case POP3_AUTH:
		return cmd_auth(s, cmd);
	case POP3_STLS:
		if (conn_is_tls(s->c))
			return bad_command(s, "-ERR already using TLS");
		if (!srv.tls)
			return bad_command(s, "-ERR TLS not available");
		if (reply(s, "+OK begin TLS negotiation") < 0)
			return -1;
		/* RFC 2595 4: forget what the client said before TLS */
		s->have_user = 0;
		if (conn_starttls(s->c, srv.tls) < 0)
			return end_session(s, NULL, "starttls-failed");
		return 0;
	case POP3_STAT:
		maildrop_stat(s, &count, &octets);
		return reply(s, "+OK %zu %llu", count, (unsigned long long)octets);
	case POP3_LIST:
	case POP3_UIDL:
		return cmd_list_uidl(s, cmd);
	case POP3_RETR:
	case POP3_TOP:
		return cmd_retr_top(s, cmd);
	case POP3_DELE:
		if (msg_lookup(s, cmd->arg[0], cmd->arglen[0], &i) < 0)
			return 0;
		s->msgs[i].deleted = 1;
		return reply(s, "+OK message %zu deleted", i + 1);
	case POP3_RSET:
		for (i = 0; i < s->nmsgs; i++)
			s->msgs[i].deleted = 0;
		maildrop_stat(s, &count, &octets);
		return reply(s, "+OK maildrop has %zu messages (%llu octets)", count,
			     (unsigned long long)octets);
	case POP3_NOOP:
		return reply(s, "+OK");
	case POP3_QUIT:
		return cmd_quit(s);
	case POP3_NCMDS:
		break;
	}
	bug("pop3: command %d has no handler", (int)cmd->id);
}

/* One input line.  Returns -1 if the session was closed. */
static int handle_line(struct pop3_session *s, const char *line, size_t len)
{
	struct pop3_cmd cmd;
	int r;

	if (s->in_sasl) {
		s->in_sasl = 0;
		conn_set_maxline(s->c, POP3_LINE_MAX);
		if (len == 1 && line[0] == '*')
			return reply(s, "-ERR authentication cancelled");
		return sasl_plain(s, line, len);
	}
	r = pop3_cmd_parse(line, len, &cmd);
	switch (r) {
	case 0:
		break;
	case POP3_PE_EMPTY:
		return bad_command(s, "-ERR empty command");
	case POP3_PE_CHAR:
		return bad_command(s, "-ERR invalid characters in command");
	case POP3_PE_UNKNOWN:
		return bad_command(s, "-ERR unknown command");
	case POP3_PE_ARGS:
		return bad_command(s, "-ERR wrong number of arguments");
	default:
		return bad_command(s, "-ERR argument too long");
	}
	unsigned want = s->state == ST_AUTHORIZATION ? IN_AUTH : IN_TRANS;
	if (!(cmd_states[cmd.id] & want))
		return bad_command(s, "-ERR command not valid in this state");
	if (cmd.id != POP3_PASS)
		log_debug(s->sid, "event=command cmd=%s", pop3_cmd_name(cmd.id));
	return run_command(s, &cmd);
}

/* --- connection callbacks ----------------------------------------------- */

static void on_input(struct conn *c, void *arg)
{
	struct pop3_session *s = arg;
	struct lr_line l;

	while (!s->closing && s->pr == PR_NONE && !s->pend_user) {
		if (conn_outlen(c) >= OUT_HIGH) {
			/* the client pipelines faster than it reads */
			set_paused(s, 1);
			return;
		}
		int r = conn_line(c, &l);
		if (r == LR_NEED)
			return;
		if (r == LR_TOOLONG) {
			int was_sasl = s->in_sasl;
			s->in_sasl = 0;
			conn_set_maxline(c, POP3_LINE_MAX);
			if (bad_command(s, was_sasl ? "-ERR SASL response too long"
						    : "-ERR line too long") < 0)
				return;
			continue;
		}
		if (handle_line(s, l.data, l.len) < 0)
			return;
	}
}

static void on_writable(struct conn *c, void *arg)
{
	struct pop3_session *s = arg;
	(void)c;

	if (s->closing)
		return;
	if (s->pr != PR_NONE)
		pump(s);
	if (s->pr == PR_NONE && !s->pend_user && conn_outlen(c) < OUT_HIGH)
		set_paused(s, 0);
}

/* No input for the idle time (RFC 1939 section 3: at least 10 minutes).
 * A client still draining a long response is not idle. */
static void on_timeout(struct conn *c, void *arg)
{
	struct pop3_session *s = arg;

	if (s->pr != PR_NONE && s->pr_slices != s->pr_slices_seen) {
		s->pr_slices_seen = s->pr_slices;
		conn_set_timeout(c, srv.idle_ms);
		return;
	}
	log_info(s->sid, "event=idle-timeout ip=%s", s->ip);
	end_session(s, s->pr == PR_NONE ? "-ERR autologout; idle for too long" : NULL, "timeout");
}

static void login_deadline(struct evloop *ev, struct ev_timer *t, void *arg)
{
	struct pop3_session *s = arg;

	(void)ev;
	(void)t;
	if (s->closing || s->state != ST_AUTHORIZATION)
		return;
	log_info(s->sid, "event=login-deadline ip=%s", s->ip);
	end_session(s, "-ERR [SYS/TEMP] took too long to log in", "login deadline");
}

static void greet(struct pop3_session *s)
{
	s->greeted = 1;
	reply(s, "+OK Loft POP3 server ready");
}

static void on_tls_ready(struct conn *c, void *arg)
{
	struct pop3_session *s = arg;

	(void)c;
	if (!s->greeted)
		greet(s);
}

static void on_closed(struct conn *c, void *arg, const char *reason)
{
	struct pop3_session *s = arg;
	(void)c;

	log_info(s->sid, "event=disconnect ip=%s user=%s reason=%s", s->ip,
		 s->user_id ? s->user : "-", reason ? reason : "-");
	if (s->prev)
		s->prev->next = s->next;
	else
		srv.sessions = s->next;
	if (s->next)
		s->next->prev = s->prev;
	srv.nsessions--;
	ev_timer_free(s->auth_timer);
	ev_timer_free(s->login_timer);
	authcheck_cancel(s->auth_job);
	wipe_free(s->pend_user);
	wipe_free(s->pend_pass);
	explicit_bzero(s->user, sizeof(s->user));
	producer_end(s);
	buf_free(&s->obuf);
	free(s->msgs);
	free(s);
}

static const struct conn_cbs pop3_cbs = {
    .input = on_input,
    .closed = on_closed,
    .writable = on_writable,
    .tls_ready = on_tls_ready,
    .timeout = on_timeout,
};

static int count_ip(const char *ip)
{
	int n = 0;
	for (struct pop3_session *o = srv.sessions; o; o = o->next)
		if (strcmp(o->ip, ip) == 0)
			n++;
	return n;
}

static void session_new(int fd, const struct sockaddr *peer, int implicit)
{
	char ip[64];

	net_addr_str(peer, ip, sizeof(ip));
	if ((uint64_t)srv.nsessions >= srv.max_sessions ||
	    (uint64_t)count_ip(ip) >= srv.max_per_ip) {
		static const char busy[] = "-ERR [SYS/TEMP] too many connections, try later\r\n";
		log_warn(NULL, "event=pop3-refused ip=%s reason=too-many-sessions", ip);
		/* best effort on a fresh socket: the line fits its buffer */
		if (!implicit && write(fd, busy, sizeof(busy) - 1) < 0)
			log_debug(NULL, "event=refuse-write-failed errno=%d", errno);
		close(fd);
		return;
	}

	struct pop3_session *s = calloc(1, sizeof(*s));
	if (!s)
		bug("out of memory");
	snprintf(s->ip, sizeof(s->ip), "%s", ip);
	s->implicit = implicit;
	s->state = ST_AUTHORIZATION;
	buf_init(&s->obuf, CHUNK + 64);
	s->c = conn_new(srv.ev, fd, peer, &pop3_cbs, s, POP3_LINE_MAX, OUT_MAX);
	s->sid = conn_sid(s->c);
	s->auth_timer = ev_timer_new(srv.ev, auth_delay_done, s);
	s->login_timer = ev_timer_new(srv.ev, login_deadline, s);
	ev_timer_arm(s->login_timer, srv.login_deadline_ms);
	s->next = srv.sessions;
	if (srv.sessions)
		srv.sessions->prev = s;
	srv.sessions = s;
	srv.nsessions++;
	conn_set_timeout(s->c, srv.idle_ms);
	conn_set_lowmark(s->c, OUT_LOW);
	log_info(s->sid, "event=connect ip=%s proto=pop3%s", s->ip, implicit ? "s" : "");
	if (implicit) {
		if (!srv.tls || conn_tls_server(s->c, srv.tls) < 0) {
			log_err(s->sid, "event=tls-unavailable");
			s->closing = 1;
			conn_close(s->c, 0, "no-tls");
		}
		return;
	}
	greet(s);
}

static void on_accept(struct evloop *ev, int fd, int events, void *arg)
{
	int implicit = (int)(intptr_t)arg;
	(void)ev;
	(void)events;

	for (int i = 0; i < 64 && !srv.stopping; i++) {
		struct sockaddr_storage ss;
		socklen_t sl = sizeof(ss);
		int cfd = accept4(fd, (struct sockaddr *)&ss, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (cfd < 0) {
			if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR &&
			    errno != ECONNABORTED)
				log_warn(NULL, "event=accept-failed error=\"%s\"", strerror(errno));
			return;
		}
		session_new(cfd, (struct sockaddr *)&ss, implicit);
	}
}

/* --- public ------------------------------------------------------------- */

static int read_config(struct daemon *d)
{
	struct config *cfg = daemon_config(d);
	uint64_t secs, deadline;

	if (config_get_bool(cfg, "pop3.plaintext_auth", 0, &srv.plaintext_auth) < 0 ||
	    config_get_u64(cfg, "pop3.idle_timeout", 600, 86400, &secs) < 0 || secs == 0 ||
	    config_get_u64(cfg, "pop3.login_deadline", 120, 86400, &deadline) < 0 ||
	    deadline == 0 ||
	    config_get_u64(cfg, "pop3.max_sessions", 200, 100000, &srv.max_sessions) < 0 ||
	    config_get_u64(cfg, "pop3.max_per_ip", 20, 100000, &srv.max_per_ip) < 0) {
		log_err(NULL, "event=config-error section=pop3 error=\"bad pop3.* setting\"");
		return -1;
	}
	srv.idle_ms = secs * 1000;
	srv.login_deadline_ms = deadline * 1000;
	return 0;
}

int pop3_listen(struct daemon *d, struct store *st, struct tls_ctx *tls, int listen_fd,
		int implicit_tls)
{
	if (srv.nlst == MAX_LISTENERS || listen_fd < 0)
		return -1;
	if (implicit_tls && !tls) {
		log_err(NULL, "event=pop3-listen-failed error=\"implicit TLS without a context\"");
		return -1;
	}
	if (read_config(d) < 0)
		return -1;
	srv.d = d;
	srv.st = st;
	srv.tls = tls;
	srv.ev = daemon_loop(d);
	if (!srv.al) {
		struct authlimit_conf ac;
		authlimit_conf_default(&ac);
		srv.al = authlimit_new(&ac);
		srv.own_al = 1;
	}
	if (!srv.ac) {
		char err[256];
		srv.ac = authcheck_new(srv.ev, daemon_db_path(d), 0, err, sizeof(err));
		if (!srv.ac) {
			log_err(NULL, "event=pop3-listen-failed error=\"%s\"", err);
			return -1;
		}
		srv.own_ac = 1;
	}
	if (net_set_nonblock(listen_fd) < 0 ||
	    ev_io_add(srv.ev, listen_fd, EV_READ, on_accept, (void *)(intptr_t)implicit_tls) < 0) {
		log_err(NULL, "event=pop3-listen-failed error=\"%s\"", strerror(errno));
		return -1;
	}
	srv.lst[srv.nlst].fd = listen_fd;
	srv.lst[srv.nlst].implicit = implicit_tls;
	srv.nlst++;
	return 0;
}

void pop3_stop(void)
{
	if (srv.stopping)
		return;
	srv.stopping = 1;
	for (int i = 0; i < srv.nlst; i++)
		ev_io_del(srv.ev, srv.lst[i].fd);
	log_info(NULL, "event=pop3-stop sessions=%d", srv.nsessions);
}

int pop3_sessions(void)
{
	return srv.nsessions;
}

void pop3_set_tls(struct tls_ctx *tls)
{
	srv.tls = tls;
}

void pop3_set_authlimit(struct authlimit *al)
{
	if (srv.own_al)
		authlimit_free(srv.al);
	srv.al = al;
	srv.own_al = 0;
}

void pop3_set_authcheck(struct authcheck *ac)
{
	if (srv.own_ac)
		authcheck_free(srv.ac);
	srv.ac = ac;
	srv.own_ac = 0;
}

void pop3_set_change_hook(void (*fn)(void *arg, int64_t mailbox_id), void *arg)
{
	srv.change_fn = fn;
	srv.change_arg = arg;
}
