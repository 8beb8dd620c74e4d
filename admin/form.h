#ifndef LOFT_ADMIN_FORM_H
#define LOFT_ADMIN_FORM_H
/*
 * The web input loft-admin parses itself (MHD parses the request line,
 * headers, query string and cookies): application/x-www-form-urlencoded
 * bodies, and the client-address test behind "the wizard is for the local
 * network only".  Both take hostile input.
 */
#include <stddef.h>

#define FORM_MAX_FIELDS 64    /* fields in one form */
#define FORM_MAX_NAME	64    /* bytes in a field name, decoded */
#define FORM_MAX_BODY	65536 /* a form body, encoded */

struct form_field {
	const char *name, *value; /* decoded, NUL-terminated, in form.mem */
	size_t value_len;
};

struct form {
	size_t n;
	struct form_field f[FORM_MAX_FIELDS];
	char *mem;
};

/* Parses body[0..len) ("a=1&b=x%20y").  Names and values are
 * percent-decoded ('+' is a space) and must be valid UTF-8 without NUL or
 * control characters other than TAB, CR and LF in values; names must be
 * [A-Za-z0-9_.-].  Returns 0 with f filled (free with admin_form_free), or -1
 * with a reason (a static string) in *why and f empty: too long, too many
 * fields, a bad escape, bad UTF-8, a bad name, an empty name. */
int admin_form_parse(struct form *f, const char *body, size_t len, const char **why);
void admin_form_free(struct form *f);
/* The value of the first field called name, or NULL. */
const char *admin_form_get(const struct form *f, const char *name);

/* One part of a multipart/form-data body (RFC 7578): ctype is the
 * request's Content-Type (its boundary parameter, at most 70 bytes), name
 * the part's form-data name.  Returns 0 with *data and *dlen pointing into
 * body, or -1 with a reason in *why (no boundary, malformed, part headers
 * over FORM_MAX_PART_HEAD, no such part). */
#define FORM_MAX_PART_HEAD 4096
int admin_form_multipart_part(const char *ctype, const char *body, size_t len, const char *name,
			      const char **data, size_t *dlen, const char **why);

/* The text of the first <tag>...</tag> in body[0..len) (Outlook's
 * Autodiscover request names the address in <EMailAddress>): no XML
 * parser, just the element, which must be non-empty, shorter than n and
 * free of markup.  Returns 0 with out set, or -1. */
int admin_form_xml_text(const char *body, size_t len, const char *tag, char *out, size_t n);

/* Returns 1 when ip (text, v4 or v6) is in one of the networks of nets (a
 * space- or comma-separated list of CIDR blocks, "10.0.0.0/8 fe80::/10"),
 * 0 when not, -1 when nets is malformed.  NULL nets means the local
 * networks: loopback, RFC 1918, link-local, IPv6 unique local; an IPv4-
 * mapped IPv6 address counts as its IPv4 address. */
int admin_form_ip_in_nets(const char *ip, const char *nets);
#define FORM_LOCAL_NETS                                                                            \
	"127.0.0.0/8 10.0.0.0/8 172.16.0.0/12 192.168.0.0/16 169.254.0.0/16 ::1/128 fc00::/7 "     \
	"fe80::/10"

#endif
