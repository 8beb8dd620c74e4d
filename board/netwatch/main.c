/*
 * loft-netwatch: is this connection fit to send mail straight to the
 * world?  Keeps the route verdict (direct | relay | unknown) with its
 * evidence and history in the store, and writes the route.verdict setting
 * loft-queue routes by (DESIGN.md "Outbound route choice").
 *
 * Timers: a full check at start and every netwatch.interval (30 min); a
 * cheap address check (reflection only) every netwatch.address_interval
 * (5 min) that starts a full check at once when the public address
 * changed; the port 25 probe only at start, on an address change and every
 * netwatch.port25_interval (a day): receivers notice a home address that
 * knocks on their port 25 often.
 *
 * SECURITY: runs as the unprivileged user loft with no listening socket.
 * It only asks: DNS servers, the router (NAT-PMP) and one mail server's
 * banner; every answer goes through a bounded parser (lib/net/dns.c,
 * libnatpmp, probe_port25.c) and ends as evidence, never as code or SQL.
 * It touches only DATADIR/loft.db (through lib/store).  It never sends
 * mail.  Under --dev every probe target not set explicitly is off, so a
 * development run sends nothing off the machine.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "config.h"
#include "daemon.h"
#include "evloop.h"
#include "log.h"
#include "netwatch.h"
#include "store.h"
#include "store_netwatch.h"
#include "store_settings.h"
#include "strnum.h"

#define NW_CACHE_KIB	    256
#define NW_REJECTION_WINDOW (7 * 86400)

static struct {
	struct daemon *d;
	struct evloop *ev;
	struct store *st;
	struct nw_targets t;
	struct nw_check *check;
	enum nw_mode mode;
	char trigger[32];
	int64_t started;
	struct ev_timer *full, *addr;
	char last_addr[64];
	enum netv_port25 last_port25;
	int64_t last_port25_at;
	int want_full; /* a full check asked for while one ran */
	char want_trigger[32];
	struct nw_ddns *ddns;
	struct nw_dyndns2 *dyndns2;
	char ddns_addr[64]; /* the address the DNS record was last set to */
	char ddns_pending[64];
	int64_t addr_since; /* when the current address was first seen */
	struct nw_map *map;
	struct ev_timer *renew; /* the next mapping round */
	int map_due;
	int map_again; /* a round was asked for while one ran */
	/* ACME: loft-admin sets netwatch.acme_until and says "notify acme"
	 * while it gets a certificate; 80 and 443 are forwarded until then
	 * (the CA must reach the HTTP-01 answer), removed after */
	int64_t acme_until;
	int acme_mapped;       /* this process forwarded them */
	int acme_answer;       /* loft-admin waits for "acme-ports" */
	int map_acme;	       /* the round under way includes them */
	struct ev_timer *acme; /* the window's end */
} nw;

static void start_check(enum nw_mode mode, const char *trigger);
static void acme_follow(int asked);

/* The ports forwarded while a certificate is obtained (HTTP-01 comes to
 * 80; 443 for the admin over HTTPS once it has the certificate) */
#define NW_ACME_PORTS "80,443"
/* a longer window from the store (writable by every daemon) is cut to
 * this: the ports must not stay open because of one bad value */
#define NW_ACME_MAX_S 7200

/* The PCP nonce (RFC 6887 11.1: the router ties a mapping to it): made
 * once, kept as netwatch.pcp_nonce (24 hex digits) so a restart can still
 * renew and delete its mappings. */
