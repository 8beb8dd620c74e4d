/* smtpd/deliver.c: the header scan used for the submission checks and for
 * adding Message-ID/Date, fed whole and cut at every length. */
#include <stdlib.h>
#include <string.h>

#include "../../smtpd/smtpd.h"
#include "tap.h"

static int scan(const char *m, struct deliver_hdrs *h)
{
	return smtp_deliver_scan_headers(m, strlen(m), h);
}

int main(void)
{
	struct deliver_hdrs h;
	const char *m;

	m = "From: a@example.org\r\nDate: x\r\nMessage-ID: <1@x>\r\n\r\nbody\r\nFrom: b@x\r\n";
	ok(scan(m, &h) == 0, "plain message scans");
	is_int(h.n_from, 1, "one From (a From: in the body is not a header)");
	is_int(h.n_date, 1, "Date seen");
	is_int(h.n_msgid, 1, "Message-ID seen");
	is_int(h.header_len, strlen(m) - strlen("body\r\nFrom: b@x\r\n"), "header length");
	is_mem(h.from, h.from_len, " a@example.org\r\n", 16, "From value");

	m = "FROM: Alice\r\n <a@example.org>\r\nfrom: b@example.org\r\nsender: c@x\r\n\r\n";
	ok(scan(m, &h) == 0 && h.n_from == 2 && h.n_sender == 1, "case-insensitive, two From");
	is_mem(h.from, h.from_len, " Alice\r\n <a@example.org>\r\n", 26, "folded From value");

	m = "Message-Id: <x>\r\nDATE: y\r\n\r\n";
	ok(scan(m, &h) == 0 && h.n_msgid == 1 && h.n_date == 1, "names in any case");
	ok(scan("Subject: only headers\r\n", &h) == 0 && h.n_from == 0, "no body");
	ok(scan("\r\nbody", &h) == 0 && h.header_len == 2, "empty header section");
	ok(scan("not a header\r\n\r\n", &h) < 0, "line without colon refused");
	ok(scan(" continuation\r\n\r\n", &h) < 0, "leading continuation refused");
	ok(scan("Bad Name: x\r\n\r\n", &h) < 0, "space in field name refused");
	ok(scan(": x\r\n\r\n", &h) < 0, "empty field name refused");

	/* every prefix scans without reading past its end (ASan checks) */
	{
		const char *full = "From: a@example.org\r\nTo: b\r\n\tc\r\nDate: d\r\n\r\nbody\r\n";
		size_t len = strlen(full);
		int fine = 1;
		for (size_t k = 0; k <= len; k++) {
			char *copy = malloc(k ? k : 1);
			memcpy(copy, full, k);
			if (smtp_deliver_scan_headers(copy, k, &h) == 0 && h.header_len > k)
				fine = 0;
			free(copy);
		}
		ok(fine, "every prefix scans within bounds");
	}
	return tap_done();
}
