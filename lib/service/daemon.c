#include "daemon.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "dns.h"
#include "log.h"
#include "pages.h"
#include "store_settings.h"
#include "strnum.h"
#include "tls.h"

#define DAEMON_MAX_LISTEN 8

struct daemon {
	const char *name;
	char datadir[4096];
	char dbpath[4200];
	int dev;
	int stopping;
	int standby;	   /* started with --standby, not told to serve yet */
	char *standby_arg; /* that argv string, rewritten once serving (ps) */
	struct config *cfg;
	struct evloop *ev;
	int control;
	struct daemon_hooks hooks;
	struct {
		char name[32];
		int fd;
	} listen[DAEMON_MAX_LISTEN];
	int nlisten;
};

static void usage(const char *name)
{
	fprintf(stderr, "usage: %s -d DATADIR [--dev] [-v] [--standby]\n", name);
	exit(2);
}

/* LOFT_LISTEN is written by loftd; a malformed one is a bug in loftd. */
static void parse_listen(struct daemon *d, const char *s)
{
	while (s && *s) {
		const char *comma = strchr(s, ',');
		size_t len = comma ? (size_t)(comma - s) : strlen(s);
		const char *eq = memchr(s, '=', len);
		uint64_t fd;

		if (!eq || (size_t)(eq - s) >= sizeof(d->listen[0].name) ||
		    d->nlisten == DAEMON_MAX_LISTEN ||
		    strnum_u64n(eq + 1, len - (size_t)(eq - s) - 1, 1024, &fd) < 0)
			bug("malformed LOFT_LISTEN \"%s\"", s);
		memcpy(d->listen[d->nlisten].name, s, (size_t)(eq - s));
		d->listen[d->nlisten].name[eq - s] = '\0';
		d->listen[d->nlisten].fd = (int)fd;
		d->nlisten++;
		s = comma ? comma + 1 : NULL;
	}
}

static void do_stop(struct daemon *d)
{
	if (d->stopping)
		return;
	d->stopping = 1;
	log_info(NULL, "event=stopping");
	if (d->hooks.stop)
		d->hooks.stop(d, d->hooks.arg);
	else
		ev_stop(d->ev);
}

static void do_reload(struct daemon *d)
{
	char err[512];
	struct config *nc = config_new();
	char path[4200];

	snprintf(path, sizeof(path), "%s/loft.conf", d->datadir);
	if (config_load(nc, path, err, sizeof(err)) < 0) {
		log_err(NULL, "event=reload-failed error=\"%s\"", err);
		config_free(nc);
		return;
	}
	config_free(d->cfg);
	d->cfg = nc;
	int lvl = log_level_parse(config_get(nc, "log_level", "info"));
	if (lvl >= 0)
		log_set_level(lvl);
	log_info(NULL, "event=reload");
	if (d->hooks.reload)
		d->hooks.reload(d, d->hooks.arg);
}

static void on_signal(struct evloop *ev, int signo, void *arg)
{
	(void)ev;
	if (signo == SIGHUP)
		do_reload(arg);
	else
		do_stop(arg);
}

/* loftd promotes this standby: it takes the listening sockets into its
 * loop (the serve hook) and says "serving". */
static void do_serve(struct daemon *d)
{
	char comm[16];

	if (!d->standby || !d->hooks.serve)
		bug("\"serve\" sent to an instance that is no standby");
	if (d->stopping)
		return; /* loftd sees it exit */
	d->standby = 0;
	/* what ps shows: "--serving" in place of "--standby", same length */
	memcpy(d->standby_arg, "--serving", 9);
	snprintf(comm, sizeof(comm), "%s", d->name);
	prctl(PR_SET_NAME, comm, 0, 0, 0);
	d->hooks.serve(d, d->hooks.arg);
	log_info(NULL, "event=serving pid=%ld", (long)getpid());
	send(d->control, "serving", 7, MSG_DONTWAIT | MSG_NOSIGNAL);
}

static void on_control(struct evloop *ev, int fd, int events, void *arg)
{
	struct daemon *d = arg;
	char msg[256];
	ssize_t n;

	(void)events;
	n = recv(fd, msg, sizeof(msg) - 1, MSG_DONTWAIT);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		/* loftd is gone: a daemon must not outlive its supervisor */
		log_warn(NULL, "event=supervisor-gone");
		ev_io_del(ev, fd);
		close(fd);
		d->control = -1;
		do_stop(d);
		return;
	}
	msg[n] = '\0';
	if (strcmp(msg, "stop") == 0)
		do_stop(d);
	else if (strcmp(msg, "serve") == 0)
		do_serve(d);
	else if (strcmp(msg, "reload") == 0)
		do_reload(d);
	else if (strncmp(msg, "notify ", 7) == 0) {
		/* a new certificate (loft-admin's ACME): every daemon reloads */
		if (strcmp(msg + 7, "tls") == 0)
			do_reload(d);
		if (d->hooks.notify)
			d->hooks.notify(d, msg + 7, d->hooks.arg);
	} else
		bug("unknown control message \"%.40s\"", msg);
}

