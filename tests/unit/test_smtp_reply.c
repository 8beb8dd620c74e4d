/* lib/net/smtp_reply: the client's reply parser, fed whole lines and byte
 * by byte through the line reader, with its limits and bad input. */
#include <stdio.h>
#include <string.h>

#include "linereader.h"
#include "smtp_reply.h"
#include "tap.h"

/* Feeds text through a line reader chunk bytes at a time; returns the
 * last smtp_reply_line result (or 99 for an over-long line) and how many
 * replies completed. */
static int feed(struct smtp_reply *r, const char *text, size_t chunk, int *ndone)
{
	struct linereader lr;
	struct lr_line line;
	size_t len = strlen(text), pos = 0;
	int res = SMTP_REPLY_MORE;

	*ndone = 0;
	lr_init(&lr, SMTP_REPLY_MAXLINE);
	smtp_reply_reset(r);
	while (pos < len) {
		size_t n = len - pos < chunk ? len - pos : chunk;
		size_t k = lr_feed(&lr, text + pos, n);
		int g;
		pos += k;
		while ((g = lr_next(&lr, &line)) != LR_NEED) {
			if (g == LR_TOOLONG) {
				lr_free(&lr);
				return 99;
			}
			res = smtp_reply_line(r, line.data, line.len);
			if (res == SMTP_REPLY_BAD) {
				lr_free(&lr);
				return res;
			}
			if (res == SMTP_REPLY_DONE && pos < len) {
				(*ndone)++;
				smtp_reply_reset(r);
			} else if (res == SMTP_REPLY_DONE) {
				(*ndone)++;
			}
		}
	}
	lr_free(&lr);
	return res;
}

static void test_basic(void)
{
	static const size_t chunks[] = {1, 2, 3, 7, 4096};
	const char *ehlo = "250-mx.example.org Hello\r\n250-PIPELINING\r\n250-SIZE 35882577\r\n"
			   "250-8BITMIME\r\n250-AUTH=PLAIN LOGIN\r\n250-AUTH PLAIN LOGIN\r\n"
			   "250-ENHANCEDSTATUSCODES\r\n250-STARTTLS\r\n250 SMTPUTF8\r\n";

	for (size_t i = 0; i < sizeof(chunks) / sizeof(chunks[0]); i++) {
		struct smtp_reply r;
		int nd;
		uint64_t size;
		unsigned ext;
		char what[80];

		snprintf(what, sizeof(what), "single-line reply, chunk %zu", chunks[i]);
		ok(feed(&r, "250 2.1.0 Ok sender\r\n", chunks[i], &nd) == SMTP_REPLY_DONE &&
		       r.code == 250 && strcmp(r.enh, "2.1.0") == 0 &&
		       strcmp(r.text, "2.1.0 Ok sender") == 0 && nd == 1,
		   what);
		snprintf(what, sizeof(what), "EHLO reply, chunk %zu", chunks[i]);
		ok(feed(&r, ehlo, chunks[i], &nd) == SMTP_REPLY_DONE && r.nlines == 9 && nd == 1,
		   what);
		ext = smtp_reply_ehlo(&r, &size);
		snprintf(what, sizeof(what), "EHLO keywords, chunk %zu", chunks[i]);
		ok(ext == (SMTP_EXT_PIPELINING | SMTP_EXT_SIZE | SMTP_EXT_8BITMIME |
			   SMTP_EXT_AUTH_PLAIN | SMTP_EXT_AUTH_LOGIN | SMTP_EXT_ENHANCED |
			   SMTP_EXT_STARTTLS | SMTP_EXT_SMTPUTF8) &&
		       size == 35882577,
		   what);
	}
}

