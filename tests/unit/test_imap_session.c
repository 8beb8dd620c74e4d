/*
 * imapd's sessions driven as test_smtp_session drives SMTP's: scripts of
 * lines sent and tagged results expected, on a socketpair, with the real
 * event loop, conn (implicit TLS: LOGIN needs it), command parser,
 * command table, view, FETCH/SEARCH/STORE and a real store in a temporary
 * directory.  Each script runs twice: written whole, and one byte per TLS
 * record.  The daemon's files come through imapd/build.mk.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../../imapd/imapd.h"
#include "authcheck.h"
#include "authlimit.h"
#include "evloop.h"
#include "listener.h"
#include "log.h"
#include "store.h"
#include "store_deliver.h"
#include "store_users.h"
#include "tap.h"
#include "tls.h"

static struct imapd srv;
static struct ev_timer *stop_timer;
static struct tls_ctx *client_ctx;

static void stop_cb(struct evloop *ev, struct ev_timer *t, void *arg)
{
	(void)t;
	(void)arg;
	ev_stop(ev);
}

static void pump(uint64_t ms)
{
	ev_timer_arm(stop_timer, ms);
	ev_run(srv.ev);
}

/* Reads what the server sent so far into out (appended). */
static void drain(struct tls_conn *tc, char *out, size_t outlen)
{
	size_t have = strlen(out);
	ssize_t n;

	while (have + 1 < outlen && (n = tls_read(tc, out + have, outlen - have - 1)) > 0)
		have += (size_t)n;
	out[have] = '\0';
}

/* The tagged results in in, "a1 OK a2 NO", in order. */
static void tagged(const char *in, char *out, size_t outlen)
{
	size_t o = 0;

	out[0] = '\0';
	for (const char *l = in; *l;) {
		const char *e = strstr(l, "\r\n"), *sp, *sp2;

		if (!e)
			break;
		sp = memchr(l, ' ', (size_t)(e - l));
		sp2 = sp ? memchr(sp + 1, ' ', (size_t)(e - sp - 1)) : NULL;
		if (isalnum((unsigned char)l[0]) && sp && sp2 &&
		    o + (size_t)(sp2 - l) + 2 < outlen) {
			int n = snprintf(out + o, outlen - o, "%s%.*s", o ? " " : "",
					 (int)(sp2 - l), l);
			o += (size_t)n;
		}
		l = e + 2;
	}
}

struct script {
	const char *name;
	const char *send;
	const char *expect;   /* tagged results, space-separated */
	const char *untagged; /* lines that must be there, '|'-separated, or NULL */
};

