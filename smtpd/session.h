#ifndef LOFT_SMTPD_SESSION_H
#define LOFT_SMTPD_SESSION_H
/*
 * Inside one SMTP session: the state enum and the session struct that
 * session.c (the dispatcher: command table, input, timers, life cycle),
 * txn.c (MAIL, RCPT, DATA, BDAT and the message), auth.c (AUTH) and
 * reply.c (replies, state changes, the end of a session) share.  Not used
 * outside smtpd/ (and its tests).
 */
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "data.h"
#include "parser.h"
#include "smtpd.h"
#include "store.h"

struct conn;
struct ev_timer;
struct listener_deadline;
struct evloop;
struct listener_auth;

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

#define ST(s) (1u << (s))

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
	struct ev_timer *envelope, *data_total;
	/* handshake and session deadlines, idle time (lib/service/listener) */
	struct listener_deadline *dl;
	int envelope_late; /* envelope passed while a message was in flight */
	int lifetime_over; /* max_session_time passed while a message was in flight */

	/* authentication */
	/* the gateway port from an address not in the gateway's list: 1
	 * until AUTH as the gateway account (inbound.gateway_user) over TLS,
	 * 2 after; the session stays an MX session (relays in only) */
	int gw_auth;
	int authed;
	int64_t user_id;
	char user[STORE_ADDR_MAX + 1];
	enum auth_step auth_step;
	char login_user[STORE_ADDR_MAX + 1];
	struct listener_auth *auth; /* logins under the throttle */

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

/* reply.c */
/* The state's name for log lines. */
const char *smtp_state_name(enum state st);
/* Every state change goes through here, logged by name. */
void smtp_set_state(struct session *s, enum state st);
/* Queues one reply line (CRLF added).  A client that does not read its
 * replies is dropped. */
void smtp_reply(struct session *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Ends the session after a last reply; its timers are disarmed. */
void smtp_drop(struct session *s, const char *why);
/* The session reached smtpd.max_session_time: 421 and drop. */
void smtp_lifetime_expired(struct session *s);
/* A bad command: counted; too many end the session.  Returns 1 if the
 * session was dropped. */
int smtp_bad(struct session *s);

/* txn.c */
void smtp_cmd_mail(struct session *s, const struct smtp_cmd *cmd);
void smtp_cmd_rcpt(struct session *s, const struct smtp_cmd *cmd);
void smtp_cmd_data(struct session *s, const struct smtp_cmd *cmd);
void smtp_cmd_bdat(struct session *s, const struct smtp_cmd *cmd);
/* Forgets the transaction (RSET, HELO, after a message). */
void smtp_txn_reset(struct session *s);
/* Reads DATA text or a BDAT chunk from the conn.  Returns 1 when it took
 * what there was and the caller should go on with command lines, 0 when
 * it needs more input or the session paused or closed. */
int smtp_body_input(struct session *s);
/* The envelope deadline passed (timers in session.c). */
void smtp_envelope_expired(struct session *s);
/* Frees the session and its transaction. */
void smtp_session_free(struct session *s);

/* auth.c */
void smtp_cmd_auth(struct session *s, const struct smtp_cmd *cmd);
/* A base64 SASL response line (or an initial response). */
void smtp_auth_response(struct session *s, const char *line, size_t len);
/* The timer of a refused AUTH: answers and drops the session. */
void smtp_auth_refused_fire(struct evloop *ev, struct ev_timer *t, void *arg);

#endif
