/*
 * An SMTP mail transaction: MAIL, RCPT (the relay check lives here: a
 * recipient is accepted only when its domain is local and the store
 * resolves it, or when the session is authenticated), DATA and BDAT, the
 * body under the process-wide memory budget, and the end of a message:
 * checks, trace headers, the group commit, the reply.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "array.h"
#include "conn.h"
#include "daemon.h"
#include "evloop.h"
#include "listener.h"
#include "log.h"
#include "session.h"
#include "store_users.h"
#include "strnum.h"

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

void smtp_txn_reset(struct session *s)
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
	if (ARRAY_GROW(s->users, s->cap_users, s->n_users + 1, 8) < 0)
		return -1;
	s->users[s->n_users++] = id;
	return 0;
}

static int add_remote(struct session *s, const char *addr)
{
	for (size_t i = 0; i < s->n_remote; i++)
		if (strcmp(s->remote[i], addr) == 0)
			return 0;
	if (ARRAY_GROW(s->remote, s->cap_remote, s->n_remote + 1, 8) < 0)
		return -1;
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

/* Back to READY after a message, whatever became of it. */
static void message_finished(struct session *s)
{
	smtp_txn_reset(s);
	/* a message went through: the envelope deadline starts again */
	ev_timer_disarm(s->data_total);
	ev_timer_arm(s->envelope, s->srv->lim.timeout_envelope_s * 1000);
	s->envelope_late = 0;
	conn_set_maxline(s->c, s->srv->lim.max_line);
	smtp_set_state(s, S_READY);
	if (s->lifetime_over) {
		smtp_lifetime_expired(s);
	} else if (s->srv->stopping) {
		smtp_reply(s, "421 4.3.2 %s Service shutting down", s->srv->hostname);
		smtp_drop(s, "stopping");
	}
}

