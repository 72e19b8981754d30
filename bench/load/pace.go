package load

import "time"

// A pacer waits between a paced client's sends.
//
// The Go runtime sleeps a goroutine through its network poller, whose
// waits are whole milliseconds: on an otherwise idle process
// time.Sleep(20µs) returns after about 1.07 ms (measured here, Go 1.26,
// Linux). A publisher paced at 290,000 messages/s with time.Sleep
// therefore sent one burst of ~290 messages per millisecond, and the
// latency it measured was partly the time to work through each burst. On
// Linux a pacer whose interval is under preciseBelow locks its goroutine to
// a thread with a 1 µs timer slack and sleeps at least quantum with
// nanosleep(2), so a paced client sends every ~50 µs, closer to a steady
// source; anything longer still uses time.Sleep. events-fanout at 190,000
// publishes/s, 3 runs alternating: p99 3.6-3.8 ms with time.Sleep against
// 1.2-2.1 ms with this pacer (p50 0.29-0.31 against 0.22-0.24 ms).
type pacer struct {
	precise bool
	restore func() // undoes what newPacer did to the thread
}

// preciseBelow is the interval under which a pacer sleeps precisely: above
// it the runtime's millisecond rounding is a small share of the wait, and
// a locked thread per paced client would cost more than it gives (rpc's
// 100 callers at half load wait about 0.8 ms each).
const preciseBelow = 200 * time.Microsecond

// quantum is the shortest precise sleep: a wake-up per message at
// hundreds of thousands of messages/s would cost the generator a core.
const quantum = 50 * time.Microsecond

// newPacer returns the pacer for a client sending one message every
// interval nanoseconds (0: not paced). Call close from the same goroutine.
func newPacer(interval float64) *pacer {
	p := &pacer{}
	if interval > 0 && interval < float64(preciseBelow) {
		p.restore, p.precise = lockPrecise()
	}
	return p
}

// sleep waits d.
func (p *pacer) sleep(d time.Duration) {
	if d <= 0 {
		return
	}
	if p.precise && d < time.Millisecond {
		sleepPrecise(max(d, quantum))
		return
	}
	time.Sleep(d)
}

// close releases the thread newPacer locked, if any.
func (p *pacer) close() {
	if p.restore != nil {
		p.restore()
		p.restore = nil
	}
}
