/*
 * MIME structure parser.  One pass over the lines of the message, no
 * recursion: an explicit stack holds the open multiparts and their
 * boundaries, innermost last.  A line that starts with "--" is compared
 * with each open boundary (at most max_depth of them), so the cost is
 * linear in the size of the message whatever its shape.
 *
 * The other parts: mime_imap.c (Content-Type, ENVELOPE, BODYSTRUCTURE),
 * mime_decode.c (base64, QP, RFC 2047, charsets, search text), and under
 * them all mime_tree.c (arena, unfolding, the tree walk).
 */
#include "mime.h"
#include "downgrade.h"
#include "array.h"
#include "mime_int.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Recursion in the output code is bounded by the nesting depth, so the
 * caller's max_depth is clamped to keep the stack small. */
#define MIME_DEPTH_CAP 128

void mime_limits_default(struct mime_limits *lim)
{
	lim->max_depth = 32;
	lim->max_parts = 2000;
	lim->max_headers = 1000;
	lim->max_header_len = 64 * 1024;
	lim->max_search_text = 1024 * 1024;
}

static int is_wsp(char c)
{
	return c == ' ' || c == '\t';
}

/* ---- the parser ---- */

enum pstate { ST_HDR, ST_BODY, ST_PREAMBLE, ST_EPILOGUE, ST_SKIP };

struct parser {
	struct mime_msg *m;
	const char *d;
	size_t len;
	struct mime_part *cur; /* innermost open entity */
	enum pstate st;
	struct mime_part **stack; /* open multiparts, boundary known */
	size_t nstack, capstack;
	/* header reading */
	size_t fstart; /* start of the field being read, or SIZE_MAX */
	size_t fend;
	unsigned nfields;
	size_t nl; /* LFs before the current line */
};

static const struct {
	const char *name;
	int ct; /* index in raw_ct or -1 */
	int env;
} hdr_names[] = {
    {"content-type", CT_TYPE, -1},
    {"content-transfer-encoding", CT_ENCODING, -1},
    {"content-id", CT_ID, -1},
    {"content-description", CT_DESCRIPTION, -1},
    {"content-disposition", CT_DISPOSITION, -1},
    {"content-language", CT_LANGUAGE, -1},
    {"content-location", CT_LOCATION, -1},
    {"content-md5", CT_MD5, -1},
    {"date", -1, ENV_DATE},
    {"subject", -1, ENV_SUBJECT},
    {"from", -1, ENV_FROM},
    {"sender", -1, ENV_SENDER},
    {"reply-to", -1, ENV_REPLY_TO},
    {"to", -1, ENV_TO},
    {"cc", -1, ENV_CC},
    {"bcc", -1, ENV_BCC},
    {"in-reply-to", -1, ENV_IN_REPLY_TO},
    {"message-id", -1, ENV_MESSAGE_ID},
};

/* A complete header field [fstart, fend) of the current entity. */
static void field_done(struct parser *ps)
{
	struct mime_part *p = ps->cur;
	const char *f = ps->d + ps->fstart;
	size_t n = ps->fend - ps->fstart, nlen, i;
	const char *colon;
	struct mstr v;

	ps->fstart = SIZE_MAX;
	if (++ps->nfields > ps->m->lim.max_headers) {
		ps->m->flags |= MIME_F_HEADERS;
		return;
	}
	if (n > ps->m->lim.max_header_len) {
		ps->m->flags |= MIME_F_HEADER_LONG;
		n = ps->m->lim.max_header_len;
	}
	colon = memchr(f, ':', n);
	if (!colon)
		return; /* not a field: junk in the header block, kept but unused */
	nlen = (size_t)(colon - f);
	while (nlen > 0 && is_wsp(f[nlen - 1]))
		nlen--;
	v.p = colon + 1;
	v.n = (size_t)(f + n - v.p);
	for (i = 0; i < sizeof(hdr_names) / sizeof(hdr_names[0]); i++) {
		const char *hn = hdr_names[i].name;

		if (strlen(hn) != nlen || strncasecmp(hn, f, nlen) != 0)
			continue;
		if (hdr_names[i].ct >= 0) {
			if (!p->raw_ct[hdr_names[i].ct].p)
				p->raw_ct[hdr_names[i].ct] = v;
		} else if (p->msg_root && !p->raw_env[hdr_names[i].env].p) {
			p->raw_env[hdr_names[i].env] = v;
		}
		return;
	}
}

