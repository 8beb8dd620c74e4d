/*
 * RFC 6857 downgrade of a header block (see downgrade.h).  Each field is
 * looked at alone; one without 8-bit bytes is copied as it is, one with
 * them is unfolded, rewritten as 7-bit tokens and folded again.
 */
#include "downgrade.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "addr.h"
#include "sasl.h"
#include "utf8.h"

#define FOLD_AT	  76 /* fold before a token that would pass this column */
#define EW_OCTETS 45 /* text octets per encoded-word: 60 base64 + 12 = 72 */

/* Output with the column tracked, so long fields fold between tokens. */
struct dgw {
	struct buf *out;
	const char *eol;
	size_t col;
	int err;
};

static void put(struct dgw *w, const char *s, size_t n)
{
	if (buf_append(w->out, s, n) < 0)
		w->err = 1;
	w->col += n;
}

static void puts_(struct dgw *w, const char *s)
{
	put(w, s, strlen(s));
}

/* Writes sep then the token s[0..n); when the token would pass FOLD_AT
 * and sep ends in a space, that space becomes a fold (eol + space). */
static void tok(struct dgw *w, const char *sep, const char *s, size_t n)
{
	size_t sl = strlen(sep);

	if (sl && sep[sl - 1] == ' ' && w->col + sl + n > FOLD_AT && w->col > 1) {
		put(w, sep, sl - 1);
		puts_(w, w->eol);
		w->col = 0;
		put(w, " ", 1);
	} else {
		put(w, sep, sl);
	}
	put(w, s, n);
}

static int has_8bit(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] >= 0x80)
			return 1;
	return 0;
}

/* The length of the longest prefix of s[0..n) of at most max octets that
 * ends on a character boundary (at least one character). */
static size_t utf8_cut(const char *s, size_t n, size_t max)
{
	size_t k;

	if (n <= max)
		return n;
	k = max;
	while (k > 0 && ((unsigned char)s[k] & 0xC0) == 0x80)
		k--;
	if (k == 0) { /* one character longer than max: take it whole */
		k = 1;
		while (k < n && ((unsigned char)s[k] & 0xC0) == 0x80)
			k++;
	}
	return k;
}

/* Writes s[0..n) as encoded-words, the first after sep, the others after
 * a space (RFC 2047: white space between encoded-words is not text). */
static void encoded_words(struct dgw *w, const char *sep, const char *s, size_t n)
{
	char word[16 + 4 * EW_OCTETS];

	while (n > 0) {
		size_t k = utf8_cut(s, n, EW_OCTETS);
		char b64[4 * EW_OCTETS + 8];
		long bl = sasl_b64_encode(s, k, b64, sizeof(b64));
		int wl;

		if (bl < 0) {
			w->err = 1;
			return;
		}
		wl = snprintf(word, sizeof(word), "=?UTF-8?B?%s?=", b64);
		if (wl < 0 || (size_t)wl >= sizeof(word)) {
			w->err = 1;
			return;
		}
		tok(w, sep, word, (size_t)wl);
		sep = " ";
		s += k;
		n -= k;
	}
}

static int is_wsp(char c)
{
	return c == ' ' || c == '\t';
}

/* Unstructured text (RFC 5322 3.2.5, RFC 2047 5(1)): words stay, each run
 * of words with 8-bit bytes (the white space inside it included) becomes
 * encoded-words. */
static void unstructured(struct dgw *w, const char *sep, const char *v, size_t n)
{
	size_t i = 0;

	while (i < n) {
		size_t ws, we, rs, re;

		while (i < n && is_wsp(v[i]))
			i++;
		if (i == n)
			break;
		ws = i;
		while (i < n && !is_wsp(v[i]))
			i++;
		we = i;
		if (!has_8bit(v + ws, we - ws)) {
			tok(w, sep, v + ws, we - ws);
			sep = " ";
			continue;
		}
		/* extend the run over the following 8-bit words */
		rs = ws;
		re = we;
		for (;;) {
			size_t j = re, k;
			while (j < n && is_wsp(v[j]))
				j++;
			k = j;
			while (k < n && !is_wsp(v[k]))
				k++;
			if (j == n || !has_8bit(v + j, k - j))
				break;
			re = k;
		}
		encoded_words(w, sep, v + rs, re - rs);
		sep = " ";
		i = re;
	}
}