static void pcp_nonce(uint8_t out[12])
{
	static uint8_t nonce[12];
	static int have;
	char hex[32];

	if (!have) {
		int good = store_setting_get(nw.st, "netwatch.pcp_nonce", hex, sizeof(hex)) == 0 &&
			   strlen(hex) == 24 && strspn(hex, "0123456789abcdef") == 24;
		for (int i = 0; good && i < 24; i++) {
			char c = hex[i];
			unsigned v = (unsigned)(c <= '9' ? c - '0' : c - 'a' + 10);
			nonce[i / 2] = (uint8_t)(i % 2 ? nonce[i / 2] | v : v << 4);
		}
		if (!good) {
			if (getrandom(nonce, sizeof(nonce), 0) != (ssize_t)sizeof(nonce))
				bug("getrandom failed");
			for (int i = 0; i < 12; i++)
				snprintf(hex + 2 * i, 3, "%02x", nonce[i]);
			if (store_setting_set(nw.st, "netwatch.pcp_nonce", hex) < 0)
				log_err(NULL, "event=store-failed error=\"%s\"",
					store_errmsg(nw.st));
		}
		have = 1;
	}
	memcpy(out, nonce, sizeof(nonce));
}

static int load_targets(void)
{
	char err[256];

	if (nw_targets_load(&nw.t, nw.st, daemon_config(nw.d), daemon_dev(nw.d), err, sizeof(err)) <
	    0) {
		log_err(NULL, "event=config-error error=\"%s\"", err);
		return -1;
	}
	pcp_nonce(nw.t.pcp_nonce);
	return 0;
}

static void save(struct nw_result *r)
{
	struct store_nw_item items[NW_ITEMS_MAX];
	struct store_nw_check c = {
	    .started = nw.started,
	    .finished = (int64_t)time(NULL),
	    .trigger = nw.trigger,
	    .address = r->ev.addr,
	    .verdict = netv_verdict_str(r->verdict),
	    .reason = r->reason,
	    .items = items,
	    .nitems = r->nitems,
	};
	int changed;

	for (size_t i = 0; i < r->nitems; i++) {
		items[i].probe = r->items[i].probe;
		items[i].result = r->items[i].result;
		items[i].detail = r->items[i].detail;
	}
	changed = store_nw_check_save(nw.st, &c);
	if (changed < 0) {
		log_err(NULL, "event=store-failed error=\"%s\"", store_errmsg(nw.st));
		return;
	}
	log_info(NULL, "event=verdict verdict=%s changed=%s trigger=%s address=%s reason=\"%s\"",
		 c.verdict, changed ? "yes" : "no", nw.trigger, r->ev.addr[0] ? r->ev.addr : "-",
		 r->reason);
	if (!changed)
		return;
	daemon_notify(nw.d, "route");
	/* relay with nowhere to relay to: the admin must act, say how */
	if (r->verdict == NETV_RELAY) {
		char mode[32] = "auto", host[8];
		store_setting_get(nw.st, "route.mode", mode, sizeof(mode));
		if (strcmp(mode, "auto") == 0 &&
		    store_setting_get(nw.st, "smarthost.host", host, sizeof(host)) ==
			STORE_NOTFOUND &&
		    store_event_add(nw.st, "route",
				    "this connection must relay and no smarthost is set: outbound "
				    "mail is held until you set one (the admin's Outbound page, or "
				    "loftctl smarthost)") < 0)
			log_err(NULL, "event=store-failed error=\"%s\"", store_errmsg(nw.st));
	}
}

static void on_ddns(void *arg, int okay, const char *text)
{
	char ev[1024];

	(void)arg;
	const char *name = nw.ddns ? nw.t.ddns_name : nw.t.dyndns2_hostname;
	const char *server = nw.ddns ? nw.t.ddns_server : nw.t.dyndns2_url;

	nw.ddns = NULL;
	nw.dyndns2 = NULL;
	log_info(NULL, "event=ddns ok=%s name=%s address=%s server=%s result=\"%s\"",
		 okay ? "yes" : "no", name, nw.ddns_pending, server, text);
	snprintf(ev, sizeof(ev), "ddns: %s A %s at %s: %s%s", name, nw.ddns_pending, server,
		 okay ? "" : "FAILED, ", text);
	if (store_event_add(nw.st, "netwatch", ev) < 0)
		log_err(NULL, "event=store-failed error=\"%s\"", store_errmsg(nw.st));
	/* a failure is tried again after the next full check */
	if (okay)
		snprintf(nw.ddns_addr, sizeof(nw.ddns_addr), "%s", nw.ddns_pending);
}

