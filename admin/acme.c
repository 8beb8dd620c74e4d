/*
 * ACME through uacme: see acme.h.  uacme is a child process with its
 * output read on the event loop (a pipe; the child is reaped when the
 * pipe closes), never waited for in a blocking call.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "acme.h"
#include "config.h"
#include "daemon.h"
#include "evloop.h"
#include "log.h"
#include "proc.h"
#include "store_settings.h"
#include "tls.h"

#define ACME_DEFAULT_URL "https://acme-v02.api.letsencrypt.org/directory"
/* how long loft-netwatch keeps 80 and 443 forwarded for one request
 * (uacme's own timeouts end a request well within it) */
#define ACME_PORT_WINDOW_S 900
/* how long to wait for loft-netwatch's "acme-ports" before starting
 * anyway (a router that never answers must not stop the request) */
#define ACME_PORT_WAIT_MS 30000

static struct {
	struct admin *a;
	pid_t pid;
	int fd;
	int phase; /* 1: new account, 2: issue */
	char host[256];
	char out[4096];
	size_t outlen;
	int waiting; /* for loft-netwatch to forward the ports */
	struct ev_timer *wait;
} run = {.fd = -1};

int admin_acme_running(void)
{
	return run.pid > 0 || run.waiting;
}

static void status(struct admin *a, const char *text)
{
	store_setting_set(a->st, "acme.status", text);
	store_event_add(a->st, "admin", text);
}

/* Copies src to dst atomically (temp file, fsync, rename), mode. */
static int copy_file(const char *src, const char *dst, mode_t mode)
{
	char tmp[4300], buf[8192];
	int in, out, ok = 0;
	ssize_t n;

	snprintf(tmp, sizeof(tmp), "%s.tmp", dst);
	in = open(src, O_RDONLY | O_CLOEXEC);
	if (in < 0)
		return -1;
	out = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	if (out >= 0) {
		ok = 1;
		while ((n = read(in, buf, sizeof(buf))) > 0)
			if (write(out, buf, (size_t)n) != n)
				ok = 0;
		if (n < 0 || fsync(out) < 0)
			ok = 0;
		close(out);
	}
	close(in);
	if (!ok || rename(tmp, dst) < 0) {
		unlink(tmp);
		return -1;
	}
	return 0;
}

/* Checks uacme's certificate and key, installs them as acme/live/ and
 * tells every daemon to reload.  Returns 0 or -1. */
static int install(struct admin *a)
{
	char cert[4200], key[4200], live[4200], lcert[4300], lkey[4300], err[256];
	struct tls_ctx *t;

	snprintf(cert, sizeof(cert), "%s/acme/conf/%s/cert.pem", a->datadir, run.host);
	snprintf(key, sizeof(key), "%s/acme/conf/private/%s/key.pem", a->datadir, run.host);
	t = tls_server_new(cert, key, err, sizeof(err));
	if (!t) {
		log_err(NULL, "event=acme-install-failed error=\"%s\"", err);
		return -1;
	}
	tls_ctx_free(t);
	snprintf(live, sizeof(live), "%s/acme/live", a->datadir);
	if (mkdir(live, 0750) < 0 && errno != EEXIST)
		return -1;
	snprintf(lcert, sizeof(lcert), "%s/cert.pem", live);
	snprintf(lkey, sizeof(lkey), "%s/key.pem", live);
	/* the key first: a reload between the two renames then pairs the new
	 * key with the old certificate, which tls_server_new refuses (the
	 * daemon keeps its context) rather than serving a mismatch */
	if (copy_file(key, lkey, 0640) < 0 || copy_file(cert, lcert, 0644) < 0)
		return -1;
	return 0;
}

static int spawn(struct admin *a, int phase);

/* The ports window: loft-netwatch forwards 80 and 443 from the router
 * while netwatch.acme_until is in the future ("notify acme" makes it look
 * at once), and removes them once it is past or gone. */
