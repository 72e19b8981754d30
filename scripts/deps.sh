#!/usr/bin/env bash
# Installs what the test suite needs beyond Go, only when missing:
# flatc (generated-code check) and nats-server (the benchmark baseline),
# the release go.mod pins, built from its Go module into bin/ (a
# distribution's package is often years older).
# The JavaScript SDK's own dependencies come from its lockfile (npm ci).
set -euo pipefail
need=()
command -v flatc >/dev/null 2>&1 || need+=(flatbuffers-compiler)
if [ ${#need[@]} -gt 0 ]; then
	if [ "$(id -u)" != 0 ]; then
		echo "deps: please install: ${need[*]} (apt-get install ${need[*]})" >&2
		exit 1
	fi
	echo "deps: installing ${need[*]}"
	export DEBIAN_FRONTEND=noninteractive
	# Waits for an apt lock another install holds instead of failing.
	apt="$(dirname "$0")/apt-get.sh"
	"$apt" update -qq >/dev/null
	"$apt" install -y -qq "${need[@]}" >/dev/null
fi

cd "$(dirname "$0")/.."
nats_version=$(go list -m -f '{{.Version}}' github.com/nats-io/nats-server/v2)
if ! { [ -x bin/nats-server ] && bin/nats-server --version 2>/dev/null | grep -q "v${nats_version#v}"; }; then
	echo "deps: building nats-server ${nats_version} into bin/"
	GOBIN="$PWD/bin" go install "github.com/nats-io/nats-server/v2@${nats_version}"
fi
