/* lib/mail/qp: quoted-printable encoding, fed whole and byte by byte,
 * decoded back with the MIME module's decoder. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "mime.h"
#include "qp.h"
#include "tap.h"

static char *enc(const char *in, size_t n, size_t chunk, size_t *outlen)
{
	struct qp_enc q;
	char *out = malloc(QP_MAX_OUT(n) + 16);
	size_t o = 0;

	qp_init(&q);
	for (size_t i = 0; i < n; i += chunk)
		o += qp_encode(&q, in + i, n - i < chunk ? n - i : chunk, out + o);
	o += qp_finish(&q, out + o);
	out[o] = 0;
	*outlen = o;
	return out;
}

static int lines_ok(const char *s)
{
	/* every line at most 76, only 7-bit printable, no trailing space */
	const char *p = s;
	while (*p) {
		const char *e = strstr(p, "\r\n");
		size_t l = e ? (size_t)(e - p) : strlen(p);
		if (l > 76)
			return 0;
		for (size_t i = 0; i < l; i++)
			if ((unsigned char)p[i] > 126 || ((unsigned char)p[i] < 32 && p[i] != '\t'))
				return 0;
		if (l && (p[l - 1] == ' ' || p[l - 1] == '\t'))
			return 0;
		p += l + (e ? 2 : 0);
		if (!e)
			break;
	}
	return 1;
}

static void roundtrip(const char *in, size_t n, const char *what)
{
	int all = 1;

	for (size_t chunk = 1; chunk <= n + 1; chunk = chunk < 8 ? chunk + 1 : chunk * 3) {
		size_t ol;
		char *e = enc(in, n, chunk, &ol);
		struct buf b;
		int bad = 0;
		buf_init(&b, 1 << 20);
		mime_decode_qp(e, ol, &b, &bad);
		/* the decoder gives CRLF line ends; compare with the input's */
		all &= lines_ok(e) && !bad && b.len == n && memcmp(b.data, in, n) == 0;
		buf_free(&b);
		free(e);
	}
	ok(all, what);
}

int main(void)
{
	size_t ol;
	char *e = enc("Gr\xc3\xbc\xc3\x9f"
		      "e =\r\n",
		      11, 1, &ol);
	ok(strcmp(e, "Gr=C3=BC=C3=9Fe =3D\r\n") == 0, "8-bit and '=' encoded, inner space kept");
	free(e);
	e = enc("a \r\nb\t\n", 7, 1, &ol);
	ok(strcmp(e, "a=20\r\nb=09\r\n") == 0, "whitespace before a line end encoded");
	free(e);
	roundtrip("plain ascii\r\nline two\r\n", 24, "ASCII round trip");
	roundtrip("tab\t\r\nspace \r\n", 14, "trailing whitespace round trip");
	roundtrip("lone\rcr\r\n", 9, "lone CR round trip");
	char longl[400];
	for (int i = 0; i < 399; i++)
		longl[i] = (char)(i % 3 == 0 ? 0xe9 : 'a' + i % 26);
	longl[399] = 0;
	roundtrip(longl, 399, "long 8-bit line: soft breaks at 76");
	roundtrip("ends without newline \xff", 22, "no final line end");
	return tap_done();
}
