/*
 * loftctl: the outbound queue, in the manner of postqueue -p / postsuper:
 *   queue list              every row: id, status, attempts, next try, route
 *   queue show ID           one row with each attempt (route, MX, address,
 *                           TLS, the peer's reply, next retry)
 *   queue flush [ID]        due now (and released from hold)
 *   queue hold ID | release ID
 *   queue delete ID         gone, no report
 *   queue bounce ID         loft-queue bounces it with a report to the sender
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "loftctl.h"
#include "store.h"
#include "store_outbound.h"
#include "store_queue.h"
#include "strnum.h"

static void when(int64_t t, char *out, size_t len)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (t <= 0) {
		snprintf(out, len, "-");
		return;
	}
	gmtime_r(&tt, &tm);
	strftime(out, len, "%Y-%m-%d %H:%M:%S", &tm);
}

static int print_queue(void *arg, const struct store_queue_item *q)
{
	char w[32];

	(*(int *)arg)++;
	when(q->next_attempt, w, sizeof(w));
	printf("%-8lld %-10s %-3d %-19s  <%s> -> <%s>%s%s\n", (long long)q->id, q->status,
	       q->attempts, w, q->mail_from, q->rcpt, q->last_error && q->last_error[0] ? "  " : "",
	       q->last_error ? q->last_error : "");
	return 0;
}

static int print_one(void *arg, const struct store_outbound_item *it)
{
	char w[32], c[32];

	(void)arg;
	when(it->q.next_attempt, w, sizeof(w));
	when(it->q.created, c, sizeof(c));
	printf("id:          %lld\nfrom:        <%s>\nto:          <%s>\nstatus:      %s\n"
	       "queued:      %s UTC\nattempts:    %d\nnext:        %s%s\nlast error:  %s\n",
	       (long long)it->q.id, it->q.mail_from, it->q.rcpt, it->q.status, c, it->q.attempts,
	       strcmp(it->q.status, "queued") == 0 || strcmp(it->q.status, "deferred") == 0 ? w
											    : "-",
	       strcmp(it->q.status, "queued") == 0 || strcmp(it->q.status, "deferred") == 0 ? " UTC"
											    : "",
	       it->q.last_error && it->q.last_error[0] ? it->q.last_error : "-");
	return 0;
}

static int print_attempt(void *arg, int64_t t, const struct store_attempt *a)
{
	char w[32], n[32];

	(void)arg;
	when(t, w, sizeof(w));
	when(a->next_attempt, n, sizeof(n));
	printf("  %s  route=%s mx=%s addr=%s tls=%s verified=%s\n      reply: %s\n      next: %s\n",
	       w, a->route, a->mx[0] ? a->mx : "-", a->addr[0] ? a->addr : "-",
	       a->tls[0] ? a->tls : "none", a->verified ? "yes" : "no", a->reply, n);
	return 0;
}

static int parse_id(const char *s, int64_t *id)
{
	uint64_t v;

	if (strnum_u64(s, INT64_MAX, &v) < 0 || v == 0) {
		fprintf(stderr, "loftctl: bad queue id %s\n", s);
		return -1;
	}
	*id = (int64_t)v;
	return 0;
}

static int cmd_queue(int argc, char **argv)
{
	struct store *st;
	int n = 0, rc = 0;
	int64_t id = 0;
	const char *v = argv[0];

	if (argc == 2 && parse_id(argv[1], &id) < 0)
		return 1;
	if (strcmp(v, "list") == 0 && argc == 1) {
		st = ctl_open_store();
		printf("%-8s %-10s %-3s %-19s  %s\n", "ID", "STATUS", "TRY", "NEXT ATTEMPT (UTC)",
		       "ROUTE");
		rc = store_queue_list(st, print_queue, &n) < 0;
		if (rc)
			fprintf(stderr, "loftctl: %s\n", store_errmsg(st));
		else
			printf("-- %d %s\n", n, n == 1 ? "entry" : "entries");
	} else if (strcmp(v, "show") == 0 && argc == 2) {
		st = ctl_open_store();
		int r = store_outbound_get(st, id, print_one, NULL);
		if (r == 0) {
			fprintf(stderr, "loftctl: queue %lld: not found\n", (long long)id);
			rc = 1;
		} else if (r < 0) {
			rc = ctl_list_result(st, r);
		} else {
			printf("attempts:\n");
			rc = ctl_list_result(st, store_attempt_list(st, id, print_attempt, NULL));
		}
	} else if (strcmp(v, "flush") == 0 && argc <= 2) {
		st = ctl_open_store();
		int r = store_outbound_flush(st, id);
		rc = ctl_list_result(st, r);
		if (!rc)
			printf("%d %s due now\n", r, r == 1 ? "entry" : "entries");
	} else if ((strcmp(v, "hold") == 0 || strcmp(v, "release") == 0) && argc == 2) {
		st = ctl_open_store();
		rc = ctl_result(st, store_outbound_hold(st, id, v[0] == 'h'), "waiting queue entry",
				argv[1]);
	} else if (strcmp(v, "delete") == 0 && argc == 2) {
		st = ctl_open_store();
		rc = ctl_result(st, store_outbound_delete(st, id), "queue entry", argv[1]);
	} else if (strcmp(v, "bounce") == 0 && argc == 2) {
		st = ctl_open_store();
		rc = ctl_result(st, store_outbound_request_bounce(st, id), "waiting queue entry",
				argv[1]);
		if (!rc)
			printf("queue %s: loft-queue bounces it with a report to its sender\n",
			       argv[1]);
	} else {
		ctl_usage();
	}
	store_close(st);
	return rc;
}

const struct ctl_cmd ctl_cmd_queue = {
    "queue",
    "  queue list                    the outbound queue\n"
    "  queue show ID                 one entry with its attempts\n"
    "  queue flush [ID]              try now (all waiting entries, or one)\n"
    "  queue hold|release ID         keep an entry from being sent, or let it go\n"
    "  queue delete ID               remove an entry (no report)\n"
    "  queue bounce ID               return an entry to its sender with a report\n",
    1, 2, cmd_queue};
