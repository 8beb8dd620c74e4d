/*
 * DKIM signing, RFC 6376: relaxed/relaxed canonicalization, rsa-sha256.
 * The body canonicalizer is a small state machine fed in chunks: runs of
 * spaces and tabs become one space, whitespace at line ends goes, and
 * line ends are held back until more content follows, so empty lines at
 * the end are dropped without buffering them.  A bare LF counts as a line
 * end because the SMTP client sends it as CRLF.
 */
#include "dkim.h"
#include "addr.h"

#include <mbedtls/base64.h>
#include <mbedtls/ctr_drbg.h>
#include <mbedtls/entropy.h>
#include <mbedtls/error.h>
#include <mbedtls/pk.h>
#include <mbedtls/rsa.h>
#include <mbedtls/sha256.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define DKIM_FIELD_MAX 8192 /* one canonicalized header field */

/* Header fields signed when present, each instance of each. */
static const char *const sign_fields[] = {
    "from",
    "sender",
    "reply-to",
    "subject",
    "date",
    "message-id",
    "to",
    "cc",
    "mime-version",
    "content-type",
    "content-transfer-encoding",
    "content-id",
    "content-description",
    "in-reply-to",
    "references",
    "list-id",
    "list-unsubscribe",
};

struct dkim {
	mbedtls_pk_context pk;
	mbedtls_sha256_context body;
	char domain[256];
	char selector[64];
	/* body canonicalizer state */
	size_t pending_crlf; /* line ends not yet written */
	int wsp;	     /* whitespace seen since the last content byte */
	int line_content;    /* the current line has content */
	int cr;		     /* a CR waits for its LF */
	int any;	     /* content written at all */
};

/* --- randomness (key generation, RSA blinding) -------------------------- */

/* per thread: loft-queue signs on worker threads.  Only a pointer is
 * thread-local, the contexts are allocated by the first use on a thread:
 * an entropy context is 38 KB, and in the static program (one TLS
 * segment for every role) each thread of every daemon got, and zeroed,
 * that much TLS for it (issue 14).  A thread's contexts live as long as
 * the process (a few signing threads). */
struct dkim_rng {
	mbedtls_entropy_context ent;
	mbedtls_ctr_drbg_context drbg;
	pid_t pid;
};
static _Thread_local struct dkim_rng *rngs;

static int rng(void)
{
	struct dkim_rng *r = rngs;

	if (!r) {
		r = calloc(1, sizeof(*r));
		if (!r)
			return -1;
		rngs = r;
	}
	if (r->pid == getpid())
		return 0;
	if (r->pid) {
		mbedtls_ctr_drbg_free(&r->drbg);
		mbedtls_entropy_free(&r->ent);
	}
	mbedtls_entropy_init(&r->ent);
	mbedtls_ctr_drbg_init(&r->drbg);
	if (mbedtls_ctr_drbg_seed(&r->drbg, mbedtls_entropy_func, &r->ent,
				  (const unsigned char *)"loft-dkim", 9) != 0) {
		r->pid = 0;
		return -1;
	}
	r->pid = getpid();
	return 0;
}

static void mberr(int rc, const char *what, char *err, size_t errlen)
{
	char m[128];

	mbedtls_strerror(rc, m, sizeof(m));
	snprintf(err, errlen, "%s: %s", what, m);
}

/* --- canonicalization ---------------------------------------------------- */

static int is_wsp(char c)
{
	return c == ' ' || c == '\t';
}

