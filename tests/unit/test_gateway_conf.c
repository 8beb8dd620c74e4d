/*
 * lib/service/gateway.c: the inbound gateway's settings -- the store's
 * inbound.* keys, loft.conf's smtpd.gateway_port/from winning; the checks
 * (host name, the store's port bound, a list or an account with a port);
 * saving never copies loft.conf's values into the store.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "gateway.h"
#include "net.h"
#include "store.h"
#include "store_settings.h"
#include "tap.h"

static int has(struct store *st, const char *key, const char *want)
{
	char v[1100];
	int r = store_setting_get(st, key, v, sizeof(v));

	if (!want)
		return r == STORE_NOTFOUND;
	return r == 0 && strcmp(v, want) == 0;
}

int main(void)
{
	char dir[] = "/tmp/test_gw_conf.XXXXXX", path[300], err[256];
	struct store *st;
	struct config *cfg = config_new();
	struct gateway_conf g;
	static const char conf[] = "smtpd.gateway_port = 2526\n"
				   "smtpd.gateway_from = 192.0.2.10\n";

	if (!mkdtemp(dir))
		return 1;
	snprintf(path, sizeof(path), "%s/loft.db", dir);
	if (store_open(path, &st, err, sizeof(err)) < 0 ||
	    config_parse(cfg, conf, sizeof(conf) - 1, err, sizeof(err)) < 0) {
		printf("Bail out! %s\n", err);
		return 1;
	}

	/* host names */
	ok(net_hostname_ok("mx.gateway.example"), "a host name");
	ok(net_hostname_ok("a-b.c9.example"), "hyphen and digits");
	ok(!net_hostname_ok("localhost"), "one label");
	ok(!net_hostname_ok("mx.example."), "trailing dot");
	ok(!net_hostname_ok("-mx.example") && !net_hostname_ok("mx-.example"), "edge hyphens");
	ok(!net_hostname_ok("mx..example") && !net_hostname_ok(""), "empty label, empty");
	ok(!net_hostname_ok("mx.exa mple") && !net_hostname_ok("<b>.example"), "odd bytes");

	/* nothing set: off */
	is_int(gateway_conf_load(&g, st, NULL, err, sizeof(err)), 0, "empty store loads");
	ok(!g.mx[0] && !g.port && !g.from[0] && !g.user[0], "all off");
	ok(gateway_conf_check(&g) == NULL, "off is valid");

	/* the checks */
	memset(&g, 0, sizeof(g));
	snprintf(g.mx, sizeof(g.mx), "mx.gateway.example");
	ok(gateway_conf_check(&g) == NULL, "an MX alone is valid");
	g.port = 2526;
	ok(gateway_conf_check(&g) != NULL, "a port without addresses or account");
	snprintf(g.user, sizeof(g.user), "gw@example.org");
	ok(gateway_conf_check(&g) == NULL, "a port with an account");
	snprintf(g.from, sizeof(g.from), "10.0.0.0/33");
	ok(gateway_conf_check(&g) != NULL, "a bad CIDR");
	snprintf(g.from, sizeof(g.from), "192.0.2.10, 2001:db8::/48");
	ok(gateway_conf_check(&g) == NULL, "v4 and v6");
	g.port = 25;
	ok(gateway_conf_check(&g) != NULL, "the store may not name port 25");
	g.port_in_conf = 1;
	ok(gateway_conf_check(&g) == NULL, "loft.conf may");
	g.port_in_conf = 0;
	g.port = 2526;
	snprintf(g.user, sizeof(g.user), "no-at-sign");
	ok(gateway_conf_check(&g) != NULL, "an account is an address");
	snprintf(g.mx, sizeof(g.mx), "not a host");
	snprintf(g.user, sizeof(g.user), "gw@example.org");
	ok(gateway_conf_check(&g) != NULL, "a bad MX");

	/* saved and read back; empty values delete their keys */
	snprintf(g.mx, sizeof(g.mx), "mx.gateway.example");
	is_int(gateway_conf_save(st, &g), 0, "saved");
	ok(has(st, "inbound.gateway_mx", "mx.gateway.example") &&
	       has(st, "inbound.gateway_port", "2526") &&
	       has(st, "inbound.gateway_from", "192.0.2.10, 2001:db8::/48") &&
	       has(st, "inbound.gateway_user", "gw@example.org"),
	   "four keys");
	is_int(gateway_conf_load(&g, st, NULL, err, sizeof(err)), 0, "loads");
	ok(g.port == 2526 && strcmp(g.user, "gw@example.org") == 0 && !g.port_in_conf,
	   "from the store");

	/* loft.conf wins, and saving leaves the store's own values alone */
	is_int(gateway_conf_load(&g, st, cfg, err, sizeof(err)), 0, "loads with loft.conf");
	ok(g.port == 2526 && strcmp(g.from, "192.0.2.10") == 0 && g.port_in_conf && g.from_in_conf,
	   "loft.conf's port and list");
	g.user[0] = '\0';
	is_int(gateway_conf_save(st, &g), 0, "saved with loft.conf's values");
	ok(has(st, "inbound.gateway_from", "192.0.2.10, 2001:db8::/48"),
	   "the store's list not overwritten by loft.conf's");
	ok(has(st, "inbound.gateway_user", NULL), "the account removed");

	/* bad numbers name their key */
	store_setting_set(st, "inbound.gateway_port", "25x");
	is_int(gateway_conf_load(&g, st, NULL, err, sizeof(err)), -1, "bad store port");
	ok(strstr(err, "inbound.gateway_port") != NULL, "named");
	config_set(cfg, "smtpd.gateway_port", "70000");
	is_int(gateway_conf_load(&g, st, cfg, err, sizeof(err)), -1, "bad loft.conf port");
	ok(strstr(err, "smtpd.gateway_port") != NULL, "named");

	/* clearing */
	memset(&g, 0, sizeof(g));
	is_int(gateway_conf_save(st, &g), 0, "cleared");
	ok(has(st, "inbound.gateway_mx", NULL) && has(st, "inbound.gateway_port", NULL) &&
	       has(st, "inbound.gateway_from", NULL),
	   "no keys left");

	store_close(st);
	config_free(cfg);
	char cmd[400];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd) != 0)
		return 1;
	return tap_done();
}
