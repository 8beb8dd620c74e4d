/*
 * The route pieces shared by the wizard and the admin: the verdict of
 * loft-netwatch in plain words, and the outbound form that writes the
 * settings loft-queue reads (COMMON.md contract: route.mode,
 * smarthost.host/port/tls/user/password/preset/verify).  loft-admin only
 * reads route.verdict; netwatch alone writes it.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "daemon.h"
#include "html.h"
#include "log.h"
#include "pages.h"
#include "relay_presets.h"
#include "store_netwatch.h"
#include "store_settings.h"
#include "strnum.h"

/* The presets are lib/mail/relay_presets (shared with loftctl and
 * loftctl dns); "custom" is a relay typed in by hand. */
static const struct relay_preset *preset_find(const char *id)
{
	return id ? relay_preset_find(id) : NULL;
}

static void get(struct admin *a, const char *key, char *buf, size_t n, const char *def)
{
	if (store_setting_get(a->st, key, buf, n) != 0)
		snprintf(buf, n, "%s", def);
}

void admin_route_status(struct admin *a, struct resp *r)
{
	char verdict[32], mode[32], host[256];
	const char *words;

	get(a, "route.verdict", verdict, sizeof(verdict), "unknown");
	get(a, "route.mode", mode, sizeof(mode), "auto");
	get(a, "smarthost.host", host, sizeof(host), "");
	if (strcmp(verdict, "direct") == 0)
		words = "Your connection can send mail straight to other servers: big mail "
			"services accept mail from your address.";
	else if (strcmp(verdict, "relay") == 0)
		words = "Your internet provider gives you a home address that big mail services "
			"refuse. Loft will send through a relay.";
	else
		words = "Not checked yet. Loft checks your connection by itself and shows the "
			"result here.";
	admin_h_raw(
	    r, "<div class=\"card\" id=\"route\"><h2>Network and route</h2><p id=\"verdict\">");
	admin_h_esc(r, words);
	admin_h_raw(r, "</p><p>Sending: <b id=\"route-mode\">");
	if (strcmp(mode, "direct") == 0)
		admin_h_raw(r, "always directly");
	else if (strcmp(mode, "smarthost") == 0)
		admin_h_raw(r, "always through the relay");
	else
		admin_h_raw(r, "automatic");
	admin_h_raw(r, "</b>");
	if (host[0]) {
		admin_h_raw(r, " · relay <code>");
		admin_h_esc(r, host);
		admin_h_raw(r, "</code>");
	} else if (strcmp(verdict, "relay") == 0 && strcmp(mode, "direct") != 0) {
		admin_h_raw(r,
			    "</p><div class=\"note err\">No relay is set up: mail to other servers "
			    "waits in the queue until you add one.</div><p>");
	}
	admin_h_raw(r, "</p>");
	admin_netwatch_evidence(a, r);
	admin_h_raw(r, "</div>\n");
}

static void when(struct resp *r, int64_t t)
{
	char buf[32];
	time_t tt = (time_t)t;
	struct tm tm;

	gmtime_r(&tt, &tm);
	strftime(buf, sizeof(buf), "%Y-%m-%d %H:%M UTC", &tm);
	admin_h_esc(r, buf);
}

static int check_cb(void *arg, const struct store_nw_check *c)
{
	struct resp *r = arg;

	admin_h_raw(r, "<h3>Last check</h3><p class=\"mut\">");
	when(r, c->finished);
	if (c->address[0]) {
		admin_h_raw(r, " · public address <code>");
		admin_h_esc(r, c->address);
		admin_h_raw(r, "</code>");
	}
	admin_h_raw(r, "</p><p>");
	admin_h_esc(r, c->reason);
	admin_h_raw(r, "</p><table id=\"evidence\"><tbody>");
	for (size_t i = 0; i < c->nitems; i++) {
		admin_h_raw(r, "<tr><th>");
		admin_h_esc(r, c->items[i].probe);
		admin_h_raw(r, "</th><td>");
		admin_h_esc(r, c->items[i].result);
		admin_h_raw(r, "</td><td>");
		admin_h_esc(r, c->items[i].detail);
		admin_h_raw(r, "</td></tr>");
	}
	admin_h_raw(r, "</tbody></table>");
	return 1;
}

