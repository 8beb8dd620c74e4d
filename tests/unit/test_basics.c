/* Unit tests for the small lib/ pieces: strnum, buf, config, linereader,
 * proc's descriptor helpers. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "array.h"
#include "buf.h"
#include "config.h"
#include "linereader.h"
#include "log.h"
#include "proc.h"
#include "strnum.h"
#include "tap.h"
#include "utf8.h"

static void test_strnum(void)
{
	uint64_t v;
	unsigned int u;

	ok(strnum_u64("0", 10, &v) == 0 && v == 0, "strnum: 0");
	ok(strnum_u64("18446744073709551615", UINT64_MAX, &v) == 0 && v == UINT64_MAX,
	   "strnum: UINT64_MAX");
	ok(strnum_u64("18446744073709551616", UINT64_MAX, &v) < 0, "strnum: overflow refused");
	ok(strnum_u64("99999999999999999999999", UINT64_MAX, &v) < 0, "strnum: long overflow");
	ok(strnum_u64("11", 10, &v) < 0, "strnum: above max refused");
	ok(strnum_u64("10", 10, &v) == 0 && v == 10, "strnum: max itself allowed");
	ok(strnum_u64("", 10, &v) < 0, "strnum: empty refused");
	ok(strnum_u64("-1", 10, &v) < 0, "strnum: sign refused");
	ok(strnum_u64("+1", 10, &v) < 0, "strnum: plus refused");
	ok(strnum_u64(" 1", 10, &v) < 0, "strnum: leading space refused");
	ok(strnum_u64("1 ", 10, &v) < 0, "strnum: trailing space refused");
	ok(strnum_u64("0x10", 100, &v) < 0, "strnum: hex refused");
	ok(strnum_u64n("123abc", 3, 1000, &v) == 0 && v == 123, "strnum: length-bounded");
	ok(strnum_uint("4294967295", 4294967295U, &u) == 0 && u == 4294967295U, "strnum: uint max");
	ok(strnum_uint("4294967296", 4294967295U, &u) < 0, "strnum: uint overflow");
}

static void test_strnum_size(void)
{
	static const struct {
		const char *in;
		int rc;
		uint64_t v;
	} cases[] = {
	    {"0", 0, 0},
	    {"1048576", 0, 1048576},
	    {"500M", 0, 500ULL << 20},
	    {"500m", 0, 500ULL << 20},
	    {"2G", 0, 2ULL << 30},
	    {"2 GB", 0, 2ULL << 30},
	    {"2GiB", 0, 2ULL << 30},
	    {"1.5G", 0, 3ULL << 29},
	    {"1.25 K", 0, 1280},
	    {"0.001K", 0, 1}, /* 1.024 bytes, rounded down */
	    {"3T", 0, 3ULL << 40},
	    {"100B", 0, 100},
	    {"100 b", 0, 100},
	    {"", -1, 0},
	    {"M", -1, 0},
	    {"lots", -1, 0},
	    {"-1", -1, 0},
	    {"+1G", -1, 0},
	    {" 1G", -1, 0},
	    {"1G ", -1, 0},
	    {"1.G", -1, 0},
	    {".5G", -1, 0},
	    {"1.2345G", -1, 0},
	    {"1.5", -1, 0}, /* a fraction of a byte */
	    {"2X", -1, 0},
	    {"2GBB", -1, 0},
	    {"2Gi", -1, 0},
	    {"2P", -1, 0},
	    {"1\n", -1, 0},
	    {"16777216T", -1, 0},		/* 2^64: overflow */
	    {"99999999999999999999999", -1, 0}, /* overflow in the digits */
	    {"8388608T", -1, 0},		/* 2^63: above INT64_MAX */
	    {"8388607.999T", 0, (8388607ULL << 40) + 999ULL * (1ULL << 40) / 1000},
	};
	char buf[32];
	const char *bp = buf; /* is_str checks for NULL */
	uint64_t v;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		v = 12345;
		int rc = strnum_size(cases[i].in, INT64_MAX, &v);
		char what[120];
		snprintf(what, sizeof(what), "strnum_size: \"%s\" %s", cases[i].in,
			 cases[i].rc ? "refused, *out untouched" : "parsed");
		if (cases[i].rc == 0) {
			if (!ok(rc == 0 && v == cases[i].v, what))
				printf("# got %d %llu\n", rc, (unsigned long long)v);
		} else {
			ok(rc < 0 && v == 12345, what);
		}
	}
	/* every prefix of a valid size either parses or is refused cleanly */
	const char *whole = "1.25 GiB";
	/* "", "1", "1.", "1.2", "1.25", "1.25 ", "1.25 G", "1.25 Gi", "1.25 GiB":
	 * a fraction needs a unit */
	static const int want[] = {-1, 0, -1, -1, -1, -1, 0, -1, 0};
	for (size_t n = 0; n <= strlen(whole); n++) {
		char cut[16], what[80];
		snprintf(cut, sizeof(cut), "%.*s", (int)n, whole);
		snprintf(what, sizeof(what), "strnum_size: prefix \"%s\" gives %d", cut, want[n]);
		ok((strnum_size(cut, INT64_MAX, &v) < 0 ? -1 : 0) == want[n], what);
	}
	ok(strnum_size("10K", 10000, &v) < 0, "strnum_size: above max refused");
	ok(strnum_size("10000", 10000, &v) == 0 && v == 10000, "strnum_size: max itself");

	strnum_size_human(buf, sizeof(buf), 0);
	is_str(bp, "0 B", "size_human: 0");
	strnum_size_human(buf, sizeof(buf), 1023);
	is_str(bp, "1023 B", "size_human: bytes");
	strnum_size_human(buf, sizeof(buf), 1024);
	is_str(bp, "1 KB", "size_human: 1 KB");
	strnum_size_human(buf, sizeof(buf), 500ULL << 20);
	is_str(bp, "500 MB", "size_human: 500 MB");
	strnum_size_human(buf, sizeof(buf), 3ULL << 29);
	is_str(bp, "1.5 GB", "size_human: 1.5 GB");
	strnum_size_human(buf, sizeof(buf), (2ULL << 30) - 1);
	is_str(bp, "1.9 GB", "size_human: rounded down, never up");
	strnum_size_human(buf, sizeof(buf), UINT64_MAX);
	is_str(bp, "16777215.9 TB", "size_human: UINT64_MAX");
	strnum_size_exact(buf, sizeof(buf), 0);
	is_str(bp, "0", "size_exact: 0");
	strnum_size_exact(buf, sizeof(buf), 2ULL << 30);
	is_str(bp, "2G", "size_exact: 2G");
	strnum_size_exact(buf, sizeof(buf), 3ULL << 29);
	is_str(bp, "1536M", "size_exact: 1536M");
	strnum_size_exact(buf, sizeof(buf), 1000);
	is_str(bp, "1000", "size_exact: bytes");
	strnum_size_exact(buf, sizeof(buf), 5ULL << 40);
	is_str(bp, "5T", "size_exact: T");
	strnum_size_exact(buf, sizeof(buf), 5ULL << 50);
	is_str(bp, "5120T", "size_exact: no unit past T");
	/* the exact form reads back to the same value */
	uint64_t samples[] = {1, 1023, 1024, 1536, 3ULL << 29, (1ULL << 40) + 1024, INT64_MAX};
	for (size_t i = 0; i < sizeof(samples) / sizeof(samples[0]); i++) {
		strnum_size_exact(buf, sizeof(buf), samples[i]);
		char what[80];
		snprintf(what, sizeof(what), "size_exact round trip: %s", buf);
		ok(strnum_size(buf, INT64_MAX, &v) == 0 && v == samples[i], what);
	}
}

