/*
 * The POP3 command parser, SASL PLAIN decoding and dot-stuffing, fed whole
 * and byte by byte.
 *
 * The parser (imapd/pop3/pop3_parse.c) is linked in through
 * imapd/build.mk (test_pop3_parse_EXTRA).
 */
#include <stdlib.h>
#include <string.h>

#include "../../imapd/pop3/pop3_parse.h"
#include "buf.h"

#include "linereader.h"
#include "tap.h"

static int parse(const char *line, struct pop3_cmd *cmd)
{
	return pop3_cmd_parse(line, strlen(line), cmd);
}

static int arg_is(const struct pop3_cmd *cmd, size_t i, const char *want)
{
	return i < cmd->nargs && cmd->arglen[i] == strlen(want) &&
	       memcmp(cmd->arg[i], want, cmd->arglen[i]) == 0;
}

static void test_commands(void)
{
	struct pop3_cmd c;

	is_int(parse("STAT", &c), 0, "STAT parses");
	is_int(c.id, POP3_STAT, "STAT id");
	is_int(c.nargs, 0, "STAT no args");
	is_int(parse("stat", &c), 0, "keywords are case-insensitive");
	is_int(parse("LiSt 3", &c), 0, "LIST 3");
	ok(c.id == POP3_LIST && arg_is(&c, 0, "3"), "LIST arg");
	is_int(parse("LIST", &c), 0, "LIST without arg");
	is_int(parse("TOP 1 10", &c), 0, "TOP");
	ok(c.id == POP3_TOP && arg_is(&c, 0, "1") && arg_is(&c, 1, "10"), "TOP args");
	is_int(parse("TOP 1", &c), POP3_PE_ARGS, "TOP needs two args");
	is_int(parse("TOP 1 2 3", &c), POP3_PE_ARGS, "TOP takes two args");
	is_int(parse("RETR", &c), POP3_PE_ARGS, "RETR needs an arg");
	is_int(parse("STAT 1", &c), POP3_PE_ARGS, "STAT takes none");
	is_int(parse("QUIT   ", &c), 0, "trailing spaces are tolerated");
	is_int(parse("  NOOP", &c), 0, "leading spaces are tolerated");
	is_int(parse("", &c), POP3_PE_EMPTY, "empty line");
	is_int(parse("    ", &c), POP3_PE_EMPTY, "only spaces");
	is_int(parse("APOP a b", &c), POP3_PE_UNKNOWN, "APOP is not offered");
	is_int(parse("STATS", &c), POP3_PE_UNKNOWN, "prefix is not a match");
	is_int(parse("STA", &c), POP3_PE_UNKNOWN, "short prefix is not a match");
	is_int(parse("USER alice@example.org", &c), 0, "USER");
	ok(arg_is(&c, 0, "alice@example.org"), "USER arg");
	is_int(parse("USER a b", &c), POP3_PE_ARGS, "USER takes one arg");
	is_int(parse("PASS secret with spaces ", &c), 0, "PASS with spaces");
	ok(arg_is(&c, 0, "secret with spaces "), "PASS keeps the rest of the line verbatim");
	is_int(parse("PASS  lead", &c), 0, "PASS with a leading space in the password");
	ok(arg_is(&c, 0, " lead"), "PASS: only one separator space is eaten");
	is_int(parse("PASS p\xc3\xa4ss", &c), 0, "PASS takes UTF-8");
	is_int(parse("PASS", &c), POP3_PE_ARGS, "PASS without password");
	is_int(parse("utf8", &c), 0, "UTF8 (RFC 6856)");
	ok(c.id == POP3_UTF8 && c.nargs == 0, "UTF8 id, no args");
	is_int(parse("UTF8 USER", &c), POP3_PE_ARGS, "UTF8 takes no argument");
	is_int(parse("UTF-8", &c), POP3_PE_UNKNOWN, "UTF-8 is not UTF8");
	is_str(pop3_cmd_name(POP3_UTF8), "UTF8", "UTF8 name");
	is_int(parse("PASS ", &c), POP3_PE_ARGS, "PASS with empty password");
	is_int(parse("PASS a\tb", &c), POP3_PE_CHAR, "PASS refuses control bytes");
	is_int(parse("AUTH", &c), 0, "AUTH alone");
	is_int(parse("AUTH PLAIN", &c), 0, "AUTH PLAIN");
	is_int(parse("AUTH PLAIN AGFsaWNlAHNlY3JldA==", &c), 0, "AUTH PLAIN with IR");
	ok(arg_is(&c, 1, "AGFsaWNlAHNlY3JldA=="), "AUTH IR arg");
	is_int(parse("AUTH PLAIN a b", &c), POP3_PE_ARGS, "AUTH with three args");
	is_int(parse("STLS", &c), 0, "STLS");
	is_int(parse("CAPA", &c), 0, "CAPA");
	is_int(parse("UIDL 2", &c), 0, "UIDL n");
	is_int(parse("DELE 2", &c), 0, "DELE n");
	is_int(parse("RSET", &c), 0, "RSET");

	/* bad bytes */
	is_int(pop3_cmd_parse("ST\0T", 4, &c), POP3_PE_CHAR, "NUL in keyword");
	is_int(pop3_cmd_parse("LIST \0", 6, &c), POP3_PE_CHAR, "NUL in argument");
	is_int(parse("LIST \x01", &c), POP3_PE_CHAR, "control byte in argument");
	is_int(parse("LIST \xff", &c), POP3_PE_CHAR, "8-bit byte in argument");
	is_int(parse("\xffSTAT", &c), POP3_PE_CHAR, "8-bit byte in keyword");
	is_int(parse("STAT\r", &c), POP3_PE_CHAR, "stray CR");

	/* argument lengths (RFC 2449: 40 octets) */
	char line[400];
	memset(line, 0, sizeof(line));
	memcpy(line, "RETR ", 5);
	memset(line + 5, '1', 40);
	is_int(parse(line, &c), 0, "40-octet argument");
	line[45] = '1';
	is_int(parse(line, &c), POP3_PE_ARGLEN, "41-octet argument");
	memcpy(line, "USER ", 5);
	memset(line + 5, 'a', 254);
	line[259] = '\0';
	is_int(parse(line, &c), 0, "USER takes a 254-octet address");
	line[259] = 'a';
	line[260] = '\0';
	is_int(parse(line, &c), POP3_PE_ARGLEN, "USER refuses 255 octets");

	is_str(pop3_cmd_name(POP3_RETR), "RETR", "command name");
	is_str(pop3_cmd_name(POP3_NCMDS), "?", "out of range name");
}

