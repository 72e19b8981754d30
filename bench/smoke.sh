#!/usr/bin/env bash
# A few seconds per load scenario against an in-process server (cluster-events-fanout:
# an in-process NATS cluster with three nodes, then NATS alone): fails on any
# loss, reorder, error or zero deliveries. Run by `make test`.
set -euo pipefail
cd "$(dirname "$0")/.."
go build -o bin/eddy-bench ./cmd/eddy-bench
for s in $(bin/eddy-bench list 2>/dev/null || echo events-fanout); do
	extra=()
	case "$s" in
	connections) extra=(-conns 1000) ;; # not 20,000: a smoke, and in-process the server's descriptors count too
	cluster-events-fanout) extra=(-subs 6) ;; # 3 NATS servers and 3 nodes in-process, then NATS alone
	esac
	echo "bench-smoke: $s"
	bin/eddy-bench "$s" -spawn -duration 1s -runs 1 "${extra[@]}" >/dev/null
done
echo "bench-smoke: ok"
