/*
 * SMTP command-line and address parsing.  Pure functions: no I/O, no
 * allocation, every loop bounded by the input length, every output bounded
 * by its array.  See parser.h for the policy on addresses.
 */
#include "parser.h"
#include "addr.h"
#include "utf8.h"

#include <string.h>

#include "strnum.h"

static const struct {
	const char *name;
	enum smtp_verb verb;
} verbs[] = {
    {"HELO", SMTP_CMD_HELO}, {"EHLO", SMTP_CMD_EHLO},	      {"MAIL", SMTP_CMD_MAIL},
    {"RCPT", SMTP_CMD_RCPT}, {"DATA", SMTP_CMD_DATA},	      {"BDAT", SMTP_CMD_BDAT},
    {"RSET", SMTP_CMD_RSET}, {"NOOP", SMTP_CMD_NOOP},	      {"QUIT", SMTP_CMD_QUIT},
    {"VRFY", SMTP_CMD_VRFY}, {"EXPN", SMTP_CMD_EXPN},	      {"HELP", SMTP_CMD_HELP},
    {"AUTH", SMTP_CMD_AUTH}, {"STARTTLS", SMTP_CMD_STARTTLS},
};

static int lower(int c)
{
	return c >= 'A' && c <= 'Z' ? c + 32 : c;
}

static int ci_eq(const char *a, size_t alen, const char *b)
{
	size_t blen = strlen(b);

	if (alen != blen)
		return 0;
	for (size_t i = 0; i < alen; i++)
		if (lower((unsigned char)a[i]) != lower((unsigned char)b[i]))
			return 0;
	return 1;
}

static int ci_prefix(const char *a, size_t alen, const char *p)
{
	size_t plen = strlen(p);

	return alen >= plen && ci_eq(a, plen, p);
}

const char *smtp_verb_name(enum smtp_verb v)
{
	for (size_t i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++)
		if (verbs[i].verb == v)
			return verbs[i].name;
	return "UNKNOWN";
}

int smtp_cmd_parse(const char *line, size_t len, struct smtp_cmd *cmd)
{
	size_t vlen = 0;

	cmd->verb = SMTP_CMD_UNKNOWN;
	cmd->arg = "";
	cmd->arglen = 0;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)line[i];
		if ((c < 0x20 && c != '\t') || c == 0x7f)
			return -1;
	}
	while (vlen < len && line[vlen] != ' ')
		vlen++;
	for (size_t i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++)
		if (ci_eq(line, vlen, verbs[i].name))
			cmd->verb = verbs[i].verb;
	if (vlen < len) {
		cmd->arg = line + vlen + 1;
		cmd->arglen = len - vlen - 1;
		/* "MAIL  FROM" or a trailing lone space is not a well-formed line */
		if (cmd->arglen == 0 || cmd->arg[0] == ' ')
			return -1;
	}
	return 0;
}

/* --- domains and local parts ---------------------------------------------- */

