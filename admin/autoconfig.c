/*
 * Phone and client set-up: Thunderbird-style autoconfig (also read by
 * K-9/Thunderbird for Android and FairEmail), Outlook's POX Autodiscover,
 * an Apple configuration profile, and a QR code that opens the profile on
 * a phone.  The documents name the servers as the running Loft has them:
 * the box's host name and the ports loftd listens on (loft.conf
 * listen.NAME, else the standard or --dev ports).
 *
 * The QR code cannot carry the admin's login to the phone, so it points
 * at a link signed for one address (HMAC-SHA256 under a random key kept
 * in the settings) that expires after a day; the profile holds no
 * password (the phone asks for it).
 */
#include <mbedtls/md.h>
#include <qrcodegen/qrcodegen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "config.h"
#include "html.h"
#include "log.h"
#include "pages.h"
#include "store_settings.h"
#include "store_users.h"
#include "strnum.h"

#define LINK_TTL_S 86400

struct svc {
	const char *name;
	int port, devport;
};

static const struct svc svcs[] = {
    {"imaps", 993, 2993},	{"imap", 143, 2143},	   {"pop3s", 995, 2995},
    {"submissions", 465, 2465}, {"submission", 587, 2587},
};

int admin_service_port(struct admin *a, const char *name)
{
	char key[64];
	const char *v, *colon;
	unsigned p;

	snprintf(key, sizeof(key), "listen.%s", name);
	v = config_get(a->cfg, key, NULL);
	if (v && (colon = strrchr(v, ':')) && strnum_uint(colon + 1, 65535, &p) == 0 && p)
		return (int)p;
	for (size_t i = 0; i < sizeof(svcs) / sizeof(svcs[0]); i++)
		if (strcmp(svcs[i].name, name) == 0)
			return a->dev ? svcs[i].devport : svcs[i].port;
	return 0;
}

/* Text escaped for XML content (the same five entities as HTML). */
static void x_esc(struct resp *r, const char *s)
{
	admin_h_esc(r, s);
}

/* The address a client asked about, if it is a plausible address in one
 * of our domains; else "" (the document then names %EMAILADDRESS%). */
static void asked_address(struct admin *a, const char *in, char *out, size_t n)
{
	const char *at;

	out[0] = '\0';
	if (!in || strlen(in) >= n || strlen(in) > STORE_ADDR_MAX || !(at = strchr(in, '@')) ||
	    at == in || strchr(at + 1, '@'))
		return;
	for (const char *p = in; *p; p++)
		if ((unsigned char)*p <= ' ' || *p == '<' || *p == '>' || *p == '"' || *p == '&' ||
		    *p == '\'')
			return;
	if (store_domain_is_local(a->st, at + 1) != 1)
		return;
	snprintf(out, n, "%s", in);
}

void admin_page_autoconfig(struct admin *a, struct req *q, struct resp *r)
{
	char dom[256], host[256], addr[STORE_ADDR_MAX + 1];
	const char *user;

	admin_names(a, dom, host);
	asked_address(a, admin_req_query(q, "emailaddress"), addr, sizeof(addr));
	if (addr[0])
		snprintf(dom, sizeof(dom), "%s", strchr(addr, '@') + 1);
	if (!dom[0]) {
		admin_h_error(r, 404, "Not set up", "No mail domain is set up yet.");
		return;
	}
	user = addr[0] ? addr : "%EMAILADDRESS%";
	r->ctype = "application/xml; charset=utf-8";
	admin_h_raw(r,
		    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<clientConfig version=\"1.1\">\n"
		    "  <emailProvider id=\"");
	x_esc(r, dom);
	admin_h_raw(r, "\">\n    <domain>");
	x_esc(r, dom);
	admin_h_raw(r, "</domain>\n    <displayName>");
	x_esc(r, dom);
	admin_h_raw(r, " (Loft)</displayName>\n    <displayShortName>Loft</displayShortName>\n");
	static const struct {
		const char *tag, *type, *svc, *sock;
	} servers[] = {
	    {"incomingServer", "imap", "imaps", "SSL"},
	    {"incomingServer", "pop3", "pop3s", "SSL"},
	    {"outgoingServer", "smtp", "submissions", "SSL"},
	    {"outgoingServer", "smtp", "submission", "STARTTLS"},
	};
	for (size_t i = 0; i < sizeof(servers) / sizeof(servers[0]); i++) {
		admin_h_fmt(r, "    <%s type=\"%s\">\n      <hostname>", servers[i].tag,
			    servers[i].type);
		x_esc(r, host);
		admin_h_fmt(
		    r,
		    "</hostname>\n      <port>%d</port>\n      <socketType>%s</socketType>\n"
		    "      <authentication>password-cleartext</authentication>\n"
		    "      <username>",
		    admin_service_port(a, servers[i].svc), servers[i].sock);
		x_esc(r, user);
		admin_h_fmt(r, "</username>\n    </%s>\n", servers[i].tag);
	}
	admin_h_raw(r, "  </emailProvider>\n</clientConfig>\n");
}

