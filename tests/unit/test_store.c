/*
 * Tests for the mailstore (lib/store*.c): every public function, with two
 * handles on the same file to check what one connection sees of the
 * other's commits.
 */
#include <dirent.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "store.h"
#include "store_users.h"
#include "store_deliver.h"
#include "store_mailbox.h"
#include "store_queue.h"
#include "store_settings.h"
#include "store_backup.h"
#include "tap.h"

/* is_str on an array trips -Waddress: go through a pointer */
static const char *str_(const char *p)
{
	return p;
}
#define is_s(a, b, what) is_str(str_(a), b, what)

static char dir[256], dbpath[300];

static const char msg1[] = "From: Alice Example <alice@example.org>\r\n"
			   "To: bob@loft.test\r\n"
			   "Subject: Quarterly zebra report\r\n"
			   "Message-ID: <m1@example.org>\r\n"
			   "Date: Mon, 1 Jan 2024 10:00:00 +0000\r\n"
			   "Content-Type: text/plain; charset=us-ascii\r\n"
			   "\r\n"
			   "Hello Bob,\r\n"
			   "the giraffe numbers are in.\r\n";

static const char msg2[] = "From: carol@example.net\r\n"
			   "To: bob@loft.test\r\n"
			   "Subject: =?UTF-8?Q?Gr=C3=BC=C3=9Fe?= aus Berlin\r\n"
			   "\r\n"
			   "Nothing about animals here.\r\n";

/* --- small callbacks ---------------------------------------------------- */

struct uids {
	size_t n;
	uint32_t u[64];
};

static int collect_uid(void *arg, uint32_t uid)
{
	struct uids *u = arg;

	if (u->n < 64)
		u->u[u->n++] = uid;
	return 0;
}

struct entries {
	size_t n;
	struct store_entry e[64];
	char kw[64][64];
};

static int collect_entry(void *arg, const struct store_entry *e)
{
	struct entries *x = arg;

	if (x->n < 64) {
		x->e[x->n] = *e;
		snprintf(x->kw[x->n], sizeof(x->kw[0]), "%s", e->keywords);
		x->e[x->n].keywords = x->kw[x->n];
		x->n++;
	}
	return 0;
}

static int count_cb(void *arg, const char *name)
{
	(void)name;
	(*(int *)arg)++;
	return 0;
}

struct names {
	char buf[1024];
};

static int name_cb(void *arg, const char *name)
{
	struct names *n = arg;
	size_t l = strlen(n->buf);

	snprintf(n->buf + l, sizeof(n->buf) - l, "%s,", name);
	return 0;
}

static int user_cb(void *arg, int64_t id, const char *address)
{
	(void)id;
	return name_cb(arg, address);
}

static int alias_cb(void *arg, const char *src, const char *dst)
{
	struct names *n = arg;
	size_t l = strlen(n->buf);

	snprintf(n->buf + l, sizeof(n->buf) - l, "%s>%s,", src, dst);
	return 0;
}

static int mbox_cb(void *arg, const struct store_mailbox_info *mi)
{
	struct names *n = arg;
	size_t l = strlen(n->buf);

	snprintf(n->buf + l, sizeof(n->buf) - l, "%s[%s%s%s],", mi->name, mi->special_use,
		 mi->subscribed ? "+" : "",
		 strcmp(mi->attributes, "\\HasChildren") == 0 ? "c" : "");
	return 0;
}

static int stop_first(void *arg, const char *name)
{
	(void)name;
	(*(int *)arg)++;
	return 1;
}

static int64_t sql_int(const char *sql)
{
	sqlite3 *db;
	sqlite3_stmt *s;
	int64_t v = -1;

	if (sqlite3_open_v2(dbpath, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK)
		return -1;
	if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) == SQLITE_OK && sqlite3_step(s) == SQLITE_ROW)
		v = sqlite3_column_int64(s, 0);
	sqlite3_finalize(s);
	sqlite3_close(db);
	return v;
}

/* A tokenizer of the name the fts table wants, for reading its index
 * from a connection of the test's own: reading calls no tokenizer. */
static int dummy_tok;

static int dummy_create(void *ctx, const char **argv, int argc, Fts5Tokenizer **out)
{
	(void)ctx;
	(void)argv;
	(void)argc;
	*out = (Fts5Tokenizer *)&dummy_tok;
	return SQLITE_OK;
}

static void dummy_delete(Fts5Tokenizer *t)
{
	(void)t;
}

static int dummy_tokenize(Fts5Tokenizer *t, void *ctx, int flags, const char *text, int n,
			  int (*emit)(void *, int, const char *, int, int, int))
{
	(void)t;
	(void)ctx;
	(void)flags;
	(void)text;
	(void)n;
	(void)emit;
	return SQLITE_OK;
}

/* Index entries (term, message) of the fts table whose message is gone:
 * FTS5 deletes a message's entries by the terms the tokenizer gives again
 * for its raw bytes (store_fts.c), so there must be none. */