static void test_shapes(void)
{
	struct smtp_reply r;
	int nd;
	uint64_t size;

	ok(feed(&r, "220\r\n", 1, &nd) == SMTP_REPLY_DONE && r.code == 220 && r.text[0] == '\0',
	   "a bare code is a reply");
	ok(feed(&r, "550 5.1.1 <x@y>: no such user\r\n", 5, &nd) == SMTP_REPLY_DONE &&
	       r.code == 550 && strcmp(r.enh, "5.1.1") == 0,
	   "enhanced code read");
	ok(feed(&r, "550 4.1.1 mismatch\r\n", 5, &nd) == SMTP_REPLY_DONE && r.enh[0] == '\0',
	   "an enhanced code of another class is not one");
	ok(feed(&r, "250 2.0.0\r\n", 5, &nd) == SMTP_REPLY_DONE && strcmp(r.enh, "2.0.0") == 0,
	   "enhanced code alone");
	ok(feed(&r, "250 2.0.00000 x\r\n", 5, &nd) == SMTP_REPLY_DONE && r.enh[0] == '\0',
	   "an over-long enhanced code part is not one");
	ok(feed(&r, "250 ok\n", 1, &nd) == SMTP_REPLY_DONE, "bare LF tolerated from a server");
	ok(feed(&r, "250-a\r\n250 b\r\n354 go\r\n", 3, &nd) == SMTP_REPLY_DONE && nd == 2 &&
	       r.code == 354,
	   "pipelined replies come apart");
	ok(feed(&r, "250-first\r\n", 1, &nd) == SMTP_REPLY_MORE, "a continuation waits");
	ok(feed(&r, "250 ok\r\n", 1, &nd) == SMTP_REPLY_DONE && smtp_reply_ehlo(&r, &size) == 0 &&
	       size == 0,
	   "one-line EHLO: no keywords");
	ok(feed(&r, "250-x\r\n250-SIZE\r\n250 SIZE 99999999999999999999999\r\n", 4, &nd) ==
		   SMTP_REPLY_DONE &&
	       (smtp_reply_ehlo(&r, &size) & SMTP_EXT_SIZE) && size == 0,
	   "SIZE without a number or overflowing: 0");
	ok(feed(&r, "452-4.5.3 too many\r\n452 4.5.3 recipients\r\n", 4, &nd) == SMTP_REPLY_DONE &&
	       strcmp(r.text, "4.5.3 too many\n4.5.3 recipients") == 0,
	   "text lines joined with newlines");
}

static void test_bad(void)
{
	struct smtp_reply r;
	int nd;
	char big[SMTP_REPLY_MAXLINE + 100];
	char many[SMTP_REPLY_MAXLINES * 8 + 64];
	size_t o = 0;

	ok(feed(&r, "hello\r\n", 1, &nd) == SMTP_REPLY_BAD, "not a reply");
	ok(feed(&r, "25\r\n", 1, &nd) == SMTP_REPLY_BAD, "two digits");
	ok(feed(&r, "2500 x\r\n", 1, &nd) == SMTP_REPLY_BAD, "four digits");
	ok(feed(&r, "199 x\r\n", 1, &nd) == SMTP_REPLY_BAD, "code below 200");
	ok(feed(&r, "600 x\r\n", 1, &nd) == SMTP_REPLY_BAD, "code above 599");
	ok(feed(&r, "250_x\r\n", 1, &nd) == SMTP_REPLY_BAD, "bad separator");
	ok(feed(&r, "250-a\r\n251 b\r\n", 1, &nd) == SMTP_REPLY_BAD, "code changes mid-reply");
	ok(feed(&r, "250 a\x01 b\r\n", 1, &nd) == SMTP_REPLY_BAD, "control byte");
	ok(feed(&r, "250 a\r\r\n", 1, &nd) == SMTP_REPLY_BAD, "stray CR");
	memset(big, 'x', sizeof(big));
	memcpy(big, "250 ", 4);
	memcpy(big + sizeof(big) - 3, "\r\n", 3);
	ok(feed(&r, big, 7, &nd) == 99, "over-long line refused by the reader");
	for (int i = 0; i < SMTP_REPLY_MAXLINES + 1; i++)
		o += (size_t)snprintf(many + o, sizeof(many) - o, "250-x\r\n");
	snprintf(many + o, sizeof(many) - o, "250 x\r\n");
	ok(feed(&r, many, 9, &nd) == SMTP_REPLY_BAD, "too many lines");
	/* long text is cut, the reply stays valid */
	char longer[SMTP_REPLY_MAXTEXT * 3];
	o = 0;
	for (int i = 0; i < 30; i++)
		o += (size_t)snprintf(longer + o, sizeof(longer) - o,
				      "250-abcdefghijklmnopqrstuvwxyz0123456789abcdefghij\r\n");
	snprintf(longer + o, sizeof(longer) - o, "250 end\r\n");
	ok(feed(&r, longer, 11, &nd) == SMTP_REPLY_DONE && r.textlen < SMTP_REPLY_MAXTEXT &&
	       strlen(r.text) == r.textlen,
	   "long text cut at the limit");
}

int main(void)
{
	test_basic();
	test_shapes();
	test_bad();
	return tap_done();
}
