/*
 * One IMAP session: reads commands through the parser, checks them against
 * the command table (name, states allowed, handler), runs them, and keeps
 * the modes that are not plain command/reply: IDLE, the AUTHENTICATE
 * exchange, an authentication delay, and a FETCH streamed as the socket
 * drains.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <zlib.h>

#include "authcheck.h"
#include "authlimit.h"
#include "config.h"
#include "conn.h"
#include "daemon.h"
#include "evloop.h"
#include "imapd.h"
#include "log.h"
#include "mime.h"
#include "sasl.h"
#include "store.h"

#define MAXOUT (96u * 1024 * 1024)
/* Input is read only while less output than this is queued: a client that
 * pipelines commands and reads nothing gets no more than this buffered. */
#define OUT_HIGH (128u * 1024)
/* Commands other than APPEND, logged in: SEARCH and STORE with literals
 * and long sets fit many times over. */
#define OTHER_TOTAL	       (2u * 1024 * 1024)
#define LOGIN_DEADLINE_DEFAULT 120
#define CHUNK_MAXLINE	       (64 * 1024)
#define SASL_LINE_MAX	       8192
#define CAPS_COMMON	       "IMAP4rev1 LITERAL+ SASL-IR ID ENABLE IDLE NAMESPACE UNSELECT CHILDREN"
#define CAPS_AUTHED                                                                                \
	" UIDPLUS MOVE SPECIAL-USE CONDSTORE QRESYNC ESEARCH LIST-EXTENDED LIST-STATUS"            \
	" COMPRESS=DEFLATE"

/* Commands whose untagged replies must not include EXPUNGE (RFC 3501
 * 7.4.1): the view is synced without expunges after them. */
#define F_NOEXPUNGE 1
/* Commands after which the view is not synced at all. */
#define F_NOSYNC 2

static void sess_input(struct conn *c, void *arg);

void sess_write(struct session *s, const void *p, size_t n)
{
	if (!s->c || s->dead)
		return;
	if (conn_write(s->c, p, n) < 0) {
		log_info(s->sid, "event=output-overflow");
		s->dead = 1;
		conn_close(s->c, 0, "output overflow");
	}
}

void sess_printf(struct session *s, const char *fmt, ...)
{
	struct buf b;
	va_list ap;

	buf_init(&b, MAXOUT);
	va_start(ap, fmt);
	buf_vprintf(&b, fmt, ap);
	va_end(ap);
	sess_write(s, b.data, b.len);
	buf_free(&b);
}

size_t sess_outlen(struct session *s)
{
	return s->c ? conn_outlen(s->c) : 0;
}

void imap_buf_string(struct buf *b, const char *str, size_t len)
{
	int quote = len < 1024;

	for (size_t i = 0; i < len && quote; i++) {
		unsigned char ch = (unsigned char)str[i];
		if (ch == '\r' || ch == '\n' || ch == 0 || ch >= 0x80)
			quote = 0;
	}
	if (!quote) {
		buf_printf(b, "{%zu}\r\n", len);
		buf_append(b, str, len);
		return;
	}
	buf_putc(b, '"');
	for (size_t i = 0; i < len; i++) {
		if (str[i] == '"' || str[i] == '\\')
			buf_putc(b, '\\');
		buf_putc(b, str[i]);
	}
	buf_putc(b, '"');
}

void sess_astring(struct session *s, const char *str, size_t len)
{
	struct buf b;

	buf_init(&b, MAXOUT);
	imap_buf_string(&b, str, len);
	sess_write(s, b.data, b.len);
	buf_free(&b);
}

void sess_tagged(struct session *s, const char *tag, const char *status, const char *fmt, ...)
{
	struct buf text;
	va_list ap;

	buf_init(&text, MAXOUT);
	va_start(ap, fmt);
	buf_vprintf(&text, fmt, ap);
	va_end(ap);
	/* untagged news about the mailbox goes before the tagged OK */
	if (strcmp(status, "OK") == 0 && s->state == ST_SELECTED && !(s->cmd_flags & F_NOSYNC))
		view_sync(s, !(s->cmd_flags & F_NOEXPUNGE));
	sess_printf(s, "%s %s %s\r\n", tag, status, text.data);
	buf_free(&text);
}

static void caps(struct session *s, struct buf *b)
{
	buf_puts(b, CAPS_COMMON);
	if (s->state == ST_NOTAUTH) {
		if (!conn_is_tls(s->c))
			buf_puts(b, " STARTTLS LOGINDISABLED");
		else
			buf_puts(b, " AUTH=PLAIN");
	} else {
		buf_puts(b, CAPS_AUTHED);
		buf_printf(b, " APPENDLIMIT=%llu", (unsigned long long)s->srv->appendlimit);
	}
}