struct daemon *daemon_init(int argc, char **argv, const char *name)
{
	struct daemon *d = calloc(1, sizeof(*d));
	const char *datadir = NULL, *env;
	int verbose = 0;
	char err[512];

	if (!d)
		fatal("out of memory");
	d->name = name;
	d->control = -1;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "-d") == 0 && i + 1 < argc)
			datadir = argv[++i];
		else if (strcmp(argv[i], "--dev") == 0)
			d->dev = 1;
		else if (strcmp(argv[i], "-v") == 0)
			verbose = 1;
		else if (strcmp(argv[i], "--standby") == 0)
			d->standby_arg = argv[i];
		else
			usage(name);
	}
	if (!datadir)
		usage(name);
	log_init(name, verbose ? LOG_LVL_DEBUG : LOG_LVL_INFO);
	if (snprintf(d->datadir, sizeof(d->datadir), "%s", datadir) >= (int)sizeof(d->datadir))
		fatal("data directory path too long");
	snprintf(d->dbpath, sizeof(d->dbpath), "%s/loft.db", d->datadir);
	d->cfg = config_new();
	char path[4200];
	snprintf(path, sizeof(path), "%s/loft.conf", d->datadir);
	if (config_load(d->cfg, path, err, sizeof(err)) < 0)
		fatal("event=config-error error=\"%s\"", err);
	if (!verbose) {
		int lvl = log_level_parse(config_get(d->cfg, "log_level", "info"));
		if (lvl < 0)
			fatal("event=config-error error=\"log_level must be err|warn|info|debug\"");
		log_set_level(lvl);
	}
	/* a peer that closes early must not kill us with SIGPIPE */
	signal(SIGPIPE, SIG_IGN);
	d->ev = ev_new();
	if (!d->ev)
		fatal("event=epoll-failed error=\"%s\"", strerror(errno));
	if (ev_signal_add(d->ev, SIGTERM, on_signal, d) < 0 ||
	    ev_signal_add(d->ev, SIGINT, on_signal, d) < 0 ||
	    ev_signal_add(d->ev, SIGHUP, on_signal, d) < 0)
		fatal("event=signalfd-failed error=\"%s\"", strerror(errno));
	parse_listen(d, getenv("LOFT_LISTEN"));
	env = getenv("LOFT_CONTROL");
	if (d->standby_arg) {
		char comm[16];

		/* a standby needs loftd to tell it when to serve */
		if (!env)
			fatal("event=usage-error error=\"--standby is for loftd's children\"");
		d->standby = 1;
		/* "loft-smtpd-wait" in ps/top until it serves (15 bytes at most) */
		snprintf(comm, sizeof(comm), "%s-wait", name);
		prctl(PR_SET_NAME, comm, 0, 0, 0);
	}
	if (env) {
		uint64_t fd;
		if (strnum_u64(env, 1024, &fd) < 0)
			bug("malformed LOFT_CONTROL");
		d->control = (int)fd;
		if (ev_io_add(d->ev, d->control, EV_READ, on_control, d) < 0)
			fatal("event=control-failed error=\"%s\"", strerror(errno));
	}
	return d;
}

void daemon_set_hooks(struct daemon *d, const struct daemon_hooks *hooks)
{
	d->hooks = *hooks;
}

struct evloop *daemon_loop(struct daemon *d)
{
	return d->ev;
}

struct config *daemon_config(struct daemon *d)
{
	return d->cfg;
}

const char *daemon_datadir(const struct daemon *d)
{
	return d->datadir;
}

const char *daemon_db_path(const struct daemon *d)
{
	return d->dbpath;
}

int daemon_dev(const struct daemon *d)
{
	return d->dev;
}

int daemon_standby(const struct daemon *d)
{
	return d->standby;
}

int daemon_stopping(const struct daemon *d)
{
	return d->stopping;
}

int daemon_listener(const struct daemon *d, const char *name)
{
	for (int i = 0; i < d->nlisten; i++)
		if (strcmp(d->listen[i].name, name) == 0)
			return d->listen[i].fd;
	return -1;
}

