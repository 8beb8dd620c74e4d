/*
 * The live DNS check; see dnscheck.h.  One query per checked record, all
 * at once; the request resumes when the last answer (or timeout) is in.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "daemon.h"
#include "dns.h"
#include "dnscheck.h"
#include "http.h"
#include "log.h"

struct dncheck;

struct dnq {
	struct dncheck *c;
	size_t i;
};

struct dncheck {
	struct req *q;
	struct dnsrecs recs;
	struct dnq qs[DNSREC_MAX];
	int pending, in_start;
};

static struct dns *resolver;

static void one_done(struct dncheck *c)
{
	struct req *q = c->q;
	int resume = !c->in_start;

	if (--c->pending > 0)
		return;
	q->dns_state = 2;
	admin_dns_free(&c->recs);
	free(c);
	if (resume)
		admin_http_resume(q);
}

static int status_verdict(enum dns_status s)
{
	return s == DNS_TEMPFAIL || s == DNS_CANCELLED ? 3 : 2;
}

static void on_mx(void *arg, enum dns_status s, const struct dns_mx *mx, size_t n)
{
	struct dnq *d = arg;
	struct dnsrec *x = &d->c->recs.r[d->i];
	int v = s == DNS_OK ? 4 : status_verdict(s);

	for (size_t i = 0; s == DNS_OK && i < n; i++)
		if (strcasecmp(mx[i].host, x->want) == 0)
			v = 1;
	d->c->q->dns_res[d->i] = v;
	one_done(d->c);
}

static void on_addr(void *arg, enum dns_status s, const struct dns_addr *a, size_t n)
{
	struct dnq *d = arg;

	(void)a;
	d->c->q->dns_res[d->i] = s == DNS_OK && n > 0 ? 1 : status_verdict(s);
	one_done(d->c);
}

static void on_txt(void *arg, enum dns_status s, const struct dns_txt *t, size_t n)
{
	struct dnq *d = arg;
	struct dnsrec *x = &d->c->recs.r[d->i];
	const char *pub = d->c->recs.dkim_pub;
	int v = s == DNS_OK ? 4 : status_verdict(s);

	for (size_t i = 0; s == DNS_OK && i < n; i++) {
		if (x->check == DNSREC_TXT_PREFIX && t[i].len >= strlen(x->want) &&
		    strncasecmp(t[i].data, x->want, strlen(x->want)) == 0)
			v = 1;
		/* the key as published, spaces between the strings allowed */
		if (x->check == DNSREC_TXT_KEY && pub &&
		    memmem(t[i].data, t[i].len, pub, strlen(pub)))
			v = 1;
	}
	d->c->q->dns_res[d->i] = v;
	one_done(d->c);
}

/* In place when one record names our port and host (any priority and
 * weight: the person may have their reasons); different when the name has
 * SRV records but none does, e.g. "0 0 0 ." (service not offered) or an
 * old host. */
static void on_srv(void *arg, enum dns_status s, const struct dns_srv *srv, size_t n)
{
	struct dnq *d = arg;
	struct dnsrec *x = &d->c->recs.r[d->i];
	int v = s == DNS_OK ? 4 : status_verdict(s);

	for (size_t i = 0; s == DNS_OK && i < n; i++) {
		char got[300];
		snprintf(got, sizeof(got), "%u %s", srv[i].port, srv[i].target);
		if (srv[i].target[0] && strcasecmp(got, x->want) == 0)
			v = 1;
	}
	d->c->q->dns_res[d->i] = v;
	one_done(d->c);
}

int admin_dnscheck_start(struct admin *a, struct req *q)
{
	struct dncheck *c = calloc(1, sizeof(*c));

	if (!c)
		bug("event=out-of-memory");
	if (admin_dns_compute(a, &c->recs) < 0) {
		free(c);
		return -1;
	}
	if (!resolver)
		resolver = daemon_dns(a->d);
	c->q = q;
	memset(q->dns_res, 0, sizeof(q->dns_res));
	q->dns_state = 1;
	/* one extra count held while starting, so no answer can finish the
	 * check before every query is out */
	c->pending = 1;
	c->in_start = 1;
	for (size_t i = 0; i < c->recs.n; i++) {
		struct dnsrec *x = &c->recs.r[i];
		struct dns_req *rq = NULL;

		c->qs[i].c = c;
		c->qs[i].i = i;
		c->pending++;
		switch (x->check) {
		case DNSREC_MX:
			rq = dns_query_mx(resolver, x->name, on_mx, &c->qs[i]);
			break;
		case DNSREC_ADDR:
			rq = dns_query_a(resolver, x->name, on_addr, &c->qs[i]);
			break;
		case DNSREC_TXT_PREFIX:
		case DNSREC_TXT_KEY:
			rq = dns_query_txt(resolver, x->name, on_txt, &c->qs[i]);
			break;
		case DNSREC_SRV:
			rq = dns_query_srv(resolver, x->name, on_srv, &c->qs[i]);
			break;
		case DNSREC_NONE:
			break;
		}
		if (!rq)
			c->pending--; /* not asked: no answer will come */
	}
	log_info(NULL, "event=dns-check records=%zu", c->recs.n);
	c->in_start = 0;
	if (c->pending == 1) {
		/* nothing went out, or every answer came at once */
		c->in_start = 1;
		one_done(c);
		return -1;
	}
	c->pending--;
	return 0;
}
