/*
 * loftctl route: the outbound route's policy and loft-netwatch's verdict.
 *   route status   the policy, the verdict with its evidence and when, the
 *                  route loft-queue takes from it, the history of changes,
 *                  the router port mappings
 *   route check    a full check now (the same code loft-netwatch runs),
 *                  with a progress line per piece of evidence; saved like
 *                  the daemon's
 *   route set auto|direct|smarthost
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config.h"
#include "evloop.h"
#include "log.h"
#include "loftctl.h"
#include "netwatch/netwatch.h"
#include "store.h"
#include "store_netwatch.h"
#include "store_settings.h"
#include "strnum.h"

static void when(int64_t t, char *out, size_t outlen)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (t <= 0 || !gmtime_r(&tt, &tm) || !strftime(out, outlen, "%Y-%m-%d %H:%M:%S UTC", &tm))
		snprintf(out, outlen, "-");
}

static int print_check(void *arg, const struct store_nw_check *c)
{
	char t[64];

	(void)arg;
	when(c->finished, t, sizeof(t));
	printf("Checked:  %s (%s), address %s\n", t, c->trigger,
	       *c->address ? c->address : "unknown");
	printf("Evidence:\n");
	for (size_t i = 0; i < c->nitems; i++)
		printf("  %-18s %-14s %s\n", c->items[i].probe, c->items[i].result,
		       c->items[i].detail);
	return 1;
}

static int print_change(void *arg, const struct store_nw_change *ch)
{
	char t[64];
	int *n = arg;

	if ((*n)++ == 0)
		printf("History:\n");
	when(ch->time, t, sizeof(t));
	printf("  %s  %s -> %s  %s\n", t, ch->from, ch->to, ch->reason);
	return 0;
}

static int print_mapping(void *arg, const struct store_nw_mapping *m)
{
	int *n = arg;

	if ((*n)++ == 0)
		printf("Port mappings:\n");
	printf("  %s/%-5d %-7s %-8s %s\n", m->proto, m->port, m->method,
	       m->ok ? "mapped" : "refused", m->detail);
	return 0;
}

struct last_ddns {
	int found;
	int64_t when;
	char text[600];
};

static int find_ddns(void *arg, int64_t id, int64_t when, const char *kind, const char *text)
{
	struct last_ddns *d = arg;

	(void)id;
	if (strcmp(kind, "netwatch") != 0 || strncmp(text, "ddns: ", 6) != 0)
		return 0;
	d->found = 1;
	d->when = when;
	snprintf(d->text, sizeof(d->text), "%s", text + 6);
	return 1;
}

/* What loft-queue does with this policy and verdict (COMMON.md). */
static const char *effective(const char *mode, const char *verdict, int smarthost, int *held)
{
	*held = 0;
	if (strcmp(mode, "direct") == 0)
		return "direct (policy)";
	if (strcmp(mode, "smarthost") == 0)
		return smarthost ? "smarthost (policy)"
				 : "smarthost (policy), but none is set: held";
	if (strcmp(verdict, "direct") == 0)
		return "direct";
	if (strcmp(verdict, "relay") == 0) {
		if (smarthost)
			return "smarthost";
		*held = 1;
		return "held in the queue: this connection must relay and no smarthost is set";
	}
	return smarthost ? "smarthost (verdict unknown)"
			 : "direct, with a warning (verdict unknown)";
}

static int route_status(struct store *st)
{
	char mode[32] = "auto", verdict[32] = "unknown", host[256] = "";
	int n = 0, held, r;

	store_setting_get(st, "route.mode", mode, sizeof(mode));
	store_setting_get(st, "route.verdict", verdict, sizeof(verdict));
	store_setting_get(st, "smarthost.host", host, sizeof(host));
	printf("Policy:   %s\n", mode);
	printf("Verdict:  %s\n", verdict);
	printf("Route:    %s\n", effective(mode, verdict, host[0] != 0, &held));
	if (host[0])
		printf("Smarthost: %s\n", host);
	r = store_nw_check_list(st, 1, print_check, NULL);
	if (r == 0)
		printf("Checked:  never (loft-netwatch has not run; try: loftctl route check)\n");
	if (held || (strcmp(mode, "smarthost") == 0 && !host[0]))
		printf(
		    "What to do: set a smarthost (your ISP's relay or a sending service) in the "
		    "admin's Outbound page or with loftctl smarthost; held mail goes out as soon "
		    "as one is set.  Or, if you know better, loftctl route set direct.\n");
	if (r >= 0) {
		char t[64], rhost[128], rreply[256];
		struct last_ddns d = {0};
		int nrej =
		    store_nw_rejection_count(st, "reputation", (int64_t)time(NULL) - 7 * 86400,
					     rhost, sizeof(rhost), rreply, sizeof(rreply));
		if (nrej > 0)
			printf("Rejections: %d for reputation in the last week; the newest from "
			       "%s: %s\n",
			       nrej, rhost, rreply);
		r = store_event_list(st, 1000, find_ddns, &d);
		if (r >= 0 && d.found) {
			when(d.when, t, sizeof(t));
			printf("Dynamic DNS: %s (%s)\n", d.text, t);
		}
		/* loft-admin getting a certificate: 80/443 forwarded meanwhile */
		char until[32], gwmx[256];
		uint64_t u;
		if (store_setting_get(st, "netwatch.acme_until", until, sizeof(until)) == 0 &&
		    strnum_u64(until, UINT64_MAX, &u) == 0 && u > (uint64_t)time(NULL)) {
			when((int64_t)u, t, sizeof(t));
			printf("Certificate: being obtained; ports 80 and 443 forwarded until %s\n",
			       t);
		}
		if (store_setting_get(st, "inbound.gateway_mx", gwmx, sizeof(gwmx)) == 0 && gwmx[0])
			printf("Inbound:  through the gateway %s (loftctl inbound gateway show)\n",
			       gwmx);
	}
	if (r >= 0)
		r = store_nw_change_list(st, 10, print_change, &n);
	n = 0;
	if (r >= 0)
		r = store_nw_mapping_list(st, print_mapping, &n);
	return ctl_list_result(st, r);
}

