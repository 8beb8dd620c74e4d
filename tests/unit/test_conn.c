/*
 * lib/conn over a socketpair: lines fed one byte at a time, over-long
 * lines, pausing, peer close, idle timeout, large output with back-pressure,
 * implicit TLS and STARTTLS (with plaintext pipelined after STARTTLS thrown
 * away).  The client side runs in a forked child with blocking I/O.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "buf.h"
#include "conn.h"
#include "evloop.h"
#include "log.h"
#include "tls.h"
#include "tap.h"

struct owner {
	struct evloop *ev;
	struct conn *c;
	struct tls_ctx *tls;
	struct buf seen;
	char reason[64];
	int closed;
	size_t big_left;
	struct ev_timer *unpause;
};

static void on_unpause(struct evloop *ev, struct ev_timer *t, void *arg)
{
	struct owner *o = arg;

	(void)ev;
	(void)t;
	buf_puts(&o->seen, "<resume>");
	conn_pause(o->c, 0);
}

static void big_more(struct conn *c, void *arg)
{
	struct owner *o = arg;
	char chunk[65536];

	memset(chunk, 'z', sizeof(chunk));
	while (o->big_left > 0 && conn_outlen(c) < 256 * 1024) {
		size_t n = o->big_left < sizeof(chunk) ? o->big_left : sizeof(chunk);
		if (conn_write(c, chunk, n) < 0)
			break;
		o->big_left -= n;
	}
}

static void on_input(struct conn *c, void *arg)
{
	struct owner *o = arg;
	struct lr_line l;
	int r;

	while ((r = conn_line(c, &l)) != LR_NEED) {
		if (r == LR_TOOLONG) {
			buf_puts(&o->seen, "[TOOLONG]");
			conn_puts(c, "toolong\r\n");
			continue;
		}
		buf_putc(&o->seen, '[');
		buf_append(&o->seen, l.data, l.len);
		buf_putc(&o->seen, ']');
		if (l.len == 4 && memcmp(l.data, "QUIT", 4) == 0) {
			conn_puts(c, "bye\r\n");
			conn_close(c, 1, "quit");
			/* the owner may go on using its state until closed() */
			buf_puts(&o->seen, "<after-close>");
			return;
		} else if (l.len == 5 && memcmp(l.data, "PAUSE", 5) == 0) {
			conn_pause(c, 1);
			ev_timer_arm(o->unpause, 50);
			return;
		} else if (l.len == 3 && memcmp(l.data, "BIG", 3) == 0) {
			o->big_left = 8 * 1024 * 1024;
			big_more(c, o);
		} else if (l.len == 8 && memcmp(l.data, "STARTTLS", 8) == 0) {
			conn_puts(c, "go\r\n");
			conn_starttls(c, o->tls);
			return;
		} else {
			conn_printf(c, "echo %.*s%s\r\n", (int)l.len, l.data,
				    conn_is_tls(c) ? " tls" : "");
		}
	}
}

static void on_timeout(struct conn *c, void *arg)
{
	(void)arg;
	conn_puts(c, "421 idle\r\n");
	conn_close(c, 1, "idle");
}

static void on_closed(struct conn *c, void *arg, const char *reason)
{
	struct owner *o = arg;

	(void)c;
	snprintf(o->reason, sizeof(o->reason), "%s", reason);
	o->closed = 1;
	o->c = NULL;
	ev_stop(o->ev);
}

static const struct conn_cbs cbs = {
	.input = on_input, .closed = on_closed, .writable = big_more, .timeout = on_timeout};

/* Reads everything until EOF from fd. */
static void read_all(int fd, struct buf *out)
{
	char chunk[65536];
	ssize_t n;

	while ((n = read(fd, chunk, sizeof(chunk))) > 0)
		if (buf_append(out, chunk, (size_t)n) < 0)
			break;
}

/* Runs the server side on sv[0] until closed; client() runs in a child on
 * sv[1].  Returns the child's exit status. */
