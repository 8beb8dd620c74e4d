#ifndef LOFT_SMTPD_H
#define LOFT_SMTPD_H
/*
 * loft-smtpd's own shared declarations: the server (limits, TLS context,
 * store handle, live sessions) that main.c sets up and session.c and
 * deliver.c use.  Nothing outside smtpd/ includes this.
 */
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "buf.h"
#include "gateway.h"
#include "store.h"
#include "store_deliver.h"

struct daemon;
struct evloop;
struct store;
struct tls_ctx;
struct authlimit;
struct authcheck;
struct session;
struct commit;
struct listener;
struct greetpass;
struct ev_timer;

enum smtpd_port { PORT_MX = 0, PORT_SUBMISSION, PORT_SUBMISSIONS, PORT_COUNT };
/* The listener id of the optional gateway port (smtpd.gateway_port): an
 * inbound relay that holds the public MX forwards to it.  Only the
 * addresses of smtpd.gateway_from may connect; their sessions are MX
 * sessions (PORT_MX) in every other way. */
#define PORT_GATEWAY PORT_COUNT

/* Early-talker passes waiting to be written to the store: more new
 * addresses than this within 100 ms are remembered in memory only. */
#define SMTPD_PASS_PENDING 64

/* Every limit is a loft.conf key "smtpd.<name>"; see README.md. */
struct smtpd_limits {
	uint64_t max_line;	       /* command line, CRLF included (RFC 5321: 512) */
	uint64_t max_data_line;	       /* text line, CRLF included (RFC 5321: 1000) */
	uint64_t max_message_size;     /* bytes, advertised in SIZE */
	uint64_t max_recipients;       /* per message */
	uint64_t max_commands;	       /* per session */
	uint64_t max_bad_commands;     /* per session, then 421 */
	uint64_t max_connections;      /* in total */
	uint64_t max_per_ip;	       /* per client address */
	uint64_t timeout_command_s;    /* RFC 5321 4.5.3.2.7: 5 minutes */
	uint64_t timeout_data_s;       /* 4.5.3.2.5: 3 minutes per data block */
	uint64_t timeout_data_total_s; /* a whole DATA text or BDAT series */
	uint64_t timeout_envelope_s;   /* connect or last message -> next one's data */
	uint64_t max_session_s;	       /* a whole session, however busy (0: no limit) */
	uint64_t handshake_timeout_s;  /* a TLS handshake (465, or after STARTTLS) */
	uint64_t max_body_in_flight;   /* bytes of bodies held by all sessions */
	uint64_t greeting_delay_ms;    /* early-talker window */
	uint64_t greeting_pass_ttl_s;  /* a passed address is greeted at once */
	uint64_t greeting_pass_max;    /* addresses remembered at most */
	uint64_t stats_interval_ms;    /* counts for the chart: written after this */
};

/* What the dashboard chart counts (stats.c, store_smtpstats.h). */
enum smtp_stat {
	SMTP_STAT_RECEIVED, /* a message accepted on the MX port */
	SMTP_STAT_RCPT,	    /* a recipient refused */
	SMTP_STAT_CONN,	    /* a connection refused (early talker, limits, gateway) */
	SMTP_STAT_AUTH,	    /* a login failed or refused */
	SMTP_STAT_DATA,	    /* a message body refused */
	SMTP_STAT_N
};

struct smtpd {
	struct daemon *d;
	struct evloop *ev;
	struct store *st;
	struct tls_ctx *tls;
	struct authlimit *al;
	struct authcheck *ac; /* password checks on worker threads */
	struct smtpd_limits lim;
	char hostname[256];
	struct listener *lsn; /* accept loop and connection limits */
	/* the gateway port's settings (gateway.h): who may use it */
	struct gateway_conf gw;
	struct session *sessions;
	struct greetpass *passed; /* early-talker check passed (greetpass.h) */
	struct commit *commit;	  /* the store thread, commit.c */
	uint64_t body_in_flight;  /* sum of the sessions' body buffers (len) */
	int stopping;
	struct ev_timer *trim; /* malloc_trim once idle, session.c */
	/* early-talker passes not yet in the store, and the timer that
	 * writes them (session.c) */
	struct {
		char ip[64];
		int64_t at; /* Unix seconds */
	} pending[SMTPD_PASS_PENDING];
	size_t n_pending;
	struct ev_timer *greet_save;
	/* counts for the dashboard not yet in the store (stats.c) */
	uint64_t stat_n[SMTP_STAT_N];
	int64_t stat_day;
	struct ev_timer *stat_save;
};

/* The listener's accept callback (lib/service/listener.h; arg is the
 * struct smtpd, port an enum smtpd_port): makes a session for fd, which it
 * owns from here.  The listener has applied the connection limits and
 * counted the session; the session ends it with listener_session_end. */
void smtp_session_accept(void *arg, int fd, const struct sockaddr *peer, const char *ip, int port,
			 int implicit_tls);
