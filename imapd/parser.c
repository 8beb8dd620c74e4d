/*
 * The IMAP command parser (RFC 3501 section 9, RFC 7888 literals, RFC 3516
 * literal8).  A byte-at-a-time state machine: every state consumes exactly
 * one byte except literal data, which is copied in runs.  Tokens go into a
 * flat node array linked by indices (so the array may grow by realloc) and
 * their bytes into one bounded buffer; pointers are fixed up only once a
 * command is complete.
 */
#include "parser.h"

#include "array.h"

#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "utf8.h"

#define NONE	    UINT32_MAX
#define TAG_MAX	    64
#define NAME_MAX_   32
#define LITLEN_DIGS 20
/* After a command, storage grown past these is given back, so one big
 * APPEND does not pin its size for the rest of the session. */

enum state {
	S_START, /* before the tag; empty lines are skipped */
	S_TAG,
	S_NAME,
	S_TOKEN, /* a token (or ')' closing an empty list) must start */
	S_SEP,	 /* after a token: SP, ')' or end of line */
	S_ATOM,
	S_BRACKET, /* inside "[...]" of an atom */
	S_QUOTED,
	S_QESC,
	S_TILDE, /* '~' at token start: literal8 or an atom */
	S_LITLEN,
	S_LITPLUS, /* after '+' in {n+}: '}' must follow */
	S_LITCR,
	S_LITLF,
	S_LITDATA,
	S_CR,	/* CR seen at end of command: LF must follow */
	S_SKIP, /* bad line: drop up to LF */
	S_DEAD,
};

struct node {
	enum imap_arg_type type;
	int literal8;
	size_t off, len;
	uint32_t child, next, last; /* last: last child while building */
	uint32_t nchild;
};

struct imap_parser {
	struct imap_parser_limits lim;
	enum state state;
	struct buf text;
	struct node *nodes;
	size_t nnodes, capnodes;
	uint32_t *stack; /* open lists; stack[0] is the pseudo top node */
	unsigned depth;
	size_t line_bytes, total_bytes;
	size_t tok_off; /* start of the current token's bytes in text */
	size_t tag_off, tag_len, name_off;
	int have_tag, append_like, uid_prefix;
	uint64_t litlen, litleft;
	int litdigits, litsync, lit8;
	int login_like; /* LOGIN: any 8-bit quoted strings (passwords) */
	const char *err;
	char errtag[TAG_MAX + 1];
	int errtag_set;
	/* the result */
	struct imap_arg *args;
	size_t capargs;
	struct imap_cmd cmd;
};

void imap_parser_limits_default(struct imap_parser_limits *lim)
{
	lim->max_line = 64 * 1024;
	lim->max_literal = 64 * 1024;
	lim->max_append_literal = 64 * 1024 * 1024;
	lim->max_total = 128 * 1024 * 1024;
	lim->max_other_total = 0;
	lim->max_depth = 32;
	lim->max_args = 10000;
}

void imap_parser_limits_preauth(struct imap_parser_limits *lim)
{
	/* LOGIN, AUTHENTICATE with SASL-IR, CAPABILITY, STARTTLS: a few
	 * hundred bytes each.  ID is the big one: RFC 2971 allows 30 pairs of
	 * a 30-octet field and a 1024-octet value, which as quoted strings
	 * with every octet escaped ("\\") is 30 * (30 + 2048 + 6) = 62,520
	 * bytes on one line; 64 KiB admits every legal ID, and nothing before
	 * login needs more.  A peer can still make the server hold no more
	 * than max_total. */
	lim->max_line = 64 * 1024;
	lim->max_literal = 4 * 1024;
	lim->max_append_literal = 4 * 1024;
	lim->max_total = 96 * 1024;
	lim->max_other_total = 0;
	lim->max_depth = 8;
	lim->max_args = 256;
}

/* The bound on every byte of the command being read. */
static size_t total_limit(const struct imap_parser *p)
{
	if (!p->append_like && p->lim.max_other_total && p->lim.max_other_total < p->lim.max_total)
		return p->lim.max_other_total;
	return p->lim.max_total;
}

