/*
 * Domains, users, aliases and recipient resolution.
 *
 * Addresses are stored normalised (store_addr_norm: lowercase), so every
 * lookup is an exact match on the normalised form.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "passwd.h"
#include "store_internal.h"
#include "store_users.h"

#define DEFAULT_MAILBOXES 6
static const struct {
	const char *name, *special;
} default_mailboxes[DEFAULT_MAILBOXES] = {
    {"INBOX", ""},	{"Drafts", "\\Drafts"}, {"Sent", "\\Sent"},
    {"Junk", "\\Junk"}, {"Trash", "\\Trash"},	{"Archive", "\\Archive"},
};

static int domain_id(struct store *st, const char *dom, int64_t *id)
{
	sqlite3_stmt *s = store_q(st, "SELECT id FROM domains WHERE name = ?1", SA_TEXT(dom));
	int rc;

	if (!s || (rc = store_row(st, s, "domain lookup")) < 0)
		return -1;
	if (rc == 0)
		return store_errc(st, STORE_NOTFOUND, "no such domain: %s", dom);
	*id = sqlite3_column_int64(s, 0);
	store_stmt_done(s);
	return 0;
}

/* --- domains ------------------------------------------------------------ */

int store_domain_add(struct store *st, const char *domain)
{
	char d[256];
	int rc;

	if (store_domain_norm(domain, d, sizeof(d)) < 0)
		return store_err(st, "invalid domain name");
	if (store_begin(st) < 0)
		return -1;
	rc = store_do(st, "domain add", "INSERT INTO domains(name) VALUES(?1)", SA_TEXT(d));
	if (rc == STORE_EXISTS)
		store_errc(st, STORE_EXISTS, "domain exists: %s", d);
	return store_end(st, rc < 0 ? rc : 0);
}

int store_domain_del(struct store *st, const char *domain)
{
	char d[256];
	int64_t id;
	sqlite3_stmt *s;
	int rc;

	if (store_domain_norm(domain, d, sizeof(d)) < 0)
		return store_err(st, "invalid domain name");
	if (store_begin(st) < 0)
		return -1;
	rc = domain_id(st, d, &id);
	if (rc < 0)
		return store_end(st, rc);
	s = store_q(st, "SELECT count(*) FROM users WHERE domain_id = ?1", SA_INT(id));
	if (!s || store_row(st, s, "domain users") != 1)
		return store_end(st, -1);
	rc = sqlite3_column_int(s, 0);
	store_stmt_done(s);
	if (rc > 0)
		return store_end(st, store_err(st, "domain %s still has %d user(s)", d, rc));
	rc = store_do(st, "domain del", "DELETE FROM domains WHERE id = ?1", SA_INT(id));
	return store_end(st, rc < 0 ? -1 : 0);
}

int store_domain_list(struct store *st, store_name_cb cb, void *arg)
{
	sqlite3_stmt *s = store_stmt(st, "SELECT name FROM domains ORDER BY name");
	int rc, n = 0;

	if (!s)
		return -1;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		n++;
		if (cb(arg, (const char *)sqlite3_column_text(s, 0)))
			break;
	}
	return store_rows_done(st, s, rc, n, "domain list");
}

int store_domain_is_local(struct store *st, const char *domain)
{
	char d[256];
	int64_t id;
	int rc;

	if (store_domain_norm(domain, d, sizeof(d)) < 0)
		return 0;
	rc = domain_id(st, d, &id);
	if (rc == STORE_NOTFOUND)
		return 0;
	return rc < 0 ? -1 : 1;
}

/* --- users -------------------------------------------------------------- */

int store_user_exists(struct store *st, int64_t user_id)
{
	sqlite3_stmt *s = store_q(st, "SELECT 1 FROM users WHERE id = ?1", SA_INT(user_id));
	int rc;

	if (!s)
		return -1;
	rc = store_row(st, s, "user lookup");
	if (rc == 1)
		store_stmt_done(s);
	return rc;
}

