/* The SMTP client's reply parser under arbitrary server output: lines from
 * the line reader, replies completed, EHLO keywords read from each.  The
 * text must stay NUL-terminated inside its bound. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "linereader.h"
#include "smtp_reply.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct linereader lr;
	struct lr_line line;
	struct smtp_reply r;
	size_t pos = 0;
	uint64_t sz;

	lr_init(&lr, SMTP_REPLY_MAXLINE);
	smtp_reply_reset(&r);
	while (pos < size) {
		size_t k = lr_feed(&lr, data + pos, size - pos);
		int g;
		pos += k;
		while ((g = lr_next(&lr, &line)) != LR_NEED) {
			if (g == LR_TOOLONG)
				continue;
			int res = smtp_reply_line(&r, line.data, line.len);
			if (r.textlen >= sizeof(r.text) || r.text[r.textlen] != '\0')
				abort();
			if (res == SMTP_REPLY_BAD) {
				smtp_reply_reset(&r);
			} else if (res == SMTP_REPLY_DONE) {
				if (r.code < 200 || r.code > 599)
					abort();
				(void)smtp_reply_ehlo(&r, &sz);
				smtp_reply_reset(&r);
			}
		}
	}
	lr_free(&lr);
	return 0;
}
