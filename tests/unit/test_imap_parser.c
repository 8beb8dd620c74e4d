/* Tests for imapd/parser.c: every input is fed whole and one byte at a time. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../imapd/parser.h"
#include "buf.h"
#include "tap.h"

/* Renders a command as "tag NAME arg arg (list)" with atoms bare, strings
 * in quotes and literals as {len}bytes, for easy comparison. */
static void render_args(const struct imap_arg *a, struct buf *out)
{
	for (; a; a = a->next) {
		switch (a->type) {
		case IMAP_ARG_ATOM:
			buf_puts(out, a->str);
			break;
		case IMAP_ARG_QUOTED:
			buf_printf(out, "\"%s\"", a->str);
			break;
		case IMAP_ARG_LITERAL:
			buf_printf(out, "%s{%zu}", a->literal8 ? "~" : "", a->len);
			buf_append(out, a->str, a->len);
			break;
		case IMAP_ARG_LIST:
			buf_putc(out, '(');
			render_args(a->child, out);
			buf_putc(out, ')');
			break;
		}
		if (a->next)
			buf_putc(out, ' ');
	}
}

struct result {
	char text[4096]; /* one line per event */
};

/* Feeds input in chunks of step bytes (0: whole) and records the events:
 * "DONE tag NAME args", "CONT", "ERR tag reason", "FATAL reason". */
static void run(const char *in, size_t len, size_t step, const struct imap_parser_limits *lim,
		struct buf *ev)
{
	struct imap_parser *p = imap_parser_new(lim);
	size_t pos = 0;

	buf_reset(ev);
	while (pos < len) {
		size_t n = step ? (len - pos < step ? len - pos : step) : len - pos;
		size_t used = 0;
		int r = imap_parser_feed(p, in + pos, n, &used);
		if (used > n)
			abort();
		pos += used;
		if (r == IMAP_P_DONE) {
			const struct imap_cmd *c = imap_parser_cmd(p);
			buf_printf(ev, "DONE %s %s", c->tag, c->name);
			if (c->args) {
				buf_putc(ev, ' ');
				render_args(c->args, ev);
			}
			buf_putc(ev, '\n');
		} else if (r == IMAP_P_CONT) {
			buf_puts(ev, "CONT\n");
		} else if (r == IMAP_P_ERROR) {
			const char *t = imap_parser_error_tag(p);
			buf_printf(ev, "ERR %s %s\n", t ? t : "*", imap_parser_error(p));
		} else if (r == IMAP_P_FATAL) {
			buf_printf(ev, "FATAL %s\n", imap_parser_error(p));
			break;
		} else if (used != n) {
			abort();
		}
	}
	imap_parser_free(p);
}

static void check(const char *in, size_t len, const char *want, const char *what)
{
	struct buf ev;
	char name[256];

	buf_init(&ev, 1 << 20);
	run(in, len, 0, NULL, &ev);
	snprintf(name, sizeof(name), "%s (whole)", what);
	if (!is_str(buf_cstr(&ev), want, name))
		printf("# got: %s\n", buf_cstr(&ev));
	run(in, len, 1, NULL, &ev);
	snprintf(name, sizeof(name), "%s (byte by byte)", what);
	if (!is_str(buf_cstr(&ev), want, name))
		printf("# got: %s\n", buf_cstr(&ev));
	run(in, len, 3, NULL, &ev);
	snprintf(name, sizeof(name), "%s (3-byte chunks)", what);
	is_str(buf_cstr(&ev), want, name);
	buf_free(&ev);
}

#define CHECK(in, want, what) check(in, sizeof(in) - 1, want, what)