static int user_lookup(struct store *st, const char *addr, int64_t *id, char *hash, size_t hashlen)
{
	sqlite3_stmt *s = store_stmt(st, "SELECT id, password FROM users WHERE address = ?1");
	int rc;

	if (!s)
		return -1;
	sqlite3_bind_text(s, 1, addr, -1, SQLITE_STATIC);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		const char *h = (const char *)sqlite3_column_text(s, 1);

		if (id)
			*id = sqlite3_column_int64(s, 0);
		if (hash && hashlen) {
			size_t n = h ? strlen(h) : 0;

			if (n >= hashlen)
				n = 0; /* an impossible hash: verification fails */
			memcpy(hash, h ? h : "", n);
			hash[n] = '\0';
		}
		store_stmt_done(s);
		return 0;
	}
	store_stmt_done(s);
	if (rc == SQLITE_DONE)
		return store_errc(st, STORE_NOTFOUND, "no such user: %s", addr);
	return store_sqlerr(st, "user lookup");
}

int store_user_add(struct store *st, const char *address, const char *password, int64_t *id_out)
{
	char a[STORE_ADDR_MAX + 1], hash[PASSWD_HASH_MAX];
	const char *dom;
	int64_t did, uid, mid;
	sqlite3_stmt *s;
	int rc;

	if (store_addr_norm(address, 0, a, sizeof(a)) < 0)
		return store_err(st, "invalid address");
	/* Hash before taking the write lock: it is slow on purpose. */
	if (passwd_hash(password, hash, sizeof(hash)) < 0)
		return store_err(st, "password empty, longer than %d bytes, or hashing failed",
				 PASSWD_MAX);
	dom = strrchr(a, '@') + 1;
	if (store_begin(st) < 0)
		return -1;
	rc = domain_id(st, dom, &did);
	if (rc < 0) {
		store_rollback(st);
		return rc;
	}
	s = store_stmt(st, "INSERT INTO users(domain_id, address, password, created)"
			   " VALUES(?1, ?2, ?3, ?4)");
	if (!s)
		goto fail;
	sqlite3_bind_int64(s, 1, did);
	sqlite3_bind_text(s, 2, a, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 3, hash, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 4, store_now());
	rc = sqlite3_step(s);
	store_stmt_done(s);
	if (rc == SQLITE_CONSTRAINT_UNIQUE) {
		store_rollback(st);
		return store_errc(st, STORE_EXISTS, "user exists: %s", a);
	}
	if (rc != SQLITE_DONE) {
		store_sqlerr(st, "user add");
		goto fail;
	}
	uid = sqlite3_last_insert_rowid(st->db);
	for (int i = 0; i < DEFAULT_MAILBOXES; i++)
		if (store_mailbox_create_tx(st, uid, default_mailboxes[i].name,
					    default_mailboxes[i].special, 1, &mid) < 0)
			goto fail;
	if (store_commit(st) < 0)
		return -1;
	if (id_out)
		*id_out = uid;
	return 0;
fail:
	store_rollback(st);
	return -1;
}

int store_user_del(struct store *st, const char *address)
{
	char a[STORE_ADDR_MAX + 1];
	int64_t uid;
	int rc;

	if (store_addr_norm(address, 0, a, sizeof(a)) < 0)
		return store_err(st, "invalid address");
	if (store_begin(st) < 0)
		return -1;
	rc = user_lookup(st, a, &uid, NULL, 0);
	if (rc < 0)
		return store_end(st, rc);
	if (store_do(st, "user alias del", "DELETE FROM aliases WHERE target = ?1", SA_TEXT(a)) < 0)
		return store_end(st, -1);
	/* mailboxes, entries and expunge records go by cascade; messages
	 * left without references go by the entries_unref trigger */
	rc = store_do(st, "user del", "DELETE FROM users WHERE id = ?1", SA_INT(uid));
	return store_end(st, rc < 0 ? -1 : 0);
}

int store_user_passwd(struct store *st, const char *address, const char *password)
{
	char a[STORE_ADDR_MAX + 1], hash[PASSWD_HASH_MAX];
	int rc;

	if (store_addr_norm(address, 0, a, sizeof(a)) < 0)
		return store_err(st, "invalid address");
	if (passwd_hash(password, hash, sizeof(hash)) < 0)
		return store_err(st, "password empty, longer than %d bytes, or hashing failed",
				 PASSWD_MAX);
	rc = store_w(st, "user passwd", "UPDATE users SET password = ?2 WHERE address = ?1",
		     SA_TEXT(a), SA_TEXT(hash));
	return rc == STORE_NOTFOUND ? store_errc(st, rc, "no such user: %s", a) : rc;
}

