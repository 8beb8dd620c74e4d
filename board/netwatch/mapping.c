/*
 * Inbound reachability: ask the home router to forward the mail ports to
 * the box, through Debian's libminiupnpc (UPnP IGD AddPortMapping) and
 * libnatpmp (NAT-PMP), not hand-written SSDP/SOAP.  Both libraries block
 * (discovery waits, SOAP over HTTP), so one worker thread runs a whole
 * round and hands the results back to the loop through a pipe; the loop
 * never waits on the router.  What the router refuses is reported port by
 * port with the LAN address, so the person can add those forwards by
 * hand.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <miniupnpc/miniupnpc.h>
#include <miniupnpc/upnpcommands.h>
#include <miniupnpc/upnperrors.h>
#include <natpmp.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "evloop.h"
#include "log.h"
#include "netwatch.h"
#include "pcp.h"
#include "strnum.h"

struct nw_map {
	struct evloop *ev;
	struct nw_targets t;
	struct nw_worker *w;
	struct nw_map_result res[NW_MAP_MAX];
	size_t nres;
	char lan[64];
	int remove; /* nw_unmap_start: delete the mappings instead */
	nw_map_fn fn;
	void *arg;
};

/* The ports to forward: netwatch.map_ports ("25,465,587,993"). */
static size_t map_ports(const char *list, int *ports, size_t max)
{
	size_t n = 0;
	const char *p = list;

	while (*p && n < max) {
		const char *e = strchr(p, ',');
		size_t len = e ? (size_t)(e - p) : strlen(p);
		char num[8];
		unsigned v;
		while (len && *p == ' ')
			p++, len--;
		if (len && len < sizeof(num)) {
			memcpy(num, p, len);
			num[len] = '\0';
			while (len && num[len - 1] == ' ')
				num[--len] = '\0';
			if (strnum_uint(num, 65535, &v) == 0 && v > 0)
				ports[n++] = (int)v;
		}
		if (!e)
			break;
		p = e + 1;
	}
	return n;
}

static void set(struct nw_map_result *r, int port, const char *method, int ok, unsigned lease,
		const char *fmt, ...) __attribute__((format(printf, 6, 7)));
static void set(struct nw_map_result *r, int port, const char *method, int ok, unsigned lease,
		const char *fmt, ...)
{
	va_list ap;

	r->port = port;
	snprintf(r->method, sizeof(r->method), "%s", method);
	r->ok = ok;
	r->lease = lease;
	va_start(ap, fmt);
	vsnprintf(r->detail, sizeof(r->detail), fmt, ap);
	va_end(ap);
}

