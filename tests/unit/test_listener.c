/*
 * lib/service/listener: the accept loop and the session limits on a real
 * loopback socket (in total, per address, refusal on a plain port, a
 * silent close on an implicit-TLS port, counts freed by
 * listener_session_end, stop), and logins under the throttle with a real
 * mailstore and password-check pool (right, wrong, the failure delay
 * counted from the attempt, refusal past the limit, busy pool, cancel),
 * and the deadlines of a connection (config keys and defaults; handshake,
 * login, session deadlines and the idle time before and after login, on
 * a conn over a socketpair).
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "authcheck.h"
#include "authlimit.h"
#include "config.h"
#include "conn.h"
#include "evloop.h"
#include "listener.h"
#include "log.h"
#include "net.h"
#include "store.h"
#include "store_users.h"
#include "tap.h"

static struct evloop *ev;
static struct ev_timer *guard;

#define MAX_ACCEPTED 16
static int accepted[MAX_ACCEPTED], naccepted;
static char accepted_ip[64];
static int accepted_port, accepted_tls;

static void on_accept(void *arg, int fd, const struct sockaddr *peer, const char *ip, int port,
		      int implicit_tls)
{
	(void)arg;
	(void)peer;
	if (naccepted == MAX_ACCEPTED)
		bug("too many accepted");
	accepted[naccepted++] = fd;
	snprintf(accepted_ip, sizeof(accepted_ip), "%s", ip);
	accepted_port = port;
	accepted_tls = implicit_tls;
}

static void on_guard(struct evloop *e, struct ev_timer *t, void *arg)
{
	(void)t;
	(void)arg;
	ev_stop(e);
}

/* Runs the loop for about ms. */
static void spin(uint64_t ms)
{
	ev_timer_arm(guard, ms);
	ev_run(ev);
}

static int listen_port(int fd)
{
	struct sockaddr_in sin;
	socklen_t sl = sizeof(sin);

	getsockname(fd, (struct sockaddr *)&sin, &sl);
	return ntohs(sin.sin_port);
}

static int client(int port)
{
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (connect(fd, (struct sockaddr *)&sin, sizeof(sin)) < 0)
		bug("connect");
	return fd;
}

/* What the server sent before closing (blocking read until EOF). */
static void read_all(int fd, char *out, size_t outlen)
{
	size_t n = 0;
	ssize_t r;

	struct timeval tv = {2, 0};
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	while (n + 1 < outlen && (r = read(fd, out + n, outlen - 1 - n)) > 0)
		n += (size_t)r;
	out[n] = '\0';
}

static int nrefused[2];

static void on_refused(void *arg, enum listener_refusal why)
{
	(void)arg;
	nrefused[why]++;
}

