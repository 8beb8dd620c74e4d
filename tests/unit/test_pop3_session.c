/*
 * POP3 sessions end to end inside one process: the real server code on a
 * real event loop and a real mailstore in a temporary directory, talked to
 * over a loopback socket by a scripted client (lines sent, replies
 * expected).  Covers every command, the state table, bad input, the
 * maildrop lock, UPDATE through the store, back-pressure on a large
 * message, pipelining, the AUTH throttle and the idle timeout.
 *
 * The server's files are linked in through imapd/build.mk
 * (test_pop3_session_EXTRA); its inside (pop3d.h) lets the test change a
 * setting between cases.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../imapd/pop3/pop3d.h"
#include "authcheck.h"
#include "authlimit.h"
#include "buf.h"
#include "daemon.h"
#include "evloop.h"
#include "log.h"
#include "net.h"
#include "store.h"
#include "store_deliver.h"
#include "store_mailbox.h"
#include "store_users.h"
#include "tap.h"

static struct pop3d *srv;
static const char *db_path;

static struct evloop *ev;
static struct store *st;
static struct ev_timer *guard;
static int timed_out;
static int listen_port;
static int64_t alice_id, inbox_id;
static uint32_t inbox_uv;

struct client {
	int fd;
	struct buf rx;
	int eof;
	int want; /* responses to wait for; -1: wait for EOF */
	int multi[16];
};

static struct client *cur;

/* Counts complete responses at the start of rx. */
static int responses_done(struct client *c)
{
	const char *p = c->rx.data, *end = c->rx.data + c->rx.len;
	int n = 0;

	while (p < end && n < c->want) {
		const char *nl = memmem(p, (size_t)(end - p), "\r\n", 2);
		if (!nl)
			break;
		if (c->multi[n] && p[0] == '+') {
			/* "\r\n.\r\n" can only be the terminator: body dots are
			 * stuffed */
			const char *t = memmem(nl, (size_t)(end - nl), "\r\n.\r\n", 5);
			if (!t)
				break;
			p = t + 5;
		} else {
			p = nl + 2;
		}
		n++;
	}
	return n;
}

static void on_client(struct evloop *e, int fd, int events, void *arg)
{
	struct client *c = arg;
	char b[65536];
	(void)events;

	for (;;) {
		ssize_t n = read(fd, b, sizeof(b));
		if (n > 0) {
			buf_append(&c->rx, b, (size_t)n);
			continue;
		}
		if (n == 0)
			c->eof = 1;
		break;
	}
	if (c->eof || (c->want >= 0 && responses_done(c) >= c->want)) {
		ev_io_del(e, fd);
		ev_stop(e);
	}
}

static void on_guard(struct evloop *e, struct ev_timer *t, void *arg)
{
	(void)t;
	(void)arg;
	timed_out = 1;
	ev_stop(e);
}

static void run_loop(struct client *c, int want, uint64_t ms)
{
	c->want = want;
	timed_out = 0;
	if (c->eof || (want >= 0 && responses_done(c) >= want))
		return;
	ev_io_add(ev, c->fd, EV_READ, on_client, c);
	ev_timer_arm(guard, ms);
	ev_run(ev);
	ev_timer_disarm(guard);
	ev_io_del(ev, c->fd);
}

static struct client *client_new(void)
{
	struct client *c = calloc(1, sizeof(*c));
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons((uint16_t)listen_port)};

	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	buf_init(&c->rx, 64 << 20);
	c->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (connect(c->fd, (struct sockaddr *)&sin, sizeof(sin)) < 0)
		bug("connect: %s", strerror(errno));
	fcntl(c->fd, F_SETFL, O_NONBLOCK);
	cur = c;
	return c;
}

static void client_free(struct client *c)
{
	close(c->fd);
	buf_free(&c->rx);
	free(c);
}

/* A fresh throttle, so one test's failures do not slow the next (sessions
 * take the server's throttle when they start). */
static void reset_authlimit(void)
{
	struct authlimit_conf ac;
	authlimit_conf_default(&ac);
	authlimit_free(srv->al);
	srv->al = authlimit_new(&ac);
}

/* Sends n bytes (may be 0 to only read) and waits for one response.
 * Returns it as a malloc'd string. */