long dkim_canon_header(const char *field, size_t len, char *out, size_t outlen)
{
	const char *colon = memchr(field, ':', len);
	size_t o = 0, nlen;
	int sp = 0;

	if (!colon)
		return -1;
	nlen = (size_t)(colon - field);
	while (nlen > 0 && is_wsp(field[nlen - 1]))
		nlen--;
	if (nlen + 2 > outlen)
		return -1;
	for (size_t i = 0; i < nlen; i++) {
		char c = field[i];
		out[o++] = (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
	}
	out[o++] = ':';
	for (const char *p = colon + 1; p < field + len; p++) {
		if (*p == '\r' || *p == '\n')
			continue; /* unfolding */
		if (is_wsp(*p)) {
			sp = 1;
			continue;
		}
		if (sp && out[o - 1] != ':') {
			if (o + 1 >= outlen)
				return -1;
			out[o++] = ' ';
		}
		sp = 0;
		if (o + 1 >= outlen)
			return -1;
		out[o++] = *p;
	}
	out[o] = '\0';
	return (long)o;
}

static void body_out(struct dkim *k, const char *p, size_t n)
{
	mbedtls_sha256_update_ret(&k->body, (const unsigned char *)p, n);
}

static void body_content(struct dkim *k, char c)
{
	while (k->pending_crlf > 0) {
		body_out(k, "\r\n", 2);
		k->pending_crlf--;
	}
	if (k->wsp && k->line_content)
		body_out(k, " ", 1);
	else if (k->wsp)
		body_out(k, " ", 1); /* leading whitespace stays as one space */
	k->wsp = 0;
	k->line_content = 1;
	k->any = 1;
	body_out(k, &c, 1);
}

void dkim_body(struct dkim *k, const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		char c = p[i];

		if (k->cr && c != '\n') {
			/* a lone CR is content */
			k->cr = 0;
			body_content(k, '\r');
		}
		if (c == '\r') {
			k->cr = 1;
		} else if (c == '\n') {
			k->cr = 0;
			k->wsp = 0; /* trailing whitespace goes */
			k->line_content = 0;
			k->pending_crlf++;
		} else if (is_wsp(c)) {
			k->wsp = 1;
		} else {
			body_content(k, c);
		}
	}
}

/* --- keys ---------------------------------------------------------------- */

struct dkim *dkim_new(const char *key_pem, const char *domain, const char *selector, char *err,
		      size_t errlen)
{
	/* key_pem NULL: hashing only (dkim_sign_prepare; the RSA step is
	 * dkim_sign_rsa's, with its kept keys) */
	struct dkim *k = calloc(1, sizeof(*k));
	int rc;

	if (!k) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	if (strlen(domain) >= sizeof(k->domain) || strlen(selector) >= sizeof(k->selector)) {
		snprintf(err, errlen, "domain or selector too long");
		free(k);
		return NULL;
	}
	snprintf(k->domain, sizeof(k->domain), "%s", domain);
	snprintf(k->selector, sizeof(k->selector), "%s", selector);
	mbedtls_pk_init(&k->pk);
	rc = key_pem ? mbedtls_pk_parse_key(&k->pk, (const unsigned char *)key_pem,
					    strlen(key_pem) + 1, NULL, 0)
		     : 0;
	if (key_pem && (rc != 0 || mbedtls_pk_get_type(&k->pk) != MBEDTLS_PK_RSA)) {
		if (rc)
			mberr(rc, "DKIM key", err, errlen);
		else
			snprintf(err, errlen, "DKIM key is not RSA");
		mbedtls_pk_free(&k->pk);
		free(k);
		return NULL;
	}
	mbedtls_sha256_init(&k->body);
	mbedtls_sha256_starts_ret(&k->body, 0);
	return k;
}

void dkim_free(struct dkim *k)
{
	if (!k)
		return;
	mbedtls_pk_free(&k->pk);
	mbedtls_sha256_free(&k->body);
	free(k);
}

static char *b64(const unsigned char *p, size_t n)
{
	size_t olen = 0;
	char *out;

	mbedtls_base64_encode(NULL, 0, &olen, p, n);
	out = malloc(olen + 1);
	if (!out)
		return NULL;
	if (mbedtls_base64_encode((unsigned char *)out, olen + 1, &olen, p, n) != 0) {
		free(out);
		return NULL;
	}
	out[olen] = '\0';
	return out;
}

static int pubkey_b64(mbedtls_pk_context *pk, char **pub, char *err, size_t errlen)
{
	unsigned char der[2048];
	int n = mbedtls_pk_write_pubkey_der(pk, der, sizeof(der));

	if (n < 0) {
		mberr(n, "public key", err, errlen);
		return -1;
	}
	/* written at the end of the buffer */
	*pub = b64(der + sizeof(der) - (size_t)n, (size_t)n);
	if (!*pub) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	return 0;
}

