#ifndef LOFT_MIME_INT_H
#define LOFT_MIME_INT_H
/*
 * Private to the MIME module (lib/mime*.c): the parsed tree and the arena
 * that owns every string in it.  Nothing outside lib/mime*.c includes this.
 */
#include <stddef.h>

#include "buf.h"
#include "mime.h"

/* A byte range; p == NULL means "absent" (IMAP NIL), n == 0 with p set
 * means "present but empty". */
struct mstr {
	const char *p;
	size_t n;
};

struct mime_param {
	struct mstr name, value;
	struct mime_param *next;
};

/* Header fields the envelope needs, in ENVELOPE order. */
enum mime_env_field {
	ENV_DATE,
	ENV_SUBJECT,
	ENV_FROM,
	ENV_SENDER,
	ENV_REPLY_TO,
	ENV_TO,
	ENV_CC,
	ENV_BCC,
	ENV_IN_REPLY_TO,
	ENV_MESSAGE_ID,
	ENV_NFIELDS
};

/* Content-* fields kept per entity. */
enum mime_ct_field {
	CT_TYPE,
	CT_ENCODING,
	CT_ID,
	CT_DESCRIPTION,
	CT_DISPOSITION,
	CT_LANGUAGE,
	CT_LOCATION,
	CT_MD5,
	CT_NFIELDS
};

enum mime_kind {
	MIME_KIND_LEAF,
	MIME_KIND_MULTI,   /* multipart with children */
	MIME_KIND_MESSAGE, /* message/rfc822 with one encapsulated entity */
};

/* Why a container was reduced to an opaque leaf. */
enum mime_opaque {
	MIME_OPQ_NONE,
	MIME_OPQ_TEXT,	/* multipart without boundary: shown as text/plain */
	MIME_OPQ_LIMIT, /* depth or part limit: shown as application/octet-stream */
};

/* One MIME entity: the top-level message, a body part, or the message
 * encapsulated in a message/rfc822 part (a "message root"). */
struct mime_part {
	struct mime_part *parent, *child, *last, *next;
	unsigned nchildren;
	unsigned depth;
	int msg_root; /* the top-level message or an encapsulated one */
	int in_hdr;   /* still reading the header block */
	int closed;
	enum mime_kind kind;
	enum mime_opaque opaque;
	int enc;    /* enum mime_encoding */
	int digest; /* multipart/digest: children default to message/rfc822 */
	int def_rfc822;

	size_t hdr_off, hdr_len, body_off, body_len;
	size_t body_lf0; /* LFs in the message before body_off */
	size_t lines;	 /* lines of the body */

	/* raw (folded) field values, offsets into the message */
	struct mstr raw_ct[CT_NFIELDS];
	struct mstr raw_env[ENV_NFIELDS];

	/* parsed and unfolded, filled by mime_part_content */
	int ct_default; /* no usable Content-Type: the default applies */
	struct mstr type, subtype, boundary, charset, dtype;
	struct mime_param *params, *dparams;
	struct mstr encname, id, desc, md5, loc, lang;
	struct mstr env[ENV_NFIELDS];
};

struct mime_arena_chunk;

struct mime_msg {
	const char *data;
	size_t len;
	unsigned flags;
	struct mime_limits lim;
	struct mime_part *root;
	size_t nparts;
	size_t total_lf;
	struct mime_arena_chunk *arena;
};

/* lib/mime_tree.c: the bottom of the module; every other file calls it. */
/* Arena allocation (zeroed): freed as a whole by mime_arena_free (from
 * mime_free).  NULL when out of memory. */
void *mime_arena_alloc(struct mime_msg *m, size_t n);
void mime_arena_free(struct mime_msg *m);
/* Copies s, unfolding (CRLF/LF before WSP removed), dropping NULs and
 * trimming surrounding whitespace.  Returns 0 or -1 (out of memory). */
int mime_unfold(struct mime_msg *m, struct mstr s, struct mstr *out);
/* 1 when s is present and equals lit, ignoring ASCII case. */
int mime_strcaseeq(struct mstr s, const char *lit);
/* The part after q in a pre-order walk of top's subtree (top itself
 * first), or NULL when the walk is done:
 *	for (q = top; q; q = mime_part_next(q, top)) ...
 * Iterative, so the cost does not depend on the nesting depth. */
const struct mime_part *mime_part_next(const struct mime_part *q, const struct mime_part *top);

/* lib/mime_imap.c */
/* Parses Content-Type and friends of p once its header block is complete.
 * Returns 0 or -1 (out of memory). */
int mime_part_content(struct mime_msg *m, struct mime_part *p);
/* Appends an IMAP string: quoted when safe, else a literal; NUL bytes are
 * dropped.  NIL when s.p is NULL. */
int mime_put_nstring(struct buf *out, struct mstr s);
int mime_put_envelope(const struct mime_msg *m, const struct mime_part *root, struct buf *out);
int mime_put_body(const struct mime_msg *m, const struct mime_part *p, int extended,
		  struct buf *out);

/* lib/mime_decode.c */
/* Converts in[0..len) from charset to UTF-8 (appended to out); bytes that
 * cannot be converted become U+FFFD.  Returns 0 or -1 when out is full. */
int mime_charset_to_utf8(struct mstr charset, const char *in, size_t len, struct buf *out);
/* Checks a body's transfer encoding without decoding it; returns 1 if bad. */
int mime_encoding_bad(int enc, const char *in, size_t len);
/* Returns 1 if an encoded word in s is malformed. */
int mime_encoded_words_bad(const char *in, size_t len);

#endif
