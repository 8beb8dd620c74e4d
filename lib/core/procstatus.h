#ifndef LOFT_PROCSTATUS_H
#define LOFT_PROCSTATUS_H
/*
 * The supervisor's view of its processes, DATADIR/run/status: written by
 * loftd (as root, into a directory only it may write, so nothing a daemon
 * does can steer root's writes), read by loftctl status and the admin.
 * One line per process, tab-separated:
 *   name pid started_unix restarts state last_exit last_exit_unix
 * Replaced atomically (temporary file, rename) on every change.  No fsync:
 * the file describes processes that a power loss ends anyway, and loftd
 * writes it between a daemon's death and its restart, where a flush
 * behind the mail store's own fsyncs cost the restart milliseconds.
 */
#include <stddef.h>
#include <stdint.h>

#define PROCSTATUS_NAME_MAX 32
#define PROCSTATUS_TEXT_MAX 64

struct procstatus {
	char name[PROCSTATUS_NAME_MAX];
	long pid; /* 0 when not running */
	int64_t started;
	unsigned restarts;
	char state[PROCSTATUS_TEXT_MAX];     /* running, restarting, stopped */
	char last_exit[PROCSTATUS_TEXT_MAX]; /* "signal:KILL", "exit:1", or "" */
	int64_t last_exit_at;
};

/* Writes n rows to path.  Returns 0, or -1 with errno set. */
int procstatus_write(const char *path, const struct procstatus *rows, size_t n);
/* Reads up to max rows from path into rows.  Returns the number read, or
 * -1 with errno set (ENOENT: loftd never ran here; EINVAL: a malformed
 * line, which is a bug in the writer). */
int procstatus_read(const char *path, struct procstatus *rows, size_t max);

#endif
