/*
 * lib/mime: structure, ENVELOPE, BODY/BODYSTRUCTURE, section table,
 * decoding and search text, then hostile input.  Expected IMAP strings are
 * written from RFC 3501 section 7.4.2; one is the RFC's own example.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "buf.h"
#include "mime.h"
#include "utf8.h"
#include "tap.h"

/* The line-end flags, for checks about the others */
#define LINE_FLAGS_OFF(f) ((f) & ~(unsigned)(MIME_F_NOT_CRLF | MIME_F_LINES_CHECKED))

#define MAXOUT (64u * 1024 * 1024)

struct res {
	struct mime_msg *m;
	struct buf env, body, bs, tbl, text;
};

/* is_str that shows both strings when they differ */
static void is_s(const char *got, const char *want, const char *what)
{
	if (!is_str(got, want, what))
		printf("# got  %s\n# want %s\n", got, want);
}

static int parse_all(const char *d, size_t n, const struct mime_limits *lim, struct res *r)
{
	memset(r, 0, sizeof(*r));
	buf_init(&r->env, MAXOUT);
	buf_init(&r->body, MAXOUT);
	buf_init(&r->bs, MAXOUT);
	buf_init(&r->tbl, MAXOUT);
	buf_init(&r->text, MAXOUT);
	if (mime_parse(d, n, lim, &r->m) < 0)
		return -1;
	if (mime_envelope(r->m, &r->env) < 0 || mime_bodystructure(r->m, 0, &r->body) < 0 ||
	    mime_bodystructure(r->m, 1, &r->bs) < 0 || mime_sections_encode(r->m, &r->tbl) < 0 ||
	    mime_search_text(r->m, &r->text) < 0)
		return -1;
	return 0;
}

static void res_free(struct res *r)
{
	mime_free(r->m);
	buf_free(&r->env);
	buf_free(&r->body);
	buf_free(&r->bs);
	buf_free(&r->tbl);
	buf_free(&r->text);
}

/* Checks IMAP syntax of a parenthesised list: quoted strings with only
 * \" and \\ escapes and no CR/LF/8-bit, literals {n}CRLF, balanced
 * parens, atoms.  Returns 1 if well formed; *maxdepth gets the nesting. */