/* UPnP IGD: returns 1 when an IGD was found (results filled), else 0. */
static int map_upnp(struct nw_map *m, const int *ports, size_t n)
{
	struct UPNPUrls urls;
	struct IGDdatas data;
	struct UPNPDev *devs = NULL;
	int found, err = 0;

	memset(&urls, 0, sizeof(urls));
	memset(&data, 0, sizeof(data));
	if (strcmp(m->t.upnp, "auto") == 0) {
		devs = upnpDiscover((int)m->t.router_timeout_ms, NULL, NULL, 0, 0, 2, &err);
		found = devs ? UPNP_GetValidIGD(devs, &urls, &data, m->lan, sizeof(m->lan)) : 0;
		freeUPNPDevlist(devs);
	} else {
		found = UPNP_GetIGDFromUrl(m->t.upnp, &urls, &data, m->lan, sizeof(m->lan));
	}
	if (found <= 0 || !urls.controlURL || !urls.controlURL[0]) {
		if (found > 0)
			FreeUPNPUrls(&urls);
		return 0;
	}
	for (size_t i = 0; i < n && m->nres < NW_MAP_MAX; i++) {
		char port[8], lease[16];
		snprintf(port, sizeof(port), "%d", ports[i]);
		snprintf(lease, sizeof(lease), "%u", m->t.map_lease_s);
		if (m->remove) {
			int r = UPNP_DeletePortMapping(urls.controlURL, data.first.servicetype,
						       port, "TCP", NULL);
			/* 714 NoSuchEntryInArray: gone already, which is what we want */
			if (r == UPNPCOMMAND_SUCCESS || r == 714) {
				set(&m->res[m->nres++], ports[i], "upnp", 1, 0,
				    "TCP %d no longer forwarded", ports[i]);
			} else {
				const char *why = strupnperror(r);
				set(&m->res[m->nres++], ports[i], "upnp", 0, 0,
				    "the router did not remove it (%d %s): remove the forward of "
				    "TCP %d by hand",
				    r, why ? why : "error", ports[i]);
			}
			continue;
		}
		int r = UPNP_AddPortMapping(urls.controlURL, data.first.servicetype, port, port,
					    m->lan, "Loft mail", "TCP", NULL, lease);
		if (r == 725) {
			/* OnlyPermanentLeasesSupported: ask again without a lease */
			r = UPNP_AddPortMapping(urls.controlURL, data.first.servicetype, port, port,
						m->lan, "Loft mail", "TCP", NULL, "0");
			if (r == UPNPCOMMAND_SUCCESS) {
				set(&m->res[m->nres++], ports[i], "upnp", 1, 0,
				    "TCP %d -> %s:%d (permanent)", ports[i], m->lan, ports[i]);
				continue;
			}
		}
		if (r == UPNPCOMMAND_SUCCESS) {
			set(&m->res[m->nres++], ports[i], "upnp", 1, m->t.map_lease_s,
			    "TCP %d -> %s:%d", ports[i], m->lan, ports[i]);
		} else {
			const char *why = strupnperror(r);
			set(&m->res[m->nres++], ports[i], "upnp", 0, 0,
			    "the router refused (%d %s): forward TCP %d to %s by hand", r,
			    why ? why : "error", ports[i], m->lan);
		}
	}
	FreeUPNPUrls(&urls);
	return 1;
}

/* NAT-PMP, blocking with a deadline (we are on the worker thread). */
static int natpmp_one(natpmp_t *np, int port, int public_port, unsigned lease, unsigned timeout_ms,
		      natpmpresp_t *resp)
{
	struct timeval start, now;
	int r;

	if (sendnewportmappingrequest(np, NATPMP_PROTOCOL_TCP, (uint16_t)port,
				      (uint16_t)public_port, lease) < 0)
		return NATPMP_ERR_SENDERR;
	gettimeofday(&start, NULL);
	for (;;) {
		struct timeval tv;
		struct pollfd pfd = {.fd = np->s, .events = POLLIN};
		int wait_ms = 100;
		if (getnatpmprequesttimeout(np, &tv) == 0)
			wait_ms = (int)(tv.tv_sec * 1000 + tv.tv_usec / 1000);
		if (wait_ms < 1)
			wait_ms = 1;
		gettimeofday(&now, NULL);
		long spent =
		    (now.tv_sec - start.tv_sec) * 1000 + (now.tv_usec - start.tv_usec) / 1000;
		if (spent >= (long)timeout_ms)
			return NATPMP_TRYAGAIN;
		if (wait_ms > (long)timeout_ms - spent)
			wait_ms = (int)((long)timeout_ms - spent);
		poll(&pfd, 1, wait_ms);
		r = readnatpmpresponseorretry(np, resp);
		if (r != NATPMP_TRYAGAIN)
			return r;
	}
}

static long ms_since(const struct timespec *t0)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (now.tv_sec - t0->tv_sec) * 1000 + (now.tv_nsec - t0->tv_nsec) / 1000000;
}

/* One PCP MAP exchange on the connected socket s: sends req, resends it
 * (250 ms, doubling) until an answer to it comes or timeout_ms passes.
 * Returns PCP_OK (r filled), PCP_NATPMP (the router speaks only
 * NAT-PMP), or PCP_BAD when nothing valid came (*garbage counts the
 * datagrams that were not a valid answer: they are skipped, not
 * believed). */
