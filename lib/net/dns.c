#include "dns.h"

#include <arpa/inet.h>
#include <ares.h>
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "array.h"
#include "config.h"
#include "evloop.h"
#include "log.h"

#define DNS_DEFAULT_TIMEOUT_MS 2000
#define DNS_DEFAULT_TRIES      3
#define DNS_MAX_NAME	       254 /* 253 plus an optional trailing dot */
#define DNS_MAX_KIDS	       (1 + 2 * DNS_MAX_MXHOSTS)

enum dns_kind { DNS_K_A, DNS_K_AAAA, DNS_K_MX, DNS_K_TXT, DNS_K_PTR, DNS_K_MXHOSTS, DNS_K_SRV };

static const char *const dns_kind_name[] = {"A", "AAAA", "MX", "TXT", "PTR", "MXHOSTS", "SRV"};

/* One MX host being resolved for dns_resolve_mx_hosts. */
struct dns_mxh {
	struct dns_req *parent;
	unsigned int pref;
	char *host;
	struct dns_addr *addrs;
	size_t naddrs;
	enum dns_status st4, st6;
};

struct dns_req {
	struct dns *d;
	enum dns_kind kind;
	union {
		dns_addr_fn addr;
		dns_mx_fn mx;
		dns_txt_fn txt;
		dns_name_fn name;
		dns_mxhosts_fn mxhosts;
		dns_srv_fn srv;
	} fn;
	void *arg;
	char *name;
	struct dns_req *prev, *next; /* every live request */
	struct dns_req *qnext;	     /* the delivery queue */
	int pending;		     /* an ares query is out for it */
	int queued, cancelled, delivering;
	enum dns_status st;

	/* the answer, by kind */
	size_t n;
	struct dns_addr *addrs;
	struct dns_mx *mx;
	struct dns_txt *txt;
	struct dns_srv *srv;
	char **names;

	/* PTR: the address asked about, for ares_parse_ptr_reply */
	int family;
	unsigned char addr[16];

	/* a sub-query of an MXHOSTS request, and where the parent keeps it */
	struct dns_req *parent;
	struct dns_req **slot;

	/* MXHOSTS */
	struct dns_req *kids[DNS_MAX_KIDS];
	int kids_out;
	struct dns_mxh *mxh;
	size_t nmxh;
	struct dns_mx_host *hosts;
};

struct dns {
	struct evloop *ev;
	ares_channel ch;
	char *servers;
	unsigned int timeout_ms, tries;
	struct ev_timer *timer; /* c-ares' retransmissions and timeouts */
	struct ev_timer *flush; /* delivers finished requests from the loop */
	int *fds;
	size_t nfds, capfds;
	struct dns_req *all;
	struct dns_req *qhead, *qtail;
	int in_callback;
	int destroying;
};

static int dns_lib_ready;

const char *dns_status_str(enum dns_status st)
{
	switch (st) {
	case DNS_OK:
		return "ok";
	case DNS_NXDOMAIN:
		return "nxdomain";
	case DNS_NODATA:
		return "nodata";
	case DNS_TEMPFAIL:
		return "tempfail";
	case DNS_ERROR:
		return "error";
	case DNS_CANCELLED:
		return "cancelled";
	case DNS_NULLMX:
		return "nullmx";
	}
	return "unknown";
}

/* c-ares' status to ours.  A bad reply counts as temporary: better to
 * retry a message later than to bounce it on one mangled packet. */
static enum dns_status dns_map(int status)
{
	switch (status) {
	case ARES_SUCCESS:
		return DNS_OK;
	case ARES_ENODATA:
		return DNS_NODATA;
	case ARES_ENOTFOUND:
		return DNS_NXDOMAIN;
	case ARES_ESERVFAIL:
	case ARES_EREFUSED:
	case ARES_ETIMEOUT:
	case ARES_ECONNREFUSED:
	case ARES_EBADRESP:
	case ARES_ENOMEM:
		return DNS_TEMPFAIL;
	case ARES_EDESTRUCTION:
	case ARES_ECANCELLED:
		return DNS_CANCELLED;
	default:
		return DNS_ERROR;
	}
}

/* --- descriptors and timers --- */

