#ifndef LOFT_ADMIN_WORK_H
#define LOFT_ADMIN_WORK_H
/*
 * Slow work off the event loop: the admin password check (a yescrypt child
 * process, a large fraction of a second on the board) and the backup
 * (seconds on a big database) run on a thread of their own while the
 * request waits suspended, and the loop keeps answering every other
 * request.  The thread hands the finished job back through a pipe the loop
 * watches; the request then resumes and reads the result from its own
 * fields (work_state 2).
 *
 * Threading rule: the thread runs nothing but the job's fn, which touches
 * only the job's own copies (never a struct req, the admin's store handle
 * or MHD); everything else is on the loop.
 */
#include "admin.h"

#define ADMIN_WORK_MAX 4 /* jobs at once; more: "try again" */

/* Checks pw against hash (passwd_verify) for q.  Returns 0 (q suspended:
 * resumed with work_state 2 and work_result 1 right, 0 wrong, -1 could
 * not check) or -1 (too many jobs or no thread: nothing started). */
int admin_work_pwcheck(struct admin *a, struct req *q, const char *pw, const char *hash);

/* Writes a backup of the database to path (which must not exist) for q,
 * through a store handle of the thread's own.  Returns 0 (resumed with
 * work_state 2 and work_result 0 done, -1 failed) or -1 (not started). */
int admin_work_backup(struct admin *a, struct req *q, const char *path);

/* q is going away (its connection ended): the job's result is dropped. */
void admin_work_forget(struct req *q);

#endif
