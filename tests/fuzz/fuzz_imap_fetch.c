/* libFuzzer target for imapd/fetchitem.c, the FETCH attribute parser: the
 * input is the attribute part of "a FETCH 1 ...", split into arguments by
 * the real command parser (imapd/parser.c) and then parsed into items,
 * which are checked: at most IMAP_FETCH_MAX_ITEMS, each with a known kind,
 * a NUL-terminated label that fits, field lists within their bound, and a
 * partial range that is never empty. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "../../imapd/fetchitem.h"
#include "../../imapd/parser.h"
#include "buf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct imap_parser_limits lim;
	struct imap_parser *p;
	struct buf line;
	size_t used = 0;

	buf_init(&line, size + 64);
	buf_puts(&line, "a FETCH 1 ");
	buf_append(&line, data, size);
	buf_puts(&line, "\r\n");
	imap_parser_limits_default(&lim);
	p = imap_parser_new(&lim);
	if (imap_parser_feed(p, line.data, line.len, &used) == IMAP_P_DONE) {
		const struct imap_cmd *c = imap_parser_cmd(p);
		static struct imap_fitems fi;

		if (c->args && c->args->next && imap_fitems_parse(c->args->next, &fi) == 0) {
			if (fi.n == 0 || fi.n > IMAP_FETCH_MAX_ITEMS)
				__builtin_trap();
			for (size_t i = 0; i < fi.n; i++) {
				const struct fitem *it = &fi.item[i];

				if (it->kind > FK_THREADID || it->nfields > IMAP_FETCH_MAX_FIELDS ||
				    strnlen(it->label, sizeof(it->label)) == sizeof(it->label) ||
				    strnlen(it->part, sizeof(it->part)) == sizeof(it->part) ||
				    (it->partial && it->plen == 0))
					__builtin_trap();
				for (size_t f = 0; f < it->nfields; f++)
					if (!it->fields[f] || !it->fields[f][0])
						__builtin_trap();
			}
		}
		imap_fitems_free(&fi);
	}
	imap_parser_free(p);
	buf_free(&line);
	return 0;
}
