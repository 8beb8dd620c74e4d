/*
 * lib/mail/addr: RFC 5322 address lists.  Each case prints the items the
 * parser handed over in a compact form and compares it; then every prefix
 * and every one-byte change of each case (the parser must hold its
 * bounds whatever it is given, checked under ASan in the sanitizer build),
 * the limits, and the callback's stop.
 *
 * The form: a mailbox is [name|comment|route|local@domain] with "-" for an
 * absent part and a "!" after it when marked bad; a group is {name: and
 * its end };  The return value follows after " = ".
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "addr.h"
#include "buf.h"
#include "tap.h"

static void put_part(struct buf *b, const char *s, size_t n)
{
	if (!s)
		buf_putc(b, '-');
	else
		buf_append(b, s, n);
}

static int show(void *arg, const struct addr_item *it)
{
	struct buf *b = arg;

	switch (it->kind) {
	case ADDR_GROUP:
		buf_putc(b, '{');
		put_part(b, it->name, it->name_len);
		buf_putc(b, ':');
		break;
	case ADDR_GROUP_END:
		buf_putc(b, '}');
		break;
	case ADDR_MAILBOX:
		buf_putc(b, '[');
		put_part(b, it->name, it->name_len);
		buf_putc(b, '|');
		put_part(b, it->comment, it->comment_len);
		buf_putc(b, '|');
		put_part(b, it->route, it->route_len);
		buf_putc(b, '|');
		put_part(b, it->local, it->local_len);
		buf_putc(b, '@');
		put_part(b, it->domain, it->domain_len);
		buf_putc(b, ']');
		break;
	}
	if (it->bad)
		buf_putc(b, '!');
	return 0;
}

static const char *parse_show(const char *in, size_t len, struct buf *b)
{
	char rc[32];

	buf_reset(b);
	snprintf(rc, sizeof(rc), " = %d", addr_list_parse(in, len, show, b));
	buf_puts(b, rc);
	return buf_cstr(b);
}

static const struct {
	const char *in, *want;
} cases[] = {
    /* the forms of RFC 5322 section 3.4 */
    {"user@example.org", "[-|-|-|user@example.org] = 1"},
    {"Alice <a@example.org>", "[Alice|-|-|a@example.org] = 1"},
    {"\"Smith, Alice\" <a@example.org>, b@example.org",
     "[Smith, Alice|-|-|a@example.org][-|-|-|b@example.org] = 2"},
    {"\"Joe Q. Public\" <john.q.public@example.com>",
     "[Joe Q. Public|-|-|john.q.public@example.com] = 1"},
    {"Mary Smith <mary@x.test>, jdoe@example.org, Who? <one@y.test>",
     "[Mary Smith|-|-|mary@x.test][-|-|-|jdoe@example.org][Who?|-|-|one@y.test] = 3"},
    {"<boss@nil.test>, \"Giant; \\\"Big\\\" Box\" <sysservices@example.net>",
     "[-|-|-|boss@nil.test][Giant; \"Big\" Box|-|-|sysservices@example.net] = 2"},
    {"A Group:Ed Jones <c@a.test>,joe@where.test,John <jdoe@one.test>;",
     "{A Group:[Ed Jones|-|-|c@a.test][-|-|-|joe@where.test][John|-|-|jdoe@one.test]} = 3"},
    {"Undisclosed recipients:;", "{Undisclosed recipients:} = 0"},
    {"friends: a@b.org, C <c@d.org>;, e@f.org",
     "{friends:[-|-|-|a@b.org][C|-|-|c@d.org]}[-|-|-|e@f.org] = 3"},
    /* folding, comments (nested, escaped), CFWS in the address */
    {"Pete(A nice \\) chap) <pete(his account)@silly.test(his host)>",
     "[Pete|his host|-|pete@silly.test] = 1"},
    {"user@example.org (Real (nested) Name)", "[-|Real (nested) Name|-|user@example.org] = 1"},
    {"Alice\r\n <a@example.org>", "[Alice|-|-|a@example.org] = 1"},
    {"\"a\"@example.org", "[-|-|-|a@example.org] = 1"},
    {"\"john doe\"@example.org", "[-|-|-|john doe@example.org] = 1"},
    {"\"x@evil.example\" <a@example.org>", "[x@evil.example|-|-|a@example.org] = 1"},
    {"a@example.org (Alice <x@evil.example>)", "[-|Alice <x@evil.example>|-|a@example.org] = 1"},
    /* RFC 2047 left encoded for the caller */
    {"=?utf-8?q?R=C3=A9al?= <a@b.org>", "[=?utf-8?q?R=C3=A9al?=|-|-|a@b.org] = 1"},
    /* obsolete forms (RFC 5322 section 4.4) */
    {"<@a.test,@b.test:u@c.test>", "[-|-|@a.test,@b.test|u@c.test] = 1"},
    {"John Q. Public <jqp@x.test>", "[John Q. Public|-|-|jqp@x.test] = 1"},
    {"user . name @ example . org", "[-|-|-|user.name@example.org] = 1"},
    {"a@b.org,,c@d.org,", "[-|-|-|a@b.org][-|-|-|c@d.org] = 2"},
    {"user@[192.0.2.1]", "[-|-|-|user@[192.0.2.1]] = 1"},
    /* 8-bit (RFC 6532) is atom text */
    {"J\xc3\xb6rg <j\xc3\xb6rg@b\xc3\xbc.test>",
     "[J\xc3\xb6rg|-|-|j\xc3\xb6rg@b\xc3\xbc.test] = 1"},
    {"", " = 0"},
    {" (only a comment) ", " = 0"},
    /* broken: every mailbox still handed over, marked, and -1 */
    {"Alice", "[-|-|-|Alice@-]! = -1"},
    {"Alice Smith, a@b.org", "[-|-|-|Alice Smith@-]![-|-|-|a@b.org] = -1"},
    {"<a@example.org> <b@evil.example>", "[-|-|-|a@example.org]! = -1"},
    {"Alice <a@example.org", "[Alice|-|-|a@example.org]! = -1"},
    {"a@b@example.org", "[-|-|-|a@b@example.org]! = -1"},
    {"John a@example.org", "[-|-|-|Johna@example.org]! = -1"},
    {"(unclosed a@example.org", " = -1"},
    {"<>", "[-|-|-|@-]! = -1"},
    {"@", "[-|-|-|@-]! = -1"},
    {"a@", "[-|-|-|a@-]! = -1"},
    {"a@example.org;", "[-|-|-|a@example.org] = -1"},
    {"x: a@example.org", "{x:[-|-|-|a@example.org]}! = -1"},
    {"x: y: a@b;", "{x:{y:![-|-|-|a@b]} = -1"},
    {"a@b.org>", "[-|-|-|a@b.org] = -1"},
    {"\"unclosed <a@b.org>", "[-|-|-|unclosed <a@b.org>@-]! = -1"},
    {"a\x01@b.org", "[-|-|-|a\x01@b.org]! = -1"},
    {"<a@b.org> trailing, c@d.org", "[-|-|-|a@b.org]![-|-|-|c@d.org] = -1"},
    {"<<<>>>,,(((", "[-|-|-|@-]! = -1"},
    {"a@[unclosed", "[-|-|-|a@[unclosed]! = -1"},
};

