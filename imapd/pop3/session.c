/*
 * POP3 sessions: RFC 1939 with CAPA and response codes (RFC 2449), STLS
 * (RFC 2595) and SASL PLAIN (RFC 5034, 4616); the command table, logins,
 * streamed multi-line responses, and the server object (pop3.h).
 *
 * SECURITY: everything a client sends is hostile.  Lines are bounded
 * (255 octets, RFC 2449; 4 KiB for a SASL response), every command is
 * checked against the table of states before it runs, message numbers are
 * parsed strictly, and a session that sends too many bad commands or
 * failed logins is closed.  No credential leaves this file: USER/PASS and
 * AUTH PLAIN need TLS unless pop3.plaintext_auth allows them, logins go
 * through the shared throttle (lib/service/listener), passwords are wiped
 * after use and never logged.  A session sees only its own user's INBOX,
 * through the store; it changes the store only at QUIT (maildrop.c).
 *
 * The maildrop is a snapshot of INBOX taken at login: messages that arrive
 * later show up in the next session.  One POP3 session per user holds the
 * maildrop at a time ([IN-USE] for the others); IMAP sessions are not
 * locked out.  UIDL is "UIDVALIDITY.UID", so it stays stable for as long
 * as the IMAP view does.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config.h"
#include "conn.h"
#include "evloop.h"
#include "listener.h"
#include "log.h"
#include "pop3d.h"
#include "sasl.h"
#include "store_users.h"

#define OUT_MAX	       (1024 * 1024) /* conn output buffer bound */
#define CHUNK	       (64 * 1024)   /* one slice of a long response */
#define MAX_BAD_CMDS   10
#define MAX_AUTH_FAILS 3
#define IMPLEMENTATION "Loft"

static const char *const state_names[] = {
    [P3_AUTHORIZATION] = "AUTHORIZATION", [P3_TRANSACTION] = "TRANSACTION"};

/* Every state change goes through here, logged by name. */
static void set_state(struct pop3_session *s, enum pop3_state st)
{
	if (s->state != st)
		log_debug(s->sid, "event=state from=%s to=%s", state_names[s->state],
			  state_names[st]);
	s->state = st;
}

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
 * (LISTENER_OUT_HIGH < OUT_MAX), so a failure here means the peer stopped reading
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
	return conn_is_tls(s->c) || s->srv->conf.plaintext_auth;
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
 * below LISTENER_OUT_HIGH; waits for writable() otherwise.  Input stays paused
 * until the response is complete, so pipelined commands are answered in
 * order. */
