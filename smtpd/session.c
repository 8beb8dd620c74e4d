/*
 * One SMTP session: the state machine and the command table.
 *
 * Input comes from lib/conn (bounded line reader, TLS, idle timeout).  Each
 * command is looked up in commands[], refused with 503 unless the session
 * is in one of the states the entry allows, then run.  Replies carry RFC
 * 3463 enhanced status codes, every one of them.
 *
 * The mail transaction is txn.c (with the relay check), AUTH is auth.c,
 * replies and state changes reply.c.  Address tricks never get that far:
 * parser.c refuses them.
 */
#include <errno.h>
#include <malloc.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "array.h"
#include "conn.h"
#include "daemon.h"
#include "data.h"
#include "evloop.h"
#include "greetpass.h"
#include "listener.h"
#include "log.h"
#include "net.h"
#include "pages.h"
#include "parser.h"
#include "sasl.h"
#include "session.h"
#include "smtpd.h"
#include "store.h"
#include "store_greet.h"
#include "store_users.h"
#include "strnum.h"

/* --- commands ------------------------------------------------------------- */

static int helo_ok(const char *a, size_t n)
{
	if (n == 0 || n >= 256)
		return 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)a[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      strchr("._-:[]", c)))
			return 0;
	}
	return 1;
}

static void cmd_helo(struct session *s, const struct smtp_cmd *cmd)
{
	if (!helo_ok(cmd->arg, cmd->arglen)) {
		smtp_reply(s, "501 5.5.4 Syntax: %s hostname", smtp_verb_name(cmd->verb));
		smtp_bad(s);
		return;
	}
	smtp_txn_reset(s);
	memcpy(s->helo, cmd->arg, cmd->arglen);
	s->helo[cmd->arglen] = '\0';
	s->esmtp = cmd->verb == SMTP_CMD_EHLO;
	smtp_set_state(s, S_READY);
	if (!s->esmtp) {
		smtp_reply(s, "250 %s", s->srv->hostname);
		return;
	}
	int tls = conn_is_tls(s->c);
	smtp_reply(s, "250-%s Hello %s [%s]", s->srv->hostname, s->helo, s->ip);
	smtp_reply(s, "250-PIPELINING");
	smtp_reply(s, "250-SIZE %llu", (unsigned long long)s->srv->lim.max_message_size);
	smtp_reply(s, "250-8BITMIME");
	smtp_reply(s, "250-SMTPUTF8");
	smtp_reply(s, "250-CHUNKING");
	if (!tls && s->srv->tls)
		smtp_reply(s, "250-STARTTLS");
	if (tls && (s->port != PORT_MX || s->gw_auth == 1) && !s->authed)
		smtp_reply(s, "250-AUTH PLAIN LOGIN");
	smtp_reply(s, "250 ENHANCEDSTATUSCODES");
}

static void cmd_rset(struct session *s, const struct smtp_cmd *cmd)
{
	(void)cmd;
	smtp_txn_reset(s);
	/* leaving a BDAT series: its data deadline ends, the envelope one
	 * (not restarted: no message went through) applies again */
	ev_timer_disarm(s->data_total);
	conn_set_maxline(s->c, s->srv->lim.max_line);
	smtp_set_state(s, s->helo[0] ? S_READY : S_INIT);
	smtp_reply(s, "250 2.0.0 Ok");
}

static void cmd_noop(struct session *s, const struct smtp_cmd *cmd)
{
	(void)cmd;
	smtp_reply(s, "250 2.0.0 Ok");
}

static void cmd_quit(struct session *s, const struct smtp_cmd *cmd)
{
	(void)cmd;
	smtp_reply(s, "221 2.0.0 %s Bye", s->srv->hostname);
	smtp_drop(s, "quit");
}

static void cmd_vrfy(struct session *s, const struct smtp_cmd *cmd)
{
	(void)cmd;
	smtp_reply(s, "252 2.5.2 Cannot verify, send some mail and see");
}

static void cmd_expn(struct session *s, const struct smtp_cmd *cmd)
{
	(void)cmd;
	smtp_reply(s, "502 5.5.1 EXPN not available");
}

