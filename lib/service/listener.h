#ifndef LOFT_LISTENER_H
#define LOFT_LISTENER_H
/*
 * The front door of every protocol daemon (SMTP, IMAP, POP3, later the
 * admin): the accept loop on the sockets loftd passed, the session limits
 * in total and per client address, the refusal of a client over a limit,
 * the output high-water mark every session reads input under, and the
 * delay that answers a login after authentication failures.
 *
 * A daemon makes one listener per protocol, adds its listening sockets
 * (each with a port number of its own choosing and whether it is implicit
 * TLS), and gets accept() for every connection within the limits.  The
 * session then belongs to the daemon, which calls listener_session_end()
 * when it is gone, so the counts stay right.
 *
 * A client over a limit is refused at once, before any session is made:
 * on a plain port it gets the daemon's refusal line (written to the fresh
 * socket, whose send buffer is empty), on an implicit-TLS port the socket
 * is closed without a word (no handshake is spent on it).  A failed
 * accept that is not the client's doing (out of descriptors) stops
 * accepting on every socket of the listener for a second.
 */
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

struct evloop;
struct authlimit;
struct authcheck;
struct config;

/* Output high-water mark: a session reads no more input (and produces no
 * more of a long response) while this much output waits to be sent, and
 * goes on when it drops to LISTENER_OUT_LOW.  One value for every
 * protocol, so a client that pipelines commands and reads nothing can make
 * a session hold about this much. */
#define LISTENER_OUT_HIGH (128u * 1024)
#define LISTENER_OUT_LOW  (LISTENER_OUT_HIGH / 2)

#define LISTENER_MAX_SOCKETS 8

struct listener;

enum listener_refusal { LISTENER_FULL, LISTENER_FULL_IP };

struct listener_conf {
	const char *proto;     /* in log lines: "smtp", "imap", "pop3" */
	unsigned max_sessions; /* at once, all addresses */
	unsigned max_per_ip;   /* at once, from one client address */
	/* The line a refused client gets on a plain port (with CRLF), by
	 * reason; NULL closes without a word. */
	const char *refusal[2];
	/* Told of each refusal, with listener_new's arg (may be NULL): the
	 * daemon's count of refused connections (loft-smtpd's chart). */
	void (*refused)(void *arg, enum listener_refusal why);
};

/* A connection within the limits: fd (non-blocking, close-on-exec) is the
 * callee's from here; ip is the client's address as text (valid during
 * the call); port and implicit_tls are what listener_add said. */
typedef void (*listener_accept_fn)(void *arg, int fd, const struct sockaddr *peer, const char *ip,
				   int port, int implicit_tls);

/* Never returns NULL (aborts on out of memory).  conf is copied (the
 * refusal strings must be literals or outlive the listener). */
struct listener *listener_new(struct evloop *ev, const struct listener_conf *conf,
			      listener_accept_fn accept, void *arg);
/* Stops accepting (if not stopped), closes the sockets, frees.  The
 * sessions still open are the daemon's; NULL is fine. */
void listener_free(struct listener *l);
/* Accepts on fd (a listening socket; the listener owns it from here).
 * Returns 0, or -1 (too many sockets, or epoll failed: errno). */
int listener_add(struct listener *l, int fd, int port, int implicit_tls);
/* Stops accepting and closes the sockets (a graceful stop: the sessions go
 * on).  Safe to call twice. */
void listener_stop(struct listener *l);
/* Counts a session the daemon started on its own rather than through
 * accept() (tests).  Returns 0, or -1 over a limit (nothing counted). */
int listener_session_begin(struct listener *l, const char *ip);
/* A session accepted by this listener ended; ip is the one accept() gave. */
void listener_session_end(struct listener *l, const char *ip);
/* Sessions alive. */
unsigned listener_sessions(const struct listener *l);
/* Sessions alive from ip. */
unsigned listener_sessions_from(const struct listener *l, const char *ip);

/*
 * Login answers under the authentication throttle (lib/service/authlimit)
 * with the password checked off the loop (lib/service/authcheck), the same
 * way for every protocol:
 *   - a client address or account refused by authlimit gets no check
 *     (LISTENER_AUTH_REFUSED);
 *   - otherwise the check runs on the pool, and its answer is handed to
 *     done() no sooner than the delay authlimit asked for, counted from
 *     the attempt (so the time of the check itself is part of the delay)
 *     whatever the result, so the answer's timing does not tell a right
 *     password from a wrong one;
 *   - a failure or success is recorded in authlimit before done() runs.
 * One login at a time per struct listener_auth (one per session).
 */
