/* lib/procstatus: loftd's status file round-trips and refuses damage. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "procstatus.h"
#include "tap.h"

int main(void)
{
	char dir[] = "/tmp/loft-test-status-XXXXXX", path[300];
	struct procstatus in[2], out[4];

	snprintf(path, sizeof(path), "%s/status", mkdtemp(dir));
	memset(in, 0, sizeof(in));
	snprintf(in[0].name, sizeof(in[0].name), "loft-smtpd");
	in[0].pid = 1234;
	in[0].started = 1700000000;
	in[0].restarts = 3;
	snprintf(in[0].state, sizeof(in[0].state), "running");
	snprintf(in[0].last_exit, sizeof(in[0].last_exit), "signal:KILL (core\tdumped)");
	in[0].last_exit_at = 1700000100;
	snprintf(in[1].name, sizeof(in[1].name), "loftd");
	snprintf(in[1].state, sizeof(in[1].state), "stopped");

	is_int(procstatus_read(path, out, 4), -1, "missing file");
	ok(errno == ENOENT, "missing file is ENOENT");
	is_int(procstatus_write(path, in, 2), 0, "write");
	is_int(procstatus_read(path, out, 4), 2, "read back two rows");
	ok(strcmp(out[0].name, "loft-smtpd") == 0 && out[0].pid == 1234 &&
	       out[0].started == 1700000000 && out[0].restarts == 3 &&
	       strcmp(out[0].state, "running") == 0 && out[0].last_exit_at == 1700000100,
	   "fields survive");
	ok(strcmp(out[0].last_exit, "signal:KILL (core dumped)") == 0,
	   "a tab in a field cannot break the format");
	ok(strcmp(out[1].name, "loftd") == 0 && out[1].pid == 0 && out[1].last_exit[0] == '\0',
	   "empty fields");
	is_int(procstatus_read(path, out, 1), 1, "max rows respected");

	static const char *const bad[] = {"a\t1\t2\t3\trunning\t\n", "a\t-1\t2\t3\tx\t\t0\n",
					  "a\t1\t2\t99999999999\tx\t\t0\n",
					  "a\t1\tnope\t3\tx\t\t0\n"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		FILE *f = fopen(path, "w");
		fputs(bad[i], f);
		fclose(f);
		ok(procstatus_read(path, out, 4) == -1 && errno == EINVAL,
		   "malformed line refused");
	}
	/* a symlink planted at the temporary name is not written through */
	char tmp[320], victim[320];
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	snprintf(victim, sizeof(victim), "%s/victim", dir);
	FILE *f = fopen(victim, "w");
	fputs("keep\n", f);
	fclose(f);
	if (symlink(victim, tmp) == 0) {
		is_int(procstatus_write(path, in, 2), 0, "write with a planted symlink");
		char buf[16] = "";
		f = fopen(victim, "r");
		if (fgets(buf, sizeof(buf), f) == NULL)
			buf[0] = '\0';
		fclose(f);
		ok(strcmp(buf, "keep\n") == 0, "the symlink's target is untouched");
	}
	unlink(victim);
	unlink(path);
	unlink(tmp);
	rmdir(dir);
	return tap_done();
}