static struct mime_part *part_new(struct parser *ps, struct mime_part *parent, size_t hdr_off,
				  int msg_root)
{
	struct mime_part *p = mime_arena_alloc(ps->m, sizeof(*p));

	if (!p)
		return NULL;
	p->parent = parent;
	p->msg_root = msg_root;
	p->in_hdr = 1;
	p->hdr_off = hdr_off;
	p->enc = MIME_ENC_7BIT;
	if (parent) {
		p->depth = parent->depth + 1;
		p->def_rfc822 = parent->kind == MIME_KIND_MULTI && parent->digest;
		if (parent->last)
			parent->last->next = p;
		else
			parent->child = p;
		parent->last = p;
		parent->nchildren++;
	}
	ps->m->nparts++;
	ps->cur = p;
	ps->st = ST_HDR;
	ps->fstart = SIZE_MAX;
	ps->nfields = 0;
	return p;
}

static int push_multipart(struct parser *ps, struct mime_part *p)
{
	if (ARRAY_GROW(ps->stack, ps->capstack, ps->nstack + 1, 8) < 0)
		return -1;
	ps->stack[ps->nstack++] = p;
	return 0;
}

/* The header block of ps->cur ended; hend is where its body starts. */
static int header_done(struct parser *ps, size_t hend, size_t body_lf0, int at_boundary)
{
	struct mime_part *p = ps->cur;
	struct mime_msg *m = ps->m;

	if (ps->fstart != SIZE_MAX)
		field_done(ps);
	p->in_hdr = 0;
	p->hdr_len = hend - p->hdr_off;
	p->body_off = hend;
	p->body_lf0 = body_lf0;
	if (mime_part_content(m, p) < 0)
		return -1;
	ps->st = ST_BODY;
	if (p->kind == MIME_KIND_MULTI) {
		if (p->depth >= m->lim.max_depth) {
			m->flags |= MIME_F_DEPTH;
			p->kind = MIME_KIND_LEAF;
			p->opaque = MIME_OPQ_LIMIT;
		} else if (!at_boundary) {
			if (push_multipart(ps, p) < 0)
				return -1;
			ps->st = ST_PREAMBLE;
		}
	} else if (p->kind == MIME_KIND_MESSAGE) {
		if (p->depth >= m->lim.max_depth) {
			m->flags |= MIME_F_DEPTH;
			p->kind = MIME_KIND_LEAF;
			p->opaque = MIME_OPQ_LIMIT;
		} else if (m->nparts >= m->lim.max_parts) {
			m->flags |= MIME_F_PARTS;
			p->kind = MIME_KIND_LEAF;
			p->opaque = MIME_OPQ_LIMIT;
		} else if (!at_boundary) {
			if (!part_new(ps, p, hend, 1))
				return -1;
		} else {
			/* an empty encapsulated message: still give it an entity */
			struct mime_part *e = part_new(ps, p, hend, 1);

			if (!e || header_done(ps, hend, body_lf0, 1) < 0)
				return -1;
			e->closed = 1;
			ps->cur = p;
		}
	}
	return 0;
}

/* Closes entity p, whose content ends at e; lf_e is the count of LFs
 * before e. */
static int close_part(struct parser *ps, struct mime_part *p, size_t e, size_t lf_e)
{
	if (p->in_hdr) {
		struct mime_part *save = ps->cur;

		ps->cur = p;
		if (e < p->hdr_off)
			e = p->hdr_off;
		if (header_done(ps, e, lf_e, 1) < 0)
			return -1;
		ps->cur = save;
	}
	if (e < p->body_off) {
		e = p->body_off;
		lf_e = p->body_lf0;
	}
	p->body_len = e - p->body_off;
	p->lines = lf_e - p->body_lf0;
	if (p->body_len > 0 && ps->d[e - 1] != '\n')
		p->lines++;
	p->closed = 1;
	if (p->kind == MIME_KIND_LEAF && (p->enc == MIME_ENC_BASE64 || p->enc == MIME_ENC_QP) &&
	    !(ps->m->flags & MIME_F_BAD_ENCODING) &&
	    mime_encoding_bad(p->enc, ps->d + p->body_off, p->body_len))
		ps->m->flags |= MIME_F_BAD_ENCODING;
	if (p->msg_root && !(ps->m->flags & MIME_F_BAD_ENCODING) && p->raw_env[ENV_SUBJECT].p &&
	    mime_encoded_words_bad(p->raw_env[ENV_SUBJECT].p, p->raw_env[ENV_SUBJECT].n))
		ps->m->flags |= MIME_F_BAD_ENCODING;
	return 0;
}

