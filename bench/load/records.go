package load

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/nats-io/nats.go"

	"github.com/eddy-realtime/eddy/codec/msg"
	"github.com/eddy-realtime/eddy/protocol/fb"
)

func init() { Register(recordsFanout{}) }

// RecordPrefix starts the names of the records (and NATS subjects)
// records-fanout writes: writer i writes RecordPrefix + i.
const RecordPrefix = "bench.records-fanout."

// recordPaths are the paths a writer sets in turn (version v sets
// recordPaths[v%3]), so a record is a small document that keeps its size.
var recordPaths = [...]string{"position.x", "position.y", "position.z"}

// RecordClient is a Client that reads, follows and writes records
// (records-fanout). Concurrency as Client: WriteRecord belongs to the
// connection's driving goroutine; deliver callbacks run on its reader.
type RecordClient interface {
	Client
	// ReadRecord reads name, subscribing to it, and returns its version.
	// deliver, when not nil, then receives every change another client
	// makes: the version it created (-1 when the target has no versions)
	// and the value written (valid only during the call).
	ReadRecord(ctx context.Context, name string, deliver func(version int64, value []byte)) (int64, error)
	// WriteRecord queues a write setting path of name to value, creating
	// version (the record's version + 1). With confirm, the target
	// confirms it on Confirmed once it accepted (Eddy: stored) the write.
	WriteRecord(name, path string, version int64, value []byte, confirm bool) error
}

// recordsFanout is DESIGN.md's records-fanout: Pubs writers each set paths
// of their own record, with versions, as fast as the server accepts; Subs
// subscribers each read (and so follow) every record. The value written is
// a bench payload whose sequence number is the version it creates, so
// every subscriber checks, per record, that versions arrive contiguous
// and match, and measures write->delivery latency.
//
// Flow control is events-fanout's: every ConfirmEvery-th write asks for an
// acknowledgement (Eddy: WantAck -> WriteAck once the write is stored), at
// most MaxUnconfirmed outstanding, and a writer stays within Window/Pubs
// versions of its slowest subscriber.
//
// The NATS baseline is events on the same shape: a subject per writer,
// every subscriber subscribed to all of them, PING/PONG as the
// confirmation; NATS has no versions, so only the sequence numbers are
// checked there.
//
// Figures: rates "deliveries" and "writes"; counts "written",
// "delivered", "lost", "reordered", "bad_payload", "version_mismatch",
// "errors".
type recordsFanout struct{}

func (recordsFanout) Name() string     { return "records-fanout" }
func (recordsFanout) Headline() string { return "deliveries" }

func (recordsFanout) defaults() (Params, string) {
	p := DefaultParams()
	p.Pubs, p.Subs = 10, 100
	return p, "tcp"
}

// durableStore: a spawned server persists records to Pebble (write-behind).
func (recordsFanout) durableStore() bool { return true }

// Run implements Scenario.
func (recordsFanout) Run(ctx context.Context, target Target, p Params) (Figures, []string, error) {
	names := make([]string, p.Pubs)
	for i := range names {
		names[i] = RecordPrefix + strconv.Itoa(i)
	}
	return runFanout(ctx, target, p, recordsShape{names: names})
}

type recordsShape struct{ names []string }

func recordClient(c Client) (RecordClient, error) {
	rc, ok := c.(RecordClient)
	if !ok {
		return nil, fmt.Errorf("%w: its clients have no records", ErrUnsupported)
	}
	return rc, nil
}

func (sh recordsShape) subscribe(ctx context.Context, c Client, s *subscriber) error {
	rc, err := recordClient(c)
	if err != nil {
		return err
	}
	for i, name := range sh.names {
		from := i
		v, err := rc.ReadRecord(ctx, name, func(version int64, value []byte) { s.deliverChecked(from, version, value) })
		if err != nil {
			return err
		}
		if v < 0 {
			return fmt.Errorf("load: read %s: version %d", name, v)
		}
		s.mu.Lock()
		s.next[i] = uint64(v) + 1
		s.mu.Unlock()
		s.progress[i].Store(uint64(v))
	}
	return nil
}

