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
#include "listener.h"
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
	/* APPENDs waiting for their group commit (append.c) */
	struct append_job *aq, **aq_tail;
	size_t aq_msgs, aq_bytes;
	struct ev_timer *aq_timer;
	/* the search index written behind APPEND (indexer.c); NULL: APPEND
	 * writes it in its own commit */
	struct imap_indexer *ix;
	unsigned cache_kib; /* imapd.cache_kib: the page cache between commits */
	/* limits */
	unsigned max_sessions; /* whole process */
	unsigned max_per_ip;   /* sessions from one address */
	unsigned max_per_user; /* authenticated sessions of one user */
	uint64_t appendlimit;  /* largest message APPEND takes */
	/* handshake, login deadline, idle before (RFC 3501: >= 30 min after)
	 * login; lib/service/listener applies them to every session */
	struct listener_deadlines dl;
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
/* The page cache while an APPEND batch is stored (append.c) */
#define IMAPD_COMMIT_CACHE_KIB 4096

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
	/* keywords this session was told of in FLAGS (view.c), each as
	 * " kw": a FETCH never shows one that is not here */
	struct buf kw;
	struct view_msg *msgs;
	size_t nmsgs, capmsgs;
	/* SEARCHRES (RFC 5182): the UIDs SEARCH RETURN (SAVE) kept, "$" */
	uint32_t *saved;
	size_t nsaved;
	/* CONTEXT=SEARCH: the SEARCH ... RETURN (UPDATE)s kept (search.c) */
	struct search_update *updates;
	char mbox_name[520];
	/* extensions */
	int condstore, qresync;
	/* ENABLE IMAP4rev2 (RFC 9051): no \Recent or RECENT, SEARCH answers
	 * ESEARCH, SELECT lists the mailbox; rev2 or UTF8=ACCEPT (RFC 6855):
	 * mailbox names and quoted strings in UTF-8 both ways; utf8accept:
	 * UTF8=ACCEPT itself (SEARCH takes no CHARSET then, RFC 6855 3) */
	int rev2, utf8, utf8accept;
	unsigned appends;   /* APPENDs queued for the group commit (append.c) */
	int dead;	    /* output failed: closing */
	unsigned cmd_flags; /* of the command running (session.c) */
	/* logins under the throttle (lib/service/listener), and what the
	 * answer of the one under way needs */
	struct listener_auth *auth;
	char auth_tag[72];
	char auth_user[256];
	/* streaming FETCH */
	struct fetch_job *fj;
	/* handshake and login deadlines, idle time (lib/service/listener) */
	struct listener_deadline *dl;
	int out_paused;
};

/* Output (reply.c): every byte a command writes.  On an output overflow
 * the connection is closed; callers need not check. */
