/*
 * Password hashing through libcrypt (libxcrypt): yescrypt with a salt that
 * libcrypt draws from the kernel's random source.  A hash is verified by
 * hashing the candidate with the stored setting and comparing the whole
 * output in constant time.
 */
#include <crypt.h>
#include <stdlib.h>
#include <string.h>

#include "passwd.h"

static int passwd_ok(const char *password)
{
	size_t n;

	if (!password)
		return 0;
	n = strnlen(password, PASSWD_MAX + 1);
	return n > 0 && n <= PASSWD_MAX;
}

int passwd_hash(const char *password, char *out, size_t outlen)
{
	char setting[CRYPT_GENSALT_OUTPUT_SIZE];
	struct crypt_data *cd;
	size_t n;
	int rc = -1;

	if (!passwd_ok(password) || outlen == 0)
		return -1;
	/* NULL random bytes: libcrypt reads the OS random source itself;
	 * count 0: yescrypt's default cost. */
	if (!crypt_gensalt_rn("$y$", 0, NULL, 0, setting, (int)sizeof(setting)))
		return -1;
	/* struct crypt_data is large (32 KiB): keep it off the stack. */
	cd = calloc(1, sizeof(*cd));
	if (!cd)
		return -1;
	if (crypt_rn(password, setting, cd, (int)sizeof(*cd)) && cd->output[0] == '$') {
		n = strlen(cd->output);
		if (n < outlen) {
			memcpy(out, cd->output, n + 1);
			rc = 0;
		}
	}
	explicit_bzero(cd, sizeof(*cd));
	free(cd);
	return rc;
}

int passwd_verify(const char *password, const char *hash)
{
	struct crypt_data *cd;
	unsigned char diff = 0;
	size_t n;
	int rc = 0;

	if (!passwd_ok(password) || !hash || hash[0] != '$')
		return 0;
	cd = calloc(1, sizeof(*cd));
	if (!cd)
		return 0;
	if (crypt_rn(password, hash, cd, (int)sizeof(*cd)) && cd->output[0] == '$') {
		n = strlen(hash);
		if (strlen(cd->output) == n) {
			for (size_t i = 0; i < n; i++)
				diff |= (unsigned char)(cd->output[i] ^ hash[i]);
			rc = diff == 0;
		}
	}
	explicit_bzero(cd, sizeof(*cd));
	free(cd);
	return rc;
}

_Static_assert(PASSWD_MAX < CRYPT_MAX_PASSPHRASE_SIZE, "libcrypt must accept PASSWD_MAX bytes");
