/*
 * SORT's session-free parts (see sortkey.h).  The base subject follows RFC
 * 5256 2.1 step by step; all loops only ever move inward over the string,
 * so hostile subjects cost linear time.
 */
#include <string.h>
#include <strings.h>

#include "imapdate.h"
#include "sortkey.h"

static const struct {
	const char *name;
	enum sort_key key;
} sort_keys[] = {
    {"ARRIVAL", SK_ARRIVAL},
    {"CC", SK_CC},
    {"DATE", SK_DATE},
    {"FROM", SK_FROM},
    {"SIZE", SK_SIZE},
    {"SUBJECT", SK_SUBJECT},
    {"TO", SK_TO},
    {"DISPLAYFROM", SK_DISPLAYFROM},
    {"DISPLAYTO", SK_DISPLAYTO},
};

int imap_sort_criteria(const struct imap_arg *list, struct sort_crit *out, const char **err)
{
	int n = 0, reverse = 0;

	for (const struct imap_arg *a = list; a; a = a->next) {
		size_t i;
		if (a->type != IMAP_ARG_ATOM) {
			*err = "Sort criteria are atoms";
			return -1;
		}
		if (imap_arg_is(a, "REVERSE")) {
			if (reverse) {
				*err = "REVERSE REVERSE";
				return -1;
			}
			reverse = 1;
			continue;
		}
		for (i = 0; i < sizeof(sort_keys) / sizeof(sort_keys[0]); i++)
			if (imap_arg_is(a, sort_keys[i].name))
				break;
		if (i == sizeof(sort_keys) / sizeof(sort_keys[0])) {
			*err = "Unknown sort criterion";
			return -1;
		}
		if (n == SORT_MAX_CRITERIA) {
			*err = "Too many sort criteria";
			return -1;
		}
		out[n].key = sort_keys[i].key;
		out[n++].reverse = reverse;
		reverse = 0;
	}
	if (reverse || n == 0) {
		*err = reverse ? "REVERSE needs a criterion" : "Empty sort criteria";
		return -1;
	}
	return n;
}

/* --- base subject (RFC 5256 2.1) ---------------------------------------- */

/* A subj-blob at s[p..e): "[" *BLOBCHAR "]" *WSP.  Returns the index
 * after it, or p when there is none. */
static size_t blob(const char *s, size_t p, size_t e)
{
	size_t q = p;

	if (q >= e || s[q] != '[')
		return p;
	for (q++; q < e && s[q] != ']'; q++)
		if (s[q] == '[')
			return p;
	if (q >= e)
		return p;
	for (q++; q < e && s[q] == ' '; q++)
		;
	return q;
}

/* subj-refwd: ("re" / ("fw" ["d"])) *WSP [subj-blob] ":".  Returns the
 * index after the colon, or p. */
static size_t refwd(const char *s, size_t p, size_t e)
{
	size_t q = p;

	if (e - q >= 2 && strncasecmp(s + q, "re", 2) == 0)
		q += 2;
	else if (e - q >= 3 && strncasecmp(s + q, "fwd", 3) == 0)
		q += 3;
	else if (e - q >= 2 && strncasecmp(s + q, "fw", 2) == 0)
		q += 2;
	else
		return p;
	while (q < e && s[q] == ' ')
		q++;
	q = blob(s, q, e);
	if (q < e && s[q] == ':')
		return q + 1;
	return p;
}

int imap_base_subject(const char *in, size_t len, struct buf *out)
{
	struct buf w;
	size_t p, e, n = 0;
	int r, reply = 0;

	/* step 1: whitespace runs (tabs, line breaks) become one space */
	buf_init(&w, len + 1);
	for (size_t i = 0; i < len; i++) {
		char c = in[i];
		if (c == '\t' || c == '\r' || c == '\n')
			c = ' ';
		if (c == ' ' && n && w.data[n - 1] == ' ')
			continue;
		if (buf_putc(&w, c) < 0) {
			buf_free(&w);
			return -1;
		}
		n++;
	}
	const char *s = w.data ? w.data : "";
	p = 0;
	e = n;
	for (;;) {
		/* step 2: subj-trailer ("(fwd)" / WSP) off the end */
		for (;;) {
			if (e > p && s[e - 1] == ' ')
				e--;
			else if (e - p >= 5 && strncasecmp(s + e - 5, "(fwd)", 5) == 0)
				e -= 5, reply = 1;
			else
				break;
		}
		for (;;) {
			size_t was = p;
			/* step 3: subj-leader = (*subj-blob subj-refwd) / WSP */
			for (;;) {
				if (p < e && s[p] == ' ') {
					p++;
					continue;
				}
				size_t q = p, b;
				while ((b = blob(s, q, e)) != q)
					q = b;
				b = refwd(s, q, e);
				if (b == q)
					break;
				p = b;
				reply = 1;
			}
			/* step 4: a leading subj-blob, unless nothing would be left */
			size_t b = blob(s, p, e);
			if (b != p && b < e)
				p = b;
			if (p == was)
				break;
		}
		/* step 5: "[fwd:" ... "]" */
		if (e - p >= 6 && strncasecmp(s + p, "[fwd:", 5) == 0 && s[e - 1] == ']') {
			p += 5;
			e--;
			reply = 1;
			continue;
		}
		break;
	}
	r = buf_append(out, s + p, e - p);
	buf_free(&w);
	return r < 0 ? -1 : reply;
}

