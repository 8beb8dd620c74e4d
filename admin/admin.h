#ifndef LOFT_ADMIN_ADMIN_H
#define LOFT_ADMIN_ADMIN_H
/*
 * loft-admin's shared state and the request/response pair every page
 * handler works on.  http.c owns the transport (MHD on Loft's event loop,
 * TLS in front); route.c picks a handler; the handlers (wizard.c,
 * pages.c, autoconfig.c) read the request and fill the response.
 */
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "form.h"
#include "store_admin.h"

#include "dnsrecs.h" /* DNSREC_MAX: the records shown and checked */

struct daemon;
struct evloop;
struct store;
struct config;
struct authlimit;
struct MHD_Connection;

#define ADMIN_PAGE_MAX	  (4u << 20) /* one rendered page */
#define ADMIN_MAX_HEADERS 8

struct admin {
	struct daemon *d;
	struct evloop *ev;
	struct store *st;
	struct config *cfg;
	struct authlimit *al;
	const char *datadir;
	const char *local_nets; /* NULL: FORM_LOCAL_NETS */
	int dev;
	int https_port;	   /* the port of the https listener, 0: none */
	int require_https; /* admin pages only over HTTPS once set up */
	uint64_t max_upload;
	int64_t session_idle_s;
	char hostname[256]; /* from loft.conf, else the machine's */
	int stopping;	    /* suspended requests are answered 503 */
	/* loads the certificate again (after ACME installed one) */
	void (*reload_tls)(struct admin *a);
};

struct req {
	struct MHD_Connection *mc;
	const char *method; /* "GET", "POST", ... */
	const char *path;   /* without the query */
	const char *host;   /* Host header or "" */
	char ip[64];
	int https;
	int post;
	struct buf body;
	/* an upload (restore) goes to an unlinked file, not to memory, and
	 * is mapped read-only once complete */
	int upload_fd;
	uint64_t upload_len;
	int upload_err;
	void *upload_map;
	int too_big;
	uint64_t discarded;    /* bytes dropped past the limit; -1: answered */
	struct form form;      /* parsed on POST with a form content type */
	int form_bad;	       /* the body was not a valid form */
	int parsed;	       /* the form was parsed (once) */
	struct req *susp_next; /* http.c's list of suspended requests */
	int multipart;	       /* multipart/form-data (an upload): CSRF in the query */
	const char *form_why;
	/* session state (session.c) */
	int has_session;
	char sess_hash[STORE_ADMIN_HASH_MAX + 1];
	struct store_admin_session sess;
	/* the DNS check (dnscheck.c): 0 none, 1 running, 2 done; per record
	 * 0 not checked, 1 in place, 2 missing, 3 lookup failed, 4 differs */
	int dns_state;
	int dns_res[DNSREC_MAX];
	/* the relay test (relaytest.c): 0 none, 1 running, 2 done */
	int relay_state, relay_ok;
	char relay_msg[1024];
	/* login throttling (session.c) */
	int delayed;
	struct ev_timer *delay_timer;
	/* work off the loop (work.c: password check, backup): 0 none, 1
	 * running, 2 done with work_result */
	int work_state, work_result;
	struct admin_work *work;
};

struct resp {
	int status;
	const char *ctype; /* NULL: text/html */
	struct buf body;
	int nh;
	char *hname[ADMIN_MAX_HEADERS], *hval[ADMIN_MAX_HEADERS];
	int fd; /* >= 0: send this file instead of body (owned) */
	uint64_t fd_size;
	int suspend; /* 1: the handler suspended the request (see session.c) */
};

/* Adds a header (both copied).  Aborts on out of memory. */
void admin_resp_header(struct resp *r, const char *name, const char *value);
/* A redirect (303 See Other after a POST, or 302) to location. */
void admin_resp_redirect(struct resp *r, int status, const char *location);

/* A query-string argument of the request (decoded by MHD), or NULL. */
const char *admin_req_query(const struct req *q, const char *name);

/* route.c: fills res for req (never fails: errors are pages). */
void admin_route(struct admin *a, struct req *req, struct resp *res);
/* 1 when the wizard is done (setting setup.done = 1). */
int admin_setup_done(struct admin *a);
/* 1 when req comes from the local network (admin.local_nets). */
int admin_is_local(struct admin *a, const struct req *req);

#endif
