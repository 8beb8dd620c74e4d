#ifndef LOFT_POP3D_H
#define LOFT_POP3D_H
/*
 * Inside the POP3 server: the server and session structs that session.c
 * and maildrop.c share.  Not used outside imapd/pop3/ (and its tests).
 */
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "pop3.h"
#include "pop3_parse.h"
#include "store.h"
#include "store_deliver.h"

struct conn;
struct ev_timer;
struct listener;
struct listener_auth;

struct pop3d {
	struct evloop *ev;
	struct store *st;
	struct tls_ctx *tls;
	struct authlimit *al;
	struct authcheck *ac;
	struct listener *lsn;
	struct pop3d_conf conf;
	struct pop3_session *sessions;
	void (*change_fn)(void *arg, int64_t mailbox_id);
	void *change_arg;
};

enum pop3_state { P3_AUTHORIZATION, P3_TRANSACTION };

/* What a multi-line response still has to send. */
enum pop3_producer { PR_NONE, PR_LIST, PR_UIDL, PR_MSG };

struct pop3_msg {
	uint32_t uid;
	uint64_t size;
	int64_t message_id;
	unsigned char deleted;	 /* DELE'd in this session */
	unsigned char retrieved; /* RETR'd: gets \Seen at QUIT */
	/* sent downgraded (RFC 6856 4, RFC 6857): a UTF-8 header and a
	 * session without UTF8; size is then the downgraded wire size */
	unsigned char downgrade;
	/* line ends not all CRLF (MIME_F_NOT_CRLF): size read at login as
	 * RETR counts it */
	unsigned char not_crlf;
};

struct pop3_session {
	struct pop3d *srv;
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
	int utf8; /* the client issued UTF8 (RFC 6856 2): messages as stored */

	/* AUTHORIZATION may last this long in all, however busy the client
	 * keeps it (the idle timeout only limits silence) */
	struct listener_deadline *dl; /* handshake, login, idle (lib/service/listener) */
	struct listener_auth *auth;   /* logins under the throttle */
	char *pend_user;	      /* the login under way: input waits */

	int64_t user_id, mailbox_id;
	uint32_t uidvalidity;
	struct pop3_msg *msgs;
	size_t nmsgs, msgs_cap;

	enum pop3_producer pr;
	size_t pr_idx;
	uint64_t pr_slices, pr_slices_seen; /* progress, for the idle timeout */
	struct store_message msg;
	int have_msg;
	struct pop3_stuffer stuff;
	struct buf obuf;
};

/* maildrop.c */
/* Takes the INBOX snapshot of s->user_id.  In a session without UTF8, a
 * message with a UTF-8 header is marked for downgrade and its size is that
 * of the downgraded message as RETR sends it (only such messages are read
 * here).  Returns 0 or -1 (store error). */
int pop3_maildrop_open(struct pop3_session *s);
/* Messages not DELE'd and their octets. */
void pop3_maildrop_stat(const struct pop3_session *s, size_t *count, uint64_t *octets);
/* 1 when another session in TRANSACTION holds user_id's maildrop. */
int pop3_maildrop_held(const struct pop3d *srv, int64_t user_id, const struct pop3_session *except);
/* The UPDATE state: DELE'd messages are flagged \Deleted and expunged,
 * retrieved ones get \Seen, all in one transaction.  Returns the number
 * expunged, or -1 (nothing changed; logged). */
long pop3_maildrop_update(struct pop3_session *s);
/* Replaces m's raw bytes with the message downgraded to 7-bit headers
 * (lib/mail/mime_downgrade, RFC 6857 3), for a session without UTF8. */
void pop3_downgrade(struct store_message *m);

#endif
