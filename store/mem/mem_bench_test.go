package mem_test

import (
	"testing"

	"github.com/eddy-realtime/eddy/store"
	"github.com/eddy-realtime/eddy/store/mem"
	"github.com/eddy-realtime/eddy/store/storetest"
)

func BenchmarkStore(b *testing.B) {
	storetest.Bench(b, func(b *testing.B, opts store.Options) store.Store { return mem.New(opts) })
}