/* --- address fields ---------------------------------------------------------- */

static int is_atext(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       (c && strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL);
}

/* An RFC 5322 quoted-string of s[0..n). */
static void quoted(struct buf *b, const char *s, size_t n)
{
	buf_putc(b, '"');
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '"' || s[i] == '\\')
			buf_putc(b, '\\');
		if (s[i] != '\r' && s[i] != '\n')
			buf_putc(b, s[i]);
	}
	buf_putc(b, '"');
}

/* A display name or group name as a phrase: encoded-words when it has
 * 8-bit bytes, as it is when it is atoms (and encoded-words) and spaces,
 * else a quoted string. */
static void phrase(struct dgw *w, const char *sep, const char *s, size_t n)
{
	int atoms = 1;
	struct buf b;

	if (has_8bit(s, n)) {
		encoded_words(w, sep, s, n);
		return;
	}
	for (size_t i = 0; i < n && atoms; i++)
		atoms = is_atext(s[i]) || s[i] == ' ';
	if (atoms) {
		unstructured(w, sep, s, n); /* words, folding between them */
		return;
	}
	buf_init(&b, 4 * n + 8);
	quoted(&b, s, n);
	tok(w, sep, b.data ? b.data : "", b.len);
	buf_free(&b);
}

struct addr_ctx {
	struct dgw *w;
	const char *sep; /* before the next item */
	struct buf tmp;
};

/* A dot-atom, UTF-8 counting as atext (RFC 6532 3.2). */
static int dot_atom(const char *s, size_t n)
{
	if (n == 0 || s[0] == '.' || s[n - 1] == '.')
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!is_atext(s[i]) && (unsigned char)s[i] < 0x80 &&
		    !(s[i] == '.' && s[i - 1] != '.'))
			return 0;
	return 1;
}

/* local@domain as an addr-spec (the local part quoted when it must be). */
static void addr_spec(struct buf *b, const struct addr_item *it)
{
	if (dot_atom(it->local, it->local_len))
		buf_append(b, it->local, it->local_len);
	else
		quoted(b, it->local, it->local_len);
	if (it->domain) {
		buf_putc(b, '@');
		buf_append(b, it->domain, it->domain_len);
	}
}

static int addr_item_cb(void *arg, const struct addr_item *it)
{
	struct addr_ctx *x = arg;
	struct dgw *w = x->w;

	switch (it->kind) {
	case ADDR_GROUP:
		if (it->name && it->name_len)
			phrase(w, x->sep, it->name, it->name_len);
		else
			tok(w, x->sep, "", 0);
		put(w, ":", 1);
		x->sep = " ";
		break;
	case ADDR_GROUP_END:
		put(w, ";", 1);
		x->sep = ", ";
		break;
	case ADDR_MAILBOX: {
		int u8addr = has_8bit(it->local, it->local_len) ||
			     (it->domain && has_8bit(it->domain, it->domain_len));
		buf_reset(&x->tmp);
		if (u8addr) {
			/* RFC 6857 3.1.10: an address the client cannot use
			 * becomes the name of an empty group */
			addr_spec(&x->tmp, it);
			if (it->name && it->name_len) {
				phrase(w, x->sep, it->name, it->name_len);
				encoded_words(w, " ", x->tmp.data, x->tmp.len);
			} else {
				encoded_words(w, x->sep, x->tmp.data, x->tmp.len);
			}
			put(w, " :;", 3);
		} else if (it->name && it->name_len) {
			phrase(w, x->sep, it->name, it->name_len);
			buf_putc(&x->tmp, '<');
			addr_spec(&x->tmp, it);
			buf_putc(&x->tmp, '>');
			tok(w, " ", x->tmp.data, x->tmp.len);
		} else {
			addr_spec(&x->tmp, it);
			tok(w, x->sep, x->tmp.data, x->tmp.len);
		}
		x->sep = ", ";
		break;
	}
	}
	return w->err ? 1 : 0;
}

