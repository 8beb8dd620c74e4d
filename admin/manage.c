/*
 * The admin pages after set-up: users, aliases and catch-all, domains,
 * the outbound queue, route and relay, DNS records, the event log, and
 * the system page (processes, admin password, backup and restore).
 * Every change is a POST with the session's CSRF token (route.c checks
 * it), answered with a redirect carrying a short message code, so a
 * reload never repeats it.
 */
#include <fcntl.h>
#include <microhttpd.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "acme.h"
#include "daemon.h"
#include "dnscheck.h"
#include "html.h"
#include "log.h"
#include "pages.h"
#include "passwd.h"
#include "procstatus.h"
#include "relaytest.h"
#include "session.h"
#include "store_admin.h"
#include "store_backup.h"
#include "store_queue.h"
#include "store_settings.h"
#include "store_users.h"
#include "strnum.h"
#include "work.h"

#define QUEUE_SHOWN 500 /* queue rows on one page */

/* Wakes the queue runner (through loftd) after a retry. */
static void daemon_notify_queue(struct admin *a)
{
	daemon_notify(a->d, "queue");
}

/* The messages a redirect can carry (?m=CODE): fixed texts, so nothing a
 * visitor puts in a link is ever shown. */
static const struct {
	const char *code, *kind, *text;
} msgs[] = {
    {"user-added", "ok", "Mailbox added."},
    {"user-deleted", "ok", "Mailbox deleted."},
    {"passwd", "ok", "Password changed."},
    {"quota", "ok", "Quota saved."},
    {"alias-added", "ok", "Alias added."},
    {"alias-deleted", "ok", "Alias removed."},
    {"domain-added", "ok", "Domain added."},
    {"domain-deleted", "ok", "Domain removed."},
    {"retry", "ok", "The message will be tried again now."},
    {"flush", "ok", "Every waiting message will be tried again now."},
    {"deleted", "ok", "Removed from the queue."},
    {"saved", "ok", "Saved."},
    {"admin-pw", "ok", "Admin password changed; other sessions were logged out."},
    {"restored", "ok", "The backup was restored."},
    {"recheck", "ok", ADMIN_RECHECK_MSG},
    {"acme", "ok", "Certificate requested; this page shows the outcome in a minute."},
    {"gateway", "ok", "Gateway saved."},
    {"gateway-port", "ok",
     "Gateway saved. The gateway port opens or closes when Loft restarts (restart the box)."},
};

static void flash(struct req *q, struct resp *r)
{
	const char *m = admin_req_query(q, "m");

	for (size_t i = 0; m && i < sizeof(msgs) / sizeof(msgs[0]); i++)
		if (strcmp(m, msgs[i].code) == 0)
			admin_h_note(r, msgs[i].kind, msgs[i].text);
}

static void done(struct resp *r, const char *page, const char *code)
{
	char loc[128];

	snprintf(loc, sizeof(loc), "%s?m=%s", page, code);
	admin_resp_redirect(r, 303, loc);
}

/* A form that posts action (and one hidden field) to page, as a button. */
static void button(struct resp *r, const struct req *q, const char *page, const char *action,
		   const char *name, const char *value, const char *label, const char *cls)
{
	admin_h_raw(r, "<form class=\"inline\" method=\"post\" action=\"");
	admin_h_raw(r, page);
	admin_h_raw(r, "\">");
	admin_h_csrf(r, q);
	admin_h_raw(r, "<input type=\"hidden\" name=\"action\" value=\"");
	admin_h_raw(r, action);
	admin_h_raw(r, "\">");
	if (name) {
		admin_h_raw(r, "<input type=\"hidden\" name=\"");
		admin_h_raw(r, name);
		admin_h_raw(r, "\" value=\"");
		admin_h_esc(r, value);
		admin_h_raw(r, "\">");
	}
	admin_h_raw(r, "<button class=\"");
	admin_h_raw(r, cls);
	admin_h_raw(r, "\">");
	admin_h_raw(r, label);
	admin_h_raw(r, "</button></form>");
}

static void form_open(struct resp *r, const struct req *q, const char *page, const char *action)
{
	admin_h_raw(r, "<form method=\"post\" action=\"");
	admin_h_raw(r, page);
	admin_h_raw(r, "\">");
	admin_h_csrf(r, q);
	admin_h_raw(r, "<input type=\"hidden\" name=\"action\" value=\"");
	admin_h_raw(r, action);
	admin_h_raw(r, "\">");
}

/* A bad form value: the page again with the message, status 400. */
static void bad(struct resp *r, int status, const char *msg,
		void (*page)(struct admin *, struct req *, struct resp *), struct admin *a,
		struct req *q)
{
	buf_reset(&r->body);
	page(a, q, r);
	/* the message goes right after <main> */
	const char *m = strstr(r->body.data ? r->body.data : "", "<main>\n");
	if (m) {
		struct buf rest;
		size_t at = (size_t)(m - r->body.data) + 7;

		buf_init(&rest, ADMIN_PAGE_MAX);
		buf_append(&rest, r->body.data + at, r->body.len - at);
		r->body.len = at;
		r->body.data[at] = '\0';
		admin_h_note(r, "err", msg);
		buf_append(&r->body, rest.data, rest.len);
		buf_free(&rest);
	}
	r->status = status;
}

