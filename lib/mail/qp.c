/*
 * Quoted-printable, encoding side (decoding is mime_decode.c).
 */
#include "qp.h"

static const char hex[] = "0123456789ABCDEF";

void qp_init(struct qp_enc *q)
{
	q->col = 0;
	q->ws = 0;
	q->cr = 0;
}

/* Writes a token of len bytes, with a soft break first when the line
 * would pass 76 (75 plus the '=' of a soft break). */
static size_t put(struct qp_enc *q, char *out, const char *tok, int len)
{
	size_t o = 0;

	if (q->col + len > 75) {
		out[o++] = '=';
		out[o++] = '\r';
		out[o++] = '\n';
		q->col = 0;
	}
	for (int i = 0; i < len; i++)
		out[o++] = tok[i];
	q->col += len;
	return o;
}

static size_t put_enc(struct qp_enc *q, char *out, unsigned char c)
{
	char t[3] = {'=', hex[c >> 4], hex[c & 15]};

	return put(q, out, t, 3);
}

/* A held-back space or tab that turned out not to end a line: as is. */
static size_t put_ws(struct qp_enc *q, char *out)
{
	char w = (char)q->ws;

	if (!q->ws)
		return 0;
	q->ws = 0;
	return put(q, out, &w, 1);
}

static size_t line_end(struct qp_enc *q, char *out)
{
	size_t o = 0;

	if (q->ws) {
		o += put_enc(q, out + o, (unsigned char)q->ws);
		q->ws = 0;
	}
	out[o++] = '\r';
	out[o++] = '\n';
	q->col = 0;
	return o;
}

size_t qp_encode(struct qp_enc *q, const char *in, size_t n, char *out)
{
	size_t o = 0;

	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)in[i];

		if (q->cr) {
			q->cr = 0;
			if (c == '\n') {
				o += line_end(q, out + o);
				continue;
			}
			/* a lone CR is data */
			o += put_ws(q, out + o);
			o += put_enc(q, out + o, '\r');
		}
		if (c == '\r') {
			q->cr = 1;
			continue;
		}
		if (c == '\n') {
			o += line_end(q, out + o);
			continue;
		}
		o += put_ws(q, out + o);
		if (c == ' ' || c == '\t') {
			q->ws = c;
			continue;
		}
		if (c >= 33 && c <= 126 && c != '=') {
			char ch = (char)c;
			o += put(q, out + o, &ch, 1);
		} else {
			o += put_enc(q, out + o, c);
		}
	}
	return o;
}

size_t qp_finish(struct qp_enc *q, char *out)
{
	size_t o = 0;

	if (q->cr) {
		q->cr = 0;
		o += put_ws(q, out + o);
		o += put_enc(q, out + o, '\r');
	}
	if (q->ws) {
		o += put_enc(q, out + o, (unsigned char)q->ws);
		q->ws = 0;
	}
	return o;
}