static int imap_wellformed(const char *s, size_t n, int *maxdepth)
{
	size_t i = 0;
	int depth = 0, md = 0;

	while (i < n) {
		char c = s[i];

		if (c == '(') {
			if (++depth > md)
				md = depth;
			i++;
		} else if (c == ')') {
			if (--depth < 0)
				return 0;
			i++;
		} else if (c == ' ') {
			i++;
		} else if (c == '"') {
			for (i++; i < n && s[i] != '"'; i++) {
				unsigned char u = (unsigned char)s[i];

				if (u == '\r' || u == '\n' || u >= 0x80 || u == 0)
					return 0;
				if (u == '\\') {
					if (i + 1 >= n || (s[i + 1] != '"' && s[i + 1] != '\\'))
						return 0;
					i++;
				}
			}
			if (i >= n)
				return 0;
			i++;
		} else if (c == '{') {
			size_t len = 0;

			for (i++; i < n && s[i] >= '0' && s[i] <= '9'; i++)
				len = len * 10 + (size_t)(s[i] - '0');
			if (i + 3 > n || s[i] != '}' || s[i + 1] != '\r' || s[i + 2] != '\n')
				return 0;
			i += 3;
			if (len > n - i || memchr(s + i, 0, len))
				return 0;
			i += len;
		} else if ((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) {
			while (i < n &&
			       ((s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= '0' && s[i] <= '9')))
				i++;
		} else {
			return 0;
		}
	}
	if (maxdepth)
		*maxdepth = md;
	return depth == 0;
}

static int sec_is(const char *msg, const void *tbl, size_t tl, const char *part, const char *hdr,
		  const char *body)
{
	struct mime_section s;

	if (mime_section_find(tbl, tl, part, &s) < 0)
		return 0;
	if (hdr && (s.hdr_len != strlen(hdr) || memcmp(msg + s.hdr_off, hdr, s.hdr_len)))
		return 0;
	if (body && (s.body_len != strlen(body) || memcmp(msg + s.body_off, body, s.body_len)))
		return 0;
	return 1;
}

/* ---- messages ---- */

static const char msg_simple[] =
    "From: John Doe <john@example.com>\r\n"
    "To: Mary Smith <mary@example.net>, \"Bob \\\"B\\\" Jones\" <bob@x.org>\r\n"
    "Subject: Hello\r\n"
    "Date: Mon, 1 Jan 2024 10:00:00 +0000\r\n"
    "Message-ID: <abc@example.com>\r\n"
    "\r\n"
    "Line one\r\n"
    "Line two\r\n";

static void test_simple(void)
{
	struct res r;
	const char *john = "((\"John Doe\" NIL \"john\" \"example.com\"))";
	char want[1024];

	ok(parse_all(msg_simple, sizeof(msg_simple) - 1, NULL, &r) == 0, "simple: parses");
	snprintf(
	    want, sizeof(want),
	    "(\"Mon, 1 Jan 2024 10:00:00 +0000\" \"Hello\" %s %s %s "
	    "((\"Mary Smith\" NIL \"mary\" \"example.net\")"
	    "(\"Bob \\\"B\\\" Jones\" NIL \"bob\" \"x.org\")) NIL NIL NIL \"<abc@example.com>\")",
	    john, john, john);
	is_s(buf_cstr(&r.env), want, "simple: envelope, sender and reply-to default to from");
	is_s(buf_cstr(&r.body),
	     "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 20 2)",
	     "simple: BODY");
	is_s(
	    buf_cstr(&r.bs),
	    "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 20 2 NIL NIL NIL NIL)",
	    "simple: BODYSTRUCTURE");
	is_int(mime_header_size(r.m), sizeof(msg_simple) - 1 - 20, "simple: header size");
	is_int(mime_lines(r.m), 8, "simple: lines");
	is_int(LINE_FLAGS_OFF(mime_flags(r.m)), MIME_F_HEADER_CHECKED, "simple: no flags");
	ok(sec_is(msg_simple, r.tbl.data, r.tbl.len, "1", NULL, "Line one\r\nLine two\r\n"),
	   "simple: part 1 is the body");
	ok(sec_is(msg_simple, r.tbl.data, r.tbl.len, "", NULL, "Line one\r\nLine two\r\n"),
	   "simple: whole message TEXT");
	{
		struct mime_section s;

		ok(mime_section_find(r.tbl.data, r.tbl.len, "", &s) == 0 && s.is_message &&
		       s.msg_hdr_off == 0 && s.msg_hdr_len == mime_header_size(r.m),
		   "simple: HEADER of the whole message");
		ok(mime_section_find(r.tbl.data, r.tbl.len, "2", &s) < 0, "simple: no part 2");
		ok(mime_section_find(r.tbl.data, r.tbl.len, "1.1", &s) < 0, "simple: no part 1.1");
		ok(mime_section_find(r.tbl.data, r.tbl.len, "0", &s) < 0, "simple: no part 0");
		ok(mime_section_find(r.tbl.data, r.tbl.len, "1.", &s) < 0, "simple: '1.' refused");
		ok(mime_section_find(r.tbl.data, r.tbl.len, "x", &s) < 0, "simple: 'x' refused");
	}
	/* the top-level header is indexed apart (SEARCH BODY is the body) */
	ok(!strstr(buf_cstr(&r.text), "Hello\n") && strstr(buf_cstr(&r.text), "Line two"),
	   "simple: body search text has the body, not the subject");
	res_free(&r);
}

/* Shaped after the example in RFC 3501 section 7.4.2, so BODY must come out
 * as the RFC prints it. */
static void test_rfc3501_example(void)
{
	struct buf b;
	struct res r;
	int i;

	buf_init(&b, 1 << 20);
	buf_puts(&b, "From: a@b.c\r\nContent-Type: MULTIPART/MIXED; BOUNDARY=\"x\"\r\n\r\n--x\r\n"
		     "Content-Type: TEXT/PLAIN; CHARSET=US-ASCII\r\n"
		     "Content-Transfer-Encoding: 7BIT\r\n\r\n");
	for (i = 0; i < 23; i++) /* 22 * 50 + 52 = 1152 octets, 23 lines */
		buf_printf(&b, "%.*s\r\n", i < 22 ? 48 : 50,
			   "abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyz");
	buf_puts(&b, "\r\n--x\r\nContent-Type: TEXT/PLAIN; CHARSET=US-ASCII; NAME=cc.diff\r\n"
		     "Content-ID: <960723163407.20117h@cac.washington.edu>\r\n"
		     "Content-Description: Compiler diff\r\n"
		     "Content-Transfer-Encoding: BASE64\r\n\r\n");
	for (i = 0; i < 73; i++) /* 72 * 62 + 90 = 4554 octets, 73 lines */
		buf_printf(&b, "%.*s\r\n", i < 72 ? 60 : 88,
			   "QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUF"
			   "BQUFBQUFBQUFBQUFB");
	buf_puts(&b, "\r\n--x--\r\n");
	ok(parse_all(b.data, b.len, NULL, &r) == 0, "rfc3501 example: parses");
	is_s(buf_cstr(&r.body),
	     "((\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 1152 23)"
	     "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\" \"NAME\" \"cc.diff\") "
	     "\"<960723163407.20117h@cac.washington.edu>\" \"Compiler diff\" \"BASE64\" 4554 73) "
	     "\"MIXED\")",
	     "rfc3501 example: BODY identical to the RFC's");
	is_int(LINE_FLAGS_OFF(mime_flags(r.m)), MIME_F_HEADER_CHECKED, "rfc3501 example: no flags");
	res_free(&r);
	buf_free(&b);
}

static const char msg_alt[] =
    "From: x@y.z\r\n"
    "Subject: =?UTF-8?B?Q2Fmw6k=?= =?ISO-8859-1?Q?_na=EFve?=\r\n"
    "Content-Type: multipart/alternative; boundary=\"XX\"; foo=bar (comment)\r\n"
    "MIME-Version: 1.0\r\n"
    "\r\n"
    "preamble\r\n"
    "--XX\r\n"
    "Content-Type: text/plain; charset=utf-8\r\n"
    "Content-Transfer-Encoding: quoted-printable\r\n"
    "\r\n"
    "Caf=C3=A9 au lait\r\n"
    "\r\n"
    "--XX  \r\n"
    "Content-Type: text/html;\r\n"
    "\tcharset=\"utf-8\"\r\n"
    "Content-Language: en, fr\r\n"
    "\r\n"
    "<p>Hello &amp; <b>bold</b></p><script>evil()</script>\r\n"
    "--XX--\r\n"
    "epilogue\r\n";

static void test_alternative(void)
{
	struct res r;
	char want[1024];
	const char *html = "<p>Hello &amp; <b>bold</b></p><script>evil()</script>";

	ok(parse_all(msg_alt, sizeof(msg_alt) - 1, NULL, &r) == 0, "alternative: parses");
	snprintf(
	    want, sizeof(want),
	    "((\"text\" \"plain\" (\"charset\" \"utf-8\") NIL NIL \"quoted-printable\" 19 1 NIL "
	    "NIL NIL NIL)(\"text\" \"html\" (\"charset\" \"utf-8\") NIL NIL \"7bit\" %zu 1 NIL "
	    "NIL (\"en\" \"fr\") NIL) \"alternative\" (\"boundary\" \"XX\" \"foo\" \"bar\") NIL "
	    "NIL NIL)",
	    strlen(html));
	is_s(buf_cstr(&r.bs), want, "alternative: BODYSTRUCTURE with extension data");
	snprintf(
	    want, sizeof(want),
	    "((\"text\" \"plain\" (\"charset\" \"utf-8\") NIL NIL \"quoted-printable\" 19 1)"
	    "(\"text\" \"html\" (\"charset\" \"utf-8\") NIL NIL \"7bit\" %zu 1) \"alternative\")",
	    strlen(html));
	is_s(buf_cstr(&r.body), want, "alternative: BODY");
	ok(sec_is(msg_alt, r.tbl.data, r.tbl.len, "1",
		  "Content-Type: text/plain; charset=utf-8\r\n"
		  "Content-Transfer-Encoding: quoted-printable\r\n\r\n",
		  "Caf=C3=A9 au lait\r\n"),
	   "alternative: part 1 header and body");
	ok(sec_is(msg_alt, r.tbl.data, r.tbl.len, "2", NULL, html), "alternative: part 2 body");
	ok(strstr(buf_cstr(&r.text), "Caf\xc3\xa9 na\xc3\xafve\n") == NULL,
	   "alternative: top-level subject not in the body search text");
	ok(strstr(buf_cstr(&r.text), "Caf\xc3\xa9 au lait") != NULL,
	   "alternative: QP body decoded");
	ok(strstr(buf_cstr(&r.text), "Hello & ") && strstr(buf_cstr(&r.text), "bold") &&
	       !strstr(buf_cstr(&r.text), "evil") && !strstr(buf_cstr(&r.text), "<b>"),
	   "alternative: html stripped");
	ok(!strstr(buf_cstr(&r.text), "preamble") && !strstr(buf_cstr(&r.text), "epilogue"),
	   "alternative: preamble and epilogue not indexed");
	is_int(LINE_FLAGS_OFF(mime_flags(r.m)), MIME_F_HEADER_CHECKED, "alternative: no flags");
	res_free(&r);
}

static const char inner_msg[] = "From: Bob <bob@example.com>\r\n"
				"Subject: inner\r\n"
				"Content-Type: multipart/alternative; boundary=\"in\"\r\n"
				"\r\n"
				"--in\r\n"
				"Content-Type: text/plain\r\n"
				"\r\n"
				"inner text\r\n"
				"--in--";

static const char msg_mixed[] = "From: Alice <alice@example.org>\r\n"
				"To: undisclosed-recipients:;\r\n"
				"Subject: fwd\r\n"
				"Content-Type: multipart/mixed; boundary=outer\r\n"
				"\r\n"
				"--outer\r\n"
				"\r\n"
				"body one\r\n"
				"--outer\r\n"
				"Content-Type: application/pdf; name=\"a.pdf\"\r\n"
				"Content-Disposition: attachment; filename=\"a.pdf\"\r\n"
				"Content-Transfer-Encoding: base64\r\n"
				"\r\n"
				"SGVsbG8gV29ybGQ=\r\n"
				"--outer\r\n"
				"Content-Type: message/rfc822\r\n"
				"\r\n"
				"From: Bob <bob@example.com>\r\n"
				"Subject: inner\r\n"
				"Content-Type: multipart/alternative; boundary=\"in\"\r\n"
				"\r\n"
				"--in\r\n"
				"Content-Type: text/plain\r\n"
				"\r\n"
				"inner text\r\n"
				"--in--\r\n"
				"--outer--\r\n";

static void test_mixed(void)
{
	struct res r;
	char want[2048];
	const char *bob = "((\"Bob\" NIL \"bob\" \"example.com\"))";
	struct mime_section s;
	size_t inner_hdr = (size_t)(strstr(inner_msg, "\r\n\r\n") - inner_msg) + 4;

	ok(parse_all(msg_mixed, sizeof(msg_mixed) - 1, NULL, &r) == 0, "mixed: parses");
	snprintf(
	    want, sizeof(want),
	    "((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 8 1 NIL NIL NIL NIL)"
	    "(\"application\" \"pdf\" (\"name\" \"a.pdf\") NIL NIL \"base64\" 16 NIL "
	    "(\"attachment\" (\"filename\" \"a.pdf\")) NIL NIL)"
	    "(\"message\" \"rfc822\" NIL NIL NIL \"7bit\" %zu "
	    "(NIL \"inner\" %s %s %s NIL NIL NIL NIL NIL) "
	    "((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 10 1 NIL NIL NIL "
	    "NIL) "
	    "\"alternative\" (\"boundary\" \"in\") NIL NIL NIL) 9 NIL NIL NIL NIL) "
	    "\"mixed\" (\"boundary\" \"outer\") NIL NIL NIL)",
	    strlen(inner_msg), bob, bob, bob);
	is_s(buf_cstr(&r.bs), want, "mixed: BODYSTRUCTURE with nested message/rfc822");
	ok(strstr(buf_cstr(&r.env),
		  " ((NIL NIL \"undisclosed-recipients\" NIL)(NIL NIL NIL NIL)) NIL NIL") != NULL,
	   "mixed: empty group in envelope");
	ok(sec_is(msg_mixed, r.tbl.data, r.tbl.len, "1", "\r\n", "body one"),
	   "mixed: part 1 (empty MIME header)");
	ok(sec_is(msg_mixed, r.tbl.data, r.tbl.len, "2", NULL, "SGVsbG8gV29ybGQ="),
	   "mixed: part 2 body");
	ok(mime_section_find(r.tbl.data, r.tbl.len, "2", &s) == 0 &&
	       s.encoding == MIME_ENC_BASE64 && !s.is_message,
	   "mixed: part 2 is base64");
	ok(sec_is(msg_mixed, r.tbl.data, r.tbl.len, "3", "Content-Type: message/rfc822\r\n\r\n",
		  inner_msg),
	   "mixed: part 3 MIME header and body");
	ok(mime_section_find(r.tbl.data, r.tbl.len, "3", &s) == 0 && s.is_message &&
	       s.msg_hdr_len == inner_hdr && !memcmp(msg_mixed + s.msg_hdr_off, "From: Bob", 9) &&
	       s.msg_body_len == strlen(inner_msg) - inner_hdr &&
	       !memcmp(msg_mixed + s.msg_body_off, "--in\r\n", 6),
	   "mixed: 3.HEADER and 3.TEXT");
	ok(sec_is(msg_mixed, r.tbl.data, r.tbl.len, "3.1", "Content-Type: text/plain\r\n\r\n",
		  "inner text"),
	   "mixed: part 3.1 inside the encapsulated message");
	ok(mime_section_find(r.tbl.data, r.tbl.len, "3.2", &s) < 0, "mixed: no 3.2");
	ok(mime_section_find(r.tbl.data, r.tbl.len, "4", &s) < 0, "mixed: no 4");
	ok(mime_section_find(r.tbl.data, r.tbl.len, "2.1", &s) < 0, "mixed: no 2.1");
	ok(mime_section_find(r.tbl.data, r.tbl.len, "3.1.1", &s) < 0, "mixed: no 3.1.1");
	ok(strstr(buf_cstr(&r.text), "inner text") && strstr(buf_cstr(&r.text), "inner\n") &&
	       !strstr(buf_cstr(&r.text), "Hello World"),
	   "mixed: search text has the inner message, not the pdf");
	res_free(&r);
}

/* A top-level message/rfc822: "1" is the encapsulated message, "1.1" its
 * body. */
static void test_toplevel_message(void)
{
	static const char msg[] = "Content-Type: message/rfc822\r\n\r\n"
				  "Subject: in\r\n\r\nbody\r\n";
	struct res r;
	struct mime_section s;

	ok(parse_all(msg, sizeof(msg) - 1, NULL, &r) == 0, "top message: parses");
	ok(mime_section_find(r.tbl.data, r.tbl.len, "1", &s) == 0 && s.is_message &&
	       s.msg_hdr_len == 15 && s.msg_body_len == 6,
	   "top message: 1 is the message");
	ok(sec_is(msg, r.tbl.data, r.tbl.len, "1.1", "Subject: in\r\n\r\n", "body\r\n"),
	   "top message: 1.1 is its body");
	is_s(buf_cstr(&r.body),
	     "(\"message\" \"rfc822\" NIL NIL NIL \"7bit\" 21 (NIL \"in\" NIL NIL NIL NIL NIL NIL "
	     "NIL NIL) (\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 6 1) 3)",
	     "top message: BODY");
	res_free(&r);
}

static void test_addresses(void)
{
	static const char msg[] =
	    "From: \"Doe, John\" <john@x.com>\r\n"
	    "Reply-To:\r\n"
	    "To: (comment) plain@y.org (Plain Name), group: a@b.c, \"q\" <d@e.f>;,\r\n"
	    " <@route1,@route2:user@host>, broken <, \"quoted local\"@dom.ain, nodomain,\r\n"
	    "  @nolocal,,\r\n"
	    "Cc: =?utf-8?q?J=C3=B6rg?= <jorg@x.de>, Mary\r\n"
	    "  Jane <mj@x.de>\r\n"
	    "Bcc: <<<>>>, \"unterminated\r\n"
	    "Subject: say \"hi\" \\ there\r\n"
	    "In-Reply-To: <a@b>\r\n"
	    "\r\n";
	struct res r;
	const char *from = "((\"Doe, John\" NIL \"john\" \"x.com\"))";
	char want[2048];

	ok(parse_all(msg, sizeof(msg) - 1, NULL, &r) == 0, "addresses: parse");
	snprintf(want, sizeof(want),
		 "(NIL \"say \\\"hi\\\" \\\\ there\" %s %s %s "
		 "((\"Plain Name\" NIL \"plain\" \"y.org\")(NIL NIL \"group\" NIL)"
		 "(NIL NIL \"a\" \"b.c\")(\"q\" NIL \"d\" \"e.f\")(NIL NIL NIL NIL)"
		 "(NIL \"@route1,@route2\" \"user\" \"host\")"
		 "(\"broken\" NIL \"MISSING_MAILBOX\" \"MISSING_DOMAIN\")"
		 "(NIL NIL \"quoted local\" \"dom.ain\")(NIL NIL \"nodomain\" \"MISSING_DOMAIN\")"
		 "(NIL NIL \"MISSING_MAILBOX\" \"nolocal\")) "
		 "((\"=?utf-8?q?J=C3=B6rg?=\" NIL \"jorg\" \"x.de\")(\"Mary Jane\" NIL \"mj\" "
		 "\"x.de\")) ",
		 from, from, from);
	ok(strncmp(buf_cstr(&r.env), want, strlen(want)) == 0,
	   "addresses: groups, routes, comments, broken ones");
	if (strncmp(buf_cstr(&r.env), want, strlen(want)) != 0)
		printf("# got  %s\n# want %s\n", buf_cstr(&r.env), want);
	ok(strstr(buf_cstr(&r.env), ") \"<a@b>\" NIL)") != NULL, "addresses: in-reply-to");
	ok(imap_wellformed(r.env.data, r.env.len, NULL), "addresses: well-formed IMAP");
	ok(strstr(buf_cstr(&r.text), "J\xc3\xb6rg <jorg@x.de>") == NULL,
	   "addresses: top-level cc not in the body search text");
	res_free(&r);

	{
		static const char m8[] = "Subject: Caf\xc3\xa9\r\n  x\r\n\r\n";

		ok(parse_all(m8, sizeof(m8) - 1, NULL, &r) == 0, "8-bit subject: parses");
		is_s(buf_cstr(&r.env),
		     "(NIL {8}\r\nCaf\xc3\xa9  x NIL NIL NIL NIL NIL NIL NIL NIL)",
		     "8-bit subject: a literal, unfolded");
		res_free(&r);
	}
}

/* mime_address_text: the form SEARCH FROM/TO/CC/BCC finds (issue 9) */
static void test_address_text(void)
{
	static const struct {
		const char *in, *want;
	} cases[] = {
	    {"user-from@domain.org", "user-from@domain.org, "},
	    /* the last comment stands for a missing name, as in ENVELOPE */
	    {"<user-from (comment)@ (comment) domain.org>", "comment user-from@domain.org, "},
	    {"user-from (Real From) @ domain.org", "Real From user-from@domain.org, "},
	    {"\"Real, From\" <a@b.org>, c@d.org", "Real, From a@b.org, c@d.org, "},
	    {"=?utf-8?q?R=C3=A9al?= <a@b.org>", "R\xc3\xa9"
						"al a@b.org, "},
	    {"friends: a@b.org, C <c@d.org>;, e@f.org", "friends: a@b.org, C c@d.org, e@f.org, "},
	    {"undisclosed-recipients:;", "undisclosed-recipients: "},
	    {"", ""},
	    {"@", "MISSING_MAILBOX@MISSING_DOMAIN, "},
	    {"<<<>>>,,(((", "MISSING_MAILBOX@MISSING_DOMAIN, "},
	};
	struct buf b;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char what[160];
		buf_init(&b, 4096);
		snprintf(what, sizeof(what), "address text of \"%s\"", cases[i].in);
		ok(mime_address_text(cases[i].in, strlen(cases[i].in), &b) == 0, what);
		is_s(buf_cstr(&b), cases[i].want, what);
		buf_free(&b);
	}
	/* a full buffer: -1, never past its maximum */
	buf_init(&b, 8);
	ok(mime_address_text("a@b.org, c@d.org", 16, &b) == -1 && b.len <= 8,
	   "address text: full buffer refused");
	buf_free(&b);
}

