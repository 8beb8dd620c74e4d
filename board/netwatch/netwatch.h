#ifndef LOFT_NETWATCH_H
#define LOFT_NETWATCH_H
/*
 * Inside loft-netwatch: the probes (probe_*.c), one check that runs them
 * and judges the evidence (check.c), the targets every probe reads
 * (targets.c).  loftctl links the same files for "route check".
 */
#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "netverdict.h"

struct evloop;
struct store;
struct config;

/* --- where the probes go (settings netwatch.*) ------------------------ */

#define NW_TARGET_MAX 256

struct nw_targets {
	/* reflection: each "" turns that method off */
	char opendns_servers[NW_TARGET_MAX], opendns_name[NW_TARGET_MAX];
	/* the same name's AAAA asked over IPv6: an IPv6 resolver sees the
	 * box's IPv6 address ("" = no IPv6 reflection) */
	char opendns6_servers[NW_TARGET_MAX];
	char google_servers[NW_TARGET_MAX], google_name[NW_TARGET_MAX];
	char cloudflare_servers[NW_TARGET_MAX], cloudflare_name[NW_TARGET_MAX];
	/* the local recursive resolver for PTR and the lists ("" = the
	 * dns_servers of loft.conf, else resolv.conf) */
	char resolver[NW_TARGET_MAX];
	char zen_zone[NW_TARGET_MAX];	   /* "" = lists off */
	char port25_target[NW_TARGET_MAX]; /* "host:port" or "host"; "" = off */
	char router[64];		   /* NAT-PMP gateway, "auto", or "" (off) */
	unsigned dns_timeout_ms;
	unsigned port25_timeout_ms;
	unsigned router_timeout_ms;
	unsigned interval_s, address_interval_s, port25_interval_s;
	/* dynamic DNS (RFC 2136 + TSIG); off while ddns_server is "" */
	char ddns_server[NW_TARGET_MAX], ddns_zone[NW_TARGET_MAX], ddns_name[NW_TARGET_MAX];
	char ddns_key_name[NW_TARGET_MAX], ddns_key_secret[NW_TARGET_MAX];
	unsigned ddns_ttl;
	/* or the dyndns2 protocol: "https://host[:port]/nic/update" ("" off) */
	char dyndns2_url[NW_TARGET_MAX], dyndns2_hostname[NW_TARGET_MAX];
	char dyndns2_user[NW_TARGET_MAX], dyndns2_password[NW_TARGET_MAX];
	char dyndns2_ca[NW_TARGET_MAX]; /* CA file; "" = the system's store */
	/* port mappings: UPnP IGD ("auto" = discover, a root description
	 * URL, "" = off), NAT-PMP through router; the TCP ports, the lease */
	char upnp[NW_TARGET_MAX], map_ports[NW_TARGET_MAX];
	unsigned map_lease_s;
	/* PCP MAP before NAT-PMP (netwatch.pcp, 1), with the nonce that owns
	 * this box's mappings (kept in the store by loft-netwatch, so a
	 * restarted one can renew and delete them; zeros from
	 * nw_targets_load) */
	unsigned pcp;
	uint8_t pcp_nonce[12];
};

/* Fills t: for each key the store setting netwatch.KEY, else loft.conf's
 * netwatch.KEY (cfg may be NULL), else the default: the real services, or
 * "" (that probe off) when offline is set (loftd --dev, where nothing may
 * leave the machine unless configured).  Returns 0, or -1 with a message
 * naming the key in err (a bad number, a value too long). */
int nw_targets_load(struct nw_targets *t, struct store *st, const struct config *cfg, int offline,
		    char *err, size_t errlen);

/* --- a blocking job on a thread (worker.c) ----------------------------- */

struct nw_worker;
typedef void (*nw_work_fn)(void *arg);
/* Runs work(arg) on a thread, then done(arg) on the loop (the worker is
 * gone by then).  Never NULL. */
struct nw_worker *nw_worker_start(struct evloop *ev, nw_work_fn work, nw_work_fn done, void *arg);
/* Waits for work() to end and frees the worker; done() is not called.
 * NULL allowed. */
void nw_worker_join(struct nw_worker *w);

/* --- probe: outbound port 25 (probe_port25.c) -------------------------- */

struct nw_p25;
typedef void (*nw_p25_fn)(void *arg, enum netv_port25 r, const char *detail);
/* Connects to sa, waits up to timeout_ms for a connection and then for the
 * banner line, says QUIT.  fn is called once, from the loop, unless the
 * probe is cancelled.  Returns the probe (never NULL). */
struct nw_p25 *nw_p25_start(struct evloop *ev, const struct sockaddr *sa, socklen_t salen,
			    unsigned timeout_ms, nw_p25_fn fn, void *arg);
void nw_p25_cancel(struct nw_p25 *p);
/* What the first bytes from the server say: OPEN for an SMTP reply line
 * (2xx-5xx), GARBAGE otherwise; a printable description in detail.  Reads
 * only the first line of buf (len bytes, any content). */
enum netv_port25 nw_p25_classify(const char *buf, size_t len, char *detail, size_t detaillen);

/* --- probe: the router's WAN address by NAT-PMP (probe_router.c) ------- */

struct nw_router;
/* ok: 1 with the WAN address in text, 0 with a reason in text. */
typedef void (*nw_router_fn)(void *arg, int ok, const char *text);
/* gateway: an IPv4 address or "auto" (the default route's gateway).
 * fn is called once from the loop unless cancelled.  Never NULL. */
