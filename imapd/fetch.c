/*
 * FETCH and STORE.  FETCH never parses a message: ENVELOPE and
 * BODYSTRUCTURE come stored, and BODY[section] is cut out of the raw bytes
 * with the stored section table (mime_section_find).  Large FETCHes are
 * produced in batches as the socket drains (conn's writable callback), so
 * "FETCH 1:* BODY[]" on a big mailbox never sits whole in memory.
 */
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "conn.h"
#include "downgrade.h"
#include "fetchitem.h"
#include "imapd.h"
#include "imapdate.h"
#include "log.h"
#include "mime.h"
#include "store.h"
#include "store_deliver.h"
#include "store_mailbox.h"
#include "store_imap.h"
#include "strnum.h"

#define FETCH_BATCH	  64
#define FETCH_BATCH_DATA  16 /* entries read ahead when message bytes are sent */
#define FETCH_HIGHMARK	  (128 * 1024)
#define FETCH_RESUME_MARK (2 * 1024 * 1024)
#define FETCH_CHUNK	  (64 * 1024)

struct fentry {
	uint32_t uid;
	unsigned flags;
	char *keywords;
	uint64_t modseq, size;
	int64_t message_id, internaldate, savedate;
	size_t header_size; /* with STORE_IMAP_SIZE or _META */
	unsigned mflags;    /* MIME_F_* */
	/* with STORE_IMAP_META: copies of the stored structure */
	char *envelope, *bodystructure, *body;
	void *sections;
	size_t sections_len;
};

struct fetch_job {
	struct imap_fitems fi; /* the items asked for */
	size_t *idx, n, pos;
	int uid, need_data, set_seen;
	int dg_check;  /* items that show the header: see dg_needed */
	unsigned what; /* STORE_IMAP_* columns the items need */
	uint64_t changedsince;
	char tag[72];
	struct fentry batch[FETCH_BATCH];
	size_t nbatch;
	/* a literal being streamed from the raw bytes: the message, where the
	 * next byte is, how many are left, and the rest of that message's
	 * response, sent after the literal */
	struct store_raw *raw;
	int64_t lit_id;
	size_t lit_off, lit_left;
	struct buf tail;
	char *chunk;
};

static void batch_clear(struct fetch_job *fj)
{
	for (size_t i = 0; i < fj->nbatch; i++) {
		struct fentry *e = &fj->batch[i];
		free(e->keywords);
		free(e->envelope);
		free(e->bodystructure);
		free(e->body);
		free(e->sections);
	}
	fj->nbatch = 0;
}

void imap_fetch_job_free(struct fetch_job *fj)
{
	if (!fj)
		return;
	imap_fitems_free(&fj->fi);
	batch_clear(fj);
	store_raw_free(fj->raw);
	buf_free(&fj->tail);
	free(fj->chunk);
	free(fj->idx);
	free(fj);
}

/* --- producing one message's reply ----------------------------------------- */

/* Appends the header fields of hdr[0..len) whose names are (not) listed. */
static void filter_header(struct buf *out, const char *hdr, size_t len, const struct fitem *it)
{
	size_t i = 0;
	int keep = 0;

	while (i < len) {
		const char *line = hdr + i;
		const char *lf = memchr(line, '\n', len - i);
		size_t ll = lf ? (size_t)(lf - line) + 1 : len - i;
		if (ll <= 2 && (line[0] == '\r' || line[0] == '\n'))
			break; /* the blank line that ends the header */
		if (line[0] != ' ' && line[0] != '\t') {
			const char *colon = memchr(line, ':', ll);
			int listed = 0;
			if (colon) {
				size_t nl = (size_t)(colon - line);
				while (nl > 0 && (line[nl - 1] == ' ' || line[nl - 1] == '\t'))
					nl--;
				for (size_t f = 0; f < it->nfields && !listed; f++)
					listed = strlen(it->fields[f]) == nl &&
						 strncasecmp(it->fields[f], line, nl) == 0;
			}
			keep = colon && (it->spec == SP_FIELDS ? listed : !listed);
		}
		if (keep)
			buf_append(out, line, ll);
		i += ll;
	}
	buf_puts(out, "\r\n");
}

