/*
 * loftd: the supervisor.
 *
 * SECURITY: loftd is the only Loft process that may run as root, and only
 * to bind the privileged ports and to hand each daemon its sockets.  It
 * reads no network byte.  Each daemon is started with fork+exec and drops
 * to the unprivileged user (setgroups, setresgid, setresuid,
 * PR_SET_NO_NEW_PRIVS) in the child, before exec, so no daemon ever runs a
 * line of its own code as root.  loftd trusts its command line, its config
 * file and the binaries beside it; it trusts nothing a daemon says on the
 * control socket beyond relaying "notify" words between daemons.
 *
 * It restarts a daemon that dies and logs why: at once when the daemon had
 * said "ready" (it was serving; clients wait in the listen backlog, which
 * loftd keeps open), with a growing delay only when it died during
 * start-up, so a daemon that cannot start never spins the CPU.  It reloads
 * on SIGHUP and stops everything gracefully on SIGTERM/SIGINT.
 *
 * A daemon that can (loft-smtpd) also has a standby: a second instance,
 * started with --standby once the first serves, that does its whole
 * start-up (exec, config, store, TLS, threads) and then waits, not
 * listening, for "serve".  When the serving instance dies, "serve" goes to
 * the standby and the backlog is answered after two wake-ups instead of a
 * full start; a new standby is started a moment later.  It costs an idle
 * process (its libraries are shared with the serving one);
 * DAEMON.standby = no turns it off.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "config.h"
#include "daemon.h"
#include "evloop.h"
#include "gateway.h"
#include "log.h"
#include "logring.h"
#include "net.h"
#include "pages.h"
#include "proc.h"
#include "procstatus.h"
#include "store.h"
#include "store_settings.h"
#include "strnum.h"
#include "tls.h"

#define MAX_LISTEN_PER_CHILD 4
/* A new standby waits this long after a promotion, so its start-up does
 * not take the CPU from the instance answering the backlog. */
#define STANDBY_DELAY_MS 100
/* Start-up failures (exec failed, died before "ready"): 250 ms doubling to
 * 30 s.  A daemon that was serving is restarted at once, unless it died
 * RESTART_BURST times within RESTART_WINDOW_MS: then it is treated like a
 * start-up failure, so a daemon that crashes right after each start costs
 * at most one start per backoff step, never a spinning CPU. */
#define RESTART_MIN_MS	  250
#define RESTART_MAX_MS	  30000
#define RESTART_BURST	  20
#define RESTART_WINDOW_MS 10000

struct listener {
	const char *name;
	int port, devport;
	int fd;
	char addr[80];
};

static struct listener listeners[] = {
    {"mx", 25, 2525, -1, ""},
    {"submission", 587, 2587, -1, ""},
    {"submissions", 465, 2465, -1, ""},
    {"imap", 143, 2143, -1, ""},
    {"imaps", 993, 2993, -1, ""},
    {"pop3", 110, 2110, -1, ""},
    {"pop3s", 995, 2995, -1, ""},
    {"http", 80, 8080, -1, ""},
    {"https", 443, 8443, -1, ""},
    /* the optional gateway MX port: its port number is a setting
     * (smtpd.gateway_port), 0 keeps it closed */
    {"gateway", 0, 0, -1, ""},
};
#define NLISTENERS (sizeof(listeners) / sizeof(listeners[0]))

struct child {
	const char *name;
	const char *listen[MAX_LISTEN_PER_CHILD];
	char path[PATH_MAX];
	int exe; /* O_PATH descriptor of path, opened by loftd's user */
	int present;
	pid_t pid;
	int ctl;
	uint64_t started_ms;
	uint64_t died_ms; /* when the previous instance died; 0 at first start */
	int64_t started_unix;
	int ready;    /* this instance said "ready": it serves */
	int promoted; /* a standby told to serve: "serving" is its "ready" */
	int restarts;
	int backoff;			/* start-up failures in a row */
	int crashloop;			/* deaths in a row that came RESTART_BURST in the window */
	uint64_t deaths[RESTART_BURST]; /* when recent ready instances died (ring) */
	unsigned ndeaths;
	struct ev_timer *restart;
	/* the standby instance (can_standby and DAEMON.standby = yes) */
	int can_standby;
	int standby;
	pid_t spare_pid;
	int spare_ctl;
	int spare_ready; /* its start-up is done */
	uint64_t spare_started_ms;
	int spare_backoff; /* standby deaths in a row before "ready" */
	struct ev_timer *spare_timer;
};

static struct child children[] = {
    {.name = "loft-smtpd",
     .listen = {"mx", "submission", "submissions", "gateway"},
     .can_standby = 1},
    {.name = "loft-queue"},
    {.name = "loft-imapd", .listen = {"imap", "imaps", "pop3", "pop3s"}},
    {.name = "loft-admin", .listen = {"http", "https"}},
    {.name = "loft-netwatch"},
};
#define NCHILDREN (sizeof(children) / sizeof(children[0]))

static struct {
	char datadir[PATH_MAX];
	char dbpath[PATH_MAX + 16];
	char confpath[PATH_MAX + 16];
	int dev;
	int verbose;
	int stopping;
	int drop;
	struct proc_user user;
	struct config *cfg;
	struct evloop *ev;
	char statuspath[PATH_MAX + 32];
	struct procstatus status[NCHILDREN + 1];
	size_t nstatus;
	struct ev_timer *kill_timer;
	uint64_t stop_timeout_ms;
	/* the store's inbound.gateway_port / _from, read by the migration
	 * child (root never opens the database) */
	char db_gw_port[16], db_gw_from[GATEWAY_FROM_MAX], db_gw_user[256];
} g;

static void usage(void)
{
	fprintf(stderr, "usage: loftd [-d DATADIR] [--dev] [-v]\n");
	exit(2);
}

static struct listener *listener_find(const char *name)
{
	for (size_t i = 0; i < NLISTENERS; i++)
		if (strcmp(listeners[i].name, name) == 0)
			return &listeners[i];
	return NULL;
}

/* Records a process's state in DATADIR/run/status for "loftctl status".
 * A failure here must not stop supervision, so it is only logged. */
