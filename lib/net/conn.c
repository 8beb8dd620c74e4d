#include "conn.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "buf.h"
#include "log.h"
#include "net.h"
#include "tls.h"

#define CONN_READ_CHUNK	 16384
#define CONN_OUT_KEEP	 4096	     /* an idle output buffer up to this stays allocated */
#define CONN_KEEP_OUT	 (64 * 1024) /* output buffer kept after it drains */
#define CONN_CLOSE_FLUSH 10000	     /* ms allowed to send the last replies */
#define CONN_Z_MINOUT	 1024	     /* output buffer deflate needs at the least */
#define CONN_Z_ROOM	 64	     /* > 6: no repeated flush markers (zlib.h) */
/* Input buffer kept once all of it was handed out: a command line fits.
 * A message body arrives in reads of up to twice the DATA line limit
 * (16 KiB in loft-smtpd); that buffer is given back as soon as the owner
 * has taken every byte, so at any moment about one conn holds one, not
 * every conn between its messages (issue 14: 10 SMTP sessions kept 160 KiB
 * of empty read buffers). */
#define CONN_KEEP_IN 1024

enum conn_tls { CT_NONE, CT_HANDSHAKE, CT_UP };

/* COMPRESS=DEFLATE (RFC 4978): raw deflate both ways, between the
 * protocol and TLS.  Output is staged as plaintext and compressed, with a
 * sync flush, as the output buffer has room; input is kept compressed in
 * a fixed buffer and inflated only into the line reader's free room, so a
 * decompression bomb costs CPU, never memory. */
struct conn_z {
	z_stream def, inf;
	struct buf plain;  /* written, not yet compressed */
	size_t plain_off;  /* bytes of plain already given to deflate */
	int def_flushing;  /* a sync flush ran out of room: call again */
	unsigned char *in; /* compressed input not yet inflated */
	size_t in_size, in_off, in_len;
};

struct conn {
	struct evloop *ev;
	int fd;
	struct conn_cbs cbs;
	void *arg;
	struct linereader lr;
	struct buf out;
	size_t out_off;
	size_t lowmark;
	size_t tls_wlen; /* length of a TLS write that must be retried as is */
	struct tls_conn *tls;
	enum conn_tls tls_state;
	struct tls_ctx *starttls; /* handshake to start once output drains */
	char *tls_name;		  /* client side: the server name to verify (SNI) */
	int paused;
	int eof;
	int closing;  /* conn_close called: no more input */
	int flushing; /* closing after the output drains */
	int finished; /* closed() delivered */
	int depth;    /* callbacks of this conn on the stack */
	int want_input;
	int hup_blocked; /* paused, hang-up seen, nothing more to read yet */
	int wrote_high;	 /* output passed the low mark since writable() ran */
	char reason[64];
	struct ev_timer *idle, *soon, *close_timer;
	uint64_t timeout_ms;
	int io_events;
	char peer[64];
	char sid[16];
	struct conn_z *z; /* COMPRESS=DEFLATE active */
};

static void conn_after(struct conn *c);
static int conn_send(struct conn *c);
static void conn_io(struct evloop *ev, int fd, int events, void *arg);

static void conn_begin_close(struct conn *c, int flush, const char *reason)
{
	if (c->closing)
		return;
	c->closing = 1;
	c->flushing = flush;
	snprintf(c->reason, sizeof(c->reason), "%s", reason);
	if (flush)
		ev_timer_arm(c->close_timer, CONN_CLOSE_FLUSH);
	/* always finish from the loop, never inside the caller's stack */
	ev_timer_arm(c->soon, 0);
}

static void conn_fail(struct conn *c, const char *reason)
{
	conn_begin_close(c, 0, reason);
	c->flushing = 0;
}

static void on_idle(struct evloop *ev, struct ev_timer *t, void *arg)
{
	struct conn *c = arg;

	(void)ev;
	(void)t;
	if (c->closing)
		return;
	c->depth++;
	if (c->cbs.timeout)
		c->cbs.timeout(c, c->arg);
	else
		conn_begin_close(c, 1, "timeout");
	c->depth--;
	conn_after(c);
}

