/*
 * libFuzzer target for the POP3 input side: the bytes are a client's
 * stream, cut into lines by the line reader (255-octet limit) and parsed as
 * commands, SASL responses and message numbers; the same bytes are also
 * treated as a stored message and dot-stuffed for RETR and TOP.  Checks
 * invariants, not just "no crash".
 *
 * The parser (imapd/pop3/pop3_parse.c) is linked in through
 * imapd/build.mk (fuzz_pop3_EXTRA).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../imapd/pop3/pop3_parse.h"
#include "buf.h"

#include "linereader.h"
#include "sasl.h"

static void check(int cond)
{
	if (!cond)
		abort();
}

static void one_line(const char *p, size_t len)
{
	struct pop3_cmd c;
	int r = pop3_cmd_parse(p, len, &c);

	check(r <= 0 && r >= POP3_PE_ARGLEN);
	if (r == 0) {
		check((unsigned)c.id < POP3_NCMDS && c.nargs <= POP3_MAX_ARGS);
		for (size_t i = 0; i < c.nargs; i++) {
			uint64_t n;
			check(c.arg[i] >= p && c.arg[i] + c.arglen[i] <= p + len);
			if (pop3_parse_num(c.arg[i], c.arglen[i], UINT32_MAX, &n) == 0)
				check(n <= UINT32_MAX);
		}
	}
	/* the line as a SASL response */
	unsigned char dec[POP3_SASL_MAX + 1];
	long n = sasl_b64_decode(p, len, dec, POP3_SASL_MAX);
	check(n >= -1 && n <= POP3_SASL_MAX && (n < 0 || (size_t)n <= len / 4 * 3));
	if (n >= 0) {
		const char *u, *pw;
		if (sasl_plain_split((char *)dec, (size_t)n, &u, &pw) == 0)
			check(*u && *pw && strlen(u) + strlen(pw) + 2 <= (size_t)n);
	}
}

static void stuff_check(const char *data, size_t size)
{
	struct pop3_stuffer s;
	struct buf out, all;
	int r;

	/* RETR in small slices: every input byte comes out, plus CRs and dots */
	buf_init(&out, 4096);
	buf_init(&all, size * 2 + 16);
	pop3_stuffer_init(&s, 0, 0);
	do {
		r = pop3_stuffer_run(&s, data, size, &out, 1 + size % 97);
		check(r >= 0);
		check(buf_append(&all, out.data, out.len) == 0);
		buf_reset(&out);
	} while (r == 0);
	size_t dots = 0;
	for (size_t i = 0; i < all.len; i++) {
		if (all.data[i] == '\n')
			check(i > 0 && all.data[i - 1] == '\r');
		if ((i == 0 || all.data[i - 1] == '\n') && all.data[i] == '.') {
			check(i + 1 < all.len && all.data[i + 1] == '.');
			dots++;
		}
	}
	check(all.len == pop3_wire_size(data, size) + dots);
	check(all.len == 0 || (all.len >= 2 && memcmp(all.data + all.len - 2, "\r\n", 2) == 0));
	/* no "\r\n.\r\n" terminator can appear inside stuffed data */
	check(all.len == 0 || !memmem(all.data, all.len, "\r\n.\r\n", 5));

	/* TOP gives a prefix of RETR */
	struct buf top;
	buf_init(&top, size * 2 + 16);
	pop3_stuffer_init(&s, 1, size % 5);
	do {
		r = pop3_stuffer_run(&s, data, size, &top, top.len + 64);
		check(r >= 0);
	} while (r == 0);
	/* both empty for an empty message: memcmp must not see their NULLs */
	check(top.len <= all.len && (top.len == 0 || memcmp(top.data, all.data, top.len) == 0));
	buf_free(&top);
	buf_free(&out);
	buf_free(&all);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct linereader lr;
	struct lr_line l;
	size_t off = 0;

	lr_init(&lr, POP3_LINE_MAX);
	while (off < size) {
		size_t k = lr_feed(&lr, data + off, size - off);
		off += k;
		int r;
		while ((r = lr_next(&lr, &l)) != LR_NEED) {
			if (r == LR_LINE)
				one_line(l.data, l.len);
		}
		if (k == 0)
			break;
	}
	const char *p;
	size_t rest = lr_pending(&lr, &p);
	if (rest)
		one_line(p, rest);
	lr_free(&lr);

	stuff_check((const char *)data, size);
	return 0;
}
