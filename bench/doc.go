// Package bench holds Eddy's cross-package Go benchmarks: whole paths
// through several packages without sockets (a framed Emit fed to a
// netloop.Conn, decoded and dispatched by session.Manager, fanned out by
// the event table into subscribers' outbound queues and flushed to a
// transport that discards the bytes), plus the codec steps on their own.
//
// The macro load generator lives in bench/load (cmd/eddy-bench drives it);
// recorded runs live in bench/results; docs/performance.md explains both.
//
// Run: go test ./bench -run '^$' -bench . -benchmem
//
// The package has no API; it exists for its benchmarks. Each benchmark
// runs on one goroutine, as one event loop would.
package bench