static int run_pair(struct owner *o, void (*client)(int fd, void *arg), void *carg,
		    int implicit_tls, uint64_t timeout_ms)
{
	int sv[2], st;
	pid_t pid;

	socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
	pid = fork();
	if (pid == 0) {
		close(sv[0]);
		client(sv[1], carg);
		_exit(0);
	}
	close(sv[1]);
	o->ev = ev_new();
	buf_init(&o->seen, 1 << 20);
	o->closed = 0;
	o->unpause = ev_timer_new(o->ev, on_unpause, o);
	o->c = conn_new(o->ev, sv[0], NULL, &cbs, o, 64, 1 << 20);
	if (implicit_tls)
		conn_tls_server(o->c, o->tls);
	if (timeout_ms)
		conn_set_timeout(o->c, timeout_ms);
	ev_run(o->ev);
	ev_timer_free(o->unpause);
	ev_free(o->ev);
	waitpid(pid, &st, 0);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 100 + WTERMSIG(st);
}

/* --- clients --- */

static void client_bytewise(int fd, void *arg)
{
	const char *script = arg;
	struct buf out;

	for (const char *p = script; *p; p++) {
		if (write(fd, p, 1) != 1)
			_exit(2);
		usleep(200);
	}
	buf_init(&out, 1 << 20);
	read_all(fd, &out);
	/* the parent checks what the server saw; we print what we got */
	fwrite(out.data, 1, out.len, stderr);
	_exit(0);
}

static void client_then_close(int fd, void *arg)
{
	const char *s = arg;

	if (write(fd, s, strlen(s)) < 0)
		_exit(2);
	shutdown(fd, SHUT_WR);
	char tmp[256];
	while (read(fd, tmp, sizeof(tmp)) > 0)
		;
	_exit(0);
}

static void client_idle(int fd, void *arg)
{
	struct buf out;

	(void)arg;
	buf_init(&out, 4096);
	read_all(fd, &out);
	_exit(strcmp(buf_cstr(&out), "421 idle\r\n") == 0 ? 0 : 3);
}

static void client_big(int fd, void *arg)
{
	size_t total = 0;
	char chunk[65536];
	ssize_t n;

	(void)arg;
	if (write(fd, "BIG\r\n", 5) != 5)
		_exit(2);
	/* read slowly at first so the server must wait for room */
	usleep(100000);
	while (total < 8 * 1024 * 1024 && (n = read(fd, chunk, sizeof(chunk))) > 0)
		total += (size_t)n;
	if (write(fd, "QUIT\r\n", 6) != 6)
		_exit(2);
	char tmp[64];
	while (read(fd, tmp, sizeof(tmp)) > 0)
		;
	_exit(total == 8 * 1024 * 1024 ? 0 : 4);
}

static struct tls_ctx *client_ctx;

/* Blocking TLS helpers for the child. */
static int tls_blocking_handshake(struct tls_conn *t)
{
	int r;
	while ((r = tls_handshake(t)) == 0)
		usleep(1000);
	return r;
}

static int tls_read_line(struct tls_conn *t, char *out, size_t outlen)
{
	size_t n = 0;
	while (n + 1 < outlen) {
		char ch;
		ssize_t r = tls_read(t, &ch, 1);
		if (r < 0 && errno == EAGAIN) {
			usleep(1000);
			continue;
		}
		if (r <= 0)
			return -1;
		out[n++] = ch;
		if (ch == '\n')
			break;
	}
	out[n] = '\0';
	return 0;
}

static int tls_write_all(struct tls_conn *t, const char *s)
{
	size_t len = strlen(s), off = 0;
	while (off < len) {
		ssize_t w = tls_write(t, s + off, len - off);
		if (w < 0 && errno == EAGAIN) {
			usleep(1000);
			continue;
		}
		if (w <= 0)
			return -1;
		off += (size_t)w;
	}
	return 0;
}

static void client_implicit_tls(int fd, void *arg)
{
	char line[256];
	struct tls_conn *t = tls_conn_new(client_ctx, fd, NULL);

	(void)arg;
	if (!t || tls_blocking_handshake(t) != 1)
		_exit(5);
	if (tls_write_all(t, "hello\r\nQUIT\r\n") < 0 || tls_read_line(t, line, sizeof(line)) < 0)
		_exit(6);
	_exit(strcmp(line, "echo hello tls\r\n") == 0 ? 0 : 7);
}