int store_user_list(struct store *st, store_user_cb cb, void *arg)
{
	sqlite3_stmt *s = store_stmt(st, "SELECT id, address FROM users ORDER BY address");
	int rc, n = 0;

	if (!s)
		return -1;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		n++;
		if (cb(arg, sqlite3_column_int64(s, 0), (const char *)sqlite3_column_text(s, 1)))
			break;
	}
	return store_rows_done(st, s, rc, n, "user list");
}

int store_user_auth(struct store *st, const char *address, const char *password, int64_t *user_id)
{
	char a[STORE_ADDR_MAX + 1], hash[PASSWD_HASH_MAX];
	int64_t id = 0;
	int rc, found;

	found = store_addr_norm(address, 0, a, sizeof(a)) == 0;
	if (found) {
		rc = user_lookup(st, a, &id, hash, sizeof(hash));
		if (rc == -1)
			return -1;
		found = rc == 0;
	}
	if (!found) {
		/* Spend the same work as for a real user so that response
		 * time does not tell which addresses exist. */
		if (!st->dummy_hash[0] &&
		    passwd_hash("loft-dummy-password", st->dummy_hash, sizeof(st->dummy_hash)) < 0)
			return store_err(st, "password hashing failed");
		if (passwd_verify(password ? password : "", st->dummy_hash) < 0)
			return store_err(st, "password check failed");
		return 0;
	}
	rc = passwd_verify(password ? password : "", hash);
	if (rc < 0)
		return store_err(st, "password check failed");
	if (rc == 0)
		return 0;
	if (user_id)
		*user_id = id;
	return 1;
}

int store_user_find(struct store *st, const char *address, int64_t *user_id)
{
	char a[STORE_ADDR_MAX + 1];

	if (store_addr_norm(address, 0, a, sizeof(a)) < 0)
		return store_errc(st, STORE_NOTFOUND, "invalid address");
	return user_lookup(st, a, user_id, NULL, 0);
}

int store_user_address(struct store *st, int64_t user_id, char *buf, size_t buflen)
{
	sqlite3_stmt *s = store_stmt(st, "SELECT address FROM users WHERE id = ?1");
	int rc;

	if (!s)
		return -1;
	sqlite3_bind_int64(s, 1, user_id);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		const char *a = (const char *)sqlite3_column_text(s, 0);
		size_t n = strlen(a);

		if (n >= buflen) {
			store_stmt_done(s);
			return store_err(st, "buffer too small");
		}
		memcpy(buf, a, n + 1);
		store_stmt_done(s);
		return 0;
	}
	store_stmt_done(s);
	if (rc == SQLITE_DONE)
		return store_errc(st, STORE_NOTFOUND, "no such user id %lld", (long long)user_id);
	return store_sqlerr(st, "user address");
}

/* --- aliases ------------------------------------------------------------ */

int store_alias_add(struct store *st, const char *source, const char *target)
{
	char src[STORE_ADDR_MAX + 1], dst[STORE_ADDR_MAX + 1];
	int64_t did;
	int rc;

	if (store_addr_norm(source, 1, src, sizeof(src)) < 0)
		return store_err(st, "invalid alias source");
	if (store_addr_norm(target, 0, dst, sizeof(dst)) < 0)
		return store_err(st, "invalid alias target");
	if (strcmp(src, dst) == 0)
		return store_err(st, "alias to itself");
	if (store_begin(st) < 0)
		return -1;
	rc = domain_id(st, strrchr(src, '@') + 1, &did);
	if (rc < 0)
		return store_end(st, rc);
	rc = store_do(st, "alias add",
		      "INSERT INTO aliases(domain_id, source, target) VALUES(?1, ?2, ?3)",
		      SA_INT(did), SA_TEXT(src), SA_TEXT(dst));
	if (rc == STORE_EXISTS)
		store_errc(st, STORE_EXISTS, "alias exists: %s -> %s", src, dst);
	return store_end(st, rc < 0 ? rc : 0);
}

