/* libFuzzer target for smtpd/data.c: the DATA/BDAT reader.  The first byte
 * picks mode and split size; the same input fed whole and in pieces must
 * give the same body, flags and end position. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../smtpd/data.h"

static size_t run(const uint8_t *p, size_t n, size_t step, int raw, struct buf *out,
		  unsigned *flags, int *ended)
{
	struct smtp_data d;
	size_t off = 0, used;

	smtp_data_init(&d, out, 100, raw);
	*ended = 0;
	while (off < n) {
		size_t k = n - off < step ? n - off : step;
		if (smtp_data_feed(&d, (const char *)p + off, k, &used)) {
			off += used;
			*ended = 1;
			break;
		}
		if (used != k)
			abort();
		off += k;
	}
	*flags = raw ? smtp_data_finish(&d) : smtp_data_flags(&d);
	if (d.total < out->len)
		abort();
	return off;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct buf a, b;
	unsigned fa, fb;
	int ea, eb;
	size_t ua, ub;

	if (size < 1)
		return 0;
	int raw = data[0] & 1;
	size_t step = (size_t)(data[0] >> 1) % 17 + 1;
	data++, size--;
	buf_init(&a, 4096);
	buf_init(&b, 4096);
	ua = run(data, size, size ? size : 1, raw, &a, &fa, &ea);
	ub = run(data, size, step, raw, &b, &fb, &eb);
	if (ua != ub || fa != fb || ea != eb || a.len != b.len ||
	    (a.len && memcmp(a.data, b.data, a.len) != 0))
		abort();
	/* an end is only ever CRLF.CRLF, and never in raw mode */
	if (ea && (raw || ua < 3 || memcmp(data + ua - 3, ".\r\n", 3) != 0))
		abort();
	buf_free(&a);
	buf_free(&b);
	return 0;
}
