#ifndef LOFT_NETVERDICT_H
#define LOFT_NETVERDICT_H
/*
 * The pure half of loft-netwatch: what a reverse name, a Spamhaus ZEN
 * answer and a public address say about the connection, and the rules
 * that turn that evidence into the route verdict (DESIGN.md "Outbound
 * route choice").  No I/O here: board/netwatch gathers the evidence, this
 * module judges it, so every rule has a table test
 * (tests/unit/test_netverdict.c).
 *
 * Verdict rules (in this order):
 *   relay   when any evidence says a receiver will refuse or junk direct
 *           mail: a PBL or other ZEN listing, a missing, generic or
 *           unconfirmed reverse name, outbound port 25 blocked or
 *           filtered, the box behind CGNAT, a receiver that lately refused
 *           direct mail for the address's reputation;
 *   direct  when every piece is known and clean: a public address found,
 *           no CGNAT, a forward-confirmed non-generic PTR, ZEN clean with
 *           the resolver's self-test passed, port 25 open;
 *   unknown otherwise (a probe failed, the resolver is refused by
 *           Spamhaus, the reflection methods disagree, ...).  loft-queue
 *           then relays when a smarthost is set, else sends direct with a
 *           warning (COMMON.md contract).
 */
#include <netinet/in.h>
#include <stddef.h>

enum netv_verdict { NETV_UNKNOWN = 0, NETV_DIRECT, NETV_RELAY };

/* "direct", "relay", "unknown": the values of the route.verdict setting. */
const char *netv_verdict_str(enum netv_verdict v);
/* The inverse; NETV_UNKNOWN for anything else (NULL included). */
enum netv_verdict netv_verdict_parse(const char *s);

/* --- the reverse name ------------------------------------------------- */

enum netv_ptr {
	NETV_PTR_UNCHECKED = 0, /* not looked at, or the lookup failed */
	NETV_PTR_MISSING,	/* NXDOMAIN / no PTR record */
	NETV_PTR_GENERIC,	/* looks like a residential/dynamic pool name */
	NETV_PTR_UNCONFIRMED,	/* the name does not resolve back to the address */
	NETV_PTR_GOOD,		/* present, forward-confirmed, not generic */
};
const char *netv_ptr_str(enum netv_ptr p);

/*
 * Is name (a PTR target, any case, with or without the trailing dot) a
 * generic name an ISP gives a pool of addresses?  addr is the address it
 * names (v4 or v6 text) or NULL; with it, the address's octets embedded in
 * the name count as evidence.  Evidence: an embedded address; the words
 * dyn, dynamic, dsl, adsl, vdsl, xdsl, dhcp, pool, ppp, pppoe, cable, cm,
 * docsis, cpe, client, res, resnet, dial, dialup, broadband; the words
 * static or fixed are counter-evidence that cancels the embedded address
 * and the residential words (dsl, cable, cpe, ...), not the dynamic ones
 * (dyn, dhcp, pool, ppp, dial).  The registered domain (the last two
 * labels) is not looked at: "mail.pool.example" is not generic, but
 * "pool-1.example.net" is.  Returns 1 (generic) or 0, with the reason in
 * why (may be NULL).
 */
int netv_ptr_generic(const char *name, const char *addr, char *why, size_t whylen);

/* --- Spamhaus ZEN ----------------------------------------------------- */

enum netv_zen {
	NETV_ZEN_UNCHECKED = 0, /* not asked, or a temporary failure */
	NETV_ZEN_CLEAN,		/* NXDOMAIN: on no list */
	NETV_ZEN_PBL,		/* 127.0.0.10/11: policy block list, dynamic space */
	NETV_ZEN_LISTED,	/* 127.0.0.2-9: SBL, CSS, XBL, DROP */
	NETV_ZEN_REFUSED,	/* 127.255.255.x: Spamhaus refused the resolver */
	NETV_ZEN_BOGUS,		/* any other answer: a lying resolver */
};
const char *netv_zen_str(enum netv_zen z);

/*
 * Decodes the A records of a ZEN lookup (n may be 0 for NXDOMAIN: pass
 * nxdomain=1).  A 127.255.255.x error code wins over everything (the
 * answer says nothing about the address); then a listing; PBL alone gives
 * NETV_ZEN_PBL; addresses outside 127.0.0.0/24 are BOGUS.  The codes seen
 * go to codes as "127.0.0.11,127.0.0.4" (may be NULL).
 */