struct nw_router *nw_router_start(struct evloop *ev, const char *gateway, unsigned timeout_ms,
				  nw_router_fn fn, void *arg);
void nw_router_cancel(struct nw_router *r);

/* --- probe: the router's WAN address by UPnP IGD (probe_upnp.c) -------- */

struct nw_upnp;
/* upnp: "auto" (SSDP discovery) or the IGD's root description URL.  fn
 * gets the WAN address (ok 1) or why not, once, from the loop, unless
 * cancelled (which waits for the worker thread).  Never NULL. */
struct nw_upnp *nw_upnp_wan_start(struct evloop *ev, const char *upnp, unsigned timeout_ms,
				  nw_router_fn fn, void *arg);
void nw_upnp_cancel(struct nw_upnp *u);

/* --- dynamic DNS (ddns.c) --------------------------------------------- */

struct nw_ddns;
/* ok 1 when the server applied the update and its signed answer
 * verified; text says what happened. */
typedef void (*nw_ddns_fn)(void *arg, int ok, const char *text);
/* Sends the update of t->ddns_name to addr4 and/or addr6 (NULL or "" to
 * leave a type alone).  fn is called once from the loop unless
 * cancelled.  Never NULL. */
struct nw_ddns *nw_ddns_start(struct evloop *ev, const struct nw_targets *t, const char *addr4,
			      const char *addr6, nw_ddns_fn fn, void *arg);
void nw_ddns_cancel(struct nw_ddns *u);

/* The dyndns2 protocol over HTTPS (dyndns2.c): t->dyndns2_url with
 * hostname=t->dyndns2_hostname&myip=addr, Basic auth.  fn as above. */
struct nw_dyndns2;
struct nw_dyndns2 *nw_dyndns2_start(struct evloop *ev, const struct nw_targets *t, const char *addr,
				    nw_ddns_fn fn, void *arg);
void nw_dyndns2_cancel(struct nw_dyndns2 *d);

/* --- router port mappings (mapping.c) ---------------------------------- */

#define NW_MAP_MAX 8

struct nw_map_result {
	int port;
	char method[12]; /* "upnp", "natpmp", "none" */
	int ok;
	unsigned lease; /* seconds granted; 0 permanent or refused */
	char detail[200];
};
struct nw_map;
typedef void (*nw_map_fn)(void *arg, const struct nw_map_result *r, size_t n);
/* Forwards t->map_ports by UPnP IGD (t->upnp), else NAT-PMP (t->router),
 * on a worker thread; fn gets one result per port, from the loop.  Cancel
 * waits for the worker.  Never NULL. */
struct nw_map *nw_map_start(struct evloop *ev, const struct nw_targets *t, nw_map_fn fn, void *arg);
/* The same round deleting the mappings of t->map_ports (UPnP
 * DeletePortMapping, NAT-PMP lifetime 0): r[i].ok 1 when the port is no
 * longer forwarded.  Cancel with nw_map_cancel. */
struct nw_map *nw_unmap_start(struct evloop *ev, const struct nw_targets *t, nw_map_fn fn,
			      void *arg);
void nw_map_cancel(struct nw_map *m);
/* The ports of a list like netwatch.map_ports ("25, 465,587"): at most
 * max, bad entries skipped.  Returns how many. */
size_t nw_map_ports(const char *list, int *ports, size_t max);

/* --- one check (check.c) ---------------------------------------------- */

#define NW_ITEMS_MAX 24

struct nw_item {
	char probe[24];
	char result[48];
	char detail[320];
};

enum nw_mode {
	NW_FULL,	/* every probe; port 25 only when asked */
	NW_FULL_PORT25, /* every probe with port 25 */
	NW_ADDRESS,	/* the cheap one: reflection only */
};

struct nw_result {
	struct netv_evidence ev;
	enum netv_verdict verdict;
	char reason[512];
	char addr6[INET6_ADDRSTRLEN]; /* OpenDNS AAAA, when it answered */
	int port25_probed;	      /* ev.port25 is from this check */
	struct nw_item items[NW_ITEMS_MAX];
	size_t nitems;
};

struct nw_check;
/* Each piece of evidence as it comes (for loftctl's progress lines). */
typedef void (*nw_progress_fn)(void *arg, const struct nw_item *item);
/* The check's end: r is valid during the call; the check is gone after. */
typedef void (*nw_done_fn)(void *arg, struct nw_result *r);

/* What a check knows before it starts: the last port 25 result (for a
 * check that does not probe it) and the recent reputation rejections
 * loft-queue recorded (store_nw_rejection_count). */
struct nw_prior {
	enum netv_port25 port25;
	int rejections;
	char rejection[320]; /* the newest: "host: reply" */
};

/*
 * Starts a check on ev with what prior (may be NULL) says.  progress may
 * be NULL.  done is called once from the loop (never from inside this
 * call) unless the check is cancelled.  Returns the check, or NULL with a
 * reason in err (a bad resolver list).
 */
struct nw_check *nw_check_start(struct evloop *ev, const struct nw_targets *t, enum nw_mode mode,
				const struct nw_prior *prior, nw_progress_fn progress,
				nw_done_fn done, void *arg, char *err, size_t errlen);
/* Fills prior's rejections from the store: reputation rejections since
 * since (unix seconds).  Returns 0 or -1. */
int nw_prior_rejections(struct nw_prior *prior, struct store *st, int64_t since);
/* Stops a check: done is not called.  NULL allowed.  Not from inside a
 * progress or done callback of the same check. */
void nw_check_cancel(struct nw_check *c);

#endif