/* The host's A record follows the public address (inbound on a dynamic
 * line).  Only a v4 address the reflection agreed on is published. */
static void ddns_follow(const struct nw_result *r)
{
	int rfc2136 = nw.t.ddns_server[0] && nw.t.ddns_zone[0] && nw.t.ddns_name[0];

	if ((!rfc2136 && !nw.t.dyndns2_url[0]) || nw.ddns || nw.dyndns2 || !r->ev.addr[0] ||
	    strchr(r->ev.addr, ':') || strcmp(r->ev.addr, nw.ddns_addr) == 0)
		return;
	snprintf(nw.ddns_pending, sizeof(nw.ddns_pending), "%s", r->ev.addr);
	/* RFC 2136 when the admin runs the zone, else the provider's dyndns2 */
	if (rfc2136)
		nw.ddns = nw_ddns_start(nw.ev, &nw.t, r->ev.addr, NULL, on_ddns, NULL);
	else
		nw.dyndns2 = nw_dyndns2_start(nw.ev, &nw.t, r->ev.addr, on_ddns, NULL);
}

static void map_next(void);

/* Tells loft-admin, waiting to start the CA's challenge, that the ports
 * are forwarded (or that this is as good as it gets). */
static void acme_answer(void)
{
	if (!nw.acme_answer)
		return;
	nw.acme_answer = 0;
	log_info(NULL, "event=acme-ports-ready");
	daemon_notify(nw.d, "acme-ports");
}

static void on_map(void *arg, const struct nw_map_result *r, size_t n)
{
	char refused[160] = "", ev[600];
	size_t used = 0;
	unsigned lease = 0;
	int64_t now = (int64_t)time(NULL);

	(void)arg;
	nw.map = NULL;
	for (size_t i = 0; i < n; i++) {
		struct store_nw_mapping m = {"tcp",
					     r[i].port,
					     r[i].method,
					     r[i].ok,
					     r[i].detail,
					     now,
					     r[i].ok && r[i].lease ? now + r[i].lease : 0};
		if (store_nw_mapping_set(nw.st, &m) < 0)
			log_err(NULL, "event=store-failed error=\"%s\"", store_errmsg(nw.st));
		log_info(NULL, "event=port-mapping port=%d method=%s ok=%s detail=\"%s\"",
			 r[i].port, r[i].method, r[i].ok ? "yes" : "no", r[i].detail);
		if (!r[i].ok && used < sizeof(refused)) {
			int w = snprintf(refused + used, sizeof(refused) - used, "%s%d",
					 used ? ", " : "", r[i].port);
			used = w < 0 ? sizeof(refused) : used + (size_t)w;
		}
		if (r[i].ok && r[i].lease && (!lease || r[i].lease < lease))
			lease = r[i].lease;
	}
	if (refused[0]) {
		snprintf(ev, sizeof(ev),
			 "port mappings: the router did not forward TCP %s; add those forwards to "
			 "this box by hand (see loftctl route status)",
			 refused);
		store_event_add(nw.st, "netwatch", ev);
	}
	/* renew at half the lease; refused ones are asked again hourly */
	ev_timer_arm(nw.renew, (uint64_t)(lease ? lease / 2 : 3600) * 1000);
	if (nw.map_acme) {
		nw.acme_mapped = 1;
		acme_answer();
	}
	map_next();
}

/* The ACME ports not already among netwatch.map_ports, as a list. */
static void acme_ports(char *out, size_t outlen)
{
	int have[NW_MAP_MAX], want[NW_MAP_MAX];
	size_t nh = nw_map_ports(nw.t.map_ports, have, NW_MAP_MAX);
	size_t nwant = nw_map_ports(NW_ACME_PORTS, want, NW_MAP_MAX), used = 0;

	out[0] = '\0';
	for (size_t i = 0; i < nwant; i++) {
		int dup = 0;
		for (size_t j = 0; j < nh; j++)
			dup |= have[j] == want[i];
		if (!dup && used < outlen) {
			int w =
			    snprintf(out + used, outlen - used, "%s%d", used ? "," : "", want[i]);
			used = w < 0 ? outlen : used + (size_t)w;
		}
	}
}

