/*
 * Where netwatch's probes go.  Every target is a setting (DESIGN.md: tests
 * point them at local servers): the store's netwatch.KEY first (what the
 * admin sets), then loft.conf's netwatch.KEY, then the real services.
 */
#include <stdio.h>
#include <string.h>

#include "config.h"
#include "netwatch.h"
#include "store.h"
#include "store_settings.h"
#include "strnum.h"

static const struct {
	const char *key;
	size_t off;
	const char *def;
	int remote; /* a server off the machine: off under --dev unless set */
} text_keys[] = {
#define T(k, f, d)                                                                                 \
	{                                                                                          \
		"netwatch." k, offsetof(struct nw_targets, f), d, 0                                \
	}
#define R(k, f, d)                                                                                 \
	{                                                                                          \
		"netwatch." k, offsetof(struct nw_targets, f), d, 1                                \
	}
    /* OpenDNS answers myip.opendns.com with the asker's address */
    R("opendns_servers", opendns_servers, "208.67.222.222,208.67.220.220"),
    T("opendns_name", opendns_name, "myip.opendns.com"),
    R("opendns6_servers", opendns6_servers, "[2620:119:35::35],[2620:119:53::53]"),
    /* Google's authoritative servers (ns1-ns4.google.com) answer
     * o-o.myaddr.l.google.com TXT with the asker's address */
    R("google_servers", google_servers, "216.239.32.10,216.239.34.10,216.239.36.10"),
    T("google_name", google_name, "o-o.myaddr.l.google.com"),
    /* Cloudflare answers whoami.cloudflare in class CHAOS */
    R("cloudflare_servers", cloudflare_servers, "1.1.1.1,1.0.0.1"),
    T("cloudflare_name", cloudflare_name, "whoami.cloudflare"),
    /* Spamhaus refuses public resolvers: the box's own resolver asks */
    T("resolver", resolver, ""),
    T("zen_zone", zen_zone, "zen.spamhaus.org"),
    R("port25_target", port25_target, "gmail-smtp-in.l.google.com:25"),
    R("router", router, "auto"),
    /* dynamic DNS: off unless the admin sets a server */
    R("upnp", upnp, "auto"),
    /* 80 and 443 too while a certificate is being obtained */
    T("map_ports", map_ports, "25,465,587,993"),
    T("ddns_server", ddns_server, ""),
    T("dyndns2_url", dyndns2_url, ""),
    T("dyndns2_hostname", dyndns2_hostname, ""),
    T("dyndns2_user", dyndns2_user, ""),
    T("dyndns2_password", dyndns2_password, ""),
    T("dyndns2_ca", dyndns2_ca, ""),
    T("ddns_zone", ddns_zone, ""),
    T("ddns_name", ddns_name, ""),
    T("ddns_key_name", ddns_key_name, ""),
    T("ddns_key_secret", ddns_key_secret, ""),
#undef T
#undef R
};

static const struct {
	const char *key;
	size_t off;
	unsigned def, min, max;
} num_keys[] = {
#define N(k, f, d, lo, hi)                                                                         \
	{                                                                                          \
		"netwatch." k, offsetof(struct nw_targets, f), d, lo, hi                           \
	}
    N("dns_timeout_ms", dns_timeout_ms, 2000, 50, 60000),
    N("port25_timeout_ms", port25_timeout_ms, 10000, 50, 120000),
    N("router_timeout_ms", router_timeout_ms, 3000, 50, 60000),
    /* the full check, the cheap address check, the rare port 25 probe */
    N("interval", interval_s, 1800, 1, 7 * 86400),
    N("address_interval", address_interval_s, 300, 1, 86400),
    N("port25_interval", port25_interval_s, 86400, 1, 30 * 86400),
    N("ddns_ttl", ddns_ttl, 300, 30, 86400),
    N("map_lease", map_lease_s, 3600, 120, 7 * 86400),
    /* PCP (RFC 6887) before NAT-PMP on the router's port 5351; 0: off */
    N("pcp", pcp, 1, 0, 1),
#undef N
};

/* The value of key: store, then loft.conf, then NULL. */
/* The value of key: the store's, then loft.conf's, then none.  Returns 1
 * with *v set, 0 when neither has it, -1 when the store's value does not
 * fit buf (or the store failed): the caller names the key. */
static int lookup(struct store *st, const struct config *cfg, const char *key, char *buf,
		  size_t buflen, const char **v)
{
	int r;

	*v = NULL;
	if (st) {
		r = store_setting_get(st, key, buf, buflen);
		if (r == 0) {
			*v = buf;
			return 1;
		}
		if (r != STORE_NOTFOUND)
			return -1;
	}
	*v = cfg ? config_get(cfg, key, NULL) : NULL;
	return *v != NULL;
}

int nw_targets_load(struct nw_targets *t, struct store *st, const struct config *cfg, int offline,
		    char *err, size_t errlen)
{
	char buf[NW_TARGET_MAX];

	memset(t, 0, sizeof(*t));
	for (size_t i = 0; i < sizeof(text_keys) / sizeof(text_keys[0]); i++) {
		const char *v;
		if (lookup(st, cfg, text_keys[i].key, buf, sizeof(buf), &v) < 0) {
			snprintf(err, errlen, "%s: too long, or the store failed",
				 text_keys[i].key);
			return -1;
		}
		char *dst = (char *)t + text_keys[i].off;
		size_t cap = strcmp(text_keys[i].key, "netwatch.router") == 0 ? sizeof(t->router)
									      : NW_TARGET_MAX;
		/* offline (--dev): nothing outside the machine unless set */
		if (!v)
			v = offline && text_keys[i].remote ? "" : text_keys[i].def;
		if (strlen(v) >= cap) {
			snprintf(err, errlen, "%s: too long", text_keys[i].key);
			return -1;
		}
		memcpy(dst, v, strlen(v) + 1);
	}
	/* the resolver: netwatch's own, else the one every daemon uses */
	if (!t->resolver[0] && cfg) {
		const char *v = config_get(cfg, "dns_servers", "");
		if (strlen(v) >= sizeof(t->resolver)) {
			snprintf(err, errlen, "dns_servers: too long");
			return -1;
		}
		memcpy(t->resolver, v, strlen(v) + 1);
	}
	for (size_t i = 0; i < sizeof(num_keys) / sizeof(num_keys[0]); i++) {
		const char *v;
		if (lookup(st, cfg, num_keys[i].key, buf, sizeof(buf), &v) < 0) {
			snprintf(err, errlen, "%s: too long, or the store failed", num_keys[i].key);
			return -1;
		}
		unsigned *dst = (unsigned *)((char *)t + num_keys[i].off);
		unsigned x = num_keys[i].def;
		if (v && (strnum_uint(v, num_keys[i].max, &x) < 0 || x < num_keys[i].min)) {
			snprintf(err, errlen, "%s: a number from %u to %u", num_keys[i].key,
				 num_keys[i].min, num_keys[i].max);
			return -1;
		}
		*dst = x;
	}
	return 0;
}