static char *xchg_n(struct client *c, const char *data, size_t n, int multi)
{
	size_t off = 0;
	while (off < n) {
		ssize_t w = write(c->fd, data + off, n - off);
		if (w < 0 && errno == EAGAIN) {
			run_loop(c, 1000, 10); /* let the server drain */
			continue;
		}
		if (w <= 0)
			bug("client write: %s", strerror(errno));
		off += (size_t)w;
	}
	memset(c->multi, 0, sizeof(c->multi));
	c->multi[0] = multi;
	run_loop(c, 1, 10000);
	const char *p = c->rx.data, *end = p + c->rx.len;
	const char *nl = memmem(p, c->rx.len, "\r\n", 2);
	size_t take = c->rx.len;
	if (nl && !(multi && p[0] == '+'))
		take = (size_t)(nl + 2 - p);
	else if (nl) {
		const char *t = memmem(nl, (size_t)(end - nl), "\r\n.\r\n", 5);
		if (t)
			take = (size_t)(t + 5 - p);
	}
	char *r = strndup(p, take);
	buf_consume(&c->rx, take);
	return r;
}

static char *xchg(struct client *c, const char *line, int multi)
{
	char tmp[1024];
	if (!line)
		return xchg_n(c, "", 0, multi);
	int n = snprintf(tmp, sizeof(tmp), "%s\r\n", line);
	return xchg_n(c, tmp, (size_t)n, multi);
}

/* is_str for a local array (tap.h's NULL check would warn on it). */
static void is_text(const char *got, const char *want, const char *what)
{
	if (!ok(got && strcmp(got, want) == 0, what))
		printf("# got \"%s\"\n# want \"%s\"\n", got ? got : "(null)", want);
}

static int starts(const char *s, const char *prefix)
{
	return s && strncmp(s, prefix, strlen(prefix)) == 0;
}

/* One command, the reply must start with prefix. */
static void expect(struct client *c, const char *line, const char *prefix, const char *what)
{
	char *r = xchg(c, line, 0);
	if (!ok(starts(r, prefix), what))
		printf("# sent %s, got \"%s\"\n", line ? line : "(nothing)", r ? r : "(null)");
	free(r);
}

static int wait_eof(struct client *c)
{
	run_loop(c, -1, 5000);
	return c->eof;
}

static struct client *login(const char *user, const char *pass)
{
	struct client *c = client_new();
	char line[300];

	expect(c, NULL, "+OK", "greeting");
	snprintf(line, sizeof(line), "USER %s", user);
	expect(c, line, "+OK", "USER");
	snprintf(line, sizeof(line), "PASS %s", pass);
	expect(c, line, "+OK maildrop has", "PASS logs in");
	return c;
}

static const char *msgs[] = {
    "From: a@example.net\r\nSubject: one\r\n\r\nfirst body\r\n",
    "From: b@example.net\nSubject: two\n\n.leading dot\nsecond\n.\nlast line no newline",
    "From: c@example.net\r\nSubject: three\r\n\r\nl1\r\nl2\r\nl3\r\n",
};

static void deliver(const char *m)
{
	if (store_deliver(st, m, strlen(m), "x@example.net", &alice_id, 1, NULL, 0, NULL) < 0)
		bug("deliver: %s", store_errmsg(st));
}

struct seen {
	uint32_t uids[16];
	unsigned flags[16];
	int n;
};

static int collect(void *arg, const struct store_entry *e)
{
	struct seen *s = arg;
	if (s->n < 16) {
		s->uids[s->n] = e->uid;
		s->flags[s->n] = e->flags;
		s->n++;
	}
	return 0;
}