static int is_alnum(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

int smtp_domain_check(const char *d, size_t len, int utf8_ok)
{
	const unsigned char *p = (const unsigned char *)d;
	size_t label = 0;
	int eightbit = 0;

	if (len == 0)
		return SMTP_ADDR_SYNTAX;
	if (len > SMTP_DOMAIN_MAX)
		return SMTP_ADDR_TOOLONG;
	for (size_t i = 0; i < len;) {
		uint32_t cp;
		size_t k = utf8_decode(p + i, len - i, &cp);

		if (k == 0)
			return SMTP_ADDR_UTF8;
		if (k > 1) {
			eightbit = 1;
			/* ideographic / fullwidth / halfwidth full stops act as
			 * dots under IDNA: a way to smuggle a different domain */
			if (cp == 0x3002 || cp == 0xff0e || cp == 0xff61 || cp < 0xa0)
				return SMTP_ADDR_UTF8;
			label += k;
			i += k;
			continue;
		}
		if (p[i] == '.') {
			if (label == 0 || p[i - 1] == '-')
				return SMTP_ADDR_SYNTAX; /* empty label, trailing dot */
			label = 0;
		} else if (is_alnum(p[i]) || p[i] == '-') {
			if (label == 0 && p[i] == '-')
				return SMTP_ADDR_SYNTAX;
			label++;
		} else {
			return SMTP_ADDR_SYNTAX;
		}
		if (label > 63)
			return SMTP_ADDR_TOOLONG;
		i++;
	}
	if (label == 0 || p[len - 1] == '-')
		return SMTP_ADDR_SYNTAX;
	if (eightbit && !utf8_ok)
		return SMTP_ADDR_UTF8;
	return SMTP_ADDR_OK;
}

/* RFC 5322 atext, minus the characters that mean routing to some MTA. */
static int is_atext(int c)
{
	return is_alnum(c) || (c && strchr("#$&'*+-/=?^_`{|}~", c) != NULL);
}

/* Checks an unquoted local part as a dot-string.  Returns 0 or an
 * smtp_addr_err. */
static int local_check(const char *s, size_t len, int utf8_ok)
{
	const unsigned char *p = (const unsigned char *)s;
	int eightbit = 0;

	if (len == 0)
		return SMTP_ADDR_SYNTAX;
	if (len > SMTP_LOCAL_MAX)
		return SMTP_ADDR_TOOLONG;
	for (size_t i = 0; i < len; i++) {
		if (p[i] == '%' || p[i] == '!' || p[i] == '@')
			return SMTP_ADDR_ROUTING;
	}
	if (p[0] == '.' || p[len - 1] == '.')
		return SMTP_ADDR_SYNTAX;
	for (size_t i = 0; i < len;) {
		uint32_t cp;
		size_t k = utf8_decode(p + i, len - i, &cp);
		if (k == 0)
			return SMTP_ADDR_UTF8;
		if (k > 1) {
			if (cp < 0xa0)
				return SMTP_ADDR_UTF8; /* C1 controls */
			eightbit = 1;
		} else if (p[i] == '.') {
			if (p[i + 1] == '.')
				return SMTP_ADDR_SYNTAX;
		} else if (!is_atext(p[i])) {
			return SMTP_ADDR_SYNTAX;
		}
		i += k;
	}
	if (eightbit && !utf8_ok)
		return SMTP_ADDR_UTF8;
	return SMTP_ADDR_OK;
}

/* --- paths and parameters ------------------------------------------------- */

/* esmtp-keyword = (ALPHA / DIGIT) *(ALPHA / DIGIT / "-"); value: 33-60,62-126
 * (and UTF-8 under SMTPUTF8, which we do not need for the ones we take). */
static int param_parse(const char *p, size_t len, int is_mail, struct smtp_path *out)
{
	const char *eq = memchr(p, '=', len);
	size_t klen = eq ? (size_t)(eq - p) : len;
	const char *v = eq ? eq + 1 : NULL;
	size_t vlen = eq ? len - klen - 1 : 0;

	if (klen == 0 || !is_alnum((unsigned char)p[0]))
		return SMTP_ADDR_BADPARAM;
	for (size_t i = 0; i < klen; i++)
		if (!is_alnum((unsigned char)p[i]) && p[i] != '-')
			return SMTP_ADDR_BADPARAM;
	for (size_t i = 0; i < vlen; i++)
		if ((unsigned char)v[i] < 33 || (unsigned char)v[i] > 126 || v[i] == '=')
			return SMTP_ADDR_BADPARAM;
	if (!is_mail)
		return SMTP_ADDR_BADPARAM; /* we advertise no RCPT parameters */
	if (ci_eq(p, klen, "SIZE")) {
		if (!v || out->has_size || strnum_u64n(v, vlen, UINT64_MAX, &out->size) < 0)
			return SMTP_ADDR_BADPARAM;
		out->has_size = 1;
	} else if (ci_eq(p, klen, "BODY")) {
		if (!v)
			return SMTP_ADDR_BADPARAM;
		if (ci_eq(v, vlen, "7BIT"))
			out->body = SMTP_BODY_7BIT;
		else if (ci_eq(v, vlen, "8BITMIME"))
			out->body = SMTP_BODY_8BITMIME;
		else if (ci_eq(v, vlen, "BINARYMIME"))
			out->body = SMTP_BODY_BINARYMIME;
		else
			return SMTP_ADDR_BADPARAM;
	} else if (ci_eq(p, klen, "SMTPUTF8")) {
		if (v)
			return SMTP_ADDR_BADPARAM;
		out->smtputf8 = 1;
	} else if (ci_eq(p, klen, "AUTH")) {
		/* RFC 4954 5: accepted and ignored (we trust only our own AUTH) */
		if (!v || vlen == 0)
			return SMTP_ADDR_BADPARAM;
	} else {
		return SMTP_ADDR_BADPARAM;
	}
	return SMTP_ADDR_OK;
}

/* Copies the unquoted local part s[0..len) (a quoted-string when it starts
 * with '"') into out.  Returns the length or an smtp_addr_err. */
static long local_unquote(const char *s, size_t len, char *out, size_t outlen)
{
	size_t o = 0;

	if (len == 0)
		return SMTP_ADDR_SYNTAX;
	if (s[0] != '"') {
		if (len >= outlen)
			return SMTP_ADDR_TOOLONG;
		memcpy(out, s, len);
		out[len] = '\0';
		return (long)len;
	}
	if (len < 2 || s[len - 1] != '"')
		return SMTP_ADDR_SYNTAX;
	for (size_t i = 1; i + 1 < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '\\') {
			if (i + 2 >= len)
				return SMTP_ADDR_SYNTAX;
			c = (unsigned char)s[++i];
			if (c < 32 || c > 126)
				return SMTP_ADDR_SYNTAX;
		} else if (c == '"' || c < 32 || c == 127) {
			return SMTP_ADDR_SYNTAX;
		}
		if (o + 1 >= outlen)
			return SMTP_ADDR_TOOLONG;
		out[o++] = (char)c;
	}
	out[o] = '\0';
	return (long)o;
}

