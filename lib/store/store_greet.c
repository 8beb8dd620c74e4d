/*
 * loft-smtpd's early-talker passes (store_greet.h).
 */
#include "store_greet.h"
#include "store_internal.h"

int store_greet_pass_list(struct store *st, int64_t since, store_greet_cb cb, void *arg)
{
	sqlite3_stmt *s = store_q(
	    st, "SELECT addr, passed FROM smtp_greet_passes WHERE passed >= ?1", SA_INT(since));
	int rc, n = 0;

	if (!s)
		return -1;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		n++;
		if (cb(arg, (const char *)sqlite3_column_text(s, 0), sqlite3_column_int64(s, 1)))
			break;
	}
	return store_rows_done(st, s, rc, n, "greet pass list");
}

int store_greet_pass_save(struct store *st, const char *const *addrs, const int64_t *passed,
			  size_t n, int64_t expire_before)
{
	int rc = 0;

	if (store_begin(st) < 0)
		return -1;
	for (size_t i = 0; i < n && rc >= 0; i++)
		rc = store_do(
		    st, "greet pass save",
		    "INSERT INTO smtp_greet_passes(addr, passed) VALUES(?1, ?2)"
		    " ON CONFLICT(addr) DO UPDATE SET passed = max(passed, excluded.passed)",
		    SA_TEXT(addrs[i]), SA_INT(passed[i]));
	if (rc >= 0)
		rc = store_do(st, "greet pass expire",
			      "DELETE FROM smtp_greet_passes WHERE passed < ?1",
			      SA_INT(expire_before));
	return store_end(st, rc < 0 ? -1 : 0);
}