/* --- header fields -------------------------------------------------------- */

int imap_header_value(const char *h, size_t len, const char *name, struct buf *out)
{
	size_t nl = strlen(name);

	for (size_t i = 0; i < len;) {
		const char *line = h + i;
		const char *lf = memchr(line, '\n', len - i);
		size_t ll = lf ? (size_t)(lf - line) + 1 : len - i;
		if (ll > nl && line[nl] == ':' && strncasecmp(line, name, nl) == 0) {
			size_t j = i + nl + 1, end = i + ll;
			/* the continuation lines belong to it */
			while (end < len && (h[end] == ' ' || h[end] == '\t')) {
				const char *l2 = memchr(h + end, '\n', len - end);
				end = l2 ? (size_t)(l2 - h) + 1 : len;
			}
			while (j < end && (h[j] == ' ' || h[j] == '\t'))
				j++;
			for (; j < end; j++)
				if (h[j] != '\r' && h[j] != '\n' && buf_putc(out, h[j]) < 0)
					return -1;
			return 1;
		}
		if (ll <= 2 && (line[0] == '\n' || (line[0] == '\r' && ll == 2)))
			break; /* the empty line ends the header */
		i += ll;
	}
	return 0;
}

/* --- Date: ----------------------------------------------------------------- */

static int digits(const char *s, size_t i, size_t len, size_t max, int *v)
{
	size_t k = 0;

	*v = 0;
	while (i + k < len && k < max && s[i + k] >= '0' && s[i + k] <= '9')
		*v = *v * 10 + (s[i + k++] - '0');
	return (int)k;
}

int imap_sent_time(const char *s, size_t len, int64_t *t)
{
	int64_t day;
	int h = 0, m = 0, sec = 0, zone = 0;

	if (imapdate_parse_rfc5322_day(s, len, &day) < 0)
		return -1;
	/* the time: the first "h:mm" after the date's year */
	for (size_t i = 0; i < len; i++) {
		int hv, k = digits(s, i, len, 2, &hv);
		if (k == 0 || i + k >= len || s[i + k] != ':' ||
		    (i && s[i - 1] >= '0' && s[i - 1] <= '9'))
			continue;
		h = hv;
		size_t j = i + (size_t)k + 1;
		if (digits(s, j, len, 2, &m) != 2)
			continue;
		j += 2;
		if (j < len && s[j] == ':' && digits(s, j + 1, len, 2, &sec) == 2)
			j += 3;
		if (h > 23 || m > 59 || sec > 60)
			return -1;
		while (j < len && (s[j] == ' ' || s[j] == '\t'))
			j++;
		int zv;
		if (j < len && (s[j] == '+' || s[j] == '-') && digits(s, j + 1, len, 4, &zv) == 4 &&
		    zv % 100 < 60)
			zone = (s[j] == '-' ? -1 : 1) * ((zv / 100) * 3600 + (zv % 100) * 60);
		break;
	}
	*t = day * 86400 + h * 3600 + m * 60 + sec - zone;
	return 0;
}

/* --- msg-ids ---------------------------------------------------------------- */

int imap_msgids(const char *s, size_t len, imap_msgid_fn fn, void *arg)
{
	int depth = 0, n = 0;

	for (size_t i = 0; i < len; i++) {
		if (s[i] == '(' && depth < 32) {
			depth++; /* a comment */
		} else if (s[i] == ')' && depth) {
			depth--;
		} else if (s[i] == '\\' && depth) {
			i++;
		} else if (s[i] == '<' && !depth) {
			size_t j = i + 1;
			while (j < len && s[j] != '>' && s[j] != '<' && s[j] != ' ' && s[j] != '\t')
				j++;
			if (j < len && s[j] == '>' && j > i + 1 && j - i - 1 <= THREAD_MAX_ID) {
				fn(arg, s + i + 1, j - i - 1);
				n++;
				i = j;
			} else {
				i = j - 1; /* not a msg-id: go on from where it broke */
			}
		}
	}
	return n;
}
