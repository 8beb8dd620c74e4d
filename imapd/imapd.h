#ifndef LOFT_IMAPD_H
#define LOFT_IMAPD_H
/*
 * Inside loft-imapd: the process-wide server state, one IMAP session per
 * client connection, and the entry points the command files share.  Not
 * used outside imapd/.
 */
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "parser.h"

struct conn;
struct store;
struct daemon;
struct tls_ctx;
struct authlimit;
struct authcheck;
struct listener;
struct pop3d;
struct listener_auth;
struct ev_timer;
struct evloop;
struct session;

struct imapd {
	struct daemon *d;
	struct evloop *ev;
	struct store *st;
	struct tls_ctx *tls;
	struct authlimit *al;
	struct authcheck *ac;	  /* password checks off the loop */
	struct listener *lsn;	  /* accept loop and connection limits */
	struct pop3d *pop3;	  /* POP3 in this process (pop3/) */
	struct session *sessions; /* every live session, a doubly linked list */
	struct ev_timer *poll;
	struct ev_timer *stop_timer;
	int64_t data_version;
	/* limits */
	unsigned max_sessions;	    /* whole process */
	unsigned max_per_ip;	    /* sessions from one address */
	unsigned max_per_user;	    /* authenticated sessions of one user */
	uint64_t appendlimit;	    /* largest message APPEND takes */
	uint64_t idle_timeout_ms;   /* authenticated (RFC 3501: >= 30 min) */
	uint64_t login_timeout_ms;  /* before authentication */
	uint64_t login_deadline_ms; /* connect to login, in all (session.c) */
	int stopping;
};

enum imap_state { ST_NOTAUTH = 1, ST_AUTH = 2, ST_SELECTED = 4, ST_LOGOUT = 8 };

enum imap_mode {
	MODE_CMD,     /* reading commands */
	MODE_IDLE,    /* in IDLE, waiting for DONE */
	MODE_SASL,    /* AUTHENTICATE waiting for the client's response */
	MODE_BLOCKED, /* input paused: auth delay or streaming FETCH output */
};

/* One message of the selected mailbox as this session sees it. */
struct view_msg {
	uint32_t uid;
	unsigned flags; /* STORE_F_* plus VIEW_RECENT */
	uint64_t modseq;
};
#define VIEW_RECENT 0x100u
/* SQLite page cache of the main store handle, KiB (imapd.cache_kib) */
#define IMAPD_CACHE_KIB 128

struct fetch_job;

struct session {
	struct imapd *srv;
	struct conn *c;
	const char *sid;
	char peer[64];
	struct imap_parser *p;
	enum imap_state state;
	enum imap_mode mode;
	struct session *next, *prev;
	char tag[72]; /* tag of the command in progress (IDLE, SASL, FETCH) */
	/* authenticated */
	int64_t user_id;
	char user[256];
	/* selected */
	int64_t mbox_id;
	int readonly;
	uint32_t uidvalidity, uidnext;
	uint64_t modseq; /* HIGHESTMODSEQ this view reflects */
	struct view_msg *msgs;
	size_t nmsgs, capmsgs;
	char mbox_name[520];
	/* extensions */
	int condstore, qresync;
	int dead;	    /* output failed: closing */
	unsigned cmd_flags; /* of the command running (session.c) */
	/* logins under the throttle (lib/service/listener), and what the
	 * answer of the one under way needs */
	struct listener_auth *auth;
	char auth_tag[72];
	char auth_user[256];
	/* streaming FETCH */
	struct fetch_job *fj;
	/* pre-auth deadline; input paused while the client is not reading */
	struct ev_timer *deadline;
	int out_paused;
};

/* Output helpers (session.c).  On an output overflow the connection is
 * closed; callers need not check. */
