/*
 * The route of each attempt, by the contract between loft-netwatch (which
 * writes route.verdict) and loft-queue (which obeys it):
 *   route.mode direct    -> direct
 *   route.mode smarthost -> the smarthost (held when none is configured)
 *   route.mode auto      -> verdict direct: direct;
 *                           verdict relay: the smarthost if configured,
 *                           else HOLD (mail stays queued);
 *                           verdict unknown: the smarthost if configured,
 *                           else direct, with a warning.
 */
#include <stdio.h>
#include <string.h>

#include "queue.h"
#include "store.h"
#include "store_settings.h"
#include "strnum.h"

const char *queue_route_name(enum queue_route_kind k)
{
	switch (k) {
	case ROUTE_DIRECT:
		return "direct";
	case ROUTE_SMARTHOST:
		return "smarthost";
	case ROUTE_HOLD:
		return "hold";
	}
	return "?";
}

enum queue_route_kind queue_route_decide(const char *mode, const char *verdict, int have_smarthost,
					 char *why, size_t whylen, int *warn)
{
	*warn = 0;
	if (!mode || !*mode)
		mode = "auto";
	if (!verdict || !*verdict)
		verdict = "unknown";
	if (strcmp(mode, "direct") == 0) {
		snprintf(why, whylen, "route.mode=direct");
		return ROUTE_DIRECT;
	}
	if (strcmp(mode, "smarthost") == 0) {
		if (have_smarthost) {
			snprintf(why, whylen, "route.mode=smarthost");
			return ROUTE_SMARTHOST;
		}
		*warn = 1;
		snprintf(why, whylen, "route.mode=smarthost but no smarthost.host is set: held");
		return ROUTE_HOLD;
	}
	if (strcmp(mode, "auto") != 0) {
		*warn = 1;
		snprintf(why, whylen, "route.mode=%.40s is not auto|direct|smarthost: held", mode);
		return ROUTE_HOLD;
	}
	if (strcmp(verdict, "direct") == 0) {
		snprintf(why, whylen, "route.mode=auto verdict=direct");
		return ROUTE_DIRECT;
	}
	if (strcmp(verdict, "relay") == 0) {
		if (have_smarthost) {
			snprintf(why, whylen, "route.mode=auto verdict=relay: smarthost");
			return ROUTE_SMARTHOST;
		}
		*warn = 1;
		snprintf(why, whylen,
			 "route.mode=auto verdict=relay and no smarthost is set: mail held");
		return ROUTE_HOLD;
	}
	/* unknown (or a verdict this version does not know) */
	if (have_smarthost) {
		snprintf(why, whylen, "route.mode=auto verdict=%.20s: smarthost", verdict);
		return ROUTE_SMARTHOST;
	}
	*warn = 1;
	snprintf(why, whylen,
		 "route.mode=auto verdict=%.20s and no smarthost is set: direct, unverified",
		 verdict);
	return ROUTE_DIRECT;
}

static void get(struct store *st, const char *key, char *buf, size_t len, const char *def)
{
	if (store_setting_get(st, key, buf, len) != 0)
		snprintf(buf, len, "%s", def);
}

int queue_route_load(struct store *st, struct queue_route *r)
{
	char mode[32], verdict[32], tls[32], port[16], verify[8];
	uint64_t p;

	memset(r, 0, sizeof(*r));
	get(st, "route.mode", mode, sizeof(mode), "auto");
	get(st, "route.verdict", verdict, sizeof(verdict), "unknown");
	get(st, "smarthost.host", r->sh.host, sizeof(r->sh.host), "");
	get(st, "smarthost.tls", tls, sizeof(tls), "starttls");
	get(st, "smarthost.user", r->sh.user, sizeof(r->sh.user), "");
	get(st, "smarthost.password", r->sh.password, sizeof(r->sh.password), "");
	get(st, "smarthost.verify", verify, sizeof(verify), "1");
	r->sh.tls = strcmp(tls, "tls") == 0 ? SMTPC_TLS_IMPLICIT : SMTPC_TLS_STARTTLS;
	get(st, "smarthost.port", port, sizeof(port), "");
	if (port[0] && strnum_u64(port, 65535, &p) == 0 && p > 0)
		r->sh.port = (int)p;
	else
		r->sh.port = r->sh.tls == SMTPC_TLS_IMPLICIT ? 465 : 587;
	r->sh.verify = strcmp(verify, "0") != 0;
	r->have_smarthost = r->sh.host[0] != '\0';
	r->kind =
	    queue_route_decide(mode, verdict, r->have_smarthost, r->why, sizeof(r->why), &r->warn);
	return 0;
}
