package httpapi

import (
	"bytes"
	"context"
	"errors"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/eddy-realtime/eddy/codec/msg"
	"github.com/eddy-realtime/eddy/engine/record"
	"github.com/eddy-realtime/eddy/protocol/fb"
)

// Errors of stream setup.
var (
	errDraining       = errors.New("httpapi: the server is shutting down")
	errTooManyWatched = errors.New("httpapi: too many names are watched (http.sseMaxWatched)")
)

// entry is one change of a watched name, rendered once as the JSON body
// every stream sends.
type entry struct {
	seq  uint64
	body []byte
}

type chanKey struct {
	topic fb.Topic // TopicEvent or TopicRecord
	name  string
}

// channel is one watched name: subscribed to its table, keeping its last
// changes and the streams reading it. It is the table's subscriber.
// Fields are guarded by hub.mu, except key and ready, which never change.
type channel struct {
	h     *hub
	key   chanKey
	ready chan struct{} // closed once the table subscription is in place

	err       error    // why subscribing failed (set before ready closes)
	ring      []*entry // oldest at head once full
	head      int
	since     uint64 // seq when recording began: every later change is in ring or dropped
	dropped   uint64 // seq of the newest entry pushed out of ring
	streams   []*stream
	attaching int       // streams between acquire and attach or release
	idleSince time.Time // when the last stream left; zero while in use
	removed   bool      // no longer in hub.mu.chans
	stale     bool      // records: the kept state may be wrong; resync

	// Records: the state after the last change, for streams that start
	// with (or fall back to) the whole document.
	version int64
	doc     []byte
	exists  bool
}

// stream is one SSE client's queue. Fields are guarded by hub.mu.
type stream struct {
	wake     chan struct{}
	queue    []*entry
	max      int
	overflow bool // the queue outgrew max: the stream ends, the client resumes
	closed   bool // the hub is shutting down
}

func (s *stream) push(e *entry) {
	if len(s.queue) >= s.max {
		s.overflow = true
	} else {
		s.queue = append(s.queue, e)
	}
	s.signal()
}

func (s *stream) signal() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// hub keeps every watched name's history. One per API.
//
// Lock order: a record entry's lock, then hub.mu (a record change is
// delivered under its entry lock); hub.mu is never held while calling into
// the tables.
type hub struct {
	cfg    *Config
	epoch  string // changes with every start, so ids of another run never resume
	ctx    context.Context
	cancel context.CancelFunc // on close
	mu     struct {
		sync.Mutex
		seq    uint64 // the last change's number, over all names
		chans  map[chanKey]*channel
		closed bool
	}
}

func newHub(cfg *Config) *hub {
	h := &hub{cfg: cfg, epoch: strconv.FormatInt(time.Now().UnixNano(), 36)}
	h.ctx, h.cancel = context.WithCancel(context.Background())
	h.mu.chans = make(map[chanKey]*channel)
	return h
}

// id renders a change number as an SSE id.
func (h *hub) id(seq uint64) string { return h.epoch + "-" + strconv.FormatUint(seq, 10) }

// position is where a resuming stream left off.
type position struct {
	given bool   // the client sent a Last-Event-ID
	valid bool   // it is one of this run's ids
	seq   uint64 // the last change it received
}

func (h *hub) parseID(s string) position {
	if s == "" {
		return position{}
	}
	p := position{given: true}
	epoch, n, ok := strings.Cut(s, "-")
	if !ok || epoch != h.epoch {
		return p
	}
	seq, err := strconv.ParseUint(n, 10, 64)
	if err != nil {
		return p
	}
	p.valid, p.seq = true, seq
	return p
}

// acquire returns the channel of key, subscribing it to its table when it
// is new. The caller must pass it to attach or release.
func (h *hub) acquire(ctx context.Context, key chanKey) (*channel, error) {
	h.mu.Lock()
	if h.mu.closed {
		h.mu.Unlock()
		return nil, errDraining
	}
	c := h.mu.chans[key]
	if c == nil {
		if len(h.mu.chans) >= h.cfg.Options.SSEMaxWatched {
			h.mu.Unlock()
			return nil, errTooManyWatched
		}
		c = &channel{h: h, key: key, ready: make(chan struct{}), since: h.mu.seq, attaching: 1}
		h.mu.chans[key] = c
		h.mu.Unlock()
		err := h.subscribe(ctx, c, false)
		h.mu.Lock()
		c.err = err
		if err != nil {
			h.removeLocked(c)
		}
		h.mu.Unlock()
		close(c.ready)
		if err != nil {
			return nil, err
		}
		return c, nil
	}
	c.attaching++
	h.mu.Unlock()
	select {
	case <-c.ready:
	case <-ctx.Done():
		h.release(c)
		return nil, ctx.Err()
	}
	if c.err != nil {
		h.release(c)
		return nil, c.err
	}
	return c, nil
}

// release undoes an acquire whose stream never attached.
func (h *hub) release(c *channel) {
	h.mu.Lock()
	c.attaching--
	h.idleLocked(c)
	h.mu.Unlock()
}

