/*
 * Decoding for the MIME module: transfer encodings (base64, QP), RFC 2047
 * encoded words, charset conversion to UTF-8 with iconv, and the decoded
 * text that feeds the search index.  Output is always valid UTF-8: what
 * cannot be decoded becomes U+FFFD rather than an error, because a broken
 * message must still be stored and searchable.
 */
#include "mime.h"
#include "mime_int.h"
#include "utf8.h"

#include <errno.h>
#include <iconv.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const char REPL[] = "\xef\xbf\xbd"; /* U+FFFD */

/* ---- base64 and quoted-printable ---- */

static int b64val(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

/* Decodes into out (when out is not NULL).  Returns 0, or -1 when out is
 * full; *bad is set for characters outside the alphabet or a stray tail. */
static int b64_run(const char *in, size_t len, struct buf *out, int *bad)
{
	uint32_t acc = 0;
	unsigned nbits = 0, nq = 0;
	unsigned char chunk[256];
	size_t nc = 0, i;

	*bad = 0;
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)in[i];
		int v = b64val(c);

		if (v < 0) {
			if (c == '=') {
				/* padding ends a quantum; a new one may follow */
				if (nq == 1)
					*bad = 1;
				acc = 0;
				nbits = 0;
				nq = 0;
			} else if (c != '\r' && c != '\n' && c != ' ' && c != '\t') {
				*bad = 1;
			}
			continue;
		}
		acc = (acc << 6) | (uint32_t)v;
		nbits += 6;
		nq = (nq + 1) % 4;
		if (nbits >= 8) {
			nbits -= 8;
			chunk[nc++] = (unsigned char)(acc >> nbits);
			acc &= (1u << nbits) - 1;
			if (nc == sizeof(chunk)) {
				if (out && buf_append(out, chunk, nc) < 0)
					return -1;
				nc = 0;
			}
		}
	}
	if (nq == 1)
		*bad = 1;
	if (out && nc && buf_append(out, chunk, nc) < 0)
		return -1;
	return 0;
}

int mime_decode_base64(const char *in, size_t len, struct buf *out, int *bad)
{
	return b64_run(in, len, out, bad);
}

