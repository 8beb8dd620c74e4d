/*
 * loft: every Loft program in one static executable, the build that ships
 * (DESIGN.md, "The build that ships"; `make static`).  The processes then
 * share one copy of the text pages, so the board pays for SQLite and
 * mbedTLS once.
 *
 * The role comes from the name it was started as, busybox's way: the last
 * component of argv[0] (loftd, loft-smtpd, loftctl ... are symlinks to
 * loft, and loftd starts each child with the child's name as argv[0]), or,
 * when started as anything else, from the first argument:
 * `loft loftctl domain list`.  `loft --list` prints the roles.
 *
 * SECURITY: nothing here but the choice of role and how the program's
 * own read-only pages are faulted in; each role's own main is what runs,
 * with its own security notes.
 */
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>

#include "multicall.h"
#include "pages.h"

/*
 * Exact faults (lib/core/pages.h, issue 14): one file holds every role's
 * code, so the page cache holds all of it while any role runs, and with
 * the kernel's fault-around loft-smtpd mapped almost the whole 2.9 MB of
 * code although it runs a fraction of it.  Turned off first thing, so each
 * process maps the pages it touches, and the link order (the Makefile's
 * STATIC_ORDER) keeps those together, for kernels without it too.
 */
static const struct loft_role *role(const char *name)
{
	for (unsigned i = 0; i < loft_nroles; i++)
		if (strcmp(loft_roles[i].name, name) == 0)
			return &loft_roles[i];
	return NULL;
}

/* The process name (ps, top, /proc/PID/comm) is the role's, not "loft":
 * loftd starts children with fexecve, which names them after the file. */
static int run(const struct loft_role *r, int argc, char **argv)
{
	prctl(PR_SET_NAME, r->name, 0, 0, 0);
	return r->main(argc, argv);
}

static int usage(FILE *f, int rc)
{
	fprintf(f, "usage: loft ROLE [ARG...]  (or a link named ROLE to loft)\nroles:");
	for (unsigned i = 0; i < loft_nroles; i++)
		fprintf(f, " %s", loft_roles[i].name);
	fprintf(f, "\n");
	return rc;
}

int main(int argc, char **argv)
{
	const struct loft_role *r;
	const char *base;

	pages_exact_faults();
	if (argc < 1 || !argv[0])
		return usage(stderr, 64);
	base = strrchr(argv[0], '/');
	base = base ? base + 1 : argv[0];
	r = role(base);
	if (r)
		return run(r, argc, argv);
	if (argc < 2)
		return usage(stderr, 64);
	if (strcmp(argv[1], "--list") == 0) {
		for (unsigned i = 0; i < loft_nroles; i++)
			printf("%s\n", loft_roles[i].name);
		return 0;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)
		return usage(stdout, 0);
	r = role(argv[1]);
	if (!r) {
		fprintf(stderr, "loft: no role named %s\n", argv[1]);
		return usage(stderr, 64);
	}
	return run(r, argc - 1, argv + 1);
}
