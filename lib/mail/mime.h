#ifndef LOFT_MIME_H
#define LOFT_MIME_H
/*
 * The MIME parser (RFC 5322 headers, RFC 2045-2047).  It runs once per
 * message, at delivery, and produces everything IMAP needs later so that
 * FETCH never parses again: the ENVELOPE and BODY/BODYSTRUCTURE strings in
 * IMAP syntax, a compact table of section offsets, and the decoded text
 * that feeds the FTS5 search index.
 *
 * Hostile input is parsed leniently (a broken message is still stored and
 * readable) within hard limits; limits that were hit are reported in flags.
 */
#include <stddef.h>
#include <stdint.h>

#include "buf.h"

struct mime_limits {
	unsigned max_depth;	/* multipart / message nesting */
	unsigned max_parts;	/* parts in the whole message */
	unsigned max_headers;	/* header fields per header block */
	size_t max_header_len;	/* one unfolded header field */
	size_t max_search_text; /* bytes of decoded text for the index */
};

enum mime_flags {
	MIME_F_DEPTH = 1,	     /* nesting deeper than max_depth: flattened */
	MIME_F_PARTS = 2,	     /* more parts than max_parts: rest is opaque */
	MIME_F_HEADERS = 4,	     /* a header block had too many fields */
	MIME_F_HEADER_LONG = 8,	     /* a header field longer than allowed */
	MIME_F_NO_END_BOUNDARY = 16, /* a multipart's close-delimiter is missing */
	MIME_F_BAD_ENCODING = 32,    /* invalid base64/QP/encoded-word seen */
	MIME_F_NUL = 64,	     /* NUL bytes in the message */
	/* a header block (the message's, a part's, an attached message's)
	 * has 8-bit bytes, all of it valid UTF-8 (RFC 6532): IMAP clients
	 * without UTF8=ACCEPT get the message downgraded (RFC 6855 5,
	 * mime_downgrade) */
	MIME_F_UTF8_HEADER = 128,
	/* set by every parse since MIME_F_UTF8_HEADER exists: a stored row
	 * without it was parsed before, and its header must be looked at */
	MIME_F_HEADER_CHECKED = 256,
	/* a line end is a bare LF, or the message does not end with CRLF:
	 * its size with CRLF line ends (what POP3 RETR sends and counts) is
	 * not its stored size */
	MIME_F_NOT_CRLF = 512,
	/* set by every parse since MIME_F_NOT_CRLF exists (an older row
	 * does not say) */
	MIME_F_LINES_CHECKED = 1024,
};

struct mime_msg;

/* Fills lim with the defaults (depth 32, parts 2000, headers 1000,
 * header field 64 KiB, search text 1 MiB). */
void mime_limits_default(struct mime_limits *lim);

/* Parses data[0..len), which must stay valid while *out is used.
 * Returns 0 with *out set (free with mime_free), or -1 only when memory
 * ran out.  lim may be NULL for the defaults. */
int mime_parse(const char *data, size_t len, const struct mime_limits *lim, struct mime_msg **out);
void mime_free(struct mime_msg *m);
/* MIME_F_* bits for limits hit and damage seen. */
unsigned mime_flags(const struct mime_msg *m);

/* Appends the message with every internationalized header block (see
 * MIME_F_UTF8_HEADER) downgraded to 7-bit (lib/mail/downgrade.h, RFC 6857
 * 3) and everything else as it is.  Returns 0, or -1 when out is full. */
int mime_downgrade(const struct mime_msg *m, struct buf *out);

/* Appends the IMAP ENVELOPE "(date subject from sender reply-to to cc bcc
 * in-reply-to message-id)" of the top-level message.  Returns 0 or -1
 * when out is full. */
int mime_envelope(const struct mime_msg *m, struct buf *out);
/* Appends BODYSTRUCTURE (extended != 0) or BODY (extended == 0), without
 * the leading keyword.  Returns 0 or -1 when out is full. */
int mime_bodystructure(const struct mime_msg *m, int extended, struct buf *out);
/* Size of the top-level header block (blank line included), and the number
 * of lines in the whole message. */
size_t mime_header_size(const struct mime_msg *m);
/* Number of lines in the whole message (LFs, plus a last line without
 * one). */
size_t mime_lines(const struct mime_msg *m);

/* Appends a compact binary table of every part's offsets, to be stored next
 * to the message and read back with mime_section_find.  Returns 0 or -1. */
int mime_sections_encode(const struct mime_msg *m, struct buf *out);

struct mime_section {
	size_t hdr_off, hdr_len;   /* the part's MIME header block */
	size_t body_off, body_len; /* the part's body */
	/* for a message/rfc822 part, the encapsulated message's header and
	 * text (IMAP "1.HEADER", "1.TEXT"); otherwise zero */
	size_t msg_hdr_off, msg_hdr_len, msg_body_off, msg_body_len;
	int is_message;
	int encoding; /* enum mime_encoding of the part, for BINARY */
};

enum mime_encoding {
	MIME_ENC_7BIT,
	MIME_ENC_8BIT,
	MIME_ENC_BINARY,
	MIME_ENC_QP,
	MIME_ENC_BASE64,
	MIME_ENC_OTHER
};

/* Looks up an IMAP section part number such as "1.2.3" (digits and dots
 * only; "" is the whole message) in a table from mime_sections_encode.
 * Returns 0 with *out filled, -1 when there is no such part or the table is
 * corrupt (which is a bug).  Per RFC 3501 a non-multipart message has part
 * "1" = its body. */
int mime_section_find(const void *table, size_t tablelen, const char *part,
		      struct mime_section *out);

/* Appends decoded UTF-8 text for the search index of the body (SEARCH
 * BODY): the text of every text/ part (transfer encoding undone, charset
 * converted) and the Subject, From, To, Cc, Bcc (decoded words) of every
 * attached message, up to lim->max_search_text; not the top-level header.
 * Returns 0/-1. */
int mime_search_text(const struct mime_msg *m, struct buf *out);

/* Appends the addresses of an address-list header value (raw, unfolded)
 * in a form to search: "display name mailbox@host, " for each, the name
 * decoded (RFC 2047), comments and CFWS inside the addr-spec dropped, so
 * "<user (c)@ (c) domain.org>" reads "user@domain.org".  Returns 0, or -1
 * when out is full. */
int mime_address_text(const char *value, size_t len, struct buf *out);

/* Decodes RFC 2047 encoded words in a header value into UTF-8 (charset
 * conversion via iconv; undecodable bytes become U+FFFD).  Returns 0/-1. */
int mime_decode_header(const char *in, size_t len, struct buf *out);

/* Undoes a transfer encoding.  Returns 0, or -1 when out is full; invalid
 * input is decoded leniently and *bad set to 1. */
int mime_decode_base64(const char *in, size_t len, struct buf *out, int *bad);
int mime_decode_qp(const char *in, size_t len, struct buf *out, int *bad);

#endif