/* Returns 1 and sets *close if line [s, ce) is a delimiter for boundary b. */
static int boundary_match(const char *s, size_t n, struct mstr b, int *close)
{
	size_t i;

	if (n < 2 + b.n || memcmp(s + 2, b.p, b.n) != 0)
		return 0;
	i = 2 + b.n;
	*close = 0;
	if (n - i >= 2 && s[i] == '-' && s[i + 1] == '-') {
		*close = 1;
		i += 2;
	}
	for (; i < n; i++)
		if (!is_wsp(s[i]) && s[i] != '\r')
			return 0;
	return 1;
}

/* A delimiter line of stack[idx] starts at pos; lend is the next line. */
static int on_boundary(struct parser *ps, size_t idx, int is_close, size_t pos, size_t lend)
{
	struct mime_part *mp = ps->stack[idx];
	size_t e = pos, lf_e = ps->nl;
	struct mime_part *p;

	/* RFC 2046: the line break before the delimiter belongs to it */
	if (e > 0 && ps->d[e - 1] == '\n') {
		e--;
		lf_e--;
		if (e > 0 && ps->d[e - 1] == '\r')
			e--;
	}
	for (p = ps->cur; p && p != mp; p = p->parent)
		if (close_part(ps, p, e, lf_e) < 0)
			return -1;
	if (ps->nstack > idx + 1)
		ps->m->flags |= MIME_F_NO_END_BOUNDARY;
	ps->nstack = idx + 1;
	ps->cur = mp;
	if (is_close) {
		ps->nstack = idx;
		ps->st = ST_EPILOGUE;
		return 0;
	}
	if (ps->m->nparts >= ps->m->lim.max_parts) {
		ps->m->flags |= MIME_F_PARTS;
		ps->st = ST_SKIP;
		return 0;
	}
	return part_new(ps, mp, lend, 0) ? 0 : -1;
}

static int parse(struct parser *ps)
{
	const char *d = ps->d;
	size_t pos = 0, len = ps->len;

	if (!part_new(ps, NULL, 0, 1))
		return -1;
	ps->m->root = ps->cur;
	while (pos < len) {
		const char *eol = memchr(d + pos, '\n', len - pos);
		size_t lend = eol ? (size_t)(eol - d) + 1 : len;
		size_t ce = eol ? (size_t)(eol - d) : len;
		size_t lf_next = ps->nl + (eol ? 1 : 0);
		int handled = 0;

		if (ce > pos && d[ce - 1] == '\r')
			ce--;
		if (ps->nstack && ce - pos >= 2 && d[pos] == '-' && d[pos + 1] == '-') {
			size_t i = ps->nstack;

			while (i-- > 0) {
				int cl;

				if (boundary_match(d + pos, ce - pos, ps->stack[i]->boundary,
						   &cl)) {
					if (on_boundary(ps, i, cl, pos, lend) < 0)
						return -1;
					handled = 1;
					break;
				}
			}
		}
		if (!handled && ps->st == ST_HDR) {
			if (ce == pos) {
				if (header_done(ps, lend, lf_next, 0) < 0)
					return -1;
			} else if (is_wsp(d[pos]) && ps->fstart != SIZE_MAX) {
				ps->fend = ce;
			} else {
				if (ps->fstart != SIZE_MAX)
					field_done(ps);
				ps->fstart = pos;
				ps->fend = ce;
			}
		}
		ps->nl = lf_next;
		pos = lend;
	}
	ps->m->total_lf = ps->nl;
	if (ps->nstack)
		ps->m->flags |= MIME_F_NO_END_BOUNDARY;
	for (struct mime_part *p = ps->cur; p; p = p->parent)
		if (!p->closed && close_part(ps, p, len, ps->nl) < 0)
			return -1;
	return 0;
}

