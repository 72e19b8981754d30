package load

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/bits"
	"sync"
	"sync/atomic"
	"time"
)

// A call run drives request/answer scenarios (rpc, durable-writes): each
// caller is one connection sending requests with ids counted up from 1 and
// at most its window of them unanswered; the reader goroutine matches each
// answer to its request, exactly once, and returns the request's credit.
// The send and flush functions are the scenario's; the flow control,
// pacing, matching, latency and the checks at the end are shared.
type callRun struct {
	p       Params
	callers []*caller
	// clients are every connection of the run (callers and others, like
	// rpc providers), for errors and closing.
	clients  []Client
	stopping chan struct{} // closed when the measured window is over
	abort    chan struct{}
	abortMu  sync.Once
	winStart atomic.Int64 // Now() bounds of the window; requests sent inside it are timed
	winEnd   atomic.Int64
}

// outcome is how a request ended, as its scenario judged the answer.
type outcome uint8

const (
	answerOK        outcome = iota
	answerFailed            // the target reported an error for it
	answerBad               // the answer's data is not what it should be
	answerReordered         // answered out of the order the scenario requires
)

// callSlot is one request in flight: its id (0: free) and send time.
type callSlot struct {
	id uint64
	at int64
}

type caller struct {
	idx    int
	c      Client
	run    *callRun
	credit chan struct{} // one token per request that may be sent
	sent   atomic.Uint64 // the last id sent
	done   atomic.Uint64 // answers matched to a request, whatever the outcome
	err    error         // the loop's error

	mu        sync.Mutex // held by answer (reader goroutine) and begin
	slots     []callSlot // by id & mask
	mask      uint64
	ok        uint64
	failed    uint64
	bad       uint64
	reordered uint64
	unknown   uint64 // answers to no request in flight: unknown ids, duplicates
	firstFail error
	hist      Histogram
}

// slotsPerWindow sizes a caller's slot ring: a request may stay
// unanswered while this many times the window of later ones complete
// before its slot is needed again (the sender then waits).
const slotsPerWindow = 64

func newCallRun(p Params) *callRun {
	r := &callRun{p: p, stopping: make(chan struct{}), abort: make(chan struct{})}
	r.winStart.Store(math.MaxInt64)
	r.winEnd.Store(math.MaxInt64)
	return r
}

// addCaller registers c as caller number len(callers) with window
// requests in flight at most.
func (r *callRun) addCaller(c Client, window int) *caller {
	n := uint64(1) << bits.Len64(uint64(window*slotsPerWindow-1))
	cl := &caller{idx: len(r.callers), c: c, run: r, credit: make(chan struct{}, window), slots: make([]callSlot, n), mask: n - 1}
	for i := 0; i < window; i++ {
		cl.credit <- struct{}{}
	}
	r.callers = append(r.callers, cl)
	return cl
}

func (r *callRun) doAbort() { r.abortMu.Do(func() { close(r.abort) }) }

// begin records request id as sent at at; false when its slot still holds
// an older request.
func (c *caller) begin(id uint64, at int64) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := &c.slots[id&c.mask]
	if s.id != 0 {
		return false
	}
	s.id, s.at = id, at
	return true
}

// answer settles request id; err is kept (the first one) when o is
// answerFailed. It runs on the reader goroutine and never blocks.
func (c *caller) answer(id uint64, o outcome, err error) {
	now := Now()
	c.mu.Lock()
	s := &c.slots[id&c.mask]
	if id == 0 || s.id != id {
		c.unknown++
		c.mu.Unlock()
		return
	}
	at := s.at
	s.id = 0
	switch o {
	case answerOK:
		c.ok++
		if at >= c.run.winStart.Load() && at < c.run.winEnd.Load() {
			c.hist.Record(time.Duration(now - at))
		}
	case answerFailed:
		c.failed++
		if c.firstFail == nil {
			c.firstFail = err
		}
	case answerBad:
		c.bad++
	case answerReordered:
		c.reordered++
	}
	c.mu.Unlock()
	c.done.Add(1)
	select {
	case c.credit <- struct{}{}:
	default: // cannot happen: a token per slot freed, and no more slots than the window
	}
}

