/*
 * Form bodies and client-address matching: see form.h.  Everything here
 * reads bytes a browser (or anyone) sent; every length is bounded before
 * it is used.
 */
#include <arpa/inet.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "form.h"
#include "net.h"
#include "strnum.h"
#include "utf8.h"

static int hexval(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Decodes s[0..n) into out (room for n + 1); returns the decoded length or
 * -1 on a bad escape. */
static long decode(const char *s, size_t n, char *out)
{
	size_t o = 0;

	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '+') {
			out[o++] = ' ';
		} else if (c == '%') {
			int hi, lo;

			if (i + 2 >= n)
				return -1;
			hi = hexval((unsigned char)s[i + 1]);
			lo = hexval((unsigned char)s[i + 2]);
			if (hi < 0 || lo < 0)
				return -1;
			out[o++] = (char)(hi * 16 + lo);
			i += 2;
		} else {
			out[o++] = (char)c;
		}
	}
	out[o] = '\0';
	return (long)o;
}

static int name_ok(const char *s, size_t n)
{
	if (n == 0 || n > FORM_MAX_NAME)
		return 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '_' || c == '.' || c == '-'))
			return 0;
	}
	return 1;
}

static int value_ok(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if ((c < 0x20 && c != '\t' && c != '\r' && c != '\n') || c == 0x7f)
			return 0;
	}
	return utf8_valid(s, n);
}

int admin_form_parse(struct form *f, const char *body, size_t len, const char **why)
{
	size_t i = 0, o = 0;

	memset(f, 0, sizeof(*f));
	if (len > FORM_MAX_BODY) {
		*why = "form too long";
		return -1;
	}
	/* decoded text never grows: len + one NUL per name and value */
	f->mem = malloc(len + 2 * FORM_MAX_FIELDS + 2);
	if (!f->mem) {
		*why = "out of memory";
		return -1;
	}
	while (i < len) {
		size_t end = i, eq;
		long nl, vl;

		while (end < len && body[end] != '&')
			end++;
		if (end == i) { /* "a=1&&b=2": an empty piece, skipped as browsers do */
			i++;
			continue;
		}
		if (f->n == FORM_MAX_FIELDS) {
			*why = "too many fields";
			goto bad;
		}
		for (eq = i; eq < end && body[eq] != '='; eq++)
			;
		char *name = f->mem + o;
		nl = decode(body + i, eq - i, name);
		if (nl < 0) {
			*why = "bad %-escape";
			goto bad;
		}
		if (!name_ok(name, (size_t)nl)) {
			*why = "bad field name";
			goto bad;
		}
		o += (size_t)nl + 1;
		char *value = f->mem + o;
		vl = eq < end ? decode(body + eq + 1, end - eq - 1, value) : (value[0] = '\0', 0);
		if (vl < 0) {
			*why = "bad %-escape";
			goto bad;
		}
		if (!value_ok(value, (size_t)vl)) {
			*why = "bad characters in a field";
			goto bad;
		}
		o += (size_t)vl + 1;
		f->f[f->n].name = name;
		f->f[f->n].value = value;
		f->f[f->n].value_len = (size_t)vl;
		f->n++;
		i = end < len ? end + 1 : end;
	}
	return 0;
bad:
	admin_form_free(f);
	return -1;
}

void admin_form_free(struct form *f)
{
	free(f->mem);
	memset(f, 0, sizeof(*f));
}

const char *admin_form_get(const struct form *f, const char *name)
{
	for (size_t i = 0; i < f->n; i++)
		if (strcmp(f->f[i].name, name) == 0)
			return f->f[i].value;
	return NULL;
}

int admin_form_ip_in_nets(const char *ip, const char *nets)
{
	return net_ip_in_nets(ip, nets ? nets : FORM_LOCAL_NETS);
}

/* The boundary parameter of a multipart Content-Type into out (room for
 * 71).  Returns its length or -1. */