static void dns_timer_update(struct dns *d)
{
	struct timeval tv;

	if (!d->ch || !ares_timeout(d->ch, NULL, &tv)) {
		ev_timer_disarm(d->timer);
		return;
	}
	/* rounded up: waking a hair early would find nothing due and spin */
	ev_timer_arm(d->timer, (uint64_t)tv.tv_sec * 1000 + ((uint64_t)tv.tv_usec + 999) / 1000);
}

static void dns_on_io(struct evloop *ev, int fd, int events, void *arg)
{
	struct dns *d = arg;

	(void)ev;
	ares_process_fd(d->ch, (events & EV_READ) ? fd : ARES_SOCKET_BAD,
			(events & EV_WRITE) ? fd : ARES_SOCKET_BAD);
	dns_timer_update(d);
}

static void dns_on_timer(struct evloop *ev, struct ev_timer *t, void *arg)
{
	struct dns *d = arg;

	(void)ev;
	(void)t;
	ares_process_fd(d->ch, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
	dns_timer_update(d);
}

/* c-ares opens, retargets and (after telling us) closes its sockets. */
static void dns_sock_state(void *data, ares_socket_t fd, int readable, int writable)
{
	struct dns *d = data;
	int events = (readable ? EV_READ : 0) | (writable ? EV_WRITE : 0);
	size_t i;

	for (i = 0; i < d->nfds; i++)
		if (d->fds[i] == fd)
			break;
	if (!events) {
		if (i < d->nfds) {
			ev_io_del(d->ev, fd);
			d->fds[i] = d->fds[--d->nfds];
		}
		return;
	}
	if (i < d->nfds) {
		if (ev_io_set(d->ev, fd, events) < 0)
			log_err(NULL, "dns=ev_io_set fd=%d error=\"%s\"", fd, strerror(errno));
		return;
	}
	if (ARRAY_GROW(d->fds, d->capfds, d->nfds + 1, 8) < 0)
		bug("out of memory");
	if (ev_io_add(d->ev, fd, events, dns_on_io, d) < 0) {
		/* the query on it will time out through the timer */
		log_err(NULL, "dns=ev_io_add fd=%d error=\"%s\"", fd, strerror(errno));
		return;
	}
	d->fds[d->nfds++] = fd;
}

/* --- requests --- */

static void dns_result_free(struct dns_req *r)
{
	for (size_t i = 0; r->mx && i < r->n; i++)
		free((char *)r->mx[i].host);
	for (size_t i = 0; r->txt && i < r->n; i++)
		free((char *)r->txt[i].data);
	for (size_t i = 0; r->names && i < r->n; i++)
		free(r->names[i]);
	for (size_t i = 0; r->srv && i < r->n; i++)
		free((char *)r->srv[i].target);
	free(r->addrs);
	free(r->srv);
	r->srv = NULL;
	free(r->mx);
	free(r->txt);
	free(r->names);
	r->addrs = NULL;
	r->mx = NULL;
	r->txt = NULL;
	r->names = NULL;
	r->n = 0;
}

static void dns_req_release(struct dns_req *r)
{
	struct dns *d = r->d;

	if (r->slot)
		*r->slot = NULL;
	if (r->prev)
		r->prev->next = r->next;
	else
		d->all = r->next;
	if (r->next)
		r->next->prev = r->prev;
	dns_result_free(r);
	for (size_t i = 0; i < r->nmxh; i++) {
		free(r->mxh[i].host);
		free(r->mxh[i].addrs);
	}
	free(r->mxh);
	free(r->hosts);
	free(r->name);
	free(r);
}

static int dns_name_ok(const char *name)
{
	size_t len = strlen(name);

	if (len == 0 || len > DNS_MAX_NAME)
		return 0;
	/* no backslash: c-ares would read it as an escape and query a name
	 * other than the one the caller logged */
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)name[i] <= ' ' || (unsigned char)name[i] >= 0x7f ||
		    name[i] == '\\')
			return 0;
	return 1;
}

static struct dns_req *dns_req_new(struct dns *d, enum dns_kind kind, const char *name, void *arg)
{
	struct dns_req *r = calloc(1, sizeof(*r));

	if (!r || !(r->name = strdup(name)))
		bug("out of memory");
	r->d = d;
	r->kind = kind;
	r->arg = arg;
	r->next = d->all;
	if (d->all)
		d->all->prev = r;
	d->all = r;
	return r;
}

