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
#include <fcntl.h>
#include <link.h>
#include <linux/userfaultfd.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "multicall.h"

/*
 * Exact faults for the program's read-only pages (issue 14).  One file
 * holds every role's code, so the page cache holds all of it while any
 * role runs, and the kernel's fault-around (fault_around_bytes, 64 KiB)
 * maps the 15 neighbours of every page a process touches: loft-smtpd then
 * mapped almost the whole 2.9 MB of code although it runs a fraction of
 * it (RSS, not new memory: those pages are in the page cache anyway).
 * MADV_RANDOM does not turn fault-around off (it only stops read-ahead);
 * a userfaultfd registration in write-protect mode does (the kernel skips
 * fault-around for such ranges), and with UFFD_FEATURE_WP_ASYNC (Linux
 * 6.7) nothing is ever delivered to the descriptor: write faults, of which
 * read-only code has none, resolve in the kernel.  Then what was mapped
 * before main is dropped (MADV_DONTNEED: clean file pages, mapped again
 * from the page cache when touched), so the process maps exactly the pages
 * it uses, and the link order (the Makefile's STATIC_ORDER) keeps those
 * together for every kernel.  Writable segments are left alone (.data,
 * relocated pages).  Any failure (an older kernel such as Debian 12's 6.1,
 * qemu-user, a sandbox without userfaultfd) leaves the kernel's default;
 * LOFT_FAULT_AROUND=1 in the environment keeps it on purpose (to measure).
 * The descriptor stays open for the process's life (closing it ends the
 * registration) and is close-on-exec.
 */
#ifndef UFFD_FEATURE_WP_ASYNC
#define UFFD_FEATURE_WP_ASYNC (1 << 15)
#endif

struct seg {
	uintptr_t lo, hi;
};

struct segs {
	struct seg ro[8], rw[8];
	unsigned nro, nrw;
};

static int collect_segs(struct dl_phdr_info *info, size_t size, void *arg)
{
	struct segs *s = arg;
	uintptr_t pg = (uintptr_t)sysconf(_SC_PAGESIZE);

	(void)size;
	for (unsigned i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		uintptr_t lo = info->dlpi_addr + ph->p_vaddr, hi = lo + ph->p_memsz;

		if (ph->p_type != PT_LOAD)
			continue;
		if (ph->p_flags & PF_W) {
			if (s->nrw < 8)
				s->rw[s->nrw++] =
				    (struct seg){lo & ~(pg - 1), (hi + pg - 1) & ~(pg - 1)};
		} else if (s->nro < 8) {
			/* a page shared with a writable neighbour is trimmed off
			 * in exact_faults */
			s->ro[s->nro++] = (struct seg){lo & ~(pg - 1), (hi + pg - 1) & ~(pg - 1)};
		}
	}
	return 1; /* the first object is the program itself */
}

static void exact_faults(void)
{
	struct segs s = {0};
	struct uffdio_api api = {.api = UFFD_API, .features = UFFD_FEATURE_WP_ASYNC};
	const char *keep = getenv("LOFT_FAULT_AROUND");
	int fd;

	if (keep && strcmp(keep, "1") == 0)
		return;
	dl_iterate_phdr(collect_segs, &s);
	fd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK | UFFD_USER_MODE_ONLY);
	if (fd < 0)
		return;
	if (ioctl(fd, UFFDIO_API, &api) != 0 || !(api.features & UFFD_FEATURE_WP_ASYNC)) {
		close(fd);
		return;
	}
	for (unsigned i = 0; i < s.nro; i++) {
		struct seg r = s.ro[i];
		struct uffdio_register reg = {.mode = UFFDIO_REGISTER_MODE_WP};

		for (unsigned j = 0; j < s.nrw; j++) { /* never a writable page */
			if (s.rw[j].lo < r.hi && s.rw[j].lo >= r.lo)
				r.hi = s.rw[j].lo;
			if (s.rw[j].hi > r.lo && s.rw[j].hi <= r.hi)
				r.lo = s.rw[j].hi;
		}
		if (r.hi <= r.lo)
			continue;
		reg.range.start = r.lo;
		reg.range.len = r.hi - r.lo;
		if (ioctl(fd, UFFDIO_REGISTER, &reg) == 0)
			madvise((void *)r.lo, r.hi - r.lo, MADV_DONTNEED);
	}
}

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

	exact_faults();
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
