#ifndef LOFT_MULTICALL_H
#define LOFT_MULTICALL_H
/*
 * The role table of the multi-call program `loft` (multicall.c).  The
 * Makefile generates it from PROGS (BUILD/multi/roles.c): each program's
 * own objects are linked into one relocatable object whose main is renamed
 * <prog>_main (dashes as underscores) and whose other globals are made
 * local, so no program's main.c needs to know about it.
 */
struct loft_role {
	const char *name; /* the program's name: loftd, loft-smtpd, loftctl ... */
	int (*main)(int argc, char **argv);
};

extern const struct loft_role loft_roles[];
extern const unsigned loft_nroles;

#endif