static int change_cb(void *arg, const struct store_nw_change *ch)
{
	struct resp *r = arg;

	admin_h_raw(r, "<li>");
	when(r, ch->time);
	admin_h_raw(r, ": ");
	admin_h_esc(r, ch->from);
	admin_h_raw(r, " → ");
	admin_h_esc(r, ch->to);
	admin_h_raw(r, " <span class=\"mut\">");
	admin_h_esc(r, ch->reason);
	admin_h_raw(r, "</span></li>");
	return 0;
}

static int mapping_cb(void *arg, const struct store_nw_mapping *m)
{
	struct resp *r = arg;

	admin_h_raw(r, "<li>");
	admin_h_esc(r, m->proto);
	admin_h_fmt(r, " %d: ", m->port);
	admin_h_raw(r, m->ok ? "forwarded" : "not forwarded");
	admin_h_raw(r, " <span class=\"mut\">(");
	admin_h_esc(r, m->method);
	admin_h_raw(r, ") ");
	admin_h_esc(r, m->detail);
	admin_h_raw(r, "</span></li>");
	return 0;
}

/* What loft-netwatch found (its tables), when it has run. */
void admin_netwatch_evidence(struct admin *a, struct resp *r)
{
	if (store_nw_check_list(a->st, 1, check_cb, r) <= 0)
		return;
	admin_h_raw(r, "<h3>Router port forwards</h3><ul id=\"mappings\">");
	if (store_nw_mapping_list(a->st, mapping_cb, r) == 0)
		admin_h_raw(r, "<li class=\"mut\">none reported</li>");
	admin_h_raw(r, "</ul><h3>Verdict history</h3><ul id=\"history\">");
	if (store_nw_change_list(a->st, 10, change_cb, r) == 0)
		admin_h_raw(r, "<li class=\"mut\">no changes</li>");
	admin_h_raw(r, "</ul>");
}

void admin_netwatch_recheck(struct admin *a)
{
	/* loftd hands the word to loft-netwatch, which starts a full check */
	daemon_notify(a->d, "netwatch");
	log_info(NULL, "event=netwatch-check-asked");
}

void admin_outbound_fields(struct admin *a, struct resp *r)
{
	char mode[32], preset[32], host[256], port[16], tls[16], user[256], pw[8];
	static const struct {
		const char *v, *label;
	} modes[] = {{"auto", "Automatic (recommended)"},
		     {"direct", "Always directly"},
		     {"smarthost", "Always through the relay"}};

	get(a, "route.mode", mode, sizeof(mode), "auto");
	get(a, "smarthost.preset", preset, sizeof(preset), "custom");
	get(a, "smarthost.host", host, sizeof(host), "");
	get(a, "smarthost.port", port, sizeof(port), "587");
	get(a, "smarthost.tls", tls, sizeof(tls), "starttls");
	get(a, "smarthost.user", user, sizeof(user), "");
	get(a, "smarthost.password", pw, sizeof(pw), "");
	admin_h_raw(r, "<fieldset><legend>Route</legend>");
	for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
		admin_h_raw(r, "<div><input type=\"radio\" name=\"mode\" id=\"mode-");
		admin_h_raw(r, modes[i].v);
		admin_h_raw(r, "\" value=\"");
		admin_h_raw(r, modes[i].v);
		admin_h_raw(r, strcmp(mode, modes[i].v) == 0 ? "\" checked>" : "\">");
		admin_h_raw(r, "<label class=\"inline\" for=\"mode-");
		admin_h_raw(r, modes[i].v);
		admin_h_raw(r, "\">");
		admin_h_raw(r, modes[i].label);
		admin_h_raw(r, "</label></div>");
	}
	admin_h_raw(r,
		    "</fieldset><h2>Relay</h2><label for=\"f-preset\">Provider</label>"
		    "<select id=\"f-preset\" name=\"preset\"><option value=\"custom\">Other / my "
		    "internet provider's relay</option>");
	for (const struct relay_preset *p = relay_presets; p->name; p++) {
		admin_h_raw(r, "<option value=\"");
		admin_h_esc(r, p->name);
		admin_h_raw(r, strcmp(preset, p->name) == 0 ? "\" selected>" : "\">");
		admin_h_esc(r, p->label);
		admin_h_raw(r, "</option>");
	}
	admin_h_raw(r, "</select><p class=\"mut\">With a provider chosen, an empty server field is "
		       "filled in with its usual one.</p>");
	admin_h_input(r, "Relay server", "host", "text", host, "autocapitalize=\"none\"");
	admin_h_input(r, "Port", "port", "number", port, "min=\"1\" max=\"65535\"");
	admin_h_raw(r, "<label for=\"f-tls\">Encryption</label><select id=\"f-tls\" name=\"tls\">");
	admin_h_raw(r, strcmp(tls, "tls") == 0
			   ? "<option value=\"starttls\">STARTTLS (port 587)</option>"
			     "<option value=\"tls\" selected>TLS (port 465)</option>"
			   : "<option value=\"starttls\" selected>STARTTLS (port 587)</option>"
			     "<option value=\"tls\">TLS (port 465)</option>");
	admin_h_raw(r, "</select>");
	admin_h_input(r, "User name", "user", "text", user,
		      "autocapitalize=\"none\" autocomplete=\"off\"");
	admin_h_input(r, pw[0] ? "Password (saved; leave empty to keep it)" : "Password",
		      "password", "password", NULL, "autocomplete=\"new-password\"");
}

