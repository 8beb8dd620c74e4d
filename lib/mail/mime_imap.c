/*
 * The IMAP side of the MIME module: Content-* fields parsed into the tree
 * at parse time, and the ENVELOPE and BODY/BODYSTRUCTURE strings of RFC
 * 3501 section 7.4.2 produced from it.  Address lists are parsed with the
 * leniency of real mail: whatever the input, some well-formed IMAP comes
 * out.
 */
#include "mime.h"
#include "addr.h"
#include "mime_int.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

static int is_wsp(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* ---- RFC 2045 tokens ---- */

static int is_tspecial(char c)
{
	return strchr("()<>@,;:\\\"/[]?=", c) != NULL;
}

static void skip_cfws(const char **pp, const char *end)
{
	const char *p = *pp;

	while (p < end) {
		if (is_wsp(*p)) {
			p++;
		} else if (*p == '(') {
			unsigned lvl = 0;

			while (p < end) {
				if (*p == '\\' && p + 1 < end) {
					p += 2;
					continue;
				}
				if (*p == '(')
					lvl++;
				else if (*p == ')' && --lvl == 0) {
					p++;
					break;
				}
				p++;
			}
		} else {
			break;
		}
	}
	*pp = p;
}

static struct mstr get_token(const char **pp, const char *end)
{
	struct mstr t = {*pp, 0};
	const char *p = *pp;

	while (p < end && !is_wsp(*p) && !is_tspecial(*p) && (unsigned char)*p >= 0x20)
		p++;
	t.n = (size_t)(p - t.p);
	*pp = p;
	return t;
}

/* A parameter value: quoted-string (unescaped into the arena) or, leniently,
 * anything up to ';' or whitespace. */
static int get_value(struct mime_msg *m, const char **pp, const char *end, struct mstr *v)
{
	const char *p = *pp;

	if (p < end && *p == '"') {
		char *d = mime_arena_alloc(m, (size_t)(end - p) + 1);
		size_t n = 0;

		if (!d)
			return -1;
		for (p++; p < end && *p != '"'; p++) {
			if (*p == '\\' && p + 1 < end)
				p++;
			d[n++] = *p;
		}
		if (p < end)
			p++;
		v->p = d;
		v->n = n;
	} else {
		v->p = p;
		while (p < end && *p != ';' && !is_wsp(*p) && *p != '(')
			p++;
		v->n = (size_t)(p - v->p);
	}
	*pp = p;
	return 0;
}

/* If pa's name is "base*N" or "base*N*" (RFC 2231 continuation), returns
 * N and sets *blen to the length of base and *ext for the trailing '*'. */
static long rfc2231_seg(const struct mime_param *pa, size_t *blen, int *ext)
{
	const char *n = pa->name.p;
	size_t len = pa->name.n, i, star;
	long v = 0;

	*ext = len > 0 && n[len - 1] == '*';
	if (*ext)
		len--;
	for (star = len; star > 0 && n[star - 1] != '*'; star--)
		;
	if (star == 0 || star == len || len - star > 3)
		return -1;
	for (i = star; i < len; i++) {
		if (n[i] < '0' || n[i] > '9')
			return -1;
		v = v * 10 + (n[i] - '0');
	}
	if (len - star > 1 && n[star] == '0')
		return -1; /* no leading zeros */
	*blen = star - 1;
	return v;
}

/* Joins RFC 2231 continuations (name*0, name*1*, ...) into one parameter
 * named "name" or, when the first segment is extended, "name*" whose
 * value keeps the charset'lang' prefix and %-escapes, as IMAP shows it. */
static int rfc2231_join(struct mime_msg *m, struct mime_param **list)
{
	struct mime_param *pa, **pp;
	size_t n = 0;

	for (pa = *list; pa; pa = pa->next)
		n++;
	if (n > 64)
		return 0; /* bounded work: a list this long is not real mail */
	for (pa = *list; pa; pa = pa->next) {
		size_t blen, total = 0, blen2;
		int ext, ext2;
		long seg, want;
		char *v, *name;

		if (rfc2231_seg(pa, &blen, &ext) != 0)
			continue;
		/* measure, then copy segments 0, 1, 2... in order */
		for (want = 0;; want++) {
			struct mime_param *q;

			for (q = *list; q; q = q->next)
				if ((seg = rfc2231_seg(q, &blen2, &ext2)) == want &&
				    blen2 == blen && !strncasecmp(q->name.p, pa->name.p, blen))
					break;
			if (!q)
				break;
			total += q->value.n;
		}
		v = mime_arena_alloc(m, total + 1);
		name = mime_arena_alloc(m, blen + 2);
		if (!v || !name)
			return -1;
		total = 0;
		for (want = 0;; want++) {
			struct mime_param *q;

			for (q = *list; q; q = q->next)
				if ((seg = rfc2231_seg(q, &blen2, &ext2)) == want &&
				    blen2 == blen && !strncasecmp(q->name.p, pa->name.p, blen))
					break;
			if (!q)
				break;
			memcpy(v + total, q->value.p, q->value.n);
			total += q->value.n;
			if (q != pa)
				q->name.n = 0; /* dropped below */
		}
		memcpy(name, pa->name.p, blen);
		if (ext)
			name[blen++] = '*';
		pa->name = (struct mstr){name, blen};
		pa->value = (struct mstr){v, total};
	}
	for (pp = list; *pp;) {
		if ((*pp)->name.n == 0)
			*pp = (*pp)->next;
		else
			pp = &(*pp)->next;
	}
	return 0;
}

static int parse_params(struct mime_msg *m, const char *p, const char *end, struct mime_param **out)
{
	struct mime_param **tail = out;

	for (;;) {
		struct mstr name, value;
		struct mime_param *pa;

		skip_cfws(&p, end);
		if (p >= end)
			return rfc2231_join(m, out);
		if (*p != ';') {
			/* junk between parameters: skip to the next one */
			while (p < end && *p != ';')
				p++;
			continue;
		}
		p++;
		skip_cfws(&p, end);
		name = get_token(&p, end);
		skip_cfws(&p, end);
		if (name.n == 0 || p >= end || *p != '=')
			continue;
		p++;
		skip_cfws(&p, end);
		if (get_value(m, &p, end, &value) < 0)
			return -1;
		pa = mime_arena_alloc(m, sizeof(*pa));
		if (!pa)
			return -1;
		pa->name = name;
		pa->value = value;
		*tail = pa;
		tail = &pa->next;
	}
}

static const struct mime_param *param_find(const struct mime_param *pa, const char *name)
{
	for (; pa; pa = pa->next)
		if (mime_strcaseeq(pa->name, name))
			return pa;
	return NULL;
}

static int unfold(struct mime_msg *m, struct mstr raw, struct mstr *out)
{
	return mime_unfold(m, raw, out);
}

int mime_part_content(struct mime_msg *m, struct mime_part *p)
{
	struct mstr ct, v;
	const char *s, *end;
	const struct mime_param *pa;
	size_t i;

	for (i = 0; i < ENV_NFIELDS; i++)
		if (unfold(m, p->raw_env[i], &p->env[i]) < 0)
			return -1;
	if (unfold(m, p->raw_ct[CT_ENCODING], &v) < 0)
		return -1;
	if (v.p) {
		s = v.p;
		skip_cfws(&s, v.p + v.n);
		p->encname = get_token(&s, v.p + v.n);
		if (p->encname.n == 0)
			p->encname.p = NULL;
	}
	if (!p->encname.p || mime_strcaseeq(p->encname, "7bit"))
		p->enc = MIME_ENC_7BIT;
	else if (mime_strcaseeq(p->encname, "8bit"))
		p->enc = MIME_ENC_8BIT;
	else if (mime_strcaseeq(p->encname, "binary"))
		p->enc = MIME_ENC_BINARY;
	else if (mime_strcaseeq(p->encname, "quoted-printable"))
		p->enc = MIME_ENC_QP;
	else if (mime_strcaseeq(p->encname, "base64"))
		p->enc = MIME_ENC_BASE64;
	else
		p->enc = MIME_ENC_OTHER;

	if (unfold(m, p->raw_ct[CT_ID], &p->id) < 0 ||
	    unfold(m, p->raw_ct[CT_DESCRIPTION], &p->desc) < 0 ||
	    unfold(m, p->raw_ct[CT_MD5], &p->md5) < 0 ||
	    unfold(m, p->raw_ct[CT_LOCATION], &p->loc) < 0 ||
	    unfold(m, p->raw_ct[CT_LANGUAGE], &p->lang) < 0)
		return -1;

	if (unfold(m, p->raw_ct[CT_DISPOSITION], &v) < 0)
		return -1;
	if (v.p) {
		s = v.p;
		end = v.p + v.n;
		skip_cfws(&s, end);
		p->dtype = get_token(&s, end);
		if (p->dtype.n == 0)
			p->dtype.p = NULL;
		else if (parse_params(m, s, end, &p->dparams) < 0)
			return -1;
	}

	/* Content-Type: type "/" subtype *(";" parameter) */
	if (unfold(m, p->raw_ct[CT_TYPE], &ct) < 0)
		return -1;
	p->ct_default = 1;
	if (ct.p) {
		struct mstr t, st = {NULL, 0};

		s = ct.p;
		end = ct.p + ct.n;
		skip_cfws(&s, end);
		t = get_token(&s, end);
		skip_cfws(&s, end);
		if (s < end && *s == '/') {
			s++;
			skip_cfws(&s, end);
			st = get_token(&s, end);
		}
		if (t.n && st.n) {
			p->ct_default = 0;
			p->type = t;
			p->subtype = st;
			if (parse_params(m, s, end, &p->params) < 0)
				return -1;
		}
	}
	if (p->ct_default) {
		static const char text[] = "text", plain[] = "plain", msg[] = "message",
				  rfc822[] = "rfc822";

		if (p->def_rfc822) {
			p->type = (struct mstr){msg, 6};
			p->subtype = (struct mstr){rfc822, 6};
		} else {
			p->type = (struct mstr){text, 4};
			p->subtype = (struct mstr){plain, 5};
		}
	}
	if ((pa = param_find(p->params, "charset")) != NULL)
		p->charset = pa->value;

	p->kind = MIME_KIND_LEAF;
	if (mime_strcaseeq(p->type, "multipart")) {
		pa = param_find(p->params, "boundary");
		if (pa && pa->value.n > 0) {
			p->kind = MIME_KIND_MULTI;
			p->boundary = pa->value;
			p->digest = mime_strcaseeq(p->subtype, "digest");
		} else {
			p->opaque = MIME_OPQ_TEXT;
		}
	} else if (mime_strcaseeq(p->type, "message") && mime_strcaseeq(p->subtype, "rfc822")) {
		/* an encoded message cannot be parsed in place */
		if (p->enc == MIME_ENC_7BIT || p->enc == MIME_ENC_8BIT || p->enc == MIME_ENC_BINARY)
			p->kind = MIME_KIND_MESSAGE;
		else
			p->opaque = MIME_OPQ_LIMIT;
	}
	return 0;
}

/* ---- IMAP output ---- */

int mime_put_nstring(struct buf *out, struct mstr s)
{
	size_t i, n = 0;
	int literal = 0;

	if (!s.p)
		return buf_append(out, "NIL", 3);
	for (i = 0; i < s.n; i++) {
		unsigned char c = (unsigned char)s.p[i];

		if (c == 0)
			continue;
		n++;
		if (c == '\r' || c == '\n' || c >= 0x80)
			literal = 1;
	}
	if (literal) {
		if (buf_printf(out, "{%zu}\r\n", n) < 0)
			return -1;
		for (i = 0; i < s.n;) {
			size_t j = i;

			while (j < s.n && s.p[j] != '\0')
				j++;
			if (buf_append(out, s.p + i, j - i) < 0)
				return -1;
			i = j + 1;
		}
		return 0;
	}
	if (buf_putc(out, '"') < 0)
		return -1;
	for (i = 0; i < s.n; i++) {
		char c = s.p[i];

		if (c == '\0')
			continue;
		if ((c == '"' || c == '\\') && buf_putc(out, '\\') < 0)
			return -1;
		if (buf_putc(out, c) < 0)
			return -1;
	}
	return buf_putc(out, '"');
}

static int put_lit(struct buf *out, const char *s)
{
	return buf_puts(out, s);
}

/* ---- addresses: lib/mail/addr parses, these print ---- */

struct addr_out {
	struct buf *out;
	unsigned count;
	int plain; /* search text "name mailbox@host, ", not IMAP syntax */
};

/* One address of an ENVELOPE list, or of the search text.  A name-less
 * mailbox shows its comment as the name ("user@host (Real Name)"); the
 * missing parts of a broken one are named as RFC 3501's examples do. */
static int addr_put(void *arg, const struct addr_item *it)
{
	static const char miss_mbox[] = "MISSING_MAILBOX", miss_dom[] = "MISSING_DOMAIN";
	struct addr_out *ao = arg;
	struct buf *out = ao->out;
	struct mstr name = {NULL, 0}, route = {NULL, 0}, mbox, host;

	if (it->kind == ADDR_GROUP) {
		struct mstr g = {it->name, it->name_len};

		ao->count++;
		if (ao->plain)
			return mime_decode_header(g.p, g.n, out) < 0 || buf_puts(out, ": ") < 0;
		return buf_puts(out, "(NIL NIL ") < 0 || mime_put_nstring(out, g) < 0 ||
		       buf_puts(out, " NIL)") < 0;
	}
	if (it->kind == ADDR_GROUP_END)
		return ao->plain ? 0 : buf_puts(out, "(NIL NIL NIL NIL)") < 0;
	if (it->name)
		name = (struct mstr){it->name, it->name_len};
	else if (it->comment && it->comment_len)
		name = (struct mstr){it->comment, it->comment_len};
	if (it->route)
		route = (struct mstr){it->route, it->route_len};
	mbox = it->local_len ? (struct mstr){it->local, it->local_len}
			     : (struct mstr){miss_mbox, sizeof(miss_mbox) - 1};
	host = it->domain ? (struct mstr){it->domain, it->domain_len}
			  : (struct mstr){miss_dom, sizeof(miss_dom) - 1};
	ao->count++;
	if (ao->plain) {
		/* the display name decoded (RFC 2047), then mailbox@host with
		 * the comments and spaces of the header gone */
		if (name.n &&
		    (mime_decode_header(name.p, name.n, out) < 0 || buf_putc(out, ' ') < 0))
			return 1;
		return buf_append(out, mbox.p, mbox.n) < 0 || buf_putc(out, '@') < 0 ||
		       buf_append(out, host.p, host.n) < 0 || buf_puts(out, ", ") < 0;
	}
	return buf_putc(out, '(') < 0 || mime_put_nstring(out, name) < 0 ||
	       buf_putc(out, ' ') < 0 || mime_put_nstring(out, route) < 0 ||
	       buf_putc(out, ' ') < 0 || mime_put_nstring(out, mbox) < 0 ||
	       buf_putc(out, ' ') < 0 || mime_put_nstring(out, host) < 0 || buf_putc(out, ')') < 0;
}

/* Runs the parser over a value into ao.  A malformed list still prints
 * what could be made of it (ENVELOPE shows any message), and so does one
 * past the parser's limits (what came before the limit); only a full
 * output buffer or no memory fail. */
static int addr_print(const char *v, size_t len, struct addr_out *ao)
{
	int rc = addr_list_parse(v, len, addr_put, ao);

	return rc == ADDR_STOPPED || rc == ADDR_NOMEM ? -1 : 0;
}

int mime_address_text(const char *value, size_t len, struct buf *out)
{
	struct addr_out ao = {out, 0, 1};

	return addr_print(value, len, &ao);
}

/* Appends "(" address... ")" or NIL; *count gets the number of addresses. */
static int put_addr_list(struct buf *out, struct mstr v, unsigned *count)
{
	struct addr_out ao = {out, 0, 0};
	size_t start = out->len;

	*count = 0;
	if (!v.p)
		return put_lit(out, "NIL");
	if (buf_putc(out, '(') < 0 || addr_print(v.p, v.n, &ao) < 0)
		return -1;
	*count = ao.count;
	if (ao.count == 0) {
		out->len = start;
		return put_lit(out, "NIL");
	}
	return buf_putc(out, ')');
}

int mime_put_envelope(const struct mime_msg *m, const struct mime_part *root, struct buf *out)
{
	struct buf from;
	unsigned n;
	int f, rc = -1;

	(void)m;
	buf_init(&from, out->max);
	if (put_addr_list(&from, root->env[ENV_FROM], &n) < 0)
		goto done;
	if (buf_putc(out, '(') < 0 || mime_put_nstring(out, root->env[ENV_DATE]) < 0 ||
	    buf_putc(out, ' ') < 0 || mime_put_nstring(out, root->env[ENV_SUBJECT]) < 0 ||
	    buf_putc(out, ' ') < 0 || buf_append(out, from.data, from.len) < 0)
		goto done;
	for (f = ENV_SENDER; f <= ENV_BCC; f++) {
		size_t start = out->len;

		if (buf_putc(out, ' ') < 0 || put_addr_list(out, root->env[f], &n) < 0)
			goto done;
		/* RFC 3501: absent or empty Sender and Reply-To are From */
		if (n == 0 && (f == ENV_SENDER || f == ENV_REPLY_TO)) {
			out->len = start + 1;
			if (buf_append(out, from.data, from.len) < 0)
				goto done;
		}
	}
	if (buf_putc(out, ' ') < 0 || mime_put_nstring(out, root->env[ENV_IN_REPLY_TO]) < 0 ||
	    buf_putc(out, ' ') < 0 || mime_put_nstring(out, root->env[ENV_MESSAGE_ID]) < 0 ||
	    buf_putc(out, ')') < 0)
		goto done;
	rc = 0;
done:
	buf_free(&from);
	return rc;
}

/* ---- BODY / BODYSTRUCTURE ---- */

static int put_params(struct buf *out, const struct mime_param *pa)
{
	if (!pa)
		return put_lit(out, "NIL");
	if (buf_putc(out, '(') < 0)
		return -1;
	for (; pa; pa = pa->next) {
		if (mime_put_nstring(out, pa->name) < 0 || buf_putc(out, ' ') < 0 ||
		    mime_put_nstring(out, pa->value) < 0 || (pa->next && buf_putc(out, ' ') < 0))
			return -1;
	}
	return buf_putc(out, ')');
}

/* body-fld-dsp SP body-fld-lang SP body-fld-loc */
static int put_ext_common(struct buf *out, const struct mime_part *p)
{
	if (buf_putc(out, ' ') < 0)
		return -1;
	if (p->dtype.p) {
		if (buf_putc(out, '(') < 0 || mime_put_nstring(out, p->dtype) < 0 ||
		    buf_putc(out, ' ') < 0 || put_params(out, p->dparams) < 0 ||
		    buf_putc(out, ')') < 0)
			return -1;
	} else if (put_lit(out, "NIL") < 0) {
		return -1;
	}
	if (buf_putc(out, ' ') < 0)
		return -1;
	/* Content-Language: a list of tags separated by commas */
	{
		struct mstr tags[32];
		size_t nt = 0, i;
		const char *s = p->lang.p, *end = p->lang.p ? p->lang.p + p->lang.n : NULL;

		while (s && s < end && nt < 32) {
			struct mstr t;

			skip_cfws(&s, end);
			t.p = s;
			while (s < end && *s != ',' && !is_wsp(*s) && *s != '(')
				s++;
			t.n = (size_t)(s - t.p);
			if (t.n)
				tags[nt++] = t;
			skip_cfws(&s, end);
			while (s < end && *s != ',')
				s++;
			if (s < end)
				s++;
		}
		if (nt == 0) {
			if (put_lit(out, "NIL") < 0)
				return -1;
		} else if (nt == 1) {
			if (mime_put_nstring(out, tags[0]) < 0)
				return -1;
		} else {
			if (buf_putc(out, '(') < 0)
				return -1;
			for (i = 0; i < nt; i++)
				if ((i && buf_putc(out, ' ') < 0) ||
				    mime_put_nstring(out, tags[i]) < 0)
					return -1;
			if (buf_putc(out, ')') < 0)
				return -1;
		}
	}
	if (buf_putc(out, ' ') < 0 || mime_put_nstring(out, p->loc) < 0)
		return -1;
	return 0;
}

#define EMPTY_TEXT_BODY "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 0 0)"

int mime_put_body(const struct mime_msg *m, const struct mime_part *p, int extended,
		  struct buf *out)
{
	static const char app[] = "application", oct[] = "octet-stream", text[] = "text",
			  plain[] = "plain", sevenbit[] = "7bit";
	struct mstr type = p->type, subtype = p->subtype, enc = p->encname;
	int is_text;

	if (p->kind == MIME_KIND_MULTI) {
		const struct mime_part *c;

		if (buf_putc(out, '(') < 0)
			return -1;
		if (!p->child && put_lit(out, EMPTY_TEXT_BODY) < 0)
			return -1;
		for (c = p->child; c; c = c->next)
			if (mime_put_body(m, c, extended, out) < 0)
				return -1;
		if (buf_putc(out, ' ') < 0 || mime_put_nstring(out, p->subtype) < 0)
			return -1;
		if (extended && (buf_putc(out, ' ') < 0 || put_params(out, p->params) < 0 ||
				 put_ext_common(out, p) < 0))
			return -1;
		return buf_putc(out, ')');
	}
	if (p->opaque == MIME_OPQ_LIMIT) {
		type = (struct mstr){app, sizeof(app) - 1};
		subtype = (struct mstr){oct, sizeof(oct) - 1};
	} else if (p->opaque == MIME_OPQ_TEXT) {
		type = (struct mstr){text, sizeof(text) - 1};
		subtype = (struct mstr){plain, sizeof(plain) - 1};
	}
	if (!enc.p)
		enc = (struct mstr){sevenbit, sizeof(sevenbit) - 1};
	is_text = mime_strcaseeq(type, "text");
	if (buf_putc(out, '(') < 0 || mime_put_nstring(out, type) < 0 || buf_putc(out, ' ') < 0 ||
	    mime_put_nstring(out, subtype) < 0 || buf_putc(out, ' ') < 0)
		return -1;
	if (is_text && !p->params) {
		if (put_lit(out, "(\"charset\" \"us-ascii\")") < 0)
			return -1;
	} else if (put_params(out, p->params) < 0) {
		return -1;
	}
	if (buf_putc(out, ' ') < 0 || mime_put_nstring(out, p->id) < 0 || buf_putc(out, ' ') < 0 ||
	    mime_put_nstring(out, p->desc) < 0 || buf_putc(out, ' ') < 0 ||
	    mime_put_nstring(out, enc) < 0 || buf_printf(out, " %zu", p->body_len) < 0)
		return -1;
	if (p->kind == MIME_KIND_MESSAGE && p->child) {
		if (buf_putc(out, ' ') < 0 || mime_put_envelope(m, p->child, out) < 0 ||
		    buf_putc(out, ' ') < 0 || mime_put_body(m, p->child, extended, out) < 0 ||
		    buf_printf(out, " %zu", p->lines) < 0)
			return -1;
	} else if (is_text && buf_printf(out, " %zu", p->lines) < 0) {
		return -1;
	}
	if (extended && (buf_putc(out, ' ') < 0 || mime_put_nstring(out, p->md5) < 0 ||
			 put_ext_common(out, p) < 0))
		return -1;
	return buf_putc(out, ')');
}

int mime_envelope(const struct mime_msg *m, struct buf *out)
{
	return mime_put_envelope(m, m->root, out);
}

int mime_bodystructure(const struct mime_msg *m, int extended, struct buf *out)
{
	return mime_put_body(m, m->root, extended, out);
}
