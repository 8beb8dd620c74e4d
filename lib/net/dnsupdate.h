#ifndef LOFT_DNSUPDATE_H
#define LOFT_DNSUPDATE_H
/*
 * RFC 2136 dynamic update messages signed with TSIG (RFC 8945,
 * HMAC-SHA256 via mbedTLS): what loft-netwatch sends to the domain's DNS
 * server when the public address changes, so the box's A/AAAA record
 * follows it.  Building and checking the packets only (no I/O), so every
 * byte is tested; the answer parser reads hostile input with bounds on
 * everything (tests/unit/test_dnsupdate.c, tests/fuzz/fuzz_dnsupdate.c).
 */
#include <stddef.h>
#include <stdint.h>

#define DNSU_MAX_MSG 1024 /* an update of one name with two records fits easily */
#define DNSU_MAC_LEN 32	  /* HMAC-SHA256 */

struct dnsu_key {
	char name[256];		   /* the TSIG key's name, e.g. "loft-key" */
	unsigned char secret[128]; /* the shared secret, decoded */
	size_t secret_len;
};

/* Decodes a base64 secret (as knot, BIND and tsig-keygen print it) into
 * key; the name as given.  Returns 0, or -1 (bad base64, too long). */
int dnsu_key_set(struct dnsu_key *key, const char *name, const char *secret_b64);

struct dnsu_request {
	unsigned char msg[DNSU_MAX_MSG];
	size_t len;
	uint16_t id;
	unsigned char mac[DNSU_MAC_LEN]; /* the request's MAC: the answer's MAC covers it */
	uint64_t time_signed;
};

/*
 * Builds the update for zone: replace every A (and AAAA) record of name
 * (an FQDN inside zone, no trailing dot needed) with addr4 and/or addr6
 * (text; NULL or "" leaves that type alone) at ttl, signed with key at
 * time now (unix seconds).  id is the message ID (random in use).
 * Returns 0, or -1 when a name or address is invalid or the message does
 * not fit.
 */
int dnsu_build(struct dnsu_request *req, const char *zone, const char *name, const char *addr4,
	       const char *addr6, uint32_t ttl, const struct dnsu_key *key, uint16_t id,
	       uint64_t now);

enum dnsu_result {
	DNSU_OK = 0,	/* the server applied the update (NOERROR), TSIG verified */
	DNSU_REFUSED,	/* an RCODE: the server said no (REFUSED, NOTAUTH, NOTZONE, ...) */
	DNSU_BADSIG,	/* the server did not accept our key/signature, or its answer's
			   signature is wrong or missing */
	DNSU_MALFORMED, /* not an answer to our request */
};

/*
 * Checks a server's answer to req: its ID, QR and opcode, the RCODE, and
 * its TSIG record (present, our key, its MAC over our request's MAC and
 * the answer, time within the fudge of now).  rcode gets the RCODE (or
 * -1), why a short explanation.  Never reads past len.
 */
enum dnsu_result dnsu_check_answer(const struct dnsu_request *req, const unsigned char *ans,
				   size_t len, const struct dnsu_key *key, uint64_t now, int *rcode,
				   char *why, size_t whylen);

/* "NOERROR", "REFUSED", ... for an RCODE (RFC 1035, 2136, 8945). */
const char *dnsu_rcode_str(int rcode);

#endif
