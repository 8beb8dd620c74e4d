/*
 * One IMAP session: reads commands through the parser, checks them against
 * the command table (name, states allowed, handler), runs them, and keeps
 * the modes that are not plain command/reply: IDLE, the AUTHENTICATE
 * exchange, an authentication delay, and a FETCH streamed as the socket
 * drains.
 */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <zlib.h>

#include "config.h"
#include "conn.h"
#include "daemon.h"
#include "evloop.h"
#include "imapd.h"
#include "listener.h"
#include "log.h"
#include "mime.h"
#include "sasl.h"
#include "store.h"
#include "store_users.h"

/* Commands other than APPEND, logged in: SEARCH and STORE with literals
 * and long sets fit many times over. */
#define OTHER_TOTAL   (2u * 1024 * 1024)
#define CHUNK_MAXLINE (64 * 1024)
#define SASL_LINE_MAX 8192
#define CAPS_COMMON                                                                                \
	"IMAP4rev1 IMAP4rev2 LITERAL+ SASL-IR ID ENABLE IDLE NAMESPACE UNSELECT CHILDREN"
#define CAPS_AUTHED                                                                                \
	" UIDPLUS MOVE SPECIAL-USE CONDSTORE QRESYNC ESEARCH LIST-EXTENDED LIST-STATUS"            \
	" COMPRESS=DEFLATE MULTIAPPEND BINARY STATUS=SIZE OBJECTID SAVEDATE SEARCHRES SORT"        \
	" SORT=DISPLAY THREAD=ORDEREDSUBJECT THREAD=REFERENCES ESORT CONTEXT=SEARCH CONTEXT=SORT"

static void sess_input(struct conn *c, void *arg);

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
		/* RFC 6855: ENABLE is for logged-in sessions only */
		buf_puts(b, " UTF8=ACCEPT");
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

/* --- simple commands ---------------------------------------------------- */

static int cmd_capability(struct session *s, const struct imap_cmd *c)
{
	struct buf b;

	if (c->nargs)
		return imap_tagged(s, c->tag, "BAD", "CAPABILITY takes no arguments"), 0;
	buf_init(&b, 4096);
	caps(s, &b);
	imap_printf(s, "* CAPABILITY %s\r\n", b.data);
	buf_free(&b);
	imap_tagged(s, c->tag, "OK", "CAPABILITY completed");
	return 0;
}

static int cmd_noop(struct session *s, const struct imap_cmd *c)
{
	imap_tagged(s, c->tag, "OK", "%s completed", c->name);
	return 0;
}

static int cmd_logout(struct session *s, const struct imap_cmd *c)
{
	imap_printf(s, "* BYE Loft IMAP server signing off\r\n");
	imap_tagged(s, c->tag, "OK", "LOGOUT completed");
	imap_set_state(s, ST_LOGOUT);
	conn_close(s->c, 1, "logout");
	return 0;
}

static int cmd_starttls(struct session *s, const struct imap_cmd *c)
{
	if (conn_is_tls(s->c) || !s->srv->tls)
		return imap_tagged(s, c->tag, "BAD", "TLS is already active or not available"), 0;
	imap_tagged(s, c->tag, "OK", "Begin TLS negotiation now");
	if (conn_starttls(s->c, s->srv->tls) < 0) {
		conn_close(s->c, 0, "starttls failed");
		return 0;
	}
	listener_deadline_handshake(s->dl);
	/* what the client pipelined is gone with conn's buffer; forget
	 * anything half-parsed too */
	imap_parser_free(s->p);
	s->p = new_parser(s->srv, s->state);
	return 0;
}

static int cmd_id(struct session *s, const struct imap_cmd *c)
{
	if (c->nargs != 1 || (c->args->type != IMAP_ARG_LIST && !imap_arg_is(c->args, "NIL")))
		return imap_tagged(s, c->tag, "BAD", "ID takes a list or NIL"), 0;
	imap_printf(s, "* ID (\"name\" \"Loft\" \"vendor\" \"Loft\")\r\n");
	imap_tagged(s, c->tag, "OK", "ID completed");
	return 0;
}

