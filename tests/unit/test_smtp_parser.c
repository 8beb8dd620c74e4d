/* smtpd/parser.c: command lines, paths, From: address lists, SASL. */
#include <stdlib.h>
#include <string.h>

#include "../../smtpd/parser.h"
#include "tap.h"

static int path(const char *arg, int is_mail, int utf8, struct smtp_path *p)
{
	return smtp_path_parse(arg, strlen(arg), is_mail, utf8, p);
}

static int rcpt(const char *arg)
{
	struct smtp_path p;
	return path(arg, 0, 0, &p);
}

struct collect {
	char all[1024];
	size_t len;
};

static int collect_cb(void *arg, const char *addr, size_t len)
{
	struct collect *c = arg;
	if (c->len + len + 2 < sizeof(c->all)) {
		memcpy(c->all + c->len, addr, len);
		c->len += len;
		c->all[c->len++] = ';';
		c->all[c->len] = '\0';
	}
	return 0;
}

static int hdr(const char *v, const char *expect)
{
	struct collect c = {"", 0};
	int n = smtp_header_addrs(v, strlen(v), collect_cb, &c);
	if (expect == NULL)
		return n < 0;
	return n >= 0 && strcmp(c.all, expect) == 0;
}

int main(void)
{
	struct smtp_cmd cmd;
	struct smtp_path p;
	char what[300];

	/* --- command lines --- */
	ok(smtp_cmd_parse("EHLO x", 6, &cmd) == 0 && cmd.verb == SMTP_CMD_EHLO && cmd.arglen == 1 &&
	       cmd.arg[0] == 'x',
	   "EHLO x");
	ok(smtp_cmd_parse("ehlo x", 6, &cmd) == 0 && cmd.verb == SMTP_CMD_EHLO, "verbs any case");
	ok(smtp_cmd_parse("QUIT", 4, &cmd) == 0 && cmd.verb == SMTP_CMD_QUIT && cmd.arglen == 0,
	   "QUIT no arg");
	ok(smtp_cmd_parse("StartTLS", 8, &cmd) == 0 && cmd.verb == SMTP_CMD_STARTTLS, "STARTTLS");
	ok(smtp_cmd_parse("QUITX", 5, &cmd) == 0 && cmd.verb == SMTP_CMD_UNKNOWN, "QUITX unknown");
	ok(smtp_cmd_parse("", 0, &cmd) == 0 && cmd.verb == SMTP_CMD_UNKNOWN, "empty unknown");
	ok(smtp_cmd_parse("NOOP\0x", 6, &cmd) < 0, "NUL refused");
	ok(smtp_cmd_parse("NOOP\rx", 6, &cmd) < 0, "CR refused");
	ok(smtp_cmd_parse("MAIL  FROM:<a@b>", 16, &cmd) < 0, "double space refused");
	ok(smtp_cmd_parse("NOOP ", 5, &cmd) < 0, "trailing space refused");
	is_str(smtp_verb_name(SMTP_CMD_BDAT), "BDAT", "verb name");

	/* --- paths: good --- */
	ok(path("FROM:<a@example.org>", 1, 0, &p) == 0 && strcmp(p.addr, "a@example.org") == 0,
	   "MAIL FROM plain");
	ok(path("from: <a@example.org>", 1, 0, &p) == 0, "one space after colon tolerated");
	ok(path("FROM:<>", 1, 0, &p) == 0 && p.null, "null sender");
	ok(path("TO:<>", 0, 0, &p) < 0, "null recipient refused");
	ok(path("TO:<Postmaster>", 0, 0, &p) == 0 && p.postmaster, "bare postmaster");
	ok(path("FROM:<a@b.c> SIZE=1000 BODY=8BITMIME", 1, 0, &p) == 0 && p.has_size &&
	       p.size == 1000 && p.body == SMTP_BODY_8BITMIME,
	   "SIZE and BODY");
	ok(path("FROM:<a@b.c> SIZE=99999999999999999999", 1, 0, &p) == SMTP_ADDR_BADPARAM,
	   "SIZE overflow refused");
	ok(path("FROM:<a@b.c> SIZE=-1", 1, 0, &p) == SMTP_ADDR_BADPARAM, "SIZE negative refused");
	ok(path("FROM:<a@b.c> SIZE=", 1, 0, &p) == SMTP_ADDR_BADPARAM, "SIZE empty refused");
	ok(path("FROM:<a@b.c> SIZE=1 SIZE=2", 1, 0, &p) == SMTP_ADDR_BADPARAM, "SIZE twice");
	ok(path("FROM:<a@b.c> FOO=bar", 1, 0, &p) == SMTP_ADDR_BADPARAM, "unknown param");
	ok(path("TO:<a@b.c> NOTIFY=NEVER", 0, 0, &p) == SMTP_ADDR_BADPARAM, "RCPT params refused");
	ok(path("FROM:<a@b.c> AUTH=<>", 1, 0, &p) == 0, "AUTH=<> accepted");
	ok(path("TO:<\"john.doe\"@example.org>", 0, 0, &p) == 0 &&
	       strcmp(p.addr, "john.doe@example.org") == 0,
	   "quoted dot-string unquoted");
	ok(path("TO:<a.b+tag@sub.example.org>", 0, 0, &p) == 0, "plus tag, subdomain");
	ok(path("TO:<A@EXAMPLE.ORG>", 0, 0, &p) == 0 && strcmp(p.domain, "EXAMPLE.ORG") == 0,
	   "case kept (store normalises)");

	/* --- UTF-8 --- */
	ok(path("TO:<j\xc3\xb6rg@example.org>", 0, 0, &p) == SMTP_ADDR_UTF8,
	   "8-bit without SMTPUTF8");
	ok(path("TO:<j\xc3\xb6rg@example.org>", 0, 1, &p) == 0 && p.utf8, "8-bit with SMTPUTF8");
	ok(path("FROM:<j\xc3\xb6rg@b\xc3\xbc.example> SMTPUTF8", 1, 0, &p) == 0 && p.smtputf8,
	   "MAIL SMTPUTF8 enables UTF-8 for its own path");
	ok(path("TO:<j\xc3@example.org>", 0, 1, &p) == SMTP_ADDR_UTF8, "truncated UTF-8");
	ok(path("TO:<j\xc0\xafx@example.org>", 0, 1, &p) == SMTP_ADDR_UTF8, "overlong UTF-8");
	ok(path("TO:<a@example\xe3\x80\x82org>", 0, 1, &p) == SMTP_ADDR_UTF8, "ideographic dot");
	ok(path("TO:<a@example\xef\xbc\x8eorg>", 0, 1, &p) == SMTP_ADDR_UTF8, "fullwidth dot");
	ok(path("TO:<a\xc2\x85@example.org>", 0, 1, &p) == SMTP_ADDR_UTF8, "C1 control");

	/* --- relay tricks and bad syntax: every one refused --- */
	static const struct {
		const char *arg;
		int want;
	} bad[] = {
	    {"TO:<user%remote.example@example.org>", SMTP_ADDR_ROUTING},
	    {"TO:<remote.example!user@example.org>", SMTP_ADDR_ROUTING},
	    {"TO:<\"user@remote.example\"@example.org>", SMTP_ADDR_ROUTING},
	    {"TO:<\"user%remote\"@example.org>", SMTP_ADDR_ROUTING},
	    {"TO:<@example.org:user@remote.example>", SMTP_ADDR_ROUTE},
	    {"TO:<@a,@b:user@remote.example>", SMTP_ADDR_ROUTE},
	    {"TO:<user@[127.0.0.1]>", SMTP_ADDR_LITERAL},
	    {"TO:<user@[IPv6:::1]>", SMTP_ADDR_LITERAL},
	    {"TO:<user@example.org.>", SMTP_ADDR_SYNTAX},
	    {"TO:<user@example..org>", SMTP_ADDR_SYNTAX},
	    {"TO:<user@.example.org>", SMTP_ADDR_SYNTAX},
	    {"TO:<user@-example.org>", SMTP_ADDR_SYNTAX},
	    {"TO:<user@example-.org>", SMTP_ADDR_SYNTAX},
	    {"TO:<user@exa_mple.org>", SMTP_ADDR_SYNTAX},
	    {"TO:<user@>", SMTP_ADDR_SYNTAX},
	    {"TO:<@>", SMTP_ADDR_ROUTE},
	    {"TO:<user>", SMTP_ADDR_SYNTAX},
	    {"TO:<.user@example.org>", SMTP_ADDR_SYNTAX},
	    {"TO:<user.@example.org>", SMTP_ADDR_SYNTAX},
	    {"TO:<us..er@example.org>", SMTP_ADDR_SYNTAX},
	    {"TO:<us(er@example.org>", SMTP_ADDR_SYNTAX},
	    {"TO:<\"john doe\"@example.org>", SMTP_ADDR_SYNTAX},
	    {"TO:<\"unterminated@example.org>", SMTP_ADDR_SYNTAX},
	    {"TO:user@example.org", SMTP_ADDR_SYNTAX},
	    {"TO:<user@example.org", SMTP_ADDR_SYNTAX},
	    {"TO:<<user@example.org>>", SMTP_ADDR_SYNTAX},
	    {"TO:<user@example.org>junk", SMTP_ADDR_SYNTAX},
	    {"TO:<user@example.org>  ", SMTP_ADDR_SYNTAX},
	    {"TO: <user@example.org> ", SMTP_ADDR_SYNTAX},
	    {"TO:  <user@example.org>", SMTP_ADDR_SYNTAX},
	    {"FROM:<user@example.org>", SMTP_ADDR_SYNTAX},
	    {"TO:<a b@example.org>", SMTP_ADDR_SYNTAX},
	    {"TO:<user@remote.example@example.org>", SMTP_ADDR_ROUTING},
	    {"TO:<x@1234567890123456789012345678901234567890123456789012345678901234.org>",
	     SMTP_ADDR_TOOLONG},
	    {"TO:<12345678901234567890123456789012345678901234567890123456789012345@x.org>",
	     SMTP_ADDR_TOOLONG},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(what, sizeof(what), "refused (%d): %s", bad[i].want, bad[i].arg);
		is_int(rcpt(bad[i].arg), bad[i].want, what);
	}
	{
		/* path over 256 */
		char big[400] = "TO:<";
		memset(big + 4, 'a', 60);
		strcpy(big + 64, "@");
		for (int i = 0; i < 5; i++)
			strcat(big, "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.");
		strcat(big, "org>");
		is_int(rcpt(big), SMTP_ADDR_TOOLONG, "path longer than 256 refused");
	}

	/* --- byte-by-byte: every prefix of a valid command parses to an
	 * error or a different result, never a crash; the full line works --- */
	{
		const char *line = "MAIL FROM:<a.b@example.org> SIZE=12 BODY=8BITMIME";
		size_t len = strlen(line);
		int prefixes_ok = 1;
		for (size_t k = 0; k < len; k++) {
			char *copy = malloc(k ? k : 1);
			memcpy(copy, line, k);
			if (smtp_cmd_parse(copy, k, &cmd) == 0 && cmd.verb == SMTP_CMD_MAIL) {
				int r = smtp_path_parse(cmd.arg, cmd.arglen, 1, 0, &p);
				/* a prefix is only valid when it stops at a param boundary */
				if (r == 0 && !(k == 27 || k == 34 || k == 35 || k == len))
					prefixes_ok = 0;
			}
			free(copy);
		}
		ok(prefixes_ok, "prefixes of a MAIL line parse only at boundaries");
	}

	/* --- From: header address lists --- */
	ok(hdr("a@example.org", "a@example.org;"), "From: plain");
	ok(hdr("Alice <a@example.org>", "a@example.org;"), "From: display name");
	ok(hdr("\"Smith, Alice\" <a@example.org>", "a@example.org;"), "From: quoted name, comma");
	ok(hdr("\"x@evil.example\" <a@example.org>", "a@example.org;"),
	   "From: quoted name holding @");
	ok(hdr("a@example.org (Alice <x@evil.example>)", "a@example.org;"), "From: comment");
	ok(hdr("a@example.org, b@example.org", "a@example.org;b@example.org;"), "From: two");
	ok(hdr("Alice\r\n <a@example.org>", "a@example.org;"), "From: folded");
	ok(hdr("group: a@example.org, B <b@example.org>;", "a@example.org;b@example.org;"),
	   "From: group");
	ok(hdr("\"a\"@example.org", "a@example.org;"), "From: quoted local part");
	ok(hdr("", ""), "From: empty gives no address");
	ok(hdr("Alice", NULL), "From: name without address");
	ok(hdr("<a@example.org> <b@evil.example>", NULL), "From: two angle addrs");
	ok(hdr("Alice <a@example.org", NULL), "From: unclosed angle");
	ok(hdr("<@evil.example:a@example.org>", NULL), "From: route in angle");
	ok(hdr("a@b@example.org", NULL), "From: two @");
	ok(hdr("(unclosed a@example.org", NULL), "From: unclosed comment");
	ok(hdr("<>", NULL), "From: empty angle");
	ok(hdr("a@example.org;", NULL), "From: stray semicolon");
	ok(hdr("x: a@example.org", NULL), "From: unclosed group");
	/* read through lib/mail/addr: words run together are not an address
	 * (before, "John a@example.org" was read as "Johna@example.org") */
	ok(hdr("John a@example.org", NULL), "From: display name without angle brackets");
	ok(hdr("<john doe@example.org>", NULL), "From: unquoted space in the local part");
	ok(hdr("a@[192.0.2.1]", NULL), "From: domain literal");
	ok(hdr("a@example.org, Bob", NULL), "From: a second mailbox without address");
	ok(hdr("a @ example . org", "a@example.org;"), "From: obsolete CFWS inside the addr-spec");
	ok(hdr("\"a b\"@example.org", "a b@example.org;"), "From: quoted local part, unquoted");
	ok(hdr("g: ;, a@example.org", "a@example.org;"), "From: an empty group, then a mailbox");

	return tap_done();
}
