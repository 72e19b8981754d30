package store

import (
	"context"
	"slices"
	"strings"
	"sync"
	"time"
)

// Write is one operation of a batch handed to Backend.Commit.
type Write struct {
	Name    string
	Version int64  // zero for a delete
	Data    []byte // nil for a delete
	Delete  bool
}

// Backend is the storage below a WriteBehind queue: what store/mem and
// store/pebble implement. Commit is called only from the writer goroutine,
// one batch at a time; Get and NewCursor may be called from any goroutine
// concurrently with it. Close is called once, after the writer stopped and
// every Get and cursor returned.
type Backend interface {
	// Commit applies ws atomically, in order (names within one batch are
	// distinct), and returns once it is durable, or only applied when sync is
	// false. ws and the slices it points to are valid only during the call.
	Commit(ws []Write, sync bool) error

	// Get returns the committed record of name or ErrNotFound. The returned
	// Data must not alias memory the backend reuses.
	Get(name string) (Record, error)

	// NewCursor returns a point-in-time cursor over the committed records
	// whose names start with prefix, in byte-wise order. It is called with
	// the queue's lock held, so it must not block for long.
	NewCursor(prefix string) (Cursor, error)

	Close() error
}

// Cursor walks the records of Backend.NewCursor.
type Cursor interface {
	// Next moves to the next record; false at the end or on error.
	Next() bool
	// Name and Record describe the current record; Record's Data is valid
	// until the next call to Next.
	Name() string
	Record() (Record, error)
	// Err returns the error that stopped Next, if any.
	Err() error
	Close() error
}

// Recycling bounds: kept structures larger than these are dropped instead.
const (
	maxFreeEntries  = 1 << 14
	maxKeptMapLen   = 1 << 16
	maxKeptDones    = 64
	entryOverhead   = 64 // bytes charged per queued name besides name and value
	maxKeptBatchCap = 1 << 16
)

// entry is the queued state of one name: the newest write and the callbacks of
// every call coalesced into it.
type entry struct {
	version int64
	data    []byte
	del     bool
	calls   int
	dones   []func(error)
}

// WriteBehind turns a Backend into a Store: a bounded, coalescing queue of
// writes drained by one writer goroutine that commits a batch at a time. See
// the package documentation for its invariants.
type WriteBehind struct {
	backend Backend
	opts    Options
	wake    chan struct{} // capacity 1; a token asks the writer to re-check
	exited  chan struct{} // closed when the writer returns
	readers sync.WaitGroup

	mu         sync.Mutex
	space      sync.Cond         // on mu: queue space was released or the store closed
	pending    map[string]*entry // queued, not yet taken by the writer
	committing map[string]*entry // the batch being committed; nil when none
	spare      map[string]*entry // an empty map for the next pending batch
	free       []*entry
	pendBytes  int64     // bytes of pending
	queueBytes int64     // bytes of pending and committing
	firstAt    time.Time // when pending became non-empty
	urgent     bool      // commit pending without waiting for the interval
	closed     bool
	taken      uint64        // sequence number of the last batch taken by the writer
	finished   uint64        // sequence number of the last batch whose callbacks ran
	failSeq    uint64        // sequence number of the last failed batch
	failErr    error         // its error
	synced     chan struct{} // closed and replaced whenever finished advances
	stats      Stats
}

// NewWriteBehind starts the writer goroutine of a queue in front of b. The
// queue owns b from then on and closes it in Close.
func NewWriteBehind(b Backend, opts Options) *WriteBehind {
	w := &WriteBehind{
		backend: b,
		opts:    opts.WithDefaults(),
		wake:    make(chan struct{}, 1),
		exited:  make(chan struct{}),
		pending: make(map[string]*entry),
		spare:   make(map[string]*entry),
		synced:  make(chan struct{}),
	}
	w.space.L = &w.mu
	go w.run()
	return w
}

var _ Store = (*WriteBehind)(nil)

func (w *WriteBehind) kick() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// Get implements Store.Get.
func (w *WriteBehind) Get(name string) (Record, error) {
	if err := CheckName(name); err != nil {
		return Record{}, err
	}
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return Record{}, ErrClosed
	}
	e := w.pending[name]
	if e == nil {
		e = w.committing[name]
	}
	if e != nil {
		r, del := Record{Version: e.version, Data: e.data}, e.del
		w.mu.Unlock()
		if del {
			return Record{}, ErrNotFound
		}
		return r, nil
	}
	w.readers.Add(1)
	w.mu.Unlock()
	defer w.readers.Done()
	return w.backend.Get(name)
}