/* RFC 4978.  The tagged OK goes out in the clear; everything after it,
 * both ways, is raw deflate (conn.c also inflates what the client
 * pipelined behind the command). */
static int cmd_compress(struct session *s, const struct imap_cmd *c)
{
	if (c->nargs != 1 || c->args->type != IMAP_ARG_ATOM)
		return imap_tagged(s, c->tag, "BAD", "COMPRESS mechanism"), 0;
	if (!imap_arg_is(c->args, "DEFLATE"))
		return imap_tagged(s, c->tag, "BAD", "Unknown compression mechanism"), 0;
	if (conn_is_deflate(s->c))
		return imap_tagged(s, c->tag, "NO",
				   "[COMPRESSIONACTIVE] DEFLATE is already active"),
		       0;
	imap_tagged(s, c->tag, "OK", "DEFLATE active");
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
	imap_printf(s, "* NAMESPACE ((\"\" \"/\")) NIL NIL\r\n");
	imap_tagged(s, c->tag, "OK", "NAMESPACE completed");
	return 0;
}

/* IMAP4rev2 (RFC 9051) from here on: no \Recent (the view forgets the
 * flag, so FETCH FLAGS and SEARCH RECENT/NEW never see it), no RECENT
 * or SEARCH responses, UTF-8 mailbox names (RFC 9051 5.1). */
static void enable_rev2(struct session *s)
{
	s->rev2 = 1;
	s->utf8 = 1;
	for (size_t i = 0; i < s->nmsgs; i++)
		s->msgs[i].flags &= ~VIEW_RECENT;
	log_info(s->sid, "event=enable extension=IMAP4rev2");
}

static int cmd_enable(struct session *s, const struct imap_cmd *c)
{
	struct buf b;

	if (!c->nargs)
		return imap_tagged(s, c->tag, "BAD", "ENABLE needs arguments"), 0;
	buf_init(&b, 1024);
	for (const struct imap_arg *a = c->args; a; a = a->next) {
		if (a->type != IMAP_ARG_ATOM) {
			buf_free(&b);
			return imap_tagged(s, c->tag, "BAD", "ENABLE takes atoms"), 0;
		}
		if (imap_arg_is(a, "CONDSTORE") && !s->condstore) {
			imap_condstore_enable(s);
			buf_puts(&b, " CONDSTORE");
		} else if (imap_arg_is(a, "QRESYNC") && !s->qresync) {
			s->qresync = 1;
			if (!s->condstore)
				buf_puts(&b, " CONDSTORE");
			s->condstore = 1;
			buf_puts(&b, " QRESYNC");
		} else if (imap_arg_is(a, "IMAP4rev2") && !s->rev2) {
			enable_rev2(s);
			buf_puts(&b, " IMAP4rev2");
		} else if (imap_arg_is(a, "UTF8=ACCEPT") && !s->utf8accept) {
			/* RFC 6855 3: UTF-8 quoted strings and mailbox names,
			 * APPEND UTF8; headers go out as stored (raw UTF-8) */
			s->utf8accept = s->utf8 = 1;
			log_info(s->sid, "event=enable extension=UTF8=ACCEPT");
			buf_puts(&b, " UTF8=ACCEPT");
		}
	}
	/* buf_cstr: b.data is NULL when nothing was enabled ("(null)") */
	imap_printf(s, "* ENABLED%s\r\n", buf_cstr(&b));
	buf_free(&b);
	imap_tagged(s, c->tag, "OK", "ENABLE completed");
	return 0;
}

static int cmd_check(struct session *s, const struct imap_cmd *c)
{
	return cmd_noop(s, c);
}

