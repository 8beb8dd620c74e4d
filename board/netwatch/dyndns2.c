/*
 * Inbound on a dynamic address, the way most dynamic-DNS providers take
 * it: the dyndns2 protocol, one HTTPS GET of
 *   /nic/update?hostname=NAME&myip=ADDR
 * with HTTP Basic authentication, answered by a line "good ADDR" or
 * "nochg ADDR" (done) or a code that says what is wrong (badauth, nohost,
 * notfqdn, abuse, 911, ...).  HTTPS only: the password never goes out in
 * the clear, and the provider's certificate is verified (against
 * netwatch.dyndns2_ca, else the system's CA store).  The answer is read
 * through the conn's bounded line reader, at most DD2_MAX_LINES lines.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <mbedtls/base64.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "conn.h"
#include "dns.h"
#include "evloop.h"
#include "log.h"
#include "net.h"
#include "netwatch.h"
#include "strnum.h"
#include "tls.h"

#define DD2_MAX_LINE  1024
#define DD2_MAX_LINES 100
#define DD2_TIMEOUT   15000

struct nw_dyndns2 {
	struct evloop *ev;
	struct nw_targets t;
	char addr[64];
	char host[256], path[256];
	unsigned port;
	struct dns *dns;
	struct dns_req *req;
	struct tls_ctx *tls;
	int fd;
	struct conn *c;
	struct ev_timer *timer, *deliver;
	int state; /* 0 status line, 1 headers, 2 body */
	int lines, http_status;
	int finished, ok, cancelled;
	char partial[256]; /* a body line without its newline yet */
	size_t npartial;
	char text[200];
	nw_ddns_fn fn;
	void *arg;
};

static void d2_finish(struct nw_dyndns2 *d, int ok, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void d2_finish(struct nw_dyndns2 *d, int ok, const char *fmt, ...)
{
	va_list ap;

	if (d->finished)
		return;
	d->finished = 1;
	d->ok = ok;
	va_start(ap, fmt);
	vsnprintf(d->text, sizeof(d->text), fmt, ap);
	va_end(ap);
	if (d->c)
		conn_close(d->c, 0, "done");
	ev_timer_disarm(d->timer);
	ev_timer_arm(d->deliver, 0);
}

/* "https://host[:port]/path" into d.  Returns 0 or -1. */
static int d2_url(struct nw_dyndns2 *d, const char *url)
{
	const char *h, *slash, *colon;
	size_t hl;

	if (strncasecmp(url, "https://", 8) != 0)
		return -1;
	h = url + 8;
	slash = strchr(h, '/');
	if (!slash)
		slash = h + strlen(h);
	colon = memchr(h, ':', (size_t)(slash - h));
	hl = (size_t)((colon ? colon : slash) - h);
	if (hl == 0 || hl >= sizeof(d->host))
		return -1;
	memcpy(d->host, h, hl);
	d->host[hl] = '\0';
	d->port = 443;
	if (colon) {
		char num[8];
		size_t nl = (size_t)(slash - colon - 1);
		if (nl == 0 || nl >= sizeof(num))
			return -1;
		memcpy(num, colon + 1, nl);
		num[nl] = '\0';
		if (strnum_uint(num, 65535, &d->port) < 0 || d->port == 0)
			return -1;
	}
	snprintf(d->path, sizeof(d->path), "%s", *slash ? slash : "/nic/update");
	return 0;
}

/* Query-string safe: a host name or address has nothing to escape, but
 * a setting may; anything else than [A-Za-z0-9.-:] is refused. */
static int d2_plain(const char *s)
{
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		      (*s >= '0' && *s <= '9') || *s == '.' || *s == '-' || *s == ':'))
			return 0;
	return 1;
}

