#ifndef LOFT_PROC_H
#define LOFT_PROC_H
/* Process helpers: privilege drop, the data directory's owner. */
#include <sys/types.h>

struct proc_user {
	uid_t uid;
	gid_t gid;
	char name[64];
};

/* Looks up a system user.  Returns 0, or -1 when there is none. */
int proc_user_lookup(const char *name, struct proc_user *out);
/* Drops to u for good: no supplementary groups, real/effective/saved ids
 * all u's, no_new_privs.  Returns 0, or -1 with errno (the caller must not
 * go on: running on as root is never a fallback). */
int proc_drop(const struct proc_user *u);
/* Sets no_new_privs (when not root there is nothing to drop).  Returns 0/-1. */
int proc_no_new_privs(void);

#endif
