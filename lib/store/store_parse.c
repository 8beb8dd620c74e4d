/*
 * Parsing a message for the store, with no store handle: the structure
 * IMAP's FETCH reads and the texts the search index holds.  Kept apart
 * from store_deliver.c because the FTS5 tokenizer (store_fts.c), which
 * store_open registers on every handle, reads its texts from here: this
 * file and store_fts.c call nothing in store.c, so the room has no loop.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "buf.h"
#include "mime.h"
#include "store_internal.h"
#include "utf8.h"

/* --- parsing at delivery ------------------------------------------------ */

const char *const store_index_fields[5] = {"subject", "from", "to", "cc", "bcc"};

void store_parse_free(struct parsed *p)
{
	buf_free(&p->env);
	buf_free(&p->bs);
	buf_free(&p->body);
	buf_free(&p->sect);
	buf_free(&p->text);
	buf_free(&p->header);
	for (int i = 0; i < 5; i++)
		buf_free(&p->hdr[i]);
}

/* Appends the unfolded value of every header field called name in the top
 * header block of data to out, decoded (RFC 2047), fields separated by a
 * space; for an address field (addr), each address follows once more as
 * "name mailbox@host" (mime_address_text), so a search for the address
 * finds it whatever comments and spaces the header put inside it.
 * Bounded by HDRSCAN_MAX and HDRFIELD_MAX; returns 0 or -1. */
int store_header_field(const char *data, size_t len, const char *name, int addr, struct buf *out)
{
	size_t nlen = strlen(name), i = 0;
	struct buf raw, addrs;
	int rc = 0;

	if (len > HDRSCAN_MAX)
		len = HDRSCAN_MAX;
	buf_init(&raw, HDRFIELD_MAX);
	buf_init(&addrs, HDRFIELD_MAX);
	while (i < len) {
		size_t eol = i;
		int match;

		while (eol < len && data[eol] != '\n')
			eol++;
		/* a blank line ends the header block */
		if (eol == i || (eol == i + 1 && data[i] == '\r'))
			break;
		match = eol - i > nlen && strncasecmp(data + i, name, nlen) == 0 &&
			data[i + nlen] == ':';
		if (match) {
			size_t v = i + nlen + 1;

			buf_reset(&raw);
			for (;;) {
				size_t e = eol;

				if (e > v && data[e - 1] == '\r')
					e--;
				if (raw.len == 0 && out->len > 0)
					buf_putc(&raw, ' ');
				/* over-long: keep what fits */
				buf_append(&raw, data + v, e - v);
				if (eol + 1 >= len ||
				    (data[eol + 1] != ' ' && data[eol + 1] != '\t'))
					break;
				v = eol + 1;
				eol = v;
				while (eol < len && data[eol] != '\n')
					eol++;
			}
			/* folding whitespace searches as a space */
			for (size_t k = 0; k < raw.len; k++)
				if (raw.data[k] == '\t')
					raw.data[k] = ' ';
			if (mime_decode_header(raw.data ? raw.data : "", raw.len, out) < 0)
				rc = -1;
			/* an over-long list: keep the addresses that fit */
			if (addr)
				mime_address_text(buf_cstr(&raw), raw.len, &addrs);
		}
		i = eol + 1;
	}
	if (addrs.len && (buf_puts(out, " \n") < 0 || buf_append(out, addrs.data, addrs.len) < 0))
		rc = -1;
	buf_free(&raw);
	buf_free(&addrs);
	return rc;
}

size_t store_header_extent(const char *data, size_t n)
{
	size_t i = 0;

	if (n > HDRSCAN_MAX)
		n = HDRSCAN_MAX;
	while (i < n) {
		const char *lf = memchr(data + i, '\n', n - i);
		size_t eol = lf ? (size_t)(lf - data) : n;

		/* the same empty line header_field stops at */
		if (eol == i || (eol == i + 1 && data[i] == '\r'))
			return eol < n ? eol + 1 : n;
		i = eol + 1;
	}
	return n;
}

/* Appends the top header block of data (at most hs bytes, bounded by
 * HDRSCAN_MAX) unfolded and decoded (RFC 2047) to out, a line per
 * field, for SEARCH TEXT.  Best effort: what does not fit is left out. */
