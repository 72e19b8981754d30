package load

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/eddy-realtime/eddy/codec/msg"
	"github.com/eddy-realtime/eddy/protocol/fb"
)

func init() { Register(durableWrites{}) }

// DurablePrefix starts the names of the records durable-writes writes:
// writer i writes DurablePrefix + i.
const DurablePrefix = "bench.durable-writes."

// DurableClient is a Client that makes acknowledged, durable writes
// (durable-writes). Concurrency as Client: WriteDurable belongs to the
// connection's driving goroutine; acknowledgements run on its reader.
type DurableClient interface {
	Client
	// HeadRecord returns the version of record name, -1 when it does not
	// exist (Eddy: Head, which also brings the record into the server's
	// memory).
	HeadRecord(ctx context.Context, name string) (int64, error)
	// OnWriteAck sets the function receiving, on the reader goroutine,
	// each write's acknowledgement: its id and the version it created, or
	// the error the target reported for it. Call it before writing.
	OnWriteAck(fn func(id uint64, version int64, err error))
	// WriteDurable queues (written on Flush) a write of the whole document
	// data to record name that the target acknowledges under id once it is
	// on disk.
	WriteDurable(name string, id uint64, data []byte) error
}

// durableWrites is DESIGN.md's durable-writes: Pubs writers each write
// their own records, every write acknowledged only once synced to disk,
// with up to Window/Pubs writes in flight per writer (or Rate writes/s in
// total). A spawned Eddy server stores records in Pebble in a temporary
// directory (Config.StoreDir). Eddy: a forced Update with WantAck,
// answered by WriteAck {id, version}.
//
// Records is how many records each writer writes in turn (default 1).
// With one, a writer's writes in flight go to the same record and the
// store's write-behind queue coalesces them: a synced batch holds one
// version per record and acknowledges every write it covers. With more
// records than the writer's window, every write in flight is a different
// record and reaches the disk on its own.
//
// Each writer checks that every write is acknowledged exactly once, each
// record's in the order written, with versions growing by one from the
// record's version before the run.
//
// Each writer asks for its records' heads before writing, which also loads
// them into the server's memory: the pipelined writes then measure the
// steady state, not the first load. (Writes pipelined while their record
// is being loaded can be applied out of order: the first write after the
// load lands may overtake the earlier ones waiting to be replayed; the
// ordering check here reports that.)
//
// There is no NATS baseline: NATS core has no durable writes, and
// JetStream's acknowledgements (nats-server 2.9) do not wait for an fsync,
// so the numbers would not compare like for like.
//
// Figures: rates "acks" (acknowledged writes per second) and "writes"
// (sent); latency write->acknowledgement; counts "writes", "answered",
// "failed", "reordered", "unknown", "unanswered", "errors".
type durableWrites struct{}

func (durableWrites) Name() string     { return "durable-writes" }
func (durableWrites) Headline() string { return "acks" }

func (durableWrites) defaults() (Params, string) {
	p := DefaultParams()
	p.Pubs, p.Subs = 64, 0
	p.Window = 1024 // 16 in flight per writer
	p.Records = 1
	return p, "tcp"
}

// durableStore: a spawned server persists records to Pebble.
func (durableWrites) durableStore() bool { return true }

// durableNames returns writer i's record names.
func durableNames(i, records int) []string {
	if records <= 1 {
		return []string{DurablePrefix + strconv.Itoa(i)}
	}
	names := make([]string, records)
	for j := range names {
		names[j] = DurablePrefix + strconv.Itoa(i) + "." + strconv.Itoa(j)
	}
	return names
}

// Run implements Scenario.
func (durableWrites) Run(ctx context.Context, target Target, p Params) (Figures, []string, error) {
	if err := p.Validate(); err != nil {
		return Figures{}, nil, err
	}
	records := max(p.Records, 1)
	r := newCallRun(p)
	defer r.closeAll()
	dialCtx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	window := p.Window / p.Pubs
	writers := make([]DurableClient, p.Pubs)
	names := make([][]string, p.Pubs)
	for i := range writers {
		c, err := target.Dial(dialCtx)
		if err != nil {
			return Figures{}, nil, err
		}
		r.clients = append(r.clients, c)
		dc, ok := c.(DurableClient)
		if !ok {
			return Figures{}, nil, fmt.Errorf("%w: its clients have no durable writes", ErrUnsupported)
		}
		writers[i], names[i] = dc, durableNames(i, records)
	}
	// The heads, one writer per goroutine.
	heads := make([][]int64, p.Pubs)
	errs := make([]error, p.Pubs)
	var wg sync.WaitGroup
	for i, dc := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			heads[i] = make([]int64, records)
			for j, name := range names[i] {
				if heads[i][j], errs[i] = dc.HeadRecord(dialCtx, name); errs[i] != nil {
					return
				}
			}
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return Figures{}, nil, err
		}
	}
	for i, dc := range writers {
		cl := r.addCaller(dc, window)
		// Reader goroutine state, per record (write id goes to record
		// (id-1)%records): acks come in write order, each version one above
		// the previous one (the first: above the head, or 1 for a new record).
		nextID := make([]uint64, records)
		lastVersion := make([]int64, records)
		for j, h := range heads[i] {
			nextID[j], lastVersion[j] = uint64(j+1), max(h, 0)
		}
		dc.OnWriteAck(func(id uint64, version int64, err error) {
			if id == 0 {
				cl.answer(id, answerBad, nil) // counted as unknown
				return
			}
			j := int((id - 1) % uint64(records))
			switch {
			case err != nil:
				cl.answer(id, answerFailed, err)
			case id != nextID[j] || version != lastVersion[j]+1:
				cl.answer(id, answerReordered, nil)
			default:
				cl.answer(id, answerOK, nil)
			}
			if err == nil {
				nextID[j], lastVersion[j] = id+uint64(records), version
			}
		})
	}
	start := Now()
	f, problems := r.measure(ctx, func(cl *caller) error {
		dc, own := writers[cl.idx], names[cl.idx]
		payload, err := NewPayload(p.Size, cl.idx)
		if err != nil {
			return err
		}
		return r.loop(cl, start, func(id uint64, at int64) error {
			Stamp(payload, id, at)
			return dc.WriteDurable(own[(id-1)%uint64(len(own))], id, payload)
		}, dc.Flush)
	}, "acks", "writes")
	return f, problems, ctx.Err()
}

var _ DurableClient = (*eddyClient)(nil)

// HeadRecord implements DurableClient.
func (e *eddyClient) HeadRecord(ctx context.Context, name string) (int64, error) {
	return e.c.CallVersion(ctx, &msg.Msg{Topic: fb.TopicRecord, Action: fb.ActionHead, Name: name})
}

// OnWriteAck implements DurableClient.
func (e *eddyClient) OnWriteAck(fn func(uint64, int64, error)) { e.rec.onAck.Store(&fn) }

// WriteDurable implements DurableClient: a forced Update with WantAck,
// encoded once per record and refilled.
func (e *eddyClient) WriteDurable(name string, id uint64, data []byte) error {
	t := e.rec.durable[name]
	if !t.fits(data) {
		var err error
		t, err = newTemplate(msg.Msg{Topic: fb.TopicRecord, Action: fb.ActionUpdate, Flags: fb.FlagsForced | fb.FlagsWantAck,
			ID: templateMarker, Name: name}, len(data))
		if err != nil {
			return err
		}
		if e.rec.durable == nil {
			e.rec.durable = map[string]*msgTemplate{}
		}
		e.rec.durable[name] = t
	}
	return e.c.SendPayload(t.fill(data, id))
}
