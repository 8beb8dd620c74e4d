/* lib/net/smtp_client against a scripted server on loopback that writes
 * every reply one byte at a time: EHLO keywords, a pipelined transaction
 * with one recipient refused, the body dot-stuffed with bare LF made
 * CRLF, QUIT; and the bad servers (garbage, an over-long line). */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "evloop.h"
#include "smtp_client.h"
#include "smtp_reply.h"
#include "tap.h"

struct server {
	int lfd;
	int mode; /* 0 normal, 1 garbage, 2 long line */
	char got[8192];
	size_t gotlen;
};

static void send_slow(int fd, const char *s)
{
	for (; *s; s++)
		if (write(fd, s, 1) != 1)
			return;
}

/* Reads one line (CRLF-terminated) into the transcript; returns it. */
static char *read_line(int fd, struct server *sv, char *line, size_t max)
{
	size_t n = 0;
	char c;

	while (n + 1 < max && read(fd, &c, 1) == 1) {
		line[n++] = c;
		if (sv->gotlen + 1 < sizeof(sv->got))
			sv->got[sv->gotlen++] = c;
		if (c == '\n')
			break;
	}
	line[n] = 0;
	return line;
}

static void *serve(void *arg)
{
	struct server *sv = arg;
	int fd = accept(sv->lfd, NULL, NULL), one = 1;
	char line[2048];

	if (fd < 0)
		return NULL;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (sv->mode == 1) {
		send_slow(fd, "hello there\r\n");
		read_line(fd, sv, line, sizeof(line));
		close(fd);
		return NULL;
	}
	if (sv->mode == 2) {
		char big[5000];
		memset(big, 'x', sizeof(big));
		memcpy(big, "220 ", 4);
		big[sizeof(big) - 1] = 0;
		send_slow(fd, big);
		read_line(fd, sv, line, sizeof(line));
		close(fd);
		return NULL;
	}
	send_slow(fd, "220 test ESMTP\r\n");
	read_line(fd, sv, line, sizeof(line)); /* EHLO */
	send_slow(fd, "250-test\r\n250-PIPELINING\r\n250-SIZE 100000\r\n250 8BITMIME\r\n");
	/* the whole group comes before any reply: MAIL, RCPT, RCPT, DATA */
	for (int i = 0; i < 4; i++)
		read_line(fd, sv, line, sizeof(line));
	send_slow(fd, "250 2.1.0 ok\r\n550 5.1.1 no such user\r\n250 2.1.5 ok\r\n354 go\r\n");
	for (;;) {
		read_line(fd, sv, line, sizeof(line));
		if (strcmp(line, ".\r\n") == 0 || !line[0])
			break;
	}
	send_slow(fd, "250-2.0.0 queued\r\n250 2.0.0 as 1\r\n");
	read_line(fd, sv, line, sizeof(line)); /* QUIT */
	send_slow(fd, "221 bye\r\n");
	close(fd);
	return NULL;
}

struct run {
	struct evloop *ev;
	struct smtpc_message m;
	int ready, done, closed;
	struct smtpc_status st[2], why;
};

static const char *body = "Subject: t\r\n\r\n.leading dot\r\nbare\nlf\r\n..two\r\nlast";

static long rd(void *arg, char *buf, size_t n, uint64_t off)
{
	size_t len = strlen(body);

	(void)arg;
	if (off >= len)
		return 0;
	/* three bytes at a time: the client must keep state across reads */
	if (n > 3)
		n = 3;
	if (n > len - off)
		n = (size_t)(len - off);
	memcpy(buf, body + off, n);
	return (long)n;
}

static void on_ready(struct smtp_client *cl, void *arg)
{
	struct run *r = arg;

	r->ready++;
	smtp_client_send(cl, &r->m);
}

static void on_done(struct smtp_client *cl, void *arg, const struct smtpc_status *st, size_t n)
{
	struct run *r = arg;

	r->done++;
	memcpy(r->st, st, n * sizeof(*st));
	smtp_client_quit(cl);
}

static void on_closed(struct smtp_client *cl, void *arg, const struct smtpc_status *why)
{
	struct run *r = arg;

	(void)cl;
	r->closed++;
	r->why = *why;
	ev_stop(r->ev);
}

static const struct smtpc_cbs cbs = {on_ready, on_done, on_closed};

static void run_one(int mode, struct run *r, struct server *sv)
{
	struct sockaddr_in sa = {.sin_family = AF_INET};
	socklen_t sl = sizeof(sa);
	pthread_t th;
	const char *rcpts[] = {"bad@example.net", "good@example.net"};
	struct smtpc_config cfg = {
	    .helo = "client.test", .tls_mode = SMTPC_TLS_NONE, .timeout_ms = 20000};

	memset(sv, 0, sizeof(*sv));
	sv->mode = mode;
	sv->lfd = socket(AF_INET, SOCK_STREAM, 0);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	bind(sv->lfd, (struct sockaddr *)&sa, sizeof(sa));
	listen(sv->lfd, 1);
	getsockname(sv->lfd, (struct sockaddr *)&sa, &sl);
	pthread_create(&th, NULL, serve, sv);
	memset(r, 0, sizeof(*r));
	r->ev = ev_new();
	r->m = (struct smtpc_message){.mail_from = "a@example.org",
				      .rcpts = rcpts,
				      .nrcpts = 2,
				      .size = strlen(body),
				      .read = rd};
	smtp_client_connect(r->ev, (struct sockaddr *)&sa, sizeof(sa), &cfg, &cbs, r);
	ev_run(r->ev);
	pthread_join(th, NULL);
	close(sv->lfd);
	ev_free(r->ev);
}

int main(void)
{
	struct run r;
	struct server sv;

	/* the scripted server writes on after the client hung up */
	signal(SIGPIPE, SIG_IGN);
	run_one(0, &r, &sv);
	ok(r.ready == 1 && r.done == 1 && r.closed == 1,
	   "one session, one transaction, closed once");
	ok(r.st[0].code == 550 && !r.st[0].temp && strcmp(r.st[0].enh, "5.1.1") == 0,
	   "refused recipient: permanent 550 5.1.1");
	ok(r.st[1].code == 250 && strstr(r.st[1].text, "250 2.0.0 queued") != NULL,
	   "accepted recipient gets the end-of-data reply");
	ok(strstr(sv.got, "EHLO client.test\r\n") != NULL, "EHLO sent");
	ok(strstr(sv.got, "MAIL FROM:<a@example.org> SIZE=") != NULL, "SIZE given");
	ok(strstr(sv.got, "\r\n..leading dot\r\nbare\r\nlf\r\n...two\r\nlast\r\n.\r\n") != NULL,
	   "body dot-stuffed, bare LF made CRLF, ended with CRLF.CRLF");
	ok(strstr(sv.got, "QUIT\r\n") != NULL && r.why.code == 221, "QUIT and 221");

	run_one(1, &r, &sv);
	ok(r.ready == 0 && r.closed == 1 && r.why.temp && strstr(r.why.text, "malformed reply"),
	   "garbage greeting: temporary, named");
	run_one(2, &r, &sv);
	ok(r.ready == 0 && r.closed == 1 && r.why.temp &&
	       strstr(r.why.text, "reply line longer than"),
	   "over-long reply line: temporary, named");
	return tap_done();
}
