/*
 * lib/dns against a real dnsmasq on 127.0.0.1, plus two tiny servers of
 * our own for what dnsmasq will not do: answer SERVFAIL, and stay silent.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "config.h"
#include "dns.h"
#include "evloop.h"
#include "log.h"
#include "tap.h"

static pid_t dnsmasq_pid = -1, servfail_pid = -1;
static struct evloop *ev;

static void kill_children(void)
{
	if (dnsmasq_pid > 0) {
		kill(dnsmasq_pid, SIGTERM);
		waitpid(dnsmasq_pid, NULL, 0);
		dnsmasq_pid = -1;
	}
	if (servfail_pid > 0) {
		kill(servfail_pid, SIGTERM);
		waitpid(servfail_pid, NULL, 0);
		servfail_pid = -1;
	}
}

static void on_fatal_signal(int sig)
{
	kill_children();
	signal(sig, SIG_DFL);
	raise(sig);
}

/* A UDP socket on a free loopback port; returns the fd (bound). */
static int udp_bound(int *port)
{
	struct sockaddr_in sa = {.sin_family = AF_INET};
	socklen_t sl = sizeof(sa);
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    getsockname(fd, (struct sockaddr *)&sa, &sl) < 0) {
		perror("udp bind");
		exit(1);
	}
	*port = ntohs(sa.sin_port);
	return fd;
}

static int free_port(void)
{
	int port, fd = udp_bound(&port);

	close(fd);
	return port;
}

static void start_dnsmasq(int port)
{
	char portarg[32];
	char *argv[128];
	int n = 0;

	snprintf(portarg, sizeof(portarg), "--port=%d", port);
	argv[n++] = "dnsmasq";
	argv[n++] = "--no-daemon";
	argv[n++] = portarg;
	argv[n++] = "--listen-address=127.0.0.1";
	argv[n++] = "--bind-interfaces";
	argv[n++] = "--no-resolv";
	argv[n++] = "--no-hosts";
	argv[n++] = "--conf-file=/dev/null";
	argv[n++] = "--user=root";
	argv[n++] = "--group=root";
	argv[n++] = "--local=/test/";
	argv[n++] = "--local=/2.0.192.in-addr.arpa/";
	argv[n++] = "--host-record=host.test,192.0.2.1,2001:db8::1";
	argv[n++] = "--host-record=v4only.test,192.0.2.2";
	argv[n++] = "--host-record=mx1.test,192.0.2.11";
	argv[n++] = "--mx-host=mx.test,mx2.test,20";
	argv[n++] = "--mx-host=mx.test,mx1.test,10";
	argv[n++] = "--mx-host=mx.test,mx3.test,30";
	argv[n++] = "--mx-host=tie.test,b.tie.test,5";
	argv[n++] = "--mx-host=tie.test,a.tie.test,5";
	argv[n++] = "--txt-record=txt.test,v=spf1 ,-all";
	argv[n++] = "--txt-record=txt.test,single";
	/* one record of two 200-byte strings: 400 bytes once joined */
	static char longtxt[512];
	snprintf(longtxt, sizeof(longtxt), "--txt-record=long.test,%0200d,%0200d", 0, 0);
	for (size_t i = 0; i < 200; i++) {
		longtxt[23 + i] = 'a';
		longtxt[23 + 201 + i] = 'b';
	}
	argv[n++] = longtxt;
	/* SRV: two of equal priority (heavier first), one worse, and a
	 * "not offered" record (target ".") */
	argv[n++] = "--srv-host=_imaps._tcp.srv.test,imap2.test,993,10,5";
	argv[n++] = "--srv-host=_imaps._tcp.srv.test,imap3.test,9993,20,100";
	argv[n++] = "--srv-host=_imaps._tcp.srv.test,imap1.test,993,10,50";
	argv[n++] = "--srv-host=_submission._tcp.srv.test,mail.srv.test,587,0,1";
	argv[n++] = "--srv-host=_pop3._tcp.srv.test,.,0,0,0";
	argv[n++] = "--ptr-record=1.2.0.192.in-addr.arpa,alias.test";
	argv[n++] = "--ptr-record=1.2.0.192.in-addr.arpa,host.test";
	/* RFC 7505 null MX: preference 0, root name */
	argv[n++] = "--dns-rr=nullmx.test,15,000000";
	/* 70 A records: too big for UDP, so c-ares must retry over TCP */
	static char big[70][48];
	for (int i = 0; i < 70; i++) {
		snprintf(big[i], sizeof(big[i]), "--host-record=big.test,10.0.%d.%d", i / 10,
			 i % 10 + 1);
		argv[n++] = big[i];
	}
	argv[n] = NULL;

	dnsmasq_pid = fork();
	if (dnsmasq_pid < 0) {
		perror("fork");
		exit(1);
	}
	if (dnsmasq_pid == 0) {
		int null = open("/dev/null", O_RDWR);
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		dup2(null, 1);
		dup2(null, 2);
		execv("/usr/sbin/dnsmasq", argv);
		_exit(127);
	}
}

