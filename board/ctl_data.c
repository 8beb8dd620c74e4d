/*
 * loftctl: the data directory as a whole: init, backup, restore.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "loftctl.h"
#include "store.h"
#include "store_backup.h"

static int cmd_init(int argc, char **argv)
{
	const char *datadir = ctl_datadir();
	char path[4200];
	struct store *st;
	char err[512];

	(void)argc;
	(void)argv;
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
	if (store_open(ctl_dbpath(), &st, err, sizeof(err)) < 0) {
		fprintf(stderr, "loftctl: %s\n", err);
		return 1;
	}
	store_close(st);
	printf("initialised %s (schema version %d)\n", datadir, store_schema_version());
	return 0;
}

static int cmd_backup(int argc, char **argv)
{
	const char *file = argv[0];
	struct store *st = ctl_open_store();
	int rc = 0;

	(void)argc;

	if (store_backup(st, file) < 0) {
		fprintf(stderr, "loftctl: backup to %s: %s\n", file, store_errmsg(st));
		rc = 1;
	} else {
		printf("backed up %s to %s\n", ctl_dbpath(), file);
	}
	store_close(st);
	return rc;
}

static int cmd_restore(int argc, char **argv)
{
	const char *file = argv[0];
	char err[512];

	(void)argc;

	if (store_restore(file, ctl_dbpath(), err, sizeof(err)) < 0) {
		fprintf(stderr, "loftctl: restore from %s: %s\n", file, err);
		return 1;
	}
	printf("restored %s from %s\n", ctl_dbpath(), file);
	return 0;
}

const struct ctl_cmd ctl_cmd_init = {
    "init", "  init                          create the data directory and database\n", 0, 0,
    cmd_init};
const struct ctl_cmd ctl_cmd_backup = {
    "backup", "  backup FILE                   a consistent copy, also while running\n", 1, 1,
    cmd_backup};
const struct ctl_cmd ctl_cmd_restore = {
    "restore", "  restore FILE                  replace the database with FILE\n", 1, 1,
    cmd_restore};