static void test_numbers(void)
{
	uint64_t n;

	ok(pop3_parse_num("1", 1, 100, &n) == 0 && n == 1, "number 1");
	ok(pop3_parse_num("100", 3, 100, &n) == 0 && n == 100, "number at max");
	ok(pop3_parse_num("101", 3, 100, &n) < 0, "number over max");
	ok(pop3_parse_num("", 0, 100, &n) < 0, "empty number");
	ok(pop3_parse_num("-1", 2, 100, &n) < 0, "negative number");
	ok(pop3_parse_num("+1", 2, 100, &n) < 0, "signed number");
	ok(pop3_parse_num("1a", 2, 100, &n) < 0, "trailing junk");
	ok(pop3_parse_num("0x1", 3, 100, &n) < 0, "hex");
	ok(pop3_parse_num("99999999999999999999999", 23, UINT64_MAX, &n) < 0, "overflow");
	ok(pop3_parse_num("18446744073709551615", 20, UINT64_MAX, &n) == 0 && n == UINT64_MAX,
	   "largest u64");
	ok(pop3_parse_num("18446744073709551616", 20, UINT64_MAX, &n) < 0, "u64 overflow");
}

/* Converts data with pieces of at most soft bytes; returns a malloc'd
 * string. */
static char *stuff(const char *data, int top, uint64_t lines, size_t soft, int *rounds)
{
	struct pop3_stuffer s;
	struct buf all, piece;
	int r;

	buf_init(&all, 1 << 20);
	buf_init(&piece, soft + 8);
	pop3_stuffer_init(&s, top, lines);
	*rounds = 0;
	do {
		r = pop3_stuffer_run(&s, data, strlen(data), &piece, soft);
		if (r < 0)
			break;
		buf_append(&all, piece.data, piece.len);
		buf_reset(&piece);
		(*rounds)++;
	} while (r == 0 && *rounds < 100000);
	buf_free(&piece);
	if (r < 0) {
		buf_free(&all);
		return NULL;
	}
	size_t len;
	char *out = buf_steal(&all, &len);
	return out ? out : strdup("");
}