static void ad_protocol(struct admin *a, struct resp *r, const char *type, const char *svc,
			const char *host, const char *login, int starttls)
{
	admin_h_raw(r, "      <Protocol>\n        <Type>");
	admin_h_raw(r, type);
	admin_h_raw(r, "</Type>\n        <Server>");
	x_esc(r, host);
	admin_h_fmt(r, "</Server>\n        <Port>%d</Port>\n", admin_service_port(a, svc));
	admin_h_raw(r, "        <DomainRequired>off</DomainRequired>\n        <LoginName>");
	x_esc(r, login);
	admin_h_raw(r, "</LoginName>\n        <SPA>off</SPA>\n");
	admin_h_raw(r, starttls ? "        <Encryption>TLS</Encryption>\n"
				: "        <SSL>on</SSL>\n");
	admin_h_raw(r, "        <AuthRequired>on</AuthRequired>\n      </Protocol>\n");
}

void admin_page_autodiscover(struct admin *a, struct req *q, struct resp *r)
{
	char dom[256], host[256], raw[STORE_ADDR_MAX + 1], addr[STORE_ADDR_MAX + 1];

	admin_names(a, dom, host);
	r->ctype = "application/xml; charset=utf-8";
	if (admin_form_xml_text(q->body.data ? q->body.data : "", q->body.len, "EMailAddress", raw,
				sizeof(raw)) < 0)
		raw[0] = '\0';
	asked_address(a, raw, addr, sizeof(addr));
	if (!addr[0]) {
		r->status = 200;
		admin_h_raw(
		    r,
		    "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<Autodiscover xmlns=\""
		    "http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006\">\n"
		    "  <Response>\n    <Error Time=\"00:00:00\" Id=\"1\">\n"
		    "      <ErrorCode>600</ErrorCode>\n      <Message>Invalid Request</Message>\n"
		    "      <DebugData />\n    </Error>\n  </Response>\n</Autodiscover>\n");
		return;
	}
	admin_h_raw(
	    r, "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<Autodiscover xmlns=\""
	       "http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006\">\n"
	       "  <Response xmlns=\"http://schemas.microsoft.com/exchange/autodiscover/outlook/"
	       "responseschema/2006a\">\n    <Account>\n      <AccountType>email</AccountType>\n"
	       "      <Action>settings</Action>\n");
	ad_protocol(a, r, "IMAP", "imaps", host, addr, 0);
	ad_protocol(a, r, "SMTP", "submissions", host, addr, 0);
	admin_h_raw(r, "    </Account>\n  </Response>\n</Autodiscover>\n");
}

/* --- the signed link and the profile ------------------------------------ */

static int link_key(struct admin *a, char key[65])
{
	unsigned char r[32];
	static const char d[] = "0123456789abcdef";

	if (store_setting_get(a->st, "admin.link_key", key, 65) == 0 && strlen(key) == 64)
		return 0;
	if (getrandom(r, sizeof(r), 0) != (ssize_t)sizeof(r))
		return -1;
	for (int i = 0; i < 32; i++) {
		key[2 * i] = d[r[i] >> 4];
		key[2 * i + 1] = d[r[i] & 15];
	}
	key[64] = '\0';
	return store_setting_set(a->st, "admin.link_key", key);
}

/* mac = hex HMAC-SHA256(key, "address\nexpires"). */
static int link_mac(struct admin *a, const char *address, int64_t expires, char mac[65])
{
	char key[65], msg[STORE_ADDR_MAX + 32];
	unsigned char out[32];
	static const char d[] = "0123456789abcdef";

	if (link_key(a, key) < 0)
		return -1;
	snprintf(msg, sizeof(msg), "%s\n%lld", address, (long long)expires);
	if (mbedtls_md_hmac(mbedtls_md_info_from_type(MBEDTLS_MD_SHA256), (unsigned char *)key, 64,
			    (unsigned char *)msg, strlen(msg), out) != 0)
		return -1;
	for (int i = 0; i < 32; i++) {
		mac[2 * i] = d[out[i] >> 4];
		mac[2 * i + 1] = d[out[i] & 15];
	}
	mac[64] = '\0';
	return 0;
}

