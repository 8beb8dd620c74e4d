/*
 * The 8-bit to 7-bit MIME downgrade (mime7.h).  A line reader with a
 * short buffer: a line is kept whole only while it could still be a
 * boundary (MIME7_LINE bytes); a longer one streams through as content.
 * The line end before a boundary belongs to the boundary (RFC 2046 5.1.1),
 * so each body line's end is held back until the next line shows it is
 * not one; that keeps a quoted-printable part from gaining or losing its
 * last line break.
 */
#include "mime7.h"
#include "qp.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MIME7_LINE 1024 /* longer lines cannot be boundaries */

enum m7_mode {
	M7_HEADER,   /* collecting a part's (or attached message's) header */
	M7_PREAMBLE, /* preamble or epilogue: copied, 8-bit bytes as '?' */
	M7_QP,	     /* a leaf encoded as quoted-printable */
	M7_CHECK,    /* a leaf already 7-bit by its encoding: copied, checked */
};

struct m7_level {
	char b[MIME7_BOUNDARY_MAX + 1];
	size_t blen;
	int digest; /* multipart/digest: parts default to message/rfc822 */
};

struct mime7 {
	struct m7_level lv[MIME7_MAX_DEPTH];
	int depth;
	char top[MIME7_BOUNDARY_MAX + 1]; /* for reset */
	int top_is_message;
	enum m7_mode mode;
	char line[MIME7_LINE];
	size_t llen;
	int cont;     /* the buffered bytes continue a longer line */
	int pend_eol; /* a body line's end held back */
	int digest_part;
	struct buf hdr;
	struct qp_enc q;
	int failed;
	char err[128];
};

static int fail(struct mime7 *m, const char *why)
{
	if (!m->failed)
		snprintf(m->err, sizeof(m->err), "%s", why);
	m->failed = 1;
	return -1;
}

static int out_put(struct mime7 *m, struct buf *out, const char *p, size_t n)
{
	if (buf_append(out, p, n) < 0)
		return fail(m, "converted body too large");
	return 0;
}

void mime7_reset(struct mime7 *m)
{
	m->depth = 0;
	if (m->top_is_message) {
		m->mode = M7_HEADER;
	} else {
		m->lv[0].blen = strlen(m->top);
		memcpy(m->lv[0].b, m->top, m->lv[0].blen + 1);
		m->lv[0].digest = 0;
		m->depth = 1;
		m->mode = M7_PREAMBLE;
	}
	m->llen = 0;
	m->cont = 0;
	m->pend_eol = 0;
	m->digest_part = 0;
	buf_reset(&m->hdr);
	qp_init(&m->q);
	m->failed = 0;
	m->err[0] = '\0';
}

struct mime7 *mime7_new(const char *boundary)
{
	struct mime7 *m;

	if (boundary && (!boundary[0] || strlen(boundary) > MIME7_BOUNDARY_MAX))
		return NULL;
	m = calloc(1, sizeof(*m));
	if (!m)
		return NULL;
	buf_init(&m->hdr, MIME7_HEADER_MAX);
	if (boundary)
		snprintf(m->top, sizeof(m->top), "%s", boundary);
	else
		m->top_is_message = 1;
	mime7_reset(m);
	return m;
}

void mime7_free(struct mime7 *m)
{
	if (m) {
		buf_free(&m->hdr);
		free(m);
	}
}

const char *mime7_error(const struct mime7 *m)
{
	return m->err;
}

/* --- Content-Type --------------------------------------------------------- */

static int is_tspecial(char c)
{
	return strchr("()<>@,;:\\\"/[]?=", c) != NULL;
}

static int is_token(char c)
{
	return c > ' ' && c < 127 && !is_tspecial(c);
}

/* Past whitespace, line folds and (comments). */
static size_t skip_cfws(const char *v, size_t len, size_t i)
{
	int depth = 0;

	while (i < len) {
		char c = v[i];
		if (depth > 0) {
			if (c == '\\' && i + 1 < len)
				i++;
			else if (c == '(')
				depth++;
			else if (c == ')')
				depth--;
			i++;
		} else if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
			i++;
		} else if (c == '(') {
			depth = 1;
			i++;
		} else {
			break;
		}
	}
	return i;
}

