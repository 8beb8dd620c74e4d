#ifndef LOFT_QUEUE_H
#define LOFT_QUEUE_H
/*
 * loft-queue's shared state: the runner (queue_main.c) picks due rows from
 * the store, groups them into jobs (one message to one destination) under
 * destinations (a recipient domain, or the smarthost), and delivers them
 * with lib/net/smtp_client (queue_deliver.c); outcomes are written back by
 * queue_result.c; the route comes from queue_route.c.
 */
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "smtp_client.h"

struct daemon;
struct evloop;
struct store;
struct store_raw;
struct dns;
struct tls_ctx;
struct dns_req;
struct ev_timer;

/* --- route (queue_route.c) ---------------------------------------------- */

enum queue_route_kind { ROUTE_DIRECT, ROUTE_SMARTHOST, ROUTE_HOLD };

struct queue_smarthost {
	char host[256];
	int port;
	enum smtpc_tls tls; /* SMTPC_TLS_STARTTLS or SMTPC_TLS_IMPLICIT */
	char user[256];
	char password[512];
	int verify; /* 0: any certificate (warned) */
};

struct queue_route {
	enum queue_route_kind kind;
	char why[160]; /* "route.mode=auto verdict=relay, smarthost" */
	int warn;      /* a choice the admin should know about (logged as an event) */
	int have_smarthost;
	struct queue_smarthost sh;
};

/* The contract in COMMON.md, as a pure function: mode is route.mode
 * ("auto" when NULL or empty), verdict route.verdict ("unknown" when NULL
 * or empty).  Returns the route kind; why says the reason, *warn is set
 * for "unknown, no smarthost: direct" and for an unknown mode. */
enum queue_route_kind queue_route_decide(const char *mode, const char *verdict, int have_smarthost,
					 char *why, size_t whylen, int *warn);
/* Reads route.* and smarthost.* from the store into r.  Returns 0 or -1. */
int queue_route_load(struct store *st, struct queue_route *r);
/* "direct", "smarthost", "hold". */
const char *queue_route_name(enum queue_route_kind k);

/* --- runner state -------------------------------------------------------- */

struct queue_conf {
	char helo[256];
	int mx_port; /* test-only: direct delivery to this port (25) */
	uint64_t timeout_ms, connect_timeout_ms;
	int64_t retry_min, retry_max, max_age, delay_warning; /* seconds */
	unsigned max_per_dest, max_conns, max_rcpts;
	unsigned initial_per_dest; /* slow start's first allowance */
	unsigned scan_ms;
	unsigned sign_threads;
};

struct queue_rcpt {
	int64_t id;
	char *addr;
	int64_t created;
	int attempts;
	int delay_notified;
};

struct dest;
struct qconn;
struct signer;
struct msig;
struct qsync;
struct qbatch;

/* A DKIM signature to make off the loop (queue_sign.c). */
struct sign_req {
	char *pem; /* the key, owned (wiped when freed) */
	unsigned char hash[32];
	char *sig; /* the result, base64, or NULL (err says why) */
	char err[160];
	void (*done)(struct sign_req *r); /* on the loop */
	void *arg;
	struct sign_req *next;
};

struct job {
	struct dest *d;
	int64_t message_id;
	char *mail_from;
	struct queue_rcpt *r;
	size_t n, cap;
	struct job *next;
	/* filled before sending */
	uint64_t size;
	int eightbit, smtputf8;
	char *prefix; /* DKIM-Signature field */
	size_t prefix_len;
	uint64_t raw_size;    /* the stored message's bytes */
	char *unsigned_field; /* waiting for its b= from a signing thread */
	struct qconn *qc;     /* the session the job waits on */
	/* the message's signature, shared by its jobs (queue_prepare.c) */
	struct msig *ms;
	struct job *ms_next; /* waiting for ms's signature */
	/* downgraded to quoted-printable for a server without 8BITMIME */
	struct qp_state *qp;
	const char **addrs; /* r[i].addr for smtpc_message */
	struct smtpc_message msg;
};

struct target {
	char host[256];
	struct sockaddr_storage sa;
	socklen_t salen;
};

#define QUEUE_MAX_TARGETS 32

/* queue_slowstart.c: how many sessions a destination may have now. */
struct queue_slowstart {
	unsigned window; /* sessions allowed now, 1..max */
	unsigned max;
};
/* window = initial (at least 1, at most max). */
void queue_slowstart_init(struct queue_slowstart *s, unsigned initial, unsigned max);
/* A transaction went through: one session more, up to max. */
void queue_slowstart_success(struct queue_slowstart *s);
/* A session never got as far as a transaction: half as many, at least 1. */
void queue_slowstart_failure(struct queue_slowstart *s);

struct dest {
	struct queue *q;
	char *key; /* lower-case domain, or "[smarthost]" */
	int smarthost;
	struct job *pending, *pending_tail;
	size_t npending;
	unsigned nconn, nconnecting;
	int resolving, resolved;
	struct dns_req *req;
	struct target t[QUEUE_MAX_TARGETS];
	size_t nt;
	int naddr_queries; /* smarthost: A and AAAA outstanding */
	struct queue_slowstart ss;
	struct dest *next;
};

