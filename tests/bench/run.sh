#!/bin/sh
# make bench: every benchmark, figures on stdout.
# Usage: run.sh BUILD_DIR
set -e
BUILD=${1:-build}
export LOFT_BUILD="$(cd "$BUILD" && pwd)"
echo "== machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo), $(uname -m)"
for b in "$BUILD"/bench/bench_*; do
	[ -x "$b" ] || continue
	echo "== $(basename "$b")"
	"$b" --seconds 5
done
for s in tests/bench/bench_*.py; do
	[ -f "$s" ] || continue
	echo "== $(basename "$s")"
	/usr/bin/python3 "$s" "$BUILD"
done
