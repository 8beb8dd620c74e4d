/*
 * loft-netwatch's checks, evidence, verdict history and port mappings.
 * See store_netwatch.h.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store_internal.h"
#include "store_netwatch.h"
#include "store_settings.h"

#define NW_MAX_ITEMS 64 /* evidence rows read back per check */

static const char *nz(const char *s)
{
	return s ? s : "";
}

int store_nw_check_save(struct store *st, struct store_nw_check *c)
{
	char old[32], text[1024];
	int rc, changed = 0;

	if (!c->verdict || !c->trigger)
		return store_err(st, "netwatch check needs a verdict and a trigger");
	if (store_begin(st) < 0)
		return -1;
	rc = store_do(st, "netwatch check",
		      "INSERT INTO netwatch_checks(started, finished, trigger, address, verdict,"
		      " reason) VALUES(?1, ?2, ?3, ?4, ?5, ?6)",
		      SA_INT(c->started), SA_INT(c->finished), SA_TEXT(c->trigger),
		      SA_TEXT(nz(c->address)), SA_TEXT(c->verdict), SA_TEXT(nz(c->reason)));
	if (rc < 0)
		return store_end(st, -1);
	c->id = sqlite3_last_insert_rowid(st->db);
	for (size_t i = 0; i < c->nitems && rc >= 0; i++)
		rc = store_do(
		    st, "netwatch evidence",
		    "INSERT OR REPLACE INTO netwatch_evidence(check_id, seq, probe, result,"
		    " detail) VALUES(?1, ?2, ?3, ?4, ?5)",
		    SA_INT(c->id), SA_INT((int64_t)i), SA_TEXT(nz(c->items[i].probe)),
		    SA_TEXT(nz(c->items[i].result)), SA_TEXT(nz(c->items[i].detail)));
	if (rc >= 0) {
		int r = store_setting_get(st, "route.verdict", old, sizeof(old));
		if (r == STORE_NOTFOUND)
			snprintf(old, sizeof(old), "unknown");
		else if (r < 0)
			rc = -1;
	}
	if (rc >= 0 && strcmp(old, c->verdict) != 0) {
		changed = 1;
		rc = store_do(
		    st, "netwatch change",
		    "INSERT INTO netwatch_changes(time, verdict_from, verdict_to, check_id,"
		    " reason) VALUES(?1, ?2, ?3, ?4, ?5)",
		    SA_INT(c->finished), SA_TEXT(old), SA_TEXT(c->verdict), SA_INT(c->id),
		    SA_TEXT(nz(c->reason)));
		if (rc >= 0) {
			snprintf(text, sizeof(text), "verdict %s -> %s: %s", old, c->verdict,
				 nz(c->reason));
			rc = store_event_add(st, "route", text);
		}
	}
	/* written on every check, so the setting exists after the first */
	if (rc >= 0)
		rc = store_setting_set(st, "route.verdict", c->verdict);
	if (rc >= 0) {
		snprintf(text, sizeof(text), "check (%s): %s%s%s, %s", c->trigger, c->verdict,
			 c->address && *c->address ? " at " : "", nz(c->address), nz(c->reason));
		rc = store_event_add(st, "netwatch", text);
	}
	/* bounded history: evidence goes with its check */
	if (rc >= 0 && c->id % 64 == 0) {
		rc = store_do(st, "netwatch prune",
			      "DELETE FROM netwatch_evidence WHERE check_id <= ?1",
			      SA_INT(c->id - STORE_NW_KEEP_CHECKS));
		if (rc >= 0)
			rc = store_do(st, "netwatch prune",
				      "DELETE FROM netwatch_checks WHERE id <= ?1",
				      SA_INT(c->id - STORE_NW_KEEP_CHECKS));
	}
	rc = store_end(st, rc < 0 ? -1 : 0);
	return rc < 0 ? -1 : changed;
}

static char *dup_col(sqlite3_stmt *s, int col)
{
	const char *v = (const char *)sqlite3_column_text(s, col);
	char *d = strdup(v ? v : "");

	if (!d)
		abort();
	return d;
}