static int hexval(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

static int qp_run(const char *in, size_t len, struct buf *out, int *bad)
{
	size_t i = 0, lit = 0; /* in[lit..i) is pending literal text */

#define FLUSH(upto)                                                                                \
	do {                                                                                       \
		if (out && (upto) > lit && buf_append(out, in + lit, (upto)-lit) < 0)              \
			return -1;                                                                 \
	} while (0)

	*bad = 0;
	while (i < len) {
		unsigned char c = (unsigned char)in[i];

		if (c == '=') {
			size_t j = i + 1;
			int h1, h2;

			if (j + 1 < len && (h1 = hexval((unsigned char)in[j])) >= 0 &&
			    (h2 = hexval((unsigned char)in[j + 1])) >= 0) {
				char b = (char)(h1 * 16 + h2);

				FLUSH(i);
				if (out && buf_putc(out, b) < 0)
					return -1;
				i += 3;
				lit = i;
				continue;
			}
			/* soft line break: "=" [WSP] (CRLF / LF / end) */
			while (j < len && (in[j] == ' ' || in[j] == '\t'))
				j++;
			if (j == len || in[j] == '\n' ||
			    (in[j] == '\r' && j + 1 < len && in[j + 1] == '\n')) {
				FLUSH(i);
				i = j == len ? len : j + (in[j] == '\r' ? 2 : 1);
				lit = i;
				continue;
			}
			*bad = 1; /* stray '=': kept as is */
			i++;
			continue;
		}
		if (c == ' ' || c == '\t') {
			/* trailing whitespace on a line is padding (RFC 2045 6.7 rule 3) */
			size_t j = i;

			while (j < len && (in[j] == ' ' || in[j] == '\t'))
				j++;
			if (j == len || in[j] == '\n' ||
			    (in[j] == '\r' && j + 1 < len && in[j + 1] == '\n')) {
				FLUSH(i);
				lit = j;
			}
			i = j;
			continue;
		}
		i++;
	}
	FLUSH(len);
#undef FLUSH
	return 0;
}

int mime_decode_qp(const char *in, size_t len, struct buf *out, int *bad)
{
	return qp_run(in, len, out, bad);
}

int mime_encoding_bad(int enc, const char *in, size_t len)
{
	int bad = 0;

	if (enc == MIME_ENC_BASE64)
		b64_run(in, len, NULL, &bad);
	else if (enc == MIME_ENC_QP)
		qp_run(in, len, NULL, &bad);
	return bad;
}

/* ---- UTF-8 and charsets ---- */

/* Appends in as UTF-8, invalid sequences (and NULs) as U+FFFD.  ascii_only
 * makes every 8-bit byte a U+FFFD (an unknown charset). */
static int put_valid_utf8(struct buf *out, const char *in, size_t len, int ascii_only)
{
	size_t i = 0, run = 0;

	if (len == 0)
		return 0;
	while (i < len) {
		const unsigned char *s = (const unsigned char *)in + i;
		uint32_t cp;
		size_t n = *s == 0			? 0
			   : (ascii_only && *s >= 0x80) ? 0
							: utf8_decode(s, len - i, &cp);

		if (n) {
			i += n;
			continue;
		}
		if (buf_append(out, in + run, i - run) < 0 || buf_append(out, REPL, 3) < 0)
			return -1;
		i++;
		run = i;
	}
	return buf_append(out, in + run, i - run);
}

/* A charset name safe to hand to iconv_open: no "//" suffixes, no junk. */
static int charset_name(struct mstr cs, char *name, size_t size)
{
	size_t i;

	if (!cs.p || cs.n == 0 || cs.n >= size)
		return -1;
	for (i = 0; i < cs.n; i++) {
		char c = cs.p[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '-' || c == '_' || c == '.' || c == ':'))
			return -1;
		name[i] = c;
	}
	name[cs.n] = '\0';
	return 0;
}

struct conv {
	char name[64];
	iconv_t cd;
	int mode; /* 0 utf-8 passthrough, 1 iconv, 2 unknown */
};

static void conv_open(struct conv *cv, struct mstr cs)
{
	char name[64];
	int valid = charset_name(cs, name, sizeof(name)) == 0;

	if (cv->mode == 1) {
		if (valid && strcasecmp(cv->name, name) == 0)
			return; /* the converter in hand is the right one */
		iconv_close(cv->cd);
	}
	cv->mode = 0;
	cv->name[0] = '\0';
	if (!valid) {
		cv->mode = cs.p ? 2 : 0;
		return;
	}
	memcpy(cv->name, name, sizeof(name));
	if (!strcasecmp(name, "utf-8") || !strcasecmp(name, "utf8") ||
	    !strcasecmp(name, "us-ascii") || !strcasecmp(name, "ascii"))
		return;
	/* mail that says Latin-1 is Windows-1252 in practice */
	if (!strcasecmp(name, "iso-8859-1") || !strcasecmp(name, "latin1"))
		cv->cd = iconv_open("UTF-8", "WINDOWS-1252");
	else
		cv->cd = iconv_open("UTF-8", name);
	cv->mode = cv->cd == (iconv_t)-1 ? 2 : 1;
}

static void conv_close(struct conv *cv)
{
	if (cv->mode == 1)
		iconv_close(cv->cd);
	cv->mode = 0;
}

