/* lib/mail/dkim (canonicalization, From: domain, sign + verify with the
 * public key) and lib/mail/dsn (the report's shape, control bytes from a
 * peer's reply cleaned). */
#include <mbedtls/base64.h>
#include <mbedtls/pk.h>
#include <mbedtls/sha256.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "dkim.h"
#include "dsn.h"
#include "tap.h"

static void test_canon_header(void)
{
	char out[256];
	long n;

	n = dkim_canon_header("Subject :  Hello   world  ", 26, out, sizeof(out));
	ok(strcmp(out, "subject:Hello world") == 0,
	   "header: name lowercased, WSP squeezed, trimmed");
	ok(n == 19, "header: length");
	dkim_canon_header("To: a@b,\r\n\t c@d", 16, out, sizeof(out));
	ok(strcmp(out, "to:a@b, c@d") == 0, "header: unfolded");
	ok(dkim_canon_header("NoColon", 7, out, sizeof(out)) < 0, "header: no colon refused");
	ok(dkim_canon_header("X: 0123456789", 13, out, 8) < 0, "header: small output refused");
}

static void test_from_domain(void)
{
	char d[64];
	const struct {
		const char *in, *want;
	} t[] = {
	    {" A <a@Example.ORG>", "example.org"},
	    {" a@example.net", "example.net"},
	    {" \"x@evil.test\" <a@good.test>", "good.test"},
	    {" (c@comment.test) Name <n@real.test>", "real.test"},
	    {" first@one.test, second@two.test", "one.test"},
	    {" =?utf-8?q?J=C3=BCrgen?= <j@utf.test>\r\n", "utf.test"},
	};
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		char what[96];
		snprintf(what, sizeof(what), "From domain of \"%.*s\"",
			 (int)strcspn(t[i].in, "\r\n"), t[i].in);
		ok(dkim_from_domain(t[i].in, strlen(t[i].in), d, sizeof(d)) == 0 &&
		       strcmp(d, t[i].want) == 0,
		   what);
	}
	ok(dkim_from_domain(" undisclosed", 12, d, sizeof(d)) < 0, "no address: -1");
	ok(dkim_from_domain(" <a@>", 5, d, sizeof(d)) < 0, "empty domain: -1");
}

/* The body hash of body after relaxed canonicalization, fed in chunk-sized
 * pieces, read back from the bh= tag of a signature. */
static void bh_of(const char *pem, const char *body, size_t chunk, char *bh, size_t bhlen)
{
	char err[128], *field = NULL;
	struct dkim *k = dkim_new(pem, "example.org", "s", err, sizeof(err));
	size_t n = strlen(body);

	for (size_t i = 0; i < n; i += chunk)
		dkim_body(k, body + i, n - i < chunk ? n - i : chunk);
	dkim_sign(k, "From: a@example.org\r\n", 21, 0, &field, err, sizeof(err));
	const char *p = field ? strstr(field, "bh=") : NULL;
	size_t l = p ? strcspn(p + 3, ";") : 0;
	snprintf(bh, bhlen, "%.*s", (int)l, p ? p + 3 : "");
	free(field);
	dkim_free(k);
}

static void expect_bh(const char *pem, const char *body, const char *canon, const char *what)
{
	unsigned char h[32];
	unsigned char b64[64];
	size_t ol;
	char got[64];
	int all = 1;

	mbedtls_sha256_ret((const unsigned char *)canon, strlen(canon), h, 0);
	mbedtls_base64_encode(b64, sizeof(b64), &ol, h, 32);
	b64[ol] = 0;
	for (size_t c = 1; c <= 7; c += 3) {
		bh_of(pem, body, c, got, sizeof(got));
		all &= strcmp(got, (char *)b64) == 0;
	}
	bh_of(pem, body, 4096, got, sizeof(got));
	all &= strcmp(got, (char *)b64) == 0;
	ok(all, what);
}