static const struct script scripts[] = {
    {"login, select, fetch, search",
     "a LOGIN u@example.org password-123\r\nb SELECT INBOX\r\nc FETCH 1:* (UID FLAGS)\r\n"
     "d UID FETCH 1:* (RFC822.SIZE BODY.PEEK[HEADER.FIELDS (Subject)])\r\n"
     "e SEARCH SUBJECT hello\r\nf UID SEARCH OR SUBJECT hello SUBJECT world\r\n"
     "g SEARCH RETURN (COUNT) ALL\r\nh LOGOUT\r\n",
     "a OK b OK c OK d OK e OK f OK g OK h OK",
     "* 2 EXISTS|* SEARCH 1|* SEARCH 1 2|* ESEARCH (TAG \"g\") COUNT 2|* BYE"},
    {"states and the UID rows",
     "a SELECT INBOX\r\nb UID FETCH 1 FLAGS\r\nc LOGIN u@example.org password-123\r\n"
     "d UID FETCH 1 FLAGS\r\ne LOGIN u@example.org password-123\r\nf EXAMINE INBOX\r\n"
     "g UID BOGUS 1\r\nh UID\r\ni uid fetch 2 (UID)\r\nj UID EXPUNGE\r\nk FETCH 1 (FLAGS\r\n"
     "l LOGOUT\r\n",
     "a BAD b BAD c OK d BAD e BAD f OK g BAD h BAD i OK j BAD k BAD l OK", "* 2 FETCH (UID 2)"},
    {"flags and modseq",
     "a LOGIN u@example.org password-123\r\nb SELECT INBOX (CONDSTORE)\r\n"
     "c STORE 1 +FLAGS (\\Flagged $Work)\r\nd FETCH 1 (FLAGS)\r\n"
     "e UID STORE 1 -FLAGS.SILENT (\\Flagged $Work)\r\nf SEARCH FLAGGED\r\n"
     "g FETCH 1 (MODSEQ)\r\nh STORE 1 +FLAGS (\\Bogus)\r\ni LOGOUT\r\n",
     "a OK b OK c OK d OK e OK f OK g OK h BAD i OK", "* 1 FETCH (FLAGS (\\Flagged $Work)"},
    {"new keywords announced in FLAGS (issue 9, item 2)",
     "a LOGIN u@example.org password-123\r\nb SELECT INBOX\r\n"
     "c STORE 1 +FLAGS ($Brand)\r\nd STORE 2 FLAGS.SILENT ($Quiet)\r\n"
     "e STORE 2 +FLAGS ($quiet $Brand)\r\nf STORE 1:* FLAGS.SILENT ()\r\n"
     "g EXAMINE INBOX\r\nh LOGOUT\r\n",
     "a OK b OK c OK d OK e OK f OK g OK h OK",
     "* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft $Forwarded $Junk $NotJunk "
     "$MDNSent $Brand)\r\n* OK [PERMANENTFLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft "
     "$Forwarded $Junk $NotJunk $MDNSent $Brand \\*)] Flags permitted\r\n* 1 FETCH (FLAGS "
     "($Brand))|"
     "$MDNSent $Brand $Quiet)\r\n* OK [PERMANENTFLAGS|"
     "* 2 FETCH (FLAGS ($Quiet $Brand))\r\ne OK|$MDNSent)\r\n* OK [PERMANENTFLAGS ()]"},
    {"mailboxes",
     "a LOGIN u@example.org password-123\r\nb CREATE Projects/Loft\r\n"
     "c LIST \"\" \"Projects*\"\r\nd RENAME Projects/Loft Projects/Roof\r\n"
     "e STATUS Projects/Roof (MESSAGES UIDNEXT)\r\nf DELETE Projects/Roof\r\n"
     "g DELETE Projects\r\nh SELECT Nowhere\r\ni LOGOUT\r\n",
     "a OK b OK c OK d OK e OK f OK g NO h NO i OK",
     "* LIST (\\Noselect \\HasChildren) \"/\" \"Projects\"|* LIST (\\HasNoChildren) \"/\" "
     "\"Projects/Loft\"|* STATUS \"Projects/Roof\" (MESSAGES 0 UIDNEXT 1)"},
    {"bad input", "a NOOP\r\nb FOO\r\nc LOGIN {5000}\r\n\001\r\nd LOGIN x\r\ne NOOP\r\n",
     "a OK b BAD c BAD d BAD e OK", NULL},
    {"IMAP4rev2 (RFC 9051)",
     "a LOGIN u@example.org password-123\r\nb ENABLE IMAP4rev2\r\nc SELECT INBOX\r\n"
     "d SEARCH SUBJECT hello\r\ne UID SEARCH NOT ALL\r\nf FETCH 1:* FLAGS\r\n"
     "g STATUS INBOX (MESSAGES DELETED)\r\nh STATUS INBOX (RECENT)\r\n"
     "i CREATE \"K\xc3\xb6ln\"\r\nj LIST \"\" K*\r\nk EXAMINE \"K\xc3\xb6ln\"\r\n"
     "l DELETE \"K\xc3\xb6ln\"\r\nm LOGOUT\r\n",
     "a OK b OK c OK d OK e OK f OK g OK h BAD i OK j OK k OK l OK m OK",
     "* ENABLED IMAP4rev2|* LIST (\\HasNoChildren) \"/\" \"INBOX\"|* ESEARCH (TAG \"d\") ALL "
     "1\r\n|* ESEARCH (TAG \"e\") UID\r\n|* STATUS \"INBOX\" (MESSAGES 2 DELETED 0)|* LIST "
     "(\\HasNoChildren) \"/\" \"K\xc3\xb6ln\"|* OK [CLOSED]|* 2 FETCH (FLAGS ())"},
    {"UTF8=ACCEPT (RFC 6855)",
     "a LOGIN u@example.org password-123\r\nb SELECT \"\xc3\xa9\"\r\nc ENABLE UTF8=ACCEPT\r\n"
     "d CREATE \"\xc3\xa9t\xc3\xa9\"\r\n"
     "e APPEND \"\xc3\xa9t\xc3\xa9\" UTF8 (~{27+}\r\nSubject: \xc3\xa9t\xc3\xa9 "
     "chaud\r\n\r\nx\r\n)\r\n"
     "f SELECT \"\xc3\xa9t\xc3\xa9\"\r\ng SEARCH SUBJECT \"\xc3\xa9t\xc3\xa9 c\"\r\n"
     "h SEARCH CHARSET UTF-8 ALL\r\ni APPEND INBOX UTF8 ({1+}\r\nx)\r\n"
     "j SELECT \"\xc3(\"\r\nk DELETE \"\xc3\xa9t\xc3\xa9\"\r\nl LOGOUT\r\n",
     "a OK b NO c OK d OK e OK f OK g OK h BAD i BAD j BAD k OK l OK",
     "b NO [CANNOT]|* ENABLED UTF8=ACCEPT|* SEARCH 1\r\n|[APPENDUID "},
    {"RFC 6855 5: a UTF-8 header downgraded without UTF8=ACCEPT",
     "a LOGIN u@example.org password-123\r\nb CREATE Dg\r\n"
     "c APPEND Dg {45+}\r\nSubject: Gr\xc3\xbc\xc3\x9f"
     "e\r\nFrom: x@example.org\r\n\r\nhi\r\n\r\n"
     "d EXAMINE Dg\r\ne FETCH 1 (ENVELOPE RFC822.SIZE BODY.PEEK[HEADER.FIELDS (SUBJECT)])\r\n"
     "f ENABLE UTF8=ACCEPT\r\ng FETCH 1 (RFC822.SIZE BODY.PEEK[HEADER.FIELDS (SUBJECT)])\r\n"
     "h UNSELECT\r\ni DELETE Dg\r\nj LOGOUT\r\n",
     "a OK b OK c OK d OK e OK f OK g OK h OK i OK j OK",
     "\"=?UTF-8?B?R3LDvMOfZQ==?=\"|RFC822.SIZE 62 |{37}\r\nSubject: "
     "=?UTF-8?B?R3LDvMOfZQ==?=\r\n\r\n"
     "|RFC822.SIZE 45 |{20}\r\nSubject: Gr\xc3\xbc\xc3\x9f"
     "e\r\n"},
    {"SEARCH LARGER/SMALLER and SORT SIZE use RFC822.SIZE as FETCH shows it (downgraded)",
     "a LOGIN u@example.org password-123\r\nb CREATE Sz\r\n"
     "c APPEND Sz {45+}\r\nSubject: Gr\xc3\xbc\xc3\x9f"
     "e\r\nFrom: x@example.org\r\n\r\nhi\r\n\r\n"
     "c APPEND Sz {50+}\r\nSubject: abcdefghijklmnopqrstuvwxyz0123456\r\n\r\nhi\r\n\r\n"
     "d EXAMINE Sz\r\ne SEARCH RETURN (ALL) LARGER 55\r\nf SEARCH RETURN (ALL) SMALLER 55\r\n"
     "g SORT (SIZE) UTF-8 ALL\r\nh ENABLE UTF8=ACCEPT\r\n"
     "i SEARCH RETURN (ALL) LARGER 55\r\nj SEARCH RETURN (ALL) SMALLER 48\r\n"
     "k SORT (SIZE) UTF-8 ALL\r\nl UNSELECT\r\nm DELETE Sz\r\nn LOGOUT\r\n",
     "a OK b OK c OK c OK d OK e OK f OK g OK h OK i OK j OK k OK l OK m OK n OK",
     "* ESEARCH (TAG \"e\") ALL 1\r\n|* ESEARCH (TAG \"f\") ALL 2\r\n|* SORT 2 1\r\n"
     "|* ESEARCH (TAG \"i\")\r\n|* ESEARCH (TAG \"j\") ALL 1\r\n|* SORT 1 2\r\n"},
    {"NFC mailbox names and OLDNAME (RFC 9051 5.1, 6.3.4)",
     "a LOGIN u@example.org password-123\r\nb ENABLE IMAP4rev2\r\n"
     "c CREATE \"Scho\xcc\x88n\"\r\nd CREATE \"Sch\xc3\xb6n\"\r\n"
     "e RENAME \"Sch\xc3\xb6n\" \"Scho\xcc\x88ner\"\r\nf DELETE \"Sch\xc3\xb6ner\"\r\n"
     "g LOGOUT\r\n",
     "a OK b OK c OK d NO e OK f OK g OK",
     "* LIST (\\HasNoChildren) \"/\" \"Sch\xc3\xb6n\" (\"OLDNAME\" (\"Scho\xcc\x88n\"))"
     "|d NO [ALREADYEXISTS]"
     "|* LIST (\\HasNoChildren) \"/\" \"Sch\xc3\xb6ner\" (\"OLDNAME\" (\"Scho\xcc\x88ner\"))"},
    {"CONTEXT=SORT: ADDTO and REMOVEFROM with positions in sort order",
     "a LOGIN u@example.org password-123\r\nb CREATE Cs\r\n"
     "c APPEND Cs {15+}\r\nSubject: b\r\n\r\nx\r\n"
     "c APPEND Cs {15+}\r\nSubject: d\r\n\r\nx\r\n"
     "d SELECT Cs\r\ne UID SORT RETURN (UPDATE ALL) (SUBJECT) UTF-8 ALL\r\n"
     "f APPEND Cs {15+}\r\nSubject: c\r\n\r\nx\r\n"
     "g UID STORE 1 +FLAGS.SILENT (\\Deleted)\r\n"
     "h UID SORT RETURN (UPDATE ALL) (REVERSE SUBJECT) UTF-8 UNDELETED\r\n"
     "i UID STORE 3 +FLAGS.SILENT (\\Deleted)\r\nj NOOP\r\n"
     "k UNSELECT\r\nl DELETE Cs\r\nm LOGOUT\r\n",
     "a OK b OK c OK c OK d OK e OK f OK g OK h OK i OK j OK k OK l OK m OK",
     "* ESEARCH (TAG \"e\") UID ALL 1:2\r\n|* ESEARCH (TAG \"e\") UID ADDTO (2 3)\r\n"
     "|* ESEARCH (TAG \"h\") UID ALL 2:3\r\n|* ESEARCH (TAG \"h\") UID REMOVEFROM (2 3)\r\n"},
    {"literals over the limits: [TOOBIG]", "a LOGIN {4097}\r\nb NOOP\r\nc LOGIN {4097+}\r\n",
     "a BAD b OK c BAD",
     "a BAD [TOOBIG] literal too large|* BYE literal too large\r\nc BAD [TOOBIG]"},
};

