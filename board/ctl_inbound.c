/*
 * loftctl inbound gateway: the inbound relay or filtering gateway that
 * holds the public MX when the ISP blocks port 25 in (gateway.h), in the
 * manner of postconf/doveadm: set what is given, keep the rest.
 *   inbound gateway set MX-HOST [--port N] [--from ADDR,...] [--user ACCOUNT]
 *   inbound gateway show
 *   inbound gateway clear
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "gateway.h"
#include "loftctl.h"
#include "store.h"
#include "store_users.h"
#include "strnum.h"

/* loft.conf, whose smtpd.gateway_* keys win over the store's.  Returns
 * the config (the caller frees it) or NULL with a message printed. */
static struct config *load_conf(void)
{
	char path[4200], err[512];
	struct config *cfg = config_new();

	snprintf(path, sizeof(path), "%s/loft.conf", ctl_datadir());
	if (access(path, F_OK) == 0 && config_load(cfg, path, err, sizeof(err)) < 0) {
		fprintf(stderr, "loftctl: %s\n", err);
		config_free(cfg);
		return NULL;
	}
	return cfg;
}

static int load(struct store *st, struct config *cfg, struct gateway_conf *g)
{
	char err[512];

	if (gateway_conf_load(g, st, cfg, err, sizeof(err)) < 0) {
		fprintf(stderr, "loftctl: %s\n", err);
		return -1;
	}
	return 0;
}

static void show(const struct gateway_conf *g)
{
	if (!g->mx[0] && !g->port) {
		printf("Inbound gateway: none (this box is the MX)\n");
		return;
	}
	printf("Gateway MX:   %s\n", g->mx[0] ? g->mx : "(none: this box is the MX)");
	if (g->port)
		printf("Gateway port: %u%s\n", g->port,
		       g->port_in_conf ? " (smtpd.gateway_port in loft.conf)" : "");
	else
		printf("Gateway port: off\n");
	printf("Gateway from: %s%s\n", g->from[0] ? g->from : "(none)",
	       g->from_in_conf ? " (smtpd.gateway_from in loft.conf)" : "");
	if (g->user[0])
		printf("Gateway AUTH: %s (from other addresses, after STARTTLS)\n", g->user);
	if (g->mx[0])
		printf("DNS:          MX %s; SPF names this box (a:), not the gateway "
		       "(loftctl dns DOMAIN)\n",
		       g->mx);
	const char *why = gateway_conf_check(g);
	if (why)
		printf("Problem:      %s\n", why);
}

static int cmd_set(struct store *st, struct config *cfg, int argc, char **argv)
{
	struct gateway_conf g, old;
	const char *why;

	if (load(st, cfg, &g) < 0)
		return 1;
	old = g;
	if (argc < 1 || argv[0][0] == '-')
		ctl_usage();
	snprintf(g.mx, sizeof(g.mx), "%s", argv[0]);
	for (int i = 1; i < argc; i++) {
		const char *opt = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
		if (!val)
			ctl_usage();
		i++;
		if (strcmp(opt, "--port") == 0) {
			if (strnum_uint(val, 65535, &g.port) < 0) {
				fprintf(stderr, "loftctl: --port must be a port number (0: off)\n");
				return 1;
			}
			g.port_in_conf = 0;
		} else if (strcmp(opt, "--from") == 0) {
			if (strlen(val) >= sizeof(g.from)) {
				fprintf(stderr, "loftctl: --from is too long\n");
				return 1;
			}
			snprintf(g.from, sizeof(g.from), "%s", val);
			g.from_in_conf = 0;
		} else if (strcmp(opt, "--user") == 0) {
			/* "" turns AUTH off; else a Loft account that exists */
			int64_t uid;
			if (strlen(val) >= sizeof(g.user)) {
				fprintf(stderr, "loftctl: --user is too long\n");
				return 1;
			}
			if (val[0] && store_user_find(st, val, &uid) != 0) {
				fprintf(stderr,
					"loftctl: %s is not a Loft user (loftctl user add %s)\n",
					val, val);
				return 1;
			}
			snprintf(g.user, sizeof(g.user), "%s", val);
		} else {
			ctl_usage();
		}
	}
	why = gateway_conf_check(&g);
	if (why) {
		fprintf(stderr, "loftctl: %s\n", why);
		return 1;
	}
	if (gateway_conf_save(st, &g) < 0) {
		fprintf(stderr, "loftctl: %s\n", store_errmsg(st));
		return 1;
	}
	/* loft.conf still decides what it names: say so rather than let the
	 * person wonder why nothing changed */
	if (cfg && (config_get(cfg, "smtpd.gateway_port", NULL) ||
		    config_get(cfg, "smtpd.gateway_from", NULL)))
		printf("note: loft.conf sets smtpd.gateway_port/smtpd.gateway_from; those win\n");
	struct gateway_conf now;
	if (load(st, cfg, &now) < 0)
		return 1;
	show(&now);
	if (now.port != old.port)
		printf("The gateway port %s when loftd restarts (systemctl restart loft).\n",
		       now.port ? "opens" : "closes");
	return 0;
}

static int cmd_inbound(int argc, char **argv)
{
	struct config *cfg;
	struct store *st;
	struct gateway_conf g;
	int rc = 0;

	if (strcmp(argv[0], "gateway") != 0 || argc < 2)
		ctl_usage();
	if (strcmp(argv[1], "set") != 0 && argc != 2)
		ctl_usage();
	if (strcmp(argv[1], "set") != 0 && strcmp(argv[1], "show") != 0 &&
	    strcmp(argv[1], "clear") != 0)
		ctl_usage();
	cfg = load_conf();
	if (!cfg)
		return 1;
	st = ctl_open_store();
	if (strcmp(argv[1], "set") == 0) {
		rc = cmd_set(st, cfg, argc - 2, argv + 2);
	} else if (strcmp(argv[1], "show") == 0) {
		rc = load(st, cfg, &g) < 0;
		if (!rc)
			show(&g);
	} else {
		int had_port = 0;
		if (load(st, cfg, &g) < 0) {
			rc = 1;
		} else {
			had_port = g.port && !g.port_in_conf;
			memset(&g, 0, sizeof(g));
			if (gateway_conf_save(st, &g) < 0) {
				fprintf(stderr, "loftctl: %s\n", store_errmsg(st));
				rc = 1;
			} else {
				printf("Inbound gateway cleared: this box is the MX again.\n");
				if (had_port)
					printf("The gateway port closes when loftd restarts "
					       "(systemctl restart loft).\n");
			}
		}
	}
	store_close(st);
	config_free(cfg);
	return rc;
}

const struct ctl_cmd ctl_cmd_inbound = {
    "inbound",
    "  inbound gateway set MX-HOST [--port N] [--from ADDR,...] [--user ACCOUNT]\n"
    "                                an inbound gateway holds the public MX and\n"
    "                                forwards to port N from ADDR (IPs/CIDRs), or\n"
    "                                from anywhere after AUTH as ACCOUNT (TLS)\n"
    "  inbound gateway show|clear\n",
    2, -1, cmd_inbound};