static void test_sign(void)
{
	char *pem = NULL, *pub = NULL, *pub2 = NULL, err[128], *field = NULL;

	ok(dkim_keygen(1024, &pem, &pub, err, sizeof(err)) == 0, "key generated");
	ok(dkim_pubkey(pem, &pub2, err, sizeof(err)) == 0 && strcmp(pub, pub2) == 0,
	   "public key from the private one matches");
	/* RFC 6376 3.4.4 / 3.4.5 */
	expect_bh(pem, "", "", "empty body hashes as empty");
	expect_bh(pem, "\r\n\r\n", "", "only empty lines: empty");
	expect_bh(pem, " a  b \t\r\n\r\n\r\n", " a b\r\n", "WSP squeezed, trailing dropped");
	expect_bh(pem, "x\r\n \t \r\ny\r\n", "x\r\n\r\ny\r\n", "a whitespace line is empty");
	expect_bh(pem, "no newline", "no newline\r\n", "CRLF added at the end");
	expect_bh(pem, "bare\nlf\n", "bare\r\nlf\r\n", "bare LF counted as a line end");

	struct dkim *k = dkim_new(pem, "example.org", "sel", err, sizeof(err));
	const char *hdr = "From: A <a@example.org>\r\nTo: b@example.net\r\nSubject: hi\r\n"
			  "X-Not-Signed: 1\r\nSubject: second\r\n";
	dkim_body(k, "hello\r\n", 7);
	ok(dkim_sign(k, hdr, strlen(hdr), 1700000000, &field, err, sizeof(err)) == 0, "signed");
	const char *start = "DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d=example.org;";
	ok(field && strncmp(field, start, strlen(start)) == 0, "field starts right");
	ok(field && strstr(field, "h=from:subject:subject:to;"), "h= lists each instance");
	ok(field && strstr(field, "s=sel; t=1700000000;"), "s= and t=");
	ok(field && field[strlen(field) - 1] == '\n', "field ends with CRLF");

	/* verify b= with the public key over what a verifier hashes */
	mbedtls_pk_context pk;
	unsigned char der[1024], sig[512], hash[32];
	size_t dl, sl;
	mbedtls_pk_init(&pk);
	mbedtls_base64_decode(der, sizeof(der), &dl, (unsigned char *)pub, strlen(pub));
	ok(mbedtls_pk_parse_public_key(&pk, der, dl) == 0, "public key parses");
	char *b = strstr(field, "\tb=");
	char sigb64[1024];
	size_t o = 0;
	for (char *p = b + 3; *p && o + 1 < sizeof(sigb64); p++)
		if (*p != '\r' && *p != '\n' && *p != '\t' && *p != ' ')
			sigb64[o++] = *p;
	sigb64[o] = 0;
	mbedtls_base64_decode(sig, sizeof(sig), &sl, (unsigned char *)sigb64, o);
	/* headers bottom-up per name, then the signature field without b= value */
	char data[4096], c[512];
	size_t dlen = 0;
	const char *flds[] = {"From: A <a@example.org>", "Subject: second", "Subject: hi",
			      "To: b@example.net"};
	for (size_t i = 0; i < 4; i++) {
		long n = dkim_canon_header(flds[i], strlen(flds[i]), c, sizeof(c));
		memcpy(data + dlen, c, (size_t)n);
		dlen += (size_t)n;
		memcpy(data + dlen, "\r\n", 2);
		dlen += 2;
	}
	long n = dkim_canon_header(field, (size_t)(b + 3 - field), c, sizeof(c));
	memcpy(data + dlen, c, (size_t)n);
	dlen += (size_t)n;
	mbedtls_sha256_ret((unsigned char *)data, dlen, hash, 0);
	ok(mbedtls_pk_verify(&pk, MBEDTLS_MD_SHA256, hash, 32, sig, sl) == 0,
	   "signature verifies with the public key");
	hash[0] ^= 1;
	ok(mbedtls_pk_verify(&pk, MBEDTLS_MD_SHA256, hash, 32, sig, sl) != 0,
	   "and not for other data");
	hash[0] ^= 1;
	/* the signing threads' path: dkim_sign_rsa with its kept keys gives
	 * the same (deterministic PKCS#1 v1.5) signature as dkim_sign */
	{
		char *s1 = NULL, *s2 = NULL, *s3 = NULL, *s4 = NULL, *s5 = NULL;
		char *pem2 = NULL, *pub3 = NULL;
		ok(dkim_sign_rsa(pem, hash, &s1, err, sizeof(err)) == 0 && strcmp(s1, sigb64) == 0,
		   "dkim_sign_rsa: dkim_sign's signature");
		ok(dkim_sign_rsa(pem, hash, &s2, err, sizeof(err)) == 0 && strcmp(s2, sigb64) == 0,
		   "dkim_sign_rsa: the same again with the kept key");
		ok(dkim_keygen(1024, &pem2, &pub3, err, sizeof(err)) == 0, "a second key");
		ok(dkim_sign_rsa(pem2, hash, &s3, err, sizeof(err)) == 0 && strcmp(s3, sigb64) != 0,
		   "dkim_sign_rsa: another key signs differently");
		ok(dkim_sign_rsa(pem, hash, &s4, err, sizeof(err)) == 0 && strcmp(s4, sigb64) == 0,
		   "dkim_sign_rsa: the first key is still kept right");
		err[0] = '\0';
		ok(dkim_sign_rsa("not a key", hash, &s5, err, sizeof(err)) < 0 && !s5 && err[0],
		   "dkim_sign_rsa: a bad key is refused with a reason");
		/* keys taken in turn: each kept one still signs right */
		for (int i = 0; i < 5; i++) {
			free(s4);
			s4 = NULL;
			dkim_sign_rsa(i % 2 ? pem2 : pem, hash, &s4, err, sizeof(err));
		}
		ok(s4 && strcmp(s4, sigb64) == 0, "dkim_sign_rsa: keys taken in turn");
		struct dkim *h = dkim_new(NULL, "example.org", "sel", err, sizeof(err));
		char *uf = NULL;
		unsigned char hh[32];
		dkim_body(h, "hello\r\n", 7);
		ok(h && dkim_sign_prepare(h, hdr, strlen(hdr), 1700000000, &uf, hh, err,
					  sizeof(err)) == 0,
		   "a hashing-only signer (no key) prepares");
		dkim_free(h);
		free(uf);
		dkim_thread_done();
		free(s1);
		free(s2);
		free(s3);
		free(s4);
		free(pem2);
		free(pub3);
	}
	mbedtls_pk_free(&pk);
	ok(dkim_new("not a key", "example.org", "s", err, sizeof(err)) == NULL && err[0],
	   "a bad key is refused with a reason");
	free(field);
	dkim_free(k);
	free(pem);
	free(pub);
	free(pub2);
}