/* The parser's limits for a session in state st: before login only the
 * few KiB LOGIN/AUTHENTICATE/ID need; logged in, APPEND's literal may be
 * APPENDLIMIT and every other command stays small. */
static void parser_limits(const struct imapd *srv, enum imap_state st,
			  struct imap_parser_limits *lim)
{
	if (st == ST_NOTAUTH) {
		imap_parser_limits_preauth(lim);
		return;
	}
	imap_parser_limits_default(lim);
	lim->max_append_literal = (size_t)srv->appendlimit;
	lim->max_total = lim->max_append_literal + lim->max_line;
	lim->max_other_total = OTHER_TOTAL;
}

static struct imap_parser *new_parser(const struct imapd *srv, enum imap_state st)
{
	struct imap_parser_limits lim;

	parser_limits(srv, st, &lim);
	return imap_parser_new(&lim);
}

static void set_state(struct session *s, enum imap_state st)
{
	log_debug(s->sid, "event=state from=%d to=%d", s->state, st);
	s->state = st;
}

/* --- simple commands ---------------------------------------------------- */

static int cmd_capability(struct session *s, const struct imap_cmd *c)
{
	struct buf b;

	if (c->nargs)
		return sess_tagged(s, c->tag, "BAD", "CAPABILITY takes no arguments"), 0;
	buf_init(&b, 4096);
	caps(s, &b);
	sess_printf(s, "* CAPABILITY %s\r\n", b.data);
	buf_free(&b);
	sess_tagged(s, c->tag, "OK", "CAPABILITY completed");
	return 0;
}

static int cmd_noop(struct session *s, const struct imap_cmd *c)
{
	sess_tagged(s, c->tag, "OK", "%s completed", c->name);
	return 0;
}

static int cmd_logout(struct session *s, const struct imap_cmd *c)
{
	sess_printf(s, "* BYE Loft IMAP server signing off\r\n");
	sess_tagged(s, c->tag, "OK", "LOGOUT completed");
	set_state(s, ST_LOGOUT);
	conn_close(s->c, 1, "logout");
	return 0;
}

static int cmd_starttls(struct session *s, const struct imap_cmd *c)
{
	if (conn_is_tls(s->c) || !s->srv->tls)
		return sess_tagged(s, c->tag, "BAD", "TLS is already active or not available"), 0;
	sess_tagged(s, c->tag, "OK", "Begin TLS negotiation now");
	if (conn_starttls(s->c, s->srv->tls) < 0) {
		conn_close(s->c, 0, "starttls failed");
		return 0;
	}
	/* what the client pipelined is gone with conn's buffer; forget
	 * anything half-parsed too */
	imap_parser_free(s->p);
	s->p = new_parser(s->srv, s->state);
	return 0;
}

static int cmd_id(struct session *s, const struct imap_cmd *c)
{
	if (c->nargs != 1 || (c->args->type != IMAP_ARG_LIST && !imap_arg_is(c->args, "NIL")))
		return sess_tagged(s, c->tag, "BAD", "ID takes a list or NIL"), 0;
	sess_printf(s, "* ID (\"name\" \"Loft\" \"vendor\" \"Loft\")\r\n");
	sess_tagged(s, c->tag, "OK", "ID completed");
	return 0;
}

/* RFC 4978.  The tagged OK goes out in the clear; everything after it,
 * both ways, is raw deflate (conn.c also inflates what the client
 * pipelined behind the command). */
static int cmd_compress(struct session *s, const struct imap_cmd *c)
{
	if (c->nargs != 1 || c->args->type != IMAP_ARG_ATOM)
		return sess_tagged(s, c->tag, "BAD", "COMPRESS mechanism"), 0;
	if (!imap_arg_is(c->args, "DEFLATE"))
		return sess_tagged(s, c->tag, "BAD", "Unknown compression mechanism"), 0;
	if (conn_is_deflate(s->c))
		return sess_tagged(s, c->tag, "NO",
				   "[COMPRESSIONACTIVE] DEFLATE is already active"),
		       0;
	sess_tagged(s, c->tag, "OK", "DEFLATE active");
	if (conn_set_deflate(s->c, Z_DEFAULT_COMPRESSION) < 0) {
		log_err(s->sid, "event=compress-failed");
		s->dead = 1;
		conn_close(s->c, 0, "compress failed");
		return 0;
	}
	log_info(s->sid, "event=compress mechanism=deflate");
	return 0;
}