int store_alias_del(struct store *st, const char *source, const char *target)
{
	char src[STORE_ADDR_MAX + 1], dst[STORE_ADDR_MAX + 1];
	int rc;

	if (store_addr_norm(source, 1, src, sizeof(src)) < 0)
		return store_err(st, "invalid alias source");
	if (target && store_addr_norm(target, 0, dst, sizeof(dst)) < 0)
		return store_err(st, "invalid alias target");
	if (target)
		rc = store_w(st, "alias del",
			     "DELETE FROM aliases WHERE source = ?1 AND target = ?2", SA_TEXT(src),
			     SA_TEXT(dst));
	else
		rc =
		    store_w(st, "alias del", "DELETE FROM aliases WHERE source = ?1", SA_TEXT(src));
	return rc == STORE_NOTFOUND ? store_errc(st, rc, "no such alias: %s", src) : rc;
}

int store_alias_list(struct store *st, store_alias_cb cb, void *arg)
{
	sqlite3_stmt *s =
	    store_stmt(st, "SELECT source, target FROM aliases ORDER BY source, target");
	int rc, n = 0;

	if (!s)
		return -1;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		n++;
		if (cb(arg, (const char *)sqlite3_column_text(s, 0),
		       (const char *)sqlite3_column_text(s, 1)))
			break;
	}
	return store_rows_done(st, s, rc, n, "alias list");
}

/* --- resolution --------------------------------------------------------- */

#define RESOLVE_VISITED 128

struct resolve {
	struct store_rcpt *out;
	size_t n_visited;
	char visited[RESOLVE_VISITED][STORE_ADDR_MAX + 1];
};

struct targets {
	size_t n;
	char t[STORE_RCPT_MAX][STORE_ADDR_MAX + 1];
};

static void add_user(struct store_rcpt *out, int64_t id)
{
	for (size_t i = 0; i < out->n_users; i++)
		if (out->user_ids[i] == id)
			return;
	if (out->n_users == STORE_RCPT_MAX) {
		out->truncated = 1;
		return;
	}
	out->user_ids[out->n_users++] = id;
}

static void add_remote(struct store_rcpt *out, const char *a)
{
	for (size_t i = 0; i < out->n_remote; i++)
		if (strcmp(out->remote[i], a) == 0)
			return;
	if (out->n_remote == STORE_RCPT_MAX) {
		out->truncated = 1;
		return;
	}
	memcpy(out->remote[out->n_remote++], a, strlen(a) + 1);
}

/* Reads the targets of alias source src into *t (the statement is done
 * before the caller recurses, since recursion reuses it).  Returns the
 * count or -1. */
static int alias_targets(struct store *st, const char *src, struct targets *t, int *truncated)
{
	sqlite3_stmt *s =
	    store_stmt(st, "SELECT target FROM aliases WHERE source = ?1 ORDER BY id");
	int rc;

	if (!s)
		return -1;
	t->n = 0;
	sqlite3_bind_text(s, 1, src, -1, SQLITE_STATIC);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		const char *v = (const char *)sqlite3_column_text(s, 0);
		size_t n = strlen(v);

		if (t->n == STORE_RCPT_MAX) {
			*truncated = 1;
			continue;
		}
		if (n > STORE_ADDR_MAX)
			continue;
		memcpy(t->t[t->n++], v, n + 1);
	}
	store_stmt_done(s);
	if (rc != SQLITE_DONE)
		return store_sqlerr(st, "alias lookup");
	return (int)t->n;
}

static int expand(struct store *st, struct resolve *r, const char *a, int depth)
{
	struct targets *t;
	char catchall[STORE_ADDR_MAX + 2];
	const char *dom = strrchr(a, '@') + 1;
	int64_t uid;
	int rc;

	for (size_t i = 0; i < r->n_visited; i++)
		if (strcmp(r->visited[i], a) == 0)
			return 0; /* a loop, or a second path to the same place */
	if (r->n_visited == RESOLVE_VISITED) {
		r->out->truncated = 1;
		return 0;
	}
	memcpy(r->visited[r->n_visited++], a, strlen(a) + 1);

	rc = store_domain_is_local(st, dom);
	if (rc < 0)
		return -1;
	if (rc == 0) {
		add_remote(r->out, a);
		return 0;
	}
	rc = user_lookup(st, a, &uid, NULL, 0);
	if (rc == 0) {
		add_user(r->out, uid);
		return 0;
	}
	if (rc != STORE_NOTFOUND)
		return -1;
	if (depth >= STORE_ALIAS_DEPTH) {
		r->out->truncated = 1;
		return 0;
	}
	t = malloc(sizeof(*t));
	if (!t)
		return store_err(st, "out of memory");
	rc = alias_targets(st, a, t, &r->out->truncated);
	if (rc == 0) {
		snprintf(catchall, sizeof(catchall), "@%s", dom);
		rc = alias_targets(st, catchall, t, &r->out->truncated);
	}
	for (size_t i = 0; rc > 0 && i < t->n; i++)
		if (expand(st, r, t->t[i], depth + 1) < 0)
			rc = -1;
	free(t);
	return rc < 0 ? -1 : 0;
}

