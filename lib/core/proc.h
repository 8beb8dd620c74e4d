#ifndef LOFT_PROC_H
#define LOFT_PROC_H
/* Process helpers: privilege drop, the data directory's owner. */
#include <sys/types.h>

struct proc_user {
	uid_t uid;
	gid_t gid;
	char name[64];
};

/* Looks up a system user in /etc/passwd (not through NSS: see proc.c).
 * Returns 0, or -1 when there is none. */
int proc_user_lookup(const char *name, struct proc_user *out);
/* The same in the passwd(5) file at path (for tests). */
int proc_user_lookup_file(const char *path, const char *name, struct proc_user *out);
/* Drops to u for good: no supplementary groups, real/effective/saved ids
 * all u's, no_new_privs.  Returns 0, or -1 with errno (the caller must not
 * go on: running on as root is never a fallback). */
int proc_drop(const struct proc_user *u);
/* Sets no_new_privs (when not root there is nothing to drop).  Returns 0/-1. */
int proc_no_new_privs(void);
/* The highest open descriptor (from /proc/self/fd; without /proc, the soft
 * RLIMIT_NOFILE minus one), or -1 if none.  Async-signal-safe: usable in a
 * child forked from a threaded process. */
int proc_max_fd(void);
/* Closes every descriptor >= lowfd, walking only up to proc_max_fd(): an
 * unbounded close_range makes qemu-user visit all 2^32 numbers.
 * Async-signal-safe. */
void proc_close_from(int lowfd);

#endif