struct listener_auth;

/* result: 1 right password (user_id set), 0 wrong or unknown, -1 the
 * check could not run (a temporary failure). */
typedef void (*listener_auth_fn)(void *arg, int result, int64_t user_id);

enum { LISTENER_AUTH_PENDING = 0, LISTENER_AUTH_REFUSED = -1, LISTENER_AUTH_BUSY = -2 };

/* ip is copied.  Never returns NULL (aborts on out of memory). */
struct listener_auth *listener_auth_new(struct evloop *ev, struct authlimit *al,
					struct authcheck *ac, const char *ip);
/* Cancels a login under way (done() will not run) and frees; NULL is
 * fine. */
void listener_auth_free(struct listener_auth *a);
/* Starts a login of user with pass (both copied; the password copy is
 * wiped once checked).  Returns LISTENER_AUTH_PENDING (done() runs later,
 * from the loop), LISTENER_AUTH_REFUSED (throttled: answer with a
 * temporary refusal) or LISTENER_AUTH_BUSY (the pool is full: answer with
 * a temporary failure). */
int listener_auth_start(struct listener_auth *a, const char *user, const char *pass,
			listener_auth_fn done, void *arg);
/* Records a failure that needed no check (e.g. a user name no account can
 * have), so it counts toward the throttle like a wrong password. */
void listener_auth_fail(struct listener_auth *a, const char *user);
/* 1 while a login is under way. */
int listener_auth_busy(const struct listener_auth *a);

/*
 * Deadlines: every connection of every protocol has the same policy,
 * with per-protocol values from the config.  Milliseconds; 0 is none.
 *   - handshake: a TLS handshake (implicit TLS from the connect, STARTTLS
 *     from its go-ahead) must complete within it.  Nothing can be said to
 *     a client that has no TLS yet: the connection is closed, logged
 *     event=handshake-timeout;
 *   - login: from the connect to a successful login, however busy the
 *     client keeps the connection (idle only limits silence);
 *   - idle: silence before login (conn_set_timeout: the daemon's conn
 *     timeout() callback says goodbye), idle_authed after it;
 *   - session: from the connect to the end, logged in or not.
 * The login and session deadlines call the daemon's function, which
 * says its protocol's goodbye ("* BYE", "-ERR", "421") and closes, or
 * (SMTP, mid-message) closes at the next message boundary.
 */
struct listener_deadlines {
	uint64_t handshake_ms;
	uint64_t login_ms;
	uint64_t idle_ms;
	uint64_t idle_authed_ms;
	uint64_t session_ms;
};

enum listener_deadline_kind { LISTENER_DL_LOGIN, LISTENER_DL_SESSION };

/* Reads <prefix>.handshake_timeout, .login_deadline, .login_timeout (the
 * silence allowed before login), .idle_timeout and .session_deadline, in
 * seconds, from cfg, each at most a day; an absent key
 * keeps the value d holds (the daemon's default).  Returns 0, or -1 with
 * a message in err. */
int listener_deadlines_load(const struct config *cfg, const char *prefix,
			    struct listener_deadlines *d, char *err, size_t errlen);

struct conn;
struct listener_deadline;
typedef void (*listener_deadline_fn)(void *arg, enum listener_deadline_kind kind);

/* The deadlines of connection c (d is copied): arms the login and session
 * deadlines and the idle timeout at once.  fn(arg, kind) runs from the
 * loop when one passes (at most once each).  Never returns NULL (aborts
 * on out of memory).  Free it in the conn's closed() callback. */
struct listener_deadline *listener_deadline_new(struct evloop *ev, struct conn *c,
						const struct listener_deadlines *d,
						listener_deadline_fn fn, void *arg);
/* A TLS handshake begins (implicit TLS at the connect; STARTTLS once its
 * go-ahead is queued): it must end within handshake_ms. */
void listener_deadline_handshake(struct listener_deadline *dl);
/* The handshake completed (the conn's tls_ready). */
void listener_deadline_tls_up(struct listener_deadline *dl);
/* A successful login: the login deadline is off, silence is now limited
 * by idle_authed_ms. */
void listener_deadline_login(struct listener_deadline *dl);
/* The idle time in force (before or after login), for a daemon that
 * re-arms the conn timeout itself. */
uint64_t listener_deadline_idle_ms(const struct listener_deadline *dl);
/* Disarms and frees; NULL is fine. */
void listener_deadline_free(struct listener_deadline *dl);

#endif