static char lower(char c)
{
	return (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
}

int mime7_content_type(const char *v, size_t len, char *type, size_t typelen, char *boundary,
		       size_t boundarylen)
{
	size_t i = skip_cfws(v, len, 0), o = 0;
	int slash = 0;

	if (typelen < sizeof("text/plain") || boundarylen < 1)
		return -1;
	boundary[0] = '\0';
	while (i < len && (is_token(v[i]) || (v[i] == '/' && !slash)) && o + 1 < typelen) {
		slash |= v[i] == '/';
		type[o++] = lower(v[i++]);
	}
	type[o] = '\0';
	if (!slash || type[0] == '/' || type[o - 1] == '/')
		snprintf(type, typelen, "text/plain");
	/* the parameters: ; name = value */
	for (;;) {
		char name[32];
		size_t n = 0;

		i = skip_cfws(v, len, i);
		if (i >= len || v[i] != ';') {
			/* junk before the next ';' is skipped, as readers do */
			while (i < len && v[i] != ';')
				i++;
			if (i >= len)
				break;
		}
		i = skip_cfws(v, len, i + 1);
		while (i < len && is_token(v[i])) {
			if (n + 1 < sizeof(name))
				name[n++] = lower(v[i]);
			i++;
		}
		name[n] = '\0';
		i = skip_cfws(v, len, i);
		if (i >= len || v[i] != '=')
			continue;
		i = skip_cfws(v, len, i + 1);
		char val[MIME7_BOUNDARY_MAX + 2];
		size_t vl = 0;
		int toolong = 0;
		if (i < len && v[i] == '"') {
			for (i++; i < len && v[i] != '"'; i++) {
				char c = v[i];
				if (c == '\\' && i + 1 < len)
					c = v[++i];
				else if (c == '\r' || c == '\n')
					continue; /* a fold inside the quotes */
				if (vl + 1 < sizeof(val))
					val[vl++] = c;
				else
					toolong = 1;
			}
			if (i < len)
				i++;
		} else {
			while (i < len && is_token(v[i])) {
				if (vl + 1 < sizeof(val))
					val[vl++] = v[i];
				else
					toolong = 1;
				i++;
			}
		}
		val[vl] = '\0';
		if (strcmp(name, "boundary") == 0 && !boundary[0] && !toolong &&
		    vl <= MIME7_BOUNDARY_MAX && vl < boundarylen)
			memcpy(boundary, val, vl + 1);
	}
	return 0;
}

/* --- lines ------------------------------------------------------------------ */

/* The level whose boundary line p[0..n) is (content without its line
 * end), or -1; *closing for "--b--".  Inner levels are tried first. */
static int boundary_level(const struct mime7 *m, const char *p, size_t n, int *closing)
{
	if (n < 3 || p[0] != '-' || p[1] != '-')
		return -1;
	for (int i = m->depth - 1; i >= 0; i--) {
		const struct m7_level *l = &m->lv[i];
		size_t k = 2 + l->blen;
		if (n < k || memcmp(p + 2, l->b, l->blen) != 0)
			continue;
		*closing = 0;
		if (n >= k + 2 && p[k] == '-' && p[k + 1] == '-') {
			*closing = 1;
			k += 2;
		}
		/* only transport padding may follow */
		while (k < n && (p[k] == ' ' || p[k] == '\t'))
			k++;
		if (k == n)
			return i;
	}
	return -1;
}

static int has_8bit(const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)p[i] >= 0x80)
			return 1;
	return 0;
}

/* Body bytes in the current mode. */
static int emit_content(struct mime7 *m, const char *p, size_t n, struct buf *out)
{
	switch (m->mode) {
	case M7_QP: {
		char tmp[QP_MAX_OUT(256)];
		while (n > 0) {
			size_t c = n < 256 ? n : 256;
			size_t w = qp_encode(&m->q, p, c, tmp);
			if (out_put(m, out, tmp, w) < 0)
				return -1;
			p += c;
			n -= c;
		}
		return 0;
	}
	case M7_CHECK:
		if (has_8bit(p, n))
			return fail(m, "8-bit bytes in a base64 or quoted-printable part");
		return out_put(m, out, p, n);
	case M7_PREAMBLE:
		for (size_t i = 0; i < n; i++) {
			char c = (unsigned char)p[i] >= 0x80 ? '?' : p[i];
			if (out_put(m, out, &c, 1) < 0)
				return -1;
		}
		return 0;
	case M7_HEADER:
		break;
	}
	return 0;
}