static void test_limits(void)
{
	char err[256], got[256];
	struct listener_conf conf = {
	    .proto = "test",
	    .max_sessions = 3,
	    .max_per_ip = 2,
	    .refusal = {"-FULL\r\n", "-FULL-IP\r\n"},
	    .refused = on_refused,
	};
	struct listener *l = listener_new(ev, &conf, on_accept, NULL);
	int plain = net_listen("127.0.0.1:0", 16, err, sizeof(err));
	int tls = net_listen("127.0.0.1:0", 16, err, sizeof(err));
	int pport = listen_port(plain), tport = listen_port(tls);
	int c[4];

	ok(plain >= 0 && tls >= 0, "listening sockets");
	is_int(listener_add(l, plain, 7, 0), 0, "plain socket added");
	is_int(listener_add(l, tls, 8, 1), 0, "implicit-TLS socket added");

	c[0] = client(pport);
	spin(50);
	is_int(naccepted, 1, "first connection accepted");
	ok(!strcmp(accepted_ip, "127.0.0.1"), "the client's address");
	ok(accepted_port == 7 && accepted_tls == 0, "its port and TLS mode");
	c[1] = client(tport);
	spin(50);
	is_int(naccepted, 2, "second accepted");
	ok(accepted_port == 8 && accepted_tls == 1, "the TLS socket's port");
	is_int(listener_sessions(l), 2, "two sessions counted");
	is_int(listener_sessions_from(l, "127.0.0.1"), 2, "two from 127.0.0.1");

	/* a third from the same address: over max_per_ip */
	c[2] = client(pport);
	spin(50);
	is_int(naccepted, 2, "third not accepted");
	read_all(c[2], got, sizeof(got));
	ok(!strcmp(got, "-FULL-IP\r\n"), "refused with the per-address line, then closed");
	close(c[2]);
	c[2] = client(tport);
	spin(50);
	read_all(c[2], got, sizeof(got));
	ok(!strcmp(got, ""), "implicit TLS: closed without a word");
	close(c[2]);

	/* the total limit, from counts begun by hand (another address) */
	is_int(listener_session_begin(l, "192.0.2.1"), 0, "a session begun by hand");
	is_int(listener_session_begin(l, "192.0.2.2"), -1, "over the total: refused");
	listener_session_end(l, "192.0.2.1");
	is_int(listener_session_begin(l, "192.0.2.2"), 0, "room again once one ended");
	c[2] = client(pport);
	spin(50);
	read_all(c[2], got, sizeof(got));
	ok(!strcmp(got, "-FULL\r\n"), "over the total: the total's line");
	close(c[2]);
	is_int(nrefused[LISTENER_FULL_IP], 2, "refused callback: two over the per-address limit");
	is_int(nrefused[LISTENER_FULL], 1, "refused callback: one over the total");
	listener_session_end(l, "192.0.2.2");
	is_int(listener_sessions_from(l, "192.0.2.2"), 0, "an address's count ends at zero");

	/* a session ends: its address may connect again */
	listener_session_end(l, "127.0.0.1");
	close(accepted[0]);
	c[2] = client(pport);
	spin(50);
	is_int(naccepted, 3, "accepted again after a session ended");

	/* stop: no more accepts, live sessions are the daemon's */
	listener_stop(l);
	listener_stop(l);
	is_int(listener_sessions(l), 2, "stop keeps the live sessions");
	is_int(listener_add(l, 0, 0, 0), -1, "no sockets after stop");
	listener_session_end(l, "127.0.0.1");
	listener_session_end(l, "127.0.0.1");
	is_int(listener_sessions(l), 0, "all ended");
	for (int i = 0; i < 3; i++)
		close(c[i]);
	for (int i = 0; i < naccepted; i++)
		if (i > 0)
			close(accepted[i]);
	listener_free(l);
}

static int auth_result = -9;
static int64_t auth_uid;
static uint64_t auth_at;

static void on_auth(void *arg, int result, int64_t uid)
{
	(void)arg;
	auth_result = result;
	auth_uid = uid;
	auth_at = ev_clock_ms();
	ev_stop(ev);
}

/* Runs one login to its answer; returns the time it took in ms. */
static uint64_t login(struct listener_auth *a, const char *user, const char *pass, int *rc)
{
	uint64_t t0 = ev_clock_ms();

	auth_result = -9;
	*rc = listener_auth_start(a, user, pass, on_auth, NULL);
	if (*rc == LISTENER_AUTH_PENDING) {
		ev_timer_arm(guard, 20000);
		ev_run(ev);
		ev_timer_disarm(guard);
	}
	return auth_at - t0;
}