static void status_write(const char *name, pid_t pid, int64_t started, int restarts,
			 const char *state)
{
	struct procstatus *r = NULL;

	for (size_t i = 0; i < g.nstatus; i++)
		if (strcmp(g.status[i].name, name) == 0)
			r = &g.status[i];
	if (!r) {
		if (g.nstatus == NCHILDREN + 1)
			bug("more processes than status rows");
		r = &g.status[g.nstatus++];
		snprintf(r->name, sizeof(r->name), "%s", name);
	}
	r->pid = pid;
	r->started = started;
	r->restarts = (unsigned)restarts;
	snprintf(r->state, sizeof(r->state), "%s", state);
	if (procstatus_write(g.statuspath, g.status, g.nstatus) < 0)
		log_warn(NULL, "event=status-write-failed path=%s error=\"%s\"", g.statuspath,
			 strerror(errno));
}

static void status_exit(const char *name, const char *why)
{
	for (size_t i = 0; i < g.nstatus; i++) {
		if (strcmp(g.status[i].name, name) == 0) {
			snprintf(g.status[i].last_exit, sizeof(g.status[i].last_exit), "%s", why);
			g.status[i].last_exit_at = (int64_t)time(NULL);
		}
	}
}

static void child_spawn(struct child *c);
static void spare_spawn(struct child *c);
static int read_config_text(struct buf *out, char *err, size_t errlen);

