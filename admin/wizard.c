/*
 * The first-boot wizard at /setup: one page per step, each a plain form
 * posted back to /setup with a "step" field.  Step 1 (the admin password)
 * is open to an anonymous local visitor while no password exists; every
 * later step needs the session that step 1 (or a login) made.  The step
 * reached is kept in the setting setup.step; setup.done = 1 ends the
 * wizard and opens the admin pages.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon.h"
#include "dnscheck.h"
#include "html.h"
#include "log.h"
#include "pages.h"
#include "passwd.h"
#include "session.h"
#include "store_outbound.h"
#include "store_settings.h"
#include "store_users.h"
#include "strnum.h"

#define NSTEPS 8
#define PW_MIN 10

static const char *const titles[NSTEPS + 1] = {
    "",
    "Choose the admin password",
    "Your mail domain",
    "Network check",
    "Sending mail out",
    "DNS records to publish",
    "First mailboxes",
    "Certificate",
    "Phone setup",
};

static int step_reached(struct admin *a)
{
	char v[16];
	unsigned n;

	if (!admin_session_have_password(a))
		return 1;
	if (store_setting_get(a->st, "setup.step", v, sizeof(v)) == 0 &&
	    strnum_uint(v, NSTEPS, &n) == 0 && n >= 2)
		return (int)n;
	return 2;
}

static void set_step(struct admin *a, int n)
{
	char v[16];

	if (n <= step_reached(a))
		return;
	snprintf(v, sizeof(v), "%d", n);
	store_setting_set(a->st, "setup.step", v);
}

static void frame(struct resp *r, int step)
{
	admin_h_begin(r, titles[step], NULL);
	admin_h_fmt(r, "<p class=\"steps\">Set-up: step %d of %d</p>\n<h1>", step, NSTEPS);
	admin_h_esc(r, titles[step]);
	admin_h_raw(r, "</h1>\n");
}

static void form_open(struct resp *r, const struct req *q, int step)
{
	admin_h_raw(r, "<form method=\"post\" action=\"/setup\">");
	admin_h_csrf(r, q);
	admin_h_fmt(r, "<input type=\"hidden\" name=\"step\" value=\"%d\">\n", step);
}

static void back_link(struct resp *r, int step)
{
	if (step > 2)
		admin_h_fmt(r, " <a class=\"btn sec\" href=\"/setup?step=%d\">Back</a>", step - 1);
}

/* --- the steps ---------------------------------------------------------- */

static void step_password(struct req *q, struct resp *r, const char *err)
{
	frame(r, 1);
	admin_h_raw(r,
		    "<p>Welcome to Loft. First choose the password that protects these settings. "
		    "Use at least 10 characters; a few unrelated words work well.</p>");
	if (err)
		admin_h_note(r, "err", err);
	admin_h_raw(r, "<div class=\"card\">");
	form_open(r, q, 1);
	admin_h_input(r, "Admin password", "password", "password", NULL,
		      "required minlength=\"10\" autocomplete=\"new-password\"");
	admin_h_input(r, "The same password again", "password2", "password", NULL,
		      "required autocomplete=\"new-password\"");
	admin_h_raw(r, "<button>Save and continue</button></form></div>");
	admin_h_end(r);
}

static void step_domain(struct admin *a, struct req *q, struct resp *r, const char *err,
			const char *dom_in, const char *host_in)
{
	char dom[256], host[256];

	/* only what was saved: a default host name in the field would be
	 * taken as typed (the placeholder shows the usual choice) */
	if (store_setting_get(a->st, "mail.domain", dom, sizeof(dom)) != 0)
		dom[0] = '\0';
	if (store_setting_get(a->st, "mail.hostname", host, sizeof(host)) != 0)
		host[0] = '\0';
	frame(r, 2);
	admin_h_raw(
	    r, "<p>The domain is the part after the @ in your addresses (for "
	       "<code>you@example.org</code> it is <code>example.org</code>). The host name is "
	       "this box's name on the internet, usually <code>mail.</code> and your "
	       "domain.</p>");
	if (err)
		admin_h_note(r, "err", err);
	admin_h_raw(r, "<div class=\"card\">");
	form_open(r, q, 2);
	admin_h_input(r, "Mail domain", "domain", "text", dom_in ? dom_in : dom,
		      "required placeholder=\"example.org\" autocapitalize=\"none\"");
	admin_h_input(r, "Host name of this box", "hostname", "text", host_in ? host_in : host,
		      "placeholder=\"mail.example.org\" autocapitalize=\"none\"");
	admin_h_raw(r, "<p class=\"mut\">Leave the host name empty for mail.&lt;domain&gt;.</p>");
	admin_h_raw(r, "<button>Save and continue</button>");
	back_link(r, 2);
	admin_h_raw(r, "</form></div>");
	admin_h_end(r);
}

