/*
 * Outbound port 25: can this connection reach a mail server?  Connect,
 * read the banner, say QUIT.  No answer at all before the timeout means an
 * ISP drops the packets (blocked); a refusal or reset means something in
 * between answers for the server (filtered); a 2xx-5xx banner means open.
 * What the peer sends is read into a fixed buffer and never trusted.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "evloop.h"
#include "log.h"
#include "net.h"
#include "netwatch.h"

#define P25_BANNER_MAX 512

struct nw_p25 {
	struct evloop *ev;
	int fd;
	int connected;
	struct ev_timer *timer; /* the timeout, then the deferred result */
	unsigned timeout_ms;
	char buf[P25_BANNER_MAX];
	size_t len;
	enum netv_port25 result;
	char detail[320];
	int finished;
	nw_p25_fn fn;
	void *arg;
};

static void p25_close(struct nw_p25 *p)
{
	if (p->fd >= 0) {
		ev_io_del(p->ev, p->fd);
		close(p->fd);
		p->fd = -1;
	}
}

/* The result goes out from a timer, so fn never runs inside start. */
static void p25_finish(struct nw_p25 *p, enum netv_port25 r, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void p25_finish(struct nw_p25 *p, enum netv_port25 r, const char *fmt, ...)
{
	va_list ap;

	if (p->finished)
		return;
	p->finished = 1;
	p->result = r;
	va_start(ap, fmt);
	vsnprintf(p->detail, sizeof(p->detail), fmt, ap);
	va_end(ap);
	p25_close(p);
	ev_timer_arm(p->timer, 0);
}

/* Printable copy of the banner for the evidence (control bytes as '?'). */
static void p25_clean(const char *in, size_t len, char *out, size_t outlen)
{
	size_t k = 0;

	if (!outlen)
		return;
	for (size_t i = 0; i < len && k + 1 < outlen && k < 120; i++) {
		unsigned char c = (unsigned char)in[i];
		if (c == '\r' || c == '\n')
			break;
		out[k++] = c >= 0x20 && c < 0x7f && c != '"' && c != '\\' ? (char)c : '?';
	}
	out[k] = '\0';
}

enum netv_port25 nw_p25_classify(const char *buf, size_t len, char *detail, size_t detaillen)
{
	char clean[128];
	const char *nl = memchr(buf, '\n', len);
	size_t linelen = nl ? (size_t)(nl - buf) : len;

	p25_clean(buf, linelen, clean, sizeof(clean));
	/* an SMTP reply: three digits 2xx-5xx, then space, dash or the end */
	if (linelen >= 3 && buf[0] >= '2' && buf[0] <= '5' && buf[1] >= '0' && buf[1] <= '9' &&
	    buf[2] >= '0' && buf[2] <= '9' &&
	    (linelen == 3 || buf[3] == ' ' || buf[3] == '-' || buf[3] == '\r')) {
		snprintf(detail, detaillen, "banner \"%s\"", clean);
		return NETV_P25_OPEN;
	}
	snprintf(detail, detaillen, "no SMTP banner: \"%s\"", clean);
	return NETV_P25_GARBAGE;
}

static void p25_banner(struct nw_p25 *p)
{
	char detail[200];
	enum netv_port25 r = nw_p25_classify(p->buf, p->len, detail, sizeof(detail));

	if (r == NETV_P25_OPEN) {
		/* best effort: a server that went away is no news */
		static const char quit[] = "QUIT\r\n";
		ssize_t w = send(p->fd, quit, sizeof(quit) - 1, MSG_NOSIGNAL | MSG_DONTWAIT);
		(void)w;
	}
	p25_finish(p, r, "%s", detail);
}

static void p25_on_io(struct evloop *ev, int fd, int events, void *arg)
{
	struct nw_p25 *p = arg;

	(void)ev;
	(void)events;
	if (!p->connected) {
		int err = 0;
		socklen_t el = sizeof(err);
		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el) < 0)
			err = errno;
		if (err == EINPROGRESS || err == EALREADY)
			return;
		if (err == ECONNREFUSED || err == ECONNRESET) {
			p25_finish(p, NETV_P25_FILTERED, "connection refused");
			return;
		}
		if (err == EHOSTUNREACH || err == ENETUNREACH || err == EACCES || err == EPERM) {
			p25_finish(p, NETV_P25_FILTERED, "unreachable: %s", strerror(err));
			return;
		}
		if (err) {
			p25_finish(p, NETV_P25_BLOCKED, "connect: %s", strerror(err));
			return;
		}
		p->connected = 1;
		ev_io_set(p->ev, fd, EV_READ);
		/* a fresh timeout for the banner */
		ev_timer_arm(p->timer, p->timeout_ms);
		return;
	}
	for (;;) {
		ssize_t n = recv(fd, p->buf + p->len, sizeof(p->buf) - p->len, 0);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		if (n < 0 && errno == ECONNRESET) {
			p25_finish(p, NETV_P25_FILTERED, "connection reset before the banner");
			return;
		}
		if (n < 0) {
			p25_finish(p, NETV_P25_GARBAGE, "read: %s", strerror(errno));
			return;
		}
		if (n == 0) {
			if (p->len) {
				p25_banner(p);
				return;
			}
			{
				p25_finish(p, NETV_P25_GARBAGE, "closed without a banner");
				return;
			}
		}
		p->len += (size_t)n;
		if (memchr(p->buf, '\n', p->len) || p->len == sizeof(p->buf)) {
			p25_banner(p);
			return;
		}
	}
}

