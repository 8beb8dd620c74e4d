/*
 * smtpd/session.c driven as OpenSMTPD's smtpscript does: scripts of lines
 * sent and reply codes expected, on a socketpair with the real event loop,
 * conn, parser, data reader and a real store in a temporary directory.
 * Each script runs twice: written whole, and one byte per write.
 */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../../smtpd/smtpd.h"
#include "authcheck.h"
#include "authlimit.h"
#include "evloop.h"
#include "listener.h"
#include "log.h"
#include "store.h"
#include "store_users.h"
#include "store_mailbox.h"
#include "tap.h"

static struct smtpd srv;
static struct ev_timer *stop_timer;

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

/* Appends what the server sent so far to out. */
static void drain(int fd, char *out, size_t outlen)
{
	size_t have = strlen(out);
	ssize_t n;

	while (have + 1 < outlen && (n = read(fd, out + have, outlen - have - 1)) > 0)
		have += (size_t)n;
	out[have] = '\0';
}

/* The final line of each reply as "250 2.1.0" (code and enhanced code),
 * space-separated, continuation lines skipped. */
static void codes(const char *in, char *out, size_t outlen)
{
	size_t o = 0;

	out[0] = '\0';
	for (const char *l = in; *l;) {
		const char *e = strstr(l, "\r\n");
		if (!e)
			break;
		if (e - l >= 4 && l[3] == ' ') {
			/* "250 2.1.0 Ok" -> "250"; with an enhanced code "250/2.1.0" */
			int n = snprintf(out + o, outlen - o, "%s%.3s", o ? " " : "", l);
			o += (size_t)n;
		}
		l = e + 2;
	}
}

struct script {
	const char *name;
	const char *send;
	const char *expect; /* reply codes, space-separated */
};

static const struct script scripts[] = {
    {"whole transaction",
     "EHLO client.test\r\nMAIL FROM:<x@remote.example>\r\nRCPT TO:<u@example.org>\r\nDATA\r\n"
     "Subject: s\r\n\r\n..dot\r\n.\r\nQUIT\r\n",
     "220 250 250 250 354 250 221"},
    {"sequence errors",
     "MAIL FROM:<x@remote.example>\r\nHELO client.test\r\nRCPT TO:<u@example.org>\r\nDATA\r\n"
     "MAIL FROM:<x@remote.example>\r\nMAIL FROM:<x@remote.example>\r\nRSET\r\n"
     "QUIT\r\n",
     "220 503 250 503 503 250 503 250 221"},
    {"relay and unknown user",
     "EHLO c.test\r\nMAIL FROM:<x@remote.example>\r\nRCPT TO:<v@remote.example>\r\n"
     "RCPT TO:<nobody@example.org>\r\nRCPT TO:<u%remote@example.org>\r\nRCPT TO:<u@[127.0.0.1]>\r\n"
     "RCPT TO:<@a:u@example.org>\r\nRCPT TO:<U@EXAMPLE.ORG>\r\nQUIT\r\n",
     "220 250 250 550 550 550 550 550 250 221"},
    {"smuggling is body",
     "EHLO c.test\r\nMAIL FROM:<x@remote.example>\r\nRCPT TO:<u@example.org>\r\nDATA\r\n"
     "a\n.\nMAIL FROM:<y@remote.example>\r\n.\r\nNOOP\r\n",
     "220 250 250 250 354 550 250"},
    {"bdat",
     "EHLO c.test\r\nMAIL FROM:<x@remote.example>\r\nRCPT TO:<u@example.org>\r\n"
     "BDAT 5\r\nS: x\r"
     "BDAT 6 LAST\r\n\n\r\nb\r\n"
     "NOOP\r\n",
     "220 250 250 250 250 250 250"},
    {"bdat without transaction stays in step", "EHLO c.test\r\nBDAT 6\r\nQUIT\r\nNOOP\r\n",
     "220 250 503 250"},
    {"auth not on mx, no starttls without tls",
     "EHLO c.test\r\nAUTH PLAIN AHVAZXhhbXBsZS5vcmcAcHc=\r\nSTARTTLS\r\nVRFY u\r\nEXPN u\r\n"
     "HELP\r\nNOOP x\r\n",
     "220 250 503 503 252 502 214 250"},
    {"garbage and long lines",
     "EHLO c.test\r\nFOO\r\nNO\001OP\r\nNOOP\n"
     "NOOP "
     "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
     "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
     "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
     "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
     "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
     "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
     "\r\nNOOP\r\n",
     "220 250 500 500 500 500 250"},
    {"too many errors", "EHLO c.test\r\nA\r\nB\r\nC\r\nD\r\nE\r\nF\r\nG\r\nH\r\nNOOP\r\n",
     "220 250 500 500 500 500 500 500 500 500 421"},
    {"size and params",
     "EHLO c.test\r\nMAIL FROM:<x@remote.example> SIZE=100000\r\nMAIL FROM:<x@remote.example> "
     "SIZE=100 BODY=BINARYMIME\r\nMAIL FROM:<x@remote.example> FOO=1\r\n"
     "MAIL FROM:<x@remote.example> SIZE=100 BODY=8BITMIME SMTPUTF8\r\nQUIT\r\n",
     "220 250 552 555 555 250 221"},
    {"too many recipients",
     "EHLO c.test\r\nMAIL FROM:<x@remote.example>\r\nRCPT TO:<u@example.org>\r\n"
     "RCPT TO:<u@example.org>\r\nRCPT TO:<u@example.org>\r\nRCPT TO:<u@example.org>\r\n"
     "RCPT TO:<u@example.org>\r\n",
     "220 250 250 250 250 250 250 452"},
    {"empty and bare-lf messages",
     "EHLO c.test\r\nMAIL FROM:<>\r\nRCPT TO:<u@example.org>\r\nDATA\r\n.\r\n"
     "MAIL FROM:<>\r\nRCPT TO:<u@example.org>\r\nDATA\r\nx\ny\r\n.\r\nQUIT\r\n",
     "220 250 250 250 354 550 250 250 354 550 221"},
};

