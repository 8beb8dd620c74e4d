/*
 * Getting a job's message ready to send: its size, whether the body has
 * 8-bit bytes (BODY=8BITMIME, refused by a peer without it) and whether
 * the envelope needs SMTPUTF8.  The bytes are read from the store in
 * chunks, each read in its own short read transaction, so neither the
 * whole message nor a read lock is held while the network is slow.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "dkim.h"
#include "mime7.h"
#include "qp.h"
#include "buf.h"
#include "log.h"
#include "queue.h"
#include "store.h"
#include "store_imap.h"
#include "store_outbound.h"
#include "store_users.h"

#define PREP_CHUNK 16384
#define HEADER_MAX (64 * 1024) /* a longer header block is sent unsigned */

/* The From: field's domain in the header block h; 0 or -1. */
static int from_domain(const char *h, size_t len, char *dom, size_t domlen)
{
	for (size_t i = 0; i < len;) {
		const char *nl = memchr(h + i, '\n', len - i);
		size_t end = nl ? (size_t)(nl - h) + 1 : len;
		if (end - i > 5 && strncasecmp(h + i, "from:", 5) == 0) {
			/* the field with its folded lines */
			size_t fe = end;
			while (fe < len && (h[fe] == ' ' || h[fe] == '\t')) {
				const char *n2 = memchr(h + fe, '\n', len - fe);
				fe = n2 ? (size_t)(n2 - h) + 1 : len;
			}
			return dkim_from_domain(h + i + 5, fe - i - 5, dom, domlen);
		}
		i = end;
	}
	return -1;
}

/* Signs j's message with the key of its From: domain when that domain is
 * ours and has a key (RFC 6376: d= is the author's domain, so DMARC
 * aligns).  Leaves j->prefix NULL when it does not sign. */
static void on_signed(struct sign_req *r);

static int has_8bit_n(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] >= 0x80)
			return 1;
	return 0;
}

/* A message's DKIM signature, shared by the jobs that hold it: one job
 * per destination of the message, and those a later scan picks while it
 * is still in memory -- so a message to several domains is signed once.
 * Its id cannot be reused meanwhile: a job's queue row keeps the message
 * (SQLite reuses a rowid only once the row is gone). */
enum msig_state {
	MS_NEW,	    /* nobody has looked yet (or a look failed) */
	MS_PENDING, /* a job hashed it, its RSA runs on a signing thread */
	MS_DONE	    /* field is the signature, or NULL: sent unsigned */
};

struct msig {
	struct queue *q;
	int64_t mid;
	enum msig_state state;
	char *field;
	struct job *waiters; /* MS_PENDING: jobs prepared meanwhile */
	unsigned refs;	     /* jobs holding it */
	struct msig *next;
};

static struct msig *msig_get(struct queue *q, struct job *j)
{
	struct msig *m = j->ms;

	if (m)
		return m;
	for (m = q->msigs; m; m = m->next)
		if (m->mid == j->message_id)
			break;
	if (!m) {
		m = calloc(1, sizeof(*m));
		if (!m)
			bug("out of memory");
		m->q = q;
		m->mid = j->message_id;
		m->next = q->msigs;
		q->msigs = m;
	}
	m->refs++;
	j->ms = m;
	return m;
}

void queue_msig_unref(struct job *j)
{
	struct msig *m = j->ms, **pp;

	if (!m)
		return;
	j->ms = NULL;
	if (--m->refs > 0)
		return;
	for (pp = &m->q->msigs; *pp; pp = &(*pp)->next)
		if (*pp == m) {
			*pp = m->next;
			break;
		}
	free(m->field);
	free(m);
}

/* The signature m holds (or none) becomes j's prefix. */
static void prefix_from(struct job *j, const struct msig *m)
{
	if (m->field) {
		j->prefix = strdup(m->field);
		if (!j->prefix)
			bug("out of memory");
		j->prefix_len = strlen(j->prefix);
	}
}

enum sign_how {
	SIGN_NO,   /* not signed (or its signature is j's prefix already) */
	SIGN_WAIT, /* another job is having it signed: wait for it */
	SIGN_HASH  /* hash the body into *k, then sign_finish */
};

/* What j's message, whose first n bytes (up to HEADER_MAX) are h, needs.
 * SIGN_HASH: *k is the hasher, *hlen the header block's length with its
 * last CRLF, *pem the key (the caller frees it). */