static void test_decode(void)
{
	static const struct {
		const char *in, *out, *what;
	} cases[] = {
	    {"=?UTF-8?B?Q2Fmw6k=?=", "Caf\xc3\xa9", "B, UTF-8"},
	    {"=?ISO-8859-1?Q?caf=E9?=", "caf\xc3\xa9", "Q, ISO-8859-1"},
	    {"=?iso-8859-1?q?caf=e9?=", "caf\xc3\xa9", "lower-case q and hex"},
	    {"=?utf-8?q?a_b?= =?utf-8?q?c?=", "a bc", "adjacent words joined"},
	    {"=?utf-8?q?a?=\r\n =?utf-8?q?b?=", "ab", "adjacent across a fold"},
	    {"=?UTF-8?B?w6k=?= x =?UTF-8?B?w6k=?=", "\xc3\xa9 x \xc3\xa9",
	     "text between words kept"},
	    {"=?UTF-8?Q?=C3?= =?UTF-8?Q?=A9?=", "\xc3\xa9", "character split over two words"},
	    {"=?x-unknown?Q?caf=E9?=", "caf\xef\xbf\xbd", "unknown charset"},
	    {"=?UTF-8?X?abc?=", "=?UTF-8?X?abc?=", "unknown encoding left as is"},
	    {"=?UTF-8?Q?a b?=", "=?UTF-8?Q?a b?=", "space inside a word: not a word"},
	    {"=?UTF-8?Q?abc", "=?UTF-8?Q?abc", "unterminated word"},
	    {"a\xff b", "a\xef\xbf\xbd b", "invalid UTF-8 replaced"},
	    {"=?utf-8?q?bad=ZZ?=", "bad=ZZ", "bad Q escape kept"},
	    {"=?utf-8*en?q?lang?=", "lang", "RFC 2231 language"},
	    {"=?koi8-r?B?8NLJ18XU?=", "\xd0\x9f\xd1\x80\xd0\xb8\xd0\xb2\xd0\xb5\xd1\x82", "KOI8-R"},
	    {"=?utf-8?b?/w==?=", "\xef\xbf\xbd", "invalid UTF-8 inside a word"},
	    {"plain text", "plain text", "no words"},
	    {"", "", "empty"},
	};
	size_t i;
	struct buf b;
	int bad;

	buf_init(&b, 4096);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char what[128];

		buf_reset(&b);
		snprintf(what, sizeof(what), "decode header: %s", cases[i].what);
		ok(mime_decode_header(cases[i].in, strlen(cases[i].in), &b) == 0 &&
		       strcmp(buf_cstr(&b), cases[i].out) == 0,
		   what);
	}
	buf_reset(&b);
	ok(mime_decode_base64("SGVs\r\nbG8=", 10, &b, &bad) == 0 && !bad &&
	       !strcmp(b.data, "Hello"),
	   "base64: across lines");
	buf_reset(&b);
	ok(mime_decode_base64("SG!Vs*bG8=", 10, &b, &bad) == 0 && bad && !strcmp(b.data, "Hello"),
	   "base64: junk skipped and reported");
	buf_reset(&b);
	ok(mime_decode_base64("SGVsbG8gV", 9, &b, &bad) == 0 && bad, "base64: stray last char");
	buf_reset(&b);
	ok(mime_decode_qp("a=3Db=\r\nc  \r\nd=\n=4", 18, &b, &bad) == 0 && bad &&
	       !strcmp(b.data, "a=bc\r\nd=4"),
	   "qp: escapes, soft breaks, trailing space, stray '='");
	buf_reset(&b);
	ok(mime_decode_qp("x=e9", 4, &b, &bad) == 0 && !bad && !strcmp(b.data, "x\xe9"),
	   "qp: lower-case hex accepted");
	{
		struct buf small;

		buf_init(&small, 3);
		ok(mime_decode_base64("SGVsbG8=", 8, &small, &bad) < 0,
		   "base64: -1 when out is full");
		buf_free(&small);
	}
	buf_free(&b);
}

