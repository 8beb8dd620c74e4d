/*
 * store_set_deferred_sync / store_wal_sync (loft-queue's outcome commits):
 * with deferred sync a commit is not fsynced, yet a SIGKILLed process
 * loses none of its commits (they sit in the WAL in the page cache), the
 * database stays intact, and store_wal_sync makes them durable.
 */
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "store.h"
#include "store_settings.h"
#include "tap.h"

static char dir[256], dbpath[300];

static void child(int fd)
{
	struct store *st;
	char err[256];

	if (store_open(dbpath, &st, err, sizeof(err)) < 0 || store_set_deferred_sync(st, 1) < 0)
		_exit(2);
	for (int64_t i = 1;; i++) {
		if (store_event_add(st, "queue", "deferred-sync test") < 0)
			_exit(3);
		/* reported only after the commit returned, like an outcome
		 * the queue acts on */
		if (write(fd, &i, sizeof(i)) != (ssize_t)sizeof(i))
			_exit(4);
	}
}

static long long count_events(void)
{
	sqlite3 *db;
	sqlite3_stmt *s;
	long long n = -1;

	if (sqlite3_open_v2(dbpath, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK)
		return -1;
	if (sqlite3_prepare_v2(db, "SELECT count(*) FROM events WHERE text = 'deferred-sync test'",
			       -1, &s, NULL) == SQLITE_OK &&
	    sqlite3_step(s) == SQLITE_ROW)
		n = sqlite3_column_int64(s, 0);
	sqlite3_finalize(s);
	sqlite3_close(db);
	return n;
}

int main(void)
{
	struct store *st;
	char err[256];
	int64_t reported = 0, id;
	int p[2], status;
	pid_t pid;

	snprintf(dir, sizeof(dir), "/tmp/loft-test-sync-XXXXXX");
	if (!mkdtemp(dir))
		return 1;
	snprintf(dbpath, sizeof(dbpath), "%s/loft.db", dir);
	if (store_open(dbpath, &st, err, sizeof(err)) < 0) {
		printf("Bail out! %s\n", err);
		return 1;
	}
	ok(store_set_deferred_sync(st, 1) == 0, "deferred sync on");
	ok(store_event_add(st, "queue", "one") == 0, "a commit without fsync");
	ok(store_wal_sync(dbpath) == 0, "store_wal_sync fsyncs the WAL");
	ok(store_set_deferred_sync(st, 0) == 0, "deferred sync off again");
	store_close(st);
	ok(store_wal_sync("/nonexistent/loft.db") < 0, "a database without a WAL: -1");

	if (pipe(p) < 0)
		return 1;
	pid = fork();
	if (pid == 0) {
		close(p[0]);
		child(p[1]);
	}
	close(p[1]);
	/* killed once it has reported some commits (however slow the
	 * machine), in the middle of making more */
	while (reported < 200 && read(p[0], &id, sizeof(id)) == (ssize_t)sizeof(id))
		reported = id;
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
	while (read(p[0], &id, sizeof(id)) == (ssize_t)sizeof(id))
		reported = id;
	close(p[0]);
	ok(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL, "the writer was killed mid-way");
	ok(reported > 0, "the writer committed before the kill");
	printf("# %lld commits reported before SIGKILL\n", (long long)reported);
	/* reopen as a restarting daemon would (recovers from the WAL) */
	if (store_open(dbpath, &st, err, sizeof(err)) < 0) {
		printf("Bail out! reopen: %s\n", err);
		return 1;
	}
	store_close(st);
	long long n = count_events();
	ok(n >= reported, "every commit reported before the kill is there");
	ok(n <= reported + 1, "and at most the one in flight beyond them");
	char cmd[400];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd) != 0)
		printf("# could not remove %s\n", dir);
	return tap_done();
}