/* An open-addressing set of queue ids (> 0). */
struct idset {
	int64_t *v;
	size_t cap, n;
};
int idset_has(const struct idset *s, int64_t id);
void idset_add(struct idset *s, int64_t id);
void idset_del(struct idset *s, int64_t id);

struct queue {
	struct daemon *d;
	struct evloop *ev;
	struct store *st;
	struct store_raw *raw;
	struct dns *dns;
	struct tls_ctx *tls_opp; /* any certificate (MXes; smarthost.verify=0) */
	struct tls_ctx *tls_sh;	 /* verifying, for the smarthost */
	int tls_reload;		 /* drop both once no session is open */
	struct queue_conf conf;
	struct queue_route route;
	char last_route_why[160];
	struct dest *dests;
	unsigned nconns;
	struct qconn *conns;
	struct qconn *commit_list;		   /* outcomes waiting for the group commit */
	struct qsync *sync;			   /* the WAL's fsync thread (queue_sync.c) */
	struct qbatch *sync_wait, *sync_wait_tail; /* committed, not yet durable */
	struct ev_timer *commit_timer;
	int notify_mail; /* a report was stored: tell loft-imapd after the commit */
	int in_commit;	 /* inside the group commit's transaction */
	struct signer *signer;
	struct ev_timer *scan_timer, *stop_timer;
	int64_t data_version;
	int scan_wanted;
	int stopping;
	/* the DKIM signature of each message a job in memory holds: its
	 * other destinations' jobs (and those picked while it is signed)
	 * share it (queue_prepare.c) */
	struct msig *msigs;
	struct idset inflight;	    /* rows being worked on */
	struct idset via_smarthost; /* rows a direct MX refused for reputation */
};

/* queue_main.c */
/* The client TLS context (made on first use), verifying or not; NULL when
 * it cannot be made (logged). */
struct tls_ctx *queue_tls(struct queue *q, int verify);
/* Tells the other daemons new mail was stored (a bounce in an INBOX). */
void queue_notify_mail(struct queue *q);
int queue_inflight_has(struct queue *q, int64_t id);
void queue_inflight_add(struct queue *q, int64_t id);
void queue_inflight_del(struct queue *q, int64_t id);

/* queue_deliver.c: starts (or goes on with) delivery for d's jobs. */
void queue_dest_kick(struct dest *d);
/* Finds or makes the destination for key. */
struct dest *queue_dest_get(struct queue *q, const char *key, int smarthost);
/* Writes the outcomes waiting for the group commit now. */
void queue_commit_now(struct queue *q);
/* The group commit's timer callback (armed at 0 by a finished transaction). */
void queue_commit_timer(struct evloop *ev, struct ev_timer *t, void *arg);
/* Aborts every connection (stop); the loop stops once the last closed. */
void queue_abort_all(struct queue *q);
/* Every outcome committed before sync request seq is durable: the
 * sessions waiting for it go on (called by queue_sync.c on the loop). */
void queue_synced(struct queue *q, uint64_t seq);

/* queue_sync.c: the thread that fsyncs the WAL after outcome commits.
 * start: 0 or -1 (then commits stay synchronous).  request: a new
 * sequence number, durable once queue_synced() says so.  drain: waits
 * for every request and acts on it (stop).  stop: ends the thread. */
int queue_sync_start(struct queue *q, const char *db_path);
int queue_sync_async(struct queue *q);
uint64_t queue_sync_request(struct queue *q);
void queue_sync_drain(struct queue *q);
void queue_sync_stop(struct queue *q);

/* queue_result.c: what happened to a job.  st[i] for recipient i;
 * mx/addr/tls describe the attempt (may be "" when none was made). */
struct queue_attempt_info {
	const char *route, *mx, *addr, *tls;
	int verified;
};
void queue_job_result(struct queue *q, struct job *j, const struct smtpc_status *st,
		      const struct queue_attempt_info *ai);
/* Every recipient of j gets the same status. */
void queue_job_fail(struct queue *q, struct job *j, const struct smtpc_status *st,
		    const struct queue_attempt_info *ai);
void queue_job_free(struct job *j);

/* queue_prepare.c: size, 8-bit, SMTPUTF8, DKIM for a job before sending.
 * Returns 0 (ready), 1 (its signature is being made: queue_job_ready()
 * follows from the loop), or -1 with st set (the message could not be
 * read). */
int queue_job_prepare(struct queue *q, struct job *j, struct smtpc_status *st);
/* j lets go of its message's signature (queue_job_free). */
void queue_msig_unref(struct job *j);
struct qp_state;
void queue_qp_free(struct qp_state *s);

/* queue_deliver.c: j's signature is done (or failed: sent unsigned). */
void queue_job_ready(struct job *j);

/* queue_sign.c: n signing threads (0: sign on the loop).  Returns 0 or -1. */
int queue_sign_start(struct queue *q, unsigned n);
int queue_sign_async(struct queue *q);
/* Hands r to a thread; r->done(r) runs later on the loop, which frees r. */
void queue_sign_submit(struct queue *q, struct sign_req *r);
/* Waits for every request handed out and hands each back (stop). */
void queue_sign_drain(struct queue *q);
void queue_sign_stop(struct queue *q);
void queue_sign_req_free(struct sign_req *r);

#endif
