#!/bin/sh
# Runs every built libFuzzer target for a while on its seed corpus.
# Usage: run.sh BUILD_DIR SECONDS
set -e
BUILD=${1:-build-fuzz}
SECS=${2:-20}
fail=0
for bin in "$BUILD"/fuzz/fuzz_*; do
	[ -x "$bin" ] || continue
	name=$(basename "$bin")
	work="$BUILD/corpus/$name"
	mkdir -p "$work"
	seeds="tests/fuzz/corpus/$name"
	[ -d "$seeds" ] || seeds=""
	echo "fuzz: $name for ${SECS}s"
	if ! "$bin" -max_total_time="$SECS" -max_len=65536 -rss_limit_mb=1024 \
		-artifact_prefix="$BUILD/crash-$name-" "$work" $seeds >"$BUILD/$name.log" 2>&1; then
		echo "fuzz: $name FAILED, see $BUILD/$name.log"
		tail -40 "$BUILD/$name.log"
		fail=1
	else
		grep -E "^#[0-9]+.*DONE|Done [0-9]+ runs" "$BUILD/$name.log" | tail -1
	fi
done
exit $fail
