#!/usr/bin/env bash
# Every load scenario against an Eddy subprocess and the NATS baseline,
# 3 runs each; the medians and ratios go to bench/results/<date>-<scenario>.txt.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p bin bench/results
go build -o bin/eddy ./cmd/eddy
go build -o bin/eddy-bench ./cmd/eddy-bench
day=$(date +%Y-%m-%d)
for s in $(bin/eddy-bench list 2>/dev/null || echo events-fanout); do
	out="bench/results/$day-$s.txt"
	echo "bench: $s -> $out"
	{
		echo "# $s, $(date -u +%FT%TZ), commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
		echo "# bin/eddy-bench $s -spawn-exec bin/eddy -duration 5s -runs 3 -baseline nats"
		bin/eddy-bench "$s" -spawn-exec bin/eddy -duration 5s -runs 3 -baseline nats
	} | tee "$out"
done
