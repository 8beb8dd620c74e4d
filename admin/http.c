/*
 * loft-admin's transport; see http.h.  MHD parses HTTP (request line,
 * headers, chunked bodies, query strings, cookies) under its own limits
 * (connection memory, timeout); this file adds the body limit, the
 * security headers every response carries, and the TLS relay.
 */
#include <errno.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <netinet/in.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "conn.h"
#include "evloop.h"
#include "html.h"
#include "http.h"
#include "work.h"
#include "listener.h"
#include "session.h"
#include "log.h"
#include "strnum.h"
#include "tls.h"

#define RELAY_CHUNK 16384
#define DISCARD_MAX (1u << 20) /* bytes of an over-long chunked body read and dropped */

/* One client connection as MHD sees it (its socket_context). */
struct cinfo {
	int tls;
	char ip[64];
	struct http *h;
};

/* An HTTPS client: TLS on the conn, plaintext to MHD on the socketpair. */
struct relay {
	struct http *h;
	struct conn *c;
	/* the TLS handshake deadline */
	struct listener_deadline *dl;
	int fd; /* our end of the socketpair */
	int fd_watch;
	char toss[RELAY_CHUNK];
	char ip[64];
	struct relay *next, **prevp;
};

struct http {
	struct admin *a;
	struct MHD_Daemon *mhd;
	struct listener *lsn;
	struct ev_timer *timer;
	struct tls_ctx *tls;
	unsigned timeout_s;
	unsigned handshake_s;
	unsigned conns;
	struct relay *relays;
	struct req *suspended; /* requests waiting (login delay, relay test) */
	int epfd;
};

static void http_kick(struct http *h);

/* --- responses ---------------------------------------------------------- */

void admin_resp_header(struct resp *r, const char *name, const char *value)
{
	if (r->nh == ADMIN_MAX_HEADERS)
		bug("event=too-many-headers");
	r->hname[r->nh] = strdup(name);
	r->hval[r->nh] = strdup(value);
	if (!r->hname[r->nh] || !r->hval[r->nh])
		bug("event=out-of-memory");
	r->nh++;
}

void admin_resp_redirect(struct resp *r, int status, const char *location)
{
	r->status = status;
	admin_resp_header(r, "Location", location);
	buf_reset(&r->body);
}

static void resp_free(struct resp *r)
{
	for (int i = 0; i < r->nh; i++) {
		free(r->hname[i]);
		free(r->hval[i]);
	}
	buf_free(&r->body);
	if (r->fd >= 0)
		close(r->fd);
}

static void add_security_headers(struct MHD_Response *mr, int https)
{
	/* no inline script or style anywhere: the CSP can say 'self' only */
	MHD_add_response_header(mr, "Content-Security-Policy",
				"default-src 'none'; style-src 'self'; script-src 'self'; "
				"img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; "
				"base-uri 'none'");
	MHD_add_response_header(mr, "X-Frame-Options", "DENY");
	MHD_add_response_header(mr, "X-Content-Type-Options", "nosniff");
	MHD_add_response_header(mr, "Referrer-Policy", "no-referrer");
	MHD_add_response_header(mr, "Cache-Control", "no-store");
	if (https)
		MHD_add_response_header(mr, "Strict-Transport-Security", "max-age=31536000");
}

static enum MHD_Result send_resp(struct MHD_Connection *mc, struct resp *r, int https)
{
	struct MHD_Response *mr;
	enum MHD_Result ok;

	if (r->fd >= 0) {
		mr = MHD_create_response_from_fd64(r->fd_size, r->fd);
		if (mr)
			r->fd = -1; /* MHD closes it */
	} else {
		mr = MHD_create_response_from_buffer(r->body.len, r->body.data,
						     MHD_RESPMEM_MUST_COPY);
	}
	if (!mr)
		return MHD_NO;
	add_security_headers(mr, https);
	MHD_add_response_header(mr, "Content-Type",
				r->ctype ? r->ctype : "text/html; charset=utf-8");
	for (int i = 0; i < r->nh; i++)
		MHD_add_response_header(mr, r->hname[i], r->hval[i]);
	ok = MHD_queue_response(mc, (unsigned)r->status, mr);
	MHD_destroy_response(mr);
	return ok;
}