static int has_lines(const char *got, const char *want, char *missing, size_t mlen)
{
	char w[512], *save = NULL;

	if (!want)
		return 1;
	snprintf(w, sizeof(w), "%s", want);
	for (char *t = strtok_r(w, "|", &save); t; t = strtok_r(NULL, "|", &save)) {
		if (!strstr(got, t)) {
			snprintf(missing, mlen, "%s", t);
			return 0;
		}
	}
	return 1;
}

static void run_script(const struct script *sc, int bytewise)
{
	static char got[65536];
	char res[1024], what[1400], missing[256] = "";
	struct tls_conn *tc;
	size_t len = strlen(sc->send);
	int sv[2], r = 0;

	got[0] = '\0';
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0)
		bug("socketpair");
	fcntl(sv[1], F_SETFL, O_NONBLOCK);
	ok(listener_session_begin(srv.lsn, "127.0.0.1") == 0, "session within the limits");
	imap_session_start(&srv, sv[0], NULL, "127.0.0.1", 1, 1);
	tc = tls_conn_new(client_ctx, sv[1], "localhost");
	for (int i = 0; i < 2000 && (r = tls_handshake(tc)) == 0; i++)
		pump(1);
	ok(r == 1, "TLS handshake");
	if (bytewise) {
		for (size_t i = 0; i < len; i++) {
			while (tls_write(tc, sc->send + i, 1) < 0 && errno == EAGAIN)
				pump(1);
			pump(1);
			drain(tc, got, sizeof(got));
		}
	} else {
		for (size_t off = 0; off < len;) {
			ssize_t n = tls_write(tc, sc->send + off, len - off);
			if (n > 0)
				off += (size_t)n;
			else
				pump(1);
		}
	}
	/* password checks run on the pool: give them time */
	for (int i = 0; i < 400; i++) {
		pump(5);
		drain(tc, got, sizeof(got));
		tagged(got, res, sizeof(res));
		if (strcmp(res, sc->expect) == 0 && has_lines(got, sc->untagged, missing, 1))
			break;
	}
	tls_conn_free(tc);
	close(sv[1]);
	pump(5);
	tagged(got, res, sizeof(res));
	snprintf(what, sizeof(what), "%s (%s): %s", sc->name, bytewise ? "bytewise" : "whole", res);
	ok(strcmp(res, sc->expect) == 0, what);
	missing[0] = '\0';
	int all = has_lines(got, sc->untagged, missing, sizeof(missing));
	snprintf(what, sizeof(what), "%s (%s): untagged replies there%s%s", sc->name,
		 bytewise ? "bytewise" : "whole", missing[0] ? ", missing " : "", missing);
	ok(all, what);
	if (!all)
		printf("# got:\n%s", got);
}

