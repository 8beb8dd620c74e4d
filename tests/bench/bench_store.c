/*
 * Mailstore throughput: durable store_deliver calls per second for 10 KB
 * messages to 1 and to 10 local recipients, plus flag changes and message
 * reads.  Each figure runs for --seconds (default 3).  The database lives
 * in a fresh directory under --dir (default: the current directory, so
 * fsync hits a real disk rather than a tmpfs).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "store.h"
#include "store_users.h"
#include "store_deliver.h"
#include "store_mailbox.h"
#include "strnum.h"

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void usage(void)
{
	fprintf(stderr, "usage: bench_store [--seconds N] [--dir DIR]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	unsigned seconds = 3;
	const char *base = ".";
	char dir[512], db[600], err[256];
	static char msg[10240];
	int64_t users[10], last = 0;
	struct store *st;
	struct store_mailbox mb;
	int len;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--seconds") == 0 && i + 1 < argc) {
			if (strnum_uint(argv[++i], 3600, &seconds) < 0 || seconds == 0)
				usage();
		} else if (strcmp(argv[i], "--dir") == 0 && i + 1 < argc) {
			base = argv[++i];
		} else {
			usage();
		}
	}
	snprintf(dir, sizeof(dir), "%s/bench-store-XXXXXX", base);
	if (!mkdtemp(dir)) {
		perror(dir);
		return 1;
	}
	snprintf(db, sizeof(db), "%s/loft.db", dir);
	if (store_open(db, &st, err, sizeof(err)) < 0) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	store_domain_add(st, "bench.test");
	for (int i = 0; i < 10; i++) {
		char a[64];

		snprintf(a, sizeof(a), "user%d@bench.test", i);
		if (store_user_add(st, a, "pw", &users[i]) < 0) {
			fprintf(stderr, "%s\n", store_errmsg(st));
			return 1;
		}
	}
	len = snprintf(msg, sizeof(msg),
		       "From: Sender <sender@example.org>\r\nTo: user0@bench.test\r\n"
		       "Subject: benchmark message\r\nMessage-ID: <b@example.org>\r\n"
		       "Content-Type: text/plain; charset=us-ascii\r\n\r\n");
	for (size_t i = (size_t)len; i + 2 <= sizeof(msg); i += 72) {
		size_t n = sizeof(msg) - i < 72 ? sizeof(msg) - i : 72;

		memset(msg + i, 'a' + (char)(i % 26), n - 2);
		memcpy(msg + i + n - 2, "\r\n", 2);
	}

	for (int c = 0; c < 2; c++) {
		size_t nrcpt = c == 0 ? 1 : 10;
		double t0 = now_s(), t;
		unsigned long n = 0;

		do {
			if (store_deliver(st, msg, sizeof(msg), "sender@example.org", users, nrcpt,
					  NULL, 0, &last) < 0) {
				fprintf(stderr, "deliver: %s\n", store_errmsg(st));
				return 1;
			}
			n++;
			t = now_s() - t0;
		} while (t < seconds);
		printf("store_deliver 10KB %zu rcpt: %.0f msg/s\n", nrcpt, (double)n / t);
	}

	if (store_mailbox_get(st, users[0], "INBOX", &mb) == 0 && mb.messages > 0) {
		double t0 = now_s(), t;
		unsigned long n = 0;
		uint32_t uid = 1;

		do {
			/* alternate passes set and clear \Seen: every call
			 * is a real change and a commit */
			int pass = (int)((n / mb.messages) & 1);

			if (store_flags(st, mb.id, uid, pass ? STORE_FLAGS_REMOVE : STORE_FLAGS_ADD,
					STORE_F_SEEN, NULL, 0, NULL) != 1) {
				fprintf(stderr, "flags: %s\n", store_errmsg(st));
				return 1;
			}
			uid = uid % mb.messages + 1;
			n++;
			t = now_s() - t0;
		} while (t < seconds);
		printf("store_flags (durable, one per commit): %.0f changes/s\n", (double)n / t);

		t0 = now_s();
		n = 0;
		do {
			struct store_message m;

			if (store_message_get(st, last - (int64_t)(n % 100), &m) == 0)
				store_message_free(&m);
			n++;
			t = now_s() - t0;
		} while (t < seconds);
		printf("store_message_get 10KB: %.0f msg/s\n", (double)n / t);
	}
	store_close(st);
	{
		char cmd[700];

		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
		if (system(cmd) != 0)
			fprintf(stderr, "could not remove %s\n", dir);
	}
	return 0;
}