// loop sends requests until the window closes: it takes one credit
// (waiting for an answer when none is left), then every other credit
// available, sends that many requests and flushes them with one write.
// With Rate set, the callers together send Rate requests/s. send gets the
// id and the send time (for the payload's stamp).
func (r *callRun) loop(c *caller, start int64, send func(id uint64, at int64) error, flush func() error) error {
	var interval float64 // nanoseconds between this caller's requests when paced
	if r.p.Rate > 0 {
		interval = 1e9 * float64(len(r.callers)) / r.p.Rate
	}
	pace := newPacer(interval)
	defer pace.close()
	if interval > 0 {
		// Callers keep step, each a fraction of the interval after the
		// previous: all due at the same instants, 100 requesters would send
		// in bursts of 100 (p50 1.18 ms at 10,000 requests/s, against 0.29 ms
		// from 10 requesters).
		start += int64(interval * float64(c.idx) / float64(len(r.callers)))
	}
	var n uint64
	for {
		allowed := cap(c.credit)
		if interval > 0 {
			due := uint64(float64(Now()-start)/interval) + 1
			if due <= n {
				pace.sleep(time.Duration(float64(n)*interval) - time.Duration(Now()-start))
				if r.stopped() {
					return nil
				}
				continue
			}
			allowed = min(allowed, int(due-n))
		}
		select {
		case <-c.credit:
		case <-r.stopping:
			return nil
		case <-r.abort:
			return errAborted
		}
		k := 1
	more:
		for k < allowed {
			select {
			case <-c.credit:
				k++
			default:
				break more
			}
		}
		for i := 0; i < k; i++ {
			at := Now()
			for !c.begin(n+1, at) {
				// The request that had this slot is still unanswered.
				if r.stopped() {
					c.sent.Store(n)
					return flush()
				}
				time.Sleep(100 * time.Microsecond)
				at = Now()
			}
			n++
			if err := send(n, at); err != nil {
				return err
			}
		}
		c.sent.Store(n)
		if err := flush(); err != nil {
			return err
		}
		if r.stopped() {
			return nil
		}
	}
}

func (r *callRun) stopped() bool {
	select {
	case <-r.stopping:
		return true
	case <-r.abort:
		return true
	default:
		return false
	}
}