/* Sends a control message to every instance but skip's serving one. */
static void send_all(const struct child *skip, const char *msg, size_t n)
{
	for (size_t i = 0; i < NCHILDREN; i++) {
		struct child *o = &children[i];
		if (o != skip && o->ctl >= 0)
			send(o->ctl, msg, n, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (o->spare_ctl >= 0)
			send(o->spare_ctl, msg, n, MSG_DONTWAIT | MSG_NOSIGNAL);
	}
}

/* c's serving instance serves: its death is now a crash to restart at
 * once; time for a standby if c has one. */
static void child_serving(struct child *c)
{
	uint64_t now = ev_clock_ms();
	int promoted = c->promoted;

	c->ready = 1;
	c->promoted = 0;
	c->backoff = 0;
	/* down_ms: from the previous instance's death to this one serving */
	log_info(NULL, "event=ready name=%s pid=%ld startup_ms=%llu down_ms=%llu standby=%d",
		 c->name, (long)c->pid, (unsigned long long)(now - c->started_ms),
		 (unsigned long long)(c->died_ms ? now - c->died_ms : 0), promoted);
	status_write(c->name, c->pid, c->started_unix, c->restarts, "running");
	if (c->standby && c->spare_pid == 0 && !ev_timer_armed(c->spare_timer))
		ev_timer_arm(c->spare_timer, c->died_ms ? STANDBY_DELAY_MS : 0);
}

/* One message from a child's serving instance: "ready" (or "serving"
 * from a promoted standby), or a "notify" word to relay. */
static void ctl_message(struct child *c, const char *msg, size_t n)
{
	if (strcmp(msg, "ready") == 0) {
		/* a promoted standby's "ready" only ends its start-up */
		if (!c->ready && !c->promoted)
			child_serving(c);
		return;
	}
	if (strcmp(msg, "serving") == 0) {
		if (!c->promoted || c->ready)
			log_warn(NULL, "event=bad-control-message name=%s msg=serving", c->name);
		else
			child_serving(c);
		return;
	}
	if (strncmp(msg, "notify ", 7) != 0 || n > 100) {
		log_warn(NULL, "event=bad-control-message name=%s", c->name);
		return;
	}
	send_all(c, msg, n);
}

/* One message from c's standby: only "ready" (its start-up is done). */
static void spare_message(struct child *c, const char *msg)
{
	if (strcmp(msg, "ready") == 0 && !c->spare_ready) {
		c->spare_ready = 1;
		c->spare_backoff = 0;
		log_info(NULL, "event=standby-ready name=%s pid=%ld startup_ms=%llu", c->name,
			 (long)c->spare_pid,
			 (unsigned long long)(ev_clock_ms() - c->spare_started_ms));
		return;
	}
	log_warn(NULL, "event=bad-control-message name=%s standby=1", c->name);
}

/* Reads every queued message on *ctl (c's serving instance's, or with
 * spare its standby's); at end of file (the child closed it or died)
 * closes the socket.  Also called when the child is reaped, since SIGCHLD
 * may be seen before a "ready" it sent just before dying. */
static void ctl_drain(struct child *c, int spare)
{
	int *ctl = spare ? &c->spare_ctl : &c->ctl;
	char msg[256];
	ssize_t n;

	while (*ctl >= 0) {
		n = recv(*ctl, msg, sizeof(msg) - 1, MSG_DONTWAIT);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return;
		if (n <= 0) {
			ev_io_del(g.ev, *ctl);
			close(*ctl);
			*ctl = -1;
			return;
		}
		msg[n] = '\0';
		if (spare)
			spare_message(c, msg);
		else
			ctl_message(c, msg, (size_t)n);
	}
}

static void on_ctl(struct evloop *ev, int fd, int events, void *arg)
{
	(void)ev;
	(void)fd;
	(void)events;
	ctl_drain(arg, 0);
}

static void on_spare_ctl(struct evloop *ev, int fd, int events, void *arg)
{
	(void)ev;
	(void)fd;
	(void)events;
	ctl_drain(arg, 1);
}

/* The standby takes over: it gets "serve" and becomes c's serving
 * instance.  Returns 0, or -1 when there is no standby to promote. */
static int spare_promote(struct child *c)
{
	if (c->spare_pid <= 0 || c->spare_ctl < 0)
		return -1;
	ev_io_del(g.ev, c->spare_ctl);
	c->pid = c->spare_pid;
	c->ctl = c->spare_ctl;
	c->spare_pid = 0;
	c->spare_ctl = -1;
	c->ready = 0;
	c->promoted = 1;
	c->started_ms = ev_clock_ms();
	c->started_unix = (int64_t)time(NULL);
	if (ev_io_add(g.ev, c->ctl, EV_READ, on_ctl, c) < 0)
		log_err(NULL, "event=control-failed name=%s error=\"%s\"", c->name,
			strerror(errno));
	/* if it died meanwhile, the send fails and its death is reaped as a
	 * start-up failure */
	send(c->ctl, "serve", 5, MSG_DONTWAIT | MSG_NOSIGNAL);
	log_info(NULL, "event=standby-promoted name=%s pid=%ld was_ready=%d restarts=%d", c->name,
		 (long)c->pid, c->spare_ready, c->restarts);
	c->spare_ready = 0;
	status_write(c->name, c->pid, c->started_unix, c->restarts, "starting");
	return 0;
}

/* Starts c again: its standby if it has one, else a new instance. */
static void child_start(struct child *c)
{
	if (spare_promote(c) < 0)
		child_spawn(c);
}

static void restart_due(struct evloop *ev, struct ev_timer *t, void *arg)
{
	(void)ev;
	(void)t;
	if (!g.stopping)
		child_start(arg);
}

static void spare_due(struct evloop *ev, struct ev_timer *t, void *arg)
{
	struct child *c = arg;

	(void)ev;
	(void)t;
	/* only next to an instance that serves: a daemon that cannot start
	 * gets no second one starting beside it */
	if (!g.stopping && c->standby && c->spare_pid == 0 && c->pid > 0 && c->ready)
		spare_spawn(c);
}

/* In the forked child: put the sockets at 3, 4, ..., close the rest, drop
 * privileges, exec.  Only async-signal-safe calls and no return. */
static void child_exec(struct child *c, int ctl, int standby, int logpipe_w)
{
	int srcs[MAX_LISTEN_PER_CHILD + 1], nsrc = 0;
	char listen_env[256] = "", ctl_env[16];
	size_t off = 0;
	sigset_t none;

	/* the log pipe (logring.c) out of the way of the sockets' targets */
	int logw = logpipe_w >= 0 ? fcntl(logpipe_w, F_DUPFD, 64) : -1;

	for (int i = 0; i < MAX_LISTEN_PER_CHILD && c->listen[i]; i++) {
		struct listener *l = listener_find(c->listen[i]);
		if (!l || l->fd < 0)
			continue;
		/* move out of the way of the targets first */
		srcs[nsrc] = fcntl(l->fd, F_DUPFD, 64);
		int n = snprintf(listen_env + off, sizeof(listen_env) - off, "%s%s=%d",
				 off ? "," : "", l->name, 3 + nsrc);
		off += n > 0 ? (size_t)n : 0;
		nsrc++;
	}
	srcs[nsrc] = fcntl(ctl, F_DUPFD, 64);
	/* the binary, opened before the drop: the daemons' user need not be
	 * able to reach the build directory (a checkout under /root) */
	int exe = fcntl(c->exe, F_DUPFD_CLOEXEC, 64);
	for (int i = 0; i <= nsrc; i++) {
		if (srcs[i] < 0 || dup2(srcs[i], 3 + i) < 0)
			_exit(126);
	}
	if (exe < 0 || dup3(exe, 3 + nsrc + 1, O_CLOEXEC) < 0)
		_exit(126);
	exe = 3 + nsrc + 1;
	char log_env[16];
	if (logw >= 0 && dup2(logw, exe + 1) == exe + 1) {
		snprintf(log_env, sizeof(log_env), "%d", exe + 1);
		setenv("LOFT_LOG_FD", log_env, 1);
		proc_close_from(exe + 2);
	} else {
		unsetenv("LOFT_LOG_FD");
		proc_close_from(exe + 1);
	}
	snprintf(ctl_env, sizeof(ctl_env), "%d", 3 + nsrc);
	setenv("LOFT_LISTEN", listen_env, 1);
	setenv("LOFT_CONTROL", ctl_env, 1);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	signal(SIGPIPE, SIG_DFL);
	if (g.drop) {
		if (proc_drop(&g.user) < 0)
			_exit(125);
	} else if (proc_no_new_privs() < 0) {
		_exit(125);
	}
	char *argv[7];
	int a = 0;
	argv[a++] = (char *)c->name;
	argv[a++] = "-d";
	argv[a++] = g.datadir;
	if (g.dev)
		argv[a++] = "--dev";
	if (g.verbose)
		argv[a++] = "-v";
	if (standby)
		argv[a++] = "--standby";
	argv[a] = NULL;
	fexecve(exe, argv, environ);
	_exit(127);
}

/* Forks and execs an instance of c (a standby with standby).  Returns its
 * pid with *ctl set to loftd's end of its control socket, or -1 (logged,
 * c's restart or standby timer armed for a later try). */
static pid_t child_fork(struct child *c, int standby, int *ctl)
{
	int sv[2], ep[2] = {-1, -1};
	pid_t pid;

	/* its log lines' copy for the ring (logring.c); without it the
	 * child only writes to stderr, as always */
	if (pipe2(ep, O_CLOEXEC) < 0)
		ep[0] = ep[1] = -1;
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
		log_err(NULL, "event=spawn-failed name=%s error=\"socketpair: %s\"", c->name,
			strerror(errno));
		if (ep[0] >= 0) {
			close(ep[0]);
			close(ep[1]);
		}
		ev_timer_arm(standby ? c->spare_timer : c->restart, RESTART_MAX_MS);
		return -1;
	}
	pid = fork();
	if (pid < 0) {
		log_err(NULL, "event=spawn-failed name=%s error=\"fork: %s\"", c->name,
			strerror(errno));
		close(sv[0]);
		close(sv[1]);
		if (ep[0] >= 0) {
			close(ep[0]);
			close(ep[1]);
		}
		ev_timer_arm(standby ? c->spare_timer : c->restart, RESTART_MAX_MS);
		return -1;
	}
	if (pid == 0)
		child_exec(c, sv[1], standby, ep[1]);
	close(sv[1]);
	if (ep[0] >= 0) {
		close(ep[1]);
		logring_watch(ep[0]);
	}
	*ctl = sv[0];
	return pid;
}

static void spare_spawn(struct child *c)
{
	int ctl;
	pid_t pid = child_fork(c, 1, &ctl);

	if (pid < 0)
		return;
	c->spare_pid = pid;
	c->spare_ctl = ctl;
	c->spare_ready = 0;
	c->spare_started_ms = ev_clock_ms();
	if (ev_io_add(g.ev, ctl, EV_READ, on_spare_ctl, c) < 0)
		log_err(NULL, "event=control-failed name=%s error=\"%s\"", c->name,
			strerror(errno));
	log_info(NULL, "event=spawn name=%s pid=%ld standby=1", c->name, (long)pid);
}