int smtp_path_parse(const char *arg, size_t len, int is_mail, int utf8_ok, struct smtp_path *out)
{
	const char *p, *end, *close = NULL, *at = NULL;
	size_t i, inner_len;
	int inq = 0, r;
	long llen;

	memset(out, 0, sizeof(*out));
	if (is_mail ? !ci_prefix(arg, len, "FROM:") : !ci_prefix(arg, len, "TO:"))
		return SMTP_ADDR_SYNTAX;
	p = arg + (is_mail ? 5 : 3);
	end = arg + len;
	if (p < end && *p == ' ')
		p++;
	if (p >= end || *p != '<')
		return SMTP_ADDR_SYNTAX;
	p++;
	/* find the closing '>' outside a quoted local part; remember the last
	 * '@' outside quotes, which separates local part and domain */
	for (const char *q = p; q < end; q++) {
		if (inq) {
			if (*q == '\\' && q + 1 < end)
				q++;
			else if (*q == '"')
				inq = 0;
		} else if (*q == '"') {
			inq = 1;
		} else if (*q == '@') {
			at = q;
		} else if (*q == '>') {
			close = q;
			break;
		} else if (*q == '<' || *q == ' ') {
			return SMTP_ADDR_SYNTAX;
		}
	}
	if (!close)
		return SMTP_ADDR_SYNTAX;
	inner_len = (size_t)(close - p);
	if (inner_len + 2 > SMTP_PATH_MAX)
		return SMTP_ADDR_TOOLONG;

	/* parameters: SP-separated after '>' */
	for (const char *q = close + 1; q < end;) {
		const char *s;
		if (*q != ' ')
			return SMTP_ADDR_SYNTAX;
		q++;
		s = q;
		while (q < end && *q != ' ')
			q++;
		if (q == s)
			return SMTP_ADDR_SYNTAX;
		if ((r = param_parse(s, (size_t)(q - s), is_mail, out)) != 0)
			return r;
	}
	if (is_mail && out->smtputf8)
		utf8_ok = 1;

	if (inner_len == 0) {
		if (!is_mail)
			return SMTP_ADDR_SYNTAX;
		out->null = 1;
		return SMTP_ADDR_OK;
	}
	if (p[0] == '@')
		return SMTP_ADDR_ROUTE;
	if (!at) {
		/* RFC 5321 4.1.1.3: "<Postmaster>" without a domain, RCPT only */
		if (!is_mail && ci_eq(p, inner_len, "postmaster")) {
			out->postmaster = 1;
			memcpy(out->local, "postmaster", 11);
			memcpy(out->addr, "postmaster", 11);
			return SMTP_ADDR_OK;
		}
		return SMTP_ADDR_SYNTAX;
	}
	if (memchr(p, ':', (size_t)(at - p)) && p[0] != '"')
		return SMTP_ADDR_ROUTE;
	llen = local_unquote(p, (size_t)(at - p), out->local, sizeof(out->local));
	if (llen < 0)
		return (int)llen;
	if ((r = local_check(out->local, (size_t)llen, utf8_ok)) != 0)
		return r;
	i = (size_t)(close - at - 1);
	if (i > 0 && at[1] == '[') {
		if (at[i] != ']')
			return SMTP_ADDR_SYNTAX;
		return SMTP_ADDR_LITERAL;
	}
	if ((r = smtp_domain_check(at + 1, i, utf8_ok)) != 0)
		return r;
	memcpy(out->domain, at + 1, i);
	out->domain[i] = '\0';
	if ((size_t)llen + 1 + i > SMTP_PATH_MAX)
		return SMTP_ADDR_TOOLONG;
	memcpy(out->addr, out->local, (size_t)llen);
	out->addr[llen] = '@';
	memcpy(out->addr + llen + 1, out->domain, i + 1);
	for (i = 0; out->addr[i]; i++)
		if ((unsigned char)out->addr[i] >= 0x80)
			out->utf8 = 1;
	return SMTP_ADDR_OK;
}

