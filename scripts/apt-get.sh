#!/usr/bin/env bash
# apt-get that waits for a lock another install holds (unattended upgrades,
# a second checkout's test run) instead of failing at once: up to
# APT_LOCK_WAIT seconds, ten minutes by default. `install` waits through
# dpkg's own DPkg::Lock::Timeout; `update` takes the package lists' lock,
# which apt does not wait for, so it is retried while that lock is held.
set -euo pipefail
wait=${APT_LOCK_WAIT:-600}
opts=(-o "DPkg::Lock::Timeout=$wait")
if [ "${1:-}" != update ]; then
	exec apt-get "${opts[@]}" "$@"
fi
deadline=$((SECONDS + wait))
while :; do
	if out=$(apt-get "${opts[@]}" "$@" 2>&1); then
		printf '%s' "$out"
		exit 0
	fi
	if [ $SECONDS -ge $deadline ] || ! grep -q 'Could not get lock' <<<"$out"; then
		printf '%s\n' "$out" >&2
		exit 1
	fi
	echo "apt-get: waiting for the package lists' lock" >&2
	sleep 2
done