static int cmd_namespace(struct session *s, const struct imap_cmd *c)
{
	sess_printf(s, "* NAMESPACE ((\"\" \"/\")) NIL NIL\r\n");
	sess_tagged(s, c->tag, "OK", "NAMESPACE completed");
	return 0;
}

static int cmd_enable(struct session *s, const struct imap_cmd *c)
{
	struct buf b;

	if (!c->nargs)
		return sess_tagged(s, c->tag, "BAD", "ENABLE needs arguments"), 0;
	buf_init(&b, 1024);
	for (const struct imap_arg *a = c->args; a; a = a->next) {
		if (a->type != IMAP_ARG_ATOM) {
			buf_free(&b);
			return sess_tagged(s, c->tag, "BAD", "ENABLE takes atoms"), 0;
		}
		if (imap_arg_is(a, "CONDSTORE") && !s->condstore) {
			s->condstore = 1;
			buf_puts(&b, " CONDSTORE");
		} else if (imap_arg_is(a, "QRESYNC") && !s->qresync) {
			s->qresync = 1;
			if (!s->condstore)
				buf_puts(&b, " CONDSTORE");
			s->condstore = 1;
			buf_puts(&b, " QRESYNC");
		}
	}
	sess_printf(s, "* ENABLED%s\r\n", b.data);
	buf_free(&b);
	sess_tagged(s, c->tag, "OK", "ENABLE completed");
	return 0;
}

static int cmd_check(struct session *s, const struct imap_cmd *c)
{
	return cmd_noop(s, c);
}

static int cmd_idle(struct session *s, const struct imap_cmd *c)
{
	if (c->nargs)
		return sess_tagged(s, c->tag, "BAD", "IDLE takes no arguments"), 0;
	snprintf(s->tag, sizeof(s->tag), "%s", c->tag);
	s->mode = MODE_IDLE;
	sess_printf(s, "+ idling\r\n");
	if (s->state == ST_SELECTED)
		view_sync(s, 1);
	return 1;
}

/* --- authentication ------------------------------------------------------ */

static int count_user_sessions(struct imapd *srv, int64_t user_id)
{
	int n = 0;

	for (struct session *o = srv->sessions; o; o = o->next)
		if (o->state & (ST_AUTH | ST_SELECTED) && o->user_id == user_id)
			n++;
	return n;
}

static void delay_fire(struct evloop *ev, struct ev_timer *t, void *arg)
{
	struct session *s = arg;

	(void)ev;
	(void)t;
	if (s->delayed_ok) {
		struct imap_parser_limits lim;
		s->user_id = s->delayed_user;
		snprintf(s->user, sizeof(s->user), "%s", s->delayed_name);
		set_state(s, ST_AUTH);
		conn_set_timeout(s->c, s->srv->idle_timeout_ms);
		ev_timer_disarm(s->deadline);
		/* input has been paused since the LOGIN/AUTHENTICATE line
		 * ended, so the parser is between commands */
		parser_limits(s->srv, ST_AUTH, &lim);
		if (imap_parser_set_limits(s->p, &lim) < 0)
			bug("parser busy at login");
	}
	sess_printf(s, "%s", s->delayed_reply);
	s->mode = MODE_CMD;
	sess_resume(s);
}

/* The answer of a password check (authcheck, on the loop thread): replies
 * after the delay do_login was told to add. */