enum netv_zen netv_zen_decode(int nxdomain, const struct in_addr *a, size_t n, char *codes,
			      size_t codeslen);

/*
 * The resolver self-test: the answers for the 127.0.0.2 test point
 * (2.0.0.127.ZONE) must hold 127.0.0.2 and no 127.255.255.x code.
 * Returns 1 when the resolver may be trusted for ZEN lookups.
 */
int netv_zen_selftest_ok(const struct in_addr *a, size_t n);

/*
 * The DNSBL query name for addr (v4 or v6 text) under zone: reversed
 * octets for v4 ("7.113.0.203.zen.spamhaus.org"), reversed nibbles for v6.
 * Returns 0, or -1 when addr is not an address or out is too small.
 */
int netv_dnsbl_name(const char *addr, const char *zone, char *out, size_t outlen);

/* --- addresses -------------------------------------------------------- */

enum netv_addr_kind {
	NETV_ADDR_PUBLIC = 0,
	NETV_ADDR_CGNAT,   /* 100.64.0.0/10 (RFC 6598) */
	NETV_ADDR_PRIVATE, /* RFC 1918, fc00::/7 */
	NETV_ADDR_SPECIAL, /* loopback, link-local, unspecified, documentation... */
	NETV_ADDR_INVALID, /* not an address */
};
/* What kind of address text is (v4 or v6).  Documentation ranges
 * (192.0.2/24, 198.51.100/24, 203.0.113/24, 2001:db8::/32) count as public:
 * the tests use them as public addresses. */
enum netv_addr_kind netv_addr_kind(const char *text);

/* --- the evidence and the verdict ------------------------------------- */

enum netv_port25 {
	NETV_P25_UNCHECKED = 0,
	NETV_P25_OPEN,	   /* a 220 banner came */
	NETV_P25_BLOCKED,  /* no answer before the timeout */
	NETV_P25_FILTERED, /* connection refused/reset (an ISP filter) */
	NETV_P25_GARBAGE,  /* connected, but no SMTP banner: unknown */
};
const char *netv_port25_str(enum netv_port25 p);

enum netv_cgnat {
	NETV_CGNAT_UNCHECKED = 0,
	NETV_CGNAT_NO,
	NETV_CGNAT_YES,
};

struct netv_evidence {
	/* the public address the reflection methods agree on ("" unknown) */
	char addr[INET6_ADDRSTRLEN];
	/* reflection methods that answered, and whether they agree */
	int reflect_answers, reflect_disagree;
	enum netv_cgnat cgnat;
	enum netv_ptr ptr;
	enum netv_zen zen;
	int zen_selftest; /* 1 passed, 0 failed or not run */
	enum netv_port25 port25;
	/* receivers that refused direct mail for the address's reputation
	 * lately (netv_reply_kind() of loft-queue's rejections) */
	int rejections;
	/* the IPv6 address (when the box has one) in ZEN: UNCHECKED without */
	enum netv_zen zen6;
};

/*
 * The verdict for e, by the rules at the top of this header, with a
 * human-readable reason ("PBL listed; generic reverse name") in why.
 */
enum netv_verdict netv_judge(const struct netv_evidence *e, char *why, size_t whylen);

/* --- a remote MX's rejection ------------------------------------------ */

enum netv_reply {
	NETV_REPLY_OTHER = 0,  /* an ordinary failure: retry or bounce as usual */
	NETV_REPLY_REPUTATION, /* the sending address is refused: relay this message */
	NETV_REPLY_AUTH,       /* SPF/DKIM/DMARC: the admin must fix DNS, relaying won't */
};
const char *netv_reply_str(enum netv_reply r);

/*
 * What a remote MX's reply (the whole text, codes included, lines joined
 * in any way; temporary or permanent) says about the sending address.
 * REPUTATION for the blocks of big receivers against home and dynamic
 * addresses: Gmail's "not authorized to send email directly to our
 * servers" and "low reputation of the sending IP", a missing PTR (5.7.25),
 * Microsoft's S3150/S3140 and 5.7.606-5.7.649, "blocked using" / "listed
 * in" Spamhaus or another list, PBL, "dynamic IP", "residential",
 * "dialup", Yahoo's TSS and BL codes.  AUTH for authentication failures
 * (5.7.26, 5.7.27, 5.7.30, 5.7.23, "SPF", "DKIM", "DMARC") when nothing
 * says reputation: relaying does not fix those.  Reads at most the first
 * 4096 bytes; NULL is OTHER.
 */
enum netv_reply netv_reply_kind(const char *reply);

#endif
