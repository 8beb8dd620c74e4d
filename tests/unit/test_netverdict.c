/*
 * lib/net/netverdict: the reverse-name classifier on a table of real-world
 * shaped names, ZEN decoding, DNSBL names, address kinds and every verdict
 * rule.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include "netverdict.h"
#include "tap.h"

/* a buffer as a plain pointer, for is_str */
static const char *str(const char *s)
{
	return s;
}

static const struct {
	const char *name, *addr;
	int generic;
} ptr_cases[] = {
    /* the example and its kin */
    {"dsl-203-0-113-7.dyn.example.net", "203.0.113.7", 1},
    {"dsl-203-0-113-7.dyn.example.net.", "203.0.113.7", 1},
    {"DSL-203-0-113-7.DYN.EXAMPLE.NET", "203.0.113.7", 1},
    /* embedded address, forwards and backwards, dashes/dots, padded, hex */
    {"c-73-22-1-5.hsd1.ca.example.net", "73.22.1.5", 1},
    {"203-0-113-7.example.net", "203.0.113.7", 1},
    {"7.113.0.203.in.example.net", "203.0.113.7", 1},
    {"host-0-113-7.example.net", "203.0.113.7", 1},
    {"ip203000113007.example.net", "203.0.113.7", 1},
    {"cb007107.example.net", "203.0.113.7", 1},
    {"xcb007107.ipt.example.net", "203.0.113.7", 1},
    /* dynamic words */
    {"pool-71-1-2-3.nycmny.example.net", "71.1.2.3", 1},
    {"dynamic-ip-adsl.metro.example.ar", "198.51.100.4", 1},
    {"dyn.198-51-100-4.example.de", "198.51.100.4", 1},
    {"host.dhcp.example.edu", "198.51.100.4", 1},
    {"ppp-94-1-2-3.home.example.gr", "94.1.2.3", 1},
    {"pppoe1234.example.it", "198.51.100.4", 1},
    {"dialup-4.example.com.br", "198.51.100.4", 1},
    {"dial-in.example.org.uk", "198.51.100.4", 1},
    {"adsl196-12.example.fr", "198.51.100.4", 1},
    {"cm-24.example.com", "198.51.100.4", 1},
    {"cable-1.docsis.example.com", "198.51.100.4", 1},
    {"cpe-70-112-1-9.tx.res.example.com", "70.112.1.9", 1},
    {"client-42.net.example.com", "198.51.100.4", 1},
    {"host.resnet.example.edu", "198.51.100.4", 1},
    {"abc.res.example.com", "198.51.100.4", 1},
    {"x.broadband.example.co", "198.51.100.4", 1},
    {"a.b.vdsl.example.ch", "198.51.100.4", 1},
    /* static/fixed cancel the embedded address and residential words... */
    {"203-0-113-7.static.example.net", "203.0.113.7", 0},
    {"static-dsl-1.example.net", "198.51.100.4", 0},
    {"fixed-ip-203-0-113-7.example.net", "203.0.113.7", 0},
    {"cable-1.static.example.com", "198.51.100.4", 0},
    /* ...but not the dynamic ones */
    {"static-dyn-pool.example.net", "198.51.100.4", 1},
    {"dhcp-static.example.net", "198.51.100.4", 1},
    /* real server names */
    {"mail.example.net", "203.0.113.7", 0},
    {"mx1.mail.example.org", "203.0.113.7", 0},
    {"smtp.example.com", "198.51.100.4", 0},
    {"box.home.example", "198.51.100.4", 0},
    {"server-1.example.com", "198.51.100.4", 0},
    {"mail203.example.com", "203.0.113.7", 0},
    {"mx-7.example.com", "203.0.113.7", 0},
    /* words inside the registered domain do not count */
    {"mail.pool.example", "198.51.100.4", 0},
    {"dsl.example", "198.51.100.4", 0},
    {"mail.dynamic.com", "198.51.100.4", 0},
    /* words only as whole tokens */
    {"poolside.mail.example.com", "198.51.100.4", 0},
    {"clients-portal.example.com", "198.51.100.4", 0},
    {"research.example.edu", "198.51.100.4", 0},
    {"resolver.example.net", "198.51.100.4", 0},
    /* two octets only is not enough */
    {"mx-113-7.example.com", "203.0.113.7", 0},
    /* without an address the keywords still work */
    {"dsl-1.example.net", NULL, 1},
    {"203-0-113-7.example.net", NULL, 0},
    /* v6: the interface part spelled out */
    {"2001-db8-0-0-1234-5678-9abc-def0.v6.example.net", "2001:db8::1234:5678:9abc:def0", 1},
    {"mail6.example.net", "2001:db8::1234:5678:9abc:def0", 0},
    {"host-1.v6.example.net", "2001:db8::1", 0},
    /* odd names */
    {"localhost", "203.0.113.7", 0},
    {"", "203.0.113.7", 1},
    {".", "203.0.113.7", 1},
    {"a..b..c.example.net", "203.0.113.7", 0},
};

