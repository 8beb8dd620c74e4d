/* loft.conf parsing of arbitrary bytes: never crashes; what parses can be
 * read back. */
#include <stdint.h>
#include <stdlib.h>

#include "config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct config *c = config_new();
	char err[256];
	uint64_t v;
	int b;

	if (config_parse(c, (const char *)data, size, err, sizeof(err)) == 0) {
		config_get(c, "hostname", NULL);
		config_get_u64(c, "size", 0, UINT64_MAX, &v);
		config_get_bool(c, "flag", 0, &b);
	}
	config_free(c);
	return 0;
}
