/* PCP (RFC 6887) MAP messages (lib/net/pcp.c): the request's bytes, a
 * response read whole, every truncation of it, every bit flip, option
 * limits, the NAT-PMP fallback answer, errors without a payload. */
#include <stdio.h>
#include <string.h>

#include "pcp.h"
#include "tap.h"

static const uint8_t NONCE[12] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};

static void req_init(struct pcp_map_req *q, uint32_t lifetime)
{
	memset(q, 0, sizeof(*q));
	memcpy(q->nonce, NONCE, 12);
	q->protocol = PCP_PROTO_TCP;
	q->internal_port = 587;
	q->suggested_port = 587;
	q->lifetime = lifetime;
	/* ::ffff:192.168.1.20 */
	q->client_addr[10] = q->client_addr[11] = 0xff;
	q->client_addr[12] = 192;
	q->client_addr[13] = 168;
	q->client_addr[14] = 1;
	q->client_addr[15] = 20;
}

/* A server's success answer to q, as RFC 6887 figure 3 + 9 lay it out. */
static size_t answer(const struct pcp_map_req *q, uint8_t *b, uint8_t result, uint32_t life)
{
	memset(b, 0, PCP_MAP_LEN);
	b[0] = 2;
	b[1] = 0x81;
	b[3] = result;
	b[4] = (uint8_t)(life >> 24), b[5] = (uint8_t)(life >> 16);
	b[6] = (uint8_t)(life >> 8), b[7] = (uint8_t)life;
	b[11] = 77; /* epoch */
	memcpy(b + 24, q->nonce, 12);
	b[36] = q->protocol;
	b[40] = (uint8_t)(q->internal_port >> 8), b[41] = (uint8_t)q->internal_port;
	b[42] = (uint8_t)(q->internal_port >> 8), b[43] = (uint8_t)q->internal_port;
	b[54] = b[55] = 0xff;
	b[56] = 203, b[57] = 0, b[58] = 113, b[59] = 7;
	return PCP_MAP_LEN;
}