static void cmd_help(struct session *s, const struct smtp_cmd *cmd)
{
	(void)cmd;
	smtp_reply(s,
		   "214 2.0.0 Commands: EHLO HELO MAIL RCPT DATA BDAT RSET NOOP QUIT VRFY HELP%s",
		   s->port != PORT_MX || s->gw_auth ? " AUTH STARTTLS" : " STARTTLS");
}

static void cmd_starttls(struct session *s, const struct smtp_cmd *cmd)
{
	if (cmd->arglen) {
		smtp_reply(s, "501 5.5.4 STARTTLS takes no argument");
		smtp_bad(s);
		return;
	}
	if (!s->srv->tls || conn_is_tls(s->c)) {
		smtp_reply(s, "503 5.5.1 TLS already active or not available");
		smtp_bad(s);
		return;
	}
	smtp_reply(s, "220 2.0.0 Ready to start TLS");
	/* forget everything learned in the clear (RFC 3207 4.2) */
	smtp_txn_reset(s);
	s->helo[0] = '\0';
	s->esmtp = 0;
	smtp_set_state(s, S_INIT);
	if (conn_starttls(s->c, s->srv->tls) < 0)
		smtp_drop(s, "starttls failed");
	else
		listener_deadline_handshake(s->dl);
}

/* --- the table ------------------------------------------------------------ */

#define S_ANY_CMD (ST(S_INIT) | ST(S_READY) | ST(S_MAIL) | ST(S_RCPT) | ST(S_BDAT))

static const struct command {
	enum smtp_verb verb;
	unsigned states;     /* where it may run */
	const char *refusal; /* 503 text elsewhere */
	void (*run)(struct session *s, const struct smtp_cmd *cmd);
} commands[] = {
    {SMTP_CMD_EHLO, ST(S_INIT) | ST(S_READY) | ST(S_MAIL) | ST(S_RCPT),
     "Finish the transaction first", cmd_helo},
    {SMTP_CMD_HELO, ST(S_INIT) | ST(S_READY) | ST(S_MAIL) | ST(S_RCPT),
     "Finish the transaction first", cmd_helo},
    {SMTP_CMD_MAIL, ST(S_READY), NULL, smtp_cmd_mail},
    {SMTP_CMD_RCPT, ST(S_MAIL) | ST(S_RCPT), "Need MAIL before RCPT", smtp_cmd_rcpt},
    {SMTP_CMD_DATA, ST(S_RCPT), NULL, smtp_cmd_data},
    {SMTP_CMD_BDAT, S_ANY_CMD, "Bad sequence", smtp_cmd_bdat},
    {SMTP_CMD_RSET, S_ANY_CMD, "Bad sequence", cmd_rset},
    {SMTP_CMD_NOOP, S_ANY_CMD, "Bad sequence", cmd_noop},
    {SMTP_CMD_QUIT, S_ANY_CMD, "Bad sequence", cmd_quit},
    {SMTP_CMD_VRFY, S_ANY_CMD & ~ST(S_BDAT), "Finish BDAT first", cmd_vrfy},
    {SMTP_CMD_EXPN, S_ANY_CMD & ~ST(S_BDAT), "Finish BDAT first", cmd_expn},
    {SMTP_CMD_HELP, S_ANY_CMD & ~ST(S_BDAT), "Finish BDAT first", cmd_help},
    {SMTP_CMD_STARTTLS, ST(S_INIT) | ST(S_READY), "STARTTLS not allowed in a transaction",
     cmd_starttls},
    {SMTP_CMD_AUTH, ST(S_READY), NULL, smtp_cmd_auth},
};

/* The 503 text for a command out of sequence, naming what is missing. */
static const char *sequence_text(struct session *s, const struct command *c)
{
	if (s->state == S_BDAT)
		return "Only BDAT, RSET, NOOP or QUIT until BDAT LAST";
	if (s->state == S_INIT && c->verb != SMTP_CMD_EHLO)
		return "Send EHLO/HELO first";
	switch (c->verb) {
	case SMTP_CMD_MAIL:
		return "Nested MAIL command";
	case SMTP_CMD_DATA:
		return s->state == S_MAIL ? "Need RCPT before DATA"
					  : "Need MAIL and RCPT before DATA";
	case SMTP_CMD_AUTH:
		return "AUTH not allowed now";
	default:
		return c->refusal ? c->refusal : "Bad sequence of commands";
	}
}