static void test_charsets(void)
{
	static const char msg[] = "Content-Type: multipart/mixed; boundary=b\r\n\r\n"
				  "--b\r\nContent-Type: text/plain; charset=iso-8859-1\r\n"
				  "Content-Transfer-Encoding: 8bit\r\n\r\ncaf\xe9\r\n"
				  "--b\r\nContent-Type: text/plain; charset=x-nonsense\r\n\r\n"
				  "na\xefve\r\n"
				  "--b\r\nContent-Type: text/plain; charset=utf-8\r\n"
				  "Content-Transfer-Encoding: base64\r\n\r\n"
				  "w7xiZXI=\r\n"
				  "--b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
				  "bad \xc3\x28 utf8\r\n"
				  "--b--\r\n";
	struct res r;
	struct mime_limits lim;

	ok(parse_all(msg, sizeof(msg) - 1, NULL, &r) == 0, "charsets: parses");
	ok(strstr(buf_cstr(&r.text), "caf\xc3\xa9") != NULL, "charsets: latin-1 converted");
	ok(strstr(buf_cstr(&r.text), "na\xef\xbf\xbdve") != NULL,
	   "charsets: unknown charset -> U+FFFD");
	ok(strstr(buf_cstr(&r.text), "\xc3\xbc"
				     "ber") != NULL,
	   "charsets: base64 utf-8");
	ok(strstr(buf_cstr(&r.text), "bad \xef\xbf\xbd( utf8") != NULL,
	   "charsets: invalid utf-8 replaced");
	ok(utf8_valid(r.text.data, r.text.len), "charsets: search text is valid UTF-8");
	res_free(&r);

	mime_limits_default(&lim);
	lim.max_search_text = 6;
	ok(parse_all(msg, sizeof(msg) - 1, &lim, &r) == 0 && r.text.len <= 6 && r.text.len >= 3 &&
	       utf8_valid(r.text.data, r.text.len),
	   "charsets: search text bounded, cut on a character boundary");
	res_free(&r);
}

