/* Tests for imapd/parser.c's limits by session state: the pre-login limits,
 * swapping limits at login, the bound on commands other than APPEND, and
 * giving back storage after a big command (imap_parser_storage).  parser.c
 * is linked in through imapd/build.mk. */
#include <stdio.h>
#include <string.h>

#include "../../imapd/parser.h"
#include "buf.h"

#include "tap.h"

static struct imap_parser_storage storage(const struct imap_parser *p)
{
	struct imap_parser_storage st;

	imap_parser_storage(p, &st);
	return st;
}

/* Feeds in (in chunks of step bytes, 0: whole) and returns the events as
 * "DONE tag NAME nargs", "CONT", "ERR tag reason", "FATAL tag reason". */
static const char *feed(struct imap_parser *p, const char *in, size_t len, size_t step)
{
	static char out[4096];
	size_t pos = 0, o = 0;

	out[0] = '\0';
	while (pos < len && o < sizeof(out) - 200) {
		size_t n = step ? (len - pos < step ? len - pos : step) : len - pos;
		size_t used = 0;
		int r = imap_parser_feed(p, in + pos, n, &used);
		const char *t = imap_parser_error_tag(p);
		pos += used;
		if (r == IMAP_P_DONE) {
			const struct imap_cmd *c = imap_parser_cmd(p);
			o += (size_t)snprintf(out + o, sizeof(out) - o, "DONE %s %s %zu\n", c->tag,
					      c->name, c->nargs);
		} else if (r == IMAP_P_CONT) {
			o += (size_t)snprintf(out + o, sizeof(out) - o, "CONT\n");
		} else if (r == IMAP_P_ERROR) {
			o += (size_t)snprintf(out + o, sizeof(out) - o, "ERR %s %s\n", t ? t : "*",
					      imap_parser_error(p));
		} else if (r == IMAP_P_FATAL) {
			o += (size_t)snprintf(out + o, sizeof(out) - o, "FATAL %s %s\n",
					      t ? t : "*", imap_parser_error(p));
			break;
		}
	}
	return out;
}

/* is_str evaluates its arguments more than once: feed first. */
static int got_is(const char *got, const char *want, const char *what)
{
	if (!is_str(got, want, what)) {
		printf("# got: %s\n", got);
		return 0;
	}
	return 1;
}

/* Runs in whole, byte by byte and in 7-byte chunks on fresh parsers. */
static void check(const struct imap_parser_limits *lim, const char *in, size_t len,
		  const char *want, const char *what)
{
	static const size_t steps[] = {0, 1, 7};
	char name[256];

	for (size_t i = 0; i < 3; i++) {
		struct imap_parser *p = imap_parser_new(lim);
		snprintf(name, sizeof(name), "%s (step %zu)", what, steps[i]);
		got_is(feed(p, in, len, steps[i]), want, name);
		imap_parser_free(p);
	}
}

#define CHECK(lim, in, want, what) check(lim, in, sizeof(in) - 1, want, what)

static void test_preauth(void)
{
	struct imap_parser_limits pre;
	struct buf in;

	imap_parser_limits_preauth(&pre);
	CHECK(&pre, "a LOGIN {4096}\r\n", "CONT\n", "4 KiB literal fine before login");
	CHECK(&pre, "a LOGIN {4097}\r\nb NOOP\r\n", "ERR a literal too large\nDONE b NOOP 0\n",
	      "synchronising literal over 4 KiB: BAD, no +");
	CHECK(&pre, "a APPEND INBOX {50000000}\r\nb NOOP\r\n",
	      "ERR a literal too large\nDONE b NOOP 0\n", "no APPENDLIMIT before login");
	CHECK(&pre, "a APPEND INBOX {50000000+}\r\nxxxx", "FATAL a literal too large\n",
	      "big LITERAL+ before login: fatal, tag kept for BAD");
	CHECK(&pre, "a UID APPEND INBOX {5000+}\r\nxxxx", "FATAL a literal too large\n",
	      "UID APPEND gets no more");

	/* many small LITERAL+ in one command: the total stops it at 96 KiB */
	buf_init(&in, 1 << 20);
	buf_puts(&in, "a NOOP");
	for (int i = 0; i < 60; i++) {
		buf_puts(&in, " {2000+}\r\n");
		for (int j = 0; j < 2000; j++)
			buf_putc(&in, 'q');
	}
	buf_puts(&in, "\r\n");
	for (size_t step = 0; step < 3; step += 2) {
		struct imap_parser *p = imap_parser_new(&pre);
		got_is(feed(p, in.data, in.len, step), "FATAL a literal too large\n",
		       "96 KiB total before login");
		imap_parser_free(p);
	}
	/* a line of 70000 bytes: over the 64 KiB pre-login line; the next
	 * command is read as usual */
	buf_reset(&in);
	buf_puts(&in, "a LOGIN ");
	for (int i = 0; i < 70000; i++)
		buf_putc(&in, 'u');
	buf_puts(&in, " p\r\nb NOOP\r\n");
	for (size_t step = 0; step < 2; step++) {
		struct imap_parser *p = imap_parser_new(&pre);
		got_is(feed(p, in.data, in.len, step), "ERR a line too long\nDONE b NOOP 0\n",
		       "64 KiB line before login");
		imap_parser_free(p);
	}
	/* the largest legal ID (RFC 2971: 30 pairs, 30-octet fields,
	 * 1024-octet values), every value octet escaped: taken before login,
	 * whole and byte by byte (issue 9, item 3) */
	buf_reset(&in);
	buf_puts(&in, "i ID (");
	for (int i = 0; i < 30; i++) {
		buf_printf(&in, "%s\"field%02d_______________________\" \"", i ? " " : "", i);
		for (int j = 0; j < 1024; j++)
			buf_puts(&in, "\\\\");
		buf_putc(&in, '"');
	}
	buf_puts(&in, ")\r\nb NOOP\r\n");
	ok(in.len > 62000, "the ID line is over 62,000 bytes");
	for (size_t step = 0; step < 2; step++) {
		struct imap_parser *p = imap_parser_new(&pre);
		got_is(feed(p, in.data, in.len, step), "DONE i ID 1\nDONE b NOOP 0\n",
		       "30-pair ID before login");
		imap_parser_free(p);
	}
	buf_free(&in);
}