static void test_limits(void)
{
	struct imap_parser_limits lim;
	struct buf ev, in;

	buf_init(&ev, 1 << 20);
	buf_init(&in, 1 << 22);
	imap_parser_limits_default(&lim);

	/* 10,000 nested lists */
	buf_puts(&in, "a SEARCH ");
	for (int i = 0; i < 10000; i++)
		buf_putc(&in, '(');
	buf_puts(&in, "ALL");
	for (int i = 0; i < 10000; i++)
		buf_putc(&in, ')');
	buf_puts(&in, "\r\nb NOOP\r\n");
	run(in.data, in.len, 0, &lim, &ev);
	is_str(buf_cstr(&ev), "ERR a lists nested too deeply\nDONE b NOOP\n",
	       "10000 nested lists refused, next command fine");
	run(in.data, in.len, 1, &lim, &ev);
	is_str(buf_cstr(&ev), "ERR a lists nested too deeply\nDONE b NOOP\n",
	       "10000 nested lists refused byte by byte");

	/* 32 levels are fine */
	buf_reset(&in);
	buf_puts(&in, "a X ");
	for (int i = 0; i < 32; i++)
		buf_putc(&in, '(');
	for (int i = 0; i < 32; i++)
		buf_putc(&in, ')');
	buf_puts(&in, "\r\n");
	run(in.data, in.len, 0, &lim, &ev);
	ok(strncmp(buf_cstr(&ev), "DONE a X ((((", 13) == 0, "32 nested lists accepted");

	/* an over-long line, with and without its end */
	buf_reset(&in);
	buf_puts(&in, "a LOGIN ");
	for (int i = 0; i < 70000; i++)
		buf_putc(&in, 'x');
	buf_puts(&in, "\r\nb NOOP\r\n");
	run(in.data, in.len, 0, &lim, &ev);
	is_str(buf_cstr(&ev), "ERR a line too long\nDONE b NOOP\n", "line too long refused");
	run(in.data, in.len, 7, &lim, &ev);
	is_str(buf_cstr(&ev), "ERR a line too long\nDONE b NOOP\n", "line too long, 7-byte chunks");

	/* too many arguments */
	lim.max_args = 100;
	buf_reset(&in);
	buf_puts(&in, "a X");
	for (int i = 0; i < 150; i++)
		buf_puts(&in, " y");
	buf_puts(&in, "\r\nb NOOP\r\n");
	run(in.data, in.len, 0, &lim, &ev);
	is_str(buf_cstr(&ev), "ERR a too many arguments\nDONE b NOOP\n", "argument count limit");
	imap_parser_limits_default(&lim);

	/* literal size: synchronising -> BAD and the client never sends it */
	run("a LOGIN {4294967296}\r\nb NOOP\r\n", 30, 0, &lim, &ev);
	is_str(buf_cstr(&ev), "ERR a literal too large\nDONE b NOOP\n", "4 GB literal refused");
	run("a LOGIN {99999999999999999999999}\r\n", 35, 1, &lim, &ev);
	is_str(buf_cstr(&ev), "ERR a literal too large\n", "literal length overflow refused");
	/* non-synchronising too large -> fatal */
	run("a LOGIN {4294967296+}\r\nxxx", 26, 1, &lim, &ev);
	is_str(buf_cstr(&ev), "FATAL literal too large\n", "4 GB LITERAL+ is fatal");
	/* APPEND may take bigger literals than other commands */
	run("a LOGIN {70000}\r\n", 17, 0, &lim, &ev);
	is_str(buf_cstr(&ev), "ERR a literal too large\n", "70000-byte literal refused for LOGIN");
	run("a APPEND INBOX {70000}\r\n", 24, 0, &lim, &ev);
	is_str(buf_cstr(&ev), "CONT\n", "70000-byte literal fine for APPEND");

	/* total command size */
	lim.max_total = 1000;
	lim.max_append_literal = 100000;
	buf_reset(&in);
	buf_puts(&in, "a APPEND INBOX {2000+}\r\n");
	for (int i = 0; i < 2000; i++)
		buf_putc(&in, 'm');
	run(in.data, in.len, 0, &lim, &ev);
	is_str(buf_cstr(&ev), "FATAL literal too large\n", "total command size limit");

	buf_free(&in);
	buf_free(&ev);
}

