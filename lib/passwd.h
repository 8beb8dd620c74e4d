#ifndef LOFT_PASSWD_H
#define LOFT_PASSWD_H
/*
 * Password hashing: yescrypt ("$y$") through libcrypt, with a fresh random
 * salt per hash.  Passwords are never stored or logged in clear.
 */
#include <stddef.h>

/* longest password accepted, in bytes: libcrypt's own limit
 * (CRYPT_MAX_PASSPHRASE_SIZE 512, NUL included) */
#define PASSWD_MAX	511
#define PASSWD_HASH_MAX 256 /* room for any hash passwd_hash writes */

/* Hashes password into out (NUL-terminated).  Returns 0, or -1 when the
 * password is empty or longer than PASSWD_MAX, out is too small, or
 * libcrypt failed. */
int passwd_hash(const char *password, char *out, size_t outlen);

/* Returns 1 when password matches hash, 0 otherwise (also for an empty or
 * over-long password or a malformed hash).  The comparison of the crypt
 * output takes the same time wherever the first difference is. */
int passwd_verify(const char *password, const char *hash);

#endif
