/*
 * Names and records: the checks on domain and host names, the DNS records
 * a person publishes for Loft, the certificate's fingerprint.
 */
#include <mbedtls/sha256.h>
#include <mbedtls/x509_crt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon.h"
#include "dkim.h"
#include "dnscheck.h"
#include "html.h"
#include "log.h"
#include "net.h"
#include "pages.h"
#include "store_netwatch.h"
#include "store_outbound.h"
#include "store_settings.h"

int admin_hostname_ok(const char *s)
{
	return net_hostname_ok(s);
}

void admin_names(struct admin *a, char *domain, char *host)
{
	if (store_setting_get(a->st, "mail.domain", domain, 256) != 0)
		domain[0] = '\0';
	if (store_setting_get(a->st, "mail.hostname", host, 256) != 0)
		snprintf(host, 256, "%s", domain[0] ? "" : a->hostname);
	if (!host[0] && domain[0])
		snprintf(host, 256, "mail.%.240s", domain);
}

/* The records, computed once per page: what to publish and how the live
 * check (dnscheck.c) recognises it. */
static void add(struct dnsrecs *d, const char *type, const char *name, const char *value,
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
}

static int last_address(void *arg, const struct store_nw_check *c)
{
	/* an IPv4 address only: the A record */
	if (c->address[0] && strchr(c->address, '.') && !strchr(c->address, ':'))
		snprintf(arg, 600, "%s", c->address);
	return 1;
}

int admin_dns_compute(struct admin *a, struct dnsrecs *d)
{
	char dom[256], host[256], v[600], n[400], w[256], sel[64], err[256], *pem = NULL,
									     *pub = NULL;
	const char *inc = admin_spf_include(a);

	memset(d, 0, sizeof(*d));
	admin_names(a, dom, host);
	if (!dom[0])
		return -1;
	/* an inbound gateway (the ISP blocks port 25 in) holds the public MX
	 * and forwards to the box's gateway port (gateway.h) */
	char gwmx[256] = "";
	if (store_setting_get(a->st, "inbound.gateway_mx", gwmx, sizeof(gwmx)) != 0)
		gwmx[0] = '\0';
	snprintf(v, sizeof(v), "10 %s.", gwmx[0] ? gwmx : host);
	add(d, "MX", dom, v,
	    gwmx[0] ? "Mail for your domain goes to your inbound gateway, which passes it on to "
		      "this box."
		    : "Mail for your domain goes to this box.",
	    DNSREC_MX, gwmx[0] ? gwmx : host);
	/* the public address loft-netwatch's last check found, if any */
	v[0] = '\0';
	store_nw_check_list(a->st, 1, last_address, v);
	if (!v[0])
		snprintf(v, sizeof(v), "your public IPv4 address");
	add(d, "A", host, v,
	    gwmx[0]
		? "Where the box is; your router forwards the gateway port and ports 465, 587, "
		  "993 and 443 to it."
		: "Where the box is; your router forwards ports 25, 465, 587, 993 and 443 to it.",
	    DNSREC_ADDR, NULL);
	/* SPF names who sends: with a gateway the MX only receives, so "mx"
	 * would allow the gateway and not the box; the box by its host name
	 * (a:, which follows dynamic-DNS updates), plus the relay's include */
	char who[300];
	if (gwmx[0])
		snprintf(who, sizeof(who), "a:%s", host);
	else
		snprintf(who, sizeof(who), "mx");
	if (inc[0])
		snprintf(v, sizeof(v), "v=spf1 %s %s ~all", who, inc);
	else
		snprintf(v, sizeof(v), "v=spf1 %s ~all", who);
	add(d, "TXT", dom, v, "Which servers may send mail as your domain.", DNSREC_TXT_PREFIX,
	    "v=spf1");
	/* the DKIM key loft-queue signs with (dkim_keys); made when the
	 * domain is set, or here when missing */
	if (store_dkim_ensure(a->st, dom, NULL) == 0 &&
	    store_dkim_get(a->st, dom, sel, sizeof(sel), &pem) == 0 &&
	    dkim_pubkey(pem, &pub, err, sizeof(err)) == 0) {
		char *val = malloc(strlen(pub) + 32);
		if (!val)
			bug("event=out-of-memory");
		snprintf(val, strlen(pub) + 32, "v=DKIM1; k=rsa; p=%s", pub);
		snprintf(n, sizeof(n), "%s._domainkey.%s", sel, dom);
		add(d, "TXT", n, val, "The key receivers check Loft's signatures with.",
		    DNSREC_TXT_KEY, "");
		d->dkim_pub = pub;
		pub = NULL;
		free(val);
	}
	free(pem);
	free(pub);
	snprintf(n, sizeof(n), "_dmarc.%s", dom);
	snprintf(v, sizeof(v), "v=DMARC1; p=quarantine; rua=mailto:postmaster@%s", dom);
	add(d, "TXT", n, v, "What receivers do with mail that fails the checks.", DNSREC_TXT_PREFIX,
	    "v=DMARC1");
	snprintf(n, sizeof(n), "_imaps._tcp.%s", dom);
	snprintf(v, sizeof(v), "0 1 993 %s.", host);
	snprintf(w, sizeof(w), "993 %.240s", host);
	add(d, "SRV", n, v, "Lets mail apps find the server for reading mail.", DNSREC_SRV, w);
	snprintf(n, sizeof(n), "_submissions._tcp.%s", dom);
	snprintf(v, sizeof(v), "0 1 465 %s.", host);
	snprintf(w, sizeof(w), "465 %.240s", host);
	add(d, "SRV", n, v, "Lets mail apps find the server for sending mail.", DNSREC_SRV, w);
	snprintf(n, sizeof(n), "_submission._tcp.%s", dom);
	snprintf(v, sizeof(v), "0 1 587 %s.", host);
	snprintf(w, sizeof(w), "587 %.240s", host);
	add(d, "SRV", n, v, "The same, for apps that use STARTTLS.", DNSREC_SRV, w);
	snprintf(n, sizeof(n), "_pop3s._tcp.%s", dom);
	snprintf(v, sizeof(v), "0 1 995 %s.", host);
	snprintf(w, sizeof(w), "995 %.240s", host);
	add(d, "SRV", n, v, "For mail apps that download mail with POP3.", DNSREC_SRV, w);
	snprintf(n, sizeof(n), "autoconfig.%s", dom);
	snprintf(v, sizeof(v), "%s.", host);
	add(d, "CNAME", n, v, "Thunderbird and Android mail apps set themselves up from here.",
	    DNSREC_ADDR, NULL);
	snprintf(n, sizeof(n), "autodiscover.%s", dom);
	add(d, "CNAME", n, v, "Outlook sets itself up from here.", DNSREC_ADDR, NULL);
	return 0;
}

