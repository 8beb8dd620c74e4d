/*
 * loftctl: the smarthost and the DNS records to publish.
 *
 *   smarthost set HOST [PORT] [--tls starttls|tls] [--user U] [--no-verify]
 *   smarthost preset NAME [--user U]      (password read from stdin)
 *   smarthost show | clear | test | presets
 *   dns DOMAIN
 */
#include <arpa/inet.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "config.h"
#include "dkim.h"
#include "dns.h"
#include "dnsrecs.h"
#include "evloop.h"
#include "loftctl.h"
#include "relay_presets.h"
#include "smtp_client.h"
#include "smtp_reply.h"
#include "store.h"
#include "store_outbound.h"
#include "store_settings.h"
#include "store_users.h"
#include "strnum.h"
#include "tls.h"

static const char *const sh_keys[] = {"smarthost.host",	 "smarthost.port",     "smarthost.tls",
				      "smarthost.user",	 "smarthost.password", "smarthost.preset",
				      "smarthost.verify"};

/* The password from standard input (one line), or "" when there is none
 * (a relay that takes mail from our address without AUTH). */
static void read_password(char *pw, size_t len)
{
	pw[0] = '\0';
	if (isatty(0))
		fprintf(stderr, "smarthost password (empty for none): ");
	if (!fgets(pw, (int)len, stdin))
		pw[0] = '\0';
	pw[strcspn(pw, "\r\n")] = '\0';
}

static int set(struct store *st, const char *k, const char *v)
{
	if (store_setting_set(st, k, v) < 0) {
		fprintf(stderr, "loftctl: %s: %s\n", k, store_errmsg(st));
		return -1;
	}
	return 0;
}

static int sh_set(int argc, char **argv, const struct relay_preset *pre)
{
	const char *host = pre ? pre->host : NULL, *user = pre ? pre->user : NULL;
	const char *tls = pre ? pre->tls : "starttls";
	char port[16] = "", pw[512];
	int verify = 1, i = 0;
	uint64_t p;
	struct store *st;

	if (pre)
		snprintf(port, sizeof(port), "%d", pre->port);
	if (!pre) {
		if (argc < 1)
			ctl_usage();
		host = argv[i++];
		if (i < argc && argv[i][0] != '-') {
			if (strnum_u64(argv[i], 65535, &p) < 0 || p == 0) {
				fprintf(stderr, "loftctl: bad port %s\n", argv[i]);
				return 1;
			}
			snprintf(port, sizeof(port), "%u", (unsigned)p);
			i++;
		}
	}
	for (; i < argc; i++) {
		if (strcmp(argv[i], "--tls") == 0 && i + 1 < argc) {
			tls = argv[++i];
			if (strcmp(tls, "starttls") != 0 && strcmp(tls, "tls") != 0) {
				fprintf(stderr, "loftctl: --tls is starttls or tls\n");
				return 1;
			}
		} else if (strcmp(argv[i], "--user") == 0 && i + 1 < argc) {
			user = argv[++i];
		} else if (strcmp(argv[i], "--no-verify") == 0) {
			verify = 0;
		} else {
			ctl_usage();
		}
	}
	if (!port[0])
		snprintf(port, sizeof(port), "%d", strcmp(tls, "tls") == 0 ? 465 : 587);
	read_password(pw, sizeof(pw));
	st = ctl_open_store();
	int rc = 0;
	if (store_tx_begin(st) < 0)
		rc = -1;
	rc |= set(st, "smarthost.host", host);
	rc |= set(st, "smarthost.port", port);
	rc |= set(st, "smarthost.tls", tls);
	rc |= set(st, "smarthost.user", user ? user : "");
	rc |= set(st, "smarthost.password", pw);
	rc |= set(st, "smarthost.preset", pre ? pre->name : "");
	rc |= set(st, "smarthost.verify", verify ? "1" : "0");
	explicit_bzero(pw, sizeof(pw));
	if (rc == 0 && store_tx_commit(st) < 0)
		rc = -1;
	if (rc)
		store_tx_rollback(st);
	else {
		printf("smarthost %s:%s (%s%s)%s\n", host, port, tls, verify ? "" : ", UNVERIFIED",
		       pre ? "" : "");
		if (!verify)
			fprintf(stderr, "loftctl: warning: the smarthost's certificate will not be "
					"checked (smarthost.verify=0)\n");
		store_event_add(st, "admin", "smarthost set");
	}
	store_close(st);
	return rc ? 1 : 0;
}

