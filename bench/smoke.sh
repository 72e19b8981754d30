#!/usr/bin/env bash
# A few seconds per load scenario against an in-process server: fails on any
# loss, reorder, error or zero deliveries. Run by `make test`.
set -euo pipefail
cd "$(dirname "$0")/.."
go build -o bin/eddy-bench ./cmd/eddy-bench
for s in $(bin/eddy-bench list 2>/dev/null || echo events-fanout); do
	echo "bench-smoke: $s"
	bin/eddy-bench "$s" -spawn -duration 1s -runs 1 >/dev/null
done
echo "bench-smoke: ok"
