package load

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"time"
)

func init() { Register(eventsFanout{}) }

// FanoutEvent is the event name (and NATS subject) events-fanout uses.
const FanoutEvent = "bench.events-fanout"

// eventsFanout is DESIGN.md's events-fanout: Pubs publishers emit
// bench payloads on one event name, Subs subscribers receive every one.
//
// Figures: rates "deliveries" and "publishes" per second over the measured
// window; latency publish->delivery of the messages published in the window;
// counts "published", "delivered", "lost", "reordered", "bad_payload",
// "errors" over the whole run.
type eventsFanout struct{}

func (eventsFanout) Name() string     { return "events-fanout" }
func (eventsFanout) Headline() string { return "deliveries" }

// fanoutShape is what one fan-out scenario does differently from another
// (events-fanout: one event name; records-fanout, records.go: a record per
// publisher). The run, flow control and checks are shared.
type fanoutShape interface {
	// subscribe makes s receive every publisher's messages over c, and sets
	// s.next and s.progress from where each publisher stands (the record
	// versions read).
	subscribe(ctx context.Context, c Client, s *subscriber) error
	// prepare readies a publisher before any message is sent, setting
	// pb.base: the sequence number before its first message.
	prepare(ctx context.Context, pb *publisher) error
	// send queues message seq of pb (written on Flush).
	send(pb *publisher, seq uint64, payload []byte, confirm bool) error
	// keys returns the keys of the publish rate and count ("publishes",
	// "published").
	keys() (rate, count string)
}

// eventsShape is events-fanout's shape: everyone on FanoutEvent.
type eventsShape struct{}

func (eventsShape) subscribe(ctx context.Context, c Client, s *subscriber) error {
	return c.Subscribe(ctx, FanoutEvent, s.deliver)
}

func (eventsShape) prepare(context.Context, *publisher) error { return nil }

func (eventsShape) send(pb *publisher, _ uint64, payload []byte, confirm bool) error {
	return pb.c.Publish(FanoutEvent, payload, confirm)
}

func (eventsShape) keys() (string, string) { return "publishes", "published" }

// fanoutRun is the shared state of one run.
type fanoutRun struct {
	shape   fanoutShape
	p       Params
	pubs    []*publisher
	subs    []*subscriber
	stop    atomic.Bool
	abort   chan struct{}
	abortMu sync.Once
	// The measured window, in Now() nanoseconds: messages stamped inside
	// it are recorded in the latency histograms.
	winStart atomic.Int64
	winEnd   atomic.Int64
}

type publisher struct {
	idx       int
	c         Client
	base      uint64        // sequence number before the first message
	published atomic.Uint64 // last sequence number published
	err       error
}

type subscriber struct {
	c    Client
	run  *fanoutRun
	size int
	// progress[p] is the highest sequence number of publisher p received
	// with nothing missing before it (read by the publishers' windows).
	progress []atomic.Uint64

	mu        sync.Mutex // held by deliver; the coordinator reads under it
	next      []uint64   // next expected sequence number per publisher
	delivered uint64
	lost      uint64
	reordered uint64
	bad       uint64
	mismatch  uint64 // record versions that differ from the payload's sequence number
	hist      Histogram
}

func (s *subscriber) deliver(data []byte) { s.deliverChecked(-1, -1, data) }

// deliverChecked checks one delivery. from, when not negative, is the
// publisher whose name the delivery came on (records-fanout: the record),
// which must be the payload's; version, when not negative, is the record
// version the target reported, which must equal the sequence number the
// publisher wrote into the payload.
func (s *subscriber) deliverChecked(from int, version int64, data []byte) {
	now := Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	pub, seq, t, err := ReadPayload(data)
	if err != nil || len(data) != s.size || pub >= len(s.next) || seq == 0 || (from >= 0 && pub != from) {
		s.bad++
		return
	}
	s.delivered++
	if version >= 0 && uint64(version) != seq {
		s.mismatch++
	}
	switch exp := s.next[pub]; {
	case seq == exp:
		s.next[pub]++
	case seq > exp:
		s.lost += seq - exp
		s.next[pub] = seq + 1
	default:
		s.reordered++
		return
	}
	s.progress[pub].Store(s.next[pub] - 1)
	if t >= s.run.winStart.Load() && t < s.run.winEnd.Load() {
		s.hist.Record(time.Duration(now - t))
	}
}

