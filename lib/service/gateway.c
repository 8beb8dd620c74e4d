/*
 * The inbound gateway's settings: see gateway.h.  One reader for loftd,
 * loft-smtpd, loftctl and loft-admin, so the four never disagree about
 * which value counts.
 */
#include <stdio.h>
#include <string.h>

#include "config.h"
#include "gateway.h"
#include "net.h"
#include "store.h"
#include "store_settings.h"
#include "strnum.h"

static int get(struct store *st, const char *key, char *buf, size_t n, char *err, size_t errlen)
{
	int r = store_setting_get(st, key, buf, n);

	if (r == STORE_NOTFOUND) {
		buf[0] = '\0';
		return 0;
	}
	if (r < 0) {
		snprintf(err, errlen, "%s: %s", key, store_errmsg(st));
		return -1;
	}
	return 0;
}

int gateway_conf_load(struct gateway_conf *g, struct store *st, const struct config *cfg, char *err,
		      size_t errlen)
{
	char port[16] = "";
	const char *v;

	memset(g, 0, sizeof(*g));
	if (st && (get(st, "inbound.gateway_mx", g->mx, sizeof(g->mx), err, errlen) < 0 ||
		   get(st, "inbound.gateway_port", port, sizeof(port), err, errlen) < 0 ||
		   get(st, "inbound.gateway_from", g->from, sizeof(g->from), err, errlen) < 0 ||
		   get(st, "inbound.gateway_user", g->user, sizeof(g->user), err, errlen) < 0))
		return -1;
	if (cfg && (v = config_get(cfg, "smtpd.gateway_port", NULL)) != NULL) {
		if (strlen(v) >= sizeof(port)) {
			snprintf(err, errlen, "smtpd.gateway_port: not a port number");
			return -1;
		}
		snprintf(port, sizeof(port), "%s", v);
		g->port_in_conf = 1;
	}
	if (port[0] && strnum_uint(port, 65535, &g->port) < 0) {
		snprintf(err, errlen, "%s: not a port number",
			 g->port_in_conf ? "smtpd.gateway_port" : "inbound.gateway_port");
		return -1;
	}
	if (cfg && (v = config_get(cfg, "smtpd.gateway_from", NULL)) != NULL) {
		if (strlen(v) >= sizeof(g->from)) {
			snprintf(err, errlen, "smtpd.gateway_from: too long");
			return -1;
		}
		snprintf(g->from, sizeof(g->from), "%s", v);
		g->from_in_conf = 1;
	}
	return 0;
}

const char *gateway_conf_check(const struct gateway_conf *g)
{
	if (g->mx[0] && !net_hostname_ok(g->mx))
		return "The gateway's MX must be a host name like mx.gateway.example.";
	if (g->port && !g->port_in_conf && g->port < GATEWAY_PORT_MIN)
		return "The gateway port must be a number from 1024 to 65535.";
	if (g->port && !g->from[0] && !g->user[0])
		return "The gateway port needs the gateway's addresses (like 192.0.2.10, "
		       "2001:db8::/48) or a gateway account.";
	if (g->from[0] && net_ip_in_nets("127.0.0.1", g->from) < 0)
		return "The gateway's addresses must be IP addresses or CIDR blocks like "
		       "192.0.2.10, 2001:db8::/48.";
	if (g->user[0] && (strlen(g->user) > 254 || !strchr(g->user, '@')))
		return "The gateway account must be a Loft user like gateway@example.org.";
	return NULL;
}

static int put(struct store *st, const char *key, const char *v)
{
	if (v[0])
		return store_setting_set(st, key, v);
	return store_setting_del(st, key) == -1 ? -1 : 0;
}

int gateway_conf_save(struct store *st, const struct gateway_conf *g)
{
	char port[16] = "";

	if (g->port)
		snprintf(port, sizeof(port), "%u", g->port);
	if (store_tx_begin(st) < 0)
		return -1;
	/* what loft.conf decides is its value, not the store's: left alone */
	if (put(st, "inbound.gateway_mx", g->mx) < 0 ||
	    (!g->port_in_conf && put(st, "inbound.gateway_port", port) < 0) ||
	    (!g->from_in_conf && put(st, "inbound.gateway_from", g->from) < 0) ||
	    put(st, "inbound.gateway_user", g->user) < 0 || store_tx_commit(st) < 0) {
		store_tx_rollback(st);
		return -1;
	}
	return 0;
}
