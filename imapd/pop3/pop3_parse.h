#ifndef LOFT_POP3_PARSE_H
#define LOFT_POP3_PARSE_H
/*
 * The pure parts of the POP3 server, kept free of I/O and of the store so
 * the unit tests and the fuzz target link them alone: the command line
 * parser (base64 and SASL PLAIN are lib/mail/sasl.h's) and the converter that
 * turns a stored message into a POP3 multi-line response (CRLF line ends,
 * dot-stuffing, TOP's line limit).
 */
#include <stddef.h>
#include <stdint.h>

#include "buf.h"

/* RFC 2449: a command line is at most 255 octets, CRLF included. */
#define POP3_LINE_MAX 255
/* A SASL continuation line (RFC 5034 lets it pass 255 octets). */
#define POP3_SASL_LINE_MAX 4096
/* Longest decoded SASL PLAIN message we take. */
#define POP3_SASL_MAX 2048

enum pop3_cmd_id {
	POP3_USER,
	POP3_PASS,
	POP3_AUTH,
	POP3_STLS,
	POP3_CAPA,
	POP3_STAT,
	POP3_LIST,
	POP3_RETR,
	POP3_DELE,
	POP3_TOP,
	POP3_UIDL,
	POP3_RSET,
	POP3_NOOP,
	POP3_QUIT,
	POP3_UTF8, /* RFC 6856 */
	POP3_NCMDS
};

/* Why a line is not a command. */
enum pop3_parse_err {
	POP3_PE_EMPTY = -1,   /* nothing but spaces */
	POP3_PE_CHAR = -2,    /* NUL, control or 8-bit byte where not allowed */
	POP3_PE_UNKNOWN = -3, /* no such keyword */
	POP3_PE_ARGS = -4,    /* wrong number of arguments */
	POP3_PE_ARGLEN = -5,  /* an argument longer than allowed */
};

#define POP3_MAX_ARGS 2

struct pop3_cmd {
	enum pop3_cmd_id id;
	size_t nargs;
	const char *arg[POP3_MAX_ARGS]; /* point into the line, not NUL-ended */
	size_t arglen[POP3_MAX_ARGS];
};

/* Parses one command line (terminator already removed).  The keyword is
 * case-insensitive; arguments are separated by spaces.  PASS takes the
 * rest of the line after one space as its single argument (passwords may
 * hold spaces and UTF-8).  Returns 0 with *out filled (pointers into
 * line), or a negative enum pop3_parse_err. */
int pop3_cmd_parse(const char *line, size_t len, struct pop3_cmd *out);
/* The command's keyword in upper case ("RETR"), for logs. */
const char *pop3_cmd_name(enum pop3_cmd_id id);

/* Parses a message number or line count: decimal digits only, at most max.
 * Returns 0 with *out set, -1 if invalid. */
int pop3_parse_num(const char *s, size_t len, uint64_t max, uint64_t *out);

/*
 * Message to POP3 multi-line data.  Works on the whole message in memory,
 * a slice at a time so big messages stream through a bounded output
 * buffer.  Line ends become CRLF (a bare LF gets its CR, a lone CR is kept
 * as data), a line starting with '.' gets another '.', and a last line
 * without a newline gets CRLF.  For TOP, output stops after the header, the
 * blank line and body_lines lines of the body.  The closing ".\r\n" is not
 * written here.
 */
struct pop3_stuffer {
	size_t pos;	     /* next input byte */
	int top;	     /* limit body lines */
	uint64_t body_lines; /* lines of body still allowed (TOP) */
	int in_body;	     /* the blank line after the header passed */
	int mid;	     /* inside a line that went out in part */
	int done;
};
void pop3_stuffer_init(struct pop3_stuffer *s, int top, uint64_t body_lines);
/* Appends converted output to out until out->len reaches soft_max (it may
 * pass it by at most 3 bytes; a long line is cut into pieces).  Returns 1
 * when the whole message (or TOP's part) is out, 0 when more remains (empty
 * out and call again), -1 when out hit its hard maximum. */
int pop3_stuffer_run(struct pop3_stuffer *s, const char *data, size_t len, struct buf *out,
		     size_t soft_max);
/* The message's size in octets with CRLF line ends (what RETR's "+OK n
 * octets" announces; dot-stuffing is transport and not counted). */
uint64_t pop3_wire_size(const char *data, size_t len);

#endif