int dkim_keygen(unsigned bits, char **pem, char **pub, char *err, size_t errlen)
{
	mbedtls_pk_context pk;
	unsigned char buf[8192];
	int rc;

	*pem = *pub = NULL;
	if (rng() < 0) {
		snprintf(err, errlen, "no random numbers");
		return -1;
	}
	mbedtls_pk_init(&pk);
	rc = mbedtls_pk_setup(&pk, mbedtls_pk_info_from_type(MBEDTLS_PK_RSA));
	if (rc == 0)
		rc = mbedtls_rsa_gen_key(mbedtls_pk_rsa(pk), mbedtls_ctr_drbg_random, &rngs->drbg,
					 bits, 65537);
	if (rc == 0)
		rc = mbedtls_pk_write_key_pem(&pk, buf, sizeof(buf));
	if (rc != 0) {
		mberr(rc, "key generation", err, errlen);
		mbedtls_pk_free(&pk);
		return -1;
	}
	*pem = strdup((const char *)buf);
	explicit_bzero(buf, sizeof(buf));
	if (!*pem || pubkey_b64(&pk, pub, err, errlen) < 0) {
		free(*pem);
		*pem = NULL;
		mbedtls_pk_free(&pk);
		return -1;
	}
	mbedtls_pk_free(&pk);
	return 0;
}

int dkim_pubkey(const char *key_pem, char **pub, char *err, size_t errlen)
{
	mbedtls_pk_context pk;
	int rc;

	mbedtls_pk_init(&pk);
	rc =
	    mbedtls_pk_parse_key(&pk, (const unsigned char *)key_pem, strlen(key_pem) + 1, NULL, 0);
	if (rc != 0) {
		mberr(rc, "DKIM key", err, errlen);
		mbedtls_pk_free(&pk);
		return -1;
	}
	rc = pubkey_b64(&pk, pub, err, errlen);
	mbedtls_pk_free(&pk);
	return rc;
}

/* --- signing ------------------------------------------------------------- */

struct hfield {
	const char *p;
	size_t len; /* without the final CRLF */
	size_t nlen;
	int used;
};

#define DKIM_MAX_FIELDS 1000

static int name_is(const struct hfield *f, const char *name)
{
	size_t n = strlen(name);

	if (f->nlen != n)
		return 0;
	for (size_t i = 0; i < n; i++) {
		char c = f->p[i];
		if (c >= 'A' && c <= 'Z')
			c = (char)(c - 'A' + 'a');
		if (c != name[i])
			return 0;
	}
	return 1;
}

/* Splits the header block into fields.  Returns the count. */
static size_t split_fields(const char *h, size_t len, struct hfield *f, size_t max)
{
	size_t n = 0, i = 0;

	while (i < len && n < max) {
		size_t start = i;
		/* a field: this line and the folded ones after it */
		for (;;) {
			const char *nl = memchr(h + i, '\n', len - i);
			i = nl ? (size_t)(nl - h) + 1 : len;
			if (i >= len || !is_wsp(h[i]))
				break;
		}
		size_t end = i;
		while (end > start && (h[end - 1] == '\n' || h[end - 1] == '\r'))
			end--;
		const char *colon = memchr(h + start, ':', end - start);
		if (!colon)
			continue; /* not a field: not signed */
		size_t nlen = (size_t)(colon - (h + start));
		while (nlen > 0 && is_wsp(h[start + nlen - 1]))
			nlen--;
		f[n].p = h + start;
		f[n].len = end - start;
		f[n].nlen = nlen;
		f[n].used = 0;
		n++;
	}
	return n;
}

/* Everything but the RSA operation: the body and header hashes and the
 * field up to "b=".  Returns 0 with *unsigned_field (malloc'd) and hash
 * set, or -1 (err set). */