static int acme_active(void)
{
	return nw.acme_until > (int64_t)time(NULL);
}

static void map_start(void)
{
	struct nw_targets t;
	char extra[32];

	if (nw.map) {
		nw.map_again = 1;
		return;
	}
	if (!nw.t.upnp[0] && !nw.t.router[0]) {
		/* no router to ask: loft-admin need not wait */
		acme_answer();
		return;
	}
	nw.map_due = 0;
	nw.map_again = 0;
	t = nw.t;
	nw.map_acme = acme_active();
	acme_ports(extra, sizeof(extra));
	if (nw.map_acme && extra[0]) {
		size_t l = strlen(t.map_ports);
		snprintf(t.map_ports + l, sizeof(t.map_ports) - l, "%s%s", l ? "," : "", extra);
	}
	nw.map = nw_map_start(nw.ev, &t, on_map, NULL);
}

static void on_unmap(void *arg, const struct nw_map_result *r, size_t n)
{
	char gone[64] = "", ev[400];
	size_t used = 0;

	(void)arg;
	nw.map = NULL;
	nw.acme_mapped = 0;
	for (size_t i = 0; i < n; i++) {
		log_info(NULL, "event=port-unmapping port=%d method=%s ok=%s detail=\"%s\"",
			 r[i].port, r[i].method, r[i].ok ? "yes" : "no", r[i].detail);
		if (r[i].ok) {
			if (store_nw_mapping_del(nw.st, "tcp", r[i].port) == -1)
				log_err(NULL, "event=store-failed error=\"%s\"",
					store_errmsg(nw.st));
			if (used < sizeof(gone)) {
				int w = snprintf(gone + used, sizeof(gone) - used, "%s%d",
						 used ? ", " : "", r[i].port);
				used = w < 0 ? sizeof(gone) : used + (size_t)w;
			}
			continue;
		}
		/* what the router kept: the person removes it by hand */
		struct store_nw_mapping m = {
		    "tcp", r[i].port, r[i].method, 0, r[i].detail, (int64_t)time(NULL), 0};
		if (store_nw_mapping_set(nw.st, &m) < 0)
			log_err(NULL, "event=store-failed error=\"%s\"", store_errmsg(nw.st));
		snprintf(ev, sizeof(ev), "port mappings: %s", r[i].detail);
		store_event_add(nw.st, "netwatch", ev);
	}
	if (gone[0]) {
		snprintf(
		    ev, sizeof(ev),
		    "port mappings: TCP %s no longer forwarded (the certificate request is over)",
		    gone);
		store_event_add(nw.st, "netwatch", ev);
	}
	map_next();
}

static void unmap_start(void)
{
	struct nw_targets t;

	if (nw.map) {
		nw.map_again = 1;
		return;
	}
	t = nw.t;
	acme_ports(t.map_ports, sizeof(t.map_ports));
	if (!t.map_ports[0] || (!t.upnp[0] && !t.router[0])) {
		nw.acme_mapped = 0;
		return;
	}
	log_info(NULL, "event=acme-ports-remove ports=%s", t.map_ports);
	nw.map = nw_unmap_start(nw.ev, &t, on_unmap, NULL);
}

/* After a round: what the ACME window wants now, and a round asked for
 * meanwhile. */
static void map_next(void)
{
	if (nw.map)
		return;
	acme_follow(0);
	if (!nw.map && nw.map_again)
		map_start();
}

/* Reads netwatch.acme_until and forwards the ACME ports while it is in
 * the future, removes them once it is not.  asked: loft-admin said
 * "notify acme" and waits for "acme-ports". */