/* Appends the section's bytes (before any partial) to out. */
static void section_bytes(const struct store_message *m, const struct fitem *it, struct buf *out,
			  int *has_nul)
{
	struct mime_section sec;
	const char *d = m->data;
	size_t hs = m->header_size <= m->size ? m->header_size : m->size;

	if (!it->part[0]) {
		switch (it->spec) {
		case SP_ALL:
		case SP_MIME:
			buf_append(out, d, m->size);
			break;
		case SP_HEADER:
			buf_append(out, d, hs);
			break;
		case SP_TEXT:
			buf_append(out, d + hs, m->size - hs);
			break;
		case SP_FIELDS:
		case SP_FIELDS_NOT:
			filter_header(out, d, hs, it);
			break;
		}
		return;
	}
	if (mime_section_find(m->sections, m->sections_len, it->part, &sec) < 0)
		return;
	if (sec.hdr_off + sec.hdr_len > m->size || sec.body_off + sec.body_len > m->size)
		return; /* a table that does not fit its message is a store bug */
	switch (it->spec) {
	case SP_ALL:
		if (it->binary &&
		    (sec.encoding == MIME_ENC_BASE64 || sec.encoding == MIME_ENC_QP)) {
			int bad = 0;
			if (sec.encoding == MIME_ENC_BASE64)
				mime_decode_base64(d + sec.body_off, sec.body_len, out, &bad);
			else
				mime_decode_qp(d + sec.body_off, sec.body_len, out, &bad);
			*has_nul = memchr(out->data, '\0', out->len) != NULL;
		} else {
			buf_append(out, d + sec.body_off, sec.body_len);
			if (it->binary)
				*has_nul = memchr(out->data, '\0', out->len) != NULL;
		}
		break;
	case SP_MIME:
		buf_append(out, d + sec.hdr_off, sec.hdr_len);
		break;
	case SP_HEADER:
		if (sec.is_message)
			buf_append(out, d + sec.msg_hdr_off, sec.msg_hdr_len);
		break;
	case SP_TEXT:
		if (sec.is_message)
			buf_append(out, d + sec.msg_body_off, sec.msg_body_len);
		break;
	case SP_FIELDS:
	case SP_FIELDS_NOT:
		if (sec.is_message)
			filter_header(out, d + sec.msg_hdr_off, sec.msg_hdr_len, it);
		break;
	}
}

/* Whether the item's bytes are one stretch of the raw message, so they can
 * be streamed from the store instead of copied whole: BODY[], BODY[TEXT],
 * RFC822, RFC822.TEXT and their partials. */
static int streamable(const struct fitem *it)
{
	return it->kind == FK_SECTION && !it->binary && !it->part[0] &&
	       (it->spec == SP_ALL || it->spec == SP_TEXT);
}

/* The message the items are cut from: the entry, and its raw bytes read
 * whole only when an item needs them so (m.data, loaded on first use). */
struct msgsrc {
	struct fetch_job *fj;
	struct fentry *e;
	struct store_message m;
	int opened, missing;
	size_t size; /* of the raw bytes, once opened */
	/* the downgraded message (dg_build): m holds its bytes and these
	 * its structure, all owned here */
	int dg;
	char *dg_envelope, *dg_bodystructure, *dg_body;
	struct buf dg_sections;
};

/* Opens the raw bytes of src's message.  Returns 0 or -1 (gone). */
static int src_open(struct session *s, struct msgsrc *src)
{
	if (src->opened || src->missing)
		return src->missing ? -1 : 0;
	if (!src->fj->raw)
		src->fj->raw = store_raw_new(s->srv->st);
	if (store_raw_open(src->fj->raw, src->e->message_id, &src->size) < 0) {
		src->missing = 1;
		return -1;
	}
	src->opened = 1;
	return 0;
}

/* src->m with the raw bytes, or NULL when the message is gone. */
static const struct store_message *src_data(struct session *s, struct msgsrc *src)
{
	if (src->m.data)
		return &src->m;
	if (src_open(s, src) < 0)
		return NULL;
	src->m.data = store_raw_read_all(src->fj->raw, src->size);
	if (!src->m.data) {
		src->missing = 1;
		return NULL;
	}
	src->m.size = src->size;
	src->m.header_size = src->e->header_size;
	src->m.sections = src->e->sections;
	src->m.sections_len = src->e->sections_len;
	return &src->m;
}

/* --- RFC 6855 5: what a session without UTF8=ACCEPT sees ------------------- */

#define DG_HEADER_MAX (1u << 20) /* header bytes read to check an older row */

/* Whether e is internationalized (RFC 6532: a UTF-8 header block) and s
 * must see it downgraded: s has not enabled UTF8=ACCEPT (nor IMAP4rev2),
 * and the stored MIME flags say so.  A row stored before the flag existed
 * has its top-level header read (a small blob read, not a parse: a legacy
 * client's sync of an old mailbox stays cheap); its parts' headers are
 * not looked at. */
