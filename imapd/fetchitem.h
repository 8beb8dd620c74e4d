#ifndef LOFT_IMAPD_FETCHITEM_H
#define LOFT_IMAPD_FETCHITEM_H
/*
 * FETCH attributes: what fetch.c is asked for, parsed from the command's
 * arguments by fetchitem.c.  Pure (no session, no store).
 */
#include <stddef.h>
#include <stdint.h>

#include "parser.h"

#define IMAP_FETCH_MAX_ITEMS  64 /* attributes in one FETCH */
#define IMAP_FETCH_MAX_FIELDS 64 /* names in HEADER.FIELDS (...) */

enum fkind {
	FK_UID,
	FK_FLAGS,
	FK_INTERNALDATE,
	FK_SIZE,
	FK_ENVELOPE,
	FK_BODYSTRUCTURE,
	FK_BODY,
	FK_SECTION, /* BODY[...], BODY.PEEK[...], BINARY[...], RFC822* */
	FK_BINSIZE,
	FK_MODSEQ,
	FK_SAVEDATE, /* RFC 8514 */
	FK_EMAILID,  /* RFC 8474 */
	FK_THREADID, /* RFC 8474 */
};

enum fspec { SP_ALL, SP_HEADER, SP_FIELDS, SP_FIELDS_NOT, SP_TEXT, SP_MIME };

struct fitem {
	enum fkind kind;
	int peek, binary;
	char part[64];
	enum fspec spec;
	char *fields[IMAP_FETCH_MAX_FIELDS];
	size_t nfields;
	int partial;
	uint64_t poff, plen;
	char label[256]; /* the name in the reply, before any <origin> */
};

struct imap_fitems {
	struct fitem item[IMAP_FETCH_MAX_ITEMS];
	size_t n;
};

/* Parses the attribute argument of FETCH (an atom, a macro ALL/FAST/FULL,
 * or a list of atoms) into fi, which must start empty.  Returns 0, or -1
 * for anything malformed (fi may hold items then: free it either way). */
int imap_fitems_parse(const struct imap_arg *a, struct imap_fitems *fi);
/* Frees what the items hold; fi is empty afterwards. */
void imap_fitems_free(struct imap_fitems *fi);

#endif
