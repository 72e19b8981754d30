// Package event is the pub/sub table: names mapped to the subscribers that
// receive every event published to them.
//
// The table has shard.Count shards, each a map from name to a subscriber
// set guarded by its own RWMutex. A publish takes the shard's read lock
// only long enough to find the name's set, then delivers without any lock
// (engine/internal/subset), so concurrent publishers on different loops never wait for each
// other and subscribe/unsubscribe never block a fan-out in progress.
// Subscribing and unsubscribing cost O(1) amortised whatever the number of
// subscribers of the name (a copy-on-write list cost O(n) each: 100,000
// subscribers took minutes to subscribe one by one).
//
// In cluster mode the table is one node's share of the cluster's: a Bus
// set with SetBus hears when a name gains its first or loses its last
// subscriber (so the node can follow the name on other nodes), and Emit
// hands every locally emitted event to it after the local delivery.
// Events arriving from other nodes go through Publish, never back to the
// bus.
//
// Concurrency: every method is safe from any goroutine; SetBus is called
// before the table is used.
//
// Invariants:
//  1. A subscriber appears at most once in a name's list.
//  2. A name with no subscribers has no map entry (unsubscribing the last
//     one deletes it), so the table holds nothing for idle names.
//  3. Publish delivers the same payload bytes to every subscriber except the
//     one excluded; it never copies them itself.
package event

import (
	"sync"

	"github.com/eddy-realtime/eddy/engine/internal/shard"
	"github.com/eddy-realtime/eddy/engine/internal/subset"
)

// Subscriber receives published payloads. Deliver is called from the
// publisher's goroutine; it must not block and must copy payload if it keeps
// it (netloop.Conn.Send does both).
type Subscriber interface {
	Deliver(payload []byte)
}

// Bus carries events between nodes (engine/cluster in cluster mode).
type Bus interface {
	// Interest is told, under the name's shard lock and in order for one
	// name, that name gained (on) or lost its local subscribers. It must
	// not block or call back into the table.
	Interest(name string, on bool)
	// Forward sends an event emitted here to the other nodes. payload is
	// valid only until it returns.
	Forward(name, payload []byte)
}

// Table maps event names to subscribers.
type Table struct {
	shards [shard.Count]tableShard
	bus    Bus
}

// SetBus connects the table to the other nodes of a cluster.
func (t *Table) SetBus(b Bus) { t.bus = b }

type tableShard struct {
	mu    sync.RWMutex
	names map[string]*subset.Set[Subscriber]
}

// New returns an empty table.
func New() *Table {
	t := &Table{}
	for i := range t.shards {
		t.shards[i].names = make(map[string]*subset.Set[Subscriber])
	}
	return t
}

// Subscribe adds s to name. It reports whether s was added (false: it was
// already subscribed) and whether s is now the name's only subscriber
// (first), which listening uses to find a provider.
func (t *Table) Subscribe(name string, s Subscriber) (added, first bool) {
	sh := &t.shards[shard.Index(name)]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	subs := sh.names[name]
	if subs == nil {
		sh.names[name] = subset.New[Subscriber](s)
		if t.bus != nil {
			t.bus.Interest(name, true)
		}
		return true, true
	}
	return subs.Add(s), false
}

// Unsubscribe removes s from name. It reports whether s was subscribed and
// whether the name has no subscribers left (last).
func (t *Table) Unsubscribe(name string, s Subscriber) (removed, last bool) {
	sh := &t.shards[shard.Index(name)]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	subs := sh.names[name]
	if subs == nil || !subs.Remove(s) {
		return false, false
	}
	if subs.Len() == 0 {
		delete(sh.names, name)
		if t.bus != nil {
			t.bus.Interest(name, false)
		}
		return true, true
	}
	return true, false
}

// Publish delivers payload to every subscriber of name except except (which
// may be nil) and returns the number of deliveries.
func (t *Table) Publish(name []byte, payload []byte, except Subscriber) int {
	sh := &t.shards[shard.Index(name)]
	sh.mu.RLock()
	subs := sh.names[string(name)]
	sh.mu.RUnlock()
	if subs == nil {
		return 0
	}
	v := subs.View()
	d := 0
	if list, ok := v.Small(); ok {
		for _, s := range list {
			if s != except {
				s.Deliver(payload)
				d++
			}
		}
		return d
	}
	for i := 0; i < v.Len(); i++ {
		if s, ok := v.At(i); ok && s != except {
			s.Deliver(payload)
			d++
		}
	}
	return d
}

// Emit publishes an event emitted on this node: Publish, then the bus
// (when set) forwards it to the other nodes.
func (t *Table) Emit(name []byte, payload []byte, except Subscriber) int {
	n := t.Publish(name, payload, except)
	if t.bus != nil {
		t.bus.Forward(name, payload)
	}
	return n
}

// Count returns the number of subscribers of name.
func (t *Table) Count(name string) int {
	sh := &t.shards[shard.Index(name)]
	sh.mu.RLock()
	defer sh.mu.RUnlock()
	if subs := sh.names[name]; subs != nil {
		return subs.Len()
	}
	return 0
}

// Len returns the number of names with at least one subscriber.
func (t *Table) Len() int {
	n := 0
	for i := range t.shards {
		sh := &t.shards[i]
		sh.mu.RLock()
		n += len(sh.names)
		sh.mu.RUnlock()
	}
	return n
}

// Names calls fn for every name with subscribers (for listening to match
// new patterns against existing subscriptions). fn runs under a shard's
// read lock and must not call back into the table.
func (t *Table) Names(fn func(name string)) {
	for i := range t.shards {
		sh := &t.shards[i]
		sh.mu.RLock()
		for name := range sh.names {
			fn(name)
		}
		sh.mu.RUnlock()
	}
}
