/* lib/mail/mime7, the multipart 8-bit to 7-bit downgrade, on arbitrary
 * bodies: the first input byte picks the chunk size and whether the body
 * is a multipart (boundary "b") or an attached message.  A success must
 * give 7-bit output only, and the same output fed in other chunks. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mime7.h"

static int run(const uint8_t *d, size_t n, size_t step, const char *b, struct buf *out)
{
	struct mime7 *m = mime7_new(b);
	int rc = 0;

	if (!m)
		abort();
	for (size_t i = 0; i < n && rc == 0; i += step)
		rc = mime7_feed(m, (const char *)d + i, n - i < step ? n - i : step, out);
	if (rc == 0)
		rc = mime7_finish(m, out);
	if (rc < 0 && !mime7_error(m)[0])
		abort(); /* a failure says why */
	mime7_free(m);
	return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct buf a, c;
	size_t step;
	const char *b;

	if (size < 1)
		return 0;
	step = (size_t)(data[0] & 0x3f) + 1;
	b = (data[0] & 0x40) ? NULL : "b";
	data++;
	size--;
	buf_init(&a, 8 * 1024 * 1024);
	buf_init(&c, 8 * 1024 * 1024);
	int ra = run(data, size, size ? size : 1, b, &a);
	int rc = run(data, size, step, b, &c);
	if (ra != rc ||
	    (ra == 0 && (a.len != c.len || (a.len && memcmp(a.data, c.data, a.len) != 0))))
		abort(); /* chunking changed the result */
	if (ra == 0)
		for (size_t i = 0; i < a.len; i++)
			if ((unsigned char)a.data[i] >= 0x80)
				abort(); /* 8-bit output */
	buf_free(&a);
	buf_free(&c);
	return 0;
}
