/* lib/mail/downgrade.c: RFC 6857 downgrade of internationalized header
 * fields, each rule with a header that needs it; the result is 7-bit,
 * parsed back by lib/mail's own MIME parser (ENVELOPE), and the encoded
 * words decode to the original text. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "downgrade.h"
#include "mime.h"
#include "tap.h"

static struct buf out;

static const char *dg(const char *hdr)
{
	buf_reset(&out);
	if (downgrade_header(hdr, strlen(hdr), &out) < 0)
		return "(failed)";
	return out.data ? out.data : "";
}

static int seven_bit(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s >= 0x80)
			return 0;
	return 1;
}

/* Lines of at most 998 octets (RFC 5322 2.1.1), and the envelope of the
 * downgraded message, to compare. */
static int lines_ok(const char *s)
{
	size_t col = 0;

	for (; *s; s++) {
		col = *s == '\n' ? 0 : col + 1;
		if (col > 998)
			return 0;
	}
	return 1;
}

static char *envelope_of(const char *hdr)
{
	struct mime_msg *m;
	struct buf e;
	char *r;
	size_t n = strlen(hdr);
	char *msg = malloc(n + 8);

	memcpy(msg, hdr, n);
	memcpy(msg + n, "body\r\n", 7);
	buf_init(&e, 1 << 20);
	if (mime_parse(msg, n + 6, NULL, &m) < 0)
		abort();
	mime_envelope(m, &e);
	r = strdup(e.data ? e.data : "");
	mime_free(m);
	buf_free(&e);
	free(msg);
	return r;
}

static int decodes_to(const char *encoded, const char *want)
{
	struct buf d;
	int r;

	buf_init(&d, 1 << 16);
	mime_decode_header(encoded, strlen(encoded), &d);
	r = d.data && strcmp(d.data, want) == 0;
	if (!r)
		printf("# decoded %s\n", d.data ? d.data : "(null)");
	buf_free(&d);
	return r;
}

