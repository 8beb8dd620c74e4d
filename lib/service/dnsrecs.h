#ifndef LOFT_SERVICE_DNSRECS_H
#define LOFT_SERVICE_DNSRECS_H
/*
 * The DNS records a person publishes for a Loft domain: MX (or the
 * inbound gateway's), A, SPF (with the relay's include), DKIM, DMARC, the
 * RFC 6186 SRV records and the autoconfig names.  One list for the web
 * admin (which also checks them live) and `loftctl dns`, so both always
 * tell the same thing.
 */
#include <stddef.h>

struct store;

#define DNSREC_MAX 16 /* records in one list */

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
	int placeholder; /* value is a description (no address known yet) */
};

struct dnsrecs {
	size_t n;
	struct dnsrec r[DNSREC_MAX];
	char *dkim_pub;		 /* base64 public key, NULL when none */
	int dkim_made;		 /* the key was made just now */
	char dkim_err[256];	 /* why there is no DKIM record */
	char relay_unknown[256]; /* a smarthost that is no known preset */
};

/* Fills d for domain dom served by host (no trailing dot), making the
 * domain's DKIM key when it has none.  Free with dnsrecs_free. */
void dnsrecs_compute(struct store *st, const char *dom, const char *host, struct dnsrecs *d);
void dnsrecs_free(struct dnsrecs *d);

/* The SPF include of the relay in use ("" when none or unknown). */
const char *dnsrecs_spf_include(struct store *st);

#endif
