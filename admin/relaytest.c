/*
 * The relay connection test; see relaytest.h.  The same steps as
 * `loftctl smarthost test`, on loft-admin's loop and with the result for
 * a page instead of stdout.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "daemon.h"
#include "dns.h"
#include "http.h"
#include "log.h"
#include "relaytest.h"
#include "smtp_client.h"
#include "store_settings.h"
#include "strnum.h"
#include "tls.h"

#define MAX_ADDRS 8

struct rtest {
	struct admin *a;
	struct req *q;
	struct smtpc_config cfg;
	char host[256], user[256], pw[512];
	struct sockaddr_storage addrs[MAX_ADDRS];
	socklen_t lens[MAX_ADDRS];
	size_t n, next;
	int port, queries, ok;
	int in_start; /* finished before admin_relaytest_start returned: no resume */
	char last[1024];
};

static struct dns *resolver;

static void finish(struct rtest *t, const char *msg)
{
	struct req *q = t->q;
	int resume = !t->in_start;

	snprintf(q->relay_msg, sizeof(q->relay_msg), "%s", msg);
	q->relay_ok = t->ok;
	q->relay_state = 2;
	log_info(NULL, "event=relay-test host=%s ok=%d", t->host, t->ok);
	explicit_bzero(t->pw, sizeof(t->pw));
	tls_ctx_free(t->cfg.tls);
	free(t);
	if (resume)
		admin_http_resume(q);
}

static void try_next(struct rtest *t);

static void on_ready(struct smtp_client *cl, void *arg)
{
	struct rtest *t = arg;

	t->ok = 1;
	snprintf(t->last, sizeof(t->last), "Connected to %s (%s): TLS %s, certificate %s, %s.",
		 t->host, smtp_client_peer(cl),
		 smtp_client_tls_version(cl)[0] ? smtp_client_tls_version(cl) : "none",
		 smtp_client_tls_verified(cl) ? "verified" : "not verified",
		 t->cfg.user ? "login accepted" : "no login set");
	smtp_client_quit(cl);
}

static void on_closed(struct smtp_client *cl, void *arg, const struct smtpc_status *why)
{
	struct rtest *t = arg;

	if (t->ok) {
		finish(t, t->last);
		return;
	}
	snprintf(t->last, sizeof(t->last), "%s (%s): %s", t->host, smtp_client_peer(cl), why->text);
	if (t->next < t->n) {
		try_next(t);
		return;
	}
	finish(t, t->last);
}

static const struct smtpc_cbs cbs = {.ready = on_ready, .closed = on_closed};

static void try_next(struct rtest *t)
{
	size_t i = t->next++;

	smtp_client_connect(t->a->ev, (struct sockaddr *)&t->addrs[i], t->lens[i], &t->cfg, &cbs,
			    t);
}

static void add_addr(struct rtest *t, const struct dns_addr *a)
{
	if (t->n == MAX_ADDRS)
		return;
	memset(&t->addrs[t->n], 0, sizeof(t->addrs[0]));
	if (a->family == AF_INET) {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&t->addrs[t->n];
		s4->sin_family = AF_INET;
		s4->sin_addr = a->a.v4;
		s4->sin_port = htons((uint16_t)t->port);
		t->lens[t->n++] = sizeof(*s4);
	} else {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&t->addrs[t->n];
		s6->sin6_family = AF_INET6;
		s6->sin6_addr = a->a.v6;
		s6->sin6_port = htons((uint16_t)t->port);
		t->lens[t->n++] = sizeof(*s6);
	}
}

static void on_addrs(void *arg, enum dns_status s, const struct dns_addr *a, size_t n)
{
	struct rtest *t = arg;
	char msg[400];

	for (size_t i = 0; s == DNS_OK && i < n; i++)
		add_addr(t, &a[i]);
	if (--t->queries > 0)
		return;
	if (t->n == 0) {
		snprintf(msg, sizeof(msg), "The relay server %s was not found (no address).",
			 t->host);
		finish(t, msg);
		return;
	}
	try_next(t);
}

int admin_relaytest_start(struct admin *a, struct req *q)
{
	char port[16] = "", tls[16] = "starttls", verify[8] = "1", err[256];
	struct rtest *t;
	struct dns_addr da;
	uint64_t p;

	t = calloc(1, sizeof(*t));
	if (!t)
		bug("event=out-of-memory");
	t->a = a;
	t->q = q;
	if (store_setting_get(a->st, "smarthost.host", t->host, sizeof(t->host)) != 0 ||
	    !t->host[0]) {
		free(t);
		snprintf(q->relay_msg, sizeof(q->relay_msg),
			 "No relay server is set: save one first.");
		return -1;
	}
	store_setting_get(a->st, "smarthost.port", port, sizeof(port));
	store_setting_get(a->st, "smarthost.tls", tls, sizeof(tls));
	store_setting_get(a->st, "smarthost.user", t->user, sizeof(t->user));
	store_setting_get(a->st, "smarthost.password", t->pw, sizeof(t->pw));
	store_setting_get(a->st, "smarthost.verify", verify, sizeof(verify));
	t->port = port[0] && strnum_u64(port, 65535, &p) == 0 && p ? (int)p
		  : strcmp(tls, "tls") == 0			   ? 465
								   : 587;
	t->cfg.helo = a->hostname;
	t->cfg.servername = t->host;
	t->cfg.tls_mode = strcmp(tls, "tls") == 0 ? SMTPC_TLS_IMPLICIT : SMTPC_TLS_STARTTLS;
	t->cfg.tls = tls_client_new(
	    config_get(a->cfg, "queue.ca_file", NULL),
	    strcmp(verify, "0") != 0 ? TLS_VERIFY_REQUIRED : TLS_VERIFY_NONE, err, sizeof(err));
	if (!t->cfg.tls) {
		snprintf(q->relay_msg, sizeof(q->relay_msg), "TLS could not be set up: %s", err);
		free(t);
		return -1;
	}
	t->cfg.user = t->user[0] ? t->user : NULL;
	t->cfg.password = t->pw;
	t->cfg.timeout_ms = 20000;
	t->cfg.connect_timeout_ms = 10000;
	q->relay_state = 1;
	t->in_start = 1;
	memset(&da, 0, sizeof(da));
	if (inet_pton(AF_INET, t->host, &da.a.v4) == 1) {
		da.family = AF_INET;
		t->queries = 1;
		on_addrs(t, DNS_OK, &da, 1);
	} else if (inet_pton(AF_INET6, t->host, &da.a.v6) == 1) {
		da.family = AF_INET6;
		t->queries = 1;
		on_addrs(t, DNS_OK, &da, 1);
	} else {
		if (!resolver)
			resolver = daemon_dns(a->d);
		t->queries = 2;
		dns_query_a(resolver, t->host, on_addrs, t);
		if (q->relay_state == 1)
			dns_query_aaaa(resolver, t->host, on_addrs, t);
		else
			return -1; /* t is gone: answered at once */
	}
	/* t may be gone here: look only at q */
	if (q->relay_state == 2)
		return -1;
	t->in_start = 0;
	return 0;
}
