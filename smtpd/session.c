/*
 * One SMTP session: the state machine and the command table.
 *
 * Input comes from lib/conn (bounded line reader, TLS, idle timeout).  Each
 * command is looked up in commands[], refused with 503 unless the session
 * is in one of the states the entry allows, then run.  Replies carry RFC
 * 3463 enhanced status codes, every one of them.
 *
 * Relay protection lives in cmd_rcpt(): a recipient is accepted only when
 * its domain is local and the store resolves it, or when the session is
 * authenticated (submission ports, after TLS).  Address tricks never get
 * that far: parser.c refuses them.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "authcheck.h"
#include "authlimit.h"
#include "conn.h"
#include "daemon.h"
#include "data.h"
#include "evloop.h"
#include "log.h"
#include "net.h"
#include "parser.h"
#include "sasl.h"
#include "smtpd.h"
#include "store.h"
#include "strnum.h"

enum state {
	S_GREETING, /* greeting not sent yet: any input is an early talker */
	S_INIT,	    /* greeted, no EHLO/HELO yet */
	S_READY,    /* EHLO done, no transaction */
	S_MAIL,	    /* MAIL accepted */
	S_RCPT,	    /* at least one RCPT accepted */
	S_BDAT,	    /* between BDAT chunks (the last one not seen yet) */
	S_DATA,	    /* reading DATA text */
	S_CHUNK,    /* reading a BDAT chunk's bytes */
	S_AUTH,	    /* in a SASL exchange */
	S_WAIT,	    /* answer held back (AUTH failure delay) */
	S_STORE,    /* message waiting for the group commit */
	S_CLOSED,   /* QUIT or a fatal error: input ignored */
};

static const char *const state_names[] = {
    [S_GREETING] = "greeting", [S_INIT] = "init", [S_READY] = "ready", [S_MAIL] = "mail",
    [S_RCPT] = "rcpt",	       [S_BDAT] = "bdat", [S_DATA] = "data",   [S_CHUNK] = "chunk",
    [S_AUTH] = "auth",	       [S_WAIT] = "wait", [S_STORE] = "store", [S_CLOSED] = "closed",
};

#define ST(s) (1u << (s))

#define OUT_HIGH 16384 /* stop reading commands while this much output waits */
/* DATA/BDAT bytes are taken raw from the conn's line reader, whose buffer
 * holds twice this: big enough for few wake-ups, small enough per session */
#define DATA_READ_LINE 8192

enum auth_step { AUTH_NONE, AUTH_PLAIN, AUTH_LOGIN_USER, AUTH_LOGIN_PASS };

struct session {
	struct smtpd *srv;
	struct conn *c;
	struct session *next, **pprev;
	enum smtpd_port port;
	enum state state;
	char sid[24];
	char ip[64];
	char helo[256];
	int esmtp;
	unsigned ncmd, nbad;
	struct ev_timer *greet, *deadline, *delay;
	/* total deadlines (slowloris: the idle timers are re-armed by any
	 * byte): envelope runs from connect or the end of the last message to
	 * the next message's end; data from DATA or the first BDAT to the end */
	struct ev_timer *envelope, *data_total, *lifetime;
	int envelope_late; /* envelope passed while a message was in flight */
	int lifetime_over; /* max_session_time passed while a message was in flight */

	/* authentication */
	int authed;
	int64_t user_id;
	char user[STORE_ADDR_MAX + 1];
	enum auth_step auth_step;
	char login_user[STORE_ADDR_MAX + 1];
	struct authcheck_job *auth_job; /* a password check in flight */
	int64_t auth_delay;		/* authlimit's delay for this attempt */
	uint64_t auth_started;
	char held_reply[128]; /* sent when the delay timer fires */
	int held_close;

	/* transaction */
	struct smtp_path from;
	int smtputf8;
	size_t n_rcpt;
	int64_t *users;
	size_t n_users, cap_users;
	char **remote;
	size_t n_remote, cap_remote;
	struct buf body;
	size_t body_counted; /* body.len as counted in srv->body_in_flight */
	struct smtp_data dr;
	uint64_t chunk_left;
	int chunk_last;
	int bdat_bad; /* chunks are read but the transaction is void */

	/* a finished message waiting for the group commit */
	struct deliver_req req;
	struct deliver_ready ready;
	const char **remote_ptrs;
	size_t cap_remote_ptrs;
	struct commit_job job;
	int in_store; /* job is with the store thread */
	int orphaned; /* the conn is gone; free when the job is back */
};

static void session_input(struct conn *c, void *arg);
static void session_free(struct session *s);

static void set_state(struct session *s, enum state st)
{
	if (s->state != st)
		log_debug(s->sid, "event=state from=%s to=%s", state_names[s->state],
			  state_names[st]);
	s->state = st;
}

/* --- replies -------------------------------------------------------------- */

static void reply(struct session *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void reply(struct session *s, const char *fmt, ...)
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
		set_state(s, S_CLOSED);
	}
}

/* Ends the session after a last reply.  Its timers are disarmed: closed()
 * runs later (after the flush), and a held AUTH reply or a deadline must not
 * fire on a session that is already gone. */
static void drop(struct session *s, const char *why)
{
	log_info(s->sid, "event=disconnect reason=\"%s\" commands=%u bad=%u", why, s->ncmd,
		 s->nbad);
	ev_timer_disarm(s->delay);
	ev_timer_disarm(s->deadline);
	ev_timer_disarm(s->envelope);
	ev_timer_disarm(s->data_total);
	ev_timer_disarm(s->lifetime);
	conn_close(s->c, 1, why);
	set_state(s, S_CLOSED);
}

/* A bad command: counted; too many end the session.  Returns 1 if the
 * session was dropped. */
static int bad(struct session *s)
{
	if (++s->nbad >= s->srv->lim.max_bad_commands) {
		reply(s, "421 4.7.0 %s Too many errors, closing connection", s->srv->hostname);
		drop(s, "too many errors");
		return 1;
	}
	return 0;
}

/* --- transaction ---------------------------------------------------------- */

/* Brings srv->body_in_flight up to date with this session's body. */
static void body_account(struct session *s)
{
	s->srv->body_in_flight = s->srv->body_in_flight - s->body_counted + s->body.len;
	s->body_counted = s->body.len;
}

/* Frees the body buffer (storage too: a finished 20 MB message must not
 * keep 20 MB per session) and gives its bytes back to the budget. */
