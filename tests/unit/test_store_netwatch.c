/*
 * lib/store/store_netwatch: checks with evidence, the route.verdict
 * setting, the history of changes, events, mappings; a second handle sees
 * what the first committed.
 */
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "store.h"
#include "store_netwatch.h"
#include "store_settings.h"
#include "tap.h"

static const char *str_(const char *p)
{
	return p;
}
#define is_s(a, b, what) is_str(str_(a), b, what)

struct seen {
	int n;
	char verdict[8][16], trigger[8][32], first_probe[8][32], first_detail[8][128];
	size_t nitems[8];
};

static int on_check(void *arg, const struct store_nw_check *c)
{
	struct seen *s = arg;

	if (s->n < 8) {
		snprintf(s->verdict[s->n], sizeof(s->verdict[0]), "%s", c->verdict);
		snprintf(s->trigger[s->n], sizeof(s->trigger[0]), "%s", c->trigger);
		s->nitems[s->n] = c->nitems;
		if (c->nitems) {
			snprintf(s->first_probe[s->n], sizeof(s->first_probe[0]), "%s",
				 c->items[0].probe);
			snprintf(s->first_detail[s->n], sizeof(s->first_detail[0]), "%s",
				 c->items[0].detail);
		}
	}
	s->n++;
	return 0;
}

struct changes {
	int n;
	char line[8][128];
};

static int on_change(void *arg, const struct store_nw_change *ch)
{
	struct changes *c = arg;

	if (c->n < 8)
		snprintf(c->line[c->n], sizeof(c->line[0]), "%s>%s", ch->from, ch->to);
	c->n++;
	return 0;
}

struct events {
	int route, netwatch;
	char last_route[256];
};

static int on_event(void *arg, int64_t id, int64_t when, const char *kind, const char *text)
{
	struct events *e = arg;

	(void)id;
	(void)when;
	if (strcmp(kind, "route") == 0) {
		if (!e->route)
			snprintf(e->last_route, sizeof(e->last_route), "%s", text);
		e->route++;
	} else if (strcmp(kind, "netwatch") == 0) {
		e->netwatch++;
	}
	return 0;
}

static int on_mapping(void *arg, const struct store_nw_mapping *m)
{
	int *n = arg;

	(*n)++;
	if (m->port == 25)
		is_int(m->ok, 0, "port 25 mapping refused");
	if (m->port == 993)
		is_s(m->method, "upnp", "993 mapped by upnp");
	return 0;
}