static void test_buf(void)
{
	struct buf b;

	buf_init(&b, 10);
	ok(buf_puts(&b, "hello") == 0 && b.len == 5, "buf: append");
	ok(buf_puts(&b, "world") == 0 && b.len == 10, "buf: fill to max");
	ok(buf_putc(&b, '!') < 0 && b.len == 10, "buf: past max refused, unchanged");
	is_str(buf_cstr(&b), "helloworld", "buf: content NUL-terminated");
	buf_consume(&b, 5);
	is_str(buf_cstr(&b), "world", "buf: consume");
	ok(buf_printf(&b, "%d", 12345) == 0, "buf: printf fits");
	ok(buf_printf(&b, "%d", 1) < 0 && b.len == 10, "buf: printf past max refused");
	buf_reset(&b);
	ok(b.len == 0 && buf_cstr(&b)[0] == '\0', "buf: reset");
	buf_free(&b);
	buf_init(&b, 100);
	is_str(buf_cstr(&b), "", "buf: empty cstr is \"\"");
	buf_free(&b);
}

static void test_config(void)
{
	struct config *c = config_new();
	char err[256];
	uint64_t v;
	int bv;
	const char *text = "# comment\n"
			   "\n"
			   "  hostname = mail.example.org  \n"
			   "listen.mx=127.0.0.1:2525\n"
			   "size = 1000 # trailing comment\n"
			   "weird = a#b\n"
			   "flag = yes\r\n"
			   "hostname = again.example.org\n"
			   "empty =\n";

	ok(config_parse(c, text, strlen(text), err, sizeof(err)) == 0, "config: parses");
	is_str(config_get(c, "hostname", NULL), "again.example.org", "config: later line wins");
	is_str(config_get(c, "listen.mx", NULL), "127.0.0.1:2525", "config: dotted key");
	ok(config_get_u64(c, "size", 0, 10000, &v) == 0 && v == 1000, "config: number + comment");
	is_str(config_get(c, "weird", NULL), "a#b", "config: # inside a value kept");
	ok(config_get_bool(c, "flag", 0, &bv) == 0 && bv == 1, "config: bool with CRLF");
	is_str(config_get(c, "empty", "x"), "", "config: empty value");
	ok(config_get(c, "missing", NULL) == NULL, "config: missing key");
	ok(config_get_u64(c, "missing", 7, 10, &v) == 0 && v == 7, "config: default");
	ok(config_get_u64(c, "hostname", 0, 10, &v) < 0, "config: non-number refused");
	config_free(c);

	static const char *const bad[] = {"novalue\n", "= value\n", "Key = upper\n",
					  "sp ace = x\n"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		c = config_new();
		ok(config_parse(c, bad[i], strlen(bad[i]), err, sizeof(err)) < 0 &&
		       strstr(err, "line 1") != NULL,
		   "config: bad line refused with its number");
		config_free(c);
	}
	c = config_new();
	char nul[] = "a = b\0c\n";
	ok(config_parse(c, nul, sizeof(nul) - 1, err, sizeof(err)) < 0, "config: NUL refused");
	config_free(c);
	c = config_new();
	size_t biglen = 10000;
	char *big = malloc(biglen + 1);
	memset(big, 'a', biglen);
	memcpy(big, "k = ", 4);
	big[biglen] = '\0';
	ok(config_parse(c, big, biglen, err, sizeof(err)) < 0, "config: over-long line refused");
	free(big);
	config_free(c);
	c = config_new();
	ok(config_load(c, "/nonexistent/loft.conf", err, sizeof(err)) == 0,
	   "config: missing file is empty config");
	config_free(c);
}

