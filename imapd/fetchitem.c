/*
 * The FETCH attribute parser (RFC 3501 6.4.5, RFC 3516 BINARY, RFC 7162
 * MODSEQ): the attribute argument of FETCH, already split by the command
 * parser, into a list of items with their sections, header field lists
 * and partial ranges.  Pure: it touches no session or store, so the unit
 * tests and a fuzz target (tests/fuzz/fuzz_imap_fetch.c) run it alone.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "fetchitem.h"
#include "log.h"
#include "strnum.h"

static void fitem_free(struct fitem *it)
{
	for (size_t i = 0; i < it->nfields; i++)
		free(it->fields[i]);
	it->nfields = 0;
}

/* Parses "(From To)" or "(\"From\")" in a section into it->fields.
 * Returns the bytes used or -1. */
static int parse_fields(const char *p, struct fitem *it)
{
	const char *start = p;

	if (*p != '(')
		return -1;
	p++;
	for (;;) {
		char name[128];
		size_t n = 0;
		while (*p == ' ')
			p++;
		if (*p == ')')
			break;
		int quoted = *p == '"';
		if (quoted)
			p++;
		while (*p && *p != ')' && (quoted ? *p != '"' : *p != ' ')) {
			if ((unsigned char)*p <= 0x20 || *p == ':' || n + 1 >= sizeof(name))
				return -1;
			name[n++] = *p++;
		}
		if (quoted) {
			if (*p != '"')
				return -1;
			p++;
		}
		if (n == 0 || it->nfields == IMAP_FETCH_MAX_FIELDS)
			return -1;
		name[n] = '\0';
		it->fields[it->nfields] = strdup(name);
		if (!it->fields[it->nfields])
			bug("out of memory");
		it->nfields++;
	}
	if (it->nfields == 0)
		return -1;
	return (int)(p + 1 - start);
}

/* Parses the inside of "[...]" (sec, up to ']') into it.  Returns 0/-1. */
static int parse_section(const char *sec, size_t len, struct fitem *it, int binary)
{
	size_t i = 0, pl = 0;
	char spec[32];

	/* part number: digits separated by dots, each non-zero */
	while (i < len && sec[i] >= '1' && sec[i] <= '9') {
		while (i < len && sec[i] >= '0' && sec[i] <= '9') {
			if (pl + 2 >= sizeof(it->part))
				return -1;
			it->part[pl++] = sec[i++];
		}
		it->part[pl] = '\0';
		if (i < len && sec[i] == '.') {
			i++;
			if (i < len && sec[i] >= '1' && sec[i] <= '9')
				it->part[pl++] = '.';
		} else {
			break;
		}
	}
	it->part[pl] = '\0';
	if (i > 0 && sec[i - 1] != '.' && i < len)
		return -1; /* "1X" */
	size_t k = 0;
	while (i < len && sec[i] != ' ' && sec[i] != '(' && k + 1 < sizeof(spec))
		spec[k++] = (char)(sec[i] >= 'a' && sec[i] <= 'z' ? sec[i++] - 32 : sec[i++]);
	spec[k] = '\0';
	if (binary) {
		return k == 0 && i == len ? 0 : -1;
	}
	if (k == 0) {
		it->spec = SP_ALL;
	} else if (strcmp(spec, "HEADER") == 0) {
		it->spec = SP_HEADER;
	} else if (strcmp(spec, "TEXT") == 0) {
		it->spec = SP_TEXT;
	} else if (strcmp(spec, "MIME") == 0 && pl > 0) {
		it->spec = SP_MIME;
	} else if (strcmp(spec, "HEADER.FIELDS") == 0 || strcmp(spec, "HEADER.FIELDS.NOT") == 0) {
		it->spec = spec[13] ? SP_FIELDS_NOT : SP_FIELDS;
		if (i >= len || sec[i] != ' ')
			return -1;
		i++;
		int n = parse_fields(sec + i, it);
		if (n < 0)
			return -1;
		i += (size_t)n;
	} else {
		return -1;
	}
	return i == len ? 0 : -1;
}

static int starts(const char *s, const char *prefix)
{
	return strncasecmp(s, prefix, strlen(prefix)) == 0;
}

