/* lib/mail/mime7: the multipart 8-bit to 7-bit downgrade, whole and byte
 * by byte, nested parts, attached messages, limits and what must fail. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mime7.h"
#include "tap.h"

/* Converts body with boundary (NULL: an attached message) in chunks of
 * step bytes (0: whole).  Returns the output (malloc'd) or NULL on
 * failure, with the error in err. */
static char *conv(const char *boundary, const char *body, size_t len, size_t step, char *err,
		  size_t errlen)
{
	struct mime7 *m = mime7_new(boundary);
	struct buf out;
	char *r = NULL;
	int rc = 0;

	buf_init(&out, 4 * 1024 * 1024);
	if (!step)
		step = len ? len : 1;
	for (size_t i = 0; i < len && rc == 0; i += step)
		rc = mime7_feed(m, body + i, len - i < step ? len - i : step, &out);
	if (rc == 0)
		rc = mime7_finish(m, &out);
	snprintf(err, errlen, "%s", mime7_error(m));
	if (rc == 0)
		r = strdup(buf_cstr(&out));
	buf_free(&out);
	mime7_free(m);
	return r;
}

static int all_7bit(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s >= 0x80)
			return 0;
	return 1;
}

static int count(const char *s, const char *w)
{
	int n = 0;
	for (const char *p = s; (p = strstr(p, w)) != NULL; p += strlen(w))
		n++;
	return n;
}

/* Whole, byte by byte and in 7-byte chunks give the same output. */
static char *conv_all_ways(const char *b, const char *body, const char *what)
{
	char err[128], name[160];
	char *whole = conv(b, body, strlen(body), 0, err, sizeof(err));
	char *bytes = conv(b, body, strlen(body), 1, err, sizeof(err));
	char *sevens = conv(b, body, strlen(body), 7, err, sizeof(err));

	snprintf(name, sizeof(name), "%s: same output whole, byte by byte, in chunks", what);
	ok(whole && bytes && sevens && strcmp(whole, bytes) == 0 && strcmp(whole, sevens) == 0,
	   name);
	free(bytes);
	free(sevens);
	return whole;
}

static const char simple[] = "preamble\r\n"
			     "--b1\r\n"
			     "Content-Type: text/plain; charset=utf-8\r\n"
			     "Content-Transfer-Encoding: 8bit\r\n"
			     "\r\n"
			     "Gr\xc3\xbc\xc3\x9f"
			     "e = hi \r\n"
			     "--b1\r\n"
			     "Content-Type: application/pdf\r\n"
			     "Content-Transfer-Encoding: base64\r\n"
			     "\r\n"
			     "QUJD\r\n"
			     "--b1--\r\n"
			     "epilogue\r\n";

static const char simple_want[] = "preamble\r\n"
				  "--b1\r\n"
				  "Content-Type: text/plain; charset=utf-8\r\n"
				  "Content-Transfer-Encoding: quoted-printable\r\n"
				  "\r\n"
				  "Gr=C3=BC=C3=9Fe =3D hi=20\r\n"
				  "--b1\r\n"
				  "Content-Type: application/pdf\r\n"
				  "Content-Transfer-Encoding: base64\r\n"
				  "\r\n"
				  "QUJD\r\n"
				  "--b1--\r\n"
				  "epilogue\r\n";

static const char nested[] = "--outer\r\n"
			     "Content-Type: multipart/alternative; boundary=\"inner (x)\"\r\n"
			     "\r\n"
			     "\r\n"
			     "--inner (x)\r\n"
			     "Content-Type: text/plain\r\n"
			     "\r\n"
			     "caf\xc3\xa9\r\n"
			     "--inner (x)\r\n"
			     "Content-Type: text/html\r\n"
			     "Content-Transfer-Encoding: binary\r\n"
			     "\r\n"
			     "<p>caf\xc3\xa9</p>\r\n"
			     "--inner (x)--\r\n"
			     "--outer\r\n"
			     "Content-Type: message/rfc822\r\n"
			     "Content-Transfer-Encoding: 8bit\r\n"
			     "\r\n"
			     "From: x@example.org\r\n"
			     "Subject: attached\r\n"
			     "\r\n"
			     "na\xc3\xafve\r\n"
			     "--outer--\r\n";