static void session_committed(struct commit_job *job)
{
	struct session *s = job->owner;

	s->in_store = 0;
	if (s->orphaned) {
		/* the client left while its message was being stored: it got
		 * no 250, so it will send again; a duplicate is allowed */
		smtp_session_free(s);
		return;
	}
	if (job->ok) {
		smtp_deliver_log(&s->req, &s->ready);
		log_debug(s->sid, "event=committed batch=%zu", job->batch);
		if (s->port == PORT_MX)
			smtp_stat_count(s->srv, SMTP_STAT_RECEIVED);
		smtp_reply(s, "250 2.0.0 Ok: stored as %lld", (long long)s->ready.message_id);
	} else {
		char q[200];
		log_quote(q, sizeof(q), job->err, strlen(job->err));
		log_err(s->sid, "event=store-failed error=%s", q);
		smtp_reply(s, "451 4.3.0 Temporary failure storing the message, try again");
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

	if ((flags & (SMTP_DATA_TOOBIG | SMTP_DATA_BARE | SMTP_DATA_NUL | SMTP_DATA_LONGLINE)) ||
	    s->dr.total > s->srv->lim.max_message_size || s->body.len == DELIVER_GAP)
		smtp_stat_count(s->srv, SMTP_STAT_DATA);
	if ((flags & SMTP_DATA_TOOBIG) || s->dr.total > s->srv->lim.max_message_size) {
		smtp_reply(s, "552 5.3.4 Message exceeds the size limit of %llu bytes",
			   (unsigned long long)s->srv->lim.max_message_size);
	} else if (flags & SMTP_DATA_NOROOM) {
		/* RFC 5321 4.2.2 / RFC 3463 X.3.1: temporary, the client retries */
		smtp_reply(s, "452 4.3.1 Insufficient system storage, try again later");
	} else if (flags & SMTP_DATA_BARE) {
		/* smuggling defence: see data.h */
		log_warn(s->sid, "event=refused reason=bare-cr-lf from=<%s>", s->from.addr);
		smtp_reply(s, "550 5.6.0 Message refused: bare CR or LF (lines must end in CRLF)");
	} else if (flags & SMTP_DATA_NUL) {
		smtp_reply(s, "550 5.6.0 Message refused: NUL byte in message");
	} else if (flags & SMTP_DATA_LONGLINE) {
		smtp_reply(s, "550 5.5.2 Message refused: line longer than %llu bytes",
			   (unsigned long long)s->srv->lim.max_data_line);
	} else if (s->body.len == DELIVER_GAP) {
		smtp_reply(s, "550 5.6.0 Empty message");
	} else {
		if (s->n_remote > s->cap_remote_ptrs) {
			const char **np = realloc(s->remote_ptrs, s->n_remote * sizeof(*np));
			if (!np) {
				smtp_reply(s, "452 4.3.1 Out of memory");
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
		if (smtp_deliver_prepare(&s->req, &s->ready, line, sizeof(line)) < 0) {
			smtp_stat_count(s->srv, SMTP_STAT_DATA);
			smtp_reply(s, "%s", line);
		} else {
			/* wait for the commit: no input is read meanwhile */
			smtp_set_state(s, S_STORE);
			conn_pause(s->c, 1);
			s->job.req = &s->req;
			s->job.ready = &s->ready;
			s->job.owner = s;
			s->job.done = session_committed;
			s->in_store = 1;
			smtp_commit_submit(s->srv, &s->job);
			return;
		}
	}
	message_finished(s);
}

/* No message began and ended within timeout_envelope_s of the connect or
 * of the last message. */
void smtp_envelope_expired(struct session *s)
{
	log_warn(s->sid, "event=envelope-deadline seconds=%llu state=%s peer=%s",
		 (unsigned long long)s->srv->lim.timeout_envelope_s, smtp_state_name(s->state),
		 s->ip);
	smtp_reply(s, "421 4.4.2 %s Too long without a message, closing connection",
		   s->srv->hostname);
	smtp_drop(s, "envelope deadline");
}

void smtp_cmd_mail(struct session *s, const struct smtp_cmd *cmd)
{
	int r;

	if ((s->port != PORT_MX && !s->authed) || s->gw_auth == 1) {
		smtp_reply(s, "530 5.7.0 Authentication required");
		smtp_bad(s);
		return;
	}
	r = smtp_path_parse(cmd->arg, cmd->arglen, 1, 0, &s->from);
	switch (r) {
	case SMTP_ADDR_OK:
		break;
	case SMTP_ADDR_BADPARAM:
		smtp_reply(s, "555 5.5.4 Unsupported or malformed MAIL parameter");
		break;
	case SMTP_ADDR_UTF8:
		smtp_reply(s, "553 5.6.7 Non-ASCII address needs the SMTPUTF8 parameter");
		break;
	case SMTP_ADDR_TOOLONG:
		smtp_reply(s, "501 5.1.7 Sender address too long");
		break;
	default:
		smtp_reply(s, "501 5.1.7 Bad sender address syntax");
		break;
	}
	if (r != SMTP_ADDR_OK) {
		memset(&s->from, 0, sizeof(s->from));
		smtp_bad(s);
		return;
	}
	if (s->from.body == SMTP_BODY_BINARYMIME) {
		smtp_reply(s, "555 5.5.4 BINARYMIME is not offered here");
		memset(&s->from, 0, sizeof(s->from));
		smtp_bad(s);
		return;
	}
	if (s->from.has_size && s->from.size > s->srv->lim.max_message_size) {
		smtp_reply(s, "552 5.3.4 Message size exceeds the limit of %llu bytes",
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
			smtp_reply(s, "553 5.7.1 Sender address not owned by user %s", s->user);
			memset(&s->from, 0, sizeof(s->from));
			return;
		}
	}
	s->smtputf8 = s->from.smtputf8;
	smtp_set_state(s, S_MAIL);
	smtp_reply(s, "250 2.1.0 Ok");
}

struct names {
	char **v;
	size_t n, cap;
	int oom;
};

static int collect_name(void *arg, const char *name)
{
	struct names *nl = arg;

	if (ARRAY_GROW(nl->v, nl->cap, nl->n + 1, 8) < 0) {
		nl->oom = 1;
		return 1;
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

void smtp_cmd_rcpt(struct session *s, const struct smtp_cmd *cmd)
{
	struct smtp_path to;
	struct store_rcpt rc;
	char addr[SMTP_PATH_MAX + 300];
	int r, local;

	if (s->n_rcpt >= s->srv->lim.max_recipients) {
		smtp_stat_count(s->srv, SMTP_STAT_RCPT);
		smtp_reply(s, "452 4.5.3 Too many recipients");
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
		smtp_stat_count(s->srv, SMTP_STAT_RCPT);
		smtp_reply(s, "550 5.7.1 Relay access denied: address form not accepted");
		smtp_bad(s);
		return;
	case SMTP_ADDR_BADPARAM:
		smtp_stat_count(s->srv, SMTP_STAT_RCPT);
		smtp_reply(s, "555 5.5.4 Unsupported RCPT parameter");
		smtp_bad(s);
		return;
	case SMTP_ADDR_UTF8:
		smtp_stat_count(s->srv, SMTP_STAT_RCPT);
		smtp_reply(s, "553 5.6.7 Non-ASCII address needs SMTPUTF8");
		smtp_bad(s);
		return;
	default:
		smtp_stat_count(s->srv, SMTP_STAT_RCPT);
		smtp_reply(s, "501 5.1.3 Bad recipient address syntax");
		smtp_bad(s);
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
		smtp_reply(s, "451 4.3.0 Temporary lookup failure");
		return;
	}
	if (!local) {
		if (!s->authed) {
			char q[300];
			log_quote(q, sizeof(q), addr, strlen(addr));
			log_warn(s->sid, "event=relay-denied rcpt=%s peer=%s", q, s->ip);
			smtp_stat_count(s->srv, SMTP_STAT_RCPT);
			smtp_reply(s, "550 5.7.1 Relay access denied");
			smtp_bad(s);
			return;
		}
		if (add_remote(s, addr) < 0) {
			smtp_reply(s, "452 4.3.1 Out of memory");
			return;
		}
		s->n_rcpt++;
		smtp_set_state(s, S_RCPT);
		smtp_reply(s, "250 2.1.5 Ok");
		return;
	}
	r = store_resolve_rcpt(s->srv->st, addr, &rc);
resolved:
	if (r < 0) {
		log_err(s->sid, "event=store-failed error=\"%s\"", store_errmsg(s->srv->st));
		smtp_reply(s, "451 4.3.0 Temporary lookup failure");
		return;
	}
	if (r == 0) {
		smtp_stat_count(s->srv, SMTP_STAT_RCPT);
		smtp_reply(s, "550 5.1.1 No such user here");
		smtp_bad(s);
		return;
	}
	/* a full mailbox is a temporary refusal (RFC 3463 4.2.2): the sender
	 * keeps the message and retries once the user has made room; for an
	 * alias, one full member refuses the address rather than dropping that
	 * member's copy */
	for (size_t i = 0; i < rc.n_users; i++) {
		int full = store_user_over_quota(s->srv->st, rc.user_ids[i], 0);

		if (full < 0) {
			log_err(s->sid, "event=store-failed error=\"%s\"",
				store_errmsg(s->srv->st));
			smtp_reply(s, "451 4.3.0 Temporary lookup failure");
			return;
		}
		if (full) {
			log_info(s->sid, "event=rcpt-over-quota rcpt=%s user_id=%lld", addr,
				 (long long)rc.user_ids[i]);
			smtp_stat_count(s->srv, SMTP_STAT_RCPT);
			smtp_reply(s, "452 4.2.2 Mailbox full");
			return;
		}
	}
	for (size_t i = 0; i < rc.n_users; i++)
		if (add_user(s, rc.user_ids[i]) < 0)
			goto oom;
	/* alias targets outside our domains are forwarded through the queue */
	for (size_t i = 0; i < rc.n_remote; i++)
		if (add_remote(s, rc.remote[i]) < 0)
			goto oom;
	s->n_rcpt++;
	smtp_set_state(s, S_RCPT);
	smtp_reply(s, "250 2.1.5 Ok");
	return;
oom:
	smtp_reply(s, "452 4.3.1 Out of memory");
}

void smtp_cmd_data(struct session *s, const struct smtp_cmd *cmd)
{
	if (cmd->arglen) {
		smtp_reply(s, "501 5.5.4 DATA takes no argument");
		smtp_bad(s);
		return;
	}
	body_begin(s, 0);
	/* the conn's line reader buffers twice this: larger reads for DATA */
	conn_set_maxline(s->c, DATA_READ_LINE);
	conn_set_timeout(s->c, s->srv->lim.timeout_data_s * 1000);
	smtp_set_state(s, S_DATA);
	smtp_reply(s, "354 End data with <CR><LF>.<CR><LF>");
}

void smtp_cmd_bdat(struct session *s, const struct smtp_cmd *cmd)
{
	const char *sp = memchr(cmd->arg, ' ', cmd->arglen);
	size_t nlen = sp ? (size_t)(sp - cmd->arg) : cmd->arglen;
	uint64_t n;

	if (cmd->arglen == 0 || strnum_u64n(cmd->arg, nlen, UINT64_MAX, &n) < 0 ||
	    (sp && !(cmd->arglen - nlen - 1 == 4 && strncasecmp(sp + 1, "LAST", 4) == 0))) {
		/* the chunk length is unknown: we cannot stay in step */
		smtp_reply(s, "501 5.5.4 Syntax: BDAT size [LAST]; closing");
		smtp_drop(s, "bad bdat");
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
	smtp_set_state(s, S_CHUNK);
}

/* A BDAT chunk has been read completely. */
static void chunk_done(struct session *s)
{
	conn_set_timeout(s->c, s->srv->lim.timeout_command_s * 1000);
	if (s->bdat_bad) {
		s->bdat_bad = 0;
		/* back to where the session was: no transaction changes */
		smtp_set_state(s, s->from.addr[0] || s->from.null
				      ? (s->n_rcpt ? S_RCPT : S_MAIL)
				      : (s->helo[0] ? S_READY : S_INIT));
		smtp_reply(s, "503 5.5.1 BDAT needs MAIL and RCPT first");
		smtp_bad(s);
		return;
	}
	if (s->chunk_last || (smtp_data_flags(&s->dr) & SMTP_DATA_NOROOM)) {
		/* out of budget: fail the transaction now (RFC 3030 4.2: the
		 * client sends no more chunks after a 4xx) */
		message_end(s);
		return;
	}
	smtp_set_state(s, S_BDAT);
	smtp_reply(s, "250 2.0.0 %zu octets received", s->dr.total);
}

/* --- input ---------------------------------------------------------------- */

/* Feeds pending raw bytes to the DATA/BDAT reader.  Returns 1 if the body
 * ended (the session moved on), 0 if more input is needed. */
int smtp_body_input(struct session *s)
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

void smtp_session_free(struct session *s)
{
	smtp_txn_reset(s);
	free(s->users);
	free(s->remote);
	free(s->remote_ptrs);
	explicit_bzero(s->login_user, sizeof(s->login_user));
	free(s);
}
