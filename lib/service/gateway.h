#ifndef LOFT_GATEWAY_H
#define LOFT_GATEWAY_H
/*
 * The inbound gateway (issue 11, "ISP blocks port 25 in"): a relay or
 * filtering service holds the public MX and forwards to an extra MX port
 * of the box.  Its settings, read the same way by loftd (which opens the
 * port), loft-smtpd (which checks who may use it), loftctl and loft-admin
 * (which set them and print the DNS records):
 *
 *   inbound.gateway_mx    the gateway's MX host name (DNS shows it as MX)
 *   inbound.gateway_port  the extra MX port (1024-65535; absent/0: off)
 *   inbound.gateway_from  addresses/CIDR blocks the gateway sends from
 *   inbound.gateway_user  a Loft account: a client on the gateway port
 *                         from elsewhere may relay in after AUTH as it,
 *                         over TLS only ("" = addresses only)
 *
 * loft.conf's smtpd.gateway_port / smtpd.gateway_from, when present, win
 * over the store's (a box configured by file stays so).
 */
#include <stddef.h>

struct store;
struct config;

#define GATEWAY_FROM_MAX 1024
/* a port from the store is opened by root, and the database is writable
 * by the daemons' user: it may not name a system service's port */
#define GATEWAY_PORT_MIN 1024

struct gateway_conf {
	char mx[256];
	unsigned port; /* 0: off */
	char from[GATEWAY_FROM_MAX];
	char user[256];
	int port_in_conf, from_in_conf; /* loft.conf decided these */
};

/* Fills g from the store (st may be NULL: nothing from it), then loft.conf
 * (cfg may be NULL).  Returns 0, or -1 with a message naming the key in
 * err (a store failure, a value that is not a port, a loft.conf value
 * too long).  Values are not otherwise checked: gateway_conf_check. */
int gateway_conf_load(struct gateway_conf *g, struct store *st, const struct config *cfg, char *err,
		      size_t errlen);
/* Returns NULL when g may be used, else a static message for a person:
 * an MX host that is not a host name, a port out of range, an open port
 * without a valid from list. */
const char *gateway_conf_check(const struct gateway_conf *g);
/* Stores g's mx, port, from and user (empty/0 deletes the key) in one
 * transaction; port and from not when loft.conf decides them
 * (port_in_conf, from_in_conf).  Returns 0 or -1 (store_errmsg). */
int gateway_conf_save(struct store *st, const struct gateway_conf *g);

#endif
