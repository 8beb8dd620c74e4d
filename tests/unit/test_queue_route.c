/* smtpd/queue_route.c: the route contract of COMMON.md, every cell of it;
 * smtpd/queue_slowstart.c: sessions per destination. */
#include <string.h>

#include "../../smtpd/queue.h"
#include "tap.h"

static void check(const char *mode, const char *verdict, int sh, enum queue_route_kind want,
		  int want_warn, const char *what)
{
	char why[160];
	int warn;
	enum queue_route_kind k = queue_route_decide(mode, verdict, sh, why, sizeof(why), &warn);

	ok(k == want && warn == want_warn && why[0], what);
}

int main(void)
{
	check("direct", "relay", 1, ROUTE_DIRECT, 0, "direct ignores the verdict");
	check("direct", NULL, 0, ROUTE_DIRECT, 0, "direct without a smarthost");
	check("smarthost", "direct", 1, ROUTE_SMARTHOST, 0, "smarthost ignores the verdict");
	check("smarthost", "direct", 0, ROUTE_HOLD, 1, "smarthost mode without one: held, warned");
	check("auto", "direct", 1, ROUTE_DIRECT, 0, "auto + direct verdict: direct");
	check("auto", "direct", 0, ROUTE_DIRECT, 0, "auto + direct verdict, no smarthost: direct");
	check("auto", "relay", 1, ROUTE_SMARTHOST, 0, "auto + relay: smarthost");
	check("auto", "relay", 0, ROUTE_HOLD, 1, "auto + relay, no smarthost: held");
	check("auto", "unknown", 1, ROUTE_SMARTHOST, 0, "auto + unknown: smarthost");
	check("auto", "unknown", 0, ROUTE_DIRECT, 1,
	      "auto + unknown, no smarthost: direct, warned");
	check(NULL, NULL, 0, ROUTE_DIRECT, 1, "nothing set: auto, unknown -> direct, warned");
	check("", "", 1, ROUTE_SMARTHOST, 0, "empty settings are absent ones");
	check("auto", "bogus", 0, ROUTE_DIRECT, 1, "an unknown verdict reads as unknown");
	check("sometimes", "direct", 1, ROUTE_HOLD, 1, "a bad mode holds, warned");
	is_str(queue_route_name(ROUTE_HOLD), "hold", "names");

	struct queue_slowstart ss;
	queue_slowstart_init(&ss, 2, 20);
	ok(ss.window == 2 && ss.max == 20, "slow start: begins at the initial allowance");
	for (int i = 0; i < 5; i++)
		queue_slowstart_success(&ss);
	ok(ss.window == 7, "slow start: one more session per delivered transaction");
	for (int i = 0; i < 50; i++)
		queue_slowstart_success(&ss);
	ok(ss.window == 20, "slow start: never above the destination's limit");
	queue_slowstart_failure(&ss);
	ok(ss.window == 10, "slow start: a failed session halves the allowance");
	for (int i = 0; i < 10; i++)
		queue_slowstart_failure(&ss);
	ok(ss.window == 1, "slow start: never below one session");
	queue_slowstart_success(&ss);
	ok(ss.window == 2, "slow start: grows again after failures");
	queue_slowstart_init(&ss, 5, 3);
	ok(ss.window == 3, "slow start: the initial allowance is capped by the limit");
	queue_slowstart_init(&ss, 0, 0);
	ok(ss.window == 1 && ss.max == 1, "slow start: zeroes read as one");
	return tap_done();
}