static enum pcp_parse pcp_exchange(int s, const struct pcp_map_req *req, unsigned timeout_ms,
				   struct pcp_map_resp *r, int *garbage)
{
	uint8_t out[PCP_MAP_LEN], in[PCP_MAX_MSG + 4];
	size_t outlen = pcp_map_build(req, out);
	struct timespec t0;
	long next = 0, gap = 250;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		long spent = ms_since(&t0);
		if (spent >= (long)timeout_ms)
			return PCP_BAD;
		if (spent >= next) {
			if (send(s, out, outlen, MSG_NOSIGNAL) < 0 && errno != ECONNREFUSED)
				return PCP_BAD;
			next = spent + gap;
			gap *= 2;
		}
		long wait = next - spent;
		if (wait > (long)timeout_ms - spent)
			wait = (long)timeout_ms - spent;
		struct pollfd pfd = {.fd = s, .events = POLLIN};
		if (poll(&pfd, 1, (int)(wait > 0 ? wait : 1)) <= 0)
			continue;
		ssize_t got = recv(s, in, sizeof(in), 0);
		if (got < 0)
			continue; /* ICMP unreachable (nothing on 5351), EINTR */
		enum pcp_parse p = pcp_map_parse(in, (size_t)got, req, r);
		if (p == PCP_OK || p == PCP_NATPMP)
			return p;
		(*garbage)++;
	}
}

/* PCP (RFC 6887) MAP to the router on port 5351, tried before NAT-PMP
 * (Appendix A: a NAT-PMP-only router answers "unsupported version" and
 * the client falls back).  Returns 1 when PCP answered (results filled),
 * 0 to fall back to NAT-PMP. */
static int map_pcp(struct nw_map *m, const int *ports, size_t n)
{
	struct sockaddr_in gw = {.sin_family = AF_INET, .sin_port = htons(PCP_PORT)};
	struct sockaddr_in me;
	socklen_t ml = sizeof(me);
	struct pcp_map_req req;
	int s, spoke = 0;

	if (strcmp(m->t.router, "auto") == 0) {
		/* libnatpmp finds the default route's gateway */
		natpmp_t np;
		if (initnatpmp(&np, 0, 0) < 0)
			return 0;
		gw.sin_addr.s_addr = np.gateway;
		closenatpmp(&np);
	} else if (inet_pton(AF_INET, m->t.router, &gw.sin_addr) != 1) {
		return 0;
	}
	s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (s < 0)
		return 0;
	if (connect(s, (struct sockaddr *)&gw, sizeof(gw)) < 0 ||
	    getsockname(s, (struct sockaddr *)&me, &ml) < 0) {
		close(s);
		return 0;
	}
	if (!m->lan[0])
		inet_ntop(AF_INET, &me.sin_addr, m->lan, sizeof(m->lan));
	memset(&req, 0, sizeof(req));
	memcpy(req.nonce, m->t.pcp_nonce, sizeof(req.nonce));
	req.protocol = PCP_PROTO_TCP;
	req.lifetime = m->remove ? 0 : m->t.map_lease_s;
	/* the client address field: ::ffff:a.b.c.d (RFC 6887 5) */
	req.client_addr[10] = req.client_addr[11] = 0xff;
	memcpy(req.client_addr + 12, &me.sin_addr, 4);
	for (size_t i = 0; i < n && m->nres < NW_MAP_MAX; i++) {
		struct pcp_map_resp r;
		int garbage = 0;
		req.internal_port = req.suggested_port = (uint16_t)ports[i];
		enum pcp_parse p = pcp_exchange(s, &req, m->t.router_timeout_ms, &r, &garbage);
		if (!spoke && p != PCP_OK) {
			/* no PCP here (silence, NAT-PMP's answer, nonsense) */
			if (garbage)
				log_warn(NULL, "event=pcp-garbage datagrams=%d router=%s", garbage,
					 m->t.router);
			close(s);
			return 0;
		}
		spoke = 1;
		if (p != PCP_OK && m->remove) {
			set(&m->res[m->nres++], ports[i], "pcp", 0, 0,
			    "no valid PCP answer: remove the forward of TCP %d by hand", ports[i]);
		} else if (p != PCP_OK) {
			set(&m->res[m->nres++], ports[i], "pcp", 0, 0,
			    "no valid PCP answer: forward TCP %d to %s by hand", ports[i], m->lan);
		} else if (m->remove && r.result == 0) {
			set(&m->res[m->nres++], ports[i], "pcp", 1, 0, "TCP %d no longer forwarded",
			    ports[i]);
		} else if (m->remove) {
			set(&m->res[m->nres++], ports[i], "pcp", 0, 0,
			    "the router did not remove it (PCP %s): remove the forward of TCP %d "
			    "by "
			    "hand",
			    pcp_result_str(r.result), ports[i]);
		} else if (r.result != 0) {
			set(&m->res[m->nres++], ports[i], "pcp", 0, 0,
			    "the router refused (PCP %s): forward TCP %d to %s by hand",
			    pcp_result_str(r.result), ports[i], m->lan);
		} else if (r.external_port != ports[i]) {
			set(&m->res[m->nres++], ports[i], "pcp", 0, 0,
			    "the router offered public port %u instead: forward TCP %d to %s by "
			    "hand",
			    r.external_port, ports[i], m->lan);
		} else {
			set(&m->res[m->nres++], ports[i], "pcp", 1, r.lifetime, "TCP %d -> %s:%d",
			    ports[i], m->lan, ports[i]);
		}
	}
	close(s);
	return 1;
}