const char *admin_outbound_apply(struct admin *a, const struct req *q)
{
	const char *mode = admin_form_get(&q->form, "mode"),
		   *pid = admin_form_get(&q->form, "preset");
	const char *host = admin_form_get(&q->form, "host"),
		   *port = admin_form_get(&q->form, "port");
	const char *tls = admin_form_get(&q->form, "tls"), *user = admin_form_get(&q->form, "user");
	const char *pw = admin_form_get(&q->form, "password");
	int custom = !pid || strcmp(pid, "custom") == 0;
	const struct relay_preset *p = custom ? NULL : preset_find(pid);
	char pport[16];
	unsigned portn;

	if (!mode || (strcmp(mode, "auto") && strcmp(mode, "direct") && strcmp(mode, "smarthost")))
		return "Choose how mail is sent.";
	if (!custom && !p)
		return "Unknown provider.";
	snprintf(pport, sizeof(pport), "%d", p ? p->port : 587);
	if (!host || !*host)
		host = p ? p->host : "";
	if (!port || !*port)
		port = pport;
	if (!tls || (strcmp(tls, "starttls") && strcmp(tls, "tls")))
		tls = p ? p->tls : "starttls";
	if (!user || !*user)
		user = p && p->user ? p->user : "";
	if (*host && !admin_hostname_ok(host))
		return "The relay server must be a host name like smtp.example.net.";
	if (strnum_uint(port, 65535, &portn) < 0 || portn == 0)
		return "The port must be a number from 1 to 65535.";
	if (strlen(user) > 255 || (pw && strlen(pw) > 255))
		return "The user name or password is too long.";
	if (strcmp(mode, "smarthost") == 0 && !*host)
		return "Sending always through a relay needs the relay server.";
	if (store_tx_begin(a->st) < 0)
		return "The settings could not be saved.";
	int bad = store_setting_set(a->st, "route.mode", mode) < 0 ||
		  store_setting_set(a->st, "smarthost.preset", p ? p->name : "custom") < 0;
	if (*host) {
		bad = bad || store_setting_set(a->st, "smarthost.host", host) < 0 ||
		      store_setting_set(a->st, "smarthost.port", port) < 0 ||
		      store_setting_set(a->st, "smarthost.tls", tls) < 0 ||
		      store_setting_set(a->st, "smarthost.user", user) < 0;
		if (pw && *pw)
			bad = bad || store_setting_set(a->st, "smarthost.password", pw) < 0;
	} else {
		/* no relay: remove one set earlier, so "configured" means this */
		static const char *const keys[] = {"smarthost.host", "smarthost.port",
						   "smarthost.tls", "smarthost.user",
						   "smarthost.password"};
		for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
			if (store_setting_del(a->st, keys[i]) == -1)
				bad = 1;
	}
	if (bad || store_tx_commit(a->st) < 0) {
		store_tx_rollback(a->st);
		return "The settings could not be saved.";
	}
	store_event_add(a->st, "admin", "outbound route settings changed");
	log_info(NULL, "event=route-settings mode=%s preset=%s password=%s", mode,
		 p ? p->name : "custom", pw && *pw ? LOG_SECRET : "unchanged");
	return NULL;
}