static void body_release(struct session *s)
{
	buf_free(&s->body);
	body_account(s);
}

static void txn_reset(struct session *s)
{
	memset(&s->from, 0, sizeof(s->from));
	s->smtputf8 = 0;
	s->n_rcpt = 0;
	s->n_users = 0;
	for (size_t i = 0; i < s->n_remote; i++)
		free(s->remote[i]);
	s->n_remote = 0;
	body_release(s);
	s->bdat_bad = 0;
	s->chunk_left = 0;
	s->chunk_last = 0;
}

static int add_user(struct session *s, int64_t id)
{
	for (size_t i = 0; i < s->n_users; i++)
		if (s->users[i] == id)
			return 0;
	if (s->n_users == s->cap_users) {
		size_t cap = s->cap_users ? s->cap_users * 2 : 8;
		int64_t *n = realloc(s->users, cap * sizeof(*n));
		if (!n)
			return -1;
		s->users = n;
		s->cap_users = cap;
	}
	s->users[s->n_users++] = id;
	return 0;
}

static int add_remote(struct session *s, const char *addr)
{
	for (size_t i = 0; i < s->n_remote; i++)
		if (strcmp(s->remote[i], addr) == 0)
			return 0;
	if (s->n_remote == s->cap_remote) {
		size_t cap = s->cap_remote ? s->cap_remote * 2 : 8;
		char **n = realloc(s->remote, cap * sizeof(*n));
		if (!n)
			return -1;
		s->remote = n;
		s->cap_remote = cap;
	}
	if (!(s->remote[s->n_remote] = strdup(addr)))
		return -1;
	s->n_remote++;
	return 0;
}

/* Prepares the body buffer: the gap for trace headers, then the text. */
static void body_begin(struct session *s, int raw)
{
	buf_init(&s->body, DELIVER_GAP + s->srv->lim.max_message_size);
	if (buf_append(&s->body, "", 0) < 0 || s->body.max < DELIVER_GAP)
		bug("body buffer");
	/* reserve the gap (contents written at the end) */
	static const char zeros[256];
	for (size_t k = 0; k < DELIVER_GAP; k += sizeof(zeros))
		if (buf_append(&s->body, zeros, sizeof(zeros)) < 0)
			bug("body gap");
	smtp_data_init(&s->dr, &s->body, s->srv->lim.max_data_line, raw);
	body_account(s);
	ev_timer_arm(s->data_total, s->srv->lim.timeout_data_total_s * 1000);
}

/* Before up to n more body bytes go in: when they would pass the server's
 * budget for bodies in flight, this message stops being kept (it is read to
 * its end and refused with 452, see message_end) and its memory is given
 * back at once.  A body that passed the size limit is dropped the same
 * way.  The budget is checked against n, an upper bound (unstuffing only
 * shrinks), so the sum never passes it. */
static void body_budget(struct session *s, size_t n)
{
	unsigned flags = smtp_data_flags(&s->dr);

	if (flags & (SMTP_DATA_NOROOM | SMTP_DATA_TOOBIG)) {
		if (s->body.data)
			body_release(s);
		return;
	}
	if (s->srv->body_in_flight + n <= s->srv->lim.max_body_in_flight)
		return;
	log_warn(s->sid, "event=body-budget-full held=%zu in_flight=%llu max=%llu peer=%s",
		 s->body.len, (unsigned long long)s->srv->body_in_flight,
		 (unsigned long long)s->srv->lim.max_body_in_flight, s->ip);
	smtp_data_discard(&s->dr);
	body_release(s);
}

/* The session reached smtpd.max_session_time. */
static void lifetime_expired(struct session *s)
{
	log_warn(s->sid, "event=session-deadline seconds=%llu state=%s peer=%s",
		 (unsigned long long)s->srv->lim.max_session_s, state_names[s->state], s->ip);
	reply(s, "421 4.4.2 %s Session time limit reached, closing connection", s->srv->hostname);
	drop(s, "session deadline");
}

/* Back to READY after a message, whatever became of it. */
static void message_finished(struct session *s)
{
	txn_reset(s);
	/* a message went through: the envelope deadline starts again */
	ev_timer_disarm(s->data_total);
	ev_timer_arm(s->envelope, s->srv->lim.timeout_envelope_s * 1000);
	s->envelope_late = 0;
	conn_set_maxline(s->c, s->srv->lim.max_line);
	set_state(s, S_READY);
	if (s->lifetime_over) {
		lifetime_expired(s);
	} else if (s->srv->stopping) {
		reply(s, "421 4.3.2 %s Service shutting down", s->srv->hostname);
		drop(s, "stopping");
	}
}

void session_committed(struct commit_job *job)
{
	struct session *s = job->owner;

	s->in_store = 0;
	if (s->orphaned) {
		/* the client left while its message was being stored: it got
		 * no 250, so it will send again; a duplicate is allowed */
		session_free(s);
		return;
	}
	if (job->ok) {
		deliver_log(&s->req, &s->ready);
		log_debug(s->sid, "event=committed batch=%zu", job->batch);
		reply(s, "250 2.0.0 Ok: stored as %lld", (long long)s->ready.message_id);
	} else {
		char q[200];
		log_quote(q, sizeof(q), job->err, strlen(job->err));
		log_err(s->sid, "event=store-failed error=%s", q);
		reply(s, "451 4.3.0 Temporary failure storing the message, try again");
	}
	if (s->state == S_CLOSED)
		return;
	message_finished(s);
	if (s->state != S_CLOSED)
		conn_pause(s->c, 0);
}

/* The whole message is in: check it, then queue it for the next group
 * commit (or reply with the refusal at once). */
