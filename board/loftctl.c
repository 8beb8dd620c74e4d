/*
 * loftctl: administers a Loft data directory from the shell, in the style
 * of postqueue and doveadm.
 *
 * SECURITY: run by the administrator (root or the loft user) on the box
 * itself; it trusts its command line.  Passwords are read from standard
 * input, never from argv (which other users can see in ps), and never
 * printed.  It changes data only through lib/store.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "passwd.h"
#include "procstatus.h"
#include "store.h"
#include "strnum.h"

static const char *datadir = "/var/lib/loft";
static char dbpath[4200];

static void usage(void)
{
	fprintf(stderr,
		"usage: loftctl [-d DATADIR] COMMAND ...\n"
		"  init                          create the data directory and database\n"
		"  domain add|del DOMAIN         local domains\n"
		"  domain list\n"
		"  user add|passwd ADDRESS       password read from standard input\n"
		"  user del ADDRESS\n"
		"  user list\n"
		"  alias add SOURCE TARGET       SOURCE is user@domain or @domain (catch-all)\n"
		"  alias del SOURCE [TARGET]\n"
		"  alias list\n"
		"  queue list                    the outbound queue\n"
		"  status                        each process, pid, uptime, restarts\n"
		"  events [N]                    the newest N events (default 20)\n"
		"  backup FILE                   a consistent copy, also while running\n"
		"  restore FILE                  replace the database with FILE\n");
	exit(2);
}

static struct store *open_store(void)
{
	struct store *st;
	char err[512];
	struct stat sb;

	if (stat(datadir, &sb) < 0) {
		fprintf(stderr, "loftctl: %s: %s (run \"loftctl -d %s init\" first)\n", datadir,
			strerror(errno), datadir);
		exit(1);
	}
	if (store_open(dbpath, &st, err, sizeof(err)) < 0) {
		fprintf(stderr, "loftctl: %s\n", err);
		exit(1);
	}
	return st;
}

/* Maps a store result to a message and an exit status. */
static int result(struct store *st, int r, const char *what, const char *name)
{
	if (r >= 0)
		return 0;
	if (r == STORE_EXISTS)
		fprintf(stderr, "loftctl: %s %s already exists\n", what, name);
	else if (r == STORE_NOTFOUND)
		fprintf(stderr, "loftctl: %s %s: not found\n", what, name);
	else
		fprintf(stderr, "loftctl: %s %s: %s\n", what, name, store_errmsg(st));
	return 1;
}

/* Reads a password from stdin: prompted twice without echo on a terminal,
 * else the first line.  Returns 0 or -1. */
static int read_password(char *out, size_t outlen)
{
	int tty = isatty(STDIN_FILENO);
	struct termios old, noecho;
	char again[PASSWD_MAX + 2];

	for (int round = 0; round < (tty ? 2 : 1); round++) {
		char *dst = round ? again : out;
		size_t dlen = round ? sizeof(again) : outlen;

		if (tty) {
			fprintf(stderr, round ? "Again: " : "Password: ");
			tcgetattr(STDIN_FILENO, &old);
			noecho = old;
			noecho.c_lflag &= ~(tcflag_t)ECHO;
			tcsetattr(STDIN_FILENO, TCSAFLUSH, &noecho);
		}
		char *r = fgets(dst, (int)dlen, stdin);
		if (tty) {
			tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
			fputc('\n', stderr);
		}
		if (!r)
			return -1;
		size_t n = strlen(dst);
		if (n && dst[n - 1] == '\n')
			dst[--n] = '\0';
		else if (n == dlen - 1) {
			fprintf(stderr, "loftctl: password longer than %d bytes\n", PASSWD_MAX);
			return -1;
		}
		if (n && dst[n - 1] == '\r')
			dst[--n] = '\0';
	}
	if (tty && strcmp(out, again) != 0) {
		fprintf(stderr, "loftctl: the passwords differ\n");
		return -1;
	}
	explicit_bzero(again, sizeof(again));
	if (!out[0]) {
		fprintf(stderr, "loftctl: empty password\n");
		return -1;
	}
	return 0;
}