static void step_network(struct admin *a, struct req *q, struct resp *r, const char *ok)
{
	frame(r, 3);
	if (ok)
		admin_h_note(r, "ok", ok);
	admin_route_status(a, r);
	admin_h_raw(r, "<div class=\"card\">");
	form_open(r, q, 3);
	admin_h_raw(r,
		    "<input type=\"hidden\" name=\"action\" value=\"recheck\">"
		    "<button class=\"sec\" id=\"recheck\">Check the network now</button></form>");
	form_open(r, q, 3);
	admin_h_raw(r, "<button>Continue</button>");
	back_link(r, 3);
	admin_h_raw(r, "</form></div>");
	admin_h_end(r);
}

static void step_outbound(struct admin *a, struct req *q, struct resp *r, const char *err)
{
	frame(r, 4);
	admin_h_raw(r,
		    "<p>How Loft sends mail to other servers. <b>Automatic</b> sends directly when "
		    "your connection allows it and through the relay below when it does not. Most "
		    "home connections need a relay: your internet provider's, or one of the "
		    "services listed.</p>");
	if (err)
		admin_h_note(r, "err", err);
	if (q->relay_state == 2)
		admin_h_note(r, q->relay_ok ? "ok" : "err", q->relay_msg);
	admin_h_raw(r, "<div class=\"card\">");
	form_open(r, q, 4);
	admin_outbound_fields(a, r);
	admin_h_raw(r, "<input type=\"hidden\" name=\"action\" value=\"save\">"
		       "<button>Save and continue</button>");
	back_link(r, 4);
	admin_h_raw(r, "</form>");
	form_open(r, q, 4);
	admin_h_raw(r,
		    "<input type=\"hidden\" name=\"action\" value=\"test\">"
		    "<button class=\"sec\" id=\"relay-test\">Test the saved relay</button></form>"
		    "</div>");
	admin_h_end(r);
}

static void step_dns(struct admin *a, struct req *q, struct resp *r)
{
	frame(r, 5);
	admin_h_raw(r, "<p>Publish these records at the company where you registered your domain "
		       "(its DNS settings page). They tell other servers where your mail goes and "
		       "that mail from this box is really yours.</p>");
	admin_dns_records(a, q, r, "/setup?step=5&check=1");
	admin_h_raw(r, "<div class=\"card\">");
	form_open(r, q, 5);
	admin_h_raw(r, "<button>Continue</button>");
	back_link(r, 5);
	admin_h_raw(r, "</form></div>");
	admin_h_end(r);
}

static int list_user(void *arg, int64_t id, const char *address)
{
	struct resp *r = arg;

	(void)id;
	admin_h_raw(r, "<li>");
	admin_h_esc(r, address);
	admin_h_raw(r, "</li>");
	return 0;
}

