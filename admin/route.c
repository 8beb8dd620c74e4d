/*
 * Which handler answers a request, and the rules every request passes
 * first: static assets and phone autoconfiguration are public; before
 * set-up is complete only the local network may use the wizard; after it,
 * plain HTTP redirects to HTTPS (except the ACME challenge and the
 * autoconfig documents, which clients fetch over HTTP); every POST must
 * carry its session's CSRF token; admin pages need a logged-in session.
 */
#include <stdio.h>
#include <string.h>

#include "config.h"
#include "html.h"
#include "log.h"
#include "pages.h"
#include "session.h"
#include "store_settings.h"

enum {
	R_PUBLIC = 1, /* no session, no CSRF, any address, HTTP allowed */
	R_AUTH = 2,   /* a logged-in session */
	R_WIZARD = 4, /* local network while not set up */
};

struct route {
	const char *method, *path;
	int prefix;
	int flags;
	void (*fn)(struct admin *a, struct req *q, struct resp *r);
};

static const struct route routes[] = {
    {"GET", "/static/loft.css", 0, R_PUBLIC, admin_page_css},
    {"GET", "/static/loft.js", 0, R_PUBLIC, admin_page_js},
    {"GET", "/mail/config-v1.1.xml", 0, R_PUBLIC, admin_page_autoconfig},
    {"GET", "/.well-known/autoconfig/mail/config-v1.1.xml", 0, R_PUBLIC, admin_page_autoconfig},
    {"POST", "/autodiscover/autodiscover.xml", 0, R_PUBLIC, admin_page_autodiscover},
    {"POST", "/Autodiscover/Autodiscover.xml", 0, R_PUBLIC, admin_page_autodiscover},
    {"GET", "/.well-known/acme-challenge/", 1, R_PUBLIC, admin_page_acme_challenge},
    {"GET", "/p/", 1, R_PUBLIC, admin_page_profile_link},
    {"GET", "/", 0, 0, admin_page_root},
    {"GET", "/login", 0, 0, admin_page_login},
    {"POST", "/login", 0, 0, admin_page_login_post},
    {"POST", "/logout", 0, 0, admin_page_logout},
    {"GET", "/setup", 0, R_WIZARD, admin_wizard_get},
    {"POST", "/setup", 0, R_WIZARD, admin_wizard_post},
    {"GET", "/admin", 0, R_AUTH, admin_page_dashboard},
    {"GET", "/admin/users", 0, R_AUTH, admin_page_users},
    {"POST", "/admin/users", 0, R_AUTH, admin_page_users_post},
    {"GET", "/admin/user", 0, R_AUTH, admin_page_user},
    {"GET", "/admin/user/profile.mobileconfig", 0, R_AUTH, admin_page_mobileconfig},
    {"GET", "/admin/aliases", 0, R_AUTH, admin_page_aliases},
    {"POST", "/admin/aliases", 0, R_AUTH, admin_page_aliases_post},
    {"GET", "/admin/domains", 0, R_AUTH, admin_page_domains},
    {"POST", "/admin/domains", 0, R_AUTH, admin_page_domains_post},
    {"GET", "/admin/queue", 0, R_AUTH, admin_page_queue},
    {"POST", "/admin/queue", 0, R_AUTH, admin_page_queue_post},
    {"GET", "/admin/route", 0, R_AUTH, admin_page_route},
    {"POST", "/admin/route", 0, R_AUTH, admin_page_route_post},
    {"GET", "/admin/dns", 0, R_AUTH, admin_page_dns},
    {"GET", "/admin/log", 0, R_AUTH, admin_page_log},
    {"GET", "/admin/system", 0, R_AUTH, admin_page_system},
    {"POST", "/admin/password", 0, R_AUTH, admin_page_password_post},
    {"GET", "/admin/backup", 0, R_AUTH, admin_page_backup},
    {"POST", "/admin/restore", 0, R_AUTH, admin_page_restore_post},
    {"POST", "/admin/certificate", 0, R_AUTH, admin_page_certificate_post},
};

int admin_setup_done(struct admin *a)
{
	char v[8];

	return store_setting_get(a->st, "setup.done", v, sizeof(v)) == 0 && strcmp(v, "1") == 0;
}

int admin_is_local(struct admin *a, const struct req *q)
{
	return admin_form_ip_in_nets(q->ip, a->local_nets) == 1;
}

/* The HTTPS address of this request's page: the Host header's name with
 * the https listener's port. */
static void https_url(struct admin *a, const struct req *q, char *out, size_t n)
{
	char host[256];
	size_t len = strcspn(q->host, "/?#\\ ");
	const char *colon;

	if (len >= sizeof(host))
		len = 0;
	memcpy(host, q->host, len);
	host[len] = '\0';
	/* strip the port of the Host header (not inside an IPv6 literal) */
	colon = strrchr(host, ':');
	if (colon && !strchr(colon, ']'))
		host[colon - host] = '\0';
	if (!host[0])
		snprintf(host, sizeof(host), "%s", a->hostname);
	if (a->https_port == 443)
		snprintf(out, n, "https://%s%s", host, q->path);
	else
		snprintf(out, n, "https://%s:%d%s", host, a->https_port, q->path);
}

void admin_route(struct admin *a, struct req *q, struct resp *r)
{
	const struct route *rt = NULL;
	int path_known = 0, done;

	for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
		const struct route *x = &routes[i];
		int m = x->prefix ? strncmp(q->path, x->path, strlen(x->path)) == 0
				  : strcmp(q->path, x->path) == 0;

		if (!m)
			continue;
		path_known = 1;
		if (strcmp(q->method, x->method) == 0 ||
		    (strcmp(q->method, "HEAD") == 0 && strcmp(x->method, "GET") == 0)) {
			rt = x;
			break;
		}
	}
	if (!rt) {
		if (path_known)
			admin_h_error(r, 405, "Not allowed",
				      "That page does not take this kind of request.");
		else
			admin_h_error(r, 404, "Not found", "There is no such page.");
		return;
	}
	if (rt->flags & R_PUBLIC) {
		rt->fn(a, q, r);
		return;
	}
	done = admin_setup_done(a);
	if (done && !q->https && a->require_https && a->https_port) {
		char url[600];

		https_url(a, q, url, sizeof(url));
		admin_resp_redirect(r, q->post ? 308 : 301, url);
		return;
	}
	if (!done && !admin_is_local(a, q)) {
		log_info(NULL, "event=wizard-refused ip=%s", q->ip);
		admin_h_error(
		    r, 403, "Not from here",
		    "Until set-up is complete, Loft's settings are open only to devices on "
		    "your home network. Connect to the same network as the box and try again.");
		return;
	}
	admin_session_load(a, q);
	if (q->post) {
		if (q->form_bad) {
			admin_h_error(r, 400, "Bad form", q->form_why ? q->form_why : "bad form");
			return;
		}
		if (!admin_session_csrf_ok(q)) {
			log_info(NULL, "event=csrf-refused ip=%s path=%s", q->ip, q->path);
			admin_h_error(
			    r, 403, "Form expired",
			    "This form is no longer valid (or came from another site). Go back, "
			    "reload the page and try again.");
			return;
		}
	}
	if ((rt->flags & R_AUTH) && !(q->has_session && q->sess.authed)) {
		admin_resp_redirect(r, q->post ? 303 : 302, "/login");
		return;
	}
	rt->fn(a, q, r);
}