/* How a page answers one store write: rc >= 0 is success (an event of
 * kind, then a redirect to path?m=code, so a reload repeats nothing);
 * otherwise the first failure row whose rc matches (0 matches any) gives
 * the status and the message shown on page. */
struct failure {
	int rc, status;
	const char *msg;
};
struct outcome {
	void (*page)(struct admin *, struct req *, struct resp *);
	const char *path, *code, *kind, *event;
	struct failure fail[3];
};

static void answer(struct admin *a, struct req *q, struct resp *r, int rc, const struct outcome *o)
{
	if (rc >= 0) {
		store_event_add(a->st, o->kind ? o->kind : "admin", o->event);
		done(r, o->path, o->code);
		return;
	}
	for (size_t i = 0; i < sizeof(o->fail) / sizeof(o->fail[0]) && o->fail[i].msg; i++)
		if (o->fail[i].rc == rc || o->fail[i].rc == 0) {
			bad(r, o->fail[i].status, o->fail[i].msg, o->page, a, q);
			return;
		}
	bad(r, 500, "The change could not be saved.", o->page, a, q);
}

/* --- users -------------------------------------------------------------- */

static int user_row(void *arg, const char *address, int64_t messages, int64_t bytes, int64_t quota)
{
	struct resp *r = arg;
	char size[32], limit[32];

	strnum_size_human(size, sizeof(size), bytes > 0 ? (uint64_t)bytes : 0);
	admin_h_raw(r, "<tr><td><a href=\"/admin/user?address=");
	admin_h_esc(r, address);
	admin_h_raw(r, "\">");
	admin_h_esc(r, address);
	admin_h_fmt(r, "</a></td><td>%lld messages</td><td class=\"size\">", (long long)messages);
	admin_h_esc(r, size);
	if (quota > 0) {
		/* the share used, so a full mailbox stands out in the list */
		long long pct = bytes >= quota ? 100 : (long long)(bytes * 100 / quota);
		strnum_size_human(limit, sizeof(limit), (uint64_t)quota);
		admin_h_raw(r, " of ");
		admin_h_esc(r, limit);
		admin_h_fmt(r, " <span class=\"%s\">(%lld%%)</span>",
			    bytes >= quota ? "err" : "mut", pct);
	} else {
		admin_h_raw(r, " <span class=\"mut\">(no limit)</span>");
	}
	admin_h_raw(r, "</td></tr>\n");
	return 0;
}

static int domain_option(void *arg, const char *name)
{
	struct resp *r = arg;

	admin_h_raw(r, "<option>");
	admin_h_esc(r, name);
	admin_h_raw(r, "</option>");
	return 0;
}

void admin_page_users(struct admin *a, struct req *q, struct resp *r)
{
	admin_h_begin(r, "Mailboxes", q);
	admin_h_raw(r, "<h1>Mailboxes</h1>");
	flash(q, r);
	admin_h_raw(r, "<div class=\"card\"><table id=\"users\"><tbody>");
	if (store_admin_usage(a->st, user_row, r) == 0)
		admin_h_raw(r, "<tr><td class=\"mut\">No mailboxes yet.</td></tr>");
	admin_h_raw(r, "</tbody></table></div><div class=\"card\"><h2>Add a mailbox</h2>");
	form_open(r, q, "/admin/users", "add");
	admin_h_input(r, "Name before the @", "local", "text", NULL, "autocapitalize=\"none\"");
	admin_h_raw(
	    r, "<label for=\"f-domain\">Domain</label><select id=\"f-domain\" name=\"domain\">");
	store_domain_list(a->st, domain_option, r);
	admin_h_raw(r, "</select>");
	admin_h_input(r, "Password", "password", "password", NULL, "autocomplete=\"new-password\"");
	admin_h_raw(r, "<button>Add mailbox</button></form></div>");
	admin_h_end(r);
}

static int check_password(const char *pw)
{
	return pw && strlen(pw) >= 8 && strlen(pw) <= PASSWD_MAX;
}

