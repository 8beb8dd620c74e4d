#ifndef LOFT_STORE_SMTPSTATS_H
#define LOFT_STORE_SMTPSTATS_H
/*
 * loft-smtpd's daily counts for the admin's dashboard chart (issue 12):
 * table smtp_daily, one row per UTC day (Unix time / 86400) and kind, so
 * the hot path never writes a row per event -- loft-smtpd counts in memory
 * and adds its counts here every few seconds.
 *
 * Kinds (STORE_SMTP_*): "received" (messages accepted from the MX port),
 * and the rejections "rcpt" (refused recipients: unknown user, relay
 * denied, mailbox full, too many), "conn" (refused connections: early
 * talkers, over the connection limits, not the gateway), "auth" (failed
 * logins) and "data" (refused message bodies: size, bare CR/LF, NUL, long
 * lines, bad headers).
 */
#include <stddef.h>
#include <stdint.h>

struct store;

#define STORE_SMTP_RECEIVED "received"
#define STORE_SMTP_RCPT	    "rcpt"
#define STORE_SMTP_CONN	    "conn"
#define STORE_SMTP_AUTH	    "auth"
#define STORE_SMTP_DATA	    "data"

/* Adds counts[i] to kinds[i] of day, for the n kinds (zero counts are
 * skipped), in one transaction.  Returns 0 or -1 (nothing added). */
int store_smtp_daily_add(struct store *st, int64_t day, const char *const *kinds,
			 const uint64_t *counts, size_t n);

/* For the ndays days ending with the day of now (oldest first): messages
 * received and rejections of every kind, summed.  Returns 0 or -1. */
int store_smtp_daily(struct store *st, int64_t now, int ndays, int64_t *received,
		     int64_t *rejected);

/* The count of one kind on one day (0 when none).  Returns 0 or -1. */
int store_smtp_daily_get(struct store *st, int64_t day, const char *kind, int64_t *out);

#endif
