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

// Get returns an empty slice with capacity of at least n.
func Get(n int) []byte {
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
	nb := Get(max(len(b)+n, 2*cap(b)))
	nb = append(nb, b...)
	Put(b)
	return nb
}