static void message_end(struct session *s)
{
	unsigned flags = s->dr.raw ? smtp_data_finish(&s->dr) : smtp_data_flags(&s->dr);
	char line[300];

	if ((flags & SMTP_DATA_TOOBIG) || s->dr.total > s->srv->lim.max_message_size) {
		reply(s, "552 5.3.4 Message exceeds the size limit of %llu bytes",
		      (unsigned long long)s->srv->lim.max_message_size);
	} else if (flags & SMTP_DATA_NOROOM) {
		/* RFC 5321 4.2.2 / RFC 3463 X.3.1: temporary, the client retries */
		reply(s, "452 4.3.1 Insufficient system storage, try again later");
	} else if (flags & SMTP_DATA_BARE) {
		/* smuggling defence: see data.h */
		log_warn(s->sid, "event=refused reason=bare-cr-lf from=<%s>", s->from.addr);
		reply(s, "550 5.6.0 Message refused: bare CR or LF (lines must end in CRLF)");
	} else if (flags & SMTP_DATA_NUL) {
		reply(s, "550 5.6.0 Message refused: NUL byte in message");
	} else if (flags & SMTP_DATA_LONGLINE) {
		reply(s, "550 5.5.2 Message refused: line longer than %llu bytes",
		      (unsigned long long)s->srv->lim.max_data_line);
	} else if (s->body.len == DELIVER_GAP) {
		reply(s, "550 5.6.0 Empty message");
	} else {
		if (s->n_remote > s->cap_remote_ptrs) {
			const char **np = realloc(s->remote_ptrs, s->n_remote * sizeof(*np));
			if (!np) {
				reply(s, "452 4.3.1 Out of memory");
				message_finished(s);
				return;
			}
			s->remote_ptrs = np;
			s->cap_remote_ptrs = s->n_remote;
		}
		for (size_t i = 0; i < s->n_remote; i++)
			s->remote_ptrs[i] = s->remote[i];
		s->req = (struct deliver_req){
		    .srv = s->srv,
		    .sid = s->sid,
		    .helo = s->helo,
		    .peer_ip = s->ip,
		    .esmtp = s->esmtp,
		    .tls_version = conn_tls_version(s->c),
		    .tls_cipher = conn_tls_cipher(s->c),
		    .auth_user = s->authed ? s->user : NULL,
		    .auth_user_id = s->user_id,
		    .submission = s->port != PORT_MX,
		    .mail_from = s->from.null ? "" : s->from.addr,
		    .users = s->users,
		    .n_users = s->n_users,
		    .remote = s->remote_ptrs,
		    .n_remote = s->n_remote,
		    .body = &s->body,
		};
		if (deliver_prepare(&s->req, &s->ready, line, sizeof(line)) < 0) {
			reply(s, "%s", line);
		} else {
			/* wait for the commit: no input is read meanwhile */
			set_state(s, S_STORE);
			conn_pause(s->c, 1);
			s->job.req = &s->req;
			s->job.ready = &s->ready;
			s->job.owner = s;
			s->in_store = 1;
			commit_submit(s->srv, &s->job);
			return;
		}
	}
	message_finished(s);
}

/* No message began and ended within timeout_envelope_s of the connect or
 * of the last message. */
static void envelope_expired(struct session *s)
{
	log_warn(s->sid, "event=envelope-deadline seconds=%llu state=%s peer=%s",
		 (unsigned long long)s->srv->lim.timeout_envelope_s, state_names[s->state], s->ip);
	reply(s, "421 4.4.2 %s Too long without a message, closing connection", s->srv->hostname);
	drop(s, "envelope deadline");
}

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
		reply(s, "501 5.5.4 Syntax: %s hostname", smtp_verb_name(cmd->verb));
		bad(s);
		return;
	}
	txn_reset(s);
	memcpy(s->helo, cmd->arg, cmd->arglen);
	s->helo[cmd->arglen] = '\0';
	s->esmtp = cmd->verb == SMTP_CMD_EHLO;
	set_state(s, S_READY);
	if (!s->esmtp) {
		reply(s, "250 %s", s->srv->hostname);
		return;
	}
	int tls = conn_is_tls(s->c);
	reply(s, "250-%s Hello %s [%s]", s->srv->hostname, s->helo, s->ip);
	reply(s, "250-PIPELINING");
	reply(s, "250-SIZE %llu", (unsigned long long)s->srv->lim.max_message_size);
	reply(s, "250-8BITMIME");
	reply(s, "250-SMTPUTF8");
	reply(s, "250-CHUNKING");
	if (!tls && s->srv->tls)
		reply(s, "250-STARTTLS");
	if (tls && s->port != PORT_MX && !s->authed)
		reply(s, "250-AUTH PLAIN LOGIN");
	reply(s, "250 ENHANCEDSTATUSCODES");
}

static void cmd_mail(struct session *s, const struct smtp_cmd *cmd)
{
	int r;

	if (s->port != PORT_MX && !s->authed) {
		reply(s, "530 5.7.0 Authentication required");
		bad(s);
		return;
	}
	r = smtp_path_parse(cmd->arg, cmd->arglen, 1, 0, &s->from);
	switch (r) {
	case SMTP_ADDR_OK:
		break;
	case SMTP_ADDR_BADPARAM:
		reply(s, "555 5.5.4 Unsupported or malformed MAIL parameter");
		break;
	case SMTP_ADDR_UTF8:
		reply(s, "553 5.6.7 Non-ASCII address needs the SMTPUTF8 parameter");
		break;
	case SMTP_ADDR_TOOLONG:
		reply(s, "501 5.1.7 Sender address too long");
		break;
	default:
		reply(s, "501 5.1.7 Bad sender address syntax");
		break;
	}
	if (r != SMTP_ADDR_OK) {
		memset(&s->from, 0, sizeof(s->from));
		bad(s);
		return;
	}
	if (s->from.body == SMTP_BODY_BINARYMIME) {
		reply(s, "555 5.5.4 BINARYMIME is not offered here");
		memset(&s->from, 0, sizeof(s->from));
		bad(s);
		return;
	}
	if (s->from.has_size && s->from.size > s->srv->lim.max_message_size) {
		reply(s, "552 5.3.4 Message size exceeds the limit of %llu bytes",
		      (unsigned long long)s->srv->lim.max_message_size);
		memset(&s->from, 0, sizeof(s->from));
		return;
	}
	if (s->authed) {
		if (s->from.null ||
		    store_address_owned_by(s->srv->st, s->user_id, s->from.addr) != 1) {
			char q[300];
			log_quote(q, sizeof(q), s->from.addr, strlen(s->from.addr));
			log_warn(s->sid, "event=sender-refused field=mail-from address=%s user=%s",
				 q, s->user);
			reply(s, "553 5.7.1 Sender address not owned by user %s", s->user);
			memset(&s->from, 0, sizeof(s->from));
			return;
		}
	}
	s->smtputf8 = s->from.smtputf8;
	set_state(s, S_MAIL);
	reply(s, "250 2.1.0 Ok");
}

struct names {
	char **v;
	size_t n, cap;
	int oom;
};