static void deliver(int64_t uid, const char *msg)
{
	if (store_deliver(srv.st, msg, strlen(msg), "x@remote.example", &uid, 1, NULL, 0, NULL) < 0)
		bug("deliver: %s", store_errmsg(srv.st));
}

int main(void)
{
	char dir[] = "/tmp/test_imap_session.XXXXXX", path[128], cert[160], key[160], err[256];
	struct authlimit_conf ac;
	struct listener_conf lc = {.proto = "imap", .max_sessions = 10, .max_per_ip = 10};
	int64_t uid = 0;

	signal(SIGPIPE, SIG_IGN);
	log_init("test_imap_session", LOG_LVL_ERR);
	if (!mkdtemp(dir))
		bug("mkdtemp");
	snprintf(path, sizeof(path), "%s/loft.db", dir);
	snprintf(cert, sizeof(cert), "%s/cert.pem", dir);
	snprintf(key, sizeof(key), "%s/key.pem", dir);
	if (store_open(path, &srv.st, err, sizeof(err)) < 0)
		bug("store_open: %s", err);
	ok(store_domain_add(srv.st, "example.org") == 0 &&
	       store_user_add(srv.st, "u@example.org", "password-123", &uid) == 0,
	   "a user");
	deliver(uid, "Subject: hello\r\nFrom: a@remote.example\r\n\r\nfirst\r\n");
	deliver(uid, "Subject: world\r\nFrom: b@remote.example\r\n\r\nsecond\r\n");
	if (tls_selfsigned_ensure(cert, key, "localhost", err, sizeof(err)) < 0 ||
	    !(srv.tls = tls_server_new(cert, key, err, sizeof(err))) ||
	    !(client_ctx = tls_client_new(NULL, TLS_VERIFY_NONE, err, sizeof(err))))
		bug("tls: %s", err);

	srv.ev = ev_new();
	stop_timer = ev_timer_new(srv.ev, stop_cb, NULL);
	authlimit_conf_default(&ac);
	srv.al = authlimit_new(&ac);
	srv.ac = authcheck_new(srv.ev, path, 1, err, sizeof(err));
	if (!srv.ac)
		bug("authcheck_new: %s", err);
	srv.lsn = listener_new(srv.ev, &lc, imap_session_start, &srv);
	srv.max_sessions = 10;
	srv.max_per_ip = 10;
	srv.max_per_user = 10;
	srv.appendlimit = 1 << 20;
	srv.dl = (struct listener_deadlines){
	    .handshake_ms = 60000, .login_ms = 60000, .idle_ms = 60000, .idle_authed_ms = 60000};

	for (size_t i = 0; i < sizeof(scripts) / sizeof(scripts[0]); i++) {
		run_script(&scripts[i], 0);
		run_script(&scripts[i], 1);
	}
	for (int i = 0; i < 100 && listener_sessions(srv.lsn) > 0; i++)
		pump(5);
	is_int(listener_sessions(srv.lsn), 0, "every session ended");

	listener_free(srv.lsn);
	authcheck_free(srv.ac);
	authlimit_free(srv.al);
	tls_ctx_free(srv.tls);
	tls_ctx_free(client_ctx);
	store_close(srv.st);
	ev_timer_free(stop_timer);
	ev_free(srv.ev);
	snprintf(path, sizeof(path), "rm -rf %s", dir);
	if (system(path) != 0)
		return 1;
	return tap_done();
}