static enum sign_how sign_begin(struct queue *q, struct job *j, const char *h, size_t *hlen,
				char **pem, struct dkim **k)
{
	struct msig *m = msig_get(q, j);
	char dom[256], sel[64], err[256];
	const char *e;

	*pem = NULL;
	*k = NULL;
	if (m->state == MS_DONE) {
		prefix_from(j, m);
		return SIGN_NO;
	}
	if (m->state == MS_PENDING)
		return SIGN_WAIT;
	m->state = MS_DONE; /* unless a hasher comes out of this */
	e = strstr(h, "\r\n\r\n");
	if (!e) {
		log_info(NULL,
			 "event=dkim-skipped message=%lld reason=\"no header end in %zu bytes\"",
			 (long long)j->message_id, strlen(h));
		return SIGN_NO;
	}
	*hlen = (size_t)(e - h) + 2;
	if (from_domain(h, *hlen, dom, sizeof(dom)) < 0 || store_domain_is_local(q->st, dom) != 1)
		return SIGN_NO;
	if (store_dkim_get(q->st, dom, sel, sizeof(sel), pem) != 0) {
		log_warn(NULL,
			 "event=dkim-skipped domain=%s reason=\"no DKIM key (loftctl dns %s makes "
			 "one)\"",
			 dom, dom);
		return SIGN_NO;
	}
	/* with signing threads the key is theirs to parse (and keep) */
	*k = dkim_new(queue_sign_async(q) ? NULL : *pem, dom, sel, err, sizeof(err));
	if (!*k) {
		log_err(NULL, "event=dkim-failed domain=%s error=\"%s\"", dom, err);
		return SIGN_NO;
	}
	m->state = MS_PENDING;
	return SIGN_HASH;
}

/* The body is hashed: the signature made here, or handed to a signing
 * thread (then returns 1, else 0).  Takes pem. */
static int sign_finish(struct queue *q, struct job *j, struct dkim *k, const char *h, size_t hlen,
		       char *pem)
{
	struct msig *m = j->ms;
	unsigned char hash[32];
	char *field = NULL, err[256];
	int pending = 0;

	m->state = MS_DONE;
	if (queue_sign_async(q)) {
		/* hashed here, RSA on a signing thread */
		struct sign_req *r = calloc(1, sizeof(*r));
		if (!r)
			bug("out of memory");
		if (dkim_sign_prepare(k, h, hlen, (int64_t)time(NULL), &j->unsigned_field, hash,
				      err, sizeof(err)) < 0) {
			free(r);
			log_err(NULL, "event=dkim-failed message=%lld error=\"%s\"",
				(long long)j->message_id, err);
			goto out;
		}
		memcpy(r->hash, hash, sizeof(hash));
		r->pem = pem;
		pem = NULL;
		r->done = on_signed;
		r->arg = j;
		queue_sign_submit(q, r);
		m->state = MS_PENDING;
		pending = 1;
		goto out;
	}
	if (dkim_sign(k, h, hlen, (int64_t)time(NULL), &field, err, sizeof(err)) < 0) {
		log_err(NULL, "event=dkim-failed message=%lld error=\"%s\"",
			(long long)j->message_id, err);
		goto out;
	}
	m->field = field;
	prefix_from(j, m);
	log_debug(NULL, "event=dkim-signed message=%lld", (long long)j->message_id);
out:
	if (pem) {
		explicit_bzero(pem, strlen(pem));
		free(pem);
	}
	return pending;
}

/* The prefix is known: the message's size and fields for the client. */
static void set_prefix(struct job *j)
{
	j->size = j->raw_size + j->prefix_len;
	j->msg.size = j->size;
	j->msg.prefix = j->prefix;
	j->msg.prefix_len = j->prefix_len;
}

static void on_signed(struct sign_req *r)
{
	struct job *j = r->arg, *w, *next;
	struct msig *m = j->ms;

	if (r->sig) {
		m->field = dkim_field_finish(j->unsigned_field, r->sig);
		log_debug(NULL, "event=dkim-signed message=%lld", (long long)j->message_id);
	} else {
		log_err(NULL,
			"event=dkim-failed message=%lld error=\"%s\" effect=\"sent unsigned\"",
			(long long)j->message_id, r->err);
	}
	m->state = MS_DONE;
	free(j->unsigned_field);
	j->unsigned_field = NULL;
	queue_sign_req_free(r);
	/* every waiter holds m, so m lives until the last one is on its way */
	w = m->waiters;
	m->waiters = NULL;
	prefix_from(j, m);
	set_prefix(j);
	queue_job_ready(j);
	for (; w; w = next) {
		next = w->ms_next;
		w->ms_next = NULL;
		prefix_from(w, m);
		set_prefix(w);
		queue_job_ready(w);
	}
}

