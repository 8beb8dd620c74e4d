/*
 * SMTP replies as a client reads them.  Everything here comes from a peer
 * we do not control, so each byte is checked and every length is bounded;
 * nothing a peer sends can make this code allocate.
 */
#include "smtp_reply.h"

#include <string.h>

void smtp_reply_reset(struct smtp_reply *r)
{
	r->code = 0;
	r->enh[0] = '\0';
	r->text[0] = '\0';
	r->textlen = 0;
	r->nlines = 0;
	r->partial = 0;
}

static int is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* "2.0.0 text": class, 1-3 digit subject, 1-3 digit detail (RFC 3463). */
static size_t parse_enh(const char *p, size_t n, int cls)
{
	size_t i = 0, k;

	if (n < 5 || p[0] != '0' + cls || p[1] != '.')
		return 0;
	i = 2;
	for (k = 0; i < n && is_digit(p[i]) && k < 3; i++, k++)
		;
	if (k == 0 || i >= n || p[i] != '.')
		return 0;
	i++;
	for (k = 0; i < n && is_digit(p[i]) && k < 3; i++, k++)
		;
	if (k == 0 || (i < n && p[i] != ' '))
		return 0;
	return i;
}

static void append_text(struct smtp_reply *r, const char *p, size_t n)
{
	size_t room = sizeof(r->text) - 1 - r->textlen;

	if (r->nlines > 1 && room > 0) {
		r->text[r->textlen++] = '\n';
		room--;
	}
	if (n > room)
		n = room;
	memcpy(r->text + r->textlen, p, n);
	r->textlen += n;
	r->text[r->textlen] = '\0';
}

int smtp_reply_line(struct smtp_reply *r, const char *line, size_t len)
{
	int code, last;
	size_t i;

	if (len < 3 || !is_digit(line[0]) || !is_digit(line[1]) || !is_digit(line[2]))
		return SMTP_REPLY_BAD;
	code = (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
	if (code < 200 || code > 599)
		return SMTP_REPLY_BAD;
	if (len == 3)
		last = 1;
	else if (line[3] == ' ')
		last = 1;
	else if (line[3] == '-')
		last = 0;
	else
		return SMTP_REPLY_BAD;
	/* text is printable, tabs allowed; UTF-8 is tolerated (RFC 6531) */
	for (i = 4; i < len; i++) {
		unsigned char c = (unsigned char)line[i];
		if ((c < 0x20 && c != '\t') || c == 0x7f)
			return SMTP_REPLY_BAD;
	}
	if (r->partial && code != r->code)
		return SMTP_REPLY_BAD;
	if (r->nlines >= SMTP_REPLY_MAXLINES)
		return SMTP_REPLY_BAD;
	r->nlines++;
	if (r->nlines == 1) {
		r->code = code;
		if (len > 4) {
			size_t e = parse_enh(line + 4, len - 4, code / 100);
			if (e > 0 && e < sizeof(r->enh)) {
				memcpy(r->enh, line + 4, e);
				r->enh[e] = '\0';
			}
		}
	}
	append_text(r, len > 4 ? line + 4 : "", len > 4 ? len - 4 : 0);
	r->partial = !last;
	return last ? SMTP_REPLY_DONE : SMTP_REPLY_MORE;
}

static int word_eq(const char *p, size_t n, const char *w)
{
	size_t k = strlen(w);

	if (n != k)
		return 0;
	for (size_t i = 0; i < n; i++) {
		char a = p[i];
		if (a >= 'a' && a <= 'z')
			a = (char)(a - 'a' + 'A');
		if (a != w[i])
			return 0;
	}
	return 1;
}

/* Strict decimal, no overflow; 0 when not a number. */
static uint64_t parse_u64(const char *p, size_t n)
{
	uint64_t v = 0;

	if (n == 0 || n > 19)
		return 0;
	for (size_t i = 0; i < n; i++) {
		if (!is_digit(p[i]))
			return 0;
		v = v * 10 + (uint64_t)(p[i] - '0');
	}
	return v;
}

unsigned smtp_reply_ehlo(const struct smtp_reply *r, uint64_t *size)
{
	const char *p = r->text, *end = r->text + r->textlen;
	unsigned ext = 0;
	int lineno = 0;

	*size = 0;
	if (r->code != 250)
		return 0;
	while (p < end) {
		const char *eol = memchr(p, '\n', (size_t)(end - p));
		const char *w, *q;

		if (!eol)
			eol = end;
		if (lineno++ == 0) {
			p = eol + 1;
			continue;
		}
		/* keyword, then parameters separated by spaces */
		w = p;
		for (q = p; q < eol && *q != ' ' && *q != '='; q++)
			;
		size_t wn = (size_t)(q - w);
		if (word_eq(w, wn, "STARTTLS"))
			ext |= SMTP_EXT_STARTTLS;
		else if (word_eq(w, wn, "PIPELINING"))
			ext |= SMTP_EXT_PIPELINING;
		else if (word_eq(w, wn, "8BITMIME"))
			ext |= SMTP_EXT_8BITMIME;
		else if (word_eq(w, wn, "SMTPUTF8"))
			ext |= SMTP_EXT_SMTPUTF8;
		else if (word_eq(w, wn, "ENHANCEDSTATUSCODES"))
			ext |= SMTP_EXT_ENHANCED;
		else if (word_eq(w, wn, "DSN"))
			ext |= SMTP_EXT_DSN;
		else if (word_eq(w, wn, "SIZE")) {
			ext |= SMTP_EXT_SIZE;
			if (q < eol && *q == ' ') {
				const char *v = q + 1, *ve = v;
				while (ve < eol && *ve != ' ')
					ve++;
				*size = parse_u64(v, (size_t)(ve - v));
			}
		} else if (word_eq(w, wn, "AUTH")) {
			/* "AUTH PLAIN LOGIN" or the old "AUTH=PLAIN LOGIN" */
			while (q < eol) {
				const char *m;
				q++;
				m = q;
				while (q < eol && *q != ' ')
					q++;
				if (word_eq(m, (size_t)(q - m), "PLAIN"))
					ext |= SMTP_EXT_AUTH_PLAIN;
				else if (word_eq(m, (size_t)(q - m), "LOGIN"))
					ext |= SMTP_EXT_AUTH_LOGIN;
			}
		}
		p = eol + 1;
	}
	return ext;
}