static enum MHD_Result send_simple(struct MHD_Connection *mc, int status, const char *title,
				   const char *msg, int https)
{
	struct resp r = {.status = status, .fd = -1};
	enum MHD_Result ok;

	buf_init(&r.body, ADMIN_PAGE_MAX);
	admin_h_error(&r, status, title, msg);
	/* the rest of an over-long body is not read: close afterwards */
	admin_resp_header(&r, "Connection", "close");
	ok = send_resp(mc, &r, https);
	resp_free(&r);
	return ok;
}

/* --- requests ----------------------------------------------------------- */

static uint64_t body_limit(struct http *h, const char *path)
{
	if (strcmp(path, "/admin/restore") == 0)
		return h->a->max_upload;
	return FORM_MAX_BODY;
}

/* An upload: only a logged-in admin's is accepted at all (before a byte
 * of it is read), and it goes to an unlinked file under DATADIR, so a
 * 64 MB backup costs disk, not memory.  Returns what on_request returns. */
static enum MHD_Result upload_begin(struct http *h, struct req *q)
{
	admin_session_load(h->a, q);
	if (!q->has_session || !q->sess.authed) {
		q->too_big = 1;
		q->discarded = (uint64_t)-1;
		return send_simple(q->mc, 403, "Log in first", "Log in to upload a backup.",
				   q->https);
	}
	q->upload_fd = open(h->a->datadir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (q->upload_fd < 0) {
		log_err(NULL, "event=upload-file-failed error=\"%s\"", strerror(errno));
		q->upload_err = 1;
	}
	return MHD_YES;
}

static void upload_write(struct http *h, struct req *q, const char *p, size_t n)
{
	if (q->upload_err)
		return;
	if (q->upload_len + n > h->a->max_upload) {
		q->too_big = 1;
		log_info(NULL, "event=request-too-large ip=%s path=%s", q->ip, q->path);
		return;
	}
	q->upload_len += n;
	while (n) {
		ssize_t w = write(q->upload_fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			log_err(NULL, "event=upload-write-failed error=\"%s\"", strerror(errno));
			q->upload_err = 1;
			return;
		}
		p += w;
		n -= (size_t)w;
	}
}

static const struct cinfo *conn_info(struct MHD_Connection *mc)
{
	const union MHD_ConnectionInfo *ci =
	    MHD_get_connection_info(mc, MHD_CONNECTION_INFO_SOCKET_CONTEXT);

	return ci ? ci->socket_context : NULL;
}

static int is_form(struct MHD_Connection *mc)
{
	const char *ct = MHD_lookup_connection_value(mc, MHD_HEADER_KIND, "Content-Type");

	return ct && strncasecmp(ct, "application/x-www-form-urlencoded", 33) == 0;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *mc, const char *url,
				  const char *method, const char *version, const char *upload,
				  size_t *upload_size, void **con_cls)
{
	struct http *h = cls;
	struct req *q = *con_cls;
	const struct cinfo *ci;
	struct resp r;
	enum MHD_Result ok;

	(void)version;
	if (!q) {
		const char *cl;
		uint64_t n;

		q = calloc(1, sizeof(*q));
		if (!q)
			return MHD_NO;
		*con_cls = q;
		q->mc = mc;
		q->method = method;
		q->path = url;
		q->post = strcmp(method, "POST") == 0;
		q->host = MHD_lookup_connection_value(mc, MHD_HEADER_KIND, "Host");
		if (!q->host)
			q->host = "";
		ci = conn_info(mc);
		if (ci) {
			q->https = ci->tls;
			snprintf(q->ip, sizeof(q->ip), "%s", ci->ip);
		}
		q->upload_fd = -1;
		buf_init(&q->body, FORM_MAX_BODY);
		{
			const char *ct =
			    MHD_lookup_connection_value(mc, MHD_HEADER_KIND, "Content-Type");
			q->multipart = ct && strncasecmp(ct, "multipart/form-data", 19) == 0;
		}
		cl = MHD_lookup_connection_value(mc, MHD_HEADER_KIND, "Content-Length");
		if (cl && (strnum_u64(cl, UINT64_MAX, &n) < 0 || n > body_limit(h, url))) {
			q->too_big = 1;
			q->discarded = (uint64_t)-1; /* answered now: nothing is read */
			log_info(NULL, "event=request-too-large ip=%s path=%s length=%s", q->ip,
				 url, cl);
			return send_simple(mc, 413, "Too large",
					   "That request is larger than this page accepts.",
					   q->https);
		}
		if (q->post && strcmp(url, "/admin/restore") == 0)
			return upload_begin(h, q);
		return MHD_YES;
	}
	if (*upload_size) {
		/* MHD 0.9.75 cannot answer in the middle of a body whose length
		 * was not announced (chunked): past the limit the rest is read
		 * and dropped, up to DISCARD_MAX more, and answered with 413 at
		 * its end; a body longer still loses its connection */
		if (q->too_big) {
			q->discarded += *upload_size;
			*upload_size = 0;
			return q->discarded > DISCARD_MAX ? MHD_NO : MHD_YES;
		}
		if (q->upload_fd >= 0) {
			upload_write(h, q, upload, *upload_size);
			*upload_size = 0;
			return MHD_YES;
		}
		if (buf_append(&q->body, upload, *upload_size) < 0) {
			q->too_big = 1;
			log_info(NULL, "event=request-too-large ip=%s path=%s", q->ip, q->path);
		}
		*upload_size = 0;
		return MHD_YES;
	}
	if (q->too_big && q->discarded != (uint64_t)-1) {
		q->discarded = (uint64_t)-1;
		return send_simple(mc, 413, "Too large",
				   "That request is larger than this page accepts.", q->https);
	}
	if (q->too_big)
		return MHD_YES; /* answered already */
	if (q->upload_fd >= 0 && !q->upload_map && q->upload_len > 0 && !q->upload_err) {
		q->upload_map =
		    mmap(NULL, (size_t)q->upload_len, PROT_READ, MAP_PRIVATE, q->upload_fd, 0);
		if (q->upload_map == MAP_FAILED) {
			q->upload_map = NULL;
			q->upload_err = 1;
		}
	}
	if (q->post && !q->parsed && is_form(mc) && strcmp(q->path, "/admin/restore") != 0) {
		q->parsed = 1; /* once: a suspended request comes back here */
		if (admin_form_parse(&q->form, q->body.data ? q->body.data : "", q->body.len,
				     &q->form_why) < 0)
			q->form_bad = 1;
	}
	if (h->a->stopping) /* a suspended request woken by admin_http_free */
		return send_simple(mc, 503, "Stopping", "Loft is stopping; try again in a moment.",
				   q->https);
	memset(&r, 0, sizeof(r));
	r.status = 200;
	r.fd = -1;
	buf_init(&r.body, ADMIN_PAGE_MAX);
	admin_route(h->a, q, &r);
	if (r.suspend) {
		resp_free(&r);
		MHD_suspend_connection(mc);
		q->susp_next = h->suspended;
		h->suspended = q;
		return MHD_YES;
	}
	log_debug(NULL, "event=request ip=%s method=%s path=%s status=%d tls=%d", q->ip, method,
		  url, r.status, q->https);
	ok = send_resp(mc, &r, q->https);
	resp_free(&r);
	return ok;
}

static void on_completed(void *cls, struct MHD_Connection *mc, void **con_cls,
			 enum MHD_RequestTerminationCode toe)
{
	struct req *q = *con_cls;

