/*
 * loftctl: the outbound queue.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "loftctl.h"
#include "store.h"
#include "store_queue.h"

static int print_queue(void *arg, const struct store_queue_item *q)
{
	char when[32];
	time_t t = (time_t)q->next_attempt;
	struct tm tm;

	(*(int *)arg)++;
	gmtime_r(&t, &tm);
	strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", &tm);
	printf("%-8lld %-10s %-3d %s  <%s> -> <%s>%s%s\n", (long long)q->id, q->status, q->attempts,
	       when, q->mail_from, q->rcpt, q->last_error && q->last_error[0] ? "  " : "",
	       q->last_error ? q->last_error : "");
	return 0;
}

static int cmd_queue(int argc, char **argv)
{
	struct store *st;
	int n = 0, rc;

	if (argc != 1 || strcmp(argv[0], "list") != 0)
		ctl_usage();
	st = ctl_open_store();
	printf("%-8s %-10s %-3s %-19s  %s\n", "ID", "STATUS", "TRY", "NEXT ATTEMPT (UTC)", "ROUTE");
	rc = store_queue_list(st, print_queue, &n) < 0;
	if (rc)
		fprintf(stderr, "loftctl: %s\n", store_errmsg(st));
	else
		printf("-- %d %s\n", n, n == 1 ? "entry" : "entries");
	store_close(st);
	return rc;
}

const struct ctl_cmd ctl_cmd_queue = {
    "queue", "  queue list                    the outbound queue\n", 0, -1, cmd_queue};