static void child_spawn(struct child *c)
{
	int ctl;
	pid_t pid = child_fork(c, 0, &ctl);

	if (pid < 0)
		return;
	c->pid = pid;
	c->ctl = ctl;
	c->ready = 0;
	c->promoted = 0;
	c->started_ms = ev_clock_ms();
	c->started_unix = (int64_t)time(NULL);
	if (ev_io_add(g.ev, c->ctl, EV_READ, on_ctl, c) < 0)
		log_err(NULL, "event=control-failed name=%s error=\"%s\"", c->name,
			strerror(errno));
	log_info(NULL, "event=spawn name=%s pid=%ld restarts=%d", c->name, (long)pid, c->restarts);
	status_write(c->name, pid, c->started_unix, c->restarts, "starting");
}

/* How long to wait before starting c again after an instance died at now:
 * 0 for one that was serving, unless it keeps dying (RESTART_BURST deaths
 * in RESTART_WINDOW_MS); a growing delay for a start-up failure. */
static uint64_t restart_delay(struct child *c, uint64_t now)
{
	int *step = &c->backoff;

	if (c->ready) {
		uint64_t oldest = c->deaths[c->ndeaths % RESTART_BURST];
		c->deaths[c->ndeaths % RESTART_BURST] = now;
		c->ndeaths++;
		if (c->ndeaths < RESTART_BURST || now - oldest >= RESTART_WINDOW_MS) {
			c->crashloop = 0;
			return 0;
		}
		/* dies soon after every start: its own growing delay, which
		 * "ready" does not reset (that would restart the growth at
		 * 250 ms after each start) */
		step = &c->crashloop;
	}
	uint64_t delay = (uint64_t)RESTART_MIN_MS << (*step < 8 ? *step : 8);
	(*step)++;
	return delay < RESTART_MAX_MS ? delay : RESTART_MAX_MS;
}

static void describe_status(int status, char *out, size_t outlen)
{
	if (WIFEXITED(status)) {
		int code = WEXITSTATUS(status);
		snprintf(out, outlen, "exit:%d%s", code,
			 code == 127   ? " (exec failed)"
			 : code == 125 ? " (privilege drop failed)"
			 : code == 126 ? " (socket set-up failed)"
				       : "");
	} else if (WIFSIGNALED(status)) {
		snprintf(out, outlen, "signal:%s%s", sigabbrev_np(WTERMSIG(status)) ?: "?",
			 WCOREDUMP(status) ? " (core dumped)" : "");
	} else {
		snprintf(out, outlen, "status:%d", status);
	}
}

static int children_running(void)
{
	int n = 0;

	for (size_t i = 0; i < NCHILDREN; i++)
		n += (children[i].pid > 0) + (children[i].spare_pid > 0);
	return n;
}

/* c's standby died (it never served): start another, after a delay that
 * grows while they die before "ready". */
static void spare_died(struct child *c, pid_t pid, int status)
{
	char why[64];
	uint64_t delay;

	describe_status(status, why, sizeof(why));
	ctl_drain(c, 1);
	if (c->spare_ctl >= 0) {
		ev_io_del(g.ev, c->spare_ctl);
		close(c->spare_ctl);
		c->spare_ctl = -1;
	}
	c->spare_pid = 0;
	if (g.stopping) {
		log_info(NULL, "event=child-stopped name=%s pid=%ld status=\"%s\" standby=1",
			 c->name, (long)pid, why);
		return;
	}
	delay = (uint64_t)RESTART_MIN_MS << (c->spare_backoff < 7 ? c->spare_backoff : 7);
	if (!c->spare_ready)
		c->spare_backoff++;
	c->spare_ready = 0;
	if (delay > RESTART_MAX_MS)
		delay = RESTART_MAX_MS;
	log_warn(NULL, "event=standby-died name=%s pid=%ld status=\"%s\" restart_in_ms=%llu",
		 c->name, (long)pid, why, (unsigned long long)delay);
	ev_timer_arm(c->spare_timer, delay);
}

static void reap(void)
{
	int status;
	pid_t pid;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		struct child *c = NULL;
		char why[64];

		for (size_t i = 0; i < NCHILDREN; i++) {
			if (children[i].pid == pid)
				c = &children[i];
			if (children[i].spare_pid == pid)
				spare_died(&children[i], pid, status);
		}
		if (!c)
			continue;
		describe_status(status, why, sizeof(why));
		uint64_t up = ev_clock_ms() - c->started_ms;
		ctl_drain(c, 0);
		/* its last lines into the ring before loftd's own about it */
		logring_drain_all();
		c->pid = 0;
		if (c->ctl >= 0) {
			ev_io_del(g.ev, c->ctl);
			close(c->ctl);
			c->ctl = -1;
		}
		if (g.stopping) {
			log_info(NULL, "event=child-stopped name=%s pid=%ld status=\"%s\"", c->name,
				 (long)pid, why);
			status_exit(c->name, why);
			status_write(c->name, 0, c->started_unix, c->restarts, "stopped");
			continue;
		}
		uint64_t now = ev_clock_ms();
		uint64_t delay = restart_delay(c, now);
		c->restarts++;
		c->died_ms = now;
		log_warn(NULL,
			 "event=child-died name=%s pid=%ld status=\"%s\" uptime_ms=%llu ready=%d "
			 "restart_in_ms=%llu restarts=%d",
			 c->name, (long)pid, why, (unsigned long long)up, c->ready,
			 (unsigned long long)delay, c->restarts);
		status_exit(c->name, why);
		if (delay == 0) {
			/* clients wait in the backlog: start first, the status
			 * file ("starting") is written once that is done */
			child_start(c);
		} else {
			status_write(c->name, 0, c->started_unix, c->restarts, "restarting");
			ev_timer_arm(c->restart, delay);
		}
	}
	if (g.stopping && children_running() == 0)
		ev_stop(g.ev);
}

