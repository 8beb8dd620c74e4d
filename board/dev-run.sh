#!/bin/sh
# make run: a data directory in ./var, then loftd --dev in the foreground.
# Ctrl-C (SIGINT) makes loftd stop every daemon cleanly.
#
# As root, loftd runs the daemons as the unprivileged loft user, which
# must be able to reach the data directory.  A checkout where it cannot
# (under /root, or a 0700 home) keeps its data in /var/lib/loft-dev/ID
# instead, with ./var a symlink to it.
set -e
BUILD=${1:-build}
VAR=${LOFT_VAR:-./var}
if [ "$(id -u)" -eq 0 ] && [ ! -e "$VAR" ] &&
	! setpriv --reuid=nobody --regid=nogroup --clear-groups test -x "$(pwd)" 2>/dev/null; then
	alt=/var/lib/loft-dev/$(pwd | cksum | cut -d' ' -f1)
	mkdir -p -m 0755 /var/lib/loft-dev
	mkdir -p "$alt"
	ln -s "$alt" "$VAR"
	echo "make run: unprivileged users cannot reach $(pwd): $VAR is a link to $alt"
fi
if [ ! -f "$VAR/loft.db" ]; then
	"$BUILD/loftctl" -d "$VAR" init
	echo "Open the setup wizard at the http address printed below, or add a domain and a user, for example:"
	echo "  $BUILD/loftctl -d $VAR domain add example.org"
	echo "  echo password | $BUILD/loftctl -d $VAR user add you@example.org"
fi
exec "$BUILD/loftd" -d "$VAR" --dev
