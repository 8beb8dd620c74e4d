#include "procstatus.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "strnum.h"

/* Field text must not break the line format. */
static void clean(char *dst, size_t dstlen, const char *src)
{
	size_t i = 0;

	for (; src[i] && i + 1 < dstlen; i++)
		dst[i] = (src[i] == '\t' || src[i] == '\n' || (unsigned char)src[i] < 0x20)
			     ? ' '
			     : src[i];
	dst[i] = '\0';
}

int procstatus_write(const char *path, const struct procstatus *rows, size_t n)
{
	char tmp[4200];
	struct buf b;
	int fd, saved;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	buf_init(&b, 64 * 1024);
	for (size_t i = 0; i < n; i++) {
		char name[PROCSTATUS_NAME_MAX], state[PROCSTATUS_TEXT_MAX],
		    last[PROCSTATUS_TEXT_MAX];
		clean(name, sizeof(name), rows[i].name);
		clean(state, sizeof(state), rows[i].state);
		clean(last, sizeof(last), rows[i].last_exit);
		if (buf_printf(&b, "%s\t%ld\t%lld\t%u\t%s\t%s\t%lld\n", name, rows[i].pid,
			       (long long)rows[i].started, rows[i].restarts, state, last,
			       (long long)rows[i].last_exit_at) < 0) {
			buf_free(&b);
			errno = ENOSPC;
			return -1;
		}
	}
	/* O_EXCL|O_NOFOLLOW: never write through something planted there */
	unlink(tmp);
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (fd < 0) {
		buf_free(&b);
		return -1;
	}
	if (write(fd, b.data ? b.data : "", b.len) != (ssize_t)b.len || close(fd) < 0 ||
	    rename(tmp, path) < 0) {
		saved = errno;
		unlink(tmp);
		buf_free(&b);
		errno = saved;
		return -1;
	}
	buf_free(&b);
	return 0;
}

static int field_i64(const char *s, size_t len, int64_t *out)
{
	uint64_t v;

	if (strnum_u64n(s, len, INT64_MAX, &v) < 0)
		return -1;
	*out = (int64_t)v;
	return 0;
}

int procstatus_read(const char *path, struct procstatus *rows, size_t max)
{
	char text[16384];
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t len;
	size_t n = 0, pos = 0;

	if (fd < 0)
		return -1;
	len = read(fd, text, sizeof(text) - 1);
	close(fd);
	if (len < 0)
		return -1;
	while (pos < (size_t)len && n < max) {
		const char *line = text + pos;
		const char *nl = memchr(line, '\n', (size_t)len - pos);
		const char *f[7];
		size_t fl[7], nf = 0, off = 0, ll;
		int64_t v;

		if (!nl)
			break;
		ll = (size_t)(nl - line);
		pos += ll + 1;
		while (nf < 7) {
			const char *tab = memchr(line + off, '\t', ll - off);
			size_t end = tab ? (size_t)(tab - line) : ll;
			f[nf] = line + off;
			fl[nf++] = end - off;
			if (!tab)
				break;
			off = end + 1;
		}
		struct procstatus *r = &rows[n];
		memset(r, 0, sizeof(*r));
		if (nf != 7 || fl[0] >= sizeof(r->name) || fl[4] >= sizeof(r->state) ||
		    fl[5] >= sizeof(r->last_exit)) {
			errno = EINVAL;
			return -1;
		}
		memcpy(r->name, f[0], fl[0]);
		memcpy(r->state, f[4], fl[4]);
		memcpy(r->last_exit, f[5], fl[5]);
		if (field_i64(f[1], fl[1], &v) < 0 || v > 0x7fffffff) {
			errno = EINVAL;
			return -1;
		}
		r->pid = (long)v;
		if (field_i64(f[2], fl[2], &r->started) < 0 || field_i64(f[3], fl[3], &v) < 0 ||
		    v > 0xffffffff || field_i64(f[6], fl[6], &r->last_exit_at) < 0) {
			errno = EINVAL;
			return -1;
		}
		r->restarts = (unsigned)v;
		n++;
	}
	return (int)n;
}