func (sh recordsShape) prepare(ctx context.Context, pb *publisher) error {
	rc, err := recordClient(pb.c)
	if err != nil {
		return err
	}
	v, err := rc.ReadRecord(ctx, sh.names[pb.idx], nil)
	if err != nil {
		return err
	}
	if v < 0 {
		return fmt.Errorf("load: read %s: version %d", sh.names[pb.idx], v)
	}
	pb.base = uint64(v)
	return nil
}

func (sh recordsShape) send(pb *publisher, seq uint64, payload []byte, confirm bool) error {
	// The publisher's client is a RecordClient: prepare checked it.
	return pb.c.(RecordClient).WriteRecord(sh.names[pb.idx], recordPaths[seq%uint64(len(recordPaths))], int64(seq), payload, confirm)
}

func (recordsShape) keys() (string, string) { return "writes", "written" }

// eddyRecords is an eddyClient's record state.
type eddyRecords struct {
	mu     sync.Mutex                                     // serialises changes to follow
	follow atomic.Pointer[map[string]func(int64, []byte)] // copied on change
	// onAck, when set (durable-writes), receives every WriteAck and write
	// error instead of Confirmed.
	onAck atomic.Pointer[func(id uint64, version int64, err error)]

	// Writer goroutine only.
	nextID  uint64
	out     msg.Msg
	tmpls   []recordTemplate
	durable map[string]*msgTemplate // durable-writes, by record
}

type recordTemplate struct {
	name, path string
	t          *msgTemplate
}

var _ RecordClient = (*eddyClient)(nil)

// ReadRecord implements RecordClient.
func (e *eddyClient) ReadRecord(ctx context.Context, name string, deliver func(int64, []byte)) (int64, error) {
	if deliver != nil {
		e.rec.mu.Lock()
		m := map[string]func(int64, []byte){}
		if old := e.rec.follow.Load(); old != nil {
			for k, v := range *old {
				m[k] = v
			}
		}
		m[name] = deliver
		e.rec.follow.Store(&m)
		e.rec.mu.Unlock()
	}
	return e.c.CallVersion(ctx, &msg.Msg{Topic: fb.TopicRecord, Action: fb.ActionRead, Name: name})
}

// WriteRecord implements RecordClient: a versioned Patch; a confirmed one
// carries WantAck and is answered by a WriteAck once stored.
func (e *eddyClient) WriteRecord(name, path string, version int64, value []byte, confirm bool) error {
	if confirm {
		e.rec.nextID++
		e.rec.out = msg.Msg{Topic: fb.TopicRecord, Action: fb.ActionPatch, Flags: fb.FlagsWantAck, ID: e.rec.nextID,
			Name: name, Path: path, Version: version, HasVersion: true, Data: value}
		return e.c.Send(&e.rec.out)
	}
	var t *msgTemplate
	for i := range e.rec.tmpls {
		if rt := &e.rec.tmpls[i]; rt.name == name && rt.path == path && rt.t.fits(value) {
			t = rt.t
			break
		}
	}
	if t == nil {
		var err error
		t, err = newTemplate(msg.Msg{Topic: fb.TopicRecord, Action: fb.ActionPatch, Name: name, Path: path, Version: templateMarker}, len(value))
		if err != nil {
			return err
		}
		e.rec.tmpls = append(e.rec.tmpls, recordTemplate{name: name, path: path, t: t})
	}
	return e.c.SendPayload(t.fill(value, uint64(version)))
}

