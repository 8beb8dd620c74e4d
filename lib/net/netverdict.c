/*
 * The rules of loft-netwatch: reverse-name classifier, ZEN decoding,
 * address kinds and the verdict.  See netverdict.h.
 */
#include "netverdict.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define PTR_MAX_NAME   253
#define PTR_MAX_TOKENS 64

const char *netv_verdict_str(enum netv_verdict v)
{
	switch (v) {
	case NETV_DIRECT:
		return "direct";
	case NETV_RELAY:
		return "relay";
	case NETV_UNKNOWN:
		break;
	}
	return "unknown";
}

enum netv_verdict netv_verdict_parse(const char *s)
{
	if (s && strcmp(s, "direct") == 0)
		return NETV_DIRECT;
	if (s && strcmp(s, "relay") == 0)
		return NETV_RELAY;
	return NETV_UNKNOWN;
}

const char *netv_ptr_str(enum netv_ptr p)
{
	static const char *const s[] = {"unchecked", "missing", "generic", "unconfirmed", "good"};
	return (unsigned)p < sizeof(s) / sizeof(s[0]) ? s[p] : "unchecked";
}

const char *netv_zen_str(enum netv_zen z)
{
	static const char *const s[] = {"unchecked", "clean", "pbl", "listed", "refused", "bogus"};
	return (unsigned)z < sizeof(s) / sizeof(s[0]) ? s[z] : "unchecked";
}

const char *netv_port25_str(enum netv_port25 p)
{
	static const char *const s[] = {"unchecked", "open", "blocked", "filtered", "garbage"};
	return (unsigned)p < sizeof(s) / sizeof(s[0]) ? s[p] : "unchecked";
}

/* --- the reverse name ------------------------------------------------- */

struct ptr_token {
	char s[64];
	int numeric;
};

/* Splits the labels before the registered domain into tokens: runs of
 * letters and runs of digits ("adsl196-7" -> adsl, 196, 7).  Returns the
 * count; a name with too many tokens keeps the first PTR_MAX_TOKENS. */
static size_t ptr_tokens(const char *name, size_t len, struct ptr_token *t)
{
	size_t n = 0, i = 0;

	while (i < len && n < PTR_MAX_TOKENS) {
		unsigned char c = (unsigned char)name[i];
		if (!isalnum(c)) {
			i++;
			continue;
		}
		int digit = isdigit(c) != 0;
		size_t k = 0;
		while (i < len && isalnum((unsigned char)name[i]) &&
		       (isdigit((unsigned char)name[i]) != 0) == digit) {
			if (k < sizeof(t[n].s) - 1)
				t[n].s[k++] = (char)tolower((unsigned char)name[i]);
			i++;
		}
		t[n].s[k] = '\0';
		t[n].numeric = digit;
		n++;
	}
	return n;
}

/* Words an ISP puts in the names of a dynamic pool: "static" does not
 * make these any better. */
static const char *const ptr_dynamic_words[] = {
    "dyn", "dynamic", "dynip", "dhcp", "pool", "ppp", "pppoe", "pppoa", "dial", "dialup", "dialin",
};
/* Words of residential access lines: "static"/"fixed" lines of the same
 * kind are what a business gets for running a server. */
static const char *const ptr_residential_words[] = {
    "dsl", "adsl",   "vdsl", "xdsl",   "sdsl",	    "cable", "cm",   "docsis",
    "cpe", "client", "res",  "resnet", "broadband", "hsd",   "ftth",
};
static const char *const ptr_static_words[] = {"static", "fixed"};

static int word_in(const char *w, const char *const *list, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(w, list[i]) == 0)
			return 1;
	return 0;
}
#define WORD_IN(w, list) word_in(w, list, sizeof(list) / sizeof(list[0]))

/* Is the decimal token s the octet value v (with or without leading
 * zeros, at most 3 digits)? */
static int octet_is(const char *s, unsigned v)
{
	size_t len = strlen(s);
	unsigned x = 0;

	if (len == 0 || len > 3)
		return 0;
	for (size_t i = 0; i < len; i++)
		x = x * 10 + (unsigned)(s[i] - '0');
	return x == v;
}

/* The v4 address's octets embedded in the name: three or four of them as
 * consecutive number tokens, in order or reversed; or all four as one
 * 12-digit zero-padded token or one 8-digit hex run. */