static void acme_follow(int asked)
{
	char v[32];
	uint64_t until = 0;
	int64_t now = (int64_t)time(NULL);

	if (store_setting_get(nw.st, "netwatch.acme_until", v, sizeof(v)) == 0 &&
	    strnum_u64(v, UINT64_MAX, &until) < 0) {
		log_warn(NULL, "event=config-error key=netwatch.acme_until error=\"not a time\"");
		until = 0;
	}
	if (until > (uint64_t)(now + NW_ACME_MAX_S))
		until = (uint64_t)(now + NW_ACME_MAX_S);
	nw.acme_until = (int64_t)until;
	if (acme_active()) {
		if (asked) {
			nw.acme_answer = 1;
			log_info(NULL, "event=acme-ports-asked until=%lld",
				 (long long)nw.acme_until);
		}
		ev_timer_arm(nw.acme, (uint64_t)(nw.acme_until - now) * 1000 + 500);
		if (!nw.acme_mapped)
			map_start();
		else
			acme_answer();
		return;
	}
	ev_timer_disarm(nw.acme);
	if (asked)
		acme_answer(); /* nothing to wait for */
	if (nw.acme_mapped)
		unmap_start();
}

static void on_acme(struct evloop *ev, struct ev_timer *t, void *arg)
{
	(void)ev;
	(void)t;
	(void)arg;
	acme_follow(0);
}

static void on_renew(struct evloop *ev, struct ev_timer *t, void *arg)
{
	(void)ev;
	(void)t;
	(void)arg;
	nw.map_due = 1;
	if (!nw.check)
		map_start();
}

static void on_done(void *arg, struct nw_result *r)
{
	(void)arg;
	nw.check = NULL;
	if (nw.mode == NW_ADDRESS) {
		/* a changed address (or a first one) means a full check now */
		if (r->ev.addr[0] && strcmp(r->ev.addr, nw.last_addr) != 0) {
			log_info(NULL, "event=address-changed old=%s new=%s",
				 nw.last_addr[0] ? nw.last_addr : "-", r->ev.addr);
			if (nw.last_addr[0])
				nw.addr_since = (int64_t)time(NULL);
			start_check(NW_FULL_PORT25, "address-change");
			return;
		}
	} else {
		save(r);
		ddns_follow(r);
		if (nw.last_addr[0] && r->ev.addr[0] && strcmp(r->ev.addr, nw.last_addr) != 0)
			nw.addr_since = (int64_t)time(NULL);
		/* a new address may be a new router: map again */
		if (nw.map_due || strcmp(r->ev.addr, nw.last_addr) != 0)
			map_start();
		snprintf(nw.last_addr, sizeof(nw.last_addr), "%s", r->ev.addr);
		if (r->port25_probed) {
			nw.last_port25 = r->ev.port25;
			nw.last_port25_at = (int64_t)time(NULL);
		}
		ev_timer_arm(nw.full, (uint64_t)nw.t.interval_s * 1000);
	}
	ev_timer_arm(nw.addr, (uint64_t)nw.t.address_interval_s * 1000);
	if (nw.want_full) {
		nw.want_full = 0;
		start_check(NW_FULL_PORT25, nw.want_trigger);
	}
}

static void start_check(enum nw_mode mode, const char *trigger)
{
	char err[256];

	if (nw.check) {
		if (mode != NW_ADDRESS) {
			nw.want_full = 1;
			snprintf(nw.want_trigger, sizeof(nw.want_trigger), "%s", trigger);
		}
		return;
	}
	if (load_targets() < 0) {
		ev_timer_arm(nw.full, (uint64_t)60 * 1000);
		return;
	}
	/* the port 25 probe is rare: due once a day */
	if (mode == NW_FULL && (nw.last_port25_at == 0 || (int64_t)time(NULL) - nw.last_port25_at >=
							      (int64_t)nw.t.port25_interval_s))
		mode = NW_FULL_PORT25;
	nw.mode = mode;
	nw.started = (int64_t)time(NULL);
	snprintf(nw.trigger, sizeof(nw.trigger), "%s", trigger);
	ev_timer_disarm(nw.addr);
	if (mode != NW_ADDRESS)
		ev_timer_disarm(nw.full);
	log_info(NULL, "event=check-start mode=%s trigger=%s",
		 mode == NW_ADDRESS ? "address"
		 : mode == NW_FULL  ? "full"
				    : "full+port25",
		 trigger);
	struct nw_prior prior = {.port25 = nw.last_port25};
	if (mode != NW_ADDRESS) {
		/* rejections count for a week, and only for the current address */
		int64_t since = (int64_t)time(NULL) - NW_REJECTION_WINDOW;
		if (nw.addr_since > since)
			since = nw.addr_since;
		if (nw_prior_rejections(&prior, nw.st, since) < 0)
			log_err(NULL, "event=store-failed error=\"%s\"", store_errmsg(nw.st));
	}
	nw.check =
	    nw_check_start(nw.ev, &nw.t, mode, &prior, NULL, on_done, NULL, err, sizeof(err));
	if (!nw.check) {
		log_err(NULL, "event=config-error error=\"%s\"", err);
		ev_timer_arm(nw.full, (uint64_t)60 * 1000);
	}
}