static int print_name(void *arg, const char *name)
{
	(void)arg;
	printf("%s\n", name);
	return 0;
}

static int print_user(void *arg, int64_t id, const char *address)
{
	(void)arg;
	(void)id;
	printf("%s\n", address);
	return 0;
}

static int print_alias(void *arg, const char *source, const char *target)
{
	(void)arg;
	printf("%s -> %s\n", source, target);
	return 0;
}

static int cmd_init(void)
{
	char path[4200];
	struct store *st;
	char err[512];

	if (mkdir(datadir, 0750) < 0 && errno != EEXIST) {
		fprintf(stderr, "loftctl: %s: %s\n", datadir, strerror(errno));
		return 1;
	}
	snprintf(path, sizeof(path), "%s/loft.conf", datadir);
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0640);
	if (fd >= 0) {
		static const char conf[] =
		    "# Loft settings: key = value.  Everything the setup wizard sets\n"
		    "# lives in the database; this file holds what a process needs\n"
		    "# before it can read the database.\n"
		    "#\n"
		    "# hostname = mail.example.org\n"
		    "# log_level = info\n"
		    "# listen.mx = [::]:25\n"
		    "# tls_cert = /etc/loft/cert.pem\n"
		    "# tls_key = /etc/loft/key.pem\n";
		if (write(fd, conf, sizeof(conf) - 1) != (ssize_t)sizeof(conf) - 1 ||
		    fsync(fd) < 0) {
			fprintf(stderr, "loftctl: %s: %s\n", path, strerror(errno));
			close(fd);
			return 1;
		}
		close(fd);
	} else if (errno != EEXIST) {
		fprintf(stderr, "loftctl: %s: %s\n", path, strerror(errno));
		return 1;
	}
	if (store_open(dbpath, &st, err, sizeof(err)) < 0) {
		fprintf(stderr, "loftctl: %s\n", err);
		return 1;
	}
	store_close(st);
	printf("initialised %s (schema version %d)\n", datadir, store_schema_version());
	return 0;
}

static int cmd_domain(int argc, char **argv)
{
	struct store *st;
	int rc;

	if (argc == 1 && strcmp(argv[0], "list") == 0) {
		st = open_store();
		rc = store_domain_list(st, print_name, NULL) < 0;
		if (rc)
			fprintf(stderr, "loftctl: %s\n", store_errmsg(st));
	} else if (argc == 2 && strcmp(argv[0], "add") == 0) {
		st = open_store();
		rc = result(st, store_domain_add(st, argv[1]), "domain", argv[1]);
	} else if (argc == 2 && strcmp(argv[0], "del") == 0) {
		st = open_store();
		rc = result(st, store_domain_del(st, argv[1]), "domain", argv[1]);
	} else {
		usage();
	}
	store_close(st);
	return rc;
}

static int cmd_user(int argc, char **argv)
{
	char pw[PASSWD_MAX + 2];
	struct store *st;
	int rc;

	if (argc == 1 && strcmp(argv[0], "list") == 0) {
		st = open_store();
		rc = store_user_list(st, print_user, NULL) < 0;
		if (rc)
			fprintf(stderr, "loftctl: %s\n", store_errmsg(st));
	} else if (argc == 2 && (strcmp(argv[0], "add") == 0 || strcmp(argv[0], "passwd") == 0)) {
		if (read_password(pw, sizeof(pw)) < 0)
			return 1;
		st = open_store();
		if (strcmp(argv[0], "add") == 0)
			rc = result(st, store_user_add(st, argv[1], pw, NULL), "user", argv[1]);
		else
			rc = result(st, store_user_passwd(st, argv[1], pw), "user", argv[1]);
		explicit_bzero(pw, sizeof(pw));
	} else if (argc == 2 && strcmp(argv[0], "del") == 0) {
		st = open_store();
		rc = result(st, store_user_del(st, argv[1]), "user", argv[1]);
	} else {
		usage();
	}
	store_close(st);
	return rc;
}