static void kill_stragglers(struct evloop *ev, struct ev_timer *t, void *arg)
{
	(void)ev;
	(void)t;
	(void)arg;
	for (size_t i = 0; i < NCHILDREN; i++) {
		if (children[i].pid > 0) {
			log_warn(NULL, "event=stop-timeout name=%s pid=%ld action=SIGKILL",
				 children[i].name, (long)children[i].pid);
			kill(children[i].pid, SIGKILL);
		}
		if (children[i].spare_pid > 0)
			kill(children[i].spare_pid, SIGKILL);
	}
}

static void stop_all(void)
{
	if (g.stopping)
		return;
	g.stopping = 1;
	log_info(NULL, "event=stopping children=%d", children_running());
	for (size_t i = 0; i < NCHILDREN; i++) {
		struct child *c = &children[i];
		ev_timer_disarm(c->restart);
		ev_timer_disarm(c->spare_timer);
		if (c->pid > 0)
			kill(c->pid, SIGTERM);
		if (c->spare_pid > 0)
			kill(c->spare_pid, SIGTERM);
	}
	if (children_running() == 0) {
		ev_stop(g.ev);
		return;
	}
	ev_timer_arm(g.kill_timer, g.stop_timeout_ms);
}

static void load_config(void)
{
	char err[512];
	struct config *c = config_new();
	struct buf text;
	int r;

	buf_init(&text, 1024 * 1024);
	r = read_config_text(&text, err, sizeof(err));
	if (r == 0 && config_parse(c, buf_cstr(&text), text.len, err, sizeof(err)) < 0)
		r = -1;
	buf_free(&text);
	if (r < 0) {
		if (!g.cfg)
			fatal("event=config-error path=%s error=\"%s\"", g.confpath, err);
		log_err(NULL, "event=reload-failed path=%s error=\"%s\"", g.confpath, err);
		config_free(c);
		return;
	}
	int lvl = log_level_parse(config_get(c, "log_level", "info"));
	if (lvl < 0) {
		if (!g.cfg)
			fatal("event=config-error error=\"log_level must be err|warn|info|debug\"");
		log_err(NULL, "event=reload-failed error=\"bad log_level\"");
		config_free(c);
		return;
	}
	if (!g.verbose)
		log_set_level(lvl);
	if (config_get_u64(c, "stop_timeout", 15, 3600, &g.stop_timeout_ms) < 0)
		fatal("event=config-error error=\"stop_timeout must be seconds\"");
	g.stop_timeout_ms *= 1000;
	config_free(g.cfg);
	g.cfg = c;
}

static void on_signal(struct evloop *ev, int signo, void *arg)
{
	(void)ev;
	(void)arg;
	if (signo == SIGCHLD) {
		reap();
	} else if (signo == SIGHUP) {
		load_config();
		log_info(NULL, "event=reload");
		send_all(NULL, "reload", 6);
	} else {
		stop_all();
	}
}

/* Reads the gateway port into l's ports (0: off): loft.conf's
 * smtpd.gateway_port, else the store's inbound.gateway_port (set by
 * loftctl inbound gateway or the admin; migrate_db read it), and checks
 * the from list when it is on.  A bad value in loft.conf stops loftd
 * before any port opens; a bad one in the store (where the daemons' user
 * can write) keeps the port closed with a log line.  Returns the port. */
static int gateway_port(struct listener *l)
{
	struct gateway_conf gc;
	char err[256];
	const char *why;

	if (gateway_conf_load(&gc, NULL, g.cfg, err, sizeof(err)) < 0)
		fatal("event=config-error key=smtpd.gateway_port error=\"must be a port number "
		      "(1 to 65535) or 0 for off\"");
	if (!gc.port_in_conf) {
		/* from the store: the same checks, the store's lower port bound */
		unsigned port = 0;
		if (g.db_gw_port[0] && strnum_uint(g.db_gw_port, 65535, &port) < 0)
			port = 1; /* refused below */
		gc.port = port;
	}
	if (!gc.from_in_conf)
		snprintf(gc.from, sizeof(gc.from), "%s", g.db_gw_from);
	snprintf(gc.user, sizeof(gc.user), "%s", g.db_gw_user);
	why = gateway_conf_check(&gc);
	if (why && gc.port_in_conf)
		fatal("event=config-error key=smtpd.gateway_from error=\"the gateway port needs "
		      "a list of gateway addresses or CIDR blocks, like 192.0.2.10, "
		      "2001:db8::/48\"");
	if (why) {
		log_err(NULL,
			"event=config-error key=inbound.gateway_port error=\"%s\" "
			"hint=\"loftctl inbound gateway show\" gateway=off",
			why);
		gc.port = 0;
	}
	l->port = l->devport = (int)gc.port;
	return (int)gc.port;
}

static void bind_listeners(void)
{
	/* checked first: a bad value stops loftd before any port opens */
	gateway_port(listener_find("gateway"));
	for (size_t i = 0; i < NCHILDREN; i++) {
		struct child *c = &children[i];
		if (!c->present)
			continue;
		for (int j = 0; j < MAX_LISTEN_PER_CHILD && c->listen[j]; j++) {
			struct listener *l = listener_find(c->listen[j]);
			char key[64], err[256], def[32];
			const char *spec;

			if (strcmp(l->name, "gateway") == 0 && l->port == 0)
				continue;
			snprintf(key, sizeof(key), "listen.%s", l->name);
			if (g.dev)
				snprintf(def, sizeof(def), "127.0.0.1:%d", l->devport);
			else
				snprintf(def, sizeof(def), "[::]:%d", l->port);
			spec = config_get(g.cfg, key, def);
			if (strcmp(spec, "off") == 0)
				continue;
			l->fd = net_listen(spec, 128, err, sizeof(err));
			if (l->fd < 0 && !g.dev && !config_get(g.cfg, key, NULL)) {
				/* no IPv6 on this host: fall back to IPv4 only */
				snprintf(def, sizeof(def), "*:%d", l->port);
				spec = def;
				l->fd = net_listen(spec, 128, err, sizeof(err));
			}
			if (l->fd < 0)
				fatal("event=bind-failed listener=%s error=\"%s\"", l->name, err);
			snprintf(l->addr, sizeof(l->addr), "%s", spec);
			log_info(NULL, "event=listen name=%s addr=%s for=%s", l->name, spec,
				 c->name);
		}
	}
}

