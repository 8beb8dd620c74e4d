/* PCP (RFC 6887) responses as arbitrary bytes (lib/net/pcp.c): never a
 * crash, never a read past the input; an OK answer only when it carries
 * the request's nonce, protocol and port. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pcp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct pcp_map_req q;
	struct pcp_map_resp r;
	uint8_t *copy = malloc(size ? size : 1);

	if (!copy)
		return 0;
	/* an exact-size copy: ASan sees any read past the datagram */
	memcpy(copy, data, size);
	memset(&q, 0, sizeof(q));
	memcpy(q.nonce, "loft-nonce-1", 12);
	q.protocol = PCP_PROTO_TCP;
	q.internal_port = 25;
	q.lifetime = size & 1 ? 3600 : 0;
	enum pcp_parse p = pcp_map_parse(copy, size, &q, &r);
	if (p == PCP_OK && size >= PCP_MAP_LEN &&
	    (memcmp(copy + 24, q.nonce, 12) != 0 || copy[36] != 6))
		abort();
	(void)pcp_result_str(r.result);
	free(copy);
	return 0;
}
