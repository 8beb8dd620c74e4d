/*
 * HTML output: escaping, the page frame, the built-in stylesheet.  The
 * pages are plain server-rendered forms that work without JavaScript;
 * the only script adds "copy" buttons.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "html.h"

const char admin_css[] =
    ":root{--fg:#1d2733;--mut:#5b6775;--bg:#f6f7f9;--card:#fff;--acc:#1f6feb;--ok:#137333;"
    "--err:#b3261e;--line:#d9dee4}\n"
    "*{box-sizing:border-box}\n"
    "body{margin:0;font:16px/1.5 system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;"
    "color:var(--fg);background:var(--bg)}\n"
    "header{background:#12263a;color:#fff;padding:.6rem 1rem;display:flex;flex-wrap:wrap;"
    "gap:.4rem 1rem;align-items:center}\n"
    "header a{color:#fff;text-decoration:none}header .brand{font-weight:700;margin-right:auto}\n"
    "nav{display:flex;flex-wrap:wrap;gap:.3rem .8rem;font-size:.95rem}\n"
    "main{max-width:52rem;margin:0 auto;padding:1rem}\n"
    "h1{font-size:1.5rem;margin:.5rem 0 1rem}h2{font-size:1.15rem;margin:1.5rem 0 .5rem}\n"
    ".card{background:var(--card);border:1px solid var(--line);border-radius:.6rem;"
    "padding:1rem;margin:0 0 1rem}\n"
    "label{display:block;font-weight:600;margin:.8rem 0 .2rem}\n"
    "input[type=text],input[type=password],input[type=email],input[type=number],select{"
    "width:100%;max-width:28rem;padding:.55rem;border:1px solid var(--line);border-radius:.4rem;"
    "font:inherit}\n"
    "button,.btn{display:inline-block;margin-top:1rem;padding:.55rem 1.1rem;border:0;"
    "border-radius:.4rem;background:var(--acc);color:#fff;font:inherit;cursor:pointer;"
    "text-decoration:none}\n"
    "button.sec,.btn.sec{background:#e8ecf1;color:var(--fg)}button.del{background:var(--err)}\n"
    ".note{padding:.6rem .8rem;border-radius:.4rem;margin:0 0 1rem}\n"
    ".note.ok{background:#e6f4ea;color:var(--ok)}.note.err{background:#fce8e6;color:var(--err)}\n"
    "table{border-collapse:collapse;width:100%;font-size:.95rem}\n"
    "th,td{text-align:left;padding:.4rem;border-bottom:1px solid var(--line);vertical-align:top;"
    "overflow-wrap:anywhere}\n"
    "code,pre{font:.9rem ui-monospace,monospace;background:#eef1f4;border-radius:.3rem;"
    "padding:.1rem .3rem;overflow-wrap:anywhere;white-space:pre-wrap}\n"
    ".steps{color:var(--mut);font-size:.9rem}.mut{color:var(--mut)}\n"
    ".stat{display:inline-block;min-width:9rem;margin:0 1rem .6rem 0}"
    ".stat b{display:block;font-size:1.4rem}\n"
    ".inline{display:inline}.inline button{margin-top:0;padding:.3rem .7rem}\n"
    "svg.qr{width:12rem;height:12rem}\n"
    "svg.chart{display:block;width:100%;max-width:30rem;height:auto}\n"
    "th{overflow-wrap:normal}.card>h2:first-child{margin-top:0}\n"
    "button.inline{margin-top:0;padding:.25rem .7rem}\n"
    "@media (max-width:40rem){main{padding:.6rem}th,td{padding:.3rem}"
    "#dns thead{display:none}#dns tr{display:block;padding:.5rem 0;"
    "border-bottom:1px solid var(--line)}#dns td{display:block;border:0;padding:.1rem 0}}\n";

/* Copy buttons for the DNS records: progressive enhancement only. */
const char admin_js[] =
    "document.querySelectorAll('[data-copy]').forEach(function(b){b.hidden=false;"
    "b.addEventListener('click',function(){var t=document.getElementById(b.dataset.copy);"
    "if(t&&navigator.clipboard){navigator.clipboard.writeText(t.textContent);"
    "b.textContent='Copied';}});});\n";

