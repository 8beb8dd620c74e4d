/* lib/core/pages: the program's own read-only pages dropped and faulted
 * in exactly (issue 14).  What must hold: written data survives a drop
 * (only read-only segments are dropped), the code runs on after it, the
 * mapping of the code shrinks, and with exact faults on (Linux 6.7) a
 * touched page maps that page only. */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "pages.h"
#include "tap.h"

static int counter = 7; /* .data: written below, must survive */
/* .rodata, 64 pages: fault-around maps 16 of them for one read */
static const char table[64 * 4096] __attribute__((aligned(4096))) = {1, 2, 3, [8000] = 9};

/* How many of the n pages from addr (page-aligned) are present, from
 * /proc/self/pagemap (bit 63; readable without privileges); -1 on error. */
static int present(const void *addr, int n)
{
	uint64_t e[64];
	int fd = open("/proc/self/pagemap", O_RDONLY), k = 0;

	if (fd < 0 || n > 64 ||
	    pread(fd, e, (size_t)n * 8, (off_t)((uintptr_t)addr / 4096 * 8)) != (ssize_t)n * 8) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	close(fd);
	for (int i = 0; i < n; i++)
		k += (int)(e[i] >> 63);
	return k;
}

/* Reads one byte of every page of the mapping that holds addr, so all of
 * it is present. */
static void touch_mapping(const void *addr)
{
	char line[512];
	FILE *f = fopen("/proc/self/maps", "r");
	unsigned long lo = 0, hi = 0;

	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		unsigned long a, b;

		if (sscanf(line, "%lx-%lx", &a, &b) == 2 && (uintptr_t)addr >= a &&
		    (uintptr_t)addr < b) {
			lo = a;
			hi = b;
		}
	}
	fclose(f);
	for (unsigned long p = lo; p < hi; p += 4096)
		(void)*(volatile const char *)p;
}

/* a read the compiler cannot fold (the table's contents are known) */
static char rd(const char *p)
{
	return *(volatile const char *)p;
}

/* Touches 128 KiB of stack below the caller. */
static __attribute__((noinline)) int deep(int v)
{
	volatile char big[128 * 1024];

	for (size_t i = 0; i < sizeof(big); i += 4096)
		big[i] = (char)v;
	return big[4096];
}

/* KiB present (Rss) in the mapping that holds addr; -1 if none. */
static long rss_kb(const void *addr)
{
	char line[512];
	FILE *f = fopen("/proc/self/smaps", "r");
	long rss = -1;
	int in = 0;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		unsigned long lo, hi;
		char c;

		if (sscanf(line, "%lx-%lx %c", &lo, &hi, &c) == 3 && (c == 'r' || c == '-'))
			in = (uintptr_t)addr >= lo && (uintptr_t)addr < hi;
		else if (in && strncmp(line, "Rss:", 4) == 0) {
			rss = atol(line + 4);
			in = 0;
		}
	}
	fclose(f);
	return rss;
}

static int code_marker(int x)
{
	return x * 3 + 1;
}

static int kernel_wp_async(void)
{
	struct utsname u;
	int maj = 0, min = 0;
	long fd;

	if (uname(&u) != 0 || sscanf(u.release, "%d.%d", &maj, &min) != 2)
		return 0;
	if (maj < 6 || (maj == 6 && min < 7))
		return 0;
	/* a sandbox may refuse userfaultfd (seccomp, sysctl): then off */
	fd = syscall(SYS_userfaultfd, 1 /* UFFD_USER_MODE_ONLY */);
	if (fd < 0)
		return 0;
	close((int)fd);
	return 1;
}

int main(void)
{
	const void *code = (const void *)(uintptr_t)code_marker;
	int before, after;
	int *heap = malloc(sizeof(*heap));
	int expect;

	*heap = 99;
	counter = 42;
	touch_mapping(code);
	touch_mapping(table);
	before = present(table, 64);
	pages_drop_code();
	after = present(table, 64);
	ok(counter == 42, "drop: a written .data variable keeps its value");
	ok(*heap == 99, "drop: the heap keeps its value");
	/* the code reading pagemap may map a neighbour's 64 KiB again by
	 * fault-around: at most 16 pages at either end of the table */
	ok(before == 64 && after >= 0 && after <= 32, "drop: the read-only pages unmapped");
	ok(rd(&table[0]) == 1 && rd(&table[2]) == 3 && rd(&table[8000]) == 9,
	   "drop: read-only data reads again");
	ok(code_marker(4) == 13, "drop: the code runs on");
	printf("# %d of 64 pages of rodata present before the drop, %d after\n", before, after);

	{
		int here = deep(5);
		long st0 = rss_kb(&here), st1;

		pages_drop_stack();
		st1 = rss_kb(&here);
		ok(here == 5 && st0 >= 128 && st1 >= 0 && st1 <= st0 - 64,
		   "stack: the dead part below the frame dropped");
		printf("# main stack %ld KiB present before, %ld after\n", st0, st1);
		ok(deep(7) == 7 && rss_kb(&here) >= 128, "stack: grows back, zeroed pages");
	}

	setenv("LOFT_FAULT_AROUND", "1", 1);
	is_int(pages_exact_faults(), 0, "exact faults: LOFT_FAULT_AROUND=1 keeps the default");
	unsetenv("LOFT_FAULT_AROUND");
	expect = kernel_wp_async();
	if (!expect)
		printf("# machine: no userfaultfd write-protect (Linux 6.7) here: exact faults "
		       "stay off\n");
	is_int(pages_exact_faults(), expect, "exact faults: on where the kernel has them");
	ok(counter == 42 && *heap == 99, "exact faults: data kept");
	ok(code_marker(5) == 16 && rd(&table[2]) == 3, "exact faults: code and rodata work");
	if (expect) {
		/* dropped, then only what is read is mapped: one page of the
		 * table, where fault-around maps 16 */
		int n;

		pages_drop_code();
		n = rd(&table[8000]) == 9 ? present(table, 64) : -1;
		ok(n == 1 && present(table + 4096, 1) == 1,
		   "exact faults: only the page read is mapped");
		printf("# %d of 64 pages of rodata present with exact faults after one read\n", n);
		touch_mapping(table);
		is_int(present(table, 64), 64, "exact faults: every page read is mapped");
	}
	free(heap);
	return tap_done();
}