static void login_done(void *arg, int r, int64_t uid)
{
	struct session *s = arg;
	struct imapd *srv = s->srv;
	const char *tag = s->auth_tag, *user = s->auth_user;
	uint64_t now = ev_now(srv->ev);
	char q[300];

	s->auth_job = NULL;
	log_quote(q, sizeof(q), user, strlen(user));
	s->delayed_ok = 0;
	if (r < 0) {
		log_err(s->sid, "event=auth-error error=\"password check failed\"");
		snprintf(s->delayed_reply, sizeof(s->delayed_reply),
			 "%s NO [UNAVAILABLE] Temporary failure, try again\r\n", tag);
	} else if (r == 0) {
		authlimit_fail(srv->al, s->peer, user, now);
		log_info(s->sid, "event=auth-failed user=%s peer=%s password=%s", q, s->peer,
			 LOG_SECRET);
		snprintf(s->delayed_reply, sizeof(s->delayed_reply),
			 "%s NO [AUTHENTICATIONFAILED] Authentication failed\r\n", tag);
	} else if ((unsigned)count_user_sessions(srv, uid) >= srv->max_per_user) {
		log_info(s->sid, "event=auth-refused user=%s reason=too-many-sessions", q);
		snprintf(s->delayed_reply, sizeof(s->delayed_reply),
			 "%s NO [LIMIT] Too many sessions for this user\r\n", tag);
	} else {
		struct buf b;
		authlimit_success(srv->al, s->peer, user);
		log_info(s->sid, "event=login user=%s peer=%s tls=%d", q, s->peer,
			 conn_is_tls(s->c));
		s->delayed_ok = 1;
		s->delayed_user = uid;
		store_user_address(srv->st, uid, s->delayed_name, sizeof(s->delayed_name));
		buf_init(&b, 4096);
		s->state = ST_AUTH; /* for caps() */
		caps(s, &b);
		s->state = ST_NOTAUTH;
		snprintf(s->delayed_reply, sizeof(s->delayed_reply),
			 "%s OK [CAPABILITY %s] Logged in\r\n", tag, b.data);
		buf_free(&b);
	}
	if (s->auth_delay > 0) {
		ev_timer_arm(s->delay, (uint64_t)s->auth_delay);
		return;
	}
	delay_fire(srv->ev, s->delay, s);
}

/* Starts a password check on the authcheck pool; input stays paused until
 * login_done answers.  Returns 0 (answered now) or 1 (answer pending). */
static int do_login(struct session *s, const char *tag, const char *user, const char *pass)
{
	struct imapd *srv = s->srv;
	uint64_t now = ev_now(srv->ev);
	int64_t delay = authlimit_check(srv->al, s->peer, user, now);
	char q[300];

	log_quote(q, sizeof(q), user, strlen(user));
	if (delay < 0) {
		log_info(s->sid, "event=auth-refused user=%s peer=%s reason=throttled", q, s->peer);
		sess_tagged(s, tag, "NO", "[UNAVAILABLE] Too many failed logins, try again later");
		return 0;
	}
	snprintf(s->auth_tag, sizeof(s->auth_tag), "%s", tag);
	snprintf(s->auth_user, sizeof(s->auth_user), "%s", user);
	s->auth_delay = delay;
	s->auth_job = authcheck_submit(srv->ac, user, pass, login_done, s);
	if (!s->auth_job) {
		log_warn(s->sid, "event=auth-busy user=%s peer=%s", q, s->peer);
		sess_tagged(s, tag, "NO", "[UNAVAILABLE] Temporary failure, try again");
		return 0;
	}
	s->mode = MODE_BLOCKED;
	conn_pause(s->c, 1);
	return 1;
}

static int login_allowed(struct session *s, const char *tag)
{
	if (!conn_is_tls(s->c)) {
		sess_tagged(s, tag, "NO", "[PRIVACYREQUIRED] Use STARTTLS first");
		return 0;
	}
	return 1;
}

static int cmd_login(struct session *s, const struct imap_cmd *c)
{
	const struct imap_arg *u = c->args, *p = u ? u->next : NULL;

	if (c->nargs != 2 || !imap_arg_astring(u) || !imap_arg_astring(p))
		return sess_tagged(s, c->tag, "BAD", "LOGIN user password"), 0;
	if (!login_allowed(s, c->tag))
		return 0;
	return do_login(s, c->tag, u->str, p->str);
}

/* Decodes an AUTH PLAIN response and logs in.  Returns 0 or 1 as do_login. */
static int sasl_plain(struct session *s, const char *tag, const char *b64, size_t len)
{
	unsigned char *dec = malloc(len / 4 * 3 + 1);
	const char *user, *pass;
	long n;
	int r;

	if (!dec)
		return sess_tagged(s, tag, "NO", "[UNAVAILABLE] Out of memory"), 0;
	n = sasl_b64_decode(b64, len, dec, len / 4 * 3);
	if (n < 0) {
		free(dec);
		sess_tagged(s, tag, "BAD", "Invalid base64");
		return 0;
	}
	r = sasl_plain_split((char *)dec, (size_t)n, &user, &pass);
	if (r == SASL_AUTHZ_OTHER) {
		free(dec);
		sess_tagged(s, tag, "NO", "[AUTHORIZATIONFAILED] Cannot act as another user");
		return 0;
	}
	if (r < 0) {
		free(dec);
		sess_tagged(s, tag, "BAD", "Malformed PLAIN response");
		return 0;
	}
	r = do_login(s, tag, user, pass);
	explicit_bzero(dec, (size_t)n);
	free(dec);
	return r;
}

