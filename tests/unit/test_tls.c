/*
 * lib/tls: our server and client against each other on socket pairs (also
 * through a relay that passes one byte per write), and against the real
 * openssl s_client and s_server.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <arpa/inet.h>
#include <unistd.h>

#include "evloop.h"
#include "log.h"
#include "tap.h"
#include "tls.h"

#define HOST "mail.example.test"

static char dir[64], certpath[128], keypath[128];
static pid_t child_pid = -1;

static void cleanup(void)
{
	char cmd[128];

	if (child_pid > 0) {
		kill(child_pid, SIGTERM);
		waitpid(child_pid, NULL, 0);
		child_pid = -1;
	}
	if (dir[0]) {
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
		if (system(cmd) != 0)
			fprintf(stderr, "# cleanup failed\n");
		dir[0] = '\0';
	}
}

static void nonblock(int fd)
{
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
}

static void pair(int sv[2])
{
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
		perror("socketpair");
		exit(1);
	}
	nonblock(sv[0]);
	nonblock(sv[1]);
}

static short pollev(int want)
{
	return want == EV_WRITE ? POLLOUT : POLLIN;
}

/* --- a one-byte relay between two socket pairs --- */

struct relay {
	int a, b; /* a faces the client, b the server */
	unsigned char ab, ba;
	int has_ab, has_ba;
	long moved;
};

/* Moves at most one byte each way per step; returns 1 if anything moved. */
static int relay_step(struct relay *r)
{
	int moved = 0;

	if (!r->has_ab && read(r->a, &r->ab, 1) == 1)
		r->has_ab = 1;
	if (r->has_ab && write(r->b, &r->ab, 1) == 1) {
		r->has_ab = 0;
		moved = 1;
	}
	if (!r->has_ba && read(r->b, &r->ba, 1) == 1)
		r->has_ba = 1;
	if (r->has_ba && write(r->a, &r->ba, 1) == 1) {
		r->has_ba = 0;
		moved = 1;
	}
	r->moved += moved;
	return moved;
}

struct side {
	struct tls_conn *c;
	int fd;
	int hs; /* 1 done, 0 going, -1 failed */
};

/* Drives both handshakes until each is done or one fails.  Returns 1 if
 * both completed. */
static int handshake_both(struct side *a, struct side *b, struct relay *rel)
{
	uint64_t t0 = ev_clock_ms();

	a->hs = b->hs = 0;
	while (ev_clock_ms() - t0 < 10000) {
		if (a->hs == 0)
			a->hs = tls_handshake(a->c);
		if (b->hs == 0)
			b->hs = tls_handshake(b->c);
		if (rel)
			while (relay_step(rel)) {
				if (a->hs == 0)
					a->hs = tls_handshake(a->c);
				if (b->hs == 0)
					b->hs = tls_handshake(b->c);
			}
		if (a->hs < 0 || b->hs < 0)
			return 0;
		if (a->hs == 1 && b->hs == 1)
			return 1;
		struct pollfd p[4];
		int n = 0;
		if (a->hs == 0)
			p[n++] = (struct pollfd){a->fd, pollev(tls_want(a->c)), 0};
		if (b->hs == 0)
			p[n++] = (struct pollfd){b->fd, pollev(tls_want(b->c)), 0};
		if (rel) {
			p[n++] = (struct pollfd){rel->a, POLLIN, 0};
			p[n++] = (struct pollfd){rel->b, POLLIN, 0};
		}
		if (poll(p, (nfds_t)n, 2000) == 0)
			return 0;
	}
	return 0;
}

static unsigned char *pattern(size_t n, unsigned seed)
{
	unsigned char *p = malloc(n);
	uint32_t x = seed * 2654435761u + 1;

	for (size_t i = 0; i < n; i++) {
		x = x * 1103515245u + 12345u;
		p[i] = (unsigned char)(x >> 16);
	}
	return p;
}

/* Sends total bytes each way at once.  Returns 1 if both sides received
 * exactly what the other sent. */