static void map_natpmp(struct nw_map *m, const int *ports, size_t n)
{
	natpmp_t np;
	struct in_addr gw = {0};
	int force = strcmp(m->t.router, "auto") != 0;

	if (force && inet_pton(AF_INET, m->t.router, &gw) != 1)
		return;
	if (initnatpmp(&np, force, gw.s_addr) < 0)
		return;
	/* the LAN address the router sees us as */
	if (!m->lan[0]) {
		struct sockaddr_in sa;
		socklen_t sl = sizeof(sa);
		if (getsockname(np.s, (struct sockaddr *)&sa, &sl) == 0)
			inet_ntop(AF_INET, &sa.sin_addr, m->lan, sizeof(m->lan));
	}
	for (size_t i = 0; i < n && m->nres < NW_MAP_MAX; i++) {
		natpmpresp_t resp;
		memset(&resp, 0, sizeof(resp));
		int r;
		if (m->remove) {
			/* RFC 6886 3.4: lifetime 0 and external port 0 delete it */
			r = natpmp_one(&np, ports[i], 0, 0, m->t.router_timeout_ms, &resp);
			if (r == NATPMP_TRYAGAIN && i == 0)
				break;
			if (r >= 0 && resp.type == NATPMP_RESPTYPE_TCPPORTMAPPING)
				set(&m->res[m->nres++], ports[i], "natpmp", 1, 0,
				    "TCP %d no longer forwarded", ports[i]);
			else
				set(&m->res[m->nres++], ports[i], "natpmp", 0, 0,
				    "the router did not remove it (NAT-PMP %d): remove the forward "
				    "of TCP %d by hand",
				    r, ports[i]);
			continue;
		}
		r = natpmp_one(&np, ports[i], ports[i], m->t.map_lease_s, m->t.router_timeout_ms,
			       &resp);
		if (r == NATPMP_TRYAGAIN && i == 0) {
			/* no NAT-PMP router: nothing to report per port */
			break;
		}
		if (r >= 0 && resp.type == NATPMP_RESPTYPE_TCPPORTMAPPING &&
		    resp.pnu.newportmapping.privateport == ports[i] &&
		    resp.pnu.newportmapping.mappedpublicport == ports[i] &&
		    resp.pnu.newportmapping.lifetime > 0) {
			set(&m->res[m->nres++], ports[i], "natpmp", 1,
			    resp.pnu.newportmapping.lifetime, "TCP %d -> %s:%d", ports[i], m->lan,
			    ports[i]);
		} else if (r >= 0 && resp.type == NATPMP_RESPTYPE_TCPPORTMAPPING) {
			set(&m->res[m->nres++], ports[i], "natpmp", 0, 0,
			    "the router offered public port %u instead: forward TCP %d to %s by "
			    "hand",
			    resp.pnu.newportmapping.mappedpublicport, ports[i], m->lan);
		} else {
			set(&m->res[m->nres++], ports[i], "natpmp", 0, 0,
			    "the router refused (NAT-PMP %d): forward TCP %d to %s by hand", r,
			    ports[i], m->lan[0] ? m->lan : "this box");
		}
	}
	closenatpmp(&np);
}