static void check_stuff(const char *in, int top, uint64_t lines, const char *want, const char *what)
{
	int rounds, same = 1;
	char *got = stuff(in, top, lines, 1 << 16, &rounds);

	is_str(got, want, what);
	/* the same output whatever the slice size, down to one byte */
	for (size_t soft = 1; soft < 40; soft++) {
		char *g = stuff(in, top, lines, soft, &rounds);
		if (!g || strcmp(g, want) != 0)
			same = 0;
		free(g);
	}
	ok(same, "sliced output is identical");
	free(got);
}

static void test_stuffing(void)
{
	const char *m = "Subject: hi\r\nFrom: a@b\r\n\r\nline1\r\n.dot\r\nline3\r\n";

	check_stuff(m, 0, 0, "Subject: hi\r\nFrom: a@b\r\n\r\nline1\r\n..dot\r\nline3\r\n",
		    "RETR stuffs dots");
	check_stuff("A: b\n\nx\n.\n..\n", 0, 0, "A: b\r\n\r\nx\r\n..\r\n...\r\n",
		    "bare LF becomes CRLF, lone dot lines stuffed");
	check_stuff("A: b\r\n\r\nno newline", 0, 0, "A: b\r\n\r\nno newline\r\n",
		    "last line gets CRLF");
	check_stuff("A: b\r\n\r\na\rb\r\n", 0, 0, "A: b\r\n\r\na\rb\r\n", "lone CR kept");
	check_stuff("", 0, 0, "", "empty message");
	check_stuff(m, 1, 0, "Subject: hi\r\nFrom: a@b\r\n\r\n", "TOP 0: header and blank line");
	check_stuff(m, 1, 2, "Subject: hi\r\nFrom: a@b\r\n\r\nline1\r\n..dot\r\n", "TOP 2");
	check_stuff(m, 1, 100, "Subject: hi\r\nFrom: a@b\r\n\r\nline1\r\n..dot\r\nline3\r\n",
		    "TOP beyond the end");
	check_stuff("A: b\r\nC: d\r\n", 1, 0, "A: b\r\nC: d\r\n", "TOP without a body");
	check_stuff(".A: b\n\n.x\n", 1, 1, "..A: b\r\n\r\n..x\r\n", "TOP stuffs too");
	check_stuff("A: b\n\n\n\nz\n", 1, 2, "A: b\r\n\r\n\r\n\r\n", "TOP counts empty body lines");

	/* a line far longer than a slice, starting with a dot */
	char big[3000];
	memset(big, 'x', sizeof(big));
	memcpy(big, "H: v\n\n.", 7);
	big[sizeof(big) - 1] = '\0';
	int rounds;
	char *g = stuff(big, 0, 0, 100, &rounds);
	ok(g && strlen(g) == strlen(big) + 1 + 2 + 2 && memcmp(g, "H: v\r\n\r\n..xx", 12) == 0,
	   "long line sliced, dot stuffed once");
	ok(rounds > 20, "long line went out in many slices");
	free(g);

	/* the hard maximum of the output buffer is reported */
	struct pop3_stuffer s;
	struct buf small;
	buf_init(&small, 4);
	pop3_stuffer_init(&s, 0, 0);
	is_int(pop3_stuffer_run(&s, "abcdefgh\r\n", 10, &small, 100), -1, "hard maximum hit");
	buf_free(&small);

	is_int(pop3_wire_size("a\nb\n", 4), 6, "wire size adds CRs");
	is_int(pop3_wire_size("a\r\nb\r\n", 6), 6, "wire size of CRLF text");
	is_int(pop3_wire_size("a\r\nb", 4), 6, "wire size adds the last CRLF");
	is_int(pop3_wire_size("", 0), 0, "wire size empty");
	is_int(pop3_wire_size(".a\n", 3), 4, "wire size ignores stuffing");
}

