/*
 * An SMTP session's replies and state changes, and the end of a session,
 * shared by session.c, txn.c and auth.c.
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
#include "log.h"
#include "session.h"

static const char *const state_names[] = {
    [S_GREETING] = "greeting", [S_INIT] = "init", [S_READY] = "ready", [S_MAIL] = "mail",
    [S_RCPT] = "rcpt",	       [S_BDAT] = "bdat", [S_DATA] = "data",   [S_CHUNK] = "chunk",
    [S_AUTH] = "auth",	       [S_WAIT] = "wait", [S_STORE] = "store", [S_CLOSED] = "closed",
};

const char *smtp_state_name(enum state st)
{
	return state_names[st];
}

void smtp_set_state(struct session *s, enum state st)
{
	if (s->state != st)
		log_debug(s->sid, "event=state from=%s to=%s", state_names[s->state],
			  state_names[st]);
	s->state = st;
}

void smtp_reply(struct session *s, const char *fmt, ...)
{
	char line[1024];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line) - 2, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(line) - 2)
		bug("reply too long");
	memcpy(line + n, "\r\n", 3);
	if (conn_write(s->c, line, (size_t)n + 2) < 0) {
		/* the client does not read its replies */
		conn_close(s->c, 0, "output full");
		smtp_set_state(s, S_CLOSED);
	}
}

/* Ends the session after a last reply.  Its timers are disarmed: closed()
 * runs later (after the flush), and a held AUTH reply or a deadline must not
 * fire on a session that is already gone. */
void smtp_drop(struct session *s, const char *why)
{
	log_info(s->sid, "event=disconnect reason=\"%s\" commands=%u bad=%u", why, s->ncmd,
		 s->nbad);
	ev_timer_disarm(s->delay);
	ev_timer_disarm(s->deadline);
	ev_timer_disarm(s->envelope);
	ev_timer_disarm(s->data_total);
	/* the session deadline (s->dl) checks S_CLOSED itself */
	conn_close(s->c, 1, why);
	smtp_set_state(s, S_CLOSED);
}

void smtp_lifetime_expired(struct session *s)
{
	log_warn(s->sid, "event=session-deadline seconds=%llu state=%s peer=%s",
		 (unsigned long long)s->srv->lim.max_session_s, smtp_state_name(s->state), s->ip);
	smtp_reply(s, "421 4.4.2 %s Session time limit reached, closing connection",
		   s->srv->hostname);
	smtp_drop(s, "session deadline");
}

/* A bad command: counted; too many end the session.  Returns 1 if the
 * session was dropped. */
int smtp_bad(struct session *s)
{
	if (++s->nbad >= s->srv->lim.max_bad_commands) {
		smtp_reply(s, "421 4.7.0 %s Too many errors, closing connection", s->srv->hostname);
		smtp_drop(s, "too many errors");
		return 1;
	}
	return 0;
}
