#ifndef LOFT_ADMIN_DNSCHECK_H
#define LOFT_ADMIN_DNSCHECK_H
/*
 * The DNS records to publish and the live check of which are in place:
 * looked up with c-ares (lib/net/dns, the dns_servers setting) while the
 * page's request is suspended; one verdict per record in q->dns_res.
 */
#include "admin.h"

enum dnsrec_check {
	DNSREC_NONE,	   /* not checked */
	DNSREC_MX,	   /* an MX record naming want */
	DNSREC_ADDR,	   /* the name has an address */
	DNSREC_TXT_PREFIX, /* a TXT record starting with want */
	DNSREC_TXT_KEY,	   /* a TXT record with p= our DKIM key */
	DNSREC_SRV,	   /* an SRV record whose "port target" is want */
};

struct dnsrec {
	char type[8], name[400];
	char *value;
	const char *why;
	enum dnsrec_check check;
	char want[256];
};

struct dnsrecs {
	size_t n;
	struct dnsrec r[DNSREC_MAX];
	char *dkim_pub;
};

/* Fills d (free with admin_dns_free).  Returns 0, or -1 when no domain
 * is set yet. */
int admin_dns_compute(struct admin *a, struct dnsrecs *d);
void admin_dns_free(struct dnsrecs *d);
/* Starts the check for q.  Returns 0 (q resumes when done, dns_state 2)
 * or -1 (nothing to check). */
int admin_dnscheck_start(struct admin *a, struct req *q);

#endif