	(void)cls;
	(void)mc;
	(void)toe;
	if (!q)
		return;
	ev_timer_free(q->delay_timer);
	admin_work_forget(q);
	if (q->upload_map)
		munmap(q->upload_map, (size_t)q->upload_len);
	if (q->upload_fd >= 0)
		close(q->upload_fd);
	admin_form_free(&q->form);
	buf_free(&q->body);
	free(q);
	*con_cls = NULL;
}

const char *admin_req_query(const struct req *q, const char *name)
{
	return MHD_lookup_connection_value(q->mc, MHD_GET_ARGUMENT_KIND, name);
}

/* The one transport of the process (for admin_http_resume). */
static struct http *the_http;

void admin_http_resume(struct req *q)
{
	struct req **pp;

	if (!the_http)
		return;
	for (pp = &the_http->suspended; *pp && *pp != q; pp = &(*pp)->susp_next)
		;
	if (!*pp)
		bug("event=resume-not-suspended");
	*pp = q->susp_next;
	MHD_resume_connection(q->mc);
	/* MHD handles the resumed connection at its next run */
	if (the_http)
		http_kick(the_http);
}

static void on_notify(void *cls, struct MHD_Connection *mc, void **socket_context,
		      enum MHD_ConnectionNotificationCode toe)
{
	struct http *h = cls;
	struct cinfo *ci = *socket_context;