static int dg_needed(struct session *s, struct msgsrc *src)
{
	struct fentry *e = src->e;
	size_t hs;
	char *h;
	int r;

	if (s->utf8)
		return 0;
	if (e->mflags & MIME_F_HEADER_CHECKED)
		return (e->mflags & MIME_F_UTF8_HEADER) != 0;
	if (src_open(s, src) < 0)
		return 0;
	hs = e->header_size <= src->size ? e->header_size : src->size;
	if (hs > DG_HEADER_MAX)
		hs = DG_HEADER_MAX;
	h = malloc(hs + 1);
	if (!h)
		bug("out of memory");
	r = hs && store_raw_read(src->fj->raw, h, hs, 0) == 0 && downgrade_needed(h, hs);
	free(h);
	return r;
}

/* Makes src's message the downgraded one: its UTF-8 header blocks
 * rewritten to 7-bit (mime_downgrade, RFC 6857 3), the rest as it is, and
 * its ENVELOPE, BODY[STRUCTURE], section table and sizes from a parse of
 * the result, so every item FETCH shows agrees (RFC822.SIZE is the length
 * of BODY[]).  Returns 0, or -1 (the message is gone: nothing changed). */
static int dg_build(struct session *s, struct msgsrc *src)
{
	const struct store_message *m = src_data(s, src);
	struct mime_msg *mm;
	struct buf nb, t;

	if (!m)
		return -1;
	buf_init(&nb, (size_t)1 << 30);
	if (mime_parse(m->data, m->size, NULL, &mm) < 0 || mime_downgrade(mm, &nb) < 0)
		bug("out of memory");
	mime_free(mm);
	if (mime_parse(nb.data ? nb.data : "", nb.len, NULL, &mm) < 0)
		bug("out of memory");
	buf_init(&t, (size_t)1 << 30);
	if (mime_envelope(mm, &t) < 0)
		bug("out of memory");
	src->dg_envelope = buf_steal(&t, NULL);
	if (mime_bodystructure(mm, 1, &t) < 0)
		bug("out of memory");
	src->dg_bodystructure = buf_steal(&t, NULL);
	if (mime_bodystructure(mm, 0, &t) < 0)
		bug("out of memory");
	src->dg_body = buf_steal(&t, NULL);
	buf_init(&src->dg_sections, (size_t)1 << 30);
	if (mime_sections_encode(mm, &src->dg_sections) < 0)
		bug("out of memory");
	free(src->m.data);
	src->m.header_size = mime_header_size(mm);
	src->m.size = nb.len;
	src->m.data = buf_steal(&nb, NULL);
	src->m.sections = src->dg_sections.data;
	src->m.sections_len = src->dg_sections.len;
	mime_free(mm);
	src->dg = 1;
	return 0;
}

uint64_t imap_shown_size(struct session *s, struct store_raw *raw, int64_t message_id,
			 unsigned mflags, uint64_t size)
{
	size_t rs;
	char *data;

	if (s->utf8 || ((mflags & MIME_F_HEADER_CHECKED) && !(mflags & MIME_F_UTF8_HEADER)))
		return size;
	if (store_raw_open(raw, message_id, &rs) < 0)
		return size; /* gone: FETCH will not show it either */
	if (!(mflags & MIME_F_HEADER_CHECKED)) {
		/* a row stored before the flag: its top-level header decides,
		 * as in dg_needed (a header read, not the whole message) */
		size_t hs = rs < DG_HEADER_MAX ? rs : DG_HEADER_MAX;
		char *h = malloc(hs + 1);
		if (!h)
			bug("out of memory");
		int dg = hs && store_raw_read(raw, h, hs, 0) == 0 &&
			 downgrade_needed(h, downgrade_header_len(h, hs));
		free(h);
		if (!dg) {
			store_raw_close(raw);
			return size;
		}
	}
	data = store_raw_read_all(raw, rs);
	store_raw_close(raw);
	if (!data)
		return size;
	struct mime_msg *mm;
	struct buf nb;
	buf_init(&nb, (size_t)1 << 30);
	if (mime_parse(data, rs, NULL, &mm) < 0 || mime_downgrade(mm, &nb) < 0)
		bug("out of memory");
	mime_free(mm);
	free(data);
	size = nb.len;
	buf_free(&nb);
	return size;
}

static void dg_free(struct msgsrc *src)
{
	free(src->dg_envelope);
	free(src->dg_bodystructure);
	free(src->dg_body);
	if (src->dg)
		buf_free(&src->dg_sections);
}

/* Appends the reply for one message to out.  A streamable literal of the
 * raw bytes is not copied: its header goes to out, the job remembers what
 * to stream (fj->lit_*), and what follows the literal goes to fj->tail. */