static void test_dsn(void)
{
	struct buf out;
	struct dsn_rcpt r[2] = {
	    {"x@example.net", "5.1.1", "550 5.1.1 no\r\nInjected: header", "mx.example.net"},
	    {"y@example.net", "", "timeout", ""},
	};
	struct dsn d = {.reporting_mta = "loft.test",
			.to = "a@example.org",
			.arrival = 1700000000,
			.now = 1700000100,
			.retry_until = 1700432000,
			.orig_header = "Subject: orig\r\n",
			.orig_header_len = 15,
			.boundary_salt = "7"};

	buf_init(&out, 1 << 20);
	ok(dsn_build(&d, r, 2, &out) == 0, "bounce built");
	const char *s = buf_cstr(&out);
	ok(strstr(s, "Content-Type: multipart/report; report-type=delivery-status;") != NULL,
	   "multipart/report");
	ok(strstr(s, "Final-Recipient: rfc822; x@example.net\r\nAction: failed\r\nStatus: 5.1.1") !=
	       NULL,
	   "per-recipient fields");
	ok(strstr(s, "Status: 5.0.0") != NULL, "missing status: 5.0.0");
	ok(strstr(s, "Remote-MTA: dns; mx.example.net") != NULL, "remote MTA");
	ok(strstr(s, "\r\nInjected: header") == NULL, "a peer's CRLF cannot make a field");
	ok(strstr(s, "text/rfc822-headers\r\nContent-Description: Undelivered message "
		     "headers\r\n\r\nSubject: orig\r\n") != NULL,
	   "original header quoted");
	buf_reset(&out);
	d.delayed = 1;
	ok(dsn_build(&d, r, 1, &out) == 0 && strstr(buf_cstr(&out), "Action: delayed") &&
	       strstr(buf_cstr(&out), "Will-Retry-Until: ") &&
	       strstr(buf_cstr(&out), "Subject: Delivery delayed"),
	   "delay notice");
	buf_free(&out);
	buf_init(&out, 100);
	ok(dsn_build(&d, r, 1, &out) < 0, "output bound respected");
	buf_free(&out);
}

int main(void)
{
	test_canon_header();
	test_from_domain();
	test_sign();
	test_dsn();
	return tap_done();
}