static void test_auth(const char *db)
{
	char err[256];
	struct authlimit_conf alc;
	struct authlimit *al;
	struct authcheck *ac = authcheck_new(ev, db, 1, err, sizeof(err));
	struct listener_auth *a;
	int64_t uid = 0;
	struct store *st;
	int rc;
	uint64_t t;

	if (!ac)
		bug("authcheck_new: %s", err);
	if (store_open(db, &st, err, sizeof(err)) < 0)
		bug("store_open: %s", err);
	ok(store_domain_add(st, "example.org") == 0 &&
	       store_user_add(st, "u@example.org", "right password", &uid) == 0,
	   "a user");
	authlimit_conf_default(&alc);
	alc.free_failures = 1;
	alc.max_failures = 3;
	alc.max_delay_ms = 400;
	al = authlimit_new(&alc);
	a = listener_auth_new(ev, al, ac, "127.0.0.1");

	login(a, "u@example.org", "right password", &rc);
	ok(rc == LISTENER_AUTH_PENDING && auth_result == 1 && auth_uid == uid,
	   "right password: 1 and the user id");
	ok(!listener_auth_busy(a), "not busy after the answer");
	login(a, "u@example.org", "wrong", &rc);
	ok(rc == LISTENER_AUTH_PENDING && auth_result == 0 && auth_uid == 0, "wrong password: 0");
	t = login(a, "u@example.org", "wrong", &rc);
	ok(auth_result == 0, "wrong again");
	/* past the free failure: the next answer waits, counted from the
	 * attempt, whatever the result */
	t = login(a, "u@example.org", "right password", &rc);
	ok(auth_result == 1, "right password after a failure");
	ok(t >= 150, "its answer waited for the throttle's delay");
	printf("# answer after two failures: %llu ms\n", (unsigned long long)t);
	login(a, "u@example.org", "wrong", &rc);
	login(a, "u@example.org", "wrong", &rc);
	listener_auth_fail(a, "u@example.org");
	login(a, "u@example.org", "right password", &rc);
	is_int(rc, LISTENER_AUTH_REFUSED, "past the limit: refused without a check");
	listener_auth_free(a);

	/* cancel: freeing a login under way means no answer */
	authlimit_free(al);
	al = authlimit_new(&alc);
	a = listener_auth_new(ev, al, ac, "127.0.0.2");
	auth_result = -9;
	is_int(listener_auth_start(a, "u@example.org", "right password", on_auth, NULL),
	       LISTENER_AUTH_PENDING, "a login started");
	ok(listener_auth_busy(a), "busy while it runs");
	listener_auth_free(a);
	spin(300);
	is_int(auth_result, -9, "freed under way: no answer");

	authcheck_free(ac);
	authlimit_free(al);
	store_close(st);
}

/* --- deadlines ------------------------------------------------------------ */

struct dl_owner {
	struct conn *c;
	struct listener_deadline *dl;
	char reason[64];
	int login_calls, session_calls, timeouts;
	int closed;
};

static void dl_fn(void *arg, enum listener_deadline_kind kind)
{
	struct dl_owner *o = arg;

	if (kind == LISTENER_DL_LOGIN)
		o->login_calls++;
	else
		o->session_calls++;
	conn_close(o->c, 0, kind == LISTENER_DL_LOGIN ? "login deadline" : "session deadline");
}

static void dl_input(struct conn *c, void *arg)
{
	const char *p;

	(void)arg;
	conn_consume(c, conn_pending(c, &p));
}

static void dl_timeout(struct conn *c, void *arg)
{
	struct dl_owner *o = arg;

	o->timeouts++;
	conn_close(c, 0, "idle");
}

static void dl_closed(struct conn *c, void *arg, const char *reason)
{
	struct dl_owner *o = arg;

	(void)c;
	snprintf(o->reason, sizeof(o->reason), "%s", reason);
	o->closed = 1;
	listener_deadline_free(o->dl);
	o->dl = NULL;
	ev_stop(ev);
}

static const struct conn_cbs dl_cbs = {
    .input = dl_input, .timeout = dl_timeout, .closed = dl_closed};

/* A conn over a socketpair with deadlines d; login: log in at once.
 * Runs until the conn closes or limit_ms pass (a guard, not a measure);
 * the peer end stays open and silent. */
static void dl_run(struct dl_owner *o, const struct listener_deadlines *d, int handshake, int login,
		   uint64_t limit_ms)
{
	int sv[2];

	memset(o, 0, sizeof(*o));
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0)
		bug("socketpair");
	o->c = conn_new(ev, sv[0], NULL, &dl_cbs, o, 512, 4096);
	o->dl = listener_deadline_new(ev, o->c, d, dl_fn, o);
	if (handshake)
		listener_deadline_handshake(o->dl);
	if (login)
		listener_deadline_login(o->dl);
	spin(limit_ms);
	if (!o->closed) {
		conn_close(o->c, 0, "test over");
		ev_run(ev); /* dl_closed stops it */
	}
	close(sv[1]);
}

