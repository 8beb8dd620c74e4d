/*
 * Reads for IMAP FETCH (see store_imap.h): one statement per batch of
 * entries that reads each message row once, and incremental blob reads of
 * the raw bytes.
 */
#include <stdlib.h>
#include <string.h>

#include "store_imap.h"
#include "store_internal.h"

#define ROWS_ONLY                                                                                  \
	"SELECT e.uid, e.flags, e.keywords, e.modseq, e.message_id, e.savedate FROM entries e"     \
	" WHERE e.mailbox_id = ?1 AND e.uid >= ?2 AND e.uid <= ?3 AND e.modseq > ?4"               \
	" ORDER BY e.uid"
/* size and internaldate come after raw in the row: asking for them walks
 * the overflow chain once, and every later column is then found through
 * the cursor's cached chain at no extra walk */
#define ROWS_SIZE                                                                                  \
	"SELECT e.uid, e.flags, e.keywords, e.modseq, e.message_id, e.savedate, m.size,"           \
	" m.internaldate, m.header_size, m.mime_flags"                                             \
	" FROM entries e JOIN messages m ON m.id = e.message_id"                                   \
	" WHERE e.mailbox_id = ?1 AND e.uid >= ?2 AND e.uid <= ?3 AND e.modseq > ?4"               \
	" ORDER BY e.uid"
#define ROWS_META                                                                                  \
	"SELECT e.uid, e.flags, e.keywords, e.modseq, e.message_id, e.savedate, m.size,"           \
	" m.internaldate,"                                                                         \
	" m.header_size, m.mime_flags, m.envelope, m.bodystructure, m.body, m.sections"            \
	" FROM entries e JOIN messages m ON m.id = e.message_id"                                   \
	" WHERE e.mailbox_id = ?1 AND e.uid >= ?2 AND e.uid <= ?3 AND e.modseq > ?4"               \
	" ORDER BY e.uid"

int store_imap_rows(struct store *st, int64_t mailbox_id, uint32_t uid_from, uint32_t uid_to,
		    uint64_t changedsince, unsigned what, store_imap_row_cb cb, void *arg)
{
	sqlite3_stmt *s;
	struct store_imap_row r;
	int rc, n = 0;

	if (what & STORE_IMAP_META)
		s = store_stmt(st, ROWS_META);
	else if (what & STORE_IMAP_SIZE)
		s = store_stmt(st, ROWS_SIZE);
	else
		s = store_stmt(st, ROWS_ONLY);
	if (!s)
		return -1;
	sqlite3_bind_int64(s, 1, mailbox_id);
	sqlite3_bind_int64(s, 2, uid_from);
	sqlite3_bind_int64(s, 3, uid_to ? uid_to : 0xffffffffLL);
	sqlite3_bind_int64(s, 4, (int64_t)changedsince);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		memset(&r, 0, sizeof(r));
		r.uid = (uint32_t)sqlite3_column_int64(s, 0);
		r.flags = (unsigned)sqlite3_column_int(s, 1);
		r.keywords = (const char *)sqlite3_column_text(s, 2);
		if (!r.keywords)
			r.keywords = "";
		r.modseq = (uint64_t)sqlite3_column_int64(s, 3);
		r.message_id = sqlite3_column_int64(s, 4);
		r.savedate = sqlite3_column_int64(s, 5); /* NULL reads 0 */
		if (what & (STORE_IMAP_SIZE | STORE_IMAP_META)) {
			r.size = (uint64_t)sqlite3_column_int64(s, 6);
			r.internaldate = sqlite3_column_int64(s, 7);
			r.header_size = (size_t)sqlite3_column_int64(s, 8);
			r.mime_flags = (unsigned)sqlite3_column_int(s, 9);
		}
		if (what & STORE_IMAP_META) {
			r.envelope = (const char *)sqlite3_column_text(s, 10);
			r.bodystructure = (const char *)sqlite3_column_text(s, 11);
			r.body = (const char *)sqlite3_column_text(s, 12);
			r.sections = sqlite3_column_blob(s, 13);
			r.sections_len = (size_t)sqlite3_column_bytes(s, 13);
		}
		n++;
		if (cb(arg, &r))
			break;
	}
	return store_rows_done(st, s, rc, n, "imap rows");
}

int store_imap_read_begin(struct store *st)
{
	if (!sqlite3_get_autocommit(st->db))
		return 0;
	return store_exec(st, "BEGIN") < 0 ? -1 : 1;
}

void store_imap_read_end(struct store *st, int opened)
{
	/* a read transaction has nothing to lose: a failed COMMIT is rolled
	 * back so the handle is never left inside a transaction */
	if (opened == 1 && store_exec(st, "COMMIT") < 0)
		store_exec(st, "ROLLBACK");
}

/* --- raw bytes ------------------------------------------------------------ */

struct store_raw {
	struct store *st;
	sqlite3_blob *blob; /* NULL when no message is open */
	size_t size;
};

struct store_raw *store_raw_new(struct store *st)
{
	struct store_raw *r = calloc(1, sizeof(*r));

	if (!r)
		abort();
	r->st = st;
	return r;
}

int store_raw_open(struct store_raw *r, int64_t message_id, size_t *size)
{
	int rc;

	/* reopen moves an open handle to another row without compiling a
	 * new statement; after a failure the handle is unusable */
	if (r->blob) {
		rc = sqlite3_blob_reopen(r->blob, message_id);
		if (rc != SQLITE_OK)
			store_raw_close(r);
	}
	if (!r->blob) {
		rc = sqlite3_blob_open(r->st->db, "main", "messages", "raw", message_id, 0,
				       &r->blob);
		if (rc != SQLITE_OK) {
			if (r->blob)
				sqlite3_blob_close(r->blob);
			r->blob = NULL;
			if (rc == SQLITE_ERROR)
				return store_errc(r->st, STORE_NOTFOUND, "no such message %lld",
						  (long long)message_id);
			return store_sqlerr(r->st, "blob open");
		}
	}
	r->size = (size_t)sqlite3_blob_bytes(r->blob);
	*size = r->size;
	return 0;
}

int store_raw_read(struct store_raw *r, void *p, size_t n, size_t off)
{
	if (!r->blob || off > r->size || n > r->size - off || n > (size_t)INT32_MAX)
		return -1;
	if (n == 0)
		return 0;
	if (sqlite3_blob_read(r->blob, p, (int)n, (int)off) != SQLITE_OK)
		return store_sqlerr(r->st, "blob read");
	return 0;
}

char *store_raw_read_all(struct store_raw *r, size_t size)
{
	char *p = malloc(size + 1);

	if (!p)
		return NULL;
	if (store_raw_read(r, p, size, 0) < 0) {
		free(p);
		return NULL;
	}
	p[size] = '\0';
	return p;
}

void store_raw_close(struct store_raw *r)
{
	if (r && r->blob) {
		sqlite3_blob_close(r->blob);
		r->blob = NULL;
	}
}

void store_raw_free(struct store_raw *r)
{
	store_raw_close(r);
	free(r);
}