/* smtpc_read_fn: a chunk of the job's message at off. */
static long job_read(void *arg, char *buf, size_t n, uint64_t off)
{
	struct job *j = arg;
	struct queue *q = j->d->q;
	size_t size;
	int rc;

	if (off >= j->raw_size)
		return 0; /* the end: no need to open the row to learn it */
	rc = store_raw_open(q->raw, j->message_id, &size);
	if (rc < 0 || rc == STORE_NOTFOUND) {
		log_err(NULL, "event=store-read-failed message=%lld error=\"%s\"",
			(long long)j->message_id, store_errmsg(q->st));
		return -1;
	}
	if (off >= size) {
		store_raw_close(q->raw);
		return 0;
	}
	if (n > size - off)
		n = (size_t)(size - off);
	rc = store_raw_read(q->raw, buf, n, (size_t)off);
	store_raw_close(q->raw);
	return rc < 0 ? -1 : (long)n;
}

static int has_8bit(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s >= 0x80)
			return 1;
	return 0;
}

/* --- 8-bit to 7-bit (RFC 6152 3) ---------------------------------------- */

struct qp_state {
	struct qp_enc e;
	struct mime7 *m;   /* a multipart or message/: part by part (mime7.h) */
	struct buf ob;	   /* mime7's output */
	size_t raw_off;	   /* next raw byte to encode */
	size_t body_start; /* where the raw body begins */
	char *buf;	   /* single part: encoded */
	const char *cur;   /* encoded, not yet handed out: cur[pos..len) */
	size_t len, pos;
	int done;
};

void queue_qp_free(struct qp_state *s)
{
	if (s) {
		mime7_free(s->m);
		buf_free(&s->ob);
		free(s->buf);
		free(s);
	}
}

static int ci_prefix(const char *p, size_t n, const char *w)
{
	size_t k = strlen(w);
	return n >= k && strncasecmp(p, w, k) == 0;
}

/* Encodes the next raw chunk of j's body into s->buf.  Returns 0, or -1
 * on a read error. */
static int qp_fill(struct queue *q, struct job *j, struct qp_state *s)
{
	char raw[4096];
	size_t n;

	s->len = s->pos = 0;
	if (s->m)
		buf_reset(&s->ob);
	if (s->raw_off >= j->raw_size) {
		s->done = 1;
		if (s->m) {
			if (mime7_finish(s->m, &s->ob) < 0)
				return -1;
			s->cur = s->ob.data;
			s->len = s->ob.len;
			return 0;
		}
		s->len = qp_finish(&s->e, s->buf);
		s->cur = s->buf;
		return 0;
	}
	n = j->raw_size - s->raw_off < sizeof(raw) ? j->raw_size - s->raw_off : sizeof(raw);
	if (store_raw_open(q->raw, j->message_id, &(size_t){0}) != 0 ||
	    store_raw_read(q->raw, raw, n, s->raw_off) < 0) {
		store_raw_close(q->raw);
		return -1;
	}
	store_raw_close(q->raw);
	s->raw_off += n;
	if (s->m) {
		if (mime7_feed(s->m, raw, n, &s->ob) < 0)
			return -1;
		s->cur = s->ob.data;
		s->len = s->ob.len;
		return 0;
	}
	s->len = qp_encode(&s->e, raw, n, s->buf);
	s->cur = s->buf;
	return 0;
}

static void qp_rewind(struct qp_state *s)
{
	qp_init(&s->e);
	if (s->m)
		mime7_reset(s->m);
	s->raw_off = s->body_start;
	s->len = s->pos = 0;
	s->done = 0;
}

/* smtpc_read_fn of a downgraded job: the encoded body, in order. */
static long job_read_qp(void *arg, char *buf, size_t n, uint64_t off)
{
	struct job *j = arg;
	struct qp_state *s = j->qp;
	size_t o = 0;

	if (off == 0)
		qp_rewind(s);
	while (o < n) {
		if (s->pos == s->len) {
			if (s->done)
				break;
			if (qp_fill(j->d->q, j, s) < 0)
				return -1;
			continue;
		}
		size_t c = s->len - s->pos < n - o ? s->len - s->pos : n - o;
		memcpy(buf + o, s->cur + s->pos, c);
		s->pos += c;
		o += c;
	}
	return (long)o;
}

/* smtpc_message.downgrade: a single-part message with a 7-bit header
 * gets Content-Transfer-Encoding: quoted-printable and its body encoded
 * on the way out; a multipart (or an attached message/rfc822) has each
 * 8-bit part encoded so, nested ones too (lib/mail/mime7); either is
 * signed again over the new form.  8-bit in a header (that needs
 * SMTPUTF8), other message/ types, or a part mime7 cannot convert: -1. */
