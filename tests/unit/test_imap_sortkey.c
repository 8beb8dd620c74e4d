/* Tests for imapd/sortkey.c: SORT criteria, the RFC 5256 base subject,
 * header field values and the sent date. */
#include <stdio.h>
#include <string.h>

#include "../../imapd/parser.h"
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
	} t[] = {
	    {"Hello", "Hello"},
	    {"Re: Hello", "Hello"},
	    {"RE: re: Re:Hello", "Hello"},
	    {"Fwd: Hello", "Hello"},
	    {"FW: Hello", "Hello"},
	    {"fw : Hello", "Hello"},
	    {"Re[2]: Hello", "Hello"},
	    {"Re [2]: Hello", "Hello"},
	    {"[list] Re: Hello", "Hello"},
	    {"[list] [other] Re: Hello", "Hello"},
	    {"[list] Hello", "Hello"},
	    {"[list]", "[list]"}, /* the blob stays when nothing would be left */
	    {"Hello (fwd)", "Hello"},
	    {"Hello (FWD) (fwd)  ", "Hello"},
	    {"[Fwd: Re: Hello]", "Hello"},
	    {"Re: [Fwd: Hello (fwd)]", "Hello"},
	    {"  Hello   world\t again ", "Hello world again"},
	    {"Remarks", "Remarks"},
	    {"Re Hello", "Re Hello"},
	    {"Re:", ""},
	    {"", ""},
	    {"[unclosed Re: Hello", "[unclosed Re: Hello"},
	    {"Re: [a[b]: Hello", "[a[b]: Hello"},
	    {"\xc3\xa9t\xc3\xa9 (fwd)", "\xc3\xa9t\xc3\xa9"},
	};
	struct buf b;

	buf_init(&b, 4096);
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		buf_reset(&b);
		int r = imap_base_subject(t[i].in, strlen(t[i].in), &b);
		okf(r == 0 && b.len == strlen(t[i].base) &&
			memcmp(b.data ? b.data : "", t[i].base, b.len) == 0,
		    "base subject of \"%s\" is \"%s\" (got \"%.*s\")", t[i].in, t[i].base,
		    (int)b.len, b.data ? b.data : "");
	}
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
	for (size_t n = 0; n <= strlen(h); n++) {
		buf_reset(&b);
		(void)imap_header_value(h, n, "Date", &b);
	}
	ok(1, "every prefix of a header block");
	ok(imap_sent_time("1 Jul 2003", 10, &t) == 0 && t == 1057017600, "no time: midnight");
	ok(imap_sent_time("1 Jul 2003 23:59 -0100", 22, &t) == 0 && t == 1057017600 + 86400 + 3540,
	   "zone west, no seconds");
	ok(imap_sent_time("1 Jul 2003 10:00:00 EST", 23, &t) == 0 && t == 1057053600,
	   "unknown zone: +0000");
	ok(imap_sent_time("yesterday", 9, &t) < 0, "not a date");
	ok(imap_sent_time("1 Jul 2003 25:00", 16, &t) < 0, "hour out of range");
	const char *d = "Tue, 1 Jul 2003 10:52:37 +0200";
	for (size_t n = 0; n <= strlen(d); n++)
		(void)imap_sent_time(d, n, &t);
	ok(1, "every prefix of a date");
	buf_free(&b);
}

int main(void)
{
	base_subjects();
	criteria();
	headers();
	return tap_done();
}
