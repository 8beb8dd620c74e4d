#!/bin/sh
# make fresh-test: the README's commands on a freshly made Debian 12.
#
# Builds a throwaway minbase root with mmdebstrap (nothing a developer
# machine has by hand), copies the checkout in, and runs there, as root,
# exactly what the README tells a new user to type: the one-line
# bootstrap, "make run" (until its banner appears, an SMTP greeting is
# read on the MX port, then Ctrl-C), and "make test".  A package missing
# from board/deps.sh fails here instead of on someone's new machine.
#
# Needs root (chroot, mounts) and Debian's mirror (the commands install
# packages, as they would for the user).  The tests inside talk only to
# loopback.  Set FRESH_KEEP=1 to keep the root for a look afterwards.
#
# "fresh-test.sh image" (make fresh-image-test) runs, after the same
# bootstrap line, "make image-test" instead: the image pipeline must
# install what it needs on a machine that has only the README's line.
# The kernel's binfmt_misc handler for arm64 is the host's (the kernel is
# shared with the root); the root's qemu-user-static package brings its own.
set -eu
mode=${1:-test}

[ "$(id -u)" -eq 0 ] || { echo "fresh-test: needs root (chroot, mounts)" >&2; exit 2; }
top=$(cd "$(dirname "$0")/.." && pwd)
root=$(mktemp -d "${TMPDIR:-/tmp}/loft-fresh.XXXXXX")
log="$root.log"
t0=$(date +%s)
mounted=""

# Every process still running inside the root (a failed step may leave
# loftd behind): only those, found by their root directory.
kill_inside() {
	for d in /proc/[0-9]*; do
		[ "$(readlink "$d/root" 2>/dev/null)" = "$root" ] && kill -KILL "${d#/proc/}" 2>/dev/null
	done
	return 0
}

cleanup() {
	kill_inside
	sleep 1
	for m in $mounted; do umount -R "$root/$m" 2>/dev/null || umount -l "$root/$m" || true; done
	if [ "${FRESH_KEEP:-0}" = 1 ]; then
		echo "fresh-test: root kept in $root"
	else
		rm -rf --one-file-system "$root"
	fi
}
trap cleanup EXIT INT TERM

# the mirror this machine's apt uses, so the root gets what a user would
sources=/etc/apt/sources.list.d/debian.sources
[ -f "$sources" ] || sources=/etc/apt/sources.list
echo "fresh-test: mmdebstrap minbase bookworm into $root"
mmdebstrap --quiet --variant=minbase --mode=root bookworm "$root" "$sources" >"$log" 2>&1 ||
	{ tail -30 "$log"; exit 1; }
# the daemons' user must be able to enter the root's top directory
chmod 0755 "$root"
# the host's name must resolve inside as it does outside
cp /etc/hosts "$root/etc/hosts"
cp /etc/resolv.conf "$root/etc/resolv.conf" 2>/dev/null || true

echo "fresh-test: copying the checkout to /loft (no build outputs)"
mkdir "$root/loft"
(cd "$top" && git ls-files -z --cached --others --exclude-standard |
	tar --null -T - -cf -) | tar -C "$root/loft" -xf -

for m in proc sys dev; do
	mount --rbind "/$m" "$root/$m"
	mount --make-rslave "$root/$m"
	mounted="$m $mounted"
done

inside() {
	chroot "$root" /usr/bin/env -i HOME=/root TERM=dumb LANG=C.UTF-8 \
		PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
		/bin/sh -c "cd /loft && $1"
}

# The README's bootstrap line, then its two commands, as written.
bootstrap=$(sed -n 's/^    \(apt-get .*install.* make.*\)$/\1/p' "$top/README.md" | head -1)
[ -n "$bootstrap" ] || { echo "fresh-test: no bootstrap line in README.md" >&2; exit 1; }
echo "fresh-test: $bootstrap"
inside "$bootstrap" >>"$log" 2>&1 || { tail -30 "$log"; exit 1; }

if [ "$mode" = image ]; then
	echo "fresh-test: make image-test"
	rc=0
	inside 'make image-test' >"$root.image.log" 2>&1 || rc=$?
	tail -40 "$root.image.log"
	ls -l "$root/loft/build/loft-rpi-arm64.img.xz" 2>/dev/null || true
	echo "fresh-test: make image-test exit $rc; logs $root.log $root.image.log; total $(($(date +%s) - t0))s"
	exit $rc
fi

echo "fresh-test: make run"
# A background job of a script starts with SIGINT ignored; a terminal's
# Ctrl-C needs it at its default, so it is reset for make run.
chroot "$root" /usr/bin/env -i --default-signal=INT HOME=/root LANG=C.UTF-8 \
	PATH=/usr/sbin:/usr/bin:/sbin:/bin \
	setsid /bin/sh -c 'cd /loft && exec make run' >"$root.run.log" 2>&1 &
runpid=$!
ok=0
i=0
while [ $i -lt 1200 ]; do
	if grep -q "Ctrl-C stops every process" "$root.run.log"; then
		ok=1
		break
	fi
	kill -0 $runpid 2>/dev/null || break
	sleep 1
	i=$((i + 1))
done
greeting=""
if [ $ok = 1 ]; then
	# the MX port answers with a 220 greeting (after the early-talker delay)
	greeting=$(chroot "$root" /bin/bash -c \
		'exec 3<>/dev/tcp/127.0.0.1/2525 && timeout 10 head -c 3 <&3' || true)
fi
# Ctrl-C: SIGINT to make run's process group
kill -INT -"$runpid" 2>/dev/null || true
i=0
while kill -0 $runpid 2>/dev/null && [ $i -lt 30 ]; do sleep 1; i=$((i + 1)); done
if kill -0 $runpid 2>/dev/null; then
	echo "fresh-test: make run did not stop on Ctrl-C" >&2
	kill -KILL -"$runpid" 2>/dev/null || true
	kill_inside
	ok=0
fi
if [ $ok != 1 ] || [ "$greeting" != 220 ]; then
	echo "fresh-test: make run FAILED (greeting '$greeting')" >&2
	tail -40 "$root.run.log"
	exit 1
fi
echo "fresh-test: make run: banner, 220 on 127.0.0.1:2525, stopped by Ctrl-C ($(($(date +%s) - t0))s so far)"

echo "fresh-test: make test"
rc=0
inside 'make test' >"$root.test.log" 2>&1 || rc=$?
tail -3 "$root.test.log"
grep -E "FAILED|SANITIZER" "$root.test.log" | head -40 || true
echo "fresh-test: make test exit $rc; logs $root.log $root.run.log $root.test.log; total $(($(date +%s) - t0))s"
exit $rc
