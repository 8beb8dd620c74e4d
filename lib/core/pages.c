/*
 * The program's own read-only pages: exact faults, dropped mappings
 * (pages.h; issue 14).
 */
#include "pages.h"

#include <fcntl.h>
#include <link.h>
#include <linux/userfaultfd.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef UFFD_FEATURE_WP_ASYNC /* Linux 6.7; Debian 12's headers are 6.1 */
#define UFFD_FEATURE_WP_ASYNC (1 << 15)
#endif

#define SEGS_MAX 8

struct seg {
	uintptr_t lo, hi;
};

struct segs {
	struct seg ro[SEGS_MAX], rw[SEGS_MAX];
	unsigned nro, nrw;
};

static int collect(struct dl_phdr_info *info, size_t size, void *arg)
{
	struct segs *s = arg;
	uintptr_t pg = (uintptr_t)sysconf(_SC_PAGESIZE);

	(void)size;
	for (unsigned i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		uintptr_t lo = info->dlpi_addr + ph->p_vaddr, hi = lo + ph->p_memsz;
		struct seg r = {lo & ~(pg - 1), (hi + pg - 1) & ~(pg - 1)};

		if (ph->p_type != PT_LOAD)
			continue;
		if (ph->p_flags & PF_W) {
			if (s->nrw < SEGS_MAX)
				s->rw[s->nrw++] = r;
		} else if (s->nro < SEGS_MAX) {
			s->ro[s->nro++] = r;
		}
	}
	return 1; /* the first object is the program itself */
}

/* The read-only segments in whole pages, none sharing a page with a
 * writable one (that page could hold written data: never dropped). */
static void segments(struct segs *s)
{
	memset(s, 0, sizeof(*s));
	dl_iterate_phdr(collect, s);
	for (unsigned i = 0; i < s->nro; i++) {
		struct seg *r = &s->ro[i];

		for (unsigned j = 0; j < s->nrw; j++) {
			if (s->rw[j].lo < r->hi && s->rw[j].lo >= r->lo)
				r->hi = s->rw[j].lo;
			if (s->rw[j].hi > r->lo && s->rw[j].hi <= r->hi)
				r->lo = s->rw[j].hi;
		}
		if (r->hi < r->lo)
			r->hi = r->lo;
	}
}

void pages_drop_code(void)
{
	struct segs s;

	segments(&s);
	for (unsigned i = 0; i < s.nro; i++)
		if (s.ro[i].hi > s.ro[i].lo)
			madvise((void *)s.ro[i].lo, s.ro[i].hi - s.ro[i].lo, MADV_DONTNEED);
}

/* The bounds of the [stack] mapping from /proc/self/maps, read without
 * stdio (its scanf would be code the idle path maps for this alone).
 * Returns 0 when found. */
static int stack_bounds(uintptr_t *lo, uintptr_t *hi)
{
	char buf[4096], line[256];
	size_t ll = 0;
	ssize_t n;
	int fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC), found = -1;

	if (fd < 0)
		return -1;
	while (found < 0 && (n = read(fd, buf, sizeof(buf))) > 0) {
		for (ssize_t i = 0; i < n && found < 0; i++) {
			if (buf[i] != '\n') {
				if (ll < sizeof(line) - 1)
					line[ll++] = buf[i];
				continue;
			}
			line[ll] = '\0';
			ll = 0;
			if (!strstr(line, "[stack]"))
				continue;
			char *end;
			*lo = (uintptr_t)strtoull(line, &end, 16);
			if (*end == '-') {
				*hi = (uintptr_t)strtoull(end + 1, NULL, 16);
				found = 0;
			}
		}
	}
	close(fd);
	return found;
}

void pages_drop_stack(void)
{
	volatile char here = 0; /* in this frame, just below the caller's */
	uintptr_t pg = (uintptr_t)sysconf(_SC_PAGESIZE), sp = (uintptr_t)&here, lo, hi;

	(void)here;
	if (getpid() != (pid_t)syscall(SYS_gettid) || stack_bounds(&lo, &hi) != 0)
		return;
	if (!(lo < sp && sp < hi) || sp - lo < 2 * 16384)
		return;
	sp = (sp - 16384) & ~(pg - 1);
	madvise((void *)lo, sp - lo, MADV_DONTNEED);
}

int pages_exact_faults(void)
{
	struct uffdio_api api = {.api = UFFD_API, .features = UFFD_FEATURE_WP_ASYNC};
	const char *keep = getenv("LOFT_FAULT_AROUND");
	struct segs s;
	int fd, on = 0;

	if (keep && strcmp(keep, "1") == 0)
		return 0;
	fd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK | UFFD_USER_MODE_ONLY);
	if (fd < 0)
		return 0;
	if (ioctl(fd, UFFDIO_API, &api) != 0 || !(api.features & UFFD_FEATURE_WP_ASYNC)) {
		close(fd);
		return 0;
	}
	segments(&s);
	for (unsigned i = 0; i < s.nro; i++) {
		struct uffdio_register reg = {.mode = UFFDIO_REGISTER_MODE_WP};

		if (s.ro[i].hi <= s.ro[i].lo)
			continue;
		reg.range.start = s.ro[i].lo;
		reg.range.len = s.ro[i].hi - s.ro[i].lo;
		if (ioctl(fd, UFFDIO_REGISTER, &reg) == 0)
			on = 1;
	}
	if (!on) {
		close(fd);
		return 0;
	}
	pages_drop_code();
	return 1;
}
