#ifndef LOFT_BOARD_LOGRING_H
#define LOFT_BOARD_LOGRING_H
/*
 * loftd's copy of its children's recent log lines, for the admin's Log
 * page.  Each daemon writes its lines to stderr as always (the journal or
 * the terminal sees them at once, in order) and those of level info and
 * above once more to a pipe to loftd (LOFT_LOG_FD, lib/core/log.c,
 * non-blocking: a busy loftd never stalls a daemon).  loftd keeps the last
 * LOGRING_LINES in memory, written to DATADIR/run/log-recent (a whole new
 * file renamed into place, half a second after new lines) where
 * loft-admin reads it.
 */
#include <stddef.h>

struct evloop;

#define LOGRING_LINES	 200
#define LOGRING_LINE_MAX 400 /* a longer line is kept cut, with "..." */

/* Where the file goes; the loop for its timer. */
void logring_init(struct evloop *ev, const char *path);
/* A new child's log pipe (read end, owned from here).  Returns 0 or
 * -1 (closed: the child's lines are lost, not its life). */
int logring_watch(int fd);
/* Reads what is in every pipe now (a child died: its last lines); a pipe
 * at end of file is closed. */
void logring_drain_all(void);
/* Everything still open drained, the file written now (loftd exits). */
void logring_finish(void);

#endif
