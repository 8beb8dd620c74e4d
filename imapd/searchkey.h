#ifndef LOFT_IMAPD_SEARCHKEY_H
#define LOFT_IMAPD_SEARCHKEY_H
/*
 * SEARCH keys: the tree searchkey.c parses from a SEARCH command's
 * arguments and search.c resolves (text keys through the store's index,
 * sequence sets against the view) and evaluates per message.
 */
#include <stddef.h>
#include <stdint.h>

#include "parser.h"
#include "seqset.h"

#define SEARCH_MAX_DEPTH 32 /* keys nested in lists, NOT and OR */

enum sop {
	K_ALL,
	K_AND, /* children a..(next) */
	K_OR,
	K_NOT,
	K_FLAG,	  /* flag set */
	K_UNFLAG, /* flag not set */
	K_KEYWORD,
	K_UNKEYWORD,
	K_NEW,
	K_OLD,
	K_RECENT,
	K_LARGER,
	K_SMALLER,
	K_BEFORE,
	K_ON,
	K_SINCE,
	K_SENTBEFORE,
	K_SENTON,
	K_SENTSINCE,
	K_SEQ,
	K_UID,
	K_TEXT,	  /* FTS result in uids */
	K_HEADER, /* any other header: per message */
	K_MODSEQ,
	K_SAVEDBEFORE, /* RFC 8514 */
	K_SAVEDON,
	K_SAVEDSINCE,
	K_SAVEDATESUPPORTED,
	K_EMAILID, /* RFC 8474 */
	K_THREADID,
	K_SAVED, /* "$", RFC 5182: search.c fills uids */
};

struct skey {
	enum sop op;
	struct skey *a, *b, *next;
	const char *str, *hdr; /* point into the command's arguments */
	const char *field;     /* K_TEXT: the store's search field */
	uint64_t num;
	int64_t day;
	unsigned flag;
	struct seqset set;
	uint32_t *uids;
	size_t nuids, capuids;
};

struct skey_parse {
	const char *err; /* why parsing failed */
	int used_modseq; /* a MODSEQ key was seen (CONDSTORE) */
};

/* Parses the keys a[...] (to the end of their list) into an AND node.
 * Returns the tree (free with imap_skey_free), or NULL with x->err set.
 * The tree points into the arguments: use it while they live. */
struct skey *imap_skey_parse(const struct imap_arg *a, struct skey_parse *x);
/* Frees a tree; NULL is fine. */
void imap_skey_free(struct skey *k);

/* RETURN options of SEARCH and SORT: ESEARCH (RFC 4731), ESORT (RFC
 * 5267), SAVE (SEARCHRES, RFC 5182). */
#define RET_MIN	  1u
#define RET_MAX	  2u
#define RET_COUNT 4u
#define RET_ALL	  8u
#define RET_SAVE  16u
/* CONTEXT=SEARCH (RFC 5267 4.1) */
#define RET_CONTEXT 32u	 /* a hint; nothing to do */
#define RET_UPDATE  64u	 /* keep the search and report its changes */
#define RET_PARTIAL 128u /* only the results at positions lo..hi */

struct search_ret {
	int given;	 /* RETURN was there: the answer is "* ESEARCH" */
	unsigned opts;	 /* RET_*; RETURN () is RET_ALL */
	uint32_t lo, hi; /* RET_PARTIAL: 1 <= lo <= hi */
};

/* If *a is "RETURN (options)", parses the options into *r and moves *a
 * past them; else leaves *a and clears *r.  The one parser of SEARCH's
 * and SORT's RETURN.  Returns 0, or -1 with *err (a BAD reply's text). */
int imap_return_parse(const struct imap_arg **a, struct search_ret *r, const char **err);
/* Whether the ESEARCH answer has nothing to say: SAVE alone returns no
 * response at all (RFC 5182 2.1). */
int imap_return_silent(const struct search_ret *r);

#endif