static int cmd_alias(int argc, char **argv)
{
	struct store *st;
	int rc;

	if (argc == 1 && strcmp(argv[0], "list") == 0) {
		st = open_store();
		rc = store_alias_list(st, print_alias, NULL) < 0;
		if (rc)
			fprintf(stderr, "loftctl: %s\n", store_errmsg(st));
	} else if (argc == 3 && strcmp(argv[0], "add") == 0) {
		st = open_store();
		rc = result(st, store_alias_add(st, argv[1], argv[2]), "alias", argv[1]);
	} else if ((argc == 2 || argc == 3) && strcmp(argv[0], "del") == 0) {
		st = open_store();
		rc = result(st, store_alias_del(st, argv[1], argc == 3 ? argv[2] : NULL), "alias",
			    argv[1]);
	} else {
		usage();
	}
	store_close(st);
	return rc;
}

static int print_queue(void *arg, const struct store_queue_item *q)
{
	char when[32];
	time_t t = (time_t)q->next_attempt;
	struct tm tm;

	(*(int *)arg)++;
	gmtime_r(&t, &tm);
	strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", &tm);
	printf("%-8lld %-10s %-3d %s  <%s> -> <%s>%s%s\n", (long long)q->id, q->status, q->attempts,
	       when, q->mail_from, q->rcpt, q->last_error && q->last_error[0] ? "  " : "",
	       q->last_error ? q->last_error : "");
	return 0;
}

static int cmd_queue(int argc, char **argv)
{
	struct store *st;
	int n = 0, rc;

	if (argc != 1 || strcmp(argv[0], "list") != 0)
		usage();
	st = open_store();
	printf("%-8s %-10s %-3s %-19s  %s\n", "ID", "STATUS", "TRY", "NEXT ATTEMPT (UTC)", "ROUTE");
	rc = store_queue_list(st, print_queue, &n) < 0;
	if (rc)
		fprintf(stderr, "loftctl: %s\n", store_errmsg(st));
	else
		printf("-- %d %s\n", n, n == 1 ? "entry" : "entries");
	store_close(st);
	return rc;
}

static void format_uptime(int64_t secs, char *out, size_t outlen)
{
	if (secs < 0)
		secs = 0;
	if (secs >= 86400)
		snprintf(out, outlen, "%lldd%02lldh", (long long)(secs / 86400),
			 (long long)(secs % 86400 / 3600));
	else if (secs >= 3600)
		snprintf(out, outlen, "%lldh%02lldm", (long long)(secs / 3600),
			 (long long)(secs % 3600 / 60));
	else
		snprintf(out, outlen, "%lldm%02llds", (long long)(secs / 60),
			 (long long)(secs % 60));
}

static int loftd_running(void)
{
	char path[4200];
	int fd, running = 0;

	snprintf(path, sizeof(path), "%s/run/loftd.pid", datadir);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	/* loftd holds an exclusive lock for its whole life */
	if (flock(fd, LOCK_SH | LOCK_NB) < 0 && errno == EWOULDBLOCK)
		running = 1;
	close(fd);
	return running;
}

static int cmd_status(void)
{
	struct procstatus rows[16];
	char path[4200];
	int running = loftd_running(), n;

	snprintf(path, sizeof(path), "%s/run/status", datadir);
	n = procstatus_read(path, rows, sizeof(rows) / sizeof(rows[0]));
	if (n < 0 && errno != ENOENT) {
		fprintf(stderr, "loftctl: %s: %s\n", path, strerror(errno));
		return 1;
	}
	printf("%-14s %-11s %-8s %-9s %-8s %s\n", "PROCESS", "STATE", "PID", "UPTIME", "RESTARTS",
	       "LAST EXIT");
	for (int i = 0; i < n; i++) {
		const struct procstatus *p = &rows[i];
		const char *state = p->state;
		char up[32] = "-", pid[16] = "-", last[PROCSTATUS_TEXT_MAX + 32] = "-";

		/* rows are written by loftd: when it is gone they are history */
		if (!running)
			state = "stopped";
		else if (p->pid > 0 && kill((pid_t)p->pid, 0) < 0 && errno == ESRCH)
			state = "gone";
		if (running && p->pid > 0 &&
		    (strcmp(state, "running") == 0 || strcmp(state, "starting") == 0)) {
			format_uptime((int64_t)time(NULL) - p->started, up, sizeof(up));
			snprintf(pid, sizeof(pid), "%ld", p->pid);
		}
		if (p->last_exit[0]) {
			char ago[32];
			format_uptime((int64_t)time(NULL) - p->last_exit_at, ago, sizeof(ago));
			snprintf(last, sizeof(last), "%s, %s ago", p->last_exit, ago);
		}
		printf("%-14s %-11s %-8s %-9s %-8u %s\n", p->name, state, pid, up, p->restarts,
		       last);
	}
	if (!running)
		printf("loftd is not running on %s\n", datadir);
	return 0;
}

