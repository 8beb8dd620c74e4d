#!/bin/sh
# After make cross: runs the aarch64 loftctl under qemu-user against a
# fresh data directory (migrations, yescrypt, SQLite), so a cross build
# that links but cannot run is caught here rather than on the board.
#
# The binaries run on the arm64 multiarch runtime that deps.sh installs
# (libc6:arm64 beside the -dev:arm64 packages): its loader
# /lib/ld-linux-aarch64.so.1 and its libc come from one glibc build.  With
# "-L /usr/aarch64-linux-gnu" qemu took the cross toolchain's loader
# (libc6-arm64-cross) but ld.so.cache then found the multiarch libc, a
# different build of glibc 2.36; with the two mixed, every forked child
# spun for ever (the password hash runs in one).
set -e
B=${1:-build-aarch64}
Q="qemu-aarch64"
D=$(mktemp -d)
trap 'rm -rf "$D"' EXIT
$Q "$B/loftctl" -d "$D/data" init >/dev/null
$Q "$B/loftctl" -d "$D/data" domain add example.org
echo 'cross smoke password' | $Q "$B/loftctl" -d "$D/data" user add a@example.org
test "$($Q "$B/loftctl" -d "$D/data" user list)" = "a@example.org"
echo "cross: aarch64 loftctl ran under qemu-user: ok"