static void dns_enqueue(struct dns_req *r)
{
	struct dns *d = r->d;

	r->queued = 1;
	r->qnext = NULL;
	if (d->qtail)
		d->qtail->qnext = r;
	else
		d->qhead = r;
	d->qtail = r;
	if (!ev_timer_armed(d->flush))
		ev_timer_arm(d->flush, 0);
}

static void dns_unqueue(struct dns_req *r)
{
	struct dns *d = r->d;
	struct dns_req **pp = &d->qhead, *prev = NULL;

	while (*pp && *pp != r) {
		prev = *pp;
		pp = &(*pp)->qnext;
	}
	if (!*pp)
		return;
	*pp = r->qnext;
	if (d->qtail == r)
		d->qtail = prev;
	r->queued = 0;
}

void dns_cancel(struct dns_req *r)
{
	if (!r || r->cancelled)
		return;
	r->cancelled = 1;
	/* detach the sub-queries first: one still out outlives r */
	for (int i = 0; i < DNS_MAX_KIDS; i++) {
		struct dns_req *k = r->kids[i];
		if (!k)
			continue;
		r->kids[i] = NULL;
		k->slot = NULL;
		dns_cancel(k);
	}
	if (r->queued)
		dns_unqueue(r);
	/* an ares query still out will come back to dns_on_answer, which
	 * frees it; a request in its own callback is freed after it */
	if (!r->pending && !r->delivering)
		dns_req_release(r);
}

static void dns_call(struct dns_req *r, enum dns_status st)
{
	int ok = st == DNS_OK;

	switch (r->kind) {
	case DNS_K_A:
	case DNS_K_AAAA:
		r->fn.addr(r->arg, st, ok ? r->addrs : NULL, ok ? r->n : 0);
		break;
	case DNS_K_MX:
		r->fn.mx(r->arg, st, ok ? r->mx : NULL, ok ? r->n : 0);
		break;
	case DNS_K_TXT:
		r->fn.txt(r->arg, st, ok ? r->txt : NULL, ok ? r->n : 0);
		break;
	case DNS_K_SRV:
		r->fn.srv(r->arg, st, ok ? r->srv : NULL, ok ? r->n : 0);
		break;
	case DNS_K_PTR:
		r->fn.name(r->arg, st, ok ? (const char *const *)r->names : NULL, ok ? r->n : 0);
		break;
	case DNS_K_MXHOSTS:
		/* hosts also on failure, so the caller can log why each failed */
		r->fn.mxhosts(r->arg, st, st == DNS_CANCELLED ? NULL : r->hosts,
			      st == DNS_CANCELLED || !r->hosts ? 0 : r->nmxh);
		break;
	}
}

static void dns_deliver(struct dns_req *r, enum dns_status st)
{
	struct dns *d = r->d;

	r->delivering = 1;
	d->in_callback++;
	dns_call(r, st);
	d->in_callback--;
	r->delivering = 0;
}

static void dns_on_flush(struct evloop *ev, struct ev_timer *t, void *arg)
{
	struct dns *d = arg;
	struct dns_req *r;

	(void)ev;
	(void)t;
	while ((r = d->qhead)) {
		d->qhead = r->qnext;
		if (!d->qhead)
			d->qtail = NULL;
		r->queued = 0;
		if (!r->cancelled)
			dns_deliver(r, r->st);
		dns_req_release(r);
	}
}

/* --- parsing the answers --- */

static enum dns_status dns_parse_a(struct dns_req *r, const unsigned char *abuf, int alen)
{
	struct ares_addrttl v4[DNS_MAX_RECORDS];
	struct ares_addr6ttl v6[DNS_MAX_RECORDS];
	int n = DNS_MAX_RECORDS, st;