/* --- RFC 5322 address lists (From:) --------------------------------------- */

#define HDR_ADDR_MAX 320

struct hdr_state {
	smtp_addr_cb cb;
	void *arg;
	int stop; /* the callback has had enough; count on */
	int bad;
};

/* A mailbox from lib/mail/addr.  The sender check wants no doubt: a
 * mailbox with any flaw, the obsolete route, or a domain literal makes
 * the whole value unreadable (smtp_header_addrs returns -1). */
static int hdr_item(void *arg, const struct addr_item *it)
{
	struct hdr_state *st = arg;
	char a[HDR_ADDR_MAX];

	if (it->kind != ADDR_MAILBOX)
		return it->bad ? (st->bad = 1) : 0;
	if (it->bad || it->route || !it->domain || it->domain[0] == '[' ||
	    it->local_len + 1 + it->domain_len > sizeof(a) ||
	    memchr(it->domain, '@', it->domain_len)) {
		st->bad = 1;
		return 1;
	}
	memcpy(a, it->local, it->local_len);
	a[it->local_len] = '@';
	memcpy(a + it->local_len + 1, it->domain, it->domain_len);
	if (st->cb && !st->stop && st->cb(st->arg, a, it->local_len + 1 + it->domain_len) != 0)
		st->stop = 1;
	return 0;
}

int smtp_header_addrs(const char *v, size_t len, smtp_addr_cb cb, void *arg)
{
	struct hdr_state st = {cb, arg, 0, 0};
	int n = addr_list_parse(v, len, hdr_item, &st);

	return st.bad || n < 0 ? -1 : n;
}