static int collect_name(void *arg, const char *name)
{
	struct names *nl = arg;

	if (nl->n == nl->cap) {
		size_t cap = nl->cap ? nl->cap * 2 : 8;
		char **v = realloc(nl->v, cap * sizeof(*v));
		if (!v) {
			nl->oom = 1;
			return 1;
		}
		nl->v = v;
		nl->cap = cap;
	}
	if (!(nl->v[nl->n] = strdup(name))) {
		nl->oom = 1;
		return 1;
	}
	nl->n++;
	return 0;
}

static int oldest_user(void *arg, int64_t id, const char *address)
{
	int64_t *min = arg;

	(void)address;
	if (*min == 0 || id < *min)
		*min = id;
	return 0;
}

/* RFC 5321 4.5.1: "RCPT TO:<postmaster>" (no domain) must be accepted.  It
 * goes where postmaster@D goes for the first local domain D (in sorted
 * order) where that resolves (user, alias or catch-all); when no domain has
 * one, to the oldest account (the lowest user id: on a personal server, the
 * one made when it was set up).  Returns 1 with *rc filled, 0 when there is
 * no account at all, -1 on a store error. */
static int postmaster_resolve(struct session *s, struct store_rcpt *rc)
{
	struct names nl = {0};
	char addr[STORE_ADDR_MAX + 1];
	int64_t oldest = 0;
	int r = 0;

	/* collected first: no lookups while the list statement runs */
	if (store_domain_list(s->srv->st, collect_name, &nl) < 0 || nl.oom)
		r = -1;
	for (size_t i = 0; r == 0 && i < nl.n; i++) {
		int n = snprintf(addr, sizeof(addr), "postmaster@%s", nl.v[i]);
		if (n < 0 || (size_t)n >= sizeof(addr))
			continue; /* no such address can exist */
		r = store_resolve_rcpt(s->srv->st, addr, rc);
		if (r == 1)
			log_info(s->sid, "event=postmaster rcpt=%s", addr);
	}
	for (size_t i = 0; i < nl.n; i++)
		free(nl.v[i]);
	free(nl.v);
	if (r != 0)
		return r;
	if (store_user_list(s->srv->st, oldest_user, &oldest) < 0)
		return -1;
	if (oldest == 0)
		return 0;
	memset(rc, 0, sizeof(*rc));
	rc->n_users = 1;
	rc->user_ids[0] = oldest;
	log_info(s->sid, "event=postmaster rcpt=oldest-user user_id=%lld", (long long)oldest);
	return 1;
}

static void cmd_rcpt(struct session *s, const struct smtp_cmd *cmd)
{
	struct smtp_path to;
	struct store_rcpt rc;
	char addr[SMTP_PATH_MAX + 300];
	int r, local;

	if (s->n_rcpt >= s->srv->lim.max_recipients) {
		reply(s, "452 4.5.3 Too many recipients");
		return;
	}
	r = smtp_path_parse(cmd->arg, cmd->arglen, 0, s->smtputf8, &to);
	switch (r) {
	case SMTP_ADDR_OK:
		break;
	case SMTP_ADDR_ROUTE:
	case SMTP_ADDR_ROUTING:
	case SMTP_ADDR_LITERAL:
		log_warn(s->sid, "event=relay-trick kind=%d peer=%s", r, s->ip);
		reply(s, "550 5.7.1 Relay access denied: address form not accepted");
		bad(s);
		return;
	case SMTP_ADDR_BADPARAM:
		reply(s, "555 5.5.4 Unsupported RCPT parameter");
		bad(s);
		return;
	case SMTP_ADDR_UTF8:
		reply(s, "553 5.6.7 Non-ASCII address needs SMTPUTF8");
		bad(s);
		return;
	default:
		reply(s, "501 5.1.3 Bad recipient address syntax");
		bad(s);
		return;
	}
	if (to.postmaster) {
		r = postmaster_resolve(s, &rc);
		snprintf(addr, sizeof(addr), "postmaster");
		goto resolved;
	}
	snprintf(addr, sizeof(addr), "%s", to.addr);
	local = store_domain_is_local(s->srv->st, to.domain);
	if (local < 0) {
		log_err(s->sid, "event=store-failed error=\"%s\"", store_errmsg(s->srv->st));
		reply(s, "451 4.3.0 Temporary lookup failure");
		return;
	}
	if (!local) {
		if (!s->authed) {
			char q[300];
			log_quote(q, sizeof(q), addr, strlen(addr));
			log_warn(s->sid, "event=relay-denied rcpt=%s peer=%s", q, s->ip);
			reply(s, "550 5.7.1 Relay access denied");
			bad(s);
			return;
		}
		if (add_remote(s, addr) < 0) {
			reply(s, "452 4.3.1 Out of memory");
			return;
		}
		s->n_rcpt++;
		set_state(s, S_RCPT);
		reply(s, "250 2.1.5 Ok");
		return;
	}
	r = store_resolve_rcpt(s->srv->st, addr, &rc);
resolved:
	if (r < 0) {
		log_err(s->sid, "event=store-failed error=\"%s\"", store_errmsg(s->srv->st));
		reply(s, "451 4.3.0 Temporary lookup failure");
		return;
	}
	if (r == 0) {
		reply(s, "550 5.1.1 No such user here");
		bad(s);
		return;
	}
	for (size_t i = 0; i < rc.n_users; i++)
		if (add_user(s, rc.user_ids[i]) < 0)
			goto oom;
	/* alias targets outside our domains are forwarded through the queue */
	for (size_t i = 0; i < rc.n_remote; i++)
		if (add_remote(s, rc.remote[i]) < 0)
			goto oom;
	s->n_rcpt++;
	set_state(s, S_RCPT);
	reply(s, "250 2.1.5 Ok");
	return;
oom:
	reply(s, "452 4.3.1 Out of memory");
}

static void cmd_data(struct session *s, const struct smtp_cmd *cmd)
{
	if (cmd->arglen) {
		reply(s, "501 5.5.4 DATA takes no argument");
		bad(s);
		return;
	}
	body_begin(s, 0);
	/* the conn's line reader buffers twice this: larger reads for DATA */
	conn_set_maxline(s->c, DATA_READ_LINE);
	conn_set_timeout(s->c, s->srv->lim.timeout_data_s * 1000);
	set_state(s, S_DATA);
	reply(s, "354 End data with <CR><LF>.<CR><LF>");
}