static int sh_show(void)
{
	struct store *st = ctl_open_store();
	char v[512];

	for (size_t i = 0; i < sizeof(sh_keys) / sizeof(sh_keys[0]); i++) {
		int r = store_setting_get(st, sh_keys[i], v, sizeof(v));
		if (r == STORE_NOTFOUND)
			v[0] = '\0';
		if (strcmp(sh_keys[i], "smarthost.password") == 0 && v[0])
			snprintf(v, sizeof(v), "********");
		printf("%-20s %s\n", sh_keys[i], v);
	}
	store_close(st);
	return 0;
}

static int sh_clear(void)
{
	struct store *st = ctl_open_store();

	for (size_t i = 0; i < sizeof(sh_keys) / sizeof(sh_keys[0]); i++)
		store_setting_del(st, sh_keys[i]);
	store_event_add(st, "admin", "smarthost cleared");
	store_close(st);
	printf("smarthost cleared\n");
	return 0;
}

/* --- smarthost test: connect, TLS, AUTH, QUIT; no message --------------- */

struct shtest {
	struct evloop *ev;
	struct dns *dns;
	struct smtpc_config cfg;
	struct sockaddr_storage addrs[16];
	socklen_t lens[16];
	size_t n, next;
	int port;
	int ok;
	int queries;
};

static void sht_try(struct shtest *t);

static void sht_ready(struct smtp_client *cl, void *arg)
{
	struct shtest *t = arg;

	t->ok = 1;
	printf("ok: %s answered, TLS %s (certificate %s), %s\n", smtp_client_peer(cl),
	       smtp_client_tls_version(cl)[0] ? smtp_client_tls_version(cl) : "none",
	       smtp_client_tls_verified(cl) ? "verified" : "NOT verified",
	       t->cfg.user ? "AUTH accepted" : "no AUTH configured");
	smtp_client_quit(cl);
}

static void sht_closed(struct smtp_client *cl, void *arg, const struct smtpc_status *why)
{
	struct shtest *t = arg;

	if (!t->ok) {
		printf("failed: %s: %s\n", smtp_client_peer(cl), why->text);
		if (t->next < t->n) {
			sht_try(t);
			return;
		}
	}
	ev_stop(t->ev);
}

static const struct smtpc_cbs sht_cbs = {.ready = sht_ready, .closed = sht_closed};

static void sht_try(struct shtest *t)
{
	size_t i = t->next++;

	smtp_client_connect(t->ev, (struct sockaddr *)&t->addrs[i], t->lens[i], &t->cfg, &sht_cbs,
			    t);
}

static void sht_addr(void *arg, enum dns_status s, const struct dns_addr *a, size_t n)
{
	struct shtest *t = arg;

	for (size_t i = 0; s == DNS_OK && i < n && t->n < 16; i++) {
		memset(&t->addrs[t->n], 0, sizeof(t->addrs[0]));
		if (a[i].family == AF_INET) {
			struct sockaddr_in *s4 = (struct sockaddr_in *)&t->addrs[t->n];
			s4->sin_family = AF_INET;
			s4->sin_addr = a[i].a.v4;
			s4->sin_port = htons((uint16_t)t->port);
			t->lens[t->n++] = sizeof(*s4);
		} else {
			struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&t->addrs[t->n];
			s6->sin6_family = AF_INET6;
			s6->sin6_addr = a[i].a.v6;
			s6->sin6_port = htons((uint16_t)t->port);
			t->lens[t->n++] = sizeof(*s6);
		}
	}
	if (--t->queries > 0)
		return;
	if (t->n == 0) {
		printf("failed: %s has no address\n", t->cfg.servername);
		ev_stop(t->ev);
		return;
	}
	sht_try(t);
}