// measure runs the callers' loops through warm-up and the measured
// window, stops them, waits up to Drain for the answers, closes every
// client and returns the figures: rates rateName (answers/s) and
// sentName (requests sent/s), latency send->answer of the requests sent
// in the window, and the counts and problems of every check.
func (r *callRun) measure(ctx context.Context, run func(c *caller) error, rateName, sentName string) (Figures, []string) {
	var wg sync.WaitGroup
	for _, c := range r.callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.err = run(c)
			if c.err != nil {
				r.doAbort()
			}
		}()
	}
	loopsDone := make(chan struct{})
	go func() { wg.Wait(); close(loopsDone) }()

	var sent0, done0, sent1, done1 uint64
	var elapsed time.Duration
	err := r.sleep(ctx, r.p.Warmup)
	if err == nil {
		sent0, done0 = r.totals()
		t0 := time.Now()
		r.winStart.Store(Now())
		err = r.sleep(ctx, r.p.Duration)
		if err == nil {
			err = stretchWindow(r.p.Duration, func(d time.Duration) error { return r.sleep(ctx, d) }, func() bool {
				_, done := r.totals()
				return done != done0
			})
		}
		r.winEnd.Store(Now())
		elapsed = time.Since(t0)
		sent1, done1 = r.totals()
	}
	close(r.stopping)
	if err != nil && ctx.Err() == nil {
		r.doAbort()
	}
	var problems []string
	select {
	case <-loopsDone:
	case <-time.After(r.p.Drain + 10*time.Second):
		problems = append(problems, "senders did not stop within the drain time")
		r.doAbort()
		<-loopsDone
	}
	for _, c := range r.callers {
		if c.err != nil && !errors.Is(c.err, errAborted) {
			problems = append(problems, fmt.Sprintf("caller %d: %v", c.idx, c.err))
		}
	}
	deadline := time.Now().Add(r.p.Drain)
	for !r.drained() && time.Now().Before(deadline) && r.clientErr() == nil && ctx.Err() == nil {
		time.Sleep(5 * time.Millisecond)
	}
	var clientErrs uint64
	for i, c := range r.clients {
		if err := c.Err(); err != nil {
			clientErrs++
			problems = append(problems, fmt.Sprintf("client %d: %v", i, err))
		}
	}
	if err != nil && ctx.Err() == nil && r.clientErr() == nil {
		problems = append(problems, "run stopped early: "+err.Error())
	}
	r.closeAll()

	var hist Histogram
	var sent, ok, failed, bad, reordered, unknown, unanswered uint64
	var firstFail error
	for _, c := range r.callers {
		c.mu.Lock()
		s := c.sent.Load()
		sent += s
		ok += c.ok
		failed += c.failed
		bad += c.bad
		reordered += c.reordered
		unknown += c.unknown
		if d := c.done.Load(); s > d {
			unanswered += s - d
		}
		if firstFail == nil {
			firstFail = c.firstFail
		}
		hist.Merge(&c.hist)
		c.mu.Unlock()
	}
	switch {
	case sent == 0:
		problems = append(problems, "nothing was sent")
	case ok == 0:
		problems = append(problems, "nothing was answered")
	}
	if unanswered > 0 {
		problems = append(problems, fmt.Sprintf("%d requests never answered", unanswered))
	}
	if failed > 0 {
		problems = append(problems, fmt.Sprintf("%d requests failed, the first with: %v", failed, firstFail))
	}
	if bad > 0 {
		problems = append(problems, fmt.Sprintf("%d answers with data that is not the request's", bad))
	}
	if reordered > 0 {
		problems = append(problems, fmt.Sprintf("%d answers out of order", reordered))
	}
	if unknown > 0 {
		problems = append(problems, fmt.Sprintf("%d answers to no request in flight (unknown ids or duplicates)", unknown))
	}
	f := Figures{
		Latency: hist.Summary(),
		Counts: map[string]uint64{
			sentName: sent, "answered": ok, "failed": failed, "bad_payload": bad, "reordered": reordered,
			"unknown": unknown, "unanswered": unanswered, "errors": clientErrs,
		},
	}
	if elapsed > 0 {
		f.Elapsed = round3(elapsed.Seconds())
		f.Rates = map[string]float64{
			rateName: round1(float64(done1-done0) / elapsed.Seconds()),
			sentName: round1(float64(sent1-sent0) / elapsed.Seconds()),
		}
		if done1 == done0 {
			problems = append(problems, "nothing was answered in the measured window")
		}
	}
	return f, problems
}

func (r *callRun) totals() (sent, done uint64) {
	for _, c := range r.callers {
		sent += c.sent.Load()
		done += c.done.Load()
	}
	return sent, done
}

func (r *callRun) drained() bool {
	for _, c := range r.callers {
		if c.done.Load() < c.sent.Load() {
			return false
		}
	}
	return true
}

// sleep waits d, returning early with an error when the run aborts or a
// client fails.
func (r *callRun) sleep(ctx context.Context, d time.Duration) error {
	return watchSleep(ctx, d, r.abort, r.clientErr)
}

func (r *callRun) clientErr() error {
	for _, c := range r.clients {
		if err := c.Err(); err != nil {
			return err
		}
	}
	return nil
}

func (r *callRun) closeAll() {
	for _, c := range r.clients {
		_ = c.Close()
	}
	r.clients = nil
}
