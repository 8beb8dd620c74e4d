/*
 * board/netwatch/targets.c: where each probe goes -- the store's setting
 * first, then loft.conf, then the real services; under --dev (offline)
 * nothing off the machine unless set; bad numbers refused with the key.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../board/netwatch/netwatch.h"
#include "config.h"
#include "store.h"
#include "store_settings.h"
#include "tap.h"

static const char *str_(const char *p)
{
	return p;
}
#define is_s(a, b, what) is_str(str_(a), b, what)

int main(void)
{
	char dir[] = "/tmp/test_nw_targets.XXXXXX", path[300], err[256];
	struct store *st;
	struct config *cfg = config_new();
	struct nw_targets t;
	static const char conf[] = "dns_servers = 127.0.0.1:5353\n"
				   "netwatch.zen_zone = zen.test\n"
				   "netwatch.port25_target = 127.0.0.1:2525\n"
				   "netwatch.interval = 60\n";

	if (!mkdtemp(dir))
		return 1;
	snprintf(path, sizeof(path), "%s/loft.db", dir);
	if (store_open(path, &st, err, sizeof(err)) < 0 ||
	    config_parse(cfg, conf, sizeof(conf) - 1, err, sizeof(err)) < 0) {
		printf("Bail out! %s\n", err);
		return 1;
	}

	/* defaults: the real services */
	is_int(nw_targets_load(&t, st, NULL, 0, err, sizeof(err)), 0, "defaults load");
	is_s(t.opendns_name, "myip.opendns.com", "OpenDNS name");
	ok(strstr(t.opendns_servers, "208.67.222.222") != NULL, "OpenDNS resolvers");
	is_s(t.google_name, "o-o.myaddr.l.google.com", "Google name");
	is_s(t.cloudflare_name, "whoami.cloudflare", "Cloudflare name");
	is_s(t.zen_zone, "zen.spamhaus.org", "ZEN zone");
	is_s(t.router, "auto", "router auto");
	is_s(t.resolver, "", "resolver: resolv.conf");
	is_int(t.interval_s, 1800, "full check every 30 min");
	is_int(t.address_interval_s, 300, "address check every 5 min");
	is_int(t.port25_interval_s, 86400, "port 25 daily");
	is_s(t.ddns_server, "", "dynamic DNS off");
	is_s(t.map_ports, "25,465,587,993", "mail ports mapped");

	/* --dev: nothing leaves the machine unless set */
	is_int(nw_targets_load(&t, st, NULL, 1, err, sizeof(err)), 0, "offline load");
	is_s(t.opendns_servers, "", "offline: no OpenDNS");
	is_s(t.google_servers, "", "offline: no Google");
	is_s(t.cloudflare_servers, "", "offline: no Cloudflare");
	is_s(t.port25_target, "", "offline: no port 25 probe");
	is_s(t.router, "", "offline: no router");
	is_s(t.upnp, "", "offline: no UPnP");
	is_s(t.opendns_name, "myip.opendns.com", "offline: names kept");

	/* loft.conf over the defaults; dns_servers as the resolver */
	is_int(nw_targets_load(&t, st, cfg, 1, err, sizeof(err)), 0, "conf load");
	is_s(t.zen_zone, "zen.test", "conf zone");
	is_s(t.port25_target, "127.0.0.1:2525", "conf port 25 target, offline or not");
	is_s(t.resolver, "127.0.0.1:5353", "resolver from dns_servers");
	is_int(t.interval_s, 60, "conf interval");

	/* the store over loft.conf */
	store_setting_set(st, "netwatch.zen_zone", "zen.store.test");
	store_setting_set(st, "netwatch.resolver", "127.0.0.1:5454");
	is_int(nw_targets_load(&t, st, cfg, 0, err, sizeof(err)), 0, "store load");
	is_s(t.zen_zone, "zen.store.test", "store wins over conf");
	is_s(t.resolver, "127.0.0.1:5454", "netwatch.resolver wins over dns_servers");

	/* bad values refused, naming the key */
	store_setting_set(st, "netwatch.interval", "0");
	is_int(nw_targets_load(&t, st, cfg, 0, err, sizeof(err)), -1, "interval 0 refused");
	ok(strstr(err, "netwatch.interval") != NULL, "the key named");
	store_setting_set(st, "netwatch.interval", "12x");
	is_int(nw_targets_load(&t, st, cfg, 0, err, sizeof(err)), -1, "junk number refused");
	store_setting_set(st, "netwatch.interval", "99999999999999999999");
	is_int(nw_targets_load(&t, st, cfg, 0, err, sizeof(err)), -1, "overflow refused");
	store_setting_del(st, "netwatch.interval");
	char big[400];
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	store_setting_set(st, "netwatch.router", big);
	is_int(nw_targets_load(&t, st, cfg, 0, err, sizeof(err)), -1, "over-long value refused");
	ok(strstr(err, "netwatch.router") != NULL, "the key named");

	store_close(st);
	config_free(cfg);
	snprintf(path, sizeof(path), "rm -rf '%s'", dir);
	if (system(path) != 0)
		return 1;
	return tap_done();
}
