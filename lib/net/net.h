#ifndef LOFT_NET_H
#define LOFT_NET_H
/* Socket helpers: address parsing, listening, non-blocking flags. */
#include <stddef.h>
#include <sys/socket.h>

/* Parses "host:port", "[v6]:port"; host is a numeric address or "*".
 * Returns 0 with *ss and *sslen set, -1 if malformed. */
int net_parse_addr(const char *spec, struct sockaddr_storage *ss, socklen_t *sslen);
/* Binds and listens (SO_REUSEADDR, close-on-exec, non-blocking; a "[::]"
 * socket also takes IPv4).  Returns the fd, or -1 with err filled. */
int net_listen(const char *spec, int backlog, char *err, size_t errlen);
/* Formats an address as "1.2.3.4" or "2001:db8::1" (no port) into out.
 * Returns out. */
char *net_addr_str(const struct sockaddr *sa, char *out, size_t outlen);
/* Returns the port of sa, or 0. */
int net_addr_port(const struct sockaddr *sa);
/* Returns 1 when ip (text, v4 or v6) is in one of the networks of nets (a
 * space- or comma-separated list of CIDR blocks or bare addresses,
 * "10.0.0.0/8 192.0.2.10 fe80::/10"), 0 when not, -1 when nets is
 * malformed.  An IPv4-mapped IPv6 address counts as its IPv4 address.
 * Used by loft-admin's local-network check and loft-smtpd's gateway port. */
int net_ip_in_nets(const char *ip, const char *nets);

/* 1: s is a plain host name of two labels or more (RFC 1123). */
int net_hostname_ok(const char *s);
int net_set_nonblock(int fd);
int net_set_cloexec(int fd, int on);

#endif
