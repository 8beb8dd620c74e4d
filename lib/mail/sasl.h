#ifndef LOFT_SASL_H
#define LOFT_SASL_H
/*
 * The pieces of SASL every protocol daemon shares: strict base64 (RFC 4648
 * section 4: padding required, no whitespace, canonical padding bits) and
 * the PLAIN mechanism's message (RFC 4616).  Used by SMTP AUTH, IMAP
 * AUTHENTICATE and POP3 AUTH alike, so the three agree on what they accept.
 */
#include <stddef.h>

#define SASL_AUTHZ_OTHER (-2)

/* Decodes in[0..len) into out[0..outmax).  Returns the decoded length, or
 * -1 if the input is not strict base64 or would not fit. */
long sasl_b64_decode(const char *in, size_t len, unsigned char *out, size_t outmax);
/* Encodes in[0..len) into out, NUL-terminated.  Returns the length, or -1
 * if out is too small. */
long sasl_b64_encode(const void *in, size_t len, char *out, size_t outlen);
/* Splits a decoded PLAIN message "authzid NUL authcid NUL passwd".
 * authcid and passwd must be non-empty and NUL-free; authzid must be empty
 * or equal to authcid, ignoring ASCII case (no logging in as someone
 * else).  msg must have room for len+1 bytes: msg[len] becomes NUL and
 * *user / *pass point into msg.  Returns 0, -1 if malformed, or
 * SASL_AUTHZ_OTHER when authzid names another user. */
int sasl_plain_split(char *msg, size_t len, const char **user, const char **pass);

#endif
