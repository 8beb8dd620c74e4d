/*
 * Getting a job's message ready to send: its size, whether the body has
 * 8-bit bytes (BODY=8BITMIME, refused by a peer without it) and whether
 * the envelope needs SMTPUTF8.  The bytes are read from the store in
 * chunks, each read in its own short read transaction, so neither the
 * whole message nor a read lock is held while the network is slow.
 */
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "queue.h"
#include "store.h"
#include "store_imap.h"

#define PREP_CHUNK 16384

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
	j->size = size + j->prefix_len;
	j->msg.mail_from = j->mail_from;
	j->msg.rcpts = j->addrs;
	j->msg.nrcpts = j->n;
	j->msg.size = j->size;
	j->msg.eightbit = j->eightbit;
	j->msg.smtputf8 = j->smtputf8;
	j->msg.prefix = j->prefix;
	j->msg.prefix_len = j->prefix_len;
	j->msg.read = job_read;
	j->msg.read_arg = j;
	return 0;
}
