/*
 * board/netwatch/probe_port25.c against real sockets: a banner fed one byte
 * at a time, a reply that is not a greeting, garbage, an over-long line
 * with no newline, a silent server, a close without a word, a refused
 * port, a port whose SYNs go unanswered.  And the banner classifier on a
 * table.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "evloop.h"
#include "log.h"
#include "../../board/netwatch/netwatch.h"
#include "tap.h"

static struct evloop *ev;

struct got {
	int calls;
	enum netv_port25 r;
	char detail[400];
};

static void on_result(void *arg, enum netv_port25 r, const char *detail)
{
	struct got *g = arg;

	g->calls++;
	g->r = r;
	snprintf(g->detail, sizeof(g->detail), "%s", detail);
	ev_stop(ev);
}

static int listener(struct sockaddr_in *sa, int backlog)
{
	socklen_t sl = sizeof(*sa);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	memset(sa, 0, sizeof(*sa));
	sa->sin_family = AF_INET;
	sa->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0 || bind(fd, (struct sockaddr *)sa, sizeof(*sa)) < 0 || listen(fd, backlog) < 0 ||
	    getsockname(fd, (struct sockaddr *)sa, &sl) < 0) {
		perror("listener");
		exit(1);
	}
	return fd;
}

/* A child that accepts one connection, sends what (one byte at a time
 * when slow), then waits for QUIT; exits 0 when QUIT came, 1 if not. */
static pid_t serve(int lfd, const char *what, size_t len, int slow, int silent_ms)
{
	pid_t pid = fork();

	if (pid != 0)
		return pid;
	int c = accept(lfd, NULL, NULL);
	char buf[64];
	ssize_t n;

	if (c < 0)
		_exit(2);
	if (silent_ms)
		usleep((useconds_t)silent_ms * 1000);
	for (size_t i = 0; i < len; i += slow ? 1 : len) {
		if (write(c, what + i, slow ? 1 : len) < 0)
			_exit(3);
		if (slow)
			usleep(2000);
	}
	if (len == 0) {
		close(c);
		_exit(1);
	}
	struct timeval tv = {2, 0};
	setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	n = read(c, buf, sizeof(buf));
	_exit(n >= 4 && memcmp(buf, "QUIT", 4) == 0 ? 0 : 1);
}

static struct got probe(const struct sockaddr_in *sa, unsigned timeout_ms)
{
	struct got g = {0};

	nw_p25_start(ev, (const struct sockaddr *)sa, sizeof(*sa), timeout_ms, on_result, &g);
	ev_run(ev);
	return g;
}