static int sh_test(void)
{
	struct store *st = ctl_open_store();
	struct config *cfg = config_new();
	char path[4200], err[512], host[256] = "", port[16] = "", tls[16] = "starttls";
	char user[256] = "", pw[512] = "", verify[8] = "1", helo[256];
	struct shtest t;
	uint64_t p = 0;

	memset(&t, 0, sizeof(t));
	/* a server that hangs up while we write is an answer, not a crash */
	signal(SIGPIPE, SIG_IGN);
	store_setting_get(st, "smarthost.host", host, sizeof(host));
	store_setting_get(st, "smarthost.port", port, sizeof(port));
	store_setting_get(st, "smarthost.tls", tls, sizeof(tls));
	store_setting_get(st, "smarthost.user", user, sizeof(user));
	store_setting_get(st, "smarthost.password", pw, sizeof(pw));
	store_setting_get(st, "smarthost.verify", verify, sizeof(verify));
	store_close(st);
	if (!host[0]) {
		fprintf(stderr, "loftctl: no smarthost set (loftctl smarthost set ...)\n");
		return 1;
	}
	snprintf(path, sizeof(path), "%s/loft.conf", ctl_datadir());
	if (access(path, F_OK) == 0 && config_load(cfg, path, err, sizeof(err)) < 0) {
		fprintf(stderr, "loftctl: %s\n", err);
		return 1;
	}
	snprintf(helo, sizeof(helo), "%s", config_get(cfg, "hostname", "localhost"));
	t.port = port[0] && strnum_u64(port, 65535, &p) == 0 ? (int)p
		 : strcmp(tls, "tls") == 0		     ? 465
							     : 587;
	t.ev = ev_new();
	t.dns = dns_new_config(t.ev, cfg, err, sizeof(err));
	if (!t.ev || !t.dns) {
		fprintf(stderr, "loftctl: %s\n", err);
		return 1;
	}
	int v = strcmp(verify, "0") != 0;
	t.cfg.helo = helo;
	t.cfg.servername = host;
	t.cfg.tls_mode = strcmp(tls, "tls") == 0 ? SMTPC_TLS_IMPLICIT : SMTPC_TLS_STARTTLS;
	t.cfg.tls = tls_client_new(config_get(cfg, "queue.ca_file", NULL),
				   v ? TLS_VERIFY_REQUIRED : TLS_VERIFY_NONE, err, sizeof(err));
	if (!t.cfg.tls) {
		fprintf(stderr, "loftctl: TLS: %s\n", err);
		return 1;
	}
	t.cfg.user = user[0] ? user : NULL;
	t.cfg.password = pw;
	t.cfg.timeout_ms = 30000;
	t.cfg.connect_timeout_ms = 15000;
	printf("testing %s port %d (%s%s)\n", host, t.port, tls,
	       v ? "" : ", certificate not checked");
	struct in6_addr a6;
	struct in_addr a4;
	if (inet_pton(AF_INET, host, &a4) == 1 || inet_pton(AF_INET6, host, &a6) == 1) {
		struct dns_addr da;
		memset(&da, 0, sizeof(da));
		da.family = inet_pton(AF_INET, host, &a4) == 1 ? AF_INET : AF_INET6;
		da.a.v4 = a4;
		if (da.family == AF_INET6)
			da.a.v6 = a6;
		t.queries = 1;
		sht_addr(&t, DNS_OK, &da, 1);
	} else {
		t.queries = 2;
		dns_query_a(t.dns, host, sht_addr, &t);
		dns_query_aaaa(t.dns, host, sht_addr, &t);
	}
	ev_run(t.ev);
	explicit_bzero(pw, sizeof(pw));
	dns_free(t.dns);
	tls_ctx_free(t.cfg.tls);
	ev_free(t.ev);
	config_free(cfg);
	return t.ok ? 0 : 1;
}

static int cmd_smarthost(int argc, char **argv)
{
	if (strcmp(argv[0], "set") == 0)
		return sh_set(argc - 1, argv + 1, NULL);
	if (strcmp(argv[0], "preset") == 0 && argc >= 2) {
		const struct relay_preset *p = relay_preset_find(argv[1]);
		if (!p) {
			fprintf(stderr, "loftctl: no preset %s (loftctl smarthost presets)\n",
				argv[1]);
			return 1;
		}
		return sh_set(argc - 2, argv + 2, p);
	}
	if (argc == 1 && strcmp(argv[0], "show") == 0)
		return sh_show();
	if (argc == 1 && strcmp(argv[0], "clear") == 0)
		return sh_clear();
	if (argc == 1 && strcmp(argv[0], "test") == 0)
		return sh_test();
	if (argc == 1 && strcmp(argv[0], "presets") == 0) {
		for (const struct relay_preset *p = relay_presets; p->name; p++)
			printf("%-18s %-28s %s:%d %s%s%s  SPF %s\n", p->name, p->label, p->host,
			       p->port, p->tls, p->user ? " user " : "", p->user ? p->user : "",
			       p->spf);
		return 0;
	}
	ctl_usage();
}