static int64_t stale_postings(void)
{
	fts5_tokenizer tk = {dummy_create, dummy_delete, dummy_tokenize};
	fts5_api *api = NULL;
	sqlite3_stmt *s = NULL;
	sqlite3 *db;
	int64_t v = -1;

	if (sqlite3_open_v2(dbpath, &db, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK)
		return -1;
	if (sqlite3_prepare_v2(db, "SELECT fts5(?1)", -1, &s, NULL) == SQLITE_OK) {
		sqlite3_bind_pointer(s, 1, (void *)&api, "fts5_api_ptr", NULL);
		sqlite3_step(s);
	}
	sqlite3_finalize(s);
	s = NULL;
	if (api && api->xCreateTokenizer(api, "loft_trigram", NULL, &tk, NULL) == SQLITE_OK &&
	    sqlite3_exec(db, "CREATE VIRTUAL TABLE temp.v USING fts5vocab(main, fts, instance)",
			 NULL, NULL, NULL) == SQLITE_OK &&
	    sqlite3_prepare_v2(
		db, "SELECT count(*) FROM temp.v WHERE doc NOT IN (SELECT id FROM messages)", -1,
		&s, NULL) == SQLITE_OK &&
	    sqlite3_step(s) == SQLITE_ROW)
		v = sqlite3_column_int64(s, 0);
	sqlite3_finalize(s);
	sqlite3_close(db);
	return v;
}

/* --- sections ----------------------------------------------------------- */

static void test_open(void)
{
	struct store *st;
	char err[256];
	sqlite3 *db;

	is_int(store_open(dbpath, &st, err, sizeof(err)), 0, "open creates the database");
	is_int(sql_int("PRAGMA user_version"), store_schema_version(), "schema version stored");
	store_close(st);
	is_int(store_open(dbpath, &st, err, sizeof(err)), 0, "reopen");
	store_close(st);
	ok(store_open("/nonexistent-dir/x/loft.db", &st, err, sizeof(err)) < 0 && !st && err[0],
	   "unopenable path fails with a reason");

	/* a database from the future is refused, untouched */
	{
		char p[320];

		snprintf(p, sizeof(p), "%s/future.db", dir);
		sqlite3_open(p, &db);
		sqlite3_exec(db, "PRAGMA user_version = 999", NULL, NULL, NULL);
		sqlite3_close(db);
		ok(store_open(p, &st, err, sizeof(err)) < 0 && strstr(err, "newer"),
		   "newer schema refused with a clear error");
	}
}

static void test_domains_users(struct store *a, struct store *b, int64_t *bob, int64_t *carol)
{
	struct names n;
	int64_t id = 0, id2 = 0;
	char buf[300];
	int cnt = 0;

	is_int(store_domain_add(a, "Loft.TEST"), 0, "domain add");
	is_int(store_domain_add(a, "loft.test"), STORE_EXISTS, "domain add twice: exists");
	is_int(store_domain_add(a, "other.test"), 0, "second domain");
	is_int(store_domain_add(a, "bad domain"), -1, "domain with space refused");
	is_int(store_domain_add(a, ""), -1, "empty domain refused");
	is_int(store_domain_add(a, "a..b"), -1, "empty label refused");
	is_int(store_domain_is_local(b, "LOFT.test"), 1, "is_local via other handle, any case");
	is_int(store_domain_is_local(b, "nowhere.test"), 0, "not local");
	memset(&n, 0, sizeof(n));
	is_int(store_domain_list(b, name_cb, &n), 2, "domain list count");
	is_s(n.buf, "loft.test,other.test,", "domain list sorted, lowercased");
	is_int(store_domain_list(b, stop_first, &cnt), 1, "callback can stop early");

	is_int(store_user_add(a, "Bob@Loft.Test", "secret1", bob), 0, "user add");
	ok(*bob > 0, "user id returned");
	is_int(store_user_add(a, "bob@loft.test", "x", NULL), STORE_EXISTS, "user exists");
	is_int(store_user_add(a, "bob@nowhere.test", "x", NULL), STORE_NOTFOUND,
	       "user in unknown domain");
	is_int(store_user_add(a, "nope", "x", NULL), -1, "address without @");
	is_int(store_user_add(a, "x@loft.test", "", NULL), -1, "empty password refused");
	is_int(store_user_add(a, "carol@loft.test", "pw-carol", carol), 0, "second user");
	is_int(store_user_add(a, "dave@other.test", "pw-dave", NULL), 0, "third user");
	is_int(store_user_find(b, "BOB@loft.test", &id), 0, "find, any case");
	is_int(id, *bob, "find gives the id");
	is_int(store_user_find(b, "nobody@loft.test", &id), STORE_NOTFOUND, "find unknown");
	is_int(store_user_address(b, *bob, buf, sizeof(buf)), 0, "address by id");
	is_s(buf, "bob@loft.test", "address lowercased");
	is_int(store_user_address(b, 99999, buf, sizeof(buf)), STORE_NOTFOUND,
	       "address unknown id");
	memset(&n, 0, sizeof(n));
	is_int(store_user_list(b, user_cb, &n), 3, "user list");
	is_s(n.buf, "bob@loft.test,carol@loft.test,dave@other.test,", "user list sorted");

	is_int(store_user_auth(b, "bob@loft.test", "secret1", &id2), 1, "auth ok");
	is_int(id2, *bob, "auth gives the id");
	is_int(store_user_auth(b, "BOB@LOFT.TEST", "secret1", NULL), 1, "auth any case");
	is_int(store_user_auth(b, "bob@loft.test", "Secret1", NULL), 0, "auth wrong password");
	is_int(store_user_auth(b, "ghost@loft.test", "secret1", NULL), 0, "auth unknown user");
	is_int(store_user_auth(b, "garbage", "secret1", NULL), 0, "auth bad address");
	is_int(store_user_auth(b, "bob@loft.test", "", NULL), 0, "auth empty password");
	is_int(store_user_passwd(a, "bob@loft.test", "secret2"), 0, "passwd change");
	is_int(store_user_auth(b, "bob@loft.test", "secret1", NULL), 0, "old password gone");
	is_int(store_user_auth(b, "bob@loft.test", "secret2", NULL), 1, "new password");
	is_int(store_user_passwd(a, "ghost@loft.test", "x"), STORE_NOTFOUND, "passwd unknown");
	ok(sql_int("SELECT count(*) FROM users WHERE password LIKE '%secret%'") == 0,
	   "no clear password stored");

	is_int(store_domain_del(a, "other.test"), -1, "domain with users not deleted");
	ok(strstr(store_errmsg(a), "user") != NULL, "errmsg says why");
	is_int(store_user_del(a, "dave@other.test"), 0, "user del");
	is_int(store_user_del(a, "dave@other.test"), STORE_NOTFOUND, "user del twice");
	is_int(store_alias_add(a, "x@other.test", "bob@loft.test"), 0, "alias in other.test");
	is_int(store_domain_del(a, "other.test"), 0, "domain del");
	is_int(store_domain_del(a, "other.test"), STORE_NOTFOUND, "domain del twice");
	is_int(sql_int("SELECT count(*) FROM aliases"), 0, "domain's aliases gone with it");
	cnt = 0;
	store_domain_list(b, count_cb, &cnt);
	is_int(cnt, 1, "one domain left");
}

static void test_mailboxes(struct store *a, struct store *b, int64_t bob)
{
	struct store_mailbox mb, mb2;
	struct names n;
	int64_t id;

	memset(&n, 0, sizeof(n));
	is_int(store_mailbox_list(b, bob, mbox_cb, &n), 6, "six default mailboxes");
	is_s(n.buf,
	     "INBOX[+],Archive[\\Archive+],Drafts[\\Drafts+],Junk[\\Junk+],Sent[\\Sent+],"
	     "Trash[\\Trash+],",
	     "defaults with SPECIAL-USE, INBOX first, subscribed");
	is_int(store_mailbox_get(b, bob, "inbox", &mb), 0, "INBOX in any case");
	is_s(mb.name, "INBOX", "stored as INBOX");
	is_int(mb.uidnext, 1, "uidnext starts at 1");
	ok(mb.uidvalidity > 0, "uidvalidity set");
	is_int(mb.messages, 0, "empty");
	is_int(store_mailbox_create(a, bob, "Projects", &id), 0, "create");
	is_int(store_mailbox_create(a, bob, "Projects", NULL), STORE_EXISTS, "create twice");
	is_int(store_mailbox_create(a, bob, "INBOX", NULL), STORE_EXISTS, "create INBOX");
	is_int(store_mailbox_create(a, bob, "Projects/Loft", NULL), 0, "create child");
	is_int(store_mailbox_create(a, bob, "Projects/Loft/Old", NULL), 0, "create grandchild");
	is_int(store_mailbox_create(a, bob, "bad*name", NULL), -1, "wildcard refused");
	is_int(store_mailbox_create(a, bob, "/lead", NULL), -1, "leading separator refused");
	is_int(store_mailbox_create(a, bob, "a//b", NULL), -1, "empty level refused");
	is_int(store_mailbox_create(a, bob, "", NULL), -1, "empty name refused");
	is_int(store_mailbox_create(a, bob, "Caf\xc3\xa9", NULL), 0, "UTF-8 name");
	/* names are NFC (RFC 9051 5.1): e + U+0301 is the same mailbox */
	is_int(store_mailbox_create(a, bob, "Cafe\xcc\x81", NULL), STORE_EXISTS,
	       "decomposed name is the precomposed mailbox");
	is_int(store_mailbox_get(b, bob, "Cafe\xcc\x81", &mb), 0, "found by its decomposed name");
	is_s(mb.name, "Caf\xc3\xa9", "stored and listed in NFC");
	{
		/* a name stored before normalisation is brought to NFC once;
		 * one whose NFC name is taken keeps its name */
		sqlite3 *db;
		int64_t bid = -1;
		ok(sqlite3_open(dbpath, &db) == SQLITE_OK, "open the file directly");
		sqlite3_busy_timeout(db, 5000);
		is_int(
		    sqlite3_exec(db,
				 "INSERT INTO mailboxes(user_id, name, uidvalidity)"
				 " SELECT user_id, 'Ku' || char(0x308) || 'che', 1 FROM mailboxes"
				 " WHERE name = 'Projects';"
				 "INSERT INTO mailboxes(user_id, name, uidvalidity)"
				 " SELECT user_id, 'Caf' || 'e' || char(0x301), 2 FROM mailboxes"
				 " WHERE name = 'Projects';",
				 NULL, NULL, NULL),
		    SQLITE_OK, "old-style decomposed names stored");
		sqlite3_close(db);
		is_int(store_mailbox_nfc_names(a), 1, "one name renamed to NFC");
		is_int(store_mailbox_get(b, bob,
					 "K\xc3\xbc"
					 "che",
					 &mb),
		       0, "found by NFC name");
		bid = sql_int(
		    "SELECT count(*) FROM mailboxes WHERE name = 'Caf' || 'e' || char(0x301)");
		is_int(bid, 1, "the one whose NFC name is taken stays");
		is_int(store_mailbox_nfc_names(a), 0, "nothing more to do");
	}
	is_int(store_mailbox_get(b, bob, "Projects", &mb), 0, "get new");
	is_int(mb.id, id, "id matches");
	is_int(mb.subscribed, 0, "not subscribed by create");
	is_int(store_mailbox_subscribe(a, bob, "Projects", 1), 0, "subscribe");
	is_int(store_mailbox_get(b, bob, "Projects", &mb), 0, "get");
	is_int(mb.subscribed, 1, "subscribed");
	/* a name without a mailbox may be subscribed (RFC 3501 6.3.6) */
	is_int(store_mailbox_subscribe(a, bob, "Nope", 1), 0, "subscribe unknown");
	{
		struct names g = {0};
		struct store_mailbox mb3;
		is_int(store_subscriptions_gone(b, bob, name_cb, &g), 1,
		       "one name without mailbox");
		is_s(g.buf, "Nope,", "it is listed");
		is_int(store_mailbox_subscribe(a, bob, "Nope", 0), 0, "unsubscribe it");
		is_int(store_mailbox_subscribe(a, bob, "Nope", 0), STORE_NOTFOUND,
		       "unsubscribe it again: not subscribed");
		is_int(store_mailbox_subscribe(a, bob, "Nope", 1), 0, "subscribe again");
		is_int(store_mailbox_create(a, bob, "Nope", NULL), 0, "create it");
		is_int(store_mailbox_get(b, bob, "Nope", &mb3), 0, "get it");
		is_int(mb3.subscribed, 1, "the new mailbox takes the subscription");
		g.buf[0] = '\0';
		is_int(store_subscriptions_gone(b, bob, name_cb, &g), 0, "no name without mailbox");
		is_int(store_mailbox_delete(a, bob, "Nope"), 0, "delete it");
		g.buf[0] = '\0';
		is_int(store_subscriptions_gone(b, bob, name_cb, &g), 1,
		       "its subscription outlives it");
		is_s(g.buf, "Nope,", "listed again");
		is_int(store_mailbox_create(a, bob, "Nope2", NULL), 0, "another");
		is_int(store_mailbox_rename(a, bob, "Nope2", "Nope"), 0, "renamed onto the name");
		is_int(store_mailbox_get(b, bob, "Nope", &mb3), 0, "get renamed");
		is_int(mb3.subscribed, 1, "renamed mailbox takes the subscription");
		is_int(store_mailbox_delete(a, bob, "Nope"), 0, "delete again");
		is_int(store_mailbox_subscribe(a, bob, "Nope", 0), 0, "and unsubscribe");
	}
	memset(&n, 0, sizeof(n));
	store_mailbox_list(b, bob, mbox_cb, &n);
	ok(strstr(n.buf, "Projects[+c],Projects/Loft[c],Projects/Loft/Old[],") != NULL,
	   "HasChildren attributes");

	is_int(store_mailbox_rename(a, bob, "Projects", "Work"), 0, "rename with children");
	memset(&n, 0, sizeof(n));
	store_mailbox_list(b, bob, mbox_cb, &n);
	ok(strstr(n.buf, "Work[+c],Work/Loft[c],Work/Loft/Old[],") && !strstr(n.buf, "Projects"),
	   "children renamed too");
	is_int(store_mailbox_get(b, bob, "Work", &mb2), 0, "renamed get");
	is_int(mb2.id, id, "same mailbox id");
	is_int(mb2.uidvalidity, mb.uidvalidity, "same uidvalidity");
	is_int(store_mailbox_rename(a, bob, "Work", "Sent"), STORE_EXISTS, "rename onto existing");
	is_int(store_mailbox_rename(a, bob, "Work", "Work/Sub"), STORE_EXISTS,
	       "rename into itself");
	is_int(store_mailbox_rename(a, bob, "Nope", "X"), STORE_NOTFOUND, "rename unknown");
	is_int(store_mailbox_rename(a, bob, "INBOX", "X"), -1, "rename INBOX refused here");
	is_int(store_mailbox_delete(a, bob, "Work/Loft/Old"), 0, "delete");
	is_int(store_mailbox_delete(a, bob, "Work/Loft/Old"), STORE_NOTFOUND, "delete twice");
	is_int(store_mailbox_delete(a, bob, "INBOX"), -1, "INBOX not deletable");
	is_int(store_mailbox_create(a, bob, "Work/Loft/Old", NULL), 0, "recreate");
	is_int(store_mailbox_get(b, bob, "Work/Loft/Old", &mb), 0, "get recreated");
	store_mailbox_get(b, bob, "Work", &mb2);
	ok(mb.uidvalidity != mb2.uidvalidity && mb.uidvalidity > mb2.uidvalidity,
	   "recreated mailbox gets a fresh, larger UIDVALIDITY");
	is_int(store_mailbox_get_id(b, mb2.id, &mb), 0, "get by id");
	is_s(mb.name, "Work", "by id name");
	is_int(store_mailbox_get_id(b, 99999, &mb), STORE_NOTFOUND, "get unknown id");
}

static void test_aliases(struct store *a, struct store *b, int64_t bob, int64_t carol)
{
	struct store_rcpt r;
	struct names n;

	is_int(store_alias_add(a, "Postmaster@loft.test", "bob@loft.test"), 0, "alias add");
	is_int(store_alias_add(a, "postmaster@loft.test", "BOB@loft.test"), STORE_EXISTS,
	       "same alias exists");
	is_int(store_alias_add(a, "postmaster@loft.test", "carol@loft.test"), 0, "second target");
	is_int(store_alias_add(a, "team@loft.test", "postmaster@loft.test"), 0, "alias of alias");
	is_int(store_alias_add(a, "team@loft.test", "friend@remote.example"), 0, "remote target");
	is_int(store_alias_add(a, "x@nowhere.test", "bob@loft.test"), STORE_NOTFOUND,
	       "alias source domain must be local");
	is_int(store_alias_add(a, "x@loft.test", "x@loft.test"), -1, "alias to itself");
	is_int(store_alias_add(a, "loop1@loft.test", "loop2@loft.test"), 0, "loop a");
	is_int(store_alias_add(a, "loop2@loft.test", "loop1@loft.test"), 0, "loop b");
	is_int(store_alias_add(a, "loopy@loft.test", "loop1@loft.test"), 0, "into the loop");
	is_int(store_alias_add(a, "loopy@loft.test", "carol@loft.test"), 0, "and out");

	is_int(store_resolve_rcpt(b, "BOB@loft.test", &r), 1, "user resolves");
	ok(r.n_users == 1 && r.user_ids[0] == bob && r.n_remote == 0, "exact user");
	is_int(store_resolve_rcpt(b, "postmaster@LOFT.test", &r), 1, "alias resolves");
	ok(r.n_users == 2 && r.user_ids[0] == bob && r.user_ids[1] == carol, "both targets");
	is_int(store_resolve_rcpt(b, "team@loft.test", &r), 1, "chain resolves");
	ok(r.n_users == 2 && r.n_remote == 1 && strcmp(r.remote[0], "friend@remote.example") == 0,
	   "chain: two users and a remote");
	is_int(store_resolve_rcpt(b, "nobody@loft.test", &r), 0, "unknown without catch-all");
	is_int(store_resolve_rcpt(b, "bob@remote.example", &r), 0, "non-local domain: not ours");
	is_int(store_resolve_rcpt(b, "loop1@loft.test", &r), 0, "pure loop: nobody");
	is_int(store_resolve_rcpt(b, "loopy@loft.test", &r), 1, "loop with an exit");
	ok(r.n_users == 1 && r.user_ids[0] == carol, "loop ended, exit taken");
	is_int(store_resolve_rcpt(b, "bad address", &r), 0, "bad address: nobody");

	is_int(store_alias_add(a, "@loft.test", "carol@loft.test"), 0, "catch-all");
	is_int(store_resolve_rcpt(b, "random@loft.test", &r), 1, "catch-all resolves");
	ok(r.n_users == 1 && r.user_ids[0] == carol, "to carol");
	is_int(store_resolve_rcpt(b, "bob@loft.test", &r), 1, "user still wins");
	ok(r.n_users == 1 && r.user_ids[0] == bob, "exact user before catch-all");
	is_int(store_resolve_rcpt(b, "postmaster@loft.test", &r), 1, "exact alias wins");
	is_int(r.n_users, 2, "exact alias before catch-all");

	/* deep chains stop at STORE_ALIAS_DEPTH */
	{
		char s[64], t[64];

		for (int i = 0; i < STORE_ALIAS_DEPTH + 2; i++) {
			snprintf(s, sizeof(s), "deep%d@loft.test", i);
			snprintf(t, sizeof(t), "deep%d@loft.test", i + 1);
			store_alias_add(a, s, t);
		}
		snprintf(s, sizeof(s), "deep%d@loft.test", STORE_ALIAS_DEPTH + 2);
		store_alias_add(a, s, "bob@loft.test");
		is_int(store_resolve_rcpt(b, "deep0@loft.test", &r), 0, "too deep: nobody");
		ok(r.truncated && r.n_users == 0, "too deep: chain cut and reported");
		snprintf(s, sizeof(s), "deep%d@loft.test", 4);
		is_int(store_resolve_rcpt(b, s, &r), 1, "shorter chain");
		ok(!r.truncated && r.n_users == 1 && r.user_ids[0] == bob, "within depth");
	}

	is_int(store_address_owned_by(b, bob, "bob@loft.test"), 1, "own address");
	is_int(store_address_owned_by(b, bob, "Postmaster@loft.test"), 1, "alias to bob");
	is_int(store_address_owned_by(b, bob, "team@loft.test"), 1, "via chain");
	is_int(store_address_owned_by(b, bob, "carol@loft.test"), 0, "not someone else's");
	is_int(store_address_owned_by(b, bob, "random@loft.test"), 0, "catch-all is carol's");
	is_int(store_address_owned_by(b, carol, "random@loft.test"), 1, "carol owns catch-all");
	is_int(store_address_owned_by(b, bob, "bob@remote.example"), 0, "remote: not owned");

	memset(&n, 0, sizeof(n));
	store_alias_list(b, alias_cb, &n);
	ok(strncmp(n.buf, "@loft.test>carol@loft.test,", 27) == 0, "alias list sorted");
	ok(strstr(n.buf,
		  "postmaster@loft.test>bob@loft.test,postmaster@loft.test>carol@loft.test,"),
	   "alias list pairs");
	is_int(store_alias_del(a, "postmaster@loft.test", "carol@loft.test"), 0, "del one target");
	is_int(store_resolve_rcpt(b, "postmaster@loft.test", &r), 1, "still resolves");
	is_int(r.n_users, 1, "one target left");
	is_int(store_alias_del(a, "postmaster@loft.test", "carol@loft.test"), STORE_NOTFOUND,
	       "del twice");
	is_int(store_alias_del(a, "team@loft.test", NULL), 0, "del all targets");
	is_int(store_alias_del(a, "@loft.test", NULL), 0, "del catch-all");
	is_int(store_resolve_rcpt(b, "team@loft.test", &r), 0, "gone");
}

/* Search index rows (the fts table's document) of message mid. */
static int64_t index_rows(int64_t mid)
{
	char sql[160];

	snprintf(sql, sizeof(sql), "SELECT count(*) FROM fts_docsize WHERE id = %lld",
		 (long long)mid);
	return sql_int(sql);
}

static void test_deliver(struct store *a, struct store *b, int64_t bob, int64_t carol)
{
	int64_t users[4] = {bob, carol, bob, carol};
	const char *remote[2] = {"x@remote.example", "y@remote.example"};
	struct store_mailbox mb;
	struct store_message m;
	struct entries e;
	int64_t mid, mid2, v1, v2;
	uint32_t before;

	store_mailbox_get(b, bob, "INBOX", &mb);
	before = mb.uidnext;
	is_int(store_data_version(b, &v1), 0, "data_version");
	is_int(store_deliver(a, msg1, strlen(msg1), "alice@example.org", users, 4, remote, 2, &mid),
	       0, "deliver to 2 users (listed twice) + 2 remote");
	is_int(store_data_version(b, &v2), 0, "data_version again");
	ok(v1 != v2, "other handle sees data_version change");
	is_int(sql_int("SELECT count(*) FROM messages"), 1, "raw bytes stored once");
	is_int(sql_int("SELECT count(*) FROM entries"), 2, "one entry per distinct user");
	is_int(sql_int("SELECT count(*) FROM queue"), 2, "one queue row per remote");
	is_int(index_rows(mid), 1, "in a mailbox: search signatures");
	is_int(store_mailbox_get(b, bob, "INBOX", &mb), 0, "INBOX");
	is_int(mb.messages, 1, "bob has 1");
	is_int(mb.unseen, 1, "unseen");
	is_int(mb.uidnext, before + 1, "uidnext advanced");
	is_int(mb.first_unseen, before, "first unseen");
	is_int(mb.recent, 1, "recent");

	is_int(store_message_get(b, mid, &m), 0, "message get");
	is_mem(m.data, m.size, msg1, strlen(msg1), "raw bytes intact");
	ok(m.envelope && m.envelope[0] == '(', "envelope present");
	ok(m.bodystructure && m.bodystructure[0] == '(', "bodystructure present");
	ok(m.body && m.body[0] == '(', "body present");
	is_int(m.lines, 9, "line count");
	ok(m.internaldate > 1600000000, "internaldate now");
	store_message_free(&m);
	is_int(store_message_meta(b, mid, &m), 0, "meta");
	ok(m.data == NULL && m.size == strlen(msg1), "meta without data, with size");
	store_message_free(&m);
	is_int(store_message_get(b, 99999, &m), STORE_NOTFOUND, "unknown message");

	is_int(store_deliver(a, msg2, strlen(msg2), "", &bob, 1, NULL, 0, &mid2), 0, "second");
	is_int(store_deliver(a, msg1, strlen(msg1), "", &bob, 1, NULL, 0, NULL), 0, "third");
	memset(&e, 0, sizeof(e));
	store_mailbox_get(b, bob, "INBOX", &mb);
	is_int(store_entries(b, mb.id, 1, 0, collect_entry, &e), 3, "three entries");
	ok(e.e[0].uid < e.e[1].uid && e.e[1].uid < e.e[2].uid, "UIDs increase");
	ok(e.e[0].modseq < e.e[1].modseq && e.e[1].modseq < e.e[2].modseq, "modseqs increase");
	is_int(e.e[0].message_id, mid, "entry message id");
	is_int(e.e[0].size, strlen(msg1), "entry size");
	is_int(e.e[1].flags, 0, "no flags");
	is_s(e.kw[1], "", "no keywords");
	is_int(mb.highestmodseq, e.e[2].modseq, "highestmodseq = last modseq");
	memset(&e, 0, sizeof(e));
	is_int(store_entries(b, mb.id, mb.uidnext + 5, mb.uidnext + 9, collect_entry, &e), 0,
	       "range without entry");
	store_mailbox_get(b, carol, "INBOX", &mb);
	is_int(mb.messages, 1, "carol got it once");
	is_int(mb.uidnext, 2, "carol's UIDs are her own");

	is_int(store_deliver(a, msg1, strlen(msg1), "", NULL, 0, NULL, 0, NULL), -1,
	       "no recipients refused");
	{
		int64_t ghost = 999999;

		is_int(store_deliver(a, msg1, strlen(msg1), "", &ghost, 1, remote, 1, NULL), -1,
		       "unknown user id: error");
		is_int(sql_int("SELECT count(*) FROM messages"), 3, "nothing half-kept");
		is_int(sql_int("SELECT count(*) FROM queue"), 2, "no queue row kept");
	}
	{
		/* empty and NUL-containing messages are stored as they are */
		static const char nul[] = "Subject: nul\r\n\r\na\0b\r\n";

		is_int(store_deliver(a, nul, sizeof(nul) - 1, "", &carol, 1, NULL, 0, &mid), 0,
		       "message with NUL");
		store_message_get(b, mid, &m);
		is_mem(m.data, m.size, nul, sizeof(nul) - 1, "NUL kept");
		store_message_free(&m);
	}
}

/* store_append_many: APPEND group commit and MULTIAPPEND (issue 9) */
static void test_append_many(struct store *a, struct store *b, int64_t bob)
{
	struct store_append_msg m1[3] = {{msg1, strlen(msg1), STORE_F_SEEN, "$A", 1700000000, 0},
					 {msg2, strlen(msg2), 0, NULL, 0, 0},
					 {msg1, strlen(msg1), STORE_F_FLAGGED, "$B $C", 0, 0}};
	struct store_append_msg m2[1] = {{msg2, strlen(msg2), 0, NULL, 0, 0}};
	struct store_append_msg m3[2] = {{msg2, strlen(msg2), 0, NULL, 0, 0},
					 {msg1, strlen(msg1), 0, "bad\\kw", 0, 0}};
	struct store_append_msg m4[1] = {{msg1, strlen(msg1), 0, NULL, 0, 0}};
	struct store_append_job jobs[4] = {{bob, "Batch", m1, 3, 0, 0},
					   {bob, "Nowhere", m2, 1, 0, 0},
					   {bob, "Batch", m3, 2, 0, 0},
					   {bob, "batch2", m4, 1, 0, 0}};
	struct store_mailbox mb;
	struct entries e;

	ok(store_mailbox_create(a, bob, "Batch", NULL) == 0 &&
	       store_mailbox_create(a, bob, "batch2", NULL) == 0,
	   "append_many: mailboxes");
	is_int(store_append_many(a, jobs, 4), 0, "append_many: one transaction committed");
	is_int(jobs[0].rc, 0, "append_many: MULTIAPPEND stored");
	ok(m1[0].uid == 1 && m1[1].uid == 2 && m1[2].uid == 3, "append_many: consecutive UIDs");
	is_int(jobs[1].rc, STORE_NOTFOUND, "append_many: missing mailbox fails alone");
	is_int(jobs[2].rc, -1, "append_many: a bad keyword fails its whole job");
	ok(m3[0].uid == 0, "append_many: nothing of the bad job stored");
	ok(jobs[3].rc == 0 && m4[0].uid == 1, "append_many: second mailbox");
	is_int(store_mailbox_get(b, bob, "Batch", &mb), 0, "append_many: Batch");
	is_int(mb.messages, 3, "append_many: three messages, seen from another handle");
	is_int(jobs[0].uidvalidity, mb.uidvalidity, "append_many: uidvalidity");
	memset(&e, 0, sizeof(e));
	store_entries(b, mb.id, 1, 0, collect_entry, &e);
	ok(e.n == 3 && e.e[0].flags == STORE_F_SEEN && e.e[2].flags == STORE_F_FLAGGED,
	   "append_many: flags");
	is_s(e.kw[2], "$B $C", "append_many: keywords");
	is_int(e.e[0].internaldate, 1700000000, "append_many: internaldate");
	is_int(store_append_many(a, jobs, 0), 0, "append_many: nothing to do");
}

static void test_append_flags(struct store *a, struct store *b, int64_t bob)
{
	struct store_mailbox mb;
	struct entries e;
	uint32_t uv = 0, uid = 0, old;
	uint64_t ms, ms2;
	struct store_message m;

	is_int(store_append(a, bob, "Drafts", msg2, strlen(msg2), STORE_F_SEEN | STORE_F_DRAFT,
			    "$Work  $work Important", 1700000000, &uv, &uid),
	       0, "append");
	is_int(store_mailbox_get(b, bob, "Drafts", &mb), 0, "Drafts");
	is_int(uv, mb.uidvalidity, "APPENDUID uidvalidity");
	is_int(uid, 1, "APPENDUID uid");
	is_int(mb.unseen, 0, "appended \\Seen");
	memset(&e, 0, sizeof(e));
	store_entries(b, mb.id, 1, 0, collect_entry, &e);
	is_int(e.e[0].flags, STORE_F_SEEN | STORE_F_DRAFT, "flags kept");
	is_s(e.kw[0], "$Work Important", "keywords deduplicated case-insensitively");
	is_int(e.e[0].internaldate, 1700000000, "internaldate kept");
	store_message_get(b, e.e[0].message_id, &m);
	is_mem(m.data, m.size, msg2, strlen(msg2), "appended bytes");
	store_message_free(&m);
	is_int(store_append(a, bob, "Nope", msg2, strlen(msg2), 0, NULL, 0, NULL, NULL),
	       STORE_NOTFOUND, "append to unknown mailbox");
	is_int(store_append(a, bob, "Drafts", msg2, strlen(msg2), 0, "bad\\kw", 0, NULL, NULL), -1,
	       "bad keyword refused");
	is_int(store_append(a, bob, "Drafts", msg2, strlen(msg2), 64, NULL, 0, NULL, NULL), -1,
	       "bad flag bits refused");

	/* flags and CONDSTORE */
	store_mailbox_get(b, bob, "INBOX", &mb);
	memset(&e, 0, sizeof(e));
	store_entries(b, mb.id, 1, 0, collect_entry, &e);
	uid = e.e[0].uid;
	is_int(store_flags(a, mb.id, uid, STORE_FLAGS_ADD, STORE_F_SEEN, NULL, 0, &ms), 1,
	       "add \\Seen");
	ok(ms > mb.highestmodseq, "new modseq above old highest");
	is_int(store_flags(a, mb.id, uid, STORE_FLAGS_ADD, STORE_F_SEEN, NULL, 0, &ms2), 0,
	       "add again: unchanged");
	is_int(ms2, ms, "unchanged keeps modseq");
	is_int(store_flags(a, mb.id, uid, STORE_FLAGS_ADD, STORE_F_FLAGGED, "Urgent", 0, &ms2), 1,
	       "add \\Flagged + keyword");
	ok(ms2 > ms, "modseq bumped");
	is_int(store_flags(a, mb.id, uid, STORE_FLAGS_SET, STORE_F_ANSWERED, NULL, ms, NULL),
	       STORE_MODIFIED, "UNCHANGEDSINCE older: modified");
	is_int(store_flags(a, mb.id, uid, STORE_FLAGS_SET, STORE_F_ANSWERED, "x", ms2, &ms), 1,
	       "UNCHANGEDSINCE current: ok");
	memset(&e, 0, sizeof(e));
	store_entries(b, mb.id, uid, uid, collect_entry, &e);
	is_int(e.e[0].flags, STORE_F_ANSWERED, "SET replaced flags");
	is_s(e.kw[0], "x", "SET replaced keywords");
	is_int(e.e[0].modseq, ms, "entry modseq");
	store_mailbox_get(b, bob, "INBOX", &mb);
	is_int(mb.highestmodseq, ms, "HIGHESTMODSEQ follows");
	is_int(store_flags(a, mb.id, uid, STORE_FLAGS_ADD, 0, "y X z", 0, NULL), 1, "add keywords");
	is_int(store_flags(a, mb.id, uid, STORE_FLAGS_REMOVE, STORE_F_ANSWERED, "X Z", 0, NULL), 1,
	       "remove");
	memset(&e, 0, sizeof(e));
	store_entries(b, mb.id, uid, uid, collect_entry, &e);
	is_int(e.e[0].flags, 0, "removed flag");
	is_s(e.kw[0], "y", "removed keywords case-insensitively");
	is_int(store_flags(a, mb.id, 99999, STORE_FLAGS_ADD, STORE_F_SEEN, NULL, 0, NULL),
	       STORE_NOTFOUND, "unknown uid");
	is_int(store_flags(a, mb.id, uid, 7, STORE_F_SEEN, NULL, 0, NULL), -1, "bad mode");
	is_int(store_flags(a, mb.id, uid, STORE_FLAGS_ADD, 0, "(bad", 0, NULL), -1, "bad keyword");
	memset(&e, 0, sizeof(e));
	is_int(store_entries_changed(b, mb.id, 1, 0, ms, collect_entry, &e), 1, "CHANGEDSINCE");
	is_int(e.e[0].uid, uid, "the changed one");

	/* \Recent: exactly one claimer sees each new message */
	is_int(store_mailbox_claim_recent(a, mb.id, &old), 0, "claim recent");
	is_int(old, 0, "first claim: all recent");
	is_int(store_mailbox_claim_recent(b, mb.id, &old), 0, "claim again");
	is_int(old, mb.uidnext - 1, "second claim: none recent");
	store_mailbox_get(b, bob, "INBOX", &mb);
	is_int(mb.recent, 0, "recent count now 0");
}

static void test_copy_move_expunge(struct store *a, struct store *b, int64_t bob)
{
	struct store_mailbox in, ar, tr;
	struct entries e;
	struct uids u;
	uint32_t uids[4], nu[4], uv = 0;
	uint64_t hms;
	int64_t msgs;

	store_mailbox_get(b, bob, "INBOX", &in);
	store_mailbox_get(b, bob, "Archive", &ar);
	store_mailbox_get(b, bob, "Trash", &tr);
	memset(&e, 0, sizeof(e));
	store_entries(b, in.id, 1, 0, collect_entry, &e);
	ok(e.n == 3, "three in INBOX");
	msgs = sql_int("SELECT count(*) FROM messages");
	uids[0] = e.e[0].uid;
	uids[1] = 99999;
	uids[2] = e.e[2].uid;
	is_int(store_copy(a, in.id, uids, 3, ar.id, nu, &uv), 2, "copy 2 of 3");
	is_int(uv, ar.uidvalidity, "COPYUID uidvalidity");
	ok(nu[0] == 1 && nu[1] == 0 && nu[2] == 2, "COPYUID uids, 0 for missing");
	is_int(sql_int("SELECT count(*) FROM messages"), msgs, "copy shares the bytes");
	memset(&e, 0, sizeof(e));
	store_entries(b, ar.id, 1, 0, collect_entry, &e);
	is_int(e.n, 2, "two in Archive");
	is_s(e.kw[0], "y", "copy keeps keywords");

	/* move Archive uid 1 -> Trash */
	uids[0] = 1;
	store_mailbox_get(b, bob, "Archive", &ar);
	hms = ar.highestmodseq;
	is_int(store_move(a, ar.id, uids, 1, tr.id, nu, &uv), 1, "move");
	ok(nu[0] == 1 && uv == tr.uidvalidity, "move COPYUID");
	memset(&e, 0, sizeof(e));
	store_entries(b, ar.id, 1, 0, collect_entry, &e);
	ok(e.n == 1 && e.e[0].uid == 2, "moved out of Archive");
	memset(&u, 0, sizeof(u));
	is_int(store_vanished(b, ar.id, hms, collect_uid, &u), 1, "move leaves a VANISHED record");
	is_int(u.u[0], 1, "vanished uid");
	memset(&u, 0, sizeof(u));
	is_int(store_vanished(b, ar.id, hms + 100, collect_uid, &u), 0, "nothing newer");

	/* expunge: only \Deleted ones; a UID set limits further */
	store_mailbox_get(b, bob, "INBOX", &in);
	memset(&e, 0, sizeof(e));
	store_entries(b, in.id, 1, 0, collect_entry, &e);
	hms = in.highestmodseq;
	store_flags(a, in.id, e.e[0].uid, STORE_FLAGS_ADD, STORE_F_DELETED, NULL, 0, NULL);
	store_flags(a, in.id, e.e[1].uid, STORE_FLAGS_ADD, STORE_F_DELETED, NULL, 0, NULL);
	uids[0] = e.e[1].uid;
	uids[1] = e.e[2].uid;
	memset(&u, 0, sizeof(u));
	is_int(store_expunge(a, in.id, uids, 2, collect_uid, &u), 1,
	       "UID EXPUNGE: only \\Deleted in set");
	ok(u.n == 1 && u.u[0] == e.e[1].uid, "callback got it");
	memset(&u, 0, sizeof(u));
	is_int(store_expunge(a, in.id, NULL, 0, collect_uid, &u), 1, "EXPUNGE all \\Deleted");
	ok(u.n == 1 && u.u[0] == e.e[0].uid, "callback got the other");
	is_int(store_expunge(a, in.id, NULL, 0, NULL, NULL), 0, "nothing left to expunge");
	memset(&u, 0, sizeof(u));
	is_int(store_vanished(b, in.id, hms, collect_uid, &u), 2, "VANISHED since");
	ok(u.u[0] == e.e[0].uid && u.u[1] == e.e[1].uid, "in UID order");
	store_mailbox_get(b, bob, "INBOX", &in);
	is_int(in.messages, 1, "one left in INBOX");

	/* the second message (msg2) had only its INBOX entry: now gone */
	is_int(
	    sql_int("SELECT count(*) FROM messages WHERE id NOT IN (SELECT message_id FROM entries)"
		    " AND id NOT IN (SELECT message_id FROM queue WHERE message_id IS NOT NULL)"),
	    0, "no unreferenced message left");
	is_int(store_index_purge(a, 1000) >= 0, 1, "index rows of deleted messages purged");
	is_int(sql_int("SELECT count(*) FROM fts_docsize WHERE id NOT IN (SELECT id FROM "
		       "messages)"),
	       0, "no orphan index rows");
	/* deleting a mailbox drops its entries and the messages only it held */
	is_int(store_mailbox_delete(a, bob, "Trash"), 0, "delete Trash with an entry");
	is_int(
	    sql_int(
		"SELECT count(*) FROM entries WHERE mailbox_id NOT IN (SELECT id FROM mailboxes)"),
	    0, "entries gone with the mailbox");
	is_int(
	    sql_int("SELECT count(*) FROM messages WHERE id NOT IN (SELECT message_id FROM entries)"
		    " AND id NOT IN (SELECT message_id FROM queue WHERE message_id IS NOT NULL)"),
	    0, "still no unreferenced message");
}

/* The search battery on mailbox name of carol; with defer, the messages
 * are appended with their index rows pending (store_set_defer_index), so
 * every search reads them instead; then indexed, and searched again. */
static void test_search(struct store *a, struct store *b, int64_t carol, const char *name,
			int defer)
{
	static const char b64[] = "From: Zed <zed@example.org>\r\n"
				  "Subject: plain words\r\n"
				  "MIME-Version: 1.0\r\n"
				  "Content-Type: text/plain; charset=utf-8\r\n"
				  "Content-Transfer-Encoding: base64\r\n"
				  "\r\n"
				  /* "The hidden walrus sings." */
				  "VGhlIGhpZGRlbiB3YWxydXMgc2luZ3Mu\r\n";
	struct store_mailbox mb;
	struct uids u;
	int64_t users[1] = {carol};

	store_mailbox_create(a, carol, name, NULL);
	store_mailbox_get(b, carol, name, &mb);
	store_set_defer_index(a, defer);
	store_append(a, carol, name, msg1, strlen(msg1), 0, NULL, 0, NULL, NULL); /* uid 1 */
	store_append(a, carol, name, msg2, strlen(msg2), 0, NULL, 0, NULL, NULL); /* uid 2 */
	store_append(a, carol, name, b64, strlen(b64), 0, NULL, 0, NULL, NULL);	  /* uid 3 */
	store_deliver(a, msg1, strlen(msg1), "", users, 1, NULL, 0, NULL);	  /* INBOX, not S */
	{
		int64_t np = -1;
		store_index_pending_count(b, mb.id, &np);
		is_int((int)np, defer ? 3 : 0, "index rows pending");
	}
	for (int round = 0; round < (defer ? 2 : 1); round++) {
		if (round == 1) {
			/* now the index thread's part: then the index answers */
			int64_t np = -1;
			is_int(store_index_pending(b, 0, 2, NULL), 2, "two indexed");
			is_int(store_index_pending(b, 0, 100, NULL), 1, "the last one");
			is_int(store_index_pending(b, 0, 100, NULL), 0, "none left");
			store_index_pending_count(b, 0, &np);
			is_int((int)np, 0, "no marks left");
		}

#define SEARCH(field, q, want, what)                                                               \
	do {                                                                                       \
		memset(&u, 0, sizeof(u));                                                          \
		store_search_text(b, mb.id, field, q, collect_uid, &u);                            \
		char got[64] = "";                                                                 \
		for (size_t i_ = 0; i_ < u.n; i_++)                                                \
			snprintf(got + strlen(got), sizeof(got) - strlen(got), "%s%u",             \
				 i_ ? "," : "", u.u[i_]);                                          \
		is_s(got, want, what);                                                             \
	} while (0)

		SEARCH("subject", "zebra", "1", "subject word");
		SEARCH("subject", "ZEBRA", "1", "subject case-insensitive");
		SEARCH("subject", "terly zeb", "1", "subject substring across words");
		SEARCH("subject", "giraffe", "", "body word not in subject");
		SEARCH("body", "giraffe", "1", "body word");
		SEARCH("text", "giraffe", "1", "text finds body");
		SEARCH("text", "zebra", "1", "text finds subject");
		SEARCH("from", "alice", "1", "from name");
		SEARCH("from", "example.net", "2", "from domain");
		SEARCH("to", "bob@loft", "1,2", "to");
		SEARCH("cc", "bob", "", "cc empty");
		SEARCH("subject",
		       "gr\xc3\xbc\xc3\x9f"
		       "e",
		       "2", "decoded RFC 2047 subject");
		SEARCH("subject",
		       "GR\xc3\x9c\xc3\x9f"
		       "E",
		       "2", "non-ASCII case folding");
		SEARCH("body", "walrus", "3", "word in base64 text body");
		SEARCH("body", "VGhl", "", "base64 text itself not indexed");
		SEARCH("subject", "zz", "", "2-char query, no match");
		SEARCH("subject", "ze", "1", "2-char query (scan)");
		SEARCH("subject", "q", "1", "1-char query (scan)");
		SEARCH("subject", "%", "", "LIKE wildcard is literal");
		SEARCH("subject", "\"quo", "", "quote in FTS query is literal");
		SEARCH("subject", "", "1,2,3", "empty query: all");
	}
	{
		/* header fields for the index: folded lines unfolded, a header
		 * without a body, bare LF line ends */
		static const char folded[] = "Subject: first half\r\n"
					     "\tsecond half\r\n"
					     "To: a@x.test,\r\n b@y.test\r\n";
		static const char lf[] = "subject: lower-case name\ncc: pat@cc.test\n\nbody\n";

		store_append(a, carol, name, folded, strlen(folded), 0, NULL, 0, NULL,
			     NULL);						      /* 4 */
		store_append(a, carol, name, lf, strlen(lf), 0, NULL, 0, NULL, NULL); /* 5 */
		SEARCH("subject", "half second", "4", "folded subject unfolded");
		SEARCH("to", "b@y.test", "4", "folded To");
		SEARCH("subject", "lower-case", "5", "field name any case, bare LF");
		SEARCH("cc", "pat@cc", "5", "Cc with LF");
		SEARCH("subject", "body", "", "body is not a header");
	}
	is_int(store_search_text(b, mb.id, "nosuchfield", "x", collect_uid, &u), -1, "bad field");
	if (defer) {
		/* pending marks outlive the handle (a crash before the index
		 * thread got to them), go with an expunged message, and a
		 * yielding indexer stops after one message */
		int64_t np = -1;
		uint32_t uids[1] = {4};
		atomic_int yield = 1;
		char err[256];

		struct store *c;

		/* a handle opened afresh (as after a crash) sees the marks */
		if (store_open(dbpath, &c, err, sizeof(err)) < 0) {
			printf("Bail out! %s\n", err);
			exit(1);
		}
		store_index_pending_count(c, mb.id, &np);
		is_int((int)np, 2, "marks kept for a new handle");
		store_close(c);
		SEARCH("subject", "half second", "4", "pending found by a scan");
		store_flags(a, mb.id, 4, STORE_FLAGS_ADD, STORE_F_DELETED, NULL, 0, NULL);
		is_int(store_expunge(a, mb.id, uids, 1, NULL, NULL), 1, "expunge a pending one");
		store_index_pending_count(a, mb.id, &np);
		is_int((int)np, 1, "its mark went with it");
		store_append(a, carol, name, "Subject: first half\r\n\tsecond half\r\n\r\nx\r\n",
			     40, 0, NULL, 0, NULL, NULL); /* 6 */
		is_int(store_index_pending(a, mb.id, 100, &yield), 1, "yield: one per transaction");
		is_int(store_index_pending(a, mb.id, 100, NULL), 1, "then the rest");
		SEARCH("subject", "half second", "6", "indexed after all");
		SEARCH("cc", "pat@cc", "5", "Cc indexed after all");
		store_set_defer_index(a, 0);
	}
#undef SEARCH
}

/* The signatures pick candidates, the exact match decides (store_search.c):
 * a message with every trigram of the query but not the query is not
 * found; a big message (a saturated signature), folded non-ASCII text, a
 * query under 3 bytes and a message with no text at all; with defer the
 * same before and after the index rows are written. */
static void test_search_decoys(struct store *a, struct store *b, int64_t carol, const char *name,
			       int defer)
{
	static const char *const m[] = {
	    "Subject: one\r\n\r\nA quagga garoo went by.\r\n",			 /* 1 decoy */
	    "Subject: two 42\r\n\r\nThe QuaggaRoo!\r\n",			 /* 2 */
	    "Subject: =?UTF-8?B?S8O8aGxzY2hyYW5r?=\r\n\r\n\xc3\x84RGER \xc3\xbc" /* 3 */
	    "ber Stra\xc3\x9f"
	    "e\r\n",
	    "Subject: \r\n\r\n", /* 4: no text */
	};
	struct store_mailbox mb;
	struct uids u;
	struct buf big;
	uint32_t x = 12345;

	store_mailbox_create(a, carol, name, NULL);
	store_mailbox_get(b, carol, name, &mb);
	store_set_defer_index(a, defer);
	for (size_t i = 0; i < sizeof(m) / sizeof(m[0]); i++) {
		store_append(a, carol, name, m[i], strlen(m[i]), 0, NULL, 0, NULL, NULL);
		/* with defer, the mailbox's messages are spread among others
		 * (INBOX's): its signatures are looked up one by one instead
		 * of read in a range */
		for (int k = 0; defer && k < 8; k++)
			store_deliver(a, msg1, strlen(msg1), "", &carol, 1, NULL, 0, NULL);
	}
	/* 5: 300 KB of pseudo-random words, then one word at the end */
	buf_init(&big, 400000);
	buf_puts(&big, "Subject: big\r\n\r\n");
	while (big.len < 300000) {
		x = x * 1103515245u + 12345u;
		buf_putc(&big, (char)('a' + (x >> 16) % 26));
		if ((x >> 8) % 7 == 0)
			buf_puts(&big, (x >> 20) % 9 ? " " : "\r\n");
	}
	buf_puts(&big, "\r\nzebulonian\r\n");
	store_append(a, carol, name, big.data, big.len, 0, NULL, 0, NULL, NULL);
	buf_free(&big);
	for (int round = 0; round < (defer ? 2 : 1); round++) {
		if (round == 1)
			is_int(store_index_pending(b, 0, 100, NULL), 5, "signatures written");
#define SEARCH(field, q, want, what)                                                               \
	do {                                                                                       \
		memset(&u, 0, sizeof(u));                                                          \
		store_search_text(b, mb.id, field, q, collect_uid, &u);                            \
		char got[64] = "";                                                                 \
		for (size_t i_ = 0; i_ < u.n; i_++)                                                \
			snprintf(got + strlen(got), sizeof(got) - strlen(got), "%s%u",             \
				 i_ ? "," : "", u.u[i_]);                                          \
		is_s(got, want, what);                                                             \
	} while (0)
		SEARCH("body", "quaggaroo", "2", "every trigram there is not a match");
		SEARCH("text", "QUAGGAROO", "2", "TEXT: the decoy not either");
		SEARCH("body", "quagga garoo", "1", "the decoy's own words");
		SEARCH("subject", "K\xc3\x9cHL", "3", "encoded subject, folded");
		SEARCH("body", "\xc3\xa4rger", "3", "folded body");
		SEARCH("body",
		       "STRA\xc3\x9f"
		       "E",
		       "3", "sharp s");
		SEARCH("body", "\xc3\x9c", "3", "a 2-byte query reads every message");
		SEARCH("text", "\xc3\x9f", "3", "a 2-byte query");
		SEARCH("text", "!", "2", "a 1-byte query");
		SEARCH("text", "zebulonian", "5", "the end of a big message");
		SEARCH("text", "zebulonians", "", "not there: no false hit");
		SEARCH("body", "two 42", "", "a subject is not the body");
		SEARCH("subject", "two 42", "2", "but is the subject");
		SEARCH("text", "", "1,2,3,4,5", "empty query: all");
#undef SEARCH
	}
	{
		/* expunged, the mailbox's messages go, and their index rows
		 * with them: by a Loft handle later (fts_deleted) */
		struct store_mailbox now;
		int64_t before, left;

		store_index_purge(b, 1000); /* what earlier sections left */
		before = sql_int("SELECT count(*) FROM fts_docsize");

		for (uint32_t uid = 1; uid <= 5; uid++)
			store_flags(a, mb.id, uid, STORE_FLAGS_ADD, STORE_F_DELETED, NULL, 0, NULL);
		is_int(store_expunge(a, mb.id, NULL, 0, NULL, NULL), 5, "expunge them all");
		store_mailbox_get(b, carol, name, &now);
		is_int(now.messages, 0, "mailbox empty");
		is_int(sql_int("SELECT count(*) FROM fts_deleted"), 5, "five raw copies wait");
		/* a message now takes the greatest id again when that one went
		 * (a rowid is reused): the old rows of the id go first */
		store_append(a, carol, name, m[0], strlen(m[0]), 0, NULL, 0, NULL, NULL);
		if (defer)
			store_index_pending(b, 0, 100, NULL);
		left = sql_int("SELECT count(*) FROM fts_deleted");
		ok(left == 4 || left == 5, "a reused id's old rows go first");
		memset(&u, 0, sizeof(u));
		store_search_text(b, mb.id, "text", "zebulonian", collect_uid, &u);
		is_int((int)u.n, 0, "a reused id does not match its former message");
		memset(&u, 0, sizeof(u));
		store_search_text(b, mb.id, "body", "quagga", collect_uid, &u);
		ok(u.n == 1 && u.u[0] == 6, "but its own text");
		is_int(store_index_purge(b, 100), (int)left, "the rest purged");
		is_int(store_index_purge(b, 100), 0, "nothing left to purge");
		is_int(sql_int("SELECT count(*) FROM fts_docsize"), before - 4,
		       "their index rows gone, the new one's there");
		is_int(stale_postings(), 0, "no index entry left of a deleted message");
	}
	if (!defer) {
		/* a connection without the tokenizer (the sqlite3 shell) can
		 * delete an indexed message: the trigger touches no FTS5 table */
		sqlite3 *db;
		char q[160];
		int rc = -1;

		snprintf(q, sizeof(q), "DELETE FROM entries WHERE mailbox_id = %lld",
			 (long long)mb.id);
		if (sqlite3_open_v2(dbpath, &db, SQLITE_OPEN_READWRITE, NULL) == SQLITE_OK) {
			sqlite3_busy_timeout(db, 5000);
			rc = sqlite3_exec(db, q, NULL, NULL, NULL);
		}
		sqlite3_close(db);
		is_int(rc, SQLITE_OK, "deleted without the tokenizer");
		is_int(sql_int("SELECT count(*) FROM fts_deleted"), 1, "its raw copy waits");
		is_int(store_index_purge(b, 100), 1, "a Loft handle purges it");
		is_int(stale_postings(), 0, "nothing of it left in the index");
	}
	store_set_defer_index(a, 0);
}

struct qrows {
	int n;
	int64_t id[8], mid[8];
	char status[8][16], err[8][64], rcpt[8][64];
	int attempts[8];
	int64_t next[8];
};

static int queue_collect(void *arg, const struct store_queue_item *it)
{
	struct qrows *q = arg;

	if (q->n < 8) {
		q->id[q->n] = it->id;
		q->mid[q->n] = it->message_id;
		snprintf(q->status[q->n], sizeof(q->status[0]), "%s", it->status);
		snprintf(q->err[q->n], sizeof(q->err[0]), "%s", it->last_error);
		snprintf(q->rcpt[q->n], sizeof(q->rcpt[0]), "%s", it->rcpt);
		q->attempts[q->n] = it->attempts;
		q->next[q->n] = it->next_attempt;
		q->n++;
	}
	return 0;
}

static void test_queue(struct store *a, struct store *b)
{
	struct qrows q;
	int64_t mid, now = (int64_t)time(NULL);
	const char *r[1] = {"z@remote.example"};
	struct store_message m;

	is_int(store_deliver(a, msg2, strlen(msg2), "bob@loft.test", NULL, 0, r, 1, &mid), 0,
	       "remote-only delivery");
	is_int(index_rows(mid), 0, "remote-only: no search signatures (no mailbox holds it)");
	memset(&q, 0, sizeof(q));
	is_int(store_queue_list(b, queue_collect, &q), 3, "queue list");
	ok(strcmp(q.rcpt[0], "x@remote.example") == 0 && strcmp(q.status[0], "queued") == 0,
	   "first row queued");
	is_int(q.mid[2], mid, "row names its message");
	memset(&q, 0, sizeof(q));
	is_int(store_queue_due(b, now + 1, 10, queue_collect, &q), 3, "all due now");
	memset(&q, 0, sizeof(q));
	is_int(store_queue_due(b, now - 1000, 10, queue_collect, &q), 0, "none due earlier");
	memset(&q, 0, sizeof(q));
	is_int(store_queue_due(b, now + 1, 1, queue_collect, &q), 1, "limit honoured");

	memset(&q, 0, sizeof(q));
	store_queue_list(b, queue_collect, &q);
	is_int(store_queue_defer(a, q.id[0], now + 600, "451 try later"), 0, "defer");
	is_int(store_queue_done(a, q.id[1]), 0, "done");
	is_int(store_queue_done(a, q.id[1]), STORE_NOTFOUND, "done twice");
	is_int(store_queue_bounce(a, q.id[2], "550 no such user"), 0, "bounce");
	is_int(store_queue_defer(a, 99999, now, "x"), STORE_NOTFOUND, "defer unknown");
	memset(&q, 0, sizeof(q));
	store_queue_list(b, queue_collect, &q);
	ok(strcmp(q.status[0], "deferred") == 0 && q.attempts[0] == 1 && q.next[0] == now + 600 &&
	       strcmp(q.err[0], "451 try later") == 0,
	   "deferred row: status, attempts, next, error");
	ok(strcmp(q.status[1], "done") == 0 && q.mid[1] == 0, "done row let go of its message");
	ok(strcmp(q.status[2], "bounced") == 0 && strcmp(q.err[2], "550 no such user") == 0,
	   "bounced row");
	is_int(store_message_get(b, mid, &m), STORE_NOTFOUND,
	       "remote-only message deleted once its row finished");
	memset(&q, 0, sizeof(q));
	is_int(store_queue_due(b, now + 1, 10, queue_collect, &q), 0, "deferred not due yet");
	memset(&q, 0, sizeof(q));
	is_int(store_queue_due(b, now + 601, 10, queue_collect, &q), 1, "deferred due later");
	is_int(store_queue_purge(a, now + 10), 2, "purge finished rows");
	memset(&q, 0, sizeof(q));
	is_int(store_queue_list(b, queue_collect, &q), 1, "one row left");
}

static int setting_cb(void *arg, const char *k, const char *v)
{
	struct names *n = arg;
	size_t l = strlen(n->buf);

	snprintf(n->buf + l, sizeof(n->buf) - l, "%s=%s,", k, v);
	return 0;
}

static int event_cb(void *arg, int64_t id, int64_t when, const char *kind, const char *text)
{
	struct names *n = arg;
	size_t l = strlen(n->buf);

	(void)id;
	(void)when;
	snprintf(n->buf + l, sizeof(n->buf) - l, "%s:%s,", kind, text);
	return 0;
}

static void test_misc(struct store *a, struct store *b)
{
	char buf[64], small[4], *d = NULL;
	struct names n;

	is_int(store_setting_get(b, "route.policy", buf, sizeof(buf)), STORE_NOTFOUND,
	       "no setting");
	is_int(store_setting_set(a, "route.policy", "auto"), 0, "set");
	is_int(store_setting_get(b, "route.policy", buf, sizeof(buf)), 0, "get via other handle");
	is_s(buf, "auto", "value");
	is_int(store_setting_set(a, "route.policy", "relay"), 0, "replace");
	is_int(store_setting_get(b, "route.policy", buf, sizeof(buf)), 0, "get");
	is_s(buf, "relay", "replaced");
	is_int(store_setting_get(b, "route.policy", small, sizeof(small)), -1, "small buffer");
	is_int(store_setting_dup(b, "route.policy", &d), 0, "dup");
	is_s(d, "relay", "dup value");
	free(d);
	store_setting_set(a, "a.key", "1");
	memset(&n, 0, sizeof(n));
	is_int(store_setting_list(b, setting_cb, &n), 2, "list");
	is_s(n.buf, "a.key=1,route.policy=relay,", "list sorted");
	is_int(store_setting_del(a, "a.key"), 0, "del");
	is_int(store_setting_del(a, "a.key"), STORE_NOTFOUND, "del twice");

	is_int(store_event_add(a, "route", "verdict relay"), 0, "event");
	is_int(store_event_add(a, "auth", "bad password"), 0, "event 2");
	is_int(store_event_add(a, "", "x"), -1, "event without kind");
	memset(&n, 0, sizeof(n));
	is_int(store_event_list(b, 10, event_cb, &n), 2, "event list");
	is_s(n.buf, "auth:bad password,route:verdict relay,", "newest first");
	memset(&n, 0, sizeof(n));
	is_int(store_event_list(b, 1, event_cb, &n), 1, "event limit");
}

static void test_tx(struct store *a, struct store *b, int64_t bob)
{
	struct store_mailbox mb;

	is_int(store_tx_begin(a), 0, "tx begin");
	is_int(store_mailbox_create(a, bob, "TxBox", NULL), 0, "create in tx");
	is_int(store_mailbox_get(b, bob, "TxBox", &mb), STORE_NOTFOUND,
	       "not visible before commit");
	is_int(store_tx_commit(a), 0, "tx commit");
	is_int(store_mailbox_get(b, bob, "TxBox", &mb), 0, "visible after commit");
	is_int(store_tx_begin(a), 0, "tx begin 2");
	is_int(store_mailbox_create(a, bob, "TxGone", NULL), 0, "create in tx 2");
	store_tx_rollback(a);
	is_int(store_mailbox_get(b, bob, "TxGone", &mb), STORE_NOTFOUND, "rolled back");
	is_int(store_tx_begin(a), 0, "tx begin 3");
	is_int(store_mailbox_create(a, bob, "TxBox", NULL), STORE_EXISTS, "inner failure");
	is_int(store_mailbox_create(a, bob, "TxGone2", NULL), 0, "then a success");
	is_int(store_tx_commit(a), 0, "outer commit after a handled inner failure");
	is_int(store_mailbox_get(b, bob, "TxGone2", &mb), 0, "kept");
}

/* store_wal_manual: a's commits leave the WAL growing (no checkpoint
 * inside COMMIT), store_checkpoint on another handle copies it back, and
 * the next commit starts the WAL over. */
static void test_wal_manual(struct store *a, struct store *b, int64_t bob)
{
	static char msg[16384];
	int n = snprintf(msg, sizeof(msg), "From: w@example.org\r\nSubject: wal\r\n\r\n");
	int prev = 0, grew = 1, i;

	for (int k = n; k < (int)sizeof(msg) - 2; k += 64)
		memcpy(msg + k,
		       "walwalwalwalwalwalwalwalwalwalwalwalwalwalwalwalwalwalwalwalwal\r\n",
		       (int)sizeof(msg) - 2 - k < 64 ? (size_t)((int)sizeof(msg) - 2 - k) : 64);
	store_wal_manual(a);
	is_int(store_checkpoint(b), 0, "a checkpoint first: the WAL starts empty");
	for (i = 0; i < 1000 && store_wal_frames(a) < 1200; i++) {
		if (store_deliver(a, msg, sizeof(msg) - 2, "", &bob, 1, NULL, 0, NULL) < 0)
			break;
		grew &= store_wal_frames(a) > prev;
		prev = store_wal_frames(a);
	}
	printf("# %d frames after %d messages\n", store_wal_frames(a), i);
	ok(store_wal_frames(a) >= 1200, "the WAL passed 1000 pages");
	ok(grew, "and every commit made it longer: no checkpoint inside COMMIT");
	is_int(store_checkpoint(b), 0, "another handle copies it all back");
	is_int(store_deliver(a, msg, sizeof(msg) - 2, "", &bob, 1, NULL, 0, NULL), 0, "one more");
	printf("# %d frames after the checkpoint and one message\n", store_wal_frames(a));
	ok(store_wal_frames(a) > 0 && store_wal_frames(a) < 100,
	   "the next commit starts the WAL over");
	int64_t dv;
	ok(store_data_version(b, &dv) == 0, "the other handle still reads");
}

/* SQLite's temporary files open now (deleted at once, so only /proc
 * sees them): "etilqs_" names in its temp directory. */
static int temp_files_open(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	char p[300], t[512];
	int n = 0;

	while (d && (e = readdir(d)) != NULL) {
		ssize_t k;
		snprintf(p, sizeof(p), "/proc/self/fd/%s", e->d_name);
		k = readlink(p, t, sizeof(t) - 1);
		if (k > 0) {
			t[k] = '\0';
			n += strstr(t, "etilqs_") != NULL;
		}
	}
	if (d)
		closedir(d);
	return n;
}

/* A savepoint inside a transaction that changes ~50 pages: its journal
 * passes SQLite's 64 KiB and goes to a file, unless temp_store=MEMORY
 * (store_set_temp_memory).  Returns the temp files open before the
 * commit, or -1. */
static int savepoint_temp_files(struct store *st)
{
	static char v[1200];
	char k[32];
	int n;

	memset(v, 'v', sizeof(v) - 1);
	for (int i = 0; i < 200; i++) {
		snprintf(k, sizeof(k), "spill.%d", i);
		v[0] = 'a';
		if (store_setting_set(st, k, v) < 0)
			return -1;
	}
	if (store_tx_begin(st) < 0 || store_tx_begin(st) < 0)
		return -1;
	for (int i = 0; i < 200; i++) {
		snprintf(k, sizeof(k), "spill.%d", i);
		v[0] = 'b';
		if (store_setting_set(st, k, v) < 0)
			return -1;
	}
	n = temp_files_open();
	if (store_tx_commit(st) < 0 || store_tx_commit(st) < 0)
		return -1;
	return n;
}

static void test_temp_memory(void)
{
	struct store *s;
	char p[300], err[256];

	snprintf(p, sizeof(p), "%s/temp.db", dir);
	if (store_open(p, &s, err, sizeof(err)) < 0) {
		printf("# %s\n", err);
		ok(0, "open temp.db");
		return;
	}
	ok(savepoint_temp_files(s) > 0,
	   "a savepoint's journal past 64 KiB is a temp file (the check sees one)");
	store_close(s);
	if (store_open(p, &s, err, sizeof(err)) < 0) {
		printf("# %s\n", err);
		ok(0, "open temp.db");
		return;
	}
	is_int(store_set_temp_memory(s), 0, "temp_store=MEMORY");
	is_int(savepoint_temp_files(s), 0, "with it the same savepoint opens no temp file");
	store_close(s);
}

static void test_backup_restore(struct store *a, int64_t bob)
{
	char bk[320], bad[320], err[256], db2[320];
	struct store *r;
	struct store_mailbox mb;
	int64_t msgs_at_backup;
	pid_t pid;
	int status;
	FILE *f;

	snprintf(bk, sizeof(bk), "%s/backup.db", dir);
	/* a second process keeps delivering while the backup runs */
	pid = fork();
	if (pid == 0) {
		struct store *w;
		char e[256];

		if (store_open(dbpath, &w, e, sizeof(e)) < 0)
			_exit(2);
		for (int i = 0; i < 150; i++)
			if (store_deliver(w, msg1, strlen(msg1), "", &bob, 1, NULL, 0, NULL) < 0)
				_exit(3);
		store_close(w);
		_exit(0);
	}
	usleep(20000);
	is_int(store_backup(a, bk), 0, "backup while another process writes");
	waitpid(pid, &status, 0);
	ok(WIFEXITED(status) && WEXITSTATUS(status) == 0, "writer finished without errors");
	is_int(store_backup(a, bk), -1, "backup refuses to overwrite");

	snprintf(db2, sizeof(db2), "%s/copy-check.db", dir);
	is_int(store_open(bk, &r, err, sizeof(err)), 0, "backup opens as a store");
	is_int(store_mailbox_get(r, bob, "INBOX", &mb), 0, "backup has bob's INBOX");
	msgs_at_backup = mb.messages;
	{
		sqlite3 *db;
		sqlite3_stmt *s;
		int okv = 0;

		sqlite3_open(bk, &db);
		sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &s, NULL);
		if (sqlite3_step(s) == SQLITE_ROW)
			okv = strcmp((const char *)sqlite3_column_text(s, 0), "ok") == 0;
		sqlite3_finalize(s);
		/* consistency: every entry's message exists, counts agree */
		sqlite3_prepare_v2(db,
				   "SELECT count(*) FROM entries WHERE message_id NOT IN"
				   " (SELECT id FROM messages)",
				   -1, &s, NULL);
		if (sqlite3_step(s) == SQLITE_ROW && sqlite3_column_int(s, 0) != 0)
			okv = 0;
		sqlite3_finalize(s);
		sqlite3_close(db);
		ok(okv, "backup passes integrity_check and is consistent");
	}
	store_close(r);

	/* restore: change the live DB, then put the backup back while a
	 * handle stays open */
	store_mailbox_create(a, bob, "AfterBackup", NULL);
	is_int(store_restore(bk, dbpath, err, sizeof(err)), 0, "restore");
	is_int(store_mailbox_get(a, bob, "AfterBackup", &mb), STORE_NOTFOUND,
	       "open handle sees the restored content");
	is_int(store_mailbox_get(a, bob, "INBOX", &mb), 0, "INBOX after restore");
	is_int(mb.messages, msgs_at_backup, "message count as in the backup");
	is_int(store_mailbox_create(a, bob, "AfterRestore", NULL), 0, "writes work after restore");

	snprintf(bad, sizeof(bad), "%s/garbage.db", dir);
	f = fopen(bad, "w");
	fputs("this is not a database, just text that goes on for a while.\n", f);
	fclose(f);
	ok(store_restore(bad, dbpath, err, sizeof(err)) < 0 && err[0],
	   "restore from garbage refused");
	{
		sqlite3 *db;

		snprintf(bad, sizeof(bad), "%s/other.db", dir);
		sqlite3_open(bad, &db);
		sqlite3_exec(db, "CREATE TABLE t(x); PRAGMA user_version = 1", NULL, NULL, NULL);
		sqlite3_close(db);
		ok(store_restore(bad, dbpath, err, sizeof(err)) < 0 && strstr(err, "Loft"),
		   "restore from a non-Loft database refused");
		snprintf(bad, sizeof(bad), "%s/future2.db", dir);
		sqlite3_open(bad, &db);
		sqlite3_exec(db, "CREATE TABLE t(x); PRAGMA user_version = 99", NULL, NULL, NULL);
		sqlite3_close(db);
		ok(store_restore(bad, dbpath, err, sizeof(err)) < 0 && strstr(err, "version"),
		   "restore from a newer schema refused");
	}
	is_int(store_mailbox_get(a, bob, "AfterRestore", &mb), 0,
	       "failed restores changed nothing");
}