/* Gives back storage a big command grew (the command is gone). */
static void shrink(struct imap_parser *p)
{
	if (p->text.cap > IMAP_PARSER_KEEP_TEXT) {
		size_t max = p->text.max;
		buf_free(&p->text);
		buf_init(&p->text, max);
	}
	if (p->capnodes > IMAP_PARSER_KEEP_NODES) {
		struct node *nn = realloc(p->nodes, 64 * sizeof(*nn));
		if (nn) {
			p->nodes = nn;
			p->capnodes = 64;
		}
	}
	if (p->capargs > IMAP_PARSER_KEEP_NODES) {
		free(p->args);
		p->args = NULL;
		p->capargs = 0;
	}
}

static void reset(struct imap_parser *p)
{
	buf_reset(&p->text);
	shrink(p);
	p->state = S_START;
	p->nnodes = 1; /* node 0: the top level pseudo list */
	memset(&p->nodes[0], 0, sizeof(p->nodes[0]));
	p->nodes[0].type = IMAP_ARG_LIST;
	p->nodes[0].child = p->nodes[0].next = p->nodes[0].last = NONE;
	p->stack[0] = 0;
	p->depth = 0;
	p->line_bytes = p->total_bytes = 0;
	p->have_tag = p->append_like = p->uid_prefix = p->login_like = 0;
}

struct imap_parser *imap_parser_new(const struct imap_parser_limits *lim)
{
	struct imap_parser *p = calloc(1, sizeof(*p));

	if (!p)
		bug("out of memory");
	if (lim)
		p->lim = *lim;
	else
		imap_parser_limits_default(&p->lim);
	if (p->lim.max_depth < 1)
		p->lim.max_depth = 1;
	buf_init(&p->text, p->lim.max_total + TAG_MAX + NAME_MAX_ + 16);
	p->capnodes = 64;
	p->nodes = malloc(p->capnodes * sizeof(*p->nodes));
	p->stack = malloc((p->lim.max_depth + 1) * sizeof(*p->stack));
	if (!p->nodes || !p->stack)
		bug("out of memory");
	reset(p);
	return p;
}

int imap_parser_set_limits(struct imap_parser *p, const struct imap_parser_limits *lim)
{
	struct imap_parser_limits nl = *lim;
	uint32_t *ns;

	if (imap_parser_busy(p))
		return -1;
	if (nl.max_depth < 1)
		nl.max_depth = 1;
	ns = realloc(p->stack, (nl.max_depth + 1) * sizeof(*ns));
	if (!ns)
		bug("out of memory");
	p->stack = ns;
	p->lim = nl;
	reset(p);
	p->text.max = nl.max_total + TAG_MAX + NAME_MAX_ + 16;
	return 0;
}

void imap_parser_release(struct imap_parser *p)
{
	if (!imap_parser_busy(p))
		reset(p);
}

void imap_parser_free(struct imap_parser *p)
{
	if (!p)
		return;
	buf_free(&p->text);
	free(p->nodes);
	free(p->stack);
	free(p->args);
	free(p);
}

static int is_atom_char(unsigned char c)
{
	if (c <= 0x20 || c == 0x7f)
		return 0;
	return c != '(' && c != ')' && c != '{' && c != '"';
}

static int is_tag_char(unsigned char c)
{
	return is_atom_char(c) && c != '+' && c != '*' && c != '%' && c != '\\' && c < 0x80;
}

static void fail(struct imap_parser *p, const char *why)
{
	if (!p->err)
		p->err = why;
	p->state = S_SKIP;
}

/* Appends a byte of the current token.  Returns 0 or -1 (limit). */
static int put(struct imap_parser *p, char c)
{
	if (buf_putc(&p->text, c) < 0) {
		fail(p, "command too large");
		return -1;
	}
	return 0;
}

/* Starts a node of type at the current depth.  Returns its index or NONE. */
static uint32_t node_add(struct imap_parser *p, enum imap_arg_type type)
{
	struct node *parent;
	uint32_t i;

	if (p->nnodes > p->lim.max_args) {
		fail(p, "too many arguments");
		return NONE;
	}
	if (ARRAY_GROW(p->nodes, p->capnodes, p->nnodes + 1, 64) < 0) {
		fail(p, "out of memory");
		return NONE;
	}
	i = (uint32_t)p->nnodes++;
	memset(&p->nodes[i], 0, sizeof(p->nodes[i]));
	p->nodes[i].type = type;
	p->nodes[i].child = p->nodes[i].next = p->nodes[i].last = NONE;
	p->nodes[i].off = p->text.len;
	parent = &p->nodes[p->stack[p->depth]];
	if (parent->last == NONE)
		parent->child = i;
	else
		p->nodes[parent->last].next = i;
	parent->last = i;
	parent->nchild++;
	return i;
}

