/*
 * Sessions, CSRF tokens, the admin password and the login throttle; see
 * session.h.
 */
#include <mbedtls/sha256.h>
#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "authlimit.h"
#include "evloop.h"
#include "http.h"
#include "html.h"
#include "log.h"
#include "passwd.h"
#include "session.h"
#include "store_admin.h"
#include "store_settings.h"
#include "work.h"

#define ANON_TTL_S 3600 /* an unauthenticated session (login form, wizard step 1) */
#define KEEP_ANON  1000 /* anonymous sessions kept at most */
#define PW_KEY	   "admin.password_hash"

static int64_t now_s(void)
{
	return (int64_t)time(NULL);
}

static void hex(const unsigned char *p, size_t n, char *out)
{
	static const char d[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = d[p[i] >> 4];
		out[2 * i + 1] = d[p[i] & 15];
	}
	out[2 * n] = '\0';
}

static void random_hex(char *out, size_t bytes)
{
	unsigned char r[32];
	size_t got = 0;

	if (bytes > sizeof(r))
		bug("event=random-too-long");
	while (got < bytes) {
		ssize_t n = getrandom(r + got, bytes - got, 0);
		if (n < 0)
			fatal("event=getrandom-failed");
		got += (size_t)n;
	}
	hex(r, bytes, out);
}

static void token_hash(const char *token, char out[STORE_ADMIN_HASH_MAX + 1])
{
	unsigned char d[32];

	mbedtls_sha256_ret((const unsigned char *)token, strlen(token), d, 0);
	hex(d, sizeof(d), out);
}

static int token_ok(const char *t)
{
	size_t n = strlen(t);

	if (n != 64)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!((t[i] >= '0' && t[i] <= '9') || (t[i] >= 'a' && t[i] <= 'f')))
			return 0;
	return 1;
}

void admin_session_load(struct admin *a, struct req *q)
{
	const char *tok = MHD_lookup_connection_value(q->mc, MHD_COOKIE_KIND, SESSION_COOKIE);
	int64_t now = now_s();

	q->has_session = 0;
	if (!tok || !token_ok(tok))
		return;
	token_hash(tok, q->sess_hash);
	if (store_admin_session_get(a->st, q->sess_hash, now, &q->sess) != 0)
		return;
	q->has_session = 1;
	/* a logged-in session lives session_idle_s after its last use */
	if (q->sess.authed && now - q->sess.last_seen >= 60)
		store_admin_session_touch(a->st, q->sess_hash, now, now + a->session_idle_s);
}

static void set_cookie(struct req *q, struct resp *r, const char *token, int64_t max_age)
{
	char c[256];

	snprintf(c, sizeof(c),
		 SESSION_COOKIE "=%s; Path=/; Max-Age=%lld; HttpOnly; SameSite=Strict%s", token,
		 (long long)max_age, q->https ? "; Secure" : "");
	admin_resp_header(r, "Set-Cookie", c);
}

static int session_new(struct admin *a, struct req *q, struct resp *r, int authed)
{
	char token[65], csrf[33];
	int64_t now = now_s(), ttl = authed ? a->session_idle_s : ANON_TTL_S;

	store_admin_session_purge(a->st, now, KEEP_ANON);
	random_hex(token, 32);
	random_hex(csrf, 16);
	token_hash(token, q->sess_hash);
	if (store_admin_session_add(a->st, q->sess_hash, csrf, authed, q->ip, now, now + ttl) < 0) {
		log_err(NULL, "event=session-add-failed error=\"%s\"", store_errmsg(a->st));
		admin_h_error(r, 503, "Try again", "The session could not be stored.");
		return -1;
	}
	memset(&q->sess, 0, sizeof(q->sess));
	memcpy(q->sess.csrf, csrf, sizeof(csrf));
	q->sess.authed = authed;
	q->sess.created = q->sess.last_seen = now;
	q->sess.expires = now + ttl;
	q->has_session = 1;
	/* a logged-in cookie lives as long as the browser session; the row's
	 * expiry is what counts */
	set_cookie(q, r, token, authed ? 7 * 86400 : ANON_TTL_S);
	return 0;
}

