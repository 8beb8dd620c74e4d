#ifndef LOFT_IMAP_PARSER_H
#define LOFT_IMAP_PARSER_H
/*
 * The IMAP command parser: turns the client's byte stream into commands
 * (tag, name, argument tree).  It is incremental -- bytes may come one at a
 * time or in any chunking -- and bounded: line length, literal size, total
 * command size, nesting depth and argument count all have hard limits, and
 * passing one yields an error reply, never unbounded memory.
 *
 * Tokens: atoms (ASTRING-CHARs plus the IMAP specials a command may carry:
 * "\Seen", "1:*", "%"; an atom may hold one "[...]" section in which spaces,
 * parentheses and quotes are allowed, so "BODY.PEEK[HEADER.FIELDS (A B)]<0.10>"
 * is one atom), quoted strings (with \" and \\ escapes; 8-bit text must be
 * valid UTF-8 -- RFC 9051 QUOTED-CHAR -- whether or not the session enabled
 * UTF8=ACCEPT, as Dovecot does; LOGIN's take any bytes), literals {n},
 * non-synchronising literals {n+} (LITERAL+, RFC 7888), literal8 ~{n}
 * (BINARY), and parenthesised lists.
 */
#include <stddef.h>
#include <stdint.h>

#include "buf.h"

enum imap_arg_type {
	IMAP_ARG_ATOM,
	IMAP_ARG_QUOTED,
	IMAP_ARG_LITERAL,
	IMAP_ARG_LIST,
};

struct imap_arg {
	enum imap_arg_type type;
	int literal8;		/* ~{n} */
	size_t len;		/* bytes of str; children for a list */
	const char *str;	/* NUL-terminated (lists: "") */
	struct imap_arg *child; /* first element of a list, NULL if empty */
	struct imap_arg *next;	/* next sibling, NULL at the end */
	/* private */
	size_t off_;
	uint32_t child_, next_;
};

struct imap_cmd {
	const char *tag;
	const char *name;      /* upper case */
	struct imap_arg *args; /* first argument, NULL if none */
	size_t nargs;	       /* top-level arguments */
};

struct imap_parser_limits {
	size_t max_line;	   /* non-literal bytes of one line */
	size_t max_literal;	   /* one literal outside APPEND */
	size_t max_append_literal; /* one literal of APPEND (APPENDLIMIT) */
	size_t max_total;	   /* every byte of one command */
	size_t max_other_total;	   /* every byte of one command other than
				    * APPEND (0: max_total) */
	unsigned max_depth;	   /* list nesting */
	unsigned max_args;	   /* tokens in one command */
};

enum imap_parse_result {
	IMAP_P_FATAL = -2, /* the stream cannot be resynchronised: close */
	IMAP_P_ERROR = -1, /* a bad command, skipped: reply BAD */
	IMAP_P_NEED = 0,   /* every byte used; feed more */
	IMAP_P_CONT = 1,   /* a synchronising literal was announced: send "+" */
	IMAP_P_DONE = 2,   /* a whole command: see imap_parser_cmd() */
};

struct imap_parser;

/* Fills lim with the defaults (line 64 KiB, literal 64 KiB, APPEND literal
 * 64 MiB, total 128 MiB, no separate bound for non-APPEND commands, depth
 * 32, 10000 tokens). */
void imap_parser_limits_default(struct imap_parser_limits *lim);
/* Fills lim with the limits for a client not logged in yet: the largest
 * legal command before login is ID with 30 pairs (RFC 2971), so line 64
 * KiB, any literal 4 KiB, total 96 KiB, depth 8, 256 tokens; an
 * unauthenticated peer cannot make the server buffer more. */
void imap_parser_limits_preauth(struct imap_parser_limits *lim);
/* Never returns NULL (aborts on out of memory).  lim NULL: defaults. */
struct imap_parser *imap_parser_new(const struct imap_parser_limits *lim);
void imap_parser_free(struct imap_parser *p);
/* Replaces the limits (at login: from imap_parser_limits_preauth to the
 * authenticated ones).  Only between commands: returns 0, or -1 (nothing
 * changed) while part of a command is buffered.  The last command is
 * dropped. */
int imap_parser_set_limits(struct imap_parser *p, const struct imap_parser_limits *lim);
/* Drops the last command once the caller is done with it (after
 * IMAP_P_DONE) and gives back storage a big command grew, so an APPEND of
 * 50 MB does not stay allocated while the session idles.  No-op while part
 * of a command is buffered. */
void imap_parser_release(struct imap_parser *p);

/* Storage a parser keeps between commands: after each command (and after
 * imap_parser_release) a buffer grown past IMAP_PARSER_KEEP_TEXT and node
 * or argument arrays grown past IMAP_PARSER_KEEP_NODES are given back. */
#define IMAP_PARSER_KEEP_TEXT  (64 * 1024)
#define IMAP_PARSER_KEEP_NODES 256
struct imap_parser_storage {
	size_t text, nodes, args; /* bytes of buffer; nodes; arguments */
};
/* What p holds now (for tests and status lines). */
void imap_parser_storage(const struct imap_parser *p, struct imap_parser_storage *out);

/*
 * Feeds up to len bytes; *used says how many were taken.  A literal is
 * checked against the limits when its "{n}" line ends, before any of its
 * bytes are taken: too large, a synchronising literal gives IMAP_P_ERROR
 * (the client never sends it; no "+"), a non-synchronising one (LITERAL+)
 * IMAP_P_FATAL with the tag kept for a tagged BAD (RFC 7888 section 4).
 * On IMAP_P_NEED
 * all were taken.  On IMAP_P_CONT, IMAP_P_DONE and IMAP_P_ERROR the caller
 * acts, then feeds the rest (data + *used).  After IMAP_P_DONE the command
 * stays valid until the next imap_parser_feed() call; after IMAP_P_ERROR
 * the rest of the bad line has been skipped and the parser is ready for the
 * next command.  After IMAP_P_FATAL the parser must not be fed again.
 */
int imap_parser_feed(struct imap_parser *p, const char *data, size_t len, size_t *used);
/* The command after IMAP_P_DONE (owned by the parser). */
const struct imap_cmd *imap_parser_cmd(const struct imap_parser *p);
/* After IMAP_P_ERROR/FATAL: the tag (NULL when none was read) and a reason
 * (static string). */
const char *imap_parser_error_tag(const struct imap_parser *p);
const char *imap_parser_error(const struct imap_parser *p);
/* True while part of a command is buffered (not at a command boundary). */
int imap_parser_busy(const struct imap_parser *p);
/* The tag and name of the command being read, for progress replies; ""
 * when not known yet. */
const char *imap_parser_cur_tag(const struct imap_parser *p);

/*
 * Raw line mode (AUTHENTICATE responses, IDLE's DONE): looks for a line in
 * data[0..len).  Returns 1 with *linelen (without CRLF) and *used set, 0 when
 * no LF came yet, -1 when more than max bytes came without one.
 */
int imap_line_take(const char *data, size_t len, size_t max, size_t *linelen, size_t *used);

/* Helpers for command code. */
/* 1 if a is an atom equal to s (ASCII case-insensitive). */
int imap_arg_is(const struct imap_arg *a, const char *s);
/* 1 if a is an astring (atom, quoted or literal) without NUL bytes. */
int imap_arg_astring(const struct imap_arg *a);
/* 1 if a is a string (quoted or literal) or atom, or the atom NIL
 * (then *isnil = 1). */
int imap_arg_nstring(const struct imap_arg *a, int *isnil);

#endif
