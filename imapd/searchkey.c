/*
 * The SEARCH key parser (RFC 3501 6.4.4, RFC 7162 MODSEQ): the keys of a
 * SEARCH command, already split by the command parser, into a tree of
 * keys.  Pure: it touches no session or store (text keys name their
 * search field, sequence sets stay unresolved), so the unit tests and a
 * fuzz target (tests/fuzz/fuzz_imap_search.c) run it alone; search.c
 * resolves and evaluates the tree.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "imapdate.h"
#include "log.h"
#include "searchkey.h"
#include "store_mailbox.h"
#include "strnum.h"

void imap_skey_free(struct skey *k)
{
	while (k) {
		struct skey *next = k->next;
		imap_skey_free(k->a);
		imap_skey_free(k->b);
		seqset_free(&k->set);
		free(k->uids);
		free(k);
		k = next;
	}
}

static struct skey *skey_new(enum sop op)
{
	struct skey *k = calloc(1, sizeof(*k));

	if (!k)
		bug("out of memory");
	k->op = op;
	return k;
}

static int need_string(struct skey_parse *x, const struct imap_arg *a)
{
	if (!imap_arg_astring(a)) {
		x->err = "missing search string";
		return 0;
	}
	return 1;
}

static struct skey *parse_key(struct skey_parse *x, const struct imap_arg **pa, unsigned depth);

/* Parses keys from *pa to the end of its list into an AND node. */
static struct skey *parse_list(struct skey_parse *x, const struct imap_arg *a, unsigned depth)
{
	struct skey *and = skey_new(K_AND), **tail = &and->a;

	while (a) {
		struct skey *k = parse_key(x, &a, depth);
		if (!k) {
			imap_skey_free(and);
			return NULL;
		}
		*tail = k;
		tail = &k->next;
	}
	return and;
}

static struct skey *parse_key(struct skey_parse *x, const struct imap_arg **pa, unsigned depth)
{
	const struct imap_arg *a = *pa, *arg = a->next;
	struct skey *k = NULL;
	int64_t day;
	static const struct {
		const char *name;
		enum sop op;
		unsigned flag;
	} simple[] = {
	    {"ALL", K_ALL, 0},
	    {"ANSWERED", K_FLAG, STORE_F_ANSWERED},
	    {"DELETED", K_FLAG, STORE_F_DELETED},
	    {"DRAFT", K_FLAG, STORE_F_DRAFT},
	    {"FLAGGED", K_FLAG, STORE_F_FLAGGED},
	    {"SEEN", K_FLAG, STORE_F_SEEN},
	    {"UNANSWERED", K_UNFLAG, STORE_F_ANSWERED},
	    {"UNDELETED", K_UNFLAG, STORE_F_DELETED},
	    {"UNDRAFT", K_UNFLAG, STORE_F_DRAFT},
	    {"UNFLAGGED", K_UNFLAG, STORE_F_FLAGGED},
	    {"UNSEEN", K_UNFLAG, STORE_F_SEEN},
	    {"NEW", K_NEW, 0},
	    {"OLD", K_OLD, 0},
	    {"RECENT", K_RECENT, 0},
	};
	static const struct {
		const char *name;
		const char *field;
	} texts[] = {{"TEXT", "text"}, {"BODY", "body"}, {"SUBJECT", "subject"}, {"FROM", "from"},
		     {"TO", "to"},     {"CC", "cc"},	 {"BCC", "bcc"}};
	static const struct {
		const char *name;
		enum sop op;
	} dates[] = {
	    {"BEFORE", K_BEFORE},	    {"ON", K_ON},	    {"SINCE", K_SINCE},
	    {"SENTBEFORE", K_SENTBEFORE},   {"SENTON", K_SENTON},   {"SENTSINCE", K_SENTSINCE},
	    {"SAVEDBEFORE", K_SAVEDBEFORE}, {"SAVEDON", K_SAVEDON}, {"SAVEDSINCE", K_SAVEDSINCE}};