static void cmd_bdat(struct session *s, const struct smtp_cmd *cmd)
{
	const char *sp = memchr(cmd->arg, ' ', cmd->arglen);
	size_t nlen = sp ? (size_t)(sp - cmd->arg) : cmd->arglen;
	uint64_t n;

	if (cmd->arglen == 0 || strnum_u64n(cmd->arg, nlen, UINT64_MAX, &n) < 0 ||
	    (sp && !(cmd->arglen - nlen - 1 == 4 && strncasecmp(sp + 1, "LAST", 4) == 0))) {
		/* the chunk length is unknown: we cannot stay in step */
		reply(s, "501 5.5.4 Syntax: BDAT size [LAST]; closing");
		drop(s, "bad bdat");
		return;
	}
	if (s->state != S_RCPT && s->state != S_BDAT)
		s->bdat_bad = 1; /* RFC 3030: read the chunk anyway, then 503 */
	if (s->state == S_RCPT)
		body_begin(s, 1);
	s->chunk_left = n;
	s->chunk_last = sp != NULL;
	if (!s->bdat_bad)
		conn_set_maxline(s->c, DATA_READ_LINE);
	conn_set_timeout(s->c, s->srv->lim.timeout_data_s * 1000);
	set_state(s, S_CHUNK);
}

/* A BDAT chunk has been read completely. */
static void chunk_done(struct session *s)
{
	conn_set_timeout(s->c, s->srv->lim.timeout_command_s * 1000);
	if (s->bdat_bad) {
		s->bdat_bad = 0;
		/* back to where the session was: no transaction changes */
		set_state(s, s->from.addr[0] || s->from.null ? (s->n_rcpt ? S_RCPT : S_MAIL)
							     : (s->helo[0] ? S_READY : S_INIT));
		reply(s, "503 5.5.1 BDAT needs MAIL and RCPT first");
		bad(s);
		return;
	}
	if (s->chunk_last || (smtp_data_flags(&s->dr) & SMTP_DATA_NOROOM)) {
		/* out of budget: fail the transaction now (RFC 3030 4.2: the
		 * client sends no more chunks after a 4xx) */
		message_end(s);
		return;
	}
	set_state(s, S_BDAT);
	reply(s, "250 2.0.0 %zu octets received", s->dr.total);
}

static void cmd_rset(struct session *s, const struct smtp_cmd *cmd)
{
	(void)cmd;
	txn_reset(s);
	/* leaving a BDAT series: its data deadline ends, the envelope one
	 * (not restarted: no message went through) applies again */
	ev_timer_disarm(s->data_total);
	conn_set_maxline(s->c, s->srv->lim.max_line);
	set_state(s, s->helo[0] ? S_READY : S_INIT);
	reply(s, "250 2.0.0 Ok");
}

static void cmd_noop(struct session *s, const struct smtp_cmd *cmd)
{
	(void)cmd;
	reply(s, "250 2.0.0 Ok");
}

static void cmd_quit(struct session *s, const struct smtp_cmd *cmd)
{
	(void)cmd;
	reply(s, "221 2.0.0 %s Bye", s->srv->hostname);
	drop(s, "quit");
}

static void cmd_vrfy(struct session *s, const struct smtp_cmd *cmd)
{
	(void)cmd;
	reply(s, "252 2.5.2 Cannot verify, send some mail and see");
}

static void cmd_expn(struct session *s, const struct smtp_cmd *cmd)
{
	(void)cmd;
	reply(s, "502 5.5.1 EXPN not available");
}

static void cmd_help(struct session *s, const struct smtp_cmd *cmd)
{
	(void)cmd;
	reply(s, "214 2.0.0 Commands: EHLO HELO MAIL RCPT DATA BDAT RSET NOOP QUIT VRFY HELP%s",
	      s->port != PORT_MX ? " AUTH STARTTLS" : " STARTTLS");
}

static void cmd_starttls(struct session *s, const struct smtp_cmd *cmd)
{
	if (cmd->arglen) {
		reply(s, "501 5.5.4 STARTTLS takes no argument");
		bad(s);
		return;
	}
	if (!s->srv->tls || conn_is_tls(s->c)) {
		reply(s, "503 5.5.1 TLS already active or not available");
		bad(s);
		return;
	}
	reply(s, "220 2.0.0 Ready to start TLS");
	/* forget everything learned in the clear (RFC 3207 4.2) */
	txn_reset(s);
	s->helo[0] = '\0';
	s->esmtp = 0;
	set_state(s, S_INIT);
	if (conn_starttls(s->c, s->srv->tls) < 0)
		drop(s, "starttls failed");
}

/* --- AUTH ----------------------------------------------------------------- */

static void held_reply_fire(struct evloop *ev, struct ev_timer *t, void *arg)
{
	struct session *s = arg;

	(void)ev;
	(void)t;
	if (s->state != S_WAIT)
		return; /* dropped (a stop, a deadline) while the reply was held */
	set_state(s, s->authed ? S_READY : (s->helo[0] ? S_READY : S_INIT));
	reply(s, "%s", s->held_reply);
	if (s->held_close) {
		drop(s, "auth refused");
		return;
	}
	if (s->lifetime_over) {
		lifetime_expired(s);
		return;
	}
	conn_pause(s->c, 0);
}

/* Sends the held answer now, or after the delay authlimit asked for. */
static void held_reply_after(struct session *s, int64_t delay)
{
	if (delay <= 0) {
		held_reply_fire(s->srv->ev, s->delay, s);
		return;
	}
	set_state(s, S_WAIT);
	conn_pause(s->c, 1);
	ev_timer_arm(s->delay, (uint64_t)delay);
}