static int cmd_authenticate(struct session *s, const struct imap_cmd *c)
{
	const struct imap_arg *mech = c->args, *ir = mech ? mech->next : NULL;

	if (c->nargs < 1 || c->nargs > 2 || mech->type != IMAP_ARG_ATOM)
		return sess_tagged(s, c->tag, "BAD", "AUTHENTICATE mechanism [initial-response]"),
		       0;
	if (!login_allowed(s, c->tag))
		return 0;
	if (!imap_arg_is(mech, "PLAIN"))
		return sess_tagged(s, c->tag, "NO", "[CANNOT] Unsupported mechanism"), 0;
	if (ir) {
		if (!imap_arg_astring(ir))
			return sess_tagged(s, c->tag, "BAD", "Bad initial response"), 0;
		if (strcmp(ir->str, "=") == 0)
			return sasl_plain(s, c->tag, "", 0);
		return sasl_plain(s, c->tag, ir->str, ir->len);
	}
	snprintf(s->tag, sizeof(s->tag), "%s", c->tag);
	s->mode = MODE_SASL;
	sess_printf(s, "+ \r\n");
	return 1;
}

/* --- selected-state wrappers -------------------------------------------- */

static int h_select(struct session *s, const struct imap_cmd *c)
{
	return cmd_select(s, c, 0);
}
static int h_examine(struct session *s, const struct imap_cmd *c)
{
	return cmd_select(s, c, 1);
}
static int h_subscribe(struct session *s, const struct imap_cmd *c)
{
	return cmd_subscribe(s, c, 1);
}
static int h_unsubscribe(struct session *s, const struct imap_cmd *c)
{
	return cmd_subscribe(s, c, 0);
}
static int h_list(struct session *s, const struct imap_cmd *c)
{
	return cmd_list(s, c, 0);
}
static int h_lsub(struct session *s, const struct imap_cmd *c)
{
	return cmd_list(s, c, 1);
}
static int h_close(struct session *s, const struct imap_cmd *c)
{
	return cmd_close(s, c, 1);
}
static int h_unselect(struct session *s, const struct imap_cmd *c)
{
	return cmd_close(s, c, 0);
}
static int h_expunge(struct session *s, const struct imap_cmd *c)
{
	if (c->nargs)
		return sess_tagged(s, c->tag, "BAD", "EXPUNGE takes no arguments"), 0;
	return cmd_expunge(s, c, NULL);
}
static int h_fetch(struct session *s, const struct imap_cmd *c)
{
	return cmd_fetch(s, c, c->args, 0);
}
static int h_store(struct session *s, const struct imap_cmd *c)
{
	return cmd_store(s, c, c->args, 0);
}
static int h_search(struct session *s, const struct imap_cmd *c)
{
	return cmd_search(s, c, c->args, 0);
}
static int h_copy(struct session *s, const struct imap_cmd *c)
{
	return cmd_copy(s, c, c->args, 0, 0);
}
static int h_move(struct session *s, const struct imap_cmd *c)
{
	return cmd_copy(s, c, c->args, 0, 1);
}

static int h_uid(struct session *s, const struct imap_cmd *c)
{
	const struct imap_arg *sub = c->args;

	if (!sub || sub->type != IMAP_ARG_ATOM)
		return sess_tagged(s, c->tag, "BAD", "UID needs a command"), 0;
	if (imap_arg_is(sub, "FETCH"))
		return cmd_fetch(s, c, sub->next, 1);
	if (imap_arg_is(sub, "STORE"))
		return cmd_store(s, c, sub->next, 1);
	if (imap_arg_is(sub, "SEARCH"))
		return cmd_search(s, c, sub->next, 1);
	if (imap_arg_is(sub, "COPY"))
		return cmd_copy(s, c, sub->next, 1, 0);
	if (imap_arg_is(sub, "MOVE"))
		return cmd_copy(s, c, sub->next, 1, 1);
	if (imap_arg_is(sub, "EXPUNGE")) {
		if (!sub->next || sub->next->next || sub->next->type != IMAP_ARG_ATOM)
			return sess_tagged(s, c->tag, "BAD", "UID EXPUNGE set"), 0;
		return cmd_expunge(s, c, sub->next);
	}
	return sess_tagged(s, c->tag, "BAD", "Unknown UID command"), 0;
}

/* --- the command table --------------------------------------------------- */

#define ANY	 (ST_NOTAUTH | ST_AUTH | ST_SELECTED)
#define AUTHED	 (ST_AUTH | ST_SELECTED)
#define SELECTED ST_SELECTED