/* Collects every event of a line reader fed with the given chunk size. */
static void lr_run(const char *in, size_t len, size_t chunk, size_t maxline, struct buf *out)
{
	struct linereader lr;
	struct lr_line line;
	size_t pos = 0;
	int r;

	lr_init(&lr, maxline);
	while (pos < len) {
		size_t n = len - pos < chunk ? len - pos : chunk;
		while (n > 0) {
			size_t k = lr_feed(&lr, in + pos, n);
			pos += k;
			n -= k;
			while ((r = lr_next(&lr, &line)) != LR_NEED) {
				if (r == LR_TOOLONG)
					buf_puts(out, "[TOOLONG]");
				else {
					buf_putc(out, '[');
					buf_append(out, line.data, line.len);
					buf_puts(out, line.crlf ? "|crlf]" : "|lf]");
				}
			}
		}
	}
	const char *p;
	size_t pend = lr_pending(&lr, &p);
	buf_printf(out, "{%zu}", pend);
	lr_free(&lr);
}

static void test_linereader(void)
{
	static const char in[] = "HELO a\r\nMAIL FROM:<x>\nbare\rcr\r\n\r\n"
				 "0123456789012345678901234567890123456789\r\n"
				 "ok\r\npartial";
	const char *want = "[HELO a|crlf][MAIL FROM:<x>|lf][bare\rcr|crlf][|crlf][TOOLONG]"
			   "[ok|crlf]{7}";

	for (size_t chunk = 1; chunk <= sizeof(in); chunk++) {
		struct buf out;
		buf_init(&out, 4096);
		lr_run(in, sizeof(in) - 1, chunk, 32, &out);
		if (!is_str(buf_cstr(&out), want, "linereader: same events for every chunk size"))
			printf("# chunk %zu got %s\n", chunk, buf_cstr(&out));
		buf_free(&out);
		if (chunk > 3 && chunk < sizeof(in) - 3)
			chunk += 4; /* keep the output short: 1..3, then every 5th */
	}

	/* a line exactly at the limit (terminator included) passes */
	struct buf out;
	buf_init(&out, 4096);
	lr_run("12345678\r\n", 10, 1, 10, &out);
	is_str(buf_cstr(&out), "[12345678|crlf]{0}", "linereader: line at the limit passes");
	buf_reset(&out);
	lr_run("123456789\r\n", 11, 1, 10, &out);
	is_str(buf_cstr(&out), "[TOOLONG]{0}", "linereader: one byte over is refused");
	buf_reset(&out);

	/* an endless line with no newline: reported once, memory bounded */
	struct linereader lr;
	struct lr_line line;
	char junk[4096];
	int toolong = 0;
	memset(junk, 'x', sizeof(junk));
	lr_init(&lr, 100);
	for (int i = 0; i < 2000; i++) {
		size_t n = sizeof(junk), off = 0;
		while (off < n) {
			off += lr_feed(&lr, junk + off, n - off);
			int r;
			while ((r = lr_next(&lr, &line)) != LR_NEED)
				toolong += r == LR_TOOLONG;
		}
	}
	is_int(toolong, 1, "linereader: 8 MB without newline reported once");
	ok(lr.in.cap <= 201, "linereader: buffer stayed within 2*maxline");
	size_t k = lr_feed(&lr, "\nnext\r\n", 7);
	ok(k == 7 && lr_next(&lr, &line) == LR_LINE && line.len == 4 &&
	       memcmp(line.data, "next", 4) == 0,
	   "linereader: recovers at the next line");
	lr_free(&lr);

	/* NUL and 8-bit bytes pass through untouched */
	buf_reset(&out);
	lr_run("a\0b\xff\r\n", 6, 1, 64, &out);
	is_mem(out.data, out.len,
	       "[a\0b\xff"
	       "|crlf]{0}",
	       14, "linereader: NUL and 8-bit kept");
	buf_free(&out);

	/* raw access for literals: pending + consume */
	lr_init(&lr, 64);
	lr_feed(&lr, "{5}\r\nabcdeX\r\n", 13);
	ok(lr_next(&lr, &line) == LR_LINE && line.len == 3, "linereader: line before literal");
	const char *p;
	ok(lr_pending(&lr, &p) == 8 && memcmp(p, "abcde", 5) == 0, "linereader: raw pending");
	lr_consume(&lr, 5);
	ok(lr_next(&lr, &line) == LR_LINE && line.len == 1 && line.data[0] == 'X',
	   "linereader: lines resume after consume");
	lr_free(&lr);

	/* lr_release: the memory goes back only when every byte was handed out */
	char big[3000];
	memset(big, 'a', sizeof(big));
	big[sizeof(big) - 1] = '\n';
	lr_init(&lr, 4096);
	lr_feed(&lr, big, sizeof(big));
	lr_feed(&lr, "tail", 4);
	ok(lr_next(&lr, &line) == LR_LINE && line.len == sizeof(big) - 1,
	   "linereader: a long line before release");
	is_int(lr_release(&lr, 1024), 0, "linereader: no release while bytes are pending");
	ok(lr.in.data != NULL && lr_pending(&lr, &p) == 4 && memcmp(p, "tail", 4) == 0,
	   "linereader: pending bytes kept");
	lr_feed(&lr, "\r\n", 2);
	ok(lr_next(&lr, &line) == LR_LINE && line.len == 4 && memcmp(line.data, "tail", 4) == 0,
	   "linereader: the line across the refused release");
	is_int(lr_release(&lr, 1 << 20), 0, "linereader: a buffer under keep stays");
	is_int(lr_release(&lr, 1024), 1, "linereader: released once all was handed out");
	ok(lr.in.data == NULL && lr.in.cap == 0 && lr.in.max == 8192 && lr_pending(&lr, &p) == 0,
	   "linereader: empty after release, limit kept");
	lr_feed(&lr, "again\r\n", 7);
	ok(lr_next(&lr, &line) == LR_LINE && line.len == 5 && memcmp(line.data, "again", 5) == 0,
	   "linereader: reads on after release");
	lr_free(&lr);
}

