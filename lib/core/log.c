#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

static const char *log_prog = "loft";
static int log_level = LOG_LVL_INFO;
static int log_journal;
/* loftd's pipe for its ring of recent lines (board/logring.c), or -1 */
static int log_ring_fd = -1;

static const char *const level_names[] = {"err", "warn", "info", "debug"};
/* syslog priorities for the journald prefix */
static const int level_prio[] = {3, 4, 6, 7};

void log_init(const char *prog, int level)
{
	const char *slash = strrchr(prog, '/');

	log_prog = slash ? slash + 1 : prog;
	log_level = level;
	log_journal = getenv("JOURNAL_STREAM") != NULL;
	/* LOFT_LOG_FD: loftd keeps the recent lines of level info and up for
	 * the admin's Log page.  Non-blocking: a busy loftd costs a daemon a
	 * line in that copy, never a wait; close-on-exec: not for helpers. */
	const char *e = getenv("LOFT_LOG_FD");
	char *end;
	long fd = e ? strtol(e, &end, 10) : -1;
	log_ring_fd = -1;
	if (e && *end == '\0' && fd > 2 && fd < 1024 && fcntl((int)fd, F_GETFD) >= 0) {
		log_ring_fd = (int)fd;
		fcntl(log_ring_fd, F_SETFD, FD_CLOEXEC);
		fcntl(log_ring_fd, F_SETFL, O_NONBLOCK);
	}
	unsetenv("LOFT_LOG_FD");
}

void log_set_level(int level)
{
	log_level = level;
}

int log_get_level(void)
{
	return log_level;
}

int log_level_parse(const char *name)
{
	for (int i = 0; i < 4; i++)
		if (strcmp(name, level_names[i]) == 0)
			return i;
	return -1;
}

void log_vmsg(int level, const char *sid, const char *fmt, va_list ap)
{
	char line[2048];
	size_t off = 0;
	int n;

	if (level > log_level)
		return;
	if (level < 0)
		level = 0;
	if (level > LOG_LVL_DEBUG)
		level = LOG_LVL_DEBUG;
	if (log_journal) {
		n = snprintf(line, sizeof(line), "<%d>", level_prio[level]);
	} else {
		struct timespec ts;
		struct tm tm;

		clock_gettime(CLOCK_REALTIME, &ts);
		gmtime_r(&ts.tv_sec, &tm);
		n = snprintf(line, sizeof(line), "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ ",
			     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
			     tm.tm_sec, ts.tv_nsec / 1000000);
	}
	off = n > 0 ? (size_t)n : 0;
	n = snprintf(line + off, sizeof(line) - off, "%s[%ld]: level=%s ", log_prog, (long)getpid(),
		     level_names[level]);
	if (n > 0)
		off += (size_t)n;
	if (sid && off < sizeof(line)) {
		n = snprintf(line + off, sizeof(line) - off, "sid=%s ", sid);
		if (n > 0)
			off += (size_t)n;
	}
	if (off < sizeof(line)) {
		n = vsnprintf(line + off, sizeof(line) - off, fmt, ap);
		if (n > 0)
			off += (size_t)n;
	}
	if (off >= sizeof(line) - 1) {
		/* cut lines are marked so a reader knows */
		off = sizeof(line) - 5;
		memcpy(line + off, "...", 3);
		off += 3;
	}
	line[off++] = '\n';
	/* one write per line keeps lines whole when processes share stderr */
	ssize_t w;
	do
		w = write(STDERR_FILENO, line, off);
	while (w < 0 && errno == EINTR);
	/* the same line for loftd's ring; a pipe write under PIPE_BUF is
	 * whole or not at all */
	if (log_ring_fd >= 0 && level <= LOG_LVL_INFO) {
		do
			w = write(log_ring_fd, line, off);
		while (w < 0 && errno == EINTR);
	}
}

void log_msg(int level, const char *sid, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vmsg(level, sid, fmt, ap);
	va_end(ap);
}

void fatal(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vmsg(LOG_LVL_ERR, NULL, fmt, ap);
	va_end(ap);
	exit(1);
}

void bug(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vmsg(LOG_LVL_ERR, NULL, fmt, ap);
	va_end(ap);
	abort();
}

char *log_quote(char *out, size_t outlen, const char *s, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	size_t o = 0;
	int quote = len == 0;

	if (outlen == 0)
		return out;
	for (size_t i = 0; i < len && !quote; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == ' ' || c == '"' || c == '=' || c < 0x20 || c >= 0x7f)
			quote = 1;
	}
	if (quote && o + 1 < outlen)
		out[o++] = '"';
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c < 0x20 || c >= 0x7f || c == '"' || c == '\\') {
			if (o + 5 >= outlen)
				break;
			out[o++] = '\\';
			out[o++] = 'x';
			out[o++] = hex[c >> 4];
			out[o++] = hex[c & 15];
		} else {
			if (o + 2 >= outlen)
				break;
			out[o++] = (char)c;
		}
	}
	if (quote && o + 1 < outlen)
		out[o++] = '"';
	out[o] = '\0';
	return out;
}

void log_new_sid(char *out, size_t outlen)
{
	static const char alpha[] = "0123456789abcdefghijklmnopqrstuvwxyz";
	unsigned char rnd[12];
	size_t n = outlen - 1 < sizeof(rnd) ? outlen - 1 : sizeof(rnd);

	if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
		bug("getrandom failed");
	for (size_t i = 0; i < n; i++)
		out[i] = alpha[rnd[i] % 36];
	out[n] = '\0';
}
