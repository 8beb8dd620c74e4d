/* Tests for imapd/sortkey.c: SORT criteria, the RFC 5256 base subject,
 * header field values and the sent date. */
#include <stdio.h>
#include <string.h>

#include "../../imapd/parser.h"
#include "../../imapd/searchkey.h"
#include "../../imapd/sortkey.h"
#include "buf.h"
#include "tap.h"

/* ok() with a formatted description */
static char what[512];
#define okf(cond, ...)                                                                             \
	do {                                                                                       \
		int okf_c = !!(cond);                                                              \
		snprintf(what, sizeof(what), __VA_ARGS__);                                         \
		ok(okf_c, what);                                                                   \
	} while (0)

static void base_subjects(void)
{
	static const struct {
		const char *in, *base;
		int reply;
	} t[] = {
	    {"Hello", "Hello", 0},
	    {"Re: Hello", "Hello", 1},
	    {"RE: re: Re:Hello", "Hello", 1},
	    {"Fwd: Hello", "Hello", 1},
	    {"FW: Hello", "Hello", 1},
	    {"fw : Hello", "Hello", 1},
	    {"Re[2]: Hello", "Hello", 1},
	    {"Re [2]: Hello", "Hello", 1},
	    {"[list] Re: Hello", "Hello", 1},
	    {"[list] [other] Re: Hello", "Hello", 1},
	    {"[list] Hello", "Hello", 0},
	    {"[list]", "[list]", 0}, /* the blob stays when nothing would be left */
	    {"Hello (fwd)", "Hello", 1},
	    {"Hello (FWD) (fwd)  ", "Hello", 1},
	    {"[Fwd: Re: Hello]", "Hello", 1},
	    {"Re: [Fwd: Hello (fwd)]", "Hello", 1},
	    {"  Hello   world\t again ", "Hello world again", 0},
	    {"Remarks", "Remarks", 0},
	    {"Re Hello", "Re Hello", 0},
	    {"Re:", "", 1},
	    {"", "", 0},
	    {"[unclosed Re: Hello", "[unclosed Re: Hello", 0},
	    {"Re: [a[b]: Hello", "[a[b]: Hello", 1},
	    {"\xc3\xa9t\xc3\xa9 (fwd)", "\xc3\xa9t\xc3\xa9", 1},
	};
	struct buf b;

	buf_init(&b, 4096);
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		buf_reset(&b);
		int r = imap_base_subject(t[i].in, strlen(t[i].in), &b);
		okf(r == t[i].reply && b.len == strlen(t[i].base) &&
			memcmp(b.data ? b.data : "", t[i].base, b.len) == 0,
		    "base subject of \"%s\" is \"%s\" (got \"%.*s\")", t[i].in, t[i].base,
		    (int)b.len, b.data ? b.data : "");
	}
	buf_reset(&b);
	okf(imap_base_subject("Re: x", 5, &b) == 1, "a reply");
	buf_free(&b);
	/* a full output buffer is an error, not a cut subject */
	buf_init(&b, 3);
	ok(imap_base_subject("Hello", 5, &b) < 0, "base subject into a full buffer fails");
	buf_free(&b);
}

/* Parses "a SORT <text>" and returns the command (the parser lives in p). */
static const struct imap_cmd *parse(struct imap_parser *p, const char *text)
{
	char line[1024];
	size_t used;

	snprintf(line, sizeof(line), "a SORT %s\r\n", text);
	if (imap_parser_feed(p, line, strlen(line), &used) != IMAP_P_DONE)
		return NULL;
	return imap_parser_cmd(p);
}

