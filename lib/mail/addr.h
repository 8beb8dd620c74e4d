#ifndef LOFT_ADDR_H
#define LOFT_ADDR_H
/*
 * The one RFC 5322 address-list parser (section 3.4, with the obsolete
 * forms of 4.4): From:, To:, Cc:, Sender:, Reply-To: ... values, folded or
 * not.  Display names, quoted strings, comments (nested), angle addresses,
 * groups, the obsolete route ("<@a,@b:user@c>"), obsolete local parts and
 * domains with CFWS between their words, empty list elements (",,").
 *
 * It never fails on odd input: every mailbox it can make out is handed to
 * the caller, marked bad when its syntax was off, so IMAP can build an
 * ENVELOPE of whatever a message holds, while SMTP refuses a From: it
 * cannot read (any bad mark, or the return value < 0).  RFC 2047 encoded
 * words in a display name are left encoded; the caller decodes them if it
 * shows the name (IMAP ENVELOPE must not, SEARCH does).
 *
 * Used by: lib/mail/mime_imap.c (ENVELOPE, SEARCH address text),
 * smtpd/parser.c (the sender check of submitted From:/Sender:),
 * lib/mail/dkim.c (the signing domain).
 */
#include <stddef.h>

#define ADDR_MAX_INPUT (1024u * 1024) /* bytes of one header value */
#define ADDR_MAX_ITEMS 10000	      /* mailboxes and groups in one list */
#define ADDR_MAX_DEPTH 32	      /* nesting of comments */

enum addr_kind {
	ADDR_MAILBOX,	/* a mailbox (name-addr or addr-spec) */
	ADDR_GROUP,	/* "name:" starts a group; name is set */
	ADDR_GROUP_END, /* ";" (or the end of the value) ends it */
};

/* One item, handed to the callback.  The strings point into the parser's
 * scratch memory: valid during the callback only, not NUL-terminated
 * (use the lengths).  A NULL pointer means "absent"; an empty string
 * (length 0, non-NULL) means present and empty. */
struct addr_item {
	enum addr_kind kind;
	/* display name (or group name): its words with quoted strings
	 * unquoted and each run of CFWS made one space; RFC 2047 words left
	 * as they are.  NULL when there is none. */
	const char *name;
	size_t name_len;
	/* the text of the last comment inside this mailbox (outer
	 * parentheses off), which some mailers put where the name belongs:
	 * "user@host (Real Name)".  NULL when none. */
	const char *comment;
	size_t comment_len;
	/* obsolete source route without its ':', "@a,@b"; NULL when none */
	const char *route;
	size_t route_len;
	/* local part: quoted strings unquoted, CFWS dropped.  When the
	 * mailbox has no '@' at all, the whole text of it (display form,
	 * with its spaces), and bad is set.  Never NULL for a mailbox. */
	const char *local;
	size_t local_len;
	/* domain, a domain literal kept with its brackets; NULL when there
	 * is no '@' or nothing after it (bad is set then) */
	const char *domain;
	size_t domain_len;
	/* 1 when this mailbox is not RFC 5322 (obsolete forms included):
	 * no '@', several, an empty local part or domain, an unclosed
	 * quote, comment, literal or '<', text after '>', control
	 * characters in the address, comments nested deeper than
	 * ADDR_MAX_DEPTH.  For a group item: a nested group, a stray ';'. */
	int bad;
};

/* Returns 0 to go on, non-zero to stop the parse (addr_list_parse then
 * returns ADDR_STOPPED). */
typedef int (*addr_fn)(void *arg, const struct addr_item *it);

enum {
	ADDR_MALFORMED = -1, /* parsed, but some item or the list was off */
	ADDR_LIMIT = -2,     /* ADDR_MAX_INPUT or ADDR_MAX_ITEMS passed: stopped */
	ADDR_STOPPED = -3,   /* the callback asked to stop */
	ADDR_NOMEM = -4,
};

/* Parses the address-list in value[0..len) and calls fn (may be NULL) for
 * each item in order.  Returns the number of mailboxes when all of it was
 * well-formed, else one of the negative codes above (ADDR_MALFORMED after
 * every item was handed over; the others as soon as they happen). */
int addr_list_parse(const char *value, size_t len, addr_fn fn, void *arg);

#endif
