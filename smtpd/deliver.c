/*
 * End of a message: the submission checks on its header (From: and Sender:
 * owned by the authenticated user), the trace headers, and one durable
 * store transaction that files it in every local recipient's INBOX and
 * queues it for every remote one.  smtp_deliver_prepare() runs on the event
 * loop; the store thread (commit.c) turns each prepared message into
 * smtp_deliver_items() and stores all the messages ready at the same time in
 * one transaction; the session replies 250 only after that commit.
 */
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "daemon.h"
#include "log.h"
#include "parser.h"
#include "smtpd.h"
#include "store.h"
#include "store_users.h"
#include "store_deliver.h"

static int ci_name(const char *p, size_t n, const char *name)
{
	size_t k = strlen(name);

	if (n != k)
		return 0;
	for (size_t i = 0; i < n; i++) {
		int a = (unsigned char)p[i], b = (unsigned char)name[i];
		if (a >= 'A' && a <= 'Z')
			a += 32;
		if (b >= 'A' && b <= 'Z')
			b += 32;
		if (a != b)
			return 0;
	}
	return 1;
}

int smtp_deliver_scan_headers(const char *msg, size_t len, struct deliver_hdrs *out)
{
	size_t i = 0;

	memset(out, 0, sizeof(*out));
	while (i < len) {
		const char *line = msg + i, *lf = memchr(line, '\n', len - i);
		size_t llen = lf ? (size_t)(lf - line) + 1 : len - i;

		if (llen <= 2 && (line[0] == '\n' || (line[0] == '\r' && llen == 2))) {
			out->header_len = i + llen; /* the blank line */
			return 0;
		}
		if (line[0] == ' ' || line[0] == '\t') {
			if (i == 0)
				return -1; /* continuation with nothing to continue */
			i += llen;
			continue;
		}
		const char *colon = memchr(line, ':', llen);
		if (!colon || colon == line)
			return -1;
		for (const char *q = line; q < colon; q++)
			if ((unsigned char)*q <= 32 || (unsigned char)*q >= 127)
				return -1; /* field names are printable ASCII */
		size_t nlen = (size_t)(colon - line);
		/* the value runs to the end of the field, folded lines included */
		size_t j = i + llen;
		while (j < len && (msg[j] == ' ' || msg[j] == '\t')) {
			const char *lf2 = memchr(msg + j, '\n', len - j);
			j = lf2 ? (size_t)(lf2 - msg) + 1 : len;
		}
		const char *val = colon + 1;
		size_t vlen = (size_t)(msg + j - val);
		if (ci_name(line, nlen, "From")) {
			if (out->n_from++ == 0)
				out->from = val, out->from_len = vlen;
		} else if (ci_name(line, nlen, "Sender")) {
			if (out->n_sender++ == 0)
				out->sender = val, out->sender_len = vlen;
		} else if (ci_name(line, nlen, "Date")) {
			out->n_date++;
		} else if (ci_name(line, nlen, "Message-ID")) {
			out->n_msgid++;
		}
		i = j;
	}
	out->header_len = len; /* headers only, no body */
	return 0;
}

struct owned_check {
	struct store *st;
	int64_t user_id;
	int bad;
	char first_bad[STORE_ADDR_MAX + 1];
};

static int owned_cb(void *arg, const char *addr, size_t len)
{
	struct owned_check *oc = arg;
	char a[STORE_ADDR_MAX + 1];

	if (len > STORE_ADDR_MAX) {
		oc->bad = 1;
		return 1;
	}
	memcpy(a, addr, len);
	a[len] = '\0';
	if (store_address_owned_by(oc->st, oc->user_id, a) != 1) {
		oc->bad = 1;
		snprintf(oc->first_bad, sizeof(oc->first_bad), "%s", a);
		return 1;
	}
	return 0;
}

/* Returns 0 when every address in the header value is the user's, else -1
 * with reply set. */
static int check_owned(const struct deliver_req *r, const char *field, const char *v, size_t vlen,
		       char *reply, size_t replylen)
{
	struct owned_check oc = {r->srv->st, r->auth_user_id, 0, ""};
	int n = smtp_header_addrs(v, vlen, owned_cb, &oc);

	if (n < 0) {
		snprintf(reply, replylen, "550 5.6.0 Cannot parse the %s: header", field);
		return -1;
	}
	if (n == 0 && !oc.bad) {
		snprintf(reply, replylen, "550 5.6.0 %s: header holds no address", field);
		return -1;
	}
	if (oc.bad) {
		char q[300];
		log_quote(q, sizeof(q), oc.first_bad, strlen(oc.first_bad));
		log_warn(r->sid, "event=sender-refused field=%s address=%s user=%s", field, q,
			 r->auth_user);
		snprintf(reply, replylen, "553 5.7.1 You may not send as that %s: address", field);
		return -1;
	}
	return 0;
}

static void rfc5322_date(char *out, size_t outlen)
{
	time_t now = time(NULL);
	struct tm tm;

	gmtime_r(&now, &tm);
	strftime(out, outlen, "%a, %d %b %Y %H:%M:%S +0000", &tm);
}