static int child_status(pid_t pid)
{
	int st = 0;

	waitpid(pid, &st, 0);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void test_servers(void)
{
	static const char banner[] = "220 mx.remote.test ESMTP ready\r\n";
	struct sockaddr_in sa;
	struct got g;
	char big[600];
	int lfd;
	pid_t pid;

	lfd = listener(&sa, 4);
	pid = serve(lfd, banner, sizeof(banner) - 1, 1, 0);
	g = probe(&sa, 5000);
	is_int(g.calls, 1, "banner byte by byte: one result");
	is_int(g.r, NETV_P25_OPEN, "banner byte by byte: open");
	ok(strstr(g.detail, "220 mx.remote.test ESMTP ready") != NULL, "banner in the detail");
	is_int(child_status(pid), 0, "the probe said QUIT");

	static const char multi[] = "220-mx.remote.test first\r\n220 second\r\n";
	pid = serve(lfd, multi, sizeof(multi) - 1, 0, 0);
	g = probe(&sa, 5000);
	is_int(g.r, NETV_P25_OPEN, "multi-line greeting: open");
	child_status(pid);

	static const char refuse[] = "554 5.7.1 no mail from your network\r\n";
	pid = serve(lfd, refuse, sizeof(refuse) - 1, 1, 0);
	g = probe(&sa, 5000);
	is_int(g.r, NETV_P25_OPEN, "554 greeting: the port is open all the same");
	ok(strstr(g.detail, "554 5.7.1") != NULL, "the refusal is kept as evidence");
	child_status(pid);

	static const char http[] = "HTTP/1.1 400 Bad Request\r\n";
	pid = serve(lfd, http, sizeof(http) - 1, 1, 0);
	g = probe(&sa, 5000);
	is_int(g.r, NETV_P25_GARBAGE, "HTTP answer: garbage");
	child_status(pid);

	static const char ctl[] = "\x00\x01\xff\x1b[2J\r\n";
	pid = serve(lfd, ctl, sizeof(ctl) - 1, 0, 0);
	g = probe(&sa, 5000);
	is_int(g.r, NETV_P25_GARBAGE, "binary answer: garbage");
	ok(strchr(g.detail, '\x1b') == NULL && strchr(g.detail, '\xff') == NULL,
	   "control bytes never reach the evidence");
	child_status(pid);

	memset(big, 'A', sizeof(big));
	pid = serve(lfd, big, sizeof(big), 0, 0);
	g = probe(&sa, 5000);
	is_int(g.calls, 1, "600 bytes without a newline: a result, no hang");
	is_int(g.r, NETV_P25_GARBAGE, "600 bytes without a newline: garbage");
	ok(strlen(g.detail) < 200, "the detail is bounded");
	child_status(pid);

	/* a banner split with a pause longer than nothing, shorter than the timeout */
	pid = serve(lfd, banner, sizeof(banner) - 1, 1, 100);
	g = probe(&sa, 5000);
	is_int(g.r, NETV_P25_OPEN, "late banner: open");
	child_status(pid);

	pid = serve(lfd, "", 0, 0, 0);
	g = probe(&sa, 5000);
	is_int(g.r, NETV_P25_GARBAGE, "closed without a word: garbage");
	ok(strstr(g.detail, "without a banner") != NULL, "says so");
	child_status(pid);

	/* accepts, then says nothing before the timeout */
	pid = serve(lfd, banner, sizeof(banner) - 1, 0, 1500);
	g = probe(&sa, 300);
	is_int(g.r, NETV_P25_GARBAGE, "silent server: garbage (unknown), not blocked");
	ok(strstr(g.detail, "no banner") != NULL, "says no banner");
	kill(pid, SIGKILL);
	child_status(pid);
	close(lfd);

	/* nobody listens: refused, which an ISP filter does too */
	g = probe(&sa, 1000);
	is_int(g.r, NETV_P25_FILTERED, "refused: filtered");

	/* a full accept queue: SYNs unanswered, the connect times out */
	lfd = listener(&sa, 0);
	int fill[3];
	for (int i = 0; i < 3; i++) {
		fill[i] = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		connect(fill[i], (struct sockaddr *)&sa, sizeof(sa));
	}
	usleep(100000);
	g = probe(&sa, 300);
	is_int(g.r, NETV_P25_BLOCKED, "no answer to SYN: blocked");
	for (int i = 0; i < 3; i++)
		close(fill[i]);
	close(lfd);
}

static void test_classify(void)
{
	static const struct {
		const char *in;
		enum netv_port25 want;
	} cases[] = {
	    {"220 ok\r\n", NETV_P25_OPEN},    {"220\r\n", NETV_P25_OPEN},
	    {"220", NETV_P25_OPEN},	      {"220-more\r\n", NETV_P25_OPEN},
	    {"421 busy\r\n", NETV_P25_OPEN},  {"554\n", NETV_P25_OPEN},
	    {"2200 x\r\n", NETV_P25_GARBAGE}, {"22\r\n", NETV_P25_GARBAGE},
	    {"", NETV_P25_GARBAGE},	      {"120 x\r\n", NETV_P25_GARBAGE},
	    {"620 x\r\n", NETV_P25_GARBAGE},  {"2a0 x", NETV_P25_GARBAGE},
	    {" 220 x", NETV_P25_GARBAGE},     {"SSH-2.0-OpenSSH\r\n", NETV_P25_GARBAGE},
	};
	char detail[64], what[96];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(what, sizeof(what), "classify \"%.*s\"", (int)strcspn(cases[i].in, "\r\n"),
			 cases[i].in);
		is_int(nw_p25_classify(cases[i].in, strlen(cases[i].in), detail, sizeof(detail)),
		       cases[i].want, what);
	}
	is_int(nw_p25_classify("220 ok", 6, detail, 4), NETV_P25_OPEN, "small detail buffer");
	is_int(strlen(detail), 3, "detail truncated");
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	log_init("test_netwatch_probe", LOG_LVL_ERR);
	ev = ev_new();
	test_classify();
	test_servers();
	ev_free(ev);
	return tap_done();
}