static void test_basic(void)
{
	struct client *c = client_new();
	char *r;

	expect(c, NULL, "+OK Loft POP3", "greeting");
	r = xchg(c, "CAPA", 1);
	ok(starts(r, "+OK") && strstr(r, "\r\nUSER\r\n") && strstr(r, "\r\nSASL PLAIN\r\n") &&
	       strstr(r, "\r\nUIDL\r\n") && strstr(r, "\r\nTOP\r\n") &&
	       strstr(r, "\r\nRESP-CODES\r\n") && strstr(r, "\r\nPIPELINING\r\n") &&
	       strstr(r, "\r\nAUTH-RESP-CODE\r\n") && strstr(r, "IMPLEMENTATION") &&
	       !strstr(r, "STLS"),
	   "CAPA lists the capabilities (no STLS without TLS context)");
	free(r);
	expect(c, "STAT", "-ERR", "STAT before login is refused");
	expect(c, "RETR 1", "-ERR", "RETR before login is refused");
	expect(c, "PASS x", "-ERR", "PASS before USER is refused");
	expect(c, "USER alice@example.org", "+OK", "USER");
	expect(c, "PASS wrong", "-ERR [AUTH]", "wrong password: [AUTH]");
	expect(c, "USER ALICE@Example.org", "+OK", "USER again");
	expect(c, "PASS secret pw", "+OK maildrop has 3 messages", "login, address case ignored");
	expect(c, "USER x", "-ERR", "USER after login is refused");
	expect(c, "STLS", "-ERR", "STLS after login is refused");

	/* sizes are octets as RETR sends them (CRLF line ends): message 2
	 * is stored with bare LFs and no last newline (RFC 1939 5) */
	size_t sz[3];
	for (int i = 0; i < 3; i++)
		sz[i] = (size_t)pop3_wire_size(msgs[i], strlen(msgs[i]));
	ok(sz[0] == strlen(msgs[0]) && sz[1] == 84 && sz[1] != strlen(msgs[1]),
	   "wire sizes of the test messages");
	size_t total = sz[0] + sz[1] + sz[2];
	char want[256];
	snprintf(want, sizeof(want), "+OK 3 %zu\r\n", total);
	r = xchg(c, "STAT", 0);
	is_text(r, want, "STAT counts and sizes");
	free(r);

	r = xchg(c, "LIST", 1);
	snprintf(want, sizeof(want),
		 "+OK 3 messages (%zu octets)\r\n1 %zu\r\n2 %zu\r\n3 %zu\r\n.\r\n", total, sz[0],
		 sz[1], sz[2]);
	is_text(r, want, "LIST");
	free(r);
	snprintf(want, sizeof(want), "+OK 2 %zu\r\n", sz[1]);
	r = xchg(c, "LIST 2", 0);
	is_text(r, want, "LIST 2: the bare-LF message's size with CRLF, as RETR counts it");
	free(r);
	expect(c, "LIST 4", "-ERR", "LIST of a missing message");
	expect(c, "LIST 0", "-ERR", "LIST 0");
	expect(c, "LIST -1", "-ERR", "LIST -1");
	expect(c, "LIST 99999999999999999999999", "-ERR", "LIST with a huge number");

	r = xchg(c, "UIDL", 1);
	snprintf(want, sizeof(want),
		 "+OK unique-id listing follows\r\n1 %u.1\r\n2 %u.2\r\n3 %u.3\r\n.\r\n", inbox_uv,
		 inbox_uv, inbox_uv);
	is_text(r, want, "UIDL is uidvalidity.uid");
	free(r);
	snprintf(want, sizeof(want), "+OK 3 %u.3\r\n", inbox_uv);
	r = xchg(c, "UIDL 3", 0);
	is_text(r, want, "UIDL 3");
	free(r);

	r = xchg(c, "RETR 2", 1);
	is_str(r,
	       "+OK 84 octets\r\nFrom: b@example.net\r\nSubject: two\r\n\r\n..leading dot\r\n"
	       "second\r\n..\r\nlast line no newline\r\n.\r\n",
	       "RETR: CRLF, dot-stuffing, size with CRLF");
	free(r);
	r = xchg(c, "TOP 3 1", 1);
	is_str(r,
	       "+OK top of message follows\r\nFrom: c@example.net\r\nSubject: "
	       "three\r\n\r\nl1\r\n.\r\n",
	       "TOP 3 1");
	free(r);
	r = xchg(c, "TOP 1 0", 1);
	is_str(r, "+OK top of message follows\r\nFrom: a@example.net\r\nSubject: one\r\n\r\n.\r\n",
	       "TOP 1 0");
	free(r);
	expect(c, "TOP 1 x", "-ERR", "TOP with a bad line count");
	expect(c, "TOP 1 -1", "-ERR", "TOP with a negative line count");

	expect(c, "DELE 1", "+OK", "DELE 1");
	expect(c, "DELE 1", "-ERR", "DELE 1 twice");
	expect(c, "RETR 1", "-ERR", "RETR of a deleted message");
	expect(c, "LIST 1", "-ERR", "LIST of a deleted message");
	r = xchg(c, "LIST", 1);
	ok(starts(r, "+OK 2 messages") && !strstr(r, "\r\n1 "), "LIST hides deleted messages");
	free(r);
	r = xchg(c, "UIDL", 1);
	ok(starts(r, "+OK") && !strstr(r, "\r\n1 ") && strstr(r, "\r\n2 "),
	   "UIDL hides deleted messages");
	free(r);
	expect(c, "RSET", "+OK maildrop has 3 messages", "RSET undeletes");
	expect(c, "DELE 1", "+OK", "DELE 1 again");
	expect(c, "DELE 3", "+OK", "DELE 3");
	expect(c, "NOOP", "+OK", "NOOP");
	expect(c, "STAT", "+OK 1 ", "STAT after DELE");

	/* a message delivered now is not part of this maildrop */
	deliver("Subject: late\r\n\r\nlate\r\n");
	expect(c, "LIST 4", "-ERR", "later mail not in the snapshot");

	/* the maildrop is locked for other POP3 sessions */
	struct client *c2 = client_new();
	expect(c2, NULL, "+OK", "second session greeting");
	expect(c2, "USER alice@example.org", "+OK", "second USER");
	expect(c2, "PASS secret pw", "-ERR [IN-USE]", "second session gets [IN-USE]");
	expect(c2, "QUIT", "+OK", "second session QUIT");
	ok(wait_eof(c2), "second session closed");
	client_free(c2);

	expect(c, "QUIT", "+OK", "QUIT");
	ok(wait_eof(c), "closed after QUIT");
	client_free(c);

	struct seen s = {0};
	store_entries(st, inbox_id, 1, 0, collect, &s);
	ok(s.n == 2 && s.uids[0] == 2 && s.uids[1] == 4, "QUIT expunged DELE'd messages");
	ok(s.n == 2 && (s.flags[0] & STORE_F_SEEN) && !(s.flags[1] & STORE_F_SEEN),
	   "RETR'd message got \\Seen");

	/* the next session sees the new state and the lock is free */
	c = login("alice@example.org", "secret pw");
	r = xchg(c, "UIDL", 1);
	snprintf(want, sizeof(want), "+OK unique-id listing follows\r\n1 %u.2\r\n2 %u.4\r\n.\r\n",
		 inbox_uv, inbox_uv);
	is_text(r, want, "UIDL stable across sessions");
	free(r);
	/* a dropped connection does not delete */
	expect(c, "DELE 1", "+OK", "DELE then drop");
	client_free(c);
	c = login("alice@example.org", "secret pw");
	expect(c, "STAT", "+OK 2 ", "no UPDATE without QUIT; lock released on close");
	expect(c, "QUIT", "+OK", "QUIT");
	wait_eof(c);
	client_free(c);
}