static void test_array(void)
{
	int *a = NULL;
	size_t cap = 0, n = 0;
	int ok_all = 1;

	for (int i = 0; i < 1000; i++) {
		if (ARRAY_GROW(a, cap, n + 1, 8) < 0) {
			ok_all = 0;
			break;
		}
		a[n++] = i;
	}
	ok(ok_all && n == 1000, "array: 1000 elements appended");
	ok(cap == 1024, "array: capacity doubled from 8 to 1024");
	for (size_t i = 0; i < n; i++)
		if (a[i] != (int)i)
			ok_all = 0;
	ok(ok_all, "array: every element kept across the moves");
	is_int(ARRAY_GROW(a, cap, 10, 8), 0, "array: no growth when it fits");
	ok(cap == 1024, "array: capacity unchanged");
	is_int(ARRAY_GROW(a, cap, (size_t)-1 / 2, 8), -1, "array: an impossible size refused");
	ok(cap == 1024 && a[999] == 999, "array: left as it was after a refusal");
	free(a);
}

static void test_utf8(void)
{
	struct buf b;
	uint32_t cp = 0;

	ok(utf8_decode((const unsigned char *)"\xe2\x82\xac", 3, &cp) == 3 && cp == 0x20ac,
	   "utf8: euro sign decoded");
	is_int(utf8_decode((const unsigned char *)"\xc1\x81", 2, &cp), 0, "utf8: overlong refused");
	is_int(utf8_decode((const unsigned char *)"\xe2\x82", 2, &cp), 0,
	       "utf8: cut short refused");
	ok(utf8_valid("abc\xc3\xa9", 5) && !utf8_valid("\xff", 1), "utf8: validity of strings");
	buf_init(&b, 64);
	ok(utf8_put(&b, 0x41) == 0 && utf8_put(&b, 0xe9) == 0 && utf8_put(&b, 0x20ac) == 0 &&
	       utf8_put(&b, 0x1f600) == 0,
	   "utf8: four widths encoded");
	is_mem(b.data, b.len, "A\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80", (size_t)10,
	       "utf8: encoded bytes");
	ok(utf8_valid(b.data, b.len) && utf8_chars(b.data) == 4, "utf8: round trip, 4 characters");
	buf_free(&b);
	/* simple case folding: ASCII, Latin-1, Greek final sigma, Cyrillic,
	 * a 4-byte letter (Deseret), and what has no folding */
	ok(utf8_fold_cp('Q') == 'q' && utf8_fold_cp('q') == 'q' && utf8_fold_cp('@') == '@',
	   "fold: ASCII");
	ok(utf8_fold_cp(0xc4) == 0xe4 && utf8_fold_cp(0x3a3) == 0x3c3 &&
	       utf8_fold_cp(0x3c2) == 0x3c3,
	   "fold: \u00c4, capital and final sigma");
	ok(utf8_fold_cp(0x416) == 0x436 && utf8_fold_cp(0x10400) == 0x10428 &&
	       utf8_fold_cp(0x20ac) == 0x20ac && utf8_fold_cp(0x4e2d) == 0x4e2d,
	   "fold: Cyrillic, Deseret; euro and CJK unchanged");
	ok(utf8_fold_cp(0x1e9e) == 0xdf && utf8_fold_cp(0xdf) == 0xdf,
	   "fold: capital sharp s to sharp s (one code point)");
	buf_init(&b, 64);
	ok(utf8_fold("K\xc3\x96LN \xce\xa3\xcf\x82 \xff!", 13, &b) == 0, "fold: a string");
	is_mem(b.data, b.len, "k\xc3\xb6ln \xcf\x83\xcf\x83 \xff!", (size_t)13,
	       "fold: folded bytes, the invalid byte kept");
	buf_free(&b);
	buf_init(&b, 3);
	is_int(utf8_fold("ABCD", 4, &b), -1, "fold: out of room");
	buf_free(&b);
}

