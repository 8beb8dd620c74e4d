/*
 * One check: every probe, then the verdict (lib/net/netverdict).
 *
 *   1. the public address: DNS reflection (OpenDNS A/AAAA, Google TXT,
 *      Cloudflare CHAOS TXT) and the router's WAN address by NAT-PMP, all
 *      at once; the address is the one two methods agree on (or the only
 *      one that answered); CGNAT from the router's WAN address;
 *   2. with the address: PTR and its forward confirmation, the ZEN
 *      self-test and lookup through the local resolver, and port 25 when
 *      this check probes it, all at once.
 * Each answer becomes an item of evidence (and a progress line); nothing a
 * server says is trusted beyond what its parser checks: a TXT that is not
 * an address, a lying list answer, a garbage banner all end as "unknown"
 * evidence with a log line.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <ifaddrs.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "dns.h"
#include "evloop.h"
#include "log.h"
#include "net.h"
#include "netwatch.h"
#include "store.h"
#include "store_netwatch.h"
#include "strnum.h"

#define NW_PTR_NAMES 3 /* PTR names forward-checked */

enum { R_OPENDNS, R_GOOGLE, R_CLOUDFLARE, R_COUNT };
static const char *const refl_names[R_COUNT] = {"opendns", "google", "cloudflare"};

struct nw_check {
	struct evloop *ev;
	struct nw_targets t;
	enum nw_mode mode;
	struct dns *dres, *drefl[R_COUNT], *d6;
	struct nw_router *router;
	struct nw_upnp *upnp;
	char upnp_wan[INET_ADDRSTRLEN];
	struct nw_p25 *p25;
	struct ev_timer *finish;
	int pending, phase, dying;

	char refl[R_COUNT][INET6_ADDRSTRLEN]; /* v4 answers */
	char wan[INET_ADDRSTRLEN];
	int router_ok;

	/* PTR */
	char names[NW_PTR_NAMES][256];
	size_t nnames;
	int fwd_match[NW_PTR_NAMES];
	int ptr_status; /* dns_status of the PTR lookup */

	/* ZEN */
	struct in_addr self_a[16], zen_a[16], zen6_a[16];
	size_t nself, nzen, nzen6;
	int self_st, zen_st, zen6_st;

	char rejection[320];

	struct nw_result res;
	nw_progress_fn progress;
	nw_done_fn done;
	void *arg;
};