static void find_children(const char *self)
{
	char dir[PATH_MAX];
	const char *cfgdir = config_get(g.cfg, "libexec_dir", NULL);
	ssize_t n;

	if (cfgdir) {
		snprintf(dir, sizeof(dir), "%s", cfgdir);
	} else {
		n = readlink("/proc/self/exe", dir, sizeof(dir) - 1);
		if (n < 0)
			fatal("event=no-self-path error=\"%s\" argv0=%s", strerror(errno), self);
		dir[n] = '\0';
		char *slash = strrchr(dir, '/');
		if (slash)
			*slash = '\0';
	}
	for (size_t i = 0; i < NCHILDREN; i++) {
		struct child *c = &children[i];
		char key[64];
		int enabled;

		snprintf(key, sizeof(key), "%s.enabled", c->name + 5);
		if (config_get_bool(g.cfg, key, 1, &enabled) < 0)
			fatal("event=config-error error=\"%s must be yes or no\"", key);
		if (snprintf(c->path, sizeof(c->path), "%s/%s", dir, c->name) >=
		    (int)sizeof(c->path))
			fatal("event=path-too-long dir=%s", dir);
		c->present = enabled && access(c->path, X_OK) == 0;
		c->exe = c->present ? open(c->path, O_PATH | O_CLOEXEC) : -1;
		if (c->present && c->exe < 0)
			fatal("event=open-failed path=%s error=\"%s\"", c->path, strerror(errno));
		c->ctl = -1;
		c->restart = ev_timer_new(g.ev, restart_due, c);
		c->spare_ctl = -1;
		c->spare_timer = ev_timer_new(g.ev, spare_due, c);
		snprintf(key, sizeof(key), "%s.standby", c->name + 5);
		if (config_get_bool(g.cfg, key, 1, &c->standby) < 0)
			fatal("event=config-error error=\"%s must be yes or no\"", key);
		c->standby = c->standby && c->can_standby;
		if (!c->present)
			log_info(NULL, "event=skip name=%s reason=\"%s\"", c->name,
				 enabled ? "not installed" : "disabled");
	}
}

/* A directory only loftd's user may write (run/, tls/): made if missing,
 * else it must already be that user's own directory and no symlink. */
static void root_dir(const char *path, mode_t mode, gid_t gid)
{
	struct stat st;
	int fd;

	if (mkdir(path, mode) < 0 && errno != EEXIST)
		fatal("event=datadir-failed path=%s error=\"%s\"", path, strerror(errno));
	fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0)
		fatal("event=datadir-failed path=%s error=\"%s\"", path, strerror(errno));
	if (st.st_uid != geteuid())
		fatal("event=unsafe-path path=%s error=\"must be a directory owned by uid %ld\"",
		      path, (long)geteuid());
	if (fchown(fd, (uid_t)-1, gid) < 0 || fchmod(fd, mode) < 0)
		fatal("event=datadir-failed path=%s error=\"%s\"", path, strerror(errno));
	close(fd);
}

/* Hands a database file that root created (loftctl init as root) to the
 * daemons' user, without following a symlink or touching a hard link. */
static void give_db_file(const char *name)
{
	char path[PATH_MAX + 32];
	struct stat st;

	snprintf(path, sizeof(path), "%s/%s", g.datadir, name);
	if (lstat(path, &st) < 0) {
		if (errno == ENOENT)
			return;
		fatal("event=datadir-failed path=%s error=\"%s\"", path, strerror(errno));
	}
	if (!S_ISREG(st.st_mode) || st.st_nlink != 1)
		fatal("event=unsafe-path path=%s error=\"not a plain file\"", path);
	if (st.st_uid == g.user.uid)
		return;
	if (fchownat(AT_FDCWD, path, g.user.uid, g.user.gid, AT_SYMLINK_NOFOLLOW) < 0)
		fatal("event=chown-failed path=%s error=\"%s\"", path, strerror(errno));
}

/* Reads loft.conf.  When loftd drops privileges the file must be root's:
 * the daemons' user can create files in the data directory, and a config
 * it wrote could name "user = root". */
static int read_config_text(struct buf *out, char *err, size_t errlen)
{
	struct stat st;
	char chunk[4096];
	ssize_t n;
	int fd = open(g.confpath, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);

	if (fd < 0) {
		if (errno == ENOENT)
			return 0;
		snprintf(err, errlen, "%s", strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || (geteuid() == 0 && st.st_uid != 0)) {
		snprintf(err, errlen, "must be a plain file owned by root");
		close(fd);
		return -1;
	}
	while ((n = read(fd, chunk, sizeof(chunk))) > 0) {
		if (buf_append(out, chunk, (size_t)n) < 0) {
			snprintf(err, errlen, "too large");
			close(fd);
			return -1;
		}
	}
	close(fd);
	if (n < 0) {
		snprintf(err, errlen, "%s", strerror(errno));
		return -1;
	}
	return 0;
}

/* The child's half of reading the gateway settings: the raw values of
 * inbound.gateway_port, inbound.gateway_from and inbound.gateway_user,
 * each ended by a NUL, to fd.  A value that does not fit goes as "?"
 * (the parent refuses a port or list like that). */
static void gateway_settings_send(struct store *st, int fd)
{
	static const char *const keys[] = {"inbound.gateway_port", "inbound.gateway_from",
					   "inbound.gateway_user"};
	char v[GATEWAY_FROM_MAX], out[3 * GATEWAY_FROM_MAX];
	size_t n = 0;

	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		int r = store_setting_get(st, keys[i], v, sizeof(v));
		if (r == STORE_NOTFOUND)
			v[0] = '\0';
		else if (r < 0)
			snprintf(v, sizeof(v), "?");
		memcpy(out + n, v, strlen(v) + 1);
		n += strlen(v) + 1;
	}
	if (write(fd, out, n) != (ssize_t)n)
		_exit(1);
}

/* The parent's half: reads what gateway_settings_send wrote into g.  The
 * database is writable by the daemons' user, so this is input to check,
 * not to trust: anything malformed counts as "?" (a bad port, refused). */
