/*
 * loftctl: administers a Loft data directory from the shell, in the style
 * of postqueue and doveadm.  This file is the dispatcher: options, the
 * command table, and the helpers every command family shares; the
 * commands live in ctl_*.c.
 *
 * SECURITY: run by the administrator (root or the loft user) on the box
 * itself; it trusts its command line.  Passwords are read from standard
 * input, never from argv (which other users can see in ps), and never
 * printed.  It changes data only through lib/store.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "log.h"
#include "loftctl.h"
#include "store.h"

/* In the order of the usage text. */
static const struct ctl_cmd *const commands[] = {
    &ctl_cmd_init,	&ctl_cmd_domain, &ctl_cmd_user,	   &ctl_cmd_alias, &ctl_cmd_queue,
    &ctl_cmd_smarthost, &ctl_cmd_dns,	 &ctl_cmd_inbound, &ctl_cmd_route, &ctl_cmd_status,
    &ctl_cmd_events,	&ctl_cmd_backup, &ctl_cmd_restore,
};

#define N_COMMANDS (sizeof(commands) / sizeof(commands[0]))

static const char *datadir = "/var/lib/loft";
static char dbpath[4200];

const char *ctl_datadir(void)
{
	return datadir;
}

const char *ctl_dbpath(void)
{
	return dbpath;
}

void ctl_usage(void)
{
	fprintf(stderr, "usage: loftctl [-d DATADIR] COMMAND ...\n");
	for (size_t i = 0; i < N_COMMANDS; i++)
		fputs(commands[i]->usage, stderr);
	exit(2);
}

struct store *ctl_open_store(void)
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

int ctl_result(struct store *st, int r, const char *what, const char *name)
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

int ctl_list_result(struct store *st, int r)
{
	if (r >= 0)
		return 0;
	fprintf(stderr, "loftctl: %s\n", store_errmsg(st));
	return 1;
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
		} else {
			ctl_usage();
		}
	}
	if (i >= argc)
		ctl_usage();
	snprintf(dbpath, sizeof(dbpath), "%s/loft.db", datadir);
	const char *name = argv[i++];
	int rest = argc - i;

	for (size_t k = 0; k < N_COMMANDS; k++) {
		const struct ctl_cmd *c = commands[k];

		if (strcmp(name, c->name) != 0)
			continue;
		if (rest < c->min_args || (c->max_args >= 0 && rest > c->max_args))
			ctl_usage();
		return c->run(rest, argv + i);
	}
	ctl_usage();
}