static const struct command {
	const char *name;
	unsigned states;
	unsigned flags;
	int (*run)(struct session *s, const struct imap_cmd *c);
} commands[] = {
    {"CAPABILITY", ANY, F_NOSYNC, cmd_capability},
    {"NOOP", ANY, 0, cmd_noop},
    {"LOGOUT", ANY, F_NOSYNC, cmd_logout},
    {"STARTTLS", ST_NOTAUTH, F_NOSYNC, cmd_starttls},
    {"LOGIN", ST_NOTAUTH, F_NOSYNC, cmd_login},
    {"AUTHENTICATE", ST_NOTAUTH, F_NOSYNC, cmd_authenticate},
    {"ID", ANY, F_NOSYNC, cmd_id},
    {"ENABLE", AUTHED, F_NOSYNC, cmd_enable},
    {"NAMESPACE", AUTHED, 0, cmd_namespace},
    {"COMPRESS", AUTHED, F_NOSYNC, cmd_compress},
    {"SELECT", AUTHED, F_NOSYNC, h_select},
    {"EXAMINE", AUTHED, F_NOSYNC, h_examine},
    {"CREATE", AUTHED, 0, cmd_create},
    {"DELETE", AUTHED, 0, cmd_delete},
    {"RENAME", AUTHED, 0, cmd_rename},
    {"SUBSCRIBE", AUTHED, 0, h_subscribe},
    {"UNSUBSCRIBE", AUTHED, 0, h_unsubscribe},
    {"LIST", AUTHED, 0, h_list},
    {"LSUB", AUTHED, 0, h_lsub},
    {"STATUS", AUTHED, 0, cmd_status},
    {"APPEND", AUTHED, 0, cmd_append},
    {"IDLE", AUTHED, F_NOSYNC, cmd_idle},
    {"CHECK", SELECTED, 0, cmd_check},
    {"CLOSE", SELECTED, F_NOSYNC, h_close},
    {"UNSELECT", SELECTED, F_NOSYNC, h_unselect},
    {"EXPUNGE", SELECTED, 0, h_expunge},
    {"SEARCH", SELECTED, F_NOEXPUNGE, h_search},
    {"FETCH", SELECTED, F_NOEXPUNGE, h_fetch},
    {"STORE", SELECTED, F_NOEXPUNGE, h_store},
    {"COPY", SELECTED, 0, h_copy},
    {"MOVE", SELECTED, 0, h_move},
    {"UID", SELECTED, 0, h_uid},
};

static const struct command *find_command(const char *name)
{
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (strcmp(commands[i].name, name) == 0)
			return &commands[i];
	return NULL;
}

static void run_command(struct session *s, const struct imap_cmd *c)
{
	const struct command *cmd = find_command(c->name);
	int r;

	if (!cmd) {
		sess_tagged(s, c->tag, "BAD", "Unknown command");
		return;
	}
	if (!(cmd->states & s->state)) {
		if (s->state == ST_NOTAUTH)
			sess_tagged(s, c->tag, "BAD", "Log in first");
		else if (cmd->states == ST_NOTAUTH)
			sess_tagged(s, c->tag, "BAD", "Already logged in");
		else
			sess_tagged(s, c->tag, "BAD", "No mailbox selected");
		return;
	}
	log_debug(s->sid, "event=command name=%s", c->name);
	s->cmd_flags = cmd->flags;
	r = cmd->run(s, c);
	if (r == 1 && s->mode == MODE_BLOCKED && s->c)
		conn_pause(s->c, 1);
}

/* --- input ---------------------------------------------------------------- */

static void idle_line(struct session *s, const char *line, size_t len)
{
	if (len == 4 && strncasecmp(line, "DONE", 4) == 0) {
		s->mode = MODE_CMD;
		s->cmd_flags = 0;
		sess_tagged(s, s->tag, "OK", "IDLE terminated");
	} else {
		s->mode = MODE_CMD;
		sess_tagged(s, s->tag, "BAD", "Expected DONE");
	}
}

static void sasl_line(struct session *s, const char *line, size_t len)
{
	s->mode = MODE_CMD;
	if (len == 1 && line[0] == '*') {
		sess_tagged(s, s->tag, "BAD", "AUTHENTICATE cancelled");
		return;
	}
	char tag[sizeof(s->tag)];
	memcpy(tag, s->tag, sizeof(tag));
	if (sasl_plain(s, tag, line, len) == 1)
		conn_pause(s->c, 1);
}

