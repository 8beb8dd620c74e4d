/* The group-commit path of loft-smtpd: smtp_deliver_items (smtpd/deliver.c) and
 * store_deliver_many / store_parse (lib/store/store_deliver.c) on a real store: a
 * batch lands whole, is searchable at once, and a bad member keeps nothing
 * of the batch. */
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../smtpd/smtpd.h"
#include "store.h"
#include "store_users.h"
#include "store_deliver.h"
#include "store_mailbox.h"
#include "tap.h"

static int count_uid(void *arg, uint32_t uid)
{
	(void)uid;
	(*(int *)arg)++;
	return 0;
}

static uint32_t inbox_count(struct store *st, int64_t user)
{
	struct store_mailbox mb;

	if (store_mailbox_get(st, user, "INBOX", &mb) < 0)
		return 9999;
	return mb.messages;
}

/* Search index rows (fts and fts_hdr) of message mid, read through a
 * connection of its own. */
static int index_rows(const char *path, int64_t mid)
{
	sqlite3 *db;
	sqlite3_stmt *s = NULL;
	int v = -1;

	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
	    sqlite3_prepare_v2(db, "SELECT count(*) FROM fts_docsize WHERE id = ?1", -1, &s,
			       NULL) == SQLITE_OK &&
	    sqlite3_bind_int64(s, 1, mid) == SQLITE_OK && sqlite3_step(s) == SQLITE_ROW)
		v = sqlite3_column_int(s, 0);
	sqlite3_finalize(s);
	sqlite3_close(db);
	return v;
}

int main(void)
{
	char dir[] = "/tmp/test-smtp-commit-XXXXXX", path[256], err[256];
	struct store *st;
	int64_t alice, bob, ghost = 987654;
	static const char m1[] =
	    "From: a@x.example\r\nSubject: first zyxomorphic\r\n\r\nbody one\r\n";
	static const char m2[] =
	    "From: b@x.example\r\nSubject: second\r\n\r\nquixotically long\r\n";
	const char *remote[] = {"far@remote.example"};

	if (!mkdtemp(dir))
		return 1;
	snprintf(path, sizeof(path), "%s/loft.db", dir);
	if (store_open(path, &st, err, sizeof(err)) < 0) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	store_domain_add(st, "loft.test");
	ok(store_user_add(st, "alice@loft.test", "pw-alice-123456", &alice) == 0, "alice");
	ok(store_user_add(st, "bob@loft.test", "pw-bob-1234567", &bob) == 0, "bob");

	/* a batch: one message parsed here, one parsed beforehand, one remote */
	struct store_parsed *p2 = NULL;
	is_int(store_parse(m2, strlen(m2), &p2, err, sizeof(err)), 0, "store_parse");
	struct store_delivery d[3] = {
	    {.data = m1,
	     .len = strlen(m1),
	     .mail_from = "s@x.example",
	     .user_ids = &alice,
	     .n_users = 1},
	    {.data = m2,
	     .len = strlen(m2),
	     .mail_from = "",
	     .user_ids = &bob,
	     .n_users = 1,
	     .parsed = p2},
	    {.data = m2, .len = strlen(m2), .remote_rcpts = remote, .n_remote = 1},
	};
	is_int(store_deliver_many(st, d, 3), 0, "batch of three stored");
	ok(d[0].message_id > 0 && d[1].message_id > d[0].message_id &&
	       d[2].message_id > d[1].message_id,
	   "every message id set, distinct");
	is_int(index_rows(path, d[1].message_id), 1, "a message in a mailbox has index rows");
	is_int(index_rows(path, d[2].message_id), 0,
	       "a message only queued for a remote recipient has none (no mailbox holds it)");
	is_int(inbox_count(st, alice), 1, "alice has hers");
	is_int(inbox_count(st, bob), 1, "bob has his");
	{
		struct store_mailbox mb;
		int hits = 0;
		store_mailbox_get(st, alice, "INBOX", &mb);
		store_search_text(st, mb.id, "subject", "zyxomorph", count_uid, &hits);
		is_int(hits, 1, "searchable right after the batch commit");
		hits = 0;
		store_mailbox_get(st, bob, "INBOX", &mb);
		store_search_text(st, mb.id, "body", "xoticall", count_uid, &hits);
		is_int(hits, 1, "pre-parsed message indexed too");
	}
	{
		struct store_message m;
		ok(store_message_get(st, d[1].message_id, &m) == 0 && m.size == strlen(m2) &&
		       memcmp(m.data, m2, m.size) == 0 && m.envelope && m.envelope[0] == '(',
		   "stored bytes and envelope of the pre-parsed message");
		store_message_free(&m);
	}

	/* one bad member: nothing of the batch is kept, ids cleared */
	struct store_delivery bad[2] = {
	    {.data = m1, .len = strlen(m1), .user_ids = &alice, .n_users = 1},
	    {.data = m1, .len = strlen(m1), .user_ids = &ghost, .n_users = 1},
	};
	is_int(store_deliver_many(st, bad, 2), -1, "unknown user fails the batch");
	ok(bad[0].message_id == 0 && bad[1].message_id == 0, "no ids on failure");
	is_int(inbox_count(st, alice), 1, "first member not kept either");
	is_int(store_deliver_many(st, bad, 1), 0, "the good one alone goes in");
	is_int(inbox_count(st, alice), 2, "retry stored it");

	/* the same checks as store_deliver */
	struct store_delivery none = {.data = m1, .len = strlen(m1)};
	is_int(store_deliver_many(st, &none, 1), -1, "no recipients refused");
	is_int(store_deliver_many(st, &none, 0), -1, "empty batch refused");
	struct store_delivery mism = {
	    .data = m1, .len = strlen(m1), .user_ids = &alice, .n_users = 1, .parsed = p2};
	is_int(store_deliver_many(st, &mism, 1), -1, "parsed result of other bytes refused");
	is_int(inbox_count(st, alice), 2, "nothing stored by the refusals");
	store_parsed_free(p2);
	store_parsed_free(NULL);

	/* smtp_deliver_items: local copy with Return-Path, queued copy without */
	{
		struct buf body;
		char rp[] = "Return-Path: <s@x.example>\r\n";
		int64_t users[1] = {alice};
		const char *rem[1] = {"far@remote.example"};
		struct deliver_req r = {.mail_from = "s@x.example",
					.users = users,
					.n_users = 1,
					.remote = rem,
					.n_remote = 1};
		struct deliver_ready rd;
		struct store_delivery it[2];

		buf_init(&body, 1000);
		buf_puts(&body, rp);
		buf_puts(&body, m1);
		rd = (struct deliver_ready){
		    .start = body.data, .len = body.len, .rplen = strlen(rp)};
		is_int(smtp_deliver_items(&r, &rd, it), 2, "local and remote: two items");
		ok(it[0].n_users == 1 && it[0].len == body.len && it[0].n_remote == 0,
		   "local copy");
		ok(it[1].n_remote == 1 && it[1].len == strlen(m1) && memcmp(it[1].data, m1, 5) == 0,
		   "queued copy starts after Return-Path");
		r.n_remote = 0;
		is_int(smtp_deliver_items(&r, &rd, it), 1, "local only: one item");
		r.n_remote = 1;
		r.n_users = 0;
		is_int(smtp_deliver_items(&r, &rd, it), 1, "remote only: one item");
		ok(it[0].n_remote == 1 && it[0].n_users == 0, "and it is the queued copy");
		buf_free(&body);
	}

	store_close(st);
	snprintf(path, sizeof(path), "rm -rf %s", dir);
	if (system(path) != 0)
		return 1;
	return tap_done();
}