int main(void)
{
	const char *r;
	char *env;

	buf_init(&out, 1 << 20);

	ok(downgrade_header_len("A: b\r\n\r\nbody", 12) == 8, "header length: CRLF blank line");
	ok(downgrade_header_len("A: b\n\nbody", 10) == 6, "header length: LF blank line");
	ok(downgrade_header_len("A: b\r\nC: d\r\n", 12) == 12, "header length: cut inside");
	ok(downgrade_header_len("", 0) == 0, "header length: empty");
	ok(!downgrade_needed("Subject: plain\r\n\r\n", 18), "ASCII header: nothing to do");
	ok(downgrade_needed("Subject: Gr\xc3\xbc\xc3\x9f"
			    "e\r\n\r\n",
			    21),
	   "UTF-8 header: downgrade");
	ok(!downgrade_needed("Subject: Gr\xfc\xdf"
			     "e\r\n\r\n",
			     19),
	   "Latin-1 header: not internationalized, left alone");

	r = dg("Date: Mon, 7 Dec 2026 05:00:00 +0000\r\nSubject: ASCII\r\n\r\n");
	is_str(r, "Date: Mon, 7 Dec 2026 05:00:00 +0000\r\nSubject: ASCII\r\n\r\n",
	       "ASCII fields copied byte for byte");

	r = dg("Subject: Gr\xc3\xbc\xc3\x9f"
	       "e aus K\xc3\xb6ln, today\r\n\r\n");
	is_str(r, "Subject: =?UTF-8?B?R3LDvMOfZQ==?= aus =?UTF-8?B?S8O2bG4s?= today\r\n\r\n",
	       "Subject: each 8-bit word an encoded-word, ASCII words kept");
	ok(decodes_to("=?UTF-8?B?R3LDvMOfZQ==?= aus =?UTF-8?B?S8O2bG4s?= today",
		      "Gr\xc3\xbc\xc3\x9f"
		      "e aus K\xc3\xb6ln, today"),
	   "Subject decodes to the original");

	r = dg("Subject: \xc3\xa9t\xc3\xa9 \xc3\xa9t\xc3\xa9\n\n");
	is_str(r, "Subject: =?UTF-8?B?w6l0w6kgw6l0w6k=?=\n\n",
	       "a run of 8-bit words is one encoded text (its space inside); LF kept");

	r = dg("From: J\xc3\xbcrgen M\xc3\xbcller <juergen@example.org>\r\n\r\n");
	is_str(r, "From: =?UTF-8?B?SsO8cmdlbiBNw7xsbGVy?= <juergen@example.org>\r\n\r\n",
	       "From: UTF-8 display name encoded, ASCII address kept");
	env = envelope_of(r);
	ok(strstr(env,
		  "((\"=?UTF-8?B?SsO8cmdlbiBNw7xsbGVy?=\" NIL \"juergen\" \"example.org\"))") !=
	       NULL,
	   "ENVELOPE from the downgraded From");
	free(env);

	r = dg("To: \xe7\x94\xb0\xe4\xb8\xad <\xe7\x94\xb0\xe4\xb8\xad@example.jp>, "
	       "bob@example.org\r\n\r\n");
	ok(seven_bit(r), "To with a UTF-8 address: 7-bit");
	ok(strstr(r, ":;,") != NULL && strstr(r, " bob@example.org\r\n") != NULL,
	   "the UTF-8 address is an empty group");
	env = envelope_of(r);
	ok(strstr(env, "(NIL NIL NIL NIL)") != NULL &&
	       strstr(env, "\"bob\" \"example.org\"") != NULL,
	   "ENVELOPE: the group's end, then bob");
	free(env);
	{
		/* the group name decodes to the display name and the address */
		const char *p = r + 4, *e = strstr(r, " :;");
		char name[512];
		snprintf(name, sizeof(name), "%.*s", (int)(e - p), p);
		ok(decodes_to(name, "\xe7\x94\xb0\xe4\xb8\xad\xe7\x94\xb0\xe4\xb8\xad@example.jp"),
		   "the group name carries name and address");
	}

	r = dg("Cc: \"Doe, J\xc3\xa9r\xc3\xb4me\" <j@example.org>, Team: a@example.org, "
	       "\"x y\" <b@example.org>;\r\n\r\n");
	ok(seven_bit(r) && lines_ok(r), "Cc with a group: 7-bit");
	env = envelope_of(r);
	ok(strstr(env, "(NIL NIL \"Team\" NIL)(NIL NIL \"a\" \"example.org\")(\"x y\" NIL \"b\" "
		       "\"example.org\")(NIL NIL NIL NIL)") != NULL,
	   "group and ASCII names kept");
	ok(strstr(env, "\"=?UTF-8?B?RG9lLCBKw6lyw7RtZQ==?=\" NIL \"j\"") != NULL,
	   "quoted UTF-8 name encoded");
	free(env);

	r = dg("Message-ID: <\xc3\xa9@example.org>\r\nIn-Reply-To: <a@b>\r\n\r\n");
	is_str(r,
	       "Downgraded-Message-ID: =?UTF-8?B?PMOpQGV4YW1wbGUub3JnPg==?=\r\nIn-Reply-To: "
	       "<a@b>\r\n\r\n",
	       "Message-ID with UTF-8 renamed Downgraded-Message-ID");

	r = dg(
	    "Content-Type: application/pdf; name=\"R\xc3\xa9sum\xc3\xa9.pdf\"; x=1\r\n"
	    "Content-Disposition: attachment; filename*=utf-8''R\xc3\xa9sum\xc3\xa9.pdf\r\n\r\n");
	is_str(r,
	       "Content-Type: application/pdf; name*=utf-8''R%C3%A9sum%C3%A9.pdf; x=1\r\n"
	       "Content-Disposition: attachment; filename*=utf-8''R%C3%A9sum%C3%A9.pdf\r\n\r\n",
	       "parameters: RFC 2231 extended values");

	{
		/* a long subject folds into encoded-words of at most 75 chars */
		struct buf h;
		buf_init(&h, 1 << 20);
		buf_puts(&h, "Subject: ");
		for (int i = 0; i < 200; i++)
			buf_puts(&h, "\xc3\xbc");
		buf_puts(&h, "\r\n\r\n");
		r = dg(h.data);
		ok(seven_bit(r) && lines_ok(r), "long UTF-8 subject: 7-bit, lines bounded");
		size_t longest = 0, col = 0;
		for (const char *p = r; *p; p++) {
			col = *p == '\n' ? 0 : col + 1;
			if (col > longest)
				longest = col;
		}
		ok(longest <= 80, "folded near 76 columns");
		buf_free(&h);
		/* 300 addresses with UTF-8 names */
		buf_reset(&h);
		buf_puts(&h, "To: ");
		for (int i = 0; i < 300; i++)
			buf_printf(&h, "%s\"\xc3\x9cser %d\" <u%d@example.org>", i ? ", " : "", i,
				   i);
		buf_puts(&h, "\r\n\r\n");
		r = dg(h.data);
		ok(seven_bit(r) && lines_ok(r), "300 UTF-8 names: 7-bit, lines bounded");
		env = envelope_of(r);
		ok(strstr(env, "\"u299\" \"example.org\"") != NULL, "the last address survives");
		free(env);
		buf_free(&h);
	}

	r = dg("X-Note: caf\xc3\xa9\r\n folded\r\nSubject: x\r\n\r\nbody \xc3\xa9\r\n");
	is_str(r, "X-Note: =?UTF-8?B?Y2Fmw6k=?= folded\r\nSubject: x\r\n\r\nbody \xc3\xa9\r\n",
	       "unknown field as text, unfolded; what follows the header kept");
	r = dg("Junk line \xc3\xa9 end\r\n\r\n");
	ok(seven_bit(r) && strstr(r, "end\r\n\r\n") && !strstr(r, "end\r\n\r\n\r\n"),
	   "a line that is not a field: 7-bit, one line end");
	r = dg("S\xc3\xbc"
	       "bject: x\r\n\r\n");
	ok(seven_bit(r), "an 8-bit field name: 7-bit junk");
	r = dg("Content-Type: multipart\xc3\xbc/mixed; n\xc3\xa4me=x; b=\"\xc3\xa9\"\r\n\r\n");
	ok(seven_bit(r) && strstr(r, "b*=utf-8''%C3%A9") != NULL,
	   "8-bit in a type and a parameter name: escaped, 7-bit");
	r = dg("Subject: \xc3\xa9");
	ok(seven_bit(r) && strstr(r, "=?UTF-8?B?w6k=?=") != NULL, "no line end at all");

	buf_free(&out);
	buf_init(&out, 8);
	is_int(downgrade_header("Subject: \xc3\xa9\xc3\xa9\xc3\xa9\r\n", 17, &out), -1,
	       "out of room: -1");
	buf_free(&out);
	return tap_done();
}
