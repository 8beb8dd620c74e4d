/* lib/core/proc.c: the passwd(5) reader that replaces getpwnam (static
 * build: no NSS at run time). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "proc.h"
#include "tap.h"

static char path[] = "/tmp/loft-test-passwd-XXXXXX";

static void file(const char *text, size_t len)
{
	FILE *f = fopen(path, "w");
	if (!f || fwrite(text, 1, len, f) != len || fclose(f) != 0)
		exit(2);
}

#define FILE_TEXT(s) file(s, sizeof(s) - 1)

static int look(const char *name, struct proc_user *u)
{
	memset(u, 0, sizeof(*u));
	return proc_user_lookup_file(path, name, u);
}

int main(void)
{
	struct proc_user u;
	int fd = mkstemp(path);

	if (fd < 0)
		return 2;
	close(fd);
	FILE_TEXT("root:x:0:0:root:/root:/bin/bash\n"
		  "lofty:x:1001:1001::/home/lofty:/bin/sh\n"
		  "loft:x:998:997:Loft:/nonexistent:/usr/sbin/nologin\n"
		  "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin");
	is_int(look("loft", &u), 0, "loft found");
	is_int(u.uid, 998, "its uid");
	is_int(u.gid, 997, "its gid");
	is_str(u.name, "loft", "its name");
	is_int(look("lofty", &u), 0, "a longer name is another user");
	is_int(u.uid, 1001, "lofty's uid");
	is_int(look("nobody", &u), 0, "last line without newline");
	is_int(u.uid, 65534, "nobody's uid");
	is_int(look("root", &u), 0, "first line");
	is_int(u.uid, 0, "root is 0");
	is_int(look("lof", &u), -1, "a prefix is no match");
	is_int(look("", &u), -1, "empty name");
	is_int(look("loft:x", &u), -1, "a name with a colon");

	/* malformed lines are skipped, a later good one is found */
	FILE_TEXT("loft:x:abc:1\n"
		  "loft:x:-1:1::/:\n"
		  "loft:x:4294967295:1::/:\n"
		  "loft:x:99999999999:1::/:\n"
		  "loft:x:5\n"
		  "loft\n"
		  "\n"
		  "loft:x:77:78::/:/bin/false\n");
	is_int(look("loft", &u), 0, "bad lines skipped");
	is_int(u.uid, 77, "the good line's uid");
	is_int(u.gid, 78, "the good line's gid");

	/* a line longer than the reader's 4096-byte buffer is skipped whole,
	 * also when the part of it read last looks like an entry */
	{
		size_t n = 10000;
		char *big = malloc(n + 64);
		memset(big, 'a', n);
		strcpy(big + n, "\nloft:x:1:2::/:\n");
		file(big, strlen(big));
		is_int(look("loft", &u), 0, "after an over-long line");
		is_int(u.uid, 1, "its entry read");
		memcpy(big + 8192, "loft:x:5:5::/:", 14);
		file(big, strlen(big));
		is_int(look("loft", &u), 0, "over-long line's tail not taken for an entry");
		is_int(u.uid, 1, "the real entry");
		free(big);
	}
	FILE_TEXT("");
	is_int(look("loft", &u), -1, "empty file");
	unlink(path);
	is_int(look("loft", &u), -1, "no file");
	return tap_done();
}