static void sess_input(struct conn *c, void *arg)
{
	struct session *s = arg;
	const char *p;
	size_t n, used;

	while (s->c && s->mode != MODE_BLOCKED && (n = conn_pending(c, &p)) > 0) {
		if (conn_outlen(c) >= OUT_HIGH) {
			/* the client pipelines faster than it reads: read on
			 * once writable() says the output drained */
			s->out_paused = 1;
			conn_pause(c, 1);
			return;
		}
		if (s->mode == MODE_IDLE || s->mode == MODE_SASL) {
			size_t linelen;
			int r = imap_line_take(p, n, SASL_LINE_MAX, &linelen, &used);
			if (r == 0)
				return;
			if (r < 0) {
				sess_printf(s, "* BYE Line too long\r\n");
				conn_close(c, 1, "line too long");
				return;
			}
			char line[SASL_LINE_MAX];
			memcpy(line, p, linelen);
			conn_consume(c, used);
			if (s->mode == MODE_IDLE)
				idle_line(s, line, linelen);
			else
				sasl_line(s, line, linelen);
			continue;
		}
		int r = imap_parser_feed(s->p, p, n, &used);
		if (r == IMAP_P_DONE) {
			/* the command points into the parser, not into conn's
			 * buffer, so the input may be consumed first */
			conn_consume(c, used);
			run_command(s, imap_parser_cmd(s->p));
			if (s->state == ST_LOGOUT)
				return;
			/* nothing keeps pointers into the command after it
			 * ran (FETCH and LOGIN copy what they keep) */
			imap_parser_release(s->p);
			continue;
		}
		conn_consume(c, used);
		if (r == IMAP_P_CONT) {
			sess_printf(s, "+ Ready for literal data\r\n");
		} else if (r == IMAP_P_ERROR) {
			const char *tag = imap_parser_error_tag(s->p);
			log_info(s->sid, "event=bad-command reason=\"%s\"",
				 imap_parser_error(s->p));
			sess_printf(s, "%s BAD %s\r\n", tag ? tag : "*", imap_parser_error(s->p));
		} else if (r == IMAP_P_FATAL) {
			const char *tag = imap_parser_error_tag(s->p);
			log_info(s->sid, "event=bad-command reason=\"%s\" fatal=1",
				 imap_parser_error(s->p));
			/* RFC 7888 section 4: the command gets its tagged BAD
			 * and the connection ends (BYE first, as LOGOUT does) */
			sess_printf(s, "* BYE %s\r\n", imap_parser_error(s->p));
			if (tag)
				sess_printf(s, "%s BAD %s\r\n", tag, imap_parser_error(s->p));
			conn_close(c, 1, "protocol error");
			return;
		}
	}
}

void sess_resume(struct session *s)
{
	if (!s->c)
		return;
	if (s->mode == MODE_BLOCKED)
		s->mode = MODE_CMD;
	conn_pause(s->c, 0);
}

static void sess_writable(struct conn *c, void *arg)
{
	struct session *s = arg;

	if (s->fj)
		fetch_continue(s);
	if (s->out_paused && s->c && conn_outlen(c) < OUT_HIGH) {
		s->out_paused = 0;
		/* a blocked command resumes input itself when it ends */
		if (s->mode != MODE_BLOCKED)
			conn_pause(c, 0);
	}
}

/* The whole time a client may take to log in, however busy it keeps the
 * connection (the login timeout only limits silence). */
static void deadline_fire(struct evloop *ev, struct ev_timer *t, void *arg)
{
	struct session *s = arg;

	(void)ev;
	(void)t;
	if (!s->c || s->state != ST_NOTAUTH)
		return;
	log_info(s->sid, "event=login-deadline peer=%s", s->peer);
	sess_printf(s, "* BYE Took too long to log in\r\n");
	conn_close(s->c, 1, "login deadline");
}

/* imapd.login_deadline, seconds (read once; a bad value is logged and the
 * default used, since a session cannot stop the daemon). */
static uint64_t login_deadline_ms(struct imapd *srv)
{
	uint64_t v = LOGIN_DEADLINE_DEFAULT;

	if (srv->login_deadline_ms)
		return srv->login_deadline_ms;
	if (srv->d && (config_get_u64(daemon_config(srv->d), "imapd.login_deadline",
				      LOGIN_DEADLINE_DEFAULT, 86400, &v) < 0 ||
		       v == 0)) {
		log_warn(NULL, "event=config-error key=imapd.login_deadline using=%d",
			 LOGIN_DEADLINE_DEFAULT);
		v = LOGIN_DEADLINE_DEFAULT;
	}
	srv->login_deadline_ms = v * 1000;
	return srv->login_deadline_ms;
}

