#!/usr/bin/env bash
# Every load scenario against an Eddy subprocess and the NATS baseline,
# 3 runs each; the medians and ratios go to bench/results/<date>-<scenario>.txt.
# cluster-events-fanout starts its own NATS cluster and compares with NATS
# alone whatever -baseline says. Scenarios with a latency target
# (events-fanout, cluster-events-fanout, records-fanout, rpc) then
# run again at half of Eddy's median full-speed rate ("latency at half
# load"), against both servers.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p bin bench/results
go build -o bin/eddy ./cmd/eddy
go build -o bin/eddy-bench ./cmd/eddy-bench
day=$(date +%Y-%m-%d)
status=0
for s in $(bin/eddy-bench list 2>/dev/null || echo events-fanout); do
	out="bench/results/$day-$s.txt"
	echo "bench: $s -> $out"
	cmd=(bin/eddy-bench "$s" -spawn-exec bin/eddy -duration 5s -runs 3 -baseline nats)
	if ! {
		echo "# $s, $(date -u +%FT%TZ), commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
		echo "# ${cmd[*]}"
		"${cmd[@]}" 2>&1
	} | tee "$out"; then
		status=1
	fi
	# The rate -rate paces: publishes, writes or requests per second.
	case "$s" in
	events-fanout | cluster-events-fanout) key=publishes ;;
	records-fanout) key=writes ;;
	rpc) key=sent ;;
	*) continue ;;
	esac
	full=$(grep '"kind":"median","scenario":"'"$s"'","target":"eddy"' "$out" | sed -n 's/.*"rates":{\([^}]*\)}.*/\1/p' |
		sed -n 's/.*"'"$key"'":\([0-9.]*\).*/\1/p' | head -1)
	if [ -z "$full" ]; then
		continue
	fi
	half=$(awk -v r="$full" 'BEGIN { printf "%d", r / 2 }')
	cmd=(bin/eddy-bench "$s" -spawn-exec bin/eddy -duration 5s -runs 3 -baseline nats -rate "$half")
	if ! {
		echo
		echo "# half load: $half $key/s"
		echo "# ${cmd[*]}"
		"${cmd[@]}" 2>&1
	} | tee -a "$out"; then
		status=1
	fi
done
exit $status