/* Ends a string token: NUL-terminates its bytes and records the length. */
static void token_end(struct imap_parser *p, uint32_t i)
{
	p->nodes[i].len = p->text.len - p->nodes[i].off;
	if (buf_putc(&p->text, '\0') < 0)
		fail(p, "command too large");
}

static uint32_t cur_token(struct imap_parser *p)
{
	return p->nodes[p->stack[p->depth]].last;
}

static int ieq(const char *a, const char *b)
{
	return strcasecmp(a, b) == 0;
}

/* After the name (and after the first argument of UID): is this APPEND? */
static void note_name(struct imap_parser *p, const char *name)
{
	p->append_like = ieq(name, "APPEND");
	p->login_like = ieq(name, "LOGIN");
	p->uid_prefix = ieq(name, "UID");
}

static void build_result(struct imap_parser *p)
{
	size_t n = p->nnodes;

	if (p->capargs < n) {
		struct imap_arg *na = realloc(p->args, n * sizeof(*na));
		if (!na)
			bug("out of memory");
		p->args = na;
		p->capargs = n;
	}
	for (size_t i = 0; i < n; i++) {
		struct node *nd = &p->nodes[i];
		struct imap_arg *a = &p->args[i];
		a->type = nd->type;
		a->literal8 = nd->literal8;
		a->len = nd->type == IMAP_ARG_LIST ? nd->nchild : nd->len;
		a->str = nd->type == IMAP_ARG_LIST ? "" : p->text.data + nd->off;
		a->child = nd->child == NONE ? NULL : &p->args[nd->child];
		a->next = nd->next == NONE ? NULL : &p->args[nd->next];
		a->off_ = nd->off;
		a->child_ = nd->child;
		a->next_ = nd->next;
	}
	p->cmd.tag = p->text.data + p->tag_off;
	p->cmd.name = p->text.data + p->name_off;
	p->cmd.args = p->args[0].child;
	p->cmd.nargs = p->nodes[0].nchild;
}

/* A whole line ended: either the command is complete or a list is open. */
static int end_of_line(struct imap_parser *p)
{
	if (p->depth > 0) {
		p->err = "unbalanced parentheses";
		return IMAP_P_ERROR;
	}
	build_result(p);
	return IMAP_P_DONE;
}

static void save_errtag(struct imap_parser *p)
{
	if (p->have_tag && !p->errtag_set) {
		size_t n = p->tag_len < TAG_MAX ? p->tag_len : TAG_MAX;
		memcpy(p->errtag, p->text.data + p->tag_off, n);
		p->errtag[n] = '\0';
		p->errtag_set = 1;
	}
}

/* Called when the literal's "}" CRLF has been read. */
static int literal_begin(struct imap_parser *p)
{
	size_t max = p->append_like ? p->lim.max_append_literal : p->lim.max_literal;
	uint32_t i;

	if (p->litlen > max || p->total_bytes + p->litlen > total_limit(p)) {
		save_errtag(p);
		p->err = "literal too large";
		if (!p->litsync) {
			/* the bytes are on their way and cannot be told apart
			 * from commands: the stream is lost */
			p->state = S_DEAD;
			return IMAP_P_FATAL;
		}
		reset(p);
		return IMAP_P_ERROR;
	}
	i = node_add(p, IMAP_ARG_LITERAL);
	if (i == NONE) {
		save_errtag(p);
		if (!p->litsync) {
			p->state = S_DEAD;
			return IMAP_P_FATAL;
		}
		const char *e = p->err;
		reset(p);
		p->err = e;
		return IMAP_P_ERROR;
	}
	p->nodes[i].literal8 = p->lit8;
	p->litleft = p->litlen;
	p->line_bytes = 0;
	if (p->litleft == 0) {
		token_end(p, i);
		p->state = S_SEP;
	} else {
		p->state = S_LITDATA;
	}
	return p->litsync ? IMAP_P_CONT : IMAP_P_NEED;
}

