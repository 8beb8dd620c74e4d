/* libFuzzer target for imapd/parser.c: the input is fed in chunks whose
 * sizes come from the first byte, with small limits so that every limit
 * path is reachable; every parsed command is walked completely, and a
 * quoted string must be valid UTF-8 (LOGIN's excepted). */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "../../imapd/parser.h"
#include "utf8.h"

static int login_cmd;

static size_t walk(const struct imap_arg *a, unsigned depth)
{
	size_t n = 0;

	for (; a; a = a->next) {
		if (depth > 64)
			__builtin_trap();
		if (a->type == IMAP_ARG_LIST)
			n += walk(a->child, depth + 1);
		else if (a->str[a->len] != '\0')
			__builtin_trap();
		if (a->type == IMAP_ARG_QUOTED && !login_cmd) {
			if (!utf8_valid(a->str, a->len))
				__builtin_trap();
		}
		n++;
	}
	return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct imap_parser_limits lim;
	struct imap_parser *p;
	size_t step, pos = 1;

	if (size < 1)
		return 0;
	step = (size_t)(data[0] % 16) + 1; /* bits 0-3 */
	imap_parser_limits_default(&lim);
	lim.max_line = 512;
	lim.max_literal = 256;
	lim.max_append_literal = 4096;
	lim.max_total = 8192;
	lim.max_depth = 8;
	lim.max_args = 200;
	p = imap_parser_new(&lim);
	while (pos < size) {
		size_t n = size - pos < step ? size - pos : step, used = 0;
		int r = imap_parser_feed(p, (const char *)data + pos, n, &used);
		if (used > n)
			__builtin_trap();
		pos += used;
		if (r == IMAP_P_DONE) {
			const struct imap_cmd *c = imap_parser_cmd(p);
			login_cmd = strcmp(c->name, "LOGIN") == 0; /* any 8-bit */
			if (walk(c->args, 0) < c->nargs || !c->tag[0] || !c->name[0])
				__builtin_trap();
		} else if (r == IMAP_P_FATAL) {
			break;
		} else if (r == IMAP_P_ERROR) {
			(void)strlen(imap_parser_error(p));
		} else if (r == IMAP_P_NEED && used != n) {
			__builtin_trap();
		}
	}
	imap_parser_free(p);
	return 0;
}
