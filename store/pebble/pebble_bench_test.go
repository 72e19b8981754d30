package pebble

import (
	"testing"

	"github.com/eddy-realtime/eddy/store"
	"github.com/eddy-realtime/eddy/store/storetest"
)

// BenchmarkStore runs the shared store benchmarks on Pebble with real fsync
// (the directory is the test's temporary directory, so its disk).
func BenchmarkStore(b *testing.B) {
	storetest.Bench(b, func(b *testing.B, opts store.Options) store.Store {
		db, err := Open(b.TempDir(), opts)
		if err != nil {
			b.Fatal(err)
		}
		return db
	})
}
