/*
 * loft-smtpd's daily counts (store_smtpstats.h).
 */
#include "store_smtpstats.h"

#include <string.h>

#include "store_internal.h"

int store_smtp_daily_add(struct store *st, int64_t day, const char *const *kinds,
			 const uint64_t *counts, size_t n)
{
	int rc = 0;

	if (store_begin(st) < 0)
		return -1;
	for (size_t i = 0; i < n && rc >= 0; i++) {
		if (!counts[i])
			continue;
		rc = store_do(st, "smtp daily add",
			      "INSERT INTO smtp_daily(day, kind, n) VALUES(?1, ?2, ?3)"
			      " ON CONFLICT(day, kind) DO UPDATE SET n = n + excluded.n",
			      SA_INT(day), SA_TEXT(kinds[i]),
			      SA_INT(counts[i] > INT64_MAX ? INT64_MAX : (int64_t)counts[i]));
	}
	return store_end(st, rc < 0 ? -1 : 0);
}

int store_smtp_daily(struct store *st, int64_t now, int ndays, int64_t *received, int64_t *rejected)
{
	int64_t first = now / 86400 - ndays + 1;
	sqlite3_stmt *s;
	int rc;

	for (int i = 0; i < ndays; i++)
		received[i] = rejected[i] = 0;
	s = store_q(st,
		    "SELECT day, kind = 'received', sum(n) FROM smtp_daily"
		    " WHERE day >= ?1 GROUP BY 1, 2",
		    SA_INT(first));
	if (!s)
		return -1;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		int64_t day = sqlite3_column_int64(s, 0) - first;

		if (day < 0 || day >= ndays)
			continue;
		if (sqlite3_column_int(s, 1))
			received[day] += sqlite3_column_int64(s, 2);
		else
			rejected[day] += sqlite3_column_int64(s, 2);
	}
	return store_rows_done(st, s, rc, 0, "smtp daily") < 0 ? -1 : 0;
}

int store_smtp_daily_get(struct store *st, int64_t day, const char *kind, int64_t *out)
{
	sqlite3_stmt *s = store_q(st, "SELECT n FROM smtp_daily WHERE day = ?1 AND kind = ?2",
				  SA_INT(day), SA_TEXT(kind));
	int rc;

	*out = 0;
	if (!s)
		return -1;
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW)
		*out = sqlite3_column_int64(s, 0);
	return store_rows_done(st, s, rc, 0, "smtp daily get") < 0 ? -1 : 0;
}