static void test_deadlines(void)
{
	struct config *cfg = config_new();
	struct listener_deadlines d, def = {.handshake_ms = 60000,
					    .login_ms = 120000,
					    .idle_ms = 120000,
					    .idle_authed_ms = 1800000};
	struct dl_owner o;
	char err[160];

	/* the config: absent keys keep the daemon's defaults */
	d = def;
	is_int(listener_deadlines_load(cfg, "imapd", &d, err, sizeof(err)), 0,
	       "deadlines: defaults");
	ok(d.handshake_ms == 60000 && d.login_ms == 120000 && d.idle_ms == 120000 &&
	       d.idle_authed_ms == 1800000 && d.session_ms == 0,
	   "deadlines: nothing in the config, the defaults stand");
	config_set(cfg, "imapd.handshake_timeout", "5");
	config_set(cfg, "imapd.login_deadline", "30");
	config_set(cfg, "imapd.idle_timeout", "60");
	config_set(cfg, "imapd.session_deadline", "7200");
	d = def;
	is_int(listener_deadlines_load(cfg, "imapd", &d, err, sizeof(err)), 0, "deadlines: read");
	ok(d.handshake_ms == 5000 && d.login_ms == 30000 && d.idle_authed_ms == 60000 &&
	       d.session_ms == 7200000,
	   "deadlines: each key in seconds");
	is_int(d.idle_ms, 120000, "deadlines: silence before login is login_timeout's");
	config_set(cfg, "imapd.login_timeout", "90");
	d = def;
	listener_deadlines_load(cfg, "imapd", &d, err, sizeof(err));
	is_int(d.idle_ms, 90000, "deadlines: login_timeout as given");
	d = def;
	is_int(listener_deadlines_load(cfg, "pop3", &d, err, sizeof(err)), 0,
	       "deadlines: another protocol's keys are not this one's");
	is_int(d.handshake_ms, 60000, "deadlines: ... its defaults stand");
	config_set(cfg, "imapd.handshake_timeout", "86401");
	d = def;
	is_int(listener_deadlines_load(cfg, "imapd", &d, err, sizeof(err)), -1,
	       "deadlines: over a day refused");
	ok(strstr(err, "imapd.handshake_timeout") != NULL, "deadlines: the error names the key");
	config_set(cfg, "imapd.handshake_timeout", "soon");
	is_int(listener_deadlines_load(cfg, "imapd", &d, err, sizeof(err)), -1,
	       "deadlines: not a number refused");
	config_free(cfg);

	/* a handshake that never ends: closed without a word */
	d = (struct listener_deadlines){.handshake_ms = 30, .idle_ms = 600000};
	dl_run(&o, &d, 1, 0, 20000);
	is_str(o.reason, "handshake timeout", "handshake: closed when it does not complete");
	ok(o.login_calls == 0 && o.timeouts == 0, "handshake: no other deadline involved");

	/* a handshake deadline that was never started does not fire */
	d = (struct listener_deadlines){.handshake_ms = 30, .idle_ms = 200};
	dl_run(&o, &d, 0, 0, 20000);
	is_str(o.reason, "idle", "idle before login: the conn's timeout, not the handshake");
	is_int(o.timeouts, 1, "idle before login: timeout() ran once");

	/* the login deadline: the daemon's function says goodbye */
	d = (struct listener_deadlines){.login_ms = 30, .idle_ms = 600000};
	dl_run(&o, &d, 0, 0, 20000);
	is_int(o.login_calls, 1, "login deadline: the daemon's function ran once");
	is_str(o.reason, "login deadline", "login deadline: closed by the daemon");

	/* logged in: no login deadline; idle_authed (0: none) from now on */
	d = (struct listener_deadlines){.login_ms = 30, .idle_ms = 30, .session_ms = 300};
	dl_run(&o, &d, 0, 1, 20000);
	ok(o.login_calls == 0 && o.timeouts == 0,
	   "after login: neither the login deadline nor the idle time before login");
	is_int(o.session_calls, 1, "session deadline: ran, logged in or not");
	is_str(o.reason, "session deadline", "session deadline: closed by the daemon");
}

int main(void)
{
	char dir[] = "/tmp/test_listener_XXXXXX", db[300], cmd[320];

	log_init("test_listener", LOG_LVL_ERR);
	if (!mkdtemp(dir))
		bug("mkdtemp");
	snprintf(db, sizeof(db), "%s/loft.db", dir);
	ev = ev_new();
	guard = ev_timer_new(ev, on_guard, NULL);
	test_limits();
	test_auth(db);
	test_deadlines();
	ev_timer_free(guard);
	ev_free(ev);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd) != 0)
		printf("# could not remove %s\n", dir);
	return tap_done();
}
