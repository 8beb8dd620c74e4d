/*
 * lib/net/dnsupdate against a real knotd on loopback: an update it applies
 * (its signed answer verifies), one it refuses (zone it does not serve),
 * a wrong key; then the real answer mutated: every prefix (truncation) and
 * every single-byte change must be refused, never taken as success, never
 * read out of bounds.  And the builder's limits.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "dnsupdate.h"
#include "tap.h"

static const char secret[] = "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3JldA==";
static char dir[] = "/tmp/test_dnsupdate.XXXXXX";
static pid_t knot = -1;
static int port;

static void stop_knot(void)
{
	if (knot > 0) {
		kill(knot, SIGTERM);
		waitpid(knot, NULL, 0);
		knot = -1;
	}
}

/* A loopback port free for UDP and TCP both: knotd binds the two. */
static int free_port(void)
{
	for (int tries = 0; tries < 100; tries++) {
		struct sockaddr_in sa = {.sin_family = AF_INET};
		socklen_t sl = sizeof(sa);
		int u = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), t, p;

		sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		if (u < 0 || bind(u, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
		    getsockname(u, (struct sockaddr *)&sa, &sl) < 0) {
			perror("udp bind");
			exit(1);
		}
		p = ntohs(sa.sin_port);
		t = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		int okay = t >= 0 && bind(t, (struct sockaddr *)&sa, sizeof(sa)) == 0;
		close(u);
		if (t >= 0)
			close(t);
		if (okay)
			return p;
	}
	fprintf(stderr, "no free port\n");
	exit(1);
}

static void write_file(const char *name, const char *text)
{
	char path[300];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	if (!f || fputs(text, f) < 0 || fclose(f) != 0) {
		perror(path);
		exit(1);
	}
}

/* Sends msg, returns the answer's length (0: none within 10 s: a loaded
 * machine is slow, a refused port answers at once). */