void admin_page_users_post(struct admin *a, struct req *q, struct resp *r)
{
	const char *action = admin_form_get(&q->form, "action");
	const char *local = admin_form_get(&q->form, "local"),
		   *dom = admin_form_get(&q->form, "domain");
	const char *addr = admin_form_get(&q->form, "address"),
		   *pw = admin_form_get(&q->form, "password");
	char full[STORE_ADDR_MAX + 2];
	int rc;

	if (action && strcmp(action, "add") == 0) {
		if (!local || !*local || !dom || strchr(local, '@') ||
		    (size_t)snprintf(full, sizeof(full), "%s@%s", local, dom) >= sizeof(full)) {
			bad(r, 400, "Type the name before the @ and choose a domain.",
			    admin_page_users, a, q);
			return;
		}
		if (!check_password(pw)) {
			bad(r, 400, "The password must have at least 8 characters.",
			    admin_page_users, a, q);
			return;
		}
		static const struct outcome o = {
		    admin_page_users,
		    "/admin/users",
		    "user-added",
		    NULL,
		    "mailbox added",
		    {{STORE_EXISTS, 409, "That mailbox exists already."},
		     {0, 400, "That address cannot be used for a mailbox."}}};
		rc = store_user_add(a->st, full, pw, NULL);
		if (rc >= 0)
			log_info(NULL, "event=user-added by=admin");
		answer(a, q, r, rc, &o);
		return;
	}
	if (action && strcmp(action, "del") == 0 && addr) {
		static const struct outcome o = {
		    admin_page_users,  "/admin/users",
		    "user-deleted",    NULL,
		    "mailbox deleted", {{STORE_NOTFOUND, 404, "No such mailbox."}}};
		answer(a, q, r, store_user_del(a->st, addr), &o);
		return;
	}
	if (action && strcmp(action, "passwd") == 0 && addr) {
		if (!check_password(pw)) {
			bad(r, 400, "The password must have at least 8 characters.",
			    admin_page_users, a, q);
			return;
		}
		static const struct outcome o = {admin_page_users,
						 "/admin/users",
						 "passwd",
						 NULL,
						 "mailbox password reset",
						 {{STORE_NOTFOUND, 404, "No such mailbox."}}};
		answer(a, q, r, store_user_passwd(a->st, addr, pw), &o);
		return;
	}
	if (action && strcmp(action, "quota") == 0 && addr) {
		const char *qv = admin_form_get(&q->form, "quota");
		uint64_t bytes;

		if (!qv || strnum_size(qv, INT64_MAX, &bytes) < 0) {
			bad(r, 400,
			    "The quota is a size such as 500M or 2G (or a number of bytes); 0 "
			    "means no limit.",
			    admin_page_users, a, q);
			return;
		}
		static const struct outcome o = {admin_page_users,
						 "/admin/users",
						 "quota",
						 NULL,
						 "mailbox quota changed",
						 {{STORE_NOTFOUND, 404, "No such mailbox."}}};
		answer(a, q, r, store_user_quota_set(a->st, addr, (int64_t)bytes), &o);
		return;
	}
	bad(r, 400, "Unknown action.", admin_page_users, a, q);
}

void admin_page_user(struct admin *a, struct req *q, struct resp *r)
{
	const char *addr = admin_req_query(q, "address");
	int64_t id;
	char canon[STORE_ADDR_MAX + 1];

	if (!addr || store_user_find(a->st, addr, &id) != 0 ||
	    store_user_address(a->st, id, canon, sizeof(canon)) != 0) {
		admin_h_error(r, 404, "No such mailbox", "There is no mailbox with that address.");
		return;
	}
	admin_h_begin(r, canon, q);
	admin_h_raw(r, "<h1>");
	admin_h_esc(r, canon);
	admin_h_raw(r, "</h1>");
	admin_phone_setup(a, q, r, canon);
	{
		int64_t quota = 0, usage = 0;
		char used[32], limit[32], exact[32];

		store_user_quota_get(a->st, id, &quota, &usage);
		strnum_size_human(used, sizeof(used), usage > 0 ? (uint64_t)usage : 0);
		strnum_size_human(limit, sizeof(limit), quota > 0 ? (uint64_t)quota : 0);
		strnum_size_exact(exact, sizeof(exact), quota > 0 ? (uint64_t)quota : 0);
		admin_h_raw(r, "<div class=\"card\"><h2>Quota</h2><p id=\"quota\">");
		if (quota > 0)
			admin_h_fmt(r, "%s of %s used.", used, limit);
		else
			admin_h_fmt(r, "%s used, no limit.", used);
		admin_h_raw(r, "</p>");
		form_open(r, q, "/admin/users", "quota");
		admin_h_raw(r, "<input type=\"hidden\" name=\"address\" value=\"");
		admin_h_esc(r, canon);
		admin_h_raw(r, "\">");
		admin_h_fmt(
		    r,
		    "<label for=\"f-quota\">Limit, such as 500M or 2G (0 = no limit)</label>"
		    "<input id=\"f-quota\" name=\"quota\" type=\"text\" "
		    "autocapitalize=\"none\" spellcheck=\"false\" maxlength=\"32\" "
		    "value=\"%s\">",
		    exact);
		admin_h_raw(r, "<button>Save quota</button></form></div>");
	}
	admin_h_raw(r, "<div class=\"card\"><h2>Reset the password</h2>");
	form_open(r, q, "/admin/users", "passwd");
	admin_h_raw(r, "<input type=\"hidden\" name=\"address\" value=\"");
	admin_h_esc(r, canon);
	admin_h_raw(r, "\">");
	admin_h_input(r, "New password", "password", "password", NULL,
		      "autocomplete=\"new-password\"");
	admin_h_raw(r, "<button>Change password</button></form></div><div class=\"card\">"
		       "<h2>Delete</h2><p>Deletes the mailbox and all its mail.</p>");
	button(r, q, "/admin/users", "del", "address", canon, "Delete mailbox", "del");
	admin_h_raw(r, "</div><p><a href=\"/admin/user/profile.mobileconfig?address=");
	admin_h_esc(r, canon);
	admin_h_raw(r, "\">Download the Apple profile</a></p>");
	admin_h_end(r);
}

/* --- aliases ------------------------------------------------------------ */

static int alias_row(void *arg, const char *source, const char *target)
{
	void **ctx = arg;
	struct resp *r = ctx[0];
	const struct req *q = ctx[1];

	admin_h_raw(r, "<tr><td>");
	admin_h_esc(r, source[0] == '@' ? "anything" : "");
	admin_h_esc(r, source);
	admin_h_raw(r, "</td><td>");
	admin_h_esc(r, target);
	admin_h_raw(r,
		    "</td><td><form class=\"inline\" method=\"post\" action=\"/admin/aliases\">");
	admin_h_csrf(r, q);
	admin_h_raw(r, "<input type=\"hidden\" name=\"action\" value=\"del\">"
		       "<input type=\"hidden\" name=\"source\" value=\"");
	admin_h_esc(r, source);
	admin_h_raw(r, "\"><input type=\"hidden\" name=\"target\" value=\"");
	admin_h_esc(r, target);
	admin_h_raw(r, "\"><button class=\"del\">Remove</button></form></td></tr>\n");
	return 0;
}