/* Answers every query with SERVFAIL, echoing the question. */
static void start_servfail(int fd)
{
	servfail_pid = fork();
	if (servfail_pid < 0) {
		perror("fork");
		exit(1);
	}
	if (servfail_pid == 0) {
		unsigned char b[512];
		struct sockaddr_storage ss;
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		for (;;) {
			socklen_t sl = sizeof(ss);
			ssize_t n = recvfrom(fd, b, sizeof(b), 0, (struct sockaddr *)&ss, &sl);
			if (n < 12)
				continue;
			b[2] = (unsigned char)(0x80 | (b[2] & 0x01)); /* QR, keep RD */
			b[3] = 0x82;				      /* RA, rcode 2 */
			sendto(fd, b, (size_t)n, 0, (struct sockaddr *)&ss, sl);
		}
	}
	close(fd);
}

/* --- collecting answers --- */

struct res {
	int calls;
	enum dns_status st;
	size_t n;
	char items[80][420];
	unsigned prefs[80];
	size_t lens[80];
	int stop;
};

static void res_done(struct res *r, enum dns_status st, size_t n)
{
	r->calls++;
	r->st = st;
	r->n = n;
	if (r->stop)
		ev_stop(ev);
}

static void on_addr(void *arg, enum dns_status st, const struct dns_addr *a, size_t n)
{
	struct res *r = arg;

	for (size_t i = 0; i < n && i < 80; i++)
		snprintf(r->items[i], sizeof(r->items[i]), "%s", a[i].text);
	res_done(r, st, n);
}

static void on_mx(void *arg, enum dns_status st, const struct dns_mx *mx, size_t n)
{
	struct res *r = arg;

	for (size_t i = 0; i < n && i < 80; i++) {
		snprintf(r->items[i], sizeof(r->items[i]), "%s", mx[i].host);
		r->prefs[i] = mx[i].pref;
	}
	res_done(r, st, n);
}

static void on_txt(void *arg, enum dns_status st, const struct dns_txt *t, size_t n)
{
	struct res *r = arg;

	for (size_t i = 0; i < n && i < 80; i++) {
		snprintf(r->items[i], sizeof(r->items[i]), "%s", t[i].data);
		r->lens[i] = t[i].len;
	}
	res_done(r, st, n);
}

/* items: "prio weight port target" */
static void on_srv(void *arg, enum dns_status st, const struct dns_srv *s, size_t n)
{
	struct res *r = arg;

	for (size_t i = 0; i < n && i < 80; i++) {
		snprintf(r->items[i], sizeof(r->items[i]), "%u %u %u %s", s[i].priority,
			 s[i].weight, s[i].port, s[i].target);
		r->prefs[i] = s[i].priority;
	}
	res_done(r, st, n);
}

static void on_name(void *arg, enum dns_status st, const char *const *names, size_t n)
{
	struct res *r = arg;

	for (size_t i = 0; i < n && i < 80; i++)
		snprintf(r->items[i], sizeof(r->items[i]), "%s", names[i]);
	res_done(r, st, n);
}

