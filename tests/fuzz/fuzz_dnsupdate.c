/* A DNS server's answer to our signed update, as arbitrary bytes (with
 * our ID put in front half of the time, so the parser gets past the
 * header): never crashes, never reads out of bounds, never says OK. */
#include <stdint.h>
#include <string.h>

#include "dnsupdate.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct dnsu_key key;
	static struct dnsu_request req;
	static int ready;
	unsigned char ans[4096];
	char why[160];
	int rcode;

	if (!ready) {
		dnsu_key_set(&key, "loft-key", "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3JldA==");
		dnsu_build(&req, "home.example", "box.home.example", "203.0.113.7", "2001:db8::7",
			   60, &key, 0x4242, 1700000000);
		ready = 1;
	}
	if (size > sizeof(ans))
		size = sizeof(ans);
	memcpy(ans, data, size);
	if (size >= 4 && (data[0] & 1)) {
		ans[0] = 0x42;
		ans[1] = 0x42;
		ans[2] = (unsigned char)(0x80 | (5 << 3) | (ans[2] & 0x07));
	}
	if (dnsu_check_answer(&req, ans, size, &key, 1700000000, &rcode, why, sizeof(why)) ==
	    DNSU_OK)
		__builtin_trap(); /* a forged answer passed */
	return 0;
}