void admin_page_aliases(struct admin *a, struct req *q, struct resp *r)
{
	const void *ctx[2] = {r, q};

	admin_h_begin(r, "Aliases", q);
	admin_h_raw(
	    r, "<h1>Aliases</h1><p>Mail to an alias goes to its targets: a mailbox here or any "
	       "address elsewhere. An alias of the form <code>@example.org</code> catches mail "
	       "to every address of the domain that has no mailbox or alias of its own.</p>");
	flash(q, r);
	admin_h_raw(r,
		    "<div class=\"card\"><table id=\"aliases\"><thead><tr><th>Alias</th><th>Goes to"
		    "</th><th></th></tr></thead><tbody>");
	if (store_alias_list(a->st, alias_row, ctx) == 0)
		admin_h_raw(r, "<tr><td colspan=\"3\" class=\"mut\">No aliases.</td></tr>");
	admin_h_raw(r, "</tbody></table></div><div class=\"card\"><h2>Add an alias</h2>");
	form_open(r, q, "/admin/aliases", "add");
	admin_h_input(r, "Alias (name@domain, or @domain for a catch-all)", "source", "text", NULL,
		      "autocapitalize=\"none\"");
	admin_h_input(r, "Goes to (an address)", "target", "text", NULL, "autocapitalize=\"none\"");
	admin_h_raw(r, "<button>Add alias</button></form></div>");
	admin_h_end(r);
}

void admin_page_aliases_post(struct admin *a, struct req *q, struct resp *r)
{
	const char *action = admin_form_get(&q->form, "action");
	const char *src = admin_form_get(&q->form, "source"),
		   *dst = admin_form_get(&q->form, "target");

	if (!action || !src || !dst) {
		bad(r, 400, "Fill in both fields.", admin_page_aliases, a, q);
		return;
	}
	if (strcmp(action, "add") == 0) {
		static const struct outcome o = {
		    admin_page_aliases,
		    "/admin/aliases",
		    "alias-added",
		    NULL,
		    "alias added",
		    {{STORE_EXISTS, 409, "That alias exists already."},
		     {STORE_NOTFOUND, 400, "The alias must be in one of your domains."},
		     {0, 400, "Those are not addresses Loft can use."}}};
		answer(a, q, r, store_alias_add(a->st, src, dst), &o);
		return;
	}
	if (strcmp(action, "del") == 0) {
		static const struct outcome o = {admin_page_aliases, "/admin/aliases",
						 "alias-deleted",    NULL,
						 "alias removed",    {{0, 404, "No such alias."}}};
		answer(a, q, r, store_alias_del(a->st, src, dst), &o);
		return;
	}
	bad(r, 400, "Unknown action.", admin_page_aliases, a, q);
}

/* --- domains ------------------------------------------------------------ */

static int domain_row(void *arg, const char *name)
{
	void **ctx = arg;
	struct resp *r = ctx[0];
	const struct req *q = ctx[1];

	admin_h_raw(r, "<tr><td>");
	admin_h_esc(r, name);
	admin_h_raw(r, "</td><td>");
	button(r, q, "/admin/domains", "del", "domain", name, "Remove", "del");
	admin_h_raw(r, "</td></tr>\n");
	return 0;
}

void admin_page_domains(struct admin *a, struct req *q, struct resp *r)
{
	const void *ctx[2] = {r, q};

	admin_h_begin(r, "Domains", q);
	admin_h_raw(r, "<h1>Domains</h1>");
	flash(q, r);
	admin_h_raw(r, "<div class=\"card\"><table id=\"domains\"><tbody>");
	if (store_domain_list(a->st, domain_row, ctx) == 0)
		admin_h_raw(r, "<tr><td class=\"mut\">No domains.</td></tr>");
	admin_h_raw(r, "</tbody></table><p class=\"mut\">A domain with mailboxes cannot be removed."
		       "</p></div><div class=\"card\"><h2>Add a domain</h2>");
	form_open(r, q, "/admin/domains", "add");
	admin_h_input(r, "Domain", "domain", "text", NULL, "autocapitalize=\"none\"");
	admin_h_raw(r, "<button>Add domain</button></form></div>");
	admin_h_end(r);
}

void admin_page_domains_post(struct admin *a, struct req *q, struct resp *r)
{
	const char *action = admin_form_get(&q->form, "action"),
		   *dom = admin_form_get(&q->form, "domain");

	if (!action || !dom || !admin_hostname_ok(dom)) {
		bad(r, 400, "That is not a domain name Loft can use (like example.org).",
		    admin_page_domains, a, q);
		return;
	}
	if (strcmp(action, "add") == 0) {
		static const struct outcome o = {
		    admin_page_domains,
		    "/admin/domains",
		    "domain-added",
		    NULL,
		    "domain added",
		    {{STORE_EXISTS, 409, "That domain exists already."},
		     {0, 400, "That domain cannot be added."}}};
		answer(a, q, r, store_domain_add(a->st, dom), &o);
		return;
	}
	if (strcmp(action, "del") == 0) {
		static const struct outcome o = {
		    admin_page_domains,
		    "/admin/domains",
		    "domain-deleted",
		    NULL,
		    "domain removed",
		    {{STORE_NOTFOUND, 404, "No such domain."},
		     {0, 409, "That domain still has mailboxes: delete them first."}}};
		answer(a, q, r, store_domain_del(a->st, dom), &o);
		return;
	}
	bad(r, 400, "Unknown action.", admin_page_domains, a, q);
}

