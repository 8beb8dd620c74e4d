#include "sasl.h"

#include <stdint.h>
#include <string.h>
#include <strings.h>

static int b64_val(unsigned char ch)
{
	if (ch >= 'A' && ch <= 'Z')
		return ch - 'A';
	if (ch >= 'a' && ch <= 'z')
		return ch - 'a' + 26;
	if (ch >= '0' && ch <= '9')
		return ch - '0' + 52;
	if (ch == '+')
		return 62;
	if (ch == '/')
		return 63;
	return -1;
}

long sasl_b64_decode(const char *in, size_t len, unsigned char *out, size_t outmax)
{
	size_t o = 0;

	if (len % 4 != 0)
		return -1;
	for (size_t i = 0; i < len; i += 4) {
		int v[4], pad = 0;
		for (int k = 0; k < 4; k++) {
			unsigned char ch = (unsigned char)in[i + k];
			if (ch == '=' && i + 4 == len && k >= 2) {
				v[k] = 0;
				pad++;
				continue;
			}
			if (pad) /* data after '=' */
				return -1;
			v[k] = b64_val(ch);
			if (v[k] < 0)
				return -1;
		}
		uint32_t w = (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 | (uint32_t)v[2] << 6 |
			     (uint32_t)v[3];
		size_t n = 3 - (size_t)pad;
		/* non-canonical encodings: the padding bits must be zero */
		if ((pad == 1 && (w & 0xff)) || (pad == 2 && (w & 0xffff)))
			return -1;
		if (o + n > outmax)
			return -1;
		out[o++] = (unsigned char)(w >> 16);
		if (n > 1)
			out[o++] = (unsigned char)(w >> 8);
		if (n > 2)
			out[o++] = (unsigned char)w;
	}
	return (long)o;
}

long sasl_b64_encode(const void *data, size_t len, char *out, size_t outlen)
{
	static const char tab[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	const unsigned char *in = data;
	size_t need = (len + 2) / 3 * 4, o = 0;

	if (need + 1 > outlen)
		return -1;
	for (size_t i = 0; i < len; i += 3) {
		uint32_t n = (uint32_t)in[i] << 16;
		if (i + 1 < len)
			n |= (uint32_t)in[i + 1] << 8;
		if (i + 2 < len)
			n |= in[i + 2];
		out[o++] = tab[(n >> 18) & 63];
		out[o++] = tab[(n >> 12) & 63];
		out[o++] = i + 1 < len ? tab[(n >> 6) & 63] : '=';
		out[o++] = i + 2 < len ? tab[n & 63] : '=';
	}
	out[o] = '\0';
	return (long)o;
}

int sasl_plain_split(char *msg, size_t len, const char **user, const char **pass)
{
	char *nul1 = memchr(msg, '\0', len);
	if (!nul1)
		return -1;
	size_t zlen = (size_t)(nul1 - msg);
	char *authc = nul1 + 1;
	size_t rest = len - zlen - 1;
	char *nul2 = memchr(authc, '\0', rest);
	if (!nul2)
		return -1;
	size_t clen = (size_t)(nul2 - authc);
	char *pw = nul2 + 1;
	size_t plen = rest - clen - 1;
	if (clen == 0 || plen == 0 || memchr(pw, '\0', plen))
		return -1;
	msg[len] = '\0';
	if (zlen && (zlen != clen || strncasecmp(msg, authc, clen) != 0))
		return SASL_AUTHZ_OTHER;
	*user = authc;
	*pass = pw;
	return 0;
}