static int emit_eol(struct mime7 *m, struct buf *out)
{
	if (m->mode == M7_QP)
		return emit_content(m, "\r\n", 2, out);
	return out_put(m, out, "\r\n", 2);
}

/* The field f[0..n) (with its folds and final CRLF) is name:?  */
static int field_is(const char *f, size_t n, const char *name)
{
	size_t k = strlen(name);

	if (n <= k || f[k] != ':')
		return 0;
	for (size_t i = 0; i < k; i++)
		if (lower(f[i]) != name[i])
			return 0;
	return 1;
}

/* The transfer encoding's token, lowercased into out (small). */
static void cte_value(const char *v, size_t len, char *out, size_t outlen)
{
	size_t i = skip_cfws(v, len, 0), o = 0;

	while (i < len && is_token(v[i]) && o + 1 < outlen)
		out[o++] = lower(v[i++]);
	out[o] = '\0';
}

/* The collected header ends (its empty line came): decides the part's
 * treatment, writes the header (transfer encoding rewritten when the body
 * will be encoded) and the empty line. */
static int header_done(struct mime7 *m, struct buf *out)
{
	const char *h = m->hdr.data;
	size_t len = m->hdr.len;
	char type[128] = "", bnd[MIME7_BOUNDARY_MAX + 1] = "", cte[32] = "";
	const char *cte_f = NULL;
	size_t cte_n = 0;
	int have_ct = 0;
	enum { LEAF, MULTI, MESSAGE } kind;

	if (has_8bit(h, len))
		return fail(m, "8-bit bytes in a part's header");
	for (size_t i = 0; i < len;) {
		size_t e = i;
		do {
			const char *nl = memchr(h + e, '\n', len - e);
			e = nl ? (size_t)(nl - h) + 1 : len;
		} while (e < len && (h[e] == ' ' || h[e] == '\t'));
		if (field_is(h + i, e - i, "content-type") && !have_ct) {
			have_ct = 1;
			if (mime7_content_type(h + i + 13, e - i - 13, type, sizeof(type), bnd,
					       sizeof(bnd)) < 0)
				return fail(m, "bad Content-Type");
		} else if (field_is(h + i, e - i, "content-transfer-encoding") && !cte_f) {
			cte_f = h + i;
			cte_n = e - i;
			cte_value(h + i + 26, e - i - 26, cte, sizeof(cte));
		}
		i = e;
	}
	if (!have_ct)
		snprintf(type, sizeof(type), "%s",
			 m->digest_part ? "message/rfc822" : "text/plain");
	if (strncmp(type, "multipart/", 10) == 0 && bnd[0])
		kind = MULTI;
	else if (strcmp(type, "message/rfc822") == 0 || strcmp(type, "message/global") == 0)
		kind = MESSAGE;
	else
		kind = LEAF;

	int encode = kind == LEAF && (!cte[0] || strcmp(cte, "7bit") == 0 ||
				      strcmp(cte, "8bit") == 0 || strcmp(cte, "binary") == 0);
	/* the header: each field but the transfer encoding when it changes
	 * (a multipart or message is 7bit once its insides are) */
	int drop_cte = kind != LEAF || encode;
	for (size_t i = 0; i < len;) {
		size_t e = i;
		do {
			const char *nl = memchr(h + e, '\n', len - e);
			e = nl ? (size_t)(nl - h) + 1 : len;
		} while (e < len && (h[e] == ' ' || h[e] == '\t'));
		if (!(drop_cte && h + i == cte_f && e - i == cte_n) &&
		    out_put(m, out, h + i, e - i) < 0)
			return -1;
		i = e;
	}
	if (encode && out_put(m, out, "Content-Transfer-Encoding: quoted-printable\r\n", 45) < 0)
		return -1;
	if (out_put(m, out, "\r\n", 2) < 0)
		return -1;
	buf_reset(&m->hdr);
	m->pend_eol = 0;
	m->digest_part = 0;
	qp_init(&m->q);
	switch (kind) {
	case MULTI:
		if (m->depth >= MIME7_MAX_DEPTH)
			return fail(m, "MIME parts nested too deeply");
		m->lv[m->depth].blen = strlen(bnd);
		memcpy(m->lv[m->depth].b, bnd, m->lv[m->depth].blen + 1);
		m->lv[m->depth].digest = strcmp(type, "multipart/digest") == 0;
		m->depth++;
		m->mode = M7_PREAMBLE;
		break;
	case MESSAGE:
		m->mode = M7_HEADER; /* the attached message's own header */
		break;
	case LEAF:
		m->mode = encode ? M7_QP : M7_CHECK;
		break;
	}
	return 0;
}