int admin_session_ensure(struct admin *a, struct req *q, struct resp *r)
{
	return q->has_session ? 0 : session_new(a, q, r, 0);
}

int admin_session_login(struct admin *a, struct req *q, struct resp *r)
{
	if (q->has_session)
		store_admin_session_del(a->st, q->sess_hash);
	q->has_session = 0;
	return session_new(a, q, r, 1);
}

void admin_session_logout(struct admin *a, struct req *q, struct resp *r)
{
	if (q->has_session)
		store_admin_session_del(a->st, q->sess_hash);
	q->has_session = 0;
	memset(&q->sess, 0, sizeof(q->sess));
	set_cookie(q, r, "", 0);
}

int admin_session_csrf_ok(const struct req *q)
{
	/* an upload's body is not a form: its token comes in the query (the
	 * page that holds the upload form puts it in the action URL) */
	const char *t =
	    q->multipart ? admin_req_query(q, "csrf") : admin_form_get(&q->form, "csrf");
	size_t n;
	unsigned char diff = 0;

	if (!q->has_session || !t || q->form_bad)
		return 0;
	n = strlen(q->sess.csrf);
	if (n == 0 || strlen(t) != n)
		return 0;
	for (size_t i = 0; i < n; i++)
		diff |= (unsigned char)(t[i] ^ q->sess.csrf[i]);
	return diff == 0;
}

int admin_session_have_password(struct admin *a)
{
	char h[PASSWD_HASH_MAX];

	return store_setting_get(a->st, PW_KEY, h, sizeof(h)) == 0 && h[0];
}

int admin_session_set_password(struct admin *a, const char *pw)
{
	char h[PASSWD_HASH_MAX];

	if (passwd_hash(pw, h, sizeof(h)) < 0)
		return -1;
	if (store_setting_set(a->st, PW_KEY, h) < 0)
		return -1;
	store_admin_session_del_authed(a->st);
	store_event_add(a->st, "admin", "admin password set");
	return 0;
}

static void on_delay(struct evloop *ev, struct ev_timer *t, void *arg)
{
	struct req *q = arg;

	(void)ev;
	(void)t;
	admin_http_resume(q);
}

int admin_session_check_login(struct admin *a, struct req *q, const char *pw, const char **msg)
{
	char h[PASSWD_HASH_MAX];
	uint64_t now = ev_clock_ms();
	int rc;

	*msg = "Wrong password.";
	/* the check came back from its thread (work.c) */
	if (q->work_state == 2) {
		q->work_state = 0;
		rc = q->work_result;
		goto checked;
	}
	if (!q->delayed) {
		int64_t delay = authlimit_check(a->al, q->ip, "admin", now);

		if (delay < 0) {
			log_info(NULL, "event=admin-login-refused ip=%s reason=throttled", q->ip);
			*msg =
			    "Too many failed logins from your address. Try again in a few minutes.";
			return 0;
		}
		if (delay > 0) {
			/* answer later, without blocking anyone else */
			q->delayed = 1;
			if (!q->delay_timer)
				q->delay_timer = ev_timer_new(a->ev, on_delay, q);
			ev_timer_arm(q->delay_timer, (uint64_t)delay);
			return 2;
		}
	}
	q->delayed = 0;
	if (store_setting_get(a->st, PW_KEY, h, sizeof(h)) != 0) {
		*msg = "No admin password is set yet.";
		return 0;
	}
	/* yescrypt takes a large fraction of a second on the board: on a
	 * thread of its own, the request suspended meanwhile */
	if (admin_work_pwcheck(a, q, pw, h) == 0) {
		explicit_bzero(h, sizeof(h));
		return 2;
	}
	explicit_bzero(h, sizeof(h));
	*msg = "The password could not be checked right now; try again.";
	return 0;
checked:
	if (rc == 1) {
		authlimit_success(a->al, q->ip, "admin");
		log_info(NULL, "event=admin-login ip=%s", q->ip);
		store_event_add(a->st, "admin", "admin logged in");
		return 1;
	}
	if (rc < 0) {
		*msg = "The password could not be checked right now; try again.";
		return 0;
	}
	authlimit_fail(a->al, q->ip, "admin", now);
	log_info(NULL, "event=admin-login-failed ip=%s", q->ip);
	return 0;
}