func (r *fanoutRun) doAbort() { r.abortMu.Do(func() { close(r.abort) }) }

// Run implements Scenario.
func (eventsFanout) Run(ctx context.Context, target Target, p Params) (Figures, []string, error) {
	return runFanout(ctx, target, p, eventsShape{})
}

// runFanout runs one fan-out scenario of the given shape.
func runFanout(ctx context.Context, target Target, p Params, shape fanoutShape) (Figures, []string, error) {
	if err := p.Validate(); err != nil {
		return Figures{}, nil, err
	}
	if p.Subs < 1 {
		return Figures{}, nil, fmt.Errorf("load: subs %d: want at least 1", p.Subs)
	}
	r := &fanoutRun{shape: shape, p: p, abort: make(chan struct{})}
	r.winStart.Store(math.MaxInt64)
	r.winEnd.Store(math.MaxInt64)
	defer r.closeAll()

	dialCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for i := 0; i < p.Subs; i++ {
		c, err := dialNode(dialCtx, target, i)
		if err != nil {
			return Figures{}, nil, err
		}
		s := &subscriber{c: c, run: r, size: p.Size, progress: make([]atomic.Uint64, p.Pubs), next: make([]uint64, p.Pubs)}
		for j := range s.next {
			s.next[j] = 1
		}
		r.subs = append(r.subs, s)
		if err := shape.subscribe(dialCtx, c, s); err != nil {
			return Figures{}, nil, err
		}
	}
	for i := 0; i < p.Pubs; i++ {
		c, err := target.Dial(dialCtx)
		if err != nil {
			return Figures{}, nil, err
		}
		pb := &publisher{idx: i, c: c}
		r.pubs = append(r.pubs, pb)
		if err := shape.prepare(dialCtx, pb); err != nil {
			return Figures{}, nil, err
		}
		pb.published.Store(pb.base)
	}
	if w, ok := target.(readyWaiter); ok {
		if err := w.WaitReady(dialCtx, FanoutEvent); err != nil {
			return Figures{}, nil, err
		}
	}

	var wg sync.WaitGroup
	start := Now()
	for _, pb := range r.pubs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			pb.err = r.publish(pb, start)
			if pb.err != nil {
				r.doAbort()
			}
		}()
	}
	pubsDone := make(chan struct{})
	go func() { wg.Wait(); close(pubsDone) }()

	// Warm-up, then the measured window.
	var pub0, del0, pub1, del1 uint64
	var elapsed time.Duration
	err := r.sleep(ctx, p.Warmup)
	if err == nil {
		pub0, del0 = r.published(), r.delivered()
		t0 := time.Now()
		r.winStart.Store(Now())
		err = r.sleep(ctx, p.Duration)
		if err == nil {
			err = stretchWindow(p.Duration, func(d time.Duration) error { return r.sleep(ctx, d) }, func() bool { return r.delivered() != del0 })
		}
		r.winEnd.Store(Now())
		elapsed = time.Since(t0)
		pub1, del1 = r.published(), r.delivered()
	}
	r.stop.Store(true)
	f, problems := r.finish(ctx, pubsDone, err)
	if elapsed > 0 {
		rate, _ := shape.keys()
		f.Elapsed = round3(elapsed.Seconds())
		f.Rates = map[string]float64{
			rate:         round1(float64(pub1-pub0) / elapsed.Seconds()),
			"deliveries": round1(float64(del1-del0) / elapsed.Seconds()),
		}
		if del1 == del0 {
			problems = append(problems, "nothing was delivered in the measured window")
		}
	}
	return f, problems, ctx.Err()
}

// sleep waits d, returning early with an error when the run aborts or a
// client fails.
func (r *fanoutRun) sleep(ctx context.Context, d time.Duration) error {
	return watchSleep(ctx, d, r.abort, r.clientErr)
}

func (r *fanoutRun) clientErr() error {
	for _, s := range r.subs {
		if err := s.c.Err(); err != nil {
			return err
		}
	}
	for _, pb := range r.pubs {
		if err := pb.c.Err(); err != nil {
			return err
		}
	}
	return nil
}