	(void)mc;
	if (toe != MHD_CONNECTION_NOTIFY_CLOSED || !ci)
		return;
	/* a TLS client's session is counted by its relay */
	if (!ci->tls)
		listener_session_end(h->lsn, ci->ip);
	h->conns--;
	free(ci);
	*socket_context = NULL;
}

/* The connection MHD is about to start (set around MHD_add_connection,
 * whose NOTIFY_STARTED runs inside the call). */
static struct cinfo *starting;

static void on_notify_start(void *cls, struct MHD_Connection *mc, void **socket_context,
			    enum MHD_ConnectionNotificationCode toe)
{
	if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
		*socket_context = starting;
		starting = NULL;
		return;
	}
	on_notify(cls, mc, socket_context, toe);
}

static void mhd_log(void *cls, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));
static void mhd_log(void *cls, const char *fmt, va_list ap)
{
	char msg[512], q[600];
	size_t n;

	(void)cls;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	n = strlen(msg);
	while (n && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
		msg[--n] = '\0';
	log_info(NULL, "event=http-library msg=%s", log_quote(q, sizeof(q), msg, n));
}

/* --- the loop ----------------------------------------------------------- */

static void run_mhd(struct http *h)
{
	MHD_UNSIGNED_LONG_LONG to;

	MHD_run(h->mhd);
	if (MHD_get_timeout(h->mhd, &to) == MHD_YES)
		ev_timer_arm(h->timer, to);
	else
		ev_timer_disarm(h->timer);
}

static void on_mhd_io(struct evloop *ev, int fd, int events, void *arg)
{
	(void)ev;
	(void)fd;
	(void)events;
	run_mhd(arg);
}

static void on_mhd_timer(struct evloop *ev, struct ev_timer *t, void *arg)
{
	(void)ev;
	(void)t;
	run_mhd(arg);
}

static void http_kick(struct http *h)
{
	ev_timer_arm(h->timer, 0);
}

static socklen_t addr_len(const struct sockaddr *sa)
{
	return sa->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
}

static int add_to_mhd(struct http *h, int fd, const struct sockaddr *peer, const char *ip, int tls)
{
	struct cinfo *ci = calloc(1, sizeof(*ci));

	if (!ci) {
		close(fd);
		return -1;
	}
	ci->tls = tls;
	ci->h = h;
	snprintf(ci->ip, sizeof(ci->ip), "%s", ip);
	starting = ci;
	if (MHD_add_connection(h->mhd, fd, peer, addr_len(peer)) != MHD_YES) {
		/* MHD closed fd */
		if (starting == ci) {
			starting = NULL;
			free(ci);
		}
		log_warn(NULL, "event=http-add-failed ip=%s error=\"%s\"", ip, strerror(errno));
		return -1;
	}
	if (starting == ci) { /* no start notification: a bug in our use of MHD */
		starting = NULL;
		bug("event=mhd-no-start-notification");
	}
	h->conns++;
	http_kick(h);
	return 0;
}

/* --- the TLS relay ------------------------------------------------------ */

static void relay_watch(struct relay *rl, int events)
{
	if (events != rl->fd_watch) {
		rl->fd_watch = events;
		ev_io_set(conn_loop(rl->c), rl->fd, events);
	}
}

/* TLS -> MHD: the decrypted request bytes. */
static void relay_input(struct conn *c, void *arg)
{
	struct relay *rl = arg;
	const char *p;
	size_t n = conn_pending(c, &p);

	while (n) {
		ssize_t w = write(rl->fd, p, n);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN) {
				conn_pause(c, 1);
				relay_watch(rl, rl->fd_watch | EV_WRITE);
				return;
			}
			conn_close(c, 0, "relay write failed");
			return;
		}
		conn_consume(c, (size_t)w);
		n = conn_pending(c, &p);
	}
}

