/*
 * RFC 2136 updates with RFC 8945 TSIG (HMAC-SHA256).  See dnsupdate.h.
 */
#include "dnsupdate.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <mbedtls/base64.h>
#include <mbedtls/md.h>
#include <stdio.h>
#include <string.h>

#define T_A	  1
#define T_SOA	  6
#define T_AAAA	  28
#define T_TSIG	  250
#define C_IN	  1
#define C_ANY	  255
#define OP_UPDATE 5
#define FUDGE	  300
#define ALG_NAME  "hmac-sha256"

static const char *const rcode_names[] = {
    "NOERROR",	"FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP",  "REFUSED",
    "YXDOMAIN", "YXRRSET", "NXRRSET",  "NOTAUTH",  "NOTZONE",
};

const char *dnsu_rcode_str(int rcode)
{
	if (rcode >= 0 && (size_t)rcode < sizeof(rcode_names) / sizeof(rcode_names[0]))
		return rcode_names[rcode];
	switch (rcode) {
	case 16:
		return "BADSIG";
	case 17:
		return "BADKEY";
	case 18:
		return "BADTIME";
	}
	return "RCODE?";
}

int dnsu_key_set(struct dnsu_key *key, const char *name, const char *secret_b64)
{
	size_t olen = 0;

	memset(key, 0, sizeof(*key));
	if (!name || !*name || strlen(name) >= sizeof(key->name) || !secret_b64)
		return -1;
	memcpy(key->name, name, strlen(name) + 1);
	if (mbedtls_base64_decode(key->secret, sizeof(key->secret), &olen,
				  (const unsigned char *)secret_b64, strlen(secret_b64)) != 0 ||
	    olen == 0)
		return -1;
	key->secret_len = olen;
	return 0;
}

/* --- writing --------------------------------------------------------- */

struct w {
	unsigned char *p;
	size_t len, cap;
	int err;
};

static void put(struct w *w, const void *d, size_t n)
{
	if (w->err || n > w->cap - w->len) {
		w->err = 1;
		return;
	}
	memcpy(w->p + w->len, d, n);
	w->len += n;
}

static void put16(struct w *w, unsigned v)
{
	unsigned char b[2] = {(unsigned char)(v >> 8), (unsigned char)v};
	put(w, b, 2);
}

static void put32(struct w *w, uint32_t v)
{
	unsigned char b[4] = {(unsigned char)(v >> 24), (unsigned char)(v >> 16),
			      (unsigned char)(v >> 8), (unsigned char)v};
	put(w, b, 4);
}

static void put48(struct w *w, uint64_t v)
{
	put16(w, (unsigned)((v >> 32) & 0xffff));
	put32(w, (uint32_t)v);
}

/* A name in wire form; lower: lowercased (TSIG's canonical form).  Sets
 * w->err on a bad name (empty label, label > 63, name > 255, odd bytes). */
static void put_name(struct w *w, const char *name, int lower)
{
	size_t len = strlen(name), start = w->len, i = 0;

	if (len > 0 && name[len - 1] == '.')
		len--;
	while (i < len) {
		size_t j = i;
		while (j < len && name[j] != '.')
			j++;
		if (j == i || j - i > 63) {
			w->err = 1;
			return;
		}
		unsigned char l = (unsigned char)(j - i);
		put(w, &l, 1);
		for (size_t k = i; k < j; k++) {
			unsigned char c = (unsigned char)name[k];
			if (c <= ' ' || c >= 0x7f || c == '\\') {
				w->err = 1;
				return;
			}
			c = lower ? (unsigned char)tolower(c) : c;
			put(w, &c, 1);
		}
		i = j + 1;
	}
	put(w, "", 1);
	if (w->len - start > 255)
		w->err = 1;
}

/* The TSIG variables after the message (RFC 8945 4.3.3). */
static void put_tsig_vars(struct w *w, const char *keyname, uint64_t time_signed, unsigned error)
{
	put_name(w, keyname, 1);
	put16(w, C_ANY);
	put32(w, 0);
	put_name(w, ALG_NAME, 1);
	put48(w, time_signed);
	put16(w, FUDGE);
	put16(w, error);
	put16(w, 0); /* other len */
}