/* Largest output one session may have queued (a FETCH streams below it). */
#define IMAPD_MAXOUT (96u * 1024 * 1024)
void imap_printf(struct session *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void imap_write(struct session *s, const void *p, size_t n);
/* Sends a string as an IMAP quoted string or a literal if it must be. */
void imap_astring(struct session *s, const char *str, size_t len);
/* Appends str as quoted string or literal to b. */
void imap_buf_string(struct buf *b, const char *str, size_t len);
/* The same, but valid UTF-8 may go out as a quoted string (a session with
 * IMAP4rev2 or UTF8=ACCEPT enabled). */
void imap_buf_string_utf8(struct buf *b, const char *str, size_t len);
/* Bytes queued and not sent yet. */
size_t imap_outlen(struct session *s);
/* The command finished asynchronously: resumes reading input. */
void imap_resume(struct session *s);

/* The selected mailbox's view (view.c). */
/* Command flags (session.c's table), read by imap_tagged: */
#define F_NOEXPUNGE 1 /* untagged replies must not include EXPUNGE (RFC 3501 7.4.1) */
#define F_NOSYNC    2 /* the view is not synced at all after the command */
/* Every change of s->state goes through here, logged by name. */
void imap_set_state(struct session *s, enum imap_state st);
/* Replies "tag BAD/NO/OK text"; before an OK in the selected state, the
 * view is synced (news about the mailbox goes before the tagged OK). */
void imap_tagged(struct session *s, const char *tag, const char *status, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Brings the view up to date and reports changes (EXISTS, EXPUNGE or
 * VANISHED, FETCH FLAGS).  expunges 0: leave expunges for later (during
 * FETCH, STORE and SEARCH by sequence number). */
void imap_view_sync(struct session *s, int expunges);
/* Fills the view of s->mbox_id from the store (SELECT).  Returns 0 or -1
 * (store_errmsg). */
int imap_view_load(struct session *s);
/* QRESYNC at SELECT (RFC 7162 3.2.5): VANISHED (EARLIER) for the UIDs
 * expunged since modseq since, then FETCH (UID FLAGS MODSEQ) of the
 * entries changed since.  Returns 0. */
int imap_view_qresync(struct session *s, uint64_t since);
/* FLAGS and PERMANENTFLAGS (RFC 3501 7.2.6, 7.1): the system flags, the
 * usual $-keywords and every keyword the view has announced. */
/* Starts the announced set afresh with the keywords in use by the view's
 * entries (SELECT: pass each entry's keywords, then write the lines). */
void imap_view_kw_reset(struct session *s);
/* Adds the space-separated keywords to the announced set; returns how
 * many were new. */
int imap_view_kw_add(struct session *s, const char *keywords);
/* Appends the "* FLAGS" and "* OK [PERMANENTFLAGS" lines to out. */
void imap_view_kw_lines(struct session *s, struct buf *out);
/* Before a FETCH response that shows keywords: if any was not announced
 * yet, appends the FLAGS and PERMANENTFLAGS lines for the grown set to
 * out (NULL: writes them at once). */
void imap_view_kw_announce(struct session *s, struct buf *out, const char *keywords);
/* A CONDSTORE-enabling command (RFC 7162 3.1: FETCH MODSEQ or
 * CHANGEDSINCE, STORE UNCHANGEDSINCE, SEARCH MODSEQ, STATUS
 * HIGHESTMODSEQ, ENABLE): the first one while a mailbox is selected gets
 * "* OK [HIGHESTMODSEQ n]" at once. */
void imap_condstore_enable(struct session *s);
/* Forgets the view (mailbox closed). */
void imap_view_clear(struct session *s);
/* Index of uid in the view, or -1. */
long imap_view_find(const struct session *s, uint32_t uid);
/* SEARCHRES: replaces the saved result ("$") with uids[0..n) (sorted). */
void imap_view_save_result(struct session *s, const uint32_t *uids, size_t n);
/* Collects the view indexes a sequence set names (uid: set of UIDs;
 * "$": the saved search result, either way).
 * Returns 0 with *idx (free()) and *n, or -1 (bad set). */
int imap_view_select_set(struct session *s, const char *set, int uid, size_t **idx, size_t *n);
/* Appends the UIDs in set (a UID set) expunged since modseq, as a set.
 * Returns how many. */
int imap_view_vanished_in_set(struct session *s, const char *set, uint64_t since, struct buf *out);
/* Appends sorted uids[0..n) as a compact set "1:3,7". */
void imap_uidset_format(struct buf *b, const uint32_t *uids, size_t n);
/* Appends the FLAGS list of an entry "(\Seen kw)" to b. */
void imap_flags_format(struct buf *b, unsigned flags, const char *keywords);
/* Parses a flag list (or one flag atom) into STORE_F_* bits and a
 * space-separated keyword string.  Returns 0 or -1 (invalid flag). */
int imap_flags_parse(const struct imap_arg *a, unsigned *flags, struct buf *kw);
/* Tells every session of the process that mailbox_id (0: any) changed,
 * so those in IDLE report it now. */
void imapd_changed(struct imapd *srv, int64_t mailbox_id);

/* Sessions (session.c). */
/* The listener's accept callback (arg is the struct imapd): starts a
 * session on fd, which it owns from here.  The listener has applied the
 * connection limits and counted the session. */
struct sockaddr;
void imap_session_start(void *arg, int fd, const struct sockaddr *peer, const char *ip, int port,
			int implicit_tls);
/* Says BYE to every session not in the middle of a command. */
void imapd_stop_sessions(struct imapd *srv);

/* Mailbox commands (mailbox.c). */
int imap_cmd_select(struct session *s, const struct imap_cmd *c, int examine);
int imap_cmd_create(struct session *s, const struct imap_cmd *c);
int imap_cmd_delete(struct session *s, const struct imap_cmd *c);
int imap_cmd_rename(struct session *s, const struct imap_cmd *c);
int imap_cmd_subscribe(struct session *s, const struct imap_cmd *c, int on);
int imap_cmd_list(struct session *s, const struct imap_cmd *c, int lsub);
int imap_cmd_status(struct session *s, const struct imap_cmd *c);
int imap_cmd_expunge(struct session *s, const struct imap_cmd *c, const struct imap_arg *uidset);
int imap_cmd_close(struct session *s, const struct imap_cmd *c, int expunge);
int imap_cmd_copy(struct session *s, const struct imap_cmd *c, const struct imap_arg *a, int uid,
		  int move);
/* Converts a wire mailbox name to UTF-8 in out: mUTF-7, or UTF-8 as it
 * is once the session enabled IMAP4rev2 or UTF8=ACCEPT (s->utf8).
 * Returns 0 or -1. */
int imap_mbox_from_wire(const struct session *s, const struct imap_arg *a, char *out,
			size_t outlen);
/* 1 when the client spelled the mailbox a differently from the name
 * imap_mbox_from_wire made of it (name): NFC composed it, or a trailing
 * delimiter went (not INBOX's case); given then holds the client's
 * spelling in UTF-8 (for OLDNAME).  Else 0. */
int imap_mbox_given(const struct session *s, const struct imap_arg *a, const char *name,
		    char *given, size_t len);
/* Appends the wire form of a stored (UTF-8) mailbox name as an astring:
 * mUTF-7, or with s->utf8 the UTF-8 itself as a quoted string. */
void imap_mbox_to_wire(const struct session *s, struct buf *out, const char *name);

/* APPEND and MULTIAPPEND with group commit (append.c). */
struct append_job;
/* Queues the APPEND; its tagged reply comes after the commit. */
int imap_cmd_append(struct session *s, const struct imap_cmd *c);
/* Stores every queued APPEND in one transaction and replies to each. */
void imap_append_flush(struct imapd *srv);
/* The session is going away: its queued APPENDs are stored unanswered. */
void imap_append_forget(struct session *s);
/* At shutdown: flushes the queue and frees its timer. */
void imap_append_stop(struct imapd *srv);

/* The search index thread (indexer.c). */
struct imap_indexer;
/* Opens a store handle of its own on db_path and starts the thread, which
 * first indexes whatever is pending.  The caller then sets
 * store_set_defer_index on its handle.  Returns NULL with err on failure. */
struct imap_indexer *imap_indexer_new(const char *db_path, char *err, size_t errlen);
/* New messages wait for their index rows (after an APPEND commit). */
void imap_indexer_kick(struct imap_indexer *ix);
/* on: the loop thread is about to write (its commit goes first: the
 * worker ends its transaction early); off: done.  NULL is fine. */
void imap_indexer_hold(struct imap_indexer *ix, int on);
/* Stops the thread (after the batch it is writing) and joins it; what is
 * still pending waits for the next start or a SEARCH.  NULL is fine. */
void imap_indexer_free(struct imap_indexer *ix);

/* FETCH and STORE (fetch.c). */
int imap_cmd_fetch(struct session *s, const struct imap_cmd *c, const struct imap_arg *a, int uid);
int imap_cmd_store(struct session *s, const struct imap_cmd *c, const struct imap_arg *a, int uid);
/* writable(): continues a streaming FETCH. */
void imap_fetch_continue(struct session *s);
void imap_fetch_job_free(struct fetch_job *fj);

/* OBJECTID (RFC 8474, view.c): a message's EMAILID, "M" and hex digits
 * of its stored row, size and date (a row id SQLite may reuse once the row
 * is gone never names other content with the same size and date); a
 * mailbox's MAILBOXID, "F" and hex of its row id and UIDVALIDITY.  out
 * gets at most outlen-1 characters. */
void imap_emailid(int64_t message_id, uint64_t size, int64_t internaldate, char *out,
		  size_t outlen);
void imap_mailboxid(int64_t mailbox_id, uint32_t uidvalidity, char *out, size_t outlen);

/* SEARCH (search.c). */
int imap_cmd_search(struct session *s, const struct imap_cmd *c, const struct imap_arg *a, int uid);
/* CONTEXT=SEARCH (RFC 5267): at most this many updates per session */
#define SEARCH_MAX_UPDATES 10
struct search_update;
/* After a full sync of the view (the mailbox at modseq, uidnext): each
 * kept SEARCH ... RETURN (UPDATE) is evaluated again if the mailbox
 * changed since, and "* ESEARCH (TAG ...) ADDTO/REMOVEFROM" tells the
 * difference. */
void imap_search_updates_run(struct session *s, uint64_t modseq, uint32_t uidnext);
/* Keeps a SEARCH (crit NULL) or SORT (crit: its criteria list) ... RETURN
 * (UPDATE) for tag: its keys (copied) and the UIDs it matched (for SORT
 * in sort order); answers "* NO [NOUPDATE tag]" instead past
 * SEARCH_MAX_UPDATES or for a tag in use. */
void imap_search_update_add(struct session *s, const char *tag, int uid,
			    const struct imap_arg *keys, const struct imap_arg *crit,
			    const uint32_t *uids, size_t n);
/* The UIDs matching keys (no charset) in the order of the SORT criteria
 * list crit_args (malloc'ed *out).  Returns 0, or -1 (bad keys or
 * criteria, a store error). */
int imap_sort_uids(struct session *s, const struct imap_arg *crit_args, const struct imap_arg *keys,
		   uint32_t **out, size_t *nout);
/* Forgets every kept update (the mailbox is closed). */
void imap_search_updates_free(struct session *s);
/* CANCELUPDATE "tag"... */
int imap_cmd_cancelupdate(struct session *s, const struct imap_cmd *c);
/* One message a search matched, for SORT and THREAD. */
struct imap_hit {
	uint32_t uid, seq;
	int64_t message_id;
	uint64_t size; /* as stored; imap_shown_size gives RFC822.SIZE */
	int64_t internaldate;
	unsigned mime_flags; /* MIME_F_* as stored */
};
/* Evaluates the search keys a (no RETURN, no CHARSET) against the view:
 * *out (malloc'ed, the caller frees) gets the matches in sequence order.
 * Returns 0, -1 for bad keys (BAD) or -2 when the store failed (NO), with
 * *err set. */
int imap_search_match(struct session *s, const struct imap_arg *a, struct imap_hit **out,
		      size_t *nout, const char **err);
/* The same for SORT and THREAD from their charset argument a on: the
 * charset checked (UTF-8, US-ASCII), then the keys.  Returns 0, or -1
 * when it has answered the command (BAD, NO). */
int imap_search_hits(struct session *s, const struct imap_cmd *c, const struct imap_arg *a,
		     struct imap_hit **out, size_t *nout);
/* SORT and UID SORT (sort.c). */
int imap_cmd_sort(struct session *s, const struct imap_cmd *c, const struct imap_arg *a, int uid);
struct store_raw;
/* The size a message has for s: RFC822.SIZE as FETCH shows it, so SEARCH
 * LARGER/SMALLER and SORT SIZE agree with it.  That is the stored size,
 * except in a session without UTF8=ACCEPT for a message with a UTF-8
 * header (mflags, MIME_F_*), which FETCH shows downgraded (RFC 6855 5):
 * only such messages are read (and downgraded) here, through raw. */
uint64_t imap_shown_size(struct session *s, struct store_raw *raw, int64_t message_id,
			 unsigned mflags, uint64_t size);
/* The header block of a hit (at most 256 KiB; malloc'ed, *hl bytes), or
 * NULL with *hl 0 when it cannot be read. */
char *imap_hit_header(struct session *s, struct store_raw *raw, const struct imap_hit *h,
		      size_t *hl);
/* The base subject of a header block, case-folded (utf8_fold; malloc'ed; "" when
 * none); *reply (may be NULL) says whether a Re:/Fwd: came off. */
char *imap_subject_key(const char *hdr, size_t hl, int *reply);
/* The sent date (Date:, UTC) of a header block, else the INTERNALDATE. */
int64_t imap_hit_date(const char *hdr, size_t hl, const struct imap_hit *h);
/* THREAD and UID THREAD (thread.c). */
int imap_cmd_thread(struct session *s, const struct imap_cmd *c, const struct imap_arg *a, int uid);

#endif