// Put implements Store.Put.
func (w *WriteBehind) Put(name string, version int64, data []byte, done func(error)) {
	if err := CheckName(name); err != nil {
		call(done, err)
		return
	}
	if err := checkVersion(version); err != nil {
		call(done, err)
		return
	}
	w.enqueue(name, version, data, false, done)
}

// Delete implements Store.Delete.
func (w *WriteBehind) Delete(name string, done func(error)) {
	if err := CheckName(name); err != nil {
		call(done, err)
		return
	}
	w.enqueue(name, 0, nil, true, done)
}

func call(done func(error), err error) {
	if done != nil {
		done(err)
	}
}

func (w *WriteBehind) enqueue(name string, version int64, data []byte, del bool, done func(error)) {
	w.mu.Lock()
	if w.queueBytes >= int64(w.opts.MaxQueueBytes) && !w.closed {
		w.stats.BlockedWrites++
		for w.queueBytes >= int64(w.opts.MaxQueueBytes) && !w.closed {
			if !w.urgent {
				w.urgent = true
				w.kick()
			}
			w.space.Wait()
		}
	}
	if w.closed {
		w.mu.Unlock()
		call(done, ErrClosed)
		return
	}
	e := w.pending[name]
	if e == nil {
		e = w.newEntry()
		w.pending[name] = e
		n := int64(len(name) + entryOverhead)
		w.pendBytes += n
		w.queueBytes += n
		if len(w.pending) == 1 {
			w.firstAt = time.Now()
			w.kick()
		}
	} else {
		n := int64(len(e.data))
		w.pendBytes -= n
		w.queueBytes -= n
		w.stats.CoalescedWrites += uint64(e.calls)
	}
	e.version, e.data, e.del = version, data, del
	e.calls++
	if done != nil {
		e.dones = append(e.dones, done)
	}
	n := int64(len(data))
	w.pendBytes += n
	w.queueBytes += n
	if w.pendBytes >= int64(w.opts.MaxBatchBytes) && !w.urgent {
		w.urgent = true
		w.kick()
	}
	w.mu.Unlock()
}

func (w *WriteBehind) newEntry() *entry {
	if n := len(w.free); n > 0 {
		e := w.free[n-1]
		w.free = w.free[:n-1]
		return e
	}
	return &entry{}
}

// Sync implements Store.Sync.
func (w *WriteBehind) Sync(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return ErrClosed
	}
	var target uint64
	switch {
	case len(w.pending) > 0:
		target = w.taken + 1
		if !w.urgent {
			w.urgent = true
			w.kick()
		}
	case w.committing != nil:
		target = w.taken
	default:
		w.mu.Unlock()
		return nil
	}
	from := w.finished
	for w.finished < target {
		ch := w.synced
		w.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
		w.mu.Lock()
	}
	var err error
	if w.failSeq > from {
		err = w.failErr
	}
	w.mu.Unlock()
	return err
}

// overlayItem is a queued write as Scan sees it.
type overlayItem struct {
	name string
	rec  Record
	del  bool
}

// Scan implements Store.Scan.
func (w *WriteBehind) Scan(prefix string, fn func(name string, r Record) bool) error {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return ErrClosed
	}
	var overlay []overlayItem
	add := func(m map[string]*entry, skip map[string]*entry) {
		for name, e := range m {
			if !strings.HasPrefix(name, prefix) {
				continue
			}
			if _, ok := skip[name]; ok {
				continue
			}
			overlay = append(overlay, overlayItem{name: name, rec: Record{Version: e.version, Data: e.data}, del: e.del})
		}
	}
	add(w.pending, nil)
	add(w.committing, w.pending)
	cur, err := w.backend.NewCursor(prefix)
	if err != nil {
		w.mu.Unlock()
		return err
	}
	w.readers.Add(1)
	w.mu.Unlock()
	defer w.readers.Done()
	slices.SortFunc(overlay, func(a, b overlayItem) int { return strings.Compare(a.name, b.name) })

	err = mergeScan(cur, overlay, fn)
	if cerr := cur.Close(); err == nil {
		err = cerr
	}
	return err
}