/* --- queue -------------------------------------------------------------- */

struct qctx {
	struct resp *r;
	const struct req *q;
	int shown, waiting;
};

static int queue_row(void *arg, const struct store_queue_item *it)
{
	struct qctx *c = arg;
	struct resp *r = c->r;
	char t[32], id[24];
	time_t tt = (time_t)it->next_attempt;
	struct tm tm;
	int waiting = strcmp(it->status, "queued") == 0 || strcmp(it->status, "deferred") == 0;

	if (!waiting)
		return 0; /* history is on the log page */
	c->waiting++;
	if (c->shown >= QUEUE_SHOWN)
		return 0;
	c->shown++;
	gmtime_r(&tt, &tm);
	strftime(t, sizeof(t), "%Y-%m-%d %H:%M", &tm);
	snprintf(id, sizeof(id), "%lld", (long long)it->id);
	admin_h_raw(r, "<tr><td>");
	admin_h_esc(r, it->rcpt);
	admin_h_raw(r, "<div class=\"mut\">from ");
	admin_h_esc(r, it->mail_from[0] ? it->mail_from : "<>");
	admin_h_raw(r, "</div></td><td>");
	admin_h_fmt(r, "%d", it->attempts);
	admin_h_raw(r, "</td><td>");
	admin_h_esc(r, t);
	admin_h_raw(r, "<div class=\"mut\">");
	admin_h_esc(r, it->last_error);
	admin_h_raw(r, "</div></td><td>");
	button(r, c->q, "/admin/queue", "retry", "id", id, "Retry", "sec");
	button(r, c->q, "/admin/queue", "delete", "id", id, "Delete", "del");
	admin_h_raw(r, "</td></tr>\n");
	return 0;
}

void admin_page_queue(struct admin *a, struct req *q, struct resp *r)
{
	struct qctx c = {r, q, 0, 0};

	admin_h_begin(r, "Queue", q);
	admin_h_raw(r, "<h1>Outgoing queue</h1>");
	flash(q, r);
	admin_h_raw(r,
		    "<div class=\"card\"><table id=\"queue\"><thead><tr><th>To</th><th>Tries</th>"
		    "<th>Next try (UTC)</th><th></th></tr></thead><tbody>");
	store_queue_list(a->st, queue_row, &c);
	if (c.waiting == 0)
		admin_h_raw(r, "<tr><td colspan=\"4\" class=\"mut\">Nothing waiting.</td></tr>");
	admin_h_raw(r, "</tbody></table>");
	if (c.waiting > c.shown)
		admin_h_fmt(r, "<p class=\"mut\">%d more not shown.</p>", c.waiting - c.shown);
	admin_h_raw(r, "</div>");
	if (c.waiting) {
		button(r, q, "/admin/queue", "flush", NULL, NULL, "Retry all now", "");
	}
	admin_h_end(r);
}

void admin_page_queue_post(struct admin *a, struct req *q, struct resp *r)
{
	const char *action = admin_form_get(&q->form, "action"),
		   *ids = admin_form_get(&q->form, "id");
	uint64_t id = 0;
	int rc;

	if (action && strcmp(action, "flush") == 0) {
		if (store_admin_queue_retry_all(a->st) < 0) {
			bad(r, 500, "The queue could not be changed.", admin_page_queue, a, q);
			return;
		}
		store_event_add(a->st, "queue", "admin: retry all now");
		daemon_notify_queue(a);
		done(r, "/admin/queue", "flush");
		return;
	}
	if (!action || !ids || strnum_u64(ids, INT64_MAX, &id) < 0) {
		bad(r, 400, "Unknown queue entry.", admin_page_queue, a, q);
		return;
	}
	if (strcmp(action, "retry") == 0)
		rc = store_admin_queue_retry(a->st, (int64_t)id);
	else if (strcmp(action, "delete") == 0)
		rc = store_admin_queue_delete(a->st, (int64_t)id);
	else
		rc = -1;
	if (rc < 0) {
		bad(r, rc == STORE_NOTFOUND ? 404 : 400, "No such waiting message.",
		    admin_page_queue, a, q);
		return;
	}
	store_event_add(a->st, "queue",
			strcmp(action, "retry") == 0 ? "admin: retry now" : "admin: deleted");
	if (strcmp(action, "retry") == 0)
		daemon_notify_queue(a);
	done(r, "/admin/queue", strcmp(action, "retry") == 0 ? "retry" : "deleted");
}

/* --- route, DNS, log ---------------------------------------------------- */