static void run_script(const struct script *sc, int bytewise, int n_before)
{
	char got[16384] = "", cs[1024], what[1400];
	int sv[2];
	size_t len = strlen(sc->send);

	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0)
		bug("socketpair");
	fcntl(sv[1], F_SETFL, O_NONBLOCK);
	ok(listener_session_begin(srv.lsn, "unknown") == 0, "session within the limits");
	smtp_session_accept(&srv, sv[0], NULL, "unknown", PORT_MX, 0);
	pump(5);
	if (bytewise) {
		for (size_t i = 0; i < len; i++) {
			if (write(sv[1], sc->send + i, 1) != 1)
				break;
			pump(1);
			drain(sv[1], got, sizeof(got));
		}
	} else if (write(sv[1], sc->send, len) != (ssize_t)len) {
		bug("short write");
	}
	/* Run the loop until as many replies as expected came and no commit
	 * is in flight (10 s at most): the session may not even have
	 * submitted its message yet when the loop first looks, and a durable
	 * commit on a loaded machine takes far longer than one short pump
	 * (waiting only while commit_inflight() > 0 lost the last 250 about
	 * one run in two there). */
	size_t want = 1;
	for (const char *e = sc->expect; *e; e++)
		want += *e == ' ';
	for (int i = 0; i < 5000; i++) {
		size_t n = 0;
		pump(2);
		drain(sv[1], got, sizeof(got));
		codes(got, cs, sizeof(cs));
		for (const char *e = cs; *e; e++)
			n += *e == ' ';
		if (cs[0] && n + 1 >= want && smtp_commit_inflight(&srv) == 0)
			break;
	}
	/* and a little longer, for any reply that should not come */
	pump(30);
	drain(sv[1], got, sizeof(got));
	close(sv[1]);
	pump(5);
	codes(got, cs, sizeof(cs));
	snprintf(what, sizeof(what), "%s (%s): %s", sc->name, bytewise ? "bytewise" : "whole", cs);
	ok(strcmp(cs, sc->expect) == 0, what);
	(void)n_before;
}

int main(void)
{
	char dir[] = "/tmp/test_smtp_session.XXXXXX", path[128], err[256];
	struct authlimit_conf ac;

	signal(SIGPIPE, SIG_IGN); /* the server may close before the script ends */
	log_init("test_smtp_session", LOG_LVL_ERR);
	if (!mkdtemp(dir))
		bug("mkdtemp");
	snprintf(path, sizeof(path), "%s/loft.db", dir);
	if (store_open(path, &srv.st, err, sizeof(err)) < 0)
		bug("store_open: %s", err);
	ok(store_domain_add(srv.st, "example.org") == 0, "domain added");
	ok(store_user_add(srv.st, "u@example.org", "password-123", NULL) == 0, "user added");

	srv.ev = ev_new();
	stop_timer = ev_timer_new(srv.ev, stop_cb, NULL);
	authlimit_conf_default(&ac);
	srv.al = authlimit_new(&ac);
	snprintf(srv.hostname, sizeof(srv.hostname), "test.example");
	srv.lim = (struct smtpd_limits){
	    .max_line = 512,
	    .max_data_line = 1000,
	    .max_message_size = 10000,
	    .max_recipients = 4,
	    .max_commands = 1000,
	    .max_bad_commands = 8,
	    .max_connections = 10,
	    .max_per_ip = 10,
	    .timeout_command_s = 30,
	    .timeout_data_s = 30,
	    .timeout_data_total_s = 60,
	    .timeout_envelope_s = 60,
	    .max_session_s = 60,
	    .handshake_timeout_s = 60,
	    .max_body_in_flight = 1 << 20,
	    .greeting_delay_ms = 0,
	};
	srv.lsn =
	    listener_new(srv.ev,
			 &(struct listener_conf){.proto = "smtp",
						 .max_sessions = (unsigned)srv.lim.max_connections,
						 .max_per_ip = (unsigned)srv.lim.max_per_ip},
			 smtp_session_accept, &srv);
	srv.ac = authcheck_new(srv.ev, path, 1, err, sizeof(err));
	if (!srv.ac)
		bug("authcheck_new: %s", err);
	if (smtp_commit_start(&srv, path, err, sizeof(err)) < 0)
		bug("smtp_commit_start: %s", err);

	for (size_t i = 0; i < sizeof(scripts) / sizeof(scripts[0]); i++) {
		run_script(&scripts[i], 0, 0);
		run_script(&scripts[i], 1, 0);
	}
	is_int(listener_sessions(srv.lsn), 0, "every session freed");

	/* what the whole and bytewise runs stored: identical messages */
	{
		int64_t uid;
		struct store_mailbox mb;
		ok(store_user_find(srv.st, "u@example.org", &uid) == 0 &&
		       store_mailbox_get(srv.st, uid, "INBOX", &mb) == 0,
		   "inbox found");
		/* "whole transaction" and "bdat", each twice */
		is_int(mb.messages, 4, "four messages stored");
	}

	smtp_commit_stop(&srv);
	listener_free(srv.lsn);
	authcheck_free(srv.ac);
	store_close(srv.st);
	authlimit_free(srv.al);
	ev_timer_free(srv.trim);
	ev_timer_free(srv.greet_save);
	ev_timer_free(stop_timer);
	ev_free(srv.ev);
	snprintf(path, sizeof(path), "rm -rf %s", dir);
	if (system(path) != 0)
		return 1;
	return tap_done();
}
