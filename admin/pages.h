#ifndef LOFT_ADMIN_PAGES_H
#define LOFT_ADMIN_PAGES_H
/*
 * The page handlers route.c dispatches to.  Each fills the response; none
 * fails (an error is a page).  Files: pages.c (login, dashboard, static),
 * wizard.c (first-run set-up), manage.c (users, aliases, domains, queue,
 * route, log, system), autoconfig.c (phone set-up documents, QR).
 */
#include "admin.h"

typedef void page_fn(struct admin *a, struct req *q, struct resp *r);

page_fn admin_page_css, admin_page_js, admin_page_root, admin_page_login, admin_page_login_post,
    admin_page_logout;
page_fn admin_page_dashboard;
page_fn admin_wizard_get, admin_wizard_post;
page_fn admin_page_users, admin_page_users_post, admin_page_user, admin_page_aliases,
    admin_page_aliases_post;
page_fn admin_page_domains, admin_page_domains_post, admin_page_queue, admin_page_queue_post;
page_fn admin_page_route, admin_page_route_post, admin_page_dns, admin_page_log, admin_page_system,
    admin_page_password_post;
page_fn admin_page_backup, admin_page_restore_post, admin_page_certificate_post;
page_fn admin_page_autoconfig, admin_page_autodiscover, admin_page_mobileconfig;
page_fn admin_page_acme_challenge, admin_page_profile_link;

/* Shared by the wizard and the admin pages. */

/* 1 when s is a DNS host name Loft accepts (letters, digits, '-', '.',
 * labels of 1-63, at most 253, at least two labels). */
int admin_hostname_ok(const char *s);
/* The mail domain and the box's host name from the settings (buffers of
 * 256; "" when not set). */
void admin_names(struct admin *a, char *domain, char *host);
/* The DNS records to publish (a table), for the wizard and the DNS page. */
void admin_dns_records(struct admin *a, const struct req *q, struct resp *r, const char *check_url);
/* The route section: verdict in plain words and the mode form. */
void admin_route_status(struct admin *a, struct resp *r);
/* loft-netwatch's last check with its evidence, the router's port
 * forwards and the verdict history (nothing when it has not run). */
void admin_netwatch_evidence(struct admin *a, struct resp *r);
/* Asks loft-netwatch for a check now (notify netwatch). */
void admin_netwatch_recheck(struct admin *a);
#define ADMIN_RECHECK_MSG                                                                          \
	"Loft is checking your connection now; reload this page in a minute for the result."
/* The outbound form fields (mode, preset, host, port, TLS, user,
 * password), current values filled in (never the password). */
void admin_outbound_fields(struct admin *a, struct resp *r);
/* Applies an outbound form; returns NULL or an error message. */
const char *admin_outbound_apply(struct admin *a, const struct req *q);
/* The inbound gateway card (gateway.c): MX host, port, addresses,
 * account, posting action=gateway to /admin/route. */
void admin_gateway_card(struct admin *a, const struct req *q, struct resp *r);
/* Applies its form; returns NULL or an error message.  *port_changed is
 * set when the port changed (loftd opens or closes it at its next
 * start). */
const char *admin_gateway_apply(struct admin *a, const struct req *q, int *port_changed);
/* The phone set-up section: the QR code and signed profile link for
 * address (may be NULL: no code), the server settings. */
void admin_phone_setup(struct admin *a, const struct req *q, struct resp *r, const char *address);
/* The port a service listens on (listen.NAME, else standard or --dev). */
int admin_service_port(struct admin *a, const char *name);

/* The certificate card: fingerprint, ACME status, the request button
 * (posting to the wizard's step 7 when wizard is set). */
void admin_cert_card(struct admin *a, const struct req *q, struct resp *r, int wizard);
/* Starts an ACME request for the mail host name.  Returns NULL or a
 * message for the page. */
const char *admin_cert_request(struct admin *a);
/* The relay test of a POST: returns 1 when r is suspended (come back
 * later), 0 when q->relay_msg holds the outcome to show. */
int admin_relay_test(struct admin *a, struct req *q, struct resp *r);
/* loftd's processes (DATADIR/run/status) as a table. */
void admin_procs_table(struct admin *a, struct resp *r);
/* The newest limit events as a table. */
void admin_events_table(struct admin *a, struct resp *r, int limit);
/* The relay preset in use (setting smarthost.preset) and its SPF include
 * ("" when none is known). */
/* Writes the SHA-256 fingerprint of the HTTPS certificate ("AB:CD:..."),
 * or "" when there is none. */
void admin_cert_fingerprint(struct admin *a, char *out, size_t n);

#endif