void admin_page_route(struct admin *a, struct req *q, struct resp *r)
{
	admin_h_begin(r, "Route", q);
	admin_h_raw(r, "<h1>Sending mail out</h1>");
	flash(q, r);
	if (q->relay_state == 2)
		admin_h_note(r, q->relay_ok ? "ok" : "err", q->relay_msg);
	admin_route_status(a, r);
	admin_h_raw(r, "<div class=\"card\">");
	form_open(r, q, "/admin/route", "save");
	admin_outbound_fields(a, r);
	admin_h_raw(r, "<button>Save</button></form>");
	form_open(r, q, "/admin/route", "test");
	admin_h_raw(r, "<button class=\"sec\" id=\"relay-test\">Test the saved relay</button>"
		       "</form>");
	form_open(r, q, "/admin/route", "recheck");
	admin_h_raw(
	    r, "<button class=\"sec\" id=\"recheck\">Check the network now</button></form></div>");
	admin_gateway_card(a, q, r);
	admin_h_end(r);
}

/* POST action=test: suspends the request while the relay is tried
 * (returns 1), then renders the page with the outcome; shared with the
 * wizard's step 4 through admin_relay_test. */
int admin_relay_test(struct admin *a, struct req *q, struct resp *r)
{
	if (q->relay_state == 0 && admin_relaytest_start(a, q) == 0) {
		r->suspend = 1;
		return 1;
	}
	if (q->relay_state != 2) /* it could not start: the message says why */
		q->relay_state = 2;
	return 0;
}

void admin_page_route_post(struct admin *a, struct req *q, struct resp *r)
{
	const char *action = admin_form_get(&q->form, "action");
	const char *err;

	if (action && strcmp(action, "test") == 0) {
		if (admin_relay_test(a, q, r))
			return;
		admin_page_route(a, q, r);
		return;
	}
	if (action && strcmp(action, "recheck") == 0) {
		admin_netwatch_recheck(a);
		done(r, "/admin/route", "recheck");
		return;
	}
	if (action && strcmp(action, "gateway") == 0) {
		int port_changed;
		err = admin_gateway_apply(a, q, &port_changed);
		if (err)
			bad(r, 400, err, admin_page_route, a, q);
		else
			done(r, "/admin/route", port_changed ? "gateway-port" : "gateway");
		return;
	}
	err = admin_outbound_apply(a, q);

	if (err) {
		bad(r, 400, err, admin_page_route, a, q);
		return;
	}
	done(r, "/admin/route", "saved");
}

void admin_page_dns(struct admin *a, struct req *q, struct resp *r)
{
	if (admin_req_query(q, "check") && q->dns_state == 0 && admin_dnscheck_start(a, q) == 0) {
		r->suspend = 1;
		return;
	}
	admin_h_begin(r, "DNS", q);
	admin_h_raw(r, "<h1>DNS records to publish</h1>");
	admin_dns_records(a, q, r, "/admin/dns?check=1");
	admin_h_end(r);
}

/* The daemons' own recent log lines: loftd keeps the last ones of level
 * info and above in DATADIR/run/log-recent (board/logring.c).  Newest
 * first; ?only=warn keeps warnings and errors. */
static void log_lines(struct admin *a, struct req *q, struct resp *r)
{
	char path[4200], *data = NULL;
	const char *only = admin_req_query(q, "only");
	int warn = only && strcmp(only, "warn") == 0;
	size_t len = 0, shown = 0;
	FILE *f;

	admin_h_raw(r, "<h2>Recent log lines</h2><p>");
	admin_h_raw(r, warn ? "<a href=\"/admin/log\">All lines</a>"
			    : "<a href=\"/admin/log?only=warn\">Only warnings and errors</a>");
	admin_h_raw(r, "</p>");
	snprintf(path, sizeof(path), "%s/run/log-recent", a->datadir);
	f = fopen(path, "re");
	if (f) {
		/* at most LOGRING_LINES of 400 bytes: a bound well above that */
		data = malloc(256 * 1024 + 1);
		if (data)
			len = fread(data, 1, 256 * 1024, f);
		fclose(f);
	}
	admin_h_raw(r, "<pre id=\"logl\">");
	if (data) {
		data[len] = '\0';
		/* newest first: walk the lines from the end */
		char *end = data + len;
		while (end > data) {
			char *start = end;
			while (start > data && start[-1] != '\n')
				start--;
			if (end > start && end[-1] == '\n')
				end[-1] = '\0';
			else
				*end = '\0';
			if (*start && (!warn || strstr(start, "level=warn ") ||
				       strstr(start, "level=err "))) {
				admin_h_esc(r, start);
				admin_h_raw(r, "\n");
				shown++;
			}
			end = start > data ? start - 1 : data;
			if (end == data && start == data)
				break;
		}
	}
	free(data);
	admin_h_raw(r, "</pre>");
	if (!shown)
		admin_h_raw(r, "<p class=\"mut\">No log lines yet.</p>");
}

void admin_page_log(struct admin *a, struct req *q, struct resp *r)
{
	admin_h_begin(r, "Log", q);
	admin_h_raw(r, "<h1>Log</h1><div class=\"card\"><h2>Recent events</h2>");
	admin_events_table(a, r, 200);
	admin_h_raw(r, "</div><div class=\"card\">");
	log_lines(a, q, r);
	admin_h_raw(r, "</div>");
	admin_h_end(r);
}

/* --- certificate -------------------------------------------------------- */

