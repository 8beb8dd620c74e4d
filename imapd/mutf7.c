/* Modified UTF-7 <-> UTF-8 for IMAP mailbox names. */
#include "mutf7.h"
#include "utf8.h"

#include <stdint.h>
#include <string.h>

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,";

static int b64val(unsigned char c)
{
	const char *p;

	if (c == 0)
		return -1;
	p = strchr(b64, c);
	return p ? (int)(p - b64) : -1;
}

int mutf7_name_valid(const char *s, size_t len)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t i = 0;

	while (i < len) {
		uint32_t cp;
		size_t k = utf8_decode(u + i, len - i, &cp);
		if (k == 0 || cp < 0x20 || cp == 0x7f)
			return 0;
		i += k;
	}
	return 1;
}

int mutf7_decode(const char *in, size_t len, struct buf *out)
{
	size_t i = 0;

	while (i < len) {
		unsigned char c = (unsigned char)in[i];
		if (c < 0x20 || c > 0x7e)
			return -1;
		if (c != '&') {
			if (buf_putc(out, (char)c) < 0)
				return -1;
			i++;
			continue;
		}
		i++;
		if (i < len && in[i] == '-') {
			if (buf_putc(out, '&') < 0)
				return -1;
			i++;
			continue;
		}
		/* a base64 run of UTF-16BE, ended by '-' */
		uint32_t bits = 0, hi = 0;
		int nbits = 0, units = 0;
		for (;;) {
			if (i >= len)
				return -1;
			c = (unsigned char)in[i++];
			if (c == '-')
				break;
			int v = b64val(c);
			if (v < 0)
				return -1;
			bits = (bits << 6) | (uint32_t)v;
			nbits += 6;
			if (nbits >= 16) {
				uint32_t u = (bits >> (nbits - 16)) & 0xffff;
				nbits -= 16;
				bits &= (1u << nbits) - 1;
				units++;
				if (hi) {
					if (u < 0xdc00 || u > 0xdfff)
						return -1;
					if (utf8_put(out, 0x10000 + ((hi - 0xd800) << 10) +
							      (u - 0xdc00)) < 0)
						return -1;
					hi = 0;
				} else if (u >= 0xd800 && u <= 0xdbff) {
					hi = u;
				} else if (u >= 0xdc00 && u <= 0xdfff) {
					return -1;
				} else if (u >= 0x20 && u <= 0x7e) {
					return -1; /* printable ASCII must be itself */
				} else if (utf8_put(out, u) < 0) {
					return -1;
				}
			}
		}
		/* leftover bits must be few and zero; an empty shift is bad */
		if (hi || units == 0 || nbits >= 6 || bits != 0)
			return -1;
	}
	return 0;
}

static int flush_b64(struct buf *out, const uint16_t *u, size_t n)
{
	uint32_t bits = 0;
	int nbits = 0;

	if (buf_putc(out, '&') < 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		bits = (bits << 16) | u[i];
		nbits += 16;
		while (nbits >= 6) {
			nbits -= 6;
			if (buf_putc(out, b64[(bits >> nbits) & 0x3f]) < 0)
				return -1;
		}
		bits &= (1u << nbits) - 1;
	}
	if (nbits > 0 && buf_putc(out, b64[(bits << (6 - nbits)) & 0x3f]) < 0)
		return -1;
	return buf_putc(out, '-');
}

int mutf7_encode(const char *in, size_t len, struct buf *out)
{
	const unsigned char *s = (const unsigned char *)in;
	uint16_t units[512];
	size_t nu = 0, i = 0;

	while (i < len) {
		uint32_t cp;
		size_t k = utf8_decode(s + i, len - i, &cp);
		if (k == 0)
			return -1;
		i += k;
		if (cp >= 0x20 && cp <= 0x7e) {
			if (nu && flush_b64(out, units, nu) < 0)
				return -1;
			nu = 0;
			if (cp == '&' ? buf_puts(out, "&-") < 0 : buf_putc(out, (char)cp) < 0)
				return -1;
			continue;
		}
		if (nu + 2 > sizeof(units) / sizeof(units[0]))
			return -1;
		if (cp >= 0x10000) {
			cp -= 0x10000;
			units[nu++] = (uint16_t)(0xd800 + (cp >> 10));
			units[nu++] = (uint16_t)(0xdc00 + (cp & 0x3ff));
		} else {
			units[nu++] = (uint16_t)cp;
		}
	}
	if (nu && flush_b64(out, units, nu) < 0)
		return -1;
	return 0;
}
