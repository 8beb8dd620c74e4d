/*
 * loft-admin: the setup wizard, the web admin and the phone set-up
 * documents, over HTTP (80; 8080 with --dev) and HTTPS (443; 8443).
 *
 * SECURITY: runs as the unprivileged user loft with the sockets loftd
 * bound.  Every byte of a request is hostile: MHD parses HTTP under a
 * per-connection memory limit and an idle timeout, form bodies are
 * bounded (form.c) and uploads limited (admin.max_upload).  Before set-up
 * is complete it answers wizard pages only to the local network; after,
 * the admin pages need a logged-in session (random token, only its hash
 * stored), every POST a CSRF token, and plain HTTP is redirected to
 * HTTPS.  It reads and writes DATADIR/loft.db through lib/store, reads the
 * TLS certificate, writes backups to a temporary file it streams and
 * removes.  Secrets (admin password, mailbox and relay passwords) are
 * never echoed into a page or a log line.  One thread: the event loop.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <unistd.h>

#include "acme.h"
#include "admin.h"
#include "authlimit.h"
#include "config.h"
#include "daemon.h"
#include "evloop.h"
#include "http.h"
#include "log.h"
#include "store.h"
#include "tls.h"

static struct admin A;
static struct http *H;

static struct tls_ctx *load_tls(void)
{
	char cert[4200], key[4200], err[512];
	struct tls_ctx *t;

	if (daemon_tls_paths(A.cfg, A.datadir, cert, sizeof(cert), key, sizeof(key)) < 0)
		return NULL;
	t = tls_server_new(cert, key, err, sizeof(err));
	if (!t)
		log_err(NULL, "event=tls-load-failed cert=%s error=\"%s\"", cert, err);
	return t;
}

static void on_stop(struct daemon *d, void *arg)
{
	(void)d;
	(void)arg;
	/* open requests are short; MHD's timeout bounds the rest */
	admin_http_stop(H);
	ev_stop(A.ev);
}

static void reload_tls(struct admin *a)
{
	struct tls_ctx *t = load_tls();

	(void)a;
	if (t)
		admin_http_set_tls(H, t);
}

static void on_reload(struct daemon *d, void *arg)
{
	const char *ln;
	struct tls_ctx *t;

	(void)arg;
	/* the reload freed the old configuration: every pointer into it is
	 * taken again before anything reads it */
	A.cfg = daemon_config(d);
	ln = config_get(A.cfg, "admin.local_nets", NULL);
	if (ln && admin_form_ip_in_nets("127.0.0.1", ln) < 0) {
		log_err(NULL, "event=config-error key=admin.local_nets error=\"a list of CIDR "
			      "blocks\" using=default");
		ln = NULL;
	}
	A.local_nets = ln;
	t = load_tls();
	if (t)
		admin_http_set_tls(H, t);
	log_info(NULL, "event=reloaded tls=%s", t ? "new" : "kept");
}

static uint64_t conf_u64(const char *key, uint64_t def, uint64_t min, uint64_t max)
{
	uint64_t v;

	if (config_get_u64(A.cfg, key, def, max, &v) < 0 || v < min)
		fatal("event=config-error key=%s error=\"must be a number from %llu to %llu\"", key,
		      (unsigned long long)min, (unsigned long long)max);
	return v;
}

static int socket_port(int fd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);

	if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0)
		return 0;
	if (ss.ss_family == AF_INET)
		return ntohs(((struct sockaddr_in *)&ss)->sin_port);
	if (ss.ss_family == AF_INET6)
		return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
	return 0;
}

static void on_notify(struct daemon *d, const char *topic, void *arg)
{
	(void)d;
	(void)arg;
	admin_acme_notify(&A, topic);
}

int main(int argc, char **argv)
{
	struct daemon_hooks hooks = {.stop = on_stop, .reload = on_reload, .notify = on_notify};
	struct authlimit_conf alc;
	char err[512];
	const char *hn;
	int fd, any = 0, bval;
	struct tls_ctx *tls;
	/* uacme calls this program back as its challenge hook */
	int hook = acme_hook_main(argc, argv);

	if (hook >= 0)
		return hook;
	A.d = daemon_init(argc, argv, "loft-admin");
	A.reload_tls = reload_tls;
	A.ev = daemon_loop(A.d);
	A.cfg = daemon_config(A.d);
	A.datadir = daemon_datadir(A.d);
	A.dev = daemon_dev(A.d);
	daemon_set_hooks(A.d, &hooks);

	hn = config_get(A.cfg, "hostname", NULL);
	if (!hn) {
		if (gethostname(A.hostname, sizeof(A.hostname) - 1) < 0)
			snprintf(A.hostname, sizeof(A.hostname), "localhost");
	} else {
		snprintf(A.hostname, sizeof(A.hostname), "%s", hn);
	}
	A.local_nets = config_get(A.cfg, "admin.local_nets", NULL);
	if (A.local_nets && admin_form_ip_in_nets("127.0.0.1", A.local_nets) < 0)
		fatal("event=config-error key=admin.local_nets error=\"a list of CIDR blocks\"");
	/* 64 MB: a backup of a small household's mail restores; a 100 MB
	 * upload is refused before it is read */
	A.max_upload = conf_u64("admin.max_upload", 64u << 20, 4096, (uint64_t)1 << 34);
	A.session_idle_s = (int64_t)conf_u64("admin.session_idle", 12 * 3600, 60, 30 * 86400);
	if (config_get_bool(A.cfg, "admin.require_https", 1, &bval) < 0)
		fatal("event=config-error key=admin.require_https error=\"yes or no\"");
	A.require_https = bval;

	if (authlimit_conf_load(&alc, A.cfg, "admin", err, sizeof(err)) < 0)
		fatal("event=config-error error=\"%s\"", err);
	A.al = authlimit_new(&alc);
	if (store_open(daemon_db_path(A.d), &A.st, err, sizeof(err)) < 0)
		fatal("event=db-open-failed error=\"%s\"", err);
	store_set_cache_kib(A.st, 1024);

	H = admin_http_new(&A, (unsigned)conf_u64("admin.max_connections", 64, 1, 10000),
			   (unsigned)conf_u64("admin.max_connections_per_ip", 16, 1, 10000),
			   (unsigned)conf_u64("admin.timeout", 30, 1, 3600),
			   (unsigned)conf_u64("admin.handshake_timeout", 60, 1, 3600));
	tls = load_tls();
	if (tls)
		admin_http_set_tls(H, tls);
	if ((fd = daemon_listener(A.d, "http")) >= 0) {
		if (admin_http_listen(H, fd, 0) < 0)
			fatal("event=listen-failed name=http error=\"%s\"", strerror(errno));
		log_info(NULL, "event=listening name=http port=%d", socket_port(fd));
		any = 1;
	}
	if ((fd = daemon_listener(A.d, "https")) >= 0) {
		if (!tls) {
			log_err(NULL, "event=listener-off name=https reason=\"no TLS\"");
			close(fd);
		} else {
			A.https_port = socket_port(fd);
			if (admin_http_listen(H, fd, 1) < 0)
				fatal("event=listen-failed name=https error=\"%s\"",
				      strerror(errno));
			log_info(NULL, "event=listening name=https port=%d", A.https_port);
			any = 1;
		}
	}
	if (!any)
		fatal("event=no-listeners hint=\"loft-admin is started by loftd\"");

	int rc = daemon_run(A.d);
	admin_http_free(H);
	store_close(A.st);
	authlimit_free(A.al);
	daemon_free(A.d);
	return rc;
}