static int ptr_embeds_v4(const struct ptr_token *t, size_t n, const unsigned char *o,
			 const char *name)
{
	char padded[13], hex[9];
	char lname[PTR_MAX_NAME + 2];
	size_t i, k;

	for (i = 0; i < n; i++) {
		for (int dir = 0; dir < 2; dir++) {
			/* start at each octet: a name may hold only the last three */
			for (int start = 0; start < 2; start++) {
				size_t run = 0;
				for (k = 0; i + k < n && start + (int)k < 4; k++) {
					unsigned v = dir == 0 ? o[start + k] : o[3 - start - k];
					if (!t[i + k].numeric || !octet_is(t[i + k].s, v))
						break;
					run++;
				}
				if (run >= 3)
					return 1;
			}
		}
	}
	snprintf(padded, sizeof(padded), "%03u%03u%03u%03u", o[0], o[1], o[2], o[3]);
	snprintf(hex, sizeof(hex), "%02x%02x%02x%02x", o[0], o[1], o[2], o[3]);
	for (i = 0; i < n; i++)
		if (strcmp(t[i].s, padded) == 0)
			return 1;
	for (i = 0; name[i] && i < sizeof(lname) - 1; i++)
		lname[i] = (char)tolower((unsigned char)name[i]);
	lname[i] = '\0';
	return strstr(lname, hex) != NULL;
}

/* The v6 address's last 64 bits (the interface part an ISP's pool
 * names spell out) as hex in the name, with or without separators. */
static int ptr_embeds_v6(const char *name, const unsigned char *a)
{
	char want[17], flat[PTR_MAX_NAME + 1];
	size_t k = 0;

	for (int i = 8; i < 16; i++)
		snprintf(want + 2 * (i - 8), 3, "%02x", a[i]);
	for (size_t i = 0; name[i] && k < sizeof(flat) - 1; i++)
		if (isxdigit((unsigned char)name[i]))
			flat[k++] = (char)tolower((unsigned char)name[i]);
	flat[k] = '\0';
	/* an all-zero interface part (::1) is too common to mean anything */
	return strcmp(want, "0000000000000000") != 0 && strstr(flat, want) != NULL;
}

