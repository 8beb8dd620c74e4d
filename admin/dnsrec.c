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
#include "html.h"
#include "pages.h"
#include "store_outbound.h"
#include "store_settings.h"

int admin_hostname_ok(const char *s)
{
	size_t n = strlen(s), label = 0, labels = 1;

	if (n == 0 || n > 253 || s[0] == '.' || s[n - 1] == '.' || s[0] == '-')
		return 0;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];

		if (c == '.') {
			if (label == 0 || s[i - 1] == '-')
				return 0;
			label = 0;
			labels++;
			continue;
		}
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      (c == '-' && label > 0)))
			return 0;
		if (++label > 63)
			return 0;
	}
	return labels >= 2 && s[n - 1] != '-';
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

static int nrec;

static void rec(struct resp *r, const char *type, const char *name, const char *value,
		const char *why);

/* The DKIM key's TXT record (loft-queue signs with the key in dkim_keys;
 * it is made when the domain is set, or here when missing). */
static void dkim_record(struct admin *a, struct resp *r, const char *dom)
{
	char sel[64], n[400], err[256], *pem = NULL, *pub = NULL, *v;

	if (store_dkim_ensure(a->st, dom, NULL) != 0 ||
	    store_dkim_get(a->st, dom, sel, sizeof(sel), &pem) != 0 ||
	    dkim_pubkey(pem, &pub, err, sizeof(err)) < 0) {
		free(pem);
		rec(r, "TXT", "(DKIM)", "not available", "The signing key could not be read.");
		return;
	}
	snprintf(n, sizeof(n), "%s._domainkey.%s", sel, dom);
	v = malloc(strlen(pub) + 32);
	if (v) {
		snprintf(v, strlen(pub) + 32, "v=DKIM1; k=rsa; p=%s", pub);
		rec(r, "TXT", n, v, "The key receivers check Loft's signatures with.");
	}
	free(v);
	free(pem);
	free(pub);
}

static void rec(struct resp *r, const char *type, const char *name, const char *value,
		const char *why)
{
	nrec++;
	h_raw(r, "<tr><td>");
	h_esc(r, type);
	h_raw(r, "</td><td><code>");
	h_esc(r, name);
	h_fmt(r, "</code></td><td><code id=\"rec-%d\">", nrec);
	h_esc(r, value);
	h_fmt(r,
	      "</code> <button type=\"button\" class=\"sec inline\" data-copy=\"rec-%d\" "
	      "hidden>Copy</button><div class=\"mut\">",
	      nrec);
	h_esc(r, why);
	h_raw(r, "</div></td></tr>\n");
}

void admin_dns_records(struct admin *a, struct resp *r)
{
	char dom[256], host[256], v[600], n[300];
	const char *inc = admin_spf_include(a);

	admin_names(a, dom, host);
	if (!dom[0]) {
		h_note(r, "err", "Choose the mail domain first.");
		return;
	}
	nrec = 0;
	h_raw(r, "<div class=\"card\"><table id=\"dns\"><thead><tr><th>Type</th><th>Name</th>"
		 "<th>Value</th></tr></thead><tbody>\n");
	snprintf(v, sizeof(v), "10 %s.", host);
	rec(r, "MX", dom, v, "Mail for your domain goes to this box.");
	rec(r, "A", host, "your public IPv4 address",
	    "Where the box is; your router forwards ports 25, 465, 587, 993 and 443 to it.");
	if (inc[0])
		snprintf(v, sizeof(v), "v=spf1 mx %s ~all", inc);
	else
		snprintf(v, sizeof(v), "v=spf1 mx ~all");
	rec(r, "TXT", dom, v, "Which servers may send mail as your domain.");
	dkim_record(a, r, dom);
	snprintf(n, sizeof(n), "_dmarc.%s", dom);
	snprintf(v, sizeof(v), "v=DMARC1; p=quarantine; rua=mailto:postmaster@%s", dom);
	rec(r, "TXT", n, v, "What receivers do with mail that fails the checks.");
	snprintf(n, sizeof(n), "_imaps._tcp.%s", dom);
	snprintf(v, sizeof(v), "0 1 993 %s.", host);
	rec(r, "SRV", n, v, "Lets mail apps find the server for reading mail.");
	snprintf(n, sizeof(n), "_submissions._tcp.%s", dom);
	snprintf(v, sizeof(v), "0 1 465 %s.", host);
	rec(r, "SRV", n, v, "Lets mail apps find the server for sending mail.");
	snprintf(n, sizeof(n), "_submission._tcp.%s", dom);
	snprintf(v, sizeof(v), "0 1 587 %s.", host);
	rec(r, "SRV", n, v, "The same, for apps that use STARTTLS.");
	snprintf(n, sizeof(n), "autoconfig.%s", dom);
	snprintf(v, sizeof(v), "%s.", host);
	rec(r, "CNAME", n, v, "Thunderbird and Android mail apps set themselves up from here.");
	snprintf(n, sizeof(n), "autodiscover.%s", dom);
	rec(r, "CNAME", n, v, "Outlook sets itself up from here.");
	h_raw(r, "</tbody></table></div>\n");
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