int main(void)
{
	char dir[] = "/tmp/test_store_nw.XXXXXX", path[300], buf[64];
	struct store *st, *st2;
	char err[256];
	struct seen seen = {0};
	struct changes ch = {0};
	struct events ev = {0};
	int n;

	if (!mkdtemp(dir))
		return 1;
	snprintf(path, sizeof(path), "%s/loft.db", dir);
	if (store_open(path, &st, err, sizeof(err)) < 0 ||
	    store_open(path, &st2, err, sizeof(err)) < 0) {
		printf("Bail out! %s\n", err);
		return 1;
	}
	is_int(store_setting_get(st, "route.verdict", buf, sizeof(buf)), STORE_NOTFOUND,
	       "no verdict before the first check");

	struct store_nw_item items[] = {
	    {"address", "203.0.113.7", "opendns and google agree"},
	    {"ptr", "generic", "dsl-203-0-113-7.dyn.example.net: dynamic pool word \"dyn\""},
	    {"zen", "pbl", "127.0.0.11"},
	};
	struct store_nw_check c = {.started = 100,
				   .finished = 101,
				   .trigger = "start",
				   .address = "203.0.113.7",
				   .verdict = "relay",
				   .reason = "address on the Spamhaus PBL",
				   .items = items,
				   .nitems = 3};
	is_int(store_nw_check_save(st, &c), 1, "first relay: a change from unknown");
	ok(c.id > 0, "check id set");
	is_int(store_setting_get(st2, "route.verdict", buf, sizeof(buf)), 0, "verdict written");
	is_s(buf, "relay", "route.verdict = relay, seen by another handle");

	c.trigger = "timer";
	is_int(store_nw_check_save(st, &c), 0, "same verdict again: no change");

	c.trigger = "address-change";
	c.verdict = "direct";
	c.reason = "all clean";
	c.nitems = 1;
	is_int(store_nw_check_save(st, &c), 1, "relay -> direct: a change");

	c.verdict = "unknown";
	c.trigger = "loftctl";
	c.nitems = 0;
	c.address = NULL;
	is_int(store_nw_check_save(st, &c), 1, "direct -> unknown: a change");
	store_setting_get(st, "route.verdict", buf, sizeof(buf));
	is_s(buf, "unknown", "unknown is written too");

	n = store_nw_check_list(st2, 10, on_check, &seen);
	is_int(n, 4, "four checks listed");
	is_s(seen.verdict[0], "unknown", "newest first");
	is_s(seen.trigger[3], "start", "oldest last");
	is_int(seen.nitems[3], 3, "evidence kept with the check");
	is_s(seen.first_probe[3], "address", "evidence in order");
	is_s(seen.first_detail[3], "opendns and google agree", "detail kept");
	is_int(seen.nitems[0], 0, "a check without evidence");
	seen.n = 0;
	is_int(store_nw_check_list(st2, 1, on_check, &seen), 1, "limit 1");
	is_int(store_nw_check_list(st2, 0, on_check, &seen), 0, "limit 0");

	n = store_nw_change_list(st2, 10, on_change, &ch);
	is_int(n, 3, "three changes");
	is_s(ch.line[0], "direct>unknown", "newest change");
	is_s(ch.line[2], "unknown>relay", "first change from unknown");

	store_event_list(st2, 100, on_event, &ev);
	is_int(ev.route, 3, "a route event per change");
	is_int(ev.netwatch, 4, "a netwatch event per check");
	ok(strstr(ev.last_route, "direct -> unknown") != NULL, "route event names the change");

	/* bad input refused */
	struct store_nw_check bad = {.trigger = "x"};
	is_int(store_nw_check_save(st, &bad), -1, "no verdict refused");

	/* mappings */
	struct store_nw_mapping m = {"tcp", 25, "upnp", 0, "refused: 718 ConflictInMappingEntry",
				     200,   0};
	is_int(store_nw_mapping_set(st, &m), 0, "mapping 25 recorded");
	m.port = 993;
	m.ok = 1;
	m.detail = "";
	m.expires = 3800;
	is_int(store_nw_mapping_set(st, &m), 0, "mapping 993 recorded");
	is_int(store_nw_mapping_set(st, &m), 0, "mapping 993 replaced");
	m.port = 70000;
	is_int(store_nw_mapping_set(st, &m), -1, "bad port refused");
	n = 0;
	is_int(store_nw_mapping_list(st2, on_mapping, &n), 2, "two mappings");
	/* a forward removed on purpose (the ACME window is over) */
	m.port = 443;
	is_int(store_nw_mapping_set(st, &m), 0, "mapping 443 recorded");
	is_int(store_nw_mapping_del(st, "tcp", 443), 0, "mapping 443 forgotten");
	is_int(store_nw_mapping_del(st, "tcp", 443), STORE_NOTFOUND, "forgotten twice: not found");
	is_int(store_nw_mapping_del(st, "udp", 993), STORE_NOTFOUND, "other protocol: not found");
	n = 0;
	is_int(store_nw_mapping_list(st2, on_mapping, &n), 2, "the two others remain");

	/* reputation rejections, as loft-queue records them */
	{
		char host[64], reply[64], big[3000];
		is_int(store_nw_rejection_count(st2, "reputation", 0, host, sizeof(host), reply,
						sizeof(reply)),
		       0, "no rejections yet");
		is_int(store_nw_rejection_add(st, "gmail-smtp-in.l.google.com", "reputation",
					      "550-5.7.1 not authorized to send email directly"),
		       0, "rejection recorded");
		memset(big, 'x', sizeof(big) - 1);
		big[sizeof(big) - 1] = '\0';
		is_int(store_nw_rejection_add(st, "mx.example.com", "reputation", big), 0,
		       "a huge reply is cut, not refused");
		is_int(store_nw_rejection_add(st, "mx.example.com", "authentication", "5.7.26"), 0,
		       "authentication rejection recorded");
		is_int(store_nw_rejection_add(st, NULL, "reputation", "x"), -1, "no host refused");
		is_int(store_nw_rejection_count(st2, "reputation", 0, host, sizeof(host), reply,
						sizeof(reply)),
		       2, "two reputation rejections");
		is_s(host, "mx.example.com", "newest host");
		is_int(strlen(reply), sizeof(reply) - 1, "reply copied, bounded");
		is_int(store_nw_rejection_count(st2, "authentication", 0, NULL, 0, NULL, 0), 1,
		       "one authentication rejection");
		is_int(store_nw_rejection_count(st2, "reputation", (int64_t)time(NULL) + 10, NULL,
						0, NULL, 0),
		       0, "none since the future");
	}

	/* bounded history */
	c.verdict = "relay";
	c.nitems = 3;
	for (int i = 0; i < STORE_NW_KEEP_CHECKS + 70; i++)
		if (store_nw_check_save(st, &c) < 0)
			break;
	seen.n = 0;
	store_nw_check_list(st2, 64, on_check, &seen);
	is_int(seen.n, 64, "listing capped at 64");
	{
		sqlite3 *db;
		sqlite3_stmt *q;
		int kept = -1, ev_rows = -1;
		if (sqlite3_open(path, &db) == SQLITE_OK &&
		    sqlite3_prepare_v2(db,
				       "SELECT count(*), (SELECT count(*) FROM netwatch_evidence)"
				       " FROM netwatch_checks",
				       -1, &q, NULL) == SQLITE_OK) {
			if (sqlite3_step(q) == SQLITE_ROW) {
				kept = sqlite3_column_int(q, 0);
				ev_rows = sqlite3_column_int(q, 1);
			}
			sqlite3_finalize(q);
		}
		sqlite3_close(db);
		ok(kept > 0 && kept <= STORE_NW_KEEP_CHECKS + 64, "old checks pruned");
		ok(ev_rows > 0 && ev_rows <= 3 * (STORE_NW_KEEP_CHECKS + 64), "their evidence too");
	}

	store_close(st);
	store_close(st2);
	snprintf(path, sizeof(path), "rm -rf '%s'", dir);
	if (system(path) != 0)
		return 1;
	return tap_done();
}