static int open_list(struct imap_parser *p)
{
	uint32_t i;

	if (p->depth >= p->lim.max_depth) {
		fail(p, "lists nested too deeply");
		return -1;
	}
	i = node_add(p, IMAP_ARG_LIST);
	if (i == NONE)
		return -1;
	p->stack[++p->depth] = i;
	return 0;
}

static int close_list(struct imap_parser *p)
{
	if (p->depth == 0) {
		fail(p, "unbalanced parentheses");
		return -1;
	}
	p->depth--;
	return 0;
}

/* Starts a token with byte c in S_TOKEN.  Returns 0, or -1 after fail(). */
static int token_start(struct imap_parser *p, unsigned char c)
{
	uint32_t i;

	switch (c) {
	case '(':
		return open_list(p);
	case ')':
		/* only an empty list may close here: "a )" is junk */
		if (p->depth == 0 || p->nodes[p->stack[p->depth]].nchild != 0) {
			fail(p, "unexpected ')'");
			return -1;
		}
		p->depth--;
		p->state = S_SEP;
		return 0;
	case '"':
		if (node_add(p, IMAP_ARG_QUOTED) == NONE)
			return -1;
		p->state = S_QUOTED;
		return 0;
	case '{':
		p->lit8 = 0;
		p->litlen = 0;
		p->litdigits = 0;
		p->litsync = 1;
		p->state = S_LITLEN;
		return 0;
	case '~':
		p->state = S_TILDE;
		return 0;
	default:
		if (!is_atom_char(c)) {
			fail(p, c == 0 ? "NUL byte in command" : "invalid character");
			return -1;
		}
		i = node_add(p, IMAP_ARG_ATOM);
		if (i == NONE)
			return -1;
		if (put(p, (char)c) < 0)
			return -1;
		p->state = c == '[' ? S_BRACKET : S_ATOM;
		return 0;
	}
}