	if (depth > SEARCH_MAX_DEPTH) {
		x->err = "search keys nested too deeply";
		return NULL;
	}
	*pa = a->next;
	if (a->type == IMAP_ARG_LIST) {
		if (!a->child) {
			x->err = "empty search list";
			return NULL;
		}
		return parse_list(x, a->child, depth + 1);
	}
	if (a->type != IMAP_ARG_ATOM) {
		x->err = "search key expected";
		return NULL;
	}
	for (size_t i = 0; i < sizeof(simple) / sizeof(simple[0]); i++) {
		if (imap_arg_is(a, simple[i].name)) {
			k = skey_new(simple[i].op);
			k->flag = simple[i].flag;
			return k;
		}
	}
	for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
		if (imap_arg_is(a, texts[i].name)) {
			if (!need_string(x, arg))
				return NULL;
			*pa = arg->next;
			k = skey_new(K_TEXT);
			k->field = texts[i].field;
			k->str = arg->str;
			return k;
		}
	}
	for (size_t i = 0; i < sizeof(dates) / sizeof(dates[0]); i++) {
		if (imap_arg_is(a, dates[i].name)) {
			if (!need_string(x, arg) || imapdate_parse_date(arg->str, &day) < 0) {
				x->err = "invalid date";
				return NULL;
			}
			*pa = arg->next;
			k = skey_new(dates[i].op);
			k->day = day;
			return k;
		}
	}
	if (strcmp(a->str, "$") == 0)
		return skey_new(K_SAVED);
	if (imap_arg_is(a, "SAVEDATESUPPORTED"))
		return skey_new(K_SAVEDATESUPPORTED);
	if (imap_arg_is(a, "EMAILID") || imap_arg_is(a, "THREADID")) {
		/* RFC 8474 6: objectid = 1*255(ALPHA / DIGIT / "_" / "-") */
		if (!arg || arg->type != IMAP_ARG_ATOM || arg->len == 0 || arg->len > 255 ||
		    strspn(arg->str, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
				     "0123456789_-") != arg->len) {
			x->err = "object id expected";
			return NULL;
		}
		*pa = arg->next;
		k = skey_new(imap_arg_is(a, "EMAILID") ? K_EMAILID : K_THREADID);
		k->str = arg->str;
		return k;
	}
	if (imap_arg_is(a, "KEYWORD") || imap_arg_is(a, "UNKEYWORD")) {
		if (!arg || arg->type != IMAP_ARG_ATOM) {
			x->err = "keyword expected";
			return NULL;
		}
		*pa = arg->next;
		k = skey_new(imap_arg_is(a, "KEYWORD") ? K_KEYWORD : K_UNKEYWORD);
		k->str = arg->str;
		return k;
	}
	if (imap_arg_is(a, "LARGER") || imap_arg_is(a, "SMALLER") || imap_arg_is(a, "MODSEQ")) {
		const struct imap_arg *v = arg;
		if (imap_arg_is(a, "MODSEQ") && v && v->type == IMAP_ARG_QUOTED) {
			/* entry-name entry-type-req: accepted, all flags count */
			if (!v->next || !v->next->next) {
				x->err = "bad MODSEQ";
				return NULL;
			}
			v = v->next->next;
		}
		uint64_t num;
		if (!v || v->type != IMAP_ARG_ATOM || strnum_u64(v->str, UINT64_MAX, &num) < 0) {
			x->err = "number expected";
			return NULL;
		}
		k = skey_new(imap_arg_is(a, "LARGER")	 ? K_LARGER
			     : imap_arg_is(a, "SMALLER") ? K_SMALLER
							 : K_MODSEQ);
		k->num = num;
		if (k->op == K_MODSEQ)
			x->used_modseq = 1;
		*pa = v->next;
		return k;
	}
	if (imap_arg_is(a, "HEADER")) {
		if (!need_string(x, arg) || !need_string(x, arg->next))
			return NULL;
		*pa = arg->next->next;
		k = skey_new(K_HEADER);
		static const char *const indexed[] = {"subject", "from", "to", "cc", "bcc"};
		for (size_t i = 0; i < 5; i++) {
			if (strcasecmp(arg->str, indexed[i]) == 0 && arg->next->len > 0) {
				/* an indexed field: answered by the search index */
				k->op = K_TEXT;
				k->field = indexed[i];
				k->str = arg->next->str;
				return k;
			}
		}
		k->hdr = arg->str;
		k->str = arg->next->str;
		return k;
	}
	if (imap_arg_is(a, "NOT")) {
		if (!arg) {
			x->err = "NOT needs a key";
			return NULL;
		}
		k = skey_new(K_NOT);
		if (!(k->a = parse_key(x, pa, depth + 1))) {
			imap_skey_free(k);
			return NULL;
		}
		return k;
	}
	if (imap_arg_is(a, "OR")) {
		if (!arg || !arg->next) {
			x->err = "OR needs two keys";
			return NULL;
		}
		k = skey_new(K_OR);
		if (!(k->a = parse_key(x, pa, depth + 1)) || !*pa ||
		    !(k->b = parse_key(x, pa, depth + 1))) {
			if (!x->err)
				x->err = "OR needs two keys";
			imap_skey_free(k);
			return NULL;
		}
		return k;
	}
	if (imap_arg_is(a, "UID")) {
		if (!arg || arg->type != IMAP_ARG_ATOM) {
			x->err = "UID set expected";
			return NULL;
		}
		*pa = arg->next;
		if (strcmp(arg->str, "$") == 0)
			return skey_new(K_SAVED); /* UID $: the saved result too */
		k = skey_new(K_UID);
		if (seqset_parse(arg->str, &k->set) < 0) {
			imap_skey_free(k);
			x->err = "invalid UID set";
			return NULL;
		}
		*pa = arg->next;
		return k;
	}
	/* a sequence set */
	k = skey_new(K_SEQ);
	if (seqset_parse(a->str, &k->set) < 0) {
		imap_skey_free(k);
		x->err = "unknown search key";
		return NULL;
	}
	return k;
}

