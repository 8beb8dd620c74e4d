/* IMAP and RFC 5322 dates. */
#include "imapdate.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "strnum.h"

static const char *const months[12] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
				       "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

/* Howard Hinnant's days_from_civil. */
int64_t imapdate_days(int64_t y, int m, int d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	int64_t yoe = y - era * 400;
	int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

static int month_of(const char *s)
{
	for (int i = 0; i < 12; i++)
		if (strncasecmp(s, months[i], 3) == 0)
			return i + 1;
	return 0;
}

static int days_in(int64_t y, int m)
{
	static const int dm[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
	return m == 2 ? 28 + leap : dm[m - 1];
}

/* Parses "D-Mon-YYYY" at s; returns bytes used or -1. */
static int parse_dmy(const char *s, int64_t *y, int *m, int *d)
{
	uint64_t v;
	size_t i = 0, k;

	if (s[0] == ' ')
		i = 1;
	for (k = i; s[k] >= '0' && s[k] <= '9' && k < i + 2; k++)
		;
	if (k == i || strnum_u64n(s + i, k - i, 31, &v) < 0 || v == 0 || s[k] != '-')
		return -1;
	*d = (int)v;
	i = k + 1;
	if (strlen(s + i) < 8 || s[i + 3] != '-' || !(*m = month_of(s + i)))
		return -1;
	i += 4;
	if (strnum_u64n(s + i, 4, 9999, &v) < 0 || v < 1)
		return -1;
	*y = (int64_t)v;
	if (*d > days_in(*y, *m))
		return -1;
	return (int)(i + 4);
}

int imapdate_parse_date(const char *s, int64_t *day)
{
	int64_t y;
	int m, d, n = parse_dmy(s, &y, &m, &d);

	if (n < 0 || s[n] != '\0')
		return -1;
	*day = imapdate_days(y, m, d);
	return 0;
}

int imapdate_parse_datetime(const char *s, int64_t *t)
{
	int64_t y;
	int m, d, n = parse_dmy(s, &y, &m, &d);
	uint64_t hh, mi, ss, zh, zm;
	const char *p;

	if (n < 0 || strlen(s + n) != 15)
		return -1;
	p = s + n;
	if (p[0] != ' ' || p[3] != ':' || p[6] != ':' || p[9] != ' ' ||
	    (p[10] != '+' && p[10] != '-') || strnum_u64n(p + 1, 2, 23, &hh) < 0 ||
	    strnum_u64n(p + 4, 2, 59, &mi) < 0 || strnum_u64n(p + 7, 2, 60, &ss) < 0 ||
	    strnum_u64n(p + 11, 2, 99, &zh) < 0 || strnum_u64n(p + 13, 2, 59, &zm) < 0)
		return -1;
	int64_t off = (int64_t)(zh * 3600 + zm * 60);
	*t = imapdate_days(y, m, d) * 86400 + (int64_t)(hh * 3600 + mi * 60 + ss) -
	     (p[10] == '+' ? off : -off);
	return 0;
}

void imapdate_format(int64_t t, char *out, size_t outlen)
{
	int64_t z = (t >= 0 ? t : t - 86399) / 86400, secs = t - z * 86400;
	/* civil_from_days */
	z += 719468;
	int64_t era = (z >= 0 ? z : z - 146096) / 146097;
	int64_t doe = z - era * 146097;
	int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	int64_t y = yoe + era * 400;
	int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	int64_t mp = (5 * doy + 2) / 153;
	int d = (int)(doy - (153 * mp + 2) / 5 + 1);
	int m = (int)(mp < 10 ? mp + 3 : mp - 9);
	y += m <= 2;
	snprintf(out, outlen, "%02d-%s-%04lld %02d:%02d:%02d +0000", d, months[m - 1], (long long)y,
		 (int)(secs / 3600), (int)(secs / 60 % 60), (int)(secs % 60));
}

int imapdate_parse_rfc5322_day(const char *s, size_t len, int64_t *day)
{
	char t[128];
	size_t i = 0, k;
	uint64_t d, y;
	int m;

	if (len >= sizeof(t))
		len = sizeof(t) - 1;
	memcpy(t, s, len);
	t[len] = '\0';
	/* skip an optional "Tue," */
	while (t[i] == ' ')
		i++;
	if (((t[i] >= 'A' && t[i] <= 'Z') || (t[i] >= 'a' && t[i] <= 'z'))) {
		const char *comma = strchr(t + i, ',');
		if (!comma)
			return -1;
		i = (size_t)(comma - t) + 1;
	}
	while (t[i] == ' ')
		i++;
	for (k = i; t[k] >= '0' && t[k] <= '9'; k++)
		;
	if (strnum_u64n(t + i, k - i, 31, &d) < 0 || d == 0)
		return -1;
	i = k;
	while (t[i] == ' ')
		i++;
	if (!(m = month_of(t + i)))
		return -1;
	i += 3;
	while (t[i] == ' ')
		i++;
	for (k = i; t[k] >= '0' && t[k] <= '9'; k++)
		;
	if (k - i < 2 || strnum_u64n(t + i, k - i, 9999, &y) < 0)
		return -1;
	if (k - i < 4) {
		/* RFC 5322 4.3 obs-year: 00-49 +2000, 50-99 and three digits
		 * +1900.  But a header cut short ("Tue, 1 Jul 20" of "... 2026
		 * 10:00 +0000") ends inside the year, and its first digits read
		 * as an obs-year give a date decades off: a short year counts
		 * only with the time of day after it (which date-time requires
		 * anyway); without one the date is not valid, and SORT falls
		 * back to INTERNALDATE (RFC 5256 2.2). */
		size_t j = k, h;

		if (t[j] != ' ' && t[j] != '\t')
			return -1;
		while (t[j] == ' ' || t[j] == '\t')
			j++;
		for (h = j; t[h] >= '0' && t[h] <= '9'; h++)
			;
		if (h == j || h - j > 2 || t[h] != ':' || t[h + 1] < '0' || t[h + 1] > '9' ||
		    t[h + 2] < '0' || t[h + 2] > '9')
			return -1;
		y += k - i == 2 && y < 50 ? 2000 : 1900;
	}
	if ((int)d > days_in((int64_t)y, m))
		return -1;
	*day = imapdate_days((int64_t)y, m, (int)d);
	return 0;
}
