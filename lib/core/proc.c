#include "proc.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

#include "strnum.h"

/* One passwd(5) line "name:pw:uid:gid:gecos:home:shell" (no newline):
 * returns 1 and fills out if it is name's, 0 if it is someone else's or
 * malformed (skipped, as glibc's files module skips it). */
static int passwd_line(const char *line, size_t len, const char *name, struct proc_user *out)
{
	const char *f[4];
	size_t flen[4], nf = 0, start = 0;
	uint64_t uid, gid;

	for (size_t i = 0; i <= len && nf < 4; i++) {
		if (i == len || line[i] == ':') {
			f[nf] = line + start;
			flen[nf++] = i - start;
			start = i + 1;
		}
	}
	if (nf < 4 || flen[0] != strlen(name) || memcmp(f[0], name, flen[0]) != 0 ||
	    flen[0] >= sizeof(out->name))
		return 0;
	/* uid_t and gid_t are 32 bits; (uid_t)-1 means "no change" to setresuid */
	if (strnum_u64n(f[2], flen[2], 0xfffffffeu, &uid) < 0 ||
	    strnum_u64n(f[3], flen[3], 0xfffffffeu, &gid) < 0)
		return 0;
	out->uid = (uid_t)uid;
	out->gid = (gid_t)gid;
	memcpy(out->name, name, flen[0]);
	out->name[flen[0]] = '\0';
	return 1;
}

int proc_user_lookup_file(const char *path, const char *name, struct proc_user *out)
{
	char buf[4096];
	size_t have = 0;
	int skipping = 0, found = 0, fd;

	if (!*name || strchr(name, ':') || strchr(name, '\n'))
		return -1;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	while (!found) {
		ssize_t n = read(fd, buf + have, sizeof(buf) - have);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			break;
		if (n == 0) {
			if (have && !skipping) /* a last line without newline */
				found = passwd_line(buf, have, name, out);
			break;
		}
		have += (size_t)n;
		size_t off = 0;
		char *nl;
		while (!found && (nl = memchr(buf + off, '\n', have - off))) {
			size_t ll = (size_t)(nl - (buf + off));
			if (!skipping)
				found = passwd_line(buf + off, ll, name, out);
			skipping = 0;
			off += ll + 1;
		}
		memmove(buf, buf + off, have - off);
		have -= off;
		if (have == sizeof(buf)) {
			/* a line longer than any real entry: not name's */
			skipping = 1;
			have = 0;
		}
	}
	close(fd);
	return found ? 0 : -1;
}

/* Reads /etc/passwd itself instead of getpwnam(): in the static build
 * glibc's NSS would dlopen the shared modules at run time (the very thing
 * a static program must not need).  Loft's users are system users made by
 * useradd, which live in /etc/passwd. */
int proc_user_lookup(const char *name, struct proc_user *out)
{
	return proc_user_lookup_file("/etc/passwd", name, out);
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
