/*
 * The home router through NAT-PMP (RFC 6886) with Debian's libnatpmp: its
 * WAN address (is the box behind carrier-grade NAT?); the port mappings
 * are mapping.c's.  libnatpmp does the packets and the
 * retransmission schedule; this file drives its socket from the evloop
 * and bounds the whole exchange with our own timeout (the library would
 * retry for about a minute).  Whatever the router answers is checked by
 * the library (size, version, opcode, result code) and by us (the
 * address's kind); nonsense becomes a failure with a reason.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <natpmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "evloop.h"
#include "log.h"
#include "netwatch.h"

struct nw_router {
	struct evloop *ev;
	natpmp_t np;
	int open;
	struct ev_timer *retry, *deadline, *deliver;
	int finished, ok;
	char text[160];
	nw_router_fn fn;
	void *arg;
};

static const char *np_err(int r)
{
	switch (r) {
	case NATPMP_ERR_NOGATEWAYSUPPORT:
		return "the router does not speak NAT-PMP";
	case NATPMP_ERR_WRONGPACKETSOURCE:
		return "an answer from another address";
	case NATPMP_ERR_UNSUPPORTEDVERSION:
		return "an answer of an unknown protocol version";
	case NATPMP_ERR_UNSUPPORTEDOPCODE:
		return "an answer to another request";
	case NATPMP_ERR_NOTAUTHORIZED:
		return "the router refused (not authorized)";
	case NATPMP_ERR_NETWORKFAILURE:
		return "the router has no WAN address (network failure)";
	case NATPMP_ERR_OUTOFRESOURCES:
		return "the router is out of mappings";
	case NATPMP_ERR_UNDEFINEDERROR:
		return "the router answered an undefined error";
	case NATPMP_ERR_RECVFROM:
		return "no answer (receive error)";
	case NATPMP_ERR_SENDERR:
		return "cannot send to the router";
	case NATPMP_ERR_CANNOTGETGATEWAY:
		return "no default gateway";
	default:
		return "NAT-PMP error";
	}
}

static void rt_close(struct nw_router *r)
{
	if (r->open) {
		ev_io_del(r->ev, r->np.s);
		closenatpmp(&r->np);
		r->open = 0;
	}
	ev_timer_disarm(r->retry);
	ev_timer_disarm(r->deadline);
}

static void rt_finish(struct nw_router *r, int ok, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void rt_finish(struct nw_router *r, int ok, const char *fmt, ...)
{
	va_list ap;

	if (r->finished)
		return;
	r->finished = 1;
	r->ok = ok;
	va_start(ap, fmt);
	vsnprintf(r->text, sizeof(r->text), fmt, ap);
	va_end(ap);
	rt_close(r);
	ev_timer_arm(r->deliver, 0);
}

static void rt_arm_retry(struct nw_router *r)
{
	struct timeval tv;

	if (getnatpmprequesttimeout(&r->np, &tv) < 0)
		tv.tv_sec = 0, tv.tv_usec = 250000;
	ev_timer_arm(r->retry, (uint64_t)tv.tv_sec * 1000 + ((uint64_t)tv.tv_usec + 999) / 1000);
}

static void rt_read(struct nw_router *r)
{
	natpmpresp_t resp;
	int n;

	memset(&resp, 0, sizeof(resp));
	n = readnatpmpresponseorretry(&r->np, &resp);
	if (n == NATPMP_TRYAGAIN) {
		rt_arm_retry(r);
		return;
	}
	if (n < 0) {
		rt_finish(r, 0, "%s", np_err(n));
		return;
	}
	char text[INET_ADDRSTRLEN];
	if (resp.type != NATPMP_RESPTYPE_PUBLICADDRESS) {
		rt_finish(r, 0, "an answer to another request");
		return;
	}
	inet_ntop(AF_INET, &resp.pnu.publicaddress.addr, text, sizeof(text));
	rt_finish(r, 1, "%s", text);
}

static void rt_on_io(struct evloop *ev, int fd, int events, void *arg)
{
	(void)ev;
	(void)fd;
	(void)events;
	rt_read(arg);
}

static void rt_on_retry(struct evloop *ev, struct ev_timer *t, void *arg)
{
	(void)ev;
	(void)t;
	rt_read(arg);
}

static void rt_on_deadline(struct evloop *ev, struct ev_timer *t, void *arg)
{
	struct nw_router *r = arg;

	(void)ev;
	(void)t;
	rt_finish(r, 0, "no NAT-PMP answer from the router");
}

static void rt_on_deliver(struct evloop *ev, struct ev_timer *t, void *arg)
{
	struct nw_router *r = arg;
	nw_router_fn fn = r->fn;
	void *farg = r->arg;
	int ok = r->ok;
	char text[sizeof(r->text)];

	(void)ev;
	(void)t;
	memcpy(text, r->text, sizeof(text));
	nw_router_cancel(r);
	fn(farg, ok, text);
}

struct nw_router *nw_router_start(struct evloop *ev, const char *gateway, unsigned timeout_ms,
				  nw_router_fn fn, void *arg)
{
	struct nw_router *r = calloc(1, sizeof(*r));
	struct in_addr gw = {0};
	int force = 0, n;

	if (!r)
		bug("out of memory");
	r->ev = ev;
	r->fn = fn;
	r->arg = arg;
	r->retry = ev_timer_new(ev, rt_on_retry, r);
	r->deadline = ev_timer_new(ev, rt_on_deadline, r);
	r->deliver = ev_timer_new(ev, rt_on_deliver, r);
	if (strcmp(gateway, "auto") != 0) {
		if (inet_pton(AF_INET, gateway, &gw) != 1) {
			rt_finish(r, 0, "router address \"%.60s\" is not an IPv4 address", gateway);
			return r;
		}
		force = 1;
	}
	n = initnatpmp(&r->np, force, gw.s_addr);
	if (n < 0) {
		rt_finish(r, 0, "%s", np_err(n));
		return r;
	}
	r->open = 1;
	n = sendpublicaddressrequest(&r->np);
	if (n < 0) {
		rt_finish(r, 0, "%s", np_err(n));
		return r;
	}
	if (ev_io_add(ev, r->np.s, EV_READ, rt_on_io, r) < 0) {
		closenatpmp(&r->np);
		r->open = 0;
		rt_finish(r, 0, "ev_io_add: %s", strerror(errno));
		return r;
	}
	rt_arm_retry(r);
	ev_timer_arm(r->deadline, timeout_ms ? timeout_ms : 3000);
	return r;
}

void nw_router_cancel(struct nw_router *r)
{
	if (!r)
		return;
	rt_close(r);
	ev_timer_free(r->retry);
	ev_timer_free(r->deadline);
	ev_timer_free(r->deliver);
	free(r);
}