static void criteria(void)
{
	static const struct {
		const char *text;
		int n;
	} t[] = {
	    {"(ARRIVAL)", 1},
	    {"(reverse date subject)", 2},
	    {"(CC DATE FROM REVERSE SIZE SUBJECT TO DISPLAYFROM DISPLAYTO ARRIVAL)", 9},
	    {"()", -1},
	    {"(REVERSE)", -1},
	    {"(REVERSE REVERSE DATE)", -1},
	    {"(DATE REVERSE)", -1},
	    {"(BOGUS)", -1},
	    {"(\"DATE\")", -1},
	    {"((DATE))", -1},
	    {"(SIZE SIZE SIZE SIZE SIZE SIZE SIZE SIZE SIZE SIZE SIZE SIZE SIZE SIZE SIZE SIZE)",
	     16},
	    {"(SIZE SIZE SIZE SIZE SIZE SIZE SIZE SIZE SIZE SIZE SIZE SIZE SIZE SIZE SIZE SIZE "
	     "SIZE)",
	     -1},
	};
	struct imap_parser_limits lim;

	imap_parser_limits_default(&lim);
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		struct imap_parser *p = imap_parser_new(&lim);
		const struct imap_cmd *c = parse(p, t[i].text);
		struct sort_crit cr[SORT_MAX_CRITERIA];
		const char *err = NULL;
		int n = c && c->args && c->args->type == IMAP_ARG_LIST
			    ? imap_sort_criteria(c->args->child, cr, &err)
			    : -2;
		okf(n == t[i].n && (n > 0 || err), "criteria %s: %d (got %d)", t[i].text, t[i].n,
		    n);
		if (i == 1)
			ok(n == 2 && cr[0].key == SK_DATE && cr[0].reverse &&
			       cr[1].key == SK_SUBJECT && !cr[1].reverse,
			   "REVERSE applies to the next key only");
		imap_parser_free(p);
	}
}

/* imap_return_parse: SEARCH's and SORT's RETURN options (ESEARCH, SAVE,
 * CONTEXT=SEARCH's CONTEXT, UPDATE, PARTIAL) */
static void return_options(void)
{
	static const struct {
		const char *text;
		int rc;
		unsigned opts;
		uint32_t lo, hi;
		const char *rest; /* the first argument left, "" none */
	} t[] = {
	    {"ALL", 0, 0, 0, 0, "ALL"},
	    {"RETURN () ALL", 0, RET_ALL, 0, 0, "ALL"},
	    {"RETURN (MIN MAX) UNSEEN", 0, RET_MIN | RET_MAX, 0, 0, "UNSEEN"},
	    {"return (count save) x", 0, RET_COUNT | RET_SAVE, 0, 0, "x"},
	    {"RETURN (SAVE) ALL", 0, RET_SAVE, 0, 0, "ALL"},
	    {"RETURN (CONTEXT) ALL", 0, RET_CONTEXT | RET_ALL, 0, 0, "ALL"},
	    {"RETURN (UPDATE) ALL", 0, RET_UPDATE, 0, 0, "ALL"},
	    {"RETURN (PARTIAL 1:10) ALL", 0, RET_PARTIAL, 1, 10, "ALL"},
	    {"RETURN (COUNT PARTIAL 9:4 UPDATE) ALL", 0, RET_COUNT | RET_PARTIAL | RET_UPDATE, 4, 9,
	     "ALL"},
	    {"RETURN (PARTIAL 4294967295:1)", 0, RET_PARTIAL, 1, 4294967295u, ""},
	    {"RETURN (PARTIAL 0:3) ALL", -1, 0, 0, 0, ""},
	    {"RETURN (PARTIAL 1:4294967296) ALL", -1, 0, 0, 0, ""},
	    {"RETURN (PARTIAL 1:) ALL", -1, 0, 0, 0, ""},
	    {"RETURN (PARTIAL :2) ALL", -1, 0, 0, 0, ""},
	    {"RETURN (PARTIAL 2) ALL", -1, 0, 0, 0, ""},
	    {"RETURN (PARTIAL \"1:2\") ALL", -1, 0, 0, 0, ""},
	    {"RETURN (PARTIAL) ALL", -1, 0, 0, 0, ""},
	    {"RETURN (PARTIAL 1:2 PARTIAL 3:4) ALL", -1, 0, 0, 0, ""},
	    {"RETURN (PARTIAL 1:2 ALL) ALL", -1, 0, 0, 0, ""},
	    {"RETURN (UPDATE UPDATE) ALL", -1, 0, 0, 0, ""},
	    {"RETURN (BOGUS) ALL", -1, 0, 0, 0, ""},
	    {"RETURN ALL", -1, 0, 0, 0, ""},
	    {"RETURN", -1, 0, 0, 0, ""},
	};
	struct imap_parser_limits lim;

	imap_parser_limits_default(&lim);
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		struct imap_parser *p = imap_parser_new(&lim);
		const struct imap_cmd *c = parse(p, t[i].text);
		const struct imap_arg *a = c ? c->args : NULL;
		struct search_ret r;
		const char *err = NULL;
		int rc = c ? imap_return_parse(&a, &r, &err) : -2;

		if (t[i].rc < 0)
			okf(rc == -1 && err, "RETURN %s: refused (%s)", t[i].text, err ? err : "-");
		else
			okf(rc == 0 && r.opts == t[i].opts && r.given == (t[i].opts != 0) &&
				(!(r.opts & RET_PARTIAL) || (r.lo == t[i].lo && r.hi == t[i].hi)) &&
				strcmp(a ? a->str : "", t[i].rest) == 0,
			    "RETURN %s: opts %x (got %d %x %u:%u)", t[i].text, t[i].opts, rc,
			    r.opts, r.lo, r.hi);
		if (rc == 0)
			okf(imap_return_silent(&r) == (t[i].opts == RET_SAVE), "silent %s",
			    t[i].text);
		imap_parser_free(p);
	}
}