/* MHD -> TLS: the response bytes; and room again toward MHD. */
static void relay_fd(struct evloop *ev, int fd, int events, void *arg)
{
	struct relay *rl = arg;

	(void)ev;
	if (events & EV_WRITE) {
		relay_watch(rl, rl->fd_watch & ~EV_WRITE);
		conn_pause(rl->c, 0);
	}
	if (!(events & EV_READ) || !(rl->fd_watch & EV_READ))
		return;
	for (;;) {
		ssize_t n = read(fd, rl->toss, sizeof(rl->toss));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			break;
		if (n <= 0) {
			/* MHD closed its side: the response is complete */
			relay_watch(rl, 0);
			conn_close(rl->c, 1, "done");
			return;
		}
		if (conn_write(rl->c, rl->toss, (size_t)n) < 0) {
			conn_close(rl->c, 0, "output overflow");
			return;
		}
		if (conn_outlen(rl->c) >= LISTENER_OUT_HIGH) {
			relay_watch(rl, rl->fd_watch & ~EV_READ);
			break;
		}
	}
}

static void relay_writable(struct conn *c, void *arg)
{
	struct relay *rl = arg;

	(void)c;
	if (!(rl->fd_watch & EV_READ))
		relay_watch(rl, rl->fd_watch | EV_READ);
}

static void relay_closed(struct conn *c, void *arg, const char *reason)
{
	struct relay *rl = arg;

	(void)c;
	log_debug(conn_sid(c), "event=https-closed ip=%s reason=\"%s\"", rl->ip, reason);
	listener_deadline_free(rl->dl);
	ev_io_del(conn_loop(c), rl->fd);
	close(rl->fd);
	listener_session_end(rl->h->lsn, rl->ip);
	*rl->prevp = rl->next;
	if (rl->next)
		rl->next->prevp = rl->prevp;
	free(rl);
}

static void relay_tls_ready(struct conn *c, void *arg)
{
	struct relay *rl = arg;

	(void)c;
	listener_deadline_tls_up(rl->dl);
}

/* Never runs: the relay has no login or session deadline (MHD's own
 * timeout bounds the requests). */
static void relay_deadline(void *arg, enum listener_deadline_kind kind)
{
	struct relay *rl = arg;

	(void)kind;
	conn_close(rl->c, 0, "deadline");
}

static const struct conn_cbs relay_cbs = {
    .input = relay_input,
    .closed = relay_closed,
    .writable = relay_writable,
    .tls_ready = relay_tls_ready,
};

static void start_relay(struct http *h, int fd, const struct sockaddr *peer, const char *ip)
{
	int sp[2];
	struct relay *rl;

	if (!h->tls || socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sp) < 0) {
		log_warn(NULL, "event=https-refused ip=%s reason=\"%s\"", ip,
			 h->tls ? strerror(errno) : "no certificate");
		close(fd);
		listener_session_end(h->lsn, ip);
		return;
	}
	rl = calloc(1, sizeof(*rl));
	if (!rl)
		bug("event=out-of-memory");
	rl->h = h;
	rl->fd = sp[0];
	snprintf(rl->ip, sizeof(rl->ip), "%s", ip);
	rl->c = conn_new(h->a->ev, fd, peer, &relay_cbs, rl, RELAY_CHUNK, 2 * LISTENER_OUT_HIGH);
	/* the same handshake deadline as every TLS daemon: a client that
	 * never finishes it is closed long before the idle timeout */
	struct listener_deadlines dl = {.handshake_ms = (uint64_t)h->handshake_s * 1000,
					.idle_ms = (uint64_t)h->timeout_s * 1000,
					.idle_authed_ms = (uint64_t)h->timeout_s * 1000};
	rl->dl = listener_deadline_new(h->a->ev, rl->c, &dl, relay_deadline, rl);
	conn_set_lowmark(rl->c, LISTENER_OUT_LOW);
	rl->next = h->relays;
	rl->prevp = &h->relays;
	if (h->relays)
		h->relays->prevp = &rl->next;
	h->relays = rl;
	if (ev_io_add(h->a->ev, sp[0], EV_READ, relay_fd, rl) < 0 ||
	    conn_tls_server(rl->c, h->tls) < 0) {
		close(sp[1]);
		conn_close(rl->c, 0, "setup failed");
		return;
	}
	listener_deadline_handshake(rl->dl);
	rl->fd_watch = EV_READ;
	if (add_to_mhd(h, sp[1], peer, ip, 1) < 0)
		conn_close(rl->c, 0, "http library refused");
}

