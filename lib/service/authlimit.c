#include "authlimit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "log.h"

/* One record per client address and one per account, in a small open
 * hash table; when it is full the stalest record is evicted, so a flood of
 * addresses costs bounded memory (and at worst forgets some failures). */
struct al_entry {
	char key[160]; /* "i:" + address or "a:" + account; "" = free */
	unsigned failures;
	uint64_t first_ms, last_ms;
	uint64_t refused_until;
};

struct authlimit {
	struct authlimit_conf conf;
	struct al_entry *tab;
	size_t n;
};

void authlimit_conf_default(struct authlimit_conf *conf)
{
	conf->free_failures = 2;
	conf->max_failures = 10;
	conf->window_ms = 15 * 60 * 1000;
	conf->max_delay_ms = 8000;
	conf->refuse_ms = 15 * 60 * 1000;
	conf->max_entries = 4096;
}

int authlimit_conf_load(struct authlimit_conf *conf, const struct config *cfg, const char *prefix,
			char *err, size_t errlen)
{
	static const struct {
		const char *name;
		uint64_t max;
	} keys[] = {{"auth_free_failures", 1000},
		    {"auth_max_failures", 100000},
		    {"auth_max_delay_ms", 600000}};
	uint64_t v[3];

	authlimit_conf_default(conf);
	uint64_t def[3] = {conf->free_failures, conf->max_failures, conf->max_delay_ms};
	for (size_t i = 0; i < 3; i++) {
		char key[64];
		snprintf(key, sizeof(key), "%s.%s", prefix, keys[i].name);
		if (config_get_u64(cfg, key, def[i], keys[i].max, &v[i]) < 0) {
			snprintf(err, errlen, "%s must be a number up to %llu", key,
				 (unsigned long long)keys[i].max);
			return -1;
		}
	}
	conf->free_failures = (unsigned)v[0];
	conf->max_failures = (unsigned)v[1];
	conf->max_delay_ms = v[2];
	return 0;
}

struct authlimit *authlimit_new(const struct authlimit_conf *conf)
{
	struct authlimit *al = calloc(1, sizeof(*al));

	if (!al)
		bug("out of memory");
	al->conf = *conf;
	al->n = conf->max_entries ? conf->max_entries : 1;
	al->tab = calloc(al->n, sizeof(*al->tab));
	if (!al->tab)
		bug("out of memory");
	return al;
}

void authlimit_free(struct authlimit *al)
{
	if (!al)
		return;
	free(al->tab);
	free(al);
}

static uint64_t al_hash(const char *s)
{
	uint64_t h = 1469598103934665603ULL;

	while (*s)
		h = (h ^ (unsigned char)*s++) * 1099511628211ULL;
	return h;
}

static void al_key(char *out, size_t outlen, char kind, const char *v)
{
	size_t n = strlen(v);

	if (n > outlen - 3)
		n = outlen - 3;
	out[0] = kind;
	out[1] = ':';
	for (size_t i = 0; i < n; i++) {
		char ch = v[i];
		/* accounts compare case-insensitively, as logins do */
		out[2 + i] = (ch >= 'A' && ch <= 'Z') ? (char)(ch - 'A' + 'a') : ch;
	}
	out[2 + n] = '\0';
}

/* Finds the record for key; with create, makes one (evicting the stalest
 * within a short probe run).  Returns NULL when absent. */
static struct al_entry *al_find(struct authlimit *al, const char *key, int create, uint64_t now)
{
	size_t start = (size_t)(al_hash(key) % al->n), probe = al->n < 16 ? al->n : 16;
	struct al_entry *victim = NULL;

	for (size_t i = 0; i < probe; i++) {
		struct al_entry *e = &al->tab[(start + i) % al->n];
		int stale =
		    e->key[0] && now >= e->last_ms + al->conf.window_ms && now >= e->refused_until;

		if (e->key[0] && strcmp(e->key, key) == 0) {
			if (stale)
				memset(e, 0, sizeof(*e));
			else
				return e;
		}
		if (!e->key[0] || stale) {
			if (!victim || victim->key[0])
				victim = e;
		} else if (!victim || (victim->key[0] && e->last_ms < victim->last_ms)) {
			victim = e;
		}
	}
	if (!create)
		return NULL;
	memset(victim, 0, sizeof(*victim));
	snprintf(victim->key, sizeof(victim->key), "%s", key);
	victim->first_ms = now;
	return victim;
}

static int64_t al_delay(const struct authlimit *al, const struct al_entry *e, uint64_t now)
{
	if (!e)
		return 0;
	if (now < e->refused_until)
		return -1;
	if (e->failures <= al->conf.free_failures)
		return 0;
	unsigned steps = e->failures - al->conf.free_failures - 1;
	uint64_t d = 500ULL << (steps < 20 ? steps : 20);
	return (int64_t)(d > al->conf.max_delay_ms ? al->conf.max_delay_ms : d);
}

int64_t authlimit_check(struct authlimit *al, const char *ip, const char *account, uint64_t now_ms)
{
	char key[160];
	int64_t d = 0, d2;

	if (ip) {
		al_key(key, sizeof(key), 'i', ip);
		d = al_delay(al, al_find(al, key, 0, now_ms), now_ms);
	}
	if (account && d >= 0) {
		al_key(key, sizeof(key), 'a', account);
		d2 = al_delay(al, al_find(al, key, 0, now_ms), now_ms);
		if (d2 < 0 || d2 > d)
			d = d2;
	}
	return d;
}

static void al_fail_one(struct authlimit *al, char kind, const char *v, uint64_t now)
{
	char key[160];
	struct al_entry *e;

	al_key(key, sizeof(key), kind, v);
	e = al_find(al, key, 1, now);
	e->failures++;
	e->last_ms = now;
	if (e->failures >= al->conf.max_failures && now >= e->refused_until) {
		e->refused_until = now + al->conf.refuse_ms;
		log_warn(NULL, "event=auth-refusing %s=%s failures=%u for_s=%llu",
			 kind == 'i' ? "ip" : "account", key + 2, e->failures,
			 (unsigned long long)(al->conf.refuse_ms / 1000));
		e->failures = 0;
	}
}

void authlimit_fail(struct authlimit *al, const char *ip, const char *account, uint64_t now_ms)
{
	if (ip)
		al_fail_one(al, 'i', ip, now_ms);
	if (account)
		al_fail_one(al, 'a', account, now_ms);
}

void authlimit_success(struct authlimit *al, const char *ip, const char *account)
{
	char key[160];
	struct al_entry *e;

	if (ip) {
		al_key(key, sizeof(key), 'i', ip);
		if ((e = al_find(al, key, 0, 0)) && e->refused_until == 0)
			memset(e, 0, sizeof(*e));
	}
	if (account) {
		al_key(key, sizeof(key), 'a', account);
		if ((e = al_find(al, key, 0, 0)) && e->refused_until == 0)
			memset(e, 0, sizeof(*e));
	}
}