static void emit_one(struct session *s, struct fetch_job *fj, size_t seq, struct fentry *e,
		     int flags_changed, struct buf *out)
{
	int first = 1, sent_uid = 0, sent_flags = 0, sent_modseq = 0;
	struct msgsrc src;
	struct buf tmp;
	struct buf *dst = out;

	memset(&src, 0, sizeof(src));
	src.fj = fj;
	src.e = e;
	if (fj->dg_check && dg_needed(s, &src))
		dg_build(s, &src);
	imap_view_kw_announce(s, dst, e->keywords);
	buf_printf(dst, "* %zu FETCH (", seq);
	buf_init(&tmp, 128u * 1024 * 1024);
	for (size_t i = 0; i < fj->fi.n; i++) {
		const struct fitem *it = &fj->fi.item[i];
		if ((it->kind == FK_UID && sent_uid) || (it->kind == FK_FLAGS && sent_flags) ||
		    (it->kind == FK_MODSEQ && sent_modseq))
			continue;
		if (!first)
			buf_putc(dst, ' ');
		first = 0;
		switch (it->kind) {
		case FK_UID:
			buf_printf(dst, "UID %u", e->uid);
			sent_uid = 1;
			break;
		case FK_FLAGS:
			buf_puts(dst, "FLAGS ");
			imap_flags_format(dst, e->flags, e->keywords);
			sent_flags = 1;
			break;
		case FK_MODSEQ:
			buf_printf(dst, "MODSEQ (%llu)", (unsigned long long)e->modseq);
			sent_modseq = 1;
			break;
		case FK_INTERNALDATE: {
			char date[40];
			imapdate_format(e->internaldate, date, sizeof(date));
			buf_printf(dst, "INTERNALDATE \"%s\"", date);
			break;
		}
		case FK_SAVEDATE: {
			/* NIL for entries saved before the date was kept */
			char date[40];
			if (e->savedate > 0) {
				imapdate_format(e->savedate, date, sizeof(date));
				buf_printf(dst, "SAVEDATE \"%s\"", date);
			} else {
				buf_puts(dst, "SAVEDATE NIL");
			}
			break;
		}
		case FK_EMAILID: {
			char id[80];
			imap_emailid(e->message_id, e->size, e->internaldate, id, sizeof(id));
			buf_printf(dst, "EMAILID (%s)", id);
			break;
		}
		case FK_THREADID:
			/* RFC 8474 5.2: NIL where threads are not computed */
			buf_puts(dst, "THREADID NIL");
			break;
		case FK_SIZE:
			buf_printf(dst, "RFC822.SIZE %llu",
				   (unsigned long long)(src.dg ? src.m.size : e->size));
			break;
		case FK_ENVELOPE:
			/* long strings: no printf formatting on the hot path */
			buf_puts(dst, "ENVELOPE ");
			buf_puts(dst, src.dg ? src.dg_envelope : e->envelope ? e->envelope : "NIL");
			break;
		case FK_BODYSTRUCTURE:
			buf_puts(dst, "BODYSTRUCTURE ");
			buf_puts(dst, src.dg		 ? src.dg_bodystructure
				      : e->bodystructure ? e->bodystructure
							 : "NIL");
			break;
		case FK_BODY:
			buf_puts(dst, "BODY ");
			buf_puts(dst, src.dg ? src.dg_body : e->body ? e->body : "NIL");
			break;
		case FK_SECTION:
		case FK_BINSIZE: {
			int has_nul = 0;
			const char *p;
			size_t n, start = 0;
			/* a downgraded message is in memory already */
			int stream =
			    streamable(it) && dst == out && !src.dg && src_open(s, &src) == 0;
			if (stream) {
				size_t hs = e->header_size <= src.size ? e->header_size : src.size;
				start = it->spec == SP_TEXT ? hs : 0;
				p = NULL;
				n = src.size - start;
			} else {
				const struct store_message *m = src_data(s, &src);
				buf_reset(&tmp);
				if (m)
					section_bytes(m, it, &tmp, &has_nul);
				p = tmp.data;
				n = tmp.len;
			}
			if (it->kind == FK_BINSIZE) {
				buf_printf(dst, "%s %zu", it->label, n);
				break;
			}
			if (it->partial) {
				if (it->poff >= n) {
					n = 0;
				} else {
					start += (size_t)it->poff;
					if (p)
						p += it->poff;
					n -= (size_t)it->poff;
					if (n > it->plen)
						n = (size_t)it->plen;
				}
				buf_printf(dst, "%s<%llu> ", it->label,
					   (unsigned long long)it->poff);
			} else {
				buf_printf(dst, "%s ", it->label);
			}
			buf_printf(dst, "%s{%zu}\r\n", has_nul ? "~" : "", n);
			if (stream) {
				fj->lit_id = e->message_id;
				fj->lit_off = start;
				fj->lit_left = n;
				buf_reset(&fj->tail);
				dst = &fj->tail;
			} else {
				buf_append(dst, p, n);
			}
			break;
		}
		}
	}
	if ((fj->uid || s->qresync) && !sent_uid)
		buf_printf(dst, "%sUID %u", first ? "" : " ", e->uid), first = 0;
	if (flags_changed && !sent_flags) {
		buf_printf(dst, "%sFLAGS ", first ? "" : " ");
		imap_flags_format(dst, e->flags, e->keywords);
		first = 0;
	}
	if ((fj->changedsince || (s->condstore && flags_changed)) && !sent_modseq)
		buf_printf(dst, "%sMODSEQ (%llu)", first ? "" : " ", (unsigned long long)e->modseq);
	buf_puts(dst, ")\r\n");
	buf_free(&tmp);
	free(src.m.data);
	dg_free(&src);
}