static void command_line(struct session *s, const char *line, size_t len)
{
	struct smtp_cmd cmd;
	const struct command *c = NULL;

	if (s->lifetime_over && s->state != S_BDAT) {
		smtp_lifetime_expired(s);
		return;
	}
	if (s->envelope_late && s->state != S_BDAT) {
		/* the envelope deadline passed during a BDAT series that was
		 * then reset: no message went through */
		smtp_envelope_expired(s);
		return;
	}
	if (++s->ncmd > s->srv->lim.max_commands) {
		smtp_reply(s, "421 4.7.0 %s Too many commands, closing connection",
			   s->srv->hostname);
		smtp_drop(s, "too many commands");
		return;
	}
	if (smtp_cmd_parse(line, len, &cmd) < 0) {
		smtp_reply(s, "500 5.5.2 Syntax error: malformed command line");
		smtp_bad(s);
		return;
	}
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (commands[i].verb == cmd.verb)
			c = &commands[i];
	if (!c) {
		smtp_reply(s, "500 5.5.2 Command unrecognized");
		smtp_bad(s);
		return;
	}
	if (!(c->states & ST(s->state))) {
		smtp_reply(s, "503 5.5.1 %s", sequence_text(s, c));
		smtp_bad(s);
		return;
	}
	log_debug(s->sid, "event=command verb=%s state=%s", smtp_verb_name(cmd.verb),
		  smtp_state_name(s->state));
	c->run(s, &cmd);
}

static void deadline_fire(struct evloop *ev, struct ev_timer *t, void *arg)
{
	struct session *s = arg;

	(void)ev;
	(void)t;
	if (s->state == S_CLOSED || s->state == S_DATA || s->state == S_CHUNK ||
	    s->state == S_WAIT || s->state == S_STORE)
		return;
	smtp_reply(s, "421 4.4.2 %s Timeout waiting for a command, closing", s->srv->hostname);
	smtp_drop(s, "command timeout");
}

static void envelope_fire(struct evloop *ev, struct ev_timer *t, void *arg)
{
	struct session *s = arg;

	(void)ev;
	(void)t;
	if (s->state == S_CLOSED)
		return;
	if (s->state == S_DATA || s->state == S_CHUNK || s->state == S_BDAT ||
	    s->state == S_STORE) {
		/* a message is under way: its own deadline applies */
		s->envelope_late = 1;
		return;
	}
	smtp_envelope_expired(s);
}

/* max_session_time passed (lib/service/listener's session deadline). */
static void lifetime_fire(void *arg, enum listener_deadline_kind kind)
{
	struct session *s = arg;

	if (s->state == S_CLOSED || kind != LISTENER_DL_SESSION)
		return;
	if (s->state == S_DATA || s->state == S_CHUNK || s->state == S_BDAT ||
	    s->state == S_STORE || s->state == S_WAIT) {
		/* never cut a message under way (nor a held reply): end at
		 * the next boundary */
		s->lifetime_over = 1;
		return;
	}
	smtp_lifetime_expired(s);
}

static void data_total_fire(struct evloop *ev, struct ev_timer *t, void *arg)
{
	struct session *s = arg;

	(void)ev;
	(void)t;
	if (s->state != S_DATA && s->state != S_CHUNK && s->state != S_BDAT)
		return;
	log_warn(s->sid, "event=data-deadline seconds=%llu received=%zu peer=%s",
		 (unsigned long long)s->srv->lim.timeout_data_total_s, s->dr.total, s->ip);
	smtp_reply(s, "421 4.4.2 %s Message transfer took too long, closing connection",
		   s->srv->hostname);
	smtp_drop(s, "data deadline");
}