static void p25_on_timer(struct evloop *ev, struct ev_timer *t, void *arg)
{
	struct nw_p25 *p = arg;

	(void)ev;
	(void)t;
	if (p->finished) {
		nw_p25_fn fn = p->fn;
		void *farg = p->arg;
		enum netv_port25 r = p->result;
		char detail[sizeof(p->detail)];

		memcpy(detail, p->detail, sizeof(detail));
		nw_p25_cancel(p);
		fn(farg, r, detail);
		return;
	}
	if (!p->connected)
		p25_finish(p, NETV_P25_BLOCKED, "no answer in %u ms", p->timeout_ms);
	else if (p->len)
		p25_banner(p);
	else
		p25_finish(p, NETV_P25_GARBAGE, "connected, but no banner in %u ms", p->timeout_ms);
}

struct nw_p25 *nw_p25_start(struct evloop *ev, const struct sockaddr *sa, socklen_t salen,
			    unsigned timeout_ms, nw_p25_fn fn, void *arg)
{
	struct nw_p25 *p = calloc(1, sizeof(*p));

	if (!p)
		bug("out of memory");
	p->ev = ev;
	p->fn = fn;
	p->arg = arg;
	p->timeout_ms = timeout_ms ? timeout_ms : 10000;
	p->timer = ev_timer_new(ev, p25_on_timer, p);
	p->fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (p->fd < 0) {
		p25_finish(p, NETV_P25_UNCHECKED, "socket: %s", strerror(errno));
		return p;
	}
	if (connect(p->fd, sa, salen) < 0 && errno != EINPROGRESS) {
		int err = errno;
		if (err == ECONNREFUSED)
			p25_finish(p, NETV_P25_FILTERED, "connection refused");
		else if (err == ENETUNREACH || err == EHOSTUNREACH)
			p25_finish(p, NETV_P25_FILTERED, "unreachable: %s", strerror(err));
		else
			p25_finish(p, NETV_P25_UNCHECKED, "connect: %s", strerror(err));
		return p;
	}
	if (ev_io_add(ev, p->fd, EV_WRITE, p25_on_io, p) < 0) {
		p25_finish(p, NETV_P25_UNCHECKED, "ev_io_add: %s", strerror(errno));
		return p;
	}
	ev_timer_arm(p->timer, p->timeout_ms);
	return p;
}

void nw_p25_cancel(struct nw_p25 *p)
{
	if (!p)
		return;
	p25_close(p);
	ev_timer_free(p->timer);
	free(p);
}