static void addresses(struct dgw *w, const char *v, size_t n)
{
	struct addr_ctx x = {.w = w, .sep = " "};

	buf_init(&x.tmp, 2 * ADDR_MAX_INPUT);
	if (addr_list_parse(v, n, addr_item_cb, &x) == ADDR_LIMIT)
		w->err = 1;
	buf_free(&x.tmp);
}

/* --- Content-Type / Content-Disposition parameters --------------------------- */

static void pct_encode(struct buf *b, const char *s, size_t n, int all_8bit_only)
{
	static const char hex[] = "0123456789ABCDEF";

	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		/* RFC 2231 attribute-char: a token char other than * ' % */
		int plain = c < 0x80 && c > 0x20 && c != 0x7f &&
			    (all_8bit_only || !strchr("*'%()<>@,;:\\\"/[]?=", c));
		if (plain) {
			buf_putc(b, (char)c);
		} else {
			buf_putc(b, '%');
			buf_putc(b, hex[c >> 4]);
			buf_putc(b, hex[c & 15]);
		}
	}
}

/* type/subtype; name=value; ... with every UTF-8 value made an RFC 2231
 * extended value. */
static void content_params(struct dgw *w, const char *v, size_t n)
{
	size_t i = 0;
	int first = 1;
	struct buf b;

	buf_init(&b, 4 * n + 64);
	while (i < n) {
		size_t s, e;
		int inq = 0;
		while (i < n && is_wsp(v[i]))
			i++;
		s = i;
		for (; i < n; i++) {
			if (inq && v[i] == '\\' && i + 1 < n) {
				i++;
				continue;
			}
			if (v[i] == '"')
				inq = !inq;
			else if (v[i] == ';' && !inq)
				break;
		}
		e = i;
		while (e > s && is_wsp(v[e - 1]))
			e--;
		if (i < n)
			i++; /* the ';' */
		buf_reset(&b);
		const char *eq = memchr(v + s, '=', e - s);
		if (!has_8bit(v + s, e - s)) {
			buf_append(&b, v + s, e - s);
		} else if (!eq) {
			/* 8-bit in the type or a broken parameter: no syntax
			 * carries it; its octets %-escaped, 7-bit junk */
			pct_encode(&b, v + s, e - s, 1);
		} else {
			size_t nl = (size_t)(eq - (v + s)), vl = e - s - nl - 1;
			const char *val = eq + 1;
			while (nl > 0 && is_wsp(v[s + nl - 1]))
				nl--;
			while (vl > 0 && is_wsp(*val))
				val++, vl--;
			pct_encode(&b, v + s, nl, 1); /* a name is a token */
			if (nl && v[s + nl - 1] == '*') {
				/* already extended: only the raw 8-bit octets */
				buf_putc(&b, '=');
				pct_encode(&b, val, vl, 1);
			} else {
				struct buf un;
				buf_init(&un, vl + 1);
				if (vl >= 2 && val[0] == '"' && val[vl - 1] == '"') {
					for (size_t k = 1; k + 1 < vl; k++) {
						if (val[k] == '\\' && k + 2 < vl)
							k++;
						buf_putc(&un, val[k]);
					}
				} else {
					buf_append(&un, val, vl);
				}
				buf_puts(&b, "*=utf-8''");
				pct_encode(&b, un.data ? un.data : "", un.len, 0);
				buf_free(&un);
			}
		}
		if (!first)
			put(w, ";", 1);
		if (b.len)
			tok(w, " ", b.data, b.len);
		first = 0;
	}
	buf_free(&b);
}

/* --- fields ------------------------------------------------------------------ */

static const char *const addr_fields[] = {
    "from",	 "sender",    "reply-to",    "to",
    "cc",	 "bcc",	      "resent-from", "resent-sender",
    "resent-to", "resent-cc", "resent-bcc",  "disposition-notification-to",
};
/* fields RFC 6857 renames "Downgraded-..." when they hold UTF-8 */
static const char *const renamed_fields[] = {
    "message-id", "in-reply-to", "references", "return-path", "resent-message-id",
};

