/*
 * The accept loop and session limits every protocol daemon shares, and
 * login answers under the authentication throttle (see listener.h).
 *
 * Sessions per client address are counted in a small hash table of the
 * addresses that have a session now: an entry lives while its count is
 * above zero, so memory follows the sessions alive, not the clients ever
 * seen.
 */
#include "listener.h"

#include <errno.h>
#include <stddef.h>
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
#include "log.h"
#include "net.h"

#define ACCEPTS_PER_WAKEUP 64
#define ACCEPT_RETRY_MS	   1000
#define IP_BUCKETS	   256
#define IP_MAX		   64

struct ip_count {
	struct ip_count *next;
	unsigned n;
	char ip[IP_MAX];
};

struct listener_socket {
	struct listener *l;
	int fd;
	int port;
	int implicit_tls;
};

struct listener {
	struct evloop *ev;
	struct listener_conf conf;
	listener_accept_fn accept;
	void *arg;
	struct listener_socket socks[LISTENER_MAX_SOCKETS];
	int nsocks;
	int stopped;
	struct ev_timer *retry;
	unsigned sessions;
	struct ip_count *ips[IP_BUCKETS];
};

/* --- sessions per address ------------------------------------------------ */

static unsigned ip_hash(const char *ip)
{
	uint32_t h = 2166136261u;

	for (; *ip; ip++) {
		h ^= (unsigned char)*ip;
		h *= 16777619u;
	}
	return h % IP_BUCKETS;
}

static struct ip_count **ip_slot(struct listener *l, const char *ip)
{
	struct ip_count **pp = &l->ips[ip_hash(ip)];

	while (*pp && strcmp((*pp)->ip, ip) != 0)
		pp = &(*pp)->next;
	return pp;
}

unsigned listener_sessions_from(const struct listener *l, const char *ip)
{
	struct ip_count **pp = ip_slot((struct listener *)l, ip);

	return *pp ? (*pp)->n : 0;
}

unsigned listener_sessions(const struct listener *l)
{
	return l->sessions;
}

/* Returns the refusal reason, or -1 when a session from ip fits. */
static int over_limit(struct listener *l, const char *ip)
{
	if (l->sessions >= l->conf.max_sessions)
		return LISTENER_FULL;
	if (listener_sessions_from(l, ip) >= l->conf.max_per_ip)
		return LISTENER_FULL_IP;
	return -1;
}

static void count_session(struct listener *l, const char *ip)
{
	struct ip_count **pp = ip_slot(l, ip);

	if (!*pp) {
		*pp = calloc(1, sizeof(**pp));
		if (!*pp)
			bug("out of memory");
		snprintf((*pp)->ip, sizeof((*pp)->ip), "%s", ip);
	}
	(*pp)->n++;
	l->sessions++;
}

int listener_session_begin(struct listener *l, const char *ip)
{
	if (over_limit(l, ip) >= 0)
		return -1;
	count_session(l, ip);
	return 0;
}

void listener_session_end(struct listener *l, const char *ip)
{
	struct ip_count **pp = ip_slot(l, ip), *e = *pp;

	if (!e || l->sessions == 0)
		bug("listener: session end from %s that never began", ip);
	l->sessions--;
	if (--e->n == 0) {
		*pp = e->next;
		free(e);
	}
}

/* --- accepting ------------------------------------------------------------ */

static void refuse(struct listener *l, int fd, const char *ip, const struct listener_socket *ls,
		   int why)
{
	const char *msg = l->conf.refusal[why];

	log_warn(NULL, "event=refused proto=%s reason=%s peer=%s", l->conf.proto,
		 why == LISTENER_FULL ? "max-connections" : "max-per-ip", ip);
	/* a fresh socket's send buffer is empty: this does not block */
	if (!ls->implicit_tls && msg && send(fd, msg, strlen(msg), MSG_DONTWAIT | MSG_NOSIGNAL) < 0)
		log_debug(NULL, "event=refusal-unsent peer=%s errno=%d", ip, errno);
	close(fd);
	if (l->conf.refused)
		l->conf.refused(l->arg, (enum listener_refusal)why);
}

static void watch_all(struct listener *l, int events)
{
	for (int i = 0; i < l->nsocks; i++)
		if (l->socks[i].fd >= 0)
			ev_io_set(l->ev, l->socks[i].fd, events);
}

static void retry_fire(struct evloop *ev, struct ev_timer *t, void *arg)
{
	struct listener *l = arg;

	(void)ev;
	(void)t;
	if (!l->stopped)
		watch_all(l, EV_READ);
}

