/*
 * Form bodies and client-address matching: see form.h.  Everything here
 * reads bytes a browser (or anyone) sent; every length is bounded before
 * it is used.
 */
#include <arpa/inet.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "form.h"
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

int form_parse(struct form *f, const char *body, size_t len, const char **why)
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
	form_free(f);
	return -1;
}

void form_free(struct form *f)
{
	free(f->mem);
	memset(f, 0, sizeof(*f));
}

const char *form_get(const struct form *f, const char *name)
{
	for (size_t i = 0; i < f->n; i++)
		if (strcmp(f->f[i].name, name) == 0)
			return f->f[i].value;
	return NULL;
}

/* Parses ip into 16 bytes (IPv4 as ::ffff:a.b.c.d); returns 0 or -1. */
static int ip16(const char *ip, unsigned char out[16], int *is4)
{
	struct in_addr a4;

	if (inet_pton(AF_INET, ip, &a4) == 1) {
		memset(out, 0, 10);
		out[10] = out[11] = 0xff;
		memcpy(out + 12, &a4, 4);
		*is4 = 1;
		return 0;
	}
	if (inet_pton(AF_INET6, ip, out) == 1) {
		static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
		*is4 = memcmp(out, mapped, 12) == 0;
		return 0;
	}
	return -1;
}

static int prefix_match(const unsigned char *a, const unsigned char *b, unsigned bits)
{
	unsigned full = bits / 8, rest = bits % 8;

	if (memcmp(a, b, full) != 0)
		return 0;
	if (rest) {
		unsigned char mask = (unsigned char)(0xff << (8 - rest));
		if ((a[full] & mask) != (b[full] & mask))
			return 0;
	}
	return 1;
}

int form_ip_in_nets(const char *ip, const char *nets)
{
	unsigned char addr[16], net[16];
	int is4, net4, found = 0;
	const char *p;

	if (!nets)
		nets = FORM_LOCAL_NETS;
	if (ip16(ip, addr, &is4) < 0)
		return 0;
	for (p = nets; *p;) {
		char item[64], *slash;
		size_t n = 0;
		unsigned bits;

		while (*p == ' ' || *p == ',' || *p == '\t')
			p++;
		if (!*p)
			break;
		while (p[n] && p[n] != ' ' && p[n] != ',' && p[n] != '\t')
			n++;
		if (n >= sizeof(item))
			return -1;
		memcpy(item, p, n);
		item[n] = '\0';
		p += n;
		slash = strchr(item, '/');
		if (!slash)
			return -1;
		*slash = '\0';
		if (ip16(item, net, &net4) < 0)
			return -1;
		if (strnum_uint(slash + 1, net4 ? 32 : 128, &bits) < 0)
			return -1;
		if (net4)
			bits += 96;
		if (net4 == is4 && prefix_match(addr, net, bits))
			found = 1;
	}
	return found;
}
