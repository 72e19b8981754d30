package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeBackend is an in-memory Backend whose commits can be held at a gate
// and made to fail.
type fakeBackend struct {
	mu      sync.Mutex
	m       map[string]Record
	fail    error
	batches []int // writes per commit call, failed ones included
	syncs   []bool
	gate    chan struct{} // when non-nil, Commit waits for it to close
	started chan int      // when non-nil, gets the batch size as a commit starts
	delay   func() time.Duration
	closed  bool
}

func newFake() *fakeBackend { return &fakeBackend{m: map[string]Record{}} }

func (f *fakeBackend) Commit(ws []Write, sync bool) error {
	f.mu.Lock()
	gate, started, delay := f.gate, f.started, f.delay
	f.mu.Unlock()
	if started != nil {
		started <- len(ws)
	}
	if gate != nil {
		<-gate
	}
	if delay != nil {
		time.Sleep(delay())
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.batches = append(f.batches, len(ws))
	f.syncs = append(f.syncs, sync)
	if f.fail != nil {
		return f.fail
	}
	for _, w := range ws {
		if w.Delete {
			delete(f.m, w.Name)
		} else {
			f.m[w.Name] = Record{Version: w.Version, Data: w.Data}
		}
	}
	return nil
}

func (f *fakeBackend) Get(name string) (Record, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		panic("Get after Close")
	}
	r, ok := f.m[name]
	if !ok {
		return Record{}, ErrNotFound
	}
	return r, nil
}

func (f *fakeBackend) NewCursor(prefix string) (Cursor, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := &fakeCursor{i: -1}
	for name, r := range f.m {
		if strings.HasPrefix(name, prefix) {
			c.names = append(c.names, name)
			c.recs = append(c.recs, r)
		}
	}
	idx := make([]int, len(c.names))
	for i := range idx {
		idx[i] = i
	}
	slices.SortFunc(idx, func(a, b int) int { return strings.Compare(c.names[a], c.names[b]) })
	names, recs := make([]string, len(idx)), make([]Record, len(idx))
	for i, j := range idx {
		names[i], recs[i] = c.names[j], c.recs[j]
	}
	c.names, c.recs = names, recs
	return c, nil
}

func (f *fakeBackend) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.closed = true
	return nil
}

func (f *fakeBackend) commits() []int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.batches)
}

type fakeCursor struct {
	names []string
	recs  []Record
	i     int
}

func (c *fakeCursor) Next() bool              { c.i++; return c.i < len(c.names) }
func (c *fakeCursor) Name() string            { return c.names[c.i] }
func (c *fakeCursor) Record() (Record, error) { return c.recs[c.i], nil }
func (c *fakeCursor) Err() error              { return nil }
func (c *fakeCursor) Close() error            { return nil }

func mustSync(t *testing.T, w *WriteBehind) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := w.Sync(ctx); err != nil {
		t.Fatalf("Sync: %v", err)
	}
}

func errChan() (func(error), chan error) {
	ch := make(chan error, 1)
	return func(err error) { ch <- err }, ch
}

func recv(t *testing.T, ch chan error) error {
	t.Helper()
	select {
	case err := <-ch:
		return err
	case <-time.After(5 * time.Second):
		t.Fatal("no result within 5s")
		return nil
	}
}

func TestOptionsDefaults(t *testing.T) {
	o := Options{}.WithDefaults()
	if o.FlushInterval != 2*time.Millisecond || o.MaxBatchBytes != 4<<20 || o.MaxQueueBytes != 64<<20 || o.NoSync {
		t.Fatalf("defaults = %+v", o)
	}
	o = Options{FlushInterval: -1, MaxBatchBytes: -5, MaxQueueBytes: 7}.WithDefaults()
	if o.FlushInterval != -1 || o.MaxBatchBytes != DefaultMaxBatchBytes || o.MaxQueueBytes != 7 {
		t.Fatalf("WithDefaults kept the wrong fields: %+v", o)
	}
}

func TestSyncFlagReachesBackend(t *testing.T) {
	for _, noSync := range []bool{false, true} {
		f := newFake()
		w := NewWriteBehind(f, Options{NoSync: noSync})
		w.Put("a", 1, nil, nil)
		mustSync(t, w)
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		if len(f.syncs) != 1 || f.syncs[0] == noSync {
			t.Fatalf("NoSync=%v: backend saw sync flags %v", noSync, f.syncs)
		}
	}
}

