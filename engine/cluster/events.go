package cluster

import (
	"hash/maphash"
	"sync"
	"time"
	"unsafe"

	"github.com/nats-io/nats.go"
)

// eventRouter keeps one NATS subscription per event name that has local
// subscribers, and hands what arrives to the local table.
//
// Interest changes are queued and applied in order by one goroutine, so
// the caller (the event table, under its shard lock) never waits on NATS.
// A name's subscription outlives its last local subscriber by linger, so
// a client resubscribing at once costs no NATS round trip. Inbound
// messages go to a few shared channels by name hash, each drained by one
// goroutine: no goroutine per subscription, and one name's events stay in
// order.
type eventRouter struct {
	n       *Node
	deliver func(name string, frame []byte)
	seed    maphash.Seed
	chans   [eventWorkers]chan *nats.Msg

	mu      sync.Mutex
	queue   []interestOp
	kick    chan struct{}
	subs    map[string]*eventSub
	leaving map[string]struct{} // names whose subscription lingers
}

type interestOp struct {
	name string
	on   bool
}

type eventSub struct {
	sub   *nats.Subscription
	want  bool
	until time.Time // lingering: unsubscribe after this
}

const (
	eventWorkers = 4
	eventChanCap = 1 << 16
	linger       = 2 * time.Second
)

func newEventRouter(n *Node) *eventRouter {
	r := &eventRouter{n: n, seed: maphash.MakeSeed(), kick: make(chan struct{}, 1),
		subs: make(map[string]*eventSub), leaving: make(map[string]struct{})}
	for i := range r.chans {
		r.chans[i] = make(chan *nats.Msg, eventChanCap)
	}
	return r
}

// OnEvent installs fn to receive events published on other nodes for the
// names this node is interested in; frame is the Event message as
// subscribers receive it, valid only until fn returns. Call before Start.
func (n *Node) OnEvent(fn func(name string, frame []byte)) { n.events.deliver = fn }

// EventInterest records that name gained (on) or lost its local
// subscribers. It never blocks; changes take effect in call order.
func (n *Node) EventInterest(name string, on bool) {
	r := n.events
	r.mu.Lock()
	r.queue = append(r.queue, interestOp{name: name, on: on})
	r.mu.Unlock()
	select {
	case r.kick <- struct{}{}:
	default:
	}
}

// PublishEvent sends an event's frame to the nodes with subscribers of
// name. It fails fast with ErrNotConnected while NATS is away.
func (n *Node) PublishEvent(name, frame []byte) error {
	bp := sendBufs.Get().(*[]byte)
	b := append((*bp)[:0], n.prefix...)
	b = append(b, "ev."...)
	b = AppendName(b, unsafe.String(unsafe.SliceData(name), len(name)))
	// nats.go copies the subject before Publish returns.
	err := n.publish(unsafe.String(unsafe.SliceData(b), len(b)), frame)
	*bp = b
	sendBufs.Put(bp)
	return err
}

// EventSubscriptions returns the number of names this node holds a NATS
// subscription for (lingering ones included).
func (n *Node) EventSubscriptions() int {
	r := n.events
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.subs)
}

func (r *eventRouter) start() {
	for i := range r.chans {
		ch := r.chans[i]
		r.n.wg.Add(1)
		go func() {
			defer r.n.wg.Done()
			r.drain(ch)
		}()
	}
	r.n.wg.Add(1)
	go r.run()
}

func (r *eventRouter) drain(ch chan *nats.Msg) {
	skip := len(r.n.prefix) + len("ev.")
	var lastSubject, lastName string
	for {
		var m *nats.Msg
		select {
		case <-r.n.done:
			return
		case m = <-ch:
		}
		r.n.msgsIn.Add(1)
		if len(m.Subject) <= skip || r.deliver == nil {
			continue
		}
		// A hot name arrives again and again: decode its subject once.
		if m.Subject != lastSubject {
			name, ok := DecodeName(m.Subject[skip:])
			if !ok {
				continue
			}
			lastSubject, lastName = m.Subject, name
		}
		r.deliver(lastName, m.Data)
	}
}

func (r *eventRouter) run() {
	defer r.n.wg.Done()
	tk := time.NewTicker(linger / 4)
	defer tk.Stop()
	for {
		select {
		case <-r.n.done:
			return
		case <-r.kick:
			r.apply()
		case now := <-tk.C:
			r.expire(now)
		}
	}
}

func (r *eventRouter) apply() {
	r.mu.Lock()
	defer r.mu.Unlock()
	ops := r.queue
	r.queue = nil
	now := time.Now()
	for _, op := range ops {
		s := r.subs[op.name]
		if !op.on {
			if s != nil && s.want {
				s.want, s.until = false, now.Add(linger)
				r.leaving[op.name] = struct{}{}
			}
			continue
		}
		if s != nil {
			s.want = true
			delete(r.leaving, op.name)
			continue
		}
		ch := r.chans[maphash.String(r.seed, op.name)%eventWorkers]
		sub, err := r.n.nc.ChanSubscribe(r.n.prefix+"ev."+EncodeName(op.name), ch)
		if err != nil {
			r.n.log.Warn("cluster: event subscription failed", "name", op.name, "err", err)
			continue
		}
		r.subs[op.name] = &eventSub{sub: sub, want: true}
	}
}

func (r *eventRouter) expire(now time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for name := range r.leaving {
		s := r.subs[name]
		if s == nil || s.want {
			delete(r.leaving, name)
			continue
		}
		if now.After(s.until) {
			_ = s.sub.Unsubscribe()
			delete(r.subs, name)
			delete(r.leaving, name)
		}
	}
}