/* The password check came back from lib/authcheck (on the loop). */
static void auth_done(void *arg, int result, int64_t uid)
{
	struct session *s = arg;
	uint64_t now = ev_now(s->srv->ev);
	char q[300];

	s->auth_job = NULL;
	/* dropped by a stop while the check ran: closed() is on its way */
	if (s->state == S_CLOSED)
		return;
	log_quote(q, sizeof(q), s->login_user, strlen(s->login_user));
	if (result == 1) {
		authlimit_success(s->srv->al, s->ip, s->login_user);
		if (store_user_address(s->srv->st, uid, s->user, sizeof(s->user)) < 0)
			snprintf(s->user, sizeof(s->user), "%s", s->login_user);
		s->authed = 1;
		s->user_id = uid;
		log_info(s->sid, "event=auth result=ok user=%s peer=%s", s->user, s->ip);
		set_state(s, S_READY);
		reply(s, "235 2.7.0 Authentication successful");
		conn_pause(s->c, 0);
		return;
	}
	if (result < 0) {
		set_state(s, S_READY);
		reply(s, "454 4.7.0 Temporary authentication failure");
		conn_pause(s->c, 0);
		return;
	}
	authlimit_fail(s->srv->al, s->ip, s->login_user, now);
	log_warn(s->sid, "event=auth result=failed user=%s peer=%s password=%s", q, s->ip,
		 LOG_SECRET);
	snprintf(s->held_reply, sizeof(s->held_reply),
		 "535 5.7.8 Authentication credentials invalid");
	s->held_close = 0;
	if (bad(s))
		return;
	/* the delay counts from the attempt, the check time included */
	held_reply_after(s, s->auth_delay - (int64_t)(now - s->auth_started));
}

/* Checks the credentials (on an authcheck worker: a password hash costs
 * tens of ms that must not stall other sessions) and answers, after the
 * growing delay authlimit asks for when there were failures. */
static void auth_finish(struct session *s, const char *user, const char *pass)
{
	uint64_t now = ev_now(s->srv->ev);
	int64_t delay = authlimit_check(s->srv->al, s->ip, user, now);
	char q[300];

	s->auth_step = AUTH_NONE;
	log_quote(q, sizeof(q), user, strlen(user));
	if (delay < 0) {
		log_warn(s->sid, "event=auth result=refused user=%s peer=%s password=%s", q, s->ip,
			 LOG_SECRET);
		snprintf(s->held_reply, sizeof(s->held_reply),
			 "454 4.7.0 Too many authentication failures, try again later");
		s->held_close = 1;
		held_reply_after(s, 1000);
		return;
	}
	if (strlen(user) > STORE_ADDR_MAX) {
		/* no such account can exist; never check a truncated name */
		authlimit_fail(s->srv->al, s->ip, NULL, now);
		set_state(s, S_READY);
		reply(s, "535 5.7.8 Authentication credentials invalid");
		bad(s);
		return;
	}
	if (user != s->login_user)
		snprintf(s->login_user, sizeof(s->login_user), "%s", user);
	s->auth_delay = delay;
	s->auth_started = now;
	s->auth_job = authcheck_submit(s->srv->ac, s->login_user, pass, auth_done, s);
	if (!s->auth_job) {
		set_state(s, S_READY);
		reply(s, "454 4.7.0 Temporary authentication failure, try again");
		return;
	}
	set_state(s, S_WAIT);
	conn_pause(s->c, 1);
}

/* A base64 SASL response line (or an initial response). */
static void auth_response(struct session *s, const char *line, size_t len)
{
	char dec[STORE_PASSWORD_MAX + 2 * STORE_ADDR_MAX + 8];
	long n;

	if (len == 1 && line[0] == '*') {
		s->auth_step = AUTH_NONE;
		set_state(s, S_READY);
		reply(s, "501 5.0.0 Authentication cancelled");
		return;
	}
	n = sasl_b64_decode(line, len, (unsigned char *)dec, sizeof(dec) - 1);
	if (n < 0) {
		s->auth_step = AUTH_NONE;
		set_state(s, S_READY);
		reply(s, "501 5.5.2 Cannot decode the response");
		bad(s);
		return;
	}
	switch (s->auth_step) {
	case AUTH_PLAIN: {
		const char *user, *pass;
		if (sasl_plain_split(dec, (size_t)n, &user, &pass) < 0) {
			s->auth_step = AUTH_NONE;
			set_state(s, S_READY);
			reply(s, "501 5.5.2 Malformed PLAIN response");
			bad(s);
			break;
		}
		auth_finish(s, user, pass);
		break;
	}
	case AUTH_LOGIN_USER:
		if (n == 0 || (size_t)n > STORE_ADDR_MAX || memchr(dec, '\0', (size_t)n)) {
			s->auth_step = AUTH_NONE;
			set_state(s, S_READY);
			reply(s, "501 5.5.2 Malformed user name");
			bad(s);
			break;
		}
		memcpy(s->login_user, dec, (size_t)n);
		s->login_user[n] = '\0';
		s->auth_step = AUTH_LOGIN_PASS;
		reply(s, "334 UGFzc3dvcmQ6"); /* "Password:" */
		break;
	case AUTH_LOGIN_PASS:
		dec[n] = '\0';
		if (n == 0 || memchr(dec, '\0', (size_t)n)) {
			s->auth_step = AUTH_NONE;
			set_state(s, S_READY);
			reply(s, "501 5.5.2 Malformed password");
			bad(s);
			break;
		}
		auth_finish(s, s->login_user, dec);
		break;
	default:
		bug("auth response in step %d", s->auth_step);
	}
	explicit_bzero(dec, sizeof(dec));
}