static void step_mailbox(struct admin *a, struct req *q, struct resp *r, const char *err,
			 const char *ok, const char *local_in)
{
	char dom[256], host[256];

	admin_names(a, dom, host);
	frame(r, 6);
	admin_h_raw(r, "<p>Make a mailbox for yourself (and anyone else in your household). Each "
		       "gets its own password for the phone's mail app.</p>");
	if (err)
		admin_h_note(r, "err", err);
	if (ok)
		admin_h_note(r, "ok", ok);
	admin_h_raw(r, "<div class=\"card\"><h2>Mailboxes</h2><ul id=\"users\">");
	if (store_user_list(a->st, list_user, r) == 0)
		admin_h_raw(r, "<li class=\"mut\">none yet</li>");
	admin_h_raw(r, "</ul>");
	form_open(r, q, 6);
	admin_h_raw(r, "<input type=\"hidden\" name=\"action\" value=\"add\">");
	admin_h_input(r, "Name before the @", "local", "text", local_in,
		      "autocapitalize=\"none\" placeholder=\"you\"");
	admin_h_raw(r, "<p class=\"mut\">The address will be name@");
	admin_h_esc(r, dom);
	admin_h_raw(r, "</p>");
	admin_h_input(r, "Password for this mailbox", "password", "password", NULL,
		      "autocomplete=\"new-password\"");
	admin_h_raw(r, "<button>Add mailbox</button></form>");
	form_open(r, q, 6);
	admin_h_raw(
	    r, "<input type=\"hidden\" name=\"action\" value=\"next\"><button>Continue</button>");
	back_link(r, 6);
	admin_h_raw(r, "</form></div>");
	admin_h_end(r);
}

static void step_tls(struct admin *a, struct req *q, struct resp *r, const char *err,
		     const char *ok)
{
	frame(r, 7);
	admin_h_raw(r,
		    "<p>Phones and other mail servers talk to Loft over encrypted connections. "
		    "Loft made its own certificate; one from Let's Encrypt (free) replaces it once "
		    "this box is reachable from the internet. You can also ask for it later on the "
		    "System page.</p>");
	if (err)
		admin_h_note(r, "err", err);
	if (ok)
		admin_h_note(r, "ok", ok);
	admin_cert_card(a, q, r, 1);
	admin_h_raw(r, "<div class=\"card\">");
	form_open(r, q, 7);
	admin_h_raw(r, "<button>Continue</button>");
	back_link(r, 7);
	admin_h_raw(r, "</form></div>");
	admin_h_end(r);
}

static char first_addr[STORE_ADDR_MAX + 1];

static int first_cb(void *arg, int64_t id, const char *address)
{
	(void)arg;
	(void)id;
	snprintf(first_addr, sizeof(first_addr), "%s", address);
	return 1;
}

/* The first mailbox (for the phone step's QR code), or NULL. */
static const char *first_user(struct admin *a)
{
	first_addr[0] = '\0';
	store_user_list(a->st, first_cb, NULL);
	return first_addr[0] ? first_addr : NULL;
}

static void step_phone(struct admin *a, struct req *q, struct resp *r)
{
	frame(r, 8);
	admin_phone_setup(a, q, r, first_user(a));
	admin_h_raw(r, "<div class=\"card\">");
	form_open(r, q, 8);
	admin_h_raw(r, "<button>Finish set-up</button>");
	back_link(r, 8);
	admin_h_raw(r, "</form></div>");
	admin_h_end(r);
}

static void show(struct admin *a, struct req *q, struct resp *r, int step)
{
	switch (step) {
	case 1:
		step_password(q, r, NULL);
		break;
	case 2:
		step_domain(a, q, r, NULL, NULL, NULL);
		break;
	case 3:
		step_network(a, q, r, NULL);
		break;
	case 4:
		step_outbound(a, q, r, NULL);
		break;
	case 5:
		step_dns(a, q, r);
		break;
	case 6:
		step_mailbox(a, q, r, NULL, NULL, NULL);
		break;
	case 7:
		step_tls(a, q, r, NULL, NULL);
		break;
	default:
		step_phone(a, q, r);
		break;
	}
}

static int logged_in(const struct req *q)
{
	return q->has_session && q->sess.authed;
}

void admin_wizard_get(struct admin *a, struct req *q, struct resp *r)
{
	int reached = step_reached(a), step = reached;
	const char *want;
	unsigned n;

	if (admin_setup_done(a)) {
		admin_resp_redirect(r, 302, "/admin");
		return;
	}
	if (reached == 1) {
		if (admin_session_ensure(a, q, r) < 0)
			return;
		step_password(q, r, NULL);
		return;
	}
	if (!logged_in(q)) {
		admin_resp_redirect(r, 302, "/login");
		return;
	}
	want = admin_req_query(q, "step");
	if (want && strnum_uint(want, NSTEPS, &n) == 0 && n >= 2 && (int)n <= reached)
		step = (int)n;
	if (step == 5 && admin_req_query(q, "check") && q->dns_state == 0 &&
	    admin_dnscheck_start(a, q) == 0) {
		r->suspend = 1;
		return;
	}
	show(a, q, r, step);
}

