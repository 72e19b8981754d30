package record

import (
	"errors"
	"sync"
	"sync/atomic"

	"github.com/eddy-realtime/eddy/engine/internal/shard"
	"github.com/eddy-realtime/eddy/engine/internal/subset"
)

// ErrNotFound is returned by Persister.Get when no record is stored.
var ErrNotFound = errors.New("record: not found")

// Persister is what the table needs from storage (a store.Store adapter).
type Persister interface {
	// Get returns the stored version and document or ErrNotFound. It may block.
	Get(name string) (version int64, data []byte, err error)
	// Put queues a write; done (may be nil) runs once it is durable.
	Put(name string, version int64, data []byte, done func(error))
	// Delete queues a removal; done (may be nil) runs once it is durable.
	Delete(name string, done func(error))
}

// Subscriber receives record changes. Deliver must not block and must copy
// payload if it keeps it; Deleted tells the subscriber the record is gone
// and its subscription with it. Both may be called from any goroutine.
type Subscriber interface {
	Deliver(payload []byte)
	Deleted(name string)
}

// Options bound the table. Zero means default.
type Options struct {
	// MaxRecords is the most records held in memory. Default 100000.
	MaxRecords int
	// MaxDocument bounds a record's JSON document in bytes; a write that
	// would make it larger is refused. Default 1 MiB.
	MaxDocument int
}

// Table maps record names to entries.
type Table struct {
	p      Persister
	spawn  func(name string, f func()) bool
	perMax int
	maxDoc int
	count  atomic.Int64
	shards [shard.Count]tableShard
}

type tableShard struct {
	mu sync.Mutex
	m  map[string]*Entry
}

// Entry is one record in memory. Its fields are guarded by mu.
type Entry struct {
	name string

	mu      sync.Mutex
	loaded  bool
	exists  bool // stored, or created by a read or write since
	failed  error
	gone    bool // deleted or evicted: callers must look the name up again
	version int64
	data    []byte
	subs    *subset.Set[Subscriber] // nil when none; O(1) add and remove at any size
	waiters []func(error)
}

// New returns a table over p; spawn runs loads off the caller's goroutine.
func New(p Persister, spawn func(name string, f func()) bool, opts Options) *Table {
	if opts.MaxRecords <= 0 {
		opts.MaxRecords = 100000
	}
	if opts.MaxDocument <= 0 {
		opts.MaxDocument = 1 << 20
	}
	t := &Table{p: p, spawn: spawn, perMax: max(opts.MaxRecords/shard.Count, 1), maxDoc: opts.MaxDocument}
	for i := range t.shards {
		t.shards[i].m = make(map[string]*Entry)
	}
	return t
}

// Len returns the number of records in memory.
func (t *Table) Len() int { return int(t.count.Load()) }

// Name returns the entry's record name.
func (e *Entry) Name() string { return e.name }

// Lookup returns the loaded entry for name, or nil when it is not in
// memory (or still loading). It never blocks and allocates nothing.
func (t *Table) Lookup(name string) *Entry {
	sh := &t.shards[shard.Index(name)]
	sh.mu.Lock()
	e := sh.m[name]
	sh.mu.Unlock()
	if e == nil {
		return nil
	}
	e.mu.Lock()
	loaded := e.loaded && !e.gone
	e.mu.Unlock()
	if !loaded {
		return nil
	}
	return e
}

// Load brings name into memory and then calls ready with nil, or with the
// error that made loading fail. ready runs on the loading goroutine, or at
// once on the caller's when the entry is already loaded.
func (t *Table) Load(name string, ready func(error)) {
	sh := &t.shards[shard.Index(name)]
	sh.mu.Lock()
	e := sh.m[name]
	if e == nil {
		e = &Entry{name: name, waiters: []func(error){ready}}
		sh.m[name] = e
		t.count.Add(1)
		t.evictLocked(sh, e)
		sh.mu.Unlock()
		if !t.spawn("record-load", func() { t.load(e) }) {
			t.finishLoad(e, 0, nil, errors.New("record: server shutting down"))
		}
		return
	}
	sh.mu.Unlock()
	e.mu.Lock()
	if e.loaded {
		e.mu.Unlock()
		ready(nil)
		return
	}
	e.waiters = append(e.waiters, ready)
	e.mu.Unlock()
}

func (t *Table) load(e *Entry) {
	version, data, err := t.p.Get(e.name)
	if errors.Is(err, ErrNotFound) {
		version, data, err = 0, nil, nil
	} else if err == nil && data == nil {
		data = emptyDoc
	}
	t.finishLoad(e, version, data, err)
}

func (t *Table) finishLoad(e *Entry, version int64, data []byte, err error) {
	e.mu.Lock()
	waiters := e.waiters
	e.waiters = nil
	if err != nil {
		e.failed = err
		e.gone = true
	} else {
		e.loaded = true
		e.exists = data != nil
		e.version = version
		e.data = data
	}
	e.mu.Unlock()
	if err != nil {
		t.remove(e)
	}
	for _, w := range waiters {
		w(err)
	}
}

