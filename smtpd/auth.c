/*
 * SMTP AUTH (RFC 4954): PLAIN and LOGIN, on submission ports after TLS;
 * passwords checked through lib/service/listener (off the loop, under
 * the throttle) and never logged.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "conn.h"
#include "evloop.h"
#include "listener.h"
#include "log.h"
#include "sasl.h"
#include "session.h"
#include "store_users.h"

/* --- AUTH ----------------------------------------------------------------- */

/* A throttled AUTH's answer, a second after the attempt. */
void smtp_auth_refused_fire(struct evloop *ev, struct ev_timer *t, void *arg)
{
	struct session *s = arg;

	(void)ev;
	(void)t;
	if (s->state != S_WAIT)
		return; /* dropped (a stop, a deadline) while the reply was held */
	smtp_stat_count(s->srv, SMTP_STAT_AUTH);
	smtp_reply(s, "454 4.7.0 Too many authentication failures, try again later");
	smtp_drop(s, "auth refused");
}

/* A right password on the gateway port: only the gateway account
 * (inbound.gateway_user) may pass, and it gets no more than the listed
 * addresses get, an MX session (mail for local recipients); it is not
 * "authed" in the submission sense (no relaying out, no sender check). */
static void gateway_auth_done(struct session *s, int64_t uid, const char *q)
{
	int64_t gw_uid = -1;
	int r = store_user_find(s->srv->st, s->srv->gw.user, &gw_uid);

	if (r == 0 && gw_uid == uid) {
		s->gw_auth = 2;
		log_info(s->sid, "event=gateway-auth result=ok user=%s peer=%s", q, s->ip);
		smtp_set_state(s, S_READY);
		smtp_reply(s, "235 2.7.0 Authentication successful: gateway");
		conn_pause(s->c, 0);
		return;
	}
	if (r < 0 && r != STORE_NOTFOUND)
		log_err(s->sid, "event=store-failed error=\"%s\"", store_errmsg(s->srv->st));
	log_warn(s->sid, "event=gateway-auth result=refused user=%s peer=%s reason=\"%s\"", q,
		 s->ip, r == 0 ? "not the gateway account" : "no gateway account");
	smtp_set_state(s, S_READY);
	smtp_reply(s, "535 5.7.8 This account may not use the gateway port");
	if (smtp_bad(s))
		return;
	conn_pause(s->c, 0);
}

/* The login's answer from lib/service/listener (on the loop), after the
 * failure delay authlimit asked for, counted from the attempt. */
static void auth_done(void *arg, int result, int64_t uid)
{
	struct session *s = arg;
	char q[300];

	/* dropped by a stop while the check ran: closed() is on its way */
	if (s->state == S_CLOSED)
		return;
	log_quote(q, sizeof(q), s->login_user, strlen(s->login_user));
	if (result == 1 && s->gw_auth == 1) {
		gateway_auth_done(s, uid, q);
		return;
	}
	if (result == 1) {
		if (store_user_address(s->srv->st, uid, s->user, sizeof(s->user)) < 0)
			snprintf(s->user, sizeof(s->user), "%s", s->login_user);
		s->authed = 1;
		s->user_id = uid;
		log_info(s->sid, "event=auth result=ok user=%s peer=%s", s->user, s->ip);
		smtp_set_state(s, S_READY);
		smtp_reply(s, "235 2.7.0 Authentication successful");
		conn_pause(s->c, 0);
		return;
	}
	if (result < 0) {
		smtp_set_state(s, S_READY);
		smtp_reply(s, "454 4.7.0 Temporary authentication failure");
		conn_pause(s->c, 0);
		return;
	}
	log_warn(s->sid, "event=auth result=failed user=%s peer=%s password=%s", q, s->ip,
		 LOG_SECRET);
	smtp_stat_count(s->srv, SMTP_STAT_AUTH);
	if (smtp_bad(s))
		return;
	smtp_set_state(s, S_READY);
	smtp_reply(s, "535 5.7.8 Authentication credentials invalid");
	if (s->lifetime_over) {
		smtp_lifetime_expired(s);
		return;
	}
	conn_pause(s->c, 0);
}

/* Checks the credentials (on an authcheck worker: a password hash costs
 * tens of ms that must not stall other sessions) and answers, after the
 * growing delay authlimit asks for when there were failures. */
static void auth_finish(struct session *s, const char *user, const char *pass)
{
	char q[300];
	int rc;

	s->auth_step = AUTH_NONE;
	if (strlen(user) > STORE_ADDR_MAX) {
		/* no such account can exist; never check a truncated name */
		smtp_stat_count(s->srv, SMTP_STAT_AUTH);
		listener_auth_fail(s->auth, NULL);
		smtp_set_state(s, S_READY);
		smtp_reply(s, "535 5.7.8 Authentication credentials invalid");
		smtp_bad(s);
		return;
	}
	if (user != s->login_user)
		snprintf(s->login_user, sizeof(s->login_user), "%s", user);
	rc = listener_auth_start(s->auth, s->login_user, pass, auth_done, s);
	if (rc == LISTENER_AUTH_REFUSED) {
		log_quote(q, sizeof(q), user, strlen(user));
		log_warn(s->sid, "event=auth result=refused user=%s peer=%s password=%s", q, s->ip,
			 LOG_SECRET);
		/* answered a second later, then closed: a client that retries
		 * at once gets nothing from it */
		smtp_set_state(s, S_WAIT);
		conn_pause(s->c, 1);
		ev_timer_arm(s->delay, 1000);
		return;
	}
	if (rc == LISTENER_AUTH_BUSY) {
		smtp_set_state(s, S_READY);
		smtp_reply(s, "454 4.7.0 Temporary authentication failure, try again");
		return;
	}
	smtp_set_state(s, S_WAIT);
	conn_pause(s->c, 1);
}