static int stop_after_one(void *arg, const struct addr_item *it)
{
	(void)it;
	return ++*(int *)arg >= 1;
}

static int count_items(void *arg, const struct addr_item *it)
{
	(void)it;
	++*(int *)arg;
	return 0;
}

int main(void)
{
	struct buf b;
	char what[256];
	size_t ncases = sizeof(cases) / sizeof(cases[0]);

	buf_init(&b, 1 << 20);
	for (size_t i = 0; i < ncases; i++) {
		snprintf(what, sizeof(what), "parse \"%s\"", cases[i].in);
		for (char *q = what; *q; q++)
			if ((unsigned char)*q < 0x20)
				*q = '.'; /* one TAP line */
		is_str(parse_show(cases[i].in, strlen(cases[i].in), &b), cases[i].want, what);
	}

	/* every prefix, and every byte replaced by each special, of every
	 * case: bounded (ASan), and a result that is a count or a code */
	int odd = 0;
	static const char specials[] = "()<>[]:;@\\,.\" \r\x01\x80";
	for (size_t i = 0; i < ncases; i++) {
		size_t len = strlen(cases[i].in);
		char *copy = malloc(len + 1);

		for (size_t n = 0; n <= len; n++) {
			/* a heap copy of exactly n bytes: reading past it is
			 * caught */
			char *pre = malloc(n ? n : 1);
			memcpy(pre, cases[i].in, n);
			int rc = addr_list_parse(pre, n, show, &b);
			buf_reset(&b);
			if (rc < ADDR_MALFORMED)
				odd++;
			free(pre);
		}
		for (size_t k = 0; k < len; k++) {
			for (const char *s = specials; *s; s++) {
				memcpy(copy, cases[i].in, len);
				copy[k] = *s;
				int rc = addr_list_parse(copy, len, show, &b);
				buf_reset(&b);
				if (rc < ADDR_MALFORMED)
					odd++;
			}
		}
		free(copy);
	}
	is_int(odd, 0, "byte by byte: every prefix and one-byte change parses to a count or -1");

	/* limits */
	{
		size_t n = ADDR_MAX_INPUT + 1;
		char *big = malloc(n);
		memset(big, 'a', n);
		is_int(addr_list_parse(big, n, NULL, NULL), ADDR_LIMIT,
		       "limit: a value over ADDR_MAX_INPUT is refused whole");
		is_int(addr_list_parse(big, n - 1, NULL, NULL), ADDR_MALFORMED,
		       "limit: ADDR_MAX_INPUT itself is parsed");
		free(big);
	}
	{
		struct buf many;
		int items = 0;

		buf_init(&many, 1 << 20);
		for (int i = 0; i < ADDR_MAX_ITEMS; i++)
			buf_puts(&many, "a@b,");
		is_int(addr_list_parse(many.data, many.len, NULL, NULL), ADDR_MAX_ITEMS,
		       "limit: ADDR_MAX_ITEMS mailboxes are parsed");
		buf_puts(&many, "c@d");
		is_int(addr_list_parse(many.data, many.len, count_items, &items), ADDR_LIMIT,
		       "limit: one more mailbox stops the parse");
		is_int(items, ADDR_MAX_ITEMS, "limit: the callback saw no more than the limit");
		buf_free(&many);
	}
	{
		char deep[2 * ADDR_MAX_DEPTH + 64], want[2 * ADDR_MAX_DEPTH + 64];
		size_t o = 0, w = 0;

		/* D levels: the comment's text is the D-1 inner levels */
		for (int i = 0; i < ADDR_MAX_DEPTH; i++)
			deep[o++] = '(';
		for (int i = 0; i < ADDR_MAX_DEPTH; i++)
			deep[o++] = ')';
		memcpy(deep + o, "a@b.org", 7);
		is_int(addr_list_parse(deep, o + 7, NULL, NULL), 1,
		       "limit: comments nested ADDR_MAX_DEPTH deep are fine");
		o = 0;
		for (int i = 0; i <= ADDR_MAX_DEPTH; i++)
			deep[o++] = '(';
		for (int i = 0; i <= ADDR_MAX_DEPTH; i++)
			deep[o++] = ')';
		memcpy(deep + o, "a@b.org", 7);
		want[w++] = '[';
		want[w++] = '-';
		want[w++] = '|';
		for (int i = 0; i < ADDR_MAX_DEPTH; i++)
			want[w++] = '(';
		for (int i = 0; i < ADDR_MAX_DEPTH; i++)
			want[w++] = ')';
		snprintf(want + w, sizeof(want) - w, "|-|a@b.org]! = -1");
		ok(strcmp(parse_show(deep, o + 7, &b), want) == 0,
		   "limit: one level deeper marks the mailbox bad, and parsing goes on");
	}

	/* the callback stops it */
	{
		int seen = 0;
		is_int(addr_list_parse("a@b, c@d", 8, stop_after_one, &seen), ADDR_STOPPED,
		       "stop: the callback's non-zero ends the parse");
		is_int(seen, 1, "stop: no item after it");
	}
	buf_free(&b);
	return tap_done();
}