/* A deterministic UUID (from a hash of what it names), so installing the
 * profile again replaces the earlier one instead of adding a second. */
static void uuid_for(const char *what, char out[37])
{
	unsigned char h[32];
	mbedtls_md(mbedtls_md_info_from_type(MBEDTLS_MD_SHA256), (const unsigned char *)what,
		   strlen(what), h);
	h[6] = (unsigned char)((h[6] & 0x0f) | 0x50);
	h[8] = (unsigned char)((h[8] & 0x3f) | 0x80);
	snprintf(out, 37, "%02X%02X%02X%02X-%02X%02X-%02X%02X-%02X%02X-%02X%02X%02X%02X%02X%02X",
		 h[0], h[1], h[2], h[3], h[4], h[5], h[6], h[7], h[8], h[9], h[10], h[11], h[12],
		 h[13], h[14], h[15]);
}

static void plist_str(struct resp *r, const char *key, const char *value)
{
	admin_h_raw(r, "\t\t\t<key>");
	admin_h_raw(r, key);
	admin_h_raw(r, "</key>\n\t\t\t<string>");
	x_esc(r, value);
	admin_h_raw(r, "</string>\n");
}

static void mobileconfig(struct admin *a, struct resp *r, const char *address)
{
	char dom[256], host[256], u1[37], u2[37], id[300];

	admin_names(a, dom, host);
	r->ctype = "application/x-apple-aspen-config";
	/* the domain passed admin_hostname_ok: no quote can be in it */
	snprintf(id, sizeof(id), "attachment; filename=\"%.200s.mobileconfig\"", dom);
	admin_resp_header(r, "Content-Disposition", id);
	snprintf(id, sizeof(id), "loft-account:%s", address);
	uuid_for(id, u1);
	snprintf(id, sizeof(id), "loft-profile:%s", address);
	uuid_for(id, u2);
	admin_h_raw(
	    r, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<!DOCTYPE plist PUBLIC \"-//Apple//DTD "
	       "PLIST 1.0//EN\" \"http://www.apple.com/DTDs/PropertyList-1.0.dtd\">\n"
	       "<plist version=\"1.0\">\n<dict>\n\t<key>PayloadContent</key>\n\t<array>\n"
	       "\t\t<dict>\n");
	plist_str(r, "EmailAccountDescription", dom);
	plist_str(r, "EmailAccountType", "EmailTypeIMAP");
	plist_str(r, "EmailAddress", address);
	plist_str(r, "IncomingMailServerAuthentication", "EmailAuthPassword");
	plist_str(r, "IncomingMailServerHostName", host);
	admin_h_fmt(r,
		    "\t\t\t<key>IncomingMailServerPortNumber</key>\n\t\t\t<integer>%d</integer>\n",
		    admin_service_port(a, "imaps"));
	admin_h_raw(r, "\t\t\t<key>IncomingMailServerUseSSL</key>\n\t\t\t<true/>\n");
	plist_str(r, "IncomingMailServerUsername", address);
	plist_str(r, "OutgoingMailServerAuthentication", "EmailAuthPassword");
	plist_str(r, "OutgoingMailServerHostName", host);
	admin_h_fmt(r,
		    "\t\t\t<key>OutgoingMailServerPortNumber</key>\n\t\t\t<integer>%d</integer>\n",
		    admin_service_port(a, "submissions"));
	admin_h_raw(r, "\t\t\t<key>OutgoingMailServerUseSSL</key>\n\t\t\t<true/>\n");
	plist_str(r, "OutgoingMailServerUsername", address);
	admin_h_raw(r, "\t\t\t<key>OutgoingPasswordSameAsIncomingPassword</key>\n\t\t\t<true/>\n");
	snprintf(id, sizeof(id), "org.loft.mail.%s", address);
	plist_str(r, "PayloadDisplayName", address);
	plist_str(r, "PayloadIdentifier", id);
	plist_str(r, "PayloadType", "com.apple.mail.managed");
	plist_str(r, "PayloadUUID", u1);
	admin_h_raw(r, "\t\t\t<key>PayloadVersion</key>\n\t\t\t<integer>1</integer>\n\t\t</dict>\n"
		       "\t</array>\n\t<key>PayloadDisplayName</key>\n\t<string>Mail: ");
	x_esc(r, address);
	admin_h_raw(r, "</string>\n\t<key>PayloadIdentifier</key>\n\t<string>org.loft.profile.");
	x_esc(r, address);
	admin_h_raw(r, "</string>\n\t<key>PayloadRemovalDisallowed</key>\n\t<false/>\n"
		       "\t<key>PayloadType</key>\n\t<string>Configuration</string>\n"
		       "\t<key>PayloadUUID</key>\n\t<string>");
	admin_h_raw(r, u2);
	admin_h_raw(r, "</string>\n\t<key>PayloadVersion</key>\n\t<integer>1</integer>\n</dict>\n"
		       "</plist>\n");
}