/* ---- hostile input ---- */

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void check_sane(const struct res *r, size_t len, const char *what)
{
	char w[160];
	int depth;
	struct mime_section s;
	static const char *paths[] = {"", "1", "2", "1.1", "1.2", "2.1", "1.1.1", "3", "2.2.2"};
	size_t i;
	int inside = 1;

	snprintf(w, sizeof(w), "%s: BODYSTRUCTURE well-formed", what);
	ok(imap_wellformed(r->bs.data, r->bs.len, &depth), w);
	snprintf(w, sizeof(w), "%s: ENVELOPE well-formed", what);
	ok(imap_wellformed(r->env.data, r->env.len, NULL), w);
	for (i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
		if (mime_section_find(r->tbl.data, r->tbl.len, paths[i], &s) < 0)
			continue;
		if (s.hdr_off + s.hdr_len > len || s.body_off + s.body_len > len ||
		    s.msg_hdr_off + s.msg_hdr_len > len || s.msg_body_off + s.msg_body_len > len)
			inside = 0;
	}
	snprintf(w, sizeof(w), "%s: sections inside the message", what);
	ok(inside, w);
	snprintf(w, sizeof(w), "%s: search text valid UTF-8", what);
	ok(utf8_valid(r->text.data, r->text.len), w);
}

static void test_rfc2231(void)
{
	static const char msg[] =
	    "Content-Type: multipart/mixed; boundary*0=ab; boundary*1=cd\r\n\r\n"
	    "--abcd\r\nContent-Type: text/plain; name*1=\"name.txt\"; name*0=\"long\"\r\n"
	    "Content-Disposition: attachment;\r\n filename*0*=utf-8''%E2%82%AC; "
	    "filename*1=\".txt\"\r\n"
	    "\r\nx\r\n--abcd--\r\n";
	struct res r;

	ok(parse_all(msg, sizeof(msg) - 1, NULL, &r) == 0, "rfc2231: parses");
	is_s(buf_cstr(&r.bs),
	     "((\"text\" \"plain\" (\"name\" \"longname.txt\") NIL NIL \"7bit\" 1 1 NIL "
	     "(\"attachment\" (\"filename*\" \"utf-8''%E2%82%AC.txt\")) NIL NIL) \"mixed\" "
	     "(\"boundary\" \"abcd\") NIL NIL NIL)",
	     "rfc2231: continuations joined, boundary found");
	res_free(&r);
}

static void test_unterminated(void)
{
	static const char msg[] = "Content-Type: multipart/mixed; boundary=b\r\n\r\n"
				  "--b\r\nContent-Type: multipart/alternative; boundary=c\r\n\r\n"
				  "--c\r\n\r\ninner\r\n"
				  "--b\r\n\r\nsecond\r\n";
	struct res r;

	ok(parse_all(msg, sizeof(msg) - 1, NULL, &r) == 0, "unterminated: parses");
	ok(mime_flags(r.m) & MIME_F_NO_END_BOUNDARY, "unterminated: flagged");
	ok(sec_is(msg, r.tbl.data, r.tbl.len, "1.1", "\r\n", "inner"),
	   "unterminated: inner part closed by the outer boundary");
	ok(sec_is(msg, r.tbl.data, r.tbl.len, "2", "\r\n", "second\r\n"),
	   "unterminated: last part runs to the end");
	check_sane(&r, sizeof(msg) - 1, "unterminated");
	res_free(&r);
}

