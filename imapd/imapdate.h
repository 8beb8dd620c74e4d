#ifndef LOFT_IMAP_DATE_H
#define LOFT_IMAP_DATE_H
/* Dates in IMAP syntax (RFC 3501 date, date-time) and RFC 5322 Date:
 * headers, as far as SEARCH and APPEND need them.  All parsers are strict
 * about ranges and return -1 on anything else. */
#include <stddef.h>
#include <stdint.h>

/* "1-Feb-1994" or "01-Feb-1994" (quotes already removed).  Returns 0 with
 * *day = days since 1970-01-01, or -1. */
int imapdate_parse_date(const char *s, int64_t *day);
/* "17-Jul-1996 02:44:25 -0700" (day may be " 7").  Returns 0 with *t in
 * unix time, or -1. */
int imapdate_parse_datetime(const char *s, int64_t *t);
/* Writes "17-Jul-1996 09:44:25 +0000" into out (>= 32 bytes). */
void imapdate_format(int64_t t, char *out, size_t outlen);
/* The calendar day of an RFC 5322 date ("Tue, 1 Jul 2003 10:52:37 +0200"),
 * as written (time and zone disregarded, as SEARCH SENT* wants).  A two- or
 * three-digit year (RFC 5322 obs-year) needs the time of day after it: cut
 * short there, the value is taken for a truncated header.  Returns 0 with
 * *day, or -1. */
int imapdate_parse_rfc5322_day(const char *s, size_t len, int64_t *day);
/* Days since the epoch for y-m-d (m 1..12). */
int64_t imapdate_days(int64_t y, int m, int d);

#endif
