/*
 * The records to publish (dnsrecs.h).  The address comes from
 * loft-netwatch's last check; SPF names the box and, with an inbound
 * gateway, never "mx" (the gateway only receives).
 */
#include "dnsrecs.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dkim.h"
#include "log.h"
#include "relay_presets.h"
#include "store_netwatch.h"
#include "store_outbound.h"
#include "store_settings.h"

static struct dnsrec *add(struct dnsrecs *d, const char *type, const char *name, const char *value,
			  const char *why, enum dnsrec_check check, const char *want)
{
	struct dnsrec *x;

	if (d->n == DNSREC_MAX)
		bug("event=too-many-dns-records");
	x = &d->r[d->n++];
	snprintf(x->type, sizeof(x->type), "%s", type);
	snprintf(x->name, sizeof(x->name), "%s", name);
	x->value = strdup(value);
	x->why = why;
	x->check = check;
	snprintf(x->want, sizeof(x->want), "%s", want ? want : "");
	if (!x->value)
		bug("event=out-of-memory");
	return x;
}

static int last_address(void *arg, const struct store_nw_check *c)
{
	/* an IPv4 address only: the A record */
	if (c->address[0] && strchr(c->address, '.') && !strchr(c->address, ':'))
		snprintf(arg, 64, "%s", c->address);
	return 1;
}

const char *dnsrecs_spf_include(struct store *st)
{
	char host[256];
	const struct relay_preset *p;

	/* by the host in use, so a relay typed in by hand still gets its
	 * provider's include when it is a known one */
	if (store_setting_get(st, "smarthost.host", host, sizeof(host)) != 0 || !host[0])
		return "";
	p = relay_preset_by_host(host);
	return p ? p->spf : "";
}

static void srv(struct dnsrecs *d, const char *svc, const char *dom, int prio, int port,
		const char *host, const char *why)
{
	char n[400], v[320], w[256];

	snprintf(n, sizeof(n), "_%s._tcp.%s", svc, dom);
	snprintf(v, sizeof(v), "%d 1 %d %s.", prio, port, host);
	snprintf(w, sizeof(w), "%d %.240s", port, host);
	add(d, "SRV", n, v, why, DNSREC_SRV, w);
}

void dnsrecs_compute(struct store *st, const char *dom, const char *host, struct dnsrecs *d)
{
	char v[600], n[400], who[300], gwmx[256] = "", shost[256] = "", addr[64] = "", sel[64];
	char *pem = NULL, *pub = NULL;
	const char *inc = dnsrecs_spf_include(st);
	struct dnsrec *x;

	memset(d, 0, sizeof(*d));
	/* an inbound gateway (the ISP blocks port 25 in) holds the public MX
	 * and forwards to the box's gateway port (gateway.h) */
	if (store_setting_get(st, "inbound.gateway_mx", gwmx, sizeof(gwmx)) != 0)
		gwmx[0] = '\0';
	snprintf(v, sizeof(v), "10 %s.", gwmx[0] ? gwmx : host);
	add(d, "MX", dom, v,
	    gwmx[0] ? "Mail for your domain goes to your inbound gateway, which passes it on to "
		      "this box."
		    : "Mail for your domain goes to this box.",
	    DNSREC_MX, gwmx[0] ? gwmx : host);

	store_nw_check_list(st, 1, last_address, addr);
	x = add(d, "A", host, addr[0] ? addr : "your public IPv4 address",
		gwmx[0]
		    ? "Where the box is; your router forwards the gateway port and ports 465, "
		      "587, 993 and 443 to it."
		    : "Where the box is; your router forwards ports 25, 465, 587, 993 and 443 to "
		      "it.",
		DNSREC_ADDR, NULL);
	x->placeholder = !addr[0];

	/* the box by its host name (a:, which follows dynamic-DNS updates
	 * where an ip4: would go stale) when the MX is a gateway */
	if (gwmx[0])
		snprintf(who, sizeof(who), "a:%s", host);
	else
		snprintf(who, sizeof(who), "mx");
	snprintf(v, sizeof(v), "v=spf1 %s%s%s ~all", who, inc[0] ? " " : "", inc);
	add(d, "TXT", dom, v, "Which servers may send mail as your domain.", DNSREC_TXT_PREFIX,
	    "v=spf1");
	if (store_setting_get(st, "smarthost.host", shost, sizeof(shost)) == 0 && shost[0] &&
	    !inc[0])
		snprintf(d->relay_unknown, sizeof(d->relay_unknown), "%s", shost);

	/* the key loft-queue signs with (dkim_keys), made here when missing */
	if (store_dkim_ensure(st, dom, &d->dkim_made) != 0 ||
	    store_dkim_get(st, dom, sel, sizeof(sel), &pem) != 0)
		snprintf(d->dkim_err, sizeof(d->dkim_err), "%s", store_errmsg(st));
	else if (dkim_pubkey(pem, &pub, d->dkim_err, sizeof(d->dkim_err)) == 0) {
		size_t l = strlen(pub) + 32;
		char *val = malloc(l);

		if (!val)
			bug("event=out-of-memory");
		snprintf(val, l, "v=DKIM1; k=rsa; p=%s", pub);
		snprintf(n, sizeof(n), "%s._domainkey.%s", sel, dom);
		add(d, "TXT", n, val, "The key receivers check Loft's signatures with.",
		    DNSREC_TXT_KEY, "");
		free(val);
		d->dkim_pub = pub;
	}
	free(pem);

	snprintf(n, sizeof(n), "_dmarc.%s", dom);
	snprintf(v, sizeof(v), "v=DMARC1; p=quarantine; rua=mailto:postmaster@%s", dom);
	add(d, "TXT", n, v, "What receivers do with mail that fails the checks.", DNSREC_TXT_PREFIX,
	    "v=DMARC1");

	/* RFC 6186, with RFC 8314's preference for implicit TLS: the
	 * STARTTLS ports are listed after (a larger priority number) */
	srv(d, "imaps", dom, 0, 993, host, "Lets mail apps find the server for reading mail.");
	srv(d, "imap", dom, 10, 143, host, "The same, for apps that use STARTTLS.");
	srv(d, "submissions", dom, 0, 465, host,
	    "Lets mail apps find the server for sending mail.");
	srv(d, "submission", dom, 10, 587, host, "The same, for apps that use STARTTLS.");
	srv(d, "pop3s", dom, 0, 995, host, "For mail apps that download mail with POP3.");

	snprintf(n, sizeof(n), "autoconfig.%s", dom);
	snprintf(v, sizeof(v), "%s.", host);
	add(d, "CNAME", n, v, "Thunderbird and Android mail apps set themselves up from here.",
	    DNSREC_ADDR, NULL);
	snprintf(n, sizeof(n), "autodiscover.%s", dom);
	add(d, "CNAME", n, v, "Outlook sets itself up from here.", DNSREC_ADDR, NULL);
}

void dnsrecs_free(struct dnsrecs *d)
{
	for (size_t i = 0; i < d->n; i++)
		free(d->r[i].value);
	free(d->dkim_pub);
	memset(d, 0, sizeof(*d));
}