/* The child closes from 150 up: 120 stays, 200 and 900 go, and the
 * walk is bounded by what is open (no 2^32 loop under qemu-user). */
static void test_close_from(void)
{
	int status = -1;
	pid_t pid;

	ok(dup2(0, 120) == 120 && dup2(0, 200) == 200 && dup2(0, 900) == 900, "proc: test fds");
	is_int(proc_max_fd() >= 900, 1, "proc_max_fd sees the highest open descriptor");
	pid = fork();
	if (pid == 0) {
		proc_close_from(150);
		int bad = fcntl(120, F_GETFD) < 0 || fcntl(200, F_GETFD) >= 0 ||
			  fcntl(900, F_GETFD) >= 0 || proc_max_fd() >= 150;
		_exit(bad);
	}
	ok(pid > 0 && waitpid(pid, &status, 0) == pid && WIFEXITED(status) &&
	       WEXITSTATUS(status) == 0,
	   "proc_close_from closes from lowfd up, leaves those below");
	close(900);
	is_int(proc_max_fd() >= 900, 0, "proc_max_fd follows a close");
	close(120);
	close(200);
}

/* LOFT_LOG_FD: lines of level info and up go to loftd's ring pipe too
 * (board/logring.c), debug lines do not, and the variable is not passed on. */