static int batch_cb(void *arg, const struct store_imap_row *r)
{
	struct fetch_job *fj = arg;
	struct fentry *f;

	if (fj->nbatch == FETCH_BATCH)
		return 1;
	f = &fj->batch[fj->nbatch++];
	memset(f, 0, sizeof(*f));
	f->uid = r->uid;
	f->flags = r->flags;
	f->keywords = strdup(r->keywords);
	f->modseq = r->modseq;
	f->size = r->size;
	f->message_id = r->message_id;
	f->internaldate = r->internaldate;
	f->savedate = r->savedate;
	f->header_size = r->header_size;
	f->mflags = r->mime_flags;
	if (!f->keywords)
		bug("out of memory");
	if (fj->what & STORE_IMAP_META) {
		f->envelope = strdup(r->envelope ? r->envelope : "NIL");
		f->bodystructure = strdup(r->bodystructure ? r->bodystructure : "NIL");
		f->body = strdup(r->body ? r->body : "NIL");
		f->sections = malloc(r->sections_len + 1);
		if (!f->envelope || !f->bodystructure || !f->body || !f->sections)
			bug("out of memory");
		if (r->sections_len)
			memcpy(f->sections, r->sections, r->sections_len);
		f->sections_len = r->sections_len;
	}
	return 0;
}

static void finish(struct session *s)
{
	struct fetch_job *fj = s->fj;
	char tag[sizeof(fj->tag)];
	int blocked = s->mode == MODE_BLOCKED;

	int big = fj->need_data || fj->n > FETCH_BATCH;

	memcpy(tag, fj->tag, sizeof(tag));
	s->fj = NULL;
	imap_fetch_job_free(fj);
	imap_tagged(s, tag, "OK", "FETCH completed");
	if (blocked)
		imap_resume(s);
	/* a big FETCH leaves freed buffers behind: give them back */
	if (big)
		malloc_trim(0); /* what a big FETCH freed goes back to the system */
}

/* Sends the literal being streamed while the socket keeps up, then what
 * followed it.  limit bounds the output queued.  The raw bytes are read
 * in chunks; a message expunged and gone before its literal is complete
 * cannot be finished, so that ends the session.  Returns 0 or -1. */
static int pump_literal(struct session *s, size_t limit)
{
	struct fetch_job *fj = s->fj;
	size_t size;

	if (!fj->lit_left)
		goto tail;
	if (!fj->raw)
		fj->raw = store_raw_new(s->srv->st);
	if (!fj->chunk && !(fj->chunk = malloc(FETCH_CHUNK)))
		bug("out of memory");
	if (store_raw_open(fj->raw, fj->lit_id, &size) < 0 || size < fj->lit_off + fj->lit_left)
		goto gone;
	while (fj->lit_left && imap_outlen(s) < limit && !s->dead && s->c) {
		size_t n = fj->lit_left < FETCH_CHUNK ? fj->lit_left : FETCH_CHUNK;
		if (store_raw_read(fj->raw, fj->chunk, n, fj->lit_off) < 0)
			goto gone;
		imap_write(s, fj->chunk, n);
		fj->lit_off += n;
		fj->lit_left -= n;
	}
	if (fj->lit_left)
		return 0;
tail:
	imap_write(s, fj->tail.data, fj->tail.len);
	buf_reset(&fj->tail);
	return 0;
gone:
	store_raw_close(fj->raw);
	log_info(s->sid, "event=fetch-message-gone message=%lld error=\"%s\"",
		 (long long)fj->lit_id, store_errmsg(s->srv->st));
	if (s->c && !s->dead) {
		s->dead = 1;
		conn_close(s->c, 0, "message gone during FETCH");
	}
	return -1;
}

/* Produces output until the socket is busy enough or the job is done.
 * Entries come in batches read in one pass; with message bytes, output
 * is checked after every message and literals are streamed, so what is
 * queued stays near FETCH_HIGHMARK whatever the message sizes.  No read
 * lock or open blob is kept once this returns. */