/* Whether q's header block is internationalized (RFC 6532): 8-bit bytes,
 * all of it valid UTF-8. */
static int utf8_block(const struct mime_msg *m, const struct mime_part *q)
{
	return q->hdr_len && q->hdr_off + q->hdr_len <= m->len &&
	       downgrade_needed(m->data + q->hdr_off, q->hdr_len);
}

/* 1 when every LF in data[0..len) follows a CR and data ends with CRLF
 * (or is empty). */
static int crlf_only(const char *data, size_t len)
{
	if (len == 0)
		return 1;
	if (len < 2 || data[len - 1] != '\n' || data[len - 2] != '\r')
		return 0;
	for (const char *p = data, *end = data + len; (p = memchr(p, '\n', (size_t)(end - p))); p++)
		if (p == data || p[-1] != '\r')
			return 0;
	return 1;
}

int mime_parse(const char *data, size_t len, const struct mime_limits *lim, struct mime_msg **out)
{
	struct mime_msg *m = calloc(1, sizeof(*m));
	struct parser ps;
	int rc;

	*out = NULL;
	if (!m)
		return -1;
	m->data = data;
	m->len = len;
	if (lim)
		m->lim = *lim;
	else
		mime_limits_default(&m->lim);
	if (m->lim.max_depth > MIME_DEPTH_CAP)
		m->lim.max_depth = MIME_DEPTH_CAP;
	if (m->lim.max_parts < 1)
		m->lim.max_parts = 1;
	/* the search text code sizes buffers at 3x this */
	if (m->lim.max_search_text > (SIZE_MAX - 64) / 4)
		m->lim.max_search_text = (SIZE_MAX - 64) / 4;
	if (len && memchr(data, '\0', len))
		m->flags |= MIME_F_NUL;
	memset(&ps, 0, sizeof(ps));
	ps.m = m;
	ps.d = data;
	ps.len = len;
	ps.fstart = SIZE_MAX;
	rc = parse(&ps);
	free(ps.stack);
	if (rc < 0) {
		mime_free(m);
		return -1;
	}
	m->flags |= MIME_F_HEADER_CHECKED | MIME_F_LINES_CHECKED;
	if (!crlf_only(data, len))
		m->flags |= MIME_F_NOT_CRLF;
	for (const struct mime_part *q = m->root; q; q = mime_part_next(q, m->root)) {
		if (utf8_block(m, q)) {
			m->flags |= MIME_F_UTF8_HEADER;
			break;
		}
	}
	*out = m;
	return 0;
}

int mime_downgrade(const struct mime_msg *m, struct buf *out)
{
	size_t pos = 0;

	/* a pre-order walk meets the header blocks in the order they come */
	for (const struct mime_part *q = m->root; q; q = mime_part_next(q, m->root)) {
		if (q->hdr_off < pos || !utf8_block(m, q))
			continue;
		if (buf_append(out, m->data + pos, q->hdr_off - pos) < 0 ||
		    downgrade_header(m->data + q->hdr_off, q->hdr_len, out) < 0)
			return -1;
		pos = q->hdr_off + q->hdr_len;
	}
	return buf_append(out, m->data + pos, m->len - pos) < 0 ? -1 : 0;
}

void mime_free(struct mime_msg *m)
{
	if (!m)
		return;
	mime_arena_free(m);
	free(m);
}

unsigned mime_flags(const struct mime_msg *m)
{
	return m->flags;
}

size_t mime_header_size(const struct mime_msg *m)
{
	return m->root->hdr_len;
}

size_t mime_lines(const struct mime_msg *m)
{
	return m->total_lf + (m->len > 0 && m->data[m->len - 1] != '\n');
}

/* ---- the section table ----
 *
 * "LMS1", a varint record count, then one record per entity in pre-order:
 * varints hdr_off, hdr_len, body_off - (hdr_off + hdr_len), body_len,
 * kind*8 + encoding, nchildren, descendants; then a 4-byte FNV-1a of all
 * that precedes it (little-endian).  The encapsulated message of a
 * message/rfc822 part is its single child.
 */