void daemon_notify(struct daemon *d, const char *topic)
{
	char msg[128];
	int n = snprintf(msg, sizeof(msg), "notify %s", topic);

	if (d->control < 0 || n < 0 || (size_t)n >= sizeof(msg))
		return;
	/* best effort: a missed wake-up is caught by the pollers' timers */
	send(d->control, msg, (size_t)n, MSG_DONTWAIT | MSG_NOSIGNAL);
}

int daemon_tls_paths(const struct config *cfg, const char *datadir, char *cert, size_t certlen,
		     char *key, size_t keylen)
{
	const char *c = config_get(cfg, "tls_cert", NULL), *k = config_get(cfg, "tls_key", NULL);
	int n1, n2;

	/* a certificate loft-admin got from an ACME CA (admin/acme.c) wins
	 * over loftd's self-signed one; loft.conf's paths win over both */
	if (!c && !k) {
		n1 = snprintf(cert, certlen, "%s/acme/live/cert.pem", datadir);
		n2 = snprintf(key, keylen, "%s/acme/live/key.pem", datadir);
		if (n1 > 0 && (size_t)n1 < certlen && n2 > 0 && (size_t)n2 < keylen &&
		    access(cert, R_OK) == 0 && access(key, R_OK) == 0)
			return 0;
	}
	n1 = c ? snprintf(cert, certlen, "%s", c)
	       : snprintf(cert, certlen, "%s/tls/cert.pem", datadir);
	n2 = k ? snprintf(key, keylen, "%s", k) : snprintf(key, keylen, "%s/tls/key.pem", datadir);
	return n1 < 0 || (size_t)n1 >= certlen || n2 < 0 || (size_t)n2 >= keylen ? -1 : 0;
}

struct tls_ctx *daemon_tls_server(struct daemon *d)
{
	char cert[4200], key[4200], err[512];
	struct tls_ctx *ctx;

	if (daemon_tls_paths(d->cfg, d->datadir, cert, sizeof(cert), key, sizeof(key)) < 0) {
		log_warn(NULL, "event=tls-unavailable error=\"certificate path too long\"");
		return NULL;
	}
	ctx = tls_server_new(cert, key, err, sizeof(err));
	if (!ctx)
		log_warn(NULL, "event=tls-unavailable error=\"%s\"", err);
	return ctx;
}

struct dns *daemon_dns(struct daemon *d)
{
	char err[256];
	struct dns *r = dns_new_config(d->ev, d->cfg, err, sizeof(err));

	if (!r)
		fatal("event=config-error key=dns_servers error=\"%s\"", err);
	return r;
}

int daemon_run(struct daemon *d)
{
	if (d->standby && !d->hooks.serve)
		fatal("event=usage-error error=\"%s has no standby mode\"", d->name);
	log_info(NULL, "event=started pid=%ld", (long)getpid());
	/* tells loftd the start-up went well: from now on a death is a crash
	 * to restart at once, not a start-up failure to back off from */
	if (d->control >= 0)
		send(d->control, "ready", 5, MSG_DONTWAIT | MSG_NOSIGNAL);
	/* the start-up code (configuration, the store's schema) is done:
	 * its pages of the program and of the stack stop counting in RSS
	 * (issue 14) */
	pages_drop_code();
	pages_drop_stack();
	if (ev_run(d->ev) < 0) {
		log_err(NULL, "event=loop-failed error=\"%s\"", strerror(errno));
		return 1;
	}
	log_info(NULL, "event=exit");
	return 0;
}

void daemon_free(struct daemon *d)
{
	if (!d)
		return;
	if (d->control >= 0)
		close(d->control);
	ev_free(d->ev);
	config_free(d->cfg);
	free(d);
}

/* Letters, digits, dots and hyphens only: the name goes into reply lines
 * and headers, so nothing else may come through from the database. */
static int hostname_plain(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > 253)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
		      (s[i] >= '0' && s[i] <= '9') || s[i] == '.' || s[i] == '-'))
			return 0;
	return 1;
}

const char *daemon_mail_hostname(struct daemon *d, struct store *st, char *out, size_t n)
{
	const char *hn = config_get(d->cfg, "hostname", NULL);
	char v[256];

	if (hn) {
		snprintf(out, n, "%s", hn);
		return "config";
	}
	if (st && store_setting_get(st, "mail.hostname", v, sizeof(v)) == 0) {
		if (hostname_plain(v)) {
			snprintf(out, n, "%s", v);
			return "setting";
		}
		log_warn(NULL,
			 "event=setting-ignored key=mail.hostname reason=\"not a host name\"");
	}
	if (gethostname(v, sizeof(v) - 1) < 0)
		snprintf(v, sizeof(v), "localhost");
	v[sizeof(v) - 1] = '\0';
	snprintf(out, n, "%s", v);
	return "system";
}