int store_nw_check_list(struct store *st, int limit, store_nw_check_cb cb, void *arg)
{
	int64_t ids[64];
	int n = 0, done = 0;
	sqlite3_stmt *s;
	int rc;

	if (limit <= 0)
		return 0;
	if (limit > 64)
		limit = 64;
	/* the ids first: the callback may read other things meanwhile */
	s = store_q(st, "SELECT id FROM netwatch_checks ORDER BY id DESC LIMIT ?1", SA_INT(limit));
	if (!s)
		return -1;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW && n < limit)
		ids[n++] = sqlite3_column_int64(s, 0);
	if (store_rows_done(st, s, rc == SQLITE_ROW ? SQLITE_DONE : rc, n, "netwatch list") < 0)
		return -1;
	for (int k = 0; k < n; k++) {
		struct store_nw_check c = {.id = ids[k]};
		struct store_nw_item items[NW_MAX_ITEMS];
		char *strs[4 + 3 * NW_MAX_ITEMS];
		size_t ns = 0, ni = 0;
		int stop;

		s = store_q(st,
			    "SELECT started, finished, trigger, address, verdict, reason"
			    " FROM netwatch_checks WHERE id = ?1",
			    SA_INT(ids[k]));
		if (!s)
			return -1;
		rc = store_row(st, s, "netwatch check");
		if (rc < 0)
			return -1;
		if (rc == 0)
			continue; /* pruned meanwhile */
		c.started = sqlite3_column_int64(s, 0);
		c.finished = sqlite3_column_int64(s, 1);
		c.trigger = strs[ns++] = dup_col(s, 2);
		c.address = strs[ns++] = dup_col(s, 3);
		c.verdict = strs[ns++] = dup_col(s, 4);
		c.reason = strs[ns++] = dup_col(s, 5);
		store_stmt_done(s);
		s = store_q(
		    st,
		    "SELECT probe, result, detail FROM netwatch_evidence WHERE check_id = ?1"
		    " ORDER BY seq",
		    SA_INT(ids[k]));
		if (!s) {
			rc = -1;
		} else {
			while ((rc = sqlite3_step(s)) == SQLITE_ROW && ni < NW_MAX_ITEMS) {
				items[ni].probe = strs[ns++] = dup_col(s, 0);
				items[ni].result = strs[ns++] = dup_col(s, 1);
				items[ni].detail = strs[ns++] = dup_col(s, 2);
				ni++;
			}
			rc = store_rows_done(st, s, rc == SQLITE_ROW ? SQLITE_DONE : rc, 0,
					     "netwatch evidence");
		}
		c.items = items;
		c.nitems = ni;
		stop = rc < 0 ? 0 : cb(arg, &c);
		for (size_t i = 0; i < ns; i++)
			free(strs[i]);
		if (rc < 0)
			return -1;
		done++;
		if (stop)
			break;
	}
	return done;
}

int store_nw_change_list(struct store *st, int limit, store_nw_change_cb cb, void *arg)
{
	sqlite3_stmt *s = store_q(st,
				  "SELECT time, verdict_from, verdict_to, reason, check_id"
				  " FROM netwatch_changes ORDER BY id DESC LIMIT ?1",
				  SA_INT(limit > 0 ? limit : 0));
	int rc, n = 0;

	if (!s)
		return -1;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		struct store_nw_change ch = {
		    .time = sqlite3_column_int64(s, 0),
		    .from = (const char *)sqlite3_column_text(s, 1),
		    .to = (const char *)sqlite3_column_text(s, 2),
		    .reason = (const char *)sqlite3_column_text(s, 3),
		    .check_id = sqlite3_column_int64(s, 4),
		};
		n++;
		if (cb(arg, &ch))
			break;
	}
	return store_rows_done(st, s, rc, n, "netwatch changes");
}

int store_nw_mapping_set(struct store *st, const struct store_nw_mapping *m)
{
	int rc;

	if (!m->proto || m->port <= 0 || m->port > 65535)
		return store_err(st, "netwatch mapping needs a protocol and a port");
	if (store_begin(st) < 0)
		return -1;
	rc = store_do(st, "netwatch mapping",
		      "INSERT OR REPLACE INTO netwatch_mappings(proto, port, method, ok, detail,"
		      " updated, expires) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7)",
		      SA_TEXT(m->proto), SA_INT(m->port), SA_TEXT(nz(m->method)),
		      SA_INT(m->ok ? 1 : 0), SA_TEXT(nz(m->detail)), SA_INT(m->updated),
		      SA_INT(m->expires));
	return store_end(st, rc < 0 ? -1 : 0);
}