int store_resolve_rcpt(struct store *st, const char *address, struct store_rcpt *out)
{
	char a[STORE_ADDR_MAX + 1];
	struct resolve *r;
	int rc;

	memset(out, 0, sizeof(*out));
	if (store_addr_norm(address, 0, a, sizeof(a)) < 0)
		return 0;
	rc = store_domain_is_local(st, strrchr(a, '@') + 1);
	if (rc <= 0)
		return rc; /* not ours: nobody here takes it */
	r = calloc(1, sizeof(*r));
	if (!r)
		return store_err(st, "out of memory");
	r->out = out;
	rc = expand(st, r, a, 0);
	free(r);
	if (rc < 0) {
		memset(out, 0, sizeof(*out));
		return -1;
	}
	return out->n_users + out->n_remote > 0;
}

int store_address_owned_by(struct store *st, int64_t user_id, const char *address)
{
	struct store_rcpt *r = malloc(sizeof(*r));
	int rc;

	if (!r)
		return store_err(st, "out of memory");
	rc = store_resolve_rcpt(st, address, r);
	if (rc == 1) {
		rc = 0;
		for (size_t i = 0; i < r->n_users; i++)
			if (r->user_ids[i] == user_id)
				rc = 1;
	}
	free(r);
	return rc;
}

int store_user_quota_set(struct store *st, const char *address, int64_t bytes)
{
	char a[STORE_ADDR_MAX + 1];
	int rc;

	if (store_addr_norm(address, 0, a, sizeof(a)) < 0)
		return store_err(st, "invalid address");
	if (bytes < 0)
		return store_err(st, "quota must be 0 (unlimited) or a positive number of bytes");
	rc = store_w(st, "user quota", "UPDATE users SET quota_bytes = ?2 WHERE address = ?1",
		     SA_TEXT(a), SA_INT(bytes));
	return rc == STORE_NOTFOUND ? store_errc(st, rc, "no such user: %s", a) : rc;
}

int store_user_quota_get(struct store *st, int64_t user_id, int64_t *quota, int64_t *usage)
{
	/* the same sum as store_admin_usage, for one user */
	sqlite3_stmt *s = store_q(st,
				  "SELECT u.quota_bytes, (SELECT coalesce(sum(m.size), 0)"
				  " FROM mailboxes b JOIN entries e ON e.mailbox_id = b.id"
				  " JOIN messages m ON m.id = e.message_id WHERE b.user_id = u.id)"
				  " FROM users u WHERE u.id = ?1",
				  SA_INT(user_id));
	int rc;

	if (!s)
		return -1;
	rc = store_row(st, s, "user quota");
	if (rc <= 0)
		return rc < 0 ? -1 : store_errc(st, STORE_NOTFOUND, "no such user id");
	if (quota)
		*quota = sqlite3_column_int64(s, 0);
	if (usage)
		*usage = sqlite3_column_int64(s, 1);
	store_stmt_done(s);
	return 0;
}

int store_user_over_quota(struct store *st, int64_t user_id, int64_t adding)
{
	int64_t quota, usage;
	/* the sum reads every entry of the user: only when there is a limit,
	 * so APPEND and RCPT cost nothing more for the usual unlimited user */
	sqlite3_stmt *s =
	    store_q(st, "SELECT quota_bytes FROM users WHERE id = ?1", SA_INT(user_id));
	int rc;

	if (!s)
		return -1;
	rc = store_row(st, s, "user quota");
	if (rc <= 0)
		return rc < 0 ? -1 : store_err(st, "no such user id");
	quota = sqlite3_column_int64(s, 0);
	store_stmt_done(s);
	if (quota <= 0)
		return 0;
	if (store_user_quota_get(st, user_id, &quota, &usage) < 0)
		return -1;
	return adding > 0 ? usage + adding > quota : usage >= quota;
}