int imap_parser_feed(struct imap_parser *p, const char *data, size_t len, size_t *used)
{
	size_t k = 0;

	while (k < len) {
		unsigned char c = (unsigned char)data[k];

		if (p->state == S_DEAD) {
			*used = k;
			return IMAP_P_FATAL;
		}
		if (p->state == S_LITDATA) {
			size_t n = len - k;
			if (n > p->litleft)
				n = (size_t)p->litleft;
			if (buf_append(&p->text, data + k, n) < 0) {
				save_errtag(p);
				p->err = "out of memory";
				p->state = S_DEAD;
				*used = k;
				return IMAP_P_FATAL;
			}
			k += n;
			p->total_bytes += n;
			p->litleft -= n;
			if (p->litleft == 0) {
				token_end(p, cur_token(p));
				p->state = S_SEP;
			}
			continue;
		}
		k++;
		if (p->state != S_SKIP && p->state != S_START) {
			p->total_bytes++;
			if (++p->line_bytes > p->lim.max_line)
				fail(p, "line too long");
			else if (p->total_bytes > total_limit(p))
				fail(p, "command too large");
		}
		switch (p->state) {
		case S_START:
			if (c == '\r' || c == '\n')
				break; /* empty lines are ignored */
			reset(p);      /* drops the previous command */
			p->line_bytes = p->total_bytes = 1;
			p->err = NULL;
			p->errtag_set = 0;
			p->tag_off = p->text.len;
			if (!is_tag_char(c)) {
				fail(p, "invalid tag");
				if (c == '\n')
					goto line_error;
				break;
			}
			put(p, (char)c);
			p->state = S_TAG;
			break;
		case S_TAG:
			if (c == ' ') {
				p->tag_len = p->text.len - p->tag_off;
				p->have_tag = 1;
				put(p, '\0');
				p->name_off = p->text.len;
				p->state = S_NAME;
			} else if (!is_tag_char(c) || p->text.len - p->tag_off >= TAG_MAX) {
				if (c == '\n' || c == '\r') {
					p->tag_len = p->text.len - p->tag_off;
					p->have_tag = 1;
					p->err = "missing command";
					save_errtag(p);
					if (c == '\n')
						goto line_error;
					p->state = S_SKIP;
					break;
				}
				fail(p, "invalid tag");
			} else {
				put(p, (char)c);
			}
			break;
		case S_NAME:
			if (c == ' ' || c == '\r' || c == '\n') {
				size_t nl = p->text.len - p->name_off;
				if (nl == 0) {
					fail(p, "missing command");
					if (c == '\n')
						goto line_error;
					break;
				}
				put(p, '\0');
				note_name(p, p->text.data + p->name_off);
				if (c == ' ')
					p->state = S_TOKEN;
				else if (c == '\r')
					p->state = S_CR;
				else
					goto line_done;
			} else if (!is_atom_char(c) || c == '[' || c >= 0x80 ||
				   p->text.len - p->name_off >= NAME_MAX_) {
				fail(p, "invalid command name");
			} else {
				put(p, (char)(c >= 'a' && c <= 'z' ? c - 32 : c));
			}
			break;
		case S_TOKEN:
			if (c == '\r') {
				p->state = S_CR;
				break;
			}
			if (c == '\n')
				goto line_done;
			if (c == ' ') {
				fail(p, "extra space");
				break;
			}
			token_start(p, c);
			break;
		case S_SEP:
			if (c == ' ') {
				p->state = S_TOKEN;
			} else if (c == ')') {
				close_list(p);
			} else if (c == '\r') {
				p->state = S_CR;
			} else if (c == '\n') {
				goto line_done;
			} else {
				fail(p, "missing space between arguments");
			}
			break;
		case S_ATOM:
			if (is_atom_char(c)) {
				if (put(p, (char)c) < 0)
					break;
				if (c == '[')
					p->state = S_BRACKET;
				break;
			}
			token_end(p, cur_token(p));
			if (p->uid_prefix && p->depth == 0 && p->nodes[0].nchild == 1) {
				uint32_t t = cur_token(p);
				note_name(p, p->text.data + p->nodes[t].off);
			}
			if (c == ' ') {
				p->state = S_TOKEN;
			} else if (c == ')') {
				p->state = S_SEP;
				close_list(p);
			} else if (c == '\r') {
				p->state = S_CR;
			} else if (c == '\n') {
				goto line_done;
			} else {
				fail(p,
				     c == 0 ? "NUL byte in command" : "invalid character in atom");
			}
			break;
		case S_BRACKET:
			if (c == '\r' || c == '\n' || c == 0 || c == '[' || c == 0x7f ||
			    (c < 0x20 && c != '\t')) {
				fail(p, "unterminated '['");
				if (c == '\n')
					goto line_error;
				break;
			}
			if (put(p, (char)c) == 0 && c == ']')
				p->state = S_ATOM;
			break;
		case S_QUOTED:
			if (c == '"') {
				uint32_t t = cur_token(p);
				/* only whole, shortest-form UTF-8 (RFC 9051
				 * QUOTED-CHAR, RFC 3629), with or without
				 * ENABLE: RFC 3501 quoted strings are 7-bit,
				 * but clients send UTF-8 quoted before ENABLE
				 * (SEARCH CHARSET UTF-8 TEXT "\xc3\xbc") and
				 * Dovecot takes it.  LOGIN is spared: clients
				 * have long sent passwords in legacy charsets
				 * quoted, and the check compares bytes */
				if (!p->login_like && !utf8_valid(p->text.data + p->nodes[t].off,
								  p->text.len - p->nodes[t].off)) {
					fail(p, "invalid UTF-8 in quoted string");
					break;
				}
				token_end(p, t);
				p->state = S_SEP;
			} else if (c == '\\') {
				p->state = S_QESC;
			} else if (c == '\r' || c == '\n' || c == 0) {
				fail(p, c == 0 ? "NUL byte in quoted string"
					       : "unterminated quoted string");
				if (c == '\n')
					goto line_error;
			} else {
				put(p, (char)c);
			}
			break;
		case S_QESC:
			if (c == '"' || c == '\\') {
				put(p, (char)c);
				p->state = S_QUOTED;
			} else {
				fail(p, "bad escape in quoted string");
				if (c == '\n')
					goto line_error;
			}
			break;
		case S_TILDE:
			if (c == '{') {
				token_start(p, c);
				p->lit8 = 1;
			} else {
				/* an atom that starts with '~' */
				uint32_t i = node_add(p, IMAP_ARG_ATOM);
				if (i == NONE)
					break;
				put(p, '~');
				p->state = S_ATOM;
				k--; /* reprocess c as part of the atom */
				p->total_bytes--;
				p->line_bytes--;
			}
			break;
		case S_LITLEN:
			if (c >= '0' && c <= '9') {
				if (++p->litdigits > LITLEN_DIGS) {
					fail(p, "literal too large");
					break;
				}
				p->litlen = p->litlen * 10 + (uint64_t)(c - '0');
			} else if (c == '+' && p->litdigits > 0) {
				p->litsync = 0;
				p->state = S_LITPLUS;
			} else if (c == '}' && p->litdigits > 0) {
				p->state = S_LITCR;
			} else {
				fail(p, "bad literal");
				if (c == '\n')
					goto line_error;
			}
			break;
		case S_LITPLUS:
			if (c == '}') {
				p->state = S_LITCR;
			} else {
				fail(p, "bad literal");
				if (c == '\n')
					goto line_error;
			}
			break;
		case S_LITCR:
			if (c == '\r') {
				p->state = S_LITLF;
				break;
			}
			/* a bare LF ends the line too */
			__attribute__((fallthrough));
		case S_LITLF:
			if (c != '\n') {
				fail(p, "literal announcement must end the line");
				break;
			}
			{
				int r = literal_begin(p);
				if (r != IMAP_P_NEED) {
					*used = k;
					return r;
				}
			}
			break;
		case S_CR:
			if (c != '\n') {
				fail(p, "CR without LF");
				break;
			}
			goto line_done;
		case S_SKIP:
			if (c == '\n')
				goto line_error;
			break;
		case S_LITDATA:
		case S_DEAD:
			break;
		}
		/* a fail() on the line's last byte has nothing left to skip */
		continue;
	line_done:
		if (p->state == S_SKIP)
			goto line_error;
		{
			int r = end_of_line(p);
			*used = k;
			if (r == IMAP_P_DONE) {
				p->state = S_START;
				return r;
			}
			save_errtag(p);
			const char *e = p->err;
			reset(p);
			p->err = e;
			return r;
		}
	line_error:
		save_errtag(p);
		{
			const char *e = p->err ? p->err : "syntax error";
			reset(p);
			p->err = e;
		}
		*used = k;
		return IMAP_P_ERROR;
	}
	*used = k;
	return IMAP_P_NEED;
}