/* --- quota (issue 12) --------------------------------------------------- */

static void test_quota(struct store *a, struct store *b)
{
	int64_t dan = 0, q = -1, u = -1;
	int64_t ids[1] = {0};

	is_int(store_user_add(a, "dan@loft.test", "dan-password-1", &dan), 0, "quota: add dan");
	ids[0] = dan;
	is_int(store_user_quota_get(b, dan, &q, &u), 0, "quota: get");
	is_int((int)q, 0, "quota: 0 (unlimited) by default");
	is_int((int)u, 0, "quota: no usage yet");
	is_int(store_user_over_quota(b, dan, 1000000), 0, "quota: unlimited is never over");
	is_int(store_user_quota_set(a, "Dan@Loft.Test", 100), 0, "quota: set 100 (case folded)");
	is_int(store_user_quota_set(a, "nobody@loft.test", 100), STORE_NOTFOUND,
	       "quota: unknown user");
	is_int(store_user_quota_set(a, "not an address", 100), -1, "quota: bad address");
	is_int(store_user_quota_set(a, "dan@loft.test", -1), -1, "quota: negative refused");
	is_int(store_user_quota_get(b, 999999, &q, &u), STORE_NOTFOUND, "quota: unknown id");
	is_int(store_user_over_quota(b, 999999, 0), -1, "quota: over_quota of unknown id");
	is_int(store_user_quota_get(b, dan, &q, NULL), 0, "quota: get, usage NULL");
	is_int((int)q, 100, "quota: other handle sees 100");
	is_int(store_user_over_quota(b, dan, 0), 0, "quota: empty mailbox not over");
	is_int(store_user_over_quota(b, dan, 100), 0, "quota: exactly the quota fits");
	is_int(store_user_over_quota(b, dan, 101), 1, "quota: one byte more does not");
	is_int(store_deliver(a, msg2, sizeof(msg2) - 1, "carol@example.net", ids, 1, NULL, 0, NULL),
	       0, "quota: deliver one");
	is_int(store_user_quota_get(b, dan, &q, &u), 0, "quota: get after delivery");
	is_int((int)u, (int)(sizeof(msg2) - 1), "quota: usage is the message size");
	is_int(store_user_over_quota(b, dan, 0), 1, "quota: a message bigger than 100 fills it");
	is_int(store_user_quota_set(a, "dan@loft.test", 1000), 0, "quota: set 1000");
	is_int(store_user_over_quota(b, dan, 0), 0, "quota: under, not over");
	is_int(store_user_quota_set(a, "dan@loft.test", (int64_t)(sizeof(msg2) - 1)), 0,
	       "quota: set to the usage");
	is_int(store_user_over_quota(b, dan, 0), 1, "quota: at the quota is full");
	is_int(store_user_quota_set(a, "dan@loft.test", 0), 0, "quota: back to unlimited");
	is_int(store_user_over_quota(b, dan, 1000000), 0, "quota: unlimited again");
	is_int(store_user_del(a, "dan@loft.test"), 0, "quota: delete dan");
}