static void test_ptr_table(void)
{
	char why[128], what[300];

	for (size_t i = 0; i < sizeof(ptr_cases) / sizeof(ptr_cases[0]); i++) {
		int g = netv_ptr_generic(ptr_cases[i].name, ptr_cases[i].addr, why, sizeof(why));
		snprintf(what, sizeof(what), "ptr \"%s\" (%s) %s: %s", ptr_cases[i].name,
			 ptr_cases[i].addr ? ptr_cases[i].addr : "-",
			 ptr_cases[i].generic ? "generic" : "not generic", why);
		is_int(g, ptr_cases[i].generic, what);
	}
}

static void test_ptr_limits(void)
{
	char big[600], why[64];

	/* longer than a DNS name may be: generic (unusable), no overrun */
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	is_int(netv_ptr_generic(big, "203.0.113.7", why, sizeof(why)), 1, "over-long name refused");
	/* many tokens: only the first ones looked at, no crash */
	for (size_t i = 0; i + 2 < 250; i += 2) {
		big[i] = 'x';
		big[i + 1] = '-';
	}
	memcpy(big + 240, ".example.net", 13);
	why[0] = '\0';
	{
		int rv = netv_ptr_generic(big, "203.0.113.7", why, sizeof(why));
		ok((rv == 0 || rv == 1) && memchr(why, '\0', sizeof(why)) != NULL,
		   "250-token name: a verdict and a terminated reason");
	}
	/* long tokens are cut, not overrun */
	memset(big, '9', 200);
	memcpy(big + 200, ".x.example.net", 15);
	is_int(netv_ptr_generic(big, "203.0.113.7", why, sizeof(why)), 0, "200-digit token");
	is_int(netv_ptr_generic(NULL, NULL, NULL, 0), 0, "NULL name");
	is_int(netv_ptr_generic("dsl.a.example", NULL, why, 1), 1, "tiny why buffer");
	is_int(why[0], 0, "tiny why buffer left terminated");
}

static size_t addrs(struct in_addr *a, const char *list)
{
	char buf[256], *save = NULL;
	size_t n = 0;

	snprintf(buf, sizeof(buf), "%s", list);
	for (char *p = strtok_r(buf, ",", &save); p; p = strtok_r(NULL, ",", &save))
		inet_pton(AF_INET, p, &a[n++]);
	return n;
}

