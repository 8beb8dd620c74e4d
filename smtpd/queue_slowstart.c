/*
 * Slow start for sessions per destination, in the spirit of Postfix's
 * destination concurrency feedback: a destination we know nothing about
 * gets one or two sessions; each delivered transaction allows one more
 * (up to queue.max_per_destination), and each session that never got as
 * far as a transaction (refused, timed out, 421 at the greeting, a broken
 * TLS handshake) halves the allowance, never below one.  A small MX that
 * limits connections per client then sees few of ours, and a big one
 * soon sees as many as the queue needs.
 */
#include "queue.h"

void queue_slowstart_init(struct queue_slowstart *s, unsigned initial, unsigned max)
{
	s->max = max ? max : 1;
	s->window = initial ? initial : 1;
	if (s->window > s->max)
		s->window = s->max;
}

void queue_slowstart_success(struct queue_slowstart *s)
{
	if (s->window < s->max)
		s->window++;
}

void queue_slowstart_failure(struct queue_slowstart *s)
{
	s->window /= 2;
	if (s->window < 1)
		s->window = 1;
}