	if (r->kind == DNS_K_A)
		st = ares_parse_a_reply(abuf, alen, NULL, v4, &n);
	else
		st = ares_parse_aaaa_reply(abuf, alen, NULL, v6, &n);
	if (st != ARES_SUCCESS)
		return dns_map(st);
	if (n <= 0)
		return DNS_NODATA;
	r->addrs = calloc((size_t)n, sizeof(*r->addrs));
	if (!r->addrs)
		bug("out of memory");
	for (int i = 0; i < n; i++) {
		struct dns_addr *a = &r->addrs[i];
		if (r->kind == DNS_K_A) {
			a->family = AF_INET;
			a->a.v4 = v4[i].ipaddr;
			a->ttl = v4[i].ttl < 0 ? 0 : (uint32_t)v4[i].ttl;
		} else {
			a->family = AF_INET6;
			memcpy(&a->a.v6, &v6[i].ip6addr, sizeof(a->a.v6));
			a->ttl = v6[i].ttl < 0 ? 0 : (uint32_t)v6[i].ttl;
		}
		inet_ntop(a->family, &a->a, a->text, sizeof(a->text));
	}
	r->n = (size_t)n;
	return DNS_OK;
}

static char *dns_strip_dot(const char *s)
{
	size_t len = strlen(s);
	char *c;

	if (len > 0 && s[len - 1] == '.')
		len--;
	c = strndup(s, len);
	if (!c)
		bug("out of memory");
	return c;
}

/* RFC 7505: a lone "MX 0 ." says the domain takes no mail.  A domain that
 * also lists real hosts breaks that RFC; the real hosts are used. */
static enum dns_status dns_parse_mx(struct dns_req *r, const unsigned char *abuf, int alen)
{
	struct ares_mx_reply *list = NULL, *m;
	size_t total = 0, nulls = 0;
	int st = ares_parse_mx_reply(abuf, alen, &list);

	if (st != ARES_SUCCESS)
		return dns_map(st);
	for (m = list; m; m = m->next)
		total++;
	r->mx = calloc(total ? total : 1, sizeof(*r->mx));
	if (!r->mx)
		bug("out of memory");
	for (m = list; m && r->n < DNS_MAX_RECORDS; m = m->next) {
		if (m->host[0] == '\0' || strcmp(m->host, ".") == 0) {
			nulls++;
			continue;
		}
		/* insertion sort: stable, so ties keep the server's order */
		size_t i = r->n++;
		while (i > 0 && r->mx[i - 1].pref > m->priority) {
			r->mx[i] = r->mx[i - 1];
			i--;
		}
		r->mx[i].pref = m->priority;
		r->mx[i].host = dns_strip_dot(m->host);
	}
	ares_free_data(list);
	if (r->n == 0)
		return nulls ? DNS_NULLMX : DNS_NODATA;
	return DNS_OK;
}

static enum dns_status dns_parse_txt(struct dns_req *r, const unsigned char *abuf, int alen)
{
	struct ares_txt_ext *list = NULL, *t;
	size_t nrec = 0;
	int st = ares_parse_txt_reply_ext(abuf, alen, &list);

	if (st != ARES_SUCCESS)
		return dns_map(st);
	for (t = list; t; t = t->next)
		if (t->record_start || t == list)
			nrec++;
	if (nrec > DNS_MAX_RECORDS)
		nrec = DNS_MAX_RECORDS;
	r->txt = calloc(nrec ? nrec : 1, sizeof(*r->txt));
	if (!r->txt)
		bug("out of memory");
	for (t = list; t;) {
		struct ares_txt_ext *e = t->next;
		size_t len = t->length;
		/* a record's strings run until the next record_start */
		while (e && !e->record_start) {
			len += e->length;
			e = e->next;
		}
		if (r->n < nrec && len <= DNS_MAX_TXT) {
			char *data = malloc(len + 1), *p = data;
			if (!data)
				bug("out of memory");
			for (struct ares_txt_ext *c = t; c != e; c = c->next) {
				memcpy(p, c->txt, c->length);
				p += c->length;
			}
			*p = '\0';
			r->txt[r->n].data = data;
			r->txt[r->n].len = len;
			r->n++;
		}
		t = e;
	}
	ares_free_data(list);
	return r->n ? DNS_OK : DNS_NODATA;
}

/* Sorted by priority, then the heavier weight first: the order a client
 * would most likely try them in (RFC 2782's weighted pick is random). */
static enum dns_status dns_parse_srv(struct dns_req *r, const unsigned char *abuf, int alen)
{
	struct ares_srv_reply *list = NULL, *m;
	size_t total = 0;
	int st = ares_parse_srv_reply(abuf, alen, &list);