void admin_cert_card(struct admin *a, const struct req *q, struct resp *r, int wizard)
{
	char fp[160], st[600], dom[256], host[256];

	admin_cert_fingerprint(a, fp, sizeof(fp));
	admin_names(a, dom, host);
	admin_h_raw(r, "<div class=\"card\" id=\"cert\"><h2>Certificate</h2>");
	if (fp[0]) {
		admin_h_raw(
		    r, "<p>SHA-256 fingerprint of the certificate in use (a phone may ask you to "
		       "compare it):</p><p><code id=\"fp\">");
		admin_h_esc(r, fp);
		admin_h_raw(r, "</code></p>");
	} else {
		admin_h_raw(r, "<p>No certificate yet: it is made when Loft starts.</p>");
	}
	if (store_setting_get(a->st, "acme.status", st, sizeof(st)) == 0) {
		admin_h_raw(r, "<p>Let's Encrypt: <b id=\"acme-status\">");
		admin_h_esc(r, strcmp(st, "running") == 0 && !admin_acme_running() ? "interrupted"
										   : st);
		admin_h_raw(r, "</b></p>");
	}
	admin_h_raw(r, "<p>A free certificate from Let's Encrypt needs this box reachable from the "
		       "internet on port 80 as <code>");
	admin_h_esc(r, host);
	admin_h_raw(r, "</code> (the A record and a port forward on your router).</p>");
	admin_h_raw(r, "<form method=\"post\" action=\"");
	admin_h_raw(r, wizard ? "/setup" : "/admin/certificate");
	admin_h_raw(r, "\">");
	admin_h_csrf(r, q);
	if (wizard)
		admin_h_raw(r, "<input type=\"hidden\" name=\"step\" value=\"7\">");
	admin_h_raw(
	    r, "<input type=\"hidden\" name=\"action\" value=\"acme\">"
	       "<button class=\"sec\">Get a certificate from Let's Encrypt</button></form></div>");
}

/* POST action=acme (wizard step 7 or /admin/certificate).  Returns NULL
 * when started, else a message. */
const char *admin_cert_request(struct admin *a)
{
	char dom[256], host[256];
	const char *why = NULL;

	admin_names(a, dom, host);
	if (!host[0] || !admin_hostname_ok(host))
		return "Set the mail domain and host name first.";
	if (admin_acme_start(a, host, &why) < 0)
		return why;
	store_event_add(a->st, "admin", "certificate requested");
	return NULL;
}

void admin_page_certificate_post(struct admin *a, struct req *q, struct resp *r)
{
	const char *err = admin_cert_request(a);

	if (err) {
		bad(r, 409, err, admin_page_system, a, q);
		return;
	}
	done(r, "/admin/system", "acme");
}

/* --- system ------------------------------------------------------------- */

void admin_procs_table(struct admin *a, struct resp *r)
{
	struct procstatus ps[16];
	char path[4200], t[32];
	int n;

	admin_h_raw(r,
		    "<h2>Processes</h2><table id=\"procs\"><thead><tr><th>Name"
		    "</th><th>State</th><th>Since (UTC)</th><th>Restarts</th></tr></thead><tbody>");
	snprintf(path, sizeof(path), "%s/run/status", a->datadir);
	n = procstatus_read(path, ps, sizeof(ps) / sizeof(ps[0]));
	for (int i = 0; i < n; i++) {
		time_t tt = (time_t)ps[i].started;
		struct tm tm;

		gmtime_r(&tt, &tm);
		strftime(t, sizeof(t), "%Y-%m-%d %H:%M", &tm);
		admin_h_raw(r, "<tr><td>");
		admin_h_esc(r, ps[i].name);
		admin_h_raw(r, "</td><td>");
		admin_h_esc(r, ps[i].state);
		admin_h_raw(r, "</td><td>");
		admin_h_esc(r, ps[i].started ? t : "");
		admin_h_fmt(r, "</td><td>%u</td></tr>", ps[i].restarts);
	}
	if (n <= 0)
		admin_h_raw(r, "<tr><td colspan=\"4\" class=\"mut\">Not known.</td></tr>");
	admin_h_raw(r, "</tbody></table>");
}

void admin_page_system(struct admin *a, struct req *q, struct resp *r)
{
	admin_h_begin(r, "System", q);
	admin_h_raw(r, "<h1>System</h1>");
	flash(q, r);
	admin_h_raw(r, "<div class=\"card\">");
	admin_procs_table(a, r);
	admin_h_raw(r, "</div>");
	admin_cert_card(a, q, r, 0);
	admin_h_raw(r, "<div class=\"card\"><h2>Admin password</h2>");
	form_open(r, q, "/admin/password", "change");
	admin_h_input(r, "Current password", "current", "password", NULL,
		      "autocomplete=\"current-password\"");
	admin_h_input(r, "New password", "password", "password", NULL,
		      "autocomplete=\"new-password\"");
	admin_h_input(r, "New password again", "password2", "password", NULL,
		      "autocomplete=\"new-password\"");
	admin_h_raw(
	    r,
	    "<button>Change</button></form></div><div class=\"card\"><h2>Backup</h2>"
	    "<p>One file with all mail, mailboxes and settings.</p>"
	    "<p><a class=\"btn\" href=\"/admin/backup\">Download a backup</a></p>"
	    "<h2>Restore</h2><p>Replaces everything with the backup's content.</p>"
	    "<form method=\"post\" enctype=\"multipart/form-data\" action=\"/admin/restore?csrf=");
	admin_h_esc(r, q->sess.csrf);
	admin_h_raw(r, "\"><input type=\"file\" name=\"backup\" required> "
		       "<button class=\"del\">Restore</button></form></div>");
	admin_h_end(r);
}

