package engine_test

import (
	"runtime"
	"testing"

	"github.com/eddy-realtime/eddy/engine/enginetest"
)

// An idle WebSocket connection after handshake and login costs a few KiB of
// heap on the server (bench's connections scenario measures the resident
// size of a subprocess: about 3.9 KiB). This guards the heap side in every
// test run: a queue that kept a 64 KiB pooled slice after the login reply
// made it ~70 KiB per connection here.
func TestIdleConnectionHeap(t *testing.T) {
	if testing.Short() {
		t.Skip("opens 1,000 connections")
	}
	const conns = 1000
	const limit = 16 << 10 // server and the test's own client together
	srv := enginetest.Start(t, nil)
	addr := srv.WSAddr()
	inUse := func() uint64 {
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return ms.HeapInuse + ms.StackInuse
	}
	// Warm up: the first connections create the loops' and pools' buffers.
	for i := 0; i < 20; i++ {
		enginetest.DialWS(t, addr, true).Open()
	}
	before := inUse()
	clients := make([]*enginetest.Client, 0, conns)
	for i := 0; i < conns; i++ {
		clients = append(clients, enginetest.DialWS(t, addr, true).Open())
	}
	after := inUse()
	per := int64(after-before) / conns
	t.Logf("heap+stacks per idle connection (server and client): %d B", per)
	if per > limit {
		t.Fatalf("%d B of heap per idle WebSocket connection, want at most %d", per, limit)
	}
	runtime.KeepAlive(clients)
}