static int boundary_of(const char *ctype, char *out)
{
	const char *p;
	size_t n = 0;

	if (!ctype || strncasecmp(ctype, "multipart/form-data", 19) != 0)
		return -1;
	p = strcasestr(ctype, "boundary=");
	if (!p)
		return -1;
	p += 9;
	if (*p == '"') {
		p++;
		while (p[n] && p[n] != '"')
			n++;
		if (p[n] != '"')
			return -1;
	} else {
		while (p[n] && p[n] != ';' && p[n] != ' ' && p[n] != '\t')
			n++;
	}
	if (n == 0 || n > 70)
		return -1;
	memcpy(out, p, n);
	out[n] = '\0';
	return (int)n;
}

/* 1 when the part headers head[0..n) say form-data with name="name". */
static int part_named(const char *head, size_t n, const char *name)
{
	char want[FORM_MAX_NAME + 16];
	size_t wl;

	if (strlen(name) > FORM_MAX_NAME)
		return 0;
	wl = (size_t)snprintf(want, sizeof(want), "name=\"%s\"", name);
	for (size_t i = 0; i + wl <= n; i++) {
		/* a whole parameter, not the tail of filename="..." */
		if (memcmp(head + i, want, wl) == 0 &&
		    (i == 0 || head[i - 1] == ' ' || head[i - 1] == ';'))
			return 1;
	}
	return 0;
}

int admin_form_multipart_part(const char *ctype, const char *body, size_t len, const char *name,
			      const char **data, size_t *dlen, const char **why)
{
	char b[71], delim[76];
	int bl = boundary_of(ctype, b);
	size_t dl, pos;
	const char *p;

	if (bl < 0) {
		*why = "no multipart boundary";
		return -1;
	}
	dl = (size_t)snprintf(delim, sizeof(delim), "\r\n--%s", b);
	/* the first delimiter may open the body without the CRLF */
	if (len >= dl - 2 && memcmp(body, delim + 2, dl - 2) == 0) {
		pos = dl - 2;
	} else {
		p = memmem(body, len, delim, dl);
		if (!p) {
			*why = "malformed multipart body";
			return -1;
		}
		pos = (size_t)(p - body) + dl;
	}
	for (;;) {
		const char *head, *hend, *next;
		size_t left;

		if (len - pos >= 2 && body[pos] == '-' && body[pos + 1] == '-')
			break; /* the closing delimiter */
		if (len - pos < 2 || body[pos] != '\r' || body[pos + 1] != '\n') {
			*why = "malformed multipart body";
			return -1;
		}
		pos += 2;
		head = body + pos;
		left = len - pos;
		hend = memmem(head, left < FORM_MAX_PART_HEAD ? left : FORM_MAX_PART_HEAD,
			      "\r\n\r\n", 4);
		if (!hend) {
			*why = left < FORM_MAX_PART_HEAD ? "malformed multipart body"
							 : "multipart headers too long";
			return -1;
		}
		pos += (size_t)(hend - head) + 4;
		next = memmem(body + pos, len - pos, delim, dl);
		if (!next) {
			*why = "multipart body cut short";
			return -1;
		}
		if (part_named(head, (size_t)(hend - head), name)) {
			*data = body + pos;
			*dlen = (size_t)(next - (body + pos));
			return 0;
		}
		pos = (size_t)(next - body) + dl;
	}
	*why = "no such part";
	return -1;
}

int admin_form_xml_text(const char *body, size_t len, const char *tag, char *out, size_t n)
{
	char open[80], close[82];
	size_t ol, cl;
	const char *p, *e;

	if (strlen(tag) > 64 || n == 0)
		return -1;
	ol = (size_t)snprintf(open, sizeof(open), "<%s>", tag);
	cl = (size_t)snprintf(close, sizeof(close), "</%s>", tag);
	p = memmem(body, len, open, ol);
	if (!p)
		return -1;
	p += ol;
	e = memmem(p, len - (size_t)(p - body), close, cl);
	if (!e || e == p || (size_t)(e - p) >= n || memchr(p, '<', (size_t)(e - p)) ||
	    memchr(p, '\0', (size_t)(e - p)))
		return -1;
	memcpy(out, p, (size_t)(e - p));
	out[e - p] = '\0';
	return 0;
}
