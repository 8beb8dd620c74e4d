#!/bin/sh
# After make cross: runs the aarch64 loftctl under qemu-user against a
# fresh data directory (migrations, yescrypt, SQLite), so a cross build
# that links but cannot run is caught here rather than on the board.
set -e
B=${1:-build-aarch64}
Q="qemu-aarch64 -L /usr/aarch64-linux-gnu"
D=$(mktemp -d)
trap 'rm -rf "$D"' EXIT
$Q "$B/loftctl" -d "$D/data" init >/dev/null
$Q "$B/loftctl" -d "$D/data" domain add example.org
echo 'cross smoke password' | $Q "$B/loftctl" -d "$D/data" user add a@example.org
test "$($Q "$B/loftctl" -d "$D/data" user list)" = "a@example.org"
echo "cross: aarch64 loftctl ran under qemu-user: ok"
