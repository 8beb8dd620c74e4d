#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "array.h"
#include "buf.h"
#include "log.h"
#include "strnum.h"

#define CONFIG_MAX_FILE	 (1024 * 1024)
#define CONFIG_MAX_LINE	 4096
#define CONFIG_MAX_ITEMS 1024

struct config_item {
	char *key;
	char *value;
};

struct config {
	struct config_item *items;
	size_t n, cap;
};

struct config *config_new(void)
{
	struct config *c = calloc(1, sizeof(*c));

	if (!c)
		bug("out of memory");
	return c;
}

void config_free(struct config *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->n; i++) {
		free(c->items[i].key);
		free(c->items[i].value);
	}
	free(c->items);
	free(c);
}

void config_set(struct config *c, const char *key, const char *value)
{
	char *v = strdup(value);

	if (!v)
		bug("out of memory");
	for (size_t i = 0; i < c->n; i++) {
		if (strcmp(c->items[i].key, key) == 0) {
			free(c->items[i].value);
			c->items[i].value = v;
			return;
		}
	}
	if (ARRAY_GROW(c->items, c->cap, c->n + 1, 16) < 0)
		bug("out of memory");
	c->items[c->n].key = strdup(key);
	if (!c->items[c->n].key)
		bug("out of memory");
	c->items[c->n].value = v;
	c->n++;
}

static int is_key_char(char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '_' || ch == '.' ||
	       ch == '-';
}

static int is_space(char ch)
{
	return ch == ' ' || ch == '\t' || ch == '\r';
}

int config_parse(struct config *c, const char *text, size_t len, char *err, size_t errlen)
{
	size_t pos = 0;
	unsigned lineno = 0;

	while (pos < len) {
		const char *line = text + pos;
		const char *nl = memchr(line, '\n', len - pos);
		size_t ll = nl ? (size_t)(nl - line) : len - pos;
		size_t i = 0, kstart, kend, vstart, vend;
		char key[128], value[CONFIG_MAX_LINE];

		pos += ll + (nl ? 1 : 0);
		lineno++;
		if (ll >= CONFIG_MAX_LINE) {
			snprintf(err, errlen, "line %u: longer than %d bytes", lineno,
				 CONFIG_MAX_LINE);
			return -1;
		}
		if (memchr(line, '\0', ll)) {
			snprintf(err, errlen, "line %u: NUL byte", lineno);
			return -1;
		}
		while (i < ll && is_space(line[i]))
			i++;
		if (i == ll || line[i] == '#')
			continue;
		kstart = i;
		while (i < ll && is_key_char(line[i]))
			i++;
		kend = i;
		while (i < ll && is_space(line[i]))
			i++;
		if (kend == kstart || i == ll || line[i] != '=') {
			snprintf(err, errlen, "line %u: expected \"key = value\"", lineno);
			return -1;
		}
		if (kend - kstart >= sizeof(key)) {
			snprintf(err, errlen, "line %u: key too long", lineno);
			return -1;
		}
		i++;
		while (i < ll && is_space(line[i]))
			i++;
		vstart = i;
		vend = ll;
		/* a '#' after whitespace starts a comment; inside a value it does not */
		for (size_t j = vstart; j < ll; j++) {
			if (line[j] == '#' && j > vstart && is_space(line[j - 1])) {
				vend = j;
				break;
			}
		}
		while (vend > vstart && is_space(line[vend - 1]))
			vend--;
		memcpy(key, line + kstart, kend - kstart);
		key[kend - kstart] = '\0';
		memcpy(value, line + vstart, vend - vstart);
		value[vend - vstart] = '\0';
		if (c->n >= CONFIG_MAX_ITEMS && !config_get(c, key, NULL)) {
			snprintf(err, errlen, "line %u: more than %d keys", lineno,
				 CONFIG_MAX_ITEMS);
			return -1;
		}
		config_set(c, key, value);
	}
	return 0;
}

int config_load(struct config *c, const char *path, char *err, size_t errlen)
{
	FILE *f = fopen(path, "r");
	struct buf b;
	char chunk[4096];
	size_t n;
	int r;

	if (!f) {
		if (errno == ENOENT)
			return 0;
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	buf_init(&b, CONFIG_MAX_FILE);
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0) {
		if (buf_append(&b, chunk, n) < 0) {
			snprintf(err, errlen, "%s: larger than %d bytes", path, CONFIG_MAX_FILE);
			fclose(f);
			buf_free(&b);
			return -1;
		}
	}
	if (ferror(f)) {
		snprintf(err, errlen, "%s: read error", path);
		fclose(f);
		buf_free(&b);
		return -1;
	}
	fclose(f);
	char inner[256];
	r = config_parse(c, buf_cstr(&b), b.len, inner, sizeof(inner));
	if (r < 0)
		snprintf(err, errlen, "%s: %s", path, inner);
	buf_free(&b);
	return r;
}

const char *config_get(const struct config *c, const char *key, const char *def)
{
	for (size_t i = 0; i < c->n; i++)
		if (strcmp(c->items[i].key, key) == 0)
			return c->items[i].value;
	return def;
}

int config_get_u64(const struct config *c, const char *key, uint64_t def, uint64_t max,
		   uint64_t *out)
{
	const char *v = config_get(c, key, NULL);

	if (!v) {
		*out = def;
		return 0;
	}
	return strnum_u64(v, max, out);
}

int config_get_bool(const struct config *c, const char *key, int def, int *out)
{
	static const char *const yes[] = {"yes", "true", "on", "1"};
	static const char *const no[] = {"no", "false", "off", "0"};
	const char *v = config_get(c, key, NULL);

	if (!v) {
		*out = def;
		return 0;
	}
	for (int i = 0; i < 4; i++) {
		if (strcasecmp(v, yes[i]) == 0) {
			*out = 1;
			return 0;
		}
		if (strcasecmp(v, no[i]) == 0) {
			*out = 0;
			return 0;
		}
	}
	return -1;
}