static void test_sasl(void)
{
	struct client *c = client_new();
	char *r;

	expect(c, NULL, "+OK", "greeting");
	r = xchg(c, "AUTH", 1);
	is_str(r, "+OK\r\nPLAIN\r\n.\r\n", "AUTH lists mechanisms");
	free(r);
	expect(c, "AUTH CRAM-MD5", "-ERR", "unknown mechanism");
	expect(c, "AUTH PLAIN", "+ ", "AUTH PLAIN continuation");
	expect(c, "*", "-ERR", "cancelled with *");
	expect(c, "AUTH PLAIN", "+ ", "AUTH PLAIN continuation again");
	expect(c, "not base64!", "-ERR", "bad base64");
	/* "\0alice@example.org\0wrong" */
	expect(c, "AUTH PLAIN AGFsaWNlQGV4YW1wbGUub3JnAHdyb25n", "-ERR [AUTH]",
	       "AUTH PLAIN wrong password");
	expect(c, "AUTH PLAIN", "+ ", "AUTH PLAIN continuation for the good one");
	/* "\0alice@example.org\0secret pw" */
	expect(c, "AGFsaWNlQGV4YW1wbGUub3JnAHNlY3JldCBwdw==", "+OK maildrop",
	       "AUTH PLAIN with continuation logs in");
	expect(c, "QUIT", "+OK", "QUIT");
	wait_eof(c);
	client_free(c);

	c = client_new();
	expect(c, NULL, "+OK", "greeting");
	expect(c, "AUTH PLAIN YWxpY2VAZXhhbXBsZS5vcmcAYWxpY2VAZXhhbXBsZS5vcmcAc2VjcmV0IHB3",
	       "+OK maildrop", "AUTH PLAIN initial response with authzid = authcid");
	expect(c, "QUIT", "+OK", "QUIT");
	wait_eof(c);
	client_free(c);
}

static void test_bad_input(void)
{
	struct client *c = client_new();
	char big[600];

	expect(c, NULL, "+OK", "greeting");
	memset(big, 'A', sizeof(big));
	memcpy(big + sizeof(big) - 2, "\r\n", 2);
	char *r = xchg_n(c, big, sizeof(big), 0);
	ok(starts(r, "-ERR line too long"), "long line refused");
	free(r);
	r = xchg_n(c, "NO\0OP\r\n", 7, 0);
	ok(starts(r, "-ERR"), "NUL refused");
	free(r);
	r = xchg_n(c, "\xff\xfe\r\n", 4, 0);
	ok(starts(r, "-ERR"), "8-bit garbage refused");
	free(r);
	expect(c, "", "-ERR", "empty line refused");
	expect(c, "HELO there", "-ERR unknown", "unknown command");
	r = xchg_n(c, "CAPA\n", 5, 1);
	ok(starts(r, "+OK"), "bare LF accepted as line end");
	free(r);
	/* 255 octets with CRLF is the limit: a 253-char line is fine */
	memset(big, 'A', sizeof(big));
	memcpy(big, "USER ", 5);
	memcpy(big + 253, "\r\n", 2);
	r = xchg_n(c, big, 255, 0);
	ok(starts(r, "+OK"), "a 255-octet command line is taken");
	free(r);
	/* bad commands 6..10: the session is closed */
	expect(c, "X1", "-ERR", "bad 6");
	expect(c, "X2", "-ERR", "bad 7");
	expect(c, "X3", "-ERR", "bad 8");
	expect(c, "X4", "-ERR", "bad 9");
	r = xchg(c, "X5", 0);
	ok(starts(r, "-ERR") && strstr(r, "too many bad commands"), "bad 10 closes");
	free(r);
	ok(wait_eof(c), "closed after too many bad commands");
	client_free(c);

	/* three failed logins close the session */
	c = client_new();
	expect(c, NULL, "+OK", "greeting");
	expect(c, "AUTH PLAIN AG5vYm9keUBleGFtcGxlLm9yZwB4", "-ERR [AUTH]", "fail 1");
	expect(c, "AUTH PLAIN AG5vYm9keUBleGFtcGxlLm9yZwB4", "-ERR [AUTH]", "fail 2");
	expect(c, "AUTH PLAIN AG5vYm9keUBleGFtcGxlLm9yZwB4", "-ERR [AUTH]", "fail 3");
	ok(wait_eof(c), "closed after three failed logins");
	client_free(c);
	reset_authlimit();
}