// finish stops the publishers, drains the subscribers, closes every client
// and gathers counts, latency and problems.
func (r *fanoutRun) finish(ctx context.Context, pubsDone chan struct{}, runErr error) (Figures, []string) {
	var problems []string
	if runErr != nil && ctx.Err() == nil {
		r.doAbort()
	}
	select {
	case <-pubsDone:
	case <-time.After(r.p.Drain + 10*time.Second):
		problems = append(problems, "publishers did not stop within the drain time")
		r.doAbort()
		<-pubsDone
	}
	for _, pb := range r.pubs {
		if pb.err != nil && !errors.Is(pb.err, errAborted) {
			problems = append(problems, fmt.Sprintf("publisher %d: %v", pb.idx, pb.err))
		}
	}
	// Drain: wait until every subscriber has every message published.
	deadline := time.Now().Add(r.p.Drain)
	for !r.drained() && time.Now().Before(deadline) && r.clientErr() == nil && ctx.Err() == nil {
		time.Sleep(5 * time.Millisecond)
	}
	var clientErrs uint64
	for i, s := range r.subs {
		if err := s.c.Err(); err != nil {
			clientErrs++
			problems = append(problems, fmt.Sprintf("subscriber %d: %v", i, err))
		}
	}
	for _, pb := range r.pubs {
		if err := pb.c.Err(); err != nil {
			clientErrs++
			problems = append(problems, fmt.Sprintf("publisher %d: %v", pb.idx, err))
		}
	}
	if runErr != nil && ctx.Err() == nil && r.clientErr() == nil {
		problems = append(problems, "run stopped early: "+runErr.Error())
	}
	r.closeAll()

	var hist Histogram
	var delivered, lost, reordered, bad, mismatch, missing uint64
	for _, s := range r.subs {
		s.mu.Lock()
		delivered += s.delivered
		lost += s.lost
		reordered += s.reordered
		bad += s.bad
		mismatch += s.mismatch
		for i, pb := range r.pubs {
			if want, got := pb.published.Load(), s.next[i]-1; want > got {
				missing += want - got
			}
		}
		hist.Merge(&s.hist)
		s.mu.Unlock()
	}
	published := r.published()
	if published == 0 {
		problems = append(problems, "nothing was published")
	} else if delivered == 0 {
		problems = append(problems, "nothing was delivered")
	}
	if lost+missing > 0 {
		problems = append(problems, fmt.Sprintf("%d deliveries lost (%d gaps, %d missing at the end)", lost+missing, lost, missing))
	}
	if reordered > 0 {
		problems = append(problems, fmt.Sprintf("%d deliveries out of order or duplicated", reordered))
	}
	if bad > 0 {
		problems = append(problems, fmt.Sprintf("%d deliveries with a malformed payload", bad))
	}
	if mismatch > 0 {
		problems = append(problems, fmt.Sprintf("%d deliveries whose record version differs from the version written", mismatch))
	}
	_, count := r.shape.keys()
	return Figures{
		Latency: hist.Summary(),
		Counts: map[string]uint64{
			count: published, "delivered": delivered, "lost": lost + missing,
			"reordered": reordered, "bad_payload": bad, "version_mismatch": mismatch, "errors": clientErrs,
		},
	}, problems
}

func (r *fanoutRun) drained() bool {
	for i, pb := range r.pubs {
		want := pb.published.Load()
		for _, s := range r.subs {
			if s.progress[i].Load() < want {
				return false
			}
		}
	}
	return true
}

func (r *fanoutRun) published() uint64 {
	var n uint64
	for _, pb := range r.pubs {
		n += pb.published.Load() - pb.base
	}
	return n
}

func (r *fanoutRun) delivered() uint64 {
	var n uint64
	for _, s := range r.subs {
		s.mu.Lock()
		n += s.delivered
		s.mu.Unlock()
	}
	return n
}

func (r *fanoutRun) closeAll() {
	for _, pb := range r.pubs {
		if pb.c != nil {
			_ = pb.c.Close()
		}
	}
	for _, s := range r.subs {
		if s.c != nil {
			_ = s.c.Close()
		}
	}
}

var errAborted = errors.New("load: run aborted")

