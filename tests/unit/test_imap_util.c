/* Tests for imapd/mutf7.c, imapd/imapdate.c and imapd/seqset.c. */
#include <stdio.h>
#include <string.h>

#include "../../imapd/imapdate.h"
#include "../../imapd/mutf7.h"
#include "utf8.h"
#include "../../imapd/seqset.h"
#include "buf.h"
#include "tap.h"

static void utf7(void)
{
	static const struct {
		const char *wire, *utf8;
	} good[] = {
	    {"INBOX", "INBOX"},
	    {"Entw&APw-rfe", "Entw\xc3\xbcrfe"},
	    {"&-", "&"},
	    {"a&-b", "a&b"},
	    {"&ZeVnLIqe-", "\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e"},
	    {"&2D3eAA-", "\xf0\x9f\x98\x80"}, /* U+1F600 via a surrogate pair */
	};
	static const char *const bad[] = {
	    "&Jjo",	  /* unterminated */
	    "&AGE-",	  /* 'a' encoded: printable ASCII must be itself */
	    "&-&",	  /* dangling shift */
	    "&2D0-",	  /* lone high surrogate */
	    "&3gA-",	  /* lone low surrogate */
	    "\xc3\xa9",	  /* 8-bit */
	    "a\tb",	  /* control */
	    "&AOk",	  /* no '-' */
	    "&AOkA6Q-x&", /* dangling */
	    "&AOn-",	  /* non-zero leftover bits */
	    "&=-",
	};
	struct buf b;

	buf_init(&b, 4096);
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		char name[128];
		buf_reset(&b);
		snprintf(name, sizeof(name), "decode %s", good[i].wire);
		ok(mutf7_decode(good[i].wire, strlen(good[i].wire), &b) == 0 &&
		       strcmp(b.data, good[i].utf8) == 0,
		   name);
		buf_reset(&b);
		snprintf(name, sizeof(name), "encode back to %s", good[i].wire);
		ok(mutf7_encode(good[i].utf8, strlen(good[i].utf8), &b) == 0 &&
		       strcmp(b.data, good[i].wire) == 0,
		   name);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char name[128];
		buf_reset(&b);
		snprintf(name, sizeof(name), "refuses bad mUTF-7 #%zu", i);
		is_int(mutf7_decode(bad[i], strlen(bad[i]), &b), -1, name);
	}
	buf_reset(&b);
	is_int(mutf7_encode("\xc3\x28", 2, &b), -1, "encode refuses invalid UTF-8");
	buf_reset(&b);
	is_int(mutf7_encode("\xed\xa0\x80", 3, &b), -1, "encode refuses UTF-8 surrogates");
	ok(utf8_valid("\xc3\xa9t\xc3\xa9", 5), "utf8_valid accepts");
	ok(!utf8_valid("\xc0\xaf", 2), "utf8_valid refuses overlong");
	ok(!utf8_valid("\xed\xa0\x80", 3), "utf8_valid refuses a surrogate");
	ok(!utf8_valid("\xf4\x90\x80\x80", 4), "utf8_valid refuses above U+10FFFF");
	ok(!utf8_valid("\xe2\x82", 2), "utf8_valid refuses a cut sequence");
	ok(utf8_valid("a\tb", 3), "utf8_valid: controls are UTF-8");
	ok(mutf7_name_valid("\xc3\xa9t\xc3\xa9/x", 7), "a mailbox name: UTF-8");
	ok(!mutf7_name_valid("a\tb", 3), "a mailbox name: no controls");
	ok(!mutf7_name_valid("a\x7f", 2), "a mailbox name: no DEL");
	buf_free(&b);
}