static void test_swap(void)
{
	struct imap_parser_limits pre, full;
	struct imap_parser *p;
	size_t used;

	imap_parser_limits_preauth(&pre);
	imap_parser_limits_default(&full);
	p = imap_parser_new(&pre);
	/* busy: refused, limits unchanged */
	is_int(imap_parser_feed(p, "a LOGIN u", 9, &used), IMAP_P_NEED, "part of a command");
	is_int(imap_parser_set_limits(p, &full), -1, "no swap in the middle of a command");
	got_is(feed(p, " p\r\n", 4, 0), "DONE a LOGIN 2\n", "command completes");
	is_int(imap_parser_set_limits(p, &full), 0, "swap between commands");
	got_is(feed(p, "b APPEND INBOX {70000}\r\n", 24, 0), "CONT\n",
	       "logged in: APPEND takes a big literal");
	imap_parser_free(p);

	/* logged in, commands other than APPEND are bounded apart */
	full.max_other_total = 5000;
	p = imap_parser_new(&full);
	got_is(feed(p, "a SEARCH {3000+}\r\n", 18, 0), "", "first literal");
	used = 0;
	{
		char lit[3000];
		memset(lit, 's', sizeof(lit));
		is_int(imap_parser_feed(p, lit, sizeof(lit), &used), IMAP_P_NEED, "literal taken");
	}
	got_is(feed(p, " {3000+}\r\n", 10, 0), "FATAL a literal too large\n",
	       "max_other_total bounds SEARCH");
	imap_parser_free(p);
	p = imap_parser_new(&full);
	got_is(feed(p, "a APPEND INBOX {9000}\r\n", 23, 0), "CONT\n",
	       "max_other_total does not bound APPEND");
	imap_parser_free(p);
}

static void test_release(void)
{
	struct imap_parser_limits full;
	struct imap_parser *p;
	struct buf in;

	imap_parser_limits_default(&full);
	p = imap_parser_new(&full);
	buf_init(&in, 1 << 22);
	buf_puts(&in, "a APPEND INBOX {2000000+}\r\n");
	for (int i = 0; i < 2000000; i++)
		buf_putc(&in, 'm');
	buf_puts(&in, "\r\n");
	got_is(feed(p, in.data, in.len, 0), "DONE a APPEND 2\n", "2 MB APPEND parsed");
	ok(storage(p).text >= 2000000, "buffer grew for it");
	imap_parser_release(p);
	ok(storage(p).text <= IMAP_PARSER_KEEP_TEXT, "release gave the buffer back");
	got_is(feed(p, "b NOOP\r\n", 8, 0), "DONE b NOOP 0\n", "parser fine after release");

	/* 5000 arguments grow the node array; the next command shrinks it */
	buf_reset(&in);
	buf_puts(&in, "c X");
	for (int i = 0; i < 5000; i++)
		buf_puts(&in, " y");
	buf_puts(&in, "\r\n");
	got_is(feed(p, in.data, in.len, 0), "DONE c X 5000\n", "5000 arguments");
	ok(storage(p).nodes > IMAP_PARSER_KEEP_NODES, "node array grew");
	got_is(feed(p, "d NOOP\r\n", 8, 0), "DONE d NOOP 0\n", "next command");
	ok(storage(p).nodes <= IMAP_PARSER_KEEP_NODES && storage(p).args <= IMAP_PARSER_KEEP_NODES,
	   "node and argument arrays given back");
	/* release in the middle of a command keeps it */
	is_int(imap_parser_feed(p, "e LOGIN {3}\r\n", 13, &(size_t){0}), IMAP_P_CONT, "literal");
	imap_parser_release(p);
	got_is(feed(p, "abc x\r\n", 7, 0), "DONE e LOGIN 2\n", "release while busy is a no-op");
	buf_free(&in);
	imap_parser_free(p);
}

int main(void)
{
	test_preauth();
	test_swap();
	test_release();
	return tap_done();
}