static int hmac(const struct dnsu_key *key, const unsigned char *a, size_t alen,
		const unsigned char *b, size_t blen, const unsigned char *c, size_t clen,
		unsigned char out[DNSU_MAC_LEN])
{
	const mbedtls_md_info_t *md = mbedtls_md_info_from_type(MBEDTLS_MD_SHA256);
	mbedtls_md_context_t ctx;
	int r;

	mbedtls_md_init(&ctx);
	r = mbedtls_md_setup(&ctx, md, 1);
	if (r == 0)
		r = mbedtls_md_hmac_starts(&ctx, key->secret, key->secret_len);
	if (r == 0 && alen)
		r = mbedtls_md_hmac_update(&ctx, a, alen);
	if (r == 0 && blen)
		r = mbedtls_md_hmac_update(&ctx, b, blen);
	if (r == 0 && clen)
		r = mbedtls_md_hmac_update(&ctx, c, clen);
	if (r == 0)
		r = mbedtls_md_hmac_finish(&ctx, out);
	mbedtls_md_free(&ctx);
	return r == 0 ? 0 : -1;
}

int dnsu_build(struct dnsu_request *req, const char *zone, const char *name, const char *addr4,
	       const char *addr6, uint32_t ttl, const struct dnsu_key *key, uint16_t id,
	       uint64_t now)
{
	struct w w = {req->msg, 0, sizeof(req->msg), 0};
	unsigned char vars[600], a4[4], a6[16];
	struct w v = {vars, 0, sizeof(vars), 0};
	int has4 = addr4 && *addr4, has6 = addr6 && *addr6;

	memset(req, 0, sizeof(*req));
	if (!zone || !name || !key || (!has4 && !has6))
		return -1;
	if ((has4 && inet_pton(AF_INET, addr4, a4) != 1) ||
	    (has6 && inet_pton(AF_INET6, addr6, a6) != 1))
		return -1;
	req->id = id;
	req->time_signed = now;
	put16(&w, id);
	put16(&w, OP_UPDATE << 11);
	put16(&w, 1);		      /* ZOCOUNT */
	put16(&w, 0);		      /* PRCOUNT */
	put16(&w, 2 * (has4 + has6)); /* UPCOUNT */
	put16(&w, 0);		      /* ADCOUNT: the TSIG comes after the MAC */
	put_name(&w, zone, 0);
	put16(&w, T_SOA);
	put16(&w, C_IN);
	for (int pass = 0; pass < 2; pass++) {
		int v6 = pass == 1;
		if (v6 ? !has6 : !has4)
			continue;
		/* delete the RRset (class ANY, TTL 0, no data), then add */
		put_name(&w, name, 0);
		put16(&w, v6 ? T_AAAA : T_A);
		put16(&w, C_ANY);
		put32(&w, 0);
		put16(&w, 0);
		put_name(&w, name, 0);
		put16(&w, v6 ? T_AAAA : T_A);
		put16(&w, C_IN);
		put32(&w, ttl);
		put16(&w, v6 ? 16 : 4);
		put(&w, v6 ? a6 : a4, v6 ? 16 : 4);
	}
	put_tsig_vars(&v, key->name, now, 0);
	if (w.err || v.err || hmac(key, w.p, w.len, v.p, v.len, NULL, 0, req->mac) < 0)
		return -1;
	/* the TSIG record */
	put_name(&w, key->name, 1);
	put16(&w, T_TSIG);
	put16(&w, C_ANY);
	put32(&w, 0);
	size_t rdlen_at = w.len;
	put16(&w, 0);
	size_t rd_start = w.len;
	put_name(&w, ALG_NAME, 1);
	put48(&w, now);
	put16(&w, FUDGE);
	put16(&w, DNSU_MAC_LEN);
	put(&w, req->mac, DNSU_MAC_LEN);
	put16(&w, id);
	put16(&w, 0); /* error */
	put16(&w, 0); /* other len */
	if (w.err)
		return -1;
	size_t rdlen = w.len - rd_start;
	req->msg[rdlen_at] = (unsigned char)(rdlen >> 8);
	req->msg[rdlen_at + 1] = (unsigned char)rdlen;
	req->msg[11] = 1; /* ADCOUNT */
	req->len = w.len;
	return 0;
}

/* --- reading --------------------------------------------------------- */

static unsigned get16(const unsigned char *p)
{
	return (unsigned)p[0] << 8 | p[1];
}

/* Reads a (possibly compressed) name at *off into out, lowercased and
 * dotted without the final dot; *off moves past it.  Returns 0 or -1. */