static void test_pipelining_and_big(void)
{
	struct client *c = login("alice@example.org", "secret pw");
	const char *pipe = "STAT\r\nLIST\r\nUIDL 1\r\nNOOP\r\nRETR 1\r\nBOGUS\r\nNOOP\r\n";

	if (write(c->fd, pipe, strlen(pipe)) < 0)
		bug("write");
	memset(c->multi, 0, sizeof(c->multi));
	c->multi[1] = 1;
	c->multi[4] = 1;
	run_loop(c, 7, 10000);
	is_int(responses_done(c), 7, "7 pipelined commands, 7 responses");
	ok(starts(c->rx.data, "+OK 2 ") && strstr(c->rx.data, "-ERR unknown command\r\n+OK\r\n"),
	   "pipelined responses in order");
	buf_reset(&c->rx);
	expect(c, "QUIT", "+OK", "QUIT");
	wait_eof(c);
	client_free(c);

	/* a 3 MB message with long lines and dots, through back-pressure */
	struct buf m;
	buf_init(&m, 8 << 20);
	buf_puts(&m, "Subject: big\n\n");
	for (int i = 0; i < 3000; i++) {
		char line[1100];
		memset(line, 'a' + i % 26, sizeof(line));
		line[0] = i % 3 ? 'x' : '.';
		line[sizeof(line) - 1] = '\n';
		buf_append(&m, line, sizeof(line));
	}
	if (store_deliver(st, m.data, m.len, "", &alice_id, 1, NULL, 0, NULL) < 0)
		bug("deliver");
	c = login("alice@example.org", "secret pw");
	{
		char lw[64];
		snprintf(lw, sizeof(lw), "+OK 3 %llu\r\n",
			 (unsigned long long)pop3_wire_size(m.data, m.len));
		char *lr = xchg(c, "LIST 3", 0);
		is_text(lr, lw, "big bare-LF message: LIST gives RETR's CRLF size");
		free(lr);
	}
	/* read nothing for a while so the server hits its output bound */
	if (write(c->fd, "RETR 3\r\nNOOP\r\n", 14) < 0)
		bug("write");
	memset(c->multi, 0, sizeof(c->multi));
	c->multi[0] = 1;
	run_loop(c, 2, 20000);
	uint64_t wire = pop3_wire_size(m.data, m.len);
	char head[64];
	snprintf(head, sizeof(head), "+OK %llu octets\r\n", (unsigned long long)wire);
	size_t expect_len = strlen(head) + wire + 1000 /* stuffed dots */ + 3 + 5;
	ok(!timed_out && starts(c->rx.data, head), "big RETR announced with its CRLF size");
	is_int(c->rx.len, expect_len, "big RETR: every byte, then NOOP's reply");
	ok(c->rx.len >= 5 && memcmp(c->rx.data + c->rx.len - 10, "\r\n.\r\n+OK\r\n", 10) == 0,
	   "terminator then NOOP's reply");
	buf_free(&m);
	expect(c, "QUIT", "+OK", "QUIT");
	wait_eof(c);
	client_free(c);
}

/* The body of a single-line-status multi-line response r ("+OK ...\r\n"
 * data ".\r\n"), un-stuffed; its length is what the octet counts
 * describe. */
static char *body_of(const char *r, size_t *len)
{
	const char *p = strstr(r, "\r\n");
	struct buf b;

	buf_init(&b, 1 << 20);
	if (!p)
		return NULL;
	p += 2;
	size_t n = strlen(p);
	if (n < 3)
		return NULL;
	n -= 3; /* ".\r\n" */
	int bol = 1;
	for (size_t i = 0; i < n; i++) {
		if (bol && p[i] == '.')
			i++;
		if (i < n)
			buf_putc(&b, p[i]);
		bol = p[i] == '\n';
	}
	*len = b.len;
	buf_putc(&b, '\0');
	return buf_steal(&b, NULL);
}

