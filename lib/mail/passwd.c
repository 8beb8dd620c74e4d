/*
 * Password hashing through libcrypt (libxcrypt): yescrypt with a salt that
 * libcrypt draws from the kernel's random source.  A hash is verified by
 * hashing the candidate with the stored setting and comparing the whole
 * output in constant time.
 *
 * yescrypt is memory-hard: one hash maps 16 MiB at libcrypt's default
 * cost.  Done inside a daemon, that would be the daemon's peak RSS for the
 * rest of its life and the most memory any client can make it touch; so
 * every hash runs in a short-lived child process (fork, hash, write the
 * result to a pipe, _exit), and the 16 MiB live and die there.  This is
 * Dovecot's reason for a separate auth process, without one more daemon
 * to supervise.  The child is forked from whatever thread asks (authcheck
 * workers), so it calls nothing but libcrypt, which allocates with mmap.
 */
#include <crypt.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "passwd.h"
#include "proc.h"

static _Thread_local long last_child_kib;

long passwd_last_child_kib(void)
{
	return last_child_kib;
}

static int passwd_ok(const char *password)
{
	size_t n;

	if (!password)
		return 0;
	n = strnlen(password, PASSWD_MAX + 1);
	return n > 0 && n <= PASSWD_MAX;
}

static void child_hash(int wfd, const char *password, const char *setting, struct crypt_data *cd)
{
	/* Another thread's pipe may have been open at fork time: holding its
	 * write end would delay that thread's end of file until this child
	 * exits; and the child has no business with sockets or the database. */
	if (wfd > 3)
		close_range(3, (unsigned)wfd - 1, 0);
	proc_close_from(wfd + 1);
	if (crypt_rn(password, setting, cd, (int)sizeof(*cd)) && cd->output[0] == '$') {
		size_t n = strnlen(cd->output, sizeof(cd->output)), off = 0;

		while (off < n) {
			ssize_t w = write(wfd, cd->output + off, n - off);
			if (w < 0 && errno == EINTR)
				continue;
			if (w <= 0)
				_exit(2);
			off += (size_t)w;
		}
		_exit(0);
	}
	_exit(1);
}

/* Runs crypt_rn(password, setting) in a child process; the output
 * (NUL-terminated) goes to cd->output.  Returns 1 with an output, 0 when
 * libcrypt refused the setting, -1 when no child could be run. */
static int isolated_crypt(const char *password, const char *setting, struct crypt_data *cd)
{
	int p[2], status = 0, rc;
	size_t got = 0;
	struct rusage ru;
	pid_t pid;

	last_child_kib = 0;
	if (pipe2(p, O_CLOEXEC) < 0)
		return -1;
	pid = fork();
	if (pid < 0) {
		close(p[0]);
		close(p[1]);
		return -1;
	}
	if (pid == 0) {
		close(p[0]);
		child_hash(p[1], password, setting, cd);
	}
	close(p[1]);
	for (;;) {
		ssize_t r = read(p[0], cd->output + got, sizeof(cd->output) - 1 - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0 || (got += (size_t)r) == sizeof(cd->output) - 1)
			break;
	}
	cd->output[got] = '\0';
	close(p[0]);
	while ((rc = wait4(pid, &status, 0, &ru)) < 0 && errno == EINTR)
		;
	if (rc == pid)
		last_child_kib = ru.ru_maxrss;
	/* ECHILD: SIGCHLD ignored somewhere, the kernel reaped it; the pipe
	 * still tells a whole answer from none. */
	if (rc < 0 && errno != ECHILD)
		return -1;
	if (rc == pid && !(WIFEXITED(status) && WEXITSTATUS(status) == 0))
		return WIFEXITED(status) && WEXITSTATUS(status) == 1 ? 0 : -1;
	return got > 0 && cd->output[0] == '$';
}

int passwd_hash(const char *password, char *out, size_t outlen)
{
	char setting[CRYPT_GENSALT_OUTPUT_SIZE];
	struct crypt_data *cd;
	size_t n;
	int rc = -1;

	if (!passwd_ok(password) || outlen == 0)
		return -1;
	/* NULL random bytes: libcrypt reads the OS random source itself;
	 * count 0: yescrypt's default cost. */
	if (!crypt_gensalt_rn("$y$", 0, NULL, 0, setting, (int)sizeof(setting)))
		return -1;
	/* struct crypt_data is large (32 KiB): keep it off the stack. */
	cd = calloc(1, sizeof(*cd));
	if (!cd)
		return -1;
	if (isolated_crypt(password, setting, cd) == 1) {
		n = strlen(cd->output);
		if (n < outlen) {
			memcpy(out, cd->output, n + 1);
			rc = 0;
		}
	}
	explicit_bzero(cd, sizeof(*cd));
	free(cd);
	return rc;
}

int passwd_verify(const char *password, const char *hash)
{
	struct crypt_data *cd;
	unsigned char diff = 0;
	size_t n;
	int rc = 0, r;

	if (!passwd_ok(password) || !hash || hash[0] != '$')
		return 0;
	cd = calloc(1, sizeof(*cd));
	if (!cd)
		return -1;
	r = isolated_crypt(password, hash, cd);
	if (r < 0)
		rc = -1;
	else if (r == 1) {
		n = strlen(hash);
		if (strlen(cd->output) == n) {
			for (size_t i = 0; i < n; i++)
				diff |= (unsigned char)(cd->output[i] ^ hash[i]);
			rc = diff == 0;
		}
	}
	explicit_bzero(cd, sizeof(*cd));
	free(cd);
	return rc;
}

_Static_assert(PASSWD_MAX < CRYPT_MAX_PASSPHRASE_SIZE, "libcrypt must accept PASSWD_MAX bytes");