static int read_name(const unsigned char *m, size_t len, size_t *off, char *out, size_t outlen)
{
	size_t pos = *off, o = 0;
	int jumped = 0, hops = 0;

	for (;;) {
		if (pos >= len)
			return -1;
		unsigned l = m[pos];
		if ((l & 0xc0) == 0xc0) {
			if (pos + 1 >= len || ++hops > 16)
				return -1;
			if (!jumped)
				*off = pos + 2;
			jumped = 1;
			pos = ((l & 0x3f) << 8) | m[pos + 1];
			continue;
		}
		if (l & 0xc0)
			return -1;
		if (l == 0) {
			if (!jumped)
				*off = pos + 1;
			if (o == 0 && outlen)
				out[0] = '\0';
			return 0;
		}
		if (pos + 1 + l > len || o + l + 2 > outlen)
			return -1;
		if (o)
			out[o++] = '.';
		for (unsigned i = 0; i < l; i++)
			out[o++] = (char)tolower(m[pos + 1 + i]);
		out[o] = '\0';
		pos += 1 + l;
	}
}

/* Skips count records (questions when q) at *off.  Returns 0 or -1. */
static int skip_rrs(const unsigned char *m, size_t len, size_t *off, unsigned count, int q)
{
	char name[300];

	for (unsigned i = 0; i < count; i++) {
		if (read_name(m, len, off, name, sizeof(name)) < 0)
			return -1;
		if (q) {
			if (*off + 4 > len)
				return -1;
			*off += 4;
			continue;
		}
		if (*off + 10 > len)
			return -1;
		size_t rdlen = get16(m + *off + 8);
		if (*off + 10 + rdlen > len)
			return -1;
		*off += 10 + rdlen;
	}
	return 0;
}

static void why_set(char *why, size_t whylen, const char *s)
{
	if (why && whylen)
		snprintf(why, whylen, "%s", s);
}

static int ct_equal(const unsigned char *a, const unsigned char *b, size_t n)
{
	unsigned char d = 0;

	for (size_t i = 0; i < n; i++)
		d |= a[i] ^ b[i];
	return d == 0;
}

static int same_name(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);

	if (lb && b[lb - 1] == '.')
		lb--;
	if (la != lb)
		return 0;
	for (size_t i = 0; i < la; i++)
		if (tolower((unsigned char)a[i]) != tolower((unsigned char)b[i]))
			return 0;
	return 1;
}

