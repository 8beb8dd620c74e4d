#ifndef LOFT_PAGES_H
#define LOFT_PAGES_H
/*
 * Which pages of the program's own file a process maps (issue 14).
 *
 * The static build is one file `loft` for every role, so the page cache
 * holds all of its code while any role runs, and the kernel's fault-around
 * (fault_around_bytes, 64 KiB) maps the 15 neighbours of every page a
 * process touches.  These two calls keep a process's mapping of that file
 * to what it uses.  Neither costs memory: the pages stay in the page cache
 * and are mapped again, from there, when touched.  Only the read-only
 * segments (code, rodata) are concerned; .data and the relocated pages
 * are never touched.
 */

/* Turns fault-around off for the program's read-only segments and drops
 * what was mapped so far, so the process maps exactly the pages it
 * touches.  Needs Linux 6.7 (userfaultfd write-protect mode with
 * UFFD_FEATURE_WP_ASYNC: the kernel skips fault-around on such ranges, and
 * with WP_ASYNC nothing is ever delivered to the descriptor; read-only
 * pages have no write faults anyway).  MADV_RANDOM would not do: it stops
 * read-ahead, not fault-around.  Returns 1 when on; 0 when the kernel,
 * qemu-user or a sandbox refuses, or LOFT_FAULT_AROUND=1 is in the
 * environment (the kernel's default on purpose, to measure).  The
 * descriptor stays open (closing it ends the registration), close-on-exec.
 * Call once, first thing in main. */
int pages_exact_faults(void);

/* Drops the process's mapping of the program's read-only segments
 * (MADV_DONTNEED: clean file pages, mapped again when touched): after
 * start-up, or when idle, what start-up or a past burst touched stops
 * counting in RSS. */
void pages_drop_code(void);

/* Drops the main thread's stack pages below the caller's frame (less a
 * 16 KiB margin): dead stack that start-up or a burst touched once (the
 * kernel gives zeroed pages again when the stack grows back).  Does
 * nothing on another thread. */
void pages_drop_stack(void);

#endif
