/* lib/sasl: strict base64 and SASL PLAIN, shared by SMTP, IMAP and POP3. */
#include <string.h>

#include "sasl.h"
#include "tap.h"

int main(void)
{
	unsigned char out[64];
	char enc[80], msg[64];
	const char *u, *p;

	is_int(sasl_b64_decode("AGFsaWNlAHNlY3JldA==", 20, out, sizeof(out)), 13, "decode");
	ok(memcmp(out, "\0alice\0secret", 13) == 0, "decoded bytes");
	is_int(sasl_b64_decode("", 0, out, sizeof(out)), 0, "empty");
	is_int(sasl_b64_decode("YQ=", 3, out, sizeof(out)), -1, "length not a multiple of 4");
	is_int(sasl_b64_decode("Y===", 4, out, sizeof(out)), -1, "three pads");
	is_int(sasl_b64_decode("YQ==YQ==", 8, out, sizeof(out)), -1, "pad in the middle");
	is_int(sasl_b64_decode("YR==", 4, out, sizeof(out)), -1, "non-canonical bits");
	is_int(sasl_b64_decode("Y Q=", 4, out, sizeof(out)), -1, "space");
	is_int(sasl_b64_decode("YQ=a", 4, out, sizeof(out)), -1, "data after pad");
	is_int(sasl_b64_decode("Y*==", 4, out, sizeof(out)), -1, "bad character");
	is_int(sasl_b64_decode("YWJj", 4, out, 2), -1, "output bound");
	is_int(sasl_b64_decode("YWI=", 4, out, 2), 2, "exactly at the bound");
	is_int(sasl_b64_decode("YWJj\r\n", 6, out, sizeof(out)), -1, "CRLF refused");
	is_int(sasl_b64_encode("ab", 2, enc, sizeof(enc)), 4, "encode");
	ok(strcmp(enc, "YWI=") == 0, "encoded text");
	is_int(sasl_b64_encode("abc", 3, enc, 4), -1, "encode bound (NUL needs room)");
	/* every byte value round-trips */
	unsigned char all[48];
	for (int i = 0; i < 48; i++)
		all[i] = (unsigned char)(i * 37 + 11);
	long n = sasl_b64_encode(all, sizeof(all), enc, sizeof(enc));
	ok(n == 64 && sasl_b64_decode(enc, (size_t)n, out, sizeof(out)) == 48 &&
	       memcmp(out, all, 48) == 0,
	   "round trip");

	memcpy(msg, "\0alice\0secret", 13);
	ok(sasl_plain_split(msg, 13, &u, &p) == 0 && strcmp(u, "alice") == 0 &&
	       strcmp(p, "secret") == 0,
	   "PLAIN without authzid");
	memcpy(msg, "alice\0alice\0pw", 14);
	ok(sasl_plain_split(msg, 14, &u, &p) == 0 && strcmp(p, "pw") == 0, "authzid = authcid");
	memcpy(msg, "bob\0alice\0pw", 12);
	is_int(sasl_plain_split(msg, 12, &u, &p), SASL_AUTHZ_OTHER,
	       "authzid of another user refused");
	memcpy(msg, "Alice\0alice\0pw", 14);
	ok(sasl_plain_split(msg, 14, &u, &p) == 0, "authzid compared without case");
	memcpy(msg, "\0\0pw", 4);
	is_int(sasl_plain_split(msg, 4, &u, &p), -1, "empty authcid refused");
	memcpy(msg, "\0alice\0", 7);
	is_int(sasl_plain_split(msg, 7, &u, &p), -1, "empty password refused");
	memcpy(msg, "\0alice\0p\0w", 10);
	is_int(sasl_plain_split(msg, 10, &u, &p), -1, "NUL in password refused");
	memcpy(msg, "alice", 5);
	is_int(sasl_plain_split(msg, 5, &u, &p), -1, "no separators refused");
	memcpy(msg, "\0alice", 6);
	is_int(sasl_plain_split(msg, 6, &u, &p), -1, "one separator refused");
	is_int(sasl_plain_split(msg, 0, &u, &p), -1, "empty message refused");
	return tap_done();
}