static void ports_window(struct admin *a, int open)
{
	char v[32];

	if (open) {
		snprintf(v, sizeof(v), "%lld", (long long)time(NULL) + ACME_PORT_WINDOW_S);
		if (store_setting_set(a->st, "netwatch.acme_until", v) < 0)
			log_err(NULL, "event=store-failed error=\"%s\"", store_errmsg(a->st));
	} else if (store_setting_del(a->st, "netwatch.acme_until") == -1) {
		log_err(NULL, "event=store-failed error=\"%s\"", store_errmsg(a->st));
	}
	daemon_notify(a->d, "acme");
}

static int netwatch_on(struct admin *a)
{
	int on = 1;

	return config_get_bool(a->cfg, "netwatch.enabled", 1, &on) == 0 && on;
}

static void ports_ready(struct admin *a, const char *how)
{
	if (!run.waiting)
		return;
	run.waiting = 0;
	ev_timer_disarm(run.wait);
	log_info(NULL, "event=acme-ports ready=%s", how);
	if (spawn(a, 1) < 0) {
		status(a, "failed: uacme could not be started");
		ports_window(a, 0);
	}
}

static void on_wait(struct evloop *ev, struct ev_timer *t, void *arg)
{
	(void)ev;
	(void)t;
	ports_ready(arg, "timeout");
}

void admin_acme_notify(struct admin *a, const char *topic)
{
	if (strcmp(topic, "acme-ports") == 0)
		ports_ready(a, "netwatch");
}

static void reap(void)
{
	int st = 0, code;
	struct admin *a = run.a;

	while (waitpid(run.pid, &st, 0) < 0 && errno == EINTR)
		;
	code = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + (WIFSIGNALED(st) ? WTERMSIG(st) : 0);
	run.pid = 0;
	log_info(NULL, "event=acme-step phase=%s status=%d", run.phase == 1 ? "account" : "issue",
		 code);
	if (run.phase == 1) {
		/* 0: account made; 1 would not occur; anything else failed */
		if (code != 0) {
			status(a, "failed: the ACME account could not be made (see the log)");
			ports_window(a, 0);
			return;
		}
		if (spawn(a, 2) < 0) {
			status(a, "failed: uacme could not be started");
			ports_window(a, 0);
		}
		return;
	}
	ports_window(a, 0);
	/* 1: the certificate is still current, which is fine too */
	char msg[400];

	if ((code == 0 || code == 1) && install(a) == 0) {
		snprintf(msg, sizeof(msg), "ok: certificate issued for %s", run.host);
		status(a, msg);
		daemon_notify(a->d, "tls");
		if (a->reload_tls)
			a->reload_tls(a);
	} else {
		snprintf(msg, sizeof(msg),
			 "failed: the CA did not issue a certificate for %s (see the log)",
			 run.host);
		status(a, msg);
	}
}

static void on_output(struct evloop *ev, int fd, int events, void *arg)
{
	char buf[1024], q[1200];
	ssize_t n;

	(void)events;
	(void)arg;
	n = read(fd, buf, sizeof(buf));
	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return;
	if (n > 0) {
		/* one log line per line of uacme's */
		char *p = buf, *end = buf + n;
		while (p < end) {
			char *nl = memchr(p, '\n', (size_t)(end - p));
			size_t len = nl ? (size_t)(nl - p) : (size_t)(end - p);
			if (len)
				log_info(NULL, "event=acme-output text=%s",
					 log_quote(q, sizeof(q), p, len));
			p += len + (nl ? 1 : 0);
		}
		return;
	}
	ev_io_del(ev, fd);
	close(fd);
	run.fd = -1;
	reap();
}