/* Server stopping: idle sessions get 421 and close; a session in the middle
 * of DATA finishes that message first; the loop stops when the last
 * session is gone. */
void smtp_session_stop_all(struct smtpd *srv);

/* The wall clock in milliseconds: early-talker passes outlive the process
 * (store_greet.h), so they are not on the loop's monotonic clock. */
uint64_t smtp_wall_ms(void);
/* A new early-talker pass of ip: written to the store (with any others of
 * the same moment) 100 ms later. */
void smtp_greet_pass_note(struct smtpd *srv, const char *ip);
/* Writes the passes not yet in the store now (at a stop). */
void smtp_greet_pass_flush(struct smtpd *srv);

/* --- stats.c ------------------------------------------------------------- */

/* Counts one event of kind for today; written to the store within
 * smtpd.stats_interval_ms. */
void smtp_stat_count(struct smtpd *srv, enum smtp_stat kind);
/* Writes the counts not yet in the store now (the timer, a stop). */
void smtp_stat_flush(struct smtpd *srv);

/* --- deliver.c ---------------------------------------------------------- */

/* Room kept in front of each message body for the trace headers written
 * after the body is in (Return-Path, Received, Message-ID, Date). */
#define DELIVER_GAP 3072

struct deliver_req {
	struct smtpd *srv;
	const char *sid;
	const char *helo;
	const char *peer_ip;
	int esmtp;
	const char *tls_version; /* NULL: plaintext */
	const char *tls_cipher;
	const char *auth_user; /* NULL: not authenticated */
	int64_t auth_user_id;
	int submission; /* add Message-ID/Date, check From: ownership */
	const char *mail_from;
	const int64_t *users;
	size_t n_users;
	const char *const *remote;
	size_t n_remote;
	struct buf *body; /* DELIVER_GAP bytes, then the message */
};

struct deliver_ready {
	char *start; /* the finished message, inside the body buffer */
	size_t len;
	size_t rplen;	    /* length of the Return-Path line at start */
	int64_t message_id; /* set by the store thread */
};

/* Checks the message (header section, and on submission the From:/Sender:
 * ownership) and writes the trace headers into the gap.  Returns 0 with
 * *out filled, or -1 with a 5xx reply (no CRLF) in reply. */
int smtp_deliver_prepare(const struct deliver_req *r, struct deliver_ready *out, char *reply,
			 size_t replylen);
/* The store deliveries for a prepared message: the local copy (with
 * Return-Path) when there are local users, the queued copy (without) when
 * there are remote recipients.  Fills out[0..n) pointing into r and rd and
 * returns n (1 or 2).  The store sets their message_id. */
size_t smtp_deliver_items(const struct deliver_req *r, const struct deliver_ready *rd,
			  struct store_delivery out[2]);
/* Logs one delivered message (after the commit). */
void smtp_deliver_log(const struct deliver_req *r, const struct deliver_ready *rd);

/* --- commit.c: group commit on the store thread ------------------------- */

/* SQLite page cache per handle (SQLite's default is 2000 KiB).  The store
 * thread's cache holds the index pages a commit rewrites; pages it drops
 * are read back from the OS page cache.  In make bench (10 clients, 10 KB
 * messages) 128 KiB runs 2-3% below 512 KiB and saves about 400 KiB of
 * RSS.  The loop's handle only does small lookups. */
#define SMTPD_STORE_CACHE_KIB 128
#define SMTPD_LOOP_CACHE_KIB  128

struct commit_job {
	struct commit_job *next;
	const struct deliver_req *req;
	struct deliver_ready *ready;
	void *owner; /* the session */
	/* runs on the loop once the job is back (stored or failed) */
	void (*done)(struct commit_job *job);
	int ok;	       /* set by the store thread: committed durably */
	size_t batch;  /* messages in the same transaction */
	char err[160]; /* the store's reason when !ok */
};

/* Opens the store thread's own handle on db_path and starts it.  Returns 0,
 * or -1 with a reason in err. */
int smtp_commit_start(struct smtpd *srv, const char *db_path, char *err, size_t errlen);
/* Hands a prepared message to the store thread; job->done(job) runs on the
 * loop once it is stored or failed.  The job and what it points to must
 * stay untouched until then. */
void smtp_commit_submit(struct smtpd *srv, struct commit_job *job);
/* Jobs submitted and not yet handed back. */
unsigned smtp_commit_inflight(const struct smtpd *srv);
/* Finishes the queued jobs, hands them back, stops the thread. */
void smtp_commit_stop(struct smtpd *srv);

struct deliver_hdrs {
	size_t header_len; /* bytes of the header section, blank line included */
	int n_from, n_sender, n_date, n_msgid;
	const char *from; /* value of the first From:, folded lines included */
	size_t from_len;
	const char *sender;
	size_t sender_len;
};
/* Scans the header section of msg.  Returns 0, or -1 when it is not a
 * header section at all (a line with no colon before the blank line). */
int smtp_deliver_scan_headers(const char *msg, size_t len, struct deliver_hdrs *out);

#endif
