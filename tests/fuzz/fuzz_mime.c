/*
 * libFuzzer target for lib/mime: parse, ENVELOPE, BODY and BODYSTRUCTURE,
 * the section table (encoded, looked up with paths, and corrupted), search
 * text, header decoding and address lists as the search index reads them,
 * and the RFC 6857 header downgrade (lib/mail/downgrade: a flagged header
 * must come out 7-bit and parse again).  The first byte picks
 * tight or default limits so both the limit paths and the deep paths are reached.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "downgrade.h"
#include "mime.h"

static const char *const paths[] = {"",	   "1",	    "2",     "3",   "1.1",     "1.2", "2.1",
				    "2.2", "1.1.1", "1.2.1", "3.1", "2.1.1.1", "10",  "1.1.1.1.1"};

static void check_section(const struct mime_section *s, size_t len)
{
	/* every offset must lie inside the message */
	if (s->hdr_off + s->hdr_len > len || s->body_off + s->body_len > len ||
	    s->msg_hdr_off + s->msg_hdr_len > len || s->msg_body_off + s->msg_body_len > len)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mime_limits lim;
	struct mime_msg *m;
	struct buf out, tbl;
	struct mime_section s;
	const char *d;
	size_t len, i;
	int bad;

	if (size < 1)
		return 0;
	mime_limits_default(&lim);
	if (data[0] & 1) {
		lim.max_depth = 3;
		lim.max_parts = 8;
		lim.max_headers = 8;
		lim.max_header_len = 64;
		lim.max_search_text = 100;
	}
	d = (const char *)data + 1;
	len = size - 1;
	if (mime_parse(d, len, &lim, &m) < 0)
		return 0;
	buf_init(&out, 16u << 20);
	buf_init(&tbl, 16u << 20);
	mime_envelope(m, &out);
	buf_reset(&out);
	mime_bodystructure(m, 0, &out);
	buf_reset(&out);
	mime_bodystructure(m, 1, &out);
	buf_reset(&out);
	mime_search_text(m, &out);
	if (out.len > lim.max_search_text)
		abort();
	/* the whole input as an address list, as the search index reads
	 * From/To/Cc/Bcc; a small buffer so the full-buffer paths run too */
	{
		struct buf ab;
		buf_init(&ab, data[0] & 2 ? 64 : 1u << 20);
		mime_address_text(d, len, &ab);
		if (ab.len > ab.max)
			abort();
		buf_free(&ab);
	}
	(void)mime_lines(m);
	if (mime_flags(m) & MIME_F_UTF8_HEADER) {
		/* the downgrade: every byte of the top-level header block of
		 * the result is 7-bit when the original's needed it, and the
		 * result parses */
		struct buf dg;
		struct mime_msg *m2;
		size_t hs = mime_header_size(m);
		int top = hs <= len && downgrade_needed(d, hs);
		buf_init(&dg, 64u << 20);
		if (mime_downgrade(m, &dg) == 0 &&
		    mime_parse(dg.data ? dg.data : "", dg.len, &lim, &m2) == 0) {
			size_t hs2 = mime_header_size(m2);
			if (hs2 > dg.len)
				abort();
			for (i = 0; top && i < hs2; i++)
				if ((unsigned char)dg.data[i] >= 0x80)
					abort();
			mime_free(m2);
		}
		buf_free(&dg);
	}
	if (mime_sections_encode(m, &tbl) == 0) {
		for (i = 0; i < sizeof(paths) / sizeof(paths[0]); i++)
			if (mime_section_find(tbl.data, tbl.len, paths[i], &s) == 0)
				check_section(&s, len);
		if (mime_section_find(tbl.data, tbl.len, "", &s) != 0)
			abort(); /* the whole message always exists */
		/* a corrupted table must be refused, never read out of bounds */
		if (tbl.len > 0) {
			tbl.data[(data[0] >> 1) % tbl.len] ^= 0x5a;
			for (i = 0; i < sizeof(paths) / sizeof(paths[0]); i++)
				if (mime_section_find(tbl.data, tbl.len, paths[i], &s) == 0)
					abort();
			mime_section_find(tbl.data, tbl.len / 2, "1", &s);
		}
	}
	mime_free(m);
	buf_reset(&out);
	mime_decode_header(d, len, &out);
	buf_reset(&out);
	mime_decode_base64(d, len, &out, &bad);
	buf_reset(&out);
	mime_decode_qp(d, len, &out, &bad);
	buf_free(&out);
	buf_free(&tbl);
	return 0;
}
