/*
 * RFC 3464 notifications.  The texts put in them come partly from remote
 * servers (their replies): each is cleaned of control bytes and bounded
 * before it goes into a header-like field.
 */
#include "dsn.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#define DSN_FIELD_MAX 400

/* Copies s into out with control bytes (and anything that would end a
 * line) made spaces, bounded. */
static const char *clean(const char *s, char *out, size_t outlen)
{
	size_t o = 0;

	if (!s)
		s = "";
	for (; *s && o + 1 < outlen; s++) {
		unsigned char c = (unsigned char)*s;
		out[o++] = (c < 0x20 || c == 0x7f) ? ' ' : (char)c;
	}
	out[o] = '\0';
	return out;
}

static void rfc5322_date(int64_t t, char *out, size_t outlen)
{
	time_t tt = (time_t)t;
	struct tm tm;

	gmtime_r(&tt, &tm);
	strftime(out, outlen, "%a, %d %b %Y %H:%M:%S +0000", &tm);
}

int dsn_build(const struct dsn *d, const struct dsn_rcpt *r, size_t n, struct buf *out)
{
	char date[64], arr[64], until[64], a[DSN_FIELD_MAX], b[DSN_FIELD_MAX], bnd[96];
	char host[256];
	int rc = 0;

	clean(d->reporting_mta, host, sizeof(host));
	rfc5322_date(d->now, date, sizeof(date));
	rfc5322_date(d->arrival, arr, sizeof(arr));
	rfc5322_date(d->retry_until, until, sizeof(until));
	snprintf(bnd, sizeof(bnd), "=_loft-dsn-%lld-%.40s", (long long)d->now,
		 clean(d->boundary_salt, a, 40));

	rc |= buf_printf(out,
			 "From: Mail Delivery System <MAILER-DAEMON@%s>\r\n"
			 "To: <%s>\r\n"
			 "Subject: %s\r\n"
			 "Date: %s\r\n"
			 "Message-ID: <dsn-%lld-%.40s@%s>\r\n"
			 "Auto-Submitted: auto-replied\r\n"
			 "MIME-Version: 1.0\r\n"
			 "Content-Type: multipart/report; report-type=delivery-status;\r\n"
			 "\tboundary=\"%s\"\r\n"
			 "\r\n"
			 "This is a MIME-encapsulated delivery status notification.\r\n"
			 "\r\n--%s\r\n"
			 "Content-Type: text/plain; charset=utf-8\r\n"
			 "Content-Description: Notification\r\n"
			 "\r\n",
			 host, clean(d->to, b, sizeof(b)),
			 d->delayed ? "Delivery delayed: message not yet delivered"
				    : "Undelivered Mail Returned to Sender",
			 date, (long long)d->now, clean(d->boundary_salt, a, 40), host, bnd, bnd);
	if (d->delayed)
		rc |= buf_printf(out,
				 "This is the mail system at %s.\r\n\r\n"
				 "Your message has not been delivered yet to the recipients "
				 "below.\r\nThe mail system will keep trying until %s;\r\n"
				 "you need not send it again.\r\n\r\n",
				 host, until);
	else
		rc |= buf_printf(out,
				 "This is the mail system at %s.\r\n\r\n"
				 "Your message could not be delivered to the recipients below.\r\n"
				 "This is a permanent error; it was not delivered to them.\r\n\r\n",
				 host);
	for (size_t i = 0; i < n; i++)
		rc |= buf_printf(out, "<%s>: %s\r\n", clean(r[i].addr, a, sizeof(a)),
				 clean(r[i].diag, b, sizeof(b)));
	rc |= buf_printf(out,
			 "\r\n--%s\r\n"
			 "Content-Type: message/delivery-status\r\n"
			 "Content-Description: Delivery report\r\n"
			 "\r\n"
			 "Reporting-MTA: dns; %s\r\n"
			 "Arrival-Date: %s\r\n",
			 bnd, host, arr);
	for (size_t i = 0; i < n; i++) {
		rc |= buf_printf(
		    out, "\r\nFinal-Recipient: rfc822; %s\r\nAction: %s\r\nStatus: %s\r\n",
		    clean(r[i].addr, a, sizeof(a)), d->delayed ? "delayed" : "failed",
		    clean(r[i].status && r[i].status[0] ? r[i].status
							: (d->delayed ? "4.0.0" : "5.0.0"),
			  b, 16));
		if (r[i].remote_mta && r[i].remote_mta[0])
			rc |= buf_printf(out, "Remote-MTA: dns; %s\r\n",
					 clean(r[i].remote_mta, a, 256));
		rc |= buf_printf(out, "Diagnostic-Code: smtp; %s\r\n",
				 clean(r[i].diag, b, sizeof(b)));
		if (d->delayed)
			rc |= buf_printf(out, "Will-Retry-Until: %s\r\n", until);
	}
	rc |= buf_printf(out,
			 "\r\n--%s\r\n"
			 "Content-Type: text/rfc822-headers\r\n"
			 "Content-Description: Undelivered message headers\r\n"
			 "\r\n",
			 bnd);
	if (d->orig_header && d->orig_header_len)
		rc |= buf_append(out, d->orig_header, d->orig_header_len);
	rc |= buf_printf(out, "\r\n--%s--\r\n", bnd);
	return rc ? -1 : 0;
}
