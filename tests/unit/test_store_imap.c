/* lib/store_imap: FETCH's batch reads and incremental raw reads. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store.h"
#include "store_deliver.h"
#include "store_users.h"
#include "store_mailbox.h"
#include "store_imap.h"
#include "tap.h"

struct seen {
	int n;
	uint32_t uid[8];
	uint64_t size[8];
	int has_env[8];
	size_t hs[8];
};

static int collect(void *arg, const struct store_imap_row *r)
{
	struct seen *s = arg;

	if (s->n == 8)
		return 1;
	s->uid[s->n] = r->uid;
	s->size[s->n] = r->size;
	s->has_env[s->n] = r->envelope && r->envelope[0] == '(';
	s->hs[s->n] = r->header_size;
	s->n++;
	return 0;
}

static int stop_after_one(void *arg, const struct store_imap_row *r)
{
	(void)r;
	(*(int *)arg)++;
	return 1;
}

int main(void)
{
	char dir[] = "/tmp/test_store_imap.XXXXXX", path[256], err[256];
	struct store *st;
	int64_t uid_user, mid[3];
	const char *msgs[3] = {
	    "Subject: one\r\nFrom: a@b.test\r\n\r\nbody one\r\n",
	    "Subject: two\r\n\r\n",
	    NULL,
	};
	/* a message bigger than a page, so its columns after raw overflow */
	size_t bigsz = 300000;
	char *big = malloc(bigsz + 1);

	if (!mkdtemp(dir) || !big)
		return 1;
	memcpy(big, "Subject: big\r\n\r\n", 16);
	for (size_t i = 16; i < bigsz; i++)
		big[i] = (char)('a' + i % 26);
	big[bigsz] = '\0';
	msgs[2] = big;
	snprintf(path, sizeof(path), "%s/loft.db", dir);
	is_int(store_open(path, &st, err, sizeof(err)), 0, "open");
	store_domain_add(st, "x.test");
	is_int(store_user_add(st, "u@x.test", "pw-u", &uid_user), 0, "user");
	for (int i = 0; i < 3; i++)
		is_int(
		    store_deliver(st, msgs[i], strlen(msgs[i]), "", &uid_user, 1, NULL, 0, &mid[i]),
		    0, "deliver");
	struct store_mailbox mb;
	is_int(store_mailbox_get(st, uid_user, "INBOX", &mb), 0, "INBOX");

	/* rows: every column set, in UID order, bounds respected */
	struct seen s;
	memset(&s, 0, sizeof(s));
	is_int(store_imap_rows(st, mb.id, 1, 0, 0, STORE_IMAP_META, collect, &s), 3, "3 rows");
	ok(s.uid[0] == 1 && s.uid[1] == 2 && s.uid[2] == 3, "UID order");
	ok(s.size[0] == strlen(msgs[0]) && s.size[2] == bigsz, "sizes");
	ok(s.has_env[0] && s.has_env[2], "envelopes");
	is_int((int)s.hs[2], 16, "header size of the big one");
	memset(&s, 0, sizeof(s));
	is_int(store_imap_rows(st, mb.id, 2, 2, 0, 0, collect, &s), 1, "one UID");
	ok(s.uid[0] == 2 && s.size[0] == 0 && !s.has_env[0], "entry only: no message columns");
	memset(&s, 0, sizeof(s));
	is_int(store_imap_rows(st, mb.id, 1, 3, 0, STORE_IMAP_SIZE, collect, &s), 3, "sizes only");
	ok(s.size[1] == strlen(msgs[1]) && !s.has_env[1], "size without envelope");
	int calls = 0;
	is_int(store_imap_rows(st, mb.id, 1, 0, 0, 0, stop_after_one, &calls), 1, "cb stops");
	is_int(calls, 1, "cb called once");
	/* CHANGEDSINCE: only the entry whose flags changed */
	uint64_t ms = 0;
	store_flags(st, mb.id, 2, STORE_FLAGS_ADD, STORE_F_SEEN, NULL, 0, &ms);
	memset(&s, 0, sizeof(s));
	is_int(store_imap_rows(st, mb.id, 1, 0, ms - 1, 0, collect, &s), 1, "changedsince");
	is_int((int)s.uid[0], 2, "the changed one");

	/* read transactions nest into an open one */
	int rd = store_imap_read_begin(st);
	is_int(rd, 1, "read transaction opened");
	is_int(store_imap_read_begin(st), 0, "inside one: not opened again");
	store_imap_read_end(st, 0);
	store_imap_read_end(st, rd);
	is_int(store_imap_read_begin(st), 1, "closed: opens again");
	store_imap_read_end(st, 1);

	/* raw reads: whole, pieces across pages, reopen, bounds */
	struct store_raw *r = store_raw_new(st);
	size_t size = 0;
	char buf[70000];
	is_int(store_raw_read(r, buf, 1, 0), -1, "read with nothing open");
	is_int(store_raw_open(r, mid[2], &size), 0, "open big");
	ok(size == bigsz, "big size");
	is_int(store_raw_read(r, buf, 65536, 100000), 0, "read a piece");
	ok(memcmp(buf, big + 100000, 65536) == 0, "piece bytes");
	is_int(store_raw_read(r, buf, 10, bigsz - 10), 0, "read the end");
	ok(memcmp(buf, big + bigsz - 10, 10) == 0, "end bytes");
	is_int(store_raw_read(r, buf, 11, bigsz - 10), -1, "past the end refused");
	is_int(store_raw_read(r, buf, 0, bigsz), 0, "empty read at the end");
	is_int(store_raw_open(r, mid[0], &size), 0, "reopen on another");
	char *all = store_raw_read_all(r, size);
	ok(all && strcmp(all, msgs[0]) == 0, "read all");
	free(all);
	is_int(store_raw_open(r, 999999, &size), STORE_NOTFOUND, "unknown message");
	is_int(store_raw_read(r, buf, 1, 0), -1, "nothing open after a failure");
	is_int(store_raw_open(r, mid[1], &size), 0, "usable after a failure");
	ok(size == strlen(msgs[1]), "small size");
	store_raw_close(r);
	store_raw_close(r);
	is_int(store_raw_read(r, buf, 1, 0), -1, "closed");
	/* an open reader must not hold the database: a write goes through
	 * after close */
	is_int(store_raw_open(r, mid[1], &size), 0, "open again");
	store_raw_close(r);
	is_int(store_flags(st, mb.id, 1, STORE_FLAGS_ADD, STORE_F_FLAGGED, NULL, 0, &ms), 1,
	       "write after close");
	store_raw_free(r);
	store_raw_free(NULL);

	store_close(st);
	free(big);
	snprintf(path, sizeof(path), "rm -rf %s", dir);
	if (system(path) != 0)
		return 1;
	return tap_done();
}