void sess_printf(struct session *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void sess_write(struct session *s, const void *p, size_t n);
/* Sends a string as an IMAP quoted string or a literal if it must be. */
void sess_astring(struct session *s, const char *str, size_t len);
/* Appends str as quoted string or literal to b. */
void imap_buf_string(struct buf *b, const char *str, size_t len);
size_t sess_outlen(struct session *s);
/* The command finished asynchronously: resumes reading input. */
void sess_resume(struct session *s);
/* Tells every session of the process that mailbox_id changed, so those
 * in IDLE report it now. */
void imapd_changed(struct imapd *srv, int64_t mailbox_id);

/* The listener's accept callback (session.c; arg is the struct imapd):
 * starts a session on fd, which it owns from here.  The listener has
 * applied the connection limits and counted the session. */
struct sockaddr;
void imap_session_start(void *arg, int fd, const struct sockaddr *peer, const char *ip, int port,
			int implicit_tls);
/* Says BYE to every session not in the middle of a command. */
void imapd_stop_sessions(struct imapd *srv);

/* mailbox.c */
int cmd_select(struct session *s, const struct imap_cmd *c, int examine);
int cmd_create(struct session *s, const struct imap_cmd *c);
int cmd_delete(struct session *s, const struct imap_cmd *c);
int cmd_rename(struct session *s, const struct imap_cmd *c);
int cmd_subscribe(struct session *s, const struct imap_cmd *c, int on);
int cmd_list(struct session *s, const struct imap_cmd *c, int lsub);
int cmd_status(struct session *s, const struct imap_cmd *c);
int cmd_append(struct session *s, const struct imap_cmd *c);
int cmd_expunge(struct session *s, const struct imap_cmd *c, const struct imap_arg *uidset);
int cmd_close(struct session *s, const struct imap_cmd *c, int expunge);
int cmd_copy(struct session *s, const struct imap_cmd *c, const struct imap_arg *a, int uid,
	     int move);
/* Brings the view up to date and reports changes (EXISTS, EXPUNGE or
 * VANISHED, FETCH FLAGS).  expunges 0: leave expunges for later (during
 * FETCH, STORE and SEARCH by sequence number). */
void view_sync(struct session *s, int expunges);
void view_clear(struct session *s);
/* Index of uid in the view, or -1. */
long view_find(const struct session *s, uint32_t uid);
/* Converts a wire mailbox name (mUTF-7) to UTF-8 in out.  Returns 0 or -1. */
int mbox_from_wire(const struct imap_arg *a, char *out, size_t outlen);
/* Collects the view indexes a sequence set names (uid: set of UIDs).
 * Returns 0 with *idx (free()) and *n, or -1 (bad set). */
int view_select_set(struct session *s, const char *set, int uid, size_t **idx, size_t *n);
/* Appends the UIDs in set (a UID set) expunged since modseq, as a set.
 * Returns how many. */
int view_vanished_in_set(struct session *s, const char *set, uint64_t since, struct buf *out);
/* Appends sorted uids[0..n) as a compact set "1:3,7". */
void uidset_format(struct buf *b, const uint32_t *uids, size_t n);
/* Appends the FLAGS list of an entry "(\Seen kw)" to b. */
void flags_format(struct buf *b, unsigned flags, const char *keywords);

/* Parses a flag list (or one flag atom) into STORE_F_* bits and a
 * space-separated keyword string.  Returns 0 or -1 (invalid flag). */
int flags_parse(const struct imap_arg *a, unsigned *flags, struct buf *kw);

/* fetch.c */
int cmd_fetch(struct session *s, const struct imap_cmd *c, const struct imap_arg *a, int uid);
int cmd_store(struct session *s, const struct imap_cmd *c, const struct imap_arg *a, int uid);
/* writable(): continues a streaming FETCH. */
void fetch_continue(struct session *s);
void fetch_job_free(struct fetch_job *fj);
/* Gives memory freed after a big command back to the system (main.c). */
void imapd_trim_memory(void);

/* search.c */
int cmd_search(struct session *s, const struct imap_cmd *c, const struct imap_arg *a, int uid);

/* Replies "tag BAD/NO/OK text" (session.c). */
void sess_tagged(struct session *s, const char *tag, const char *status, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#endif