static int transfer(struct side *s[2], size_t total, struct relay *rel)
{
	unsigned char *src[2] = {pattern(total, 1), pattern(total, 2)};
	unsigned char *dst[2] = {malloc(total), malloc(total)};
	size_t sent[2] = {0, 0}, got[2] = {0, 0};
	int wwant[2] = {0, 0}, rwant[2] = {0, 0}, res = 0;
	uint64_t t0 = ev_clock_ms();

	while (ev_clock_ms() - t0 < 20000) {
		for (int i = 0; i < 2; i++) {
			wwant[i] = 0;
			while (sent[i] < total) {
				ssize_t w = tls_write(s[i]->c, src[i] + sent[i], total - sent[i]);
				if (w > 0) {
					sent[i] += (size_t)w;
					continue;
				}
				if (w < 0 && errno == EAGAIN)
					wwant[i] = tls_want(s[i]->c);
				else
					goto out;
				break;
			}
			rwant[i] = 0;
			while (got[i] < total) {
				ssize_t r = tls_read(s[i]->c, dst[i] + got[i], total - got[i]);
				if (r > 0) {
					got[i] += (size_t)r;
					continue;
				}
				if (r < 0 && errno == EAGAIN)
					rwant[i] = tls_want(s[i]->c);
				else
					goto out;
				break;
			}
		}
		if (rel)
			while (relay_step(rel))
				;
		if (got[0] == total && got[1] == total)
			break;
		struct pollfd p[4];
		int n = 0;
		for (int i = 0; i < 2; i++) {
			short e = 0;
			if (wwant[i])
				e |= pollev(wwant[i]);
			if (rwant[i])
				e |= pollev(rwant[i]);
			if (e)
				p[n++] = (struct pollfd){s[i]->fd, e, 0};
		}
		if (rel) {
			p[n++] = (struct pollfd){rel->a, POLLIN, 0};
			p[n++] = (struct pollfd){rel->b, POLLIN, 0};
		}
		if (poll(p, (nfds_t)n, 2000) == 0)
			break;
	}
	res = got[0] == total && got[1] == total && memcmp(dst[0], src[1], total) == 0 &&
	      memcmp(dst[1], src[0], total) == 0;
out:
	for (int i = 0; i < 2; i++) {
		free(src[i]);
		free(dst[i]);
	}
	return res;
}

/* A fresh server/client pair on a socket pair; returns 1 if the
 * handshakes completed. */
static int connect_pair(struct tls_ctx *sctx, struct tls_ctx *cctx, const char *name,
			struct side *s, struct side *c)
{
	int sv[2];

	pair(sv);
	s->fd = sv[0];
	c->fd = sv[1];
	s->c = tls_conn_new(sctx, s->fd, NULL);
	c->c = tls_conn_new(cctx, c->fd, name);
	return handshake_both(c, s, NULL);
}

static void close_pair(struct side *s, struct side *c)
{
	tls_conn_free(s->c);
	tls_conn_free(c->c);
	close(s->fd);
	close(c->fd);
}

/* --- a TCP server in a child, for openssl s_client --- */

static int tcp_listen(int *port)
{
	struct sockaddr_in sa = {.sin_family = AF_INET};
	socklen_t sl = sizeof(sa);
	int one = 1, fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 8) < 0 ||
	    getsockname(fd, (struct sockaddr *)&sa, &sl) < 0) {
		perror("listen");
		exit(1);
	}
	*port = ntohs(sa.sin_port);
	return fd;
}

/* Child: one connection -- handshake, read a line, answer "echo: line",
 * close_notify.  Exit 0 on success, 3 if the handshake failed, 4 on other
 * errors. */