static void cmd_auth(struct session *s, const struct smtp_cmd *cmd)
{
	const char *sp = memchr(cmd->arg, ' ', cmd->arglen);
	size_t mlen = sp ? (size_t)(sp - cmd->arg) : cmd->arglen;
	const char *ir = sp ? sp + 1 : NULL;
	size_t irlen = sp ? cmd->arglen - mlen - 1 : 0;

	if (s->port == PORT_MX) {
		reply(s, "503 5.5.1 AUTH is offered on the submission ports only");
		bad(s);
		return;
	}
	if (!conn_is_tls(s->c)) {
		reply(s, "538 5.7.11 Encryption required: STARTTLS first");
		bad(s);
		return;
	}
	if (s->authed) {
		reply(s, "503 5.5.1 Already authenticated");
		bad(s);
		return;
	}
	if (mlen == 5 && strncasecmp(cmd->arg, "PLAIN", 5) == 0) {
		s->auth_step = AUTH_PLAIN;
	} else if (mlen == 5 && strncasecmp(cmd->arg, "LOGIN", 5) == 0) {
		s->auth_step = AUTH_LOGIN_USER;
	} else {
		reply(s, "504 5.5.4 Unrecognized authentication mechanism");
		bad(s);
		return;
	}
	set_state(s, S_AUTH);
	if (ir) {
		/* "=" is an empty initial response (RFC 4954 4) */
		if (irlen == 1 && ir[0] == '=')
			irlen = 0;
		auth_response(s, ir, irlen);
		return;
	}
	reply(s, s->auth_step == AUTH_PLAIN ? "334 " : "334 VXNlcm5hbWU6"); /* "Username:" */
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
    {SMTP_CMD_MAIL, ST(S_READY), NULL, cmd_mail},
    {SMTP_CMD_RCPT, ST(S_MAIL) | ST(S_RCPT), "Need MAIL before RCPT", cmd_rcpt},
    {SMTP_CMD_DATA, ST(S_RCPT), NULL, cmd_data},
    {SMTP_CMD_BDAT, S_ANY_CMD, "Bad sequence", cmd_bdat},
    {SMTP_CMD_RSET, S_ANY_CMD, "Bad sequence", cmd_rset},
    {SMTP_CMD_NOOP, S_ANY_CMD, "Bad sequence", cmd_noop},
    {SMTP_CMD_QUIT, S_ANY_CMD, "Bad sequence", cmd_quit},
    {SMTP_CMD_VRFY, S_ANY_CMD & ~ST(S_BDAT), "Finish BDAT first", cmd_vrfy},
    {SMTP_CMD_EXPN, S_ANY_CMD & ~ST(S_BDAT), "Finish BDAT first", cmd_expn},
    {SMTP_CMD_HELP, S_ANY_CMD & ~ST(S_BDAT), "Finish BDAT first", cmd_help},
    {SMTP_CMD_STARTTLS, ST(S_INIT) | ST(S_READY), "STARTTLS not allowed in a transaction",
     cmd_starttls},
    {SMTP_CMD_AUTH, ST(S_READY), NULL, cmd_auth},
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
		lifetime_expired(s);
		return;
	}
	if (s->envelope_late && s->state != S_BDAT) {
		/* the envelope deadline passed during a BDAT series that was
		 * then reset: no message went through */
		envelope_expired(s);
		return;
	}
	if (++s->ncmd > s->srv->lim.max_commands) {
		reply(s, "421 4.7.0 %s Too many commands, closing connection", s->srv->hostname);
		drop(s, "too many commands");
		return;
	}
	if (smtp_cmd_parse(line, len, &cmd) < 0) {
		reply(s, "500 5.5.2 Syntax error: malformed command line");
		bad(s);
		return;
	}
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (commands[i].verb == cmd.verb)
			c = &commands[i];
	if (!c) {
		reply(s, "500 5.5.2 Command unrecognized");
		bad(s);
		return;
	}
	if (!(c->states & ST(s->state))) {
		reply(s, "503 5.5.1 %s", sequence_text(s, c));
		bad(s);
		return;
	}
	log_debug(s->sid, "event=command verb=%s state=%s", smtp_verb_name(cmd.verb),
		  state_names[s->state]);
	c->run(s, &cmd);
}

/* --- input ---------------------------------------------------------------- */

/* Feeds pending raw bytes to the DATA/BDAT reader.  Returns 1 if the body
 * ended (the session moved on), 0 if more input is needed. */
static int body_input(struct session *s)
{
	const char *p;
	size_t n = conn_pending(s->c, &p), used;

	if (s->state == S_DATA) {
		if (n == 0)
			return 0;
		body_budget(s, n);
		int end = smtp_data_feed(&s->dr, p, n, &used);
		conn_consume(s->c, used);
		body_account(s);
		if (end) {
			conn_set_timeout(s->c, s->srv->lim.timeout_command_s * 1000);
			message_end(s);
			return 1;
		}
		return 0;
	}
	/* S_CHUNK: exactly chunk_left bytes */
	if (n > s->chunk_left)
		n = (size_t)s->chunk_left;
	if (n > 0) {
		if (!s->bdat_bad) {
			body_budget(s, n);
			smtp_data_feed(&s->dr, p, n, &used);
			body_account(s);
		}
		conn_consume(s->c, n);
		s->chunk_left -= n;
	}
	if (s->chunk_left == 0) {
		chunk_done(s);
		return 1;
	}
	return 0;
}

static void deadline_fire(struct evloop *ev, struct ev_timer *t, void *arg)
{
	struct session *s = arg;

	(void)ev;
	(void)t;
	if (s->state == S_CLOSED || s->state == S_DATA || s->state == S_CHUNK ||
	    s->state == S_WAIT || s->state == S_STORE)
		return;
	reply(s, "421 4.4.2 %s Timeout waiting for a command, closing", s->srv->hostname);
	drop(s, "command timeout");
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
	envelope_expired(s);
}

static void lifetime_fire(struct evloop *ev, struct ev_timer *t, void *arg)
{
	struct session *s = arg;

	(void)ev;
	(void)t;
	if (s->state == S_CLOSED)
		return;
	if (s->state == S_DATA || s->state == S_CHUNK || s->state == S_BDAT ||
	    s->state == S_STORE || s->state == S_WAIT) {
		/* never cut a message under way (nor a held reply): end at
		 * the next boundary */
		s->lifetime_over = 1;
		return;
	}
	lifetime_expired(s);
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
	reply(s, "421 4.4.2 %s Message transfer took too long, closing connection",
	      s->srv->hostname);
	drop(s, "data deadline");
}

