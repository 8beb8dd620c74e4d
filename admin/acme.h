#ifndef LOFT_ADMIN_ACME_H
#define LOFT_ADMIN_ACME_H
/*
 * A certificate from an ACME CA (Let's Encrypt by default) through
 * Debian's uacme, with the HTTP-01 challenge answered by loft-admin
 * itself: uacme runs as a child of loft-admin with loft-admin as its hook
 * program (acme_hook_main), which leaves the challenge answer in
 * DATADIR/acme/ where admin_page_acme_challenge serves it.  The certificate and
 * key are checked and installed as DATADIR/acme/live/{cert,key}.pem,
 * which every daemon prefers to the self-signed pair (daemon_tls_paths),
 * and "notify tls" makes every daemon reload.
 *
 * Settings: acme.url (the directory URL), acme.command (uacme's path,
 * for tests), acme.status (what happened last, shown in the admin),
 * netwatch.acme_until (written here: loft-netwatch forwards ports 80 and
 * 443 from the router until then; removed when the request ends).
 *
 * With loft-netwatch on, a request first sets netwatch.acme_until and
 * says "notify acme", then waits (at most 30 s) for loft-netwatch's
 * "notify acme-ports" before uacme starts, so the CA finds port 80.
 */
#include "admin.h"

/* Starts getting a certificate for hostname.  Returns 0 (under way: the
 * outcome lands in acme.status), or -1 when one is already running or
 * the child could not start (*why says which). */
int admin_acme_start(struct admin *a, const char *hostname, const char **why);
/* 1 while uacme runs (or waits for the router's port forwards). */
int admin_acme_running(void);
/* A word another daemon announced: "acme-ports" (loft-netwatch has asked
 * the router to forward 80 and 443) starts uacme. */
void admin_acme_notify(struct admin *a, const char *topic);
/* When argv is a uacme hook call (LOFT_ACME_DIR set, 5 arguments), does
 * it and returns the exit status; else returns -1. */
int acme_hook_main(int argc, char **argv);

#endif
