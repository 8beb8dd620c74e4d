#ifndef LOFT_PCP_H
#define LOFT_PCP_H
/*
 * PCP (RFC 6887) MAP messages: the third way (after UPnP IGD and with
 * NAT-PMP as its fallback) to ask a home router to forward a port.
 * libnatpmp speaks NAT-PMP only, so the messages are built and read
 * here; the transport (UDP to the router's port 5351, retries) is the
 * caller's.  Pure functions: no I/O, no allocation.
 *
 * A response is network input: pcp_map_parse checks every field and the
 * option list against the buffer's length and RFC 6887's limits, and
 * that it answers the request it is given (opcode, nonce, protocol,
 * internal port); anything else is refused, never guessed at.
 */
#include <stddef.h>
#include <stdint.h>

#define PCP_PORT	   5351
#define PCP_VERSION	   2
#define PCP_MAX_MSG	   1100 /* RFC 6887 7: no PCP message is longer */
#define PCP_MAP_LEN	   60	/* common header 24 + MAP payload 36 */
#define PCP_OPCODE_MAP	   1
#define PCP_PROTO_TCP	   6
#define PCP_MAX_OPTIONS	   16 /* more in one answer is nonsense */
#define PCP_UNSUPP_VERSION 1

struct pcp_map_req {
	uint8_t nonce[12];
	uint8_t protocol;	 /* 6: TCP */
	uint16_t internal_port;	 /* on the box */
	uint16_t suggested_port; /* on the router's outside; 0: any */
	uint32_t lifetime;	 /* seconds; 0 deletes the mapping */
	uint8_t client_addr[16]; /* the box's address as the router sees it
				  * (IPv4-mapped IPv6 for IPv4) */
};

struct pcp_map_resp {
	uint8_t result; /* 0 success; RFC 6887 7.4 codes otherwise */
	uint32_t lifetime;
	uint32_t epoch;
	uint16_t external_port;
	uint8_t external_addr[16];
};

/* Writes the MAP request to out (at least PCP_MAP_LEN bytes).  Returns
 * the length, PCP_MAP_LEN. */
size_t pcp_map_build(const struct pcp_map_req *req, uint8_t *out);

enum pcp_parse {
	PCP_OK = 0,	   /* a response to req: r filled (result may be an error) */
	PCP_NATPMP = 1,	   /* a NAT-PMP (version 0) answer: the router speaks only that */
	PCP_BAD = -1,	   /* malformed, truncated or over-long */
	PCP_NOT_OURS = -2, /* well-formed but not the answer to req */
};
/* Reads a response of len bytes (any content) to req into r.  A NAT-PMP
 * router answers a PCP request with version 0 and its own "unsupported
 * version" result (RFC 6887 9): PCP_NATPMP, the caller falls back. */
enum pcp_parse pcp_map_parse(const uint8_t *buf, size_t len, const struct pcp_map_req *req,
			     struct pcp_map_resp *r);
/* RFC 6887 7.4's name of a result code ("NOT_AUTHORIZED", ...), or
 * "unknown result". */
const char *pcp_result_str(unsigned result);

#endif