func (h *hub) idleLocked(c *channel) {
	if len(c.streams) == 0 && c.attaching == 0 {
		c.idleSince = time.Now()
	}
}

// removeLocked forgets c. It also advances the change number: changes to
// the name are no longer recorded, so a later channel for it must start
// above every id given out so far, or a stream resuming from such an id
// would skip them without a gap message.
func (h *hub) removeLocked(c *channel) {
	if h.mu.chans[c.key] == c {
		delete(h.mu.chans, c.key)
	}
	c.removed = true
	h.mu.seq++
}

// subscribe puts c on its table. For a record it waits for the record to
// be in memory and takes its state; resync says the channel had a state
// already, so a difference is recorded as a change.
func (h *hub) subscribe(ctx context.Context, c *channel, resync bool) error {
	name := c.key.name
	if c.key.topic == fb.TopicEvent {
		if _, first := h.cfg.Events.Subscribe(name, c); first && h.cfg.Listen != nil {
			h.cfg.Listen.Subscribed(name)
		}
		return nil
	}
	for {
		e := h.cfg.Records.Lookup(name)
		if e == nil {
			loaded := make(chan error, 1)
			h.cfg.Records.Load(name, func(err error) { loaded <- err })
			select {
			case err := <-loaded:
				if err != nil {
					return err
				}
			case <-ctx.Done():
				return ctx.Err()
			}
			continue
		}
		removed := false
		_, ok := e.Read(c, true, func(version int64, data []byte, exists bool) {
			h.mu.Lock()
			defer h.mu.Unlock()
			removed = c.removed
			if !removed {
				h.setStateLocked(c, version, data, exists, resync)
			}
		})
		if ok && removed {
			h.cfg.Records.Unsubscribe(name, c)
		}
		if ok {
			return nil
		}
	}
}

// setStateLocked installs a record's state; when resyncing, a state that
// differs from the kept one is appended as the change that explains it.
func (h *hub) setStateLocked(c *channel, version int64, data []byte, exists, resync bool) {
	if resync && (exists != c.exists || exists && (version != c.version || !bytes.Equal(data, c.doc))) {
		ch := change{topic: "record", action: "update", name: c.key.name, version: version, hasVersion: true, data: data}
		if !exists {
			ch = change{topic: "record", action: "delete", name: c.key.name}
		}
		h.appendLocked(c, appendBody(nil, &ch))
	}
	c.version, c.doc, c.exists, c.stale = version, data, exists, false
}

// unsubscribe takes a removed channel off its table.
func (h *hub) unsubscribe(c *channel) {
	if c.key.topic == fb.TopicEvent {
		if _, last := h.cfg.Events.Unsubscribe(c.key.name, c); last && h.cfg.Listen != nil {
			h.cfg.Listen.Unsubscribed(c.key.name)
		}
		return
	}
	h.cfg.Records.Unsubscribe(c.key.name, c)
}

// appendLocked numbers a change, keeps it in c's history and queues it on
// every stream reading c.
func (h *hub) appendLocked(c *channel, body []byte) {
	h.mu.seq++
	e := &entry{seq: h.mu.seq, body: body}
	if len(c.ring) < h.cfg.Options.SSEHistory {
		c.ring = append(c.ring, e)
	} else {
		c.dropped = c.ring[c.head].seq
		c.ring[c.head] = e
		c.head = (c.head + 1) % len(c.ring)
	}
	for _, s := range c.streams {
		s.push(e)
	}
}

// entriesAfter appends c's kept changes numbered above seq, oldest first.
func (c *channel) entriesAfter(dst []*entry, seq uint64) []*entry {
	n := len(c.ring)
	for i := 0; i < n; i++ {
		if e := c.ring[(c.head+i)%n]; e.seq > seq {
			dst = append(dst, e)
		}
	}
	return dst
}

// Deliver implements event.Subscriber and record.Subscriber: it renders
// the change and records it. Called from the publisher's goroutine (for a
// record, under the record's entry lock, in version order).
func (c *channel) Deliver(payload []byte) {
	var v msg.View
	if v.Reset(payload) != nil {
		return
	}
	h := c.h
	if c.key.topic == fb.TopicEvent {
		body := appendBody(nil, &change{topic: "event", action: "emit", name: c.key.name, data: v.DataBytes()})
		h.mu.Lock()
		if !c.removed {
			h.appendLocked(c, body)
		}
		h.mu.Unlock()
		return
	}
	ch := change{topic: "record", name: c.key.name, version: v.Version(), hasVersion: true, path: string(v.Path()), data: v.DataBytes()}
	w := record.Write{Path: ch.path, Data: ch.data}
	switch v.Action() {
	case fb.ActionUpdate:
		ch.action, w.Kind = "update", record.Replace
	case fb.ActionPatch:
		ch.action, w.Kind = "patch", record.SetPath
	case fb.ActionErasePath:
		ch.action, w.Kind = "erase", record.ErasePath
	case fb.ActionDeleted:
		ch = change{topic: "record", action: "delete", name: c.key.name}
	default:
		return
	}
	body := appendBody(nil, &ch)
	h.mu.Lock()
	defer h.mu.Unlock()
	if c.removed {
		return
	}
	h.appendLocked(c, body)
	if ch.action == "delete" {
		c.version, c.doc, c.exists = 0, nil, false
		return
	}
	cur := c.doc
	if cur == nil {
		cur = []byte("{}")
	}
	doc, err := h.cfg.Records.Preview(cur, &w)
	if err != nil || ch.version != c.version+1 {
		c.stale = true // the janitor reads the record again
	}
	if err == nil {
		c.version, c.doc, c.exists = ch.version, doc, true
	}
}

