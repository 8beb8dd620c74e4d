/* The line reader under arbitrary input and arbitrary chunking: the first
 * byte picks the limit, the second the chunk size.  Every line handed out
 * must respect the limit and the reader must never hold more than 2*max. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "linereader.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct linereader lr;
	struct lr_line line;
	size_t maxline, chunk, pos = 2;

	if (size < 2)
		return 0;
	maxline = 2 + data[0];
	chunk = 1 + data[1] % 64;
	lr_init(&lr, maxline);
	while (pos < size) {
		size_t n = size - pos < chunk ? size - pos : chunk;
		while (n > 0) {
			size_t k = lr_feed(&lr, data + pos, n);
			pos += k;
			n -= k;
			int r;
			while ((r = lr_next(&lr, &line)) != LR_NEED) {
				if (r == LR_LINE && line.len + 1 + (size_t)line.crlf > maxline)
					abort();
				if (r == LR_LINE && memchr(line.data, '\n', line.len))
					abort();
			}
			if (lr.in.len > 2 * maxline)
				abort();
		}
	}
	lr_free(&lr);
	return 0;
}