int main(void)
{
	CHECK("a1 NOOP\r\n", "DONE a1 NOOP\n", "simple command");
	CHECK("a1 noop\n", "DONE a1 NOOP\n", "name upper-cased, bare LF");
	CHECK("a LOGIN u p\r\nb LIST \"\" *\r\n", "DONE a LOGIN u p\nDONE b LIST \"\" *\n",
	      "second command does not inherit the first's arguments");
	CHECK("\r\n\r\na1 NOOP\r\n", "DONE a1 NOOP\n", "empty lines ignored");
	CHECK("x LOGIN user \"p a\\\"s\\\\s\"\r\n", "DONE x LOGIN user \"p a\"s\\s\"\n",
	      "quoted string with escapes");
	CHECK("x LOGIN {4}\r\nuser {3+}\r\npas\r\n", "CONT\nDONE x LOGIN {4}user {3}pas\n",
	      "literal and LITERAL+");
	CHECK("x LOGIN {0}\r\n \"\"\r\n", "CONT\nDONE x LOGIN {0} \"\"\n", "empty literal");
	CHECK(
	    "x APPEND INBOX (\\Seen \\Draft) \"17-Jul-1996 02:44:25 -0700\" {5}\r\nhello\r\n",
	    "CONT\nDONE x APPEND INBOX (\\Seen \\Draft) \"17-Jul-1996 02:44:25 -0700\" {5}hello\n",
	    "APPEND with flags and date");
	CHECK("x APPEND INBOX ~{3+}\r\na\0b\r\n", "DONE x APPEND INBOX ~{3}a\0b\n",
	      "literal8 with a NUL");
	CHECK("f UID FETCH 1:*,7 (FLAGS BODY.PEEK[HEADER.FIELDS (From To)]<0.100>)\r\n",
	      "DONE f UID FETCH 1:*,7 (FLAGS BODY.PEEK[HEADER.FIELDS (From To)]<0.100>)\n",
	      "fetch section with a list inside brackets");
	CHECK("f FETCH 1 BODY[]\r\n", "DONE f FETCH 1 BODY[]\n", "empty section");
	CHECK("s SEARCH OR (FROM a SUBJECT \"b c\") NOT () SEEN\r\n",
	      "DONE s SEARCH OR (FROM a SUBJECT \"b c\") NOT () SEEN\n", "nested lists");
	CHECK("l LIST \"\" %/*\r\n", "DONE l LIST \"\" %/*\n", "list wildcards");
	CHECK("s STORE 1 +FLAGS.SILENT (\\Seen $Junk)\r\n",
	      "DONE s STORE 1 +FLAGS.SILENT (\\Seen $Junk)\n", "store flags");
	CHECK("a ~x\r\n", "DONE a ~X\n", "tilde atom is not a command here");
	CHECK("a NOOP ~x\r\n", "DONE a NOOP ~x\n", "atom starting with tilde");
	CHECK("a SELECT \"Entw&APw-rfe\"\r\n", "DONE a SELECT \"Entw&APw-rfe\"\n", "mUTF-7 name");
	/* 8-bit in quoted strings: valid UTF-8 is taken whether or not the
	 * session enabled UTF8=ACCEPT (as Dovecot does: clients send
	 * SEARCH CHARSET UTF-8 TEXT "\xc3\xbc" quoted); invalid bytes are BAD */
	CHECK("a SEARCH CHARSET UTF-8 TEXT \"\xc3\xbc\"\r\n",
	      "DONE a SEARCH CHARSET UTF-8 TEXT \"\xc3\xbc\"\n", "UTF-8 quoted before ENABLE");
	CHECK("a SELECT {4}\r\n\xc3\xa9t\xc3\r\n", "CONT\nDONE a SELECT {4}\xc3\xa9t\xc3\n",
	      "8-bit literal taken as it is");
	CHECK("a LOGIN \"j\xc3\xbcrgen\" \"p\xe4ss\"\r\n",
	      "DONE a LOGIN \"j\xc3\xbcrgen\" \"p\xe4ss\"\n",
	      "LOGIN keeps any 8-bit quoted strings (passwords)");
	CHECK("a LOGIN x y\r\nb SELECT \"p\xe4ss\"\r\n",
	      "DONE a LOGIN x y\nERR b invalid UTF-8 in quoted string\n",
	      "LOGIN's exemption ends with it");
	CHECK("a SELECT \"\xe4\"\r\nb NOOP\r\n",
	      "ERR a invalid UTF-8 in quoted string\nDONE b NOOP\n", "Latin-1 byte quoted");
	CHECK("a SELECT \"a\rb\"\r\nb NOOP\r\n", "ERR a unterminated quoted string\nDONE b NOOP\n",
	      "CR in quoted");
	CHECK("a SELECT \"\xc3\xa9t\xc3\xa9\"\r\n", "DONE a SELECT \"\xc3\xa9t\xc3\xa9\"\n",
	      "UTF-8 in quoted");
	CHECK("a SEARCH SUBJECT \"Gr\xc3\xbc\xc3\x9f\\\"e \xf0\x9f\x93\xa7\"\r\n",
	      "DONE a SEARCH SUBJECT \"Gr\xc3\xbc\xc3\x9f\"e \xf0\x9f\x93\xa7\"\n",
	      "UTF-8 with an escape and a 4-byte character");
	CHECK("a SELECT \"\xc3(\"\r\nb NOOP\r\n",
	      "ERR a invalid UTF-8 in quoted string\nDONE b NOOP\n", "bad continuation byte");
	CHECK("a SELECT \"ab\xc3\"\r\nb NOOP\r\n",
	      "ERR a invalid UTF-8 in quoted string\nDONE b NOOP\n", "sequence cut by the quote");
	CHECK("a SELECT \"\xc0\xaf\"\r\nb NOOP\r\n",
	      "ERR a invalid UTF-8 in quoted string\nDONE b NOOP\n", "overlong form");
	CHECK("a SELECT \"\xed\xa0\x80\"\r\nb NOOP\r\n",
	      "ERR a invalid UTF-8 in quoted string\nDONE b NOOP\n", "surrogate");
	CHECK("a SELECT \"\xff\"\r\nb NOOP\r\n",
	      "ERR a invalid UTF-8 in quoted string\nDONE b NOOP\n", "0xff byte");
	CHECK("a SELECT \"\xc3\xa9\r\nb NOOP\r\n",
	      "ERR a unterminated quoted string\nDONE b NOOP\n", "unterminated UTF-8 quoted");
	/* APPEND UTF8 (RFC 6855 4): a literal8 in a list */
	CHECK("x APPEND INBOX (\\Seen) UTF8 (~{6+}\r\nS: \xc3\xa9\n)\r\n",
	      "DONE x APPEND INBOX (\\Seen) UTF8 (~{6}S: \xc3\xa9\n)\n", "APPEND UTF8 literal8");
	CHECK("x APPEND INBOX UTF8 (~{3}\r\nabc)\r\n", "CONT\nDONE x APPEND INBOX UTF8 (~{3}abc)\n",
	      "APPEND UTF8 synchronising literal8");

	/* bad input: BAD and the next command works */
	CHECK("a X (b\r\nc NOOP\r\n", "ERR a unbalanced parentheses\nDONE c NOOP\n",
	      "unbalanced open paren");
	CHECK("a X b)\r\nc NOOP\r\n", "ERR a unbalanced parentheses\nDONE c NOOP\n",
	      "unbalanced close paren");
	CHECK("a X (b )\r\nc NOOP\r\n", "ERR a unexpected ')'\nDONE c NOOP\n", "space before )");
	CHECK("a X \"abc\r\nc NOOP\r\n", "ERR a unterminated quoted string\nDONE c NOOP\n",
	      "unterminated quoted");
	CHECK("a X \"a\0b\"\r\nc NOOP\r\n", "ERR a NUL byte in quoted string\nDONE c NOOP\n",
	      "NUL in quoted");
	CHECK("a X a\0b\r\nc NOOP\r\n", "ERR a NUL byte in command\nDONE c NOOP\n", "NUL in atom");
	CHECK("a X \"a\\b\"\r\nc NOOP\r\n", "ERR a bad escape in quoted string\nDONE c NOOP\n",
	      "bad escape");
	CHECK("a X {12x}\r\nc NOOP\r\n", "ERR a bad literal\nDONE c NOOP\n", "bad literal");
	CHECK("a X {3} b\r\nc NOOP\r\n",
	      "ERR a literal announcement must end the line\nDONE c NOOP\n",
	      "literal not at end of line");
	CHECK("a X  b\r\nc NOOP\r\n", "ERR a extra space\nDONE c NOOP\n", "double space");
	CHECK("a X b\"c\"\r\nc NOOP\r\n", "ERR a invalid character in atom\nDONE c NOOP\n",
	      "quote inside atom");
	CHECK("a X \"b\"c\r\nc NOOP\r\n", "ERR a missing space between arguments\nDONE c NOOP\n",
	      "junk after string");
	CHECK("+a NOOP\r\nc NOOP\r\n", "ERR * invalid tag\nDONE c NOOP\n", "bad tag");
	CHECK("abc\r\nc NOOP\r\n", "ERR abc missing command\nDONE c NOOP\n", "tag alone");
	CHECK("a X[1] y\r\nc NOOP\r\n", "ERR a invalid command name\nDONE c NOOP\n",
	      "bracket in command name");
	CHECK("a X BODY[1\r\nc NOOP\r\n", "ERR a unterminated '['\nDONE c NOOP\n",
	      "unterminated section");
	CHECK("a X b\rc\r\nc NOOP\r\n", "ERR a CR without LF\nDONE c NOOP\n", "CR inside a line");

	/* imap_line_take */
	{
		size_t ll = 0, used = 0;
		is_int(imap_line_take("DONE\r\nx", 7, 100, &ll, &used), 1,
		       "line_take finds a line");
		is_int(ll, 4, "line_take length without CRLF");
		is_int(used, 6, "line_take used");
		is_int(imap_line_take("DON", 3, 100, &ll, &used), 0, "line_take needs more");
		is_int(imap_line_take("DONEDONE", 8, 4, &ll, &used), -1, "line_take too long");
	}
	test_limits();
	return tap_done();
}