enum dnsu_result dnsu_check_answer(const struct dnsu_request *req, const unsigned char *ans,
				   size_t len, const struct dnsu_key *key, uint64_t now, int *rcode,
				   char *why, size_t whylen)
{
	char name[300], alg[300], buf[120];
	size_t off = 12, tsig_at = 0;
	unsigned flags, zo, pr, up, ad;

	*rcode = -1;
	if (len < 12) {
		why_set(why, whylen, "answer shorter than a DNS header");
		return DNSU_MALFORMED;
	}
	flags = get16(ans + 2);
	if (get16(ans) != req->id || !(flags & 0x8000) || ((flags >> 11) & 0xf) != OP_UPDATE) {
		why_set(why, whylen, "not an answer to our update (ID, QR or opcode)");
		return DNSU_MALFORMED;
	}
	*rcode = (int)(flags & 0xf);
	zo = get16(ans + 4);
	pr = get16(ans + 6);
	up = get16(ans + 8);
	ad = get16(ans + 10);
	if (skip_rrs(ans, len, &off, zo, 1) < 0 || skip_rrs(ans, len, &off, pr + up, 0) < 0) {
		why_set(why, whylen, "truncated or malformed answer");
		return DNSU_MALFORMED;
	}
	/* the TSIG, if any, is the last additional record */
	for (unsigned i = 0; i < ad; i++) {
		size_t start = off;
		if (read_name(ans, len, &off, name, sizeof(name)) < 0 || off + 10 > len) {
			why_set(why, whylen, "truncated or malformed answer");
			return DNSU_MALFORMED;
		}
		unsigned type = get16(ans + off);
		size_t rdlen = get16(ans + off + 8);
		if (off + 10 + rdlen > len) {
			why_set(why, whylen, "truncated or malformed answer");
			return DNSU_MALFORMED;
		}
		if (type == T_TSIG && i == ad - 1)
			tsig_at = start;
		off += 10 + rdlen;
	}
	if (!tsig_at) {
		if (*rcode == 9 || *rcode == 5) {
			snprintf(buf, sizeof(buf),
				 "the server did not accept the key (%s, unsigned)",
				 dnsu_rcode_str(*rcode));
			why_set(why, whylen, buf);
			return DNSU_BADSIG;
		}
		if (*rcode != 0) {
			snprintf(buf, sizeof(buf), "the server answered %s",
				 dnsu_rcode_str(*rcode));
			why_set(why, whylen, buf);
			return DNSU_REFUSED;
		}
		why_set(why, whylen, "the answer is not signed");
		return DNSU_BADSIG;
	}
	/* the TSIG record */
	off = tsig_at;
	if (read_name(ans, len, &off, name, sizeof(name)) < 0 || !same_name(name, key->name)) {
		why_set(why, whylen, "the answer is signed with another key");
		return DNSU_BADSIG;
	}
	/* RFC 8945: class ANY, TTL 0 (the MAC covers those values, not the
	 * record's bytes, so they are checked here) */
	if (get16(ans + off + 2) != C_ANY || get16(ans + off + 4) != 0 ||
	    get16(ans + off + 6) != 0) {
		why_set(why, whylen, "the answer's TSIG record is malformed (class or TTL)");
		return DNSU_BADSIG;
	}
	size_t rd = off + 10, rdend = rd + get16(ans + off + 8);
	if (read_name(ans, rdend, &rd, alg, sizeof(alg)) < 0 || !same_name(alg, ALG_NAME) ||
	    rd + 10 > rdend) {
		why_set(why, whylen, "the answer's signature uses another algorithm");
		return DNSU_BADSIG;
	}
	uint64_t t = ((uint64_t)get16(ans + rd) << 32) | ((uint64_t)get16(ans + rd + 2) << 16) |
		     get16(ans + rd + 4);
	unsigned fudge = get16(ans + rd + 6), macsize = get16(ans + rd + 8);
	size_t mac_at = rd + 10;
	if (mac_at + macsize + 6 > rdend) {
		why_set(why, whylen, "truncated signature");
		return DNSU_MALFORMED;
	}
	unsigned orig_id = get16(ans + mac_at + macsize);
	unsigned error = get16(ans + mac_at + macsize + 2);
	unsigned other_len = get16(ans + mac_at + macsize + 4);
	if (mac_at + macsize + 6 + other_len > rdend) {
		why_set(why, whylen, "truncated signature");
		return DNSU_MALFORMED;
	}
	if (error) {
		snprintf(buf, sizeof(buf), "the server refused our signature (%s)",
			 dnsu_rcode_str((int)error));
		why_set(why, whylen, buf);
		return DNSU_BADSIG;
	}
	if (macsize != DNSU_MAC_LEN) {
		why_set(why, whylen, "the answer's MAC has the wrong size");
		return DNSU_BADSIG;
	}
	/* MAC over: our MAC (with its size), the answer without the TSIG
	 * (ARCOUNT one less, the original ID), the TSIG variables */
	unsigned char pre[2 + DNSU_MAC_LEN], msg[DNSU_MAX_MSG * 4], vars[600], mac[DNSU_MAC_LEN];
	struct w v = {vars, 0, sizeof(vars), 0};
	if (tsig_at > sizeof(msg)) {
		why_set(why, whylen, "answer too long");
		return DNSU_MALFORMED;
	}
	pre[0] = 0;
	pre[1] = DNSU_MAC_LEN;
	memcpy(pre + 2, req->mac, DNSU_MAC_LEN);
	memcpy(msg, ans, tsig_at);
	msg[0] = (unsigned char)(orig_id >> 8);
	msg[1] = (unsigned char)orig_id;
	msg[10] = (unsigned char)((ad - 1) >> 8);
	msg[11] = (unsigned char)(ad - 1);
	put_name(&v, key->name, 1);
	put16(&v, C_ANY);
	put32(&v, 0);
	put_name(&v, ALG_NAME, 1);
	put48(&v, t);
	put16(&v, fudge);
	put16(&v, error);
	put16(&v, other_len);
	put(&v, ans + mac_at + macsize + 6, other_len);
	if (v.err || hmac(key, pre, sizeof(pre), msg, tsig_at, vars, v.len, mac) < 0 ||
	    !ct_equal(mac, ans + mac_at, DNSU_MAC_LEN)) {
		why_set(why, whylen, "the answer's signature does not verify");
		return DNSU_BADSIG;
	}
	if ((t > now ? t - now : now - t) > fudge) {
		why_set(why, whylen, "the answer's signature time is off (clock skew)");
		return DNSU_BADSIG;
	}
	if (*rcode != 0) {
		snprintf(buf, sizeof(buf), "the server answered %s", dnsu_rcode_str(*rcode));
		why_set(why, whylen, buf);
		return DNSU_REFUSED;
	}
	why_set(why, whylen, "updated");
	return DNSU_OK;
}
