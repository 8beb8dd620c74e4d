/*
 * libFuzzer target for imapd/imapdate.c: IMAP date and date-time (SEARCH
 * SINCE/BEFORE/ON, APPEND's internal date) and the RFC 5322 Date: day
 * (SEARCH SENT*).  What parses as a date-time must format back to a
 * string that parses to the same instant; a date's day must be the day of
 * the date-time at midnight of that date.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../imapd/imapdate.h"

static void check(int cond)
{
	if (!cond)
		abort();
}

/* Years 1..9999 only: every accepted day lies in this span. */
#define DAY_MIN INT64_C(-719162) /* 0001-01-01 */
#define DAY_MAX INT64_C(2932896) /* 9999-12-31 */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s, out[64];
	int64_t day, t, t2, day2;

	if (size > 4096)
		return 0;
	s = malloc(size + 1);
	if (!s)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	if (imapdate_parse_date(s, &day) == 0) {
		check(day >= DAY_MIN && day <= DAY_MAX);
		imapdate_format(day * 86400, out, sizeof(out));
		check(imapdate_parse_datetime(out, &t2) == 0 && t2 == day * 86400);
		/* the date part of the formatted string is the date again */
		out[11] = '\0';
		check(imapdate_parse_date(out, &day2) == 0 && day2 == day);
	}
	if (imapdate_parse_datetime(s, &t) == 0) {
		/* zones reach +-99:59, leap seconds :60 */
		check(t >= DAY_MIN * 86400 - 100 * 3600 && t <= (DAY_MAX + 1) * 86400 + 100 * 3600);
		imapdate_format(t, out, sizeof(out));
		check(strlen(out) >= 26);
		if (t >= DAY_MIN * 86400 && t < (DAY_MAX + 1) * 86400)
			check(imapdate_parse_datetime(out, &t2) == 0 && t2 == t);
	}
	if (imapdate_parse_rfc5322_day((const char *)data, size, &day) == 0)
		check(day >= imapdate_days(0, 1, 1) && day <= DAY_MAX);
	free(s);
	return 0;
}
