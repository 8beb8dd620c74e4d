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
 * aligns).  The body is hashed in chunks.  Leaves j->prefix NULL when it
 * does not sign. */
static void on_signed(struct sign_req *r);

/* Returns 1 when the signature is being made on a thread, else 0 (signed
 * now, or sent unsigned). */
static int sign(struct queue *q, struct job *j, size_t size)
{
	int pending = 0;
	unsigned char hash[32];
	char *h = NULL, *pem = NULL, *field = NULL, dom[256], sel[64], err[256];
	char buf[PREP_CHUNK];
	size_t n = size < HEADER_MAX ? size : HEADER_MAX, hlen, off;
	struct dkim *k = NULL;
	char *e;

	if (q->sig && q->sig_mid == j->message_id) {
		j->prefix = strdup(q->sig);
		j->prefix_len = j->prefix ? strlen(j->prefix) : 0;
		return 0;
	}
	h = malloc(n + 1);
	if (!h || store_raw_read(q->raw, h, n, 0) < 0)
		goto out;
	h[n] = '\0';
	e = strstr(h, "\r\n\r\n");
	if (!e) {
		log_info(NULL,
			 "event=dkim-skipped message=%lld reason=\"no header end in %zu bytes\"",
			 (long long)j->message_id, n);
		goto out;
	}
	hlen = (size_t)(e - h) + 2;
	if (from_domain(h, hlen, dom, sizeof(dom)) < 0 || store_domain_is_local(q->st, dom) != 1)
		goto out;
	if (store_dkim_get(q->st, dom, sel, sizeof(sel), &pem) != 0) {
		log_warn(NULL,
			 "event=dkim-skipped domain=%s reason=\"no DKIM key (loftctl dns %s makes "
			 "one)\"",
			 dom, dom);
		goto out;
	}
	k = dkim_new(pem, dom, sel, err, sizeof(err));
	if (!k) {
		log_err(NULL, "event=dkim-failed domain=%s error=\"%s\"", dom, err);
		goto out;
	}
	for (off = hlen + 2; off < size;) {
		size_t c = size - off < sizeof(buf) ? size - off : sizeof(buf);
		if (store_raw_read(q->raw, buf, c, off) < 0)
			goto out;
		dkim_body(k, buf, c);
		off += c;
	}
	if (queue_sign_async(q)) {
		/* hash here, RSA on a signing thread */
		struct sign_req *r = calloc(1, sizeof(*r));
		if (!r)
			bug("out of memory");
		if (dkim_sign_prepare(k, h, hlen, (int64_t)time(NULL), &j->unsigned_field, hash,
				      err, sizeof(err)) < 0) {
			free(r);
			log_err(NULL, "event=dkim-failed domain=%s error=\"%s\"", dom, err);
			goto out;
		}
		memcpy(r->hash, hash, sizeof(hash));
		r->pem = pem;
		pem = NULL;
		r->done = on_signed;
		r->arg = j;
		queue_sign_submit(q, r);
		pending = 1;
		goto out;
	}
	if (dkim_sign(k, h, hlen, (int64_t)time(NULL), &field, err, sizeof(err)) < 0) {
		log_err(NULL, "event=dkim-failed domain=%s error=\"%s\"", dom, err);
		goto out;
	}
	j->prefix = field;
	j->prefix_len = strlen(field);
	free(q->sig);
	q->sig = strdup(field);
	q->sig_mid = j->message_id;
	log_debug(NULL, "event=dkim-signed message=%lld d=%s s=%s", (long long)j->message_id, dom,
		  sel);
out:
	if (pem)
		explicit_bzero(pem, strlen(pem));
	free(pem);
	free(h);
	dkim_free(k);
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
	struct job *j = r->arg;
	struct queue *q = j->d->q;

	if (r->sig) {
		j->prefix = dkim_field_finish(j->unsigned_field, r->sig);
		j->prefix_len = j->prefix ? strlen(j->prefix) : 0;
		if (j->prefix) {
			free(q->sig);
			q->sig = strdup(j->prefix);
			q->sig_mid = j->message_id;
		}
	} else {
		log_err(NULL,
			"event=dkim-failed message=%lld error=\"%s\" effect=\"sent unsigned\"",
			(long long)j->message_id, r->err);
	}
	free(j->unsigned_field);
	j->unsigned_field = NULL;
	queue_sign_req_free(r);
	set_prefix(j);
	queue_job_ready(j);
}

/* smtpc_read_fn: a chunk of the job's message at off. */
static long job_read(void *arg, char *buf, size_t n, uint64_t off)
{
	struct job *j = arg;
	struct queue *q = j->d->q;
	size_t size;
	int rc;

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

int queue_job_prepare(struct queue *q, struct job *j, struct smtpc_status *st)
{
	char buf[PREP_CHUNK];
	size_t size, off = 0;
	int rc;

	free(j->addrs);
	j->addrs = calloc(j->n, sizeof(*j->addrs));
	if (!j->addrs)
		bug("out of memory");
	j->smtputf8 = has_8bit(j->mail_from);
	for (size_t i = 0; i < j->n; i++) {
		j->addrs[i] = j->r[i].addr;
		j->smtputf8 |= has_8bit(j->r[i].addr);
	}
	rc = store_raw_open(q->raw, j->message_id, &size);
	if (rc != 0) {
		smtpc_status_set(st, 0, "4.3.0", "message %lld unreadable: %s",
				 (long long)j->message_id, store_errmsg(q->st));
		store_raw_close(q->raw);
		return -1;
	}
	free(j->prefix);
	j->prefix = NULL;
	j->prefix_len = 0;
	int pending = sign(q, j, size);
	j->eightbit = 0;
	while (off < size && !j->eightbit) {
		size_t n = size - off < sizeof(buf) ? size - off : sizeof(buf);
		if (store_raw_read(q->raw, buf, n, off) < 0) {
			smtpc_status_set(st, 0, "4.3.0", "message %lld unreadable",
					 (long long)j->message_id);
			store_raw_close(q->raw);
			return -1;
		}
		for (size_t i = 0; i < n; i++)
			if ((unsigned char)buf[i] >= 0x80) {
				j->eightbit = 1;
				break;
			}
		off += n;
	}
	store_raw_close(q->raw);
	j->raw_size = size;
	j->msg.mail_from = j->mail_from;
	j->msg.rcpts = j->addrs;
	j->msg.nrcpts = j->n;
	j->msg.eightbit = j->eightbit;
	j->msg.smtputf8 = j->smtputf8;
	j->msg.read = job_read;
	j->msg.read_arg = j;
	set_prefix(j);
	return pending;
}