static void session_input(struct conn *c, void *arg)
{
	struct session *s = arg;
	struct lr_line line;

	(void)c;
	if (s->state == S_GREETING) {
		/* RFC 5321 4.3.1: the client waits for the greeting */
		smtp_stat_count(s->srv, SMTP_STAT_CONN);
		log_warn(s->sid, "event=early-talker peer=%s", s->ip);
		smtp_reply(s, "554 5.5.0 %s You talked before my greeting, goodbye",
			   s->srv->hostname);
		smtp_drop(s, "early talker");
		return;
	}
	while (s->state != S_CLOSED && s->state != S_WAIT && s->state != S_STORE) {
		if (conn_outlen(s->c) > LISTENER_OUT_HIGH) {
			/* the client pipelines faster than it reads: wait */
			conn_pause(s->c, 1);
			return;
		}
		if (s->state == S_DATA || s->state == S_CHUNK) {
			if (!smtp_body_input(s))
				return;
			ev_timer_arm(s->deadline, s->srv->lim.timeout_command_s * 1000);
			continue;
		}
		int r = conn_line(s->c, &line);
		if (r == LR_NEED)
			return;
		if (r == LR_TOOLONG) {
			smtp_reply(s, "500 5.5.2 Line too long (limit %llu bytes)",
				   (unsigned long long)s->srv->lim.max_line);
			if (s->state == S_AUTH) {
				s->auth_step = AUTH_NONE;
				smtp_set_state(s, S_READY);
			}
			smtp_bad(s);
			continue;
		}
		if (!line.crlf) {
			smtp_reply(s, "500 5.5.2 Bare LF in command line: lines must end in CRLF");
			smtp_bad(s);
			continue;
		}
		ev_timer_arm(s->deadline, s->srv->lim.timeout_command_s * 1000);
		if (s->state == S_AUTH)
			smtp_auth_response(s, line.data, line.len);
		else
			command_line(s, line.data, line.len);
	}
}

static void session_writable(struct conn *c, void *arg)
{
	struct session *s = arg;

	if (s->state != S_CLOSED && s->state != S_WAIT && s->state != S_STORE)
		conn_pause(c, 0);
}

static void idle_trim_fire(struct evloop *ev, struct ev_timer *t, void *arg)
{
	struct smtpd *srv = arg;

	(void)ev;
	(void)t;
	if (listener_sessions(srv->lsn) == 0) {
		malloc_trim(0);
		pages_drop_code();
		pages_drop_stack();
	}
}

/* A second after the last session closed, the heap's free memory goes back
 * to the system (malloc_trim: freed chunks in the middle of the heap too),
 * so what a burst of sessions used does not stay in RSS while the server
 * is idle (issue 14: the idle figure went from about 450 to 320-390 KiB of
 * heap in make bench).  Each close pushes it back: never under load.  The
 * program's code pages the burst touched are dropped too (pages.h: a
 * statement prepared once, a TLS handshake), and the dead part of the
 * stack; the next session maps again, from the page cache, the few it
 * runs. */
static void idle_trim_arm(struct smtpd *srv)
{
	if (!srv->trim)
		srv->trim = ev_timer_new(srv->ev, idle_trim_fire, srv);
	ev_timer_arm(srv->trim, 1000);
}

static void session_closed(struct conn *c, void *arg, const char *reason)
{
	struct session *s = arg;
	struct smtpd *srv = s->srv;

	(void)c;
	if (s->state != S_CLOSED)
		log_info(s->sid, "event=disconnect reason=\"%s\" commands=%u bad=%u", reason,
			 s->ncmd, s->nbad);
	ev_timer_free(s->greet);
	ev_timer_free(s->deadline);
	ev_timer_free(s->delay);
	ev_timer_free(s->envelope);
	ev_timer_free(s->data_total);
	listener_deadline_free(s->dl);
	s->dl = NULL;
	s->greet = s->deadline = s->delay = s->envelope = s->data_total = NULL;
	listener_auth_free(s->auth);
	s->auth = NULL;
	*s->pprev = s->next;
	if (s->next)
		s->next->pprev = s->pprev;
	listener_session_end(srv->lsn, s->ip);
	s->c = NULL;
	smtp_set_state(s, S_CLOSED);
	if (s->in_store)
		s->orphaned = 1; /* the store thread still reads its message */
	else
		smtp_session_free(s);
	if (srv->stopping && listener_sessions(srv->lsn) == 0)
		ev_stop(srv->ev); /* the last session of a graceful stop */
	else
		idle_trim_arm(srv);
}

uint64_t smtp_wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

