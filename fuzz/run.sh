#!/usr/bin/env bash
# Runs every fuzz target in the module for a bounded time each.
# Usage: fuzz/run.sh [seconds-per-target]   (default 10)
# go test accepts one -fuzz target per run, hence the loop.
set -euo pipefail
cd "$(dirname "$0")/.."
secs="${1:-10}"
status=0
for pkg in $(go list ./...); do
	for target in $(go test -list '^Fuzz' "$pkg" 2>/dev/null | grep '^Fuzz' || true); do
		echo "fuzz: $pkg $target (${secs}s)"
		if ! go test -run '^$' -fuzz "^${target}\$" -fuzztime "${secs}s" "$pkg" >/tmp/eddy-fuzz.log 2>&1; then
			cat /tmp/eddy-fuzz.log
			echo "fuzz: $pkg $target FAILED"
			status=1
		fi
	done
done
exit $status