// publish is one publisher's loop: batches of ConfirmEvery messages, the
// last of each asking for a confirmation, flushed with one write; at most
// MaxUnconfirmed confirmations outstanding; at most Window/Pubs messages
// ahead of the slowest subscriber; paced at Rate/Pubs when Rate is set.
func (r *fanoutRun) publish(pb *publisher, start int64) error {
	p := r.p
	payload, err := NewPayload(p.Size, pb.idx)
	if err != nil {
		return err
	}
	window := uint64(p.Window / p.Pubs)
	var interval float64 // nanoseconds between messages when paced
	if p.Rate > 0 {
		interval = 1e9 * float64(p.Pubs) / p.Rate
	}
	pace := newPacer(interval)
	defer pace.close()
	if interval > 0 {
		// Publishers keep step, each a fraction of the interval after the
		// previous: all due at the same instants, they would send in bursts.
		start += int64(interval * float64(pb.idx) / float64(p.Pubs))
	}
	// n counts the messages sent; seq = base + n is the sequence number
	// (a record's version for records-fanout).
	var n uint64
	seq := pb.base
	outstanding := 0
	for !r.stop.Load() {
		batch := p.ConfirmEvery - int(n%uint64(p.ConfirmEvery))
		if interval > 0 {
			due := uint64(float64(Now()-start)/interval) + 1
			if due <= n {
				wait := time.Duration(float64(n)*interval) - time.Duration(Now()-start)
				pace.sleep(wait)
				continue
			}
			batch = min(batch, int(due-n))
		}
		for i := 0; i < batch; i++ {
			n++
			seq++
			Stamp(payload, seq, Now())
			confirm := n%uint64(p.ConfirmEvery) == 0
			if err := r.shape.send(pb, seq, payload, confirm); err != nil {
				return err
			}
			if confirm {
				outstanding++
			}
		}
		pb.published.Store(seq)
		if err := pb.c.Flush(); err != nil {
			return err
		}
		for outstanding >= p.MaxUnconfirmed {
			select {
			case <-pb.c.Confirmed():
				outstanding--
			case <-r.abort:
				return errAborted
			}
		}
		for drained := false; !drained && outstanding > 0; {
			select {
			case <-pb.c.Confirmed():
				outstanding--
			default:
				drained = true
			}
		}
		if err := r.waitWindow(pb.idx, seq, window); err != nil {
			return err
		}
	}
	// Wait for the last confirmations so the drain starts from a known state.
	for outstanding > 0 {
		select {
		case <-pb.c.Confirmed():
			outstanding--
		case <-r.abort:
			return errAborted
		}
	}
	return nil
}

// waitWindow blocks while publisher idx is more than window messages
// ahead of its slowest subscriber.
func (r *fanoutRun) waitWindow(idx int, seq, window uint64) error {
	if seq <= window {
		return nil
	}
	floor := seq - window
	for _, s := range r.subs {
		for s.progress[idx].Load() < floor {
			if r.stop.Load() {
				return nil
			}
			select {
			case <-r.abort:
				return errAborted
			default:
			}
			time.Sleep(100 * time.Microsecond)
		}
	}
	return nil
}

func round1(x float64) float64 { return math.Round(x*10) / 10 }
func round3(x float64) float64 { return math.Round(x*1000) / 1000 }

// stretchWindow extends a measured window of length d in which nothing
// has arrived yet (progressed false) until something does, for at most
// five times d (at least 1s, at most 10s): on a
// loaded machine a short window can pass before the first delivery, and
// an empty window has no rate to report. The rates divide by the window's
// real length, so they stay true; a run that delivers nothing at all still
// reports it as a problem.
func stretchWindow(d time.Duration, sleep func(time.Duration) error, progressed func() bool) error {
	limit := min(max(5*d, time.Second), 10*time.Second)
	for waited := time.Duration(0); !progressed() && waited < limit; waited += 10 * time.Millisecond {
		if err := sleep(10 * time.Millisecond); err != nil {
			return err
		}
	}
	return nil
}

// watchSleep waits d, checking every 50ms that no client failed (check),
// and returns early when ctx ends, abort closes or check reports an error.
func watchSleep(ctx context.Context, d time.Duration, abort <-chan struct{}, check func() error) error {
	deadline := time.Now().Add(d)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for time.Now().Before(deadline) {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-abort:
			return errors.New("aborted")
		case <-tick.C:
			if err := check(); err != nil {
				return err
			}
		}
	}
	return nil
}
