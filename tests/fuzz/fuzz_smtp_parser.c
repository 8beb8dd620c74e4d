/* libFuzzer target for smtpd/parser.c: command lines, MAIL/RCPT paths with
 * and without SMTPUTF8, From: address lists, base64 and SASL PLAIN. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../smtpd/parser.h"
#include "sasl.h"

static int count_cb(void *arg, const char *addr, size_t len)
{
	(void)addr;
	*(size_t *)arg += len;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct smtp_cmd cmd;
	struct smtp_path p;
	size_t total = 0;
	char *copy = malloc(size + 1);
	char out[1200];

	if (!copy)
		return 0;
	memcpy(copy, data, size);
	copy[size] = '\0';
	if (smtp_cmd_parse(copy, size, &cmd) == 0) {
		for (int mail = 0; mail < 2; mail++)
			for (int utf8 = 0; utf8 < 2; utf8++)
				if (smtp_path_parse(cmd.arg, cmd.arglen, mail, utf8, &p) == 0 &&
				    strlen(p.addr) > SMTP_PATH_MAX)
					abort();
	}
	smtp_path_parse(copy, size, 0, 1, &p);
	smtp_header_addrs(copy, size, count_cb, &total);
	if (total > size)
		abort(); /* addresses are made of input bytes */
	long n = sasl_b64_decode(copy, size, (unsigned char *)out, sizeof(out) - 1);
	if (n >= 0) {
		const char *u, *pw;
		sasl_plain_split(out, (size_t)n, &u, &pw);
	}
	smtp_domain_check(copy, size, 1);
	free(copy);
	return 0;
}