static int job_downgrade(void *arg)
{
	struct job *j = arg;
	struct queue *q = j->d->q;
	size_t n = j->raw_size < HEADER_MAX ? j->raw_size : HEADER_MAX, hlen;
	char *h = malloc(n + 1), *e, *field = NULL;
	struct buf nh;
	struct qp_state *s = NULL;
	int have_mv = 0, have_ct = 0, rc = -1, parts = 0;
	char ctype[128], bnd[MIME7_BOUNDARY_MAX + 1] = "";
	uint64_t body_len = 0;
	char dom[256], sel[64], err[256], *pem = NULL;
	struct dkim *k = NULL;

	buf_init(&nh, HEADER_MAX + 256);
	if (!h || store_raw_open(q->raw, j->message_id, &(size_t){0}) != 0 ||
	    store_raw_read(q->raw, h, n, 0) < 0) {
		store_raw_close(q->raw);
		goto out;
	}
	store_raw_close(q->raw);
	h[n] = '\0';
	e = strstr(h, "\r\n\r\n");
	if (!e)
		goto out;
	hlen = (size_t)(e - h) + 2;
	for (size_t i = 0; i < hlen; i++)
		if ((unsigned char)h[i] >= 0x80)
			goto out; /* an 8-bit header needs SMTPUTF8, not this */
	/* the fields, folded lines with them */
	for (size_t i = 0; i < hlen;) {
		size_t fe = i;
		do {
			const char *nl = memchr(h + fe, '\n', hlen - fe);
			fe = nl ? (size_t)(nl - h) + 1 : hlen;
		} while (fe < hlen && (h[fe] == ' ' || h[fe] == '\t'));
		const char *f = h + i;
		size_t fl = fe - i;
		if (ci_prefix(f, fl, "content-transfer-encoding:")) {
			i = fe;
			continue;
		}
		if (ci_prefix(f, fl, "mime-version:"))
			have_mv = 1;
		if (ci_prefix(f, fl, "content-type:") && !have_ct) {
			if (mime7_content_type(f + 13, fl - 13, ctype, sizeof(ctype), bnd,
					       sizeof(bnd)) < 0)
				goto out;
			if (strncmp(ctype, "multipart/", 10) == 0) {
				if (!bnd[0])
					goto out; /* no boundary: no parts to find */
				parts = 1;
			} else if (strcmp(ctype, "message/rfc822") == 0 ||
				   strcmp(ctype, "message/global") == 0) {
				parts = 1;
				bnd[0] = '\0'; /* mime7: an attached message */
			} else if (strncmp(ctype, "message/", 8) == 0) {
				goto out; /* partial, external-body: 7bit only */
			}
			have_ct = 1;
		}
		if (buf_append(&nh, f, fl) < 0)
			goto out;
		i = fe;
	}
	/* a multipart's own transfer encoding goes: 7bit once its parts are */
	if ((!have_mv && buf_puts(&nh, "MIME-Version: 1.0\r\n") < 0) ||
	    (!have_ct && buf_puts(&nh, "Content-Type: text/plain; charset=unknown-8bit\r\n") < 0) ||
	    (!parts && buf_puts(&nh, "Content-Transfer-Encoding: quoted-printable\r\n") < 0))
		goto out;

	s = calloc(1, sizeof(*s));
	if (!s || !(s->buf = malloc(QP_MAX_OUT(4096))))
		goto out;
	/* mime7's output for 4 KB of input: the encoded bytes, or a part
	 * header it held back (at most MIME7_HEADER_MAX) */
	buf_init(&s->ob, QP_MAX_OUT(4096) + MIME7_HEADER_MAX + 4096);
	if (parts && !(s->m = mime7_new(bnd[0] ? bnd : NULL)))
		goto out;
	s->body_start = hlen + 2;
	j->qp = s;
	/* one pass: the exact size, and the body hash when signing */
	if (from_domain(nh.data, nh.len, dom, sizeof(dom)) == 0 &&
	    store_domain_is_local(q->st, dom) == 1 &&
	    store_dkim_get(q->st, dom, sel, sizeof(sel), &pem) == 0)
		k = dkim_new(pem, dom, sel, err, sizeof(err));
	qp_rewind(s);
	while (!s->done) {
		if (qp_fill(q, j, s) < 0) {
			log_info(NULL, "event=downgrade-failed message=%lld reason=\"%s\"",
				 (long long)j->message_id,
				 s->m && mime7_error(s->m)[0] ? mime7_error(s->m)
							      : "message unreadable");
			goto out;
		}
		body_len += s->len;
		if (k)
			dkim_body(k, s->cur, s->len);
	}
	if (k && dkim_sign(k, nh.data, nh.len, (int64_t)time(NULL), &field, err, sizeof(err)) < 0) {
		log_err(NULL, "event=dkim-failed error=\"%s\" effect=\"sent unsigned\"", err);
		field = NULL;
	}
	qp_rewind(s);
	/* the new prefix: signature, the rewritten header, the empty line */
	struct buf pre;
	buf_init(&pre, HEADER_MAX + 8192);
	if ((field && buf_puts(&pre, field) < 0) || buf_append(&pre, nh.data, nh.len) < 0 ||
	    buf_puts(&pre, "\r\n") < 0) {
		buf_free(&pre);
		goto out;
	}
	free(j->prefix);
	j->prefix = buf_steal(&pre, &j->prefix_len);
	j->msg.prefix = j->prefix;
	j->msg.prefix_len = j->prefix_len;
	j->msg.size = j->prefix_len + body_len;
	j->msg.eightbit = 0;
	j->msg.read = job_read_qp;
	rc = 0;
out:
	if (rc < 0) {
		if (j->qp == s)
			j->qp = NULL;
		queue_qp_free(s);
	}
	if (pem) {
		explicit_bzero(pem, strlen(pem));
		free(pem);
	}
	dkim_free(k);
	free(field);
	free(h);
	buf_free(&nh);
	return rc;
}