static void put(struct resp *r, const char *s, size_t n)
{
	if (buf_append(&r->body, s, n) < 0)
		r->status = 500; /* the page outgrew ADMIN_PAGE_MAX: a bug */
}

void h_raw(struct resp *r, const char *s)
{
	put(r, s, strlen(s));
}

void h_esc(struct resp *r, const char *s)
{
	const char *start = s;

	if (!s)
		return;
	for (; *s; s++) {
		const char *e = NULL;

		switch (*s) {
		case '&':
			e = "&amp;";
			break;
		case '<':
			e = "&lt;";
			break;
		case '>':
			e = "&gt;";
			break;
		case '"':
			e = "&quot;";
			break;
		case '\'':
			e = "&#39;";
			break;
		}
		if (e) {
			put(r, start, (size_t)(s - start));
			put(r, e, strlen(e));
			start = s + 1;
		}
	}
	put(r, start, (size_t)(s - start));
}

void h_fmt(struct resp *r, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	if (buf_vprintf(&r->body, fmt, ap) < 0)
		r->status = 500;
	va_end(ap);
}

void h_begin(struct resp *r, const char *title, const struct req *nav)
{
	h_raw(r, "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
		 "<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">"
		 "<title>");
	h_esc(r, title);
	h_raw(r, " · Loft</title><link rel=\"stylesheet\" href=\"/static/loft.css\"></head>\n"
		 "<body><header><a class=\"brand\" href=\"/\">Loft</a>");
	if (nav)
		h_raw(r,
		      "<nav><a href=\"/admin\">Dashboard</a><a href=\"/admin/users\">Users</a>"
		      "<a href=\"/admin/aliases\">Aliases</a><a href=\"/admin/domains\">Domains</a>"
		      "<a href=\"/admin/queue\">Queue</a><a href=\"/admin/route\">Route</a>"
		      "<a href=\"/admin/dns\">DNS</a><a href=\"/admin/log\">Log</a>"
		      "<a href=\"/admin/system\">System</a>"
		      "<form class=\"inline\" method=\"post\" action=\"/logout\">");
	if (nav) {
		h_csrf(r, nav);
		h_raw(r, "<button class=\"sec\">Log out</button></form></nav>");
	}
	h_raw(r, "</header>\n<main>\n");
}

void h_end(struct resp *r)
{
	h_raw(r, "</main><script src=\"/static/loft.js\"></script></body></html>\n");
}

void h_error(struct resp *r, int status, const char *title, const char *msg)
{
	buf_reset(&r->body);
	r->status = status;
	h_begin(r, title, NULL);
	h_raw(r, "<h1>");
	h_esc(r, title);
	h_raw(r, "</h1><div class=\"note err\">");
	h_esc(r, msg);
	h_raw(r, "</div><p><a href=\"/\">Back to the start</a></p>");
	h_end(r);
}

void h_csrf(struct resp *r, const struct req *q)
{
	h_raw(r, "<input type=\"hidden\" name=\"csrf\" value=\"");
	h_esc(r, q->sess.csrf);
	h_raw(r, "\">");
}

void h_input(struct resp *r, const char *label, const char *name, const char *type,
	     const char *value, const char *extra)
{
	h_raw(r, "<label for=\"f-");
	h_esc(r, name);
	h_raw(r, "\">");
	h_esc(r, label);
	h_raw(r, "</label><input id=\"f-");
	h_esc(r, name);
	h_raw(r, "\" name=\"");
	h_esc(r, name);
	h_raw(r, "\" type=\"");
	h_esc(r, type);
	h_raw(r, "\"");
	if (value && strcmp(type, "password") != 0) {
		h_raw(r, " value=\"");
		h_esc(r, value);
		h_raw(r, "\"");
	}
	if (extra) {
		h_raw(r, " ");
		h_raw(r, extra);
	}
	h_raw(r, ">\n");
}

void h_note(struct resp *r, const char *kind, const char *msg)
{
	h_raw(r, "<div class=\"note ");
	h_raw(r, kind);
	h_raw(r, "\" role=\"status\">");
	h_esc(r, msg);
	h_raw(r, "</div>\n");
}