static int spawn(struct admin *a, int phase)
{
	char conf[4200], dir[4200], self[4200], key[4300];
	const char *cmd = config_get(a->cfg, "acme.command", "uacme");
	char url[512];
	int p[2];
	pid_t pid;
	ssize_t sl;

	if (store_setting_get(a->st, "acme.url", url, sizeof(url)) != 0)
		snprintf(url, sizeof(url), "%s", config_get(a->cfg, "acme.url", ACME_DEFAULT_URL));
	snprintf(dir, sizeof(dir), "%s/acme", a->datadir);
	snprintf(conf, sizeof(conf), "%s/acme/conf", a->datadir);
	if ((mkdir(dir, 0750) < 0 && errno != EEXIST) || (mkdir(conf, 0700) < 0 && errno != EEXIST))
		return -1;
	/* the hook is loft-admin beside this executable: in the static
	 * multi-call build that is the loft-admin link to the one program,
	 * whose name picks the role */
	sl = readlink("/proc/self/exe", self, sizeof(self) - 16);
	if (sl <= 0)
		return -1;
	self[sl] = '\0';
	{
		char *slash = strrchr(self, '/');
		if (!slash)
			return -1;
		size_t room = sizeof(self) - (size_t)(slash + 1 - self);
		if (snprintf(slash + 1, room, "loft-admin") >= (int)room)
			return -1;
	}
	snprintf(key, sizeof(key), "%s/private/key.pem", conf);
	if (phase == 1 && access(key, F_OK) == 0)
		phase = 2; /* the account exists */
	if (pipe2(p, O_CLOEXEC) < 0)
		return -1;
	pid = fork();
	if (pid < 0) {
		close(p[0]);
		close(p[1]);
		return -1;
	}
	if (pid == 0) {
		dup2(p[1], 1);
		dup2(p[1], 2);
		proc_close_from(3);
		setenv("LOFT_ACME_DIR", dir, 1);
		if (phase == 1)
			execlp(cmd, cmd, "-v", "-y", "-c", conf, "-a", url, "new", (char *)NULL);
		else
			execlp(cmd, cmd, "-v", "-y", "-t", "EC", "-c", conf, "-a", url, "-h", self,
			       "issue", run.host, (char *)NULL);
		_exit(127);
	}
	close(p[1]);
	fcntl(p[0], F_SETFL, O_NONBLOCK);
	run.a = a;
	run.pid = pid;
	run.fd = p[0];
	run.phase = phase;
	if (ev_io_add(a->ev, p[0], EV_READ, on_output, NULL) < 0) {
		kill(pid, SIGTERM);
		close(p[0]);
		run.fd = -1;
		reap();
		return -1;
	}
	log_info(NULL, "event=acme-start phase=%s host=%s url=%s", phase == 1 ? "account" : "issue",
		 run.host, url);
	return 0;
}

int admin_acme_start(struct admin *a, const char *hostname, const char **why)
{
	if (run.pid > 0) {
		*why = "A certificate request is already under way.";
		return -1;
	}
	if (run.waiting) {
		*why = "A certificate request is already under way.";
		return -1;
	}
	snprintf(run.host, sizeof(run.host), "%s", hostname);
	/* the CA comes to port 80 from outside: loft-netwatch asks the router
	 * to forward 80 and 443 first, and says "acme-ports" when it has */
	if (netwatch_on(a)) {
		if (!run.wait)
			run.wait = ev_timer_new(a->ev, on_wait, a);
		run.waiting = 1;
		ev_timer_arm(run.wait, ACME_PORT_WAIT_MS);
		ports_window(a, 1);
		store_setting_set(a->st, "acme.status", "running");
		log_info(NULL, "event=acme-ports-asked host=%s", run.host);
		return 0;
	}
	if (spawn(a, 1) < 0) {
		*why = "The certificate program (uacme) could not be started.";
		return -1;
	}
	store_setting_set(a->st, "acme.status", "running");
	return 0;
}

/* --- the hook ----------------------------------------------------------- */

int acme_hook_main(int argc, char **argv)
{
	const char *dir = getenv("LOFT_ACME_DIR");
	const char *method, *type, *token, *auth;
	char path[4400];
	size_t n;

	if (!dir || argc != 6)
		return -1;
	method = argv[1];
	type = argv[2];
	token = argv[4];
	auth = argv[5];
	if (strcmp(type, "http-01") != 0)
		return 1; /* only HTTP-01 is served */
	n = strlen(token);
	/* base64url: nothing that could leave the directory */
	if (n == 0 || n > 128 ||
	    strspn(token, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") != n)
		return 1;
	snprintf(path, sizeof(path), "%s/%s", dir, token);
	if (strcmp(method, "begin") == 0) {
		FILE *f = fopen(path, "w");
		if (!f)
			return 1;
		fputs(auth, f);
		return fclose(f) == 0 ? 0 : 1;
	}
	if (strcmp(method, "done") == 0 || strcmp(method, "failed") == 0)
		return unlink(path) == 0 ? 0 : 1;
	return 1;
}
