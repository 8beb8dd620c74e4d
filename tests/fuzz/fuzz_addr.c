/*
 * libFuzzer target for lib/mail/addr.c, the RFC 5322 address-list parser
 * every From:/To:/Cc: of a stored or submitted message goes through.  The
 * input is one header value.  Checks beyond "no crash, no overread": the
 * items hand over strings inside their bounds, a well-formed result's
 * count matches the mailboxes seen, a mailbox always has a local part,
 * and parsing again gives the same items (no hidden state).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "addr.h"

static void check(int cond)
{
	if (!cond)
		abort();
}

struct seen {
	size_t len; /* of the input */
	int mailboxes, items;
	uint32_t hash;
};

static uint32_t mix(uint32_t h, const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		h = (h ^ (unsigned char)s[i]) * 16777619u;
	return (h ^ (uint32_t)n) * 16777619u;
}

static int on_item(void *arg, const struct addr_item *it)
{
	struct seen *s = arg;

	s->items++;
	/* no part is longer than the value itself */
	check(it->name_len <= s->len && it->comment_len <= s->len && it->route_len <= s->len &&
	      it->local_len <= s->len && it->domain_len <= s->len);
	check(it->name || it->name_len == 0);
	check(it->domain || it->domain_len == 0);
	s->hash = mix(s->hash, it->name ? it->name : "", it->name_len);
	s->hash = mix(s->hash, it->local ? it->local : "", it->local_len);
	s->hash = mix(s->hash, it->domain ? it->domain : "", it->domain_len);
	s->hash = mix(s->hash, (const char *)&it->bad, sizeof(it->bad));
	if (it->kind == ADDR_MAILBOX) {
		check(it->local != NULL);
		s->mailboxes++;
	}
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct seen a = {size, 0, 0, 2166136261u}, b = a;
	int r1 = addr_list_parse((const char *)data, size, on_item, &a);
	int r2 = addr_list_parse((const char *)data, size, on_item, &b);

	check(r1 == r2 && a.hash == b.hash && a.items == b.items);
	check(r1 >= ADDR_NOMEM);
	if (r1 >= 0)
		check(r1 == a.mailboxes);
	check(a.items <= ADDR_MAX_ITEMS);
	return 0;
}