static void headers(void)
{
	const char *h = "From: a@b\r\nSubject: one\r\n two\r\n\tthree\r\nX-Date: no\r\n"
			"Date: Tue, 1 Jul 2003 10:52:37 +0200\r\n\r\nSubject: body\r\n";
	struct buf b;
	int64_t t = 0;

	buf_init(&b, 4096);
	okf(imap_header_value(h, strlen(h), "subject", &b) == 1 &&
		strcmp(buf_cstr(&b), "one two\tthree") == 0,
	    "folded Subject unfolded (%s)", buf_cstr(&b));
	buf_reset(&b);
	ok(imap_header_value(h, strlen(h), "Date", &b) == 1 &&
	       strcmp(buf_cstr(&b), "Tue, 1 Jul 2003 10:52:37 +0200") == 0,
	   "Date, not X-Date");
	okf(imap_sent_time(b.data, b.len, &t) == 0 && t == 1057049557, "sent time in UTC (%lld)",
	    (long long)t);
	buf_reset(&b);
	ok(imap_header_value(h, strlen(h), "Cc", &b) == 0, "absent field");
	ok(imap_header_value("Subject: x", 10, "Subj", &b) == 0, "a prefix is not the field");
	/* byte by byte: every prefix of the header is handled */
	{
		int bad = 0;
		for (size_t n = 0; n <= strlen(h); n++) {
			buf_reset(&b);
			int rv = imap_header_value(h, n, "Date", &b);
			/* found or not; a value found is never longer than the text cut */
			if (rv < 0 || rv > 1 || b.len > n)
				bad++;
		}
		is_int(bad, 0, "every prefix of a header block");
	}
	ok(imap_sent_time("1 Jul 2003", 10, &t) == 0 && t == 1057017600, "no time: midnight");
	ok(imap_sent_time("1 Jul 2003 23:59 -0100", 22, &t) == 0 && t == 1057017600 + 86400 + 3540,
	   "zone west, no seconds");
	ok(imap_sent_time("1 Jul 2003 10:00:00 EST", 23, &t) == 0 && t == 1057053600,
	   "unknown zone: +0000");
	ok(imap_sent_time("yesterday", 9, &t) < 0, "not a date");
	/* RFC 5322 4.3 obs-year, and a header cut inside the year */
	ok(imap_sent_time("Tue, 1 Jul 20", 13, &t) < 0, "cut inside the year: not year 2020");
	ok(imap_sent_time("Tue, 1 Jul 202", 14, &t) < 0, "cut inside the year: not year 2102");
	ok(imap_sent_time("Tue, 1 Jul 20 ", 14, &t) < 0, "two-digit year, no time");
	ok(imap_sent_time("1 Jul 2 10:00", 13, &t) < 0, "one-digit year");
	okf(imap_sent_time("1 Jul 03 10:00 +0000", 20, &t) == 0 && t == 1057053600,
	    "two-digit year 03 with a time: 2003 (%lld)", (long long)t);
	okf(imap_sent_time("1 Jul 99 10:00 +0000", 20, &t) == 0 && t == 930823200,
	    "two-digit year 99: 1999 (%lld)", (long long)t);
	okf(imap_sent_time("1 Jul 103 10:00 +0000", 21, &t) == 0 && t == 1057053600,
	    "three-digit year 103: 2003 (%lld)", (long long)t);
	okf(imap_sent_time("Tue, 1 Jul 49\t10:00", 19, &t) == 0 && t == 2508746400,
	    "two-digit year 49 and a tab: 2049 (%lld)", (long long)t);
	ok(imap_sent_time("1 Jul 2003 25:00", 16, &t) < 0, "hour out of range");
	const char *d = "Tue, 1 Jul 2003 10:52:37 +0200";
	{
		int bad = 0;
		for (size_t n = 0; n < strlen(d); n++) {
			t = -1;
			/* a cut date is refused, or read and the time written */
			int rv = imap_sent_time(d, n, &t);
			if (rv > 0 || (rv == 0 && t == -1))
				bad++;
		}
		is_int(bad, 0, "every prefix of a date");
	}
	buf_free(&b);
}