/* Writes the trace and missing headers into hdr.  Returns the length of
 * the Return-Path line (the queued copy starts after it), or -1 if the gap
 * would overflow (a bug: every part is bounded). */
static long build_headers(const struct deliver_req *r, const struct deliver_hdrs *h,
			  struct buf *hdr)
{
	char date[64], rp[STORE_ADDR_MAX + 32];
	long rplen;

	rfc5322_date(date, sizeof(date));
	snprintf(rp, sizeof(rp), "Return-Path: <%s>\r\n", r->mail_from);
	rplen = (long)strlen(rp);
	buf_puts(hdr, rp);
	/* RFC 3848 protocol names */
	const char *proto = r->esmtp ? (r->tls_version ? (r->auth_user ? "ESMTPSA" : "ESMTPS")
						       : (r->auth_user ? "ESMTPA" : "ESMTP"))
				     : "SMTP";
	buf_printf(hdr, "Received: from %s ([%s])\r\n\tby %s (loft-smtpd) with %s id %s", r->helo,
		   r->peer_ip, r->srv->hostname, proto, r->sid);
	if (r->tls_version)
		buf_printf(hdr, "\r\n\t(version=%s cipher=%s)", r->tls_version, r->tls_cipher);
	if (r->auth_user)
		buf_printf(hdr, "\r\n\t(authenticated user %s)", r->auth_user);
	if (r->n_users + r->n_remote == 1 && r->n_remote == 1)
		buf_printf(hdr, "\r\n\tfor <%s>", r->remote[0]);
	buf_printf(hdr, ";\r\n\t%s\r\n", date);
	if (r->submission && h->n_msgid == 0) {
		unsigned char rnd[12];
		if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
			memset(rnd, 0, sizeof(rnd));
		buf_puts(hdr, "Message-ID: <");
		for (size_t i = 0; i < sizeof(rnd); i++)
			buf_printf(hdr, "%02x", rnd[i]);
		buf_printf(hdr, ".%lld@%s>\r\n", (long long)time(NULL), r->srv->hostname);
	}
	if (r->submission && h->n_date == 0)
		buf_printf(hdr, "Date: %s\r\n", date);
	/* buf_printf fails silently at the max: the check is the total */
	if (hdr->len >= hdr->max)
		return -1;
	return rplen;
}

int smtp_deliver_prepare(const struct deliver_req *r, struct deliver_ready *out, char *reply,
			 size_t replylen)
{
	const char *msg = r->body->data + DELIVER_GAP;
	size_t len = r->body->len - DELIVER_GAP;
	struct deliver_hdrs h;
	struct buf hdr;
	long rplen;

	if (smtp_deliver_scan_headers(msg, len, &h) < 0) {
		snprintf(reply, replylen, "550 5.6.0 Message header is malformed");
		return -1;
	}
	if (r->auth_user) {
		/* one From: (several would let a client show one and sign
		 * another); Sender: checked too when present */
		if (h.n_from != 1 || h.n_sender > 1) {
			snprintf(reply, replylen,
				 "550 5.6.0 Message must have exactly one From: header");
			return -1;
		}
		if (check_owned(r, "From", h.from, h.from_len, reply, replylen) < 0)
			return -1;
		if (h.n_sender &&
		    check_owned(r, "Sender", h.sender, h.sender_len, reply, replylen) < 0)
			return -1;
	}

	buf_init(&hdr, DELIVER_GAP);
	rplen = build_headers(r, &h, &hdr);
	if (rplen < 0)
		bug("trace headers outgrew DELIVER_GAP");
	out->start = r->body->data + DELIVER_GAP - hdr.len;
	memcpy(out->start, hdr.data, hdr.len);
	out->len = hdr.len + len;
	out->rplen = (size_t)rplen;
	out->message_id = 0;
	buf_free(&hdr);
	return 0;
}

size_t smtp_deliver_items(const struct deliver_req *r, const struct deliver_ready *rd,
			  struct store_delivery out[2])
{
	size_t n = 0;

	if (r->n_users > 0) {
		/* Return-Path belongs to final delivery only */
		out[n++] = (struct store_delivery){
		    .data = rd->start,
		    .len = rd->len,
		    .mail_from = r->mail_from,
		    .user_ids = r->users,
		    .n_users = r->n_users,
		};
	}
	if (r->n_remote > 0) {
		out[n++] = (struct store_delivery){
		    .data = rd->start + rd->rplen,
		    .len = rd->len - rd->rplen,
		    .mail_from = r->mail_from,
		    .remote_rcpts = r->remote,
		    .n_remote = r->n_remote,
		};
	}
	return n;
}

void smtp_deliver_log(const struct deliver_req *r, const struct deliver_ready *rd)
{
	log_info(r->sid,
		 "event=delivered from=<%s> local=%zu remote=%zu size=%zu message_id=%lld%s%s",
		 r->mail_from, r->n_users, r->n_remote, rd->len, (long long)rd->message_id,
		 r->auth_user ? " user=" : "", r->auth_user ? r->auth_user : "");
}