int dkim_sign_prepare(struct dkim *k, const char *header, size_t header_len, int64_t now,
		      char **unsigned_field, unsigned char hash[32], char *err, size_t errlen)
{
	struct hfield *f = calloc(DKIM_MAX_FIELDS, sizeof(*f));
	unsigned char bh[32];
	char canon[DKIM_FIELD_MAX], hlist[1024], *bhb = NULL, *sighdr = NULL;
	size_t nf, hl = 0;
	mbedtls_sha256_context hc;
	int rc = -1;

	*unsigned_field = NULL;
	if (!f) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	/* the body hash: the body ends with one CRLF if it has content */
	if (k->any)
		body_out(k, "\r\n", 2);
	mbedtls_sha256_finish_ret(&k->body, bh);
	bhb = b64(bh, sizeof(bh));

	mbedtls_sha256_init(&hc);
	mbedtls_sha256_starts_ret(&hc, 0);
	nf = split_fields(header, header_len, f, DKIM_MAX_FIELDS);
	hlist[0] = '\0';
	for (size_t s = 0; s < sizeof(sign_fields) / sizeof(sign_fields[0]); s++) {
		/* instances from the bottom up (RFC 6376 5.4.2) */
		for (size_t i = nf; i-- > 0;) {
			long cl;
			if (f[i].used || !name_is(&f[i], sign_fields[s]))
				continue;
			cl = dkim_canon_header(f[i].p, f[i].len, canon, sizeof(canon) - 2);
			if (cl < 0)
				continue; /* too long to sign: left out of h= */
			if (hl + strlen(sign_fields[s]) + 2 >= sizeof(hlist))
				break;
			f[i].used = 1;
			hl += (size_t)snprintf(hlist + hl, sizeof(hlist) - hl, "%s%s",
					       hl ? ":" : "", sign_fields[s]);
			memcpy(canon + cl, "\r\n", 2);
			mbedtls_sha256_update_ret(&hc, (unsigned char *)canon, (size_t)cl + 2);
		}
	}
	/* the signature field itself, with an empty b=, canonicalized, no CRLF */
	size_t shl = strlen(k->domain) + strlen(k->selector) + strlen(hlist) + 256;
	sighdr = malloc(shl);
	if (!bhb || !sighdr) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	int n = snprintf(sighdr, shl,
			 "DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d=%s;\r\n"
			 "\ts=%s; t=%lld;\r\n\th=%s;\r\n\tbh=%s;\r\n\tb=",
			 k->domain, k->selector, (long long)now, hlist, bhb);
	long cl = dkim_canon_header(sighdr, (size_t)n, canon, sizeof(canon));
	if (cl < 0) {
		snprintf(err, errlen, "signature header too long");
		goto out;
	}
	mbedtls_sha256_update_ret(&hc, (unsigned char *)canon, (size_t)cl);
	mbedtls_sha256_finish_ret(&hc, hash);
	*unsigned_field = sighdr;
	sighdr = NULL;
	rc = 0;
out:
	mbedtls_sha256_free(&hc);
	free(f);
	free(bhb);
	free(sighdr);
	return rc;
}

/* RSA-SHA256 of hash with pk, base64 in *sig_b64 (malloc'd).  0 or -1. */
static int sign_hash(mbedtls_pk_context *pk, const unsigned char hash[32], char **sig_b64,
		     char *err, size_t errlen)
{
	unsigned char sig[MBEDTLS_MPI_MAX_SIZE];
	size_t siglen = 0;
	int r;

	*sig_b64 = NULL;
	if (rng() < 0) {
		snprintf(err, errlen, "no random numbers");
		return -1;
	}
	r = mbedtls_pk_sign(pk, MBEDTLS_MD_SHA256, hash, 32, sig, &siglen, mbedtls_ctr_drbg_random,
			    &rngs->drbg);
	if (r != 0) {
		mberr(r, "signing", err, errlen);
		return -1;
	}
	*sig_b64 = b64(sig, siglen);
	if (!*sig_b64) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	return 0;
}

/* Parsed keys kept per thread (the signing threads each have theirs).
 * Parsing is cheap, but a fresh RSA context also sets its blinding values
 * up from nothing (a modular inverse) on its first signature; a kept one
 * only squares them: RSA-2048 with mbedTLS 2.28 took 2.9 ms a signature
 * with the key parsed each time and 2.0 ms with it kept, same machine. */
#define KEPT_KEYS 4

struct kept_key {
	char *pem; /* NULL: free slot */
	mbedtls_pk_context pk;
};

static _Thread_local struct kept_key kept[KEPT_KEYS];
static _Thread_local unsigned kept_next;

static void kept_free(struct kept_key *kk)
{
	if (kk->pem) {
		explicit_bzero(kk->pem, strlen(kk->pem));
		free(kk->pem);
		kk->pem = NULL;
		mbedtls_pk_free(&kk->pk); /* zeroes the numbers */
	}
}