static void on_accept(struct evloop *ev, int fd, int events, void *arg)
{
	struct listener_socket *ls = arg;
	struct listener *l = ls->l;

	(void)ev;
	(void)events;
	for (int i = 0; i < ACCEPTS_PER_WAKEUP && !l->stopped; i++) {
		struct sockaddr_storage ss;
		socklen_t sl = sizeof(ss);
		char ip[IP_MAX] = "unknown";
		int c = accept4(fd, (struct sockaddr *)&ss, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
		int why;

		if (c < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ||
			    errno == ECONNABORTED)
				return;
			/* out of descriptors: stop accepting for a moment, or
			 * the level-triggered socket would spin the loop */
			log_err(NULL, "event=accept-failed proto=%s error=\"%s\"", l->conf.proto,
				strerror(errno));
			watch_all(l, 0);
			ev_timer_arm(l->retry, ACCEPT_RETRY_MS);
			return;
		}
		net_addr_str((struct sockaddr *)&ss, ip, sizeof(ip));
		why = over_limit(l, ip);
		if (why >= 0) {
			refuse(l, c, ip, ls, why);
			continue;
		}
		count_session(l, ip);
		l->accept(l->arg, c, (struct sockaddr *)&ss, ip, ls->port, ls->implicit_tls);
	}
}

struct listener *listener_new(struct evloop *ev, const struct listener_conf *conf,
			      listener_accept_fn accept, void *arg)
{
	struct listener *l = calloc(1, sizeof(*l));

	if (!l)
		bug("out of memory");
	l->ev = ev;
	l->conf = *conf;
	l->accept = accept;
	l->arg = arg;
	l->retry = ev_timer_new(ev, retry_fire, l);
	return l;
}

int listener_add(struct listener *l, int fd, int port, int implicit_tls)
{
	struct listener_socket *ls;

	if (l->nsocks == LISTENER_MAX_SOCKETS || l->stopped) {
		errno = ENOSPC;
		return -1;
	}
	ls = &l->socks[l->nsocks];
	*ls = (struct listener_socket){l, fd, port, implicit_tls};
	if (net_set_nonblock(fd) < 0 || ev_io_add(l->ev, fd, EV_READ, on_accept, ls) < 0)
		return -1;
	l->nsocks++;
	return 0;
}

void listener_stop(struct listener *l)
{
	if (l->stopped)
		return;
	l->stopped = 1;
	ev_timer_disarm(l->retry);
	for (int i = 0; i < l->nsocks; i++) {
		if (l->socks[i].fd < 0)
			continue;
		ev_io_del(l->ev, l->socks[i].fd);
		close(l->socks[i].fd);
		l->socks[i].fd = -1;
	}
}

void listener_free(struct listener *l)
{
	if (!l)
		return;
	listener_stop(l);
	ev_timer_free(l->retry);
	for (int i = 0; i < IP_BUCKETS; i++) {
		struct ip_count *e, *n;

		for (e = l->ips[i]; e; e = n) {
			n = e->next;
			free(e);
		}
	}
	free(l);
}

/* --- logins under the throttle -------------------------------------------- */

struct listener_auth {
	struct evloop *ev;
	struct authlimit *al;
	struct authcheck *ac;
	struct authcheck_job *job; /* the check under way */
	struct ev_timer *delay;	   /* the answer held back */
	listener_auth_fn done;
	void *arg;
	int busy;
	int result;
	int64_t user_id;
	uint64_t started;
	int64_t delay_ms;
	char ip[IP_MAX];
	char user[512];
};

struct listener_auth *listener_auth_new(struct evloop *ev, struct authlimit *al,
					struct authcheck *ac, const char *ip)
{
	struct listener_auth *a = calloc(1, sizeof(*a));

	if (!a)
		bug("out of memory");
	a->ev = ev;
	a->al = al;
	a->ac = ac;
	snprintf(a->ip, sizeof(a->ip), "%s", ip ? ip : "unknown");
	return a;
}

static void answer(struct listener_auth *a)
{
	listener_auth_fn done = a->done;

	a->busy = 0;
	explicit_bzero(a->user, sizeof(a->user));
	done(a->arg, a->result, a->user_id);
}

static void delay_fire(struct evloop *ev, struct ev_timer *t, void *arg)
{
	(void)ev;
	(void)t;
	answer(arg);
}

static void checked(void *arg, int result, int64_t user_id)
{
	struct listener_auth *a = arg;
	uint64_t now = ev_now(a->ev);
	int64_t left = a->delay_ms - (int64_t)(now - a->started);

	a->job = NULL;
	a->result = result;
	a->user_id = result == 1 ? user_id : 0;
	if (result == 1)
		authlimit_success(a->al, a->ip, a->user);
	else if (result == 0)
		authlimit_fail(a->al, a->ip, a->user, now);
	if (left > 0) {
		if (!a->delay)
			a->delay = ev_timer_new(a->ev, delay_fire, a);
		ev_timer_arm(a->delay, (uint64_t)left);
		return;
	}
	answer(a);
}

int listener_auth_start(struct listener_auth *a, const char *user, const char *pass,
			listener_auth_fn done, void *arg)
{
	uint64_t now = ev_now(a->ev);
	int64_t delay;

	if (a->busy)
		bug("listener: a second login while one is under way");
	delay = authlimit_check(a->al, a->ip, user, now);
	if (delay < 0)
		return LISTENER_AUTH_REFUSED;
	a->job = authcheck_submit(a->ac, user, pass, checked, a);
	if (!a->job)
		return LISTENER_AUTH_BUSY;
	snprintf(a->user, sizeof(a->user), "%s", user);
	a->done = done;
	a->arg = arg;
	a->busy = 1;
	a->started = now;
	a->delay_ms = delay;
	return LISTENER_AUTH_PENDING;
}

