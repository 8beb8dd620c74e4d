/* smtpd/data.c: the DATA/BDAT reader, fed whole and one byte at a time. */
#include <stdlib.h>
#include <string.h>

#include "../../smtpd/data.h"
#include "tap.h"

struct result {
	int ended;
	size_t used;
	unsigned flags;
	char body[4096];
	size_t blen;
};

/* Feeds in with the given step (0 = all at once).  Stops at the end. */
static void run(const char *in, size_t len, size_t step, int raw, size_t max_line, size_t max,
		struct result *r)
{
	struct buf out;
	struct smtp_data d;
	size_t off = 0;

	memset(r, 0, sizeof(*r));
	buf_init(&out, max);
	smtp_data_init(&d, &out, max_line, raw);
	while (off < len) {
		size_t n = step ? (len - off < step ? len - off : step) : len - off, used = 0;
		if (smtp_data_feed(&d, in + off, n, &used)) {
			r->ended = 1;
			off += used;
			break;
		}
		if (used != n)
			break;
		off += used;
	}
	r->used = off;
	r->flags = raw ? smtp_data_finish(&d) : smtp_data_flags(&d);
	r->blen = out.len < sizeof(r->body) ? out.len : sizeof(r->body);
	memcpy(r->body, out.data ? out.data : "", r->blen);
	buf_free(&out);
}

static void check(const char *name, const char *in, int ended, size_t used, unsigned flags,
		  const char *body)
{
	static const size_t steps[] = {0, 1, 2, 3, 7};
	char what[200];

	for (size_t s = 0; s < sizeof(steps) / sizeof(steps[0]); s++) {
		struct result r;
		run(in, strlen(in), steps[s], 0, 1000, 1 << 20, &r);
		snprintf(what, sizeof(what), "%s (step %zu): end", name, steps[s]);
		is_int(r.ended, ended, what);
		snprintf(what, sizeof(what), "%s (step %zu): used", name, steps[s]);
		is_int(r.used, used, what);
		snprintf(what, sizeof(what), "%s (step %zu): flags", name, steps[s]);
		is_int(r.flags, flags, what);
		if (body) {
			snprintf(what, sizeof(what), "%s (step %zu): body", name, steps[s]);
			is_mem(r.body, r.blen, body, strlen(body), what);
		}
	}
}