void store_header_text(const char *data, size_t hs, struct buf *out)
{
	struct buf unf;

	if (hs > HDRSCAN_MAX)
		hs = HDRSCAN_MAX;
	buf_init(&unf, HDRSCAN_MAX);
	for (size_t i = 0; i < hs; i++) {
		char c = data[i];
		if (c == '\r')
			continue;
		/* folding: the line break goes, the whitespace stays */
		if (c == '\n' && i + 1 < hs && (data[i + 1] == ' ' || data[i + 1] == '\t'))
			continue;
		buf_putc(&unf, c == '\t' ? ' ' : c);
	}
	mime_decode_header(buf_cstr(&unf), unf.len, out);
	buf_free(&unf);
}

/* Fills *p (free with parsed_free, also on failure) with what asks for (a
 * deferred index parses again later, for its text alone).  Touches no
 * handle, so any thread may call it.  Returns NULL, or the reason it
 * failed. */
const char *store_parse_core(const char *data, size_t len, enum parse_what what, struct parsed *p)
{
	struct mime_msg *m = NULL;

	memset(p, 0, sizeof(*p));
	buf_init(&p->env, STRUCT_MAX);
	buf_init(&p->bs, STRUCT_MAX);
	buf_init(&p->body, STRUCT_MAX);
	buf_init(&p->sect, STRUCT_MAX);
	buf_init(&p->text, TEXT_MAX);
	buf_init(&p->header, HDRSCAN_MAX);
	for (int i = 0; i < 5; i++)
		buf_init(&p->hdr[i], HDRFIELD_MAX);
	if (mime_parse(data, len, NULL, &m) < 0)
		return "out of memory parsing the message";
	if ((what & PARSE_STRUCT) &&
	    (mime_envelope(m, &p->env) < 0 || mime_bodystructure(m, 1, &p->bs) < 0 ||
	     mime_bodystructure(m, 0, &p->body) < 0 || mime_sections_encode(m, &p->sect) < 0)) {
		mime_free(m);
		return "message structure too large";
	}
	/* The index text is best effort: a truncated index is better than a
	 * refused message. */
	if (what & (PARSE_INDEX | PARSE_TEXT))
		mime_search_text(m, &p->text);
	p->header_size = mime_header_size(m);
	p->mflags = mime_flags(m);
	mime_free(m);
	if (what & PARSE_INDEX) {
		for (int i = 0; i < 5; i++)
			store_header_field(data, len, store_index_fields[i], i > 0, &p->hdr[i]);
		/* to the empty line, as header_field reads, so that a search
		 * can match the header block from the message's first bytes
		 * alone (store_scan_header) */
		store_header_text(data, store_header_extent(data, len), &p->header);
	}
	if (what & PARSE_STRUCT) {
		for (size_t i = 0; i < len; i++)
			if (data[i] == '\n')
				p->lines++;
		if (len > 0 && data[len - 1] != '\n')
			p->lines++;
	}
	return NULL;
}

int store_index_texts(struct store *st, const char *data, size_t len,
		      void (*fn)(void *arg, const char *s, size_t n, int body), void *arg)
{
	const struct parsed *p = st->index_hint;
	struct parsed own;

	/* the hint is for these very bytes only */
	if (p && (st->index_hint_len != len || memcmp(st->index_hint_data, data, len) != 0))
		p = NULL;
	if (!p) {
		if (store_parse_core(data, len, PARSE_INDEX, &own)) {
			/* cannot be parsed (out of memory): no text, and no
			 * search finds it (store_scan_match) */
			store_parse_free(&own);
			return -1;
		}
		p = &own;
	}
	fn(arg, p->header.data ? p->header.data : "", p->header.len, 0);
	for (int i = 0; i < 5; i++)
		fn(arg, p->hdr[i].data ? p->hdr[i].data : "", p->hdr[i].len, 0);
	fn(arg, p->text.data ? p->text.data : "", p->text.len, 1);
	if (p == &own)
		store_parse_free(&own);
	return 0;
}
