/* loft-admin's form-body parser, address matcher and size parser (the
 * quota field) on arbitrary bytes:
 * never crashes; every field parsed is bounded, decoded and findable. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../admin/form.h"
#include "strnum.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct form f;
	const char *why;
	char *s;

	if (admin_form_parse(&f, (const char *)data, size, &why) == 0) {
		if (f.n > FORM_MAX_FIELDS)
			abort();
		for (size_t i = 0; i < f.n; i++) {
			if (strlen(f.f[i].name) > FORM_MAX_NAME ||
			    strlen(f.f[i].value) != f.f[i].value_len ||
			    !admin_form_get(&f, f.f[i].name))
				abort();
		}
		admin_form_free(&f);
	}
	{
		const char *d;
		size_t n;
		char out[256];
		if (admin_form_multipart_part("multipart/form-data; boundary=xyz",
					      (const char *)data, size, "backup", &d, &n,
					      &why) == 0 &&
		    (d < (const char *)data || d + n > (const char *)data + size))
			abort();
		admin_form_xml_text((const char *)data, size, "EMailAddress", out, sizeof(out));
	}
	/* the same bytes as a client address and as a list of networks */
	s = malloc(size + 1);
	if (!s)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	admin_form_ip_in_nets(s, NULL);
	admin_form_ip_in_nets("192.168.1.20", s);
	admin_form_ip_in_nets("fe80::1", s);
	/* the same bytes as a quota from the form: a size that parses is
	 * within the bound, and its exact form reads back to itself */
	{
		uint64_t v, back;
		char txt[32];
		if (strnum_size(s, INT64_MAX, &v) == 0) {
			if (v > INT64_MAX)
				abort();
			strnum_size_exact(txt, sizeof(txt), v);
			if (strnum_size(txt, INT64_MAX, &back) < 0 || back != v)
				abort();
			strnum_size_human(txt, sizeof(txt), v);
		}
	}
	free(s);
	return 0;
}