/* --- route check ------------------------------------------------------ */

struct run {
	struct evloop *ev;
	struct nw_result res;
	int done;
};

static void on_progress(void *arg, const struct nw_item *it)
{
	(void)arg;
	printf("%-18s %-14s %s\n", it->probe, it->result, it->detail);
	fflush(stdout);
}

static void on_done(void *arg, struct nw_result *r)
{
	struct run *run = arg;

	run->res = *r;
	run->done = 1;
	ev_stop(run->ev);
}

static int route_check(struct store *st)
{
	struct config *cfg = config_new();
	struct nw_targets t;
	struct run run = {0};
	struct nw_check *c;
	char path[4200], err[512];
	int r;

	snprintf(path, sizeof(path), "%s/loft.conf", ctl_datadir());
	if (config_load(cfg, path, err, sizeof(err)) < 0) {
		fprintf(stderr, "loftctl: %s\n", err);
		config_free(cfg);
		return 1;
	}
	if (nw_targets_load(&t, st, cfg, 0, err, sizeof(err)) < 0) {
		fprintf(stderr, "loftctl: %s\n", err);
		config_free(cfg);
		return 1;
	}
	config_free(cfg);
	run.ev = ev_new();
	if (!run.ev) {
		fprintf(stderr, "loftctl: cannot make an event loop\n");
		return 1;
	}
	int64_t started = (int64_t)time(NULL);
	struct nw_prior prior = {.port25 = NETV_P25_UNCHECKED};
	if (nw_prior_rejections(&prior, st, started - 7 * 86400) < 0)
		return ctl_result(st, -1, "route check", "");
	c = nw_check_start(run.ev, &t, NW_FULL_PORT25, &prior, on_progress, on_done, &run, err,
			   sizeof(err));
	if (!c) {
		fprintf(stderr, "loftctl: %s\n", err);
		ev_free(run.ev);
		return 1;
	}
	ev_run(run.ev);
	ev_free(run.ev);
	if (!run.done) {
		fprintf(stderr, "loftctl: the check did not finish\n");
		return 1;
	}
	struct store_nw_item items[NW_ITEMS_MAX];
	for (size_t i = 0; i < run.res.nitems; i++) {
		items[i].probe = run.res.items[i].probe;
		items[i].result = run.res.items[i].result;
		items[i].detail = run.res.items[i].detail;
	}
	struct store_nw_check sc = {.started = started,
				    .finished = (int64_t)time(NULL),
				    .trigger = "loftctl",
				    .address = run.res.ev.addr,
				    .verdict = netv_verdict_str(run.res.verdict),
				    .reason = run.res.reason,
				    .items = items,
				    .nitems = run.res.nitems};
	r = store_nw_check_save(st, &sc);
	if (r < 0)
		return ctl_result(st, r, "route check", "");
	printf("Verdict: %s%s\n", sc.verdict, r ? " (changed)" : "");
	return 0;
}

static int route_set(struct store *st, const char *mode)
{
	char host[256] = "", text[128];
	int r;

	if (strcmp(mode, "auto") != 0 && strcmp(mode, "direct") != 0 &&
	    strcmp(mode, "smarthost") != 0) {
		fprintf(stderr, "loftctl: route set takes auto, direct or smarthost\n");
		return 2;
	}
	r = store_setting_set(st, "route.mode", mode);
	if (r < 0)
		return ctl_result(st, r, "route set", mode);
	snprintf(text, sizeof(text), "route.mode set to %s", mode);
	store_event_add(st, "admin", text);
	if (strcmp(mode, "smarthost") == 0 &&
	    store_setting_get(st, "smarthost.host", host, sizeof(host)) != 0)
		fprintf(stderr,
			"loftctl: warning: no smarthost is set: outbound mail is held until "
			"one is\n");
	printf("route.mode = %s\n", mode);
	return 0;
}

static int cmd_route(int argc, char **argv)
{
	struct store *st;
	int rc;

	/* argv[0] is the word after "route" */
	if (strcmp(argv[0], "status") == 0 && argc == 1) {
		st = ctl_open_store();
		rc = route_status(st);
	} else if (strcmp(argv[0], "check") == 0 && argc == 1) {
		st = ctl_open_store();
		rc = route_check(st);
	} else if (strcmp(argv[0], "set") == 0 && argc == 2) {
		st = ctl_open_store();
		rc = route_set(st, argv[1]);
	} else {
		ctl_usage();
	}
	store_close(st);
	return rc;
}

const struct ctl_cmd ctl_cmd_route = {
    "route",
    "  route status                  verdict, evidence, history, the route mail takes\n"
    "  route check                   check the connection now, with progress\n"
    "  route set auto|direct|smarthost  the outbound route policy\n",
    1, 2, cmd_route};