/* GET /admin/user/profile.mobileconfig?address=A (logged in). */
void admin_page_mobileconfig(struct admin *a, struct req *q, struct resp *r)
{
	const char *addr = admin_req_query(q, "address");
	int64_t id;

	if (!addr || store_user_find(a->st, addr, &id) != 0) {
		admin_h_error(r, 404, "No such mailbox", "There is no mailbox with that address.");
		return;
	}
	mobileconfig(a, r, addr);
}

/* GET /p/ADDRESS-HEX/EXPIRES/MAC: the signed link the QR code opens. */
void admin_page_profile_link(struct admin *a, struct req *q, struct resp *r)
{
	const char *p = q->path + 3, *s1, *s2;
	char addr[STORE_ADDR_MAX + 1], mac[65], want[65], num[24];
	size_t hl;
	uint64_t exp;
	int64_t id;
	unsigned char diff = 0;

	s1 = strchr(p, '/');
	s2 = s1 ? strchr(s1 + 1, '/') : NULL;
	hl = s1 ? (size_t)(s1 - p) : 0;
	if (!s1 || !s2 || hl == 0 || hl % 2 || hl / 2 > STORE_ADDR_MAX ||
	    (size_t)(s2 - s1 - 1) >= sizeof(num) || strlen(s2 + 1) != 64)
		goto bad;
	for (size_t i = 0; i < hl / 2; i++) {
		unsigned v;
		char two[3] = {p[2 * i], p[2 * i + 1], 0};
		char *end;
		v = (unsigned)strtoul(two, &end, 16);
		if (*end || !v)
			goto bad;
		addr[i] = (char)v;
	}
	addr[hl / 2] = '\0';
	memcpy(num, s1 + 1, (size_t)(s2 - s1 - 1));
	num[s2 - s1 - 1] = '\0';
	if (strnum_u64(num, INT64_MAX, &exp) < 0 || (int64_t)exp < (int64_t)time(NULL))
		goto bad;
	snprintf(mac, sizeof(mac), "%s", s2 + 1);
	if (link_mac(a, addr, (int64_t)exp, want) < 0)
		goto bad;
	for (int i = 0; i < 64; i++)
		diff |= (unsigned char)(mac[i] ^ want[i]);
	if (diff || store_user_find(a->st, addr, &id) != 0)
		goto bad;
	mobileconfig(a, r, addr);
	return;
bad:
	admin_h_error(
	    r, 404, "Link expired",
	    "This set-up link is not valid (any more). Open the mailbox's page in the admin "
	    "for a fresh one.");
}

/* The link for address, valid LINK_TTL_S, on the host the admin uses. */
static int profile_link(struct admin *a, const struct req *q, const char *address, char *out,
			size_t n)
{
	char mac[65], hexaddr[2 * STORE_ADDR_MAX + 1], host[256];
	int64_t exp = (int64_t)time(NULL) + LINK_TTL_S;
	size_t hl = strcspn(q->host, "/?#\\ \"<>");

	/* a day's worth of links for one address share one expiry, so the
	 * page does not change on every reload */
	exp -= exp % 3600;
	exp += 3600;
	if (link_mac(a, address, exp, mac) < 0)
		return -1;
	for (size_t i = 0; address[i] && i < STORE_ADDR_MAX; i++)
		snprintf(hexaddr + 2 * i, 3, "%02x", (unsigned char)address[i]);
	if (hl == 0 || hl >= sizeof(host))
		snprintf(host, sizeof(host), "%s", a->hostname);
	else
		snprintf(host, sizeof(host), "%.*s", (int)hl, q->host);
	return snprintf(out, n, "%s://%s/p/%s/%lld/%s", q->https ? "https" : "http", host, hexaddr,
			(long long)exp, mac) < (int)n
		   ? 0
		   : -1;
}

