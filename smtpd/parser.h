#ifndef LOFT_SMTP_PARSER_H
#define LOFT_SMTP_PARSER_H
/*
 * SMTP command-line and address parsing for loft-smtpd: pure functions on
 * bytes, no I/O, no allocation, so they can be unit-tested byte by byte
 * and fuzzed.  Everything a peer sends passes through here before the
 * session acts on it.
 *
 * Addresses are parsed strictly as RFC 5321 Mailbox (Local-part "@"
 * Domain), with RFC 6531 UTF-8 allowed only when the caller says SMTPUTF8
 * is on.  Anything that could route mail somewhere other than the plain
 * domain is refused here, whatever a permissive server might accept: source
 * routes, '%' and '!' in the local part, quoted local parts that are not a
 * plain dot-string once unquoted, address literals (reported separately so
 * the caller can refuse them with the right code), trailing dots, empty
 * labels.
 */
#include <stddef.h>
#include <stdint.h>

#define SMTP_LOCAL_MAX	64  /* RFC 5321 4.5.3.1.1 */
#define SMTP_DOMAIN_MAX 255 /* RFC 5321 4.5.3.1.2 */
#define SMTP_PATH_MAX	256 /* RFC 5321 4.5.3.1.3, brackets included */
#define SMTP_ARG_MAX	512

enum smtp_verb {
	SMTP_CMD_UNKNOWN = 0,
	SMTP_CMD_HELO,
	SMTP_CMD_EHLO,
	SMTP_CMD_MAIL,
	SMTP_CMD_RCPT,
	SMTP_CMD_DATA,
	SMTP_CMD_BDAT,
	SMTP_CMD_RSET,
	SMTP_CMD_NOOP,
	SMTP_CMD_QUIT,
	SMTP_CMD_VRFY,
	SMTP_CMD_EXPN,
	SMTP_CMD_HELP,
	SMTP_CMD_STARTTLS,
	SMTP_CMD_AUTH,
	SMTP_CMD_COUNT
};

struct smtp_cmd {
	enum smtp_verb verb;
	const char *arg; /* points into the line, after one space; "" if none */
	size_t arglen;
};

/* Splits a command line (terminator removed) into verb and argument.
 * Returns 0, or -1 when the line holds a NUL or control byte other than
 * TAB, or the verb is not followed by end of line or a single space (then
 * cmd->verb is still set when the verb was recognised).  An unknown verb
 * returns 0 with SMTP_CMD_UNKNOWN. */
int smtp_cmd_parse(const char *line, size_t len, struct smtp_cmd *cmd);
/* The verb's name ("MAIL"), for logs. */
const char *smtp_verb_name(enum smtp_verb v);

enum smtp_addr_err {
	SMTP_ADDR_OK = 0,
	SMTP_ADDR_SYNTAX = -1,	 /* not a path at all */
	SMTP_ADDR_ROUTE = -2,	 /* source route "@a,@b:u@c" */
	SMTP_ADDR_LITERAL = -3,	 /* domain is "[...]" */
	SMTP_ADDR_ROUTING = -4,	 /* '%', '!' or '@' hidden in the local part */
	SMTP_ADDR_TOOLONG = -5,	 /* local part, domain or path too long */
	SMTP_ADDR_UTF8 = -6,	 /* 8-bit without SMTPUTF8, or invalid UTF-8 */
	SMTP_ADDR_BADPARAM = -7, /* unknown or malformed ESMTP parameter */
};

#define SMTP_BODY_7BIT	     0
#define SMTP_BODY_8BITMIME   1
#define SMTP_BODY_BINARYMIME 2

struct smtp_path {
	int null;		      /* "<>" */
	int postmaster;		      /* "<postmaster>" without a domain */
	char addr[SMTP_PATH_MAX + 1]; /* "local@domain", local part unquoted */
	char local[SMTP_LOCAL_MAX + 1];
	char domain[SMTP_DOMAIN_MAX + 1];
	int utf8; /* address holds 8-bit bytes */
	/* ESMTP parameters */
	int has_size;
	uint64_t size;
	int body; /* SMTP_BODY_* */
	int smtputf8;
};

/* Parses the argument of MAIL ("FROM:<path> params") when is_mail, else
 * of RCPT ("TO:<path> params").  "FROM:" / "TO:" are case-insensitive; one
 * optional space after the colon is tolerated (common client habit).  utf8
 * allows UTF-8 in the address (the session passes 1 when the MAIL had
 * SMTPUTF8 -- for MAIL itself, parameters are looked at first).  Returns
 * SMTP_ADDR_OK or a negative smtp_addr_err; out is filled as far as
 * parsed. */
int smtp_path_parse(const char *arg, size_t len, int is_mail, int utf8_ok, struct smtp_path *out);

/* Checks a domain (no trailing dot, LDH labels of 1..63, or UTF-8 labels
 * when utf8_ok).  Returns 0 or an smtp_addr_err. */
int smtp_domain_check(const char *d, size_t len, int utf8_ok);

/*
 * Extracts the addresses of an RFC 5322 address-list header value (From:,
 * unfolded or not) with lib/mail/addr.c, strictly: any flaw in any
 * mailbox, an obsolete route or a domain literal makes the whole value
 * unreadable.  Calls cb for each "local@domain" found (local part
 * unquoted) until cb returns non-zero.  Returns the number of addresses,
 * or -1 when the value does not parse (the caller should then refuse the
 * message: a From: it cannot read cannot be checked).
 */
typedef int (*smtp_addr_cb)(void *arg, const char *addr, size_t len);
int smtp_header_addrs(const char *value, size_t len, smtp_addr_cb cb, void *arg);

#endif