static int print_event(void *arg, int64_t id, int64_t when, const char *kind, const char *text)
{
	char ts[32];
	time_t t = (time_t)when;
	struct tm tm;

	(void)arg;
	(void)id;
	gmtime_r(&t, &tm);
	strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%SZ", &tm);
	printf("%s %-10s %s\n", ts, kind, text);
	return 0;
}

static int cmd_events(int argc, char **argv)
{
	unsigned int n = 20;
	struct store *st;
	int rc;

	if (argc > 1 || (argc == 1 && strnum_uint(argv[0], 100000, &n) < 0))
		usage();
	st = open_store();
	rc = store_event_list(st, (int)n, print_event, NULL) < 0;
	if (rc)
		fprintf(stderr, "loftctl: %s\n", store_errmsg(st));
	store_close(st);
	return rc;
}

static int cmd_backup(const char *file)
{
	struct store *st = open_store();
	int rc = 0;

	if (store_backup(st, file) < 0) {
		fprintf(stderr, "loftctl: backup to %s: %s\n", file, store_errmsg(st));
		rc = 1;
	} else {
		printf("backed up %s to %s\n", dbpath, file);
	}
	store_close(st);
	return rc;
}

static int cmd_restore(const char *file)
{
	char err[512];

	if (store_restore(file, dbpath, err, sizeof(err)) < 0) {
		fprintf(stderr, "loftctl: restore from %s: %s\n", file, err);
		return 1;
	}
	printf("restored %s from %s\n", dbpath, file);
	return 0;
}

int main(int argc, char **argv)
{
	int i = 1;

	log_init("loftctl", LOG_LVL_WARN);
	if (getenv("LOFT_DATADIR"))
		datadir = getenv("LOFT_DATADIR");
	while (i < argc && argv[i][0] == '-') {
		if (strcmp(argv[i], "-d") == 0 && i + 1 < argc) {
			datadir = argv[i + 1];
			i += 2;
		} else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
			usage();
		} else {
			usage();
		}
	}
	if (i >= argc)
		usage();
	snprintf(dbpath, sizeof(dbpath), "%s/loft.db", datadir);
	const char *cmd = argv[i++];
	int rest = argc - i;
	char **rargv = argv + i;

	if (strcmp(cmd, "init") == 0 && rest == 0)
		return cmd_init();
	if (strcmp(cmd, "domain") == 0 && rest >= 1)
		return cmd_domain(rest, rargv);
	if (strcmp(cmd, "user") == 0 && rest >= 1)
		return cmd_user(rest, rargv);
	if (strcmp(cmd, "alias") == 0 && rest >= 1)
		return cmd_alias(rest, rargv);
	if (strcmp(cmd, "queue") == 0)
		return cmd_queue(rest, rargv);
	if (strcmp(cmd, "status") == 0 && rest == 0)
		return cmd_status();
	if (strcmp(cmd, "events") == 0)
		return cmd_events(rest, rargv);
	if (strcmp(cmd, "backup") == 0 && rest == 1)
		return cmd_backup(rargv[0]);
	if (strcmp(cmd, "restore") == 0 && rest == 1)
		return cmd_restore(rargv[0]);
	usage();
}