static void see_step(struct resp *r, int step)
{
	char loc[32];

	snprintf(loc, sizeof(loc), "/setup?step=%d", step);
	admin_resp_redirect(r, 303, loc);
}

static void post_password(struct admin *a, struct req *q, struct resp *r)
{
	const char *pw = admin_form_get(&q->form, "password"),
		   *pw2 = admin_form_get(&q->form, "password2");

	if (admin_session_have_password(a)) {
		/* step 1 is over: a second visitor must not reset the password */
		admin_h_error(r, 409, "Already set",
			      "The admin password is set already; log in instead.");
		return;
	}
	if (!pw || !pw2 || strlen(pw) < PW_MIN) {
		r->status = 400;
		step_password(q, r, "The password must have at least 10 characters.");
		return;
	}
	if (strlen(pw) > PASSWD_MAX) {
		r->status = 400;
		step_password(q, r, "That password is too long.");
		return;
	}
	if (strcmp(pw, pw2) != 0) {
		r->status = 400;
		step_password(q, r, "The two passwords differ.");
		return;
	}
	if (admin_session_set_password(a, pw) < 0 || admin_session_login(a, q, r) < 0) {
		admin_h_error(r, 503, "Not saved", "The password could not be saved; try again.");
		return;
	}
	log_info(NULL, "event=wizard-step step=1 ip=%s", q->ip);
	see_step(r, 2);
}

static void post_domain(struct admin *a, struct req *q, struct resp *r)
{
	const char *dom = admin_form_get(&q->form, "domain"),
		   *host = admin_form_get(&q->form, "hostname");
	char lo_dom[256], lo_host[256];
	int rc;

	if (!dom || !admin_hostname_ok(dom)) {
		r->status = 400;
		step_domain(a, q, r, "That is not a domain name Loft can use (like example.org).",
			    dom, host);
		return;
	}
	snprintf(lo_dom, sizeof(lo_dom), "%s", dom);
	for (char *p = lo_dom; *p; p++)
		if (*p >= 'A' && *p <= 'Z')
			*p = (char)(*p - 'A' + 'a');
	if (!host || !*host) {
		if (strlen(lo_dom) + 5 >= sizeof(lo_host) || strlen(lo_dom) + 5 > 253) {
			r->status = 400;
			step_domain(a, q, r, "That domain is too long.", dom, host);
			return;
		}
		/* the length was checked above; the test keeps GCC's truncation
		 * analysis (which cannot see that) quiet at -O1 */
		if (snprintf(lo_host, sizeof(lo_host), "mail.%s", lo_dom) >= (int)sizeof(lo_host))
			lo_host[0] = '\0';
	} else {
		snprintf(lo_host, sizeof(lo_host), "%s", host);
	}
	for (char *p = lo_host; *p; p++)
		if (*p >= 'A' && *p <= 'Z')
			*p = (char)(*p - 'A' + 'a');
	if (!admin_hostname_ok(lo_host)) {
		r->status = 400;
		step_domain(a, q, r,
			    "That is not a host name Loft can use (like mail.example.org).", dom,
			    host);
		return;
	}
	rc = store_domain_add(a->st, lo_dom);
	if (rc < 0 && rc != STORE_EXISTS) {
		r->status = 400;
		step_domain(a, q, r, store_errmsg(a->st), dom, host);
		return;
	}
	if (store_setting_set(a->st, "mail.domain", lo_dom) < 0 ||
	    store_setting_set(a->st, "mail.hostname", lo_host) < 0) {
		admin_h_error(r, 503, "Not saved", "The settings could not be saved; try again.");
		return;
	}
	/* loft-smtpd's banner and loft-queue's EHLO name follow it now */
	daemon_notify(a->d, "settings");
	/* the DKIM key now, so the DNS step shows its record at once */
	if (store_dkim_ensure(a->st, lo_dom, NULL) != 0)
		log_warn(NULL, "event=dkim-key-failed error=\"%s\"", store_errmsg(a->st));
	store_event_add(a->st, "admin", "mail domain set");
	set_step(a, 3);
	see_step(r, 3);
}

