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

/* Hashes password into out (NUL-terminated), in a child process (see
 * passwd.c).  Returns 0, or -1 when the password is empty or longer than
 * PASSWD_MAX, out is too small, libcrypt failed or no child could be
 * forked. */
int passwd_hash(const char *password, char *out, size_t outlen);

/* Returns 1 when password matches hash, 0 otherwise (also for an empty or
 * over-long password or a malformed hash), -1 when the check could not be
 * run (out of memory, no child process): a temporary failure, not a wrong
 * password.  The hash is computed in a child process; the comparison of
 * its output takes the same time wherever the first difference is. */
int passwd_verify(const char *password, const char *hash);

/* Peak RSS (KiB) of the child process of the calling thread's last
 * passwd_hash or passwd_verify; 0 when it had none or was not reaped by
 * this process.  For logs and benchmarks: the hash's memory is not in the
 * caller's own figures. */
long passwd_last_child_kib(void);

#endif