// remove drops e from its shard if it is still the entry for its name.
func (t *Table) remove(e *Entry) {
	sh := &t.shards[shard.Index(e.name)]
	sh.mu.Lock()
	if sh.m[e.name] == e {
		delete(sh.m, e.name)
		t.count.Add(-1)
	}
	sh.mu.Unlock()
}

// evictLocked drops idle entries from a shard above its share of
// MaxRecords. Map iteration order makes the choice random. Called with
// sh.mu held; takes entry locks with TryLock so it never waits under it.
func (t *Table) evictLocked(sh *tableShard, keep *Entry) {
	if len(sh.m) <= t.perMax {
		return
	}
	for name, e := range sh.m {
		if len(sh.m) <= t.perMax {
			return
		}
		if e == keep || !e.mu.TryLock() {
			continue
		}
		idle := e.loaded && e.subs == nil
		if idle {
			e.gone = true
		}
		e.mu.Unlock()
		if idle {
			delete(sh.m, name)
			t.count.Add(-1)
		}
	}
}

// Subscribe adds s to e's subscribers (no-op when already there). It
// reports whether s is the first subscriber, and false for ok when the
// entry was evicted or deleted meanwhile (look it up again).
func (e *Entry) Subscribe(s Subscriber) (first, ok bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.gone {
		return false, false
	}
	return e.subscribeLocked(s), true
}

func (e *Entry) subscribeLocked(s Subscriber) (first bool) {
	if e.subs == nil {
		e.subs = subset.New(s)
		return true
	}
	e.subs.Add(s)
	return false
}

// nsubs returns the number of subscribers; e.mu is held.
func (e *Entry) nsubs() int {
	if e.subs == nil {
		return 0
	}
	return e.subs.Len()
}

// eachSub calls fn for every subscriber; e.mu is held.
func (e *Entry) eachSub(fn func(s Subscriber)) {
	if e.subs == nil {
		return
	}
	v := e.subs.View()
	for i := 0; i < v.Len(); i++ {
		if s, ok := v.At(i); ok {
			fn(s)
		}
	}
}

// Unsubscribe removes s from name's subscribers and reports whether it was
// the last one.
func (t *Table) Unsubscribe(name string, s Subscriber) (last bool) {
	sh := &t.shards[shard.Index(name)]
	sh.mu.Lock()
	e := sh.m[name]
	sh.mu.Unlock()
	if e == nil {
		return false
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.subs == nil || !e.subs.Remove(s) {
		return false
	}
	if e.subs.Len() == 0 {
		e.subs = nil
		return true
	}
	return false
}

// Subscribers returns the number of subscribers of name (0 when not in memory).
func (t *Table) Subscribers(name string) int {
	sh := &t.shards[shard.Index(name)]
	sh.mu.Lock()
	e := sh.m[name]
	sh.mu.Unlock()
	if e == nil {
		return 0
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.nsubs()
}

// Read subscribes s (when subscribe is set) and calls fn with the current
// state under the entry's lock, so a reply queued by fn precedes every later
// delivery to s. ok is false when the entry is gone (look it up again).
func (e *Entry) Read(s Subscriber, subscribe bool, fn func(version int64, data []byte, exists bool)) (first, ok bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.gone {
		return false, false
	}
	if subscribe {
		first = e.subscribeLocked(s)
	}
	data := e.data
	if data == nil {
		data = emptyDoc
	}
	fn(e.version, data, e.exists)
	return first, true
}

// Snapshot returns e's version and document (never modified afterwards)
// and whether the record exists.
func (e *Entry) Snapshot() (version int64, data []byte, exists bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.version, e.data, e.exists
}

// Count returns the number of subscribers of name; with Names it lets the
// listen registry serve records.
func (t *Table) Count(name string) int { return t.Subscribers(name) }

// Names calls fn for every record in memory that has subscribers. No table
// lock is held while fn runs.
func (t *Table) Names(fn func(name string)) {
	var batch []*Entry
	for i := range t.shards {
		sh := &t.shards[i]
		sh.mu.Lock()
		for _, e := range sh.m {
			batch = append(batch, e)
		}
		sh.mu.Unlock()
		for _, e := range batch {
			e.mu.Lock()
			n := e.nsubs()
			e.mu.Unlock()
			if n > 0 {
				fn(e.name)
			}
		}
		batch = batch[:0]
	}
}

// Broadcast delivers payload to every subscriber of name (when it is in
// memory), in order with the record's changes.
func (t *Table) Broadcast(name string, payload []byte) {
	sh := &t.shards[shard.Index(name)]
	sh.mu.Lock()
	e := sh.m[name]
	sh.mu.Unlock()
	if e == nil {
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.eachSub(func(s Subscriber) { s.Deliver(payload) })
}
