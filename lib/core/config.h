#ifndef LOFT_CONFIG_H
#define LOFT_CONFIG_H
/*
 * DATADIR/loft.conf: "key = value" lines, '#' starts a comment, blank lines
 * ignored.  Keys are [a-z0-9_.-]; values run to the end of the line with
 * surrounding spaces trimmed.  A later line for the same key wins.
 */
#include <stddef.h>
#include <stdint.h>

struct config;

/* Returns a new empty config (never NULL; aborts on out of memory). */
struct config *config_new(void);
void config_free(struct config *c);
/* Parses text.  Returns 0, or -1 with a message naming the line in err. */
int config_parse(struct config *c, const char *text, size_t len, char *err, size_t errlen);
/* Loads a file; a missing file is not an error (returns 0, empty config). */
int config_load(struct config *c, const char *path, char *err, size_t errlen);
/* Sets (or replaces) a key; the config copies both strings. */
void config_set(struct config *c, const char *key, const char *value);
/* Returns the value (owned by c) or def when the key is absent. */
const char *config_get(const struct config *c, const char *key, const char *def);
/* Reads a number in [0, max].  Returns 0 (def when absent) or -1 when the
 * value is not a valid number. */
int config_get_u64(const struct config *c, const char *key, uint64_t def, uint64_t max,
		   uint64_t *out);
/* "yes/no/true/false/on/off/1/0".  Returns 0 or -1 when invalid. */
int config_get_bool(const struct config *c, const char *key, int def, int *out);

#endif