static size_t exchange(const unsigned char *msg, size_t len, unsigned char *ans, size_t cap)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	struct timeval tv = {10, 0};
	int fd = socket(AF_INET, SOCK_DGRAM, 0);
	ssize_t n;

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || send(fd, msg, len, 0) < 0) {
		close(fd);
		return 0;
	}
	n = recv(fd, ans, cap, 0);
	close(fd);
	return n > 0 ? (size_t)n : 0;
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* knotd's log, as TAP comments, when it would not start. */
static void show_log(void)
{
	char path[300], line[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/knotd.log", dir);
	f = fopen(path, "r");
	if (!f)
		return;
	while (fgets(line, sizeof(line), f))
		printf("# knotd: %s", line);
	fclose(f);
}

/* One knotd on a fresh port; ready when it answers a query.  A loaded
 * machine may take long to start it (LMDB files, the zone): wait up to a
 * minute, and start again on another port if it died (a port taken in
 * the meantime).  Returns 0 or -1. */
static int start_knot(void)
{
	char conf[2048], path[300], logpath[300];

	if (!mkdtemp(dir))
		return -1;
	write_file("home.example.zone", "$ORIGIN home.example.\n$TTL 300\n"
					"@ SOA ns admin 1 3600 600 86400 300\n"
					"@ NS ns\nns A 127.0.0.1\nbox A 192.0.2.1\n");
	snprintf(path, sizeof(path), "%s/knot.conf", dir);
	snprintf(logpath, sizeof(logpath), "%s/knotd.log", dir);
	for (int attempt = 0; attempt < 3; attempt++) {
		port = free_port();
		snprintf(conf, sizeof(conf),
			 "server:\n    rundir: \"%s\"\n    listen: 127.0.0.1@%d\n"
			 "log:\n  - target: stderr\n    any: info\n"
			 "database:\n    storage: \"%s\"\n"
			 "key:\n  - id: loft-key\n    algorithm: hmac-sha256\n    secret: %s\n"
			 "acl:\n  - id: up\n    key: loft-key\n    action: update\n"
			 "zone:\n  - domain: home.example\n    storage: \"%s\"\n"
			 "    file: \"home.example.zone\"\n    acl: up\n",
			 dir, port, dir, secret, dir);
		write_file("knot.conf", conf);
		knot = fork();
		if (knot == 0) {
			int log = open(logpath, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
			prctl(PR_SET_PDEATHSIG, SIGTERM);
			if (log >= 0) {
				dup2(log, 1);
				dup2(log, 2);
			}
			execl("/usr/sbin/knotd", "knotd", "-c", path, (char *)NULL);
			_exit(127);
		}
		uint64_t end = now_ms() + 60000;
		while (now_ms() < end) {
			unsigned char q[] = {0x12, 0x34, 1,   0, 0,   1,   0,	0,   0,
					     0,	   0,	 0,   3, 'b', 'o', 'x', 4,   'h',
					     'o',  'm',	 'e', 7, 'e', 'x', 'a', 'm', 'p',
					     'l',  'e',	 0,   0, 1,   0,   1};
			unsigned char a[512];
			int st;
			if (exchange(q, sizeof(q), a, sizeof(a)) >= 12)
				return 0;
			if (waitpid(knot, &st, WNOHANG) == knot) {
				knot = -1;
				break; /* died: another port */
			}
			usleep(100000);
		}
		stop_knot();
	}
	show_log();
	return -1;
}

static void test_builder(const struct dnsu_key *key)
{
	struct dnsu_request r;
	char longname[400];

	is_int(dnsu_build(&r, "home.example", "box.home.example", "203.0.113.7", NULL, 60, key, 7,
			  1000),
	       0, "build: v4");
	is_int(r.msg[2] >> 3 & 0xf, 5, "opcode UPDATE");
	is_int(r.msg[9], 2, "two updates (delete RRset, add)");
	is_int(r.msg[11], 1, "one additional: the TSIG");
	is_int(dnsu_build(&r, "home.example", "box.home.example", "203.0.113.7", "2001:db8::7", 60,
			  key, 7, 1000),
	       0, "build: v4 and v6");
	is_int(r.msg[9], 4, "four updates");
	is_int(dnsu_build(&r, "home.example", "box.home.example", NULL, NULL, 60, key, 7, 1000), -1,
	       "no address refused");
	is_int(
	    dnsu_build(&r, "home.example", "box.home.example", "300.1.1.1", NULL, 60, key, 7, 1000),
	    -1, "bad address refused");
	is_int(dnsu_build(&r, "home..example", "box.home.example", "203.0.113.7", NULL, 60, key, 7,
			  1000),
	       -1, "empty label refused");
	memset(longname, 'a', 70);
	memcpy(longname + 70, ".home.example", 14);
	is_int(dnsu_build(&r, "home.example", longname, "203.0.113.7", NULL, 60, key, 7, 1000), -1,
	       "label over 63 refused");
	for (int i = 0; i < 300; i++)
		longname[i] = i % 2 ? '.' : 'a';
	longname[299] = 'a';
	longname[300] = '\0';
	is_int(dnsu_build(&r, "home.example", longname, "203.0.113.7", NULL, 60, key, 7, 1000), -1,
	       "name over 255 refused");
	is_int(dnsu_build(&r, "home.example", "b x.home.example", "203.0.113.7", NULL, 60, key, 7,
			  1000),
	       -1, "space in a name refused");
	struct dnsu_key k2;
	is_int(dnsu_key_set(&k2, "k", "not base64!"), -1, "bad base64 refused");
	is_int(dnsu_key_set(&k2, "", secret), -1, "empty key name refused");
	is_int(dnsu_key_set(&k2, "k", ""), -1, "empty secret refused");
}

static void test_knot(const struct dnsu_key *key)
{
	struct dnsu_request r;
	unsigned char ans[4096], mut[4096];
	char why[160];
	size_t n;
	int rcode, bad = 0, okcount = 0;
	uint64_t now = (uint64_t)time(NULL);

	dnsu_build(&r, "home.example", "box.home.example", "203.0.113.7", NULL, 60, key, 0x4242,
		   now);
	n = exchange(r.msg, r.len, ans, sizeof(ans));
	ok(n >= 12, "knot answered the update");
	is_int(dnsu_check_answer(&r, ans, n, key, now, &rcode, why, sizeof(why)), DNSU_OK,
	       "applied, signature verified");
	is_int(rcode, 0, "NOERROR");

	/* the same answer later than the fudge: clock skew */
	is_int(dnsu_check_answer(&r, ans, n, key, now + 1000, &rcode, why, sizeof(why)),
	       DNSU_BADSIG, "answer outside the time fudge refused");
	ok(strstr(why, "clock") != NULL, "says clock skew");

	/* every prefix: never success, never out of bounds (ASan watches) */
	for (size_t len = 0; len < n; len++) {
		memcpy(mut, ans, len);
		if (dnsu_check_answer(&r, mut, len, key, now, &rcode, why, sizeof(why)) == DNSU_OK)
			bad++;
	}
	is_int(bad, 0, "no truncation of the answer passes");
	/* every single-byte change: never success */
	bad = 0;
	for (size_t i = 0; i < n; i++) {
		for (int bit = 0; bit < 8; bit++) {
			memcpy(mut, ans, n);
			mut[i] ^= (unsigned char)(1 << bit);
			if (dnsu_check_answer(&r, mut, n, key, now, &rcode, why, sizeof(why)) ==
			    DNSU_OK) {
				/* a name's letter case is not covered: DNS names are
				 * case-insensitive, that is allowed */
				if (bit == 5 && ((mut[i] | 0x20) >= 'a' && (mut[i] | 0x20) <= 'z'))
					okcount++;
				else {
					bad++;
					printf("# flip byte %zu bit %d of %zu passes\n", i, bit, n);
				}
			}
		}
	}
	is_int(bad, 0, "no bit flip in the answer passes (but letter case)");

	/* the answer to another request does not pass */
	struct dnsu_request other;
	dnsu_build(&other, "home.example", "box.home.example", "203.0.113.7", NULL, 60, key, 0x4243,
		   now);
	is_int(dnsu_check_answer(&other, ans, n, key, now, &rcode, why, sizeof(why)),
	       DNSU_MALFORMED, "another ID: not ours");
	other.id = 0x4242;
	is_int(dnsu_check_answer(&other, ans, n, key, now, &rcode, why, sizeof(why)), DNSU_BADSIG,
	       "same ID, other request MAC: signature fails");

	/* a zone knot does not serve: NOTAUTH/REFUSED, never OK */
	dnsu_build(&r, "elsewhere.example", "box.elsewhere.example", "203.0.113.7", NULL, 60, key,
		   0x4244, now);
	n = exchange(r.msg, r.len, ans, sizeof(ans));
	ok(n >= 12, "knot answered the foreign zone");
	enum dnsu_result res = dnsu_check_answer(&r, ans, n, key, now, &rcode, why, sizeof(why));
	ok(res == DNSU_REFUSED || res == DNSU_BADSIG, "foreign zone refused");
	ok(rcode != 0, "with an error RCODE");

	/* a wrong key: knot answers unsigned NOTAUTH (BADSIG) */
	struct dnsu_key wrong;
	dnsu_key_set(&wrong, "loft-key", "d3Jvbmctd3Jvbmctd3Jvbmctd3Jvbmctd3Jvbmc=");
	dnsu_build(&r, "home.example", "box.home.example", "203.0.113.9", NULL, 60, &wrong, 0x4245,
		   now);
	n = exchange(r.msg, r.len, ans, sizeof(ans));
	is_int(dnsu_check_answer(&r, ans, n, &wrong, now, &rcode, why, sizeof(why)), DNSU_BADSIG,
	       "wrong key: BADSIG");
	ok(strstr(why, "BADSIG") || strstr(why, "did not accept"), "says the key was not accepted");
	(void)okcount;
}

int main(void)
{
	struct dnsu_key key;

	is_int(dnsu_key_set(&key, "loft-key", secret), 0, "key decoded");
	test_builder(&key);
	if (start_knot() < 0) {
		printf("not ok - knotd did not start\n");
		stop_knot();
		return 1;
	}
	test_knot(&key);
	stop_knot();
	char cmd[300];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		return 1;
	is_str(dnsu_rcode_str(5), "REFUSED", "rcode names");
	is_str(dnsu_rcode_str(17), "BADKEY", "TSIG error names");
	return tap_done();
}
