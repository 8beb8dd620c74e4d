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
#include "dnsrecs.h"
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

/* The records (lib/service/dnsrecs), computed once per page. */
int admin_dns_compute(struct admin *a, struct dnsrecs *d)
{
	char dom[256], host[256];

	memset(d, 0, sizeof(*d));
	admin_names(a, dom, host);
	if (!dom[0])
		return -1;
	dnsrecs_compute(a->st, dom, host, d);
	return 0;
}

void admin_dns_free(struct dnsrecs *d)
{
	dnsrecs_free(d);
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
