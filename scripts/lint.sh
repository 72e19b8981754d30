#!/usr/bin/env bash
# Architecture rules that go vet cannot see:
#  - sdk-go imports only protocol and codec from this module;
#  - store and valve never import engine;
#  - nothing outside cmd/ and tests prints with fmt.Print*.
set -euo pipefail
cd "$(dirname "$0")/.."
mod=github.com/eddy-realtime/eddy
fail=0
check_imports() { # pkg-pattern allowed-regex
	for pkg in $(go list "$1" 2>/dev/null); do
		for dep in $(go list -f '{{join .Imports "\n"}}' "$pkg" | grep "^$mod/" || true); do
			if ! [[ "$dep" =~ $2 ]]; then
				echo "lint: $pkg must not import $dep"
				fail=1
			fi
		done
	done
}
check_imports "./sdk-go/..." "^$mod/(protocol|codec|sdk-go)(/|\$)"
check_imports "./store/..." "^$mod/(protocol|codec|store)(/|\$)"
check_imports "./valve/..." "^$mod/(protocol|codec|valve)(/|\$)"
check_imports "./codec/..." "^$mod/(protocol|codec)(/|\$)"
prints=$(git ls-files '*.go' | grep -v -e '^cmd/' -e '_test.go$' -e '^protocol/internal/' | xargs grep -n 'fmt\.Print' || true)
if [ -n "$prints" ]; then
	echo "lint: fmt.Print outside cmd/:"
	echo "$prints"
	fail=1
fi
exit $fail
