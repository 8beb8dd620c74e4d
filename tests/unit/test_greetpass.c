/* smtpd/greetpass.c: addresses that passed the early-talker check. */
#include <stdio.h>

#include "../../smtpd/greetpass.h"
#include "tap.h"

int main(void)
{
	const uint64_t day = 86400ull * 1000;
	struct greetpass *g = greetpass_new(day, 100);
	char ip[64];

	ok(!greetpass_known(g, "192.0.2.1", 1000), "empty table knows nobody");
	is_int(greetpass_count(g), 0, "and holds nothing");
	greetpass_add(g, "192.0.2.1", 1000);
	ok(greetpass_known(g, "192.0.2.1", 1000), "known right after passing");
	ok(greetpass_known(g, "192.0.2.1", 1000 + day - 1), "known until ttl");
	ok(!greetpass_known(g, "192.0.2.1", 1000 + day), "forgotten at ttl");
	ok(!greetpass_known(g, "192.0.2.2", 1000), "a neighbour is not known");
	greetpass_add(g, "192.0.2.1", 1000 + day);
	ok(greetpass_known(g, "192.0.2.1", 1000 + 2 * day - 1), "a new pass renews the time");
	is_int(greetpass_count(g), 1, "renewal adds no entry");

	greetpass_add(g, "2001:db8::1", 2 * day);
	ok(greetpass_known(g, "2001:db8::1", 2 * day), "IPv6 known");
	ok(greetpass_known(g, "2001:db8:0:0::1", 2 * day), "IPv6 in another spelling");
	ok(!greetpass_known(g, "2001:db8::2", 2 * day), "other IPv6 not known");
	ok(greetpass_known(g, "::ffff:192.0.2.1", 2 * day), "IPv4-mapped is the IPv4 address");

	greetpass_add(g, "not an address", 2 * day);
	greetpass_add(g, "", 2 * day);
	ok(!greetpass_known(g, "not an address", 2 * day), "text that is no address never passes");
	ok(!greetpass_known(g, "", 2 * day), "empty text never passes");
	is_int(greetpass_count(g), 2, "and takes no entry");

	/* grows past its first 16 slots, and every address stays */
	for (int i = 0; i < 90; i++) {
		snprintf(ip, sizeof(ip), "198.51.100.%d", i);
		greetpass_add(g, ip, 2 * day + 10000 + (uint64_t)i);
	}
	int all = 1;
	for (int i = 0; i < 90; i++) {
		snprintf(ip, sizeof(ip), "198.51.100.%d", i);
		all &= greetpass_known(g, ip, 2 * day + 20000);
	}
	ok(all, "90 addresses held through growth");
	/* 192.0.2.1 passed more than a day before: swept when the table grew */
	is_int(greetpass_count(g), 91, "count after growth, the expired one swept");

	/* the limit: the 101st address makes room by forgetting the older half */
	for (int i = 90; i < 99; i++) {
		snprintf(ip, sizeof(ip), "198.51.100.%d", i);
		greetpass_add(g, ip, 2 * day + 10000 + (uint64_t)i);
	}
	is_int(greetpass_count(g), 100, "full at max");
	greetpass_add(g, "203.0.113.7", 2 * day + 30000);
	ok(greetpass_count(g) <= 100, "never above max");
	ok(greetpass_known(g, "203.0.113.7", 2 * day + 30000), "the newest address is held");
	ok(greetpass_known(g, "198.51.100.98", 2 * day + 30000), "a recent one is kept");
	ok(!greetpass_known(g, "198.51.100.0", 2 * day + 30000), "an old one is forgotten");
	greetpass_free(g);

	/* expired entries go first when full */
	g = greetpass_new(1000, 4);
	greetpass_add(g, "10.0.0.1", 0);
	greetpass_add(g, "10.0.0.2", 0);
	greetpass_add(g, "10.0.0.3", 1500);
	greetpass_add(g, "10.0.0.4", 1600);
	greetpass_add(g, "10.0.0.5", 1700);
	ok(greetpass_known(g, "10.0.0.3", 1700) && greetpass_known(g, "10.0.0.4", 1700) &&
	       greetpass_known(g, "10.0.0.5", 1700),
	   "expired swept, fresh ones kept");
	is_int(greetpass_count(g), 3, "two expired gone");
	greetpass_free(g);

	/* what is worth writing down: new, or older than half the ttl */
	g = greetpass_new(1000, 10);
	is_int(greetpass_add(g, "10.1.0.1", 100), 1, "a new address is to be written");
	is_int(greetpass_add(g, "10.1.0.1", 400), 0, "a renewal within half the ttl is not");
	is_int(greetpass_add(g, "10.1.0.1", 900), 1, "a renewal after half the ttl is");
	is_int(greetpass_add(g, "10.1.0.1", 2500), 1, "an expired address again is");
	is_int(greetpass_add(g, "bogus", 2500), 0, "no address, nothing to write");
	greetpass_free(g);

	/* ttl 0: remembers nobody */
	g = greetpass_new(0, 10);
	greetpass_add(g, "192.0.2.9", 1);
	ok(!greetpass_known(g, "192.0.2.9", 1), "ttl 0 remembers nothing");
	is_int(greetpass_count(g), 0, "and holds nothing");
	greetpass_free(g);

	/* max 1 */
	g = greetpass_new(day, 1);
	greetpass_add(g, "192.0.2.1", 1);
	greetpass_add(g, "192.0.2.2", 2);
	ok(greetpass_known(g, "192.0.2.2", 3) && greetpass_count(g) == 1, "max 1 keeps the last");
	greetpass_free(g);
	greetpass_free(NULL);
	return tap_done();
}