	if (st != ARES_SUCCESS)
		return dns_map(st);
	for (m = list; m; m = m->next)
		total++;
	r->srv = calloc(total ? total : 1, sizeof(*r->srv));
	if (!r->srv)
		bug("out of memory");
	for (m = list; m && r->n < DNS_MAX_RECORDS; m = m->next) {
		size_t i = r->n++;
		while (i > 0 && (r->srv[i - 1].priority > m->priority ||
				 (r->srv[i - 1].priority == m->priority &&
				  r->srv[i - 1].weight < m->weight))) {
			r->srv[i] = r->srv[i - 1];
			i--;
		}
		r->srv[i].priority = m->priority;
		r->srv[i].weight = m->weight;
		r->srv[i].port = m->port;
		r->srv[i].target = dns_strip_dot(m->host ? m->host : "");
	}
	ares_free_data(list);
	return r->n ? DNS_OK : DNS_NODATA;
}

static enum dns_status dns_parse_ptr(struct dns_req *r, const unsigned char *abuf, int alen)
{
	struct hostent *h = NULL;
	size_t cap = 0;
	int st =
	    ares_parse_ptr_reply(abuf, alen, r->addr, r->family == AF_INET ? 4 : 16, r->family, &h);

	if (st != ARES_SUCCESS)
		return dns_map(st);
	/* c-ares lists every PTR name among the aliases (h_name is one of
	 * them too); fall back to h_name when there are none */
	for (char **a = h->h_aliases; a && *a; a++)
		cap++;
	r->names = calloc(cap + 2, sizeof(*r->names));
	if (!r->names)
		bug("out of memory");
	for (char **a = h->h_aliases; a && *a && r->n < DNS_MAX_RECORDS; a++) {
		size_t i;
		char *s = dns_strip_dot(*a);
		for (i = 0; i < r->n; i++)
			if (strcasecmp(r->names[i], s) == 0)
				break;
		if (i < r->n || !*s)
			free(s);
		else
			r->names[r->n++] = s;
	}
	if (r->n == 0 && h->h_name && h->h_name[0])
		r->names[r->n++] = dns_strip_dot(h->h_name);
	ares_free_hostent(h);
	return r->n ? DNS_OK : DNS_NODATA;
}

static void dns_on_answer(void *arg, int status, int timeouts, unsigned char *abuf, int alen)
{
	struct dns_req *r = arg;
	char q[300];

	(void)timeouts;
	r->pending = 0;
	if (r->cancelled) {
		dns_req_release(r);
		return;
	}
	if (r->d->destroying)
		r->st = DNS_CANCELLED;
	else if (status != ARES_SUCCESS)
		r->st = dns_map(status);
	else if (r->kind == DNS_K_A || r->kind == DNS_K_AAAA)
		r->st = dns_parse_a(r, abuf, alen);
	else if (r->kind == DNS_K_MX)
		r->st = dns_parse_mx(r, abuf, alen);
	else if (r->kind == DNS_K_TXT)
		r->st = dns_parse_txt(r, abuf, alen);
	else if (r->kind == DNS_K_SRV)
		r->st = dns_parse_srv(r, abuf, alen);
	else
		r->st = dns_parse_ptr(r, abuf, alen);
	if (r->st != DNS_OK)
		dns_result_free(r);
	log_debug(NULL, "dns=answer type=%s name=%s status=%s n=%zu", dns_kind_name[r->kind],
		  log_quote(q, sizeof(q), r->name, strlen(r->name)), dns_status_str(r->st), r->n);
	dns_enqueue(r);
}

/* Sends the query; the caller sets r->fn (no answer is delivered before
 * the loop runs again).  Returns NULL for a name c-ares must not see. */
static struct dns_req *dns_send_class(struct dns *d, enum dns_kind kind, int dnsclass,
				      const char *name, void *arg)
{
	static const int types[] = {
	    [DNS_K_A] = 1,    [DNS_K_AAAA] = 28, [DNS_K_MX] = 15,
	    [DNS_K_TXT] = 16, [DNS_K_PTR] = 12,	 [DNS_K_SRV] = 33,
	};
	struct dns_req *r;

	if (d->destroying || !dns_name_ok(name))
		return NULL;
	r = dns_req_new(d, kind, name, arg);
	r->pending = 1;
	/* c-ares may answer at once (a bad name, no servers); dns_on_answer
	 * only queues, so the caller's callback still runs from the loop */
	ares_query(d->ch, name, dnsclass, types[kind], dns_on_answer, r);
	dns_timer_update(d);
	return r;
}