static void sess_tls_ready(struct conn *c, void *arg)
{
	struct session *s = arg;

	(void)c;
	log_debug(s->sid, "event=tls version=%s cipher=%s", conn_tls_version(s->c),
		  conn_tls_cipher(s->c));
}

static void sess_closed(struct conn *c, void *arg, const char *reason)
{
	struct session *s = arg;
	struct imapd *srv = s->srv;

	(void)c;
	log_info(s->sid, "event=disconnect reason=\"%s\" user=%s", reason ? reason : "",
		 s->user[0] ? s->user : "-");
	s->c = NULL;
	if (s->prev)
		s->prev->next = s->next;
	else
		srv->sessions = s->next;
	if (s->next)
		s->next->prev = s->prev;
	srv->nsessions--;
	authcheck_cancel(s->auth_job);
	fetch_job_free(s->fj);
	view_clear(s);
	ev_timer_free(s->delay);
	ev_timer_free(s->deadline);
	imap_parser_free(s->p);
	free(s);
}

/* No input for imapd.idle_timeout (logged in) or imapd.login_timeout:
 * RFC 3501's autologout, said before closing. */
static void sess_timeout(struct conn *c, void *arg)
{
	struct session *s = arg;

	log_info(s->sid, "event=idle-timeout user=%s idle=%d", s->user[0] ? s->user : "-",
		 s->mode == MODE_IDLE);
	sess_printf(s, "* BYE Autologout; idle for too long\r\n");
	conn_close(c, 1, "timeout");
}

void imap_session_start(struct imapd *srv, int fd, const struct sockaddr *peer, int implicit_tls)
{
	static const struct conn_cbs cbs = {
	    .input = sess_input,
	    .timeout = sess_timeout,
	    .closed = sess_closed,
	    .writable = sess_writable,
	    .tls_ready = sess_tls_ready,
	};
	struct session *s = calloc(1, sizeof(*s));
	unsigned same_ip = 0;

	if (!s)
		bug("out of memory");
	s->srv = srv;
	s->c = conn_new(srv->ev, fd, peer, &cbs, s, CHUNK_MAXLINE, MAXOUT);
	s->sid = conn_sid(s->c);
	snprintf(s->peer, sizeof(s->peer), "%s", conn_peer(s->c));
	s->state = ST_NOTAUTH;
	s->p = new_parser(srv, s->state);
	s->delay = ev_timer_new(srv->ev, delay_fire, s);
	s->deadline = ev_timer_new(srv->ev, deadline_fire, s);
	ev_timer_arm(s->deadline, login_deadline_ms(srv));
	s->next = srv->sessions;
	if (s->next)
		s->next->prev = s;
	srv->sessions = s;
	srv->nsessions++;
	for (struct session *o = srv->sessions; o; o = o->next)
		if (strcmp(o->peer, s->peer) == 0)
			same_ip++;
	log_info(s->sid, "event=connect peer=%s tls=%d", s->peer, implicit_tls);
	conn_set_timeout(s->c, srv->login_timeout_ms);
	if (implicit_tls && (!srv->tls || conn_tls_server(s->c, srv->tls) < 0)) {
		conn_close(s->c, 0, "tls unavailable");
		return;
	}
	if (srv->stopping) {
		sess_printf(s, "* BYE Server shutting down\r\n");
		conn_close(s->c, 1, "stopping");
		return;
	}
	if (srv->nsessions > srv->max_sessions || same_ip > srv->max_per_ip) {
		log_info(s->sid, "event=refused peer=%s reason=too-many-connections", s->peer);
		sess_printf(s, "* BYE Too many connections, try again later\r\n");
		conn_close(s->c, 1, "too many connections");
		return;
	}
	sess_printf(s, "* OK [CAPABILITY %s%s] Loft IMAP ready\r\n", CAPS_COMMON,
		    implicit_tls ? " AUTH=PLAIN" : " STARTTLS LOGINDISABLED");
}

void imapd_changed(struct imapd *srv, int64_t mailbox_id)
{
	for (struct session *s = srv->sessions; s; s = s->next) {
		if (s->mode == MODE_IDLE && s->state == ST_SELECTED &&
		    (mailbox_id == 0 || s->mbox_id == mailbox_id))
			view_sync(s, 1);
	}
}

void imapd_stop_sessions(struct imapd *srv)
{
	for (struct session *s = srv->sessions; s; s = s->next) {
		if (s->c && (s->mode == MODE_IDLE || !imap_parser_busy(s->p))) {
			sess_printf(s, "* BYE Server shutting down\r\n");
			conn_close(s->c, 1, "stopping");
		}
	}
}