/* The first word of the body: dyndns2's return code. */
static void d2_body(struct nw_dyndns2 *d, const char *line, size_t len)
{
	static const struct {
		const char *code;
		const char *meaning;
	} codes[] = {
	    {"badauth", "the provider refused the user name or password"},
	    {"!donator", "the provider wants a paid account for that"},
	    {"notfqdn", "the host name is not a full domain name"},
	    {"nohost", "the provider has no such host name for this account"},
	    {"numhost", "too many host names in one request"},
	    {"abuse", "the provider blocked the host name for abuse"},
	    {"badagent", "the provider refused the client"},
	    {"dnserr", "the provider has a DNS error"},
	    {"911", "the provider has a problem; try later"},
	    {"badsys", "the provider refused the system parameter"},
	};
	char word[32], show[100];
	size_t k = 0;

	while (len && (*line == ' ' || *line == '\t'))
		line++, len--;
	while (k < len && k < sizeof(word) - 1 && line[k] != ' ' && line[k] != '\r')
		word[k] = line[k], k++;
	word[k] = '\0';
	k = 0;
	for (size_t i = 0; i < len && k < sizeof(show) - 1 && k < 80; i++)
		show[k++] = line[i] >= 0x20 && line[i] < 0x7f && line[i] != '"' ? line[i] : '?';
	show[k] = '\0';
	if (strcmp(word, "good") == 0 || strcmp(word, "nochg") == 0) {
		d2_finish(d, 1, "%s", show);
		return;
	}
	for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++)
		if (strcmp(word, codes[i].code) == 0) {
			d2_finish(d, 0, "%s (%s)", show, codes[i].meaning);
			return;
		}
	d2_finish(d, 0, "unexpected answer \"%s\" (HTTP %d)", show, d->http_status);
}

static void d2_input(struct conn *c, void *arg)
{
	struct nw_dyndns2 *d = arg;
	struct lr_line l;
	int r;

	while (!d->finished && (r = conn_line(c, &l)) != LR_NEED) {
		if (r == LR_TOOLONG) {
			d2_finish(d, 0, "answer line too long");
			return;
		}
		if (++d->lines > DD2_MAX_LINES) {
			d2_finish(d, 0, "answer too long");
			return;
		}
		size_t len = l.len;
		while (len && (l.data[len - 1] == '\n' || l.data[len - 1] == '\r'))
			len--;
		if (d->state == 0) {
			unsigned st = 0;
			char num[4];
			if (len < 12 || strncmp(l.data, "HTTP/1.", 7) != 0 || l.data[8] != ' ') {
				d2_finish(d, 0, "not an HTTP answer");
				return;
			}
			memcpy(num, l.data + 9, 3);
			num[3] = '\0';
			if (strnum_uint(num, 999, &st) < 0) {
				d2_finish(d, 0, "not an HTTP answer");
				return;
			}
			d->http_status = (int)st;
			d->state = 1;
		} else if (d->state == 1) {
			if (len == 0)
				d->state = 2;
		} else if (len > 0) {
			if (d->http_status == 401) {
				d2_finish(d, 0,
					  "badauth (HTTP 401: the provider refused the password)");
				return;
			}
			d2_body(d, l.data, len);
			return;
		}
	}
	/* the connection's close hands out nothing more: keep the unfinished
	 * body line */
	if (!d->finished && d->state == 2) {
		const char *p;
		size_t n = conn_pending(c, &p);
		d->npartial = n < sizeof(d->partial) ? n : sizeof(d->partial);
		memcpy(d->partial, p, d->npartial);
	}
}

static void d2_free(struct nw_dyndns2 *d);