/* A base64 SASL response line (or an initial response). */
void smtp_auth_response(struct session *s, const char *line, size_t len)
{
	char dec[STORE_PASSWORD_MAX + 2 * STORE_ADDR_MAX + 8];
	long n;

	if (len == 1 && line[0] == '*') {
		s->auth_step = AUTH_NONE;
		smtp_set_state(s, S_READY);
		smtp_reply(s, "501 5.0.0 Authentication cancelled");
		return;
	}
	n = sasl_b64_decode(line, len, (unsigned char *)dec, sizeof(dec) - 1);
	if (n < 0) {
		s->auth_step = AUTH_NONE;
		smtp_set_state(s, S_READY);
		smtp_reply(s, "501 5.5.2 Cannot decode the response");
		smtp_bad(s);
		return;
	}
	switch (s->auth_step) {
	case AUTH_PLAIN: {
		const char *user, *pass;
		if (sasl_plain_split(dec, (size_t)n, &user, &pass) < 0) {
			s->auth_step = AUTH_NONE;
			smtp_set_state(s, S_READY);
			smtp_reply(s, "501 5.5.2 Malformed PLAIN response");
			smtp_bad(s);
			break;
		}
		auth_finish(s, user, pass);
		break;
	}
	case AUTH_LOGIN_USER:
		if (n == 0 || (size_t)n > STORE_ADDR_MAX || memchr(dec, '\0', (size_t)n)) {
			s->auth_step = AUTH_NONE;
			smtp_set_state(s, S_READY);
			smtp_reply(s, "501 5.5.2 Malformed user name");
			smtp_bad(s);
			break;
		}
		memcpy(s->login_user, dec, (size_t)n);
		s->login_user[n] = '\0';
		s->auth_step = AUTH_LOGIN_PASS;
		smtp_reply(s, "334 UGFzc3dvcmQ6"); /* "Password:" */
		break;
	case AUTH_LOGIN_PASS:
		dec[n] = '\0';
		if (n == 0 || memchr(dec, '\0', (size_t)n)) {
			s->auth_step = AUTH_NONE;
			smtp_set_state(s, S_READY);
			smtp_reply(s, "501 5.5.2 Malformed password");
			smtp_bad(s);
			break;
		}
		auth_finish(s, s->login_user, dec);
		break;
	default:
		bug("auth response in step %d", s->auth_step);
	}
	explicit_bzero(dec, sizeof(dec));
}

void smtp_cmd_auth(struct session *s, const struct smtp_cmd *cmd)
{
	const char *sp = memchr(cmd->arg, ' ', cmd->arglen);
	size_t mlen = sp ? (size_t)(sp - cmd->arg) : cmd->arglen;
	const char *ir = sp ? sp + 1 : NULL;
	size_t irlen = sp ? cmd->arglen - mlen - 1 : 0;

	if (s->port == PORT_MX && s->gw_auth != 1) {
		smtp_reply(s, s->gw_auth
				  ? "503 5.5.1 Already authenticated"
				  : "503 5.5.1 AUTH is offered on the submission ports only");
		smtp_bad(s);
		return;
	}
	if (!conn_is_tls(s->c)) {
		smtp_reply(s, "538 5.7.11 Encryption required: STARTTLS first");
		smtp_bad(s);
		return;
	}
	if (s->authed) {
		smtp_reply(s, "503 5.5.1 Already authenticated");
		smtp_bad(s);
		return;
	}
	if (mlen == 5 && strncasecmp(cmd->arg, "PLAIN", 5) == 0) {
		s->auth_step = AUTH_PLAIN;
	} else if (mlen == 5 && strncasecmp(cmd->arg, "LOGIN", 5) == 0) {
		s->auth_step = AUTH_LOGIN_USER;
	} else {
		smtp_reply(s, "504 5.5.4 Unrecognized authentication mechanism");
		smtp_bad(s);
		return;
	}
	smtp_set_state(s, S_AUTH);
	if (ir) {
		/* "=" is an empty initial response (RFC 4954 4) */
		if (irlen == 1 && ir[0] == '=')
			irlen = 0;
		smtp_auth_response(s, ir, irlen);
		return;
	}
	smtp_reply(s, s->auth_step == AUTH_PLAIN ? "334 " : "334 VXNlcm5hbWU6"); /* "Username:" */
}
