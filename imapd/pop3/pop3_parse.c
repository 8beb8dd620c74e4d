/*
 * POP3 command parsing, SASL PLAIN decoding and message dot-stuffing.
 * Everything here is pure: no I/O, no store, no global state, so it is
 * unit-tested byte by byte and fuzzed on its own.
 */
#include "pop3_parse.h"

#include <string.h>
#include <strings.h>

#include "strnum.h"

/* RFC 2449 section 3: keywords and arguments are at most 40 octets.  A
 * PASS argument is the rest of the line and bounded by the line; USER
 * takes a whole mail address (254 octets), AUTH an initial response. */
#define POP3_ARG_MAX 40

struct cmd_def {
	const char *name;
	unsigned min_args, max_args;
	size_t max_arglen; /* longest argument; 0: POP3_ARG_MAX */
};

static const struct cmd_def cmd_defs[POP3_NCMDS] = {
    [POP3_USER] = {"USER", 1, 1, 254}, [POP3_PASS] = {"PASS", 1, 1, 0},
    [POP3_AUTH] = {"AUTH", 0, 2, 0},   [POP3_STLS] = {"STLS", 0, 0, 0},
    [POP3_CAPA] = {"CAPA", 0, 0, 0},   [POP3_STAT] = {"STAT", 0, 0, 0},
    [POP3_LIST] = {"LIST", 0, 1, 0},   [POP3_RETR] = {"RETR", 1, 1, 0},
    [POP3_DELE] = {"DELE", 1, 1, 0},   [POP3_TOP] = {"TOP", 2, 2, 0},
    [POP3_UIDL] = {"UIDL", 0, 1, 0},   [POP3_RSET] = {"RSET", 0, 0, 0},
    [POP3_NOOP] = {"NOOP", 0, 0, 0},   [POP3_QUIT] = {"QUIT", 0, 0, 0},
    [POP3_UTF8] = {"UTF8", 0, 0, 0},
};

const char *pop3_cmd_name(enum pop3_cmd_id id)
{
	if ((unsigned)id >= POP3_NCMDS)
		return "?";
	return cmd_defs[id].name;
}

static int printable(unsigned char ch)
{
	return ch > 0x20 && ch < 0x7f;
}

int pop3_cmd_parse(const char *line, size_t len, struct pop3_cmd *out)
{
	size_t i = 0, kstart, klen;
	int id = -1;

	memset(out, 0, sizeof(*out));
	while (i < len && line[i] == ' ')
		i++;
	if (i == len)
		return POP3_PE_EMPTY;
	kstart = i;
	while (i < len && line[i] != ' ') {
		if (!printable((unsigned char)line[i]))
			return POP3_PE_CHAR;
		i++;
	}
	klen = i - kstart;
	for (int k = 0; k < POP3_NCMDS; k++) {
		if (strlen(cmd_defs[k].name) == klen &&
		    strncasecmp(cmd_defs[k].name, line + kstart, klen) == 0) {
			id = k;
			break;
		}
	}
	if (id < 0)
		return POP3_PE_UNKNOWN;
	out->id = (enum pop3_cmd_id)id;

	if (id == POP3_PASS) {
		/* One space, then everything to the end of the line: spaces
		 * and UTF-8 are part of the password. */
		if (i == len || i + 1 == len)
			return POP3_PE_ARGS;
		i++;
		for (size_t j = i; j < len; j++) {
			unsigned char ch = (unsigned char)line[j];
			if (ch < 0x20 || ch == 0x7f)
				return POP3_PE_CHAR;
		}
		out->nargs = 1;
		out->arg[0] = line + i;
		out->arglen[0] = len - i;
		return 0;
	}

	for (;;) {
		while (i < len && line[i] == ' ')
			i++;
		if (i == len)
			break;
		size_t astart = i;
		while (i < len && line[i] != ' ') {
			if (!printable((unsigned char)line[i]))
				return POP3_PE_CHAR;
			i++;
		}
		if (out->nargs == cmd_defs[id].max_args)
			return POP3_PE_ARGS;
		size_t maxlen = cmd_defs[id].max_arglen ? cmd_defs[id].max_arglen : POP3_ARG_MAX;
		if (i - astart > maxlen && !(id == POP3_AUTH && out->nargs == 1))
			return POP3_PE_ARGLEN;
		out->arg[out->nargs] = line + astart;
		out->arglen[out->nargs] = i - astart;
		out->nargs++;
	}
	if (out->nargs < cmd_defs[id].min_args)
		return POP3_PE_ARGS;
	return 0;
}

int pop3_parse_num(const char *s, size_t len, uint64_t max, uint64_t *out)
{
	if (len == 0 || len > 20)
		return -1;
	return strnum_u64n(s, len, max, out);
}

void pop3_stuffer_init(struct pop3_stuffer *s, int top, uint64_t body_lines)
{
	memset(s, 0, sizeof(*s));
	s->top = top;
	s->body_lines = body_lines;
}

int pop3_stuffer_run(struct pop3_stuffer *s, const char *data, size_t len, struct buf *out,
		     size_t soft_max)
{
	while (!s->done) {
		if (!s->mid && (s->pos >= len || (s->top && s->in_body && s->body_lines == 0))) {
			s->done = 1;
			break;
		}
		if (out->len >= soft_max)
			return 0;
		const char *p = data + s->pos;
		size_t avail = len - s->pos;
		const char *nl = memchr(p, '\n', avail);
		size_t linelen = nl ? (size_t)(nl - p) : avail; /* without LF */
		size_t next = nl ? linelen + 1 : avail;
		size_t content = linelen;
		size_t room = soft_max - out->len;
		if (nl && content > 0 && p[content - 1] == '\r')
			content--;
		if (!s->mid && content > 0 && p[0] == '.' && buf_putc(out, '.') < 0)
			return -1;
		if (content > room) {
			/* a long line goes out in pieces; only its first piece
			 * may need a stuffed dot */
			if (buf_append(out, p, room) < 0)
				return -1;
			s->pos += room;
			s->mid = 1;
			continue;
		}
		if (buf_append(out, p, content) < 0 || buf_append(out, "\r\n", 2) < 0)
			return -1;
		s->pos += next;
		if (s->in_body) {
			if (s->top)
				s->body_lines--;
		} else if (content == 0 && !s->mid) {
			s->in_body = 1;
		}
		s->mid = 0;
	}
	return 1;
}

uint64_t pop3_wire_size(const char *data, size_t len)
{
	uint64_t n = 0;
	size_t pos = 0;

	while (pos < len) {
		const char *p = data + pos;
		const char *nl = memchr(p, '\n', len - pos);
		size_t linelen = nl ? (size_t)(nl - p) : len - pos;
		size_t content = linelen;
		if (nl && content > 0 && p[content - 1] == '\r')
			content--;
		n += content + 2;
		pos += nl ? linelen + 1 : linelen;
	}
	return n;
}
