/*
 * Inbound on a dynamic address: when the public address changes, the
 * host's A record follows it through an RFC 2136 update signed with TSIG
 * (lib/net/dnsupdate builds and checks the packets).  UDP to the
 * configured server, one retry, an answer accepted only when it is ours
 * and its signature verifies.  Settings netwatch.ddns_server (ip:port),
 * ddns_zone, ddns_name, ddns_key_name, ddns_key_secret (base64; a secret:
 * the store is readable only by loft), ddns_ttl.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "dnsupdate.h"
#include "evloop.h"
#include "log.h"
#include "net.h"
#include "netwatch.h"

#define DDNS_TRIES 2

struct nw_ddns {
	struct evloop *ev;
	int fd;
	struct ev_timer *timer, *deliver;
	struct dnsu_request req;
	struct dnsu_key key;
	unsigned timeout_ms;
	int tries, finished, ok;
	char text[200];
	nw_ddns_fn fn;
	void *arg;
};

static void dd_close(struct nw_ddns *u)
{
	if (u->fd >= 0) {
		ev_io_del(u->ev, u->fd);
		close(u->fd);
		u->fd = -1;
	}
	ev_timer_disarm(u->timer);
}

static void dd_finish(struct nw_ddns *u, int ok, const char *text)
{
	if (u->finished)
		return;
	u->finished = 1;
	u->ok = ok;
	snprintf(u->text, sizeof(u->text), "%s", text);
	dd_close(u);
	ev_timer_arm(u->deliver, 0);
}

static void dd_send(struct nw_ddns *u)
{
	if (send(u->fd, u->req.msg, u->req.len, 0) < 0 && errno != EAGAIN) {
		char t[120];
		snprintf(t, sizeof(t), "send: %s", strerror(errno));
		dd_finish(u, 0, t);
		return;
	}
	u->tries++;
	ev_timer_arm(u->timer, u->timeout_ms);
}

static void dd_on_io(struct evloop *ev, int fd, int events, void *arg)
{
	struct nw_ddns *u = arg;
	unsigned char buf[4096];
	char why[160], text[200];
	int rcode;

	(void)ev;
	(void)events;
	for (;;) {
		ssize_t n = recv(fd, buf, sizeof(buf), 0);
		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				return;
			snprintf(text, sizeof(text), "no answer: %s", strerror(errno));
			dd_finish(u, 0, text);
			return;
		}
		enum dnsu_result r =
		    dnsu_check_answer(&u->req, buf, (size_t)n, &u->key, (uint64_t)time(NULL),
				      &rcode, why, sizeof(why));
		if (r == DNSU_MALFORMED) {
			/* not ours (or spoofed): keep waiting for the real one */
			log_warn(NULL, "event=ddns-bad-answer why=\"%s\"", why);
			continue;
		}
		dd_finish(u, r == DNSU_OK, why);
		return;
	}
}

static void dd_on_timer(struct evloop *ev, struct ev_timer *t, void *arg)
{
	struct nw_ddns *u = arg;

	(void)ev;
	(void)t;
	if (u->tries < DDNS_TRIES)
		dd_send(u);
	else
		dd_finish(u, 0, "no answer from the DNS server");
}

static void dd_on_deliver(struct evloop *ev, struct ev_timer *t, void *arg)
{
	struct nw_ddns *u = arg;
	nw_ddns_fn fn = u->fn;
	void *farg = u->arg;
	int ok = u->ok;
	char text[sizeof(u->text)];

	(void)ev;
	(void)t;
	memcpy(text, u->text, sizeof(text));
	nw_ddns_cancel(u);
	fn(farg, ok, text);
}

struct nw_ddns *nw_ddns_start(struct evloop *ev, const struct nw_targets *t, const char *addr4,
			      const char *addr6, nw_ddns_fn fn, void *arg)
{
	struct nw_ddns *u = calloc(1, sizeof(*u));
	struct sockaddr_storage ss;
	socklen_t sl;
	uint16_t id = 0;

	if (!u)
		bug("out of memory");
	u->ev = ev;
	u->fd = -1;
	u->fn = fn;
	u->arg = arg;
	u->timeout_ms = t->dns_timeout_ms ? t->dns_timeout_ms : 2000;
	u->timer = ev_timer_new(ev, dd_on_timer, u);
	u->deliver = ev_timer_new(ev, dd_on_deliver, u);
	if (net_parse_addr(t->ddns_server, &ss, &sl) < 0) {
		dd_finish(u, 0, "netwatch.ddns_server is not ip:port");
		return u;
	}
	if (dnsu_key_set(&u->key, t->ddns_key_name, t->ddns_key_secret) < 0) {
		dd_finish(u, 0, "netwatch.ddns_key_name/ddns_key_secret: no key (base64 secret)");
		return u;
	}
	if (getrandom(&id, sizeof(id), 0) != sizeof(id))
		id = (uint16_t)(time(NULL) ^ getpid());
	if (dnsu_build(&u->req, t->ddns_zone, t->ddns_name, addr4, addr6, t->ddns_ttl, &u->key, id,
		       (uint64_t)time(NULL)) < 0) {
		dd_finish(u, 0, "cannot build the update (zone, name or address invalid)");
		return u;
	}
	u->fd = socket(ss.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	/* connected: the kernel drops datagrams from anyone else */
	if (u->fd < 0 || connect(u->fd, (struct sockaddr *)&ss, sl) < 0 ||
	    ev_io_add(ev, u->fd, EV_READ, dd_on_io, u) < 0) {
		char text[120];
		snprintf(text, sizeof(text), "socket: %s", strerror(errno));
		if (u->fd >= 0) {
			close(u->fd);
			u->fd = -1;
		}
		dd_finish(u, 0, text);
		return u;
	}
	dd_send(u);
	return u;
}

void nw_ddns_cancel(struct nw_ddns *u)
{
	if (!u)
		return;
	dd_close(u);
	ev_timer_free(u->timer);
	ev_timer_free(u->deliver);
	explicit_bzero(&u->key, sizeof(u->key));
	free(u);
}
