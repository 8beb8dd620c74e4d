#!/bin/sh
# make run: a data directory in ./var, then loftd --dev in the foreground.
# Ctrl-C (SIGINT) makes loftd stop every daemon cleanly.
set -e
BUILD=${1:-build}
VAR=${LOFT_VAR:-./var}
if [ ! -f "$VAR/loft.db" ]; then
	"$BUILD/loftctl" -d "$VAR" init
	echo "Add a domain and a user, for example:"
	echo "  $BUILD/loftctl -d $VAR domain add example.org"
	echo "  echo password | $BUILD/loftctl -d $VAR user add you@example.org"
fi
exec "$BUILD/loftd" -d "$VAR" --dev