static void session_input(struct conn *c, void *arg)
{
	struct session *s = arg;
	struct lr_line line;

	(void)c;
	if (s->state == S_GREETING) {
		/* RFC 5321 4.3.1: the client waits for the greeting */
		log_warn(s->sid, "event=early-talker peer=%s", s->ip);
		reply(s, "554 5.5.0 %s You talked before my greeting, goodbye", s->srv->hostname);
		drop(s, "early talker");
		return;
	}
	while (s->state != S_CLOSED && s->state != S_WAIT && s->state != S_STORE) {
		if (conn_outlen(s->c) > OUT_HIGH) {
			/* the client pipelines faster than it reads: wait */
			conn_pause(s->c, 1);
			return;
		}
		if (s->state == S_DATA || s->state == S_CHUNK) {
			if (!body_input(s))
				return;
			ev_timer_arm(s->deadline, s->srv->lim.timeout_command_s * 1000);
			continue;
		}
		int r = conn_line(s->c, &line);
		if (r == LR_NEED)
			return;
		if (r == LR_TOOLONG) {
			reply(s, "500 5.5.2 Line too long (limit %llu bytes)",
			      (unsigned long long)s->srv->lim.max_line);
			if (s->state == S_AUTH) {
				s->auth_step = AUTH_NONE;
				set_state(s, S_READY);
			}
			bad(s);
			continue;
		}
		if (!line.crlf) {
			reply(s, "500 5.5.2 Bare LF in command line: lines must end in CRLF");
			bad(s);
			continue;
		}
		ev_timer_arm(s->deadline, s->srv->lim.timeout_command_s * 1000);
		if (s->state == S_AUTH)
			auth_response(s, line.data, line.len);
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

static void session_free(struct session *s)
{
	txn_reset(s);
	free(s->users);
	free(s->remote);
	free(s->remote_ptrs);
	explicit_bzero(s->login_user, sizeof(s->login_user));
	free(s);
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
	ev_timer_free(s->lifetime);
	s->greet = s->deadline = s->delay = s->envelope = s->data_total = NULL;
	authcheck_cancel(s->auth_job); /* NULL is fine */
	s->auth_job = NULL;
	*s->pprev = s->next;
	if (s->next)
		s->next->pprev = s->pprev;
	srv->nsessions--;
	s->c = NULL;
	s->state = S_CLOSED;
	if (s->in_store)
		s->orphaned = 1; /* the store thread still reads its message */
	else
		session_free(s);
	if (srv->stopping && srv->nsessions == 0)
		ev_stop(srv->ev); /* the last session of a graceful stop */
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
	set_state(s, S_INIT);
	reply(s, "220 %s ESMTP Loft", s->srv->hostname);
	ev_timer_arm(s->deadline, s->srv->lim.timeout_command_s * 1000);
}

static void session_tls_ready(struct conn *c, void *arg)
{
	struct session *s = arg;

	log_debug(s->sid, "event=tls version=%s cipher=%s", conn_tls_version(c),
		  conn_tls_cipher(c));
	/* implicit TLS: the greeting window starts once TLS is up */
	if (s->state == S_GREETING)
		ev_timer_arm(s->greet, s->srv->lim.greeting_delay_ms);
}

static void session_timeout(struct conn *c, void *arg)
{
	struct session *s = arg;

	(void)c;
	if (s->state != S_CLOSED)
		reply(s, "421 4.4.2 %s Timeout, closing connection", s->srv->hostname);
	drop(s, "idle timeout");
}

static const struct conn_cbs session_cbs = {
    .input = session_input,
    .timeout = session_timeout,
    .closed = session_closed,
    .writable = session_writable,
    .tls_ready = session_tls_ready,
};

static void refuse_now(int fd, const char *msg)
{
	/* a fresh socket's send buffer is empty: this does not block */
	if (send(fd, msg, strlen(msg), MSG_DONTWAIT | MSG_NOSIGNAL) < 0) {
		/* nothing more to do for a client we are refusing */
	}
	close(fd);
}

void session_accept(struct smtpd *srv, int fd, const struct sockaddr *peer, enum smtpd_port port)
{
	struct session *s;
	char ip[64] = "unknown";
	unsigned same = 0;

	if (peer)
		net_addr_str(peer, ip, sizeof(ip));
	if (srv->stopping) {
		close(fd);
		return;
	}
	if (srv->nsessions >= srv->lim.max_connections) {
		log_warn(NULL, "event=refused reason=max-connections peer=%s", ip);
		if (port != PORT_SUBMISSIONS)
			refuse_now(fd, "421 4.7.0 Too many connections, try again later\r\n");
		else
			close(fd);
		return;
	}
	for (s = srv->sessions; s; s = s->next)
		same += strcmp(s->ip, ip) == 0;
	if (same >= srv->lim.max_per_ip) {
		log_warn(NULL, "event=refused reason=max-per-ip peer=%s", ip);
		if (port != PORT_SUBMISSIONS)
			refuse_now(fd, "421 4.7.0 Too many connections from your address\r\n");
		else
			close(fd);
		return;
	}
	s = calloc(1, sizeof(*s));
	if (!s)
		bug("out of memory");
	s->srv = srv;
	s->port = port;
	snprintf(s->ip, sizeof(s->ip), "%s", ip);
	s->c = conn_new(srv->ev, fd, peer, &session_cbs, s, srv->lim.max_line, 256 * 1024);
	snprintf(s->sid, sizeof(s->sid), "%s", conn_sid(s->c));
	s->greet = ev_timer_new(srv->ev, greet_fire, s);
	s->deadline = ev_timer_new(srv->ev, deadline_fire, s);
	s->delay = ev_timer_new(srv->ev, held_reply_fire, s);
	s->envelope = ev_timer_new(srv->ev, envelope_fire, s);
	s->data_total = ev_timer_new(srv->ev, data_total_fire, s);
	s->lifetime = ev_timer_new(srv->ev, lifetime_fire, s);
	ev_timer_arm(s->envelope, srv->lim.timeout_envelope_s * 1000);
	if (srv->lim.max_session_s) /* 0: no limit (the config's minimum is 1) */
		ev_timer_arm(s->lifetime, srv->lim.max_session_s * 1000);
	conn_set_lowmark(s->c, OUT_HIGH / 2);
	conn_set_timeout(s->c, srv->lim.timeout_command_s * 1000);
	s->next = srv->sessions;
	s->pprev = &srv->sessions;
	if (s->next)
		s->next->pprev = &s->next;
	srv->sessions = s;
	srv->nsessions++;
	s->state = S_GREETING;
	static const char *const pname[] = {"mx", "submission", "submissions"};
	log_info(s->sid, "event=connect peer=%s port=%s sessions=%u", ip, pname[port],
		 srv->nsessions);
	if (port == PORT_SUBMISSIONS) {
		if (!srv->tls || conn_tls_server(s->c, srv->tls) < 0) {
			conn_close(s->c, 0, "no tls");
			s->state = S_CLOSED;
		}
		return; /* the greeting timer starts in tls_ready */
	}
	ev_timer_arm(s->greet, srv->lim.greeting_delay_ms);
}

void session_stop_all(struct smtpd *srv)
{
	struct session *s, *next;

	for (s = srv->sessions; s; s = next) {
		next = s->next;
		if (s->state == S_DATA || s->state == S_CHUNK || s->state == S_BDAT ||
		    s->state == S_STORE || s->state == S_CLOSED)
			continue; /* a message in flight finishes first */
		if (s->state != S_GREETING)
			reply(s, "421 4.3.2 %s Service shutting down", srv->hostname);
		drop(s, "stopping");
	}
}