void imap_fetch_continue(struct session *s)
{
	struct fetch_job *fj = s->fj;
	struct store *st = s->srv->st;
	struct buf out;

	if (fj->lit_left || fj->tail.len) {
		/* resuming a literal re-finds its place in the raw bytes: take
		 * a bigger step so a huge message is not re-walked too often */
		pump_literal(s, FETCH_RESUME_MARK);
		store_raw_close(fj->raw);
	}
	buf_init(&out, 200u * 1024 * 1024);
	while (!fj->lit_left && fj->pos < fj->n && imap_outlen(s) < FETCH_HIGHMARK && !s->dead &&
	       s->c) {
		/* load the entries of the next stretch of the view */
		size_t max = fj->need_data ? FETCH_BATCH_DATA : FETCH_BATCH;
		size_t k = fj->n - fj->pos < max ? fj->n - fj->pos : max;
		uint32_t lo = s->msgs[fj->idx[fj->pos]].uid;
		uint32_t hi = s->msgs[fj->idx[fj->pos + k - 1]].uid;
		int writing = fj->set_seen && !s->readonly, rd = 0;
		if (writing)
			store_tx_begin(st);
		else
			rd = store_imap_read_begin(st);
		batch_clear(fj);
		store_imap_rows(st, s->mbox_id, lo, hi, fj->changedsince, fj->what, batch_cb, fj);
		size_t b = 0;
		size_t j = fj->pos, end = fj->pos + k;
		for (; j < end; j++) {
			struct view_msg *vm = &s->msgs[fj->idx[j]];
			while (b < fj->nbatch && fj->batch[b].uid < vm->uid)
				b++;
			if (b == fj->nbatch) {
				if (fj->nbatch == FETCH_BATCH)
					break; /* the batch filled up first: go on from j */
				continue;
			}
			if (fj->batch[b].uid != vm->uid)
				continue; /* expunged meanwhile, or unchanged */
			struct fentry *e = &fj->batch[b];
			int flags_changed = 0;
			if (writing && !(e->flags & STORE_F_SEEN)) {
				uint64_t ms = 0;
				if (store_flags(st, s->mbox_id, e->uid, STORE_FLAGS_ADD,
						STORE_F_SEEN, NULL, 0, &ms) == 1) {
					e->flags |= STORE_F_SEEN;
					e->modseq = ms;
					vm->modseq = ms;
					flags_changed = 1;
				}
			}
			vm->flags = (vm->flags & VIEW_RECENT) | e->flags;
			e->flags = vm->flags;
			emit_one(s, fj, fj->idx[j] + 1, e, flags_changed, &out);
			if (!fj->need_data && out.len >= FETCH_CHUNK) {
				imap_write(s, out.data, out.len);
				buf_reset(&out);
			}
			if (fj->need_data) {
				/* one message at a time: never more than one queued
				 * beyond the mark */
				imap_write(s, out.data, out.len);
				buf_reset(&out);
				if (fj->lit_left || fj->tail.len)
					pump_literal(s, FETCH_HIGHMARK);
				if (fj->lit_left || imap_outlen(s) >= FETCH_HIGHMARK || s->dead) {
					j++;
					break;
				}
			}
		}
		store_raw_close(fj->raw);
		if (writing && store_tx_commit(st) < 0)
			store_tx_rollback(st);
		store_imap_read_end(st, rd);
		batch_clear(fj);
		fj->pos = j > fj->pos ? j : fj->pos + 1;
		imap_write(s, out.data, out.len);
		buf_reset(&out);
	}
	buf_free(&out);
	if ((fj->pos >= fj->n && !fj->lit_left && !fj->tail.len) || s->dead || !s->c)
		finish(s);
}