struct skey *imap_skey_parse(const struct imap_arg *a, struct skey_parse *x)
{
	x->err = NULL;
	x->used_modseq = 0;
	return parse_list(x, a, 0);
}

int imap_return_parse(const struct imap_arg **pa, struct search_ret *r, const char **err)
{
	static const struct {
		const char *name;
		unsigned bit;
	} opts[] = {{"MIN", RET_MIN},	    {"MAX", RET_MAX},	     {"COUNT", RET_COUNT},
		    {"ALL", RET_ALL},	    {"SAVE", RET_SAVE},	     {"CONTEXT", RET_CONTEXT},
		    {"UPDATE", RET_UPDATE}, {"PARTIAL", RET_PARTIAL}};
	const struct imap_arg *a = *pa;

	memset(r, 0, sizeof(*r));
	if (!a || !imap_arg_is(a, "RETURN"))
		return 0;
	if (!a->next || a->next->type != IMAP_ARG_LIST) {
		*err = "RETURN (options)";
		return -1;
	}
	r->given = 1;
	for (const struct imap_arg *o = a->next->child; o; o = o->next) {
		size_t i;

		for (i = 0; i < sizeof(opts) / sizeof(opts[0]); i++)
			if (imap_arg_is(o, opts[i].name))
				break;
		if (i == sizeof(opts) / sizeof(opts[0])) {
			*err = "Unknown RETURN option";
			return -1;
		}
		if ((r->opts & opts[i].bit) && (opts[i].bit & (RET_UPDATE | RET_PARTIAL))) {
			*err = "RETURN option given twice";
			return -1;
		}
		r->opts |= opts[i].bit;
		if (opts[i].bit == RET_PARTIAL) {
			/* PARTIAL lo:hi, positions from 1 (RFC 5267 4.4) */
			uint64_t lo, hi;
			const char *colon;

			o = o->next;
			colon = o && o->type == IMAP_ARG_ATOM ? strchr(o->str, ':') : NULL;
			if (!colon ||
			    strnum_u64n(o->str, (size_t)(colon - o->str), UINT32_MAX, &lo) < 0 ||
			    strnum_u64n(colon + 1, strlen(colon + 1), UINT32_MAX, &hi) < 0 ||
			    lo == 0 || hi == 0) {
				*err = "PARTIAL low:high";
				return -1;
			}
			r->lo = (uint32_t)(lo < hi ? lo : hi);
			r->hi = (uint32_t)(lo < hi ? hi : lo);
		}
	}
	if ((r->opts & RET_PARTIAL) && (r->opts & RET_ALL)) {
		*err = "PARTIAL and ALL together";
		return -1;
	}
	/* RFC 4731 3.1: RETURN () is ALL; RFC 5182 2.1: SAVE alone is not;
	 * CONTEXT and UPDATE ask for no result (RFC 5267 4.1) */
	if (!(r->opts &
	      (RET_MIN | RET_MAX | RET_COUNT | RET_ALL | RET_SAVE | RET_PARTIAL | RET_UPDATE)))
		r->opts |= RET_ALL;
	*pa = a->next->next;
	return 0;
}

int imap_return_silent(const struct search_ret *r)
{
	return r->given && r->opts == RET_SAVE;
}