static int has_8bit(const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)p[i] >= 0x80)
			return 1;
	return 0;
}

/* Sends line + CRLF one byte at a time, letting the server run between
 * bytes, then waits for one response. */
static char *xchg_bytes(struct client *c, const char *line, int multi)
{
	char tmp[300];
	int n = snprintf(tmp, sizeof(tmp), "%s\r\n", line);
	for (int i = 0; i < n - 1; i++) {
		if (write(c->fd, tmp + i, 1) != 1)
			bug("client write");
		run_loop(c, 1000, 2);
	}
	return xchg_n(c, tmp + n - 1, 1, multi);
}

/* Makes the newest n messages look stored before MIME_F_HEADER_CHECKED
 * existed (mime_flags 0), as an old mailstore has them. */
static void make_legacy(int n)
{
	sqlite3 *db;
	char sql[200];

	snprintf(sql, sizeof(sql),
		 "UPDATE messages SET mime_flags = 0 WHERE id IN "
		 "(SELECT id FROM messages ORDER BY id DESC LIMIT %d)",
		 n);
	if (sqlite3_open(db_path, &db) != SQLITE_OK ||
	    sqlite3_exec(db, sql, NULL, NULL, NULL) != SQLITE_OK)
		bug("legacy rows: %s", sqlite3_errmsg(db));
	sqlite3_close(db);
}

/* RFC 6856: UTF8 in CAPA and as a command before login; a session without
 * it gets UTF-8 headers downgraded (RFC 6857) with STAT, LIST and RETR
 * sizes of what is sent; a session with it gets messages as stored. */
