// Package bufpool recycles large byte slices in power-of-two size classes,
// so connections whose outbound queues grow under bursts reuse memory
// instead of regrowing (and copying) a fresh slice each time.
//
// Get and Put are safe from any goroutine. A slice handed to Put must not
// be used again by the caller.
package bufpool

import (
	"math/bits"
	"sync"
)

const (
	minShift = 16 // 64 KiB: smaller slices are cheap to allocate, not pooled
	maxShift = 24 // 16 MiB: larger ones are left to the garbage collector

	// minGrow is the smallest capacity Grow allocates: a connection's
	// first reply (a handshake or login answer) fits without regrowing.
	minGrow = 512
)

var pools [maxShift - minShift + 1]sync.Pool

// class returns the pool index whose slices hold at least n bytes, or -1.
func class(n int) int {
	if n <= 1<<minShift {
		return 0
	}
	shift := bits.Len(uint(n - 1))
	if shift > maxShift {
		return -1
	}
	return shift - minShift
}

// Get returns an empty slice with capacity of at least n. Below the
// smallest class it is a fresh slice of exactly n: a connection that only
// ever queues a few hundred bytes must not hold a 64 KiB class slice (20,000
// idle WebSocket connections would pin 1.25 GiB of heap).
func Get(n int) []byte {
	if n < 1<<minShift {
		return make([]byte, 0, n)
	}
	c := class(n)
	if c < 0 {
		return make([]byte, 0, n)
	}
	if p, ok := pools[c].Get().(*[]byte); ok {
		return (*p)[:0]
	}
	return make([]byte, 0, 1<<(c+minShift))
}

// Put returns b to its size class. Slices below the smallest class, or of a
// capacity that is not exactly a class size, are dropped.
func Put(b []byte) {
	n := cap(b)
	if n < 1<<minShift || n&(n-1) != 0 {
		return
	}
	c := class(n)
	if c < 0 {
		return
	}
	b = b[:0]
	pools[c].Put(&b)
}

// Grow returns b with room for n more bytes, moving it into a pooled slice
// (at least twice as large) when it must grow; the old slice goes back to
// its pool.
func Grow(b []byte, n int) []byte {
	if cap(b)-len(b) >= n {
		return b
	}
	nb := Get(max(len(b)+n, 2*cap(b), minGrow))
	nb = append(nb, b...)
	Put(b)
	return nb
}
