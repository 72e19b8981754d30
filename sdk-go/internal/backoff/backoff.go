// Package backoff computes jittered exponential reconnect delays.
//
// A Backoff is owned by one goroutine (the client's supervisor) and is not
// safe for concurrent use. Invariants: every delay lies in [Min/2, Max], and
// the undithered delay doubles per attempt until it reaches Max.
package backoff

import (
	"math/rand/v2"
	"time"
)

// Backoff yields the delay before each reconnect attempt.
type Backoff struct {
	// Min is the base delay of the first attempt; Max caps every delay.
	Min, Max time.Duration

	attempt int
}

// Next returns the delay before the next attempt and advances the attempt
// counter. The delay is d/2 plus a uniform random part of up to d/2, where d
// is Min doubled once per previous attempt and capped at Max ("equal
// jitter": never zero, never in lock-step with other clients).
func (b *Backoff) Next() time.Duration {
	d := b.ceiling()
	b.attempt++
	if d <= 1 {
		return d
	}
	half := d / 2
	return half + rand.N(d-half+1)
}

// Attempt reports how many delays Next has handed out since the last Reset.
func (b *Backoff) Attempt() int { return b.attempt }

// Reset starts over from Min, after a successful connection.
func (b *Backoff) Reset() { b.attempt = 0 }

func (b *Backoff) ceiling() time.Duration {
	lo, hi := b.Min, b.Max
	if lo <= 0 {
		lo = time.Millisecond
	}
	if hi < lo {
		hi = lo
	}
	d := lo
	for i := 0; i < b.attempt && d < hi; i++ {
		d *= 2
	}
	return min(d, hi)
}