int imap_cmd_fetch(struct session *s, const struct imap_cmd *c, const struct imap_arg *a, int uid)
{
	struct fetch_job *fj;
	const struct imap_arg *items = a ? a->next : NULL, *mods = items ? items->next : NULL;
	int vanished = 0;

	if (!a || !items || a->type != IMAP_ARG_ATOM || (mods && mods->type != IMAP_ARG_LIST) ||
	    (mods && mods->next))
		return imap_tagged(s, c->tag, "BAD", "FETCH set items [(modifiers)]"), 0;
	fj = calloc(1, sizeof(*fj));
	if (!fj)
		bug("out of memory");
	fj->uid = uid;
	buf_init(&fj->tail, 64u * 1024 * 1024);
	snprintf(fj->tag, sizeof(fj->tag), "%s", c->tag);
	if (imap_fitems_parse(items, &fj->fi) < 0) {
		imap_fetch_job_free(fj);
		return imap_tagged(s, c->tag, "BAD", "Invalid fetch attributes"), 0;
	}
	for (const struct imap_arg *m = mods ? mods->child : NULL; m; m = m->next) {
		if (imap_arg_is(m, "CHANGEDSINCE") && m->next &&
		    strnum_u64(m->next->str, UINT64_MAX, &fj->changedsince) == 0) {
			m = m->next;
			imap_condstore_enable(s);
		} else if (imap_arg_is(m, "VANISHED") && uid && s->qresync) {
			vanished = 1;
		} else {
			imap_fetch_job_free(fj);
			return imap_tagged(s, c->tag, "BAD", "Invalid FETCH modifier"), 0;
		}
	}
	if (vanished && !fj->changedsince) {
		imap_fetch_job_free(fj);
		return imap_tagged(s, c->tag, "BAD", "VANISHED needs CHANGEDSINCE"), 0;
	}
	for (size_t i = 0; i < fj->fi.n; i++) {
		struct fitem *it = &fj->fi.item[i];
		if (it->kind == FK_INTERNALDATE || it->kind == FK_SIZE || it->kind == FK_EMAILID)
			fj->what |= STORE_IMAP_SIZE;
		if (it->kind == FK_ENVELOPE || it->kind == FK_BODYSTRUCTURE || it->kind == FK_BODY)
			fj->what |= STORE_IMAP_META;
		if (it->kind == FK_SECTION || it->kind == FK_BINSIZE) {
			fj->need_data = 1;
			/* the whole message (BODY[], RFC822) needs no structure */
			if (it->part[0] || it->binary ||
			    (it->spec != SP_ALL && it->spec != SP_MIME))
				fj->what |= STORE_IMAP_META;
		}
		if (it->kind == FK_SECTION && !it->peek)
			fj->set_seen = 1;
		if (it->kind == FK_MODSEQ)
			imap_condstore_enable(s);
		/* RFC 6855 5: a session without UTF8=ACCEPT sees messages
		 * with UTF-8 headers downgraded; the stored MIME flags say
		 * which */
		if (!s->utf8 && (it->kind == FK_SIZE || it->kind == FK_ENVELOPE ||
				 it->kind == FK_BODYSTRUCTURE || it->kind == FK_BODY ||
				 it->kind == FK_SECTION || it->kind == FK_BINSIZE)) {
			fj->dg_check = 1;
			fj->what |= STORE_IMAP_SIZE;
		}
	}
	if (imap_view_select_set(s, a->str, uid, &fj->idx, &fj->n) < 0) {
		imap_fetch_job_free(fj);
		return imap_tagged(s, c->tag, "BAD", "Invalid sequence set"), 0;
	}
	if (vanished) {
		/* QRESYNC: what vanished in the set since CHANGEDSINCE */
		struct buf vb;
		buf_init(&vb, 16u * 1024 * 1024);
		if (imap_view_vanished_in_set(s, a->str, fj->changedsince, &vb) > 0)
			imap_printf(s, "* VANISHED (EARLIER) %s\r\n", vb.data);
		buf_free(&vb);
	}
	s->fj = fj;
	imap_fetch_continue(s);
	if (s->fj) {
		s->mode = MODE_BLOCKED;
		return 1;
	}
	return 0;
}

/* --- STORE -------------------------------------------------------------- */

struct store_ctx {
	struct session *s;
	struct buf *out;
	const uint32_t *uids; /* sorted UIDs to report */
	size_t n, pos;
	int uid_cmd;
};

static int store_report_cb(void *arg, const struct store_entry *e)
{
	struct store_ctx *x = arg;
	struct session *s = x->s;

	while (x->pos < x->n && x->uids[x->pos] < e->uid)
		x->pos++;
	if (x->pos == x->n || x->uids[x->pos] != e->uid)
		return 0;
	long i = imap_view_find(s, e->uid);
	if (i < 0)
		return 0;
	struct view_msg *m = &s->msgs[i];
	m->flags = (m->flags & VIEW_RECENT) | e->flags;
	m->modseq = e->modseq;
	imap_view_kw_announce(s, x->out, e->keywords);
	buf_printf(x->out, "* %ld FETCH (FLAGS ", i + 1);
	imap_flags_format(x->out, m->flags, e->keywords);
	if (x->uid_cmd || s->qresync)
		buf_printf(x->out, " UID %u", e->uid);
	if (s->condstore)
		buf_printf(x->out, " MODSEQ (%llu)", (unsigned long long)e->modseq);
	buf_puts(x->out, ")\r\n");
	return 0;
}