static void on_close_timer(struct evloop *ev, struct ev_timer *t, void *arg)
{
	struct conn *c = arg;

	(void)ev;
	(void)t;
	c->flushing = 0; /* the peer does not read: give up on the output */
	conn_after(c);
}

static void on_soon(struct evloop *ev, struct ev_timer *t, void *arg)
{
	struct conn *c = arg;

	(void)ev;
	(void)t;
	c->want_input = 1;
	conn_after(c);
}

struct conn *conn_new(struct evloop *ev, int fd, const struct sockaddr *peer,
		      const struct conn_cbs *cbs, void *arg, size_t maxline, size_t maxout)
{
	struct conn *c = calloc(1, sizeof(*c));

	if (!c)
		bug("out of memory");
	c->ev = ev;
	c->fd = fd;
	c->cbs = *cbs;
	c->arg = arg;
	lr_init(&c->lr, maxline);
	buf_init(&c->out, maxout);
	c->idle = ev_timer_new(ev, on_idle, c);
	c->soon = ev_timer_new(ev, on_soon, c);
	c->close_timer = ev_timer_new(ev, on_close_timer, c);
	if (peer)
		net_addr_str(peer, c->peer, sizeof(c->peer));
	else
		snprintf(c->peer, sizeof(c->peer), "unknown");
	log_new_sid(c->sid, sizeof(c->sid));
	net_set_nonblock(fd);
	/* replies are already gathered into one write per event; Nagle would
	 * only hold the tail of a large response back for the peer's ACK */
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (ev_io_add(ev, fd, EV_READ, conn_io, c) < 0)
		conn_fail(c, "epoll failed");
	c->io_events = EV_READ;
	return c;
}

/* Implicit TLS either way: the context says server or client; a client
 * names the server it expects (SNI and verification). */
static int conn_tls_begin(struct conn *c, struct tls_ctx *ctx, const char *servername)
{
	if (c->tls)
		return -1;
	c->tls = tls_conn_new(ctx, c->fd, servername);
	if (!c->tls)
		return -1;
	tls_conn_set_sid(c->tls, c->sid);
	c->tls_state = CT_HANDSHAKE;
	ev_timer_arm(c->soon, 0);
	return 0;
}

int conn_tls_server(struct conn *c, struct tls_ctx *ctx)
{
	return conn_tls_begin(c, ctx, NULL);
}

int conn_starttls(struct conn *c, struct tls_ctx *ctx)
{
	const char *p;

	if (c->tls || c->starttls || c->z)
		return -1;
	/* whatever the client sent after STARTTLS was sent in the clear */
	lr_consume(&c->lr, lr_pending(&c->lr, &p));
	c->starttls = ctx;
	ev_timer_arm(c->soon, 0);
	return 0;
}

int conn_tls_client(struct conn *c, struct tls_ctx *ctx, const char *servername)
{
	return conn_tls_begin(c, ctx, servername);
}

int conn_starttls_client(struct conn *c, struct tls_ctx *ctx, const char *servername)
{
	if (c->tls || c->starttls || c->z)
		return -1;
	free(c->tls_name);
	c->tls_name = servername ? strdup(servername) : NULL;
	if (servername && !c->tls_name)
		return -1;
	return conn_starttls(c, ctx);
}

int conn_tls_verified(const struct conn *c)
{
	return c->tls_state == CT_UP && tls_peer_verified(c->tls);
}