/* items: "pref host status addr,addr" */
static void on_mxhosts(void *arg, enum dns_status st, const struct dns_mx_host *h, size_t n)
{
	struct res *r = arg;

	for (size_t i = 0; i < n && i < 80; i++) {
		int off = snprintf(r->items[i], sizeof(r->items[i]), "%u %s %s", h[i].pref,
				   h[i].host, dns_status_str(h[i].status));
		for (size_t j = 0; j < h[i].naddrs; j++)
			off += snprintf(r->items[i] + off, sizeof(r->items[i]) - (size_t)off,
					"%s%s", j ? "," : " ", h[i].addrs[j].text);
	}
	res_done(r, st, n);
}

struct canceller {
	struct dns_req *victim;
	int calls;
};

static void on_cancel_other(void *arg, enum dns_status st, const struct dns_addr *a, size_t n)
{
	struct canceller *c = arg;

	(void)st;
	(void)a;
	(void)n;
	c->calls++;
	dns_cancel(c->victim);
}

static void on_guard(struct evloop *e, struct ev_timer *t, void *arg)
{
	(void)t;
	*(int *)arg = 1;
	ev_stop(e);
}

/* Runs the loop until r's callback or ms pass.  Returns elapsed ms. */
static uint64_t run_for(struct res *r, uint64_t ms)
{
	int expired = 0;
	struct ev_timer *g = ev_timer_new(ev, on_guard, &expired);
	uint64_t t0 = ev_clock_ms();

	if (r)
		r->stop = 1;
	ev_timer_arm(g, ms);
	if (!r || r->calls == 0)
		ev_run(ev);
	ev_timer_free(g);
	return ev_clock_ms() - t0;
}

static int has_item(const struct res *r, const char *s)
{
	for (size_t i = 0; i < r->n && i < 80; i++)
		if (strcmp(r->items[i], s) == 0)
			return 1;
	return 0;
}

static struct dns *wait_ready(const char *servers)
{
	char err[200];
	struct dns *d = dns_new(ev, servers, err, sizeof(err));

	if (!d) {
		printf("# dns_new: %s\n", err);
		return NULL;
	}
	dns_set_timeout(d, 100, 1);
	for (int i = 0; i < 50; i++) {
		struct res r = {0};
		dns_query_a(d, "host.test", on_addr, &r);
		run_for(&r, 1000);
		if (r.st == DNS_OK)
			break;
		usleep(100 * 1000);
	}
	dns_set_timeout(d, 1000, 2);
	return d;
}