int main(void)
{
	struct pcp_map_req q;
	struct pcp_map_resp r;
	uint8_t b[PCP_MAX_MSG + 8], a[PCP_MAX_MSG + 8];
	size_t n;

	/* the request */
	req_init(&q, 3600);
	is_int(pcp_map_build(&q, b), PCP_MAP_LEN, "request is 60 bytes");
	ok(b[0] == 2 && b[1] == 1 && b[2] == 0 && b[3] == 0, "version 2, R=0, opcode MAP");
	ok(b[4] == 0 && b[5] == 0 && b[6] == 0x0e && b[7] == 0x10, "lifetime 3600");
	is_mem(b + 8, 16, q.client_addr, 16, "client address");
	is_mem(b + 24, 12, NONCE, 12, "nonce");
	ok(b[36] == 6 && b[37] == 0 && b[38] == 0 && b[39] == 0, "protocol TCP, reserved 0");
	ok(b[40] == 0x02 && b[41] == 0x4b && b[42] == 0x02 && b[43] == 0x4b, "ports 587");
	static const uint8_t any4[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0, 0, 0, 0};
	is_mem(b + 44, 16, any4, 16, "no preferred address: ::ffff:0.0.0.0");

	/* a good answer */
	n = answer(&q, a, 0, 3600);
	is_int(pcp_map_parse(a, n, &q, &r), PCP_OK, "success parsed");
	ok(r.result == 0 && r.lifetime == 3600 && r.epoch == 77, "result, lifetime, epoch");
	is_int(r.external_port, 587, "external port");
	ok(r.external_addr[12] == 203 && r.external_addr[15] == 7, "external address");

	/* every cut of it, whole words or not, is refused */
	int cut_ok = 1;
	for (size_t i = 0; i < n; i++)
		if (pcp_map_parse(a, i, &q, &r) == PCP_OK)
			cut_ok = 0;
	ok(cut_ok, "no truncation of a success reads as a success");
	/* every single bit flipped: never a crash; where it matters refused */
	int flips = 0;
	for (size_t i = 0; i < n * 8; i++) {
		uint8_t c[PCP_MAP_LEN];
		memcpy(c, a, n);
		c[i / 8] ^= (uint8_t)(1u << (i % 8));
		enum pcp_parse p = pcp_map_parse(c, n, &q, &r);
		if ((i / 8 == 0 || i / 8 == 1) && p != PCP_BAD && p != PCP_NOT_OURS &&
		    p != PCP_NATPMP)
			flips++;
		if (i / 8 >= 24 && i / 8 < 37 && p != PCP_NOT_OURS)
			flips++;
		if (i / 8 >= 40 && i / 8 < 42 && p != PCP_NOT_OURS)
			flips++;
	}
	is_int(flips, 0, "a flipped version, opcode, nonce, protocol or port is refused");

	/* length rules */
	memset(a + n, 0, 8);
	is_int(pcp_map_parse(a, n + 2, &q, &r), PCP_BAD, "not a whole number of words");
	is_int(pcp_map_parse(a, PCP_MAX_MSG + 4, &q, &r), PCP_BAD, "over 1100 bytes");
	/* options: a good one, one running past the end, too many */
	n = answer(&q, a, 0, 3600);
	a[n] = 1, a[n + 1] = 0, a[n + 2] = 0, a[n + 3] = 5; /* 5 bytes, padded to 8 */
	memset(a + n + 4, 0, 8);
	is_int(pcp_map_parse(a, n + 12, &q, &r), PCP_OK, "an option with padding");
	is_int(pcp_map_parse(a, n + 8, &q, &r), PCP_BAD, "an option past the end");
	a[n + 2] = 0xff, a[n + 3] = 0xff;
	is_int(pcp_map_parse(a, n + 12, &q, &r), PCP_BAD, "a 65535-byte option");
	n = answer(&q, a, 0, 3600);
	memset(a + n, 0, 4 * (PCP_MAX_OPTIONS + 1));
	is_int(pcp_map_parse(a, n + 4 * PCP_MAX_OPTIONS, &q, &r), PCP_OK, "16 empty options");
	is_int(pcp_map_parse(a, n + 4 * (PCP_MAX_OPTIONS + 1), &q, &r), PCP_BAD,
	       "17 options refused");

	/* a success that maps nothing */
	n = answer(&q, a, 0, 0);
	is_int(pcp_map_parse(a, n, &q, &r), PCP_BAD, "success with lifetime 0 for a map");
	n = answer(&q, a, 0, 3600);
	a[42] = a[43] = 0;
	is_int(pcp_map_parse(a, n, &q, &r), PCP_BAD, "success with external port 0");
	/* a deletion's success has lifetime 0 */
	struct pcp_map_req del;
	req_init(&del, 0);
	n = answer(&del, a, 0, 0);
	is_int(pcp_map_parse(a, n, &del, &r), PCP_OK, "deletion acknowledged");
	is_int(r.lifetime, 0, "deletion lifetime 0");

	/* errors */
	n = answer(&q, a, 2, 0);
	is_int(pcp_map_parse(a, n, &q, &r), PCP_OK, "NOT_AUTHORIZED parsed");
	is_int(r.result, 2, "result 2");
	is_str(pcp_result_str(r.result), "NOT_AUTHORIZED", "its name");
	is_int(pcp_map_parse(a, 24, &q, &r), PCP_OK, "an error without the payload");
	a[3] = 0;
	is_int(pcp_map_parse(a, 24, &q, &r), PCP_BAD, "a success without the payload");
	is_str(pcp_result_str(200), "unknown result", "unknown code");
	is_str(pcp_result_str(13), "EXCESSIVE_REMOTE_PEERS", "last code");

	/* a NAT-PMP router's answer: version 0, "unsupported version" */
	static const uint8_t natpmp[8] = {0, 0x80, 0, 1, 0, 0, 0, 9};
	is_int(pcp_map_parse(natpmp, sizeof(natpmp), &q, &r), PCP_NATPMP, "NAT-PMP answer");
	is_int(pcp_map_parse(natpmp, 3, &q, &r), PCP_BAD, "3 bytes of it");
	/* our own request echoed back is not an answer */
	pcp_map_build(&q, b);
	is_int(pcp_map_parse(b, PCP_MAP_LEN, &q, &r), PCP_NOT_OURS, "a request is not an answer");
	/* an answer to another mapping */
	struct pcp_map_req other;
	req_init(&other, 3600);
	other.internal_port = 993;
	n = answer(&other, a, 0, 3600);
	is_int(pcp_map_parse(a, n, &q, &r), PCP_NOT_OURS, "another port's answer");
	is_int(pcp_map_parse(a, 0, &q, &r), PCP_BAD, "nothing");
	return tap_done();
}