static void dates(void)
{
	int64_t d, t;
	char outbuf[40];
	const char *out = outbuf;

	ok(imapdate_parse_date("1-Feb-1994", &d) == 0 && d == imapdate_days(1994, 2, 1), "date");
	ok(imapdate_parse_date("01-feb-1994", &d) == 0 && d == imapdate_days(1994, 2, 1),
	   "date with 2 digits, lower case");
	is_int(imapdate_parse_date("29-Feb-2023", &d), -1, "no Feb 29 in 2023");
	ok(imapdate_parse_date("29-Feb-2024", &d) == 0, "Feb 29 in 2024");
	is_int(imapdate_parse_date("1-Foo-1994", &d), -1, "bad month");
	is_int(imapdate_parse_date("1-Feb-1994x", &d), -1, "trailing junk");
	is_int(imapdate_parse_date("0-Feb-1994", &d), -1, "day 0");
	ok(imapdate_parse_datetime("17-Jul-1996 02:44:25 -0700", &t) == 0 && t == 837596665,
	   "date-time with zone");
	ok(imapdate_parse_datetime(" 7-Jul-1996 02:44:25 +0000", &t) == 0, "date-time SP day");
	is_int(imapdate_parse_datetime("17-Jul-1996 24:44:25 -0700", &t), -1, "hour 24");
	is_int(imapdate_parse_datetime("17-Jul-1996 02:44:25", &t), -1, "zone missing");
	imapdate_format(837596665, outbuf, sizeof(outbuf));
	is_str(out, "17-Jul-1996 09:44:25 +0000", "format");
	imapdate_format(0, outbuf, sizeof(outbuf));
	is_str(out, "01-Jan-1970 00:00:00 +0000", "format epoch");
	ok(imapdate_parse_rfc5322_day("Tue, 1 Jul 2003 10:52:37 +0200", 30, &d) == 0 &&
	       d == imapdate_days(2003, 7, 1),
	   "RFC 5322 date");
	ok(imapdate_parse_rfc5322_day("1 Jul 03 10:52 GMT", 18, &d) == 0 &&
	       d == imapdate_days(2003, 7, 1),
	   "RFC 5322 two-digit year");
	is_int(imapdate_parse_rfc5322_day("garbage", 7, &d), -1, "RFC 5322 garbage");
}

static void seqsets(void)
{
	struct seqset s;

	ok(seqset_parse("1:3,7,10:*", &s) == 0, "parse set");
	seqset_resolve(&s, 12);
	ok(seqset_contains(&s, 1) && seqset_contains(&s, 3) && !seqset_contains(&s, 4) &&
	       seqset_contains(&s, 7) && seqset_contains(&s, 12) && !seqset_contains(&s, 13),
	   "contains");
	seqset_free(&s);
	ok(seqset_parse("*:5", &s) == 0, "reversed range");
	seqset_resolve(&s, 3);
	ok(seqset_contains(&s, 4) && seqset_contains(&s, 3) && !seqset_contains(&s, 6),
	   "reversed range resolved");
	seqset_free(&s);
	ok(seqset_parse("5:*,7,1", &s) == 0, "overlap");
	seqset_resolve(&s, UINT32_MAX - 1);
	ok(seqset_contains(&s, 100000) && seqset_contains(&s, 1), "overlap merged");
	seqset_free(&s);
	/* 4294967295 is a UID like any other, not "*" (issue 9, item 8) */
	ok(seqset_parse("1:4294967295", &s) == 0, "range to 2^32-1");
	seqset_resolve(&s, 3);
	ok(seqset_contains(&s, 1) && seqset_contains(&s, 3) && seqset_contains(&s, 4000000000u) &&
	       seqset_contains(&s, UINT32_MAX),
	   "range to 2^32-1 kept whole, not read as *");
	seqset_free(&s);
	ok(seqset_parse("4294967295:*", &s) == 0, "2^32-1:*");
	seqset_resolve(&s, 7);
	ok(seqset_contains(&s, 7) && seqset_contains(&s, 100) && !seqset_contains(&s, 6),
	   "2^32-1:* is 7:2^32-1");
	seqset_free(&s);
	ok(seqset_parse("4294967295", &s) == 0, "2^32-1 alone");
	seqset_resolve(&s, 7);
	ok(!seqset_contains(&s, 7) && seqset_contains(&s, UINT32_MAX), "2^32-1 alone is not *");
	seqset_free(&s);
	static const char *const bad[] = {"",  "0",	"1:",	      ":1",  "1,,2",
					  "a", "1:2:3", "4294967296", "1 2", "-1"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char name[64];
		snprintf(name, sizeof(name), "refuses set \"%s\"", bad[i]);
		is_int(seqset_parse(bad[i], &s), -1, name);
	}
	/* the range limit */
	char big[80000];
	size_t n = 0;
	for (int i = 1; i <= 10001 && n + 10 < sizeof(big); i++)
		n += (size_t)snprintf(big + n, sizeof(big) - n, "%d,", i * 2);
	big[n - 1] = '\0';
	is_int(seqset_parse(big, &s), -1, "more than 10000 ranges refused");
}

int main(void)
{
	utf7();
	dates();
	seqsets();
	return tap_done();
}