static void test_log_ring(void)
{
	int p[2], saved = dup(STDERR_FILENO), null = open("/dev/null", O_WRONLY);
	char fdtext[16], got[4096];
	ssize_t n;

	ok(pipe(p) == 0 && saved >= 0 && null >= 0, "log ring: pipe");
	dup2(null, STDERR_FILENO); /* the lines' stderr copy: not in the TAP output */
	snprintf(fdtext, sizeof(fdtext), "%d", p[1]);
	setenv("LOFT_LOG_FD", fdtext, 1);
	log_init("test_basics", LOG_LVL_DEBUG);
	ok(getenv("LOFT_LOG_FD") == NULL, "log ring: LOFT_LOG_FD not passed on");
	ok((fcntl(p[1], F_GETFD) & FD_CLOEXEC) && (fcntl(p[1], F_GETFL) & O_NONBLOCK),
	   "log ring: close-on-exec and non-blocking");
	log_msg(LOG_LVL_WARN, NULL, "event=ring-warn");
	log_msg(LOG_LVL_DEBUG, NULL, "event=ring-debug");
	log_msg(LOG_LVL_INFO, "sid1", "event=ring-info");
	/* a full pipe drops the ring's copy, never blocks */
	for (int i = 0; i < 20000; i++)
		log_msg(LOG_LVL_INFO, NULL, "event=flood i=%d", i);
	{
		/* reached here, so no write blocked; and the pipe is really
		 * full (a write of up to PIPE_BUF fails whole when it does not
		 * fit, and what is left is less than one flood line), so the
		 * last lines met a full pipe */
		char fill[512];
		memset(fill, 'x', sizeof(fill));
		ok(write(p[1], fill, sizeof(fill)) == -1 && errno == EAGAIN,
		   "log ring: the pipe filled up and logging went on");
	}
	n = read(p[0], got, sizeof(got) - 1);
	got[n > 0 ? n : 0] = '\0';
	ok(strstr(got, "test_basics[") && strstr(got, "level=warn event=ring-warn\n"),
	   "log ring: a warning line, whole");
	ok(strstr(got, "level=info sid=sid1 event=ring-info\n") != NULL, "log ring: an info line");
	ok(strstr(got, "ring-debug") == NULL, "log ring: no debug lines");
	dup2(saved, STDERR_FILENO);
	close(saved);
	close(null);
	close(p[0]);
	close(p[1]);
	log_init("test_basics", LOG_LVL_ERR);
}

int main(void)
{
	test_log_ring();
	log_init("test_basics", LOG_LVL_ERR);
	test_strnum();
	test_strnum_size();
	test_buf();
	test_config();
	test_linereader();
	test_array();
	test_utf8();
	test_close_from();
	return tap_done();
}
