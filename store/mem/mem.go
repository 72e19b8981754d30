// Package mem is a store.Store kept in memory: no disk, nothing survives the
// process. It runs the same store.WriteBehind queue as store/pebble (same
// coalescing, batching, callbacks and back-pressure), so it passes the same
// storetest suite and stands in for Pebble in tests and in servers run with
// no data directory.
//
// Concurrency: every method is safe from any goroutine, as store.Store says.
// The backend map is guarded by a RWMutex: the writer goroutine takes it for
// writing once per batch; Get and Scan take it for reading.
//
// Invariants:
//  1. A committed batch becomes visible all at once (one lock per batch).
//  2. Stored slices are the ones passed to Put, never copied and never
//     modified: Put's contract forbids the caller to modify them too.
package mem

import (
	"slices"
	"strings"
	"sync"

	"github.com/eddy-realtime/eddy/store"
)

// Store is an in-memory store.Store. Its methods are those of the embedded
// write-behind queue.
type Store struct {
	*store.WriteBehind
}

// New returns an empty in-memory store; opts as in store.Options (NoSync has
// no effect here).
func New(opts store.Options) *Store {
	return &Store{store.NewWriteBehind(&backend{m: make(map[string]store.Record)}, opts)}
}

var _ store.Store = (*Store)(nil)

type backend struct {
	mu sync.RWMutex
	m  map[string]store.Record
}

func (b *backend) Commit(ws []store.Write, _ bool) error {
	b.mu.Lock()
	for _, w := range ws {
		if w.Delete {
			delete(b.m, w.Name)
		} else {
			b.m[w.Name] = store.Record{Version: w.Version, Data: w.Data}
		}
	}
	b.mu.Unlock()
	return nil
}

func (b *backend) Get(name string) (store.Record, error) {
	b.mu.RLock()
	r, ok := b.m[name]
	b.mu.RUnlock()
	if !ok {
		return store.Record{}, store.ErrNotFound
	}
	return r, nil
}

// NewCursor copies the matching names and records (not their data) so the
// cursor is a snapshot.
func (b *backend) NewCursor(prefix string) (store.Cursor, error) {
	c := &cursor{i: -1}
	b.mu.RLock()
	for name, r := range b.m {
		if strings.HasPrefix(name, prefix) {
			c.items = append(c.items, item{name, r})
		}
	}
	b.mu.RUnlock()
	slices.SortFunc(c.items, func(a, b item) int { return strings.Compare(a.name, b.name) })
	return c, nil
}

func (b *backend) Close() error {
	b.mu.Lock()
	b.m = nil
	b.mu.Unlock()
	return nil
}

type item struct {
	name string
	rec  store.Record
}

type cursor struct {
	items []item
	i     int
}

func (c *cursor) Next() bool {
	if c.i < len(c.items) {
		c.i++
	}
	return c.i < len(c.items)
}

func (c *cursor) Name() string                  { return c.items[c.i].name }
func (c *cursor) Record() (store.Record, error) { return c.items[c.i].rec, nil }
func (c *cursor) Err() error                    { return nil }
func (c *cursor) Close() error                  { c.items = nil; return nil }
