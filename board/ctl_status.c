/*
 * loftctl: what runs and what happened: status (loftd's table of
 * processes) and the event log.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

#include "loftctl.h"
#include "procstatus.h"
#include "store.h"
#include "store_settings.h"
#include "strnum.h"

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

	snprintf(path, sizeof(path), "%s/run/loftd.pid", ctl_datadir());
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	/* loftd holds an exclusive lock for its whole life */
	if (flock(fd, LOCK_SH | LOCK_NB) < 0 && errno == EWOULDBLOCK)
		running = 1;
	close(fd);
	return running;
}

static int cmd_status(int argc, char **argv)
{
	const char *datadir = ctl_datadir();
	struct procstatus rows[16];
	char path[4200];
	int running = loftd_running(), n;

	(void)argc;
	(void)argv;
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
		ctl_usage();
	st = ctl_open_store();
	rc = ctl_list_result(st, store_event_list(st, (int)n, print_event, NULL));
	store_close(st);
	return rc;
}

const struct ctl_cmd ctl_cmd_status = {
    "status", "  status                        each process, pid, uptime, restarts\n", 0, 0,
    cmd_status};
const struct ctl_cmd ctl_cmd_events = {
    "events", "  events [N]                    the newest N events (default 20)\n", 0, -1,
    cmd_events};
