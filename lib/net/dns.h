#ifndef LOFT_DNS_H
#define LOFT_DNS_H
/*
 * Asynchronous DNS on c-ares, driven by the evloop: c-ares' sockets are
 * watched with ev_io_*, its retransmission timer with an ev_timer.
 *
 * Every query takes a callback that is called exactly once -- with the
 * answer, an error status, or DNS_CANCELLED when dns_free() runs first --
 * unless the caller cancels it with dns_cancel().  The callback never runs
 * inside the dns_query_* call that started it (an immediate failure is
 * delivered from the loop), so callers need not guard against re-entry.
 *
 * Results (arrays and the strings in them) belong to the module and are
 * valid only during the callback: copy what you keep.
 *
 * Queries go out exactly as named (no search list, no /etc/hosts).
 */
#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>

struct evloop;
struct dns;
struct dns_req;

enum dns_status {
	DNS_OK = 0,
	DNS_NXDOMAIN,  /* the name does not exist */
	DNS_NODATA,    /* the name exists, no record of that type */
	DNS_TEMPFAIL,  /* SERVFAIL, REFUSED, timeout, unreachable server, bad reply */
	DNS_ERROR,     /* a permanent error: bad name, FORMERR, NOTIMP */
	DNS_CANCELLED, /* dns_free() ran before the answer came */
	DNS_NULLMX,    /* MX only: the domain publishes "MX 0 ." (RFC 7505) */
};

struct dns_addr {
	int family; /* AF_INET or AF_INET6 */
	union {
		struct in_addr v4;
		struct in6_addr v6;
	} a;
	char text[INET6_ADDRSTRLEN];
	uint32_t ttl;
};

struct dns_mx {
	unsigned int pref;
	const char *host; /* without a trailing dot */
};

/* One SRV record (RFC 2782). */
struct dns_srv {
	unsigned int priority, weight, port;
	const char *target; /* without a trailing dot; "" for "." (service not offered) */
};

struct dns_txt {
	const char *data; /* the record's strings concatenated, NUL-terminated */
	size_t len;	  /* may hold NUL bytes: use len, not strlen */
};

/* One MX host with its addresses, from dns_resolve_mx_hosts(). */
struct dns_mx_host {
	unsigned int pref;
	const char *host;
	enum dns_status status; /* of its address lookups: OK if any address */
	const struct dns_addr *addrs;
	size_t naddrs;
};

typedef void (*dns_addr_fn)(void *arg, enum dns_status st, const struct dns_addr *addrs, size_t n);
typedef void (*dns_mx_fn)(void *arg, enum dns_status st, const struct dns_mx *mx, size_t n);
typedef void (*dns_txt_fn)(void *arg, enum dns_status st, const struct dns_txt *txt, size_t n);
typedef void (*dns_srv_fn)(void *arg, enum dns_status st, const struct dns_srv *srv, size_t n);
typedef void (*dns_name_fn)(void *arg, enum dns_status st, const char *const *names, size_t n);
typedef void (*dns_mxhosts_fn)(void *arg, enum dns_status st, const struct dns_mx_host *hosts,
			       size_t n);

/* Hard limits on what one answer may hand to a caller. */
#define DNS_MAX_RECORDS 64 /* records kept per answer, the rest dropped */
#define DNS_MAX_MXHOSTS 10 /* MX hosts resolved by dns_resolve_mx_hosts */
#define DNS_MAX_TXT	65535

/*
 * A resolver on ev.  servers is a c-ares CSV list ("127.0.0.1:5353,
 * [::1]:53"), or NULL for /etc/resolv.conf.  Timeout 2000 ms and 3 tries
 * by default.  Returns the resolver, or NULL with a message in err.
 */
struct dns *dns_new(struct evloop *ev, const char *servers, char *err, size_t errlen);

struct config;
/*
 * The resolver loft.conf asks for: the dns_servers key (the same list as
 * dns_new's, e.g. "127.0.0.1:5353,[::1]:53"; unset or empty: the system's
 * resolver from /etc/resolv.conf).  Every daemon that resolves makes its
 * resolver here, so tests and the admin point them all at one server.
 * Returns it, or NULL with a message naming the key in err.
 */
struct dns *dns_new_config(struct evloop *ev, const struct config *cfg, char *err, size_t errlen);

/*
 * Sets the first-try timeout (c-ares doubles it on each round through the
 * servers) and the number of tries.  With one server the worst case is
 * about ms * (2^tries - 1).  Only while no query is in flight.
 * Returns 0, or -1 (errno EBUSY when queries are in flight).
 */
int dns_set_timeout(struct dns *d, unsigned int ms, unsigned int tries);

/* Cancels every query (each callback gets DNS_CANCELLED) and frees the
 * resolver.  Must not be called from inside a dns callback.  NULL allowed. */
void dns_free(struct dns *d);

/*
 * The queries.  Each returns a handle, valid until its callback has run or
 * it is cancelled; or NULL when the name is empty/too long (nothing will be
 * called).  Addresses come in answer order; MX sorted by preference (ties
 * in answer order), null-MX reported as DNS_NULLMX; TXT one entry per
 * record with its strings concatenated; PTR names without trailing dot.
 */
struct dns_req *dns_query_a(struct dns *d, const char *name, dns_addr_fn fn, void *arg);
struct dns_req *dns_query_aaaa(struct dns *d, const char *name, dns_addr_fn fn, void *arg);
struct dns_req *dns_query_mx(struct dns *d, const char *name, dns_mx_fn fn, void *arg);
struct dns_req *dns_query_txt(struct dns *d, const char *name, dns_txt_fn fn, void *arg);
/* TXT in class CHAOS (whoami.cloudflare, version.bind): what a server says
 * about itself or about the asker. */
struct dns_req *dns_query_txt_chaos(struct dns *d, const char *name, dns_txt_fn fn, void *arg);
/* SRV records of name ("_imaps._tcp.example.org"), sorted by priority
 * (ties by higher weight first, then answer order).  A lone "0 0 0 ." record
 * (RFC 2782: the service is decidedly not offered) is delivered as one
 * entry with an empty target, not as NODATA, so callers can tell the two
 * apart. */
struct dns_req *dns_query_srv(struct dns *d, const char *name, dns_srv_fn fn, void *arg);
/* ip is a v4 or v6 address in text; NULL if it is not one. */
struct dns_req *dns_query_ptr(struct dns *d, const char *ip, dns_name_fn fn, void *arg);

/*
 * Where to deliver mail for domain (RFC 5321 5.1): its MX hosts by
 * preference, each with its A and AAAA addresses; when the domain has no
 * MX records but exists, the domain itself as an implicit MX of
 * preference 0.  Status: OK when at least one host has an address;
 * DNS_NULLMX; NXDOMAIN for the domain; TEMPFAIL when the MX lookup or every
 * host lookup failed with a temporary error; NODATA when no host has an
 * address.  At most DNS_MAX_MXHOSTS hosts.
 */
struct dns_req *dns_resolve_mx_hosts(struct dns *d, const char *domain, dns_mxhosts_fn fn,
				     void *arg);

/* The callback of req will not be called; req is gone.  Safe from inside
 * any callback, also for a req of another query. */
void dns_cancel(struct dns_req *req);

/* "ok", "nxdomain", ... for logs; a static string. */
const char *dns_status_str(enum dns_status st);

#endif
