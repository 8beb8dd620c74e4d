/*
 * The front pages: the built-in assets, "/" (wizard or dashboard), login
 * and logout, and the dashboard.
 */
#include <stdio.h>
#include <string.h>
#include <sys/statvfs.h>
#include <time.h>

#include "html.h"
#include "log.h"
#include "pages.h"
#include "session.h"
#include "store_admin.h"
#include "store_smtpstats.h"
#include "store_settings.h"

void admin_page_css(struct admin *a, struct req *q, struct resp *r)
{
	(void)a;
	(void)q;
	r->ctype = "text/css; charset=utf-8";
	admin_h_raw(r, admin_css);
}

void admin_page_js(struct admin *a, struct req *q, struct resp *r)
{
	(void)a;
	(void)q;
	r->ctype = "text/javascript; charset=utf-8";
	admin_h_raw(r, admin_js);
}

void admin_page_root(struct admin *a, struct req *q, struct resp *r)
{
	(void)q;
	admin_resp_redirect(r, 302, admin_setup_done(a) ? "/admin" : "/setup");
}

static void login_form(struct req *q, struct resp *r, const char *err)
{
	admin_h_begin(r, "Log in", NULL);
	admin_h_raw(r, "<h1>Log in</h1>");
	if (err)
		admin_h_note(r, "err", err);
	admin_h_raw(r, "<div class=\"card\"><form method=\"post\" action=\"/login\">");
	admin_h_csrf(r, q);
	admin_h_input(r, "Admin password", "password", "password", NULL,
		      "required autofocus autocomplete=\"current-password\"");
	admin_h_raw(r, "<button>Log in</button></form></div>");
	admin_h_end(r);
}

void admin_page_login(struct admin *a, struct req *q, struct resp *r)
{
	if (!admin_session_have_password(a)) {
		admin_resp_redirect(r, 302, "/setup");
		return;
	}
	if (admin_session_ensure(a, q, r) < 0)
		return;
	login_form(q, r, NULL);
}

void admin_page_login_post(struct admin *a, struct req *q, struct resp *r)
{
	const char *pw = admin_form_get(&q->form, "password"), *msg = NULL;
	int rc;

	rc = admin_session_check_login(a, q, pw ? pw : "", &msg);
	if (rc == 2) {
		r->suspend = 1;
		return;
	}
	if (rc == 1) {
		if (admin_session_login(a, q, r) == 0)
			admin_resp_redirect(r, 303, admin_setup_done(a) ? "/admin" : "/setup");
		return;
	}
	r->status = strstr(msg, "Too many") ? 429 : 403;
	login_form(q, r, msg);
}

void admin_page_logout(struct admin *a, struct req *q, struct resp *r)
{
	admin_session_logout(a, q, r);
	admin_resp_redirect(r, 303, "/login");
}

/* --- dashboard ---------------------------------------------------------- */

static void human_bytes(char *out, size_t n, double v)
{
	const char *u[] = {"B", "KB", "MB", "GB", "TB"};
	int i = 0;

	while (v >= 1024 && i < 4) {
		v /= 1024;
		i++;
	}
	snprintf(out, n, i ? "%.1f %s" : "%.0f %s", v, u[i]);
}

static void stat_box(struct resp *r, const char *label, const char *value, const char *id)
{
	admin_h_raw(r, "<span class=\"stat\"");
	if (id) {
		admin_h_raw(r, " id=\"");
		admin_h_raw(r, id);
		admin_h_raw(r, "\"");
	}
	admin_h_raw(r, "><b>");
	admin_h_esc(r, value);
	admin_h_raw(r, "</b>");
	admin_h_esc(r, label);
	admin_h_raw(r, "</span>");
}

/* The last 14 days as an inline SVG bar chart (no script, no external
 * image): per day a bar of what went through -- sent and bounced (loft-queue)
 * and received on the MX port (loft-smtpd) -- and beside it a bar of what
 * loft-smtpd refused (recipients, connections, logins, message bodies;
 * store_smtpstats.h).  Each part has a <title> with its number. */