static int name_in(const char *name, size_t nl, const char *const *list, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (strlen(list[i]) == nl && strncasecmp(list[i], name, nl) == 0)
			return 1;
	return 0;
}

/* Appends f[0..n) to v without its line ends (unfolded: the white space
 * after a fold stays). */
static void unfold(struct buf *v, const char *f, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (f[i] != '\r' && f[i] != '\n')
			buf_putc(v, f[i]);
}

/* Rewrites one field f[0..n) (its line ends included). */
static void field(struct dgw *w, const char *f, size_t n)
{
	const char *colon = memchr(f, ':', n);
	size_t nl = colon ? (size_t)(colon - f) : 0;
	struct buf v;

	while (nl > 0 && is_wsp(f[nl - 1]))
		nl--;
	buf_init(&v, n + 1);
	w->col = 0;
	if (!colon || nl == 0 || has_8bit(f, nl)) {
		/* not a field (no name, or not an ASCII one): junk in the
		 * header block, kept as 7-bit text */
		unfold(&v, f, n);
		unstructured(w, "", v.data ? v.data : "", v.len);
		puts_(w, w->eol);
		buf_free(&v);
		return;
	}
	unfold(&v, colon + 1, n - (size_t)(colon - f) - 1);
	if (name_in(f, nl, renamed_fields, sizeof(renamed_fields) / sizeof(renamed_fields[0]))) {
		puts_(w, "Downgraded-");
		put(w, f, nl);
		put(w, ":", 1);
		unstructured(w, " ", v.data ? v.data : "", v.len);
	} else if (name_in(f, nl, addr_fields, sizeof(addr_fields) / sizeof(addr_fields[0]))) {
		put(w, f, nl);
		put(w, ":", 1);
		addresses(w, v.data ? v.data : "", v.len);
	} else if ((nl == 12 && strncasecmp(f, "content-type", 12) == 0) ||
		   (nl == 19 && strncasecmp(f, "content-disposition", 19) == 0)) {
		put(w, f, nl);
		put(w, ":", 1);
		content_params(w, v.data ? v.data : "", v.len);
	} else {
		put(w, f, nl);
		put(w, ":", 1);
		unstructured(w, " ", v.data ? v.data : "", v.len);
	}
	puts_(w, w->eol);
	buf_free(&v);
}

int downgrade_needed(const char *hdr, size_t len)
{
	return has_8bit(hdr, len) && utf8_valid(hdr, len);
}

size_t downgrade_header_len(const char *h, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (h[i] != '\n')
			continue;
		if (i + 1 < n && h[i + 1] == '\n')
			return i + 2;
		if (i + 2 < n && h[i + 1] == '\r' && h[i + 2] == '\n')
			return i + 3;
	}
	return n;
}

int downgrade_header(const char *hdr, size_t len, struct buf *out)
{
	struct dgw w = {.out = out, .eol = "\r\n"};
	size_t i = 0;

	while (i < len && !w.err) {
		const char *lf = memchr(hdr + i, '\n', len - i);
		size_t e = lf ? (size_t)(lf - hdr) + 1 : len, fe;

		if (e - i <= 2 && (hdr[i] == '\n' || (hdr[i] == '\r' && e - i == 2))) {
			put(&w, hdr + i, len - i); /* the blank line and after */
			break;
		}
		/* the field runs on over lines that start with white space */
		fe = e;
		while (fe < len && is_wsp(hdr[fe])) {
			const char *l2 = memchr(hdr + fe, '\n', len - fe);
			fe = l2 ? (size_t)(l2 - hdr) + 1 : len;
		}
		if (!has_8bit(hdr + i, fe - i)) {
			put(&w, hdr + i, fe - i);
		} else {
			w.eol = e >= 2 && hdr[e - 1] == '\n' && hdr[e - 2] == '\r' ? "\r\n"
				: hdr[e - 1] == '\n'				   ? "\n"
										   : "\r\n";
			field(&w, hdr + i, fe - i);
		}
		i = fe;
	}
	return w.err ? -1 : 0;
}
