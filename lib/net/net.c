#include "net.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "strnum.h"

int net_parse_addr(const char *spec, struct sockaddr_storage *ss, socklen_t *sslen)
{
	char host[64];
	const char *colon, *hs;
	size_t hl;
	unsigned int port;

	memset(ss, 0, sizeof(*ss));
	if (spec[0] == '[') {
		const char *end = strchr(spec, ']');
		if (!end || end[1] != ':')
			return -1;
		hs = spec + 1;
		hl = (size_t)(end - hs);
		colon = end + 1;
	} else {
		colon = strrchr(spec, ':');
		if (!colon)
			return -1;
		hs = spec;
		hl = (size_t)(colon - spec);
	}
	if (hl == 0 || hl >= sizeof(host))
		return -1;
	memcpy(host, hs, hl);
	host[hl] = '\0';
	if (strnum_uint(colon + 1, 65535, &port) < 0)
		return -1;
	if (spec[0] == '[') {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)port);
		if (inet_pton(AF_INET6, host, &s6->sin6_addr) != 1)
			return -1;
		*sslen = sizeof(*s6);
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
		s4->sin_family = AF_INET;
		s4->sin_port = htons((uint16_t)port);
		if (strcmp(host, "*") == 0)
			s4->sin_addr.s_addr = htonl(INADDR_ANY);
		else if (inet_pton(AF_INET, host, &s4->sin_addr) != 1)
			return -1;
		*sslen = sizeof(*s4);
	}
	return 0;
}

int net_listen(const char *spec, int backlog, char *err, size_t errlen)
{
	struct sockaddr_storage ss;
	socklen_t sl;
	int fd, one = 1, zero = 0;

	if (net_parse_addr(spec, &ss, &sl) < 0) {
		snprintf(err, errlen, "bad address \"%s\" (want host:port or [v6]:port)", spec);
		return -1;
	}
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		snprintf(err, errlen, "socket: %s", strerror(errno));
		return -1;
	}
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (ss.ss_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
	if (bind(fd, (struct sockaddr *)&ss, sl) < 0 || listen(fd, backlog) < 0) {
		snprintf(err, errlen, "%s: %s", spec, strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

char *net_addr_str(const struct sockaddr *sa, char *out, size_t outlen)
{
	out[0] = '\0';
	if (sa->sa_family == AF_INET) {
		inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, out, outlen);
	} else if (sa->sa_family == AF_INET6) {
		const struct in6_addr *a = &((const struct sockaddr_in6 *)sa)->sin6_addr;
		/* show v4-mapped peers of a dual-stack socket as plain IPv4 */
		if (IN6_IS_ADDR_V4MAPPED(a))
			inet_ntop(AF_INET, &a->s6_addr[12], out, outlen);
		else
			inet_ntop(AF_INET6, a, out, outlen);
	} else if (sa->sa_family == AF_UNIX) {
		snprintf(out, outlen, "local");
	}
	return out;
}

int net_addr_port(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET)
		return ntohs(((const struct sockaddr_in *)sa)->sin_port);
	if (sa->sa_family == AF_INET6)
		return ntohs(((const struct sockaddr_in6 *)sa)->sin6_port);
	return 0;
}

int net_set_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	if (fl < 0)
		return -1;
	return fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

int net_set_cloexec(int fd, int on)
{
	int fl = fcntl(fd, F_GETFD);

	if (fl < 0)
		return -1;
	return fcntl(fd, F_SETFD, on ? fl | FD_CLOEXEC : fl & ~FD_CLOEXEC);
}

/* Parses ip into 16 bytes (IPv4 as ::ffff:a.b.c.d); returns 0 or -1. */
static int ip16(const char *ip, unsigned char out[16], int *is4)
{
	struct in_addr a4;

	if (inet_pton(AF_INET, ip, &a4) == 1) {
		memset(out, 0, 10);
		out[10] = out[11] = 0xff;
		memcpy(out + 12, &a4, 4);
		*is4 = 1;
		return 0;
	}
	if (inet_pton(AF_INET6, ip, out) == 1) {
		static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
		*is4 = memcmp(out, mapped, 12) == 0;
		return 0;
	}
	return -1;
}

static int prefix_match(const unsigned char *a, const unsigned char *b, unsigned bits)
{
	unsigned full = bits / 8, rest = bits % 8;

	if (memcmp(a, b, full) != 0)
		return 0;
	if (rest) {
		unsigned char mask = (unsigned char)(0xff << (8 - rest));
		if ((a[full] & mask) != (b[full] & mask))
			return 0;
	}
	return 1;
}

int net_ip_in_nets(const char *ip, const char *nets)
{
	unsigned char addr[16], net[16];
	int is4, net4, found = 0;
	const char *p;

	if (ip16(ip, addr, &is4) < 0)
		return 0;
	for (p = nets; *p;) {
		char item[64], *slash;
		size_t n = 0;
		unsigned bits;

		while (*p == ' ' || *p == ',' || *p == '\t')
			p++;
		if (!*p)
			break;
		while (p[n] && p[n] != ' ' && p[n] != ',' && p[n] != '\t')
			n++;
		if (n >= sizeof(item))
			return -1;
		memcpy(item, p, n);
		item[n] = '\0';
		p += n;
		/* a bare address is a network of one host */
		slash = strchr(item, '/');
		if (slash)
			*slash = '\0';
		if (ip16(item, net, &net4) < 0)
			return -1;
		if (!slash)
			bits = net4 ? 32 : 128;
		else if (strnum_uint(slash + 1, net4 ? 32 : 128, &bits) < 0)
			return -1;
		if (net4)
			bits += 96;
		if (net4 == is4 && prefix_match(addr, net, bits))
			found = 1;
	}
	return found;
}

/* A plain DNS host name of two labels or more (letters, digits, inner
 * hyphens; RFC 1123 2.1), as typed into loft.conf, loftctl or the admin:
 * no trailing dot, no IP literal, nothing that could reach a zone file or
 * an SMTP line as more than a name. */
int net_hostname_ok(const char *s)
{
	size_t n = strlen(s), label = 0, labels = 1;

	if (n == 0 || n > 253 || s[0] == '.' || s[n - 1] == '.' || s[n - 1] == '-')
		return 0;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];

		if (c == '.') {
			if (label == 0 || s[i - 1] == '-')
				return 0;
			label = 0;
			labels++;
			continue;
		}
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      (c == '-' && label > 0)))
			return 0;
		if (++label > 63)
			return 0;
	}
	return labels >= 2;
}
