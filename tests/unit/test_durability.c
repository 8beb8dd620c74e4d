/*
 * Durability of store_deliver: a child delivers in a loop and reports each
 * message id on a pipe only after store_deliver returned 0 (the point
 * where smtpd would answer 250).  The parent SIGKILLs it at random moments,
 * reopens the database and checks that every reported message is there
 * with all its entries and queue rows, that no message is half-present,
 * and that PRAGMA integrity_check says ok.
 */
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "store.h"
#include "store_deliver.h"
#include "store_users.h"
#include "tap.h"

#define ROUNDS	 15
#define N_USERS	 3
#define N_REMOTE 1

static char dir[256], dbpath[300];

static void child(int fd, const int64_t *users)
{
	static const char *remote[N_REMOTE] = {"far@remote.example"};
	char msg[2048];
	struct store *st;
	char err[256];
	int64_t id;

	if (store_open(dbpath, &st, err, sizeof(err)) < 0)
		_exit(2);
	for (unsigned n = 0;; n++) {
		int len = snprintf(msg, sizeof(msg),
				   "From: a@remote.example\r\nSubject: durable %u\r\n\r\n", n);

		memset(msg + len, 'x', sizeof(msg) - (size_t)len - 2);
		memcpy(msg + sizeof(msg) - 2, "\r\n", 2);
		if (store_deliver(st, msg, sizeof(msg), "a@remote.example", users, N_USERS, remote,
				  N_REMOTE, &id) < 0)
			_exit(3);
		if (write(fd, &id, sizeof(id)) != (ssize_t)sizeof(id))
			_exit(4);
	}
}

static int64_t q1(sqlite3 *db, const char *sql, int64_t arg)
{
	sqlite3_stmt *s;
	int64_t v = -1;

	if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) != SQLITE_OK)
		return -2;
	sqlite3_bind_int64(s, 1, arg);
	if (sqlite3_step(s) == SQLITE_ROW)
		v = sqlite3_column_int64(s, 0);
	sqlite3_finalize(s);
	return v;
}

int main(void)
{
	int64_t users[N_USERS];
	size_t total = 0;
	int all_present = 1, none_half = 1, integrity = 1, killed_mid = 0;
	struct store *st;
	char err[256];

	snprintf(dir, sizeof(dir), "/tmp/loft-test-dur-XXXXXX");
	if (!mkdtemp(dir))
		return 1;
	snprintf(dbpath, sizeof(dbpath), "%s/loft.db", dir);
	if (store_open(dbpath, &st, err, sizeof(err)) < 0) {
		printf("Bail out! %s\n", err);
		return 1;
	}
	store_domain_add(st, "loft.test");
	for (int i = 0; i < N_USERS; i++) {
		char a[64];

		snprintf(a, sizeof(a), "u%d@loft.test", i);
		if (store_user_add(st, a, "pw", &users[i]) < 0) {
			printf("Bail out! %s\n", store_errmsg(st));
			return 1;
		}
	}
	store_close(st);
	srand((unsigned)time(NULL) ^ (unsigned)getpid());

	for (int round = 0; round < ROUNDS; round++) {
		int p[2], status;
		int64_t *ids = NULL, id;
		size_t n = 0, cap = 0;
		pid_t pid;
		sqlite3 *db;
		struct timespec ts;
		long ms = 20 + rand() % 281;

		if (pipe(p) < 0)
			return 1;
		pid = fork();
		if (pid == 0) {
			close(p[0]);
			child(p[1], users);
		}
		close(p[1]);
		ts.tv_sec = ms / 1000;
		ts.tv_nsec = (ms % 1000) * 1000000L;
		nanosleep(&ts, NULL);
		kill(pid, SIGKILL);
		waitpid(pid, &status, 0);
		if (WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL)
			killed_mid++;
		while (read(p[0], &id, sizeof(id)) == (ssize_t)sizeof(id)) {
			if (n == cap) {
				cap = cap ? cap * 2 : 256;
				ids = realloc(ids, cap * sizeof(*ids));
				if (!ids)
					return 1;
			}
			ids[n++] = id;
		}
		close(p[0]);
		total += n;

		/* reopen as a daemon restarting would (recovers the WAL) */
		if (store_open(dbpath, &st, err, sizeof(err)) < 0) {
			printf("not ok - reopen after kill: %s\n", err);
			return 1;
		}
		store_close(st);
		if (sqlite3_open_v2(dbpath, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK)
			return 1;
		for (size_t i = 0; i < n; i++) {
			if (q1(db, "SELECT count(*) FROM messages WHERE id = ?1", ids[i]) != 1 ||
			    q1(db, "SELECT count(*) FROM entries WHERE message_id = ?1", ids[i]) !=
				N_USERS ||
			    q1(db, "SELECT count(*) FROM queue WHERE message_id = ?1", ids[i]) !=
				N_REMOTE) {
				all_present = 0;
				printf("# round %d: acknowledged message %lld incomplete\n", round,
				       (long long)ids[i]);
			}
		}
		if (q1(db,
		       "SELECT count(*) FROM messages m WHERE"
		       " (SELECT count(*) FROM entries e WHERE e.message_id = m.id) <> ?1"
		       " OR (SELECT count(*) FROM queue q WHERE q.message_id = m.id) <> 1",
		       N_USERS) != 0)
			none_half = 0;
		{
			sqlite3_stmt *s;

			sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &s, NULL);
			if (sqlite3_step(s) != SQLITE_ROW ||
			    strcmp((const char *)sqlite3_column_text(s, 0), "ok") != 0)
				integrity = 0;
			sqlite3_finalize(s);
		}
		sqlite3_close(db);
		free(ids);
	}
	ok(total > 0, "the child acknowledged deliveries");
	printf("# %zu acknowledged deliveries over %d kills\n", total, ROUNDS);
	ok(killed_mid == ROUNDS, "every round ended by SIGKILL");
	ok(all_present, "every acknowledged message present with all entries and queue rows");
	ok(none_half, "no message half-present");
	ok(integrity, "integrity_check ok after every kill");
	{
		char cmd[300];

		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
		if (system(cmd) != 0)
			printf("# could not remove %s\n", dir);
	}
	return tap_done();
}