static struct dns_req *dns_send(struct dns *d, enum dns_kind kind, const char *name, void *arg)
{
	return dns_send_class(d, kind, 1 /* C_IN */, name, arg);
}

struct dns_req *dns_query_a(struct dns *d, const char *name, dns_addr_fn fn, void *arg)
{
	struct dns_req *r = dns_send(d, DNS_K_A, name, arg);

	if (r)
		r->fn.addr = fn;
	return r;
}

struct dns_req *dns_query_aaaa(struct dns *d, const char *name, dns_addr_fn fn, void *arg)
{
	struct dns_req *r = dns_send(d, DNS_K_AAAA, name, arg);

	if (r)
		r->fn.addr = fn;
	return r;
}

struct dns_req *dns_query_mx(struct dns *d, const char *name, dns_mx_fn fn, void *arg)
{
	struct dns_req *r = dns_send(d, DNS_K_MX, name, arg);

	if (r)
		r->fn.mx = fn;
	return r;
}

struct dns_req *dns_query_txt(struct dns *d, const char *name, dns_txt_fn fn, void *arg)
{
	struct dns_req *r = dns_send(d, DNS_K_TXT, name, arg);

	if (r)
		r->fn.txt = fn;
	return r;
}

struct dns_req *dns_query_txt_chaos(struct dns *d, const char *name, dns_txt_fn fn, void *arg)
{
	struct dns_req *r = dns_send_class(d, DNS_K_TXT, 3 /* C_CHAOS */, name, arg);

	if (r)
		r->fn.txt = fn;
	return r;
}

struct dns_req *dns_query_srv(struct dns *d, const char *name, dns_srv_fn fn, void *arg)
{
	struct dns_req *r = dns_send(d, DNS_K_SRV, name, arg);

	if (r)
		r->fn.srv = fn;
	return r;
}

struct dns_req *dns_query_ptr(struct dns *d, const char *ip, dns_name_fn fn, void *arg)
{
	static const char hex[] = "0123456789abcdef";
	unsigned char a[16];
	char name[80];
	struct dns_req *r;

	if (inet_pton(AF_INET, ip, a) == 1) {
		snprintf(name, sizeof(name), "%u.%u.%u.%u.in-addr.arpa", a[3], a[2], a[1], a[0]);
		r = dns_send(d, DNS_K_PTR, name, arg);
		if (r) {
			r->fn.name = fn;
			r->family = AF_INET;
			memcpy(r->addr, a, 4);
		}
		return r;
	}
	if (inet_pton(AF_INET6, ip, a) == 1) {
		char *p = name;
		for (int i = 15; i >= 0; i--) {
			*p++ = hex[a[i] & 0xf];
			*p++ = '.';
			*p++ = hex[a[i] >> 4];
			*p++ = '.';
		}
		memcpy(p, "ip6.arpa", sizeof("ip6.arpa"));
		r = dns_send(d, DNS_K_PTR, name, arg);
		if (r) {
			r->fn.name = fn;
			r->family = AF_INET6;
			memcpy(r->addr, a, 16);
		}
		return r;
	}
	return NULL;
}

/* --- MX hosts with their addresses (RFC 5321 5.1) --- */

static void dns_mxh_finish(struct dns_req *p)
{
	int any_ok = 0, any_temp = 0;

	p->hosts = calloc(p->nmxh ? p->nmxh : 1, sizeof(*p->hosts));
	if (!p->hosts)
		bug("out of memory");
	for (size_t i = 0; i < p->nmxh; i++) {
		struct dns_mxh *h = &p->mxh[i];
		struct dns_mx_host *o = &p->hosts[i];
		o->pref = h->pref;
		o->host = h->host;
		o->addrs = h->addrs;
		o->naddrs = h->naddrs;
		if (h->naddrs)
			o->status = DNS_OK;
		else if (h->st4 == DNS_TEMPFAIL || h->st6 == DNS_TEMPFAIL)
			o->status = DNS_TEMPFAIL;
		else if (h->st4 == DNS_NXDOMAIN && h->st6 == DNS_NXDOMAIN)
			o->status = DNS_NXDOMAIN;
		else if (h->st4 == DNS_NODATA || h->st6 == DNS_NODATA)
			o->status = DNS_NODATA;
		else
			o->status = h->st4;
		any_ok |= o->status == DNS_OK;
		any_temp |= o->status == DNS_TEMPFAIL;
	}
	p->st = any_ok ? DNS_OK : any_temp ? DNS_TEMPFAIL : DNS_NODATA;
	dns_enqueue(p);
}

