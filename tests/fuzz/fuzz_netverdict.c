/* What netwatch reads from the network, as arbitrary bytes: a PTR name
 * (with and without the address it names), ZEN answers, a port 25
 * banner.  Never crashes, never reads past the input, always terminates
 * what it writes. */
#include <arpa/inet.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../board/netwatch/netwatch.h"
#include "netverdict.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char name[600], why[128], codes[64], detail[200], dnsbl[300];
	struct in_addr a[16];
	size_t n = size < sizeof(name) - 1 ? size : sizeof(name) - 1;

	memcpy(name, data, n);
	name[n] = '\0';
	netv_ptr_generic(name, "203.0.113.7", why, sizeof(why));
	netv_ptr_generic(name, "2001:db8::1234:5678:9abc:def0", why, sizeof(why));
	netv_ptr_generic(name, NULL, why, sizeof(why));
	netv_reply_kind(name);
	netv_ptr_generic(name, name, why, sizeof(why));
	netv_addr_kind(name);
	netv_dnsbl_name(name, "zen.test", dnsbl, sizeof(dnsbl));
	netv_dnsbl_name("203.0.113.7", name, dnsbl, sizeof(dnsbl));

	size_t na = size / 4 < 16 ? size / 4 : 16;
	memcpy(a, data, na * 4);
	netv_zen_decode(0, a, na, codes, sizeof(codes));
	netv_zen_selftest_ok(a, na);

	nw_p25_classify((const char *)data, size, detail, sizeof(detail));
	return 0;
}