/* An inline SVG of the QR code for text (one path, dark modules). */
static void qr_svg(struct resp *r, const char *text)
{
	/* two version-40 buffers (3.9 KB each): fine on the loop's stack */
	uint8_t qr[qrcodegen_BUFFER_LEN_MAX], tmp[qrcodegen_BUFFER_LEN_MAX];
	int w, quiet = 4;

	if (!qrcodegen_encodeText(text, tmp, qr, qrcodegen_Ecc_MEDIUM, qrcodegen_VERSION_MIN,
				  qrcodegen_VERSION_MAX, qrcodegen_Mask_AUTO, true)) {
		admin_h_raw(r, "<p class=\"mut\">(The QR code could not be drawn.)</p>");
		return;
	}
	w = qrcodegen_getSize(qr);
	admin_h_fmt(
	    r,
	    "<svg class=\"qr\" id=\"qr\" role=\"img\" aria-label=\"QR code\" "
	    "viewBox=\"0 0 %d %d\" width=\"192\" height=\"192\" shape-rendering=\"crispEdges\">"
	    "<rect width=\"100%%\" height=\"100%%\" fill=\"#fff\"/><path fill=\"#000\" d=\"",
	    w + 2 * quiet, w + 2 * quiet);
	for (int y = 0; y < w; y++)
		for (int x = 0; x < w; x++)
			if (qrcodegen_getModule(qr, x, y))
				admin_h_fmt(r, "M%d %dh1v1h-1z", x + quiet, y + quiet);
	admin_h_raw(r, "\"/></svg>");
}

void admin_phone_setup(struct admin *a, const struct req *q, struct resp *r, const char *address)
{
	char dom[256], host[256], link[1024];

	admin_names(a, dom, host);
	admin_h_raw(
	    r, "<div class=\"card\" id=\"phone\"><h2>Set up a phone or computer</h2>"
	       "<p>Most mail apps set themselves up: type your address and password into "
	       "<b>Thunderbird</b>, <b>K-9 Mail</b>, <b>FairEmail</b> or <b>Outlook</b> and they "
	       "find the servers below on their own.</p>");
	if (address && profile_link(a, q, address, link, sizeof(link)) == 0) {
		admin_h_raw(
		    r, "<p><b>iPhone, iPad, Mac:</b> scan this code with the camera (or open the "
		       "link on the device), then install the profile in Settings. The link works "
		       "for a day.</p>");
		qr_svg(r, link);
		admin_h_raw(r, "<p><a id=\"profile-link\" href=\"");
		admin_h_esc(r, link);
		admin_h_raw(r, "\">Open the set-up profile</a></p>");
	} else {
		admin_h_raw(
		    r, "<p><b>iPhone, iPad, Mac:</b> each mailbox's page in the admin has a QR "
		       "code to scan.</p>");
	}
	admin_h_raw(r, "<table><tbody><tr><th>Incoming (IMAP)</th><td><code>");
	admin_h_esc(r, host);
	admin_h_fmt(r, "</code> port %d, SSL/TLS</td></tr><tr><th>Outgoing (SMTP)</th><td><code>",
		    admin_service_port(a, "imaps"));
	admin_h_esc(r, host);
	admin_h_fmt(r,
		    "</code> port %d, SSL/TLS (or %d, STARTTLS)</td></tr><tr><th>User name</th>"
		    "<td>the whole address</td></tr></tbody></table>",
		    admin_service_port(a, "submissions"), admin_service_port(a, "submission"));
	admin_h_raw(r, "<p class=\"mut\">Settings for apps: <a href=\"/mail/config-v1.1.xml\">"
		       "autoconfig</a></p></div>\n");
}

/* GET /.well-known/acme-challenge/TOKEN: the HTTP-01 answer uacme left in
 * DATADIR/acme/ (token characters are base64url only, so no path escapes
 * the directory). */
void admin_page_acme_challenge(struct admin *a, struct req *q, struct resp *r)
{
	const char *tok = q->path + strlen("/.well-known/acme-challenge/");
	char path[4200], data[1024];
	size_t n = strlen(tok), got;
	FILE *f;

	if (n == 0 || n > 128 ||
	    strspn(tok, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
			"0123456789-_") != n) {
		admin_h_error(r, 404, "Not found", "There is no such page.");
		return;
	}
	snprintf(path, sizeof(path), "%s/acme/%s", a->datadir, tok);
	f = fopen(path, "r");
	if (!f) {
		admin_h_error(r, 404, "Not found", "There is no such page.");
		return;
	}
	got = fread(data, 1, sizeof(data) - 1, f);
	fclose(f);
	data[got] = '\0';
	r->ctype = "text/plain";
	admin_h_raw(r, data);
}