static void test_missing_boundary(void)
{
	static const char msg[] = "Content-Type: multipart/mixed\r\n\r\n--b\r\n\r\nx\r\n--b--\r\n";
	struct res r;

	ok(parse_all(msg, sizeof(msg) - 1, NULL, &r) == 0, "no boundary: parses");
	is_s(buf_cstr(&r.body),
	     "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 17 4)",
	     "no boundary: an opaque text body");
	ok(sec_is(msg, r.tbl.data, r.tbl.len, "1", NULL, "--b\r\n\r\nx\r\n--b--\r\n"),
	   "no boundary: part 1 is the whole body");
	res_free(&r);
}

static void test_deep(void)
{
	struct buf b;
	struct res r;
	int i, depth = 0;
	double t0;

	buf_init(&b, 1 << 24);
	for (i = 0; i < 1000; i++)
		buf_printf(&b, "Content-Type: multipart/mixed; boundary=b%d\r\n\r\n--b%d\r\n", i,
			   i);
	buf_puts(&b, "\r\ndeep\r\n");
	for (i = 999; i >= 0; i--)
		buf_printf(&b, "--b%d--\r\n", i);
	t0 = now();
	ok(parse_all(b.data, b.len, NULL, &r) == 0, "1000-deep multipart: parses");
	ok(mime_flags(r.m) & MIME_F_DEPTH, "1000-deep multipart: depth flag");
	ok(imap_wellformed(r.bs.data, r.bs.len, &depth) && depth <= 36,
	   "1000-deep multipart: flattened below the limit");
	check_sane(&r, b.len, "1000-deep multipart");
	printf("# 1000-deep multipart: %.3f s\n", now() - t0);
	res_free(&r);

	buf_reset(&b);
	for (i = 0; i < 1000; i++)
		buf_puts(&b, "Subject: m\r\nContent-Type: message/rfc822\r\n\r\n");
	buf_puts(&b, "\r\nbottom\r\n");
	ok(parse_all(b.data, b.len, NULL, &r) == 0, "1000-deep message/rfc822: parses");
	ok(mime_flags(r.m) & MIME_F_DEPTH, "1000-deep message/rfc822: depth flag");
	check_sane(&r, b.len, "1000-deep message/rfc822");
	res_free(&r);
	buf_free(&b);
}

static void test_many_parts(void)
{
	struct buf b;
	struct res r;
	struct mime_limits lim;
	struct mime_section s;
	int i;
	double t0, t;

	buf_init(&b, 1 << 26);
	buf_puts(&b, "Content-Type: multipart/mixed; boundary=p\r\n\r\n");
	for (i = 0; i < 100000; i++)
		buf_printf(&b, "--p\r\n\r\n%d\r\n", i);
	buf_puts(&b, "--p--\r\n");
	t0 = now();
	ok(parse_all(b.data, b.len, NULL, &r) == 0, "100k parts: parses");
	t = now() - t0;
	ok(mime_flags(r.m) & MIME_F_PARTS, "100k parts: parts flag at the default limit");
	ok(mime_section_find(r.tbl.data, r.tbl.len, "1999", &s) == 0 &&
	       mime_section_find(r.tbl.data, r.tbl.len, "2000", &s) < 0,
	   "100k parts: 1999 parts kept (the root counts)");
	check_sane(&r, b.len, "100k parts");
	printf("# 100k parts, default limits: %.3f s\n", t);
	res_free(&r);

	mime_limits_default(&lim);
	lim.max_parts = 200000;
	t0 = now();
	ok(parse_all(b.data, b.len, &lim, &r) == 0, "100k parts unlimited: parses");
	t = now() - t0;
	ok(mime_section_find(r.tbl.data, r.tbl.len, "100000", &s) == 0 && s.body_len == 5 &&
	       !memcmp(b.data + s.body_off, "99999", 5),
	   "100k parts unlimited: last part found");
	printf("# 100k parts, all kept: %.3f s, table %zu bytes\n", t, r.tbl.len);
	res_free(&r);
	buf_free(&b);
}

static void test_big_near_boundaries(void)
{
	struct buf b;
	struct res r;
	double t0, t;
	int i;

	buf_init(&b, 1 << 26);
	buf_puts(
	    &b,
	    "Content-Type: multipart/mixed; boundary=a\r\n\r\n--a\r\n"
	    "Content-Type: multipart/mixed; boundary=aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	    "aaaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n--aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	    "aaaaaaaaaaaaaaaaaaa\r\n\r\n");
	while (b.len < 20u * 1024 * 1024)
		for (i = 0; i < 1000; i++)
			buf_puts(&b, "--"
				     "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
				     "aaaaaaaX\r\n");
	t0 = now();
	ok(parse_all(b.data, b.len, NULL, &r) == 0, "20 MB of near-boundaries: parses");
	t = now() - t0;
	printf("# 20 MB near-boundary lines: %.3f s (parse, structure, search text)\n", t);
	ok(mime_flags(r.m) & MIME_F_NO_END_BOUNDARY, "20 MB of near-boundaries: unterminated");
	res_free(&r);
	buf_free(&b);
}

static void test_headers_limits(void)
{
	struct buf b;
	struct res r;
	int i;

	buf_init(&b, 1 << 24);
	buf_puts(&b, "Subject: ");
	for (i = 0; i < 100000; i++)
		buf_putc(&b, (char)('a' + i % 26));
	buf_puts(&b, "\r\n\r\nbody\r\n");
	ok(parse_all(b.data, b.len, NULL, &r) == 0, "100k header field: parses");
	ok(mime_flags(r.m) & MIME_F_HEADER_LONG, "100k header field: flagged");
	ok(r.env.len < 70000 && r.env.len > 60000, "100k header field: kept to the limit");
	check_sane(&r, b.len, "100k header field");
	res_free(&r);

	buf_reset(&b);
	for (i = 0; i < 5000; i++)
		buf_printf(&b, "X-H%d: v\r\n", i);
	buf_puts(&b, "Subject: late\r\n\r\nbody\r\n");
	ok(parse_all(b.data, b.len, NULL, &r) == 0, "5000 header fields: parses");
	ok(mime_flags(r.m) & MIME_F_HEADERS, "5000 header fields: flagged");
	ok(strstr(buf_cstr(&r.env), "late") == NULL, "5000 header fields: the rest ignored");
	ok(sec_is(b.data, r.tbl.data, r.tbl.len, "1", NULL, "body\r\n"),
	   "5000 header fields: body still found");
	res_free(&r);

	/* one folded field of 20000 continuation lines */
	buf_reset(&b);
	buf_puts(&b, "To: a@b.c");
	for (i = 0; i < 20000; i++)
		buf_puts(&b, ",\r\n x@y.z");
	buf_puts(&b, "\r\n\r\n");
	ok(parse_all(b.data, b.len, NULL, &r) == 0, "long folded To: parses");
	check_sane(&r, b.len, "long folded To");
	res_free(&r);
	buf_free(&b);
}