/* A session's input stream fed through the line reader one byte at a time
 * gives the same commands as fed whole. */
static void test_bytewise(void)
{
	const char stream[] = "CAPA\r\nUTF8\r\nUSER alice@example.org\r\nPASS s e c r e t\r\n"
			      "LIST\nRETR 1\r\nTOP 1 5\r\nBOGUS\r\n\r\nQUIT\r\n";
	const int want[] = {POP3_CAPA, POP3_UTF8, POP3_USER,	   POP3_PASS,	  POP3_LIST,
			    POP3_RETR, POP3_TOP,  POP3_PE_UNKNOWN, POP3_PE_EMPTY, POP3_QUIT};
	const size_t nwant = sizeof(want) / sizeof(want[0]);

	for (int bytewise = 0; bytewise < 2; bytewise++) {
		struct linereader lr;
		struct lr_line l;
		size_t got = 0;
		int good = 1;

		lr_init(&lr, POP3_LINE_MAX);
		size_t step = bytewise ? 1 : sizeof(stream) - 1;
		for (size_t off = 0; off < sizeof(stream) - 1; off += step) {
			size_t n =
			    sizeof(stream) - 1 - off < step ? sizeof(stream) - 1 - off : step;
			lr_feed(&lr, stream + off, n);
			while (lr_next(&lr, &l) == LR_LINE) {
				struct pop3_cmd c;
				int r = pop3_cmd_parse(l.data, l.len, &c);
				int id = r == 0 ? (int)c.id : r;
				if (got >= nwant || id != want[got])
					good = 0;
				if (id == POP3_PASS && !arg_is(&c, 0, "s e c r e t"))
					good = 0;
				got++;
			}
		}
		ok(good && got == nwant, bytewise ? "byte by byte" : "whole");
		lr_free(&lr);
	}

	/* RFC 2449: 255 octets with CRLF pass, 256 are refused; the reader
	 * recovers at the next LF */
	for (int extra = 0; extra < 2; extra++) {
		struct linereader lr;
		struct lr_line l;
		char longline[300];
		size_t body = 253 + (size_t)extra;
		memset(longline, 'A', sizeof(longline));
		memcpy(longline + body, "\r\nNOOP\r\n", 8);
		lr_init(&lr, POP3_LINE_MAX);
		int res[4], n = 0, r;
		for (size_t i = 0; i < body + 8; i++) {
			lr_feed(&lr, longline + i, 1);
			while ((r = lr_next(&lr, &l)) != LR_NEED && n < 4)
				res[n++] = r;
		}
		if (extra == 0)
			ok(n == 2 && res[0] == LR_LINE && res[1] == LR_LINE,
			   "255-octet line accepted, byte by byte");
		else
			ok(n == 2 && res[0] == LR_TOOLONG && res[1] == LR_LINE,
			   "256-octet line refused, next line read");
		lr_free(&lr);
	}
}

/* Random lines never crash the parser and results are consistent. */
static void test_random(void)
{
	unsigned seed = 12345;
	int bad = 0;

	for (int i = 0; i < 200000; i++) {
		char line[64];
		size_t len = (size_t)(rand_r(&seed) % sizeof(line));
		for (size_t k = 0; k < len; k++) {
			int r = rand_r(&seed) % 8;
			static const char pick[] = "LISTRETOPquit 1 2 \0\xff";
			line[k] = r < 6 ? pick[rand_r(&seed) % (sizeof(pick) - 1)]
					: (char)(rand_r(&seed) & 0xff);
		}
		struct pop3_cmd c;
		int r = pop3_cmd_parse(line, len, &c);
		if (r == 0) {
			if (c.nargs > POP3_MAX_ARGS)
				bad++;
			for (size_t a = 0; a < c.nargs; a++)
				if (c.arg[a] < line || c.arg[a] + c.arglen[a] > line + len)
					bad++;
		} else if (r < POP3_PE_ARGLEN || r > POP3_PE_EMPTY) {
			bad++;
		}
	}
	is_int(bad, 0, "200000 random lines: results well-formed");
}

int main(void)
{
	test_commands();
	test_numbers();
	test_stuffing();
	test_bytewise();
	test_random();
	return tap_done();
}