static void chart(struct admin *a, struct resp *r)
{
	enum { DAYS = 14, W = 20, H = 100, BW = 8 };
	static const struct {
		const char *fill, *what;
	} part[4] = {{"#1f6feb", "sent"},
		     {"#2da44e", "received"},
		     {"#b3261e", "bounced"},
		     {"#9a6700", "refused"}};
	int64_t v[4][DAYS], max = 1, total = 0, now = (int64_t)time(NULL);

	if (store_admin_daily(a->st, now, DAYS, v[0], v[2]) < 0 ||
	    store_smtp_daily(a->st, now, DAYS, v[1], v[3]) < 0)
		return;
	for (int i = 0; i < DAYS; i++) {
		int64_t through = v[0][i] + v[1][i] + v[2][i];
		if (through > max)
			max = through;
		if (v[3][i] > max)
			max = v[3][i];
		total += through + v[3][i];
	}
	if (total == 0)
		admin_h_raw(r, "<p class=\"mut\">No mail sent, received or refused in the last 14 "
			       "days.</p>");
	admin_h_fmt(r,
		    "<svg role=\"img\" aria-label=\"Messages sent, received, bounced and "
		    "refused per day, last 14 days\" "
		    "viewBox=\"0 0 %d %d\" class=\"chart\" id=\"chart\">"
		    "<line x1=\"0\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"#d9dee4\"/>",
		    DAYS * W, H + 26, H, DAYS * W, H);
	for (int i = 0; i < DAYS; i++) {
		int y = H;
		/* the stacked bar of what went through, then the refused one */
		for (int k = 0; k < 4; k++) {
			int h = (int)(v[k][i] * H / max);
			if (k == 3)
				y = H;
			y -= h;
			admin_h_fmt(r,
				    "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" "
				    "fill=\"%s\" class=\"c-%s\"><title>%lld %s</title></rect>",
				    i * W + (k == 3 ? 2 + BW : 2), y, BW, h, part[k].fill,
				    part[k].what, (long long)v[k][i], part[k].what);
		}
	}
	admin_h_fmt(r,
		    "<text x=\"0\" y=\"%d\" font-size=\"10\">14 days ago</text>"
		    "<text x=\"%d\" y=\"%d\" font-size=\"10\" text-anchor=\"end\">today</text>",
		    H + 12, DAYS * W, H + 12);
	/* the legend, in the bars' colours */
	for (int k = 0; k < 4; k++)
		admin_h_fmt(r,
			    "<rect x=\"%d\" y=\"%d\" width=\"8\" height=\"8\" fill=\"%s\"/>"
			    "<text x=\"%d\" y=\"%d\" font-size=\"10\">%s</text>",
			    k * 70, H + 17, part[k].fill, k * 70 + 11, H + 25, part[k].what);
	admin_h_raw(r, "</svg>");
}

static int event_row(void *arg, int64_t id, int64_t when, const char *kind, const char *text)
{
	struct resp *r = arg;
	char t[32];
	time_t tt = (time_t)when;
	struct tm tm;

	(void)id;
	gmtime_r(&tt, &tm);
	strftime(t, sizeof(t), "%Y-%m-%d %H:%M", &tm);
	admin_h_raw(r, "<tr><td>");
	admin_h_esc(r, t);
	admin_h_raw(r, "</td><td>");
	admin_h_esc(r, kind);
	admin_h_raw(r, "</td><td>");
	admin_h_esc(r, text);
	admin_h_raw(r, "</td></tr>\n");
	return 0;
}

void admin_events_table(struct admin *a, struct resp *r, int limit)
{
	admin_h_raw(r, "<table><thead><tr><th>When (UTC)</th><th>What</th><th></th></tr></thead>"
		       "<tbody>");
	if (store_event_list(a->st, limit, event_row, r) == 0)
		admin_h_raw(r, "<tr><td colspan=\"3\" class=\"mut\">Nothing yet.</td></tr>");
	admin_h_raw(r, "</tbody></table>");
}

void admin_page_dashboard(struct admin *a, struct req *q, struct resp *r)
{
	struct store_admin_stats s;
	struct statvfs vfs;
	char v[64];

	if (!admin_setup_done(a)) {
		admin_resp_redirect(r, 302, "/setup");
		return;
	}
	admin_h_begin(r, "Dashboard", q);
	admin_h_raw(r, "<h1>Dashboard</h1>");
	if (store_admin_stats(a->st, &s) < 0) {
		admin_h_note(r, "err", "The database could not be read.");
		admin_h_end(r);
		return;
	}
	admin_h_raw(r, "<div class=\"card\"><h2>Mail</h2>");
	snprintf(v, sizeof(v), "%lld", (long long)s.users);
	stat_box(r, "mailboxes", v, "st-users");
	snprintf(v, sizeof(v), "%lld", (long long)s.messages);
	stat_box(r, "messages stored", v, "st-messages");
	snprintf(v, sizeof(v), "%lld", (long long)s.queue_waiting);
	stat_box(r, "waiting to go out", v, "st-queue");
	snprintf(v, sizeof(v), "%lld", (long long)s.queue_bounced);
	stat_box(r, "bounced", v, "st-bounced");
	admin_h_raw(r, "<h2>Sent per day</h2>");
	chart(a, r);
	admin_h_raw(r, "</div>");
	admin_route_status(a, r);
	admin_h_raw(r, "<div class=\"card\">");
	admin_procs_table(a, r);
	admin_h_raw(r, "</div>");
	admin_h_raw(r, "<div class=\"card\"><h2>Storage</h2>");
	human_bytes(v, sizeof(v), (double)s.db_bytes);
	stat_box(r, "database", v, "st-db");
	if (statvfs(a->datadir, &vfs) == 0) {
		human_bytes(v, sizeof(v), (double)vfs.f_bavail * (double)vfs.f_frsize);
		stat_box(r, "disk free", v, "st-disk");
	}
	admin_h_raw(r, "</div><div class=\"card\"><h2>Recent events</h2>");
	admin_events_table(a, r, 10);
	admin_h_raw(r, "<p><a href=\"/admin/log\">All events</a></p></div>");
	admin_h_end(r);
}