static int conv_run(struct conv *cv, const char *in, size_t len, struct buf *out)
{
	char tmp[1024];

	if (cv->mode == 0)
		return put_valid_utf8(out, in, len, 0);
	if (cv->mode == 2)
		return put_valid_utf8(out, in, len, 1);
	iconv(cv->cd, NULL, NULL, NULL, NULL);
	while (len > 0) {
		char *ip = (char *)(uintptr_t)in, *op = tmp;
		size_t il = len, ol = sizeof(tmp);
		size_t r = iconv(cv->cd, &ip, &il, &op, &ol);
		int err = r == (size_t)-1 ? errno : 0;

		/* iconv's UTF-8 output is valid; check anyway, it is cheap */
		if (put_valid_utf8(out, tmp, (size_t)(op - tmp), 0) < 0)
			return -1;
		in = ip;
		len = il;
		if (err == E2BIG)
			continue;
		if (err == EILSEQ || err == EINVAL) {
			if (buf_append(out, REPL, 3) < 0)
				return -1;
			if (err == EINVAL) /* truncated sequence at the end */
				return 0;
			in++;
			len--;
			iconv(cv->cd, NULL, NULL, NULL, NULL);
		} else if (err) {
			return put_valid_utf8(out, in, len, 1);
		}
	}
	return 0;
}

int mime_charset_to_utf8(struct mstr charset, const char *in, size_t len, struct buf *out)
{
	struct conv cv = {.mode = 0};
	int rc;

	conv_open(&cv, charset);
	rc = conv_run(&cv, in, len, out);
	conv_close(&cv);
	return rc;
}

/* ---- RFC 2047 encoded words ---- */

struct eword {
	struct mstr charset;
	char enc; /* 'B' or 'Q' */
	struct mstr text;
	size_t end; /* offset just past "?=" */
};

/* Parses "=?charset[*lang]?X?text?=" at in[i]. */
static int eword_parse(const char *in, size_t len, size_t i, struct eword *w)
{
	size_t j = i + 2, k;

	if (i + 2 > len || in[i] != '=' || in[i + 1] != '?')
		return -1;
	w->charset.p = in + j;
	while (j < len && in[j] != '?' && in[j] != ' ' && in[j] != '\t' && in[j] != '\n' &&
	       in[j] != '\r')
		j++;
	if (j >= len || in[j] != '?' || j == i + 2)
		return -1;
	w->charset.n = (size_t)(in + j - w->charset.p);
	/* RFC 2231 language suffix */
	for (k = 0; k < w->charset.n; k++)
		if (w->charset.p[k] == '*') {
			w->charset.n = k;
			break;
		}
	j++;
	if (j + 1 >= len || in[j + 1] != '?')
		return -1;
	w->enc = (char)(in[j] & ~0x20);
	if (w->enc != 'B' && w->enc != 'Q')
		return -1;
	j += 2;
	w->text.p = in + j;
	while (j + 1 < len && !(in[j] == '?' && in[j + 1] == '=')) {
		if (in[j] == ' ' || in[j] == '\t' || in[j] == '\r' || in[j] == '\n')
			return -1;
		j++;
	}
	if (j + 1 >= len)
		return -1;
	w->text.n = (size_t)(in + j - w->text.p);
	w->end = j + 2;
	return 0;
}

static int eword_decode(const struct eword *w, struct buf *out, int *bad)
{
	size_t i;

	*bad = 0;
	if (w->enc == 'B')
		return b64_run(w->text.p, w->text.n, out, bad);
	for (i = 0; i < w->text.n; i++) {
		char c = w->text.p[i];
		int h1, h2;

		if (c == '_') {
			c = ' ';
		} else if (c == '=') {
			if (i + 2 < w->text.n &&
			    (h1 = hexval((unsigned char)w->text.p[i + 1])) >= 0 &&
			    (h2 = hexval((unsigned char)w->text.p[i + 2])) >= 0) {
				c = (char)(h1 * 16 + h2);
				i += 2;
			} else {
				*bad = 1;
			}
		}
		if (!out)
			continue;
		if (buf_putc(out, c) < 0)
			return -1;
	}
	return 0;
}

/* Decodes words into raw; flushes raw through the converter at charset
 * changes and at plain text, so a character split over two adjacent
 * words of the same charset comes out whole. */
