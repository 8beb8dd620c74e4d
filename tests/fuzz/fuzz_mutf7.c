/*
 * libFuzzer target for imapd/mutf7.c, the mailbox names of every IMAP
 * command.  The input is tried as a wire name (decoded; what decodes to
 * valid UTF-8 must encode to a name that decodes to the same bytes) and as
 * a UTF-8 name (what encodes must decode back exactly).  Names are then
 * NFC-normalised (lib/core utf8_nfc): valid UTF-8 must normalise to valid
 * UTF-8 that normalises to itself, anything else must be refused.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../imapd/mutf7.h"
#include "buf.h"
#include "utf8.h"

static void check(int cond)
{
	if (!cond)
		abort();
}

/* encode(u) must decode back to u, byte for byte. */
static void round_trip(const char *u, size_t len)
{
	struct buf wire, back;

	buf_init(&wire, 64 * 1024);
	buf_init(&back, 64 * 1024);
	if (mutf7_encode(u, len, &wire) == 0) {
		/* the wire form is printable ASCII */
		for (size_t i = 0; i < wire.len; i++)
			check(wire.data[i] >= 0x20 && wire.data[i] <= 0x7e);
		check(mutf7_decode(wire.data, wire.len, &back) == 0);
		check(back.len == len && (len == 0 || memcmp(back.data, u, len) == 0));
	}
	buf_free(&wire);
	buf_free(&back);
}

/* NFC is valid UTF-8 and stable: nfc(nfc(u)) == nfc(u). */
static void nfc_check(const char *u, size_t len)
{
	struct buf a, b;
	int valid = utf8_valid(u, len);

	buf_init(&a, 256 * 1024);
	buf_init(&b, 256 * 1024);
	if (utf8_nfc(u, len, &a) == 0) {
		check(valid);
		check(utf8_valid(a.data ? a.data : "", a.len));
		check(utf8_nfc(a.data ? a.data : "", a.len, &b) == 0);
		check(a.len == b.len && (a.len == 0 || memcmp(a.data, b.data, a.len) == 0));
	} else {
		check(!valid);
	}
	buf_free(&a);
	buf_free(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct buf utf8;

	if (size > 8192)
		return 0;
	buf_init(&utf8, 64 * 1024);
	if (mutf7_decode((const char *)data, size, &utf8) == 0) {
		for (size_t i = 0; i < size; i++)
			check(data[i] >= 0x20 && data[i] <= 0x7e);
		if (utf8_valid(utf8.data, utf8.len))
			round_trip(utf8.data, utf8.len);
		nfc_check(utf8.data ? utf8.data : "", utf8.len);
	}
	buf_free(&utf8);
	if (utf8_valid((const char *)data, size))
		round_trip((const char *)data, size);
	nfc_check((const char *)data, size);
	/* invalid UTF-8 never encodes */
	buf_init(&utf8, 64 * 1024);
	if (mutf7_encode((const char *)data, size, &utf8) == 0)
		round_trip((const char *)data, size);
	buf_free(&utf8);
	return 0;
}
