#include "proc.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

int proc_user_lookup(const char *name, struct proc_user *out)
{
	struct passwd *pw = getpwnam(name);

	if (!pw)
		return -1;
	out->uid = pw->pw_uid;
	out->gid = pw->pw_gid;
	snprintf(out->name, sizeof(out->name), "%s", name);
	return 0;
}

int proc_no_new_privs(void)
{
	return prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
}

int proc_drop(const struct proc_user *u)
{
	uid_t r, e, s;

	if (setgroups(0, NULL) < 0 || setresgid(u->gid, u->gid, u->gid) < 0 ||
	    setresuid(u->uid, u->uid, u->uid) < 0)
		return -1;
	/* make sure there is no way back */
	if (getresuid(&r, &e, &s) < 0 || r != u->uid || e != u->uid || s != u->uid) {
		errno = EPERM;
		return -1;
	}
	if (u->uid != 0 && setuid(0) == 0) {
		errno = EPERM;
		return -1;
	}
	return proc_no_new_privs();
}

/* Reads the directory with getdents64 on a stack buffer: no malloc, so it
 * is safe between fork and exec of a threaded process. */
int proc_max_fd(void)
{
	char dents[4096];
	struct rlimit rl;
	long n;
	int max = -1, dfd = open("/proc/self/fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (dfd < 0) {
		if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur == RLIM_INFINITY ||
		    rl.rlim_cur > 1048576)
			return 1048575;
		return (int)rl.rlim_cur - 1;
	}
	while ((n = (long)getdents64(dfd, dents, sizeof(dents))) > 0) {
		for (long off = 0; off < n;) {
			const struct dirent64 *d = (const struct dirent64 *)(dents + off);
			int v = 0, digits = 0;

			for (const char *p = d->d_name; *p >= '0' && *p <= '9' && v < 1 << 27;
			     p++) {
				v = v * 10 + (*p - '0');
				digits++;
			}
			if (digits > 0 && d->d_name[digits] == '\0' && v != dfd && v > max)
				max = v;
			off += d->d_reclen;
		}
	}
	close(dfd);
	return max;
}

void proc_close_from(int lowfd)
{
	int max = proc_max_fd();

	if (lowfd >= 0 && max >= lowfd)
		close_range((unsigned)lowfd, (unsigned)max, 0);
}