static int decode_header(const char *in, size_t len, struct buf *out, int *anybad)
{
	struct buf raw;
	struct conv cv = {.mode = 0};
	struct mstr rawcs = {NULL, 0};
	size_t i = 0, text = 0; /* in[text..i) is pending plain text */
	int rc = -1, prev_word = 0;

	buf_init(&raw, len + 1);
	*anybad = 0;
	while (i < len) {
		struct eword w;
		int bad;

		if (in[i] != '=' || i + 1 >= len || in[i + 1] != '?' ||
		    eword_parse(in, len, i, &w) < 0) {
			i++;
			continue;
		}
		/* whitespace alone between two encoded words is dropped */
		if (prev_word) {
			size_t k;

			for (k = text; k < i; k++)
				if (in[k] != ' ' && in[k] != '\t' && in[k] != '\r' && in[k] != '\n')
					break;
			if (k == i)
				text = i;
		}
		if (text < i || !rawcs.p || rawcs.n != w.charset.n ||
		    strncasecmp(rawcs.p, w.charset.p, w.charset.n) != 0) {
			conv_open(&cv, rawcs);
			if (conv_run(&cv, buf_cstr(&raw), raw.len, out) < 0)
				goto done;
			buf_reset(&raw);
			if (put_valid_utf8(out, in + text, i - text, 0) < 0)
				goto done;
		}
		rawcs = w.charset;
		if (eword_decode(&w, &raw, &bad) < 0)
			goto done;
		if (bad)
			*anybad = 1;
		i = text = w.end;
		prev_word = 1;
	}
	conv_open(&cv, rawcs);
	if (conv_run(&cv, buf_cstr(&raw), raw.len, out) < 0 ||
	    put_valid_utf8(out, in + text, len - text, 0) < 0)
		goto done;
	rc = 0;
done:
	conv_close(&cv);
	buf_free(&raw);
	return rc;
}

int mime_decode_header(const char *in, size_t len, struct buf *out)
{
	int bad;

	return decode_header(in, len, out, &bad);
}

int mime_encoded_words_bad(const char *in, size_t len)
{
	struct eword w;
	size_t i;
	int bad;

	for (i = 0; i + 1 < len; i++) {
		if (in[i] != '=' || in[i + 1] != '?' || eword_parse(in, len, i, &w) < 0)
			continue;
		eword_decode(&w, NULL, &bad);
		if (bad)
			return 1;
		i = w.end - 1;
	}
	return 0;
}

/* ---- search text ---- */

/* Crude HTML to text: tags dropped, script/style skipped, a few entities. */
static int html_strip(const char *s, size_t n, struct buf *out)
{
	size_t i = 0, run = 0;

	while (i < n) {
		if (s[i] == '<') {
			const char *gt;
			size_t skip_to;

			if (buf_append(out, s + run, i - run) < 0 || buf_putc(out, ' ') < 0)
				return -1;
			gt = memchr(s + i, '>', n - i);
			skip_to = gt ? (size_t)(gt - s) + 1 : n;
			if (n - i > 7 && (!strncasecmp(s + i, "<script", 7) ||
					  !strncasecmp(s + i, "<style", 6))) {
				const char *close =
				    s[i + 2] == 'c' || s[i + 2] == 'C' ? "</script" : "</style";
				size_t cl = strlen(close), j;

				for (j = skip_to; j + cl <= n; j++)
					if (s[j] == '<' && !strncasecmp(s + j, close, cl))
						break;
				if (j + cl > n)
					j = n;
				gt = j < n ? memchr(s + j, '>', n - j) : NULL;
				skip_to = gt ? (size_t)(gt - s) + 1 : n;
			}
			i = run = skip_to;
			continue;
		}
		if (s[i] == '&') {
			static const struct {
				const char *ent, *txt;
			} ents[] = {{"&amp;", "&"},   {"&lt;", "<"},   {"&gt;", ">"},
				    {"&quot;", "\""}, {"&nbsp;", " "}, {"&#39;", "'"},
				    {"&apos;", "'"}};
			size_t k;

			for (k = 0; k < sizeof(ents) / sizeof(ents[0]); k++) {
				size_t el = strlen(ents[k].ent);

				if (n - i >= el && !strncasecmp(s + i, ents[k].ent, el)) {
					if (buf_append(out, s + run, i - run) < 0 ||
					    buf_puts(out, ents[k].txt) < 0)
						return -1;
					i += el;
					run = i;
					break;
				}
			}
			if (k < sizeof(ents) / sizeof(ents[0]))
				continue;
		}
		i++;
	}
	return buf_append(out, s + run, n - run);
}