static void test_utf8(void)
{
	static const char intl[] = "From: J\xc3\xb6rg <j@example.net>\r\n"
				   "Subject: Gr\xc3\xbc\xc3\x9f"
				   "e aus M\xc3\xbcnchen\r\n"
				   "To: =?UTF-8?Q?J=C3=B6rg?= <alice@example.org>\r\n\r\n"
				   "Hallo \xc3\xa4\r\n";
	static const char legacy[] = "From: =?UTF-8?B?w6Q=?= <x@example.net>\r\n"
				     "Subject: caf\xc3\xa9\r\n\r\nold row\r\n";
	static const char body8[] = "From: plain@example.net\r\nSubject: ascii\r\n\r\n"
				    "8-bit body \xc3\xa9\r\n";
	static const char legacy_body8[] = "Subject: old ascii\r\n\r\nold 8-bit body \xc3\xa9\r\n";

	deliver(intl);	       /* 4 */
	deliver(legacy);       /* 5 */
	deliver(legacy_body8); /* 6 */
	make_legacy(2);
	deliver(body8); /* 7 */

	/* without UTF8 */
	struct client *c = login("alice@example.org", "secret pw");
	char *r = xchg(c, "CAPA", 1);
	ok(starts(r, "+OK") && strstr(r, "\r\nUTF8\r\n"), "CAPA lists UTF8");
	free(r);
	expect(c, "UTF8", "-ERR", "UTF8 after login is refused (AUTHORIZATION only)");
	uint64_t list_sum = 0;
	for (int i = 1; i <= 7; i++) {
		char cmd[32];
		unsigned long long n = 0;
		snprintf(cmd, sizeof(cmd), "LIST %d", i);
		r = xchg(c, cmd, 0);
		int num = 0;
		if (sscanf(r, "+OK %d %llu", &num, &n) != 2 || num != i)
			n = 0;
		free(r);
		list_sum += n;
		if (i < 4)
			continue;
		snprintf(cmd, sizeof(cmd), "RETR %d", i);
		r = xchg(c, cmd, 1);
		unsigned long long announced = 0;
		size_t blen = 0;
		char *b = body_of(r, &blen);
		sscanf(r, "+OK %llu octets", &announced);
		if (!ok(b && n == announced && n == blen,
			"LIST, RETR's octets and RETR's bytes agree"))
			printf("# message %d: LIST %llu, RETR says %llu, sent %zu\n", i, n,
			       announced, blen);
		if (i == 4) {
			const char *eoh = b ? strstr(b, "\r\n\r\n") : NULL;
			ok(eoh && !has_8bit(b, (size_t)(eoh - b)) &&
			       strstr(b, "Subject: =?UTF-8?") && strstr(b, "From: =?UTF-8?") &&
			       strstr(b, "<j@example.net>") &&
			       strstr(b, "\r\n\r\nHallo \xc3\xa4\r\n") && n != strlen(intl),
			   "UTF-8 header downgraded, body as stored");
		} else if (i == 5) {
			ok(b && !has_8bit(b, blen) && strstr(b, "Subject: =?UTF-8?") &&
			       strstr(b, "\r\n\r\nold row\r\n"),
			   "an old row (no header flag) is looked at and downgraded");
		} else if (i == 6) {
			is_text(b, legacy_body8,
				"an old row with an 8-bit body only goes out as stored");
		} else {
			is_text(b, body8, "an 8-bit body under an ASCII header goes out as stored");
		}
		free(b);
		free(r);
	}
	r = xchg(c, "STAT", 0);
	unsigned long long cnt = 0, oct = 0;
	ok(sscanf(r, "+OK %llu %llu", &cnt, &oct) == 2 && cnt == 7 && oct == list_sum,
	   "STAT octets are the sum of LIST's");
	free(r);
	r = xchg(c, "TOP 4 0", 1);
	ok(starts(r, "+OK") && !has_8bit(r, strlen(r)) && strstr(r, "Subject: =?UTF-8?") &&
	       !strstr(r, "Hallo"),
	   "TOP sends the downgraded header");
	free(r);
	expect(c, "QUIT", "+OK", "QUIT");
	wait_eof(c);
	client_free(c);

	/* with UTF8, whole and byte by byte */
	for (int bytewise = 0; bytewise < 2; bytewise++) {
		c = client_new();
		expect(c, NULL, "+OK", "greeting");
		r = bytewise ? xchg_bytes(c, "utf8", 0) : xchg(c, "UTF8", 0);
		ok(starts(r, "+OK"), bytewise ? "utf8 byte by byte" : "UTF8 before login");
		free(r);
		expect(c, "USER alice@example.org", "+OK", "USER");
		expect(c, "PASS secret pw", "+OK maildrop has 7", "PASS");
		char want[64];
		snprintf(want, sizeof(want), "+OK 4 %zu\r\n", strlen(intl));
		r = bytewise ? xchg_bytes(c, "LIST 4", 0) : xchg(c, "LIST 4", 0);
		is_text(r, want, "UTF8 session: LIST gives the stored size");
		free(r);
		r = bytewise ? xchg_bytes(c, "RETR 4", 1) : xchg(c, "RETR 4", 1);
		size_t blen = 0;
		char *b = body_of(r, &blen);
		is_text(b, intl, "UTF8 session: RETR sends the message as stored");
		snprintf(want, sizeof(want), "+OK %zu octets\r\n", strlen(intl));
		ok(starts(r, want), "UTF8 session: RETR's octets");
		free(b);
		free(r);
		r = xchg(c, "RETR 5", 1);
		b = body_of(r, &blen);
		is_text(b, legacy, "UTF8 session: an old row as stored");
		free(b);
		free(r);
		expect(c, "RSET", "+OK", "RSET");
		expect(c, "QUIT", "+OK", "QUIT");
		wait_eof(c);
		client_free(c);
	}
	c = client_new();
	expect(c, NULL, "+OK", "greeting");
	expect(c, "UTF8 x", "-ERR", "UTF8 takes no argument");
	expect(c, "QUIT", "+OK", "QUIT");
	wait_eof(c);
	client_free(c);
}

static void test_policy(void)
{
	/* plaintext logins off (the default): only STLS may be offered */
	srv->conf.plaintext_auth = 0;
	struct client *c = client_new();
	expect(c, NULL, "+OK", "greeting");
	char *r = xchg(c, "CAPA", 1);
	ok(starts(r, "+OK") && !strstr(r, "USER") && !strstr(r, "SASL"),
	   "CAPA hides USER and SASL without TLS");
	free(r);
	expect(c, "USER alice@example.org", "-ERR [AUTH]", "USER refused without TLS");
	expect(c, "AUTH PLAIN", "-ERR [AUTH]", "AUTH refused without TLS");
	expect(c, "QUIT", "+OK", "QUIT");
	wait_eof(c);
	client_free(c);
	srv->conf.plaintext_auth = 1;

	/* the throttle: after the free failures, a delay; past the limit,
	 * [SYS/TEMP] even for the right password */
	struct authlimit_conf ac;
	authlimit_conf_default(&ac);
	ac.free_failures = 1;
	ac.max_failures = 3;
	ac.max_delay_ms = 300;
	struct authlimit *al = authlimit_new(&ac), *saved = srv->al;
	srv->al = al;
	for (int i = 0; i < 3; i++) {
		c = client_new();
		expect(c, NULL, "+OK", "greeting");
		uint64_t t0 = ev_clock_ms();
		expect(c, "AUTH PLAIN AGJvYkBleGFtcGxlLm9yZwB4", "-ERR [AUTH]",
		       "throttled failure");
		if (i == 2)
			ok(ev_clock_ms() - t0 >= 100, "a delay after the free failures");
		client_free(c);
	}
	c = client_new();
	expect(c, NULL, "+OK", "greeting");
	expect(c, "AUTH PLAIN AGJvYkBleGFtcGxlLm9yZwB4", "-ERR [SYS/TEMP]",
	       "refused past the limit");
	ok(wait_eof(c), "refused session closed");
	client_free(c);
	srv->al = saved;
	reset_authlimit();
	authlimit_free(al);

	/* idle timeout */
	srv->conf.dl.idle_ms = 200;
	c = client_new();
	expect(c, NULL, "+OK", "greeting");
	run_loop(c, 1, 3000);
	ok(starts(c->rx.data, "-ERR autologout"), "idle session told why");
	ok(wait_eof(c), "idle session closed");
	client_free(c);
	srv->conf.dl.idle_ms = 600000;

	/* stop: no new sessions, the live ones go on */
	c = login("alice@example.org", "secret pw");
	pop3d_stop(srv);
	expect(c, "STAT", "+OK", "session goes on after stop");
	is_int(pop3d_sessions(srv), 1, "one live session");
	expect(c, "QUIT", "+OK", "QUIT");
	wait_eof(c);
	client_free(c);
	/* let the server run its close */
	for (int i = 0; i < 20 && pop3d_sessions(srv) > 0; i++) {
		ev_timer_arm(guard, 10);
		ev_run(ev);
	}
	is_int(pop3d_sessions(srv), 0, "no sessions left");
}

