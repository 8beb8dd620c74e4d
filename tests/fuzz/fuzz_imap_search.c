/* libFuzzer target for imapd/searchkey.c, the SEARCH key parser: the input
 * is the rest of a "a SEARCH ..." line, split into arguments by the real
 * command parser (imapd/parser.c), its RETURN options parsed
 * (imap_return_parse, also SORT's) and then the keys into a key tree, which
 * is walked whole: every node has a known kind, nesting stays within
 * SEARCH_MAX_DEPTH, strings are NUL-terminated, and an error has a
 * reason. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "../../imapd/parser.h"
#include "../../imapd/searchkey.h"
#include "buf.h"

static size_t walk(const struct skey *k, unsigned depth)
{
	size_t n = 0;

	for (; k; k = k->next) {
		if (depth > SEARCH_MAX_DEPTH + 2 || k->op > K_SAVED)
			__builtin_trap();
		if ((k->op == K_TEXT && (!k->field || !k->str)) ||
		    (k->op == K_HEADER && (!k->hdr || !k->str)) ||
		    ((k->op == K_KEYWORD || k->op == K_UNKEYWORD || k->op == K_EMAILID ||
		      k->op == K_THREADID) &&
		     !k->str))
			__builtin_trap();
		if (k->str)
			(void)strlen(k->str);
		if ((k->op == K_NOT && !k->a) || (k->op == K_OR && (!k->a || !k->b)))
			__builtin_trap();
		n += 1 + walk(k->a, depth + 1) + walk(k->b, depth + 1);
	}
	return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct imap_parser_limits lim;
	struct imap_parser *p;
	struct buf line;
	size_t used = 0;

	buf_init(&line, size + 64);
	buf_puts(&line, "a SEARCH ");
	buf_append(&line, data, size);
	buf_puts(&line, "\r\n");
	imap_parser_limits_default(&lim);
	p = imap_parser_new(&lim);
	if (imap_parser_feed(p, line.data, line.len, &used) == IMAP_P_DONE) {
		const struct imap_cmd *c = imap_parser_cmd(p);
		const struct imap_arg *a = c->args;
		struct search_ret r;
		const char *rerr = NULL;
		struct skey_parse x;
		struct skey *k;

		/* RETURN (options) first, as SEARCH and SORT take it: a
		 * PARTIAL range is ordered and from 1, an error has a reason */
		if (imap_return_parse(&a, &r, &rerr) < 0) {
			if (!rerr)
				__builtin_trap();
			a = NULL;
		} else if ((r.opts & RET_PARTIAL) && (r.lo == 0 || r.lo > r.hi)) {
			__builtin_trap();
		} else if (r.given && !r.opts) {
			__builtin_trap();
		}
		k = a ? imap_skey_parse(a, &x) : NULL;
		if (a && !k && !x.err)
			__builtin_trap();
		walk(k, 0);
		imap_skey_free(k);
	}
	imap_parser_free(p);
	buf_free(&line);
	return 0;
}