static void post_mailbox(struct admin *a, struct req *q, struct resp *r)
{
	const char *action = admin_form_get(&q->form, "action");
	const char *local = admin_form_get(&q->form, "local"),
		   *pw = admin_form_get(&q->form, "password");
	char dom[256], host[256], addr[STORE_ADDR_MAX + 2];
	int rc;

	if (!action || strcmp(action, "add") != 0) {
		set_step(a, 7);
		see_step(r, 7);
		return;
	}
	admin_names(a, dom, host);
	if (!local || !*local || strchr(local, '@') || strlen(local) > 64 ||
	    (size_t)snprintf(addr, sizeof(addr), "%s@%s", local, dom) >= sizeof(addr)) {
		r->status = 400;
		step_mailbox(a, q, r, "Type the name before the @ only (like: you).", NULL, local);
		return;
	}
	if (!pw || strlen(pw) < 8 || strlen(pw) > PASSWD_MAX) {
		r->status = 400;
		step_mailbox(a, q, r, "The mailbox password must have at least 8 characters.", NULL,
			     local);
		return;
	}
	rc = store_user_add(a->st, addr, pw, NULL);
	if (rc == STORE_EXISTS) {
		r->status = 409;
		step_mailbox(a, q, r, "That mailbox exists already.", NULL, local);
		return;
	}
	if (rc < 0) {
		r->status = 400;
		step_mailbox(a, q, r, "That name cannot be used for a mailbox.", NULL, local);
		return;
	}
	store_event_add(a->st, "admin", "mailbox added");
	log_info(NULL, "event=user-added by=wizard");
	step_mailbox(a, q, r, NULL, "Mailbox added.", NULL);
}

void admin_wizard_post(struct admin *a, struct req *q, struct resp *r)
{
	const char *s = admin_form_get(&q->form, "step");
	unsigned step;
	int reached;

	if (admin_setup_done(a)) {
		admin_resp_redirect(r, 303, "/admin");
		return;
	}
	if (!s || strnum_uint(s, NSTEPS, &step) < 0 || step < 1) {
		admin_h_error(r, 400, "Bad form", "The form names no set-up step.");
		return;
	}
	if (step == 1) {
		post_password(a, q, r);
		return;
	}
	if (!logged_in(q)) {
		admin_resp_redirect(r, 303, "/login");
		return;
	}
	reached = step_reached(a);
	if ((int)step > reached) {
		see_step(r, reached);
		return;
	}
	switch (step) {
	case 2:
		post_domain(a, q, r);
		return;
	case 4: {
		const char *action = admin_form_get(&q->form, "action");
		if (action && strcmp(action, "test") == 0) {
			if (admin_relay_test(a, q, r))
				return;
			step_outbound(a, q, r, NULL);
			return;
		}
		const char *err = admin_outbound_apply(a, q);
		if (err) {
			r->status = 400;
			step_outbound(a, q, r, err);
			return;
		}
		break;
	}
	case 3: {
		const char *action = admin_form_get(&q->form, "action");
		if (action && strcmp(action, "recheck") == 0) {
			admin_netwatch_recheck(a);
			step_network(a, q, r, ADMIN_RECHECK_MSG);
			return;
		}
		break;
	}
	case 6:
		post_mailbox(a, q, r);
		return;
	case 7: {
		const char *action = admin_form_get(&q->form, "action");

		if (action && strcmp(action, "acme") == 0) {
			const char *err = admin_cert_request(a);

			r->status = err ? 409 : 200;
			step_tls(a, q, r, err,
				 err ? NULL
				     : "Certificate requested: the outcome shows here in a minute "
				       "(reload the page).");
			return;
		}
		break;
	}
	case 8:
		if (store_setting_set(a->st, "setup.done", "1") < 0) {
			admin_h_error(r, 503, "Not saved",
				      "The settings could not be saved; try again.");
			return;
		}
		store_event_add(a->st, "admin", "set-up complete");
		log_info(NULL, "event=wizard-done ip=%s", q->ip);
		admin_resp_redirect(r, 303, "/admin");
		return;
	default:
		break;
	}
	set_step(a, (int)step + 1);
	see_step(r, (int)step + 1);
}
