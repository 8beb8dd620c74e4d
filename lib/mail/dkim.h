#ifndef LOFT_DKIM_H
#define LOFT_DKIM_H
/*
 * DKIM signing (RFC 6376): rsa-sha256, relaxed/relaxed, on mbedTLS.  The
 * body is hashed as it streams past (dkim_body), so a message is never
 * held whole; the header block is given at once (bounded by the caller).
 *
 *	struct dkim *k = dkim_new(pem, "example.org", "loft", err, sizeof(err));
 *	dkim_body(k, chunk, n) ...;          // the body only, as sent
 *	dkim_sign(k, header, header_len, now, &field);  // "DKIM-Signature: ...\r\n"
 *	dkim_free(k);
 */
#include <stddef.h>
#include <stdint.h>

struct dkim;

/* A signer for domain (d=) and selector (s=) with the PEM RSA private key
 * (NULL: body and header hashing only, for dkim_sign_prepare, the RSA
 * step left to dkim_sign_rsa).  Returns it, or NULL with a message in
 * err. */
struct dkim *dkim_new(const char *key_pem, const char *domain, const char *selector, char *err,
		      size_t errlen);
/* Feeds body bytes (after the header's empty line), any chunking. */
void dkim_body(struct dkim *k, const char *p, size_t n);
/* Signs header (the whole header block, CRLF line ends, without the empty
 * line) and the body fed so far.  *field gets a malloc'd
 * "DKIM-Signature: ...\r\n" (caller frees).  Returns 0 or -1 (err set). */
int dkim_sign(struct dkim *k, const char *header, size_t header_len, int64_t now, char **field,
	      char *err, size_t errlen);
/* NULL is fine. */
void dkim_free(struct dkim *k);

/* The same in two steps, so the RSA operation (milliseconds of CPU) can
 * run on another thread: dkim_sign_prepare hashes and gives the field up
 * to "b=" (*unsigned_field, malloc'd) and the hash to sign;
 * dkim_sign_rsa (thread-safe: its own key and random state) gives the
 * base64 signature (*sig_b64, malloc'd); dkim_field_finish joins them
 * into the field (malloc'd, NULL when out of memory).  Return 0 or -1. */
int dkim_sign_prepare(struct dkim *k, const char *header, size_t header_len, int64_t now,
		      char **unsigned_field, unsigned char hash[32], char *err, size_t errlen);
int dkim_sign_rsa(const char *key_pem, const unsigned char hash[32], char **sig_b64, char *err,
		  size_t errlen);
/* dkim_sign_rsa keeps the last few parsed keys per thread (a kept key
 * signs a third cheaper); a thread that signed calls this before it ends
 * (frees and wipes them).  The calling thread's only. */
void dkim_thread_done(void);
char *dkim_field_finish(const char *unsigned_field, const char *sig_b64);

/* A new 2048-bit RSA key: *pem (malloc'd PEM private key) and the public
 * key as base64 DER for the DNS record's p= tag (*pub, malloc'd).  Returns
 * 0 or -1 (err set).  Takes a second or more on a small board. */
int dkim_keygen(unsigned bits, char **pem, char **pub, char *err, size_t errlen);
/* The p= value for an existing PEM private key (*pub malloc'd).
 * Returns 0 or -1. */
int dkim_pubkey(const char *key_pem, char **pub, char *err, size_t errlen);

/* Relaxed canonicalization, exposed for the tests: the header field
 * (name: value, possibly folded, without its final CRLF) into out
 * ("name:value", no CRLF).  Returns the length, or -1 if out is small. */
long dkim_canon_header(const char *field, size_t len, char *out, size_t outlen);

/* The domain of the first address of a From: field's value (after the
 * colon), lowercased into out.  Returns 0, or -1 when none is found. */
int dkim_from_domain(const char *value, size_t len, char *out, size_t outlen);

#endif