static void gateway_settings_read(int fd)
{
	char in[3 * GATEWAY_FROM_MAX + 1];
	char *dst[] = {g.db_gw_port, g.db_gw_from, g.db_gw_user};
	size_t cap[] = {sizeof(g.db_gw_port), sizeof(g.db_gw_from), sizeof(g.db_gw_user)};
	size_t len = 0, at = 0;
	ssize_t n;

	while (len < sizeof(in) && (n = read(fd, in + len, sizeof(in) - len)) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			break;
		len += (size_t)n;
	}
	for (size_t i = 0; i < 3; i++) {
		const char *nul = at < len ? memchr(in + at, '\0', len - at) : NULL;
		size_t vlen = nul ? (size_t)(nul - (in + at)) : 0;
		if (!nul || vlen >= cap[i]) {
			snprintf(g.db_gw_port, sizeof(g.db_gw_port), "?");
			g.db_gw_from[0] = g.db_gw_user[0] = '\0';
			return;
		}
		memcpy(dst[i], in + at, vlen + 1);
		at += vlen + 1;
	}
	if (at != len) {
		snprintf(g.db_gw_port, sizeof(g.db_gw_port), "?");
		g.db_gw_from[0] = g.db_gw_user[0] = '\0';
	}
}

/* Applies the database migrations as the daemons' user, in a child, so
 * root never opens a file that user can write; the child also hands back
 * the settings loftd needs before it binds (the gateway port). */