static int cmd_idle(struct session *s, const struct imap_cmd *c)
{
	if (c->nargs)
		return imap_tagged(s, c->tag, "BAD", "IDLE takes no arguments"), 0;
	snprintf(s->tag, sizeof(s->tag), "%s", c->tag);
	s->mode = MODE_IDLE;
	imap_printf(s, "+ idling\r\n");
	if (s->state == ST_SELECTED)
		imap_view_sync(s, 1);
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

/* The answer of a login (lib/service/listener, on the loop thread), after
 * the failure delay authlimit asked for. */
static void login_done(void *arg, int r, int64_t uid)
{
	struct session *s = arg;
	struct imapd *srv = s->srv;
	const char *tag = s->auth_tag, *user = s->auth_user;
	char q[300];

	log_quote(q, sizeof(q), user, strlen(user));
	if (r < 0) {
		log_err(s->sid, "event=auth-error error=\"password check failed\"");
		imap_tagged(s, tag, "NO", "[UNAVAILABLE] Temporary failure, try again");
	} else if (r == 0) {
		log_info(s->sid, "event=auth-failed user=%s peer=%s password=%s", q, s->peer,
			 LOG_SECRET);
		imap_tagged(s, tag, "NO", "[AUTHENTICATIONFAILED] Authentication failed");
	} else if ((unsigned)count_user_sessions(srv, uid) >= srv->max_per_user) {
		log_info(s->sid, "event=auth-refused user=%s reason=too-many-sessions", q);
		imap_tagged(s, tag, "NO", "[LIMIT] Too many sessions for this user");
	} else {
		struct imap_parser_limits lim;
		struct buf b;

		log_info(s->sid, "event=login user=%s peer=%s tls=%d", q, s->peer,
			 conn_is_tls(s->c));
		s->user_id = uid;
		if (store_user_address(srv->st, uid, s->user, sizeof(s->user)) < 0)
			s->user[0] = '\0';
		imap_set_state(s, ST_AUTH);
		listener_deadline_login(s->dl);
		/* input has been paused since the LOGIN/AUTHENTICATE line
		 * ended, so the parser is between commands */
		parser_limits(srv, ST_AUTH, &lim);
		if (imap_parser_set_limits(s->p, &lim) < 0)
			bug("parser busy at login");
		buf_init(&b, 4096);
		caps(s, &b);
		imap_tagged(s, tag, "OK", "[CAPABILITY %s] Logged in", b.data);
		buf_free(&b);
	}
	s->mode = MODE_CMD;
	imap_resume(s);
}

/* Starts a password check (lib/service/listener: off the loop, answered
 * after the throttle's delay); input stays paused until login_done
 * answers.  Returns 0 (answered now) or 1 (answer pending). */
static int do_login(struct session *s, const char *tag, const char *user, const char *pass)
{
	char q[300];
	int rc;

	log_quote(q, sizeof(q), user, strlen(user));
	snprintf(s->auth_tag, sizeof(s->auth_tag), "%s", tag);
	snprintf(s->auth_user, sizeof(s->auth_user), "%s", user);
	rc = listener_auth_start(s->auth, user, pass, login_done, s);
	if (rc == LISTENER_AUTH_REFUSED) {
		log_info(s->sid, "event=auth-refused user=%s peer=%s reason=throttled", q, s->peer);
		imap_tagged(s, tag, "NO", "[UNAVAILABLE] Too many failed logins, try again later");
		return 0;
	}
	if (rc == LISTENER_AUTH_BUSY) {
		log_warn(s->sid, "event=auth-busy user=%s peer=%s", q, s->peer);
		imap_tagged(s, tag, "NO", "[UNAVAILABLE] Temporary failure, try again");
		return 0;
	}
	s->mode = MODE_BLOCKED;
	conn_pause(s->c, 1);
	return 1;
}

static int login_allowed(struct session *s, const char *tag)
{
	if (!conn_is_tls(s->c)) {
		imap_tagged(s, tag, "NO", "[PRIVACYREQUIRED] Use STARTTLS first");
		return 0;
	}
	return 1;
}

static int cmd_login(struct session *s, const struct imap_cmd *c)
{
	const struct imap_arg *u = c->args, *p = u ? u->next : NULL;

	if (c->nargs != 2 || !imap_arg_astring(u) || !imap_arg_astring(p))
		return imap_tagged(s, c->tag, "BAD", "LOGIN user password"), 0;
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
		return imap_tagged(s, tag, "NO", "[UNAVAILABLE] Out of memory"), 0;
	n = sasl_b64_decode(b64, len, dec, len / 4 * 3);
	if (n < 0) {
		free(dec);
		imap_tagged(s, tag, "BAD", "Invalid base64");
		return 0;
	}
	r = sasl_plain_split((char *)dec, (size_t)n, &user, &pass);
	if (r == SASL_AUTHZ_OTHER) {
		free(dec);
		imap_tagged(s, tag, "NO", "[AUTHORIZATIONFAILED] Cannot act as another user");
		return 0;
	}
	if (r < 0) {
		free(dec);
		imap_tagged(s, tag, "BAD", "Malformed PLAIN response");
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
		return imap_tagged(s, c->tag, "BAD", "AUTHENTICATE mechanism [initial-response]"),
		       0;
	if (!login_allowed(s, c->tag))
		return 0;
	if (!imap_arg_is(mech, "PLAIN"))
		return imap_tagged(s, c->tag, "NO", "[CANNOT] Unsupported mechanism"), 0;
	if (ir) {
		if (!imap_arg_astring(ir))
			return imap_tagged(s, c->tag, "BAD", "Bad initial response"), 0;
		if (strcmp(ir->str, "=") == 0)
			return sasl_plain(s, c->tag, "", 0);
		return sasl_plain(s, c->tag, ir->str, ir->len);
	}
	snprintf(s->tag, sizeof(s->tag), "%s", c->tag);
	s->mode = MODE_SASL;
	imap_printf(s, "+ \r\n");
	return 1;
}

/* --- selected-state wrappers -------------------------------------------- */

static int h_select(struct session *s, const struct imap_cmd *c)
{
	return imap_cmd_select(s, c, 0);
}
static int h_examine(struct session *s, const struct imap_cmd *c)
{
	return imap_cmd_select(s, c, 1);
}
static int h_subscribe(struct session *s, const struct imap_cmd *c)
{
	return imap_cmd_subscribe(s, c, 1);
}
static int h_unsubscribe(struct session *s, const struct imap_cmd *c)
{
	return imap_cmd_subscribe(s, c, 0);
}
static int h_list(struct session *s, const struct imap_cmd *c)
{
	return imap_cmd_list(s, c, 0);
}
static int h_lsub(struct session *s, const struct imap_cmd *c)
{
	return imap_cmd_list(s, c, 1);
}
static int h_close(struct session *s, const struct imap_cmd *c)
{
	return imap_cmd_close(s, c, 1);
}
static int h_unselect(struct session *s, const struct imap_cmd *c)
{
	return imap_cmd_close(s, c, 0);
}
static int h_expunge(struct session *s, const struct imap_cmd *c)
{
	if (c->nargs)
		return imap_tagged(s, c->tag, "BAD", "EXPUNGE takes no arguments"), 0;
	return imap_cmd_expunge(s, c, NULL);
}
static int h_fetch(struct session *s, const struct imap_cmd *c)
{
	return imap_cmd_fetch(s, c, c->args, 0);
}
static int h_store(struct session *s, const struct imap_cmd *c)
{
	return imap_cmd_store(s, c, c->args, 0);
}
static int h_search(struct session *s, const struct imap_cmd *c)
{
	return imap_cmd_search(s, c, c->args, 0);
}
static int h_sort(struct session *s, const struct imap_cmd *c)
{
	return imap_cmd_sort(s, c, c->args, 0);
}
static int h_uid_sort(struct session *s, const struct imap_cmd *c)
{
	return imap_cmd_sort(s, c, c->args->next, 1);
}
static int h_thread(struct session *s, const struct imap_cmd *c)
{
	return imap_cmd_thread(s, c, c->args, 0);
}
static int h_uid_thread(struct session *s, const struct imap_cmd *c)
{
	return imap_cmd_thread(s, c, c->args->next, 1);
}
static int h_copy(struct session *s, const struct imap_cmd *c)
{
	return imap_cmd_copy(s, c, c->args, 0, 0);
}
static int h_move(struct session *s, const struct imap_cmd *c)
{
	return imap_cmd_copy(s, c, c->args, 0, 1);
}

/* UID FETCH/STORE/SEARCH/COPY/MOVE/EXPUNGE: rows of their own in the
 * table ("UID FETCH"), their arguments after the subcommand word. */
static int h_uid_fetch(struct session *s, const struct imap_cmd *c)
{
	return imap_cmd_fetch(s, c, c->args->next, 1);
}
static int h_uid_store(struct session *s, const struct imap_cmd *c)
{
	return imap_cmd_store(s, c, c->args->next, 1);
}
static int h_uid_search(struct session *s, const struct imap_cmd *c)
{
	return imap_cmd_search(s, c, c->args->next, 1);
}
static int h_uid_copy(struct session *s, const struct imap_cmd *c)
{
	return imap_cmd_copy(s, c, c->args->next, 1, 0);
}
static int h_uid_move(struct session *s, const struct imap_cmd *c)
{
	return imap_cmd_copy(s, c, c->args->next, 1, 1);
}
static int h_uid_expunge(struct session *s, const struct imap_cmd *c)
{
	const struct imap_arg *set = c->args->next;

	if (!set || set->next || set->type != IMAP_ARG_ATOM)
		return imap_tagged(s, c->tag, "BAD", "UID EXPUNGE set"), 0;
	return imap_cmd_expunge(s, c, set);
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
    {"CREATE", AUTHED, 0, imap_cmd_create},
    {"DELETE", AUTHED, 0, imap_cmd_delete},
    {"RENAME", AUTHED, 0, imap_cmd_rename},
    {"SUBSCRIBE", AUTHED, 0, h_subscribe},
    {"UNSUBSCRIBE", AUTHED, 0, h_unsubscribe},
    {"LIST", AUTHED, 0, h_list},
    {"LSUB", AUTHED, 0, h_lsub},
    {"STATUS", AUTHED, 0, imap_cmd_status},
    {"APPEND", AUTHED, 0, imap_cmd_append},
    {"IDLE", AUTHED, F_NOSYNC, cmd_idle},
    {"CHECK", SELECTED, 0, cmd_check},
    {"CLOSE", SELECTED, F_NOSYNC, h_close},
    {"UNSELECT", SELECTED, F_NOSYNC, h_unselect},
    {"EXPUNGE", SELECTED, 0, h_expunge},
    {"SEARCH", SELECTED, F_NOEXPUNGE, h_search},
    {"SORT", SELECTED, F_NOEXPUNGE, h_sort},
    {"THREAD", SELECTED, F_NOEXPUNGE, h_thread},
    {"FETCH", SELECTED, F_NOEXPUNGE, h_fetch},
    {"STORE", SELECTED, F_NOEXPUNGE, h_store},
    {"COPY", SELECTED, 0, h_copy},
    {"MOVE", SELECTED, 0, h_move},
    {"UID FETCH", SELECTED, 0, h_uid_fetch},
    {"UID STORE", SELECTED, 0, h_uid_store},
    {"UID SEARCH", SELECTED, 0, h_uid_search},
    {"UID SORT", SELECTED, 0, h_uid_sort},
    {"UID THREAD", SELECTED, 0, h_uid_thread},
    {"UID COPY", SELECTED, 0, h_uid_copy},
    {"UID MOVE", SELECTED, 0, h_uid_move},
    {"UID EXPUNGE", SELECTED, 0, h_uid_expunge},
    {"CANCELUPDATE", SELECTED, 0, imap_cmd_cancelupdate},
};

static const struct command *find_command(const char *name)
{
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (strcmp(commands[i].name, name) == 0)
			return &commands[i];
	return NULL;
}

/* The row for c: its name, or for UID "UID " and the subcommand word in
 * upper case.  Replies BAD and returns NULL when there is none. */
static const struct command *command_row(struct session *s, const struct imap_cmd *c)
{
	const struct imap_arg *sub = c->args;
	const struct command *cmd;
	char name[16];
	size_t n;

	if (strcmp(c->name, "UID") != 0) {
		cmd = find_command(c->name);
		if (!cmd)
			imap_tagged(s, c->tag, "BAD", "Unknown command");
		return cmd;
	}
	if (!sub || sub->type != IMAP_ARG_ATOM) {
		imap_tagged(s, c->tag, "BAD", "UID needs a command");
		return NULL;
	}
	n = strlen(sub->str);
	cmd = NULL;
	if (n <= sizeof(name) - 5) {
		memcpy(name, "UID ", 4);
		for (size_t i = 0; i <= n; i++)
			name[4 + i] = (char)toupper((unsigned char)sub->str[i]);
		cmd = find_command(name);
	}
	if (!cmd)
		imap_tagged(s, c->tag, "BAD", "Unknown UID command");
	return cmd;
}

/* 1 when a command allowed in states may run now; else replies BAD. */
static int state_ok(struct session *s, const struct imap_cmd *c, unsigned states)
{
	if (states & s->state)
		return 1;
	if (s->state == ST_NOTAUTH)
		imap_tagged(s, c->tag, "BAD", "Log in first");
	else if (states == ST_NOTAUTH)
		imap_tagged(s, c->tag, "BAD", "Already logged in");
	else
		imap_tagged(s, c->tag, "BAD", "No mailbox selected");
	return 0;
}

static void run_command(struct session *s, const struct imap_cmd *c)
{
	const struct command *cmd;
	int r;

	/* every UID row is for the selected state: outside it UID is refused
	 * before its subcommand is read */
	if (strcmp(c->name, "UID") == 0 && !state_ok(s, c, SELECTED))
		return;
	/* queued APPENDs are stored (and answered) before anything else
	 * this session asks runs (append.c) */
	if (s->appends && strcmp(c->name, "APPEND") != 0)
		imap_append_flush(s->srv);
	cmd = command_row(s, c);
	if (!cmd || !state_ok(s, c, cmd->states))
		return;
	log_debug(s->sid, "event=command name=%s", cmd->name);
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
		imap_tagged(s, s->tag, "OK", "IDLE terminated");
	} else {
		s->mode = MODE_CMD;
		imap_tagged(s, s->tag, "BAD", "Expected DONE");
	}
}

static void sasl_line(struct session *s, const char *line, size_t len)
{
	s->mode = MODE_CMD;
	if (len == 1 && line[0] == '*') {
		imap_tagged(s, s->tag, "BAD", "AUTHENTICATE cancelled");
		return;
	}
	char tag[sizeof(s->tag)];
	memcpy(tag, s->tag, sizeof(tag));
	if (sasl_plain(s, tag, line, len) == 1)
		conn_pause(s->c, 1);
}

/* The response code of a parser error: a literal over the limits is
 * TOOBIG (RFC 4469 6, as RFC 7888 4 answers a too large non-synchronising
 * literal), so a client can tell it from a syntax error. */
static const char *bad_code(const struct imap_parser *p)
{
	return strcmp(imap_parser_error(p), "literal too large") == 0 ? "[TOOBIG] " : "";
}

static void sess_input(struct conn *c, void *arg)
{
	struct session *s = arg;
	const char *p;
	size_t n, used;

	while (s->c && s->mode != MODE_BLOCKED && (n = conn_pending(c, &p)) > 0) {
		if (conn_outlen(c) >= LISTENER_OUT_HIGH) {
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
				imap_printf(s, "* BYE Line too long\r\n");
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
			imap_printf(s, "+ Ready for literal data\r\n");
		} else if (r == IMAP_P_ERROR) {
			const char *tag = imap_parser_error_tag(s->p);
			log_info(s->sid, "event=bad-command reason=\"%s\"",
				 imap_parser_error(s->p));
			imap_printf(s, "%s BAD %s%s\r\n", tag ? tag : "*", bad_code(s->p),
				    imap_parser_error(s->p));
		} else if (r == IMAP_P_FATAL) {
			const char *tag = imap_parser_error_tag(s->p);
			log_info(s->sid, "event=bad-command reason=\"%s\" fatal=1",
				 imap_parser_error(s->p));
			/* RFC 7888 section 4: the command gets its tagged BAD
			 * and the connection ends (BYE first, as LOGOUT does) */
			imap_printf(s, "* BYE %s\r\n", imap_parser_error(s->p));
			if (tag)
				imap_printf(s, "%s BAD %s%s\r\n", tag, bad_code(s->p),
					    imap_parser_error(s->p));
			conn_close(c, 1, "protocol error");
			return;
		}
	}
}

static void sess_writable(struct conn *c, void *arg)
{
	struct session *s = arg;

	if (s->fj)
		imap_fetch_continue(s);
	if (s->out_paused && s->c && conn_outlen(c) < LISTENER_OUT_HIGH) {
		s->out_paused = 0;
		/* a blocked command resumes input itself when it ends */
		if (s->mode != MODE_BLOCKED)
			conn_pause(c, 0);
	}
}

/* The whole time a client may take to log in, however busy it keeps the
 * connection (the login timeout only limits silence): lib/service/listener
 * says when; IMAP says goodbye. */
static void deadline_fire(void *arg, enum listener_deadline_kind kind)
{
	struct session *s = arg;

	if (!s->c)
		return;
	if (kind == LISTENER_DL_SESSION) {
		/* imapd.session_deadline (none by default) */
		log_info(s->sid, "event=session-deadline user=%s peer=%s",
			 s->user[0] ? s->user : "-", s->peer);
		/* not in the middle of a streamed FETCH literal */
		if (!s->fj)
			imap_printf(s, "* BYE Session time limit reached\r\n");
		conn_close(s->c, !s->fj, "session deadline");
		return;
	}
	if (s->state != ST_NOTAUTH)
		return;
	log_info(s->sid, "event=login-deadline peer=%s", s->peer);
	imap_printf(s, "* BYE Took too long to log in\r\n");
	conn_close(s->c, 1, "login deadline");
}

static void sess_tls_ready(struct conn *c, void *arg)
{
	struct session *s = arg;

	(void)c;
	listener_deadline_tls_up(s->dl);
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
	listener_session_end(srv->lsn, s->peer);
	listener_auth_free(s->auth);
	imap_append_forget(s);
	imap_fetch_job_free(s->fj);
	imap_view_clear(s);
	listener_deadline_free(s->dl);
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
	imap_printf(s, "* BYE Autologout; idle for too long\r\n");
	conn_close(c, 1, "timeout");
}

void imap_session_start(void *arg, int fd, const struct sockaddr *peer, const char *ip, int port,
			int implicit_tls)
{
	static const struct conn_cbs cbs = {
	    .input = sess_input,
	    .timeout = sess_timeout,
	    .closed = sess_closed,
	    .writable = sess_writable,
	    .tls_ready = sess_tls_ready,
	};
	struct imapd *srv = arg;
	struct session *s = calloc(1, sizeof(*s));

	(void)port;
	if (!s)
		bug("out of memory");
	s->srv = srv;
	s->c = conn_new(srv->ev, fd, peer, &cbs, s, CHUNK_MAXLINE, IMAPD_MAXOUT);
	s->sid = conn_sid(s->c);
	snprintf(s->peer, sizeof(s->peer), "%s", ip);
	s->state = ST_NOTAUTH;
	s->p = new_parser(srv, s->state);
	s->auth = listener_auth_new(srv->ev, srv->al, srv->ac, s->peer);
	s->dl = listener_deadline_new(srv->ev, s->c, &srv->dl, deadline_fire, s);
	s->next = srv->sessions;
	if (s->next)
		s->next->prev = s;
	srv->sessions = s;
	log_info(s->sid, "event=connect peer=%s tls=%d", s->peer, implicit_tls);
	if (implicit_tls && (!srv->tls || conn_tls_server(s->c, srv->tls) < 0)) {
		conn_close(s->c, 0, "tls unavailable");
		return;
	}
	if (implicit_tls)
		listener_deadline_handshake(s->dl);
	imap_printf(s, "* OK [CAPABILITY %s%s] Loft IMAP ready\r\n", CAPS_COMMON,
		    implicit_tls ? " AUTH=PLAIN" : " STARTTLS LOGINDISABLED");
}

void imapd_stop_sessions(struct imapd *srv)
{
	imap_append_flush(srv);
	for (struct session *s = srv->sessions; s; s = s->next) {
		if (s->c && (s->mode == MODE_IDLE || !imap_parser_busy(s->p))) {
			imap_printf(s, "* BYE Server shutting down\r\n");
			conn_close(s->c, 1, "stopping");
		}
	}
}