static void dns_mxh_addr(struct dns_mxh *h, enum dns_status st, const struct dns_addr *a, size_t n,
			 int v6)
{
	struct dns_req *p = h->parent;

	*(v6 ? &h->st6 : &h->st4) = st;
	if (st == DNS_OK && n) {
		struct dns_addr *na = realloc(h->addrs, (h->naddrs + n) * sizeof(*na));
		if (!na)
			bug("out of memory");
		memcpy(na + h->naddrs, a, n * sizeof(*na));
		h->addrs = na;
		h->naddrs += n;
	}
	if (--p->kids_out == 0)
		dns_mxh_finish(p);
}

static void dns_mxh_on_a(void *arg, enum dns_status st, const struct dns_addr *a, size_t n)
{
	dns_mxh_addr(arg, st, a, n, 0);
}

static void dns_mxh_on_aaaa(void *arg, enum dns_status st, const struct dns_addr *a, size_t n)
{
	dns_mxh_addr(arg, st, a, n, 1);
}

static void dns_mxh_kid(struct dns_req *p, int slot, struct dns_req *k)
{
	if (!k) {
		/* a host name c-ares cannot ask for counts as no data */
		return;
	}
	k->parent = p;
	k->slot = &p->kids[slot];
	p->kids[slot] = k;
	p->kids_out++;
}

static void dns_mxh_on_mx(void *arg, enum dns_status st, const struct dns_mx *mx, size_t n)
{
	struct dns_req *p = arg;

	if (st == DNS_NODATA) {
		/* no MX, but the name exists: it is its own mail host */
		n = 1;
	} else if (st != DNS_OK) {
		p->st = st;
		dns_enqueue(p);
		return;
	}
	if (n > DNS_MAX_MXHOSTS)
		n = DNS_MAX_MXHOSTS;
	p->mxh = calloc(n, sizeof(*p->mxh));
	if (!p->mxh)
		bug("out of memory");
	p->nmxh = n;
	for (size_t i = 0; i < n; i++) {
		struct dns_mxh *h = &p->mxh[i];
		h->parent = p;
		h->pref = st == DNS_OK ? mx[i].pref : 0;
		h->host = dns_strip_dot(st == DNS_OK ? mx[i].host : p->name);
		h->st4 = h->st6 = DNS_ERROR;
	}
	for (size_t i = 0; i < n; i++) {
		struct dns_mxh *h = &p->mxh[i];
		dns_mxh_kid(p, 1 + 2 * (int)i, dns_query_a(p->d, h->host, dns_mxh_on_a, h));
		dns_mxh_kid(p, 2 + 2 * (int)i, dns_query_aaaa(p->d, h->host, dns_mxh_on_aaaa, h));
	}
	if (p->kids_out == 0)
		dns_mxh_finish(p);
}

struct dns_req *dns_resolve_mx_hosts(struct dns *d, const char *domain, dns_mxhosts_fn fn,
				     void *arg)
{
	struct dns_req *p, *k;

	if (d->destroying || !dns_name_ok(domain))
		return NULL;
	p = dns_req_new(d, DNS_K_MXHOSTS, domain, arg);
	p->fn.mxhosts = fn;
	k = dns_query_mx(d, domain, dns_mxh_on_mx, p);
	k->parent = p;
	k->slot = &p->kids[0];
	p->kids[0] = k;
	return p;
}

/* --- the resolver --- */