static void pump(struct pop3_session *s)
{
	while (s->pr != PR_NONE) {
		if (conn_outlen(s->c) >= LISTENER_OUT_HIGH) {
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

static void start_producer(struct pop3_session *s, enum pop3_producer pr)
{
	s->pr = pr;
	s->pr_idx = 0;
	pump(s);
}

/* --- authentication ----------------------------------------------------- */

static void auth_done(void *arg, int r, int64_t uid);

/* Starts a login with user and pass (the caller wipes its own copies).
 * Returns -1 if the session was closed. */
static int auth_start(struct pop3_session *s, const char *user, size_t ulen, const char *pass,
		      size_t plen, const char *method)
{
	char quser[STORE_ADDR_MAX * 4 + 8], *u, *p;
	int rc;

	if (ulen > STORE_ADDR_MAX) {
		s->auth_fails++;
		return reply(s, "-ERR [AUTH] invalid user name or password");
	}
	u = xstrndup(user, ulen);
	p = xstrndup(pass, plen);
	s->auth_method = method;
	rc = listener_auth_start(s->auth, u, p, auth_done, s);
	wipe_free(p);
	if (rc == LISTENER_AUTH_PENDING) {
		s->pend_user = u;
		set_paused(s, 1);
		return 0;
	}
	log_quote(quser, sizeof(quser), u, strlen(u));
	free(u);
	if (rc == LISTENER_AUTH_REFUSED) {
		log_warn(s->sid, "event=auth-refused ip=%s user=%s reason=throttled", s->ip, quser);
		return end_session(s, "-ERR [SYS/TEMP] too many failed logins, try again later",
				   "auth-throttled");
	}
	log_warn(s->sid, "event=auth-busy ip=%s user=%s", s->ip, quser);
	return reply(s, "-ERR [SYS/TEMP] server busy, try again later");
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
	if (store_user_address(s->srv->st, uid, s->user, sizeof(s->user)) < 0)
		snprintf(s->user, sizeof(s->user), "%.*s", STORE_ADDR_MAX, s->pend_user);
	free(s->pend_user);
	s->pend_user = NULL;
	s->have_user = 0;
	if (pop3_maildrop_held(s->srv, uid, s)) {
		log_info(s->sid, "event=in-use user=%s", s->user);
		return reply(s, "-ERR [IN-USE] maildrop in use by another POP3 session");
	}
	s->user_id = uid;
	if (pop3_maildrop_open(s) < 0) {
		log_err(s->sid, "event=maildrop-failed user=%s error=\"%s\"", s->user,
			store_errmsg(s->srv->st));
		return reply(s, "-ERR [SYS/TEMP] cannot open the maildrop, try again later");
	}
	set_state(s, P3_TRANSACTION);
	listener_deadline_login(s->dl);
	size_t count;
	uint64_t octets;
	pop3_maildrop_stat(s, &count, &octets);
	log_info(s->sid, "event=login user=%s ip=%s method=%s tls=%d messages=%zu", s->user, s->ip,
		 s->auth_method, conn_is_tls(s->c), count);
	return reply(s, "+OK maildrop has %zu messages (%llu octets)", count,
		     (unsigned long long)octets);
}

static void auth_done(void *arg, int r, int64_t uid)
{
	struct pop3_session *s = arg;

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

/* --- commands ------------------------------------------------------------ */

static int cmd_capa(struct pop3_session *s, const struct pop3_cmd *cmd)
{
	struct buf b;
	int r;

	(void)cmd;
	buf_init(&b, 1024);
	buf_puts(&b, "+OK capability list follows\r\nTOP\r\nUIDL\r\nRESP-CODES\r\n"
		     "AUTH-RESP-CODE\r\nPIPELINING\r\n");
	if (s->state == P3_AUTHORIZATION && tls_ok_for_auth(s))
		buf_puts(&b, "USER\r\nSASL PLAIN\r\n");
	if (s->state == P3_AUTHORIZATION && !conn_is_tls(s->c) && s->srv->tls)
		buf_puts(&b, "STLS\r\n");
	/* RFC 6856 2: without the USER argument, USER and PASS stay as
	 * they were (AUTH PLAIN carries UTF-8 names in base64) */
	buf_puts(&b, "UTF8\r\n");
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
	pop3_maildrop_stat(s, &count, &octets);
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
	int r = store_message_get(s->srv->st, s->msgs[i].message_id, &s->msg);
	if (r == STORE_NOTFOUND)
		return reply(s, "-ERR message %zu is no longer available", i + 1);
	if (r < 0) {
		log_err(s->sid, "event=message-read-failed uid=%u error=\"%s\"",
			(unsigned)s->msgs[i].uid, store_errmsg(s->srv->st));
		return reply(s, "-ERR [SYS/TEMP] cannot read the message, try again later");
	}
	s->have_msg = 1;
	if (s->msgs[i].downgrade)
		pop3_downgrade(&s->msg);
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

static int cmd_quit(struct pop3_session *s, const struct pop3_cmd *cmd)
{
	(void)cmd;
	if (s->state == P3_AUTHORIZATION)
		return end_session(s, "+OK bye", "quit");
	long n = pop3_maildrop_update(s);
	if (n < 0)
		return end_session(s, "-ERR [SYS/TEMP] some deleted messages not removed",
				   "quit-update-failed");
	log_info(s->sid, "event=quit user=%s expunged=%ld", s->user, n);
	/* the maildrop is already updated: let a new session take it at
	 * once, without waiting for this close */
	set_state(s, P3_AUTHORIZATION);
	char msg[96];
	snprintf(msg, sizeof(msg), "+OK bye, %ld messages deleted", n);
	return end_session(s, msg, "quit");
}

static int cmd_user(struct pop3_session *s, const struct pop3_cmd *cmd)
{
	if (!tls_ok_for_auth(s))
		return bad_command(s, "-ERR [AUTH] plaintext authentication disallowed on "
				      "non-secure connections, use STLS");
	if (cmd->arglen[0] > STORE_ADDR_MAX)
		return bad_command(s, "-ERR user name too long");
	memcpy(s->user, cmd->arg[0], cmd->arglen[0]);
	s->user[cmd->arglen[0]] = '\0';
	s->have_user = 1;
	return reply(s, "+OK send PASS");
}

static int cmd_pass(struct pop3_session *s, const struct pop3_cmd *cmd)
{
	if (!s->have_user)
		return bad_command(s, "-ERR USER first");
	return auth_start(s, s->user, strlen(s->user), cmd->arg[0], cmd->arglen[0], "user");
}

static int cmd_stls(struct pop3_session *s, const struct pop3_cmd *cmd)
{
	(void)cmd;
	if (conn_is_tls(s->c))
		return bad_command(s, "-ERR already using TLS");
	if (!s->srv->tls)
		return bad_command(s, "-ERR TLS not available");
	if (reply(s, "+OK begin TLS negotiation") < 0)
		return -1;
	/* RFC 2595 4: forget what the client said before TLS */
	s->have_user = 0;
	if (conn_starttls(s->c, s->srv->tls) < 0)
		return end_session(s, NULL, "starttls-failed");
	listener_deadline_handshake(s->dl);
	return 0;
}

static int cmd_stat(struct pop3_session *s, const struct pop3_cmd *cmd)
{
	size_t count;
	uint64_t octets;

	(void)cmd;
	pop3_maildrop_stat(s, &count, &octets);
	return reply(s, "+OK %zu %llu", count, (unsigned long long)octets);
}

static int cmd_dele(struct pop3_session *s, const struct pop3_cmd *cmd)
{
	size_t i;

	if (msg_lookup(s, cmd->arg[0], cmd->arglen[0], &i) < 0)
		return 0;
	s->msgs[i].deleted = 1;
	return reply(s, "+OK message %zu deleted", i + 1);
}

static int cmd_rset(struct pop3_session *s, const struct pop3_cmd *cmd)
{
	size_t count;
	uint64_t octets;

	(void)cmd;
	for (size_t i = 0; i < s->nmsgs; i++)
		s->msgs[i].deleted = 0;
	pop3_maildrop_stat(s, &count, &octets);
	return reply(s, "+OK maildrop has %zu messages (%llu octets)", count,
		     (unsigned long long)octets);
}

/* RFC 6856 2: UTF-8 mode, asked for before login; from then on messages
 * go out as stored, UTF-8 headers and all.  A session without it gets them
 * downgraded (RFC 6856 4 and 6857; maildrop.c). */
static int cmd_utf8(struct pop3_session *s, const struct pop3_cmd *cmd)
{
	(void)cmd;
	s->utf8 = 1;
	return reply(s, "+OK UTF8 enabled");
}

static int cmd_noop(struct pop3_session *s, const struct pop3_cmd *cmd)
{
	(void)cmd;
	return reply(s, "+OK");
}

/* The command table: a row per command (pop3_parse.c knows the words and
 * their argument counts), the states it is allowed in, and what runs it.
 * A run function returns -1 when the session was closed. */
#define IN_AUTH	 (1u << P3_AUTHORIZATION)
#define IN_TRANS (1u << P3_TRANSACTION)
static const struct {
	unsigned states;
	int (*run)(struct pop3_session *s, const struct pop3_cmd *cmd);
} commands[POP3_NCMDS] = {
    [POP3_USER] = {IN_AUTH, cmd_user},
    [POP3_PASS] = {IN_AUTH, cmd_pass},
    [POP3_AUTH] = {IN_AUTH, cmd_auth},
    [POP3_STLS] = {IN_AUTH, cmd_stls},
    [POP3_CAPA] = {IN_AUTH | IN_TRANS, cmd_capa},
    [POP3_STAT] = {IN_TRANS, cmd_stat},
    [POP3_LIST] = {IN_TRANS, cmd_list_uidl},
    [POP3_RETR] = {IN_TRANS, cmd_retr_top},
    [POP3_DELE] = {IN_TRANS, cmd_dele},
    [POP3_TOP] = {IN_TRANS, cmd_retr_top},
    [POP3_UIDL] = {IN_TRANS, cmd_list_uidl},
    [POP3_RSET] = {IN_TRANS, cmd_rset},
    [POP3_NOOP] = {IN_TRANS, cmd_noop},
    [POP3_QUIT] = {IN_AUTH | IN_TRANS, cmd_quit},
    [POP3_UTF8] = {IN_AUTH, cmd_utf8},
};

/* --- connection callbacks ----------------------------------------------- */

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
	if (!commands[cmd.id].run)
		bug("pop3: command %d has no handler", (int)cmd.id);
	if (!(commands[cmd.id].states & (1u << s->state)))
		return bad_command(s, "-ERR command not valid in this state");
	if (cmd.id != POP3_PASS)
		log_debug(s->sid, "event=command cmd=%s", pop3_cmd_name(cmd.id));
	return commands[cmd.id].run(s, &cmd);
}

/* --- connection callbacks ----------------------------------------------- */

static void on_input(struct conn *c, void *arg)
{
	struct pop3_session *s = arg;
	struct lr_line l;

	while (!s->closing && s->pr == PR_NONE && !s->pend_user) {
		if (conn_outlen(c) >= LISTENER_OUT_HIGH) {
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
	if (s->pr == PR_NONE && !s->pend_user && conn_outlen(c) < LISTENER_OUT_HIGH)
		set_paused(s, 0);
}

/* No input for the idle time (RFC 1939 section 3: at least 10 minutes).
 * A client still draining a long response is not idle. */
static void on_timeout(struct conn *c, void *arg)
{
	struct pop3_session *s = arg;

	if (s->pr != PR_NONE && s->pr_slices != s->pr_slices_seen) {
		s->pr_slices_seen = s->pr_slices;
		conn_set_timeout(c, listener_deadline_idle_ms(s->dl));
		return;
	}
	log_info(s->sid, "event=idle-timeout ip=%s", s->ip);
	end_session(s, s->pr == PR_NONE ? "-ERR autologout; idle for too long" : NULL, "timeout");
}

/* The whole time to log in (lib/service/listener says when). */
static void login_deadline(void *arg, enum listener_deadline_kind kind)
{
	struct pop3_session *s = arg;

	if (s->closing)
		return;
	if (kind == LISTENER_DL_SESSION) {
		/* pop3.session_deadline (none by default); no UPDATE state
		 * without QUIT (RFC 1939 6), and no words in the middle of a
		 * multi-line response */
		log_info(s->sid, "event=session-deadline ip=%s", s->ip);
		end_session(s,
			    s->pr == PR_NONE ? "-ERR [SYS/TEMP] session time limit reached" : NULL,
			    "session deadline");
		return;
	}
	if (s->state != P3_AUTHORIZATION)
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
	listener_deadline_tls_up(s->dl);
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
		s->srv->sessions = s->next;
	if (s->next)
		s->next->prev = s->prev;
	listener_session_end(s->srv->lsn, s->ip);
	listener_deadline_free(s->dl);
	listener_auth_free(s->auth);
	wipe_free(s->pend_user);
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

/* --- the server ----------------------------------------------------------- */

/* The listener's accept callback: a connection within the limits. */
static void session_new(void *arg, int fd, const struct sockaddr *peer, const char *ip, int port,
			int implicit)
{
	struct pop3d *srv = arg;
	struct pop3_session *s = calloc(1, sizeof(*s));

	(void)port;
	if (!s)
		bug("out of memory");
	s->srv = srv;
	snprintf(s->ip, sizeof(s->ip), "%s", ip);
	s->implicit = implicit;
	s->state = P3_AUTHORIZATION;
	buf_init(&s->obuf, CHUNK + 64);
	s->c = conn_new(srv->ev, fd, peer, &pop3_cbs, s, POP3_LINE_MAX, OUT_MAX);
	s->sid = conn_sid(s->c);
	s->auth = listener_auth_new(srv->ev, srv->al, srv->ac, s->ip);
	s->dl = listener_deadline_new(srv->ev, s->c, &srv->conf.dl, login_deadline, s);
	s->next = srv->sessions;
	if (srv->sessions)
		srv->sessions->prev = s;
	srv->sessions = s;
	conn_set_lowmark(s->c, LISTENER_OUT_LOW);
	log_info(s->sid, "event=connect ip=%s proto=pop3%s", s->ip, implicit ? "s" : "");
	if (implicit) {
		if (!srv->tls || conn_tls_server(s->c, srv->tls) < 0) {
			log_err(s->sid, "event=tls-unavailable");
			s->closing = 1;
			conn_close(s->c, 0, "no-tls");
			return;
		}
		listener_deadline_handshake(s->dl);
		return;
	}
	greet(s);
}

int pop3d_conf_load(const struct config *cfg, struct pop3d_conf *out)
{
	uint64_t max, per_ip;
	char err[160];

	/* 10 min of silence, logged in or not; 2 min to log in at all; 1 min
	 * for a TLS handshake */
	out->dl = (struct listener_deadlines){
	    .handshake_ms = 60000, .login_ms = 120000, .idle_ms = 600000, .idle_authed_ms = 600000};
	if (config_get_bool(cfg, "pop3.plaintext_auth", 0, &out->plaintext_auth) < 0 ||
	    listener_deadlines_load(cfg, "pop3", &out->dl, err, sizeof(err)) < 0 ||
	    out->dl.idle_authed_ms == 0 || out->dl.login_ms == 0 ||
	    config_get_u64(cfg, "pop3.max_sessions", 200, 100000, &max) < 0 ||
	    config_get_u64(cfg, "pop3.max_per_ip", 20, 100000, &per_ip) < 0) {
		log_err(NULL, "event=config-error section=pop3 error=\"bad pop3.* setting\"");
		return -1;
	}
	/* pop3.idle_timeout has always been the silence before login too */
	if (!config_get(cfg, "pop3.login_timeout", NULL))
		out->dl.idle_ms = out->dl.idle_authed_ms;
	out->max_sessions = (unsigned)max;
	out->max_per_ip = (unsigned)per_ip;
	return 0;
}

struct pop3d *pop3d_new(struct evloop *ev, struct store *st, struct tls_ctx *tls,
			struct authlimit *al, struct authcheck *ac, const struct pop3d_conf *conf)
{
	struct pop3d *srv = calloc(1, sizeof(*srv));
	struct listener_conf lc = {
	    .proto = "pop3",
	    .max_sessions = conf->max_sessions,
	    .max_per_ip = conf->max_per_ip,
	    .refusal = {"-ERR [SYS/TEMP] too many connections, try later\r\n",
			"-ERR [SYS/TEMP] too many connections, try later\r\n"},
	};

	if (!srv)
		bug("out of memory");
	srv->ev = ev;
	srv->st = st;
	srv->tls = tls;
	srv->al = al;
	srv->ac = ac;
	srv->conf = *conf;
	srv->lsn = listener_new(ev, &lc, session_new, srv);
	return srv;
}

int pop3d_listen(struct pop3d *srv, int listen_fd, int implicit_tls)
{
	if (listen_fd < 0)
		return -1;
	if (implicit_tls && !srv->tls) {
		log_err(NULL, "event=pop3-listen-failed error=\"implicit TLS without a context\"");
		return -1;
	}
	if (listener_add(srv->lsn, listen_fd, 0, implicit_tls) < 0) {
		log_err(NULL, "event=pop3-listen-failed error=\"%s\"", strerror(errno));
		return -1;
	}
	return 0;
}

void pop3d_stop(struct pop3d *srv)
{
	listener_stop(srv->lsn);
	log_info(NULL, "event=pop3-stop sessions=%u", listener_sessions(srv->lsn));
}

unsigned pop3d_sessions(const struct pop3d *srv)
{
	return listener_sessions(srv->lsn);
}

void pop3d_set_tls(struct pop3d *srv, struct tls_ctx *tls)
{
	srv->tls = tls;
}

void pop3d_set_change_hook(struct pop3d *srv, void (*fn)(void *arg, int64_t mailbox_id), void *arg)
{
	srv->change_fn = fn;
	srv->change_arg = arg;
}

void pop3d_free(struct pop3d *srv)
{
	if (!srv)
		return;
	listener_free(srv->lsn);
	free(srv);
}