int main(void)
{
	struct store *a, *b;
	char err[256];
	int64_t bob = 0, carol = 0;

	snprintf(dir, sizeof(dir), "/tmp/loft-test-store-XXXXXX");
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 1;
	}
	snprintf(dbpath, sizeof(dbpath), "%s/loft.db", dir);
	test_open();
	if (store_open(dbpath, &a, err, sizeof(err)) < 0 ||
	    store_open(dbpath, &b, err, sizeof(err)) < 0) {
		printf("Bail out! %s\n", err);
		return 1;
	}
	test_domains_users(a, b, &bob, &carol);
	test_mailboxes(a, b, bob);
	test_aliases(a, b, bob, carol);
	test_deliver(a, b, bob, carol);
	test_append_flags(a, b, bob);
	test_append_many(a, b, bob);
	test_copy_move_expunge(a, b, bob);
	test_search(a, b, carol, "S", 0);
	test_search(a, b, carol, "SD", 1);
	test_search_decoys(a, b, carol, "G", 0);
	test_search_decoys(a, b, carol, "GD", 1);
	test_queue(a, b);
	test_misc(a, b);
	test_tx(a, b, bob);
	test_backup_restore(a, bob);
	test_quota(a, b);
	test_wal_manual(a, b, bob);
	test_temp_memory();

	/* deleting a user takes its mail and the alias rows pointing at it */
	store_alias_add(a, "pm@loft.test", "carol@loft.test");
	is_int(store_user_del(a, "carol@loft.test"), 0, "delete carol");
	is_int(sql_int("SELECT count(*) FROM aliases WHERE target = 'carol@loft.test'"), 0,
	       "aliases to carol gone");
	is_int(sql_int("SELECT count(*) FROM mailboxes WHERE user_id = "
		       "(SELECT 0)"),
	       0, "sanity");
	is_int(
	    sql_int("SELECT count(*) FROM messages WHERE id NOT IN (SELECT message_id FROM entries)"
		    " AND id NOT IN (SELECT message_id FROM queue WHERE message_id IS NOT NULL)"),
	    0, "carol's messages gone");
	is_int(sql_int("PRAGMA foreign_key_check"), -1, "no foreign key violations");

	store_close(a);
	store_close(b);
	{
		char cmd[300];

		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
		if (system(cmd) != 0)
			printf("# could not remove %s\n", dir);
	}
	return tap_done();
}
