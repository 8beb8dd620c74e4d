#include "proc.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
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