int main(void)
{
	char err[128], *o;

	/* Content-Type */
	char type[64], b[MIME7_BOUNDARY_MAX + 1];
	const char *ct = " Multipart/Mixed (a comment);\r\n\tcharset=x; BOUNDARY=\"a \\\"b\\\" c\"";
	ok(mime7_content_type(ct, strlen(ct), type, sizeof(type), b, sizeof(b)) == 0 &&
	       strcmp(type, "multipart/mixed") == 0 && strcmp(b, "a \"b\" c") == 0,
	   "content-type: type lowercased, quoted boundary unescaped past a fold");
	ct = "multipart/mixed; boundary=tok-en.1";
	mime7_content_type(ct, strlen(ct), type, sizeof(type), b, sizeof(b));
	ok(strcmp(b, "tok-en.1") == 0, "content-type: token boundary");
	ct = "garbage";
	mime7_content_type(ct, strlen(ct), type, sizeof(type), b, sizeof(b));
	ok(strcmp(type, "text/plain") == 0 && b[0] == '\0', "content-type: unreadable: text/plain");
	char longb[400];
	memset(longb, 'x', sizeof(longb));
	snprintf(longb, sizeof(longb), "multipart/mixed; boundary=%0300d", 7);
	mime7_content_type(longb, strlen(longb), type, sizeof(type), b, sizeof(b));
	ok(b[0] == '\0', "content-type: an over-long boundary is none");

	/* the simple case, exact */
	o = conv_all_ways("b1", simple, "simple");
	ok(o && strcmp(o, simple_want) == 0,
	   "8-bit text part to quoted-printable, base64 part as it is");
	free(o);

	/* nested multiparts and an attached message */
	o = conv_all_ways("outer", nested, "nested");
	ok(o && all_7bit(o), "nested: all 7-bit");
	ok(o && count(o, "Content-Transfer-Encoding: quoted-printable") == 3,
	   "nested: both alternatives and the attached message's body encoded");
	ok(o && strstr(o, "caf=C3=A9\r\n--inner (x)\r\n") && strstr(o, "<p>caf=C3=A9</p>\r\n"),
	   "nested: the parts' bodies encoded, boundaries kept");
	ok(o && !strstr(o, "8bit") && !strstr(o, "binary"),
	   "nested: no 8bit or binary encoding left");
	ok(o && strstr(o, "Content-Type: message/rfc822\r\n\r\nFrom: x@example.org\r\n"),
	   "nested: the attached message's header kept, its 8bit encoding dropped");
	ok(o && strstr(o, "na=C3=AFve\r\n--outer--\r\n"), "nested: the attached body encoded");
	free(o);

	/* an attached message at the top */
	o = conv_all_ways(NULL, "Subject: x\r\n\r\n\xff\r\n", "message");
	ok(o &&
	       strcmp(o,
		      "Subject: x\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n=FF\r\n") ==
		   0,
	   "attached message: its body encoded");
	free(o);

	/* preamble, epilogue and an unterminated last part */
	o = conv_all_ways("b", "pr\xe9\r\n--b\r\n\r\nx\xe9", "unterminated");
	is_str(o, "pr?\r\n--b\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\nx=E9",
	       "8-bit preamble as '?', the last part without a line end");
	free(o);

	/* a part with no body: the boundary right after the header */
	o = conv_all_ways("b", "--b\r\nContent-Type: text/plain\r\n--b--\r\n", "headonly");
	is_str(o, "--b\r\nContent-Type: text/plain\r\n--b--\r\n", "a header cut by a boundary");
	free(o);

	/* a long 8-bit line: soft breaks, no line over 76, no stray =0D */
	{
		size_t n = 3000;
		char *body = malloc(n + 64), *p = body;
		p += sprintf(p, "--b\r\n\r\n");
		for (size_t i = 0; i < n; i++)
			*p++ = (i % 5 == 0) ? '\xe9' : 'a';
		p += sprintf(p, "\r\nend\r\n--b--\r\n");
		*p = '\0';
		o = conv_all_ways("b", body, "long line");
		int maxl = 0, cur = 0;
		for (const char *q = o ? o : ""; *q; q++) {
			if (*q == '\n' || *q == '\r') {
				cur = 0; /* a line's length without its CRLF */
				continue;
			}
			if (++cur > maxl)
				maxl = cur;
		}
		ok(o && all_7bit(o) && maxl <= 76, "long line: 7-bit, lines of at most 76");
		ok(o && !strstr(o, "=0D") && strstr(o, "\r\nend\r\n--b--"),
		   "long line: its line end kept, no CR encoded");
		free(o);
		/* 1023 bytes then CRLF: the CR lands at the buffer's edge */
		p = body;
		p += sprintf(p, "--b\r\n\r\n");
		memset(p, 'a', 1023);
		p += 1023;
		p += sprintf(p, "\r\n--b--\r\n");
		o = conv_all_ways("b", body, "CR at the edge");
		ok(o && !strstr(o, "=0D") && strstr(o, "a\r\n--b--\r\n"),
		   "a CR split from its LF by the line buffer is still a line end");
		free(o);
		free(body);
	}

	/* what cannot be made 7-bit */
	o = conv("b", "--b\r\nSubject: \xe9\r\n\r\nx\r\n", 24, 0, err, sizeof(err));
	ok(!o && strstr(err, "header"), "8-bit in a part's header fails");
	free(o);
	const char *b64 = "--b\r\nContent-Transfer-Encoding: base64\r\n\r\nQU\xe9\r\n--b--\r\n";
	o = conv("b", b64, strlen(b64), 1, err, sizeof(err));
	ok(!o && strstr(err, "base64"), "8-bit in a base64 part fails");
	free(o);
	{
		char deep[4096], *p = deep;
		for (int i = 0; i <= MIME7_MAX_DEPTH; i++)
			p += sprintf(p,
				     "--d%d\r\nContent-Type: multipart/mixed; boundary=d%d\r\n\r\n",
				     i, i + 1);
		p += sprintf(p, "--d%d\r\n\r\nx\r\n", MIME7_MAX_DEPTH + 1);
		o = conv("d0", deep, strlen(deep), 0, err, sizeof(err));
		ok(!o && strstr(err, "deep"), "nesting past MIME7_MAX_DEPTH fails");
		free(o);
		/* one level less is fine */
		p = deep;
		for (int i = 0; i < MIME7_MAX_DEPTH - 1; i++)
			p += sprintf(p,
				     "--d%d\r\nContent-Type: multipart/mixed; boundary=d%d\r\n\r\n",
				     i, i + 1);
		p += sprintf(p, "--d%d\r\n\r\nx\xe9\r\n", MIME7_MAX_DEPTH - 1);
		o = conv("d0", deep, strlen(deep), 0, err, sizeof(err));
		ok(o && all_7bit(o), "nesting at the limit converts");
		free(o);
	}
	{
		size_t n = MIME7_HEADER_MAX + 100;
		char *big = malloc(n + 64), *p = big;
		p += sprintf(p, "--b\r\nX-Long: ");
		memset(p, 'a', n);
		p += n;
		p += sprintf(p, "\r\n\r\nx\r\n");
		o = conv("b", big, strlen(big), 0, err, sizeof(err));
		ok(!o && strstr(err, "too long"), "a part header over MIME7_HEADER_MAX fails");
		free(o);
		free(big);
	}
	ok(mime7_new("") == NULL, "an empty boundary is refused");
	{
		char lb[MIME7_BOUNDARY_MAX + 2];
		memset(lb, 'x', sizeof(lb) - 1);
		lb[sizeof(lb) - 1] = '\0';
		ok(mime7_new(lb) == NULL, "an over-long boundary is refused");
	}
	/* reset gives the same again */
	{
		struct mime7 *m = mime7_new("b1");
		struct buf a, c;
		buf_init(&a, 1 << 20);
		buf_init(&c, 1 << 20);
		mime7_feed(m, simple, strlen(simple), &a);
		mime7_finish(m, &a);
		mime7_reset(m);
		mime7_feed(m, simple, strlen(simple), &c);
		mime7_finish(m, &c);
		ok(a.len == c.len && memcmp(a.data, c.data, a.len) == 0, "reset: the same output");
		buf_free(&a);
		buf_free(&c);
		mime7_free(m);
	}
	/* an output buffer too small fails cleanly */
	{
		struct mime7 *m = mime7_new("b1");
		struct buf small;
		buf_init(&small, 16);
		ok(mime7_feed(m, simple, strlen(simple), &small) < 0 &&
		       strstr(mime7_error(m), "large"),
		   "a full output buffer fails");
		buf_free(&small);
		mime7_free(m);
	}
	return tap_done();
}
