/*
 * RFC 5322 address lists (section 3.4; obsolete forms of section 4.4).
 *
 * One pass over the value, one element (mailbox or group boundary) at a
 * time.  The words of an element are gathered in two forms at once: the
 * display form (quoted strings unquoted, a space where CFWS was) that a
 * display name needs, and the address form (no CFWS at all) that an
 * addr-spec with obsolete CFWS around its dots needs; what ends the
 * element ('<', ':', ';', ',' or the end) says which form it was.  The
 * scratch buffers are sized from the value, whose every form is no longer
 * than the value itself, so appending never fails.
 */
#include "addr.h"

#include <stdlib.h>
#include <string.h>

struct ap {
	const char *p, *end;
	addr_fn fn;
	void *arg;
	/* scratch, each of the value's length + 1 */
	char *words, *spec, *comment, *name, *route;
	size_t nwords, nspec, ncomment, nname, nroute;
	int have_comment;
	size_t at;    /* offset of the last '@' in spec */
	int nat;      /* '@' seen in this phrase */
	int adjacent; /* two words with only CFWS between them */
	int bad;      /* this element's address is off */
	int list_bad; /* something outside any element was off */
	int count, items;
	int in_group;
};

static int is_wsp(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static int is_special(char c)
{
	return strchr("()<>[]:;@\\,.\"", c) != NULL;
}

static int is_ctl(char c)
{
	return ((unsigned char)c < 0x20 && !is_wsp(c)) || c == 0x7f;
}

/* Skips CFWS.  Returns 1 if anything was skipped.  The text of the
 * comment is kept (the last one of the element wins); an unclosed or
 * too deeply nested comment marks the element bad. */
static int skip_cfws(struct ap *a)
{
	const char *p = a->p;

	while (p < a->end) {
		if (is_wsp(*p)) {
			p++;
			continue;
		}
		if (*p != '(')
			break;
		size_t depth = 0;

		a->ncomment = 0;
		a->have_comment = 1;
		while (p < a->end) {
			if (*p == '\\' && p + 1 < a->end) {
				p++;
			} else if (*p == '(') {
				if (depth++ == 0) {
					p++;
					continue;
				}
				if (depth > ADDR_MAX_DEPTH)
					a->bad = 1;
			} else if (*p == ')' && --depth == 0) {
				p++;
				break;
			}
			a->comment[a->ncomment++] = *p++;
		}
		if (depth > 0)
			a->bad = 1; /* unclosed: it ran to the end */
	}
	if (p == a->p)
		return 0;
	a->p = p;
	return 1;
}

static void put2(struct ap *a, const char *s, size_t n)
{
	memcpy(a->words + a->nwords, s, n);
	a->nwords += n;
	memcpy(a->spec + a->nspec, s, n);
	a->nspec += n;
}

enum mode { M_TOP, M_ANGLE };

/* Reads words and specials up to one of the element's ends; returns that
 * character, or 0 at the end of the value.  In M_TOP the ends are
 * "<>:;,"; in M_ANGLE ">" (and "<;," which close an unclosed angle). */
static char phrase(struct ap *a, enum mode m)
{
	int first = 1, prev_word = 0;

	a->nwords = a->nspec = 0;
	a->nat = 0;
	a->adjacent = 0;
	for (;;) {
		int ws = skip_cfws(a);
		char c;

		if (a->p >= a->end)
			return 0;
		c = *a->p;
		if (c == '<' || c == '>' || c == ';' || c == ',' || (c == ':' && m == M_TOP))
			return c;
		if (ws && !first)
			a->words[a->nwords++] = ' ';
		first = 0;
		if (c == '"') {
			const char *p = a->p + 1;

			if (prev_word)
				a->adjacent = 1;
			while (p < a->end && *p != '"') {
				if (*p == '\\' && p + 1 < a->end)
					p++;
				a->words[a->nwords++] = *p;
				a->spec[a->nspec++] = *p;
				p++;
			}
			if (p < a->end)
				p++;
			else
				a->bad = 1;
			a->p = p;
			prev_word = 1;
		} else if (c == '[') {
			/* a domain literal, kept whole */
			const char *p = a->p;

			while (p < a->end && *p != ']') {
				if (*p == '\\' && p + 1 < a->end)
					p++;
				if (is_ctl(*p))
					a->bad = 1;
				p++;
			}
			if (p < a->end)
				p++;
			else
				a->bad = 1;
			if (prev_word)
				a->adjacent = 1;
			put2(a, a->p, (size_t)(p - a->p));
			a->p = p;
			prev_word = 1;
		} else if (is_special(c)) {
			if (c == '@') {
				a->at = a->nspec;
				a->nat++;
			} else if (c != '.') {
				/* ':' in an angle, ']', '\\', ')': taken as text */
				a->bad = 1;
			}
			put2(a, a->p, 1);
			a->p++;
			prev_word = 0;
		} else {
			const char *p = a->p;

			while (p < a->end && !is_wsp(*p) && !is_special(*p)) {
				if (is_ctl(*p))
					a->bad = 1;
				p++;
			}
			if (prev_word)
				a->adjacent = 1;
			put2(a, a->p, (size_t)(p - a->p));
			a->p = p;
			prev_word = 1;
		}
	}
}

static int emit(struct ap *a, struct addr_item *it)
{
	if (++a->items > ADDR_MAX_ITEMS)
		return ADDR_LIMIT;
	if (it->kind == ADDR_MAILBOX)
		a->count++;
	if (it->bad)
		a->list_bad = 1;
	if (a->fn && a->fn(a->arg, it) != 0)
		return ADDR_STOPPED;
	return 0;
}

/* Hands over the mailbox whose address phrase() just read. */
static int emit_mailbox(struct ap *a, int has_name)
{
	struct addr_item it = {.kind = ADDR_MAILBOX, .bad = a->bad};

	if (has_name) {
		it.name = a->name;
		it.name_len = a->nname;
	}
	if (a->have_comment) {
		it.comment = a->comment;
		it.comment_len = a->ncomment;
	}
	if (a->nroute) {
		it.route = a->route;
		it.route_len = a->nroute;
	}
	if (a->nat == 0) {
		/* no '@': a name without an address, "<>", or a bare word */
		it.local = a->nwords ? a->words : a->spec;
		it.local_len = a->nwords ? a->nwords : a->nspec;
		it.bad = 1;
	} else {
		it.local = a->spec;
		it.local_len = a->at;
		if (a->at + 1 < a->nspec) {
			it.domain = a->spec + a->at + 1;
			it.domain_len = a->nspec - a->at - 1;
		}
		if (a->nat > 1 || it.local_len == 0 || !it.domain || a->adjacent)
			it.bad = 1;
	}
	return emit(a, &it);
}

/* After a '>': only CFWS may come before the next ',' (or ';' in a
 * group).  Anything else is skipped, quoted strings and comments as
 * wholes, and marks the mailbox bad. */
static void skip_to_separator(struct ap *a)
{
	skip_cfws(a);
	while (a->p < a->end && *a->p != ',' && !(a->in_group && *a->p == ';')) {
		a->bad = 1;
		if (*a->p == '"') {
			a->p++;
			while (a->p < a->end && *a->p != '"') {
				if (*a->p == '\\' && a->p + 1 < a->end)
					a->p++;
				a->p++;
			}
		}
		if (a->p < a->end)
			a->p++;
		skip_cfws(a);
	}
}

/* "<" [obs-route] addr-spec ">", a->p on the '<'. */
static int angle_addr(struct ap *a)
{
	char stop;

	a->p++;
	skip_cfws(a);
	if (a->p < a->end && *a->p == '@') {
		/* obsolete route "@a,@b:" before the addr-spec */
		const char *r = a->p, *gt = memchr(r, '>', (size_t)(a->end - r));
		const char *colon = memchr(r, ':', (size_t)((gt ? gt : a->end) - r));

		if (colon) {
			for (const char *q = r; q < colon; q++)
				if (!is_wsp(*q))
					a->route[a->nroute++] = *q;
			a->p = colon + 1;
		}
	}
	stop = phrase(a, M_ANGLE);
	if (stop == '>')
		a->p++;
	else
		a->bad = 1; /* unclosed */
	if (stop == '>' || stop == '<')
		skip_to_separator(a);
	return emit_mailbox(a, a->nname > 0);
}

static void element_reset(struct ap *a)
{
	a->bad = 0;
	a->have_comment = 0;
	a->ncomment = a->nname = a->nroute = 0;
}

static int parse(struct ap *a)
{
	while (a->p < a->end) {
		char stop;
		int rc = 0;

		element_reset(a);
		stop = phrase(a, M_TOP);
		if (stop == '<') {
			/* the display name survives the address's phrase() */
			memcpy(a->name, a->words, a->nwords);
			a->nname = a->nwords;
			/* a phrase's oddities ('@' in a name) do not make the
			 * address unreadable */
			a->bad = 0;
			rc = angle_addr(a);
		} else if (stop == ':') {
			struct addr_item it = {.kind = ADDR_GROUP};

			it.name = a->words;
			it.name_len = a->nwords;
			/* a nested group, or a group with no name */
			it.bad = a->in_group || a->nwords == 0 || a->nat > 0;
			a->in_group = 1;
			a->p++;
			rc = emit(a, &it);
		} else {
			/* an addr-spec up to ',' ';' '>' or the end; nothing
			 * at all is an empty element (",,"), allowed */
			if (a->nspec || a->nwords)
				rc = emit_mailbox(a, 0);
			else if (a->bad)
				a->list_bad = 1; /* a lone unclosed comment */
			if (rc == 0 && stop == ';') {
				if (a->in_group) {
					struct addr_item it = {.kind = ADDR_GROUP_END};

					a->in_group = 0;
					rc = emit(a, &it);
				} else {
					a->list_bad = 1; /* ';' with no group */
				}
			} else if (stop == '>') {
				a->list_bad = 1; /* '>' with no '<' */
			}
			if (stop)
				a->p++;
		}
		if (rc < 0)
			return rc;
	}
	if (a->in_group) {
		struct addr_item it = {.kind = ADDR_GROUP_END, .bad = 1};
		int rc;

		a->in_group = 0;
		if ((rc = emit(a, &it)) < 0)
			return rc;
	}
	return a->list_bad ? ADDR_MALFORMED : a->count;
}

int addr_list_parse(const char *value, size_t len, addr_fn fn, void *arg)
{
	struct ap a;
	char *scratch;
	int rc;

	if (len > ADDR_MAX_INPUT)
		return ADDR_LIMIT;
	/* five forms, each at most the value's length (a space stands for
	 * at least one byte of CFWS, quotes and escapes only shrink) */
	scratch = malloc(5 * (len + 1));
	if (!scratch)
		return ADDR_NOMEM;
	memset(&a, 0, sizeof(a));
	a.p = value;
	a.end = value + len;
	a.fn = fn;
	a.arg = arg;
	a.words = scratch;
	a.spec = a.words + len + 1;
	a.comment = a.spec + len + 1;
	a.name = a.comment + len + 1;
	a.route = a.name + len + 1;
	rc = parse(&a);
	free(scratch);
	return rc;
}