static void client_starttls(int fd, void *arg)
{
	char line[256];
	ssize_t n;
	size_t got = 0;

	(void)arg;
	/* plaintext pipelined behind STARTTLS must be dropped by the server */
	const char *s = "STARTTLS\r\nINJECTED\r\n";
	if (write(fd, s, strlen(s)) != (ssize_t)strlen(s))
		_exit(2);
	while (got < 4 && (n = read(fd, line + got, 4 - got)) > 0)
		got += (size_t)n;
	if (got != 4 || memcmp(line, "go\r\n", 4) != 0)
		_exit(8);
	struct tls_conn *t = tls_conn_new(client_ctx, fd, NULL);
	if (!t || tls_blocking_handshake(t) != 1)
		_exit(9);
	if (tls_write_all(t, "after\r\nQUIT\r\n") < 0 || tls_read_line(t, line, sizeof(line)) < 0)
		_exit(10);
	_exit(strcmp(line, "echo after tls\r\n") == 0 ? 0 : 11);
}

int main(void)
{
	struct owner o;
	char err[256], dir[] = "/tmp/loft-test-conn-XXXXXX", cert[300], key[300];
	int rc;

	log_init("test_conn", LOG_LVL_ERR);
	signal(SIGPIPE, SIG_IGN);
	memset(&o, 0, sizeof(o));

	rc = run_pair(&o, client_bytewise,
		      "one\r\ntwo\nPAUSE\r\nthree\r\n0123456789012345678901234567890123456789"
		      "0123456789012345678901234567890123456789\r\nfour\r\nQUIT\r\nlost\r\n",
		      0, 0);
	is_int(rc, 0, "bytewise: client ran");
	is_str(buf_cstr(&o.seen),
	       "[one][two][PAUSE]<resume>[three][TOOLONG][four][QUIT]<after-close>",
	       "bytewise: lines in order, pause held input, too-long reported once, "
	       "nothing read after QUIT");
	is_str(o.reason, "quit", "bytewise: closed() got the owner's reason");
	buf_free(&o.seen);

	rc = run_pair(&o, client_then_close, "last\r\nincomplete", 0, 0);
	is_str(buf_cstr(&o.seen), "[last]", "peer close: buffered line delivered first");
	is_str(o.reason, "peer closed", "peer close: reason");
	buf_free(&o.seen);

	rc = run_pair(&o, client_idle, NULL, 0, 150);
	is_int(rc, 0, "timeout: client got the owner's last reply");
	is_str(o.reason, "idle", "timeout: closed after the timeout callback");
	buf_free(&o.seen);

	rc = run_pair(&o, client_big, NULL, 0, 0);
	is_int(rc, 0, "big output: 8 MB arrived whole through writable() back-pressure");
	buf_free(&o.seen);

	snprintf(cert, sizeof(cert), "%s/cert.pem", mkdtemp(dir));
	snprintf(key, sizeof(key), "%s/key.pem", dir);
	ok(tls_selfsigned_ensure(cert, key, "test.example", err, sizeof(err)) == 0,
	   "tls: test certificate");
	o.tls = tls_server_new(cert, key, err, sizeof(err));
	client_ctx = tls_client_new(NULL, TLS_VERIFY_NONE, err, sizeof(err));
	ok(o.tls && client_ctx, "tls: contexts");

	rc = run_pair(&o, client_implicit_tls, NULL, 1, 0);
	is_int(rc, 0, "implicit tls: echo over TLS");
	is_str(buf_cstr(&o.seen), "[hello][QUIT]<after-close>", "implicit tls: server lines");
	buf_free(&o.seen);

	rc = run_pair(&o, client_starttls, NULL, 0, 0);
	is_int(rc, 0, "starttls: upgrade and echo over TLS");
	is_str(buf_cstr(&o.seen), "[STARTTLS][after][QUIT]<after-close>",
	       "starttls: plaintext pipelined after STARTTLS was never seen");
	buf_free(&o.seen);

	tls_ctx_free(o.tls);
	tls_ctx_free(client_ctx);
	unlink(cert);
	unlink(key);
	rmdir(dir);
	return tap_done();
}