const struct imap_cmd *imap_parser_cmd(const struct imap_parser *p)
{
	return &p->cmd;
}

const char *imap_parser_error_tag(const struct imap_parser *p)
{
	return p->errtag_set ? p->errtag : NULL;
}

const char *imap_parser_error(const struct imap_parser *p)
{
	return p->err ? p->err : "syntax error";
}

int imap_parser_busy(const struct imap_parser *p)
{
	return p->state != S_START;
}

const char *imap_parser_cur_tag(const struct imap_parser *p)
{
	return p->have_tag ? p->text.data + p->tag_off : "";
}

int imap_line_take(const char *data, size_t len, size_t max, size_t *linelen, size_t *used)
{
	const char *lf = memchr(data, '\n', len < max ? len : max);

	if (!lf)
		return len >= max ? -1 : 0;
	*used = (size_t)(lf - data) + 1;
	*linelen = (size_t)(lf - data);
	if (*linelen > 0 && data[*linelen - 1] == '\r')
		(*linelen)--;
	return 1;
}

int imap_arg_is(const struct imap_arg *a, const char *s)
{
	return a && a->type == IMAP_ARG_ATOM && strcasecmp(a->str, s) == 0;
}

int imap_arg_astring(const struct imap_arg *a)
{
	return a && a->type != IMAP_ARG_LIST && strlen(a->str) == a->len;
}

int imap_arg_nstring(const struct imap_arg *a, int *isnil)
{
	*isnil = 0;
	if (!imap_arg_astring(a))
		return 0;
	if (imap_arg_is(a, "NIL"))
		*isnil = 1;
	return 1;
}

void imap_parser_storage(const struct imap_parser *p, struct imap_parser_storage *out)
{
	out->text = p->text.cap;
	out->nodes = p->capnodes;
	out->args = p->capargs;
}