/* The thread's parsed key for key_pem (parsed and kept on first use), or
 * NULL (err set). */
static mbedtls_pk_context *kept_key(const char *key_pem, char *err, size_t errlen)
{
	struct kept_key *kk;
	int r;

	for (unsigned i = 0; i < KEPT_KEYS; i++)
		if (kept[i].pem && strcmp(kept[i].pem, key_pem) == 0)
			return &kept[i].pk;
	kk = &kept[kept_next++ % KEPT_KEYS];
	kept_free(kk);
	mbedtls_pk_init(&kk->pk);
	r = mbedtls_pk_parse_key(&kk->pk, (const unsigned char *)key_pem, strlen(key_pem) + 1, NULL,
				 0);
	if (r != 0 || !(kk->pem = strdup(key_pem))) {
		if (r)
			mberr(r, "DKIM key", err, errlen);
		else
			snprintf(err, errlen, "out of memory");
		mbedtls_pk_free(&kk->pk);
		return NULL;
	}
	return &kk->pk;
}

void dkim_thread_done(void)
{
	for (unsigned i = 0; i < KEPT_KEYS; i++)
		kept_free(&kept[i]);
	if (rngs) {
		if (rngs->pid) {
			mbedtls_ctr_drbg_free(&rngs->drbg);
			mbedtls_entropy_free(&rngs->ent);
		}
		free(rngs);
		rngs = NULL;
	}
}

int dkim_sign_rsa(const char *key_pem, const unsigned char hash[32], char **sig_b64, char *err,
		  size_t errlen)
{
	mbedtls_pk_context *pk;

	*sig_b64 = NULL;
	pk = kept_key(key_pem, err, errlen);
	if (!pk)
		return -1;
	return sign_hash(pk, hash, sig_b64, err, errlen);
}

char *dkim_field_finish(const char *unsigned_field, const char *sig_b64)
{
	/* b= folded in lines of 72; folding whitespace is ignored by verifiers */
	size_t n = strlen(unsigned_field), sl = strlen(sig_b64), o = n;
	char *outp = malloc(n + sl + sl / 72 * 3 + 8);

	if (!outp)
		return NULL;
	memcpy(outp, unsigned_field, n);
	for (size_t i = 0; i < sl; i += 72) {
		size_t c = sl - i < 72 ? sl - i : 72;
		if (i) {
			memcpy(outp + o, "\r\n\t", 3);
			o += 3;
		}
		memcpy(outp + o, sig_b64 + i, c);
		o += c;
	}
	memcpy(outp + o, "\r\n", 3);
	return outp;
}

int dkim_sign(struct dkim *k, const char *header, size_t header_len, int64_t now, char **field,
	      char *err, size_t errlen)
{
	unsigned char hash[32];
	char *uf = NULL, *sig = NULL;
	int rc = -1;

	*field = NULL;
	if (dkim_sign_prepare(k, header, header_len, now, &uf, hash, err, errlen) < 0)
		return -1;
	if (sign_hash(&k->pk, hash, &sig, err, errlen) == 0) {
		*field = dkim_field_finish(uf, sig);
		if (*field)
			rc = 0;
		else
			snprintf(err, errlen, "out of memory");
	}
	free(uf);
	free(sig);
	return rc;
}

/* --- From: --------------------------------------------------------------- */

struct from_dom {
	char *out;
	size_t outlen;
	int found;
};

/* The first mailbox decides: its domain, or nothing (-1) when it has
 * none, so a broken From: is never signed for some later address. */
static int from_first(void *arg, const struct addr_item *it)
{
	struct from_dom *fd = arg;

	if (it->kind != ADDR_MAILBOX)
		return 0;
	if (it->domain && it->domain_len < fd->outlen) {
		for (size_t i = 0; i < it->domain_len; i++) {
			char c = it->domain[i];
			fd->out[i] = (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
		}
		fd->out[it->domain_len] = '\0';
		fd->found = 1;
	}
	return 1;
}

int dkim_from_domain(const char *value, size_t len, char *out, size_t outlen)
{
	struct from_dom fd = {out, outlen, 0};

	addr_list_parse(value, len, from_first, &fd);
	return fd.found ? 0 : -1;
}
