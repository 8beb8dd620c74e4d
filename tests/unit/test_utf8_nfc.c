/* utf8_nfc (lib/core/utf8.c): Unicode Normalization Form C against
 * strings normalised by Python's unicodedata (utf8_nfc_vectors.h, made by
 * lib/core/utf8_nfc_gen.py from the same Unicode as the tables), plus the
 * cases named by hand: composition, canonical order, blocking, Hangul,
 * singletons and exclusions, bad input, a full buffer. */
#include <stdio.h>
#include <string.h>

#include "buf.h"
#include "tap.h"
#include "utf8.h"
#include "utf8_nfc_vectors.h"

static int nfc_is(const char *in, const char *want)
{
	struct buf b;
	int r;

	buf_init(&b, 4096);
	r = utf8_nfc(in, strlen(in), &b) == 0 && b.len == strlen(want) &&
	    memcmp(b.data, want, b.len) == 0;
	if (!r)
		printf("# in %s: got %.*s want %s\n", in, (int)b.len, b.data ? b.data : "", want);
	buf_free(&b);
	return r;
}

int main(void)
{
	size_t n = sizeof(nfc_vectors) / sizeof(nfc_vectors[0]), bad = 0;
	struct buf b;

	for (size_t i = 0; i < n; i++)
		bad += !nfc_is(nfc_vectors[i][0], nfc_vectors[i][1]);
	ok(n > 900 && bad == 0, "every generated vector normalises as Python's does");
	/* the output is stable: NFC of NFC is itself */
	bad = 0;
	for (size_t i = 0; i < n; i++)
		bad += !nfc_is(nfc_vectors[i][1], nfc_vectors[i][1]);
	ok(bad == 0, "NFC strings are left as they are");

	ok(nfc_is("INBOX/Archive 2024", "INBOX/Archive 2024"), "ASCII unchanged");
	ok(nfc_is("Entwu\xcc\x88rfe", "Entw\xc3\xbcrfe"), "u + combining diaeresis composes");
	ok(nfc_is("Entw\xc3\xbcrfe", "Entw\xc3\xbcrfe"), "precomposed stays");
	/* a + ogonek (202) + acute (230) and a + acute + ogonek: one NFC */
	ok(nfc_is("a\xcc\x81\xcc\xa8", "\xc4\x85\xcc\x81"), "marks put in canonical order");
	ok(nfc_is("a\xcc\xa8\xcc\x81", "\xc4\x85\xcc\x81"), "canonical order kept");
	/* acute blocked by another acute (same class) */
	ok(nfc_is("e\xcc\x81\xcc\x81", "\xc3\xa9\xcc\x81"),
	   "a second mark of one class is blocked");
	ok(nfc_is("\xe1\x84\x80\xe1\x85\xa1\xe1\x86\xa8", "\xea\xb0\x81"), "Hangul L V T composes");
	ok(nfc_is("\xea\xb0\x80\xe1\x86\xa8", "\xea\xb0\x81"), "Hangul LV + T composes");
	ok(nfc_is("\xea\xb0\x81\xe1\x86\xa8", "\xea\xb0\x81\xe1\x86\xa8"),
	   "Hangul LVT + T does not");
	ok(nfc_is("\xe2\x84\xab", "\xc3\x85"), "Angstrom sign is A with ring (singleton)");
	ok(nfc_is("\xe0\xa5\x98", "\xe0\xa4\x95\xe0\xa4\xbc"), "composition exclusion stays apart");
	ok(nfc_is("\xcc\x81"
		  "a",
		  "\xcc\x81"
		  "a"),
	   "a leading mark composes with nothing");
	ok(nfc_is("\xf0\x9f\x93\xa7 Post", "\xf0\x9f\x93\xa7 Post"), "4-byte characters pass");

	buf_init(&b, 64);
	is_int(utf8_nfc("a\xff", 2, &b), -1, "invalid UTF-8: -1");
	is_int(utf8_nfc("\xc0\xaf", 2, &b), -1, "overlong: -1");
	is_int(b.len, 0, "nothing appended on bad input");
	buf_free(&b);
	buf_init(&b, 3);
	is_int(utf8_nfc("u\xcc\x88u\xcc\x88", 6, &b), -1, "out of room: -1");
	buf_free(&b);
	return tap_done();
}
