/*
 * lib/conn over a socketpair: lines fed one byte at a time, over-long
 * lines, pausing, peer close (also while paused), idle timeout, large output with back-pressure,
 * implicit TLS and STARTTLS (with plaintext pipelined after STARTTLS thrown
 * away), COMPRESS=DEFLATE (compressed input byte by byte and pipelined
 * behind the command, large incompressible output, a decompression bomb,
 * a corrupt stream, deflate under TLS).  The client side runs in a forked
 * child with blocking I/O.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

#include "buf.h"
#include "conn.h"
#include "evloop.h"
#include "log.h"
#include "tls.h"
#include "tap.h"

#define RBIG_SIZE (4u * 1024 * 1024)

static uint64_t hold_ms = 60000; /* how long HOLD pauses */

struct owner {
	struct evloop *ev;
	struct conn *c;
	struct tls_ctx *tls;
	struct buf seen;
	char reason[64];
	int closed;
	size_t big_left;
	size_t rand_left;
	uint32_t rand_state;
	struct ev_timer *unpause;
};

/* The pseudo-random bytes RBIG sends (incompressible, so deflate output
 * is as large as its input); the client recomputes them. */
static unsigned char rand_next(uint32_t *st)
{
	*st = *st * 1103515245u + 12345u;
	return (unsigned char)(*st >> 16);
}

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

	while (o->rand_left > 0 && conn_outlen(c) < 256 * 1024) {
		size_t n = o->rand_left < sizeof(chunk) ? o->rand_left : sizeof(chunk);
		for (size_t i = 0; i < n; i++)
			chunk[i] = (char)rand_next(&o->rand_state);
		if (conn_write(c, chunk, n) < 0)
			break;
		o->rand_left -= n;
	}

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
		} else if (l.len == 4 && memcmp(l.data, "HOLD", 4) == 0) {
			/* paused for a long wait (a password check): only the
			 * peer's hang-up can end it sooner */
			conn_puts(c, "held\r\n");
			conn_pause(c, 1);
			ev_timer_arm(o->unpause, hold_ms);
			return;
		} else if (l.len == 3 && memcmp(l.data, "BIG", 3) == 0) {
			o->big_left = 8 * 1024 * 1024;
			big_more(c, o);
		} else if (l.len == 4 && memcmp(l.data, "RBIG", 4) == 0) {
			o->rand_left = RBIG_SIZE;
			o->rand_state = 1;
			big_more(c, o);
		} else if (l.len == 8 && memcmp(l.data, "COMPRESS", 8) == 0) {
			conn_puts(c, "deflate on\r\n");
			if (conn_set_deflate(c, Z_DEFAULT_COMPRESSION) < 0)
				buf_puts(&o->seen, "<deflate-failed>");
			if (conn_set_deflate(c, Z_DEFAULT_COMPRESSION) == 0)
				buf_puts(&o->seen, "<deflate-twice>");
			if (conn_starttls(c, o->tls) == 0)
				buf_puts(&o->seen, "<starttls-after-deflate>");
			/* the rest of the input is compressed: lines come later */
			continue;
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

	/* the server may close after QUIT while "lost" is still being
	 * written: a failed write ends the script, what the server saw is
	 * checked by the parent */
	for (const char *p = script; *p; p++) {
		if (write(fd, p, 1) != 1)
			break;
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

/* HOLD, then once the server has paused (its "held" arrived): a full
 * close (arg NULL) or a half close (shutdown of the sending side, reading
 * on) with more commands sent first (arg: the commands). */
static void client_hold_hangup(int fd, void *arg)
{
	const char *more = arg;
	char tmp[256];
	size_t got = 0;
	ssize_t n;

	if (write(fd, "HOLD\r\n", 6) != 6)
		_exit(2);
	while (got < 6 && (n = read(fd, tmp + got, 6 - got)) > 0)
		got += (size_t)n;
	if (got != 6 || memcmp(tmp, "held\r\n", 6) != 0)
		_exit(3);
	if (!more) {
		close(fd);
		_exit(0);
	}
	if (write(fd, more, strlen(more)) < 0)
		_exit(4);
	shutdown(fd, SHUT_WR);
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

/* --- COMPRESS=DEFLATE clients --- */

/* Compresses s as one sync-flushed piece of the client's stream. */
static size_t zpack(z_stream *zs, const char *s, size_t len, unsigned char *out, size_t outlen)
{
	zs->next_in = (Bytef *)s;
	zs->avail_in = (uInt)len;
	zs->next_out = out;
	zs->avail_out = (uInt)outlen;
	if (deflate(zs, Z_SYNC_FLUSH) != Z_OK || zs->avail_in != 0)
		_exit(20);
	return outlen - zs->avail_out;
}

/* Reads exactly "deflate on\r\n" in the clear, byte by byte so nothing
 * compressed is taken with it. */
static void zexpect_plain(int fd)
{
	char line[16];
	size_t got = 0;

	while (got < 12 && read(fd, line + got, 1) == 1)
		got++;
	if (got != 12 || memcmp(line, "deflate on\r\n", 12) != 0)
		_exit(21);
}

/* Reads and inflates everything until EOF. */
static void zread_all(int fd, struct buf *out)
{
	z_stream zi;
	unsigned char in[16384], tmp[65536];
	ssize_t n;

	memset(&zi, 0, sizeof(zi));
	if (inflateInit2(&zi, -15) != Z_OK)
		_exit(22);
	while ((n = read(fd, in, sizeof(in))) > 0) {
		zi.next_in = in;
		zi.avail_in = (uInt)n;
		while (zi.avail_in > 0) {
			zi.next_out = tmp;
			zi.avail_out = sizeof(tmp);
			int r = inflate(&zi, Z_SYNC_FLUSH);
			if (r != Z_OK && r != Z_BUF_ERROR)
				_exit(23);
			if (buf_append(out, tmp, sizeof(tmp) - zi.avail_out) < 0)
				_exit(24);
		}
	}
	inflateEnd(&zi);
}

static void zinit(z_stream *zs)
{
	memset(zs, 0, sizeof(*zs));
	if (deflateInit2(zs, 6, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY) != Z_OK)
		_exit(25);
}

/* COMPRESS, with compressed commands pipelined in the same write. */
static void client_z_pipelined(int fd, void *arg)
{
	unsigned char pkt[4096];
	z_stream zs;
	struct buf out;
	size_t n;

	(void)arg;
	zinit(&zs);
	memcpy(pkt, "hello\r\nCOMPRESS\r\n", 17);
	n = 17 + zpack(&zs, "a\r\nb\r\nQUIT\r\n", 12, pkt + 17, sizeof(pkt) - 17);
	if (write(fd, pkt, n) != (ssize_t)n)
		_exit(2);
	char first[32];
	size_t got = 0;
	while (got < 12 && read(fd, first + got, 1) == 1)
		got++;
	if (got != 12 || memcmp(first, "echo hello\r\n", 12) != 0)
		_exit(26);
	zexpect_plain(fd);
	buf_init(&out, 1 << 20);
	zread_all(fd, &out);
	_exit(strcmp(buf_cstr(&out), "echo a\r\necho b\r\nbye\r\n") == 0 ? 0 : 27);
}

/* Compressed input written one byte at a time, across two flushes. */
static void client_z_bytewise(int fd, void *arg)
{
	unsigned char pkt[4096];
	z_stream zs;
	struct buf out;
	size_t n;

	(void)arg;
	zinit(&zs);
	if (write(fd, "COMPRESS\r\n", 10) != 10)
		_exit(2);
	zexpect_plain(fd);
	n = zpack(&zs, "first line\r\nsec", 15, pkt, sizeof(pkt));
	n += zpack(&zs, "ond\r\nQUIT\r\n", 11, pkt + n, sizeof(pkt) - n);
	/* the server may close after QUIT, before the flush marker's last
	 * bytes: a failed write ends the loop, the replies tell the rest */
	for (size_t i = 0; i < n; i++) {
		if (write(fd, pkt + i, 1) != 1)
			break;
		usleep(300);
	}
	buf_init(&out, 1 << 20);
	zread_all(fd, &out);
	_exit(strcmp(buf_cstr(&out), "echo first line\r\necho second\r\nbye\r\n") == 0 ? 0 : 28);
}

/* 4 MB of incompressible output read back slowly and checked byte for
 * byte. */
static void client_z_big(int fd, void *arg)
{
	static unsigned char pkt[4096];
	z_stream zs, zi;
	unsigned char in[16384];
	static unsigned char tmp[65536];
	uint32_t st = 1;
	size_t total = 0, n;
	ssize_t r;

	(void)arg;
	zinit(&zs);
	if (write(fd, "COMPRESS\r\n", 10) != 10)
		_exit(2);
	zexpect_plain(fd);
	n = zpack(&zs, "RBIG\r\n", 6, pkt, sizeof(pkt));
	if (write(fd, pkt, n) != (ssize_t)n)
		_exit(2);
	usleep(100000); /* the server must wait for room */
	memset(&zi, 0, sizeof(zi));
	if (inflateInit2(&zi, -15) != Z_OK)
		_exit(22);
	while (total < RBIG_SIZE && (r = read(fd, in, sizeof(in))) > 0) {
		zi.next_in = in;
		zi.avail_in = (uInt)r;
		while (zi.avail_in > 0) {
			zi.next_out = tmp;
			zi.avail_out = sizeof(tmp);
			int zr = inflate(&zi, Z_SYNC_FLUSH);
			if (zr != Z_OK && zr != Z_BUF_ERROR)
				_exit(23);
			for (size_t i = 0; i < sizeof(tmp) - zi.avail_out; i++)
				if (total + i >= RBIG_SIZE || tmp[i] != rand_next(&st))
					_exit(29);
			total += sizeof(tmp) - zi.avail_out;
		}
	}
	n = zpack(&zs, "QUIT\r\n", 6, pkt, sizeof(pkt));
	if (write(fd, pkt, n) != (ssize_t)n)
		_exit(2);
	while (read(fd, in, sizeof(in)) > 0)
		;
	_exit(total == RBIG_SIZE ? 0 : 30);
}

/* A decompression bomb: 256 MB of 'x' without a newline in about 256 KB,
 * then a line that must still work. */
static void client_z_bomb(int fd, void *arg)
{
	static char zeros[1 << 20];
	static unsigned char pkt[1 << 16];
	z_stream zs;
	struct buf out;
	size_t n;

	(void)arg;
	memset(zeros, 'x', sizeof(zeros));
	zinit(&zs);
	if (write(fd, "COMPRESS\r\n", 10) != 10)
		_exit(2);
	zexpect_plain(fd);
	for (int i = 0; i < 256; i++) {
		zs.next_in = (Bytef *)zeros;
		zs.avail_in = sizeof(zeros);
		while (zs.avail_in > 0 || zs.avail_out == 0) {
			zs.next_out = pkt;
			zs.avail_out = sizeof(pkt);
			if (deflate(&zs, Z_NO_FLUSH) == Z_STREAM_ERROR)
				_exit(20);
			n = sizeof(pkt) - zs.avail_out;
			if (n && write(fd, pkt, n) != (ssize_t)n)
				_exit(2);
		}
	}
	n = zpack(&zs, "\r\nafter\r\nQUIT\r\n", 15, pkt, sizeof(pkt));
	if (write(fd, pkt, n) != (ssize_t)n)
		_exit(2);
	buf_init(&out, 1 << 20);
	zread_all(fd, &out);
	_exit(strcmp(buf_cstr(&out), "toolong\r\necho after\r\nbye\r\n") == 0 ? 0 : 31);
}

/* Not a deflate stream at all. */
static void client_z_garbage(int fd, void *arg)
{
	unsigned char junk[64];
	char tmp[256];

	(void)arg;
	memset(junk, 0xff, sizeof(junk));
	if (write(fd, "COMPRESS\r\n", 10) != 10)
		_exit(2);
	zexpect_plain(fd);
	if (write(fd, junk, sizeof(junk)) != (ssize_t)sizeof(junk))
		_exit(2);
	while (read(fd, tmp, sizeof(tmp)) > 0)
		;
	_exit(0);
}

/* COMPRESS inside implicit TLS: deflate runs before encryption. */
static void client_z_tls(int fd, void *arg)
{
	unsigned char pkt[4096], tmp[4096];
	char line[256];
	z_stream zs, zi;
	struct tls_conn *t = tls_conn_new(client_ctx, fd, NULL);
	struct buf out;
	size_t n;

	(void)arg;
	if (!t || tls_blocking_handshake(t) != 1)
		_exit(5);
	zinit(&zs);
	memcpy(pkt, "COMPRESS\r\n", 10);
	n = 10 + zpack(&zs, "secret\r\nQUIT\r\n", 14, pkt + 10, sizeof(pkt) - 10);
	for (size_t off = 0; off < n;) {
		ssize_t w = tls_write(t, pkt + off, n - off);
		if (w < 0 && errno == EAGAIN) {
			usleep(1000);
			continue;
		}
		if (w <= 0)
			_exit(6);
		off += (size_t)w;
	}
	if (tls_read_line(t, line, sizeof(line)) < 0 || strcmp(line, "deflate on\r\n") != 0)
		_exit(32);
	memset(&zi, 0, sizeof(zi));
	inflateInit2(&zi, -15);
	buf_init(&out, 1 << 16);
	for (;;) {
		ssize_t r = tls_read(t, pkt, sizeof(pkt));
		if (r < 0 && errno == EAGAIN) {
			usleep(1000);
			continue;
		}
		if (r <= 0)
			break;
		zi.next_in = pkt;
		zi.avail_in = (uInt)r;
		while (zi.avail_in > 0) {
			zi.next_out = tmp;
			zi.avail_out = sizeof(tmp);
			int zr = inflate(&zi, Z_SYNC_FLUSH);
			if (zr != Z_OK && zr != Z_BUF_ERROR)
				_exit(23);
			buf_append(&out, tmp, sizeof(tmp) - zi.avail_out);
		}
	}
	_exit(strcmp(buf_cstr(&out), "echo secret tls\r\nbye\r\n") == 0 ? 0 : 33);
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

	/* a client that hangs up while its session waits with input paused
	 * (a password check on a worker) frees the session at once, not when
	 * the wait ends (60 s here): closed() runs, the owner never resumes */
	rc = run_pair(&o, client_hold_hangup, NULL, 0, 0);
	is_int(rc, 0, "hang-up while paused: client ran");
	is_str(buf_cstr(&o.seen), "[HOLD]", "hang-up while paused: closed without a resume");
	is_str(o.reason, "peer closed", "hang-up while paused: reason");
	buf_free(&o.seen);

	hold_ms = 1000;
	rc = run_pair(&o, client_hold_hangup, "after\r\nQUIT\r\n", 0, 0);
	is_int(rc, 0, "half close while paused: client ran");
	is_str(buf_cstr(&o.seen), "[HOLD]<resume>[after][QUIT]<after-close>",
	       "half close while paused: the commands sent before the FIN run at the resume");
	is_str(o.reason, "quit", "half close while paused: reason");
	buf_free(&o.seen);

	rc = run_pair(&o, client_idle, NULL, 0, 150);
	is_int(rc, 0, "timeout: client got the owner's last reply");
	is_str(o.reason, "idle", "timeout: closed after the timeout callback");
	buf_free(&o.seen);

	rc = run_pair(&o, client_big, NULL, 0, 0);
	is_int(rc, 0, "big output: 8 MB arrived whole through writable() back-pressure");
	buf_free(&o.seen);

	rc = run_pair(&o, client_z_pipelined, NULL, 0, 0);
	is_int(rc, 0, "deflate: compressed commands pipelined behind COMPRESS answered");
	is_str(buf_cstr(&o.seen), "[hello][COMPRESS][a][b][QUIT]<after-close>",
	       "deflate: pipelined compressed lines inflated; second deflate and STARTTLS "
	       "refused");
	buf_free(&o.seen);

	rc = run_pair(&o, client_z_bytewise, NULL, 0, 0);
	is_int(rc, 0, "deflate: compressed input fed one byte at a time");
	is_str(buf_cstr(&o.seen), "[COMPRESS][first line][second][QUIT]<after-close>",
	       "deflate: bytewise lines");
	buf_free(&o.seen);

	rc = run_pair(&o, client_z_big, NULL, 0, 0);
	is_int(rc, 0, "deflate: 4 MB of incompressible output arrived whole and exact");
	buf_free(&o.seen);

	struct rusage ru0, ru1;
	getrusage(RUSAGE_SELF, &ru0);
	rc = run_pair(&o, client_z_bomb, NULL, 0, 0);
	getrusage(RUSAGE_SELF, &ru1);
	is_int(rc, 0, "deflate bomb: 256 MB line refused once, later lines work");
	is_str(buf_cstr(&o.seen), "[COMPRESS][TOOLONG][after][QUIT]<after-close>",
	       "deflate bomb: server lines");
	char what[128];
	snprintf(what, sizeof(what), "deflate bomb: peak RSS grew by %ld KB (< 16 MB)",
		 ru1.ru_maxrss - ru0.ru_maxrss);
	ok(ru1.ru_maxrss - ru0.ru_maxrss < 16 * 1024, what);
	buf_free(&o.seen);

	rc = run_pair(&o, client_z_garbage, NULL, 0, 0);
	is_int(rc, 0, "deflate: corrupt stream client ran");
	is_str(o.reason, "compression error", "deflate: corrupt stream closes the connection");
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

	rc = run_pair(&o, client_z_tls, NULL, 1, 0);
	is_int(rc, 0, "deflate under tls: compressed echo inside TLS");
	is_str(buf_cstr(&o.seen), "[COMPRESS][secret][QUIT]<after-close>",
	       "deflate under tls: server lines");
	buf_free(&o.seen);

	tls_ctx_free(o.tls);
	tls_ctx_free(client_ctx);
	unlink(cert);
	unlink(key);
	rmdir(dir);
	return tap_done();
}