static void test_zen(void)
{
	static const struct {
		const char *answers;
		enum netv_zen want;
	} cases[] = {
	    {"127.0.0.10", NETV_ZEN_PBL},
	    {"127.0.0.11", NETV_ZEN_PBL},
	    {"127.0.0.2", NETV_ZEN_LISTED},
	    {"127.0.0.3", NETV_ZEN_LISTED},
	    {"127.0.0.4", NETV_ZEN_LISTED},
	    {"127.0.0.9", NETV_ZEN_LISTED},
	    {"127.0.0.11,127.0.0.4", NETV_ZEN_LISTED},
	    {"127.255.255.254", NETV_ZEN_REFUSED},
	    {"127.255.255.252", NETV_ZEN_REFUSED},
	    {"127.255.255.255", NETV_ZEN_REFUSED},
	    /* an error code wins over a listing: the answer means nothing */
	    {"127.0.0.11,127.255.255.254", NETV_ZEN_REFUSED},
	    {"127.0.0.2,127.255.255.254", NETV_ZEN_REFUSED},
	    /* a resolver that answers NXDOMAIN with an ad server */
	    {"198.51.100.1", NETV_ZEN_BOGUS},
	    {"127.0.0.1", NETV_ZEN_BOGUS},
	    {"127.0.0.200", NETV_ZEN_BOGUS},
	    {"127.0.1.2", NETV_ZEN_BOGUS},
	};
	struct in_addr a[8];
	char codes[64], what[128];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		size_t n = addrs(a, cases[i].answers);
		enum netv_zen z = netv_zen_decode(0, a, n, codes, sizeof(codes));
		snprintf(what, sizeof(what), "zen %s -> %s", cases[i].answers,
			 netv_zen_str(cases[i].want));
		is_int(z, cases[i].want, what);
	}
	is_int(netv_zen_decode(1, NULL, 0, codes, sizeof(codes)), NETV_ZEN_CLEAN,
	       "NXDOMAIN: clean");
	is_int(netv_zen_decode(0, NULL, 0, codes, sizeof(codes)), NETV_ZEN_UNCHECKED,
	       "no answer and no NXDOMAIN: unchecked, never clean");
	netv_zen_decode(0, a, addrs(a, "127.0.0.11,127.0.0.4"), codes, sizeof(codes));
	is_str(str(codes), "127.0.0.11,127.0.0.4", "codes listed");
	netv_zen_decode(0, a, addrs(a, "127.0.0.11,127.0.0.4"), codes, 12);
	is_int(strlen(codes) < 12, 1, "codes truncated in a small buffer");

	is_int(netv_zen_selftest_ok(a, addrs(a, "127.0.0.2,127.0.0.10,127.0.0.4")), 1,
	       "self-test: 127.0.0.2 among the answers");
	is_int(netv_zen_selftest_ok(a, addrs(a, "127.255.255.254")), 0,
	       "self-test: public resolver refused");
	is_int(netv_zen_selftest_ok(a, addrs(a, "127.0.0.2,127.255.255.254")), 0,
	       "self-test: error code fails it");
	is_int(netv_zen_selftest_ok(a, addrs(a, "198.51.100.1")), 0, "self-test: bogus answer");
	is_int(netv_zen_selftest_ok(NULL, 0), 0, "self-test: no answer");
}

static void test_dnsbl_name(void)
{
	char out[200];

	is_int(netv_dnsbl_name("203.0.113.7", "zen.spamhaus.org", out, sizeof(out)), 0, "v4 name");
	is_str(str(out), "7.113.0.203.zen.spamhaus.org", "v4 reversed octets");
	is_int(netv_dnsbl_name("2001:db8::1", "zen.spamhaus.org", out, sizeof(out)), 0, "v6 name");
	is_str(str(out),
	       "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.zen.spamhaus.org",
	       "v6 reversed nibbles");
	is_int(netv_dnsbl_name("203.0.113.7", "zen.spamhaus.org", out, 20), -1, "v4: too small");
	is_int(netv_dnsbl_name("2001:db8::1", "zen.spamhaus.org", out, 70), -1, "v6: too small");
	is_int(netv_dnsbl_name("nonsense", "zen.spamhaus.org", out, sizeof(out)), -1,
	       "not an addr");
	is_int(netv_dnsbl_name("203.0.113.7", "", out, sizeof(out)), -1, "empty zone");
}