static void map_work(void *arg)
{
	struct nw_map *m = arg;
	int ports[NW_MAP_MAX];
	size_t n = map_ports(m->t.map_ports, ports, NW_MAP_MAX);

	if (m->t.upnp[0] && map_upnp(m, ports, n)) {
		/* UPnP answered: its word stands */
	} else if (m->t.router[0] && m->t.pcp && map_pcp(m, ports, n)) {
		/* PCP answered */
	} else if (m->t.router[0]) {
		map_natpmp(m, ports, n);
	}
	if (m->nres == 0 && m->remove)
		for (size_t i = 0; i < n && m->nres < NW_MAP_MAX; i++)
			set(&m->res[m->nres++], ports[i], "none", 0, 0,
			    "no router answered: if TCP %d is still forwarded, remove it by hand",
			    ports[i]);
	if (m->nres == 0)
		for (size_t i = 0; i < n && m->nres < NW_MAP_MAX; i++)
			set(&m->res[m->nres++], ports[i], "none", 0, 0,
			    "no router answered UPnP or NAT-PMP: forward TCP %d to %s by hand",
			    ports[i], m->lan[0] ? m->lan : "this box");
}

static void map_done(void *arg)
{
	struct nw_map *m = arg;
	nw_map_fn fn = m->fn;
	void *farg = m->arg;
	struct nw_map_result res[NW_MAP_MAX];
	size_t n = m->nres;

	memcpy(res, m->res, n * sizeof(res[0]));
	free(m);
	fn(farg, res, n);
}

static struct nw_map *start(struct evloop *ev, const struct nw_targets *t, int remove, nw_map_fn fn,
			    void *arg)
{
	struct nw_map *m = calloc(1, sizeof(*m));

	if (!m)
		bug("out of memory");
	m->remove = remove;
	m->ev = ev;
	m->t = *t;
	m->fn = fn;
	m->arg = arg;
	m->w = nw_worker_start(ev, map_work, map_done, m);
	return m;
}

struct nw_map *nw_map_start(struct evloop *ev, const struct nw_targets *t, nw_map_fn fn, void *arg)
{
	return start(ev, t, 0, fn, arg);
}

struct nw_map *nw_unmap_start(struct evloop *ev, const struct nw_targets *t, nw_map_fn fn,
			      void *arg)
{
	return start(ev, t, 1, fn, arg);
}

size_t nw_map_ports(const char *list, int *ports, size_t max)
{
	return map_ports(list, ports, max);
}

void nw_map_cancel(struct nw_map *m)
{
	if (!m)
		return;
	/* the worker only talks to the router: wait for it (bounded by the
	 * libraries' own timeouts) rather than leave it writing into freed
	 * memory */
	nw_worker_join(m->w);
	free(m);
}