#define TBL_MAGIC "LMS1"

static int put_varint(struct buf *out, uint64_t v)
{
	unsigned char b[10];
	size_t n = 0;

	do {
		b[n] = (unsigned char)(v & 0x7f);
		v >>= 7;
		if (v)
			b[n] |= 0x80;
		n++;
	} while (v);
	return buf_append(out, b, n);
}

static uint32_t fnv1a(const unsigned char *p, size_t n)
{
	uint32_t h = 2166136261u;

	while (n--) {
		h ^= *p++;
		h *= 16777619u;
	}
	return h;
}

static size_t count_desc(const struct mime_part *p)
{
	size_t n = 0;

	for (const struct mime_part *q = mime_part_next(p, p); q; q = mime_part_next(q, p))
		n++;
	return n;
}

int mime_sections_encode(const struct mime_msg *m, struct buf *out)
{
	size_t start = out->len;
	const struct mime_part *q = m->root;
	unsigned char ck[4];
	uint32_t h;

	if (buf_append(out, TBL_MAGIC, 4) < 0 || put_varint(out, m->nparts) < 0)
		goto full;
	while (q) {
		if (put_varint(out, q->hdr_off) < 0 || put_varint(out, q->hdr_len) < 0 ||
		    put_varint(out, q->body_off - (q->hdr_off + q->hdr_len)) < 0 ||
		    put_varint(out, q->body_len) < 0 ||
		    put_varint(out, (uint64_t)q->kind * 8 + (unsigned)q->enc) < 0 ||
		    put_varint(out, q->nchildren) < 0 || put_varint(out, count_desc(q)) < 0)
			goto full;
		q = mime_part_next(q, m->root);
	}
	h = fnv1a((const unsigned char *)out->data + start, out->len - start);
	ck[0] = (unsigned char)h;
	ck[1] = (unsigned char)(h >> 8);
	ck[2] = (unsigned char)(h >> 16);
	ck[3] = (unsigned char)(h >> 24);
	if (buf_append(out, ck, 4) < 0)
		goto full;
	return 0;
full:
	out->len = start;
	if (out->data)
		out->data[start] = '\0';
	return -1;
}

struct tbl_rec {
	uint64_t hdr_off, hdr_len, body_off, body_len;
	unsigned kind, enc;
	uint64_t nchildren, desc;
	size_t index; /* record number */
};

struct tbl_reader {
	const unsigned char *p, *end;
	uint64_t count, next; /* records in total, next record number */
};

static int get_varint(struct tbl_reader *r, uint64_t *v)
{
	uint64_t x = 0;
	unsigned shift = 0;

	while (r->p < r->end) {
		unsigned char c = *r->p++;

		if (shift == 63 && (c & 0x7e))
			return -1;
		x |= (uint64_t)(c & 0x7f) << shift;
		if (!(c & 0x80)) {
			*v = x;
			return 0;
		}
		shift += 7;
		if (shift > 63)
			return -1;
	}
	return -1;
}

static int get_rec(struct tbl_reader *r, struct tbl_rec *rec)
{
	uint64_t gap, ke;

	if (r->next >= r->count)
		return -1;
	rec->index = (size_t)r->next++;
	if (get_varint(r, &rec->hdr_off) < 0 || get_varint(r, &rec->hdr_len) < 0 ||
	    get_varint(r, &gap) < 0 || get_varint(r, &rec->body_len) < 0 ||
	    get_varint(r, &ke) < 0 || get_varint(r, &rec->nchildren) < 0 ||
	    get_varint(r, &rec->desc) < 0)
		return -1;
	if (rec->hdr_off > SIZE_MAX || rec->hdr_len > SIZE_MAX - rec->hdr_off ||
	    gap > SIZE_MAX - rec->hdr_off - rec->hdr_len)
		return -1;
	rec->body_off = rec->hdr_off + rec->hdr_len + gap;
	if (rec->body_len > SIZE_MAX - rec->body_off)
		return -1;
	rec->kind = (unsigned)(ke / 8);
	rec->enc = (unsigned)(ke % 8);
	if (rec->kind > MIME_KIND_MESSAGE || rec->enc > MIME_ENC_OTHER)
		return -1;
	if (rec->desc > r->count - r->next || rec->nchildren > rec->desc)
		return -1;
	if (rec->kind == MIME_KIND_LEAF && rec->nchildren)
		return -1;
	if (rec->kind == MIME_KIND_MESSAGE && rec->nchildren != 1)
		return -1;
	return 0;
}