static void test_addr_kind(void)
{
	static const struct {
		const char *a;
		enum netv_addr_kind k;
	} cases[] = {
	    {"203.0.113.7", NETV_ADDR_PUBLIC},
	    {"8.8.8.8", NETV_ADDR_PUBLIC},
	    {"100.64.0.1", NETV_ADDR_CGNAT},
	    {"100.127.255.254", NETV_ADDR_CGNAT},
	    {"100.63.255.255", NETV_ADDR_PUBLIC},
	    {"100.128.0.0", NETV_ADDR_PUBLIC},
	    {"10.1.2.3", NETV_ADDR_PRIVATE},
	    {"172.16.0.1", NETV_ADDR_PRIVATE},
	    {"172.31.255.1", NETV_ADDR_PRIVATE},
	    {"172.32.0.1", NETV_ADDR_PUBLIC},
	    {"192.168.1.1", NETV_ADDR_PRIVATE},
	    {"127.0.0.1", NETV_ADDR_SPECIAL},
	    {"169.254.1.1", NETV_ADDR_SPECIAL},
	    {"0.0.0.0", NETV_ADDR_SPECIAL},
	    {"224.0.0.1", NETV_ADDR_SPECIAL},
	    {"2001:db8::1", NETV_ADDR_PUBLIC},
	    {"fd00::1", NETV_ADDR_PRIVATE},
	    {"fe80::1", NETV_ADDR_SPECIAL},
	    {"::1", NETV_ADDR_SPECIAL},
	    {"::", NETV_ADDR_SPECIAL},
	    {"::ffff:100.64.1.1", NETV_ADDR_CGNAT},
	    {"nonsense", NETV_ADDR_INVALID},
	    {"", NETV_ADDR_INVALID},
	};
	char what[96];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(what, sizeof(what), "address kind of %s", cases[i].a);
		is_int(netv_addr_kind(cases[i].a), cases[i].k, what);
	}
	is_int(netv_addr_kind(NULL), NETV_ADDR_INVALID, "NULL address");
}

static struct netv_evidence clean(void)
{
	struct netv_evidence e = {.addr = "203.0.113.7",
				  .reflect_answers = 2,
				  .cgnat = NETV_CGNAT_NO,
				  .ptr = NETV_PTR_GOOD,
				  .zen = NETV_ZEN_CLEAN,
				  .zen_selftest = 1,
				  .port25 = NETV_P25_OPEN};
	return e;
}