int main(void)
{
	char dir[] = "/tmp/test_pop3_XXXXXX", path[256], err[256];

	if (!mkdtemp(dir))
		bug("mkdtemp");
	snprintf(path, sizeof(path), "%s/loft.conf", dir);
	FILE *f = fopen(path, "w");
	fprintf(f, "pop3.plaintext_auth = yes\nlog_level = warn\n");
	fclose(f);
	char *argv[] = {"test_pop3_session", "-d", dir, NULL};
	unsetenv("LOFT_LISTEN");
	unsetenv("LOFT_CONTROL");
	struct daemon *d = daemon_init(3, argv, "test_pop3_session");
	ev = daemon_loop(d);
	guard = ev_timer_new(ev, on_guard, NULL);
	db_path = daemon_db_path(d);
	if (store_open(daemon_db_path(d), &st, err, sizeof(err)) < 0)
		bug("store_open: %s", err);
	if (store_domain_add(st, "example.org") < 0 ||
	    store_user_add(st, "alice@example.org", "secret pw", &alice_id) < 0)
		bug("setup: %s", store_errmsg(st));
	for (size_t i = 0; i < 3; i++)
		deliver(msgs[i]);
	struct store_mailbox mb;
	if (store_mailbox_get(st, alice_id, "INBOX", &mb) < 0)
		bug("mailbox");
	inbox_id = mb.id;
	inbox_uv = mb.uidvalidity;

	int lfd = net_listen("127.0.0.1:0", 16, err, sizeof(err));
	struct sockaddr_in sin;
	socklen_t sl = sizeof(sin);
	getsockname(lfd, (struct sockaddr *)&sin, &sl);
	listen_port = ntohs(sin.sin_port);
	struct pop3d_conf pc;
	struct authlimit_conf alc;
	is_int(pop3d_conf_load(daemon_config(d), &pc), 0, "pop3.* settings read");
	ok(pc.plaintext_auth == 1 && pc.dl.idle_ms == 600000 && pc.dl.idle_authed_ms == 600000 &&
	       pc.dl.login_ms == 120000 && pc.dl.handshake_ms == 60000 && pc.max_sessions == 200 &&
	       pc.max_per_ip == 20,
	   "settings: loft.conf and the defaults");
	authlimit_conf_default(&alc);
	struct authcheck *ac = authcheck_new(ev, daemon_db_path(d), 0, err, sizeof(err));
	if (!ac)
		bug("authcheck_new: %s", err);
	srv = pop3d_new(ev, st, NULL, authlimit_new(&alc), ac, &pc);
	is_int(pop3d_listen(srv, lfd, 0), 0, "pop3d_listen");
	is_int(pop3d_listen(srv, dup(lfd), 1), -1, "implicit TLS without a context refused");

	test_basic();
	test_sasl();
	test_bad_input();
	test_pipelining_and_big();
	test_utf8();
	test_policy();

	struct authlimit *al = srv->al;
	pop3d_free(srv); /* closes lfd */
	authlimit_free(al);
	authcheck_free(ac);
	ev_timer_free(guard);
	store_close(st);
	daemon_free(d);
	char cmd[300];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd) != 0)
		printf("# could not remove %s\n", dir);
	return tap_done();
}
