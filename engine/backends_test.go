package engine_test

import (
	"testing"

	"github.com/eddy-realtime/eddy/engine"
	"github.com/eddy-realtime/eddy/engine/enginetest"
)

// forEachBackend runs fn once per network back-end, each as a subtest named
// after it: the wire tests are the back-ends' conformance suite.
func forEachBackend(t *testing.T, fn func(t *testing.T, backend string)) {
	t.Helper()
	for _, b := range enginetest.Backends() {
		t.Run(b, func(t *testing.T) { fn(t, b) })
	}
}

// on returns options for enginetest.Start that select backend, then apply
// mutate (when not nil).
func on(backend string, mutate func(*engine.Options)) func(*engine.Options) {
	return func(o *engine.Options) {
		o.Net.Backend = backend
		if mutate != nil {
			mutate(o)
		}
	}
}