/* Skips the descendants of rec. */
static int skip_desc(struct tbl_reader *r, const struct tbl_rec *rec)
{
	uint64_t n = rec->desc;
	struct tbl_rec x;

	while (n--)
		if (get_rec(r, &x) < 0)
			return -1;
	return 0;
}

/* Moves to child k (1-based) of rec. */
static int nth_child(struct tbl_reader *r, const struct tbl_rec *rec, uint64_t k,
		     struct tbl_rec *child)
{
	uint64_t i;

	if (k < 1 || k > rec->nchildren)
		return -1;
	for (i = 1;; i++) {
		if (get_rec(r, child) < 0)
			return -1;
		if (i == k)
			return 0;
		if (skip_desc(r, child) < 0)
			return -1;
	}
}

int mime_section_find(const void *table, size_t tablelen, const char *part,
		      struct mime_section *out)
{
	const unsigned char *t = table;
	struct tbl_reader r;
	struct tbl_rec cur, child;
	int msg_ctx = 1; /* cur is a message root addressed as a whole */
	const char *s = part;
	uint32_t h;

	memset(out, 0, sizeof(*out));
	if (!t || tablelen < 8 || memcmp(t, TBL_MAGIC, 4) != 0)
		return -1;
	h = (uint32_t)t[tablelen - 4] | (uint32_t)t[tablelen - 3] << 8 |
	    (uint32_t)t[tablelen - 2] << 16 | (uint32_t)t[tablelen - 1] << 24;
	if (fnv1a(t, tablelen - 4) != h)
		return -1;
	r.p = t + 4;
	r.end = t + tablelen - 4;
	r.next = 0;
	r.count = 1;
	if (get_varint(&r, &r.count) < 0 || r.count < 1)
		return -1;
	if (get_rec(&r, &cur) < 0)
		return -1;
	while (*s) {
		uint64_t k = 0;
		const char *st = s;

		while (*s >= '0' && *s <= '9') {
			if (k > (UINT64_MAX - 9) / 10)
				return -1;
			k = k * 10 + (uint64_t)(*s - '0');
			s++;
		}
		if (s == st || k == 0 || (*s && *s != '.') || (*s == '.' && !s[1]))
			return -1;
		if (*s == '.')
			s++;
		if (!msg_ctx && cur.kind == MIME_KIND_MESSAGE) {
			if (nth_child(&r, &cur, 1, &child) < 0)
				return -1;
			cur = child;
			msg_ctx = 1;
		}
		if (cur.kind == MIME_KIND_MULTI) {
			if (nth_child(&r, &cur, k, &child) < 0)
				return -1;
			cur = child;
		} else if (msg_ctx && k == 1) {
			/* a non-multipart message's part 1 is its body */
		} else {
			return -1;
		}
		msg_ctx = 0;
	}
	out->hdr_off = (size_t)cur.hdr_off;
	out->hdr_len = (size_t)cur.hdr_len;
	out->body_off = (size_t)cur.body_off;
	out->body_len = (size_t)cur.body_len;
	out->encoding = (int)cur.enc;
	if (msg_ctx) {
		out->is_message = 1;
		out->msg_hdr_off = out->hdr_off;
		out->msg_hdr_len = out->hdr_len;
		out->msg_body_off = out->body_off;
		out->msg_body_len = out->body_len;
	} else if (cur.kind == MIME_KIND_MESSAGE) {
		if (nth_child(&r, &cur, 1, &child) < 0)
			return -1;
		out->is_message = 1;
		out->msg_hdr_off = (size_t)child.hdr_off;
		out->msg_hdr_len = (size_t)child.hdr_len;
		out->msg_body_off = (size_t)child.body_off;
		out->msg_body_len = (size_t)child.body_len;
	}
	return 0;
}
