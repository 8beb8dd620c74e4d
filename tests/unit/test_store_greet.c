/* lib/store/store_greet.c: loft-smtpd's early-talker passes in the store. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store.h"
#include "store_greet.h"
#include "tap.h"

struct seen {
	char all[512];
	int n;
};

static int collect(void *arg, const char *addr, int64_t passed)
{
	struct seen *s = arg;
	size_t len = strlen(s->all);

	snprintf(s->all + len, sizeof(s->all) - len, "%s=%lld;", addr, (long long)passed);
	return ++s->n >= 100;
}

static const char *list(struct store *st, int64_t since)
{
	static struct seen s;

	memset(&s, 0, sizeof(s));
	if (store_greet_pass_list(st, since, collect, &s) < 0)
		return "error";
	return s.all;
}

int main(void)
{
	char dir[] = "/tmp/loft-test-greet-XXXXXX", path[128], err[256];
	struct store *st;

	if (!mkdtemp(dir))
		return 2;
	snprintf(path, sizeof(path), "%s/loft.db", dir);
	if (store_open(path, &st, err, sizeof(err)) < 0) {
		printf("# %s\n", err);
		return 2;
	}
	is_str(list(st, 0), "", "no passes in a new store");

	const char *a[] = {"192.0.2.1", "2001:db8::1"};
	int64_t t[] = {1000, 2000};
	is_int(store_greet_pass_save(st, a, t, 2, 0), 0, "two passes saved");
	is_str(list(st, 0), "192.0.2.1=1000;2001:db8::1=2000;", "both listed");
	is_str(list(st, 1500), "2001:db8::1=2000;", "only those since");

	const char *b[] = {"192.0.2.1"};
	int64_t older[] = {500}, newer[] = {3000};
	is_int(store_greet_pass_save(st, b, older, 1, 0), 0, "an older time saved");
	is_str(list(st, 0), "192.0.2.1=1000;2001:db8::1=2000;", "does not move a pass back");
	is_int(store_greet_pass_save(st, b, newer, 1, 0), 0, "a newer time saved");
	is_str(list(st, 0), "192.0.2.1=3000;2001:db8::1=2000;", "renews the pass");

	is_int(store_greet_pass_save(st, NULL, NULL, 0, 2500), 0, "expiry alone");
	is_str(list(st, 0), "192.0.2.1=3000;", "passes before the cut forgotten");

	/* a second handle (another process, after a restart) sees them */
	struct store *st2;
	if (store_open(path, &st2, err, sizeof(err)) < 0)
		return 2;
	is_str(list(st2, 0), "192.0.2.1=3000;", "another handle reads them");
	store_close(st2);

	/* the callback stops the walk */
	const char *many[3] = {"10.0.0.1", "10.0.0.2", "10.0.0.3"};
	int64_t tm[3] = {5000, 5000, 5000};
	store_greet_pass_save(st, many, tm, 3, 0);
	struct seen s = {.n = 99};
	is_int(store_greet_pass_list(st, 4000, collect, &s), 1, "a nonzero return stops the walk");

	store_close(st);
	snprintf(path, sizeof(path), "rm -rf %s", dir);
	if (system(path) != 0)
		return 2;
	return tap_done();
}