static void test_judge(void)
{
	struct netv_evidence e;
	char why[512];

	e = clean();
	is_int(netv_judge(&e, why, sizeof(why)), NETV_DIRECT, "all clean: direct");
	ok(strstr(why, "port 25 open") != NULL, "direct says why");

	/* each piece of bad evidence alone makes relay */
#define RELAY_IF(field, value, text)                                                               \
	do {                                                                                       \
		e = clean();                                                                       \
		e.field = value;                                                                   \
		is_int(netv_judge(&e, why, sizeof(why)), NETV_RELAY, "relay: " #field "=" #value); \
		ok(strstr(why, text) != NULL, "reason names " text);                               \
	} while (0)
	RELAY_IF(zen, NETV_ZEN_PBL, "PBL");
	RELAY_IF(zen, NETV_ZEN_LISTED, "listed");
	RELAY_IF(ptr, NETV_PTR_MISSING, "no reverse name");
	RELAY_IF(ptr, NETV_PTR_GENERIC, "generic");
	RELAY_IF(ptr, NETV_PTR_UNCONFIRMED, "does not resolve back");
	RELAY_IF(port25, NETV_P25_BLOCKED, "blocked");
	RELAY_IF(port25, NETV_P25_FILTERED, "filtered");
	RELAY_IF(cgnat, NETV_CGNAT_YES, "carrier-grade NAT");
	RELAY_IF(rejections, 1, "reputation");
	RELAY_IF(zen6, NETV_ZEN_PBL, "IPv6 address on the Spamhaus PBL");
	RELAY_IF(zen6, NETV_ZEN_LISTED, "IPv6 address listed");
	/* a v6 lookup the resolver refused says nothing */
	e = clean();
	e.zen6 = NETV_ZEN_REFUSED;
	is_int(netv_judge(&e, why, sizeof(why)), NETV_DIRECT, "zen6 refused: v4 evidence stands");

	/* each unknown piece alone makes unknown, never direct */
#define UNKNOWN_IF(field, value, text)                                                             \
	do {                                                                                       \
		e = clean();                                                                       \
		e.field = value;                                                                   \
		is_int(netv_judge(&e, why, sizeof(why)), NETV_UNKNOWN,                             \
		       "unknown: " #field "=" #value);                                             \
		ok(strstr(why, text) != NULL, "reason names " text);                               \
	} while (0)
	UNKNOWN_IF(zen, NETV_ZEN_REFUSED, "127.255.255");
	UNKNOWN_IF(zen, NETV_ZEN_BOGUS, "bogus");
	UNKNOWN_IF(zen, NETV_ZEN_UNCHECKED, "list lookup failed");
	UNKNOWN_IF(zen_selftest, 0, "self-test");
	UNKNOWN_IF(ptr, NETV_PTR_UNCHECKED, "reverse name not checked");
	UNKNOWN_IF(port25, NETV_P25_UNCHECKED, "port 25 not checked");
	UNKNOWN_IF(port25, NETV_P25_GARBAGE, "without an SMTP banner");
	UNKNOWN_IF(cgnat, NETV_CGNAT_UNCHECKED, "NAT");
	UNKNOWN_IF(addr[0], '\0', "public address not found");
	e = clean();
	e.addr[0] = '\0';
	e.reflect_disagree = 1;
	is_int(netv_judge(&e, why, sizeof(why)), NETV_UNKNOWN, "disagreeing reflection: unknown");
	ok(strstr(why, "disagree") != NULL, "reason says they disagree");

	/* relay wins over unknown, and the reasons add up */
	e = clean();
	e.zen = NETV_ZEN_PBL;
	e.ptr = NETV_PTR_GENERIC;
	e.port25 = NETV_P25_UNCHECKED;
	is_int(netv_judge(&e, why, sizeof(why)), NETV_RELAY, "PBL + generic + unchecked: relay");
	ok(strstr(why, "PBL") && strstr(why, "generic"), "both reasons given");

	/* everything unknown */
	memset(&e, 0, sizeof(e));
	is_int(netv_judge(&e, why, sizeof(why)), NETV_UNKNOWN, "no evidence: unknown");
	is_int(netv_judge(&e, why, 8), NETV_UNKNOWN, "small why buffer");
	ok(strlen(why) < 8, "why truncated, terminated");
	is_int(netv_judge(&e, NULL, 0), NETV_UNKNOWN, "NULL why");

	is_str(netv_verdict_str(NETV_DIRECT), "direct", "verdict names");
	is_int(netv_verdict_parse("relay"), NETV_RELAY, "parse relay");
	is_int(netv_verdict_parse("direct"), NETV_DIRECT, "parse direct");
	is_int(netv_verdict_parse("bogus"), NETV_UNKNOWN, "parse other");
	is_int(netv_verdict_parse(NULL), NETV_UNKNOWN, "parse NULL");
}

static void test_reply_kind(void)
{
	static const struct {
		const char *reply;
		enum netv_reply want;
	} cases[] = {
	    /* Gmail */
	    {"550-5.7.1 [203.0.113.7] The IP you're using to send mail is not authorized to\r\n"
	     "550-5.7.1 send email directly to our servers. Please use the SMTP relay at your\r\n"
	     "550 5.7.1 service provider instead. "
	     "https://support.google.com/mail/?p=NotAuthorizedError",
	     NETV_REPLY_REPUTATION},
	    {"550-5.7.1 The IP you're using to send mail is not authorized to send email "
	     "directly to our servers.",
	     NETV_REPLY_REPUTATION},
	    {"421-4.7.0 This message is suspicious due to the very low reputation of the sending "
	     "IP address.",
	     NETV_REPLY_REPUTATION},
	    {"421-4.7.0 [203.0.113.7] Our system has detected an unusual rate of unsolicited mail "
	     "originating from your IP address.",
	     NETV_REPLY_REPUTATION},
	    {"550-5.7.25 [203.0.113.7] The IP address sending this message does not have a PTR "
	     "record setup",
	     NETV_REPLY_REPUTATION},
	    /* Microsoft */
	    {"550 5.7.1 Unfortunately, messages from [203.0.113.7] weren't sent. Please contact "
	     "your Internet service provider since part of their network is on our block list "
	     "(S3150).",
	     NETV_REPLY_REPUTATION},
	    {"550 5.7.1 Service unavailable, Client host [203.0.113.7] blocked using Spamhaus. "
	     "(S3140)",
	     NETV_REPLY_REPUTATION},
	    {"550 5.7.606 Access denied, banned sending IP [203.0.113.7].", NETV_REPLY_REPUTATION},
	    {"550 5.7.649 Access denied", NETV_REPLY_REPUTATION},
	    {"550 5.7.650 something else", NETV_REPLY_OTHER},
	    {"550 5.7.6050 odd", NETV_REPLY_OTHER},
	    {"550 5.7.605 not in the range", NETV_REPLY_OTHER},
	    /* lists, dynamic space */
	    {"554 5.7.1 Service unavailable; Client host [203.0.113.7] blocked using "
	     "zen.spamhaus.org; https://www.spamhaus.org/query/ip/203.0.113.7",
	     NETV_REPLY_REPUTATION},
	    {"550 Your IP is listed in the PBL", NETV_REPLY_REPUTATION},
	    {"554 rejected: dynamic IP range, send through your ISP", NETV_REPLY_REPUTATION},
	    {"550 Mail from residential addresses refused", NETV_REPLY_REPUTATION},
	    /* Yahoo */
	    {"421 4.7.0 [TSS04] Messages from 203.0.113.7 temporarily deferred due to unexpected "
	     "volume or user complaints",
	     NETV_REPLY_REPUTATION},
	    {"553 5.7.1 [BL21] Connections not accepted from IP addresses on Spamhaus PBL",
	     NETV_REPLY_REPUTATION},
	    /* authentication: not reputation, relaying does not fix it */
	    {"550-5.7.26 This mail has been blocked because the sender is unauthenticated. Gmail "
	     "requires all senders to authenticate with either SPF or DKIM.",
	     NETV_REPLY_AUTH},
	    {"550 5.7.27 SPF check failed", NETV_REPLY_AUTH},
	    {"550 5.7.1 Email rejected per DMARC policy for example.org", NETV_REPLY_AUTH},
	    /* ordinary failures */
	    {"550 5.1.1 The email account that you tried to reach does not exist.",
	     NETV_REPLY_OTHER},
	    {"452 4.2.2 The email account that you tried to reach is over quota.",
	     NETV_REPLY_OTHER},
	    {"421 4.3.0 Temporary System Problem.  Try again later.", NETV_REPLY_OTHER},
	    {"554 5.7.1 Message rejected as spam by Content Filtering.", NETV_REPLY_OTHER},
	    {"", NETV_REPLY_OTHER},
	};
	char what[160];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(what, sizeof(what), "reply %.60s... -> %s", cases[i].reply,
			 netv_reply_str(cases[i].want));
		for (char *p = what; *p; p++)
			if (*p == '\r' || *p == '\n')
				*p = ' ';
		is_int(netv_reply_kind(cases[i].reply), cases[i].want, what);
	}
	is_int(netv_reply_kind(NULL), NETV_REPLY_OTHER, "NULL reply");
	/* a huge reply: only the first 4 KB looked at, no overrun */
	{
		static char huge[20000];
		memset(huge, 'x', sizeof(huge) - 1);
		memcpy(huge + 10000, "blocked using", 13);
		is_int(netv_reply_kind(huge), NETV_REPLY_OTHER, "past 4 KB not read");
		memcpy(huge + 100, "blocked using", 13);
		is_int(netv_reply_kind(huge), NETV_REPLY_REPUTATION, "within 4 KB read");
	}
}

int main(void)
{
	test_reply_kind();
	test_ptr_table();
	test_ptr_limits();
	test_zen();
	test_dnsbl_name();
	test_addr_kind();
	test_judge();
	return tap_done();
}