static void d2_closed(struct conn *c, void *arg, const char *reason)
{
	struct nw_dyndns2 *d = arg;

	(void)c;
	d->c = NULL;
	if (d->cancelled) {
		d2_free(d);
		return;
	}
	/* providers end the body without a newline: what d2_input kept of
	 * the unfinished line is the answer */
	if (!d->finished && d->state == 2) {
		const char *p = d->partial;
		size_t n = d->npartial;
		while (n && (p[n - 1] == '\n' || p[n - 1] == '\r'))
			n--;
		if (n > 0) {
			if (d->http_status == 401)
				d2_finish(d, 0,
					  "badauth (HTTP 401: the provider refused the password)");
			else
				d2_body(d, p, n);
		}
	}
	if (!d->finished) {
		if (d->http_status == 401)
			d2_finish(d, 0, "badauth (HTTP 401: the provider refused the password)");
		else if (d->http_status)
			d2_finish(d, 0, "HTTP %d without a dyndns2 answer", d->http_status);
		else
			d2_finish(d, 0, "connection closed: %s", reason);
	}
}

static void d2_send(struct nw_dyndns2 *d)
{
	char cred[600], b64[900];
	size_t olen = 0;

	snprintf(cred, sizeof(cred), "%s:%s", d->t.dyndns2_user, d->t.dyndns2_password);
	if (mbedtls_base64_encode((unsigned char *)b64, sizeof(b64), &olen,
				  (const unsigned char *)cred, strlen(cred)) != 0) {
		explicit_bzero(cred, sizeof(cred));
		d2_finish(d, 0, "credentials too long");
		return;
	}
	explicit_bzero(cred, sizeof(cred));
	/* HTTP/1.0: no chunked answer to decode */
	if (conn_printf(d->c,
			"GET %s?hostname=%s&myip=%s HTTP/1.0\r\nHost: %s\r\n"
			"Authorization: Basic %s\r\nUser-Agent: Loft loft-netwatch/1\r\n\r\n",
			d->path, d->t.dyndns2_hostname, d->addr, d->host, b64) < 0)
		d2_finish(d, 0, "request too long");
	explicit_bzero(b64, sizeof(b64));
}

static void d2_tls_ready(struct conn *c, void *arg)
{
	struct nw_dyndns2 *d = arg;

	(void)c;
	d2_send(d);
}

static const struct conn_cbs d2_tls_cbs = {
    .input = d2_input, .closed = d2_closed, .tls_ready = d2_tls_ready};

static void d2_on_connect(struct evloop *ev, int fd, int events, void *arg)
{
	struct nw_dyndns2 *d = arg;
	int err = 0;
	socklen_t el = sizeof(err);

	(void)events;
	ev_io_del(ev, fd);
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el) < 0)
		err = errno;
	if (err) {
		close(fd);
		d->fd = -1;
		d2_finish(d, 0, "connect to %s: %s", d->host, strerror(err));
		return;
	}
	d->fd = -1;
	d->c = conn_new(ev, fd, NULL, &d2_tls_cbs, d, DD2_MAX_LINE, 8192);
	if (conn_tls_client(d->c, d->tls, d->host) < 0)
		d2_finish(d, 0, "TLS to %s failed to start", d->host);
}

static void d2_connect(struct nw_dyndns2 *d, const struct sockaddr *sa, socklen_t len)
{
	d->fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (d->fd < 0 || (connect(d->fd, sa, len) < 0 && errno != EINPROGRESS) ||
	    ev_io_add(d->ev, d->fd, EV_WRITE, d2_on_connect, d) < 0) {
		int err = errno;
		if (d->fd >= 0)
			close(d->fd);
		d->fd = -1;
		d2_finish(d, 0, "connect to %s: %s", d->host, strerror(err));
	}
}

static void d2_on_addr(void *arg, enum dns_status st, const struct dns_addr *a, size_t n)
{
	struct nw_dyndns2 *d = arg;
	struct sockaddr_in sa = {.sin_family = AF_INET};

	d->req = NULL;
	if (st == DNS_CANCELLED || d->finished)
		return;
	if (st != DNS_OK || n == 0) {
		d2_finish(d, 0, "%s: %s", d->host, dns_status_str(st));
		return;
	}
	sa.sin_port = htons((uint16_t)d->port);
	sa.sin_addr = a[0].a.v4;
	d2_connect(d, (struct sockaddr *)&sa, sizeof(sa));
}

