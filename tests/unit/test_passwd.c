/* Tests for lib/passwd.c: yescrypt hashing and verification. */
#include <stdlib.h>
#include <string.h>

#include "passwd.h"
#include "tap.h"

int main(void)
{
	char h1[PASSWD_HASH_MAX], h2[PASSWD_HASH_MAX], small[16];
	char *longpw = malloc(PASSWD_MAX + 2);

	ok(longpw, "alloc");
	is_int(passwd_hash("correct horse", h1, sizeof(h1)), 0, "hash ok");
	ok(strncmp(h1, "$y$", 3) == 0, "yescrypt hash");
	ok(strstr(h1, "correct") == NULL, "password not in hash");
	is_int(passwd_hash("correct horse", h2, sizeof(h2)), 0, "hash again");
	ok(strcmp(h1, h2) != 0, "fresh salt each time");
	is_int(passwd_verify("correct horse", h1), 1, "right password");
	is_int(passwd_verify("correct horse", h2), 1, "right password, other salt");
	is_int(passwd_verify("correct horsf", h1), 0, "wrong password");
	is_int(passwd_verify("correct hors", h1), 0, "prefix of password");
	is_int(passwd_verify("Correct horse", h1), 0, "case matters");
	is_int(passwd_verify("", h1), 0, "empty password never verifies");
	is_int(passwd_verify(NULL, h1), 0, "NULL password");
	is_int(passwd_verify("correct horse", ""), 0, "empty hash");
	is_int(passwd_verify("correct horse", "*0"), 0, "failure token hash");
	is_int(passwd_verify("correct horse", "$y$garbage"), 0, "malformed hash");
	is_int(passwd_verify("correct horse", NULL), 0, "NULL hash");
	h2[strlen(h2) - 1] ^= 1;
	is_int(passwd_verify("correct horse", h2), 0, "tampered hash");
	is_int(passwd_hash("", h2, sizeof(h2)), -1, "empty password refused");
	is_int(passwd_hash(NULL, h2, sizeof(h2)), -1, "NULL password refused");
	is_int(passwd_hash("pw", small, sizeof(small)), -1, "small output buffer refused");

	memset(longpw, 'a', PASSWD_MAX);
	longpw[PASSWD_MAX] = '\0';
	is_int(passwd_hash(longpw, h2, sizeof(h2)), 0, "PASSWD_MAX bytes accepted");
	is_int(passwd_verify(longpw, h2), 1, "PASSWD_MAX bytes verifies");
	longpw[PASSWD_MAX] = 'a';
	longpw[PASSWD_MAX + 1] = '\0';
	is_int(passwd_hash(longpw, h1, sizeof(h1)), -1, "PASSWD_MAX+1 bytes refused");
	is_int(passwd_verify(longpw, h2), 0, "over-long never verifies");

	is_int(passwd_hash("p\xc3\xa4ss \xe2\x82\xac", h1, sizeof(h1)), 0, "UTF-8 password");
	is_int(passwd_verify("p\xc3\xa4ss \xe2\x82\xac", h1), 1, "UTF-8 verifies");
	free(longpw);
	return tap_done();
}