static void on_accept(void *arg, int fd, const struct sockaddr *peer, const char *ip, int port,
		      int implicit_tls)
{
	struct http *h = arg;

	(void)port;
	if (implicit_tls) {
		start_relay(h, fd, peer, ip);
		return;
	}
	if (add_to_mhd(h, fd, peer, ip, 0) < 0)
		listener_session_end(h->lsn, ip);
}

/* --- set-up ------------------------------------------------------------- */

struct http *admin_http_new(struct admin *a, unsigned max_conns, unsigned max_per_ip,
			    unsigned timeout_s, unsigned handshake_s)
{
	struct http *h = calloc(1, sizeof(*h));
	const union MHD_DaemonInfo *di;
	struct listener_conf lc = {
	    .proto = "http",
	    .max_sessions = max_conns,
	    .max_per_ip = max_per_ip,
	    .refusal = {"HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\n"
			"Content-Length: 0\r\n\r\n",
			"HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\n"
			"Content-Length: 0\r\n\r\n"},
	};

	if (!h)
		bug("event=out-of-memory");
	h->a = a;
	h->timeout_s = timeout_s;
	h->handshake_s = handshake_s;
	/* MHD's own limits: 32 KiB of headers per connection (request line,
	 * headers, cookies), idle connections closed after timeout_s; more
	 * connections than the listener admits are never handed over */
	h->mhd = MHD_start_daemon(
	    MHD_USE_NO_LISTEN_SOCKET | MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG,
	    0, NULL, NULL, on_request, h, MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
	    MHD_OPTION_NOTIFY_COMPLETED, on_completed, h, MHD_OPTION_NOTIFY_CONNECTION,
	    on_notify_start, h, MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)32768,
	    MHD_OPTION_CONNECTION_TIMEOUT, timeout_s, MHD_OPTION_CONNECTION_LIMIT, max_conns + 1,
	    MHD_OPTION_END);
	if (!h->mhd)
		fatal("event=http-start-failed error=\"libmicrohttpd did not start\"");
	di = MHD_get_daemon_info(h->mhd, MHD_DAEMON_INFO_EPOLL_FD);
	if (!di)
		fatal("event=http-start-failed error=\"no epoll descriptor\"");
	h->epfd = di->epoll_fd;
	if (ev_io_add(a->ev, h->epfd, EV_READ, on_mhd_io, h) < 0)
		fatal("event=http-start-failed error=\"%s\"", strerror(errno));
	h->timer = ev_timer_new(a->ev, on_mhd_timer, h);
	h->lsn = listener_new(a->ev, &lc, on_accept, h);
	the_http = h;
	return h;
}

int admin_http_listen(struct http *h, int fd, int tls)
{
	return listener_add(h->lsn, fd, tls ? 443 : 80, tls);
}

void admin_http_set_tls(struct http *h, struct tls_ctx *tls)
{
	tls_ctx_free(h->tls);
	h->tls = tls;
}

unsigned admin_http_stop(struct http *h)
{
	listener_stop(h->lsn);
	return h->conns;
}

unsigned admin_http_conns(const struct http *h)
{
	return h->conns;
}

void admin_http_free(struct http *h)
{
	if (!h)
		return;
	while (h->relays) {
		struct relay *rl = h->relays;
		/* the loop is gone: no closed() will come */
		h->relays = rl->next;
		close(rl->fd);
		free(rl);
	}
	/* MHD must not be stopped with suspended connections: wake them, and
	 * the handler answers 503 */
	h->a->stopping = 1;
	while (h->suspended) {
		struct req *q = h->suspended;
		h->suspended = q->susp_next;
		MHD_resume_connection(q->mc);
	}
	MHD_run(h->mhd);
	ev_io_del(h->a->ev, h->epfd);
	MHD_stop_daemon(h->mhd);
	ev_timer_free(h->timer);
	listener_free(h->lsn);
	tls_ctx_free(h->tls);
	free(h);
}