int conn_set_deflate(struct conn *c, int level)
{
	struct conn_z *z;
	const char *p;
	size_t pend;

	if (c->z || c->starttls || c->tls_state == CT_HANDSHAKE || c->closing ||
	    c->out.max < CONN_Z_MINOUT)
		return -1;
	z = calloc(1, sizeof(*z));
	if (!z)
		return -1;
	/* raw deflate (negative windowBits), as RFC 4978 says */
	if (deflateInit2(&z->def, level, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
		free(z);
		return -1;
	}
	if (inflateInit2(&z->inf, -15) != Z_OK) {
		deflateEnd(&z->def);
		free(z);
		return -1;
	}
	/* what the client sent after the command is already compressed */
	pend = lr_pending(&c->lr, &p);
	z->in_size = pend > CONN_READ_CHUNK ? pend : CONN_READ_CHUNK;
	z->in = malloc(z->in_size);
	if (!z->in) {
		deflateEnd(&z->def);
		inflateEnd(&z->inf);
		free(z);
		return -1;
	}
	memcpy(z->in, p, pend);
	z->in_len = pend;
	lr_consume(&c->lr, pend);
	buf_init(&z->plain, c->out.max);
	c->z = z;
	log_debug(c->sid, "event=compress-on buffered=%zu", pend);
	ev_timer_arm(c->soon, 0);
	return 0;
}

int conn_is_deflate(const struct conn *c)
{
	return c->z != NULL;
}

int conn_line(struct conn *c, struct lr_line *line)
{
	if (c->closing || c->starttls || c->tls_state == CT_HANDSHAKE)
		return LR_NEED;
	return lr_next(&c->lr, line);
}

size_t conn_pending(struct conn *c, const char **p)
{
	if (c->closing || c->starttls || c->tls_state == CT_HANDSHAKE) {
		*p = "";
		return 0;
	}
	return lr_pending(&c->lr, p);
}

void conn_consume(struct conn *c, size_t n)
{
	lr_consume(&c->lr, n);
}

void conn_set_maxline(struct conn *c, size_t maxline)
{
	lr_set_max(&c->lr, maxline);
}

void conn_pause(struct conn *c, int paused)
{
	c->paused = paused;
	c->hup_blocked = 0;
	if (!paused && !c->closing)
		ev_timer_arm(c->soon, 0);
}

int conn_write(struct conn *c, const void *data, size_t n)
{
	if (c->closing && !c->flushing)
		return -1;
	if (c->z) {
		struct conn_z *z = c->z;
		if (z->plain_off > 0) {
			buf_consume(&z->plain, z->plain_off);
			z->plain_off = 0;
		}
		if (buf_append(&z->plain, data, n) < 0)
			return -1;
	} else if (c->out_off > 0 && c->tls_wlen == 0) {
		buf_consume(&c->out, c->out_off);
		c->out_off = 0;
	}
	if (!c->z && buf_append(&c->out, data, n) < 0)
		return -1;
	if (conn_outlen(c) > c->lowmark)
		c->wrote_high = 1;
	if (c->depth == 0)
		ev_timer_arm(c->soon, 0);
	return 0;
}

int conn_puts(struct conn *c, const char *s)
{
	return conn_write(c, s, strlen(s));
}

int conn_printf(struct conn *c, const char *fmt, ...)
{
	char small[1024];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(small, sizeof(small), fmt, ap);
	va_end(ap);
	if (n < 0)
		return -1;
	if ((size_t)n < sizeof(small))
		return conn_write(c, small, (size_t)n);
	char *big = malloc((size_t)n + 1);
	if (!big)
		return -1;
	va_start(ap, fmt);
	vsnprintf(big, (size_t)n + 1, fmt, ap);
	va_end(ap);
	int r = conn_write(c, big, (size_t)n);
	free(big);
	return r;
}

size_t conn_outlen(const struct conn *c)
{
	size_t n = c->out.len - c->out_off;

	if (c->z)
		n += c->z->plain.len - c->z->plain_off;
	return n;
}

void conn_set_lowmark(struct conn *c, size_t n)
{
	c->lowmark = n;
}

void conn_set_timeout(struct conn *c, uint64_t ms)
{
	c->timeout_ms = ms;
	if (ms)
		ev_timer_arm(c->idle, ms);
	else
		ev_timer_disarm(c->idle);
}

void conn_close(struct conn *c, int flush, const char *reason)
{
	conn_begin_close(c, flush, reason);
}

const char *conn_peer(const struct conn *c)
{
	return c->peer;
}

const char *conn_sid(const struct conn *c)
{
	return c->sid;
}

int conn_is_tls(const struct conn *c)
{
	return c->tls_state == CT_UP;
}

const char *conn_tls_version(const struct conn *c)
{
	return c->tls_state == CT_UP ? tls_version(c->tls) : NULL;
}

const char *conn_tls_cipher(const struct conn *c)
{
	return c->tls_state == CT_UP ? tls_cipher(c->tls) : NULL;
}

struct evloop *conn_loop(const struct conn *c)
{
	return c->ev;
}

/* --- the I/O engine --- */

/* Returns 1 when all output went out, 0 when the socket is full, -1 on
 * error. */
/* Compresses staged plaintext into the room the output buffer has, with a
 * sync flush so the peer can decode every reply as soon as it arrives. */
static void conn_deflate(struct conn *c)
{
	struct conn_z *z = c->z;
	unsigned char chunk[CONN_READ_CHUNK];

	if (c->out_off > 0 && c->tls_wlen == 0) {
		buf_consume(&c->out, c->out_off);
		c->out_off = 0;
	}
	while (z->plain.len > z->plain_off || z->def_flushing) {
		size_t room = c->out.max - c->out.len, in = z->plain.len - z->plain_off;
		int r;

		if (room < CONN_Z_ROOM)
			break;
		if (room > sizeof(chunk))
			room = sizeof(chunk);
		if (in > UINT_MAX)
			in = UINT_MAX;
		z->def.next_in = (Bytef *)z->plain.data + z->plain_off;
		z->def.avail_in = (uInt)in;
		z->def.next_out = chunk;
		z->def.avail_out = (uInt)room;
		r = deflate(&z->def, Z_SYNC_FLUSH);
		if (r != Z_OK && r != Z_BUF_ERROR)
			bug("deflate failed: %d", r);
		z->plain_off += in - z->def.avail_in;
		if (buf_append(&c->out, chunk, room - z->def.avail_out) < 0)
			bug("deflate output passed the room it had");
		z->def_flushing = z->def.avail_out == 0;
		if (z->plain_off == z->plain.len) {
			buf_reset(&z->plain);
			z->plain_off = 0;
		}
		if (r == Z_BUF_ERROR)
			break;
	}
}

static int conn_flush(struct conn *c)
{
	for (;;) {
		int r;

		if (c->z)
			conn_deflate(c);
		r = conn_send(c);
		if (r <= 0)
			return r;
		if (!c->z || (c->z->plain.len == c->z->plain_off && !c->z->def_flushing))
			return 1;
	}
}

/* Sends the output buffer.  Returns 1 when all of it went out, 0 when the
 * socket is full, -1 on error. */
static int conn_send(struct conn *c)
{
	while (c->out_off < c->out.len) {
		size_t n = c->out.len - c->out_off;
		ssize_t w;

		if (c->tls) {
			if (c->tls_state != CT_UP)
				return 0;
			/* mbedTLS wants a blocked write repeated with the same length */
			if (c->tls_wlen)
				n = c->tls_wlen;
			else if (n > CONN_READ_CHUNK)
				n = CONN_READ_CHUNK;
			w = tls_write(c->tls, c->out.data + c->out_off, n);
			if (w < 0 && errno == EAGAIN) {
				c->tls_wlen = n;
				return 0;
			}
			c->tls_wlen = 0;
		} else {
			w = write(c->fd, c->out.data + c->out_off, n);
			if (w < 0 && errno == EINTR)
				continue;
			if (w < 0 && errno == EAGAIN)
				return 0;
		}
		if (w <= 0)
			return -1;
		c->out_off += (size_t)w;
	}
	/* all sent: a grown buffer goes back, so a session waiting for its
	 * peer's reply holds no output memory (loft-queue keeps up to 100
	 * sessions, each of which filled tens of KB for a message body) */
	if (c->out.cap > CONN_OUT_KEEP)
		buf_free(&c->out);
	else
		buf_reset(&c->out);
	c->out_off = 0;
	return 1;
}

static ssize_t conn_recv(struct conn *c, void *p, size_t n)
{
	if (c->tls)
		return tls_read(c->tls, p, n);
	return read(c->fd, p, n);
}

/* Inflates buffered compressed input into out (room bytes at most).
 * Returns the bytes made, or -1 on a bad stream (the conn is failing). */
static ssize_t conn_inflate(struct conn *c, char *out, size_t room)
{
	struct conn_z *z = c->z;
	int r;

	if (z->in_off == z->in_len)
		return 0;
	z->inf.next_in = z->in + z->in_off;
	z->inf.avail_in = (uInt)(z->in_len - z->in_off);
	z->inf.next_out = (Bytef *)out;
	z->inf.avail_out = (uInt)room;
	r = inflate(&z->inf, Z_SYNC_FLUSH);
	z->in_off = z->in_len - z->inf.avail_in;
	if (r == Z_OK || r == Z_BUF_ERROR)
		return (ssize_t)(room - z->inf.avail_out);
	log_info(c->sid, "event=compress-error peer=%s error=\"%s\"", c->peer,
		 r == Z_STREAM_END ? "stream ended"
		 : z->inf.msg	   ? z->inf.msg
				   : zError(r));
	conn_fail(c, "compression error");
	return -1;
}

/* Reads what the line reader has room for (inflating it under
 * COMPRESS).  Returns 1 if input arrived, 0 if none, -1 on error (reason
 * set). */
static int conn_read(struct conn *c)
{
	char chunk[CONN_READ_CHUNK];
	int got = 0, fresh = 0;

	for (int rounds = 0; rounds < 8; rounds++) {
		const char *p;
		size_t pend = lr_pending(&c->lr, &p);
		size_t room = c->lr.in.max > pend ? c->lr.in.max - pend : 0;
		int more = 1; /* the socket may hold more */
		ssize_t n;

		if (room == 0 && !c->lr.discarding)
			break;
		if (room == 0 || room > sizeof(chunk))
			room = sizeof(chunk);
		if (c->z && c->z->in_off < c->z->in_len) {
			n = conn_inflate(c, chunk, room);
		} else {
			void *dst = c->z ? (void *)c->z->in : (void *)chunk;
			size_t want = c->z ? c->z->in_size : room;

			n = conn_recv(c, dst, want);
			if (n < 0) {
				if (errno == EAGAIN || errno == EINTR)
					break;
				if (c->tls)
					conn_fail(c, "tls error");
				else
					conn_fail(c, errno == ECONNRESET ? "connection reset"
									 : "read error");
				return -1;
			}
			if (n == 0) {
				c->eof = 1;
				break;
			}
			fresh = got = 1;
			if (c->tls && tls_pending(c->tls) == 0 && (size_t)n < want)
				more = 0;
			if (c->z) {
				c->z->in_off = 0;
				c->z->in_len = (size_t)n;
				n = conn_inflate(c, chunk, room);
			}
		}
		if (n < 0)
			return -1;
		size_t off = 0;
		while (off < (size_t)n) {
			size_t k = lr_feed(&c->lr, chunk + off, (size_t)n - off);
			if (k == 0)
				bug("line reader refused bytes it had room for");
			off += k;
		}
		if (n > 0)
			got = 1;
		if (!more && (!c->z || c->z->in_off == c->z->in_len))
			break;
	}
	if (fresh && c->timeout_ms)
		ev_timer_arm(c->idle, c->timeout_ms);
	return got;
}

static void conn_finish(struct conn *c)
{
	c->finished = 1;
	ev_io_del(c->ev, c->fd);
	ev_timer_free(c->idle);
	ev_timer_free(c->soon);
	ev_timer_free(c->close_timer);
	c->idle = c->soon = c->close_timer = NULL;
	if (c->tls) {
		if (c->tls_state == CT_UP)
			tls_close_notify(c->tls);
		tls_conn_free(c->tls);
		c->tls = NULL;
	}
	close(c->fd);
	c->fd = -1;
	if (c->z) {
		deflateEnd(&c->z->def);
		inflateEnd(&c->z->inf);
		buf_free(&c->z->plain);
		free(c->z->in);
		free(c->z);
		c->z = NULL;
	}
	free(c->tls_name);
	c->tls_name = NULL;
	if (c->cbs.closed)
		c->cbs.closed(c, c->arg, c->reason);
	lr_free(&c->lr);
	buf_free(&c->out);
	free(c);
}

static void conn_handshake(struct conn *c)
{
	int r = tls_handshake(c->tls);

	if (r < 0) {
		log_info(c->sid, "event=tls-failed peer=%s error=\"%s\"", c->peer,
			 tls_error(c->tls));
		conn_fail(c, "tls handshake failed");
		return;
	}
	if (r == 0)
		return;
	c->tls_state = CT_UP;
	log_debug(c->sid, "event=tls-up version=%s cipher=%s", tls_version(c->tls),
		  tls_cipher(c->tls));
	if (c->cbs.tls_ready) {
		c->depth++;
		c->cbs.tls_ready(c, c->arg);
		c->depth--;
	}
	c->want_input = 1;
}

/* Runs after every event: moves data, delivers input, settles what the
 * socket is watched for, and finishes a closing conn. */
static void conn_after(struct conn *c)
{
	const char *p;
	int events = 0;

	if (c->depth > 0 || c->finished)
		return;
	for (int guard = 0; guard < 64; guard++) {
		int progressed = 0, r;

		if (!(c->closing && !c->flushing) && conn_flush(c) < 0)
			conn_fail(c, "write error");
		if (c->closing && (!c->flushing || conn_outlen(c) == 0)) {
			conn_finish(c);
			return;
		}
		if (c->wrote_high && conn_outlen(c) <= c->lowmark && !c->closing) {
			c->wrote_high = 0;
			if (c->cbs.writable) {
				c->depth++;
				c->cbs.writable(c, c->arg);
				c->depth--;
				continue;
			}
		}
		if (c->starttls && conn_outlen(c) == 0) {
			c->tls = tls_conn_new(c->starttls, c->fd, c->tls_name);
			c->starttls = NULL;
			if (!c->tls) {
				conn_fail(c, "tls set-up failed");
				continue;
			}
			tls_conn_set_sid(c->tls, c->sid);
			c->tls_state = CT_HANDSHAKE;
		}
		if (c->tls_state == CT_HANDSHAKE && !c->closing) {
			conn_handshake(c);
			if (c->tls_state != CT_UP)
				break;
			continue;
		}
		if (c->closing || c->starttls || c->paused)
			break;
		size_t before = lr_pending(&c->lr, &p);
		r = conn_read(c);
		if (r < 0)
			continue;
		if ((r > 0 || c->want_input || c->eof) && c->cbs.input &&
		    (lr_pending(&c->lr, &p) > 0 || c->lr.discarding)) {
			c->want_input = 0;
			c->depth++;
			c->cbs.input(c, c->arg);
			c->depth--;
			progressed = r > 0 || lr_pending(&c->lr, &p) != before;
		}
		c->want_input = 0;
		if (c->eof && !c->closing) {
			conn_begin_close(c, 1, "peer closed");
			continue;
		}
		if (!progressed)
			break;
	}
	if (c->finished)
		return;
	/* a burst (a big FETCH, a long listing) grew the output buffer: once
	 * it has drained and the owner has stopped refilling it (writable()
	 * wrote nothing), give the memory back rather than keep it per conn */
	if (c->out.cap > CONN_KEEP_OUT && conn_outlen(c) == 0 && !c->wrote_high &&
	    c->tls_wlen == 0) {
		size_t max = c->out.max;
		buf_free(&c->out);
		buf_init(&c->out, max);
		c->out_off = 0;
	}
	lr_release(&c->lr, CONN_KEEP_IN);
	if (c->tls && c->tls_state == CT_HANDSHAKE) {
		events = tls_want(c->tls);
	} else if (!c->closing || c->flushing) {
		/* not tls_want(): a read attempted since the write blocked
		 * (input resumed) overwrites it with "read", and the queued
		 * output would then wait for input that may never come.  A
		 * blocked TLS 1.2 write (no renegotiation) waits for write
		 * room only. */
		if (conn_outlen(c) > 0)
			events |= EV_WRITE;
		if (!c->paused && !c->closing && !c->starttls && !c->eof)
			events |= EV_READ;
		/* paused (a password check, a store commit, output at the
		 * high-water mark): no reading, but a client that hangs up
		 * must not keep its session, and its slot in the listener's
		 * limits, until the pause ends (conn_paused_hangup) */
		else if (c->paused && !c->closing && !c->eof && !c->hup_blocked)
			events |= EV_HANGUP;
	}
	if (events != c->io_events) {
		ev_io_set(c->ev, c->fd, events);
		c->io_events = events;
	}
	/* decrypted bytes wait inside mbedTLS where epoll cannot see them */
	if (c->tls && c->tls_state == CT_UP && tls_pending(c->tls) > 0 && !c->paused && !c->closing)
		ev_timer_arm(c->soon, 0);
	/* so do compressed bytes the line reader had no room for; with room,
	 * inflating them always makes progress */
	if (c->z && c->z->in_off < c->z->in_len && !c->paused && !c->closing &&
	    lr_pending(&c->lr, &p) < c->lr.in.max)
		ev_timer_arm(c->soon, 0);
}

/* The peer hung up (FIN, reset or error) while input is paused (the owner
 * waits for a password check, a commit, or for its output to drain).
 * Unpaused, the read would find the end of input, input() would run once
 * on what is buffered, and the conn would close ("peer closed").  Paused,
 * the same rule: what the peer sent up to its FIN is read into the line
 * reader (bounded as always); with nothing buffered there is nothing left
 * to do for it, so the conn closes now, and conn_after() finishes it at
 * once when no output waits, so the owner's closed() runs from here (it
 * must cancel what it waits for) and the listener's slot is free before
 * the next accept.  With commands buffered (a client that pipelines and
 * half-closes), they run at the resume as they would have, then the conn
 * closes. */
static void conn_paused_hangup(struct conn *c)
{
	const char *p;
	int r;

	if (c->eof || c->hup_blocked || c->starttls || c->tls_state == CT_HANDSHAKE) {
		/* once the FIN is known (hup_blocked, or the end of input was
		 * read) it is no longer watched: what is reported now is a
		 * reset or a full hang-up, the peer reads nothing more either;
		 * before TLS is up there is no command to run */
		log_debug(c->sid, "event=hangup-while-paused peer=%s", c->peer);
		conn_fail(c, "peer closed");
		return;
	}
	r = conn_read(c);
	if (r < 0)
		return; /* a reset or a TLS error: conn_read() is closing it */
	if (c->eof) {
		if (lr_pending(&c->lr, &p) == 0 && !c->lr.discarding) {
			log_debug(c->sid, "event=hangup-while-paused peer=%s", c->peer);
			conn_begin_close(c, 1, "peer closed");
		}
		return;
	}
	/* no end of input yet: more to read next time, or the line reader is
	 * full; with no progress stop watching until the resume (epoll would
	 * report the same hang-up again at once) */
	if (r == 0)
		c->hup_blocked = 1;
}

static void conn_io(struct evloop *ev, int fd, int events, void *arg)
{
	struct conn *c = arg;

	(void)ev;
	(void)fd;
	if ((events & EV_HANGUP) && c->paused && !c->closing && !c->finished)
		conn_paused_hangup(c);
	conn_after(c);
}