/* --- dns DOMAIN ----------------------------------------------------------- */

/* The host the records name: the wizard's mail.hostname (what the web
 * admin shows too), else loft.conf's hostname, else mail.DOMAIN. */
static void dns_host(struct config *cfg, struct store *st, const char *dom, char *out, size_t n)
{
	const char *hn = config_get(cfg, "hostname", NULL);

	if (store_setting_get(st, "mail.hostname", out, n) == 0 && out[0])
		return;
	if (hn && hn[0])
		snprintf(out, n, "%s", hn);
	else
		snprintf(out, n, "mail.%s", dom);
}

/* One record in zone-file syntax; a TXT string holds at most 255 bytes,
 * so a long value (the DKIM key) goes in pieces. */
static void zone_line(const struct dnsrec *x)
{
	size_t l = strlen(x->value);

	if (x->placeholder) {
		printf("; %s.\t%s\t<%s>   (and AAAA for IPv6)\n", x->name, x->type, x->value);
		return;
	}
	if (strcmp(x->type, "TXT") != 0) {
		printf("%s.\t%s%s\t%s\n", x->name, strchr(x->name, '_') ? "" : "\t", x->type,
		       x->value);
		return;
	}
	if (l <= 200) {
		printf("%s.\t%s%s\t\"%s\"\n", x->name, strchr(x->name, '_') ? "" : "\t", x->type,
		       x->value);
		return;
	}
	printf("%s.\t%s\t(", x->name, x->type);
	for (size_t i = 0; i < l; i += 200)
		printf("\n\t\"%.*s\"", (int)(l - i < 200 ? l - i : 200), x->value + i);
	printf(" )\n");
}

static int cmd_dns(int argc, char **argv)
{
	struct store *st;
	struct config *cfg = config_new();
	struct dnsrecs d;
	char path[4200], err[512], host[256];
	const char *dom = argv[0];

	(void)argc;
	snprintf(path, sizeof(path), "%s/loft.conf", ctl_datadir());
	if (access(path, F_OK) == 0 && config_load(cfg, path, err, sizeof(err)) < 0) {
		fprintf(stderr, "loftctl: %s\n", err);
		config_free(cfg);
		return 1;
	}
	st = ctl_open_store();
	if (store_domain_is_local(st, dom) != 1) {
		fprintf(stderr, "loftctl: %s is not a local domain (loftctl domain add %s)\n", dom,
			dom);
		store_close(st);
		config_free(cfg);
		return 1;
	}
	dns_host(cfg, st, dom, host, sizeof(host));
	dnsrecs_compute(st, dom, host, &d);
	if (!d.dkim_pub) {
		fprintf(stderr, "loftctl: DKIM key of %s: %s\n", dom, d.dkim_err);
		dnsrecs_free(&d);
		store_close(st);
		config_free(cfg);
		return 1;
	}
	printf("; DNS records to publish for %s (zone file syntax)%s\n", dom,
	       d.dkim_made ? "; a new DKIM key was made" : "");
	for (size_t i = 0; i < d.n; i++) {
		zone_line(&d.r[i]);
		if (strcmp(d.r[i].type, "MX") == 0 && strcmp(d.r[i].want, host) != 0)
			printf("; the MX is the inbound gateway (inbound.gateway_mx)\n");
		if (strncmp(d.r[i].value, "v=spf1", 6) == 0 && d.relay_unknown[0])
			printf("; the smarthost %s is not a known preset: add the SPF include its "
			       "provider documents\n",
			       d.relay_unknown);
	}
	dnsrecs_free(&d);
	store_close(st);
	config_free(cfg);
	return 0;
}

const struct ctl_cmd ctl_cmd_smarthost = {
    "smarthost",
    "  smarthost set HOST [PORT] [--tls starttls|tls] [--user U] [--no-verify]\n"
    "                                password from stdin (empty: no AUTH)\n"
    "  smarthost preset NAME [--user U]  a known relay (smarthost presets)\n"
    "  smarthost show|clear|test|presets\n",
    1, -1, cmd_smarthost};

const struct ctl_cmd ctl_cmd_dns = {
    "dns",
    "  dns DOMAIN                    the DNS records to publish (MX, SPF, DKIM, DMARC, SRV)\n", 1,
    1, cmd_dns};
