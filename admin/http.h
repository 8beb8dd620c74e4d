#ifndef LOFT_ADMIN_HTTP_H
#define LOFT_ADMIN_HTTP_H
/*
 * The transport of loft-admin: libmicrohttpd driven from Loft's event loop
 * (one thread: MHD without a listening socket of its own, its epoll
 * descriptor watched by the loop, its timeout a loop timer), connections
 * accepted by lib/service's listener (limits per address and in total),
 * HTTPS terminated by Loft's mbedTLS (lib/net/conn) in front of MHD, the
 * plaintext relayed over a socketpair.
 */
#include "admin.h"

struct http;
struct tls_ctx;

/* Never returns NULL: exits when MHD cannot start (a bad environment). */
struct http *admin_http_new(struct admin *a, unsigned max_conns, unsigned max_per_ip,
			    unsigned timeout_s, unsigned handshake_s);
/* Serves on fd (a listening socket from loftd); tls: HTTPS.  Returns 0 or
 * -1. */
int admin_http_listen(struct http *h, int fd, int tls);
/* The certificate used for new HTTPS connections (a reference is taken;
 * NULL: HTTPS connections are closed at once). */
void admin_http_set_tls(struct http *h, struct tls_ctx *tls);
/* Stops accepting; open requests go on.  Returns the connections open. */
unsigned admin_http_stop(struct http *h);
/* Connections open. */
unsigned admin_http_conns(const struct http *h);
void admin_http_free(struct http *h);
/* Ends the login delay of a suspended request (session.c). */
void admin_http_resume(struct req *q);

#endif