int store_nw_mapping_del(struct store *st, const char *proto, int port)
{
	int rc;

	if (store_begin(st) < 0)
		return -1;
	rc = store_do(st, "netwatch mapping",
		      "DELETE FROM netwatch_mappings WHERE proto = ?1 AND port = ?2",
		      SA_TEXT(proto), SA_INT(port));
	/* store_do returns the rows changed */
	if (rc == 0)
		return store_end(st, STORE_NOTFOUND);
	return store_end(st, rc < 0 ? -1 : 0);
}

int store_nw_mapping_list(struct store *st, store_nw_mapping_cb cb, void *arg)
{
	sqlite3_stmt *s = store_stmt(st, "SELECT proto, port, method, ok, detail, updated, expires"
					 " FROM netwatch_mappings ORDER BY port, proto");
	int rc, n = 0;

	if (!s)
		return -1;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		struct store_nw_mapping m = {
		    .proto = (const char *)sqlite3_column_text(s, 0),
		    .port = sqlite3_column_int(s, 1),
		    .method = (const char *)sqlite3_column_text(s, 2),
		    .ok = sqlite3_column_int(s, 3),
		    .detail = (const char *)sqlite3_column_text(s, 4),
		    .updated = sqlite3_column_int64(s, 5),
		    .expires = sqlite3_column_int64(s, 6),
		};
		n++;
		if (cb(arg, &m))
			break;
	}
	return store_rows_done(st, s, rc, n, "netwatch mappings");
}

int store_nw_rejection_add(struct store *st, const char *host, const char *kind, const char *reply)
{
	char cut[STORE_NW_REPLY_MAX + 1], text[STORE_NW_REPLY_MAX + 300];
	int64_t id;
	int rc;

	if (!host || !kind || !*kind || !reply)
		return store_err(st, "rejection needs a host, a kind and the reply");
	snprintf(cut, sizeof(cut), "%s", reply);
	if (store_begin(st) < 0)
		return -1;
	rc = store_do(
	    st, "netwatch rejection",
	    "INSERT INTO netwatch_rejections(time, host, kind, reply) VALUES(?1, ?2, ?3, ?4)",
	    SA_INT(store_now()), SA_TEXT(host), SA_TEXT(kind), SA_TEXT(cut));
	id = sqlite3_last_insert_rowid(st->db);
	if (rc >= 0 && id % 64 == 0)
		rc = store_do(st, "netwatch rejection prune",
			      "DELETE FROM netwatch_rejections WHERE id <= ?1",
			      SA_INT(id - STORE_NW_KEEP_REJECTIONS));
	if (rc >= 0) {
		snprintf(text, sizeof(text), "%s rejection from %.200s: %s", kind, host, cut);
		rc = store_event_add(st, "route", text);
	}
	return store_end(st, rc < 0 ? -1 : 0);
}

int store_nw_rejection_count(struct store *st, const char *kind, int64_t since, char *host,
			     size_t hostlen, char *reply, size_t replylen)
{
	sqlite3_stmt *s;
	int n, rc;

	if (host && hostlen)
		host[0] = '\0';
	if (reply && replylen)
		reply[0] = '\0';
	s = store_q(st, "SELECT count(*) FROM netwatch_rejections WHERE kind = ?1 AND time >= ?2",
		    SA_TEXT(kind), SA_INT(since));
	if (!s)
		return -1;
	rc = store_row(st, s, "netwatch rejections");
	if (rc <= 0)
		return rc < 0 ? -1 : 0;
	n = sqlite3_column_int(s, 0);
	store_stmt_done(s);
	if (n == 0)
		return 0;
	s = store_q(st,
		    "SELECT host, reply FROM netwatch_rejections WHERE kind = ?1 AND time >= ?2"
		    " ORDER BY id DESC LIMIT 1",
		    SA_TEXT(kind), SA_INT(since));
	if (!s)
		return -1;
	rc = store_row(st, s, "netwatch rejections");
	if (rc < 0)
		return -1;
	if (rc == 1) {
		if (host && hostlen)
			snprintf(host, hostlen, "%s", (const char *)sqlite3_column_text(s, 0));
		if (reply && replylen)
			snprintf(reply, replylen, "%s", (const char *)sqlite3_column_text(s, 1));
		store_stmt_done(s);
	}
	return n;
}