/* Parses one fetch attribute atom.  Returns 0 or -1. */
static int parse_item(const char *a, struct fitem *it)
{
	const char *open;
	int binary = 0;

	memset(it, 0, sizeof(*it));
	static const struct {
		const char *name;
		enum fkind kind;
	} simple[] = {{"UID", FK_UID},
		      {"FLAGS", FK_FLAGS},
		      {"INTERNALDATE", FK_INTERNALDATE},
		      {"RFC822.SIZE", FK_SIZE},
		      {"ENVELOPE", FK_ENVELOPE},
		      {"BODYSTRUCTURE", FK_BODYSTRUCTURE},
		      {"BODY", FK_BODY},
		      {"MODSEQ", FK_MODSEQ},
		      {"SAVEDATE", FK_SAVEDATE},
		      {"EMAILID", FK_EMAILID},
		      {"THREADID", FK_THREADID}};
	for (size_t i = 0; i < sizeof(simple) / sizeof(simple[0]); i++) {
		if (strcasecmp(a, simple[i].name) == 0) {
			it->kind = simple[i].kind;
			snprintf(it->label, sizeof(it->label), "%s", simple[i].name);
			return 0;
		}
	}
	it->kind = FK_SECTION;
	if (strcasecmp(a, "RFC822") == 0) {
		snprintf(it->label, sizeof(it->label), "RFC822");
		return 0;
	}
	if (strcasecmp(a, "RFC822.HEADER") == 0) {
		it->spec = SP_HEADER;
		it->peek = 1;
		snprintf(it->label, sizeof(it->label), "RFC822.HEADER");
		return 0;
	}
	if (strcasecmp(a, "RFC822.TEXT") == 0) {
		it->spec = SP_TEXT;
		snprintf(it->label, sizeof(it->label), "RFC822.TEXT");
		return 0;
	}
	if (starts(a, "BODY.PEEK[")) {
		it->peek = 1;
		open = a + 9;
	} else if (starts(a, "BODY[")) {
		open = a + 4;
	} else if (starts(a, "BINARY.PEEK[")) {
		it->peek = binary = 1;
		open = a + 11;
	} else if (starts(a, "BINARY[")) {
		binary = 1;
		open = a + 6;
	} else if (starts(a, "BINARY.SIZE[")) {
		it->kind = FK_BINSIZE;
		binary = 1;
		open = a + 11;
	} else {
		return -1;
	}
	it->binary = binary;
	const char *close = strchr(open, ']');
	if (!close || parse_section(open + 1, (size_t)(close - open - 1), it, binary) < 0)
		return -1;
	/* the reply names the section as asked, upper-cased */
	size_t ll = 0;
	const char *base = it->kind == FK_BINSIZE ? "BINARY.SIZE" : binary ? "BINARY" : "BODY";
	int n = snprintf(it->label, sizeof(it->label), "%s[", base);
	if (n < 0 || (size_t)n >= sizeof(it->label))
		return -1;
	ll = (size_t)n;
	for (const char *p = open + 1; p < close; p++) {
		if (ll + 3 >= sizeof(it->label))
			return -1;
		it->label[ll++] = (char)(*p >= 'a' && *p <= 'z' && it->nfields == 0 ? *p - 32 : *p);
	}
	it->label[ll++] = ']';
	it->label[ll] = '\0';
	const char *rest = close + 1;
	if (*rest == '<') {
		const char *dot = strchr(rest, '.'), *gt = strchr(rest, '>');
		if (it->kind == FK_BINSIZE || !dot || !gt || dot > gt || gt[1] != '\0' ||
		    strnum_u64n(rest + 1, (size_t)(dot - rest - 1), UINT32_MAX, &it->poff) < 0 ||
		    strnum_u64n(dot + 1, (size_t)(gt - dot - 1), UINT32_MAX, &it->plen) < 0 ||
		    it->plen == 0)
			return -1;
		it->partial = 1;
	} else if (*rest) {
		return -1;
	}
	return 0;
}

static int add_macro(struct imap_fitems *fi, const char *const *names)
{
	for (; *names; names++)
		if (parse_item(*names, &fi->item[fi->n++]) < 0)
			return -1;
	return 0;
}

int imap_fitems_parse(const struct imap_arg *a, struct imap_fitems *fi)
{
	static const char *const all[] = {"FLAGS", "INTERNALDATE", "RFC822.SIZE", "ENVELOPE", NULL};
	static const char *const fast[] = {"FLAGS", "INTERNALDATE", "RFC822.SIZE", NULL};
	static const char *const full[] = {"FLAGS",    "INTERNALDATE", "RFC822.SIZE",
					   "ENVELOPE", "BODY",	       NULL};

	if (imap_arg_is(a, "ALL"))
		return add_macro(fi, all);
	if (imap_arg_is(a, "FAST"))
		return add_macro(fi, fast);
	if (imap_arg_is(a, "FULL"))
		return add_macro(fi, full);
	const struct imap_arg *l = a->type == IMAP_ARG_LIST ? a->child : a;
	if (!l)
		return -1;
	for (; l; l = a->type == IMAP_ARG_LIST ? l->next : NULL) {
		if (l->type != IMAP_ARG_ATOM || fi->n == IMAP_FETCH_MAX_ITEMS)
			return -1;
		if (parse_item(l->str, &fi->item[fi->n]) < 0) {
			fitem_free(&fi->item[fi->n]);
			return -1;
		}
		fi->n++;
	}
	return 0;
}

void imap_fitems_free(struct imap_fitems *fi)
{
	for (size_t i = 0; i < fi->n; i++)
		fitem_free(&fi->item[i]);
	fi->n = 0;
}
