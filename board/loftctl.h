#ifndef LOFT_LOFTCTL_H
#define LOFT_LOFTCTL_H
/*
 * Inside loftctl: one command per row of the table in loftctl.c, each
 * command family in a file of its own (ctl_data.c, ctl_user.c,
 * ctl_queue.c, ctl_status.c).  A new family adds a ctl_*.c file, its
 * rows here and in the table, and its file in build.mk.
 */
#include <stddef.h>

struct store;

struct ctl_cmd {
	const char *name;
	const char *usage;	/* its lines of the usage text, each ending "\n" */
	int min_args, max_args; /* after the command word; max -1: any */
	/* Returns the exit status; may call ctl_usage() on bad arguments. */
	int (*run)(int argc, char **argv);
};

/* The rows, by family. */
extern const struct ctl_cmd ctl_cmd_init, ctl_cmd_backup, ctl_cmd_restore; /* ctl_data.c */
extern const struct ctl_cmd ctl_cmd_domain, ctl_cmd_user, ctl_cmd_alias;   /* ctl_user.c */
extern const struct ctl_cmd ctl_cmd_queue;				   /* ctl_queue.c */
extern const struct ctl_cmd ctl_cmd_status, ctl_cmd_events;		   /* ctl_status.c */
extern const struct ctl_cmd ctl_cmd_route;				   /* ctl_route.c */
extern const struct ctl_cmd ctl_cmd_smarthost, ctl_cmd_dns;		   /* ctl_outbound.c */
extern const struct ctl_cmd ctl_cmd_inbound;				   /* ctl_inbound.c */

/* The data directory (-d, $LOFT_DATADIR, or /var/lib/loft) and
 * DATADIR/loft.db; both owned by loftctl.c. */
const char *ctl_datadir(void);
const char *ctl_dbpath(void);
/* Prints the usage text of every command and exits with status 2. */
void ctl_usage(void) __attribute__((noreturn));
/* Opens the mailstore, or exits 1 with a message (a missing data directory
 * names "loftctl init").  The caller closes it with store_close. */
struct store *ctl_open_store(void);
/* Maps a store result r about "what name" to a message on stderr and an
 * exit status: 0 for r >= 0, else 1. */
int ctl_result(struct store *st, int r, const char *what, const char *name);
/* Reports a failed listing (store_errmsg) and returns the exit status:
 * 0 when r >= 0, else 1. */
int ctl_list_result(struct store *st, int r);

#endif