void smtp_greet_pass_flush(struct smtpd *srv)
{
	const char *addrs[SMTPD_PASS_PENDING];
	int64_t at[SMTPD_PASS_PENDING];
	int64_t expire = (int64_t)(smtp_wall_ms() / 1000) - (int64_t)srv->lim.greeting_pass_ttl_s;

	if (!srv->n_pending)
		return;
	for (size_t i = 0; i < srv->n_pending; i++) {
		addrs[i] = srv->pending[i].ip;
		at[i] = srv->pending[i].at;
	}
	/* one short transaction on the loop's handle, at most one per new
	 * client address a day: a pass lost to a failure costs that client
	 * one more greeting delay after a restart, nothing else */
	if (store_greet_pass_save(srv->st, addrs, at, srv->n_pending, expire) < 0)
		log_warn(NULL, "event=greet-pass-save-failed passes=%zu error=\"%s\"",
			 srv->n_pending, store_errmsg(srv->st));
	srv->n_pending = 0;
}

static void greet_save_fire(struct evloop *ev, struct ev_timer *t, void *arg)
{
	(void)ev;
	(void)t;
	smtp_greet_pass_flush(arg);
}

void smtp_greet_pass_note(struct smtpd *srv, const char *ip)
{
	if (srv->n_pending < SMTPD_PASS_PENDING) {
		snprintf(srv->pending[srv->n_pending].ip, sizeof(srv->pending[0].ip), "%s", ip);
		srv->pending[srv->n_pending].at = (int64_t)(smtp_wall_ms() / 1000);
		srv->n_pending++;
	}
	if (!srv->greet_save)
		srv->greet_save = ev_timer_new(srv->ev, greet_save_fire, srv);
	/* a moment later, so passes arriving together share one write */
	if (!ev_timer_armed(srv->greet_save))
		ev_timer_arm(srv->greet_save, 100);
}

static void greet(struct session *s)
{
	smtp_set_state(s, S_INIT);
	smtp_reply(s, "220 %s ESMTP Loft", s->srv->hostname);
	ev_timer_arm(s->deadline, s->srv->lim.timeout_command_s * 1000);
}

static void greet_fire(struct evloop *ev, struct ev_timer *t, void *arg)
{
	struct session *s = arg;
	const char *p;

	(void)ev;
	(void)t;
	if (s->state != S_GREETING)
		return;
	if (conn_pending(s->c, &p) > 0) {
		session_input(s->c, s);
		return;
	}
	if (s->port == PORT_MX && s->srv->lim.greeting_delay_ms &&
	    greetpass_add(s->srv->passed, s->ip, smtp_wall_ms()))
		smtp_greet_pass_note(s->srv, s->ip);
	greet(s);
}

/* The MX port waits greeting_delay_ms before the banner for a client
 * address not seen pass that check within greeting_pass_ttl; submission
 * clients authenticate and never wait (a phone would wait before every
 * send). */
static void greet_start(struct session *s)
{
	struct smtpd *srv = s->srv;

	if (s->port != PORT_MX) {
		greet(s);
		return;
	}
	if (srv->lim.greeting_delay_ms && greetpass_known(srv->passed, s->ip, smtp_wall_ms())) {
		log_debug(s->sid, "event=greeting-pass peer=%s", s->ip);
		greet(s);
		return;
	}
	ev_timer_arm(s->greet, srv->lim.greeting_delay_ms);
}

static void session_tls_ready(struct conn *c, void *arg)
{
	struct session *s = arg;

	listener_deadline_tls_up(s->dl);
	log_debug(s->sid, "event=tls version=%s cipher=%s", conn_tls_version(c),
		  conn_tls_cipher(c));
	/* implicit TLS: the greeting once TLS is up */
	if (s->state == S_GREETING)
		greet_start(s);
}

static void session_timeout(struct conn *c, void *arg)
{
	struct session *s = arg;

	(void)c;
	if (s->state != S_CLOSED)
		smtp_reply(s, "421 4.4.2 %s Timeout, closing connection", s->srv->hostname);
	smtp_drop(s, "idle timeout");
}

static const struct conn_cbs session_cbs = {
    .input = session_input,
    .timeout = session_timeout,
    .closed = session_closed,
    .writable = session_writable,
    .tls_ready = session_tls_ready,
};