// onRecord handles Record messages on the reader goroutine.
func (e *eddyClient) onRecord(v *msg.View) {
	switch v.Action() {
	case fb.ActionPatch:
		var fn func(int64, []byte)
		if m := e.rec.follow.Load(); m != nil {
			fn = (*m)[string(v.Name())]
		}
		if fn == nil {
			e.c.fail(fmt.Errorf("load: a change of record %q, which this client does not follow", v.Name()))
			return
		}
		fn(v.Version(), v.DataBytes())
	case fb.ActionWriteAck:
		if ack := e.rec.onAck.Load(); ack != nil {
			(*ack)(v.Id(), v.Version(), nil)
			return
		}
		select {
		case e.confirmed <- struct{}{}:
		default:
			e.c.fail(errors.New("load: more WriteAcks than confirmations asked for"))
		}
	case fb.ActionError, fb.ActionVersionExists:
		err := fmt.Errorf("load: Record %s for %q (id %d): code %d: %s", actionName(v.Action()), v.Name(), v.Id(), v.Code(), v.Reason())
		if ack := e.rec.onAck.Load(); ack != nil && v.Id() != 0 {
			(*ack)(v.Id(), 0, err)
			return
		}
		e.c.fail(err)
	default:
		e.c.fail(fmt.Errorf("load: unexpected Record/%s for %q", actionName(v.Action()), v.Name()))
	}
}

// recordBuffer is the capacity of the channel that gathers a NATS
// client's record deliveries; the flow-control window (at most Window
// messages between a subscriber and its writers) must stay below it, or
// nats.go drops messages and reports a slow consumer.
const recordBuffer = 1 << 16

var _ RecordClient = (*natsClient)(nil)

// ReadRecord implements RecordClient for the NATS baseline: it subscribes
// to the subject called name (without deliver it does nothing) and
// returns 0. The subjects a client follows feed one channel read by one
// goroutine, so following many subjects costs no goroutine each.
func (c *natsClient) ReadRecord(ctx context.Context, name string, deliver func(int64, []byte)) (int64, error) {
	if deliver == nil {
		return 0, nil
	}
	c.mu.Lock()
	if c.rec.ch == nil {
		c.rec.ch = make(chan *nats.Msg, recordBuffer)
		c.rec.quit = make(chan struct{})
		c.rec.done = make(chan struct{})
		go c.recordLoop()
	}
	m := map[string]func(int64, []byte){}
	if old := c.rec.fns.Load(); old != nil {
		for k, v := range *old {
			m[k] = v
		}
	}
	m[name] = deliver
	c.rec.fns.Store(&m)
	ch := c.rec.ch
	c.mu.Unlock()
	// A channel subscription's pending limit is the channel's capacity.
	if _, err := c.nc.ChanSubscribe(name, ch); err != nil {
		return 0, fmt.Errorf("load: nats subscribe: %w", err)
	}
	if err := c.nc.FlushWithContext(ctx); err != nil {
		return 0, fmt.Errorf("load: nats subscribe: %w", err)
	}
	return 0, nil
}

// natsRecords is a natsClient's record state.
type natsRecords struct {
	ch   chan *nats.Msg
	fns  atomic.Pointer[map[string]func(int64, []byte)] // copied on change
	quit chan struct{}                                  // closed by Close
	done chan struct{}                                  // closed when recordLoop returns
}

// recordLoop delivers what the record subscriptions receive.
func (c *natsClient) recordLoop() {
	defer close(c.rec.done)
	for {
		select {
		case m := <-c.rec.ch:
			var fn func(int64, []byte)
			if fns := c.rec.fns.Load(); fns != nil {
				fn = (*fns)[m.Subject]
			}
			if fn == nil {
				c.fail(fmt.Errorf("load: nats message on %q, which this client does not follow", m.Subject))
				continue
			}
			fn(-1, m.Data)
		case <-c.rec.quit:
			return
		}
	}
}

// WriteRecord implements RecordClient: a publish on the subject name.
func (c *natsClient) WriteRecord(name, _ string, _ int64, value []byte, confirm bool) error {
	return c.Publish(name, value, confirm)
}