/* Appends src to dst within dst's limit, cutting at a UTF-8 boundary.
 * Returns 1 when dst is full. */
static int put_bounded(struct buf *dst, const char *s, size_t n)
{
	size_t room = dst->max - dst->len;

	if (n <= room)
		return buf_append(dst, s, n) < 0 ? 1 : 0;
	while (room > 0 && ((unsigned char)s[room] & 0xc0) == 0x80)
		room--;
	buf_append(dst, s, room);
	return 1;
}

static int search_part(const struct mime_msg *m, const struct mime_part *p, struct buf *st)
{
	static const int fields[] = {ENV_SUBJECT, ENV_FROM, ENV_TO, ENV_CC, ENV_BCC};
	struct buf tmp, dec;
	size_t i;
	int full = 0, bad, rc = 0;
	const char *body;
	size_t blen;

	/* the header fields of an attached message are its body's text; the
	 * top-level header is indexed on its own (SEARCH BODY must not
	 * match it, RFC 3501 6.4.4) */
	if (p->msg_root && p != m->root) {
		for (i = 0; i < sizeof(fields) / sizeof(fields[0]) && !full; i++) {
			struct mstr v = p->env[fields[i]];

			if (!v.p)
				continue;
			buf_init(&tmp, v.n * 3 + 16);
			if (decode_header(v.p, v.n, &tmp, &bad) < 0 || buf_putc(&tmp, '\n') < 0)
				full = 1;
			else
				full = put_bounded(st, tmp.data, tmp.len);
			buf_free(&tmp);
		}
	}
	if (full || p->kind != MIME_KIND_LEAF || p->opaque != MIME_OPQ_NONE ||
	    !mime_strcaseeq(p->type, "text"))
		return full;
	body = m->data + p->body_off;
	blen = p->body_len;
	buf_init(&dec, blen + 1);
	if (p->enc == MIME_ENC_BASE64 || p->enc == MIME_ENC_QP) {
		rc = p->enc == MIME_ENC_BASE64 ? b64_run(body, blen, &dec, &bad)
					       : qp_run(body, blen, &dec, &bad);
		body = dec.data ? dec.data : "";
		blen = dec.len;
	}
	if (blen > m->lim.max_search_text)
		blen = m->lim.max_search_text; /* more could not be kept anyway */
	buf_init(&tmp, blen * 3 + 16);
	if (rc == 0 && mime_strcaseeq(p->subtype, "html")) {
		struct buf conv;

		buf_init(&conv, blen * 3 + 16);
		rc = mime_charset_to_utf8(p->charset, body, blen, &conv);
		if (rc == 0)
			rc = html_strip(conv.data ? conv.data : "", conv.len, &tmp);
		buf_free(&conv);
	} else if (rc == 0) {
		rc = mime_charset_to_utf8(p->charset, body, blen, &tmp);
	}
	if (rc == 0)
		rc = buf_putc(&tmp, '\n');
	full = rc < 0 ? 1 : put_bounded(st, tmp.data ? tmp.data : "", tmp.len);
	buf_free(&tmp);
	buf_free(&dec);
	return full;
}

int mime_search_text(const struct mime_msg *m, struct buf *out)
{
	struct buf st;
	const struct mime_part *q = m->root;
	int rc;

	buf_init(&st, m->lim.max_search_text);
	for (; q; q = mime_part_next(q, m->root))
		if (search_part(m, q, &st))
			break;
	rc = buf_append(out, st.data ? st.data : "", st.len);
	buf_free(&st);
	return rc;
}