void admin_dns_free(struct dnsrecs *d)
{
	for (size_t i = 0; i < d->n; i++)
		free(d->r[i].value);
	free(d->dkim_pub);
	memset(d, 0, sizeof(*d));
}

static const char *const verdicts[] = {"", "in place", "not found", "could not be checked",
				       "different"};

void admin_dns_records(struct admin *a, const struct req *q, struct resp *r, const char *check_url)
{
	struct dnsrecs d;
	int checked = q && q->dns_state == 2;

	if (admin_dns_compute(a, &d) < 0) {
		admin_h_note(r, "err", "Choose the mail domain first.");
		return;
	}
	admin_h_raw(r, "<div class=\"card\"><table id=\"dns\"><thead><tr><th>Type</th><th>Name</th>"
		       "<th>Value</th>");
	if (checked)
		admin_h_raw(r, "<th>Published?</th>");
	admin_h_raw(r, "</tr></thead><tbody>\n");
	for (size_t i = 0; i < d.n; i++) {
		const struct dnsrec *x = &d.r[i];

		admin_h_raw(r, "<tr><td>");
		admin_h_esc(r, x->type);
		admin_h_raw(r, "</td><td><code>");
		admin_h_esc(r, x->name);
		admin_h_fmt(r, "</code></td><td><code id=\"rec-%zu\">", i + 1);
		admin_h_esc(r, x->value);
		admin_h_fmt(
		    r,
		    "</code> <button type=\"button\" class=\"sec inline\" data-copy=\"rec-%zu\" "
		    "hidden>Copy</button><div class=\"mut\">",
		    i + 1);
		admin_h_esc(r, x->why);
		admin_h_raw(r, "</div></td>");
		if (checked) {
			int v = i < DNSREC_MAX ? q->dns_res[i] : 0;
			admin_h_fmt(r, "<td class=\"dns-%d\" id=\"chk-%zu\">", v, i + 1);
			admin_h_raw(r, x->check == DNSREC_NONE ? "not checked" : verdicts[v]);
			admin_h_raw(r, "</td>");
		}
		admin_h_raw(r, "</tr>\n");
	}
	admin_h_raw(r, "</tbody></table><p><a class=\"btn sec\" id=\"dns-check\" href=\"");
	admin_h_raw(r, check_url);
	admin_h_raw(r, "\">Check which are published</a></p></div>\n");
	admin_dns_free(&d);
}

void admin_cert_fingerprint(struct admin *a, char *out, size_t n)
{
	char cert[4200], key[4200];
	mbedtls_x509_crt crt;
	unsigned char d[32];

	out[0] = '\0';
	if (daemon_tls_paths(a->cfg, a->datadir, cert, sizeof(cert), key, sizeof(key)) < 0)
		return;
	mbedtls_x509_crt_init(&crt);
	if (mbedtls_x509_crt_parse_file(&crt, cert) == 0 && n >= 32 * 3) {
		mbedtls_sha256_ret(crt.raw.p, crt.raw.len, d, 0);
		for (int i = 0; i < 32; i++)
			snprintf(out + 3 * i, n - 3 * (size_t)i, i < 31 ? "%02X:" : "%02X", d[i]);
	}
	mbedtls_x509_crt_free(&crt);
}