// mergeScan walks cur and the sorted overlay together, the overlay winning
// on equal names and its deletes hiding stored records.
func mergeScan(cur Cursor, overlay []overlayItem, fn func(string, Record) bool) error {
	i := 0
	more := cur.Next()
	for more || i < len(overlay) {
		var name string
		if more {
			name = cur.Name()
		}
		if i < len(overlay) && (!more || overlay[i].name <= name) {
			o := overlay[i]
			i++
			if more && o.name == name {
				more = cur.Next()
			}
			if !o.del && !fn(o.name, o.rec) {
				return nil
			}
			continue
		}
		r, err := cur.Record()
		if err != nil {
			return err
		}
		if !fn(name, r) {
			return nil
		}
		more = cur.Next()
	}
	return cur.Err()
}

// Stats implements Store.Stats.
func (w *WriteBehind) Stats() Stats {
	w.mu.Lock()
	defer w.mu.Unlock()
	s := w.stats
	s.QueuedWrites = len(w.pending) + len(w.committing)
	s.QueuedBytes = w.queueBytes
	return s
}

// Close implements Store.Close.
func (w *WriteBehind) Close() error {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return ErrClosed
	}
	w.closed = true
	from := w.finished
	w.space.Broadcast()
	w.kick()
	w.mu.Unlock()

	<-w.exited
	w.readers.Wait()
	var err error
	if w.failSeq > from {
		err = w.failErr
	}
	if cerr := w.backend.Close(); err == nil {
		err = cerr
	}
	return err
}

// run is the writer goroutine: it takes the pending batch once it is due,
// commits it, runs its callbacks and recycles its entries, until the store is
// closed and nothing is left.
func (w *WriteBehind) run() {
	defer close(w.exited)
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	var ws []Write
	for {
		w.mu.Lock()
		for len(w.pending) == 0 {
			if w.closed {
				w.mu.Unlock()
				return
			}
			w.mu.Unlock()
			<-w.wake
			w.mu.Lock()
		}
		for !w.urgent && !w.closed && w.opts.FlushInterval > 0 {
			wait := time.Until(w.firstAt.Add(w.opts.FlushInterval))
			if wait <= 0 {
				break
			}
			w.mu.Unlock()
			timer.Reset(wait)
			select {
			case <-timer.C:
			case <-w.wake:
				timer.Stop()
			}
			w.mu.Lock()
		}
		batch := w.pending
		batchBytes := w.pendBytes
		w.committing = batch
		w.pending = w.spare
		w.spare = nil
		w.pendBytes = 0
		w.urgent = false
		w.taken++
		seq := w.taken
		w.mu.Unlock()

		ws = ws[:0]
		for name, e := range batch {
			ws = append(ws, Write{Name: name, Version: e.version, Data: e.data, Delete: e.del})
		}
		start := time.Now()
		err := w.backend.Commit(ws, !w.opts.NoSync)
		latency := time.Since(start)
		clear(ws)
		if cap(ws) > maxKeptBatchCap {
			ws = nil
		}

		w.mu.Lock()
		w.committing = nil
		w.queueBytes -= batchBytes
		w.space.Broadcast()
		w.mu.Unlock()

		calls := 0
		for _, e := range batch {
			calls += e.calls
			for _, done := range e.dones {
				done(err)
			}
		}

		w.mu.Lock()
		if err != nil {
			w.stats.FailedBatches++
			w.stats.FailedWrites += uint64(calls)
			w.failSeq, w.failErr = seq, err
		} else {
			w.stats.Batches++
			w.stats.SyncedWrites += uint64(calls)
		}
		w.stats.LastBatchWrites = len(batch)
		w.stats.LastBatchBytes = batchBytes - int64(len(batch)*entryOverhead)
		w.stats.LastBatchLatency = latency
		for _, e := range batch {
			w.recycle(e)
		}
		if len(batch) > maxKeptMapLen {
			batch = make(map[string]*entry)
		} else {
			clear(batch)
		}
		w.spare = batch
		w.finished = seq
		close(w.synced)
		w.synced = make(chan struct{})
		w.mu.Unlock()
	}
}

func (w *WriteBehind) recycle(e *entry) {
	if len(w.free) >= maxFreeEntries {
		return
	}
	clear(e.dones)
	if cap(e.dones) > maxKeptDones {
		e.dones = nil
	}
	*e = entry{dones: e.dones[:0]}
	w.free = append(w.free, e)
}