int main(void)
{
	char servers[64], err[200];
	struct dns *d;
	struct res r;
	int port = free_port();

	log_init("test_dns", getenv("LOFT_TEST_DEBUG") ? LOG_LVL_DEBUG : LOG_LVL_WARN);
	signal(SIGPIPE, SIG_IGN);
	atexit(kill_children);
	signal(SIGSEGV, on_fatal_signal);
	signal(SIGABRT, on_fatal_signal);
	signal(SIGTERM, on_fatal_signal);
	signal(SIGINT, on_fatal_signal);
	ev = ev_new();
	start_dnsmasq(port);
	snprintf(servers, sizeof(servers), "127.0.0.1:%d", port);
	d = wait_ready(servers);
	if (!ok(d != NULL, "dns_new with a server list")) {
		tap_done();
		return 1;
	}

	/* A and AAAA */
	memset(&r, 0, sizeof(r));
	ok(dns_query_a(d, "host.test", on_addr, &r) != NULL, "A query started");
	ok(r.calls == 0, "callback not run inside dns_query_a");
	run_for(&r, 3000);
	is_int(r.st, DNS_OK, "A: ok");
	is_int(r.n, 1, "A: one address");
	is_str(r.items[0], "192.0.2.1", "A: address");
	is_int(r.calls, 1, "A: callback once");

	memset(&r, 0, sizeof(r));
	dns_query_aaaa(d, "host.test.", on_addr, &r);
	run_for(&r, 3000);
	is_int(r.st, DNS_OK, "AAAA (trailing dot): ok");
	is_str(r.items[0], "2001:db8::1", "AAAA: address");

	memset(&r, 0, sizeof(r));
	dns_query_aaaa(d, "v4only.test", on_addr, &r);
	run_for(&r, 3000);
	is_int(r.st, DNS_NODATA, "AAAA of a v4-only name: NODATA");
	is_int(r.n, 0, "NODATA: no records");

	memset(&r, 0, sizeof(r));
	dns_query_a(d, "nope.test", on_addr, &r);
	run_for(&r, 3000);
	is_int(r.st, DNS_NXDOMAIN, "A of a missing name: NXDOMAIN");

	memset(&r, 0, sizeof(r));
	dns_query_a(d, "big.test", on_addr, &r);
	run_for(&r, 3000);
	is_int(r.st, DNS_OK, "70 A records (TCP fallback): ok");
	is_int(r.n, DNS_MAX_RECORDS, "70 A records: capped at DNS_MAX_RECORDS");

	/* MX */
	memset(&r, 0, sizeof(r));
	dns_query_mx(d, "mx.test", on_mx, &r);
	run_for(&r, 3000);
	is_int(r.st, DNS_OK, "MX: ok");
	is_int(r.n, 3, "MX: three hosts");
	ok(r.prefs[0] == 10 && r.prefs[1] == 20 && r.prefs[2] == 30, "MX: sorted by preference");
	is_str(r.items[0], "mx1.test", "MX: best host first");
	is_str(r.items[2], "mx3.test", "MX: worst host last");

	memset(&r, 0, sizeof(r));
	dns_query_mx(d, "tie.test", on_mx, &r);
	run_for(&r, 3000);
	ok(r.st == DNS_OK && r.n == 2 && r.prefs[0] == 5 && r.prefs[1] == 5,
	   "MX: equal preferences");

	memset(&r, 0, sizeof(r));
	dns_query_mx(d, "nullmx.test", on_mx, &r);
	run_for(&r, 3000);
	is_int(r.st, DNS_NULLMX, "MX 0 . : NULLMX");
	is_int(r.n, 0, "NULLMX: no hosts");

	memset(&r, 0, sizeof(r));
	dns_query_mx(d, "v4only.test", on_mx, &r);
	run_for(&r, 3000);
	is_int(r.st, DNS_NODATA, "MX of a name without MX: NODATA");

	/* TXT */
	memset(&r, 0, sizeof(r));
	dns_query_txt(d, "txt.test", on_txt, &r);
	run_for(&r, 3000);
	is_int(r.st, DNS_OK, "TXT: ok");
	is_int(r.n, 2, "TXT: two records");
	ok(has_item(&r, "v=spf1 -all"), "TXT: multi-string record joined");
	ok(has_item(&r, "single"), "TXT: single-string record");

	memset(&r, 0, sizeof(r));
	dns_query_txt(d, "long.test", on_txt, &r);
	run_for(&r, 3000);
	is_int(r.n, 1, "long TXT: one record");
	is_int(r.lens[0], 400, "long TXT: 2 x 200 bytes joined");
	ok(r.items[0][0] == 'a' && r.items[0][199] == 'a' && r.items[0][200] == 'b' &&
	       r.items[0][399] == 'b',
	   "long TXT: in order");

	/* CHAOS TXT: dnsmasq names itself at version.bind (netwatch asks
	 * whoami.cloudflare the same way) */
	memset(&r, 0, sizeof(r));
	dns_query_txt_chaos(d, "version.bind", on_txt, &r);
	run_for(&r, 3000);
	is_int(r.st, DNS_OK, "CH TXT: ok");
	ok(r.n >= 1 && strstr(r.items[0], "dnsmasq") != NULL, "CH TXT: version.bind answered");
	ok(dns_query_txt_chaos(d, "", on_txt, &r) == NULL, "CH TXT: empty name refused");

	/* SRV */
	memset(&r, 0, sizeof(r));
	ok(dns_query_srv(d, "_imaps._tcp.srv.test", on_srv, &r) != NULL, "SRV query started");
	ok(r.calls == 0, "callback not run inside dns_query_srv");
	run_for(&r, 3000);
	is_int(r.st, DNS_OK, "SRV: ok");
	is_int(r.n, 3, "SRV: three records");
	is_str(r.items[0], "10 50 993 imap1.test", "SRV: best priority, heavier weight first");
	is_str(r.items[1], "10 5 993 imap2.test", "SRV: same priority, lighter weight second");
	is_str(r.items[2], "20 100 9993 imap3.test", "SRV: worse priority last");
	is_int(r.calls, 1, "SRV: callback once");

	memset(&r, 0, sizeof(r));
	dns_query_srv(d, "_submission._tcp.srv.test.", on_srv, &r);
	run_for(&r, 3000);
	ok(r.st == DNS_OK && r.n == 1, "SRV (trailing dot): one record");
	is_str(r.items[0], "0 1 587 mail.srv.test", "SRV: target without trailing dot");

	memset(&r, 0, sizeof(r));
	dns_query_srv(d, "_pop3._tcp.srv.test", on_srv, &r);
	run_for(&r, 3000);
	ok(r.st == DNS_OK && r.n == 1, "SRV \"0 0 0 .\": one record");
	is_str(r.items[0], "0 0 0 ", "SRV \"0 0 0 .\": empty target (not offered)");

	memset(&r, 0, sizeof(r));
	dns_query_srv(d, "host.test", on_srv, &r);
	run_for(&r, 3000);
	is_int(r.st, DNS_NODATA, "SRV of a name with only A: NODATA");

	memset(&r, 0, sizeof(r));
	dns_query_srv(d, "_imap._tcp.nope.test", on_srv, &r);
	run_for(&r, 3000);
	is_int(r.st, DNS_NXDOMAIN, "SRV of a missing name: NXDOMAIN");
	ok(dns_query_srv(d, "", on_srv, &r) == NULL, "SRV: empty name refused");

	/* PTR */
	memset(&r, 0, sizeof(r));
	dns_query_ptr(d, "192.0.2.1", on_name, &r);
	run_for(&r, 3000);
	is_int(r.st, DNS_OK, "PTR v4: ok");
	if (!is_int(r.n, 2, "PTR v4: two names, no duplicates"))
		for (size_t i = 0; i < r.n; i++)
			printf("# ptr %s\n", r.items[i]);
	ok(has_item(&r, "host.test") && has_item(&r, "alias.test"), "PTR v4: both names");

	memset(&r, 0, sizeof(r));
	dns_query_ptr(d, "2001:db8::1", on_name, &r);
	run_for(&r, 3000);
	is_int(r.st, DNS_OK, "PTR v6: ok");
	ok(r.n == 1 && has_item(&r, "host.test"), "PTR v6: name");

	memset(&r, 0, sizeof(r));
	dns_query_ptr(d, "192.0.2.99", on_name, &r);
	run_for(&r, 3000);
	is_int(r.st, DNS_NXDOMAIN, "PTR without a record: NXDOMAIN");

	ok(dns_query_ptr(d, "192.0.2", on_name, &r) == NULL, "PTR of a non-address: NULL");
	ok(dns_query_ptr(d, "::1::2", on_name, &r) == NULL, "PTR of a bad v6: NULL");

	/* bad names are refused before any query */
	char longname[300];
	memset(longname, 'a', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	ok(dns_query_a(d, "", on_addr, &r) == NULL, "empty name refused");
	ok(dns_query_a(d, "a b.test", on_addr, &r) == NULL, "name with a space refused");
	ok(dns_query_a(d, "a\\.b.test", on_addr, &r) == NULL, "name with a backslash refused");
	ok(dns_query_a(d, longname, on_addr, &r) == NULL, "name over 254 bytes refused");

	/* REFUSED from dnsmasq (no upstream for this zone) */
	memset(&r, 0, sizeof(r));
	dns_query_a(d, "example.invalid", on_addr, &r);
	run_for(&r, 5000);
	is_int(r.st, DNS_TEMPFAIL, "REFUSED: TEMPFAIL");

	/* MX hosts with addresses */
	memset(&r, 0, sizeof(r));
	dns_resolve_mx_hosts(d, "mx.test", on_mxhosts, &r);
	run_for(&r, 5000);
	is_int(r.st, DNS_OK, "mx hosts: ok");
	is_int(r.n, 3, "mx hosts: three");
	is_str(r.items[0], "10 mx1.test ok 192.0.2.11", "mx hosts: best host with its address");
	is_str(r.items[1], "20 mx2.test nxdomain", "mx hosts: missing host reported");

	memset(&r, 0, sizeof(r));
	dns_resolve_mx_hosts(d, "host.test", on_mxhosts, &r);
	run_for(&r, 5000);
	is_int(r.st, DNS_OK, "implicit MX: ok");
	is_str(r.items[0], "0 host.test ok 192.0.2.1,2001:db8::1",
	       "implicit MX: the domain, v4+v6");

	memset(&r, 0, sizeof(r));
	dns_resolve_mx_hosts(d, "nullmx.test", on_mxhosts, &r);
	run_for(&r, 5000);
	is_int(r.st, DNS_NULLMX, "mx hosts of a null MX domain: NULLMX");

	memset(&r, 0, sizeof(r));
	dns_resolve_mx_hosts(d, "nope.test", on_mxhosts, &r);
	run_for(&r, 5000);
	is_int(r.st, DNS_NXDOMAIN, "mx hosts of a missing domain: NXDOMAIN");

	/* cancel: the callback never runs */
	memset(&r, 0, sizeof(r));
	dns_cancel(dns_query_a(d, "host.test", on_addr, &r));
	dns_cancel(dns_resolve_mx_hosts(d, "mx.test", on_mxhosts, &r));
	run_for(NULL, 300);
	is_int(r.calls, 0, "cancelled queries: no callback");

	/* a callback cancels another query whose answer may already be in */
	{
		struct res r2 = {0};
		struct canceller cc = {0};
		cc.victim = dns_query_a(d, "v4only.test", on_addr, &r2);
		dns_query_a(d, "host.test", on_cancel_other, &cc);
		/* put the victim after the canceller in the answer order */
		dns_cancel(cc.victim);
		r2.calls = 0;
		cc.victim = dns_query_a(d, "v4only.test", on_addr, &r2);
		run_for(NULL, 300);
		is_int(cc.calls, 1, "canceller ran");
		is_int(r2.calls, 0, "query cancelled from another callback: not called");
	}

	/* many at once */
	{
		static struct res many[200];
		int done = 0;
		memset(many, 0, sizeof(many));
		uint64_t t0 = ev_clock_ms();
		for (int i = 0; i < 200; i++)
			dns_query_a(d, i % 2 ? "host.test" : "v4only.test", on_addr, &many[i]);
		for (int round = 0; round < 50 && done < 200; round++) {
			run_for(NULL, 20);
			done = 0;
			for (int i = 0; i < 200; i++)
				done += many[i].calls == 1 && many[i].st == DNS_OK;
		}
		is_int(done, 200, "200 concurrent queries all answered");
		printf("# 200 concurrent A queries: %llu ms\n",
		       (unsigned long long)(ev_clock_ms() - t0));
	}
	dns_free(d);

	/* SERVFAIL */
	int sport, sfd = udp_bound(&sport);
	start_servfail(sfd);
	snprintf(servers, sizeof(servers), "127.0.0.1:%d", sport);
	d = dns_new(ev, servers, err, sizeof(err));
	dns_set_timeout(d, 500, 2);
	memset(&r, 0, sizeof(r));
	dns_query_a(d, "host.test", on_addr, &r);
	uint64_t ms = run_for(&r, 5000);
	is_int(r.st, DNS_TEMPFAIL, "SERVFAIL: TEMPFAIL");
	ok(ms < 400, "SERVFAIL: without waiting for a timeout");
	dns_free(d);

	/* a server that never answers: a timeout */
	int bport, bfd = udp_bound(&bport);
	snprintf(servers, sizeof(servers), "127.0.0.1:%d", bport);
	d = dns_new(ev, servers, err, sizeof(err));
	ok(dns_set_timeout(d, 200, 2) == 0, "set timeout 200 ms x 2 tries");
	memset(&r, 0, sizeof(r));
	dns_query_a(d, "host.test", on_addr, &r);
	errno = 0;
	ok(dns_set_timeout(d, 100, 1) < 0 && errno == EBUSY, "set timeout refused while busy");
	ms = run_for(&r, 5000);
	is_int(r.st, DNS_TEMPFAIL, "silent server: TEMPFAIL");
	printf("# silent server: TEMPFAIL after %llu ms (200 + 400 expected)\n",
	       (unsigned long long)ms);
	ok(ms >= 550 && ms < 1200, "silent server: within the configured timeout");

	/* dns_free with queries out: each callback once, DNS_CANCELLED */
	struct res c1 = {0}, c2 = {0}, c3 = {0};
	dns_query_mx(d, "mx.test", on_mx, &c1);
	dns_resolve_mx_hosts(d, "mx.test", on_mxhosts, &c2);
	dns_query_txt(d, "txt.test", on_txt, &c3);
	run_for(NULL, 50);
	dns_free(d);
	ok(c1.calls == 1 && c1.st == DNS_CANCELLED, "dns_free: query cancelled");
	ok(c2.calls == 1 && c2.st == DNS_CANCELLED, "dns_free: mx hosts cancelled");
	ok(c3.calls == 1 && c3.st == DNS_CANCELLED, "dns_free: second query cancelled");
	close(bfd);

	/* nothing listening: refused at once (ICMP), not a long timeout */
	snprintf(servers, sizeof(servers), "127.0.0.1:%d", free_port());
	d = dns_new(ev, servers, err, sizeof(err));
	dns_set_timeout(d, 1000, 2);
	memset(&r, 0, sizeof(r));
	dns_query_a(d, "host.test", on_addr, &r);
	ms = run_for(&r, 5000);
	is_int(r.st, DNS_TEMPFAIL, "no server listening: TEMPFAIL");
	ok(ms < 3000 + 200, "no server listening: within the configured timeout");
	dns_free(d);

	ok(dns_new(ev, "not-an-address:x", err, sizeof(err)) == NULL, "bad server list refused");

	/* the loft.conf key every daemon's resolver comes from */
	{
		char text[128];
		struct config *cfg = config_new();
		snprintf(text, sizeof(text), "dns_servers = 127.0.0.1:%d\n", port);
		ok(config_parse(cfg, text, strlen(text), err, sizeof(err)) == 0, "config parsed");
		d = dns_new_config(ev, cfg, err, sizeof(err));
		ok(d != NULL, "dns_new_config: resolver from dns_servers");
		memset(&r, 0, sizeof(r));
		dns_query_a(d, "host.test", on_addr, &r);
		run_for(&r, 3000);
		ok(r.st == DNS_OK && r.n == 1 && strcmp(r.items[0], "192.0.2.1") == 0,
		   "dns_new_config: answers come from the configured server");
		dns_free(d);
		config_free(cfg);
		cfg = config_new();
		snprintf(text, sizeof(text), "dns_servers = bogus:x\n");
		config_parse(cfg, text, strlen(text), err, sizeof(err));
		ok(dns_new_config(ev, cfg, err, sizeof(err)) == NULL && strstr(err, "dns_servers"),
		   "dns_new_config: a bad value is refused, naming the key");
		config_free(cfg);
		cfg = config_new();
		d = dns_new_config(ev, cfg, err, sizeof(err));
		ok(d != NULL, "dns_new_config: unset means the system resolver");
		dns_free(d);
		config_free(cfg);
	}
	d = dns_new(ev, NULL, err, sizeof(err));
	ok(d != NULL, "dns_new from resolv.conf");
	dns_free(d);

	kill_children();
	ev_free(ev);
	return tap_done();
}
