#ifndef LOFT_AUTHLIMIT_H
#define LOFT_AUTHLIMIT_H
/*
 * Authentication failure throttling, per client address and per account,
 * shared by SMTP AUTH, IMAP LOGIN/AUTHENTICATE and POP3.  In memory, per
 * process, bounded in size.  Each failure within the window makes the next
 * answer wait longer (the caller pauses the session, it never sleeps); past
 * the limit the address or account is refused for a while with a temporary
 * error.  Successes clear the address's record.
 */
#include <stddef.h>
#include <stdint.h>

struct authlimit;

struct authlimit_conf {
	unsigned free_failures; /* failures before any delay (e.g. 2) */
	unsigned max_failures;	/* failures in window before refusal (e.g. 10) */
	uint64_t window_ms;	/* how long failures are remembered (e.g. 15 min) */
	uint64_t max_delay_ms;	/* delay grows by doubling up to this (e.g. 8 s) */
	uint64_t refuse_ms;	/* how long a refusal lasts (e.g. 15 min) */
	unsigned max_entries;	/* memory bound: oldest entries are dropped */
};

void authlimit_conf_default(struct authlimit_conf *conf);
struct config;
/* The defaults, then PREFIX.auth_free_failures, PREFIX.auth_max_failures
 * and PREFIX.auth_max_delay_ms from loft.conf ("smtpd", "imapd").  Returns
 * 0, or -1 with the bad key named in err. */
int authlimit_conf_load(struct authlimit_conf *conf, const struct config *cfg, const char *prefix,
			char *err, size_t errlen);
/* Never returns NULL (aborts on out of memory). */
struct authlimit *authlimit_new(const struct authlimit_conf *conf);
void authlimit_free(struct authlimit *al);

/* Before checking a password: returns -1 when ip or account (may be NULL)
 * is refused right now, else the delay in ms to wait before answering
 * (0 = none). */
int64_t authlimit_check(struct authlimit *al, const char *ip, const char *account, uint64_t now_ms);
/* Records a failed attempt. */
void authlimit_fail(struct authlimit *al, const char *ip, const char *account, uint64_t now_ms);
/* Records a success: forgets ip's and account's failures. */
void authlimit_success(struct authlimit *al, const char *ip, const char *account);

#endif