int main(void)
{
	/* ordinary ends */
	check("empty message", ".\r\n", 1, 3, 0, "");
	check("one line", "Hi\r\n.\r\n", 1, 7, 0, "Hi\r\n");
	check("rest is left", "a\r\n.\r\nQUIT\r\n", 1, 6, 0, "a\r\n");
	check("unstuffing", "..x\r\n..\r\n...\r\n.\r\n", 1, 17, 0, ".x\r\n.\r\n..\r\n");
	check("dot inside line", "a.b\r\n a\r\n.\r\n", 1, 12, 0, "a.b\r\n a\r\n");
	check("no end yet", "abc\r\n", 0, 5, 0, "abc\r\n");
	check("partial end", "abc\r\n.\r", 0, 7, 0, "abc\r\n");

	/* smuggling variants: none ends the data, all are flagged bare */
	check("\\n.\\n", "a\n.\nMAIL FROM:<x@y>\r\n", 0, 21, SMTP_DATA_BARE, NULL);
	check("\\n.\\r\\n", "a\n.\r\nMAIL FROM:<x@y>\r\n", 0, 22, SMTP_DATA_BARE, NULL);
	check("\\r.\\r\\n", "a\r.\r\nMAIL\r\n", 0, 11, SMTP_DATA_BARE, NULL);
	check("\\r\\n.\\n", "a\r\n.\nMAIL\r\n", 0, 11, SMTP_DATA_BARE, NULL);
	check("\\r\\n.\\r", "a\r\n.\rMAIL\r\n", 0, 11, SMTP_DATA_BARE, NULL);
	check("\\r\\n.\\r\\r\\n", "a\r\n.\r\r\nx\r\n", 0, 10, SMTP_DATA_BARE, NULL);
	check("\\r.\\r", "a\r.\rMAIL\r\n", 0, 10, SMTP_DATA_BARE, NULL);
	check("\\n.\\r", "a\n.\rMAIL\r\n", 0, 10, SMTP_DATA_BARE, NULL);
	check("\\r\\r\\n.\\r\\n: first CR bare but line ends", "a\r\r\n.\r\n", 1, 7, SMTP_DATA_BARE,
	      NULL);
	/* smuggled message then the real end: the whole is one message */
	check("smuggle then real end", "a\n.\nMAIL FROM:<x@y>\r\n.\r\n", 1, 24, SMTP_DATA_BARE,
	      "a\n.\nMAIL FROM:<x@y>\r\n");
	check("bare lf in body", "a\nb\r\n.\r\n", 1, 8, SMTP_DATA_BARE, NULL);
	check("bare cr in body", "a\rb\r\n.\r\n", 1, 8, SMTP_DATA_BARE, NULL);
	check("lf at start", "\n.\r\n", 0, 4, SMTP_DATA_BARE, NULL);

	/* NUL */
	{
		struct result r;
		run("a\0b\r\n.\r\n", 8, 1, 0, 1000, 1 << 20, &r);
		ok(r.ended && (r.flags & SMTP_DATA_NUL), "NUL byte flagged");
	}

	/* line length: 1000 with CRLF passes, 1001 does not */
	{
		char *m = malloc(3000);
		struct result r;
		memset(m, 'x', 998);
		memcpy(m + 998, "\r\n.\r\n", 6);
		run(m, strlen(m), 0, 0, 1000, 1 << 20, &r);
		ok(r.ended && r.flags == 0, "998+CRLF accepted");
		memset(m, 'x', 999);
		memcpy(m + 999, "\r\n.\r\n", 6);
		run(m, strlen(m), 0, 0, 1000, 1 << 20, &r);
		ok(r.ended && r.flags == SMTP_DATA_LONGLINE, "999+CRLF flagged long");
		run(m, strlen(m), 1, 0, 1000, 1 << 20, &r);
		ok(r.ended && r.flags == SMTP_DATA_LONGLINE, "999+CRLF flagged long, bytewise");
		free(m);
	}

	/* size limit: reading goes on to the end, the flag says too big */
	{
		struct result r;
		run("0123456789\r\nabc\r\n.\r\nX", 21, 0, 0, 1000, 10, &r);
		ok(r.ended && r.used == 20 && (r.flags & SMTP_DATA_TOOBIG),
		   "too big flagged, read on");
		run("0123456789\r\n.\r\n", 15, 0, 0, 1000, 12, &r);
		ok(r.ended && r.flags == 0 && r.blen == 12, "exactly max fits");
		/* whole or split, the same bytes are kept (found by fuzz_smtp_data) */
		struct result w, s1, s3;
		run("0123456789abcdef\r\n.\r\n", 21, 0, 0, 1000, 10, &w);
		run("0123456789abcdef\r\n.\r\n", 21, 1, 0, 1000, 10, &s1);
		run("0123456789abcdef\r\n.\r\n", 21, 3, 0, 1000, 10, &s3);
		ok(w.blen == 10 && s1.blen == 10 && s3.blen == 10 &&
		       memcmp(w.body, s1.body, 10) == 0 && memcmp(w.body, s3.body, 10) == 0 &&
		       w.flags == s1.flags && w.flags == s3.flags && (w.flags & SMTP_DATA_TOOBIG),
		   "too big: the same prefix kept whole, bytewise and in 3-byte pieces");
	}

	/* discard (out of memory budget): nothing more is stored, the end is
	 * still found byte by byte so the session stays in step */
	{
		struct buf out;
		struct smtp_data d;
		const char *in = "abc\r\nxyz\r\n.\r\nNOOP\r\n";
		size_t used = 0, off = 0;
		int end = 0;

		buf_init(&out, 1 << 20);
		smtp_data_init(&d, &out, 1000, 0);
		smtp_data_feed(&d, in, 5, &used);
		smtp_data_discard(&d);
		buf_free(&out); /* the caller frees the buffer at once */
		for (off = 5; off < strlen(in) && !end; off += used)
			end = smtp_data_feed(&d, in + off, 1, &used);
		ok(end && off == 13 && smtp_data_flags(&d) == SMTP_DATA_NOROOM && out.len == 0,
		   "discard: end found, nothing stored, NOROOM flagged");
	}

	/* raw (BDAT) mode: no unstuffing, no end marker, bare checks */
	{
		struct result r;
		run("a\r\n.\r\n..x\r\n", 11, 1, 1, 1000, 1 << 20, &r);
		ok(!r.ended && r.flags == 0 && r.blen == 11 &&
		       memcmp(r.body, "a\r\n.\r\n..x\r\n", 11) == 0,
		   "raw keeps dots, no end");
		run("a\nb", 3, 0, 1, 1000, 1 << 20, &r);
		ok(r.flags == SMTP_DATA_BARE, "raw bare LF flagged");
		run("ab\r", 3, 0, 1, 1000, 1 << 20, &r);
		ok(r.flags == SMTP_DATA_BARE, "raw trailing CR flagged at finish");
		run("ab\r\n", 4, 0, 1, 1000, 1 << 20, &r);
		ok(r.flags == 0, "raw CRLF at the end fine");
	}

	/* every split point of a message gives the same result */
	{
		const char *msg = "Subject: x\r\n\r\n..dot\r\nline\r\n.\r\nNEXT";
		size_t len = strlen(msg);
		int same = 1;
		for (size_t cut = 0; cut <= len; cut++) {
			struct buf out;
			struct smtp_data d;
			size_t used = 0, total = 0;
			int end;
			buf_init(&out, 1 << 16);
			smtp_data_init(&d, &out, 1000, 0);
			end = smtp_data_feed(&d, msg, cut, &used);
			total = used;
			if (!end) {
				end = smtp_data_feed(&d, msg + cut, len - cut, &used);
				total += used;
			}
			if (!end || total != len - 4 || out.len != 26 ||
			    memcmp(out.data, "Subject: x\r\n\r\n.dot\r\nline\r\n", 26) != 0)
				same = 0;
			buf_free(&out);
		}
		ok(same, "every split point gives the same body and end");
	}
	return tap_done();
}