static void serve_one(struct tls_ctx *ctx, int lfd)
{
	char line[256], out[300];
	size_t len = 0;
	int fd = accept(lfd, NULL, NULL), r;
	struct tls_conn *c;

	if (fd < 0)
		_exit(4);
	nonblock(fd);
	c = tls_conn_new(ctx, fd, NULL);
	while ((r = tls_handshake(c)) == 0) {
		struct pollfd p = {fd, pollev(tls_want(c)), 0};
		if (poll(&p, 1, 5000) <= 0)
			_exit(4);
	}
	if (r < 0) {
		printf("# server: %s\n", tls_error(c));
		fflush(stdout);
		_exit(3);
	}
	while (len < sizeof(line) - 1 && !memchr(line, '\n', len)) {
		ssize_t n = tls_read(c, line + len, sizeof(line) - 1 - len);
		if (n > 0) {
			len += (size_t)n;
			continue;
		}
		if (n == 0 || errno != EAGAIN)
			_exit(4);
		struct pollfd p = {fd, pollev(tls_want(c)), 0};
		if (poll(&p, 1, 5000) <= 0)
			_exit(4);
	}
	line[len] = '\0';
	int olen = snprintf(out, sizeof(out), "echo: %s", line);
	size_t off = 0;
	while (off < (size_t)olen) {
		ssize_t n = tls_write(c, out + off, (size_t)olen - off);
		if (n > 0) {
			off += (size_t)n;
			continue;
		}
		if (errno != EAGAIN)
			_exit(4);
		struct pollfd p = {fd, pollev(tls_want(c)), 0};
		poll(&p, 1, 5000);
	}
	while (tls_close_notify(c) < 0 && errno == EAGAIN) {
		struct pollfd p = {fd, POLLOUT, 0};
		poll(&p, 1, 5000);
	}
	tls_conn_free(c);
	close(fd);
	_exit(0);
}

static pid_t fork_server(struct tls_ctx *ctx, int lfd)
{
	pid_t pid = fork();

	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		serve_one(ctx, lfd);
	}
	return pid;
}

static int wait_exit(pid_t pid)
{
	int st;

	if (waitpid(pid, &st, 0) < 0 || !WIFEXITED(st))
		return -1;
	return WEXITSTATUS(st);
}

/* Runs cmd through the shell; returns its output (malloc'd). */
static char *run(const char *cmd)
{
	FILE *f = popen(cmd, "r");
	char *out = calloc(1, 65536);
	size_t n = 0, r;

	if (!f)
		return out;
	while (n < 65535 && (r = fread(out + n, 1, 65535 - n, f)) > 0)
		n += r;
	pclose(f);
	return out;
}

static int tcp_connect(int port)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		close(fd);
		return -1;
	}
	nonblock(fd);
	return fd;
}

/* Our client against openssl s_server -rev (answers each line reversed).
 * Returns 1 if handshake and round trip worked; *verified gets
 * tls_peer_verified(). */
static int client_to_s_server(int port, struct tls_ctx *cctx, const char *name, int *verified,
			      char *err, size_t errlen)
{
	int fd = -1, r;
	struct tls_conn *c;
	char buf[64];
	size_t got = 0;

	for (int i = 0; i < 100 && fd < 0; i++) {
		fd = tcp_connect(port);
		if (fd < 0)
			usleep(50 * 1000);
	}
	if (fd < 0)
		return 0;
	c = tls_conn_new(cctx, fd, name);
	while ((r = tls_handshake(c)) == 0) {
		struct pollfd p = {fd, pollev(tls_want(c)), 0};
		if (poll(&p, 1, 5000) <= 0)
			break;
	}
	*verified = tls_peer_verified(c);
	snprintf(err, errlen, "%s", tls_error(c));
	if (r == 1) {
		while (tls_write(c, "loft\n", 5) < 0 && errno == EAGAIN) {
			struct pollfd p = {fd, pollev(tls_want(c)), 0};
			poll(&p, 1, 5000);
		}
		while (got < 5) {
			ssize_t n = tls_read(c, buf + got, sizeof(buf) - 1 - got);
			if (n > 0) {
				got += (size_t)n;
				continue;
			}
			if (n == 0 || errno != EAGAIN)
				break;
			struct pollfd p = {fd, pollev(tls_want(c)), 0};
			if (poll(&p, 1, 5000) <= 0)
				break;
		}
		buf[got] = '\0';
		if (strcmp(buf, "tfol\n") != 0)
			r = 0;
	}
	tls_conn_free(c);
	close(fd);
	return r == 1;
}

