#ifndef LOFT_STORE_GREET_H
#define LOFT_STORE_GREET_H
/*
 * loft-smtpd's early-talker passes (smtpd/greetpass.c keeps them in memory
 * and writes new ones here, so a restart, even a SIGKILL, does not make
 * every known client wait for the greeting again): table
 * smtp_greet_passes, one row per client address with the time (Unix
 * seconds) it last waited for the greeting.
 */
#include <stddef.h>
#include <stdint.h>

struct store;

/* Called for each pass; a nonzero return stops the walk. */
typedef int (*store_greet_cb)(void *arg, const char *addr, int64_t passed);

/* Walks the passes with passed >= since.  Returns how many, or -1. */
int store_greet_pass_list(struct store *st, int64_t since, store_greet_cb cb, void *arg);
/* Records n passes (addrs[i] at passed[i]; an address already there gets
 * the new time) and forgets every pass older than expire_before, in one
 * transaction.  Returns 0 or -1 (nothing written). */
int store_greet_pass_save(struct store *st, const char *const *addrs, const int64_t *passed,
			  size_t n, int64_t expire_before);

#endif
