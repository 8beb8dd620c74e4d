/*
 * The inbound gateway card on the Route page: when the ISP blocks port
 * 25 in, a relay or filtering service holds the public MX and forwards
 * to an extra port of the box.  The same settings loftctl inbound
 * gateway sets (lib/service/gateway.h); loft.conf's keys, when present,
 * are shown as fixed.
 */
#include <stdio.h>
#include <string.h>

#include "daemon.h"
#include "form.h"
#include "gateway.h"
#include "html.h"
#include "log.h"
#include "pages.h"
#include "store_settings.h"
#include "store_users.h"
#include "strnum.h"

void admin_gateway_card(struct admin *a, const struct req *q, struct resp *r)
{
	struct gateway_conf g;
	char err[256], port[16] = "";

	if (gateway_conf_load(&g, a->st, a->cfg, err, sizeof(err)) < 0) {
		log_err(NULL, "event=gateway-load-failed error=\"%s\"", err);
		memset(&g, 0, sizeof(g));
	}
	if (g.port)
		snprintf(port, sizeof(port), "%u", g.port);
	admin_h_raw(r, "<div class=\"card\" id=\"gateway\"><h2>Inbound gateway</h2>"
		       "<p class=\"mut\">Only if your internet provider blocks incoming port 25: "
		       "a gateway service holds your domain's MX and passes mail on to this box "
		       "on another port. Leave the MX empty when mail comes straight here.</p>");
	admin_h_raw(r, "<form method=\"post\" action=\"/admin/route\">");
	admin_h_csrf(r, q);
	admin_h_raw(r, "<input type=\"hidden\" name=\"action\" value=\"gateway\">");
	admin_h_input(r, "Gateway's MX host", "gw_mx", "text", g.mx, "autocapitalize=\"none\"");
	admin_h_input(
	    r, "Port the gateway sends to (1024-65535, empty: off)", "gw_port", "number", port,
	    g.port_in_conf ? "min=\"1\" max=\"65535\" disabled" : "min=\"1024\" max=\"65535\"");
	admin_h_input(r, "Gateway's addresses (IPs or CIDR blocks, comma-separated)", "gw_from",
		      "text", g.from, g.from_in_conf ? "disabled" : "autocapitalize=\"none\"");
	admin_h_input(r, "Gateway account (may log in from other addresses, over TLS)", "gw_user",
		      "text", g.user, "autocapitalize=\"none\" autocomplete=\"off\"");
	if (g.port_in_conf || g.from_in_conf)
		admin_h_raw(r,
			    "<p class=\"mut\">The port and addresses are set in loft.conf "
			    "(smtpd.gateway_port, smtpd.gateway_from) and are changed there.</p>");
	admin_h_raw(r, "<button id=\"gateway-save\">Save the gateway</button></form></div>");
}

const char *admin_gateway_apply(struct admin *a, const struct req *q, int *port_changed)
{
	const char *mx = admin_form_get(&q->form, "gw_mx"),
		   *port = admin_form_get(&q->form, "gw_port"),
		   *from = admin_form_get(&q->form, "gw_from"),
		   *user = admin_form_get(&q->form, "gw_user");
	struct gateway_conf g;
	unsigned old_port;
	char err[256];
	const char *why;
	int64_t uid;

	*port_changed = 0;
	if (gateway_conf_load(&g, a->st, a->cfg, err, sizeof(err)) < 0)
		return "The settings could not be read.";
	old_port = g.port;
	if (!mx || strlen(mx) >= sizeof(g.mx) || (user && strlen(user) >= sizeof(g.user)))
		return "The gateway's MX host must be a host name like mx.gateway.example.";
	snprintf(g.mx, sizeof(g.mx), "%s", mx);
	/* fields loft.conf decides are shown disabled and not sent */
	if (!g.port_in_conf) {
		g.port = 0;
		if (port && *port && strnum_uint(port, 65535, &g.port) < 0)
			return "The gateway port must be a number from 1024 to 65535.";
	}
	if (!g.from_in_conf) {
		if (from && strlen(from) >= sizeof(g.from))
			return "The list of gateway addresses is too long.";
		snprintf(g.from, sizeof(g.from), "%s", from ? from : "");
	}
	snprintf(g.user, sizeof(g.user), "%s", user ? user : "");
	why = gateway_conf_check(&g);
	if (why)
		return why;
	if (g.user[0] && store_user_find(a->st, g.user, &uid) != 0)
		return "The gateway account must be one of the mailboxes (add it on the Users page "
		       "first).";
	if (gateway_conf_save(a->st, &g) < 0)
		return "The settings could not be saved.";
	*port_changed = g.port != old_port;
	store_event_add(a->st, "admin", "inbound gateway settings changed");
	log_info(NULL, "event=gateway-settings mx=%s port=%u", g.mx[0] ? g.mx : "-", g.port);
	/* loft-smtpd takes the new addresses and account at once; the port
	 * itself is opened by loftd at its next start */
	daemon_notify(a->d, "gateway");
	return NULL;
}
