#ifndef LOFT_TAP_H
#define LOFT_TAP_H
/*
 * A minimal TAP producer for the C unit tests.  Each check prints
 * "ok N - what" or "not ok N - what (file:line)"; tap_done() prints the
 * plan and returns the exit status.
 */
#include <stdio.h>
#include <string.h>

static int tap_n, tap_failed;

static inline int tap_check(int cond, const char *what, const char *file, int line)
{
	tap_n++;
	if (cond) {
		printf("ok %d - %s\n", tap_n, what);
	} else {
		tap_failed++;
		printf("not ok %d - %s (%s:%d)\n", tap_n, what, file, line);
	}
	fflush(stdout);
	return cond;
}

#define ok(cond, what)	   tap_check(!!(cond), what, __FILE__, __LINE__)
#define is_int(a, b, what) tap_check((long long)(a) == (long long)(b), what, __FILE__, __LINE__)
#define is_str(a, b, what) tap_check((a) && (b) && strcmp((a), (b)) == 0, what, __FILE__, __LINE__)
#define is_mem(a, alen, b, blen, what)                                                             \
	tap_check((alen) == (blen) && memcmp((a), (b), (alen)) == 0, what, __FILE__, __LINE__)

static inline int tap_done(void)
{
	printf("1..%d\n", tap_n);
	return tap_failed ? 1 : 0;
}

#endif