/* One pass over the stored message: the 8-bit test and, when it is
 * signed, the DKIM body hash, from the same chunks (three passes read
 * each page of the message three times: a pread each). */
int queue_job_prepare(struct queue *q, struct job *j, struct smtpc_status *st)
{
	char buf[PREP_CHUNK], *h = NULL, *pem = NULL;
	size_t size, off, n, hlen = 0;
	struct dkim *k = NULL;
	enum sign_how how = SIGN_NO;
	int rc, pending = 0;

	free(j->addrs);
	j->addrs = calloc(j->n, sizeof(*j->addrs));
	if (!j->addrs)
		bug("out of memory");
	j->smtputf8 = has_8bit(j->mail_from);
	for (size_t i = 0; i < j->n; i++) {
		j->addrs[i] = j->r[i].addr;
		j->smtputf8 |= has_8bit(j->r[i].addr);
	}
	free(j->prefix);
	j->prefix = NULL;
	j->prefix_len = 0;
	rc = store_raw_open(q->raw, j->message_id, &size);
	n = size < HEADER_MAX ? size : HEADER_MAX;
	if (rc != 0 || !(h = malloc(n + 1)) || store_raw_read(q->raw, h, n, 0) < 0)
		goto unreadable;
	h[n] = '\0';
	j->eightbit = has_8bit_n(h, n);
	how = sign_begin(q, j, h, &hlen, &pem, &k);
	if (k && hlen + 2 < n)
		dkim_body(k, h + hlen + 2, n - hlen - 2);
	for (off = n; off < size && (k || !j->eightbit);) {
		size_t c = size - off < sizeof(buf) ? size - off : sizeof(buf);
		if (store_raw_read(q->raw, buf, c, off) < 0)
			goto unreadable;
		if (k)
			dkim_body(k, buf, c);
		if (!j->eightbit)
			j->eightbit = has_8bit_n(buf, c);
		off += c;
	}
	store_raw_close(q->raw);
	if (how == SIGN_HASH) {
		pending = sign_finish(q, j, k, h, hlen, pem);
	} else if (how == SIGN_WAIT) {
		/* on_signed() goes on with it */
		j->ms_next = j->ms->waiters;
		j->ms->waiters = j;
		pending = 1;
	}
	pem = NULL;
	dkim_free(k);
	free(h);
	j->raw_size = size;
	j->msg.mail_from = j->mail_from;
	j->msg.rcpts = j->addrs;
	j->msg.nrcpts = j->n;
	j->msg.eightbit = j->eightbit;
	j->msg.smtputf8 = j->smtputf8;
	j->msg.read = job_read;
	j->msg.read_arg = j;
	j->msg.downgrade = job_downgrade;
	queue_qp_free(j->qp);
	j->qp = NULL;
	set_prefix(j);
	return pending;
unreadable:
	smtpc_status_set(st, 0, "4.3.0", "message %lld unreadable: %s", (long long)j->message_id,
			 store_errmsg(q->st));
	store_raw_close(q->raw);
	if (how == SIGN_HASH)
		j->ms->state = MS_NEW; /* the next job looks again */
	if (pem) {
		explicit_bzero(pem, strlen(pem));
		free(pem);
	}
	dkim_free(k);
	free(h);
	return -1;
}
