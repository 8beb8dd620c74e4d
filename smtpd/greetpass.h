#ifndef LOFT_GREETPASS_H
#define LOFT_GREETPASS_H
/*
 * The addresses that passed the early-talker check, the way Postfix's
 * postscreen remembers them: a client that waited for the greeting once is
 * greeted at once afterwards, for ttl, so a real MTA sending one message
 * per connection pays the greeting delay once a day, not on every message.
 *
 * Held in memory and written to the store by session.c (see README.md,
 * "Early talker"), so a restart forgets nothing.  At most max addresses;
 * when full, the older half is forgotten.
 */
#include <stddef.h>
#include <stdint.h>

struct greetpass;

/* ttl_ms 0 remembers nothing (every client waits); max is at least 1.
 * Returns a table that allocates nothing until the first address; never
 * NULL (aborts on out of memory). */
struct greetpass *greetpass_new(uint64_t ttl_ms, size_t max);
void greetpass_free(struct greetpass *g);

/* 1 if ip (an IPv4 or IPv6 address as text, as the listener gives it)
 * passed within ttl before now_ms (a monotonic clock), else 0.  Text that
 * is not an address is never known. */
int greetpass_known(struct greetpass *g, const char *ip, uint64_t now_ms);
/* Remembers that ip passed at now_ms (again: its time is renewed).
 * Returns 1 when the pass is worth writing down (greetpass_add for an
 * address not held, or held from more than half the ttl before: the
 * stored copy would expire while the client keeps coming), else 0. */
int greetpass_add(struct greetpass *g, const char *ip, uint64_t now_ms);
/* Addresses held now (expired ones included until they are swept). */
size_t greetpass_count(const struct greetpass *g);

#endif