// Deleted implements record.Subscriber: the record is gone and the
// subscription with it, so watch the name's next incarnation.
func (c *channel) Deleted(string) {
	h := c.h
	h.cfg.Go("sse-resubscribe", func() { h.resubscribe(c) }) // refused only at shutdown
}

// resubscribe subscribes c to its record again (after a delete, or when
// its state went stale); on failure the janitor tries again.
func (h *hub) resubscribe(c *channel) {
	ctx, cancel := context.WithTimeout(h.ctx, h.cfg.Options.Timeout)
	defer cancel()
	if err := h.subscribe(ctx, c, true); err != nil {
		h.mu.Lock()
		c.stale = true
		h.mu.Unlock()
		h.cfg.Logger.Warn("sse: record not watched again; retrying", "record", c.key.name, "err", err)
	}
}

// attached is what a stream sends first.
type attached struct {
	gaps    [][]byte // gap messages (no id)
	backlog []*entry // missed changes, in order (with ids)
	states  [][]byte // record states (no id)
	pos     uint64   // the id of the closing ready message
	nGaps   int
}

// attach starts s on chans (all acquired) from pos: the changes each name
// kept after pos, or a gap message when its history does not reach back.
// Records without a usable position start from their current state.
func (h *hub) attach(s *stream, chans []*channel, pos position) (attached, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	var a attached
	if h.mu.closed {
		for _, c := range chans {
			c.attaching--
		}
		return a, errDraining
	}
	a.pos = h.mu.seq
	for _, c := range chans {
		c.attaching--
		c.streams = append(c.streams, s)
		c.idleSince = time.Time{}
		isRecord := c.key.topic == fb.TopicRecord
		topic := "event"
		if isRecord {
			topic = "record"
		}
		resumable := pos.valid && pos.seq <= a.pos && c.since <= pos.seq && c.dropped <= pos.seq
		switch {
		case resumable:
			a.backlog = c.entriesAfter(a.backlog, pos.seq)
		case pos.given:
			a.gaps = append(a.gaps, appendBody(nil, &change{topic: topic, action: "gap", name: c.key.name}))
			a.nGaps++
			if !isRecord {
				a.backlog = c.entriesAfter(a.backlog, 0)
			}
		}
		if isRecord && !resumable {
			doc := c.doc
			if doc == nil {
				doc = []byte("{}")
			}
			a.states = append(a.states, appendBody(nil, &change{topic: "record", action: "read", name: c.key.name, version: c.version, hasVersion: true, data: doc}))
		}
	}
	sort.Slice(a.backlog, func(i, j int) bool { return a.backlog[i].seq < a.backlog[j].seq })
	return a, nil
}

// detach ends s's interest in chans.
func (h *hub) detach(s *stream, chans []*channel) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, c := range chans {
		for i, x := range c.streams {
			if x == s {
				c.streams = append(c.streams[:i:i], c.streams[i+1:]...)
				break
			}
		}
		h.idleLocked(c)
	}
}

// take hands s's queued changes to its writer.
func (h *hub) take(s *stream, dst []*entry) (q []*entry, overflow, closed bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	q = append(dst, s.queue...)
	clear(s.queue)
	s.queue = s.queue[:0]
	return q, s.overflow, s.closed
}

// Run expires idle names and resyncs stale records until ctx ends or the
// hub closes.
func (h *hub) Run(ctx context.Context) {
	period := min(h.cfg.Options.SSERetention/4, time.Second)
	period = max(period, 10*time.Millisecond)
	t := time.NewTicker(period)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-h.ctx.Done():
			return
		case now := <-t.C:
			h.sweep(now)
		}
	}
}

func (h *hub) sweep(now time.Time) {
	var drop, stale []*channel
	h.mu.Lock()
	for _, c := range h.mu.chans {
		switch {
		case len(c.streams) == 0 && c.attaching == 0 && !c.idleSince.IsZero() && now.Sub(c.idleSince) >= h.cfg.Options.SSERetention:
			h.removeLocked(c)
			drop = append(drop, c)
		case c.stale:
			c.stale = false // resubscribe sets it again if it fails
			stale = append(stale, c)
		}
	}
	h.mu.Unlock()
	for _, c := range drop {
		h.unsubscribe(c)
	}
	for _, c := range stale {
		h.resubscribe(c)
	}
}

// close ends every stream and refuses new ones.
func (h *hub) close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.mu.closed {
		return
	}
	h.mu.closed = true
	h.cancel()
	for _, c := range h.mu.chans {
		for _, s := range c.streams {
			s.closed = true
			s.signal()
		}
	}
}