static void d2_on_timer(struct evloop *ev, struct ev_timer *t, void *arg)
{
	(void)ev;
	(void)t;
	d2_finish(arg, 0, "no answer in %d s", DD2_TIMEOUT / 1000);
}

static void d2_on_deliver(struct evloop *ev, struct ev_timer *t, void *arg)
{
	struct nw_dyndns2 *d = arg;
	nw_ddns_fn fn = d->fn;
	void *farg = d->arg;
	int ok = d->ok;
	char text[sizeof(d->text)];

	(void)ev;
	(void)t;
	/* the conn's closed() must have run before the owner goes */
	if (d->c) {
		ev_timer_arm(d->deliver, 10);
		return;
	}
	memcpy(text, d->text, sizeof(text));
	nw_dyndns2_cancel(d);
	fn(farg, ok, text);
}

struct nw_dyndns2 *nw_dyndns2_start(struct evloop *ev, const struct nw_targets *t, const char *addr,
				    nw_ddns_fn fn, void *arg)
{
	struct nw_dyndns2 *d = calloc(1, sizeof(*d));
	char err[200];
	struct sockaddr_in sa = {.sin_family = AF_INET};

	if (!d)
		bug("out of memory");
	d->ev = ev;
	d->t = *t;
	d->fd = -1;
	d->fn = fn;
	d->arg = arg;
	snprintf(d->addr, sizeof(d->addr), "%s", addr);
	d->timer = ev_timer_new(ev, d2_on_timer, d);
	d->deliver = ev_timer_new(ev, d2_on_deliver, d);
	ev_timer_arm(d->timer, DD2_TIMEOUT);
	if (d2_url(d, t->dyndns2_url) < 0) {
		d2_finish(d, 0, "netwatch.dyndns2_url must be https://host[:port]/path");
		return d;
	}
	if (!d2_plain(t->dyndns2_hostname) || !d2_plain(addr) || !t->dyndns2_hostname[0]) {
		d2_finish(d, 0, "netwatch.dyndns2_hostname must be a plain host name");
		return d;
	}
	d->tls = tls_client_new(t->dyndns2_ca[0] ? t->dyndns2_ca : NULL, TLS_VERIFY_REQUIRED, err,
				sizeof(err));
	if (!d->tls) {
		d2_finish(d, 0, "TLS: %s", err);
		return d;
	}
	if (inet_pton(AF_INET, d->host, &sa.sin_addr) == 1) {
		sa.sin_port = htons((uint16_t)d->port);
		d2_connect(d, (struct sockaddr *)&sa, sizeof(sa));
		return d;
	}
	d->dns = dns_new(ev, t->resolver[0] ? t->resolver : NULL, err, sizeof(err));
	if (!d->dns) {
		d2_finish(d, 0, "resolver: %s", err);
		return d;
	}
	d->req = dns_query_a(d->dns, d->host, d2_on_addr, d);
	if (!d->req)
		d2_finish(d, 0, "bad host name %s", d->host);
	return d;
}

static void d2_free(struct nw_dyndns2 *d)
{
	if (d->fd >= 0) {
		ev_io_del(d->ev, d->fd);
		close(d->fd);
	}
	dns_free(d->dns);
	tls_ctx_free(d->tls);
	ev_timer_free(d->timer);
	ev_timer_free(d->deliver);
	free(d);
}

void nw_dyndns2_cancel(struct nw_dyndns2 *d)
{
	if (!d)
		return;
	if (d->c) {
		/* the conn's closed() still comes: it frees d then */
		d->cancelled = 1;
		ev_timer_disarm(d->timer);
		ev_timer_disarm(d->deliver);
		conn_close(d->c, 0, "cancelled");
		return;
	}
	d2_free(d);
}
