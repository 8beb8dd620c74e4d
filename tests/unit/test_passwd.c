/* Tests for lib/passwd.c: yescrypt hashing and verification, done in a
 * child process so the caller's memory stays small. */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "passwd.h"
#include "tap.h"

static long vmhwm_kib(void)
{
	char line[256];
	long v = -1;
	FILE *f = fopen("/proc/self/status", "r");

	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "VmHWM: %ld", &v) == 1)
			break;
	if (f)
		fclose(f);
	return v;
}

struct racer {
	const char *pw, *hash;
	int want, bad;
};

static void *race(void *arg)
{
	struct racer *r = arg;

	for (int i = 0; i < 3; i++)
		if (passwd_verify(r->pw, r->hash) != r->want)
			r->bad++;
	return NULL;
}

/* With SIGCHLD ignored the kernel reaps the child before waitpid; the
 * answer must still come through the pipe. */
static void sigchld_ignored(const char *hash)
{
	struct sigaction sa = {.sa_handler = SIG_IGN}, old;

	sigaction(SIGCHLD, &sa, &old);
	is_int(passwd_verify("correct horse", hash), 1, "SIGCHLD ignored: right password");
	is_int(passwd_verify("wrong horse", hash), 0, "SIGCHLD ignored: wrong password");
	sigaction(SIGCHLD, &old, NULL);
}

/* No process can be forked: a temporary failure (-1), never a "wrong
 * password" (0) nor a success.  RLIMIT_NPROC does not bind root, so the
 * check runs in a child that becomes nobody first. */
static void fork_refused(const char *hash)
{
	pid_t pid = fork();
	int status = 0;

	if (pid == 0) {
		struct rlimit rl = {0, 0};
		if (getuid() == 0 && (setgid(65534) < 0 || setuid(65534) < 0))
			_exit(10);
		if (setrlimit(RLIMIT_NPROC, &rl) < 0)
			_exit(11);
		_exit(passwd_verify("correct horse", hash) == -1 ? 0 : 12);
	}
	waitpid(pid, &status, 0);
	is_int(WIFEXITED(status) ? WEXITSTATUS(status) : 99, 0, "no fork possible: verify says -1");
}

int main(void)
{
	char h1[PASSWD_HASH_MAX], h2[PASSWD_HASH_MAX], small[16];
	char *longpw = malloc(PASSWD_MAX + 2);

	ok(longpw, "alloc");
	is_int(passwd_hash("correct horse", h1, sizeof(h1)), 0, "hash ok");
	ok(strncmp(h1, "$y$", 3) == 0, "yescrypt hash");
	ok(strstr(h1, "correct") == NULL, "password not in hash");
	is_int(passwd_hash("correct horse", h2, sizeof(h2)), 0, "hash again");
	ok(strcmp(h1, h2) != 0, "fresh salt each time");
	is_int(passwd_verify("correct horse", h1), 1, "right password");
	is_int(passwd_verify("correct horse", h2), 1, "right password, other salt");
	is_int(passwd_verify("correct horsf", h1), 0, "wrong password");
	is_int(passwd_verify("correct hors", h1), 0, "prefix of password");
	is_int(passwd_verify("Correct horse", h1), 0, "case matters");
	is_int(passwd_verify("", h1), 0, "empty password never verifies");
	is_int(passwd_verify(NULL, h1), 0, "NULL password");
	is_int(passwd_verify("correct horse", ""), 0, "empty hash");
	is_int(passwd_verify("correct horse", "*0"), 0, "failure token hash");
	is_int(passwd_verify("correct horse", "$y$garbage"), 0, "malformed hash");
	is_int(passwd_verify("correct horse", NULL), 0, "NULL hash");
	h2[strlen(h2) - 1] ^= 1;
	is_int(passwd_verify("correct horse", h2), 0, "tampered hash");
	is_int(passwd_hash("", h2, sizeof(h2)), -1, "empty password refused");
	is_int(passwd_hash(NULL, h2, sizeof(h2)), -1, "NULL password refused");
	is_int(passwd_hash("pw", small, sizeof(small)), -1, "small output buffer refused");

	memset(longpw, 'a', PASSWD_MAX);
	longpw[PASSWD_MAX] = '\0';
	is_int(passwd_hash(longpw, h2, sizeof(h2)), 0, "PASSWD_MAX bytes accepted");
	is_int(passwd_verify(longpw, h2), 1, "PASSWD_MAX bytes verifies");
	longpw[PASSWD_MAX] = 'a';
	longpw[PASSWD_MAX + 1] = '\0';
	is_int(passwd_hash(longpw, h1, sizeof(h1)), -1, "PASSWD_MAX+1 bytes refused");
	is_int(passwd_verify(longpw, h2), 0, "over-long never verifies");

	is_int(passwd_hash("p\xc3\xa4ss \xe2\x82\xac", h1, sizeof(h1)), 0, "UTF-8 password");
	is_int(passwd_verify("p\xc3\xa4ss \xe2\x82\xac", h1), 1, "UTF-8 verifies");

	/* yescrypt's 16 MiB never lands in this process */
	long before = vmhwm_kib();
	is_int(passwd_hash("correct horse", h1, sizeof(h1)), 0, "hash for the memory check");
	is_int(passwd_verify("correct horse", h1), 1, "verify for the memory check");
	long grown = vmhwm_kib() - before, child = passwd_last_child_kib();
	printf("# peak RSS grew %ld KiB over a hash and a verify\n", grown);
	ok(before > 0 && grown < 4096, "peak RSS grew < 4 MiB (a hash in-process is 16 MiB)");
	printf("# the hash's child peaked at %ld KiB\n", child);
	ok(child > 16 * 1024, "the child did the memory-hard work (peak over 16 MiB)");

	/* threads hashing at once each get their own answer (a pipe end
	 * inherited by another thread's child must not mix them up) */
	struct racer r[4] = {{"correct horse", h1, 1, 0},
			     {"wrong", h1, 0, 0},
			     {"correct horse", h1, 1, 0},
			     {"correct horsE", h1, 0, 0}};
	pthread_t t[4];
	for (int i = 0; i < 4; i++)
		pthread_create(&t[i], NULL, race, &r[i]);
	for (int i = 0; i < 4; i++) {
		pthread_join(t[i], NULL);
		is_int(r[i].bad, 0, "a thread of four: every answer right");
	}
	sigchld_ignored(h1);
	fork_refused(h1);
	free(longpw);
	return tap_done();
}