int imap_cmd_store(struct session *s, const struct imap_cmd *c, const struct imap_arg *a, int uid)
{
	struct store *st = s->srv->st;
	const struct imap_arg *set = a, *item, *val;
	uint64_t unchangedsince = 0;
	int mode, silent = 0;
	unsigned flags;
	struct buf kw, out, modified;
	size_t *idx, n;

	if (!set || set->type != IMAP_ARG_ATOM || !(item = set->next))
		return imap_tagged(s, c->tag, "BAD", "STORE set item value"), 0;
	if (item->type == IMAP_ARG_LIST) {
		const struct imap_arg *m = item->child;
		if (!imap_arg_is(m, "UNCHANGEDSINCE") || !m->next || m->next->next ||
		    strnum_u64(m->next->str, UINT64_MAX, &unchangedsince) < 0)
			return imap_tagged(s, c->tag, "BAD", "Invalid STORE modifier"), 0;
		imap_condstore_enable(s);
		item = item->next;
	}
	if (!item || item->type != IMAP_ARG_ATOM || !(val = item->next) || val->next)
		return imap_tagged(s, c->tag, "BAD", "STORE set item value"), 0;
	const char *name = item->str;
	if (*name == '+') {
		mode = STORE_FLAGS_ADD;
		name++;
	} else if (*name == '-') {
		mode = STORE_FLAGS_REMOVE;
		name++;
	} else {
		mode = STORE_FLAGS_SET;
	}
	if (strcasecmp(name, "FLAGS.SILENT") == 0)
		silent = 1;
	else if (strcasecmp(name, "FLAGS") != 0)
		return imap_tagged(s, c->tag, "BAD", "Unknown STORE item"), 0;
	if (s->readonly)
		return imap_tagged(s, c->tag, "NO", "[READ-ONLY] Mailbox is read-only"), 0;
	buf_init(&kw, STORE_KEYWORDS_MAX);
	if (imap_flags_parse(val, &flags, &kw) < 0) {
		buf_free(&kw);
		return imap_tagged(s, c->tag, "BAD", "Invalid flags"), 0;
	}
	if (imap_view_select_set(s, set->str, uid, &idx, &n) < 0) {
		buf_free(&kw);
		return imap_tagged(s, c->tag, "BAD", "Invalid sequence set"), 0;
	}
	uint32_t *report = malloc((n ? n : 1) * sizeof(*report));
	size_t nreport = 0;
	if (!report)
		bug("out of memory");
	buf_init(&modified, 16u * 1024 * 1024);
	int failed = 0;
	store_tx_begin(st);
	for (size_t i = 0; i < n; i++) {
		struct view_msg *m = &s->msgs[idx[i]];
		uint64_t ms = 0;
		int r = store_flags(st, s->mbox_id, m->uid, mode, flags, kw.len ? kw.data : NULL,
				    unchangedsince, &ms);
		if (r == STORE_MODIFIED) {
			if (modified.len)
				buf_putc(&modified, ',');
			buf_printf(&modified, "%u", uid ? m->uid : (uint32_t)(idx[i] + 1));
			continue;
		}
		if (r == STORE_NOTFOUND)
			continue;
		if (r < 0) {
			failed = 1;
			break;
		}
		if (!silent) {
			report[nreport++] = m->uid;
		} else if (r == 1) {
			/* ours: not news for imap_view_sync.  The view takes
			 * this change alone, not the entry read back, which may
			 * hold another session's later change that must still
			 * be reported to this one */
			unsigned f = m->flags & STORE_F_ALL;
			f = mode == STORE_FLAGS_SET   ? flags
			    : mode == STORE_FLAGS_ADD ? f | flags
						      : f & ~flags;
			m->flags = (m->flags & VIEW_RECENT) | f;
			m->modseq = ms;
		}
	}
	if (failed || store_tx_commit(st) < 0) {
		store_tx_rollback(st);
		free(report);
		free(idx);
		buf_free(&kw);
		buf_free(&modified);
		return imap_tagged(s, c->tag, "NO", "[SERVERBUG] %s", store_errmsg(st)), 0;
	}
	buf_init(&out, 64u * 1024 * 1024);
	/* a new keyword goes into FLAGS now, even for FLAGS.SILENT, whose
	 * FETCH lines are not sent (RFC 3501 7.2.6) */
	if (mode != STORE_FLAGS_REMOVE && kw.len)
		imap_view_kw_announce(s, &out, kw.data);
	if (nreport) {
		struct store_ctx x = {
		    .s = s, .out = &out, .uids = report, .n = nreport, .uid_cmd = uid};
		store_entries(st, s->mbox_id, report[0], report[nreport - 1], store_report_cb, &x);
	}
	imap_write(s, out.data, out.len);
	buf_free(&out);
	imapd_changed(s->srv, s->mbox_id);
	if (modified.len)
		imap_tagged(s, c->tag, "OK", "[MODIFIED %s] Conditional STORE failed",
			    modified.data);
	else
		imap_tagged(s, c->tag, "OK", "STORE completed");
	free(report);
	free(idx);
	buf_free(&kw);
	buf_free(&modified);
	return 0;
}