static void on_full(struct evloop *ev, struct ev_timer *t, void *arg)
{
	(void)ev;
	(void)t;
	(void)arg;
	start_check(NW_FULL, "timer");
}

static void on_addr(struct evloop *ev, struct ev_timer *t, void *arg)
{
	(void)ev;
	(void)t;
	(void)arg;
	start_check(NW_ADDRESS, "address-timer");
}

static void on_reload(struct daemon *d, void *arg)
{
	(void)d;
	(void)arg;
	acme_follow(0);
	start_check(NW_FULL_PORT25, "reload");
}

static void on_notify(struct daemon *d, const char *topic, void *arg)
{
	(void)d;
	(void)arg;
	/* "netwatch": someone (the admin) asks for a check now */
	if (strcmp(topic, "netwatch") == 0)
		start_check(NW_FULL_PORT25, "asked");
	/* "acme": loft-admin starts or ended getting a certificate */
	if (strcmp(topic, "acme") == 0)
		acme_follow(1);
}

static void on_stop(struct daemon *d, void *arg)
{
	(void)d;
	(void)arg;
	nw_check_cancel(nw.check);
	nw.check = NULL;
	nw_ddns_cancel(nw.ddns);
	nw.ddns = NULL;
	nw_dyndns2_cancel(nw.dyndns2);
	nw.dyndns2 = NULL;
	nw_map_cancel(nw.map);
	nw.map = NULL;
	ev_timer_disarm(nw.renew);
	ev_timer_disarm(nw.acme);
	ev_timer_disarm(nw.full);
	ev_timer_disarm(nw.addr);
	ev_stop(nw.ev);
}

int main(int argc, char **argv)
{
	struct daemon_hooks hooks = {
	    .reload = on_reload, .stop = on_stop, .notify = on_notify, .arg = NULL};
	char err[512];
	int rc;

	nw.d = daemon_init(argc, argv, "loft-netwatch");
	nw.ev = daemon_loop(nw.d);
	daemon_set_hooks(nw.d, &hooks);
	if (store_open(daemon_db_path(nw.d), &nw.st, err, sizeof(err)) < 0)
		fatal("event=db-open-failed error=\"%s\"", err);
	if (store_set_cache_kib(nw.st, NW_CACHE_KIB) < 0)
		fatal("event=db-open-failed error=\"%s\"", store_errmsg(nw.st));
	if (load_targets() < 0)
		fatal("event=config-error hint=\"fix the netwatch.* setting\"");
	nw.full = ev_timer_new(nw.ev, on_full, NULL);
	nw.addr = ev_timer_new(nw.ev, on_addr, NULL);
	nw.renew = ev_timer_new(nw.ev, on_renew, NULL);
	nw.acme = ev_timer_new(nw.ev, on_acme, NULL);
	nw.map_due = 1;
	start_check(NW_FULL_PORT25, "start");
	/* a window still open from before a restart */
	acme_follow(0);

	rc = daemon_run(nw.d);
	nw_check_cancel(nw.check);
	ev_timer_free(nw.full);
	ev_timer_free(nw.addr);
	ev_timer_free(nw.renew);
	ev_timer_free(nw.acme);
	store_close(nw.st);
	daemon_free(nw.d);
	return rc;
}
