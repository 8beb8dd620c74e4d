/*
 * loftctl: domains, users and aliases.  Passwords come from standard
 * input only (prompted twice without echo on a terminal) and are wiped
 * after use.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "loftctl.h"
#include "passwd.h"
#include "store.h"
#include "store_outbound.h"
#include "store_users.h"
#include "strnum.h"

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

static int cmd_domain(int argc, char **argv)
{
	struct store *st;
	int rc;

	if (argc == 1 && strcmp(argv[0], "list") == 0) {
		st = ctl_open_store();
		rc = ctl_list_result(st, store_domain_list(st, print_name, NULL));
	} else if (argc == 2 && strcmp(argv[0], "add") == 0) {
		st = ctl_open_store();
		rc = ctl_result(st, store_domain_add(st, argv[1]), "domain", argv[1]);
		/* its DKIM key is made with it (loftctl dns prints the record) */
		if (rc == 0 && store_dkim_ensure(st, argv[1], NULL) < 0)
			fprintf(stderr, "loftctl: warning: no DKIM key for %s yet: %s\n", argv[1],
				store_errmsg(st));
	} else if (argc == 2 && strcmp(argv[0], "del") == 0) {
		st = ctl_open_store();
		rc = ctl_result(st, store_domain_del(st, argv[1]), "domain", argv[1]);
	} else {
		ctl_usage();
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
		st = ctl_open_store();
		rc = ctl_list_result(st, store_user_list(st, print_user, NULL));
	} else if (argc == 2 && (strcmp(argv[0], "add") == 0 || strcmp(argv[0], "passwd") == 0)) {
		if (read_password(pw, sizeof(pw)) < 0)
			return 1;
		st = ctl_open_store();
		if (strcmp(argv[0], "add") == 0)
			rc = ctl_result(st, store_user_add(st, argv[1], pw, NULL), "user", argv[1]);
		else
			rc = ctl_result(st, store_user_passwd(st, argv[1], pw), "user", argv[1]);
		explicit_bzero(pw, sizeof(pw));
	} else if (argc == 2 && strcmp(argv[0], "del") == 0) {
		st = ctl_open_store();
		rc = ctl_result(st, store_user_del(st, argv[1]), "user", argv[1]);
	} else if (argc == 2 && strcmp(argv[0], "quota") == 0) {
		int64_t id, quota = 0, usage = 0;
		char used[32], limit[32];

		st = ctl_open_store();
		rc = store_user_find(st, argv[1], &id);
		if (rc == 0)
			rc = store_user_quota_get(st, id, &quota, &usage);
		if (rc == 0) {
			strnum_size_human(used, sizeof(used), usage > 0 ? (uint64_t)usage : 0);
			strnum_size_human(limit, sizeof(limit), quota > 0 ? (uint64_t)quota : 0);
			if (quota > 0)
				printf("%s: %s of %s used\n", argv[1], used, limit);
			else
				printf("%s: %s used, no limit\n", argv[1], used);
		} else {
			rc = ctl_result(st, rc, "user", argv[1]);
		}
	} else if (argc == 3 && strcmp(argv[0], "quota") == 0) {
		uint64_t bytes;

		/* bytes or a size with a binary unit ("500M", "2G"), 0 =
		 * unlimited, as Dovecot's quota rules read them; INT64_MAX
		 * keeps it a SQLite integer */
		if (strnum_size(argv[2], INT64_MAX, &bytes) < 0) {
			fprintf(stderr, "loftctl: quota must be a size such as 500M or 2G, or a "
					"number of bytes (0 = unlimited)\n");
			return 2;
		}
		st = ctl_open_store();
		rc = ctl_result(st, store_user_quota_set(st, argv[1], (int64_t)bytes), "user",
				argv[1]);
	} else {
		ctl_usage();
	}
	store_close(st);
	return rc;
}

static int cmd_alias(int argc, char **argv)
{
	struct store *st;
	int rc;

	if (argc == 1 && strcmp(argv[0], "list") == 0) {
		st = ctl_open_store();
		rc = ctl_list_result(st, store_alias_list(st, print_alias, NULL));
	} else if (argc == 3 && strcmp(argv[0], "add") == 0) {
		st = ctl_open_store();
		rc = ctl_result(st, store_alias_add(st, argv[1], argv[2]), "alias", argv[1]);
	} else if ((argc == 2 || argc == 3) && strcmp(argv[0], "del") == 0) {
		st = ctl_open_store();
		rc = ctl_result(st, store_alias_del(st, argv[1], argc == 3 ? argv[2] : NULL),
				"alias", argv[1]);
	} else {
		ctl_usage();
	}
	store_close(st);
	return rc;
}

const struct ctl_cmd ctl_cmd_domain = {"domain",
				       "  domain add|del DOMAIN         local domains\n"
				       "  domain list\n",
				       1, -1, cmd_domain};
const struct ctl_cmd ctl_cmd_user = {
    "user",
    "  user add|passwd ADDRESS       password read from standard input\n"
    "  user del ADDRESS\n"
    "  user quota ADDRESS [SIZE]     show, or set the mailbox limit (500M, 2G, bytes; 0 = none)\n"
    "  user list\n",
    1, -1, cmd_user};
const struct ctl_cmd ctl_cmd_alias = {
    "alias",
    "  alias add SOURCE TARGET       SOURCE is user@domain or @domain (catch-all)\n"
    "  alias del SOURCE [TARGET]\n"
    "  alias list\n",
    1, -1, cmd_alias};