void listener_auth_fail(struct listener_auth *a, const char *user)
{
	authlimit_fail(a->al, a->ip, user, ev_now(a->ev));
}

int listener_auth_busy(const struct listener_auth *a)
{
	return a->busy;
}

void listener_auth_free(struct listener_auth *a)
{
	if (!a)
		return;
	authcheck_cancel(a->job);
	ev_timer_free(a->delay);
	explicit_bzero(a->user, sizeof(a->user));
	free(a);
}

/* --- deadlines ------------------------------------------------------------ */

struct listener_deadline {
	struct conn *c;
	struct listener_deadlines d;
	listener_deadline_fn fn;
	void *arg;
	struct ev_timer *handshake, *login, *session;
	int logged_in;
};

int listener_deadlines_load(const struct config *cfg, const char *prefix,
			    struct listener_deadlines *d, char *err, size_t errlen)
{
	static const struct {
		const char *key;
		size_t off;
	} keys[] = {
	    {"handshake_timeout", offsetof(struct listener_deadlines, handshake_ms)},
	    {"login_deadline", offsetof(struct listener_deadlines, login_ms)},
	    {"login_timeout", offsetof(struct listener_deadlines, idle_ms)},
	    {"idle_timeout", offsetof(struct listener_deadlines, idle_authed_ms)},
	    {"session_deadline", offsetof(struct listener_deadlines, session_ms)},
	};

	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		uint64_t *v = (uint64_t *)(void *)((char *)d + keys[i].off), secs;
		char key[128];

		snprintf(key, sizeof(key), "%s.%s", prefix, keys[i].key);
		if (config_get_u64(cfg, key, *v / 1000, 86400, &secs) < 0) {
			snprintf(err, errlen, "%s: seconds, at most 86400", key);
			return -1;
		}
		*v = secs * 1000;
	}
	return 0;
}

static void handshake_fire(struct evloop *ev, struct ev_timer *t, void *arg)
{
	struct listener_deadline *dl = arg;

	(void)ev;
	(void)t;
	if (conn_is_tls(dl->c))
		return;
	log_info(conn_sid(dl->c), "event=handshake-timeout peer=%s after_ms=%llu", conn_peer(dl->c),
		 (unsigned long long)dl->d.handshake_ms);
	conn_close(dl->c, 0, "handshake timeout");
}

static void login_fire(struct evloop *ev, struct ev_timer *t, void *arg)
{
	struct listener_deadline *dl = arg;

	(void)ev;
	(void)t;
	if (!dl->logged_in)
		dl->fn(dl->arg, LISTENER_DL_LOGIN);
}

static void session_fire(struct evloop *ev, struct ev_timer *t, void *arg)
{
	struct listener_deadline *dl = arg;

	(void)ev;
	(void)t;
	dl->fn(dl->arg, LISTENER_DL_SESSION);
}

struct listener_deadline *listener_deadline_new(struct evloop *ev, struct conn *c,
						const struct listener_deadlines *d,
						listener_deadline_fn fn, void *arg)
{
	struct listener_deadline *dl = calloc(1, sizeof(*dl));

	if (!dl)
		bug("out of memory");
	dl->c = c;
	dl->d = *d;
	dl->fn = fn;
	dl->arg = arg;
	dl->handshake = ev_timer_new(ev, handshake_fire, dl);
	dl->login = ev_timer_new(ev, login_fire, dl);
	dl->session = ev_timer_new(ev, session_fire, dl);
	if (d->login_ms)
		ev_timer_arm(dl->login, d->login_ms);
	if (d->session_ms)
		ev_timer_arm(dl->session, d->session_ms);
	conn_set_timeout(c, d->idle_ms);
	return dl;
}

void listener_deadline_handshake(struct listener_deadline *dl)
{
	if (dl->d.handshake_ms)
		ev_timer_arm(dl->handshake, dl->d.handshake_ms);
}

void listener_deadline_tls_up(struct listener_deadline *dl)
{
	ev_timer_disarm(dl->handshake);
}

void listener_deadline_login(struct listener_deadline *dl)
{
	dl->logged_in = 1;
	ev_timer_disarm(dl->login);
	conn_set_timeout(dl->c, dl->d.idle_authed_ms);
}

uint64_t listener_deadline_idle_ms(const struct listener_deadline *dl)
{
	return dl->logged_in ? dl->d.idle_authed_ms : dl->d.idle_ms;
}

void listener_deadline_free(struct listener_deadline *dl)
{
	if (!dl)
		return;
	ev_timer_free(dl->handshake);
	ev_timer_free(dl->login);
	ev_timer_free(dl->session);
	free(dl);
}