static int dns_channel(struct dns *d, char *err, size_t errlen)
{
	struct ares_options o;
	int r;

	memset(&o, 0, sizeof(o));
	o.flags = ARES_FLAG_NOSEARCH | ARES_FLAG_NOALIASES;
	o.timeout = (int)d->timeout_ms;
	o.tries = (int)d->tries;
	o.sock_state_cb = dns_sock_state;
	o.sock_state_cb_data = d;
	r = ares_init_options(&d->ch, &o,
			      ARES_OPT_FLAGS | ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES |
				  ARES_OPT_SOCK_STATE_CB);
	if (r != ARES_SUCCESS) {
		snprintf(err, errlen, "ares_init_options: %s", ares_strerror(r));
		d->ch = NULL;
		return -1;
	}
	if (d->servers && (r = ares_set_servers_ports_csv(d->ch, d->servers)) != ARES_SUCCESS) {
		snprintf(err, errlen, "bad DNS server list: %s", ares_strerror(r));
		ares_destroy(d->ch);
		d->ch = NULL;
		return -1;
	}
	return 0;
}

struct dns *dns_new(struct evloop *ev, const char *servers, char *err, size_t errlen)
{
	struct dns *d;
	char q[300];

	if (!dns_lib_ready) {
		int r = ares_library_init(ARES_LIB_INIT_ALL);
		if (r != ARES_SUCCESS) {
			snprintf(err, errlen, "ares_library_init: %s", ares_strerror(r));
			return NULL;
		}
		dns_lib_ready = 1;
	}
	d = calloc(1, sizeof(*d));
	if (!d)
		bug("out of memory");
	d->ev = ev;
	d->timeout_ms = DNS_DEFAULT_TIMEOUT_MS;
	d->tries = DNS_DEFAULT_TRIES;
	if (servers && !(d->servers = strdup(servers)))
		bug("out of memory");
	d->timer = ev_timer_new(ev, dns_on_timer, d);
	d->flush = ev_timer_new(ev, dns_on_flush, d);
	if (dns_channel(d, err, errlen) < 0) {
		ev_timer_free(d->timer);
		ev_timer_free(d->flush);
		free(d->servers);
		free(d);
		return NULL;
	}
	log_debug(NULL, "dns=new servers=%s",
		  servers ? log_quote(q, sizeof(q), servers, strlen(servers)) : "resolv.conf");
	return d;
}

struct dns *dns_new_config(struct evloop *ev, const struct config *cfg, char *err, size_t errlen)
{
	const char *servers = config_get(cfg, "dns_servers", NULL);
	char why[200];
	struct dns *d;

	if (servers && !*servers)
		servers = NULL;
	d = dns_new(ev, servers, why, sizeof(why));
	if (!d)
		snprintf(err, errlen, "dns_servers: %s", why);
	return d;
}

int dns_set_timeout(struct dns *d, unsigned int ms, unsigned int tries)
{
	char err[200];
	ares_channel old = d->ch;

	if (d->all) {
		errno = EBUSY;
		return -1;
	}
	if (ms == 0 || ms > 600000 || tries == 0 || tries > 20) {
		errno = EINVAL;
		return -1;
	}
	d->timeout_ms = ms;
	d->tries = tries;
	/* c-ares fixes timeouts when a channel is made: make a new one */
	if (dns_channel(d, err, sizeof(err)) < 0) {
		log_err(NULL, "dns=set_timeout error=\"%s\"", err);
		d->ch = old;
		errno = EINVAL;
		return -1;
	}
	ares_destroy(old);
	return 0;
}

void dns_free(struct dns *d)
{
	struct dns_req *r;

	if (!d)
		return;
	if (d->in_callback)
		bug("dns_free called from a dns callback");
	d->destroying = 1;
	/* every request the caller made hears DNS_CANCELLED once; the loop
	 * restarts after each callback, which may cancel others */
	for (;;) {
		for (r = d->all; r; r = r->next)
			if (!r->parent && !r->cancelled)
				break;
		if (!r)
			break;
		dns_deliver(r, DNS_CANCELLED);
		dns_cancel(r);
	}
	/* what is still out comes back to dns_on_answer with
	 * ARES_EDESTRUCTION, already cancelled, and is freed there */
	ares_destroy(d->ch);
	while (d->all)
		dns_req_release(d->all);
	ev_timer_free(d->timer);
	ev_timer_free(d->flush);
	for (size_t i = 0; i < d->nfds; i++)
		ev_io_del(d->ev, d->fds[i]);
	free(d->fds);
	free(d->servers);
	free(d);
}