static void why_set(char *why, size_t whylen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void why_set(char *why, size_t whylen, const char *fmt, ...)
{
	va_list ap;

	if (!why || !whylen)
		return;
	va_start(ap, fmt);
	vsnprintf(why, whylen, fmt, ap);
	va_end(ap);
}

int netv_ptr_generic(const char *name, const char *addr, char *why, size_t whylen)
{
	struct ptr_token t[PTR_MAX_TOKENS];
	unsigned char a[16];
	size_t len, host_len, n;
	int dots = 0, is_static = 0, embedded = 0;
	const char *dyn = NULL, *resid = NULL;

	why_set(why, whylen, "not generic");
	if (!name)
		return 0;
	len = strnlen(name, PTR_MAX_NAME + 2);
	if (len > 0 && name[len - 1] == '.')
		len--;
	if (len == 0 || len > PTR_MAX_NAME) {
		why_set(why, whylen, "no usable name");
		return 1;
	}
	/* the part before the registered domain: everything but the last
	 * two labels; a name of two labels or fewer has none */
	host_len = len;
	for (size_t i = len; i-- > 0;) {
		if (name[i] == '.' && ++dots == 2) {
			host_len = i;
			break;
		}
	}
	if (dots < 2)
		return 0;
	n = ptr_tokens(name, host_len, t);
	for (size_t i = 0; i < n; i++) {
		if (t[i].numeric)
			continue;
		if (!dyn && WORD_IN(t[i].s, ptr_dynamic_words))
			dyn = t[i].s;
		else if (!resid && WORD_IN(t[i].s, ptr_residential_words))
			resid = t[i].s;
		else if (WORD_IN(t[i].s, ptr_static_words))
			is_static = 1;
	}
	if (addr && inet_pton(AF_INET, addr, a) == 1)
		embedded = ptr_embeds_v4(t, n, a, name);
	else if (addr && inet_pton(AF_INET6, addr, a) == 1)
		embedded = ptr_embeds_v6(name, a);
	if (dyn) {
		why_set(why, whylen, "dynamic pool word \"%s\"", dyn);
		return 1;
	}
	if (is_static) {
		why_set(why, whylen, "marked static");
		return 0;
	}
	if (resid) {
		why_set(why, whylen, "residential line word \"%s\"", resid);
		return 1;
	}
	if (embedded) {
		why_set(why, whylen, "address embedded in the name");
		return 1;
	}
	return 0;
}

/* --- Spamhaus ZEN ----------------------------------------------------- */

enum netv_zen netv_zen_decode(int nxdomain, const struct in_addr *a, size_t n, char *codes,
			      size_t codeslen)
{
	int pbl = 0, listed = 0, refused = 0, bogus = 0;
	size_t used = 0;

	if (codes && codeslen)
		codes[0] = '\0';
	if (nxdomain)
		return NETV_ZEN_CLEAN;
	if (n == 0)
		return NETV_ZEN_UNCHECKED;
	for (size_t i = 0; i < n; i++) {
		uint32_t v = ntohl(a[i].s_addr);
		char text[INET_ADDRSTRLEN];

		if ((v & 0xffffff00u) == 0x7fffff00u)
			refused = 1;
		else if ((v & 0xffffff00u) != 0x7f000000u)
			bogus = 1;
		else if ((v & 0xff) == 10 || (v & 0xff) == 11)
			pbl = 1;
		else if ((v & 0xff) >= 2 && (v & 0xff) <= 9)
			listed = 1;
		else
			bogus = 1;
		if (codes && used < codeslen) {
			inet_ntop(AF_INET, &a[i], text, sizeof(text));
			int w =
			    snprintf(codes + used, codeslen - used, "%s%s", used ? "," : "", text);
			if (w < 0 || (size_t)w >= codeslen - used)
				used = codeslen; /* no room: stop, what is there stands */
			else
				used += (size_t)w;
		}
	}
	if (refused)
		return NETV_ZEN_REFUSED;
	if (bogus)
		return NETV_ZEN_BOGUS;
	if (listed)
		return NETV_ZEN_LISTED;
	return pbl ? NETV_ZEN_PBL : NETV_ZEN_UNCHECKED;
}

int netv_zen_selftest_ok(const struct in_addr *a, size_t n)
{
	int two = 0;

	for (size_t i = 0; i < n; i++) {
		uint32_t v = ntohl(a[i].s_addr);
		if ((v & 0xffffff00u) == 0x7fffff00u)
			return 0;
		if (v == 0x7f000002u)
			two = 1;
	}
	return two;
}

int netv_dnsbl_name(const char *addr, const char *zone, char *out, size_t outlen)
{
	static const char hex[] = "0123456789abcdef";
	unsigned char a[16];
	int w;

	if (!addr || !zone || !*zone || !out)
		return -1;
	if (inet_pton(AF_INET, addr, a) == 1) {
		w = snprintf(out, outlen, "%u.%u.%u.%u.%s", a[3], a[2], a[1], a[0], zone);
		return w < 0 || (size_t)w >= outlen ? -1 : 0;
	}
	if (inet_pton(AF_INET6, addr, a) == 1) {
		size_t need = 64 + strlen(zone) + 1, k = 0;
		if (outlen < need)
			return -1;
		for (int i = 15; i >= 0; i--) {
			out[k++] = hex[a[i] & 0xf];
			out[k++] = '.';
			out[k++] = hex[a[i] >> 4];
			out[k++] = '.';
		}
		memcpy(out + k, zone, strlen(zone) + 1);
		return 0;
	}
	return -1;
}

/* --- addresses -------------------------------------------------------- */

enum netv_addr_kind netv_addr_kind(const char *text)
{
	unsigned char a[16];

	if (!text)
		return NETV_ADDR_INVALID;
	if (inet_pton(AF_INET, text, a) == 1) {
		if (a[0] == 100 && (a[1] & 0xc0) == 64)
			return NETV_ADDR_CGNAT;
		if (a[0] == 10 || (a[0] == 172 && (a[1] & 0xf0) == 16) ||
		    (a[0] == 192 && a[1] == 168))
			return NETV_ADDR_PRIVATE;
		if (a[0] == 0 || a[0] == 127 || (a[0] == 169 && a[1] == 254) || a[0] >= 224)
			return NETV_ADDR_SPECIAL;
		return NETV_ADDR_PUBLIC;
	}
	if (inet_pton(AF_INET6, text, a) == 1) {
		static const unsigned char zero[16];
		if ((a[0] & 0xfe) == 0xfc)
			return NETV_ADDR_PRIVATE;
		if (a[0] == 0xff || (a[0] == 0xfe && (a[1] & 0xc0) == 0x80) ||
		    memcmp(a, zero, 15) == 0)
			return NETV_ADDR_SPECIAL;
		/* v4-mapped: judge the v4 address inside */
		if (memcmp(a, zero, 10) == 0 && a[10] == 0xff && a[11] == 0xff) {
			char v4[INET_ADDRSTRLEN];
			inet_ntop(AF_INET, a + 12, v4, sizeof(v4));
			return netv_addr_kind(v4);
		}
		return NETV_ADDR_PUBLIC;
	}
	return NETV_ADDR_INVALID;
}

/* --- the verdict ------------------------------------------------------ */

struct why_buf {
	char *p;
	size_t len, used;
};

static void why_add(struct why_buf *w, const char *s)
{
	if (!w->p || !w->len || w->used >= w->len)
		return;
	int n = snprintf(w->p + w->used, w->len - w->used, "%s%s", w->used ? "; " : "", s);
	if (n < 0 || (size_t)n >= w->len - w->used)
		w->used = w->len;
	else
		w->used += (size_t)n;
}

enum netv_verdict netv_judge(const struct netv_evidence *e, char *why, size_t whylen)
{
	struct why_buf w = {why, whylen, 0};
	int relay = 0, unknown = 0;

	if (why && whylen)
		why[0] = '\0';
	/* what makes direct mail fail: any one of these is enough */
	if (e->zen == NETV_ZEN_PBL) {
		why_add(&w, "address on the Spamhaus PBL (dynamic space)");
		relay = 1;
	} else if (e->zen == NETV_ZEN_LISTED) {
		why_add(&w, "address listed in Spamhaus ZEN");
		relay = 1;
	}
	if (e->ptr == NETV_PTR_MISSING) {
		why_add(&w, "no reverse name (PTR)");
		relay = 1;
	} else if (e->ptr == NETV_PTR_GENERIC) {
		why_add(&w, "generic reverse name");
		relay = 1;
	} else if (e->ptr == NETV_PTR_UNCONFIRMED) {
		why_add(&w, "reverse name does not resolve back to the address");
		relay = 1;
	}
	if (e->port25 == NETV_P25_BLOCKED) {
		why_add(&w, "outbound port 25 blocked");
		relay = 1;
	} else if (e->port25 == NETV_P25_FILTERED) {
		why_add(&w, "outbound port 25 refused (filtered)");
		relay = 1;
	}
	if (e->cgnat == NETV_CGNAT_YES) {
		why_add(&w, "behind carrier-grade NAT");
		relay = 1;
	}
	if (e->zen6 == NETV_ZEN_PBL) {
		why_add(&w, "IPv6 address on the Spamhaus PBL (dynamic space)");
		relay = 1;
	} else if (e->zen6 == NETV_ZEN_LISTED) {
		why_add(&w, "IPv6 address listed in Spamhaus ZEN");
		relay = 1;
	}
	if (e->rejections > 0) {
		why_add(&w, "a receiver refused direct mail for the address's reputation");
		relay = 1;
	}
	if (relay)
		return NETV_RELAY;

	/* nothing bad: direct only when every piece is known */
	if (!e->addr[0]) {
		why_add(&w, e->reflect_disagree
				? "reflection methods disagree on the public address"
				: "public address not found");
		unknown = 1;
	}
	if (e->cgnat == NETV_CGNAT_UNCHECKED) {
		why_add(&w, "NAT situation not known");
		unknown = 1;
	}
	if (e->ptr == NETV_PTR_UNCHECKED) {
		why_add(&w, "reverse name not checked");
		unknown = 1;
	}
	if (e->zen == NETV_ZEN_REFUSED) {
		why_add(&w, "Spamhaus refused the resolver (127.255.255.x)");
		unknown = 1;
	} else if (e->zen == NETV_ZEN_BOGUS) {
		why_add(&w, "resolver gave a bogus list answer");
		unknown = 1;
	} else if (e->zen == NETV_ZEN_UNCHECKED) {
		why_add(&w, "list lookup failed");
		unknown = 1;
	} else if (!e->zen_selftest) {
		why_add(&w, "resolver failed the list self-test");
		unknown = 1;
	}
	if (e->port25 == NETV_P25_UNCHECKED) {
		why_add(&w, "outbound port 25 not checked");
		unknown = 1;
	} else if (e->port25 == NETV_P25_GARBAGE) {
		why_add(&w, "outbound port 25 answered without an SMTP banner");
		unknown = 1;
	}
	if (unknown)
		return NETV_UNKNOWN;
	why_add(&w, "public address, good reverse name, on no list, port 25 open");
	return NETV_DIRECT;
}

/* --- a remote MX's rejection ------------------------------------------ */

#define REPLY_SCAN_MAX 4096

const char *netv_reply_str(enum netv_reply r)
{
	switch (r) {
	case NETV_REPLY_REPUTATION:
		return "reputation";
	case NETV_REPLY_AUTH:
		return "authentication";
	case NETV_REPLY_OTHER:
		break;
	}
	return "other";
}

/* Texts receivers use to refuse an address for what it is, not for what
 * a message says (lowercase; matched case-insensitively). */
static const char *const reputation_texts[] = {
    "not authorized to send email directly", /* Gmail, dynamic space */
    "low reputation of the sending ip",	     /* Gmail */
    "reputation of the sending ip",
    "unusual rate of unsolicited mail originating from your ip",
    "does not have a ptr record", /* Gmail 5.7.25 */
    "s3150",			  /* Microsoft: "part of their network is on our block list" */
    "s3140",
    "part of their network is on our block list",
    "banned sending ip",
    "blocked using",
    "spamhaus",
    "listed in",
    "listed at",
    " pbl",
    "dynamic ip",
    "dynamic address",
    "dynamic-ip",
    "dynamically assigned",
    "residential",
    "dialup",
    "dial-up",
    "generic reverse",
    "[tss0", /* Yahoo: temporarily deferred, sending IP */
    "[bl2",  /* Yahoo: BL21/BL23 Spamhaus listings */
    "not accepted from ip",
    "use the smtp relay at your service provider",
    "use your provider's smtp",
    "use your isp's",
};

static const char *const auth_texts[] = {
    "5.7.26", "5.7.27", "5.7.30", "5.7.23", "5.7.20",	       "5.7.21",
    "5.7.22", "spf",	"dkim",	  "dmarc",  "unauthenticated",
};

/* Microsoft's 5.7.606 to 5.7.649: "Access denied, banned sending IP". */
static int ms_banned_range(const char *lower)
{
	for (const char *p = strstr(lower, "5.7.6"); p; p = strstr(p + 1, "5.7.6")) {
		if (p[5] >= '0' && p[5] <= '4' && p[6] >= '0' && p[6] <= '9' &&
		    !(p[7] >= '0' && p[7] <= '9')) {
			int n = (p[5] - '0') * 10 + (p[6] - '0');
			if (n >= 6 && n <= 49)
				return 1;
		}
	}
	return 0;
}

enum netv_reply netv_reply_kind(const char *reply)
{
	char lower[REPLY_SCAN_MAX + 1];
	size_t n = 0;

	if (!reply)
		return NETV_REPLY_OTHER;
	/* one line of text: a continuation's "550-5.7.1 " prefix would cut
	 * Gmail's sentence in two */
	for (size_t i = 0; reply[i] && i < REPLY_SCAN_MAX && n < REPLY_SCAN_MAX;) {
		if (reply[i] == '\r' || reply[i] == '\n') {
			while (reply[i] == '\r' || reply[i] == '\n')
				i++;
			if (isdigit((unsigned char)reply[i]) &&
			    isdigit((unsigned char)reply[i + 1]) &&
			    isdigit((unsigned char)reply[i + 2]) &&
			    (reply[i + 3] == '-' || reply[i + 3] == ' ')) {
				size_t k = i + 4;
				/* an enhanced code too: d.ddd.ddd and a space */
				while (isdigit((unsigned char)reply[k]) || reply[k] == '.')
					k++;
				if (k > i + 4 && reply[k] == ' ')
					i = k + 1;
				else
					i += 4;
			}
			if (n && lower[n - 1] != ' ')
				lower[n++] = ' ';
			continue;
		}
		lower[n++] = (char)tolower((unsigned char)reply[i++]);
	}
	lower[n] = '\0';
	for (size_t i = 0; i < sizeof(reputation_texts) / sizeof(reputation_texts[0]); i++)
		if (strstr(lower, reputation_texts[i]))
			return NETV_REPLY_REPUTATION;
	if (ms_banned_range(lower))
		return NETV_REPLY_REPUTATION;
	for (size_t i = 0; i < sizeof(auth_texts) / sizeof(auth_texts[0]); i++)
		if (strstr(lower, auth_texts[i]))
			return NETV_REPLY_AUTH;
	return NETV_REPLY_OTHER;
}
