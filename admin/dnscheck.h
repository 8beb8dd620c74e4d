#ifndef LOFT_ADMIN_DNSCHECK_H
#define LOFT_ADMIN_DNSCHECK_H
/*
 * The DNS records to publish and the live check of which are in place:
 * looked up with c-ares (lib/net/dns, the dns_servers setting) while the
 * page's request is suspended; one verdict per record in q->dns_res.
 */
#include "admin.h"

/* The records themselves are lib/service/dnsrecs (shared with loftctl dns). */

/* Fills d (free with admin_dns_free).  Returns 0, or -1 when no domain
 * is set yet. */
int admin_dns_compute(struct admin *a, struct dnsrecs *d);
void admin_dns_free(struct dnsrecs *d);
/* Starts the check for q.  Returns 0 (q resumes when done, dns_state 2)
 * or -1 (nothing to check). */
int admin_dnscheck_start(struct admin *a, struct req *q);

#endif