void admin_page_password_post(struct admin *a, struct req *q, struct resp *r)
{
	const char *cur = admin_form_get(&q->form, "current"),
		   *pw = admin_form_get(&q->form, "password");
	const char *pw2 = admin_form_get(&q->form, "password2"), *msg;
	int rc = admin_session_check_login(a, q, cur ? cur : "", &msg);

	if (rc == 2) {
		r->suspend = 1;
		return;
	}
	if (rc != 1) {
		bad(r, 403, "The current password is wrong.", admin_page_system, a, q);
		return;
	}
	if (!pw || strlen(pw) < 10 || strlen(pw) > PASSWD_MAX) {
		bad(r, 400, "The new password must have at least 10 characters.", admin_page_system,
		    a, q);
		return;
	}
	if (!pw2 || strcmp(pw, pw2) != 0) {
		bad(r, 400, "The two new passwords differ.", admin_page_system, a, q);
		return;
	}
	if (admin_session_set_password(a, pw) < 0 || admin_session_login(a, q, r) < 0) {
		bad(r, 500, "The password could not be saved.", admin_page_system, a, q);
		return;
	}
	done(r, "/admin/system", "admin-pw");
}

void admin_page_backup(struct admin *a, struct req *q, struct resp *r)
{
	char path[4200], name[64], disp[128];
	time_t now = time(NULL);
	struct tm tm;
	struct stat stt;
	int fd;

	/* a private file under DATADIR, unlinked once open: nothing is left
	 * behind whatever happens to the download */
	snprintf(path, sizeof(path), "%s/backup-download-%ld-%p.db", a->datadir, (long)getpid(),
		 (void *)q);
	if (q->work_state == 0) {
		/* seconds on a big database: on a thread of its own (work.c)
		 * while the request waits and the loop serves the others */
		unlink(path);
		if (admin_work_backup(a, q, path) == 0) {
			r->suspend = 1;
			return;
		}
		admin_h_error(r, 503, "Backup not started",
			      "Too much is going on right now; try again in a moment.");
		return;
	}
	q->work_state = 0;
	if (q->work_result < 0) {
		admin_h_error(r, 500, "Backup failed", "The backup could not be made.");
		unlink(path);
		return;
	}
	fd = open(path, O_RDONLY | O_CLOEXEC);
	unlink(path);
	if (fd < 0 || fstat(fd, &stt) < 0) {
		if (fd >= 0)
			close(fd);
		admin_h_error(r, 500, "Backup failed", "The backup could not be read.");
		return;
	}
	gmtime_r(&now, &tm);
	strftime(name, sizeof(name), "loft-backup-%Y%m%d-%H%M.db", &tm);
	snprintf(disp, sizeof(disp), "attachment; filename=\"%s\"", name);
	r->ctype = "application/vnd.sqlite3";
	admin_resp_header(r, "Content-Disposition", disp);
	r->fd = fd;
	r->fd_size = (uint64_t)stt.st_size;
	store_event_add(a->st, "admin", "backup downloaded");
	log_info(NULL, "event=backup-download bytes=%lld", (long long)stt.st_size);
}

/* Removes the uploaded file and what SQLite made beside it on opening. */
static void unlink_upload(const char *path)
{
	char side[4300];

	unlink(path);
	snprintf(side, sizeof(side), "%s-wal", path);
	unlink(side);
	snprintf(side, sizeof(side), "%s-shm", path);
	unlink(side);
	snprintf(side, sizeof(side), "%s-journal", path);
	unlink(side);
}

void admin_page_restore_post(struct admin *a, struct req *q, struct resp *r)
{
	const char *ct = MHD_lookup_connection_value(q->mc, MHD_HEADER_KIND, "Content-Type");
	const char *data, *why;
	size_t n;
	char path[4200], err[512];
	int fd;
	ssize_t w = 0;

	if (q->upload_err) {
		bad(r, 500, "The upload could not be stored.", admin_page_system, a, q);
		return;
	}
	if (!q->upload_map ||
	    admin_form_multipart_part(ct, q->upload_map, (size_t)q->upload_len, "backup", &data, &n,
				      &why) < 0 ||
	    n == 0) {
		bad(r, 400, "Choose a backup file to restore.", admin_page_system, a, q);
		return;
	}
	snprintf(path, sizeof(path), "%s/restore-upload-%ld.db", a->datadir, (long)getpid());
	unlink(path);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd >= 0) {
		size_t off = 0;
		while (off < n && (w = write(fd, data + off, n - off)) > 0)
			off += (size_t)w;
		if (off != n || fsync(fd) < 0)
			w = -1;
		close(fd);
	}
	if (fd < 0 || w < 0) {
		unlink(path);
		bad(r, 500, "The upload could not be stored.", admin_page_system, a, q);
		return;
	}
	/* store_restore checks integrity and schema before replacing
	 * anything; on any failure the live database is untouched */
	int rrc = store_restore(path, daemon_db_path(a->d), err, sizeof(err));
	unlink_upload(path);
	if (rrc < 0) {
		log_warn(NULL, "event=restore-refused error=\"%s\"", err);
		bad(r, 400, "That file is not a Loft backup this version can restore.",
		    admin_page_system, a, q);
		return;
	}
	log_info(NULL, "event=restored bytes=%zu", n);
	store_event_add(a->st, "admin", "backup restored");
	daemon_notify(a->d, "mail");
	/* the sessions are the backup's now: log in again */
	admin_resp_redirect(r, 303, "/login");
}