static void test_odd_inputs(void)
{
	struct res r;
	static const char nul[] = "Subject: a\0b\r\nFrom: x\0@y\r\n\r\nbo\0dy\r\n";
	static const char badb64[] = "Content-Transfer-Encoding: base64\r\n\r\n!!!!\r\n";
	static const char badqp[] =
	    "Content-Transfer-Encoding: quoted-printable\r\n\r\na=\x01x\r\n";
	static const char hdronly[] = "Subject: x\r\n";
	static const char nohdr[] = "\r\nbody\r\n";
	static const char lf[] = "Subject: lf\nContent-Type: multipart/mixed; boundary=z\n\n"
				 "--z\nContent-Type: text/plain\n\none\n--z\n\ntwo\n--z--\n";
	static const char badutf[] = "Subject: \xff\xfe\r\nFrom: \xc3 <a@b>\r\n\r\n";

	ok(parse_all("", 0, NULL, &r) == 0, "empty: parses");
	is_s(buf_cstr(&r.env), "(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)", "empty: envelope");
	is_s(buf_cstr(&r.body),
	     "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 0 0)", "empty: BODY");
	is_int(mime_header_size(r.m), 0, "empty: header size");
	res_free(&r);

	ok(parse_all(nul, sizeof(nul) - 1, NULL, &r) == 0, "NUL: parses");
	ok(mime_flags(r.m) & MIME_F_NUL, "NUL: flagged");
	ok(strstr(buf_cstr(&r.env), "\"ab\"") != NULL, "NUL: dropped from envelope strings");
	check_sane(&r, sizeof(nul) - 1, "NUL");
	res_free(&r);

	ok(parse_all(badb64, sizeof(badb64) - 1, NULL, &r) == 0 &&
	       (mime_flags(r.m) & MIME_F_BAD_ENCODING),
	   "invalid base64: flagged");
	res_free(&r);
	ok(parse_all(badqp, sizeof(badqp) - 1, NULL, &r) == 0 &&
	       (mime_flags(r.m) & MIME_F_BAD_ENCODING),
	   "invalid QP: flagged");
	ok(strstr(buf_cstr(&r.text), "a=\x01x") != NULL, "invalid QP: decoded leniently");
	res_free(&r);

	{
		/* RFC 6532 headers are flagged for the IMAP downgrade; a header
		 * in a legacy 8-bit charset, or 8-bit only in the body, is not */
		static const char u8[] = "Subject: Gr\xc3\xbc\xc3\x9f"
					 "e\r\n\r\nbody\r\n";
		static const char l1[] = "Subject: Gr\xfc\xdf"
					 "e\r\n\r\nbody\r\n";
		static const char b8[] = "Subject: x\r\n\r\nb\xc3\xbc"
					 "dy\r\n";
		ok(parse_all(u8, sizeof(u8) - 1, NULL, &r) == 0 &&
		       LINE_FLAGS_OFF(mime_flags(r.m)) ==
			   (MIME_F_UTF8_HEADER | MIME_F_HEADER_CHECKED),
		   "UTF-8 header: flagged");
		res_free(&r);
		ok(parse_all(l1, sizeof(l1) - 1, NULL, &r) == 0 &&
		       LINE_FLAGS_OFF(mime_flags(r.m)) == MIME_F_HEADER_CHECKED,
		   "Latin-1 header: not flagged");
		res_free(&r);
		ok(parse_all(b8, sizeof(b8) - 1, NULL, &r) == 0 &&
		       LINE_FLAGS_OFF(mime_flags(r.m)) == MIME_F_HEADER_CHECKED,
		   "8-bit body only: not flagged");
		res_free(&r);
		/* a part's header (an attachment's UTF-8 file name) and an
		 * attached message's header count too; mime_downgrade rewrites
		 * those blocks and keeps every other byte */
		static const char mp[] =
		    "Subject: ascii\r\nContent-Type: multipart/mixed; boundary=x\r\n\r\n"
		    "--x\r\nContent-Type: text/plain\r\n\r\nb\xc3\xbc"
		    "dy\r\n"
		    "--x\r\nContent-Type: application/pdf\r\n"
		    "Content-Disposition: attachment; filename=\"R\xc3\xa9sum\xc3\xa9.pdf\"\r\n\r\n"
		    "%PDF\r\n"
		    "--x\r\nContent-Type: message/rfc822\r\n\r\n"
		    "Subject: \xc3\xa9t\xc3\xa9\r\n\r\ninner\r\n"
		    "--x--\r\n";
		struct buf dg;
		ok(parse_all(mp, sizeof(mp) - 1, NULL, &r) == 0 &&
		       (mime_flags(r.m) & MIME_F_UTF8_HEADER),
		   "UTF-8 in a part header: flagged");
		buf_init(&dg, 1 << 20);
		ok(mime_downgrade(r.m, &dg) == 0, "mime_downgrade");
		ok(strstr(buf_cstr(&dg), "filename*=utf-8''R%C3%A9sum%C3%A9.pdf\r\n") != NULL,
		   "the part's parameter is RFC 2231");
		ok(strstr(buf_cstr(&dg), "Subject: =?UTF-8?B?w6l0w6k=?=\r\n\r\ninner") != NULL,
		   "the attached message's subject is encoded");
		ok(strstr(buf_cstr(&dg), "b\xc3\xbc"
					 "dy\r\n") != NULL &&
		       strncmp(buf_cstr(&dg), mp, 80) == 0,
		   "bodies and ASCII headers byte for byte");
		res_free(&r);
		ok(parse_all(dg.data, dg.len, NULL, &r) == 0 &&
		       LINE_FLAGS_OFF(mime_flags(r.m)) == MIME_F_HEADER_CHECKED,
		   "the downgraded message is not flagged");
		ok(strstr(buf_cstr(&r.bs), "\"=?UTF-8?B?w6l0w6k=?=\"") != NULL,
		   "its BODYSTRUCTURE carries the encoded subject");
		res_free(&r);
		buf_free(&dg);
	}
	ok(parse_all(hdronly, sizeof(hdronly) - 1, NULL, &r) == 0, "only headers: parses");
	is_int(mime_header_size(r.m), sizeof(hdronly) - 1, "only headers: all header");
	ok(strstr(buf_cstr(&r.body), "\"7bit\" 0 0)") != NULL, "only headers: empty body");
	res_free(&r);

	ok(parse_all(nohdr, sizeof(nohdr) - 1, NULL, &r) == 0, "no headers: parses");
	is_int(mime_header_size(r.m), 2, "no headers: header is the blank line");
	ok(sec_is(nohdr, r.tbl.data, r.tbl.len, "1", NULL, "body\r\n"), "no headers: body");
	res_free(&r);

	ok(parse_all(lf, sizeof(lf) - 1, NULL, &r) == 0, "bare LF: parses");
	is_s(buf_cstr(&r.body),
	     "((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 3 1)"
	     "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 3 1) \"mixed\")",
	     "bare LF: structure");
	ok(sec_is(lf, r.tbl.data, r.tbl.len, "2", "\n", "two"), "bare LF: part 2");
	res_free(&r);

	ok(parse_all(badutf, sizeof(badutf) - 1, NULL, &r) == 0, "invalid UTF-8 header: parses");
	check_sane(&r, sizeof(badutf) - 1, "invalid UTF-8 header");
	ok(strstr(buf_cstr(&r.text), "\xef\xbf\xbd\xef\xbf\xbd") == NULL,
	   "invalid UTF-8 header: top-level header not in the body search text");
	res_free(&r);
}