static void add_id(void *arg, const char *id, size_t len)
{
	struct buf *b = arg;

	buf_append(b, id, len);
	buf_putc(b, '|');
}

static void msgids(void)
{
	static const struct {
		const char *in, *ids;
		int n;
	} t[] = {
	    {"<a@x>", "a@x|", 1},
	    {" <a@x> <b@y>\t<c@z>", "a@x|b@y|c@z|", 3},
	    {"<a@x>(comment <no@x>) <b@y>", "a@x|b@y|", 2},
	    {"(nested (deep) <no@x>)<a@x>", "a@x|", 1},
	    {"(esc \\) <no@x>)<a@x>", "a@x|", 1},
	    {"<a x> <b@y>", "b@y|", 1},
	    {"<> <<a@x>", "a@x|", 1},
	    {"<a@x", "", 0},
	    {"a@x", "", 0},
	    {"", "", 0},
	};
	struct buf b;

	buf_init(&b, 8192);
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		buf_reset(&b);
		int n = imap_msgids(t[i].in, strlen(t[i].in), add_id, &b);
		okf(n == t[i].n && strcmp(buf_cstr(&b), t[i].ids) == 0,
		    "msg-ids of %s: %s (got %s)", t[i].in, t[i].ids, buf_cstr(&b));
	}
	/* over-long: THREAD_MAX_ID bytes pass, one more does not */
	char big[THREAD_MAX_ID + 8];
	big[0] = '<';
	memset(big + 1, 'a', THREAD_MAX_ID);
	big[THREAD_MAX_ID + 1] = '>';
	buf_reset(&b);
	okf(imap_msgids(big, THREAD_MAX_ID + 2, add_id, &b) == 1, "an id of THREAD_MAX_ID bytes");
	big[THREAD_MAX_ID + 1] = 'a';
	big[THREAD_MAX_ID + 2] = '>';
	okf(imap_msgids(big, THREAD_MAX_ID + 3, add_id, &b) == 0, "an id over THREAD_MAX_ID bytes");
	/* byte by byte: every prefix */
	const char *r = "<a@x> (c <d>) <b@y>";
	for (size_t n = 0; n <= strlen(r); n++) {
		buf_reset(&b);
		int k = imap_msgids(r, n, add_id, &b);
		okf(k == (n >= 19  ? 2
			  : n >= 5 ? 1
				   : 0),
		    "prefix %zu of a References value: %d ids", n, k);
	}
	buf_free(&b);
}

int main(void)
{
	base_subjects();
	criteria();
	return_options();
	headers();
	msgids();
	return tap_done();
}
