/*
 * PCP (RFC 6887) MAP request and response: see pcp.h.  Offsets are the
 * RFC's figures 2 (request header), 3 (response header) and 9 (MAP).
 */
#include <string.h>

#include "pcp.h"

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

size_t pcp_map_build(const struct pcp_map_req *req, uint8_t *out)
{
	memset(out, 0, PCP_MAP_LEN);
	out[0] = PCP_VERSION;
	out[1] = PCP_OPCODE_MAP; /* R = 0: a request */
	put32(out + 4, req->lifetime);
	memcpy(out + 8, req->client_addr, 16);
	memcpy(out + 24, req->nonce, 12);
	out[36] = req->protocol;
	put16(out + 40, req->internal_port);
	put16(out + 42, req->suggested_port);
	/* no preferred external address: the all-zeros address of the
	 * family, ::ffff:0.0.0.0 for IPv4 (RFC 6887 11.1) */
	if (memcmp(req->client_addr, "\0\0\0\0\0\0\0\0\0\0\xff\xff", 12) == 0) {
		out[54] = 0xff;
		out[55] = 0xff;
	}
	return PCP_MAP_LEN;
}

enum pcp_parse pcp_map_parse(const uint8_t *buf, size_t len, const struct pcp_map_req *req,
			     struct pcp_map_resp *r)
{
	size_t off;
	unsigned nopt = 0;

	memset(r, 0, sizeof(*r));
	/* a NAT-PMP router: version 0, a response opcode, its result */
	if (len >= 4 && buf[0] == 0 && (buf[1] & 0x80))
		return PCP_NATPMP;
	/* every PCP message is a whole number of 32-bit words (7) */
	if (len < 24 || len > PCP_MAX_MSG || len % 4 != 0)
		return PCP_BAD;
	if (buf[0] != PCP_VERSION || buf[1] != (0x80 | PCP_OPCODE_MAP))
		return buf[0] == PCP_VERSION && !(buf[1] & 0x80) ? PCP_NOT_OURS : PCP_BAD;
	r->result = buf[3];
	r->lifetime = get32(buf + 4);
	r->epoch = get32(buf + 8);
	if (len < PCP_MAP_LEN) {
		/* an error before the server read the payload (a version or
		 * opcode it does not know) may come without it */
		if (r->result == 0)
			return PCP_BAD;
		return PCP_OK;
	}
	if (memcmp(buf + 24, req->nonce, 12) != 0 || buf[36] != req->protocol ||
	    get16(buf + 40) != req->internal_port)
		return PCP_NOT_OURS;
	r->external_port = get16(buf + 42);
	memcpy(r->external_addr, buf + 44, 16);
	/* the options: each a 4-byte header and its data padded to 4 */
	for (off = PCP_MAP_LEN; off < len;) {
		size_t olen, padded;
		if (len - off < 4 || ++nopt > PCP_MAX_OPTIONS)
			return PCP_BAD;
		olen = get16(buf + off + 2);
		padded = (olen + 3) & ~(size_t)3;
		if (padded > len - off - 4)
			return PCP_BAD;
		off += 4 + padded;
	}
	/* a success that maps nothing is not a success */
	if (r->result == 0 && req->lifetime && (!r->lifetime || !r->external_port))
		return PCP_BAD;
	return PCP_OK;
}

const char *pcp_result_str(unsigned result)
{
	static const char *const names[] = {
	    "SUCCESS",		 "UNSUPP_VERSION",	  "NOT_AUTHORIZED",
	    "MALFORMED_REQUEST", "UNSUPP_OPCODE",	  "UNSUPP_OPTION",
	    "MALFORMED_OPTION",	 "NETWORK_FAILURE",	  "NO_RESOURCES",
	    "UNSUPP_PROTOCOL",	 "USER_EX_QUOTA",	  "CANNOT_PROVIDE_EXTERNAL",
	    "ADDRESS_MISMATCH",	 "EXCESSIVE_REMOTE_PEERS"};

	return result < sizeof(names) / sizeof(names[0]) ? names[result] : "unknown result";
}