static void test_table_corruption(void)
{
	struct res r;
	struct mime_section s;
	size_t i, bad = 0, found = 0;
	unsigned char *t;

	ok(parse_all(msg_mixed, sizeof(msg_mixed) - 1, NULL, &r) == 0, "table: parses");
	t = malloc(r.tbl.len);
	for (i = 0; i < r.tbl.len * 8; i++) {
		memcpy(t, r.tbl.data, r.tbl.len);
		t[i / 8] ^= (unsigned char)(1u << (i % 8));
		if (mime_section_find(t, r.tbl.len, "3.1", &s) == 0)
			found++;
		else
			bad++;
	}
	is_int(found, 0, "table: every flipped bit detected");
	for (i = 0; i < r.tbl.len; i++)
		if (mime_section_find(r.tbl.data, i, "3.1", &s) == 0)
			found++;
	is_int(found, 0, "table: every truncation detected");
	ok(mime_section_find(NULL, 0, "", &s) < 0, "table: NULL refused");
	free(t);
	res_free(&r);
}

/* Every prefix of a message parses, and the sections of each stay inside
 * it; the full message gives the same answer as parsed alone. */
static void test_prefixes(void)
{
	static const struct {
		const char *msg;
		size_t len;
	} msgs[] = {
	    {msg_simple, sizeof(msg_simple) - 1},
	    {msg_alt, sizeof(msg_alt) - 1},
	    {msg_mixed, sizeof(msg_mixed) - 1},
	};
	size_t k, n;

	for (k = 0; k < sizeof(msgs) / sizeof(msgs[0]); k++) {
		int all_ok = 1;
		struct res full, r;
		char *copy;

		parse_all(msgs[k].msg, msgs[k].len, NULL, &full);
		for (n = 0; n <= msgs[k].len; n++) {
			struct mime_section s;

			/* a heap copy of exactly n bytes: ASan catches any over-read */
			copy = malloc(n ? n : 1);
			memcpy(copy, msgs[k].msg, n);
			if (parse_all(copy, n, NULL, &r) < 0 ||
			    !imap_wellformed(r.bs.data, r.bs.len, NULL) ||
			    !imap_wellformed(r.env.data, r.env.len, NULL) ||
			    !utf8_valid(r.text.data, r.text.len))
				all_ok = 0;
			if (mime_section_find(r.tbl.data, r.tbl.len, "1", &s) == 0 &&
			    (s.body_off + s.body_len > n || s.hdr_off + s.hdr_len > n))
				all_ok = 0;
			if (n == msgs[k].len && (strcmp(buf_cstr(&r.bs), buf_cstr(&full.bs)) ||
						 strcmp(buf_cstr(&r.env), buf_cstr(&full.env)) ||
						 r.tbl.len != full.tbl.len ||
						 memcmp(r.tbl.data, full.tbl.data, r.tbl.len)))
				all_ok = 0;
			res_free(&r);
			free(copy);
		}
		ok(all_ok, "every prefix parses to well-formed output");
		res_free(&full);
	}
}

static void test_out_full(void)
{
	struct mime_msg *m;
	struct buf small;
	size_t i;
	int all = 1;

	ok(mime_parse(msg_mixed, sizeof(msg_mixed) - 1, NULL, &m) == 0, "out full: parses");
	for (i = 0; i < 200; i += 7) {
		buf_init(&small, i);
		if (mime_bodystructure(m, 1, &small) == 0 && i < 100)
			all = 0;
		buf_free(&small);
		buf_init(&small, i);
		if (mime_envelope(m, &small) == 0 && i < 50)
			all = 0;
		buf_free(&small);
		buf_init(&small, i);
		if (mime_sections_encode(m, &small) == 0 && i < 10)
			all = 0;
		buf_free(&small);
	}
	ok(all, "out full: -1 when the output buffer is too small");
	mime_free(m);
}

/* MIME_F_NOT_CRLF: set when the size with CRLF line ends (POP3's) is not
 * the stored size; every parse says it checked */
static void test_line_ends(void)
{
	static const struct {
		const char *m;
		int not_crlf;
	} cases[] = {
	    {"Subject: a\r\n\r\nbody\r\n", 0},
	    {"", 0},
	    {"Subject: a\n\nbody\n", 1},
	    {"Subject: a\r\n\r\nbody\nmore\r\n", 1},
	    {"Subject: a\r\n\r\nno newline", 1},
	    {"Subject: a\r\n\r\nends in CR\r", 1},
	    {"\n", 1},
	    {"\r\n", 0},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct mime_msg *m;
		char what[80];
		snprintf(what, sizeof(what), "line ends, case %zu", i);
		if (!ok(mime_parse(cases[i].m, strlen(cases[i].m), NULL, &m) == 0, what))
			continue;
		unsigned f = mime_flags(m);
		ok((f & MIME_F_LINES_CHECKED) && !!(f & MIME_F_NOT_CRLF) == cases[i].not_crlf,
		   what);
		mime_free(m);
	}
}

int main(void)
{
	test_line_ends();
	test_simple();
	test_rfc3501_example();
	test_alternative();
	test_mixed();
	test_toplevel_message();
	test_addresses();
	test_address_text();
	test_decode();
	test_charsets();
	test_rfc2231();
	test_unterminated();
	test_missing_boundary();
	test_deep();
	test_many_parts();
	test_big_near_boundaries();
	test_headers_limits();
	test_odd_inputs();
	test_table_corruption();
	test_prefixes();
	test_out_full();
	return tap_done();
}