static void item(struct nw_check *c, const char *probe, const char *result, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void item(struct nw_check *c, const char *probe, const char *result, const char *fmt, ...)
{
	struct nw_item *it;
	va_list ap;

	if (c->res.nitems >= NW_ITEMS_MAX)
		return;
	it = &c->res.items[c->res.nitems++];
	snprintf(it->probe, sizeof(it->probe), "%s", probe);
	snprintf(it->result, sizeof(it->result), "%s", result);
	va_start(ap, fmt);
	vsnprintf(it->detail, sizeof(it->detail), fmt, ap);
	va_end(ap);
	log_info(NULL, "event=evidence probe=%s result=%s", it->probe, it->result);
	if (c->progress)
		c->progress(c->arg, it);
}

/* A printable, quoted-safe copy of what a server sent, for details. */
static const char *safe(char *out, size_t outlen, const char *in, size_t len)
{
	size_t k = 0;

	for (size_t i = 0; i < len && k + 1 < outlen && k < 80; i++) {
		unsigned char ch = (unsigned char)in[i];
		out[k++] = ch >= 0x20 && ch < 0x7f && ch != '"' && ch != '\\' ? (char)ch : '?';
	}
	out[k] = '\0';
	return out;
}

static void phase2(struct nw_check *c);
static void judge(struct nw_check *c);

/* One async step ended: on to the next phase when none is left. */
static void step_done(struct nw_check *c)
{
	if (--c->pending > 0 || c->dying)
		return;
	if (c->phase == 1)
		phase2(c);
	else
		judge(c);
	if (c->pending == 0 && !ev_timer_armed(c->finish))
		ev_timer_arm(c->finish, 0);
}

/* --- phase 1: the public address -------------------------------------- */

static void on_opendns_a(void *arg, enum dns_status st, const struct dns_addr *a, size_t n)
{
	struct nw_check *c = arg;

	if (st == DNS_CANCELLED || c->dying)
		return;
	if (st == DNS_OK && n > 0) {
		snprintf(c->refl[R_OPENDNS], sizeof(c->refl[0]), "%s", a[0].text);
		item(c, "reflect.opendns", a[0].text, "%s A at %s", c->t.opendns_name,
		     c->t.opendns_servers);
	} else {
		item(c, "reflect.opendns", "no answer", "%s A: %s", c->t.opendns_name,
		     dns_status_str(st));
	}
	step_done(c);
}

static void on_opendns_aaaa(void *arg, enum dns_status st, const struct dns_addr *a, size_t n)
{
	struct nw_check *c = arg;

	if (st == DNS_CANCELLED || c->dying)
		return;
	if (st == DNS_OK && n > 0) {
		snprintf(c->res.addr6, sizeof(c->res.addr6), "%s", a[0].text);
		item(c, "address6", a[0].text, "%s AAAA at %s", c->t.opendns_name,
		     c->t.opendns6_servers);
	}
	step_done(c);
}

/* A TXT reflection answer: the first record that is an address. */
static void refl_txt(struct nw_check *c, int m, const char *what, enum dns_status st,
		     const struct dns_txt *txt, size_t n)
{
	char show[96];

	if (st == DNS_OK) {
		for (size_t i = 0; i < n; i++) {
			unsigned char bin[16];
			char a[INET6_ADDRSTRLEN];
			if (txt[i].len == 0 || txt[i].len >= sizeof(a) ||
			    memchr(txt[i].data, '\0', txt[i].len))
				continue;
			memcpy(a, txt[i].data, txt[i].len);
			a[txt[i].len] = '\0';
			if (inet_pton(AF_INET, a, bin) == 1) {
				snprintf(c->refl[m], sizeof(c->refl[0]), "%s", a);
				item(c,
				     refl_names[m][0] == 'g' ? "reflect.google"
							     : "reflect.cloudflare",
				     a, "%s", what);
				return;
			}
		}
		log_warn(NULL, "event=bad-reflection method=%s answer=\"%s\"", refl_names[m],
			 n ? safe(show, sizeof(show), txt[0].data, txt[0].len) : "");
		item(c, m == R_GOOGLE ? "reflect.google" : "reflect.cloudflare", "garbage",
		     "%s: no address in the answer \"%s\"", what,
		     n ? safe(show, sizeof(show), txt[0].data, txt[0].len) : "");
		return;
	}
	item(c, m == R_GOOGLE ? "reflect.google" : "reflect.cloudflare", "no answer", "%s: %s",
	     what, dns_status_str(st));
}

static void on_google(void *arg, enum dns_status st, const struct dns_txt *t, size_t n)
{
	struct nw_check *c = arg;
	char what[300];

	if (st == DNS_CANCELLED || c->dying)
		return;
	snprintf(what, sizeof(what), "%.120s TXT at %.120s", c->t.google_name, c->t.google_servers);
	refl_txt(c, R_GOOGLE, what, st, t, n);
	step_done(c);
}

static void on_cloudflare(void *arg, enum dns_status st, const struct dns_txt *t, size_t n)
{
	struct nw_check *c = arg;
	char what[300];

	if (st == DNS_CANCELLED || c->dying)
		return;
	snprintf(what, sizeof(what), "%.120s CH TXT at %.120s", c->t.cloudflare_name,
		 c->t.cloudflare_servers);
	refl_txt(c, R_CLOUDFLARE, what, st, t, n);
	step_done(c);
}

static void on_router(void *arg, int okay, const char *text)
{
	struct nw_check *c = arg;

	c->router = NULL;
	if (c->dying)
		return;
	c->router_ok = okay;
	if (okay && netv_addr_kind(text) != NETV_ADDR_INVALID) {
		snprintf(c->wan, sizeof(c->wan), "%s", text);
		item(c, "router", text, "WAN address by NAT-PMP from %s", c->t.router);
	} else {
		c->router_ok = 0;
		item(c, "router", "no answer", "NAT-PMP at %s: %s", c->t.router, text);
	}
	step_done(c);
}

static void on_upnp(void *arg, int okay, const char *text)
{
	struct nw_check *c = arg;

	c->upnp = NULL;
	if (c->dying)
		return;
	if (okay && netv_addr_kind(text) != NETV_ADDR_INVALID) {
		snprintf(c->upnp_wan, sizeof(c->upnp_wan), "%s", text);
		item(c, "router.upnp", text, "WAN address by UPnP IGD GetExternalIPAddress");
	} else {
		item(c, "router.upnp", "no answer", "UPnP at %s: %s", c->t.upnp, text);
	}
	step_done(c);
}

static struct dns *mkdns(struct nw_check *c, const char *servers, char *err, size_t errlen)
{
	struct dns *d = dns_new(c->ev, servers && *servers ? servers : NULL, err, errlen);

	if (d)
		dns_set_timeout(d, c->t.dns_timeout_ms, 2);
	return d;
}

static void want(struct nw_check *c, struct dns_req *r)
{
	if (r)
		c->pending++;
}

/* The address the methods agree on: two or more alike, or the only one
 * that answered. */
static void decide_address(struct nw_check *c)
{
	struct netv_evidence *e = &c->res.ev;
	int answers = 0, agree = 0;
	const char *only = NULL;

	for (int i = 0; i < R_COUNT; i++) {
		int votes = 0;
		if (!c->refl[i][0])
			continue;
		answers++;
		only = refl_names[i];
		for (int k = 0; k < R_COUNT; k++)
			votes += c->refl[k][0] && strcmp(c->refl[k], c->refl[i]) == 0;
		if (votes >= 2 && votes > agree) {
			agree = votes;
			snprintf(e->addr, sizeof(e->addr), "%s", c->refl[i]);
		}
	}
	e->reflect_answers = answers;
	for (int i = 0; i < R_COUNT; i++)
		for (int k = 0; k < R_COUNT; k++)
			if (c->refl[i][0] && c->refl[k][0] && strcmp(c->refl[i], c->refl[k]) != 0)
				e->reflect_disagree = 1;
	if (answers == 1) {
		for (int i = 0; i < R_COUNT; i++)
			if (c->refl[i][0])
				snprintf(e->addr, sizeof(e->addr), "%s", c->refl[i]);
		item(c, "address", e->addr, "only %s answered", only);
	} else if (e->addr[0]) {
		item(c, "address", e->addr, "%d of %d methods agree", agree, answers);
	} else if (answers == 0) {
		item(c, "address", "unknown", "no reflection method answered");
	} else {
		item(c, "address", "unknown", "the methods disagree: %s / %s / %s",
		     c->refl[0][0] ? c->refl[0] : "-", c->refl[1][0] ? c->refl[1] : "-",
		     c->refl[2][0] ? c->refl[2] : "-");
	}
}

/* Does a local interface hold addr (no NAT at all)? */
static int local_holds(const char *addr)
{
	struct ifaddrs *ifs, *i;
	int found = 0;

	if (getifaddrs(&ifs) < 0)
		return 0;
	for (i = ifs; i && !found; i = i->ifa_next) {
		char text[INET6_ADDRSTRLEN];
		if (!i->ifa_addr ||
		    (i->ifa_addr->sa_family != AF_INET && i->ifa_addr->sa_family != AF_INET6))
			continue;
		net_addr_str(i->ifa_addr, text, sizeof(text));
		found = strcmp(text, addr) == 0;
	}
	freeifaddrs(ifs);
	return found;
}

static void decide_cgnat(struct nw_check *c)
{
	struct netv_evidence *e = &c->res.ev;
	enum netv_addr_kind k;

	if (e->addr[0] && (k = netv_addr_kind(e->addr)) != NETV_ADDR_PUBLIC) {
		e->cgnat = NETV_CGNAT_YES;
		item(c, "cgnat", "yes", "the world sees %s, a %s address: the ISP's NAT", e->addr,
		     k == NETV_ADDR_CGNAT ? "carrier-grade NAT (100.64.0.0/10)" : "non-public");
		return;
	}
	/* NAT-PMP's answer first, else UPnP's */
	if (!c->wan[0] && c->upnp_wan[0])
		snprintf(c->wan, sizeof(c->wan), "%s", c->upnp_wan);
	if (c->wan[0]) {
		k = netv_addr_kind(c->wan);
		if (k == NETV_ADDR_CGNAT) {
			e->cgnat = NETV_CGNAT_YES;
			item(c, "cgnat", "yes",
			     "the router's WAN address %s is in 100.64.0.0/10: the ISP shares one "
			     "public address among many customers (carrier-grade NAT)",
			     c->wan);
		} else if (k != NETV_ADDR_PUBLIC) {
			e->cgnat = NETV_CGNAT_YES;
			item(c, "cgnat", "yes",
			     "the router's WAN address %s is not public: another NAT sits in front "
			     "of it (the ISP's or a second router)",
			     c->wan);
		} else if (e->addr[0] && strcmp(c->wan, e->addr) != 0) {
			e->cgnat = NETV_CGNAT_YES;
			item(c, "cgnat", "yes",
			     "the router's WAN address %s differs from the address the world sees "
			     "(%s): a NAT between them",
			     c->wan, e->addr);
		} else {
			e->cgnat = NETV_CGNAT_NO;
			item(c, "cgnat", "no", "the router's WAN address %s is the public address",
			     c->wan);
		}
		return;
	}
	if (e->addr[0] && local_holds(e->addr)) {
		e->cgnat = NETV_CGNAT_NO;
		item(c, "cgnat", "no", "the box holds the public address %s itself", e->addr);
		return;
	}
	/* no router to ask: nothing says CGNAT, and nothing could */
	e->cgnat = NETV_CGNAT_NO;
	item(c, "cgnat", "no", "no sign of it (%s)",
	     c->t.router[0] || c->t.upnp[0] ? "the router answers neither NAT-PMP nor UPnP"
					    : "router probes off");
}

static void phase1(struct nw_check *c, char *err, size_t errlen)
{
	c->phase = 1;
	c->pending = 1; /* held until everything is started */
	if (c->t.opendns_servers[0] && c->t.opendns_name[0]) {
		c->drefl[R_OPENDNS] = mkdns(c, c->t.opendns_servers, err, errlen);
		if (c->drefl[R_OPENDNS]) {
			want(c,
			     dns_query_a(c->drefl[R_OPENDNS], c->t.opendns_name, on_opendns_a, c));
		} else {
			item(c, "reflect.opendns", "error", "%s", err);
		}
	}
	/* IPv6: asked over IPv6, the resolver sees the box's v6 address; on
	 * a line without IPv6 this fails at once (unreachable) */
	if (c->t.opendns6_servers[0] && c->t.opendns_name[0] && c->mode != NW_ADDRESS) {
		c->d6 = mkdns(c, c->t.opendns6_servers, err, errlen);
		if (c->d6)
			want(c, dns_query_aaaa(c->d6, c->t.opendns_name, on_opendns_aaaa, c));
	}
	if (c->t.google_servers[0] && c->t.google_name[0]) {
		c->drefl[R_GOOGLE] = mkdns(c, c->t.google_servers, err, errlen);
		if (c->drefl[R_GOOGLE])
			want(c, dns_query_txt(c->drefl[R_GOOGLE], c->t.google_name, on_google, c));
		else
			item(c, "reflect.google", "error", "%s", err);
	}
	if (c->t.cloudflare_servers[0] && c->t.cloudflare_name[0]) {
		c->drefl[R_CLOUDFLARE] = mkdns(c, c->t.cloudflare_servers, err, errlen);
		if (c->drefl[R_CLOUDFLARE])
			want(c, dns_query_txt_chaos(c->drefl[R_CLOUDFLARE], c->t.cloudflare_name,
						    on_cloudflare, c));
		else
			item(c, "reflect.cloudflare", "error", "%s", err);
	}
	if (c->t.upnp[0] && c->mode != NW_ADDRESS) {
		c->pending++;
		c->upnp = nw_upnp_wan_start(c->ev, c->t.upnp, c->t.router_timeout_ms, on_upnp, c);
	}
	if (c->t.router[0] && c->mode != NW_ADDRESS) {
		c->pending++;
		c->router =
		    nw_router_start(c->ev, c->t.router, c->t.router_timeout_ms, on_router, c);
	}
	step_done(c);
}

/* --- phase 2: reverse name, lists, port 25 ---------------------------- */

static void on_fwd(struct nw_check *c, int i, enum dns_status st, const struct dns_addr *a,
		   size_t n)
{
	if (st == DNS_CANCELLED || c->dying)
		return;
	for (size_t k = 0; k < n; k++)
		if (strcmp(a[k].text, c->res.ev.addr) == 0)
			c->fwd_match[i] = 1;
	step_done(c);
}
static void on_fwd0(void *arg, enum dns_status st, const struct dns_addr *a, size_t n)
{
	on_fwd(arg, 0, st, a, n);
}
static void on_fwd1(void *arg, enum dns_status st, const struct dns_addr *a, size_t n)
{
	on_fwd(arg, 1, st, a, n);
}
static void on_fwd2(void *arg, enum dns_status st, const struct dns_addr *a, size_t n)
{
	on_fwd(arg, 2, st, a, n);
}

static void on_ptr(void *arg, enum dns_status st, const char *const *names, size_t n)
{
	static const dns_addr_fn fwd[NW_PTR_NAMES] = {on_fwd0, on_fwd1, on_fwd2};
	struct nw_check *c = arg;
	int v6 = strchr(c->res.ev.addr, ':') != NULL;

	if (st == DNS_CANCELLED || c->dying)
		return;
	c->ptr_status = st;
	for (size_t i = 0; st == DNS_OK && i < n && c->nnames < NW_PTR_NAMES; i++) {
		if (strlen(names[i]) >= sizeof(c->names[0]))
			continue;
		snprintf(c->names[c->nnames], sizeof(c->names[0]), "%s", names[i]);
		size_t k = c->nnames++;
		want(c, v6 ? dns_query_aaaa(c->dres, names[i], fwd[k], c)
			   : dns_query_a(c->dres, names[i], fwd[k], c));
	}
	step_done(c);
}

static void judge_ptr(struct nw_check *c)
{
	struct netv_evidence *e = &c->res.ev;
	char why[128], show[96];

	if (!e->addr[0]) {
		e->ptr = NETV_PTR_UNCHECKED;
		item(c, "ptr", "unchecked", "no public address to look up");
		return;
	}
	if (c->ptr_status == DNS_NXDOMAIN || c->ptr_status == DNS_NODATA ||
	    (c->ptr_status == DNS_OK && c->nnames == 0)) {
		e->ptr = NETV_PTR_MISSING;
		item(c, "ptr", "missing", "%s has no reverse name (%s)", e->addr,
		     dns_status_str((enum dns_status)c->ptr_status));
		return;
	}
	if (c->ptr_status != DNS_OK) {
		e->ptr = NETV_PTR_UNCHECKED;
		item(c, "ptr", "unchecked", "PTR lookup for %s failed: %s", e->addr,
		     dns_status_str((enum dns_status)c->ptr_status));
		return;
	}
	/* good when some name is both not generic and confirmed */
	for (size_t i = 0; i < c->nnames; i++) {
		if (!netv_ptr_generic(c->names[i], e->addr, why, sizeof(why)) && c->fwd_match[i]) {
			e->ptr = NETV_PTR_GOOD;
			item(c, "ptr", "good", "%s, forward-confirmed",
			     safe(show, sizeof(show), c->names[i], strlen(c->names[i])));
			return;
		}
	}
	if (netv_ptr_generic(c->names[0], e->addr, why, sizeof(why))) {
		e->ptr = NETV_PTR_GENERIC;
		item(c, "ptr", "generic", "%s: %s",
		     safe(show, sizeof(show), c->names[0], strlen(c->names[0])), why);
		return;
	}
	e->ptr = NETV_PTR_UNCONFIRMED;
	item(c, "ptr", "unconfirmed", "%s does not resolve back to %s",
	     safe(show, sizeof(show), c->names[0], strlen(c->names[0])), e->addr);
}

static void keep_addrs(struct in_addr *out, size_t *nout, const struct dns_addr *a, size_t n)
{
	*nout = 0;
	for (size_t i = 0; i < n && *nout < 16; i++)
		if (a[i].family == AF_INET)
			out[(*nout)++] = a[i].a.v4;
}

static void on_selftest(void *arg, enum dns_status st, const struct dns_addr *a, size_t n)
{
	struct nw_check *c = arg;

	if (st == DNS_CANCELLED || c->dying)
		return;
	c->self_st = st;
	keep_addrs(c->self_a, &c->nself, a, n);
	step_done(c);
}

static void on_zen(void *arg, enum dns_status st, const struct dns_addr *a, size_t n)
{
	struct nw_check *c = arg;

	if (st == DNS_CANCELLED || c->dying)
		return;
	c->zen_st = st;
	keep_addrs(c->zen_a, &c->nzen, a, n);
	step_done(c);
}

static void on_zen6(void *arg, enum dns_status st, const struct dns_addr *a, size_t n)
{
	struct nw_check *c = arg;

	if (st == DNS_CANCELLED || c->dying)
		return;
	c->zen6_st = st;
	keep_addrs(c->zen6_a, &c->nzen6, a, n);
	step_done(c);
}

/* The v6 address in ZEN (reversed nibbles), when the box has one. */
static void judge_zen6(struct nw_check *c)
{
	struct netv_evidence *e = &c->res.ev;
	char codes[128];

	if (!c->res.addr6[0] || !c->t.zen_zone[0])
		return;
	if (c->zen6_st == DNS_NXDOMAIN)
		e->zen6 = NETV_ZEN_CLEAN;
	else if (c->zen6_st == DNS_OK)
		e->zen6 = netv_zen_decode(0, c->zen6_a, c->nzen6, codes, sizeof(codes));
	else
		e->zen6 = NETV_ZEN_UNCHECKED;
	if (c->zen6_st != DNS_OK)
		snprintf(codes, sizeof(codes), "%s", dns_status_str((enum dns_status)c->zen6_st));
	if (!e->zen_selftest &&
	    (e->zen6 == NETV_ZEN_CLEAN || e->zen6 == NETV_ZEN_PBL || e->zen6 == NETV_ZEN_LISTED))
		e->zen6 = NETV_ZEN_UNCHECKED;
	item(c, "zen6", netv_zen_str(e->zen6), "%s in %s: %s", c->res.addr6, c->t.zen_zone, codes);
}

static void judge_zen(struct nw_check *c)
{
	struct netv_evidence *e = &c->res.ev;
	char codes[128];

	if (!c->t.zen_zone[0]) {
		item(c, "zen", "unchecked", "list lookups off (netwatch.zen_zone empty)");
		return;
	}
	netv_zen_decode(0, c->self_a, c->nself, codes, sizeof(codes));
	e->zen_selftest = c->self_st == DNS_OK && netv_zen_selftest_ok(c->self_a, c->nself);
	item(c, "zen.selftest", e->zen_selftest ? "ok" : "failed", "2.0.0.127.%s: %s%s%s",
	     c->t.zen_zone, dns_status_str((enum dns_status)c->self_st), codes[0] ? " " : "",
	     codes);
	if (!e->addr[0]) {
		item(c, "zen", "unchecked", "no public address to look up");
		return;
	}
	if (c->zen_st == DNS_NXDOMAIN)
		e->zen = NETV_ZEN_CLEAN;
	else if (c->zen_st == DNS_OK)
		e->zen = netv_zen_decode(0, c->zen_a, c->nzen, codes, sizeof(codes));
	else
		e->zen = NETV_ZEN_UNCHECKED;
	if (c->zen_st != DNS_OK)
		snprintf(codes, sizeof(codes), "%s", dns_status_str((enum dns_status)c->zen_st));
	/* the self-test comes first: a resolver that fails it is not
	 * believed, neither its "clean" nor its "listed" (its error codes
	 * are kept: they say why) */
	if (!e->zen_selftest &&
	    (e->zen == NETV_ZEN_CLEAN || e->zen == NETV_ZEN_PBL || e->zen == NETV_ZEN_LISTED)) {
		item(c, "zen", "unchecked",
		     "%s in %s: %s, not believed: the resolver failed the self-test", e->addr,
		     c->t.zen_zone, codes);
		e->zen = NETV_ZEN_UNCHECKED;
		return;
	}
	if (e->zen == NETV_ZEN_BOGUS)
		log_warn(NULL, "event=bogus-list-answer zone=%s codes=%s", c->t.zen_zone, codes);
	item(c, "zen", netv_zen_str(e->zen), "%s in %s: %s", e->addr, c->t.zen_zone, codes);
}

static void on_port25(void *arg, enum netv_port25 r, const char *detail)
{
	struct nw_check *c = arg;

	c->p25 = NULL;
	if (c->dying)
		return;
	c->res.ev.port25 = r;
	c->res.port25_probed = 1;
	item(c, "port25", netv_port25_str(r), "%s: %s", c->t.port25_target, detail);
	step_done(c);
}

static void port25_connect(struct nw_check *c, const struct sockaddr *sa, socklen_t len)
{
	c->pending++;
	c->p25 = nw_p25_start(c->ev, sa, len, c->t.port25_timeout_ms, on_port25, c);
}

static unsigned p25_port(const char *target, char *host, size_t hostlen)
{
	const char *colon = strrchr(target, ':');
	unsigned port = 25;

	if (colon && strchr(target, ':') == colon && strnum_uint(colon + 1, 65535, &port) == 0 &&
	    port > 0) {
		snprintf(host, hostlen, "%.*s", (int)(colon - target), target);
		return port;
	}
	snprintf(host, hostlen, "%s", target);
	return 25;
}

static void on_p25_host(void *arg, enum dns_status st, const struct dns_addr *a, size_t n)
{
	struct nw_check *c = arg;
	char host[NW_TARGET_MAX];
	unsigned port;

	if (st == DNS_CANCELLED || c->dying)
		return;
	port = p25_port(c->t.port25_target, host, sizeof(host));
	if (st == DNS_OK && n > 0) {
		struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
		sa.sin_addr = a[0].a.v4;
		port25_connect(c, (struct sockaddr *)&sa, sizeof(sa));
	} else {
		item(c, "port25", "unchecked", "%s: %s", host, dns_status_str(st));
	}
	step_done(c);
}

static void start_port25(struct nw_check *c)
{
	struct sockaddr_storage ss;
	socklen_t len;
	char host[NW_TARGET_MAX];

	if (net_parse_addr(c->t.port25_target, &ss, &len) == 0) {
		port25_connect(c, (struct sockaddr *)&ss, len);
		return;
	}
	p25_port(c->t.port25_target, host, sizeof(host));
	want(c, dns_query_a(c->dres, host, on_p25_host, c));
}

static void phase2(struct nw_check *c)
{
	struct netv_evidence *e = &c->res.ev;
	char name[NW_TARGET_MAX + 80];

	decide_address(c);
	if (c->mode == NW_ADDRESS)
		return;
	decide_cgnat(c);
	c->phase = 2;
	c->pending = 1;
	if (e->addr[0]) {
		want(c, dns_query_ptr(c->dres, e->addr, on_ptr, c));
		if (c->t.zen_zone[0] &&
		    netv_dnsbl_name(e->addr, c->t.zen_zone, name, sizeof(name)) == 0)
			want(c, dns_query_a(c->dres, name, on_zen, c));
	}
	if (c->res.addr6[0] && c->t.zen_zone[0] &&
	    netv_dnsbl_name(c->res.addr6, c->t.zen_zone, name, sizeof(name)) == 0)
		want(c, dns_query_a(c->dres, name, on_zen6, c));
	if (c->t.zen_zone[0]) {
		snprintf(name, sizeof(name), "2.0.0.127.%s", c->t.zen_zone);
		want(c, dns_query_a(c->dres, name, on_selftest, c));
	}
	if (c->mode == NW_FULL_PORT25 && c->t.port25_target[0])
		start_port25(c);
	c->self_st = c->zen_st = c->zen6_st = DNS_TEMPFAIL;
	step_done(c);
}

static void judge(struct nw_check *c)
{
	struct netv_evidence *e = &c->res.ev;

	if (c->mode == NW_ADDRESS)
		return;
	judge_ptr(c);
	judge_zen(c);
	judge_zen6(c);
	if (!c->res.port25_probed) {
		if (c->mode == NW_FULL_PORT25 && !c->t.port25_target[0])
			item(c, "port25", "unchecked",
			     "port 25 probe off (netwatch.port25_target empty)");
		else if (e->port25 != NETV_P25_UNCHECKED)
			item(c, "port25", netv_port25_str(e->port25), "from an earlier check");
	}
	if (e->rejections > 0)
		item(c, "rejections", "reputation", "%d lately; the newest: %s", e->rejections,
		     c->rejection);
	c->res.verdict = netv_judge(e, c->res.reason, sizeof(c->res.reason));
	item(c, "verdict", netv_verdict_str(c->res.verdict), "%s", c->res.reason);
}

/* --- the check's life --------------------------------------------------- */

static void check_free(struct nw_check *c)
{
	c->dying = 1;
	nw_router_cancel(c->router);
	nw_upnp_cancel(c->upnp);
	nw_p25_cancel(c->p25);
	dns_free(c->dres);
	dns_free(c->d6);
	for (int i = 0; i < R_COUNT; i++)
		dns_free(c->drefl[i]);
	ev_timer_free(c->finish);
	free(c);
}

static void on_finish(struct evloop *ev, struct ev_timer *t, void *arg)
{
	struct nw_check *c = arg;

	(void)ev;
	(void)t;
	if (c->pending > 0)
		return;
	c->done(c->arg, &c->res);
	check_free(c);
}

struct nw_check *nw_check_start(struct evloop *ev, const struct nw_targets *t, enum nw_mode mode,
				const struct nw_prior *prior, nw_progress_fn progress,
				nw_done_fn done, void *arg, char *err, size_t errlen)
{
	struct nw_check *c = calloc(1, sizeof(*c));
	char why[200];

	if (!c)
		bug("out of memory");
	c->ev = ev;
	c->t = *t;
	c->mode = mode;
	c->progress = progress;
	c->done = done;
	c->arg = arg;
	if (prior) {
		c->res.ev.port25 = prior->port25;
		c->res.ev.rejections = prior->rejections;
		snprintf(c->rejection, sizeof(c->rejection), "%s", prior->rejection);
	}
	c->finish = ev_timer_new(ev, on_finish, c);
	c->dres = mkdns(c, t->resolver, why, sizeof(why));
	if (!c->dres) {
		snprintf(err, errlen, "netwatch.resolver: %s", why);
		ev_timer_free(c->finish);
		free(c);
		return NULL;
	}
	phase1(c, why, sizeof(why));
	return c;
}

void nw_check_cancel(struct nw_check *c)
{
	if (c)
		check_free(c);
}

int nw_prior_rejections(struct nw_prior *prior, struct store *st, int64_t since)
{
	char host[128], reply[256];
	int n = store_nw_rejection_count(st, "reputation", since, host, sizeof(host), reply,
					 sizeof(reply));

	if (n < 0)
		return -1;
	prior->rejections = n;
	if (n > 0)
		snprintf(prior->rejection, sizeof(prior->rejection), "%.60s: %.240s", host, reply);
	return 0;
}
