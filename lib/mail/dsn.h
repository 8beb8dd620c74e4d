#ifndef LOFT_DSN_H
#define LOFT_DSN_H
/*
 * Delivery status notifications (RFC 3464): the bounce (Action: failed)
 * and the delay notice (Action: delayed) sent to a message's sender, as a
 * multipart/report with a readable explanation, the machine-readable
 * message/delivery-status, and the original message's header
 * (text/rfc822-headers, RFC 6522).
 */
#include <stddef.h>
#include <stdint.h>

#include "buf.h"

struct dsn_rcpt {
	const char *addr;	/* the recipient, "local@domain" */
	const char *status;	/* enhanced status code, "5.1.1" */
	const char *diag;	/* the peer's reply or our reason ("550 5.1.1 no such user") */
	const char *remote_mta; /* host that answered, "" when none */
};

struct dsn {
	const char *reporting_mta; /* our host name */
	const char *to;		   /* the original sender */
	int delayed;		   /* 1: delay notice, 0: failure */
	int64_t arrival;	   /* when the message was queued (unix time) */
	int64_t retry_until;	   /* delay notices: when we give up */
	int64_t now;
	const char *orig_header; /* the original header block, may be NULL */
	size_t orig_header_len;
	const char *boundary_salt; /* makes the boundary unique (e.g. queue id) */
};

/* Appends the whole notification message (header and body, CRLF line
 * ends) to out.  Control bytes in the texts are replaced, never passed
 * on.  Returns 0, or -1 when out's maximum would be passed. */
int dsn_build(const struct dsn *d, const struct dsn_rcpt *r, size_t n, struct buf *out);

#endif