void smtp_session_accept(void *arg, int fd, const struct sockaddr *peer, const char *ip, int port,
			 int implicit_tls)
{
	struct smtpd *srv = arg;
	struct session *s;
	static const char *const pname[] = {"mx", "submission", "submissions", "gateway"};
	int gateway = port == PORT_GATEWAY;
	/* not from the gateway's addresses: with a gateway account (and TLS
	 * to carry its password) the client may still log in as it */
	int gw_auth =
	    gateway && net_ip_in_nets(ip, srv->gw.from) != 1 && srv->gw.user[0] && srv->tls;

	if (gateway && !gw_auth && net_ip_in_nets(ip, srv->gw.from) != 1) {
		/* RFC 5321 3.1: a server may answer 554 instead of the greeting;
		 * the fresh socket's send buffer takes the line without waiting */
		static const char refuse[] = "554 5.7.1 This port takes mail only from the "
					     "inbound gateway\r\n";
		ssize_t w = send(fd, refuse, sizeof(refuse) - 1, MSG_DONTWAIT | MSG_NOSIGNAL);
		(void)w;
		close(fd);
		smtp_stat_count(srv, SMTP_STAT_CONN);
		listener_session_end(srv->lsn, ip);
		log_warn(NULL,
			 "event=gateway-refused peer=%s reason=\"not in the gateway's addresses\"",
			 ip);
		return;
	}
	s = calloc(1, sizeof(*s));
	if (!s)
		bug("out of memory");
	(void)implicit_tls; /* the port says it: submissions */
	s->srv = srv;
	/* a gateway session is an MX session: same receiving code, no relay */
	s->port = gateway ? PORT_MX : (enum smtpd_port)port;
	s->gw_auth = gw_auth;
	if (gw_auth)
		log_info(NULL, "event=gateway-auth-needed peer=%s", ip);
	snprintf(s->ip, sizeof(s->ip), "%s", ip);
	s->c = conn_new(srv->ev, fd, peer, &session_cbs, s, srv->lim.max_line, 256 * 1024);
	snprintf(s->sid, sizeof(s->sid), "%s", conn_sid(s->c));
	s->auth = listener_auth_new(srv->ev, srv->al, srv->ac, s->ip);
	s->greet = ev_timer_new(srv->ev, greet_fire, s);
	s->deadline = ev_timer_new(srv->ev, deadline_fire, s);
	s->delay = ev_timer_new(srv->ev, smtp_auth_refused_fire, s);
	s->envelope = ev_timer_new(srv->ev, envelope_fire, s);
	s->data_total = ev_timer_new(srv->ev, data_total_fire, s);
	ev_timer_arm(s->envelope, srv->lim.timeout_envelope_s * 1000);
	/* RFC 5321's command timeout is the idle time; no login deadline
	 * (MX clients never log in); max_session_s 0: no limit */
	struct listener_deadlines dl = {.handshake_ms = srv->lim.handshake_timeout_s * 1000,
					.idle_ms = srv->lim.timeout_command_s * 1000,
					.idle_authed_ms = srv->lim.timeout_command_s * 1000,
					.session_ms = srv->lim.max_session_s * 1000};
	s->dl = listener_deadline_new(srv->ev, s->c, &dl, lifetime_fire, s);
	conn_set_lowmark(s->c, LISTENER_OUT_LOW);
	s->next = srv->sessions;
	s->pprev = &srv->sessions;
	if (s->next)
		s->next->pprev = &s->next;
	srv->sessions = s;
	smtp_set_state(s, S_GREETING);
	log_info(s->sid, "event=connect peer=%s port=%s sessions=%u", ip, pname[port],
		 listener_sessions(srv->lsn));
	if (s->port == PORT_SUBMISSIONS) {
		if (!srv->tls || conn_tls_server(s->c, srv->tls) < 0) {
			conn_close(s->c, 0, "no tls");
			smtp_set_state(s, S_CLOSED);
			return;
		}
		listener_deadline_handshake(s->dl);
		return; /* the greeting waits for tls_ready */
	}
	greet_start(s);
}

void smtp_session_stop_all(struct smtpd *srv)
{
	struct session *s, *next;

	for (s = srv->sessions; s; s = next) {
		next = s->next;
		if (s->state == S_DATA || s->state == S_CHUNK || s->state == S_BDAT ||
		    s->state == S_STORE || s->state == S_CLOSED)
			continue; /* a message in flight finishes first */
		if (s->state != S_GREETING)
			smtp_reply(s, "421 4.3.2 %s Service shutting down", srv->hostname);
		smtp_drop(s, "stopping");
	}
}