static void migrate_db(void)
{
	int status, p[2];
	pid_t pid;

	if (pipe2(p, O_CLOEXEC) < 0)
		fatal("event=pipe-failed error=\"%s\"", strerror(errno));
	pid = fork();
	if (pid < 0)
		fatal("event=fork-failed error=\"%s\"", strerror(errno));
	if (pid == 0) {
		struct store *st;
		char err[512];

		close(p[0]);
		if (g.drop && proc_drop(&g.user) < 0)
			_exit(125);
		if (g.drop && access(g.datadir, R_OK | W_OK | X_OK) < 0) {
			log_err(NULL,
				"event=datadir-unreachable path=%s user=%s error=\"%s\" "
				"hint=\"every directory above it must be searchable (o+x) by %s\"",
				g.datadir, g.user.name, strerror(errno), g.user.name);
			_exit(3);
		}
		if (store_open(g.dbpath, &st, err, sizeof(err)) < 0) {
			log_err(NULL, "event=db-open-failed path=%s error=\"%s\"", g.dbpath, err);
			_exit(1);
		}
		gateway_settings_send(st, p[1]);
		store_close(st);
		_exit(0);
	}
	close(p[1]);
	gateway_settings_read(p[0]);
	close(p[0]);
	if (waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
		fatal("event=db-migrate-failed path=%s%s", g.dbpath,
		      WIFEXITED(status) && WEXITSTATUS(status) == 3 ? " reason=datadir-unreachable"
								    : "");
}

/* The data directory.  With privileges dropped it is root:loft 1770: the
 * daemons create and write the database there, but the sticky bit keeps
 * them from replacing what root owns (loft.conf, run/, tls/).  One loftd
 * per directory (flock on run/loftd.pid). */
static int prepare_datadir(void)
{
	char path[PATH_MAX + 32], err[512];
	int lockfd;

	if (mkdir(g.datadir, 0750) < 0 && errno != EEXIST)
		fatal("event=datadir-failed path=%s error=\"%s\"", g.datadir, strerror(errno));
	if (g.drop) {
		int fd = open(g.datadir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		struct stat st;
		if (fd < 0 || fstat(fd, &st) < 0 || st.st_uid != 0)
			fatal("event=unsafe-path path=%s error=\"must be a directory owned by "
			      "root\"",
			      g.datadir);
		if (fchown(fd, 0, g.user.gid) < 0 || fchmod(fd, 01770) < 0)
			fatal("event=datadir-failed path=%s error=\"%s\"", g.datadir,
			      strerror(errno));
		close(fd);
	}
	gid_t gid = g.drop ? g.user.gid : (gid_t)-1;
	snprintf(path, sizeof(path), "%s/run", g.datadir);
	root_dir(path, 0755, gid);
	snprintf(g.statuspath, sizeof(g.statuspath), "%s/run/status", g.datadir);
	snprintf(path, sizeof(path), "%s/run/loftd.pid", g.datadir);
	lockfd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (lockfd < 0)
		fatal("event=pidfile-failed path=%s error=\"%s\"", path, strerror(errno));
	if (flock(lockfd, LOCK_EX | LOCK_NB) < 0)
		fatal("event=already-running datadir=%s", g.datadir);
	if (ftruncate(lockfd, 0) == 0) {
		char pid[32];
		int n = snprintf(pid, sizeof(pid), "%ld\n", (long)getpid());
		if (write(lockfd, pid, (size_t)n) != n)
			log_warn(NULL, "event=pidfile-write-failed");
	}

	char host[256] = "localhost", cert[PATH_MAX + 32], key[PATH_MAX + 32];
	const char *hostname = config_get(g.cfg, "hostname", NULL);
	if (!hostname) {
		if (gethostname(host, sizeof(host) - 1) < 0)
			snprintf(host, sizeof(host), "localhost");
		hostname = host;
	}
	snprintf(path, sizeof(path), "%s/tls", g.datadir);
	root_dir(path, 0750, gid);
	if (daemon_tls_paths(g.cfg, g.datadir, cert, sizeof(cert), key, sizeof(key)) < 0)
		fatal("event=tls-cert-failed error=\"path too long\"");
	if (tls_selfsigned_ensure(cert, key, hostname, err, sizeof(err)) < 0)
		fatal("event=tls-cert-failed error=\"%s\"", err);
	if (g.drop && !config_get(g.cfg, "tls_key", NULL)) {
		/* the daemons read the key through their group, never own it */
		int fd = open(key, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0 || fchown(fd, 0, g.user.gid) < 0 || fchmod(fd, 0640) < 0)
			fatal("event=tls-key-failed path=%s error=\"%s\"", key, strerror(errno));
		close(fd);
	}

	if (g.drop) {
		static const char *const dbfiles[] = {"loft.db", "loft.db-wal", "loft.db-shm"};
		for (size_t i = 0; i < sizeof(dbfiles) / sizeof(dbfiles[0]); i++)
			give_db_file(dbfiles[i]);
		/* the config stays root's; the daemons read it through their group */
		int fd = open(g.confpath, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
		if (fd >= 0) {
			if (fchown(fd, 0, g.user.gid) < 0)
				fatal("event=chown-failed path=%s error=\"%s\"", g.confpath,
				      strerror(errno));
			close(fd);
		}
	}
	migrate_db();
	return lockfd;
}

/* --dev as root: the loft user, made with useradd if missing (what the
 * package's install step does), else nobody. */
static void dev_user(struct proc_user *u)
{
	if (proc_user_lookup("loft", u) == 0)
		return;
	pid_t pid = fork();
	int status = -1;
	if (pid == 0) {
		char *argv[] = {"useradd",	"--system",
				"--user-group", "--no-create-home",
				"--home-dir",	"/nonexistent",
				"--shell",	"/usr/sbin/nologin",
				"loft",		NULL};
		int null = open("/dev/null", O_WRONLY);
		if (null >= 0)
			dup2(null, 1);
		execv("/usr/sbin/useradd", argv);
		_exit(127);
	}
	if (pid > 0)
		waitpid(pid, &status, 0);
	if (proc_user_lookup("loft", u) == 0) {
		log_info(NULL, "event=user-created user=loft uid=%ld", (long)u->uid);
		return;
	}
	if (proc_user_lookup("nobody", u) < 0)
		fatal("event=no-user error=\"neither loft (useradd failed) nor nobody exists\"");
	log_warn(NULL, "event=dev-user user=nobody reason=\"could not create loft\"");
}

static void print_banner(void)
{
	if (!g.dev)
		return;
	printf("Loft is running in --dev mode, data in %s\n", g.datadir);
	for (size_t i = 0; i < NLISTENERS; i++)
		if (listeners[i].fd >= 0)
			printf("  %-12s %s\n", listeners[i].name, listeners[i].addr);
	/* the first thing a new user does: open the wizard in a browser */
	if (listener_find("http")->fd >= 0)
		printf("Open the setup wizard and admin: http://%s/\n",
		       listener_find("http")->addr);
	printf("Ctrl-C stops every process.\n");
	fflush(stdout);
}

int main(int argc, char **argv)
{
	const char *datadir = "/var/lib/loft";

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "-d") == 0 && i + 1 < argc)
			datadir = argv[++i];
		else if (strcmp(argv[i], "--dev") == 0)
			g.dev = 1;
		else if (strcmp(argv[i], "-v") == 0)
			g.verbose = 1;
		else
			usage();
	}
	log_init("loftd", g.verbose ? LOG_LVL_DEBUG : LOG_LVL_INFO);
	if (!realpath(datadir, g.datadir)) {
		if (errno != ENOENT || mkdir(datadir, 0750) < 0 || !realpath(datadir, g.datadir))
			fatal("event=datadir-failed path=%s error=\"%s\"", datadir,
			      strerror(errno));
	}
	snprintf(g.dbpath, sizeof(g.dbpath), "%s/loft.db", g.datadir);
	snprintf(g.confpath, sizeof(g.confpath), "%s/loft.conf", g.datadir);
	load_config();

	/* As root the daemons always run as an unprivileged user, in --dev
	 * too: no network parser ever runs as root.  Without a "user" setting
	 * --dev makes the loft user as an install would, or takes nobody. */
	if (geteuid() == 0) {
		const char *uname = config_get(g.cfg, "user", NULL);
		if (!uname && g.dev)
			dev_user(&g.user);
		else if (proc_user_lookup(uname ? uname : "loft", &g.user) < 0)
			fatal("event=no-user user=%s hint=\"create it: useradd --system "
			      "--home %s --shell /usr/sbin/nologin %s\"",
			      uname ? uname : "loft", g.datadir, uname ? uname : "loft");
		if (g.user.uid == 0)
			fatal("event=config-error error=\"user must not be root\"");
		g.drop = 1;
	}
	signal(SIGPIPE, SIG_IGN);
	g.ev = ev_new();
	if (!g.ev)
		fatal("event=epoll-failed error=\"%s\"", strerror(errno));
	if (ev_signal_add(g.ev, SIGCHLD, on_signal, NULL) < 0 ||
	    ev_signal_add(g.ev, SIGTERM, on_signal, NULL) < 0 ||
	    ev_signal_add(g.ev, SIGINT, on_signal, NULL) < 0 ||
	    ev_signal_add(g.ev, SIGHUP, on_signal, NULL) < 0)
		fatal("event=signalfd-failed error=\"%s\"", strerror(errno));
	g.kill_timer = ev_timer_new(g.ev, kill_stragglers, NULL);

	int lockfd = prepare_datadir();
	find_children(argv[0]);
	bind_listeners();
	log_info(NULL, "event=started pid=%ld datadir=%s dev=%d user=%s", (long)getpid(), g.datadir,
		 g.dev, g.drop ? g.user.name : "(unchanged)");
	status_write("loftd", getpid(), (int64_t)time(NULL), 0, "running");
	char logpath[PATH_MAX + 32];
	snprintf(logpath, sizeof(logpath), "%s/run/log-recent", g.datadir);
	logring_init(g.ev, logpath);
	for (size_t i = 0; i < NCHILDREN; i++)
		if (children[i].present)
			child_spawn(&children[i]);
	print_banner();
	/* start-up done: its pages of the program and stack stop counting
	 * in RSS (lib/core/pages.h, issue 14) */
	pages_drop_code();
	pages_drop_stack();

	ev_run(g.ev);

	logring_finish();
	status_write("loftd", 0, 0, 0, "stopped");
	for (size_t i = 0; i < NCHILDREN; i++) {
		ev_timer_free(children[i].restart);
		ev_timer_free(children[i].spare_timer);
	}
	ev_timer_free(g.kill_timer);
	config_free(g.cfg);
	ev_free(g.ev);
	close(lockfd);
	log_info(NULL, "event=exit");
	return 0;
}