/* A header collected so far goes out as it is (a boundary came before
 * its empty line, or the body ended). */
static int header_flush(struct mime7 *m, struct buf *out)
{
	if (has_8bit(m->hdr.data, m->hdr.len))
		return fail(m, "8-bit bytes in a part's header");
	if (out_put(m, out, m->hdr.data, m->hdr.len) < 0)
		return -1;
	buf_reset(&m->hdr);
	return 0;
}

static int on_boundary(struct mime7 *m, int level, int closing, const char *p, size_t n, int eol,
		       struct buf *out)
{
	if (m->mode == M7_QP) {
		char tmp[16];
		size_t w = qp_finish(&m->q, tmp);
		if (out_put(m, out, tmp, w) < 0)
			return -1;
	}
	if (m->mode == M7_HEADER && header_flush(m, out) < 0)
		return -1;
	if (m->pend_eol && out_put(m, out, "\r\n", 2) < 0)
		return -1;
	if (out_put(m, out, p, n) < 0 || (eol && out_put(m, out, "\r\n", 2) < 0))
		return -1;
	m->pend_eol = 0;
	qp_init(&m->q);
	m->depth = level + 1; /* inner multiparts left open end here */
	if (closing) {
		m->depth = level;
		m->mode = M7_PREAMBLE; /* the epilogue */
	} else {
		m->digest_part = m->lv[level].digest;
		m->mode = M7_HEADER;
	}
	return 0;
}

/* One line, p[0..n) without its line end; eol: it had one; cont: it
 * continues a longer line (cannot be a boundary). */
static int on_line(struct mime7 *m, const char *p, size_t n, int eol, int cont, struct buf *out)
{
	int closing, level;

	if (!cont && (level = boundary_level(m, p, n, &closing)) >= 0)
		return on_boundary(m, level, closing, p, n, eol, out);
	if (m->mode == M7_HEADER) {
		if (!cont && n == 0 && eol)
			return header_done(m, out);
		if (buf_append(&m->hdr, p, n) < 0 || (eol && buf_append(&m->hdr, "\r\n", 2) < 0))
			return fail(m, "a part's header is too long");
		return 0;
	}
	if (!cont && m->pend_eol && emit_eol(m, out) < 0)
		return -1;
	m->pend_eol = 0;
	if (emit_content(m, p, n, out) < 0)
		return -1;
	m->pend_eol = eol;
	return 0;
}

/* The buffered line (complete when eol). */
static int flush_line(struct mime7 *m, int eol, struct buf *out)
{
	size_t n = m->llen;
	int cont = m->cont;

	if (eol) {
		n--; /* the LF */
		if (n > 0 && m->line[n - 1] == '\r')
			n--;
	}
	m->llen = 0;
	m->cont = !eol;
	return on_line(m, m->line, n, eol, cont, out);
}

int mime7_feed(struct mime7 *m, const char *in, size_t n, struct buf *out)
{
	for (size_t i = 0; i < n; i++) {
		if (m->failed)
			return -1;
		m->line[m->llen++] = in[i];
		if (in[i] == '\n') {
			if (flush_line(m, 1, out) < 0)
				return -1;
		} else if (m->llen == sizeof(m->line)) {
			/* too long for a boundary: out as content, but a CR at
			 * the end may be half of a line end */
			int cr = m->line[m->llen - 1] == '\r';
			m->llen -= (size_t)cr;
			if (flush_line(m, 0, out) < 0)
				return -1;
			if (cr)
				m->line[m->llen++] = '\r';
		}
	}
	return m->failed ? -1 : 0;
}

int mime7_finish(struct mime7 *m, struct buf *out)
{
	if (m->failed)
		return -1;
	if (m->llen > 0 && flush_line(m, 0, out) < 0)
		return -1;
	if (m->mode == M7_HEADER && header_flush(m, out) < 0)
		return -1;
	if (m->mode == M7_QP) {
		char tmp[16];
		size_t w = qp_finish(&m->q, tmp);
		if (out_put(m, out, tmp, w) < 0)
			return -1;
	}
	if (m->pend_eol && out_put(m, out, "\r\n", 2) < 0)
		return -1;
	m->pend_eol = 0;
	return 0;
}