int main(void)
{
	char err[256], cmd[1024], *out;
	struct tls_ctx *sctx, *cctx, *cnone;
	struct side s, c;
	struct stat st1, st2;

	log_init("test_tls", getenv("LOFT_TEST_DEBUG") ? LOG_LVL_DEBUG : LOG_LVL_ERR);
	signal(SIGPIPE, SIG_IGN);
	snprintf(dir, sizeof(dir), "/tmp/loft-tls-XXXXXX");
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 1;
	}
	atexit(cleanup);
	snprintf(certpath, sizeof(certpath), "%s/cert.pem", dir);
	snprintf(keypath, sizeof(keypath), "%s/key.pem", dir);

	/* --- self-signed certificate --- */
	ok(tls_selfsigned_ensure(certpath, keypath, "bad host", err, sizeof(err)) < 0,
	   "selfsigned: a name with a space is refused");
	ok(access(certpath, F_OK) < 0, "selfsigned: nothing written for a bad name");
	uint64_t t0 = ev_clock_ms();
	ok(tls_selfsigned_ensure(certpath, keypath, HOST, err, sizeof(err)) == 0,
	   "selfsigned: generated");
	printf("# selfsigned EC P-256 key + cert: %llu ms\n",
	       (unsigned long long)(ev_clock_ms() - t0));
	ok(stat(keypath, &st1) == 0 && (st1.st_mode & 0777) == 0600, "selfsigned: key mode 0600");
	ok(stat(certpath, &st1) == 0, "selfsigned: cert written");
	ok(tls_selfsigned_ensure(certpath, keypath, HOST, err, sizeof(err)) == 0 &&
	       stat(certpath, &st2) == 0 && st1.st_ino == st2.st_ino,
	   "selfsigned: both present, left alone");
	snprintf(cmd, sizeof(cmd),
		 "openssl x509 -in %s -noout -subject -ext subjectAltName,basicConstraints "
		 "-enddate -serial 2>&1",
		 certpath);
	out = run(cmd);
	ok(strstr(out, "CN = " HOST) != NULL, "selfsigned: CN is the host name");
	ok(strstr(out, "DNS:" HOST) != NULL, "selfsigned: subjectAltName DNS");
	ok(strstr(out, "CA:FALSE") != NULL, "selfsigned: not a CA");
	{
		/* ten years, give or take the leap days */
		time_t now = time(NULL);
		struct tm tm;
		char year[16];
		gmtime_r(&now, &tm);
		snprintf(year, sizeof(year), "%d", tm.tm_year + 1900 + 10);
		ok(strstr(out, year) != NULL, "selfsigned: valid ten years");
	}
	free(out);
	snprintf(cmd, sizeof(cmd), "openssl pkey -in %s -noout -text 2>&1 | grep -c 'prime256v1'",
		 keypath);
	out = run(cmd);
	ok(out[0] >= '1' && out[0] <= '9', "selfsigned: EC P-256 key");
	free(out);
	{
		/* a missing key alone makes a new pair */
		char k2[160];
		snprintf(k2, sizeof(k2), "%s/k2.pem", dir);
		snprintf(cmd, sizeof(cmd), "cp %s %s/c2.pem", certpath, dir);
		if (system(cmd) != 0)
			printf("# cp failed\n");
		snprintf(cmd, sizeof(cmd), "%s/c2.pem", dir);
		ok(tls_selfsigned_ensure(cmd, k2, "other.test", err, sizeof(err)) == 0,
		   "selfsigned: key missing -> regenerated");
		struct tls_ctx *x = tls_server_new(cmd, k2, err, sizeof(err));
		ok(x != NULL, "selfsigned: regenerated pair matches");
		tls_ctx_free(x);
		ok(tls_server_new(certpath, k2, err, sizeof(err)) == NULL,
		   "server ctx: mismatched key refused");
		ok(strstr(err, "match") != NULL, "server ctx: mismatch explained");
	}
	ok(tls_server_new("/nonexistent.pem", keypath, err, sizeof(err)) == NULL,
	   "server ctx: missing cert refused");

	/* --- contexts --- */
	sctx = tls_server_new(certpath, keypath, err, sizeof(err));
	if (!ok(sctx != NULL, "server ctx from the self-signed pair"))
		printf("# %s\n", err);
	cctx = tls_client_new(certpath, TLS_VERIFY_REQUIRED, err, sizeof(err));
	ok(cctx != NULL, "client ctx with a CA file");
	cnone = tls_client_new(NULL, TLS_VERIFY_NONE, err, sizeof(err));
	ok(cnone != NULL, "client ctx, no verify, system store");
	errno = 0;
	ok(tls_conn_new(cctx, 0, NULL) == NULL && errno == EINVAL,
	   "verifying client without a name refused");
	if (!sctx || !cctx || !cnone)
		return tap_done();

	/* --- our client and server --- */
	ok(connect_pair(sctx, cctx, HOST, &s, &c), "handshake on a socket pair");
	ok(tls_peer_verified(c.c), "client: peer verified");
	is_str(tls_version(c.c), "TLSv1.2", "client: TLSv1.2");
	is_str(tls_version(s.c), "TLSv1.2", "server: TLSv1.2");
	ok(strstr(tls_cipher(s.c), "ECDHE-ECDSA") && strstr(tls_cipher(s.c), "CHACHA20-POLY1305"),
	   "server: ECDHE-ECDSA with ChaCha20-Poly1305, the server's first choice");
	printf("# cipher %s\n", tls_cipher(s.c));

	/* echo */
	{
		char buf[64];
		ssize_t n;
		ok(tls_write(c.c, "hello", 5) == 5, "client write");
		struct pollfd p = {s.fd, POLLIN, 0};
		poll(&p, 1, 2000);
		n = tls_read(s.c, buf, sizeof(buf));
		is_mem(buf, (size_t)(n > 0 ? n : 0), "hello", 5, "server read");
		ok(tls_write(s.c, buf, (size_t)n) == n, "server echo");
		p.fd = c.fd;
		poll(&p, 1, 2000);
		n = tls_read(c.c, buf, sizeof(buf));
		is_mem(buf, (size_t)(n > 0 ? n : 0), "hello", 5, "client reads the echo");
		n = tls_read(c.c, buf, sizeof(buf));
		ok(n < 0 && errno == EAGAIN && tls_want(c.c) == EV_READ,
		   "nothing more: EAGAIN, want read");
	}

	/* pending: bytes decrypted but unread make no fd event */
	{
		unsigned char *big = pattern(1000, 7), buf[1000];
		ok(tls_write(c.c, big, 1000) == 1000, "client writes one 1000-byte record");
		struct pollfd p = {s.fd, POLLIN, 0};
		poll(&p, 1, 2000);
		ok(tls_read(s.c, buf, 100) == 100, "server reads 100");
		is_int(tls_pending(s.c), 900, "tls_pending: 900 bytes buffered");
		p.revents = 0;
		is_int(poll(&p, 1, 0), 0, "...and the fd is not readable");
		ok(tls_read(s.c, buf + 100, 900) == 900 && memcmp(buf, big, 1000) == 0,
		   "pending bytes drained without the fd");
		is_int(tls_pending(s.c), 0, "tls_pending: 0 after draining");
		free(big);
	}

	/* 1 MB each way at once */
	{
		struct side *sides[2] = {&c, &s};
		uint64_t t1 = ev_clock_ms();
		ok(transfer(sides, 1 << 20, NULL), "1 MB both ways, intact");
		printf("# 1 MB each way over a socket pair: %llu ms\n",
		       (unsigned long long)(ev_clock_ms() - t1));
	}

	/* close_notify: a clean 0 */
	{
		char buf[8];
		ok(tls_close_notify(c.c) == 0, "client close_notify");
		struct pollfd p = {s.fd, POLLIN, 0};
		poll(&p, 1, 2000);
		is_int(tls_read(s.c, buf, sizeof(buf)), 0, "server reads 0 after close_notify");
		is_str(tls_error(s.c), "closed by peer", "server: clean close");
	}
	close_pair(&s, &c);

	/* eof without close_notify: also 0, said so */
	ok(connect_pair(sctx, cctx, HOST, &s, &c), "second handshake");
	{
		char buf[8];
		shutdown(c.fd, SHUT_WR);
		is_int(tls_read(s.c, buf, sizeof(buf)), 0, "server reads 0 at a bare EOF");
		is_str(tls_error(s.c), "eof without close_notify", "server: bare EOF said");
	}
	close_pair(&s, &c);

	/* wrong name, required: refused; opportunistic: connects, unverified */
	ok(!connect_pair(sctx, cctx, "other.example.test", &s, &c), "wrong name: refused");
	ok(strstr(tls_error(c.c), "CN") != NULL, "wrong name: error names the mismatch");
	printf("# %s\n", tls_error(c.c));
	close_pair(&s, &c);
	ok(connect_pair(sctx, cnone, "other.example.test", &s, &c), "no-verify client: connects");
	ok(!tls_peer_verified(c.c), "no-verify client: reports unverified");
	close_pair(&s, &c);
	{
		struct tls_ctx *opt = tls_client_new(certpath, TLS_VERIFY_NONE, err, sizeof(err));
		ok(connect_pair(sctx, opt, HOST, &s, &c) && tls_peer_verified(c.c),
		   "no-verify client with the right CA: reports verified");
		close_pair(&s, &c);
		tls_ctx_free(opt);
	}

	/* reload: a connection outlives the context it was made from */
	{
		struct tls_ctx *old = tls_server_new(certpath, keypath, err, sizeof(err));
		int sv[2];
		pair(sv);
		s.fd = sv[0];
		c.fd = sv[1];
		s.c = tls_conn_new(old, s.fd, NULL);
		tls_ctx_free(old);
		c.c = tls_conn_new(cctx, c.fd, HOST);
		ok(handshake_both(&c, &s, NULL), "connection outlives its freed context");
		close_pair(&s, &c);
	}

	/* garbage instead of a ClientHello */
	{
		int sv[2];
		pair(sv);
		struct tls_conn *g = tls_conn_new(sctx, sv[0], NULL);
		const char junk[] = "GET / HTTP/1.0\r\nHost: x\r\n\r\n";
		ssize_t wr = write(sv[1], junk, sizeof(junk) - 1);
		(void)wr;
		int r = tls_handshake(g);
		ok(r == -1, "HTTP request as ClientHello: handshake fails");
		printf("# %s\n", tls_error(g));
		ok(tls_handshake(g) == -1, "failed handshake stays failed");
		tls_conn_free(g);
		close(sv[0]);
		close(sv[1]);

		for (unsigned seed = 1; seed <= 20; seed++) {
			pair(sv);
			g = tls_conn_new(sctx, sv[0], NULL);
			unsigned char *rnd = pattern(4096, seed);
			if (seed % 2)
				rnd[0] = 0x16; /* looks like a handshake record */
			wr = write(sv[1], rnd, 4096);
			close(sv[1]);
			while ((r = tls_handshake(g)) == 0)
				;
			free(rnd);
			tls_conn_free(g);
			close(sv[0]);
			if (r != -1)
				break;
		}
		ok(r == -1, "20 random byte streams: each handshake fails cleanly");

		pair(sv);
		g = tls_conn_new(sctx, sv[0], NULL);
		close(sv[1]);
		ok(tls_handshake(g) == -1, "peer closes before hello: fails");
		tls_conn_free(g);
		close(sv[0]);
	}

	/* one byte per write through a relay */
	{
		int cs[2], ss[2];
		struct relay rel = {0};
		pair(cs);
		pair(ss);
		c.fd = cs[0];
		rel.a = cs[1];
		rel.b = ss[0];
		s.fd = ss[1];
		c.c = tls_conn_new(cctx, c.fd, HOST);
		s.c = tls_conn_new(sctx, s.fd, NULL);
		ok(handshake_both(&c, &s, &rel), "handshake through a one-byte relay");
		printf("# relay moved %ld single bytes in the handshake\n", rel.moved);
		struct side *sides[2] = {&c, &s};
		ok(transfer(sides, 20000, &rel), "20 KB both ways through the one-byte relay");
		tls_conn_free(c.c);
		tls_conn_free(s.c);
		close(cs[0]);
		close(cs[1]);
		close(ss[0]);
		close(ss[1]);
	}

	/* --- openssl s_client against our server --- */
	int port, lfd = tcp_listen(&port);
	child_pid = fork_server(sctx, lfd);
	snprintf(cmd, sizeof(cmd),
		 "printf 'hello\\n' | timeout 10 openssl s_client -connect 127.0.0.1:%d "
		 "-servername " HOST " -CAfile %s -verify_hostname " HOST " -ign_eof 2>&1",
		 port, certpath);
	out = run(cmd);
	is_int(wait_exit(child_pid), 0, "s_client: our server served it");
	child_pid = -1;
	ok(strstr(out, "Protocol  : TLSv1.2") || strstr(out, "Protocol  : TLSv1.3"),
	   "s_client: TLSv1.2 or 1.3");
	ok(strstr(out, "CN = " HOST) != NULL, "s_client: sees our CN");
	ok(strstr(out, "Verify return code: 0 (ok)") != NULL, "s_client: verifies our cert");
	ok(strstr(out, "echo: hello") != NULL, "s_client: data round trip");
	free(out);

	const char *old[] = {"-tls1_1", "-tls1"};
	for (int i = 0; i < 2; i++) {
		child_pid = fork_server(sctx, lfd);
		/* SECLEVEL=0 so that OpenSSL 3 offers the old version at all;
		 * the refusal then has to come from our side */
		snprintf(cmd, sizeof(cmd),
			 "timeout 10 openssl s_client -connect 127.0.0.1:%d %s "
			 "-cipher 'DEFAULT:@SECLEVEL=0' </dev/null 2>&1",
			 port, old[i]);
		out = run(cmd);
		snprintf(err, sizeof(err), "s_client %s: our server refuses the handshake", old[i]);
		is_int(wait_exit(child_pid), 3, err);
		child_pid = -1;
		snprintf(err, sizeof(err), "s_client %s: no session", old[i]);
		ok(strstr(out, "Cipher is (NONE)") || !strstr(out, "Protocol  :"), err);
		free(out);
	}
	close(lfd);

	/* --- our client against openssl s_server --- */
	{
		int sport, verified;
		int pfd = tcp_listen(&sport);
		close(pfd);
		char portarg[16];
		snprintf(portarg, sizeof(portarg), "%d", sport);
		child_pid = fork();
		if (child_pid == 0) {
			int null = open("/dev/null", O_RDWR);
			prctl(PR_SET_PDEATHSIG, SIGTERM);
			dup2(null, 0);
			dup2(null, 1);
			dup2(null, 2);
			execlp("openssl", "openssl", "s_server", "-accept", portarg, "-cert",
			       certpath, "-key", keypath, "-rev", (char *)NULL);
			_exit(127);
		}
		ok(client_to_s_server(sport, cctx, HOST, &verified, err, sizeof(err)),
		   "client -> s_server: good name connects");
		ok(verified, "client -> s_server: verified");
		ok(!client_to_s_server(sport, cctx, "wrong.example.test", &verified, err,
				       sizeof(err)),
		   "client -> s_server: bad name refused");
		ok(strstr(err, "verification failed") != NULL, "client -> s_server: says why");
		ok(client_to_s_server(sport, cnone, "wrong.example.test", &verified, err,
				      sizeof(err)),
		   "client -> s_server: no-verify mode connects");
		ok(!verified, "client -> s_server: no-verify reports unverified");
		struct tls_ctx *sys = tls_client_new(NULL, TLS_VERIFY_REQUIRED, err, sizeof(err));
		ok(sys != NULL, "client ctx on the system store");
		ok(sys && !client_to_s_server(sport, sys, HOST, &verified, err, sizeof(err)),
		   "client -> s_server: self-signed not trusted by the system store");
		tls_ctx_free(sys);
		kill(child_pid, SIGTERM);
		waitpid(child_pid, NULL, 0);
		child_pid = -1;
	}

	tls_ctx_free(sctx);
	tls_ctx_free(cctx);
	tls_ctx_free(cnone);
	return tap_done();
}