func TestBackPressure(t *testing.T) {
	f := newFake()
	f.gate = make(chan struct{})
	f.started = make(chan int, 10)
	w := NewWriteBehind(f, Options{MaxQueueBytes: 1000})
	val := bytes.Repeat([]byte("x"), 400)
	var dones []chan error
	for _, name := range []string{"a", "b", "c"} { // 3 x (1 + 64 + 400) > 1000
		done, ch := errChan()
		w.Put(name, 1, val, done)
		dones = append(dones, ch)
	}
	returned := make(chan struct{})
	done, ch := errChan()
	dones = append(dones, ch)
	go func() {
		w.Put("d", 1, val, done)
		close(returned)
	}()
	select {
	case <-returned:
		t.Fatal("Put returned although the queue was over MaxQueueBytes")
	case <-time.After(50 * time.Millisecond):
	}
	if st := w.Stats(); st.BlockedWrites != 1 || st.QueuedBytes < 1000 {
		t.Fatalf("Stats while blocked = %+v", st)
	}
	close(f.gate)
	<-returned
	mustSync(t, w)
	for i, ch := range dones {
		if err := recv(t, ch); err != nil {
			t.Fatalf("done %d: %v", i, err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestOversizedWriteAccepted(t *testing.T) {
	w := NewWriteBehind(newFake(), Options{MaxQueueBytes: 100, MaxBatchBytes: 50})
	done, ch := errChan()
	w.Put("big", 1, make([]byte, 10_000), done)
	if err := recv(t, ch); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestCommitError(t *testing.T) {
	boom := errors.New("disk on fire")
	f := newFake()
	w := NewWriteBehind(f, Options{})
	w.Put("kept", 1, []byte(`1`), nil)
	mustSync(t, w)

	f.mu.Lock()
	f.fail = boom
	f.mu.Unlock()
	var chans []chan error
	for v := int64(2); v < 5; v++ {
		done, ch := errChan()
		w.Put("kept", v, []byte(`2`), done)
		chans = append(chans, ch)
	}
	done, ch := errChan()
	w.Put("lost", 1, []byte(`1`), done)
	chans = append(chans, ch)
	if err := w.Sync(context.Background()); !errors.Is(err, boom) {
		t.Fatalf("Sync after a failed commit = %v, want %v", err, boom)
	}
	for i, ch := range chans {
		if err := recv(t, ch); !errors.Is(err, boom) {
			t.Fatalf("done %d = %v, want %v", i, err, boom)
		}
	}
	// The failed batch is dropped: reads fall back to the backend.
	if r, err := w.Get("kept"); err != nil || r.Version != 1 {
		t.Fatalf("Get(kept) after failed commit = %+v, %v; want version 1", r, err)
	}
	if _, err := w.Get("lost"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Get(lost) after failed commit = %v, want ErrNotFound", err)
	}
	st := w.Stats()
	if st.FailedBatches != 1 || st.FailedWrites != 4 || st.SyncedWrites != 1 || st.QueuedBytes != 0 {
		t.Fatalf("Stats after failed commit = %+v", st)
	}

	// The store keeps working once the backend does.
	f.mu.Lock()
	f.fail = nil
	f.mu.Unlock()
	done, ch = errChan()
	w.Put("lost", 2, []byte(`2`), done)
	if err := recv(t, ch); err != nil {
		t.Fatal(err)
	}
	mustSync(t, w)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestCloseReturnsFlushError(t *testing.T) {
	boom := errors.New("no space left")
	f := newFake()
	f.fail = boom
	w := NewWriteBehind(f, Options{FlushInterval: time.Hour})
	done, ch := errChan()
	w.Put("a", 1, nil, done)
	if err := w.Close(); !errors.Is(err, boom) {
		t.Fatalf("Close = %v, want %v", err, boom)
	}
	if err := recv(t, ch); !errors.Is(err, boom) {
		t.Fatalf("done = %v, want %v", err, boom)
	}
	if !f.closed {
		t.Fatal("backend not closed")
	}
}

func TestMaxBatchBytesCommitsEarly(t *testing.T) {
	f := newFake()
	w := NewWriteBehind(f, Options{FlushInterval: time.Hour, MaxBatchBytes: 1000})
	small, smallCh := errChan()
	w.Put("small", 1, []byte("x"), small)
	select {
	case <-smallCh:
		t.Fatal("a small batch committed before FlushInterval")
	case <-time.After(30 * time.Millisecond):
	}
	big, bigCh := errChan()
	w.Put("big", 1, make([]byte, 2000), big)
	for _, ch := range []chan error{smallCh, bigCh} {
		if err := recv(t, ch); err != nil {
			t.Fatal(err)
		}
	}
	if got := f.commits(); !slices.Equal(got, []int{2}) {
		t.Fatalf("commits = %v, want one batch of 2", got)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestFlushIntervalGathers(t *testing.T) {
	f := newFake()
	w := NewWriteBehind(f, Options{FlushInterval: 200 * time.Millisecond})
	start := time.Now()
	done, ch := errChan()
	w.Put("a", 1, nil, done)
	time.Sleep(10 * time.Millisecond)
	w.Put("b", 1, nil, nil)
	if err := recv(t, ch); err != nil {
		t.Fatal(err)
	}
	if el := time.Since(start); el < 190*time.Millisecond {
		t.Fatalf("batch committed after %v, before the 200ms FlushInterval", el)
	}
	if got := f.commits(); !slices.Equal(got, []int{2}) {
		t.Fatalf("commits = %v, want one batch of 2", got)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestNegativeFlushIntervalGroupsWhileCommitting(t *testing.T) {
	f := newFake()
	f.gate = make(chan struct{})
	f.started = make(chan int, 10)
	w := NewWriteBehind(f, Options{FlushInterval: -1})
	w.Put("a", 1, nil, nil)
	if n := <-f.started; n != 1 {
		t.Fatalf("first batch has %d writes, want 1", n)
	}
	w.Put("b", 1, nil, nil)
	w.Put("c", 1, nil, nil)
	w.Put("b", 2, nil, nil)
	close(f.gate)
	mustSync(t, w)
	if got := f.commits(); !slices.Equal(got, []int{1, 2}) {
		t.Fatalf("commits = %v, want [1 2]", got)
	}
	if st := w.Stats(); st.CoalescedWrites != 1 || st.SyncedWrites != 4 {
		t.Fatalf("Stats = %+v", st)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestSyncContextWhileWaiting(t *testing.T) {
	f := newFake()
	f.gate = make(chan struct{})
	w := NewWriteBehind(f, Options{})
	w.Put("a", 1, nil, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	if err := w.Sync(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Sync with a held commit = %v, want DeadlineExceeded", err)
	}
	close(f.gate)
	mustSync(t, w)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestSyncWaitsForCommittingBatch(t *testing.T) {
	f := newFake()
	f.gate = make(chan struct{})
	f.started = make(chan int, 10)
	w := NewWriteBehind(f, Options{FlushInterval: -1})
	done, ch := errChan()
	w.Put("a", 1, nil, done)
	<-f.started // nothing pending now; the batch is committing
	synced := make(chan error, 1)
	go func() { synced <- w.Sync(context.Background()) }()
	select {
	case err := <-synced:
		t.Fatalf("Sync returned %v while the batch was still committing", err)
	case <-time.After(30 * time.Millisecond):
	}
	close(f.gate)
	if err := recv(t, synced); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-ch:
		if err != nil {
			t.Fatal(err)
		}
	default:
		t.Fatal("Sync returned before the done of the synced write ran")
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestCloseWakesBlockedPut(t *testing.T) {
	f := newFake()
	f.gate = make(chan struct{})
	w := NewWriteBehind(f, Options{MaxQueueBytes: 100})
	queued, queuedCh := errChan()
	w.Put("a", 1, make([]byte, 200), queued)
	blocked, blockedCh := errChan()
	go w.Put("b", 1, nil, blocked)
	time.Sleep(20 * time.Millisecond)
	closed := make(chan error, 1)
	go func() { closed <- w.Close() }()
	if err := recv(t, blockedCh); !errors.Is(err, ErrClosed) {
		t.Fatalf("blocked Put got %v, want ErrClosed", err)
	}
	close(f.gate)
	if err := recv(t, closed); err != nil {
		t.Fatalf("Close = %v", err)
	}
	if err := recv(t, queuedCh); err != nil {
		t.Fatalf("write queued before Close: %v", err)
	}
}

func TestReadsWhileCommitting(t *testing.T) {
	f := newFake()
	f.m["gone"] = Record{Version: 1, Data: []byte("g")}
	f.m["old"] = Record{Version: 1, Data: []byte("o")}
	f.gate = make(chan struct{})
	f.started = make(chan int, 10)
	w := NewWriteBehind(f, Options{FlushInterval: 20 * time.Millisecond})
	w.Delete("gone", nil)
	w.Put("old", 2, []byte("o2"), nil)
	if n := <-f.started; n != 2 {
		t.Fatalf("committing batch has %d writes, want 2", n)
	}
	w.Put("new", 1, []byte("n"), nil) // pending behind the committing batch
	if _, err := w.Get("gone"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Get(gone) during its delete's commit = %v", err)
	}
	if r, err := w.Get("old"); err != nil || r.Version != 2 {
		t.Fatalf("Get(old) during commit = %+v, %v", r, err)
	}
	var names []string
	if err := w.Scan("", func(name string, r Record) bool {
		names = append(names, fmt.Sprintf("%s@%d", name, r.Version))
		return true
	}); err != nil {
		t.Fatal(err)
	}
	if want := []string{"new@1", "old@2"}; !slices.Equal(names, want) {
		t.Fatalf("Scan during commit = %v, want %v", names, want)
	}
	close(f.gate)
	mustSync(t, w)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestModel runs random operations against the queue, whose backend commits
// with random delays, and checks every read against a plain map.
func TestModel(t *testing.T) {
	for seed := range uint64(3) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 7))
			f := newFake()
			var dmu sync.Mutex
			drng := rand.New(rand.NewPCG(seed, 8))
			f.delay = func() time.Duration {
				dmu.Lock()
				defer dmu.Unlock()
				return time.Duration(drng.IntN(300)) * time.Microsecond
			}
			w := NewWriteBehind(f, Options{FlushInterval: time.Duration(rng.IntN(3)) * 500 * time.Microsecond, MaxBatchBytes: 64})
			model := map[string]int64{}
			names := []string{"a", "a/b", "a/c", "b", "ba", "c/x", "c/y", "\xff"}
			calls := 0
			var acked sync.WaitGroup
			for i := range 2000 {
				name := names[rng.IntN(len(names))]
				switch op := rng.IntN(10); {
				case op < 5:
					v := int64(i)
					calls++
					acked.Add(1)
					w.Put(name, v, []byte(fmt.Sprint(v)), func(err error) {
						if err != nil {
							t.Error(err)
						}
						acked.Done()
					})
					model[name] = v
				case op < 7:
					calls++
					w.Delete(name, nil)
					delete(model, name)
				case op < 9:
					r, err := w.Get(name)
					want, ok := model[name]
					if ok != (err == nil) || (ok && (r.Version != want || string(r.Data) != fmt.Sprint(want))) {
						t.Fatalf("op %d: Get(%q) = %+v, %v; model has %d, %v", i, name, r, err, want, ok)
					}
				default:
					prefix := name[:rng.IntN(len(name)+1)]
					var got, want []string
					if err := w.Scan(prefix, func(n string, r Record) bool {
						got = append(got, fmt.Sprintf("%q=%d", n, r.Version))
						return true
					}); err != nil {
						t.Fatal(err)
					}
					for _, n := range names {
						if v, ok := model[n]; ok && strings.HasPrefix(n, prefix) {
							want = append(want, fmt.Sprintf("%q=%d", n, v))
						}
					}
					if !slices.Equal(got, want) {
						t.Fatalf("op %d: Scan(%q) = %v, want %v", i, prefix, got, want)
					}
				}
				if rng.IntN(200) == 0 {
					mustSync(t, w)
				}
			}
			acked.Wait()
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			for n, v := range model {
				if r := f.m[n]; r.Version != v {
					t.Fatalf("after Close, backend has %q at %d, want %d", n, r.Version, v)
				}
			}
			if len(f.m) != len(model) {
				t.Fatalf("after Close, backend has %d names, model %d", len(f.m), len(model))
			}
			if st := w.Stats(); st.SyncedWrites != uint64(calls) {
				t.Fatalf("SyncedWrites = %d, want %d", st.SyncedWrites, calls)
			}
		})
	}
}
