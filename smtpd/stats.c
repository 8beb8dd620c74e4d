/*
 * loft-smtpd's counts for the admin's dashboard chart: messages received
 * on the MX port and the rejections by kind (refused recipients, refused
 * connections, failed logins, refused message bodies).  They are counted
 * in memory on the loop and added to the store's smtp_daily table
 * (store_smtpstats.h) smtpd.stats_interval_ms after the first uncounted
 * one, in one small transaction however many there were -- so a flood of
 * refused connections costs no write per connection -- and at a stop.  A
 * SIGKILL loses at most one interval's counts: they are statistics, not
 * mail.
 */
#include <time.h>

#include "evloop.h"
#include "log.h"
#include "smtpd.h"
#include "store.h"
#include "store_smtpstats.h"

static const char *const stat_kinds[SMTP_STAT_N] = {
    [SMTP_STAT_RECEIVED] = STORE_SMTP_RECEIVED, [SMTP_STAT_RCPT] = STORE_SMTP_RCPT,
    [SMTP_STAT_CONN] = STORE_SMTP_CONN,		[SMTP_STAT_AUTH] = STORE_SMTP_AUTH,
    [SMTP_STAT_DATA] = STORE_SMTP_DATA,
};

void smtp_stat_flush(struct smtpd *srv)
{
	uint64_t any = 0;

	for (int i = 0; i < SMTP_STAT_N; i++)
		any |= srv->stat_n[i];
	if (!any)
		return;
	if (store_smtp_daily_add(srv->st, srv->stat_day, stat_kinds, srv->stat_n, SMTP_STAT_N) <
	    0) {
		/* kept for the next try (the transaction left nothing) */
		log_warn(NULL, "event=stats-save-failed error=\"%s\"", store_errmsg(srv->st));
		if (srv->stat_save && !srv->stopping)
			ev_timer_arm(srv->stat_save, srv->lim.stats_interval_ms);
		return;
	}
	log_debug(NULL,
		  "event=stats-saved day=%lld received=%llu rcpt=%llu conn=%llu auth=%llu "
		  "data=%llu",
		  (long long)srv->stat_day, (unsigned long long)srv->stat_n[SMTP_STAT_RECEIVED],
		  (unsigned long long)srv->stat_n[SMTP_STAT_RCPT],
		  (unsigned long long)srv->stat_n[SMTP_STAT_CONN],
		  (unsigned long long)srv->stat_n[SMTP_STAT_AUTH],
		  (unsigned long long)srv->stat_n[SMTP_STAT_DATA]);
	for (int i = 0; i < SMTP_STAT_N; i++)
		srv->stat_n[i] = 0;
}

static void stat_save_fire(struct evloop *ev, struct ev_timer *t, void *arg)
{
	(void)ev;
	(void)t;
	smtp_stat_flush(arg);
}

void smtp_stat_count(struct smtpd *srv, enum smtp_stat kind)
{
	int64_t day = (int64_t)time(NULL) / 86400;

	/* a new UTC day: what was counted belongs to the old one */
	if (day != srv->stat_day) {
		smtp_stat_flush(srv);
		srv->stat_day = day;
	}
	srv->stat_n[kind]++;
	if (!srv->stat_save)
		srv->stat_save = ev_timer_new(srv->ev, stat_save_fire, srv);
	if (!ev_timer_armed(srv->stat_save))
		ev_timer_arm(srv->stat_save, srv->lim.stats_interval_ms);
}
