#ifndef LOFT_RELAY_PRESETS_H
#define LOFT_RELAY_PRESETS_H
/*
 * Common commercial smarthosts (relays): host, port, TLS mode, the fixed
 * user name some of them use, and the SPF include: the sending domain
 * must publish so receivers accept the relay's addresses.  Used by
 * loftctl smarthost, the admin's wizard, and `loftctl dns` (SPF).
 */
#include <stddef.h>

struct relay_preset {
	const char *name;  /* "ses-eu-west-1", "mailgun-eu", ... */
	const char *label; /* "Amazon SES (eu-west-1)" */
	const char *host;
	int port;
	const char *tls;  /* "starttls" or "tls" (smarthost.tls values) */
	const char *user; /* fixed user name, or NULL: the account's */
	const char *spf;  /* "include:amazonses.com" */
};

/* The table, NULL-name terminated. */
extern const struct relay_preset relay_presets[];
/* The preset called name, or NULL. */
const struct relay_preset *relay_preset_find(const char *name);
/* The preset whose host is host (case-insensitive), or NULL: for the SPF
 * include of a smarthost set by hand. */
const struct relay_preset *relay_preset_by_host(const char *host);

#endif
